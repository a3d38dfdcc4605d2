#!/bin/bash
# bench/vfio-cases.sh: how fast the vfio cases run in the test VM, and how much of each case
# is QEMU's edu DMA timer (~100 ms per DMA command, two commands per transfer).
# Runs the vfio selection once in the VM with FORKPIN_VFIO_STATS=1 (the backend then prints,
# per case, the edu hops and the time spent polling for them, and its open-to-close time)
# and prints: cases run, wall time, cases/s, mean case time, mean edu-timer time per case
# and its share. Extra arguments go to setup/vm/run (e.g. --kernel-release 6.12); set
# FORKPIN_BENCH_SELECT to a case pattern to time a subset (default: all vfio cases).
# Needs a build in build/ (meson setup build && ninja -C build); FORKPIN_BUILD overrides.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
forkpin=${FORKPIN_BUILD:-$top/build}/forkpin
select=${FORKPIN_BENCH_SELECT:-vfio/*/*}

command -v qemu-system-x86_64 >/dev/null 2>&1 || {
	echo "vfio-cases: qemu-system-x86_64 not installed" >&2
	exit 77
}
[ -x "$forkpin" ] || {
	echo "vfio-cases: $forkpin missing: meson setup build && ninja -C build" >&2
	exit 1
}
out=$(mktemp -d /tmp/forkpin-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT

# shellcheck disable=SC2016 # expanded by the guest shell
guest_script='
edu=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor):$(cat $d/device)" = 0x1234:0x11e8 ] && edu=${d##*/}
done
case $(basename "$(readlink /sys/bus/pci/devices/$edu/iommu)") in
dmar*) ;;
*) echo 1 >/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts ;;
esac
export TMPDIR=/dev/shm FORKPIN_VFIO_STATS=1
start=$(date +%s.%N)
"$FORKPIN" run --vfio-device "$edu" --json "$FORKPIN_VM_OUT/run.json" "$SELECT" \
	>"$FORKPIN_VM_OUT/tap" 2>"$FORKPIN_VM_OUT/stats"
echo "$start $(date +%s.%N)" >"$FORKPIN_VM_OUT/wall"
uname -r >"$FORKPIN_VM_OUT/kernel"
'
"$top/setup/vm/run" --out "$out" "$@" -- env FORKPIN="$forkpin" SELECT="$select" \
	sh -c "$guest_script" || {
	echo "vfio-cases: the VM run failed" >&2
	exit 1
}
python3 - "$out" <<'PY'
import json, re, sys
d = sys.argv[1]
run = json.load(open(d + "/run.json"))
cases = [c for c in run["cases"] if c.get("result") != "skip"]
t0, t1 = map(float, open(d + "/wall").read().split())
edu, hops, opened = [], [], []
for line in open(d + "/stats"):
    m = re.match(r"vfio-stats: edu \S+: (\d+) DMA hops, ([\d.]+) ms", line)
    if m:
        hops.append(int(m.group(1))); edu.append(float(m.group(2)))
    m = re.match(r"vfio-stats: backend open to close ([\d.]+) ms", line)
    if m:
        opened.append(float(m.group(1)))
case_ms = [1000 * c["duration_s"] for c in cases]
n = len(cases)
mean = lambda v: sum(v) / len(v) if v else 0.0
print(f"kernel              {open(d + '/kernel').read().strip()}")
print(f"cases run           {n} (of {len(run['cases'])} selected)")
print(f"wall                {t1 - t0:.1f} s  ({n / (t1 - t0):.2f} cases/s)")
print(f"mean case           {mean(case_ms):.0f} ms (runner: fork to verdict)")
print(f"mean backend open   {mean(opened):.0f} ms (open to close, {len(opened)} cases)")
print(f"mean edu timer      {mean(edu):.0f} ms in {mean(hops):.1f} DMA hops "
      f"= {100 * sum(edu) / sum(case_ms) if case_ms else 0:.0f}% of case time")
PY
