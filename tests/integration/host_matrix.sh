#!/bin/bash
# The host matrix: every non-control case passes or skips with a reason, every control is
# detected with the right diagnosis, the reports agree, and the watchdog keeps a run going.
# usage: tests/integration/host_matrix.sh FORKPIN
fp=$1
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every backend but the two libfabric rows: each ofi case pays libfabric's start-up (~0.2-0.5 s,
# ~90 s for their ~470 cases here) and tests/integration/ofi_host.sh covers them on the host.
"$fp" run -b iouring,verbs,verbs-odp,vfio,vfio-type1,vfio-iommufd,iommufd-mock,guptest,guptest-fast,vmsplice \
	--json "$tmp/r.json" --junit "$tmp/r.xml" >"$tmp/tap" 2>&1
rc=$?
ok $([ $rc -eq 0 ] && echo 0 || echo 1) "forkpin run (all but ofi) on this host exits 0 (got $rc)"
[ $rc -eq 0 ] || grep '^not ok' "$tmp/tap" | sed 's/^/# /'
python3 - "$tmp/r.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
failures = 0
def ok(cond, what):
    global failures
    failures += not cond
    print(f"# {'ok' if cond else 'NOT OK'}: {what}")
cases = r["cases"]
plain = [c for c in cases if not c["control"]]
controls = [c for c in cases if c["control"]]
ok(all(c["result"] in ("pass", "skip") for c in plain),
   f"all {len(plain)} non-control cases pass or skip")
ok(all(c["diagnosis"] for c in plain if c["result"] == "skip"), "every skip has a reason")
ran = [c for c in plain if c["result"] == "pass" and c["backend"] == "iouring"]
ok(len(ran) >= 60, f"io_uring ran {len(ran)} cases for real")
mems = {c["memtype"] for c in ran}
ok({"anon", "thp-pmd", "thp-pte", "memfd", "shared-anon", "file-private",
    "malloc-subpage"} <= mems, f"io_uring covered memory types {sorted(mems)}")
ran_controls = [c for c in controls if c["result"] != "skip"]
ok(len(ran_controls) >= 10 and all(c["result"] == "control-detected" for c in ran_controls),
   f"all {len(ran_controls)} controls that could run were detected")
dn = [c for c in ran_controls if c["scenario"] == "control-dontneed"]
ok(dn and all("device wrote into a page the parent no longer maps" in c["diagnosis"] for c in dn),
   "control-dontneed is diagnosed as lost DMA")
vs = [c for c in ran_controls if c["backend"] == "vmsplice"]
ok(vs and all("device read" in c["diagnosis"] for c in vs),
   "vmsplice reads are diagnosed as wrong device reads")
sys.exit(1 if failures else 0)
PY
ok $? "the JSON report shows every case passed or skipped and every control detected"
python3 "$here/check_reports.py" "$tmp/r.json" "$tmp/r.xml" --failed 0 | sed 's/^/# /'
ok "${PIPESTATUS[0]}" "JSON and JUnit agree"

# TAP in kselftest style.
grep -q '^TAP version 13$' "$tmp/tap" && grep -q '^1\.\.[0-9]*$' "$tmp/tap" &&
	grep -q '^# Totals: pass:' "$tmp/tap"
ok $? "TAP has version, plan and a kselftest totals line"

# The watchdog: cases that cannot finish in time fail as timeouts and the run goes on.
out=$("$fp" run iouring/anon/many-children iouring/anon/nested --timeout 0.000001 2>&1)
rc=$?
ok $([ $rc -eq 1 ] && echo 0 || echo 1) "timed-out cases make the run exit 1"
contains "not ok 1 iouring/anon/many-children # timeout" "the first case is a timeout"
contains "not ok 2 iouring/anon/nested # timeout" "and the run went on to the second"

# Everything skipped: exit 4.
out=$("$fp" run iouring/hugetlb-1g/child-writes 2>&1)
rc=$?
if [ "$(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages 2>/dev/null || echo 0)" = 0 ]; then
	ok $([ $rc -eq 4 ] && echo 0 || echo 1) "a run where everything skips exits 4 (got $rc)"
	contains "# SKIP need 1 free 1 GiB huge page" "the skip names the pool"
fi
tap_done
