// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: arbitrary bytes as a stream of ring-buffer records (2-byte length, then the
 * record) into conntrack, whose output goes through trace's JSON and text formatting. Whatever the
 * kernel side (or a newer one with other layouts) hands over, the agent must count and go on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "capture/conntrack.h"
#include "cli/trace_fmt.h"
#include "fuzz_records.h"

static FILE *devnull;

static void sink(void *ctx, const struct nx_record *r)
{
	trace_fmt__json(devnull, r);
	trace_fmt__text(devnull, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conntrack_opts o = { .max_conns = 8, .max_procs = 4 };
	struct conntrack *ct;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	ct = conntrack__new(&o, NULL, (struct conntrack_sink){ .on_record = sink });
	if (!ct)
		return 0;
	fuzz_feed_records(ct, data, size);
	conntrack__free(ct);
	return 0;
}
