/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What goes out as OTLP log records, each once: alert transitions (firing, resolved) from the
 * engine's snapshot, Redis slow commands from the slow-command log, and PostgreSQL statements
 * whose p95 over the last minute reaches the slow threshold (once per fingerprint until it is
 * fast again). The snapshots only list what is current, so this keeps what it already sent:
 * alert fingerprints with their transition times, a watermark in the slow-command log, and the
 * slow fingerprints, all in fixed tables. Only what the snapshots already hold leaves the agent:
 * command names, key prefixes, normalised SQL; never values or literals.
 */
#ifndef NEXUS_OTLP_LOGS_H
#define NEXUS_OTLP_LOGS_H

#include <stdbool.h>
#include <stdint.h>
#include "export/otlp_encode.h"

#define OTLP_LOGS_ALERTS 1024  /* alert instances remembered (the engine keeps at most 512) */
#define OTLP_LOGS_SLOW_PG 1024 /* slow (server, database, fingerprint) remembered */

struct engine_snapshot;
struct redis_snapshot;
struct postgres_snapshot;

struct otlp_logs_seen_alert {
	uint64_t fingerprint;
	int64_t fired_ms, resolved_ms; /* the transitions already sent */
	uint64_t last_seen;	       /* collect() round, for reuse when the table is full */
};

struct otlp_logs_seen_pg {
	uint64_t key; /* hash of server, database, fingerprint */
	bool slow;    /* reported, not yet fast again */
};

struct otlp_logs {
	uint64_t pg_slow_ns; /* p95 over the last minute at which a statement is reported */
	uint64_t round;
	struct otlp_logs_seen_alert alerts[OTLP_LOGS_ALERTS];
	int64_t slow_ms;     /* watermark: newest slow command sent, unix ms */
	int slow_at_ms;	     /* how many entries with that time were sent */
	bool slow_started;
	struct otlp_logs_seen_pg pg[OTLP_LOGS_SLOW_PG];
	/* counters */
	uint64_t alerts_out, slow_commands_out, slow_statements_out;
	uint64_t missed; /* records that could not be sent: more than max at once, tables full */
};

void otlp_logs__init(struct otlp_logs *st, uint64_t pg_slow_ns);
/*
 * The records that are new in these snapshots (any may be NULL), at most max into out; the rest
 * are counted in missed. now_unix_ns stamps them as observed. Returns how many.
 */
int otlp_logs__collect(struct otlp_logs *st, const struct engine_snapshot *es,
		       const struct redis_snapshot *rs, const struct postgres_snapshot *ps,
		       uint64_t now_unix_ns, struct otlp_log *out, int max);

#endif /* NEXUS_OTLP_LOGS_H */
