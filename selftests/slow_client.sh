#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# A slow configuration client must not freeze the tunnel (issue 17): xwgd
# holds 20,000 extra peers, so a get reply is about 6 MB; a client asks for
# it and then reads nothing for 10 s while a ping every 10 ms runs through
# the tunnel. The ping must lose nothing and its 99th percentile RTT stay
# within 2x the idle one plus a small slack; other clients are served
# meanwhile; the slow client then receives the whole reply. Then a client
# asks for the reply every 100 ms, in 4 rounds of 1 s asking and 1 s not,
# under the same ping: each reply is built between packets, a few hundred
# peers at a time, so the 99th percentile RTT of the asking seconds stays
# within the same bound of the others, measured twice if need be (built in
# one go, 15-30 ms a reply, a tenth of the pings waited for it). Once on the portable data
# path, once on the default (the fast path). About 90 s.
#
#   XWGD=build/xwgd selftests/slow_client.sh   (the default)
#
#  ┌──────────────────────────────────┐      ┌──────────────────────────────────┐
#  │ $ns1                             │      │ $ns2                             │
#  │  $if1: xwgd -f                   │      │  $if2: wireguard-go -f           │
#  │  10.0.0.1/24  listen port 10001  │      │  10.0.0.2/24  listen port 10002  │
#  │  1 real peer + 20,000 extra      │      │  ping -i 0.01 10.0.0.1 ──────────┤
#  │  veth1 192.0.2.1/24 ─────────────┼──────┼── veth2 192.0.2.2/24             │
#  └──────────────┬───────────────────┘      └──────────────────────────────────┘
#                 │ /var/run/wireguard/$if1.sock
#        python3: "get=1\n\n", then 10 s without reading, then read it all

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping python3

echo "== slow_client.sh: XWGD=$XWGD"
require_impls "$XWGD" "$WGGO"

EXTRA_PEERS=20000
STALL_S=10
# One ping through the tunnel, 10 ms apart, for IDLE_S seconds before the
# slow client asks, the STALL_S it reads nothing (and its reading), and
# about IDLE_S after. Each ping counts as idle or as under the slow client
# by when it was sent, so both samples see the same machine: it is shared
# (other people's fuzzers, sanitized tests and iperf3 runs come and go),
# and an idle sample taken at another time would compare noise with noise.
IDLE_S=2
PINGS=$(((2 * IDLE_S + STALL_S) * 100))
# The bound on the 99th percentile RTT under the slow client is 2x the idle
# one plus SLACK_MS. On a veth the idle p99 is a fraction of a millisecond,
# so 2x alone would fail on any scheduling hiccup of a 2-CPU machine
# (xwgd's crypto threads, wireguard-go and ping compete for it); 5 ms
# still fails a daemon loop that stops even once per hundred pings for
# half a ping interval, let alone for the seconds this test was written
# for. (Building the 6 MB reply takes the loop 15-30 ms once: two or three
# pings, under the 1% the percentile leaves out.)
SLACK_MS=5
SHOW_ROUNDS=4

umask 077
wg genkey >"$TMP_DIR/key1"
wg genkey >"$TMP_DIR/key2"
pub1=$(wg pubkey <"$TMP_DIR/key1")
pub2=$(wg pubkey <"$TMP_DIR/key2")

ns_create "$ns1" "$ns2"
veth_link "$ns1" veth1 "$ns2" veth2
addr_add "$ns1" veth1 192.0.2.1/24
addr_add "$ns2" veth2 192.0.2.2/24

# The configuration for xwgd: its key and port, the real peer, and
# EXTRA_PEERS peers with random keys and one allowed IP each (no endpoint:
# they stay silent). The extra keys, in hex as a get reply lists them, go
# to $TMP_DIR/extra.hex.
python3 - "$TMP_DIR/xwgd.conf" "$TMP_DIR/extra.hex" "$(cat "$TMP_DIR/key1")" "$pub2" \
	"$EXTRA_PEERS" <<'EOF'
import base64, os, sys
conf, hexfile, priv, pub2, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
out = ["[Interface]", f"PrivateKey = {priv}", "ListenPort = 10001", "",
       "[Peer]", f"PublicKey = {pub2}", "AllowedIPs = 10.0.0.2/32",
       "Endpoint = 192.0.2.2:10002", ""]
keys = []
for i in range(n):
    k = os.urandom(32)
    keys.append(k.hex())
    out += ["[Peer]", "PublicKey = " + base64.b64encode(k).decode(),
            f"AllowedIPs = 172.16.{i >> 8}.{i & 255}/32", ""]
open(conf, "w").write("\n".join(out))
open(hexfile, "w").write("\n".join(keys) + "\n")
EOF

# The slow client: asks for a get reply, says so, reads nothing for STALL
# seconds (a 4 KiB receive buffer, so that the daemon holds nearly all of
# it), then reads it all and checks it: ends with errno=0 and a blank line,
# lists exactly the real peer and the extra ones.
cat >"$TMP_DIR/slow_client.py" <<'EOF'
import socket, sys, time
path, stall, hexfile, pub2hex = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(path)
s.sendall(b"get=1\n\n")
print(f"requested at {time.time():.3f}", flush=True)
time.sleep(stall)
t0 = time.monotonic()
buf = bytearray()
while not buf.endswith(b"\n\n"):
    chunk = s.recv(1 << 20)
    if not chunk:
        sys.exit(f"EOF after {len(buf)} bytes")
    buf += chunk
took = time.monotonic() - t0
print(f"read from {time.time() - took:.3f} to {time.time():.3f}", flush=True)
text = buf.decode()
if not text.endswith("\nerrno=0\n\n") or text.count("\n\n") != 1:
    sys.exit(f"bad end of reply: {text[-40:]!r}")
keys = [l[len("public_key="):] for l in text.split("\n") if l.startswith("public_key=")]
want = set(open(hexfile).read().split()) | {pub2hex}
if len(keys) != len(want) or set(keys) != want:
    sys.exit(f"{len(keys)} peers in the reply, want {len(want)}")
print(f"received {len(buf)} bytes, {len(keys)} peers, in {took:.2f} s", flush=True)
EOF

# rtt_p99 PING_LOG CLIENT_LOG [MIN_LOADED]: "IDLE_P99 LOADED_P99 LOADED_MAX
# N_IDLE N_LOADED", RTTs in ms: the pings of a `ping -D` log split by when
# they were sent (receive time minus RTT): from the client's request to the
# end of its reading, or outside.
rtt_p99() {
	python3 - "$1" "$2" "${3:-500}" <<'EOF'
import re, sys
client = open(sys.argv[2]).read()
start = float(re.search(r"requested at ([0-9.]+)", client).group(1))
end = float(re.search(r"read from [0-9.]+ to ([0-9.]+)", client).group(1))
idle, loaded = [], []
for m in re.finditer(r"^\[([0-9.]+)\].* time=([0-9.]+) ms", open(sys.argv[1]).read(), re.M):
    rtt = float(m.group(2))
    sent = float(m.group(1)) - rtt / 1000
    (loaded if start <= sent <= end else idle).append(rtt)
if len(idle) < 200 or len(loaded) < int(sys.argv[3]):
    sys.exit(f"{len(idle)} idle and {len(loaded)} loaded pings: too few")
p99 = lambda v: sorted(v)[-(-len(v) * 99 // 100) - 1]
print(p99(idle), p99(loaded), max(loaded), len(idle), len(loaded))
EOF
}

# The get client of the second part: ROUNDS times, 1 s asking for a get
# reply every 100 ms (each read whole, its peers counted), then 1 s not;
# prints "show FROM TO" for each asking second, then a summary.
cat >"$TMP_DIR/show_client.py" <<'EOF'
import socket, sys, time
path, rounds, peers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
n = 0
for _ in range(rounds):
    t0 = time.time()
    while time.time() < t0 + 1:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b"get=1\n\n")
        buf = bytearray()
        while not buf.endswith(b"\n\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                sys.exit(f"EOF after {len(buf)} bytes")
            buf += chunk
        s.close()
        if not buf.endswith(b"\nerrno=0\n\n") or buf.count(b"public_key=") != peers:
            sys.exit(f"bad reply: {len(buf)} bytes, {buf.count(b'public_key=')} peers")
        n += 1
        time.sleep(0.1)
    print(f"show {t0:.3f} {time.time():.3f}", flush=True)
    time.sleep(1)
print(f"{n} replies of {peers} peers, each whole", flush=True)
EOF

# rtt_p99_windows PING_LOG CLIENT_LOG: as rtt_p99, the loaded pings being
# those sent within one of the client's "show FROM TO" windows.
rtt_p99_windows() {
	python3 - "$1" "$2" <<'EOF'
import re, sys
wins = [(float(a), float(b)) for a, b in re.findall(r"^show ([0-9.]+) ([0-9.]+)$",
                                                   open(sys.argv[2]).read(), re.M)]
idle, loaded = [], []
for m in re.finditer(r"^\[([0-9.]+)\].* time=([0-9.]+) ms", open(sys.argv[1]).read(), re.M):
    rtt = float(m.group(2))
    sent = float(m.group(1)) - rtt / 1000
    (loaded if any(a <= sent <= b for a, b in wins) else idle).append(rtt)
if not wins or len(idle) < 200 or len(loaded) < 100:
    sys.exit(f"{len(wins)} windows, {len(idle)} idle and {len(loaded)} loaded pings: too few")
p99 = lambda v: sorted(v)[-(-len(v) * 99 // 100) - 1]
print(p99(idle), p99(loaded), max(loaded), len(idle), len(loaded))
EOF
}

# ping_lost_nothing LOG COUNT: COUNT sent, COUNT answered.
ping_lost_nothing() {
	grep -q "^$2 packets transmitted, $2 received" "$1" ||
		{ grep 'packets transmitted' "$1" || echo "no ping summary in $1"; return 1; }
}

# rtt_within LOADED_P99 IDLE_P99: LOADED <= 2 x IDLE + SLACK_MS.
rtt_within() {
	awk -v l="$1" -v i="$2" -v s="$SLACK_MS" 'BEGIN { exit !(l <= 2 * i + s) }' ||
		{ echo "p99 $1 ms under a slow client, idle $2 ms: more than 2x + $SLACK_MS ms"; return 1; }
}

log_has() { grep -q "$2" "$1"; }
pid_is_gone() { ! pid_is_alive "$1"; }

# prioritise PID...: nice -10 for every thread of each. Other work on the
# machine then stalls the tunnel's processes less, which the RTT bound
# would take for the slow client's doing; a daemon loop that blocks still
# stalls whatever its priority.
prioritise() {
	local pid
	for pid in "$@"; do
		# shellcheck disable=SC2046 # one argument per thread
		renice -n -10 -p $(ls "/proc/$pid/task") >/dev/null
	done
}

# one_round LABEL N: xwgd (tunnel N) and wireguard-go (tunnel N+1) with the
# extra peers, then the slow client under a ping.
one_round() {
	local label=$1 xif xgo ping_log client_log client_pid ping_pid rtt
	local idle_p99 loaded_p99 loaded_max n_idle n_loaded
	xif=$(tunnel_name "$2")
	xgo=$(tunnel_name "$(($2 + 1))")
	start_impl "$ns1" "$XWGD" "$xif"
	start_impl "$ns2" "$WGGO" "$xgo"
	addr_add "$ns1" "$xif" 10.0.0.1/24
	addr_add "$ns2" "$xgo" 10.0.0.2/24
	ip -n "$ns1" link set "$xif" up
	ip -n "$ns2" link set "$xgo" up
	prioritise "${IMPL_PID[$xif]}" "${IMPL_PID[$xgo]}"
	n2 wg set "$xgo" private-key "$TMP_DIR/key2" listen-port 10002 \
		peer "$pub1" allowed-ips 10.0.0.1/32 endpoint 192.0.2.1:10001

	# Test that the 20,001 peers load (one wg setconf transaction).
	check "$label: wg setconf of $((EXTRA_PEERS + 1)) peers" \
		n1 wg setconf "$xif" "$TMP_DIR/xwgd.conf"
	check_within 10 "$label: the tunnel carries a ping" pings "$ns2" 10.0.0.1

	n2 ping -n -q -i 0.01 -c 50 10.0.0.1 >/dev/null 2>&1 || true  # warm-up

	# Test that a client that asks for the 6 MB reply and reads nothing for
	# STALL_S seconds neither delays nor drops the pings, that other clients
	# are answered meanwhile, and that the reply then arrives whole.
	ping_log=$LOG_DIR/ping-$2.log client_log=$LOG_DIR/client-$2.log
	bg_start "$ping_log" \
		ip netns exec "$ns2" nice -n -10 ping -D -n -i 0.01 -c "$PINGS" -W 5 10.0.0.1
	ping_pid=$BG_PID
	wait_for $((IDLE_S * 3)) ping_log_replies "$ping_log" 0 $((IDLE_S * 100)) || true
	bg_start "$client_log" python3 "$TMP_DIR/slow_client.py" \
		"$WG_RUN_DIR/$xif.sock" "$STALL_S" "$TMP_DIR/extra.hex" \
		"$(base64 -d <<<"$pub2" | od -An -tx1 | tr -d ' \n')"
	client_pid=$BG_PID
	check_within 5 "$label: the slow client sent its get" log_has "$client_log" requested
	# (A set: a get would build another 6 MB reply, which is CPU time on
	# the loop, not waiting for a client.)
	check_within 3 "$label: wg set is answered while the slow client reads nothing" \
		n1 wg set "$xif" fwmark 0
	check_within $((STALL_S + 15)) "$label: the slow client is done" pid_is_gone "$client_pid"
	check "$label: it received the whole reply, every peer listed" wait "$client_pid"
	sed 's/^/    /' "$client_log"
	check_within $((IDLE_S * 3 + 5)) "$label: the ping is done" pid_is_gone "$ping_pid"
	wait "$ping_pid" 2>/dev/null || true
	check "$label: the ping loses nothing" ping_lost_nothing "$ping_log" "$PINGS"
	if rtt=$(rtt_p99 "$ping_log" "$client_log" 2>&1); then
		read -r idle_p99 loaded_p99 loaded_max n_idle n_loaded <<<"$rtt"
		echo "    p99 RTT: idle $idle_p99 ms ($n_idle pings), under the slow client" \
			"$loaded_p99 ms ($n_loaded pings, max $loaded_max ms)"
		check "$label: p99 RTT under the slow client within 2x idle + $SLACK_MS ms" \
			rtt_within "$loaded_p99" "$idle_p99"
	else
		fail "$label: p99 RTT under the slow client within 2x idle + $SLACK_MS ms" "$rtt"
	fi

	# Test that get replies of the 20,001 peers, asked for every 100 ms,
	# keep the pings' p99 RTT within the same bound: the replies are built
	# between packets. SHOW_ROUNDS rounds of 1 s asking and 1 s not, so
	# that the machine's other load falls on both samples alike; measured
	# again once if the bound is missed (a daemon that holds its loop for
	# each reply misses it every time, a burst of other load rarely twice).
	local try
	for try in 1 2; do
		ping_log=$LOG_DIR/ping-show-$2-$try.log client_log=$LOG_DIR/show-$2-$try.log
		bg_start "$ping_log" \
			ip netns exec "$ns2" nice -n -10 ping -D -n -i 0.01 \
			-c $(((IDLE_S + 2 * SHOW_ROUNDS + 1) * 100)) -W 5 10.0.0.1
		ping_pid=$BG_PID
		wait_for $((IDLE_S * 3)) ping_log_replies "$ping_log" 0 $((IDLE_S * 100)) || true
		check "$label: $SHOW_ROUNDS rounds of get replies every 100 ms, each whole" \
			eval "python3 '$TMP_DIR/show_client.py' '$WG_RUN_DIR/$xif.sock' \
			$SHOW_ROUNDS $((EXTRA_PEERS + 1)) >'$client_log'"
		grep -v '^show ' "$client_log" | sed 's/^/    /' || true
		check_within $((IDLE_S * 3 + 5)) "$label: the ping under get replies is done" \
			pid_is_gone "$ping_pid"
		wait "$ping_pid" 2>/dev/null || true
		check "$label: the ping under get replies loses nothing" ping_lost_nothing \
			"$ping_log" $(((IDLE_S + 2 * SHOW_ROUNDS + 1) * 100))
		if ! rtt=$(rtt_p99_windows "$ping_log" "$client_log" 2>&1); then
			fail "$label: p99 RTT under get replies within 2x idle + $SLACK_MS ms" "$rtt"
			break
		fi
		read -r idle_p99 loaded_p99 loaded_max n_idle n_loaded <<<"$rtt"
		echo "    p99 RTT: idle $idle_p99 ms ($n_idle pings), while get replies are" \
			"built $loaded_p99 ms ($n_loaded pings, max $loaded_max ms)"
		if ((try == 2)) || rtt_within "$loaded_p99" "$idle_p99" >/dev/null; then
			check "$label: p99 RTT under get replies within 2x idle + $SLACK_MS ms" \
				rtt_within "$loaded_p99" "$idle_p99"
			break
		fi
		echo "    (over the bound: measured again)"
	done
	check_fastpath "$ns1" "$xif" "$XWGD" "$label"
	check "$label: xwgd exits cleanly" stop_impl "$xif"
	check "$label: wireguard-go exits cleanly" stop_impl "$xgo"
}

export XWG_DATAPATH=portable
one_round "portable data path" 1
unset XWG_DATAPATH
one_round "default data path" 3

report
