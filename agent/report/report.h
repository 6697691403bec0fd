/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A health report: per server, what one window (--report-interval) of figures says, against the
 * window before it, and recommendations derived from those figures. The structs here are the
 * report's input and content; they are filled from snapshots (report_window.c), judged by
 * report_recs.c and rendered as JSON by report_json.c, all pure functions: a unit test builds
 * windows from synthetic snapshots. reporter.c (on the engine side, after the alert tick) keeps
 * the window's start and what accumulates per tick (health, alerts, idle transactions).
 *
 * Index rows (struct rp_index) come from the PostgreSQL snapshot's named relations when it has
 * them (--pg-catalog); a window without them shows no index section and no unused-index advice.
 */
#ifndef NEXUS_REPORT_H
#define NEXUS_REPORT_H
#include <stdbool.h>
#include <stdint.h>
#include "alert/capacity.h"

#define RP_SERVER_LEN	128
#define RP_NAME_LEN	64
#define RP_TEXT_LEN	256
#define RP_MAX_TOP	64  /* commands or statements kept per server (by total time) */
#define RP_MAX_PREFIXES 66  /* RS_MAX_PREFIXES and "(other)" */
#define RP_MAX_INDEXES	64
#define RP_MAX_STALLS	16
#define RP_MAX_FIRED	16  /* distinct alerts fired per server per window */
#define RP_SHOW		10  /* rows of each list in the report */

/* A command (Redis) or a statement (PostgreSQL) over the window. */
struct rp_top {
	char name[RP_TEXT_LEN];	    /* command, or the statement's normalised text */
	char database[RP_NAME_LEN]; /* PostgreSQL */
	uint64_t fingerprint;	    /* PostgreSQL */
	uint64_t count, errors;
	double total_s;		    /* time the server spent on them (read to reply) */
	uint64_t buf_hits, buf_reads; /* PostgreSQL, USDT */
	uint64_t slow;		    /* Redis: into the slow-command log */
	bool blocking;		    /* Redis: BLPOP and the like, waiting by design */
};

struct rp_prefix {
	char prefix[RP_NAME_LEN];
	uint64_t hits, misses;	    /* in the window */
	double prev_ratio;	    /* hit ratio in the window before; NAN: not known */
	uint64_t prev_lookups;
};

/* An index (or any relation) with names; the PostgreSQL snapshot's relation rows. */
struct rp_index {
	char database[RP_NAME_LEN];
	char schema[RP_NAME_LEN], table[RP_NAME_LEN], name[RP_NAME_LEN];
	char kind[12];		    /* "index", "table", ... */
	uint64_t hits, reads;	    /* buffer accesses in the window */
	bool accessed_ever;	    /* any access since the agent started */
	double watched_s;	    /* how long the agent has watched it */
};

/* A command that held a Redis event loop (the stall log), in the window. */
struct rp_stall {
	char command[32];
	char client[RP_SERVER_LEN];
	double dur_s;
	uint32_t waiters;
};

struct rp_fired {
	char alertname[RP_NAME_LEN];
	char severity[12];
	int count;
};

struct rp_health {
	double now, min, mean; /* NAN: no score */
};

/* The figures of one window. NAN: not measured. */
struct rp_figures {
	double seconds;
	uint64_t requests, errors;
	uint64_t hits, misses;	/* Redis keyspace, PostgreSQL shared buffers */
	uint64_t opened;	/* connections opened */
	double p50_s, p95_s, p99_s;
	double conns, conns_max, conns_mean, limit;
	double idle_in_txn, idle_in_txn_mean; /* PostgreSQL: now, and the mean over the ticks */
	double rss_bytes, maxmemory;	      /* Redis */
};

struct rp_server {
	char server[RP_SERVER_LEN];
	char kind[12]; /* "redis", "postgres" */
	struct rp_figures cur, prev;
	bool has_prev;
	struct rp_health health;
	int n_fired;
	struct rp_fired fired[RP_MAX_FIRED];
	int n_top;
	struct rp_top top[RP_MAX_TOP]; /* by total time, longest first */
	int n_prefixes;
	struct rp_prefix prefixes[RP_MAX_PREFIXES]; /* by misses, most first */
	int n_indexes;
	struct rp_index indexes[RP_MAX_INDEXES];
	int n_stalls;
	struct rp_stall stalls[RP_MAX_STALLS];
	bool has_cap;
	struct cap_fit cap[CAP__COUNT];
};

enum rp_severity { RP_INFO, RP_WARNING, RP_CRITICAL };

#define RP_MAX_EVIDENCE 8
struct rp_evidence {
	const char *key;     /* a literal */
	double num;	     /* when str is empty */
	char str[RP_TEXT_LEN];
};

struct rp_rec {
	enum rp_severity severity;
	char server[RP_SERVER_LEN];
	char subject[RP_TEXT_LEN];
	char finding[512];
	char advice[512];
	int n_evidence;
	struct rp_evidence evidence[RP_MAX_EVIDENCE];
};

#define RP_MAX_RECS 64

struct report {
	int64_t generated_at_ms, window_start_ms; /* unix ms */
	double window_seconds;
	struct rp_health node;
	int n_node_fired; /* alerts without a server (the agent's) */
	struct rp_fired node_fired[RP_MAX_FIRED];
	int n_servers;
	struct rp_server *servers;
	int n_recs;
	struct rp_rec recs[RP_MAX_RECS];
};

const char *rp_severity__str(enum rp_severity s);

/* --- report_recs.c ---------------------------------------------------------------------------- */
/* The recommendations for one server's window, appended to out[*n] (up to max). */
void rp_recs__server(const struct rp_server *sv, struct rp_rec *out, int *n, int max);
/* Every server's, most severe first, into r->recs. */
void rp_recs__all(struct report *r);

#endif /* NEXUS_REPORT_H */
