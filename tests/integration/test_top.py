#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`nexus-agent top` used as a person would: a real redis-server and postgres under light load,
an agent (`run` on a free port) watching them, and top in a tmux pane: keys sent with
`tmux send-keys`, the screen read with `tmux capture-pane -p`. The servers are listed, Enter
shows a server's commands and clients, / filters, the sort keys move the sort column, p pauses,
a resized window is redrawn, q and Ctrl-C leave the terminal as it was (stty unchanged) and exit
0. Then `--batch -n 2`, and top without --connect starting (and stopping) its own agent."""
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SCREEN_CHECKS = [
    "screen: both servers listed with kind, address and pid (redis-server, postmaster)",
    "screen: the header shows health, events/s, lost and firing alerts",
    "screen: the Redis row shows the light load (ops/s > 0) and its connections",
    "screen: / filters the servers (only the Redis row left)",
    "screen: Enter on Redis shows its top commands (get, set) and the clients heading",
    "screen: Esc goes back to the servers table",
    "screen: Enter on PostgreSQL shows query fingerprints and the client's application",
    "screen: Backspace goes back as well",
    "screen: > moves the sort column (shown on the help line), r reverses it",
    "screen: p pauses ([PAUSED]) and p resumes",
    "screen: a resized window (120x40, then 80x24) is redrawn at its new width",
    "screen: q exits 0 and leaves the terminal as it was",
    "screen: Ctrl-C exits 0 and leaves the terminal as it was",
]
BATCH_CHECKS = [
    "batch -n 2: two refreshes of text tables, exit 0",
    "batch: the servers table and each server's commands and clients tables",
]
OWN_CHECKS = [
    "no agent at 127.0.0.1:9435: top starts its own (run on a loopback port) and reads it",
    "its own agent is stopped when top ends",
    "screen without --connect: q stops its own agent too",
    "top killed with SIGKILL: its own agent still goes (parent-death signal)",
]


class Load:
    """Light traffic: a Redis client doing SET/GET every 20 ms over TCP, and one psql session
    running a couple of statements every 100 ms (application name nx-top-load)."""

    def __init__(self, rd, pg):
        self.rd, self.pg = rd, pg
        self.stop = threading.Event()
        self.thread = None
        self.psql = None
        self.redis_ops = 0

    def _redis(self):
        try:
            with socket.create_connection(("127.0.0.1", self.rd.port), timeout=5) as s:
                i = 0
                while not self.stop.is_set():
                    key = b"user:%d" % (i % 50)
                    for req in (b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(key), key),
                                b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)):
                        s.sendall(req)
                        s.recv(4096)
                        self.redis_ops += 1
                    i += 1
                    time.sleep(0.02)
        except OSError:
            pass

    def start(self):
        self.thread = threading.Thread(target=self._redis, daemon=True)
        self.thread.start()
        self.psql = h.psql_session(self.pg, "nx-top-load")
        threading.Thread(target=self._pg, daemon=True).start()
        return self

    def _pg(self):
        try:
            while not self.stop.is_set():
                self.psql.stdin.write(b"SELECT count(*) FROM pg_class;\n"
                                      b"SELECT pg_sleep(0.002);\n")
                self.psql.stdin.flush()
                time.sleep(0.1)
        except (OSError, ValueError):
            pass

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join(timeout=5)
        if self.psql:
            h.end_psql(self.psql)


class Tmux:
    """A tmux server of our own (-L), one window running cmd."""

    def __init__(self, cmd, width=80, height=24):
        # a socket per instance, in a directory of its own: a new server on the socket of one
        # still shutting down fails, and tmux leaves its socket behind
        self.dir = tempfile.mkdtemp(prefix="nx-top-tmux-")
        self.sock = os.path.join(self.dir, "sock")
        self.cmd, self.width, self.height = cmd, width, height

    def tmux(self, *args, check=True):
        r = subprocess.run(["tmux", "-S", self.sock] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        if check and r.returncode != 0:
            raise h.HarnessError("tmux %s: %s" % (" ".join(args), r.stderr.decode().strip()))
        return r.stdout.decode(errors="replace")

    def __enter__(self):
        # -f /dev/null: no user configuration; TERM inside is tmux's default (screen)
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "top", "-x", str(self.width),
                  "-y", str(self.height), self.cmd)
        return self

    def __exit__(self, *exc):
        self.tmux("kill-server", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "top", *keys)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "top", check=False)

    def wait(self, pred, timeout=15):
        """The screen once pred(screen) holds, or None (the last screen is in self.last)."""
        def look():
            self.last = self.screen()
            return self.last if pred(self.last) else None
        self.last = ""
        return h.wait_until(look, timeout, 0.2)


def wrap(cmd):
    """cmd in a shell that records the terminal's settings before and after it, and its exit
    status, then stays (so the pane can be read)."""
    # bash, not sh: on Ctrl-C bash waits for top and carries on when top exits normally
    return ("bash -c %s" % shlex.quote(
        "S=$(stty -g); %s; echo \"EXIT=$?\"; "
        "if [ \"$(stty -g)\" = \"$S\" ]; then echo TTY=same; else echo TTY=changed; fi; "
        "sleep 600" % cmd))


def row_of(screen, needle):
    for line in screen.splitlines():
        if needle in line:
            return line
    return None


def screen_group(g, rd, pg, port):
    top = "%s top --connect 127.0.0.1:%d" % (shlex.quote(h.AGENT), port)
    raddr, paddr = "127.0.0.1:%d" % rd.port, "127.0.0.1:%d" % pg.port
    with Tmux(wrap(top)) as t:
        # the agent's windows need a moment of traffic: wait for both rows and some ops
        s = t.wait(lambda s: raddr in s and paddr in s and "health" in s, 30)
        rrow, prow = row_of(s or "", raddr), row_of(s or "", paddr)
        g.check(SCREEN_CHECKS[0],
                rrow is not None and prow is not None and rrow.split()[0] == "redis"
                and prow.split()[0] == "pg" and str(rd.pid) in rrow.split()
                and str(pg.pid) in prow.split(),
                ["screen:"] + t.last.splitlines())
        g.check(SCREEN_CHECKS[1],
                s is not None and re.search(r"health \S+\s+events/s \S+\s+lost \d+\s+"
                                            r"firing alerts \d+", s) is not None,
                t.last.splitlines())

        def redis_busy(s):
            r = row_of(s, raddr)
            if not r:
                return False
            cols = r.split()
            # KIND ADDRESS PID OPS/S P50 P95 P99 WAIT99 ERR% HIT% CONN AL
            try:
                return float(cols[3].rstrip("kM")) > 0 and cols[10] not in ("-", "0")
            except (ValueError, IndexError):
                return False
        s = t.wait(redis_busy, 20)
        g.check(SCREEN_CHECKS[2], s is not None,
                ["redis row: %r" % row_of(t.last, raddr)] + t.last.splitlines())

        t.keys("/", "redis", "Enter")
        s = t.wait(lambda s: raddr in s and paddr not in s and "filter=redis" in s, 10)
        g.check(SCREEN_CHECKS[3], s is not None, t.last.splitlines())

        t.keys("Enter")
        s = t.wait(lambda s: "top commands" in s and re.search(r"^get\s", s, re.M)
                   and re.search(r"^set\s", s, re.M) and "top clients" in s, 10)
        g.check(SCREEN_CHECKS[4], s is not None, t.last.splitlines())

        t.keys("Escape")
        s = t.wait(lambda s: "Enter:details" in s and "top commands" not in s
                   and raddr in s, 10)
        g.check(SCREEN_CHECKS[5], s is not None, t.last.splitlines())

        t.keys("Escape")  # clears the filter
        t.wait(lambda s: paddr in s, 10)
        t.keys("/", "pg", "Enter")
        t.wait(lambda s: paddr in s and raddr not in s, 10)
        t.keys("Enter")
        s = t.wait(lambda s: "top query fingerprints" in s and "pg_class" in s
                   and "nx-top-load" in s, 15)
        g.check(SCREEN_CHECKS[6], s is not None, t.last.splitlines())
        t.keys("BSpace")
        s = t.wait(lambda s: "Enter:details" in s and "top query" not in s and paddr in s, 10)
        g.check(SCREEN_CHECKS[7], s is not None, t.last.splitlines())
        t.keys("Escape")
        t.wait(lambda s: raddr in s and paddr in s, 10)

        t.keys(">")
        s1 = t.wait(lambda s: "sort(P50 desc)" in s, 10)
        t.keys("r")
        s2 = t.wait(lambda s: "sort(P50 asc)" in s, 10)
        g.check(SCREEN_CHECKS[8], s1 is not None and s2 is not None, t.last.splitlines())

        t.keys("p")
        s1 = t.wait(lambda s: "[PAUSED]" in s and "p:resume" in s, 10)
        t.keys("p")
        s2 = t.wait(lambda s: "[PAUSED]" not in s and "p:pause" in s, 10)
        g.check(SCREEN_CHECKS[9], s1 is not None and s2 is not None, t.last.splitlines())

        def header_width(s):
            line = row_of(s, "ADDRESS")
            return len(line.rstrip()) if line else 0
        t.tmux("resize-window", "-t", "top", "-x", "120", "-y", "40")
        wide = t.wait(lambda s: header_width(s) > 100 and len(s.splitlines()) >= 39, 10)
        wide_screen = t.last
        t.tmux("resize-window", "-t", "top", "-x", "80", "-y", "24")
        narrow = t.wait(lambda s: 60 < header_width(s) <= 80 and raddr in s, 10)
        g.check(SCREEN_CHECKS[10], wide is not None and narrow is not None,
                ["at 120x40:"] + wide_screen.splitlines() + ["at 80x24:"] + t.last.splitlines())

        t.keys("q")
        s = t.wait(lambda s: "EXIT=" in s and "TTY=" in s, 15)
        g.check(SCREEN_CHECKS[11], s is not None and "EXIT=0" in s and "TTY=same" in s
                and "ADDRESS" not in s, t.last.splitlines())

    with Tmux(wrap(top)) as t:
        t.wait(lambda s: raddr in s, 20)
        t.keys("C-c")
        s = t.wait(lambda s: "EXIT=" in s and "TTY=" in s, 15)
        g.check(SCREEN_CHECKS[12], s is not None and "EXIT=0" in s and "TTY=same" in s,
                t.last.splitlines())


def batch_group(g, rd, pg, port):
    r, _ = h.run([h.AGENT, "top", "--connect", "127.0.0.1:%d" % port, "--batch", "-n", "2"],
                 timeout=30)
    out = r.stdout.decode(errors="replace")
    blocks = [b for b in out.split("--- ") if b.strip()]
    g.check(BATCH_CHECKS[0], r.returncode == 0 and len(blocks) == 2,
            ["status %d, %d blocks" % (r.returncode, len(blocks))] + out.splitlines()[:40]
            + r.stderr.decode(errors="replace").splitlines())
    last = blocks[-1] if blocks else ""
    raddr, paddr = "127.0.0.1:%d" % rd.port, "127.0.0.1:%d" % pg.port
    g.check(BATCH_CHECKS[1],
            re.search(r"^KIND\s+ADDRESS\s+PID\s+OPS/S", last, re.M) is not None
            and re.search(r"^redis\s+%s\s" % re.escape(raddr), last, re.M) is not None
            and re.search(r"^pg\s+%s\s" % re.escape(paddr), last, re.M) is not None
            and "redis %s: top commands" % raddr in last
            and "pg %s: top query fingerprints" % paddr in last
            and "pg %s: top clients" % paddr in last and "nx-top-load" in last,
            last.splitlines())


def own_agent_group(g, rd, pg):
    try:
        with socket.create_connection(("127.0.0.1", 9435), timeout=1):
            g.skip_rest("an agent (or something) listens on 127.0.0.1:9435 here")
            return
    except OSError:
        pass
    r, _ = h.run([h.AGENT, "top", "--no-default-targets", "--pid", str(rd.pid), "--pid",
                  str(pg.pid), "--batch", "-n", "2", "-d", "1"], timeout=90)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    m = re.search(r"starting one on (127\.0\.0\.1:\d+) \(pid (\d+)\)", err)
    g.check(OWN_CHECKS[0],
            r.returncode == 0 and m is not None and "redis 127.0.0.1:%d" % rd.port in out,
            ["status %d" % r.returncode] + err.splitlines() + out.splitlines()[:30])
    went = m is not None and gone(int(m.group(2)))
    answers = True
    if m:
        try:
            with socket.create_connection(m.group(1).split(":"), timeout=1):
                pass
        except OSError:
            answers = False
    g.check(OWN_CHECKS[1], went and not answers,
            ["child pid %s exists: %s; its port answers: %s"
             % (m.group(2) if m else None, not went, answers)])

    targets = "--no-default-targets --pid %d --pid %d" % (rd.pid, pg.pid)
    raddr = "127.0.0.1:%d" % rd.port
    with Tmux(wrap("%s top %s 2>/tmp/nx-top-test-%d.err" % (shlex.quote(h.AGENT), targets,
                                                          os.getpid()))) as t:
        s = t.wait(lambda s: "own agent http://127.0.0.1:" in s and raddr in s, 60)
        m = re.search(r"own agent http://(127\.0\.0\.1:\d+)", t.last)
        child = child_pid(m.group(1).split(":")[1]) if m else None
        t.keys("q")
        done = t.wait(lambda s: "EXIT=" in s and "TTY=" in s, 20)
        went = h.wait_until(lambda: child and gone(child), 10)
        g.check(OWN_CHECKS[2], s is not None and child is not None and done is not None
                and "EXIT=0" in done and "TTY=same" in done and went,
                ["screen with the Redis row: %s, child pid %s, top exited: %s, child gone: %s"
                 % (s is not None, child, done is not None, went)] + t.last.splitlines())
    try:
        os.unlink("/tmp/nx-top-test-%d.err" % os.getpid())
    except OSError:
        pass

    top = subprocess.Popen([h.AGENT, "top"] + targets.split() + ["--batch"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, start_new_session=True)
    try:
        line = top.stderr.readline().decode(errors="replace")
        m = re.search(r"\(pid (\d+)\)", line)
        child = int(m.group(1)) if m else None
        alive = child is not None and not gone(child)
        top.kill()
        top.wait(timeout=10)
        went = h.wait_until(lambda: child and gone(child), 15)
        g.check(OWN_CHECKS[3], alive and went,
                ["top said: %r; child alive before: %s, gone after: %s" % (line, alive, went)])
    finally:
        if top.poll() is None:
            top.kill()
            top.wait()


def gone(pid):
    """pid has exited (a zombie waiting for its new parent to reap it counts as exited)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def child_pid(port):
    """The pid of the `nexus-agent run --listen 127.0.0.1:PORT` process, or None."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"run" in args and ("127.0.0.1:%s" % port).encode() in args:
            return int(d)
    return None


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    reason = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "initdb", "postgres", "psql", "runuser")
    if not reason and missing:
        reason = "missing tools: %s" % " ".join(missing)
    tmux_reason = None if shutil.which("tmux") else \
        "tmux is not installed (Debian package tmux; deploy/install-deps.sh installs it)"
    if not reason and not os.access(h.AGENT, os.X_OK):
        reason = "agent binary %s not built" % h.AGENT
    groups = h.Groups(tap, SCREEN_CHECKS, BATCH_CHECKS, OWN_CHECKS)
    if reason:
        groups.skip_all(reason)
        return tap.done()

    try:
        with h.redis_server() as rd, h.postgres_server() as pg:
            load = Load(rd, pg)
            try:
                port = h.free_port()
                with h.agent("--no-default-targets", "--pid", str(rd.pid), "--pid", str(pg.pid),
                             "--listen", "127.0.0.1:%d" % port, mode="run"):
                    # after the agent: it sees the connections' startup (application name)
                    load.start()
                    def screen(g):
                        with h.time_limit(240):
                            screen_group(g, rd, pg, port)

                    def batch(g):
                        with h.time_limit(60):
                            batch_group(g, rd, pg, port)

                    groups.run(SCREEN_CHECKS, screen, tmux_reason)
                    groups.run(BATCH_CHECKS, batch)

                # the test's agent is gone: top without --connect starts one of its own
                def own(g):
                    with h.time_limit(240):
                        own_agent_group(g, rd, pg)

                groups.run(OWN_CHECKS, own)
            finally:
                load.close()
    except h.HarnessError as e:
        groups.setup_failed(e)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
