/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A counter over the last minute: COUNTER_WINDOW_SLOTS slots of 10 s, each tagged with the slot
 * number it holds, so a slot is cleared when reused and stale ones are skipped: no loop over the
 * elapsed time, whatever the jump. Same window as hist_window.
 */
#ifndef NEXUS_COUNTER_WINDOW_H
#define NEXUS_COUNTER_WINDOW_H

#include <stdint.h>
#include "stats/hist.h"

#define COUNTER_WINDOW_SLOTS HIST_WINDOW_SLOTS
#define COUNTER_WINDOW_SLOT_NS HIST_WINDOW_SLOT_NS
#define COUNTER_WINDOW_NS (COUNTER_WINDOW_SLOTS * COUNTER_WINDOW_SLOT_NS)

struct counter_window {
	uint64_t head;
	uint64_t tag[COUNTER_WINDOW_SLOTS];
	uint64_t n[COUNTER_WINDOW_SLOTS];
};

void counter_window__init(struct counter_window *w);
void counter_window__add(struct counter_window *w, uint64_t now_ns, uint64_t n);
/* Sum of the slots within the window as of now_ns. */
uint64_t counter_window__sum(const struct counter_window *w, uint64_t now_ns);

#endif /* NEXUS_COUNTER_WINDOW_H */
