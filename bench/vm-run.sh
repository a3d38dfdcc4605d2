#!/bin/bash
# bench/vm-run.sh: the wall time of the whole default `forkpin vm` selection on one kernel
# (every backend, every case; forkpin vm's own -j and --edu defaults unless given), the boot
# included, and where the case time goes by backend.
#   bench/vm-run.sh [--kernel-release K] [FORKPIN VM ARGUMENTS...]   (default 6.12)
# Target (issue 15): under 3 min on one kernel. Prints the load average at start and end (TCG
# time scales with it). Last line:
#   vm-run: W s wall, N cases (R ran), guest run D s, exit E
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
fp=${FORKPIN_BUILD:-$top/build}/forkpin
release=6.12
if [ "${1:-}" = --kernel-release ]; then
	release=${2:?--kernel-release needs a release}
	shift 2
fi
[ -x "$fp" ] || {
	echo "vm-run: $fp missing: build first (setup/build)" >&2
	exit 2
}
command -v qemu-system-x86_64 >/dev/null 2>&1 || {
	echo "vm-run: qemu-system-x86_64 not installed" >&2
	exit 77
}
tmp=$(mktemp -d /tmp/forkpin-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

printf '# host kernel %s, %s cores, load at start %s\n' "$(uname -r)" "$(nproc)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
a=$(date +%s.%N)
"$fp" vm --kernel-release "$release" --vm-timeout 1800 --json "$tmp/r.json" "$@" \
	>"$tmp/tap" 2>"$tmp/err"
rc=$?
b=$(date +%s.%N)
printf '# load at end %s; forkpin vm exit %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$rc"
grep -E '^vm: |^forkpin vm: ' "$tmp/err" | sed 's/^/# /'
[ -f "$tmp/r.json" ] || {
	echo "vm-run: no report came back ($(tail -n 1 "$tmp/err"))" >&2
	exit 1
}
python3 - "$tmp/r.json" "$a" "$b" "$rc" <<'PY'
import collections, json, sys
r = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
by = collections.defaultdict(lambda: [0, 0, 0.0])
for c in r["cases"]:
    b = by[c["backend"]]
    b[0] += 1
    b[1] += c["result"] != "skip"
    b[2] += c["duration_s"]
print(f"# guest kernel {r['env'].get('kernel.release', '?')}")
print(f"{'backend':14} {'cases':>6} {'ran':>5} {'case time s':>12}")
for name, (n, ran, s) in sorted(by.items(), key=lambda x: -x[1][2]):
    print(f"{name:14} {n:>6} {ran:>5} {s:>12.1f}")
ran = sum(v[1] for v in by.values())
print(f"vm-run: {wall:.1f} s wall, {len(r['cases'])} cases ({ran} ran), guest run "
      f"{r['totals']['duration_s']:.1f} s, exit {sys.argv[4]}")
PY
