#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Overhead benchmark for nexus-agent against a throwaway redis-server.  `make bench` runs it after
# building.  It prints numbers and asserts nothing; it fails only when it cannot measure.
#
# Phases:
#   a) baseline redis-benchmark throughput, no agent
#   b) target cost: agent traces the redis-server pid; BPF ns per program run and per captured
#      event (kernel.bpf_stats_enabled), agent CPU per event, events captured / lost
#   c) non-target cost: agent traces only an idle `sleep` process; BPF ns per program run is then
#      the price every other process pays per syscall of interest
#   d) 3x alternating with/without agent (target mode), median throughput ratio
#
# Environment: NEXUS_AGENT (agent binary, default <repo>/build/nexus-agent),
#              BENCH_CLIENTS (50), BENCH_REQUESTS (200000), BENCH_ALT_REQUESTS (100000).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
AGENT=${NEXUS_AGENT:-$REPO/build/nexus-agent}
CLIENTS=${BENCH_CLIENTS:-50}
REQUESTS=${BENCH_REQUESTS:-200000}
ALT_REQUESTS=${BENCH_ALT_REQUESTS:-100000}
BENCH_TIMEOUT=150 # seconds, per redis-benchmark run
ATTACH_TIMEOUT=30 # seconds to wait for "nexus-agent: attached"

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: FAILED: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (loads BPF programs and sets kernel.bpf_stats_enabled); run: sudo $0"
[ -x "$AGENT" ] || die "agent binary $AGENT not found; run 'make' first"
for t in redis-server redis-cli redis-benchmark bpftool curl python3 awk timeout; do
	command -v "$t" >/dev/null 2>&1 || die "'$t' not found; run deploy/install-deps.sh"
done

TMP=$(mktemp -d /tmp/nexus-bench.XXXXXX)
REDIS_PID=
SLEEP_PID=
AGENT_PID=
OLD_STATS=

stop_agent() {
	# stop_agent: SIGINT the running agent, wait up to 10 s, then SIGKILL; warn on a non-zero exit.
	[ -n "$AGENT_PID" ] || return 0
	local pid=$AGENT_PID rc=0 i
	AGENT_PID=
	kill -INT "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "WARNING: agent pid $pid ignored SIGINT for 10 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	[ "$rc" -eq 0 ] || log "WARNING: agent exited with status $rc after SIGINT (expected 0)"
	return 0
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_agent
	if [ -n "$REDIS_PID" ]; then
		kill -TERM "$REDIS_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
	fi
	if [ -n "$SLEEP_PID" ]; then
		kill -KILL "$SLEEP_PID" 2>/dev/null || true
		wait "$SLEEP_PID" 2>/dev/null || true
	fi
	if [ -n "$OLD_STATS" ]; then sysctl -q -w kernel.bpf_stats_enabled="$OLD_STATS" >/dev/null 2>&1 || true; fi
	if [ "$rc" -ne 0 ] && [ -d "$TMP" ]; then
		for f in "$TMP"/agent*.log "$TMP"/redis.log; do
			[ -s "$f" ] || continue
			log "---- last lines of $(basename "$f") ----"
			tail -n 15 "$f" >&2 || true
		done
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null && return 0
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
	done
	die "no free TCP port found"
}

# div A B [FMT]: A/B, or n/a when B is 0 or either is not a number.
div() {
	awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" 'BEGIN {
		if (a !~ /^-?[0-9.eE+]+$/ || b !~ /^-?[0-9.eE+]+$/ || b + 0 == 0) { print "n/a"; exit }
		printf f "\n", a / b }'
}
now() { date +%s.%N; }

# ---------------------------------------------------------------------------------------------
# redis-server and an idle non-target process
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
	--daemonize no --logfile "$TMP/redis.log" --protected-mode no &
REDIS_PID=$!
for _ in $(seq 1 100); do
	[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
	kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited at startup (see $TMP/redis.log)"
	sleep 0.1
done
[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] || die "redis-server on port $REDIS_PORT did not answer PING within 10 s"
sleep 600 &
SLEEP_PID=$!
log "redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT; idle non-target pid $SLEEP_PID; agent $AGENT"

OLD_STATS=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null) || die "cannot read kernel.bpf_stats_enabled"
sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null || die "cannot set kernel.bpf_stats_enabled=1"

# ---------------------------------------------------------------------------------------------
# helpers around redis-benchmark, the agent, bpftool and /proc

# run_bench TESTS REQUESTS: runs redis-benchmark, prints "TEST rps" lines (one per test) to stdout.
run_bench() {
	local tests=$1 n=$2 out
	out=$(timeout -k 5 "$BENCH_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CLIENTS" -n "$n" \
		-t "$tests" -q 2>&1) || die "redis-benchmark -t $tests -n $n failed or took over ${BENCH_TIMEOUT}s: $(printf '%s' "$out" | tr '\r' '\n' | tail -n 3)"
	# -q prints progress lines separated by \r, then "SET: 123456.78 requests per second, p50=..."
	printf '%s\n' "$out" | tr '\r' '\n' | awk -F': ' '/requests per second/ {
		split($2, a, " "); print $1, a[1] }' | awk '!seen[$1]++' || true
}

# rps_of TEST <<< "$(run_bench ...)": throughput of one test
rps_of() { awk -v t="$1" '$1 == t { print $2; exit }'; }
# sum_rps: total requests per second over all tests
sum_rps() { awk '{ s += $2 } END { printf "%.2f\n", s }'; }

# start_agent LOGNAME ARGS...: starts `nexus-agent run ARGS`, waits for "nexus-agent: attached".
METRICS_PORT=
start_agent() {
	local name=$1
	shift
	METRICS_PORT=$(free_port)
	"$AGENT" run --listen "127.0.0.1:$METRICS_PORT" "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" &
	AGENT_PID=$!
	local deadline=$((SECONDS + ATTACH_TIMEOUT))
	while ! grep -q '^nexus-agent: attached' "$TMP/$name.log" 2>/dev/null; do
		kill -0 "$AGENT_PID" 2>/dev/null || {
			local rc=0
			wait "$AGENT_PID" 2>/dev/null || rc=$?
			AGENT_PID=
			die "agent exited with status $rc before attaching: $(tail -n 5 "$TMP/$name.log" | tr '\n' ' ')"
		}
		[ "$SECONDS" -lt "$deadline" ] || die "agent did not print 'nexus-agent: attached' within ${ATTACH_TIMEOUT}s"
		sleep 0.1
	done
	# the metrics endpoint must answer before we take snapshots
	for _ in $(seq 1 50); do
		curl -sf -m 2 "http://127.0.0.1:$METRICS_PORT/metrics" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "agent attached but http://127.0.0.1:$METRICS_PORT/metrics does not answer"
}

# metric NAME: value of a Prometheus sample (summed over label sets) from the running agent.
metric() {
	curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null | awk -v n="$1" '
		$1 == n || index($1, n "{") == 1 { s += $NF; found = 1 }
		END { if (found) printf "%.0f\n", s; else print "n/a" }'
}

# agent_prog_ids: ids of the BPF programs the running agent holds (prog and link fds carry
# "prog_id:" in fdinfo), so concurrently running agents do not pollute the numbers.
agent_prog_ids() {
	[ -n "$AGENT_PID" ] || return 0
	cat /proc/"$AGENT_PID"/fdinfo/* 2>/dev/null | awk '$1 == "prog_id:" { print $2 }' | sort -un | tr '\n' ' '
}

# bpf_snapshot: prints "run_time_ns run_cnt nprogs" summed over the agent's nx_ programs.
bpf_snapshot() {
	local ids
	ids=$(agent_prog_ids)
	bpftool prog show -j 2>/dev/null | IDS="$ids" python3 -c '
import json, os, sys
ids = {int(x) for x in os.environ.get("IDS", "").split()}
progs = [p for p in json.load(sys.stdin) if p.get("name", "").startswith("nx_")]
mine = [p for p in progs if p["id"] in ids]
if not progs:
    print("bench: WARNING: no BPF programs named nx_* are loaded; BPF cost is n/a", file=sys.stderr)
elif ids and mine:
    progs = mine
else:
    print("bench: WARNING: could not map BPF programs to the agent pid; summing all nx_ programs", file=sys.stderr)
print(sum(p.get("run_time_ns", 0) for p in progs), sum(p.get("run_cnt", 0) for p in progs), len(progs))
' || echo "0 0 0"
}

# agent_cpu_ticks: utime+stime of the running agent, in clock ticks.
agent_cpu_ticks() {
	# fields after the ")" closing comm: state is 3rd field overall, utime 14th, stime 15th
	sed 's/^.*) //' /proc/"$AGENT_PID"/stat 2>/dev/null | awk '{ print $12 + $13 }' || echo 0
}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# ---------------------------------------------------------------------------------------------
echo "== nexus-agent benchmark: redis-benchmark -c $CLIENTS -n $REQUESTS -t get,set (kernel $(uname -r), $(nproc) CPUs)"

# a) baseline (after a short untimed warm-up, so the first measured run is not penalised)
echo "-- a) baseline, no agent"
run_bench get,set 20000 >/dev/null
BASE=$(run_bench get,set "$REQUESTS")
[ -n "$BASE" ] || die "could not parse redis-benchmark output (baseline)"
BASE_SET=$(rps_of SET <<<"$BASE")
BASE_GET=$(rps_of GET <<<"$BASE")
echo "baseline throughput: SET ${BASE_SET:-n/a} req/s, GET ${BASE_GET:-n/a} req/s"

# b) target cost
echo "-- b) target cost: agent traces redis-server (pid $REDIS_PID)"
start_agent agent-target --no-default-targets --pid "$REDIS_PID"
read -r B_RT0 B_RC0 B_NPROG <<<"$(bpf_snapshot)"
B_CPU0=$(agent_cpu_ticks)
B_EV0=$(metric nexus_agent_events_total)
B_LOST0=$(metric nexus_agent_events_lost_total)
B_BYTES0=$(metric nexus_agent_captured_bytes_total)
T0=$(now)
TGT=$(run_bench get,set "$REQUESTS")
T1=$(now)
sleep 0.5 # let the agent drain its ring buffer before the second snapshot
read -r B_RT1 B_RC1 _ <<<"$(bpf_snapshot)"
B_CPU1=$(agent_cpu_ticks)
B_EV1=$(metric nexus_agent_events_total)
B_LOST1=$(metric nexus_agent_events_lost_total)
B_BYTES1=$(metric nexus_agent_captured_bytes_total)
B_CONNS=$(metric nexus_agent_connections)
B_TARGETS=$(metric nexus_agent_targets)
stop_agent
[ -n "$TGT" ] || die "could not parse redis-benchmark output (target)"

TGT_SET=$(rps_of SET <<<"$TGT")
TGT_GET=$(rps_of GET <<<"$TGT")
B_DT=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.3f", b - a }')
delta() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.0f\n", b - a }'; }
B_EV=$(delta "$B_EV0" "$B_EV1")
B_LOST=$(delta "$B_LOST0" "$B_LOST1")
B_BYTES=$(delta "$B_BYTES0" "$B_BYTES1")
B_RT=$((B_RT1 - B_RT0))
B_RC=$((B_RC1 - B_RC0))
B_CPU_NS=$(awk -v a="$B_CPU0" -v b="$B_CPU1" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", (b - a) * 1e9 / hz }')
B_EVPS=$(div "$B_EV" "$B_DT" "%.0f")
B_NS_RUN=$(div "$B_RT" "$B_RC")
B_NS_EV=$(div "$B_RT" "$B_EV")
[ "$B_NPROG" -gt 0 ] || B_NS_EV=n/a
B_CPU_EV=$(div "$B_CPU_NS" "$B_EV")
echo "target throughput: SET ${TGT_SET:-n/a} req/s, GET ${TGT_GET:-n/a} req/s (baseline SET ${BASE_SET:-n/a}, GET ${BASE_GET:-n/a})"
echo "target events captured: $B_EV in ${B_DT}s ($B_EVPS events/s), $B_BYTES bytes captured, events lost: $B_LOST"
echo "target BPF: $B_NPROG nx_ programs, $B_RC runs, $B_RT ns total -> $B_NS_RUN ns/program run, $B_NS_EV ns/captured event"
echo "target agent CPU: $(awk -v n="$B_CPU_NS" 'BEGIN { printf "%.2f", n / 1e9 }')s user+sys (resolution $(div 1000 "$CLK_TCK" "%.0f") ms) -> $B_CPU_EV ns/event (gauges at end: connections $B_CONNS, targets $B_TARGETS)"

# c) non-target cost
echo "-- c) non-target cost: agent traces only an idle sleep (pid $SLEEP_PID), redis is not a target"
start_agent agent-nontarget --no-default-targets --pid "$SLEEP_PID"
read -r C_RT0 C_RC0 C_NPROG <<<"$(bpf_snapshot)"
C_EV0=$(metric nexus_agent_events_total)
NT=$(run_bench get,set "$REQUESTS")
sleep 0.5
read -r C_RT1 C_RC1 _ <<<"$(bpf_snapshot)"
C_EV1=$(metric nexus_agent_events_total)
stop_agent
[ -n "$NT" ] || die "could not parse redis-benchmark output (non-target)"
NT_SET=$(rps_of SET <<<"$NT")
NT_GET=$(rps_of GET <<<"$NT")
C_EV=$(delta "$C_EV0" "$C_EV1")
C_RT=$((C_RT1 - C_RT0))
C_RC=$((C_RC1 - C_RC0))
C_NS_RUN=$(div "$C_RT" "$C_RC")
echo "non-target throughput: SET ${NT_SET:-n/a} req/s, GET ${NT_GET:-n/a} req/s"
echo "non-target BPF: $C_NPROG nx_ programs, $C_RC runs, $C_RT ns total -> $C_NS_RUN ns/program run (per syscall of a non-target process)"
echo "non-target events captured: $C_EV (expected 0)"

# d) alternate with/without agent
echo "-- d) alternating without/with agent (target mode), GET -c $CLIENTS -n $ALT_REQUESTS, 3 rounds"
WITHOUT=()
WITH=()
for round in 1 2 3; do
	r_without=$(run_bench get "$ALT_REQUESTS" | rps_of GET)
	start_agent "agent-alt$round" --no-default-targets --pid "$REDIS_PID"
	r_with=$(run_bench get "$ALT_REQUESTS" | rps_of GET)
	stop_agent
	[ -n "$r_without" ] && [ -n "$r_with" ] || die "could not parse redis-benchmark output (round $round)"
	WITHOUT+=("$r_without")
	WITH+=("$r_with")
	echo "round $round: without $r_without req/s, with $r_with req/s, ratio $(div "$r_with" "$r_without" "%.3f")"
done
# median VALUES...: median of the numeric values ("n/a" entries are ignored)
median() {
	printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
MED_WITHOUT=$(median "${WITHOUT[@]}")
MED_WITH=$(median "${WITH[@]}")
RATIOS=()
for i in 0 1 2; do RATIOS+=("$(div "${WITH[$i]}" "${WITHOUT[$i]}" "%.4f")"); done
MED_RATIO=$(div "$MED_WITH" "$MED_WITHOUT" "%.3f")
MED_PAIR_RATIO=$(median "${RATIOS[@]}")
echo "median GET throughput: without $MED_WITHOUT req/s, with $MED_WITH req/s, ratio $MED_RATIO (median of per-round ratios $MED_PAIR_RATIO)"

# ---------------------------------------------------------------------------------------------
cat <<EOF

==================== nexus-agent benchmark summary ====================
baseline throughput (SET/GET, req/s):    ${BASE_SET:-n/a} / ${BASE_GET:-n/a}
target throughput (SET/GET, req/s):      ${TGT_SET:-n/a} / ${TGT_GET:-n/a}
non-target throughput (SET/GET, req/s):  ${NT_SET:-n/a} / ${NT_GET:-n/a}
events captured (target phase):          $B_EV
events/s captured:                       $B_EVPS
events lost:                             $B_LOST
BPF ns/run (target):                     $B_NS_RUN
BPF ns/event (target):                   $B_NS_EV
BPF ns/syscall (non-target):             $C_NS_RUN
events captured (non-target phase):      $C_EV
agent CPU ns/event:                      $B_CPU_EV
throughput ratio (median, with/without): $MED_RATIO
=======================================================================
(BPF times come from kernel.bpf_stats_enabled, which itself adds ~20-40 ns per program run.)
EOF
