/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Incremental RESP2/RESP3 parser for one Redis connection, seen from the server: the bytes it read
 * (requests) and the bytes it wrote (replies), in capture order, possibly with gaps where a syscall
 * moved more than was captured. Each command is paired with its own reply, in order, and becomes a
 * struct resp_record. Knows nothing of BPF, sockets or HTTP.
 *
 * Privacy: only the command name, its subcommand and key prefixes leave the parser. Values, full
 * keys (unless resp_opts.full_keys) and the arguments of AUTH/HELLO are never copied out.
 */
#ifndef NEXUS_RESP_H
#define NEXUS_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define RESP_CMD_LEN 32
#define RESP_PREFIX_LEN 64
#define RESP_ERR_LEN 24
/* Keys per command whose prefix and hit/miss are kept (MGET k1..kN); the rest count in totals. */
#define RESP_MAX_KEYS 8
/*
 * Commands sent but not yet answered, per connection (a pipeline), each kept with its own key
 * prefixes and the time of the read that brought it. Past this many, a command like the newest
 * one waiting (same command, database and key prefix: a pipeline of GETs) is folded into it and
 * still gets its own reply and record, timed from the read of the first of them (counted in
 * resp_stats.folded); a different one is dropped (counted as unpaired). The queue grows on
 * demand and is given back when a deep pipeline has been answered.
 */
#define RESP_MAX_PENDING 4096

enum resp_status {
	RESP_OK = 0,
	RESP_ERROR = 1, /* error reply; resp_record.error has its first word */
};

struct resp_key {
	char prefix[RESP_PREFIX_LEN]; /* NUL-padded to its size, like command: memcmp compares */
	int8_t hit; /* 1 hit, 0 miss, -1 not known from the reply */
};

struct resp_record {
	char command[RESP_CMD_LEN]; /* lower case; "config get" for container commands; NUL-padded
				     * to its size (a run of commands compares it with memcmp) */
	char error[RESP_ERR_LEN];   /* ERR, WRONGTYPE, MOVED, NOAUTH... when status is RESP_ERROR */
	uint8_t status;
	uint8_t db;		    /* SELECTed database the command ran in */
	bool blocking;		    /* BLPOP, XREAD BLOCK...: its latency is waiting, not work */
	bool in_multi;		    /* ran inside MULTI/EXEC; latency is the EXEC's */
	bool counts_keyspace;	    /* a read whose reply tells hit or miss as Redis counts it */
	bool rejected;		    /* refused before it ran (unknown command, arity, NOAUTH, OOM,
				     * MOVED...): the server never called its implementation */
	uint8_t n_keys;
	struct resp_key keys[RESP_MAX_KEYS];
	uint32_t hits, misses;	    /* over all keys of the command, keys[] or not */
	uint64_t t_arrival;	    /* ns: when that read's bytes reached the socket; 0 unknown.
				     * t_request - t_arrival is the time the request waited unread */
	uint64_t t_request;	    /* ns: the read that brought the command's first byte */
	uint64_t t_reply;	    /* ns: the write that completed its reply */
	uint64_t request_bytes, reply_bytes;
};

struct resp_opts {
	char delimiter;	 /* key prefix: the key up to the depth-th delimiter (default ':') */
	uint8_t depth;	 /* default 1 */
	bool full_keys;	 /* opt-in: export whole keys (still capped at RESP_PREFIX_LEN) */
};

/* Per-parser counters of what could not be paired: every one is a counted drop, never a guess. */
struct resp_stats {
	uint64_t commands;	/* records emitted */
	uint64_t parse_errors;	/* bytes that are not RESP */
	uint64_t resyncs;	/* times a connection lost and regained framing (gap or error) */
	uint64_t unpaired;	/* commands dropped without a reply: framing lost, pipeline overflow, close */
	uint64_t pushes;	/* pub/sub messages and RESP3 pushes: not replies */
	uint64_t folded;	/* commands folded into a waiting one: timed from its read */
};

/* What the command's client waited: from its arrival at the socket when known, else from the
 * server's read of it, to the reply. */
static inline uint64_t resp_record__felt_ns(const struct resp_record *r)
{
	uint64_t from = r->t_arrival && r->t_arrival <= r->t_request ? r->t_arrival : r->t_request;

	return r->t_reply > from ? r->t_reply - from : 0;
}

typedef void (*resp_emit_fn)(void *ctx, const struct resp_record *r);

struct resp_conn;

/* NULL + errno on failure. opts and stats must outlive the parser; stats may be shared. */
struct resp_conn *resp_conn__new(const struct resp_opts *opts, struct resp_stats *stats);
/* Drops what is pending (counted as unpaired); accepts NULL. */
void resp_conn__free(struct resp_conn *c);
/* Bytes the parser holds now: its struct and what it allocated (queues, key ring, the buffers of
 * a request or reply a chunk's end cut), malloc's own overhead not included. Idle (nothing
 * waiting, nothing half read) and not pipelining, that is the struct alone. */
size_t resp_conn__footprint(const struct resp_conn *c);

/*
 * Feeds one captured chunk. in: the server read it (requests), else it wrote it (replies). data
 * holds the first cap bytes of the len the syscall moved; len > cap is a gap after them.
 */
void resp_conn__feed(struct resp_conn *c, bool in, const uint8_t *data, uint32_t cap,
		     uint32_t len, uint64_t ts_ns, resp_emit_fn emit, void *ctx);
/* When the bytes of the requests fed next reached the socket (0: not known); it holds until the
 * next call. */
void resp_conn__set_arrival(struct resp_conn *c, uint64_t ns);

/* Labels in parentheses are the agent's own: no key prefix, and the overflow past a cap. A real
 * prefix never starts with '(' (it is shown as '?'). */
#define RESP_NO_PREFIX "(none)"
#define RESP_OTHER NX_OTHER
/* The command (or subcommand: "config (unknown)") Redis answered "unknown command" to: what the
 * client sent there is never shown (it may be a value or a mistyped password). */
#define RESP_UNKNOWN "(unknown)"

/* The key prefix of a key: up to the depth-th delimiter, RESP_NO_PREFIX when it has fewer
 * (privacy: a key without a prefix is not shown whole). */
void resp_key_prefix(const struct resp_opts *o, const char *key, size_t len, char *out,
		     size_t outlen);

/* Whether the parser reads argument i (0: the name) of the command named by name (nlen raw
 * bytes) when that argument is alen bytes long: record --redact keeps those and masks the rest. */
bool resp_arg_is_read(const char *name, size_t nlen, int64_t i, uint32_t alen);

#endif /* NEXUS_RESP_H */
