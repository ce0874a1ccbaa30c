#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The transport AEAD (ChaCha20-Poly1305) per core for each backend
# (libsodium, OpenSSL 3) at 64, 512, 1420 and 8192 bytes, and the crypto
# pool's own throughput at 1 and 2 threads, without any network: what the
# backend choice in ctl/handshake/crypto.c rests on. Then the handshake per
# core: X25519 and what a responder computes for one handshake, the
# ceiling of handshakes per second per core. No root needed; runs about
# 30 s.
#
#   bench/crypto.sh                  (after `make`)
#   CRYPTO_BENCH_ARGS="-r 7 -c 1"    extra crypto_bench options (runs per
#                                    figure, CPU to pin to; see -h)
#   CRYPTO_BENCH=path/to/crypto_bench
#
# Output: the table on stdout and in build/bench/crypto.txt (with the date,
# git revision, kernel and load average around the run); one key=value
# line per figure in build/bench/crypto.kv, the first (kind=run) saying
# when and where, then kind=machine, kind=aead, kind=handshake and
# kind=pool lines.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BENCH=${CRYPTO_BENCH:-build/tools/crypto_bench}
OUTDIR=build/bench
read -r -a ARGS <<<"${CRYPTO_BENCH_ARGS:-}"

if [[ ! -x $BENCH ]]; then
	echo "bench/crypto.sh: $BENCH is not built; run 'make' first" >&2
	exit 1
fi
mkdir -p "$OUTDIR"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

NPROC=$(nproc)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE=$(date -u +%FT%TZ)
START=$(date +%s)
if ! "$BENCH" -k "$TMP/kv" "${ARGS[@]}" >"$TMP/table"; then
	cat "$TMP/table"
	echo "bench/crypto.sh: crypto_bench failed (see above); nothing written" >&2
	exit 1
fi
ELAPSED=$(($(date +%s) - START))
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

{
	echo "# xwg crypto benchmark $DATE, git $GIT_REV, kernel $(uname -r), ${ELAPSED} s"
	echo "# load average before: $LOAD0, after: $LOAD1 ($NPROC CPUs)"
	cat "$TMP/table"
} >"$OUTDIR/crypto.txt"
{
	echo "kind=run date=$DATE git=$GIT_REV kernel=$(uname -r) nproc=$NPROC" \
		"load_before=${LOAD0%% *} load_after=${LOAD1%% *} elapsed_s=$ELAPSED"
	cat "$TMP/kv"
} >"$OUTDIR/crypto.kv"

cat "$OUTDIR/crypto.txt"
# Other work on the machine lowers the pool's wall-clock figures (the
# per-core ones count only the benchmark thread's CPU time).
if awk -v l="${LOAD1%% *}" -v n="$NPROC" 'BEGIN { exit !(l > n / 2) }'; then
	echo "   note: load average ${LOAD1%% *} on $NPROC CPUs: the pool figures are likely low"
fi
echo "   files: build/bench/crypto.txt, build/bench/crypto.kv"
