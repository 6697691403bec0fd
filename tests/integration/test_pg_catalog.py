#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""--pg-catalog against a real postgres: relations and indexes by name.

The server authenticates Unix-socket connections by peer only (its own pg_hba.conf), so the
agent's `peer` mode must really connect as the postmaster's owner. A workload touches a few
indexed tables in two databases; the agent's per-index buffer hits and reads over it must equal
PostgreSQL's own pg_statio_user_indexes deltas (idx_blks_hit, idx_blks_read) within 1 %. Then a
pg_monitor role through a connection string, and a connection string that cannot work: logged
once, counted, and everything else still there. Last, a second cluster made alike: each
server's figures stay its own. Prints TAP; needs root and BTF (else SKIP).
"""

import contextlib
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

DBS = ("postgres", "nx_shop")
# (database, schema.table, index) the workload uses; nx_archive's index is never used
USED = [("postgres", "public", "nx_orders", "nx_orders_pkey"),
        ("postgres", "public", "nx_orders", "nx_orders_customer_idx"),
        ("postgres", "public", "nx_items", "nx_items_pkey"),
        ("nx_shop", "public", "nx_stock", "nx_stock_pkey"),
        ("nx_shop", "public", "nx_stock", "nx_stock_sku_idx")]
UNUSED = ("postgres", "public", "nx_archive", "nx_archive_x_idx")

PEER = ["peer: the catalog connection really is peer-authenticated (the server logged it)",
        "peer: /api/v1/database/indexes hits per index equal pg_statio_user_indexes "
        "idx_blks_hit deltas within 1 %",
        "peer: reads per index equal idx_blks_read deltas within 1 % (and some are reads)",
        "peer: schema, table and index names right in both databases",
        "peer: an index never used is listed under unused_indexes with the start time",
        "peer: /api/v1/database/relations has names and kinds (table, index; shared catalogs where listed)",
        "peer: nexus_postgres_relation_buffer_{hits,reads}_total by relation and kind, "
        "equal to the API",
        "peer: nexus_postgres_catalog_errors_total is 0 and refreshes counted"]
CONNSTR = ["connection string: a pg_monitor role (password from a passfile) names the indexes",
           "connection string: the unused index is listed too"]
BAD = ["bad connection string: failures counted (>= 2 runs) but logged once",
       "bad connection string: relations by relfilenode, queries and /metrics still work"]


def chk(g, name, cond, diag):
    """g.check; with NX_VERBOSE=1 the figures are printed for passing checks too (for the
    README's numbers and for a reader who wants to see them)."""
    if os.environ.get("NX_VERBOSE"):
        g.tap.diag(*(diag if isinstance(diag, list) else [diag]))
    g.check(name, cond, diag)


def psql(pg, sql, db="postgres", timeout=60):
    r, pid = h.run([h.pg_tool("psql"), "-X", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
                    "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", db]
                   + [a for q in ([sql] if isinstance(sql, str) else sql) for a in ("-c", q)],
                   timeout=timeout, env=h.pg_env())
    pg.client_pids.append(pid)
    if r.returncode != 0:
        raise h.HarnessError("psql failed (%d): %s" % (r.returncode,
                                                       r.stderr.decode(errors="replace")))
    return r.stdout.decode(errors="replace").strip()


def pgbench(pg, db, script, *args, timeout=90):
    r, _ = h.run([h.pg_tool("pgbench"), "-n", "-h", "127.0.0.1", "-p", str(pg.port),
                  "-U", "postgres", "-f", script] + list(args) + [db],
                 timeout=timeout, env=h.pg_env())
    if r.returncode != 0:
        e = h.HarnessError("pgbench failed (%d)" % r.returncode)
        e.detail = (r.stdout + r.stderr).decode(errors="replace").splitlines()[-10:]
        raise e


def statio(pg):
    """{(database, schema, table, index): (hits, reads)} from pg_statio_user_indexes."""
    res = {}
    for db in DBS:
        out = psql(pg, "SELECT schemaname, relname, indexrelname, idx_blks_hit, idx_blks_read "
                       "FROM pg_statio_user_indexes", db=db)
        for line in out.splitlines():
            s, t, i, hit, read = line.split("\x1f")
            res[(db, s, t, i)] = (int(hit), int(read))
    return res


def api_indexes(port):
    """{(database, schema, table, index): (hits, reads)}, [unused entries], the whole answer."""
    doc = json.loads(h.fetch(port, "/api/v1/database/indexes"))
    used, unused = {}, []
    for sv in doc["servers"]:
        for d in sv["databases"]:
            for i in d["indexes"]:
                used[(d["database"], i["schema"], i["table"], i["index"])] = (i["hits"],
                                                                             i["reads"])
            for i in d["unused_indexes"]:
                unused.append((d["database"], i["schema"], i["table"], i["index"],
                               i.get("unused_since")))
    return used, unused, doc


def within(a, b, rel=0.01):
    return abs(a - b) <= max(rel * max(a, b), 0)


def setup_schema(pg):
    """Tables and indexes, filled before the agent starts; nx_archive is never touched again."""
    psql(pg, "CREATE DATABASE nx_shop")
    psql(pg, ["CREATE TABLE nx_orders (id serial PRIMARY KEY, customer int, amount int, "
              "note text)",
              "CREATE INDEX nx_orders_customer_idx ON nx_orders (customer)",
              "INSERT INTO nx_orders (customer, amount, note) SELECT g % 5000, g, "
              "repeat('n', 60) FROM generate_series(1, 60000) g",
              "CREATE TABLE nx_items (id int PRIMARY KEY, name text)",
              "INSERT INTO nx_items SELECT g, 'item' || g FROM generate_series(1, 20000) g",
              "CREATE TABLE nx_archive (id int, x int)",
              "INSERT INTO nx_archive SELECT g, g FROM generate_series(1, 1000) g",
              "CREATE INDEX nx_archive_x_idx ON nx_archive (x)",
              "VACUUM ANALYZE"])
    psql(pg, ["CREATE TABLE nx_stock (id int PRIMARY KEY, sku text, qty int)",
              "CREATE INDEX nx_stock_sku_idx ON nx_stock (sku)",
              "INSERT INTO nx_stock SELECT g, 'sku' || g, g % 17 FROM generate_series(1, 30000) g",
              "VACUUM ANALYZE"], db="nx_shop")
    psql(pg, ["CREATE ROLE nx_mon LOGIN PASSWORD 'nx-mon-pw' IN ROLE pg_monitor"])


def workload(pg):
    """Index scans and inserts in both databases; the clients exit, so PostgreSQL's own
    statistics are flushed when it ends."""
    a = os.path.join(pg.dir, "nx_a.sql")
    with open(a, "w") as f:
        f.write("\\set c random(0, 4999)\n\\set i random(1, 20000)\n"
                "SELECT count(*) FROM nx_orders WHERE customer = :c;\n"
                "SELECT name FROM nx_items WHERE id = :i;\n"
                "INSERT INTO nx_orders (customer, amount, note) VALUES (:c, :i, 'w');\n")
    b = os.path.join(pg.dir, "nx_b.sql")
    with open(b, "w") as f:
        f.write("\\set i random(1, 30000)\n"
                "SELECT qty FROM nx_stock WHERE sku = 'sku' || :i;\n"
                "UPDATE nx_stock SET qty = qty + 1 WHERE id = :i;\n")
    for db, script in (("postgres", a), ("nx_shop", b)):
        os.chmod(script, 0o644)
        pgbench(pg, db, script, "-c", "3", "-t", "400")


def wait_names(port, timeout=40):
    """Until every index the workload uses (and the unused one) is known by name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        used, unused, doc = api_indexes(port)
        if all(k in used for k in USED[:3]) and any(u[:4] == UNUSED for u in unused):
            return used, unused, doc
        time.sleep(0.5)
    return api_indexes(port)


def settle(port, pg, timeout=20):
    """The agent's figures stop moving (the probes count live; the snapshot is 1 s old)."""
    prev, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.3)
        cur = api_indexes(port)[0]
        if cur == prev:
            return cur
        prev = cur
    return prev


def group_peer(g, pg):
    c = PEER
    port = h.free_port()
    with h.agent("--no-default-targets", "--pid", str(pg.pid), "--listen",
                 "127.0.0.1:%d" % port, "--pg-catalog", "peer", mode="run", raw=False) as a:
        # Something in each database, so the agent sees both and asks for their names.
        psql(pg, "SELECT count(*) FROM nx_items WHERE id = 1")
        psql(pg, "SELECT count(*) FROM nx_stock WHERE id = 1", db="nx_shop")
        used, unused, doc = wait_names(port)
        with open(pg.log, errors="replace") as f:
            log = f.read().splitlines()
        # log_connections: "[pid] connection authenticated: ... method=peer", then the same
        # backend's "connection authorized: user=postgres ... application_name=<ours>"
        peer_pids = {m.group(1) for m in (re.search(r"\[(\d+)\].*connection authenticated: "
                                                    r"identity=\"postgres\" method=peer", l)
                                          for l in log) if m}
        ours = [l for l in log if "application_name=nexus-agent-catalog" in l]
        chk(g, c[0], ours and all(re.search(r"\[(\d+)\]", l).group(1) in peer_pids
                                  and "user=postgres" in l for l in ours),
            ["catalog connections: %s" % ours[-3:], "agent stderr: %s" % a.stderr_tail(6)])
        base_pg, base_ag = statio(pg), settle(port, pg)
        workload(pg)
        time.sleep(1.0)  # backends exited: their statistics are flushed
        after_pg, after_ag = statio(pg), settle(port, pg)
        used, unused, doc = wait_names(port, 10)
        rows, ok_hits, ok_reads, some_reads = [], True, True, False
        for k in USED:
            dp = [after_pg.get(k, (0, 0))[i] - base_pg.get(k, (0, 0))[i] for i in (0, 1)]
            da = [after_ag.get(k, (0, 0))[i] - base_ag.get(k, (0, 0))[i] for i in (0, 1)]
            rows.append("%s: agent hits %+d reads %+d; pg_statio hits %+d reads %+d"
                        % (".".join(k), da[0], da[1], dp[0], dp[1]))
            ok_hits &= k in after_ag and dp[0] > 0 and within(da[0], dp[0])
            ok_reads &= k in after_ag and within(da[1], dp[1])
            some_reads |= dp[1] > 0
        chk(g, c[1], ok_hits, rows)
        chk(g, c[2], ok_reads and some_reads, rows)
        chk(g, c[3], all(k in used for k in USED),
                ["used: %s" % sorted(used)[:12]])
        un = [u for u in unused if u[:4] == UNUSED]
        since = doc.get("since")
        chk(g, c[4], len(un) == 1 and since and un[0][4] == since
                and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", since)
                and not any(u[:4] == k for k in USED for u in unused),
                ["unused: %s; since %s" % (unused[:8], since)])
        rels = json.loads(h.fetch(port, "/api/v1/database/relations"))
        kinds = {(r.get("database"), r.get("name")): r.get("kind") for r in rels["relations"]}
        want = {("postgres", "nx_orders"): "table", ("postgres", "nx_orders_customer_idx"):
                "index"}
        shared = [r for r in rels["relations"] if r["database_oid"] == 0]
        chk(g, c[5], rels["catalog"] and all(kinds.get(k) == v for k, v in want.items())
            and all(r.get("schema") == "pg_catalog" and r.get("kind") for r in shared),
                ["relations: %s" % json.dumps(rels["relations"][:6])])
        fams = h.parse_prometheus(h.fetch(port))
        m_ok, info = True, []
        for k in USED[:3]:
            lab = {"database": k[0], "relation": "%s.%s" % (k[1], k[3]), "kind": "index"}
            vals = []
            for fam in ("nexus_postgres_relation_buffer_hits_total",
                        "nexus_postgres_relation_buffer_reads_total"):
                f = fams.get(fam, {"samples": []})
                vals.append([v for n, l, v in f["samples"]
                             if all(l.get(x) == y for x, y in lab.items())])
            info.append("%s: metrics %s, api %s" % (".".join(k), vals, used.get(k)))
            m_ok = m_ok and bool(vals[0] and vals[1] and k in used
                                 and (int(vals[0][0]), int(vals[1][0])) == used[k])
        chk(g, c[6], m_ok, info)
        errs = [v for n, l, v in fams.get("nexus_postgres_catalog_errors_total",
                                          {"samples": []})["samples"]]
        refr = [v for n, l, v in fams.get("nexus_postgres_catalog_refreshes_total",
                                          {"samples": []})["samples"]]
        chk(g, c[7], errs == [0] and refr and refr[0] >= 1,
                ["errors %s, refreshes %s" % (errs, refr)])


def group_connstr(g, pg):
    passfile = os.path.join(pg.dir, "nx_pgpass")
    with open(passfile, "w") as f:
        f.write("127.0.0.1:%d:*:nx_mon:nx-mon-pw\n" % pg.port)
    os.chmod(passfile, 0o600)
    conninfo = ("host=127.0.0.1 port=%d user=nx_mon dbname=postgres passfile=%s sslmode=disable"
                % (pg.port, passfile))
    port = h.free_port()
    with h.agent("--no-default-targets", "--pid", str(pg.pid), "--listen",
                 "127.0.0.1:%d" % port, "--pg-catalog", conninfo, mode="run", raw=False) as a:
        psql(pg, ["SELECT count(*) FROM nx_items WHERE id = 2",
                  "SELECT count(*) FROM nx_orders WHERE customer = 7"])
        used, unused, doc = wait_names(port)
        chk(g, CONNSTR[0], all(k in used for k in USED[:3]),
                ["used: %s" % sorted(used), "agent stderr: %s" % a.stderr_tail(5)])
        chk(g, CONNSTR[1], any(u[:4] == UNUSED for u in unused), ["unused: %s" % unused])


def group_bad(g, pg):
    port = h.free_port()
    bad = "host=127.0.0.1 port=1 dbname=postgres user=nobody connect_timeout=2 sslmode=disable"
    with h.agent("--no-default-targets", "--pid", str(pg.pid), "--listen",
                 "127.0.0.1:%d" % port, "--pg-catalog", bad, mode="run", raw=False) as a:
        def errors():
            fams = h.parse_prometheus(h.fetch(port))
            f = fams.get("nexus_postgres_catalog_errors_total", {"samples": []})
            return int(f["samples"][0][2]) if f["samples"] else 0
        psql(pg, "SELECT count(*) FROM nx_items WHERE id = 3")
        h.wait_until(lambda: errors() >= 1, 20, 0.5)
        # a second database asks again (after the per-server interval): a second failure
        psql(pg, "SELECT count(*) FROM nx_stock WHERE id = 3", db="nx_shop")
        h.wait_until(lambda: errors() >= 2, 30, 0.5)
        n = errors()
        logged = [l for l in a.stderr if "pg-catalog" in l]
        chk(g, BAD[0], n >= 2 and len(logged) == 1, ["errors %d; log lines %s" % (n, logged)])
        rels = json.loads(h.fetch(port, "/api/v1/database/relations"))
        fams = h.parse_prometheus(h.fetch(port))
        queries = fams.get("nexus_postgres_queries_total", {"samples": []})["samples"]
        chk(g, BAD[1], a.running and rels["relations"] and rels["catalog"] is True
                and all("name" not in r and r["relfilenode"] > 0 for r in rels["relations"])
                and len(queries) > 0,
                ["relations %s" % json.dumps(rels)[:300], "queries samples %d" % len(queries)])


def indexes_by_server(port):
    """{server: {(database, schema, table, index): (hits, reads)}} from the API."""
    doc = json.loads(h.fetch(port, "/api/v1/database/indexes"))
    res = {}
    for sv in doc["servers"]:
        d_ = res.setdefault(sv["server"], {})
        for d in sv["databases"]:
            for i in d["indexes"]:
                d_[(d["database"], i["schema"], i["table"], i["index"])] = (i["hits"], i["reads"])
    return res


def filenodes(pg):
    return psql(pg, "SELECT relname || '=' || relfilenode FROM pg_class WHERE relname LIKE 'nx_%' "
                    "ORDER BY 1").split()


def group_two(g, pg):
    """A second cluster made alike (the same database oids and, from the same DDL, the same
    relfilenodes): the probes' postmaster pid keeps each server's relations its own."""
    c = TWO
    with h.postgres_server(settings=("autovacuum=off", "shared_buffers=1MB")) as pg2:
        setup_schema(pg2)
        port = h.free_port()
        with h.agent("--no-default-targets", "--pid", str(pg.pid), "--pid", str(pg2.pid),
                     "--listen", "127.0.0.1:%d" % port, "--pg-catalog", "peer", mode="run",
                     raw=False) as a:
            s1, s2 = "127.0.0.1:%d" % pg.port, "127.0.0.1:%d" % pg2.port
            for p_ in (pg, pg2):
                psql(p_, "SELECT count(*) FROM nx_items WHERE id = 1")
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                cur = indexes_by_server(port)
                if all(USED[2] in cur.get(s, {}) for s in (s1, s2)):
                    break
                time.sleep(0.5)

            def settled():
                prev = None
                for _ in range(15):
                    time.sleep(1.3)
                    cur = indexes_by_server(port)
                    if cur == prev:
                        return cur
                    prev = cur
                return prev

            base = (statio(pg), statio(pg2), settled())
            workload(pg2)
            time.sleep(1.0)
            after = (statio(pg), statio(pg2), settled())
            same = filenodes(pg) == filenodes(pg2)
            rows, ok = ["same relfilenodes on both servers: %s" % same], True
            for k in USED[:3]:
                for i, sv in ((0, s1), (1, s2)):
                    dp = after[i].get(k, (0, 0))[0] - base[i].get(k, (0, 0))[0]
                    da = (after[2].get(sv, {}).get(k, (0, 0))[0]
                          - base[2].get(sv, {}).get(k, (0, 0))[0])
                    rows.append("%s %s: agent hits %+d, pg_statio %+d" % (sv, ".".join(k), da, dp))
                    ok &= within(da, dp) and (dp > 0) == (i == 1)
            chk(g, c[0], ok, rows + ["agent stderr: %s" % a.stderr_tail(4)])


TWO = ["two clusters alike: each server's per-index hits equal its own pg_statio deltas "
       "(the busy one's within 1 %, the idle one's unchanged)"]

ALL = [(PEER, group_peer), (CONNSTR, group_connstr), (BAD, group_bad), (TWO, group_two)]


def main():
    tap = h.Tap()
    skip = h.privilege_skip_reason()
    missing = h.missing_tools("psql", "pgbench", "initdb", "postgres")
    if not skip and missing:
        skip = "missing tools: %s" % ", ".join(missing)
    if skip:
        for names, _ in ALL:
            h.run_group(tap, names, None, skip)
        return tap.done()
    try:
        with contextlib.ExitStack() as stack:
            hba = "/tmp/nx-cat-hba-%d.conf" % os.getpid()
            with open(hba, "w") as f:
                # Unix sockets: peer only, so --pg-catalog peer must really be the owner.
                f.write("local all all peer\n"
                        "host all nx_mon 127.0.0.1/32 scram-sha-256\n"
                        "host all all 127.0.0.1/32 trust\n")
            os.chmod(hba, 0o644)
            stack.callback(os.unlink, hba)
            with h.time_limit(120):
                pg = stack.enter_context(h.postgres_server(settings=(
                    "hba_file=%s" % hba, "autovacuum=off", "shared_buffers=1MB",
                    "log_connections=on")))
                setup_schema(pg)
            for names, fn in ALL:
                def body(g, fn=fn):
                    with h.time_limit(180):
                        fn(g, pg)
                h.run_group(tap, names, body)
    except Exception as e:  # noqa: BLE001 - set-up failed: every check fails
        why = ["set-up failed: %s: %s" % (type(e).__name__, e)] + list(getattr(e, "detail", []))
        for names, _ in ALL[tap.n and 0:]:
            h.run_group(tap, names, lambda g: g.fail_rest(why))
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
