#!/bin/bash
# Two-node mode on a host without RDMA (docs/two-node.md): the verbs-remote and ofi-remote
# rows SKIP with their reason when no peer is given or no local RDMA device exists; --peer,
# --ofi-peer and `forkpin peer` refuse bad input with exit 2; the peer says why it cannot
# listen. The RDMA itself is tested in the VM (tests/vm/two-node.sh).
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
expect_exit 0 "forkpin peer --help lists --ofi" -- "$fp" peer --help
contains "--ofi-provider NAME" "and its provider option"
expect_exit 2 "forkpin peer --ofi-provider without --ofi" -- "$fp" peer --ofi-provider tcp
contains "needs --ofi" "names the fix"
expect_exit 0 "forkpin list shows the ofi-remote row" -- "$fp" list -b ofi-remote -m anon
contains "ofi-remote/anon/parent-writes" "with its cases"
if "$fp" --version | grep -q 'libfabric=[0-9]'; then
	expect_exit 4 "ofi-remote without a peer: every case SKIPs" -- \
		"$fp" run -b ofi-remote -m anon -s parent-writes,device-reads
	contains "SKIP needs --ofi-peer HOST (or --peer HOST)" "with the reason"
	expect_exit 2 "--ofi-peer with a bad port" -- "$fp" run -b ofi-remote --ofi-peer node:0
	contains "--ofi-peer 'node:0': expected HOST[:PORT]" "names the option and the syntax"
	expect_exit 2 "--ofi-peer naming no host" -- \
		"$fp" run -b ofi-remote --ofi-peer no-such-host.invalid
	contains "cannot resolve 'no-such-host.invalid'" "says it cannot resolve it"
	FORKPIN_OFI_PEER=nohost.invalid expect_exit 2 "FORKPIN_OFI_PEER is checked too" -- \
		"$fp" run -b ofi-remote -m anon -s parent-writes
	expect_exit 4 "ofi-remote with a provider that does not pin: SKIP" -- \
		"$fp" run -b ofi-remote -m anon -s parent-writes --peer 127.0.0.1 --ofi-provider tcp
	contains "provider tcp does not pin memory" "saying why"
fi
if [ -z "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
	expect_exit 4 "--peer on a host without RDMA: SKIP, not an error" -- \
		"$fp" run -b verbs-remote -m anon -s parent-writes --peer 127.0.0.1
	contains "no local RDMA device" "naming the missing device"
	expect_exit 1 "forkpin peer on a host without RDMA cannot listen" -- \
		timeout 10 "$fp" peer --port 7499
	contains "rdma_ucm" "and says what to load"
	if "$fp" --version | grep -q 'libfabric=[0-9]'; then
		expect_exit 4 "ofi-remote --peer on a host without RDMA: SKIP, not an error" -- \
			"$fp" run -b ofi-remote -m anon -s parent-writes --peer 127.0.0.1
		contains "has no RDM endpoint with FI_RMA towards peer 127.0.0.1:7476" \
			"naming the provider's missing endpoint"
		expect_exit 1 "forkpin peer --ofi on a host without RDMA cannot listen" -- \
			timeout 10 "$fp" peer --ofi --port 7499
		contains "no endpoint of that provider here" "and says why"
	fi
fi
tap_done
