#!/bin/bash
# bench/host-run.sh: the wall time of the whole default host run (`forkpin run`, every backend,
# every case this host selects) and where it goes, from RUNS runs (median, min, max).
#   bench/host-run.sh [BUILD_DIR] [RUNS]      (default build/, 3)
# Target (issue 15): the whole host run under 5 s. Also prints the machine's load average:
# on a shared machine a loaded run is not the quiet machine's figure. Last line:
#   host-run: median S s (min A, max B) over N runs, C cases
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
runs=${2:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '# kernel %s, %s cores, load at start %s\n' "$(uname -r)" "$(nproc)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$runs"); do
	a=$(date +%s.%N)
	"$build/forkpin" run --json "$tmp/r$i.json" >/dev/null 2>&1
	b=$(date +%s.%N)
	awk -v a="$a" -v b="$b" 'BEGIN { print b - a }' >>"$tmp/walls"
done
python3 - "$tmp" "$runs" <<'PY'
import collections, json, statistics, sys
tmp, runs = sys.argv[1], int(sys.argv[2])
walls = [float(x) for x in open(tmp + "/walls")]
r = json.load(open(f"{tmp}/r{runs}.json"))
by = collections.defaultdict(lambda: [0, 0.0])
for c in r["cases"]:
    by[c["backend"]][0] += 1
    by[c["backend"]][1] += c["duration_s"]
print("# last run by backend: " + ", ".join(f"{b} {n} cases {s:.2f} s"
                                             for b, (n, s) in sorted(by.items(), key=lambda x: -x[1][1])))
print(f"host-run: median {statistics.median(walls):.2f} s (min {min(walls):.2f}, "
      f"max {max(walls):.2f}) over {runs} runs, {len(r['cases'])} cases")
PY
