# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A Redis workload through redis-py (Debian's python3-redis), for test_clients.py.

Run by /usr/bin/python3 with one JSON argument:
  {"lib": "redis" | "redis.asyncio", "mode": "loop" | "pipeline" | "multi",
   "n": commands per batch, "batches": how many, "prefix": "key prefix",
   "port": TCP port on 127.0.0.1 | "unix": socket path}
Keys PREFIX:0 .. PREFIX:(n*batches - 1); those with i % 3 != 0 are SET first (the same way the
GETs are sent: one by one, pipeline(transaction=False) batches or MULTI/EXEC batches of n), then
every key is read with GET in batches of n. Prints one JSON line: the commands sent and the hits and
misses the replies showed ({"set", "get", "multi", "exec", "hits", "misses", "seconds"}).
Loopback only: 127.0.0.1 or a unix socket.
"""

import json
import sys
import time


def plan(spec):
    total = spec["n"] * spec["batches"]
    keys = ["%s:%d" % (spec["prefix"], i) for i in range(total)]
    exist = [k for i, k in enumerate(keys) if i % 3 != 0]
    return keys, exist


def chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def sync_run(spec):
    import redis
    kw = {"unix_socket_path": spec["unix"]} if spec.get("unix") else \
        {"host": "127.0.0.1", "port": spec["port"]}
    r = redis.Redis(socket_timeout=60, **kw)
    keys, exist = plan(spec)
    out = {"set": 0, "get": 0, "multi": 0, "exec": 0, "hits": 0, "misses": 0}
    mode, n = spec["mode"], spec["n"]
    replies = []
    if mode == "loop":
        for k in exist:
            r.set(k, "v-" + k)
            out["set"] += 1
        for k in keys:
            replies.append(r.get(k))
            out["get"] += 1
    else:
        tx = mode == "multi"
        for part in chunks(exist, n):
            p = r.pipeline(transaction=tx)
            for k in part:
                p.set(k, "v-" + k)
            p.execute()
            out["set"] += len(part)
            out["multi"] += tx
            out["exec"] += tx
        for part in chunks(keys, n):
            p = r.pipeline(transaction=tx)
            for k in part:
                p.get(k)
            replies += p.execute()
            out["get"] += len(part)
            out["multi"] += tx
            out["exec"] += tx
    r.close()
    return out, replies


async def async_run(spec):
    import redis.asyncio as aredis
    kw = {"unix_socket_path": spec["unix"]} if spec.get("unix") else \
        {"host": "127.0.0.1", "port": spec["port"]}
    r = aredis.Redis(socket_timeout=60, **kw)
    keys, exist = plan(spec)
    out = {"set": 0, "get": 0, "multi": 0, "exec": 0, "hits": 0, "misses": 0}
    mode, n = spec["mode"], spec["n"]
    tx = mode == "multi"
    replies = []
    for part in chunks(exist, n):
        p = r.pipeline(transaction=tx)
        for k in part:
            p.set(k, "v-" + k)
        await p.execute()
        out["set"] += len(part)
        out["multi"] += tx
        out["exec"] += tx
    for part in chunks(keys, n):
        p = r.pipeline(transaction=tx)
        for k in part:
            p.get(k)
        replies += await p.execute()
        out["get"] += len(part)
        out["multi"] += tx
        out["exec"] += tx
    await r.close()
    return out, replies


def main():
    spec = json.loads(sys.argv[1])
    t0 = time.monotonic()
    if spec["lib"] == "redis.asyncio":
        import asyncio
        out, replies = asyncio.run(async_run(spec))
    else:
        out, replies = sync_run(spec)
    out["hits"] = sum(1 for v in replies if v is not None)
    out["misses"] = sum(1 for v in replies if v is None)
    out["seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
