#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317,SC2015 # helpers run through check and wait_for; A && B || C reports why
# The host exporter (issue 16): `xwg-mesh --exporter IFNAME[,IFNAME...]`
# serves the agent's per-interface and per-peer series for interfaces it
# does not manage, and `promtool check metrics` finds nothing in them.
#
#  ┌─────────────────────────────────────┐        ┌────────────────────────────┐
#  │ $ns1                                │        │ $ns2                       │
#  │  xwgd -f $if1  10.0.0.1  ─ XWG_XDP_IFACES=veth1: AF_XDP sockets          │
#  │  xwgd -f $if3  (no peer: its fast path has no AF_XDP socket)             │
#  │  xwg-mesh --exporter $if1,$if3      │        │  wireguard-go -f $if2      │
#  │    127.0.0.1:9586                   │        │    10.0.0.2                │
#  │                      veth1 192.0.2.1 ══════ veth2 192.0.2.2               │
#  │                                     │        │  xwg-mesh --exporter $if2  │
#  └─────────────────────────────────────┘        └────────────────────────────┘
#
# The daemons and the exporter in $ns1 run under `nsenter --net`, in the
# host's mount namespace, as under systemd: the pins are in the host's bpffs
# (/sys/fs/bpf/xwg/IFNAME), where the exporter reads them (`ip netns exec`
# would give each its own /sys); the exporter with its unit's sandbox as far
# as it matters here: only CAP_BPF, bpffs read-only. Checked: the peer's public key label, bytes
# that grow with a ping, the handshake's timestamp, the fast path's packet
# counters, and the AF_XDP sockets' kernel statistics (xwg_xsk_*): present
# for $if1, whose xdp_rx has sockets on veth1, absent (no series at all,
# not zeros) for $if3 and for wireguard-go, which has no fast path. Then
# the counters from xwgd's event stream: the handshake by role, an endpoint
# change by configuration and one by roaming, and a reconnect when $if3's
# xwgd restarts.

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping curl nsenter bpftool unshare setpriv

echo "== metrics.sh: XWGD=$XWGD"
require_impls "$XWGD" "$WGGO"
MESH=$REPO_ROOT/build/xwg-mesh
if [[ ! -x $MESH ]]; then
	fail "prerequisite" "$MESH is missing (run \`make\` first)"
	exit 1
fi
xwgd_exe=$(impl_path "$XWGD")

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
if3=$(tunnel_name 3)
ADDR=127.0.0.1:9586

# lib.sh's cleanup ends what we started; the pins of a daemon that could not
# remove them (killed) are in the host's bpffs: remove them too.
eval "_lib_$(declare -f cleanup)"
cleanup() {
	_lib_cleanup
	rm -rf "/sys/fs/bpf/xwg/$if1" "/sys/fs/bpf/xwg/$if3"
	rmdir /sys/fs/bpf/xwg 2>/dev/null || true # only if no one else pins there
}

tunnel_keys

veth_underlay

# start_host NS IFNAME ENV...: xwgd -f IFNAME in NS's network namespace and
# the host's mount namespace; waits for its socket and interface.
start_host() {
	local ns=$1 ifname=$2 log=$LOG_DIR/$2.log; shift 2
	track_ifname "$ifname"
	# shellcheck disable=SC2046 # impl_env is a list of words on purpose
	bg_start "$log" nsenter --net="/run/netns/$ns" env $(impl_env) "$@" "$xwgd_exe" -f "$ifname"
	IMPL_PID[$ifname]=$BG_PID
	_impl_exited=0
	if ! wait_for 10 _impl_is_ready "$ns" "$ifname" "$BG_PID" || ((_impl_exited)); then
		fail "start xwgd for $ifname" "no interface and socket in $ns; its log:"
		tail -n 5 "$log" | sed 's/^/    /'
		exit 1
	fi
}

xdp_env=()
impl_wants_fastpath "$XWGD" && xdp_env=(XWG_XDP_IFACES=veth1)
start_host "$ns1" "$if1" "${xdp_env[@]}"
start_host "$ns1" "$if3"
start_impl "$ns2" "$WGGO" "$if2"
n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port 10001 \
	peer "$pub2" allowed-ips 10.0.0.2/32 endpoint 192.0.2.2:10002
n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port 10002 \
	peer "$pub1" allowed-ips 10.0.0.1/32 endpoint 192.0.2.1:10001
addr_add "$ns1" "$if1" 10.0.0.1/24
addr_add "$ns2" "$if2" 10.0.0.2/24
ip -n "$ns1" link set "$if1" up
ip -n "$ns2" link set "$if2" up

# ---------------------------------------------------------------------------
# Test that the exporter refuses what would make it an agent or serve
# nothing, before anything runs.
check_not "--exporter with the same interface twice is refused" \
	"$MESH" -f --exporter "$if1,$if1" --metrics off
check_not "--exporter with a node source is refused" \
	"$MESH" -f --exporter "$if1" --nodes-file /dev/null
check_not "--exporter with --metrics off is refused" "$MESH" -f --exporter "$if1" --metrics off

# The exporter in $ns1 runs as its unit has it (xwg-exporter@.service): no
# capability but CAP_BPF, /sys/fs/bpf read-only (ProtectSystem=strict).
bg_start "$LOG_DIR/exporter1.log" nsenter --net="/run/netns/$ns1" unshare -m --propagation private \
	sh -c 'mount --bind -o ro /sys/fs/bpf /sys/fs/bpf &&
		exec setpriv --bounding-set=-all,+bpf --inh-caps=-all "$@"' sh \
	env LOG_LEVEL=debug "$MESH" -f --exporter "$if1,$if3" --metrics "$ADDR"
exp1=$BG_PID
bg_start "$LOG_DIR/exporter2.log" ip netns exec "$ns2" "$MESH" -f --exporter "$if2" --metrics "$ADDR"
exp2=$BG_PID

# scrape NS FILE: the page into FILE.
scrape() { ip netns exec "$1" curl -sf --max-time 5 "http://$ADDR/metrics" >"$2"; }
# value FILE SERIES: the value of the one sample whose name and labels
# start with SERIES (a prefix up to a comma or the closing brace).
value() { awk -v s="$2" 'index($0, s) == 1 { print $NF; found = 1; exit } END { exit !found }' "$1"; }
# has FILE SERIES-PREFIX: some sample starts so.
has() { grep -qF -- "$2" "$1" || { echo "no $2 in $1"; return 1; }; }

check_within 10 "the exporter in $ns1 answers" scrape "$ns1" "$TMP_DIR/m1.before"
check "it runs with CAP_BPF alone (CapEff 0000008000000000)" \
	grep -qx $'CapEff:\t0000008000000000' "/proc/$exp1/status"
check_within 10 "the exporter of wireguard-go in $ns2 answers" scrape "$ns2" "$TMP_DIR/m2"

# Test that the pages are what Prometheus expects.
check_promtool "promtool check metrics finds nothing (xwgd, two interfaces)" "$TMP_DIR/m1.before"
check_promtool "promtool check metrics finds nothing (wireguard-go)" "$TMP_DIR/m2"

# Test what one scrape says about each interface.
check "both xwgd interfaces answered (xwg_uapi_up 1)" \
	eval "has $TMP_DIR/m1.before 'xwg_uapi_up{interface=\"$if1\"} 1' &&
	      has $TMP_DIR/m1.before 'xwg_uapi_up{interface=\"$if3\"} 1'"
check "the peer's series carry interface and public_key (no node: no agent)" \
	has "$TMP_DIR/m1.before" "xwg_peer_receive_bytes_total{interface=\"$if1\",public_key=\"$pub2\"} "
check "xwg_interface_info has the interface's own public key and port" \
	has "$TMP_DIR/m1.before" "xwg_interface_info{interface=\"$if1\",public_key=\"$pub1\",listen_port=\"10001\"} 1"
check "xwg_peer_info has the peer's allowed IPs" \
	has "$TMP_DIR/m1.before" "xwg_peer_info{interface=\"$if1\",public_key=\"$pub2\",endpoint=\"192.0.2.2:10002\",allowed_ips=\"10.0.0.2/32\"} 1"
check "the exporter adds no agent series" eval "! grep -q '^xwg_mesh_' $TMP_DIR/m1.before"
check "wireguard-go: the peer's series, no fast path" \
	eval "has $TMP_DIR/m2 'xwg_peer_transmit_bytes_total{interface=\"$if2\",public_key=\"$pub1\"} ' &&
	      has $TMP_DIR/m2 'xwg_fastpath_up{interface=\"$if2\"} 0'"
check "wireguard-go: no AF_XDP series at all" eval "! grep -q '^xwg_xsk_' $TMP_DIR/m2"

# Test that a ping moves the bytes and sets the handshake's time.
rx0=$(value "$TMP_DIR/m1.before" "xwg_peer_receive_bytes_total{interface=\"$if1\",public_key=\"$pub2\"}")
tx0=$(value "$TMP_DIR/m1.before" "xwg_peer_transmit_bytes_total{interface=\"$if1\",public_key=\"$pub2\"}")
check_within 10 "xwgd pings wireguard-go through the tunnel" pings "$ns1" 10.0.0.2
check "three more pings" n1 ping -q -n -c 3 -i 0.2 -W 1 10.0.0.2
grown() {
	local rx tx
	scrape "$ns1" "$TMP_DIR/m1" || return 1
	rx=$(value "$TMP_DIR/m1" "xwg_peer_receive_bytes_total{interface=\"$if1\",public_key=\"$pub2\"}") &&
		tx=$(value "$TMP_DIR/m1" "xwg_peer_transmit_bytes_total{interface=\"$if1\",public_key=\"$pub2\"}") &&
		((rx > rx0 && tx > tx0)) || { echo "rx $rx0 -> ${rx:-?}, tx $tx0 -> ${tx:-?}"; return 1; }
}
check_within 5 "received and sent bytes grew with the pings" grown
handshake_recent() {
	local t now
	t=$(value "$TMP_DIR/m1" "xwg_peer_last_handshake_seconds{interface=\"$if1\",public_key=\"$pub2\"}") &&
		now=$(date +%s) && ((t > now - 60 && t <= now + 1)) ||
		{ echo "latest handshake ${t:-none}, now $(date +%s)"; return 1; }
}
check "the latest handshake is a Unix time within the last minute" handshake_recent
check_promtool "promtool check metrics finds nothing after traffic" "$TMP_DIR/m1"

# Test the fast path's series: the daemon writes its counters into the
# pinned maps once a second.
if ! impl_wants_fastpath "$XWGD"; then
	skip "the fast path's series" "XWG_DATAPATH=${XWG_DATAPATH:-} runs no fast path"
	check "no fast path: xwg_fastpath_up 0 and no AF_XDP series" \
		eval "has $TMP_DIR/m1 'xwg_fastpath_up{interface=\"$if1\"} 0' && ! grep -q '^xwg_xsk_' $TMP_DIR/m1"
else
	packets_counted() {
		local n
		scrape "$ns1" "$TMP_DIR/m1" &&
			n=$(value "$TMP_DIR/m1" "xwg_peer_transmit_packets_total{interface=\"$if1\",public_key=\"$pub2\"}") &&
			((n >= 4)) || { echo "transmit packets: ${n:-none}"; return 1; }
	}
	check_within 5 "the fast path's packet counter of the peer counts the pings" packets_counted
	check "both xwgd interfaces have their fast path read (xwg_fastpath_up 1)" \
		eval "has $TMP_DIR/m1 'xwg_fastpath_up{interface=\"$if1\"} 1' &&
		      has $TMP_DIR/m1 'xwg_fastpath_up{interface=\"$if3\"} 1'"
	if ! grep -q "xdp_rx on veth1 (native XDP), [1-9][0-9]* AF_XDP socket(s)" "$LOG_DIR/$if1.log"; then
		skip "the AF_XDP series" "xwgd opened no AF_XDP socket on veth1; its log says: $(grep -m1 'xdp_rx on\|AF_XDP' "$LOG_DIR/$if1.log" || echo nothing)"
	else
		xsk_series() {
			scrape "$ns1" "$TMP_DIR/m1" && local m
			for m in rx_dropped rx_invalid_descriptors tx_invalid_descriptors rx_ring_full \
				rx_fill_ring_empty tx_ring_empty; do
				grep -qE "^xwg_xsk_${m}_total\{interface=\"$if1\",underlay=\"veth1\",queue=\"0\"\} [0-9]+$" \
					"$TMP_DIR/m1" || { echo "no xwg_xsk_${m}_total for veth1 queue 0"; return 1; }
			done
		}
		check_within 5 "each AF_XDP statistic of veth1's queue 0 is a series of $if1" xsk_series
		check "$if3 (no AF_XDP socket) has no AF_XDP series" \
			eval "! grep -q '^xwg_xsk_.*interface=\"$if3\"' $TMP_DIR/m1"
		dump_names_fields() {
			local out
			out=$(bpftool map dump pinned "/sys/fs/bpf/xwg/$if1/xsk_stats") &&
				grep -q '"rx_fill_ring_empty": ' <<<"$out" ||
				{ echo "bpftool: ${out:0:200}"; return 1; }
		}
		check "bpftool map dump of xsk_stats names the fields (BTF)" dump_names_fields
	fi
fi

# Test the event stream's counters: xwgd's handshake above (xwgd
# initiated it), an endpoint set by configuration, then a roam (wireguard-go
# moves to another port and sends from there).
# sample_is FILE SERIES WANT: the sample SERIES (exact name and labels) has
# the value WANT (">=N": at least N), scraping $ns1 into FILE first.
sample_is() {
	local v
	scrape "$ns1" "$1" || return 1
	v=$(awk -v s="$2" 'index($0, s " ") == 1 { print $NF; found = 1; exit } END { exit !found }' "$1") ||
		{ echo "no $2"; return 1; }
	if [[ $3 == ">="* ]]; then
		((v >= ${3#>=})) || { echo "$2 is $v, want $3"; return 1; }
	else
		((v == $3)) || { echo "$2 is $v, want $3"; return 1; }
	fi
}
m1=$TMP_DIR/m1.events
hs="xwg_peer_handshakes_completed_total{interface=\"$if1\",public_key=\"$pub2\""
ep="xwg_peer_endpoint_changes_total{interface=\"$if1\",public_key=\"$pub2\""
check_within 5 "the exporter is subscribed to both xwgd interfaces' event streams" \
	eval "sample_is $m1 'xwg_events_up{interface=\"$if1\"}' 1 &&
	      sample_is $m1 'xwg_events_up{interface=\"$if3\"}' 1"
check "wireguard-go has no event stream: xwg_events_up 0" has "$TMP_DIR/m2" "xwg_events_up{interface=\"$if2\"} 0"
check "the handshake is counted with role initiator" sample_is "$m1" "$hs,role=\"initiator\"}" ">=1"
check "nothing was lost or skipped" \
	eval "sample_is $m1 'xwg_events_lost_total{interface=\"$if1\"}' 0 &&
	      sample_is $m1 'xwg_events_skipped_lines_total{interface=\"$if1\",reason=\"malformed\"}' 0"
check "no endpoint change yet" \
	eval "sample_is $m1 '$ep,cause=\"configuration\"}' 0 && sample_is $m1 '$ep,cause=\"roaming\"}' 0"
n1 wg set "$if1" peer "$pub2" endpoint 192.0.2.2:10012
check_within 5 "wg set ... endpoint counts a change with cause configuration" \
	sample_is "$m1" "$ep,cause=\"configuration\"}" 1
n2 wg set "$if2" listen-port 10003
check_within 10 "wireguard-go pings xwgd from its new port" pings "$ns2" 10.0.0.1
check_within 5 "xwgd's side roamed to it: a change with cause roaming" \
	eval "sample_is $m1 '$ep,cause=\"roaming\"}' 1 && endpoint_is $ns1 $if1 $pub2 192.0.2.2:10003"
check_promtool "promtool check metrics finds nothing with the event counters" "$m1"

# Test that the exporter reconnects when xwgd restarts ($if3: no peer).
check "$if3's xwgd stops on SIGTERM" stop_impl "$if3"
check_within 5 "xwg_events_up drops to 0 while it is gone" \
	sample_is "$m1" "xwg_events_up{interface=\"$if3\"}" 0
start_host "$ns1" "$if3"
check_within 20 "the exporter subscribes again to the new daemon (backoff at most 16 s)" \
	sample_is "$m1" "xwg_events_up{interface=\"$if3\"}" 1

# Test that the exporter ends cleanly on SIGTERM and left the interfaces
# alone.
exits_zero() {
	local rc=0
	kill -TERM "$1"
	wait_for 5 eval "! pid_is_alive $1" || { echo "still running"; return 1; }
	wait "$1" || rc=$?
	((rc == 0)) || { echo "exit status $rc"; return 1; }
}
check "the exporter exits 0 on SIGTERM" exits_zero "$exp1"
check "the other exporter too" exits_zero "$exp2"
check "the interfaces keep their peer" has_peer "$ns1" "$if1" "$pub2"

report
