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
#   e) Redis decoding: redis-benchmark -t get,set, plain and pipelined (-P 16); each round runs
#      it without the agent | with `nexus-agent run` (the wire path: parses RESP and counts
#      commands) | with `nexus-agent run --redis-uprobes` (plus uprobes on redis-server's call()
#      and lookupKey(), entry and return).  Odd rounds run them in that order, even rounds
#      reversed (the wire-path run always sits in the middle), so a drift of the machine does
#      not favour one side.  Per run throughput; per mode and variant the median of the
#      per-round with/without ratios, BPF ns per Redis command (the uprobe programs also one by
#      one, with their runs per command), agent CPU per command, events lost, whether
#      nexus_redis_commands_total agrees with INFO commandstats and, with --redis-uprobes,
#      whether nexus_redis_command_exec_seconds counted every get and set INFO commandstats did
#
# Environment: NEXUS_AGENT (agent binary, default <repo>/build/nexus-agent),
#              BENCH_CLIENTS (50), BENCH_REQUESTS (200000), BENCH_ALT_REQUESTS (100000),
#              BENCH_REDIS_PAIRS (5, rounds per mode in e), BENCH_REDIS_REQUESTS
#              (100000 per test, plain), BENCH_REDIS_PIPE_REQUESTS (1000000 per test, pipelined),
#              BENCH_REDIS_PIPELINE (16), BENCH_REDIS_UPROBES (1: also run the --redis-uprobes
#              variant in e; 0: skip it).
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
REDIS_UPROBES=${BENCH_REDIS_UPROBES:-1}
BENCH_TIMEOUT=150 # seconds, per redis-benchmark run
ATTACH_TIMEOUT=30 # seconds to wait for "nexus-agent: attached"

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: FAILED: %s\n' "$*" >&2
	exit 1
}

case $REDIS_UPROBES in 0 | 1) ;; *) die "BENCH_REDIS_UPROBES must be 0 or 1 (got '$REDIS_UPROBES')" ;; esac

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

# bpf_snapshot: prints "run_time_ns run_cnt nprogs" summed over the agent's programs -- every
# program named nx_* (capture, the PostgreSQL USDT programs nx_pg_*, and under --redis-uprobes
# the uprobe programs nx_rd_*), plus the uprobe programs' names before commit f18148c (redis_*)
# -- then "run_time_ns run_cnt" of each of the four uprobe programs in the order of
# UPROBE_PROGS, then how many of those were found.  A bpftool without BTF names shows names cut
# to 15 characters: those match by prefix.
# The uprobe programs (bpf/redis_uprobes.bpf.c): key, then its names, new and old.
UPROBE_TABLE="CALL_ENTRY:nx_rd_call:redis_call_entry CALL_RETURN:nx_rd_call_ret:redis_call_return LOOKUP_ENTRY:nx_rd_lookup:redis_lookup_entry LOOKUP_RETURN:nx_rd_lookup_ret:redis_lookup_return"
UPROBE_PROGS="CALL_ENTRY CALL_RETURN LOOKUP_ENTRY LOOKUP_RETURN"
# uprobe_label KEY: how the summary names a uprobe program
uprobe_label() {
	case $1 in
	CALL_ENTRY) echo "call() entry" ;; CALL_RETURN) echo "call() return" ;;
	LOOKUP_ENTRY) echo "lookupKey() entry" ;; LOOKUP_RETURN) echo "lookupKey() return" ;;
	esac
}
bpf_snapshot() {
	local ids
	ids=$(agent_prog_ids)
	bpftool prog show -j 2>/dev/null | IDS="$ids" TABLE="$UPROBE_TABLE" python3 -c '
import json, os, sys
ids = {int(x) for x in os.environ.get("IDS", "").split()}
table = [t.split(":") for t in os.environ["TABLE"].split()]
uprobes = [t[0] for t in table]
def uprobe_of(name):
    for t in table:
        if name in t[1:]:
            return t[0]
    if len(name) == 15:
        for t in table:
            if any(len(n) > 15 and n.startswith(name) for n in t[1:]):
                return t[0]
    return None
progs = [p for p in json.load(sys.stdin)
         if p.get("name", "").startswith("nx_") or uprobe_of(p.get("name", ""))]
mine = [p for p in progs if p["id"] in ids]
if not progs:
    print("bench: WARNING: no BPF programs named nx_* are loaded; BPF cost is n/a", file=sys.stderr)
elif ids and mine:
    progs = mine
else:
    print("bench: WARNING: could not map BPF programs to the agent pid; summing all nx_/redis_ programs", file=sys.stderr)
out = [sum(p.get("run_time_ns", 0) for p in progs), sum(p.get("run_cnt", 0) for p in progs), len(progs)]
found = 0
for u in uprobes:
    ps = [p for p in progs if uprobe_of(p.get("name", "")) == u]
    found += len(ps)
    out += [sum(p.get("run_time_ns", 0) for p in ps), sum(p.get("run_cnt", 0) for p in ps)]
print(*out, found)
' || echo "0 0 0 0 0 0 0 0 0 0 0 0"
}

# agent_cpu_ticks: utime+stime of the running agent, in clock ticks.
agent_cpu_ticks() {
	# fields after the ")" closing comm: state is 3rd field overall, utime 14th, stime 15th
	sed 's/^.*) //' /proc/"$AGENT_PID"/stat 2>/dev/null | awk '{ print $12 + $13 }' || echo 0
}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# ---------------------------------------------------------------------------------------------
echo "== nexus-agent benchmark: redis-benchmark -c $CLIENTS -n $REQUESTS -t get,set (kernel $(uname -r), $(nproc) CPUs)"
LOAD_START=$(uptime | sed 's/.*load average: //')
echo "load average at start: $LOAD_START"

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
read -r B_RT0 B_RC0 B_NPROG _ <<<"$(bpf_snapshot)"
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
read -r C_RT0 C_RC0 C_NPROG _ <<<"$(bpf_snapshot)"
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
	if [ -z "$r_without" ] || [ -z "$r_with" ]; then die "could not parse redis-benchmark output (round $round)"; fi
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
		($1 == n || index($1, n "{") == 1) && (t == "" || index($0, t)) { s += $NF; f = 1 }
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

# acc PREFIX NAME:VALUE...: adds each VALUE to the global <PREFIX><NAME> (n/a-aware; unset is 0).
acc() {
	local p=$1 v cur
	shift
	for v in "$@"; do
		cur=$p${v%%:*}
		printf -v "$cur" '%s' "$(add "${!cur:-0}" "${v#*:}")"
	done
}
# xcount FILE COMMAND: the count of nexus_redis_command_exec_seconds for COMMAND (all commands
# when COMMAND is empty) in a scrape; 0 when there is none (the family appears with the first
# call() paired with a command).
xcount() {
	awk -v c="$2" 'index($1, "nexus_redis_command_exec_seconds_count{") == 1 &&
			(c == "" || index($1, "command=\"" c "\"")) { s += $NF }
		END { printf "%.0f\n", s }' "$1"
}
# foreign_uprobes: uprobes that other processes (not the agent now running) hold on redis-server's
# executable: they trap in our redis-server too, in every variant (with the agent or without).
# Those whose file bpftool cannot name any more (a /proc/PID/exe of a process gone) are listed
# apart: they may be on this executable.
foreign_uprobes() {
	bpftool perf show -j 2>/dev/null | EXE="/proc/$REDIS_PID/exe" AGENT="${AGENT_PID:-0}" python3 -c '
import json, os, sys
try:
    me = os.stat(os.environ["EXE"])
except OSError:
    sys.exit(0)
pids, gone = {}, {}
for e in json.load(sys.stdin):
    if e.get("fd_type") not in ("uprobe", "uretprobe") or str(e.get("pid")) == os.environ["AGENT"]:
        continue
    try:
        st = os.stat(e.get("filename", ""))
    except OSError:
        gone[e["pid"]] = gone.get(e["pid"], 0) + 1
        continue
    if (st.st_dev, st.st_ino) == (me.st_dev, me.st_ino):
        pids[e["pid"]] = pids.get(e["pid"], 0) + 1
out = []
if pids:
    out.append("%d held by pid(s) %s" % (sum(pids.values()), " ".join("%s (%s)" % (p, n) for p, n in sorted(pids.items()))))
if gone:
    out.append("%d on executables that no longer resolve, held by pid(s) %s" % (sum(gone.values()), " ".join("%s (%s)" % (p, n) for p, n in sorted(gone.items()))))
print("; ".join(out))
' 2>/dev/null || true
}

# uprobe_traps: the functions of call() and lookupKey() whose first instruction in the running
# redis-server's memory is a breakpoint (int3, 0xcc) while the executable has another byte: a
# uprobe sits there (the kernel writes the breakpoint into every process mapping the file).  With
# none of this bench's agents running, that is someone else's: its traps are then paid in every
# run, without the agent included.  Prints nothing when none are, or when it cannot tell.
uprobe_traps() {
	command -v readelf >/dev/null 2>&1 || return 0
	RPID=$REDIS_PID python3 -c '
import os, subprocess, sys
pid = os.environ["RPID"]
exe = "/proc/%s/exe" % pid
def run(*a):
    return subprocess.run(a, capture_output=True, text=True).stdout
syms = {}
for l in run("readelf", "-Ws", "--dyn-syms", exe).splitlines():
    f = l.split()
    if len(f) >= 8 and f[3] == "FUNC" and f[6] != "UND" and f[7].split("@")[0] in ("call", "lookupKey"):
        syms[f[7].split("@")[0]] = int(f[1], 16)
loads = [(int(f[1], 16), int(f[2], 16), int(f[4], 16)) for f in (l.split() for l in run("readelf", "-lW", exe).splitlines()) if f and f[0] == "LOAD"]
ino = os.stat(exe).st_ino
maps = []
for l in open("/proc/%s/maps" % pid):
    f = l.split()
    if len(f) >= 6 and int(f[4]) == ino:
        s, e = (int(x, 16) for x in f[0].split("-"))
        maps.append((s, e, int(f[2], 16)))
trapped = []
with open(exe, "rb") as fexe, open("/proc/%s/mem" % pid, "rb") as mem:
    for n, v in sorted(syms.items()):
        off = next((v - va + o for o, va, sz in loads if va <= v < va + sz), None)
        addr = next((s + off - mo for s, e, mo in maps if off is not None and mo <= off < mo + e - s), None)
        if addr is None:
            continue
        fexe.seek(off)
        mem.seek(addr)
        if mem.read(1) == b"\xcc" and fexe.read(1) != b"\xcc":
            trapped.append(n + "()")
print(" ".join(trapped))
' 2>/dev/null || true
}

# redis_agent_run KEY VAR NAME N EXTRA_ARGS...: one `redis-benchmark -t get,set -n N EXTRA_ARGS`
# under `nexus-agent run`; VAR A is the wire path (the default), U adds --redis-uprobes.  Prints
# the run's lines, adds its figures to the globals R_<KEY><VAR>_* and sets RUN_SET, RUN_GET and
# RUN_C (GET+SET combined, req/s).
RUN_SET=
RUN_GET=
RUN_C=
redis_agent_run() {
	local key=$1 var=$2 name=$3 n=$4
	shift 4
	local -a extra=() s0 s1
	[ "$var" = U ] && extra=(--redis-uprobes)
	start_agent "agent-redis-$name" --no-default-targets --pid "$REDIS_PID" "${extra[@]}"
	local g0 s0_ g1 s1_ cpu0 cpu1 sc0 sc1 out m0=$TMP/m0 m1=$TMP/m1
	read -r g0 s0_ <<<"$(redis_calls)"
	scrape "$m0"
	cpu0=$(agent_cpu_ticks)
	sc0=$(agent_sched_ns)
	read -r -a s0 <<<"$(bpf_snapshot)"
	out=$(run_bench get,set "$n" "$@")
	read -r g1 s1_ <<<"$(redis_calls)"
	# wait for the agent to drain its ring and publish (snapshots every 100 ms): until its get+set
	# count (and with --redis-uprobes its call() count of them) reaches redis' own, or 5 s
	local dg=$((g1 - g0)) ds=$((s1_ - s0_)) da_get=n/a da_set=n/a xg=0 xs=0
	for _ in $(seq 1 25); do
		sleep 0.2
		scrape "$m1"
		da_get=$(delta "$(mval "$m0" nexus_redis_commands_total 'command="get"')" "$(mval "$m1" nexus_redis_commands_total 'command="get"')")
		da_set=$(delta "$(mval "$m0" nexus_redis_commands_total 'command="set"')" "$(mval "$m1" nexus_redis_commands_total 'command="set"')")
		if [ "$var" = U ]; then
			xg=$(($(xcount "$m1" get) - $(xcount "$m0" get)))
			xs=$(($(xcount "$m1" set) - $(xcount "$m0" set)))
		fi
		[ "$da_get" != n/a ] && [ "$da_set" != n/a ] && [ $((da_get + da_set)) -ge $((dg + ds)) ] &&
			{ [ "$var" != U ] || [ $((xg + xs)) -ge $((dg + ds)) ]; } && break
	done
	cpu1=$(agent_cpu_ticks)
	sc1=$(agent_sched_ns)
	read -r -a s1 <<<"$(bpf_snapshot)"
	stop_agent
	RUN_SET=$(rps_of SET <<<"$out")
	RUN_GET=$(rps_of GET <<<"$out")
	if [ -z "$RUN_SET" ] || [ -z "$RUN_GET" ]; then die "could not parse redis-benchmark output ($name)"; fi
	RUN_C=$(combined "$RUN_GET" "$RUN_SET")

	local d_cmds d_lost d_unp d_res d_perr d_rt d_rc d_ticks d_sched xall=0 xo=0 xd=0 xu=0 p=R_${key}${var}_
	d_cmds=$(delta "$(mval "$m0" nexus_redis_commands_total)" "$(mval "$m1" nexus_redis_commands_total)")
	d_lost=$(delta "$(mval "$m0" nexus_agent_events_lost_total)" "$(mval "$m1" nexus_agent_events_lost_total)")
	d_unp=$(delta "$(mval "$m0" nexus_redis_unpaired_commands_total)" "$(mval "$m1" nexus_redis_unpaired_commands_total)")
	d_res=$(delta "$(mval "$m0" nexus_redis_resyncs_total)" "$(mval "$m1" nexus_redis_resyncs_total)")
	d_perr=$(delta "$(mval "$m0" nexus_redis_parse_errors_total)" "$(mval "$m1" nexus_redis_parse_errors_total)")
	d_rt=$((s1[0] - s0[0]))
	d_rc=$((s1[1] - s0[1]))
	[ "${s0[2]}" -gt 0 ] || d_rt=n/a
	d_ticks=$((cpu1 - cpu0))
	d_sched=$((sc1 - sc0))
	if [ "$var" = U ]; then
		xall=$(($(xcount "$m1" "") - $(xcount "$m0" "")))
		# nexus_redis_exec_unpaired_total appears with the first call() record: absent before is 0
		local r
		for r in orphan dropped unmatched; do
			local b a
			b=$(mval "$m0" nexus_redis_exec_unpaired_total "reason=\"$r\"")
			a=$(mval "$m1" nexus_redis_exec_unpaired_total "reason=\"$r\"")
			[ "$b" != n/a ] || b=0
			case $r in orphan) xo=$(delta "$b" "$a") ;; dropped) xd=$(delta "$b" "$a") ;; unmatched) xu=$(delta "$b" "$a") ;; esac
		done
	fi
	# the four uprobe programs: run time and runs over this run, fields 3..10 of the snapshots
	local j k=3 prog ulist='' urt=0 urc=0 d_pr d_pc
	for prog in $UPROBE_PROGS; do
		d_pr=$((s1[k] - s0[k]))
		d_pc=$((s1[k + 1] - s0[k + 1]))
		urt=$((urt + d_pr))
		urc=$((urc + d_pc))
		j=$prog
		acc "$p" "U_${j}_RT:$d_pr" "U_${j}_RC:$d_pc"
		ulist+="$(printf '%s %s ns/cmd (%s runs/cmd, %s ns/run); ' "$(uprobe_label "$prog")" "$(div "$d_pr" "$d_cmds")" "$(div "$d_pc" "$d_cmds" "%.3f")" "$(div "$d_pr" "$d_pc")")"
		k=$((k + 2))
	done
	acc "$p" RT:"$d_rt" RC:"$d_rc" URT:"$urt" URC:"$urc" TICKS:"$d_ticks" SCHED:"$d_sched" CMDS:"$d_cmds" \
		AGET:"$da_get" ASET:"$da_set" RGET:"$dg" RSET:"$ds" LOST:"$d_lost" UNP:"$d_unp" RES:"$d_res" PERR:"$d_perr" \
		XGET:"$xg" XSET:"$xs" XALL:"$xall" XORPH:"$xo" XDROP:"$xd" XUNM:"$xu" RUNS:1
	printf -v "${p}NPROG" '%s' "${s0[2]}"
	printf -v "${p}NUPROG" '%s' "${s0[11]}"
	if [ "$var" = U ] && [ "${s0[11]}" != 4 ]; then
		log "WARNING: $name: found ${s0[11]} of the 4 uprobe programs ($UPROBE_TABLE) among the agent's; the uprobe figures are incomplete"
	fi

	printf '   %-8s SET %s GET %s (%s) req/s; agent counted get %s set %s (all commands %s), redis get %s set %s; BPF %s ns/cmd (%s progs, %s runs/cmd); CPU %d ticks = %s ns/cmd (schedstat %s); lost %s\n' \
		"$([ "$var" = U ] && echo uprobes || echo wire)" "$RUN_SET" "$RUN_GET" "$RUN_C" "$da_get" "$da_set" "$d_cmds" "$dg" "$ds" \
		"$(div "$d_rt" "$d_cmds")" "${s0[2]}" "$(div "$d_rc" "$d_cmds" "%.2f")" "$d_ticks" \
		"$(div "$(awk -v t="$d_ticks" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1e9 / hz }')" "$d_cmds" "%.0f")" \
		"$(div "$d_sched" "$d_cmds" "%.0f")" "$d_lost"
	if [ "$var" = U ]; then
		printf '            uprobe programs: %s ns/cmd, %s runs/cmd: %s\n' "$(div "$urt" "$d_cmds")" "$(div "$urc" "$d_cmds" "%.3f")" "${ulist%; }"
		printf '            exec_seconds count get %s set %s (all commands %s) vs redis get %s set %s -> %s; call() records unpaired: orphan %s dropped %s unmatched %s\n' \
			"$xg" "$xs" "$xall" "$dg" "$ds" "$([ "$xg" = "$dg" ] && [ "$xs" = "$ds" ] && echo equal || echo DIFFERENT)" "$xo" "$xd" "$xu"
	fi
}

# redis_mode KEY LABEL N EXTRA_ARGS...: REDIS_PAIRS rounds of `redis-benchmark -t get,set -n N
# EXTRA_ARGS`: without the agent | wire path | --redis-uprobes (odd rounds in that order, even
# rounds reversed); results go to the R_<KEY>* globals.
redis_mode() {
	local key=$1 label=$2 n=$3 i
	shift 3
	local -a r_without=() order variants=(A)
	[ "$REDIS_UPROBES" = 1 ] && variants=(A U)
	# per variant, the rounds' figures as space-separated lists
	local -A with=() ratios=() set_ratios=() get_ratios=()
	echo "-- e) Redis, $label: redis-benchmark -c $CLIENTS -n $n -t get,set $*; $REDIS_PAIRS rounds of without | with the agent (wire path)$([ "$REDIS_UPROBES" = 1 ] && echo " | with --redis-uprobes"), reversed in even rounds"
	run_bench get,set $((n / 5)) "$@" >/dev/null # untimed warm-up
	for i in $(seq 1 "$REDIS_PAIRS"); do
		if [ "$REDIS_UPROBES" = 1 ]; then
			if [ $((i % 2)) = 1 ]; then order=(W A U); else order=(U A W); fi
		else
			if [ $((i % 2)) = 1 ]; then order=(W A); else order=(A W); fi
		fi
		local o names='' line w_set=n/a w_get=n/a w_c=n/a out v
		local -A t_set=([A]=n/a [U]=n/a) t_get=([A]=n/a [U]=n/a) t_c=([A]=n/a [U]=n/a)
		for o in "${order[@]}"; do
			case $o in W) names+=" without" ;; A) names+=" wire" ;; U) names+=" uprobes" ;; esac
		done
		echo "round $i (order:$names)"
		for o in "${order[@]}"; do
			case $o in
			W)
				out=$(run_bench get,set "$n" "$@")
				w_set=$(rps_of SET <<<"$out")
				w_get=$(rps_of GET <<<"$out")
				if [ -z "$w_set" ] || [ -z "$w_get" ]; then die "could not parse redis-benchmark output ($label, round $i, without)"; fi
				w_c=$(combined "$w_get" "$w_set")
				printf '   %-8s SET %s GET %s (%s) req/s\n' without "$w_set" "$w_get" "$w_c"
				;;
			*)
				redis_agent_run "$key" "$o" "$key$i-$o" "$n" "$@"
				t_set[$o]=$RUN_SET
				t_get[$o]=$RUN_GET
				t_c[$o]=$RUN_C
				;;
			esac
		done
		r_without+=("$w_c")
		line="   => ratio with/without: wire $(div "${t_c[A]}" "$w_c" "%.3f")"
		for v in "${variants[@]}"; do
			with[$v]+=" ${t_c[$v]}"
			ratios[$v]+=" $(div "${t_c[$v]}" "$w_c" "%.4f")"
			set_ratios[$v]+=" $(div "${t_set[$v]}" "$w_set" "%.4f")"
			get_ratios[$v]+=" $(div "${t_get[$v]}" "$w_get" "%.4f")"
		done
		[ "$REDIS_UPROBES" = 1 ] && line+=", uprobes $(div "${t_c[U]}" "$w_c" "%.3f") (uprobes/wire $(div "${t_c[U]}" "${t_c[A]}" "%.3f"))"
		echo "$line"
	done

	local med_wo sent
	med_wo=$(div "$(median "${r_without[@]}")" 1 "%.0f")
	printf -v "R_${key}_WITHOUT" '%s' "$med_wo"
	echo "$label median throughput (GET+SET) without the agent: $med_wo req/s"
	for v in "${variants[@]}"; do
		local p=R_${key}${v}_ vname med_w med_ratio med_pair med_set med_get cpu_ns cpu_res match xmatch
		local -a ws rr sr gr
		read -r -a ws <<<"${with[$v]}"
		read -r -a rr <<<"${ratios[$v]}"
		read -r -a sr <<<"${set_ratios[$v]}"
		read -r -a gr <<<"${get_ratios[$v]}"
		if [ "$v" = U ]; then vname="$label, --redis-uprobes:"; else vname="$label, wire path:"; fi
		local rt=${p}RT rc=${p}RC urt=${p}URT urc=${p}URC ticks=${p}TICKS sched=${p}SCHED cmds=${p}CMDS a_get=${p}AGET a_set=${p}ASET \
			r_get=${p}RGET r_set=${p}RSET lost=${p}LOST unp=${p}UNP res=${p}RES perr=${p}PERR runs=${p}RUNS nprog=${p}NPROG \
			x_get=${p}XGET x_set=${p}XSET x_all=${p}XALL xo=${p}XORPH xd=${p}XDROP xu=${p}XUNM
		med_w=$(div "$(median "${ws[@]}")" 1 "%.0f")
		med_ratio=$(div "$med_w" "$med_wo" "%.3f")
		med_pair=$(div "$(median "${rr[@]}")" 1 "%.3f")
		med_set=$(div "$(median "${sr[@]}")" 1 "%.3f")
		med_get=$(div "$(median "${gr[@]}")" 1 "%.3f")
		sent=$((n * ${!runs}))
		cpu_ns=$(awk -v t="${!ticks}" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1e9 / hz }')
		# each run's tick delta is off by up to one tick: runs ticks over all the commands
		cpu_res=$(div "$(awk -v r="${!runs}" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", r * 1e9 / hz }')" "${!cmds}" "%.0f")
		if [ "${!a_get}" = "${!r_get}" ] && [ "${!a_set}" = "${!r_set}" ]; then match=yes; else match=NO; fi
		[ "${!r_get}" -eq "$sent" ] && [ "${!r_set}" -eq "$sent" ] || match="$match (redis itself counted get ${!r_get} set ${!r_set}, not the $sent each redis-benchmark sent)"
		printf -v "${p}WITH" '%s' "$med_w"
		printf -v "${p}RATIO" '%s' "$med_pair"
		printf -v "${p}RATIO_MED" '%s' "$med_ratio"
		printf -v "${p}BPF_CMD" '%s' "$(div "${!rt}" "${!cmds}")"
		printf -v "${p}BPF_RUN" '%s' "$(div "${!rt}" "${!rc}")"
		printf -v "${p}RUNS_CMD" '%s' "$(div "${!rc}" "${!cmds}" "%.3f")"
		printf -v "${p}CPU_CMD" '%s' "$(div "$cpu_ns" "${!cmds}" "%.0f")"
		printf -v "${p}CPU_RES" '%s' "$cpu_res"
		printf -v "${p}SCHED_CMD" '%s' "$(div "${!sched}" "${!cmds}" "%.0f")"
		printf -v "${p}LOST" '%s' "${!lost}"
		printf -v "${p}MATCH" '%s' "$match"
		local v_bpf=${p}BPF_CMD v_cpu=${p}CPU_CMD v_sched=${p}SCHED_CMD
		echo "$vname median throughput (GET+SET) with the agent $med_w req/s -> ratio of medians $med_ratio"
		echo "$vname median of per-round ratios: $med_pair (SET $med_set, GET $med_get)   [target >= 0.97: $(target_mark "$med_pair" '>=' 0.97)]"
		echo "$vname BPF (${!nprog} programs): ${!rc} program runs, ${!rt} ns over ${!cmds} commands the agent counted -> ${!v_bpf} ns/command ($(div "${!rt}" "${!rc}") ns/run, $(div "${!rc}" "${!cmds}" "%.3f") runs/command)   [target <= 300: $(target_mark "${!v_bpf}" '<=' 300)]"
		if [ "$v" = U ]; then
			printf -v "${p}UBPF_CMD" '%s' "$(div "${!urt}" "${!cmds}")"
			printf -v "${p}URUNS_CMD" '%s' "$(div "${!urc}" "${!cmds}" "%.3f")"
			echo "$vname   of which the uprobe programs: ${!urc} runs, ${!urt} ns -> $(div "${!urt}" "${!cmds}") ns/command, $(div "${!urc}" "${!cmds}" "%.3f") runs/command (each run also pays a uprobe trap, not in run_time_ns: it shows in the throughput)"
			local prog j pr pc
			for prog in $UPROBE_PROGS; do
				j=$prog
				pr=${p}U_${j}_RT
				pc=${p}U_${j}_RC
				printf -v "${p}U_${j}_CMD" '%s' "$(div "${!pr:-0}" "${!cmds}") ($(div "${!pc:-0}" "${!cmds}" "%.2f"))"
				printf '%s     %-18s %s runs, %s ns -> %s ns/command, %s runs/command, %s ns/run\n' "$vname" "$(uprobe_label "$prog")" "${!pc:-0}" "${!pr:-0}" \
					"$(div "${!pr:-0}" "${!cmds}")" "$(div "${!pc:-0}" "${!cmds}" "%.3f")" "$(div "${!pr:-0}" "${!pc:-0}")"
			done
		fi
		echo "$vname agent CPU: ${!ticks} ticks = $(awk -v n="$cpu_ns" 'BEGIN { printf "%.2f", n / 1e9 }')s utime+stime -> ${!v_cpu} ns/command (+-$cpu_res ns/command: /proc/PID/stat counts whole ticks of $(div 1000 "$CLK_TCK" "%.0f") ms); schedstat (ns, live threads): ${!v_sched} ns/command   [target <= 1000: $(target_mark "${!v_cpu}" '<=' 1000)]"
		echo "$vname events lost: ${!lost}   [target 0: $(target_mark "${!lost}" '==' 0)]; parser: unpaired ${!unp}, resyncs ${!res}, parse errors ${!perr}"
		echo "$vname command counts: agent get ${!a_get} set ${!a_set}; redis INFO commandstats get ${!r_get} set ${!r_set}; redis-benchmark sent $sent each -> equal: $match"
		if [ "$v" = U ]; then
			if [ "${!x_get}" = "${!r_get}" ] && [ "${!x_set}" = "${!r_set}" ]; then xmatch=yes; else xmatch="NO (exec count $(add "${!x_get}" "${!x_set}"), commandstats $(add "${!r_get}" "${!r_set}"))"; fi
			printf -v "${p}XMATCH" '%s' "$xmatch"
			echo "$vname nexus_redis_command_exec_seconds count: get ${!x_get} + set ${!x_set} = $(add "${!x_get}" "${!x_set}") (all commands ${!x_all}); INFO commandstats calls get ${!r_get} + set ${!r_set} = $(add "${!r_get}" "${!r_set}") -> equal: $xmatch; call() records unpaired: orphan ${!xo}, dropped ${!xd}, unmatched ${!xu}"
		fi
	done
}

# foreign_traps WHEN: says whether someone else's uprobes already trap in our redis-server (no
# agent of ours running); sets FOREIGN_TRAPS for the summary.
FOREIGN_TRAPS=
foreign_traps() {
	local traps foreign
	traps=$(uprobe_traps)
	foreign=$(foreign_uprobes)
	if [ -n "$traps" ]; then
		echo "WARNING ($1): with no agent of this bench running, redis-server's $traps already carry a uprobe breakpoint (someone else's uprobes${foreign:+: $foreign}); every run, the without runs included, pays those traps, so the --redis-uprobes throughput ratio leaves out most of the trap cost"
		FOREIGN_TRAPS+="$1: $traps; "
	elif [ -n "$foreign" ]; then
		echo "note ($1): other processes hold uprobes ($foreign), but none traps in redis-server's call() or lookupKey()"
	fi
}
foreign_traps "before e"
redis_mode PLAIN "plain" "$REDIS_REQUESTS"
redis_mode PIPE "pipelined -P $REDIS_PIPELINE" "$REDIS_PIPE_REQUESTS" -P "$REDIS_PIPELINE"
foreign_traps "after e"
LOAD_END=$(uptime | sed 's/.*load average: //')
echo "load average at end: $LOAD_END"

# ---------------------------------------------------------------------------------------------
# row LABEL PLAIN PIPE; pick KEY VAR FIELD: a summary figure, "-" when that variant did not run;
# both: "wire | uprobes" of a field
row() { printf '%-42s %-30s %s\n' "$1" "$2" "$3"; }
pick() { local n=R_$1$2_$3; printf '%s' "${!n:--}"; }
both() { printf '%s | %s' "$(pick "$1" A "$2")" "$(pick "$1" U "$2")"; }
marks() { printf '%s | %s' "$(target_mark "$(pick "$1" A "$2")" "$3" "$4")" "$(target_mark "$(pick "$1" U "$2")" "$3" "$4")"; }
cat <<SUMMARY

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
-- Redis (redis-benchmark -c $CLIENTS -t get,set, $REDIS_PAIRS rounds per mode); figures: wire path | --redis-uprobes --
SUMMARY
row "" "plain" "-P $REDIS_PIPELINE"
row "GET+SET req/s without agent (median)" "$R_PLAIN_WITHOUT" "$R_PIPE_WITHOUT"
row "GET+SET req/s with agent (median)" "$(both PLAIN WITH)" "$(both PIPE WITH)"
row "throughput ratio (median of rounds)" "$(both PLAIN RATIO)" "$(both PIPE RATIO)"
row "  target >= 0.97" "$(marks PLAIN RATIO '>=' 0.97)" "$(marks PIPE RATIO '>=' 0.97)"
row "  (ratio of medians)" "$(both PLAIN RATIO_MED)" "$(both PIPE RATIO_MED)"
row "BPF ns/Redis command" "$(both PLAIN BPF_CMD)" "$(both PIPE BPF_CMD)"
row "  target <= 300" "$(marks PLAIN BPF_CMD '<=' 300)" "$(marks PIPE BPF_CMD '<=' 300)"
row "  (BPF ns/run)" "$(both PLAIN BPF_RUN)" "$(both PIPE BPF_RUN)"
row "  (program runs/command)" "$(both PLAIN RUNS_CMD)" "$(both PIPE RUNS_CMD)"
row "  (of which uprobe programs, ns/command)" "$(both PLAIN UBPF_CMD)" "$(both PIPE UBPF_CMD)"
row "  (uprobe program runs/command)" "$(both PLAIN URUNS_CMD)" "$(both PIPE URUNS_CMD)"
for prog in $UPROBE_PROGS; do
	row "    $(uprobe_label "$prog") ns/cmd (runs/cmd)" "$(pick PLAIN U "U_${prog}_CMD")" "$(pick PIPE U "U_${prog}_CMD")"
done
row "agent CPU ns/command (/proc stat)" "$(both PLAIN CPU_CMD)" "$(both PIPE CPU_CMD)"
row "  (+- tick resolution)" "$(both PLAIN CPU_RES)" "$(both PIPE CPU_RES)"
row "  target <= 1000" "$(marks PLAIN CPU_CMD '<=' 1000)" "$(marks PIPE CPU_CMD '<=' 1000)"
row "  (schedstat, ns resolution)" "$(both PLAIN SCHED_CMD)" "$(both PIPE SCHED_CMD)"
row "events lost (target 0)" "$(both PLAIN LOST)" "$(both PIPE LOST)"
row "agent get/set counts = INFO commandstats" "$(both PLAIN MATCH)" "$(both PIPE MATCH)"
row "exec_seconds count = commandstats get+set" "$(pick PLAIN U XMATCH)" "$(pick PIPE U XMATCH)"
FOREIGN_TRAPS=${FOREIGN_TRAPS%; }
row "foreign uprobe traps in redis-server" "${FOREIGN_TRAPS:-none}" ""
echo "load average: start $LOAD_START; end $LOAD_END"
cat <<'SUMMARY'
=======================================================================
(BPF times come from kernel.bpf_stats_enabled, which itself adds ~20-40 ns per program run.
 BPF ns/Redis command sums every run of the agent's programs (nx_*: capture, PostgreSQL USDT,
 and with --redis-uprobes the four uprobe programs nx_rd_*, named redis_* before) during the
 run, redis-benchmark's own syscalls included, over the commands the agent counted. A uprobe's trap (the breakpoint, the switch to the kernel and back,
 a uretprobe's return trampoline) is not in run_time_ns: it shows only in the throughput ratio.
 Agent CPU per command: utime+stime from /proc/PID/stat counts whole clock ticks (1/CLK_TCK s), so
 each run is off by up to one tick; the schedstat line (ns, threads alive at the end) is the
 finer cross-check. Both include the bench's own few /metrics scrapes per run.)
SUMMARY
