#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end checks of nexus-agent's Redis decoding against a real redis-server.

The agent's figures are compared with what Redis itself says (INFO stats keyspace_hits/misses and
INFO commandstats) over a known workload: exactly, not roughly. Prints TAP: one line per check.
Needs root and a kernel with BTF; otherwise every check is reported as skipped (never as passed).

How a comparison is made (a "phase"): INFO is taken before, then the agent's /metrics is polled
until it has counted that INFO call (the ring buffer is ordered, so everything Redis did before it
is in the published figures too); the workload runs; INFO is taken again and the agent polled until
it has counted that call, then once more a little later to see that nothing else trickles in. The
agent's deltas between the two views must equal the INFO deltas: each phase's INFO calls are then
counted once on both sides (commandstats leaves out the call that prints it).
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TCP_CLIENT = re.compile(r"^127\.0\.0\.1:\d+$")
SECRET_KEY = "secret-key-123"
SECRET_VALUE = "secret-value-XYZ"
PUBLISH_WAIT = 1.3  # the capture thread publishes Redis figures once per second


# ------------------------------------------------------------------------------- a RESP client

class RespError(str):
    """An error reply (its text)."""


class RespClient:
    """A blocking RESP2/RESP3 client over TCP (127.0.0.1) or a unix socket."""

    def __init__(self, port=None, unix=None, timeout=15):
        if unix:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(timeout)
            self.s.connect(unix)
        else:
            self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise h.HarnessError("redis closed the connection")
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += d

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _bytes(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n + 2
        return out

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode())
        if t in (b":", b"("):
            return int(rest)
        if t == b",":
            return float(rest)
        if t == b"#":
            return rest == b"t"
        if t == b"_":
            return None
        if t in (b"$", b"="):
            n = int(rest)
            return None if n < 0 else self._bytes(n)
        if t in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if t == b"%":
            n = int(rest)
            return [(self.read(), self.read()) for _ in range(n)]
        if t == b"|":  # attribute: metadata, then the reply itself
            for _ in range(2 * int(rest)):
                self.read()
            return self.read()
        raise h.HarnessError("not RESP: %r" % line[:80])

    def call(self, *args):
        self.send(h.resp(*args))
        return self.read()

    def pipeline(self, cmds):
        """Sends every command in one write, then reads their replies."""
        self.send(b"".join(h.resp(*c) for c in cmds))
        return [self.read() for _ in cmds]


# -------------------------------------------------------------------------- a model of the keys

def prefix_of(key):
    """The agent's default prefix label: the key up to the first ':', else "(none)"."""
    return key.split(":", 1)[0] if ":" in key else "(none)"


class Model:
    """Which keys exist, and the keyspace hits/misses (in total and per prefix) that reading
    them makes, as Redis counts them (a key of the wrong type is a hit for GET)."""

    def __init__(self):
        self.keys = set()
        self.hits = self.misses = 0
        self.by_prefix = {}  # prefix -> [hits, misses]

    def read(self, key):
        hit = key in self.keys
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        self.by_prefix.setdefault(prefix_of(key), [0, 0])[0 if hit else 1] += 1
        return hit


# -------------------------------------------------------------------- INFO and the agent's view

def redis_info(rd, unix=False):
    """{"hits", "misses", "cmds": {name: (calls + rejected, failed + rejected)}} from one
    `INFO stats commandstats` (one "info" call that Redis counts after printing)."""
    out, _ = rd.cli("INFO", "stats", "commandstats", unix=unix)
    info = {"hits": None, "misses": None, "cmds": {}}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("keyspace_hits:"):
            info["hits"] = int(line.split(":", 1)[1])
        elif line.startswith("keyspace_misses:"):
            info["misses"] = int(line.split(":", 1)[1])
        elif line.startswith("cmdstat_"):
            name, _, rest = line[len("cmdstat_"):].partition(":")
            f = dict(kv.split("=", 1) for kv in rest.split(","))
            rejected = int(f.get("rejected_calls", 0))
            # "config|get" -> "config get", as the agent names container commands
            info["cmds"][name.replace("|", " ")] = (int(f["calls"]) + rejected,
                                                     int(f.get("failed_calls", 0)) + rejected)
    if info["hits"] is None or info["misses"] is None:
        raise h.HarnessError("INFO has no keyspace_hits/misses: %r" % out[:300])
    return info


def info_delta(a, b):
    cmds = {}
    for name in set(a["cmds"]) | set(b["cmds"]):
        ca, ea = a["cmds"].get(name, (0, 0))
        cb, eb = b["cmds"].get(name, (0, 0))
        if cb - ca or eb - ea:
            cmds[name] = (cb - ca, eb - ea)
    return {"hits": b["hits"] - a["hits"], "misses": b["misses"] - a["misses"], "cmds": cmds}


def fetch(port, path, accept=None, timeout=5):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8")


def samples(fams, name, family=None):
    """(labels, value) of the samples called name, in family (default: name itself)."""
    f = fams.get(family or name)
    return [(l, v) for n, l, v in f["samples"] if n == name] if f else []


class View:
    """The agent's Redis figures for one server, from one /metrics scrape."""

    def __init__(self, text, server):
        self.text = text
        fams = h.parse_prometheus(text)
        self.fams = fams
        self.cmds = {}  # command -> {status: n}
        for l, v in samples(fams, "nexus_redis_commands_total"):
            if l.get("server") == server:
                self.cmds.setdefault(l["command"], {})[l["status"]] = int(v)
        self.servers = {l.get("server") for l, _ in samples(fams, "nexus_redis_commands_total")}

        def one(name, labelled=True):
            vals = [v for l, v in samples(fams, name) if not labelled or l.get("server") == server]
            return int(vals[0]) if len(vals) == 1 else None
        self.hits = one("nexus_redis_keyspace_hits_total")
        self.misses = one("nexus_redis_keyspace_misses_total")
        self.prefix_hits = {l["prefix"]: int(v) for l, v in
                            samples(fams, "nexus_redis_key_prefix_hits_total")
                            if l.get("server") == server}
        self.prefix_misses = {l["prefix"]: int(v) for l, v in
                              samples(fams, "nexus_redis_key_prefix_misses_total")
                              if l.get("server") == server}
        self.parser = {k: one("nexus_redis_%s_total" % k, False)
                       for k in ("parse_errors", "resyncs", "unpaired_commands", "pushes",
                                 "dropped_series")}
        self.lost = one("nexus_agent_events_lost_total", False)
        self.events = one("nexus_agent_events_total", False)

    def count(self, command):
        return sum(self.cmds.get(command, {}).values())

    def errors(self, command):
        return sum(n for s, n in self.cmds.get(command, {}).items() if s != "ok")


def scrape_view(port, server, state=None):
    try:
        _, _, text = fetch(port, "/metrics")
        return View(text, server)
    except (OSError, h.PromParseError) as e:
        if state is not None:
            state["error"] = "%s: %s" % (type(e).__name__, e)
        return None


def wait_view(port, server, pred, timeout=15):
    """Polls /metrics until pred(view) holds; returns (the last view, whether it held)."""
    state = {"view": None}

    def look():
        v = scrape_view(port, server, state)
        if v is not None:
            state["view"] = v
            try:
                return pred(v)
            except (KeyError, TypeError):
                return False
        return False
    ok = bool(h.wait_until(look, timeout, 0.2))
    v = state["view"]
    if v is None:
        raise h.HarnessError("/metrics on port %d never answered: %s"
                             % (port, state.get("error")))
    return v, ok


class Phase:
    """INFO before and after a workload, and the agent's view at both points (see the module
    docstring). infos: INFO calls the agent has seen before this phase began."""

    def __init__(self, rd, port, server, infos=0, unix=False, timeout=20):
        self.rd, self.port, self.server, self.unix = rd, port, server, unix
        self.timeout = timeout
        self.infos = infos
        self.info_b = redis_info(rd, unix)
        self.infos += 1
        self.view_b, ok = wait_view(port, server, lambda v: v.count("info") >= self.infos,
                                    timeout)
        if not ok:
            e = h.HarnessError("the agent never counted the INFO before the workload "
                               "(counts info=%d, want %d)" % (self.view_b.count("info"),
                                                               self.infos))
            e.detail = ["agent commands: %s" % self.view_b.cmds]
            raise e

    def finish(self):
        self.info_a = redis_info(self.rd, self.unix)
        self.infos += 1
        self.want = info_delta(self.info_b, self.info_a)
        _, self.reached = wait_view(self.port, self.server,
                                    lambda v: v.count("info") >= self.infos, self.timeout)
        time.sleep(PUBLISH_WAIT)  # nothing more may come in after the INFO
        self.view_a, _ = wait_view(self.port, self.server, lambda v: True, 5)
        return self

    # deltas of the agent's figures
    def d_count(self, cmd):
        return self.view_a.count(cmd) - self.view_b.count(cmd)

    def d_errors(self, cmd):
        return self.view_a.errors(cmd) - self.view_b.errors(cmd)

    def d_hits(self):
        return _sub(self.view_a.hits, self.view_b.hits)

    def d_misses(self):
        return _sub(self.view_a.misses, self.view_b.misses)

    def d_prefix(self):
        """{prefix: [hits, misses]} of the prefixes that moved."""
        out = {}
        for p in set(self.view_a.prefix_hits) | set(self.view_a.prefix_misses):
            dh = self.view_a.prefix_hits.get(p, 0) - self.view_b.prefix_hits.get(p, 0)
            dm = self.view_a.prefix_misses.get(p, 0) - self.view_b.prefix_misses.get(p, 0)
            if dh or dm:
                out[p] = [dh, dm]
        return out

    def d_parser(self, k):
        return _sub(self.view_a.parser.get(k), self.view_b.parser.get(k))

    def agent_cmds(self):
        """{command: (count, errors)} that moved, as the agent saw them."""
        out = {}
        for c in set(self.view_a.cmds) | set(self.view_b.cmds):
            n, e = self.d_count(c), self.d_errors(c)
            if n or e:
                out[c] = (n, e)
        return out

    def cmd_mismatches(self):
        """Commands whose agent (count, errors) delta differs from commandstats'."""
        mine, want = self.agent_cmds(), self.want["cmds"]
        return ["%s: agent %s, commandstats (calls, failed) %s"
                % (c, mine.get(c, (0, 0)), want.get(c, (0, 0)))
                for c in sorted(set(mine) | set(want))
                if mine.get(c, (0, 0)) != want.get(c, (0, 0))]

    def diag(self):
        lost = _sub(self.view_a.lost, self.view_b.lost)
        out = []
        if lost:
            out.append("NOTE: the ring buffer lost %s events during the phase "
                       "(nexus_agent_events_lost_total)" % lost)
        if not self.reached:
            out.append("the agent never counted the closing INFO (info=%d, want %d)"
                       % (self.view_a.count("info"), self.infos))
        out += ["agent: hits %s misses %s, commands %s" % (self.d_hits(), self.d_misses(),
                                                          self.agent_cmds()),
                "INFO:  hits %s misses %s, commandstats %s" % (self.want["hits"],
                                                               self.want["misses"],
                                                               self.want["cmds"]),
                "agent prefixes %s" % self.d_prefix(),
                "parser: %s" % {k: self.d_parser(k) for k in self.view_a.parser}]
        return out


def _sub(a, b):
    return None if a is None or b is None else a - b


def start_agent(rd, *extra, mode="run"):
    """`run` (with a free --listen port; returns (ctx, port)) or decoded `trace --json`,
    watching only this redis-server."""
    port = h.free_port() if mode == "run" else None
    args = ["--no-default-targets", "--pid", str(rd.pid)] + list(extra)
    if mode == "run":
        args += ["--listen", "127.0.0.1:%d" % port]
    return h.agent(*args, mode=mode, raw=False), port


# ------------------------------------------------------------------------------------- groups

MIX_CHECKS = [
    "tcp mix: agent keyspace hits == INFO keyspace_hits delta == the workload's, exactly",
    "tcp mix: agent keyspace misses == INFO keyspace_misses delta == the workload's, exactly",
    "tcp mix: per-command counts and errors == INFO commandstats deltas (get, mget, set, ...)",
    "tcp mix: GET on a hash is counted with status WRONGTYPE (and as a hit)",
    "tcp mix: per-prefix hits and misses == the workload's exactly (user, session, (none))",
    "tcp mix: no parse errors, resyncs or unpaired commands",
]


def group_mix(g):
    c = MIX_CHECKS
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        # The pipelined burst below is one ~2 KB read on the server's side: a capture of 16 KB
        # (Redis' own read size) holds all of it. What the default 1024 does with it: group_burst.
        ctx, port = start_agent(rd, "--capture-bytes", "16384")
        with ctx as a:
            ph = Phase(rd, port, server)
            m = Model()
            with RespClient(rd.port) as cl:
                sets = [("user:%d" % i) for i in range(1, 7)] + ["session:1", "session:2",
                                                                  "session:3", "alpha", "beta"]
                for k in sets:
                    if cl.call("SET", k, "v-" + k) != "OK":
                        raise h.HarnessError("SET %s failed" % k)
                    m.keys.add(k)
                if cl.call("HSET", "user:h", "f", "v") != 1:
                    raise h.HarnessError("HSET failed")
                m.keys.add("user:h")
                # one pipelined burst: GETs and MGETs (no more than 8 keys each), hits and misses
                script = []
                for i in range(1, 11):
                    script.append(("GET", "user:%d" % i))
                script += [("GET", "session:1"), ("GET", "session:9"), ("GET", "session:9"),
                           ("GET", "alpha"), ("GET", "gamma"), ("GET", "user:h"),
                           ("MGET", "user:1", "user:99", "session:2", "alpha", "nope"),
                           ("MGET", "beta", "delta", "session:3", "session:7", "user:2",
                            "user:3", "user:4", "user:404"),
                           ("MGET", "nothing-here")]
                for i in range(40):
                    script.append(("GET", "user:%d" % (i % 12)))
                replies = cl.pipeline(script)
                for cmd, rep in zip(script, replies):
                    for k in cmd[1:]:
                        m.read(k)
                bad = [(cmd, rep) for cmd, rep in zip(script, replies)
                       if cmd[0] == "GET" and cmd[1] != "user:h"
                       and (rep is not None) != (cmd[1] in m.keys)]
                if bad or not isinstance(replies[15], RespError):
                    raise h.HarnessError("unexpected replies: %r, GET user:h -> %r"
                                         % (bad[:3], replies[15]))
            # one at a time, on another connection
            with RespClient(rd.port) as cl2:
                for k in ("user:5", "user:77", "session:2", "beta", "zeta"):
                    cl2.call("GET", k)
                    m.read(k)
                cl2.call("MGET", "user:6", "session:0")
                m.read("user:6")
                m.read("session:0")
            # RESP3: nulls are "_"
            with RespClient(rd.port) as cl3:
                cl3.call("HELLO", "3")
                for k in ("user:1", "user:404"):
                    cl3.call("GET", k)
                    m.read(k)
                cl3.call("MGET", "alpha", "omega")
                m.read("alpha")
                m.read("omega")
            # and redis-cli
            rd.cli("GET", "user:2")
            m.read("user:2")
            rd.cli("GET", "user:2000")
            m.read("user:2000")
            ph.finish()
            alive = a.running
        d = ph.diag() + a.stderr_tail(5)
        g.check(c[0], alive and ph.d_hits() == ph.want["hits"] == m.hits,
                ["workload hits %d" % m.hits] + d)
        g.check(c[1], ph.d_misses() == ph.want["misses"] == m.misses,
                ["workload misses %d" % m.misses] + d)
        mism = ph.cmd_mismatches()
        g.check(c[2], not mism and all(ph.want["cmds"].get(x, (0, 0))[0] > 0
                                       for x in ("get", "mget", "set", "hset", "hello")),
                mism + d)
        gstat = ph.view_a.cmds.get("get", {})
        g.check(c[3], gstat.get("WRONGTYPE") == 1 and ph.want["cmds"]["get"][1] == 1,
                ["get statuses %s" % gstat] + d)
        want_p = {p: hm for p, hm in m.by_prefix.items()}
        g.check(c[4], ph.d_prefix() == want_p,
                ["agent  %s" % sorted(ph.d_prefix().items()),
                 "wanted %s" % sorted(want_p.items())])
        g.check(c[5], ph.d_parser("parse_errors") == 0 and ph.d_parser("resyncs") == 0
                and ph.d_parser("unpaired_commands") == 0, d)


BURST_CHECKS = [
    "default --capture-bytes, a 2 KB pipelined burst of GETs: every GET is counted or the loss "
    "shows in nexus_redis_resyncs_total (never silent)",
    "default --capture-bytes, 2 KB burst: never an over-count (get, hits, misses, per prefix)",
    "after the burst, GETs on the same connection and on a new one are counted exactly again",
]


def group_burst(g):
    c = BURST_CHECKS
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        ctx, port = start_agent(rd)
        with ctx as a:
            ph = Phase(rd, port, server)
            m = Model()
            with RespClient(rd.port) as cl:
                for i in range(0, 80, 2):
                    cl.call("SET", "user:%d" % i, "v")
                    m.keys.add("user:%d" % i)
                burst = [("GET", "user:%d" % i) for i in range(80)]
                if len(b"".join(h.resp(*x) for x in burst)) < 2048:
                    raise h.HarnessError("the burst is too small")
                cl.pipeline(burst)
                for x in burst:
                    m.read(x[1])
                ph.finish()
                ph2 = Phase(rd, port, server, infos=ph.infos)
                m2 = Model()
                m2.keys = set(m.keys)
                for i in range(10):
                    cl.call("GET", "user:%d" % i)
                    m2.read("user:%d" % i)
            with RespClient(rd.port) as cl2:
                cl2.pipeline([("GET", "user:%d" % i) for i in range(5)])
                for i in range(5):
                    m2.read("user:%d" % i)
            ph2.finish()
            alive = a.running
        d = ph.diag() + a.stderr_tail(5)
        want_get = ph.want["cmds"].get("get", (0, 0))[0]
        g.check(c[0], alive and want_get == 80
                and (ph.d_count("get") == 80 or ph.d_parser("resyncs") >= 1),
                ["agent counted %d of %d GETs" % (ph.d_count("get"), want_get)] + d)
        over = [p for p, (hh, mm) in ph.d_prefix().items()
                if hh > m.by_prefix.get(p, [0, 0])[0] or mm > m.by_prefix.get(p, [0, 0])[1]]
        g.check(c[1], ph.d_count("get") <= want_get and ph.d_hits() <= ph.want["hits"]
                and ph.d_misses() <= ph.want["misses"] and not over
                and ph.want["hits"] == m.hits, d)
        g.check(c[2], not ph2.cmd_mismatches() and ph2.d_count("get") == 15
                and ph2.d_hits() == ph2.want["hits"] == m2.hits
                and ph2.d_misses() == ph2.want["misses"] == m2.misses
                and ph2.d_prefix() == m2.by_prefix, ph2.cmd_mismatches() + ph2.diag())


BENCH_CHECKS = [
    "redis-benchmark -P 16 -n 20000 -t get,set -r 1000: get and set counts == commandstats exactly",
    "redis-benchmark: every command (config get too) == commandstats, errors included",
    "redis-benchmark: keyspace hits and misses == INFO deltas exactly",
    "redis-benchmark: per-prefix hits/misses of prefix 'key' == INFO deltas",
    "redis-benchmark: nexus_agent_events_lost_total == 0, no resyncs or unpaired commands",
]


def group_bench(g):
    c = BENCH_CHECKS
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        ctx, port = start_agent(rd)
        with ctx as a:
            ph = Phase(rd, port, server)
            # some misses for sure: GETs of keys nobody set yet, then the benchmark
            r, _ = h.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(rd.port), "-P", "16",
                          "-n", "20000", "-t", "get,set", "-r", "1000", "-q"], timeout=90)
            if r.returncode != 0:
                raise h.HarnessError("redis-benchmark failed (%d): %s"
                                     % (r.returncode, r.stderr.decode(errors="replace")[-300:]))
            ph.finish()
            alive = a.running
        lost = ph.view_a.lost
        d = ([r.stdout.decode(errors="replace").strip()[-200:]] + ph.diag()
             + ["nexus_agent_events_total %s" % ph.view_a.events] + a.stderr_tail(5))
        want = ph.want["cmds"]
        g.check(c[0], alive and want.get("get", (0,))[0] == 20000
                and want.get("set", (0,))[0] == 20000
                and ph.d_count("get") == 20000 and ph.d_count("set") == 20000, d)
        g.check(c[1], not ph.cmd_mismatches(), ph.cmd_mismatches() + d)
        g.check(c[2], ph.d_hits() == ph.want["hits"] and ph.d_misses() == ph.want["misses"]
                and ph.want["hits"] + ph.want["misses"] == 20000, d)
        g.check(c[3], ph.d_prefix() == {"key": [ph.want["hits"], ph.want["misses"]]}, d)
        g.check(c[4], lost == 0 and ph.d_parser("resyncs") == 0
                and ph.d_parser("unpaired_commands") == 0,
                ["events lost: %s" % lost] + d)


UNIX_CHECKS = [
    "unix socket: every series carries server=<socket path>, none a TCP address",
    "unix socket: per-command counts == commandstats deltas exactly",
    "unix socket: keyspace hits/misses and per-prefix figures exact",
]


def group_unix(g):
    c = UNIX_CHECKS
    with h.redis_server() as rd:
        ctx, port = start_agent(rd)
        with ctx as a:
            ph = Phase(rd, port, rd.sock, unix=True)
            for args in (("SET", "user:u1", "v"), ("SET", "plain", "v"), ("GET", "user:u1"),
                         ("GET", "user:nope"), ("GET", "plain"),
                         ("MGET", "user:u1", "x:y", "plain"),
                         ("INCR", "counter")):
                rd.cli(*args, unix=True)
            with RespClient(unix=rd.sock) as cl:
                cl.pipeline([("GET", "user:u1"), ("GET", "user:u2"), ("DEL", "plain"),
                             ("GET", "plain")])
            ph.finish()
            alive = a.running
        d = ph.diag() + a.stderr_tail(5)
        g.check(c[0], alive and ph.view_a.servers == {rd.sock},
                ["servers seen: %s, socket %s" % (sorted(ph.view_a.servers), rd.sock)] + d)
        g.check(c[1], not ph.cmd_mismatches() and ph.d_count("get") == 6
                and ph.d_count("mget") == 1 and ph.d_count("set") == 2, ph.cmd_mismatches() + d)
        g.check(c[2], ph.d_hits() == ph.want["hits"] == 5
                and ph.d_misses() == ph.want["misses"] == 4
                and ph.d_prefix() == {"user": [3, 2], "(none)": [2, 1], "x": [0, 1]}, d)


BIG_CHECKS = [
    "--capture-bytes 1024, 200000-byte value: 3 GETs counted, all ok, 3 hits (prefix big)",
    "--capture-bytes 1024, 200000-byte value: nexus_redis_resyncs_total == 0, nothing unpaired",
    "--capture-bytes 1024: the PING after the big replies is counted, and the SET",
    "--capture-bytes 1024: GET latency histogram has the 3 GETs, hits/misses == INFO deltas",
]


def group_big(g):
    c = BIG_CHECKS
    val = b"".join(b"%07d" % i for i in range(200000 // 7 + 1))[:200000]
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        ctx, port = start_agent(rd, "--capture-bytes", "1024")
        with ctx as a:
            ph = Phase(rd, port, server)
            with RespClient(rd.port) as cl:
                if cl.call("SET", "big:v", val) != "OK":
                    raise h.HarnessError("SET of the big value failed")
                for _ in range(3):
                    got = cl.call("GET", "big:v")
                    if got != val:
                        raise h.HarnessError("GET returned %r bytes" % (len(got) if got else got))
                if cl.call("PING") != "PONG":
                    raise h.HarnessError("PING failed")
            ph.finish()
            alive = a.running
        d = ph.diag() + a.stderr_tail(5)
        v = ph.view_a
        g.check(c[0], alive and ph.d_count("get") == 3 and v.cmds.get("get") == {"ok": 3}
                and ph.d_hits() == 3 and ph.d_misses() == 0 and ph.d_prefix() == {"big": [3, 0]},
                d)
        g.check(c[1], ph.d_parser("resyncs") == 0 and ph.d_parser("unpaired_commands") == 0
                and ph.d_parser("parse_errors") == 0, d)
        g.check(c[2], ph.d_count("ping") == 1 and ph.d_count("set") == 1
                and not ph.cmd_mismatches(), ph.cmd_mismatches() + d)
        fam = "nexus_redis_command_duration_seconds"
        hist = [(l, val_) for l, val_ in samples(v.fams, fam + "_count", fam)
                if l.get("server") == server and l.get("command") == "get"]
        g.check(c[3], len(hist) == 1 and hist[0][1] == 3 and ph.d_hits() == ph.want["hits"]
                and ph.d_misses() == ph.want["misses"], ["histogram count %s" % hist] + d)


DISCONNECT_CHECKS = [
    "client gone mid-reply (GET of 5 MB, closed after 100 bytes): the agent keeps running",
    "after it, normal traffic's per-command counts == commandstats deltas exactly",
    "after it, keyspace hits/misses and per-prefix figures == INFO deltas exactly",
    "the abandoned GET is accounted as unpaired, not as a command, and causes no parse error",
]


def group_disconnect(g):
    c = DISCONNECT_CHECKS
    val = os.urandom(5 * 1024 * 1024 // 2).hex().encode()
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        ctx, port = start_agent(rd)
        with ctx as a:
            ph0 = Phase(rd, port, server)
            with RespClient(rd.port) as cl:
                if cl.call("SET", "big:v", val) != "OK":
                    raise h.HarnessError("SET of 5 MB failed")
            s = socket.create_connection(("127.0.0.1", rd.port), timeout=10)
            s.sendall(h.resp("GET", "big:v"))
            got = b""
            while len(got) < 100:
                d = s.recv(100 - len(got))
                if not d:
                    break
                got += d
            s.close()  # unread data: the kernel resets the connection
            if not got.startswith(b"$%d\r\n" % len(val)):
                raise h.HarnessError("GET reply starts %r" % got[:20])
            # wait for redis to drop that client
            def gone():
                out, _ = rd.cli("CLIENT", "LIST")
                return out.count("cmd=") <= 1 or None
            h.wait_until(gone, 10, 0.2)
            ph0.finish()
            ph = Phase(rd, port, server, infos=ph0.infos)
            m = Model()
            m.keys.add("big:v")
            with RespClient(rd.port) as cl:
                for k in ("user:1", "user:2"):
                    cl.call("SET", k, "v")
                    m.keys.add(k)
                for k in ("user:1", "user:3", "user:2", "x"):
                    cl.call("GET", k)
                    m.read(k)
                cl.pipeline([("GET", "user:1"), ("MGET", "user:2", "user:9")])
                for k in ("user:1", "user:2", "user:9"):
                    m.read(k)
            rd.cli("GET", "user:1")
            m.read("user:1")
            ph.finish()
            alive = a.running
            status, _, _ = fetch(port, "/metrics")
        d = ph.diag() + a.stderr_tail(5)
        g.check(c[0], alive and status == 200 and a.returncode == 0, a.stderr_tail(10)
                + ["exit status after SIGINT %r" % a.returncode])
        g.check(c[1], not ph.cmd_mismatches() and ph.d_count("get") == 6, ph.cmd_mismatches() + d)
        g.check(c[2], ph.d_hits() == ph.want["hits"] == m.hits
                and ph.d_misses() == ph.want["misses"] == m.misses
                and ph.d_prefix() == m.by_prefix, ["workload hits %d misses %d prefixes %s"
                                                   % (m.hits, m.misses, m.by_prefix)] + d)
        d0 = ph0.diag()
        g.check(c[3], ph0.d_count("get") == 0 and ph0.d_parser("unpaired_commands") == 1
                and ph0.d_parser("parse_errors") == 0 and ph0.d_count("set") == 1,
                ["agent get delta %d (commandstats counted %s)"
                 % (ph0.d_count("get"), ph0.want["cmds"].get("get"))] + d0)


EXPO_CHECKS = [
    "promtool check metrics: /metrics with nexus_redis_* series reports nothing and exits 0",
    "/metrics parses strictly; every nexus_redis_* family typed; +Inf buckets; BLPOP only blocking",
    "OpenMetrics Accept: content type application/openmetrics-text, body ends with '# EOF'",
    "/api/v1/cache/stats: the server is listed with the redis pid and /metrics' figures",
    "/api/v1/cache/stats: hit_ratio.since_start == hits / (hits + misses)",
    "/api/v1/cache/stats: get has p50 <= p95 <= p99, > 0 (window and since start)",
    "/api/v1/cache/stats: top_prefixes_by_misses sorted by misses, figures as in /metrics",
    "privacy: neither the secret key nor the value appears in /metrics or /api/v1/cache/stats",
]
REDIS_FAMILIES = {
    "nexus_redis_commands_total": "counter",
    "nexus_redis_command_duration_seconds": "histogram",
    "nexus_redis_blocking_command_duration_seconds": "histogram",
    "nexus_redis_keyspace_hits_total": "counter",
    "nexus_redis_keyspace_misses_total": "counter",
    "nexus_redis_key_prefix_hits_total": "counter",
    "nexus_redis_key_prefix_misses_total": "counter",
    "nexus_redis_connections": "gauge",
    "nexus_redis_connections_opened_total": "counter",
    "nexus_redis_parse_errors_total": "counter",
    "nexus_redis_resyncs_total": "counter",
    "nexus_redis_unpaired_commands_total": "counter",
    "nexus_redis_pushes_total": "counter",
    "nexus_redis_dropped_series_total": "counter",
}


def secret_leaks(text):
    """Where a secret shows in text (also hex-encoded, as a raw data_hex would carry it)."""
    out = []
    for s in (SECRET_KEY, SECRET_VALUE):
        for form in (s, s.encode().hex()):
            if form.lower() in text.lower():
                out.append(form)
    return out


def group_expo(g, promtool_missing):
    c = EXPO_CHECKS
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        ctx, port = start_agent(rd)
        with ctx as a:
            with RespClient(rd.port) as cl:
                cl.pipeline([("SET", "user:%d" % i, "v") for i in range(5)]
                            + [("SET", "session:1", "v"), ("HSET", "h:1", "f", "v")])
                cl.pipeline([("GET", "user:%d" % i) for i in range(10)]
                            + [("GET", "session:%d" % i) for i in range(4)]
                            + [("GET", "cart:%d" % i) for i in range(6)]
                            + [("GET", "h:1"), ("GET", "plain"), ("MGET", "user:1", "user:8")])
                cl.call("SET", "user:" + SECRET_KEY, SECRET_VALUE)
                cl.call("GET", "user:" + SECRET_KEY)
                cl.call("BLPOP", "queue:empty", "0.1")  # a blocking command (times out)
                cl.call("CONFIG", "GET", "maxmemory")
                for i in range(200):
                    cl.call("GET", "user:%d" % (i % 7))
            # every GET (223) and the BLPOP counted, then one more publication
            wait_view(port, server, lambda v: v.count("blpop") >= 1 and v.count("get") >= 223, 15)
            time.sleep(PUBLISH_WAIT)
            _, _, text = fetch(port, "/metrics")
            _, _, api_text = fetch(port, "/api/v1/cache/stats")
            text2 = fetch(port, "/metrics")[2]
            om_status, om_ctype, om_text = fetch(port, "/metrics", accept=OPENMETRICS)
            alive = a.running
        # ---- promtool
        if promtool_missing:
            g.tap.skip(c[0], "promtool not installed")
            g.done.add(c[0])
        else:
            p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            out = (p.stdout + p.stderr).decode(errors="replace").strip()
            g.check(c[0], alive and p.returncode == 0 and out == "",
                    ["promtool exit %d" % p.returncode] + out.splitlines()[:15])
        # ---- strict parse and families
        try:
            fams = h.parse_prometheus(text)
            perr = None
        except h.PromParseError as e:
            fams, perr = {}, str(e)
        wrong = ["%s: TYPE %r want %s, %d samples" % (n, fams.get(n, {}).get("type"), t,
                                                      len(fams.get(n, {}).get("samples", [])))
                 for n, t in REDIS_FAMILIES.items()
                 if fams.get(n, {}).get("type") != t or not fams[n]["samples"]]
        fam = "nexus_redis_command_duration_seconds"
        infs = [l for l, v in samples(fams, fam + "_bucket", fam)
                if l.get("le") == "+Inf" and l.get("command") == "get" and v >= 223]
        fam = "nexus_redis_blocking_command_duration_seconds"
        binfs = [l for l, v in samples(fams, fam + "_bucket", fam)
                 if l.get("le") == "+Inf" and l.get("command") == "blpop" and v == 1]
        plain_blpop = [l for l, v in samples(fams, "nexus_redis_command_duration_seconds_count",
                                             "nexus_redis_command_duration_seconds")
                       if l.get("command") == "blpop"]
        g.check(c[1], perr is None and not wrong and len(infs) == 1 and len(binfs) == 1
                and not plain_blpop,
                ["parse error: %s" % perr] + wrong
                + ["+Inf buckets get %d blpop %d; blpop in the plain histogram: %s"
                   % (len(infs), len(binfs), plain_blpop)])
        # ---- OpenMetrics
        g.check(c[2], om_status == 200 and om_ctype.startswith("application/openmetrics-text")
                and om_text.endswith("# EOF\n") and om_text.count("# EOF") == 1
                and "nexus_redis_commands_total{" in om_text,
                ["status %r content type %r" % (om_status, om_ctype),
                 "ends with %r" % om_text[-40:]])
        # ---- the JSON API
        v = View(text, server)
        try:
            api = json.loads(api_text)
            jerr = None
        except ValueError as e:
            api, jerr = {}, str(e)
        svs = [s for s in api.get("servers", []) if s.get("server") == server]
        sv = svs[0] if len(svs) == 1 else {}
        jd = ["json error: %s" % jerr, "api: " + api_text[:600]]
        g.check(c[3], bool(sv) and sv.get("pid") == rd.pid and sv.get("hits") == v.hits
                and sv.get("misses") == v.misses and v.hits and v.misses
                and isinstance(api.get("parser"), dict)
                and set(api["parser"]) >= {"parse_errors", "resyncs", "unpaired", "pushes"},
                ["metrics: hits %s misses %s; redis pid %d" % (v.hits, v.misses, rd.pid)] + jd)
        hits, misses = sv.get("hits", 0), sv.get("misses", 0)
        ratio = (sv.get("hit_ratio") or {}).get("since_start")
        g.check(c[4], hits + misses > 0 and isinstance(ratio, float)
                and abs(ratio - hits / (hits + misses)) < 1e-9,
                ["since_start %r, hits %r misses %r" % (ratio, hits, misses)] + jd)
        gets = [x for x in sv.get("commands_by_name", []) if x.get("command") == "get"]
        lat_ok = False
        if len(gets) == 1:
            try:
                lat_ok = all(0 < gets[0][w]["p50"] <= gets[0][w]["p95"] <= gets[0][w]["p99"]
                             for w in ("latency_ms_window", "latency_ms_since_start"))
            except (KeyError, TypeError):
                lat_ok = False
        g.check(c[5], lat_ok and gets[0].get("count") == v.count("get")
                and gets[0].get("blocking") is False,
                ["get entries: %s" % json.dumps(gets)[:500], "metrics get count %d"
                 % v.count("get")])
        tops = sv.get("top_prefixes_by_misses", [])
        ms = [t.get("misses") for t in tops]
        mismatch = [t for t in tops
                    if v.prefix_hits.get(t.get("prefix") or "(none)") != t.get("hits")
                    or v.prefix_misses.get(t.get("prefix") or "(none)") != t.get("misses")]
        g.check(c[6], len(tops) >= 3 and ms == sorted(ms, reverse=True) and not mismatch
                and all(isinstance(m_, int) for m_ in ms),
                ["tops %s" % json.dumps(tops)[:500], "metrics hits %s misses %s"
                 % (v.prefix_hits, v.prefix_misses)] + ["mismatch %s" % mismatch])
        leaks = [("metrics", x) for x in secret_leaks(text + text2 + om_text)] + \
            [("api", x) for x in secret_leaks(api_text)]
        g.check(c[7], not leaks and v.count("get") >= 223, ["found: %s" % leaks])


TRACE_CHECKS = [
    "trace --json (decoded): GET of a present key prints a redis event: get, prefix user, hit true",
    "trace --json (decoded): GET of a missing key prints hit false, misses 1",
    "trace --json: redis events carry server 127.0.0.1:PORT, the redis pid, client, latency > 0",
    "trace --json: request_bytes and reply_bytes are the exact sizes on the wire",
    "trace --json: every stdout line is a JSON object; no raw data events for redis bytes",
    "privacy: neither the secret key nor the value appears in the decoded trace output",
]


def group_trace(g):
    c = TRACE_CHECKS
    with h.redis_server() as rd:
        ctx, _ = start_agent(rd, mode="trace")
        with ctx as a:
            rd.cli("SET", "user:1", "v")
            rd.cli("GET", "user:1")
            rd.cli("GET", "user:missing")
            rd.cli("SET", "user:" + SECRET_KEY, SECRET_VALUE)
            rd.cli("GET", "user:" + SECRET_KEY)
            rd.cli("PING")  # the last one: once seen, everything before was printed

            def is_get(e, key_hit):
                return (e.get("event") == "redis" and e.get("command") == "get"
                        and e["keys"][0].get("hit") is key_hit)
            hit = a.wait_for(lambda e: is_get(e, True), 10)
            miss = a.wait_for(lambda e: is_get(e, False), 10)
            a.wait_for(lambda e: e.get("event") == "redis" and e.get("command") == "ping", 10)
            time.sleep(0.3)
        events = a.events
        redis_evs = [e for e in events if e.get("event") == "redis"]
        d = ["redis events: %s" % json.dumps(redis_evs)[:1500]] + a.stderr_tail(5)
        g.check(c[0], hit is not None and hit["keys"][0].get("prefix") == "user"
                and hit.get("status") == "ok" and hit.get("hits") == 1 and hit.get("misses") == 0,
                d)
        g.check(c[1], miss is not None and miss["keys"][0].get("prefix") == "user"
                and miss.get("status") == "ok" and miss.get("misses") == 1
                and miss.get("hits") == 0, d)
        bad = []
        for e in redis_evs:
            if not (e.get("server") == "127.0.0.1:%d" % rd.port and e.get("pid") == rd.pid
                    and e.get("comm") == "redis-server" and TCP_CLIENT.match(str(e.get("client")))
                    and isinstance(e.get("latency_us"), (int, float)) and e["latency_us"] > 0
                    and h.ISO_TIME.match(str(e.get("time"))) and isinstance(e.get("ts_ns"), int)
                    and e.get("db") == 0 and e.get("blocking") is False
                    and e.get("in_multi") is False and isinstance(e.get("keys"), list)):
                bad.append(e)
        g.check(c[2], len(redis_evs) == 6 and not bad,
                ["%d redis events (want 6)" % len(redis_evs)] + [json.dumps(e) for e in bad[:4]])
        sizes_ok = (hit is not None and miss is not None
                    and hit.get("request_bytes") == len(h.resp("GET", "user:1"))
                    and hit.get("reply_bytes") == len(b"$1\r\nv\r\n")
                    and miss.get("request_bytes") == len(h.resp("GET", "user:missing"))
                    and miss.get("reply_bytes") == len(b"$-1\r\n"))
        g.check(c[3], sizes_ok, ["hit %s" % json.dumps(hit), "miss %s" % json.dumps(miss)])
        raw = [e for e in events if e.get("event") == "data" and e.get("pid") == rd.pid]
        g.check(c[4], a.lines and not a.bad_lines and not raw,
                ["%d lines, %d not JSON; %d raw data events from redis"
                 % (len(a.lines), len(a.bad_lines), len(raw))] + a.bad_lines[:3])
        leaks = secret_leaks("\n".join(a.lines) + "\n".join(a.stderr))
        g.check(c[5], not leaks and len(redis_evs) == 6, ["found: %s" % leaks])


MULTI_CHECKS = [
    "MULTI/EXEC with GETs: keyspace hits/misses == INFO deltas exactly (DISCARD, WATCH abort too)",
    "MULTI/EXEC with GETs: get, multi, exec, discard, watch counts == commandstats deltas",
    "MULTI/EXEC with GETs: per-prefix hits/misses == the workload's exactly",
    "MULTI/EXEC with EXISTS and HGETALL (README: exact): keyspace hits/misses == INFO deltas",
]


def group_multi(g):
    c = MULTI_CHECKS
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        ctx, port = start_agent(rd)
        with ctx as a:
            ph = Phase(rd, port, server)
            m = Model()
            with RespClient(rd.port) as cl, RespClient(rd.port) as other:
                for k in ("user:1", "user:2", "session:1"):
                    cl.call("SET", k, "v")
                    m.keys.add(k)
                # a transaction: queued GETs run (and count) at EXEC
                rep = cl.pipeline([("MULTI",), ("GET", "user:1"), ("GET", "user:404"),
                                   ("GET", "session:1"), ("SET", "user:3", "x"), ("GET", "user:3"),
                                   ("GET", "plain"), ("EXEC",)])
                if rep[-1] is None or len(rep[-1]) != 6:
                    raise h.HarnessError("EXEC replied %r" % rep[-1])
                for k in ("user:1", "user:404", "session:1"):
                    m.read(k)
                m.keys.add("user:3")
                m.read("user:3")
                m.read("plain")
                # the same, one command per round trip
                for args in (("MULTI",), ("GET", "user:2"), ("GET", "session:5"), ("EXEC",)):
                    cl.call(*args)
                m.read("user:2")
                m.read("session:5")
                # DISCARD: nothing ran
                cl.pipeline([("MULTI",), ("GET", "user:1"), ("GET", "nope"), ("DISCARD",)])
                # WATCH abort: the EXEC is null, nothing ran
                cl.call("WATCH", "user:1")
                cl.call("MULTI")
                cl.call("GET", "user:2")
                other.call("SET", "user:1", "changed")
                if cl.call("EXEC") is not None:
                    raise h.HarnessError("EXEC after a WATCHed change was not null")
                # after all that, a plain GET on the same connection
                cl.call("GET", "user:1")
                m.read("user:1")
            ph.finish()
            ph2 = Phase(rd, port, server, infos=ph.infos)
            with RespClient(rd.port) as cl:
                cl.call("HSET", "h:1", "f", "v")
                # (MGET inside a transaction is not counted per key: README)
                cl.pipeline([("MULTI",), ("EXISTS", "user:1", "user:2", "nope"),
                             ("HGETALL", "h:1"), ("HGETALL", "h:none"), ("EXEC",)])
            ph2.finish()
            alive = a.running
        d = ph.diag() + a.stderr_tail(5)
        g.check(c[0], alive and ph.d_hits() == ph.want["hits"] == m.hits
                and ph.d_misses() == ph.want["misses"] == m.misses,
                ["workload hits %d misses %d" % (m.hits, m.misses)] + d)
        want = ph.want["cmds"]
        g.check(c[1], not ph.cmd_mismatches() and want.get("exec", (0,))[0] == 3
                and want.get("discard", (0,))[0] == 1 and want.get("get", (0,))[0] == 8,
                ph.cmd_mismatches() + d)
        g.check(c[2], ph.d_prefix() == m.by_prefix,
                ["agent %s" % sorted(ph.d_prefix().items()),
                 "want  %s" % sorted(m.by_prefix.items())])
        # Redis: EXISTS 2 hits 1 miss, HGETALL 1 hit 1 miss = 3 / 2
        g.check(c[3], ph2.d_hits() == ph2.want["hits"] == 3
                and ph2.d_misses() == ph2.want["misses"] == 2, ph2.diag())



UPROBE_CHECKS = [
    "--redis-uprobes: keyspace hits == INFO keyspace_hits delta, exactly, over commands the wire "
    "path does not judge (EXISTS, TYPE, STRLEN, LRANGE, ZSCORE...)",
    "--redis-uprobes: keyspace misses == INFO keyspace_misses delta, exactly",
    "--redis-uprobes: nexus_redis_command_exec_seconds count per command == INFO commandstats "
    "calls delta (rejected commands excluded), plain and pipelined (-P 16)",
    "--redis-uprobes: exec time sum per command >= 0.8 x commandstats usec and <= usec + 10 us "
    "per call (call() wraps the command; uprobe traps inside it add to it)",
    "--redis-uprobes: exec time <= wire duration for each command; no call() record unpaired "
    "(unknown command and wrong arity are rejected before call())",
    "--redis-uprobes: promtool check metrics is clean with the exec histogram",
]


def raw_commandstats(rd):
    """{command: (calls, usec)} of INFO commandstats, container commands as "config get"."""
    out, _ = rd.cli("INFO", "commandstats")
    res = {}
    for line in out.splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.strip()[len("cmdstat_"):].partition(":")
            f = dict(kv.split("=", 1) for kv in rest.split(","))
            res[name.replace("|", " ")] = (int(f["calls"]), int(f["usec"]))
    return res


def exec_view(text, server):
    """{command: [count, sum seconds]} of nexus_redis_command_exec_seconds, and
    {command: sum seconds} of nexus_redis_command_duration_seconds."""
    fams = h.parse_prometheus(text)
    ex, dur = {}, {}
    f = fams.get("nexus_redis_command_exec_seconds", {"samples": []})
    for n, l, v in f["samples"]:
        if l.get("server") != server:
            continue
        if n.endswith("_count"):
            ex.setdefault(l["command"], [0, 0.0])[0] = int(v)
        elif n.endswith("_sum"):
            ex.setdefault(l["command"], [0, 0.0])[1] = v
    for l, v in samples(fams, "nexus_redis_command_duration_seconds_sum",
                        "nexus_redis_command_duration_seconds"):
        if l.get("server") == server:
            dur[l["command"]] = v
    unpaired = {l["reason"]: int(v) for l, v in samples(fams, "nexus_redis_exec_unpaired_total")}
    return ex, dur, unpaired


def group_uprobes(g, promtool_missing):
    c = UPROBE_CHECKS
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        ctx, port = start_agent(rd, "--redis-uprobes")
        with ctx as a:
            ph = Phase(rd, port, server)
            cs0 = raw_commandstats(rd)
            _, _, t0 = fetch(port, "/metrics")
            lines = []
            for i in range(150):
                lines += ["SET s:%d v" % i, "GET s:%d" % (i * 2), "EXISTS s:%d" % (i * 3),
                          "TYPE s:%d" % (i * 2), "STRLEN s:%d" % (i * 2),
                          "RPUSH l:%d a b" % (i % 10), "LRANGE l:%d 0 -1" % (i % 20),
                          "ZADD z:%d 1 m" % (i % 5), "ZSCORE z:%d m" % (i % 10),
                          "HSET hh:%d f v" % i, "HGET hh:%d f" % (i * 2), "INCR n:%d" % i,
                          "NOSUCHCOMMAND %d" % i, "GET"]
            r = subprocess.run(["redis-cli", "-p", str(rd.port)], input="\n".join(lines).encode(),
                               capture_output=True, timeout=60)
            if r.returncode != 0:
                raise h.HarnessError("redis-cli failed: %r" % r.stderr[-200:])
            if h.missing_tools("redis-benchmark") == []:
                subprocess.run(["redis-benchmark", "-p", str(rd.port), "-n", "20000", "-P", "16",
                                "-c", "10", "-t", "get,set", "-q"], capture_output=True,
                               timeout=120)
            cs1 = raw_commandstats(rd)
            ph.finish()
            _, _, t1 = fetch(port, "/metrics")
            alive = a.running
        d = ph.diag() + a.stderr_tail(5)
        g.check(c[0], alive and ph.d_hits() == ph.want["hits"] and ph.want["hits"] > 500,
                ["agent hits %s, INFO %s" % (ph.d_hits(), ph.want["hits"])] + d)
        g.check(c[1], alive and ph.d_misses() == ph.want["misses"] and ph.want["misses"] > 100,
                ["agent misses %s, INFO %s" % (ph.d_misses(), ph.want["misses"])] + d)
        ex0, _, _ = exec_view(t0, server)
        ex1, dur1, unpaired = exec_view(t1, server)
        cmds = ("get", "set", "exists", "type", "strlen", "rpush", "lrange", "zadd", "zscore",
                "hset", "hget", "incr")
        rows = []
        for cmd in cmds:
            calls = cs1.get(cmd, (0, 0))[0] - cs0.get(cmd, (0, 0))[0]
            usec = cs1.get(cmd, (0, 0))[1] - cs0.get(cmd, (0, 0))[1]
            n = ex1.get(cmd, [0, 0])[0] - ex0.get(cmd, [0, 0])[0]
            s = ex1.get(cmd, [0, 0])[1] - ex0.get(cmd, [0, 0])[1]
            rows.append((cmd, calls, n, usec, round(s * 1e6)))
        info = ["(command, commandstats calls, agent count, usec, agent usec): %s" % rows]
        g.check(c[2], all(r[1] == r[2] and r[1] > 0 for r in rows), info + d)
        g.check(c[3], all(0.8 * r[3] <= r[4] <= r[3] + 10 * r[1] for r in rows), info)
        over = [(cmd, ex1[cmd][1], dur1.get(cmd)) for cmd in cmds
                if cmd in ex1 and (dur1.get(cmd) is None or ex1[cmd][1] > dur1[cmd])]
        g.check(c[4], not over and unpaired == {"orphan": 0, "dropped": 0, "unmatched": 0},
                ["exec > duration: %s; unpaired %s" % (over, unpaired)])
        if promtool_missing:
            g.skip_rest("promtool is not installed (Debian package prometheus)")
            return
        r = subprocess.run(["promtool", "check", "metrics"], input=t1.encode(),
                           capture_output=True, timeout=30)
        g.check(c[5], r.returncode == 0 and not (r.stdout + r.stderr).strip(),
                [(r.stdout + r.stderr).decode(errors="replace")[:500]])

def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    priv = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "redis-cli")
    skip = priv or ("missing tools: %s" % " ".join(missing) if missing else None)

    bench_skip = skip or ("missing tools: redis-benchmark"
                          if h.missing_tools("redis-benchmark") else None)
    promtool_missing = bool(h.missing_tools("promtool"))
    h.run_group(tap, MIX_CHECKS, h.guarded(group_mix, 40), skip)
    h.run_group(tap, BURST_CHECKS, h.guarded(group_burst, 40), skip)
    h.run_group(tap, BENCH_CHECKS, h.guarded(group_bench, 90), bench_skip)
    h.run_group(tap, UNIX_CHECKS, h.guarded(group_unix, 30), skip)
    h.run_group(tap, BIG_CHECKS, h.guarded(group_big, 30), skip)
    h.run_group(tap, DISCONNECT_CHECKS, h.guarded(group_disconnect, 45), skip)
    h.run_group(tap, EXPO_CHECKS, h.guarded(lambda g: group_expo(g, promtool_missing), 30), skip)
    h.run_group(tap, TRACE_CHECKS, h.guarded(group_trace, 30), skip)
    h.run_group(tap, MULTI_CHECKS, h.guarded(group_multi, 40), skip)
    h.run_group(tap, UPROBE_CHECKS,
                h.guarded(lambda g: group_uprobes(g, promtool_missing), 120), skip)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
