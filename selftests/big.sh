#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# Big things: packets as large as a tunnel can carry (jumbo tunnel MTUs over
# a 1500-byte underlay, so the outer UDP datagrams are fragmented), and big
# configurations (200,000+ allowed IPs on one peer; 50 peers with 40 prefixes
# each, set and then synced), listed back exactly as wireguard-go lists them.
#
#   XWGD=build/xwgd selftests/big.sh   (the default; runs once in run.sh)
#
# Part (a), packets:
#
#                         ┌─────────────────────────────────────┐
#                         │ $ns1: hub                           │
#                         │  $if1: xwgd 10.0.0.1/24 fd00::1/64  │
#                         │  veth12 192.0.2.1/24    mtu 1500    │
#                         │  veth13 198.51.100.1/24 mtu 1500    │
#                         └──────┬───────────────────────┬──────┘
#  ┌─────────────────────────────┴──────┐ ┌──────────────┴─────────────────────┐
#  │ $ns2                               │ │ $ns3                               │
#  │  veth21 192.0.2.2/24               │ │  veth31 198.51.100.3/24            │
#  │  $if2: xwgd 10.0.0.2/24 fd00::2/64 │ │  $if3: wireguard-go 10.0.0.3/24    │
#  │                                    │ │        fd00::3/64                  │
#  └────────────────────────────────────┘ └────────────────────────────────────┘
#
# First jumbo frames on the underlay: veths of MTU 9000 and tunnels of 8920,
# pings at the tunnel's MTU and of two and three inner fragments (each one
# outer datagram, none of them cut). Then, over 1500-byte veths again, the
# tunnel MTU goes 9000, 65000, 65535, 65475 on all three tunnel interfaces.
# All of part (a) runs twice: xwgd on its fast path, then on its portable
# path. The largest packet that can cross: an outer UDP payload over
# IPv4 is at most 65507 bytes (65535 - 20 - 8), a data message is 32 bytes
# (header 16, tag 16) plus the inner packet padded to a multiple of 16 but
# never past the tunnel MTU. So:
#   - with tunnel MTU 65475 (= 65507 - 32), inner packets of up to 65475
#     bytes cross (the padding stops at the MTU): the largest possible;
#   - with tunnel MTU 65535, wireguard-go (and the kernel) cross with inner
#     packets of up to 65472 bytes (a multiple of 16): 65473 and more pad to
#     65488, 65520 bytes outer, too big. xwgd stops its padding at 65475, so
#     it sends up to 65475 bytes inside at any MTU;
#   - 65476 bytes inside never fit (65508 bytes outer, unpadded).
# As ping sizes (ICMP payload, 28 bytes of IPv4 and ICMP header):
# -s 65447 is the largest ping through a tunnel over IPv4.
#
# Parts (b)-(d), configurations: xwgd in $ns4 and wireguard-go in $ns5 (no
# network), each fed the same files with `wg setconf` / `wg syncconf`.

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Part (a) runs on both of xwgd's data paths, the fast path first (unless
# the run asked for the portable one only): the fast path carries any MTU
# the portable path carries (its tunnel interface is a TUN). Parts (b)-(d)
# run the data path the run asked for (by default the fast path, whose
# allowed-IPs tries are then checked against wg show).
given_datapath=${XWG_DATAPATH-}
require ip wg ping python3

echo "== big.sh: XWGD=$XWGD"
require_impls "$XWGD" "$WGGO"

ns4="xwg-$RUN_ID-4"
ns5="xwg-$RUN_ID-5"
n4() { ip netns exec "$ns4" "$@"; }
n5() { ip netns exec "$ns5" "$@"; }
if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
if3=$(tunnel_name 3)
if4=$(tunnel_name 4)
if5=$(tunnel_name 5)

umask 077
for i in 1 2 3 4; do
	wg genkey >"$TMP_DIR/key$i"
	pub[i]=$(wg pubkey <"$TMP_DIR/key$i")
done

# ===========================================================================
# (a) Big packets.

# set_tunnel_mtu MTU: on all three tunnel interfaces.
set_tunnel_mtu() {
	local i ns ifname
	for i in 1 2 3; do
		ns=ns$i ifname=if$i
		ip -n "${!ns}" link set "${!ifname}" mtu "$1"
	done
}

# snmp NS GROUP FIELD: a counter of /proc/net/snmp in NS (e.g. Ip FragCreates).
snmp() {
	ip netns exec "$1" awk -v g="$2:" -v f="$3" '
		$1 == g && !hdr { for (i = 2; i <= NF; i++) if ($i == f) col = i; hdr = 1; next }
		$1 == g && hdr { print $col; exit }' /proc/net/snmp
}

# counter_grew NS GROUP FIELD BEFORE
counter_grew() {
	local n
	n=$(snmp "$1" "$2" "$3") && ((n > $4)) ||
		{ echo "$2 $3 in $1 is ${n:-?}, was $4"; return 1; }
}

# big_ping NS ADDR [PING ARGS...]: one of up to three requests gets its
# reply. A request this big crosses the underlay as up to 45 IP fragments
# each way, and a machine busy with other work may drop one of them (seen
# once in CI: one lost 65 KB ping); one reply proves the path carries the
# size, as one would with a single fragment.
big_ping() {
	local ns=$1 addr=$2 out; shift 2
	for _ in 1 2 3; do
		out=$(ip netns exec "$ns" ping -q -n -c 1 -W 3 "$@" "$addr" 2>&1) && return 0
	done
	echo "$out"
	return 1
}

# big_pings MTU SIZE [PING ARGS...]: with tunnel MTU MTU, pings of SIZE
# bytes of ICMP payload (IPv4, or IPv6 with -6) get replies on every path:
# xwgd -> xwgd, xwgd -> wireguard-go, and the other way round.
big_pings() {
	local mtu=$1 size=$2 v=4 a1=10.0.0.1 a2=10.0.0.2 a3=10.0.0.3; shift 2
	if [[ ${1:-} == -6 ]]; then
		v=6 a1=fd00::1 a2=fd00::2 a3=fd00::3
	fi
	check "${P}mtu $mtu: xwgd pings xwgd with -s $size (IPv$v)" big_ping "$ns1" $a2 -s "$size" "$@"
	check "${P}mtu $mtu: xwgd pings wireguard-go with -s $size (IPv$v)" big_ping "$ns1" $a3 -s "$size" "$@"
	check "${P}mtu $mtu: xwgd pings xwgd back with -s $size (IPv$v)" big_ping "$ns2" $a1 -s "$size" "$@"
	check "${P}mtu $mtu: wireguard-go pings xwgd with -s $size (IPv$v)" big_ping "$ns3" $a1 -s "$size" "$@"
}

# underlay_mtu MTU: on both ends of both veth pairs.
underlay_mtu() {
	ip -n "$ns1" link set veth12 mtu "$1"
	ip -n "$ns2" link set veth21 mtu "$1"
	ip -n "$ns1" link set veth13 mtu "$1"
	ip -n "$ns3" link set veth31 mtu "$1"
}

# frags_exactly NS ADDR PEER_NS SIZE N: one ping from NS to ADDR (served by
# PEER_NS) with SIZE bytes of ICMP payload gets its reply, NS created
# exactly N IPv4 fragments for it and PEER_NS exactly N for the reply.
frags_exactly() {
	local ns=$1 addr=$2 peer=$3 size=$4 n=$5 a0 b0 a1 b1
	a0=$(snmp "$ns" Ip FragCreates) b0=$(snmp "$peer" Ip FragCreates)
	pings "$ns" "$addr" -s "$size" -M dont -W 3 || return 1
	a1=$(snmp "$ns" Ip FragCreates) b1=$(snmp "$peer" Ip FragCreates)
	((a1 - a0 == n && b1 - b0 == n)) ||
		{ echo "fragments created: $((a1 - a0)) by the request, $((b1 - b0)) by the reply, want $n each"; return 1; }
}

# snmp6 NS FIELD: a counter of /proc/net/snmp6 in NS (e.g. Ip6FragCreates).
snmp6() { ip netns exec "$1" awk -v f="$2" '$1 == f { print $2 }' /proc/net/snmp6; }
snmp6_grew() {
	local n
	n=$(snmp6 "$1" "$2") && ((n > $3)) || { echo "$2 in $1 is ${n:-?}, was $3"; return 1; }
}

# big_packets PATH: part (a) on xwgd's data path PATH (fast or portable):
# fresh namespaces and daemons, deleted at the end. Descriptions start with
# $P, "[PATH] ".
big_packets() {
	local path=$1 i ns ifname frag1 frag3 reasm1 reasm2 reasm3
	P="[$path path] "
	IMPL_ENV=()
	if [[ $path == portable ]]; then
		IMPL_ENV[$if1]="XWG_DATAPATH=portable" IMPL_ENV[$if2]="XWG_DATAPATH=portable"
	fi
	ns_create "$ns1" "$ns2" "$ns3"
	veth_link "$ns1" veth12 "$ns2" veth21
	veth_link "$ns1" veth13 "$ns3" veth31
	addr_add "$ns1" veth12 192.0.2.1/24
	addr_add "$ns1" veth13 198.51.100.1/24
	addr_add "$ns2" veth21 192.0.2.2/24
	addr_add "$ns3" veth31 198.51.100.3/24

	start_impl "$ns1" "$XWGD" "$if1"
	start_impl "$ns2" "$XWGD" "$if2"
	start_impl "$ns3" "$WGGO" "$if3"
	n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port 10001 \
		peer "${pub[2]}" allowed-ips 10.0.0.2/32,fd00::2/128 endpoint 192.0.2.2:10002 \
		peer "${pub[3]}" allowed-ips 10.0.0.3/32,fd00::3/128 endpoint 198.51.100.3:10003
	n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port 10002 \
		peer "${pub[1]}" allowed-ips 10.0.0.1/32,fd00::1/128 endpoint 192.0.2.1:10001
	n3 wg set "$if3" private-key "$TMP_DIR/key3" listen-port 10003 \
		peer "${pub[1]}" allowed-ips 10.0.0.1/32,fd00::1/128 endpoint 198.51.100.1:10001
	for i in 1 2 3; do
		ns=ns$i ifname=if$i
		addr_add "${!ns}" "${!ifname}" "10.0.0.$i/24" "fd00::$i/64"
		ip -n "${!ns}" link set "${!ifname}" up
	done

	# Test that the tunnels work at the default MTU (first handshakes).
	check_within 10 "${P}mtu 1420: xwgd pings xwgd" pings "$ns1" 10.0.0.2
	check_within 10 "${P}mtu 1420: xwgd pings wireguard-go" pings "$ns1" 10.0.0.3
	if [[ $path == fast ]]; then
		check_fastpath "$ns1" "$if1" "$XWGD" "${P}the hub"
		check_fastpath "$ns2" "$if2" "$XWGD" "${P}node 2"
	else
		check "${P}both xwgd run the portable path" \
			grep -q 'data path: portable (TUN + UDP), as XWG_DATAPATH says' \
			"$LOG_DIR/$if1.log" "$LOG_DIR/$if2.log"
	fi

	# Test jumbo frames on the underlay: veths of MTU 9000, tunnels of 8920
	# (9000 - 80, as wg-quick sets it). Pings of exactly the tunnel's MTU
	# cross (IPv4 -s 8892, IPv6 -s 8872), and pings of two and of three
	# fragments inside cross too, each fragment one outer datagram: the
	# pinging namespace creates exactly 2 or 3 fragments (the inner ones;
	# none of the outer datagrams, at most 8920 + 60 bytes, is cut), the
	# answering one as many for its reply.
	underlay_mtu 9000
	set_tunnel_mtu 8920
	big_pings 8920 8892 -M "do"
	big_pings 8920 8872 -6 -M "do"
	check "${P}mtu 8920: xwgd -> xwgd, 2 fragments each way" frags_exactly "$ns1" 10.0.0.2 "$ns2" 12000 2
	check "${P}mtu 8920: xwgd -> xwgd, 3 fragments each way" frags_exactly "$ns1" 10.0.0.2 "$ns2" 20000 3
	check "${P}mtu 8920: xwgd -> wireguard-go, 2 fragments each way" frags_exactly "$ns1" 10.0.0.3 "$ns3" 12000 2
	check "${P}mtu 8920: xwgd -> wireguard-go, 3 fragments each way" frags_exactly "$ns1" 10.0.0.3 "$ns3" 20000 3
	check "${P}mtu 8920: wireguard-go -> xwgd, 3 fragments each way" frags_exactly "$ns3" 10.0.0.1 "$ns1" 20000 3
	check "${P}mtu 8920: xwgd -> xwgd back, 3 fragments each way" frags_exactly "$ns2" 10.0.0.1 "$ns1" 20000 3
	big_pings 8920 12000 -6
	big_pings 8920 20000 -6
	underlay_mtu 1500

	# Test that with tunnel MTU 9000 over the 1500-byte underlay, 8000-byte
	# pings (and pings of exactly the MTU, 8972 + 28 bytes, unfragmented inside)
	# cross both ways, IPv4 and IPv6 inside, and the outer datagrams are
	# fragmented by the sending namespaces and reassembled by the receiving ones.
	set_tunnel_mtu 9000
	frag1=$(snmp "$ns1" Ip FragCreates) frag3=$(snmp "$ns3" Ip FragCreates)
	reasm1=$(snmp "$ns1" Ip ReasmOKs) reasm2=$(snmp "$ns2" Ip ReasmOKs) reasm3=$(snmp "$ns3" Ip ReasmOKs)
	big_pings 9000 8000 -M dont
	big_pings 9000 8972 -M "do"
	big_pings 9000 8000 -6
	check "${P}mtu 9000: the hub (xwgd) fragmented its outer datagrams" counter_grew "$ns1" Ip FragCreates "$frag1"
	check "${P}mtu 9000: wireguard-go's side fragmented its outer datagrams" counter_grew "$ns3" Ip FragCreates "$frag3"
	check "${P}mtu 9000: the hub reassembled outer datagrams" counter_grew "$ns1" Ip ReasmOKs "$reasm1"
	check "${P}mtu 9000: xwgd's side reassembled outer datagrams" counter_grew "$ns2" Ip ReasmOKs "$reasm2"
	check "${P}mtu 9000: wireguard-go's side reassembled outer datagrams" counter_grew "$ns3" Ip ReasmOKs "$reasm3"

	# Test that with tunnel MTU 65000, 60000-byte pings and pings of exactly the
	# MTU (64972 + 28) cross.
	set_tunnel_mtu 65000
	big_pings 65000 60000 -M dont
	big_pings 65000 64972 -M "do"
	big_pings 65000 60000 -6

	# Test that with tunnel MTU 65535, the largest inner packet that every
	# implementation can send padded, 65472 bytes (-s 65444), crosses; that
	# between two xwgd the largest possible one, 65475 bytes (-s 65447), crosses
	# too, its padding stopping at the largest UDP payload; and that one of
	# 65476 bytes (-s 65448) cannot (its data message would be 65508 bytes even
	# unpadded) and is dropped without harming the tunnel.
	set_tunnel_mtu 65535
	big_pings 65535 65444 -M "do"
	check "${P}mtu 65535: xwgd pings xwgd with -s 65447 (padding capped at the UDP limit)" \
		big_ping "$ns1" 10.0.0.2 -s 65447 -M "do"
	check "${P}mtu 65535: xwgd pings xwgd back with -s 65447" big_ping "$ns2" 10.0.0.1 -s 65447 -M "do"
	check "${P}mtu 65535: a 65476-byte packet gets no reply (cannot be sent)" \
		ping_gets_nothing "$ns1" 10.0.0.2 -s 65448 -M "do"
	check "${P}mtu 65535: xwgd still pings xwgd afterwards" pings "$ns1" 10.0.0.2
	check "${P}mtu 65535: xwgd still pings wireguard-go afterwards" pings "$ns1" 10.0.0.3
	check "${P}mtu 65535: xwgd is still running" pid_is_alive "${IMPL_PID[$if1]}"

	# Test that with tunnel MTU 65475 the largest possible inner packet, 65475
	# bytes (-s 65447 for IPv4, -s 65427 for IPv6), crosses on every path: its
	# padding stops at the MTU, so the data message is 65507 bytes, the largest
	# UDP payload. (For wireguard-go this also shows that it noticed the MTU
	# going down from 65535: padding to the old MTU would make 65520 bytes.)
	set_tunnel_mtu 65475
	big_pings 65475 65447 -M "do"
	big_pings 65475 65427 -6

	# Test that big packets cross over an IPv6 underlay too (every endpoint
	# switched to IPv6): 60000-byte pings with tunnel MTU 65000, the largest
	# packet of the IPv4 underlay with MTU 65475, and that the outer IPv6
	# datagrams are fragmented by both implementations.
	addr_add "$ns1" veth12 2001:db8:12::1/64
	addr_add "$ns2" veth21 2001:db8:12::2/64
	addr_add "$ns1" veth13 2001:db8:13::1/64
	addr_add "$ns3" veth31 2001:db8:13::3/64
	n1 wg set "$if1" peer "${pub[2]}" endpoint "[2001:db8:12::2]:10002" \
		peer "${pub[3]}" endpoint "[2001:db8:13::3]:10003"
	n2 wg set "$if2" peer "${pub[1]}" endpoint "[2001:db8:12::1]:10001"
	n3 wg set "$if3" peer "${pub[1]}" endpoint "[2001:db8:13::1]:10001"
	frag1=$(snmp6 "$ns1" Ip6FragCreates) frag3=$(snmp6 "$ns3" Ip6FragCreates)
	set_tunnel_mtu 65000
	big_pings "65000 (IPv6 underlay)" 60000 -M dont
	set_tunnel_mtu 65475
	big_pings "65475 (IPv6 underlay)" 65447 -M "do"
	check "${P}IPv6 underlay: the hub (xwgd) fragmented its outer datagrams" snmp6_grew "$ns1" Ip6FragCreates "$frag1"
	check "${P}IPv6 underlay: wireguard-go's side fragmented its outer datagrams" snmp6_grew "$ns3" Ip6FragCreates "$frag3"
	check "${P}IPv6 underlay: the hub's endpoint for xwgd is IPv6" \
		endpoint_is "$ns1" "$if1" "${pub[2]}" "[2001:db8:12::2]:10002"

	# Test that over an IPv6 underlay, where a UDP payload may be 65527 bytes
	# (the IPv6 payload length counts the 8-byte UDP header, not the 40-byte
	# IPv6 header), an inner packet of 65488 bytes (-s 65460; padded 65488, 65520
	# bytes outer) crosses between two xwgd with tunnel MTU 65535, as it does
	# with the kernel's wireguard. The IPv4 limit (65507) does not apply.
	set_tunnel_mtu 65535
	check "${P}mtu 65535, IPv6 underlay: xwgd pings xwgd with -s 65460 (65520-byte datagrams)" \
		big_ping "$ns1" 10.0.0.2 -s 65460 -M "do"
	check "${P}mtu 65535, IPv6 underlay: xwgd pings xwgd back with -s 65460" \
		big_ping "$ns2" 10.0.0.1 -s 65460 -M "do"
	set_tunnel_mtu 1420

	for i in 1 2 3; do
		ifname=if$i
		check "${P}(a) the daemon of node $i exits cleanly on SIGTERM" stop_impl "${!ifname}"
	done

	for ns in "$ns1" "$ns2" "$ns3"; do ip netns del "$ns"; done
	IMPL_ENV=()
}

if [[ $given_datapath == portable ]]; then
	big_packets portable
else
	big_packets fast
	big_packets portable
fi
P=

# ===========================================================================
# Configurations: a generator for wg(8) configuration files and helpers to
# compare what the daemons list back.

ns_create "$ns4" "$ns5"
start_impl "$ns4" "$XWGD" "$if4"
start_impl "$ns5" "$WGGO" "$if5"
gen=$TMP_DIR/gen.py
cat >"$gen" <<'EOF'
# gen.py MODE OUT_CONF OUT_EXPECTED [ARGS]: write a wg(8) configuration (to
# feed `wg setconf`) and the `wg showconf` it must give back (prefixes
# masked, in wg's own format, peers in file order).
#   one-peer PRIVKEY N4 N6 SEED       one peer with N4 /32s and N6 /128s
#   many PRIVKEY PEERS PER SEED        PEERS peers with PER prefixes each
#   sync STATE_IN                      from the state of "many": remove 10
#                                      peers, change and move prefixes
import ipaddress, json, random, socket, subprocess, sys

def pubkey_of(priv):
    return subprocess.run(["wg", "pubkey"], input=priv + "\n", capture_output=True,
                          text=True, check=True).stdout.strip()

def genkey():
    return subprocess.run(["wg", "genkey"], capture_output=True, text=True,
                          check=True).stdout.strip()

def ntop(net):
    fam = socket.AF_INET if net.version == 4 else socket.AF_INET6
    return "%s/%d" % (socket.inet_ntop(fam, net.network_address.packed), net.prefixlen)

def write(path, priv, peers, masked, chunk=None):
    # peers: list of dicts: pub, psk, ips (list of (text_in, network)),
    # endpoint, keepalive. The showconf order of keys is wg's.
    with open(path, "w") as f:
        f.write("[Interface]\nListenPort = 10004\nPrivateKey = %s\n" % priv)
        for p in peers:
            f.write("\n[Peer]\nPublicKey = %s\n" % p["pub"])
            if p.get("psk"):
                f.write("PresharedKey = %s\n" % p["psk"])
            ips = [ntop(n) if masked else t for t, n in p["ips"]]
            if ips:
                if chunk:
                    for i in range(0, len(ips), chunk):
                        f.write("AllowedIPs = %s\n" % ", ".join(ips[i:i + chunk]))
                else:
                    f.write("AllowedIPs = %s\n" % ", ".join(ips))
            if p.get("endpoint"):
                f.write("Endpoint = %s\n" % p["endpoint"])
            if p.get("keepalive"):
                f.write("PersistentKeepalive = %d\n" % p["keepalive"])

def random_prefix(rng, seen):
    # A prefix no other entry has after masking; sometimes with host bits
    # set in the text, which the daemon must mask.
    while True:
        if rng.random() < 0.7:
            cidr = rng.choice([8, 12, 16, 20, 24, 24, 28, 30, 31, 32, 32, 32, 17, 23])
            addr = ipaddress.IPv4Address(rng.getrandbits(32))
        else:
            cidr = rng.choice([16, 32, 48, 56, 64, 64, 96, 127, 128, 128, 65])
            addr = ipaddress.IPv6Address((0xfd << 120) | rng.getrandbits(120))
        net = ipaddress.ip_network("%s/%d" % (addr, cidr), strict=False)
        if net in seen:
            continue
        seen.add(net)
        text = "%s/%d" % (addr, cidr) if rng.random() < 0.1 else ntop(net)
        return text, net

mode, out_conf, out_expected = sys.argv[1:4]
args = sys.argv[4:]
if mode == "one-peer":
    priv, n4, n6, seed = args[0], int(args[1]), int(args[2]), int(args[3])
    rng = random.Random(seed)
    v4 = set()
    while len(v4) < n4:
        v4.add((10 << 24) | rng.getrandbits(24))
    v6 = set()
    while len(v6) < n6:
        v6.add((0xfd << 120) | rng.getrandbits(120))
    nets = [ipaddress.ip_network((a, 32)) for a in v4] + \
           [ipaddress.ip_network((a, 128)) for a in v6]
    rng.shuffle(nets)
    peer = {"pub": pubkey_of(genkey()), "ips": [(ntop(n), n) for n in nets]}
    write(out_conf, priv, [peer], False, chunk=1000)
    write(out_expected, priv, [peer], True)
elif mode == "many":
    priv, npeers, per, seed = args[0], int(args[1]), int(args[2]), int(args[3])
    rng = random.Random(seed)
    seen = set()
    peers = []
    for i in range(npeers):
        p = {"pub": pubkey_of(genkey()), "ips": [random_prefix(rng, seen) for _ in range(per)]}
        if i % 5 == 0:
            p["psk"] = genkey()
        if i % 7 == 0:
            p["endpoint"] = "192.0.2.%d:%d" % (i + 1, 20000 + i)
        if i % 6 == 1:
            p["endpoint"] = "[2001:db8::%x]:%d" % (i + 1, 30000 + i)
        if i % 4 == 3:
            p["keepalive"] = 25
        peers.append(p)
    write(out_conf, priv, peers, False)
    write(out_expected, priv, peers, True)
    json.dump({"priv": priv, "seed": seed, "peers": [
        dict(p, ips=[(t, str(n)) for t, n in p["ips"]]) for p in peers]},
        open(out_expected + ".json", "w"))
elif mode == "sync":
    state = json.load(open(args[0]))
    rng = random.Random(state["seed"] + 1)
    peers = [dict(p, ips=[(t, ipaddress.ip_network(n)) for t, n in p["ips"]])
             for p in state["peers"]]
    seen = set(n for p in peers for _, n in p["ips"])
    # Remove 10 peers (not the first two, which get prefixes moved below).
    removed = set(rng.sample(range(2, len(peers)), 10))
    peers = [p for i, p in enumerate(peers) if i not in removed]
    # Change 10 peers: drop 5 prefixes, add 5 new ones.
    for p in rng.sample(peers[2:], 10):
        for _ in range(5):
            p["ips"].pop(rng.randrange(len(p["ips"])))
        p["ips"] += [random_prefix(rng, seen) for _ in range(5)]
    # Move 3 prefixes from peer 0 to peer 1 and 3 from peer 1 to peer 0.
    a, b = peers[0], peers[1]
    a_moved, b_moved = a["ips"][:3], b["ips"][:3]
    a["ips"] = a["ips"][3:] + b_moved
    b["ips"] = b["ips"][3:] + a_moved
    # Change a keepalive, set one, add a new peer.
    peers[2]["keepalive"] = 15
    peers[3].pop("keepalive", None)
    peers[3]["keepalive"] = 5
    peers.append({"pub": pubkey_of(genkey()), "ips": [random_prefix(rng, seen) for _ in range(40)]})
    write(out_conf, state["priv"], peers, False)
    write(out_expected, state["priv"], peers, True)
EOF

# showconf_of NS IFNAME OUT: `wg showconf` into OUT, its time in $SECS.
showconf_of() {
	local t0
	t0=$(_now_us)
	ip netns exec "$1" wg showconf "$2" >"$3" || return 1
	SECS=$(elapsed_since "$t0")
}

# elapsed_since T0_US: seconds since T0 (from _now_us), 2 decimals.
elapsed_since() {
	local d=$(($(_now_us) - $1))
	printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000))
}

# normalize_conf <CONF: a showconf with its peer sections sorted (wireguard-go
# lists peers in Go map order, which is random).
normalize_conf() {
	python3 -c '
import sys
text = sys.stdin.read()
secs = text.split("\n[Peer]\n")
head, peers = secs[0], secs[1:]
peers = [p.rstrip("\n") for p in peers]
print(head.rstrip("\n"))
for p in sorted(peers):
    print("\n[Peer]\n" + p)
'
}

# same_conf LABEL_A A LABEL_B B: two showconf files are the same modulo
# peer order; otherwise prints their first difference.
same_conf() {
	local a=$TMP_DIR/cmp-a b=$TMP_DIR/cmp-b
	normalize_conf <"$2" >"$a"
	normalize_conf <"$4" >"$b"
	if ! cmp -s "$a" "$b"; then
		diff -u --label "$1" --label "$3" "$a" "$b" | head -n 12 | cut -c 1-200
		return 1
	fi
}

# allowed_ips_pairs NS IFNAME: `wg show IFNAME allowed-ips` as sorted
# "PUBKEY PREFIX" lines.
allowed_ips_pairs() {
	ip netns exec "$1" wg show "$2" allowed-ips |
		awk '{ for (i = 2; i <= NF; i++) print $1, $i }' | LC_ALL=C sort
}

# expected_pairs CONF: the "PUBKEY PREFIX" lines of an expected showconf.
expected_pairs() {
	awk '/^PublicKey = / { k = $3 }
		/^AllowedIPs = / { sub(/^AllowedIPs = /, ""); n = split($0, a, ", "); for (i = 1; i <= n; i++) print k, a[i] }' "$1" |
		LC_ALL=C sort
}

# same_pairs NS IFNAME EXPECTED_CONF: `wg show allowed-ips` lists exactly the
# expected (peer, prefix) pairs.
same_pairs() {
	local got=$TMP_DIR/pairs-got want=$TMP_DIR/pairs-want
	allowed_ips_pairs "$1" "$2" >"$got"
	expected_pairs "$3" >"$want"
	if ! cmp -s "$got" "$want"; then
		echo "$(wc -l <"$got") pairs listed, $(wc -l <"$want") expected; first differences:"
		diff "$want" "$got" | grep '^[<>]' | head -n 6
		return 1
	fi
	echo "$(wc -l <"$got") (peer, prefix) pairs, as expected"
}

# at_most SECONDS_LIMIT SECONDS: SECONDS (a decimal) <= LIMIT.
at_most() {
	awk -v l="$1" -v s="$2" 'BEGIN { exit !(s <= l) }' ||
		{ echo "took $2 s, more than $1 s"; return 1; }
}

# timed_set NS IFNAME CMD CONF: `wg CMD IFNAME CONF` (setconf or syncconf),
# its time in $SECS.
timed_set() {
	local t0 rc=0
	t0=$(_now_us)
	ip netns exec "$1" wg "$3" "$2" "$4" || rc=$?
	SECS=$(elapsed_since "$t0")
	return $rc
}

# ===========================================================================
# (b) 220,000 allowed IPs on one peer.

# Test that one `wg setconf` with 200,000 random IPv4 /32s and 20,000 IPv6
# /128s (in random order, 1000 per AllowedIPs line) on one peer is applied,
# that `wg showconf` lists every one of them back exactly (as a sorted set,
# and in wg's format in the order given, as wireguard-go does), and that both
# take a reasonable time (limits: 30 s for each; the times are printed, with
# wireguard-go's for comparison).
LIMIT_B=30
python3 "$gen" one-peer "$TMP_DIR/b.conf" "$TMP_DIR/b.expected" "$(cat "$TMP_DIR/key4")" 200000 20000 1
grep '^AllowedIPs' "$TMP_DIR/b.expected" | sed 's/^AllowedIPs = //; s/, /\n/g' | LC_ALL=C sort >"$TMP_DIR/b.want"
echo "(b) $(wc -l <"$TMP_DIR/b.want") allowed IPs, $(wc -c <"$TMP_DIR/b.conf") bytes of configuration"

# sorted_allowed_ips CONF: the AllowedIPs of a showconf, one a line, sorted.
sorted_allowed_ips() {
	grep '^AllowedIPs' "$1" | sed 's/^AllowedIPs = //; s/, /\n/g' | LC_ALL=C sort
}

# same_set CONF: CONF's allowed IPs are exactly the expected set.
same_set() {
	sorted_allowed_ips "$1" >"$TMP_DIR/b.got"
	if ! cmp -s "$TMP_DIR/b.got" "$TMP_DIR/b.want"; then
		echo "$(wc -l <"$TMP_DIR/b.got") listed, $(wc -l <"$TMP_DIR/b.want") expected; first differences:"
		diff "$TMP_DIR/b.want" "$TMP_DIR/b.got" | grep '^[<>]' | head -n 6
		return 1
	fi
}

for side in xwgd wireguard-go; do
	if [[ $side == xwgd ]]; then ns=$ns4 ifname=$if4; else ns=$ns5 ifname=$if5; fi
	if timed_set "$ns" "$ifname" setconf "$TMP_DIR/b.conf"; then
		pass "(b) $side: wg setconf with 220,000 allowed IPs succeeds"
	else
		fail "(b) $side: wg setconf with 220,000 allowed IPs succeeds" "it failed"
	fi
	set_secs=$SECS
	if showconf_of "$ns" "$ifname" "$TMP_DIR/b.$side"; then
		show_secs=$SECS
	else
		show_secs=999
	fi
	echo "(b) $side: setconf took $set_secs s, showconf took $show_secs s"
	rss=$(awk '$1 == "VmRSS:" { print $2, $3 }' "/proc/${IMPL_PID[$ifname]}/status" 2>/dev/null || true)
	echo "(b) $side: resident memory ${rss:-?}"
	check "(b) $side: showconf lists exactly the 220,000 allowed IPs (sorted sets)" same_set "$TMP_DIR/b.$side"
	check "(b) $side: showconf is the input (masked, in input order)" \
		same_conf expected "$TMP_DIR/b.expected" "$side" "$TMP_DIR/b.$side"
	if [[ $side == xwgd ]]; then
		check "(b) xwgd: setconf took at most $LIMIT_B s" at_most $LIMIT_B "$set_secs"
		check "(b) xwgd: showconf took at most $LIMIT_B s" at_most $LIMIT_B "$show_secs"
	fi
done
check "(b) xwgd's showconf is byte-identical to wireguard-go's" \
	same_conf wireguard-go "$TMP_DIR/b.wireguard-go" xwgd "$TMP_DIR/b.xwgd"

# Test that a following small `wg set` is quick on the big table (the
# daemon does not rebuild it): replacing the peer's allowed IPs with one.
peer_b=$(awk '/^PublicKey/ { print $3 }' "$TMP_DIR/b.conf")
t0=$(_now_us)
check "(b) xwgd: replacing the 220,000 allowed IPs with one works" \
	n4 wg set "$if4" peer "$peer_b" allowed-ips 10.9.9.9/32
secs=$(elapsed_since "$t0")
echo "(b) xwgd: that took $secs s"
check "(b) xwgd: the peer has just 10.9.9.9/32 now" \
	wg_peer_value_is "$ns4" "$if4" "$peer_b" allowed-ips 10.9.9.9/32

# check_tries LABEL: on the fast path, its allowed-IPs tries hold exactly
# the (peer, prefix) pairs wg show lists (the daemon writes only the
# differences, so this is where a wrong diff would show).
check_tries() {
	impl_wants_fastpath "$XWGD" || return 0
	check "$1: the fast path's tries hold exactly wg show's pairs" \
		python3 "$SELFTESTS_DIR/fastpath_tries.py" "${IMPL_PID[$if4]}" "$if4" "$ns4"
}
check_tries "(b) xwgd after the replacement"

# ===========================================================================
# (c) 50 peers with 40 prefixes each.

# Test that `wg setconf` with 50 peers of 40 prefixes each (IPv4 and IPv6,
# /8 to /128, nested ones, some given with host bits set), some with
# preshared keys, endpoints and keepalives, is listed back exactly by `wg
# show allowed-ips` (sorted pairs) and by `wg showconf` (masked, in input
# order), and that xwgd's showconf is wireguard-go's modulo peer order.
python3 "$gen" many "$TMP_DIR/c.conf" "$TMP_DIR/c.expected" "$(cat "$TMP_DIR/key4")" 50 40 2
for side in xwgd wireguard-go; do
	if [[ $side == xwgd ]]; then ns=$ns4 ifname=$if4; else ns=$ns5 ifname=$if5; fi
	check "(c) $side: wg setconf with 50 peers x 40 prefixes succeeds" \
		timed_set "$ns" "$ifname" setconf "$TMP_DIR/c.conf"
	check "(c) $side: wg show allowed-ips lists exactly the 2000 (peer, prefix) pairs" \
		same_pairs "$ns" "$ifname" "$TMP_DIR/c.expected"
	showconf_of "$ns" "$ifname" "$TMP_DIR/c.$side" || true
	check "(c) $side: showconf is the input (masked, in input order)" \
		same_conf expected "$TMP_DIR/c.expected" "$side" "$TMP_DIR/c.$side"
done
check_tries "(c) xwgd"
check "(c) xwgd's showconf is byte-identical to wireguard-go's (modulo peer order)" \
	same_conf wireguard-go "$TMP_DIR/c.wireguard-go" xwgd "$TMP_DIR/c.xwgd"

# ===========================================================================
# (d) wg syncconf with a changed subset.

# Test that `wg syncconf` to a changed configuration (10 peers removed, 10
# peers with 5 prefixes dropped and 5 new ones, 3 prefixes moved each way
# between two peers, keepalives changed, one new peer) leaves exactly that
# configuration, on xwgd as on wireguard-go.
python3 "$gen" sync "$TMP_DIR/d.conf" "$TMP_DIR/d.expected" "$TMP_DIR/c.expected.json"
for side in xwgd wireguard-go; do
	if [[ $side == xwgd ]]; then ns=$ns4 ifname=$if4; else ns=$ns5 ifname=$if5; fi
	check "(d) $side: wg syncconf succeeds" timed_set "$ns" "$ifname" syncconf "$TMP_DIR/d.conf"
	check "(d) $side: 41 peers remain" eval "[[ \$(ip netns exec $ns wg show $ifname peers | wc -l) == 41 ]]"
	check "(d) $side: wg show allowed-ips lists exactly the new (peer, prefix) pairs" \
		same_pairs "$ns" "$ifname" "$TMP_DIR/d.expected"
	showconf_of "$ns" "$ifname" "$TMP_DIR/d.$side" || true
	check "(d) $side: showconf is the new configuration" \
		same_conf expected "$TMP_DIR/d.expected" "$side" "$TMP_DIR/d.$side"
done
check "(d) xwgd's showconf is byte-identical to wireguard-go's (modulo peer order)" \
	same_conf wireguard-go "$TMP_DIR/d.wireguard-go" xwgd "$TMP_DIR/d.xwgd"

check_tries "(d) xwgd after syncconf"
check "xwgd exits cleanly on SIGTERM" stop_impl "$if4"
check "wireguard-go exits cleanly on SIGTERM" stop_impl "$if5"
report
