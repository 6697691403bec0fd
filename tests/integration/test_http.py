#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The agent's HTTP endpoint under abuse (issue 13: "a safe HTTP endpoint").

A live `nexus-agent run` watches a real redis-server that a separate process keeps busy. Its
endpoint gets malformed request lines, 1 MB of headers, garbage bytes, bodies on GET, bad methods,
unknown paths, HTTP/1.0, pipelined requests, a flood of connections beyond the caps, and clients
that send a byte a second, while one client (from another loopback address) scrapes /metrics
with the bearer token: every one of those scrapes must answer 200 with p99 under 100 ms. Then
TLS: a self-signed certificate made here, curl --cacert, plain HTTP to the TLS port. Throughout,
the agent's Redis command counts must equal INFO commandstats exactly and it must not crash.

Option errors (mismatched certificate, missing key, one TLS flag, a world-readable token file) are
checked first; they need no root. Prints TAP.
"""

import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_redis as tr  # noqa: E402  (INFO commandstats and the agent's Redis view)

TIMEOUT_S = 3      # --http-timeout: the deadline a request gets
MAX_CONNS = 32     # --http-max-conns
PER_IP = 8         # --http-max-conns-per-ip
SCRAPER = "127.0.0.2"  # the good client's own address: the per-IP cap of the flood is not its
FLOOD = "127.0.0.1"
DRIP = "127.0.0.3"
P99_MS = 100.0

# A paced Redis load in its own process (no GIL shared with the scraper's timing): pipelined
# SET/GET batches, about 2,000 commands a second, until stdin closes.
LOAD = r"""
import socket, sys, threading, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
def cmd(*a):
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
i = 0
while not stop.is_set():
    batch = b"".join(cmd(b"SET", b"load:%d" % (i + k), b"v") + cmd(b"GET", b"load:%d" % (i + k))
                     for k in range(10))
    s.sendall(batch)
    want, got = 20, b""
    while got.count(b"\r\n") < want + 10:  # 10 "+OK" + 10 bulk replies ($1 + value)
        got += s.recv(65536)
    i += 10
    time.sleep(0.01)
s.close()
"""


# ------------------------------------------------------------------------------------- clients

def connect(port, src=None, timeout=5.0, tls_ctx=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    if tls_ctx:
        s = tls_ctx.wrap_socket(s, server_hostname="localhost")
    return s


def exchange(port, data, src=None, timeout=5.0, tls_ctx=None):
    """Send data, read until the server closes or timeout; (reply bytes, error or None, secs)."""
    t0 = time.monotonic()
    buf, err = b"", None
    try:
        s = connect(port, src, timeout, tls_ctx)
    except OSError as e:
        return b"", "connect: %s" % e, time.monotonic() - t0
    try:
        try:
            s.sendall(data)
        except OSError as e:  # the server may answer and close before all of it is sent
            err = "send: %s" % e
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        err = "timed out (server kept the connection open)"
    except OSError as e:
        err = err or "recv: %s" % e
    finally:
        s.close()
    return buf, err, time.monotonic() - t0


def responses(buf):
    """[(status, {header: value}, body)] of consecutive HTTP responses (Content-Length bodies)."""
    out = []
    while buf:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"^HTTP/1\.[01] (\d{3}) ", lines[0])
        if not m:
            break
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        n = int(hdrs.get("content-length", ["0"])[0])
        out.append((int(m.group(1)), hdrs, rest[:n]))
        buf = rest[n:]
    return out


def get(port, path, token=None, src=None, extra=b"", version=b"HTTP/1.1", tls_ctx=None,
        method=b"GET"):
    req = b"%s %s %s\r\nHost: localhost\r\nConnection: close\r\n" % (method, path.encode(),
                                                                     version)
    if token:
        req += b"Authorization: Bearer %s\r\n" % token.encode()
    buf, err, secs = exchange(port, req + extra + b"\r\n", src, tls_ctx=tls_ctx)
    r = responses(buf)
    return (r[0] if r else (None, {}, buf)), err, secs


def wait_listening(port, timeout=10):
    """The agent says "attached" before its HTTP server is up: wait for the port."""
    def up():
        try:
            connect(port, timeout=1).close()
            return True
        except OSError:
            return False
    if not h.wait_until(up, timeout, 0.1):
        raise h.HarnessError("nothing listens on port %d" % port)


def is_open(s):
    """The server has not closed this (idle) connection."""
    old = s.gettimeout()
    s.settimeout(0)  # with a timeout set, Python would wait out a read that has nothing yet
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.settimeout(old)


def answered(s):
    """Something (a reply) has arrived on s, or the server closed it."""
    old = s.gettimeout()
    s.settimeout(0)
    try:
        return True if s.recv(1, socket.MSG_PEEK) is not None else False
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.settimeout(old)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else None


# ----------------------------------------------------------------------------- option errors

ERROR_CHECKS = [
    "option errors: --tls-cert and --tls-key that do not match: exit 2 naming both files",
    "option errors: a missing --tls-key file: exit 2 naming it",
    "option errors: --tls-cert without --tls-key: exit 2 saying so",
    "option errors: a world-readable --auth-token-file: exit 2 naming it and its mode",
    "option errors: an empty --auth-token-file: exit 2",
]


def make_cert(d, name, cn="localhost"):
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    r, _ = h.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                  "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
                  "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], timeout=60)
    if r.returncode != 0:
        raise h.HarnessError("openssl req failed: %s" % r.stderr.decode(errors="replace"))
    os.chmod(key, 0o600)
    return cert, key


def write_token(d, name, token, mode=0o600):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(token + "\n")
    os.chmod(p, mode)
    return p


def agent_fails(*args):
    r, _ = h.run([h.AGENT, "run", "--listen", "127.0.0.1:%d" % h.free_port()] + list(args),
                 timeout=30)
    return r.returncode, r.stderr.decode(errors="replace")


def group_errors(g, d):
    c = ERROR_CHECKS
    cert, key = make_cert(d, "a")
    _, key2 = make_cert(d, "b", cn="other")
    rc, err = agent_fails("--tls-cert", cert, "--tls-key", key2)
    g.check(c[0], rc == 2 and cert in err and key2 in err and "do not match" in err,
            "exit %s: %s" % (rc, err.strip()))
    rc, err = agent_fails("--tls-cert", cert, "--tls-key", os.path.join(d, "nope.key"))
    g.check(c[1], rc == 2 and "--tls-key %s" % os.path.join(d, "nope.key") in err
            and "No such file" in err, "exit %s: %s" % (rc, err.strip()))
    rc, err = agent_fails("--tls-cert", cert)
    g.check(c[2], rc == 2 and "--tls-cert needs --tls-key" in err,
            "exit %s: %s" % (rc, err.strip()))
    tok = write_token(d, "open-token", "abc", 0o644)
    rc, err = agent_fails("--auth-token-file", tok)
    g.check(c[3], rc == 2 and tok in err and "0644" in err, "exit %s: %s" % (rc, err.strip()))
    tok = write_token(d, "empty-token", "", 0o600)
    rc, err = agent_fails("--auth-token-file", tok)
    g.check(c[4], rc == 2 and "empty" in err, "exit %s: %s" % (rc, err.strip()))


# ------------------------------------------------------------------------------ abuse, plain

ABUSE_CHECKS = [
    "token: /metrics without a token: 401 with WWW-Authenticate: Bearer, no metrics in it",
    "token: a wrong token: 401; Basic with the token as password: 200",
    "token: the right token: 200 and /metrics parses, with this server's Redis commands",
    "token: an unknown path: 401 without the token, 404 with it; /healthz is not asked for one",
    "bad methods (POST PUT DELETE PATCH OPTIONS TRACE BREW): 405 with Allow: GET, HEAD",
    "a body on GET (Content-Length, chunked): 413",
    "HTTP/1.0 GET: 200 and the connection closed after the body",
    "pipelined requests on one connection: three answers, in order (200, 404, 200)",
    "malformed request lines: an error status (4xx/505) or a closed connection, never a hang",
    "1 MB of headers: 431, never the route",
    "64 KiB of random garbage bytes: closed (or 4xx) within the deadline",
    "a flood of 100 idle connections from one address: at most --http-max-conns-per-ip held",
    "byte-a-second clients: cut by the deadline (%d s), not when they finish" % TIMEOUT_S,
    "all the while, a scraper from another address: every /metrics 200, p99 < %d ms" % P99_MS,
    "40 clients from 40 addresses: --http-max-conns answered at once, the rest after the deadline",
    "SIGHUP with a new token file: the new token works, the old one gets 401",
    "capture stayed exact: agent set/get/info counts == INFO commandstats deltas",
    "the agent did not crash and exits 0 on SIGINT",
]


class Flood(threading.Thread):
    """Keeps up to n idle connections open from src; records how many the server holds."""

    def __init__(self, port, src, n):
        super().__init__(daemon=True)
        self.port, self.src, self.n = port, src, n
        self.stop = threading.Event()
        self.socks = []
        self.held_max = 0
        self.opened = 0

    def run(self):
        while not self.stop.is_set():
            self.socks = [s for s in self.socks if is_open(s) or s.close()]
            while len(self.socks) < self.n and not self.stop.is_set():
                try:
                    self.socks.append(connect(self.port, self.src, 2))
                    self.opened += 1
                except OSError:
                    break
            time.sleep(0.3)  # let the server refuse the excess
            self.held_max = max(self.held_max, sum(1 for s in self.socks if is_open(s)))
        for s in self.socks:
            s.close()


class Drip(threading.Thread):
    """Sends a request one byte a second; records when the server cut it."""

    def __init__(self, port, src):
        super().__init__(daemon=True)
        self.port, self.src = port, src
        self.cut_after = None
        self.sent = 0
        self.error = None

    def run(self):
        req = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"z" * 64 + b"\r\n\r\n"
        try:
            s = connect(self.port, self.src, 2)
        except OSError as e:
            self.error = str(e)
            return
        t0 = time.monotonic()
        try:
            for b in req:
                s.send(bytes([b]))
                self.sent += 1
                time.sleep(1.0)
                if not is_open(s):
                    break
        except OSError:
            pass
        self.cut_after = time.monotonic() - t0
        s.close()


def scrape_loop(port, token, seconds, out):
    """Scrapes /metrics from SCRAPER every 100 ms for seconds; (status, ms) into out."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        (st, _, body), err, secs = get(port, "/metrics", token, src=SCRAPER)
        out.append((st, secs * 1000.0, err))
        time.sleep(0.1)
    return body


def agent_view(port, token, server):
    (st, _, body), err, _ = get(port, "/metrics", token, src=SCRAPER)
    if st != 200:
        raise h.HarnessError("/metrics with the token: %s %s" % (st, err))
    return tr.View(body.decode(), server)


def wait_info(port, token, server, n, timeout=20):
    """The agent's view once it has counted n INFO calls (everything before them is in it)."""
    box = {}

    def look():
        v = agent_view(port, token, server)
        box["v"] = v
        return v.count("info") >= n
    if not h.wait_until(look, timeout, 0.2):
        raise h.HarnessError("the agent never counted INFO call %d (it has %s)"
                             % (n, box["v"].count("info") if "v" in box else None))
    return box["v"]


def group_abuse(g, d):
    c = ABUSE_CHECKS
    token = "nx-" + os.urandom(16).hex()
    tokfile = write_token(d, "token", token)
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        port = h.free_port()
        load = None
        with h.agent("--no-default-targets", "--pid", str(rd.pid), "--no-alerts",
                     "--listen", "127.0.0.1:%d" % port, "--auth-token-file", tokfile,
                     "--http-timeout", str(TIMEOUT_S), "--http-max-conns", str(MAX_CONNS),
                     "--http-max-conns-per-ip", str(PER_IP), mode="run", raw=False) as a:
            try:
                wait_listening(port)
                info_b = tr.redis_info(rd)
                view_b = wait_info(port, token, server, 1)
                load = subprocess.Popen([sys.executable, "-c", LOAD, str(rd.port)],
                                        stdin=subprocess.PIPE)
                token = abuse(g, c, a, port, token, tokfile, server)
                load.stdin.close()
                load.wait(timeout=10)
                load = None
                info_a = tr.redis_info(rd)
                wait_info(port, token, server, 2)
                time.sleep(tr.PUBLISH_WAIT)
                view_a = agent_view(port, token, server)
                want = tr.info_delta(info_b, info_a)["cmds"]
                got = {k: view_a.count(k) - view_b.count(k) for k in ("set", "get", "info")}
                want_sg = {k: want.get(k, (0, 0))[0] for k in ("set", "get")}
                want_sg["info"] = 1  # the one between the views (commandstats omits its own)
                g.check(c[16], got == want_sg and want_sg["set"] > 1000,
                        "agent %s, INFO commandstats %s" % (got, want_sg))
            finally:
                if load:
                    load.kill()
        g.check(c[17], a.returncode == 0 and not a.killed,
                ["exit status %s (killed: %s)" % (a.returncode, a.killed)] + a.stderr_tail())


def abuse(g, c, a, port, token, tokfile, server):
    """Every abuse check but the last two; returns the token in force at the end."""
    (st, hd, body), err, _ = get(port, "/metrics")
    g.check(c[0], st == 401 and "Bearer" in " ".join(hd.get("www-authenticate", []))
            and b"nexus_" not in body, "%s %s %r %s" % (st, hd, body[:200], err))
    (st1, _, _), _, _ = get(port, "/metrics", "wrong-" + token)
    basic = base64.b64encode(("prometheus:" + token).encode())
    (st2, _, _), _, _ = get(port, "/metrics", extra=b"Authorization: Basic %s\r\n" % basic)
    g.check(c[1], st1 == 401 and st2 == 200, "wrong token: %s, Basic: %s" % (st1, st2))
    (st, hd, body), err, _ = get(port, "/metrics", token)
    try:
        v = tr.View(body.decode(), server)
        good = st == 200 and v.count("info") >= 1
        why = "status %s, info count %s" % (st, v.count("info"))
    except (h.PromParseError, UnicodeDecodeError) as e:
        good, why = False, "status %s: %s" % (st, e)
    g.check(c[2], good, why)
    (s1, _, _), _, _ = get(port, "/no/such/path")
    (s2, _, _), _, _ = get(port, "/no/such/path", token)
    (s3, _, _), _, _ = get(port, "/healthz")
    g.check(c[3], s1 == 401 and s2 == 404 and s3 not in (401, None),
            "without token %s, with %s, /healthz %s" % (s1, s2, s3))

    bad = {}
    for m in (b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"BREW"):
        (st, hd, _), err, _ = get(port, "/metrics", token, method=m,
                                  extra=b"Content-Length: 0\r\n")
        if st != 405 or hd.get("allow") != ["GET, HEAD"]:
            bad[m.decode()] = (st, hd.get("allow"), err)
    g.check(c[4], not bad, "answers: %s" % bad)
    auth = b"Authorization: Bearer %s\r\n" % token.encode()
    buf, e1, _ = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + auth +
                          b"Content-Length: 11\r\n\r\nhello world")
    r1 = responses(buf)
    s1 = r1[0][0] if r1 else None
    buf, e2, _ = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                          % token.encode())
    r2 = responses(buf)
    g.check(c[5], s1 == 413 and r2 and r2[0][0] == 413,
            "Content-Length: %s (%s); chunked: %s (%s)" % (s1, e1, r2[:1], e2))

    buf, err, secs = exchange(port, b"GET /metrics HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n"
                              % token.encode())
    r = responses(buf)
    g.check(c[6], len(r) == 1 and r[0][0] == 200 and b"nexus_agent_build_info" in r[0][2]
            and err is None, "%s, %s, %.1fs" % ([x[0] for x in r], err, secs))

    buf, err, _ = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"
                           b"GET /nope HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"
                           b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth +
                           b"\r\n")
    r = responses(buf)
    g.check(c[7], [x[0] for x in r] == [200, 404, 200] and err is None,
            "statuses %s, %s" % ([x[0] for x in r], err))

    malformed = [b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET /metrics HTTP/9.9\r\n\r\n",
                 b"GET /metrics\r\n\r\n", b" / HTTP/1.1\r\n\r\n",
                 b"GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n",
                 b"GET /metrics HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n",
                 b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                 b"GET /\x00\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"\r\n\r\n\r\n\r\n"]
    bad = []
    for req in malformed:
        buf, err, secs = exchange(port, req, timeout=TIMEOUT_S + 3)
        st = re.match(rb"^HTTP/1\.[01] (\d{3}) ", buf)
        ok = (st and st.group(1)[:1] in (b"4", b"5") and st.group(1) != b"500") or \
            (not buf and secs < TIMEOUT_S + 2)
        if not ok:
            bad.append((req, buf[:60], err, round(secs, 1)))
    g.check(c[8], not bad, "bad answers: %s" % bad)

    big = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + auth + b"X-Big: " + b"a" * (1 << 20) + \
        b"\r\n\r\n"
    buf, err, _ = exchange(port, big)
    r = responses(buf)
    g.check(c[9], r and r[0][0] == 431, "%r, %s" % (buf[:80], err))

    rnd = random.Random(13)
    garbage = bytes(rnd.getrandbits(8) for _ in range(64 * 1024))
    buf, err, secs = exchange(port, garbage, timeout=TIMEOUT_S + 4)
    st = re.match(rb"^HTTP/1\.[01] (4\d\d) ", buf)
    g.check(c[10], (st or not buf) and secs < TIMEOUT_S + 2,
            "%r, %s after %.1fs" % (buf[:80], err, secs))

    # The flood, the drips and the scraper at once.
    flood = Flood(port, FLOOD, 100)
    drips = [Drip(port, DRIP) for _ in range(4)]
    flood.start()
    for t in drips:
        t.start()
    lat = []
    scrape_loop(port, token, TIMEOUT_S + 4, lat)
    flood.stop.set()
    for t in drips:
        t.join(timeout=30)
    flood.join(timeout=10)
    g.check(c[11], 0 < flood.held_max <= PER_IP,
            "held at most %d of %d opened (cap %d)" % (flood.held_max, flood.opened, PER_IP))
    cuts = [t.cut_after for t in drips]
    g.check(c[12], all(x is not None and x < TIMEOUT_S + 2.5 for x in cuts)
            and all(t.sent < 30 for t in drips),
            "cut after %s s, bytes sent %s, errors %s"
            % ([round(x, 1) if x else x for x in cuts], [t.sent for t in drips],
               [t.error for t in drips]))
    ms = [m for _, m, _ in lat]
    not200 = [(s, e) for s, _, e in lat if s != 200]
    g.tap.diag("scrapes during the flood and drips: %d, p50 %.1f ms, p99 %.1f ms, max %.1f ms"
               % (len(lat), pct(ms, 50) or 0, pct(ms, 99) or 0, max(ms or [0])))
    g.check(c[13], len(lat) >= 20 and not not200 and pct(ms, 99) < P99_MS,
            "%d scrapes, not 200: %s, p50 %.1f ms, p99 %.1f ms, max %.1f ms"
            % (len(lat), not200[:5], pct(ms, 50) or 0, pct(ms, 99) or 0, max(ms or [0])))

    # 40 clients, each from its own address (the per-IP cap is not what stops them): libmicrohttpd
    # takes MAX_CONNS of them; the others wait in the kernel's backlog until a slot frees.
    socks = []
    for i in range(40):
        try:
            socks.append(connect(port, "127.0.1.%d" % (i + 1), 2))
        except OSError:
            pass
    time.sleep(0.5)
    for s in socks:
        s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")  # keep-alive
    time.sleep(1.0)
    fast = sum(1 for s in socks if answered(s))
    time.sleep(TIMEOUT_S + 1.5)  # the first ones are cut: the waiting ones get their turn
    late = sum(1 for s in socks if answered(s))
    for s in socks:
        s.close()
    (st, _, _), err, _ = get(port, "/metrics", token, src=SCRAPER)
    g.check(c[14], len(socks) == 40 and fast == MAX_CONNS and late == 40 and st == 200,
            "%d connected, %d answered at once (cap %d), %d after the deadline; then /metrics "
            "%s %s" % (len(socks), fast, MAX_CONNS, late, st, err))

    new = "nx-" + os.urandom(16).hex()
    write_token(os.path.dirname(tokfile), os.path.basename(tokfile), new)
    a.proc.send_signal(signal.SIGHUP)
    ok = h.wait_until(lambda: get(port, "/metrics", new, src=SCRAPER)[0][0] == 200, 5, 0.2)
    (so, _, _), _, _ = get(port, "/metrics", token)
    g.check(c[15], ok and so == 401, "new token answered: %s, old token: %s" % (bool(ok), so))
    return new


# ------------------------------------------------------------------------------------------- TLS

TLS_CHECKS = [
    "TLS: curl --cacert (a self-signed certificate made here) scrapes /metrics with the token",
    "TLS: curl without --cacert refuses the certificate (it is really the one served)",
    "TLS: plain HTTP to the TLS port: no HTTP answer, the connection closed within 2 s",
    "TLS: a TLS client gets 401 without the token; the agent still serves after all of it",
    "TLS: top --connect https://... --cacert --auth-token-file --batch shows this redis-server",
]


def group_tls(g, d):
    c = TLS_CHECKS
    cert, key = make_cert(d, "tls")
    token = "nx-" + os.urandom(16).hex()
    tokfile = write_token(d, "tls-token", token)
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        port = h.free_port()
        with h.agent("--no-default-targets", "--pid", str(rd.pid), "--no-alerts",
                     "--listen", "127.0.0.1:%d" % port, "--tls-cert", cert, "--tls-key", key,
                     "--auth-token-file", tokfile, mode="run", raw=False) as a:
            wait_listening(port)
            rd.cli("SET", "tls:k", "v")
            url = "https://localhost:%d/metrics" % port
            r, _ = h.run(["curl", "-sS", "--max-time", "10", "--cacert", cert,
                          "-H", "Authorization: Bearer " + token, "-w", "\n%{http_code}", url])
            out = r.stdout.decode(errors="replace")
            body, _, code = out.rpartition("\n")
            try:
                fams = h.parse_prometheus(body + "\n" if body and not body.endswith("\n")
                                          else body)
                parsed = "nexus_agent_build_info" in fams
            except h.PromParseError as e:
                parsed = False
                code += " (%s)" % e
            g.check(c[0], r.returncode == 0 and code == "200" and parsed,
                    "curl rc %d, status %s: %s" % (r.returncode, code,
                                                   r.stderr.decode(errors="replace")))
            r, _ = h.run(["curl", "-sS", "--max-time", "10", url])
            g.check(c[1], r.returncode == 60, "curl rc %d: %s"
                    % (r.returncode, r.stderr.decode(errors="replace").strip()))
            buf, err, secs = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                                      timeout=5)
            g.check(c[2], not buf.startswith(b"HTTP/") and b"nexus_" not in buf and secs < 2,
                    "%r, %s after %.1fs" % (buf[:80], err, secs))
            ctx = ssl.create_default_context(cafile=cert)
            (s1, _, _), e1, _ = get(port, "/metrics", tls_ctx=ctx)
            (s2, _, b2), e2, _ = get(port, "/metrics", token, tls_ctx=ctx)
            g.check(c[3], s1 == 401 and s2 == 200 and b"nexus_redis_commands_total" in b2
                    and a.running, "no token %s (%s), token %s (%s), running %s"
                    % (s1, e1, s2, e2, a.running))
            r, _ = h.run([h.AGENT, "top", "--connect", "https://localhost:%d" % port,
                          "--cacert", cert, "--auth-token-file", tokfile, "--batch", "-n", "1"],
                         timeout=30)
            out = r.stdout.decode(errors="replace")
            g.check(c[4], r.returncode == 0 and server in out,
                    "rc %d: %s %s" % (r.returncode, out[:300], r.stderr.decode(errors="replace")))


PROM_CHECKS = [
    "prometheus: the README's scrape config (scheme https, authorization.credentials_file, "
    "tls_config.ca_file) scrapes the agent: up == 1 and nexus_redis_commands_total present",
]

PROM_CONFIG = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: nexus-agent
    scheme: https
    authorization:
      credentials_file: %(token)s
    tls_config:
      ca_file: %(ca)s
    static_configs:
      - targets: ["localhost:%(port)d"]
"""


def prom_query(port, q):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(q))
    with urllib.request.urlopen(url, timeout=3) as r:
        return json.loads(r.read().decode())["data"]["result"]


def group_prometheus(g, d):
    c = PROM_CHECKS
    cert, key = make_cert(d, "prom")
    token = "nx-" + os.urandom(16).hex()
    tokfile = write_token(d, "prom-token", token)
    with h.redis_server() as rd:
        port = h.free_port()
        with h.agent("--no-default-targets", "--pid", str(rd.pid), "--no-alerts",
                     "--listen", "127.0.0.1:%d" % port, "--tls-cert", cert, "--tls-key", key,
                     "--auth-token-file", tokfile, mode="run", raw=False):
            wait_listening(port)
            rd.cli("SET", "prom:k", "v")
            cfg = os.path.join(d, "prometheus.yml")
            with open(cfg, "w") as f:
                f.write(PROM_CONFIG % {"token": tokfile, "ca": cert, "port": port})
            pport = h.free_port()
            log = open(os.path.join(d, "prometheus.log"), "wb")
            prom = subprocess.Popen(["prometheus", "--config.file", cfg, "--storage.tsdb.path",
                                     os.path.join(d, "tsdb"), "--web.listen-address",
                                     "127.0.0.1:%d" % pport], stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            state = {}

            def scraped():
                try:
                    up = prom_query(pport, 'up{job="nexus-agent"}')
                    cmds = prom_query(pport, 'nexus_redis_commands_total{command="set"}')
                except (OSError, ValueError, KeyError) as e:
                    state["err"] = str(e)
                    return False
                state["up"], state["cmds"] = up, cmds
                return bool(up) and up[0]["value"][1] == "1" and bool(cmds)
            try:
                ok = h.wait_until(scraped, 40, 0.5)
            finally:
                h._stop_process(prom, signal.SIGTERM)
                log.close()
            g.check(c[0], ok, ["state: %s" % state] +
                    ["prometheus: " + l for l in h._tail(os.path.join(d, "prometheus.log"), 8)])


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    priv = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "redis-cli", "openssl", "curl")
    skip = "missing tools: %s" % " ".join(missing) if missing else None
    d = tempfile.mkdtemp(prefix="nx-http-")
    try:
        h.run_group(tap, ERROR_CHECKS, h.guarded(group_errors, 90, d),
                    "missing tools: openssl" if h.missing_tools("openssl") else None)
        h.run_group(tap, ABUSE_CHECKS, h.guarded(group_abuse, 180, d), priv or skip)
        h.run_group(tap, TLS_CHECKS, h.guarded(group_tls, 90, d), priv or skip)
        h.run_group(tap, PROM_CHECKS, h.guarded(group_prometheus, 90, d),
                    priv or skip or ("missing tools: prometheus"
                                     if h.missing_tools("prometheus") else None))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
