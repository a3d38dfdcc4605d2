#!/bin/bash
# bench/host-cases.sh: forkpin's harness cost on this host, measured in one run beside a bare
# program doing the same syscalls (bench/bare_iouring.c), plus the whole host matrix.
#   bench/host-cases.sh [BUILD_DIR] [N] [ROUNDS]   (default build/, 300 cases, 3 rounds)
# Targets (issue 2): harness overhead <= 50% per case; the host matrix in under 2 s. Each
# round measures the bare program and forkpin back to back (on a shared machine only adjacent
# measurements compare); the figures are the median round's, with min and max beside them and
# the load average at the start and the end. The host matrix is timed once per round with one
# job, and once with -j (forkpin run --jobs) as many as cores.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
n=${2:-300}
rounds=${3:-3}
fp=$build/forkpin

now() { date +%s.%N; }
per_case() { # per_case N COMMAND...: seconds per case over the command's run
	local count=$1 a b
	shift
	a=$(now)
	"$@" >/dev/null
	b=$(now)
	awk -v a="$a" -v b="$b" -v n="$count" 'BEGIN { print (b - a) / n }'
}

"$build/bench/bare_iouring" 20 >/dev/null # warm up
load0=$(cut -d' ' -f1-3 /proc/loadavg)
host=(-b iouring,vmsplice) # the host matrix of issue 2: io_uring and the vmsplice control
: >"${tmp:=$(mktemp)}"
trap 'rm -f "$tmp"' EXIT
for r in $(seq "$rounds"); do
	bare=$("$build/bench/bare_iouring" "$n")
	# The harness per case without its start-up (the env fingerprint, ~0.2 s with libfabric):
	# the slope between a run of N cases and a run of one.
	startup=$(per_case 1 "$fp" run iouring/anon/parent-writes)
	total=$(per_case 1 "$fp" run iouring/anon/parent-writes --repeat "$n")
	a=$(now)
	"$fp" run "${host[@]}" >/dev/null || true
	b=$(now)
	awk -v bare="$bare" -v t="$total" -v s="$startup" -v n="$n" -v a="$a" -v b="$b" \
		'BEGIN { h = (t - s) / (n - 1); print bare, h, s, (h / bare - 1) * 100, b - a }' >>"$tmp"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
cases=$("$fp" list "${host[@]}" | wc -l)
ran=$("$fp" run "${host[@]}" | grep -c '^ok [0-9]* [^#]*\( # control detected.*\)\?$' || true)
jobs=$(nproc)
a=$(now)
"$fp" run -j "$jobs" "${host[@]}" >/dev/null || true
b=$(now)
matrix_j=$(awk -v a="$a" -v b="$b" 'BEGIN { print b - a }')

# stat COLUMN SCALE: "median (min-max)" of a column over the rounds, times SCALE
stat() {
	sort -g -k"$1","$1" "$tmp" | awk -v c="$1" -v k="$2" '{ v[NR] = $c * k }
		END { printf "%.3f (%.3f-%.3f)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
med() { stat "$1" "$2" | cut -d' ' -f1; }
printf 'kernel %s, %s cores, %s rounds of %s cases, load %s at the start, %s at the end\n' \
	"$(uname -r)" "$(nproc)" "$rounds" "$n" "$load0" "$load1"
printf '%-44s %s ms\n' "bare syscalls, one parent-writes case" "$(stat 1 1000)"
printf '%-44s %s ms\n' "forkpin, same case (--repeat $n)" "$(stat 2 1000)"
printf '%-44s %s s\n' "forkpin start-up (fingerprint), once per run" "$(stat 3 1)"
printf 'overhead per round: %s\n' "$(awk '{ printf "%.1f%% ", $4 }' "$tmp")"
printf '%-44s %10.1f %%\n' "harness overhead (target <= 50%)" "$(med 4 1)"
printf '%-44s %10.3f s  (%s cases, %s ran; target < 2 s; rounds %s)\n' "whole host matrix" \
	"$(med 5 1)" "$cases" "$ran" "$(stat 5 1)"
printf '%-44s %10.0f\n' "host matrix cases per second" "$(awk -v c="$cases" -v m="$(med 5 1)" 'BEGIN { print c / m }')"
printf '%-44s %10.3f s\n' "whole host matrix, -j $jobs" "$matrix_j"
