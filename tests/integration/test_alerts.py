#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end checks of nexus-agent's alerting against a real redis-server and a real Alertmanager.

Debian's prometheus-alertmanager runs on a loopback port (no clustering, a null receiver); the
agent runs with `--alerts FILE` (redis_hit_ratio_low made quick: for 2s, clear_for 2s; a custom
threshold rule on the rate of nexus_redis_keyspace_misses_total), `--alertmanager URL` and
`--webhook URL` (a small HTTP server here). A client then reads missing keys: the alert must fire
in /api/v1/alerts, reach Alertmanager with our labels, show on /metrics (promtool-clean) and lower
the health score; reading present keys must resolve it everywhere. SIGHUP with a broken file must
keep the old rules; SIGHUP with a good file must apply it. A bad file at start is exit status 2
with the line named. Prints TAP: one line per check. Needs root and a kernel with BTF; otherwise
every check is reported as skipped (never as passed).
"""

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

ALERTMANAGER = os.environ.get("NEXUS_ALERTMANAGER", "/usr/bin/prometheus-alertmanager")
RULE = "redis_hit_ratio_low"
CUSTOM = "test_redis_misses_fast"
PARTS = {"latency", "errors", "cache", "saturation", "alerts"}

AM_CONFIG = """\
route:
  receiver: "null"
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
"""


def rules_file(server):
    return """\
# test_alerts.py: quick to trigger
rules:
  %(rule)s:
    for: 2s
    clear_for: 2s
custom_rules:
  - name: %(custom)s
    metric: nexus_redis_keyspace_misses_total
    match: {server: "%(server)s"}
    rate: true
    op: ">"
    threshold: 20
    clear: 5
    for: 1s
    severity: critical
    summary: "test: Redis misses above 20/s"
""" % {"rule": RULE, "custom": CUSTOM, "server": server}


BROKEN_LINE = 3
BROKEN_FILE = """\
rules:
  %s:
    for: soon
""" % RULE

DISABLING_FILE = """\
rules:
  %s:
    enabled: false
""" % RULE


# --------------------------------------------------------------------------------- HTTP helpers

def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8")


def get_json(url, timeout=5):
    return json.loads(get(url, timeout)[2])


def agent_alerts(port):
    doc = get_json("http://127.0.0.1:%d/api/v1/alerts" % port)
    return doc.get("alerts", []) if isinstance(doc, dict) else []


def find_alert(alerts, name, state=None, server=None):
    for a in alerts:
        if a.get("name") != name:
            continue
        if state is not None and a.get("state") != state:
            continue
        if server is not None and (a.get("labels") or {}).get("server") != server:
            continue
        return a
    return None


def am_active(am_port, name):
    """Alertmanager's active alerts (GET /api/v2/alerts leaves out resolved ones) with that
    alertname."""
    doc = get_json("http://127.0.0.1:%d/api/v2/alerts" % am_port)
    return [a for a in doc if (a.get("labels") or {}).get("alertname") == name]


def poll(fn, timeout, interval=0.25):
    """Calls fn() until it returns something truthy or timeout passes; errors count as falsy
    (the last one is kept in poll.error)."""
    poll.error = None

    def safe():
        try:
            return fn()
        except (OSError, ValueError, KeyError, TypeError) as e:
            poll.error = "%s: %s" % (type(e).__name__, e)
            return None
    return h.wait_until(safe, timeout, interval)


def short(obj, n=700):
    s = json.dumps(obj) if not isinstance(obj, str) else obj
    return s if len(s) <= n else s[:n] + "..."


# ------------------------------------------------------------------------------- alertmanager

class Alertmanager:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="nx-am-")
        self.port = h.free_port()
        self.proc = None
        self.log = os.path.join(self.dir, "alertmanager.log")

    def start(self, timeout=30):
        cfg = os.path.join(self.dir, "alertmanager.yml")
        with open(cfg, "w") as f:
            f.write(AM_CONFIG)
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(
                [ALERTMANAGER, "--config.file=" + cfg,
                 "--storage.path=" + os.path.join(self.dir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port,
                 "--cluster.listen-address="],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.dir)

        def ready():
            if self.proc.poll() is not None:
                return True
            try:
                return get("http://127.0.0.1:%d/-/ready" % self.port, 2)[0] == 200
            except OSError:
                return False
        if not h.wait_until(ready, timeout, 0.2) or self.proc.poll() is not None:
            e = h.HarnessError("alertmanager did not become ready on port %d" % self.port)
            e.detail = ["alertmanager log: " + l for l in h._tail(self.log)]
            raise e
        return self

    def stop(self):
        h._stop_process(self.proc, signal.SIGTERM)
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------------------------ webhook

class Webhook:
    """An HTTP server on loopback that keeps the body of every POST."""

    def __init__(self):
        self.bodies = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with outer.lock:
                    outer.bodies.append((self.path, self.headers.get("Content-Type", ""), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def posts(self):
        with self.lock:
            return list(self.bodies)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------------------------- redis load

class Reader:
    """A thread reading keys at ~rate/s over one connection: present ones (mode "hit") or
    missing ones (mode "miss"); pipelined in small batches."""

    def __init__(self, port, rate=200):
        self.port, self.rate = port, rate
        self.mode = "hit"
        self.stop_ev = threading.Event()
        self.error = None
        self.counts = {"hit": 0, "miss": 0}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            f = s.makefile("rb")
            s.sendall(b"".join(h.resp("SET", "hit:%d" % i, "v") for i in range(20)))
            for _ in range(20):
                f.readline()
            batch, i = 10, 0
            while not self.stop_ev.is_set():
                t = time.monotonic()
                mode = self.mode
                keys = ["hit:%d" % ((i + j) % 20) if mode == "hit" else "miss:%d" % (i + j)
                        for j in range(batch)]
                i += batch
                s.sendall(b"".join(h.resp("GET", k) for k in keys))
                for _ in keys:
                    line = f.readline()
                    if line.startswith(b"$") and int(line[1:]) >= 0:
                        f.read(int(line[1:]) + 2)
                self.counts[mode] += batch
                self.stop_ev.wait(max(0.0, batch / self.rate - (time.monotonic() - t)))
            s.close()
        except (OSError, ValueError) as e:
            self.error = "%s: %s" % (type(e).__name__, e)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.thread.join(timeout=10)


# ------------------------------------------------------------------------------------- checks

HELP_CHECK = "run --help lists --alerts, --alertmanager, --webhook and --no-alerts"

FLOW_CHECKS = [
    "agent run --alerts FILE --alertmanager URL --webhook URL starts; GET /api/v1/alerts is JSON "
    "with an alerts list",
    "misses: redis_hit_ratio_low (for: 2s) fires in /api/v1/alerts within 20 s: severity warning, "
    "labels.server 127.0.0.1:PORT, value < threshold, active_since, fired_at, fingerprint",
    "misses: it has a summary, and its description names the server",
    "misses: the custom threshold rule (rate of nexus_redis_keyspace_misses_total > 20, "
    "critical) fires with its summary",
    "alertmanager: GET /api/v2/alerts lists redis_hit_ratio_low with labels alertname, "
    "severity=warning, server=127.0.0.1:PORT, and annotation runbook_url (its runbook's section)",
    "webhook: a JSON POST naming redis_hit_ratio_low arrives",
    "/metrics: nexus_alerts{alertname=\"redis_hit_ratio_low\",severity=\"warning\","
    "state=\"firing\"} 1",
    "/metrics: promtool check metrics reports nothing; strict parse; nexus_alerts and "
    "nexus_health_score (scope=\"node\" in 0..100) are gauges",
    "/api/v1/health: node score 0..100; the redis server (kind redis) scores < 100 while the "
    "alert fires, parts latency/errors/cache/saturation/alerts, score = 100 - sum of penalties",
    "hits: redis_hit_ratio_low resolves in /api/v1/alerts (state resolved, resolved_at) "
    "within 30 s",
    "alertmanager: redis_hit_ratio_low leaves the active alerts within 20 s of resolving",
    "/metrics: no firing redis_hit_ratio_low any more (state=\"firing\" sample 0 or absent)",
    "SIGHUP with a broken file: the agent keeps running and says on stderr that it keeps the "
    "previous rules, naming FILE:%d" % BROKEN_LINE,
    "... the previous rules still apply: misses fire redis_hit_ratio_low and the custom rule "
    "(only in the old file) again",
    "SIGHUP with a valid file disabling redis_hit_ratio_low and without the custom rule: neither "
    "is pending or firing within 15 s while misses go on",
    "... and Alertmanager stops listing redis_hit_ratio_low as active within 20 s",
    "the agent (with Alertmanager and webhook receivers) exits 0 on SIGINT without SIGKILL",
]

START_CHECKS = [
    "bad --alerts file at start (unknown severity on line 4): exit status 2, stderr names FILE:4",
    "bad --alerts file at start (YAML syntax error on line 3): exit status 2, stderr names FILE:3",
    "--alerts naming a file that does not exist: exit status 2, stderr names the file",
]


def group_help(g):
    r, _ = h.run([h.AGENT, "run", "--help"], timeout=10)
    text = (r.stdout + r.stderr).decode(errors="replace")
    flags = ["--alerts", "--alertmanager", "--webhook", "--no-alerts"]
    g.check(HELP_CHECK, all(re.search(re.escape(f) + r"\b", text) for f in flags),
            ["missing: %s" % [f for f in flags if f not in text]] + text.splitlines()[-12:])


def metric_alert_samples(fams, name):
    f = fams.get("nexus_alerts")
    if not f:
        return []
    return [(l, v) for n, l, v in f["samples"] if n == "nexus_alerts"
            and l.get("alertname") == name]


def group_flow(g):
    c = FLOW_CHECKS
    tmp = tempfile.mkdtemp(prefix="nx-alerts-")
    am = wh = reader = None
    try:
        with h.redis_server() as rd:
            server = "127.0.0.1:%d" % rd.port
            am = Alertmanager().start()
            wh = Webhook()
            cfg = os.path.join(tmp, "alerts.yaml")
            with open(cfg, "w") as f:
                f.write(rules_file(server))
            port = h.free_port()
            base = "http://127.0.0.1:%d" % port
            with h.agent("--no-default-targets", "--pid", str(rd.pid),
                         "--listen", "127.0.0.1:%d" % port, "--alerts", cfg,
                         "--alertmanager", "http://127.0.0.1:%d" % am.port,
                         "--webhook", wh.url, mode="run", raw=False) as a:
                # the HTTP server may come up a moment after the "attached" line
                first = poll(lambda: get_json(base + "/api/v1/alerts"), 5) or \
                    {"error": poll.error}
                g.check(c[0], isinstance(first, dict) and isinstance(first.get("alerts"), list),
                        ["GET /api/v1/alerts: %s" % short(first)] + a.stderr_tail(8))
                reader = Reader(rd.port).start()
                time.sleep(3)  # a few seconds of hits: the server is known, the ratio is high
                t_miss = time.time()
                reader.mode = "miss"

                # ---- firing in the agent
                fired = poll(lambda: find_alert(agent_alerts(port), RULE, "firing", server), 20)
                alerts_now = poll(lambda: agent_alerts(port), 5) or []
                d = ["alert: %s" % short(fired), "all alerts: %s" % short(alerts_now, 1500),
                     "last error: %s" % poll.error, "reader: %s %s" % (reader.counts,
                                                                        reader.error)]
                ok = False
                if fired:
                    ok = (fired.get("severity") == "warning"
                          and isinstance(fired.get("value"), (int, float))
                          and isinstance(fired.get("threshold"), (int, float))
                          and fired["value"] < fired["threshold"]
                          and bool(fired.get("active_since")) and bool(fired.get("fired_at"))
                          and bool(fired.get("fingerprint")))
                g.check(c[1], ok, d)
                g.check(c[2], bool(fired) and bool(fired.get("summary"))
                        and server in str(fired.get("description", "")), d)
                custom = poll(lambda: find_alert(agent_alerts(port), CUSTOM, "firing"), 10)
                g.check(c[3], bool(custom) and custom.get("severity") == "critical"
                        and custom.get("summary") == "test: Redis misses above 20/s"
                        and isinstance(custom.get("value"), (int, float))
                        and custom["value"] > 20,
                        ["custom: %s" % short(custom), "last error: %s" % poll.error])

                # ---- Alertmanager and the webhook
                in_am = poll(lambda: am_active(am.port, RULE), 15)
                labels = (in_am or [{}])[0].get("labels", {})
                runbook = ((in_am or [{}])[0].get("annotations") or {}).get("runbook_url", "")
                g.check(c[4], bool(in_am) and labels.get("alertname") == RULE
                        and labels.get("severity") == "warning" and labels.get("server") == server
                        and runbook.startswith("https://") and runbook.endswith("/docs/runbooks.md#"
                                                                                + RULE),
                        ["alertmanager alerts: %s" % short(in_am or poll.error)]
                        + ["alertmanager log: " + l for l in h._tail(am.log, 5)]
                        + a.stderr_tail(8))

                def hook_has():
                    for path, ctype, body in wh.posts():
                        try:
                            json.loads(body)
                        except ValueError:
                            continue
                        if RULE.encode() in body:
                            return True
                    return False
                hooked = poll(hook_has, 15)
                g.check(c[5], bool(hooked),
                        ["%d POSTs: %s" % (len(wh.posts()), [(p, ct, b[:300]) for p, ct, b
                                                           in wh.posts()[:3]])])

                # ---- /metrics and promtool
                text = poll(lambda: get(base + "/metrics")[2], 5) or ""
                try:
                    fams = h.parse_prometheus(text)
                    perr = None
                except h.PromParseError as e:
                    fams, perr = {}, str(e)
                samp = metric_alert_samples(fams, RULE)
                firing = [(l, v) for l, v in samp if l.get("severity") == "warning"
                          and l.get("state") == "firing"]
                g.check(c[6], len(firing) == 1 and firing[0][1] == 1,
                        ["nexus_alerts samples for %s: %s" % (RULE, samp),
                         "parse error: %s" % perr,
                         "lines: %s" % [l for l in text.splitlines() if "nexus_alerts" in l][:12]])
                if h.missing_tools("promtool"):
                    g.tap.skip(c[7], "promtool not installed")
                    g.done.add(c[7])
                else:
                    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       timeout=30)
                    out = (p.stdout + p.stderr).decode(errors="replace").strip()
                    hs = fams.get("nexus_health_score", {})
                    node = [v for n, l, v in hs.get("samples", []) if l.get("scope") == "node"]
                    g.check(c[7], p.returncode == 0 and out == "" and perr is None
                            and fams.get("nexus_alerts", {}).get("type") == "gauge"
                            and hs.get("type") == "gauge" and len(node) == 1
                            and 0 <= node[0] <= 100,
                            ["promtool exit %d" % p.returncode] + out.splitlines()[:15]
                            + ["parse error: %s" % perr,
                               "nexus_alerts type %r, nexus_health_score type %r samples %s"
                               % (fams.get("nexus_alerts", {}).get("type"), hs.get("type"),
                                  hs.get("samples", [])[:6])])

                # ---- health
                health = poll(lambda: get_json(base + "/api/v1/health"), 5)
                d = ["health: %s" % short(health, 1500), "last error: %s" % poll.error]
                ok = False
                try:
                    nscore = health["node"]["score"]
                    srv = [s for s in health["servers"] if s.get("server") == server]
                    s = srv[0] if len(srv) == 1 else {}
                    parts = s.get("parts") or {}
                    pens = [parts[p]["penalty"] for p in PARTS if isinstance(parts.get(p), dict)]
                    ok = (isinstance(nscore, (int, float)) and 0 <= nscore <= 100
                          and s.get("kind") == "redis" and isinstance(s.get("score"), (int, float))
                          and 0 <= s["score"] < 100 and set(parts) >= PARTS
                          and len(pens) == len(PARTS)
                          and all(isinstance(x, (int, float)) for x in pens)
                          and abs(s["score"] - max(0.0, 100 - sum(pens))) <= 0.11)
                except (KeyError, TypeError, IndexError):
                    ok = False
                g.check(c[8], ok, d)

                # ---- resolution
                reader.mode = "hit"
                t_hit = time.time()
                resolved = poll(lambda: find_alert(agent_alerts(port), RULE, "resolved", server),
                                30)
                t_res = time.time()
                g.check(c[9], bool(resolved) and bool(resolved.get("resolved_at")),
                        ["alert: %s" % short(resolved or poll.error),
                         "now: %s" % short(find_alert(poll(lambda: agent_alerts(port), 3) or [],
                                                      RULE)),
                         "reader: %s %s" % (reader.counts, reader.error)])
                gone = poll(lambda: not am_active(am.port, RULE), 20)
                g.check(c[10], bool(gone) and bool(resolved),
                        ["still in alertmanager %.1f s after resolving: %s"
                         % (time.time() - t_res, short(poll(lambda: am_active(am.port, RULE)
                                                            or "none", 3) or poll.error))])
                text = poll(lambda: get(base + "/metrics")[2], 5) or ""
                try:
                    samp = metric_alert_samples(h.parse_prometheus(text), RULE)
                except h.PromParseError as e:
                    samp = [("parse error", str(e))]
                still = [(l, v) for l, v in samp if isinstance(l, dict)
                         and l.get("state") == "firing" and v != 0]
                g.check(c[11], bool(resolved) and not still and text != ""
                        and not any(l == "parse error" for l, _ in samp),
                        ["nexus_alerts samples for %s: %s" % (RULE, samp)])

                # ---- SIGHUP with a broken file
                old_fired = {n: (find_alert(agent_alerts(port), n) or {}).get("fired_at")
                             for n in (RULE, CUSTOM)}
                poll(lambda: not find_alert(agent_alerts(port), CUSTOM, "firing"), 15)
                with open(cfg, "w") as f:
                    f.write(BROKEN_FILE)
                n_err = len(a.stderr)
                a.proc.send_signal(signal.SIGHUP)

                def said_keep():
                    new = "\n".join(a.stderr[n_err:])
                    return bool(re.search(r"keep", new, re.I)) and \
                        "%s:%d" % (cfg, BROKEN_LINE) in new
                kept = h.wait_until(said_keep, 10, 0.1)
                time.sleep(0.5)
                g.check(c[12], bool(kept) and a.running,
                        ["running %s; stderr since SIGHUP: %s" % (a.running, a.stderr[n_err:])])
                reader.mode = "miss"

                def refired():
                    al = agent_alerts(port)
                    r = find_alert(al, RULE, "firing", server)
                    cu = find_alert(al, CUSTOM, "firing")
                    if r and cu and r.get("fired_at") != old_fired[RULE] \
                            and cu.get("fired_at") != old_fired[CUSTOM]:
                        return r, cu
                    return None
                again = poll(refired, 25)
                g.check(c[13], bool(again) and a.running,
                        ["alerts now: %s" % short(poll(lambda: agent_alerts(port), 3), 1500),
                         "earlier fired_at: %s" % old_fired, "last error: %s" % poll.error]
                        + a.stderr_tail(6))

                # ---- SIGHUP with a good file
                with open(cfg, "w") as f:
                    f.write(DISABLING_FILE)
                n_err = len(a.stderr)
                a.proc.send_signal(signal.SIGHUP)

                def quiet():
                    al = agent_alerts(port)
                    busy = [x for x in al if x.get("name") in (RULE, CUSTOM)
                            and x.get("state") in ("pending", "firing")]
                    return not busy
                applied = poll(quiet, 15)
                g.check(c[14], bool(applied) and bool(again) and a.running,
                        ["alerts now: %s" % short(poll(lambda: agent_alerts(port), 3), 1500),
                         "stderr since SIGHUP: %s" % a.stderr[n_err:],
                         "reader: %s %s" % (reader.counts, reader.error)])
                am_gone = poll(lambda: not am_active(am.port, RULE), 20)
                g.check(c[15], bool(am_gone) and bool(applied),
                        ["still active in alertmanager: %s"
                         % short(poll(lambda: am_active(am.port, RULE) or "none", 3)
                                 or poll.error)])
                reader.stop()
                reader = None
            g.check(c[16], a.returncode == 0 and not a.killed,
                    ["exit status %r%s" % (a.returncode, " (needed SIGKILL)" if a.killed else "")]
                    + ["agent stderr: " + l for l in a.stderr[-8:]])
    finally:
        if reader is not None:
            reader.stop()
        if wh is not None:
            wh.stop()
        if am is not None:
            am.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def group_start(g):
    c = START_CHECKS
    tmp = tempfile.mkdtemp(prefix="nx-alerts-")
    try:
        cases = [
            (c[0], "bad-severity.yaml",
             "# a rule with a severity that does not exist\nrules:\n  %s:\n    severity: loud\n"
             % RULE, 4),
            (c[1], "bad-syntax.yaml", "rules:\n  %s:\n    for: 2s: 3s\n" % RULE, 3),
            (c[2], "missing.yaml", None, None),
        ]
        for name, fname, text, line in cases:
            path = os.path.join(tmp, fname)
            if text is not None:
                with open(path, "w") as f:
                    f.write(text)
            port = h.free_port()
            try:
                r, _ = h.run([h.AGENT, "run", "--no-default-targets", "--pid", str(os.getpid()),
                              "--listen", "127.0.0.1:%d" % port, "--alerts", path], timeout=30)
                rc, err = r.returncode, r.stderr.decode(errors="replace")
            except h.HarnessError as e:  # it ran on instead of refusing the file
                rc, err = None, str(e)
            want = "%s:%d" % (path, line) if line else path
            g.check(name, rc == 2 and want in err,
                    ["exit status %r (want 2); want %r in stderr" % (rc, want)]
                    + ["stderr: " + l for l in err.splitlines()[-6:]])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    priv = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", ALERTMANAGER)
    skip = priv or ("missing tools: %s" % " ".join(missing) if missing else None)

    h.run_group(tap, [HELP_CHECK], h.guarded(group_help, 20))
    h.run_group(tap, FLOW_CHECKS, h.guarded(group_flow, 240), skip)
    h.run_group(tap, START_CHECKS, h.guarded(group_start, 100), priv)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
