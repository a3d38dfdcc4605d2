#!/bin/bash
# tests/vm/verbs-odp.sh: the verbs-odp row on Debian's 7.2 kernel, the one kernel here whose
# rxe has ODP, so the row can never again ship without having moved data. One guest boot:
#   1. netdev MTU 1500 (path MTU 1024): tests/vm/odp_min (one ODP MR, one RDMA WRITE and one
#      READ, no fork) and a verbs-odp case. Where odp_min sees rxe misplace the data (the rxe
#      ODP defect, docs/verbs.md) the case must SKIP naming it; where it does not, the case
#      must pass. Never a FAIL.
#   2. netdev MTU 9000 (path MTU 4096: every packet starts on a page boundary, out of the
#      defect's reach): anon + thp-pmd x a few scenarios must exit 0 with cases PASSing,
#      among them parent-writes and device-reads: after fork and a parent write the NIC
#      writes into and reads from the parent's current page.
# Prints TAP; exit 0 all ok, 1 a check failed, 77 (skip) when QEMU or libibverbs is missing.
# usage: tests/vm/verbs-odp.sh FORKPIN ODP_MIN [setup/vm/run options; default
#        --kernel-release 7.2]
set -u
fp=$1 odp_min=$2
shift 2
[ $# -gt 0 ] || set -- --kernel-release 7.2
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
skip_without_qemu
if [ ! -x "$odp_min" ]; then
	echo "1..0 # SKIP $odp_min not built (libibverbs-dev missing)"
	exit 77
fi
fp=$(cd "$(dirname "$fp")" && pwd)/$(basename "$fp")
odp_min=$(cd "$(dirname "$odp_min")" && pwd)/$(basename "$odp_min")
tmp=$(mktemp -d /tmp/forkpin-odp.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out"

# TMPDIR=/dev/shm: the guest's /tmp is an overlay without O_TMPFILE (see tests/vm/verbs.sh).
# shellcheck disable=SC2016 # expanded by the guest's shell
guest_script='
export TMPDIR=/dev/shm
o=$FORKPIN_VM_OUT
"$ODP_MIN" >"$o/min1500.tap" 2>&1; echo $? >"$o/min1500.rc"
"$FORKPIN" run -b verbs-odp -m anon -s parent-writes --json "$o/r1500.json" >/dev/null 2>&1
ip link set fp0 mtu 9000 && sleep 1
ibv_devinfo -d rxe0 | grep active_mtu >"$o/mtu9000.txt"
"$FORKPIN" run -b verbs-odp -m anon,thp-pmd \
	-s parent-writes,device-reads,child-writes,posix-spawn,in-flight \
	--json "$o/r9000.json" >"$o/r9000.tap" 2>&1
echo $? >"$o/r9000.rc"
'
# One boot: a guest that does not finish (exit 3) is a failure, with setup/vm/run's reason.
"$top/setup/vm/run" --out "$tmp/out" "$@" -- \
	env FORKPIN="$fp" ODP_MIN="$odp_min" sh -c "$guest_script" >"$tmp/vm.log" 2>&1
vm_rc=$?
ok "$vm_rc" "the guest ran (setup/vm/run $* exit $vm_rc)"
[ "$vm_rc" = 0 ] || tail -15 "$tmp/vm.log" | sed 's/^/# /'

python3 - "$tmp/out" "$tap_n" "$tmp/n" <<'PY'
import json, os, sys
out, n = sys.argv[1], int(sys.argv[2])
failed = False
def check(ok, desc, diag=()):
    global n, failed
    n += 1
    print(("ok" if ok else "not ok") + f" {n} - {desc}")
    if not ok:
        failed = True
        for d in list(diag)[:15]:
            print("# " + str(d))
def read(name, default=""):
    try:
        return open(os.path.join(out, name)).read()
    except OSError:
        return default
def cases(name):
    try:
        return [c for c in json.load(open(os.path.join(out, name)))["cases"]
                if c["backend"] == "verbs-odp"]
    except (OSError, ValueError, KeyError) as e:
        check(False, f"{name}: the guest's JSON report came back", [e])
        return []

min_rc, min_tap = read("min1500.rc", "?").strip(), read("min1500.tap")
check(min_rc in ("0", "1"), f"odp_min ran at MTU 1500 (exit {min_rc}: 0 data right, "
      "1 misplaced)", min_tap.splitlines())
defect = min_rc == "1"
print("# odp_min at MTU 1500: " + ("rxe misplaces ODP data (the rxe ODP defect)" if defect
      else "ODP data correct"))
for line in min_tap.splitlines():
    if line.startswith(("not ok", "# ")) and "page " not in line:
        print("#   " + line)
c1500 = cases("r1500.json")
if defect:
    check(len(c1500) == 1 and c1500[0]["result"] == "skip" and
          "rxe ODP defect" in c1500[0]["diagnosis"],
          "MTU 1500: verbs-odp/anon/parent-writes SKIPs naming the rxe ODP defect",
          [f"{c['id']}: {c['result']}: {c['diagnosis']}" for c in c1500])
else:
    check(len(c1500) == 1 and c1500[0]["result"] == "pass",
          "MTU 1500: verbs-odp/anon/parent-writes passes (no defect seen by odp_min)",
          [f"{c['id']}: {c['result']}: {c['diagnosis']}" for c in c1500])

mtu = read("mtu9000.txt").strip()
check("4096" in mtu, f"MTU 9000 gives rxe0 a 4096-byte active MTU ({mtu or 'nothing'})")
rc, c9000 = read("r9000.rc", "?").strip(), cases("r9000.json")
passed = [c for c in c9000 if c["result"] == "pass"]
bad = [c for c in c9000 if c["result"] not in ("pass", "skip")]
check(rc == "0" and not bad, f"MTU 9000: forkpin run -b verbs-odp exits 0 (got {rc})",
      [f"{c['id']}: {c['result']}: {c['explanation'] or c['diagnosis']}" for c in bad] +
      read("r9000.tap").splitlines()[-5:])
check(len(passed) >= 5, f"MTU 9000: {len(passed)} of {len(c9000)} verbs-odp cases PASSed",
      [f"{c['id']}: {c['result']}: {c['diagnosis']}" for c in c9000 if c not in passed])
want = {"verbs-odp/anon/parent-writes", "verbs-odp/anon/device-reads"}
check(want <= {c["id"] for c in passed},
      "the NIC wrote into and read from the parent's current page after fork + parent write "
      "(anon parent-writes and device-reads passed)")
open(sys.argv[3], "w").write(str(n))
sys.exit(1 if failed else 0)
PY
py_rc=$?
tap_n=$(cat "$tmp/n" 2>/dev/null || echo "$tap_n")
[ "$py_rc" = 0 ] || tap_fail=$((tap_fail + 1))
tap_done
