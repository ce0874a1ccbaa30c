#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# xwgd under valgrind (memcheck) through a session that allocates and frees
# everything a daemon does: a handshake and traffic with wireguard-go, 200
# peers added and removed with allowed IPs (some with an endpoint, a
# persistent keepalive and a staged packet), `wg setconf` replacing all
# peers a few times, a private-key change and a new handshake, with a
# reader of the event stream connected throughout. After
# SIGTERM valgrind must report no error and no definitely or indirectly
# lost block (--errors-for-leak-kinds=definite,indirect --error-exitcode=9).
# About a minute.
#
#   XWGD=build/xwgd selftests/leaks.sh   (the default; runs once in run.sh)
#
#  ┌──────────────────────────────────┐      ┌──────────────────────────────────┐
#  │ $ns1                             │      │ $ns2                             │
#  │  $if1: valgrind xwgd -f          │      │  $if2: wireguard-go -f           │
#  │  10.0.0.1/24  listen port 10001  │      │  10.0.0.2/24  listen port 10002  │
#  │  veth1 192.0.2.1/24 ─────────────┼──────┼── veth2 192.0.2.2/24             │
#  └──────────────────────────────────┘      └──────────────────────────────────┘

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Valgrind cannot see what the bpf() syscall writes, so it would report the
# fast path's map reads as uninitialised: the leak hunt runs on the portable
# path (the fast path's peer add/remove churn is in fastpath_sync.sh).
export XWG_DATAPATH=portable
require ip wg ping valgrind

echo "== leaks.sh: XWGD=$XWGD"
xwgd_exe=$(impl_path "$XWGD") && impl_path "$WGGO" >/dev/null ||
	{ fail "prerequisite" "$XWGD or $WGGO cannot be run"; exit 1; }

ITERATIONS=200
# Valgrind runs xwgd some 20 to 50 times slower: generous deadlines.
SLOW=60

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
vg_log=$LOG_DIR/valgrind.log
xwgd_log=$LOG_DIR/$if1.log

umask 077
for k in key1 key1b key2; do wg genkey >"$TMP_DIR/$k"; done
wg genpsk >"$TMP_DIR/psk"
pub1=$(wg pubkey <"$TMP_DIR/key1")
pub1b=$(wg pubkey <"$TMP_DIR/key1b")
pub2=$(wg pubkey <"$TMP_DIR/key2")
# Peers that exist only to be added and removed (public keys; the private
# halves are never needed).
fake=()
for i in $(seq 0 19); do fake[i]=$(wg genkey | wg pubkey); done

veth_underlay

# ---------------------------------------------------------------------------
# valgrind_start / valgrind_stop: xwgd -f under memcheck, with the deadlines
# valgrind needs (start_impl and stop_impl allow 10 and 5 s).

valgrind_start() {
	echo "--- $(date +%T) valgrind $xwgd_exe -f $if1 in $ns1" >>"$xwgd_log"
	track_ifname "$if1"
	# shellcheck disable=SC2046 # impl_env is a list of words on purpose
	ip netns exec "$ns1" env $(impl_env) XWG_THREADS=2 \
		valgrind --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
		--track-fds=no --log-file="$vg_log" \
		"$xwgd_exe" -f "$if1" >>"$xwgd_log" 2>&1 &
	VG_PID=$!
	_pids+=("$VG_PID")
	_impl_exited=0
	if ! wait_for $SLOW _impl_is_ready "$ns1" "$if1" "$VG_PID" || ((_impl_exited)); then
		fail "valgrind xwgd -f $if1 comes up" "see its log:"
		tail -n 5 "$xwgd_log" "$vg_log" | sed 's/^/    /'
		exit 1
	fi
	pass "valgrind xwgd -f $if1 comes up"
}

# valgrind_stop: SIGTERM, then wait; VG_STATUS is the exit status.
valgrind_stop() {
	kill -TERM "$VG_PID"
	if ! wait_for $SLOW eval "! pid_is_alive $VG_PID"; then
		echo "valgrind xwgd ignored SIGTERM for $SLOW s"
		return 1
	fi
	VG_STATUS=0
	wait "$VG_PID" || VG_STATUS=$?
}

# vg_status_is_zero: valgrind exited with 0 (9 means errors or leaks).
vg_status_is_zero() {
	((VG_STATUS == 0)) || { echo "exit status $VG_STATUS"; return 1; }
}

# vg_leak_is_zero KIND: valgrind's leak summary has "KIND: 0 bytes in 0
# blocks" (KIND: definitely lost, indirectly lost), or no leak was possible.
vg_leak_is_zero() {
	grep -q "All heap blocks were freed -- no leaks are possible" "$vg_log" ||
		grep -qE "$1: 0 bytes in 0 blocks" "$vg_log" ||
		{ grep -E "$1:" "$vg_log"; return 1; }
}

# ---------------------------------------------------------------------------

valgrind_start
# The event stream's lines are made, staged and freed throughout.
bg_start "$TMP_DIR/events.log" "$xwgd_exe" --events "$if1"
events_pid=$BG_PID
check_within $SLOW "an event reader is connected" grep -q '"subscribed"' "$TMP_DIR/events.log"
start_impl "$ns2" "$WGGO" "$if2"
n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port 10001 \
	peer "$pub2" preshared-key "$TMP_DIR/psk" allowed-ips 10.0.0.2/32 endpoint 192.0.2.2:10002
n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port 10002 \
	peer "$pub1" preshared-key "$TMP_DIR/psk" allowed-ips 10.0.0.1/32 endpoint 192.0.2.1:10001
addr_add "$ns1" "$if1" 10.0.0.1/24
addr_add "$ns2" "$if2" 10.0.0.2/24
ip -n "$ns1" link set "$if1" up
ip -n "$ns2" link set "$if2" up
# The made-up peers' prefixes go into the tunnel too.
ip -n "$ns1" route add 10.1.0.0/16 dev "$if1"
ip -n "$ns1" route add 10.3.0.0/16 dev "$if1"

# Test that the tunnel works under valgrind.
check_within $SLOW "xwgd (valgrind) pings wireguard-go" pings "$ns1" 10.0.0.2 -W 5
check_within 10 "wireguard-go pings xwgd (valgrind)" pings "$ns2" 10.0.0.1 -W 5
n1 ping -q -n -c 20 -i 0.05 -W 5 10.0.0.2 >/dev/null || true

# Test adding and removing peers with allowed IPs, ITERATIONS times. Every
# tenth peer also gets an endpoint, a persistent keepalive and a packet to
# stage, so that handshake state, timers and the staged queue are freed with
# it.
wg_out=$TMP_DIR/wg-set.out
: >"$wg_out"
add_remove_ok=1
for ((i = 0; i < ITERATIONS; i++)); do
	k=${fake[i % 20]}
	a=$((i / 250)) b=$((i % 250 + 1))
	args=(peer "$k" allowed-ips "10.1.$a.$b/32,10.2.$a.0/24,fd01::$a:$b/128")
	if ((i % 10 == 0)); then
		args+=(endpoint "192.0.2.$((100 + i % 50)):51820" persistent-keepalive 1)
	fi
	if ! n1 wg set "$if1" "${args[@]}" >"$wg_out" 2>&1; then
		add_remove_ok=0
		break
	fi
	if ((i % 10 == 0)); then
		n1 ping -q -n -c 1 -W 0.01 "10.1.$a.$b" >/dev/null 2>&1 || true
	fi
	if ! n1 wg set "$if1" peer "$k" remove >"$wg_out" 2>&1; then
		add_remove_ok=0
		break
	fi
done
if ((add_remove_ok)); then
	pass "$ITERATIONS peers added and removed"
else
	fail "$ITERATIONS peers added and removed" "iteration $i: $(tail -n 1 "$wg_out")"
fi
check "only wireguard-go is left as a peer" \
	eval "[[ \$(n1 wg show $if1 peers) == '$pub2' ]]"

# Test `wg setconf` replacing everything: three different sets of 20 peers,
# then the real configuration back.
write_conf() {
	local first=$1 n=$2 i
	printf '[Interface]\nPrivateKey = %s\nListenPort = 10001\n' "$(cat "$TMP_DIR/key1")"
	for ((i = first; i < first + n; i++)); do
		printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.3.%d.0/24, fd03::%d:0/112\n' \
			"${fake[i % 20]}" "$i" "$i"
		((i % 3)) || printf 'Endpoint = 192.0.2.%d:51820\nPersistentKeepalive = 2\n' $((150 + i))
	done
}
n1 wg showconf "$if1" >"$TMP_DIR/real.conf"
setconf_ok=1
for round in 0 1 2; do
	write_conf $((round * 7)) 20 >"$TMP_DIR/round$round.conf"
	n1 wg setconf "$if1" "$TMP_DIR/round$round.conf" >"$wg_out" 2>&1 || setconf_ok=0
	n1 ping -q -n -c 1 -W 0.01 "10.3.$((round * 7)).1" >/dev/null 2>&1 || true
done
if ((setconf_ok)); then pass "wg setconf replaces all peers three times"; else
	fail "wg setconf replaces all peers three times" "$(tail -n 1 "$wg_out")"; fi
check "20 peers after the last setconf" eval "(( \$(n1 wg show $if1 peers | wc -l) == 20 ))"
check "wg setconf puts the real configuration back" n1 wg setconf "$if1" "$TMP_DIR/real.conf"
check_within $SLOW "xwgd (valgrind) pings wireguard-go again" pings "$ns1" 10.0.0.2 -W 5

# Test a private-key change: the old sessions go, a new handshake comes.
n1 wg set "$if1" private-key "$TMP_DIR/key1b"
n2 wg set "$if2" peer "$pub1" remove
n2 wg set "$if2" peer "$pub1b" preshared-key "$TMP_DIR/psk" allowed-ips 10.0.0.1/32 \
	endpoint 192.0.2.1:10001
check_within $SLOW "xwgd (valgrind) pings wireguard-go with its new key" pings "$ns1" 10.0.0.2 -W 5

# Test that valgrind finds nothing once xwgd exits.
check "xwgd (valgrind) exits on SIGTERM" valgrind_stop
check_within 5 "the event reader exits with xwgd" eval "! pid_is_alive $events_pid"
check "the event reader saw the peers come and go and the handshakes" \
	eval "grep -q '\"peer_removed\"' '$TMP_DIR/events.log' &&
	      grep -q '\"session_expired\",.*\"private_key_changed\"' '$TMP_DIR/events.log' &&
	      (( \$(grep -c '\"handshake_completed\"' '$TMP_DIR/events.log') >= 2 ))"
check "valgrind's exit status is 0 (9: errors or leaks)" vg_status_is_zero
check "valgrind: ERROR SUMMARY: 0 errors" grep -q "ERROR SUMMARY: 0 errors" "$vg_log"
check "valgrind: nothing definitely lost" vg_leak_is_zero "definitely lost"
check "valgrind: nothing indirectly lost" vg_leak_is_zero "indirectly lost"
check "its socket is removed" test ! -e "$WG_RUN_DIR/$if1.sock"
check_not "its interface is removed" ip -n "$ns1" link show dev "$if1"
if grep -q "cannot lock memory" "$xwgd_log"; then
	echo "note: under valgrind: $(grep -m1 -o 'cannot lock memory.*' "$xwgd_log")"
fi
if grep -qiE "unhandled|unsupported|unrecognised" "$vg_log"; then
	echo "note: valgrind says:"
	grep -iE "unhandled|unsupported|unrecognised" "$vg_log" | sort -u | sed 's/^/    /'
fi
# For the record, the summary lines.
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|no leaks are possible" \
	"$vg_log" | sed 's/^==[0-9]*== /    /'
if ((FAILED)); then
	echo "valgrind's report:"
	sed 's/^/    /' "$vg_log" | tail -n 60
fi

check "wireguard-go exits cleanly on SIGTERM" stop_impl "$if2"

report
