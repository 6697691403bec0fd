/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Delivery of encoded OTLP requests: the retry policy of the OTLP/HTTP specification (retry 429,
 * 502, 503, 504 and transport failures with exponential backoff and jitter, never sooner than a
 * Retry-After in seconds or as an HTTP-date; never retry other statuses such as 400), gzip, and
 * a bounded FIFO of requests waiting that drops its oldest when full. The policy parts are pure
 * functions so tests can check them without a network; otlp.c runs the queue on its thread.
 */
#ifndef NEXUS_OTLP_SEND_H
#define NEXUS_OTLP_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum otlp_signal { OTLP_METRICS, OTLP_LOGS, OTLP__SIGNALS };

enum otlp_verdict {
	OTLP_DONE,	/* 2xx: delivered */
	OTLP_RETRY,	/* 429, 502, 503, 504, or no answer (refused, timeout, not HTTP) */
	OTLP_PERMANENT, /* anything else (400: the collector will never take it): dropped */
};

/* What to do after an HTTP status (0: no response at all). */
enum otlp_verdict otlp_send__verdict(long status);
/* Seconds a Retry-After header value asks for ("120", or "Wed, 21 Oct 2026 07:28:00 GMT"
 * relative to now), capped at max_s; -1 when absent or unparsable. */
long otlp_send__retry_after(const char *value, time_t now, long max_s);
/* Delay before retry number attempt (1, 2, ...): initial * 2^(attempt-1) capped at max, then a
 * jitter draws it from [d/2, d] (rnd is any 32-bit random number). */
uint64_t otlp_send__backoff_ns(int attempt, uint64_t initial_ns, uint64_t max_ns, uint32_t rnd);
/* gzip (RFC 1952) of in; 0 or -ENOMEM. out is malloc'ed. */
int otlp_send__gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

/* One encoded request waiting. */
struct otlp_req {
	enum otlp_signal signal;
	uint8_t *data;
	size_t len;
	int attempts;	      /* failed attempts so far */
	uint64_t first_ns;    /* when it was queued (CLOCK_MONOTONIC) */
	uint64_t not_before;  /* no attempt before this (backoff) */
};

struct otlp_queue {
	struct otlp_req *r;
	int cap, head, n;
};

int otlp_queue__init(struct otlp_queue *q, int cap);
void otlp_queue__free(struct otlp_queue *q);
/* Takes ownership of data. When full the oldest request is dropped (freed): returns its signal
 * so the caller counts it, or -1 when nothing was dropped. */
int otlp_queue__push(struct otlp_queue *q, enum otlp_signal signal, uint8_t *data, size_t len,
		     uint64_t now_ns);
struct otlp_req *otlp_queue__head(struct otlp_queue *q); /* NULL when empty */
void otlp_queue__pop(struct otlp_queue *q);		  /* frees the head */

#endif /* NEXUS_OTLP_SEND_H */
