/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The wiring between stages: capture's records (with their connection and process) go to the
 * protocol parser of the server they belong to (RESP for redis-server/valkey-server, the v3 wire
 * protocol for postgres), and what the parsers make goes to the statistics
 * and to the caller (trace prints it). The only module that knows both capture and proto.
 */
#ifndef NEXUS_PIPELINE_H
#define NEXUS_PIPELINE_H

#include <stdbool.h>
#include "capture/conntrack.h"
#include "proto/pgwire.h"
#include "proto/resp.h"
#include "proto/sql_fingerprint.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"
#include "stats/self_stats.h"

/* One Redis command with where it ran. */
struct redis_event {
	const struct resp_record *r;
	const char *server; /* address:port or socket path */
	const char *client; /* peer address:port, "" for Unix sockets */
	uint32_t pid;
	const char *comm;
	uint64_t exec_ns; /* --redis-uprobes: time inside call(); 0 unknown */
};

/* One PostgreSQL Query or Execute with where it ran and its fingerprint. */
struct postgres_event {
	const struct pg_record *r;
	uint64_t t_arrival; /* its request reached the socket (0: not known) */
	const struct sql_fingerprint *fp;
	const char *server;
	const char *client;
	uint32_t pid;
	const char *comm;
};

struct pipeline_sink {
	/* a decoded Redis command */
	void (*on_redis)(void *ctx, const struct redis_event *e);
	/* a decoded PostgreSQL statement */
	void (*on_postgres)(void *ctx, const struct postgres_event *e);
	/* a record no parser took: other servers' bytes, connection and process events */
	void (*on_other)(void *ctx, const struct nx_record *r);
	void *ctx;
};

struct pipeline_opts {
	bool decode;		 /* false: every record goes to on_other (trace --raw) */
	bool redis_exec;	 /* --redis-uprobes: pair call() records with commands */
	uint64_t slow_ns;	 /* Redis commands felt this long go to the slow-command log (0: none) */
	struct resp_opts resp;
	/* Who a postgres backend serves, from its title (pg_title__read's contract); NULL: this
	 * host's /proc. A replay answers from the recording. */
	int (*pg_title)(void *ctx, uint32_t pid, char *user, size_t ulen, char *db, size_t dlen);
	void *pg_title_ctx;
};

/* How --redis-uprobes' call() records paired with commands; every miss is counted. */
struct redis_exec_stats {
	uint64_t calls;	    /* call() records */
	uint64_t orphans;   /* on a thread with no known connection (attached mid-read...) */
	uint64_t unmatched; /* commands that ran but found no call() record waiting */
	uint64_t dropped;   /* records pushed out of a full per-connection queue */
};

struct pipeline;

/* rs and ps may be NULL (trace keeps no statistics). NULL + errno on failure. */
struct pipeline *pipeline__new(const struct pipeline_opts *o, struct redis_stats *rs,
			       struct postgres_stats *ps, struct pipeline_sink sink);
void pipeline__free(struct pipeline *p);
/* The conntrack sink that feeds this pipeline. */
struct conntrack_sink pipeline__conntrack_sink(struct pipeline *p);
/* Parser counters (the RESP ones also inside rs when there is one). */
const struct resp_stats *pipeline__resp_stats(const struct pipeline *p);
const struct pg_stats *pipeline__pg_stats(const struct pipeline *p);
const struct redis_exec_stats *pipeline__redis_exec_stats(const struct pipeline *p);

/*
 * The agent's own figures that conntrack and the parsers keep, into st: records, chunks,
 * connections, drops, parse errors. The caller adds the kernel's counters, the targets and the
 * start time (run reads them from BPF, replay from the recording).
 */
void pipeline__self_stats(const struct pipeline *p, const struct conntrack *ct,
			  struct self_stats *st);

/* Lock waits in progress (pg_usdt__each_waiting), sampled once per tick: begin, then each. */
void pipeline__pg_waiting_begin(struct pipeline *p);
void pipeline__pg_waiting(struct pipeline *p, uint32_t tgid, uint64_t waited_ns);
/* USDT records that belonged to no connection nor known database (dropped). */
uint64_t pipeline__usdt_unattributed(const struct pipeline *p);

#endif /* NEXUS_PIPELINE_H */
