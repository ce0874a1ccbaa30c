#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages xwg needs to build and test, only those absent,
# without recommended packages (they would pull in kernels).
#   tests/install-deps.sh           what make, make check and make demo need
#   tests/install-deps.sh --bench   and what make bench adds (gnuplot draws
#                                   build/bench/bench.png)
set -euo pipefail

packages=(
	build-essential pkg-config clang llvm libclang-rt-14-dev
	libsodium-dev libb2-dev
	libbpf-dev libxdp-dev bpftool
	libnl-3-dev libnl-route-3-dev
	iproute2 iputils-ping tcpdump wireguard-tools wireguard-go iperf3 ethtool procps
	libcurl4-openssl-dev libjson-c-dev libmicrohttpd-dev containernetworking-plugins openssl libssl-dev
	python3 jq valgrind util-linux curl
	debhelper dpkg-dev fakeroot lintian mandoc systemd
)
case ${1:-} in
--bench) packages+=(gnuplot-nox) ;;
'') ;;
*) echo "usage: tests/install-deps.sh [--bench]" >&2; exit 2 ;;
esac

# promtool checks xwg-mesh's /metrics in the selftests. It comes in Debian's
# prometheus package, whose installation would add a system user and, where
# systemd is not init, start a Prometheus server from its init script: only
# the promtool binary is taken out of the .deb (apt-get download, dpkg-deb),
# into PROMTOOL_DIR; nothing is installed or started. selftests/lib.sh looks
# there when promtool is not in PATH.
PROMTOOL_DIR=${PROMTOOL_DIR:-/var/cache/xwg-tests/prometheus}

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
need_promtool=0
command -v promtool >/dev/null || [[ -x $PROMTOOL_DIR/usr/bin/promtool ]] || need_promtool=1
[[ ${#missing[@]} -eq 0 && $need_promtool -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	# Only the selftests use promtool, and they need root anyway.
	((need_promtool == 0)) ||
		echo "install-deps: no promtool (run this as root to take it from Debian's prometheus package into $PROMTOOL_DIR)" >&2
	[[ ${#missing[@]} -eq 0 ]] && exit 0
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists: fetch them once, when needed.
updated=0
apt_update() { ((updated)) || { apt-get update -qq; updated=1; }; }
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "install-deps: installing ${missing[*]}"
	apt_update
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ((need_promtool)); then
	echo "install-deps: taking promtool from Debian's prometheus package into $PROMTOOL_DIR"
	apt-cache show prometheus >/dev/null 2>&1 || apt_update
	dl=$(mktemp -d)
	trap 'rm -rf "$dl"' EXIT
	# apt's _apt user downloads into a directory it can write (else apt
	# warns and downloads as root).
	chmod 0755 "$dl"
	chown _apt "$dl" 2>/dev/null || true
	(cd "$dl" && apt-get download -qq prometheus)
	mkdir -p "$PROMTOOL_DIR"
	dpkg-deb --fsys-tarfile "$dl"/prometheus_*.deb | tar -x -C "$PROMTOOL_DIR" ./usr/bin/promtool
	"$PROMTOOL_DIR/usr/bin/promtool" --version >/dev/null
fi
