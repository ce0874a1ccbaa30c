#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # helpers below run through check and wait_for
# shellcheck disable=SC2016 # eval '...' strings expand when the check runs
# shellcheck disable=SC2015 # A && B || C: C reports why A or B failed
# shellcheck disable=SC2034 # old3, key3, key2, old1 are read inside eval strings
# xwg-mesh end to end: three "nodes" (network namespaces on one underlay
# bridge), each running build/xwg-mesh, which starts its own build/xwgd, all
# sharing one node-list file; "pods" (further namespaces) plugged in by
# build/xwg-cni invoked exactly as a container runtime invokes it.
#
#                 ┌───────────────────────────────────────────┐
#                 │ $ns0: the underlay, bridge br0            │
#                 │  tcpdump -i any: only UDP 51820 may cross │
#                 └──┬───────────────────┬─────────────────┬──┘
#  ┌─────────────────┴──────┐ ┌──────────┴─────────────┐ ┌─┴──────────────────────┐
#  │ $ns1 node1             │ │ $ns2 node2             │ │ $ns3 node3 (added,     │
#  │  u1 192.168.241.1/24   │ │  u2 192.168.241.2/24   │ │  rekeyed, removed)     │
#  │  xwg-mesh + xwgd $if1  │ │  xwg-mesh + xwgd $if2  │ │  u3 192.168.241.3/24   │
#  │  pods 10.244.1.0/24    │ │  pods 10.244.2.0/24    │ │  pods 10.244.3.0/24    │
#  └────────┬───────────────┘ └────────┬───────────────┘ └────────┬───────────────┘
#       pod p1 (xwg-cni)          pod p2 (xwg-cni)           pod p3 (xwg-cni)
#
#   selftests/k8s_mesh.sh   (root; runs once in run.sh; about a minute)

set -euo pipefail
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping jq tcpdump curl flock python3

echo "== k8s_mesh.sh: XWGD=${XWGD:-build/xwgd}"
require_impls "${XWGD:-build/xwgd}"
XWGD=$(impl_path "${XWGD:-build/xwgd}")
MESH=${XWG_MESH:-$REPO_ROOT/build/xwg-mesh}	# XWG_MESH=build/san/xwg-mesh: under ASan
CNI=$REPO_ROOT/build/xwg-cni
for exe in "$MESH" "$CNI"; do
	[[ -x $exe ]] || { fail "prerequisite" "$exe is missing: run make"; exit 1; }
done
[[ -x /usr/lib/cni/host-local ]] ||
	{ fail "prerequisite" "/usr/lib/cni/host-local is missing: apt-get install containernetworking-plugins"; exit 1; }
PY=$(command -v python3)

declare -A NS=([1]=$ns1 [2]=$ns2 [3]=$ns3)
declare -A TUN=([1]=$(tunnel_name 1) [2]=$(tunnel_name 2) [3]=$(tunnel_name 3))
declare -A POD=([1]="xwg-$RUN_ID-p1" [2]="xwg-$RUN_ID-p2" [3]="xwg-$RUN_ID-p3")
declare -A AGENT=()	# node -> PID of its xwg-mesh
declare -A POD_IP=()
NODES=$TMP_DIR/nodes.json

# ---------------------------------------------------------------------------
# Topology.

ns_create "$ns0" "$ns1" "$ns2" "$ns3"
ip -n "$ns0" link add br0 type bridge
ip -n "$ns0" link set br0 up
for n in 1 2 3; do
	veth_link "${NS[$n]}" "u$n" "$ns0" "h$n"
	ip -n "$ns0" link set "h$n" master br0
	addr_add "${NS[$n]}" "u$n" "192.168.241.$n/24"
	# Nothing but what the test sends on the underlay: no IPv6 chatter.
	ip netns exec "${NS[$n]}" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
ip netns exec "$ns0" sysctl -qw net.ipv6.conf.all.disable_ipv6=1

# The node list as an operator writes it: no keys (the agents publish theirs).
node_json() { echo "{\"name\":\"node$1\",\"internalIPs\":[\"192.168.241.$1\"],\"podCIDRs\":[\"10.244.$1.0/24\"]}"; }
echo "{\"nodes\":[$(node_json 1),$(node_json 2)]}" >"$NODES"

# nodes_edit JQ-FILTER: change the shared file as the agents do (flock on
# the lock file next to it, write a temporary file, rename).
nodes_edit() {
	flock -w 10 "$NODES.lock" bash -c 'jq "$1" "$2" >"$2.test" && mv "$2.test" "$2"' _ "$1" "$NODES"
}

# published_key N: node N's public key in the shared file ("" if none).
published_key() { jq -r --arg n "node$1" '.nodes[] | select(.name == $n) | .publicKey // ""' "$NODES"; }

# start_agent N: xwg-mesh for node N (it starts xwgd itself).
start_agent() {
	local n=$1
	mkdir -p "$TMP_DIR/node$n"
	bg_start "$LOG_DIR/mesh$n.log" ip netns exec "${NS[$n]}" env LOG_LEVEL=info \
		"$MESH" -f --interface "${TUN[$n]}" --node-name "node$n" --nodes-file "$NODES" \
		--key-file "$TMP_DIR/node$n/private.key" --xwgd "$XWGD"
	AGENT[$n]=$BG_PID
}

# peer_is N M: node N's interface has node M's published key as a peer,
# with M's pod CIDR and node IP as allowed IPs.
peer_is() {
	local key ips
	key=$(published_key "$2")
	[[ -n $key ]] || { echo "node$2 has published no key"; return 1; }
	ips=$(wg_peer_value "${NS[$1]}" "${TUN[$1]}" "$key" allowed-ips) ||
		{ echo "node$1 has no peer ${key:0:8}... (node$2)"; return 1; }
	[[ $ips == "10.244.$2.0/24 192.168.241.$2/32" || $ips == "192.168.241.$2/32 10.244.$2.0/24" ]] ||
		{ echo "node$1's peer node$2 has allowed IPs '$ips'"; return 1; }
}

# peer_count_is N COUNT
peer_count_is() {
	local peers
	peers=$(ip netns exec "${NS[$1]}" wg show "${TUN[$1]}" peers) || return 1
	[[ $(grep -c . <<<"$peers" || true) == "$2" ]] ||
		{ echo "node$1 has peers: ${peers//$'\n'/ }, want $2"; return 1; }
}

has_key_peer() { has_peer "${NS[$1]}" "${TUN[$1]}" "$2"; }
no_key_peer() { ! has_peer "${NS[$1]}" "${TUN[$1]}" "$2"; }

mtu_is() {
	local m
	m=$(ip -n "$1" -j link show dev "$2" | jq -r '.[0].mtu') && [[ $m == "$3" ]] ||
		{ echo "MTU of $2 in $1 is ${m:-?}, want $3"; return 1; }
}

# add_pod N: a pod on node N through xwg-cni, as a runtime calls it.
add_pod() {
	local n=$1 out conf
	ns_create "${POD[$n]}"
	conf=$(jq -cn --arg dir "$TMP_DIR/ipam-node$n" --arg tun "${TUN[$n]}" --arg sub "10.244.$n.0/24" '{
		cniVersion: "1.0.0", name: "xwg-mesh", type: "xwg-cni", xwgInterface: $tun,
		ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: $sub}]]}}')
	out=$(printf '%s' "$conf" | ip netns exec "${NS[$n]}" env -i PATH="$PATH" \
		CNI_COMMAND=ADD CNI_CONTAINERID="pod$n-$RUN_ID" CNI_NETNS="/run/netns/${POD[$n]}" \
		CNI_IFNAME=eth0 CNI_PATH="/usr/lib/cni:$REPO_ROOT/build" "$CNI" 2>>"$LOG_DIR/cni.log") ||
		{ echo "xwg-cni ADD on node$n failed: $out"; return 1; }
	POD_IP[$n]=$(jq -r '.ips[0].address | sub("/[0-9]+$"; "")' <<<"$out")
	[[ ${POD_IP[$n]} == 10.244.$n.* ]] || { echo "pod on node$n got '${POD_IP[$n]}'"; return 1; }
}

# A TCP stream with a checksum at both ends (python: no extra package).
cat >"$TMP_DIR/stream.py" <<'EOF'
import hashlib, os, socket, sys, time
mode, out = sys.argv[1], sys.argv[2]
h, n = hashlib.sha256(), 0
if mode == "server":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(sys.argv[3])))
    s.listen(1)
    s.settimeout(120)
    open(out + ".ready", "w").close()
    c, _ = s.accept()
    c.settimeout(60)
    while True:
        b = c.recv(65536)
        if not b:
            break
        h.update(b)
        n += len(b)
else:  # client HOST PORT STOPFILE MINBYTES: send until STOPFILE exists
    host, port, stop, least = sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
    c = socket.create_connection((host, port), timeout=60)
    while not (n >= least and os.path.exists(stop)):
        b = os.urandom(16384)
        c.sendall(b)
        h.update(b)
        n += len(b)
        time.sleep(0.004)  # ~4 MB/s: a steady stream, not a CPU hog
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
with open(out, "w") as f:
    f.write("%d %s\n" % (n, h.hexdigest()))
EOF

# stream_start TAG FROM-NODE TO-NODE PORT MINBYTES: server in TO's pod,
# client in FROM's pod; ends once $TMP_DIR/TAG.stop exists.
stream_start() {
	local tag=$1 from=$2 to=$3 port=$4 least=$5
	bg_start "$LOG_DIR/$tag-server.log" ip netns exec "${POD[$to]}" "$PY" "$TMP_DIR/stream.py" \
		server "$TMP_DIR/$tag.server" "$port"
	wait_for 10 test -e "$TMP_DIR/$tag.server.ready" || return 1
	bg_start "$LOG_DIR/$tag-client.log" ip netns exec "${POD[$from]}" "$PY" "$TMP_DIR/stream.py" \
		client "$TMP_DIR/$tag.client" "${POD_IP[$to]}" "$port" "$TMP_DIR/$tag.stop" "$least"
}

# stream_is_complete TAG: both ends saw the same bytes.
stream_is_complete() {
	local c s
	c=$(cat "$TMP_DIR/$1.client" 2>/dev/null) && s=$(cat "$TMP_DIR/$1.server" 2>/dev/null) ||
		{ echo "stream $1 has not ended (client '${c:-}', server '${s:-}')"; return 1; }
	[[ $c == "$s" && ${c%% *} -gt 0 ]] || { echo "stream $1: client sent '$c', server got '$s'"; return 1; }
}

# ---------------------------------------------------------------------------
# Test that two agents come up from a key-less node list: each generates a
# key, publishes it in the shared file and makes the other its peer.
start_agent 1
start_agent 2
check_within 15 "node1 and node2 publish their keys" \
	eval '[[ -n $(published_key 1) && -n $(published_key 2) ]]'
check_within 15 "node1 has node2 as its peer" peer_is 1 2
check_within 15 "node2 has node1 as its peer" peer_is 2 1
check "the key file is private (0600)" eval '[[ $(stat -c %a "$TMP_DIR/node1/private.key") == 600 ]]'
check "the key file holds the published key" \
	eval '[[ $(wg pubkey <"$TMP_DIR/node1/private.key") == "$(published_key 1)" ]]'

# Test that the MTU is the underlay's (1500) minus 60: every peer is IPv4.
check_within 10 "MTU of node1's interface is 1440" mtu_is "$ns1" "${TUN[1]}" 1440
check_within 10 "MTU of node2's interface is 1440" mtu_is "$ns2" "${TUN[2]}" 1440
check "the rule keeps xwgd's packets out of the peers' table" \
	eval '[[ $(ip -n "$ns1" rule show) == *"not from all fwmark 0xca6c lookup 51820"* ]]'

# Test that pods made by xwg-cni reach each other across nodes.
check "xwg-cni adds a pod on node1" add_pod 1
check "xwg-cni adds a pod on node2" add_pod 2
check "the pod's MTU is the tunnel's" mtu_is "${POD[1]}" eth0 1440

# Capture the underlay while pods talk.
bg_start "$LOG_DIR/tcpdump.log" ip netns exec "$ns0" tcpdump -i any -nn -U -w "$TMP_DIR/underlay.pcap"
TCPDUMP=$BG_PID
wait_for 10 grep -q "listening on" "$LOG_DIR/tcpdump.log" || true
check_within 15 "pod on node1 pings pod on node2" pings "${POD[1]}" "${POD_IP[2]}"
check_within 5 "pod on node2 pings pod on node1" pings "${POD[2]}" "${POD_IP[1]}"
touch "$TMP_DIR/tcp1.stop"
if stream_start tcp1 1 2 5001 $((2 * 1024 * 1024)); then
	check_within 30 "a 2 MiB TCP transfer pod1 -> pod2 arrives intact (sha256)" stream_is_complete tcp1
else
	fail "a 2 MiB TCP transfer pod1 -> pod2 arrives intact (sha256)" "the server did not start"
fi
check_within 5 "node1's bytes to node2 count on the interface" \
	transfer_is_positive "$ns1" "${TUN[1]}" "$(published_key 2)"
bg_stop "$TCPDUMP"

# Test that the underlay carried only WireGuard between the nodes: no
# plaintext ICMP or TCP of the pods, nothing but UDP to or from port 51820.
# IGMP membership reports are the links' own multicast chatter (a bridge
# port or veth coming up sends them to 224.0.0.22), not pod traffic.
wg_udp=$(tcpdump -nn -r "$TMP_DIR/underlay.pcap" 'udp port 51820' 2>/dev/null | wc -l)
plain=$(tcpdump -nn -r "$TMP_DIR/underlay.pcap" 'ip and not (udp port 51820) and not igmp' 2>/dev/null)
check "the underlay carried WireGuard UDP ($wg_udp packets)" test "$wg_udp" -gt 100
check "the underlay carried nothing else over IP (no ICMP, no TCP)" test -z "$plain"
[[ -z $plain ]] || head -n 5 <<<"$plain" | sed 's/^/    /'

# Test that /metrics answers with per-peer series named after the node.
metrics=$(ip netns exec "$ns1" curl -sf --max-time 5 http://127.0.0.1:9586/metrics || true)
printf '%s\n' "$metrics" >"$TMP_DIR/metrics"
check_promtool "promtool check metrics finds nothing in /metrics" "$TMP_DIR/metrics"
check "/metrics has node2's bytes" \
	grep -q "^xwg_peer_receive_bytes_total{interface=\"${TUN[1]}\",public_key=\"$(published_key 2)\",node=\"node2\"} [1-9]" <<<"$metrics"
check "/metrics has node2's latest handshake" \
	grep -Eq '^xwg_peer_last_handshake_seconds\{.*node="node2"\} [1-9][0-9]+$' <<<"$metrics"
check "/metrics has the agent's reconcile counts" \
	grep -Eq "^xwg_mesh_reconciles_total\\{interface=\"${TUN[1]}\"\\} [1-9]" <<<"$metrics"
check "/metrics says which source it read" grep -Eq '^xwg_fastpath_up\{.*\} [01]$' <<<"$metrics"
code=$(ip netns exec "$ns1" curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:9586/ || true)
check "/metrics is the only path (404 elsewhere)" test "$code" = 404

# ---------------------------------------------------------------------------
# Test that adding a node, rotating its key and removing it again loses
# nothing between the pods of node1 and node2: a ping every 50 ms and a TCP
# stream run through the whole sequence.
bg_start "$LOG_DIR/ping12.log" ip netns exec "${POD[1]}" ping -n -O -i 0.05 "${POD_IP[2]}"
PING12=$BG_PID
if ! stream_start tcp2 1 2 5002 $((1024 * 1024)); then
	fail "the long TCP stream starts" "the server did not start"
fi
wait_for 5 ping_log_replies "$LOG_DIR/ping12.log" 0 20 || true

nodes_edit ".nodes += [$(node_json 3)]"
start_agent 3
check_within 15 "node3 publishes its key" eval '[[ -n $(published_key 3) ]]'
check_within 15 "node1 adds node3 as a peer" peer_is 1 3
check_within 15 "node2 adds node3 as a peer" peer_is 2 3
check_within 15 "node3 has node1 and node2 as peers" eval 'peer_is 3 1 && peer_is 3 2'
check "xwg-cni adds a pod on node3" add_pod 3
check_within 15 "pod on node1 pings pod on node3" pings "${POD[1]}" "${POD_IP[3]}"
check_within 5 "pod on node3 pings pod on node2" pings "${POD[3]}" "${POD_IP[2]}"

# Test that a key rotation (SIGUSR2) is republished and picked up by the
# other nodes, and node3 is reachable again within a bounded time.
old3=$(published_key 3)
kill -USR2 "${AGENT[3]}"
check_within 10 "node3 publishes a new key after SIGUSR2" eval '[[ -n $(published_key 3) && $(published_key 3) != "$old3" ]]'
check "node3's key file holds the new key" \
	eval '[[ $(wg pubkey <"$TMP_DIR/node3/private.key") == "$(published_key 3)" ]]'
check_within 10 "node1 replaces node3's old key by the new one" \
	eval 'peer_is 1 3 && no_key_peer 1 "$old3"'
check_within 10 "node2 replaces node3's old key by the new one" \
	eval 'peer_is 2 3 && no_key_peer 2 "$old3"'
check_within 20 "pod on node3 is reachable again from node1's pod" pings "${POD[1]}" "${POD_IP[3]}"
check_within 10 "pod on node3 reaches node2's pod again" pings "${POD[3]}" "${POD_IP[2]}"

# Test that removing a node from the list removes its peer everywhere, and
# that its agent leaves cleanly (its xwgd stopped, its rules gone).
key3=$(published_key 3)
nodes_edit 'del(.nodes[] | select(.name == "node3"))'
check_within 10 "node1 removes node3's peer" eval 'no_key_peer 1 "$key3" && peer_count_is 1 1'
check_within 10 "node2 removes node3's peer" eval 'no_key_peer 2 "$key3" && peer_count_is 2 1'
check "pod on node3 is unreachable from node1's pod" ping_gets_nothing "${POD[1]}" "${POD_IP[3]}"
bg_stop "${AGENT[3]}"
check_within 5 "node3's agent and its xwgd are gone" eval '[[ -z $(ip netns pids "$ns3") ]]'
check "node3's agent removed its rule" eval '[[ $(ip -n "$ns3" rule show) != *51820* ]]'
check "node3's interface is gone" eval '! ip -n "$ns3" link show dev "${TUN[3]}" >/dev/null 2>&1'

# The long transfer between node1 and node2.
touch "$TMP_DIR/tcp2.stop"
check_within 30 "the long TCP stream pod1 -> pod2 arrives intact (sha256)" stream_is_complete tcp2
bg_stop "$PING12"
sent=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1/p' "$LOG_DIR/ping12.log")
got=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\2/p' "$LOG_DIR/ping12.log")
unanswered=$(grep -c 'no answer yet' "$LOG_DIR/ping12.log" || true)
# The request in flight when ping was stopped may count as lost.
check "ping pod1 -> pod2 lost nothing through add/rotate/remove (${got:-?}/${sent:-?}, $unanswered unanswered)" \
	eval '[[ -n $sent && $sent -gt 100 && $((sent - got)) -le 1 && $unanswered == 0 ]]'

# ---------------------------------------------------------------------------
# Test that a bad node list is refused whole and the last good one stays.
key2=$(published_key 2)
printf '{"nodes":[{"name":"node1","internalIPs":["192.168.241.1"],"podCIDRs":["10.244.1.1/24"]}]}' >"$NODES.bad"
cp "$NODES" "$NODES.good"
mv "$NODES.bad" "$NODES"
check_within 5 "a bad node list is logged with the node and the field" \
	grep -q 'node "node1": podCIDRs\[0\] "10.244.1.1/24" has host bits set; keeping the last good node list' "$LOG_DIR/mesh1.log"
check "the peers stay after a bad node list" eval 'has_key_peer 1 "$key2" && pings "${POD[1]}" "${POD_IP[2]}"'
mv "$NODES.good" "$NODES"

# Test that `xwg-mesh --rotate-key` makes the running agent rotate (node1
# here): node2 follows and the pods talk again within a bounded time.
old1=$(published_key 1)
check "xwg-mesh --rotate-key signals node1's agent" "$MESH" --rotate-key --interface "${TUN[1]}"
check_within 10 "node1 publishes a new key" eval '[[ -n $(published_key 1) && $(published_key 1) != "$old1" ]]'
check_within 10 "node2 replaces node1's old key by the new one" \
	eval 'peer_is 2 1 && no_key_peer 2 "$old1"'
check_within 20 "pod on node1 reaches node2's pod again after the rotation" pings "${POD[1]}" "${POD_IP[2]}"
metrics=$(ip netns exec "$ns1" curl -sf --max-time 5 http://127.0.0.1:9586/metrics || true)
check "/metrics counts the rotation" grep -Eq '^xwg_mesh_key_rotations_total\{.*\} 1$' <<<"$metrics"

# Test that a node that reboots (its agent and xwgd stopped, started again
# with the same key file) comes back with the same key and its pods talk
# again, without any other node changing a thing.
key2=$(published_key 2)
bg_stop "${AGENT[2]}"
check_within 5 "node2's agent and its xwgd stop" eval '[[ -z $(ip netns pids "$ns2") ]]'
start_agent 2
check_within 15 "node2 comes back with its peer node1" peer_is 2 1
check "node2 kept its key across the restart" eval '[[ $(published_key 2) == "$key2" ]]'
check_within 15 "pods of node1 and node2 talk again after node2's restart" pings "${POD[2]}" "${POD_IP[1]}"

# Test that the agent repairs a crashed xwgd: it starts a new one and
# configures it again (key, port, peers, routes, MTU).
xwgd1=$(ps -o pid= --ppid "${AGENT[1]}" | tr -d ' ' || true)	# the agent's child
if [[ $xwgd1 =~ ^[0-9]+$ ]]; then
	kill -KILL "$xwgd1"
	check_within 20 "node1's agent restarts its crashed xwgd" \
		grep -q "xwgd for ${TUN[1]} exited (signal 9): restarting it" "$LOG_DIR/mesh1.log"
	check_within 20 "node1's new xwgd has node2 as its peer again" peer_is 1 2
	check_within 20 "pods talk again after node1's xwgd crashed" pings "${POD[1]}" "${POD_IP[2]}"
	check "the new interface has the MTU again" mtu_is "$ns1" "${TUN[1]}" 1440
else
	fail "node1's agent restarts its crashed xwgd" "cannot tell xwgd's PID in $ns1: '$xwgd1' (processes in $ns1: $(ip netns pids "$ns1" | tr '\n' ' '))"
fi

# Test that the agents leave cleanly: SIGTERM stops their xwgd and removes
# their rules and routes.
for n in 1 2; do
	bg_stop "${AGENT[$n]}"
	check_within 5 "node$n's agent and its xwgd are gone" eval '[[ -z $(ip netns pids "${NS[$n]}") ]]'
	check "node$n's agent removed its rule" eval '[[ $(ip -n "${NS[$n]}" rule show) != *51820* ]]'
done

report
