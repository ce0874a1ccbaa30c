#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make check's "package" stage (issue 16): xwg installed as a system service.
#
#   1. the manual pages pass `mandoc -T lint`;
#   2. `make install` into a scratch PREFIX puts every file where it belongs,
#      its systemd units pass `systemd-analyze verify`, `make uninstall`
#      removes every file again;
#   3. (root) `make deb` builds build/deb/xwg_VERSION_amd64.deb (the programs
#      compiled once more with Debian's hardening flags, tests skipped: the
#      unit stage ran them), lintian passes it;
#   4. (root) `apt-get install ./build/deb/xwg_*.deb`; the installed units
#      pass `systemd-analyze verify`, and their exposure score is printed;
#   5. (root) the installed xwgd runs a tunnel with exactly the units'
#      capability bounding set, on the fast path and on the portable path;
#      with each capability fewer it stops or falls back, saying so;
#   6. (root) wg-quick, with the environment of the installed drop-in for
#      wg-quick@.service, starts the installed xwgd;
#   7. (root) the tunnel demo runs against /usr/sbin/xwgd;
#   8. (root) `apt-get purge xwg` leaves none of the files dpkg -L listed.
#
# The machine has no running systemd (no PID 1 manager): the units are
# verified and scored offline, and the sandbox's capability set is applied
# with setpriv(1) rather than by systemd.
#
#  capability runs (5): ┌──────────────────────────┐      ┌──────────────────────────┐
#                       │ $ns1: xwgd under setpriv │ veth │ $ns2: wireguard-go       │
#                       │ 10.0.0.1  192.0.2.1 ─────┼──────┼─ 192.0.2.2  10.0.0.2     │
#                       └──────────────────────────┘      └──────────────────────────┘
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=selftests/lib.sh
source selftests/lib.sh

version=$(sed -n 's/^#define XWG_VERSION "\(.*\)"$/\1/p' ctl/xwgd.c)
deb=build/deb/xwg_${version}_amd64.deb
# The units' bounding set, as the capability runs use it.
unit_caps() {
	sed -n 's/^CapabilityBoundingSet=//p' "$1" | tr ' ' '\n' | sed 's/^CAP_//' |
		tr 'A-Z' 'a-z' | paste -sd, -
}

# Test that every manual page is lint-clean (warnings and worse; the
# "style" level only reports pages missing from this machine's man database).
for page in man/*.8; do
	check "mandoc -T lint $page" mandoc -T lint -W warning "$page"
done

# Test that make install puts every file into PREFIX and make uninstall
# takes every one away again. PREFIX rather than DESTDIR: the units then
# name programs that exist, as systemd-analyze verify wants.
prefix=$TMP_DIR/prefix
inst=(make -s install PREFIX="$prefix" CNI_BIN_DIR="$prefix/cni")
check "make install PREFIX=..." "${inst[@]}"
for f in sbin/xwgd sbin/xwg-mesh cni/xwg-cni share/man/man8/xwgd.8 \
	share/man/man8/xwg-mesh.8 share/man/man8/xwg-cni.8 \
	lib/systemd/system/xwgd@.service lib/systemd/system/xwg-mesh.service \
	lib/systemd/system/xwg-exporter@.service \
	lib/systemd/system/wg-quick@.service.d/xwgd.conf share/doc/xwg/README.md; do
	check "make install wrote $f" test -s "$prefix/$f"
done
check "the installed units name the installed programs" \
	grep -q "^ExecStart=$prefix/sbin/xwgd " "$prefix/lib/systemd/system/xwgd@.service"
if command -v systemd-analyze >/dev/null; then
	for u in xwgd@.service xwg-mesh.service xwg-exporter@.service; do
		# MANPATH: verify checks that man:xwgd(8) and the like exist.
		check "systemd-analyze verify $u (make install)" env MANPATH="$prefix/share/man:" \
			systemd-analyze verify "$prefix/lib/systemd/system/$u"
	done
else
	fail "systemd-analyze verify" "systemd-analyze is missing (Debian's systemd package; tests/install-deps.sh installs it)"
fi
check "make uninstall" make -s uninstall PREFIX="$prefix" CNI_BIN_DIR="$prefix/cni"
check "make uninstall left no file" test -z "$(find "$prefix" ! -type d)"

if [[ $(id -u) -ne 0 ]]; then
	echo "package: the Debian package, its installation, the capability runs, the demo"
	echo "package: and the purge were NOT RUN (they need root: apt-get, network namespaces)"
	report
fi
require ip wg ping setpriv wireguard-go lintian dpkg-buildpackage

# Test that make deb builds the package and lintian finds nothing.
# A package of the same version already installed would stay as it is.
if dpkg-query -W -f='${Status}' xwg 2>/dev/null | grep -q 'installed'; then
	echo "package: xwg was installed before this test: purged, then installed from the new build and purged again"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q xwg >/dev/null
fi
rm -f build/deb/xwg_*.deb
if DEB_BUILD_OPTIONS=nocheck make -s deb >"$LOG_DIR/deb.log" 2>&1 && [[ -s $deb ]]; then
	pass "make deb built $deb"
else
	fail "make deb" "$(tail -n 5 "$LOG_DIR/deb.log")"
	report
fi
check "lintian (errors and warnings; overrides in debian/xwg.lintian-overrides)" \
	lintian --fail-on error,warning "build/deb/xwg_${version}_amd64.changes"

# Test that apt installs the package with its dependencies.
export DEBIAN_FRONTEND=noninteractive
if apt-get install -y -q --no-install-recommends "./$deb" >"$LOG_DIR/apt.log" 2>&1; then
	pass "apt-get install ./$deb"
else
	fail "apt-get install ./$deb" "$(tail -n 3 "$LOG_DIR/apt.log")"
	report
fi
# Purge at the end whatever happens in between.
trap 'apt-get purge -y -q xwg >/dev/null 2>&1 || true; _on_exit' EXIT
mapfile -t owned < <(dpkg -L xwg)
check "xwgd --version is the package's" eval "[[ \$(/usr/sbin/xwgd --version) == 'xwgd $version' ]]"
for u in xwgd@wg0.service xwg-mesh.service wg-quick@wg0.service xwg-exporter@wg0.service \
	"$(systemd-escape --template=xwg-exporter@.service wg0,wg1)"; do
	check "systemd-analyze verify $u (installed)" systemd-analyze verify "$u"
done
for u in xwgd@wg0.service xwg-mesh.service xwg-exporter@wg0.service; do
	score=$(systemd-analyze security --offline=true "$u" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: //p')
	echo "package: systemd-analyze security --offline=true $u: ${score:-not computed}"
done

# xwg_run CAPS WHAT [VAR=VALUE...]: start the installed xwgd in $ns1 under
# setpriv with exactly the bounding set CAPS (comma-separated, lower case,
# without CAP_), with bpffs mounted as systemd has it (ip netns exec gives
# the daemon a fresh /sys), and wait until it serves its socket or exits.
# Its log is $LOG_DIR/$if1.log.
xwg_run() {
	local caps=$1 bset=-all c; shift
	for c in ${caps//,/ }; do bset+=",+$c"; done
	: >"$LOG_DIR/$if1.log"
	track_ifname "$if1"
	ip netns exec "$ns1" sh -c 'mount -t bpf bpf /sys/fs/bpf && exec "$@"' sh \
		setpriv --bounding-set="$bset" --inh-caps=-all --ambient-caps=-all \
		env LOG_LEVEL=info "$@" /usr/sbin/xwgd -f "$if1" >>"$LOG_DIR/$if1.log" 2>&1 &
	IMPL_PID[$if1]=$!
	_pids+=("$!")
	wait_for 10 eval "[[ -S $WG_RUN_DIR/$if1.sock ]] || ! pid_is_alive ${IMPL_PID[$if1]}" || true
}

# xwg_stop: end the daemon xwg_run started (it may have exited already).
xwg_stop() {
	local pid=${IMPL_PID[$if1]}
	kill -TERM "$pid" 2>/dev/null || true
	wait_for 5 eval "! pid_is_alive $pid" || kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$WG_RUN_DIR/$if1.sock"
}

# logged REGEX: the daemon's log says so.
logged() { grep -Eq "$1" "$LOG_DIR/$if1.log"; }

# A tunnel through the daemon xwg_run started, to wireguard-go in $ns2.
tunnel_pings() {
	n1 wg set "$if1" private-key "$TMP_DIR/key1" listen-port 10001 \
		peer "$pub2" allowed-ips 10.0.0.2/32 endpoint 192.0.2.2:10002 &&
		ip -n "$ns1" address add 10.0.0.1/24 dev "$if1" &&
		ip -n "$ns1" link set "$if1" up &&
		wait_for 10 pings "$ns1" 10.0.0.2 && pings "$ns2" 10.0.0.1
}

# missing_named CAP DESC: the log names CAP as what is missing.
missing_named() {
	if logged "CAP_$1"; then
		pass "$2 names CAP_$1"
	else
		fail "$2 names CAP_$1" "the log says: $(grep -v DEBUG "$LOG_DIR/$if1.log" | tail -n 2 | tr '\n' ' ')"
	fi
}

if1=$(tunnel_name 1)
if2=$(tunnel_name 2)
tunnel_keys
veth_underlay
start_impl "$ns2" wireguard-go "$if2"
n2 wg set "$if2" private-key "$TMP_DIR/key2" listen-port 10002 \
	peer "$pub1" allowed-ips 10.0.0.1/32 endpoint 192.0.2.1:10001
ip -n "$ns2" address add 10.0.0.2/24 dev "$if2"
ip -n "$ns2" link set "$if2" up

caps=$(unit_caps /lib/systemd/system/xwgd@.service)
check "xwgd@.service and xwg-mesh.service bound the same capabilities" \
	eval "[[ $caps == $(unit_caps /lib/systemd/system/xwg-mesh.service) ]]"
echo "package: the units' capabilities: $caps"

# Test that the units' capability set runs a tunnel: the default fast path,
# the fast path receiving through AF_XDP on the underlay, the portable path.
for how in "fast path (default)|" "fast path, AF_XDP on veth1|XWG_DATAPATH=xdp XWG_XDP_IFACES=veth1" \
	"portable path|XWG_DATAPATH=portable"; do
	what=${how%%|*}
	# shellcheck disable=SC2086 # a list of words on purpose
	xwg_run "$caps" ${how#*|}
	if tunnel_pings >"$_out" 2>&1; then
		pass "with {$caps} xwgd runs a tunnel: $what"
	else
		fail "with {$caps} xwgd runs a tunnel: $what" "$(grep -v DEBUG "$LOG_DIR/$if1.log" | tail -n 2 | tr '\n' ' ')"
	fi
	case $what in
	"portable path") check "... and says it runs the portable path" logged 'data path: portable' ;;
	*AF_XDP*) check "... and says it receives through AF_XDP" logged 'xdp_rx on veth1 .*, [1-9][0-9]* AF_XDP socket' ;;
	*) check "... and says it runs the fast path" logged 'data path: xdp' ;;
	esac
	xwg_stop
done

# caps_without CAP: the units' set without CAP.
caps_without() { tr ',' '\n' <<<"$caps" | grep -vx "$1" | paste -sd, -; }

# Test that with one capability fewer xwgd stops or falls back, and says
# which capability is missing.
xwg_run "$(caps_without net_admin)"
check_not "without CAP_NET_ADMIN xwgd does not start" test -S "$WG_RUN_DIR/$if1.sock"
missing_named NET_ADMIN "without CAP_NET_ADMIN its message" 'ERROR'
xwg_stop
xwg_run "$(caps_without bpf)"
check "without CAP_BPF xwgd falls back to the portable path" logged 'data path: portable'
missing_named BPF "without CAP_BPF its message" 'data path'
xwg_stop
xwg_run "$(caps_without perfmon)" XWG_XDP_IFACES=veth1
check "without CAP_PERFMON xwgd falls back to the portable path" logged 'data path: portable'
missing_named PERFMON "without CAP_PERFMON its message" 'data path'
xwg_stop
xwg_run "$(caps_without net_raw)" XWG_XDP_IFACES=veth1
check "without CAP_NET_RAW xwgd runs without AF_XDP sockets" logged 'no AF_XDP socket on veth1'
missing_named NET_RAW "without CAP_NET_RAW its message" 'no AF_XDP socket'
xwg_stop
xwg_run "$(caps_without ipc_lock)"
check "without CAP_IPC_LOCK xwgd says the keys' memory is not locked" logged 'cannot lock memory'
missing_named IPC_LOCK "without CAP_IPC_LOCK its message" 'cannot lock memory'
xwg_stop

# serves_with EXE IFNAME: the daemon serving IFNAME (started as `EXE IFNAME`,
# as wg-quick starts it) runs EXE.
serves_with() {
	local pid
	pid=$(pgrep -x -f "$1 $2") && [[ $(readlink "/proc/${pid%%$'\n'*}/exe") == "$1" ]] &&
		wg show "$2" >/dev/null 2>&1
}

# Test that wg-quick, given the drop-in's environment, starts the installed
# xwgd (where the kernel has a WireGuard module, wg-quick uses that instead).
dropin=/lib/systemd/system/wg-quick@.service.d/xwgd.conf
impl=$(sed -n 's/^Environment=WG_QUICK_USERSPACE_IMPLEMENTATION=//p' "$dropin")
check "the wg-quick drop-in names /usr/sbin/xwgd" test "$impl" = /usr/sbin/xwgd
if [[ -e /sys/module/wireguard ]]; then
	skip "wg-quick starts xwgd through the drop-in" "the kernel's WireGuard module is loaded: wg-quick uses it"
else
	wq=$(tunnel_name 3)
	printf '[Interface]\nPrivateKey = %s\nAddress = 10.9.0.1/24\n' "$(cat "$TMP_DIR/key1")" >"$TMP_DIR/$wq.conf"
	track_ifname "$wq"
	if ip netns exec "$ns1" env WG_QUICK_USERSPACE_IMPLEMENTATION="$impl" \
		wg-quick up "$TMP_DIR/$wq.conf" >"$LOG_DIR/wg-quick.log" 2>&1; then
		check "wg-quick up with the drop-in's environment starts /usr/sbin/xwgd" \
			serves_with /usr/sbin/xwgd "$wq"
		check "wg-quick down" ip netns exec "$ns1" wg-quick down "$TMP_DIR/$wq.conf"
	else
		fail "wg-quick up with the drop-in's environment" "$(tail -n 3 "$LOG_DIR/wg-quick.log")"
	fi
fi

# Test that the demo runs against the installed daemon.
if XWGD=/usr/sbin/xwgd selftests/demo.sh >"$LOG_DIR/demo.log" 2>&1; then
	pass "XWGD=/usr/sbin/xwgd selftests/demo.sh ($(tail -n 1 "$LOG_DIR/demo.log"))"
else
	fail "XWGD=/usr/sbin/xwgd selftests/demo.sh" "$(grep -E '^FAIL' "$LOG_DIR/demo.log" | head -n 3 | tr '\n' ' ')"
fi

# Test that purging leaves nothing of what the package installed: no file,
# and no directory that no other package owns.
if apt-get purge -y -q xwg >"$LOG_DIR/purge.log" 2>&1; then
	pass "apt-get purge xwg"
else
	fail "apt-get purge xwg" "$(tail -n 3 "$LOG_DIR/purge.log")"
fi
left=()
for f in "${owned[@]}"; do
	[[ $f == /. ]] && continue
	if [[ -d $f ]]; then
		# /lib and the like are links to /usr/lib: the system's, not ours.
		[[ -L $f ]] || dpkg-query -S "$f" >/dev/null 2>&1 || left+=("$f")
	elif [[ -e $f || -L $f ]]; then
		left+=("$f")
	fi
done
check "the purge left none of the package's ${#owned[@]} paths" eval "((${#left[@]} == 0)) || { printf '%s\n' ${left[*]:-}; false; }"
check "dpkg knows no xwg any more" eval "! dpkg-query -W -f='\${Status}' xwg 2>/dev/null | grep -q installed"
trap _on_exit EXIT
report
