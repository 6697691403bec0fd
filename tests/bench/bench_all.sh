#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# `make bench`, after the user-space micro-benchmarks: tests/bench/bench.sh (Redis) and
# tests/bench/bench_pg.sh (PostgreSQL), each workload in rounds of off / bare probe / agent, then
# their floor tables together in one (see tests/bench/lib.sh).  Prints numbers, asserts nothing
# about them; exits non-zero when either script failed (a tool failed or an agent count was wrong),
# after running the other.
#
# Environment: BENCH_ONLY (redis or pg: run that one alone), and everything the two scripts read:
# BENCH_ROUNDS (5), BENCH_SECONDS (5, per measured run), BENCH_IDLE_SECONDS (10), ...
# A quick check of the scripts: BENCH_ROUNDS=1 BENCH_SECONDS=1 BENCH_IDLE_SECONDS=2 make bench
set -euo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ONLY=${BENCH_ONLY:-}
case $ONLY in "" | redis | pg) ;; *)
	echo "bench: BENCH_ONLY must be redis or pg (got '$ONLY')" >&2
	exit 2
	;;
esac

BENCH_TAG=bench
# shellcheck source=tests/bench/lib.sh
. "$DIR/lib.sh" # for print_summary and bench_legend

BENCH_SUMMARY=$(mktemp /tmp/nexus-bench-summary.XXXXXX)
export BENCH_SUMMARY
trap 'rm -f "$BENCH_SUMMARY"' EXIT
started=$(date '+%Y-%m-%d %H:%M')
load0=$(loadavg)
failed=()
if [ "$ONLY" != pg ]; then bash "$DIR/bench.sh" || failed+=("bench.sh (Redis), status $?"); fi
if [ "$ONLY" != redis ]; then bash "$DIR/bench_pg.sh" || failed+=("bench_pg.sh (PostgreSQL), status $?"); fi

echo
echo "==================== nexus-agent against the floor: $started, $(nproc) CPUs, kernel $(uname -r) ===================="
echo "load average $load0 at the start, $(loadavg) at the end; ${BENCH_ROUNDS:-5} rounds of ~${BENCH_SECONDS:-5} s runs per workload"
print_summary "$BENCH_SUMMARY"
bench_legend
if [ "${#failed[@]}" -gt 0 ]; then
	printf 'bench: FAILED: %s\n' "${failed[@]}" >&2
	exit 1
fi
