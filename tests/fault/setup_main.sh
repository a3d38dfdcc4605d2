#!/bin/bash
# tests/fault/setup_main.sh: setup/main cleans up what it made when interrupted, and setup/rxe
# refuses names that leave its state dir. setup/main runs from a fake tree whose
# install-deps, build, hugetlb, rxe and forkpin are stubs logging their calls (ip and
# modprobe too): Ctrl-C (SIGINT to the process group) during the rxe stage must delete the
# rxe link and the dummy netdev and drop the hugetlb reference; a host run stopped by a
# signal (exit 130) must end setup/main with no next stage. Prints TAP.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
log=$T/log

# setup/rxe names.
mkdir -p "$T/state/rxe" && touch "$T/state/x"
expect_exit 2 "setup/rxe del ../x is a usage error" -- env FORKPIN_STATE_DIR="$T/state" "$top/setup/rxe" del ../x
ok "$([ -e "$T/state/x" ] && echo 0 || echo 1)" "the file outside the state dir is still there"
expect_exit 2 "setup/rxe add with a netdev name holding a slash is refused" -- \
	env FORKPIN_STATE_DIR="$T/state" "$top/setup/rxe" add ../lo
expect_exit 2 "setup/rxe add NETDEV -x (a name like an option) is refused" -- \
	env FORKPIN_STATE_DIR="$T/state" "$top/setup/rxe" add lo -x

if compgen -G "/sys/class/infiniband/*" >/dev/null &&
	grep -qs ACTIVE /sys/class/infiniband/*/ports/*/state; then
	echo "# this host has an active RDMA port: setup/main skips its rxe stage"
	tap_done
	exit
fi

# The fake tree: setup/main itself is the real script (a link).
mkdir -p "$T/top/setup" "$T/top/build" "$T/bin"
ln -s "$top/setup/main" "$T/top/setup/main"
for s in install-deps.sh build hugetlb rxe; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$s" "$log" >"$T/top/setup/$s"
done
for s in ip modprobe; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$s" "$log" >"$T/bin/$s"
done
# The fake forkpin: the verbs run waits to be interrupted; FAKE_HOST_EXIT: the host run's exit.
cat >"$T/top/build/forkpin" <<STUB
#!/bin/bash
echo "forkpin \$*" >>"$log"
case "\$*" in
*verbs*)
	sleep 20 &
	trap 'kill \$!; echo "forkpin stopped" >>"$log"; exit 130' INT TERM
	touch "$T/verbs-running"
	wait \$!
	;;
esac
exit \${FAKE_HOST_EXIT:-0}
STUB
chmod +x "$T/top/setup/"* "$T/bin/"* "$T/top/build/forkpin"

# Ctrl-C during the rxe stage: SIGINT to setup/main's process group, as a terminal sends it.
# A background job of a script starts with SIGINT ignored, which bash cannot trap: restore
# the default, as a terminal's foreground job has it, in a session of its own.
: >"$log"
PATH=$T/bin:$PATH FORKPIN_RESULTS=$T/results python3 -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execv(sys.argv[1], sys.argv[1:])' "$T/top/setup/main" >"$T/out" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ -e "$T/verbs-running" ] && break
	sleep 0.1
done
kill -INT -- "-$pid"
wait "$pid"
rc=$?
out=$(cat "$log")
ok "$([ "$rc" = 130 ] && echo 0 || echo 1)" "setup/main interrupted in the rxe stage exits 130 (exit $rc)"
contains "rxe del rxe_fpmain0" "the EXIT trap deletes the rxe link made here"
contains "ip link del fpmain0" "the EXIT trap deletes the dummy netdev"
contains "hugetlb restore" "the EXIT trap drops the hugetlb reference"
# Zombies (reaped by whoever inherits them) are not processes left running.
left=$(ps -eo pgid=,stat=,pid=,args= | awk -v g="$pid" '$1 == g && $2 !~ /^Z/')
[ -z "$left" ] || printf '# left: %s\n' "$left"
ok "$([ -z "$left" ] && echo 0 || echo 1)" "nothing of setup/main's process group is left running"

# A host run stopped by a signal: no next stage.
: >"$log"
rm -f "$T/verbs-running"
PATH=$T/bin:$PATH FORKPIN_RESULTS=$T/results FAKE_HOST_EXIT=130 "$T/top/setup/main" >"$T/out" 2>&1
rc=$?
out=$(cat "$log")
ok "$([ "$rc" = 130 ] && echo 0 || echo 1)" "a host run stopped by SIGINT ends setup/main with 130 (exit $rc)"
ok "$([[ $out != *"link add"* && $out != *"forkpin vm"* ]] && echo 0 || echo 1)" "and no next stage runs"
contains "hugetlb restore" "the hugetlb reference is dropped then too"

tap_done
