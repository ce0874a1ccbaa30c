#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# What a crash leaves behind and how xwgd comes back from it, how it guards
# the keys it holds, and that it never logs them:
#
#   - `kill -9` of `xwgd -f` with a working tunnel: the TUN interface goes
#     away with the process (its fd closes), a stale socket file stays in
#     /var/run/wireguard; a new `xwgd -f` replaces that socket and, once
#     given the same configuration (`wg setconf`), carries traffic again
#     after wireguard-go re-handshakes with it;
#   - the same under wg-quick: `kill -9` of the detached daemon, `wg-quick
#     down` leaves nothing behind, `wg-quick up` works again;
#   - the daemon is not dumpable (no core dumps, no ptrace by others) and
#     its memory is locked (VmLck), in the foreground and detached;
#   - LOG_LEVEL=debug through handshakes, traffic, a preshared-key and a
#     private-key change and a peer removal: no private key and no
#     preshared key appears in the log, in base64 or hex.
#
#   XWGD=build/xwgd selftests/restart.sh   (the default; runs once in run.sh)
#
#  ┌──────────────────────────────────┐      ┌──────────────────────────────────┐
#  │ $ns1                             │      │ $ns2                             │
#  │  $if1: xwgd (-f, then wg-quick)  │      │  $if2: wireguard-go -f           │
#  │  10.0.0.1/24  listen port 10001  │      │  10.0.0.2/24  listen port 10002  │
#  │  $if3: xwgd without              │      │                                  │
#  │   CAP_SYS_PTRACE (dumpable probe)│      │                                  │
#  │  veth1 192.0.2.1/24 ─────────────┼──────┼── veth2 192.0.2.2/24             │
#  └──────────────────────────────────┘      └──────────────────────────────────┘

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping wg-quick setpriv od base64

# Every daemon of this test logs at the most verbose level: the secret
# check below reads xwgd's log.
impl_env() {
	echo WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 LOG_LEVEL=debug
}

echo "== restart.sh: XWGD=$XWGD"
xwgd_exe=$(impl_path "$XWGD") && impl_path "$WGGO" >/dev/null ||
	{ fail "prerequisite" "$XWGD or $WGGO cannot be run"; exit 1; }

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
if3=$(tunnel_name 3)
sock1=$WG_RUN_DIR/$if1.sock
log1=$LOG_DIR/$if1.log

umask 077
for k in key1 key1b key2 key3; do wg genkey >"$TMP_DIR/$k"; done
wg genpsk >"$TMP_DIR/psk"
wg genpsk >"$TMP_DIR/psk2"
pub1=$(wg pubkey <"$TMP_DIR/key1")
pub1b=$(wg pubkey <"$TMP_DIR/key1b")
pub2=$(wg pubkey <"$TMP_DIR/key2")

veth_underlay

# ---------------------------------------------------------------------------
# Helpers.

# left_inner_up: LEFT's inner address and link (a new TUN device has neither).
left_inner_up() {
	addr_add "$ns1" "$if1" 10.0.0.1/24
	ip -n "$ns1" link set "$if1" up
}

# uapi_socket_owner NS IFNAME: the PID of the process in NS listening on
# IFNAME's configuration socket: the socket's inode from NS's
# /proc/net/unix, then the process of NS holding an fd on it.
uapi_socket_owner() {
	local ns=$1 path=$WG_RUN_DIR/$2.sock inode pid fd
	inode=$(ip netns exec "$ns" awk -v p="$path" '$8 == p && $6 == "01" { print $7; exit }' \
		/proc/net/unix)
	[[ -n $inode ]] || { echo "no listening socket $path in $ns"; return 1; }
	for pid in $(ip netns pids "$ns"); do
		for fd in /proc/"$pid"/fd/*; do
			if [[ $(readlink "$fd" 2>/dev/null) == "socket:[$inode]" ]]; then
				echo "$pid"
				return 0
			fi
		done
	done
	echo "no process in $ns holds socket inode $inode ($path)"
	return 1
}

# memory_is_locked PID: VmLck in /proc/PID/status is above 0 kB.
memory_is_locked() {
	local kb
	kb=$(awk '$1 == "VmLck:" { print $2 }' "/proc/$1/status") && ((kb > 0)) ||
		{ echo "VmLck of PID $1 is '${kb:-?}' kB"; return 1; }
}

# Dumpability is not shown in /proc/PID/status. The kernel's test for
# reading /proc/PID/exe (ptrace_may_access, PTRACE_MODE_READ) lets a
# process of the same uid and with at least the target's capabilities in,
# unless the target is not dumpable, in which case it also wants
# CAP_SYS_PTRACE. So a probe without CAP_SYS_PTRACE, looking at a daemon
# started without it too, can read the link exactly when the daemon is
# dumpable; a `sleep` started the same way shows that the probe works.
noptrace=(setpriv --inh-caps=-sys_ptrace --bounding-set=-sys_ptrace)
noptrace_xwgd=$TMP_DIR/xwgd-without-cap-sys-ptrace
printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${noptrace[*]}" "$xwgd_exe" >"$noptrace_xwgd"
chmod 700 "$noptrace_xwgd"

# exe_is_readable_without_ptrace PID
exe_is_readable_without_ptrace() { "${noptrace[@]}" readlink "/proc/$1/exe"; }

# clock_passes SECONDS: the wall clock is past SECONDS (epoch), so that a
# handshake from now on has a later `latest-handshake` than one at SECONDS.
clock_passes() { (($(date +%s) > $1)); }

# handshake_after NS IFNAME PUBKEY SECONDS: the latest handshake with the
# peer is later than SECONDS.
handshake_after() {
	local t
	t=$(latest_handshake "$1" "$2" "$3") && ((t > $4)) ||
		{ echo "latest handshake with ${3:0:8}... on $2 is '${t:-none}', want > $4"; return 1; }
}

# replaced_and_serving NS IFNAME PID: PID runs, its interface exists, it
# holds the listening socket bound to IFNAME's socket path (so the stale
# file is gone: the inode number alone does not tell, ext4 reuses it) and
# it answers `wg show`. wg(8) removes a socket file that refuses
# connections, so it is asked only once PID is known to listen.
replaced_and_serving() {
	local ns=$1 ifname=$2 pid=$3 owner
	pid_is_alive "$pid" || { echo "PID $pid exited"; return 1; }
	ip -n "$ns" link show dev "$ifname" >/dev/null || return 1
	owner=$(uapi_socket_owner "$ns" "$ifname") || { echo "$owner"; return 1; }
	[[ $owner == "$pid" ]] || { echo "the socket is held by PID $owner, not $pid"; return 1; }
	ip netns exec "$ns" wg show "$ifname" >/dev/null
}

# socket_refuses PATH: connecting to the socket file is refused (no wg(8):
# it would remove the file). Needs python3.
socket_refuses() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except ConnectionRefusedError:
    sys.exit(0)
print("connected")
sys.exit(1)' "$1"
}

# no_process_in NS: nothing runs in NS.
no_process_in() {
	local pids
	pids=$(ip netns pids "$1") && [[ -z $pids ]] ||
		{ echo "still running in $1: ${pids//$'\n'/ }"; return 1; }
}

# ---------------------------------------------------------------------------
# A working tunnel: xwgd -f in ns1, wireguard-go -f in ns2. On its fast path
# xwgd is told to run xdp_rx (with AF_XDP) on veth1, which it would not pick
# by itself (a veth): then kill -9 has XDP and TC programs to leave behind.

if impl_wants_fastpath "$XWGD"; then IMPL_ENV[$if1]="XWG_XDP_IFACES=veth1"; fi
start_impl "$ns1" "$XWGD" "$if1"
start_impl "$ns2" "$WGGO" "$if2"
n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port 10001 \
	peer "$pub2" preshared-key "$TMP_DIR/psk" allowed-ips 10.0.0.2/32 endpoint 192.0.2.2:10002
n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port 10002 \
	peer "$pub1" preshared-key "$TMP_DIR/psk" allowed-ips 10.0.0.1/32 endpoint 192.0.2.1:10001
left_inner_up
addr_add "$ns2" "$if2" 10.0.0.2/24
ip -n "$ns2" link set "$if2" up

check_within 10 "xwgd pings wireguard-go through the tunnel" pings "$ns1" 10.0.0.2
check "wireguard-go pings xwgd" pings "$ns2" 10.0.0.1
check_fastpath "$ns1" "$if1" "$XWGD" "xwgd (xdp_rx on veth1)"

# Test that the daemon locks its memory and is not dumpable, in the
# foreground and detached.
check "xwgd -f has locked memory (VmLck > 0)" memory_is_locked "${IMPL_PID[$if1]}"
bg_start "$LOG_DIR/control-sleep.log" "${noptrace[@]}" sleep 600
control=$BG_PID
if ! wait_for 3 exe_is_readable_without_ptrace "$control"; then
	skip "xwgd is not dumpable" "the probe cannot read /proc/PID/exe of a dumpable process either"
else
	start_impl "$ns1" "$noptrace_xwgd" "$if3"
	check_not "xwgd -f is not dumpable (/proc/PID/exe closed to a probe without CAP_SYS_PTRACE)" \
		exe_is_readable_without_ptrace "${IMPL_PID[$if3]}"
	check "xwgd -f (without CAP_SYS_PTRACE) exits cleanly on SIGTERM" stop_impl "$if3"
	# Detached: the process that serves the socket is a child of the one
	# started; fork keeps the dumpable flag.
	# shellcheck disable=SC2046 # impl_env is a list of words on purpose
	n1 env $(impl_env) "$noptrace_xwgd" "$if3" >>"$LOG_DIR/$if3.log" 2>&1
	if wait_for 5 uapi_socket_owner "$ns1" "$if3"; then
		pid3=$(cat "$_wait_out")
		check_not "detached xwgd is not dumpable" exe_is_readable_without_ptrace "$pid3"
		kill -TERM "$pid3"
		check_within 5 "detached xwgd exits on SIGTERM and removes its socket" \
			eval "! pid_is_alive $pid3 && test ! -e $WG_RUN_DIR/$if3.sock"
	else
		fail "detached xwgd serves its socket" "$(cat "$_wait_out")"
	fi
fi
bg_stop "$control"

# ---------------------------------------------------------------------------
# Test that kill -9 leaves the interface gone and a stale socket behind, and
# that a new xwgd takes the socket over and, once configured again, carries
# traffic after wireguard-go re-handshakes with it.

n1 wg showconf "$if1" >"$TMP_DIR/left.conf"
right_before=$(latest_handshake "$ns2" "$if2" "$pub1")
pid=${IMPL_PID[$if1]}
unset "IMPL_PID[$if1]"
# Reap it at once, quietly (bash would report "Killed" later).
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
check "xwgd is gone after SIGKILL" eval "! pid_is_alive $pid"
check_within 5 "its TUN interface went away with it" eval "! ip -n $ns1 link show dev $if1"
# no_xwg_programs NS: no XDP or TC program of ours is attached in NS.
no_xwg_programs() {
	local out
	out=$(ip netns exec "$1" bpftool net show 2>&1) || { echo "$out"; return 1; }
	[[ $out != *xwg_* ]] || { echo "$out"; return 1; }
}
if impl_wants_fastpath "$XWGD"; then
	# Its XDP links went with its fds, tc_tx with the TUN (XWG_TUNNEL=veth:
	# the reaper removed the pair and its programs).
	check_within 5 "no XDP or TC program of its fast path is left (xdp_rx on veth1, tc_tx)" \
		no_xwg_programs "$ns1"
	check "no other interface of it is left (no twin ${if1}x)" \
		eval "! ip -n $ns1 link show dev ${if1}x"
fi
check_within 5 "nothing else runs in its namespace (its reaper, if any, finished)" no_process_in "$ns1"
check "a stale socket file stays in $WG_RUN_DIR" test -S "$sock1"
if command -v python3 >/dev/null; then
	check "nobody answers on the stale socket" socket_refuses "$sock1"
else
	skip "nobody answers on the stale socket" "python3 is not installed"
fi

echo "--- $(date +%T) $xwgd_exe -f $if1 in $ns1, over a stale socket" >>"$log1"
# This one also busy-polls (XWG_BUSY_POLL_US) and, on the fast path, has
# smaller AF_XDP rings (XWG_XSK_RING) on veth1 (XWG_XDP_IFACES, as above),
# which must change nothing but latency, CPU time and queueing: everything
# below holds with them.
# shellcheck disable=SC2046,SC2086 # lists of words on purpose
ip netns exec "$ns1" env $(impl_env) ${IMPL_ENV[$if1]:-} XWG_BUSY_POLL_US=500 XWG_XSK_RING=256 \
	"$xwgd_exe" -f "$if1" >>"$log1" 2>&1 &
pid=$!
_pids+=("$pid")
IMPL_PID[$if1]=$pid
check_within 10 "a new xwgd -f replaces the stale socket and serves it" \
	replaced_and_serving "$ns1" "$if1" "$pid"
check "wg setconf gives it the configuration it had" n1 wg setconf "$if1" "$TMP_DIR/left.conf"
left_inner_up
check "it has the peer back" has_peer "$ns1" "$if1" "$pub2"
# wireguard-go still holds the session with the killed daemon: its packets
# are dropped until, KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s) after sending
# without hearing back, it starts a new handshake.
check_within 30 "wireguard-go's ping gets through once it re-handshakes" pings "$ns2" 10.0.0.1
check "wireguard-go did a new handshake" handshake_after "$ns2" "$if2" "$pub1" "$right_before"
check "the new xwgd has a handshake" has_handshake "$ns1" "$if1" "$pub2"
check "xwgd pings wireguard-go again" pings "$ns1" 10.0.0.2
check "it says it busy-polls (XWG_BUSY_POLL_US=500)" \
	grep -q 'busy polling: 500 us after each wake-up' "$log1"
if impl_wants_fastpath "$XWGD"; then
	check "its AF_XDP rings on veth1 have XWG_XSK_RING=256 entries" \
		grep -q 'xdp_rx on veth1 (.* XDP), [1-9][0-9]* AF_XDP socket(s) in .* mode, rings of 256$' "$log1"
	check_fastpath "$ns1" "$if1" "$XWGD" "the new xwgd (xdp_rx on veth1)"
fi
# idle_cpu_below PID TICKS: PID uses fewer than TICKS clock ticks over 2 s
# without packets (busy polling stops 500 us after the last one).
idle_cpu_below() {
	local t0 t1
	t0=$(cpu_ticks "$1") || return 1
	sleep 2
	t1=$(cpu_ticks "$1") || return 1
	(((t1 - t0) < $2)) || { echo "$((t1 - t0)) ticks in 2 s"; return 1; }
}
check "a busy-polling xwgd without traffic stays idle (< 0.2 s of CPU in 2 s)" \
	idle_cpu_below "${IMPL_PID[$if1]}" $(($(getconf CLK_TCK) / 5))

# ---------------------------------------------------------------------------
# Test that no private or preshared key reaches the log at LOG_LEVEL=debug
# through a session: handshakes and traffic (above), a preshared-key
# change, a private-key change, a peer removal and a counter dump.

n1 wg set "$if1" peer "$pub2" preshared-key "$TMP_DIR/psk2"
n2 wg set "$if2" peer "$pub1" preshared-key "$TMP_DIR/psk2"
n1 wg set "$if1" private-key "$TMP_DIR/key1b"
n2 wg set "$if2" peer "$pub1" remove
n2 wg set "$if2" peer "$pub1b" preshared-key "$TMP_DIR/psk2" allowed-ips 10.0.0.1/32 \
	endpoint 192.0.2.1:10001
check_within 10 "xwgd pings wireguard-go with its new key" pings "$ns1" 10.0.0.2
check "wireguard-go pings xwgd's new key" pings "$ns2" 10.0.0.1
n1 wg set "$if1" peer "$pub2" remove
check_not "xwgd has no peer after the removal" has_peer "$ns1" "$if1" "$pub2"
# stats_dumps: how many counter dumps LEFT's log holds.
stats_dumps() { grep -c ' live indices, ' "$log1" || true; }
# stats_dumped_since N: more than N.
stats_dumped_since() { (($(stats_dumps) > $1)); }
dumps=$(stats_dumps)
kill -USR1 "${IMPL_PID[$if1]}"
check_within 3 "SIGUSR1 logs the counters" stats_dumped_since "$dumps"
check "xwgd exits cleanly on SIGTERM and removes its socket" stop_impl "$if1"

# in_log WHAT VALUE: VALUE occurs in LEFT's log (case-insensitively).
in_log() { grep -qiF -- "$2" "$log1"; }
hex_of() { base64 -d <<<"$1" | od -An -v -tx1 | tr -d ' \n'; }

check "the log is at debug level (it shows the handshakes)" \
	grep -qi 'sending handshake initiation\|received handshake' "$log1"
for secret in key1 key1b key2 psk psk2; do
	b64=$(cat "$TMP_DIR/$secret")
	hex=$(hex_of "$b64")
	check_not "the log holds no $secret in base64" in_log "$secret" "$b64"
	check_not "the log holds no $secret in hex" in_log "$secret" "$hex"
	check_not "the log holds no $secret hex prefix (8 bytes)" in_log "$secret" "${hex:0:16}"
done
# Public keys are no secret; say whether they show, for the record.
for k in pub1 pub1b pub2; do
	b64=${!k}
	if in_log "$k" "$b64" || in_log "$k" "$(hex_of "$b64")"; then
		echo "note: the log shows public key $k"
	fi
done

# ---------------------------------------------------------------------------
# Test the same crash under wg-quick: the detached daemon (found through its
# socket) has locked memory; after kill -9, `wg-quick down` leaves nothing
# behind (wg(8) removes the stale socket it finds) and `wg-quick up` works
# again.

conf1=$TMP_DIR/$if1.conf	# wg-quick names the interface after the file
cat >"$conf1" <<EOF
[Interface]
PrivateKey = $(cat "$TMP_DIR/key1b")
ListenPort = 10001
Address = 10.0.0.1/24

[Peer]
PublicKey = $pub2
PresharedKey = $(cat "$TMP_DIR/psk2")
AllowedIPs = 10.0.0.2/32
Endpoint = 192.0.2.2:10002
EOF
track_ifname "$if1"

# wg_quick up|down: wg-quick in ns1 with xwgd (absolute path). Output to a
# file, not a pipe: the detached daemon may keep wg-quick's stdout open.
wg_quick() {
	local log=$LOG_DIR/$if1.wg-quick.log
	echo "--- wg-quick $1" >>"$log"
	# shellcheck disable=SC2046 # impl_env is a list of words on purpose
	ip netns exec "$ns1" env $(impl_env) WG_QUICK_USERSPACE_IMPLEMENTATION="$xwgd_exe" \
		wg-quick "$1" "$conf1" </dev/null >>"$log" 2>&1 ||
		{ tail -n 3 "$log"; return 1; }
}

check "wg-quick up starts xwgd" wg_quick up
check_within 10 "xwgd (wg-quick) pings wireguard-go" pings "$ns1" 10.0.0.2
if wait_for 5 uapi_socket_owner "$ns1" "$if1"; then
	pid=$(cat "$_wait_out")
	check "the detached daemon is xwgd" eval "[[ \$(readlink /proc/$pid/exe) == '$xwgd_exe' ]]"
	check "the detached daemon has locked memory (VmLck > 0)" memory_is_locked "$pid"
	right_before=$(latest_handshake "$ns2" "$if2" "$pub1b")
	kill -KILL "$pid"
	check_within 5 "the detached xwgd is gone after SIGKILL" eval "! pid_is_alive $pid"
	check_within 5 "its interface went away with it" eval "! ip -n $ns1 link show dev $if1"
	check "a stale socket file stays" test -S "$sock1"
	rc=0
	wg_quick down >/dev/null || rc=$?
	echo "note: wg-quick down after the crash exited with status $rc"
	check "after wg-quick down no socket is left" test ! -e "$sock1"
	check "after wg-quick down no interface is left" eval "! ip -n $ns1 link show dev $if1"
	check "after wg-quick down nothing runs in $ns1" no_process_in "$ns1"
	check "wg-quick up works again" wg_quick up
	wait_for 3 clock_passes "$right_before" || true
	check_within 10 "xwgd (wg-quick, again) pings wireguard-go" pings "$ns1" 10.0.0.2
	check "wireguard-go did a new handshake" handshake_after "$ns2" "$if2" "$pub1b" "$right_before"
	check "wg-quick down stops it" wg_quick down
	check_within 5 "the daemon exits" no_process_in "$ns1"
	check_within 2 "its socket is removed" test ! -e "$sock1"
else
	fail "the wg-quick daemon is found through its socket" "$(cat "$_wait_out")"
fi

# Test that a leaving xwgd lets its successor in at once: it releases the
# configuration socket, the interface and the UDP port first, then cleans
# up the rest. A new xwgd of the same name, started as soon as the socket
# and the interface are gone (wg-quick down; wg-quick up), comes up, on its
# fast path where it runs one, and carries traffic; the old one exits 0.
start_impl "$ns1" "$XWGD" "$if1"
n1 wg set "$if1" private-key "$TMP_DIR/key1b" listen-port 10001 \
	peer "$pub2" preshared-key "$TMP_DIR/psk2" allowed-ips 10.0.0.2/32 endpoint 192.0.2.2:10002
left_inner_up
check_within 10 "successor: the first xwgd pings wireguard-go" pings "$ns1" 10.0.0.2
old_pid=${IMPL_PID[$if1]}
unset "IMPL_PID[$if1]"
kill -TERM "$old_pid"
if wait_for 5 eval "test ! -e $sock1 && ! ip -n $ns1 link show dev $if1 >/dev/null 2>&1"; then
	pass "successor: the leaving xwgd released its socket and interface"
	still=$(pid_is_alive "$old_pid" && echo "still running" || echo "already gone")
	mark=$(wc -l <"$log1")
	start_impl "$ns1" "$XWGD" "$if1"
	echo "  the successor started while the leaving xwgd was $still"
	# successor_loaded: its log says it runs the fast path.
	successor_loaded() {
		local line
		line=$(tail -n +"$((mark + 1))" "$log1" | grep -m1 ': data path: ') || true
		[[ $line == *": data path: xdp "* ]] || { echo "${line:-no data path line}"; return 1; }
	}
	if impl_wants_fastpath "$XWGD"; then
		check "successor: its fast path loads (xdp_rx on veth1 too)" successor_loaded
	fi
	rc=0
	wait_for 10 eval "! pid_is_alive $old_pid" || true
	wait "$old_pid" 2>/dev/null || rc=$?
	check "successor: the leaving xwgd exited with status 0" eval "((rc == 0))"
	n1 wg set "$if1" private-key "$TMP_DIR/key1b" listen-port 10001 \
		peer "$pub2" preshared-key "$TMP_DIR/psk2" allowed-ips 10.0.0.2/32 endpoint 192.0.2.2:10002
	left_inner_up
	check_within 10 "successor: it takes port 10001 and pings wireguard-go" pings "$ns1" 10.0.0.2
	check_fastpath "$ns1" "$if1" "$XWGD" "successor"
	check "successor: it exits cleanly on SIGTERM" stop_impl "$if1"
else
	fail "successor: the leaving xwgd released its socket and interface" "not within 5 s"
fi

check "wireguard-go exits cleanly on SIGTERM" stop_impl "$if2"

# Test that a malformed tuning variable stops xwgd at once, with status 1, a
# message naming the variable, and no interface or socket left behind.
# refused_env VAR=VALUE... WANT: xwgd in $ns1 with these variables does all
# that and its message contains WANT.
refused_env() {
	local out rc=0 want=${*: -1}
	out=$(ip netns exec "$ns1" env "${@:1:$#-1}" timeout 10 "$xwgd_exe" -f "$if3" 2>&1) || rc=$?
	((rc == 1)) || { echo "status $rc, want 1: $out"; return 1; }
	[[ $out == *"$want"* ]] || { echo "no '$want' in: $out"; return 1; }
	! ip -n "$ns1" link show dev "$if3" >/dev/null 2>&1 || { echo "$if3 is left"; return 1; }
	[[ ! -e $WG_RUN_DIR/$if3.sock ]] || { echo "its socket is left"; return 1; }
}
check "XWG_XSK_RING=300 is refused" refused_env XWG_XSK_RING=300 \
	"XWG_XSK_RING=300: expected a power of two from 64 to 4096"
check "XWG_XSK_RING=8192 is refused" refused_env XWG_XSK_RING=8192 "XWG_XSK_RING=8192: expected"
check "XWG_UDP_GSO=yes is refused" refused_env XWG_UDP_GSO=yes "XWG_UDP_GSO=yes: expected on or off"
check "XWG_DATAPATH=fast is refused" refused_env XWG_DATAPATH=fast "XWG_DATAPATH=fast: expected portable, xdp or auto"
check "XWG_BUSY_POLL_US=20000 is refused" refused_env XWG_BUSY_POLL_US=20000 \
	"XWG_BUSY_POLL_US=20000: expected microseconds from 0 to 10000"
check "XWG_BUSY_POLL_US=50us is refused" refused_env XWG_BUSY_POLL_US=50us "XWG_BUSY_POLL_US=50us: expected"
check "XWG_THREADS=0 is refused" refused_env XWG_THREADS=0 \
	"XWG_THREADS=0: expected a number of threads from 1 to 1024"
check "XWG_THREADS=two is refused" refused_env XWG_THREADS=two "XWG_THREADS=two: expected"
check "XWG_AEAD=aes is refused" refused_env XWG_AEAD=aes "XWG_AEAD=aes: expected libsodium, openssl or auto"
# A name cut short could be another interface's; extra names were dropped.
check "XWG_XDP_IFACES with a 16-character name is refused" \
	refused_env XWG_DATAPATH=xdp XWG_XDP_IFACES=lo,abcdefghijklmnop \
	"'abcdefghijklmnop' is longer than an interface name can be (15 characters)"
check "XWG_XDP_IFACES with 17 names is refused" \
	refused_env XWG_DATAPATH=xdp XWG_XDP_IFACES="$(printf 'lo,%.0s' {1..16})lo" \
	"XWG_XDP_IFACES: more than 16 interfaces"

report
