#!/bin/bash
# tests/vm/faults.sh FORKPIN: faults injected in the test VM while a run goes. rxe0's netdev
# goes down after the third case: every case after it is an error naming the lost port (never a SKIP that
# would let a node read as "nothing to test here", never a hang), the run ends with exit 1 and
# a complete report, and no QP or MR of forkpin's is left behind (`rdma res`). Prints TAP.
fp=$1
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib.sh"
skip_without_qemu
tmp=$(mktemp -d /tmp/forkpin-faults.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# shellcheck disable=SC2016 # expanded by the guest shell
guest='
"$0" run -b verbs -m anon,thp-pmd,hugetlb-2m,memfd \
	-s parent-writes,child-alive,device-reads,many-children,nested,fork-exec --timeout 20 \
	--json "$FORKPIN_VM_OUT/down.json" >"$FORKPIN_VM_OUT/down.tap" 2>&1 &
pid=$!
# The fault lands after the third case has finished, however fast the guest runs (the JSON
# reporter streams each finished case to FILE.partial), bounded to 60 s.
for i in $(seq 600); do
	[ "$(grep -c "\"result\"" "$FORKPIN_VM_OUT/down.json.partial" 2>/dev/null)" -ge 3 ] && break
	sleep 0.1
done
ip link set fp0 down
wait $pid
echo "run exit $?"
ip link set fp0 up
echo "left: qp $(rdma res show qp | grep -c forkpin) mr $(rdma res show mr | grep -c forkpin)"
'
out=$("$here/../setup/vm/run" --timeout 600 --out "$tmp" -- sh -c "$guest" "$fp" 2>&1)
contains "run exit 1" "a link lost mid-run makes the run exit 1"
contains "left: qp 0 mr 0" "no QP or MR of forkpin's is left in the kernel"
python3 - "$tmp/down.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cases = r["cases"]
errors = [c for c in cases if c["result"] == "fail" and "link went down" in c["diagnosis"]]
skips = [c for c in cases if c["result"] == "skip"]
for c in cases:
    if c["result"] != "pass" and c not in errors:
        print(f"# {c['id']}: {c['result']}: {c['diagnosis'][:150]}")
print(f"# {len(cases)} cases: {len(errors)} errors naming the lost port, {len(skips)} skips, "
      f"{sum(c['result'] == 'pass' for c in cases)} passed before the link went down")
ok = r.get("complete") is True and errors and not any(
    "no RDMA device" in c["diagnosis"] for c in skips)
sys.exit(0 if ok else 1)
PY
ok $? "the cases after the drop are errors naming the lost port, none a SKIP; the report is complete"
tap_done
