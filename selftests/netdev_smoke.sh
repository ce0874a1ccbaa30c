#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# The tunnel interface plumbing of the portable data path (ctl/netdev.c,
# datapath/tun.c), driven by tests/tools/netdev_probe.c: TUN creation and
# configuration, and the netlink monitor telling a deletion from a move to
# another network namespace. Needs root; touches only the namespaces it
# creates.
#
#  ┌─────────────────────────────┐  ip link set $ifn netns $ns2  ┌─────────────────────────────┐
#  │ $ns1                        │ ────────────────────────────▶ │ $ns2                        │
#  │  netdev_probe: creates the  │                               │  $ifn after the move:       │
#  │  TUN $ifn (MTU 1420, up),   │   TUN fd keeps carrying the   │  10.77.0.1/24, pings        │
#  │  its netlink monitor stays  │ ◀──────────────────────────── │  10.77.0.2, which the probe │
#  │  here                       │   interface's packets         │  answers through the fd     │
#  └─────────────────────────────┘                               └─────────────────────────────┘

set -euo pipefail
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip ping gcc pkg-config

echo "== netdev_smoke.sh"
PROBE=$REPO_ROOT/build/netdev_probe
mkdir -p "$REPO_ROOT/build"
# shellcheck disable=SC2046 # pkg-config prints a list of words on purpose
if ! (cd "$REPO_ROOT" && gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I. -Iinclude $(pkg-config --cflags libnl-3.0 libnl-route-3.0) tests/tools/netdev_probe.c ctl/netdev.c datapath/tun.c $(pkg-config --libs libnl-3.0 libnl-route-3.0) -o "$PROBE"); then
	fail "prerequisite" "building $PROBE failed"
	exit 1
fi

ifn=$(tunnel_name 0)
ns_create "$ns1" "$ns2"

# start_probe LOG [-n]: run the probe in $ns1 (PID in $PROBE_PID) and wait
# until it has set the interface up.
start_probe() {
	local log=$1; shift
	bg_start "$log" ip netns exec "$ns1" "$PROBE" "$@" "$ifn"
	PROBE_PID=$BG_PID
	wait_for 5 grep -q '^ready ' "$log" ||
		{ echo "the probe did not start:"; cat "$log"; return 1; }
}

# logged LOG LINE: the probe printed LINE. not_logged: it did not.
logged() { grep -qxF -- "$2" "$1" || { echo "no line '$2' in the probe's output"; return 1; }; }
not_logged() { ! grep -qxF -- "$2" "$1" || { echo "the probe printed '$2'"; return 1; }; }
# count_above LOG LINE N: LINE was printed more than N times.
count_above() { local n; n=$(grep -cxF -- "$2" "$1" || true); ((n > $3)); }
exited() { ! pid_is_alive "$1"; }
has_link() { ip -n "$1" link show dev "$ifn" >/dev/null 2>&1; }
no_link() { ! has_link "$1"; }

# link_is NS PATTERN: `ip link` shows the interface with PATTERN.
link_is() {
	local out
	out=$(ip -n "$1" -o link show dev "$ifn" 2>&1) || true
	[[ $out == *"$2"* ]] || { echo "ip link: ${out:-no $ifn}"; return 1; }
}

# tun_fd_flags_ok PID: the process's /dev/net/tun fd is O_NONBLOCK and
# close-on-exec (fdinfo "flags" is octal: 04000 and 02000000).
tun_fd_flags_ok() {
	local fd flags
	for fd in /proc/"$1"/fd/*; do
		[[ $(readlink "$fd") == /dev/net/tun ]] || continue
		flags=$(awk '$1 == "flags:" { print $2 }' "/proc/$1/fdinfo/${fd##*/}")
		(((8#$flags & 8#4000) && (8#$flags & 8#2000000))) && return 0
		echo "TUN fd flags $flags"
		return 1
	done
	echo "no /dev/net/tun fd in PID $1"
	return 1
}

# probe_refuses NAME: a probe creating NAME in $ns1 fails with -EEXIST.
probe_refuses() {
	local out
	out=$(timeout 5 ip netns exec "$ns1" "$PROBE" "$1") && return 1
	[[ $out == "create failed: -17 "* ]] || { echo "$out"; return 1; }
}

# Test that the probe creates the TUN with MTU 1420, up, and the flags of the
# kernel's wg device (POINTOPOINT, NOARP, no MULTICAST).
log=$TMP_DIR/probe1.log
check "the probe creates $ifn" start_probe "$log"
check "$ifn has MTU 1420" link_is "$ns1" " mtu 1420 "
check "$ifn is up with wg's flags" link_is "$ns1" "<POINTOPOINT,NOARP,UP,LOWER_UP>"
check "the TUN fd is non-blocking and close-on-exec" tun_fd_flags_ok "$PROBE_PID"

# Test that an existing name is refused with EEXIST, whatever its kind.
check "creating $ifn again fails with EEXIST" probe_refuses "$ifn"
check "creating lo fails with EEXIST" probe_refuses lo

# Test that removed local addresses are reported with family and address,
# and that route changes are reported.
ip -n "$ns1" addr add 10.66.0.1/24 dev "$ifn"
ip -n "$ns1" addr add fd66::1/64 dev "$ifn" nodad
routes=$(grep -cxF "event routes_changed" "$log" || true)
ip -n "$ns1" route add 10.67.0.0/24 dev "$ifn"
check_within 5 "a new route is reported" count_above "$log" "event routes_changed" "$routes"
ip -n "$ns1" addr del 10.66.0.1/24 dev "$ifn"
ip -n "$ns1" addr del fd66::1/64 dev "$ifn"
check_within 5 "removing 10.66.0.1 is reported" logged "$log" "event addr_removed inet 10.66.0.1"
check_within 5 "removing fd66::1 is reported" logged "$log" "event addr_removed inet6 fd66::1"

# Test that deleting the interface is reported as gone, not as moved, and
# that the TUN fd is detached from it.
kill -USR1 "$PROBE_PID"
check_within 5 "TUNGETIFF works on the live interface" logged "$log" "alive yes"
ip -n "$ns1" link del dev "$ifn"
check_within 5 "ip link del is reported as link_gone" logged "$log" "event link_gone"
check "ip link del is not reported as a move" not_logged "$log" "event link_moved"
check "after the deletion TUNGETIFF fails" logged "$log" "alive no"
check_within 5 "the probe exits after link_gone" exited "$PROBE_PID"

# Test that moving the interface to another namespace is reported as a move,
# not a deletion, and that the TUN fd keeps reading and writing its packets.
log=$TMP_DIR/probe2.log
check "the probe creates $ifn again" start_probe "$log"
ip -n "$ns1" link set dev "$ifn" netns "$ns2"
check_within 5 "the move is reported as link_moved" logged "$log" "event link_moved"
check "the move is not reported as link_gone" not_logged "$log" "event link_gone"
check "$ifn has left $ns1" no_link "$ns1"
check "$ifn is in $ns2" has_link "$ns2"
kill -USR1 "$PROBE_PID"
check_within 5 "TUNGETIFF still works after the move" logged "$log" "alive yes"
ip -n "$ns2" addr add 10.77.0.1/24 dev "$ifn"
ip -n "$ns2" link set dev "$ifn" up
check_within 5 "a ping in $ns2 is answered through the moved TUN fd" pings "$ns2" 10.77.0.2
check "the probe read the request and wrote the reply" logged "$log" "echo-reply"
check "the probe still runs" pid_is_alive "$PROBE_PID"

# Test that a deletion in the other namespace, which the monitor cannot see,
# shows on the TUN fd (EBADFD).
ip -n "$ns2" link del dev "$ifn"
check_within 5 "deletion in $ns2 fails the TUN fd with EBADFD" logged "$log" "tun-gone EBADFD"
check_within 5 "the probe exits after tun-gone" exited "$PROBE_PID"
check "the monitor in $ns1 did not call it gone" not_logged "$log" "event link_gone"

# Test that a monitor without the TUN fd tells the two apart by the
# IFLA_NEW_NETNSID attribute of RTM_DELLINK alone.
log=$TMP_DIR/probe3.log
check "the probe (-n) creates $ifn" start_probe "$log" -n
ip -n "$ns1" link set dev "$ifn" netns "$ns2"
check_within 5 "without the fd, the move is reported as link_moved" logged "$log" "event link_moved"
check "without the fd, the move is not reported as link_gone" not_logged "$log" "event link_gone"
ip -n "$ns2" link del dev "$ifn"
check_within 5 "the probe (-n) exits after tun-gone" exited "$PROBE_PID"
log=$TMP_DIR/probe4.log
check "the probe (-n) creates $ifn again" start_probe "$log" -n
ip -n "$ns1" link del dev "$ifn"
check_within 5 "without the fd, ip link del is reported as link_gone" logged "$log" "event link_gone"
check "without the fd, ip link del is not reported as a move" not_logged "$log" "event link_moved"
check_within 5 "the probe (-n) exits after link_gone" exited "$PROBE_PID"

# Test that closing the TUN fd (the daemon exiting) deletes the interface,
# here and after a move.
log=$TMP_DIR/probe5.log
check "the probe creates $ifn for the exit test" start_probe "$log"
kill -TERM "$PROBE_PID"
check_within 5 "the probe exits on SIGTERM" exited "$PROBE_PID"
check_within 5 "its exit deletes $ifn" no_link "$ns1"
log=$TMP_DIR/probe6.log
check "the probe creates $ifn for the moved exit test" start_probe "$log"
ip -n "$ns1" link set dev "$ifn" netns "$ns2"
check_within 5 "$ifn arrives in $ns2" has_link "$ns2"
kill -TERM "$PROBE_PID"
check_within 5 "the probe exits on SIGTERM after the move" exited "$PROBE_PID"
check_within 5 "its exit deletes $ifn in $ns2" no_link "$ns2"

report
