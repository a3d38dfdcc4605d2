#!/bin/bash
# Node qualification on the host: the per-backend summary (each skip reason once), --require
# failing a run whose required backend skipped, --profile quick (its selection and its time),
# --known-failures' bad input.
# usage: tests/qualify.sh FORKPIN
fp=$1
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The summary: one line per backend, after the totals; a skip reason once with its count.
expect_exit 0 "a small run" -- "$fp" run -b iouring,vmsplice -m anon,hugetlb-1g -s parent-writes,device-reads
contains "# Backend iouring: ran:" "iouring has its summary line"
contains "# Backend vmsplice: ran:" "vmsplice has its summary line"
summary=$(printf '%s\n' "$out" | sed -n '/^# Totals/,$p')
if grep -q 'hugetlb-1g.*# SKIP' <<<"$out"; then
	reason=$(grep -m1 'iouring/hugetlb-1g.*# SKIP' <<<"$out" | sed 's/.*# SKIP //')
	n=$(grep -cF -- "$reason" <<<"$summary")
	ok $([ "$n" -eq 2 ] && echo 0 || echo 1) "the hugetlb-1g skip reason is in the summary once per backend ($n lines for 2 backends)"
	contains "skip (2): $reason" "with the number of cases it skipped"
fi

# --require: a required backend that only skipped fails the run and says why.
if "$fp" env | grep -q '^verbs.devices *none'; then
	expect_exit 1 "--require verbs without an RDMA device" -- "$fp" run --require verbs -b iouring,verbs -m anon -s parent-writes
	contains "NOT QUALIFIED: required backend verbs did not run: no RDMA device" "the reason is named"
	contains "# Backend verbs: ran:0 pass:0 fail:0 xfail:0 skip:1  ** ALL SKIPPED" "the summary flags the all-skipped backend"
else
	ok 0 "# SKIP this host has an RDMA device: --require verbs would pass"
fi
expect_exit 0 "--require iouring where it runs" -- "$fp" run --require iouring -b iouring -m anon -s parent-writes
contains "# QUALIFIED" "the node is qualified"
expect_exit 1 "--require iouring when it is not selected" -- "$fp" run --require iouring -b vmsplice -m anon -s device-reads
contains "required backend iouring did not run: no case of it was selected" "the reason is named"
expect_exit 2 "--require of an unknown backend" -- "$fp" run --require nosuch
contains "--require nosuch: no such backend" "the backend is named"

# --profile quick: the documented selection, and its time (< 2 s on this host, 10 s allowed
# here for a loaded CI machine).
expect_exit 0 "list --profile quick" -- "$fp" list --profile quick
contains "iouring/anon/parent-writes" "quick has iouring/anon/parent-writes"
contains "iouring/thp-pmd/control-dontneed  (control)" "quick has the controls"
ok $(grep -q -e '/memfd/' -e '/posix-spawn' -e '^ofi' <<<"$out" && echo 1 || echo 0) "quick leaves out memfd, posix-spawn and ofi"
start=$(date +%s%N)
"$fp" run --profile quick --json "$tmp/q.json" >"$tmp/q.tap" 2>&1
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
ok $([ $rc -eq 0 ] || [ $rc -eq 1 ] && echo 0 || echo 1) "run --profile quick exits 0 or 1 (exit $rc)"
ok $([ $ms -lt 10000 ] && echo 0 || echo 1) "run --profile quick took $ms ms"
out=$(cat "$tmp/q.tap")
contains "# Backend iouring:" "quick prints the summary"
contains "QUALIFIED" "quick prints the node's verdict"
expect_exit 2 "an unknown profile" -- "$fp" run --profile slow
contains "no such profile; there is quick" "the profiles are named"

# --known-failures: bad files are bad usage.
expect_exit 2 "a missing known-failures file" -- "$fp" run --known-failures "$tmp/none" -b iouring -m anon -s parent-writes
contains "give a readable known-failures file" "the fix is named"
printf '# site list\niouring/*/parent-writes\n' >"$tmp/kf"
expect_exit 2 "a known failure without a reason" -- "$fp" run --known-failures "$tmp/kf" -b iouring -m anon -s parent-writes
contains "$tmp/kf:2: no reason" "the file and line are named"
printf '# site list\niouring/*/parent-writes   ticket 7\n' >"$tmp/kf"
expect_exit 0 "a good known-failures file" -- "$fp" run --known-failures "$tmp/kf" -b iouring -m anon -s parent-writes
tap_done
