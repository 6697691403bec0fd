// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "stats/counter_window.h"

void counter_window__init(struct counter_window *w)
{
	memset(w, 0, sizeof(*w));
}

void counter_window__add(struct counter_window *w, uint64_t now_ns, uint64_t n)
{
	uint64_t slot = now_ns / COUNTER_WINDOW_SLOT_NS;
	uint32_t i;

	if (slot < w->head) /* out of order: count it in the newest slot */
		slot = w->head;
	w->head = slot;
	i = slot % COUNTER_WINDOW_SLOTS;
	if (w->tag[i] != slot + 1) { /* tags are slot + 1 so that 0 means never used */
		w->tag[i] = slot + 1;
		w->n[i] = 0;
	}
	w->n[i] += n;
}

uint64_t counter_window__sum(const struct counter_window *w, uint64_t now_ns)
{
	uint64_t slot = now_ns / COUNTER_WINDOW_SLOT_NS, sum = 0;

	if (slot < w->head)
		slot = w->head;
	for (uint32_t i = 0; i < COUNTER_WINDOW_SLOTS; i++) {
		uint64_t t = w->tag[i];

		if (t && t - 1 + COUNTER_WINDOW_SLOTS > slot)
			sum += w->n[i];
	}
	return sum;
}
