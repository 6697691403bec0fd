// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include "export/healthz.h"
#include "util.h"

static uint64_t monotonic_now(void)
{
	return nx_now_ns();
}

void healthz__init(struct healthz *h)
{
	*h = (struct healthz){ .stale_ns = HEALTHZ_STALE_NS, .now = monotonic_now };
}

void healthz__beat(struct healthz *h, uint64_t now_ns)
{
	__atomic_store_n(&h->last_beat_ns, now_ns, __ATOMIC_RELEASE);
}

void healthz__set_ready(struct healthz *h)
{
	__atomic_store_n(&h->ready, true, __ATOMIC_RELEASE);
}

/* Seconds since the last beat, or -1 when there has been none. */
static double beat_age(const struct healthz *h)
{
	uint64_t last = __atomic_load_n(&h->last_beat_ns, __ATOMIC_ACQUIRE);
	uint64_t now = h->now();

	if (!last)
		return -1;
	return now > last ? (double)(now - last) / 1e9 : 0;
}

static bool alive(const struct healthz *h, double age)
{
	return age >= 0 && age * 1e9 <= (double)h->stale_ns;
}

int healthz__live(void *ctx, const struct http_request *req, struct http_response *resp)
{
	const struct healthz *h = ctx;
	double age = beat_age(h);

	resp->content_type = "text/plain; charset=utf-8";
	if (alive(h, age)) {
		fprintf(resp->body, "ok: capture loop ticked %.1f s ago\n", age);
		return 200;
	}
	if (age < 0)
		fprintf(resp->body, "not alive: the capture loop has not started\n");
	else
		fprintf(resp->body, "stalled: capture loop last ticked %.1f s ago (limit %.0f s)\n",
			age, (double)h->stale_ns / 1e9);
	return 503;
}

int healthz__ready(void *ctx, const struct http_request *req, struct http_response *resp)
{
	const struct healthz *h = ctx;
	double age = beat_age(h);

	resp->content_type = "text/plain; charset=utf-8";
	if (!__atomic_load_n(&h->ready, __ATOMIC_ACQUIRE)) {
		fprintf(resp->body, "not ready: attaching probes\n");
		return 503;
	}
	/* Ready but stalled is not ready: a load balancer should stop sending scrapes there too. */
	if (!alive(h, age)) {
		fprintf(resp->body, "not ready: capture loop last ticked %.1f s ago\n", age);
		return 503;
	}
	fprintf(resp->body, "ready: probes attached, snapshots published\n");
	return 200;
}
