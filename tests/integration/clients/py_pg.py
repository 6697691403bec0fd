# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A PostgreSQL workload through asyncpg or psycopg 3 (Debian's python3-asyncpg, python3-psycopg),
for test_clients.py.

Run by /usr/bin/python3 with one JSON argument:
  {"lib": "asyncpg" | "psycopg", "mode": "executemany" | "pipeline" | "fetchloop" | "loop",
   "n": statements per batch, "batches": how many, "table": "an existing (id int, v text) table",
   "host": "127.0.0.1" or the unix socket directory, "port": port}
  executemany: INSERT INTO T (id, v) VALUES ($1, $2), n rows per executemany() call;
  pipeline:    (psycopg) n cur.execute(INSERT ...) inside one `with conn.pipeline():`;
  loop:        n INSERTs one by one (the control: no batching);
  fetchloop:   n SELECT v FROM T WHERE id = $1, awaited one by one.
Prints one JSON line: {"statements": {sql text: times run}, "rows": rows returned, "seconds"}.
Loopback only: 127.0.0.1 or a unix socket directory.
"""

import json
import sys
import time


def sqls(table):
    return ("INSERT INTO %s (id, v) VALUES ($1, $2)" % table,
            "SELECT v FROM %s WHERE id = $1" % table)


async def run_asyncpg(spec):
    import asyncpg
    ins, sel = sqls(spec["table"])
    conn = await asyncpg.connect(host=spec["host"], port=spec["port"], user="postgres",
                                 database="postgres", ssl=False, timeout=30)
    out = {"statements": {}, "rows": 0}
    n, mode = spec["n"], spec["mode"]
    try:
        for b in range(spec["batches"]):
            ids = range(b * n, (b + 1) * n)
            if mode == "executemany":
                await conn.executemany(ins, [(i, "v-%d" % i) for i in ids])
                out["statements"][ins] = out["statements"].get(ins, 0) + n
            elif mode == "loop":
                for i in ids:
                    await conn.execute(ins, i, "v-%d" % i)
                out["statements"][ins] = out["statements"].get(ins, 0) + n
            elif mode == "fetchloop":
                for i in ids:
                    if await conn.fetchval(sel, i) is not None:
                        out["rows"] += 1
                out["statements"][sel] = out["statements"].get(sel, 0) + n
            else:
                raise SystemExit("asyncpg: unknown mode " + mode)
    finally:
        await conn.close()
    return out


def run_psycopg(spec):
    import psycopg
    ins, sel = sqls(spec["table"])
    ins_p, sel_p = ins.replace("$1", "%s").replace("$2", "%s"), sel.replace("$1", "%s")
    out = {"statements": {}, "rows": 0, "pipeline_supported": psycopg.Pipeline.is_supported()}
    n, mode = spec["n"], spec["mode"]
    conninfo = "host=%s port=%d user=postgres dbname=postgres sslmode=disable gssencmode=disable " \
               "connect_timeout=30" % (spec["host"], spec["port"])
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with conn.cursor() as cur:
            for b in range(spec["batches"]):
                ids = range(b * n, (b + 1) * n)
                if mode == "executemany":
                    cur.executemany(ins_p, [(i, "v-%d" % i) for i in ids])
                elif mode == "pipeline":
                    with conn.pipeline():
                        for i in ids:
                            cur.execute(ins_p, (i, "v-%d" % i))
                elif mode == "loop":
                    for i in ids:
                        cur.execute(ins_p, (i, "v-%d" % i))
                else:
                    raise SystemExit("psycopg: unknown mode " + mode)
                out["statements"][ins] = out["statements"].get(ins, 0) + n
    return out


def main():
    spec = json.loads(sys.argv[1])
    t0 = time.monotonic()
    if spec["lib"] == "asyncpg":
        import asyncio
        out = asyncio.run(run_asyncpg(spec))
    else:
        out = run_psycopg(spec)
    out["seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
