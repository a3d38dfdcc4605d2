#!/bin/bash
# Two-node mode on a host without RDMA (docs/two-node.md): the verbs-remote row SKIPs with
# its reason when no peer is given or no local RDMA device exists; --peer and `forkpin peer`
# refuse bad input with exit 2; the peer says why it cannot listen. The RDMA itself is
# tested in the VM (tests/vm/two-node.sh).
# usage: tests/peer_host.sh FORKPIN
fp=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if ! "$fp" --version | grep -q 'librdmacm=[0-9]'; then
	expect_exit 4 "without librdmacm verbs-remote cases SKIP" -- \
		"$fp" run -b verbs-remote -m anon -s parent-writes
	contains "built without librdmacm" "naming the missing library"
	tap_done
	exit
fi
expect_exit 4 "verbs-remote without --peer: every case SKIPs" -- \
	"$fp" run -b verbs-remote -m anon -s parent-writes,device-reads
contains "SKIP needs --peer HOST" "with the reason"
expect_exit 2 "--peer with a bad port" -- "$fp" run -b verbs-remote --peer node:99999
contains "expected HOST[:PORT]" "names the syntax"
expect_exit 2 "--peer naming no host" -- "$fp" run -b verbs-remote --peer no-such-host.invalid
contains "cannot resolve 'no-such-host.invalid'" "says it cannot resolve it"
expect_exit 2 "--peer is refused by forkpin list" -- "$fp" list --peer 10.0.0.1
FORKPIN_PEER=nohost.invalid:7475 expect_exit 2 "FORKPIN_PEER is checked like --peer" -- \
	"$fp" run -b verbs-remote -m anon -s parent-writes
expect_exit 0 "forkpin peer --help" -- "$fp" peer --help
contains "--idle-timeout SEC" "lists its options"
expect_exit 2 "forkpin peer --port 0" -- "$fp" peer --port 0
expect_exit 2 "forkpin peer with a stray argument" -- "$fp" peer extra
expect_exit 2 "forkpin peer --device of no such device" -- "$fp" peer --device nosuch9
contains "no such RDMA device" "names the problem"
expect_exit 2 "forkpin peer --idle-timeout nonsense" -- "$fp" peer --idle-timeout abc
expect_exit 0 "forkpin run --help lists --peer" -- "$fp" run --help
contains "--peer HOST[:PORT]" "with its syntax"
if [ -z "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
	expect_exit 4 "--peer on a host without RDMA: SKIP, not an error" -- \
		"$fp" run -b verbs-remote -m anon -s parent-writes --peer 127.0.0.1
	contains "no local RDMA device" "naming the missing device"
	expect_exit 1 "forkpin peer on a host without RDMA cannot listen" -- \
		timeout 10 "$fp" peer --port 7499
	contains "rdma_ucm" "and says what to load"
fi
tap_done
