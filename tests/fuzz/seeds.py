#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Seed corpora for the fuzz targets, written as each target's input format expects them.

    python3 tests/fuzz/seeds.py OUTDIR   ->  OUTDIR/seeds-fuzz_resp/, seeds-fuzz_pgwire/, ...

Seeds are typical conversations (pipelines, RESP3, errors, the extended protocol, COPY, SQL with
every kind of constant), so that a short bounded run in CI starts from the parsers' interesting
states instead of rediscovering the protocols. Generated, not committed: the formats are defined in
the targets' own comments, and a change there is one edit here. Targets without seeds here start
from an empty corpus.
"""
import os
import struct
import sys


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def chunks(conv):
    """fuzz_resp / fuzz_pgwire raw script: (header, length, bytes) per <= 255-byte chunk."""
    out = b""
    for direction, data in conv:
        for o in range(0, len(data), 255):
            piece = data[o:o + 255]
            hdr = direction & 1
            out += bytes([hdr, len(piece)]) + piece
    return out


REQ, REP = 0, 1

RESP_SEEDS = {
    "get_set": [(REQ, resp("SET", "user:1", "v")), (REP, b"+OK\r\n"),
                (REQ, resp("GET", "user:1")), (REP, b"$1\r\nv\r\n"),
                (REQ, resp("GET", "user:2")), (REP, b"$-1\r\n")],
    "pipeline": [(REQ, b"".join(resp("INCR", "c:%d" % i) for i in range(40)))]
    + [(REP, b"".join(b":%d\r\n" % i for i in range(40)))],
    "errors": [(REQ, resp("LPUSH", "k", "a")), (REP, b":1\r\n"),
               (REQ, resp("GET", "k")),
               (REP, b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
               (REQ, resp("NOSUCH")), (REP, b"-ERR unknown command 'NOSUCH'\r\n")],
    "resp3": [(REQ, resp("HELLO", "3")),
              (REP, b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n"),
              (REQ, resp("HGETALL", "h")), (REP, b"%1\r\n+f\r\n+v\r\n"),
              (REQ, resp("CLIENT", "TRACKING", "on")), (REP, b"+OK\r\n"),
              (REP, b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"),
              (REQ, resp("DEBUG", "SLEEP", "0")), (REP, b"_\r\n"),
              (REQ, resp("INCRBYFLOAT", "f", "1.5")), (REP, b",1.5\r\n")],
    "multi_exec": [(REQ, resp("MULTI") + resp("SET", "a", "1") + resp("INCR", "a") + resp("EXEC")),
                   (REP, b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:2\r\n")],
    "inline_and_blocking": [(REQ, b"PING\r\n"), (REP, b"+PONG\r\n"),
                            (REQ, resp("BLPOP", "q", "1")), (REP, b"*-1\r\n"),
                            (REQ, resp("SUBSCRIBE", "ch")),
                            (REP, b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"),
                            (REP, b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")],
    "big_value": [(REQ, resp("SET", "blob:1", "x" * 3000)), (REP, b"+OK\r\n"),
                  (REQ, resp("MGET", "blob:1", "nope")),
                  (REP, b"*2\r\n$3000\r\n" + b"x" * 3000 + b"\r\n$-1\r\n")],
}


def pg_msg(tag, body=b""):
    return (tag.encode() if tag else b"") + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return s.encode() + b"\0"


def startup(user="postgres", db="postgres"):
    body = struct.pack("!I", 196608) + cstr("user") + cstr(user) + cstr("database") + cstr(db) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


AUTH_OK = pg_msg("R", struct.pack("!I", 0))
READY = pg_msg("Z", b"I")


def cmd_complete(tag):
    return pg_msg("C", cstr(tag))


def error(code, text):
    return pg_msg("E", b"SERROR\0C" + cstr(code) + b"M" + cstr(text) + b"\0")


def row_desc(*names):
    body = struct.pack("!H", len(names))
    for n in names:
        body += cstr(n) + struct.pack("!IHIhih", 0, 0, 23, 4, -1, 0)
    return pg_msg("T", body)


def data_row(*vals):
    body = struct.pack("!H", len(vals))
    for v in vals:
        body += struct.pack("!I", len(v)) + v
    return pg_msg("D", body)


def extended(sql, params, name=b""):
    bind = b"\0" + name + b"\0" + struct.pack("!H", 0) + struct.pack("!H", len(params))
    for p in params:
        bind += struct.pack("!I", len(p)) + p
    bind += struct.pack("!H", 0)
    return (pg_msg("P", name + b"\0" + cstr(sql) + struct.pack("!H", 0)) + pg_msg("B", bind)
            + pg_msg("D", b"P\0") + pg_msg("E", b"\0" + struct.pack("!I", 0)) + pg_msg("S"))


EXT_REPLY = (pg_msg("1") + pg_msg("2") + row_desc("a") + data_row(b"1") + cmd_complete("SELECT 1")
             + READY)

PG_SEEDS = {
    "simple": [(REQ, startup()), (REP, AUTH_OK + READY),
               (REQ, pg_msg("Q", cstr("SELECT a FROM t WHERE id = 42"))),
               (REP, row_desc("a") + data_row(b"1") + cmd_complete("SELECT 1") + READY)],
    "error": [(REQ, startup()), (REP, AUTH_OK + READY),
              (REQ, pg_msg("Q", cstr("SELECT 1/0"))),
              (REP, error("22012", "division by zero") + READY)],
    "extended_pipeline": [(REQ, startup()), (REP, AUTH_OK + READY),
                          (REQ, b"".join(extended("SELECT $1::int", [b"%d" % i]) for i in range(20))),
                          (REP, EXT_REPLY * 20)],
    "transaction": [(REQ, startup()), (REP, AUTH_OK + READY),
                    (REQ, pg_msg("Q", cstr("BEGIN"))), (REP, cmd_complete("BEGIN") + pg_msg("Z", b"T")),
                    (REQ, pg_msg("Q", cstr("UPDATE t SET a = 'x' WHERE id IN (1, 2, 3)"))),
                    (REP, cmd_complete("UPDATE 3") + pg_msg("Z", b"T")),
                    (REQ, pg_msg("Q", cstr("COMMIT"))), (REP, cmd_complete("COMMIT") + READY)],
    "ssl_refused": [(REQ, struct.pack("!II", 8, 80877103)), (REP, b"N"),
                    (REQ, startup()), (REP, AUTH_OK + READY)],
}

SQL_SEEDS = {
    "select": "SELECT a, b FROM t WHERE id = 42 AND name = 'bob' ORDER BY a LIMIT 10",
    "in_list": "select * from t where id in (1, 2, 3, 4) and x = -1.5e3",
    "strings": "SELECT E'a\\'b', X'ff', U&'\\0041', $$dollar$$, $tg$tagged$tg$ FROM t",
    "values": "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), ($1, $2)",
    "multi": "BEGIN; UPDATE t SET a = a + 1 WHERE id = 7; COMMIT;",
    "comments": "/* c */ SELECT 1 -- trailing\nFROM t",
}


def write(outdir, target, name, data):
    d = os.path.join(outdir, "seeds-" + target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "build/fuzz"
    for name, conv in RESP_SEEDS.items():
        write(outdir, "fuzz_resp", name, chunks(conv))
    for name, conv in PG_SEEDS.items():
        # the first byte even: no canned startup (the seed brings its own); bit 1 clear: raw
        write(outdir, "fuzz_pgwire", name, chunks(conv))
    for name, sql in SQL_SEEDS.items():
        write(outdir, "fuzz_sql_fingerprint", name, b"\0" + sql.encode())
    # the replay corpus: real recordings (libFuzzer reads their first -max_len bytes: a truncated
    # recording, which the reader must handle too)
    corpus = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "replay", "corpus")
    for name in sorted(os.listdir(corpus)) if os.path.isdir(corpus) else []:
        if name.endswith(".nxr"):
            with open(os.path.join(corpus, name), "rb") as f:
                write(outdir, "fuzz_recording", name, f.read())
    # every target has a seed directory, empty when nothing above seeds it
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.startswith("fuzz_") and name.endswith(".c"):
            os.makedirs(os.path.join(outdir, "seeds-" + name[:-2]), exist_ok=True)


if __name__ == "__main__":
    main()
