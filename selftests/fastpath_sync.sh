#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# The daemon's writer into the fast path's maps (ctl/maps/sync.c), driven by
# tests/tools/sync_probe.c against a fast path loaded by ctl/maps/loader.c:
# peers, allowed IPs (LPM longest match, host bits masked, 200,000 in a
# batch, timed), receiver indices (up to the capacity limit), peer_stats
# through the loader's mmap, per-CPU drops summed, and the test seam that
# fails the Nth map write (selftests/map_faults.sh drives it in xwgd).
# The probe checks what it wrote through bpf_map_lookup_elem; this script
# then reads the state it leaves with `bpftool map dump/lookup pinned`.
# Needs root; touches only its namespace. The probe runs under `ip netns
# exec`, so the loader mounts a bpffs of its own: its pins live in the
# probe's mount namespace (read here through `nsenter -t PID -m`) and vanish
# with it, however it ends. The probe loads the veth-pair shape of the fast
# path (xwgd's XWG_TUNNEL=veth; the maps and their writer are the same in
# both shapes).
#
# Then the daemon itself, in its default shape (a TUN, tc_tx on its egress):
# the maps it writes follow what wg(8) sets - peers, their endpoints, the
# allowed-IPs tries (against `wg show allowed-ips`, fastpath_tries.py), the
# listen port - through additions, a prefix moving between peers and
# removals.
#
#  ┌──────────────────────────────────────────────────────────────────────┐
#  │ $ns1 (sync_probe's own mount namespace: bpffs with /sys/fs/bpf/xwg/) │
#  │                                                                      │
#  │  $ifn ═════════ veth ═════════ ${ifn}x       ul0 ══ veth ══ ul1      │
#  │       [tc_tx]               [xdp_twin]       [xdp_rx]                │
#  │                                                                      │
#  │  sync_probe: fastpath_load, then ctl/maps/sync.c ──▶ the maps        │
#  │  this script: nsenter -t PID -m bpftool map dump pinned ...          │
#  │                                                                      │
#  │  then: xwgd -f $ifd (TUN) [tc_tx], its bpffs read the same way       │
#  └──────────────────────────────────────────────────────────────────────┘

set -euo pipefail
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip bpftool nsenter jq wg python3

echo "== fastpath_sync.sh"
PROBE=$REPO_ROOT/build/tools/sync_probe

if [[ ! -x $PROBE ]]; then
	fail "prerequisite" "$PROBE is missing (run \`make\` first)"
	exit 1
fi

ifn=$(tunnel_name 0)
pin=/sys/fs/bpf/xwg/$ifn

# lib.sh's cleanup ends the probe (its mount namespace, and the pins in it,
# go with it) and deletes the namespace (the pair and the attachments). The
# host's pin directory is removed too, should a loader ever pin there.
eval "_lib_$(declare -f cleanup)"
cleanup() {
	_lib_cleanup
	rm -rf "/sys/fs/bpf/xwg/$ifn"
	rmdir /sys/fs/bpf/xwg 2>/dev/null || true # only if no one else pins there
}

ns_create "$ns1"
veth_link "$ns1" ul0 "$ns1" ul1

logged() { grep -qxF -- "$2" "$1" || { echo "no line '$2' from the probe:"; tail -n 3 "$1"; return 1; }; }
not_logged() { ! grep -qF -- "$2" "$1" || { echo "the probe printed:"; grep -F -- "$2" "$1"; return 1; }; }

# in_probe CMD...: CMD in the probe's mount namespace, where its bpffs is.
in_probe() { nsenter -t "$PROBE_PID" -m "$@"; }

# jq_true FILE EXPR: EXPR is true of the JSON in FILE.
jq_true() {
	jq -e "$2" "$1" >/dev/null 2>&1 ||
		{ echo "not true: $2, of:"; head -c 800 "$1"; echo; return 1; }
}

# lpm_lookup_is MAP PEER KEYBYTES...: bpftool's lookup of the key (LPM:
# the longest match) finds PEER.
lpm_lookup_is() {
	local map=$1 want=$2 got; shift 2
	got=$(in_probe bpftool -j map lookup pinned "$pin/$map" key "$@" 2>&1 |
		jq -r '.formatted.value.peer_id' 2>/dev/null) || true
	[[ $got == "$want" ]] || { echo "lookup $map key $*: peer '${got:-none}', want $want"; return 1; }
}

# stop_probe PID: SIGTERM and wait for it; fails unless it exits 0.
stop_probe() {
	local rc=0
	kill -TERM "$1" 2>/dev/null || true
	wait_for 10 eval "! pid_is_alive $1" || { echo "PID $1 ignored SIGTERM"; return 1; }
	wait "$1" 2>/dev/null || rc=$?
	((rc == 0)) || { echo "the probe exited with status $rc"; return 1; }
}

net_lacks_xdp() {
	local out
	out=$(ip netns exec "$ns1" bpftool net show 2>&1)
	! grep -qE "driver id|generic id|xwg_tc_tx" <<<"$out" ||
		{ echo "bpftool net still shows:"; echo "$out"; return 1; }
}

# ===========================================================================
# The probe: load, check every function, leave a known state.

log=$TMP_DIR/probe.log
bg_start "$log" ip netns exec "$ns1" "$PROBE" -u ul0 "$ifn"
PROBE_PID=$BG_PID
if ! wait_for 30 grep -qE '^(ready|load failed)' "$log" || ! grep -q '^ready ' "$log"; then
	fail "the probe loads the fast path and runs its checks" "no ready line; its output:"
	tail -n 10 "$log" | sed 's/^/    /'
	report
fi
pass "the probe loads the fast path and runs its checks"
ncpus=$(sed -n 's/^ready ncpus=\([0-9]*\)$/\1/p' "$log")
grep -E '^(time|info) ' "$log" | sed 's/^/    /'

# Test that each writer does what it says, read back by the probe with
# bpf_map_lookup_elem.
while IFS='|' read -r name desc; do
	check "$desc" logged "$log" "ok $name"
done <<'EOF'
peer-set-reads-back|peer_set writes endpoint and flags (ACTIVE added)
peer-set-keeps-last-event|peer_set keeps tc_tx's last_event_ns
peer-set-without-endpoint|peer_set with no endpoint zeroes it
peer-id-out-of-range-einval|peer ids 0 and XWG_MAX_PEERS are EINVAL
peer-bad-family-eafnosupport|an endpoint of family 99 is EAFNOSUPPORT
peer-unknown-flags-einval|unknown peer flags are EINVAL
peer-clear-zeroes-peer|peer_clear zeroes the peer
peer-clear-zeroes-stats|peer_clear zeroes its peer_stats
v4-add|IPv4 prefixes are added
v4-longest-match|IPv4 LPM lookups find the longest match
v4-host-bits-masked|10.1.2.3/24 is stored as 10.1.2.0/24
v4-more-specific-wins|a /25 inside a /24 wins
v4-remove|removing 10.1.2.255/25 removes 10.1.2.128/25
v4-remove-absent-enoent|removing an absent prefix is ENOENT
v6-add|IPv6 prefixes are added
v6-longest-match|IPv6 LPM lookups find the longest match
v6-host-bits-masked|2001:db8:1:ffff::1/57 is stored as 2001:db8:1:ff80::/57
v6-add-remove-host-route|an IPv6 /128 is added, found and removed
cidr-too-long-einval|a /33 and a /129 are EINVAL
bad-family-eafnosupport|allowed IPs of family 99 are EAFNOSUPPORT
allowedip-peer-0-einval|allowed IPs for peer 0 are EINVAL
batch-invalid-writes-nothing|a batch with one bad cidr writes nothing
v4-batch-add-200000|200,000 IPv4 /32s are added in one batch call
v4-batch-add-under-1s|the 200,000 IPv4 /32s take under a second
v4-batch-every-entry-found|every 4th of them is looked up and found
v4-batch-removed|all of them are removed one by one
v4-loop-add-200000|200,000 IPv4 /32s are added one by one
v6-batch-add-200000|200,000 IPv6 /128s are added in one batch call
v6-batch-add-under-1s|the 200,000 IPv6 /128s take under a second
v6-batch-every-entry-found|every 4th of them is looked up and found
v6-batch-removed|all of them are removed
index-set|index_set maps an index to peer and slot
index-set-moves-slot|index_set again moves it to another slot
index-remove|index_remove removes it
index-remove-absent-enoent|removing an absent index is ENOENT
index-bad-slot-or-peer-einval|slot 3 or peer 0 is EINVAL
index-full-enospc|XWG_MAX_INDICES indices fit, one more is ENOSPC
index-room-again-after-removal|after removals there is room again
fault-seam-nth-write-fails|the test seam fails the 2nd write from now, only it
fault-seam-writes-nothing|the write it fails leaves the map as it was
fault-seam-names-the-kind|it names the kind of write it failed
peer-stats-mmap-is-the-map|peer_stats written through the mmap is what bpf_map_lookup_elem reads
peer-stats-read|fastpath_peer_stats_read reads it back
drops-summed-over-cpus|drops are summed over every CPU
peer-stats-peer-0-einval|peer_stats of peer 0 are EINVAL
EOF
check "the probe reports no other failure" not_logged "$log" "not ok"
check "the probe finished its checks" logged "$log" "done failures=0"

# ===========================================================================
# The state it left, as operators see it: bpftool on the pinned maps.

# Test that the peers map shows peer 5 as set (endpoint [2001:db8::7]:51820,
# the port in network order, 51820 = 0xca6c read little-endian: 27850),
# peer 6 cleared, and no other peer active.
peers=$TMP_DIR/peers.json
in_probe bpftool -j map dump pinned "$pin/peers" 2>"$TMP_DIR/bpftool.err" |
	jq -c '[.[] | .formatted | select(.key == 5 or .key == 6 or .value.flags != 0)]' \
		>"$peers" 2>>"$TMP_DIR/bpftool.err" || true
check "bpftool: peer 5 has its endpoint, flags 3 and last_event_ns" jq_true "$peers" \
	'.[] | select(.key == 5) | .value | .endpoint.family == 10 and .endpoint.port == 27850
	 and .endpoint.addr == [32,1,13,184,0,0,0,0,0,0,0,0,0,0,0,7] and .flags == 3
	 and .last_event_ns == 12345'
check "bpftool: peer 6 is all zero" jq_true "$peers" \
	'.[] | select(.key == 6) | .value | .flags == 0 and .last_event_ns == 0
	 and .endpoint.family == 0 and .endpoint.port == 0 and (.endpoint.addr | add) == 0'
check "bpftool: peer 5 is the only active peer" jq_true "$peers" \
	'[.[] | select(.value.flags != 0) | .key] == [5]'

# Test that the tries hold exactly the prefixes written, host bits masked.
v4=$TMP_DIR/v4.json
v6=$TMP_DIR/v6.json
in_probe bpftool -j map dump pinned "$pin/allowed_ips_v4" 2>/dev/null |
	jq -c '[.[] | .formatted | "\(.key.addr | join("."))/\(.key.prefixlen)=\(.value.peer_id)"] | sort' \
		>"$v4" 2>/dev/null || true
in_probe bpftool -j map dump pinned "$pin/allowed_ips_v6" 2>/dev/null |
	jq -c '[.[] | .formatted | "\(.key.addr | join(","))/\(.key.prefixlen)=\(.value.peer_id)"] | sort' \
		>"$v6" 2>/dev/null || true
check "bpftool: allowed_ips_v4 is 0.0.0.0/0, 10.1.0.0/16, 10.1.2.0/24" jq_true "$v4" \
	'. == ["0.0.0.0/0=3", "10.1.0.0/16=2", "10.1.2.0/24=1"]'
check "bpftool: allowed_ips_v6 has 2001:db8:1::/48 and 2001:db8:1:ff80::/57" jq_true "$v6" \
	'length == 4 and any(.[]; . == "32,1,13,184,0,1,0,0,0,0,0,0,0,0,0,0/48=5")
	 and any(.[]; . == "32,1,13,184,0,1,255,128,0,0,0,0,0,0,0,0/57=6")
	 and any(.[]; . == "32,1,13,184,0,0,0,0,0,0,0,0,0,0,0,0/32=4")
	 and any(.[]; . == "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0/0=6")'

# Test the longest match through bpftool too (key: prefixlen, le32, then the
# address).
check "bpftool lookup 10.1.2.77/32 -> peer 1" lpm_lookup_is allowed_ips_v4 1 32 0 0 0 10 1 2 77
check "bpftool lookup 10.1.9.9/32 -> peer 2" lpm_lookup_is allowed_ips_v4 2 32 0 0 0 10 1 9 9
check "bpftool lookup 8.8.8.8/32 -> peer 3" lpm_lookup_is allowed_ips_v4 3 32 0 0 0 8 8 8 8
check "bpftool lookup 2001:db8:1:2::1/128 -> peer 5" lpm_lookup_is allowed_ips_v6 5 \
	128 0 0 0 32 1 13 184 0 1 0 2 0 0 0 0 0 0 0 1
check "bpftool lookup 2001:db8:1:ffc0::9/128 -> peer 6" lpm_lookup_is allowed_ips_v6 6 \
	128 0 0 0 32 1 13 184 0 1 255 192 0 0 0 0 0 0 0 9

# Test that the indices map holds only 0x11223344 -> peer 7, slot 1 (the
# 262,143 of the capacity test are gone).
idx=$TMP_DIR/indices.json
in_probe bpftool -j map dump pinned "$pin/indices" 2>/dev/null |
	jq -c '[.[] | .formatted]' >"$idx" 2>/dev/null || true
check "bpftool: indices is 0x11223344 -> peer 7, slot CURRENT" jq_true "$idx" \
	'. == [{"key": 287454020, "value": {"peer_id": 7, "slot": 1}}]'

# Test peer_stats as operators read it: one value per peer, not per CPU;
# peer 5's as written through the mmap (field f: (f+1) * 1000), peer 6's
# zero after peer_clear.
st5=$TMP_DIR/stats5.json
st6=$TMP_DIR/stats6.json
in_probe bpftool -j map lookup pinned "$pin/peer_stats" key 5 0 0 0 2>/dev/null >"$st5" || true
in_probe bpftool -j map lookup pinned "$pin/peer_stats" key 6 0 0 0 2>/dev/null >"$st6" || true
check "bpftool: peer_stats is one value per peer (not per CPU)" jq_true "$st5" \
	'has("formatted") and (.formatted | has("value")) and (.formatted | has("values") | not)'
check "bpftool: peer 5's rx_packets is 1000, map_write_errors 10000" jq_true "$st5" \
	'.formatted.value.rx_packets == 1000 and .formatted.value.map_write_errors == 10000'
check "bpftool: peer 6's stats are zero" jq_true "$st6" \
	'([.formatted.value[]] | add) == 0'
check "there is no keypairs map any more" eval "! in_probe test -e $pin/keypairs"

# ===========================================================================
# The end.

# Test that the probe unloads on SIGTERM and leaves no program attached.
check "the probe unloads on SIGTERM" stop_probe "$PROBE_PID"
check "it said so" logged "$log" "unloaded"
check "no XDP or TC program is left in $ns1" net_lacks_xdp

# ===========================================================================
# The daemon: its maps follow its configuration.

ifd=$(tunnel_name 2)
dpin=/sys/fs/bpf/xwg/$ifd
in_daemon() { nsenter -t "${IMPL_PID[$ifd]}" -m "$@"; }
umask 077
for k in d a b c; do
	wg genkey >"$TMP_DIR/key-$k"
	wg pubkey <"$TMP_DIR/key-$k" >"$TMP_DIR/pub-$k"
done
pub_a=$(<"$TMP_DIR/pub-a") pub_b=$(<"$TMP_DIR/pub-b") pub_c=$(<"$TMP_DIR/pub-c")

# tries_agree: the daemon's allowed-IPs tries hold exactly what `wg show
# allowed-ips` lists, each prefix on the peer id whose public key is the
# peer's.
tries_agree() { python3 "$SELFTESTS_DIR/fastpath_tries.py" "${IMPL_PID[$ifd]}" "$ifd" "$ns1"; }

# peers_json FILE: the daemon's peers map, formatted, into FILE.
peers_json() {
	in_daemon bpftool -j map dump pinned "$dpin/peers" 2>/dev/null |
		jq -c '[.[] | .formatted | select(.value.flags != 0)]' >"$1" 2>/dev/null || true
}

start_impl "$ns1" "$REPO_ROOT/build/xwgd" "$ifd"
n1 wg set "$ifd" private-key "$TMP_DIR/key-d" listen-port 10055 \
	peer "$pub_a" allowed-ips 10.9.0.0/16,fd09::/64 endpoint 192.0.2.7:51820 \
	peer "$pub_b" allowed-ips 10.10.0.1/32,10.10.1.0/24
check "xwgd: its fast path runs (tc_tx on $ifd's egress)" \
	eval "grep -Eq '^$ifd\([0-9]+\) [a-z]+/egress xwg_tc_tx' <<<\"\$(ip netns exec $ns1 bpftool net show)\""
check "xwgd: the tries hold the two peers' prefixes" tries_agree
pj=$TMP_DIR/dpeers.json
peers_json "$pj"
check "xwgd: two peers in use in the peers map" jq_true "$pj" 'length == 2'
check "xwgd: one of them has endpoint 192.0.2.7:51820 (port in network order)" jq_true "$pj" \
	'any(.[]; .value.endpoint.family == 2 and .value.endpoint.port == 27850
	 and .value.endpoint.addr[0:4] == [192, 0, 2, 7])'
cfg=$TMP_DIR/dconfig.json
in_daemon bpftool -j map dump pinned "$dpin/config" 2>/dev/null >"$cfg" || true
# 10055 = 0x2747 in network order, read little-endian: 0x4727.
check "xwgd: config.listen_port is 10055 (network order)" jq_true "$cfg" \
	'.[0].formatted.value.listen_port == 18215'

# Test that a prefix moving from B to A, B's removal and a new peer C are
# all in the maps: nothing of B is left.
n1 wg set "$ifd" peer "$pub_a" allowed-ips 10.9.0.0/16,fd09::/64,10.10.0.1/32 \
	peer "$pub_b" remove peer "$pub_c" allowed-ips 2001:db8:c::/48,0.0.0.0/0
check "xwgd: after the changes the tries agree again" tries_agree
peers_json "$pj"
check "xwgd: two peers in use again (B cleared, C added)" jq_true "$pj" 'length == 2'
n1 wg set "$ifd" peer "$pub_a" remove peer "$pub_c" remove
peers_json "$pj"
check "xwgd: with every peer removed, no peer is in use" jq_true "$pj" 'length == 0'
check "xwgd: and the tries are empty" tries_agree
check "xwgd exits 0 on SIGTERM" stop_impl "$ifd"
check "no XDP or TC program is left in $ns1 after it" net_lacks_xdp

report
