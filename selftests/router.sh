#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check
# xwgd's fast path on a router: xdp_rx on both of the router's links must
# act only on WireGuard addressed to the router itself. Two hosts run
# WireGuard (wireguard-go) on the same port as xwgd, 51820, with a tunnel to
# each other routed through the router; their datagrams cross xdp_rx on the
# way in and must pass untouched (before, data for an index the router did
# not know was dropped). xwgd's own tunnel to a third peer, whose datagrams
# arrive on the same link, to the same port, must keep working on the fast
# path.
#
#   IMPL=build/xwgd selftests/router.sh        (the default)
#
#  ┌───────────────────────────┐                         ┌───────────────────────────┐
#  │ $ns1: host A              │                         │ $ns2: host B and peer C   │
#  │  $if1: wireguard-go       │                         │  $if2: wireguard-go       │
#  │   10.10.0.1/24, :51820    │                         │   10.10.0.2/24, :51820    │
#  │   peer B 198.51.100.2     │                         │   peer A 192.0.2.1        │
#  │  veth1 192.0.2.1/24       │                         │  $if3: wireguard-go (C)   │
#  │   via 192.0.2.254         │                         │   10.20.0.3/24, :51821    │
#  └────────────┬──────────────┘                         │   peer xwgd 198.51.100.254│
#               │                                        │  veth2 198.51.100.2/24    │
#               │                                        │   via 198.51.100.254      │
#               │                                        └────────────┬──────────────┘
#  ┌────────────┴────────────────────────────────────────────────────┴──────────────┐
#  │ $ns0: router, forwards IPv4                                                    │
#  │  veth01 192.0.2.254/24  ──[xdp_rx]──    ──[xdp_rx]──  veth02 198.51.100.254/24 │
#  │  $if0: xwgd (XWG_DATAPATH=xdp, XWG_XDP_IFACES=veth02,veth01)                   │
#  │   10.20.0.1/24, :51820, peer C 198.51.100.2:51821 (AF_XDP sockets on veth02)   │
#  └────────────────────────────────────────────────────────────────────────────────┘
#
# A<->B: ping and a bulk TCP transfer each way through their tunnel, while
# xwgd's drop counters for WireGuard it does not know stay at zero.
# xwgd<->C: ping and a bulk TCP transfer, carried by the fast path.

set -euo pipefail
IMPL=${IMPL:-build/xwgd}
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping iperf3 jq bpftool nsenter

echo "== router.sh: IMPL=$IMPL"
require_impls "$IMPL" wireguard-go

if0=$(tunnel_name 0)
if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
if3=$(tunnel_name 3)
port=51820
port_c=51821

umask 077
for n in 0 1 2 3; do
	wg genkey >"$TMP_DIR/key$n"
done
pub0=$(wg pubkey <"$TMP_DIR/key0")
pub1=$(wg pubkey <"$TMP_DIR/key1")
pub2=$(wg pubkey <"$TMP_DIR/key2")
pub3=$(wg pubkey <"$TMP_DIR/key3")

ns_create "$ns0" "$ns1" "$ns2"
veth_link "$ns1" veth1 "$ns0" veth01
veth_link "$ns2" veth2 "$ns0" veth02
addr_add "$ns1" veth1 192.0.2.1/24
addr_add "$ns0" veth01 192.0.2.254/24
addr_add "$ns2" veth2 198.51.100.2/24
addr_add "$ns0" veth02 198.51.100.254/24
ip -n "$ns1" route add default via 192.0.2.254
ip -n "$ns2" route add default via 198.51.100.254
n0 sysctl -qw net.ipv4.ip_forward=1

# The hosts' tunnel, A <-> B, through the router.
start_impl "$ns1" wireguard-go "$if1"
start_impl "$ns2" wireguard-go "$if2"
n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port $port \
	peer "$pub2" allowed-ips 10.10.0.2/32 endpoint 198.51.100.2:$port
n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port $port \
	peer "$pub1" allowed-ips 10.10.0.1/32 endpoint 192.0.2.1:$port
addr_add "$ns1" "$if1" 10.10.0.1/24
addr_add "$ns2" "$if2" 10.10.0.2/24
ip -n "$ns1" link set "$if1" up
ip -n "$ns2" link set "$if2" up

# xwgd on the router, on the same port, with xdp_rx on both links; and its
# peer C beside host B.
XWG_DATAPATH=xdp XWG_XDP_IFACES=veth02,veth01 start_impl "$ns0" "$IMPL" "$if0"
start_impl "$ns2" wireguard-go "$if3"
n0 wg set "$if0" private-key "$TMP_DIR/key0" listen-port $port \
	peer "$pub3" allowed-ips 10.20.0.3/32 endpoint 198.51.100.2:$port_c
n2 wg set "$if3" private-key "$TMP_DIR/key3" listen-port $port_c \
	peer "$pub0" allowed-ips 10.20.0.1/32 endpoint 198.51.100.254:$port
addr_add "$ns0" "$if0" 10.20.0.1/24
addr_add "$ns2" "$if3" 10.20.0.3/24
ip -n "$ns0" link set "$if0" up
ip -n "$ns2" link set "$if3" up

# xdp_rx_on NS DEV: xwgd's xdp_rx program is attached to DEV.
xdp_rx_on() {
	ip -n "$1" -d link show dev "$2" | grep -q xwg_xdp_rx ||
		{ echo "no xwg_xdp_rx on $2 in $1"; return 1; }
}

# Test that xwgd runs xdp_rx on both of the router's links.
check_within 10 "xwgd's xdp_rx is attached to veth01" xdp_rx_on "$ns0" veth01
check_within 10 "xwgd's xdp_rx is attached to veth02" xdp_rx_on "$ns0" veth02

# bulk_run NS_CLIENT NS_SERVER ADDR [FLAG...]: a 2 s iperf3 TCP run from
# NS_CLIENT to ADDR in NS_SERVER (-R: the server sends); BULK_BYTES is
# what its receiver got (0: it failed).
bulk_run() {
	local nsc=$1 nss=$2 addr=$3 srv=$TMP_DIR/iperf3-server.log; shift 3
	bg_start "$srv" ip netns exec "$nss" iperf3 -s -1 -p 5201 -B "$addr"
	wait_for 5 grep -q "listening" "$srv" || true
	BULK_BYTES=$(ip netns exec "$nsc" timeout 15 iperf3 -c "$addr" -p 5201 -t 2 "$@" -J 2>/dev/null |
		jq -r '.end.sum_received.bytes // 0' 2>/dev/null) || BULK_BYTES=0
	bg_stop "$BG_PID"
}

# Test that the hosts' tunnel through the router completes its handshake
# and carries ping and bulk TCP both ways: xdp_rx passes their data, for
# indices xwgd does not know, to the router's forwarding.
check_within 10 "A pings B through their tunnel across the router" pings "$ns1" 10.10.0.2
check "B pings A back" pings "$ns2" 10.10.0.1
check "A shows a handshake with B" has_handshake "$ns1" "$if1" "$pub2"
bulk_run "$ns1" "$ns2" 10.10.0.2
check "bulk TCP from A to B: the receiver got over 1 MB ($BULK_BYTES bytes)" test "${BULK_BYTES:-0}" -gt 1000000
bulk_run "$ns1" "$ns2" 10.10.0.2 -R
check "bulk TCP from B to A: the receiver got over 1 MB ($BULK_BYTES bytes)" test "${BULK_BYTES:-0}" -gt 1000000

# Test that xwgd's own tunnel to C, to the same port on the same link,
# works at the same time, on the fast path.
check_within 10 "xwgd pings C" pings "$ns0" 10.20.0.3
check "C pings xwgd back" pings "$ns2" 10.20.0.1
bulk_run "$ns2" "$ns0" 10.20.0.1
check "bulk TCP from C to xwgd: the receiver got over 1 MB ($BULK_BYTES bytes)" test "${BULK_BYTES:-0}" -gt 1000000
bulk_run "$ns2" "$ns0" 10.20.0.1 -R
check "bulk TCP from xwgd to C: the receiver got over 1 MB ($BULK_BYTES bytes)" test "${BULK_BYTES:-0}" -gt 1000000
check "the hosts' tunnel still carries ping" pings "$ns1" 10.10.0.2
check "xwgd's tunnel to C: the fast path carried it (XDP/TC attached, pinned counters moved)" \
	fastpath_carried "$ns0" "$if0"

# drops_of REASON: the router's xdp_rx drops of key REASON (enum
# xwg_drop_reason), summed over the CPUs, from the pinned drops map in
# xwgd's mount namespace.
drops_of() {
	local out
	out=$(nsenter -t "${IMPL_PID[$if0]}" -m bpftool -j map lookup pinned \
		"/sys/fs/bpf/xwg/$if0/drops" key "$1" 0 0 0) || return 1
	python3 -c '
import json, sys
print(sum(int.from_bytes(bytes(int(b, 16) for b in c["value"][0:8]), "little")
          for c in json.load(sys.stdin)["values"]))' <<<"$out"
}

# no_drops REASON NAME: nothing counted under REASON.
no_drops() {
	local n
	n=$(drops_of "$1") || { echo "cannot read drops key $1"; return 1; }
	((n == 0)) || { echo "$n drops counted as $2"; return 1; }
}

# Test that xdp_rx dropped none of it: no malformed, bad length or unknown
# index (keys 1, 2, 3) - the hosts' handshakes and data were not its.
check "xdp_rx counted no malformed datagram" no_drops 1 rx_malformed
check "xdp_rx counted no datagram of a bad length" no_drops 2 rx_bad_length
check "xdp_rx counted no data for an unknown index" no_drops 3 rx_unknown_index

report
