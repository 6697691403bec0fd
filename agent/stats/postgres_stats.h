/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * PostgreSQL figures per server: queries by (database, user, fingerprint) and outcome, their latency
 * histograms, the normalised text of each fingerprint, and connections by state. Written by the
 * capture thread only; readers get immutable snapshots. Bounded like redis_stats: past a cap,
 * traffic is labelled "(other)" and counted.
 */
#ifndef NEXUS_POSTGRES_STATS_H
#define NEXUS_POSTGRES_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include "identity.h"
#include "proto/pgwire.h"
#include "stats/lat_series.h"

#define PS_MAX_SERVERS 64
#define PS_MAX_SERIES 256    /* (server, database, user, fingerprint) series in all */
#define PS_MAX_CONN_KEYS 256 /* (server, database, user, state) connection gauges */
#define PS_NAME_LEN 64	     /* database and user names */
#define PS_SERVER_LEN 128
#define PS_MAX_DBS 16	     /* databases per server with their own figures; the rest: "(other)" */
#define PS_TEXT_LEN 256	     /* normalised query text exported in nexus_postgres_query_info */

enum pg_conn_state {
	PG_STATE_STARTUP = 0, /* before the first ReadyForQuery */
	PG_STATE_IDLE,
	PG_STATE_ACTIVE,	/* a query is running */
	PG_STATE_IDLE_IN_TXN,
	PG_STATE_IDLE_IN_TXN_ABORTED,
	PG_STATE__COUNT,
};

extern const char *const pg_state_names[PG_STATE__COUNT];

/* One statement, as the pipeline hands it over. */
struct pg_query {
	const char *server;
	const char *database;
	const char *user;
	uint64_t fingerprint;	/* id of the normalised text */
	const char *text;	/* the normalised text (no literals) */
	const char *kind;	/* select, insert, ..., ddl, begin, commit, rollback, other */
	const char *sqlstate;	/* NULL when it succeeded, else its 5-character SQLSTATE */
	uint64_t rows;
	uint64_t t_request, t_response;
	uint64_t t_arrival; /* the request's bytes reached the socket (0: not known) */
	/* From USDT: what the backend did since its previous statement (0 without probes). */
	uint64_t buf_hits, buf_reads, lock_wait_ns;
	uint64_t exec_ns; /* execution inside the server (query__start/done) */
};

/* USDT figures of one backend flush (struct nx_pg_backend), for a (server, database). */
struct pg_usdt_flush {
	const char *server;
	const char *database;
	uint32_t db_oid;
	uint64_t buf_hits, buf_reads, lock_wait_ns, lock_waits;
	int outcome; /* 0: none, 1: commit, -1: rollback (abort) */
	uint64_t ts; /* CLOCK_MONOTONIC */
};

struct ps_series_snap {
	char database[PS_NAME_LEN];
	char user[PS_NAME_LEN];
	uint64_t fingerprint;
	char text[PS_TEXT_LEN];
	char kind[12];
	uint64_t rows;
	uint64_t buf_hits, buf_reads, lock_wait_ns; /* USDT, attributed to the statement */
	uint64_t exec_ns;			      /* USDT: time executing inside the server */
	struct lat_snap lat; /* error words are SQLSTATE classes ("23", "42"...) */
};

/* Who a client connection is: what /api/v1/database/connections breaks connections down by. */
struct pg_conn_id {
	const char *database;
	const char *user;
	const char *application; /* application_name; "" when the client sets none */
	const char *client;	 /* the client's host (no port); "local" for Unix sockets */
};

#define PS_CLIENT_LEN 64

/* Connections of one identity in one state (an identity has a row per state it was seen in). */
struct ps_conn_snap {
	char database[PS_NAME_LEN];
	char user[PS_NAME_LEN];
	char application[PS_NAME_LEN];
	char client[PS_CLIENT_LEN];
	uint8_t state; /* enum pg_conn_state */
	uint64_t n;
};

/* Connections an identity opened (completed startup, or first seen ready). */
struct ps_opened_snap {
	char database[PS_NAME_LEN];
	char user[PS_NAME_LEN];
	char application[PS_NAME_LEN];
	char client[PS_CLIENT_LEN];
	uint64_t opened;
	uint64_t win_opened; /* in the last win_seconds */
	double win_seconds;
};

/* Per database of a server: what /api/v1/database/stats shows and the alert rules watch. The
 * buffer, lock and transaction figures come from the server's USDT probes (0 without them). */
struct ps_db_snap {
	char database[PS_NAME_LEN];
	uint32_t oid;			   /* learned from the buffer probes; 0: unknown */
	uint64_t queries, errors;
	struct lat_snap lat;		   /* all its statements */
	struct hist total;		   /* the same, as a histogram since start (alerting) */
	struct lat_snap felt;		   /* arrival at the socket to the response (count 0: not
					    * known) */
	struct hist felt_total;		   /* the same as a histogram since start (alerting) */
	uint64_t buffer_hits, buffer_reads; /* shared buffers: found / not found */
	uint64_t lock_wait_ns;		   /* time backends waited for heavyweight locks */
	uint64_t lock_waits;		   /* how many waits (finished) */
	uint32_t lock_waiting;		   /* backends waiting right now ... */
	uint64_t lock_waiting_ns;	   /* ... and how long they have waited so far. Kept apart from
					    * lock_wait_ns, a counter of finished waits that must never
					    * go back. Rate of waiting = Δlock_wait_ns/Δt + lock_waiting. */
	uint64_t commits, rollbacks;	   /* transactions */
	/* The last minute (win_seconds of it, less right after the start): rates for the API. */
	double win_seconds;
	uint64_t win_queries, win_errors, win_hits, win_reads, win_commits, win_rollbacks;
};

struct ps_server_snap {
	char server[PS_SERVER_LEN];
	uint32_t pid;		/* the postmaster (the backends' parent) */
	bool gone;		/* pid has exited (the capture side looks when it publishes) */
	struct nx_identity ident; /* its container and pod ("" on the host) */
	uint64_t queries, errors, conns_opened;
	uint64_t deadlocks;	/* USDT deadlock__found */
	uint64_t reply_gap_ns;	/* longest silence between responses lately (reply_gap.h) */
	bool usdt;		/* the USDT figures are live for this server */
	struct lat_snap wait;	/* requests' time unread in the socket (arrival to read) */
	int n_dbs;
	struct ps_db_snap *dbs;
	int n_series;
	struct ps_series_snap *series;
	int n_conns;
	struct ps_conn_snap *conns;
	int n_opened;
	struct ps_opened_snap *opened;
	/* max_connections as the postmaster's configuration says, set by whoever takes the
	 * snapshot from /proc (run: capture/server_limits.c); 0 unknown (the default applies). */
	uint32_t max_conns;
};

/*
 * Buffer accesses of one relation (USDT buffer__read__done, keyed by database oid and
 * relfilenode), with its names when --pg-catalog found them. Filled by stats/pg_relations.c.
 */
struct ps_rel_snap {
	int server;		  /* index into servers[]; -1: not known */
	char database[PS_NAME_LEN]; /* "" not known; "(shared)" for database oid 0 */
	uint32_t db_oid, relfilenode;
	uint64_t hits, reads;	  /* found in / not found in shared buffers */
	bool named;		  /* schema, name, kind below come from the catalog */
	char kind[20];		  /* pg_names__kind(); "" unnamed */
	char schema[PS_NAME_LEN], name[PS_NAME_LEN];
	char table[PS_NAME_LEN];  /* an index's table; "" otherwise */
	bool metric;		  /* has series of its own in the relation metrics, else "(other)" */
};

/* An index the catalog lists that no backend touched since relations_since. */
struct ps_unused_index {
	int server;		  /* -1: not known */
	char database[PS_NAME_LEN];
	char schema[PS_NAME_LEN], table[PS_NAME_LEN], name[PS_NAME_LEN];
	uint32_t relfilenode;
};

#define PS_MAX_RELATIONS 8192	  /* the kernel map's own size (bpf/pg_usdt.bpf.c) */
#define PS_MAX_UNUSED 2048
#define PS_REL_METRIC_CAP 100	  /* relations with their own metric series; the rest "(other)" */

struct postgres_snapshot {
	int n_servers;
	struct ps_server_snap *servers;
	uint64_t dropped_series;
	struct pg_stats wire; /* the parsers' counters, set by whoever takes the snapshot */
	bool exec_time;	      /* execution time is measured (--pg-exec-time); set likewise */
	/* Relations (pg_relations__fill; none without USDT), by hits + reads, most first. */
	bool relations_usdt;  /* the relation figures are read at all */
	double relations_since; /* Unix time from which they count (the agent's start) */
	int n_relations;
	struct ps_rel_snap *relations;
	int n_unused;
	struct ps_unused_index *unused;
	uint64_t unused_dropped;  /* past PS_MAX_UNUSED */
	bool catalog;		  /* --pg-catalog is on */
	uint64_t catalog_refreshes, catalog_errors;
};

struct postgres_stats;

struct postgres_stats *postgres_stats__new(void);
void postgres_stats__free(struct postgres_stats *s);
void postgres_stats__query(struct postgres_stats *s, const struct pg_query *q, uint64_t now_ns);
/* A client connection of (server, id) moved from state `from` to `to`; PG_STATE__COUNT as from:
 * it appeared, as to: it went. */
void postgres_stats__conn_state(struct postgres_stats *s, const char *server,
				const struct pg_conn_id *id, int from, int to);
/* A connection of id became ready (opened), at now_ns. */
void postgres_stats__conn_ready(struct postgres_stats *s, const char *server,
				const struct pg_conn_id *id, uint64_t now_ns);
void postgres_stats__conn_opened(struct postgres_stats *s, const char *server);
/* The server's process (postmaster or backend) last seen. */
void postgres_stats__server_pid(struct postgres_stats *s, const char *server, uint32_t pid);
/* The container and pod of the server's processes (NULL: the host's), as of its newest
 * connection. The "(other)" server past the cap keeps none. */
void postgres_stats__server_identity(struct postgres_stats *s, const char *server,
				     const struct nx_identity *id);
/* USDT: a backend's buffer, lock and transaction figures. */
void postgres_stats__usdt(struct postgres_stats *s, const struct pg_usdt_flush *f);
void postgres_stats__deadlock(struct postgres_stats *s, const char *server);
/* Lock waits in progress, sampled once per tick: begin, then one call per waiting backend, so a
 * lock held for minutes shows (lock_waiting) before it is released. */
void postgres_stats__lock_waiting_begin(struct postgres_stats *s);
void postgres_stats__lock_waiting(struct postgres_stats *s, const char *server, const char *database,
				  uint64_t waited_ns);
/* The (server, database) a database oid belongs to, as learned from backends' flushes; false
 * when unknown. For figures of processes with no client connection (autovacuum...). */
bool postgres_stats__db_of_oid(struct postgres_stats *s, uint32_t oid, const char **server,
			       const char **database);

struct postgres_snapshot *postgres_stats__snapshot(struct postgres_stats *s, uint64_t now_ns);
void postgres_snapshot__free(struct postgres_snapshot *snap);

#endif /* NEXUS_POSTGRES_STATS_H */
