# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared helpers for the network-namespace selftests, in the manner of the
# kernel's tools/testing/selftests/wireguard/netns.sh. Source it after
# `set -euo pipefail`; it installs the cleanup trap itself.
#
# Everything a test creates is named after this run ($$), so runs do not
# collide: namespaces "xwg-$$-N", tunnel interfaces "xw$$nN" (tunnel names must
# be unique across namespaces because /var/run/wireguard, where the daemons put
# their sockets, is shared by all of them). Cleanup ends only the processes the
# test started (and whatever runs inside the namespaces it created, such as a
# daemon that wg-quick detached), deletes only its namespaces and removes only
# its sockets.

SELFTESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SELFTESTS_DIR/.." && pwd)
WG_RUN_DIR=/var/run/wireguard
RUN_ID=$$

ns0="xwg-$RUN_ID-0"
ns1="xwg-$RUN_ID-1"
ns2="xwg-$RUN_ID-2"
ns3="xwg-$RUN_ID-3"
n0() { ip netns exec "$ns0" "$@"; }
n1() { ip netns exec "$ns1" "$@"; }
n2() { ip netns exec "$ns2" "$@"; }
n3() { ip netns exec "$ns3" "$@"; }

# tunnel_name N: this run's name for the tunnel interface of node N.
tunnel_name() { echo "xw${RUN_ID}n$1"; }

PASSED=0
FAILED=0
SKIPPED=0
_pids=()		# background processes we started
_namespaces=()		# namespaces we created
_ifnames=()		# tunnel names whose sockets we may leave behind
declare -A IMPL_PID=()	# tunnel name -> PID of the daemon serving it
# tunnel name -> extra VAR=VALUE words for the daemon start_impl starts for
# it (on top of impl_env), e.g. IMPL_ENV[$if1]="XWG_XDP_IFACES=veth1".
declare -A IMPL_ENV=()
_reported=0
TMP_DIR=$(mktemp -d /tmp/xwg-selftest.XXXXXX)
LOG_DIR=$TMP_DIR/logs
mkdir -p "$LOG_DIR"
_out=$TMP_DIR/check-output
_wait_out=$TMP_DIR/wait-output

# ---------------------------------------------------------------------------
# Assertions: one line per assertion, "PASS: ..." or "FAIL: ...: reason".

pass() { PASSED=$((PASSED + 1)); echo "PASS: $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $1${2:+: $2}"; }
# skip DESC REASON: an assertion not made, for a known reason.
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP: $1: $2"; }

# _reason FILE CMD...: why CMD failed: the command and the last line it
# printed into FILE.
_reason() {
	local last file=$1; shift
	last=$(grep -v '^[[:space:]]*$' "$file" 2>/dev/null | tail -n 1 || true)
	echo "\`$*\` failed${last:+ ($last)}"
}

# check DESC CMD...: pass if CMD succeeds now.
check() {
	local desc=$1; shift
	if "$@" >"$_out" 2>&1; then pass "$desc"; else fail "$desc" "$(_reason "$_out" "$@")"; fi
}

# check_not DESC CMD...: pass if CMD fails now (an expected failure).
check_not() {
	local desc=$1; shift
	if "$@" >"$_out" 2>&1; then fail "$desc" "\`$*\` succeeded but must not"; else pass "$desc"; fi
}

# check_within SECONDS DESC CMD...: pass if CMD succeeds before the deadline.
check_within() {
	local secs=$1 desc=$2; shift 2
	if wait_for "$secs" "$@"; then
		pass "$desc"
	else
		fail "$desc" "not within $secs s: $(_reason "$_wait_out" "$@")"
	fi
}

# ---------------------------------------------------------------------------
# Waiting: poll a condition until a deadline; sleep only inside the loop.

_now_us() { echo "${EPOCHREALTIME/./}"; }

# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds (return 0)
# or SECONDS (whole seconds) have passed (return 1). The output of CMD's last
# try is in $_wait_out.
wait_for() {
	local secs=$1; shift
	local deadline=$(($(_now_us) + ${secs%.*} * 1000000))
	while :; do
		if "$@" >"$_wait_out" 2>&1; then
			return 0
		fi
		if (($(_now_us) >= deadline)); then
			return 1
		fi
		sleep 0.1
	done
}

# pid_is_alive PID: true while PID runs (a zombie counts as gone).
pid_is_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

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

# machine_ticks: "BUSY TOTAL", the whole machine's CPU time so far from
# /proc/stat, in clock ticks (busy: all but idle and iowait).
machine_ticks() {
	awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}

# rss_kib PID: its resident memory (VmRSS), in KiB.
rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

# ---------------------------------------------------------------------------
# Topology.

# ns_create NS...: create namespaces with loopback up.
ns_create() {
	local ns
	for ns in "$@"; do
		ip netns add "$ns"
		_namespaces+=("$ns")
		ip -n "$ns" link set lo up
	done
}

# veth_link NS_A IF_A NS_B IF_B: a veth pair from NS_A to NS_B, both ends up.
veth_link() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# tunnel_keys: this run's two key pairs, $TMP_DIR/key1 and key2, and
# their public keys in pub1 and pub2. Sets umask 077 for the rest of the
# test (the files it writes next may hold keys too).
tunnel_keys() {
	umask 077
	wg genkey >"$TMP_DIR/key1"
	wg genkey >"$TMP_DIR/key2"
	# shellcheck disable=SC2034 # for the test that sources this
	pub1=$(wg pubkey <"$TMP_DIR/key1")
	# shellcheck disable=SC2034
	pub2=$(wg pubkey <"$TMP_DIR/key2")
}

# veth_underlay: the two-node layout most tests share: namespaces $ns1 and
# $ns2 joined by veth1 (192.0.2.1/24) and veth2 (192.0.2.2/24).
veth_underlay() {
	ns_create "$ns1" "$ns2"
	veth_link "$ns1" veth1 "$ns2" veth2
	addr_add "$ns1" veth1 192.0.2.1/24
	addr_add "$ns2" veth2 192.0.2.2/24
}

# veth_counts_datagrams NS DEV: make DEV's captures and tx_packets see each
# UDP datagram. xwgd sends a peer's datagrams as UDP GSO messages, and a veth
# carries such a message whole (it would count and capture as one large
# datagram); without the offload the kernel cuts it before DEV, as a real
# NIC's wire would show.
veth_counts_datagrams() {
	ip netns exec "$1" ethtool -K "$2" tx-udp-segmentation off >/dev/null
}

# addr_add NS DEV ADDR/LEN...: add addresses (IPv6 without duplicate address
# detection, so they are usable at once).
addr_add() {
	local ns=$1 dev=$2 a; shift 2
	for a in "$@"; do
		if [[ $a == *:* ]]; then
			ip -n "$ns" -6 addr add "$a" dev "$dev" nodad
		else
			ip -n "$ns" -4 addr add "$a" dev "$dev"
		fi
	done
}

# ---------------------------------------------------------------------------
# Implementations: a path such as build/xwgd (relative to the repository) or a
# command in $PATH such as wireguard-go. Both follow one contract:
# `IMPL -f IFNAME` creates the tunnel interface IFNAME in the current network
# namespace, serves /var/run/wireguard/IFNAME.sock, stays in the foreground,
# exits cleanly on SIGTERM and when the interface is deleted.

# impl_path IMPL: the executable to run for IMPL.
impl_path() {
	local impl=$1
	if [[ $impl == */* ]]; then
		[[ $impl == /* ]] || impl=$REPO_ROOT/$impl
		[[ -x $impl ]] || { echo "$1: no such executable" >&2; return 1; }
		echo "$impl"
	else
		command -v "$impl" || { echo "$1: not in PATH" >&2; return 1; }
	fi
}

# impl_is_wireguard_go IMPL: IMPL is wireguard-go (for its known limits).
impl_is_wireguard_go() { [[ $(basename "$1") == wireguard-go ]]; }

# impl_env: the environment every implementation runs with. wireguard-go
# wants the first variable; LOG_LEVEL makes it log into our log files.
impl_env() {
	echo WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 LOG_LEVEL=verbose
}

_impl_is_ready() {
	local ns=$1 ifname=$2 pid=$3
	pid_is_alive "$pid" || { _impl_exited=1; return 0; }
	[[ -S $WG_RUN_DIR/$ifname.sock ]] && ip -n "$ns" link show dev "$ifname" >/dev/null 2>&1
}

# track_ifname IFNAME: have cleanup remove IFNAME's socket should its daemon
# leave it behind (start_impl does this; call it for daemons started
# otherwise, e.g. by wg-quick).
track_ifname() { _ifnames+=("$1"); }

# start_impl NS IMPL IFNAME: run IMPL in the foreground as a background job in
# NS and wait until its interface and socket exist. Its PID is
# ${IMPL_PID[IFNAME]}; its output goes to $LOG_DIR/IFNAME.log; its
# environment is impl_env's plus ${IMPL_ENV[IFNAME]}. A daemon that does not
# come up ends the test (a FAIL line, cleanup, the summary).
start_impl() {
	local ns=$1 impl=$2 ifname=$3 exe pid log=$LOG_DIR/$3.log
	exe=$(impl_path "$impl" 2>&1) ||
		{ fail "start $impl for $ifname" "$exe"; exit 1; }
	if [[ -e $WG_RUN_DIR/$ifname.sock ]]; then
		fail "start $impl for $ifname" "$WG_RUN_DIR/$ifname.sock already exists"
		exit 1
	fi
	track_ifname "$ifname"
	echo "--- $(date +%T) ${IMPL_ENV[$ifname]:+${IMPL_ENV[$ifname]} }$exe -f $ifname in $ns" >>"$log"
	# shellcheck disable=SC2046,SC2086 # lists of words on purpose
	ip netns exec "$ns" env $(impl_env) ${IMPL_ENV[$ifname]:-} "$exe" -f "$ifname" >>"$log" 2>&1 &
	pid=$!
	_pids+=("$pid")
	IMPL_PID[$ifname]=$pid
	_impl_exited=0
	if ! wait_for 10 _impl_is_ready "$ns" "$ifname" "$pid" || ((_impl_exited)); then
		fail "start $impl for $ifname" "no interface and socket in $ns ($( ((_impl_exited)) &&
			echo "it exited" || echo "after 10 s")); its log:"
		tail -n 5 "$log" | sed 's/^/    /'
		exit 1
	fi
}

# stop_impl IFNAME: SIGTERM the daemon serving IFNAME, wait up to 5 s for it to
# exit. Succeeds only if it exited with status 0 and removed its socket.
stop_impl() {
	local ifname=$1 pid rc=0
	pid=${IMPL_PID[$ifname]:-}
	[[ -n $pid ]] || { echo "stop_impl: no daemon for $ifname" >&2; return 1; }
	unset "IMPL_PID[$ifname]"
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_for 5 eval "! pid_is_alive $pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		echo "stop_impl: $ifname's daemon (PID $pid) ignored SIGTERM for 5 s" >&2
		return 1
	fi
	wait "$pid" 2>/dev/null || rc=$?
	if ((rc != 0)); then
		echo "stop_impl: $ifname's daemon exited with status $rc after SIGTERM" >&2
		return 1
	fi
	if [[ -e $WG_RUN_DIR/$ifname.sock ]]; then
		rm -f "$WG_RUN_DIR/$ifname.sock"
		echo "stop_impl: $ifname's daemon left its socket behind" >&2
		return 1
	fi
}

# impl_exits_within SECONDS IFNAME: the daemon serving IFNAME exits by itself
# (e.g. after its interface was deleted) and leaves no socket behind.
impl_exits_within() {
	local secs=$1 ifname=$2 pid
	pid=${IMPL_PID[$ifname]:-}
	[[ -n $pid ]] || { echo "no daemon for $ifname" >&2; return 1; }
	if ! wait_for "$secs" eval "! pid_is_alive $pid"; then
		echo "$ifname's daemon (PID $pid) still runs after $secs s" >&2
		return 1
	fi
	wait "$pid" 2>/dev/null || true
	unset "IMPL_PID[$ifname]"
	wait_for 1 test ! -e "$WG_RUN_DIR/$ifname.sock" ||
		{ echo "$ifname's daemon left $WG_RUN_DIR/$ifname.sock behind" >&2; return 1; }
}

# bg_start LOG CMD...: run CMD in the background, output to LOG; the PID is
# in $BG_PID and is ended by cleanup if the test does not end it first.
bg_start() {
	local log=$1; shift
	"$@" >"$log" 2>&1 &
	BG_PID=$!
	_pids+=("$BG_PID")
}

# bg_stop PID: end a background job started with bg_start.
bg_stop() {
	kill -INT "$1" 2>/dev/null || true
	wait_for 3 eval "! pid_is_alive $1" || kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------------------
# `wg show` queries. Keys come from `wg genkey`, `wg pubkey` and `wg genpsk`.

# wg_peer_value NS IFNAME PUBKEY WHAT: the value(s) `wg show IFNAME WHAT`
# prints for one peer (WHAT: endpoints, latest-handshakes, transfer, ...).
wg_peer_value() {
	local out
	out=$(ip netns exec "$1" wg show "$2" "$4") || return 1
	awk -v k="$3" '$1 == k { $1 = ""; sub(/^ /, ""); print; found = 1 } END { exit !found }' <<<"$out"
}

# wg_peer_value_is NS IFNAME PUBKEY WHAT WANT
wg_peer_value_is() {
	local v
	v=$(wg_peer_value "$1" "$2" "$3" "$4") && [[ $v == "$5" ]] ||
		{ echo "$4 of ${3:0:8}... on $2 is '${v:-none}', want '$5'"; return 1; }
}

latest_handshake() { wg_peer_value "$1" "$2" "$3" latest-handshakes; }
rx_bytes() { local t; t=$(wg_peer_value "$1" "$2" "$3" transfer) && echo "${t%% *}"; }
tx_bytes() { local t; t=$(wg_peer_value "$1" "$2" "$3" transfer) && echo "${t##* }"; }

# has_handshake NS IFNAME PUBKEY: the peer completed a handshake.
has_handshake() {
	local t
	t=$(latest_handshake "$@") && [[ $t =~ ^[0-9]+$ ]] && ((t > 0)) ||
		{ echo "latest handshake with ${3:0:8}... on $2 is '${t:-none}'"; return 1; }
}

# has_no_handshake NS IFNAME PUBKEY: the peer exists and never completed one.
has_no_handshake() {
	local t
	t=$(latest_handshake "$@") && [[ $t == 0 ]] ||
		{ echo "latest handshake with ${3:0:8}... on $2 is '${t:-none}'"; return 1; }
}

# endpoint_is NS IFNAME PUBKEY ENDPOINT
endpoint_is() {
	local e
	e=$(wg_peer_value "$1" "$2" "$3" endpoints) && [[ $e == "$4" ]] ||
		{ echo "endpoint of ${3:0:8}... on $2 is '${e:-none}', want '$4'"; return 1; }
}

# transfer_is_positive NS IFNAME PUBKEY: rx and tx bytes both > 0.
transfer_is_positive() {
	local rx tx
	rx=$(rx_bytes "$@") && tx=$(tx_bytes "$@") && ((rx > 0 && tx > 0)) ||
		{ echo "transfer with ${3:0:8}... on $2: rx '${rx:-?}' tx '${tx:-?}'"; return 1; }
}

# rx_grows_by NS IFNAME PUBKEY BEFORE MIN: rx bytes now >= BEFORE + MIN.
rx_grows_by() {
	local rx
	rx=$(rx_bytes "$1" "$2" "$3") && ((rx >= $4 + $5)) ||
		{ echo "rx bytes from ${3:0:8}... on $2: ${rx:-?}, want >= $4 + $5"; return 1; }
}

# tx_grows_by NS IFNAME PUBKEY BEFORE MIN: tx bytes now >= BEFORE + MIN.
tx_grows_by() {
	local tx
	tx=$(tx_bytes "$1" "$2" "$3") && ((tx >= $4 + $5)) ||
		{ echo "tx bytes to ${3:0:8}... on $2: ${tx:-?}, want >= $4 + $5"; return 1; }
}

# has_peer NS IFNAME PUBKEY
has_peer() {
	local peers
	peers=$(ip netns exec "$1" wg show "$2" peers) && grep -qxF "$3" <<<"$peers"
}

# ---------------------------------------------------------------------------
# Pings. One echo each with a 1 s timeout: wrap in check_within to allow for
# the handshake.

# pings NS ADDR [PING ARGS...]: one echo request to ADDR gets its reply.
pings() {
	local ns=$1 addr=$2; shift 2
	ip netns exec "$ns" ping -q -n -c 1 -W 1 "$@" "$addr"
}

# ping_gets_nothing NS ADDR [PING ARGS...]: three requests, 1.5 s, no reply.
ping_gets_nothing() {
	local ns=$1 addr=$2; shift 2
	! ip netns exec "$ns" ping -q -n -c 3 -i 0.5 -W 1 "$@" "$addr"
}

# A ping running in the background (bg_start LOG ip netns exec NS ping -n -O
# -i 0.2 ADDR) writes one line per reply and, with -O, "no answer yet" lines
# for requests left unanswered. MARK is a line count taken earlier with
# `wc -l <LOG`: the helpers look only at what came after it.

# ping_log_replies LOG MARK MIN: at least MIN replies after MARK.
ping_log_replies() {
	local n
	n=$(tail -n +"$(($2 + 1))" "$1" | grep -c ' bytes from ' || true)
	((n >= $3)) || { echo "$n replies after line $2 of the ping log, want >= $3"; return 1; }
}

# ping_log_stalled LOG MARK: a request after MARK went unanswered.
ping_log_stalled() {
	tail -n +"$(($2 + 1))" "$1" | grep -E 'no answer yet|Unreachable|not available' >/dev/null ||
		{ echo "every request after line $2 of the ping log was answered"; return 1; }
}

# icmp_in_echos NS: how many ICMP echo requests the kernel of NS received.
icmp_in_echos() {
	ip netns exec "$1" awk '
		$1 == "Icmp:" && !hdr { for (i = 2; i <= NF; i++) if ($i == "InEchos") col = i; hdr = 1; next }
		$1 == "Icmp:" && hdr { print $col; exit }' /proc/net/snmp
}

# icmp_in_echos_is NS N: the kernel of NS received exactly N echo requests.
icmp_in_echos_is() {
	local n
	n=$(icmp_in_echos "$1") && ((n == $2)) ||
		{ echo "$1 received ${n:-?} ICMP echo requests in all, want $2"; return 1; }
}

# conf_without_peer PUBKEY <CONF >CONF: a `wg showconf` file without one peer.
conf_without_peer() {
	awk -v k="$1" '
		/^\[/ { flush(); skip = 0 }
		/^PublicKey *= */ { v = $0; sub(/^PublicKey *= */, "", v); if (v == k) skip = 1 }
		{ sect = sect $0 "\n" }
		function flush() { if (!skip) printf "%s", sect; sect = "" }
		END { flush() }'
}

# ---------------------------------------------------------------------------
# The fast path: xwgd runs it unless XWG_DATAPATH=portable (auto is the
# default, and the selftests need it to load: a fallback would be a failure
# of fastpath_carried).

# impl_wants_fastpath IMPL: IMPL is xwgd and this run is for its fast path.
impl_wants_fastpath() {
	! impl_is_wireguard_go "$1" && [[ ${XWG_DATAPATH:-auto} != portable ]]
}

# _peer_stats_packets PID IFNAME: "RX TX", the packets the pinned peer_stats
# of IFNAME counts over peer ids 1..8 (and all CPUs, if it is per CPU). The
# pins are in the bpffs the daemon mounted in its own mount namespace (`ip
# netns exec` gives it one), so bpftool runs in there: one nsenter, one
# python3.
_peer_stats_packets() {
	local pid=$1 ifname=$2 out
	out=$(nsenter -t "$pid" -m sh -c 'for id in 1 2 3 4 5 6 7 8; do
		bpftool -j map lookup pinned "$0" key "$id" 0 0 0 2>/dev/null && echo; done' \
		"/sys/fs/bpf/xwg/$ifname/peer_stats") || return 1
	# bpftool -j prints a failed lookup as an {"error": ...} object on
	# stdout, with no newline: the objects are taken one after the other.
	python3 -c '
import json, sys
le = lambda b: int.from_bytes(bytes(int(x, 16) for x in b), "little")
text, dec, pos, rx, tx = sys.stdin.read(), json.JSONDecoder(), 0, 0, 0
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos == len(text):
        break
    obj, pos = dec.raw_decode(text, pos)
    # per CPU ("values", one per CPU) or one copy ("value")
    for v in [c["value"] for c in obj.get("values", [])] + ([obj["value"]] if "value" in obj else []):
        rx += le(v[0:8]); tx += le(v[16:24])
print(rx, tx)' <<<"$out"
}

# daemon_env_value PID VAR: the value VAR had in the environment PID was
# started with (empty when unset; fails if PID is gone).
daemon_env_value() {
	local env
	env=$(tr '\0' '\n' <"/proc/$1/environ") || return 1
	sed -n "s/^$2=//p" <<<"$env" | tail -n 1
}

# xwg_attachments NS: the XDP and TC programs attached in NS, as bpftool
# sees them, one a line: "xdp DEV PROG MODE" and "tc DEV KIND PROG" (PROG
# is the program's name, from `bpftool prog show` for XDP).
xwg_attachments() {
	local json
	json=$(ip netns exec "$1" bpftool -j net show) || return 1
	python3 -c '
import json, subprocess, sys
def prog_name(pid):
    out = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(pid)],
                         capture_output=True, text=True).stdout
    try:
        return json.loads(out).get("name", "?")
    except ValueError:
        return "?"
for sect in json.loads(sys.stdin.read()):
    for x in sect.get("xdp", []):
        print("xdp", x["devname"], prog_name(x["id"]), x.get("mode", "?"))
    for t in sect.get("tc", []):
        # bpftool names a TC program "NAME:[ID]"
        print("tc", t["devname"], t.get("kind", "?"), t.get("name", "?").split(":[")[0])' <<<"$json"
}

# veths_in NS: the names of NS's veth interfaces, one a line.
veths_in() {
	ip -n "$1" -o link show type veth | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'
}

# fastpath_carried NS IFNAME: the daemon serving IFNAME in NS runs the fast
# path in the shape it was asked for, and its pinned per-peer counters saw
# packets both ways (the daemon writes them once a second: this polls for
# up to 10 s). The shape, by the daemon's own environment:
#   - tc_tx on IFNAME's egress, always;
#   - IFNAME a TUN device and no twin (XWG_TUNNEL unset or tun), or the veth
#     pair with xdp_twin on the twin IFNAMEx (XWG_TUNNEL=veth);
#   - xdp_rx on every interface of XWG_XDP_IFACES, and on no other veth
#     and not on lo: xwgd picks underlays itself only where XDP costs others
#     nothing (data messages then reach its UDP socket), with or without a
#     list to start from.
fastpath_carried() {
	local ns=$1 ifname=$2 pid=${IMPL_PID[$2]:-} att tunnel ifaces dev counts link
	[[ -n $pid ]] || { echo "no daemon for $ifname" >&2; return 1; }
	tunnel=$(daemon_env_value "$pid" XWG_TUNNEL) &&
		ifaces=$(daemon_env_value "$pid" XWG_XDP_IFACES) ||
		{ echo "the daemon for $ifname (PID $pid) is gone" >&2; return 1; }
	att=$(xwg_attachments "$ns") || { echo "bpftool net show failed in $ns" >&2; return 1; }
	if ! grep -qE "^tc $ifname [a-z]+/egress xwg_tc_tx\$" <<<"$att"; then
		echo "no tc_tx on $ifname's egress in $ns; attached there: ${att:-nothing}" >&2
		return 1
	fi
	link=$(ip -n "$ns" -d -o link show dev "$ifname" 2>&1) || { echo "$link" >&2; return 1; }
	if [[ ${tunnel:-tun} == veth ]]; then
		grep -qE "^xdp ${ifname}x xwg_xdp_twin " <<<"$att" ||
			{ echo "XWG_TUNNEL=veth: no xdp_twin on ${ifname}x in $ns" >&2; return 1; }
	else
		[[ $link == *" tun type tun "* ]] ||
			{ echo "$ifname is no TUN device: $link" >&2; return 1; }
		! ip -n "$ns" link show dev "${ifname}x" >/dev/null 2>&1 ||
			{ echo "a twin ${ifname}x exists next to the TUN $ifname" >&2; return 1; }
		! grep -q "xwg_xdp_twin" <<<"$att" ||
			{ echo "xdp_twin is attached in $ns though $ifname is a TUN" >&2; return 1; }
	fi
	for dev in ${ifaces//,/ }; do
		if ! grep -qE "^xdp $dev xwg_xdp_rx " <<<"$att"; then
			echo "XWG_XDP_IFACES=$ifaces: no xdp_rx on $dev in $ns; attached: ${att:-nothing}" >&2
			return 1
		fi
	done
	for dev in lo $(veths_in "$ns"); do
		[[ ,$ifaces, == *,$dev,* ]] && continue
		! grep -qE "^xdp $dev xwg_xdp_rx " <<<"$att" ||
			{ echo "xdp_rx is attached to $dev in $ns, which XWG_XDP_IFACES (${ifaces:-unset}) does not name" >&2; return 1; }
	done
	_fp_counts_positive() {
		counts=$(_peer_stats_packets "$1" "$2") || return 1
		((${counts% *} > 0 && ${counts#* } > 0))
	}
	wait_for 10 _fp_counts_positive "$pid" "$ifname" ||
		{ echo "peer_stats of $ifname: rx/tx packets ${counts:-unreadable}" >&2; return 1; }
}

# check_fastpath NS IFNAME IMPL LABEL: when IMPL should run its fast path,
# check that it carried the traffic so far.
check_fastpath() {
	local ns=$1 ifname=$2 impl=$3 label=$4
	impl_wants_fastpath "$impl" || return 0
	check "$label: the fast path carried it (programs attached as asked, pinned counters moved)" \
		fastpath_carried "$ns" "$ifname"
}

# ---------------------------------------------------------------------------
# Cleanup and the report.

_kill_all() {
	local pid ns survivors=() deadline
	# Our own background jobs, then anything left inside our namespaces
	# (daemons that wg-quick started and that detached from us).
	for pid in "${_pids[@]}"; do
		pid_is_alive "$pid" && survivors+=("$pid")
	done
	for ns in "${_namespaces[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			survivors+=("$pid")
		done
	done
	((${#survivors[@]})) || return 0
	kill -TERM "${survivors[@]}" 2>/dev/null
	deadline=$(($(_now_us) + 5000000))
	for pid in "${survivors[@]}"; do
		while pid_is_alive "$pid" && (($(_now_us) < deadline)); do
			sleep 0.05
		done
		if pid_is_alive "$pid"; then
			echo "cleanup: PID $pid ignored SIGTERM for 5 s, sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	for pid in "${_pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
}

# cleanup: end our processes, delete our namespaces, remove our sockets and
# temporary files. Idempotent; runs from the EXIT trap at the latest.
cleanup() {
	set +e
	_kill_all
	local ns ifname
	for ns in "${_namespaces[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	_namespaces=()
	for ifname in "${_ifnames[@]}"; do
		rm -f "$WG_RUN_DIR/$ifname.sock" "$WG_RUN_DIR/$ifname.events" "$WG_RUN_DIR/$ifname.takeover"
	done
	_ifnames=()
	_pids=()
	if ((FAILED > 0)) && [[ -d $LOG_DIR ]] && compgen -G "$LOG_DIR/*" >/dev/null; then
		# Keep the daemons' logs of a failed run to look at.
		local keep
		keep=$(mktemp -d /tmp/xwg-selftest-logs.XXXXXX)
		cp -r "$LOG_DIR"/. "$keep"/
		echo "daemon logs kept in $keep" >&2
	fi
	[[ -n ${TMP_DIR:-} ]] && rm -rf "$TMP_DIR"
	TMP_DIR=
}

_summary() {
	echo "$PASSED passed, $FAILED failed$( ((SKIPPED)) && echo ", $SKIPPED skipped")"
}

# report: clean up, print "N passed, N failed" as the last line, exit 1 if
# anything failed.
report() {
	trap - ERR
	_reported=1
	cleanup
	_summary
	((FAILED == 0)) && exit 0
	exit 1
}

_on_exit() {
	local rc=$?
	trap - ERR
	((_reported)) && return
	if ((rc != 0 && FAILED == 0)); then
		fail "aborted" "exit status $rc before the report"
	fi
	cleanup
	_summary
	((FAILED == 0)) || exit 1
}

_on_error() {
	fail "unexpected error" "\`$BASH_COMMAND\` exited $1 (in ${FUNCNAME[1]:-main}, line ${BASH_LINENO[0]} of ${BASH_SOURCE[1]:-?})"
}

set -E
trap '_on_error $?' ERR
trap _on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# require CMD...: abort the test with a clear message if a tool is missing.
require() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { fail "prerequisite" "$c is not installed"; exit 1; }
	done
	[[ $(id -u) -eq 0 ]] || { fail "prerequisite" "network namespaces need root"; exit 1; }
}

# promtool_path: promtool from PATH, else where tests/install-deps.sh puts
# it (only the binary, out of Debian's prometheus package); fails if neither.
promtool_path() {
	command -v promtool ||
		{ local p=${PROMTOOL_DIR:-/var/cache/xwg-tests/prometheus}/usr/bin/promtool
		  [[ -x $p ]] && echo "$p"; }
}

# check_promtool DESC FILE: promtool check metrics finds nothing in FILE (a
# /metrics page); any finding fails, with the findings as the reason.
# Without promtool the check is skipped, saying so.
check_promtool() {
	local desc=$1 file=$2 tool out
	if ! tool=$(promtool_path); then
		skip "$desc" "no promtool (tests/install-deps.sh takes it from Debian's prometheus package)"
		return
	fi
	if out=$("$tool" check metrics <"$file" 2>&1) && [[ -z $out ]]; then
		pass "$desc"
	else
		fail "$desc" "promtool check metrics: $(head -n 5 <<<"$out" | tr '\n' ' ')"
	fi
}

# require_impls IMPL...: end the test unless every implementation can be
# run: with a FAIL, or with a SKIP when it is xwgd that is missing and
# SELFTEST_ALLOW_MISSING_XWGD=1 (run.sh has then said so already).
require_impls() {
	local impl
	for impl in "$@"; do
		impl_path "$impl" >/dev/null 2>&1 && continue
		if ! impl_is_wireguard_go "$impl" && [[ ${SELFTEST_ALLOW_MISSING_XWGD:-0} == 1 ]]; then
			skip "this whole test" "$impl is missing (SELFTEST_ALLOW_MISSING_XWGD=1)"
			report
		fi
		fail "prerequisite" "$impl cannot be run"
		exit 1
	done
}
