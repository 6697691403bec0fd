#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""record and replay against a real redis-server and postgres.

A live `run` agent and `record` watch the same servers while redis-benchmark -P 16 and pgbench
run. The recording is then replayed with --listen: its per-command and per-statement counts must
equal the live agent's, series for series, and the servers' own (INFO commandstats,
pg_stat_statements). The same file replays as user nobody (no root, no kernel), and a truncated
copy replays its prefix and exits non-zero naming the first bad block. Prints TAP.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_postgres as tp  # noqa: E402

CHECKS = [
    "record: the file is written mode 0600 and record exits 0 on SIGINT",
    "replay --listen: nexus_redis_commands_total equals the live agent's, series for series",
    "replay --listen: get/set counts equal INFO commandstats (redis-benchmark -P 16)",
    "replay --listen: nexus_postgres_queries_total equals the live agent's, series for series",
    "replay --listen: pgbench statement counts equal pg_stat_statements calls",
    "replay as user nobody (runuser, a readable copy): same redis and postgres counts, exit 0",
    "a truncated copy: its prefix replays (some commands printed), exit non-zero, stderr names the block and byte",
    "replay with trace's filters: --kind redis --command set --count 5 --json prints exactly 5 lines, each a command containing 'set' (a substring filter), and exits 0",
]


def redis_counts(fams):
    return {(l.get("server"), l.get("command"), l.get("status")): int(v)
            for l, v in tp.samples(fams, "nexus_redis_commands_total")}


def pg_counts(fams):
    info = {l.get("fingerprint"): l.get("query") for l, v in
            tp.samples(fams, "nexus_postgres_query_info")}
    out = {}
    for l, v in tp.samples(fams, "nexus_postgres_queries_total"):
        k = (l.get("server"), info.get(l.get("fingerprint")), l.get("status"))
        out[k] = out.get(k, 0) + int(v)
    return out


def replay_metrics(argv, port, user=None, timeout=60):
    """Runs `replay FILE --listen`, waits for its 'serving until stopped' line, scrapes, stops.
    Returns (families, stderr lines, exit status)."""
    # --duration: it ends by itself even if a signal is lost on the way (runuser)
    cmd = argv + ["--listen", "127.0.0.1:%d" % port, "--no-alerts", "--duration", str(timeout)]
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    lines = []
    try:
        deadline = time.monotonic() + timeout
        for raw in iter(p.stderr.readline, b""):
            lines.append(raw.decode(errors="replace").rstrip())
            if "serving until stopped" in lines[-1] or time.monotonic() > deadline:
                break
        text = h.fetch(port) if p.poll() is None else ""
    finally:
        # the whole group: runuser does not pass SIGINT on to its child
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
        try:
            rest = p.communicate(timeout=15)[1]
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            rest = p.communicate()[1]
        lines += rest.decode(errors="replace").splitlines()
    return (h.parse_prometheus(text) if text else {}), lines, p.returncode


def body(g, tmp):
    with h.redis_server() as redis, tp.postgres_with_pgss() as pg:
        tp.psql(pg, "CREATE EXTENSION pg_stat_statements")
        tp.pgbench(pg, "-i", "-s", "1", "-q", timeout=60)
        rec = os.path.join(tmp, "rec.nxr")
        live_port = h.free_port()
        targets = ["--no-default-targets", "--pid", str(redis.pid), "--pid", str(pg.pid)]
        with h.agent(*targets, "--listen", "127.0.0.1:%d" % live_port, "--no-alerts",
                     mode="run", raw=False) as live:
            recorder = h.AgentRun([h.AGENT, "record", "-o", rec] + targets)
            recorder.start()
            try:
                redis.cli("CONFIG", "RESETSTAT")
                tp.psql(pg, "SELECT pg_stat_statements_reset()")
                r, _ = h.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(redis.port),
                              "-P", "16", "-c", "8", "-n", "100000", "-t", "get,set", "-q"],
                             timeout=120)
                if r.returncode:
                    raise h.HarnessError("redis-benchmark failed: %s" % r.stderr[-300:])
                tp.pgbench(pg, "-T", "3", "-c", "4")
                time.sleep(1.5)  # everything drained by both agents (they poll every 10 ms)
            finally:
                rc = recorder.stop(signal.SIGINT)
            time.sleep(tp.PUBLISH_WAIT)
            live_fams = h.parse_prometheus(h.fetch(live_port))
            if not live.running:
                raise h.HarnessError("the live agent died")
        cstats = h.commandstats(redis)
        pgss = tp.pgss(pg)
    mode = os.stat(rec).st_mode & 0o777
    g.check(CHECKS[0], mode == 0o600 and rc == 0,
            ["mode %o, record exit %s" % (mode, rc)] + recorder.stderr_tail(5))

    fams, err, rrc = replay_metrics([h.AGENT, "replay", rec], h.free_port())
    live_r, rep_r = redis_counts(live_fams), redis_counts(fams)
    g.check(CHECKS[1], live_r and live_r == rep_r,
            ["live %s" % sorted(live_r.items()), "replay %s" % sorted(rep_r.items())] + err[-5:])
    agent_gs = {c: sum(n for (s, cmd, st), n in rep_r.items() if cmd == c) for c in ("get", "set")}
    g.check(CHECKS[2], agent_gs["get"] == cstats.get("get") == 100000
            and agent_gs["set"] == cstats.get("set") == 100000,
            ["replay %s, commandstats get %s set %s" % (agent_gs, cstats.get("get"),
                                                         cstats.get("set"))])
    live_p, rep_p = pg_counts(live_fams), pg_counts(fams)
    g.check(CHECKS[3], live_p and live_p == rep_p,
            ["live %s" % sorted(live_p.items())[:20], "replay %s" % sorted(rep_p.items())[:20]]
            + ["live: %s %s" % (n, tp.samples(live_fams, n)) for n in
               ("nexus_postgres_connections_opened_total", "nexus_agent_targets",
                "nexus_postgres_parse_errors_total", "nexus_agent_events_lost_total")]
            + live.stderr_tail(8))
    rows, bad = [], []
    for t in [tp.norm(q) for q in tp.TPCB] + ["begin", "end"]:
        n = sum(v for (s, text_, st), v in rep_p.items() if text_ == t)
        rows.append((t, n, pgss.get(t, 0)))
        if n != pgss.get(t, 0) or n <= 50:
            bad.append(rows[-1])
    g.check(CHECKS[4], not bad, ["%s: replay %d, pg_stat_statements %d" % r for r in rows])

    # As nobody: the binary and a readable copy of the file where nobody can reach them.
    pub = tempfile.mkdtemp(prefix="nx-replay-")
    try:
        os.chmod(pub, 0o755)
        shutil.copy(h.AGENT, os.path.join(pub, "nexus-agent"))
        shutil.copy(rec, os.path.join(pub, "rec.nxr"))
        os.chmod(os.path.join(pub, "rec.nxr"), 0o644)
        fams2, err2, rrc2 = replay_metrics([os.path.join(pub, "nexus-agent"), "replay",
                                            os.path.join(pub, "rec.nxr")], h.free_port(),
                                           user="nobody")
        g.check(CHECKS[5], rrc2 == 0 and redis_counts(fams2) == live_r
                and pg_counts(fams2) == live_p,
                ["exit %s" % rrc2, "redis %s" % sorted(redis_counts(fams2).items())] + err2[-5:])

        cut = os.path.join(pub, "cut.nxr")
        size = os.path.getsize(rec)
        with open(rec, "rb") as src, open(cut, "wb") as dst:
            dst.write(src.read(size // 2))
        r, _ = h.run(["runuser", "-u", "nobody", "--", os.path.join(pub, "nexus-agent"),
                      "replay", cut, "--json"], timeout=120)
        out = r.stdout.decode(errors="replace").splitlines()
        err3 = r.stderr.decode(errors="replace")
        gets = 0
        for line in out:
            try:
                gets += json.loads(line).get("command") == "get"
            except ValueError:
                pass
        g.check(CHECKS[6], r.returncode != 0 and gets > 0
                and re.search(r"block \d+ at byte \d+", err3) is not None,
                ["exit %s, %d get lines of %d" % (r.returncode, gets, len(out)),
                 "stderr: %s" % err3.strip()[-400:]])
        r, _ = h.run([h.AGENT, "replay", rec, "--kind", "redis", "--command", "set", "--count",
                      "5", "--json"], timeout=120)
        lines = r.stdout.decode(errors="replace").splitlines()
        cmds = []
        for line in lines:
            try:
                cmds.append(json.loads(line).get("command"))
            except ValueError:
                cmds.append(None)
        g.check(CHECKS[7], r.returncode == 0 and len(cmds) == 5
                and all(c and "set" in c for c in cmds),
                ["exit %s, lines %s" % (r.returncode, cmds[:8])])
    finally:
        shutil.rmtree(pub, ignore_errors=True)


def main():
    tap = h.Tap()
    skip = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "redis-cli", "redis-benchmark", "pgbench",
                              "postgres", "initdb", "runuser")
    if not skip and missing:
        skip = "missing: %s" % ", ".join(missing)
    h.run_group_in_tmpdir(tap, CHECKS, body, skip, "nx-record-", 300)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
