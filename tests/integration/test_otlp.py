#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end checks of --otlp-endpoint against a receiver that decodes independently of the agent.

A small HTTP server on loopback plays the OpenTelemetry collector: it gunzips each request and
decodes it with Debian's `protoc --decode` and the vendored official .proto files (not with the
agent's protobuf-c code). A real redis-server and PostgreSQL get traffic; the decoded metrics must
carry the names and attributes of the semantic conventions and the same counts and histogram sums
as the agent's /metrics scraped once traffic has stopped; an alert (a custom rule on the command
rate) and a slow command (a Lua spin) must arrive as log records, without values. Then the
receiver answers 503 with Retry-After, 400, garbage that is not HTTP, nothing for longer than the
timeout, and is shut down: the agent's command counts still equal INFO commandstats exactly,
/metrics keeps answering promptly, and nexus_agent_otlp_* say what happened. Prints TAP. Needs root
and BTF; without them, or without protoc, every check is reported as skipped.
"""

import gzip
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from unittest import mock

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PROTO_DIR = os.path.join(h.REPO, "agent", "export", "otlp", "proto")
METRICS_MSG = "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest"
LOGS_MSG = "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest"
SECRET = "s3cr3t-value-never-exported"

HELP_CHECK = "--help lists --otlp-endpoint, --otlp-interval, --otlp-gzip, --otlp-histograms"
CHECKS = [
    "POST /v1/metrics arrives with Content-Type application/x-protobuf and Content-Encoding gzip",
    "protoc --decode with the official schema reads every request (metrics and logs)",
    "resource: service.name nexus-agent, service.version, host.name, k8s.node.name/pod/namespace "
    "from NODE_NAME/POD_NAME/POD_NAMESPACE",
    "db.server.operation.duration has Redis (db.system.name redis, db.operation.name get) and "
    "PostgreSQL (postgresql, db.namespace, db.query.summary) points, unit s",
    "cumulative: every counter and histogram point starts at the agent's start time, the same in "
    "every request",
    "Redis command counts (nexus.db.server.operations) equal /metrics' "
    "nexus_redis_commands_total, per command and status",
    "histogram counts and sums equal /metrics' (Redis per command, PostgreSQL per fingerprint), "
    "bucket counts add up to the count",
    "an alert transition arrives as a log record (nexus.alert, firing, WARN)",
    "a slow command arrives as a log record (nexus.redis.slow_command, db.operation.name "
    "eval: a 100 ms Lua spin), once",
    "no Redis value appears in anything sent",
    "a slow PostgreSQL statement arrives as a log record (nexus.postgres.slow_statement) with "
    "its normalised text, without the literal",
    "503 with Retry-After: the agent waits at least Retry-After, retries, then delivers "
    "(retries and sent counted)",
    "400: not retried, counted in nexus_agent_otlp_failed_total{reason=\"rejected\"}",
    "garbage that is not HTTP, a receiver slower than --otlp-timeout, and no receiver: retried "
    "and counted, the queue stays bounded (dropped counted)",
    "through all of it /metrics answers within 1 s and Redis GET/SET counts equal INFO "
    "commandstats exactly",
    "the agent exits 0 on SIGINT without SIGKILL with the collector gone",
]
EXP_CHECKS = [
    "--otlp-gzip off --otlp-histograms exponential: no Content-Encoding, exponential histograms "
    "at scale 5",
    "exponential db.server.operation.duration: count and sum equal /metrics' per command, bucket "
    "counts add up to the count, p50 bucket holds /metrics' median bucket",
    "OTEL_EXPORTER_OTLP_HEADERS (%-decoded) and --otlp-header (replacing the same name) reach the "
    "collector on every request; the agent's output never shows a value",
]


# ----------------------------------------------------------------------- protobuf text format

def parse_text(text):
    """protoc's text format into nested dicts: {field: [values]} (a message is a dict)."""
    tokens = re.findall(r'"(?:\\.|[^"\\])*"|[{}]|[A-Za-z_][\w.]*:?|-?[\d.eE+-]+|\S', text)
    pos = [0]

    def value(tok):
        if tok.startswith('"'):
            return bytes(tok[1:-1], "utf-8").decode("unicode_escape").encode(
                "latin-1").decode("utf-8", "replace")
        try:
            return int(tok)
        except ValueError:
            try:
                return float(tok)
            except ValueError:
                return tok

    def message():
        out = {}
        while pos[0] < len(tokens):
            tok = tokens[pos[0]]
            pos[0] += 1
            if tok == "}":
                return out
            name = tok.rstrip(":")
            nxt = tokens[pos[0]]
            pos[0] += 1
            out.setdefault(name, []).append(message() if nxt == "{" else value(nxt))
        return out

    return message()


def attrs(kvs):
    out = {}
    for kv in kvs or []:
        v = kv["value"][0]
        for k in ("string_value", "int_value", "double_value", "bool_value"):
            if k in v:
                out[kv["key"][0]] = v[k][0]
    return out


def protoc_decode(msg, body):
    proto = "opentelemetry/proto/collector/%s/v1/%s_service.proto" % (
        ("metrics", "metrics") if "metrics" in msg else ("logs", "logs"))
    r = subprocess.run(["protoc", "--decode=" + msg, "-I", PROTO_DIR, proto], input=body,
                       capture_output=True, cwd=PROTO_DIR, timeout=20)
    if r.returncode:
        raise ValueError("protoc: " + r.stderr.decode(errors="replace")[:300])
    return r.stdout.decode()


# -------------------------------------------------------------------------------- the receiver

class Receiver:
    """Loopback OTLP/HTTP receiver. mode: ok | 503 | 400 | garbage | slow."""

    def __init__(self):
        self.lock = threading.Lock()
        self.mode = "ok"
        self.retry_after = "1"
        self.requests = []   # (monotonic time, path, headers, raw body, mode answered)
        self.metrics = []    # decoded metrics requests (dicts), in order
        self.logs = []       # decoded log records (dicts)
        self.decode_errors = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(n)
                with outer.lock:
                    mode = outer.mode
                    outer.requests.append((time.monotonic(), self.path, dict(self.headers),
                                           raw, mode))
                if mode == "garbage":
                    self.wfile.write(b"\x00\x17garbage, not HTTP\r\n\r\n")
                    self.close_connection = True
                    return
                if mode == "slow":
                    time.sleep(3)
                if mode in ("503", "400"):
                    body = b"go away"
                    self.send_response(int(mode))
                    if mode == "503":
                        self.send_header("Retry-After", outer.retry_after)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                try:
                    data = gzip.decompress(raw) if self.headers.get(
                        "Content-Encoding") == "gzip" else raw
                    msg = METRICS_MSG if self.path == "/v1/metrics" else LOGS_MSG
                    tree = parse_text(protoc_decode(msg, data))
                    with outer.lock:
                        if self.path == "/v1/metrics":
                            outer.metrics.append(tree)
                        else:
                            for rl in tree.get("resource_logs", []):
                                for sl in rl.get("scope_logs", []):
                                    outer.logs.extend(sl.get("log_records", []))
                except Exception as e:  # noqa: BLE001
                    with outer.lock:
                        outer.decode_errors.append("%s: %s" % (self.path, e))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode

    def shutdown(self):
        self.server.shutdown()
        self.server.server_close()


def metric_points(req):
    """{metric name: (kind, unit, [(attrs, point dict)])} of a decoded metrics request."""
    out = {}
    for rm in req.get("resource_metrics", []):
        for sm in rm.get("scope_metrics", []):
            for m in sm.get("metrics", []):
                name = m["name"][0]
                for kind in ("sum", "gauge", "histogram", "exponential_histogram"):
                    if kind in m:
                        pts = [(attrs(p.get("attributes")), p)
                               for p in m[kind][0].get("data_points", [])]
                        out.setdefault(name, (kind, m.get("unit", [""])[0], []))[2].extend(pts)
    return out


def resource_attrs(req):
    return attrs(req["resource_metrics"][0]["resource"][0].get("attributes"))


# ----------------------------------------------------------------------------------- /metrics

def scrape(base):
    t = time.monotonic()
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return text, time.monotonic() - t


def samples(text, name):
    """[(labels dict, value)] of one series name in Prometheus text."""
    out = []
    for line in text.splitlines():
        m = re.match(r'^%s(?:\{(.*)\})? (\S+)$' % re.escape(name), line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:\\.|[^"\\])*)"', m.group(1) or ""))
            out.append((labels, float(m.group(2))))
    return out


def metric_value(text, name, **match):
    return sum(v for l, v in samples(text, name) if all(l.get(k) == w for k, w in match.items()))


class Load:
    """GET/SET over one Redis connection and a simple query over psql, until stopped."""

    def __init__(self, rd, pg):
        self.rd, self.pg = rd, pg
        self.stop_ev = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.rd.port), timeout=10)
            f = s.makefile("rb")
            i = 0
            while not self.stop_ev.is_set():
                cmds = [b"*3\r\n$3\r\nSET\r\n$%d\r\nuser:%d\r\n$%d\r\n%s\r\n" % (
                    len(b"user:%d" % (i % 50)), i % 50, len(SECRET), SECRET.encode())]
                cmds += [b"*2\r\n$3\r\nGET\r\n$%d\r\nuser:%d\r\n" % (
                    len(b"user:%d" % (i % 50)), i % 50)] * 3
                s.sendall(b"".join(cmds))
                for c in cmds:
                    line = f.readline()
                    if line.startswith(b"$") and int(line[1:]) >= 0:
                        f.read(int(line[1:]) + 2)
                i += 1
                time.sleep(0.01)
            s.close()
        except Exception as e:  # noqa: BLE001
            self.error = e

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)


def group_help(g):
    r = subprocess.run([h.AGENT, "run", "--help"], capture_output=True, timeout=10)
    out = r.stdout.decode()
    g.check(HELP_CHECK, all(f in out for f in ("--otlp-endpoint", "--otlp-interval",
                                                "--otlp-gzip", "--otlp-histograms")),
            [out[-400:]])


def group_flow(g):
    c = CHECKS
    tmp = tempfile.mkdtemp(prefix="nx-otlp-")
    recv = Receiver()
    load = None
    try:
        with h.redis_server() as rd, h.postgres_server() as pg:
            cfg = os.path.join(tmp, "alerts.yaml")
            with open(cfg, "w") as f:
                f.write("custom_rules:\n  - name: otlp_test_traffic\n"
                        "    metric: nexus_redis_commands_total\n    rate: true\n"
                        "    op: \">\"\n    threshold: 5\n    clear: 1\n    for: 1s\n"
                        "    severity: warning\n    summary: \"test: Redis traffic\"\n")
            port = h.free_port()
            base = "http://127.0.0.1:%d" % port
            # the agent inherits the environment: the downward API's variables
            os.environ.update(NODE_NAME="node-a", POD_NAME="agent-xyz",
                              POD_NAMESPACE="monitoring")
            with h.agent("--no-default-targets", "--pid", str(rd.pid), "--pid", str(pg.pid),
                         "--listen", "127.0.0.1:%d" % port, "--alerts", cfg,
                         "--slow-command-ms", "50", "--otlp-endpoint",
                         "http://127.0.0.1:%d/" % recv.port, "--otlp-interval", "1",
                         "--otlp-timeout", "1", "--otlp-queue", "4",
                         mode="run", raw=False) as a:
                load = Load(rd, pg).start()
                for i in range(30):
                    pg.psql("SELECT %d AS n, pg_sleep(0.001)" % i)
                for _ in range(3):
                    pg.psql("SELECT pg_sleep(0.0611)")
                # a 100 ms Lua spin (DEBUG is disabled by default since Redis 7)
                rd.cli("EVAL", "local t = redis.call('TIME') local e = t[1] * 1000000 + t[2] + "
                       "100000 repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] "
                       ">= e return 1", "0")
                time.sleep(6)
                load.stop()
                # quiet: wait for two pushes that agree, then scrape
                time.sleep(2.5)
                with recv.lock:
                    n0 = len(recv.metrics)
                h.wait_until(lambda: len(recv.metrics) >= n0 + 1, 5)
                text, _ = scrape(base)
                with recv.lock:
                    reqs = list(recv.requests)
                    mreqs = list(recv.metrics)
                    logs = list(recv.logs)
                    errs = list(recv.decode_errors)
                first = next((r for r in reqs if r[1] == "/v1/metrics"), None)
                g.check(c[0], first is not None and
                        first[2].get("Content-Type") == "application/x-protobuf" and
                        first[2].get("Content-Encoding") == "gzip" and
                        first[3][:2] == b"\x1f\x8b",
                        ["first request: %r" % (first[:3] if first else None,)] +
                        a.stderr_tail(6))
                g.check(c[1], mreqs and logs and not errs,
                        ["%d metrics requests, %d log records decoded; errors: %s" % (
                            len(mreqs), len(logs), errs[:3])])
                last = mreqs[-1] if mreqs else {"resource_metrics": [{"resource": [{}]}]}
                res = resource_attrs(last)
                g.check(c[2], res.get("service.name") == "nexus-agent" and
                        res.get("service.version") and
                        res.get("host.name") == socket.gethostname() and
                        res.get("k8s.node.name") == "node-a" and
                        res.get("k8s.pod.name") == "agent-xyz" and
                        res.get("k8s.namespace.name") == "monitoring", [repr(res)])
                pts = metric_points(last)
                dur = pts.get("db.server.operation.duration", ("", "", []))
                redis_get = [p for at, p in dur[2] if at.get("db.system.name") == "redis" and
                             at.get("db.operation.name") == "get" and
                             at.get("server.port") == rd.port]
                pg_pts = [(at, p) for at, p in dur[2] if at.get("db.system.name") ==
                          "postgresql" and at.get("db.namespace") and
                          at.get("db.query.summary")]
                g.check(c[3], dur[0] == "histogram" and dur[1] == "s" and redis_get and pg_pts,
                        ["db.server.operation.duration: kind %r unit %r, %d points" % (
                            dur[0], dur[1], len(dur[2]))] +
                        [repr(at) for at, _ in dur[2][:6]])
                start_s = metric_value(text, "nexus_agent_start_time_seconds")
                starts = set()
                for req in mreqs:
                    for name, (kind, unit, ps) in metric_points(req).items():
                        if kind in ("sum", "histogram"):
                            starts.update(p.get("start_time_unix_nano", [0])[0] for _, p in ps)
                g.check(c[4], len(starts) == 1 and
                        abs(list(starts)[0] / 1e9 - start_s) < 1.0,
                        ["start times seen: %s; /metrics start %s" % (sorted(starts)[:4],
                                                                      start_s)])
                ops = pts.get("nexus.db.server.operations", ("", "", []))[2]
                bad = []
                for labels, v in samples(text, "nexus_redis_commands_total"):
                    got = [p["as_double"][0] for at, p in ops
                           if at.get("db.system.name") == "redis" and
                           at.get("db.operation.name") == labels["command"] and
                           at.get("error.type", "ok") == labels["status"]]
                    if got != [v]:
                        bad.append("%s: /metrics %s, OTLP %s" % (labels, v, got))
                g.check(c[5], ops and not bad and samples(text, "nexus_redis_commands_total"),
                        bad[:6])
                bad = []
                for labels, v in samples(text, "nexus_redis_command_duration_seconds_count"):
                    s = metric_value(text, "nexus_redis_command_duration_seconds_sum", **labels)
                    got = [p for at, p in dur[2] if at.get("db.system.name") == "redis" and
                           at.get("db.operation.name") == labels["command"]]
                    if len(got) != 1 or got[0]["count"][0] != v or \
                            abs(got[0]["sum"][0] - s) > 1e-9 * max(1, s) or \
                            sum(got[0].get("bucket_counts", [])) != v:
                        bad.append("%s: /metrics %s/%s, OTLP %s" % (labels, v, s, got[:1]))
                for labels, v in samples(text, "nexus_postgres_query_duration_seconds_count"):
                    s = metric_value(text, "nexus_postgres_query_duration_seconds_sum", **labels)
                    got = [p for at, p in pg_pts + [(at, p) for at, p in dur[2]]
                           if at.get("db.system.name") == "postgresql" and
                           at.get("nexus.db.query.fingerprint") == labels["fingerprint"] and
                           at.get("db.namespace") == labels["database"]]
                    if not got or got[0]["count"][0] != v or \
                            abs(got[0]["sum"][0] - s) > 1e-9 * max(1, s):
                        bad.append("pg %s: /metrics %s/%s, OTLP %s" % (labels, v, s, got[:1]))
                g.check(c[6], not bad and samples(text,
                                                  "nexus_postgres_query_duration_seconds_count"),
                        bad[:6])
                alert_logs = [l for l in logs if l.get("event_name", [""])[0] == "nexus.alert"]
                firing = [l for l in alert_logs if attrs(l.get("attributes")).get(
                    "nexus.alert.name") == "otlp_test_traffic" and attrs(
                    l.get("attributes")).get("nexus.alert.state") == "firing"]
                g.check(c[7], len(firing) == 1 and firing[0]["severity_text"][0] == "WARN" and
                        firing[0]["severity_number"][0] in ("SEVERITY_NUMBER_WARN", 13),
                        ["alert records: %s" % [attrs(l.get("attributes")) for l in
                                                alert_logs][:4]] + a.stderr_tail(5))
                slow = [l for l in logs if l.get("event_name", [""])[0] ==
                        "nexus.redis.slow_command" and attrs(l.get("attributes")).get(
                        "db.operation.name") == "eval"]
                g.check(c[8], len(slow) == 1 and "slow command eval" in slow[0]["body"][0][
                    "string_value"][0], ["slow records: %s" % [
                        (attrs(l.get("attributes")), l.get("body")) for l in logs if
                        l.get("event_name", [""])[0] == "nexus.redis.slow_command"][:3],
                        "events: %s" % sorted(set(l.get("event_name", [""])[0] for l in logs)),
                        "api: %s" % urllib.request.urlopen(
                            base + "/api/v1/cache/slow-commands", timeout=5).read()[:600]])
                leaked = [r[1] for r in reqs if SECRET.encode() in (
                    gzip.decompress(r[3]) if r[3][:2] == b"\x1f\x8b" else r[3])]
                g.check(c[9], not leaked and reqs, ["value found in %s" % leaked[:3]])
                pgslow = [l for l in logs if l.get("event_name", [""])[0] ==
                          "nexus.postgres.slow_statement"]
                texts = [attrs(l.get("attributes")).get("db.query.text", "") for l in pgslow]
                g.check(c[10], len([t for t in texts if "pg_sleep($1)" in t]) == 1 and
                        not any("0.0611" in t or "0.0611" in l["body"][0]["string_value"][0]
                                for t, l in zip(texts, pgslow)),
                        ["slow statements: %s" % [(attrs(l.get("attributes")),
                                                   l.get("body")) for l in pgslow][:3]])

                # ---- faults, with traffic running
                cs0 = h.commandstats(rd)
                load = Load(rd, pg).start()
                slow_scrapes = []

                def counters():
                    t, dt = scrape(base)
                    if dt > 1.0:
                        slow_scrapes.append(dt)
                    return t

                t0 = counters()
                recv.retry_after = "2"
                recv.set_mode("503")
                time.sleep(2.2)
                recv.set_mode("ok")
                h.wait_until(lambda: metric_value(counters(), "nexus_agent_otlp_sent_total",
                                                  signal="metrics") >
                             metric_value(t0, "nexus_agent_otlp_sent_total", signal="metrics")
                             + 1, 10)
                t1 = counters()
                with recv.lock:
                    r503 = [r for r in recv.requests if r[4] == "503"]
                    after = [r for r in recv.requests if r[4] == "ok" and r503 and
                             r[0] > r503[0][0]]
                gap = after[0][0] - r503[0][0] if after and r503 else None
                g.check(c[11], r503 and gap is not None and gap >= 1.9 and
                        metric_value(t1, "nexus_agent_otlp_retries_total") >
                        metric_value(t0, "nexus_agent_otlp_retries_total") and
                        metric_value(t1, "nexus_agent_otlp_sent_total") >
                        metric_value(t0, "nexus_agent_otlp_sent_total"),
                        ["503 answers %d, first retry after %s s" % (len(r503), gap),
                         "retries %s -> %s" % (
                             metric_value(t0, "nexus_agent_otlp_retries_total"),
                             metric_value(t1, "nexus_agent_otlp_retries_total"))])
                recv.set_mode("400")
                time.sleep(2.5)
                recv.set_mode("ok")
                time.sleep(1.5)
                t2 = counters()
                with recv.lock:
                    n400 = len([r for r in recv.requests if r[4] == "400"])
                rejected = metric_value(t2, "nexus_agent_otlp_failed_total", reason="rejected")
                g.check(c[12], n400 >= 1 and rejected == n400,
                        ["%d requests answered 400, rejected counted %s" % (n400, rejected)])
                r_before = metric_value(t2, "nexus_agent_otlp_retries_total")
                for mode in ("garbage", "slow"):
                    recv.set_mode(mode)
                    time.sleep(4)
                recv.shutdown()
                time.sleep(8)
                t3 = counters()
                load.stop()
                time.sleep(2.5)
                t4 = counters()
                cs1 = h.commandstats(rd)
                with recv.lock:
                    kinds = {m: len([r for r in recv.requests if r[4] == m])
                             for m in ("garbage", "slow")}
                g.check(c[13], kinds["garbage"] >= 1 and kinds["slow"] >= 1 and
                        metric_value(t3, "nexus_agent_otlp_retries_total") > r_before and
                        metric_value(t3, "nexus_agent_otlp_queued_requests") <= 4 and
                        metric_value(t3, "nexus_agent_otlp_dropped_total") > 0,
                        ["answered: %s; retries %s -> %s; queued %s; dropped %s" % (
                            kinds, r_before, metric_value(t3, "nexus_agent_otlp_retries_total"),
                            metric_value(t3, "nexus_agent_otlp_queued_requests"),
                            metric_value(t3, "nexus_agent_otlp_dropped_total"))])
                diffs = []
                for cmd in ("get", "set"):
                    agent_n = metric_value(t4, "nexus_redis_commands_total", command=cmd)
                    if agent_n != cs1.get(cmd, 0):
                        diffs.append("%s: agent %s, INFO %s (before faults %s)" % (
                            cmd, agent_n, cs1.get(cmd), cs0.get(cmd)))
                g.check(c[14], not slow_scrapes and not diffs and load.error is None and
                        cs1.get("get", 0) > cs0.get("get", 0),
                        diffs + ["slow scrapes: %s" % slow_scrapes, "load: %s" % load.error])
            g.check(c[15], a.returncode == 0 and not a.killed,
                    ["exit %s killed %s" % (a.returncode, a.killed)] + a.stderr_tail(6))
    finally:
        if load:
            load.stop()
        try:
            recv.shutdown()
        except Exception:  # noqa: BLE001 - already shut down
            pass
        shutil.rmtree(tmp, ignore_errors=True)


def group_exponential(g):
    c = EXP_CHECKS
    recv = Receiver()
    load = None
    try:
        with h.redis_server() as rd, h.postgres_server() as pg:
            port = h.free_port()
            base = "http://127.0.0.1:%d" % port
            # headers as a hosted collector wants them: one from the environment, one from it
            # replaced by the flag
            env = {"OTEL_EXPORTER_OTLP_HEADERS":
                   "x-nx-team=ops%2Cdev,authorization=Bearer%20nx-env-secret"}
            with mock.patch.dict(os.environ, env), \
                    h.agent("--no-default-targets", "--pid", str(rd.pid), "--listen",
                            "127.0.0.1:%d" % port, "--no-alerts", "--otlp-endpoint",
                            "http://127.0.0.1:%d" % recv.port, "--otlp-interval", "1",
                            "--otlp-gzip", "off", "--otlp-histograms", "exponential",
                            "--otlp-header", "Authorization=Bearer nx-flag-secret",
                            mode="run", raw=False) as agent:
                load = Load(rd, pg).start()
                time.sleep(4)
                load.stop()
                time.sleep(2.5)
                with recv.lock:
                    n0 = len(recv.metrics)
                h.wait_until(lambda: len(recv.metrics) >= n0 + 1, 5)
                text, _ = scrape(base)
                with recv.lock:
                    reqs = [r for r in recv.requests if r[1] == "/v1/metrics"]
                    last = recv.metrics[-1] if recv.metrics else {}
                dur = metric_points(last).get("db.server.operation.duration", ("", "", []))
                g.check(c[0], reqs and all("Content-Encoding" not in r[2] for r in reqs) and
                        dur[0] == "exponential_histogram" and dur[2] and
                        all(p["scale"][0] == 5 for _, p in dur[2]),
                        ["%d requests; kind %r; headers %s" % (
                            len(reqs), dur[0], reqs[0][2] if reqs else None)])
                bad = []
                for labels, v in samples(text, "nexus_redis_command_duration_seconds_count"):
                    s = metric_value(text, "nexus_redis_command_duration_seconds_sum", **labels)
                    got = [p for at, p in dur[2] if at.get("db.operation.name") ==
                           labels["command"]]
                    if len(got) != 1:
                        bad.append("%s: %d points" % (labels, len(got)))
                        continue
                    p = got[0]
                    counts = p.get("positive", [{}])[0].get("bucket_counts", [])
                    if p["count"][0] != v or abs(p["sum"][0] - s) > 1e-9 * max(1, s) or \
                            sum(counts) + p.get("zero_count", [0])[0] != v:
                        bad.append("%s: /metrics %s/%s, OTLP %s/%s, buckets %s" % (
                            labels, v, s, p["count"][0], p["sum"][0], sum(counts)))
                        continue
                    # the median's exponential bucket against the /metrics le buckets
                    off = p["positive"][0].get("offset", [0])[0]
                    acc, med = 0, None
                    for k, n in enumerate(counts):
                        acc += n
                        if acc >= v / 2:
                            med = (2 ** ((off + k) / 32), 2 ** ((off + k + 1) / 32))
                            break
                    les = sorted((float(l["le"]), n) for l, n in samples(
                        text, "nexus_redis_command_duration_seconds_bucket")
                        if l.get("command") == labels["command"] and l["le"] != "+Inf")
                    above = [le for le, n in les if n >= v / 2]
                    below = [le for le, n in les if n < v / 2]
                    if med and above and not (med[0] <= above[0] * 1.02 and
                                              (not below or med[1] >= below[-1] * 0.98)):
                        bad.append("%s: median bucket %s outside le (%s, %s]" % (
                            labels, med, below[-1:] or 0, above[0]))
                g.check(c[1], not bad and samples(
                    text, "nexus_redis_command_duration_seconds_count"), bad[:6])
                with recv.lock:
                    hdrs = [{k.lower(): v for k, v in r[2].items()} for r in recv.requests]
                said = "\n".join(agent.stderr)
                g.check(c[2], hdrs and all(x.get("authorization") == "Bearer nx-flag-secret" and
                                           x.get("x-nx-team") == "ops,dev" for x in hdrs) and
                        "secret" not in said,
                        ["%d requests; first: %s" % (len(hdrs), hdrs[:1])] + agent.stderr_tail(4))
    finally:
        if load:
            load.stop()
        recv.shutdown()


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    priv = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "protoc")
    skip = priv or ("missing tools: %s" % " ".join(missing) if missing else None)

    h.run_group(tap, [HELP_CHECK], h.guarded(group_help, 20))
    h.run_group(tap, CHECKS, h.guarded(group_flow, 300), skip)
    h.run_group(tap, EXP_CHECKS, h.guarded(group_exponential, 120), skip)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
