/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * nexus-agent top's model: a running agent's JSON APIs (and two series of /metrics) parsed into
 * plain structs, with rates computed between two refreshes. It knows nothing of terminals; the
 * documents come from a fetcher (libcurl in top.c, fixture strings in the unit tests).
 */
#ifndef NEXUS_TOP_MODEL_H
#define NEXUS_TOP_MODEL_H

#include <stdbool.h>
#include <stdint.h>

/* The documents one refresh reads, in this order (top_model__paths). */
enum top_doc {
	TOP_DOC_HEALTH,	      /* /api/v1/health: first, its evaluated_at dates the others */
	TOP_DOC_ALERTS,	      /* /api/v1/alerts */
	TOP_DOC_CACHE,	      /* /api/v1/cache/stats */
	TOP_DOC_SLOW_CMDS,    /* /api/v1/cache/slow-commands */
	TOP_DOC_DB_STATS,     /* /api/v1/database/stats */
	TOP_DOC_SLOW_QUERIES, /* /api/v1/database/slow-queries */
	TOP_DOC_DB_CONNS,     /* /api/v1/database/connections */
	TOP_DOC_METRICS,      /* /metrics (events and events lost) */
	TOP_DOC__COUNT,
};

extern const char *const top_model__paths[TOP_DOC__COUNT];

#define TOP_TEXT_LEN 256
#define TOP_NAME_LEN 128

/* A Redis command or a PostgreSQL fingerprint (per database and user) of one server. */
struct top_cmd {
	char key[TOP_TEXT_LEN + 2 * TOP_NAME_LEN]; /* identity across refreshes */
	char name[TOP_TEXT_LEN];		   /* command, or the normalised query text */
	char database[TOP_NAME_LEN];		   /* PostgreSQL; "" for Redis */
	uint64_t calls, errors;			   /* since start */
	double calls_per_s;			   /* NAN: unknown (not seen last refresh) */
	double p95_ms;				   /* Redis: last minute; PostgreSQL: since start */
	double total_ms;  /* since start; NAN when the agent does not say */
	double hit_ratio; /* PostgreSQL buffer hit ratio; NAN for Redis */
};

/* A client of one server: PostgreSQL, an identity of /api/v1/database/connections; Redis, a peer
 * of the slow-command log (the only per-client view the Redis APIs offer). */
struct top_client {
	char client[TOP_NAME_LEN];
	char database[TOP_NAME_LEN], user[TOP_NAME_LEN], application[TOP_NAME_LEN];
	uint64_t count;	 /* PostgreSQL: connections now; Redis: slow commands in the log */
	double rate;	 /* PostgreSQL: connections opened/s; NAN for Redis */
	double worst_ms; /* Redis: the longest felt latency among them; NAN for PostgreSQL */
	char detail[TOP_NAME_LEN]; /* PostgreSQL: states ("2 idle 1 active"); Redis: last command */
};

enum top_kind { TOP_REDIS, TOP_POSTGRES };

struct top_server {
	enum top_kind kind;
	char address[TOP_NAME_LEN];
	uint32_t pid; /* 0: not known */
	uint64_t ops_total, errors_total;
	/* NAN for anything the agent does not (yet) say */
	double ops_per_s; /* between refreshes; the agent's last-minute rate at first */
	double p50_ms, p95_ms, p99_ms; /* last minute, over all commands/databases (see mix) */
	double wait_p99_ms;	       /* request_wait: unread in the socket, last minute */
	double error_ratio;	       /* between refreshes, else last minute */
	double hit_ratio; /* Redis keyspace / PostgreSQL buffer hit ratio, last minute */
	double connections;
	int firing; /* firing alerts labelled with this server */
	int n_cmds;
	struct top_cmd *cmds;
	int n_clients;
	struct top_client *clients;
};

struct top_snapshot {
	double at;	     /* seconds: the agent's evaluation time when known, else ours */
	bool dated_by_agent; /* at came from /api/v1/health's evaluated_at */
	double health;	     /* node score, NAN: no alert engine */
	double events_per_s; /* NAN until two refreshes */
	uint64_t events_total, events_lost;
	bool has_events;
	int firing; /* firing alerts on the node */
	int n_servers;
	struct top_server *servers;
};

struct top_model {
	struct top_snapshot cur, prev;
	bool has_prev;
	double events_at; /* our clock when /metrics was read (events are published each
			   * 100 ms, so our clock dates them well enough) */
	double prev_events_at;
};

/* The documents of one refresh; NULL for one that could not be read (its figures go missing). */
struct top_docs {
	const char *doc[TOP_DOC__COUNT];
};

void top_model__init(struct top_model *m);
void top_model__free(struct top_model *m);
/* Parses docs read at now (seconds, our monotonic clock) into m->cur, keeping the old as
 * m->prev for the rates. 0, or -EINVAL when no document at all could be parsed (m unchanged). */
int top_model__update(struct top_model *m, const struct top_docs *docs, double now);

/* Whether two /api/v1/health documents are of the same evaluation (or say no time at all, as
 * with --no-alerts: then nothing better can be known). */
bool top_model__same_evaluation(const char *health1, const char *health2);

/* Frees a snapshot's arrays and zeroes it. */
void top_snapshot__clear(struct top_snapshot *s);

/* One component of a mixture: its weight and its p50/p95/p99. */
struct top_mix_part {
	double weight, p50, p95, p99;
};
/*
 * Quantile p of a mixture whose parts only say p50/p95/p99 (the APIs give a server's commands
 * or databases, not the server): each part's distribution is taken as linear between 0, its
 * p50, p95 and p99 (with the last 1 % at p99), weighted by its calls. Exact for one part at
 * those points; NAN when no part has weight.
 */
double top_model__mix_quantile(const struct top_mix_part *parts, int n, double p);

#endif /* NEXUS_TOP_MODEL_H */
