// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for record --redact (capture/redact.h). The input's first byte picks the
 * protocol (bit 0: Redis or PostgreSQL) and the rest drives two things:
 *  1. Arbitrary bytes as a script of chunks (a header byte: bit 0 direction, bits 1-7 a gap in
 *     units of 97 bytes after the chunk; a length byte; the chunk): the redactor must not crash,
 *     and every output byte is its input byte or the mask (lengths are kept by construction).
 *  2. A fixed conversation with planted secrets (values, AUTH and HELLO AUTH passwords, CONFIG
 *     SET values; PostgreSQL password and SASL messages), each message one syscall cut into
 *     chunks at input-chosen sizes, some chunks lost (a gap the next offset or the syscall's
 *     length shows, as the kernel's records do): no captured byte of a planted secret survives,
 *     and without losses the RESP parser reads the same records from the masked bytes.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "capture/redact.h"
#include "proto/resp.h"

struct msg {
	bool in;
	const char *data;
	size_t len;
	const char *secret; /* planted in data; NULL: none */
};

#define S1 "SECRETVALUE1"
#define S2 "SECRETPASS22"
static const struct msg redis_conv[] = {
	{ true, "*3\r\n$3\r\nSET\r\n$6\r\nuser:1\r\n$12\r\n" S1 "\r\n", 0, S1 },
	{ false, "+OK\r\n", 0, NULL },
	{ true, "*2\r\n$4\r\nAUTH\r\n$12\r\n" S2 "\r\n", 0, S2 },
	{ false, "-WRONGPASS invalid " S2 "\r\n", 0, S2 },
	{ true, "*2\r\n$3\r\nGET\r\n$6\r\nuser:1\r\n", 0, NULL },
	{ false, "$12\r\n" S1 "\r\n", 0, S1 },
	{ true, "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$12\r\n" S2 "\r\n",
	  0, S2 },
	{ false, "%1\r\n$6\r\nserver\r\n$12\r\n" S1 "\r\n", 0, S1 },
	{ true, "*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n$12\r\n" S2 "\r\n", 0, S2 },
	{ false, "+OK\r\n", 0, NULL },
	{ true, "*3\r\n$5\r\nLPUSH\r\n$3\r\nl:1\r\n$12\r\n" S1 "\r\n", 0, S1 },
	{ false, ":1\r\n", 0, NULL },
	{ true, "*4\r\n$6\r\nLRANGE\r\n$3\r\nl:1\r\n$1\r\n0\r\n$2\r\n-1\r\n", 0, NULL },
	{ false, "*1\r\n$12\r\n" S1 "\r\n", 0, S1 },
};

static const struct msg pg_conv[] = {
	{ true, "\0\0\0\x11\0\3\0\0user\0bob\0\0", 17, NULL },
	{ false, "R\0\0\0\x0c\0\0\0\x05salt", 13, NULL },
	{ true, "p\0\0\0\x11SECRETPASS22\0", 18, S2 },
	{ true, "p\0\0\0\x26SCRAM-SHA-256\0\0\0\0\x10n,,n=,r=" "SECRETPASS22", 39, S2 },
	{ true, "p\0\0\0\x10SECRETPASS22", 17, S2 },
	{ true, "Q\0\0\0\x0dselect 1\0", 14, NULL },
};

static size_t len_of(const struct msg *m)
{
	return m->len ? m->len : strlen(m->data);
}

static void count(void *ctx, const struct resp_record *r)
{
	char *out = ctx;
	size_t n = strlen(out);

	snprintf(out + n, 2048 - n, "%s/%d/%s/%s|", r->command, r->status, r->error,
		 r->n_keys ? r->keys[0].prefix : "-");
}

static void script(bool redis, const uint8_t *data, size_t size)
{
	struct redact_conn *c = redact_conn__new(redis ? REDACT_REDIS : REDACT_POSTGRES, true, NULL);
	uint8_t buf[256];
	uint64_t ts = 0;

	if (!c)
		return;
	while (size >= 2) {
		uint8_t hdr = data[0];
		size_t n = data[1];

		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		memcpy(buf, data, n);
		redact_conn__chunk(c, hdr & 1, buf, 0, (uint32_t)n, (uint32_t)(n + (hdr >> 1) * 97),
				   false, ++ts);
		for (size_t i = 0; i < n; i++)
			assert(buf[i] == data[i] || buf[i] == REDACT_MASK);
		data += n;
		size -= n;
	}
	redact_conn__free(c);
}

static void planted(bool redis, const uint8_t *data, size_t size)
{
	const struct msg *conv = redis ? redis_conv : pg_conv;
	int n = redis ? (int)(sizeof(redis_conv) / sizeof(redis_conv[0]))
		      : (int)(sizeof(pg_conv) / sizeof(pg_conv[0]));
	struct redact_conn *c = redact_conn__new(redis ? REDACT_REDIS : REDACT_POSTGRES, true, NULL);
	struct resp_opts o = { .delimiter = ':', .depth = 1 };
	struct resp_stats sa = {}, sb = {};
	struct resp_conn *pa = resp_conn__new(&o, &sa), *pb = resp_conn__new(&o, &sb);
	static char ra[2048], rb[2048];
	bool lost = false;
	uint64_t ts = 0;

	ra[0] = rb[0] = '\0';
	assert(c && pa && pb);
	for (int m = 0; m < n; m++) {
		size_t len = len_of(&conv[m]), pos = 0, k = 0;
		struct { uint32_t off, n; bool drop; } ch[64];
		int last = -1;
		uint8_t out[128];

		ts++;
		/* cut the message into chunks; a chunk may be lost (never all of them: a record
		 * lost whole in the ring is the one loss no stream shows) */
		while (pos < len && k < 64) {
			uint8_t b = size ? *data++ : 0xff;

			if (size)
				size--;
			ch[k].off = (uint32_t)pos;
			ch[k].n = (uint32_t)((b & 0x3f) + 1);
			if (ch[k].n > len - pos || k == 63)
				ch[k].n = (uint32_t)(len - pos);
			ch[k].drop = (b & 0xc0) == 0xc0;
			pos += ch[k].n;
			k++;
		}
		for (size_t i = 0; i < k; i++)
			if (!ch[i].drop)
				last = (int)i;
		if (last < 0)
			ch[last = (int)k - 1].drop = false;
		memcpy(out, conv[m].data, len);
		for (int i = 0; i <= last; i++) {
			if (ch[i].drop) {
				lost = true;
				continue;
			}
			redact_conn__chunk(c, conv[m].in, out + ch[i].off, ch[i].off, ch[i].n,
					   (uint32_t)len, i != last, ts);
		}
		if ((size_t)last != k - 1)
			lost = true;
		/* no captured byte of a planted secret survives */
		if (conv[m].secret) {
			size_t sl = strlen(conv[m].secret);

			for (size_t at = 0; at + sl <= len; at++) {
				if (memcmp(conv[m].data + at, conv[m].secret, sl))
					continue;
				for (int i = 0; i <= last; i++) {
					if (ch[i].drop)
						continue;
					for (uint32_t j = ch[i].off; j < ch[i].off + ch[i].n; j++)
						assert(j < at || j >= at + sl || out[j] == REDACT_MASK);
				}
			}
		}
		if (redis && !lost) {
			resp_conn__feed(pa, conv[m].in, (const uint8_t *)conv[m].data, (uint32_t)len,
					(uint32_t)len, ts, count, ra);
			resp_conn__feed(pb, conv[m].in, out, (uint32_t)len, (uint32_t)len, ts, count,
					rb);
		}
	}
	if (redis && !lost) {
		/* replay of the redacted conversation == replay of the original */
		assert(sa.commands == sb.commands && sa.commands > 0);
		assert(!strcmp(ra, rb));
	}
	resp_conn__free(pa);
	resp_conn__free(pb);
	redact_conn__free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool redis;

	if (!size)
		return 0;
	redis = !(data[0] & 1);
	planted(redis, data + 1, size - 1);
	script(redis, data + 1, size - 1);
	return 0;
}
