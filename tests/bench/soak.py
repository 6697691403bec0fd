#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`make soak`: the agent over time under mixed load and connection churn (issue 13).

A throwaway redis-server and postgres (pgbench -i -s 1), `nexus-agent run --no-default-targets
--pid REDIS --pid POSTMASTER` watching both (USDT on, --redis-uprobes), and for SOAK_MINUTES
(default 30):

  redis     every 2 s a redis-benchmark burst of SET/GET/INCR/LPUSH/LRANGE_100 pipelined 16 deep
            over 4 connections (SOAK_REDIS_BURST commands, default 20000)
  churn     every 2 s a redis-benchmark -k 0 burst (one new connection per PING): enough for
            SOAK_CHURN connections over the run (default 100000, at least 100/s)
  postgres  pgbench, TPC-B-like, 2 clients, rate-limited (-R SOAK_PG_TPS, default 50), and
            pgbench -C (a new connection per transaction, -R SOAK_PG_CONN_TPS, default 20)

Five Redis connections and two PostgreSQL sessions (pg_sleep) stay open from start to end. Once a
minute it prints a row: minute, the agent's RSS, connections it tracks
(nexus_agent_connections) against the live ones (ESTABLISHED sockets on the servers' ports in
/proc/net/tcp{,6}), events per second, events lost (nexus_agent_events_lost_total), new connections
in the minute. After the load it waits for the tracked connections to settle and checks:

  - RSS grew by less than 5 MB after warm-up (the end against the end of minute 1),
  - tracked connections == live connections once the load has stopped,
  - no event lost (nexus_agent_events_lost_total == 0) at that load,
  - at least SOAK_CHURN connections were made (Redis total_connections_received + pg sessions).

Exit status 0 when every check holds, 1 otherwise. Root; not part of `make test`.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as h  # noqa: E402

MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
CHURN = int(os.environ.get("SOAK_CHURN", "100000"))
REDIS_BURST = int(os.environ.get("SOAK_REDIS_BURST", "20000"))
PG_TPS = int(os.environ.get("SOAK_PG_TPS", "50"))
PG_CONN_TPS = int(os.environ.get("SOAK_PG_CONN_TPS", "20"))
RSS_LIMIT_KB = 5 * 1024
TICK = 2.0
HELD_REDIS, HELD_PG = 5, 2  # connections open from start to end


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else 0


def live_conns(ports):
    """Server-side ESTABLISHED TCP sockets on these local ports (the whole namespace)."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) in ports:
                        n += 1
        except OSError:
            pass
    return n


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for name in ("nexus_agent_connections", "nexus_agent_events_total",
                 "nexus_agent_events_lost_total", "nexus_agent_records_total"):
        m = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % name, text, re.M)
        out[name] = float(m.group(1)) if m else None
    # lost events may be labelled per CPU: sum every sample
    out["nexus_agent_events_lost_total"] = sum(
        float(v) for v in re.findall(r"^nexus_agent_events_lost_total(?:\{[^}]*\})? (\S+)$",
                                     text, re.M)) or 0.0
    return out


def redis_conns_received(rd):
    out, _ = rd.cli("INFO", "stats")
    return int(re.search(r"total_connections_received:(\d+)", out).group(1))


def pg_sessions(pg):
    out, _ = pg.psql("SELECT sessions FROM pg_stat_database WHERE datname = 'postgres'")
    return int(out.splitlines()[-1])


class Loop(threading.Thread):
    """Runs argv every TICK seconds until stopped (a burst each time)."""

    def __init__(self, argv):
        super().__init__(daemon=True)
        self.argv, self.stop_flag, self.runs, self.failures = argv, False, 0, 0

    def run(self):
        while not self.stop_flag:
            t0 = time.monotonic()
            r = subprocess.run(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.runs += 1
            self.failures += r.returncode != 0
            time.sleep(max(0.0, TICK - (time.monotonic() - t0)))


def main():
    h.exit_cleanly_on_sigterm()
    if os.geteuid() != 0:
        print("soak: needs root")
        return 1
    missing = h.missing_tools("redis-server", "redis-benchmark", "pgbench", "psql")
    if missing:
        print("soak: missing tools: %s" % ", ".join(missing))
        return 1
    seconds = MINUTES * 60
    churn_per_tick = max(200, int(CHURN * 1.1 / (seconds / TICK)))
    with h.redis_server() as rd, h.postgres_server(settings=("max_connections=200",)) as pg:
        env = dict(os.environ, PGSSLMODE="disable", PGHOST="127.0.0.1", PGPORT=str(pg.port),
                   PGUSER="postgres", PGDATABASE="postgres")
        subprocess.run([h.pg_tool("pgbench"), "-i", "-s", "1", "-q"], env=env, check=True,
                       capture_output=True, timeout=300)
        port = h.free_port()
        argv = [h.AGENT, "run", "--no-default-targets", "--pid", str(rd.pid), "--pid",
                str(pg.pid), "--redis-uprobes", "--no-alerts", "--listen",
                "127.0.0.1:%d" % port]
        a = h.AgentRun(argv)
        a.start(h.ATTACH_TIMEOUT)
        h.wait_until(lambda: _up(port), 10, 0.1)
        # connections that stay open the whole run, so "tracked == live" at the end is not 0 == 0
        held = []
        for _ in range(HELD_REDIS):
            sk = socket.create_connection(("127.0.0.1", rd.port), timeout=10)
            sk.sendall(b"*1\r\n$4\r\nPING\r\n")
            sk.recv(64)
            held.append(sk)
        sleepers = [subprocess.Popen([h.pg_tool("psql"), "-X", "-c", "SELECT pg_sleep(86400)"],
                                     env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL) for _ in range(HELD_PG)]
        conn0 = redis_conns_received(rd) + pg_sessions(pg)
        loops = [
            Loop(["redis-benchmark", "-p", str(rd.port), "-c", "4", "-P", "16", "-n",
                  str(REDIS_BURST), "-r", "100000", "-t", "set,get,incr,lpush,lrange_100", "-q"]),
            Loop(["redis-benchmark", "-p", str(rd.port), "-c", "4", "-k", "0", "-n",
                  str(churn_per_tick), "-t", "ping_inline", "-q"]),
        ]
        pgb = [subprocess.Popen([h.pg_tool("pgbench"), "-c", "2", "-j", "1", "-T",
                                 str(int(seconds)), "-R", str(PG_TPS)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
               subprocess.Popen([h.pg_tool("pgbench"), "-C", "-c", "2", "-j", "1", "-S", "-T",
                                 str(int(seconds)), "-R", str(PG_CONN_TPS)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        for lp in loops:
            lp.start()
        ports = {rd.port, pg.port}
        print("soak: %.1f minutes, agent pid %d, redis :%d, postgres :%d, churn %d conns/%.0fs"
              % (MINUTES, a.proc.pid, rd.port, pg.port, churn_per_tick, TICK))
        print("%6s %10s %8s %6s %10s %6s %10s" % ("minute", "rss_kb", "tracked", "live",
                                                  "events/s", "lost", "new_conns"))
        rows = []
        t_start = time.monotonic()
        last = metrics(port)
        last_t, last_conn = time.monotonic(), conn0
        minute = 0
        try:
            while time.monotonic() - t_start < seconds and a.running:
                minute += 1
                time.sleep(max(0.0, t_start + minute * 60 - time.monotonic()))
                m = metrics(port)
                now = time.monotonic()
                conn = redis_conns_received(rd) + pg_sessions(pg)
                row = (minute, rss_kb(a.proc.pid), int(m["nexus_agent_connections"] or 0),
                       live_conns(ports),
                       (m["nexus_agent_events_total"] - last["nexus_agent_events_total"])
                       / (now - last_t), int(m["nexus_agent_events_lost_total"]),
                       conn - last_conn)
                rows.append(row)
                print("%6d %10d %8d %6d %10.0f %6d %10d" % row, flush=True)
                last, last_t, last_conn = m, now, conn
        finally:
            for lp in loops:
                lp.stop_flag = True
            for lp in loops:
                lp.join(timeout=120)
            for p in pgb:
                p.send_signal(signal.SIGINT)
            for p in pgb:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        # settle: the load has stopped; what the agent tracks must come back to what is live
        state = {}

        def settled():
            state["m"], state["live"] = metrics(port), live_conns(ports)
            return int(state["m"]["nexus_agent_connections"] or 0) == state["live"]
        ok_conns = bool(h.wait_until(settled, 30, 0.5)) and state["live"] >= HELD_REDIS + HELD_PG
        for sk in held:
            sk.close()
        for p in sleepers:
            p.kill()
            p.wait(timeout=10)
        total_conns = redis_conns_received(rd) + pg_sessions(pg) - conn0
        rss_end = rss_kb(a.proc.pid)
        alive = a.running
        a.stop()
    warm = rows[0][1] if rows else 0
    growth = rss_end - warm
    lost = int(state["m"]["nexus_agent_events_lost_total"])
    checks = [
        ("agent ran the whole soak", alive and len(rows) >= int(MINUTES)),
        ("RSS growth after warm-up %+d kB (minute 1: %d kB, end: %d kB) < %d kB"
         % (growth, warm, rss_end, RSS_LIMIT_KB), growth < RSS_LIMIT_KB),
        ("tracked connections %d == live %d after the load (%d held open all along)"
         % (state["m"]["nexus_agent_connections"] or 0, state["live"], HELD_REDIS + HELD_PG),
         ok_conns),
        ("events lost: %d" % lost, lost == 0),
        ("connections made: %d >= %d" % (total_conns, CHURN), total_conns >= CHURN),
        ("load generators: %s burst failures"
         % "/".join(str(lp.failures) for lp in loops), all(lp.failures == 0 for lp in loops)),
    ]
    for name, ok in checks:
        print("%s  %s" % ("ok  " if ok else "FAIL", name))
    return 0 if all(ok for _, ok in checks) else 1


def _up(port):
    try:
        return metrics(port) is not None
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
