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

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
