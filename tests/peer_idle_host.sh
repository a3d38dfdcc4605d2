#!/bin/bash
# `forkpin peer --ofi`'s idle timeout and one-client rule on a host without RDMA: the peer
# serves through libfabric's tcp;ofi_rxm here (it warns that ofi-remote cases would SKIP with
# it: the protocol is the same, the DMA proof needs a NIC provider, tested in the VM by
# tests/vm/two-node.sh). A client that says HELLO and goes silent (tests/vm/peer_idle_client)
# holds the peer: a second client is answered busy; after --idle-timeout the peer drops the
# silent one (its log says so) and serves the next client.
# usage: tests/peer_idle_host.sh FORKPIN PEER_IDLE_CLIENT
fp=$1
client=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
prov="tcp;ofi_rxm"
if ! "$fp" --version | grep -q 'libfabric=[0-9]'; then
	echo "1..0 # SKIP built without libfabric"
	exit 77
fi
tmp=$(mktemp -d)
port=$((20000 + $$ % 20000))
"$fp" peer --ofi --ofi-provider "$prov" --port $port --idle-timeout 2 >"$tmp/peer.log" 2>&1 &
peer=$!
trap 'kill $peer 2>/dev/null; wait $peer 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
	grep -q listening "$tmp/peer.log" && break
	kill -0 $peer 2>/dev/null || break
	sleep 0.1
done
# the address it listens on: fi_sockaddr_in://A.B.C.D:PORT
addr=$(sed -n 's|.*listening on fi_sockaddr_in://\([0-9.]*\):.*|\1|p' "$tmp/peer.log")
if [ -z "$addr" ]; then
	echo "1..0 # SKIP no $prov endpoint here: $(tail -n 1 "$tmp/peer.log")"
	exit 77
fi
"$client" ofi "$addr" $port 6 "$prov" >"$tmp/silent.log" 2>&1 &
silent=$!
for _ in $(seq 100); do
	grep -q silent "$tmp/silent.log" && break
	sleep 0.1
done
start=$(date +%s.%N)
out=$(cat "$tmp/silent.log")
contains "session open" "a client says hello and goes silent"
expect_exit 1 "a second client meanwhile is not served" -- "$client" ofi "$addr" $port 0 "$prov"
contains "forkpin-peer busy: serving fi_sockaddr_in://" "it is told the peer is busy, and with whom"
for _ in $(seq 60); do
	grep -q "idle for 2 s: closed" "$tmp/peer.log" && break
	sleep 0.1
done
took=$(echo "$(date +%s.%N) $start" | awk '{ printf "%.1f", $1 - $2 }')
out=$(cat "$tmp/peer.log")
contains "0 request(s) served; idle for 2 s: closed" "the peer dropped the silent client after its idle timeout"
ok "$(awk -v t="$took" 'BEGIN { exit !(t >= 1.0 && t <= 4.5) }'; echo $?)" \
	"about 2 s after it went silent (${took} s)"
contains "refused fi_sockaddr_in://" "its log names the refused client"
expect_exit 0 "the next client is served" -- "$client" ofi "$addr" $port 0 "$prov"
contains "session open" "its hello is answered"
kill -0 $silent 2>/dev/null
ok $? "the silent client was still there when the peer dropped it"
wait $silent
tap_done
