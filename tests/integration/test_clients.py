#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Completeness with real client libraries: nexus-agent's counts against the servers' own.

Real client libraries batch: redis-py and redis.asyncio pipelines (with and without MULTI/EXEC),
ioredis auto-pipelining and .pipeline(), node-redis bursts, .multi() and .execAsPipeline(),
asyncpg executemany, psycopg 3 executemany and pipeline mode, node-postgres queueing and pools,
porsager's postgres pipelining. At the agent's default flags (`run`, no --capture-bytes) every
command and statement of such a batch, up to 10,000 of them, over TCP and unix sockets, must be
counted exactly: Redis per-command counts and keyspace hits/misses against INFO commandstats and
INFO stats, PostgreSQL per-statement counts against pg_stat_statements calls. Each library also
runs a control case with no batching (one command at a time), which proves the comparison itself.

One redis-server, one postgres (pg_stat_statements, track=all) and one `run` agent watching both
serve every case. The workloads are small programs in clients/: Python ones run by /usr/bin/python3
(Debian's python3-redis, python3-asyncpg, python3-psycopg; `python3` on PATH may be another
interpreter), Node ones by `node` with the packages pinned in clients/package.json and
package-lock.json (installed into clients/node_modules by `npm install` when missing). A library
that is not there makes its checks SKIP with the reason. Everything connects to 127.0.0.1 or a unix
socket only.

How a case is compared: the server's counters and the agent's /metrics are taken after the previous
case (a "sync"); the client program runs; a sync again. A sync reads the server's counters (Redis:
INFO stats commandstats; PostgreSQL: pg_stat_statements), then makes a marker (Redis: ECHO over a
connection of its own; PostgreSQL: SELECT 1 AS nx_mark_N through psql) and polls /metrics until the
agent has counted the marker (the ring buffer is ordered, so everything before it is in the
published figures too), then once more a publication later so that nothing trickles in. Each case
uses keys of its own prefix / a table of its own, and the agent's figures are read for the case's
server label (127.0.0.1:PORT or the unix socket's path). The agent's deltas must equal the server's
deltas and what the client program says it sent, exactly.

Prints TAP: one line per case, with a diagnostic line of server vs agent numbers under each.
NEXUS_CLIENTS_AGENT_ARGS="--capture-bytes 16384" (say) adds agent flags, for diagnosis only: the
checks are about the defaults.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients")
PYTHON = os.environ.get("NEXUS_CLIENT_PYTHON", "/usr/bin/python3")
NODE_MODULES = ("ioredis", "redis", "pg", "postgres")
PUBLISH_WAIT = 1.2   # the agent publishes its Redis and PostgreSQL figures once per second
SYNC_TIMEOUT = 30    # seconds the agent may take to count a marker (a 10,000 batch is behind it)
CLIENT_TIMEOUT = 90  # seconds one client program may run


# ------------------------------------------------------------------------------------ the cases

class Case:
    """One client library path: lib/mode/n (per batch)/batches, over tcp or unix."""

    def __init__(self, kind, lib, mode, n, batches, transport, what, control=False):
        self.kind, self.lib, self.mode = kind, lib, mode
        self.n, self.batches, self.transport = n, batches, transport
        self.control = control
        self.key = None  # key prefix (Redis) or table (PostgreSQL), set by the group
        if kind == "redis":
            tail = "per-command counts (%s), hits, misses == INFO, exactly" % (
                "get, set, multi, exec" if mode == "multi" else "get, set")
        else:
            tail = "statement count == pg_stat_statements calls, exactly"
        size = "%s x%d" % (format(n, ","), batches) if batches > 1 else format(n, ",")
        self.name = "%s %s %s, %s: %s%s" % (lib, what, size, transport, tail,
                                            " (control: no batching)" if control else "")

    @property
    def script(self):
        if self.lib in ("redis-py", "redis.asyncio"):
            return [PYTHON, os.path.join(CLIENTS, "py_redis.py")]
        if self.lib in ("asyncpg", "psycopg"):
            return [PYTHON, os.path.join(CLIENTS, "py_pg.py")]
        js = "redis_node.js" if self.kind == "redis" else "pg_node.js"
        return [shutil.which("node") or "node", os.path.join(CLIENTS, js)]

    @property
    def lib_arg(self):
        return {"redis-py": "redis", "node-redis": "redis", "node-postgres": "pg",
                "postgres.js": "postgres"}.get(self.lib, self.lib)


def R(lib, mode, n, batches, transport, what, control=False):
    return Case("redis", lib, mode, n, batches, transport, what, control)


def P(lib, mode, n, batches, transport, what, control=False):
    return Case("pg", lib, mode, n, batches, transport, what, control)


GROUPS = [
    # (title, cases, time limit in seconds)
    ("redis-py", [
        R("redis-py", "loop", 300, 1, "tcp", "GET one by one", control=True),
        R("redis-py", "pipeline", 10, 30, "tcp", "pipeline(transaction=False) of"),
        R("redis-py", "pipeline", 200, 10, "tcp", "pipeline(transaction=False) of"),
        R("redis-py", "pipeline", 10000, 1, "tcp", "pipeline(transaction=False) of"),
        R("redis-py", "multi", 1000, 2, "tcp", "pipeline(transaction=True) MULTI/EXEC of"),
        R("redis-py", "loop", 300, 1, "unix", "GET one by one", control=True),
        R("redis-py", "pipeline", 200, 10, "unix", "pipeline(transaction=False) of"),
        R("redis-py", "pipeline", 10000, 1, "unix", "pipeline(transaction=False) of"),
        R("redis-py", "multi", 1000, 2, "unix", "pipeline(transaction=True) MULTI/EXEC of"),
        R("redis.asyncio", "pipeline", 10000, 1, "tcp", "pipeline(transaction=False) of"),
        R("redis.asyncio", "multi", 1000, 2, "unix", "pipeline(transaction=True) MULTI/EXEC of"),
    ], 110),
    ("ioredis", [
        R("ioredis", "loop", 300, 1, "tcp", "awaited one by one", control=True),
        R("ioredis", "auto", 1500, 4, "tcp", "enableAutoPipelining, fired at once:"),
        R("ioredis", "auto", 10000, 1, "tcp", "enableAutoPipelining, fired at once:"),
        R("ioredis", "pipeline", 10000, 1, "tcp", ".pipeline() of"),
        R("ioredis", "auto", 10000, 1, "unix", "enableAutoPipelining, fired at once:"),
    ], 60),
    ("node-redis", [
        R("node-redis", "loop", 300, 1, "tcp", "awaited one by one", control=True),
        R("node-redis", "burst", 10000, 1, "tcp", "v4 commands fired without awaiting:"),
        R("node-redis", "multi", 1000, 2, "tcp", ".multi().exec() of"),
        R("node-redis", "pipeline", 10000, 1, "tcp", ".multi().execAsPipeline() of"),
        R("node-redis", "burst", 10000, 1, "unix", "v4 commands fired without awaiting:"),
    ], 60),
    ("asyncpg", [
        P("asyncpg", "fetchloop", 300, 1, "tcp", "fetchval loop, SELECTs", control=True),
        P("asyncpg", "executemany", 10, 10, "tcp", "executemany INSERT, rows"),
        P("asyncpg", "executemany", 300, 1, "tcp", "executemany INSERT, rows"),
        P("asyncpg", "executemany", 10000, 1, "tcp", "executemany INSERT, rows"),
        P("asyncpg", "fetchloop", 300, 1, "unix", "fetchval loop, SELECTs", control=True),
        P("asyncpg", "executemany", 300, 1, "unix", "executemany INSERT, rows"),
        P("asyncpg", "executemany", 10000, 1, "unix", "executemany INSERT, rows"),
    ], 70),
    ("psycopg", [
        P("psycopg", "loop", 300, 1, "tcp", "execute loop, INSERTs", control=True),
        P("psycopg", "executemany", 1000, 1, "tcp", "executemany (pipeline mode) INSERT, rows"),
        P("psycopg", "pipeline", 1000, 1, "tcp", "`with conn.pipeline():` INSERTs"),
        P("psycopg", "pipeline", 10000, 1, "tcp", "`with conn.pipeline():` INSERTs"),
        P("psycopg", "pipeline", 10000, 1, "unix", "`with conn.pipeline():` INSERTs"),
    ], 60),
    ("node-postgres", [
        P("node-postgres", "loop", 300, 1, "tcp", "queries awaited one by one", control=True),
        P("node-postgres", "queue", 10000, 1, "tcp", "one Client, queries issued at once:"),
        P("node-postgres", "pool", 10000, 1, "tcp", "Pool(max 10), queries issued at once:"),
        P("node-postgres", "queue", 10000, 1, "unix", "one Client, queries issued at once:"),
    ], 60),
    ("postgres.js", [
        P("postgres.js", "loop", 300, 1, "tcp", "queries awaited one by one", control=True),
        P("postgres.js", "all", 200, 5, "tcp", "max:1, Promise.all pipelining"),
        P("postgres.js", "all", 10000, 1, "tcp", "max:1, Promise.all pipelining"),
        P("postgres.js", "begin", 1000, 1, "tcp", "sql.begin, pipelined inside:"),
        P("postgres.js", "all", 10000, 1, "unix", "max:1, Promise.all pipelining"),
    ], 70),
]

for _title, _cases, _ in GROUPS:
    for _i, _c in enumerate(_cases, 1):
        short = re.sub(r"[^a-z]", "", _title.lower())[:6]
        _c.key = ("cl%s%d" % (short, _i)) if _c.kind == "redis" else ("nxc_%s_%d" % (short, _i))


# ----------------------------------------------------------------------- prerequisites (skips)

def python_reasons():
    """{module: skip reason or None} for the Debian Python client libraries."""
    out = {}
    for mod, pkg in (("redis", "python3-redis"), ("asyncpg", "python3-asyncpg"),
                     ("psycopg", "python3-psycopg")):
        if not os.access(PYTHON, os.X_OK):
            out[mod] = "%s is missing (the Debian interpreter the client libraries live under)" \
                % PYTHON
            continue
        try:
            r = subprocess.run([PYTHON, "-c", "import %s; print(%s.__version__)" % (mod, mod)],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            out[mod] = "%s -c 'import %s' failed: %s" % (PYTHON, mod, e)
            continue
        if r.returncode != 0:
            last = (r.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
            out[mod] = "%s cannot import %s (%s; install %s): %s" % (PYTHON, mod, PYTHON, pkg, last)
        else:
            out[mod] = None
    return out


def node_reasons(tap):
    """{package: skip reason or None} for the npm client libraries; runs `npm install` into
    clients/node_modules when one is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node:
        return {m: "node is not installed (Debian nodejs)" for m in NODE_MODULES}

    def missing():
        return [m for m in NODE_MODULES
                if not os.path.exists(os.path.join(CLIENTS, "node_modules", m, "package.json"))]
    why = None
    if missing():
        if not npm:
            why = "npm is not installed, and clients/node_modules lacks %s" % " ".join(missing())
        else:
            tap.diag("npm install --no-audit --no-fund in %s (missing: %s)"
                     % (CLIENTS, " ".join(missing())))
            t0 = time.monotonic()
            try:
                r = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=CLIENTS,
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=240)
                tail = (r.stdout + r.stderr).decode(errors="replace").strip().splitlines()
                if r.returncode != 0:
                    key = [l for l in tail if re.match(r"npm (error|ERR!) code ", l)
                           or "FetchError" in l or "ERR!" in l]
                    why = "npm install failed (%d): %s" % (
                        r.returncode, (" / ".join((key or tail)[:2]) or "no output")[:300])
                else:
                    tap.diag("npm install took %.1f s: %s" % (time.monotonic() - t0,
                                                              " / ".join(tail[-2:])))
            except (OSError, subprocess.TimeoutExpired) as e:
                why = "npm install failed: %s" % e
    return {m: (why or "npm install did not install %s" % m) if m in missing() else None
            for m in NODE_MODULES}


# ------------------------------------------------------------------------ talking to the servers

def resp_read_bulk(sock, buf):
    """Reads one reply that is a bulk string, a simple string or an error; returns (text, rest)."""
    while b"\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise h.HarnessError("redis closed the connection")
        buf += d
    line, _, rest = buf.partition(b"\r\n")
    if line[:1] in (b"+", b"-"):
        if line[:1] == b"-":
            raise h.HarnessError("redis error: %r" % line)
        return line[1:].decode(), rest
    if line[:1] != b"$":
        raise h.HarnessError("unexpected reply %r" % line[:60])
    n = int(line[1:])
    while len(rest) < n + 2:
        d = sock.recv(1 << 20)
        if not d:
            raise h.HarnessError("redis closed the connection")
        rest += d
    return rest[:n].decode(errors="replace"), rest[n + 2:]


def parse_info(text):
    info = {"hits": None, "misses": None, "cmds": {}}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("keyspace_hits:"):
            info["hits"] = int(line.split(":", 1)[1])
        elif line.startswith("keyspace_misses:"):
            info["misses"] = int(line.split(":", 1)[1])
        elif line.startswith("cmdstat_"):
            name, _, rest = line[len("cmdstat_"):].partition(":")
            f = dict(kv.split("=", 1) for kv in rest.split(","))
            info["cmds"][name.replace("|", " ")] = int(f["calls"]) + int(f.get("rejected_calls", 0))
    if info["hits"] is None or info["misses"] is None:
        raise h.HarnessError("INFO has no keyspace_hits/misses: %r" % text[:200])
    return info


def psql(pg, sql, timeout=30):
    """One Query message through psql over TCP; returns stdout (fields separated by \\x1f)."""
    r = run_proc([h.pg_tool("psql"), "-X", "-A", "-t", "-F", "\x1f", "-h", "127.0.0.1",
                  "-p", str(pg.port), "-U", "postgres", "-d", "postgres", "-c", sql],
                 timeout=timeout, env=h.pg_env())
    if r.returncode != 0:
        raise h.HarnessError("psql failed (%d): %s" % (r.returncode, r.stderr.strip()))
    return r.stdout.strip()


def run_proc(cmd, timeout, **kw):
    """subprocess.run that kills the child on any way out (a timeout, the group's alarm)."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise
    return subprocess.CompletedProcess(cmd, p.returncode, out.decode(errors="replace"),
                                       err.decode(errors="replace"))


# ------------------------------------------------------------------------------ the agent's view

class View:
    """The agent's figures from one /metrics scrape."""

    def __init__(self, text):
        fams = h.parse_prometheus(text)

        def smp(name, family=None):
            f = fams.get(family or name)
            return [(l, v) for n, l, v in f["samples"] if n == name] if f else []

        def total(name):
            return int(sum(v for _, v in smp(name)))
        self.rcmd = {}   # (server, command) -> n, all statuses
        self.rerr = {}   # (server, command) -> n, statuses other than ok
        for l, v in smp("nexus_redis_commands_total"):
            k = (l.get("server"), l.get("command"))
            self.rcmd[k] = self.rcmd.get(k, 0) + int(v)
            if l.get("status") != "ok":
                self.rerr[k] = self.rerr.get(k, 0) + int(v)
        self.hits = {l.get("server"): int(v) for l, v in smp("nexus_redis_keyspace_hits_total")}
        self.misses = {l.get("server"): int(v)
                       for l, v in smp("nexus_redis_keyspace_misses_total")}
        info = {l.get("fingerprint"): l.get("query") for l, v in smp("nexus_postgres_query_info")}
        self.pq = {}     # (server, normalised text) -> n, all statuses
        self.pstatus = {}  # (server, text) -> {status: n}
        for l, v in smp("nexus_postgres_queries_total"):
            k = (l.get("server"), info.get(l.get("fingerprint"), "<fingerprint %s>"
                                           % l.get("fingerprint")))
            self.pq[k] = self.pq.get(k, 0) + int(v)
            st = self.pstatus.setdefault(k, {})
            st[l.get("status")] = st.get(l.get("status"), 0) + int(v)
        self.misc = {k: total(k) for k in (
            "nexus_agent_events_total", "nexus_agent_events_lost_total",
            "nexus_redis_parse_errors_total", "nexus_redis_resyncs_total",
            "nexus_redis_unpaired_commands_total", "nexus_postgres_parse_errors_total",
            "nexus_postgres_resyncs_total", "nexus_postgres_unpaired_statements_total")}


def misc_delta(a, b):
    short = {"nexus_agent_events_total": "events", "nexus_agent_events_lost_total": "lost",
             "nexus_redis_parse_errors_total": "redis_parse_errors",
             "nexus_redis_resyncs_total": "redis_resyncs",
             "nexus_redis_unpaired_commands_total": "redis_unpaired",
             "nexus_postgres_parse_errors_total": "pg_parse_errors",
             "nexus_postgres_resyncs_total": "pg_resyncs",
             "nexus_postgres_unpaired_statements_total": "pg_unpaired"}
    return ", ".join("%s +%d" % (short[k], b.misc[k] - a.misc[k]) for k in short
                     if b.misc[k] - a.misc[k] or k == "nexus_agent_events_lost_total")


def table_re(table):
    return re.compile(r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(table), re.I)


class Session:
    """The servers (either may be None), the agent, and syncs against them."""

    def __init__(self, rd, pg, agent, port):
        self.rd, self.pg, self.agent, self.port = rd, pg, agent, port
        self.echoes = 0
        self.pg_marks = 0
        self.redis_base = None  # (INFO, View) after the last Redis sync
        self.pg_base = None     # (pg_stat_statements, View) after the last PostgreSQL sync
        if rd:
            self.r_label = {"tcp": "127.0.0.1:%d" % rd.port, "unix": rd.sock}
        if pg:
            self.p_label = {"tcp": "127.0.0.1:%d" % pg.port, "unix": pg.sock_path}

    def view(self):
        return View(h.fetch(self.port))

    def wait_view(self, pred, timeout):
        st = {"v": None, "err": None}

        def look():
            try:
                st["v"] = self.view()
            except (OSError, h.PromParseError) as e:
                st["err"] = "%s: %s" % (type(e).__name__, e)
                return False
            return pred(st["v"])
        ok = bool(h.wait_until(look, timeout, 0.2))
        if st["v"] is None:
            raise h.HarnessError("/metrics on port %d never answered: %s" % (self.port, st["err"]))
        return st["v"], ok

    def settle(self):
        """One publication more after the marker, so that nothing else trickles in."""
        time.sleep(PUBLISH_WAIT)
        return self.wait_view(lambda v: True, 5)[0]

    def redis_sync(self):
        """INFO stats commandstats, then ECHO (a marker), both on one new TCP connection; waits
        for the agent to count the ECHO. Returns (INFO, View)."""
        with socket.create_connection(("127.0.0.1", self.rd.port), timeout=15) as s:
            s.sendall(h.resp("INFO", "stats", "commandstats"))
            text, rest = resp_read_bulk(s, b"")
            s.sendall(h.resp("ECHO", "nx-mark-%d" % (self.echoes + 1)))
            resp_read_bulk(s, rest)
        self.echoes += 1
        info = parse_info(text)
        label = self.r_label["tcp"]
        v, ok = self.wait_view(lambda v: v.rcmd.get((label, "echo"), 0) >= self.echoes,
                               SYNC_TIMEOUT)
        if not ok:
            e = h.HarnessError("the agent never counted marker ECHO #%d on %s (it has %d)"
                               % (self.echoes, label, v.rcmd.get((label, "echo"), 0)))
            e.detail = self.agent.stderr_tail(8)
            raise e
        return info, self.settle()

    def pgss(self):
        """{(normalised text): calls} of pg_stat_statements' top-level entries for our tables."""
        out = psql(self.pg, "SELECT regexp_replace(query, '\\s+', ' ', 'g'), calls "
                            "FROM pg_stat_statements WHERE toplevel AND query LIKE '%nxc\\_%'")
        res = {}
        for line in out.splitlines():
            q, _, calls = line.rpartition("\x1f")
            res[q] = res.get(q, 0) + int(calls)
        return res

    def pg_sync(self):
        """SELECT 1 AS nx_mark_N through psql over TCP; waits for the agent to count it, then
        reads pg_stat_statements. Returns (pgss, View)."""
        self.pg_marks += 1
        name = "nx_mark_%d" % self.pg_marks
        psql(self.pg, "SELECT 1 AS %s" % name)
        key = (self.p_label["tcp"], "select $1 as %s" % name)
        v, ok = self.wait_view(lambda v: v.pq.get(key, 0) >= 1, SYNC_TIMEOUT)
        if not ok:
            e = h.HarnessError("the agent never counted the marker %r on %s" % key[::-1])
            e.detail = self.agent.stderr_tail(8)
            raise e
        view = self.settle()
        return self.pgss(), view


# ---------------------------------------------------------------------------- running one case

def run_client(s, c):
    """Runs the case's client program; returns (result dict or None, error text or None)."""
    spec = {"lib": c.lib_arg, "mode": c.mode, "n": c.n, "batches": c.batches}
    if c.kind == "redis":
        spec["prefix"] = c.key
        spec.update({"port": s.rd.port} if c.transport == "tcp" else {"unix": s.rd.sock})
    else:
        spec.update({"table": c.key, "port": s.pg.port,
                     "host": "127.0.0.1" if c.transport == "tcp" else s.pg.sockdir})
    t0 = time.monotonic()
    try:
        r = run_proc(c.script + [json.dumps(spec)], CLIENT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "the client program ran longer than %d s" % CLIENT_TIMEOUT
    took = time.monotonic() - t0
    if r.returncode != 0:
        return None, "client program exited %d: %s" % (
            r.returncode, " / ".join(r.stderr.strip().splitlines()[-6:]))
    try:
        res = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, "client program printed no JSON result: %r" % r.stdout[-300:]
    res["wall"] = took
    return res, None


def redis_case(g, s, c):
    info_b, view_b = s.redis_base
    res, err = run_client(s, c)
    info_a, view_a = s.redis_base = s.redis_sync()
    label = s.r_label[c.transport]
    cmds = ["get", "set"] + (["multi", "exec"] if c.mode == "multi" else [])
    srv = {k: info_a["cmds"].get(k, 0) - info_b["cmds"].get(k, 0) for k in cmds}
    srv["hits"] = info_a["hits"] - info_b["hits"]
    srv["misses"] = info_a["misses"] - info_b["misses"]
    agt = {k: view_a.rcmd.get((label, k), 0) - view_b.rcmd.get((label, k), 0) for k in cmds}
    agt["hits"] = view_a.hits.get(label, 0) - view_b.hits.get(label, 0)
    agt["misses"] = view_a.misses.get(label, 0) - view_b.misses.get(label, 0)
    errs = {k: view_a.rerr.get((label, k), 0) - view_b.rerr.get((label, k), 0) for k in cmds}
    errs = {k: n for k, n in errs.items() if n}
    fields = cmds + ["hits", "misses"]
    cli = {k: res.get(k) for k in fields} if res else None
    lines = ["server (INFO deltas): %s" % " ".join("%s=%d" % (k, srv[k]) for k in fields),
             "agent  (%s): %s" % (label, " ".join("%s=%d" % (k, agt[k]) for k in fields))]
    lost = [k for k in fields if agt[k] != srv[k]]
    if lost:
        lines.append("agent missed: %s" % " ".join(
            "%s %d of %d (%.1f%%)" % (k, srv[k] - agt[k], srv[k],
                                      100.0 * (srv[k] - agt[k]) / srv[k] if srv[k] else 0)
            for k in lost))
    if res:
        lines.append("client: %s; %.2f s" % (" ".join("%s=%s" % (k, cli[k]) for k in fields),
                                              res["wall"]))
    lines.append("agent: %s%s" % (misc_delta(view_b, view_a),
                                  "; non-ok statuses %s" % errs if errs else ""))
    # every command of this server (all its labels) against the whole commandstats delta: the
    # agent must not invent commands either (a command Redis refused as unknown, e.g. CLIENT
    # SETINFO before 7.2, has no commandstats line; the agent counts it with its error status)
    whole_s = {k: info_a["cmds"].get(k, 0) - info_b["cmds"].get(k, 0)
               for k in set(info_a["cmds"]) | set(info_b["cmds"])}
    whole_a = {}
    for (sv, k), n in view_a.rcmd.items():
        if sv in s.r_label.values():
            d = n - view_b.rcmd.get((sv, k), 0)
            e = view_a.rerr.get((sv, k), 0) - view_b.rerr.get((sv, k), 0)
            t, te = whole_a.get(k, (0, 0))
            whole_a[k] = (t + d, te + e)
    other = {}
    for k in set(whole_a) | set(whole_s):
        (n, e), want = whole_a.get(k, (0, 0)), whole_s.get(k, 0)
        if k not in cmds and n != want and not (want == 0 and n == e):
            other[k] = (n, want)
    if other:
        lines.append("other commands, agent vs commandstats: %s%s" % (
            sorted(other.items())[:12], " ... (%d in all)" % len(other) if len(other) > 12 else ""))
    if not res:
        lines.append(err)
    want_nonzero = srv["get"] > 0 and srv["hits"] > 0 and srv["misses"] > 0
    ok = res is not None and want_nonzero and not errs and \
        all(agt[k] == srv[k] == cli[k] for k in fields) and not other
    g.check(c.name, ok, lines)
    if ok:
        g.tap.diag(*lines[:2])


def pg_case(g, s, c):
    pgss_b, view_b = s.pg_base
    res, err = run_client(s, c)
    pgss_a, view_a = s.pg_base = s.pg_sync()
    label = s.p_label[c.transport]
    other = s.p_label["unix" if c.transport == "tcp" else "tcp"]
    tre = table_re(c.key)
    srv = sum(n - pgss_b.get(q, 0) for q, n in pgss_a.items() if tre.search(q))
    srv_by = {q: n - pgss_b.get(q, 0) for q, n in pgss_a.items()
              if tre.search(q) and n != pgss_b.get(q, 0)}

    def agent_sum(server):
        return sum(n - view_b.pq.get((sv, q), 0) for (sv, q), n in view_a.pq.items()
                   if sv == server and tre.search(q))
    agt, agt_other = agent_sum(label), agent_sum(other)
    statuses = {}
    for (sv, q), st in view_a.pstatus.items():
        if sv == label and tre.search(q):
            for k, n in st.items():
                d = n - view_b.pstatus.get((sv, q), {}).get(k, 0)
                if d and k != "ok":
                    statuses[k] = statuses.get(k, 0) + d
    cli = sum(res["statements"].values()) if res else None
    lines = ["server (pg_stat_statements calls delta): %d" % srv,
             "agent  (%s): %d%s" % (label, agt, "; on %s: %d" % (other, agt_other)
                                    if agt_other else "")]
    if agt != srv:
        lines.append("agent missed %d of %d (%.1f%%)" % (srv - agt, srv,
                                                       100.0 * (srv - agt) / srv if srv else 0))
    if res:
        lines.append("client: %d statements; %.2f s" % (cli, res["wall"]))
        lines.append("pg_stat_statements: %s" % sorted(srv_by.items()))
    lines.append("agent: %s%s" % (misc_delta(view_b, view_a),
                                  "; non-ok statuses %s" % statuses if statuses else ""))
    moved = sorted((q, n - view_b.pq.get((sv, q), 0)) for (sv, q), n in view_a.pq.items()
                   if sv == label and not tre.search(q) and n != view_b.pq.get((sv, q), 0)
                   and "nx_mark_" not in q and "pg_stat_statements" not in q)  # the syncs'
    if moved and agt != srv:
        lines.append("agent's other statements on %s: %s%s" % (
            label, moved[:6], " ... (%d in all)" % len(moved) if len(moved) > 6 else ""))
    if not res:
        lines.append(err)
    ok = res is not None and srv > 0 and agt == srv == cli and not statuses
    g.check(c.name, ok, lines)
    if ok:
        g.tap.diag(*lines[:2])


def group_body(s, cases, limit):
    def body(g):
        try:
            with h.time_limit(limit):
                run_cases(g, s, cases)
        except BaseException:
            s.redis_base = s.pg_base = None  # a case died half way: the next one syncs afresh
            raise
    return body


def run_cases(g, s, cases):
    for c in cases:
        if c.kind == "redis":
            if s.redis_base is None:
                s.redis_base = s.redis_sync()
            redis_case(g, s, c)
        else:
            if s.pg_base is None:
                s.pg_base = s.pg_sync()
            pg_case(g, s, c)


# ------------------------------------------------------------------------------------------ main

def lib_reason(lib, pyr, nodr):
    return {"redis-py": pyr.get("redis"), "redis.asyncio": pyr.get("redis"),
            "asyncpg": pyr.get("asyncpg"), "psycopg": pyr.get("psycopg"),
            "ioredis": nodr.get("ioredis"), "node-redis": nodr.get("redis"),
            "node-postgres": nodr.get("pg"), "postgres.js": nodr.get("postgres")}[lib]


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    t_start = time.monotonic()
    priv = h.privilege_skip_reason()
    r_missing = h.missing_tools("redis-server", "redis-cli")
    p_missing = h.missing_tools("initdb", "postgres", "psql", "pg_isready")
    r_skip = priv or ("missing tools: %s" % " ".join(r_missing) if r_missing else None)
    p_skip = priv or ("missing tools: %s" % " ".join(p_missing) if p_missing else None)
    if not p_skip and not os.path.exists(os.path.join(h.PG_BIN, "..", "lib",
                                                      "pg_stat_statements.so")):
        p_skip = "pg_stat_statements is not installed"
    pyr = python_reasons() if not (r_skip and p_skip) else {}
    nodr = node_reasons(tap) if not (r_skip and p_skip) else {}

    # a skip reason per group: the server's, else the library's (a group has one library's cases
    # but redis-py's group holds redis.asyncio too: they are one Debian package)
    plan = []
    for title, cases, limit in GROUPS:
        kind = cases[0].kind
        why = (r_skip if kind == "redis" else p_skip) or lib_reason(cases[0].lib, pyr, nodr)
        plan.append((title, cases, limit, why))
    for title, cases, limit, why in plan:
        if why:
            tap.diag("%s: SKIP: %s" % (title, why))
    need_r = any(not why and cases[0].kind == "redis" for _, cases, _, why in plan)
    need_p = any(not why and cases[0].kind == "pg" for _, cases, _, why in plan)

    if (need_r or need_p) and not os.access(h.AGENT, os.X_OK):
        for title, cases, limit, why in plan:
            h.run_group(tap, [c.name for c in cases],
                        lambda g: g.fail_rest("agent binary %s not built" % h.AGENT), why)
        return tap.done()
    try:
        with contextlib.ExitStack() as stack:
            with h.time_limit(120):
                rd = stack.enter_context(h.redis_server()) if need_r else None
                pg = None
                if need_p:
                    pg = stack.enter_context(h.postgres_server(settings=(
                        "shared_preload_libraries=pg_stat_statements",
                        "pg_stat_statements.track=all", "pg_stat_statements.max=5000")))
                    tables = [c.key for _, cases, _, why in plan if not why
                              for c in cases if c.kind == "pg"]
                    psql(pg, "CREATE EXTENSION pg_stat_statements")
                    # fetch loops find ids 0..199 of their 300 (200 rows back, 100 none)
                    psql(pg, "; ".join(
                        ["CREATE TABLE %s (id int, v text)" % t for t in tables] +
                        ["INSERT INTO %s SELECT g, 'v-' || g FROM generate_series(0, 199) g" % c.key
                         for _, cases, _, why in plan if not why for c in cases
                         if c.mode == "fetchloop"]))
                port = h.free_port()
                targets = [a for srv in (rd, pg) if srv for a in ("--pid", str(srv.pid))]
                # default capture flags: only the targets are restricted (other engineers'
                # servers on this host are not ours to watch)
                extra = os.environ.get("NEXUS_CLIENTS_AGENT_ARGS", "").split()
                if extra:
                    tap.diag("extra agent flags (NEXUS_CLIENTS_AGENT_ARGS): %s" % " ".join(extra))
                a = stack.enter_context(h.agent("--no-default-targets", *targets, *extra,
                                                "--listen", "127.0.0.1:%d" % port,
                                                mode="run", raw=False))
            s = Session(rd, pg, a, port)
            for title, cases, limit, why in plan:
                h.run_group(tap, [c.name for c in cases], group_body(s, cases, limit), why)
                if not a.running:
                    tap.diag("the agent is no longer running (status %s)" % a.proc.poll())
    except Exception as e:  # noqa: BLE001 - set-up failed: every unreported check fails
        why = ["set-up failed: %s: %s" % (type(e).__name__, e)] + list(getattr(e, "detail", []))
        count = 0
        for title, cases, limit, skip in plan:
            names = [c.name for c in cases]
            if count + len(names) <= tap.n:
                count += len(names)
                continue
            h.run_group(tap, names, lambda g: g.fail_rest(why), skip)
            count += len(names)
    tap.diag("test_clients.py took %.0f s" % (time.monotonic() - t_start))
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
