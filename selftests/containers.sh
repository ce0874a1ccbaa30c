#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# The container pattern: xwgd creates its interface in namespace A, where its
# UDP socket stays, and the interface is then moved into a "container"
# namespace C (`ip link set IF netns C`), configured and used there, as the
# kernel's wireguard allows (its netns.sh does the same). The configuration
# socket is a file, so `wg` reaches the daemon from any namespace.
#
#   XWGD=build/xwgd selftests/containers.sh   (the default; runs once in run.sh)
#
#  ┌──────────────────────────────┐
#  │ $ns3: container C            │   after `ip link set $if1 netns $ns3`
#  │  $if1 10.0.0.1/24 fd00::1/64 │   (the TUN fd stays with xwgd)
#  └──────────────┬───────────────┘
#                 │ packets through the TUN fd
#  ┌──────────────┴───────────────┐      ┌──────────────────────────────┐
#  │ $ns1: A                      │      │ $ns2: peer P                 │
#  │  xwgd -f $if1: UDP :10001    │      │  $if2: wireguard-go, :10002  │
#  │  (creates $if1 here)         │      │  10.0.0.2/24 fd00::2/64      │
#  │  veth1 192.0.2.1/24 ─────────┼──────┼── veth2 192.0.2.2/24         │
#  └──────────────────────────────┘      └──────────────────────────────┘
#
# A second round moves the interface to C and back to A, and a third deletes
# the container namespace with the interface in it.

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping ss

echo "== containers.sh: XWGD=$XWGD"
require_impls "$XWGD" "$WGGO"

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
tunnel_keys

ns_create "$ns1" "$ns2" "$ns3"
veth_link "$ns1" veth1 "$ns2" veth2
addr_add "$ns1" veth1 192.0.2.1/24
addr_add "$ns2" veth2 192.0.2.2/24

start_impl "$ns2" "$WGGO" "$if2"
n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port 10002 \
	peer "$pub1" allowed-ips 10.0.0.1/32,fd00::1/128 endpoint 192.0.2.1:10001
addr_add "$ns2" "$if2" 10.0.0.2/24 fd00::2/64
ip -n "$ns2" link set "$if2" up

has_link() { ip -n "$1" link show dev "$2" >/dev/null 2>&1; }
no_link() { ! has_link "$@"; }

# stays_alive SECONDS PID: PID does not exit within SECONDS (polled).
stays_alive() {
	if wait_for "$1" eval "! pid_is_alive $2"; then
		echo "PID $2 exited"
		return 1
	fi
}

# udp_port_in NS PORT: a UDP socket is bound to PORT in NS.
udp_port_in() {
	ip netns exec "$1" ss -Hlun "sport = :$2" | grep . >/dev/null ||
		{ echo "no UDP socket on port $2 in $1"; return 1; }
}
no_udp_port_in() { ! udp_port_in "$@" >/dev/null; }

# wg_show_from NS: `wg show $if1` run in NS lists the peer with a handshake.
wg_show_from() {
	local out
	out=$(ip netns exec "$1" wg show "$if1") || return 1
	grep -qF "peer: $pub2" <<<"$out" && grep -qF "latest handshake:" <<<"$out" ||
		{ echo "$out"; return 1; }
}

# start_xwgd: a fresh xwgd in A (ns1) with its key, port and peer.
start_xwgd() {
	start_impl "$ns1" "$XWGD" "$if1"
	n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port 10001 \
		peer "$pub2" allowed-ips 10.0.0.2/32,fd00::2/128 endpoint 192.0.2.2:10002
}

# configure_in NS: addresses on $if1 in NS, up.
configure_in() {
	addr_add "$1" "$if1" 10.0.0.1/24 fd00::1/64
	ip -n "$1" link set "$if1" up
}

# traffic_works LABEL NS: pings both ways, IPv4 and IPv6, between the
# interface in NS and the peer.
traffic_works() {
	check_within 10 "$1: $if1 pings the peer (IPv4)" pings "$2" 10.0.0.2
	check "$1: the peer pings $if1 (IPv4)" pings "$ns2" 10.0.0.1
	check_within 3 "$1: $if1 pings the peer (IPv6)" pings "$2" fd00::2
	check "$1: the peer pings $if1 (IPv6)" pings "$ns2" fd00::1
}

# Test that the interface moves from A to the container C, and that the
# daemon does not take the move for a deletion: it stays up, its UDP socket
# stays in A.
start_xwgd
pid=${IMPL_PID[$if1]}
ip -n "$ns1" link set "$if1" netns "$ns3"
check "move: $if1 has left A" no_link "$ns1" "$if1"
check "move: $if1 is in C" has_link "$ns3" "$if1"
check "move: xwgd does not exit because of the move" stays_alive 2 "$pid"
check "move: xwgd's UDP socket stays in A" udp_port_in "$ns1" 10001
check "move: C has no UDP socket of xwgd" no_udp_port_in "$ns3" 10001

# Test that the interface, configured inside C, carries traffic both ways.
configure_in "$ns3"
traffic_works "in C" "$ns3"

# Test that `wg` reaches the daemon through its socket from every namespace:
# from A (where the interface is gone), from C and from the peer's namespace
# (which has its own, unrelated interfaces).
check "wg: \`wg show $if1\` works from A" wg_show_from "$ns1"
check "wg: \`wg show $if1\` works from C" wg_show_from "$ns3"
check "wg: \`wg show $if1\` works from another namespace" wg_show_from "$ns2"
check "wg: \`wg set\` from C changes the daemon" \
	ip netns exec "$ns3" wg set "$if1" peer "$pub2" persistent-keepalive 25
check "wg: the change shows from A" wg_peer_value_is "$ns1" "$if1" "$pub2" persistent-keepalive 25
n1 wg set "$if1" peer "$pub2" persistent-keepalive off

# Test that a new listen port set from inside C opens the new UDP socket in
# A, the daemon's own namespace, and traffic follows it.
ip netns exec "$ns3" wg set "$if1" listen-port 10011
check "port: the new UDP socket is in A" udp_port_in "$ns1" 10011
check "port: the old one is closed" no_udp_port_in "$ns1" 10001
check "port: C still has no UDP socket of xwgd" no_udp_port_in "$ns3" 10011
n2 wg set "$if2" peer "$pub1" endpoint 192.0.2.1:10011
check_within 5 "port: the peer pings $if1 in C through the new port" pings "$ns2" 10.0.0.1
check "port: $if1 in C pings the peer" pings "$ns3" 10.0.0.2

# Test that another interface of the same name in A, created and deleted
# there after the move, is none of the daemon's business: it keeps running
# and the moved interface keeps working.
ip -n "$ns1" link add "$if1" type veth peer name samename-peer
ip -n "$ns1" link set "$if1" up
ip -n "$ns1" link del "$if1"
check "same name: xwgd ignores the deletion of another $if1 in A" stays_alive 2 "$pid"
check "same name: $if1 in C still pings the peer" pings "$ns3" 10.0.0.2

# Test that an MTU raised inside C works: 1560-byte pings, unfragmented
# inside, cross both ways (the daemon's netlink monitor stays in A and does
# not see the change; the packets must not depend on it).
ip -n "$ns3" link set "$if1" mtu 1600
ip -n "$ns2" link set "$if2" mtu 1600
check "mtu: $if1 in C with MTU 1600 pings the peer with 1560 bytes" \
	pings "$ns3" 10.0.0.2 -s 1560 -M "do"
check "mtu: the peer pings $if1 with 1560 bytes" pings "$ns2" 10.0.0.1 -s 1560 -M "do"
ip -n "$ns2" link set "$if2" mtu 1420

# Test that deleting the interface inside C ends the daemon (it cannot see
# the deletion through its netlink monitor in A; the TUN fd tells it), and
# that it removes its socket.
ip -n "$ns3" link del "$if1"
check "delete in C: xwgd exits and removes its socket" impl_exits_within 5 "$if1"
check "delete in C: the UDP port in A is free again" no_udp_port_in "$ns1" 10001

# Test that an interface moved to C and back to A works in A again, and that
# deleting it there ends the daemon.
start_xwgd
pid=${IMPL_PID[$if1]}
ip -n "$ns1" link set "$if1" netns "$ns3"
check_within 5 "move back: $if1 is in C" has_link "$ns3" "$if1"
ip -n "$ns3" link set "$if1" netns "$ns1"
check "move back: $if1 is in A again" has_link "$ns1" "$if1"
check "move back: xwgd does not exit because of the moves" stays_alive 2 "$pid"
configure_in "$ns1"
traffic_works "back in A" "$ns1"
ip -n "$ns1" link del "$if1"
check "move back: deleting $if1 in A ends xwgd" impl_exits_within 5 "$if1"

# Test that deleting the container namespace, which deletes the TUN
# interface in it, ends the daemon.
start_xwgd
ip -n "$ns1" link set "$if1" netns "$ns3"
configure_in "$ns3"
traffic_works "container" "$ns3"
ip netns del "$ns3"
check "container gone: xwgd exits when C is deleted with $if1 in it" impl_exits_within 5 "$if1"

check "the peer (wireguard-go) exits cleanly on SIGTERM" stop_impl "$if2"
report
