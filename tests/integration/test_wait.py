#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What clients feel: a real redis-server held busy by a known stall (a Lua script spinning
200 ms), while another client sends a GET. The client timestamps its own send and the end of
its reply; the agent's request wait (arrival at the socket to the server's read) and felt
latency (arrival to reply) must match what the client saw, within 1 ms, over TCP and the Unix
socket. The stall and the waiting GET land in the slow-command log and its counter.

PostgreSQL likewise: a client pipelines a second Query 50 ms after a pg_sleep(0.2) on the same
connection; the second waits unread in the backend's socket until the sleep ends. Its wait and
felt latency in `trace --json` match the client's own timing within 1 ms."""
import json
import os
import socket
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

STALL_MS = 200
ROUNDS = 5
# Spins for STALL_MS inside the server: the event loop does nothing else meanwhile.
SPIN = ("local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2] "
        "while true do local n = redis.call('TIME') "
        "if n[1] * 1000000 + n[2] - t0 >= %d then break end end return 1" % (STALL_MS * 1000))


def complete(got):
    """A whole simple reply: a line, or a bulk string ("$-1" null included)."""
    if not got.endswith(b"\r\n"):
        return False
    return not got.startswith(b"$") or got.startswith(b"$-1") or got.count(b"\r\n") >= 2


def call(sk, req):
    """Sends req, reads one short reply; returns (reply, seconds from the send to its end)."""
    t0 = time.monotonic()
    sk.sendall(req)
    got = b""
    while not complete(got):
        part = sk.recv(4096)
        if not part:
            raise h.HarnessError("redis closed the connection")
        got += part
    return got, time.monotonic() - t0


def connect(rd, unix):
    if unix:
        sk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sk.connect(rd.sock)
    else:
        sk = socket.create_connection(("127.0.0.1", rd.port))
        sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sk.settimeout(10)
    return sk


def fetch(port, path):
    done, _ = h.run(["curl", "-sf", "http://127.0.0.1:%d%s" % (port, path)])
    if done.returncode:
        raise h.HarnessError("GET %s failed: curl exit %d" % (path, done.returncode))
    return done.stdout.decode()


CHECKS = []
for tr in ("tcp", "unix"):
    CHECKS += [
        "%s: request wait of a GET queued behind a %d ms stall == what the client saw minus the "
        "server's time, within 1 ms (median of %d)" % (tr, STALL_MS, ROUNDS),
        "%s: the GET's felt latency in the slow-command log == the client's own send-to-reply, "
        "within 1 ms (median of %d)" % (tr, ROUNDS),
        "%s: the stall itself is in the slow-command log (eval, server time >= %d ms)"
        % (tr, STALL_MS),
    ]
PG_CHECKS = []
for tr in ("tcp", "unix"):
    PG_CHECKS += [
        "postgres %s: a Query pipelined behind pg_sleep(0.2): wait + server time == what the "
        "client saw, within 1 ms (median of %d), wait > 100 ms" % (tr, ROUNDS),
    ]
PG_CHECKS += ["nexus_postgres_request_wait_seconds{server} histogram and felt_ms in "
              "/api/v1/database/stats hold the waits"]
CHECKS += [
    "nexus_redis_request_wait_seconds{server} histogram: count and sum hold the queued GETs; "
    "nexus_redis_slow_commands_total counts get and eval",
    "/api/v1/cache/stats: felt latency of get (p99 >= 100 ms) while its server latency stays "
    "under 10 ms",
]


def group(g):
    with h.redis_server() as rd:
        port = h.free_port()
        with h.agent("--no-default-targets", "--pid", str(rd.pid), "--listen",
                     "127.0.0.1:%d" % port, mode="run", raw=False):
            results = {}
            for unix in (False, True):
                a, b = connect(rd, unix), connect(rd, unix)
                # First requests: a connection's first bytes can arrive before the agent has
                # seen it accepted, so their wait is not known.
                call(a, h.resp("PING"))
                call(b, h.resp("PING"))
                seen = []
                for i in range(ROUNDS):
                    key = "wait%s:%d" % ("u" if unix else "t", i)
                    a.sendall(h.resp("EVAL", SPIN, 0))
                    time.sleep(0.03)  # the spin has begun
                    _, felt = call(b, h.resp("GET", key))
                    got = b""
                    while not got.endswith(b"\r\n"):
                        got += a.recv(64)
                    seen.append((key.split(":")[0], felt))
                a.close()
                b.close()
                results[unix] = seen
            time.sleep(1.5)  # a stats publication
            slow = json.loads(fetch(port, "/api/v1/cache/slow-commands"))["slow_commands"]
            metrics = h.parse_prometheus(fetch(port, "/metrics"))
            stats = json.loads(fetch(port, "/api/v1/cache/stats"))

    for n, unix in enumerate((False, True)):
        server = rd.sock if unix else "127.0.0.1:%d" % rd.port
        prefix = "waitu" if unix else "waitt"
        gets = [e for e in slow if e["server"] == server and e["command"] == "get"
                and e.get("key_prefix") == prefix]
        evals = [e for e in slow if e["server"] == server and e["command"] == "eval"]
        client = [f * 1000 for _, f in results[unix]]
        waits = [e["wait_ms"] for e in gets if e["wait_ms"] is not None]
        felts = [e["felt_ms"] for e in gets if e["felt_ms"] is not None]
        diag = ["client saw (ms): %s" % ["%.3f" % x for x in client],
                "agent wait (ms): %s" % ["%.3f" % x for x in waits],
                "agent felt (ms): %s" % ["%.3f" % x for x in felts],
                "agent server time (ms): %s" % ["%.3f" % e["server_ms"] for e in gets]]
        ok = len(waits) == ROUNDS and len(felts) == ROUNDS
        # Newest first in the log; the client's list is oldest first.
        if ok:
            waits, felts = waits[::-1], felts[::-1]
            server_ms = [e["server_ms"] for e in gets][::-1]
            d_wait = [c - s - w for c, s, w in zip(client, server_ms, waits)]
            d_felt = [c - f for c, f in zip(client, felts)]
            diag += ["client - server time - wait (ms): %s" % ["%.3f" % x for x in d_wait],
                     "client - felt (ms): %s" % ["%.3f" % x for x in d_felt]]
        g.check(CHECKS[3 * n], ok and abs(statistics.median(d_wait)) <= 1.0
                and min(waits) > 100, diag)
        g.check(CHECKS[3 * n + 1], ok and abs(statistics.median(d_felt)) <= 1.0, diag)
        g.check(CHECKS[3 * n + 2], len(evals) >= ROUNDS
                and all(e["server_ms"] >= STALL_MS for e in evals),
                [json.dumps(e) for e in evals[:3]])

    def sample(name, **labels):
        return sum(v for f in metrics.values() for n_, l, v in f["samples"] if n_ == name
                   and all(l.get(k) == x for k, x in labels.items()))

    tcp = "127.0.0.1:%d" % rd.port
    wcount = sample("nexus_redis_request_wait_seconds_count", server=tcp)
    wsum = sample("nexus_redis_request_wait_seconds_sum", server=tcp)
    g.check(CHECKS[6], wcount >= ROUNDS and wsum >= ROUNDS * 0.1
            and sample("nexus_redis_slow_commands_total", server=tcp, command="get") >= ROUNDS
            and sample("nexus_redis_slow_commands_total", server=tcp, command="eval") >= ROUNDS,
            ["wait count %s sum %s" % (wcount, wsum),
             "slow get %s eval %s" % (sample("nexus_redis_slow_commands_total", server=tcp,
                                             command="get"),
                                      sample("nexus_redis_slow_commands_total", server=tcp,
                                             command="eval"))])
    sv = [s for s in stats["servers"] if s["server"] == tcp]
    get = [c for c in sv[0]["commands_by_name"] if c["command"] == "get"] if sv else []
    felt99 = get[0]["felt_ms_since_start"]["p99"] if get else None
    lat99 = get[0]["latency_ms_since_start"]["p99"] if get else None
    g.check(CHECKS[7], felt99 is not None and felt99 >= 100 and lat99 is not None and lat99 < 10,
            ["get: felt p99 %s ms, server p99 %s ms" % (felt99, lat99)])


def pg_connect(pg, unix):
    if unix:
        sk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sk.connect(pg.sock_path)
    else:
        sk = socket.create_connection(("127.0.0.1", pg.port))
        sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sk.settimeout(10)
    params = b"user\0postgres\0database\0postgres\0\0"
    sk.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
    pg_until_ready(sk, 1)
    return sk


def pg_until_ready(sk, n):
    """Reads messages until the n-th ReadyForQuery; returns the time it ended."""
    buf = b""
    while n:
        t, body, buf = h.pg_message(sk, buf)
        if t == b"E":
            raise h.HarnessError("postgres error: %r" % body[:120])
        if t == b"R" and struct.unpack("!i", body[:4])[0] != 0:
            raise h.HarnessError("postgres wants authentication")
        if t == b"Z":
            n -= 1
    return time.monotonic()


def pg_query(sql):
    q = sql.encode() + b"\0"
    return b"Q" + struct.pack("!i", 4 + len(q)) + q


def group_pg(g):
    with h.postgres_server() as pg:
        port = h.free_port()
        with h.agent("--no-default-targets", "--pid", str(pg.pid), mode="trace", raw=False) as tr, \
                h.agent("--no-default-targets", "--pid", str(pg.pid), "--listen",
                        "127.0.0.1:%d" % port, mode="run", raw=False):
            seen = {}
            for unix in (False, True):
                sk = pg_connect(pg, unix)
                sk.sendall(pg_query("SELECT 1"))
                pg_until_ready(sk, 1)
                seen[unix] = []
                for i in range(ROUNDS):
                    tag = "nx_wait_%s_%d" % ("u" if unix else "t", i)
                    sk.sendall(pg_query("SELECT pg_sleep(0.2)"))
                    time.sleep(0.05)
                    t1 = time.monotonic()
                    sk.sendall(pg_query("SELECT 1 AS %s" % tag))
                    t2 = pg_until_ready(sk, 2)
                    seen[unix].append((tag, (t2 - t1) * 1000))
                sk.sendall(b"X\0\0\0\4")
                sk.close()
            time.sleep(1.5)
            events = tr.snapshot()
            metrics = h.parse_prometheus(fetch(port, "/metrics"))
            stats = json.loads(fetch(port, "/api/v1/database/stats"))
    for n, unix in enumerate((False, True)):
        agent = {}
        for e in events:
            if e.get("event") != "postgres":
                continue
            for tag, _ in seen[unix]:
                if tag in (e.get("query") or ""):
                    agent[tag] = e
        client = [c for _, c in seen[unix]]
        got = [agent.get(tag) for tag, _ in seen[unix]]
        ok = all(e is not None and e.get("wait_us") is not None for e in got)
        diag = ["client saw (ms): %s" % ["%.3f" % c for c in client],
                "agent wait+server (ms): %s" % [
                    "%.3f" % ((e.get("wait_us", 0) + e["latency_us"]) / 1000) if e else None
                    for e in got]]
        if ok:
            d = [c - (e["wait_us"] + e["latency_us"]) / 1000 for c, e in zip(client, got)]
            diag.append("client - agent (ms): %s" % ["%.3f" % x for x in d])
        g.check(PG_CHECKS[n], ok and abs(statistics.median(d)) <= 1.0
                and min(e["wait_us"] for e in got) > 100000, diag)
    server = "127.0.0.1:%d" % pg.port
    wcount = sum(v for f in metrics.values() for n_, l, v in f["samples"]
                 if n_ == "nexus_postgres_request_wait_seconds_count" and l.get("server") == server)
    sv = [x for x in stats["servers"] if x["server"] == server]
    felt = [d for d in sv[0]["databases"] if d["database"] == "postgres"] if sv else []
    felt99 = felt[0]["felt_ms_since_start"]["p99"] if felt else None
    g.check(PG_CHECKS[2], wcount >= ROUNDS and felt99 is not None and felt99 >= 100,
            ["wait count %s, postgres felt p99 %s ms" % (wcount, felt99)])


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    missing = h.missing_tools("redis-server", "curl")
    reason = h.privilege_skip_reason() or ("missing tools: %s" % " ".join(missing)
                                           if missing else None)
    if not reason and os.access(h.AGENT, os.X_OK):
        # `check` mounts tracefs if needed and says which source measures waits.
        done, _ = h.run([h.AGENT, "check"], timeout=60)
        if "request wait: sock:sk_data_ready" not in done.stdout.decode():
            reason = "this kernel has no sock:sk_data_ready (6.6+): waits are not measured"

    def body(g):
        if not os.access(h.AGENT, os.X_OK):
            g.fail_rest("agent binary %s not built" % h.AGENT)
            return
        with h.time_limit(120):
            group(g)

    h.run_group(tap, CHECKS, body, reason)
    missing_pg = h.missing_tools("initdb", "postgres", "runuser")

    def body_pg(g):
        if not os.access(h.AGENT, os.X_OK):
            g.fail_rest("agent binary %s not built" % h.AGENT)
            return
        with h.time_limit(150):
            group_pg(g)

    h.run_group(tap, PG_CHECKS, body_pg,
                reason or ("missing tools: %s" % " ".join(missing_pg) if missing_pg else None))
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
