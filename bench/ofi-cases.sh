#!/bin/bash
# bench/ofi-cases.sh: ofi cases per second (libfabric verbs;ofi_rxm) beside the verbs backend
# on the same device (rxe0) in the same test-VM boot, over the same memory types.
#   bench/ofi-cases.sh [--repeat N] [--mem LIST] [VM OPTIONS...]
# Defaults: 2 runs per backend, --mem anon,memfd,shared-anon. Prints per backend: cases run
# (skips excluded), cases/s over forkpin's own run time (totals.duration_s: forking, provider
# initialisation, registration and DMA included, the VM boot not), mean, median and slowest
# case; then the same over the scenarios both backends run (ofi has no in-flight case).
# ofi-nozygote: the ofi row with FORKPIN_OFI_ZYGOTE=0 (each case process initialises libfabric
# itself, as before the per-run zygote); the last lines say whether the zygote was used.
# FORKPIN_BIN: the forkpin binary (default build/forkpin).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${FORKPIN_BIN:-$top/build/forkpin}
repeat=2 mem=anon,memfd,shared-anon
while [ $# -gt 0 ]; do
	case $1 in
	--repeat) repeat=${2:?--repeat needs a number}; shift 2 ;;
	--mem) mem=${2:?--mem needs a list}; shift 2 ;;
	*) break ;;
	esac
done
[ -x "$bin" ] || {
	echo "ofi-cases: $bin missing: build first (setup/build)" >&2
	exit 2
}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d /tmp/forkpin-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# shellcheck disable=SC2016 # expanded by the guest's shell
guest_script='
export TMPDIR=/dev/shm # the guest /tmp (overlay) has no O_TMPFILE
i=1
while [ $i -le $REPEAT ]; do
	"$FORKPIN" run -b verbs -m "$MEM" --json "$FORKPIN_VM_OUT/verbs-$i.json" >/dev/null 2>&1
	FORKPIN_OFI_STATS=1 "$FORKPIN" run -b ofi --ofi-provider "verbs;ofi_rxm" -m "$MEM" \
		--json "$FORKPIN_VM_OUT/ofi-$i.json" >/dev/null 2>>"$FORKPIN_VM_OUT/ofi-stats"
	FORKPIN_OFI_ZYGOTE=0 "$FORKPIN" run -b ofi --ofi-provider "verbs;ofi_rxm" -m "$MEM" \
		--json "$FORKPIN_VM_OUT/ofi-nozygote-$i.json" >/dev/null 2>&1
	i=$((i + 1))
done
nproc >"$FORKPIN_VM_OUT/nproc"
'
start=$(date +%s.%N)
"$top/setup/vm/run" --out "$tmp/out" "$@" -- env FORKPIN="$bin" REPEAT="$repeat" MEM="$mem" \
	sh -c "$guest_script" >"$tmp/vm.log" 2>&1 || {
	echo "ofi-cases: the VM run failed:" >&2
	tail -20 "$tmp/vm.log" >&2
	exit 1
}
end=$(date +%s.%N)
head -1 "$tmp/vm.log"
python3 - "$tmp/out" "$repeat" "$start" "$end" "$mem" <<'PY'
import glob, json, os, statistics, sys

out, repeat, start, end, mem = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    float(sys.argv[4]), sys.argv[5]
print(f"guest CPUs: {open(os.path.join(out, 'nproc')).read().strip()}, whole VM run "
      f"{end - start:.1f} s wall, {repeat} run(s) per backend, memory types {mem}")
runs = {b: [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, b + "-[0-9]*.json")))]
        for b in ("verbs", "ofi", "ofi-nozygote")}
ran = {b: [c for r in rs for c in r["cases"] if c["result"] != "skip"] for b, rs in runs.items()}
common = set.intersection(*({(c["memtype"], c["scenario"]) for c in cs} for cs in ran.values()
                             if cs))


def row(name, cases, wall):
    d = [c["duration_s"] for c in cases]
    slow = max(cases, key=lambda c: c["duration_s"])
    bad = sum(c["result"] in ("fail", "control-missed") for c in cases)
    print(f"{name:16} {len(cases) // repeat:>6} {wall / repeat:>8.2f} {len(cases) / wall:>8.2f} "
          f"{1000 * statistics.mean(d):>8.1f} {1000 * statistics.median(d):>9.1f} "
          f"{1000 * max(d):>8.1f} {bad:>5}  {slow['id']}")


print(f"{'backend':16} {'cases':>6} {'wall s':>8} {'cases/s':>8} {'mean ms':>8} "
      f"{'median ms':>9} {'max ms':>8} {'fail':>5}  slowest")
for b in ("verbs", "ofi", "ofi-nozygote"):
    if not ran[b]:
        print(f"{b:16} no cases ran")
        continue
    row(b, ran[b], sum(r["totals"]["duration_s"] for r in runs[b]))
for b in ("verbs", "ofi", "ofi-nozygote"):
    cs = [c for c in ran[b] if (c["memtype"], c["scenario"]) in common]
    if cs:
        row(b + " (common)", cs, sum(c["duration_s"] for c in cs))
stats = os.path.join(out, "ofi-stats")
if os.path.exists(stats):
    for line in sorted(set(open(stats).read().splitlines())):
        print(line)
PY
