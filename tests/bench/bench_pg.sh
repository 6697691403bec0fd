#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# PostgreSQL overhead benchmark for nexus-agent against a throwaway PostgreSQL 15.  `make bench`
# runs it (tests/bench/bench_all.sh) after tests/bench/bench.sh.  It prints numbers and asserts
# nothing about them; it exits non-zero when a tool fails or the agent's counts are wrong.
#
# Set-up: initdb (as the postgres user, trust auth) into a temporary directory, a postmaster on
# 127.0.0.1:<free port> plus a unix socket directory there (fsync=off, shared_buffers=256MB so the
# ~160 MB of `pgbench -i -s 10` stay in shared buffers), then `pgbench -i -s 10`.
#
#   idle        the agent (USDT on) attached to the idle postmaster for BENCH_IDLE_SECONDS: its CPU
#               per second, the tracepoints and how many USDT locations it attaches
#   workloads   pgbench -S (select-only: 1 statement per transaction), then pgbench's default
#               TPC-B-like script (7 statements: BEGIN, 3 UPDATEs, SELECT, INSERT, END), each
#               `pgbench -c 8 -j 2 -T BENCH_SECONDS -M simple` after an untimed warm-up, in
#               BENCH_ROUNDS rounds of
#                 off     no probe
#                 bare    bpftrace on the agent's tracepoints and on the USDT probes it attaches
#                         (agent/capture/pg_usdt.c's list, those the binary has), each filtered on
#                         the postmaster and its children (a map kept up to date on fork, as the
#                         agent's is), count()
#                 agent   nexus-agent run --no-default-targets --pid <postmaster> (USDT on, the
#                         default)
#                 nousdt  the same with --no-usdt (the wire path alone; BENCH_PG_NO_USDT=0 leaves
#                         it out)
#               rotated each round (tests/bench/lib.sh).  Backends are children of the postmaster
#               and are picked up by fork.
# Each agent run checks that the agent counted every one of pgbench's statements
# (nexus_postgres_queries_total joined with nexus_postgres_query_info: pgbench's transactions x
# statements per transaction); each bare run checks that bpftrace counted syscall and USDT hits.
# "Per statement" divides by every statement the agent counted in the run (which also holds the
# handful of set-up statements pgbench sends: vacuum, truncate, scale check); for the bare probe,
# by pgbench's.
#
# Protocol: pgbench's default simple protocol (-M simple): every statement's text crosses the wire
# and goes through the fingerprinter, the agent's costliest path.  BENCH_PG_PROTOCOL=extended|
# prepared measures the others.
#
# Environment: see lib.sh (BENCH_ROUNDS, BENCH_SECONDS, BENCH_IDLE_SECONDS, NEXUS_AGENT,
#              BENCH_SUMMARY); BENCH_PG_BIN (/usr/lib/postgresql/15/bin), BENCH_PG_CLIENTS (8),
#              BENCH_PG_THREADS (2), BENCH_PG_SCALE (10), BENCH_PG_PROTOCOL (simple),
#              BENCH_PG_NO_USDT (1: also run the --no-usdt variant; 0: leave it out).
set -euo pipefail

BENCH_TAG=bench-pg
# shellcheck source=tests/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_BIN=${BENCH_PG_BIN:-/usr/lib/postgresql/15/bin}
CLIENTS=${BENCH_PG_CLIENTS:-8}
THREADS=${BENCH_PG_THREADS:-2}
SCALE=${BENCH_PG_SCALE:-10}
PROTOCOL=${BENCH_PG_PROTOCOL:-simple}
NO_USDT_VARIANT=${BENCH_PG_NO_USDT:-1}
[ "$NO_USDT_VARIANT" != 1 ] || VARIANT=nousdt # the second agent mode (lib.sh's both)
DRAIN_TIMEOUT=8 # seconds for the agent to count pgbench's statements (it publishes once a second)

for v in CLIENTS THREADS SCALE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
case $PROTOCOL in simple | extended | prepared) ;; *) die "BENCH_PG_PROTOCOL must be simple, extended or prepared" ;; esac
case $NO_USDT_VARIANT in 0 | 1) ;; *) die "BENCH_PG_NO_USDT must be 0 or 1" ;; esac
for t in initdb pg_ctl postgres pgbench pg_isready; do
	[ -x "$PG_BIN/$t" ] || die "$PG_BIN/$t not found; install postgresql-15 (deploy/install-deps.sh)"
done
id -u postgres >/dev/null 2>&1 || die "no 'postgres' user to run the server as"

PG_PID=
PG_STARTED=
PGDIR=
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
bench_cleanup_servers() { stop_postgres; }
bench_init nexus-bench-pg runuser readelf pgrep
PGDIR=$TMP/pg
BENCH_LOGS+=("$TMP/initdb.log" "$PGDIR/postgres.log")
export PGSSLMODE=disable PGGSSENCMODE=disable PGCONNECT_TIMEOUT=10

# ---------------------------------------------------------------------------------------------
# PostgreSQL
mkdir -p "$PGDIR/sock"
chown -R postgres:postgres "$PGDIR"
(cd "$PGDIR" && runuser -u postgres -- "$PG_BIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust \
	--no-sync -E UTF8 --locale=C) >"$TMP/initdb.log" 2>&1 || die "initdb failed"
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
# the USDT probes the agent attaches by default (agent/capture/pg_usdt.c's table: { name,
# records, exec_time }; the exec_time ones only with --pg-exec-time) that this binary has
BINARY_PROBES=$(readelf -n "$PG_BIN/postgres" 2>/dev/null | awk '$1 == "Name:" { print $2 }' | sort -u)
USDT_PROBES=$(sed -n 's/^[[:space:]]*{ "\([a-z_]*\)", \(true\|false\), false },.*/\1/p' "$REPO/agent/capture/pg_usdt.c" |
	grep -Fxf <(printf '%s\n' "$BINARY_PROBES") || true)
[ -n "$USDT_PROBES" ] || die "none of the USDT probes of agent/capture/pg_usdt.c is in $PG_BIN/postgres"
log "postgres $PG_VERSION pid $PG_PID on 127.0.0.1:$PG_PORT (socket dir $PGDIR/sock); USDT probes: $(echo "$USDT_PROBES" | tr '\n' ' ')"

PGB=("$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres)
log "pgbench -i -s $SCALE ..."
timeout -k 5 600 "${PGB[@]}" -i -q -s "$SCALE" postgres >"$TMP/pgbench-init.out" 2>&1 || die "pgbench -i -s $SCALE failed: $(tail -n 3 "$TMP/pgbench-init.out" | tr '\n' ' ')"

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
# helpers

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

# bare_script FILE: the bare probe for the postmaster and its processes now (those forked later
# join the map @pg on fork): the agent's tracepoints and the USDT probes, counting.
bare_script() {
	local p
	{
		printf 'BEGIN {'
		for p in "$PG_PID" $(pgrep -P "$PG_PID" || true); do printf ' @pg[%s] = 1;' "$p"; done
		printf ' printf("nx-bare: ready\\n"); }\n'
		bare_tracepoints '@pg[pid]' 1
		for p in $USDT_PROBES; do
			printf 'usdt:%s:postgresql:%s /@pg[pid]/ { @u_%s = count(); }\n' "$PG_BIN/postgres" "$p" "$p"
		done
		printf 'END { clear(@pg); }\n'
	} >"$1"
}

USDT_GROUP=('USDT=nx_pg_*,-nx_pg_fork') # the USDT programs (bpf/pg_usdt.bpf.c), its fork program apart

# ---------------------------------------------------------------------------------------------
# one run of the current workload (WL, WL_SPT statements per transaction, WL_ARGS) in a mode;
# sets RUN_THR

pg_run() {
	local mode=$1 r=$2 res tx tps failed
	case $mode in
	off)
		res=$(run_pgbench "$WL-$r-off" "$RUN_SECONDS" "${WL_ARGS[@]}")
		read -r tx tps failed <<<"$res"
		printf '      %-8s %s tps, %s tx (failed %s)\n' off "$tps" "$tx" "$failed"
		;;
	bare)
		bare_script "$TMP/bare-pg.bt"
		bare_start "bare-$WL-$r" "$TMP/bare-pg.bt"
		[ "$BARE_UPROBES" = "$IDLE_UPROBES" ] || log "WARNING: bpftrace attached $BARE_UPROBES USDT locations, the agent $IDLE_UPROBES: the floor does not cover the same probes"
		res=$(run_pgbench "$WL-$r-bare" "$RUN_SECONDS" "${WL_ARGS[@]}")
		read -r tx tps failed <<<"$res"
		bare_stop
		bare_record "$WL" "$((tx * WL_SPT))"
		printf '      %-8s %s tps, %s tx (failed %s); %s, of which USDT %s (%s/stmt)\n' bare "$tps" "$tx" "$failed" \
			"$(bare_line "$((tx * WL_SPT))")" "$B_UHITS" "$(div "$B_UHITS" "$((tx * WL_SPT))" "%.2f")"
		[ "$B_HITS" -gt "$B_UHITS" ] || die "bpftrace counted no syscall of the postgres processes: the floor measured nothing"
		[ "$B_UHITS" -gt 0 ] || die "bpftrace counted no USDT hit: its USDT probes never fired (semaphores not set?)"
		;;
	agent | nousdt)
		pg_agent_run "$mode" "$r"
		tps=$RUN_THR
		;;
	esac
	RUN_THR=$tps
}

pg_agent_run() {
	local mode=$1 r=$2 res tx tps failed want got ok=0 all texts=$TMP/texts-$WL
	local -a extra=()
	[ "$mode" = nousdt ] && extra=(--no-usdt)
	agent_start "agent-$WL-$r-$mode" --no-default-targets --pid "$PG_PID" "${extra[@]}"
	agent_begin "${USDT_GROUP[@]}"
	res=$(run_pgbench "$WL-$r-$mode" "$RUN_SECONDS" "${WL_ARGS[@]}") # (an assignment, so set -e sees a failure)
	read -r tx tps failed <<<"$res"
	# wait for the agent to drain its ring and publish (PostgreSQL figures once per second): until
	# its count of pgbench's statements reaches pgbench's own, or DRAIN_TIMEOUT
	want=$((tx * WL_SPT))
	for _ in $(seq 1 $((DRAIN_TIMEOUT * 4))); do
		sleep 0.25
		scrape "$TMP/m1"
		got=$(delta "$(pg_stmts "$TMP/m0" "$texts")" "$(pg_stmts "$TMP/m1" "$texts")")
		[ "$got" != n/a ] && [ "$got" -ge "$want" ] && { ok=1; break; }
	done
	if [ "$ok" = 1 ]; then
		sleep 0.3 # one more look: nothing should still be moving
		scrape "$TMP/m1"
	fi
	got=$(delta "$(pg_stmts "$TMP/m0" "$texts")" "$(pg_stmts "$TMP/m1" "$texts")")
	all=$(mdelta nexus_postgres_queries_total)
	local unp res_ perr
	unp=$(mdelta nexus_postgres_unpaired_statements_total)
	res_=$(mdelta nexus_postgres_resyncs_total)
	perr=$(mdelta nexus_postgres_parse_errors_total)
	agent_end
	agent_record "$WL" "$mode" "$all"
	[ "$got" = "$want" ] || mismatch "$WL round $r ($mode): the agent counted $got of pgbench's statements, pgbench ran $tx transactions x $WL_SPT = $want"
	printf '      %-8s %s tps, %s tx (failed %s); agent counted %s of pgbench'"'"'s %s statements: %s (all %s); %s; USDT %s ns/stmt (%s hits/stmt); parser: unpaired %s, resyncs %s, errors %s\n' \
		"$mode" "$tps" "$tx" "$failed" "$got" "$want" "$([ "$got" = "$want" ] && echo equal || echo DIFFERENT)" "$all" \
		"$(agent_line "$all")" "$(div "${A_G_RT[0]}" "$all" "%.0f")" "$(div "${A_G_RC[0]}" "$all" "%.2f")" "$unp" "$res_" "$perr"
	RUN_THR=$tps
}

# workload WL LABEL SPT PGBENCH_ARGS...: the rounds of one pgbench workload, then its medians.
workload() {
	WL=$1
	WL_LABEL=$2
	WL_SPT=$3
	shift 3
	WL_ARGS=("$@")
	local -a modes=(off bare agent)
	[ "$NO_USDT_VARIANT" = 1 ] && modes+=(nousdt)
	echo "-- $WL_LABEL: pgbench -c $CLIENTS -j $THREADS -T $RUN_SECONDS -M $PROTOCOL ${WL_ARGS[*]} ($WL_SPT statements per transaction); $ROUNDS rounds of ${modes[*]}"
	run_pgbench "$WL-warmup" 3 "${WL_ARGS[@]}" >/dev/null # untimed warm-up
	run_rounds "$WL" pg_run "${modes[@]}"
	local m
	echo "   $WL_LABEL, medians over $ROUNDS rounds:"
	echo "      off: $(med "$WL" off thr "%.1f") tps; bare: $(med "$WL" bare thr "%.1f") tps, ratio to off $(med "$WL" bare r_off "%.3f"), bpftrace $(med "$WL" bare hits_cmd "%.2f") hits/stmt (USDT $(med "$WL" bare uhits_cmd "%.2f")), $(med "$WL" bare bpf_run) ns/run, $(med "$WL" bare bpf_cmd) ns/stmt"
	for m in "${modes[@]:2}"; do
		echo "      $m: $(med "$WL" "$m" thr "%.1f") tps, ratio to off $(med "$WL" "$m" r_off "%.3f"), to bare $(med "$WL" "$m" r_bare "%.3f")"
		echo "      $m: BPF $(med "$WL" "$m" bpf_cmd) ns/stmt, $(med "$WL" "$m" bpf_run) ns/run, $(med "$WL" "$m" runs_cmd "%.2f") runs/stmt; of which USDT $(med "$WL" "$m" g_USDT_cmd) ns/stmt ($(med "$WL" "$m" g_USDT_runs "%.2f") hits/stmt, $(med "$WL" "$m" g_USDT_run) ns/hit; each hit also pays a uprobe trap, not in run_time_ns)"
		echo "      $m: agent CPU $(med "$WL" "$m" cpu_cmd) ns/stmt (+-$(med "$WL" "$m" cpu_res): whole ticks); schedstat $(med "$WL" "$m" sched_cmd) ns/stmt, $(med "$WL" "$m" net_cmd) net of the idle $IDLE_MS_PER_S ms/s"
		echo "      $m: events $(total "$WL" "$m" events) ($(med "$WL" "$m" ev_cmd "%.2f")/stmt), $(total "$WL" "$m" lost) lost over the rounds; RSS $(med "$WL" "$m" rss "%.1f") MB, peak $(vmax "$WL" "$m" hwm "%.1f") MB"
	done
	summary_row "$WL" agent "pg $WL_LABEL" TPS
	[ "$NO_USDT_VARIANT" = 1 ] && summary_row "$WL" nousdt "  with --no-usdt" "" variant
	return 0
}

# ---------------------------------------------------------------------------------------------
echo "== nexus-agent PostgreSQL benchmark: PostgreSQL $PG_VERSION, pgbench -s $SCALE -c $CLIENTS -j $THREADS -T $RUN_SECONDS -M $PROTOCOL, $ROUNDS rounds (kernel $(uname -r), $(nproc) CPUs, $DATE_START)"
echo "load average at start: $LOAD_START"

echo "-- idle: the agent (USDT on) attached to the idle postgres for ${IDLE_SECONDS}s"
agent_idle --no-default-targets --pid "$PG_PID"
echo "   USDT locations the agent attaches: $IDLE_UPROBES"

workload select "-S (select-only)" 1 -S
workload tpcb "TPC-B-like" 7
LOAD_END=$(loadavg)
summary_note "pg: idle agent CPU $IDLE_MS_PER_S ms/s; load $LOAD_START at the start, $LOAD_END at the end"

# ---------------------------------------------------------------------------------------------
echo
echo "==================== nexus-agent PostgreSQL benchmark summary ($DATE_START) ===================="
echo "pgbench -c $CLIENTS -j $THREADS -T $RUN_SECONDS -M $PROTOCOL, scale $SCALE, $ROUNDS rounds of off | bare | agent$([ "$NO_USDT_VARIANT" = 1 ] && echo " | --no-usdt") (rotated); load $LOAD_START at the start, $LOAD_END at the end"
row "" "-S (select-only)" "TPC-B-like"
row "figures: with USDT$([ "$NO_USDT_VARIANT" = 1 ] && echo " | --no-usdt")" "" ""
row "TPS off (median)" "$(med select off thr "%.1f")" "$(med tpcb off thr "%.1f")"
row "TPS ratio to off (median of rounds)" "$(both select r_off "%.3f")" "$(both tpcb r_off "%.3f")"
row "TPS ratio to bare probe (median of rounds)" "$(both select r_bare "%.3f")" "$(both tpcb r_bare "%.3f")"
row "bare probe: ratio to off" "$(med select bare r_off "%.3f")" "$(med tpcb bare r_off "%.3f")"
row "bare probe: hits/stmt (USDT), BPF ns/run" "$(med select bare hits_cmd "%.2f") ($(med select bare uhits_cmd "%.2f")), $(med select bare bpf_run)" \
	"$(med tpcb bare hits_cmd "%.2f") ($(med tpcb bare uhits_cmd "%.2f")), $(med tpcb bare bpf_run)"
row "BPF ns/statement" "$(both select bpf_cmd)" "$(both tpcb bpf_cmd)"
row "  BPF ns/run" "$(both select bpf_run)" "$(both tpcb bpf_run)"
row "  of which USDT programs, ns/statement" "$(both select g_USDT_cmd)" "$(both tpcb g_USDT_cmd)"
row "  USDT probe hits/statement" "$(both select g_USDT_runs "%.2f")" "$(both tpcb g_USDT_runs "%.2f")"
row "  program runs/statement" "$(both select runs_cmd "%.2f")" "$(both tpcb runs_cmd "%.2f")"
row "agent CPU ns/statement (/proc stat)" "$(both select cpu_cmd)" "$(both tpcb cpu_cmd)"
row "  schedstat" "$(both select sched_cmd)" "$(both tpcb sched_cmd)"
row "  schedstat net of the idle agent" "$(both select net_cmd)" "$(both tpcb net_cmd)"
row "events lost (sum of rounds)" "$(tboth select lost)" "$(tboth tpcb lost)"
row "RSS MB (median), peak" "$(both select rss "%.1f"), $(vmax select agent hwm "%.1f")" "$(both tpcb rss "%.1f"), $(vmax tpcb agent hwm "%.1f")"
row "agent count = pgbench tx x stmts/tx" "$(matches select)" "$(matches tpcb)"
row "idle agent CPU, ms/s" "$IDLE_MS_PER_S" ""
# the floor table; under bench_all.sh (BENCH_SUMMARY set) it comes once at the end, with both scripts' rows
if [ -z "${BENCH_SUMMARY:-}" ]; then
	echo
	print_summary "$TMP/summary.tsv"
	bench_legend
fi
bench_finish
