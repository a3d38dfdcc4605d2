#!/bin/bash
# In a one-job run a case process stays on the CPU it started on (runner.c:
# stay_on_one_cpu), so that the hand-overs between it and its children do not wake another
# CPU; with -j N, and for a scenario whose threads race fork (needs_cpus), cases keep every
# CPU, and FORKPIN_ONE_CPU=0 turns it off. The verdicts are the same either way.
# usage: tests/integration/one_cpu.sh FORKPIN
fp=$1
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v strace >/dev/null || {
	echo "Bail out! strace is missing: setup/install-deps.sh installs it"
	exit 1
}

# pinned CASE [ENV...]: the CPU lists that the case processes of a run of CASE kept, one line
# each. A case process is one that forks (its children); the env fingerprint's probes set
# their own affinity (libfabric's psm calibrates its clock) but fork nothing.
pinned() {
	local id=$1
	shift
	# shellcheck disable=SC2086 # CASE may carry options
	env "$@" strace -f -qq -e trace=sched_setaffinity,clone,clone3 -o "$tmp/st" "$fp" run \
		$id >"$tmp/tap" 2>&1
	awk '$2 ~ /^sched_setaffinity\(0,/ && / = 0$/ { mask[$1] = $0; sub(/.*, \[/, "", mask[$1])
			sub(/\].*/, "", mask[$1]) }
		$2 ~ /^clone/ && ($1 in mask) { print mask[$1]; delete mask[$1] }' "$tmp/st"
}
out=$(pinned iouring/anon/parent-writes)
ok $([ -n "$out" ] && [ "$(wc -l <<<"$out")" -eq 1 ] && [ "$(wc -w <<<"$out")" -eq 1 ] &&
	echo 0 || echo 1) "parent-writes: its case process keeps one CPU (${out:-none})"
ok $(grep -q '^ok 1 iouring/anon/parent-writes' "$tmp/tap" && echo 0 || echo 1) \
	"parent-writes passes on one CPU"
out=$(pinned iouring/anon/threaded-fork)
ok $([ -z "$out" ] && echo 0 || echo 1) "threaded-fork (needs_cpus) keeps every CPU (${out:-})"
out=$(pinned "iouring/anon/parent-writes -j 2")
ok $([ -z "$out" ] && echo 0 || echo 1) "with -j 2 the cases keep every CPU (${out:-})"
out=$(pinned iouring/anon/parent-writes FORKPIN_ONE_CPU=0)
ok $([ -z "$out" ] && echo 0 || echo 1) "FORKPIN_ONE_CPU=0: no case is kept on one CPU (${out:-})"

# The whole io_uring and vmsplice rows, both ways: the same TAP (no timings in it).
"$fp" run -b iouring,vmsplice -m anon,memfd,thp-pmd --seed 5 >"$tmp/one.tap" 2>/dev/null
echo $? >"$tmp/one.rc"
FORKPIN_ONE_CPU=0 "$fp" run -b iouring,vmsplice -m anon,memfd,thp-pmd --seed 5 >"$tmp/all.tap" \
	2>/dev/null
echo $? >"$tmp/all.rc"
ok $(cmp -s "$tmp/one.tap" "$tmp/all.tap" && cmp -s "$tmp/one.rc" "$tmp/all.rc" && echo 0 ||
	echo 1) "the same TAP and exit code on one CPU and on all ($(grep -c '^ok' "$tmp/one.tap") ok)"
diff "$tmp/one.tap" "$tmp/all.tap" | head -5 | sed 's/^/# /'
tap_done
