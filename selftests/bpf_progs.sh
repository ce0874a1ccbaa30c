#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check
# The BPF programs of bpf/ (xdp_rx, tc_tx, xdp_twin) and the maps they
# share, driven by tests/tools/bpf_prog_test.c. Needs root; pins only under
# its own /sys/fs/bpf/xwg/test-$$ and removes it, whatever happens.
#
#  1. bpf_prog_test PIN_ROOT, in a network namespace of its own:
#       hand-built frames ──bpf_prog_test_run_opts──▶ xdp_rx, tc_tx, xdp_twin
#       asserted: verdicts, drop counters, ring-buffer events, rewritten frames
#     For xdp_rx the tool makes the namespace a router for a while (with
#     `ip`): 192.0.2.2 and 2001:db8::2 local on lo, 198.51.100.0/24 and
#     2001:db8:1::/64 routed on through a veth, forwarding on, then lo's
#     MTU at 1500; it puts all back before the tc_tx vectors.
#
#  2. bpf_prog_test --live, in $ns1 (through nsenter: bpffs stays visible):
#     ┌───────────────────────────────────────────────────────────────────┐
#     │ $ns1                                                              │
#     │  UDP socket ──▶ wg0 ──[tc_tx, egress]── veth ──▶ wg0x            │
#     │  10.0.0.1/8      │  10.7/16 → peer 7: tagged 02:00:00:00:00:07    │
#     │  fd00::1/16      │                      (packet socket on wg0x)   │
#     │      ▲           │  no peer: the ICMP error is redirected         │
#     │      └── wg0's ──┘  into wg0's own receive path                   │
#     │         ingress     NOARP, tx checksum offload off, rp_filter=1   │
#     └───────────────────────────────────────────────────────────────────┘
#
#  3. bpf_prog_test --live-l3, in $ns2: tc_tx in L3 mode (rodata
#     l3_device = 1) on a TUN, as the daemon will run it:
#     ┌───────────────────────────────────────────────────────────────────┐
#     │ $ns2                                                              │
#     │  sockets, ping ──▶ wg0 (TUN) ──[tc_tx, egress]──▶ the tool's fd   │
#     │  10.0.0.1/8           │  10.7/16 → peer 7: untouched              │
#     │  fd00::1/16           │  TSO super-packets whole (IFF_VNET_HDR,   │
#     │      ▲                │                     TUNSETOFFLOAD)        │
#     │      │                │  no peer: the ICMP error is redirected    │
#     │      └── wg0's ───────┘  into wg0's own receive path              │
#     │         ingress          rp_filter=1                              │
#     └───────────────────────────────────────────────────────────────────┘
#     then, tc_tx left attached and no reader: ping to no peer gets the error
#
#  4. bpftool map dump pinned PIN_ROOT/...: field names (BTF), pin modes.

set -euo pipefail
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip bpftool nsenter ethtool mountpoint

echo "== bpf_progs.sh"
TOOL=$REPO_ROOT/build/tools/bpf_prog_test
PIN_ROOT=/sys/fs/bpf/xwg/test-$RUN_ID
MAPS=(allowed_ips_v4 allowed_ips_v6 indices peers peer_stats drops config xsk_stats
	xsks_rx xsks_tx events)

if [[ ! -x $TOOL ]]; then
	fail "prerequisite" "$TOOL is missing (run \`make\` first)"
	exit 1
fi

# Remove our pins on every way out: wrap lib.sh's cleanup.
eval "_lib_$(declare -f cleanup)"
cleanup() {
	pins_remove
	_lib_cleanup
}
pins_remove() {
	[[ -n ${PIN_ROOT:-} && -d $PIN_ROOT ]] || return 0
	rm -rf "$PIN_ROOT"
	rmdir /sys/fs/bpf/xwg 2>/dev/null || true # only if no one else pins there
}
pins_gone() { [[ ! -e $PIN_ROOT ]] || { echo "$PIN_ROOT still exists"; return 1; }; }

# The daemon needs bpffs where it pins; mount it as systemd would. (It
# stays mounted: others may be pinning there too.)
if ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf
fi
mkdir -p "$PIN_ROOT/live" "$PIN_ROOT/l3"

# run_tool DESC CMD...: run a mode of the tool; its PASS/FAIL/SKIP lines are
# ours. A run that ends without its summary line, or fails without saying
# why, is one failure more (with the end of what it printed to stderr, where
# libbpf puts verifier logs).
run_tool() {
	local desc=$1 out=$TMP_DIR/tool.out err=$TMP_DIR/tool.err rc=0 n; shift
	"$@" >"$out" 2>"$err" || rc=$?
	grep -E '^(PASS|FAIL|SKIP): ' "$out" || true
	n=$(grep -c '^PASS: ' "$out" || true)
	PASSED=$((PASSED + n))
	n=$(grep -c '^FAIL: ' "$out" || true)
	FAILED=$((FAILED + n))
	SKIPPED=$((SKIPPED + $(grep -c '^SKIP: ' "$out" || true)))
	if ! grep -qE '^[0-9]+ passed, [0-9]+ failed$' "$out"; then
		fail "$desc" "no summary line (exit status $rc)"
	elif ((rc != 0 && n == 0)); then
		fail "$desc" "exit status $rc"
	else
		return 0
	fi
	tail -n 20 "$err" | sed 's/^/    /'
}

# Test that the programs pass the verifier and give the verdicts, counters,
# events and rewritten frames of their tables of vectors.
run_tool "bpf_prog_test" "$TOOL" "$PIN_ROOT"

# Test that tc_tx on a real veth pair answers a datagram to no peer with an
# ICMP error through wg0's receive path (past a strict reverse-path filter)
# and tags a datagram to a peer for the twin.
ns_create "$ns1"
ip -n "$ns1" link add wg0 type veth peer name wg0x
ip -n "$ns1" link set wg0 arp off
ip -n "$ns1" link set wg0x arp off
ip netns exec "$ns1" ethtool -K wg0 tx off >/dev/null
ip netns exec "$ns1" sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
ip -n "$ns1" link set wg0x up
ip -n "$ns1" link set wg0 up
addr_add "$ns1" wg0 10.0.0.1/8 fd00::1/16
run_tool "bpf_prog_test --live" nsenter --net="/run/netns/$ns1" "$TOOL" --live wg0 wg0x "$PIN_ROOT/live"

# Test that tc_tx in L3 mode on a TUN answers a datagram to no peer with an
# ICMP error through the TUN's receive path, hands what goes to a peer to the
# TUN's reader untouched (a peer without a session: plus an event), and lets
# TSO super-packets through whole: the tool opens the TUN with IFF_VNET_HDR
# and TUNSETOFFLOAD as the daemon does (only a reader can turn TSO on for a
# TUN; ethtool cannot) and plays the far end of a TCP handshake.
ns_create "$ns2"
ip netns exec "$ns2" ip tuntap add dev wg0 mode tun
ip netns exec "$ns2" sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
ip -n "$ns2" link set wg0 up
addr_add "$ns2" wg0 10.0.0.1/8 fd00::1/16
run_tool "bpf_prog_test --live-l3" nsenter --net="/run/netns/$ns2" "$TOOL" --live-l3 wg0 "$PIN_ROOT/l3"

# ping_says NS FAMILY ADDR TEXT: one ping from NS to ADDR prints TEXT.
ping_says() {
	local out
	out=$(ip netns exec "$1" ping -"$2" -n -c 1 -W 2 "$3" 2>&1) || true
	[[ $out == *"$4"* ]] || { echo "ping $3: ${out//$'\n'/ | }"; return 1; }
}

# Test that with tc_tx left attached to the TUN (and no reader now: the
# carrier is off, the hook still runs), ping to a prefix routed into the TUN
# with no peer gets the ICMP error.
check "ping 10.99.0.1 into the TUN (no peer): Destination Host Unreachable" \
	ping_says "$ns2" 4 10.99.0.1 "From 10.99.0.1 icmp_seq=1 Destination Host Unreachable"
check "ping -6 fd00:99::1 into the TUN (no peer): Address unreachable" \
	ping_says "$ns2" 6 fd00:99::1 "From fd00:99::1 icmp_seq=1 Destination unreachable: Address unreachable"

# has_pins DIR: every map of include/maps.h is pinned in DIR.
has_pins() {
	local m missing=()
	for m in "${MAPS[@]}"; do
		[[ -e $1/$m ]] || missing+=("$m")
	done
	((${#missing[@]} == 0)) || { echo "not pinned: ${missing[*]}"; return 1; }
}

# dump_has MAP TEXT: `bpftool map dump` of the pinned MAP prints TEXT (read
# to the end: no SIGPIPE for bpftool).
dump_has() {
	bpftool map dump pinned "$PIN_ROOT/$1" | awk -v t="$2" 'index($0, t) { found = 1 } END { exit !found }' ||
		{ echo "no $2 in the dump of $1"; return 1; }
}

# lookup_has MAP KEY TEXT: `bpftool map lookup` of KEY (4 bytes) prints TEXT.
lookup_has() {
	local out=
	# shellcheck disable=SC2086 # KEY is a list of bytes on purpose
	if ! out=$(bpftool map lookup pinned "$PIN_ROOT/$1" key $2) || [[ $out != *"$3"* ]]; then
		echo "lookup of $2 in $1: ${out:-nothing}"
		return 1
	fi
}

# mode_is PATH MODE: the pin's permissions.
mode_is() {
	local m=
	if ! m=$(stat -c %a "$1") || [[ $m != "$2" ]]; then
		echo "$1 has mode ${m:-?}, want $2"
		return 1
	fi
}

# Test that the maps are pinned by name, readable by field name with
# bpftool (BTF), and that peer_stats is one array (not per CPU) and no
# keypairs map is left.
check "every map is pinned under $PIN_ROOT" has_pins "$PIN_ROOT"
check "bpftool map dump drops shows the field \"packets\"" dump_has drops '"packets": '
check "bpftool map dump peer_stats shows the field \"rx_packets\"" dump_has peer_stats '"rx_packets": '
check "bpftool map dump allowed_ips_v4 shows the prefix 10.7.0.0/16" dump_has allowed_ips_v4 '"prefixlen": 16'
check "bpftool map lookup peers shows last_event_ns" lookup_has peers "8 0 0 0" '"last_event_ns": '
check "bpftool map lookup indices shows peer_id and slot" lookup_has indices "0x44 0x33 0x22 0x11" '"slot": 1'
check "peer_stats is a plain array, not per CPU" \
	eval "bpftool -j map show pinned $PIN_ROOT/peer_stats | jq -e '.type == \"array\"'"
check "there is no keypairs map" test ! -e "$PIN_ROOT/keypairs"

# Test that removing the pin directory removes every trace.
pins_remove
check "the test's pins are gone" pins_gone

report
