#!/bin/bash
# Node qualification on the host: the per-backend summary (each skip reason once), --require
# failing a run whose required backend skipped, --profile quick (its selection and its time),
# --known-failures' bad input.
# usage: tests/qualify.sh FORKPIN
fp=$1
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export FORKPIN_CONFIG=/dev/null # this machine's /etc/forkpin.conf must not change the results

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
	expect_exit 4 "--profile quick where nothing can run" -- "$fp" run --profile quick -b verbs
	contains "# NOT QUALIFIED: no case could run here" "the node is not qualified"
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

# The site config: defaults the command line overrides; bad lines are exit 2 with FILE:LINE.
printf '# site defaults\nrequire = nosuch-yet\n' >"$tmp/bad.conf"
expect_exit 2 "a config naming an unknown backend" -- "$fp" run --config "$tmp/bad.conf"
contains "$tmp/bad.conf:2: require: no backend 'nosuch-yet'" "the file, line and key are named"
printf 'devcie = mlx5_0\n' >"$tmp/bad.conf"
expect_exit 2 "an unknown key" -- env FORKPIN_CONFIG="$tmp/bad.conf" "$fp" run
contains "$tmp/bad.conf:1: unknown key 'devcie': use device," "FORKPIN_CONFIG is read; the keys are listed"
printf 'timeout 5\n' >"$tmp/bad.conf"
expect_exit 2 "a line without '='" -- "$fp" run --config "$tmp/bad.conf"
contains "write 'key = value'" "the form is named"
printf 'timeout = soon\n' >"$tmp/bad.conf"
expect_exit 2 "a bad timeout" -- "$fp" run --config "$tmp/bad.conf"
expect_exit 2 "a missing --config file" -- "$fp" run --config "$tmp/none.conf"
printf 'require = iouring\nprofile = quick\nvfio-device = 0000:99:00.0\n' >"$tmp/site.conf"
expect_exit 2 "a configured vfio-device is used" -- "$fp" run --config "$tmp/site.conf" -b vfio -m anon -s parent-writes
contains "0000:99:00.0: no such PCI device" "the configured device is checked"
expect_exit 2 "the environment wins over the config" -- env FORKPIN_VFIO_BDF=0000:98:00.0 "$fp" run --config "$tmp/site.conf" -b vfio -m anon -s parent-writes
contains "0000:98:00.0" "FORKPIN_VFIO_BDF is used"
expect_exit 2 "the command line wins over both" -- env FORKPIN_VFIO_BDF=0000:98:00.0 "$fp" run --config "$tmp/site.conf" --vfio-device 0000:97:00.0 -b vfio -m anon -s parent-writes
contains "0000:97:00.0" "--vfio-device is used"
printf 'require = iouring\nprofile = quick\n' >"$tmp/site.conf"
"$fp" run --config "$tmp/site.conf" -v -b iouring -m anon -s parent-writes >"$tmp/site.tap"
out=$(cat "$tmp/site.tap")
contains "# qualify.require: iouring" "require comes from the config"
contains "# qualify.profile: quick" "profile comes from the config"
contains "# forkpin.config: $tmp/site.conf" "the fingerprint names the config file"
if "$fp" env | grep -q '^verbs.devices *none'; then
	expect_exit 1 "--require on the command line replaces the config's" -- "$fp" run --config "$tmp/site.conf" --require verbs -b iouring,verbs -m anon -s parent-writes
	contains "required backend verbs did not run" "verbs is required, not iouring"
fi
tap_done
