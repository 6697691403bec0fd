#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Planted secrets: nothing a user did not opt into leaves the agent.

A real redis-server (requirepass) and postgres (scram-sha-256 and md5 password auth over TCP)
get traffic carrying planted secrets: Redis values, the tail of Redis keys beyond their prefix,
the AUTH password (also in HELLO AUTH), PostgreSQL passwords and SQL literals (a string and a
number, also in a failing statement whose error message quotes it). `run` watches them with
--listen, alerts (a hit-ratio rule that fires, posting to a webhook here) and --otlp-endpoint (a
receiver here), Redis commands slow from 1 ms (a 3 MB value read back); `trace` (default and --json) watches too.
Then none of the secrets may appear in: /metrics, every JSON API route, the status page, the
OTLP requests (decompressed), the webhook payloads, the agent's stderr, trace's output,
`top --batch`, `nexus-agent report`. And with the opt-in --full-keys the key tail does appear on
/metrics: the opt-in is what changes it. Prints TAP.
"""

import gzip
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_alerts as ta  # noqa: E402
import test_postgres as tp  # noqa: E402
import test_redact as tr  # noqa: E402

REDIS_PW = tr.REDIS_PW
VALUE = "SECRETVALUE4242"
TAIL = "SECRETTAIL123"
LITERAL = "SECRETLIT"
NUMBER = "424242424"
# a password typed where a command goes (redis-cli, then the password on its own line), and a
# value sent as a command name: Redis answers "unknown command"
TYPED = "SECRETTYPED88"
AS_CMD = "SECRETASCMD77"
SECRETS = [REDIS_PW, VALUE, TAIL, LITERAL, NUMBER, tr.SCRAM_PW, tr.MD5_PW, tr.HELLO_PW, TYPED,
           AS_CMD]

# every route of agent/cli/run.c that answers JSON
API_ROUTES = ["/api/v1/cache/stats", "/api/v1/cache/slow-commands",
              "/api/v1/database/slow-queries", "/api/v1/database/connections",
              "/api/v1/database/stats", "/api/v1/database/relations", "/api/v1/alerts",
              "/api/v1/health", "/api/v1/report"]

CHECKS = [
    "the planted traffic ran: Redis commands and PostgreSQL statements counted, the alert fired "
    "(webhook posted), OTLP metrics and logs arrived, trace printed commands, slow commands and slow "
    "statements listed",
    "/metrics holds no planted secret",
    "no JSON API route (%s) holds a planted secret" % ", ".join(API_ROUTES),
    "the status page (GET /) holds no planted secret",
    "the OTLP requests (decompressed) hold no planted secret",
    "the webhook payloads hold no planted secret",
    "the agent's stderr holds no planted secret",
    "trace (default output) holds no planted secret",
    "trace --json holds no planted secret",
    "top --batch holds no planted secret",
    "nexus-agent report (text and json) holds no planted secret",
    "opt-in: with --full-keys the key tail appears on /metrics",
    "opt-in: trace --raw shows the planted value (the bytes are there to leak; the default "
    "output is what keeps them in)",
]


def leaks(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    low = text.lower()  # labels are lower-cased: a secret must not come back in any case
    return [s for s in SECRETS if s.lower() in low]


class Receiver:
    """An OTLP/HTTP receiver on loopback keeping every body, gunzipped."""

    def __init__(self):
        self.bodies = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                outer.bodies.append((self.path, raw))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Load:
    """Authenticated Redis clients reading missing keys under a planted tail (the hit ratio
    falls: the alert fires), and PostgreSQL logins running statements with planted literals."""

    def __init__(self, rd, pg):
        self.rd, self.pg = rd, pg
        self.stop_ev = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self._redis, self._pg)]

    def _redis(self):
        enc = h.resp
        try:
            s = socket.create_connection(("127.0.0.1", self.rd.port), timeout=10)
            f = s.makefile("rb")
            s.sendall(enc("AUTH", REDIS_PW) + enc("SET", "user:" + TAIL, VALUE)
                      + enc("HELLO", "2", "AUTH", "default", REDIS_PW)
                      + enc("SET", "big:" + TAIL, VALUE * 200000))
            for _ in range(3):
                f.readline()
            i = 0
            while not self.stop_ev.is_set():
                s.sendall(b"".join(enc("GET", "user:%s:%d" % (TAIL, i + j)) for j in range(10))
                          + enc("GET", "user:" + TAIL) + enc("ECHO", VALUE)
                          + TYPED.encode() + b"\r\n" + enc(AS_CMD, VALUE)
                          + enc("CONFIG", AS_CMD) + enc("GET", "big:" + TAIL))
                for _ in range(16):
                    line = f.readline()
                    if line.startswith(b"$") and int(line[1:]) >= 0:
                        f.read(int(line[1:]) + 2)
                i += 10
                self.stop_ev.wait(0.05)
            s.close()
        except (OSError, ValueError) as e:
            self.errors.append("redis: %s" % e)

    def _pg(self):
        while not self.stop_ev.is_set():
            try:
                tr.pg_login(self.pg, "scramu", tr.SCRAM_PW,
                            "SELECT pg_sleep(0.2), '%s' AS a, %s AS b" % (LITERAL, NUMBER))
                tr.pg_login(self.pg, "md5u", tr.MD5_PW,
                            "SELECT '%s'::text || %s, $$%s$$, $t$%s$t$, E'%s\\n' "
                            "/* %s */ -- %s" % (LITERAL, NUMBER, LITERAL, LITERAL, LITERAL,
                                                LITERAL, LITERAL))
            except h.HarnessError as e:
                self.errors.append(str(e)[:200])
            try:
                tr.pg_login(self.pg, "scramu", tr.SCRAM_PW, "SELECT '%s'::int" % LITERAL)
            except h.HarnessError:
                pass  # the failing statement: its error quotes the literal
            self.stop_ev.wait(0.5)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=20)


def get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        return e.read()
    except OSError:  # not listening yet
        return b""


def bg(argv):
    """A command in the background, its stdout and stderr to files."""
    out = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True)
    return p, out


def finish(p, out):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGINT)
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    out.seek(0)
    return out.read()


def body(g, tmp):
    wh = ta.Webhook()
    otlp = Receiver()
    try:
        with h.redis_server() as rd, h.postgres_server() as pg:
            tr.set_hba(pg)
            rd.cli("CONFIG", "SET", "requirepass", REDIS_PW)
            server = "127.0.0.1:%d" % rd.port
            cfg = os.path.join(tmp, "alerts.yaml")
            with open(cfg, "w") as f:
                f.write(ta.rules_file(server))
            port = h.free_port()
            base = "http://127.0.0.1:%d" % port
            targets = ["--no-default-targets", "--pid", str(rd.pid), "--pid", str(pg.pid)]
            traces = [bg([h.AGENT, "trace"] + targets), bg([h.AGENT, "trace", "--json"] + targets),
                      bg([h.AGENT, "trace", "--raw"] + targets)]
            with h.agent(*targets, "--listen", "127.0.0.1:%d" % port, "--alerts", cfg,
                         "--webhook", wh.url, "--otlp-endpoint",
                         "http://127.0.0.1:%d" % otlp.port, "--otlp-interval", "1",
                         "--slow-command-ms", "1", "--report-interval", "10s",
                         mode="run", raw=False) as a:
                load = Load(rd, pg).start()
                try:
                    fired = ta.poll(lambda: ta.find_alert(ta.agent_alerts(port), ta.RULE,
                                                          "firing"), 40)
                    h.wait_until(lambda: wh.posts(), 10, 0.2)
                    time.sleep(12)  # a report, OTLP pushes, slow statements
                    top, _ = h.run([h.AGENT, "top", "--connect", "127.0.0.1:%d" % port,
                                    "--batch", "-n", "2", "-d", "1"], timeout=30)
                    rep_text, _ = h.run([h.AGENT, "report", "--connect",
                                         "127.0.0.1:%d" % port], timeout=20)
                    rep_json, _ = h.run([h.AGENT, "report", "--connect",
                                         "127.0.0.1:%d" % port, "--format", "json"], timeout=20)
                    metrics = get(base + "/metrics")
                    apis = {r: get(base + r) for r in API_ROUTES}
                    page = get(base + "/")
                finally:
                    load.stop()
            trace_out = [finish(p, out) for p, out in traces]
            stderr = "\n".join(a.stderr)
            fams = h.parse_prometheus(metrics.decode(errors="replace"))
            n_redis = sum(v for l, v in tp.samples(fams, "nexus_redis_commands_total"))
            n_pg = sum(v for l, v in tp.samples(fams, "nexus_postgres_queries_total"))
            slow_r = json.loads(apis["/api/v1/cache/slow-commands"] or b"{}")
            slow_p = json.loads(apis["/api/v1/database/slow-queries"] or b"{}")
            g.check(CHECKS[0], fired and wh.posts() and otlp.bodies and n_redis > 100
                    and n_pg > 3 and b"get" in trace_out[1] and not load.errors
                    and b"big" in apis["/api/v1/cache/slow-commands"]
                    and b"pg_sleep" in apis["/api/v1/database/slow-queries"]
                    and any(p.endswith("/v1/logs") for p, _ in otlp.bodies),
                    ["alert %s" % ta.short(fired), "webhook posts %d, otlp requests %s"
                     % (len(wh.posts()), sorted(set(p for p, _ in otlp.bodies))), "redis %s pg %s" % (n_redis, n_pg),
                     "trace --json %d bytes" % len(trace_out[1]),
                     "slow commands %s" % str(slow_r)[:300], "slow queries %s" % str(slow_p)[:300],
                     "load errors %s" % load.errors[:3]] + a.stderr_tail(5))
            g.check(CHECKS[1], not leaks(metrics), ["leaked: %s" % leaks(metrics)])
            bad = {r: leaks(b) for r, b in apis.items() if leaks(b)}
            g.check(CHECKS[2], not bad, ["%s: %s" % kv for kv in bad.items()]
                    + ["%s: %s" % (r, apis[r][:300]) for r in bad])
            g.check(CHECKS[3], b"<html" in page.lower() and not leaks(page),
                    ["leaked: %s" % leaks(page)])
            ol = [(p, leaks(b)) for p, b in otlp.bodies if leaks(b)]
            g.check(CHECKS[4], not ol, ["%s: %s" % x for x in ol[:5]])
            wl = [leaks(b) for _, _, b in wh.posts() if leaks(b)]
            g.check(CHECKS[5], not wl, ["leaked: %s" % wl[:3]])
            g.check(CHECKS[6], not leaks(stderr), ["leaked: %s" % leaks(stderr)]
                    + [l for l in stderr.splitlines() if leaks(l)][:5])
            for i, name in ((0, CHECKS[7]), (1, CHECKS[8])):
                lines = [l for l in trace_out[i].decode(errors="replace").splitlines()
                         if leaks(l)]
                g.check(name, trace_out[i] and not lines, ["%d bytes" % len(trace_out[i])]
                        + lines[:5])
            g.check(CHECKS[9], top.returncode == 0 and not leaks(top.stdout),
                    ["exit %s, leaked %s" % (top.returncode, leaks(top.stdout))])
            rl = leaks(rep_text.stdout) + leaks(rep_json.stdout)
            g.check(CHECKS[10], rep_json.returncode == 0 and not rl,
                    ["exit %s, leaked %s" % (rep_json.returncode, rl),
                     rep_json.stdout[:200], rep_json.stderr[:200]])

            # the opt-in
            port2 = h.free_port()
            with h.agent(*targets, "--listen", "127.0.0.1:%d" % port2, "--no-alerts",
                         "--full-keys", mode="run", raw=False):
                load = Load(rd, pg)
                load.threads = load.threads[:1]
                load.start()
                try:
                    full = h.wait_until(lambda: TAIL in get("http://127.0.0.1:%d/metrics"
                                                            % port2).decode(errors="replace"),
                                        15, 0.5)
                finally:
                    load.stop()
            g.check(CHECKS[11], full and TAIL.lower() not in metrics.decode(errors="replace").lower(),
                    ["--full-keys: tail on /metrics %s" % full])
            g.check(CHECKS[12], VALUE in trace_out[2].decode(errors="replace"),
                    ["trace --raw: %d bytes" % len(trace_out[2])])
            if os.environ.get("NX_PRIVACY_DUMP"):
                for i, t in enumerate(trace_out):
                    with open(os.path.join(os.environ["NX_PRIVACY_DUMP"], "trace%d" % i),
                              "wb") as f:
                        f.write(t)
    finally:
        wh.stop()
        otlp.stop()


def main():
    tap = h.Tap()
    skip = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "redis-cli", "postgres", "initdb")
    if not skip and missing:
        skip = "missing: %s" % ", ".join(missing)
    h.run_group_in_tmpdir(tap, CHECKS, body, skip, "nx-privacy-", 300)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
