/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * GET /healthz and GET /readyz, for kubelet probes and load balancers. The capture thread beats
 * (every tick, at least once a second) and says when it is ready (probes attached, first snapshot
 * published); the HTTP thread only reads. Liveness is about the capture loop, not the HTTP server:
 * a loop stuck in a syscall or a lock stops beating while HTTP still answers, and a restart is
 * what fixes it.
 */
#ifndef NEXUS_HEALTHZ_H
#define NEXUS_HEALTHZ_H

#include <stdbool.h>
#include <stdint.h>
#include "export/http.h"

/* The capture loop ticks at least once a second (run.c); ten missed ticks is a stall, not load. */
#define HEALTHZ_STALE_NS (10 * 1000000000ULL)

struct healthz {
	uint64_t last_beat_ns;	/* CLOCK_MONOTONIC of the last tick; 0: never (atomic) */
	bool ready;		/* (atomic) */
	uint64_t stale_ns;	/* a beat older than this is a stall */
	uint64_t (*now)(void);	/* the clock; tests replace it */
};

void healthz__init(struct healthz *h);
/* The capture thread, once per tick. */
void healthz__beat(struct healthz *h, uint64_t now_ns);
/* Once: probes are attached and the first snapshot is published. */
void healthz__set_ready(struct healthz *h);

/* 200 "ok ..." while the loop beat within stale_ns, else 503 saying how long ago. ctx: healthz. */
int healthz__live(void *ctx, const struct http_request *req, struct http_response *resp);
/* 200 "ready ..." once ready (and still alive), else 503. ctx: healthz. */
int healthz__ready(void *ctx, const struct http_request *req, struct http_response *resp);

#endif /* NEXUS_HEALTHZ_H */
