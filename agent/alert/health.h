/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A 0-100 health score from the parts an operator would check, each a penalty with its reason,
 * so "why 62" has an answer. The formula is in the README; health.c is its only implementation.
 */
#ifndef NEXUS_HEALTH_H
#define NEXUS_HEALTH_H
#include <stdbool.h>
#include <stdint.h>

enum health_part {
	HP_LATENCY,	/* p95 against its baseline and the absolute bounds */
	HP_ERRORS,	/* error ratio */
	HP_CACHE,	/* hit ratio (Redis keyspace, Postgres shared buffers) */
	HP_SATURATION,	/* connections against the server's limit, lock waits */
	HP_ALERTS,	/* firing alerts by severity */
	HP__COUNT
};

/* What the engine knows about one server at one tick. NaN means "no data": that part costs 0. */
struct health_input {
	double p95_s;		/* latency p95 over the window, seconds */
	double p95_baseline_s;	/* the baseline's centre for it; NaN while warming up */
	double p95_warn_s;	/* absolute bounds (rule thresholds): warning, critical */
	double p95_crit_s;
	double error_ratio;	/* errors / requests over the window, 0..1 */
	double hit_ratio;	/* 0..1 */
	double hit_ratio_floor; /* the hit-ratio rule's threshold (e.g. 0.80 Redis, 0.95 Postgres) */
	double saturation;	/* 0..1: connections / max_connections, or lock-wait share */
	int firing_warning, firing_critical;
};

struct health_result {
	double score;			/* 0..100, rounded to 0.1 */
	double penalty[HP__COUNT];	/* points taken by each part; score = 100 - sum, floored at 0 */
	double max_penalty[HP__COUNT];	/* the most each part can take */
};

const char *health_part__str(enum health_part p); /* "latency", "errors", "cache", "saturation", "alerts" */
void health__score(const struct health_input *in, struct health_result *out);
/* The node's score from its servers': the worst server weighs most (see health.c). */
double health__node(const double *server_scores, int n);

#endif /* NEXUS_HEALTH_H */
