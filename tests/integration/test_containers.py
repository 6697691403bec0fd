#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Servers in containers and pods: identity labels, and uprobes/USDT through /proc/PID/root.

A redis-server and a postgres are started the way a container runtime starts them, without one:
each in a private mount namespace (`unshare -m`) from a PRIVATE COPY of its binary on a tmpfs
that only that namespace sees (the host's view of the directory stays empty, so the binary is
reachable only through /proc/PID/root or /proc/PID/exe), each moved into a kubepods-shaped cgroup
before it execs:
  redis     cgroup v2, the kubelet's systemd driver and containerd:
            kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/
            cri-containerd-<64hex>.scope; its pod's name and namespace in a kubelet-style pod log
            directory (--pod-logs-dir)
  postgres  cgroup v1 (the pids hierarchy of this hybrid host; v2 on a v2-only host, or with
            NX_TEST_NO_CGROUP_V1=1), the cgroupfs driver:
            /kubepods/besteffort/pod<uid>/<64hex>; its own UTS namespace and HOSTNAME (the pod
            name), a service account namespace file at /var/run/secrets/... inside its namespace
A plain redis-server on the host is the control. Checked: the probes attach to the private copies
(the figures only uprobes and USDT give are exact against the servers' own counters), every
series of the two servers carries exactly their container_id, pod_uid, pod and namespace, the
host server's carry none, the JSON API says the same, and everything is cleaned up afterwards.
Needs root; prints TAP.
"""

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_postgres as tp  # noqa: E402
import test_redis as tr  # noqa: E402



def cgroup_roots():
    """(v2 root or None, v1 pids root or None): hybrid hosts (this one) have both, a v2-only
    host (Debian 12's default) has /sys/fs/cgroup itself as the v2 root."""
    v2 = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else \
        "/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else None
    v1 = "/sys/fs/cgroup/pids" if os.path.isdir("/sys/fs/cgroup/pids") else None
    if os.environ.get("NX_TEST_NO_CGROUP_V1"):  # run the v2-only host's path on a hybrid one
        v1 = None
    return v2, v1


CGROUP_V2, CGROUP_V1_PIDS = cgroup_roots()
IDENTITY_LABELS = ("container_id", "pod_uid", "pod", "namespace")
VALKEY = "valkey-server"  # the private copy of redis-server: see group()

CHECKS = [
    "setup: each server's binary is a private copy visible only in its mount namespace "
    "(/proc/PID/exe's path does not exist on the host) and its /proc/PID/cgroup has the "
    "kubepods shape",
    "redis in a pod, exec'd after the agent started: --redis-uprobes attached to its private "
    "copy at its exec: keyspace hits and misses == INFO exactly, over reads only lookupKey() "
    "sees (TYPE, STRLEN, LRANGE, ZSCORE...)",
    "redis in a pod: nexus_redis_command_exec_seconds count per command == INFO commandstats "
    "calls (call() uprobe)",
    "redis in a pod: per-command counts and errors == INFO commandstats deltas exactly",
    "redis in a pod: every series of the server carries container_id, pod_uid (cgroup v2, "
    "systemd driver, looked up at its exec), pod and namespace (pod log directory), exactly",
    "redis in a pod: /api/v1/cache/stats gives the server's container_id, pod_uid, pod, namespace",
    "postgres in a pod: USDT attached to its private copy: buffer hit ratio within 0.5 pp of "
    "pg_stat_database, commits within 1%",
    "postgres in a pod: per-fingerprint counts == pg_stat_statements calls exactly (pgbench -S)",
    "postgres in a pod: every series of the server carries container_id, pod_uid (cgroup v1 "
    "where the host has it, cgroupfs driver), pod (/etc/hostname in its own UTS namespace) and namespace (service "
    "account file), exactly",
    "postgres in a pod: /api/v1/database/stats and /connections give the server's identity",
    "host redis (control): its series carry no container label; its API identity fields are empty",
    "the agent reported no probe attach error",
    "record and replay: a recording of the redis pod's server replays with its container_id, "
    "pod_uid, pod and namespace (REC_E_IDENTITY entries)",
    "cleanup: the servers, their namespaces and the cgroups created are gone",
]


def hexid():
    return uuid.uuid4().hex + uuid.uuid4().hex  # 64 lower-case hex digits, like a container id


# ------------------------------------------------------------------------------------ cgroups

class Cgroups:
    """Directories made under cgroup roots, removed (deepest first) at the end, retrying while
    the last processes are being reaped."""

    def __init__(self):
        self.made = []

    def make(self, root, rel):
        path = root
        for part in rel.strip("/").split("/"):
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                os.mkdir(path)
                self.made.append(path)
        return path

    def remove(self):
        left = []
        for path in reversed(self.made):
            ok = h.wait_until(lambda: _rmdir(path), 5, 0.1)
            if not ok and os.path.isdir(path):
                left.append(path)
        self.made = []
        return left


def _rmdir(path):
    try:
        os.rmdir(path)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


# -------------------------------------------------------------------------------- containers

@contextlib.contextmanager
def container(src, name, args, cgroup, hostname=None, user=None, sa_namespace=None,
              env=(), cwd=None, log=None, go_file=None):
    """Runs a private copy of the binary src as NAME inside a new mount namespace (and UTS
    namespace when hostname is given), in the cgroup directory given; yields (Popen, the binary's
    path inside the namespace). The copy lives on a tmpfs mounted in the namespace over an empty
    directory of the host. go_file: the shell waits for that file to exist before it execs the
    server (so an agent can watch it first and meet the server at its exec)."""
    bindir = tempfile.mkdtemp(prefix="nx-ctr-bin-")
    os.chmod(bindir, 0o755)
    exe = os.path.join(bindir, name)
    lines = ["set -e",
             "echo $$ > %s/cgroup.procs" % cgroup,
             "mount -t tmpfs -o mode=755 nx-ctr-bin %s" % bindir,
             "cp -L %s %s" % (src, exe)]
    if sa_namespace:
        # A pod's service account volume; /var/run links to /run on Debian, as in many images.
        sa = "/run/secrets/kubernetes.io/serviceaccount"
        lines += ["mount -t tmpfs -o mode=755 nx-ctr-run /run", "mkdir -p " + sa,
                  "printf '%%s\\n' %s > %s/namespace" % (sa_namespace, sa)]
    if hostname:
        # As containerd, CRI-O and Docker do: the pod's host name, and a file of it bind-mounted
        # at /etc/hostname.
        lines += ["hostname %s" % hostname,
                  "printf '%%s\\n' %s > %s/hostname" % (hostname, bindir),
                  "mount --bind %s/hostname /etc/hostname" % bindir]
    envs = ["PATH=/usr/bin:/bin", "LANG=C", "LC_ALL=C"] + list(env)
    if hostname:
        envs.append("HOSTNAME=%s" % hostname)
    run_as = ["setpriv", "--reuid=%s" % user, "--regid=%s" % user, "--clear-groups"] \
        if user else []
    if go_file:
        lines.append("while [ ! -e %s ]; do sleep 0.05; done" % go_file)
    lines.append("exec env -i %s %s %s %s" % (" ".join(envs), " ".join(run_as), exe,
                                             " ".join(args)))
    argv = ["unshare", "-m", "--propagation", "private"] + (["-u"] if hostname else []) + \
        ["sh", "-c", "\n".join(lines)]
    proc = None
    try:
        with open(log or os.devnull, "wb") as logf:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)
        yield proc, exe
    finally:
        h._stop_process(proc, signal.SIGINT if user else signal.SIGTERM, grace=15)
        shutil.rmtree(bindir, ignore_errors=True)


def exe_hidden(pid, exe):
    """The process runs exe, and exe does not exist in this (the host's) mount namespace."""
    try:
        link = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return False, "cannot read /proc/%d/exe" % pid
    return link == exe and not os.path.exists(exe), \
        "pid %d exe %s (host sees it: %s)" % (pid, link, os.path.exists(exe))


def read_cgroup(pid):
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            return f.read()
    except OSError as e:
        return "<%s>" % e


# ------------------------------------------------------------------------------------ checks

def series_of(text, server):
    """Every sample of /metrics whose server label is server: [(name, labels)]."""
    fams = h.parse_prometheus(text)
    return [(n, l) for f in fams.values() for n, l, _ in f["samples"] if l.get("server") == server]


def labelled_exactly(rows, want):
    """Rows whose identity labels are not exactly want (missing ones absent from rows' labels)."""
    bad = []
    for n, l in rows:
        got = {k: l[k] for k in IDENTITY_LABELS if k in l}
        if got != want:
            bad.append("%s %s" % (n, got))
    return bad


def api_identity(port, path, server):
    """The identity fields of the server's entry in a JSON API answer, or None."""
    body = json.loads(h.fetch(port, path))
    for sv in body.get("servers", []):
        if sv.get("server") == server:
            return {k: sv.get(k) for k in IDENTITY_LABELS}
    return None


def group(g):
    pw = pwd.getpwnam("postgres")
    cg = Cgroups()
    tmp = tempfile.mkdtemp(prefix="nx-ctr-")
    os.chmod(tmp, 0o755)
    r_cid, r_uid = hexid(), str(uuid.uuid4())
    p_cid, p_uid = hexid(), str(uuid.uuid4())
    r_id = {"container_id": r_cid, "pod_uid": r_uid, "pod": "redis-0", "namespace": "shop"}
    p_id = {"container_id": p_cid, "pod_uid": p_uid, "pod": "pg-0", "namespace": "billing"}
    try:
        # The kubelet's pod log directory: <namespace>_<pod>_<uid>, for the redis pod only.
        logs = os.path.join(tmp, "pods")
        os.makedirs(os.path.join(logs, "shop_redis-0_%s" % r_uid))
        os.makedirs(os.path.join(logs, "other_web-1_%s" % uuid.uuid4()))
        r_cg = cg.make(CGROUP_V2, "kubepods.slice/kubepods-burstable.slice/"
                       "kubepods-burstable-pod%s.slice/cri-containerd-%s.scope"
                       % (r_uid.replace("-", "_"), r_cid))
        # cgroupfs driver's shape: in the v1 pids hierarchy when there is one, else in v2
        p_cg = cg.make(CGROUP_V1_PIDS or CGROUP_V2,
                       "kubepods/besteffort/pod%s/%s" % (p_uid, p_cid))
        p_line = "%s:/kubepods/besteffort/pod%s/%s" % ("pids" if CGROUP_V1_PIDS else "0:",
                                                       p_uid, p_cid)

        r_dir = os.path.join(tmp, "redis")
        os.mkdir(r_dir)
        r_port = h.free_port()
        r_sock = os.path.join(r_dir, "redis.sock")
        r_src = shutil.which("redis-server")

        p_dir = os.path.join(tmp, "pg")
        p_sock = os.path.join(p_dir, "sock")
        os.makedirs(p_sock)
        for d in (p_dir, p_sock):
            os.chown(d, pw.pw_uid, pw.pw_gid)
        datadir = os.path.join(p_dir, "data")
        r, _ = h.run(["runuser", "-u", "postgres", "--", h.pg_tool("initdb"), "-D", datadir,
                      "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
                      "--locale=C"], timeout=120, cwd=p_dir)
        if r.returncode != 0:
            raise h.HarnessError("initdb failed: %s" % r.stderr.decode(errors="replace")[-300:])
        p_port = h.free_port()
        p_log = os.path.join(p_dir, "postgres.log")
        with open(p_log, "wb"):
            os.chown(p_log, pw.pw_uid, pw.pw_gid)

        go = os.path.join(tmp, "go")
        with contextlib.ExitStack() as st:
            # redis execs once the agent watches its shell: the agent meets it at its exec
            # (identity looked up again, uprobes attached then); postgres runs before the agent
            # starts: the agent finds it in its /proc scan. A target that execs stays one only
            # under a target name, so the copy is named valkey-server (a Redis kind the default
            # names include) and watched by --comm: no other test's redis-server is touched.
            rproc, r_exe = st.enter_context(container(
                r_src, VALKEY,
                ["--port", str(r_port), "--bind", "127.0.0.1", "--unixsocket", r_sock,
                 "--save", "''", "--appendonly", "no", "--dir", r_dir, "--daemonize", "no"],
                r_cg, cwd=r_dir, log=os.path.join(r_dir, "redis.log"), go_file=go))
            pproc, p_exe = st.enter_context(container(
                h.pg_tool("postgres"), "postgres",
                ["-D", datadir, "-p", str(p_port), "-k", p_sock,
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "shared_preload_libraries=pg_stat_statements",
                 "-c", "pg_stat_statements.track=all"],
                p_cg, hostname="pg-0", user="postgres", sa_namespace="billing", cwd=p_dir,
                log=p_log))
            rd = h.Redis(r_port, r_sock, r_dir, rproc, os.path.join(r_dir, "redis.log"))
            pg = h.Postgres(p_port, p_sock, datadir, p_dir, pproc, p_log)
            if not h.wait_until(lambda: pproc.poll() is not None or pg.ready(), 60, 0.2) \
                    or pproc.poll() is not None:
                e = h.HarnessError("postgres in its namespace did not come up")
                e.detail = h._tail(p_log)
                raise e
            host = st.enter_context(h.redis_server())

            port = h.free_port()
            with h.agent("--no-default-targets", "--comm", VALKEY, "--pid", str(rproc.pid),
                         "--pid", str(pproc.pid), "--pid", str(host.pid), "--redis-uprobes",
                         "--pod-logs-dir", logs, "--listen", "127.0.0.1:%d" % port,
                         mode="run", raw=False) as a:
                with open(go, "w"):
                    pass
                if not h.wait_until(lambda: rproc.poll() is not None or rd.ping(), 20, 0.1) \
                        or rproc.poll() is not None:
                    e = h.HarnessError("redis-server in its namespace did not come up")
                    e.detail = h._tail(rd.log)
                    raise e
                ok_r, why_r = exe_hidden(rproc.pid, r_exe)
                ok_p, why_p = exe_hidden(pproc.pid, p_exe)
                cg_r, cg_p = read_cgroup(rproc.pid), read_cgroup(pproc.pid)
                g.check(CHECKS[0], ok_r and ok_p and ("cri-containerd-%s.scope" % r_cid) in cg_r
                        and p_line in cg_p,
                        [why_r, why_p, "redis cgroup:", cg_r, "postgres cgroup:", cg_p])
                redis_checks(g, a, rd, port, r_id)
                pg_checks(g, a, pg, port, p_id)
                host_checks(g, host, port)
                errs = [l for l in a.stderr if "USDT" in l or "uprobe" in l]
                g.check(CHECKS[11], a.running and not errs, errs + a.stderr_tail(8))
            record_checks(g, rd, rproc.pid, logs, tmp, r_id)
            pids = [rproc.pid, pproc.pid]
        gone = h.wait_until(lambda: not any(os.path.exists("/proc/%d" % p) for p in pids), 10)
        left = cg.remove()
        g.check(CHECKS[13], gone and not left,
                ["processes left: %s" % [p for p in pids if os.path.exists("/proc/%d" % p)],
                 "cgroups left: %s" % left])
    finally:
        cg.remove()
        shutil.rmtree(tmp, ignore_errors=True)


def redis_checks(g, a, rd, port, want):
    server = "127.0.0.1:%d" % rd.port
    ph = tr.Phase(rd, port, server)
    cs0 = tr.raw_commandstats(rd)
    _, _, t0 = tr.fetch(port, "/metrics")
    lines = []
    for i in range(100):
        lines += ["SET s:%d v" % i, "GET s:%d" % (i * 2), "EXISTS s:%d" % (i * 3),
                  "TYPE s:%d" % (i * 2), "STRLEN s:%d" % (i * 2), "RPUSH l:%d a b" % (i % 10),
                  "LRANGE l:%d 0 -1" % (i % 20), "ZADD z:%d 1 m" % (i % 5),
                  "ZSCORE z:%d m" % (i % 10), "HGET hh:%d f" % i]
    r = subprocess.run(["redis-cli", "-p", str(rd.port)], input="\n".join(lines).encode(),
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        raise h.HarnessError("redis-cli failed: %r" % r.stderr[-200:])
    cs1 = tr.raw_commandstats(rd)
    ph.finish()
    _, _, t1 = tr.fetch(port, "/metrics")
    d = ph.diag() + a.stderr_tail(5)
    g.check(CHECKS[1], ph.d_hits() == ph.want["hits"] and ph.d_misses() == ph.want["misses"]
            and ph.want["hits"] > 50 and ph.want["misses"] > 100,
            ["agent hits %s misses %s, INFO %s %s" % (ph.d_hits(), ph.d_misses(),
                                                    ph.want["hits"], ph.want["misses"])] + d)
    ex0, _, _ = tr.exec_view(t0, server)
    ex1, _, _ = tr.exec_view(t1, server)
    rows = []
    for cmd in ("get", "set", "exists", "type", "strlen", "rpush", "lrange", "zadd", "zscore",
                "hget"):
        calls = cs1.get(cmd, (0, 0))[0] - cs0.get(cmd, (0, 0))[0]
        n = ex1.get(cmd, [0, 0])[0] - ex0.get(cmd, [0, 0])[0]
        rows.append((cmd, calls, n))
    g.check(CHECKS[2], all(c == n and c > 0 for _, c, n in rows),
            ["(command, commandstats calls, agent exec count): %s" % rows])
    mism = ph.cmd_mismatches()
    g.check(CHECKS[3], not mism and ph.reached, mism + d)
    rows = series_of(t1, server)
    bad = labelled_exactly(rows, want)
    names = {n for n, _ in rows}
    g.check(CHECKS[4], len(rows) >= 20 and not bad and "nexus_redis_command_exec_seconds_count"
            in names and "nexus_redis_keyspace_hits_total" in names,
            ["%d series of %s; wrong: %s" % (len(rows), server, bad[:5])])
    got = api_identity(port, "/api/v1/cache/stats", server)
    g.check(CHECKS[5], got == want, ["api %s, want %s" % (got, want)])


def pg_checks(g, a, pg, port, want):
    s = tp.Session(pg, a, port)
    tp.pgbench(pg, "-i", "-s", "2", "-q", timeout=120)
    tp.psql(pg, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    s.sync()
    pg0, ag0 = tp.pg_db_stats(pg), tp.usdt_view(port)
    v0 = tp.wait_view(port, lambda v: True, 5)[0]
    tp.psql(pg, "SELECT pg_stat_statements_reset()")
    n, _ = tp.pgbench(pg, "-S", "-n", "-c", "2", "-t", "300", timeout=120)
    # buffer reads, not only hits: a table scan bigger than the ring of a seq scan
    tp.psql(pg, "SELECT count(*) FROM pgbench_accounts WHERE filler <> 'y'", timeout=60)
    v1 = s.sync()
    calls = tp.pgss(pg).get(tp.SELECT_ABALANCE, 0)
    pg1, ag1 = tp.pg_db_stats(pg), tp.usdt_view(port)
    d_pg = {k: pg1[k] - pg0[k] for k in pg0}
    d_ag = {k: ag1.get(k, 0) - ag0.get(k, 0) for k in ag1}
    r_pg = tp.ratio(d_pg["hit"], d_pg["read"])
    r_ag = tp.ratio(d_ag["nexus_postgres_buffer_hits_total"],
                    d_ag["nexus_postgres_buffer_reads_total"])
    commits = d_ag.get("commit", 0)
    g.check(CHECKS[6], d_pg["hit"] > 1000 and abs(r_pg - r_ag) <= 0.005 and d_pg["commit"] >= 600
            and abs(commits - d_pg["commit"]) <= 0.01 * d_pg["commit"],
            ["pg_stat_database deltas %s ratio %.4f; agent %s ratio %.4f"
             % (d_pg, r_pg, {k: round(v, 3) for k, v in d_ag.items()}, r_ag)]
            + a.stderr_tail(5))
    agent_n = v1.count(s.tcp, tp.SELECT_ABALANCE) - v0.count(s.tcp, tp.SELECT_ABALANCE)
    g.check(CHECKS[7], n == 600 and calls == 600 and agent_n == calls,
            ["pgbench %s, pg_stat_statements %s, agent %s" % (n, calls, agent_n)])
    rows = series_of(v1.text, s.tcp)
    bad = labelled_exactly(rows, want)
    names = {n_ for n_, _ in rows}
    g.check(CHECKS[8], len(rows) >= 20 and not bad and "nexus_postgres_buffer_hits_total" in names
            and "nexus_postgres_queries_total" in names,
            ["%d series of %s; wrong: %s" % (len(rows), s.tcp, bad[:5])])
    got = api_identity(port, "/api/v1/database/stats", s.tcp)
    got2 = api_identity(port, "/api/v1/database/connections", s.tcp)
    g.check(CHECKS[9], got == want and got2 == want, ["stats %s, connections %s, want %s"
                                                      % (got, got2, want)])


def record_checks(g, rd, pid, logs, tmp, want):
    """`record` the redis pod's server for a few commands, then `replay --listen` the file."""
    server = "127.0.0.1:%d" % rd.port
    path = os.path.join(tmp, "pod.nxr")
    rec = h.AgentRun([h.AGENT, "record", "-o", path, "--no-default-targets", "--pid", str(pid),
                      "--pod-logs-dir", logs])
    try:
        rec.start()
        for i in range(5):
            rd.cli("SET", "r:%d" % i, "v")
        time.sleep(1.2)  # the recorder writes a block at least once a second
    finally:
        rec.stop()
    port = h.free_port()
    rep = h.AgentRun([h.AGENT, "replay", path, "--listen", "127.0.0.1:%d" % port])
    rows = []
    try:
        rep.proc = subprocess.Popen(rep.argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    start_new_session=True)
        view, ok = tr.wait_view(port, server, lambda v: v.count("set") >= 5, 15)
        rows = [(n, l) for n, l in series_of(view.text, server)
                if n == "nexus_redis_commands_total"]
    finally:
        rep.stop()
    bad = labelled_exactly(rows, want)
    g.check(CHECKS[12], ok and rows and not bad,
            ["replayed commands_total series of %s: %s; wrong: %s" % (server, len(rows), bad[:3])]
            + rec.stderr_tail(4))


def host_checks(g, host, port):
    server = "127.0.0.1:%d" % host.port
    host.cli("SET", "k", "v")
    host.cli("GET", "k")
    view, ok = tr.wait_view(port, server, lambda v: v.count("get") >= 1, 15)
    rows = series_of(view.text, server)
    labelled = [n for n, l in rows if any(k in l for k in IDENTITY_LABELS)]
    empty = {k: "" for k in IDENTITY_LABELS}
    got = api_identity(port, "/api/v1/cache/stats", server)
    g.check(CHECKS[10], ok and len(rows) >= 5 and not labelled and got == empty,
            ["%d series, labelled: %s; api %s" % (len(rows), labelled[:5], got)])


def skip_reason():
    why = h.privilege_skip_reason()
    if why:
        return why
    missing = h.missing_tools("redis-server", "redis-cli", "unshare", "setpriv", "postgres",
                              "initdb", "pgbench", "psql", "pg_isready")
    if missing:
        return "missing tools: %s" % " ".join(missing)
    if not CGROUP_V2:
        return "no cgroup v2 hierarchy (neither /sys/fs/cgroup/unified nor /sys/fs/cgroup)"
    return None


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()

    def body(g):
        if not os.access(h.AGENT, os.X_OK):
            g.fail_rest("agent binary %s not built" % h.AGENT)
            return
        with h.time_limit(240):
            group(g)

    h.run_group(tap, CHECKS, body, skip_reason())
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
