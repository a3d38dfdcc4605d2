#!/bin/bash
# bench/vfio-cases.sh [-j N] [--edu N] [SETUP/VM/RUN OPTIONS]: how fast the vfio cases run in
# the test VM, and how much of each case is QEMU's edu DMA timer (~100 ms per DMA command, two
# commands per transfer).
# Runs the vfio selection in the VM with FORKPIN_VFIO_STATS=1 (the backend then prints, per
# case, the edu hops and the time spent polling for them, and its open-to-close time) and
# prints: cases run, wall time, cases/s, mean case time, mean edu-timer time per case and its
# share. With -j N (forkpin run --jobs) the VM gets --edu devices (default N) and the same
# boot runs the selection once with one job first, then with N: both walls, the speed-up,
# and whether the two reports agree case by case (everything but the durations).
# Other arguments go to setup/vm/run (e.g. --kernel-release 6.12); set FORKPIN_BENCH_SELECT
# to a case pattern to time a subset (default: all vfio cases).
# Needs a build in build/ (meson setup build && ninja -C build); FORKPIN_BUILD overrides.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
forkpin=${FORKPIN_BUILD:-$top/build}/forkpin
select=${FORKPIN_BENCH_SELECT:-vfio/*/*}
jobs=1 edu='' vm_args=()
while [ $# -gt 0 ]; do
	case $1 in
	-j | --jobs)
		jobs=${2:-}
		shift
		;;
	--edu)
		edu=${2:-}
		shift
		;;
	*) vm_args+=("$1") ;;
	esac
	shift
done
[[ $jobs =~ ^[1-9][0-9]*$ ]] || {
	echo "vfio-cases: -j takes a number of jobs" >&2
	exit 2
}
edu=${edu:-$((jobs < 8 ? jobs : 8))}

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
edus=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor):$(cat $d/device)" = 0x1234:0x11e8 ] && edus=$edus${edus:+,}${d##*/}
done
first=${edus%%,*}
case $(basename "$(readlink /sys/bus/pci/devices/$first/iommu)") in
dmar*) ;;
*) echo 1 >/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts ;;
esac
for d in $(echo $edus | tr , " "); do
	basename "$(readlink /sys/bus/pci/devices/$d/iommu_group)"
done >"$FORKPIN_VM_OUT/groups"
export TMPDIR=/dev/shm FORKPIN_VFIO_STATS=1
for j in $RUNS; do
	start=$(date +%s.%N)
	"$FORKPIN" run -j "$j" --vfio-device "$edus" --json "$FORKPIN_VM_OUT/run-$j.json" "$SELECT" \
		>"$FORKPIN_VM_OUT/tap-$j" 2>"$FORKPIN_VM_OUT/stats-$j"
	echo "$start $(date +%s.%N)" >"$FORKPIN_VM_OUT/wall-$j"
done
uname -r >"$FORKPIN_VM_OUT/kernel"
'
runs=$jobs
[ "$jobs" = 1 ] || runs="1 $jobs"
"$top/setup/vm/run" --edu "$edu" --out "$out" "${vm_args[@]}" -- env FORKPIN="$forkpin" \
	SELECT="$select" RUNS="$runs" sh -c "$guest_script" || {
	echo "vfio-cases: the VM run failed" >&2
	exit 1
}
# shellcheck disable=SC2086 # one argument per run
python3 - "$out" $runs <<'PY'
import json, re, sys
d, runs = sys.argv[1], sys.argv[2:]
groups = open(d + "/groups").read().split()
print(f"kernel              {open(d + '/kernel').read().strip()}")
print(f"edu devices         {len(groups)} in {len(set(groups))} IOMMU group(s)")
mean = lambda v: sum(v) / len(v) if v else 0.0
reports, walls = {}, {}
for j in runs:
    run = json.load(open(f"{d}/run-{j}.json"))
    reports[j] = run
    cases = [c for c in run["cases"] if c.get("result") != "skip"]
    t0, t1 = map(float, open(f"{d}/wall-{j}").read().split())
    walls[j] = t1 - t0
    edu, hops, opened = [], [], []
    for line in open(f"{d}/stats-{j}"):
        m = re.match(r"vfio-stats: edu \S+: (\d+) DMA hops, ([\d.]+) ms", line)
        if m:
            hops.append(int(m.group(1))); edu.append(float(m.group(2)))
        m = re.match(r"vfio-stats: backend open to close ([\d.]+) ms", line)
        if m:
            opened.append(float(m.group(1)))
    case_ms = [1000 * c["duration_s"] for c in cases]
    n = len(cases)
    print(f"--- -j {j}")
    print(f"cases run           {n} (of {len(run['cases'])} selected)")
    print(f"wall                {walls[j]:.1f} s  ({n / walls[j]:.2f} cases/s)")
    print(f"mean case           {mean(case_ms):.0f} ms (runner: fork to verdict)")
    print(f"mean backend open   {mean(opened):.0f} ms (open to close, {len(opened)} cases)")
    print(f"mean edu timer      {mean(edu):.0f} ms in {mean(hops):.1f} DMA hops "
          f"= {100 * sum(edu) / sum(case_ms) if case_ms else 0:.0f}% of case time")
if len(runs) == 2:
    strip = lambda r: [{k: v for k, v in c.items() if k != "duration_s"} for c in r["cases"]]
    a, b = strip(reports[runs[0]]), strip(reports[runs[1]])
    diff = [x["id"] for x, y in zip(a, b) if x != y]
    same = len(a) == len(b) and not diff and \
        reports[runs[0]]["totals"]["exit_code"] == reports[runs[1]]["totals"]["exit_code"]
    print(f"--- speed-up         {walls[runs[0]] / walls[runs[1]]:.2f}x with -j {runs[1]}")
    print(f"reports             {'identical' if same else 'DIFFER'} in content and order "
          f"({len(a)} cases; durations aside)" + (f": first {diff[:3]}" if diff else ""))
PY
