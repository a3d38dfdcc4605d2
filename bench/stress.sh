#!/bin/bash
# bench/stress.sh: the stressor's power on this machine, beside a bare fork()+waitpid() loop
# (bench/bare_fork.c) run in the same invocation.
#   bench/stress.sh [BUILD_DIR] [SECONDS] [THREADS]     (default build/, 5 s, 2 threads)
# Target (issue 6): stressor iterations/s >= 0.5 x bare fork+wait/s.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
secs=${2:-5}
threads=${3:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bare=$("$build/bench/bare_fork" "$secs")
CI=1 "$build/forkpin" stress --duration "$secs" --threads "$threads" --json "$tmp/s.json" \
	>"$tmp/s.out" || true
printf 'kernel %s, %s cores, %s s per measurement, %s worker threads\n' "$(uname -r)" \
	"$(nproc)" "$secs" "$threads"
printf '%-28s %10.0f /s\n' "bare fork()+waitpid()" "$bare"
python3 - "$tmp/s.json" "$bare" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
bare = float(sys.argv[2])
for b in d["backends"]:
    if b["result"] == "skip":
        print(f'{b["backend"]:<28} skip: {b["reason"]}')
        continue
    it, fk, ov = b["iterations_per_s"], b["forks_per_s"], b["overlaps_per_s"]
    print(f'{b["backend"]:<28} {b["result"]}, {b["failures"]} failures')
    print(f'  {"iterations":<26} {it:10.0f} /s  ratio to bare fork+wait {it / bare:.2f} (target >= 0.5)')
    print(f'  {"forks":<26} {fk:10.0f} /s  ratio to bare fork+wait {fk / bare:.2f}')
    print(f'  {"overlapping registrations":<26} {ov:10.0f} /s  ({b["overlaps"]} of {b["registrations"]}, '
          f'{b["overlaps_inside_fork"]} began inside a fork)')
PY
