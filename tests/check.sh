#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What `make check` runs after the dependencies are in place: the build, the
# unit tests, the unit tests again under ASan+UBSan, the fuzz smoke runs and
# (as root) the network-namespace selftests. Each stage prints its own
# "N passed, N failed"; the last line is the sum.
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc 2>/dev/null || echo 2)
total_pass=0
total_fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Run one stage, echo its output, add its final "N passed, N failed" to the
# totals. A stage that fails without such a line counts as one failure.
stage() {
	local name=$1; shift
	echo "== $name"
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [[ -n $line ]]; then
		local p f
		p=${line%% passed*}
		f=${line#*passed, }; f=${f%% failed*}
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		if [[ $rc -ne 0 && $f -eq 0 ]]; then
			total_fail=$((total_fail + 1))
		fi
	else
		if [[ $rc -eq 0 ]]; then
			total_pass=$((total_pass + 1))
		else
			echo "== $name: FAILED (exit $rc)"
			total_fail=$((total_fail + 1))
		fi
	fi
}

stage build make -j"$jobs" all
stage unit make -s unit
stage "unit (ASan+UBSan)" make -s -j"$jobs" unit OUT=build/san SANITIZE=1
if ls tests/fuzz/*.c >/dev/null 2>&1; then
	stage "fuzz smoke" make -s -j"$jobs" fuzz FUZZ_SECONDS="${FUZZ_SMOKE_SECONDS:-20}"
fi
if [[ $(id -u) -eq 0 ]]; then
	stage selftests make -s selftests
else
	echo "== selftests: NOT RUN (they need root for network namespaces)"
fi
# make install, the Debian package, the systemd units, the manual pages (the
# parts that need root say so when not run as root).
stage package tests/package.sh

echo "$total_pass passed, $total_fail failed"
[[ $total_fail -eq 0 ]]
