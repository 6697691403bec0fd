/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One server's window from two snapshots of it: the one taken when the window started (NULL:
 * from the agent's start) and the latest. Counters become the window's deltas, histograms its
 * percentiles; a counter that went back (the server's figures restarted) counts from zero.
 * Pure: no clock, no /proc, no globals.
 */
#ifndef NEXUS_REPORT_WINDOW_H
#define NEXUS_REPORT_WINDOW_H
#include "report/report.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"

/* start_ns: the window's start (CLOCK_MONOTONIC), for the stalls that ended in it. */
int rp_window__redis(struct rp_server *sv, const struct rs_server_snap *start,
		     const struct rs_server_snap *end, uint64_t start_ns, double seconds);
int rp_window__pg(struct rp_server *sv, const struct ps_server_snap *start,
		  const struct ps_server_snap *end, double seconds);
/*
 * Index (relation) rows with counters since the agent started, at the window's start and end,
 * into sv->indexes as the window's deltas. Where named relations enter a report: the PostgreSQL
 * snapshot's relation rows, converted to struct rp_index, come through here.
 */
void rp_window__indexes(struct rp_server *sv, const struct rp_index *start, int n_start,
			const struct rp_index *end, int n_end);
/* The window before (the previous report's same server, NULL: none): prev figures, prefixes'
 * earlier hit ratios. */
void rp_window__previous(struct rp_server *sv, const struct rp_server *prev);

#endif /* NEXUS_REPORT_WINDOW_H */
