// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "export/otlp_send.h"

enum otlp_verdict otlp_send__verdict(long status)
{
	if (status >= 200 && status < 300)
		return OTLP_DONE;
	switch (status) {
	case 0: /* refused, reset, timed out, or an answer that is not HTTP */
	case 429:
	case 502:
	case 503:
	case 504:
		return OTLP_RETRY;
	}
	return OTLP_PERMANENT;
}

long otlp_send__retry_after(const char *value, time_t now, long max_s)
{
	struct tm tm = {};
	const char *end;
	long s;

	if (!value)
		return -1;
	while (isspace((unsigned char)*value))
		value++;
	if (isdigit((unsigned char)*value)) {
		char *e;

		errno = 0;
		s = strtol(value, &e, 10);
		while (isspace((unsigned char)*e))
			e++;
		if (errno || *e)
			return -1;
		return s > max_s ? max_s : s;
	}
	/* IMF-fixdate, the form RFC 9110 says senders use */
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -1;
	s = (long)(timegm(&tm) - now);
	if (s < 0)
		s = 0;
	return s > max_s ? max_s : s;
}

uint64_t otlp_send__backoff_ns(int attempt, uint64_t initial_ns, uint64_t max_ns, uint32_t rnd)
{
	uint64_t d = initial_ns;

	for (int i = 1; i < attempt && d < max_ns; i++)
		d *= 2;
	if (d > max_ns)
		d = max_ns;
	/* jitter: many agents that failed together do not retry together */
	return d / 2 + (uint64_t)((double)(d - d / 2) * (rnd / 4294967296.0));
}

int otlp_send__gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream z = {};
	uLong bound;
	int rc;

	*out = NULL;
	*out_len = 0;
	/* 15 + 16: a gzip header and trailer around the deflate stream */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, len) + 32;
	*out = malloc(bound);
	if (!*out) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = *out;
	z.avail_out = (uInt)bound;
	rc = deflate(&z, Z_FINISH);
	*out_len = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		*out_len = 0;
		return -ENOMEM;
	}
	return 0;
}

int otlp_queue__init(struct otlp_queue *q, int cap)
{
	memset(q, 0, sizeof(*q));
	q->r = calloc(cap, sizeof(*q->r));
	if (!q->r)
		return -ENOMEM;
	q->cap = cap;
	return 0;
}

void otlp_queue__free(struct otlp_queue *q)
{
	while (q->n)
		otlp_queue__pop(q);
	free(q->r);
	q->r = NULL;
}

struct otlp_req *otlp_queue__head(struct otlp_queue *q)
{
	return q->n ? &q->r[q->head] : NULL;
}

void otlp_queue__pop(struct otlp_queue *q)
{
	if (!q->n)
		return;
	free(q->r[q->head].data);
	memset(&q->r[q->head], 0, sizeof(q->r[q->head]));
	q->head = (q->head + 1) % q->cap;
	q->n--;
}

int otlp_queue__push(struct otlp_queue *q, enum otlp_signal signal, uint8_t *data, size_t len,
		     uint64_t now_ns)
{
	int dropped = -1;
	struct otlp_req *r;

	if (q->n == q->cap) {
		dropped = q->r[q->head].signal;
		otlp_queue__pop(q);
	}
	r = &q->r[(q->head + q->n) % q->cap];
	*r = (struct otlp_req){ .signal = signal, .data = data, .len = len, .first_ns = now_ns,
				.not_before = now_ns };
	q->n++;
	return dropped;
}
