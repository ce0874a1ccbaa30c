#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# The sticky source of a multihomed host (issue 17): xwgd replies to a peer
# from the local address the peer's packets arrived at (A). When A stops
# working but stays assigned, xwgd must not go on sending from it: as the
# kernel does (wg_socket_clear_peer_endpoint_src() in
# wg_expired_new_handshake() and wg_expired_retransmit_handshake()), the
# initiation it sends when its data goes unanswered forgets the cached
# source and leaves from the address the kernel chooses (B), and the tunnel
# works again. Each data path runs in its own set of namespaces, side by
# side: XWG_DATAPATH=portable and the default (the fast path); a given
# XWG_DATAPATH runs that one only.
#
#   XWGD=build/xwgd selftests/sticky_source.sh      (about 30 s)
#
#  one set per data path
#  ┌─────────────────────────┐  ┌──────────────────────────┐  ┌─────────────────────────┐
#  │ host                    │  │ router, ip_forward=1     │  │ peer                    │
#  │  $ifh: xwgd 10.0.0.1/24 │  │                          │  │  $ifp: wireguard-go     │
#  │    :10001               │  │  after the session:      │  │    10.0.0.2/24 :10002   │
#  │                         │  │  A <-> 203.0.113.0/24    │  │    endpoint of xwgd: A  │
#  │  h0 B 192.0.2.2/24 ─────┼──┼─ r0 192.0.2.1/24         │  │                         │
#  │     A 192.0.2.3/24      │  │  r1 203.0.113.1/24 ──────┼──┼─ p1 203.0.113.2/24      │
#  │  default via .1 src B   │  │  (two ip rules blackhole)│  │  default via .1         │
#  └─────────────────────────┘  └──────────────────────────┘  └─────────────────────────┘
#
# The peer knows xwgd at A, so xwgd's replies stick to A as their source.
# Then the router silently drops what passes between A and the peer (A
# stays assigned and up on the host: nothing there tells xwgd), and the
# host pings the peer through the tunnel. Its data goes out from A and is lost; the peer,
# hearing nothing, stays quiet (what it sends to A is lost too).
# KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (10 + 5 s, plus up to 1/3 s of jitter)
# after the first unanswered packet xwgd starts a new handshake; that
# initiation forgets the cached source, leaves from B (the route's source),
# the peer answers to B and the ping flows again. RECOVERY_BOUND allows
# that 15.33 s plus the round trip and the next ping (0.2 s apart), with a
# margin of 3.5 s, and stays below 20 s: had only the retransmission
# (REKEY_TIMEOUT later) forgotten the source, the bound would be missed;
# had nothing forgotten it, xwgd would retry from A until it gave up.

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping

echo "== sticky_source.sh: XWGD=$XWGD${XWG_DATAPATH:+ XWG_DATAPATH=$XWG_DATAPATH}"
require_impls "$XWGD" "$WGGO"

RECOVERY_BOUND=19
ADDR_A=192.0.2.3
ADDR_B=192.0.2.2
PEER_UNDERLAY=203.0.113.2

if [[ -n ${XWG_DATAPATH:-} ]]; then
	datapaths=("$XWG_DATAPATH")
else
	datapaths=(portable auto)
fi
ns4="xwg-$RUN_ID-4"
ns5="xwg-$RUN_ID-5"
all_ns=("$ns0" "$ns1" "$ns2" "$ns3" "$ns4" "$ns5")

umask 077
wg genkey >"$TMP_DIR/key-host"
wg genkey >"$TMP_DIR/key-peer"
pub_host=$(wg pubkey <"$TMP_DIR/key-host")
pub_peer=$(wg pubkey <"$TMP_DIR/key-peer")

# setup P: the host, router and peer namespaces of data path number P.
setup() {
	local p=$1 dp=${datapaths[$1]}
	local h=${all_ns[3 * p]} r=${all_ns[3 * p + 1]} n=${all_ns[3 * p + 2]}
	host[p]=$h router[p]=$r peer[p]=$n
	ifh[p]=$(tunnel_name $((2 * p))) ifp[p]=$(tunnel_name $((2 * p + 1)))
	ns_create "$h" "$r" "$n"
	# Without IPv6 on the host, no link-local address completes its DAD
	# a second or two later: xwgd forgets every cached source when routes
	# change, which would let it off the test.
	ip netns exec "$h" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	veth_link "$h" h0 "$r" r0
	veth_link "$r" r1 "$n" p1
	# B first: the primary address, the one the kernel picks.
	addr_add "$h" h0 "$ADDR_B/24" "$ADDR_A/24"
	addr_add "$r" r0 192.0.2.1/24
	addr_add "$r" r1 203.0.113.1/24
	addr_add "$n" p1 "$PEER_UNDERLAY/24"
	ip -n "$h" route add default via 192.0.2.1 src "$ADDR_B"
	ip -n "$n" route add default via 203.0.113.1
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1

	XWG_DATAPATH=$dp start_impl "$h" "$XWGD" "${ifh[p]}"
	start_impl "$n" "$WGGO" "${ifp[p]}"
	ip netns exec "$h" wg set "${ifh[p]}" private-key "$TMP_DIR/key-host" listen-port 10001 \
		peer "$pub_peer" allowed-ips 10.0.0.2/32 endpoint "$PEER_UNDERLAY:10002"
	ip netns exec "$n" wg set "${ifp[p]}" private-key "$TMP_DIR/key-peer" listen-port 10002 \
		peer "$pub_host" allowed-ips 10.0.0.1/32 endpoint "$ADDR_A:10001"
	addr_add "$h" "${ifh[p]}" 10.0.0.1/24
	addr_add "$n" "${ifp[p]}" 10.0.0.2/24
	ip -n "$h" link set "${ifh[p]}" up
	ip -n "$n" link set "${ifp[p]}" up
}

# address_is_assigned NS DEV ADDR: ADDR is still on DEV.
address_is_assigned() {
	ip -n "$1" -4 addr show dev "$2" | grep -qF " $3/" ||
		{ echo "$3 is not on $2 in $1"; return 1; }
}

# first_reply_after LOG T_US: seconds from T_US (from _now_us) to the first
# reply in LOG (a ping -D log, its lines stamped with the time of day).
first_reply_after() {
	awk -v t0="$2" '/ bytes from / { gsub(/[][]/, "", $1); printf "%.1f", $1 - t0 / 1e6; exit }' "$1"
}

declare -a host router peer ifh ifp ping_pid ping_log t0
for p in "${!datapaths[@]}"; do
	setup "$p"
done

# Test that the session comes up with the peer sending to A, and that
# xwgd's replies leave from A: the peer (which follows the source of what
# it authenticates) still has A as xwgd's endpoint after xwgd sent data.
for p in "${!datapaths[@]}"; do
	dp=${datapaths[p]}
	check_within 10 "$dp: wireguard-go pings xwgd at A" pings "${peer[p]}" 10.0.0.1
	check "$dp: xwgd pings wireguard-go" pings "${host[p]}" 10.0.0.2
	check "$dp: xwgd's replies leave from A (the peer's endpoint of xwgd is A)" \
		endpoint_is "${peer[p]}" "${ifp[p]}" "$pub_host" "$ADDR_A:10001"
done

# A stops working: the router silently drops what A sends to the peer's
# network and what comes from there to A. On the host A stays assigned,
# the routes do not change and the router still answers A's ARP (rules
# on A alone would stop that too, and a failed neighbour makes xwgd's sends
# from A fail at once, which it already handles: not this test).
for p in "${!datapaths[@]}"; do
	ip -n "${router[p]}" rule add from "$ADDR_A" to 203.0.113.0/24 blackhole
	ip -n "${router[p]}" rule add from 203.0.113.0/24 to "$ADDR_A" blackhole
done

# Test that the underlay is as intended: from A nothing gets through, from
# B it does.
for p in "${!datapaths[@]}"; do
	dp=${datapaths[p]}
	check "$dp: underlay: no reply from the peer to A" \
		ping_gets_nothing "${host[p]}" "$PEER_UNDERLAY" -I "$ADDR_A"
	check "$dp: underlay: the peer answers B" pings "${host[p]}" "$PEER_UNDERLAY" -I "$ADDR_B"
done

# Test that xwgd recovers: a ping through the tunnel, started now, gets
# replies again within RECOVERY_BOUND seconds (see the top), and the peer
# now sees xwgd at B: the new initiation left from the kernel's choice.
for p in "${!datapaths[@]}"; do
	ping_log[p]=$TMP_DIR/ping-$p.log
	t0[p]=$(_now_us)
	bg_start "${ping_log[p]}" ip netns exec "${host[p]}" ping -n -D -O -i 0.2 -W 1 10.0.0.2
	ping_pid[p]=$BG_PID
done
for p in "${!datapaths[@]}"; do
	dp=${datapaths[p]}
	left=$(((t0[p] + RECOVERY_BOUND * 1000000 - $(_now_us) + 999999) / 1000000))
	((left > 0)) || left=1
	check_within "$left" "$dp: the tunnel works again within $RECOVERY_BOUND s" \
		ping_log_replies "${ping_log[p]}" 0 1
	first=$(first_reply_after "${ping_log[p]}" "${t0[p]}")
	echo "    $dp: first reply after the ping started: ${first:-none}${first:+ s}"
	check "$dp: the first requests went unanswered (A was in use)" \
		ping_log_stalled "${ping_log[p]}" 0
	check "$dp: xwgd now sends from B (the peer's endpoint of xwgd)" \
		endpoint_is "${peer[p]}" "${ifp[p]}" "$pub_host" "$ADDR_B:10001"
	check "$dp: A is still assigned on the host" address_is_assigned "${host[p]}" h0 "$ADDR_A"
done

# Test that the tunnel stays up from B: ten more replies.
for p in "${!datapaths[@]}"; do
	mark=$(wc -l <"${ping_log[p]}")
	check_within 5 "${datapaths[p]}: the ping flows on" ping_log_replies "${ping_log[p]}" "$mark" 10
	bg_stop "${ping_pid[p]}"
done

for p in "${!datapaths[@]}"; do
	dp=${datapaths[p]}
	XWG_DATAPATH=$dp check_fastpath "${host[p]}" "${ifh[p]}" "$XWGD" "$dp"
	check "$dp: xwgd exits cleanly on SIGTERM" stop_impl "${ifh[p]}"
done
report
