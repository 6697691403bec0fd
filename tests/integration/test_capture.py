#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end checks of nexus-agent against real redis-server and postgres processes.

Prints TAP: one line per check. Needs root and a kernel with BTF; otherwise every check that
loads BPF programs is reported as skipped (never as passed).
"""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

EVENT_TYPES = {"data", "open", "close", "state", "exec", "fork", "exit"}
SYSCALLS = {"read", "write", "readv", "writev", "sendto", "recvfrom", "sendmsg", "recvmsg"}
TRANSPORTS = {"tcp4", "tcp6", "unix"}
HEX = re.compile(r"^[0-9a-f]*$")
TCP_PEER = re.compile(r"^127\.0\.0\.1:\d+$")


def pg_query(sql):
    """A simple-protocol Query message: 'Q', int32 length (itself included), SQL, NUL."""
    body = sql.encode() + b"\0"
    return b"Q" + struct.pack("!I", 4 + len(body)) + body


def pg_datarow(*cols):
    """A DataRow message with text columns."""
    body = struct.pack("!h", len(cols))
    for c in cols:
        body += struct.pack("!I", len(c)) + c
    return b"D" + struct.pack("!I", 4 + len(body)) + body


def big_value(n):
    """n printable bytes that do not repeat with a short period (so a wrong offset shows)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += b"%05d," % i
        i += 1
    return bytes(out[:n])


def is_hex_id(v):
    return isinstance(v, str) and v != "" and HEX.match(v.lower()) is not None


def check_fields(ev, capture_limit=None):
    """Problems with one event's fields, against the documented JSON format ([] when fine)."""
    errs = []
    kind = ev.get("event")
    if kind not in EVENT_TYPES:
        return ["unknown event type %r" % kind]
    if not isinstance(ev.get("time"), str) or not h.ISO_TIME.match(ev["time"]):
        errs.append("time %r is not ISO-8601 UTC" % ev.get("time"))
    if kind in ("data", "open", "close"):
        for k in ("pid", "fd"):
            if not isinstance(ev.get(k), int) or isinstance(ev.get(k), bool) or ev[k] < 0:
                errs.append("%s %r is not a non-negative integer" % (k, ev.get(k)))
        for k in ("comm", "server", "peer"):
            if not isinstance(ev.get(k), str):
                errs.append("%s %r is not a string" % (k, ev.get(k)))
        if not is_hex_id(ev.get("conn")):
            errs.append("conn %r is not a hex id" % ev.get("conn"))
        if ev.get("transport") not in TRANSPORTS:
            errs.append("transport %r" % ev.get("transport"))
        if ev.get("role") not in ("server", "client"):
            errs.append("role %r" % ev.get("role"))
    if kind == "data":
        for k in ("ts_ns", "tid", "len", "captured"):
            if not isinstance(ev.get(k), int) or isinstance(ev.get(k), bool) or ev[k] < 0:
                errs.append("%s %r is not a non-negative integer" % (k, ev.get(k)))
        if ev.get("dir") not in ("in", "out"):
            errs.append("dir %r" % ev.get("dir"))
        if ev.get("syscall") not in SYSCALLS:
            errs.append("syscall %r" % ev.get("syscall"))
        dh = ev.get("data_hex")
        if not isinstance(dh, str) or len(dh) % 2 or not HEX.match(dh.lower()):
            errs.append("data_hex is not hex")
        elif isinstance(ev.get("captured"), int) and len(dh) != 2 * ev["captured"]:
            errs.append("captured %r but data_hex holds %d bytes" % (ev["captured"], len(dh) // 2))
        if isinstance(ev.get("captured"), int) and isinstance(ev.get("len"), int):
            if ev["captured"] > ev["len"]:
                errs.append("captured %d > len %d" % (ev["captured"], ev["len"]))
            if capture_limit is not None and ev["captured"] > capture_limit:
                errs.append("captured %d > --capture-bytes %d" % (ev["captured"], capture_limit))
        if not isinstance(ev.get("preview"), str):
            errs.append("preview missing")
        if ev.get("transport") == "unix" and ev.get("peer") != "":
            errs.append("unix peer %r is not empty" % ev.get("peer"))
    return errs


class EchoServer:
    """A non-target TCP echo server: a python3 subprocess listening on 127.0.0.1."""
    CODE = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(8)
s.settimeout(60)
print(s.getsockname()[1], flush=True)
while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    with c:
        c.settimeout(10)
        d = c.recv(65536)
        if d:
            c.sendall(d)
"""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", self.CODE], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, start_new_session=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.__exit__(None, None, None)
            raise h.HarnessError("echo server did not start")
        self.port = int(line)
        self.pid = self.proc.pid
        return self

    def echo(self, data):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(data)
            got = b""
            while len(got) < len(data):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            return got

    def __exit__(self, *exc):
        h._stop_process(self.proc, signal.SIGTERM, grace=5)
        return False


def bpf_cleanup_checks(g, a, before, during, name_exit, name_progs, how):
    """Exit status after the stop signal, and no nx_ program left behind."""
    g.check(name_exit, a.returncode == 0 and not a.killed,
            ["agent exit status %r after %s%s" % (a.returncode, how,
                                                   " (needed SIGKILL)" if a.killed else "")]
            + a.stderr_tail())
    ours = set(during) - set(before)
    left = h.wait_until(lambda: not (set(h.nx_progs()) - set(before)) or None, 10, 0.25)
    now = h.nx_progs()
    leftover = {i: n for i, n in now.items() if i not in before}
    diag = ["nx_ programs loaded by the agent while attached: %s" % sorted(during.values()),
            "new nx_ programs still loaded after exit: %s" % leftover]
    if before:
        diag.append("note: nx_ programs that existed before the test (another agent?): %s"
                    % sorted(before.items()))
    g.check(name_progs, bool(ours) and bool(left) and not leftover, diag)


# ------------------------------------------------------------------------------------------ groups

def group_cli(g):
    for name, argv in (("bad flag: 'trace --bogus' exits 2 with usage on stderr",
                        ["trace", "--bogus"]),
                       ("bad flag: 'run --capture-bytes abc' exits 2 with usage on stderr",
                        ["run", "--capture-bytes", "abc"])):
        try:
            r, _ = h.run([h.AGENT] + argv, timeout=10)
            err = r.stderr.decode(errors="replace")
            g.check(name, r.returncode == 2 and "usage" in err.lower(),
                    ["exit status %r" % r.returncode] + ["stderr: " + l for l in
                                                         err.splitlines()[:6]])
        except (h.HarnessError, OSError) as e:
            g.check(name, False, "%s" % e)


def group_check(g):
    name = "'check' exits 0 on this machine and reports BTF"
    r, _ = h.run([h.AGENT, "check"], timeout=60)
    out = (r.stdout + r.stderr).decode(errors="replace")
    g.check(name, r.returncode == 0 and "BTF" in out,
            ["exit status %r" % r.returncode] + out.splitlines()[-10:])


MAIN_CHECKS = [
    "trace --json: every stdout line is a JSON object of a known event type",
    "redis tcp: SET request captured exactly (dir in)",
    "redis tcp: +OK reply captured exactly (dir out)",
    "redis tcp: GET request and $5 hello reply captured exactly",
    "redis tcp: server 127.0.0.1:PORT, tcp4, role server, comm redis-server, pid of redis-server",
    "redis tcp: open and close events for the traced connection",
    "redis unix: SET request and +OK reply captured exactly",
    "redis unix: GET request and $5 hello reply captured exactly",
    "redis unix: server is the socket path, transport unix, peer empty, pid of redis-server",
    "postgres tcp: Query message 'SELECT 42 AS answer' captured exactly from the backend (dir in)",
    "postgres tcp: DataRow '42' captured in the reply (dir out)",
    "postgres tcp: server 127.0.0.1:PORT, tcp4, comm postgres, pid of the backend (not postmaster)",
    "postgres unix: Query message captured exactly (dir in)",
    "postgres unix: DataRow '42' captured (dir out)",
    "postgres unix: server is SOCKDIR/.s.PGSQL.PORT, transport unix, pid of the backend",
    "non-target: a python3 echo server's traffic is not captured",
    "non-target: no data event carries the pid of a redis-cli or psql client",
    "--capture-bytes 1024: 5000-byte SET has len >= 5000, captured 1024, first 1024 bytes exact",
    "data/open/close events have the documented fields and types",
    "while attached, bpftool lists the agent's nx_ programs",
    "SIGINT: agent exits with status 0",
    "SIGINT: no nx_ program is left after exit",
]


def group_main(g):
    c = dict(enumerate(MAIN_CHECKS))
    with h.redis_server() as rd, h.postgres_server() as pg, EchoServer() as echo:
        before = h.nx_progs()
        dl = h.Deadline(60)
        with h.agent("--capture-bytes", "1024") as a:
            during = h.nx_progs()
            # ---- redis over TCP
            out1, cli1 = rd.cli("SET", "k1", "hello")
            out2, cli2 = rd.cli("GET", "k1")
            if (out1, out2) != ("OK", "hello"):
                raise h.HarnessError("redis-cli answered %r, %r" % (out1, out2))
            set_req, get_req = h.resp("SET", "k1", "hello"), h.resp("GET", "k1")
            tcp = dict(pid=rd.pid)  # transport etc. are checked below, not used to find

            mark = [0]

            def seen(expected, **m):
                return a.wait_for(lambda e: e.get("event") == "data"
                                  and all(e.get(k) == v for k, v in m.items())
                                  and h.payload(e) == expected, dl.left(10), since=mark[0])

            def seen_in(expected, **m):
                return a.wait_for(lambda e: e.get("event") == "data"
                                  and all(e.get(k) == v for k, v in m.items())
                                  and expected in h.payload(e), dl.left(10))

            e_set = seen(set_req, dir="in", **tcp)
            e_ok = seen(b"+OK\r\n", dir="out", **tcp)
            e_get = seen(get_req, dir="in", **tcp)
            e_hello = seen(b"$5\r\nhello\r\n", dir="out", **tcp)
            diag = lambda: h.describe(a.snapshot(), pid=rd.pid) + a.stderr_tail(5)  # noqa: E731
            g.check(c[1], e_set is not None, diag())
            g.check(c[2], e_ok is not None, diag())
            g.check(c[3], e_get is not None and e_hello is not None, diag())
            found = [e for e in (e_set, e_ok, e_get, e_hello) if e]
            bad = [e for e in found
                   if not (e.get("server") == "127.0.0.1:%d" % rd.port
                           and e.get("transport") == "tcp4" and e.get("role") == "server"
                           and e.get("comm") == "redis-server" and e.get("pid") == rd.pid
                           and TCP_PEER.match(str(e.get("peer"))))]
            g.check(c[4], len(found) == 4 and not bad,
                    ["redis pid %d port %d; events found %d/4" % (rd.pid, rd.port, len(found))]
                    + [json.dumps({k: v for k, v in e.items() if k != "data_hex"})
                       for e in bad[:4]])
            conn = e_set.get("conn") if e_set else None
            e_open = conn and a.wait_for(lambda e: e.get("event") == "open"
                                         and e.get("conn") == conn and e.get("pid") == rd.pid,
                                         dl.left(5))
            e_close = conn and a.wait_for(lambda e: e.get("event") == "close"
                                          and e.get("conn") == conn and e.get("pid") == rd.pid,
                                          dl.left(5))
            g.check(c[5], bool(e_open) and bool(e_close)
                    and e_open.get("server") == "127.0.0.1:%d" % rd.port
                    and e_close.get("fd") == e_set.get("fd"),
                    ["conn %r, open %r, close %r" % (conn, e_open, e_close)])

            # ---- redis over the unix socket (only events after the TCP ones count)
            time.sleep(0.2)
            mark[0] = len(a.snapshot())
            rd.cli("SET", "k1", "hello", unix=True)
            rd.cli("GET", "k1", unix=True)
            ux = dict(pid=rd.pid)
            u_set = seen(set_req, dir="in", **ux)
            u_ok = seen(b"+OK\r\n", dir="out", **ux)
            u_get = seen(get_req, dir="in", **ux)
            u_hello = seen(b"$5\r\nhello\r\n", dir="out", **ux)
            g.check(c[6], u_set is not None and u_ok is not None, diag())
            g.check(c[7], u_get is not None and u_hello is not None, diag())
            found = [e for e in (u_set, u_ok, u_get, u_hello) if e]
            bad = [e for e in found if not (e.get("server") == rd.sock and e.get("peer") == ""
                                            and e.get("transport") == "unix"
                                            and e.get("comm") == "redis-server"
                                            and e.get("role") == "server")]
            g.check(c[8], len(found) == 4 and not bad,
                    ["socket %s; events found %d/4" % (rd.sock, len(found))]
                    + [json.dumps({k: v for k, v in e.items() if k != "data_hex"})
                       for e in bad[:4]])

            # ---- postgres over TCP, then over the unix socket
            q = pg_query("SELECT 42 AS answer")
            row = pg_datarow(b"42")
            pg_seen = {}
            for unix, (ci, co, cm) in ((False, (9, 10, 11)), (True, (12, 13, 14))):
                out, _ = pg.psql(["SELECT 42 AS answer", "SELECT pg_backend_pid()"], unix=unix)
                lines = out.split()
                if len(lines) != 2 or lines[0] != "42" or not lines[1].isdigit():
                    raise h.HarnessError("psql printed %r" % out)
                backend = int(lines[1])
                tr = "unix" if unix else "tcp4"
                e_q = seen_in(q, dir="in", pid=backend)
                e_r = seen_in(row, dir="out", pid=backend)
                pg_seen[unix] = e_q is not None
                pdiag = (["postmaster %d, backend %d (from pg_backend_pid())" % (pg.pid, backend)]
                         + h.describe([e for e in a.snapshot() if e.get("comm") == "postgres"])
                         + a.stderr_tail(5))
                g.check(c[ci], e_q is not None, pdiag)
                g.check(c[co], e_r is not None, pdiag)
                server = pg.sock_path if unix else "127.0.0.1:%d" % pg.port
                found = [e for e in (e_q, e_r) if e]
                bad = [e for e in found
                       if not (e.get("server") == server and e.get("comm") == "postgres"
                               and e.get("transport") == tr
                               and e.get("role") == "server" and e.get("pid") != pg.pid
                               and (e.get("peer") == "" if unix
                                    else TCP_PEER.match(str(e.get("peer")))))]
                g.check(c[cm], len(found) == 2 and not bad,
                        ["expected server %r, backend pid %d, postmaster %d; found %d/2"
                         % (server, backend, pg.pid, len(found))]
                        + [json.dumps({k: v for k, v in e.items() if k != "data_hex"})
                           for e in bad])

            # ---- a non-target process, then a barrier through redis
            marker = ("nexus-nontarget-%d-%x" % (os.getpid(), int(time.time() * 1e6))).encode()
            if echo.echo(marker) != marker:
                raise h.HarnessError("echo server did not echo")
            token = "barrier-%x" % int(time.time() * 1e6)
            barrier = h.resp("SET", "barrier", token)
            rd.cli("SET", "barrier", token)
            e_barrier = seen(barrier, dir="in", pid=rd.pid)

            # ---- --capture-bytes 1024 with a 5000-byte value
            val = big_value(5000)
            rd.cli("SET", "k2", val.decode())
            big_req = h.resp("SET", "k2", val)
            e_big = a.wait_for(lambda e: e.get("event") == "data" and e.get("dir") == "in"
                               and e.get("pid") == rd.pid and e.get("len", 0) >= 5000,
                               dl.left(10))
            time.sleep(0.5)
        events = a.events

        mhex = marker.hex()
        leaked = [e for e in events if e.get("pid") == echo.pid
                  or mhex in str(e.get("data_hex", "")).lower()
                  or marker.decode() in str(e.get("preview", ""))]
        g.check(c[15], e_barrier is not None and not leaked,
                ["barrier event (redis SET after the marker) seen: %s" % bool(e_barrier),
                 "echo server pid %d" % echo.pid]
                + [json.dumps(e)[:300] for e in leaked[:5]])
        clients = set(rd.client_pids) | set(pg.client_pids)
        from_clients = [e for e in events if e.get("event") == "data" and e.get("pid") in clients]
        # only meaningful when the agent does capture the servers these clients talked to
        g.check(c[16], len(clients) >= 6 and not from_clients and e_set is not None
                and all(pg_seen.values()) and len(pg_seen) == 2,
                ["client pids %s; server-side events seen: redis %s, postgres %s"
                 % (sorted(clients), e_set is not None, pg_seen)]
                + [json.dumps(e)[:300] for e in from_clients[:5]])
        g.check(c[17], e_big is not None and e_big.get("captured") == 1024
                and h.payload(e_big) == big_req[:1024] and e_big.get("len") >= 5000,
                ["event: %s" % (json.dumps({k: v for k, v in e_big.items() if k != "data_hex"})
                                if e_big else None),
                 "payload starts %r" % (h.payload(e_big)[:80] if e_big else b""),
                 "expected starts %r" % big_req[:80]])
        problems = []
        for e in events:
            if e.get("event") in ("data", "open", "close"):
                problems += ["%s: %s" % (e.get("event"), p) for p in check_fields(e, 1024)]
        g.check(c[18], not problems and any(e.get("event") == "open" for e in events),
                problems[:10] or ["no open event at all"])
        g.check(c[0], a.lines and not a.bad_lines
                and all(e.get("event") in EVENT_TYPES for e in events),
                ["%d lines, %d not JSON objects" % (len(a.lines), len(a.bad_lines))]
                + ["bad: %r" % l[:200] for l in a.bad_lines[:5]]
                + ["unknown event: %r" % e.get("event") for e in events
                   if e.get("event") not in EVENT_TYPES][:5])
        g.check(c[19], bool(set(during) - set(before)),
                ["before: %s" % before, "during: %s" % during])
        bpf_cleanup_checks(g, a, before, during, c[20], c[21], "SIGINT")


EXEC_CHECKS = [
    "exec detection: a redis-server started after attach is traced (SET and +OK exact, its pid)",
    "--capture-bytes 64: captured 64, len is the whole request, first 64 bytes exact",
    "SIGTERM: agent exits with status 0",
    "SIGTERM: no nx_ program is left after exit",
]


def group_exec(g):
    c = EXEC_CHECKS
    before = h.nx_progs()
    dl = h.Deadline(30)
    with h.agent("--capture-bytes", "64", stop_signal=signal.SIGTERM) as a:
        during = h.nx_progs()
        with h.redis_server() as rd:
            rd.cli("SET", "k1", "hello")
            val = big_value(300)
            rd.cli("SET", "k3", val.decode())
            req = h.resp("SET", "k1", "hello")
            e_set = a.wait_for(lambda e: e.get("event") == "data" and e.get("dir") == "in"
                               and e.get("pid") == rd.pid and h.payload(e) == req, dl.left(10))
            e_ok = a.wait_for(lambda e: e.get("event") == "data" and e.get("dir") == "out"
                              and e.get("pid") == rd.pid and h.payload(e) == b"+OK\r\n",
                              dl.left(10))
            g.check(c[0], e_set is not None and e_ok is not None
                    and e_set.get("comm") == "redis-server"
                    and e_set.get("server") == "127.0.0.1:%d" % rd.port,
                    ["redis-server pid %d port %d" % (rd.pid, rd.port)]
                    + h.describe(a.snapshot()) + a.stderr_tail(5))
            big = h.resp("SET", "k3", val)
            e_big = a.wait_for(lambda e: e.get("event") == "data" and e.get("dir") == "in"
                               and e.get("pid") == rd.pid and e.get("len") == len(big),
                               dl.left(10))
            g.check(c[1], e_big is not None and e_big.get("captured") == 64
                    and h.payload(e_big) == big[:64],
                    ["expected len %d, first bytes %r" % (len(big), big[:64])]
                    + h.describe(a.snapshot(), pid=rd.pid))
    bpf_cleanup_checks(g, a, before, during, c[2], c[3], "SIGTERM")


CHUNK_CHECKS = [
    "default --capture-bytes: a 40000-byte SET read by redis-server arrives whole, in chunks "
    "(offsets contiguous, 'more' on all but each syscall's last, one timestamp per syscall)",
    "default --capture-bytes: the 40000-byte GET reply arrives whole, in chunks (iovecs joined), "
    "bytes exact",
]


def syscalls_of(events):
    """Data events grouped per syscall (one timestamp), in order; problems with their chunks."""
    calls, problems = [], []
    for e in events:
        if calls and calls[-1][0]["ts_ns"] == e["ts_ns"]:
            calls[-1].append(e)
        else:
            calls.append([e])
    for c in calls:
        off = 0
        for i, e in enumerate(c):
            last = i == len(c) - 1
            if e.get("offset") != off or e.get("more") == last or e.get("len") != c[0]["len"]:
                problems.append("chunk %d of a %d-byte %s: offset %r (want %d), more %r"
                                % (i, c[0]["len"], e.get("syscall"), e.get("offset"), off,
                                   e.get("more")))
            off += e.get("captured", 0)
        if off != c[0]["len"]:
            problems.append("a %d-byte %s captured %d" % (c[0]["len"], c[0]["syscall"], off))
    return calls, problems


def group_chunks(g):
    c = CHUNK_CHECKS
    val = big_value(40000)
    set_req, get_req = h.resp("SET", "k5", val), h.resp("GET", "k5")
    reply = b"$%d\r\n%s\r\n" % (len(val), val)
    with h.redis_server() as rd, h.agent() as a:
        with socket.create_connection(("127.0.0.1", rd.port), timeout=10) as sk:
            me = "127.0.0.1:%d" % sk.getsockname()[1]
            sk.sendall(set_req)
            if sk.recv(16) != b"+OK\r\n":
                raise h.HarnessError("SET was not answered +OK")
            sk.sendall(get_req)
            got = b""
            while len(got) < len(reply):
                part = sk.recv(65536)
                if not part:
                    break
                got += part
            if got != reply:
                raise h.HarnessError("GET answered %d bytes, not the value" % len(got))

            def joined(direction):
                return b"".join(h.payload(e) for e in h.data_events(
                    a.snapshot(), pid=rd.pid, peer=me, dir=direction))

            h.wait_until(lambda: joined("out") == b"+OK\r\n" + reply, 10)
        ins = h.data_events(a.snapshot(), pid=rd.pid, peer=me, dir="in")
        outs = h.data_events(a.snapshot(), pid=rd.pid, peer=me, dir="out")
    for check, evs, want in ((c[0], ins, set_req + get_req), (c[1], outs, b"+OK\r\n" + reply)):
        calls, problems = syscalls_of(evs)
        data = b"".join(h.payload(e) for e in evs)
        g.check(check, data == want and not problems and any(len(x) > 1 for x in calls),
                ["%d bytes captured of %d, %s" % (len(data), len(want),
                                                  "exact" if data == want else "differ"),
                 "syscalls: %s" % [(x[0]["syscall"], x[0]["len"], len(x)) for x in calls]]
                + problems[:5])


TARGET_CHECKS = [
    "--no-default-targets --pid P: the process P is traced (echo request captured exactly)",
    "--no-default-targets: a running redis-server is not traced",
]


def group_targets(g):
    c = TARGET_CHECKS
    with h.redis_server() as rd, EchoServer() as echo:
        with h.agent("--no-default-targets", "--pid", str(echo.pid)) as a:
            rd.cli("SET", "k1", "hello")
            marker = ("nexus-target-%x" % int(time.time() * 1e6)).encode()
            if echo.echo(marker) != marker:
                raise h.HarnessError("echo server did not echo")
            e_in = a.wait_for(lambda e: e.get("event") == "data" and e.get("pid") == echo.pid
                              and e.get("dir") == "in" and h.payload(e) == marker, 10)
            e_out = a.wait_for(lambda e: e.get("event") == "data" and e.get("pid") == echo.pid
                               and e.get("dir") == "out" and h.payload(e) == marker, 5)
            time.sleep(0.3)
        g.check(c[0], e_in is not None and e_out is not None
                and e_in.get("server") == "127.0.0.1:%d" % echo.port,
                ["echo pid %d port %d" % (echo.pid, echo.port)] + h.describe(a.events)
                + a.stderr_tail(5))
        from_redis = [e for e in a.events if e.get("pid") == rd.pid]
        g.check(c[1], e_in is not None and not from_redis,
                ["%d events from redis-server pid %d" % (len(from_redis), rd.pid)]
                + h.describe(from_redis))


METRICS_CHECKS = [
    "metrics: GET /metrics answers 200 text/plain that parses as Prometheus text format",
    "metrics: every required nexus_agent_* metric has a TYPE line of the right type",
    "metrics: nexus_agent_events_total and captured_bytes_total > 0 after redis traffic",
    "metrics: nexus_agent_targets >= 1 while a redis-server runs",
    "run: SIGINT exits 0 and leaves no nx_ program",
]
REQUIRED = {"nexus_agent_events_total": "counter", "nexus_agent_captured_bytes_total": "counter",
            "nexus_agent_events_lost_total": "counter", "nexus_agent_connections": "gauge",
            "nexus_agent_targets": "gauge", "nexus_agent_parse_errors_total": "counter"}


def fetch_metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8")


def metric_sum(fams, name):
    f = fams.get(name)
    return sum(v for n, _, v in f["samples"] if n == name) if f else None


def group_metrics(g):
    c = METRICS_CHECKS
    before = h.nx_progs()
    with h.redis_server() as rd:
        port = h.free_port()
        with h.agent("--listen", "127.0.0.1:%d" % port, mode="run") as a:
            during = h.nx_progs()
            for i in range(5):
                rd.cli("SET", "m%d" % i, "v%d" % i)
                rd.cli("GET", "m%d" % i)
            state = {}

            def scrape():
                try:
                    st, ctype, text = fetch_metrics(port)
                except OSError as e:
                    state["error"] = str(e)
                    return None
                state.update(status=st, ctype=ctype, text=text)
                try:
                    state["fams"] = h.parse_prometheus(text)
                    state.pop("perr", None)
                except h.PromParseError as e:
                    state["perr"] = str(e)
                    return None
                v = metric_sum(state["fams"], "nexus_agent_events_total")
                return v is not None and v > 0
            h.wait_until(scrape, 10, 0.5)
        text = state.get("text", "")
        g.check(c[0], state.get("status") == 200 and state.get("ctype", "").startswith("text/plain")
                and "fams" in state and "perr" not in state,
                ["status %r content-type %r" % (state.get("status"), state.get("ctype")),
                 "error: %s" % state.get("error", state.get("perr"))]
                + text.splitlines()[:15] + a.stderr_tail(5))
        fams = state.get("fams", {})
        wrong = ["%s: TYPE %r, want %s" % (n, fams.get(n, {}).get("type"), t)
                 for n, t in REQUIRED.items()
                 if fams.get(n, {}).get("type") != t or not fams[n]["samples"]]
        g.check(c[1], bool(fams) and not wrong, wrong or ["nothing parsed"])
        ev, by = metric_sum(fams, "nexus_agent_events_total"), \
            metric_sum(fams, "nexus_agent_captured_bytes_total")
        g.check(c[2], bool(ev) and ev > 0 and bool(by) and by > 0,
                ["events_total %r captured_bytes_total %r" % (ev, by)])
        tg = metric_sum(fams, "nexus_agent_targets")
        g.check(c[3], tg is not None and tg >= 1, ["nexus_agent_targets %r" % tg])
    left = h.wait_until(lambda: not (set(h.nx_progs()) - set(before)) or None, 10, 0.25)
    g.check(c[4], a.returncode == 0 and not a.killed and bool(set(during) - set(before))
            and bool(left),
            ["exit status %r%s" % (a.returncode, " (needed SIGKILL)" if a.killed else ""),
             "nx_ programs during %s, new ones left %s"
             % (sorted(during.values()), {i: n for i, n in h.nx_progs().items()
                                          if i not in before})] + a.stderr_tail(5))


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    priv = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "redis-cli", "initdb", "postgres", "psql",
                              "pg_isready", "runuser", "bpftool")

    server_skip = priv or ("missing tools: %s" % " ".join(missing) if missing else None)
    h.run_group(tap, ["bad flag: 'trace --bogus' exits 2 with usage on stderr",
                      "bad flag: 'run --capture-bytes abc' exits 2 with usage on stderr"],
                h.guarded(group_cli, 30))
    h.run_group(tap, ["'check' exits 0 on this machine and reports BTF"],
                h.guarded(group_check, 60), priv)
    h.run_group(tap, MAIN_CHECKS, h.guarded(group_main, 120), server_skip)
    h.run_group(tap, EXEC_CHECKS, h.guarded(group_exec, 60), server_skip)
    h.run_group(tap, CHUNK_CHECKS, h.guarded(group_chunks, 40), server_skip)
    h.run_group(tap, TARGET_CHECKS, h.guarded(group_targets, 40), server_skip)
    h.run_group(tap, METRICS_CHECKS, h.guarded(group_metrics, 50), server_skip)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
