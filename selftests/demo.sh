#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The one-command demo: xwgd in one network namespace, wireguard-go in another,
# a handshake and pings through the tunnel, `wg show` on both sides, then
# everything torn down again. Needs root; touches only what it creates.
#
#   make && sudo selftests/demo.sh
#   XWGD=path/to/xwgd PEER=wireguard-go selftests/demo.sh
#
#  ┌───────────────────────────────┐            ┌───────────────────────────────┐
#  │ $ns1                          │            │ $ns2                          │
#  │  $if1: xwgd                   │  WireGuard │  $if2: wireguard-go           │
#  │  10.0.0.1/24  fd00::1/64      │ ◀────────▶ │  10.0.0.2/24  fd00::2/64      │
#  │  veth1 192.0.2.1/24 :10001 ───┼────────────┼── veth2 192.0.2.2/24 :10002   │
#  └───────────────────────────────┘            └───────────────────────────────┘

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
PEER=${PEER:-wireguard-go}
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping

if ! impl_path "$XWGD" >/dev/null 2>&1; then
	fail "demo" "$XWGD does not exist: build it with \`make\` (or try XWGD=wireguard-go $0)"
	exit 1
fi
impl_path "$PEER" >/dev/null || { fail "demo" "$PEER cannot be run"; exit 1; }

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
tunnel_keys

# say CMD...: show a command, then run it.
say() { echo "+ $*"; "$@"; }

echo "== two network namespaces, $ns1 and $ns2, joined by a veth pair"
veth_underlay

echo "== $XWGD serves $if1 in $ns1, $PEER serves $if2 in $ns2"
start_impl "$ns1" "$XWGD" "$if1"
start_impl "$ns2" "$PEER" "$if2"
say n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port 10001 \
	peer "$pub2" allowed-ips 10.0.0.2/32,fd00::2/128 endpoint 192.0.2.2:10002
say n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port 10002 \
	peer "$pub1" allowed-ips 10.0.0.1/32,fd00::1/128 endpoint 192.0.2.1:10001
addr_add "$ns1" "$if1" 10.0.0.1/24 fd00::1/64
addr_add "$ns2" "$if2" 10.0.0.2/24 fd00::2/64
ip -n "$ns1" link set "$if1" up
ip -n "$ns2" link set "$if2" up

echo "== pings through the tunnel"
check_within 10 "$(basename "$XWGD") and $PEER complete a handshake and a ping" pings "$ns1" 10.0.0.2
say n1 ping -n -c 3 -i 0.2 10.0.0.2 || true
say n2 ping -n -c 3 -i 0.2 fd00::1 || true
check "ping from the $PEER side over IPv6" pings "$ns2" fd00::1

echo "== xwgd's data path (its log; then the XDP/TC programs in $ns1)"
grep -h "data path\|fast path" "$LOG_DIR/$if1.log" | sed 's/^/    /' || true
ip netns exec "$ns1" bpftool net show 2>/dev/null | sed 's/^/    /' || true
echo
echo "== wg show in $ns1 ($XWGD)"
n1 wg show "$if1"
echo
echo "== wg show in $ns2 ($PEER)"
n2 wg show "$if2"
echo

echo "== tearing down"
report
