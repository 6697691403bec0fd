#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`make eval`: how fast the agent's alerts catch real faults, and how quiet they are otherwise.

Runs a throwaway redis-server and postgres under steady load, with `nexus-agent run` watching both
(built-in rules, no config file), lets the baselines warm up, then injects faults one at a time with
quiet gaps between them, polling GET /api/v1/alerts every 0.5 s:

  redis  DEBUG SLEEP 2 bursts      4 x DEBUG SLEEP 2, a second apart (~11 s)
  redis  CLIENT PAUSE 3000         all clients paused 3 s
  redis  FLUSHALL (miss storm)     keyspace flushed under the read-heavy load, re-populated 20 s later
  redis  WRONGTYPE errors          LPUSH against string keys at ~10% of traffic for 20 s
  pg     pg_sleep(1.5) in queries  8 more clients looping SELECT pg_sleep(1.5) for 20 s (~10% of queries)
  pg     table lock                one session holds ACCESS EXCLUSIVE on pgbench_accounts for 20 s
  pg     200 connections           200 new connections (startup handshake, SELECT 1) held 15 s
  redis  Lua spins 100-500 ms      a Lua script spinning 100-500 ms, about once a second, for 20 s
  redis  DEBUG SLEEP 0.2 loop      DEBUG SLEEP 0.2 every 0.1-0.4 s for 20 s
  redis  KEYS over 1M keys         DEBUG POPULATE 1000000 in db 1, then KEYS scanning them every 1-2 s

Load: Redis 40 connections (a pool, as an application has) issuing ~300 ops/s in all, 95% GET over
1000 keys of which 900 exist (~90% hit ratio) and 5% SET of keys nobody reads; PostgreSQL `pgbench
-S -R 50 -L 1000 -c 8` (rate-limited, late transactions skipped rather than caught up in a burst).
No load generator catches up after a stall, so a fault never leaves a traffic surge behind it.

Per fault: detected (yes: a rule meant for it fired on that server; other: only some other rule
fired there; no), the alerts that fired on that server, seconds from the fault's start to the first
firing, seconds from the fault's end until the last of them resolved, and alerts that fired on the
other server meanwhile. Then a quiet period with the load alone (EVAL_QUIET_SECONDS, default 600)
in which any alert reaching firing is a false alert. A fixed-width table and a one-line summary
close the output. Targets (issue 5): detected within 15 s, resolved within 30 s of the fault's end,
no false alert in 10 quiet minutes.

Exit status: 0 once the measurement ran (whether or not the targets were met), 1 when the harness
could not measure (a server or the agent failed, the alert API is missing), 2 when this machine
cannot run it (not root, no BTF, tools missing).

Runtime: about 9-10 minutes of set-up, warm-up and faults, plus the quiet period: ~20 minutes with
the default 600 s. Environment:
  EVAL_QUIET_SECONDS   quiet period after the faults (default 600; e.g. 60 while developing)
  EVAL_WARMUP_SECONDS  load before the first fault, for the baselines (default 45)
  EVAL_GAP_SECONDS     calm time before each fault once nothing fires (default 20)
  EVAL_RESOLVE_WAIT    longest wait for a fault's alerts to resolve after its end (default 90)
  EVAL_FAULTS          comma-separated subset of fault ids (debug_sleep, client_pause, flushall,
                       wrongtype, pg_sleep, table_lock, conn_storm, lua_stalls, sleep_loop,
                       keys_scan); default all
  EVAL_REDIS_CONNS     Redis client connections, one request in flight each (default 40)
  EVAL_REDIS_RATE      Redis ops/s over all of them (default 300)
  EVAL_ALERTS          an alert config file for the agent (--alerts); default none (built-ins)
  EVAL_JSON            also write the results as JSON to this path
  NEXUS_AGENT          the agent binary (default build/nexus-agent)
"""

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as h  # noqa: E402


def env_float(name, default):
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise SystemExit("eval: %s must be a number of seconds" % name)


QUIET = env_float("EVAL_QUIET_SECONDS", 600)
WARMUP = env_float("EVAL_WARMUP_SECONDS", 45)
GAP = env_float("EVAL_GAP_SECONDS", 20)
RESOLVE_WAIT = env_float("EVAL_RESOLVE_WAIT", 90)
POLL = 0.5
DETECT_TARGET = 15.0
RESOLVE_TARGET = 30.0
CALM_WAIT = 120.0  # longest wait for nothing to be pending/firing before a fault

REDIS_CONNS = int(env_float("EVAL_REDIS_CONNS", 40))  # an application's connections
REDIS_RATE = env_float("EVAL_REDIS_RATE", 300)  # ops/s over all of them
REDIS_KEYS = 1000
REDIS_PRESENT = 900  # k:0 .. k:899 exist: ~90% of GETs hit
PG_RATE = 50
PG_CLIENTS = 8
PG_MAX_CONNECTIONS = 230  # the storm's 200 + pgbench + psql fit; 200 of 230 is "near the limit"
STORM_CONNS = 200

T0 = time.monotonic()


def log(msg):
    sys.stdout.write("[%7.1fs] %s\n" % (time.monotonic() - T0, msg))
    sys.stdout.flush()


# ------------------------------------------------------------------------------------- redis

def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class RespError(str):
    pass


class Resp:
    """A minimal blocking RESP2 client over TCP."""

    def __init__(self, port, timeout=30):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.s.makefile("rb")

    def close(self):
        with contextlib.suppress(OSError):
            self.f.close()
            self.s.close()

    def read(self):
        line = self.f.readline()
        if not line.endswith(b"\r\n"):
            raise OSError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            if len(data) != n + 2:
                raise OSError("redis closed the connection")
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise OSError("not RESP: %r" % line[:60])

    def call(self, *args):
        self.s.sendall(resp(*args))
        return self.read()

    def pipeline(self, cmds):
        self.s.sendall(b"".join(resp(*c) for c in cmds))
        return [self.read() for _ in cmds]


@contextlib.contextmanager
def redis_server(timeout=20):
    """harness.redis_server(), plus --enable-debug-command (Redis 7 refuses DEBUG otherwise)."""
    tmpdir = tempfile.mkdtemp(prefix="nx-eval-redis-")
    proc = None
    try:
        port = h.free_port()
        sock = os.path.join(tmpdir, "redis.sock")
        logp = os.path.join(tmpdir, "redis.log")
        with open(logp, "wb") as logf:
            proc = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--unixsocket", sock,
                 "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                 "--enable-debug-command", "yes", "--maxclients", "1000",
                 "--dir", tmpdir, "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=tmpdir)
        r = h.Redis(port, sock, tmpdir, proc, logp)
        if not h.wait_until(lambda: proc.poll() is not None or r.ping(), timeout, 0.1) \
                or proc.poll() is not None:
            e = h.HarnessError("redis-server did not come up on port %d" % port)
            e.detail = ["redis log: " + l for l in h._tail(logp)]
            raise e
        yield r
    finally:
        h._stop_process(proc, signal.SIGTERM)
        shutil.rmtree(tmpdir, ignore_errors=True)


class RedisLoad:
    """REDIS_CONNS connections, each a thread with one request in flight, REDIS_RATE ops/s in all;
    a stalled connection does not catch up afterwards."""

    def __init__(self, port):
        self.port = port
        self.stop_ev = threading.Event()
        self.threads = []
        self.lock = threading.Lock()
        self.ops = self.errors = self.io_errors = 0

    def populate(self):
        c = Resp(self.port)
        try:
            cmds = [("SET", "k:%d" % i, "v%d" % i) for i in range(REDIS_PRESENT)]
            cmds += [("DEL",) + tuple("k:%d" % i for i in range(REDIS_PRESENT, REDIS_KEYS))]
            for i in range(0, len(cmds), 200):
                for rep in c.pipeline(cmds[i:i + 200]):
                    if isinstance(rep, RespError):
                        raise h.HarnessError("populating redis: %s" % rep)
        finally:
            c.close()

    def _worker(self, idx):
        rnd = random.Random(idx)
        period = REDIS_CONNS / REDIS_RATE
        c = None
        nxt = time.monotonic() + rnd.random() * period
        while not self.stop_ev.is_set():
            now = time.monotonic()
            if nxt > now:
                self.stop_ev.wait(nxt - now)
                continue
            nxt = max(nxt + period, now)  # no catching up after a stall
            try:
                if c is None:
                    c = Resp(self.port)
                if rnd.random() < 0.05:
                    rep = c.call("SET", "w:%d" % rnd.randrange(REDIS_KEYS), "x")
                else:
                    rep = c.call("GET", "k:%d" % rnd.randrange(REDIS_KEYS))
                with self.lock:
                    self.ops += 1
                    if isinstance(rep, RespError):
                        self.errors += 1
            except OSError:
                with self.lock:
                    self.io_errors += 1
                if c is not None:
                    c.close()
                c = None
                self.stop_ev.wait(0.2)
        if c is not None:
            c.close()

    def start(self):
        for i in range(REDIS_CONNS):
            t = threading.Thread(target=self._worker, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=10)


# ---------------------------------------------------------------------------------- postgres

PG_ENV = {"PGSSLMODE": "disable", "PGGSSENCMODE": "disable", "PGCONNECT_TIMEOUT": "10"}


def pg_env(app="nx-eval"):
    env = dict(os.environ, PGAPPNAME=app, **PG_ENV)
    env.pop("PGPASSWORD", None)
    return env


def pgbench_cmd(pg, *args):
    return [h.pg_tool("pgbench"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres"] + \
        list(args) + ["postgres"]


class Background:
    """A long-running client process in its own session, output to a file."""

    def __init__(self, argv, name, env=None):
        self.name = name
        self.logf = tempfile.NamedTemporaryFile(prefix="nx-eval-%s-" % name, suffix=".log",
                                                delete=False)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True, env=env)

    def alive(self):
        return self.proc.poll() is None

    def tail(self, n=10):
        return h._tail(self.logf.name, n)

    def stop(self, sig=signal.SIGINT):
        h._stop_process(self.proc, sig, grace=10)
        self.logf.close()
        with contextlib.suppress(OSError):
            os.unlink(self.logf.name)


def pg_startup(port, app):
    """A raw PostgreSQL connection through the v3 startup handshake (trust auth) and one
    SELECT 1; returns the socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    params = b"user\0postgres\0database\0postgres\0application_name\0" + app.encode() + b"\0\0"
    s.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
    f = s.makefile("rb")

    def until_ready():
        while True:
            hdr = f.read(5)
            if len(hdr) != 5:
                raise OSError("postgres closed the connection")
            t, n = hdr[:1], struct.unpack("!i", hdr[1:])[0]
            body = f.read(n - 4)
            if t == b"E":
                raise OSError("postgres error: %r" % body[:120])
            if t == b"R" and struct.unpack("!i", body[:4])[0] != 0:
                raise OSError("postgres wants authentication")
            if t == b"Z":
                return
    until_ready()
    q = b"SELECT 1\0"
    s.sendall(b"Q" + struct.pack("!i", 4 + len(q)) + q)
    until_ready()
    f.close()
    return s


# ------------------------------------------------------------------------------ alert tracking

def ts_of(v):
    """An alert timestamp (unix ms or s as a number, or ISO 8601) -> unix seconds; None if unset."""
    if v in (None, 0, "", "0"):
        return None
    if isinstance(v, (int, float)):
        return v / 1000.0 if v > 1e11 else float(v)
    if isinstance(v, str):
        try:
            from datetime import datetime
            return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
        except ValueError:
            try:
                return ts_of(float(v))
            except ValueError:
                return None
    return None


class Episode:
    """One alert instance's time in firing: from fired to resolved (unix seconds)."""

    def __init__(self, fp, fired_raw, alert, fired, seen):
        self.fp, self.fired_raw = fp, fired_raw
        self.name = alert.get("name") or alert.get("alertname") or "?"
        self.severity = alert.get("severity", "?")
        self.labels = alert.get("labels") or {}
        self.server = str(self.labels.get("server", ""))
        self.summary = alert.get("summary", "")
        self.fired = fired
        self.seen = seen
        self.resolved = None
        self.how = None  # how the resolution was seen

    def describe(self, origin):
        r = ("resolved %+.1fs" % (self.resolved - origin)) if self.resolved else "still firing"
        return "%-30s %-8s %-22s fired %+.1fs, %s" % (self.name, self.severity,
                                                      self.server or "-", self.fired - origin, r)


class Tracker:
    """Polls /api/v1/alerts every POLL seconds on a thread; keeps every firing episode."""

    def __init__(self, port, agent):
        self.port, self.agent = port, agent
        self.lock = threading.Lock()
        self.episodes = {}   # (fingerprint, fired_at as given) -> Episode
        self.current = {}    # fingerprint -> alert dict, from the last good poll
        self.polls = self.failures = 0
        self.consecutive_failures = 0
        self.last_error = None
        self.stop_ev = threading.Event()
        self.thread = None

    def fetch(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/alerts" % self.port,
                                    timeout=5) as r:
            doc = json.loads(r.read().decode("utf-8"))
        if not isinstance(doc, dict) or not isinstance(doc.get("alerts"), list):
            raise ValueError("no alerts list in %r" % str(doc)[:200])
        return doc

    @staticmethod
    def fingerprint(a):
        fp = a.get("fingerprint")
        if fp not in (None, ""):
            return str(fp)
        return json.dumps([a.get("name"), sorted((a.get("labels") or {}).items())])

    def poll_once(self):
        now = time.time()
        try:
            doc = self.fetch()
        except (OSError, ValueError) as e:
            with self.lock:
                self.failures += 1
                self.consecutive_failures += 1
                self.last_error = "%s: %s" % (type(e).__name__, e)
            return
        cur = {}
        for a in doc["alerts"]:
            if isinstance(a, dict):
                cur[self.fingerprint(a)] = a
        with self.lock:
            self.polls += 1
            self.consecutive_failures = 0
            for fp, a in cur.items():
                state = a.get("state")
                raw = a.get("fired_at")
                fired = ts_of(raw)
                key = (fp, json.dumps(raw))
                ep = self.episodes.get(key)
                if ep is None and (state == "firing" or (state == "resolved" and fired)):
                    # a resolved one seen first: it fired and resolved between two polls, unless
                    # it is an old episode we saw start (same key) or one from before we looked
                    if state == "resolved" and self.polls <= 1:
                        continue
                    ep = Episode(fp, raw, a, fired or now, now)
                    self.episodes[key] = ep
                if ep is not None and ep.resolved is None and state == "resolved":
                    ep.resolved = ts_of(a.get("resolved_at")) or now
                    ep.how = "resolved"
            # firing episodes whose alert vanished, went back to pending or started a new episode
            for ep in self.episodes.values():
                if ep.resolved is not None:
                    continue
                a = cur.get(ep.fp)
                if a is None:
                    ep.resolved, ep.how = now, "left the list"
                elif json.dumps(a.get("fired_at")) != json.dumps(ep.fired_raw) or \
                        a.get("state") not in ("firing", "resolved"):
                    ep.resolved, ep.how = ts_of(a.get("resolved_at")) or now, "new episode"
            self.current = cur

    def _loop(self):
        while not self.stop_ev.is_set():
            t = time.monotonic()
            self.poll_once()
            self.stop_ev.wait(max(0.0, POLL - (time.monotonic() - t)))

    def start(self):
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_ev.set()
        if self.thread:
            self.thread.join(timeout=10)

    def check(self):
        """Raises HarnessError when the agent died or its API stopped answering."""
        if not self.agent.running:
            e = h.HarnessError("the agent exited (status %s)" % self.agent.proc.poll())
            e.detail = self.agent.stderr_tail(20)
            raise e
        with self.lock:
            if self.consecutive_failures * POLL > 30:
                raise h.HarnessError("/api/v1/alerts has not answered for 30 s: %s"
                                     % self.last_error)

    def active(self):
        """Alerts pending or firing right now."""
        with self.lock:
            return [a for a in self.current.values() if a.get("state") in ("pending", "firing")]

    def episodes_between(self, t1, t2):
        with self.lock:
            return sorted((ep for ep in self.episodes.values() if t1 <= ep.fired <= t2),
                          key=lambda ep: ep.fired)

    def all_episodes(self):
        with self.lock:
            return sorted(self.episodes.values(), key=lambda ep: ep.fired)


# ------------------------------------------------------------------------------------- faults

LATENCY = {"latency_anomaly", "latency_p95_high", "latency_p95_critical"}


class Fault:
    def __init__(self, fid, title, kind, expected, inject):
        self.id, self.title, self.kind = fid, title, kind
        self.expected = set(expected)
        self.inject = inject  # fn(env) -> a note (str) or None
        self.start = self.end = None
        self.note = ""
        self.result = None


def f_debug_sleep(env):
    c = Resp(env.redis.port, timeout=30)
    try:
        for i in range(4):
            rep = c.call("DEBUG", "SLEEP", "2")
            if isinstance(rep, RespError):
                raise h.HarnessError("DEBUG SLEEP refused: %s" % rep)
            if i < 3:
                time.sleep(1)
    finally:
        c.close()
    return "4 x DEBUG SLEEP 2"


def f_client_pause(env):
    c = Resp(env.redis.port)
    try:
        rep = c.call("CLIENT", "PAUSE", "3000")
        if isinstance(rep, RespError):
            raise h.HarnessError("CLIENT PAUSE refused: %s" % rep)
    finally:
        c.close()
    time.sleep(3.0)
    return "CLIENT PAUSE 3000"


def f_flushall(env):
    c = Resp(env.redis.port)
    try:
        c.call("FLUSHALL")
    finally:
        c.close()
    time.sleep(20)
    env.rload.populate()
    return "misses for 20 s, then %d keys re-set" % REDIS_PRESENT


def f_wrongtype(env):
    rate, secs = REDIS_RATE * 0.10, 20.0
    c = Resp(env.redis.port)
    n = errs = 0
    try:
        end = time.monotonic() + secs
        nxt = time.monotonic()
        while time.monotonic() < end:
            rep = c.call("LPUSH", "k:%d" % random.randrange(REDIS_PRESENT), "x")
            n += 1
            errs += isinstance(rep, RespError) and rep.startswith("WRONGTYPE")
            nxt = max(nxt + 1.0 / rate, time.monotonic())
            time.sleep(max(0.0, nxt - time.monotonic()))
    finally:
        c.close()
    return "%d LPUSH, %d WRONGTYPE (~%.0f/s)" % (n, errs, n / secs)


def f_pg_sleep(env):
    script = os.path.join(env.tmp, "sleep.sql")
    with open(script, "w") as f:
        f.write("SELECT pg_sleep(1.5);\n")
    r, _ = h.run(pgbench_cmd(env.pg, "-n", "-f", script, "-c", "8", "-j", "2", "-T", "20"),
                 timeout=60, env=pg_env("nx-eval-sleep"))
    if r.returncode != 0:
        e = h.HarnessError("pgbench pg_sleep failed (%d)" % r.returncode)
        e.detail = (r.stdout + r.stderr).decode(errors="replace").splitlines()[-10:]
        raise e
    return "8 clients x SELECT pg_sleep(1.5) for 20 s"


def f_table_lock(env):
    r, _ = h.run([h.pg_tool("psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(env.pg.port),
                  "-U", "postgres", "-d", "postgres",
                  "-c", "BEGIN", "-c", "LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE",
                  "-c", "SELECT pg_sleep(20)", "-c", "COMMIT"], timeout=60,
                 env=pg_env("nx-eval-lock"))
    if r.returncode != 0:
        raise h.HarnessError("psql LOCK TABLE failed: %s" % r.stderr.decode(errors="replace"))
    return "ACCESS EXCLUSIVE on pgbench_accounts for 20 s"


def f_conn_storm(env):
    socks, errors = [], []
    lock = threading.Lock()

    def one(i):
        try:
            s = pg_startup(env.pg.port, "nx-eval-storm")
            with lock:
                socks.append(s)
        except OSError as e:
            with lock:
                errors.append(str(e))
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(STORM_CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=40)
    time.sleep(15)
    for s in socks:
        with contextlib.suppress(OSError):
            s.sendall(b"X\0\0\0\4")
            s.close()
    note = "%d/%d connections held 15 s" % (len(socks), STORM_CONNS)
    if errors:
        note += "; %d failed (%s)" % (len(errors), errors[0][:60])
    return note


# A Lua script that spins for ms milliseconds inside the server: nothing else runs meanwhile.
SPIN = ("local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2] "
        "while true do local n = redis.call('TIME') "
        "if n[1] * 1000000 + n[2] - t0 >= tonumber(ARGV[1]) * 1000 then break end end return 1")
STALL_SECONDS = 20.0


def repeat_stalls(env, one, gap=(0.6, 1.4)):
    """one(conn) -> ms stalled, again and again for STALL_SECONDS with random gaps."""
    rnd = random.Random(7)
    c = Resp(env.redis.port, timeout=30)
    n, held = 0, 0.0
    try:
        end = time.monotonic() + STALL_SECONDS
        while time.monotonic() < end:
            held += one(c, rnd)
            n += 1
            time.sleep(rnd.uniform(*gap))
    finally:
        c.close()
    return n, held


def f_lua_stalls(env):
    def one(c, rnd):
        ms = rnd.randrange(100, 501)
        rep = c.call("EVAL", SPIN, "0", str(ms))
        if isinstance(rep, RespError):
            raise h.HarnessError("EVAL refused: %s" % rep)
        return ms
    n, held = repeat_stalls(env, one)
    return "%d Lua spins of 100-500 ms (%.1f s held) in %.0f s" % (n, held / 1000, STALL_SECONDS)


def f_debug_sleep_loop(env):
    def one(c, rnd):
        rep = c.call("DEBUG", "SLEEP", "0.2")
        if isinstance(rep, RespError):
            raise h.HarnessError("DEBUG SLEEP refused: %s" % rep)
        return 200
    n, _ = repeat_stalls(env, one, gap=(0.1, 0.4))
    return "%d x DEBUG SLEEP 0.2 in %.0f s" % (n, STALL_SECONDS)


def f_keys_scan(env):
    """KEYS over a million keys in db 1 (the load uses db 0): each call holds the server while
    it scans them all. Populating them (DEBUG POPULATE) is part of the fault."""
    c = Resp(env.redis.port, timeout=60)
    try:
        c.call("SELECT", "1")
        rep = c.call("DEBUG", "POPULATE", "1000000", "big")
        if isinstance(rep, RespError):
            raise h.HarnessError("DEBUG POPULATE refused: %s" % rep)
    finally:
        c.close()

    def one(conn, rnd):
        t = time.monotonic()
        conn.call("SELECT", "1")
        conn.call("KEYS", "nomatch:*")  # scans every key, answers nothing: the scan is the stall
        return (time.monotonic() - t) * 1000
    n, held = repeat_stalls(env, one, gap=(1.0, 2.0))
    c = Resp(env.redis.port, timeout=60)
    try:
        c.call("SELECT", "1")
        c.call("FLUSHDB", "ASYNC")
    finally:
        c.close()
    return "%d x KEYS over 1M keys (~%.0f ms each)" % (n, held / max(n, 1))


STALLS = {"redis_event_loop_blocked"} | LATENCY

FAULTS = [
    Fault("debug_sleep", "redis DEBUG SLEEP 2 bursts", "redis", LATENCY, f_debug_sleep),
    Fault("client_pause", "redis CLIENT PAUSE 3000", "redis", LATENCY, f_client_pause),
    Fault("flushall", "redis FLUSHALL (miss storm)", "redis",
          {"redis_miss_storm", "redis_hit_ratio_drop", "redis_hit_ratio_low"}, f_flushall),
    Fault("wrongtype", "redis WRONGTYPE errors", "redis", {"error_ratio_high"}, f_wrongtype),
    Fault("pg_sleep", "pg pg_sleep(1.5) in queries", "postgres",
          LATENCY | {"postgres_slow_query_surge"}, f_pg_sleep),
    Fault("table_lock", "pg table lock (20 s)", "postgres",
          LATENCY | {"postgres_lock_wait_surge", "postgres_slow_query_surge", "traffic_stopped"},
          f_table_lock),
    Fault("conn_storm", "pg 200 connections", "postgres",
          {"connection_storm", "connections_near_limit"}, f_conn_storm),
    Fault("lua_stalls", "redis Lua spins 100-500 ms", "redis", STALLS, f_lua_stalls),
    Fault("sleep_loop", "redis DEBUG SLEEP 0.2 loop", "redis", STALLS, f_debug_sleep_loop),
    Fault("keys_scan", "redis KEYS over 1M keys", "redis", STALLS, f_keys_scan),
]


class Env:
    pass


def server_port(ep):
    s = ep.server
    try:
        return int(s.rsplit(":", 1)[1]) if ":" in s else None
    except ValueError:
        return None


def wait_calm(env, tracker):
    """Until nothing is pending or firing (at most CALM_WAIT s), then GAP s more; returns the
    names still active if it never got calm."""
    deadline = time.monotonic() + CALM_WAIT
    while True:
        tracker.check()
        env.check_load()
        act = tracker.active()
        if not act:
            break
        if time.monotonic() >= deadline:
            return sorted({a.get("name", "?") for a in act})
        time.sleep(POLL)
    end = time.monotonic() + GAP
    while time.monotonic() < end:
        tracker.check()
        env.check_load()
        time.sleep(POLL)
    return []


def run_fault(env, tracker, f):
    busy = wait_calm(env, tracker)
    if busy:
        log("  still active before the fault: %s" % ", ".join(busy))
    port = env.redis.port if f.kind == "redis" else env.pg.port
    log("fault %s: %s" % (f.id, f.title))
    f.start = time.time()
    f.note = f.inject(env) or ""
    f.end = time.time()
    log("  injected in %.1fs: %s" % (f.end - f.start, f.note))
    # attribute what fires from the start until DETECT_TARGET s after the end; then wait for what
    # fired on the faulty server to resolve (at most RESOLVE_WAIT s after the end)
    while True:
        tracker.check()
        now = time.time()
        eps = tracker.episodes_between(f.start, f.end + DETECT_TARGET)
        if now >= f.end + DETECT_TARGET and all(ep.resolved for ep in eps
                                                if server_port(ep) == port):
            break
        if now >= f.end + RESOLVE_WAIT:
            break
        time.sleep(POLL)
    eps = tracker.episodes_between(f.start, f.end + DETECT_TARGET)
    mine = [ep for ep in eps if server_port(ep) == port]
    others = [ep for ep in eps if server_port(ep) != port]
    hit = [ep for ep in mine if ep.name in f.expected]
    first = hit or mine
    res = {"id": f.id, "fault": f.title, "note": f.note,
           "duration_s": round(f.end - f.start, 1),
           "detected": "yes" if hit else ("other" if mine else "no"),
           "alerts": sorted({ep.name for ep in mine}, key=lambda n: min(
               e.fired for e in mine if e.name == n)),
           "fire_s": round(min(ep.fired for ep in first) - f.start, 1) if first else None,
           "resolve_s": None, "unresolved": [],
           "other_server_alerts": sorted({"%s(%s)" % (ep.name, ep.server or "-")
                                          for ep in others})}
    if mine:
        open_ = [ep for ep in mine if not ep.resolved]
        res["unresolved"] = sorted({ep.name for ep in open_})
        if not open_:
            res["resolve_s"] = round(max(0.0, max(ep.resolved for ep in mine) - f.end), 1)
    f.result = res
    log("  detected %s %s; fire %s s, resolve %s s%s" % (
        res["detected"], ",".join(res["alerts"]) or "-", res["fire_s"], res["resolve_s"],
        ("; still firing: " + ",".join(res["unresolved"])) if res["unresolved"] else ""))
    for ep in mine + others:
        log("    " + ep.describe(f.start))
    return res


# ---------------------------------------------------------------------------------- reporting

def fmt_s(v):
    return "-" if v is None else "%.1f" % v


def table(results, quiet):
    cols = [("fault", 28), ("detected", 8), ("fire s", 7), ("resolve s", 9), ("alerts", 72),
            ("other server", 20)]
    out = ["  ".join(n.ljust(w) for n, w in cols).rstrip(),
           "  ".join("-" * w for _, w in cols)]
    for r in results:
        res = fmt_s(r["resolve_s"]) if not r["unresolved"] else ">%d" % RESOLVE_WAIT
        alerts = ",".join(r["alerts"]) or "-"
        other = ",".join(r["other_server_alerts"]) or "-"
        row = [r["fault"], r["detected"], fmt_s(r["fire_s"]), res, alerts, other]
        out.append("  ".join(str(v).ljust(w) for v, (_, w) in zip(row, cols)).rstrip())
    if quiet is not None:
        names = ",".join(quiet["names"]) or "-"
        out.append("  ".join("-" * w for _, w in cols))
        out.append("quiet %-22s false alerts: %d  %s" % ("%ds" % quiet["seconds"],
                                                        quiet["false_alerts"], names))
    return out


def summary(results, quiet):
    n = len(results)
    det = sum(r["detected"] == "yes" for r in results)
    det_any = sum(r["detected"] != "no" for r in results)
    fast = sum(r["detected"] != "no" and r["fire_s"] is not None
               and r["fire_s"] <= DETECT_TARGET for r in results)
    resolved = sum(r["detected"] != "no" and not r["unresolved"] for r in results)
    rfast = sum(r["detected"] != "no" and r["resolve_s"] is not None
                and r["resolve_s"] <= RESOLVE_TARGET for r in results)
    met = (fast == n and rfast == n and det == n and quiet is not None
           and quiet["false_alerts"] == 0 and quiet["seconds"] >= 600)
    q = ("%d false alerts in %ds quiet" % (quiet["false_alerts"], quiet["seconds"])
         if quiet else "no quiet period")
    return ("eval: %d/%d faults detected by their rules (%d by any), %d/%d within %ds, "
            "%d/%d resolved, %d/%d within %ds of the end; %s; targets %s"
            % (det, n, det_any, fast, n, DETECT_TARGET, resolved, n, rfast, n, RESOLVE_TARGET,
               q, "met" if met else ("not met" if quiet is None or quiet["seconds"] >= 600
                                     else "not met (quiet period under 10 min)")))


# --------------------------------------------------------------------------------------- main

def main():
    h.exit_cleanly_on_sigterm()
    why = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "initdb", "postgres", "psql", "pgbench",
                              "pg_isready")
    if why or missing:
        print("eval: cannot run here: %s" % (why or "missing tools: " + " ".join(missing)))
        return 2
    if not os.access(h.AGENT, os.X_OK):
        print("eval: agent binary %s is missing (make first)" % h.AGENT)
        return 2
    wanted = [x.strip() for x in os.environ.get("EVAL_FAULTS", "").split(",") if x.strip()]
    faults = [f for f in FAULTS if not wanted or f.id in wanted]
    unknown = set(wanted) - {f.id for f in FAULTS}
    if unknown or not faults:
        print("eval: unknown EVAL_FAULTS %s; known: %s" % (",".join(sorted(unknown)),
                                                           ",".join(f.id for f in FAULTS)))
        return 2
    log("eval: %d faults, warm-up %ds, gaps %ds, quiet %ds" % (len(faults), WARMUP, GAP, QUIET))
    env = Env()
    results, quiet = [], None
    tracker = None
    try:
        with contextlib.ExitStack() as st:
            env.tmp = tempfile.mkdtemp(prefix="nx-eval-")
            st.callback(shutil.rmtree, env.tmp, True)
            env.redis = st.enter_context(redis_server())
            env.pg = st.enter_context(h.postgres_server(
                settings=("max_connections=%d" % PG_MAX_CONNECTIONS,)))
            log("redis-server pid %d port %d; postgres pid %d port %d"
                % (env.redis.pid, env.redis.port, env.pg.pid, env.pg.port))
            r, _ = h.run(pgbench_cmd(env.pg, "-i", "-s", "2", "-q"), timeout=120, env=pg_env())
            if r.returncode != 0:
                e = h.HarnessError("pgbench -i failed (%d)" % r.returncode)
                e.detail = (r.stdout + r.stderr).decode(errors="replace").splitlines()[-10:]
                raise e
            env.rload = RedisLoad(env.redis.port)
            env.rload.populate()
            port = h.free_port()
            args = ["--no-default-targets", "--pid", str(env.redis.pid), "--pid",
                    str(env.pg.pid), "--listen", "127.0.0.1:%d" % port]
            if os.environ.get("EVAL_ALERTS"):
                args += ["--alerts", os.environ["EVAL_ALERTS"]]
            agent = st.enter_context(h.agent(*args, mode="run", raw=False))
            log("agent attached, listening on 127.0.0.1:%d" % port)
            env.rload.start()
            st.callback(env.rload.stop)
            pgload = Background(pgbench_cmd(env.pg, "-n", "-S", "-R", str(PG_RATE), "-L", "1000",
                                            "-c", str(PG_CLIENTS), "-j", "2", "-T", "86400"),
                                "pgbench", env=pg_env("nx-eval-load"))
            st.callback(pgload.stop)

            def check_load():
                if not pgload.alive():
                    e = h.HarnessError("the pgbench load exited (%s)" % pgload.proc.poll())
                    e.detail = pgload.tail()
                    raise e
            env.check_load = check_load
            tracker = Tracker(port, agent)
            errs = []

            def first_fetch():  # the HTTP server may come up a moment after "attached"
                try:
                    return tracker.fetch()
                except (OSError, ValueError) as e:
                    errs.append("%s: %s" % (type(e).__name__, e))
                    return None
            if not h.wait_until(first_fetch, 10, 0.2):
                raise h.HarnessError("GET /api/v1/alerts does not work (is the alert engine "
                                     "built in?): %s" % (errs[-1] if errs else "?"))
            tracker.start()
            st.callback(tracker.stop)
            log("load running (redis ~%d ops/s on %d connections, pgbench -S -R %d); warm-up %ds"
                % (REDIS_RATE, REDIS_CONNS, PG_RATE, WARMUP))
            end = time.monotonic() + WARMUP
            while time.monotonic() < end:
                tracker.check()
                check_load()
                time.sleep(POLL)
            warm = tracker.all_episodes()
            if warm:
                log("fired during warm-up (not counted):")
                for ep in warm:
                    log("    " + ep.describe(time.time()))
            for f in faults:
                results.append(run_fault(env, tracker, f))
            busy = wait_calm(env, tracker)
            if busy:
                log("still active before the quiet period: %s" % ", ".join(busy))
            log("quiet period: %ds of load alone" % QUIET)
            q0 = time.time()
            next_note = time.monotonic() + 60
            end = time.monotonic() + QUIET
            while time.monotonic() < end:
                tracker.check()
                check_load()
                time.sleep(POLL)
                if time.monotonic() >= next_note:
                    next_note += 60
                    log("  quiet %ds so far, %d false alerts" % (
                        time.time() - q0, len(tracker.episodes_between(q0, time.time()))))
            q1 = time.time()
            false_eps = tracker.episodes_between(q0, q1)
            quiet = {"seconds": int(round(q1 - q0)), "false_alerts": len(false_eps),
                     "names": sorted({"%s(%s)" % (ep.name, ep.server or "-")
                                      for ep in false_eps})}
            for ep in false_eps:
                log("  false alert: " + ep.describe(q0))
            with env.rload.lock:
                log("redis load: %d ops, %d error replies, %d connection errors"
                    % (env.rload.ops, env.rload.errors, env.rload.io_errors))
            log("agent polls %d, failed %d" % (tracker.polls, tracker.failures))
    except h.HarnessError as e:
        print("eval: harness failure: %s" % e)
        for line in getattr(e, "detail", []) or []:
            print("  " + line)
        return 1
    except KeyboardInterrupt:
        print("eval: interrupted")
        return 1
    total = time.monotonic() - T0
    print()
    print("nexus-agent alert evaluation (targets: detected <= %ds, resolved <= %ds after the "
          "fault ends, 0 false alerts in 600 s quiet)" % (DETECT_TARGET, RESOLVE_TARGET))
    for line in table(results, quiet):
        print(line)
    print()
    for r in results:
        print("  %-28s %s" % (r["fault"], r["note"]))
    print()
    print(summary(results, quiet) + "; total %.0f s" % total)
    if os.environ.get("EVAL_JSON"):
        with open(os.environ["EVAL_JSON"], "w") as f:
            json.dump({"faults": results, "quiet": quiet, "total_s": round(total, 1)}, f,
                      indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
