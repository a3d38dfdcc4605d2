#!/bin/bash
# bench/verbs-cases.sh: how many verbs cases per second forkpin runs in the test VM (rxe0),
# in both fork modes. One guest boot; each mode runs REPEAT times (default 3).
#   bench/verbs-cases.sh [--repeat N] [VM OPTIONS...]   (e.g. --kernel-release 6.12)
# Prints one line per mode: cases run (skips excluded), cases/s over the run's wall time
# (forkpin's totals.duration_s: forking, registration, QP setup and DMA included, the VM boot
# not), and the mean, median and slowest case. FORKPIN_BIN as in tests/vm/verbs.sh.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${FORKPIN_BIN:-$top/build/forkpin}
repeat=3
if [ "${1:-}" = --repeat ]; then
	repeat=${2:?--repeat needs a number}
	shift 2
fi
[ -x "$bin" ] || {
	echo "verbs-cases: $bin missing: build first (meson setup build && meson compile -C build)" >&2
	exit 2
}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d /tmp/forkpin-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# shellcheck disable=SC2016 # expanded by the guest's shell
guest_script='
export TMPDIR=/dev/shm # the guest /tmp (overlay) has no O_TMPFILE
for mode in default fork-init; do
	flag=
	[ "$mode" = fork-init ] && flag=--fork-init
	i=1
	while [ $i -le $REPEAT ]; do
		"$FORKPIN" run --backend verbs $flag --json "$FORKPIN_VM_OUT/$mode-$i.json" \
			>/dev/null 2>&1
		i=$((i + 1))
	done
done
nproc >"$FORKPIN_VM_OUT/nproc"
'
start=$(date +%s.%N)
"$top/setup/vm/run" --out "$tmp/out" "$@" -- env FORKPIN="$bin" REPEAT="$repeat" \
	sh -c "$guest_script" >"$tmp/vm.log" 2>&1 || {
	echo "verbs-cases: the VM run failed:" >&2
	tail -20 "$tmp/vm.log" >&2
	exit 1
}
end=$(date +%s.%N)
head -1 "$tmp/vm.log"
python3 - "$tmp/out" "$repeat" "$start" "$end" <<'PY'
import glob, json, os, statistics, sys

out, repeat, start, end = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print(f"guest CPUs: {open(os.path.join(out, 'nproc')).read().strip()}, "
      f"whole VM run {end - start:.1f} s wall, {repeat} run(s) per mode")
print(f"{'mode':10} {'cases':>6} {'wall s':>8} {'cases/s':>8} {'mean ms':>8} "
      f"{'median ms':>9} {'max ms':>8}  slowest")
for mode in ("default", "fork-init"):
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, mode + "-*.json")))]
    if not runs:
        print(f"{mode:10} no report")
        continue
    cases = [c for r in runs for c in r["cases"] if c["result"] != "skip"]
    wall = sum(r["totals"]["duration_s"] for r in runs)
    d = [c["duration_s"] for c in cases]
    slow = max(cases, key=lambda c: c["duration_s"])
    print(f"{mode:10} {len(cases) // len(runs):>6} {wall / len(runs):>8.2f} "
          f"{len(cases) / wall:>8.2f} {1000 * statistics.mean(d):>8.1f} "
          f"{1000 * statistics.median(d):>9.1f} {1000 * max(d):>8.1f}  {slow['id']}")
PY
