#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Throughput, latency and CPU cost of xwgd against wireguard-go, same run,
# same workloads. Needs root; touches only the namespaces and processes it
# creates (named after its PID, as the selftests do) and removes them on any
# exit.
#
#   make bench                      (builds, then runs this)
#   bench/run.sh                    (as root, after `make`)
#   BENCH_SECONDS=5 BENCH_REPS=3    seconds per iperf3 run, repetitions
#   BENCH_IMPLS="veth wireguard-go xwgd-portable xwgd-xdp"   what to measure,
#                                   in order (xwgd-xdp: XWG_DATAPATH=xdp)
#   BENCH_PINGS=200                 pings per latency sample (at -i 0.01)
#   BENCH_PERF=1                    also `perf record` both xwgd processes
#                                   during one single-stream TCP run
#   XWGD=path/to/xwgd               another daemon binary
#
# Topology: two namespaces joined by a veth (no artificial delay); each
# implementation runs on BOTH ends of its own tunnel; all tunnels are up at
# once and the repetitions are interleaved (rep 1 of every implementation,
# then rep 2, ...) so that a noisy machine biases none of them. "veth" is the
# raw veth without a tunnel: the ceiling.
#
# Workloads per implementation and repetition: iperf3 TCP with 1 and 4
# streams, ns1->ns2 ("fwd") and reversed ("rev", iperf3 -R), receiver
# throughput; CPU seconds of both daemon processes (utime+stime from
# /proc/PID/stat, all threads) per GB received; ping RTT through the idle
# tunnel and under a single-stream TCP load (median, p99, loss); TCP
# retransmits and where packets were dropped (tunnel interfaces' tx/rx_dropped,
# UDP buffer errors).
#
# Output: a table (median [min-max] over the repetitions, and each figure's
# ratio to wireguard-go) on stdout; build/bench/results.json and
# results.csv with every sample; the daemons' logs in build/bench/logs/;
# with BENCH_PERF=1 flat profiles in build/bench/perf-tcp1_{fwd,rev}-ns{1,2}.txt.
# A full run with the defaults takes about 4.5 minutes.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
XWGD=${XWGD:-build/xwgd}
SECS=${BENCH_SECONDS:-5}
REPS=${BENCH_REPS:-3}
PINGS=${BENCH_PINGS:-200}
read -r -a IMPLS <<<"${BENCH_IMPLS:-veth wireguard-go xwgd-portable xwgd-xdp}"
PERF=${BENCH_PERF:-0}
OUTDIR=$REPO/build/bench
IPERF_PORT=5201

# shellcheck source=selftests/lib.sh
source "$REPO/selftests/lib.sh"
require ip wg ping iperf3 ss awk sort timeout

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
	xwgd-portable) echo "$XWGD" ;;
	xwgd-xdp) echo "$XWGD" ;;
	*) return 1 ;;
	esac
}
impl_envvars() {
	case $1 in
	xwgd-portable) echo XWG_DATAPATH=portable ;;
	xwgd-xdp) echo XWG_DATAPATH=xdp ;;
	*) echo "" ;;
	esac
}

for impl in "${IMPLS[@]}"; do
	[[ $impl == veth ]] && continue
	exe=$(impl_exe "$impl") || { fail "prerequisite" "unknown implementation $impl"; exit 1; }
	impl_path "$exe" >/dev/null 2>&1 ||
		{ fail "prerequisite" "$exe cannot be run (build it with \`make\`)"; exit 1; }
done

# ---------------------------------------------------------------------------
# Topology.

ns_create "$ns1" "$ns2"
veth_link "$ns1" veth1 "$ns2" veth2
addr_add "$ns1" veth1 192.0.2.1/24
addr_add "$ns2" veth2 192.0.2.2/24

declare -A DST=() PIDS=() MTU=() IFACES=()
umask 077
k=0
for impl in "${IMPLS[@]}"; do
	k=$((k + 1))
	if [[ $impl == veth ]]; then
		DST[$impl]=192.0.2.2
		IFACES[$impl]="veth1 veth2"
		MTU[$impl]=$(ip -n "$ns1" -o link show veth1 | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
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
	CUR_ENV=$(impl_envvars "$impl")
	exe=$(impl_exe "$impl")
	start_impl "$ns1" "$exe" "$ifa"
	start_impl "$ns2" "$exe" "$ifb"
	PIDS[$impl]="${IMPL_PID[$ifa]} ${IMPL_PID[$ifb]}"
	IFACES[$impl]="$ifa $ifb"
	n1 wg set "$ifa" private-key "$TMP_DIR/$impl.a" listen-port "$porta" \
		peer "$pubb" allowed-ips "10.$((100 + k)).0.2/32" endpoint "192.0.2.2:$portb"
	n2 wg set "$ifb" private-key "$TMP_DIR/$impl.b" listen-port "$portb" \
		peer "$puba" allowed-ips "10.$((100 + k)).0.1/32" endpoint "192.0.2.1:$porta"
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
done

bg_start "$TMP_DIR/iperf3-server.log" ip netns exec "$ns2" iperf3 -s -p "$IPERF_PORT"
# shellcheck disable=SC2317 # called through wait_for
iperf_listening() { ip netns exec "$ns2" ss -Hltn "sport = :$IPERF_PORT" | grep -q LISTEN; }
if ! wait_for 5 iperf_listening; then
	fail "iperf3 server" "not listening on port $IPERF_PORT within 5 s"
	exit 1
fi

# ---------------------------------------------------------------------------
# Measuring.

# cpu_ticks PID...: utime+stime of all threads of the PIDs, in clock ticks.
cpu_ticks() {
	local pid stat sum=0 f
	for pid in "$@"; do
		stat=$(cat "/proc/$pid/stat") || return 1
		stat=${stat##*) }	# fields from 3 (state) on
		read -r -a f <<<"$stat"
		sum=$((sum + f[11] + f[12]))	# fields 14 and 15
	done
	echo "$sum"
}

sample() { echo "$1 $2 $3" >>"$SAMPLES"; }

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

# iperf_run IMPL STREAMS DIR LOG [SECONDS]: one iperf3 client run into LOG,
# retried (up to 3 tries) if the server is still busy with the last one.
iperf_run() {
	local impl=$1 streams=$2 dir=$3 log=$4 secs=${5:-$SECS} rflag=()
	[[ $dir == rev ]] && rflag=(-R)
	for _ in 1 2 3; do
		if ip netns exec "$ns1" timeout -k 5 $((secs + 20)) iperf3 -c "${DST[$impl]}" \
			-p "$IPERF_PORT" -t "$secs" -P "$streams" "${rflag[@]}" -f m -i 0.5 \
			--forceflush --connect-timeout 3000 >"$log" 2>&1; then
			return 0
		fi
		grep -q busy "$log" || break
		wait_for 3 eval "! ip netns exec $ns2 ss -Htn state established '( sport = :$IPERF_PORT )' | grep -q ."
	done
	echo "iperf3 to $impl ($streams streams, $dir) failed: $(tail -n 2 "$log" | tr '\n' ' ')" >&2
	return 1
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

# tcp_workload IMPL REP STREAMS DIR
tcp_workload() {
	local impl=$1 rep=$2 streams=$3 dir=$4 name="tcp${3}_${4}" log c0=0 c1=0 mb dur retr pids
	local u0 t0 r0 u1 t1 r1
	log=$LOG_DIR/iperf-$impl-$name-$rep.log
	read -r -a pids <<<"${PIDS[$impl]:-}"
	read -r u0 t0 r0 < <(drops "$impl")
	((${#pids[@]} == 0)) || c0=$(cpu_ticks "${pids[@]}")
	iperf_run "$impl" "$streams" "$dir" "$log" || return 1
	((${#pids[@]} == 0)) || c1=$(cpu_ticks "${pids[@]}")
	read -r u1 t1 r1 < <(drops "$impl")
	sample "$impl" "${name}_udp_drops" $((u1 - u0))
	sample "$impl" "${name}_if_tx_drops" $((t1 - t0))
	sample "$impl" "${name}_if_rx_drops" $((r1 - r0))
	read -r mb dur retr < <(iperf_result "$log") ||
		{ echo "no iperf3 summary in $log" >&2; return 1; }
	sample "$impl" "${name}_gbps" "$(awk -v m="$mb" 'BEGIN { printf "%.4f", m / 1000 }')"
	sample "$impl" "${name}_retr" "$retr"
	if ((${#pids[@]})); then
		# CPU seconds / (GB = Mbit/s * s / 8000)
		sample "$impl" "${name}_cpu_s_per_gb" "$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" \
			-v m="$mb" -v d="$dur" 'BEGIN { printf "%.3f", (t / hz) / (m * d / 8000) }')"
	fi
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
	local impl=xwgd-portable p pids dir i=0 recs=()
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
				echo "# xwgd in $role, TCP 1 stream $dir, flat profile by DSO then by symbol"
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
		printf 'rep %d/%d %-14s' "$rep" "$REPS" "$impl"
		for streams in 1 4; do
			for dir in fwd rev; do
				tcp_workload "$impl" "$rep" "$streams" "$dir" || exit 1
				printf ' tcp%d_%s=%s' "$streams" "$dir" "$(awk -v i="$impl" -v m="tcp${streams}_${dir}_gbps" \
					'$1 == i && $2 == m { v = $3 } END { print v }' "$SAMPLES")"
			done
		done
		ping_workloads "$impl" "$rep" || exit 1
		echo " ping ok"
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
WGGO_VER=$(wireguard-go --version 2>/dev/null | head -n 1 | awk '{ print $2 }')
XWGD_VER=$("$(impl_path "$XWGD" 2>/dev/null || echo false)" --version 2>/dev/null | head -n 1 || true)
GIT_REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD 2>/dev/null || GIT_REV="$GIT_REV+dirty"
IPERF_VER=$(iperf3 --version | head -n 1 | awk '{ print $2 }')
ELAPSED=$((($(_now_us) - START_US) / 1000000))
MTUS=""
for impl in "${IMPLS[@]}"; do MTUS="$MTUS $impl=${MTU[$impl]}"; done

METRICS=(
	"tcp1_fwd_gbps|TCP 1 stream ns1->ns2|Gbit/s|hi"
	"tcp1_rev_gbps|TCP 1 stream ns2->ns1|Gbit/s|hi"
	"tcp4_fwd_gbps|TCP 4 streams ns1->ns2|Gbit/s|hi"
	"tcp4_rev_gbps|TCP 4 streams ns2->ns1|Gbit/s|hi"
	"tcp1_fwd_cpu_s_per_gb|CPU/GB, TCP 1 fwd|s/GB|lo"
	"tcp1_rev_cpu_s_per_gb|CPU/GB, TCP 1 rev|s/GB|lo"
	"tcp4_fwd_cpu_s_per_gb|CPU/GB, TCP 4 fwd|s/GB|lo"
	"tcp4_rev_cpu_s_per_gb|CPU/GB, TCP 4 rev|s/GB|lo"
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
)

# AGG lines: IMPL METRIC MEDIAN MIN MAX N SAMPLES(comma-separated)
AGG=$TMP_DIR/agg
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

agg() { awk -v i="$1" -v m="$2" -v f="$3" '$1 == i && $2 == m { print $f; found = 1 } END { if (!found) print "" }' "$AGG"; }
# fmt VALUE [UNIT]: about three significant digits; counts as integers.
fmt() { [[ -z $1 ]] && { echo "-"; return; }; awk -v x="$1" -v u="${2:-}" 'BEGIN { if (u == "segs" || u == "pkts") { printf "%d", x; exit } a = x < 0 ? -x : x; if (a >= 100) printf "%.0f", x; else if (a >= 10) printf "%.1f", x; else if (a >= 1) printf "%.2f", x; else printf "%.3f", x }'; }
ratio() { [[ -z $1 || -z $2 ]] && return; awk -v a="$1" -v b="$2" 'BEGIN { if (b != 0) printf "%.2f", a / b }'; }

REF=wireguard-go
have_ref=0
for impl in "${IMPLS[@]}"; do [[ $impl == "$REF" ]] && have_ref=1; done

echo
echo "== Results: median [min-max] of $REPS runs; (x) = ratio to wireguard-go's median"
echo "   machine: $NPROC CPUs, $CPU_MODEL, Linux $KERNEL; load avg $LOAD0 before, $LOAD1 after; ${ELAPSED} s"
echo "   wireguard-go $WGGO_VER, ${XWGD_VER:-xwgd}, git $GIT_REV, iperf3 $IPERF_VER, ${SECS} s per iperf3 run, $PINGS pings at 10 ms; MTU$MTUS"
{
	printf '%s' "metric|unit"
	for impl in "${IMPLS[@]}"; do printf '|%s' "$impl"; done
	echo
	for m in "${METRICS[@]}"; do
		IFS='|' read -r key label unit _ <<<"$m"
		printf '%s|%s' "$label" "$unit"
		ref=""; if ((have_ref)); then ref=$(agg "$REF" "$key" 3); fi
		for impl in "${IMPLS[@]}"; do
			med=$(agg "$impl" "$key" 3)
			if [[ -z $med ]]; then printf '|-'; continue; fi
			cell="$(fmt "$med" "$unit") [$(fmt "$(agg "$impl" "$key" 4)" "$unit")-$(fmt "$(agg "$impl" "$key" 5)" "$unit")]"
			r=$(ratio "$med" "$ref")
			[[ $impl != "$REF" && -n $r && $key != *retr* && $key != *loss* && $key != *drops ]] && cell="$cell (${r}x)"
			printf '|%s' "$cell"
		done
		echo
	done
} | awk -F'|' '
	{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } if (NF > nf) nf = NF }
	END { for (r = 1; r <= NR; r++) { line = ""; for (i = 1; i <= nf; i++) line = line sprintf("%-" (w[i] + 2) "s", c[r, i]); sub(/ +$/, "", line); print line } }'
echo "   throughput: higher is better; CPU/GB (both daemons' CPU seconds per GB received), RTT, loss, retransmits, drops: lower is better"
echo "   drops per run, both ends summed: tx/rx_dropped of the tunnel interfaces (veth for veth), UDP RcvbufErrors+SndbufErrors"

# JSON and CSV.
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
{
	echo "impl,metric,unit,median,min,max,n,ratio_to_wireguard_go,samples"
	for m in "${METRICS[@]}"; do
		IFS='|' read -r key label unit _ <<<"$m"
		ref=""; if ((have_ref)); then ref=$(agg "$REF" "$key" 3); fi
		for impl in "${IMPLS[@]}"; do
			med=$(agg "$impl" "$key" 3)
			[[ -n $med ]] || continue
			echo "$impl,$key,$unit,$med,$(agg "$impl" "$key" 4),$(agg "$impl" "$key" 5),$(agg "$impl" "$key" 6),$(ratio "$med" "$ref"),\"$(agg "$impl" "$key" 7)\""
		done
	done
} >"$OUTDIR/results.csv"
{
	echo "{"
	echo "  \"machine\": {\"nproc\": $NPROC, \"kernel\": $(json_str "$KERNEL"), \"cpu_model\": $(json_str "$CPU_MODEL"), \"loadavg_before\": $(json_str "$LOAD0"), \"loadavg_after\": $(json_str "$LOAD1")},"
	echo "  \"versions\": {\"wireguard_go\": $(json_str "$WGGO_VER"), \"xwgd\": $(json_str "$XWGD_VER"), \"git\": $(json_str "$GIT_REV"), \"iperf3\": $(json_str "$IPERF_VER")},"
	echo "  \"config\": {\"seconds\": $SECS, \"reps\": $REPS, \"pings\": $PINGS, \"ping_interval_s\": 0.01, \"impls\": [$(printf '"%s",' "${IMPLS[@]}" | sed 's/,$//')], \"elapsed_s\": $ELAPSED, \"date\": $(json_str "$(date -u +%FT%TZ)")},"
	echo "  \"results\": ["
	first=1
	for m in "${METRICS[@]}"; do
		IFS='|' read -r key label unit better <<<"$m"
		ref=""; if ((have_ref)); then ref=$(agg "$REF" "$key" 3); fi
		for impl in "${IMPLS[@]}"; do
			med=$(agg "$impl" "$key" 3)
			[[ -n $med ]] || continue
			r=$(ratio "$med" "$ref")
			((first)) || echo ","
			first=0
			printf '    {"impl": "%s", "metric": "%s", "label": %s, "unit": "%s", "better": "%s", "median": %s, "min": %s, "max": %s, "n": %s, "ratio_to_wireguard_go": %s, "samples": [%s]}' \
				"$impl" "$key" "$(json_str "$label")" "$unit" "$([[ $better == hi ]] && echo higher || echo lower)" \
				"$med" "$(agg "$impl" "$key" 4)" "$(agg "$impl" "$key" 5)" "$(agg "$impl" "$key" 6)" "${r:-null}" "$(agg "$impl" "$key" 7)"
		done
	done
	echo
	echo "  ]"
	echo "}"
} >"$OUTDIR/results.json"
echo "   files: build/bench/results.json, build/bench/results.csv, build/bench/logs/"

# The AEAD backends and the crypto pool without a network (about 25 s).
"$REPO/bench/crypto.sh"
report
