#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# Bad configuration input, given to xwgd and to wireguard-go alike: the same
# `wg set` command must end the same way (exit status and message, the
# interface's name aside) and leave xwgd's running configuration as it was;
# raw transactions on the configuration socket must get byte-identical
# replies. Unusual but valid transactions (and clearing the private key)
# must leave both daemons with the same configuration.
#
#   XWGD=build/xwgd selftests/uapi_errors.sh   (the default; runs once in run.sh)
#
#  ┌──────────────────────────────────┐      ┌──────────────────────────────────┐
#  │ $ns1                             │      │ $ns2                             │
#  │  $if1: xwgd, port 10001          │      │  $if2: wireguard-go, port 10001  │
#  │  same private key, same peer     │      │  same private key, same peer     │
#  │  udp-holder: UDP [::]:10009      │      │  udp-holder: UDP [::]:10009      │
#  └──────────────────────────────────┘      └──────────────────────────────────┘
#
# No traffic: the namespaces only keep the two daemons' UDP ports apart, so
# both can have the same configuration.
#
# Most bad values never reach the daemon: wg(8) parses them and stops with
# its own message. What reaches it is a port already in use (EADDRINUSE),
# and whatever a raw client sends. Note what wg(8) does with a listen port
# over 65535: it parses it with getaddrinfo(), which keeps the low 16 bits,
# so `listen-port 70000` sets port 4464 and is no error.
#
# wireguard-go applies a transaction line by line: the lines before a bad
# one take effect (a peer gets created, a port changes). xwgd parses the
# whole transaction before applying any of it, so a failed transaction
# changes nothing; where wireguard-go keeps the partial change, its check is
# a SKIP.

set -euo pipefail
XWGD=${XWGD:-build/xwgd}
WGGO=wireguard-go
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg python3 ss

echo "== uapi_errors.sh: XWGD=$XWGD"
require_impls "$XWGD" "$WGGO"

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
umask 077
wg genkey >"$TMP_DIR/key"
wg genkey >"$TMP_DIR/key-new"
wg genpsk >"$TMP_DIR/psk"
peer=$(wg genkey | wg pubkey)
peer_hex=$(base64 -d <<<"$peer" | od -An -tx1 -v | tr -d ' \n')
other_hex=$(wg genkey | wg pubkey | base64 -d | od -An -tx1 -v | tr -d ' \n')
printf 'AAAA\n' >"$TMP_DIR/key-short"
printf '%s\n' "$(wg genkey | cut -c 1-42)" >"$TMP_DIR/key-truncated"
printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=\n' >"$TMP_DIR/key-badb64"

ns_create "$ns1" "$ns2"
start_impl "$ns1" "$XWGD" "$if1"
start_impl "$ns2" "$WGGO" "$if2"

# A UDP port taken in each namespace, for the port-in-use case.
for ns in "$ns1" "$ns2"; do
	bg_start "$TMP_DIR/holder-$ns.log" ip netns exec "$ns" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 10009))
print("bound", flush=True)
time.sleep(3600)'
	wait_for 5 grep -q bound "$TMP_DIR/holder-$ns.log" ||
		{ fail "prerequisite" "no UDP socket on port 10009 in $ns"; exit 1; }
done

# configure IFNAME: the starting configuration (the same on both daemons).
configure() {
	local ns=$ns1
	[[ $1 == "$if2" ]] && ns=$ns2
	ip netns exec "$ns" wg setconf "$1" /dev/stdin <<EOF
[Interface]
PrivateKey = $(cat "$TMP_DIR/key")
ListenPort = 10001

[Peer]
PublicKey = $peer
PresharedKey = $(cat "$TMP_DIR/psk")
AllowedIPs = 10.0.0.2/32, fd00::2/128
Endpoint = 192.0.2.2:51820
PersistentKeepalive = 25
EOF
}
configure "$if1"
configure "$if2"
n1 wg showconf "$if1" >"$TMP_DIR/base-xwgd"
n2 wg showconf "$if2" >"$TMP_DIR/base-wggo"

check "both daemons start with the same configuration" cmp "$TMP_DIR/base-xwgd" "$TMP_DIR/base-wggo"

# unchanged IFNAME: its running configuration is the starting one.
unchanged() {
	local ns=$ns1 base=$TMP_DIR/base-xwgd now=$TMP_DIR/now
	[[ $1 == "$if2" ]] && ns=$ns2 base=$TMP_DIR/base-wggo
	ip netns exec "$ns" wg showconf "$1" >"$now" || return 1
	cmp -s "$base" "$now" || { diff -u "$base" "$now" | grep '^[-+][^-+]' | head -n 4; return 1; }
}

# restore IFNAME: back to the starting configuration if something changed it.
restore() { unchanged "$1" >/dev/null || configure "$1"; }

# wg_outcome NS IFNAME ARGS...: the exit status and output of `wg set IFNAME
# ARGS`, the interface's name replaced by IFNAME. Endpoint host names are
# tried once (wg retries failed resolutions 15 times by default).
wg_outcome() {
	local ns=$1 ifname=$2 rc=0; shift 2
	ip netns exec "$ns" env WG_ENDPOINT_RESOLUTION_RETRIES=0 wg set "$ifname" "$@" \
		>"$TMP_DIR/wg-out" 2>&1 || rc=$?
	echo "exit status $rc"
	sed "s/$ifname/IFNAME/g" "$TMP_DIR/wg-out"
}

# same_text A B: files A and B are equal; else shows both.
same_text() {
	cmp -s "$1" "$2" && return 0
	echo "xwgd: $(tr '\n' '|' <"$1")"
	echo "wireguard-go: $(tr '\n' '|' <"$2")"
	return 1
}

# exit_status_is FILE WHAT: the outcome in FILE has a zero ("zero") or
# nonzero ("nonzero") exit status.
exit_status_is() {
	local rc
	rc=$(sed -n '1s/^exit status //p' "$1")
	case $2 in
	zero) ((rc == 0)) ;;
	nonzero) ((rc != 0)) ;;
	esac || { echo "exit status $rc"; return 1; }
}

# bad_set LABEL EXPECT WGGO_PARTIAL ARGS...: run `wg set ARGS` on both
# daemons; check that it fails (EXPECT=nonzero) or succeeds (zero) on xwgd,
# ends the same way on both, and, for a failure, leaves xwgd's
# configuration unchanged. WGGO_PARTIAL=yes: wireguard-go is known to keep
# part of the change.
bad_set() {
	local label=$1 expect=$2 partial=$3; shift 3
	wg_outcome "$ns1" "$if1" "$@" >"$TMP_DIR/out-xwgd"
	wg_outcome "$ns2" "$if2" "$@" >"$TMP_DIR/out-wggo"
	echo "    $label: wg says: $(sed -n '2,$p' "$TMP_DIR/out-xwgd" | tr '\n' ' ')($(head -n 1 "$TMP_DIR/out-xwgd"))"
	if [[ $expect == nonzero ]]; then
		check "$label: wg set fails on xwgd" exit_status_is "$TMP_DIR/out-xwgd" nonzero
	else
		check "$label: wg set succeeds on xwgd" exit_status_is "$TMP_DIR/out-xwgd" zero
	fi
	check "$label: same exit status and message as with wireguard-go" \
		same_text "$TMP_DIR/out-xwgd" "$TMP_DIR/out-wggo"
	if [[ $expect == nonzero ]]; then
		check "$label: xwgd's configuration is unchanged" unchanged "$if1"
		if [[ $partial == yes ]] && ! unchanged "$if2" >/dev/null; then
			skip "$label: wireguard-go's configuration is unchanged" \
				"wireguard-go applies the lines before the failing one"
		else
			check "$label: wireguard-go's configuration is unchanged" unchanged "$if2"
		fi
	fi
	restore "$if1"
	restore "$if2"
}

# Test that values wg(8) rejects itself fail the same way on both daemons,
# with wg's own message, and change nothing.
bad_set "listen-port -1" nonzero no listen-port -1
bad_set "private key of the wrong length" nonzero no private-key "$TMP_DIR/key-short"
bad_set "private key cut short" nonzero no private-key "$TMP_DIR/key-truncated"
bad_set "private key not base64" nonzero no private-key "$TMP_DIR/key-badb64"
bad_set "preshared key of the wrong length" nonzero no peer "$peer" preshared-key "$TMP_DIR/key-short"
bad_set "peer key of the wrong length" nonzero no peer "${peer:0:20}" allowed-ips 10.1.0.0/16
bad_set "peer key not base64" nonzero no peer '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=' allowed-ips 10.1.0.0/16
bad_set "allowed IP 10.0.0.0/33" nonzero no peer "$peer" allowed-ips 10.0.0.0/33
bad_set "allowed IP 1.2.3.4/x" nonzero no peer "$peer" allowed-ips 1.2.3.4/x
bad_set "allowed IP fd00::/129" nonzero no peer "$peer" allowed-ips fd00::/129
bad_set "a good and a bad allowed IP" nonzero no peer "$peer" allowed-ips 10.3.0.0/16,10.4.0.0/33
bad_set "endpoint without port (IPv4)" nonzero no peer "$peer" endpoint 192.0.2.9
bad_set "endpoint without port (IPv6)" nonzero no peer "$peer" endpoint '[2001:db8::9]'
bad_set "endpoint with an unknown host" nonzero no peer "$peer" endpoint no-such-host.invalid:51820
bad_set "persistent-keepalive 70000" nonzero no peer "$peer" persistent-keepalive 70000
bad_set "fwmark 0x100000000" nonzero no fwmark 0x100000000

# Test that `listen-port 70000` is no error for wg(8): it sets port 4464
# (70000 modulo 65536), on both daemons alike.
bad_set "listen-port 70000 (wg keeps the low 16 bits)" zero no listen-port 70000
ports_are_4464() {
	local a b
	a=$(n1 wg show "$if1" listen-port) && b=$(n2 wg show "$if2" listen-port) &&
		[[ $a == 4464 && $b == 4464 ]] || { echo "listen ports $a and $b"; return 1; }
}
n1 wg set "$if1" listen-port 70000
n2 wg set "$if2" listen-port 70000
check "listen-port 70000: both daemons listen on port 4464" ports_are_4464
restore "$if1"
restore "$if2"

# Test that a listen port in use fails with EADDRINUSE on both daemons (the
# one error here that comes from the daemon), that xwgd keeps its
# configuration and its old port, and that a private key changed in the
# same command is not applied either.
bad_set "listen port in use" nonzero yes listen-port 10009
check "listen port in use: xwgd still has its UDP socket on port 10001" \
	eval "n1 ss -Hlun 'sport = :10001' | grep . >/dev/null"
bad_set "new private key with a listen port in use" nonzero yes \
	private-key "$TMP_DIR/key-new" listen-port 10009

# ---------------------------------------------------------------------------
# Raw transactions on the configuration socket.

# raw_reply SOCKET PAYLOAD: send PAYLOAD (printf escapes), close our side
# for writing, print the whole reply (Python repr) once the daemon closes,
# or "<no close>" after 5 s.
raw_reply() {
	python3 - "$1" "$2" <<'EOF'
import socket, sys
payload = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(payload)
s.shutdown(socket.SHUT_WR)
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except socket.timeout:
    out += b"<no close>"
print(repr(out))
EOF
}

# normalize_conf <CONF: a showconf with its peer sections sorted (wireguard-go
# lists peers in Go map order, which is random).
normalize_conf() {
	python3 -c '
import sys
secs = sys.stdin.read().split("\n[Peer]\n")
print(secs[0].rstrip("\n"))
for p in sorted(s.rstrip("\n") for s in secs[1:]):
    print("\n[Peer]\n" + p)
'
}

# same_configuration: xwgd's and wireguard-go's running configurations are
# the same (modulo peer order).
same_configuration() {
	n1 wg showconf "$if1" | normalize_conf >"$TMP_DIR/conf-xwgd" &&
		n2 wg showconf "$if2" | normalize_conf >"$TMP_DIR/conf-wggo" || return 1
	cmp -s "$TMP_DIR/conf-xwgd" "$TMP_DIR/conf-wggo" ||
		{ diff -u --label xwgd --label wireguard-go "$TMP_DIR/conf-xwgd" "$TMP_DIR/conf-wggo" |
			grep '^[-+][^-+]' | head -n 6; return 1; }
}

# raw_case LABEL WGGO_PARTIAL PAYLOAD: both daemons' replies are the same
# bytes. After an error reply, xwgd's configuration is unchanged (and
# wireguard-go's, unless WGGO_PARTIAL=yes and it kept part of the
# transaction); after errno=0, both have the same configuration.
raw_case() {
	local label=$1 partial=$2 payload=$3 a b
	a=$(raw_reply "$WG_RUN_DIR/$if1.sock" "$payload")
	b=$(raw_reply "$WG_RUN_DIR/$if2.sock" "$payload")
	echo "    raw $label: xwgd replies $a, wireguard-go $b"
	check "raw $label: the same reply, byte for byte" eval "[[ \"\$a\" == \"\$b\" ]]"
	if [[ $b == "b'errno=0\\n\\n'" ]]; then
		check "raw $label: the same configuration as wireguard-go afterwards" same_configuration
	else
		check "raw $label: xwgd's configuration is unchanged" unchanged "$if1"
		if [[ $partial == yes ]] && ! unchanged "$if2" >/dev/null; then
			skip "raw $label: wireguard-go's configuration is unchanged" \
				"wireguard-go applies the lines before the failing one"
		else
			check "raw $label: wireguard-go's configuration is unchanged" unchanged "$if2"
		fi
	fi
	restore "$if1"
	restore "$if2"
}

# raw_known_divergence LABEL REASON PAYLOAD: like raw_case, for an input on
# which xwgd is known to differ from this wireguard-go on purpose: a
# difference is a SKIP giving REASON, agreement a PASS.
raw_known_divergence() {
	local label=$1 reason=$2 payload=$3 a b
	a=$(raw_reply "$WG_RUN_DIR/$if1.sock" "$payload")
	b=$(raw_reply "$WG_RUN_DIR/$if2.sock" "$payload")
	echo "    raw $label: xwgd replies $a, wireguard-go $b"
	if [[ $a == "$b" ]] && same_configuration >/dev/null; then
		pass "raw $label: the same reply and configuration as wireguard-go"
	else
		skip "raw $label: the same reply and configuration as wireguard-go" "$reason"
	fi
	restore "$if1"
	restore "$if2"
}

# Test that raw transactions with an unknown key, a line without '=', and
# other bad lines get the same errno (byte for byte) from xwgd as from
# wireguard-go, and change nothing on xwgd.
raw_case "unknown device key" no 'set=1\nfoo=bar\n\n'
raw_case "line without '='" no 'set=1\nfoo\n\n'
raw_case "empty key and value" no 'set=1\n=\n\n'
raw_case "a value with a second '='" no 'set=1\nlisten_port=1=2\n\n'
raw_case "listen_port=70000" no 'set=1\nlisten_port=70000\n\n'
raw_case "listen_port with a space" no 'set=1\nlisten_port= 5\n\n'
raw_case "private_key not hex" no 'set=1\nprivate_key=zz\n\n'
raw_case "replace_peers=false" no 'set=1\nreplace_peers=false\n\n'
raw_case "unknown peer key" yes "set=1\npublic_key=$other_hex\nfoo=bar\n\n"
raw_case "peer line without '='" yes "set=1\npublic_key=$other_hex\nfoo\n\n"
raw_case "endpoint without port" yes "set=1\npublic_key=$peer_hex\nendpoint=192.0.2.9\n\n"
raw_case "allowed_ip 10.0.0.0/33" yes "set=1\npublic_key=$peer_hex\nallowed_ip=10.0.0.0/33\n\n"
raw_case "persistent_keepalive_interval=70000" yes \
	"set=1\npublic_key=$peer_hex\npersistent_keepalive_interval=70000\n\n"
raw_case "a good line, then an unknown key" yes 'set=1\nlisten_port=10002\nfoo=bar\n\n'
raw_case "an invalid operation" no 'blah=1\n\n'
raw_case "get with a trailing character" no 'get=1\nx\n'

# Test that unusual but valid transactions get the same reply and leave the
# same configuration on xwgd as on wireguard-go.
raw_case "fwmark=16" no 'set=1\nfwmark=16\n\n'
raw_case "fwmark=0x10" no 'set=1\nfwmark=0x10\n\n'
raw_case "listen_port=05" no 'set=1\nlisten_port=05\n\n'
raw_case "listen_port=+5" no 'set=1\nlisten_port=+5\n\n'
raw_case "listen_port twice" no 'set=1\nlisten_port=7\nlisten_port=8\n\n'
raw_case "CRLF line ends" no 'set=1\nlisten_port=9\r\n\r\n'
raw_case "CRLF after the operation" no 'set=1\r\nlisten_port=9\n\n'
raw_case "a public key in upper case" no "set=1\npublic_key=${other_hex^^}\nallowed_ip=10.5.0.0/16\n\n"
raw_case "an IPv4-mapped IPv6 endpoint" no "set=1\npublic_key=$peer_hex\nendpoint=[::ffff:192.0.2.7]:5\n\n"
raw_case "an IPv4 endpoint in brackets" no "set=1\npublic_key=$peer_hex\nendpoint=[192.0.2.7]:5\n\n"
raw_case "endpoint port 0" no "set=1\npublic_key=$peer_hex\nendpoint=192.0.2.7:0\n\n"
raw_case "endpoint port 65536" yes "set=1\npublic_key=$peer_hex\nendpoint=192.0.2.7:65536\n\n"
raw_case "allowed_ip ::ffff:1.2.3.4/128 and ::1.2.3.4/128" no \
	"set=1\npublic_key=$peer_hex\nallowed_ip=::ffff:1.2.3.4/128\nallowed_ip=::1.2.3.4/128\n\n"
raw_case "allowed_ip 0.0.0.0/0 and ::/0" no "set=1\npublic_key=$peer_hex\nallowed_ip=0.0.0.0/0\nallowed_ip=::/0\n\n"
raw_case "allowed_ip without a length" yes "set=1\npublic_key=$peer_hex\nallowed_ip=1.2.3.4\n\n"
raw_case "allowed_ip with a zone" yes "set=1\npublic_key=$peer_hex\nallowed_ip=fe80::1%lo/64\n\n"
raw_case "the same allowed_ip twice" no \
	"set=1\npublic_key=$other_hex\nallowed_ip=10.6.0.0/16\nallowed_ip=10.6.0.0/16\n\n"
raw_case "one peer in two sections" no \
	"set=1\npublic_key=$other_hex\nallowed_ip=10.7.0.0/16\npublic_key=$other_hex\nallowed_ip=10.8.0.0/16\n\n"
raw_case "update_only for an unknown peer" no "set=1\npublic_key=$other_hex\nupdate_only=true\nallowed_ip=10.9.0.0/16\n\n"
raw_case "protocol_version=1" no "set=1\npublic_key=$peer_hex\nprotocol_version=1\n\n"
raw_case "protocol_version=2" yes "set=1\npublic_key=$peer_hex\nprotocol_version=2\n\n"
raw_case "remove=false" yes "set=1\npublic_key=$other_hex\nremove=false\n\n"
raw_case "a removed peer's bad endpoint" yes \
	"set=1\npublic_key=$other_hex\nallowed_ip=10.10.0.0/16\nremove=true\nendpoint=bad\n\n"

# Test the inputs on which xwgd knowingly differs from the wireguard-go
# installed here (0.0.20220316, built with Go 1.19): that Go's
# netip.ParsePrefix read the length with strconv.Atoi, so "+8", "008" and
# "-0" were accepted, while current Go (and xwgd) refuse them; and that
# wireguard-go drops an endpoint's IPv6 zone, which xwgd (like the kernel)
# keeps. A difference is a SKIP, printed with both replies.
raw_known_divergence "allowed_ip 10.0.0.1/+8" "old Go netip accepts a signed length; xwgd refuses it like current Go" \
	"set=1\npublic_key=$peer_hex\nallowed_ip=10.0.0.1/+8\n\n"
raw_known_divergence "allowed_ip 10.0.0.1/008" "old Go netip accepts leading zeros in the length; xwgd refuses them like current Go" \
	"set=1\npublic_key=$peer_hex\nallowed_ip=10.0.0.1/008\n\n"
raw_known_divergence "endpoint [fe80::1%lo]:5" "wireguard-go drops the zone of an endpoint; xwgd keeps it as the kernel does" \
	"set=1\npublic_key=$peer_hex\nendpoint=[fe80::1%lo]:5\n\n"

# Test that a get gives the same bytes on both daemons (same configuration,
# no handshake yet).
a=$(raw_reply "$WG_RUN_DIR/$if1.sock" 'get=1\n\n')
b=$(raw_reply "$WG_RUN_DIR/$if2.sock" 'get=1\n\n')
check "raw get: the same reply from xwgd as from wireguard-go, byte for byte" eval "[[ \"\$a\" == \"\$b\" ]]"

# Test that `wg set IF private-key /dev/null` (an empty key file, which wg
# sends as an all-zero key) clears the private key, as on wireguard-go and
# the kernel: no PrivateKey in showconf, no public key, the same outcome.
bad_set "private-key /dev/null" zero no private-key /dev/null
n1 wg set "$if1" private-key /dev/null
n2 wg set "$if2" private-key /dev/null
no_private_key() {
	local conf pub
	conf=$(ip netns exec "$1" wg showconf "$2") && pub=$(ip netns exec "$1" wg show "$2" public-key) || return 1
	! grep -q '^PrivateKey' <<<"$conf" && [[ $pub == "(none)" ]] ||
		{ echo "$(grep '^PrivateKey' <<<"$conf" | sed 's/= .*/= (a key)/'), public key $pub"; return 1; }
}
check "private-key /dev/null: wireguard-go has no private key left" no_private_key "$ns2" "$if2"
check "private-key /dev/null: xwgd has no private key left" no_private_key "$ns1" "$if1"
check "private-key /dev/null: the same configuration as wireguard-go" same_configuration
restore "$if1"
restore "$if2"

# Test that after all this both daemons still take a good change.
check "xwgd takes a good wg set afterwards" n1 wg set "$if1" peer "$peer" persistent-keepalive 30
check "xwgd shows it" wg_peer_value_is "$ns1" "$if1" "$peer" persistent-keepalive 30
check "xwgd exits cleanly on SIGTERM" stop_impl "$if1"
check "wireguard-go exits cleanly on SIGTERM" stop_impl "$if2"
report
