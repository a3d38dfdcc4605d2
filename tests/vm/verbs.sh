#!/bin/bash
# tests/vm/verbs.sh: in the test VM (rdma_rxe link rxe0), `forkpin run --backend verbs` must
# pass every runnable case and detect every negative control, in both fork modes:
#   default     the kernel's copy-on-fork keeps pinned pages with the parent;
#   fork-init   ibv_fork_init() + RDMAV_FORK_SAFE=1: registrations are MADV_DONTFORK and
#               children touching them get SIGSEGV, which the scenarios expect.
# verbs-odp runs too: it must pass, or skip with the device's missing ODP caps as reason.
# One guest boot runs both modes. Prints TAP; exit 0 all ok, 1 a check failed, 77 (skip)
# when QEMU is missing. Extra arguments go to setup/vm/run (e.g. --kernel-release 6.12).
# FORKPIN_BIN: the forkpin binary (default build/forkpin, built on the host: the guest sees
# the host root read-only at the same path).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${FORKPIN_BIN:-$top/build/forkpin}

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
skip_without_qemu
if [ ! -x "$bin" ]; then
	echo "1..1"
	echo "not ok 1 - $bin exists: build first (meson setup build && meson compile -C build)"
	exit 1
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

tmp=$(mktemp -d /tmp/forkpin-verbs.XXXXXX)
if [ -n "${FORKPIN_KEEP:-}" ]; then
	echo "# keeping $tmp"
else
	trap 'rm -rf "$tmp"' EXIT
fi
mkdir -p "$tmp/out"

# In the guest: both modes, each run's TAP, stderr, JSON and exit status to $FORKPIN_VM_OUT.
# TMPDIR=/dev/shm: the guest's /tmp is an overlay without O_TMPFILE (file-backed memory types).
# shellcheck disable=SC2016 # expanded by the guest's shell
guest_script='
export TMPDIR=/dev/shm
for mode in default fork-init; do
	flag=
	[ "$mode" = fork-init ] && flag=--fork-init
	"$FORKPIN" run --backend verbs,verbs-odp $flag --json "$FORKPIN_VM_OUT/$mode.json" \
		>"$FORKPIN_VM_OUT/$mode.tap" 2>"$FORKPIN_VM_OUT/$mode.err"
	echo $? >"$FORKPIN_VM_OUT/$mode.rc"
done
# verbs-odp with one process per case (no per-run SKIP plan), to compare with the default run;
# its exit status (4 when all SKIP) is for the report to judge, not for the guest
FORKPIN_SKIP_PLAN=0 "$FORKPIN" run --backend verbs-odp -m anon,memfd \
	--json "$FORKPIN_VM_OUT/unplanned.json" >/dev/null 2>&1 || :
'
# One boot: a guest that does not finish (exit 3) fails the first check with setup/vm/run's
# reason (docs/vm.md: the TCG timer-check panic is gone at its cause, no_timer_check).
"$top/setup/vm/run" --out "$tmp/out" "$@" -- env FORKPIN="$bin" sh -c "$guest_script" \
	>"$tmp/vm.log" 2>&1
vm_rc=$?

# The verdicts, from the JSON reports (python3: the host has it; the guest needs nothing).
python3 - "$tmp/out" "$vm_rc" "$tmp/vm.log" <<'PY'
import json, os, sys

out, vm_rc, vm_log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n = 0
failed = False
lines = []


def check(desc, ok, diag=()):
    global n, failed
    n += 1
    lines.append(("ok" if ok else "not ok") + f" {n} - {desc}")
    if not ok:
        failed = True
        lines.extend("# " + d for d in diag)


check(f"the guest ran both modes (setup/vm/run exit {vm_rc})", vm_rc == 0,
      open(vm_log).read().splitlines()[-20:])
odp_caps = "?"
for mode in ("default", "fork-init"):
    path = os.path.join(out, mode + ".json")
    try:
        rep = json.load(open(path))
        rc = int(open(os.path.join(out, mode + ".rc")).read())
    except (OSError, ValueError) as e:
        err = os.path.join(out, mode + ".err")
        check(f"{mode}: forkpin wrote a JSON report", False,
              [str(e)] + (open(err).read().splitlines()[-10:] if os.path.exists(err) else []))
        continue
    env = rep.get("environment") or rep.get("env") or {}
    if isinstance(env, list):
        env = {e.get("key"): e.get("value") for e in env}
    cases = rep["cases"]
    verbs = [c for c in cases if c["backend"] == "verbs"]
    odp = [c for c in cases if c["backend"] == "verbs-odp"]
    ran = [c for c in verbs if not c["control"] and c["result"] != "skip"]
    bad = [c for c in verbs if c["result"] in ("fail", "control-missed")]
    skipped = [c for c in verbs if c["result"] == "skip"]
    controls = [c for c in verbs if c["control"] and c["result"] != "skip"]
    # fork-init (MADV_DONTFORK) takes the whole page away from the child: unrelated data
    # sharing a page with a sub-page registration is gone there (rdma-core PR 1222). forkpin
    # reports that hazard as a FAIL; nothing else may fail.
    dontfork_loss = [c for c in bad if mode == "fork-init" and c["memtype"] == "malloc-subpage"
                     and "unrelated data" in c["diagnosis"]]
    bad = [c for c in bad if c not in dontfork_loss]
    check(f"{mode}: forkpin exited {1 if dontfork_loss else 0} (got {rc})",
          rc == (1 if dontfork_loss else 0),
          [f"{c['id']}: {c['result']}: {c['explanation']}" for c in cases
           if c["result"] in ("fail", "control-missed")][:20])
    check(f"{mode}: {len(ran)} verbs cases ran and none failed ({len(bad)} failed"
          f"{f', {len(dontfork_loss)} lost unrelated data on a DONTFORK page' if dontfork_loss else ''})",
          ran and not bad, [f"{c['id']}: {c['result']}: {c['explanation']}" for c in bad][:20])
    check(f"{mode}: no verbs case skipped for want of the device ({len(skipped)} skipped)",
          not any("no RDMA device" in c["diagnosis"] for c in skipped),
          [f"{c['id']}: {c['diagnosis']}" for c in skipped][:10])
    check(f"{mode}: every verbs negative control that ran was detected ({len(controls)} ran)",
          controls and all(c["result"] == "control-detected" for c in controls),
          [f"{c['id']}: {c['result']}: {c['explanation']}" for c in controls
           if c["result"] != "control-detected"])
    dontfork_notes = [c for c in verbs if "MADV_DONTFORK" in c.get("note", "")]
    if mode == "default":
        check("default: no registration was MADV_DONTFORK", not dontfork_notes,
              [c["id"] for c in dontfork_notes][:10])
    else:
        effect = env.get("verbs.fork_init_dontfork", "")
        if effect.startswith("yes"):
            check(f"fork-init: children hit the MADV_DONTFORK range as expected "
                  f"({len(dontfork_notes)} cases)", bool(dontfork_notes))
            check(f"fork-init: the sub-page buffer's neighbour is reported lost in the child "
                  f"({len(dontfork_loss)} cases)", bool(dontfork_loss))
        else:
            check("fork-init: # SKIP this rdma-core does not apply DONTFORK: " + effect, True)
    odp_bad = [c for c in odp if c["result"] in ("fail", "control-missed")]
    odp_caps = env.get("verbs.rxe0.odp", "?")
    odp_ok = [c for c in odp if c["result"] != "skip"]
    odp_why = "no ODP" if odp_caps == "none" else "ODP"
    # without ODP caps every runnable verbs-odp case must skip saying so (memory-type skips
    # are decided first); with them, none may fail
    check(f"{mode}: verbs-odp: {len(odp_ok)} ran, none failed (rxe0 reports {odp_why})",
          not odp_bad and (odp_caps != "none" or not odp_ok) and
          any("on-demand paging" in c["diagnosis"] for c in odp) == (odp_caps == "none"),
          [f"{c['id']}: {c['result']}: {c['explanation']}" for c in odp_bad][:10])
# The per-run plan SKIPs verbs-odp without a process per case where the device has no ODP:
# the same results and reasons as a case process finds, in less time.
try:
    unplanned = json.load(open(os.path.join(out, "unplanned.json")))["cases"]
    planned = {c["id"]: c for c in json.load(open(os.path.join(out, "default.json")))["cases"]}
    pairs = [(planned.get(c["id"]), c) for c in unplanned]
    same = all(p and (p["result"], p["diagnosis"]) == (c["result"], c["diagnosis"])
               for p, c in pairs)
    took = [sum(c["duration_s"] for c in side if c) for side in zip(*pairs)]
    check(f"default: verbs-odp {len(pairs)} cases, the same results with the per-run plan as "
          f"without ({took[0]:.2f} s against {took[1]:.2f} s of case time)",
          pairs and same and (odp_caps != "none" or took[0] < took[1] / 2),
          [f"{c['id']}: {p and p['diagnosis']!r} / {c['diagnosis']!r}" for p, c in pairs
           if not p or p["diagnosis"] != c["diagnosis"]][:5])
except (OSError, ValueError, KeyError) as e:
    check("default: verbs-odp without the per-run plan wrote a report", False, [str(e)])
print("TAP version 13")
print(f"1..{n}")
print("\n".join(lines))
sys.exit(1 if failed else 0)
PY
