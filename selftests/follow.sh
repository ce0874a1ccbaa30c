#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# Following endpoints off the packet thread (issue 17): when a peer's
# endpoint moves, xwgd looks up the route towards it and, where the route
# leaves through an interface that should have xdp_rx and has not, attaches
# xdp_rx there and makes the AF_XDP sockets. The route query, the driver's
# XDP set-up and the sockets' memory all run on a worker thread; the packet
# thread only adopts the results. Here:
#   - xwgd starts with no underlay at all; the first endpoint brings xdp_rx
#     and the AF_XDP socket onto veth ua (made after the start);
#   - a second underlay va appears, and the endpoint moves between the two
#     20 times while a ping every 10 ms runs through the tunnel: xdp_rx
#     follows onto va, no ping is lost, the 99th percentile RTT during the
#     moves stays within 2x the one before them plus 5 ms;
#   - SIGTERM leaves no XDP program on either.
# xwgd picks underlays itself only where XDP costs nothing to others, which
# a veth is not: XWG_TEST_XDP_ON_VETH=1 lets it take these veths (the only
# devices with native XDP a test can make). About 20 s.
#
#  ┌──────────────────────────────────┐      ┌──────────────────────────────────┐
#  │ $ns1                             │      │ $ns2                             │
#  │  $if1: xwgd -f  10.0.0.1/24      │      │  $if2: wireguard-go -f 10.0.0.2  │
#  │  ua 192.0.2.1/24 ────────────────┼──────┼── ub 192.0.2.2/24                │
#  │  va 198.51.100.1/24 ─────────────┼──────┼── vb 198.51.100.2/24             │
#  └──────────────────────────────────┘      └──────────────────────────────────┘

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping bpftool python3

echo "== follow.sh: XWGD=$XWGD"
require_impls "$XWGD" "$WGGO"
if [[ ${XWG_DATAPATH:-auto} == portable ]]; then
	skip "this whole test" "XWG_DATAPATH=portable has no fast path to follow with"
	report
fi

ROAMS=20
SLACK_MS=5

tunnel_keys
if1=$(tunnel_name 1)
if2=$(tunnel_name 2)

ns_create "$ns1" "$ns2"
IMPL_ENV[$if1]="XWG_TEST_XDP_ON_VETH=1"
start_impl "$ns1" "$XWGD" "$if1"
start_impl "$ns2" "$WGGO" "$if2"
n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port 10001 peer "$pub2" allowed-ips 10.0.0.2/32
n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port 10002 peer "$pub1" allowed-ips 10.0.0.1/32
addr_add "$ns1" "$if1" 10.0.0.1/24
addr_add "$ns2" "$if2" 10.0.0.2/24
ip -n "$ns1" link set "$if1" up
ip -n "$ns2" link set "$if2" up

# xdp_rx_on DEV: xwgd's xdp_rx is attached to DEV in $ns1.
xdp_rx_on() {
	local att
	att=$(xwg_attachments "$ns1") || return 1
	grep -qE "^xdp $1 xwg_xdp_rx " <<<"$att" || { echo "attached in $ns1: ${att:-nothing}"; return 1; }
}
no_xdp_in_ns1() {
	local att
	att=$(xwg_attachments "$ns1") || return 1
	! grep -q "^xdp " <<<"$att" || { echo "still attached: $att"; return 1; }
}
logged() { grep -qF -- "$1" "$LOG_DIR/$if1.log"; }

check "no underlay yet: no XDP program in $ns1" no_xdp_in_ns1

veth_link "$ns1" ua "$ns2" ub
addr_add "$ns1" ua 192.0.2.1/24
addr_add "$ns2" ub 192.0.2.2/24
n1 wg set "$if1" peer "$pub2" endpoint 192.0.2.2:10002
check_within 5 "the first endpoint, through ua: xdp_rx follows onto ua" xdp_rx_on ua
check_within 5 "and the worker made its AF_XDP socket" \
	logged "fast path: xdp_rx on ua (native XDP), 1 AF_XDP socket(s)"
check_within 10 "xwgd pings wireguard-go through the tunnel" pings "$ns1" 10.0.0.2
check "wireguard-go pings xwgd back" pings "$ns2" 10.0.0.1

veth_link "$ns1" va "$ns2" vb
addr_add "$ns1" va 198.51.100.1/24
addr_add "$ns2" vb 198.51.100.2/24

# A ping every 10 ms from wireguard-go's side: 2 s before the moves, the
# moves (one every 150 ms), 2 s after. Each reply counts as before the
# moves or during them by when its request left.
PING_LOG=$TMP_DIR/ping.log
bg_start "$PING_LOG" ip netns exec "$ns2" ping -D -n -i 0.01 -W 1 -c $((400 + ROAMS * 15)) 10.0.0.1
ping_pid=$BG_PID
sleep 2
moves_from=$(date +%s.%N)
for ((i = 0; i < ROAMS; i++)); do
	if ((i % 2 == 0)); then ep=198.51.100.2:10002; else ep=192.0.2.2:10002; fi
	n1 wg set "$if1" peer "$pub2" endpoint "$ep"
	sleep 0.15
done
moves_to=$(date +%s.%N)
check_within 5 "the endpoint through va: xdp_rx follows onto va too" xdp_rx_on va
wait_for 15 eval "! pid_is_alive $ping_pid" || true
bg_stop "$ping_pid"

# "SENT ANSWERED BEFORE_P99 DURING_P99 DURING_MAX" (ms) from the ping log.
ping_stats() {
	python3 - "$PING_LOG" "$moves_from" "$moves_to" <<'EOF'
import re, sys
text, t0, t1 = open(sys.argv[1]).read(), float(sys.argv[2]), float(sys.argv[3])
m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
before, during = [], []
for r in re.finditer(r"^\[([0-9.]+)\].* time=([0-9.]+) ms", text, re.M):
    rtt = float(r.group(2))
    sent = float(r.group(1)) - rtt / 1000
    (during if t0 <= sent <= t1 else before).append(rtt)
if not m or len(before) < 100 or len(during) < 100:
    sys.exit(f"too few replies: {len(before)} before, {len(during)} during the moves")
p99 = lambda v: sorted(v)[-(-len(v) * 99 // 100) - 1]
print(m.group(1), m.group(2), p99(before), p99(during), max(during))
EOF
}
pings_undisturbed() {
	local s sent got p_before p_during max
	s=$(ping_stats) || { echo "$s"; return 1; }
	read -r sent got p_before p_during max <<<"$s"
	echo "$got of $sent answered; p99 RTT $p_during ms during the moves, $p_before ms before; at most $max ms"
	((sent == got)) && python3 -c "import sys; sys.exit(not ($p_during <= 2 * $p_before + $SLACK_MS))"
}
check "a ping every 10 ms through $ROAMS endpoint moves: nothing lost, p99 RTT within 2x + ${SLACK_MS} ms" \
	pings_undisturbed
echo "info: $(pings_undisturbed || true)"

check "xwgd exits 0 on SIGTERM" stop_impl "$if1"
check_within 5 "and leaves no XDP program on ua or va" no_xdp_in_ns1

report
