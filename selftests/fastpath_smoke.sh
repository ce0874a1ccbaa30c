#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# The fast path's plumbing, first without the daemon, driven by
# tests/tools/fastpath_probe.c: the tunnel interface pair (ctl/maps/twin.c),
# AF_XDP sockets (datapath/xsk.c) and loading, pinning, attaching and
# cleaning up the BPF programs (ctl/maps/loader.c and the files it calls
# on: pins.c, orphans.c, attach.c, underlay.c, skeletons.c), including after
# `kill -9`. The probe loads the fast path's earlier shape, a veth pair
# with xdp_twin on the hidden twin (what xwgd does with XWG_TUNNEL=veth,
# kept to measure against): the loader, the pins, xdp_rx, tc_tx and AF_XDP
# are the same in both shapes. Then the daemon's own shape, through xwgd:
# a TUN with tc_tx on its egress (L3), no twin, xdp_rx only where asked for.
# Needs root; touches only its namespace and its own pin directories
# /sys/fs/bpf/xwg/$ifn and /sys/fs/bpf/xwg/$ifn2, which it removes whatever
# happens (xwgd's pins are in its own mount namespace and go with it).
#
#  ┌──────────────────────────────────────────────────────────────────────┐
#  │ $ns1                                                                 │
#  │  10.99.0.1/24                                                        │
#  │  $ifn ══════════════ veth ══════════════ ${ifn}x                     │
#  │  NOARP, MTU 1420        [tc_tx, egress]   [xdp_twin] ──▶ AF_XDP ──┐  │
#  │  tx checksum off                                                  │  │
#  │     ▲                       fastpath_probe -e: echo request ──▶   │  │
#  │     └────── AF_XDP TX on ${ifn}x ◀── echo reply, same frame ◀─────┘  │
#  │                                                                      │
#  │  ul0 [xdp_rx] ══ veth ══ ul1        xa [AF_XDP] ══ veth ══ xb [AF_XDP]│
#  │  192.0.2.1/24                       N frames each way, copy mode     │
#  └──────────────────────────────────────────────────────────────────────┘
#  $ns2: where $ifn is moved once, to check that unloading deletes it there.
#
#  xwgd -f $ifd in $ns1 (the end): $ifd a TUN [tc_tx, egress], xdp_rx on ul0
#  only with XWG_XDP_IFACES=ul0; with XWG_TUNNEL=veth, $ifd and ${ifd}x.
#
# The loader runs under `nsenter --net` so that its pins land in the host's
# bpffs, where this script can look at them (`ip netns exec` remounts /sys:
# a daemon started that way mounts a bpffs of its own, tested at the end).

set -euo pipefail
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip ping bpftool nsenter ethtool setpriv jq wg

echo "== fastpath_smoke.sh"
PROBE=$REPO_ROOT/build/tools/fastpath_probe
MAPS=(allowed_ips_v4 allowed_ips_v6 indices peers peer_stats drops config xsk_stats
	xsks_rx xsks_tx events)

if [[ ! -x $PROBE ]]; then
	fail "prerequisite" "$PROBE is missing (run \`make\` first)"
	exit 1
fi

ifn=$(tunnel_name 0)
ifn2=$(tunnel_name 1)
# A name of the longest length (15): its twin gets the hashed name.
long=$(printf 'xwl%012d' "$RUN_ID")

# Remove our pins on every way out: wrap lib.sh's cleanup (which ends the
# probes and deletes the namespace, and with it the pairs and attachments).
eval "_lib_$(declare -f cleanup)"
cleanup() {
	_lib_cleanup
	rm -rf "/sys/fs/bpf/xwg/$ifn" "/sys/fs/bpf/xwg/$ifn2"
	rmdir /sys/fs/bpf/xwg 2>/dev/null || true # only if no one else pins there
}

ns_create "$ns1"
veth_link "$ns1" ul0 "$ns1" ul1
veth_link "$ns1" xa "$ns1" xb
addr_add "$ns1" ul0 192.0.2.1/24

# in_ns CMD...: CMD in $ns1's network namespace, in our mount namespace
# (bpffs visible).
in_ns() { nsenter --net="/run/netns/$ns1" "$@"; }

# start_probe LOG ARGS...: run the probe with ARGS in $ns1 (PID in
# $PROBE_PID: nsenter execs the probe) and wait for its "ready" line.
start_probe() {
	local log=$1; shift
	bg_start "$log" nsenter --net="/run/netns/$ns1" "$PROBE" "$@"
	PROBE_PID=$BG_PID
	wait_for 15 grep -q '^ready ' "$log" ||
		{ echo "the probe did not get ready:"; tail -n 5 "$log"; return 1; }
}

# stop_probe PID: SIGTERM and wait for it; fails unless it exits 0.
stop_probe() {
	local rc=0
	kill -TERM "$1" 2>/dev/null || true
	wait_for 10 eval "! pid_is_alive $1" || { echo "PID $1 ignored SIGTERM"; return 1; }
	wait "$1" 2>/dev/null || rc=$?
	((rc == 0)) || { echo "the probe exited with status $rc"; return 1; }
}

# crash_probe PID: SIGKILL, as a crash would.
crash_probe() {
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	! pid_is_alive "$1"
}

# ready_field LOG KEY: KEY=VALUE from the probe's "ready" line.
ready_field() {
	local v
	v=$(grep -m1 '^ready ' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p")
	[[ -n $v ]] || { echo "no $2= in the ready line of $1" >&2; return 1; }
	echo "$v"
}

logged() { grep -qF -- "$2" "$1" || { echo "no '$2' in the probe's output:"; tail -n 5 "$1"; return 1; }; }
not_logged() { ! grep -qF -- "$2" "$1" || { echo "the probe printed '$2'"; return 1; }; }
has_link() { ip -n "$ns1" link show dev "$1" >/dev/null 2>&1; }
no_link() { ! has_link "$1" || { echo "$1 still exists"; return 1; }; }

# link_has NAME PATTERN / link_lacks NAME PATTERN: `ip -d link show`.
link_has() {
	local out
	out=$(ip -n "$ns1" -d -o link show dev "$1" 2>&1) || true
	[[ $out == *"$2"* ]] || { echo "ip -d link show $1: ${out:-none}"; return 1; }
}
link_lacks() {
	local out
	out=$(ip -n "$ns1" -o link show dev "$1" 2>&1) || return 1
	[[ $out != *"$2"* ]] || { echo "ip link show $1: $out"; return 1; }
}

# feature_is NAME FEATURE VALUE: `ethtool -k NAME` says FEATURE: VALUE.
feature_is() {
	local v
	v=$(n1 ethtool -k "$1" | awk -v f="$2:" '$1 == f { print $2 }')
	[[ $v == "$3" ]] || { echo "$2 of $1 is '${v:-?}', want $3"; return 1; }
}

no_ipv6_addr() {
	local out
	out=$(ip -n "$ns1" -6 -o addr show dev "$1")
	[[ -z $out ]] || { echo "$out"; return 1; }
}

pins_all_exist() {
	local m
	for m in "${MAPS[@]}"; do
		[[ -e /sys/fs/bpf/xwg/$1/$m ]] || { echo "no pin /sys/fs/bpf/xwg/$1/$m"; return 1; }
	done
}
pin_mode_is() {
	local m
	m=$(stat -c %a "/sys/fs/bpf/xwg/$1/$2") && [[ $m == "$3" ]] ||
		{ echo "/sys/fs/bpf/xwg/$1/$2 has mode ${m:-?}, want $3"; return 1; }
}
pins_gone() { [[ ! -e /sys/fs/bpf/xwg/$1 ]] || { echo "/sys/fs/bpf/xwg/$1 still exists:"; ls "/sys/fs/bpf/xwg/$1"; return 1; }; }

# net_shows PATTERN / net_lacks PATTERN: `bpftool net` in $ns1.
net_shows() {
	local out
	out=$(in_ns bpftool net show 2>&1)
	grep -qE -- "$1" <<<"$out" || { echo "bpftool net has no '$1':"; echo "$out"; return 1; }
}
net_lacks() {
	local out
	out=$(in_ns bpftool net show 2>&1)
	! grep -qE -- "$1" <<<"$out" || { echo "bpftool net still has '$1':"; echo "$out"; return 1; }
}

prog_is() {
	local out
	out=$(bpftool prog show id "$1" 2>&1) && [[ $out == *"name $2 "* ]] ||
		{ echo "program $1: $out"; return 1; }
}
prog_gone() { ! bpftool prog show id "$1" >/dev/null 2>&1 || { echo "program $1 still exists"; return 1; }; }
map_gone() { ! bpftool map show id "$1" >/dev/null 2>&1 || { echo "map $1 still exists"; return 1; }; }

# ===========================================================================
# The pair.

# Test that the probe creates IFNAME and its twin: IFNAME with the kernel wg
# device's flags where a veth can have them, our MAC and MTU 1420, down; the
# twin up, marked with its alias, MTU 65535.
log=$TMP_DIR/twin1.log
check "the probe creates $ifn and ${ifn}x" start_probe "$log" twin "$ifn"
check "$ifn has MTU 1420" link_has "$ifn" " mtu 1420 "
check "$ifn is NOARP and down" link_has "$ifn" "<BROADCAST,NOARP>"
check "$ifn has no MULTICAST" link_lacks "$ifn" "MULTICAST"
check "$ifn has the fixed MAC" link_has "$ifn" "link/ether 02:78:77:67:00:01 "
check "$ifn generates no IPv6 addresses" link_has "$ifn" "addrgenmode none"
check "${ifn}x is up" link_has "${ifn}x" ",UP"
check "${ifn}x carries the marker alias" link_has "${ifn}x" "alias xwg: hidden twin of $ifn"
check "${ifn}x has MTU 65535" link_has "${ifn}x" " mtu 65535 "
check "${ifn}x is NOARP" link_has "${ifn}x" "NOARP"

# Test that IFNAME checksums what it sends in software (tx off), has GRO and
# threaded NAPI (/sys is the namespace's here: the probe ran under nsenter,
# so that is checked with `ip netns exec` below), and gets no link-local
# address when it goes up.
check "$ifn has TX checksum offload off" feature_is "$ifn" tx-checksumming off
check "$ifn has GRO on" feature_is "$ifn" generic-receive-offload on
ip -n "$ns1" link set dev "$ifn" up
check "$ifn up has no IPv6 address" no_ipv6_addr "$ifn"
check "$ifn up has carrier (the twin is up)" link_has "$ifn" "LOWER_UP"

# Test that SIGTERM deletes both.
check "the probe exits 0 on SIGTERM" stop_probe "$PROBE_PID"
check "it deleted the pair" logged "$log" "destroyed"
check "$ifn is gone" no_link "$ifn"
check "${ifn}x is gone" no_link "${ifn}x"

# Test that threaded NAPI is set where /sys is the namespace's own.
log=$TMP_DIR/twin2.log
bg_start "$log" ip netns exec "$ns1" "$PROBE" twin "$ifn"
PROBE_PID=$BG_PID
check_within 10 "the probe (ip netns exec) creates $ifn" logged "$log" "ready "
check "it set threaded NAPI" logged "$log" " threaded=1"
check "/sys says threaded" eval "[[ \$(n1 cat /sys/class/net/$ifn/threaded) == 1 ]]"
check "the probe exits 0 on SIGTERM" stop_probe "$PROBE_PID"

# Test that a 15-character name gets the hashed twin name and works.
twin_long=$("$PROBE" twin-name "$long" | sed -n 's/^twin //p')
check "a 15-character name gets a hashed twin name" eval "[[ $twin_long =~ ^xwgt[0-9a-f]{8}x$ ]]"
log=$TMP_DIR/twin3.log
check "the probe creates $long and $twin_long" start_probe "$log" twin "$long"
check "$twin_long exists" has_link "$twin_long"
check "$twin_long carries the marker alias for $long" link_has "$twin_long" "alias xwg: hidden twin of $long"
check "the probe exits 0 on SIGTERM" stop_probe "$PROBE_PID"
check "$long is gone" no_link "$long"

# Test that a pair left by a killed process is recognised and removed, and
# that an interface that merely has the twin's name is not.
log=$TMP_DIR/twin4.log
check "the probe creates $ifn again" start_probe "$log" twin "$ifn"
check "kill -9 ends it" crash_probe "$PROBE_PID"
check "the pair outlives it" has_link "${ifn}x"
check "creating it again fails with EEXIST" eval "[[ \$(timeout 5 nsenter --net=/run/netns/$ns1 $PROBE twin $ifn) == 'create failed: -17 '* ]]"
check "the leftover is recognised and removed" eval "[[ \$(nsenter --net=/run/netns/$ns1 $PROBE leftover $ifn) == 'leftover removed' ]]"
check "$ifn is gone after that" no_link "$ifn"
ip -n "$ns1" link add "${ifn}x" type veth peer name "${ifn}y"
check "a foreign ${ifn}x is not taken for a leftover" eval "[[ \$(nsenter --net=/run/netns/$ns1 $PROBE leftover $ifn) == 'leftover none' ]]"
check "the foreign ${ifn}x is still there" has_link "${ifn}x"
check "creating $ifn next to it fails with EEXIST" eval "[[ \$(timeout 5 nsenter --net=/run/netns/$ns1 $PROBE twin $ifn) == 'create failed: -17 '* ]]"
ip -n "$ns1" link del "${ifn}x"

# ===========================================================================
# AF_XDP.

# Test that AF_XDP sockets on a veth pair fall back to copy mode, carry
# 10000 frames each way (every one intact, none twice), and that every UMEM
# frame is accounted for afterwards; and that frames the caller does not
# own are refused.
out=$TMP_DIR/xsk1.out
if n1 "$PROBE" xsk xa xb 10000 >"$out" 2>&1; then rc=0; else rc=$?; fi
check "AF_XDP on veth is copy mode" logged "$out" "mode A copy"
check "10000 frames a->b arrive" logged "$out" "sent a->b 10000 received 10000 damaged 0 duplicated 0"
check "10000 frames b->a arrive" logged "$out" "sent b->a 10000 received 10000 damaged 0 duplicated 0"
check "no UMEM frame is lost or held" logged "$out" "accounting ok"
check "frames not the caller's are refused" logged "$out" "ownership ok"
check "the AF_XDP run passes as a whole" eval "((rc == 0))"

# Test that frames are recycled: 5000 frames each way through UMEMs of 256.
out=$TMP_DIR/xsk2.out
if n1 "$PROBE" xsk xa xb 5000 256 >"$out" 2>&1; then rc=0; else rc=$?; fi
check "5000 frames a->b through 256-frame UMEMs" logged "$out" "sent a->b 5000 received 5000 damaged 0 duplicated 0"
check "5000 frames b->a through 256-frame UMEMs" logged "$out" "sent b->a 5000 received 5000 damaged 0 duplicated 0"
check "no frame of the small UMEMs is lost" logged "$out" "accounting ok"
check "the recycling run passes as a whole" eval "((rc == 0))"

# ===========================================================================
# The loader.

# Test that the loader pins every map (root-only), attaches xdp_rx, tc_tx
# and xdp_twin where they belong, keeps no keys in the kernel (no keypairs
# map: the daemon's crypto workers are its threads) and maps peer_stats.
log=$TMP_DIR/load1.log
check "the loader loads the fast path of $ifn" start_probe "$log" load -u ul0 -e "$ifn"
rx1=$(ready_field "$log" rx) || true
tc1=$(ready_field "$log" tc) || true
tw1=$(ready_field "$log" twin_prog) || true
cfg1=$(ready_field "$log" config_map) || true
check "every map is pinned under /sys/fs/bpf/xwg/$ifn" pins_all_exist "$ifn"
check "no keypairs map is pinned (no key goes into the kernel)" \
	eval "[[ ! -e /sys/fs/bpf/xwg/$ifn/keypairs ]]"
check "bpftool net: xdp_rx on ul0" net_shows "^ul0\([0-9]+\) (driver|generic) id $rx1\$"
check "bpftool net: xdp_twin on ${ifn}x" net_shows "^${ifn}x\([0-9]+\) (driver|generic) id $tw1\$"
check "bpftool net: tc_tx on $ifn egress" net_shows "^$ifn\([0-9]+\) clsact/egress xwg_tc_tx.* id $tc1\$"
check "program $rx1 is xwg_xdp_rx" prog_is "$rx1" xwg_xdp_rx
check "program $tc1 is xwg_tc_tx" prog_is "$tc1" xwg_tc_tx
check "program $tw1 is xwg_xdp_twin" prog_is "$tw1" xwg_xdp_twin
check "xdp_rx runs natively on the veth ul0" logged "$log" "mode.ul0=native"
check "xdp_twin runs natively on the twin" logged "$log" "mode.twin=native"
check "the mmapped peer_stats are the map's memory" logged "$log" "peer_stats mmap ok"
check "the config map names $ifn and its twin" eval "in_ns bpftool map dump pinned /sys/fs/bpf/xwg/$ifn/config | grep '\"wg_ifindex\": [1-9]' >/dev/null"

# Test the whole twin path: what the stack sends out of IFNAME is tagged by
# tc_tx, captured on the twin by xdp_twin into AF_XDP, and the reply the
# probe writes into the same frame is injected into IFNAME by AF_XDP TX.
addr_add "$ns1" "$ifn" 10.99.0.1/24
ip -n "$ns1" link set dev "$ifn" up
check_within 5 "a ping out of $ifn is answered through the twin" pings "$ns1" 10.99.0.2
check "a full-size ping (1392 bytes) is answered too" pings "$ns1" 10.99.0.2 -s 1392 -M "do"
check "tc_tx tagged the captured frame with peer 1" logged "$log" "tagged peer 1"

# Test that a second instance for the same interface is refused.
out=$TMP_DIR/load-twice.out
timeout 10 nsenter --net="/run/netns/$ns1" "$PROBE" load -u ul0 "$ifn" >"$out" 2>&1 || true
check "a second load of $ifn fails with EBUSY" logged "$out" "load failed: -16: another xwgd runs the fast path of $ifn"

# Test that an underlay in use by another live instance is not taken from it
# (its owner lives), and that the failed load leaves nothing behind.
out=$TMP_DIR/load-busy.out
timeout 10 nsenter --net="/run/netns/$ns1" "$PROBE" load -u ul0 "$ifn2" >"$out" 2>&1 || true
check "a load of $ifn2 on the same underlay fails with EBUSY" logged "$out" "load failed: -16: ul0 already has XDP program 'xwg_xdp_rx'"
check "xdp_rx of $ifn is still attached" net_shows "^ul0\([0-9]+\) (driver|generic) id $rx1\$"
check "the failed load left no $ifn2" no_link "$ifn2"
check "the failed load left no pins" pins_gone "$ifn2"

# Test that after kill -9 the pins and the pair stay, the XDP links go, and
# a new load cleans up what is left and starts afresh.
check "kill -9 ends the loaded probe" crash_probe "$PROBE_PID"
check "the pins outlive it" pins_all_exist "$ifn"
check "the pair outlives it" has_link "${ifn}x"
check_within 5 "its XDP links went with it (ul0)" net_lacks "^ul0\("
log=$TMP_DIR/load2.log
check "a new load succeeds" start_probe "$log" load -u ul0 "$ifn"
check "it removed the stale pins" logged "$log" "removed ${#MAPS[@]} stale pins from /sys/fs/bpf/xwg/$ifn"
check "it removed the stale pair" logged "$log" "removed ${ifn}x and $ifn, left behind"
cfg2=$(ready_field "$log" config_map) || true
rx2=$(ready_field "$log" rx) || true
tc2=$(ready_field "$log" tc) || true
check "the maps are new ones" eval "((cfg2 != cfg1))"
check_within 5 "the old config map is gone" map_gone "$cfg1"
check_within 5 "the old tc_tx is gone" prog_gone "$tc1"
check_within 5 "the old xdp_twin is gone" prog_gone "$tw1"
check_within 5 "the old xdp_rx is gone" prog_gone "$rx1"
check "bpftool net: the new xdp_rx on ul0" net_shows "^ul0\([0-9]+\) (driver|generic) id $rx2\$"
check "bpftool net: the new tc_tx on $ifn" net_shows "clsact/egress xwg_tc_tx.* id $tc2\$"

# Test that unloading leaves nothing: no pins, no pair, no programs.
check "the probe unloads on SIGTERM" stop_probe "$PROBE_PID"
check "it said so" logged "$log" "unloaded"
check "the pin directory is gone" pins_gone "$ifn"
check "$ifn is gone" no_link "$ifn"
check "${ifn}x is gone" no_link "${ifn}x"
check "bpftool net shows no XDP" net_lacks "driver id|generic id"
check "bpftool net shows no tc_tx" net_lacks "xwg_tc_tx"
check_within 5 "xdp_rx is unloaded" prog_gone "$rx2"
check_within 5 "tc_tx is unloaded" prog_gone "$tc2"
check_within 5 "the config map is freed" map_gone "$cfg2"

# Test that unloading after the user deleted IFNAME (wg-quick down does)
# succeeds and still leaves nothing behind.
log=$TMP_DIR/load-del.log
check "a load succeeds" start_probe "$log" load -u ul0 "$ifn"
ip -n "$ns1" link del dev "$ifn"
check "deleting $ifn takes ${ifn}x with it" no_link "${ifn}x"
check "the probe unloads on SIGTERM" stop_probe "$PROBE_PID"
check "the pin directory is gone" pins_gone "$ifn"
check "bpftool net shows no XDP" net_lacks "driver id|generic id"

# Test that unloading after IFNAME moved to another namespace deletes it
# there (through the twin, which stays here).
ns_create "$ns2"
log=$TMP_DIR/load-move.log
check "a load succeeds" start_probe "$log" load -u ul0 "$ifn"
ip -n "$ns1" link set dev "$ifn" netns "$ns2"
check "$ifn is in $ns2" eval "ip -n $ns2 link show dev $ifn >/dev/null"
check "the probe unloads on SIGTERM" stop_probe "$PROBE_PID"
check_within 5 "$ifn is gone from $ns2" eval "! ip -n $ns2 link show dev $ifn >/dev/null 2>&1"
check "${ifn}x is gone" no_link "${ifn}x"
check "the pin directory is gone" pins_gone "$ifn"

# Test that XDP attached through netlink (older kernels, older builds),
# which outlives its process, is detached by the next load: it is ours by
# name and its owner (the config map's wg_ifindex) is gone.
log=$TMP_DIR/load3.log
check "a netlink-attach load succeeds" start_probe "$log" load -n -u ul0 "$ifn"
rx3=$(ready_field "$log" rx) || true
check "kill -9 ends it" crash_probe "$PROBE_PID"
check "its xdp_rx stays attached to ul0" net_shows "^ul0\([0-9]+\) (driver|generic) id $rx3\$"
log=$TMP_DIR/load4.log
check "a new load succeeds" start_probe "$log" load -u ul0 "$ifn"
check "it detached the orphaned xdp_rx" logged "$log" "detached xwg_xdp_rx (id $rx3) from ul0"
rx4=$(ready_field "$log" rx) || true
check "ul0 carries the new xdp_rx" net_shows "^ul0\([0-9]+\) (driver|generic) id $rx4\$"
check "the probe unloads on SIGTERM" stop_probe "$PROBE_PID"
check "bpftool net shows no XDP afterwards" net_lacks "driver id|generic id"
check "the pin directory is gone afterwards" pins_gone "$ifn"

# Test that without an explicit list the loader looks at the interfaces of
# the default route, and leaves ul0 there alone, being a veth (XDP on a veth
# turns TSO/USO off on its peer, slowing everyone's traffic): it says so,
# attaches xdp_rx nowhere and has data messages arrive through the UDP
# socket. (A veth named in the list gets it: the loads above.)
n1 ip route add default via 192.0.2.2 dev ul0
log=$TMP_DIR/load5.log
check "a load without underlays succeeds" start_probe "$log" load "$ifn"
check "it picked ul0, the default route's interface, and left it alone: a veth" \
	logged "$log" "fast path of $ifn: no xdp_rx on ul0: a veth"
check "it says data messages arrive through the UDP socket" \
	logged "$log" "xdp_rx on no interface (data messages arrive through the UDP socket)"
check "it attached xdp_rx nowhere" eval "not_logged $log mode.ul0= && not_logged $log mode.xa="
check "bpftool net: no XDP on ul0 or xa" net_lacks "^(ul0|xa)\("
check "its ready line has no xdp_rx program" eval "[[ \$(ready_field $log rx) == 0 ]]"
check "the probe unloads on SIGTERM" stop_probe "$PROBE_PID"

# Test that failures say why and leave nothing behind: a missing underlay,
# no permission to use BPF.
out=$TMP_DIR/load-fail.out
timeout 10 nsenter --net="/run/netns/$ns1" "$PROBE" load -u nosuchif0 "$ifn" >"$out" 2>&1 || true
check "a missing underlay is named" logged "$out" "load failed: -19: underlay interface nosuchif0 (XWG_XDP_IFACES) does not exist"
check "nothing is left of it" eval "no_link $ifn && pins_gone $ifn"
timeout 10 nsenter --net="/run/netns/$ns1" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	--bounding-set=-all "$PROBE" load -u ul0 "$ifn" >"$out" 2>&1 || true
check "no privileges: says CAP_BPF" logged "$out" "load failed: -1: not allowed to use BPF: needs CAP_BPF"

# Test that a loader started with `ip netns exec` (a /sys without bpffs)
# mounts a bpffs of its own and pins there, visible from its mount namespace.
log=$TMP_DIR/load6.log
bg_start "$log" ip netns exec "$ns1" "$PROBE" load -u ul0 "$ifn"
PROBE_PID=$BG_PID
check_within 15 "a load under ip netns exec succeeds" logged "$log" "ready "
check "it mounted a bpffs of its own" logged "$log" "mounted bpffs on /sys/fs/bpf"
check "its pins are visible in its mount namespace" \
	nsenter -t "$PROBE_PID" -m test -e "/sys/fs/bpf/xwg/$ifn/peer_stats"
check "the probe unloads on SIGTERM" stop_probe "$PROBE_PID"
check "bpftool net shows no XDP after it" net_lacks "driver id|generic id"

# ===========================================================================
# The daemon's shape: xwgd -f in $ns1 (the default route via ul0 is still
# there). `ip netns exec` gives it a bpffs of its own: its pins are read
# through its mount namespace.

ifd=$(tunnel_name 2)
in_daemon() { nsenter -t "${IMPL_PID[$ifd]}" -m "$@"; }
ifindex_of() { ip -n "$ns1" -j link show dev "$1" | jq -r '.[0].ifindex'; }

# config_is FIELD VALUE: the daemon's config map holds FIELD = VALUE.
config_is() {
	local v
	v=$(in_daemon bpftool -j map dump pinned "/sys/fs/bpf/xwg/$ifd/config" 2>&1 |
		jq -r ".[0].formatted.value.$1" 2>/dev/null) || true
	[[ $v == "$2" ]] || { echo "config.$1 is '${v:-unreadable}', want $2"; return 1; }
}

daemon_logged() { logged "$LOG_DIR/$ifd.log" "$1"; }

# no_xdp_on DEV: no XDP program is attached to DEV (in $ns1).
no_xdp_on() {
	local id
	id=$(in_ns bpftool -j net show | jq -r --arg d "$1" '.[0].xdp[] | select(.devname == $d) | .id')
	[[ -z $id ]] || { echo "$1 has XDP program $id: $(bpftool prog show id "$id" | head -n 1)"; return 1; }
}

# xdp_prog_is DEV NAME: the XDP program on DEV (in $ns1) is NAME.
xdp_prog_is() {
	local id
	id=$(in_ns bpftool -j net show | jq -r --arg d "$1" '.[0].xdp[] | select(.devname == $d) | .id')
	[[ -n $id ]] || { echo "no XDP program on $1"; return 1; }
	prog_is "$id" "$2"
}

# Test the default shape: IFNAME is a TUN device the daemon made, with
# tc_tx on its egress and neither a twin nor any XDP program (ul0, the
# default route's interface, is a veth: left alone, and said why); the
# config map names the TUN and no twin, no AF_XDP underlay.
start_impl "$ns1" "$REPO_ROOT/build/xwgd" "$ifd"
check "xwgd: $ifd is a TUN device" link_has "$ifd" " tun type tun "
check "xwgd: there is no twin ${ifd}x" no_link "${ifd}x"
check "xwgd: bpftool net: tc_tx on $ifd's egress" net_shows "^$ifd\([0-9]+\) [a-z]+/egress xwg_tc_tx"
check "xwgd: bpftool net: no XDP program anywhere" net_lacks "driver id|generic id|offload id"
check "xwgd: it says so: tc_tx on the TUN, xdp_rx on no interface" \
	daemon_logged "fast path of $ifd loaded: tc_tx on $ifd egress (TUN), xdp_rx on no interface"
check "xwgd: it says why not on ul0" daemon_logged "no xdp_rx on ul0: a veth"
check "xwgd: every map is pinned in its bpffs" eval "in_daemon sh -c 'cd /sys/fs/bpf/xwg/$ifd && ls ${MAPS[*]}' >/dev/null"
check "xwgd: config.wg_ifindex is $ifd's" config_is wg_ifindex "$(ifindex_of "$ifd")"
check "xwgd: config.twin_ifindex is 0 (no twin)" config_is twin_ifindex 0
check "xwgd: config.xsk_ifindex is 0 (no AF_XDP underlay)" config_is xsk_ifindex 0
check "xwgd exits 0 on SIGTERM" stop_impl "$ifd"
check "xwgd: $ifd is gone" no_link "$ifd"
check "xwgd: no tc_tx is left" net_lacks "xwg_tc_tx"

# Test XWG_XDP_IFACES=ul0: xdp_rx on the veth it names, with an AF_XDP
# socket on its queue (named in config.xsk_ifindex); after kill -9 the XDP
# link and the TUN (with tc_tx) go with the process, and a new xwgd of the
# same name loads afresh.
IMPL_ENV[$ifd]="XWG_XDP_IFACES=ul0"
start_impl "$ns1" "$REPO_ROOT/build/xwgd" "$ifd"
check "xwgd (XWG_XDP_IFACES=ul0): bpftool net: XDP on ul0" net_shows "^ul0\([0-9]+\) (driver|generic) id [0-9]+\$"
check "xwgd (XWG_XDP_IFACES=ul0): tc_tx on $ifd's egress" net_shows "^$ifd\([0-9]+\) [a-z]+/egress xwg_tc_tx"
check "xwgd (XWG_XDP_IFACES=ul0): the program on ul0 is xdp_rx" xdp_prog_is ul0 xwg_xdp_rx
check "xwgd (XWG_XDP_IFACES=ul0): an AF_XDP socket on ul0" \
	daemon_logged "fast path: xdp_rx on ul0 (native XDP), 1 AF_XDP socket(s) in"
check "xwgd (XWG_XDP_IFACES=ul0): config.xsk_ifindex is ul0's" config_is xsk_ifindex "$(ifindex_of ul0)"
# A peer whose endpoint is routed through xa, another veth: xdp_rx follows
# endpoints only where xwgd would put it by itself, and a veth it was not
# told about is not such a place.
addr_add "$ns1" xa 203.0.113.1/24
n1 wg set "$ifd" private-key <(wg genkey) peer "$(wg genkey | wg pubkey)" \
	endpoint 203.0.113.9:51820 allowed-ips 10.77.0.9/32
check "xwgd (XWG_XDP_IFACES=ul0): a peer's endpoint through the veth xa puts no XDP there" \
	no_xdp_on xa
pid=${IMPL_PID[$ifd]}
unset "IMPL_PID[$ifd]"
check "xwgd: kill -9 ends it" crash_probe "$pid"
check_within 5 "xwgd: its TUN went with it" no_link "$ifd"
check_within 5 "xwgd: its xdp_rx went with it (the XDP link)" net_lacks "^ul0\("
check_within 5 "xwgd: no tc_tx is left" net_lacks "xwg_tc_tx"
rm -f "$WG_RUN_DIR/$ifd.sock"	# the stale socket (restart.sh tests the takeover)
start_impl "$ns1" "$REPO_ROOT/build/xwgd" "$ifd"
check "xwgd: a new one of the same name runs its fast path again" \
	net_shows "^ul0\([0-9]+\) (driver|generic) id [0-9]+\$"
check "xwgd: and exits 0 on SIGTERM" stop_impl "$ifd"
check "xwgd: and leaves no XDP or TC program" net_lacks "driver id|generic id|xwg_tc_tx"
IMPL_ENV=()

# Test the earlier shape the daemon keeps to measure against
# (XWG_TUNNEL=veth): the pair, xdp_twin on the twin, both gone after SIGTERM.
IMPL_ENV[$ifd]="XWG_TUNNEL=veth"
start_impl "$ns1" "$REPO_ROOT/build/xwgd" "$ifd"
check "xwgd (XWG_TUNNEL=veth): it says so" daemon_logged "veth pair, XWG_TUNNEL=veth"
check "xwgd (XWG_TUNNEL=veth): the twin ${ifd}x exists" has_link "${ifd}x"
check "xwgd (XWG_TUNNEL=veth): xdp_twin on ${ifd}x" xdp_prog_is "${ifd}x" xwg_xdp_twin
check "xwgd (XWG_TUNNEL=veth): tc_tx on $ifd's egress" net_shows "^$ifd\([0-9]+\) [a-z]+/egress xwg_tc_tx"
check "xwgd (XWG_TUNNEL=veth) exits 0 on SIGTERM" stop_impl "$ifd"
check_within 5 "xwgd (XWG_TUNNEL=veth): $ifd and ${ifd}x are gone" eval "no_link $ifd && no_link ${ifd}x"
IMPL_ENV=()

report
