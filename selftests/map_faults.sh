#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# The fast path's maps never stay apart from the daemon's state after a map
# write fails (issue 17 item 3). xwgd's test seam XWG_TEST_FAIL_MAP_WRITE=N
# (ctl/fastpath.h) makes the Nth write of its mirror (peers, allowed_ips,
# indices) fail with ENOMEM. For N over the writes of one scenario (sampled
# when there are many, every kind of write covered) a fresh xwgd runs the
# scenario:
#
#   1. `wg set`: peers P (wireguard-go, 10.0.0.2/32), A (10.8.0.0/24,
#      fd08::/64), B (10.9.0.0/24);
#   2. a ping through the tunnel: a handshake, a receiver index;
#   3. `wg setconf` (replace_peers): P, A (10.8.0.0/24, 10.10.0.0/24), C
#      (10.11.0.0/24); B goes, P's session with it;
#   4. a ping: a new handshake and index;
#   5. `wg set`: 10.10.0.0/24 moves from A to C;
#   6. `wg set`: A is removed.
#
# Then, within a bound (the daemon re-syncs every 250 ms): the pinned maps
# say what `wg showconf` says (the peers in use are its peers; every prefix
# of `wg show allowed-ips` on its peer's id and no other entry; every index
# on a peer in use, P's among them) and a ping still crosses the tunnel
# (xdp_rx runs on veth1: an index missing from the map drops P's replies).
# The failure is surfaced: the seam's write failed, SIGUSR1 counts it, and
# so does peer_stats[0].map_write_errors. A `wg` command whose transaction
# it hit is refused whole: `wg showconf` reads as before, and the command
# run again passes. The config map's listen port is checked too (its
# write is re-synced like the others).
#
#  ┌──────────────────────────────────┐      ┌──────────────────────────────────┐
#  │ $ns1                             │      │ $ns2                             │
#  │  $if1: xwgd -f, fast path,       │      │  $if2: wireguard-go -f           │
#  │  XWG_TEST_FAIL_MAP_WRITE=N       │      │  10.0.0.2/24  listen port 10002  │
#  │  10.0.0.1/24  listen port 10001  │      │                                  │
#  │  veth1 192.0.2.1/24 [xdp_rx] ────┼──────┼── veth2 192.0.2.2/24             │
#  └──────────────────────────────────┘      └──────────────────────────────────┘

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping bpftool nsenter jq python3
# Rounds at most (N values sampled over the scenario's writes).
MAX_ROUNDS=${MAX_ROUNDS:-8}

echo "== map_faults.sh: XWGD=$XWGD"
impl_path "$XWGD" >/dev/null && impl_path "$WGGO" >/dev/null ||
	{ fail "prerequisite" "$XWGD or $WGGO cannot be run"; exit 1; }
if [[ ${XWG_DATAPATH:-auto} == portable ]]; then
	skip "map faults" "XWG_DATAPATH=portable has no maps"
	report
fi

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
umask 077
for k in 1 2 a b c; do wg genkey >"$TMP_DIR/key$k"; done
pub1=$(wg pubkey <"$TMP_DIR/key1") pub2=$(wg pubkey <"$TMP_DIR/key2")
pub_a=$(wg pubkey <"$TMP_DIR/keya") pub_b=$(wg pubkey <"$TMP_DIR/keyb")
pub_c=$(wg pubkey <"$TMP_DIR/keyc")

veth_underlay
start_impl "$ns2" "$WGGO" "$if2"
n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port 10002 \
	peer "$pub1" allowed-ips 10.0.0.1/32 endpoint 192.0.2.1:10001
addr_add "$ns2" "$if2" 10.0.0.2/24
ip -n "$ns2" link set "$if2" up

cat >"$TMP_DIR/setconf.conf" <<EOF
[Interface]
PrivateKey = $(<"$TMP_DIR/key1")
ListenPort = 10001

[Peer]
PublicKey = $pub2
AllowedIPs = 10.0.0.2/32
Endpoint = 192.0.2.2:10002

[Peer]
PublicKey = $pub_a
AllowedIPs = 10.8.0.0/24, 10.10.0.0/24

[Peer]
PublicKey = $pub_c
AllowedIPs = 10.11.0.0/24
EOF

# ---------------------------------------------------------------------------
# Helpers.

# maps_agree: the pinned maps of $if1 describe what `wg show` says. The
# peers map is read whole (one bpftool dump), the tries and indices too.
maps_agree() {
	local pid=${IMPL_PID[$if1]}
	python3 - "$pid" "$if1" "$ns1" "$pub2" <<'EOF'
import base64, ipaddress, json, subprocess, sys

pid, ifname, ns, pub_p = sys.argv[1:5]
pins = f"/sys/fs/bpf/xwg/{ifname}"

def bpftool(*args):
    return json.loads(subprocess.check_output(["nsenter", "-t", pid, "-m", "bpftool", "-j", *args]))

def raw(hexes):
    return bytes(int(x, 16) for x in hexes)

le = lambda b: int.from_bytes(b, "little")
# struct xwg_peer: endpoint 40, flags 4, pad 4, last_event_ns 8, public_key 32
active = {}
for e in bpftool("map", "dump", "pinned", f"{pins}/peers"):
    v = raw(e["value"])
    if le(v[40:44]) & 1:
        active[le(raw(e["key"]))] = base64.b64encode(v[56:88]).decode()
tries = set()
for fam, n in (("v4", 4), ("v6", 16)):
    for e in bpftool("map", "dump", "pinned", f"{pins}/allowed_ips_{fam}"):
        k, v = raw(e["key"]), raw(e["value"])
        tries.add((active.get(le(v[:4]), f"inactive id {le(v[:4])}"),
                   str(ipaddress.ip_network((k[4:4 + n], le(k[:4]))))))
indices = [(le(raw(e["key"])), le(raw(e["value"])[:4]))
           for e in bpftool("map", "dump", "pinned", f"{pins}/indices")]
# struct xwg_config: listen_port (network order) first
config = raw(bpftool("map", "dump", "pinned", f"{pins}/config")[0]["value"])

wg = lambda what: subprocess.check_output(["ip", "netns", "exec", ns, "wg", "show", ifname, what],
                                          text=True)
peers = set(wg("peers").split())
want = set()
for line in wg("allowed-ips").splitlines():
    parts = line.split()
    want |= {(parts[0], str(ipaddress.ip_network(n, strict=False)))
             for n in parts[1:] if n != "(none)"}
handshakes = {l.split()[0] for l in wg("latest-handshakes").splitlines() if l.split()[1] != "0"}

bad = []
if int.from_bytes(config[:2], "big") != int(wg("listen-port")):
    bad.append(f"config map port {int.from_bytes(config[:2], 'big')}, wg show {wg('listen-port').strip()}")
if set(active.values()) != peers or len(active) != len(peers):
    bad.append(f"peers in use {sorted(active.values())}, wg show {sorted(peers)}")
if tries != want:
    bad.append(f"tries missing {sorted(want - tries)}, extra {sorted(tries - want)}")
for index, pid_ in indices:
    if pid_ not in active:
        bad.append(f"index {index:08x} on id {pid_}, no peer in use")
if pub_p in handshakes and not any(active.get(p) == pub_p for _, p in indices):
    bad.append("the peer with a session has no index")
if bad:
    print("; ".join(bad))
    sys.exit(1)
print(f"{len(active)} peers, {len(tries)} prefixes, {len(indices)} indices agree")
EOF
}

# device_map_write_errors: peer_stats[0].map_write_errors (after the
# daemon's once-a-second write).
device_map_write_errors() {
	local v
	v=$(nsenter -t "${IMPL_PID[$if1]}" -m bpftool -j map lookup pinned \
		"/sys/fs/bpf/xwg/$if1/peer_stats" key 0 0 0 0 | jq -r '.formatted.value.map_write_errors')
	[[ $v =~ ^[0-9]+$ ]] && ((v > 0)) || { echo "map_write_errors is '$v'"; return 1; }
}

# usr1_counts: "WRITES FAILED" from the line SIGUSR1 logs.
usr1_counts() {
	local log=$LOG_DIR/$if1.log mark
	mark=$(wc -l <"$log")
	kill -USR1 "${IMPL_PID[$if1]}"
	wait_for 3 eval "tail -n +$((mark + 1)) '$log' | grep -q 'fast path maps: '" || return 1
	tail -n +"$((mark + 1))" "$log" | sed -n 's/.*fast path maps: \([0-9]*\) writes, \([0-9]*\) failed.*/\1 \2/p' |
		head -n 1
}

# run_scenario: steps 1-6 above. A `wg` that fails (a failed write refuses
# its transaction whole) is counted in WG_FAILED; one that failed but left
# `wg showconf` changed in WG_CHANGED; then it is run again, as an operator
# would, and a second failure is counted in WG_RETRY_FAILED.
WG_FAILED=0 WG_CHANGED=0 WG_RETRY_FAILED=0
wg1() {
	local before
	before=$(n1 wg showconf "$if1" 2>&1 || true)
	n1 wg "$@" 2>>"$TMP_DIR/wg.err" && return 0
	WG_FAILED=$((WG_FAILED + 1))
	[[ $(n1 wg showconf "$if1" 2>&1 || true) == "$before" ]] || WG_CHANGED=$((WG_CHANGED + 1))
	n1 wg "$@" 2>>"$TMP_DIR/wg.err" || WG_RETRY_FAILED=$((WG_RETRY_FAILED + 1))
}
run_scenario() {
	WG_FAILED=0 WG_CHANGED=0 WG_RETRY_FAILED=0
	wg1 set "$if1" private-key "$TMP_DIR/key1" listen-port 10001 \
		peer "$pub2" allowed-ips 10.0.0.2/32 endpoint 192.0.2.2:10002 \
		peer "$pub_a" allowed-ips 10.8.0.0/24,fd08::/64 peer "$pub_b" allowed-ips 10.9.0.0/24
	addr_add "$ns1" "$if1" 10.0.0.1/24
	ip -n "$ns1" link set "$if1" up
	wait_for 5 pings "$ns1" 10.0.0.2 || true
	wg1 setconf "$if1" "$TMP_DIR/setconf.conf"
	wait_for 5 pings "$ns1" 10.0.0.2 || true
	wg1 set "$if1" peer "$pub_c" allowed-ips 10.11.0.0/24,10.10.0.0/24
	wg1 set "$if1" peer "$pub_a" remove
}

# round N: one fresh xwgd failing its Nth write (0: none) through the
# scenario, then the checks. Sets ROUND_KIND to the kind of write that
# failed ("" if none did).
round() {
	local n=$1 log=$LOG_DIR/$if1.log
	IMPL_ENV[$if1]="XWG_XDP_IFACES=veth1"
	((n == 0)) || IMPL_ENV[$if1]+=" XWG_TEST_FAIL_MAP_WRITE=$n"
	ROUND_MARK=$(wc -l <"$log" 2>/dev/null || echo 0)
	start_impl "$ns1" "$XWGD" "$if1"
	run_scenario
	ROUND_KIND=$(tail -n +"$((ROUND_MARK + 1))" "$log" |
		sed -n 's/.*test seam: map write [0-9]* (\([a-z_ ]*\)) fails.*/\1/p' | head -n 1)
}

# ---------------------------------------------------------------------------
# Test that without a fault the scenario leaves maps and daemon in agreement,
# and count its writes.
round 0
check_within 3 "no fault: the maps agree with wg show" maps_agree
check_within 5 "no fault: xwgd pings wireguard-go" pings "$ns1" 10.0.0.2
counts=$(usr1_counts || true)
total=${counts%% *}
check "no fault: SIGUSR1 counts the writes, none failed" eval "[[ '${counts:-}' =~ ^[0-9]+\ 0$ ]]"
check "no fault: every wg command succeeded" test "$WG_FAILED" -eq 0
check "xwgd exits 0 on SIGTERM" stop_impl "$if1"
[[ ${total:-} =~ ^[0-9]+$ ]] && ((total > 0)) || { fail "the scenario's writes" "counts '${counts:-}'"; report; }
echo "    the scenario makes $total map writes"

# N: every one when they fit in MAX_ROUNDS, else evenly spread over 1..total
# (the first and the last included).
ns=()
if ((total <= MAX_ROUNDS)); then
	for ((i = 1; i <= total; i++)); do ns+=("$i"); done
else
	for ((i = 0; i < MAX_ROUNDS; i++)); do
		ns+=("$((1 + i * (total - 1) / (MAX_ROUNDS - 1)))")
	done
fi

# Test, for each N, that the maps agree with wg show within 3 s, that the
# tunnel still carries pings, and that the failure was counted.
declare -A kinds=()
for n in "${ns[@]}"; do
	round "$n"
	kind=${ROUND_KIND:-none}
	check_within 3 "N=$n ($kind): the maps agree with wg show" maps_agree
	check_within 5 "N=$n ($kind): xwgd pings wireguard-go" pings "$ns1" 10.0.0.2
	if [[ -n ${ROUND_KIND:-} ]]; then
		kinds[$kind]=1
		counts=$(usr1_counts || true)
		check "N=$n: SIGUSR1 counts one failed write" eval "[[ '${counts:-}' =~ ^[0-9]+\ 1$ ]]"
		check_within 3 "N=$n: peer_stats[0].map_write_errors counts it" device_map_write_errors
		check "N=$n: the daemon logged the episode, once, and its end" eval \
			"tail -n +$((ROUND_MARK + 1)) '$LOG_DIR/$if1.log' | grep -c 'the maps lag the configuration' | grep -qx 1 &&
			 tail -n +$((ROUND_MARK + 1)) '$LOG_DIR/$if1.log' | grep -q 'the maps agree with the configuration again'"
		echo "    wg commands that failed: $WG_FAILED"
		check "N=$n: a refused wg command changed nothing (wg showconf), its retry passed" \
			eval "((WG_CHANGED == 0 && WG_RETRY_FAILED == 0))"
	fi
	check "N=$n: xwgd exits 0 on SIGTERM" stop_impl "$if1"
done

# Test that every kind of write failed in some round.
for kind in "config" "peers set" "peers clear" "allowed_ips batch" "allowed_ips add" \
	"allowed_ips remove" "indices set" "indices remove"; do
	if [[ -n ${kinds[$kind]:-} ]]; then pass "a failed '$kind' was covered"
	else skip "a failed '$kind'" "no sampled N hit one (kinds hit: ${!kinds[*]})"; fi
done

report
