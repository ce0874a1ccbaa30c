#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# Live takeover (xwgd --takeover, issue 15) on the portable data path:
#
#   - xwgd serves a tunnel to wireguard-go; a UDP stream (one datagram a
#     millisecond, numbered) and a ping run through it while xwgd is
#     replaced TAKEOVERS times in a row by `xwgd -f --takeover`;
#   - each time the old process is gone and the new one serves the
#     configuration socket; at the end wireguard-go's latest handshake is
#     the one before the first takeover (no new handshake), `wg showconf` is
#     what it was, the transfer counters only grew, and the datagrams lost
#     and the largest gap between two arrivals are reported (and bounded);
#   - faults: a new process that dies, or hangs, between PREPARED and
#     COMMIT (XWG_TAKEOVER_TEST): the old one resumes (within its 3 s
#     bound for the hang), says why, and carries traffic; an old process
#     that dies right after PREPARED: the new one has everything and
#     serves; a corrupted snapshot and one of another version are refused
#     by the new process with a message, and the old one serves on; a
#     takeover with XWG_DATAPATH=xdp is refused up front;
#   - detached (no -f), `xwgd --takeover` returns 0 once the new process
#     serves; that last xwgd exits on SIGTERM and removes both sockets.
#
#   XWGD=build/xwgd selftests/takeover.sh   (runs once in run.sh)
#
#  ┌──────────────────────────────────┐      ┌──────────────────────────────────┐
#  │ $ns1                             │      │ $ns2                             │
#  │  $if1: xwgd, replaced again and  │      │  $if2: wireguard-go -f           │
#  │   again (portable data path)     │      │                                  │
#  │  10.0.0.1/24  listen port 10001  │      │  10.0.0.2/24  listen port 10002  │
#  │  UDP receiver 10.0.0.1:9000      │      │  UDP sender, ping                │
#  │  veth1 192.0.2.1/24 ─────────────┼──────┼── veth2 192.0.2.2/24             │
#  └──────────────────────────────────┘      └──────────────────────────────────┘

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
TAKEOVERS=${TAKEOVERS:-10}
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping python3
require_impls "$XWGD" "$WGGO"

echo "== takeover.sh: XWGD=$XWGD, $TAKEOVERS takeovers"
xwgd_exe=$(impl_path "$XWGD")
if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
takeover_sock=$WG_RUN_DIR/$if1.takeover

tunnel_keys

veth_underlay

IMPL_ENV[$if1]="XWG_DATAPATH=portable"
start_impl "$ns1" "$XWGD" "$if1"
start_impl "$ns2" "$WGGO" "$if2"
n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port 10001 \
	peer "$pub2" allowed-ips 10.0.0.2/32 endpoint 192.0.2.2:10002
n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port 10002 \
	peer "$pub1" allowed-ips 10.0.0.1/32 endpoint 192.0.2.1:10001
addr_add "$ns1" "$if1" 10.0.0.1/24
ip -n "$ns1" link set "$if1" up
addr_add "$ns2" "$if2" 10.0.0.2/24
ip -n "$ns2" link set "$if2" up
check_within 10 "xwgd pings wireguard-go through the tunnel" pings "$ns1" 10.0.0.2
check "xwgd listens on $takeover_sock (owner only, mode 0700)" \
	eval "[[ -S $takeover_sock && \$(stat -c %a $takeover_sock) == 700 ]]"

# ---------------------------------------------------------------------------
# The UDP stream: numbered datagrams every millisecond from ns2 to ns1. The
# receiver counts them and the largest gap between arrivals; both print
# their counts when interrupted.
cat >"$TMP_DIR/udp_stream.py" <<'EOF'
import socket, struct, sys, time, signal
signal.signal(signal.SIGINT, signal.default_int_handler)
role = sys.argv[1]
if role == "send":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = 0
    try:
        while True:
            try:
                s.sendto(struct.pack("!Q", n) + b"x" * 56, ("10.0.0.1", 9000))
                n += 1
            except OSError:
                pass
            time.sleep(0.001)
    except KeyboardInterrupt:
        print("sent %d" % n, flush=True)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind(("10.0.0.1", 9000))
    print("ready", flush=True)
    seen, last, gap, gaps = set(), None, 0.0, []
    try:
        while True:
            data = s.recv(2048)
            now = time.time()
            if last is not None:
                gap = max(gap, now - last)
                if now - last > 0.005:
                    gaps.append((last, now))
            last = now
            seen.add(struct.unpack("!Q", data[:8])[0])
    except KeyboardInterrupt:
        top = max(seen) + 1 if seen else 0
        with open(sys.argv[2], "w") as f:
            for a, b in gaps:
                f.write("%.6f %.6f\n" % (a, b))
        print("received %d of %d, max gap %.1f ms" % (len(seen), top, gap * 1000), flush=True)
EOF

# ---------------------------------------------------------------------------
# Helpers.

# peer_handshake NS IFNAME PUBKEY: wg's latest handshake (epoch seconds).
peer_handshake() { latest_handshake "$@"; }

# takeover_done OLD NEW LOG: OLD exited, NEW runs, says so in LOG and
# serves wg show.
takeover_done() {
	local old=$1 new=$2 log=$3
	pid_is_alive "$old" && { echo "the old xwgd (PID $old) still runs"; return 1; }
	pid_is_alive "$new" || { echo "the new xwgd (PID $new) exited"; return 1; }
	grep -q "took $if1 over from PID $old" "$log" ||
		{ echo "no 'took over' line in the new xwgd's log"; return 1; }
	n1 wg show "$if1" >/dev/null
}

# start_takeover LOGNAME [VAR=VALUE...]: `xwgd -f --takeover $if1` in ns1 in
# the background; its PID in $BG_PID, its log $LOG_DIR/LOGNAME.
start_takeover() {
	local tmp=$LOG_DIR/$1; shift
	# shellcheck disable=SC2046 # impl_env is a list of words on purpose
	bg_start "$tmp" ip netns exec "$ns1" env $(impl_env) XWG_DATAPATH=portable "$@" \
		"$xwgd_exe" -f --takeover "$if1"
}

# counters_not_below RX TX: xwgd's transfer with wireguard-go is at least
# RX received and TX sent.
counters_not_below() {
	local rx tx
	rx=$(rx_bytes "$ns1" "$if1" "$pub2") && tx=$(tx_bytes "$ns1" "$if1" "$pub2") ||
		return 1
	((rx >= $1 && tx >= $2)) || { echo "transfer $rx/$tx, was $1/$2"; return 1; }
}

# ---------------------------------------------------------------------------
# Before: the handshake, the configuration, the counters.

hs_before=$(peer_handshake "$ns2" "$if2" "$pub1")
conf_before=$(n1 wg showconf "$if1")
bg_start "$LOG_DIR/udp_recv.log" ip netns exec "$ns1" python3 "$TMP_DIR/udp_stream.py" recv \
	"$TMP_DIR/gaps"
recv_pid=$BG_PID
wait_for 5 grep -q ready "$LOG_DIR/udp_recv.log"
bg_start "$LOG_DIR/udp_send.log" ip netns exec "$ns2" python3 "$TMP_DIR/udp_stream.py" send
send_pid=$BG_PID
bg_start "$LOG_DIR/ping.log" ip netns exec "$ns2" ping -n -i 0.05 10.0.0.1
ping_pid=$BG_PID
sleep 1

old=${IMPL_PID[$if1]}
for ((i = 1; i <= TAKEOVERS; i++)); do
	rx0=$(rx_bytes "$ns1" "$if1" "$pub2")
	tx0=$(tx_bytes "$ns1" "$if1" "$pub2")
	t_start=$EPOCHREALTIME
	start_takeover "takeover-$i.log"
	new=$BG_PID
	if check_within 10 "takeover $i: PID $new replaced PID $old" \
		takeover_done "$old" "$new" "$LOG_DIR/takeover-$i.log"; then
		echo "$t_start $EPOCHREALTIME" >>"$TMP_DIR/windows"
		wait "$old" 2>/dev/null || true
		IMPL_PID[$if1]=$new
		old=$new
	else
		break
	fi
	check "takeover $i: transfer counters continue" counters_not_below "$rx0" "$tx0"
	sleep 0.5
done

check_within 5 "xwgd pings wireguard-go after $TAKEOVERS takeovers" pings "$ns1" 10.0.0.2
sleep 0.5
bg_stop "$send_pid"
sleep 0.5
bg_stop "$recv_pid"
bg_stop "$ping_pid"
sent=$(sed -n 's/^sent \([0-9]*\)$/\1/p' "$LOG_DIR/udp_send.log")
stats=$(grep '^received' "$LOG_DIR/udp_recv.log" || echo "received 0 of 0, max gap ? ms")
echo "UDP stream over $TAKEOVERS takeovers: $sent sent, $stats"
# The largest gap between two datagrams that overlaps a takeover (from the
# start of the new process to its first answer), and the largest outside:
# on a busy machine the stream has gaps of its own.
gap_split=$(python3 - "$TMP_DIR/gaps" "$TMP_DIR/windows" <<'EOF'
import sys
def rows(p):
    try:
        return [tuple(map(float, l.split())) for l in open(p) if l.strip()]
    except OSError:
        return []
gaps, wins = rows(sys.argv[1]), rows(sys.argv[2])
inside = [b - a for a, b in gaps if any(a < w1 and b > w0 for w0, w1 in wins)]
outside = [b - a for a, b in gaps if not any(a < w1 and b > w0 for w0, w1 in wins)]
print("%.1f %.1f" % (max(inside, default=0) * 1000, max(outside, default=0) * 1000))
EOF
)
echo "largest gap during a takeover: ${gap_split% *} ms; elsewhere: ${gap_split#* } ms"
ping_lost=$(grep -o '[0-9.]*% packet loss' "$LOG_DIR/ping.log" || echo "? packet loss")
echo "ping every 50 ms: $ping_lost"
# What the old processes measured from the snapshot to DONE: the time
# nothing read the tunnel or the sockets.
pauses=$(cat "$LOG_DIR/$if1.log" "$LOG_DIR"/takeover-*.log |
	sed -n 's/.*handed .* over to PID [0-9]* after \([0-9]*\) us.*/\1/p' | tr '\n' ' ')
echo "handoff pauses (snapshot to DONE, us): ${pauses:-none logged}"

# no_udp_lost: every datagram numbered below the highest received arrived
# (the last ones may still have been on their way when the sender stopped).
no_udp_lost() {
	local got top
	got=$(sed -n 's/^received \([0-9]*\) of \([0-9]*\),.*/\1/p' <<<"$stats")
	top=$(sed -n 's/^received \([0-9]*\) of \([0-9]*\),.*/\2/p' <<<"$stats")
	[[ -n $got && $got == "$top" && $got -gt 0 ]] || { echo "$stats"; return 1; }
}
# gap_below MS: the largest gap between two datagrams is below MS.
gap_below() {
	local gap
	gap=$(sed -n 's/.*max gap \([0-9.]*\) ms/\1/p' <<<"$stats")
	if [[ -z $gap ]] || ! python3 -c "import sys; sys.exit(not $gap < $1)"; then
		echo "max gap ${gap:-?} ms"
		return 1
	fi
}
check "no UDP datagram lost over the takeovers" no_udp_lost
check "the largest gap between datagrams stays below 500 ms" gap_below 500
check "no new handshake: wireguard-go's latest handshake is the one before" \
	eval "[[ \$(peer_handshake $ns2 $if2 $pub1) == $hs_before ]]"
# showconf_unchanged: `wg showconf` of xwgd's interface is $conf_before.
showconf_unchanged() {
	local now
	now=$(n1 wg showconf "$if1") || return 1
	if [[ $now != "$conf_before" ]]; then
		echo "wg showconf changed"
		diff <(echo "$conf_before") <(echo "$now")
		return 1
	fi
}
check "wg showconf is the same as before" showconf_unchanged

# ---------------------------------------------------------------------------
# Faults: the new process dies, or hangs, before it commits.

old=${IMPL_PID[$if1]}
start_takeover "die.log" XWG_TAKEOVER_TEST=die-before-commit
dying=$BG_PID
check_within 5 "a new xwgd that dies before committing exits" eval "! pid_is_alive $dying"
check_within 5 "the old xwgd says it resumes" grep -q "went away before committing.*resuming" \
	"$LOG_DIR/$if1.log" "$LOG_DIR"/takeover-*.log
check "the old xwgd still runs" pid_is_alive "$old"
check_within 5 "and carries traffic" pings "$ns1" 10.0.0.2

start_takeover "hang.log" XWG_TAKEOVER_TEST=hang-before-commit
hanging=$BG_PID
t0=$(date +%s)
check_within 8 "the old xwgd resumes when the new one hangs" grep -q "did not commit within" \
	"$LOG_DIR/$if1.log" "$LOG_DIR"/takeover-*.log
check "within its bound (3 s, and the test's slack)" eval "(( \$(date +%s) - $t0 <= 6 ))"
check_within 5 "and carries traffic" pings "$ns1" 10.0.0.2
bg_stop "$hanging"

start_takeover "xdp.log" XWG_DATAPATH=xdp
check_within 5 "a takeover with XWG_DATAPATH=xdp is refused up front" \
	eval "! pid_is_alive $BG_PID && grep -q 'portable data path only' $LOG_DIR/xdp.log"
check "the old xwgd is still the one" pid_is_alive "$old"

# A snapshot corrupted or of another version on its way: the new process
# refuses it with a message naming what is wrong, the old one serves on.
# The spoiling hook acts in the old process (its environment is its own)
# and on its first snapshot only, so the next takeover of it works.
start_takeover "spoiler.log" XWG_TAKEOVER_TEST=corrupt-snapshot
spoiler=$BG_PID
check_within 10 "a takeover by PID $spoiler (which will spoil its snapshot)" \
	takeover_done "$old" "$spoiler" "$LOG_DIR/spoiler.log"
wait "$old" 2>/dev/null || true
IMPL_PID[$if1]=$spoiler
old=$spoiler
start_takeover "refuse-corrupt.log"
check_within 8 "a corrupted snapshot is refused by the new process" \
	grep -q "state is refused: checksum mismatch" "$LOG_DIR/refuse-corrupt.log"
check_within 5 "which exits" eval "! pid_is_alive $BG_PID"
check_within 5 "the old one resumes, saying why" grep -q "aborted: checksum mismatch.*resuming" \
	"$LOG_DIR/spoiler.log"
check_within 5 "and carries traffic" pings "$ns1" 10.0.0.2

start_takeover "spoiler2.log" XWG_TAKEOVER_TEST=wrong-version-snapshot
spoiler2=$BG_PID
check_within 10 "a takeover by PID $spoiler2 (which will send version 2)" \
	takeover_done "$old" "$spoiler2" "$LOG_DIR/spoiler2.log"
wait "$old" 2>/dev/null || true
IMPL_PID[$if1]=$spoiler2
old=$spoiler2
start_takeover "refuse-version.log"
check_within 8 "a snapshot of another version is refused, naming the versions" \
	grep -q "snapshot version 2, this xwgd reads version 1 only" "$LOG_DIR/refuse-version.log"
check_within 5 "the old one resumes" grep -q "aborted: snapshot version 2.*resuming" \
	"$LOG_DIR/spoiler2.log"
check_within 5 "and carries traffic" pings "$ns1" 10.0.0.2

# The old process dies right after it sent its state (PREPARED): the new
# one has everything (the TUN's fd keeps the interface), and carries on.
start_takeover "die-old-1.log" XWG_TAKEOVER_TEST=die-after-prepared
dier=$BG_PID
check_within 10 "a takeover by PID $dier (which will die as the old one)" \
	takeover_done "$old" "$dier" "$LOG_DIR/die-old-1.log"
wait "$old" 2>/dev/null || true
IMPL_PID[$if1]=$dier
start_takeover "die-old-2.log"
heir=$BG_PID
check_within 10 "the old xwgd dies after sending its state: the new one takes over" \
	takeover_done "$dier" "$heir" "$LOG_DIR/die-old-2.log"
check "and says the old one ended without confirming" \
	grep -q "ended without confirming; taking over" "$LOG_DIR/die-old-2.log"
wait "$dier" 2>/dev/null || true
IMPL_PID[$if1]=$heir
old=$heir
check_within 5 "and carries traffic" pings "$ns1" 10.0.0.2

# ---------------------------------------------------------------------------
# Detached (no -f, as wg-quick and service managers start it): the command
# returns once the new process serves, with status 0.

# xwgd_in_ns1_other_than PID: the PID of the xwgd in ns1 that is not PID.
xwgd_in_ns1_other_than() {
	local p
	for p in $(ip netns pids "$ns1"); do
		[[ $p != "$1" && $(readlink "/proc/$p/exe" 2>/dev/null) == "$xwgd_exe" ]] &&
			{ echo "$p"; return 0; }
	done
	return 1
}

# shellcheck disable=SC2046 # impl_env is a list of words on purpose
if ip netns exec "$ns1" env $(impl_env) XWG_DATAPATH=portable "$xwgd_exe" --takeover "$if1" \
	>>"$LOG_DIR/detached.log" 2>&1; then
	pass "a detached xwgd --takeover exits 0 once it serves"
else
	fail "a detached xwgd --takeover exits 0 once it serves" "status $?"
fi
check_within 5 "the old xwgd is gone" eval "! pid_is_alive $old"
wait "$old" 2>/dev/null || true
unset "IMPL_PID[$if1]"
detached=$(xwgd_in_ns1_other_than "$old") || detached=
check "the detached xwgd serves" eval "[[ -n '$detached' ]] && n1 wg show $if1 >/dev/null"
check_within 5 "and carries traffic" pings "$ns1" 10.0.0.2
check "no new handshake after all of it" \
	eval "[[ \$(peer_handshake $ns2 $if2 $pub1) == $hs_before ]]"

# The event stream comes with the new process: its own socket, made once
# the old process is gone; a reader connects and is told it subscribed.
events_served() {
	local out
	out=$(timeout 2 "$xwgd_exe" --events "$if1" 2>&1 | head -n 1) || true
	grep -q '"subscribed"' <<<"$out" || { echo "xwgd --events $if1 printed: ${out:-nothing}"; return 1; }
}
check_within 5 "the new xwgd serves the event stream" events_served

if [[ -n $detached ]]; then
	kill -TERM "$detached"
	check_within 5 "the last xwgd exits on SIGTERM" eval "! pid_is_alive $detached"
fi
check_within 2 "and removes its configuration socket" test ! -e "$WG_RUN_DIR/$if1.sock"
check "and its takeover socket" test ! -e "$takeover_sock"
check "and its event socket" test ! -e "$WG_RUN_DIR/$if1.events"
rm -f "$takeover_sock"
report
