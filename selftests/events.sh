#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# The event stream (issue 16): xwgd publishes what changes as JSON lines on
# /var/run/wireguard/IFNAME.events, and `xwgd --events IFNAME` prints them.
# xwgd runs against wireguard-go (the peer); a reader collects the lines
# while the peer is added, the first handshake completes (xwgd initiates),
# the peer roams to another port, a second handshake completes (the peer
# initiates: it forgot xwgd and learned it again, the quick way to a new
# handshake), a burst of junk datagrams makes a drop rate high and then
# normal again (first data path only: it takes two 10 s windows), and the
# peer is removed. A second reader connects and reads
# nothing while the configuration changes thousands of times: the daemon
# must not stall (the ping through the tunnel goes on, the first reader
# gets every line in order), and once the second reader reads it is told
# how many lines it lost. Each data path runs in turn, in namespaces of
# its own: XWG_DATAPATH=portable and the default (the fast path); a given
# XWG_DATAPATH runs that one only.
#
#   XWGD=build/xwgd selftests/events.sh      (about 45 s)
#
#  per data path P (namespaces 2P and 2P+1)
#  ┌───────────────────────────────┐   ┌───────────────────────────────┐
#  │ x: xwgd                       │   │ w: wireguard-go               │
#  │  $ifx 10.0.0.1/24 :10001      │   │  $ifw 10.0.0.2/24 :10002      │
#  │  peer w at 192.0.2.2:10002    │   │  then :10003 (roams)          │
#  │  veth0 192.0.2.1/24 ──────────┼───┼─ veth1 192.0.2.2/24           │
#  └───────────────────────────────┘   └───────────────────────────────┘
#   readers (outside the namespaces: the socket is a file):
#   xwgd --events $ifx > A.log; a python reader that stalls, then reads.

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping python3

echo "== events.sh: XWGD=$XWGD${XWG_DATAPATH:+ XWG_DATAPATH=$XWG_DATAPATH}"
require_impls "$XWGD" "$WGGO"
xwgd_exe=$(impl_path "$XWGD")

# Peers added and then removed to make many events: each gives peer_added
# and allowed_ips_changed, then peer_removed: 3 * FLOOD_PEERS lines, more
# than a reader's queue (4096) and its socket hold. FLOOD_CHUNK of them per
# transaction: the events of one transaction are published together, and
# a reader that keeps up takes them between two.
FLOOD_PEERS=2000
FLOOD_CHUNK=50

if [[ -n ${XWG_DATAPATH:-} ]]; then
	datapaths=("$XWG_DATAPATH")
else
	datapaths=(portable auto)
fi
all_ns=("$ns0" "$ns1" "$ns2" "$ns3")

umask 077
wg genkey >"$TMP_DIR/key-x"
wg genkey >"$TMP_DIR/key-w"
pub_x=$(wg pubkey <"$TMP_DIR/key-x")
pub_w=$(wg pubkey <"$TMP_DIR/key-w")

# The checker: reads a reader's log as JSON lines.
#   check LOG IFNAME SPEC...  every line is an object for IFNAME with an
#       RFC 3339 UTC time; the numbered ones have seq without a gap and
#       no events_lost came; the SPECs ("event key=value ...") match
#       lines in that order.
#   count LOG EVENT          how many lines are EVENT
#   lost LOG                 the reader was told of lost lines, and the
#       count and seq range agree with the lines it got before and after
cat >"$TMP_DIR/events_check.py" <<'EOF'
import json, re, sys

def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]

def fail(msg):
    print(msg)
    sys.exit(1)

cmd, path = sys.argv[1], sys.argv[2]
try:
    lines = load(path)
except ValueError as e:
    fail("not JSON lines: %s" % e)
if cmd == "check":
    ifname, specs = sys.argv[3], sys.argv[4:]
    seqs = [l["seq"] for l in lines if "seq" in l]
    for l in lines:
        if l.get("interface") != ifname or not re.fullmatch(
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", l.get("time", "")):
            fail("bad header: %s" % json.dumps(l))
        if l["event"] == "events_lost":
            fail("this reader lost lines: %s" % json.dumps(l))
    if seqs != list(range(seqs[0], seqs[0] + len(seqs)) if seqs else []):
        fail("seq has a gap or is out of order")
    pos = 0
    for spec in specs:
        words = spec.split()
        want = dict(w.split("=", 1) for w in words[1:])
        while pos < len(lines):
            l = lines[pos]
            pos += 1
            if l["event"] == words[0] and all(str(l.get(k)) == v for k, v in want.items()):
                break
        else:
            fail("no '%s' after the earlier ones (%d lines)" % (spec, len(lines)))
elif cmd == "count":
    print(sum(1 for l in lines if l["event"] == sys.argv[3]))
elif cmd == "lost":
    before = after = 0
    told = None
    for l in lines:
        if l["event"] == "events_lost":
            told = l
        elif "seq" in l:
            if told is None:
                before = l["seq"]
            else:
                after = after or l["seq"]
    if told is None:
        fail("no events_lost line in %d lines" % len(lines))
    if not (told["count"] > 0 and told["first_seq"] == before + 1 and
            told["count"] == told["last_seq"] - told["first_seq"] + 1 and
            (not after or after == told["last_seq"] + 1)):
        fail("inconsistent: last seq before %d, %s, first after %d" % (before, json.dumps(told), after))
    print("lost %d lines (seq %d..%d) after seq %d" % (told["count"], told["first_seq"], told["last_seq"], before))
EOF

# The reader that stalls: connects, says so (PATH.connected), reads nothing
# until the file GO exists (for at most 120 s), then reads until 3 s bring
# nothing (at most 30 s) into OUT.
cat >"$TMP_DIR/stuck_reader.py" <<'EOF'
import os, socket, sys, time
path, out, go = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(path)
open(out + ".connected", "w").close()
deadline = time.time() + 120
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit(1)
    time.sleep(0.1)
s.settimeout(3)
end = time.time() + 30
with open(out, "wb") as f:
    while time.time() < end:
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        f.write(data)
        f.flush()
EOF

events_ok() { python3 "$TMP_DIR/events_check.py" check "$@"; }
events_count() { python3 "$TMP_DIR/events_check.py" count "$@"; }
events_lost_ok() { python3 "$TMP_DIR/events_check.py" lost "$@"; }
has_line() { grep -q -- "$2" "$1"; }

# A stale socket file, as a killed daemon leaves it: bound, nobody behind.
make_stale_socket() {
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$1"
}

run_datapath() {
	local p=$1 dp=${datapaths[$1]}
	local x=${all_ns[2 * p]} w=${all_ns[2 * p + 1]}
	local ifx ifw log_a log_b go mark pid_a pid_b pid_ping
	ifx=$(tunnel_name $((2 * p)))
	ifw=$(tunnel_name $((2 * p + 1)))
	log_a=$TMP_DIR/A-$dp.log log_b=$TMP_DIR/B-$dp.log go=$TMP_DIR/go-$dp
	echo "--- data path $dp: $ifx (xwgd) in $x, $ifw (wireguard-go) in $w"

	ns_create "$x" "$w"
	veth_link "$x" veth0 "$w" veth1
	addr_add "$x" veth0 192.0.2.1/24
	addr_add "$w" veth1 192.0.2.2/24

	# Test that a stale event socket (a daemon killed before) is replaced.
	make_stale_socket "$WG_RUN_DIR/$ifx.events"
	IMPL_ENV[$ifx]="XWG_DATAPATH=$dp"
	start_impl "$x" "$XWGD" "$ifx"
	start_impl "$w" "$WGGO" "$ifw"
	check "$dp: the event socket is a socket for root only (mode $(stat -c %A "$WG_RUN_DIR/$ifx.events"))" \
		test "$(stat -c '%F %a %U' "$WG_RUN_DIR/$ifx.events")" = "socket 700 root"
	check "$dp: the stale event socket was replaced (no error logged)" \
		eval "! grep -q 'cannot create the event socket' '$LOG_DIR/$ifx.log'"

	bg_start "$log_a" "$xwgd_exe" --events "$ifx"
	pid_a=$BG_PID
	check_within 5 "$dp: xwgd --events subscribes" has_line "$log_a" '"event":"subscribed"'

	# Test that the first events come in order: the peer, then the first
	# handshake with xwgd as the initiator.
	ip netns exec "$x" wg set "$ifx" private-key "$TMP_DIR/key-x" listen-port 10001 \
		peer "$pub_w" allowed-ips 10.0.0.2/32 endpoint 192.0.2.2:10002
	ip netns exec "$w" wg set "$ifw" private-key "$TMP_DIR/key-w" listen-port 10002 \
		peer "$pub_x" allowed-ips 10.0.0.1/32
	addr_add "$x" "$ifx" 10.0.0.1/24
	addr_add "$w" "$ifw" 10.0.0.2/24
	ip -n "$x" link set "$ifx" up
	ip -n "$w" link set "$ifw" up
	check_within 10 "$dp: xwgd pings wireguard-go through the tunnel" pings "$x" 10.0.0.2
	if [[ $dp != portable ]]; then
		check "$dp: the fast path carried it" fastpath_carried "$x" "$ifx"
	fi
	check_within 5 "$dp: peer_added, allowed_ips_changed, endpoint_changed (configuration), then handshake_completed as initiator" \
		events_ok "$log_a" "$ifx" \
		"peer_added peer=$pub_w" \
		"allowed_ips_changed peer=$pub_w count=1" \
		"endpoint_changed peer=$pub_w old=None new=192.0.2.2:10002 cause=configuration" \
		"handshake_completed peer=$pub_w role=initiator endpoint=192.0.2.2:10002"

	# Test that roaming is reported: the peer moves to another port and
	# sends from there.
	ip netns exec "$w" wg set "$ifw" listen-port 10003
	check_within 10 "$dp: wireguard-go pings xwgd from its new port" pings "$w" 10.0.0.1
	check_within 5 "$dp: endpoint_changed (roaming) from :10002 to :10003" \
		events_ok "$log_a" "$ifx" \
		"handshake_completed peer=$pub_w role=initiator" \
		"endpoint_changed peer=$pub_w old=192.0.2.2:10002 new=192.0.2.2:10003 cause=roaming"

	# Test that a second handshake is reported, with xwgd as the
	# responder: the peer forgets xwgd and learns it again, so its next
	# packet needs a new handshake, which it starts.
	ip netns exec "$w" wg set "$ifw" peer "$pub_x" remove
	ip netns exec "$w" wg set "$ifw" peer "$pub_x" allowed-ips 10.0.0.1/32 endpoint 192.0.2.1:10001
	check_within 10 "$dp: wireguard-go pings xwgd after it re-added it" pings "$w" 10.0.0.1
	check_within 5 "$dp: a second handshake_completed, as responder" \
		events_ok "$log_a" "$ifx" \
		"endpoint_changed peer=$pub_w cause=roaming" \
		"handshake_completed peer=$pub_w role=responder endpoint=192.0.2.2:10003"

	# Test that a flood of junk datagrams is reported as a high drop
	# rate (at least 100 of one reason in a 10 s window) and, a window
	# later, as normal again. Once (it takes two windows): on the first
	# data path.
	if ((p == 0)); then
		ip netns exec "$w" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(300):
    s.sendto(b"\x09" * 32, ("192.0.2.1", 10001))'
		check_within 25 "$dp: drop_rate_high for rx_bad_type, then drop_rate_normal" \
			events_ok "$log_a" "$ifx" \
			"drop_rate_high reason=rx_bad_type" \
			"drop_rate_normal reason=rx_bad_type"
	fi

	# Test that a reader that reads nothing does not hold the daemon up:
	# while it stalls, FLOOD_PEERS peers come and go (3 lines each), a
	# ping flows through the tunnel, and the first reader gets every line.
	bg_start "$TMP_DIR/stuck-$dp.err" python3 "$TMP_DIR/stuck_reader.py" \
		"$WG_RUN_DIR/$ifx.events" "$log_b" "$go"
	pid_b=$BG_PID
	check_within 5 "$dp: the stalling reader is connected" test -e "$log_b.connected"
	bg_start "$TMP_DIR/ping-$dp.log" ip netns exec "$x" ping -n -O -i 0.2 -W 1 10.0.0.2
	pid_ping=$BG_PID
	# flood-N.conf adds chunk N; flood-N.rm is the arguments of the
	# `wg set` that removes it.
	python3 -c '
import base64, os, sys
peers, chunk, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for c in range(peers // chunk):
    keys = [base64.b64encode(os.urandom(32)).decode() for _ in range(chunk)]
    with open("%s-%d.conf" % (prefix, c), "w") as f:
        for i, k in enumerate(keys):
            n = c * chunk + i
            f.write("[Peer]\nPublicKey = %s\nAllowedIPs = 10.%d.%d.0/24\n\n" % (k, 64 + n // 256, n % 256))
    with open("%s-%d.rm" % (prefix, c), "w") as f:
        for k in keys:
            f.write("peer\n%s\nremove\n" % k)' \
		"$FLOOD_PEERS" "$FLOOD_CHUNK" "$TMP_DIR/flood-$dp"
	mark=$(wc -l <"$TMP_DIR/ping-$dp.log")
	flood_add() {
		local c
		for ((c = 0; c < FLOOD_PEERS / FLOOD_CHUNK; c++)); do
			ip netns exec "$x" wg addconf "$ifx" "$TMP_DIR/flood-$dp-$c.conf" || return 1
		done
	}
	flood_remove() {
		local c args
		for ((c = 0; c < FLOOD_PEERS / FLOOD_CHUNK; c++)); do
			mapfile -t args <"$TMP_DIR/flood-$dp-$c.rm"
			ip netns exec "$x" wg set "$ifx" "${args[@]}" || return 1
		done
	}
	check "$dp: $FLOOD_PEERS peers added, $FLOOD_CHUNK per transaction" flood_add
	check "$dp: and removed again" flood_remove
	check_within 10 "$dp: the ping through the tunnel goes on meanwhile" \
		ping_log_replies "$TMP_DIR/ping-$dp.log" "$mark" 5
	check_within 15 "$dp: the reading reader got all $((FLOOD_PEERS * 3)) lines of it in order" \
		eval "events_ok '$log_a' '$ifx' 'peer_removed' &&
		      (( \$(events_count '$log_a' peer_removed) == $FLOOD_PEERS ))"
	check "$dp: ... and $FLOOD_PEERS peer_added, $FLOOD_PEERS + 1 allowed_ips_changed" \
		eval "(( \$(events_count '$log_a' peer_added) == $FLOOD_PEERS + 1 &&
			 \$(events_count '$log_a' allowed_ips_changed) == $FLOOD_PEERS + 1 ))"
	bg_stop "$pid_ping"

	# Test that the stalled reader, reading at last, is told what it lost
	# (count and seq range agreeing with the lines around it).
	touch "$go"
	check_within 40 "$dp: the stalled reader read to the end" eval "! pid_is_alive $pid_b"
	check "$dp: the stalled reader got events_lost, agreeing with its lines" \
		events_lost_ok "$log_b"
	events_lost_ok "$log_b" | sed 's/^/    /' || true

	# Test that removing the peer is the last event.
	ip netns exec "$x" wg set "$ifx" peer "$pub_w" remove
	check_within 5 "$dp: peer_removed of wireguard-go's peer comes last" \
		eval "events_ok '$log_a' '$ifx' 'handshake_completed role=responder' \
			'peer_removed peer=$pub_w' && tail -n 1 '$log_a' | grep -q '\"peer_removed\",\"peer\":\"$pub_w\"'"

	check "$dp: no line has a private key" \
		eval "! grep -qF -e \"\$(cat '$TMP_DIR/key-x')\" -e \"\$(cat '$TMP_DIR/key-w')\" '$log_a' '$log_b'"

	# Test that the daemon's exit ends the stream (the reader exits 0)
	# and removes the socket.
	check "$dp: xwgd exits cleanly on SIGTERM" stop_impl "$ifx"
	check_within 5 "$dp: xwgd --events exits at the end of the stream" eval "! pid_is_alive $pid_a"
	check "$dp: ... with status 0" wait "$pid_a"
	check "$dp: the event socket is gone" test ! -e "$WG_RUN_DIR/$ifx.events"
	stop_impl "$ifw" || true
}

# client_fails_with WANT CMD...: CMD exits 1 and says WANT on stderr.
client_fails_with() {
	local want=$1 out rc=0; shift
	out=$("$@" 2>&1) || rc=$?
	echo "exit $rc: $out"
	((rc == 1)) && [[ $out == *"$want"* ]]
}

# Test that the client says what is wrong, naming the socket.
check "xwgd --events on no interface: 'no such interface', naming the socket" \
	client_fails_with "no such interface: nosuch$RUN_ID (no event socket $WG_RUN_DIR/nosuch$RUN_ID.events)" \
	"$xwgd_exe" --events "nosuch$RUN_ID"

for p in "${!datapaths[@]}"; do
	run_datapath "$p"
done

# Test that a user other than root is refused with a clear message (the
# socket is root's): run against a daemon started for this.
ifd=$(tunnel_name 9)
ns_create "xwg-$RUN_ID-9"
IMPL_ENV[$ifd]="XWG_DATAPATH=portable"
start_impl "xwg-$RUN_ID-9" "$XWGD" "$ifd"
if setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
	check "xwgd --events as nobody: 'permission denied', naming the socket" \
		client_fails_with "permission denied: $WG_RUN_DIR/$ifd.events" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$xwgd_exe" --events "$ifd"
else
	skip "xwgd --events as nobody" "setpriv cannot switch to nobody here"
fi
check "xwgd exits cleanly on SIGTERM" stop_impl "$ifd"
report
