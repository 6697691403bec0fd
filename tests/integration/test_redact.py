#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""record --redact against a real redis-server (requirepass) and postgres (password auth over
TCP: scram-sha-256 and md5, in the test's own pg_hba.conf).

Two recorders watch the same servers, one plain and one with --redact, while clients
authenticate with planted passwords and write planted values, then redis-benchmark -P 16 (1 KB
values, lrange replies of 100) and pgbench run. The plain recording's
decompressed bytes hold the secrets (the test can see them); the redacted one's hold none of
them, nor the PostgreSQL password/SASL payloads the plain one holds; both files keep the same
length of every record, and their replays count the same commands and statements. Prints TAP.
"""

import os
import re
import signal
import socket
import struct
import sys
import time
import zlib

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_postgres as tp  # noqa: E402
import test_record as tr  # noqa: E402

REDIS_PW = "SECRETPWREDIS77"
VALUE = "SECRETVALUE4242"
HELLO_PW = "SECRETHELLOPW9"
SCRAM_PW = "SECRETSCRAMPW55"
MD5_PW = "SECRETMD5PW66"

CHECKS = [
    "record --redact: exit 0, mode 0600, stderr says how many bytes were masked, that the kernel "
    "lost nothing and that no stream direction lost its framing",
    "the plain recording holds the planted secrets (the test sees what it looks for)",
    "the redacted recording holds none of them (value, requirepass, AUTH, HELLO AUTH, CONFIG SET)",
    "the redacted recording holds no PostgreSQL password message (md5 hash, SCRAM client-first and client-final) of the plain one",
    "every DATA record both recorders wrote has the same length in both files, and the redacted bytes differ from the plain ones only where masked ('*')",
    "replay: Redis command counts (command, status, key prefixes) equal the plain recording's",
    "replay: PostgreSQL statement counts equal the plain recording's",
]


def ring_payloads(path):
    """The REC_E_RING entries of a recording, decompressed (capture/recording.h)."""
    with open(path, "rb") as f:
        data = f.read()
    hdr_len = struct.unpack_from("<I", data, 12)[0]
    pos, out = hdr_len, []
    while pos + 32 <= len(data):
        magic, btype, raw_len, comp_len = struct.unpack_from("<IIII", data, pos)
        if magic != 0x4b42584e:
            break
        raw = zlib.decompress(data[pos + 32:pos + 32 + comp_len])
        pos += 32 + comp_len
        p = 0
        while p + 8 <= len(raw):
            n, kind = struct.unpack_from("<IH", raw, p)
            if kind == 1:
                out.append(raw[p + 8:p + 8 + n])
            p += 8 + ((n + 7) & ~7)
        if btype == 2:
            break
    return out


def data_records(path):
    """DATA records by (tgid, fd, dir, n-th of that stream): their payloads (include/events.h;
    each recorder's probes time their records themselves, so time is no key)."""
    out, seq = {}, {}
    for r in ring_payloads(path):
        if len(r) < 56 or struct.unpack_from("<I", r, 0)[0] != 1:
            continue
        tgid, _, fd, ts = struct.unpack_from("<IIIQ", r, 4)
        cap, = struct.unpack_from("<I", r, 36)
        off, = struct.unpack_from("<I", r, 44)
        k = (tgid, fd, r[40])
        seq[k] = seq.get(k, 0) + 1
        out[k + (seq[k], off)] = r[56:56 + cap]
    return out


def all_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    hdr_len = struct.unpack_from("<I", data, 12)[0]
    pos, out = hdr_len, [data[:hdr_len]]
    while pos + 32 <= len(data):
        magic, btype, raw_len, comp_len = struct.unpack_from("<IIII", data, pos)
        if magic != 0x4b42584e:
            break
        out.append(zlib.decompress(data[pos + 32:pos + 32 + comp_len]))
        pos += 32 + comp_len
    return b"".join(out)


def redis_raw(port, *cmds):
    """Sends RESP commands on one connection, reads until every reply came (roughly)."""
    def enc(args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        return out
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        got = b""
        for c in cmds:
            s.sendall(enc(c))
            time.sleep(0.05)
            try:
                got += s.recv(65536)
            except socket.timeout:
                pass
        return got


def set_hba(pg):
    hba = os.path.join(pg.datadir, "pg_hba.conf")
    with open(hba) as f:
        old = f.read()
    with open(hba, "w") as f:
        f.write("host all scramu 127.0.0.1/32 scram-sha-256\n"
                "host all md5u 127.0.0.1/32 md5\n" + old)
    tp.psql(pg, ["SET password_encryption = 'scram-sha-256'",
                 "CREATE ROLE scramu LOGIN PASSWORD '%s'" % SCRAM_PW,
                 "SET password_encryption = 'md5'",
                 "CREATE ROLE md5u LOGIN PASSWORD '%s'" % MD5_PW,
                 "SELECT pg_reload_conf()"])
    time.sleep(0.5)


def pg_login(pg, user, pw, sql):
    env = dict(os.environ, PGSSLMODE="disable", PGGSSENCMODE="disable", PGPASSWORD=pw,
               PGCONNECT_TIMEOUT="10")
    r, _ = h.run([h.pg_tool("psql"), "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(pg.port),
                  "-U", user, "-d", "postgres", "-c", sql], timeout=30, env=env)
    if r.returncode:
        raise h.HarnessError("psql as %s failed: %s" % (user, r.stderr.decode()[-300:]))


def body(g, tmp):
    with h.redis_server() as redis, h.postgres_server() as pg:
        set_hba(pg)
        tp.pgbench(pg, "-i", "-s", "1", "-q", timeout=60)
        plain, red = os.path.join(tmp, "plain.nxr"), os.path.join(tmp, "red.nxr")
        # every byte captured (no gaps) and room in the ring (nothing lost): the masker must
        # then never lose a direction's framing. (A lost record or a gap in framing masks the
        # rest of that direction: the replay of the redacted file then counts less.)
        targets = ["--no-default-targets", "--pid", str(redis.pid), "--pid", str(pg.pid),
                   "--capture-bytes", "1048576", "--ring-mb", "128"]
        r1 = h.AgentRun([h.AGENT, "record", "-o", plain] + targets)
        r2 = h.AgentRun([h.AGENT, "record", "--redact", "-o", red] + targets)
        r1.start()
        try:
            r2.start()
            try:
                redis_raw(redis.port, ["CONFIG", "SET", "requirepass", REDIS_PW])
                redis_raw(redis.port, ["AUTH", REDIS_PW],
                          ["SET", "user:1", VALUE], ["GET", "user:1"],
                          ["MSET", "user:2", VALUE + "b", "sess:9", VALUE + "c"],
                          ["MGET", "user:1", "user:2", "nokey:1"],
                          ["HSET", "h:1", "f", VALUE + "h"], ["HGETALL", "h:1"],
                          ["AUTH", "default", REDIS_PW + "WRONG"])
                redis_raw(redis.port, ["HELLO", "3", "AUTH", "default", REDIS_PW],
                          ["GET", "user:1"], ["ECHO", VALUE + "e"])
                redis_raw(redis.port, ["HELLO", "2", "AUTH", "default", HELLO_PW])
                for i in range(20):
                    redis_raw(redis.port, ["AUTH", REDIS_PW], ["SET", "k:%d" % i, VALUE],
                              ["GET", "k:%d" % i])
                pg_login(pg, "scramu", SCRAM_PW, "SELECT 1")
                pg_login(pg, "md5u", MD5_PW, "SELECT 2")
                for i in range(5):
                    pg_login(pg, "scramu", SCRAM_PW, "SELECT %d + 1" % i)
                # pipelines and large replies (LRANGE of 100 values: 10 KB each), chunk boundaries
                # anywhere in the framing; sized so that two recorders at 1 MiB captures lose
                # nothing on a slow machine too (-d 1000 made 2 GB of replies, and CI lost records)
                r, _ = h.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(redis.port),
                              "-a", REDIS_PW, "-P", "16", "-c", "4", "-n", "5000", "-d", "100",
                              "-t", "set,get,lpush,lrange_100", "-q"], timeout=120)
                if r.returncode:
                    raise h.HarnessError("redis-benchmark: %s" % r.stderr[-300:])
                tp.pgbench(pg, "-T", "2", "-c", "2")
                time.sleep(1.5)
            finally:
                rc2 = r2.stop(signal.SIGINT)
        finally:
            rc1 = r1.stop(signal.SIGINT)
    mode = os.stat(red).st_mode & 0o777
    err2 = r2.stderr_tail(5)
    m = re.search(r"redacted (\d+) bytes; (\d+) stream directions", "\n".join(err2))
    lost0 = any("(0 lost by the kernel)" in l for l in err2)
    # the masker follows real traffic: nothing lost, no direction loses its framing
    g.check(CHECKS[0], rc2 == 0 and mode == 0o600 and m and int(m.group(1)) > 0
            and lost0 and m.group(2) == "0",
            ["exit %s, mode %o" % (rc2, mode)] + err2)
    pb, rb = all_bytes(plain), all_bytes(red)
    secrets = [REDIS_PW, VALUE, HELLO_PW]
    g.check(CHECKS[1], rc1 == 0 and all(s.encode() in pb for s in secrets),
            ["plain: %s" % {s: s.encode() in pb for s in secrets}])
    # also no fragment: any 8-byte window of a secret
    windows = {s[i:i + 8].encode(): s for s in secrets + [SCRAM_PW, MD5_PW]
               for i in range(len(s) - 7)}
    leaks = sorted(set(windows[m] for m in re.findall(
        b"|".join(re.escape(w) for w in windows), rb)))
    g.check(CHECKS[2], not leaks, ["found in the redacted recording: %s" % leaks])
    pats = [rb"md5[0-9a-f]{32}", rb"n,,n=[^,]*,r=[A-Za-z0-9+/=]+",
            rb"c=biws,r=[A-Za-z0-9+/=]+,p=[A-Za-z0-9+/=]+"]
    found = [m for p in pats for m in re.findall(p, pb)]
    kept = [m for m in found if m in rb]
    g.check(CHECKS[3], len(found) >= 3 and not kept and
            not any(re.search(p, rb) for p in pats),
            ["plain holds %d password payloads: %s" % (len(found), found[:3]),
             "redacted still holds: %s" % kept[:3]])
    dp, dr = data_records(plain), data_records(red)
    common = set(dp) & set(dr)
    bad = [k for k in common if len(dp[k]) != len(dr[k]) or
           any(a != b and b != 0x2a for a, b in zip(dp[k], dr[k]))]
    g.check(CHECKS[4], len(common) > 50 and not bad,
            ["plain %d DATA records, redacted %d, %d in both, %d differ" %
             (len(dp), len(dr), len(common), len(bad))])
    fp, ep, _ = tr.replay_metrics([h.AGENT, "replay", plain], h.free_port())
    fr, er, _ = tr.replay_metrics([h.AGENT, "replay", red], h.free_port())
    rp, rr = tr.redis_counts(fp), tr.redis_counts(fr)
    g.check(CHECKS[5], rp and rp == rr and sum(rp.values()) >= 20000,
            ["plain %s" % sorted(rp.items()), "redacted %s" % sorted(rr.items())] + er[-3:])
    pp, pr = tr.pg_counts(fp), tr.pg_counts(fr)
    g.check(CHECKS[6], pp and pp == pr and sum(pp.values()) >= 100,
            ["plain %s" % sorted(pp.items()), "redacted %s" % sorted(pr.items())] + er[-3:])


def main():
    tap = h.Tap()
    skip = h.privilege_skip_reason()
    missing = h.missing_tools("redis-server", "redis-benchmark", "pgbench", "postgres", "initdb")
    if not skip and missing:
        skip = "missing: %s" % ", ".join(missing)
    h.run_group_in_tmpdir(tap, CHECKS, body, skip, "nx-redact-", 300)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
