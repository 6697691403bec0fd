#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`nexus-agent trace` filters against a real redis-server and postgres, from the wire alone:

- `--command get --min-latency 0 --count 5` prints five GETs (no SET, no raw chunk) and exits 0
  by itself;
- `--errors` prints the error replies and ErrorResponses of both servers and nothing else;
- `--kind postgres --query pg_sleep --min-latency 100ms` prints a pg_sleep(0.2) and neither a
  SELECT 1, a quick pg_sleep(0.01) nor any Redis command;
- `--server :PORT --client 127.0.0.1` leaves out the same server's Unix-socket clients;
- a bad filter value exits 2 with the usage, and --help lists every filter.

Needs root and kernel BTF for the first four groups (each is skipped otherwise, never passed)."""
import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

FILTER_FLAGS = ["--server ADDR", "--kind redis|postgres", "--command SUBSTR", "--query SUBSTR",
                "--min-latency DURATION", "--errors", "--client SUBSTR", "--count N"]


# ------------------------------------------------------------------------------ minimal clients

def redis_call(sk, *args):
    """Sends one command, reads its (simple, one-line or bulk) reply."""
    sk.sendall(h.resp(*args))
    got = b""
    while not (got.endswith(b"\r\n") and (not got.startswith(b"$") or got.startswith(b"$-1")
                                           or got.count(b"\r\n") >= 2)):
        part = sk.recv(4096)
        if not part:
            raise h.HarnessError("redis closed the connection")
        got += part
    return got


def redis_connect(rd, unix=False):
    if unix:
        sk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sk.connect(rd.sock)
    else:
        sk = socket.create_connection(("127.0.0.1", rd.port))
    sk.settimeout(10)
    redis_call(sk, "PING")  # a connection's first request: its arrival is not known
    return sk


def pg_connect(pg):
    sk = socket.create_connection(("127.0.0.1", pg.port))
    sk.settimeout(10)
    params = b"user\0postgres\0database\0postgres\0\0"
    sk.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
    if pg_ready(sk):
        raise h.HarnessError("postgres refused the startup")
    return sk


def pg_ready(sk):
    """Reads messages up to ReadyForQuery; returns whether an ErrorResponse came before it."""
    buf, error = b"", False
    while True:
        t, body, buf = h.pg_message(sk, buf)
        if t == b"R" and struct.unpack("!i", body[:4])[0] != 0:
            raise h.HarnessError("postgres wants authentication")
        if t == b"E":
            error = True
        if t == b"Z":
            return error


def pg_query(sk, sql):
    q = sql.encode() + b"\0"
    sk.sendall(b"Q" + struct.pack("!i", 4 + len(q)) + q)
    return pg_ready(sk)


def trace_agent(pids, *args):
    targets = ["--no-default-targets"] + [a for p in pids for a in ("--pid", str(p))]
    return h.agent(*(targets + list(args)), mode="trace", raw=False)


def summary(a):
    return ["stdout: " + l for l in a.lines[:12]] + a.stderr_tail(6)


# ----------------------------------------------------------------------------------- the groups

COUNT_CHECKS = [
    "trace --json --command get --min-latency 0 --count 5 exits 0 by itself once the GETs come",
    "... having printed exactly 5 lines, each a decoded Redis get (no set, no raw chunk)",
]


def group_count(g):
    with h.redis_server() as rd:
        with trace_agent([rd.pid], "--command", "get", "--min-latency", "0",
                         "--count", "5") as a:
            sk = redis_connect(rd)
            redis_call(sk, "SET", "nx:trace", "v")
            for i in range(8):
                redis_call(sk, "SET", "nx:other%d" % i, i)
                redis_call(sk, "GET", "nx:trace")
            sk.close()
            exited = h.wait_until(lambda: not a.running, 15)
            a.stop()
        g.check(COUNT_CHECKS[0], exited and a.stop_signal is None and a.returncode == 0,
                ["returncode %s, stopped by the test with %s" % (a.returncode, a.stop_signal)]
                + summary(a))
        evs = a.events
        g.check(COUNT_CHECKS[1], len(a.lines) == 5 and len(evs) == 5
                and all(e.get("event") == "redis" and e.get("command") == "get" for e in evs),
                summary(a))


ERROR_CHECKS = [
    "trace --errors: Redis ERR and WRONGTYPE replies and PostgreSQL 22012 and 42P01 are printed",
    "... and nothing that succeeded (no ok status, no raw chunk, no connection event)",
]


def group_errors(g):
    with h.redis_server() as rd, h.postgres_server() as pg:
        with trace_agent([rd.pid, pg.pid], "--errors") as a:
            sk = redis_connect(rd)
            redis_call(sk, "SET", "nx:str", "abc")
            redis_call(sk, "GET", "nx:str")
            redis_call(sk, "INCR", "nx:str")            # ERR value is not an integer
            redis_call(sk, "LPUSH", "nx:str", "x")      # WRONGTYPE
            redis_call(sk, "GET", "nx:str")
            sk.close()
            pk = pg_connect(pg)
            pg_query(pk, "SELECT 1")
            pg_query(pk, "SELECT 1/0")                  # 22012 division_by_zero
            pg_query(pk, "SELECT * FROM nx_no_such_table")  # 42P01 undefined_table
            pg_query(pk, "SELECT 2")
            pk.close()
            a.wait_for(lambda e: e.get("status") == "42P01", 10)
            time.sleep(0.5)  # anything printed after it would be printed by now
        statuses = sorted(set((e.get("event"), e.get("status")) for e in a.events))
        want = {("redis", "ERR"), ("redis", "WRONGTYPE"), ("postgres", "22012"),
                ("postgres", "42P01")}
        g.check(ERROR_CHECKS[0], want <= set(statuses), ["seen: %s" % statuses] + summary(a))
        g.check(ERROR_CHECKS[1], a.events and not a.bad_lines
                and all(e.get("event") in ("redis", "postgres") and e.get("status") != "ok"
                        for e in a.events), ["seen: %s" % statuses] + summary(a))


QUERY_CHECKS = [
    "trace --kind postgres --query pg_sleep --min-latency 100ms prints the pg_sleep(0.2), felt "
    "latency >= 100 ms",
    "... and not the SELECT 1, the pg_sleep(0.01) nor any Redis command or raw chunk",
]


def group_query(g):
    with h.redis_server() as rd, h.postgres_server() as pg:
        with trace_agent([rd.pid, pg.pid], "--kind", "postgres", "--query", "pg_sleep",
                         "--min-latency", "100ms") as a:
            pk = pg_connect(pg)
            sk = redis_connect(rd)
            pg_query(pk, "SELECT 1")
            pg_query(pk, "SELECT pg_sleep(0.01)")
            redis_call(sk, "DEBUG", "SLEEP", "0.15")    # slow, but Redis
            pg_query(pk, "SELECT pg_sleep(0.2)")
            pg_query(pk, "SELECT 1")
            pk.close()
            sk.close()
            a.wait_for(lambda e: "pg_sleep" in e.get("query", ""), 10)
            time.sleep(0.5)
        evs = a.events
        sleeps = [e for e in evs if e.get("event") == "postgres"
                  and "pg_sleep" in e.get("query", "")
                  and e.get("latency_us", 0) + (e.get("wait_us") or 0) >= 100000]
        g.check(QUERY_CHECKS[0], len(sleeps) == 1, summary(a))
        g.check(QUERY_CHECKS[1], len(evs) == 1 and len(a.lines) == 1, summary(a))


SERVER_CHECKS = [
    "trace --server :PORT --client 127.0.0.1 --count 3: only the TCP clients' commands, not the "
    "same server's Unix-socket ones, then exits 0 by itself",
]


def group_server(g):
    with h.redis_server() as rd:
        with trace_agent([rd.pid], "--server", ":%d" % rd.port, "--client", "127.0.0.1",
                         "--count", "3") as a:
            su = redis_connect(rd, unix=True)
            for i in range(3):
                redis_call(su, "GET", "nx:unix%d" % i)
            su.close()
            st = redis_connect(rd)
            for i in range(4):
                redis_call(st, "GET", "nx:tcp%d" % i)
            st.close()
            exited = h.wait_until(lambda: not a.running, 15)
            a.stop()
        server = "127.0.0.1:%d" % rd.port
        g.check(SERVER_CHECKS[0], exited and a.returncode == 0 and len(a.events) == 3
                and all(e.get("server") == server and e.get("client", "").startswith("127.0.0.1:")
                        for e in a.events), summary(a))


USAGE_CHECKS = [
    "trace --min-latency 5h exits 2 with the usage on stderr",
    "trace --kind postgres --command get exits 2 (cannot match anything)",
    "--help lists every trace filter",
]


def group_usage(g):
    r, _ = h.run([h.AGENT, "trace", "--min-latency", "5h"])
    err = r.stderr.decode(errors="replace")
    g.check(USAGE_CHECKS[0], r.returncode == 2 and "Usage: nexus-agent" in err
            and "--min-latency" in err, ["status %s" % r.returncode] + err.splitlines()[:3])
    r, _ = h.run([h.AGENT, "trace", "--kind", "postgres", "--command", "get"])
    g.check(USAGE_CHECKS[1], r.returncode == 2,
            ["status %s" % r.returncode] + r.stderr.decode(errors="replace").splitlines()[:3])
    r, _ = h.run([h.AGENT, "trace", "--help"])
    out = r.stdout.decode(errors="replace")
    missing = [f for f in FILTER_FLAGS if f not in out]
    g.check(USAGE_CHECKS[2], r.returncode == 0 and not missing, ["missing: %s" % missing])


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    skip = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server")
    skip_redis = skip or ("missing tools: %s" % " ".join(missing) if missing else None)
    missing_pg = h.missing_tools("redis-server", "initdb", "postgres", "runuser")
    skip_pg = skip or ("missing tools: %s" % " ".join(missing_pg) if missing_pg else None)

    h.run_group(tap, USAGE_CHECKS, h.guarded(group_usage, 30))
    h.run_group(tap, COUNT_CHECKS, h.guarded(group_count, 60), skip_redis)
    h.run_group(tap, SERVER_CHECKS, h.guarded(group_server, 60), skip_redis)
    h.run_group(tap, ERROR_CHECKS, h.guarded(group_errors, 120), skip_pg)
    h.run_group(tap, QUERY_CHECKS, h.guarded(group_query, 120), skip_pg)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
