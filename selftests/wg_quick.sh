#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# wg-quick(8) with a userspace implementation: with no wireguard kernel module,
# `wg-quick up` runs $WG_QUICK_USERSPACE_IMPLEMENTATION IFNAME, which must
# create the interface and its socket and then detach; wg-quick configures it
# with `wg setconf`, `ip address`, `ip link` and `ip route`. `wg-quick down`
# deletes the interface, and the daemon must exit by itself.
#
#   LEFT=build/xwgd RIGHT=wireguard-go selftests/wg_quick.sh   (the defaults)
#
#  ┌──────────────────────────────────┐      ┌──────────────────────────────────┐
#  │ $ns1                             │      │ $ns2                             │
#  │  $if1: LEFT via wg-quick         │      │  $if2: RIGHT via wg-quick        │
#  │  Address 10.0.0.1/24 fd00::1/64  │      │  Address 10.0.0.2/24 fd00::2/64  │
#  │  ListenPort 10001                │      │  ListenPort 10002                │
#  │  veth1 192.0.2.1/24 ─────────────┼──────┼── veth2 192.0.2.2/24            │
#  └──────────────────────────────────┘      └──────────────────────────────────┘

set -euo pipefail
LEFT=${LEFT:-build/xwgd}
RIGHT=${RIGHT:-wireguard-go}
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg ping wg-quick

echo "== wg_quick.sh: LEFT=$LEFT RIGHT=$RIGHT"
left_exe=$(impl_path "$LEFT") && right_exe=$(impl_path "$RIGHT") ||
	{ fail "prerequisite" "LEFT or RIGHT cannot be run"; exit 1; }

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
# wg-quick wants the file named IFNAME.conf and readable by root only.
umask 077
conf1=$TMP_DIR/$if1.conf
conf2=$TMP_DIR/$if2.conf
key1=$(wg genkey)
key2=$(wg genkey)
psk=$(wg genpsk)
pub1=$(wg pubkey <<<"$key1")
pub2=$(wg pubkey <<<"$key2")
track_ifname "$if1"	# wg-quick starts these daemons, not start_impl
track_ifname "$if2"

cat >"$conf1" <<EOF
[Interface]
PrivateKey = $key1
ListenPort = 10001
Address = 10.0.0.1/24, fd00::1/64

[Peer]
PublicKey = $pub2
PresharedKey = $psk
AllowedIPs = 10.0.0.2/32, fd00::2/128
Endpoint = 192.0.2.2:10002
EOF
cat >"$conf2" <<EOF
[Interface]
PrivateKey = $key2
ListenPort = 10002
Address = 10.0.0.2/24, fd00::2/64

[Peer]
PublicKey = $pub1
PresharedKey = $psk
AllowedIPs = 10.0.0.1/32, fd00::1/128
Endpoint = 192.0.2.1:10001
EOF

veth_underlay

# wg_quick NS EXE up|down CONF: run wg-quick in NS with EXE as its userspace
# implementation. Its output goes to a file, not a pipe: a detached daemon may
# keep wg-quick's stdout open.
wg_quick() {
	local ns=$1 exe=$2 cmd=$3 conf=$4 log
	log=$LOG_DIR/$(basename "$conf" .conf).wg-quick.log
	echo "--- wg-quick $cmd $conf" >>"$log"
	# shellcheck disable=SC2046 # impl_env is a list of words on purpose
	ip netns exec "$ns" env $(impl_env) WG_QUICK_USERSPACE_IMPLEMENTATION="$exe" \
		wg-quick "$cmd" "$conf" </dev/null >>"$log" 2>&1 ||
		{ tail -n 3 "$log"; return 1; }
}

# listen_port_is NS IFNAME PORT
listen_port_is() {
	local p
	p=$(ip netns exec "$1" wg show "$2" listen-port) && [[ $p == "$3" ]] ||
		{ echo "$2 listens on '${p:-?}', want $3"; return 1; }
}

# has_address NS IFNAME ADDR/LEN
has_address() {
	local addrs
	addrs=$(ip -n "$1" -o addr show dev "$2") && grep -qF " $3 " <<<"$addrs"
}

# link_is_up NS IFNAME
link_is_up() {
	local link
	link=$(ip -n "$1" link show dev "$2") && [[ $link == *,UP* ]]
}

# no_process_in NS: nothing runs in NS any more.
no_process_in() {
	local pids
	pids=$(ip netns pids "$1") && [[ -z $pids ]] ||
		{ echo "still running in $1: $(echo $pids)"; return 1; }
}

# Test that `wg-quick up` brings up a tunnel on each implementation: the
# daemon has detached and serves the socket, the interface carries the
# configuration file's keys, port and addresses, and pings flow both ways.
check "wg-quick up starts LEFT" wg_quick "$ns1" "$left_exe" up "$conf1"
check "wg-quick up starts RIGHT" wg_quick "$ns2" "$right_exe" up "$conf2"
check "LEFT's daemon detached and serves $if1's socket" test -S "$WG_RUN_DIR/$if1.sock"
check "LEFT has the file's listen port" listen_port_is "$ns1" "$if1" 10001
check "LEFT has the file's addresses" \
	eval 'has_address "$ns1" "$if1" 10.0.0.1/24 && has_address "$ns1" "$if1" fd00::1/64'
check "LEFT has RIGHT as its peer" has_peer "$ns1" "$if1" "$pub2"
check "RIGHT has LEFT as its peer" has_peer "$ns2" "$if2" "$pub1"
check "LEFT's interface is up" link_is_up "$ns1" "$if1"
check_within 10 "LEFT pings RIGHT (IPv4 inside)" pings "$ns1" 10.0.0.2
check "RIGHT pings LEFT (IPv4 inside)" pings "$ns2" 10.0.0.1
check_within 3 "LEFT pings RIGHT (IPv6 inside)" pings "$ns1" fd00::2
check "RIGHT pings LEFT (IPv6 inside)" pings "$ns2" fd00::1
check "LEFT shows a handshake with RIGHT" has_handshake "$ns1" "$if1" "$pub2"
check "RIGHT shows a handshake with LEFT" has_handshake "$ns2" "$if2" "$pub1"

# Test that `wg-quick down` takes each tunnel away: the interface is deleted,
# so the daemon exits by itself and its socket is gone.
check "wg-quick down stops LEFT" wg_quick "$ns1" "$left_exe" down "$conf1"
check_not "LEFT's interface is gone" ip -n "$ns1" link show dev "$if1"
check_within 5 "LEFT's daemon exits" no_process_in "$ns1"
check_within 2 "LEFT's socket is removed" test ! -e "$WG_RUN_DIR/$if1.sock"
check "wg-quick down stops RIGHT" wg_quick "$ns2" "$right_exe" down "$conf2"
check_not "RIGHT's interface is gone" ip -n "$ns2" link show dev "$if2"
check_within 5 "RIGHT's daemon exits" no_process_in "$ns2"
check_within 2 "RIGHT's socket is removed" test ! -e "$WG_RUN_DIR/$if2.sock"

report
