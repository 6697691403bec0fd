#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The replay corpus: recordings of real client libraries on their batching paths (redis-py
pipelines and MULTI/EXEC, redis.asyncio over a unix socket, ioredis auto-pipelining; asyncpg
executemany, psycopg pipeline mode, postgres.js), each with the servers' own counters for what it
recorded (tests/replay/make_corpus.py writes both). Each file is replayed with --listen (no root,
no servers, no kernel) and the agent's counts must equal the servers' exactly: the parsers and
the statistics tested reproducibly on the bytes real libraries write. Prints TAP.
"""
import json
import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_postgres as tp  # noqa: E402
import test_record as tr  # noqa: E402

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "replay", "corpus")

CHECKS = [
    "redis_clients.nxr: nexus_redis_commands_total per command (all statuses) equals INFO "
    "commandstats calls, for every command Redis counted; the others (unknown subcommands the "
    "clients probe with) are all errors, and all error replies equal INFO's total_error_replies",
    "redis_clients.nxr: keyspace hits and misses equal INFO stats' keyspace_hits/misses",
    "redis_clients.nxr: no parse errors, resyncs or unpaired commands",
    "pg_clients.nxr: statements per normalised text equal pg_stat_statements calls, for every "
    "statement PostgreSQL counted",
    "pg_clients.nxr: no parse errors, resyncs or unpaired statements",
]


def load(name):
    with open(os.path.join(CORPUS, name + ".json")) as f:
        return json.load(f)


def total(fams, name):
    return sum(v for _, v in tp.samples(fams, name))


def redis_checks(g):
    exp = load("redis_clients")["redis"]
    fams, err, rc = tr.replay_metrics([h.AGENT, "replay", os.path.join(CORPUS, "redis_clients.nxr")],
                                      h.free_port())
    if not fams:
        raise h.HarnessError("replay gave no /metrics (exit %s): %s" % (rc, err[-5:]))
    got, ok, errors = {}, {}, 0
    for labels, v in tp.samples(fams, "nexus_redis_commands_total"):
        c = labels["command"]
        got[c] = got.get(c, 0) + int(v)
        if labels["status"] == "ok":
            ok[c] = ok.get(c, 0) + int(v)
        else:
            errors += int(v)
    want = exp["commandstats"]
    bad = ["%s: agent %s, commandstats %d" % (c, got.get(c), n) for c, n in sorted(want.items())
           if got.get(c) != n]
    extra = ["%s: agent %d (%d ok), not in commandstats" % (c, n, ok.get(c, 0))
             for c, n in got.items() if c not in want and ok.get(c, 0)]
    if errors != exp["total_error_replies"]:
        bad.append("error replies: agent %d, INFO total_error_replies %d"
                   % (errors, exp["total_error_replies"]))
    g.check(CHECKS[0], want and not bad and not extra, bad + extra)
    hits, misses = (total(fams, "nexus_redis_keyspace_%s_total" % k) for k in ("hits", "misses"))
    g.check(CHECKS[1], hits == exp["keyspace_hits"] and misses == exp["keyspace_misses"],
            ["agent hits %s misses %s, INFO %s %s" % (hits, misses, exp["keyspace_hits"],
                                                      exp["keyspace_misses"])])
    trouble = {n: total(fams, n) for n in ("nexus_redis_parse_errors_total",
                                           "nexus_redis_resyncs_total",
                                           "nexus_redis_unpaired_commands_total")}
    g.check(CHECKS[2], not any(trouble.values()), ["%s %s" % kv for kv in trouble.items()])


def pg_checks(g):
    exp = load("pg_clients")["postgres"]["pgss"]
    fams, err, rc = tr.replay_metrics([h.AGENT, "replay", os.path.join(CORPUS, "pg_clients.nxr")],
                                      h.free_port())
    if not fams:
        raise h.HarnessError("replay gave no /metrics (exit %s): %s" % (rc, err[-5:]))
    got = {}
    for (server, text, status), n in tr.pg_counts(fams).items():
        got[tp.norm(text or "")] = got.get(tp.norm(text or ""), 0) + n
    bad = ["%s: agent %s, pg_stat_statements %d" % (t, got.get(t), n)
           for t, n in sorted(exp.items()) if got.get(t) != n]
    g.check(CHECKS[3], exp and not bad, bad + ["agent: %s" % sorted(got.items())])
    trouble = {n: total(fams, n) for n in ("nexus_postgres_parse_errors_total",
                                           "nexus_postgres_resyncs_total",
                                           "nexus_postgres_unpaired_statements_total")}
    g.check(CHECKS[4], not any(trouble.values()), ["%s %s" % kv for kv in trouble.items()])


def main():
    tap = h.Tap()
    missing = [n for n in ("redis_clients", "pg_clients")
               if not os.path.exists(os.path.join(CORPUS, n + ".nxr"))]
    if not os.access(h.AGENT, os.X_OK):
        reason = "%s is not built (make)" % h.AGENT
    elif missing:
        reason = "corpus files missing: %s (tests/replay/make_corpus.py)" % missing
    else:
        reason = None
    h.run_group(tap, CHECKS[:3], redis_checks, skip_reason=reason)
    h.run_group(tap, CHECKS[3:], pg_checks, skip_reason=reason)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
