// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "stats/reply_gap.h"

#define SLOT_NS 1000000000ULL

void reply_gap__add(struct reply_gap *g, uint64_t t_ns)
{
	uint64_t slot = t_ns / SLOT_NS, gap;

	if (!g->last_ns) {
		g->last_ns = t_ns;
		g->slot = slot;
		return;
	}
	if (t_ns <= g->last_ns)
		return; /* replies of several connections complete out of order: no gap */
	gap = t_ns - g->last_ns;
	if (slot != g->slot) {
		g->prev_max = slot == g->slot + 1 ? g->cur_max : 0;
		g->cur_max = 0;
		g->slot = slot;
	}
	if (gap > g->cur_max)
		g->cur_max = gap;
	g->last_ns = t_ns;
}

uint64_t reply_gap__max(const struct reply_gap *g, uint64_t now_ns)
{
	uint64_t slot = now_ns / SLOT_NS, m = 0, open;

	if (!g->last_ns)
		return 0;
	if (slot == g->slot)
		m = g->cur_max > g->prev_max ? g->cur_max : g->prev_max;
	else if (slot == g->slot + 1)
		m = g->cur_max;
	open = now_ns > g->last_ns ? now_ns - g->last_ns : 0;
	return open > m ? open : m;
}
