#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs every built fuzz target for FUZZ_CI_SECONDS (default 15) from its seed corpus (tests/fuzz/
# seeds.py) and prints TAP: a crash, a sanitizer report, a leak or a timeout of one input fails
# that target, and the input that did it is kept in build/fuzz/ci-artifacts/ to reproduce with
#   build/fuzz/fuzz_X build/fuzz/ci-artifacts/crash-...
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

secs=${FUZZ_CI_SECONDS:-15}
out=build/fuzz
art=$out/ci-artifacts
mkdir -p "$art"
python3 tests/fuzz/seeds.py "$out" || { echo "Bail out! tests/fuzz/seeds.py failed"; exit 1; }

bins=()
for b in "$out"/fuzz_*; do
	[ -f "$b" ] && [ -x "$b" ] && bins+=("$b")
done
if [ ${#bins[@]} -eq 0 ]; then
	echo "1..1"
	echo "not ok 1 - fuzz targets: none built in $out (make fuzz-build)"
	exit 1
fi
echo "1..${#bins[@]}"
n=0
for b in "${bins[@]}"; do
	n=$((n + 1))
	name=$(basename "$b")
	work=$(mktemp -d)
	log=$work/log
	# A fresh corpus each run (seeds are read-only inputs): the CI result depends on the seeds
	# and the time, not on what an earlier run left behind.
	"$b" -max_total_time="$secs" -max_len=20000 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$art/$name-" -print_final_stats=1 "$work" "$out/seeds-$name" \
		>"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
	if [ $rc -eq 0 ]; then
		echo "ok $n - $name: ${secs} s, ${execs:-?} inputs, ${cov:-cov: ?}, no crash or sanitizer report"
	else
		echo "not ok $n - $name: exit $rc"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 8 | sed 's/^/#   /'
	fi
	rm -rf "$work"
done
