#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Cryptokey routing with three nodes: a hub (RIGHT) with two peers on one
# interface, spoke 1 and spoke 3 (both LEFT). Spoke 3 has a LAN, 10.3.0.0/24,
# that the hub routes to it by allowed IPs; spoke 1 reaches everything through
# the hub.
#
#   LEFT=build/xwgd RIGHT=wireguard-go selftests/three_nodes.sh   (the defaults)
#
#                      ┌────────────────────────────────────────┐
#                      │ $ns2: hub, forwards IPv4               │
#                      │  $if2: RIGHT 10.1.0.2/24, port 10002   │
#                      │   peer spoke 1: 10.1.0.1/32            │
#                      │   peer spoke 3: 10.1.0.3/32 10.3.0.0/24│
#                      │  veth21 192.0.2.2/24                   │
#                      │  veth23 198.51.100.2/24                │
#                      └───────┬─────────────────────┬──────────┘
#  ┌───────────────────────────┴─────────┐ ┌─────────┴───────────────────────────┐
#  │ $ns1: spoke 1                       │ │ $ns3: spoke 3                       │
#  │  veth12 192.0.2.1/24                │ │  veth32 198.51.100.3/24             │
#  │  $if1: LEFT 10.1.0.1/24, port 10001 │ │  $if3: LEFT 10.1.0.3/24, port 10003 │
#  │   peer hub: 10.1.0.0/24 10.3.0.0/24 │ │   peer hub: 10.1.0.0/24             │
#  │   route 10.3.0.0/24 dev $if1        │ │  lan3 10.3.0.1/24 (a veth to lan3p) │
#  └─────────────────────────────────────┘ └─────────────────────────────────────┘

set -euo pipefail
LEFT=${LEFT:-build/xwgd}
RIGHT=${RIGHT:-wireguard-go}
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping

echo "== three_nodes.sh: LEFT=$LEFT RIGHT=$RIGHT"
impl_path "$LEFT" >/dev/null && impl_path "$RIGHT" >/dev/null ||
	{ fail "prerequisite" "LEFT or RIGHT cannot be run"; exit 1; }

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
if3=$(tunnel_name 3)

umask 077
for i in 1 2 3; do
	wg genkey >"$TMP_DIR/key$i"
done
pub1=$(wg pubkey <"$TMP_DIR/key1")
pub2=$(wg pubkey <"$TMP_DIR/key2")
pub3=$(wg pubkey <"$TMP_DIR/key3")

ns_create "$ns1" "$ns2" "$ns3"
veth_link "$ns1" veth12 "$ns2" veth21
veth_link "$ns3" veth32 "$ns2" veth23
addr_add "$ns1" veth12 192.0.2.1/24
addr_add "$ns2" veth21 192.0.2.2/24
addr_add "$ns2" veth23 198.51.100.2/24
addr_add "$ns3" veth32 198.51.100.3/24
veth_link "$ns3" lan3 "$ns3" lan3p
addr_add "$ns3" lan3 10.3.0.1/24

start_impl "$ns1" "$LEFT" "$if1"
start_impl "$ns2" "$RIGHT" "$if2"
start_impl "$ns3" "$LEFT" "$if3"

n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port 10001 \
	peer "$pub2" allowed-ips 10.1.0.0/24,10.3.0.0/24 endpoint 192.0.2.2:10002
n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port 10002 \
	peer "$pub1" allowed-ips 10.1.0.1/32 endpoint 192.0.2.1:10001 \
	peer "$pub3" allowed-ips 10.1.0.3/32,10.3.0.0/24 endpoint 198.51.100.3:10003
n3 wg set "$if3" private-key "$TMP_DIR/key3" listen-port 10003 \
	peer "$pub2" allowed-ips 10.1.0.0/24 endpoint 198.51.100.2:10002
addr_add "$ns1" "$if1" 10.1.0.1/24
addr_add "$ns2" "$if2" 10.1.0.2/24
addr_add "$ns3" "$if3" 10.1.0.3/24
for n in 1 2 3; do
	ns=ns$n ifname=if$n
	ip -n "${!ns}" link set "${!ifname}" up
done
n1 ip route add 10.3.0.0/24 dev "$if1"
n2 ip route add 10.3.0.0/24 dev "$if2"
n2 sysctl -qw net.ipv4.ip_forward=1
# The hub forwards between two peers of one interface; it must not answer
# with redirects.
n2 sysctl -qw net.ipv4.conf.all.send_redirects=0
n2 sysctl -qw "net.ipv4.conf.$if2.send_redirects=0"

# Test that both spokes reach the hub, and that spoke 1 reaches spoke 3 and
# back through the hub, which forwards between two peers of one interface.
check_within 10 "spoke 1 pings the hub" pings "$ns1" 10.1.0.2
check_within 10 "spoke 3 pings the hub" pings "$ns3" 10.1.0.2
check "spoke 1 pings spoke 3 through the hub" pings "$ns1" 10.1.0.3
check "spoke 3 pings spoke 1 through the hub" pings "$ns3" 10.1.0.1
check_fastpath "$ns1" "$if1" "$LEFT" "spoke 1"
check_fastpath "$ns2" "$if2" "$RIGHT" "the hub"

# Test that allowed IPs route a whole /24: the hub sends 10.3.0.0/24 to spoke
# 3, which owns that LAN, and accepts replies from it.
check "the hub pings 10.3.0.1 on spoke 3's LAN" pings "$ns2" 10.3.0.1
check "spoke 1 pings 10.3.0.1 on spoke 3's LAN through the hub" pings "$ns1" 10.3.0.1

# Test that the receiver drops a packet whose inner source address is outside
# the sending peer's allowed IPs: spoke 3 sends echo requests from 10.9.9.3,
# which the hub does not allow for spoke 3. Spoke 3 encrypts and sends them,
# yet the hub's kernel never sees them (its ICMP InEchos counter stands still),
# while a request from spoke 3's allowed address does count.
n3 ip addr add 10.9.9.3/32 dev "$if3"
echos=$(icmp_in_echos "$ns2")
check "source check: spoke 3 pings the hub from 10.1.0.3" pings "$ns3" 10.1.0.2 -I 10.1.0.3
check "source check: the hub's kernel counted that request" icmp_in_echos_is "$ns2" $((echos + 1))
echos=$(icmp_in_echos "$ns2")
tx3=$(tx_bytes "$ns3" "$if3" "$pub2")
check "source check: spoke 3 gets no reply when pinging from 10.9.9.3" \
	ping_gets_nothing "$ns3" 10.1.0.2 -I 10.9.9.3
check "source check: spoke 3 did encrypt and send those requests" \
	tx_grows_by "$ns3" "$if3" "$pub2" "$tx3" $((3 * 84))
check "source check: the hub dropped them before its kernel" icmp_in_echos_is "$ns2" "$echos"
check "source check: spoke 3 still pings the hub from 10.1.0.3" pings "$ns3" 10.1.0.2

# Test that `wg syncconf` on the hub with a configuration lacking spoke 3
# removes only spoke 3 while pings flow to both spokes: the ping to spoke 3
# stops, the one to spoke 1 goes on. Syncing the full configuration back
# restores spoke 3 (the hub initiates, with the endpoint it kept).
n2 wg showconf "$if2" >"$TMP_DIR/hub-full.conf"
conf_without_peer "$pub3" <"$TMP_DIR/hub-full.conf" >"$TMP_DIR/hub-no3.conf"
bg_start "$TMP_DIR/ping1.log" ip netns exec "$ns2" ping -n -O -i 0.2 -W 1 10.1.0.1
ping1=$BG_PID
bg_start "$TMP_DIR/ping3.log" ip netns exec "$ns2" ping -n -O -i 0.2 -W 1 10.1.0.3
ping3=$BG_PID
check_within 5 "syncconf: a ping from the hub to spoke 1 flows" ping_log_replies "$TMP_DIR/ping1.log" 0 3
check_within 5 "syncconf: a ping from the hub to spoke 3 flows" ping_log_replies "$TMP_DIR/ping3.log" 0 3
n2 wg syncconf "$if2" "$TMP_DIR/hub-no3.conf"
mark1=$(wc -l <"$TMP_DIR/ping1.log")
mark3=$(wc -l <"$TMP_DIR/ping3.log")
check_not "syncconf: the hub no longer lists spoke 3" has_peer "$ns2" "$if2" "$pub3"
check "syncconf: the hub still lists spoke 1" has_peer "$ns2" "$if2" "$pub1"
check_within 5 "syncconf: the ping to spoke 3 gets no more replies" \
	ping_log_stalled "$TMP_DIR/ping3.log" "$mark3"
check_within 5 "syncconf: the ping to spoke 1 goes on" \
	ping_log_replies "$TMP_DIR/ping1.log" "$mark1" 5
check_not "syncconf: no request to spoke 1 went unanswered" \
	ping_log_stalled "$TMP_DIR/ping1.log" "$mark1"
check "syncconf: the hub no longer reaches spoke 3's LAN" ping_gets_nothing "$ns2" 10.3.0.1
n2 wg syncconf "$if2" "$TMP_DIR/hub-full.conf"
mark3=$(wc -l <"$TMP_DIR/ping3.log")
check "syncconf: the hub lists spoke 3 again" has_peer "$ns2" "$if2" "$pub3"
check_within 10 "syncconf: the ping to spoke 3 gets replies again" \
	ping_log_replies "$TMP_DIR/ping3.log" "$mark3" 2
check "syncconf: spoke 1 pings spoke 3's LAN again" pings "$ns1" 10.3.0.1
bg_stop "$ping1"
bg_stop "$ping3"

report
