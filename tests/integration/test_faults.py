#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Faults the agent must ride out, each against real servers (issue 13, "Faults").

- a redis-server (with --redis-uprobes) and a postgres (USDT probes, on by default) killed with
  SIGKILL and started again, with a new pid, and once from a copy of the binary elsewhere: the agent
  follows them again within 5 s, their probe figures resume (exec counts equal INFO commandstats;
  USDT commits move), and the agent's uprobe links (counted in /proc/AGENT/fdinfo: event_type
  uprobe/uretprobe) come back to what one live binary needs: nothing stays on the old binary;
- the agent killed with SIGKILL: every program, map and link it held (ids from its fdinfo) is gone
  from `bpftool prog/map/link show`, and a new agent counts exactly again;
- tracefs unmounted (in a private mount namespace, so nothing else on the host notices): the agent
  mounts it and captures; without CAP_SYS_ADMIN it says that it cannot, naming the capability;
- no kernel BTF (a tmpfs over /sys/kernel/btf in a private mount namespace: libbpf finds nothing):
  a clear error, exit status 1, and `check` says the same;
- Alertmanager and webhook receivers that are down, accept and never answer, or answer garbage,
  while alerts fire and are resent every second: capture stays exact (agent counts == INFO
  commandstats) and /metrics answers fast.
- 40 other listeners in the network namespace: a postgres backend's connections are still told
  apart as accepted (the agent keeps the listening ports a process holds, not the namespace's).
A configuration file that is invalid on SIGHUP keeps the last good one: test_alerts.py checks that
("SIGHUP with a broken file ..."); it is not repeated here.

The servers are started by a shell; the agent watches by name (--comm redis-server or postgres: a
--pid's children stop being targets when they exec another program), so other servers on the host
are watched too: the expected number of uprobe links is what one binary needs times the distinct
executables running that server name now. Prints TAP. Needs root and a kernel with BTF.
"""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_redis as tr  # noqa: E402

FOLLOW_S = 5.0  # issue 13: followed again within 5 s


# ------------------------------------------------------------------------------------ helpers

class Shell:
    """A bash reading commands on stdin; the servers are its background children."""

    def __init__(self):
        self.p = subprocess.Popen(["bash"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        self.pids = []

    @property
    def pid(self):
        return self.p.pid

    def spawn(self, argv, log, env=None):
        """Starts argv in the background (bash forks, the child execs it: $! is its pid)."""
        pre = "env -i %s " % " ".join(shlex.quote("%s=%s" % kv) for kv in env.items()) \
            if env else ""
        self.p.stdin.write("%s%s >>%s 2>&1 </dev/null & echo $!\n"
                           % (pre, shlex.join(argv), shlex.quote(log)))
        self.p.stdin.flush()
        pid = int(self.p.stdout.readline())
        self.pids.append(pid)
        return pid

    def close(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait(timeout=10)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def kill9(pid, also=()):
    """SIGKILL and wait until pid (and the pids in also) are gone (reaped by their parent)."""
    os.kill(pid, signal.SIGKILL)
    if not h.wait_until(lambda: not alive(pid) and not any(alive(p) for p in also), 20, 0.05):
        raise h.HarnessError("pid %d (or its children) did not go away after SIGKILL" % pid)


def agent_fds(pid):
    """{"prog": ids, "map": ids, "link": ids, "uprobes": [names]} from /proc/PID/fdinfo."""
    out = {"prog": set(), "map": set(), "link": set(), "uprobes": []}
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            target = os.readlink(os.path.join(d, fd))
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                info = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        except OSError:
            continue
        info = {k.strip(): v.strip() for k, v in info.items()}
        if "bpf-prog" in target and "prog_id" in info:
            out["prog"].add(int(info["prog_id"]))
        elif "bpf-map" in target and "map_id" in info:
            out["map"].add(int(info["map_id"]))
        elif "bpf_link" in target and "link_id" in info:
            out["link"].add(int(info["link_id"]))
            if info.get("event_type") in ("uprobe", "uretprobe"):
                out["uprobes"].append(info.get("name", "?"))
    return out


def n_uprobes(a):
    return len(agent_fds(a.proc.pid)["uprobes"])


def live_exes(comm):
    """{(dev, inode): a /proc/PID/exe path} of the executables processes called comm run now."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read().strip() != comm:
                    continue
            st = os.stat("/proc/%s/exe" % d)
            out.setdefault((st.st_dev, st.st_ino), "/proc/%s/exe" % d)
        except OSError:
            pass
    return out


# the PostgreSQL probes the agent attaches by default (agent/capture/pg_usdt.c)
PG_PROBES = {"buffer__read__done", "lock__wait__start", "lock__wait__done",
             "query__execute__done", "transaction__commit", "transaction__abort",
             "deadlock__found"}
_sites = {}


def usdt_sites(path):
    """Uprobe links libbpf makes for the default PostgreSQL probes in a binary: one per call site
    (readelf -n lists each site as a note)."""
    r, _ = h.run(["readelf", "-n", path], timeout=30)
    names = re.findall(r"^\s*Name: (\S+)", r.stdout.decode(errors="replace"), re.M)
    return sum(1 for n in names if n in PG_PROBES)


def redis_sites(path):
    """4 (call and lookupKey, entry and return) when the binary has both symbols, else 0."""
    r, _ = h.run(["readelf", "-Ws", path], timeout=30)
    syms = {l.split()[-1] for l in r.stdout.decode(errors="replace").splitlines()
            if len(l.split()) >= 8}
    return 4 if {"call", "lookupKey"} <= syms else 0


def expected_links(comm, per_exe):
    total = 0
    for key, path in live_exes(comm).items():
        if key not in _sites:
            try:
                _sites[key] = per_exe(path)
            except h.HarnessError:
                continue
        total += _sites[key]
    return total


def links_settle(a, comm, timeout=5):
    """Waits until the agent's uprobe links == what the executables running comm now need
    (other servers on the host count too); returns (links, expected)."""
    per_exe = redis_sites if comm == "redis-server" else usdt_sites
    state = {}

    def ok():
        state["want"] = expected_links(comm, per_exe)
        state["got"] = n_uprobes(a)
        return state["got"] == state["want"]
    h.wait_until(ok, timeout, 0.1)
    return state["got"], state["want"]


def bpftool_ids(kind):
    r, _ = h.run(["bpftool", "-j", kind, "show"], timeout=30)
    if r.returncode != 0:
        raise h.HarnessError("bpftool %s show: %s" % (kind, r.stderr.decode(errors="replace")))
    return {x["id"] for x in json.loads(r.stdout.decode(errors="replace").strip() or "[]")}


# ------------------------------------------------------------------------------------- redis

class RedisProc:
    """A redis-server started (and restarted) by the shell, always on the same port."""

    def __init__(self, shell, tmp):
        self.shell, self.dir = shell, tmp
        self.port = h.free_port()
        self.sock = os.path.join(tmp, "redis.sock")
        self.log = os.path.join(tmp, "redis.log")
        self.pid = None
        self.client_pids = []

    def start(self, binary="redis-server"):
        self.pid = self.shell.spawn([binary, "--port", str(self.port), "--unixsocket", self.sock,
                                     "--save", "", "--appendonly", "no", "--dir", self.dir],
                                    self.log)
        if not h.wait_until(lambda: self.ping() or not alive(self.pid), 20, 0.05) \
                or not alive(self.pid):
            raise h.HarnessError("redis-server (%s) did not come up on %d" % (binary, self.port))
        return time.monotonic()

    def ping(self):
        return h.Redis.ping(self)

    def cli(self, *args, unix=False, timeout=15):
        # what harness.Redis.cli does; test_redis's INFO helpers call it
        return h.Redis.cli(self, *args, unix=unix, timeout=timeout)


def exec_counts(port, server):
    ex, _, _ = tr.exec_view(h.fetch(port), server)
    return {c: v[0] for c, v in ex.items()}


def redis_workload(rd, n=200):
    lines = []
    for i in range(n):
        lines += ["SET f:%d v" % i, "GET f:%d" % (i * 2), "INCR n:%d" % (i % 7)]
    r = subprocess.run(["redis-cli", "-p", str(rd.port)], input="\n".join(lines).encode(),
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        raise h.HarnessError("redis-cli failed: %r" % r.stderr[-200:])


def followed_redis(rd, port, server, t_up):
    """Seconds from the server being up to the agent counting a GET of it with the uprobes
    (exec figures), or None after FOLLOW_S + a margin."""
    base = exec_counts(port, server).get("get", 0)

    def seen():
        rd.cli("GET", "follow")
        return exec_counts(port, server).get("get", 0) > base
    if h.wait_until(seen, FOLLOW_S + 10, 0.2):
        took = time.monotonic() - t_up
        time.sleep(2 * tr.PUBLISH_WAIT)  # the GETs sent while waiting are all published
        return took
    return None


def exact_redis(rd, port, server):
    """(ok, diag): a workload's exec counts per command == INFO commandstats deltas."""
    cs0, ex0 = tr.raw_commandstats(rd), exec_counts(port, server)
    redis_workload(rd)
    cs1 = tr.raw_commandstats(rd)
    want = {c: cs1.get(c, (0, 0))[0] - cs0.get(c, (0, 0))[0] for c in ("get", "set", "incr")}

    def got():
        ex1 = exec_counts(port, server)
        return {c: ex1.get(c, 0) - ex0.get(c, 0) for c in want}
    ok = h.wait_until(lambda: got() == want, 10, 0.3)
    return bool(ok) and all(v >= 200 for v in want.values()), \
        ["commandstats %s, agent exec counts %s" % (want, got())]


REDIS_CHECKS = [
    "redis: baseline: --redis-uprobes exec counts == INFO commandstats; uprobe links counted",
    "redis: SIGKILL, restart (same binary, new pid): followed within 5 s, exec counts exact, "
    "uprobe links == 4 x executables running redis-server now",
    "redis: SIGKILL, restart from a copy of the binary elsewhere: followed within 5 s, exec "
    "counts exact, uprobe links == 4 x executables running redis-server now",
    "redis: SIGKILL, restart from the original binary: followed within 5 s, exec counts exact, "
    "links == 4 x executables (none left on the copy)",
]


def group_redis(g):
    c = REDIS_CHECKS
    tmp = tempfile.mkdtemp(prefix="nx-faults-")
    sh = Shell()
    try:
        rd = RedisProc(sh, tmp)
        rd.start()
        server = "127.0.0.1:%d" % rd.port
        port = h.free_port()
        with h.agent("--no-default-targets", "--comm", "redis-server", "--redis-uprobes",
                     "--no-usdt", "--listen", "127.0.0.1:%d" % port, mode="run", raw=False) as a:
            links, want = links_settle(a, "redis-server", 10)
            ok, d = exact_redis(rd, port, server)
            g.check(c[0], ok and links == want and want >= 4,
                    d + ["uprobe links %d, want %d (call, lookupKey, entry and return, per "
                         "redis-server executable running)" % (links, want)] + a.stderr_tail(6))
            copy_dir = os.path.join(tmp, "elsewhere", "bin")
            os.makedirs(copy_dir)
            copy = os.path.join(copy_dir, "redis-server")
            shutil.copy2(shutil.which("redis-server"), copy)
            for i, binary in ((1, "redis-server"), (2, copy), (3, "redis-server")):
                old = rd.pid
                kill9(old)
                t_up = rd.start(binary)
                took = followed_redis(rd, port, server, t_up)
                ok, d = exact_redis(rd, port, server) if took is not None else (False, [])
                links, want = links_settle(a, "redis-server")
                g.check(c[i], took is not None and took <= FOLLOW_S and ok
                        and links == want and rd.pid != old,
                        ["pid %d -> %d, followed after %s s" % (old, rd.pid, took),
                         "uprobe links %s, want %s" % (links, want)] + d + a.stderr_tail(6))
    finally:
        sh.close()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------- postgres

class PgProc:
    """A postgres (as user postgres) started and restarted by the shell on one data directory."""

    def __init__(self, shell, tmp):
        import pwd
        self.shell, self.dir = shell, tmp
        self.pw = pwd.getpwnam("postgres")
        self.datadir = os.path.join(tmp, "data")
        self.sockdir = os.path.join(tmp, "sock")
        os.mkdir(self.sockdir)
        for d in (tmp, self.sockdir):
            os.chown(d, self.pw.pw_uid, self.pw.pw_gid)
        os.chmod(tmp, 0o755)
        self.log = os.path.join(tmp, "postgres.log")
        open(self.log, "w").close()
        os.chown(self.log, self.pw.pw_uid, self.pw.pw_gid)
        r, _ = h.run(["runuser", "-u", "postgres", "--", h.pg_tool("initdb"), "-D", self.datadir,
                      "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
                     timeout=120, cwd=tmp)
        if r.returncode != 0:
            raise h.HarnessError("initdb failed: %s" % r.stderr.decode(errors="replace")[-300:])
        self.port = h.free_port()
        self.pid = None

    def start(self, binary=None):
        binary = binary or h.pg_tool("postgres")
        self.pid = self.shell.spawn(
            ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", "--",
             binary, "-D", self.datadir, "-p", str(self.port), "-k", self.sockdir,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"], self.log,
            env={"PATH": "/usr/bin:/bin", "LANG": "C", "LC_ALL": "C"})
        if not h.wait_until(lambda: self.ready() or not alive(self.pid), 60, 0.1) \
                or not alive(self.pid):
            e = h.HarnessError("postgres (%s) did not come up on %d" % (binary, self.port))
            with open(self.log, errors="replace") as f:
                e.detail = f.read().splitlines()[-10:]
            raise e
        return time.monotonic()

    def ready(self):
        try:
            r, _ = h.run([h.pg_tool("pg_isready"), "-q", "-h", self.sockdir, "-p",
                          str(self.port)], timeout=10)
            return r.returncode == 0
        except h.HarnessError:
            return False

    def psql(self, sql):
        env = dict(os.environ, PGSSLMODE="disable", PGCONNECT_TIMEOUT="10")
        r, _ = h.run([h.pg_tool("psql"), "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(self.port),
                      "-U", "postgres", "-d", "postgres", "-c", sql], timeout=30, env=env)
        if r.returncode != 0:
            raise h.HarnessError("psql: %s" % r.stderr.decode(errors="replace")[-300:])
        return r.stdout.decode().strip()


def usdt_commits(port):
    fams = h.parse_prometheus(h.fetch(port))
    return sum(v for l, v in tr.samples(fams, "nexus_postgres_transactions_total")
               if l.get("database") == "postgres" and l.get("outcome") == "commit")


def followed_pg(pg, port, t_up):
    base = usdt_commits(port)

    def seen():
        pg.psql("SELECT 1")
        return usdt_commits(port) > base
    if h.wait_until(seen, FOLLOW_S + 10, 0.2):
        took = time.monotonic() - t_up
        time.sleep(2 * tr.PUBLISH_WAIT)
        return took
    return None


def pg_mirror(tmp):
    """A copy of the postgres binary in a tree of its own (share/ and lib/ linked to Debian's, as
    postgres finds them relative to its binary); its path, or None (with the reason)."""
    real = os.path.realpath(h.pg_tool("postgres"))  # /usr/lib/postgresql/15/bin/postgres
    bindir = os.path.dirname(real)
    m = re.match(r"^/usr/lib/postgresql/(\d+)/bin$", bindir)
    if not m:
        return None, "postgres is not in Debian's layout (%s)" % bindir
    ver = m.group(1)
    root = os.path.join(tmp, "mirror")
    nbin = os.path.join(root, "lib", "postgresql", ver, "bin")
    os.makedirs(nbin)
    os.makedirs(os.path.join(root, "share", "postgresql"))
    os.symlink("/usr/lib/postgresql/%s/lib" % ver, os.path.join(root, "lib", "postgresql", ver,
                                                                  "lib"))
    os.symlink("/usr/share/postgresql/%s" % ver, os.path.join(root, "share", "postgresql", ver))
    shutil.copy2(real, os.path.join(nbin, "postgres"))
    for d in (root, os.path.join(root, "lib"), os.path.join(root, "lib", "postgresql"),
              os.path.join(root, "lib", "postgresql", ver), nbin):
        os.chmod(d, 0o755)
    return os.path.join(nbin, "postgres"), None


PG_CHECKS = [
    "postgres: baseline: USDT commits counted; USDT uprobe links counted",
    "postgres: SIGKILL of the postmaster, restart (same binary, new pid): followed within 5 s "
    "(USDT commits move again), USDT links == the call sites of the executables running postgres now",
    "postgres: SIGKILL, restart from a copy of the binary elsewhere: followed within 5 s, links "
    "== the call sites of the executables running postgres now",
    "postgres: SIGKILL, restart from the original binary: followed within 5 s, links back (none "
    "left on the copy)",
]


def group_pg(g):
    c = PG_CHECKS
    tmp = tempfile.mkdtemp(prefix="nx-faults-pg-")
    sh = Shell()
    try:
        pg = PgProc(sh, tmp)
        pg.start()
        port = h.free_port()
        with h.agent("--no-default-targets", "--comm", "postgres", "--listen",
                     "127.0.0.1:%d" % port, mode="run", raw=False) as a:
            links, want = links_settle(a, "postgres", 10)
            c0 = usdt_commits(port)
            for _ in range(5):
                pg.psql("SELECT 1")
            moved = h.wait_until(lambda: usdt_commits(port) - c0 >= 5, 10, 0.3)
            g.check(c[0], bool(moved) and links == want and want > 0,
                    ["commits %s -> %s; USDT uprobe links %d, want %d (call sites of the "
                     "default probes in the executables running postgres)"
                     % (c0, usdt_commits(port), links, want)] + a.stderr_tail(6))
            copy, why = pg_mirror(tmp)
            for i, binary in ((1, None), (2, copy), (3, None)):
                if i == 2 and copy is None:
                    g.skip_rest(why)
                    break
                old = pg.pid
                kids = children_of(old)
                kill9(old, kids)
                t_up = pg.start(binary)
                took = followed_pg(pg, port, t_up)
                links, want = links_settle(a, "postgres")
                g.check(c[i], took is not None and took <= FOLLOW_S and links == want
                        and pg.pid != old,
                        ["pid %d -> %d, followed after %s s" % (old, pg.pid, took),
                         "USDT links %s, want %s" % (links, want)] + a.stderr_tail(6))
    finally:
        sh.close()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------- the agent

AGENT_CHECKS = [
    "agent SIGKILL: within 5 s none of its programs, maps or links is in bpftool's lists",
    "agent started again after SIGKILL: counts == INFO commandstats exactly",
]


def group_agent(g):
    c = AGENT_CHECKS
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        ctx, port = tr.start_agent(rd)
        with ctx as a:
            fds = agent_fds(a.proc.pid)
            held = {k: set(fds[k]) for k in ("prog", "map", "link")}
            a.proc.kill()
            a.proc.wait(timeout=10)
            a.killed = True

            def left():
                return {k: held[k] & bpftool_ids(k) for k in held}
            gone = h.wait_until(lambda: not any(left().values()), 5, 0.2)
            g.check(c[0], bool(gone) and all(held.values()),
                    ["held %s" % {k: len(v) for k, v in held.items()},
                     "still listed: %s" % left()])
        ctx, port = tr.start_agent(rd)
        with ctx as a:
            ph = tr.Phase(rd, port, server)
            redis_workload(rd, 300)
            ph.finish()
            g.check(c[1], not ph.cmd_mismatches() and ph.want["cmds"].get("get", (0,))[0] >= 300,
                    ph.cmd_mismatches() + ph.diag() + a.stderr_tail(5))


# ------------------------------------------------------------------------ tracefs and no BTF

ENV_CHECKS = [
    "tracefs unmounted (private mount namespace): the agent mounts it, attaches, counts exactly",
    "... the host's tracefs is untouched",
    "tracefs unmounted and no CAP_SYS_ADMIN: exit 1 naming CAP_SYS_ADMIN and tracefs",
    "no kernel BTF (tmpfs over /sys/kernel/btf): exit 1 saying 'no usable kernel BTF ... "
    "CONFIG_DEBUG_INFO_BTF', never attaches",
    "no kernel BTF: `check` says BTF no and exits 1",
]


def in_namespace(script, argv):
    """argv run by sh in a new private mount namespace after script."""
    return [shutil.which("unshare") or "/usr/bin/unshare", "--mount", "--propagation", "private", "sh", "-c",
            script + " && exec " + shlex.join(argv)]


def group_env(g):
    c = ENV_CHECKS
    with h.redis_server() as rd:
        server = "127.0.0.1:%d" % rd.port
        port = h.free_port()
        argv = [h.AGENT, "run", "--no-default-targets", "--pid", str(rd.pid), "--listen",
                "127.0.0.1:%d" % port]
        a = h.AgentRun(in_namespace("umount /sys/kernel/tracing", argv))
        try:
            a.start(h.ATTACH_TIMEOUT)
            ph = tr.Phase(rd, port, server)
            redis_workload(rd, 100)
            ph.finish()
            g.check(c[0], not ph.cmd_mismatches() and ph.want["cmds"].get("set", (0,))[0] >= 100,
                    ph.cmd_mismatches() + ph.diag() + a.stderr_tail(5))
        finally:
            a.stop()
        with open("/proc/self/mounts") as f:
            g.check(c[1], any(l.split()[1] == "/sys/kernel/tracing" and l.split()[2] == "tracefs"
                              for l in f), "the host lost its tracefs mount")
        r, _ = h.run(in_namespace("umount /sys/kernel/tracing",
                                  ["setpriv", "--inh-caps=-all", "--ambient-caps=-all",
                                   "--bounding-set=-all,+bpf,+perfmon,+sys_ptrace,"
                                   "+dac_read_search", "--"] + argv + ["--duration", "5"]),
                     timeout=60)
        err = r.stderr.decode(errors="replace")
        g.check(c[2], r.returncode == 1 and "CAP_SYS_ADMIN" in err and "tracefs" in err,
                ["exit %d, stderr: %s" % (r.returncode, err[-800:])])
        r, _ = h.run(in_namespace("mount -t tmpfs none /sys/kernel/btf",
                                  argv + ["--duration", "5"]), timeout=60)
        err = r.stderr.decode(errors="replace")
        g.check(c[3], r.returncode == 1 and "no usable kernel BTF" in err
                and "CONFIG_DEBUG_INFO_BTF" in err and "attached" not in err,
                ["exit %d, stderr: %s" % (r.returncode, err[-800:])])
        r, _ = h.run(in_namespace("mount -t tmpfs none /sys/kernel/btf", [h.AGENT, "check"]),
                     timeout=60)
        out = r.stdout.decode(errors="replace")
        g.check(c[4], r.returncode == 1 and re.search(r"^\s*BTF\s+no\b", out, re.M),
                ["exit %d, stdout: %s" % (r.returncode, out[:600])])


# ------------------------------------------------------------------------ alert receivers

class BadReceiver:
    """A TCP server on a loopback port: "silent" accepts and never reads nor answers (the
    connections are kept open), "garbage" answers anything with bytes that are not HTTP."""

    def __init__(self, kind):
        self.kind = kind
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(64)
        self.port = self.s.getsockname()[1]
        self.conns = []
        self.accepted = 0
        self.stop_flag = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def _run(self):
        self.s.settimeout(0.2)
        while not self.stop_flag:
            try:
                conn, _ = self.s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            if self.kind == "silent":
                self.conns.append(conn)
                continue
            try:
                conn.settimeout(2)
                conn.recv(65536)
                conn.sendall(b"\x00\xff\xfeGARBAGE \x01\x02 not http at all\r\n\r\n\x00" * 50)
            except OSError:
                pass
            conn.close()

    def stop(self):
        self.stop_flag = True
        self.s.close()
        for c in self.conns:
            c.close()


RULES = """\
notify:
  resend_interval: 1s
  timeout: 30s
custom_rules:
  - name: test_faults_misses
    metric: nexus_redis_keyspace_misses_total
    match: {server: "%s"}
    rate: true
    op: ">"
    threshold: 5
    clear: 1
    for: 1s
    severity: critical
    summary: "test: misses"
"""

RECV_CHECKS = [
    "receivers down / silent / garbage: the alert fires in both agents and the receivers were "
    "tried (connections accepted by the silent and the garbage one)",
    "... capture stays exact in both agents: counts == INFO commandstats over a 20,000-command "
    "load while posts hang or fail",
    "... /metrics answers fast meanwhile (every one of 40 scrapes per agent under 0.5 s)",
]


def group_receivers(g):
    c = RECV_CHECKS
    tmp = tempfile.mkdtemp(prefix="nx-faults-recv-")
    silent, garbage = BadReceiver("silent"), BadReceiver("garbage")
    down = "http://127.0.0.1:%d/down" % h.free_port()
    try:
        with h.redis_server() as rd:
            server = "127.0.0.1:%d" % rd.port
            cfg = os.path.join(tmp, "alerts.yaml")
            with open(cfg, "w") as f:
                f.write(RULES % server)
            p1, p2 = h.free_port(), h.free_port()
            common = ["--no-default-targets", "--pid", str(rd.pid), "--alerts", cfg]
            with h.agent(*common, "--listen", "127.0.0.1:%d" % p1, "--alertmanager",
                         garbage.url, "--webhook", silent.url, mode="run", raw=False) as a1, \
                    h.agent(*common, "--listen", "127.0.0.1:%d" % p2, "--alertmanager", down,
                            "--webhook", down, mode="run", raw=False) as a2:
                ph1 = tr.Phase(rd, p1, server)
                ph2 = tr.Phase(rd, p2, server)
                # misses all along (the rule fires and stays firing: resent every second), and
                # a mixed load while the posts hang or fail
                stop = [False]

                def misses():
                    with tr.RespClient(port=rd.port) as cl:
                        i = 0
                        while not stop[0]:
                            cl.call("GET", "missing:%d" % i)
                            i += 1
                            time.sleep(0.01)
                mt = threading.Thread(target=misses)
                mt.start()
                r = subprocess.run(["redis-benchmark", "-p", str(rd.port), "-n", "4000", "-c", "4",
                                    "-t", "get", "-r", "1000000", "-q"], capture_output=True,
                                   timeout=120)

                def fired(port):
                    doc = json.loads(h.fetch(port, "/api/v1/alerts"))
                    return any(x.get("name") == "test_faults_misses" and x.get("state") ==
                               "firing" for x in doc.get("alerts", []))
                f1 = h.wait_until(lambda: fired(p1), 15, 0.3)
                f2 = h.wait_until(lambda: fired(p2), 15, 0.3)
                lat = {p1: [], p2: []}

                def load():
                    for _ in range(4):
                        if stop[0]:
                            break
                        subprocess.run(["redis-benchmark", "-p", str(rd.port), "-n", "4000",
                                        "-c", "8", "-P", "4", "-t", "set,get", "-r", "100000",
                                        "-q"], capture_output=True, timeout=120)
                t = threading.Thread(target=load)
                t.start()
                for _ in range(40):
                    for p in (p1, p2):
                        t0 = time.monotonic()
                        try:
                            h.fetch(p, timeout=5)
                            lat[p].append(time.monotonic() - t0)
                        except OSError:
                            lat[p].append(99.0)
                    time.sleep(0.1)
                t.join()
                stop[0] = True
                mt.join()
                ph1.finish()
                ph2.finish()
                tried = silent.accepted > 0 and garbage.accepted > 0
                g.check(c[0], bool(f1) and bool(f2) and tried and r.returncode == 0,
                        ["fired: %s %s; silent accepted %d, garbage accepted %d"
                         % (f1, f2, silent.accepted, garbage.accepted)]
                        + a1.stderr_tail(5) + a2.stderr_tail(5))
                n = ph1.want["cmds"].get("set", (0,))[0] + ph1.want["cmds"].get("get", (0,))[0]
                # The two phases interleave their INFO calls (each agent sees both, each
                # phase's commandstats leaves out its own): INFO is not compared here.
                bad = [m for ph in (ph1, ph2) for m in ph.cmd_mismatches()
                       if not m.startswith("info:")]
                g.check(c[1], not bad and n >= 20000 and ph1.d_misses() == ph1.want["misses"]
                        and ph2.d_misses() == ph2.want["misses"],
                        ["commands in the phase: %d" % n] + bad + ph1.diag() + ph2.diag())
                worst = {p: max(v) for p, v in lat.items()}
                g.check(c[2], all(w < 0.5 for w in worst.values()),
                        ["worst /metrics latency per agent: %s" % worst])
    finally:
        silent.stop()
        garbage.stop()
        shutil.rmtree(tmp, ignore_errors=True)


LISTEN_CHECKS = [
    "40 other listeners in the network namespace: a postgres watched by --pid is still the "
    "server of its connections (queries counted on its address, exactly 6)",
]


def group_listeners(g):
    """/proc/PID/net/tcp lists every listener of the namespace; the agent keeps a few ports per
    process, so on a busy host it must keep the process's own (found by socket inode)."""
    c = LISTEN_CHECKS
    socks = []
    try:
        for _ in range(40):
            sk = socket.socket()
            sk.bind(("127.0.0.1", 0))
            sk.listen(1)
            socks.append(sk)
        with h.postgres_server() as pg:
            port = h.free_port()
            server = "127.0.0.1:%d" % pg.port
            with h.agent("--no-default-targets", "--pid", str(pg.pid), "--no-usdt", "--listen",
                         "127.0.0.1:%d" % port, mode="run", raw=False) as a:
                for _ in range(6):
                    pg.psql("SELECT 42 AS nx_listeners")

                def counted():
                    fams = h.parse_prometheus(h.fetch(port))
                    return sum(v for l, v in tr.samples(fams, "nexus_postgres_queries_total")
                               if l.get("server") == server)
                n = h.wait_until(lambda: counted() >= 6 and counted(), 10, 0.3) or counted()
                time.sleep(tr.PUBLISH_WAIT)
                g.check(c[0], n == 6 and counted() == 6,
                        ["queries on %s: %s" % (server, counted())] + a.stderr_tail(5))
    finally:
        for sk in socks:
            sk.close()


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    skip = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "redis-cli", "redis-benchmark", "bpftool",
                              "unshare", "setpriv", "postgres", "initdb", "psql", "pg_isready")
    if not skip and missing:
        skip = "missing tools: %s" % ", ".join(missing)

    def guarded(fn, limit):
        def body(g):
            with h.time_limit(limit):
                fn(g)
        return body
    # NX_FAULTS_GROUPS=redis,pg,agent,env,receivers runs only those (all by default)
    only = set(filter(None, os.environ.get("NX_FAULTS_GROUPS", "").split(",")))
    for name, checks, fn, limit in (("redis", REDIS_CHECKS, group_redis, 180),
                                    ("pg", PG_CHECKS, group_pg, 240),
                                    ("agent", AGENT_CHECKS, group_agent, 120),
                                    ("env", ENV_CHECKS, group_env, 180),
                                    ("receivers", RECV_CHECKS, group_receivers, 240),
                                    ("listeners", LISTEN_CHECKS, group_listeners, 120)):
        if not only or name in only:
            h.run_group(tap, checks, guarded(fn, limit), skip)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
