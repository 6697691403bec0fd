#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`make bench`: the agent's memory at scale. Numbers only, no assertion.

A throwaway redis-server and postgres, the agent (`run`) on both, then:
  1. idle;
  2. after redis-benchmark (13 command types, -P 16) and pgbench -S;
  3. with 10,000 live Redis connections (each sent one PING) and 5,000 distinct PostgreSQL
     statement fingerprints (SELECT <n> AS c<i>: an alias makes a fingerprint);
  4. after those connections closed (and the agent's 10-second malloc_trim).
Prints RSS and PSS (kB) at each step, and where the RSS is: "bpf maps" is the ring buffer (its
data mapped once) and the capture program's .bss (target bitmap, fd and arrival slots).

Environment: NEXUS_AGENT (default build/nexus-agent), MEM_CONNS (10000), MEM_FINGERPRINTS (5000).
"""
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.dont_write_bytecode = True
import harness as h  # noqa: E402
import test_postgres as tp  # noqa: E402

CONNS = int(os.environ.get("MEM_CONNS", "10000"))
FPS = int(os.environ.get("MEM_FINGERPRINTS", "5000"))


def mem(pid):
    """(RSS kB, PSS kB, {mapping kind: RSS kB}) of a process."""
    rss = pss = 0
    for line in open("/proc/%d/smaps_rollup" % pid):
        k, v = line.split()[:2]
        if k == "Rss:":
            rss = int(v)
        elif k == "Pss:":
            pss = int(v)
    parts, name = {}, None
    for line in open("/proc/%d/smaps" % pid):
        f = line.split()
        if "-" in f[0] and not f[0].endswith(":"):
            path = f[5] if len(f) > 5 else ""
            name = ("bpf maps" if path == "anon_inode:bpf-map" else
                    "heap" if path == "[heap]" else
                    "anonymous" if path == "" else
                    "stack" if path.startswith("[stack") else "files")
        elif f[0] == "Rss:":
            parts[name] = parts.get(name, 0) + int(f[1])
    return rss, pss, parts


def show(step, pid, extra=""):
    rss, pss, parts = mem(pid)
    where = ", ".join("%s %d" % kv for kv in sorted(parts.items(), key=lambda kv: -kv[1]) if kv[1])
    print("%-34s RSS %7d kB  PSS %7d kB  %s%s" % (step, rss, pss, where, extra))
    sys.stdout.flush()


def fingerprints(pg, n):
    """n statements of distinct shape over one connection, in batches of psql -c."""
    batch = 500
    for b in range(0, n, batch):
        sql = "; ".join("SELECT %d AS c%d" % (i, i) for i in range(b, min(n, b + batch)))
        tp.psql(pg, sql, timeout=120)


def main():
    if os.geteuid() != 0:
        print("bench_memory: SKIP: needs root (the agent loads BPF programs)")
        return 0
    with h.redis_server() as redis, h.postgres_server() as pg:
        redis.cli("CONFIG", "SET", "maxclients", str(CONNS + 1000))
        port = h.free_port()
        with h.agent("--listen", "127.0.0.1:%d" % port, "--no-default-targets", "--pid",
                     str(redis.pid), "--pid", str(pg.pid), mode="run", raw=False) as a:
            pid = a.proc.pid
            time.sleep(2)
            show("idle", pid)
            subprocess.run(["redis-benchmark", "-p", str(redis.port), "-n", "200000", "-P", "16",
                            "-q", "-t", "get,set,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,"
                            "lrange_100,mset"], capture_output=True, timeout=300)
            tp.pgbench(pg, "-i", "-s", "1", "-q", timeout=120)
            tp.pgbench(pg, "-S", "-T", "5", "-c", "4", timeout=120)
            time.sleep(1.5)
            show("after redis-benchmark, pgbench -S", pid)
            socks = []
            try:
                for _ in range(CONNS):
                    s = socket.create_connection(("127.0.0.1", redis.port))
                    s.sendall(b"*1\r\n$4\r\nPING\r\n")
                    socks.append(s)
                for s in socks:
                    s.recv(16)
                fingerprints(pg, FPS)
                time.sleep(2)
                m = h.fetch(port)
                live = sum(v for l, v in tp.samples(h.parse_prometheus(m), "nexus_redis_connections"))
                show("%d Redis conns, %d fingerprints" % (CONNS, FPS), pid,
                     "  (agent counts %d Redis connections)" % live)
            finally:
                for s in socks:
                    s.close()
            time.sleep(12)
            show("connections closed", pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
