#!/bin/bash
# tests/vm/two-node.sh: two-node mode for real, in the test VM. Two rxe devices on the two
# ends of a veth pair (rxeA on fpA 10.77.0.1, rxeB on fpB 10.77.0.2), `forkpin peer --device
# rxeB` serving, `forkpin run --peer 10.77.0.2` using rxeA: every verbs-remote case's DMA is
# done by rxeB, a different NIC from the case's own, and crosses the veth (rxeB's packet
# counters prove it). One guest boot per kernel checks:
#   - a slice of scenarios x memtypes on verbs-remote and on the loopback verbs row;
#   - back-to-back requests (thp-pmd/device-reads 20 times): a request that reaches the peer
#     before the ack of its previous reply is served, not dropped;
#   - two runs at once against one peer: the peer refuses the second client while it serves
#     the first (its log says so) and the clients' retries let both runs finish;
#   - a peer lost mid-case (--die-after): that case is an error naming the peer, the next ones
#     error too (nothing answers), none passes and the run ends (no hang);
#   - ofi-remote: `forkpin peer --ofi` on rxeB, the same slice through libfabric's verbs;ofi_rxm,
#     beside the loopback ofi row (on a mutant: the same verdicts and diagnoses as that row),
#     and an ofi peer lost mid-case (errors, no pass, the run ends);
#   - the idle timeout of both peers: a client that connects and goes silent
#     (tests/vm/peer_idle_client) holds the peer (a second client is refused) until
#     --idle-timeout drops it; a run started meanwhile is served.
# The network: setup/vm/two-node-net (why one namespace, not two: see there).
# usage: tests/vm/two-node.sh [FORKPIN] [--kernel-release R | --kernel BZIMAGE |
#                             --custom-kernel NAME] [--expect fail]
#   --custom-kernel NAME: setup/kernel/build NAME (cached; from cold ~10 min), then as --kernel.
#   default: Debian's 6.12 kernel (--kernel-release 6.12); everything must pass.
#   FORKPIN_KEEP=1 keeps the guest's logs (peer.log, the runs' TAP and JSON).
#   --kernel IMAGE --expect fail: a mutant (setup/kernel/build no-early-cow): the verbs-remote
#   and ofi-remote cases must fail exactly where the loopback verbs and ofi cases fail, with
#   the same diagnosis.
# Prints TAP; 77 (skip) without QEMU or, for --custom-kernel, the kernel build packages.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
fp=${FORKPIN_BUILD:-$top/build}/forkpin
idle_client=${FORKPIN_PEER_IDLE_CLIENT:-${FORKPIN_BUILD:-$top/build}/tests/peer_idle_client}
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
	fp=$1
	shift
fi
kernel_args=(--kernel-release 6.12)
expect=pass
custom=
while [ $# -gt 0 ]; do
	case $1 in
	--kernel)
		[ -n "${2:-}" ] || { echo "$0: --kernel needs a bzImage path" >&2 && exit 2; }
		kernel_args=(--kernel "$2") && shift
		;;
	--kernel-release) kernel_args=(--kernel-release "$2") && shift ;;
	--custom-kernel) custom=$2 && shift ;;
	--expect) expect=$2 && shift ;;
	*) echo "usage: $0 [FORKPIN] [--kernel BZIMAGE] [--expect pass|fail]" >&2 && exit 2 ;;
	esac
	shift
done
# shellcheck source=tests/lib.sh
. "$top/tests/lib.sh"
skip_without_qemu
if [ ! -x "$fp" ]; then
	echo "1..1"
	echo "not ok 1 - $fp exists: build first (setup/build build)"
	exit 1
fi
fp=$(cd "$(dirname "$fp")" && pwd)/$(basename "$fp")
if [ ! -x "$idle_client" ]; then
	echo "1..1"
	echo "not ok 1 - $idle_client exists: build first (setup/build build)"
	exit 1
fi
if [ -n "$custom" ]; then
	# pipefail: the build's status, not tail's (PIPESTATUS does not outlive the $(...))
	image=$(
		set -o pipefail
		"$top/setup/kernel/build" --timeout "${FORKPIN_KERNEL_BUILD_TIMEOUT:-2400}" \
			"$custom" 2>/tmp/two-node-build.$$ | tail -n 1
	)
	st=$?
	why=$(tail -n 1 /tmp/two-node-build.$$)
	rm -f /tmp/two-node-build.$$
	if [ "$st" = 2 ]; then
		echo "1..0 # SKIP setup/kernel/build $custom: $why"
		exit 77
	fi
	if [ "$st" != 0 ]; then
		echo "1..1"
		echo "not ok 1 - setup/kernel/build $custom: $why"
		exit 1
	fi
	kernel_args=(--kernel "$image")
fi
tmp=$(mktemp -d /tmp/forkpin-two-node.XXXXXX)
if [ -n "${FORKPIN_KEEP:-}" ]; then
	echo "# keeping $tmp"
else
	trap 'rm -rf "$tmp"' EXIT
fi
mkdir -p "$tmp/out"

# The slice: private base pages, THP and one shared type; the scenarios where the parent
# writes after fork, a child stays alive, the device reads, and the control.
# shellcheck disable=SC2054 # the commas are forkpin's list syntax
sel=(-m anon,thp-pmd,memfd -s parent-writes,child-alive,device-reads,control-dontneed)

# In the guest. TMPDIR=/dev/shm: the guest's /tmp is an overlay without O_TMPFILE.
# shellcheck disable=SC2016 # expanded by the guest's shell
guest_script='
out=$FORKPIN_VM_OUT
export TMPDIR=/dev/shm
"$TOP/setup/vm/two-node-net" >"$out/setup.log" 2>&1
echo $? >"$out/setup.rc"
rdma link show >>"$out/setup.log" 2>&1
counter() { cat /sys/class/infiniband/rxeB/ports/1/hw_counters/$1 2>/dev/null || echo 0; }
peer_up() { # peer_up LOG ARGS...: start the peer, wait for its listening line
	log=$1; shift
	"$FORKPIN" peer --device rxeB "$@" >"$log" 2>&1 &
	for i in $(seq 50); do grep -q listening "$log" && return 0; sleep 0.1; done
	return 1
}
peer_up "$out/peer.log"; peer=$!
before=$(counter rcvd_pkts)
"$FORKPIN" run --peer 10.77.0.2 -b verbs-remote,verbs "$@" --json "$out/slice.json" \
	>"$out/slice.tap" 2>"$out/slice.err"
echo $? >"$out/slice.rc"
echo $(( $(counter rcvd_pkts) - before )) >"$out/rxeB.pkts"
# back-to-back requests: the next request of the client often completes at the peer before the
# ack of the previous reply does (rxe defers acks); the peer must still serve it (it once
# dropped it: ~1 thp-pmd/device-reads case in 13 waited out its deadline)
"$FORKPIN" run --peer 10.77.0.2 -b verbs-remote -m thp-pmd -s device-reads --repeat 20 \
	--json "$out/race.json" >"$out/race.tap" 2>&1
echo $? >"$out/race.rc"
# two clients at once: the second is refused while the first is served, and retries
"$FORKPIN" run --peer 10.77.0.2 -b verbs-remote -m anon -s parent-writes,device-reads \
	--repeat 8 >"$out/both1.tap" 2>&1 & c1=$!
"$FORKPIN" run --peer 10.77.0.2 -b verbs-remote -m anon -s parent-writes,device-reads \
	--repeat 8 >"$out/both2.tap" 2>&1
echo $? >"$out/both2.rc"
wait $c1; echo $? >"$out/both1.rc"
kill $peer; wait $peer 2>/dev/null
# a peer lost mid-case: it exits without answering its 3rd request
peer_up "$out/die.log" --port 7476 --die-after 3; peer=$!
start=$(date +%s)
"$FORKPIN" run --peer 10.77.0.2:7476 -b verbs-remote -m anon \
	-s parent-writes,device-reads,child-alive,parent-writes --repeat 2 \
	--json "$out/die.json" >"$out/die.tap" 2>&1
echo $? >"$out/die.rc"
echo $(( $(date +%s) - start )) >"$out/die.secs"
kill $peer 2>/dev/null; wait $peer 2>/dev/null # (it exited 3 itself)
# ofi-remote: the peer serves through libfabric; the loopback ofi row beside it
peer_up "$out/ofi-peer.log" --ofi; peer=$!
before=$(counter rcvd_pkts)
"$FORKPIN" run --peer 10.77.0.2 --ofi-provider "verbs;ofi_rxm" -b ofi-remote,ofi "$@" \
	--json "$out/ofi.json" >"$out/ofi.tap" 2>"$out/ofi.err"
echo $? >"$out/ofi.rc"
echo $(( $(counter rcvd_pkts) - before )) >"$out/ofi-rxeB.pkts"
kill $peer; wait $peer 2>/dev/null
# an ofi peer lost mid-case: it exits without answering its 3rd request
peer_up "$out/ofi-die.log" --ofi --port 7481 --die-after 3; peer=$!
start=$(date +%s)
"$FORKPIN" run --ofi-peer 10.77.0.2:7481 -b ofi-remote -m anon --timeout 30 \
	-s parent-writes,device-reads,child-alive,parent-writes --repeat 2 \
	--json "$out/ofi-die.json" >"$out/ofi-die.tap" 2>&1
echo $? >"$out/ofi-die.rc"
echo $(( $(date +%s) - start )) >"$out/ofi-die.secs"
kill $peer 2>/dev/null; wait $peer 2>/dev/null
# idle timeout: a silent client holds the peer (a second client is refused); a run
# started meanwhile (it may connect after the drop: forkpin starts in ~3 s under TCG) runs
idle() { # idle verbs|ofi PORT IDLE-SECONDS PEER-ARGS...
	kind=$1 port=$2 secs=$3; shift 3
	peer_up "$out/idle-$kind.log" --port $port --idle-timeout $secs "$@"; peer=$!
	"$IDLE" $kind 10.77.0.2 $port $((secs + 6)) >"$out/idle-$kind.client" 2>&1 & cl=$!
	for i in $(seq 100); do grep -q silent "$out/idle-$kind.client" && break; sleep 0.1; done
	"$IDLE" $kind 10.77.0.2 $port 0 >"$out/idle-$kind.second" 2>&1 # refused: the peer is held
	echo $? >"$out/idle-$kind.second.rc"
	"$FORKPIN" run --peer 10.77.0.2:$port --ofi-peer 10.77.0.2:$port -b $kind-remote -m anon \
		-s device-reads --json "$out/idle-$kind.json" >"$out/idle-$kind.tap" 2>&1
	wait $cl; echo $? >"$out/idle-$kind.client.rc"
	kill $peer; wait $peer 2>/dev/null
}
# (6 s each: a libfabric client takes 2-3 s to start under TCG, and under load even the verbs
# one took over 2 s; the second client must find the peer still held)
idle verbs 7479 6
idle ofi 7480 6 --ofi
true
'
# One boot: a guest that does not finish (exit 3) is a failure, with setup/vm/run's reason.
"$top/setup/vm/run" --timeout 900 --out "$tmp/out" "${kernel_args[@]}" -- \
	env FORKPIN="$fp" TOP="$top" IDLE="$idle_client" bash -c "$guest_script" guest "${sel[@]}" >"$tmp/vm.log" 2>&1
vm_rc=$?

python3 - "$tmp/out" "$vm_rc" "$tmp/vm.log" "$expect" <<'PY'
import json, os, re, sys

out, vm_rc, vm_log, expect = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
n, failed, lines = 0, False, []


def read(name, default=""):
    try:
        return open(os.path.join(out, name)).read()
    except OSError:
        return default


def check(desc, ok, diag=()):
    global n, failed
    n += 1
    lines.append(("ok" if ok else "not ok") + f" {n} - {desc}")
    if not ok:
        failed = True
        lines.extend("# " + d for d in diag)


def like_loopback(row, local, remote, peer_log):
    """On the mutant: the loopback ROW fails, and ROW-remote has each loopback case's
    verdict, its diagnosis (digits aside) where it fails, and lost DMA on anon/parent-writes."""
    lost = [k for k, c in local.items() if c["result"] == "fail"]
    check(f"mutant: the loopback {row} row fails ({len(lost)} cases)", bool(lost))
    diff = [f"{k}: {row} {local[k]['status']} vs {row}-remote "
            f"{remote.get(k, {}).get('status')}: {remote.get(k, {}).get('explanation', '')[:200]}"
            for k in local if local[k]["status"] != remote.get(k, {}).get("status")]
    check(f"mutant: every {row}-remote case has the loopback {row} case's verdict", not diff,
          diff[:10] + peer_log.splitlines()[-5:])
    digits = lambda t: re.sub(r"\d+", "N", t)
    same = [k for k in lost if k in remote and
            digits(remote[k]["diagnosis"]) == digits(local[k]["diagnosis"])]
    check(f"mutant: the failing {row}-remote cases carry the loopback diagnosis "
          f"({len(same)} of {len(lost)})", lost and len(same) == len(lost),
          [f"{k}: {remote.get(k, {}).get('diagnosis')!r} vs {local[k]['diagnosis']!r}"
           for k in lost if k not in same][:5])
    pw = remote.get("anon/parent-writes", {})
    check(f"mutant: anon/parent-writes on {row}-remote is lost DMA ('no longer maps')",
          "no longer maps" in pw.get("explanation", "") + pw.get("diagnosis", ""), [repr(pw)])


check(f"the guest ran the script (setup/vm/run exit {vm_rc})", vm_rc == 0,
      open(vm_log).read().splitlines()[-15:])
check("veth pair, policy routing, rxeA and rxeB set up", read("setup.rc").strip() == "0",
      read("setup.log").splitlines()[-10:])
try:
    cases = json.load(open(os.path.join(out, "slice.json")))["cases"]
except (OSError, ValueError) as e:
    cases = []
    check("the slice wrote a JSON report", False,
          [str(e)] + read("slice.err").splitlines()[-10:] + read("peer.log").splitlines()[-5:])
remote = {c["id"].split("/", 1)[1]: c for c in cases if c["backend"] == "verbs-remote"}
local = {c["id"].split("/", 1)[1]: c for c in cases if c["backend"] == "verbs"}
ran = [c for c in remote.values() if c["result"] != "skip"]
check(f"verbs-remote: {len(ran)} of {len(remote)} cases ran (none skipped for want of a peer)",
      remote and len(ran) == len(remote),
      [f"{c['id']}: {c['diagnosis']}" for c in remote.values() if c["result"] == "skip"][:5])
check("every verbs-remote case says the peer's rxeB did the DMA",
      ran and all("rxeB" in c.get("note", "") for c in ran),
      [f"{c['id']}: note {c.get('note')!r}" for c in ran if "rxeB" not in c.get("note", "")][:5])
pkts = int(read("rxeB.pkts", "0").strip() or 0)
check(f"the traffic crossed the veth to rxeB ({pkts} packets received)", pkts > 0)
bad = lambda c: c["result"] in ("fail", "control-missed") or c["status"] == "error"
if expect == "pass":
    check(f"6.12: forkpin run exited 0 (got {read('slice.rc').strip()})",
          read("slice.rc").strip() == "0",
          [f"{c['id']}: {c['result']}: {c['explanation']}" for c in cases if bad(c)][:10])
    check("6.12: no verbs-remote case failed or errored, every control was detected",
          ran and not any(bad(c) for c in ran) and
          all(c["result"] == "control-detected" for c in ran if c["control"]),
          [f"{c['id']}: {c['result']}: {c['explanation']}" for c in ran if bad(c)][:10])
else:
    check(f"mutant: forkpin run exited 1 (got {read('slice.rc').strip()})",
          read("slice.rc").strip() == "1")
    like_loopback("verbs", local, remote, read("peer.log"))
try:
    race = json.load(open(os.path.join(out, "race.json")))["cases"]
except (OSError, ValueError) as e:
    race = []
if expect == "pass":
    check(f"a request that completes before the ack of the previous reply is served "
          f"({sum(c['status'] == 'pass' for c in race)} of 20 thp-pmd/device-reads passed)",
          len(race) == 20 and all(c["status"] == "pass" for c in race),
          [f"{c['id']}: {c['status']}: {c['explanation'][:300]}" for c in race
           if c["status"] != "pass"][:5] + read("race.tap").splitlines()[-3:])
both = [read("both1.rc").strip(), read("both2.rc").strip()]
peer_log = read("peer.log")
check(f"two runs at once against one peer both passed (exits {both})", both == ["0", "0"] or
      expect != "pass" and all(b in ("0", "1") for b in both),
      (read("both1.tap") + read("both2.tap")).splitlines()[-6:])
check("the peer refused the second client while serving the first (its log)",
      "refused" in peer_log and "serving" in peer_log, peer_log.splitlines()[-8:])
try:
    die = json.load(open(os.path.join(out, "die.json")))["cases"]
except (OSError, ValueError) as e:
    die = []
    check("the lost-peer run wrote a JSON report", False, [str(e)] + read("die.tap").splitlines()[-8:])
res = [c["status"] for c in die]
first_lost = next((i for i, c in enumerate(die) if c["status"] == "error"), None)
check(f"peer lost mid-case: the run ended in {read('die.secs').strip()} s with exit "
      f"{read('die.rc').strip()} (results {res})",
      read("die.rc").strip() == "1" and int(read("die.secs", "999").strip() or 999) < 120)
check("peer lost mid-case: the case in flight is an error naming the peer",
      first_lost is not None and "10.77.0.2:7476" in die[first_lost]["explanation"] +
      die[first_lost]["diagnosis"], [json.dumps(c)[:300] for c in die[:4]])
check("peer lost mid-case: no case after it passed",
      first_lost is not None and all(c["status"] == "error" for c in die[first_lost:]),
      [f"{c['id']}: {c['status']}: {c['explanation'][:150]}" for c in die[first_lost or 0:]][:6])
# ofi-remote: libfabric (verbs;ofi_rxm) on both ends, the peer's rxeB doing the DMA
try:
    ocases = json.load(open(os.path.join(out, "ofi.json")))["cases"]
except (OSError, ValueError) as e:
    ocases = []
    check("the ofi-remote run wrote a JSON report", False,
          [str(e)] + read("ofi.err").splitlines()[-10:] + read("ofi-peer.log").splitlines()[-5:])
oremote = {c["id"].split("/", 1)[1]: c for c in ocases if c["backend"] == "ofi-remote"}
olocal = {c["id"].split("/", 1)[1]: c for c in ocases if c["backend"] == "ofi"}
oran = [c for c in oremote.values() if c["result"] != "skip"]
check(f"ofi-remote: {len(oran)} of {len(oremote)} cases ran", oremote and len(oran) == len(oremote),
      [f"{c['id']}: {c['diagnosis']}" for c in oremote.values() if c["result"] == "skip"][:5] +
      read("ofi-peer.log").splitlines()[-5:])
check("every ofi-remote case says the peer's rxeB did the DMA through verbs;ofi_rxm",
      oran and all("rxeB" in c.get("note", "") and "ofi_rxm" in c.get("note", "") for c in oran),
      [f"{c['id']}: note {c.get('note')!r}" for c in oran
       if not ("rxeB" in c.get("note", "") and "ofi_rxm" in c.get("note", ""))][:5])
opkts = int(read("ofi-rxeB.pkts", "0").strip() or 0)
check(f"ofi-remote: the traffic crossed the veth to rxeB ({opkts} packets received)", opkts > 0)
if expect == "pass":
    check(f"6.12: ofi-remote: forkpin run exited 0 (got {read('ofi.rc').strip()})",
          read("ofi.rc").strip() == "0",
          [f"{c['id']}: {c['result']}: {c['explanation']}" for c in ocases if bad(c)][:10] +
          read("ofi-peer.log").splitlines()[-5:])
else:
    # ofi-remote's requests and replies are RMA between MAP_SHARED buffers, so the fork()s
    # that break the case's buffer leave its messages alone (ofi_rxm's own bounce buffers
    # would go stale: docs/two-node.md): the remote row must see what the loopback sees.
    check(f"mutant: ofi-remote: forkpin run exited 1 (got {read('ofi.rc').strip()})",
          read("ofi.rc").strip() == "1")
    like_loopback("ofi", olocal, oremote, read("ofi-peer.log"))
try:
    odie = json.load(open(os.path.join(out, "ofi-die.json")))["cases"]
except (OSError, ValueError) as e:
    odie = []
    check("the lost ofi peer run wrote a JSON report", False, [str(e)] + read("ofi-die.tap").splitlines()[-8:])
ofirst = next((i for i, c in enumerate(odie) if c["status"] == "error"), None)
check(f"ofi peer lost mid-case: the run ended in {read('ofi-die.secs').strip()} s with exit "
      f"{read('ofi-die.rc').strip()} (results {[c['status'] for c in odie]})",
      read("ofi-die.rc").strip() == "1" and int(read("ofi-die.secs", "999").strip() or 999) < 120)
check("ofi peer lost mid-case: the case in flight is an error naming the peer, none after it "
      "passed", ofirst is not None and "10.77.0.2:7481" in odie[ofirst]["explanation"] +
      odie[ofirst]["diagnosis"] and all(c["status"] == "error" for c in odie[ofirst:]),
      [f"{c['id']}: {c['status']}: {c['explanation'][:200]}" for c in odie][:8])
# the idle timeout, both peers
for kind, secs in (("verbs", 6), ("ofi", 6)):
    log = read(f"idle-{kind}.log")
    check(f"{kind} peer: the silent client was dropped after the {secs} s idle timeout",
          f"idle for {secs} s: closed" in log, log.splitlines()[-6:] +
          read(f"idle-{kind}.client").splitlines()[-3:])
    check(f"{kind} peer: a second client was refused while the silent one held it",
          "refused" in log and read(f"idle-{kind}.second.rc").strip() == "1" and
          any(w in read(f"idle-{kind}.second") for w in ("REJECTED", "busy")),
          log.splitlines()[-6:] + read(f"idle-{kind}.second").splitlines()[-2:])
    try:
        ic = json.load(open(os.path.join(out, f"idle-{kind}.json")))["cases"]
    except (OSError, ValueError):
        ic = []
    served = log.split(f"idle for {secs} s: closed", 1)[-1]
    check(f"{kind} peer: then it served that run (a session after the drop; case status "
          f"{[c['status'] for c in ic]})", f"idle for {secs} s: closed" in log and "client " in served
          and ic and (expect != "pass" or all(c["status"] in ("pass", "mismatch") for c in ic)),
          read(f"idle-{kind}.tap").splitlines()[-6:])
    if kind == "verbs":
        said = (read("idle-verbs.client").strip().splitlines() or ["nothing"])[-1]
        check(f"verbs peer: the silent client saw its connection end ({said})",
              read("idle-verbs.client.rc").strip() == "0", read("idle-verbs.client").splitlines())
print("TAP version 13")
print(f"1..{n}")
print("\n".join(lines))
sys.exit(1 if failed else 0)
PY
