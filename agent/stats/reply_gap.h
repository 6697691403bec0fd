/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The longest silence between a server's replies, over the last two seconds, and the silence in
 * progress. Seen from the server's sockets a blocked event loop (DEBUG SLEEP, a slow script) does
 * not show as latency: requests wait unread in the kernel and are fast once read. It shows as
 * replies that stop while clients are connected and traffic was steady.
 */
#ifndef NEXUS_REPLY_GAP_H
#define NEXUS_REPLY_GAP_H
#include <stdint.h>

struct reply_gap {
	uint64_t last_ns;	  /* the latest reply */
	uint64_t slot;		  /* second (last_ns / 1 s) cur_max belongs to */
	uint64_t cur_max, prev_max; /* longest gap ending in that second and in the one before */
};

/* A reply completed at t_ns (CLOCK_MONOTONIC). */
void reply_gap__add(struct reply_gap *g, uint64_t t_ns);
/* The longest gap that ended in the last two seconds, or the one in progress if longer; 0 before
 * any reply. */
uint64_t reply_gap__max(const struct reply_gap *g, uint64_t now_ns);

#endif /* NEXUS_REPLY_GAP_H */
