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
	/* Records are 8-byte aligned in the ring buffer; give the parser the same. */
	static uint64_t rec[(sizeof(struct nx_data_event) + NX_CHUNK_BYTES) / 8 + 1];

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	ct = conntrack__new(&o, NULL, (struct conntrack_sink){ .on_record = sink });
	if (!ct)
		return 0;
	while (size >= 2) {
		size_t n = data[0] | (size_t)data[1] << 8;

		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		if (n > sizeof(rec))
			n = sizeof(rec);
		memcpy(rec, data, n);
		/* Keep tgids above pid_max so the fuzzer does not read random processes' /proc. */
		if (n >= sizeof(struct nx_event_hdr))
			((struct nx_event_hdr *)rec)->tgid |= 1U << 23;
		conntrack__record(ct, rec, n);
		data += n;
		size -= n;
	}
	conntrack__free(ct);
	return 0;
}
