#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# Rekeying under traffic (whitepaper 6.2: REKEY_AFTER_TIME), the one long
# selftest (about 2.5 minutes). Two pairs run side by side in their own
# namespaces, so each implementation is the initiator once and the responder
# once:
#
#   pair a: xwgd initiates (it alone knows the other's endpoint), wireguard-go
#           responds;
#   pair b: wireguard-go initiates, xwgd responds.
#
#   XWGD=build/xwgd selftests/rekey.sh   (the default; runs once in run.sh)
#
#  pair a                                        pair b
#  ┌──────────────────────┐ ┌──────────────────────┐ ┌──────────────────────┐ ┌──────────────────────┐
#  │ $ns0                 │ │ $ns1                 │ │ $ns2                 │ │ $ns3                 │
#  │  $if0: xwgd          │ │  $if1: wireguard-go  │ │  $if2: wireguard-go  │ │  $if3: xwgd          │
#  │  10.0.0.1/24 :10001  │ │  10.0.0.2/24 :10002  │ │  10.0.1.1/24 :10001  │ │  10.0.1.2/24 :10002  │
#  │  initiator,          │ │  responder           │ │  initiator,          │ │  responder           │
#  │  ping -i 0.2 ───────────▶ 10.0.0.2           │ │  ping -i 0.2 ───────────▶ 10.0.1.2           │
#  │  veth0 192.0.2.1/24 ─┼─┼─ veth1 192.0.2.2/24  │ │  veth2 198.51.100.1 ─┼─┼─ veth3 198.51.100.2  │
#  └──────────────────────┘ └──────────────────────┘ └──────────────────────┘ └──────────────────────┘
#
# The initiator of a session starts a new handshake when it sends on a
# keypair older than REKEY_AFTER_TIME (120 s); the responder does not. While
# the new handshake runs, and until each side has moved to the new keypair,
# both keep receiving on the previous one, so a steady ping loses nothing.

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping

echo "== rekey.sh: XWGD=$XWGD"
require_impls "$XWGD" "$WGGO"

REKEY_AFTER_TIME=120
# How long after the first handshake the rekey must have happened on both
# sides: REKEY_AFTER_TIME, then the first ping sent after it (0.2 s) and
# the handshake's round trip, with a wide margin.
REKEY_DEADLINE=150

umask 077
for i in 0 1 2 3; do
	wg genkey >"$TMP_DIR/key$i"
	pub[i]=$(wg pubkey <"$TMP_DIR/key$i")
	ifn[i]=$(tunnel_name "$i")
done
nss=("$ns0" "$ns1" "$ns2" "$ns3")

ns_create "$ns0" "$ns1" "$ns2" "$ns3"
veth_link "$ns0" veth0 "$ns1" veth1
veth_link "$ns2" veth2 "$ns3" veth3
addr_add "$ns0" veth0 192.0.2.1/24
addr_add "$ns1" veth1 192.0.2.2/24
addr_add "$ns2" veth2 198.51.100.1/24
addr_add "$ns3" veth3 198.51.100.2/24

# setup_pair I R IMPL_I IMPL_R UNDERLAY_R INNER_PREFIX: node I (initiator,
# port 10001, INNER_PREFIX.1) and node R (responder, port 10002,
# INNER_PREFIX.2) as each other's peer; only I knows R's endpoint.
setup_pair() {
	local i=$1 r=$2 impl_i=$3 impl_r=$4 underlay_r=$5 inner=$6
	start_impl "${nss[i]}" "$impl_i" "${ifn[i]}"
	start_impl "${nss[r]}" "$impl_r" "${ifn[r]}"
	ip netns exec "${nss[i]}" wg set "${ifn[i]}" private-key "$TMP_DIR/key$i" listen-port 10001 \
		peer "${pub[r]}" allowed-ips "$inner.2/32" endpoint "$underlay_r:10002"
	ip netns exec "${nss[r]}" wg set "${ifn[r]}" private-key "$TMP_DIR/key$r" listen-port 10002 \
		peer "${pub[i]}" allowed-ips "$inner.1/32"
	addr_add "${nss[i]}" "${ifn[i]}" "$inner.1/24"
	addr_add "${nss[r]}" "${ifn[r]}" "$inner.2/24"
	ip -n "${nss[i]}" link set "${ifn[i]}" up
	ip -n "${nss[r]}" link set "${ifn[r]}" up
}

setup_pair 0 1 "$XWGD" "$WGGO" 192.0.2.2 10.0.0
setup_pair 2 3 "$WGGO" "$XWGD" 198.51.100.2 10.0.1

# handshake_of N PEER_N: node N's latest handshake with node PEER_N.
handshake_of() { latest_handshake "${nss[$1]}" "${ifn[$1]}" "${pub[$2]}"; }

# handshake_after N PEER_N T: node N's latest handshake with PEER_N is
# later than T.
handshake_after() {
	local t
	t=$(handshake_of "$1" "$2") && [[ $t =~ ^[0-9]+$ ]] && ((t > $3)) ||
		{ echo "node $1's latest handshake is ${t:-?}, not after $3"; return 1; }
}

# ping_lost_nothing LOG MIN_SENT: the stopped ping in LOG sent at least
# MIN_SENT requests and every one of them but the last got exactly one
# reply. The last one is excused: it may have been on its way when the ping
# was stopped. So this asserts a loss of 0 (at most the one request in
# flight at the end, never one lost to the rekey).
ping_lost_nothing() {
	local res sent lost dups missing
	res=$(awk '
		/ bytes from .*icmp_seq=/ {
			match($0, /icmp_seq=[0-9]+/)
			seq = substr($0, RSTART + 9, RLENGTH - 9)
			if ($0 ~ /DUP!/) dups++; else got[seq] = 1
		}
		/ packets transmitted/ { sent = $1 }
		END {
			for (i = 1; i < sent; i++)
				if (!(i in got)) { lost++; if (n++ < 20) missing = missing " " i }
			printf "%d %d %d%s\n", sent, lost, dups, missing
		}' "$1")
	read -r sent lost dups missing <<<"$res"
	echo "sent $sent requests, $lost of the first $((sent - 1)) unanswered${missing:+ (icmp_seq$missing)}, $dups duplicate replies"
	((sent >= $2 && lost == 0 && dups == 0))
}

# Test that both tunnels carry traffic: the first handshake of each pair.
check_within 10 "pair a: xwgd (initiator) pings wireguard-go" pings "$ns0" 10.0.0.2
check_within 10 "pair b: wireguard-go (initiator) pings xwgd" pings "$ns2" 10.0.1.2
for i in 0 1 2 3; do
	p=$((i ^ 1))
	first[i]=$(handshake_of $i $p) || first[i]=0
done
echo "first handshakes (unix time): a: ${first[0]}/${first[1]}  b: ${first[2]}/${first[3]}"

bg_start "$TMP_DIR/ping-a.log" ip netns exec "$ns0" ping -n -O -i 0.2 -W 1 10.0.0.2
ping_a=$BG_PID
bg_start "$TMP_DIR/ping-b.log" ip netns exec "$ns2" ping -n -O -i 0.2 -W 1 10.0.1.2
ping_b=$BG_PID

# Test that, with a ping flowing from the initiator, a new handshake happens
# on both sides of each pair once the session is REKEY_AFTER_TIME old:
# the latest handshake moves forward, within REKEY_DEADLINE of the first.
names=("pair a: xwgd (initiator)" "pair a: wireguard-go (responder)"
	"pair b: wireguard-go (initiator)" "pair b: xwgd (responder)")
for i in 0 1 2 3; do
	p=$((i ^ 1))
	left=$((first[i] + REKEY_DEADLINE - $(date +%s)))
	((left > 0)) || left=1
	check_within "$left" "${names[i]} rekeys: latest handshake moves past ${first[i]}" \
		handshake_after $i $p "${first[i]}"
	second[i]=$(handshake_of $i $p) || second[i]=0
done
echo "second handshakes (unix time): a: ${second[0]}/${second[1]}  b: ${second[2]}/${second[3]}"

# Test that the initiator's rekey came from REKEY_AFTER_TIME, not from
# anything earlier: the two handshakes are 120 s apart (timestamps are whole
# seconds, so 119 to 121; up to 126 allows one retried initiation after
# REKEY_TIMEOUT). The responders follow the same handshake.
rekey_interval_ok() {
	local d=$(($2 - $1))
	(($2 > 0)) || { echo "no second handshake seen"; return 1; }
	((d >= REKEY_AFTER_TIME - 1 && d <= REKEY_AFTER_TIME + 6)) ||
		{ echo "handshakes $d s apart, want $((REKEY_AFTER_TIME - 1))..$((REKEY_AFTER_TIME + 6))"; return 1; }
}
for i in 0 1 2 3; do
	check "${names[i]}: the rekey came REKEY_AFTER_TIME after the first handshake" \
		rekey_interval_ok "${first[i]}" "${second[i]}"
done

# Test that the new session carries the ping: at least 25 more replies
# (5 s) after the rekey was seen on both sides.
mark_a=$(wc -l <"$TMP_DIR/ping-a.log")
mark_b=$(wc -l <"$TMP_DIR/ping-b.log")
check_within 10 "pair a: the ping flows on after the rekey" ping_log_replies "$TMP_DIR/ping-a.log" "$mark_a" 25
check_within 10 "pair b: the ping flows on after the rekey" ping_log_replies "$TMP_DIR/ping-b.log" "$mark_b" 25
bg_stop "$ping_a"
bg_stop "$ping_b"

# Test that the rekey lost nothing: every request (5 per second, over more
# than REKEY_AFTER_TIME, across the rekey) got its reply, exactly once.
check "pair a: the ping through xwgd -> wireguard-go lost nothing across the rekey" \
	ping_lost_nothing "$TMP_DIR/ping-a.log" $((REKEY_AFTER_TIME * 5))
grep -F 'packets transmitted' "$TMP_DIR/ping-a.log" | sed 's/^/    pair a: /'
check "pair b: the ping through wireguard-go -> xwgd lost nothing across the rekey" \
	ping_lost_nothing "$TMP_DIR/ping-b.log" $((REKEY_AFTER_TIME * 5))
grep -F 'packets transmitted' "$TMP_DIR/ping-b.log" | sed 's/^/    pair b: /'

# log_count IFNAME TEXT N: TEXT occurs exactly N times in the log of the
# daemon serving IFNAME.
log_count() {
	local n
	n=$(grep -cF -- "$2" "$LOG_DIR/$1.log" || true)
	((n == $3)) || { echo "'$2' $n times in $1's log, want $3"; return 1; }
}

# Test, through wireguard-go's log as the observer, that xwgd sent exactly
# two initiations as the initiator (the first handshake and the rekey, no
# extra ones) and none as the responder (only the initiator of a session
# rekeys on time; both doing it would mean crossing handshakes).
check "pair a: xwgd (initiator) sent exactly 2 handshake initiations" \
	log_count "${ifn[1]}" "Received handshake initiation" 2
check "pair b: xwgd (responder) sent no handshake initiation" \
	log_count "${ifn[2]}" "Received handshake initiation" 0

for i in 0 3; do
	check "xwgd on node $i exits cleanly on SIGTERM" stop_impl "${ifn[i]}"
done
report
