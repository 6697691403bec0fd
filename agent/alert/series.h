/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The engine's signal series: one per Redis server, PostgreSQL server and PostgreSQL database
 * in the snapshots. Each tick a series takes a reading of the counters; the differences against
 * earlier readings become the signals rules read (rules.h, enum sig), each scored against its
 * own online baseline. A fixed table: memory does not grow with uptime or with the servers seen.
 */
#ifndef NEXUS_SERIES_H
#define NEXUS_SERIES_H
#include <stdbool.h>
#include <stdint.h>
#include "alert/baseline.h"
#include "alert/capacity.h"
#include "alert/engine.h"
#include "alert/rules.h"
#include "stats/hist.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"

enum series_kind { SK_REDIS, SK_POSTGRES };

/* The counters of one reading; deltas between readings make the signals. */
struct reading {
	uint64_t t_ns;
	uint64_t req, err, hits, misses, opened, buf_hits, buf_reads, lock_ns, deadlocks;
	uint32_t lock_waiting; /* a gauge: backends in a lock wait at the reading */
	uint64_t gap_ns;       /* a gauge: the server's longest recent silence between replies */
};

struct series {
	bool used, present, has_dbs, usdt;
	enum series_kind kind;
	char server[ALERT_LABEL_VALUE_LEN];
	char database[PS_NAME_LEN]; /* "" for a server's own series */
	uint64_t last_seen_ns;
	uint32_t pid; /* the process judged (PostgreSQL: its postmaster) */
	bool gone;    /* pid has exited, as the snapshot says */
	struct nx_identity ident; /* its container and pod, as the snapshot says */
	uint32_t old_pid;
	uint64_t restarted_ns; /* 0: never seen restarting */
	int n_inst;	       /* alert instances that refer to it (the engine's count) */
	/* the last ENG_WINDOW readings, oldest overwritten */
	int head, n_ring;
	struct reading ring[ENG_WINDOW];
	struct hist *ring_h; /* ENG_WINDOW since-start histograms beside them */
	/* this tick's signals */
	double sig[S__COUNT], score[S__COUNT], conns, limit, lock_share;
	uint64_t deadlocks_delta;
	bool restarted_now;
	/* Redis: the longest stall that ended since the last reading (has_stall), the end of the
	 * newest stall taken, and the share of the window stalls held the server. */
	struct rs_stall stall;
	bool has_stall;
	uint64_t stall_seen_end;
	double blocked_share;
	struct baseline b[S__COUNT];
	/* a server's capacity trends (NULL for databases, or when it could not be allocated) */
	struct cap_server *cap;
};

struct series_set {
	struct series s[ENG_MAX_SERIES];
	struct baseline_cfg bcfg[S__COUNT]; /* per signal: warm-up, half-life, minimum effects */
	struct hist scratch, window;	    /* work space of one update */
	uint64_t dropped; /* readings of servers or databases that found no free slot */
	struct cap_scratch cap_scratch;	    /* work space of the capacity fits */
};

/* Baseline settings per signal; an empty table. */
void series_set__init(struct series_set *ss);
void series_set__free(struct series_set *ss);
/* A new reading of a Redis server, of a PostgreSQL server and its databases, at now_ns. */
void series_set__update_redis(struct series_set *ss, const struct rs_server_snap *sv,
			      uint64_t now_ns);
void series_set__update_pg(struct series_set *ss, const struct ps_server_snap *sv,
			   uint64_t now_ns);
/* A series that was not in this tick's snapshots: no signals this tick. */
void series__absent(struct series *se);
/* Frees the slot (its histograms stay allocated for the next series in it). */
void series__forget(struct series *se);
/* What rules read of se. Points into se and ss: valid until the next update. */
void series__subject(const struct series_set *ss, const struct series *se,
		     struct rule_subject *out);
const char *series_kind__str(enum series_kind k); /* "redis", "postgres" */

#endif /* NEXUS_SERIES_H */
