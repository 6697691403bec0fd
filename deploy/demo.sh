#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# One-minute tour of nexus-agent (`make demo` runs it after building and installing deps):
#   1. starts a throwaway redis-server and PostgreSQL 15 on free loopback ports in a temp dir
#   2. puts light, bounded load on both (redis-cli SET/GET loop, rate-limited pgbench, psql loop)
#   3. runs `nexus-agent run --listen 127.0.0.1:9435` in the background
#   4. runs `nexus-agent trace` in the foreground for ~10 s so you see the captured chunks live
#   5. prints the agent's nexus_* Prometheus metrics
#   6. stops everything and removes the temp dir (also on Ctrl-C)
#
# Environment: NEXUS_AGENT (agent binary, default <repo>/build/nexus-agent),
#              DEMO_TRACE_SECS (10), DEMO_TRACE_RATE (15, trace lines shown per second),
#              DEMO_METRICS_PORT (9435).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
AGENT=${NEXUS_AGENT:-$REPO/build/nexus-agent}
TRACE_SECS=${DEMO_TRACE_SECS:-10}
TRACE_RATE=${DEMO_TRACE_RATE:-15}
METRICS_PORT=${DEMO_METRICS_PORT:-9435}
PGBIN=/usr/lib/postgresql/15/bin
LOAD_SECS=$((TRACE_SECS + 25)) # upper bound on the background load, whatever happens

if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
die() {
	printf 'demo: FAILED: %s\n' "$*" >&2
	exit 1
}

if [ "$(id -u)" -ne 0 ]; then
	cat >&2 <<EOF
demo: nexus-agent loads eBPF programs into the kernel and reads other processes' socket I/O,
demo: which needs root (CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN). Run it as root, e.g.: sudo make demo
EOF
	exit 1
fi
[ -x "$AGENT" ] || die "agent binary $AGENT not found; run 'make' first"
for t in redis-server redis-cli psql pgbench curl runuser timeout "$PGBIN/initdb" "$PGBIN/pg_ctl"; do
	command -v "$t" >/dev/null 2>&1 || die "'$t' not found; run deploy/install-deps.sh"
done
id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist; install the postgresql package"

TMP=$(mktemp -d /tmp/nexus-demo.XXXXXX)
chmod 755 "$TMP" # the postgres user must reach its data and socket dirs below
REDIS_PID=
PG_STARTED=
AGENT_PID=
LOAD_PIDS=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	touch "$TMP/stop" 2>/dev/null || true
	if [ -n "$AGENT_PID" ]; then
		kill -INT "$AGENT_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$AGENT_PID" 2>/dev/null || true
		wait "$AGENT_PID" 2>/dev/null || true
	fi
	for p in "${LOAD_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${LOAD_PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$PG_STARTED" ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$TMP/pgdata" -m fast -t 15 -w stop >/dev/null 2>&1 ||
			runuser -u postgres -- "$PGBIN/pg_ctl" -D "$TMP/pgdata" -m immediate -t 10 -w stop >/dev/null 2>&1 || true
	fi
	if [ -n "$REDIS_PID" ]; then
		kill -TERM "$REDIS_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ]; then
		for f in "$TMP"/agent.log "$TMP"/redis.log "$TMP"/postgres.log "$TMP"/initdb.log; do
			[ -s "$f" ] || continue
			printf 'demo: ---- last lines of %s ----\n' "$(basename "$f")" >&2
			tail -n 10 "$f" >&2 || true
		done
	fi
	rm -rf "$TMP"
	[ "$rc" -eq 0 ] && say "demo finished; servers and agent stopped, $TMP removed"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null && return 0
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		port_in_use "$p" || { echo "$p"; return 0; }
	done
	die "no free TCP port found"
}

# ---------------------------------------------------------------------------------------------
say "starting a throwaway redis-server and PostgreSQL 15 in $TMP"
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
	--daemonize no --logfile "$TMP/redis.log" --protected-mode no &
REDIS_PID=$!

PG_PORT=$(free_port)
mkdir -p "$TMP/pgdata" "$TMP/pgsock"
chown postgres: "$TMP/pgdata" "$TMP/pgsock"
runuser -u postgres -- "$PGBIN/initdb" -D "$TMP/pgdata" --auth=trust -U postgres -E UTF8 \
	--no-sync --no-instructions >"$TMP/initdb.log" 2>&1 || die "initdb failed"
touch "$TMP/postgres.log" && chown postgres: "$TMP/postgres.log"
PG_STARTED=1
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$TMP/pgdata" -l "$TMP/postgres.log" -w -t 30 \
	-o "-p $PG_PORT -k $TMP/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
	start >/dev/null || die "postgres did not start within 30 s"

for _ in $(seq 1 100); do
	[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
	kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited at startup"
	sleep 0.1
done
[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] || die "redis-server did not answer PING within 10 s"
echo "redis-server  pid $REDIS_PID  on 127.0.0.1:$REDIS_PORT"
echo "postgres      pid $(head -n 1 "$TMP/pgdata/postmaster.pid")  on 127.0.0.1:$PG_PORT and unix socket $TMP/pgsock"

timeout 60 pgbench -i -s 1 -q -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres >"$TMP/pgbench-init.log" 2>&1 ||
	die "pgbench -i failed: $(tail -n 3 "$TMP/pgbench-init.log" | tr '\n' ' ')"

# ---------------------------------------------------------------------------------------------
say "putting light load on both servers for at most ${LOAD_SECS}s"
(
	# redis: ~5 SET/GET/INCR rounds per second over TCP
	end=$((SECONDS + LOAD_SECS)) i=0
	while [ "$SECONDS" -lt "$end" ] && [ ! -e "$TMP/stop" ]; do
		i=$((i + 1))
		redis-cli -p "$REDIS_PORT" SET "demo:user:$i" "{\"name\":\"user$i\",\"plan\":\"free\"}" >/dev/null 2>&1 || true
		redis-cli -p "$REDIS_PORT" GET "demo:user:$i" >/dev/null 2>&1 || true
		redis-cli -p "$REDIS_PORT" INCR demo:counter >/dev/null 2>&1 || true
		sleep 0.2
	done
) &
LOAD_PIDS+=($!)
# postgres: pgbench over TCP, rate-limited to 5 transactions/s
timeout -s INT "$LOAD_SECS" pgbench -n -c 2 -j 1 -R 5 -T "$LOAD_SECS" -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres \
	>"$TMP/pgbench.log" 2>&1 &
LOAD_PIDS+=($!)
(
	# postgres: a simple query every half second over the unix socket
	end=$((SECONDS + LOAD_SECS)) i=0
	while [ "$SECONDS" -lt "$end" ] && [ ! -e "$TMP/stop" ]; do
		i=$((i + 1))
		timeout 5 psql -h "$TMP/pgsock" -p "$PG_PORT" -U postgres -d postgres -Atq \
			-c "SELECT aid, abalance FROM pgbench_accounts WHERE aid = $((i % 1000 + 1))" >/dev/null 2>&1 || true
		sleep 0.5
	done
) &
LOAD_PIDS+=($!)
echo "redis-cli SET/GET/INCR loop, pgbench -R 5 (TCP), psql SELECT loop (unix socket)"

# ---------------------------------------------------------------------------------------------
if port_in_use "$METRICS_PORT"; then
	old=$METRICS_PORT
	METRICS_PORT=$(free_port)
	echo "port $old is busy (another agent running?); serving metrics on $METRICS_PORT instead"
fi
say "starting: $AGENT run --listen 127.0.0.1:$METRICS_PORT --report-interval 20s   (default targets: redis-server, valkey-server, postgres)"
"$AGENT" run --listen "127.0.0.1:$METRICS_PORT" --report-interval 20s >"$TMP/agent.out" 2>"$TMP/agent.log" &
AGENT_PID=$!
deadline=$((SECONDS + 30))
until grep -q '^nexus-agent: attached' "$TMP/agent.log" 2>/dev/null; do
	kill -0 "$AGENT_PID" 2>/dev/null || { AGENT_PID=; die "nexus-agent run exited before attaching"; }
	[ "$SECONDS" -lt "$deadline" ] || die "nexus-agent run did not attach within 30 s"
	sleep 0.2
done
grep '^nexus-agent: attached' "$TMP/agent.log" | head -n 1
echo "status page while the demo runs: http://127.0.0.1:$METRICS_PORT/ (open it in a browser)"

# ---------------------------------------------------------------------------------------------
say "live capture for ${TRACE_SECS}s: $AGENT trace   (at most $TRACE_RATE lines a second shown)"
# show_trace: passes trace lines through, cut to 220 columns and at most TRACE_RATE a second (so the
# output keeps flowing for the whole capture instead of scrolling past in the first second).
show_trace() {
	local line sec=-1 shown=0 total=0 skipped=0
	while IFS= read -r line; do
		total=$((total + 1))
		if [ "$EPOCHSECONDS" != "$sec" ]; then
			sec=$EPOCHSECONDS shown=0
		fi
		if [ "$shown" -lt "$TRACE_RATE" ]; then
			printf '%s\n' "${line:0:220}"
			shown=$((shown + 1))
		else
			skipped=$((skipped + 1))
		fi
	done
	if [ "$total" -eq 0 ]; then
		echo "(no chunks captured)"
	else
		echo "... $total lines in all, $skipped not shown"
	fi
}
trace_cmd=("$AGENT" trace)
command -v stdbuf >/dev/null 2>&1 && trace_cmd=(stdbuf -oL "${trace_cmd[@]}")
set +e
timeout -s INT -k 5 "$TRACE_SECS" "${trace_cmd[@]}" 2>"$TMP/trace.log" | show_trace
trace_rc=${PIPESTATUS[0]}
set -e
# timeout reports 124 when it had to stop the trace; anything else non-zero is a real failure
if [ "$trace_rc" -ne 0 ] && [ "$trace_rc" -ne 124 ]; then
	echo "demo: nexus-agent trace exited with status $trace_rc: $(tail -n 3 "$TMP/trace.log" | tr '\n' ' ')" >&2
fi

# ---------------------------------------------------------------------------------------------
say "metrics: curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep '^nexus_' (histogram buckets left out)"
curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/metrics" | grep '^nexus_' | grep -v '_bucket{' ||
	die "could not read metrics from the agent"
say "cache stats: curl -s http://127.0.0.1:$METRICS_PORT/api/v1/cache/stats"
curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/api/v1/cache/stats" | python3 -m json.tool | head -40 || true
say "database stats (USDT buffer hit ratio, commits): curl -s http://127.0.0.1:$METRICS_PORT/api/v1/database/stats"
curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/api/v1/database/stats" | python3 -m json.tool | head -40 || true
# A slow script holds Redis' one thread: every other client waits. The agent sees the wait in
# the socket (sk_data_ready), puts both in the slow-command log and fires redis_event_loop_blocked.
say "a 300 ms Lua spin, three times, while a client pipelines 10,000 GETs: /api/v1/cache/slow-commands"
SPIN="local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2] while true do local n = redis.call('TIME') if n[1] * 1000000 + n[2] - t0 >= 300000 then break end end return 1"
for _ in 1 2 3; do
	redis-cli -p "$REDIS_PORT" EVAL "$SPIN" 0 >/dev/null 2>&1 &
	spin_pid=$!
	sleep 0.05
	for i in $(seq 1 10000); do printf 'GET demo:user:%d\r\n' "$((i % 50))"; done |
		redis-cli -p "$REDIS_PORT" --pipe >/dev/null 2>&1 || true
	wait "$spin_pid" || true
	sleep 0.5
done
sleep 1.5
curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/api/v1/cache/slow-commands" | python3 -m json.tool | head -30 || true
curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E '^nexus_redis_(commands_total.*get|slow_commands_total|request_wait_seconds_(count|sum))' || true
say "the node at a glance: $AGENT top --connect 127.0.0.1:$METRICS_PORT --batch -n 2 (without --batch: a live screen)"
timeout 20 "$AGENT" top --connect "127.0.0.1:$METRICS_PORT" --batch -n 2 -d 1 || true
say "health score and alerts: curl -s http://127.0.0.1:$METRICS_PORT/api/v1/health (and /api/v1/alerts)"
curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/api/v1/health" | python3 -m json.tool | head -30 || true
curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/api/v1/alerts" | python3 -m json.tool | head -20 || true
say "the health report with its recommendations: $AGENT report --connect 127.0.0.1:$METRICS_PORT"
for _ in $(seq 1 30); do
	curl -sf -m 2 -o /dev/null "http://127.0.0.1:$METRICS_PORT/api/v1/report" && break
	sleep 1
done
timeout 20 "$AGENT" report --connect "127.0.0.1:$METRICS_PORT" --format text | head -40 || true
echo
echo "In production, Prometheus scrapes this endpoint and an OpenTelemetry collector can receive"
echo "the same figures (--otlp-endpoint): see the README's Deploying section and deploy/."
