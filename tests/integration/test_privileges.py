#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The agent's capability set (README "Privileges"), proved against real servers.

The agent runs as root with ONLY the documented capabilities (util-linux setpriv: empty inheritable
and ambient sets, the bounding set limited to them, so root's permitted and effective sets after
exec are exactly those) and must work fully: Redis counts and --redis-uprobes exec counts equal
INFO commandstats, PostgreSQL's USDT commits (postgres runs as user postgres) are counted, and it
prints no "missing capability" line. With each capability taken away it must fail (CAP_BPF,
CAP_PERFMON; CAP_SYS_ADMIN when --redis-uprobes is asked for) or degrade, with a message naming the
missing one. The core set (CAP_BPF + CAP_PERFMON, --no-usdt) is proved the same way. Prints TAP.
"""

import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_faults as tf  # noqa: E402
import test_redis as tr  # noqa: E402

FULL = ["bpf", "perfmon", "sys_admin", "sys_ptrace", "dac_read_search"]
CORE = ["bpf", "perfmon"]


def with_caps(caps, argv):
    return [shutil.which("setpriv") or "/usr/bin/setpriv", "--inh-caps=-all", "--ambient-caps=-all",
            "--bounding-set=-all," + ",".join("+" + c for c in caps), "--"] + argv


def cap_name(c):
    return "CAP_" + c.upper()


def missing_lines(stderr_lines):
    return [l for l in stderr_lines if "missing capability" in l]


def usdt_commits(port):
    return tf.usdt_commits(port)


FULL_CHECKS = [
    "only %s: starts, no 'missing capability' line" % ", ".join(map(cap_name, FULL)),
    "... Redis counts per command == INFO commandstats exactly",
    "... --redis-uprobes exec counts == INFO commandstats exactly",
    "... PostgreSQL (run by user postgres) USDT commits counted",
    "`check` with only those: each of the five listed as yes, verdict can run, exit 0",
]

DROP_CHECKS = [
    "without CAP_SYS_ADMIN, --redis-uprobes: exit 1 naming CAP_SYS_ADMIN",
    "without CAP_SYS_ADMIN: runs degraded (no USDT), one line naming CAP_SYS_ADMIN; PostgreSQL "
    "wire counts still move, USDT commits do not",
    "without CAP_SYS_PTRACE: runs degraded, a line naming CAP_SYS_PTRACE; no USDT for the "
    "postgres of another user",
    "without CAP_DAC_READ_SEARCH: runs, a line naming CAP_DAC_READ_SEARCH",
    "CAP_DAC_READ_SEARCH is what reading the postmaster's postgresql.auto.conf through "
    "/proc/PID/cwd takes (cat under the full set reads it, without it cannot)",
    "core set (CAP_BPF, CAP_PERFMON, --no-usdt): Redis counts == INFO commandstats exactly",
    "core set without CAP_BPF: exit 1 naming CAP_BPF",
    "core set without CAP_PERFMON: exit 1 naming CAP_PERFMON",
]


def start(caps, rd, pg, *extra):
    port = h.free_port()
    argv = [h.AGENT, "run", "--no-default-targets", "--pid", str(rd.pid), "--pid", str(pg.pid),
            "--listen", "127.0.0.1:%d" % port] + list(extra)
    a = h.AgentRun(with_caps(caps, argv))
    a.start(h.ATTACH_TIMEOUT)
    # the HTTP server comes up a moment after the "attached" line
    if not h.wait_until(lambda: metrics_up(port), 10, 0.1):
        a.stop()
        raise h.HarnessError("/metrics on %d never answered" % port)
    return a, port


def metrics_up(port):
    try:
        return bool(h.fetch(port))
    except OSError:
        return False


def fails(caps, rd, pg, *extra):
    argv = [h.AGENT, "run", "--no-default-targets", "--pid", str(rd.pid), "--pid", str(pg.pid),
            "--listen", "127.0.0.1:%d" % h.free_port(), "--duration", "5"] + list(extra)
    r, _ = h.run(with_caps(caps, argv), timeout=60)
    return r.returncode, r.stderr.decode(errors="replace")


def pg_wire_count(port):
    fams = h.parse_prometheus(h.fetch(port))
    return sum(v for l, v in tr.samples(fams, "nexus_postgres_queries_total"))


def group_full(g, rd, pg):
    c = FULL_CHECKS
    server = "127.0.0.1:%d" % rd.port
    a, port = start(FULL, rd, pg, "--redis-uprobes")
    try:
        time.sleep(0.5)
        g.check(c[0], a.running and not missing_lines(a.stderr), a.stderr_tail(10))
        ph = tr.Phase(rd, port, server)
        tf.redis_workload(rd, 300)
        ph.finish()
        g.check(c[1], not ph.cmd_mismatches() and ph.want["cmds"].get("get", (0,))[0] >= 300,
                ph.cmd_mismatches() + ph.diag())
        ok, d = tf.exact_redis(rd, port, server)
        g.check(c[2], ok, d + a.stderr_tail(5))
        c0 = usdt_commits(port)
        for _ in range(3):
            pg.psql("SELECT 1")
        g.check(c[3], bool(h.wait_until(lambda: usdt_commits(port) - c0 >= 3, 10, 0.3)),
                ["USDT commits %s -> %s" % (c0, usdt_commits(port))] + a.stderr_tail(8))
    finally:
        a.stop()
    r, _ = h.run(with_caps(FULL, [h.AGENT, "check"]), timeout=120)
    out = r.stdout.decode(errors="replace")
    listed = all(any(l.split()[:2] == [cap_name(x), "yes"] for l in out.splitlines())
                 for x in FULL)
    g.check(c[4], r.returncode == 0 and listed and "verdict: nexus-agent can run here" in out,
            ["exit %d" % r.returncode] + out.splitlines()[:30])


def group_drop(g, rd, pg):
    c = DROP_CHECKS
    server = "127.0.0.1:%d" % rd.port
    no_admin = [x for x in FULL if x != "sys_admin"]
    rc, err = fails(no_admin, rd, pg, "--redis-uprobes")
    g.check(c[0], rc == 1 and "missing capability CAP_SYS_ADMIN" in err and "--redis-uprobes" in err,
            ["exit %d: %s" % (rc, err[-600:])])

    a, port = start(no_admin, rd, pg)
    try:
        w0, c0 = pg_wire_count(port), usdt_commits(port)
        for _ in range(3):
            pg.psql("SELECT 1")
        moved = h.wait_until(lambda: pg_wire_count(port) - w0 >= 3, 10, 0.3)
        time.sleep(1.5)
        named = [l for l in missing_lines(a.stderr) if "CAP_SYS_ADMIN" in l]
        g.check(c[1], a.running and len(named) == 1 and "USDT" in named[0] and bool(moved)
                and usdt_commits(port) == c0,
                ["wire %s -> %s, USDT commits %s -> %s" % (w0, pg_wire_count(port), c0,
                                                           usdt_commits(port))]
                + a.stderr_tail(10))
    finally:
        a.stop()

    a, port = start([x for x in FULL if x != "sys_ptrace"], rd, pg)
    try:
        c0 = usdt_commits(port)
        for _ in range(3):
            pg.psql("SELECT 1")
        time.sleep(2.5)
        g.check(c[2], a.running and any("CAP_SYS_PTRACE" in l for l in missing_lines(a.stderr))
                and usdt_commits(port) == c0,
                ["USDT commits %s -> %s" % (c0, usdt_commits(port))] + a.stderr_tail(10))
    finally:
        a.stop()

    a, _ = start([x for x in FULL if x != "dac_read_search"], rd, pg)
    try:
        time.sleep(0.5)
        g.check(c[3], a.running and any("CAP_DAC_READ_SEARCH" in l
                                        for l in missing_lines(a.stderr)), a.stderr_tail(10))
    finally:
        a.stop()
    conf = "/proc/%d/cwd/postgresql.auto.conf" % pg.pid
    r_full, _ = h.run(with_caps(FULL, ["cat", conf]), timeout=20)
    r_less, _ = h.run(with_caps([x for x in FULL if x != "dac_read_search"], ["cat", conf]),
                      timeout=20)
    g.check(c[4], r_full.returncode == 0 and r_less.returncode != 0,
            ["full: exit %d; without: exit %d %s" % (r_full.returncode, r_less.returncode,
                                                     r_less.stderr.decode(errors="replace"))])

    port = h.free_port()
    a = h.AgentRun(with_caps(CORE, [h.AGENT, "run", "--no-default-targets", "--pid",
                                    str(rd.pid), "--no-usdt", "--listen",
                                    "127.0.0.1:%d" % port]))
    try:
        a.start(h.ATTACH_TIMEOUT)
        ph = tr.Phase(rd, port, server)
        tf.redis_workload(rd, 300)
        ph.finish()
        g.check(c[5], not ph.cmd_mismatches() and ph.want["cmds"].get("set", (0,))[0] >= 300,
                ph.cmd_mismatches() + ph.diag() + a.stderr_tail(6))
    finally:
        a.stop()
    for i, drop in ((6, "bpf"), (7, "perfmon")):
        rc, err = fails([x for x in CORE if x != drop], rd, pg, "--no-usdt")
        g.check(c[i], rc == 1 and "missing capability %s" % cap_name(drop) in err
                and "cannot capture" in err, ["exit %d: %s" % (rc, err[-600:])])


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    skip = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "redis-cli", "setpriv", "postgres", "psql")
    if not skip and missing:
        skip = "missing tools: %s" % ", ".join(missing)
    if skip:
        h.run_group(tap, FULL_CHECKS + DROP_CHECKS, lambda g: None, skip)
        return tap.done()

    def both(g):
        with h.time_limit(400), h.redis_server() as rd, h.postgres_server() as pg:
            group_full(g, rd, pg)
            group_drop(g, rd, pg)
    h.run_group(tap, FULL_CHECKS + DROP_CHECKS, both)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
