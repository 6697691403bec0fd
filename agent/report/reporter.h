/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The reporter: runs after each alert tick on the agent's stats thread, reads the published
 * snapshots (Redis, PostgreSQL, the engine's) and, every interval, turns the window since the
 * last report into one (report.h) as JSON. Between reports it keeps the snapshots the window
 * started with (a reference each) and what only accumulates per tick: health scores (now, min,
 * mean), alerts that fired, connections and sessions idle in a transaction. Bounded: a fixed
 * table of servers, the previous report's servers (for "what changed").
 */
#ifndef NEXUS_REPORTER_H
#define NEXUS_REPORTER_H
#include <stdint.h>
#include "stats/snap_box.h"

struct reporter;

/* interval_ns: the window; NULL + errno on failure. */
struct reporter *reporter__new(uint64_t interval_ns);
void reporter__free(struct reporter *rp);
/*
 * One tick at now_ns (CLOCK_MONOTONIC; now_unix_ms the wall clock). The boxes hold the latest
 * snapshots (engine may be NULL: no alerting). Returns a report as one line of JSON (malloc'ed)
 * when the window is over, else NULL.
 */
char *reporter__tick(struct reporter *rp, struct snap_box *redis, struct snap_box *postgres,
		     struct snap_box *engine, uint64_t now_ns, int64_t now_unix_ms);

#endif /* NEXUS_REPORTER_H */
