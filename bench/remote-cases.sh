#!/bin/bash
# bench/remote-cases.sh: remote cases per second (a remote NIC does the DMA through `forkpin
# peer`, docs/two-node.md) against loopback cases per second, on rxe in the test VM, in one
# guest boot: verbs (loopback), verbs-remote, ofi (loopback) and ofi-remote, all through rxe,
# the ofi rows with verbs;ofi_rxm; the same selection on every row, REPEAT runs each
# (default 2).
#   bench/remote-cases.sh [--repeat N] [--mem LIST] [VM OPTIONS...]
#   (e.g. --kernel-release 6.12; --mem anon: a quarter of the default selection)
# The network is setup/vm/two-node-net: the remote rows go rxeA -> rxeB over a veth pair
# (`forkpin peer` and `forkpin peer --ofi` on rxeB), the loopback rows loop on one device.
# Prints one line per row: cases run (skips excluded), cases/s over
# forkpin's own wall time (totals.duration_s: forks, registration, connection setup and DMA;
# the VM boot not), mean, median and slowest case. FORKPIN_BIN as in tests/vm/verbs.sh.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${FORKPIN_BIN:-$top/build/forkpin}
repeat=2
mem=anon,thp-pmd,hugetlb-2m,memfd
while [ "${1:-}" = --repeat ] || [ "${1:-}" = --mem ]; do
	case $1 in
	--repeat) repeat=${2:?--repeat needs a number} ;;
	--mem) mem=${2:?--mem needs a list of memory types} ;;
	esac
	shift 2
done
[ -x "$bin" ] || {
	echo "remote-cases: $bin missing: build first (setup/build build)" >&2
	exit 2
}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d /tmp/forkpin-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Every scenario on private, THP, hugetlb and shared memory (--mem: others).
sel="-m $mem"
# shellcheck disable=SC2016 # expanded by the guest's shell
guest_script='
export TMPDIR=/dev/shm # the guest /tmp (overlay) has no O_TMPFILE
"$TOP/setup/vm/two-node-net" >"$FORKPIN_VM_OUT/net.log" 2>&1 || exit 1
"$FORKPIN" peer --device rxeB >"$FORKPIN_VM_OUT/peer.log" 2>&1 &
"$FORKPIN" peer --ofi --device rxeB >"$FORKPIN_VM_OUT/ofi-peer.log" 2>&1 &
sleep 1
i=1
while [ $i -le $REPEAT ]; do
	"$FORKPIN" run -b verbs $SEL --json "$FORKPIN_VM_OUT/loopback-$i.json" >/dev/null 2>&1
	"$FORKPIN" run -b verbs-remote --peer 10.77.0.2 $SEL \
		--json "$FORKPIN_VM_OUT/remote-$i.json" >/dev/null 2>&1
	"$FORKPIN" run -b ofi --ofi-provider "verbs;ofi_rxm" $SEL \
		--json "$FORKPIN_VM_OUT/ofi-loopback-$i.json" >/dev/null 2>&1
	"$FORKPIN" run -b ofi-remote --peer 10.77.0.2 $SEL \
		--json "$FORKPIN_VM_OUT/ofi-remote-$i.json" >/dev/null 2>&1
	i=$((i + 1))
done
nproc >"$FORKPIN_VM_OUT/nproc"
# the rxe error counters: retransmissions and duplicates say whether stalls are lost packets
for d in rxeA rxeB; do
	for f in /sys/class/infiniband/$d/ports/1/hw_counters/*; do
		echo "$d $(basename "$f") $(cat "$f")"
	done
done >"$FORKPIN_VM_OUT/counters"
'
start=$(date +%s.%N)
"$top/setup/vm/run" --timeout 1500 --out "$tmp/out" "$@" -- env FORKPIN="$bin" TOP="$top" REPEAT="$repeat" \
	SEL="$sel" sh -c "$guest_script" >"$tmp/vm.log" 2>&1 || {
	echo "remote-cases: the VM run failed:" >&2
	tail -20 "$tmp/vm.log" "$tmp/out/net.log" >&2
	exit 1
}
end=$(date +%s.%N)
head -1 "$tmp/vm.log"
python3 - "$tmp/out" "$repeat" "$start" "$end" "$sel" <<'PY'
import glob, json, os, statistics, sys

out, repeat, start, end, sel = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    float(sys.argv[4]), sys.argv[5]
print(f"guest CPUs: {open(os.path.join(out, 'nproc')).read().strip()}, "
      f"whole VM run {end - start:.1f} s wall, {repeat} run(s) per row, selection {sel}")
print(f"{'row':13} {'cases':>6} {'wall s':>8} {'cases/s':>8} {'mean ms':>8} "
      f"{'median ms':>9} {'max ms':>8}  slowest")
rate = {}
for row, name in (("verbs", "loopback"), ("verbs-remote", "remote"), ("ofi", "ofi-loopback"),
                  ("ofi-remote", "ofi-remote")):
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, name + "-[0-9]*.json")))]
    if not runs:
        print(f"{row:13} no report")
        continue
    cases = [c for r in runs for c in r["cases"] if c["result"] != "skip"]
    bad = [c for c in cases if c["status"] in ("fail", "error")]
    wall = sum(r["totals"]["duration_s"] for r in runs)
    d = [c["duration_s"] for c in cases]
    slow = max(cases, key=lambda c: c["duration_s"])
    rate[row] = len(cases) / wall
    print(f"{row:13} {len(cases) // len(runs):>6} {wall / len(runs):>8.2f} "
          f"{rate[row]:>8.2f} {1000 * statistics.mean(d):>8.1f} "
          f"{1000 * statistics.median(d):>9.1f} {1000 * max(d):>8.1f}  {slow['id']}"
          + (f"  ({len(bad)} failed/errored: {bad[0]['id']}: {bad[0]['explanation'][:80]})"
             if bad else ""))
stalls = {}
for row, name in (("verbs-remote", "remote"), ("ofi-remote", "ofi-remote")):
    for p in glob.glob(os.path.join(out, name + "-[0-9]*.json")):
        for c in json.load(open(p))["cases"]:
            if "within 5000 ms" in c["explanation"] + c["diagnosis"]:
                stalls.setdefault(row, []).append(c["id"])
for row, ids in stalls.items():
    print(f"{row}: {len(ids)} case(s) waited out the 5 s reply deadline: {', '.join(ids)}")
try:
    nz = [l.split() for l in open(os.path.join(out, "counters")) if not l.rstrip().endswith(" 0")]
    print("rxe counters (non-zero): " + ", ".join(f"{d}.{k}={v}" for d, k, v in nz
                                                  if not k.endswith("_pkts")))
except OSError:
    pass
for remote, loop in (("verbs-remote", "verbs"), ("ofi-remote", "ofi"), ("ofi-remote", "verbs")):
    if remote in rate and loop in rate:
        print(f"{remote} runs at {rate[remote] / rate[loop]:.2f}x the {loop} loopback rate")
PY
