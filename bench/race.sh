#!/bin/bash
# bench/race.sh: can `forkpin stress` see the GUP-fast vs fork race, and how soon? Runs the
# stressor in the test VM on a race mutant (default gup-fast-race-wide: the faithful
# gup-fast-race plus a 20 us delay inside fork's window; setup/kernel/patches/) and prints,
# per run, the exit status, the time of the first failure and the iteration/fork rates.
# Usage: bench/race.sh [RUNS] [MUTANT] [DURATION]    (default 3 gup-fast-race-wide 60)
# docs/stress.md records the figures.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3} mutant=${2:-gup-fast-race-wide} duration=${3:-60}
fp=${FORKPIN_BUILD:-$top/build}/forkpin
[[ $runs =~ ^[1-9][0-9]*$ && $duration =~ ^[1-9][0-9]*$ ]] || {
	echo "usage: bench/race.sh [RUNS] [MUTANT] [DURATION]" >&2
	exit 2
}
image=$("$top/setup/kernel/build" "$mutant" | tail -n 1) || exit 1
tmp=$(mktemp -d /tmp/forkpin-race.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

printf '%-4s | %-6s | %-22s | %s\n' run exit "first failure (s)" "stress line"
for i in $(seq "$runs"); do
	"$top/setup/vm/run" --timeout $((duration + 300)) --kernel "$image" -- \
		"$fp" stress -b iouring --duration "$duration" --threads 2 >"$tmp/out" 2>"$tmp/err"
	rc=$?
	first=$(sed -n 's/.* at \([0-9.]*\) s (registration.*/\1/p' "$tmp/out" | head -n 1)
	line=$(grep -m1 '^stress ' "$tmp/out" | cut -c1-150)
	[ "$rc" = 3 ] && line="guest did not finish: $(tail -n 1 "$tmp/err")"
	printf '%-4s | %-6s | %-22s | %s\n' "$i" "$rc" "${first:-none}" "$line"
done
