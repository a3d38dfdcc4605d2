#!/bin/bash
# Fleet mode on a real Slurm cluster started here: Debian's slurmctld, two slurmd nodes and
# munge, each daemon in its own network, UTS and mount namespaces (a bridge and veth pairs,
# host names fpctl, fpn1, fpn2), everything private to this test: its slurm.conf (SLURM_CONF),
# munge key and socket, state, spool and logs under one temp dir, /etc/hosts bound over only
# inside the namespaces. sbatch runs setup/slurm/forkpin-fleet.sbatch, which sruns forkpin on
# both nodes and merges their reports:
#   1. both nodes pass: the merged table has both, with each report's counts;
#   2. fpn2's site config (bound over in its mount namespace) gives a 1 µs watchdog, so no case
#      finishes before the runner looks: its
#      cases time out for real, the job fails and fpn2 leads the table;
#   3. the report dir is not shared with fpn2: the job fails naming fpn2's missing report.
# Everything is stopped and removed at the end (trap): daemons, namespaces, files.
# usage: tests/slurm.sh FORKPIN
fp=$(realpath "$1")
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib.sh"

skip() {
	echo "1..0 # SKIP $*"
	exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, slurmd)"
for c in slurmctld slurmd slurmstepd munged sbatch srun scontrol sinfo ip nsenter unshare; do
	command -v $c >/dev/null ||
		skip "$c not installed (apt-get install slurmctld slurmd slurm-client munge iproute2)"
done

id=fp$$
ctl=$id-ctl
tmp=$(mktemp -d /tmp/forkpin-slurm.XXXXXX)
chmod 755 "$tmp" # munged refuses a socket or key in a directory others can write
pids=()
nets=()

teardown() {
	local p ns i alive
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	[ -f "$tmp/munge/pid" ] && kill "$(cat "$tmp/munge/pid")" 2>/dev/null
	for i in $(seq 100); do # the daemons stop their helpers (slurmscriptd, steps) themselves
		alive=0
		for p in "${pids[@]}"; do
			kill -0 "$p" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	# What is still there after 10 s: every process in these namespaces is this test's.
	for ns in "${nets[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
	done
	for ns in "${nets[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	pids=() nets=()
	rm -rf "$tmp"
}
trap teardown EXIT

ip netns add "$ctl" 2>/dev/null || skip "cannot create a network namespace (ip netns add)"
nets+=("$ctl")

# The cluster's files.
mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool/fpn1" "$tmp/spool/fpn2" "$tmp/log" \
	"$tmp/reports" "$tmp/unshared" "$tmp/site" "$tmp/site-fpn1" "$tmp/site-fpn2" \
	"$tmp/private-fpn2"
printf '127.0.0.1 localhost\n10.250.0.1 fpctl\n10.250.0.11 fpn1\n10.250.0.12 fpn2\n' >"$tmp/hosts"
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
# The site config each node reads at $tmp/site/forkpin.conf (its own, bound over there).
for d in site site-fpn1 site-fpn2; do
	printf 'timeout = 10\n' >"$tmp/$d/forkpin.conf"
done
export SLURM_CONF=$tmp/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=forkpin-test
SlurmctldHost=fpctl(10.250.0.1)
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool/%n
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd-%n.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd-%n.log
# No cgroup, accounting or MPI plugin: nothing here needs one.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/linear
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=fpn1 NodeAddr=10.250.0.11 CPUs=1 State=UNKNOWN
NodeName=fpn2 NodeAddr=10.250.0.12 CPUs=1 State=UNKNOWN
PartitionName=fleet Nodes=fpn[1-2] Default=YES MaxTime=30 State=UP
EOF

# The network: a bridge in the controller's namespace, a veth pair to each node's.
ip -n "$ctl" link add br0 type bridge &&
	ip -n "$ctl" addr add 10.250.0.1/24 dev br0 &&
	ip -n "$ctl" link set br0 up && ip -n "$ctl" link set lo up
ok $? "a bridge in the controller's network namespace"
i=0
for n in fpn1 fpn2; do
	i=$((i + 1))
	ip netns add "$id-$n" && nets+=("$id-$n") &&
		ip -n "$ctl" link add "v$n" type veth peer name eth0 netns "$id-$n" &&
		ip -n "$ctl" link set "v$n" master br0 up &&
		ip -n "$id-$n" addr add "10.250.0.1$i/24" dev eth0 &&
		ip -n "$id-$n" link set eth0 up && ip -n "$id-$n" link set lo up
	ok $? "node $n: its network namespace on the bridge (10.250.0.1$i)"
done

# inns NS HOST [BIND-SRC BIND-DST]... -- CMD...: CMD in network namespace NS, with its own
# host name HOST and mount namespace (this test's /etc/hosts, and each BIND-SRC over BIND-DST).
# A script, so timeout can run it; CMD replaces it (a daemon's $! is the daemon).
cat >"$tmp/inns" <<'INNS'
#!/bin/bash
ns=$1 host=$2
shift 2
exec nsenter --net="/run/netns/$ns" unshare --uts --mount --propagation private bash -c '
	hostname "$0" && mount --bind "$HOSTS_FILE" /etc/hosts || exit 1
	while [ "$1" != -- ]; do
		mount --bind "$1" "$2" || exit 1
		shift 2
	done
	shift
	exec "$@"' "$host" "$@"
INNS
chmod +x "$tmp/inns"
export HOSTS_FILE=$tmp/hosts
inns() { "$tmp/inns" "$@"; }

munged --force --socket="$tmp/munge/socket" --key-file="$tmp/munge/munge.key" \
	--pid-file="$tmp/munge/pid" --log-file="$tmp/munge/log" --seed-file="$tmp/munge/seed"
ok $? "munged with a private key and socket"
"$tmp/inns" "$ctl" fpctl -- slurmctld -D -c -i >"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
"$tmp/inns" "$id-fpn1" fpn1 "$tmp/site-fpn1" "$tmp/site" -- slurmd -D -N fpn1 >"$tmp/log/fpn1.out" 2>&1 &
pids+=($!)
"$tmp/inns" "$id-fpn2" fpn2 "$tmp/site-fpn2" "$tmp/site" "$tmp/private-fpn2" "$tmp/unshared" -- \
	slurmd -D -N fpn2 >"$tmp/log/fpn2.out" 2>&1 &
pids+=($!)

# Both nodes idle within 30 s.
for i in $(seq 300); do
	state=$(inns "$ctl" fpctl -- sinfo -h -o '%t %D' 2>/dev/null)
	[ "$state" = "idle 2" ] && break
	sleep 0.1
done
if [ "$state" != "idle 2" ] && grep -q "Unable to initialize cgroup plugin" "$tmp"/log/fpn*.out; then
	skip "slurmd cannot initialise its cgroup plugin here: $(grep -h -m1 error "$tmp"/log/fpn1.out)"
fi
ok $([ "$state" = "idle 2" ] && echo 0 || echo 1) "slurmctld sees two idle nodes (sinfo: '$state')"
[ "$state" = "idle 2" ] || tail -n 5 "$tmp"/log/*.out | sed 's/^/# /'

# job NAME REPORT-DIR: sbatch --wait the fleet job on both nodes; its exit in $rc, its
# output (the merged table) in $out.
job() {
	FORKPIN_SLURM_DIR=$top/setup/slurm FORKPIN=$fp timeout 120 \
		"$tmp/inns" "$ctl" fpctl -- sbatch --wait -N 2 --time=2 --chdir="$tmp" -o "$tmp/$1.out" \
		"$top/setup/slurm/forkpin-fleet.sbatch" --dir "$2" -- \
		-b iouring,vmsplice -m anon -s parent-writes,device-reads,control-dontneed \
		--config "$tmp/site/forkpin.conf" >/dev/null 2>&1
	rc=$?
	out=$(cat "$tmp/$1.out" 2>/dev/null)
	if [ $rc = 124 ]; then # what Slurm says about the job, for the log
		inns "$ctl" fpctl -- squeue -a -o '%i %T %R' | sed 's/^/# squeue: /'
		tail -n 5 "$tmp/log/slurmctld.log" "$tmp"/log/slurmd-*.log | sed 's/^/# /'
		inns "$ctl" fpctl -- scancel -u root
	fi
}

# 1. Both pass.
job pass "$tmp/reports"
ok $([ $rc = 0 ] && echo 0 || echo 1) "sbatch --wait: the fleet job passes (exit $rc)"
[ $rc = 0 ] || printf '# %s\n' "$out" | tail -n 15
contains "forkpin merge: 2 nodes" "merge read both nodes' reports"
contains "FLEET PASS" "the fleet passes"
for n in fpn1 fpn2; do
	python3 - "$tmp/reports/$n.json" "$tmp/reports/fleet.json" "$n" <<'PY'
import json, sys
report, merged, host = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
assert report["hostname"] == host, report["hostname"]
cases = report["cases"]
want = {"pass": sum(c["result"] in ("pass", "control-detected") for c in cases),
        "skip": sum(c["result"] == "skip" for c in cases),
        "FAIL": sum(c["result"] in ("fail", "control-missed") for c in cases)}
node = next(n for n in merged["nodes"] if n["hostname"] == host)
got = {k: node["counts"][k] for k in want}
assert got == want and node["verdict"] == "pass" and want["pass"] > 0, (got, want)
PY
	ok $? "$n: its report names it, and the merged table has its counts"
	contains "$n  pass " "$n is a row of the table"
done
ok $([ -s "$tmp/reports/fleet.xml" ] && [ -s "$tmp/reports/fleet.html" ] && echo 0 || echo 1) "the JUnit and HTML tables are written"

# 2. fpn2's site config makes its cases time out: the job fails, fpn2 comes first.
printf 'timeout = 0.000001\n' >"$tmp/site-fpn2/forkpin.conf"
job fail "$tmp/reports"
ok $([ $rc = 1 ] && echo 0 || echo 1) "a node that fails fails the job (exit $rc)"
first=$(sed -n '/^NODE /{n;p;q}' <<<"$out")
ok $([[ $first == "fpn2  FAIL "* ]] && echo 0 || echo 1) "fpn2 leads the table ($first)"
contains "fpn2 error: timeout: the case did not finish within 1e-06 s" "with the diagnosis"
contains "fpn1  pass " "fpn1 still passes"
contains "FLEET FAIL" "the fleet fails"

# 3. A report dir fpn2 does not share: its report is missing, and the job says so.
job unshared "$tmp/unshared"
ok $([ $rc = 1 ] && echo 0 || echo 1) "a node without a report fails the job (exit $rc)"
contains "fpn2: NO REPORT: its task did not run or $tmp/unshared is not shared with it" "the node is named"
contains "forkpin merge: 1 nodes" "merge had fpn1's report"

# Stop everything; nothing may be left.
teardown_pids=("${pids[@]}") teardown_nets=("${nets[@]}")
teardown
left=0
for p in "${teardown_pids[@]}"; do
	kill -0 "$p" 2>/dev/null && left=1
done
for ns in "${teardown_nets[@]}"; do
	[ -e "/run/netns/$ns" ] && left=1
done
ok $left "teardown: no daemon, namespace or file left"
tap_done
