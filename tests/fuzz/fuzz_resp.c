// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the RESP parser: the input is a script of chunks, each a header byte
 * (bit 0: direction; bits 1-7: a gap, in units of 97 bytes, after the chunk) and a length byte,
 * then the chunk. Any bytes, any split, any gaps: the parser must count and go on, and every
 * record it emits must be well formed.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>
#include "proto/resp.h"

static void check_record(void *ctx, const struct resp_record *r)
{
	/* Labels are bounded, terminated, and made of printable characters only. */
	assert(memchr(r->command, '\0', sizeof(r->command)));
	assert(memchr(r->error, '\0', sizeof(r->error)));
	assert(r->n_keys <= RESP_MAX_KEYS);
	for (int i = 0; i < r->n_keys; i++)
		for (const char *p = r->keys[i].prefix; *p; p++)
			assert(*p >= 0x20 && *p < 0x7f);
	for (const char *p = r->command; *p; p++)
		assert(*p >= 0x20 && *p < 0x7f); /* "config get" has a space */
	(*(uint64_t *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct resp_opts o = { .delimiter = ':', .depth = 1 };
	struct resp_stats st = {};
	struct resp_conn *c = resp_conn__new(&o, &st);
	uint64_t emitted = 0, ts = 0;

	if (!c)
		return 0;
	if (size && data[0] == 'F') /* exercise full keys too */
		o.full_keys = true;
	while (size >= 2) {
		uint8_t hdr = data[0];
		size_t n = data[1];

		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		resp_conn__feed(c, hdr & 1, data, (uint32_t)n, (uint32_t)(n + (hdr >> 1) * 97), ++ts,
				check_record, &emitted);
		data += n;
		size -= n;
	}
	resp_conn__free(c);
	assert(emitted == st.commands);
	return 0;
}
