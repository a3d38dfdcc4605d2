#!/bin/bash
# tests/vm/faults.sh FORKPIN: faults injected in the test VM while a run goes (the guest side
# is tests/vm/faults-guest.sh, one boot for all of them): rxe0's netdev down, rxe0 deleted,
# the child of a vfio case SIGKILLed while the edu DMA is queued, the edu device unbound from
# vfio-pci. Each must end as an error naming the fault (never a SKIP that would let a node
# read as "nothing to test here", never a false pass, never a hang), the run goes on to a
# complete report, and nothing is left behind: no forkpin process, no open device file, no
# page still pinned, no QP or MR in `rdma res`. Prints TAP.
fp=$1
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib.sh"
skip_without_qemu
tmp=$(mktemp -d /tmp/forkpin-faults.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

out=$("$here/../setup/vm/run" --timeout 900 --out "$tmp" -- \
	"$here/vm/faults-guest.sh" "$fp" 2>&1)
echo "$out" | grep -E '^(baseline|down|delete|kill|unbind|rebind)' | sed 's/^/# /'

# check FAULT JSON PATTERN: the report is complete, at least one case is an error whose
# diagnosis holds PATTERN, every other case passed or is an error (the case the fault hit
# in flight names what failed in it), none is a SKIP or a data FAIL; prints what it saw.
check() {
	python3 - "$@" <<'PY'
import json, sys
name, path, pattern = sys.argv[1:4]
try:
    r = json.load(open(path))
except (OSError, ValueError) as e:
    print(f"# {name}: no report: {e}")
    sys.exit(1)
cases = r["cases"]
errors = [c for c in cases if c["status"] == "error" and pattern in c["diagnosis"]]
hit = [c for c in cases if c["status"] == "error" and c not in errors]
other = [c for c in cases if c["result"] != "pass" and c not in errors + hit]
for c in hit[:3] + other[:5]:
    print(f"# {name}: {c['id']}: {c['result']}/{c['status']}: {c['diagnosis'][:200]}")
if errors:
    print(f"# {name}: e.g. {errors[-1]['diagnosis'][:200]}")
print(f"# {name}: {len(cases)} cases: {len(errors)} errors naming the fault, {len(hit)} "
      f"other errors, {sum(c['result'] == 'pass' for c in cases)} passed, {len(other)} else")
sys.exit(0 if r.get("complete") is True and errors and not other else 1)
PY
}

nothing_left() {
	contains "$1 left: procs 0 fds 0 pins 0 qp 0 mr 0" \
		"$1: no forkpin process, open device file, pinned page, QP or MR left"
}

grep -qE '^unbind pinned since boot: [1-9][0-9]*$' <<<"$out"
ok $? "the guest kernel counts FOLL_PIN pins (/proc/vmstat): the 'pins 0' checks below mean something"
contains "down run exit 1" "netdev down: the run exits 1"
check down "$tmp/down.json" "link went down"
ok $? "netdev down: later cases are errors naming the lost port, none a SKIP; report complete"
nothing_left down

contains "delete run exit 1" "rdma link delete: the run exits 1"
contains "delete: rdma link delete exit 0" "rdma link delete: the device goes (once forkpin lets go)"
check delete "$tmp/delete.json" "was removed during the run"
ok $? "rdma link delete: later cases are errors naming the removed device; report complete"
nothing_left delete

contains "kill run exit 1 killed 2" "SIGKILLed children: two killed, the run exits 1"
python3 - "$tmp/kill.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cases = r["cases"]
dead = [c for c in cases if c["status"] == "error" and "died from signal 9" in c["diagnosis"]]
other = [c for c in cases if c["result"] != "pass" and c not in dead]
for c in dead[:1] + other[:5]:
    print(f"# kill: {c['id']}: {c['result']}/{c['status']}: {c['diagnosis'][:160]}")
print(f"# kill: {len(cases)} cases, {len(dead)} errors naming the killed child, "
      f"{len(other)} other non-pass")
# Two kills; one that lands after the child sent its checks' results (on its way out, or
# already a zombie: kill(2) still succeeds; seen once under TCG) cannot change that case's
# verdict, so 1 or 2 errors. None is a pass the signal should have broken: the rest pass.
sys.exit(0 if r.get("complete") is True and 1 <= len(dead) <= 2 and not other
         and len(cases) == 24 else 1)
PY
ok $? "SIGKILLed children: the cases killed mid-DMA are errors naming the signal, the rest pass"
nothing_left kill

if grep -q "unbind: no FORKPIN_VFIO_BDF" <<<"$out"; then
	ok 1 "the guest has the edu device on vfio-pci (see setup/vm/guest-setup's warnings)"
else
	contains "unbind run exit 1" "edu unbound: the run exits 1, without hanging"
	contains "unbind: write exit 0" "edu unbound: the unbind completes (once forkpin lets go)"
	check unbind "$tmp/unbind.json" "was unbound or removed during the run"
	ok $? "edu unbound: later cases are errors naming the unbind, none a SKIP or false pass"
	nothing_left unbind
	contains "rebind run exit 0" "edu bound again: a vfio case passes"
fi
tap_done
