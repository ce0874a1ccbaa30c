#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Run every selftest (selftests/*.sh but lib.sh, run.sh and demo.sh), in name
# order, for each configuration in turn. A script that reads LEFT and RIGHT
# runs in every configuration:
#
#   LEFT=wireguard-go RIGHT=wireguard-go   the harness checked against itself
#   LEFT=build/xwgd   RIGHT=wireguard-go   \  when build/xwgd exists; xwgd
#   LEFT=wireguard-go RIGHT=build/xwgd      } on its default data path, the
#   LEFT=build/xwgd   RIGHT=build/xwgd     /   XDP fast path
#   LEFT=build/xwgd   RIGHT=build/xwgd     XWG_DATAPATH=portable (TUN + UDP)
#
# the others run once, in the first. Each script ends with "N passed, N
# failed"; the last line here is their sum. A missing build/xwgd is a failure
# (a daemon that was not tested has not passed) unless
# SELFTEST_ALLOW_MISSING_XWGD=1.
#
#   selftests/run.sh                       (as root; `make selftests` builds first)
#   XWGD=path/to/xwgd selftests/run.sh     (another daemon binary)
#   SELFTEST_TIMEOUT=300                   (seconds one script may take)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

XWGD=${XWGD:-build/xwgd}
TIMEOUT=${SELFTEST_TIMEOUT:-300}
total_pass=0
total_fail=0
total_skip=0
log=$(mktemp /tmp/xwg-selftest-run.XXXXXX)
trap 'rm -f "$log"' EXIT

# tally NAME: add the summary line of the script that just wrote $log to the
# totals; a script that failed without one counts as one failure.
tally() {
	local name=$1 rc=$2 line p f s=0
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [[ -z $line ]]; then
		if ((rc == 0)); then
			total_pass=$((total_pass + 1))
		else
			echo "FAIL: $name exited with status $rc and no summary line"
			total_fail=$((total_fail + 1))
		fi
		return
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	[[ $line =~ ([0-9]+)\ skipped ]] && s=${BASH_REMATCH[1]}
	if ((rc != 0 && f == 0)); then
		echo "FAIL: $name exited with status $rc"
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
}

# run_script SCRIPT [VAR=VALUE...]: run one selftest with that environment.
run_script() {
	local script=$1 rc; shift
	echo
	echo "=== $script${*:+ ($*)}"
	env "$@" timeout --foreground -k 15 "$TIMEOUT" bash "$script" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	((rc == 124)) && echo "FAIL: $script took longer than $TIMEOUT s"
	tally "$script" "$rc"
}

if [[ $(id -u) -ne 0 ]]; then
	echo "run.sh: the selftests need root (network namespaces)"
	echo "0 passed, 1 failed"
	exit 1
fi

configs=("wireguard-go wireguard-go")
if [[ -x $XWGD ]]; then
	configs+=("$XWGD wireguard-go" "wireguard-go $XWGD" "$XWGD $XWGD" "$XWGD $XWGD portable")
else
	echo "run.sh: $XWGD does not exist or is not executable (run \`make\` first):"
	echo "run.sh: only wireguard-go against itself was tested, xwgd NOT AT ALL."
	if [[ ${SELFTEST_ALLOW_MISSING_XWGD:-0} == 1 ]]; then
		echo "run.sh: SELFTEST_ALLOW_MISSING_XWGD=1, so that is not counted as a failure."
	else
		echo "FAIL: $XWGD is missing (set SELFTEST_ALLOW_MISSING_XWGD=1 to allow that)"
		total_fail=$((total_fail + 1))
	fi
fi

scripts=()
for script in selftests/*.sh; do
	case ${script##*/} in
	lib.sh | run.sh | demo.sh) continue ;;
	esac
	scripts+=("$script")
done

first=1
for config in "${configs[@]}"; do
	read -r left right datapath <<<"$config"
	for script in "${scripts[@]}"; do
		if grep -q '^LEFT=\${LEFT' "$script"; then
			run_script "$script" LEFT="$left" RIGHT="$right" \
				${datapath:+XWG_DATAPATH=$datapath}
		elif ((first)); then
			run_script "$script"
		fi
	done
	first=0
done

echo
echo "$total_pass passed, $total_fail failed$( ((total_skip)) && echo ", $total_skip skipped")"
((total_fail == 0))
