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
#   e) Redis decoding: redis-benchmark -t get,set, plain and pipelined (-P 16), alternating runs
#      without/with `nexus-agent run` (which parses RESP and counts commands); per run throughput,
#      per mode the median with/without ratio, BPF ns per Redis command, agent CPU per command,
#      events lost, and whether nexus_redis_commands_total agrees with INFO commandstats
#
# Environment: NEXUS_AGENT (agent binary, default <repo>/build/nexus-agent),
#              BENCH_CLIENTS (50), BENCH_REQUESTS (200000), BENCH_ALT_REQUESTS (100000),
#              BENCH_REDIS_PAIRS (5, without/with pairs per mode in e), BENCH_REDIS_REQUESTS
#              (100000 per test, plain), BENCH_REDIS_PIPE_REQUESTS (1000000 per test, pipelined),
#              BENCH_REDIS_PIPELINE (16).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
AGENT=${NEXUS_AGENT:-$REPO/build/nexus-agent}
CLIENTS=${BENCH_CLIENTS:-50}
REQUESTS=${BENCH_REQUESTS:-200000}
ALT_REQUESTS=${BENCH_ALT_REQUESTS:-100000}
REDIS_PAIRS=${BENCH_REDIS_PAIRS:-5}
REDIS_REQUESTS=${BENCH_REDIS_REQUESTS:-100000}
REDIS_PIPE_REQUESTS=${BENCH_REDIS_PIPE_REQUESTS:-1000000}
REDIS_PIPELINE=${BENCH_REDIS_PIPELINE:-16}
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

# run_bench TESTS REQUESTS [EXTRA_ARGS...]: runs redis-benchmark, prints "TEST rps" lines (one per
# test) to stdout.
run_bench() {
	local tests=$1 n=$2 out
	shift 2
	out=$(timeout -k 5 "$BENCH_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CLIENTS" -n "$n" \
		-t "$tests" -q "$@" 2>&1) || die "redis-benchmark -t $tests -n $n $* failed or took over ${BENCH_TIMEOUT}s: $(printf '%s' "$out" | tr '\r' '\n' | tail -n 3)"
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
# e) Redis decoding: the agent parses RESP and counts every command (nexus_redis_commands_total)

# scrape FILE: the running agent's /metrics, saved to FILE (empty when it does not answer).
scrape() { curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/metrics" >"$1" 2>/dev/null || : >"$1"; }
# mval FILE NAME [TEXT]: sum of the samples of NAME (whose line contains TEXT) in a scrape; 0 when
# the family is there without such a sample (no GET seen yet), n/a when the family is missing.
mval() {
	awk -v n="$2" -v t="${3:-}" '$1 == "#" && $2 == "TYPE" && $3 == n { f = 1 }
		($1 == n || index($1, n "{") == 1) && index($0, t) { s += $NF; f = 1 }
		END { if (f) printf "%.0f\n", s; else print "n/a" }' "$1"
}
# redis_calls: "GET_CALLS SET_CALLS" from redis' INFO commandstats.
redis_calls() {
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info commandstats 2>/dev/null | tr -d '\r' | awk -F'[:,=]' '
		$1 == "cmdstat_get" { g = $3 } $1 == "cmdstat_set" { s = $3 }
		END { printf "%d %d\n", g, s }'
}
# agent_sched_ns: CPU time of the agent's live threads in ns (/proc/PID/task/*/schedstat, field 1).
agent_sched_ns() {
	cat /proc/"$AGENT_PID"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}
# combined A B: requests per second over a GET run and a SET run of the same size (total/total time).
combined() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || a + 0 == 0 || b + 0 == 0) { print "n/a"; exit }
		printf "%.2f\n", 2 / (1 / a + 1 / b) }'
}
# add A B: A+B, n/a-aware
add() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.0f\n", a + b }'; }
# target_mark VALUE OP LIMIT: "met" / "missed" / "n/a" for an informational target
target_mark() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v !~ /^-?[0-9.eE+]+$/) { print "n/a"; exit }
		ok = (op == ">=") ? (v + 0 >= l + 0) : (op == "<=") ? (v + 0 <= l + 0) : (v + 0 == l + 0)
		print ok ? "met" : "MISSED" }'
}

# redis_mode KEY LABEL N EXTRA_ARGS...: REDIS_PAIRS alternating pairs (without, then with the agent)
# of `redis-benchmark -t get,set -n N EXTRA_ARGS`; results go to R_<KEY>_* globals.
redis_mode() {
	local key=$1 label=$2 n=$3 i
	shift 3
	local -a r_without=() r_with=() ratios=() set_ratios=() get_ratios=()
	local rt=0 rc=0 ticks=0 sched=0 cmds=0 a_get=0 a_set=0 r_get=0 r_set=0 lost=0 unpaired=0 resyncs=0 perr=0
	local runs=0
	echo "-- e) Redis, $label: redis-benchmark -c $CLIENTS -n $n -t get,set $*; $REDIS_PAIRS pairs, without then with the agent"
	run_bench get,set $((n / 5)) "$@" >/dev/null # untimed warm-up
	for i in $(seq 1 "$REDIS_PAIRS"); do
		# without
		local out w_set w_get w_c
		out=$(run_bench get,set "$n" "$@")
		w_set=$(rps_of SET <<<"$out")
		w_get=$(rps_of GET <<<"$out")
		[ -n "$w_set" ] && [ -n "$w_get" ] || die "could not parse redis-benchmark output ($label, pair $i, without)"
		w_c=$(combined "$w_get" "$w_set")

		# with
		start_agent "agent-redis-$key$i" --no-default-targets --pid "$REDIS_PID"
		local g0 s0 g1 s1 rt0 rc0 rt1 rc1 np cpu0 cpu1 sc0 sc1 m0=$TMP/m0 m1=$TMP/m1 t_set t_get t_c
		read -r g0 s0 <<<"$(redis_calls)"
		scrape "$m0"
		cpu0=$(agent_cpu_ticks)
		sc0=$(agent_sched_ns)
		read -r rt0 rc0 np <<<"$(bpf_snapshot)"
		out=$(run_bench get,set "$n" "$@")
		read -r g1 s1 <<<"$(redis_calls)"
		# wait for the agent to drain its ring and publish (snapshots every 100 ms): until its get+set
		# count reaches redis' own, or 5 s
		local dg ds da_get da_set
		dg=$((g1 - g0))
		ds=$((s1 - s0))
		for _ in $(seq 1 25); do
			sleep 0.2
			scrape "$m1"
			da_get=$(delta "$(mval "$m0" nexus_redis_commands_total 'command="get"')" "$(mval "$m1" nexus_redis_commands_total 'command="get"')")
			da_set=$(delta "$(mval "$m0" nexus_redis_commands_total 'command="set"')" "$(mval "$m1" nexus_redis_commands_total 'command="set"')")
			[ "$da_get" != n/a ] && [ "$da_set" != n/a ] && [ $((da_get + da_set)) -ge $((dg + ds)) ] && break
		done
		cpu1=$(agent_cpu_ticks)
		sc1=$(agent_sched_ns)
		read -r rt1 rc1 _ <<<"$(bpf_snapshot)"
		stop_agent
		t_set=$(rps_of SET <<<"$out")
		t_get=$(rps_of GET <<<"$out")
		[ -n "$t_set" ] && [ -n "$t_get" ] || die "could not parse redis-benchmark output ($label, pair $i, with)"
		t_c=$(combined "$t_get" "$t_set")

		local d_cmds d_lost d_unp d_res d_perr d_rt d_rc d_ticks d_sched
		d_cmds=$(delta "$(mval "$m0" nexus_redis_commands_total)" "$(mval "$m1" nexus_redis_commands_total)")
		d_lost=$(delta "$(mval "$m0" nexus_agent_events_lost_total)" "$(mval "$m1" nexus_agent_events_lost_total)")
		d_unp=$(delta "$(mval "$m0" nexus_redis_unpaired_commands_total)" "$(mval "$m1" nexus_redis_unpaired_commands_total)")
		d_res=$(delta "$(mval "$m0" nexus_redis_resyncs_total)" "$(mval "$m1" nexus_redis_resyncs_total)")
		d_perr=$(delta "$(mval "$m0" nexus_redis_parse_errors_total)" "$(mval "$m1" nexus_redis_parse_errors_total)")
		d_rt=$((rt1 - rt0))
		d_rc=$((rc1 - rc0))
		[ "$np" -gt 0 ] || d_rt=n/a
		d_ticks=$((cpu1 - cpu0))
		d_sched=$((sc1 - sc0))

		r_without+=("$w_c")
		r_with+=("$t_c")
		ratios+=("$(div "$t_c" "$w_c" "%.4f")")
		set_ratios+=("$(div "$t_set" "$w_set" "%.4f")")
		get_ratios+=("$(div "$t_get" "$w_get" "%.4f")")
		rt=$(add "$rt" "$d_rt")
		rc=$((rc + d_rc))
		ticks=$((ticks + d_ticks))
		sched=$((sched + d_sched))
		cmds=$(add "$cmds" "$d_cmds")
		a_get=$(add "$a_get" "$da_get")
		a_set=$(add "$a_set" "$da_set")
		r_get=$((r_get + dg))
		r_set=$((r_set + ds))
		lost=$(add "$lost" "$d_lost")
		unpaired=$(add "$unpaired" "$d_unp")
		resyncs=$(add "$resyncs" "$d_res")
		perr=$(add "$perr" "$d_perr")
		runs=$((runs + 1))
		printf 'pair %d: without SET %s GET %s (%s) | with SET %s GET %s (%s) req/s | ratio %s\n' \
			"$i" "$w_set" "$w_get" "$w_c" "$t_set" "$t_get" "$t_c" "$(div "$t_c" "$w_c" "%.3f")"
		printf '        with-run: agent counted get %s set %s (all commands %s), redis get %s set %s; BPF %s ns/cmd; CPU %d ticks = %s ns/cmd (schedstat %s); lost %s\n' \
			"$da_get" "$da_set" "$d_cmds" "$dg" "$ds" "$(div "$d_rt" "$d_cmds")" "$d_ticks" \
			"$(div "$(awk -v t="$d_ticks" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1e9 / hz }')" "$d_cmds" "%.0f")" \
			"$(div "$d_sched" "$d_cmds" "%.0f")" "$d_lost"
	done

	local med_wo med_w med_ratio med_pair med_set med_get sent cpu_ns cpu_res match
	med_wo=$(div "$(median "${r_without[@]}")" 1 "%.0f")
	med_w=$(div "$(median "${r_with[@]}")" 1 "%.0f")
	med_ratio=$(div "$med_w" "$med_wo" "%.3f")
	med_pair=$(div "$(median "${ratios[@]}")" 1 "%.3f")
	med_set=$(div "$(median "${set_ratios[@]}")" 1 "%.3f")
	med_get=$(div "$(median "${get_ratios[@]}")" 1 "%.3f")
	sent=$((n * runs))
	cpu_ns=$(awk -v t="$ticks" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1e9 / hz }')
	# each run's tick delta is off by up to one tick: runs ticks over all the commands
	cpu_res=$(div "$(awk -v r="$runs" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", r * 1e9 / hz }')" "$cmds" "%.0f")
	if [ "$a_get" = "$r_get" ] && [ "$a_set" = "$r_set" ]; then match=yes; else match=NO; fi
	[ "$r_get" -eq "$sent" ] && [ "$r_set" -eq "$sent" ] || match="$match (redis itself counted get $r_get set $r_set, not the $sent each redis-benchmark sent)"

	printf -v "R_${key}_RATIO" '%s' "$med_pair"
	printf -v "R_${key}_RATIO_MED" '%s' "$med_ratio"
	printf -v "R_${key}_WITHOUT" '%s' "$med_wo"
	printf -v "R_${key}_WITH" '%s' "$med_w"
	printf -v "R_${key}_BPF_CMD" '%s' "$(div "$rt" "$cmds")"
	printf -v "R_${key}_BPF_RUN" '%s' "$(div "$rt" "$rc")"
	printf -v "R_${key}_RUNS_CMD" '%s' "$(div "$rc" "$cmds" "%.3f")"
	printf -v "R_${key}_CPU_CMD" '%s' "$(div "$cpu_ns" "$cmds" "%.0f")"
	printf -v "R_${key}_CPU_RES" '%s' "$cpu_res"
	printf -v "R_${key}_SCHED_CMD" '%s' "$(div "$sched" "$cmds" "%.0f")"
	printf -v "R_${key}_LOST" '%s' "$lost"
	printf -v "R_${key}_MATCH" '%s' "$match"
	local v_bpf=R_${key}_BPF_CMD v_cpu=R_${key}_CPU_CMD v_sched=R_${key}_SCHED_CMD

	echo "$label median throughput (GET+SET): without $med_wo req/s, with $med_w req/s -> ratio of medians $med_ratio"
	echo "$label median of per-pair ratios: $med_pair (SET $med_set, GET $med_get)   [target >= 0.97: $(target_mark "$med_pair" '>=' 0.97)]"
	echo "$label BPF: $rc program runs, $rt ns over $cmds commands the agent counted -> ${!v_bpf} ns/command ($(div "$rt" "$rc") ns/run, $(div "$rc" "$cmds" "%.3f") runs/command)   [target <= 300: $(target_mark "${!v_bpf}" '<=' 300)]"
	echo "$label agent CPU: $ticks ticks = $(awk -v n="$cpu_ns" 'BEGIN { printf "%.2f", n / 1e9 }')s utime+stime -> ${!v_cpu} ns/command (+-$cpu_res ns/command: /proc/PID/stat counts whole ticks of $(div 1000 "$CLK_TCK" "%.0f") ms); schedstat (ns, live threads): ${!v_sched} ns/command   [target <= 1000: $(target_mark "${!v_cpu}" '<=' 1000)]"
	echo "$label events lost: $lost   [target 0: $(target_mark "$lost" '==' 0)]; parser: unpaired $unpaired, resyncs $resyncs, parse errors $perr"
	echo "$label command counts: agent get $a_get set $a_set; redis INFO commandstats get $r_get set $r_set; redis-benchmark sent $sent each -> equal: $match"
}

redis_mode PLAIN "plain" "$REDIS_REQUESTS"
redis_mode PIPE "pipelined -P $REDIS_PIPELINE" "$REDIS_PIPE_REQUESTS" -P "$REDIS_PIPELINE"

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
-- Redis decoding (redis-benchmark -c $CLIENTS -t get,set, $REDIS_PAIRS pairs per mode; plain | -P $REDIS_PIPELINE) --
GET+SET req/s without agent (median):    $R_PLAIN_WITHOUT | $R_PIPE_WITHOUT
GET+SET req/s with agent (median):       $R_PLAIN_WITH | $R_PIPE_WITH
throughput ratio (median of pairs):      $R_PLAIN_RATIO | $R_PIPE_RATIO    target >= 0.97: $(target_mark "$R_PLAIN_RATIO" '>=' 0.97) | $(target_mark "$R_PIPE_RATIO" '>=' 0.97)
BPF ns/Redis command:                    $R_PLAIN_BPF_CMD | $R_PIPE_BPF_CMD    target <= 300: $(target_mark "$R_PLAIN_BPF_CMD" '<=' 300) | $(target_mark "$R_PIPE_BPF_CMD" '<=' 300)
  (BPF ns/run; program runs/command):    $R_PLAIN_BPF_RUN; $R_PLAIN_RUNS_CMD | $R_PIPE_BPF_RUN; $R_PIPE_RUNS_CMD
agent CPU ns/command (/proc stat):       $R_PLAIN_CPU_CMD +-$R_PLAIN_CPU_RES | $R_PIPE_CPU_CMD +-$R_PIPE_CPU_RES    target <= 1000: $(target_mark "$R_PLAIN_CPU_CMD" '<=' 1000) | $(target_mark "$R_PIPE_CPU_CMD" '<=' 1000)
  (schedstat, ns resolution):            $R_PLAIN_SCHED_CMD | $R_PIPE_SCHED_CMD
events lost:                             $R_PLAIN_LOST | $R_PIPE_LOST    target 0: $(target_mark "$R_PLAIN_LOST" '==' 0) | $(target_mark "$R_PIPE_LOST" '==' 0)
agent get/set counts = INFO commandstats: $R_PLAIN_MATCH | $R_PIPE_MATCH
=======================================================================
(BPF times come from kernel.bpf_stats_enabled, which itself adds ~20-40 ns per program run.
 BPF ns/Redis command sums every run of the agent's programs during the run, redis-benchmark's own
 syscalls included, over the commands the agent counted. Agent CPU per command: utime+stime from
 /proc/PID/stat counts whole clock ticks (1/CLK_TCK s), so each run is off by up to one tick; the
 schedstat line (ns, threads alive at the end) is the finer cross-check. Both include the bench's
 own few /metrics scrapes per run.)
EOF
