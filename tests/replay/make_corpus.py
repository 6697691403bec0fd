#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Writes the replay corpus: recordings of real client libraries on their batching paths against
a real redis-server and postgres, each with the servers' own counters for what it recorded.

    sudo python3 tests/replay/make_corpus.py [OUTDIR]     (default tests/replay/corpus)

For each case it starts `nexus-agent record`, resets the server's statistics (CONFIG RESETSTAT,
pg_stat_statements_reset()), runs the clients, stops the recording and writes CASE.nxr and
CASE.json: {"redis": {"commandstats": {cmd: calls}, "keyspace_hits", "keyspace_misses",
"total_error_replies"},
"postgres": {"pgss": {normalised text: calls}}, "clients": [...what each client said it sent]}.

tests/integration/test_replay_corpus.py replays the files without root, servers or kernel and
checks the agent's counts against those counters: the parsers and statistics tested
reproducibly on the bytes real libraries write. Run this again when the recording format or the
clients change; the files are small (zlib) and committed.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.dont_write_bytecode = True
import harness as h  # noqa: E402
import test_postgres as tp  # noqa: E402

CLIENTS = os.path.join(HERE, "..", "integration", "clients")
PYTHON = "/usr/bin/python3"  # Debian's client libraries live there, not in a pyenv

# (script, spec) per client; specs as tests/integration/clients/*.py document them
REDIS_CLIENTS = [
    ("py_redis.py", {"lib": "redis", "mode": "pipeline", "n": 2000, "batches": 2,
                     "prefix": "pipe"}),
    ("py_redis.py", {"lib": "redis", "mode": "multi", "n": 100, "batches": 5, "prefix": "tx"}),
    ("py_redis.py", {"lib": "redis.asyncio", "mode": "pipeline", "n": 500, "batches": 2,
                     "prefix": "apipe", "unix": True}),
    ("redis_node.js", {"lib": "ioredis", "mode": "auto", "n": 1000, "batches": 2,
                       "prefix": "auto"}),
]
PG_CLIENTS = [
    ("py_pg.py", {"lib": "asyncpg", "mode": "executemany", "n": 500, "batches": 2,
                  "table": "t_asyncpg"}),
    ("py_pg.py", {"lib": "psycopg", "mode": "pipeline", "n": 1000, "batches": 2,
                  "table": "t_psycopg", "unix": True}),
    ("py_pg.py", {"lib": "asyncpg", "mode": "fetchloop", "n": 200, "batches": 1,
                  "table": "t_psycopg"}),
    ("pg_node.js", {"lib": "postgres", "mode": "all", "n": 1000, "batches": 1,
                    "table": "t_pgjs"}),
]


def run_client(script, spec):
    cmd = ["node" if script.endswith(".js") else PYTHON, os.path.join(CLIENTS, script),
           json.dumps(spec)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **h.PG_ENV))
    if r.returncode:
        raise h.HarnessError("%s %s: %s" % (script, spec, r.stderr[-400:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def commandstats(redis):
    """{command: calls}, subcommands as the agent names them ("config resetstat")."""
    out, _ = redis.cli("INFO", "commandstats")
    return {m.group(1).replace("|", " "): int(m.group(2))
            for m in re.finditer(r"cmdstat_(\S+?):calls=(\d+)", out)}


def keyspace(redis):
    """keyspace_hits, keyspace_misses and total_error_replies (rejected commands included: an
    unknown subcommand has no commandstats line, only an error reply)."""
    out, _ = redis.cli("INFO", "stats")
    return {k: int(v) for k, v in
            re.findall(r"(keyspace_hits|keyspace_misses|total_error_replies):(\d+)", out)}


def record(rec, pids):
    p = h.AgentRun([h.AGENT, "record", "-o", rec, "--no-default-targets"]
                   + [a for pid in pids for a in ("--pid", str(pid))])
    p.start()
    return p


def redis_case(outdir):
    rec = os.path.join(outdir, "redis_clients.nxr")
    with h.redis_server() as redis:
        p = record(rec, [redis.pid])
        try:
            redis.cli("CONFIG", "RESETSTAT")
            said = []
            for script, spec in REDIS_CLIENTS:
                spec = dict(spec)
                if spec.pop("unix", False):
                    spec["unix"] = redis.sock
                else:
                    spec["port"] = redis.port
                said.append({"client": script, "spec": spec, "said": run_client(script, spec)})
            time.sleep(1.5)  # everything read by the recorder (it polls every 10 ms)
        finally:
            rc = p.stop(signal.SIGINT)
        # read after the recording stopped: INFO is not in it
        stats, ks = commandstats(redis), keyspace(redis)
    if rc != 0:
        raise h.HarnessError("record exited %s: %s" % (rc, p.stderr_tail(5)))
    return rec, {"redis": {"commandstats": stats, **ks}, "clients": said}


def pg_case(outdir):
    rec = os.path.join(outdir, "pg_clients.nxr")
    with tp.postgres_with_pgss() as pg:
        tp.psql(pg, ["CREATE EXTENSION pg_stat_statements"]
                + ["CREATE TABLE %s (id int, v text)" % t
                   for t in ("t_asyncpg", "t_psycopg", "t_pgjs")])
        p = record(rec, [pg.pid])
        try:
            time.sleep(0.5)
            tp.psql(pg, "SELECT pg_stat_statements_reset()")
            said = []
            for script, spec in PG_CLIENTS:
                spec = dict(spec)
                spec["host"] = pg.sockdir if spec.pop("unix", False) else "127.0.0.1"
                spec["port"] = pg.port
                said.append({"client": script, "spec": spec, "said": run_client(script, spec)})
            time.sleep(1.5)
            pgss = tp.pgss(pg)
        finally:
            rc = p.stop(signal.SIGINT)
    if rc != 0:
        raise h.HarnessError("record exited %s: %s" % (rc, p.stderr_tail(5)))
    return rec, {"postgres": {"pgss": pgss}, "clients": said}


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    os.makedirs(outdir, exist_ok=True)
    for case in (redis_case, pg_case):
        rec, expected = case(outdir)
        os.chmod(rec, 0o644)  # the corpus is public test data: no secrets in these workloads
        with open(rec[:-len(".nxr")] + ".json", "w") as f:
            json.dump(expected, f, indent=1, sort_keys=True)
            f.write("\n")
        print("%s: %d bytes" % (rec, os.path.getsize(rec)))


if __name__ == "__main__":
    main()
