#!/bin/bash
# bench/host-cases.sh: forkpin's harness cost on this host, measured in one run beside a bare
# program doing the same syscalls (bench/bare_iouring.c), plus the whole host matrix.
#   bench/host-cases.sh [BUILD_DIR] [N]      (default build/, 300 cases)
# Targets (issue 2): harness overhead <= 50% per case; the host matrix in under 2 s. The
# host matrix is timed with one job and with -j (forkpin run --jobs) as many as cores.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
n=${2:-300}
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
bare=$("$build/bench/bare_iouring" "$n")
# The harness per case without its start-up (the env fingerprint, ~0.3 s with libfabric):
# the slope between a run of N cases and a run of one.
startup=$(per_case 1 "$fp" run iouring/anon/parent-writes)
total=$(per_case 1 "$fp" run iouring/anon/parent-writes --repeat "$n")
harness=$(awk -v t="$total" -v s="$startup" -v n="$n" 'BEGIN { print (t - s) / (n - 1) }')
# The host matrix of issue 2: the host backends (io_uring and the vmsplice control). The
# libfabric rows (tcp) cost ~0.45 s a case in libfabric start-up: see docs/ofi.md.
host=(-b iouring,vmsplice)
cases=$("$fp" list "${host[@]}" | wc -l)
a=$(now)
"$fp" run "${host[@]}" >/dev/null || true
b=$(now)
matrix=$(awk -v a="$a" -v b="$b" 'BEGIN { print b - a }')
ran=$("$fp" run "${host[@]}" | grep -c '^ok [0-9]* [^#]*\( # control detected.*\)\?$' || true)
jobs=$(nproc)
a=$(now)
"$fp" run -j "$jobs" "${host[@]}" >/dev/null || true
b=$(now)
matrix_j=$(awk -v a="$a" -v b="$b" 'BEGIN { print b - a }')

printf 'kernel %s, %s cores\n' "$(uname -r)" "$(nproc)"
calc() { awk "BEGIN { print $1 }"; }
printf '%-44s %10.3f ms\n' "bare syscalls, one parent-writes case" "$(calc "$bare * 1000")"
printf '%-44s %10.3f ms\n' "forkpin, same case (--repeat $n)" "$(calc "$harness * 1000")"
printf '%-44s %10.3f s\n' "forkpin start-up (fingerprint), once per run" "$startup"
printf '%-44s %10.1f %%\n' "harness overhead (target <= 50%)" \
	"$(calc "($harness / $bare - 1) * 100")"
printf '%-44s %10.3f s  (%s cases, %s ran; target < 2 s)\n' "whole host matrix" "$matrix" \
	"$cases" "$ran"
printf '%-44s %10.0f\n' "host matrix cases per second" "$(calc "$cases / $matrix")"
printf '%-44s %10.3f s\n' "whole host matrix, -j $jobs" "$matrix_j"
