#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The status page (GET /) in a real browser: a real redis-server and postgres under light load,
the agent (`run` on a free port) watching them, and Debian's chromium, headless, loading the page
and dumping the DOM its script built from the JSON API. Checks the headers (HTML, a strict
Content-Security-Policy whose nonce the page's style and script carry), the servers table (the
real server names, figures equal to the API's), slow statements and commands, that text from the
network is escaped (a statement with a hostile column alias), the report area, and an alert that
fires (redis_hit_ratio_low, from a load that reads missing keys) with its runbook link. Keeps a
1280x800 screenshot: build/test-artifacts/status_page.png, and status_page_report.png of the
page with a report the test serves (NEXUS_ARTIFACTS=DIR moves them)."""
import html.parser
import json
import os
import re
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

ARTIFACTS = os.environ.get("NEXUS_ARTIFACTS", os.path.join(h.REPO, "build", "test-artifacts"))
SCREENSHOT = os.path.join(ARTIFACTS, "status_page.png")
REPORT_SCREENSHOT = os.path.join(ARTIFACTS, "status_page_report.png")  # with FAKE_REPORT
HOSTILE = "<img src=x onerror=document.title='pwned'>"
RUNBOOK_BASE = "https://github.com/nexus-agent/nexus-agent/blob/main/docs/runbooks.md"

HEADER_CHECKS = [
    "GET /: 200, Content-Type text/html; charset=utf-8, the embedded page",
    "GET /: Content-Security-Policy with a per-response nonce the page's style and script carry, "
    "no 'unsafe-inline', requests only to the agent",
    "GET /: X-Content-Type-Options nosniff; HEAD / answers the same headers",
]
BROWSER_CHECKS = [
    "chromium runs the page's script: refreshes counted, status ok, node health from the API",
    "servers table: one row per server with the real server names, kinds and pids",
    "servers table: connections and Redis errors equal the API's figures",
    "servers table: ops/s and p95 are shown for both servers under load",
    "slow statements: the workload's fingerprints (pg_sleep); slow commands: the Lua spin (eval)",
    "network text is escaped: the hostile column alias shows as text, no element made of it",
    "report area: no report yet / no endpoint said plainly, or the report and its recommendations",
    "an alert that fires (redis_hit_ratio_low) is listed with its server, severity and runbook link",
    "screenshot at 1280x800 kept as a test artifact (a PNG of that size)",
]
REPORT_CHECKS = [
    "with a report (the agent's page, /api/v1/report answered by the test): the node's and each "
    "server's health over the window and every recommendation with severity, server, finding, "
    "advice",
    "report text from the network is escaped too (markup in a subject and a finding stays text)",
    "before the first report (404 with a JSON error): 'No report yet' said plainly, no report body",
]


# ------------------------------------------------------------------------------------------- DOM

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.walk()

    def find_all(self, tag=None, **attrs):
        out = []
        for n in self.walk():
            if tag and n.tag != tag:
                continue
            if all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(n)
        return out

    def by_id(self, id_):
        for n in self.walk():
            if n.attrs.get("id") == id_:
                return n
        return None

    def field(self, name):
        """The cell of a row with data-field=name."""
        for n in self.walk():
            if n.attrs.get("data-field") == name:
                return n
        return None


class DomParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse_dom(text):
    p = DomParser()
    p.feed(text)
    p.close()
    return p.root


def rows(dom, table_id):
    t = dom.by_id(table_id)
    if t is None:
        return []
    body = t.find_all("tbody")
    return body[0].find_all("tr") if body else []


# --------------------------------------------------------------------------------------- browser

def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def chromium(args, timeout=90):
    """Run headless chromium with args; (stdout text, stderr tail)."""
    profile = tempfile.mkdtemp(prefix="nx-chromium-")
    try:
        cmd = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
               "--user-data-dir=" + profile, "--window-size=1280,800"] + args
        r, _ = h.run(cmd, timeout=timeout)
        err = r.stderr.decode(errors="replace").splitlines()
        if r.returncode != 0:
            raise h.HarnessError("chromium exited %d" % r.returncode,)
        return r.stdout.decode(errors="replace"), err[-8:]
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def chromium_skip_reason():
    if not chromium_binary():
        return "chromium is not installed (Debian package chromium; deploy/install-deps.sh " \
               "installs it)"
    try:
        out, err = chromium(["--dump-dom", "data:text/html,<p id=x>a</p><script>"
                             "document.getElementById('x').textContent='ran'</script>"], 60)
    except (h.HarnessError, OSError) as e:
        return "chromium cannot start here: %s" % e
    if ">ran<" not in out:
        return "chromium starts but runs no script: %s" % " | ".join(err)
    return None


def dump_dom(url, budget_ms=7000):
    out, _ = chromium(["--virtual-time-budget=%d" % budget_ms, "--dump-dom", url])
    return out


# ------------------------------------------------------------------------------------------ load

class Load:
    """Redis: one client doing SET+GET of user:N every 20 ms (all hits) until misses() switches
    it to GETs of keys that do not exist; postgres: one psql session running a count, a 2 ms
    pg_sleep and a statement with a hostile column alias every 100 ms."""

    def __init__(self, rd, pg):
        self.rd, self.pg = rd, pg
        self.stop = threading.Event()
        self.missing = threading.Event()
        self.threads, self.psql = [], None
        self.sock = None

    def _redis(self):
        i = 0
        try:
            while not self.stop.is_set():
                key = b"user:%d" % (i % 50)
                if self.missing.is_set():
                    reqs = [b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(b"gone:" + key),
                                                                  b"gone:" + key)] * 2
                else:
                    reqs = [b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(key), key),
                            b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)]
                for req in reqs:
                    self.sock.sendall(req)
                    self.sock.recv(4096)
                i += 1
                time.sleep(0.02)
        except OSError:
            pass

    def start(self, wrongtype_errors):
        self.sock = socket.create_connection(("127.0.0.1", self.rd.port), timeout=5)
        # a known number of errors: LPUSH on a string key is WRONGTYPE
        self.sock.sendall(b"*3\r\n$3\r\nSET\r\n$6\r\nstring\r\n$1\r\nv\r\n")
        self.sock.recv(64)
        for _ in range(wrongtype_errors):
            self.sock.sendall(b"*3\r\n$5\r\nLPUSH\r\n$6\r\nstring\r\n$1\r\nx\r\n")
            if not self.sock.recv(256).startswith(b"-WRONGTYPE"):
                raise h.HarnessError("LPUSH on a string did not answer WRONGTYPE")
        t = threading.Thread(target=self._redis, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def start_pg(self):
        self.psql_err = tempfile.TemporaryFile()
        self.psql = h.psql_session(self.pg, "nx-status-load", stderr=self.psql_err)
        t = threading.Thread(target=self._pg, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def _pg(self):
        alias = HOSTILE.replace('"', '""').encode()
        try:
            while not self.stop.is_set():
                self.psql.stdin.write(b"SELECT count(*) FROM pg_class;\n"
                                      b"SELECT pg_sleep(0.002);\n"
                                      b'SELECT 1 AS "' + alias + b'";\n')
                self.psql.stdin.flush()
                time.sleep(0.1)
        except (OSError, ValueError):
            pass

    def psql_stderr(self):
        """What psql said (for a failure's diagnostics), and whether it still runs."""
        try:
            self.psql_err.seek(0)
            text = self.psql_err.read()[-600:].decode(errors="replace")
        except (OSError, AttributeError):
            text = ""
        return "psql %s; stderr: %r" % ("running" if self.psql and self.psql.poll() is None
                                        else "exited %s" % self.psql.poll(), text)

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=5)
        if self.sock:
            self.sock.close()
        if self.psql:
            h.end_psql(self.psql)


def get(base, path, method="GET"):
    """(status, headers, body bytes); 0 when nothing answered."""
    req = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
    except OSError:
        return 0, {}, b""


def get_json(base, path):
    st, _, body = get(base, path)
    if st != 200:
        raise h.HarnessError("%s answered %d" % (path, st))
    return json.loads(body)


def lua_spin(rd, ms):
    """A command that really holds the server ms milliseconds (a busy Lua loop)."""
    script = ("local t = redis.call('TIME'); local s = t[1] * 1000000 + t[2]; "
              "repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - s >= %d * 1000; "
              "return 1" % ms)
    rd.cli("EVAL", script, "0")


# ---------------------------------------------------------------------------------------- checks

def header_group(g, base):
    st, hdr, body = get(base, "/")
    ctype = hdr.get("Content-Type", "") if hdr else ""
    page = body.decode("utf-8", errors="replace")
    g.check(HEADER_CHECKS[0], st == 200 and ctype == "text/html; charset=utf-8" and
            page.startswith("<!DOCTYPE html>") and 'id="servers"' in page,
            ["status %s, Content-Type %r, %d bytes" % (st, ctype, len(body))])
    csp = hdr.get("Content-Security-Policy", "") if hdr else ""
    m = re.search(r"script-src 'nonce-([A-Za-z0-9+/=]+)'", csp)
    nonce = m.group(1) if m else None
    _, hdr2, body2 = get(base, "/")
    m2 = re.search(r"script-src 'nonce-([A-Za-z0-9+/=]+)'", hdr2.get("Content-Security-Policy", ""))
    carries = nonce and ('<script nonce="%s">' % nonce) in page and \
        ('<style nonce="%s">' % nonce) in page and "__NONCE__" not in page
    g.check(HEADER_CHECKS[1],
            carries and "default-src 'none'" in csp and "connect-src 'self'" in csp and
            "unsafe-inline" not in csp and "unsafe-eval" not in csp and
            m2 is not None and m2.group(1) != nonce and len(nonce) >= 22,
            ["CSP: %s" % csp, "second response's nonce: %s" % (m2.group(1) if m2 else None)])
    st3, hdr3, body3 = get(base, "/", method="HEAD")
    g.check(HEADER_CHECKS[2],
            hdr.get("X-Content-Type-Options") == "nosniff" and st3 == 200 and not body3 and
            hdr3.get("Content-Type") == "text/html; charset=utf-8" and
            "nonce-" in hdr3.get("Content-Security-Policy", ""),
            ["GET headers: %s" % dict(hdr), "HEAD: %s %s" % (st3, dict(hdr3) if hdr3 else {})])


def server_rows(dom):
    return {r.attrs.get("data-server"): r for r in rows(dom, "servers")}


def num(cell):
    try:
        return float(cell.attrs.get("data-value"))
    except (TypeError, ValueError, AttributeError):
        return None


def browser_group(g, base, rd, pg, load, errors_sent):
    redis_name = "127.0.0.1:%d" % rd.port
    pg_name = "127.0.0.1:%d" % pg.port
    url = base + "/"

    # the servers' figures settle: both seen with traffic, slow entries present
    def ready():
        try:
            c = get_json(base, "/api/v1/cache/stats")["servers"]
            d = get_json(base, "/api/v1/database/stats")["servers"]
            s = get_json(base, "/api/v1/cache/slow-commands")["slow_commands"]
        except (h.HarnessError, ValueError, KeyError):
            return False
        return any(x["server"] == redis_name and x["ops_per_second"] > 0 for x in c) and \
            any(x["server"] == pg_name for x in d)
    if not h.wait_until(ready, 40, 0.5):
        e = h.HarnessError("the agent's API never showed both servers with traffic")
        e.detail = ["%s: %s" % (p, get(base, p)[2][:600]) for p in
                    ("/api/v1/cache/stats", "/api/v1/database/stats")] + [load.psql_stderr()]
        r, _ = h.run([h.pg_tool("psql"), "-X", "-At", "-h", "127.0.0.1", "-p", str(pg.port),
                      "-U", "postgres", "-c", "SELECT pid, application_name, state, "
                      "backend_type FROM pg_stat_activity"], timeout=20)
        e.detail.append("pg_stat_activity: %r" % r.stdout.decode(errors="replace"))
        r, _ = h.run([h.AGENT, "trace", "--no-default-targets", "--pid", str(pg.pid),
                      "--duration", "3", "--count", "4"], timeout=60)
        e.detail += ["a trace of postgres now: " + l for l in
                     r.stdout.decode(errors="replace").splitlines()[:4]]
        e.detail += [l for l in get(base, "/metrics")[2].decode(errors="replace").splitlines()
                     if l.startswith(("nexus_agent_targets", "nexus_agent_connections ",
                                      "nexus_agent_events_total", "nexus_agent_events_lost",
                                      "nexus_postgres_connections_opened",
                                      "nexus_postgres_parse_errors", "nexus_postgres_resyncs",
                                      "nexus_postgres_encrypted"))]
        raise e
    # slow commands: two Lua spins that hold the server 200 ms (past --slow-command-ms 100;
    # the load's own commands stay under it unless the machine is very busy), run last so they
    # are among the newest entries the page shows
    for _ in range(2):
        lua_spin(rd, 200)

    def spun():
        try:
            return any(x["command"] == "eval" for x in
                       get_json(base, "/api/v1/cache/slow-commands")["slow_commands"][:6])
        except (h.HarnessError, ValueError, KeyError):
            return False
    h.wait_until(spun, 10, 0.2)

    # the DOM and the API read back to back; connections can move between the two, so take
    # up to three tries for the figures to agree (they agree at once on a steady load)
    for attempt in range(3):
        dom_text = dump_dom(url)
        dom = parse_dom(dom_text)
        cache = get_json(base, "/api/v1/cache/stats")
        conns = get_json(base, "/api/v1/database/connections")
        health = get_json(base, "/api/v1/health")
        sr = server_rows(dom)
        api_redis = next((s for s in cache["servers"] if s["server"] == redis_name), {})
        api_pg_conns = sum(c["count"] for s in conns["servers"] if s["server"] == pg_name
                           for c in s["connections"])
        got = {
            "redis conns": num(sr[redis_name].field("connections")) if redis_name in sr else None,
            "pg conns": num(sr[pg_name].field("connections")) if pg_name in sr else None,
            "redis errors": num(sr[redis_name].field("errors")) if redis_name in sr else None,
        }
        want = {"redis conns": api_redis.get("connections"), "pg conns": api_pg_conns,
                "redis errors": api_redis.get("errors")}
        if got == want:
            break

    status = dom.by_id("status-line")
    body = dom.find_all("body")
    refreshes = int(body[0].attrs.get("data-refreshes", "0")) if body else 0
    nh = dom.by_id("node-health")
    node_dom = num(nh) if nh is not None else None
    node_api = health.get("node", {}).get("score")
    g.check(BROWSER_CHECKS[0],
            refreshes >= 1 and status is not None and status.attrs.get("data-state") == "ok" and
            node_dom is not None and node_api is not None and 0 <= node_dom <= 100 and
            abs(node_dom - node_api) <= 20,
            ["data-refreshes %s, status %s, node health DOM %s API %s" %
             (refreshes, status.attrs if status is not None else None, node_dom, node_api),
             dom_text[:1500]])

    kinds = {k: (v.attrs.get("data-kind"), v.field("pid").text()) for k, v in sr.items()}
    g.check(BROWSER_CHECKS[1],
            kinds.get(redis_name) == ("redis", str(rd.pid)) and
            kinds.get(pg_name) == ("postgres", str(pg.pid)) and
            sr[redis_name].field("server").text() == redis_name,
            ["rows: %s" % kinds])
    g.check(BROWSER_CHECKS[2],
            got == want and want["redis errors"] == errors_sent and want["redis conns"] >= 1 and
            want["pg conns"] >= 1,
            ["DOM %s" % got, "API %s (WRONGTYPE errors sent: %d)" % (want, errors_sent)])
    figs = {k: (num(v.field("ops")), num(v.field("p95"))) for k, v in sr.items()}
    g.check(BROWSER_CHECKS[3],
            all(figs.get(n) and figs[n][0] and figs[n][0] > 0 and figs[n][1] and figs[n][1] > 0
                for n in (redis_name, pg_name)),
            ["ops/s, p95 ms: %s" % figs])

    queries = [r.field("query").text() for r in rows(dom, "slow-queries")]
    commands = [r.attrs.get("data-command") for r in rows(dom, "slow-commands")]
    g.check(BROWSER_CHECKS[4],
            any("pg_sleep($1)" in q for q in queries) and "eval" in commands,
            ["slow statements: %s" % queries, "slow commands: %s" % commands])

    hostile_cells = [q for q in queries if "onerror" in q]
    imgs = dom.find_all("img")
    g.check(BROWSER_CHECKS[5],
            hostile_cells and HOSTILE in hostile_cells[0] and not imgs and
            "&lt;img src=x" in dom_text and "pwned" not in "".join(
                t.text() for t in dom.find_all("title")),
            ["statements with the alias: %s" % hostile_cells, "img elements: %d" % len(imgs)])

    st, _, rbody = get(base, "/api/v1/report")
    rep = dom.by_id("report")
    rstate = rep.attrs.get("data-state") if rep is not None else None
    summary = dom.by_id("report-summary").text() if dom.by_id("report-summary") else ""
    if st == 200:
        rj = json.loads(rbody)
        items = dom.by_id("recommendations").find_all("li") if dom.by_id("recommendations") else []
        empty = dom.by_id("recommendations-empty")
        ok_ = rstate == "ok" and len(items) == len(rj.get("recommendations", [])) and \
            (items or (empty is not None and "hidden" not in empty.attrs))
        why = "report served: %d recommendations, %d shown" % (
            len(rj.get("recommendations", [])), len(items))
    else:
        try:
            is_json = isinstance(json.loads(rbody), dict)
        except ValueError:
            is_json = False
        want_state = "pending" if (st == 404 and is_json) else "absent" if st == 404 else "error"
        ok_ = rstate == want_state and (("No report yet" in summary) if want_state == "pending"
                                        else ("serves no reports" in summary)
                                        if want_state == "absent" else True)
        why = "/api/v1/report answered %d (JSON %s): state %s, text %r" % (
            st, is_json, rstate, summary)
    g.check(BROWSER_CHECKS[6], ok_, [why])

    # an alert: reads of missing keys take the hit ratio under 0.8 for 10 s
    load.missing.set()

    def firing():
        try:
            al = get_json(base, "/api/v1/alerts")["alerts"]
        except (h.HarnessError, ValueError, KeyError):
            return None
        return next((a for a in al if a["name"] == "redis_hit_ratio_low" and
                     a["state"] == "firing"), None)
    alert = h.wait_until(firing, 60, 0.5)
    if not alert:
        g.check(BROWSER_CHECKS[7], False, ["redis_hit_ratio_low never fired within 60 s"])
    else:
        dom = parse_dom(dump_dom(url))
        arows = [r for r in rows(dom, "alerts")
                 if r.attrs.get("data-alertname") == "redis_hit_ratio_low"]
        links = arows[0].find_all("a") if arows else []
        g.check(BROWSER_CHECKS[7],
                arows and arows[0].attrs.get("data-server") == redis_name and
                arows[0].attrs.get("data-state") == "firing" and
                arows[0].field("severity").text() == "warning" and
                links and links[0].attrs.get("href") == alert["runbook_url"] ==
                RUNBOOK_BASE + "#redis_hit_ratio_low" and
                num(server_rows(dom)[redis_name].field("alerts")) >= 1,
                ["alert rows: %s" % [(r.attrs, r.text()) for r in arows],
                 "API runbook_url: %s" % alert.get("runbook_url")])

    os.makedirs(ARTIFACTS, exist_ok=True)
    if os.path.exists(SCREENSHOT):
        os.unlink(SCREENSHOT)
    chromium(["--virtual-time-budget=7000", "--screenshot=" + SCREENSHOT, url])
    size = None
    try:
        with open(SCREENSHOT, "rb") as f:
            head = f.read(24)
        if head[:8] == b"\x89PNG\r\n\x1a\n":
            size = struct.unpack(">II", head[16:24])
    except OSError:
        pass
    g.check(BROWSER_CHECKS[8], size == (1280, 800), ["%s: size %s" % (SCREENSHOT, size)])


FAKE_REPORT = {
    "version": 1, "generated_at": "2026-12-06T20:00:00.000Z",
    "window_start": "2026-12-06T19:45:00.000Z", "window_seconds": 900,
    "node": {"health": {"now": 92.5, "min": 71.0, "mean": 88.2}},
    "servers": [{"server": "10.0.0.7:6379", "kind": "redis",
                 "health": {"now": 90.0, "min": 70.0, "mean": 85.0},
                 "alerts_fired": [{"alertname": "redis_event_loop_blocked",
                                   "severity": "warning", "count": 2}],
                 "changes": {}, "top": [],
                 "capacity": [{"resource": "connections", "value": 120, "limit": 10000,
                               "slope_per_hour": 1.0, "time_to_limit_s": None, "points": 40},
                              {"resource": "memory", "value": 7.5e8, "limit": 1e9,
                               "slope_per_hour": 2e7, "time_to_limit_s": 12600.0,
                               "points": 40}]}],
    "recommendations": [
        {"severity": "warning", "server": "10.0.0.7:6379", "subject": "command keys",
         "finding": "KEYS held the server 120 ms, 4 times in the window",
         "evidence": {"count": 4, "max_ms": 120}, "advice": "Use SCAN instead of KEYS."},
        {"severity": "info", "server": "10.0.0.7:6379", "subject": "prefix " + HOSTILE,
         "finding": "prefix <b>bold</b> misses 40 %", "evidence": {}, "advice": "Set TTLs."},
    ],
}


class FakeReport:
    """An HTTP server in front of the live agent: the page and every API come from the agent,
    but /api/v1/report is the test's (mode "report": FAKE_REPORT; mode "pending": the 404 with
    a JSON error the agent serves before its first report)."""

    def __init__(self, agent_base):
        import http.server

        self.agent, self.mode = agent_base, "report"
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path == "/api/v1/report":
                    if outer.mode == "report":
                        st, ctype, body = 200, "application/json", json.dumps(FAKE_REPORT)
                    else:
                        st, ctype = 404, "text/plain; charset=utf-8"
                        body = json.dumps({"error": "no report yet: the first one is due "
                                                    "at 20:15:00Z"})
                    body, hdrs = body.encode(), {}
                else:
                    st, hdrs, body = get(outer.agent, self.path)
                    ctype = hdrs.get("Content-Type", "text/plain") if hdrs else "text/plain"
                self.send_response(st or 502)
                self.send_header("Content-Type", ctype)
                if hdrs and hdrs.get("Content-Security-Policy"):
                    self.send_header("Content-Security-Policy",
                                     hdrs.get("Content-Security-Policy"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.port = h.free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def report_group(g, base):
    with FakeReport(base) as fake:
        url = "http://127.0.0.1:%d/" % fake.port
        dom_text = dump_dom(url)
        dom = parse_dom(dom_text)
        rep = dom.by_id("report")
        items = dom.by_id("recommendations").find_all("li")
        srows = rows(dom, "report-servers")
        summary = dom.by_id("report-summary").text()
        shown = [(li.attrs.get("data-severity"), li.attrs.get("data-server"), li.text())
                 for li in items]
        want = FAKE_REPORT["recommendations"]
        g.check(REPORT_CHECKS[0],
                rep.attrs.get("data-state") == "ok" and "hidden" not in
                dom.by_id("report-body").attrs and len(items) == len(want) and
                all(s[0] == w["severity"] and s[1] == w["server"] and w["finding"] in s[2] and
                    w["advice"] in s[2] for s, w in zip(shown, want)) and
                "minimum 71.0" in summary and "last 15 min" in summary and len(srows) == 1 and
                srows[0].attrs.get("data-server") == "10.0.0.7:6379" and
                srows[0].field("health_min").text() == "70.0" and
                "redis_event_loop_blocked" in srows[0].text() and
                srows[0].field("capacity").text() == "memory 3.5 h",
                ["state %s, summary %r" % (rep.attrs.get("data-state"), summary),
                 "recommendations: %s" % shown,
                 "servers: %s" % [r.text() for r in srows]])
        g.check(REPORT_CHECKS[1],
                not dom.by_id("recommendations").find_all("b") and
                not dom.by_id("recommendations").find_all("img") and
                HOSTILE in shown[1][2] and "<b>bold</b>" in shown[1][2],
                ["recommendations: %s" % shown])
        os.makedirs(ARTIFACTS, exist_ok=True)
        chromium(["--virtual-time-budget=7000", "--window-size=1280,1100",
                  "--screenshot=" + REPORT_SCREENSHOT, url])
        fake.mode = "pending"
        dom = parse_dom(dump_dom(url))
        rep = dom.by_id("report")
        summary = dom.by_id("report-summary").text()
        g.check(REPORT_CHECKS[2],
                rep.attrs.get("data-state") == "pending" and "No report yet" in summary and
                "first one is due" in summary and "hidden" in dom.by_id("report-body").attrs,
                ["state %s, summary %r" % (rep.attrs.get("data-state"), summary)])


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    reason = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "redis-cli", "initdb", "postgres", "psql",
                              "runuser")
    if not reason and missing:
        reason = "missing tools: %s" % " ".join(missing)
    if not reason and not os.access(h.AGENT, os.X_OK):
        reason = "agent binary %s not built" % h.AGENT
    groups = h.Groups(tap, HEADER_CHECKS, BROWSER_CHECKS, REPORT_CHECKS)
    if reason:
        groups.skip_all(reason)
        return tap.done()
    browser_reason = chromium_skip_reason()

    try:
        with h.redis_server() as rd, h.postgres_server() as pg:
            load = Load(rd, pg)
            try:
                port = h.free_port()
                base = "http://127.0.0.1:%d" % port
                with h.agent("--no-default-targets", "--pid", str(rd.pid), "--pid", str(pg.pid),
                             "--listen", "127.0.0.1:%d" % port, "--slow-command-ms", "100",
                             mode="run"):
                    if not h.wait_until(lambda: get(base, "/metrics")[0] == 200, 20, 0.2):
                        raise h.HarnessError("the agent's HTTP server did not answer")
                    errors_sent = 3
                    load.start(errors_sent)
                    load.start_pg()  # after the agent: it sees the connection's startup

                    def headers(g):
                        with h.time_limit(60):
                            header_group(g, base)

                    def browser(g):
                        with h.time_limit(300):
                            browser_group(g, base, rd, pg, load, errors_sent)

                    def report(g):
                        with h.time_limit(120):
                            report_group(g, base)

                    groups.run(HEADER_CHECKS, headers)
                    groups.run(BROWSER_CHECKS, browser, browser_reason)
                    groups.run(REPORT_CHECKS, report, browser_reason)
                    if os.path.exists(SCREENSHOT):
                        tap.diag("screenshot: %s" % SCREENSHOT)
            finally:
                load.close()
    except h.HarnessError as e:
        groups.setup_failed(e)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
