#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# PostgreSQL overhead benchmark for nexus-agent against a throwaway PostgreSQL 15 (issue #4,
# Benchmark).  `make bench` runs it after tests/bench/bench.sh.  It prints numbers and asserts
# nothing; it fails only when it cannot measure.
#
# Set-up: initdb (as the postgres user, trust auth) into a temporary directory, a postmaster on
# 127.0.0.1:<free port> plus a unix socket directory there (fsync=off, shared_buffers=256MB so the
# ~160 MB of `pgbench -i -s 10` stay in shared buffers), then `pgbench -i -s 10`.
#
# For each mode -- `-S` (select-only: 1 statement per transaction) and pgbench's default TPC-B-like
# script (7 statements per transaction: BEGIN, 3 UPDATEs, SELECT, INSERT, END) -- an untimed
# warm-up, then BENCH_PG_PAIRS rounds of `pgbench -c 8 -j 2 -T BENCH_PG_SECONDS -M simple`:
#   without the agent | with `nexus-agent run --no-default-targets --pid <postmaster>` (USDT on,
#   the default) | with the same plus --no-usdt (the wire path alone)
# Odd rounds run them in that order, even rounds reversed (the with-USDT run always sits in the
# middle), so a slow drift of the machine or of the tables does not favour one side.  Backends are
# children of the postmaster and are picked up by fork.  Each ratio is with/without of the same
# round; the headline is the median of the per-round ratios (the ratio of the medians is printed
# beside it).  For each run with the agent: BPF ns per statement (kernel.bpf_stats_enabled,
# run_time_ns summed over the agent's programs via bpftool), agent CPU per statement (utime+stime
# from /proc/PID/stat, schedstat as a finer cross-check), events lost
# (nexus_agent_events_lost_total), and the agent's count of pgbench's statements
# (nexus_postgres_queries_total joined with nexus_postgres_query_info) against pgbench's
# transactions x statements per transaction.  "Per statement" divides by every statement the
# agent counted in the run (nexus_postgres_queries_total delta, which also holds the handful of
# set-up statements pgbench sends: vacuum, truncate, scale check).
#
# Protocol: pgbench's default simple protocol (-M simple): it is what pgbench and most clients
# use by default, and every statement's text (with its literals) crosses the wire and goes through
# the fingerprinter, the agent's costliest path.  BENCH_PG_PROTOCOL=extended|prepared measures the
# others.
#
# Runtime with the defaults: 2 modes x 5 rounds x 3 runs x 10 s, plus warm-ups, agent start-ups
# and drains: about 6 minutes.
#
# Environment: NEXUS_AGENT (agent binary, default <repo>/build/nexus-agent; it is copied, so a
#              concurrent rebuild does not change it mid-run), BENCH_PG_BIN
#              (/usr/lib/postgresql/15/bin), BENCH_PG_PAIRS (5 rounds per mode),
#              BENCH_PG_SECONDS (10, per pgbench run), BENCH_PG_CLIENTS (8), BENCH_PG_THREADS (2),
#              BENCH_PG_SCALE (10), BENCH_PG_PROTOCOL (simple), BENCH_PG_NO_USDT (1: also run the
#              --no-usdt variant; 0: skip it).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
AGENT_SRC=${NEXUS_AGENT:-$REPO/build/nexus-agent}
PG_BIN=${BENCH_PG_BIN:-/usr/lib/postgresql/15/bin}
PAIRS=${BENCH_PG_PAIRS:-5}
DURATION=${BENCH_PG_SECONDS:-10}
CLIENTS=${BENCH_PG_CLIENTS:-8}
THREADS=${BENCH_PG_THREADS:-2}
SCALE=${BENCH_PG_SCALE:-10}
PROTOCOL=${BENCH_PG_PROTOCOL:-simple}
NO_USDT_VARIANT=${BENCH_PG_NO_USDT:-1}
ATTACH_TIMEOUT=30 # seconds to wait for "nexus-agent: attached"
DRAIN_TIMEOUT=8   # seconds to wait for the agent to count pgbench's statements (publishes 1/s)

log() { printf 'bench-pg: %s\n' "$*" >&2; }
die() {
	printf 'bench-pg: FAILED: %s\n' "$*" >&2
	exit 1
}

for v in PAIRS DURATION CLIENTS THREADS SCALE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
case $PROTOCOL in simple | extended | prepared) ;; *) die "BENCH_PG_PROTOCOL must be simple, extended or prepared" ;; esac
case $NO_USDT_VARIANT in 0 | 1) ;; *) die "BENCH_PG_NO_USDT must be 0 or 1" ;; esac

[ "$(id -u)" -eq 0 ] || die "needs root (loads BPF programs and sets kernel.bpf_stats_enabled); run: sudo $0"
[ -x "$AGENT_SRC" ] || die "agent binary $AGENT_SRC not found; run 'make' first"
for t in initdb pg_ctl postgres pgbench pg_isready; do
	[ -x "$PG_BIN/$t" ] || die "$PG_BIN/$t not found; install postgresql-15 (deploy/install-deps.sh)"
done
for t in runuser bpftool curl python3 awk timeout; do
	command -v "$t" >/dev/null 2>&1 || die "'$t' not found; run deploy/install-deps.sh"
done
id -u postgres >/dev/null 2>&1 || die "no 'postgres' user to run the server as"

TMP=$(mktemp -d /tmp/nexus-bench-pg.XXXXXX)
chmod 755 "$TMP"
PGDIR=$TMP/pg
AGENT=$TMP/nexus-agent
PG_PID=
PG_STARTED=
AGENT_PID=
OLD_STATS=
export PGSSLMODE=disable PGGSSENCMODE=disable PGCONNECT_TIMEOUT=10

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

stop_postgres() {
	[ -n "$PG_STARTED" ] || return 0
	PG_STARTED=
	(cd "$PGDIR" && timeout -k 5 30 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 20 stop) \
		>"$TMP/pg_ctl-stop.out" 2>&1 || true
	# pg_ctl returns when postmaster.pid is gone, a moment before the process is
	for _ in $(seq 1 50); do
		if [ -z "$PG_PID" ] || ! kill -0 "$PG_PID" 2>/dev/null; then break; fi
		sleep 0.1
	done
	if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
		log "WARNING: postmaster $PG_PID survived pg_ctl stop; killing it"
		kill -QUIT "$PG_PID" 2>/dev/null || true
		sleep 1
		kill -KILL "$PG_PID" 2>/dev/null || true
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_agent
	stop_postgres
	if [ -n "$OLD_STATS" ]; then sysctl -q -w kernel.bpf_stats_enabled="$OLD_STATS" >/dev/null 2>&1 || true; fi
	if [ "$rc" -ne 0 ] && [ -d "$TMP" ]; then
		for f in "$TMP"/agent*.log "$TMP"/pgbench-*.out "$TMP"/initdb.log "$PGDIR"/postgres.log; do
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
# delta A B: B-A, n/a-aware
delta() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.0f\n", b - a }'; }
# add A B: A+B, n/a-aware
add() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.0f\n", a + b }'; }
# median VALUES...: median of the numeric values ("n/a" entries are ignored)
median() {
	printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# target_mark VALUE OP LIMIT: "met" / "MISSED" / "n/a" for an informational target
target_mark() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v !~ /^-?[0-9.eE+]+$/) { print "n/a"; exit }
		ok = (op == ">=") ? (v + 0 >= l + 0) : (op == "<=") ? (v + 0 <= l + 0) : (v + 0 == l + 0)
		print ok ? "met" : "MISSED" }'
}
now() { date +%s.%N; }
ticks_ns() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f\n", t * 1e9 / hz }'; }
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# ---------------------------------------------------------------------------------------------
# PostgreSQL
cp "$AGENT_SRC" "$AGENT" || die "cannot copy $AGENT_SRC"
LOAD_START=$(uptime | sed 's/.*load average: //')
mkdir -p "$PGDIR/sock"
chown -R postgres:postgres "$PGDIR"
(cd "$PGDIR" && runuser -u postgres -- "$PG_BIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust \
	--no-sync -E UTF8 --locale=C) >"$TMP/initdb.log" 2>&1 || die "initdb failed (see above)"
PG_PORT=$(free_port)
PG_STARTED=1
(cd "$PGDIR" && timeout -k 5 90 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/postgres.log" \
	-w -t 60 -o "-p $PG_PORT -k $PGDIR/sock -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=256MB -c max_connections=50" \
	start) >"$TMP/pg_ctl.out" 2>&1 || die "postgres did not start: $(tail -n 3 "$PGDIR/postgres.log" 2>/dev/null | tr '\n' ' ')"
PG_PID=$(head -n 1 "$PGDIR/data/postmaster.pid" 2>/dev/null || true)
if ! [[ $PG_PID =~ ^[0-9]+$ ]] || ! kill -0 "$PG_PID" 2>/dev/null; then
	die "cannot find the postmaster's pid in $PGDIR/data/postmaster.pid"
fi
"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 30 || die "postgres on 127.0.0.1:$PG_PORT is not ready"
PG_VERSION=$("$PG_BIN/postgres" --version 2>/dev/null | awk '{ print $3 }')
USDT_NOTES=$(readelf -n "$PG_BIN/postgres" 2>/dev/null | grep -c 'stapsdt' || true)
log "postgres $PG_VERSION pid $PG_PID on 127.0.0.1:$PG_PORT (socket dir $PGDIR/sock; $USDT_NOTES USDT notes in the binary); agent $AGENT_SRC"

PGB=("$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres)
log "pgbench -i -s $SCALE ..."
timeout -k 5 600 "${PGB[@]}" -i -q -s "$SCALE" postgres >"$TMP/pgbench-init.out" 2>&1 || die "pgbench -i -s $SCALE failed: $(tail -n 3 "$TMP/pgbench-init.out" | tr '\n' ' ')"

OLD_STATS=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null) || die "cannot read kernel.bpf_stats_enabled"
sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null || die "cannot set kernel.bpf_stats_enabled=1"

# pgbench's statements as the agent's fingerprints show them (nexus_postgres_query_info's query)
# shellcheck disable=SC2016 # $1 is the fingerprints' placeholder, not a shell expansion
printf '%s\n' 'select abalance from pgbench_accounts where aid = $1' >"$TMP/texts-select"
# shellcheck disable=SC2016
printf '%s\n' 'begin' \
	'update pgbench_accounts set abalance = abalance + $1 where aid = $2' \
	'select abalance from pgbench_accounts where aid = $1' \
	'update pgbench_tellers set tbalance = tbalance + $1 where tid = $2' \
	'update pgbench_branches set bbalance = bbalance + $1 where bid = $2' \
	'insert into pgbench_history (tid, bid, aid, delta, mtime) values ($1, $2, $3, $4, current_timestamp)' \
	'end' >"$TMP/texts-tpcb"

# ---------------------------------------------------------------------------------------------
# helpers around pgbench, the agent, bpftool and /proc

# run_pgbench NAME SECONDS [ARGS...]: one pgbench run; prints "transactions tps failed".
run_pgbench() {
	local name=$1 secs=$2 out=$TMP/pgbench-$1.out
	shift 2
	timeout -k 5 $((secs + 120)) "${PGB[@]}" -c "$CLIENTS" -j "$THREADS" -T "$secs" -M "$PROTOCOL" "$@" postgres \
		>"$out" 2>&1 || die "pgbench $* ($name) failed or hung: $(grep -v '^pgbench: client' "$out" | tail -n 3 | tr '\n' ' ')"
	awk '/^number of transactions actually processed:/ { split($NF, a, "/"); tx = a[1] }
		/^number of failed transactions:/ { failed = $5 }
		/^tps = / { tps = $3 }
		END { if (tx == "" || tps == "") exit 1; printf "%s %s %s\n", tx, tps, (failed == "" ? 0 : failed) }' "$out" ||
		die "could not parse pgbench output ($name): $(tail -n 3 "$out" | tr '\n' ' ')"
}

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
	for _ in $(seq 1 50); do
		curl -sf -m 2 "http://127.0.0.1:$METRICS_PORT/metrics" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "agent attached but http://127.0.0.1:$METRICS_PORT/metrics does not answer"
}

# scrape FILE: the running agent's /metrics, saved to FILE (empty when it does not answer).
scrape() { curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/metrics" >"$1" 2>/dev/null || : >"$1"; }
# mval FILE NAME [TEXT]: sum of the samples of NAME (whose line contains TEXT) in a scrape; 0 when
# the family is there without such a sample, n/a when the family is missing.
mval() {
	awk -v n="$2" -v t="${3:-}" '$1 == "#" && $2 == "TYPE" && $3 == n { f = 1 }
		($1 == n || index($1, n "{") == 1) && index($0, t) { s += $NF; f = 1 }
		END { if (f) printf "%.0f\n", s; else print "n/a" }' "$1"
}
# pg_stmts FILE TEXTS: nexus_postgres_queries_total (all statuses) summed over the fingerprints
# whose nexus_postgres_query_info text is one of the lines of the file TEXTS; n/a when the family
# is missing.
pg_stmts() {
	awk -v tf="$2" 'BEGIN { while ((getline l < tf) > 0) want[l] = 1 }
		function fpof(s) { return match(s, /fingerprint="[^"]*"/) ? substr(s, RSTART + 13, RLENGTH - 14) : "" }
		$1 == "#" && $2 == "TYPE" && $3 == "nexus_postgres_queries_total" { fam = 1 }
		index($0, "nexus_postgres_queries_total{") == 1 { n[fpof($0)] += $NF; fam = 1 }
		index($0, "nexus_postgres_query_info{") == 1 {
			q = substr($0, index($0, "query=\"") + 7)
			if (match(q, /"} [^ ]+$/)) q = substr(q, 1, RSTART - 1)
			if (q in want) fp[fpof($0)] = 1
		}
		END { if (!fam) { print "n/a"; exit } for (f in fp) s += n[f]; printf "%.0f\n", s }' "$1"
}

# agent_prog_ids: ids of the BPF programs the running agent holds (prog and link fds carry
# "prog_id:" in fdinfo), so concurrently running agents do not pollute the numbers.
agent_prog_ids() {
	[ -n "$AGENT_PID" ] || return 0
	cat /proc/"$AGENT_PID"/fdinfo/* 2>/dev/null | awk '$1 == "prog_id:" { print $2 }' | sort -un | tr '\n' ' '
}

# bpf_snapshot: prints "run_time_ns run_cnt nprogs usdt_run_time_ns usdt_run_cnt usdt_nprogs"
# summed over the agent's programs: the capture programs (nx_*, syscall and sched tracepoints)
# and the PostgreSQL USDT programs (nx_pg_*, from bpf/pg_usdt.bpf.c), the latter also on their own.
bpf_snapshot() {
	local ids
	ids=$(agent_prog_ids)
	bpftool prog show -j 2>/dev/null | IDS="$ids" python3 -c '
import json, os, sys
ids = {int(x) for x in os.environ.get("IDS", "").split()}
progs = [p for p in json.load(sys.stdin) if p.get("name", "").startswith("nx_")]
mine = [p for p in progs if p["id"] in ids]
if not progs:
    print("bench-pg: WARNING: no BPF programs named nx_* are loaded; BPF cost is n/a", file=sys.stderr)
elif ids and mine:
    progs = mine
else:
    print("bench-pg: WARNING: could not map BPF programs to the agent pid; summing all nx_ programs", file=sys.stderr)
usdt = [p for p in progs if p["name"].startswith("nx_pg_")]
print(sum(p.get("run_time_ns", 0) for p in progs), sum(p.get("run_cnt", 0) for p in progs), len(progs),
      sum(p.get("run_time_ns", 0) for p in usdt), sum(p.get("run_cnt", 0) for p in usdt), len(usdt))
' || echo "0 0 0 0 0 0"
}

# agent_cpu_ticks: utime+stime of the running agent, in clock ticks.
agent_cpu_ticks() {
	sed 's/^.*) //' /proc/"$AGENT_PID"/stat 2>/dev/null | awk '{ print $12 + $13 }' || echo 0
}
# agent_sched_ns: CPU time of the agent's live threads in ns (/proc/PID/task/*/schedstat, field 1).
agent_sched_ns() {
	cat /proc/"$AGENT_PID"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# ---------------------------------------------------------------------------------------------
# one run with the agent: agent_run KEY VARIANT NAME SPT PGBENCH_ARGS...
# VARIANT is U (USDT on) or N (--no-usdt).  Prints a detail line and adds the run's figures to the
# globals A_<KEY><VARIANT>_*; sets RUN_TPS.
RUN_TPS=
agent_run() {
	local key=$1 var=$2 name=$3 spt=$4
	shift 4
	local -a extra=()
	[ "$var" = N ] && extra=(--no-usdt)
	start_agent "agent-$name" --no-default-targets --pid "$PG_PID" "${extra[@]}"
	local m0=$TMP/m0 m1=$TMP/m1 texts=$TMP/texts-$key rt0 rc0 np urt0 urc0 unp rt1 rc1 urt1 urc1 cpu0 cpu1 sc0 sc1 tx tps failed
	scrape "$m0"
	local t0 t1
	t0=$(now)
	cpu0=$(agent_cpu_ticks)
	sc0=$(agent_sched_ns)
	read -r rt0 rc0 np urt0 urc0 unp <<<"$(bpf_snapshot)"
	local res
	res=$(run_pgbench "$name" "$DURATION" "$@") # (an assignment, so set -e sees a failure)
	read -r tx tps failed <<<"$res"
	# wait for the agent to drain its ring and publish (PostgreSQL figures once per second): until
	# its count of pgbench's statements reaches pgbench's own, or DRAIN_TIMEOUT
	local want=$((tx * spt)) got ok=0
	for _ in $(seq 1 $((DRAIN_TIMEOUT * 4))); do
		sleep 0.25
		scrape "$m1"
		got=$(delta "$(pg_stmts "$m0" "$texts")" "$(pg_stmts "$m1" "$texts")")
		[ "$got" != n/a ] && [ "$got" -ge "$want" ] && { ok=1; break; }
	done
	if [ "$ok" = 1 ]; then
		sleep 0.3 # one more look: nothing should still be moving
		scrape "$m1"
	fi
	got=$(delta "$(pg_stmts "$m0" "$texts")" "$(pg_stmts "$m1" "$texts")")
	cpu1=$(agent_cpu_ticks)
	sc1=$(agent_sched_ns)
	t1=$(now)
	read -r rt1 rc1 _ urt1 urc1 _ <<<"$(bpf_snapshot)"
	stop_agent

	local d_urt=$((urt1 - urt0)) d_urc=$((urc1 - urc0)) d_win d_all d_lost d_ev d_unp d_res d_perr d_rt d_rc d_ticks d_sched p=A_${key}${var}_
	d_all=$(delta "$(mval "$m0" nexus_postgres_queries_total)" "$(mval "$m1" nexus_postgres_queries_total)")
	d_lost=$(delta "$(mval "$m0" nexus_agent_events_lost_total)" "$(mval "$m1" nexus_agent_events_lost_total)")
	d_ev=$(delta "$(mval "$m0" nexus_agent_events_total)" "$(mval "$m1" nexus_agent_events_total)")
	d_unp=$(delta "$(mval "$m0" nexus_postgres_unpaired_statements_total)" "$(mval "$m1" nexus_postgres_unpaired_statements_total)")
	d_res=$(delta "$(mval "$m0" nexus_postgres_resyncs_total)" "$(mval "$m1" nexus_postgres_resyncs_total)")
	d_perr=$(delta "$(mval "$m0" nexus_postgres_parse_errors_total)" "$(mval "$m1" nexus_postgres_parse_errors_total)")
	d_rt=$((rt1 - rt0))
	d_rc=$((rc1 - rc0))
	[ "$np" -gt 0 ] || d_rt=n/a
	d_ticks=$((cpu1 - cpu0))
	d_sched=$((sc1 - sc0))
	d_win=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", (b - a) * 1e9 }')

	local v
	for v in RT:$d_rt RC:$d_rc URT:$d_urt URC:$d_urc TICKS:$d_ticks SCHED:$d_sched WIN:$d_win ALL:$d_all LOST:$d_lost EV:$d_ev GOT:$got WANT:$want \
		UNP:$d_unp RES:$d_res PERR:$d_perr FAILED:$failed RUNS:1; do
		local k=${v%%:*} x=${v#*:} cur
		cur=${p}${k}
		printf -v "$cur" '%s' "$(add "${!cur:-0}" "$x")"
	done
	printf -v "${p}NPROG" '%s' "$np"
	printf -v "${p}UNPROG" '%s' "$unp"
	local tpsarr=${p}TPS
	eval "$tpsarr+=(\"\$tps\")"
	RUN_TPS=$tps
	printf '      %-9s %s tps, %s tx (failed %s); agent: %s statements (pgbench'"'"'s %s of %s expected: %s), BPF %s ns/stmt (USDT %s), CPU %d ticks = %s ns/stmt (schedstat %s), events %s, lost %s\n' \
		"$([ "$var" = U ] && echo with || echo no-usdt)" "$tps" "$tx" "$failed" "$d_all" "$got" "$want" \
		"$([ "$got" = "$want" ] && echo equal || echo DIFFERENT)" "$(div "$d_rt" "$d_all" "%.0f")" "$(div "$d_urt" "$d_all" "%.0f")" "$d_ticks" \
		"$(div "$(ticks_ns "$d_ticks")" "$d_all" "%.0f")" "$(div "$d_sched" "$d_all" "%.0f")" "$d_ev" "$d_lost"
}

# pg_mode KEY LABEL SPT PGBENCH_ARGS...: PAIRS rounds of without / with / with --no-usdt.
pg_mode() {
	local key=$1 label=$2 spt=$3 i
	shift 3
	local -a r_without=() ratios_u=() ratios_n=() order
	eval "A_${key}U_TPS=(); A_${key}N_TPS=()"
	echo "-- $label: pgbench -c $CLIENTS -j $THREADS -T $DURATION -M $PROTOCOL $* ($spt statements per transaction); $PAIRS rounds"
	run_pgbench "warmup-$key" 3 "$@" >/dev/null # untimed warm-up
	for i in $(seq 1 "$PAIRS"); do
		if [ "$NO_USDT_VARIANT" = 1 ]; then
			if [ $((i % 2)) = 1 ]; then order=(W U N); else order=(N U W); fi
		else
			if [ $((i % 2)) = 1 ]; then order=(W U); else order=(U W); fi
		fi
		local w tps_u=n/a tps_n=n/a o tx tps failed res names=
		for o in "${order[@]}"; do
			case $o in W) names+=" without" ;; U) names+=" with" ;; N) names+=" no-usdt" ;; esac
		done
		echo "   round $i (order:$names)"
		for o in "${order[@]}"; do
			case $o in
			W)
				res=$(run_pgbench "$key-$i-without" "$DURATION" "$@")
				read -r tx tps failed <<<"$res"
				w=$tps
				printf '      %-9s %s tps, %s tx (failed %s)\n' without "$tps" "$tx" "$failed"
				;;
			U) agent_run "$key" U "$key-$i-usdt" "$spt" "$@"; tps_u=$RUN_TPS ;;
			N) agent_run "$key" N "$key-$i-nousdt" "$spt" "$@"; tps_n=$RUN_TPS ;;
			esac
		done
		r_without+=("$w")
		ratios_u+=("$(div "$tps_u" "$w" "%.4f")")
		ratios_n+=("$(div "$tps_n" "$w" "%.4f")")
		printf '      => ratio with/without %s, no-usdt/without %s\n' "$(div "$tps_u" "$w" "%.3f")" "$(div "$tps_n" "$w" "%.3f")"
	done

	local med_wo var
	med_wo=$(div "$(median "${r_without[@]}")" 1 "%.1f")
	printf -v "S_${key}_WITHOUT" '%s' "$med_wo"
	echo "   $label median TPS without the agent: $med_wo"
	for var in U N; do
		[ "$var" = N ] && [ "$NO_USDT_VARIANT" = 0 ] && continue
		local p=A_${key}${var}_ vname med_w ratio ratio_med bpf cpu cpu_res sched lost match
		local -a tpss=() rr=()
		local tpsarr="${p}TPS[@]"
		tpss=("${!tpsarr}")
		if [ "$var" = U ]; then vname="with agent"; rr=("${ratios_u[@]}"); else vname="with --no-usdt"; rr=("${ratios_n[@]}"); fi
		local all=${p}ALL rt=${p}RT rc=${p}RC urt=${p}URT urc=${p}URC nprog=${p}NPROG unprog=${p}UNPROG ticks=${p}TICKS sch=${p}SCHED lst=${p}LOST got=${p}GOT want=${p}WANT \
			win=${p}WIN unp=${p}UNP res=${p}RES perr=${p}PERR ev=${p}EV runs=${p}RUNS
		med_w=$(div "$(median "${tpss[@]}")" 1 "%.1f")
		ratio=$(div "$(median "${rr[@]}")" 1 "%.3f")
		ratio_med=$(div "$med_w" "$med_wo" "%.3f")
		bpf=$(div "${!rt}" "${!all}" "%.0f")
		cpu=$(div "$(ticks_ns "${!ticks}")" "${!all}" "%.0f")
		# each run's tick delta is off by up to one tick: runs ticks over all the statements
		cpu_res=$(div "$(ticks_ns "${!runs}")" "${!all}" "%.0f")
		sched=$(div "${!sch}" "${!all}" "%.0f")
		# net of the idle cost: schedstat minus the idle rate over the measured windows
		local net
		net=$(div "$(awk -v c="${!sch}" -v w="${!win}" -v r="$IDLE_NS_PER_S" 'BEGIN { printf "%.0f\n", c - r * w / 1e9 }')" "${!all}" "%.0f")
		printf -v "S_${key}${var}_NET" '%s' "$net"
		lost=${!lst}
		if [ "${!got}" = "${!want}" ]; then match=yes; else match="NO (agent ${!got}, pgbench ${!want})"; fi
		printf -v "S_${key}${var}_WITH" '%s' "$med_w"
		printf -v "S_${key}${var}_RATIO" '%s' "$ratio"
		printf -v "S_${key}${var}_RATIO_MED" '%s' "$ratio_med"
		printf -v "S_${key}${var}_BPF" '%s' "$bpf"
		printf -v "S_${key}${var}_BPF_RUN" '%s' "$(div "${!rt}" "${!rc}" "%.0f")"
		printf -v "S_${key}${var}_RUNS_STMT" '%s' "$(div "${!rc}" "${!all}" "%.2f")"
		printf -v "S_${key}${var}_UBPF" '%s' "$(div "${!urt}" "${!all}" "%.0f")"
		printf -v "S_${key}${var}_UHITS" '%s' "$(div "${!urc}" "${!all}" "%.2f")"
		printf -v "S_${key}${var}_CPU" '%s' "$cpu"
		printf -v "S_${key}${var}_CPU_RES" '%s' "$cpu_res"
		printf -v "S_${key}${var}_SCHED" '%s' "$sched"
		printf -v "S_${key}${var}_LOST" '%s' "$lost"
		printf -v "S_${key}${var}_MATCH" '%s' "$match"
		echo "   $label $vname: median TPS $med_w; ratio (median of rounds) $ratio, ratio of medians $ratio_med   [target >= 0.97: $(target_mark "$ratio" '>=' 0.97)]"
		echo "   $label $vname: BPF (${!nprog} programs) ${!rc} runs, ${!rt} ns over ${!all} statements the agent counted -> $bpf ns/statement ($(div "${!rt}" "${!rc}" "%.0f") ns/run, $(div "${!rc}" "${!all}" "%.2f") runs/statement)"
		echo "   $label $vname:   of which USDT (${!unprog} programs) ${!urc} probe hits, ${!urt} ns -> $(div "${!urt}" "${!all}" "%.0f") ns/statement, $(div "${!urc}" "${!all}" "%.2f") probe hits/statement (each hit also pays a uprobe trap, not in run_time_ns)"
		echo "   $label $vname: agent CPU ${!ticks} ticks = $(awk -v n="$(ticks_ns "${!ticks}")" 'BEGIN { printf "%.2f", n / 1e9 }')s utime+stime -> $cpu ns/statement (+-$cpu_res: whole ticks of $(div 1000 "$CLK_TCK" "%.0f") ms); schedstat $sched ns/statement, $net net of the idle $IDLE_MS ms/s over the $(awk -v w="${!win}" 'BEGIN { printf "%.1f", w / 1e9 }') s measured   [target <= 2000: $(target_mark "$cpu" '<=' 2000)]"
		echo "   $label $vname: events ${!ev}, lost $lost   [target 0: $(target_mark "$lost" '==' 0)]; parser: unpaired ${!unp}, resyncs ${!res}, parse errors ${!perr}"
		echo "   $label $vname: pgbench's statements counted by the agent ${!got}, pgbench transactions x $spt = ${!want} -> equal: $match"
	done
}

# ---------------------------------------------------------------------------------------------
echo "== nexus-agent PostgreSQL benchmark: PostgreSQL $PG_VERSION, pgbench -s $SCALE -c $CLIENTS -j $THREADS -T $DURATION -M $PROTOCOL, $PAIRS rounds per mode (kernel $(uname -r), $(nproc) CPUs)"
echo "load average at start: $LOAD_START"

# the agent's own cost with nothing to do (its timers, publication, the scrapes): the part of the
# per-statement CPU below that is not per statement
IDLE_SECONDS=5
echo "-- idle: agent (USDT on) attached to an idle postgres for ${IDLE_SECONDS}s"
start_agent agent-idle --no-default-targets --pid "$PG_PID"
sleep 0.5
I_T0=$(agent_cpu_ticks)
I_S0=$(agent_sched_ns)
sleep "$IDLE_SECONDS"
scrape "$TMP/m-idle"
I_T1=$(agent_cpu_ticks)
I_S1=$(agent_sched_ns)
stop_agent
IDLE_MS=$(div "$((I_S1 - I_S0))" "$((IDLE_SECONDS * 1000000))" "%.2f")
IDLE_NS_PER_S=$(div "$((I_S1 - I_S0))" "$IDLE_SECONDS" "%.0f")
echo "   idle agent CPU: $IDLE_MS ms per second (schedstat; /proc stat $((I_T1 - I_T0)) ticks in ${IDLE_SECONDS}s)"

pg_mode select "-S (select-only)" 1 -S
pg_mode tpcb "TPC-B-like (default script)" 7
LOAD_END=$(uptime | sed 's/.*load average: //')
echo "load average at end: $LOAD_END"

# ---------------------------------------------------------------------------------------------
row() { printf '%-44s %-22s %s\n' "$1" "$2" "$3"; }
pair() { printf '%s | %s' "$1" "$2"; }
# pick KEY VAR FIELD: a summary figure, "-" when that variant did not run
pick() { local n=S_$1$2_$3; printf '%s' "${!n:--}"; }
echo
echo "==================== nexus-agent PostgreSQL benchmark summary ===================="
echo "pgbench -c $CLIENTS -j $THREADS -T $DURATION -M $PROTOCOL, scale $SCALE, $PAIRS rounds; figures: with agent (USDT on) | --no-usdt"
row "" "-S (select-only)" "TPC-B-like"
row "TPS without agent (median)" "$(pick select '' WITHOUT)" "$(pick tpcb '' WITHOUT)"
row "TPS with agent (median)" "$(pair "$(pick select U WITH)" "$(pick select N WITH)")" "$(pair "$(pick tpcb U WITH)" "$(pick tpcb N WITH)")"
row "TPS ratio (median of rounds)" "$(pair "$(pick select U RATIO)" "$(pick select N RATIO)")" "$(pair "$(pick tpcb U RATIO)" "$(pick tpcb N RATIO)")"
row "  target >= 0.97" "$(pair "$(target_mark "$(pick select U RATIO)" '>=' 0.97)" "$(target_mark "$(pick select N RATIO)" '>=' 0.97)")" \
	"$(pair "$(target_mark "$(pick tpcb U RATIO)" '>=' 0.97)" "$(target_mark "$(pick tpcb N RATIO)" '>=' 0.97)")"
row "TPS ratio (ratio of medians)" "$(pair "$(pick select U RATIO_MED)" "$(pick select N RATIO_MED)")" "$(pair "$(pick tpcb U RATIO_MED)" "$(pick tpcb N RATIO_MED)")"
row "BPF ns/statement" "$(pair "$(pick select U BPF)" "$(pick select N BPF)")" "$(pair "$(pick tpcb U BPF)" "$(pick tpcb N BPF)")"
row "  (BPF ns/run)" "$(pair "$(pick select U BPF_RUN)" "$(pick select N BPF_RUN)")" "$(pair "$(pick tpcb U BPF_RUN)" "$(pick tpcb N BPF_RUN)")"
row "  (of which USDT programs, ns/statement)" "$(pair "$(pick select U UBPF)" "$(pick select N UBPF)")" "$(pair "$(pick tpcb U UBPF)" "$(pick tpcb N UBPF)")"
row "  (USDT probe hits/statement)" "$(pair "$(pick select U UHITS)" "$(pick select N UHITS)")" "$(pair "$(pick tpcb U UHITS)" "$(pick tpcb N UHITS)")"
row "  (program runs/statement)" "$(pair "$(pick select U RUNS_STMT)" "$(pick select N RUNS_STMT)")" "$(pair "$(pick tpcb U RUNS_STMT)" "$(pick tpcb N RUNS_STMT)")"
row "agent CPU ns/statement (/proc stat)" "$(pair "$(pick select U CPU)" "$(pick select N CPU)")" "$(pair "$(pick tpcb U CPU)" "$(pick tpcb N CPU)")"
row "  (+- tick resolution)" "$(pair "$(pick select U CPU_RES)" "$(pick select N CPU_RES)")" "$(pair "$(pick tpcb U CPU_RES)" "$(pick tpcb N CPU_RES)")"
row "  target <= 2000" "$(pair "$(target_mark "$(pick select U CPU)" '<=' 2000)" "$(target_mark "$(pick select N CPU)" '<=' 2000)")" \
	"$(pair "$(target_mark "$(pick tpcb U CPU)" '<=' 2000)" "$(target_mark "$(pick tpcb N CPU)" '<=' 2000)")"
row "agent CPU ns/statement (schedstat)" "$(pair "$(pick select U SCHED)" "$(pick select N SCHED)")" "$(pair "$(pick tpcb U SCHED)" "$(pick tpcb N SCHED)")"
row "  (schedstat, net of idle agent CPU)" "$(pair "$(pick select U NET)" "$(pick select N NET)")" "$(pair "$(pick tpcb U NET)" "$(pick tpcb N NET)")"
row "events lost (target 0)" "$(pair "$(pick select U LOST)" "$(pick select N LOST)")" "$(pair "$(pick tpcb U LOST)" "$(pick tpcb N LOST)")"
row "agent count = pgbench tx x stmts/tx" "$(pair "$(pick select U MATCH)" "$(pick select N MATCH)")" "$(pair "$(pick tpcb U MATCH)" "$(pick tpcb N MATCH)")"
row "idle agent CPU (ms per second)" "$IDLE_MS" ""
echo "load average: start $LOAD_START; end $LOAD_END"
echo "=================================================================================="
cat <<EOF
(Ratios: TPS with the agent / TPS without it in the same round; the median over the rounds is the
 headline. BPF ns/statement: run_time_ns of the agent's programs over a with-agent run (every
 syscall of interest on the machine, pgbench's own included, plus the USDT probe programs) over the
 statements the agent counted; kernel.bpf_stats_enabled itself adds ~20-40 ns per program run, and
 the uprobe trap cost of the USDT probes is not in run_time_ns (it shows in the TPS ratio). Agent
 CPU per statement: utime+stime from /proc/PID/stat (whole ticks of 1/CLK_TCK s, so each run is
 off by up to one tick), schedstat (ns, threads alive at the end) as the finer cross-check; both
 include the agent's idle work (timers, publication, the bench's /metrics scrapes) over the run
 and its drain; the "net of idle" line subtracts the idle rate measured first over that time.)
EOF
