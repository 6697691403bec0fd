#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Health reports end to end: a live agent (`run --report-interval 5s --report-dir DIR`) against a
real redis-server and a real postgres. Before the first report /api/v1/report is a JSON 404; a bad
?n is a 400. Right after one report is published the test runs a known load inside the next window:
Redis GETs of present `user:` keys and of missing `sess:` keys (a low-hit-ratio prefix), KEYS, a
burst of short-lived connections; PostgreSQL statements with a marker, while one session sits idle
in a transaction the whole time. The next report must have both servers, figures equal to the
servers' own counters over the window (INFO commandstats and keyspace_hits/misses deltas; the
statements the test sent), and the recommendations that load calls for, each citing its figures.
Then `nexus-agent report --format text|markdown|json` against the agent, the files in DIR, and
nexus_capacity_time_to_limit_seconds on /metrics. Prints TAP; needs root and kernel BTF (else every
check is skipped, never passed).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

INTERVAL = 5.0
N_HIT, N_MISS, N_KEYS, N_CHURN, N_PG = 200, 300, 3, 60, 40
MARKER = "nx_report_marker"

CHECKS = [
    "before the first report: GET /api/v1/report is 404 with a JSON {\"error\"}",
    "GET /api/v1/report?n=abc is 400 with a JSON {\"error\"}",
    "a report appears within 3 intervals: version 1, generated_at, window_start, window_seconds "
    "~ the interval, node.health, servers, recommendations",
    "the load ran inside one window (it took less than the interval)",
    "the next report has the redis and the postgres server (kind, health now/min/mean, "
    "alerts_fired list, changes, top)",
    "redis: the window's get count equals INFO commandstats' get delta, and keys' equals "
    "KEYS' delta",
    "redis: the window's keyspace hits and misses equal INFO's keyspace_hits/misses deltas",
    "redis: prefixes_by_misses has sess with %d misses first and user with %d hits"
    % (N_MISS, N_HIT),
    "redis: connections opened in the window >= the %d the test opened" % N_CHURN,
    "postgres: the marker statement has %d calls in the window's top, and requests >= %d"
    % (N_PG, N_PG),
    "recommendation: key prefix sess (warning) citing hits/misses/hit_ratio as measured",
    "recommendation: command KEYS citing count %d and advising SCAN" % N_KEYS,
    "recommendation: connection churn on redis citing opened >= %d" % N_CHURN,
    "recommendation: connections idle in transaction on postgres citing a mean >= 1",
    "no recommendation about key prefix user (its hit ratio is 1)",
    "?n=1 is the report before the latest (older generated_at); ?n=95 is 404 with a JSON error",
    "nexus-agent report --format json prints a report (version 1, the same servers)",
    "nexus-agent report (text) names both servers and the recommendations",
    "nexus-agent report --format markdown has the title, a section per server and "
    "## Recommendations",
    "--report-dir: one report-*.json per report, each valid JSON, no temporary file left",
    "/metrics: nexus_capacity_time_to_limit_seconds{resource=\"connections\"} for both servers",
    "the agent exits 0 on SIGINT",
]


def get(url, timeout=5):
    """(status, parsed JSON or text)"""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = r.read().decode()
            status = r.status
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        status = e.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def read_reply(f):
    line = f.readline()
    if line[:1] == b"$":
        n = int(line[1:])
        if n >= 0:
            f.read(n + 2)
    elif line[:1] == b"*":
        for _ in range(int(line[1:])):
            read_reply(f)
    return line


def info(rd):
    out, _ = rd.cli("INFO", "all")
    stats = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            stats[k.strip()] = v.strip()
    return stats


def cmd_calls(stats, cmd):
    m = re.search(r"calls=(\d+)", stats.get("cmdstat_" + cmd, ""))
    return int(m.group(1)) if m else 0


def redis_load(port):
    """The test's Redis load: hits on user:, misses on sess:, KEYS, short connections."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    s.sendall(b"".join(h.resp("SET", "user:%d" % i, "v") for i in range(20)))
    for _ in range(20):
        read_reply(f)
    s.sendall(b"".join(h.resp("GET", "user:%d" % (i % 20)) for i in range(N_HIT)))
    for _ in range(N_HIT):
        read_reply(f)
    s.sendall(b"".join(h.resp("GET", "sess:%d" % i) for i in range(N_MISS)))
    for _ in range(N_MISS):
        read_reply(f)
    for _ in range(N_KEYS):
        s.sendall(h.resp("KEYS", "*"))
        read_reply(f)
    s.close()
    for _ in range(N_CHURN):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(h.resp("PING"))
        c.recv(64)
        c.close()


def find_server(report, kind):
    for sv in report.get("servers", []):
        if sv.get("kind") == kind:
            return sv
    return None


def find_rec(report, subject_re, server=None):
    for r in report.get("recommendations", []):
        if re.search(subject_re, r.get("subject", "")) and (server is None or
                                                          r.get("server") == server):
            return r
    return None


def short(obj, n=900):
    s = json.dumps(obj) if not isinstance(obj, str) else obj
    return s if len(s) <= n else s[:n] + "..."


def group(g):
    c = CHECKS
    tmp = tempfile.mkdtemp(prefix="nx-report-")
    idle = None
    try:
        with h.redis_server() as rd, h.postgres_server() as pg:
            rserver, pserver = "127.0.0.1:%d" % rd.port, "127.0.0.1:%d" % pg.port
            port = h.free_port()
            base = "http://127.0.0.1:%d" % port
            rdir = os.path.join(tmp, "reports")
            os.mkdir(rdir)
            # one session idle in a transaction for the whole test
            idle = subprocess.Popen(
                [h.pg_tool("psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U",
                 "postgres", "-d", "postgres"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=dict(os.environ, PGSSLMODE="disable",
                                                    PGGSSENCMODE="disable"))
            with h.agent("--no-default-targets", "--pid", str(rd.pid), "--pid", str(pg.pid),
                         "--listen", "127.0.0.1:%d" % port, "--report-interval", "%gs" % INTERVAL,
                         "--report-dir", rdir, mode="run", raw=False) as a:
                st, body = None, None
                for _ in range(40):  # the HTTP server comes up just after "attached"
                    try:
                        st, body = get(base + "/api/v1/report")
                        break
                    except OSError:
                        time.sleep(0.05)
                g.check(c[0], st == 404 and isinstance(body, dict) and "error" in body,
                        "status %s body %s" % (st, short(body)))
                st, body = get(base + "/api/v1/report?n=abc")
                g.check(c[1], st == 400 and isinstance(body, dict) and "error" in body,
                        "status %s body %s" % (st, short(body)))
                # the idle session opens its transaction once the agent watches
                idle.stdin.write(b"BEGIN;\nSELECT 1;\n")
                idle.stdin.flush()

                def latest():
                    s, b = get(base + "/api/v1/report")
                    return b if s == 200 and isinstance(b, dict) else None

                first = h.wait_until(lambda: latest() is not None, 3 * INTERVAL + 5, 0.1) \
                    and latest()
                ok = bool(first) and first.get("version") == 1 and \
                    all(k in first for k in ("generated_at", "window_start", "servers",
                                             "recommendations")) and \
                    abs(first.get("window_seconds", 0) - INTERVAL) < 2.5 and \
                    "now" in first.get("node", {}).get("health", {})
                g.check(c[2], ok, short(first) if first else a.stderr_tail(8))
                if not first:
                    g.fail_rest("no report")
                    return
                # wait for the next report to be published, then load at once inside the window
                prev_at = first["generated_at"]
                h.wait_until(lambda: (latest() or {}).get("generated_at") != prev_at,
                             INTERVAL + 5, 0.05)
                start_report = latest()
                t0 = time.monotonic()
                info0 = info(rd)
                redis_load(rd.port)
                pg.psql(["SELECT %d AS %s" % (i, MARKER) for i in range(N_PG)])
                info1 = info(rd)
                took = time.monotonic() - t0
                g.check(c[3], took < INTERVAL - 1, "the load took %.1f s" % took)
                h.wait_until(lambda: (latest() or {}).get("generated_at") !=
                             start_report["generated_at"], INTERVAL + 8, 0.1)
                rep = latest()
                rs, ps = find_server(rep, "redis"), find_server(rep, "postgres")
                shape = all(sv and all(k in sv for k in ("health", "alerts_fired", "changes",
                                                          "top", "figures"))
                            and all(k in sv["health"] for k in ("now", "min", "mean"))
                            for sv in (rs, ps))
                g.check(c[4], shape and rs["server"] == rserver and ps["server"] == pserver,
                        [short(rep, 600), short([(sv["server"], sv["kind"]) for sv in
                                                 rep.get("servers", [])])])
                if not shape:
                    if os.environ.get("NX_REPORT_DUMP"):
                        with open(os.environ["NX_REPORT_DUMP"], "w") as fh:
                            json.dump({"report": rep, "stats": get(base + "/api/v1/database/connections")[1], "err": a.stderr_tail(20), "pids": [rd.pid, pg.pid, idle.pid], "metrics": [l for l in get(base + "/metrics")[1].splitlines() if not l.startswith("#") and ("nexus_agent" in l or "postgres" in l)]}, fh)
                    g.fail_rest("servers missing from the report")
                    return
                top = {t["command"]: t for t in rs["top"]}
                d_get = cmd_calls(info1, "get") - cmd_calls(info0, "get")
                d_keys = cmd_calls(info1, "keys") - cmd_calls(info0, "keys")
                g.check(c[5], top.get("get", {}).get("count") == d_get and
                        top.get("keys", {}).get("count") == d_keys == N_KEYS,
                        "report get %s keys %s; INFO deltas get %d keys %d" %
                        (top.get("get", {}).get("count"), top.get("keys", {}).get("count"),
                         d_get, d_keys))
                dh = int(info1["keyspace_hits"]) - int(info0["keyspace_hits"])
                dm = int(info1["keyspace_misses"]) - int(info0["keyspace_misses"])
                fig = rs["figures"]
                g.check(c[6], fig["hits"] == dh and fig["misses"] == dm,
                        "report hits %s misses %s; INFO deltas %d %d" %
                        (fig["hits"], fig["misses"], dh, dm))
                pre = {p["prefix"]: p for p in rs.get("prefixes_by_misses", [])}
                firstp = (rs.get("prefixes_by_misses") or [{}])[0].get("prefix")
                g.check(c[7], firstp == "sess" and pre["sess"]["misses"] == N_MISS and
                        pre.get("user", {}).get("hits") == N_HIT,
                        short(rs.get("prefixes_by_misses")))
                g.check(c[8], fig["connections_opened"] >= N_CHURN, short(fig))
                marker = [t for t in ps["top"] if MARKER in t.get("query", "")]
                g.check(c[9], len(marker) == 1 and marker[0]["count"] == N_PG and
                        ps["figures"]["requests"] >= N_PG, short(ps["top"]))
                r = find_rec(rep, r"^key prefix sess", rserver)
                ev = (r or {}).get("evidence", {})
                g.check(c[10], r is not None and r["severity"] == "warning" and
                        ev.get("misses") == pre["sess"]["misses"] and
                        ev.get("hits") == pre["sess"]["hits"] and
                        abs(ev.get("hit_ratio", -1) - pre["sess"]["hit_ratio"]) < 1e-9 and
                        r.get("finding") and r.get("advice"),
                        short(rep.get("recommendations")))
                r = find_rec(rep, r"^command KEYS$", rserver)
                g.check(c[11], r is not None and r["evidence"].get("count") == N_KEYS and
                        "SCAN" in r.get("advice", ""), short(rep.get("recommendations")))
                r = find_rec(rep, r"^connection churn$", rserver)
                g.check(c[12], r is not None and r["evidence"].get("opened", 0) >= N_CHURN and
                        r["evidence"]["opened"] == fig["connections_opened"],
                        short(rep.get("recommendations")))
                r = find_rec(rep, r"idle in transaction", pserver)
                g.check(c[13], r is not None and
                        r["evidence"].get("idle_in_transaction_mean", 0) >= 1,
                        [short(rep.get("recommendations")), short(ps["figures"])])
                g.check(c[14], find_rec(rep, r"^key prefix user") is None,
                        short(rep.get("recommendations")))
                s1, older = get(base + "/api/v1/report?n=1")
                s2, past = get(base + "/api/v1/report?n=95")
                g.check(c[15], s1 == 200 and isinstance(older, dict) and
                        older.get("generated_at", "") <= (latest() or {}).get("generated_at", "")
                        and s2 == 404 and isinstance(past, dict) and "error" in past,
                        "n=1: %s %s; n=95: %s %s" % (s1, short(older, 200), s2, short(past)))
                outs = {}
                for fmt in ("json", "text", "markdown"):
                    p, _ = h.run([h.AGENT, "report", "--connect", "127.0.0.1:%d" % port,
                                  "--format", fmt], timeout=20)
                    outs[fmt] = (p.returncode, p.stdout.decode(errors="replace"),
                                 p.stderr.decode(errors="replace"))
                try:
                    cj = json.loads(outs["json"][1])
                except ValueError:
                    cj = None
                g.check(c[16], outs["json"][0] == 0 and cj and cj.get("version") == 1 and
                        {s["server"] for s in cj["servers"]} >= {rserver, pserver},
                        outs["json"][1][:600] + outs["json"][2])
                tx = outs["text"][1]
                g.check(c[17], outs["text"][0] == 0 and rserver in tx and pserver in tx and
                        "recommendations (" in tx, tx[:1500] + outs["text"][2])
                md = outs["markdown"][1]
                g.check(c[18], outs["markdown"][0] == 0 and md.startswith("# Health report") and
                        "## redis %s" % rserver in md and "## postgres %s" % pserver in md and
                        "## Recommendations" in md, md[:1500] + outs["markdown"][2])
                n_reports = 0
                for _ in range(3):
                    st, body = get(base + "/metrics")
                    files = sorted(os.listdir(rdir))
                    # count what the store kept (n=K answers up to the count)
                    n_reports = sum(1 for k in range(96)
                                    if get(base + "/api/v1/report?n=%d" % k)[0] == 200)
                    if len([x for x in files if x.startswith("report-")]) == n_reports:
                        break
                valid = True
                for x in files:
                    try:
                        with open(os.path.join(rdir, x)) as fh:
                            valid &= json.load(fh).get("version") == 1
                    except (ValueError, OSError):
                        valid = False
                g.check(c[19], files and all(re.match(r"report-\d{8}T\d{6}\.\d{3}Z\.json$", x)
                                              for x in files) and
                        len(files) == n_reports and valid,
                        "files %s; reports kept %d" % (files, n_reports))
                text = body if isinstance(body, str) else ""
                lines = [l for l in text.splitlines()
                         if l.startswith("nexus_capacity_time_to_limit_seconds{")]
                g.check(c[20], any(rserver in l and 'resource="connections"' in l for l in lines)
                        and any(pserver in l and 'resource="connections"' in l for l in lines),
                        lines or text[-600:])
                if for_readme():
                    print(outs["text"][1], file=sys.stderr)
                    print(outs["markdown"][1], file=sys.stderr)
                    print(json.dumps(rep, indent=1), file=sys.stderr)
            g.check(c[21], a.returncode == 0, a.stderr_tail(8))
    finally:
        if idle:
            idle.kill()
            idle.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def for_readme():
    return os.environ.get("NX_REPORT_SHOW") == "1"


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    priv = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "redis-cli", h.pg_tool("postgres"),
                              h.pg_tool("psql"))
    skip = priv or ("missing tools: %s" % " ".join(missing) if missing else None)

    def body(g):
        if not os.access(h.AGENT, os.X_OK):
            g.fail_rest("agent binary %s not built" % h.AGENT)
            return
        with h.time_limit(180):
            group(g)

    h.run_group(tap, CHECKS, body, skip)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
