#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# xwgd under hostile traffic. An attacker A throws every class of bad packet
# that build/tools/wgstorm makes at the server S, one mode at a time, while a
# legitimate wireguard-go client C pings through its tunnel. Runs once (it
# does not read LEFT/RIGHT): the server is always $XWGD (default build/xwgd).
#
#   XWGD=build/xwgd selftests/hostile.sh
#
#  ┌─────────────────────────────┐    ┌─────────────────────────────────┐    ┌──────────────────────────┐
#  │ $ns2: C, legitimate clients │    │ $ns1: S, the server             │    │ $ns3: A, the attacker    │
#  │  $if2 wireguard-go          │    │  $if1 xwgd, UDP port 51820      │    │  wgstorm, one source     │
#  │   10.0.0.2/24               │    │   10.0.0.1/24 10.0.1.1/24       │    │  address per mode:       │
#  │  $if3 wireguard-go (C2,     │    │   peers: C, C2, W (wgstorm's    │    │   198.51.100.101-116     │
#  │   joins during the flood)   │    │   key, 10.0.0.66), and 7 with   │    │   2001:db8:a::102-115    │
#  │   10.0.1.3/24               │    │   low-order keys at .200        │    │   198.51.100.200 (the    │
#  │                             │    │                                 │    │   low-order "peers")     │
#  │  vethC 192.0.2.2/24 ────────┼────┼─ vethSC 192.0.2.1/24            │    │                          │
#  │                             │    │  vethSA 198.51.100.1/24 ────────┼────┼─ vethA                   │
#  │                             │    │         2001:db8:a::1/64        │    │                          │
#  └─────────────────────────────┘    └─────────────────────────────────┘    └──────────────────────────┘
#
# tcpdump on vethSA records every UDP datagram S sends towards A for the
# whole run; since each mode has its own source address, what S answered to
# each mode is counted afterwards by destination. xwgd's drop counters come
# from its log on SIGUSR1 ("dropped <reason>: N").

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping tcpdump wireguard-go timeout ethtool

echo "== hostile.sh: server $XWGD, client wireguard-go, attacker build/tools/wgstorm"
WGSTORM=${WGSTORM:-$REPO_ROOT/build/tools/wgstorm}
require_impls "$XWGD" wireguard-go
[[ -x $WGSTORM ]] || { fail "prerequisite" "$WGSTORM is missing (run make)"; exit 1; }

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
if3=$(tunnel_name 3)
port=51820
s4=198.51.100.1 s6=2001:db8:a::1
lowaddr=198.51.100.200
T0=$(_now_us)

umask 077
for k in s c c2 w; do
	wg genkey >"$TMP_DIR/key-$k"
	wg pubkey <"$TMP_DIR/key-$k" >"$TMP_DIR/pub-$k"
done
pub_s=$(<"$TMP_DIR/pub-s") pub_c=$(<"$TMP_DIR/pub-c")
pub_c2=$(<"$TMP_DIR/pub-c2") pub_w=$(<"$TMP_DIR/pub-w")
key_w=$(<"$TMP_DIR/key-w")

# The low-order points of Curve25519 (as in wgstorm.c), as wg(8) keys.
low_keys=()
for hex in \
	0000000000000000000000000000000000000000000000000000000000000000 \
	0100000000000000000000000000000000000000000000000000000000000000 \
	e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800 \
	5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157 \
	ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f \
	edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f \
	eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f; do
	bytes=""
	for ((i = 0; i < 64; i += 2)); do bytes+="\\x${hex:i:2}"; done
	low_keys+=("$(printf '%b' "$bytes" | base64)")
done

# ---------------------------------------------------------------------------
# Topology.

ns_create "$ns1" "$ns2" "$ns3"
veth_link "$ns2" vethC "$ns1" vethSC
veth_link "$ns1" vethSA "$ns3" vethA
addr_add "$ns2" vethC 192.0.2.2/24
addr_add "$ns1" vethSC 192.0.2.1/24
addr_add "$ns1" vethSA $s4/24 $s6/64
# The capture below counts datagrams, not GSO messages.
veth_counts_datagrams "$ns1" vethSA ||
	{ fail "prerequisite" "cannot turn off tx-udp-segmentation on vethSA"; exit 1; }
for i in $(seq 101 116) 200; do
	addr_add "$ns3" vethA "198.51.100.$i/24"
done
addr_add "$ns3" vethA 2001:db8:a::102/64 2001:db8:a::104/64 2001:db8:a::109/64 2001:db8:a::115/64

# The capture first, so it sees everything S sends towards A.
pcap=$TMP_DIR/toward-attacker.pcap
bg_start "$TMP_DIR/tcpdump.log" ip netns exec "$ns1" \
	tcpdump -i vethSA -Q out -nn -U -s 128 -B 16384 -Z root -w "$pcap" udp
tcpdump_pid=$BG_PID
wait_for 10 grep -q "listening on" "$TMP_DIR/tcpdump.log" ||
	{ fail "prerequisite" "tcpdump did not start: $(tail -n 1 "$TMP_DIR/tcpdump.log")"; exit 1; }

# On its fast path xwgd would not put xdp_rx on a veth by itself (its data
# messages would then all reach the UDP socket, as on the portable path):
# it is told to (XWG_XDP_IFACES), so that xdp_rx on vethSA, the attacker's
# side, meets every mode first and its own drop counters (xdp_rx_malformed,
# ...) are exercised. The first interface named gets the AF_XDP sockets:
# vethSC, so that C's data messages reach xwgd apart from the UDP socket
# the floods fill (W's, on vethSA, pass to that socket).
fastpath=0
if impl_wants_fastpath "$XWGD"; then
	fastpath=1
	IMPL_ENV[$if1]="XWG_XDP_IFACES=vethSC,vethSA"
fi
start_impl "$ns1" "$XWGD" "$if1"
spid=${IMPL_PID[$if1]}
slog=$LOG_DIR/$if1.log
start_impl "$ns2" wireguard-go "$if2"
start_impl "$ns2" wireguard-go "$if3"

n1 wg set "$if1" private-key "$TMP_DIR/key-s" listen-port $port \
	peer "$pub_c" allowed-ips 10.0.0.2/32 \
	peer "$pub_c2" allowed-ips 10.0.1.3/32 \
	peer "$pub_w" allowed-ips 10.0.0.66/32
addr_add "$ns1" "$if1" 10.0.0.1/24 10.0.1.1/24
ip -n "$ns1" link set "$if1" up
n2 wg set "$if2" private-key "$TMP_DIR/key-c" \
	peer "$pub_s" allowed-ips 10.0.0.0/24 endpoint 192.0.2.1:$port
addr_add "$ns2" "$if2" 10.0.0.2/24
ip -n "$ns2" link set "$if2" up
# C2 gets its peer (and so its first handshake) only during the flood.
n2 wg set "$if3" private-key "$TMP_DIR/key-c2" listen-port 10003
addr_add "$ns2" "$if3" 10.0.1.3/24
ip -n "$ns2" link set "$if3" up

# The low-order peers: each with an endpoint on A and a persistent
# keepalive, so xwgd would initiate to them at once if it could.
for i in "${!low_keys[@]}"; do
	n1 wg set "$if1" peer "${low_keys[i]}" allowed-ips "10.200.$i.0/24" \
		endpoint "$lowaddr:$((40000 + i))" persistent-keepalive 1
done
n1 ip route add 10.200.0.0/16 dev "$if1"

# ---------------------------------------------------------------------------
# Helpers.

# snapshot ARRAY: xwgd's counters (SIGUSR1) into the associative ARRAY:
# every "dropped REASON: N" as ARRAY[REASON], plus handshakes_sent,
# handshakes_received and cookies_sent. Two signals, so the block of the
# first is known to be complete when the header of the second appears.
_header_after() {
	awk -v m="$1" 'NR > m && /live indices/ { print NR; found = 1; exit } END { exit !found }' "$slog"
}
snapshot() {
	local -n _arr=$1
	local mark h1 h2
	_arr=()
	mark=$(wc -l <"$slog")
	kill -USR1 "$spid"
	wait_for 5 _header_after "$mark" || { echo "no counters from xwgd within 5 s"; return 1; }
	h1=$(_header_after "$mark")
	kill -USR1 "$spid"
	wait_for 5 _header_after "$h1" || { echo "no counters from xwgd within 5 s"; return 1; }
	h2=$(_header_after "$h1")
	while read -r k v; do
		_arr["$k"]=$v
	done < <(sed -n "${h1},$((h2 - 1))p" "$slog" | awk '
		/live indices/ {
			for (i = 1; i <= NF; i++) {
				if ($i == "sent" && $(i - 1) == "handshakes") print "handshakes_sent", $(i + 1) + 0
				if ($i == "received") print "handshakes_received", $(i + 1) + 0
				if ($i == "replies") print "cookies_sent", $(i + 2) + 0
			}
		}
		/dropped [a-z_]+: [0-9]+/ {
			for (i = 1; i <= NF; i++) if ($i == "dropped") { r = $(i + 1); sub(/:$/, "", r); print r, $(i + 2) }
		}')
}

# delta KEY: AFTER[KEY] - BEFORE[KEY].
delta() { echo $((${AFTER[$1]:-0} - ${BEFORE[$1]:-0})); }

# kernel_udp_drops: datagrams S's kernel dropped for a full socket buffer
# (IPv4 and IPv6), which xwgd never sees and so cannot count.
kernel_udp_drops() {
	# shellcheck disable=SC2016 # an awk program
	n1 awk '
		$1 == "Udp:" && !h { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1; next }
		$1 == "Udp:" && h { n += $c }
		$1 == "Udp6RcvbufErrors" { n += $2 }
		END { print n + 0 }' /proc/net/snmp /proc/net/snmp6
}

# wire_lengths ADDR: the UDP payload length of each datagram S sent to ADDR
# (pcap filters cannot look into UDP over IPv6: udp[8] is IPv4 only).
wire_lengths() {
	tcpdump -r "$pcap" -nn "dst host $1" 2>/dev/null | sed -n 's/.*length \([0-9]*\)$/\1/p'
}

# replies_to ADDR [FILTER]: datagrams S sent to ADDR (and FILTER).
replies_to() {
	tcpdump -r "$pcap" -nn "dst host $1${2:+ and ($2)}" 2>/dev/null | wc -l
}

# result KEY: a field of the last wgstorm run's RESULT line.
result() {
	sed -n 's/^RESULT //p' "$storm_out" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
# expected: the last run's EXPECT line as "reason count" lines.
expected() {
	sed -n 's/^EXPECT //p' "$storm_out" | tr ' ' '\n' | grep '=' | tr '=' ' ' || true
}

daemon_alive() {
	pid_is_alive "$spid" || { echo "xwgd (PID $spid) is gone; its log:"; tail -n 5 "$slog"; return 1; }
	timeout 1 ip netns exec "$ns1" wg show "$if1" >/dev/null ||
		{ echo "wg show $if1 did not answer within 1 s"; return 1; }
}

# check_memory DESC BEFORE AFTER: VmRSS grew by less than 2 MiB. Not under
# AddressSanitizer, whose quarantine keeps freed memory on purpose.
check_memory() {
	if grep -q libasan "/proc/$spid/maps" 2>/dev/null; then
		skip "$1 ($2 -> $3 KiB)" "xwgd runs under AddressSanitizer, which holds freed memory in quarantine"
	else
		check "$1 ($2 -> $3 KiB, < 2 MiB more)" eval "(($3 - $2 < 2048))"
	fi
}

# A ping through C's tunnel for about SECONDS (20 a second), in the
# background; ping_loss waits for it and prints "sent received".
ping_start() {
	bg_start "$TMP_DIR/ping.log" ip netns exec "$ns2" \
		ping -n -q -i 0.05 -W 2 -c $(($1 * 20)) 10.0.0.1
	ping_pid=$BG_PID
}
# ping_result: wait for it; sets ping_sent and ping_recv.
ping_result() {
	wait "$ping_pid" 2>/dev/null || true
	read -r ping_sent ping_recv < <(awk '/packets transmitted/ { print $1, $4 }' "$TMP_DIR/ping.log") ||
		{ ping_sent=0 ping_recv=0; }
}

# check_accounting MODE: every packet wgstorm sent landed in the reason it
# said (EXPECT), less what the kernel dropped before xwgd could read it,
# and no other reason grew.
reasons=(rx_too_short rx_bad_type rx_bad_length rx_bad_mac rx_ratelimited rx_handshake_failed
	rx_cookie_failed rx_unknown_index rx_decrypt_failed rx_replay rx_bad_inner_packet
	rx_source_not_allowed rx_truncated)
# On the fast path xdp_rx sorts out what it can before xwgd sees it, under
# its own reasons: there the sum over the expected reasons and these must
# match the sum expected.
xdp_reasons=(xdp_rx_malformed xdp_rx_bad_length xdp_rx_unknown_index)
check_accounting() {
	local mode=$1 r n d extra="" bad="" ok=1 want_sum=0 got_sum=0
	local -A want=()
	while read -r r n; do want[$r]=$n; done < <(expected)
	if ((fastpath)); then
		for r in "${!want[@]}"; do
			want_sum=$((want_sum + want[$r])) got_sum=$((got_sum + $(delta "$r")))
		done
		for r in "${xdp_reasons[@]}"; do got_sum=$((got_sum + $(delta "$r"))); done
		if ((got_sum > want_sum || got_sum < want_sum - kdrops)); then
			bad+=" in all +$got_sum (want $want_sum, kernel dropped $kdrops)"
			ok=0
		fi
		want=()
		for r in "${xdp_reasons[@]}"; do want[$r]=0; done
		while read -r r n; do want[$r]=0; done < <(expected)
	fi
	for r in "${!want[@]}"; do
		((fastpath)) && continue
		d=$(delta "$r")
		if ((d > want[$r] || d < want[$r] - kdrops)); then
			bad+=" $r +$d (want ${want[$r]}, kernel dropped $kdrops)"
			ok=0
		fi
	done
	for r in "${reasons[@]}"; do
		[[ -n ${want[$r]:-} ]] && continue
		d=$(delta "$r")
		((d == 0)) || { extra+=" $r +$d"; ok=0; }
	done
	if ((ok)); then
		pass "$mode: every packet is counted in its drop reason ($(expected | awk '{ printf "%s%s %s", s, $1, $2; s = ", " }'))"
	else
		fail "$mode: every packet is counted in its drop reason" "${bad:+wrong:$bad}${extra:+${bad:+;} unexpected:$extra}"
	fi
}

# storm MODE ADDR SECONDS [WGSTORM ARGS...]: run one mode from ADDR with a
# ping through C's tunnel alongside; leaves the counters in BEFORE/AFTER,
# kernel drops in $kdrops, ping numbers in $ping_sent/$ping_recv and the
# tool's output in $storm_out.
declare -A BEFORE=() AFTER=()
storm() {
	local mode=$1 addr=$2 secs=$3 target=$s4:$port k0 rc=0; shift 3
	[[ $addr == *:* ]] && target="[$s6]:$port"
	storm_out=$TMP_DIR/storm-$mode-$addr.out
	snapshot BEFORE
	k0=$(kernel_udp_drops)
	ping_start $((secs + 1))
	n3 "$WGSTORM" "$mode" --target "$target" --bind "$addr" --seconds "$secs" \
		--server-pub "$pub_s" "$@" >"$storm_out" 2>&1 || rc=$?
	ping_result
	snapshot AFTER
	kdrops=$(($(kernel_udp_drops) - k0))
	sed -n 's/^\(wgstorm\|selftest\)/  \1/p' "$storm_out"
	echo "  xwgd: cookie replies sent +$(delta cookies_sent), handshakes received +$(delta handshakes_received), kernel socket drops +$kdrops, C's ping $ping_recv/$ping_sent"
	if ((rc)); then
		fail "$mode: wgstorm ran" "exit status $rc: $(grep -v '^\(RESULT\|EXPECT\)' "$storm_out" | tail -n 1)"
	fi
}

# On the portable path C's data messages share xwgd's UDP socket with the
# flood: when the kernel dropped datagrams from that socket's full queue
# (xwgd fell behind), some of C's may be among them, and the loss is
# reported, not asserted. On the fast path they reach xwgd through AF_XDP
# on vethSC, apart from the socket, and must all arrive.
check_ping_lossless() {
	if [[ -n ${ping_sent:-} && $ping_sent -gt 0 && $ping_recv -eq $ping_sent ]]; then
		pass "$1: C's ping through the tunnel lost nothing ($ping_recv/$ping_sent)"
	elif ((!fastpath && ${kdrops:-0} > 0 && ${ping_recv:-0} > 0)); then
		pass "$1: C's tunnel kept working ($ping_recv/$ping_sent answered; the kernel dropped $kdrops datagrams from the UDP socket C's data shares on the portable path: loss reported, not asserted)"
	else
		fail "$1: C's ping through the tunnel lost nothing" "${ping_recv:-?} of ${ping_sent:-?} answered"
	fi
}

# no_reply_to MODE ADDR: S sent nothing at all to ADDR.
check_no_reply() {
	local n
	n=$(replies_to "$2")
	if ((n == 0)); then
		pass "$1: xwgd sent nothing back to the attacker"
	else
		fail "$1: xwgd sent nothing back to the attacker" "$n datagrams to $2: $(tcpdump -r "$pcap" -nn "dst host $2" 2>/dev/null | head -n 2 | tr '\n' ';')"
	fi
}

# check_only_cookies MODE ADDR: everything S sent to ADDR is a 64-byte
# cookie reply (type 3); prints how many.
check_only_cookies() {
	local all other
	all=$(replies_to "$2")
	other=$(replies_to "$2" "not (udp[8] = 3 and udp[4:2] = 72)")
	if ((other == 0)); then
		pass "$1: xwgd answered only with 64-byte cookie replies ($all)"
	else
		fail "$1: xwgd answered only with 64-byte cookie replies" "$other of $all datagrams to $2 are something else"
	fi
}

# check_session_replies MODE ADDR: a real session: S sent one handshake
# response (or as many as the tool received), the data replies the valid
# echoes asked for and nothing for the bad packets.
check_session_replies() {
	local mode=$1 addr=$2 resp data other want
	resp=$(replies_to "$addr" "udp[8] = 2")
	data=$(replies_to "$addr" "udp[8] = 4")
	other=$(replies_to "$addr" "not (udp[8] = 2 or udp[8] = 4 or (udp[8] = 3 and udp[4:2] = 72))")
	want=$(result expected_data_replies)
	if ((resp == $(result reply_resp) && resp >= 1 && data == want && other == 0 &&
		$(result echo_replies) == want)); then
		pass "$mode: xwgd answered only the authenticated packets ($resp response, $data data)"
	else
		fail "$mode: xwgd answered only the authenticated packets" \
			"$resp responses, $data data (want $want), $other other; wgstorm decrypted $(result echo_replies) echo replies"
	fi
}

# ---------------------------------------------------------------------------
# Test that the legitimate tunnel works before anything else, and that
# wgstorm's forged initiations are well-formed: the library's own responder
# accepts one made with honest DH results (so the low-order ones it refuses
# are refused for their key, not for a slip in the forgery).
check_within 10 "setup: C pings S through the tunnel" pings "$ns2" 10.0.0.1
check_fastpath "$ns1" "$if1" "$XWGD" "setup: xwgd (xdp_rx on vethSC and vethSA)"
if ((fastpath)); then
	check "setup: xwgd has AF_XDP sockets on vethSC" \
		grep -q 'fast path: xdp_rx on vethSC (.* XDP), [1-9][0-9]* AF_XDP socket(s)' "$slog"
fi
check "setup: xwgd lists the 7 low-order peers" \
	eval "(($(n1 wg show "$if1" peers | wc -l) == 10))"
check "setup: wgstorm selftest (forged initiations against noise.c)" "$WGSTORM" selftest
for i in "${!low_keys[@]}"; do
	n1 ping -q -c 1 -W 0.2 "10.200.$i.1" >/dev/null 2>&1 || true
done
# The memory baseline is taken once W's largest packets went through (from
# an address of their own, 198.51.100.116): the buffers the biggest
# datagrams, super-packets and AF_XDP frames need are in use by then, so
# what grows afterwards is not their first use.
echo "-- warm-up: big-data from 198.51.100.116 (as peer W), before the memory baseline"
storm big-data 198.51.100.116 2 --peer-key "$key_w"
check "warm-up: xwgd survives and wg show answers within 1 s" daemon_alive
rss_start=$(rss_kib "$spid")

# Test, for each mode: xwgd survives and its configuration socket answers;
# it sends nothing back to the attacker (or only what the mode allows);
# every packet lands in the drop reason the protocol says; C's ping through
# the tunnel loses nothing meanwhile.
# On the fast path, the modes xdp_rx sorts out itself must show in its own
# counter (the accounting above takes the sum over both kinds of reasons).
declare -A xdp_reason_of=([junk]=xdp_rx_malformed [truncated]=xdp_rx_bad_length
	[unknown-index]=xdp_rx_unknown_index)
run_plain_mode() {
	local mode=$1 addr=$2 secs=$3 r; shift 3
	echo "-- $mode from $addr"
	storm "$mode" "$addr" "$secs" "$@"
	check "$mode: xwgd survives and wg show answers within 1 s" daemon_alive
	check_no_reply "$mode" "$addr"
	check_accounting "$mode"
	r=${xdp_reason_of[$mode]:-}
	if ((fastpath)) && [[ -n $r ]]; then
		check "$mode: xdp_rx dropped them on vethSA ($r +$(delta "$r"))" eval "(($(delta "$r") > 0))"
	fi
	check_ping_lossless "$mode"
}

run_plain_mode junk 198.51.100.101 3
run_plain_mode truncated 198.51.100.102 3
run_plain_mode truncated 2001:db8:a::102 2
run_plain_mode unknown-index 198.51.100.103 3
run_plain_mode big 198.51.100.104 3
run_plain_mode big 2001:db8:a::104 2

# Test that low-order keys get nothing: initiations whose static key (or
# ephemeral key, from W's real key) is a low-order point are dropped without
# an answer, and meanwhile xwgd, asked to reach the low-order peers (pings
# into their allowed IPs, persistent keepalives), sends them nothing.
for i in "${!low_keys[@]}"; do
	n1 ping -q -c 2 -i 0.2 -W 0.2 "10.200.$i.1" >/dev/null 2>&1 || true
done &
lowping=$!
run_plain_mode lowkey 198.51.100.105 3 --peer-key "$key_w"
wait "$lowping" || true

# Test that a real peer (W, wgstorm with W's key) cannot get more out of xwgd
# than the protocol allows: replayed data messages (in the window, behind
# it, from another address) and its replayed initiation are dropped without
# an answer and do not move W's endpoint; data with a counter at or past
# REJECT_AFTER_MESSAGES or a bad tag is dropped; authenticated packets with
# a malformed inner packet or a source outside W's allowed IPs are dropped;
# only the valid echoes get replies, and the session survives all of it.
for mode in replay past-limit bad-inner; do
	extra=()
	case $mode in
	replay) addr=198.51.100.106 extra=(--alt-bind 198.51.100.113) ;;
	past-limit) addr=198.51.100.107 ;;
	bad-inner) addr=198.51.100.108 ;;
	esac
	echo "-- $mode from $addr (as peer W)"
	storm "$mode" "$addr" 2 --peer-key "$key_w" "${extra[@]}"
	check "$mode: xwgd survives and wg show answers within 1 s" daemon_alive
	check_session_replies "$mode" "$addr"
	check_accounting "$mode"
	check_ping_lossless "$mode"
	if [[ $mode == replay ]]; then
		check "replay: W's endpoint stays where its authenticated packets came from" \
			endpoint_is "$ns1" "$if1" "$pub_w" "$addr:$(result src_port)"
		check_no_reply "replay (second address)" 198.51.100.113
	fi
done

# Test that the largest authenticated packets get through: W sends ICMP
# echoes of 65475 bytes (the largest inner packet a 65507-byte UDP datagram
# holds; over IPv6, 65495) and around the tunnel's MTU; each is delivered
# and its echo reply, fragmented to the MTU, comes back; nothing is dropped.
for addr in 198.51.100.115 2001:db8:a::115; do
	echo "-- big-data from $addr (as peer W)"
	storm big-data "$addr" 2 --peer-key "$key_w"
	check "big-data: xwgd survives and wg show answers within 1 s" daemon_alive
	resp=$(wire_lengths "$addr" | grep -cx 92 || true)
	data=$(wire_lengths "$addr" | grep -vcx 92 || true)
	# A TUN takes in packets longer than its MTU; the fast path's earlier
	# shape (XWG_TUNNEL=veth) does not: there the three echoes past wg0's
	# MTU are dropped and counted.
	big_lost=0
	((fastpath)) && [[ $(daemon_env_value "$spid" XWG_TUNNEL) == veth ]] && big_lost=3
	if (($(delta rx_too_big_for_interface) != big_lost)); then
		fail "big-data: $big_lost echoes longer than the tunnel's MTU counted as rx_too_big_for_interface" \
			"+$(delta rx_too_big_for_interface), want $big_lost"
	else
		pass "big-data: $big_lost echoes longer than the tunnel's MTU counted as rx_too_big_for_interface"
	fi
	if ((resp == $(result reply_resp) && data == $(result reply_data) &&
		$(result echo_replies) == $(result echo_sent) - big_lost && $(result bad_data) == 0)); then
		pass "big-data: every echo up to $(result largest) bytes answered ($data data messages back)"
	else
		fail "big-data: every echo answered" "$(result echo_replies) of $(result echo_sent) echo replies; on the wire $resp responses, $data data (wgstorm decrypted $(result reply_data), $(result bad_data) unexpected)"
	fi
	check_accounting big-data
	check_ping_lossless big-data
done

# Test that a real peer initiating 400 times a second gets at most 50
# handshakes a second (whitepaper 5.1: initiations from one peer are
# consumed at most INITIATIONS_PER_SECOND a second); every other initiation
# is counted as rx_handshake_failed, and W still gets answers.
echo "-- init-flood from 198.51.100.114 (as peer W)"
storm init-flood 198.51.100.114 3 --peer-key "$key_w"
check "init-flood: xwgd survives and wg show answers within 1 s" daemon_alive
resp=$(replies_to 198.51.100.114 "udp[8] = 2") sent=$(result sent)
most=$(awk -v s="$(result flood_seconds)" 'BEGIN { printf "%d", 50 * s + 3 }')
if ((resp == $(result reply_resp) && resp <= most && resp >= 10 &&
	$(replies_to 198.51.100.114 "not udp[8] = 2") == 0)); then
	pass "init-flood: xwgd answered $resp of $sent initiations (at most $most allowed)"
else
	fail "init-flood: xwgd answers at most 50 initiations a second" \
		"$resp responses on the wire, wgstorm saw $(result reply_resp), want 10..$most of $sent"
fi
d=$(delta rx_handshake_failed) h=$(delta handshakes_received)
if ((h == resp && d <= sent - resp && d >= sent - resp - kdrops)); then
	pass "init-flood: every initiation not answered is counted (rx_handshake_failed +$d)"
else
	fail "init-flood: every initiation not answered is counted" \
		"rx_handshake_failed +$d, handshakes received +$h; $sent sent, $resp answered"
fi
check_ping_lossless init-flood

run_plain_mode random-init 198.51.100.109 3
run_plain_mode random-init 2001:db8:a::109 2

# flood_start ADDR SECONDS [WGSTORM ARGS...]: the counters, CPU time and
# memory before, C's ping, and wgstorm mac1-init in the background
# ($flood_pid); flood_end waits for it and takes the counters after.
flood_start() {
	local addr=$1 secs=$2; shift 2
	storm_out=$TMP_DIR/storm-mac1-init-$addr.out
	snapshot BEFORE
	k0=$(kernel_udp_drops)
	rss0=$(rss_kib "$spid")
	cpu0=$(cpu_ticks "$spid")
	t0=$(_now_us)
	ping_start $((secs + 1))
	bg_start "$storm_out" ip netns exec "$ns3" "$WGSTORM" mac1-init --target $s4:$port \
		--bind "$addr" --seconds "$secs" --server-pub "$pub_s" "$@"
	flood_pid=$BG_PID
}
flood_end() {
	local rc=0
	wait "$flood_pid" || rc=$?
	((rc == 0)) || fail "flood: wgstorm ran" "exit status $rc"
	t1=$(_now_us)
	cpu1=$(cpu_ticks "$spid")
	ping_result
	snapshot AFTER
	kdrops=$(($(kernel_udp_drops) - k0))
	rss1=$(rss_kib "$spid")
	cpu_pct=$(((cpu1 - cpu0) * 100 * 1000000 / $(getconf CLK_TCK) / (t1 - t0)))
	sed -n 's/^wgstorm/  wgstorm/p' "$storm_out"
	echo "  xwgd: cookie replies sent +$(delta cookies_sent), rx_handshake_failed" \
		"+$(delta rx_handshake_failed), kernel socket drops +$kdrops, CPU ${cpu_pct}% of one" \
		"core over $(((t1 - t0) / 1000)) ms, VmRSS $rss0 -> $rss1 KiB, C's ping $ping_recv/$ping_sent"
}
cookies_on_wire() { (($(replies_to "$1") > 0)); }

# The checks both flood phases make: xwgd alive, only (valid) cookie replies
# on the wire, every initiation a cookie reply or a Noise failure (C2's
# first initiation, answered with a cookie, comes on top), thousands of
# source ports, memory flat.
flood_checks() {
	local phase=$1 addr=$2 sent cookies hsfail
	sent=$(result sent) cookies=$(delta cookies_sent) hsfail=$(delta rx_handshake_failed)
	check "$phase: xwgd survives and wg show answers within 1 s" daemon_alive
	check_only_cookies "$phase" "$addr"
	check "$phase: wgstorm received cookie replies, and all open with S's key" \
		eval "(($(result reply_cookie_valid) > 0 && $(result reply_cookie_valid) == $(result reply_cookie)))"
	if ((cookies + hsfail <= sent + 4 && cookies + hsfail >= sent - kdrops)); then
		pass "$phase: every initiation is a cookie reply or rx_handshake_failed ($cookies + $hsfail of $sent, kernel dropped $kdrops)"
	else
		fail "$phase: every initiation is a cookie reply or rx_handshake_failed" \
			"$cookies + $hsfail, want $((sent - kdrops))..$((sent + 4)) ($sent sent, kernel dropped $kdrops)"
	fi
	check "$phase: the attacker used thousands of source ports ($(result ports))" \
		eval "(($(result ports) >= 1000))"
	check_memory "$phase: xwgd's memory does not grow (VmRSS)" "$rss0" "$rss1"
}

# Test the handshake flood at full speed: initiations with a valid mac1
# from thousands of source ports, as fast as wgstorm can. xwgd goes under
# load and answers only with cookie replies; its CPU stays within the
# machine's 2 cores; wg show answers within 1 s. Whatever xwgd cannot read
# in time the kernel drops from its socket queue (counted, and then C's ping
# loses some too: reported, asserted only when the kernel dropped nothing).
flood_addr=198.51.100.110
echo "-- mac1-init at full speed from $flood_addr for 6 s"
flood_start $flood_addr 6
check_within 5 "flood: xwgd goes under load (cookie replies on the wire)" cookies_on_wire $flood_addr
worst=0
for i in 1 2 3 4 5; do
	t=$(_now_us)
	if ! timeout 1 ip netns exec "$ns1" wg show "$if1" >/dev/null; then
		worst=-1
		break
	fi
	t=$((($(_now_us) - t) / 1000))
	((t > worst)) && worst=$t
	sleep 0.2
done
if ((worst >= 0 && worst < 1000)); then
	pass "flood: wg show answers within 1 s (slowest of 5: $worst ms)"
else
	fail "flood: wg show answers within 1 s" "a wg show took longer than 1 s"
fi
flood_end
flood_checks flood $flood_addr
check "flood: xwgd's CPU stays within 2 cores (${cpu_pct}% of one core)" eval "((cpu_pct <= 200))"
if ((ping_recv == ping_sent && ping_sent > 0)); then
	pass "flood: C's ping through the tunnel lost nothing ($ping_recv/$ping_sent)"
elif ((kdrops > 0 && ping_recv > 0)); then
	pass "flood: C's tunnel kept working ($ping_recv/$ping_sent answered: xwgd fell behind, the kernel dropped $kdrops datagrams; loss reported, not asserted)"
else
	fail "flood: C's ping through the tunnel lost nothing" "$ping_recv of $ping_sent answered, kernel dropped $kdrops"
fi
check "flood: C still pings S after the flood" pings "$ns2" 10.0.0.1

# Test that a new legitimate client gets in during a sustained flood (at
# 20000 initiations a second, 40 times the load threshold, a rate xwgd
# keeps up with): C2, configured only now, gets a cookie reply for its
# first initiation and completes the handshake with the next one (wireguard-go
# retries after REKEY_TIMEOUT, 5 s) while the flood goes on; C's ping loses
# nothing meanwhile.
flood_addr=198.51.100.112
echo "-- mac1-init at 20000/s from $flood_addr for 12 s, C2 joins"
flood_start $flood_addr 12 --rate 20000
check_within 5 "sustained flood: xwgd goes under load (cookie replies on the wire)" \
	cookies_on_wire $flood_addr
c2_start=$(_now_us)
n2 wg set "$if3" peer "$pub_s" allowed-ips 10.0.1.0/24 endpoint 192.0.2.1:$port
check_within 9 "sustained flood: a new client (C2) completes a handshake and pings S" \
	pings "$ns2" 10.0.1.1
echo "  C2's first ping answered $((($(_now_us) - c2_start) / 1000)) ms after it was configured"
check "sustained flood: C2 got in through a cookie reply (its log)" \
	grep -q "Receiving cookie response" "$LOG_DIR/$if3.log"
check "sustained flood: the flood was still running when C2 got in" pid_is_alive "$flood_pid"
flood_end
flood_checks "sustained flood" $flood_addr
check_ping_lossless "sustained flood"
check "sustained flood: the kernel dropped nothing before xwgd read it" eval "((kdrops == 0))"

# Test that a source holding a valid cookie is rate-limited: initiations
# with a valid mac1 and mac2 from one address mostly land in rx_ratelimited
# (the kernel's limit: 20 a second, burst 5, per source address), and get
# no cookie reply (they have a valid mac2).
echo "-- mac2-init (flood with a valid cookie) from 198.51.100.111"
storm mac2-init 198.51.100.111 3
check "mac2-init: xwgd survives and wg show answers within 1 s" daemon_alive
check_only_cookies mac2-init 198.51.100.111
mac2_sent=$(result mac2_sent) prime=$(result prime_sent)
mac2_secs=$(result mac2_seconds)
allowed=$(awk -v s="$mac2_secs" 'BEGIN { printf "%d", 20 * s + 5 + 20 }')
rl=$(delta rx_ratelimited) hsfail=$(delta rx_handshake_failed) cookies=$(delta cookies_sent)
echo "  mac2 phase: $mac2_sent sent in $mac2_secs s; rx_ratelimited +$rl, rx_handshake_failed +$hsfail, cookie replies +$cookies (priming: $prime)"
check "mac2-init: wgstorm got a cookie, and none for its valid-mac2 initiations" \
	eval "(($mac2_sent > 0 && $(result cookies_to_mac2_source) == 0))"
check "mac2-init: all but the rate ($allowed at most) are rx_ratelimited" \
	eval "((rl >= mac2_sent - allowed - kdrops && rl <= mac2_sent))"
if ((rl + hsfail + cookies <= prime + mac2_sent && rl + hsfail + cookies >= prime + mac2_sent - kdrops)); then
	pass "mac2-init: every initiation is counted (ratelimited, handshake failed or cookie reply)"
else
	fail "mac2-init: every initiation is counted" \
		"$rl + $hsfail + $cookies, want $((prime + mac2_sent - kdrops))..$((prime + mac2_sent))"
fi
check_ping_lossless mac2-init

# ---------------------------------------------------------------------------
# Test, over the whole run, that nothing ever left xwgd towards the
# low-order peers, and that the modes that must get no answer got none, late
# ones included (timers fire after the storm).
check "low-order peers: xwgd sent nothing towards them in the whole run" \
	eval "(($(replies_to $lowaddr) == 0))"
for i in "${!low_keys[@]}"; do
	tx=$(tx_bytes "$ns1" "$if1" "${low_keys[i]}")
	((tx == 0)) || fail "low-order peer $i: tx bytes 0" "wg show reports $tx"
done
late=0
for a in 198.51.100.101 198.51.100.102 198.51.100.103 198.51.100.104 198.51.100.105 \
	198.51.100.109 198.51.100.113 2001:db8:a::102 2001:db8:a::109; do
	late=$((late + $(replies_to $a)))
done
check "whole run: nothing at all went to the unauthenticated modes' addresses" eval "((late == 0))"
check "whole run: C still pings S" pings "$ns2" 10.0.0.1
rss_end=$(rss_kib "$spid")
echo "  xwgd VmRSS at the end: $rss_end KiB (at start: $rss_start KiB)"
check_memory "whole run: xwgd's memory does not grow (VmRSS)" "$rss_start" "$rss_end"
bg_stop "$tcpdump_pid"
grep -E "captured|dropped by kernel" "$TMP_DIR/tcpdump.log" | sed 's/^/  tcpdump: /'
check "xwgd exits cleanly on SIGTERM" stop_impl "$if1"
echo "  xwgd's final counters:"
grep -E "live indices|dropped " "$slog" | tail -n 20 | sed 's/^.*INFO: [0-9/]* [0-9:]*: /    /' |
	awk '/live indices/ { block = "" } { block = block $0 "\n" } END { printf "%s", block }'
echo "  hostile.sh took $((($(_now_us) - T0) / 1000000)) s"

report
