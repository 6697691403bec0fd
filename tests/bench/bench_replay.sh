#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# `make bench`: user-space throughput of the whole pipeline from recordings. Records a
# redis-benchmark -P 16 run and a pgbench run (nexus-agent record, root) against throwaway servers,
# then build/bench/bench_replay replays each file through conntrack -> pipeline -> stats and
# prints records/s and commands (statements)/s per core. Numbers only, no assertion.
#
# Environment: NEXUS_AGENT (default <repo>/build/nexus-agent), REPLAY_REDIS_N (commands per
# redis-benchmark test, default 1000000), REPLAY_PG_SECONDS (pgbench -T, default 10),
# BENCH_KEEP=1 keeps the temporary directory (and the recordings).
set -euo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$DIR/../.." && pwd)
AGENT=${NEXUS_AGENT:-$REPO/build/nexus-agent}
BENCH=$REPO/build/bench/bench_replay
PG_BIN=${NEXUS_PG_BIN:-/usr/lib/postgresql/15/bin}
N=${REPLAY_REDIS_N:-1000000}
PG_SECONDS=${REPLAY_PG_SECONDS:-10}
TMP=$(mktemp -d /tmp/nexus-bench-replay.XXXXXX)
REDIS_PID= PG_STARTED= REC_PID=

cleanup() {
	[ -z "$REC_PID" ] || kill -INT "$REC_PID" 2>/dev/null || true
	[ -z "$REDIS_PID" ] || kill "$REDIS_PID" 2>/dev/null || true
	[ -z "$PG_STARTED" ] || runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$TMP/pg" -m immediate stop >/dev/null 2>&1 || true
	[ "${BENCH_KEEP:-}" = 1 ] && echo "bench_replay: kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# record FILE PID CMD...: records the processes of PID while CMD runs.
record() {
	local file=$1 pid=$2
	shift 2
	"$AGENT" record -o "$file" --no-default-targets --pid "$pid" 2>"$file.log" &
	REC_PID=$!
	timeout 30 grep -q 'recording to' <(tail -f "$file.log") || { cat "$file.log" >&2; exit 1; }
	"$@" >"$file.out" 2>&1
	sleep 0.5
	kill -INT "$REC_PID"
	wait "$REC_PID"
	REC_PID=
}

RPORT=$(port)
redis-server --port "$RPORT" --save '' --appendonly no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
timeout 10 bash -c "until redis-cli -p $RPORT ping >/dev/null 2>&1; do sleep 0.1; done"
record "$TMP/redis.nxr" "$REDIS_PID" redis-benchmark -p "$RPORT" -P 16 -c 50 -n "$N" -t get,set -q

PPORT=$(port)
mkdir "$TMP/pg" && chown postgres "$TMP" "$TMP/pg" && chmod 755 "$TMP"
runuser -u postgres -- "$PG_BIN/initdb" -D "$TMP/pg" -U postgres --auth=trust --no-sync >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$TMP/pg" -o "-p $PPORT -k $TMP -c listen_addresses=127.0.0.1 -c fsync=off" -w start >/dev/null
PG_STARTED=1
pgbench -h 127.0.0.1 -p "$PPORT" -U postgres -i -s 10 -q postgres >/dev/null 2>&1
PGPID=$(head -1 "$TMP/pg/postmaster.pid")
record "$TMP/pg.nxr" "$PGPID" pgbench -h 127.0.0.1 -p "$PPORT" -U postgres -c 8 -j 2 -T "$PG_SECONDS" -S postgres

"$BENCH" redis_pipelined_16 "$TMP/redis.nxr" pgbench_select "$TMP/pg.nxr"
