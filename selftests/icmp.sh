#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Packets the tunnel cannot route are answered, like the kernel's WireGuard,
# with ICMP host unreachable / ICMPv6 address unreachable from xwgd.
#
#   ns1: xwgd on IF, 10.0.0.1/24 fd00::1/64; one peer for 10.0.0.2, fd00::2
#        ping 10.0.0.3 / fd00::3 (no peer) -> "Unreachable" from that address
#
set -euo pipefail
XWGD=${XWGD:-build/xwgd}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping

echo "== icmp.sh: XWGD=$XWGD"
require_impls "$XWGD"

if1=$(tunnel_name 1)
umask 077
wg genkey >"$TMP_DIR/key1"
peer=$(wg genkey | wg pubkey)

ns_create "$ns1"
start_impl "$ns1" "$XWGD" "$if1"
n1 wg set "$if1" private-key "$TMP_DIR/key1" peer "$peer" allowed-ips 10.0.0.2/32,fd00::2/128
addr_add "$ns1" "$if1" 10.0.0.1/24 fd00::1/64
ip -n "$ns1" link set "$if1" up

# ping exits 1 with "From <addr> ... Unreachable" lines for ICMP errors.
unreachable_from() {
	local out
	out=$(n1 ping -n -c 2 -i 0.2 -W 2 "$1" 2>&1 || true)
	grep -F "From $1" <<<"$out" | grep -i "unreachable" >/dev/null ||
		{ echo "no ICMP error from $1 in: $(tr '\n' ' ' <<<"$out")"; return 1; }
}

# Test that a packet to an IPv4 address no peer has is answered with
# host unreachable from that address.
check "IPv4 without a peer: host unreachable" unreachable_from 10.0.0.3

# Test that the same holds for IPv6 (address unreachable).
check "IPv6 without a peer: address unreachable" unreachable_from fd00::3

# Test that a destination with a peer but no session is not answered with
# an error: the packet waits for a handshake instead (the peer has no
# endpoint here, so it never completes).
silent() {
	local out
	out=$(n1 ping -n -c 1 -W 1 "$1" 2>&1 || true)
	! grep -qi "unreachable" <<<"$out" || { echo "got: $out"; return 1; }
}
check "a peer without a session: no ICMP error" silent 10.0.0.2

report
