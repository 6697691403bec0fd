#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end checks of nexus-agent's PostgreSQL decoding against a real postgres.

The agent's per-statement counts are compared with what PostgreSQL itself says
(pg_stat_statements, track=all) over pgbench workloads: exactly, not roughly. Prints TAP: one line
per check. Needs root and a kernel with BTF; otherwise every check is reported as skipped.

How a comparison is made (a "phase"): pg_stat_statements_reset(); the workload runs; then one
marker statement (`SELECT 1 AS nx_mark_N`, a fingerprint of its own) runs through psql and the
agent's /metrics is polled until it has counted the marker (the ring buffer is ordered, so
everything that ran before it is in the published figures too), and once more a little later so
that nothing else trickles in. The agent's deltas for a fingerprint between the views taken after
the previous marker and this one must equal pg_stat_statements' calls since the reset.
"""

import contextlib
import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PUBLISH_WAIT = 1.3  # the agent publishes its PostgreSQL figures once per second
SECRET = "s3cr3t-literal-XYZ"
BENCH_SECONDS = 3
SELECT_ABALANCE = "select abalance from pgbench_accounts where aid = $1"
PGSS_SELECT_ABALANCE = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"


def norm(sql):
    """pg_stat_statements' text as the agent writes it: lower case, whitespace folded."""
    return re.sub(r"\s+", " ", sql.strip().rstrip(";").strip()).lower()


# ------------------------------------------------------------------------------- postgres, psql

def postgres_with_pgss(timeout=60):
    """harness.postgres_server() with pg_stat_statements preloaded (track=all)."""
    return h.postgres_server(timeout, settings=("shared_preload_libraries=pg_stat_statements",
                                                "pg_stat_statements.track=all",
                                                # as Debian sets it ("15/main"): backends' titles
                                                # start with it (group_early reads them)
                                                "cluster_name=nx/itest"))


def psql(pg, sql, unix=False, check=True, timeout=20):
    """Statements (a string or a list: one -c, i.e. one Query message, each) through psql;
    returns (returncode, stdout, stderr). Fields are separated by \\x1f."""
    host = pg.sockdir if unix else "127.0.0.1"
    r, pid = h.run([h.pg_tool("psql"), "-X", "-A", "-t", "-F", "\x1f", "-h", host,
                    "-p", str(pg.port), "-U", "postgres", "-d", "postgres"]
                   + [a for q in ([sql] if isinstance(sql, str) else sql) for a in ("-c", q)],
                   timeout=timeout, env=h.pg_env())
    pg.client_pids.append(pid)
    out, err = r.stdout.decode(errors="replace").strip(), r.stderr.decode(errors="replace")
    if check and r.returncode != 0:
        raise h.HarnessError("psql failed (%d): %s" % (r.returncode, err.strip()))
    return r.returncode, out, err


def pgbench(pg, *args, timeout=60):
    r, _ = h.run([h.pg_tool("pgbench"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres"]
                 + list(args) + ["postgres"], timeout=timeout, env=h.pg_env())
    out = (r.stdout + r.stderr).decode(errors="replace")
    if r.returncode != 0:
        e = h.HarnessError("pgbench %s failed (%d)" % (" ".join(args), r.returncode))
        e.detail = out.splitlines()[-15:]
        raise e
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    return int(m.group(1)) if m else None, out


def pgss(pg):
    """{normalised text: calls} of pg_stat_statements' top-level entries."""
    _, out, _ = psql(pg, "SELECT query, calls FROM pg_stat_statements WHERE toplevel")
    res = {}
    for line in out.splitlines():
        q, _, calls = line.rpartition("\x1f")
        res[norm(q)] = res.get(norm(q), 0) + int(calls)
    return res


# ------------------------------------------------------------------------------ the agent's view

def samples(fams, name, family=None):
    f = fams.get(family or name)
    return [(l, v) for n, l, v in f["samples"] if n == name] if f else []


class View:
    """The agent's PostgreSQL figures from one /metrics scrape."""

    def __init__(self, text):
        self.text = text
        self.fams = fams = h.parse_prometheus(text)
        self.info = {}  # fingerprint -> normalised text
        for l, v in samples(fams, "nexus_postgres_query_info"):
            self.info[l.get("fingerprint")] = l.get("query")
        # (server, text) -> {status: n}, summed over fingerprints, databases and users
        self.q = {}
        self.fps = {}  # text -> set of fingerprints
        self.rows = samples(fams, "nexus_postgres_queries_total")
        for l, v in self.rows:
            text_ = self.info.get(l.get("fingerprint"), "<no query_info for %s>"
                                  % l.get("fingerprint"))
            d = self.q.setdefault((l.get("server"), text_), {})
            d[l.get("status")] = d.get(l.get("status"), 0) + int(v)
            self.fps.setdefault(text_, set()).add(l.get("fingerprint"))

        def one(name):
            vals = [v for _, v in samples(fams, name)]
            return int(sum(vals)) if vals else None
        self.parser = {k: one("nexus_postgres_%s_total" % k)
                       for k in ("parse_errors", "resyncs", "unpaired_statements",
                                 "encrypted_connections")}
        self.lost = one("nexus_agent_events_lost_total")

    def count(self, server, text_, status=None):
        d = self.q.get((server, text_), {})
        return d.get(status, 0) if status else sum(d.values())

    def statuses(self, server, text_):
        """{status: n} of the statuses with n > 0 (the agent always writes an "ok" series)."""
        return {k: n for k, n in self.q.get((server, text_), {}).items() if n}

    def texts(self, server):
        return {t: sum(d.values()) for (s, t), d in self.q.items() if s == server}

    def conns(self, server, state):
        return int(sum(v for l, v in samples(self.fams, "nexus_postgres_connections")
                       if l.get("server") == server and l.get("state") == state))


def wait_view(port, pred, timeout=15):
    """Polls /metrics until pred(view) holds; returns (the last view, whether it held)."""
    st = {"view": None, "err": None}

    def look():
        try:
            v = View(h.fetch(port))
        except (OSError, h.PromParseError) as e:
            st["err"] = "%s: %s" % (type(e).__name__, e)
            return False
        st["view"] = v
        try:
            return pred(v)
        except (KeyError, TypeError):
            return False
    ok = bool(h.wait_until(look, timeout, 0.2))
    if st["view"] is None:
        raise h.HarnessError("/metrics on port %d never answered: %s" % (port, st["err"]))
    return st["view"], ok


class Session:
    """One postgres (with pg_stat_statements) and one `run` agent watching it."""

    def __init__(self, pg, agent, port):
        self.pg, self.agent, self.port = pg, agent, port
        self.tcp = "127.0.0.1:%d" % pg.port
        self.unix = pg.sock_path
        self.marks = 0

    def sync(self, unix=False, timeout=20):
        """Runs a marker statement, waits until the agent has counted it, then one publication
        more; returns the view after that."""
        self.marks += 1
        name = "nx_mark_%d" % self.marks
        psql(self.pg, "SELECT 1 AS %s" % name, unix=unix)
        text_ = "select $1 as %s" % name
        server = self.unix if unix else self.tcp
        v, ok = wait_view(self.port, lambda v: v.count(server, text_) >= 1, timeout)
        if not ok:
            e = h.HarnessError("the agent never counted the marker %r on %s" % (text_, server))
            e.detail = ["agent texts: %s" % sorted(v.texts(server).items())[:30]] + \
                self.agent.stderr_tail(8)
            raise e
        time.sleep(PUBLISH_WAIT)
        return wait_view(self.port, lambda v: True, 5)[0]


def bench_phase(s, args):
    """pg_stat_statements_reset(), pgbench ARGS, sync. Returns (view after, pgss, pgbench out)."""
    psql(s.pg, "SELECT pg_stat_statements_reset()")
    _, out = pgbench(s.pg, *args)
    after = s.sync()
    return after, pgss(s.pg), out


def compare(s, before, after, stats, texts):
    """[(text, agent delta, pgss calls)] and the mismatches among them."""
    rows = []
    for t in texts:
        rows.append((t, after.count(s.tcp, t) - before.count(s.tcp, t), stats.get(t, 0)))
    bad = [r for r in rows if r[1] != r[2] or r[2] <= 0]
    return rows, bad


def diag(s, before, after, stats, rows, out=""):
    d = ["%s: agent %d, pg_stat_statements %d" % r for r in rows]
    lost = (after.lost or 0) - (before.lost or 0)
    if lost:
        d.append("NOTE: the ring buffer lost %d events in the phase" % lost)
    d.append("parser: %s" % after.parser)
    moved = {t: n - before.texts(s.tcp).get(t, 0) for t, n in after.texts(s.tcp).items()
             if n != before.texts(s.tcp).get(t, 0)}
    d.append("agent deltas: %s" % sorted(moved.items()))
    d.append("pgss: %s" % sorted(stats.items()))
    dup = {t: fps for t, fps in after.fps.items() if len(fps) > 1}
    if dup:
        d.append("texts with several fingerprints: %s" % dup)
    d += [l for l in out.splitlines() if "transactions" in l or "error" in l.lower()][:4]
    return d + s.agent.stderr_tail(5)


# ------------------------------------------------------------------------------------- groups

BENCH_CHECKS = [
    "pgbench -S (simple): agent count of 'select abalance ... aid = $1' == pg_stat_statements "
    "calls, exactly",
    "pgbench -S -M extended: agent count == pg_stat_statements calls, exactly",
    "pgbench -S -M prepared: agent count == pg_stat_statements calls, exactly",
    "pgbench TPC-B (simple): per-statement agent counts (5 statements) == pg_stat_statements "
    "calls, exactly",
    "pgbench TPC-B: BEGIN and END counted as separate statements == pg_stat_statements calls",
]

TPCB = [
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
    "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
    "VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
]


def group_bench(g, s):
    c = BENCH_CHECKS
    before = s.sync()
    for i, mode in enumerate((None, "extended", "prepared")):
        args = ["-S", "-T", str(BENCH_SECONDS), "-c", "4"] + (["-M", mode] if mode else [])
        after, stats, out = bench_phase(s, args)
        want = stats.get(norm(PGSS_SELECT_ABALANCE), 0)
        rows, bad = compare(s, before, after, stats, [SELECT_ABALANCE])
        errs = {k: v for k, v in after.statuses(s.tcp, SELECT_ABALANCE).items() if k != "ok"}
        g.check(c[i], not bad and want > 100 and not errs and s.agent.running,
                ["mode %s; non-ok statuses %s" % (mode or "simple", errs)]
                + diag(s, before, after, stats, rows, out))
        before = after
    after, stats, out = bench_phase(s, ["-T", str(BENCH_SECONDS), "-c", "4"])
    rows, bad = compare(s, before, after, stats, [norm(q) for q in TPCB])
    g.check(c[3], not bad and all(r[2] > 50 for r in rows),
            diag(s, before, after, stats, rows, out))
    rows, bad = compare(s, before, after, stats, ["begin", "end"])
    g.check(c[4], not bad and rows[0][2] == rows[1][2] and rows[0][2] > 50,
            diag(s, before, after, stats, rows))


MISC_CHECKS = [
    "error: SELECT * FROM nosuchtable is counted once with status 42",
    "error: a unique violation is counted with status 23 (the first INSERT ok)",
    "unix socket: psql -h SOCKDIR counted with server = SOCKDIR/.s.PGSQL.PORT (not under TCP)",
    "large result (200000 rows over TCP): counted once, status ok or unknown (end past the capture), resyncs 0, later query counted",
    "labels: database and user are postgres; duration histogram +Inf count == queries count",
    "connections: a session held in BEGIN shows state 'idle in transaction' >= 1, then 0 after",
    "connections_opened_total counts the TCP and unix connections made",
]


def group_misc(g, s):
    c = MISC_CHECKS
    pg = s.pg
    before = s.sync()
    rc1, _, err1 = psql(pg, "SELECT * FROM nosuchtable", check=False)
    psql(pg, "CREATE TABLE nx_uniq (id int PRIMARY KEY)")
    rc2, _, err2 = psql(pg, ["INSERT INTO nx_uniq VALUES (1)", "INSERT INTO nx_uniq VALUES (1)"],
                        check=False)
    after = s.sync()
    t_err = "select * from nosuchtable"
    t_ins = "insert into nx_uniq values ($1)"
    st = after.statuses(s.tcp, t_err)
    g.check(c[0], rc1 != 0 and "does not exist" in err1 and st == {"42": 1},
            ["psql rc %d %r; agent statuses %s" % (rc1, err1.strip(), st)]
            + ["texts: %s" % sorted(after.texts(s.tcp).items())[:40]])
    st = after.statuses(s.tcp, t_ins)
    g.check(c[1], rc2 != 0 and "duplicate key" in err2 and st == {"ok": 1, "23": 1},
            ["psql rc %d %r; agent statuses %s" % (rc2, err2.strip(), st)])

    # ---- unix socket
    psql(pg, "SELECT 7 AS nx_unix_check", unix=True)
    after_u = s.sync(unix=True)
    t_u = "select $1 as nx_unix_check"
    g.check(c[2], after_u.count(s.unix, t_u, "ok") == 1 and after_u.count(s.tcp, t_u) == 0,
            ["unix %s tcp %s; servers seen %s"
             % (after_u.statuses(s.unix, t_u), after_u.statuses(s.tcp, t_u),
                sorted({sv for sv, _ in after_u.q}))])

    # ---- a large result
    _, out, _ = psql(pg, "SELECT generate_series(1, 200000)", timeout=30)
    nrows = len(out.splitlines())
    psql(pg, "SELECT 8 AS nx_after_big")
    after_b = s.sync()
    t_big = "select generate_series($1, $2)"
    st = after_b.statuses(s.tcp, t_big)
    later = after_b.count(s.tcp, "select $1 as nx_after_big", "ok")
    # The response ends past --capture-bytes: its CommandComplete may not be captured, and then
    # the outcome is honestly "unknown" (README); it is still counted once, never lost or doubled.
    g.check(c[3], nrows == 200000 and st in ({"ok": 1}, {"unknown": 1})
            and after_b.parser["resyncs"] == 0 and later == 1,
            ["rows %d; agent statuses %s; parser %s; later query %d"
             % (nrows, st, after_b.parser, later),
             "(status 'unknown' means the agent lost the CommandComplete past the capture)"]
            + s.agent.stderr_tail(5))

    # ---- labels and the histogram
    ql = [l for l, v in after_b.rows if l.get("server") == s.tcp and v > 0
          and after_b.info.get(l.get("fingerprint")) == t_big]
    fam = "nexus_postgres_query_duration_seconds"
    inf = [v for l, v in samples(after_b.fams, fam + "_bucket", fam)
           if l.get("server") == s.tcp and l.get("le") == "+Inf"
           and after_b.info.get(l.get("fingerprint")) == t_big]
    cnt = [v for l, v in samples(after_b.fams, fam + "_count", fam)
           if l.get("server") == s.tcp and after_b.info.get(l.get("fingerprint")) == t_big]
    sm = [v for l, v in samples(after_b.fams, fam + "_sum", fam)
          if l.get("server") == s.tcp and after_b.info.get(l.get("fingerprint")) == t_big]
    g.check(c[4], len(ql) == 1 and ql[0].get("database") == "postgres"
            and ql[0].get("user") == "postgres" and inf == [1.0] and cnt == [1.0]
            and len(sm) == 1 and sm[0] > 0,
            ["queries labels %s; +Inf %s count %s sum %s" % (ql, inf, cnt, sm)])

    # ---- connections
    opened_before = [v for l, v in samples(after_b.fams, "nexus_postgres_connections_opened_total")
                     if l.get("server") in (s.tcp, s.unix)]
    p = subprocess.Popen([h.pg_tool("psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port),
                          "-U", "postgres", "-d", "postgres"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=h.pg_env())
    try:
        p.stdin.write(b"BEGIN;\nSELECT 1 AS nx_in_txn;\n")
        p.stdin.flush()
        during, ok1 = wait_view(s.port, lambda v: v.conns(s.tcp, "idle in transaction") >= 1
                                and v.count(s.tcp, "select $1 as nx_in_txn") == 1, 15)
        p.stdin.write(b"COMMIT;\n\\q\n")
        p.stdin.close()
        p.wait(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)
    end, ok2 = wait_view(s.port, lambda v: v.conns(s.tcp, "idle in transaction") == 0
                         and v.count(s.tcp, "commit") >= 1, 15)
    states = lambda v: sorted((l.get("state"), v_) for l, v_ in  # noqa: E731
                              samples(v.fams, "nexus_postgres_connections")
                              if l.get("server") == s.tcp)
    g.check(c[5], ok1 and ok2 and p.returncode == 0,
            ["during (held %s): %s" % (ok1, states(during)),
             "after (back to 0 %s): %s" % (ok2, states(end)), "psql rc %s" % p.returncode])
    opened = {l.get("server"): v for l, v in
              samples(end.fams, "nexus_postgres_connections_opened_total")}
    # since the agent started: markers, errors, unix etc. -- at least the ones made here
    g.check(c[6], opened.get(s.tcp, 0) >= 7 and opened.get(s.unix, 0) >= 2
            and sum(opened_before) < opened.get(s.tcp, 0) + opened.get(s.unix, 0),
            ["opened: %s (before the held session: %s)" % (opened, opened_before)])


EXPO_CHECKS = [
    "privacy: the secret literal is not in /metrics (query_info holds $n instead)",
    "privacy: trace --json prints postgres events for the secret statements, without the secret",
    "privacy: nothing the agents print on stderr holds the secret",
    "trace --json: postgres event fields (server, client, database, user, application, kind, "
    "status, rows, latency, sizes)",
    "promtool check metrics: no output, exit 0",
    "no parse errors, resyncs or unpaired statements; no encrypted connections",
    "status labels are only ok, unknown or a 2-character SQLSTATE class (never cut short)",
    "/api/v1/database/slow-queries: top 10 by p95 and by total time, sorted, well formed, "
    "pgbench's hot select among them, no literal",
    "/api/v1/database/connections: per client host, database, user and application (psql as "
    "nx-test and as nx-second): count by state, opened total and per second",
]


def group_expo(g, s, promtool_missing):
    c = EXPO_CHECKS
    pg = s.pg
    t_sel = "select * from nx_sec where v = $1"
    t_ins = "insert into nx_sec (v) values ($1)"
    psql(pg, "CREATE TABLE nx_sec (v text)")
    with h.agent("--no-default-targets", "--pid", str(pg.pid), mode="trace", raw=False) as tr:
        psql(pg, ["INSERT INTO nx_sec (v) VALUES ('%s')" % SECRET,
                  "SELECT * FROM nx_sec WHERE v = '%s'" % SECRET])
        psql(pg, "SELECT 9 AS nx_trace_end")
        end = tr.wait_for(lambda e: e.get("event") == "postgres"
                          and e.get("query") == "select $1 as nx_trace_end", 15)
        time.sleep(0.3)
    view = s.sync()
    text = h.fetch(s.port)
    evs = [e for e in tr.events if e.get("event") == "postgres"]
    sec = [e for e in evs if e.get("query") in (t_sel, t_ins)]
    g.check(c[0], SECRET not in text and SECRET.lower() not in text.lower()
            and view.count(s.tcp, t_sel, "ok") == 1 and view.count(s.tcp, t_ins, "ok") == 1,
            ["secret in metrics: %s; counts sel %s ins %s"
             % (SECRET.lower() in text.lower(), view.statuses(s.tcp, t_sel),
                view.statuses(s.tcp, t_ins))])
    alltrace = "\n".join(tr.lines)
    g.check(c[1], end is not None and len(sec) == 2 and SECRET.lower() not in alltrace.lower(),
            ["%d postgres events, %d for the secret statements, secret in output: %s"
             % (len(evs), len(sec), SECRET.lower() in alltrace.lower())]
            + [str(e) for e in evs[-5:]] + tr.stderr_tail(5))
    errtext = "\n".join(tr.stderr + s.agent.stderr)
    g.check(c[2], SECRET.lower() not in errtext.lower() and tr.returncode == 0,
            ["trace exit %s" % tr.returncode] + [l for l in errtext.splitlines()
                                                 if SECRET.lower() in l.lower()][:3])
    bad = []
    want_rows = {t_ins: 1, t_sel: 1}
    for e in sec:
        if not (e.get("server") == s.tcp and re.match(r"^127\.0\.0\.1:\d+$", str(e.get("client")))
                and e.get("comm") == "postgres" and e.get("pid") not in (pg.pid, None)
                and e.get("database") == "postgres" and e.get("user") == "postgres"
                and e.get("application") == "nx-test" and e.get("status") == "ok"
                and e.get("rows") == want_rows[e["query"]]
                and isinstance(e.get("latency_us"), (int, float)) and e["latency_us"] > 0
                and isinstance(e.get("request_bytes"), int) and e["request_bytes"] > 0
                and isinstance(e.get("response_bytes"), int) and e["response_bytes"] > 0
                and isinstance(e.get("fingerprint"), str) and e["fingerprint"]
                and isinstance(e.get("kind"), str) and e["kind"]
                and h.ISO_TIME.match(str(e.get("time"))) and isinstance(e.get("ts_ns"), int)):
            bad.append(e)
    # the simple Query 'Q' message: type byte, int32 length, text, NUL
    sizes = {e["query"]: e.get("request_bytes") for e in sec}
    want_sizes = {t_ins: 1 + 4 + len("INSERT INTO nx_sec (v) VALUES ('%s')" % SECRET) + 1,
                  t_sel: 1 + 4 + len("SELECT * FROM nx_sec WHERE v = '%s'" % SECRET) + 1}
    g.check(c[3], len(sec) == 2 and not bad and not tr.bad_lines and sizes == want_sizes,
            ["bad: %s" % bad[:2], "request sizes %s want %s" % (sizes, want_sizes),
             "non-JSON lines %s" % tr.bad_lines[:3]])
    if promtool_missing:
        g.tap.skip(c[4], "promtool not installed")
        g.done.add(c[4])
    else:
        p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        out = (p.stdout + p.stderr).decode(errors="replace").strip()
        g.check(c[4], p.returncode == 0 and out == "" and "nexus_postgres_queries_total{" in text,
                ["promtool exit %d" % p.returncode] + out.splitlines()[:15])
    pz = view.parser
    g.check(c[5], pz["parse_errors"] == 0 and pz["resyncs"] == 0
            and pz["unpaired_statements"] == 0 and pz["encrypted_connections"] == 0
            and s.agent.running, ["parser: %s" % pz] + s.agent.stderr_tail(8))
    bad = sorted({l.get("status") for l, v in view.rows
                  if not re.fullmatch(r"ok|unknown|[0-9A-Z]{2}", str(l.get("status")))})
    g.check(c[6], not bad and view.rows, ["bad status labels: %s" % bad])

    raw = h.fetch(s.port, "/api/v1/database/slow-queries")
    doc = json.loads(raw)
    srv = [x for x in doc.get("servers", []) if x.get("server") == s.tcp]
    rows = (srv[0].get("by_p95", []) + srv[0].get("by_total_time", [])) if srv else []
    # the earlier pgbench phases of this agent dominate total time on this server
    hot = [q for q in srv[0].get("by_total_time", []) if q.get("query", "").startswith(
        "select abalance from pgbench_accounts")] if srv else []
    g.check(c[7], srv and rows and hot and SECRET.lower() not in raw.lower()
            and all(q["calls"] >= 1 and q["p95_ms"] is not None and q["p95_ms"] <= q["p99_ms"]
                    and q["database"] == "postgres" and len(q["fingerprint"]) == 16
                    for q in rows)
            and len(srv[0]["by_p95"]) <= 10 and len(srv[0]["by_total_time"]) <= 10
            and sorted(srv[0]["by_total_time"], key=lambda q: -q["total_ms"])
            == srv[0]["by_total_time"]
            and sorted(srv[0]["by_p95"], key=lambda q: -q["p95_ms"]) == srv[0]["by_p95"],
            ["servers %s" % [x.get("server") for x in doc.get("servers", [])],
             "by total time: %s" % [(q.get("query"), q.get("total_ms"))
                                    for q in (srv[0].get("by_total_time", []) if srv else [])]])
    env = dict(h.pg_env(), PGAPPNAME="nx-second")
    h.run([h.pg_tool("psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(s.pg.port), "-U",
           "postgres", "-d", "postgres", "-c", "SELECT 1"], timeout=20, env=env)
    s.sync()
    doc = json.loads(h.fetch(s.port, "/api/v1/database/connections"))
    srv = [x for x in doc.get("servers", []) if x.get("server") == s.tcp]
    ids = srv[0].get("connections", []) if srv else []
    states = {st for c_ in ids for st in c_.get("states", {})}
    mine = [c_ for c_ in ids if c_.get("client") == "127.0.0.1" and c_.get("user") == "postgres"
            and c_.get("database") == "postgres" and c_.get("application") == "nx-test"
            and c_.get("opened_total", 0) >= 3 and c_.get("opened_per_second") is not None]
    bench = [c_ for c_ in ids if c_.get("application") == "nx-second"
             and c_.get("opened_total", 0) == 1]
    g.check(c[8], srv and srv[0].get("opened_total", 0) > 0 and mine and bench
            and states <= {"startup", "idle", "idle in transaction",
                           "idle in transaction (aborted)"},
            ["connections: %s" % json.dumps(srv)[:1500]])


# --------------------------------------------------------------------------------------- main


USDT_CHECKS = [
    "USDT: buffer hit ratio (agent nexus_postgres_buffer_hits/reads_total deltas, database "
    "postgres) within 0.5 pp of pg_stat_database blks_hit/blks_read deltas over pgbench and "
    "seq scans that miss",
    "USDT: commits counted by the agent within 1% of pg_stat_database xact_commit; 5 explicit "
    "ROLLBACKs counted as rollbacks",
    "USDT: a 2 s table-lock wait shows as lock_waiting_backends >= 1 while it lasts and adds "
    ">= 1.5 s to lock_wait_seconds_total",
    "USDT: a deadlock between two sessions: nexus_postgres_deadlocks_total +1 == "
    "pg_stat_database deadlocks delta",
    "/api/v1/database/stats: database postgres has queries/s, p95, error rate, buffer hit ratio "
    "and commits/s",
    "/api/v1/database/relations: the seq-scanned table (by relfilenode) is listed under database "
    "postgres with buffer reads; slow-queries gives its scan a buffer hit ratio < 1",
    "USDT: execution time inside the server (nexus_postgres_query_exec_seconds_total, a second "
    "agent with --pg-exec-time): pg_sleep(0.3) x 2 over the simple protocol and x 2 with "
    "-M extended add >= 0.6 s each, and no more than their wire duration",
    "USDT with --pg-exec-time (the second agent, whose Queries write one record each): buffer hit "
    "ratio within 0.5 pp, commits within 1%, rollbacks (errors and a Query of two transactions "
    "included) and the deadlock exact, the lock wait >= 1.5 s",
]


def usdt_view(port):
    """{name: value} of the USDT families for database postgres (summed over labels)."""
    fams = h.parse_prometheus(h.fetch(port))
    out = {}
    for name in ("nexus_postgres_buffer_hits_total", "nexus_postgres_buffer_reads_total",
                 "nexus_postgres_lock_wait_seconds_total", "nexus_postgres_lock_waiting_backends"):
        out[name] = sum(v for l, v in samples(fams, name) if l.get("database") == "postgres")
    for l, v in samples(fams, "nexus_postgres_transactions_total"):
        if l.get("database") == "postgres":
            out[l.get("outcome")] = out.get(l.get("outcome"), 0) + v
    out["deadlocks"] = sum(v for l, v in samples(fams, "nexus_postgres_deadlocks_total"))
    return out


def pg_db_stats(pg):
    _, out, _ = psql(pg, "SELECT pg_stat_force_next_flush(); SELECT blks_hit, blks_read, "
                         "xact_commit, xact_rollback, deadlocks FROM pg_stat_database "
                         "WHERE datname = 'postgres'")
    vals = [int(x) for x in out.splitlines()[-1].split("\x1f")]
    return dict(zip(("hit", "read", "commit", "rollback", "deadlocks"), vals))


def ratio(hit, read):
    return hit / (hit + read) if hit + read else float("nan")


def sync_also(s, other, timeout=20):
    """After s.sync(): waits until the other agent has counted the same marker, then one
    publication more."""
    text_ = "select $1 as nx_mark_%d" % s.marks
    _, ok = wait_view(other.port, lambda v: v.count(other.tcp, text_) >= 1, timeout)
    if not ok:
        e = h.HarnessError("the second agent never counted the marker %r" % text_)
        e.detail = other.agent.stderr_tail(8)
        raise e
    time.sleep(PUBLISH_WAIT)


def group_usdt(g, s):
    """The checks on the session's agent (default probes), and beside it a second agent with
    --pg-exec-time, which attaches three more probes and writes its records differently."""
    port = h.free_port()
    with h.agent("--no-default-targets", "--pid", str(s.pg.pid), "--listen",
                 "127.0.0.1:%d" % port, "--pg-exec-time", mode="run", raw=False) as a:
        usdt_checks(g, s, Session(s.pg, a, port))


def usdt_checks(g, s, x):
    c = USDT_CHECKS
    pg = s.pg
    # Bigger than a quarter of shared_buffers (128MB): seq scans go through a small ring and read.
    psql(pg, "CREATE TABLE nx_big AS SELECT g AS id, repeat('x', 300) AS pad "
             "FROM generate_series(1, 120000) g", timeout=60)
    s.sync()
    sync_also(s, x)
    pg0, ag0, ax0 = pg_db_stats(pg), usdt_view(s.port), usdt_view(x.port)
    pgbench(pg, "-T", str(BENCH_SECONDS), "-c", "4")
    for _ in range(2):
        psql(pg, "SELECT count(*) FROM nx_big WHERE pad <> 'y'", timeout=60)
    psql(pg, ["BEGIN", "SELECT 1", "ROLLBACK"] * 5)
    # One Query message holding two transactions, and Queries that fail (an abort each).
    psql(pg, "BEGIN; SELECT count(*) FROM nx_big WHERE id < 10; COMMIT; "
             "BEGIN; SELECT 2; COMMIT")
    psql(pg, ["SELECT 1; SELECT 1/0", "SELECT * FROM nx_no_such_table"], check=False)
    s.sync()
    sync_also(s, x)
    pg1, ag1, ax1 = pg_db_stats(pg), usdt_view(s.port), usdt_view(x.port)
    d_pg = {k: pg1[k] - pg0[k] for k in pg0}
    d_ag = {k: ag1.get(k, 0) - ag0.get(k, 0) for k in ag1}
    d_ax = {k: ax1.get(k, 0) - ax0.get(k, 0) for k in ax1}
    r_pg = ratio(d_pg["hit"], d_pg["read"])
    r_ag = ratio(d_ag["nexus_postgres_buffer_hits_total"], d_ag["nexus_postgres_buffer_reads_total"])
    info = ["pg_stat_database deltas %s ratio %.4f; agent deltas %s ratio %.4f"
            % (d_pg, r_pg, {k: round(v, 3) for k, v in d_ag.items()}, r_ag)]
    g.check(c[0], d_pg["read"] > 1000 and abs(r_pg - r_ag) <= 0.005, info + s.agent.stderr_tail(4))
    commits = d_ag.get("commit", 0)
    g.check(c[1], d_pg["commit"] > 100 and abs(commits - d_pg["commit"]) <= 0.01 * d_pg["commit"]
            and d_ag.get("rollback", 0) >= 5 and d_ag.get("rollback", 0) == d_pg["rollback"], info)
    r_ax = ratio(d_ax["nexus_postgres_buffer_hits_total"], d_ax["nexus_postgres_buffer_reads_total"])
    x_ok = (abs(r_pg - r_ax) <= 0.005
            and abs(d_ax.get("commit", 0) - d_pg["commit"]) <= 0.01 * d_pg["commit"]
            and d_ax.get("rollback", 0) == d_pg["rollback"])
    x_info = ["--pg-exec-time agent deltas %s ratio %.4f"
              % ({k: round(v, 3) for k, v in d_ax.items()}, r_ax)]

    # A lock wait: one session holds an exclusive lock for 2 s while another reads the table.
    psql(pg, "CREATE TABLE nx_lock (id int)")
    base, xbase = usdt_view(s.port), usdt_view(x.port)
    holder = subprocess.Popen(
        [h.pg_tool("psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
         "-d", "postgres", "-c", "BEGIN", "-c", "LOCK TABLE nx_lock IN ACCESS EXCLUSIVE MODE",
         "-c", "SELECT pg_sleep(2.5)", "-c", "COMMIT"], env=h.pg_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.4)
    waiter = subprocess.Popen(
        [h.pg_tool("psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
         "-d", "postgres", "-c", "SELECT count(*) FROM nx_lock"], env=h.pg_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen_waiting = h.wait_until(
        lambda: usdt_view(s.port)["nexus_postgres_lock_waiting_backends"] >= 1, 2.5, 0.2)
    holder.wait(15)
    waiter.wait(15)
    s.sync()
    sync_also(s, x)
    after, xafter = usdt_view(s.port), usdt_view(x.port)
    waited = after["nexus_postgres_lock_wait_seconds_total"] - \
        base["nexus_postgres_lock_wait_seconds_total"]
    x_waited = xafter["nexus_postgres_lock_wait_seconds_total"] - \
        xbase["nexus_postgres_lock_wait_seconds_total"]
    x_ok = x_ok and x_waited >= 1.5
    x_info.append("--pg-exec-time agent lock wait delta %.3f s" % x_waited)
    g.check(c[2], bool(seen_waiting) and waited >= 1.5,
            ["seen waiting: %s; lock wait delta %.3f s" % (bool(seen_waiting), waited)])

    # A deadlock: each session updates the row the other holds (deadlock_timeout 1 s).
    psql(pg, ["CREATE TABLE nx_dl (id int PRIMARY KEY, v int)",
              "INSERT INTO nx_dl VALUES (1, 0), (2, 0)"])
    base, pg_base, xbase = usdt_view(s.port), pg_db_stats(pg), usdt_view(x.port)

    def session(first, second):
        return subprocess.Popen(
            [h.pg_tool("psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U",
             "postgres", "-d", "postgres", "-c", "BEGIN",
             "-c", "UPDATE nx_dl SET v = v + 1 WHERE id = %d" % first, "-c", "SELECT pg_sleep(0.5)",
             "-c", "UPDATE nx_dl SET v = v + 1 WHERE id = %d" % second, "-c", "COMMIT"],
            env=h.pg_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a, b = session(1, 2), session(2, 1)
    a.wait(20)
    b.wait(20)
    s.sync()
    sync_also(s, x)
    after, pg_after, xafter = usdt_view(s.port), pg_db_stats(pg), usdt_view(x.port)
    d_dl, pg_dl = after["deadlocks"] - base["deadlocks"], pg_after["deadlocks"] - pg_base["deadlocks"]
    g.check(c[3], pg_dl == 1 and d_dl == 1, ["agent deadlocks +%d, pg_stat_database +%d"
                                             % (d_dl, pg_dl)])
    x_dl = xafter["deadlocks"] - xbase["deadlocks"]
    x_rb = xafter.get("rollback", 0) - xbase.get("rollback", 0)
    pg_rb = pg_after["rollback"] - pg_base["rollback"]
    x_ok = x_ok and x_dl == pg_dl == 1 and x_rb == pg_rb
    x_info.append("--pg-exec-time agent deadlocks +%d, rollbacks +%d; pg_stat_database +%d, +%d"
                  % (x_dl, x_rb, pg_dl, pg_rb))

    st = json.loads(h.fetch(s.port, "/api/v1/database/stats"))
    dbs = [d for sv in st["servers"] if sv["server"] == s.tcp for d in sv["databases"]
           if d["database"] == "postgres"]
    d = dbs[0] if dbs else {}
    g.check(c[4], bool(dbs) and (d.get("queries_per_second") or 0) > 0
            and d.get("latency_ms", {}).get("p95") is not None and d.get("error_rate") is not None
            and 0 < (d.get("buffer_hit_ratio") or 0) < 1 and (d.get("commits_per_second") or 0) > 0,
            ["stats: %s" % json.dumps(st)[:600]])

    _, fnode, _ = psql(pg, "SELECT pg_relation_filenode('nx_big')")
    rels = json.loads(h.fetch(s.port, "/api/v1/database/relations"))
    mine = [r for r in rels["relations"] if r["relfilenode"] == int(fnode)
            and r["database"] == "postgres" and r["buffer_reads"] > 1000]
    slow = json.loads(h.fetch(s.port, "/api/v1/database/slow-queries"))
    scans = [q for sv in slow["servers"] for q in sv["by_p95"] + sv["by_total_time"]
             if q["query"] == "select count(*) from nx_big where pad <> $1"]
    c5 = (bool(mine) and bool(scans) and scans[0]["buffer_reads"] > 1000
            and scans[0]["buffer_hit_ratio"] < 1)
    g.check(c[5], c5, ["relfilenode %s; relations %s" % (fnode, json.dumps(rels)[:400]),
                       "scan: %s" % (scans[:1],)])

    # Execution time: the same sleep through the simple and the extended protocol.
    def exec_and_wire(text_):
        fams = h.parse_prometheus(h.fetch(x.port))
        ex = sum(v for l, v in samples(fams, "nexus_postgres_query_exec_seconds_total")
                 if l.get("fingerprint") in fps(fams, text_))
        wire = sum(v for l, v in samples(fams, "nexus_postgres_query_duration_seconds_sum",
                                         "nexus_postgres_query_duration_seconds")
                   if l.get("fingerprint") in fps(fams, text_))
        return ex, wire

    def fps(fams, text_):
        return {l.get("fingerprint") for l, _ in samples(fams, "nexus_postgres_query_info")
                if l.get("query") == text_}
    simple_t = "select pg_sleep($1)"
    b_ex, b_wire = exec_and_wire(simple_t)
    psql(pg, ["SELECT pg_sleep(0.3)", "SELECT pg_sleep(0.3)"])
    s.sync()
    sync_also(s, x)
    ex1, wire1 = exec_and_wire(simple_t)
    script = os.path.join(pg.dir, "nx_sleep.sql")
    with open(script, "w") as f:
        f.write("SELECT pg_sleep(0.3);\n")
    pgbench(pg, "-n", "-M", "extended", "-t", "2", "-c", "1", "-f", script)
    s.sync()
    sync_also(s, x)
    ex2, wire2 = exec_and_wire(simple_t)
    d1, w1, d2, w2 = ex1 - b_ex, wire1 - b_wire, ex2 - ex1, wire2 - wire1
    g.check(c[6], 0.6 <= d1 <= w1 + 0.001 and 0.6 <= d2 <= w2 + 0.001,
            ["simple: exec +%.3f s, wire +%.3f s; extended: exec +%.3f s, wire +%.3f s"
             % (d1, w1, d2, w2)])
    g.check(c[7], x_ok, info + x_info + x.agent.stderr_tail(4))

# ------------------------------------------------------------------- connections joined late

EARLY_CHECKS = [
    "joined late: a pgbench load (user nx_early, database nx_early_db) running before a second "
    "agent started is counted by it under nx_early_db / nx_early (from the backends' titles)",
    "joined late: a psql session over TCP opened before that agent: its statement is counted "
    "under nx_early_db / nx_early",
    "joined late: a psql session over the unix socket ([local] in its title): the same",
    "joined late: nexus_postgres_connections and /api/v1/database/connections show them under "
    "nx_early_db / nx_early; USDT commits of them go to database nx_early_db",
    "joined late: nothing is counted under (unknown) by that agent",
]
EARLY_USER, EARLY_DB = "nx_early", "nx_early_db"


def early_session(pg, unix):
    """psql as nx_early on nx_early_db, kept open and idle: statements go to its stdin."""
    return subprocess.Popen([h.pg_tool("psql"), "-X", "-q", "-h",
                             pg.sockdir if unix else "127.0.0.1", "-p", str(pg.port),
                             "-U", EARLY_USER, "-d", EARLY_DB],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=h.pg_env())


def group_early(g, s):
    """Connections whose startup an agent never saw: a second agent starts while a pgbench load
    and two psql sessions are already connected, as nx_early on nx_early_db; it must name them
    by their backends' process titles (postgres: nx/itest: nx_early nx_early_db HOST(PORT) ...),
    not (unknown). The main agent saw their startups and is not asked."""
    c = EARLY_CHECKS
    pg = s.pg
    psql(pg, ["CREATE ROLE %s LOGIN" % EARLY_USER,
              "CREATE DATABASE %s OWNER %s" % (EARLY_DB, EARLY_USER)])
    script = os.path.join(pg.dir, "nx_early.sql")
    with open(script, "w") as f:
        f.write("SELECT 1 AS nx_early_bench;\n")
    procs = []
    try:
        # Rate-limited: a load, not a benchmark. It outlives the second agent's start.
        bench = subprocess.Popen([h.pg_tool("pgbench"), "-h", "127.0.0.1", "-p", str(pg.port),
                                  "-U", EARLY_USER, "-n", "-f", script, "-c", "2", "-R", "100",
                                  "-T", "25", EARLY_DB], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=h.pg_env())
        procs.append(bench)
        tcp, unix = early_session(pg, False), early_session(pg, True)
        procs += [tcp, unix]
        q = "SELECT pid FROM pg_stat_activity WHERE usename = '%s'" % EARLY_USER
        if not h.wait_until(lambda: len(psql(pg, q)[1].split()) >= 4, 15, 0.2):
            raise h.HarnessError("the nx_early sessions never connected: %s" % psql(pg, q)[1])
        titles = []
        for pid in psql(pg, q)[1].split():
            with contextlib.suppress(OSError):
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    titles.append(f.read().split(b"\0")[0].decode(errors="replace"))
        port = h.free_port()
        with h.agent("--no-default-targets", "--pid", str(pg.pid), "--listen",
                     "127.0.0.1:%d" % port, mode="run", raw=False) as a2:
            for p, name in ((tcp, "nx_early_tcp"), (unix, "nx_early_unix")):
                p.stdin.write(b"SELECT 1 AS %s;\n" % name.encode())
                p.stdin.flush()
            t_bench = "select $1 as nx_early_bench"
            t_tcp, t_unix = "select $1 as nx_early_tcp", "select $1 as nx_early_unix"
            v, ok = wait_view(port, lambda v: v.count(s.tcp, t_bench) >= 20
                              and v.count(s.tcp, t_tcp) >= 1 and v.count(s.unix, t_unix) >= 1,
                              20)
            time.sleep(PUBLISH_WAIT)
            v = wait_view(port, lambda v: True, 5)[0]
            conns = json.loads(h.fetch(port, "/api/v1/database/connections"))
            alive = bench.poll() is None
            a2_tail = a2.stderr_tail(6)
        if not alive:
            a2_tail.append("pgbench: %s" % bench.stderr.read().decode(errors="replace")[-400:])

        def labels(server, text_):
            return sorted({(l.get("database"), l.get("user")) for l, n in v.rows
                           if n > 0 and l.get("server") == server
                           and v.info.get(l.get("fingerprint")) == text_})
        want = [(EARLY_DB, EARLY_USER)]
        info = ["titles: %s" % titles, "counted: bench %d tcp %d unix %d (within 20 s: %s)"
                % (v.count(s.tcp, t_bench), v.count(s.tcp, t_tcp), v.count(s.unix, t_unix), ok)]
        g.check(c[0], alive and v.count(s.tcp, t_bench) >= 20
                and labels(s.tcp, t_bench) == want,
                info + ["pgbench still running when checked: %s" % alive,
                        "bench labels: %s" % labels(s.tcp, t_bench)] + a2_tail)
        g.check(c[1], v.count(s.tcp, t_tcp) == 1 and labels(s.tcp, t_tcp) == want,
                info + ["tcp labels: %s" % labels(s.tcp, t_tcp)])
        g.check(c[2], v.count(s.unix, t_unix) == 1 and labels(s.unix, t_unix) == want,
                info + ["unix labels: %s" % labels(s.unix, t_unix)])
        gauge = {(l.get("server"), l.get("database"), l.get("user"), l.get("state")): n
                 for l, n in samples(v.fams, "nexus_postgres_connections") if n > 0}
        api = [(sv.get("server"), x.get("client"), x.get("database"), x.get("user"))
               for sv in conns.get("servers", []) for x in sv.get("connections", [])
               if sum((x.get("states") or {}).values()) > 0]
        commits = sum(n for l, n in samples(v.fams, "nexus_postgres_transactions_total")
                      if l.get("database") == EARLY_DB and l.get("outcome") == "commit")
        g.check(c[3], gauge.get((s.tcp, EARLY_DB, EARLY_USER, "idle"), 0) >= 1
                and gauge.get((s.unix, EARLY_DB, EARLY_USER, "idle"), 0) >= 1
                and (s.tcp, "127.0.0.1", EARLY_DB, EARLY_USER) in api
                and (s.unix, "local", EARLY_DB, EARLY_USER) in api and commits >= 20,
                ["gauge: %s" % sorted(gauge.items()), "api: %s" % api,
                 "commits under %s: %s" % (EARLY_DB, commits)])
        unknown = sorted({(name, tuple(sorted(l.items()))) for fam in v.fams.values()
                          for name, l, n in fam["samples"]
                          if n > 0 and "(unknown)" in l.values()})
        g.check(c[4], not unknown, ["series under (unknown): %s" % unknown[:6]])
    finally:
        for p in procs[1:]:
            with contextlib.suppress(OSError):
                p.stdin.write(b"\\q\n")
                p.stdin.close()
        for p in procs:  # pgbench ends by itself (-T): its connections close cleanly
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


ALL = [(BENCH_CHECKS, 100), (MISC_CHECKS, 60), (EXPO_CHECKS, 60), (USDT_CHECKS, 120),
       (EARLY_CHECKS, 100)]


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    priv = h.privilege_skip_reason()
    missing = h.missing_tools("initdb", "postgres", "psql", "pgbench", "pg_isready")
    skip = priv or ("missing tools: %s" % " ".join(missing) if missing else None)
    if not skip and not os.path.exists(os.path.join(h.PG_BIN, "..", "lib",
                                                    "pg_stat_statements.so")):
        skip = "pg_stat_statements is not installed"
    if not skip and not os.access(h.AGENT, os.X_OK):
        for names, _ in ALL:
            h.run_group(tap, names, lambda g: g.fail_rest("agent binary %s not built" % h.AGENT))
        return tap.done()
    if skip:
        for names, _ in ALL:
            h.run_group(tap, names, None, skip)
        return tap.done()
    promtool_missing = bool(h.missing_tools("promtool"))
    fns = [group_bench, group_misc, lambda g, s: group_expo(g, s, promtool_missing), group_usdt,
           group_early]
    try:
        with contextlib.ExitStack() as stack:
            with h.time_limit(90):
                pg = stack.enter_context(postgres_with_pgss())
                psql(pg, "CREATE EXTENSION pg_stat_statements")
                pgbench(pg, "-i", "-s", "1", "-q", timeout=60)
                port = h.free_port()
                a = stack.enter_context(h.agent("--no-default-targets", "--pid", str(pg.pid),
                                                "--listen", "127.0.0.1:%d" % port, mode="run",
                                                raw=False))
            s = Session(pg, a, port)
            for (names, limit), fn in zip(ALL, fns):
                def body(g, fn=fn, limit=limit):
                    with h.time_limit(limit):
                        fn(g, s)
                h.run_group(tap, names, body)
    except Exception as e:  # noqa: BLE001 - set-up failed: every unreported check fails
        why = ["set-up failed: %s: %s" % (type(e).__name__, e)] + list(getattr(e, "detail", []))
        # groups already reported keep their lines; the rest fail
        reported = tap.n
        count = 0
        for names, _ in ALL:
            if count + len(names) <= reported:
                count += len(names)
                continue
            h.run_group(tap, names, lambda g: g.fail_rest(why))
            count += len(names)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
