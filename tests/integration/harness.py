# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Helpers for nexus-agent's integration tests (Python standard library only).

TAP output, free ports, real redis-server and postgres instances in temporary directories, and the
agent itself run in the background with its JSON event stream collected. Every context manager
cleans up (kills its processes, removes its directories) even when the body raises.
"""

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
AGENT = os.environ.get("NEXUS_AGENT", os.path.join(REPO, "build", "nexus-agent"))
PG_BIN = os.environ.get("NEXUS_PG_BIN", "/usr/lib/postgresql/15/bin")
ATTACH_LINE = "nexus-agent: attached"
ATTACH_TIMEOUT = 30.0


class HarnessError(Exception):
    """A test's prerequisite (a server, the agent) could not be set up."""


# --------------------------------------------------------------------------------------------- TAP

class Tap:
    """Numbered TAP lines on stdout, flushed one by one; the plan comes last."""

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.n = 0
        self.failed = 0
        self.skipped = 0

    def _emit(self, line):
        self.out.write(line + "\n")
        self.out.flush()

    def diag(self, *lines):
        for text in lines:
            for line in str(text).splitlines() or [""]:
                self._emit("# " + line)

    def ok(self, cond, name, diag=None):
        """One test line; diagnostics (str or list) are printed when the check fails."""
        self.n += 1
        name = name.replace("#", "\\#")
        if cond:
            self._emit("ok %d - %s" % (self.n, name))
        else:
            self.failed += 1
            self._emit("not ok %d - %s" % (self.n, name))
            if diag is not None:
                self.diag(*(diag if isinstance(diag, (list, tuple)) else [diag]))
        return bool(cond)

    def skip(self, name, reason):
        self.n += 1
        self.skipped += 1
        self._emit("ok %d - %s # SKIP %s" % (self.n, name.replace("#", "\\#"), reason))

    def done(self):
        self._emit("1..%d" % self.n)
        return 1 if self.failed else 0


class Group:
    """A set of checks announced up front, so that every one of them gets a TAP line even when
    the group is skipped or dies half way (the missing ones are reported as failures)."""

    def __init__(self, tap, names):
        self.tap = tap
        self.names = list(names)
        self.done = set()

    def check(self, name, cond, diag=None):
        assert name in self.names and name not in self.done, "undeclared or repeated check: " + name
        self.done.add(name)
        return self.tap.ok(cond, name, diag)

    def remaining(self):
        return [n for n in self.names if n not in self.done]

    def skip_rest(self, reason):
        for n in self.remaining():
            self.done.add(n)
            self.tap.skip(n, reason)

    def fail_rest(self, why):
        for n in self.remaining():
            self.done.add(n)
            self.tap.ok(False, n, why)


def run_group(tap, names, fn, skip_reason=None):
    """Run fn(group); a skip reason skips every check; an exception fails the unreported ones."""
    g = Group(tap, names)
    if skip_reason:
        g.skip_rest(skip_reason)
        return
    try:
        fn(g)
    except Exception as e:  # noqa: BLE001 - any failure of the body is a test failure
        lines = ["group aborted: %s: %s" % (type(e).__name__, e)]
        lines += traceback.format_exc().rstrip().splitlines()[-12:]
        if isinstance(e, HarnessError) and getattr(e, "detail", None):
            lines += e.detail
        g.fail_rest(lines)
    else:
        g.fail_rest("check was never reached")


class Groups:
    """The TAP groups of a test that sets up once for all of them (servers, the agent): each
    group is run through run(), and when the set-up fails, setup_failed() fails the groups not
    run yet with its reason."""

    def __init__(self, tap, *groups):
        self.tap, self.groups, self.reported = tap, groups, set()

    def run(self, names, fn, skip=None):
        self.reported.add(id(names))
        run_group(self.tap, names, fn, skip)

    def skip_all(self, reason):
        for names in self.groups:
            self.run(names, None, reason)

    def setup_failed(self, e):
        why = ["setup failed: %s" % e] + list(getattr(e, "detail", None) or [])
        for names in self.groups:
            if id(names) not in self.reported:
                self.run(names, lambda g: g.fail_rest(why))


def guarded(fn, limit, *args):
    """A group body for run_group: fn(g, *args) within limit seconds, once the agent binary is
    known to be built (else every check of the group fails saying so)."""
    def body(g):
        if not os.access(AGENT, os.X_OK):
            g.fail_rest("agent binary %s not built" % AGENT)
            return
        with time_limit(limit):
            fn(g, *args)
    return body


def run_group_in_tmpdir(tap, names, fn, skip, prefix, limit):
    """run_group of fn(g, tmp) within limit seconds, tmp a directory of its own removed after."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        def run_body(g):
            with time_limit(limit):
                fn(g, tmp)
        run_group(tap, names, run_body, skip)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def privilege_skip_reason():
    """Why tests that load BPF programs cannot run here, or None."""
    if os.geteuid() != 0:
        return "not running as root (loading BPF programs needs it)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel has no BTF (/sys/kernel/btf/vmlinux missing)"
    return None


def missing_tools(*names):
    """Names of executables (plain names looked up on PATH and in PG_BIN) that are absent."""
    missing = []
    for n in names:
        if os.path.isabs(n):
            if not os.access(n, os.X_OK):
                missing.append(n)
        elif not shutil.which(n) and not os.access(os.path.join(PG_BIN, n), os.X_OK):
            missing.append(n)
    return missing


def pg_tool(name):
    p = os.path.join(PG_BIN, name)
    return p if os.access(p, os.X_OK) else (shutil.which(name) or p)


# libpq's environment for the tests' own clients: plain TCP, and no hang on a dead server
PG_ENV = {"PGSSLMODE": "disable", "PGGSSENCMODE": "disable", "PGCONNECT_TIMEOUT": "10"}


def pg_env():
    """The environment for psql/pgbench run by a test (application name nx-test), no password."""
    env = dict(os.environ, PGAPPNAME="nx-test", **PG_ENV)
    env.pop("PGPASSWORD", None)
    return env


def psql_session(pg, appname, stderr=subprocess.DEVNULL):
    """A psql reading statements from its stdin over TCP (one session for a test's load); end
    it with end_psql()."""
    env = dict(os.environ, PGSSLMODE="disable", PGGSSENCMODE="disable", PGAPPNAME=appname)
    return subprocess.Popen(
        [pg_tool("psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U",
         "postgres", "-d", "postgres", "-f", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, env=env)


def end_psql(proc):
    """Ends a psql_session(): its input closed, then killed if it has not gone in 5 s."""
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ----------------------------------------------------------------------------------------- network

def free_port():
    """A TCP port nothing listens on right now (on 127.0.0.1 and, when there is IPv6, ::1)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s6:
                s6.bind(("::1", port))
        except OSError as e:
            if e.errno not in (97, 99):  # EAFNOSUPPORT, EADDRNOTAVAIL: no IPv6 here, fine
                continue
        return port
    raise HarnessError("no free TCP port found")


def fetch(port, path="/metrics", timeout=5):
    """GET http://127.0.0.1:port/path; the body as text (an HTTP error raises)."""
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.read().decode("utf-8")


def resp(*args):
    """A command as clients send it: a RESP array of bulk strings (str, bytes or numbers)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def commandstats(redis):
    """{command: calls} from INFO commandstats."""
    out, _ = redis.cli("INFO", "commandstats")
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"cmdstat_(\w+):calls=(\d+)", out)}


def pg_message(sk, buf):
    """One PostgreSQL backend message read from socket sk: (type byte, body, the bytes after it);
    buf holds what was read already."""
    while len(buf) < 5 or len(buf) < 1 + struct.unpack("!i", buf[1:5])[0]:
        part = sk.recv(65536)
        if not part:
            raise HarnessError("postgres closed the connection")
        buf += part
    t, ln = buf[:1], struct.unpack("!i", buf[1:5])[0]
    return t, buf[5:1 + ln], buf[1 + ln:]


def wait_until(pred, timeout, interval=0.05):
    """Poll pred() until it returns something truthy (returned) or timeout seconds pass (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def run(cmd, timeout=20, **kw):
    """subprocess.run with captured text output and a timeout; returns (CompletedProcess, pid)."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise HarnessError("timed out after %ss: %s" % (timeout, " ".join(map(str, cmd))))
    return subprocess.CompletedProcess(cmd, p.returncode, out, err), p.pid


def _stop_process(proc, sig=signal.SIGTERM, grace=10.0, group=True):
    """Signal a process (its whole session/group when group), wait, then SIGKILL what is left."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    if group:
        try:  # stragglers in the group (e.g. postgres backends) even when the leader is gone
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if proc.poll() is None:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _tail(path, n=20):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


# ------------------------------------------------------------------------------------------- redis

class Redis:
    def __init__(self, port, sock, tmpdir, proc, log):
        self.port, self.sock, self.dir, self.proc, self.log = port, sock, tmpdir, proc, log
        self.client_pids = []

    @property
    def pid(self):
        return self.proc.pid

    def cli(self, *args, unix=False, timeout=15):
        """Run redis-cli against this server (TCP on 127.0.0.1, or the unix socket);
        returns (stdout stripped, pid of the redis-cli process)."""
        conn = ["-s", self.sock] if unix else ["-h", "127.0.0.1", "-p", str(self.port)]
        r, pid = run(["redis-cli"] + conn + list(args), timeout=timeout)
        self.client_pids.append(pid)
        if r.returncode != 0:
            raise HarnessError("redis-cli %s failed (%d): %s" % (" ".join(args), r.returncode,
                                                                r.stderr.strip()))
        return r.stdout.decode(errors="replace").strip(), pid

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


@contextlib.contextmanager
def redis_server(timeout=20):
    """A real redis-server on a free port and a unix socket, in a temporary directory."""
    tmpdir = tempfile.mkdtemp(prefix="nx-redis-")
    proc = None
    try:
        port = free_port()
        sock = os.path.join(tmpdir, "redis.sock")
        log = os.path.join(tmpdir, "redis.log")
        with open(log, "wb") as logf:
            proc = subprocess.Popen(
                ["redis-server", "--port", str(port), "--unixsocket", sock,
                 "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                 "--dir", tmpdir, "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=tmpdir)
        r = Redis(port, sock, tmpdir, proc, log)
        if not wait_until(lambda: proc.poll() is not None or (r.ping() and os.path.exists(sock)),
                          timeout, 0.1) or proc.poll() is not None:
            e = HarnessError("redis-server did not come up on port %d" % port)
            e.detail = ["redis log: " + l for l in _tail(log)]
            raise e
        yield r
    finally:
        _stop_process(proc, signal.SIGTERM)
        shutil.rmtree(tmpdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------- postgres

class Postgres:
    def __init__(self, port, sockdir, datadir, tmpdir, proc, log):
        self.port, self.sockdir, self.datadir = port, sockdir, datadir
        self.dir, self.proc, self.log = tmpdir, proc, log
        self.client_pids = []

    @property
    def pid(self):
        """The postmaster's pid (backends are its forked children)."""
        return self.proc.pid

    @property
    def sock_path(self):
        return os.path.join(self.sockdir, ".s.PGSQL.%d" % self.port)

    def psql(self, sql, unix=False, timeout=20):
        """Run statements (a string or a list, one -c each) with psql, over TCP to 127.0.0.1 or
        the unix socket directory; returns (stdout stripped, pid of the psql process)."""
        host = self.sockdir if unix else "127.0.0.1"
        env = dict(os.environ, PGSSLMODE="disable", PGGSSENCMODE="disable",
                   PGCONNECT_TIMEOUT="10", PGAPPNAME="nx-test")
        env.pop("PGPASSWORD", None)
        r, pid = run([pg_tool("psql"), "-X", "-A", "-t", "-h", host, "-p", str(self.port),
                      "-U", "postgres", "-d", "postgres"]
                     + [a for q in ([sql] if isinstance(sql, str) else sql) for a in ("-c", q)],
                     timeout=timeout, env=env)
        self.client_pids.append(pid)
        if r.returncode != 0:
            raise HarnessError("psql failed (%d): %s" % (r.returncode, r.stderr.strip()))
        return r.stdout.decode(errors="replace").strip(), pid

    def ready(self):
        try:
            r, _ = run([pg_tool("pg_isready"), "-q", "-h", self.sockdir, "-p", str(self.port)],
                       timeout=10)
            return r.returncode == 0
        except HarnessError:
            return False


@contextlib.contextmanager
def postgres_server(timeout=60, settings=()):
    """A real postgres (initdb'd as user postgres, trust auth) on a free port on 127.0.0.1 and a
    unix socket directory, all in a temporary directory. settings: more "name=value" for -c."""
    tmpdir = tempfile.mkdtemp(prefix="nx-pg-")
    proc = None
    try:
        pw = pwd.getpwnam("postgres")
        datadir = os.path.join(tmpdir, "data")
        sockdir = os.path.join(tmpdir, "sock")
        os.mkdir(sockdir)
        for d in (tmpdir, sockdir):
            os.chown(d, pw.pw_uid, pw.pw_gid)
        os.chmod(tmpdir, 0o755)
        log = os.path.join(tmpdir, "postgres.log")
        r, _ = run(["runuser", "-u", "postgres", "--", pg_tool("initdb"), "-D", datadir,
                    "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
                   timeout=120, cwd=tmpdir)
        if r.returncode != 0:
            e = HarnessError("initdb failed (%d)" % r.returncode)
            e.detail = (r.stdout + r.stderr).decode(errors="replace").splitlines()[-15:]
            raise e
        port = free_port()
        with open(log, "wb") as logf:
            os.chown(log, pw.pw_uid, pw.pw_gid)
            proc = subprocess.Popen(
                [pg_tool("postgres"), "-D", datadir, "-p", str(port), "-k", sockdir,
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
                + [a for kv in settings for a in ("-c", kv)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=tmpdir, user=pw.pw_uid, group=pw.pw_gid,
                extra_groups=[], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                      "LANG": "C", "LC_ALL": "C"})
        pg = Postgres(port, sockdir, datadir, tmpdir, proc, log)
        if not wait_until(lambda: proc.poll() is not None or pg.ready(), timeout, 0.2) \
                or proc.poll() is not None:
            e = HarnessError("postgres did not become ready on port %d" % port)
            e.detail = ["postgres log: " + l for l in _tail(log)]
            raise e
        yield pg
    finally:
        # SIGINT is postgres' "fast shutdown"; the group kill afterwards catches any backend left.
        _stop_process(proc, signal.SIGINT, grace=15)
        shutil.rmtree(tmpdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------- agent

class AgentRun:
    """The agent running in the background; stdout lines collected by a thread."""

    def __init__(self, argv):
        self.argv = argv
        self.proc = None
        self.lines = []        # raw stdout lines
        self.events = []       # parsed JSON objects, in order
        self.bad_lines = []    # stdout lines that are not a JSON object
        self.stderr = []
        self.returncode = None
        self.stop_signal = None
        self.killed = False
        self._attached = threading.Event()
        self._lock = threading.Lock()
        self._threads = []

    def _read_stdout(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._lock:
                self.lines.append(line)
                try:
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        raise ValueError("not an object")
                    self.events.append(obj)
                except ValueError:
                    self.bad_lines.append(line)

    def _read_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._lock:
                self.stderr.append(line)
            if line.startswith(ATTACH_LINE):
                self._attached.set()

    def start(self, timeout=ATTACH_TIMEOUT):
        if not os.access(self.argv[0], os.X_OK):
            raise HarnessError("agent binary %s is missing (not built?)" % self.argv[0])
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        for fn in (self._read_stdout, self._read_stderr):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self._threads.append(t)
        deadline = time.monotonic() + timeout
        while not self._attached.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() >= deadline:
                why = ("exited with status %s before attaching" % self.proc.poll()
                       if self.proc.poll() is not None
                       else "no '%s' line within %ss" % (ATTACH_LINE, timeout))
                self.stop()
                e = HarnessError("agent %s: %s" % (" ".join(self.argv[1:]), why))
                e.detail = ["agent stderr: " + l for l in self.stderr[-15:]]
                raise e
        return self

    def stop(self, sig=signal.SIGINT, grace=15.0):
        """Stop with sig (SIGKILL after grace seconds); returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.stop_signal = sig
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.proc.kill()
                self.proc.wait(timeout=10)
        for t in self._threads:
            t.join(timeout=5)
        self.returncode = self.proc.returncode
        return self.returncode

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def snapshot(self):
        with self._lock:
            return list(self.events)

    def wait_for(self, pred, timeout=10.0, since=0):
        """The first event (from index since on) satisfying pred, waiting up to timeout seconds
        for it; or None."""
        seen = [since]

        def look():
            with self._lock:
                evs = self.events[seen[0]:]
                seen[0] = len(self.events)
            for ev in evs:
                try:
                    if pred(ev):
                        return ev
                except (KeyError, TypeError, ValueError):
                    pass
            return None

        return wait_until(look, timeout, 0.05)

    def stderr_tail(self, n=15):
        with self._lock:
            return ["agent stderr: " + l for l in self.stderr[-n:]]


@contextlib.contextmanager
def agent(*args, mode="trace", json_output=True, raw=True, stop_signal=signal.SIGINT,
          attach_timeout=ATTACH_TIMEOUT):
    """Run `nexus-agent MODE [--json] [--raw] ARGS...` until the body ends; yields the AgentRun,
    whose events/returncode are complete once the block has exited. raw: trace shows captured
    chunks (data events) rather than decoded commands."""
    argv = [AGENT, mode] + (["--json"] if json_output and mode == "trace" else []) + \
        (["--raw"] if raw and mode == "trace" else []) + list(args)
    a = AgentRun(argv)
    try:
        a.start(attach_timeout)
        yield a
    finally:
        a.stop(stop_signal)


# ------------------------------------------------------------------------------ events and bpftool

def payload(ev):
    """The captured bytes of a data event."""
    return bytes.fromhex(ev.get("data_hex", ""))


def data_events(events, **match):
    """Data events whose fields equal the given values."""
    return [e for e in events if e.get("event") == "data"
            and all(e.get(k) == v for k, v in match.items())]


def find_payload(events, expected, exact=True, **match):
    """The first data event (matching the fields) whose payload equals (or contains) expected."""
    for e in data_events(events, **match):
        try:
            p = payload(e)
        except ValueError:
            continue
        if (p == expected) if exact else (expected in p):
            return e
    return None


def describe(events, limit=12, **match):
    """Diagnostic lines summarising the data events (matching the fields) that were seen."""
    evs = data_events(events, **match)
    out = ["%d data events%s (of %d events)" % (len(evs), " matching %r" % match if match else "",
                                              len(events))]
    for e in evs[:limit]:
        out.append("  pid=%s comm=%s dir=%s transport=%s server=%s syscall=%s len=%s "
                   "captured=%s data=%r" % (e.get("pid"), e.get("comm"), e.get("dir"),
                                            e.get("transport"), e.get("server"), e.get("syscall"),
                                            e.get("len"), e.get("captured"),
                                            _short(e)))
    if len(evs) > limit:
        out.append("  ...")
    return out


def _short(e):
    try:
        p = payload(e)
    except ValueError:
        return "<bad data_hex>"
    return p[:60] + (b"..." if len(p) > 60 else b"")


def bpf_progs():
    """{id: name} of every loaded BPF program, from `bpftool -j prog show`."""
    r, _ = run(["bpftool", "-j", "prog", "show"], timeout=20)
    if r.returncode != 0:
        raise HarnessError("bpftool prog show failed: %s" % r.stderr.decode(errors="replace"))
    text = r.stdout.decode(errors="replace").strip() or "[]"
    return {p["id"]: p.get("name", "") for p in json.loads(text)}


def nx_progs():
    return {i: n for i, n in bpf_progs().items() if n.startswith("nx_")}


ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


class Deadline:
    """A time budget shared by several waits: left(cap) is what remains, at most cap seconds."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self, cap=None, floor=0.2):
        v = max(floor, self.end - time.monotonic())
        return min(cap, v) if cap is not None else v


class GroupTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds):
    """Raise GroupTimeout in the main thread if the block runs longer than seconds."""
    def on_alarm(signum, frame):
        raise GroupTimeout("group exceeded its %ds time limit" % seconds)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(seconds))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def exit_cleanly_on_sigterm():
    """Turn SIGTERM (e.g. from `timeout`) into KeyboardInterrupt so cleanup code still runs."""
    def on_term(signum, frame):
        raise KeyboardInterrupt("SIGTERM")
    signal.signal(signal.SIGTERM, on_term)


# ------------------------------------------------------------------------ Prometheus text format

_METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_VALUE = re.compile(r"^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$")
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromParseError(ValueError):
    pass


def parse_prometheus(text):
    """Strictly parse the Prometheus text exposition format (0.0.4).

    Returns {family: {"type": str|None, "help": str|None, "samples": [(name, labels, value)]}}.
    Raises PromParseError (with the line number) for: a missing final newline, malformed
    HELP/TYPE/sample lines, unknown types, a second HELP or TYPE for a name, a TYPE after the
    family's samples, a family's samples not being contiguous, a repeated series, bad values."""
    if text and not text.endswith("\n"):
        raise PromParseError("text does not end with a newline")
    fams = {}
    finished = set()
    current = None
    series = set()

    def fam(name):
        return fams.setdefault(name, {"type": None, "help": None, "samples": []})

    def family_of(sample):
        if sample in fams and (fams[sample]["type"] or fams[sample]["help"]
                               or fams[sample]["samples"]):
            return sample
        for suffix, kinds in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary")),
                              ("_count", ("histogram", "summary"))):
            if sample.endswith(suffix):
                base = sample[:-len(suffix)]
                if base in fams and fams[base]["type"] in kinds:
                    return base
        return sample

    for no, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        def err(msg):
            raise PromParseError("line %d: %s: %r" % (no, msg, line))
        if line.strip() == "":
            continue
        if line.startswith("#"):
            m = re.match(r"^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$", line)
            if not m:
                continue  # a plain comment
            kw, name, rest = m.group(1), m.group(2), m.group(3)
            if not re.fullmatch(_METRIC, name):
                err("bad metric name in " + kw)
            f = fam(name)
            if kw == "TYPE":
                t = (rest or "").strip()
                if t not in _TYPES:
                    err("unknown metric type")
                if f["type"] is not None:
                    err("second TYPE line for " + name)
                if f["samples"]:
                    err("TYPE line after samples of " + name)
                f["type"] = t
            else:
                if f["help"] is not None:
                    err("second HELP line for " + name)
                if rest is None:
                    rest = ""
                if re.search(r"\\[^\\n]|\\$", rest):
                    err("bad escape in HELP")
                f["help"] = rest
            if name != current:
                if name in finished:
                    err("metadata for %s after its samples ended" % name)
                if current is not None and fams[current]["samples"]:
                    finished.add(current)
                current = name
            continue
        m = re.match(r"^(%s)" % _METRIC, line)
        if not m:
            err("bad metric name")
        name = m.group(1)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            i += 1
            while True:
                while i < len(line) and line[i] in " \t":
                    i += 1
                if i < len(line) and line[i] == "}":
                    i += 1
                    break
                lm = re.compile(_LABEL).match(line, i)
                if not lm:
                    err("bad label name")
                lname = lm.group(0)
                i = lm.end()
                if line[i:i + 2] != '="':
                    err("expected =\" after label name")
                i += 2
                val = []
                while True:
                    if i >= len(line):
                        err("unterminated label value")
                    c = line[i]
                    if c == "\\":
                        nxt = line[i + 1:i + 2]
                        if nxt not in ("\\", '"', "n"):
                            err("bad escape in label value")
                        val.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
                        i += 2
                    elif c == '"':
                        i += 1
                        break
                    else:
                        val.append(c)
                        i += 1
                if lname in labels:
                    err("repeated label " + lname)
                labels[lname] = "".join(val)
                while i < len(line) and line[i] in " \t":
                    i += 1
                if i < len(line) and line[i] == ",":
                    i += 1
                    continue
                if i < len(line) and line[i] == "}":
                    i += 1
                    break
                err("expected , or } in labels")
        rest = line[i:]
        if not rest or rest[0] not in " \t":
            err("expected whitespace before the value")
        parts = rest.split()
        if len(parts) not in (1, 2):
            err("expected a value and an optional timestamp")
        if not _VALUE.match(parts[0]):
            err("bad sample value")
        if len(parts) == 2 and not re.fullmatch(r"-?\d+", parts[1]):
            err("bad timestamp")
        value = float(parts[0].replace("Inf", "inf").replace("NaN", "nan"))
        family = family_of(name)
        if family != current:
            if family in finished:
                err("samples of %s are not contiguous" % family)
            if current is not None:
                finished.add(current)
            current = family
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            err("repeated series")
        series.add(key)
        fam(family)["samples"].append((name, labels, value))
    return fams
