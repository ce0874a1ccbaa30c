#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
# shellcheck disable=SC2016 # jq filters name jq's own $variables
# xwg-cni run exactly as a container runtime runs it: CNI_* variables in a
# clean environment, the network configuration on stdin, the result or the
# error as JSON on stdout. Addresses come from Debian's host-local IPAM
# plugin (/usr/lib/cni), its leases in this test's TMP_DIR.
#
#   XWG_CNI=build/xwg-cni selftests/cni.sh   (the default; runs once in run.sh)
#
#  ┌─────────────────────────────────────────────────────────────────┐
#  │ $ns0: the node                                                  │
#  │  xwg0 (MTU 1300): stands in for the xwg interface (a veth to a  │
#  │       namespace that drops everything);                         │
#  │       10.99.2.0/24 (another node's pods) is routed into it      │
#  │  xwcXXXXXXXX 10.99.1.1/32 + route 10.99.1.a/32 ─┐               │
#  │  xwcYYYYYYYY 10.99.1.1/32 + route 10.99.1.b/32 ─┼─┐             │
#  │  xwcZZZZZZZZ 10.99.3.1/32 fd00:99:1::1/128 ─────┼─┼─┐           │
#  └─────────────────────────────────────────────────┼─┼─┼───────────┘
#          ┌───────────────────────────────────────┘ │ └──────────────┐
#   ┌──────┴────────────────┐ ┌──────────────────────┴┐ ┌─────────────┴─────────┐
#   │ $ns1: pod 1 (1.0.0)   │ │ $ns2: pod 2 (0.4.0)   │ │ $ns3: pod 3, dual     │
#   │  eth0 10.99.1.a/32    │ │  eth0 10.99.1.b/32    │ │  stack, 10.99.1.c/32  │
#   │  default via 10.99.1.1│ │  MTU 1380 (config)    │ │  fd00:99:1::d/128     │
#   └───────────────────────┘ └───────────────────────┘ └───────────────────────┘

set -euo pipefail
XWG_CNI=${XWG_CNI:-build/xwg-cni}
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip ping jq

echo "== cni.sh: XWG_CNI=$XWG_CNI"
[[ $XWG_CNI == /* ]] || XWG_CNI=$REPO_ROOT/$XWG_CNI
[[ -x $XWG_CNI ]] || { fail "prerequisite" "$XWG_CNI is missing: run make"; exit 1; }
CNI_DIRS=/usr/lib/cni:/opt/cni/bin
[[ -x /usr/lib/cni/host-local ]] ||
	{ fail "prerequisite" "/usr/lib/cni/host-local is missing: apt-get install containernetworking-plugins"; exit 1; }

IPAM_DIR=$TMP_DIR/ipam
netns_path() { echo "/var/run/netns/$1"; }

# config VERSION NAME [JQ-EXPR]: a network configuration for host-local with
# 10.99.1.0/24, changed by JQ-EXPR.
config() {
	jq -cn --arg v "$1" --arg n "$2" --arg dir "$IPAM_DIR" "{
		cniVersion: \$v, name: \$n, type: \"xwg-cni\",
		ipam: {type: \"host-local\", dataDir: \$dir,
		       ranges: [[{subnet: \"10.99.1.0/24\"}]]}} | ${3:-.}"
}

# cni CONFIG VAR=VALUE...: run the plugin in the node's namespace with only
# these variables (and PATH), CONFIG on stdin. Sets OUT (stdout) and RC.
cni() {
	local conf=$1; shift
	RC=0
	OUT=$(printf '%s' "$conf" | ip netns exec "$ns0" env -i PATH="$PATH" "$@" "$XWG_CNI" \
		2>>"$LOG_DIR/cni-stderr.log") || RC=$?
}

# pod_env CMD CONTAINER NS: the runtime's variables for one pod.
pod_env() { echo "CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$(netns_path "$3") CNI_IFNAME=eth0 CNI_PATH=$CNI_DIRS"; }

# jq_true DESC-FREE JSON FILTER [ARGS...]: the filter yields true on JSON.
jq_true() {
	local json=$1 filter=$2 v; shift 2
	v=$(jq -e "$@" "$filter" <<<"$json" 2>&1) ||
		{ echo "jq '$filter' gives '${v:-nothing}' on $json"; return 1; }
}

# is_error JSON CODE: a CNI error object with this code and a message.
is_error() {
	jq_true "$1" '(.code == $c) and (.msg | type == "string" and length > 0) and
		(.cniVersion | type == "string")' --argjson c "$2"
}

ok_rc() { ((RC == 0)) || { echo "exit status $RC, output: $OUT"; return 1; }; }
failed_rc() { ((RC != 0)) || { echo "exit status 0, output: $OUT"; return 1; }; }
empty_out() { [[ -z $OUT ]] || { echo "printed: $OUT"; return 1; }; }
has_link() { ip -n "$1" link show dev "$2" >/dev/null 2>&1; }
no_link() { ! has_link "$@"; }
has_addr() {
	local out
	out=$(ip -n "$1" -o addr show dev "$2") && [[ $out == *" $3 "* ]] ||
		{ echo "no $3 on $2 in $1: $out"; return 1; }
}
lease_exists() { [[ -e $IPAM_DIR/$1/$2 ]]; }
no_lease() { ! lease_exists "$@"; }
pod_mtu_is() { [[ $(ip -n "$1" -j link show dev eth0 | jq '.[0].mtu') == "$2" ]]; }
tx_packets() { ip netns exec "$ns0" cat /sys/class/net/xwg0/statistics/tx_packets; }
tx_grew() { (($(tx_packets) > $1)); }

ns_sink="xwg-$RUN_ID-sink"
ns_create "$ns0" "$ns1" "$ns2" "$ns3" "$ns_sink"
veth_link "$ns0" xwg0 "$ns_sink" other-nodes
ip -n "$ns0" link set xwg0 mtu 1300
ip -n "$ns0" route add 10.99.2.0/24 dev xwg0

# Test that VERSION lists the supported versions.
cni '{"cniVersion":"1.0.0"}' CNI_COMMAND=VERSION
check "VERSION succeeds" ok_rc
check "VERSION lists 0.3.0 to 1.0.0" jq_true "$OUT" \
	'.cniVersion == "1.0.0" and .supportedVersions == ["0.3.0","0.3.1","0.4.0","1.0.0"]'

# Test that ADD (1.0.0) gives the result the spec describes and sets it up.
conf1=$(config 1.0.0 xwgtest)
# shellcheck disable=SC2046 # pod_env is a list of words on purpose
cni "$conf1" $(pod_env ADD pod1 "$ns1")
add1=$OUT
check "ADD pod 1 succeeds" ok_rc
check "ADD result: cniVersion 1.0.0" jq_true "$add1" '.cniVersion == "1.0.0"'
check "ADD result: host veth first, named xwc + 8 hex, with a MAC, no sandbox" jq_true "$add1" \
	'(.interfaces | length) == 2 and (.interfaces[0].name | test("^xwc[0-9a-f]{8}$")) and
	 (.interfaces[0].mac | test("^([0-9a-f]{2}:){5}[0-9a-f]{2}$")) and (.interfaces[0] | has("sandbox") | not)'
check "ADD result: the pod interface eth0 with a MAC and the sandbox" jq_true "$add1" \
	'.interfaces[1].name == "eth0" and (.interfaces[1].mac | test("^([0-9a-f]{2}:){5}[0-9a-f]{2}$")) and
	 .interfaces[1].sandbox == $ns' --arg ns "$(netns_path "$ns1")"
check "ADD result: one /32 in 10.99.1.0/24, gateway 10.99.1.1, on the sandbox interface" jq_true "$add1" \
	'(.ips | length) == 1 and (.ips[0].address | test("^10\\.99\\.1\\.([2-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4])/32$")) and
	 .ips[0].gateway == "10.99.1.1" and (.ips[0] | has("version") | not) and
	 .interfaces[.ips[0].interface].sandbox == $ns' --arg ns "$(netns_path "$ns1")"
check "ADD result: a default route via the gateway, dns" jq_true "$add1" \
	'.routes == [{dst: "0.0.0.0/0", gw: "10.99.1.1"}] and (.dns | type == "object")'
host1=$(jq -r '.interfaces[0].name' <<<"$add1")
ip1=$(jq -r '.ips[0].address | sub("/32$"; "")' <<<"$add1")
check "the result's MACs are the interfaces' MACs" jq_true "$add1" \
	'.interfaces[0].mac == $h and .interfaces[1].mac == $p' \
	--arg h "$(ip -n "$ns0" -j link show dev "$host1" | jq -r '.[0].address')" \
	--arg p "$(ip -n "$ns1" -j link show dev eth0 | jq -r '.[0].address')"
check "the pod has its /32 on eth0" has_addr "$ns1" eth0 "$ip1/32"
check "the pod interface takes the xwg interface's MTU (1300)" pod_mtu_is "$ns1" 1300
check "host-local holds the lease" lease_exists xwgtest "$ip1"

# Test that a 0.4.0 configuration gets a 0.4.0 result and its own MTU.
conf2=$(config 0.4.0 xwgtest '. + {mtu: 1380}')
# shellcheck disable=SC2046
cni "$conf2" $(pod_env ADD pod2 "$ns2")
add2=$OUT
check "ADD pod 2 (0.4.0) succeeds" ok_rc
check "ADD result 0.4.0: ips carry version 4" jq_true "$add2" \
	'.cniVersion == "0.4.0" and .ips[0].version == "4" and .ips[0].interface == 1'
check "the configured MTU (1380) wins" pod_mtu_is "$ns2" 1380
ip2=$(jq -r '.ips[0].address | sub("/32$"; "")' <<<"$add2")

# Test that pods reach their node and each other, and that other nodes'
# pods are reached through the xwg interface.
check_within 5 "pod 1 pings its gateway" pings "$ns1" 10.99.1.1
check_within 5 "the node pings pod 1" pings "$ns0" "$ip1"
check_within 5 "pod 1 pings pod 2" pings "$ns1" "$ip2"
check_within 5 "pod 2 pings pod 1" pings "$ns2" "$ip1"
tx_before=$(tx_packets)
ping_gets_nothing "$ns1" 10.99.2.7 >/dev/null || true
check "pod 1's packets to another node's pod leave through xwg0" tx_grew "$tx_before"

# Test that an address routed to another pod already (two networks with
# overlapping ranges) fails ADD and leaves nothing behind.
# shellcheck disable=SC2046
cni "$(config 1.0.0 xwgclash)" $(pod_env ADD pod4 "$ns3")
check "ADD of an address another pod has fails with code 7" is_error "$OUT" 7
check "... leaves no interface" no_link "$ns3" eth0
check "... and gives its lease back" no_lease xwgclash "$ip1"

# Test that dual-stack IPAM gives a /128 with its own gateway and routes.
conf3=$(config 1.0.0 xwgdual \
	'.ipam.ranges = [[{subnet: "10.99.3.0/24"}], [{subnet: "fd00:99:1::/64"}]]')
# shellcheck disable=SC2046
cni "$conf3" $(pod_env ADD pod3 "$ns3")
add3=$OUT
check "ADD pod 3 (dual stack) succeeds" ok_rc
check "ADD result: a /32 and a /128, a default route per family" jq_true "$add3" \
	'(.ips | map(.address | test("/(32|128)$")) | all) and (.ips | length) == 2 and
	 (.routes | map(.dst) | sort) == ["0.0.0.0/0", "::/0"]'
ip3v6=$(jq -r '.ips[] | select(.address | contains(":")) | .address | sub("/128$"; "")' <<<"$add3")
gw3v6=$(jq -r '.ips[] | select(.address | contains(":")) | .gateway' <<<"$add3")
check_within 5 "pod 3 pings its IPv6 gateway" pings "$ns3" "$gw3v6"
check_within 5 "the node pings pod 3 over IPv6" pings "$ns0" "$ip3v6"

# Test that CHECK passes on an intact pod and fails when its address is gone.
check1=$(jq -c --argjson r "$add1" '. + {prevResult: $r}' <<<"$conf1")
# shellcheck disable=SC2046
cni "$check1" $(pod_env CHECK pod1 "$ns1")
check "CHECK of pod 1 succeeds" ok_rc
check "CHECK prints nothing on success" empty_out
check2=$(jq -c --argjson r "$add2" '. + {prevResult: $r}' <<<"$conf2")
# shellcheck disable=SC2046
cni "$check2" $(pod_env CHECK pod2 "$ns2")
check "CHECK of pod 2 (0.4.0) succeeds" ok_rc
ip -n "$ns1" addr del "$ip1/32" dev eth0
# shellcheck disable=SC2046
cni "$check1" $(pod_env CHECK pod1 "$ns1")
check "CHECK fails after the pod's address was deleted" failed_rc
check "... with an error JSON naming the address" eval \
	'is_error "$OUT" 100 && jq_true "$OUT" ".details | contains(\$a)" --arg a "$ip1"'
# shellcheck disable=SC2046
cni "$(jq -c '.cniVersion = "0.3.1" | .prevResult.cniVersion = "0.3.1"' <<<"$check1")" \
	$(pod_env CHECK pod1 "$ns1")
check "CHECK with cniVersion 0.3.1: code 1" is_error "$OUT" 1

# Test that DEL removes the veth and the lease, and succeeds again.
for round in first second; do
	# shellcheck disable=SC2046
	cni "$conf1" $(pod_env DEL pod1 "$ns1")
	check "DEL pod 1 ($round time) succeeds" ok_rc
	check "DEL pod 1 ($round time) prints nothing" empty_out
done
check "after DEL the host veth is gone" no_link "$ns0" "$host1"
check "after DEL the pod's eth0 is gone" no_link "$ns1" eth0
check "after DEL the lease is gone" no_lease xwgtest "$ip1"

# Test that DEL succeeds when the pod's namespace is gone already, and
# without CNI_NETNS.
host2=$(jq -r '.interfaces[0].name' <<<"$add2")
ip netns del "$ns2"
# shellcheck disable=SC2046
cni "$conf2" $(pod_env DEL pod2 "$ns2")
check "DEL of a pod whose namespace is gone succeeds" ok_rc
check "... its host veth is gone" no_link "$ns0" "$host2"
check "... its lease is gone" no_lease xwgtest "$ip2"
cni "$conf3" CNI_COMMAND=DEL CNI_CONTAINERID=pod3 CNI_IFNAME=eth0 CNI_PATH=$CNI_DIRS
check "DEL without CNI_NETNS succeeds" ok_rc
check "... pod 3's eth0 is gone" no_link "$ns3" eth0

# Test the errors: the spec's codes, as JSON on stdout, exit status non-zero.
# shellcheck disable=SC2046
cni "$(config 1.0.0 xwgtest 'del(.ipam)')" $(pod_env ADD pod9 "$ns1")
check "a configuration without ipam fails" failed_rc
check "... with code 7" is_error "$OUT" 7
# shellcheck disable=SC2046
cni "$(config 1.0.0 xwgtest '.mtu = "big"')" $(pod_env ADD pod9 "$ns1")
check "a string mtu: code 7" is_error "$OUT" 7
# shellcheck disable=SC2046
cni '{"cniVersion": "1.0.0", "name": ' $(pod_env ADD pod9 "$ns1")
check "truncated JSON: code 6" is_error "$OUT" 6
# shellcheck disable=SC2046
cni "$(config 9.9.9 xwgtest)" $(pod_env ADD pod9 "$ns1")
check "cniVersion 9.9.9: code 1" is_error "$OUT" 1
# shellcheck disable=SC2046
cni "$(config 1.0.0 xwgtest '.ipam.type = "no-such-ipam"')" $(pod_env ADD pod9 "$ns1")
check "an IPAM plugin not in CNI_PATH: code 7" is_error "$OUT" 7
# shellcheck disable=SC2046
cni "$(config 1.0.0 xwgtest '.ipam.ranges = [[{subnet: "not-a-subnet"}]]')" $(pod_env ADD pod9 "$ns1")
check "host-local's own error is passed through" eval \
	'failed_rc && jq_true "$OUT" "(.code | type == \"number\") and (.msg | length > 0)"'
check "... and leaves no interface" no_link "$ns1" eth0
cni "$conf1" CNI_COMMAND=ADD CNI_CONTAINERID=pod9 CNI_IFNAME=eth0 CNI_PATH=$CNI_DIRS
check "ADD without CNI_NETNS fails" failed_rc
check "... with code 4" is_error "$OUT" 4
# shellcheck disable=SC2046
cni "$conf1" $(pod_env FROB pod9 "$ns1")
check "an unknown CNI_COMMAND: code 4" is_error "$OUT" 4
cni "$conf1" CNI_CONTAINERID=pod9 CNI_NETNS="$(netns_path "$ns1")" CNI_IFNAME=eth0 CNI_PATH=$CNI_DIRS
check "no CNI_COMMAND: code 4" is_error "$OUT" 4
leases_before=$(find "$IPAM_DIR" -type f | wc -l)
cni "$conf1" CNI_COMMAND=ADD CNI_CONTAINERID=pod9 CNI_NETNS="/var/run/netns/xwg-$RUN_ID-none" \
	CNI_IFNAME=eth0 CNI_PATH=$CNI_DIRS
check "ADD into a namespace that does not exist fails" failed_rc
check "... with code 3 (container unknown)" is_error "$OUT" 3
check "... and takes no lease" test "$(find "$IPAM_DIR" -type f | wc -l)" -eq "$leases_before"

report
