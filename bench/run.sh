#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Throughput, latency, CPU cost, handshake rate and configuration cost of
# xwgd against wireguard-go, same run, same workloads (issue 5, "Speed";
# issue 13: against the wireguard-go users run today).
# Needs root; touches only the namespaces and processes it creates (named
# after its PID, as the selftests do) and removes them on any exit.
#
#   make bench                      (builds, then runs this)
#   bench/run.sh                    (as root, after `make`)
#   BENCH_SECONDS=4 BENCH_REPS=3    seconds per iperf3 run, repetitions
#   BENCH_QUICK=1                   for development: 1 repetition of 2 s runs,
#                                   100 pings, shorter handshake runs, the
#                                   crypto microbenchmark once per figure
#                                   (each of these can still be set)
#   BENCH_IMPLS="veth wireguard-go wireguard-go-modern xwgd-portable xwgd-xdp xwgd-xdp-poll"
#                                   what to measure, in order (wireguard-go:
#                                   Debian's, 0.0.20220316; wireguard-go-modern:
#                                   0.0.20250522 with TSO/GSO/GRO, the anchor
#                                   of the ratios; xwgd-xdp: XWG_DATAPATH=xdp;
#                                   xwgd-xdp-poll: the same with
#                                   XWG_BUSY_POLL_US=200, only ping, TCP 1
#                                   stream fwd, the first UDP size; not in the
#                                   default set, measured as briefly: xwgd-afxdp,
#                                   xdp_rx + AF_XDP forced on the underlay, and
#                                   xwgd-veth, the first fast path's veth twin)
#   WGGO_MODERN=path                the modern wireguard-go (default
#                                   ../shared/anchors/wireguard-go-modern from
#                                   the repository; where it is absent the run
#                                   says so and goes on without it)
#   BENCH_PINGS=200                 pings per latency sample (at -i 0.01)
#   BENCH_PERF=1                    also `perf record` both xwgd processes
#   BENCH_PERF_IMPL=xwgd-xdp        of this implementation (or xwgd-portable)
#                                   during one single-stream TCP run
#   BENCH_UDP_SIZES="64 1392"       UDP payload bytes (1392 = the largest that
#                                   a 1420-byte tunnel MTU carries unfragmented)
#   BENCH_THREE=1                   the three-namespace variant (0: skip)
#   BENCH_PEERS=10000               peers loaded with one `wg setconf`
#   BENCH_HS_PEERS=2048             of those, real peers of the handshake load
#   BENCH_HS_SECONDS=4              handshake-rate run (the first second is
#                                   warm-up, not counted)
#   BENCH_FLOOD_SECONDS=2           mac1 flood for the cookie-reply rate
#   BENCH_HS_IMPLS="wireguard-go wireguard-go-modern xwgd-portable"
#                                   where handshakes are measured (xwgd runs
#                                   the same handshake code on both data paths)
#   XWGD=path/to/xwgd               another daemon binary
#   WGSTORM=path/to/wgstorm         the handshake load generator
#   CRYPTO_BENCH_ARGS=...           passed to bench/crypto.sh (see there)
#
# Topology: two namespaces; each implementation has its OWN underlay veth
# pair between them (no artificial delay) and runs on BOTH ends of its own
# tunnel over it; all tunnels are up at once and the repetitions are
# interleaved (rep 1 of every implementation, then rep 2, ...) so that a
# noisy machine biases none of them. "veth" is the raw veth without a
# tunnel. Separate underlays matter: xwgd's fast path attaches XDP programs
# to its underlay veth, and a veth whose peer has an XDP program loses
# TSO and UDP segmentation offload (veth_fix_features), which would slow
# every other implementation (and the bare veth) on a shared pair. Before
# each implementation's runs the bench checks both ends of its underlay:
# XDP programs only where xwgd's fast path put them, and `ethtool -k`
# tcp-segmentation-offload and tx-udp-segmentation on, off only on an end
# whose peer has a native XDP program; what it saw goes into the results.
#
#   ns3 (client 2) ── clKa/clKb ── ns1 (client 1, router) ── ulKa/ulKb ── ns2 (server)
#   198.51.100.8K+2/29    198.51.100.8K+1 | 192.0.2.8K+1/29     192.0.2.8K+2/29
#                                         └─ veth ── ns4 (control-plane daemons)
#                                           203.0.113.1        203.0.113.2
#   (K: the implementation's place in BENCH_IMPLS, from 1; tunnel K is
#   10.(100+K).0.0/24: .1 in ns1, .2 in ns2, .3 in ns3)
#
# The three-namespace variant: ns3 is a second client of ns2's tunnel
# daemon (a second peer there), routed through ns1 so that the server sees
# both clients on its one underlay (the fast path takes data messages from
# one underlay). ns4 holds a fresh daemon per implementation and
# repetition for the configuration and handshake workloads; the load
# generator (build/tools/wgstorm) runs in ns1 and sends from 198.18.0.0/16
# (RFC 2544's benchmarking range, routed to lo in ns1).
#
# Workloads per implementation and repetition: iperf3 TCP with 1 and 4
# streams, ns1->ns2 ("fwd") and reversed ("rev", iperf3 -R), receiver
# throughput; CPU seconds of both daemon processes (utime+stime from
# /proc/PID/stat, all threads) per GB received, and of the whole machine
# (/proc/stat: how busy both vCPUs were, and their CPU seconds per GB);
# ping RTT through the idle tunnel and under a single-stream TCP load
# (median, p99, loss); TCP
# retransmits and where packets were dropped (tunnel interfaces' tx/rx_dropped,
# UDP buffer errors); iperf3 UDP at the highest rate (-b 0) with each payload
# size, ns1->ns2: packets per second received and loss; three namespaces:
# one TCP stream from each client to the server at once, total and the
# slower client's throughput.
# Per implementation and repetition, on a fresh daemon in ns4: the time of
# one `wg setconf` of BENCH_PEERS peers (1 or 2 allowed IPs each) and the
# daemon's resident memory before and after (per peer: the difference /
# BENCH_PEERS); then (BENCH_HS_IMPLS) the handshakes per second the daemon
# completes as responder (wgstorm handshake-rate: BENCH_HS_PEERS real peers,
# one source address each, taking cookie replies and sending mac2 as real
# peers do) and the cookie replies per second it sends under a flood of
# initiations with a valid mac1 from thousands of source ports (wgstorm
# mac1-init).
#
# The ceiling: what the bare veth plus two AEAD passes per byte (one seal,
# one open) allow on this machine. bench/crypto.sh runs first (before any
# tunnel exists); from its OpenSSL ChaCha20-Poly1305 figures at 1420 bytes
# per core and the bare veth's machine CPU seconds per GB of this run (TCP 1
# stream ns1->ns2): s/GB = veth + 1/seal GB/s + 1/open GB/s, and the
# ceiling is all vCPUs busy (nproc CPU seconds per second) over that, in
# Gbit/s. All vCPUs and not the share the bare veth kept busy: one TCP
# stream over the bare veth leaves the machine partly idle (it is bound by
# the serial path of one flow, not by CPU time), while a tunnel spreads its
# AEAD over both vCPUs and keeps them busier than that; the line gives the
# figure at the veth's busy share too. Each implementation's TCP 1 stream
# ns1->ns2 is then given as a share of the ceiling.
#
# Output: a table (median [min-max] over the repetitions, and each figure's
# ratio to the modern wireguard-go's median, then to Debian's 2022 one) on
# stdout and in build/bench/results.txt, with the machine (CPUs, model,
# kernel, memory), the underlays' offloads and the ceiling;
# build/bench/results.json and results.csv with every sample;
# build/bench/bench.png (gnuplot: throughput with the ceiling, UDP packet
# rate, ping RTT per implementation; skipped with a note when gnuplot is
# missing); build/bench/crypto.txt and crypto.kv (bench/crypto.sh, shown at
# the end); the daemons' logs in build/bench/logs/; with BENCH_PERF=1 flat
# profiles in build/bench/perf-tcp1_{fwd,rev}-ns{1,2}.txt.
# A full run with the defaults takes about 13 minutes on 2 vCPUs (crypto
# microbenchmark included).

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
XWGD=${XWGD:-build/xwgd}
QUICK=${BENCH_QUICK:-0}
# Full runs: 3 repetitions of 4 s (5 s before the modern wireguard-go was
# added: TCP over a veth is at full rate within a fraction of a second, so
# the fifth second moved no median, and the time went to the new column).
if [[ $QUICK == 1 ]]; then
	SECS=${BENCH_SECONDS:-2}
	REPS=${BENCH_REPS:-1}
	PINGS=${BENCH_PINGS:-100}
	HS_SECS=${BENCH_HS_SECONDS:-2}
	FLOOD_SECS=${BENCH_FLOOD_SECONDS:-1}
	CRYPTO_BENCH_ARGS=${CRYPTO_BENCH_ARGS:--r 1}
else
	SECS=${BENCH_SECONDS:-4}
	REPS=${BENCH_REPS:-3}
	PINGS=${BENCH_PINGS:-200}
	HS_SECS=${BENCH_HS_SECONDS:-4}
	FLOOD_SECS=${BENCH_FLOOD_SECONDS:-2}
fi
export CRYPTO_BENCH_ARGS
read -r -a IMPLS <<<"${BENCH_IMPLS:-veth wireguard-go wireguard-go-modern xwgd-portable xwgd-xdp xwgd-xdp-poll}"
PERF=${BENCH_PERF:-0}
read -r -a UDP_SIZES <<<"${BENCH_UDP_SIZES:-64 1392}"
THREE=${BENCH_THREE:-1}
NPEERS=${BENCH_PEERS:-10000}
HS_PEERS=${BENCH_HS_PEERS:-2048}
read -r -a HS_IMPLS <<<"${BENCH_HS_IMPLS:-wireguard-go wireguard-go-modern xwgd-portable}"
# The modern wireguard-go: an absolute path, resolved from the repository.
WGGO_MODERN=${WGGO_MODERN:-../shared/anchors/wireguard-go-modern}
[[ $WGGO_MODERN == /* ]] || WGGO_MODERN=$REPO/$WGGO_MODERN
WGGO_MODERN=$(realpath -m "$WGGO_MODERN")
WGSTORM=${WGSTORM:-build/tools/wgstorm}
OUTDIR=$REPO/build/bench
IPERF_PORT=5201
IPERF_PORT3=5202	# the second client's server (three namespaces)
CTL_PORT=51900		# the control-plane daemons' listen port

# shellcheck source=selftests/lib.sh
source "$REPO/selftests/lib.sh"
require ip wg ping iperf3 ss awk sort timeout jq python3 ethtool
ns4="xwg-$RUN_ID-4"
n4() { ip netns exec "$ns4" "$@"; }
((HS_PEERS <= NPEERS)) || HS_PEERS=$NPEERS
[[ -x $WGSTORM ]] || { fail "prerequisite" "$WGSTORM is not built (run \`make\`)"; exit 1; }

# lib.sh reports "N passed, N failed" for tests; a benchmark says only
# whether it was aborted.
_summary() { ((FAILED == 0)) || echo "bench: aborted (see above); logs in build/bench/logs; nothing else left behind"; }

# The environment of the daemon start_impl starts next.
CUR_ENV=""
impl_env() { echo "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 LOG_LEVEL=info $CUR_ENV"; }

# Stop the daemons with SIGTERM first (they log their counters on exit) and
# keep their logs, then lib.sh's cleanup (processes, namespaces, sockets).
eval "$(declare -f cleanup | sed '1s/^cleanup/_lib_cleanup/')"
cleanup() {
	set +e
	local ifn
	for ifn in "${!IMPL_PID[@]}"; do
		stop_impl "$ifn" 2>/dev/null
	done
	if [[ -n ${LOG_DIR:-} && -d $LOG_DIR ]] && compgen -G "$LOG_DIR/*" >/dev/null; then
		rm -rf "$OUTDIR/logs" && mkdir -p "$OUTDIR/logs" && cp "$LOG_DIR"/* "$OUTDIR/logs/" &&
			rm -f "$LOG_DIR"/*	# kept in build/bench/logs, not again in /tmp
	fi
	_lib_cleanup
}

mkdir -p "$OUTDIR"
SAMPLES=$TMP_DIR/samples	# lines: IMPL METRIC VALUE
: >"$SAMPLES"
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------
# Implementations: exe and environment per name.

impl_exe() {
	case $1 in
	wireguard-go) echo wireguard-go ;;
	wireguard-go-modern) echo "$WGGO_MODERN" ;;
	xwgd-portable) echo "$XWGD" ;;
	xwgd-xdp | xwgd-xdp-poll | xwgd-afxdp | xwgd-veth) echo "$XWGD" ;;
	*) return 1 ;;
	esac
}
impl_envvars() {
	case $1 in
	xwgd-portable) echo XWG_DATAPATH=portable ;;
	xwgd-xdp) echo XWG_DATAPATH=xdp ;;
	xwgd-xdp-poll) echo XWG_DATAPATH=xdp XWG_BUSY_POLL_US=200 ;;
	xwgd-afxdp) echo XWG_DATAPATH=xdp ;;
	xwgd-veth) echo XWG_DATAPATH=xdp XWG_TUNNEL=veth ;;
	*) echo "" ;;
	esac
}

# The busy-polling variant is measured for latency and what polling costs
# (ping, one TCP stream, the smallest UDP packets), not for everything:
# `make bench` stays within 15 minutes.
brief_impl() { [[ $1 == xwgd-xdp-poll || $1 == xwgd-afxdp || $1 == xwgd-veth ]]; }
# uses_xdp IMPL: IMPL is told to attach xdp_rx to its underlay (both
# ends). The default fast path (xwgd-xdp) attaches none to a veth: XDP
# there would cost the peer veth its offloads. Two candidates measure the
# other shapes (not in the default set; BENCH_IMPLS): xwgd-afxdp, xdp_rx and
# AF_XDP on the underlay; xwgd-veth, the first fast path (the veth twin
# with xdp_twin, and xdp_rx on the underlay).
uses_xdp() { [[ $1 == xwgd-afxdp || $1 == xwgd-veth ]]; }

# The modern wireguard-go is an anchor outside the repository: where it is
# absent the run goes on without it (its ratios then say n/a).
drop_impl() {
	local i keep=()
	for i in "${IMPLS[@]}"; do [[ $i == "$1" ]] || keep+=("$i"); done
	IMPLS=("${keep[@]}")
	keep=()
	for i in "${HS_IMPLS[@]}"; do [[ $i == "$1" ]] || keep+=("$i"); done
	HS_IMPLS=("${keep[@]}")
}
if [[ " ${IMPLS[*]} " == *" wireguard-go-modern "* && ! -x $WGGO_MODERN ]]; then
	echo "bench: wireguard-go-modern skipped: $WGGO_MODERN is not there (set WGGO_MODERN=/path); its ratios say n/a"
	drop_impl wireguard-go-modern
fi
((${#IMPLS[@]} > 0)) || { fail "prerequisite" "no implementation left to measure"; exit 1; }
for impl in "${IMPLS[@]}"; do
	[[ $impl == veth ]] && continue
	exe=$(impl_exe "$impl") || { fail "prerequisite" "unknown implementation $impl"; exit 1; }
	impl_path "$exe" >/dev/null 2>&1 ||
		{ fail "prerequisite" "$exe cannot be run (build it with \`make\`)"; exit 1; }
done

# ---------------------------------------------------------------------------
# The crypto microbenchmark first (the ceiling needs its AEAD figures), on
# a machine where no tunnel runs yet; its table is shown at the end.

CRYPTO_OUT=$TMP_DIR/crypto.out
CRYPTO_RC=0
echo "bench: bench/crypto.sh first (the AEAD per core for the ceiling)${CRYPTO_BENCH_ARGS:+, $CRYPTO_BENCH_ARGS}"
"$REPO/bench/crypto.sh" >"$CRYPTO_OUT" 2>&1 || CRYPTO_RC=$?
# aead_mbyte_s OP: OpenSSL's ChaCha20-Poly1305 at 1420 bytes, one core, MB/s.
aead_mbyte_s() {
	((CRYPTO_RC == 0)) || return 0
	awk -v op="$1" '$1 == "kind=aead" && / backend=openssl / && $0 ~ " op=" op " " && / bytes=1420 / && / threads=1 / {
		for (i = 1; i <= NF; i++) if ($i ~ /^mbyte_s=/) { sub(/^mbyte_s=/, "", $i); print $i } }' \
		"$OUTDIR/crypto.kv" 2>/dev/null | head -n 1
}
AEAD_SEAL=$(aead_mbyte_s seal)
AEAD_OPEN=$(aead_mbyte_s open)

# ---------------------------------------------------------------------------
# Topology: implementation K (its place in IMPLS, from 1) has its own
# underlay pair ulKa (ns1, 192.0.2.8K+1/29) - ulKb (ns2, 192.0.2.8K+2/29) and
# its own pair to the second client, clKa (ns3, 198.51.100.8K+2/29) - clKb
# (ns1, 198.51.100.8K+1/29), routed through ns1.

ns_create "$ns1" "$ns2" "$ns3" "$ns4"
n1 sysctl -qw net.ipv4.ip_forward=1
veth_link "$ns4" veth4 "$ns1" veth14
addr_add "$ns4" veth4 203.0.113.2/24
# Cookie replies are counted as veth4's tx_packets: datagrams, not GSO
# messages.
veth_counts_datagrams "$ns4" veth4
addr_add "$ns1" veth14 203.0.113.1/24
# The handshake generator's source addresses: any of 198.18.0.0/16 is
# local in ns1 (a local route), and ns4 answers them through ns1.
ip -n "$ns1" route add local 198.18.0.0/16 dev lo
ip -n "$ns4" route add 198.18.0.0/16 via 203.0.113.1

declare -A DST=() PIDS=() MTU=() IFACES=() UL_IDX=() OFFLOADS=() OFFLOAD_RAW=()
# underlay IMPL K: create IMPL's two veth pairs and routes; sets UL_A, UL_B
# (the underlay's ends in ns1 and ns2), their addresses UA, UB, and CL_A
# (ns3's end of the second client's pair).
underlay() {
	local impl=$1 k=$2 c
	UL_A=ul${k}a UL_B=ul${k}b CL_A=cl${k}a
	UA=192.0.2.$((8 * k + 1)) UB=192.0.2.$((8 * k + 2))
	veth_link "$ns1" "$UL_A" "$ns2" "$UL_B"
	addr_add "$ns1" "$UL_A" "$UA/29"
	addr_add "$ns2" "$UL_B" "$UB/29"
	UL_IDX[$impl]=$k
	[[ $THREE == 1 ]] && ! brief_impl "$impl" || return 0
	c=198.51.100.$((8 * k))
	veth_link "$ns3" "$CL_A" "$ns1" "cl${k}b"
	addr_add "$ns3" "$CL_A" "198.51.100.$((8 * k + 2))/29"
	addr_add "$ns1" "cl${k}b" "198.51.100.$((8 * k + 1))/29"
	ip -n "$ns3" route add "192.0.2.$((8 * k))/29" via "198.51.100.$((8 * k + 1))"
	ip -n "$ns2" route add "$c/29" via "$UA"
}
# start_on IMPL NS IFNAME UNDERLAY: IMPL's daemon for IFNAME in NS, with
# IMPL's environment; the candidates that force xdp_rx are told their own
# underlay (XWG_XDP_IFACES=UNDERLAY), not the other implementations'.
start_on() {
	CUR_ENV=$(impl_envvars "$1")
	uses_xdp "$1" && CUR_ENV="$CUR_ENV XWG_XDP_IFACES=$4"
	start_impl "$2" "$(impl_exe "$1")" "$3"
}

umask 077
k=0
for impl in "${IMPLS[@]}"; do
	k=$((k + 1))
	underlay "$impl" "$k"
	if [[ $impl == veth ]]; then
		DST[$impl]=$UB
		IFACES[$impl]="$UL_A $UL_B"
		MTU[$impl]=$(ip -n "$ns1" -o link show "$UL_A" | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
		continue
	fi
	ifa=$(tunnel_name $((2 * k - 1)))
	ifb=$(tunnel_name $((2 * k)))
	wg genkey >"$TMP_DIR/$impl.a"
	wg genkey >"$TMP_DIR/$impl.b"
	puba=$(wg pubkey <"$TMP_DIR/$impl.a")
	pubb=$(wg pubkey <"$TMP_DIR/$impl.b")
	porta=$((51000 + 10 * k + 1))
	portb=$((51000 + 10 * k + 2))
	start_on "$impl" "$ns1" "$ifa" "$UL_A"
	start_on "$impl" "$ns2" "$ifb" "$UL_B"
	PIDS[$impl]="${IMPL_PID[$ifa]} ${IMPL_PID[$ifb]}"
	IFACES[$impl]="$ifa $ifb"
	n1 wg set "$ifa" private-key "$TMP_DIR/$impl.a" listen-port "$porta" \
		peer "$pubb" allowed-ips "10.$((100 + k)).0.2/32" endpoint "$UB:$portb"
	n2 wg set "$ifb" private-key "$TMP_DIR/$impl.b" listen-port "$portb" \
		peer "$puba" allowed-ips "10.$((100 + k)).0.1/32" endpoint "$UA:$porta"
	addr_add "$ns1" "$ifa" "10.$((100 + k)).0.1/24"
	addr_add "$ns2" "$ifb" "10.$((100 + k)).0.2/24"
	ip -n "$ns1" link set "$ifa" up
	ip -n "$ns2" link set "$ifb" up
	DST[$impl]=10.$((100 + k)).0.2
	MTU[$impl]=$(ip -n "$ns1" -o link show "$ifa" | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
	if ! wait_for 10 pings "$ns1" "${DST[$impl]}"; then
		fail "$impl tunnel" "no handshake and ping within 10 s"
		exit 1
	fi
	if [[ $THREE == 1 ]] && ! brief_impl "$impl"; then
		# The second client: a third daemon in ns3, a second peer on
		# ns2's, the same tunnel subnet.
		ifc=$(tunnel_name $((100 + k)))
		portc=$((51000 + 10 * k + 3))
		wg genkey >"$TMP_DIR/$impl.c"
		pubc=$(wg pubkey <"$TMP_DIR/$impl.c")
		start_on "$impl" "$ns3" "$ifc" "$CL_A"
		n3 wg set "$ifc" private-key "$TMP_DIR/$impl.c" listen-port "$portc" \
			peer "$pubb" allowed-ips "10.$((100 + k)).0.2/32" endpoint "$UB:$portb"
		n2 wg set "$ifb" peer "$pubc" allowed-ips "10.$((100 + k)).0.3/32" \
			endpoint "198.51.100.$((8 * k + 2)):$portc"
		addr_add "$ns3" "$ifc" "10.$((100 + k)).0.3/24"
		ip -n "$ns3" link set "$ifc" up
		if ! wait_for 10 pings "$ns3" "${DST[$impl]}"; then
			fail "$impl tunnel from ns3" "no handshake and ping within 10 s"
			exit 1
		fi
	fi
done

# shellcheck disable=SC2317 # called through wait_for
iperf_listening() { ip netns exec "$ns2" ss -Hltn "sport = :$1" | grep -q LISTEN; }
for port in "$IPERF_PORT" "$IPERF_PORT3"; do
	bg_start "$TMP_DIR/iperf3-server-$port.log" ip netns exec "$ns2" iperf3 -s -p "$port"
	if ! wait_for 5 iperf_listening "$port"; then
		fail "iperf3 server" "not listening on port $port within 5 s"
		exit 1
	fi
done

# ---------------------------------------------------------------------------
# Measuring.

sample() { echo "$1 $2 $3" >>"$SAMPLES"; }

# offloads NS DEV: "TSO USO", DEV's tcp-segmentation-offload and
# tx-udp-segmentation as `ethtool -k` has them (on or off).
offloads() {
	ip netns exec "$1" ethtool -k "$2" | awk -F': *' '
		$1 == "tcp-segmentation-offload" { split($2, a, " "); t = a[1] }
		$1 == "tx-udp-segmentation" { split($2, a, " "); u = a[1] }
		END { print (t == "" ? "?" : t), (u == "" ? "?" : u) }'
}

# xdp_mode NS DEV: the XDP program attached to DEV, as `ip link` names its
# mode (xdp: native, the veth driver's own; xdpgeneric; ...), or "none".
xdp_mode() {
	ip -n "$1" -o link show dev "$2" | awk '{ m = "none"; for (i = 1; i <= NF; i++) if ($i ~ /^xdp/) { m = $i; break } print m }'
}

# check_underlay IMPL: the offloads of both ends of IMPL's underlay are what
# the kernel gives a veth pair: TSO and UDP segmentation offload on, except
# on an end whose peer runs a native XDP program (veth_fix_features turns
# them off there: xwgd's fast path, where it attaches to its underlay). Only
# xwgd's fast path may have XDP programs on its pair. Kept in OFFLOADS for
# the results; a mismatch ends the run (the figures would not be what the
# table says they are).
check_underlay() {
	local impl=$1 k=${UL_IDX[$1]} xa xb ta ua tb ub wa=on wb=on line
	xa=$(xdp_mode "$ns1" "ul${k}a")
	xb=$(xdp_mode "$ns2" "ul${k}b")
	if ! uses_xdp "$impl" && [[ $xa != none || $xb != none ]]; then
		echo "$impl: XDP on its underlay (ul${k}a: $xa, ul${k}b: $xb), only xwgd's fast path attaches any" >&2
		return 1
	fi
	[[ $xb == xdp || $xb == xdpmulti ]] && wa=off
	[[ $xa == xdp || $xa == xdpmulti ]] && wb=off
	read -r ta ua < <(offloads "$ns1" "ul${k}a")
	read -r tb ub < <(offloads "$ns2" "ul${k}b")
	line="ul${k}a (ns1): XDP $xa, tso $ta, tx-udp-seg $ua; ul${k}b (ns2): XDP $xb, tso $tb, tx-udp-seg $ub"
	if [[ -n ${OFFLOADS[$impl]:-} && ${OFFLOADS[$impl]} != "$line" ]]; then
		echo "$impl: its underlay changed between repetitions: was ${OFFLOADS[$impl]}, now $line" >&2
		return 1
	fi
	OFFLOADS[$impl]=$line
	OFFLOAD_RAW[$impl]="ul${k}a $xa $ta $ua ul${k}b $xb $tb $ub"
	if [[ "$ta $ua $tb $ub" != "$wa $wa $wb $wb" ]]; then
		echo "$impl: underlay offloads not as expected (ul${k}a $wa, ul${k}b $wb): $line" >&2
		return 1
	fi
}

# drops IMPL: "UDP TX RX": packets dropped on both ends: UDP RcvbufErrors +
# SndbufErrors of both namespaces (the tunnels' underlay; zero for the plain
# veth), tx_dropped and rx_dropped of IMPL's two interfaces (for a TUN
# device, tx_dropped counts packets the stack sent that the daemon did not
# read in time).
drops() {
	local ifs ns n u=0 t=0 r=0 du dt dr
	read -r -a ifs <<<"${IFACES[$1]}"
	for n in 0 1; do
		ns=$([[ $n == 0 ]] && echo "$ns1" || echo "$ns2")
		read -r du dt dr < <(ip netns exec "$ns" sh -c "cat /sys/class/net/${ifs[$n]}/statistics/tx_dropped \
			/sys/class/net/${ifs[$n]}/statistics/rx_dropped /proc/net/snmp" | awk '
			NR == 1 { t = $1; next }
			NR == 2 { r = $1; next }
			$1 == "Udp:" && !h { for (i = 2; i <= NF; i++) { if ($i == "RcvbufErrors") a = i; if ($i == "SndbufErrors") b = i } h = 1; next }
			$1 == "Udp:" && h { u = $a + $b }
			END { print u + 0, t + 0, r + 0 }')
		u=$((u + du)) t=$((t + dt)) r=$((r + dr))
	done
	echo "$u $t $r"
}

# iperf_client NS PORT DST LOG SECONDS ARGS...: one iperf3 client run from
# NS to the server in ns2 on PORT, output into LOG, retried (up to 3 tries)
# if the server is still busy with the last one.
iperf_client() {
	local ns=$1 port=$2 dst=$3 log=$4 secs=$5
	shift 5
	for _ in 1 2 3; do
		if ip netns exec "$ns" timeout -k 5 $((secs + 20)) iperf3 -c "$dst" -p "$port" \
			-t "$secs" --connect-timeout 3000 "$@" >"$log" 2>&1; then
			return 0
		fi
		grep -q busy "$log" || break
		wait_for 3 eval "! ip netns exec $ns2 ss -Htn state established '( sport = :$port )' | grep -q ."
	done
	echo "iperf3 to $dst:$port from $ns ($*) failed: $(tail -n 2 "$log" | tr '\n' ' ')" >&2
	return 1
}

# iperf_run IMPL STREAMS DIR LOG [SECONDS [NS PORT]]: a TCP run (from ns1 to
# the server on IPERF_PORT unless told).
iperf_run() {
	local impl=$1 streams=$2 dir=$3 log=$4 secs=${5:-$SECS} ns=${6:-$ns1} port=${7:-$IPERF_PORT} rflag=()
	[[ $dir == rev ]] && rflag=(-R)
	iperf_client "$ns" "$port" "${DST[$impl]}" "$log" "$secs" -P "$streams" "${rflag[@]}" \
		-f m -i 0.5 --forceflush
}

# iperf_result LOG: "MBITS SECONDS RETRANSMITS" of the run's summary.
iperf_result() {
	awk '
		/ receiver *$/ && ($1 == "[SUM]" || !sum) { recv = $0; if ($1 == "[SUM]") sum = 1 }
		/ sender *$/ && ($1 == "[SUM]" || !ssum) { send = $0; if ($1 == "[SUM]") ssum = 1 }
		END {
			n = split(recv, r, /[ \t]+/)
			for (i = 1; i <= n; i++) if (r[i] == "Mbits/sec") { mb = r[i - 1] }
			for (i = 1; i <= n; i++) if (r[i] ~ /^[0-9.]+-[0-9.]+$/) { split(r[i], t, "-"); dur = t[2] - t[1]; break }
			m = split(send, s, /[ \t]+/); retr = "nan"
			for (i = 1; i <= m; i++) if (s[i] == "Mbits/sec" && s[i + 1] ~ /^[0-9]+$/) retr = s[i + 1]
			if (mb == "" || dur <= 0) exit 1
			print mb, dur, retr
		}' "$1"
}

# s_per_gb TICKS MBITS_PER_S SECONDS: CPU seconds per GB received
# (GB = Mbit/s * s / 8000).
s_per_gb() {
	awk -v t="$1" -v hz="$CLK_TCK" -v m="$2" -v d="$3" 'BEGIN { printf "%.3f", (t / hz) / (m * d / 8000) }'
}

# tcp_workload IMPL REP STREAMS DIR
tcp_workload() {
	local impl=$1 rep=$2 streams=$3 dir=$4 name="tcp${3}_${4}" log c0=0 c1=0 mb dur retr pids
	local u0 t0 r0 u1 t1 r1 b0 a0 b1 a1
	log=$LOG_DIR/iperf-$impl-$name-$rep.log
	read -r -a pids <<<"${PIDS[$impl]:-}"
	read -r u0 t0 r0 < <(drops "$impl")
	((${#pids[@]} == 0)) || c0=$(cpu_ticks "${pids[@]}")
	read -r b0 a0 < <(machine_ticks)
	iperf_run "$impl" "$streams" "$dir" "$log" || return 1
	read -r b1 a1 < <(machine_ticks)
	((${#pids[@]} == 0)) || c1=$(cpu_ticks "${pids[@]}")
	read -r u1 t1 r1 < <(drops "$impl")
	sample "$impl" "${name}_udp_drops" $((u1 - u0))
	sample "$impl" "${name}_if_tx_drops" $((t1 - t0))
	sample "$impl" "${name}_if_rx_drops" $((r1 - r0))
	read -r mb dur retr < <(iperf_result "$log") ||
		{ echo "no iperf3 summary in $log" >&2; return 1; }
	sample "$impl" "${name}_gbps" "$(awk -v m="$mb" 'BEGIN { printf "%.4f", m / 1000 }')"
	sample "$impl" "${name}_retr" "$retr"
	# The whole machine: how busy both vCPUs were, and its CPU seconds
	# (iperf3, both kernels, softirqs, daemons) per GB received.
	sample "$impl" "${name}_busy_pct" "$(awk -v b=$((b1 - b0)) -v a=$((a1 - a0)) \
		'BEGIN { printf "%.1f", a ? 100 * b / a : 0 }')"
	sample "$impl" "${name}_machine_s_per_gb" "$(s_per_gb $((b1 - b0)) "$mb" "$dur")"
	((${#pids[@]} == 0)) ||
		sample "$impl" "${name}_cpu_s_per_gb" "$(s_per_gb $((c1 - c0)) "$mb" "$dur")"
}

# udp_workload IMPL REP SIZE: iperf3 UDP at the highest rate with SIZE-byte
# payloads, ns1 -> ns2: packets per second the receiver got, and the loss.
udp_workload() {
	local impl=$1 rep=$2 size=$3 name="udp$3" log r pkts lost secs
	log=$LOG_DIR/iperf-$impl-$name-$rep.json
	iperf_client "$ns1" "$IPERF_PORT" "${DST[$impl]}" "$log" "$SECS" -u -b 0 -l "$size" -J || return 1
	# (iperf3 may warn before the JSON, e.g. that the payload exceeds the
	# control connection's MSS)
	r=$(sed -n '/^{/,$p' "$log" | jq -r '.end.sum_received | "\(.packets) \(.lost_packets) \(.seconds)"' 2>/dev/null) ||
		{ echo "no UDP receiver summary in $log" >&2; return 1; }
	read -r pkts lost secs <<<"$r"
	if ! [[ $pkts =~ ^[0-9]+$ && $lost =~ ^-?[0-9]+$ ]] || ((pkts == 0)); then
		echo "no UDP receiver summary in $log ($r)" >&2
		return 1
	fi
	sample "$impl" "${name}_rx_kpps" "$(awk -v p="$pkts" -v l="$lost" -v s="$secs" 'BEGIN { printf "%.2f", (p - l) / s / 1000 }')"
	sample "$impl" "${name}_loss_pct" "$(awk -v p="$pkts" -v l="$lost" 'BEGIN { printf "%.2f", 100 * l / p }')"
}

# three_workload IMPL REP: one TCP stream from ns1 and one from ns3 to the
# server in ns2 at once; their total and the slower one.
three_workload() {
	local impl=$1 rep=$2 la lb pa pb mba mbb rc=0
	la=$LOG_DIR/iperf-$impl-three_ns1-$rep.log
	lb=$LOG_DIR/iperf-$impl-three_ns3-$rep.log
	bg_start "$la.out" iperf_run "$impl" 1 fwd "$la" "$SECS" "$ns1" "$IPERF_PORT"
	pa=$BG_PID
	bg_start "$lb.out" iperf_run "$impl" 1 fwd "$lb" "$SECS" "$ns3" "$IPERF_PORT3"
	pb=$BG_PID
	wait "$pa" || rc=1
	wait "$pb" || rc=1
	((rc == 0)) || { cat "$la.out" "$lb.out" >&2; return 1; }
	read -r mba _ < <(iperf_result "$la") || { echo "no iperf3 summary in $la" >&2; return 1; }
	read -r mbb _ < <(iperf_result "$lb") || { echo "no iperf3 summary in $lb" >&2; return 1; }
	sample "$impl" three_tcp1_total_gbps "$(awk -v a="$mba" -v b="$mbb" 'BEGIN { printf "%.4f", (a + b) / 1000 }')"
	sample "$impl" three_tcp1_min_gbps "$(awk -v a="$mba" -v b="$mbb" 'BEGIN { printf "%.4f", (a < b ? a : b) / 1000 }')"
}

# ---------------------------------------------------------------------------
# The control plane: a fresh daemon per implementation and repetition in
# ns4, loaded with NPEERS peers by one `wg setconf`; handshakes and cookie
# replies against it.

# ctl_prepare: the configuration (HS_PEERS real keys for wgstorm first,
# then random public keys; peer i gets 10.x.y.z/32, every other one also
# fd00:b::i/128) and the server's key.
ctl_prepare() {
	umask 077
	wg genkey >"$TMP_DIR/ctl.key"
	CTL_PUB=$(wg pubkey <"$TMP_DIR/ctl.key")
	python3 -c '
import base64, os, sys
for _ in range(int(sys.argv[1])):
    print(base64.b64encode(os.urandom(32)).decode())' "$HS_PEERS" >"$TMP_DIR/hs.keys"
	"$WGSTORM" pubkeys <"$TMP_DIR/hs.keys" >"$TMP_DIR/hs.pubs"
	python3 -c '
import base64, os, sys
key, port, n, pubs = open(sys.argv[1]).read().strip(), sys.argv[2], int(sys.argv[3]), open(sys.argv[4]).read().split()
out = ["[Interface]", "PrivateKey = " + key, "ListenPort = " + port]
for i in range(1, n + 1):
    pub = pubs[i - 1] if i <= len(pubs) else base64.b64encode(os.urandom(32)).decode()
    ips = "10.%d.%d.%d/32" % (200 + i // 65536, (i // 256) % 256, i % 256)
    if i % 2 == 0:
        ips += ", fd00:b::%x/128" % i
    out += ["", "[Peer]", "PublicKey = " + pub, "AllowedIPs = " + ips]
print("\n".join(out))' "$TMP_DIR/ctl.key" "$CTL_PORT" "$NPEERS" "$TMP_DIR/hs.pubs" >"$TMP_DIR/peers.conf"
}

# storm_result FILE KEY: a field of wgstorm's RESULT line.
storm_result() { sed -n 's/^RESULT .*[[:space:]]'"$2"'=\([^[:space:]]*\).*/\1/p' "$1"; }

CTL_SEQ=0
# ctl_workload IMPL REP
ctl_workload() {
	local impl=$1 rep=$2 ifn pid r0 r1 t0 t1 n peers out hs cookies secs tx0 tx1 c0 c1
	CTL_SEQ=$((CTL_SEQ + 1))
	ifn=$(tunnel_name $((200 + CTL_SEQ)))
	CUR_ENV=$(impl_envvars "$impl")
	uses_xdp "$impl" && CUR_ENV="$CUR_ENV XWG_XDP_IFACES=veth4"
	start_impl "$ns4" "$(impl_exe "$impl")" "$ifn"
	pid=${IMPL_PID[$ifn]}
	# The socket exists before the daemon has finished starting (xwgd's
	# fast path maps its UMEM after it); a first answer means it has.
	n4 wg show "$ifn" >/dev/null ||
		{ echo "$impl: wg show $ifn failed on a fresh daemon" >&2; return 1; }
	r0=$(rss_kib "$pid")
	t0=$(_now_us)
	n4 wg setconf "$ifn" "$TMP_DIR/peers.conf" ||
		{ echo "$impl: wg setconf of $NPEERS peers failed" >&2; return 1; }
	t1=$(_now_us)
	r1=$(rss_kib "$pid")
	peers=$(n4 wg show "$ifn" peers)
	n=$(grep -c . <<<"$peers" || true)
	((n == NPEERS)) || { echo "$impl: $n peers after wg setconf, want $NPEERS" >&2; return 1; }
	sample "$impl" peers_load_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')"
	sample "$impl" rss_idle_mib "$(awk -v r="$r0" 'BEGIN { printf "%.2f", r / 1024 }')"
	sample "$impl" peers_rss_mib "$(awk -v r="$r1" 'BEGIN { printf "%.2f", r / 1024 }')"
	sample "$impl" peers_rss_per_peer_kib "$(awk -v a="$r0" -v b="$r1" -v n="$NPEERS" 'BEGIN { printf "%.3f", (b - a) / n }')"
	printf ' peers=%ss' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')"
	if [[ " ${HS_IMPLS[*]} " == *" $impl "* ]]; then
		ip -n "$ns4" link set "$ifn" up
		out=$LOG_DIR/storm-$impl-handshake-rate-$rep.out
		c0=$(cpu_ticks "$pid")
		n1 "$WGSTORM" handshake-rate --target "203.0.113.2:$CTL_PORT" --server-pub "$CTL_PUB" \
			--keys-file "$TMP_DIR/hs.keys" --seconds "$HS_SECS" >"$out" 2>&1 ||
			{ echo "$impl: wgstorm handshake-rate failed: $(tail -n 1 "$out")" >&2; return 1; }
		c1=$(cpu_ticks "$pid")
		hs=$(storm_result "$out" handshakes_per_s)
		[[ -n $hs ]] || { echo "$impl: no result in $out" >&2; return 1; }
		sample "$impl" hs_per_s "$hs"
		# Per CPU second of the responder (all its threads), i.e. per
		# core it kept busy: the rate times the run's length over the
		# CPU time it took (the warm-up second counts at the same rate).
		((c1 > c0)) && sample "$impl" hs_per_cpu_s "$(awk -v h="$hs" -v s="$HS_SECS" \
			-v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", h * s / (t / hz) }')"
		# The cookie replies are counted as they leave ns4 (all it sends
		# during the flood): wgstorm replaces its source sockets as it
		# goes, so it misses replies that come late; those it gets, it
		# checks (they open with the server's key, for that initiation).
		out=$LOG_DIR/storm-$impl-mac1-init-$rep.out
		tx0=$(n4 cat /sys/class/net/veth4/statistics/tx_packets)
		n1 "$WGSTORM" mac1-init --target "203.0.113.2:$CTL_PORT" --server-pub "$CTL_PUB" \
			--seconds "$FLOOD_SECS" >"$out" 2>&1 ||
			{ echo "$impl: wgstorm mac1-init failed: $(tail -n 1 "$out")" >&2; return 1; }
		tx1=$(n4 cat /sys/class/net/veth4/statistics/tx_packets)
		cookies=$((tx1 - tx0))
		secs=$(storm_result "$out" seconds)
		[[ -n $secs ]] || { echo "$impl: no result in $out" >&2; return 1; }
		if ((cookies > 0)) && [[ $(storm_result "$out" reply_cookie_valid) == 0 ]]; then
			echo "$impl: $cookies packets left ns4 during the flood but no valid cookie reply reached wgstorm" >&2
			return 1
		fi
		sample "$impl" cookies_per_s "$(awk -v c="$cookies" -v s="$secs" 'BEGIN { printf "%.1f", c / s }')"
		sample "$impl" flood_sent_per_s "$(awk -v c="$(storm_result "$out" sent)" -v s="$secs" 'BEGIN { printf "%.0f", c / s }')"
		pid_is_alive "$pid" || { echo "$impl died under the handshake load" >&2; return 1; }
		printf ' handshakes=%s/s cookies=%s/s' "$hs" "$(awk -v c="$cookies" -v s="$secs" 'BEGIN { printf "%.0f", c / s }')"
	fi
	stop_impl "$ifn" || echo "  ($impl in ns4 did not stop cleanly)" >&2
}

# ping_stats LOG PREFIX IMPL: median, p99 and loss of one ping run.
ping_stats() {
	local log=$1 prefix=$2 impl=$3 tx rx
	tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$log")
	rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$log")
	[[ -n $tx && -n $rx ]] || { echo "no ping summary in $log" >&2; return 1; }
	sample "$impl" "${prefix}_loss_pct" "$(awk -v t="$tx" -v r="$rx" 'BEGIN { printf "%.2f", t ? 100 * (t - r) / t : 100 }')"
	((rx > 0)) || return 0
	sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' "$log" | sort -g | awk -v p="$prefix" -v i="$impl" '
		{ v[NR] = $1 }
		END {
			med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			k = int(0.99 * NR); if (k < 0.99 * NR) k++; if (k < 1) k = 1
			printf "%s %s_median_ms %.4f\n%s %s_p99_ms %.4f\n", i, p, med, i, p, v[k]
		}' >>"$SAMPLES"
}

ping_run() {
	ip netns exec "$ns1" ping -n -c "$PINGS" -i 0.01 -W 1 -w $((PINGS / 50 + 10)) "$1" >"$2" 2>&1 || true
}

# ping_workloads IMPL REP: idle, then under one TCP stream ns1 -> ns2.
ping_workloads() {
	local impl=$1 rep=$2 log iplog ipid
	log=$LOG_DIR/ping-$impl-idle-$rep.log
	ping_run "${DST[$impl]}" "$log"
	ping_stats "$log" ping_idle "$impl"

	log=$LOG_DIR/ping-$impl-load-$rep.log
	iplog=$LOG_DIR/iperf-$impl-pingload-$rep.log
	# The load runs long enough to cover the pings after its first report.
	bg_start "$iplog" iperf_run "$impl" 1 fwd "$iplog.run" $((PINGS / 100 + 3))
	ipid=$BG_PID
	if ! wait_for 10 grep -q 'Mbits/sec' "$iplog.run"; then
		echo "iperf3 load for $impl did not start within 10 s" >&2
		return 1
	fi
	ping_run "${DST[$impl]}" "$log"
	wait_for $((PINGS / 100 + 30)) eval "! pid_is_alive $ipid" ||
		{ echo "iperf3 load for $impl did not end" >&2; return 1; }
	wait "$ipid" || { echo "iperf3 load for $impl failed" >&2; return 1; }
	ping_stats "$log" ping_load "$impl"
}

# perf_profile: one single-stream TCP run each way with both xwgd processes
# under `perf record -g`; the flat profiles go to build/bench/perf-*.txt.
perf_profile() {
	local impl=${BENCH_PERF_IMPL:-xwgd-xdp} p pids dir i=0 recs=()
	command -v perf >/dev/null || { echo "BENCH_PERF=1: perf is not installed (apt-get install --no-install-recommends linux-perf)" >&2; return 0; }
	[[ -n ${PIDS[$impl]:-} ]] || return 0
	read -r -a pids <<<"${PIDS[$impl]}"
	for dir in fwd rev; do
		recs=()
		for p in "${pids[@]}"; do
			i=$((i + 1))
			bg_start "$TMP_DIR/perf-$i.log" perf record -q -g -p "$p" -o "$TMP_DIR/perf-$dir-$p.data" -- sleep "$SECS"
			recs+=("$BG_PID")
		done
		iperf_run "$impl" 1 "$dir" "$LOG_DIR/iperf-perf-$dir.log" || true
		for p in "${recs[@]}"; do
			wait_for 30 eval "! pid_is_alive $p" || true
			wait "$p" 2>/dev/null || true
		done
		# pids[0] is in ns1 (the sender when fwd), pids[1] in ns2.
		for p in "${pids[@]}"; do
			role=$([[ $p == "${pids[0]}" ]] && echo ns1 || echo ns2)
			{
				echo "# $impl in $role, TCP 1 stream $dir, flat profile by DSO then by symbol"
				perf report -i "$TMP_DIR/perf-$dir-$p.data" --no-children -g none --sort dso \
					--stdio 2>/dev/null | grep '%' | grep -v '^#' | head -n 8
				perf report -i "$TMP_DIR/perf-$dir-$p.data" --no-children -g none --sort dso,symbol \
					--stdio 2>/dev/null | grep '%' | grep -v '^#' | head -n 40
			} | sed 's/\( *-\)* *$//' >"$OUTDIR/perf-tcp1_$dir-$role.txt" || true
		done
	done
	echo "perf profiles: $OUTDIR/perf-tcp1_{fwd,rev}-{ns1,ns2}.txt (ns1 sends when fwd)"
}

# ---------------------------------------------------------------------------
# The run.

START_US=$(_now_us)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: ${IMPLS[*]}; $REPS repetitions of ${SECS} s iperf3 runs and $PINGS pings; $(nproc) CPUs, load $LOAD0"
for rep in $(seq 1 "$REPS"); do
	for impl in "${IMPLS[@]}"; do
		printf 'rep %d/%d %-20s' "$rep" "$REPS" "$impl"
		check_underlay "$impl" || exit 1
		((rep > 1)) || printf ' (underlay TSO/USO %s)' "$(awk '{ print $3 "/" $8 }' <<<"${OFFLOAD_RAW[$impl]}")"
		for streams in 1 4; do
			for dir in fwd rev; do
				brief_impl "$impl" && [[ $streams != 1 || $dir != fwd ]] && continue
				tcp_workload "$impl" "$rep" "$streams" "$dir" || exit 1
				printf ' tcp%d_%s=%s' "$streams" "$dir" "$(awk -v i="$impl" -v m="tcp${streams}_${dir}_gbps" \
					'$1 == i && $2 == m { v = $3 } END { print v }' "$SAMPLES")"
			done
		done
		ping_workloads "$impl" "$rep" || exit 1
		printf ' ping ok'
		for size in "${UDP_SIZES[@]}"; do
			brief_impl "$impl" && [[ $size != "${UDP_SIZES[0]}" ]] && continue
			udp_workload "$impl" "$rep" "$size" || exit 1
			printf ' udp%s=%skpps' "$size" "$(awk -v i="$impl" -v m="udp${size}_rx_kpps" \
				'$1 == i && $2 == m { v = $3 } END { print v }' "$SAMPLES")"
		done
		if [[ $THREE == 1 ]] && ! brief_impl "$impl"; then
			three_workload "$impl" "$rep" || exit 1
			printf ' three=%s' "$(awk -v i="$impl" '$1 == i && $2 == "three_tcp1_total_gbps" { v = $3 } END { print v }' "$SAMPLES")"
		fi
		echo
	done
done
hs_here=()
for impl in "${HS_IMPLS[@]}"; do [[ " ${IMPLS[*]} " == *" $impl "* ]] && hs_here+=("$impl"); done
echo "control plane: $NPEERS peers per wg setconf; handshakes ($HS_PEERS peers, ${HS_SECS} s) and cookie replies (${FLOOD_SECS} s flood) for ${hs_here[*]:-none}"
ctl_prepare
for rep in $(seq 1 "$REPS"); do
	for impl in "${IMPLS[@]}"; do
		if [[ $impl == veth ]] || brief_impl "$impl"; then continue; fi
		printf 'rep %d/%d %-20s' "$rep" "$REPS" "$impl"
		ctl_workload "$impl" "$rep" || exit 1
		echo
	done
done
if [[ $PERF == 1 ]]; then
	perf_profile
fi
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# Counters of the xwgd processes (drops by reason) into their logs.
for impl in "${IMPLS[@]}"; do
	[[ $impl == xwgd-* && -n ${PIDS[$impl]:-} ]] || continue
	for p in ${PIDS[$impl]}; do kill -USR1 "$p" 2>/dev/null || true; done
done

# ---------------------------------------------------------------------------
# Results: aggregate, table, JSON, CSV.

CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
KERNEL=$(uname -r)
NPROC=$(nproc)
MEM_GIB=$(awk '$1 == "MemTotal:" { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
WGGO_VER=$(wireguard-go --version 2>/dev/null | head -n 1 | awk '{ print $2 }')
WGGO_MODERN_VER=""
[[ -x $WGGO_MODERN ]] && WGGO_MODERN_VER=$("$WGGO_MODERN" --version 2>/dev/null | head -n 1 | awk '{ print $2 }')
XWGD_VER=$("$(impl_path "$XWGD" 2>/dev/null || echo false)" --version 2>/dev/null | head -n 1 || true)
GIT_REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD 2>/dev/null || GIT_REV="$GIT_REV+dirty"
IPERF_VER=$(iperf3 --version | head -n 1 | awk '{ print $2 }')
ELAPSED=$((($(_now_us) - START_US) / 1000000))
MTUS=""
for impl in "${IMPLS[@]}"; do MTUS="$MTUS $impl=${MTU[$impl]}"; done

# key|label|unit|better: hi, lo, or info (no ratio)
METRICS=(
	"tcp1_fwd_gbps|TCP 1 stream ns1->ns2|Gbit/s|hi"
	"tcp1_fwd_ceiling_pct|TCP 1 stream ns1->ns2, share of the ceiling|%|info"
	"tcp1_rev_gbps|TCP 1 stream ns2->ns1|Gbit/s|hi"
	"tcp4_fwd_gbps|TCP 4 streams ns1->ns2|Gbit/s|hi"
	"tcp4_rev_gbps|TCP 4 streams ns2->ns1|Gbit/s|hi"
	"three_tcp1_total_gbps|3 ns: TCP 1 stream from each of 2 clients, total|Gbit/s|hi"
	"three_tcp1_min_gbps|3 ns: the slower client|Gbit/s|hi"
)
for size in "${UDP_SIZES[@]}"; do
	METRICS+=("udp${size}_rx_kpps|UDP ${size} B at max rate, received|kpps|hi"
		"udp${size}_loss_pct|UDP ${size} B at max rate, loss|%|lo")
done
METRICS+=(
	"tcp1_fwd_cpu_s_per_gb|CPU/GB, TCP 1 fwd|s/GB|lo"
	"tcp1_rev_cpu_s_per_gb|CPU/GB, TCP 1 rev|s/GB|lo"
	"tcp4_fwd_cpu_s_per_gb|CPU/GB, TCP 4 fwd|s/GB|lo"
	"tcp4_rev_cpu_s_per_gb|CPU/GB, TCP 4 rev|s/GB|lo"
	"tcp1_fwd_busy_pct|machine busy, TCP 1 fwd|%|lo"
	"tcp1_fwd_machine_s_per_gb|machine CPU/GB, TCP 1 fwd|s/GB|lo"
	"tcp4_fwd_busy_pct|machine busy, TCP 4 fwd|%|lo"
	"tcp4_fwd_machine_s_per_gb|machine CPU/GB, TCP 4 fwd|s/GB|lo"
	"tcp1_fwd_retr|retransmits, TCP 1 fwd|segs|lo"
	"tcp1_rev_retr|retransmits, TCP 1 rev|segs|lo"
	"tcp4_fwd_retr|retransmits, TCP 4 fwd|segs|lo"
	"tcp4_rev_retr|retransmits, TCP 4 rev|segs|lo"
	"tcp1_fwd_if_tx_drops|iface tx_dropped, TCP 1 fwd|pkts|lo"
	"tcp1_rev_if_tx_drops|iface tx_dropped, TCP 1 rev|pkts|lo"
	"tcp4_fwd_if_tx_drops|iface tx_dropped, TCP 4 fwd|pkts|lo"
	"tcp4_rev_if_tx_drops|iface tx_dropped, TCP 4 rev|pkts|lo"
	"tcp1_fwd_if_rx_drops|iface rx_dropped, TCP 1 fwd|pkts|lo"
	"tcp1_rev_if_rx_drops|iface rx_dropped, TCP 1 rev|pkts|lo"
	"tcp4_fwd_if_rx_drops|iface rx_dropped, TCP 4 fwd|pkts|lo"
	"tcp4_rev_if_rx_drops|iface rx_dropped, TCP 4 rev|pkts|lo"
	"tcp1_fwd_udp_drops|UDP buffer errors, TCP 1 fwd|pkts|lo"
	"tcp1_rev_udp_drops|UDP buffer errors, TCP 1 rev|pkts|lo"
	"tcp4_fwd_udp_drops|UDP buffer errors, TCP 4 fwd|pkts|lo"
	"tcp4_rev_udp_drops|UDP buffer errors, TCP 4 rev|pkts|lo"
	"ping_idle_median_ms|ping idle, median|ms|lo"
	"ping_idle_p99_ms|ping idle, p99|ms|lo"
	"ping_idle_loss_pct|ping idle, loss|%|lo"
	"ping_load_median_ms|ping under TCP 1 fwd, median|ms|lo"
	"ping_load_p99_ms|ping under TCP 1 fwd, p99|ms|lo"
	"ping_load_loss_pct|ping under TCP 1 fwd, loss|%|lo"
	"hs_per_s|handshakes completed/s (responder)|1/s|hi"
	"hs_per_cpu_s|handshakes per CPU second of the responder|1/s|hi"
	"cookies_per_s|cookie replies sent/s under a mac1 flood|1/s|hi"
	"flood_sent_per_s|mac1 flood: initiations sent/s|1/s|info"
	"peers_load_s|wg setconf of $NPEERS peers|s|lo"
	"rss_idle_mib|RSS of a fresh daemon|MiB|lo"
	"peers_rss_mib|RSS with $NPEERS peers|MiB|lo"
	"peers_rss_per_peer_kib|RSS per peer ((with - fresh) / $NPEERS)|KiB|lo"
)
# Retransmits and drops last: they explain the figures above.
tail_metrics=()
for m in "${METRICS[@]}"; do
	case ${m%%|*} in *_retr | *_drops) tail_metrics+=("$m") ;; esac
done
head_metrics=()
for m in "${METRICS[@]}"; do
	case ${m%%|*} in *_retr | *_drops) ;; *) head_metrics+=("$m") ;; esac
done
METRICS=("${head_metrics[@]}" "${tail_metrics[@]}")

# hs_shared IMPL KEY: the cell of a handshake figure not measured for this
# xwgd data path because xwgd's handshake code is the same on both.
hs_shared() {
	local i
	[[ $1 == xwgd-* && $2 =~ ^(hs_per_s|hs_per_cpu_s|cookies_per_s|flood_sent_per_s)$ ]] || return 1
	for i in "${HS_IMPLS[@]}"; do
		[[ $i == xwgd-* && $i != "$1" ]] && { echo "as $i (same code)"; return 0; }
	done
	return 1
}

# AGG lines: IMPL METRIC MEDIAN MIN MAX N SAMPLES(comma-separated)
AGG=$TMP_DIR/agg
aggregate() {
sort -k1,1 -k2,2 -s "$SAMPLES" | awk '
	function flush() {
		if (n == 0) return
		# insertion sort of v[1..n]
		for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
		med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		print key, med, v[1], v[n], n, list
		n = 0
	}
	$3 == "nan" { next }
	$1 " " $2 != key { flush(); key = $1 " " $2; list = "" }
	{ v[++n] = $3 + 0; list = list (list == "" ? "" : ",") $3 }
	END { flush() }' >"$AGG"
}
aggregate

agg() { awk -v i="$1" -v m="$2" -v f="$3" '$1 == i && $2 == m { print $f; found = 1 } END { if (!found) print "" }' "$AGG"; }
# fmt VALUE [UNIT]: about three significant digits; counts as integers.
fmt() { [[ -z $1 ]] && { echo "-"; return; }; awk -v x="$1" -v u="${2:-}" 'BEGIN { if (u == "segs" || u == "pkts") { printf "%d", x; exit } a = x < 0 ? -x : x; if (a >= 100) printf "%.0f", x; else if (a >= 10) printf "%.1f", x; else if (a >= 1) printf "%.2f", x; else printf "%.3f", x }'; }
ratio() { [[ -z $1 || -z $2 ]] && return; awk -v a="$1" -v b="$2" 'BEGIN { if (b != 0) printf "%.2f", a / b }'; }

# The ratios: to the modern wireguard-go (the headline: what users run
# today), then to Debian's 2022 one. A reference not measured (absent, or
# not in BENCH_IMPLS) gives n/a.
REF_M=wireguard-go-modern
REF_O=wireguard-go
# ratio_cell IMPL KEY MEDIAN: "(1.40x modern, 5.10x 2022)", without the
# implementation's own reference; empty when neither reference has KEY.
ratio_cell() {
	local impl=$1 key=$2 med=$3 rm ro out=""
	rm=$(agg "$REF_M" "$key" 3)
	ro=$(agg "$REF_O" "$key" 3)
	[[ -n $rm || -n $ro ]] || return 0
	[[ -n $rm ]] && rm=$(ratio "$med" "$rm")
	[[ -n $ro ]] && ro=$(ratio "$med" "$ro")
	[[ -n $rm ]] && rm=${rm}x || rm=n/a
	[[ -n $ro ]] && ro=${ro}x || ro=n/a
	[[ $impl == "$REF_M" ]] || out="$rm modern"
	[[ $impl == "$REF_O" ]] || out="$out${out:+, }$ro 2022"
	echo "($out)"
}

# The ceiling (see the top): the bare veth's machine CPU seconds per GB of
# TCP 1 stream ns1->ns2 in this run, plus one seal and one open per byte
# at OpenSSL's per-core rate, at all vCPUs busy; each implementation's
# samples of that workload as shares of it (tcp1_fwd_ceiling_pct).
CEIL_VETH_SPG=$(agg veth tcp1_fwd_machine_s_per_gb 3)
CEIL_VETH_BUSY=$(agg veth tcp1_fwd_busy_pct 3)
CEIL_GBPS=""
if [[ -n $CEIL_VETH_SPG && -n $CEIL_VETH_BUSY && -n $AEAD_SEAL && -n $AEAD_OPEN ]]; then
	read -r CEIL_AEAD_SPG CEIL_SPG CEIL_GBPS CEIL_GBPS_BUSY < <(awk -v v="$CEIL_VETH_SPG" \
		-v s="$AEAD_SEAL" -v o="$AEAD_OPEN" -v n="$NPROC" -v b="$CEIL_VETH_BUSY" 'BEGIN {
		a = 1000 / s + 1000 / o; t = v + a
		printf "%.4f %.4f %.4f %.4f\n", a, t, 8 * n / t, 8 * n * b / 100 / t }')
	for impl in "${IMPLS[@]}"; do
		[[ $impl != veth ]] || continue
		awk -v i="$impl" -v c="$CEIL_GBPS" '$1 == i && $2 == "tcp1_fwd_gbps" && $3 != "nan" {
			printf "%s tcp1_fwd_ceiling_pct %.2f\n", i, 100 * $3 / c }' "$SAMPLES" >>"$TMP_DIR/ceil.samples"
	done
	[[ -s $TMP_DIR/ceil.samples ]] && cat "$TMP_DIR/ceil.samples" >>"$SAMPLES" && aggregate
fi
ceiling_lines() {
	local impl shares=""
	if [[ -z $CEIL_GBPS ]]; then
		echo "   ceiling: n/a (it needs veth in BENCH_IMPLS and OpenSSL's 1420-byte AEAD figures from bench/crypto.sh$( ((CRYPTO_RC == 0)) || echo ", which failed"))"
		return
	fi
	echo "   ceiling, TCP 1 stream ns1->ns2: $(fmt "$CEIL_GBPS") Gbit/s = $NPROC vCPUs fully busy / $(fmt "$CEIL_SPG") CPU s per GB:" \
		"the bare veth's $(fmt "$CEIL_VETH_SPG") machine s/GB in this run + $(fmt "$CEIL_AEAD_SPG") s/GB for one seal and one open" \
		"(OpenSSL ChaCha20-Poly1305, 1420 B, $(fmt "$AEAD_SEAL") and $(fmt "$AEAD_OPEN") MB/s per core, build/bench/crypto.txt)"
	echo "     all vCPUs, not the $(fmt "$CEIL_VETH_BUSY")% the bare veth kept busy (at that share: $(fmt "$CEIL_GBPS_BUSY") Gbit/s): one TCP stream over a bare veth is" \
		"bound by its flow's serial path, not by CPU time, and a tunnel spreads its AEAD over both vCPUs"
	for impl in "${IMPLS[@]}"; do
		[[ -n $(agg "$impl" tcp1_fwd_ceiling_pct 3) ]] || continue
		shares="$shares${shares:+, }$impl $(fmt "$(agg "$impl" tcp1_fwd_ceiling_pct 3)")%"
	done
	echo "     share of it (median throughput / ceiling): ${shares:-none measured}"
}

{
echo
echo "== Results: median [min-max] of $REPS runs; (x) = ratio of the medians to the modern wireguard-go's (wireguard-go-modern), then to Debian's 2022 one (wireguard-go)"
echo "   machine: $NPROC CPUs, $CPU_MODEL, $MEM_GIB GiB, Linux $KERNEL; load avg $LOAD0 before, $LOAD1 after; ${ELAPSED} s"
echo "   wireguard-go $WGGO_VER (Debian), wireguard-go-modern ${WGGO_MODERN_VER:-n/a: not measured} ($WGGO_MODERN), ${XWGD_VER:-xwgd}, git $GIT_REV, iperf3 $IPERF_VER, ${SECS} s per iperf3 run, $PINGS pings at 10 ms; MTU$MTUS"
echo "   underlays, one veth pair each; before each implementation's runs: its XDP programs (ip link) and ethtool -k of both ends, asserted: TSO and UDP segmentation offload on, off only where the other end has a native XDP program:"
for impl in "${IMPLS[@]}"; do
	[[ -n ${OFFLOADS[$impl]:-} ]] && echo "     $impl: ${OFFLOADS[$impl]}"
done
{
	printf '%s' "metric|unit"
	for impl in "${IMPLS[@]}"; do printf '|%s' "$impl"; done
	echo
	for m in "${METRICS[@]}"; do
		IFS='|' read -r key label unit _ <<<"$m"
		printf '%s|%s' "$label" "$unit"
		for impl in "${IMPLS[@]}"; do
			med=$(agg "$impl" "$key" 3)
			if [[ -z $med ]]; then printf '|%s' "$(hs_shared "$impl" "$key" || echo -)"; continue; fi
			cell="$(fmt "$med" "$unit") [$(fmt "$(agg "$impl" "$key" 4)" "$unit")-$(fmt "$(agg "$impl" "$key" 5)" "$unit")]"
			if [[ $key != *retr* && $key != *loss* && $key != *drops && $m != *'|info' ]]; then
				r=$(ratio_cell "$impl" "$key" "$med")
				cell="$cell${r:+ $r}"
			fi
			printf '|%s' "$cell"
		done
		echo
	done
} | awk -F'|' '
	{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } if (NF > nf) nf = NF }
	END { for (r = 1; r <= NR; r++) { line = ""; for (i = 1; i <= nf; i++) line = line sprintf("%-" (w[i] + 2) "s", c[r, i]); sub(/ +$/, "", line); print line } }'
ceiling_lines
echo "   throughput, packet and handshake rates: higher is better; CPU/GB (both daemons' CPU seconds per GB received; machine: all of both vCPUs' busy time, iperf3 and softirqs included), RTT, loss, time, memory, retransmits, drops: lower is better"
echo "   UDP: iperf3 -u -b 0 ns1->ns2, packets the receiver got per second; 3 ns: ns1 and ns3 each send one TCP stream to ns2 at once"
echo "   handshakes: $HS_PEERS peers, each from its own address, valid initiations (mac2 once cookies come) within the per-peer and per-source limits; cookies: a ${FLOOD_SECS} s flood of initiations with a valid mac1 from thousands of ports; the generator shares the CPUs"
echo "   RSS: VmRSS of the daemon process (the fast path's BPF maps are kernel memory, not in it); $NPEERS peers, 1 or 2 allowed IPs each, one wg setconf into a fresh daemon"
echo "   drops per run, both ends summed: tx/rx_dropped of the tunnel interfaces (veth for veth), UDP RcvbufErrors+SndbufErrors"
for impl in "${IMPLS[@]}"; do
	brief_impl "$impl" || continue
	echo "   $impl: XWG_BUSY_POLL_US=200 on the fast path; measured for ping, TCP 1 stream ns1->ns2 and UDP ${UDP_SIZES[0]} B only (- elsewhere)"
done
} | tee "$OUTDIR/results.txt"

# JSON and CSV.
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
{
	echo "impl,metric,unit,median,min,max,n,ratio_to_wireguard_go,ratio_to_wireguard_go_modern,samples"
	for m in "${METRICS[@]}"; do
		IFS='|' read -r key label unit better <<<"$m"
		ref=$(agg "$REF_O" "$key" 3)
		refm=$(agg "$REF_M" "$key" 3)
		for impl in "${IMPLS[@]}"; do
			med=$(agg "$impl" "$key" 3)
			[[ -n $med ]] || continue
			r="" rm=""
			[[ $better == info ]] || { r=$(ratio "$med" "$ref"); rm=$(ratio "$med" "$refm"); }
			echo "$impl,$key,$unit,$med,$(agg "$impl" "$key" 4),$(agg "$impl" "$key" 5),$(agg "$impl" "$key" 6),$r,$rm,\"$(agg "$impl" "$key" 7)\""
		done
	done
} >"$OUTDIR/results.csv"
{
	echo "{"
	echo "  \"machine\": {\"nproc\": $NPROC, \"kernel\": $(json_str "$KERNEL"), \"cpu_model\": $(json_str "$CPU_MODEL"), \"mem_gib\": $MEM_GIB, \"loadavg_before\": $(json_str "$LOAD0"), \"loadavg_after\": $(json_str "$LOAD1")},"
	echo "  \"versions\": {\"wireguard_go\": $(json_str "$WGGO_VER"), \"wireguard_go_modern\": $(json_str "$WGGO_MODERN_VER"), \"xwgd\": $(json_str "$XWGD_VER"), \"git\": $(json_str "$GIT_REV"), \"iperf3\": $(json_str "$IPERF_VER")},"
	echo "  \"config\": {\"seconds\": $SECS, \"reps\": $REPS, \"pings\": $PINGS, \"ping_interval_s\": 0.01, \"udp_sizes\": [$(printf '%s,' "${UDP_SIZES[@]}" | sed 's/,$//')], \"peers\": $NPEERS, \"handshake_peers\": $HS_PEERS, \"handshake_seconds\": $HS_SECS, \"flood_seconds\": $FLOOD_SECS, \"quick\": $([[ $QUICK == 1 ]] && echo true || echo false), \"wireguard_go_modern_path\": $(json_str "$WGGO_MODERN"), \"impls\": [$(printf '"%s",' "${IMPLS[@]}" | sed 's/,$//')], \"elapsed_s\": $ELAPSED, \"date\": $(json_str "$(date -u +%FT%TZ)")},"
	printf '  "underlays": {'
	first=1
	for impl in "${IMPLS[@]}"; do
		[[ -n ${OFFLOADS[$impl]:-} ]] || continue
		((first)) || printf ','
		first=0
		read -r da xa ta ua db xb tb ub <<<"${OFFLOAD_RAW[$impl]}"
		printf '\n    "%s": {"ns1": {"dev": "%s", "xdp": "%s", "tcp_segmentation_offload": "%s", "tx_udp_segmentation": "%s"}, "ns2": {"dev": "%s", "xdp": "%s", "tcp_segmentation_offload": "%s", "tx_udp_segmentation": "%s"}}' \
			"$impl" "$da" "$xa" "$ta" "$ua" "$db" "$xb" "$tb" "$ub"
	done
	echo
	echo "  },"
	if [[ -n $CEIL_GBPS ]]; then
		echo "  \"ceiling\": {\"workload\": \"tcp1_fwd\", \"veth_machine_s_per_gb\": $CEIL_VETH_SPG, \"veth_busy_pct\": $CEIL_VETH_BUSY, \"aead\": \"openssl chacha20-poly1305 1420 B, 1 core\", \"aead_seal_mbyte_s\": $AEAD_SEAL, \"aead_open_mbyte_s\": $AEAD_OPEN, \"aead_s_per_gb\": $CEIL_AEAD_SPG, \"s_per_gb\": $CEIL_SPG, \"cpus\": $NPROC, \"gbit_s\": $CEIL_GBPS, \"gbit_s_at_veth_busy_share\": $CEIL_GBPS_BUSY},"
	else
		echo "  \"ceiling\": null,"
	fi
	echo "  \"results\": ["
	first=1
	for m in "${METRICS[@]}"; do
		IFS='|' read -r key label unit better <<<"$m"
		ref=$(agg "$REF_O" "$key" 3)
		refm=$(agg "$REF_M" "$key" 3)
		for impl in "${IMPLS[@]}"; do
			med=$(agg "$impl" "$key" 3)
			[[ -n $med ]] || continue
			r=$(ratio "$med" "$ref")
			rm=$(ratio "$med" "$refm")
			[[ $better != info ]] || { r=""; rm=""; }
			((first)) || echo ","
			first=0
			printf '    {"impl": "%s", "metric": "%s", "label": %s, "unit": "%s", "better": "%s", "median": %s, "min": %s, "max": %s, "n": %s, "ratio_to_wireguard_go": %s, "ratio_to_wireguard_go_modern": %s, "samples": [%s]}' \
				"$impl" "$key" "$(json_str "$label")" "$unit" "$(case $better in hi) echo higher ;; lo) echo lower ;; *) echo none ;; esac)" \
				"$med" "$(agg "$impl" "$key" 4)" "$(agg "$impl" "$key" 5)" "$(agg "$impl" "$key" 6)" "${r:-null}" "${rm:-null}" "$(agg "$impl" "$key" 7)"
		done
	done
	echo
	echo "  ]"
	echo "}"
} >"$OUTDIR/results.json"

# The plot: data files of median, min, max per implementation, then gnuplot.
# plot_name IMPL: the legend's name (the wireguard-go versions told apart).
plot_name() {
	case $1 in
	wireguard-go) echo "wireguard-go ${WGGO_VER:-(Debian)}" ;;
	wireguard-go-modern) echo "wireguard-go ${WGGO_MODERN_VER:-modern}" ;;
	*) echo "$1" ;;
	esac
}
# plot_data FILE "LABEL|KEY"...
plot_data() {
	local file=$1 row label key impl med
	shift
	{
		printf '"workload"'
		for impl in "${IMPLS[@]}"; do printf ' "%s" "%s_min" "%s_max"' "$(plot_name "$impl")" "$impl" "$impl"; done
		echo
		for row in "$@"; do
			IFS='|' read -r label key <<<"$row"
			printf '"%s"' "$label"
			for impl in "${IMPLS[@]}"; do
				med=$(agg "$impl" "$key" 3)
				if [[ -z $med ]]; then printf ' - - -'; continue; fi
				printf ' %s %s %s' "$med" "$(agg "$impl" "$key" 4)" "$(agg "$impl" "$key" 5)"
			done
			echo
		done
	} >"$file"
}
plot_data "$OUTDIR/plot-tcp.dat" "1 fwd|tcp1_fwd_gbps" "1 rev|tcp1_rev_gbps" \
	"4 fwd|tcp4_fwd_gbps" "4 rev|tcp4_rev_gbps" "2 clients|three_tcp1_total_gbps"
udp_rows=()
for size in "${UDP_SIZES[@]}"; do udp_rows+=("$size B|udp${size}_rx_kpps"); done
plot_data "$OUTDIR/plot-udp.dat" "${udp_rows[@]}"
plot_data "$OUTDIR/plot-ping.dat" "idle med|ping_idle_median_ms" "idle p99|ping_idle_p99_ms" \
	"load med|ping_load_median_ms" "load p99|ping_load_p99_ms"
PLOT=""
if command -v gnuplot >/dev/null; then
	ttl="xwg bench $(date -u +%F), git $GIT_REV: $NPROC CPUs, ${CPU_MODEL//[\'\"]/}, Linux $KERNEL; median of $REPS, bars min-max"
	if gnuplot -e "dir='$OUTDIR'; out='$OUTDIR/bench.png'; n=${#IMPLS[@]}; ttl='$ttl'${CEIL_GBPS:+; ceil=$CEIL_GBPS}" \
		"$REPO/bench/plot.gp" 2>"$TMP_DIR/gnuplot.err"; then
		PLOT=", build/bench/bench.png"
	else
		echo "   plot: gnuplot failed: $(tail -n 2 "$TMP_DIR/gnuplot.err" | tr '\n' ' ')" >&2
	fi
else
	echo "   plot: skipped, gnuplot is not installed (apt-get install --no-install-recommends gnuplot-nox)"
fi
echo "   files: build/bench/results.txt, results.json, results.csv$PLOT, build/bench/logs/"

# The AEAD backends and the crypto pool without a network, measured first.
echo
cat "$CRYPTO_OUT"
if ((CRYPTO_RC != 0)); then
	fail "bench/crypto.sh" "exit status $CRYPTO_RC (see above)"
	exit 1
fi
report
