/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's own figures (what it captured, lost, tracks), published by the capture thread and
 * read by exporters as one consistent snapshot. The capture thread publishes once per drained batch,
 * so the per-record path never takes the lock.
 */
#ifndef NEXUS_SELF_STATS_H
#define NEXUS_SELF_STATS_H

#include <pthread.h>
#include <stdint.h>
#include "events.h"

#define NX_SELF_MAX_CPUS 256 /* CPUs whose losses are told apart; the rest add to the last */

struct self_stats {
	uint64_t kernel[NX_CNT__COUNT]; /* the kernel side's counters (enum nx_counter) */
	uint64_t records;
	uint64_t chunks;
	uint64_t bytes;
	uint64_t conns_opened;
	uint64_t conns_closed;
	uint64_t orphan_chunks;
	uint64_t conn_evictions;
	uint64_t proc_drops;
	uint64_t bad_records;
	uint64_t parse_errors; /* protocol parsers: none yet */
	uint32_t conns;
	uint32_t targets;      /* processes whose bit is set in the kernel's target map */
	/* kernel[NX_CNT_LOST] by CPU: which CPUs' traffic outruns the agent (n_cpus 0: unknown,
	 * as in a replay) */
	uint16_t n_cpus;
	uint64_t lost_by_cpu[NX_SELF_MAX_CPUS];
	double start_time;     /* unix seconds */
};

struct self_stats_box {
	pthread_mutex_t lock;
	struct self_stats s;
};

void self_stats__init(struct self_stats_box *b);
void self_stats__publish(struct self_stats_box *b, const struct self_stats *s);
void self_stats__read(struct self_stats_box *b, struct self_stats *out);

#endif /* NEXUS_SELF_STATS_H */
