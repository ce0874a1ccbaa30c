#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Interoperability of two WireGuard implementations, LEFT and RIGHT, each a
# daemon with wireguard-go's command line (`IMPL -f IFNAME`), configured with
# the real wg(8) tool, in the manner of the kernel's
# tools/testing/selftests/wireguard/netns.sh.
#
#   LEFT=build/xwgd RIGHT=wireguard-go selftests/netns.sh     (the defaults)
#
#  ┌──────────────────────────────────┐      ┌──────────────────────────────────┐
#  │ $ns1                             │      │ $ns2                             │
#  │  ┌────────────────────────────┐  │      │  ┌────────────────────────────┐  │
#  │  │ $if1: LEFT                 │  │      │  │ $if2: RIGHT                │  │
#  │  │ 10.0.0.1/24  fd00::1/64    │  │      │  │ 10.0.0.2/24  fd00::2/64    │  │
#  │  │ listen port 10001          │  │      │  │ listen port 10002          │  │
#  │  └─────────────┬──────────────┘  │      │  └─────────────┬──────────────┘  │
#  │     encrypted UDP (underlay)     │      │     encrypted UDP (underlay)     │
#  │  ┌─────────────┴──────────────┐  │      │  ┌─────────────┴──────────────┐  │
#  │  │ veth1                      ├──┼──────┼──┤ veth2                      │  │
#  │  │ 192.0.2.1/24 2001:db8::1/64│  │      │  │ 192.0.2.2/24 2001:db8::2/64│  │
#  │  └────────────────────────────┘  │      │  └────────────────────────────┘  │
#  └──────────────────────────────────┘      └──────────────────────────────────┘
#
# LEFT roams to 192.0.2.11 and 2001:db8::11 half way through.

set -euo pipefail
LEFT=${LEFT:-build/xwgd}
RIGHT=${RIGHT:-wireguard-go}
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping iperf3 jq

echo "== netns.sh: LEFT=$LEFT RIGHT=$RIGHT"
impl_path "$LEFT" >/dev/null && impl_path "$RIGHT" >/dev/null ||
	{ fail "prerequisite" "LEFT or RIGHT cannot be run"; exit 1; }

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
port1=10001
port2=10002
left4=192.0.2.1 left6=2001:db8::1
right4=192.0.2.2 right6=2001:db8::2

umask 077
wg genkey >"$TMP_DIR/key1"
wg genkey >"$TMP_DIR/key2"
wg genpsk >"$TMP_DIR/psk"
pub1=$(wg pubkey <"$TMP_DIR/key1")
pub2=$(wg pubkey <"$TMP_DIR/key2")

ns_create "$ns1" "$ns2"
veth_link "$ns1" veth1 "$ns2" veth2
addr_add "$ns1" veth1 $left4/24 $left6/64
addr_add "$ns2" veth2 $right4/24 $right6/64
# Deleting LEFT's first IPv4 address (roaming) must keep the second.
n1 sysctl -qw net.ipv4.conf.veth1.promote_secondaries=1

# start_tunnels: fresh daemons on both sides with keys, listen ports and inner
# addresses, no peers yet.
start_tunnels() {
	start_impl "$ns1" "$LEFT" "$if1"
	start_impl "$ns2" "$RIGHT" "$if2"
	n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port $port1
	n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port $port2
	addr_add "$ns1" "$if1" 10.0.0.1/24 fd00::1/64
	addr_add "$ns2" "$if2" 10.0.0.2/24 fd00::2/64
	ip -n "$ns1" link set "$if1" up
	ip -n "$ns2" link set "$if2" up
}

# stop_tunnels: SIGTERM both daemons; each must exit with status 0 and
# remove its socket.
stop_tunnels() {
	check "LEFT exits cleanly on SIGTERM and removes its socket" stop_impl "$if1"
	check "RIGHT exits cleanly on SIGTERM and removes its socket" stop_impl "$if2"
}

# configure_peers INITIATOR FAMILY PSK_FILE_LEFT PSK_FILE_RIGHT: each side
# gets the other as its peer; only INITIATOR (LEFT or RIGHT) knows the other's
# endpoint, over IPv FAMILY, so only it can start the handshake. An empty
# PSK_FILE means no preshared key on that side.
configure_peers() {
	local initiator=$1 family=$2 psk1=$3 psk2=$4
	local allowed1=10.0.0.1/32,fd00::1/128 allowed2=10.0.0.2/32,fd00::2/128
	local args1=(peer "$pub2" allowed-ips "$allowed2")
	local args2=(peer "$pub1" allowed-ips "$allowed1")
	[[ -n $psk1 ]] && args1+=(preshared-key "$psk1")
	[[ -n $psk2 ]] && args2+=(preshared-key "$psk2")
	if [[ $initiator == LEFT ]]; then
		args1+=(endpoint "$(endpoint_of right "$family")")
	else
		args2+=(endpoint "$(endpoint_of left "$family")")
	fi
	n1 wg set "$if1" "${args1[@]}"
	n2 wg set "$if2" "${args2[@]}"
}

# endpoint_of left|right 4|6: that side's underlay endpoint, as wg prints it.
endpoint_of() {
	case $1$2 in
	left4) echo "$left4:$port1" ;;
	left6) echo "[$left6]:$port1" ;;
	right4) echo "$right4:$port2" ;;
	right6) echo "[$right6]:$port2" ;;
	esac
}

# public_key_is NS IFNAME PUBKEY
public_key_is() {
	local k
	k=$(ip netns exec "$1" wg show "$2" public-key) && [[ $k == "$3" ]] ||
		{ echo "$2's public key is '${k:-?}', want '$3'"; return 1; }
}

# Test that a fresh pair of daemons completes a handshake and carries IPv4
# and IPv6 both ways through the tunnel: with LEFT and with RIGHT as the
# initiator, over an IPv4 and an IPv6 underlay, with and without a preshared
# key. Each round restarts both daemons, so each handshake is the first.
first_round=1
for round in "LEFT 4 no" "RIGHT 6 yes" "LEFT 6 yes" "RIGHT 4 no"; do
	read -r initiator family with_psk <<<"$round"
	((first_round)) || stop_tunnels
	first_round=0
	start_tunnels
	psk=
	[[ $with_psk == yes ]] && psk=$TMP_DIR/psk
	configure_peers "$initiator" "$family" "$psk" "$psk"
	label="$initiator initiates, IPv$family underlay, $([[ -n $psk ]] && echo "with" || echo "no") PSK"
	if [[ $initiator == LEFT ]]; then
		nsi=$ns1 nsr=$ns2 ifr=$if2 pubi=$pub1 ip4i=10.0.0.1 ip4r=10.0.0.2 ip6i=fd00::1 ip6r=fd00::2
		epi=$(endpoint_of left "$family")
	else
		nsi=$ns2 nsr=$ns1 ifr=$if1 pubi=$pub2 ip4i=10.0.0.2 ip4r=10.0.0.1 ip6i=fd00::2 ip6r=fd00::1
		epi=$(endpoint_of right "$family")
	fi
	check_within 10 "$label: initiator pings $ip4r (IPv4 inside)" pings "$nsi" $ip4r
	check "$label: responder pings $ip4i back" pings "$nsr" $ip4i
	check_within 3 "$label: initiator pings $ip6r (IPv6 inside)" pings "$nsi" $ip6r
	check "$label: responder pings $ip6i back" pings "$nsr" $ip6i
	check "$label: LEFT shows a handshake with RIGHT" has_handshake "$ns1" "$if1" "$pub2"
	check "$label: RIGHT shows a handshake with LEFT" has_handshake "$ns2" "$if2" "$pub1"
	check "$label: responder learned the initiator's endpoint $epi" \
		endpoint_is "$nsr" "$ifr" "$pubi" "$epi"
done

# Test that `wg show transfer` counts both ways and grows with traffic: a
# 1000-byte ping adds at least 1000 bytes to each side's rx and tx.
check "transfer: LEFT counts rx and tx bytes" transfer_is_positive "$ns1" "$if1" "$pub2"
check "transfer: RIGHT counts rx and tx bytes" transfer_is_positive "$ns2" "$if2" "$pub1"
check_fastpath "$ns1" "$if1" "$LEFT" "LEFT"
check_fastpath "$ns2" "$if2" "$RIGHT" "RIGHT"
rx1=$(rx_bytes "$ns1" "$if1" "$pub2") tx1=$(tx_bytes "$ns1" "$if1" "$pub2")
rx2=$(rx_bytes "$ns2" "$if2" "$pub1") tx2=$(tx_bytes "$ns2" "$if2" "$pub1")
check "transfer: LEFT pings RIGHT with 1000 bytes" pings "$ns1" 10.0.0.2 -s 1000
check_within 3 "transfer: LEFT's tx grew" tx_grows_by "$ns1" "$if1" "$pub2" "$tx1" 1000
check_within 3 "transfer: LEFT's rx grew" rx_grows_by "$ns1" "$if1" "$pub2" "$rx1" 1000
check_within 3 "transfer: RIGHT's rx grew" rx_grows_by "$ns2" "$if2" "$pub1" "$rx2" 1000
check_within 3 "transfer: RIGHT's tx grew" tx_grows_by "$ns2" "$if2" "$pub1" "$tx2" 1000

# stats_dump IFNAME: SIGUSR1 to the xwgd serving IFNAME; waits until its
# log holds one more counter dump than before.
stats_dump() {
	local log=$LOG_DIR/$1.log before
	before=$(grep -c ' live indices, ' "$log" || true)
	kill -USR1 "${IMPL_PID[$1]}"
	wait_for 3 eval "((\$(grep -c ' live indices, ' '$log' || true) > $before))" ||
		{ echo "no counter dump in $log after SIGUSR1"; return 1; }
}

# last_dump IFNAME: the lines of the last counter dump in IFNAME's log.
last_dump() {
	awk '/ live indices, / { block = "" } { block = block $0 "\n" } END { printf "%s", block }' \
		"$LOG_DIR/$1.log"
}

# gso_carried IFNAME: after SIGUSR1, the log of the xwgd serving IFNAME
# says UDP GSO carried more datagrams than messages (each message joined
# several).
gso_carried() {
	local line
	stats_dump "$1" || return 1
	line=$(last_dump "$1" | grep 'UDP GSO: ' | tail -n 1)
	[[ $line =~ GSO:\ ([0-9]+)\ messages\ carried\ ([0-9]+)\ datagrams ]] ||
		{ echo "no 'UDP GSO:' line in the last counter dump of $1"; return 1; }
	((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > BASH_REMATCH[1])) ||
		{ echo "$line"; return 1; }
}

# offloads_carried IFNAME: the last counter dump of the xwgd serving IFNAME
# (XWG_OFFLOAD=on) says the stack handed it TCP super-packets that it cut
# into more segments, and that it wrote what it received into the stack
# with fewer writes than packets (GRO).
offloads_carried() {
	local line
	line=$(last_dump "$1" | grep 'offloads: ' | tail -n 1)
	[[ $line =~ offloads:\ ([0-9]+)\ super-packets\ from\ the\ stack\ cut\ into\ ([0-9]+)\ segments\;\ ([0-9]+)\ packets\ into\ the\ stack\ in\ ([0-9]+)\ writes ]] ||
		{ echo "no 'offloads:' line in the last counter dump of $1"; return 1; }
	((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > BASH_REMATCH[1] &&
		BASH_REMATCH[4] > 0 && BASH_REMATCH[3] > BASH_REMATCH[4])) ||
		{ echo "$line"; return 1; }
}

# no_offloads IFNAME: the last counter dump of the xwgd serving IFNAME has
# no 'offloads:' line (it runs without them).
no_offloads() {
	! last_dump "$1" | grep ' offloads: ' || return 1
}

# offload_state IFNAME: "on" or "off", as the xwgd serving IFNAME (the last
# one started for it) said when it started.
offload_state() {
	grep -oE ": offloads (on|off)" "$LOG_DIR/$1.log" | tail -n 1 | sed 's/.* //'
}

# rings_logged IFNAME: the last counter dump of the xwgd serving IFNAME
# shows AF_XDP wake-ups on its underlay's queue 0 (xdp_rx handed it data
# messages through AF_XDP) and none on a twin.
rings_logged() {
	local dump
	dump=$(last_dump "$1")
	grep -Eq 'underlay ring, queue 0: [1-9][0-9]* wake-ups found [0-9.]+ packets waiting' <<<"$dump" ||
		{ echo "no underlay ring wake-ups in the last counter dump of $1"; return 1; }
	! grep -q 'twin ring' <<<"$dump" || { echo "a twin ring in the dump of $1"; return 1; }
}

# no_rings_logged IFNAME: xwgd left the veth underlay alone (no xdp_rx: its
# log says why) and so has no AF_XDP ring to report; its TUN is the
# interface tc_tx runs on.
no_rings_logged() {
	local log=$LOG_DIR/$1.log
	grep -q "fast path of $1 loaded: tc_tx on $1 egress (TUN)" "$log" ||
		{ echo "no 'fast path of $1 loaded: tc_tx on $1 egress (TUN)' in $log"; return 1; }
	grep -q "no xdp_rx on veth[12]: a veth" "$log" ||
		{ echo "no 'no xdp_rx on vethN: a veth' in $log"; return 1; }
	! grep -q ' ring, queue ' "$log" || { grep ' ring, queue ' "$log" | tail -n 1; return 1; }
}

# Test that a bulk TCP transfer each way gets through (iperf3, 2 s, its
# receiver's byte count), and that xwgd sent it as UDP GSO messages of
# several datagrams each (XWG_UDP_GSO=on, the default).
# bulk_run FLAG...: a 2 s iperf3 TCP run from ns1 to RIGHT's inner address
# (-R: RIGHT sends); BULK_BYTES is what its receiver got (0: it failed).
bulk_run() {
	local srv=$TMP_DIR/iperf3-server.log
	bg_start "$srv" ip netns exec "$ns2" iperf3 -s -1 -p 5201 -B 10.0.0.2
	wait_for 5 grep -q "listening" "$srv" || true
	BULK_BYTES=$(ip netns exec "$ns1" timeout 15 iperf3 -c 10.0.0.2 -p 5201 -t 2 "$@" -J 2>/dev/null |
		jq -r '.end.sum_received.bytes // 0' 2>/dev/null) || BULK_BYTES=0
	bg_stop "$BG_PID"
}

# bulk_checks LABEL: a bulk transfer each way, then for each xwgd: UDP GSO
# carried it, the offloads did (XWG_OFFLOAD=on) or were off, and on its fast
# path the AF_XDP rings it reports are the ones its shape has.
bulk_checks() {
	local prefix=$1 side label impl ifname offload state
	bulk_run
	check "${prefix}bulk TCP from LEFT: the receiver got over 1 MB ($BULK_BYTES bytes)" test "${BULK_BYTES:-0}" -gt 1000000
	bulk_run -R
	check "${prefix}bulk TCP from RIGHT: the receiver got over 1 MB ($BULK_BYTES bytes)" test "${BULK_BYTES:-0}" -gt 1000000
	for side in "LEFT $LEFT $if1" "RIGHT $RIGHT $if2"; do
		read -r label impl ifname <<<"$side"
		impl_is_wireguard_go "$impl" && continue
		check "$prefix$label (xwgd) sent the bulk transfer as UDP GSO messages" gso_carried "$ifname"
		# XWG_OFFLOAD as given, or the daemon's default (which it says).
		offload=$(daemon_env_value "${IMPL_PID[$ifname]}" XWG_OFFLOAD)
		state=$(offload_state "$ifname")
		if [[ $(daemon_env_value "${IMPL_PID[$ifname]}" XWG_TUNNEL) == veth ]]; then
			check "$prefix$label (xwgd, XWG_TUNNEL=veth) runs without offloads" \
				eval "[[ ${state:-x} == off ]] && no_offloads $ifname"
		elif [[ -n $offload && $state != "$offload" ]]; then
			fail "$prefix$label (xwgd) runs with XWG_OFFLOAD=$offload" "it says offloads ${state:-nothing}"
		elif [[ $state == on ]]; then
			check "$prefix$label (xwgd, offloads on) cut TCP super-packets and wrote with GRO" \
				offloads_carried "$ifname"
		else
			check "$prefix$label (xwgd, offloads ${state:-unsaid}) ran without them" \
				eval "[[ ${state:-x} == off ]] && no_offloads $ifname"
		fi
		impl_wants_fastpath "$impl" || continue
		if [[ $(daemon_env_value "${IMPL_PID[$ifname]}" XWG_TUNNEL) == veth ]]; then
			# The earlier shape, kept to measure against: AF_XDP on the twin.
			check "$prefix$label (xwgd, XWG_TUNNEL=veth) logs the twin ring's wake-ups" \
				grep -Eq 'twin ring, queue 0: [1-9][0-9]* wake-ups found [0-9.]+ packets waiting' \
				"$LOG_DIR/$ifname.log"
		elif [[ -n $(daemon_env_value "${IMPL_PID[$ifname]}" XWG_XDP_IFACES) ]]; then
			check "$prefix$label (xwgd) logs the AF_XDP underlay ring's wake-ups" \
				rings_logged "$ifname"
		else
			check "$prefix$label (xwgd) runs no AF_XDP ring: no xdp_rx on its veth, tc_tx on its TUN" \
				no_rings_logged "$ifname"
		fi
	done
}
bulk_checks ""

# Test that RIGHT follows LEFT when LEFT's underlay address changes (roaming):
# after authenticated traffic from the new address, RIGHT's endpoint for LEFT
# is the new address and RIGHT's own traffic reaches LEFT there. IPv4, then
# IPv6.
n1 wg set "$if1" peer "$pub2" endpoint "$(endpoint_of right 4)"
check_within 10 "roaming: LEFT pings RIGHT over IPv4 from $left4" pings "$ns1" 10.0.0.2
check "roaming: RIGHT has LEFT at $left4:$port1" endpoint_is "$ns2" "$if2" "$pub1" "$left4:$port1"
addr_add "$ns1" veth1 192.0.2.11/24
ip -n "$ns1" addr del $left4/24 dev veth1
left4=192.0.2.11
if impl_is_wireguard_go "$LEFT"; then
	# Its sticky source address: sendmsg() from the deleted address fails
	# with ENETUNREACH and it retries without the source only on EINVAL.
	skip "roaming: LEFT gives up its deleted IPv4 source address by itself" \
		"wireguard-go 0.0.20220316 does not; setting its endpoint again instead"
	n1 wg set "$if1" peer "$pub2" endpoint "$(endpoint_of right 4)"
fi
check_within 10 "roaming: LEFT pings RIGHT from its new address $left4" pings "$ns1" 10.0.0.2
check "roaming: RIGHT's endpoint for LEFT follows to $left4:$port1" \
	endpoint_is "$ns2" "$if2" "$pub1" "$left4:$port1"
check "roaming: RIGHT pings LEFT at its new address" pings "$ns2" 10.0.0.1
n1 wg set "$if1" peer "$pub2" endpoint "$(endpoint_of right 6)"
check_within 10 "roaming: LEFT pings RIGHT over IPv6 from $left6" pings "$ns1" 10.0.0.2
check "roaming: RIGHT has LEFT at [$left6]:$port1" endpoint_is "$ns2" "$if2" "$pub1" "[$left6]:$port1"
addr_add "$ns1" veth1 2001:db8::11/64
ip -n "$ns1" addr del $left6/64 dev veth1
left6=2001:db8::11
check_within 10 "roaming: LEFT pings RIGHT from its new address $left6" pings "$ns1" 10.0.0.2
check "roaming: RIGHT's endpoint for LEFT follows to [$left6]:$port1" \
	endpoint_is "$ns2" "$if2" "$pub1" "[$left6]:$port1"
check "roaming: RIGHT pings LEFT at its new address" pings "$ns2" fd00::1

# Test that a persistent keepalive of 1 s on LEFT makes RIGHT receive while no
# data flows: at least three 32-byte keepalives within 6 s (a passive
# keepalive would be one, after 10 s).
n1 wg set "$if1" peer "$pub2" persistent-keepalive 1
check "keepalive: LEFT reports an interval of 1 s" \
	wg_peer_value_is "$ns1" "$if1" "$pub2" persistent-keepalive 1
rx2=$(rx_bytes "$ns2" "$if2" "$pub1")
check_within 6 "keepalive: RIGHT receives keepalives from LEFT with no data flowing" \
	rx_grows_by "$ns2" "$if2" "$pub1" "$rx2" 96
n1 wg set "$if1" peer "$pub2" persistent-keepalive off

# Test that `wg syncconf` with a configuration lacking LEFT removes LEFT from
# RIGHT while a ping from LEFT flows: the ping stops getting replies. Syncing
# the full configuration back restores the peer, with its endpoint, and the
# flowing ping gets replies again after RIGHT's new handshake.
n2 wg showconf "$if2" >"$TMP_DIR/right-full.conf"
conf_without_peer "$pub1" <"$TMP_DIR/right-full.conf" >"$TMP_DIR/right-nopeer.conf"
bg_start "$TMP_DIR/ping.log" ip netns exec "$ns1" ping -n -O -i 0.2 -W 1 10.0.0.2
ping_pid=$BG_PID
check_within 5 "syncconf: a ping from LEFT to RIGHT flows" ping_log_replies "$TMP_DIR/ping.log" 0 3
mark=$(wc -l <"$TMP_DIR/ping.log")
n2 wg syncconf "$if2" "$TMP_DIR/right-nopeer.conf"
check_not "syncconf: RIGHT no longer lists LEFT" has_peer "$ns2" "$if2" "$pub1"
check_within 5 "syncconf: the flowing ping gets no more replies" \
	ping_log_stalled "$TMP_DIR/ping.log" "$mark"
check "syncconf: RIGHT cannot reach LEFT" ping_gets_nothing "$ns2" 10.0.0.1
n2 wg syncconf "$if2" "$TMP_DIR/right-full.conf"
check "syncconf: RIGHT lists LEFT again" has_peer "$ns2" "$if2" "$pub1"
check_within 10 "syncconf: RIGHT pings LEFT again (new handshake)" pings "$ns2" 10.0.0.1
mark=$(wc -l <"$TMP_DIR/ping.log")
check_within 5 "syncconf: the flowing ping from LEFT gets replies again" \
	ping_log_replies "$TMP_DIR/ping.log" "$mark" 2
bg_stop "$ping_pid"

# Test that changing LEFT's private key, and replacing LEFT's old public key
# with the new one on RIGHT, leads to a new handshake and working pings.
wg genkey >"$TMP_DIR/key1b"
pub1b=$(wg pubkey <"$TMP_DIR/key1b")
n1 wg set "$if1" private-key "$TMP_DIR/key1b"
n2 wg set "$if2" peer "$pub1" remove \
	peer "$pub1b" allowed-ips 10.0.0.1/32,fd00::1/128 endpoint "$left4:$port1"
check "new key: LEFT reports its new public key" public_key_is "$ns1" "$if1" "$pub1b"
check_within 10 "new key: LEFT pings RIGHT" pings "$ns1" 10.0.0.2
check "new key: RIGHT shows a handshake with LEFT's new key" has_handshake "$ns2" "$if2" "$pub1b"
check "new key: RIGHT pings LEFT" pings "$ns2" fd00::1

# Test the AF_XDP receive path, which xwgd does not pick by itself on a
# veth: told to run xdp_rx on its veth underlay (XWG_XDP_IFACES), each xwgd
# on its fast path takes data messages through AF_XDP sockets there. Pings
# both ways, IPv4 and IPv6 inside, the programs where asked, a bulk
# transfer each way and the underlay ring's wake-ups in its counters.
forced=0
if impl_wants_fastpath "$LEFT"; then IMPL_ENV[$if1]="XWG_XDP_IFACES=veth1" forced=1; fi
if impl_wants_fastpath "$RIGHT"; then IMPL_ENV[$if2]="XWG_XDP_IFACES=veth2" forced=1; fi
if ((forced)); then
	stop_tunnels
	start_tunnels
	configure_peers LEFT 4 "$TMP_DIR/psk" "$TMP_DIR/psk"
	label="xdp_rx forced on the veth"
	check_within 10 "$label: LEFT pings 10.0.0.2 (IPv4 inside)" pings "$ns1" 10.0.0.2
	check "$label: RIGHT pings 10.0.0.1 back" pings "$ns2" 10.0.0.1
	check_within 3 "$label: LEFT pings fd00::2 (IPv6 inside)" pings "$ns1" fd00::2
	check "$label: RIGHT pings fd00::1 back" pings "$ns2" fd00::1
	check "$label: LEFT pings RIGHT with 1400 bytes" pings "$ns1" 10.0.0.2 -s 1372 -M "do"
	check_fastpath "$ns1" "$if1" "$LEFT" "$label: LEFT"
	check_fastpath "$ns2" "$if2" "$RIGHT" "$label: RIGHT"
	bulk_checks "$label: "
	IMPL_ENV=()
else
	skip "xdp_rx forced on the veth: pings, bulk TCP, AF_XDP rings" \
		"no xwgd runs its fast path in this pairing"
fi

# Test that a preshared key on only one side prevents the handshake: no
# reply, and neither side records a handshake.
stop_tunnels
start_tunnels
configure_peers LEFT 4 "$TMP_DIR/psk" ""
check "PSK mismatch: LEFT gets no reply from RIGHT" ping_gets_nothing "$ns1" 10.0.0.2
check "PSK mismatch: LEFT records no handshake" has_no_handshake "$ns1" "$if1" "$pub2"
check "PSK mismatch: RIGHT records no handshake" has_no_handshake "$ns2" "$if2" "$pub1"

# Test that each daemon exits by itself, and removes its socket, when its
# interface is deleted.
ip -n "$ns1" link del "$if1"
check "LEFT exits when its interface is deleted" impl_exits_within 5 "$if1"
ip -n "$ns2" link del "$if2"
check "RIGHT exits when its interface is deleted" impl_exits_within 5 "$if2"

report
