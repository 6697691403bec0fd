/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Capacity trends of one server: its connections against its limit, its memory (resident set)
 * against Redis maxmemory, and its traffic. One point per CAP_STEP_NS (the mean of the readings
 * in that step) in a ring of CAP_POINTS (6 h at a minute), so memory is fixed per server.
 *
 * The trend is Theil-Sen (the median of the slopes between every pair of points: it holds with up
 * to about 29 % of the points wild) and it counts as a rise only when the Mann-Kendall statistic
 * of the same points says the order is not chance (z >= CAP_MIN_Z, a one-sided p of about 3e-5)
 * and the rise over the points is at least CAP_MIN_RISE of the limit: a flat or noisy series
 * predicts nothing. Time to the limit is where the Theil-Sen line crosses it.
 */
#ifndef NEXUS_CAPACITY_H
#define NEXUS_CAPACITY_H
#include <stdbool.h>
#include <stdint.h>

enum cap_resource { CAP_CONNECTIONS, CAP_MEMORY, CAP_TRAFFIC, CAP__COUNT };

#define CAP_POINTS	360			 /* 6 h of points ... */
#define CAP_STEP_NS	(60 * 1000000000ULL)	 /* ... one a minute */
#define CAP_MIN_POINTS	20			 /* no trend from fewer */
#define CAP_MIN_Z	4.0
#define CAP_MIN_RISE	0.02	/* of the limit, over the points fitted */

/* One resource's series. */
struct cap_series {
	int head, n;
	double t[CAP_POINTS]; /* seconds (CLOCK_MONOTONIC) of each point */
	double v[CAP_POINTS];
	/* the step being filled */
	uint64_t step_start_ns;
	double acc, limit;
	int acc_n;
};

/* What the points say. */
struct cap_fit {
	int n;		    /* points fitted */
	double value;	    /* the latest reading */
	double limit;	    /* 0: none known (traffic; memory without maxmemory) */
	double slope;	    /* Theil-Sen, per second; NAN with fewer than CAP_MIN_POINTS */
	double z;	    /* Mann-Kendall z of the points; NAN likewise */
	bool rising;	    /* a significant rise (see above) */
	double ttl_s;	    /* seconds until the line reaches the limit; INFINITY: no prediction */
	double fitted_at;   /* when it was fitted (s); ttl_s counts down from there between fits */
	double ttl_at_fit;
};

struct cap_server {
	struct cap_series s[CAP__COUNT];
	struct cap_fit fit[CAP__COUNT]; /* as of the last completed step */
};

/* Work space for fits (the pairwise slopes of CAP_POINTS points); one per engine. */
struct cap_scratch {
	double *pairs;
};
int cap_scratch__init(struct cap_scratch *sc);
void cap_scratch__free(struct cap_scratch *sc);

void cap_server__reset(struct cap_server *c);
/*
 * A reading at now_ns of resource r with its limit (0: none). value NAN is skipped. When a step
 * completes its mean becomes a point and the resource is fitted again (true returned).
 */
bool cap_series__observe(struct cap_series *s, struct cap_scratch *sc, uint64_t now_ns,
			 double value, double limit, struct cap_fit *fit);
/* Fits n points (t, v) against limit at time now (seconds). Pure; for tests and the above. */
void cap__fit(const double *t, const double *v, int n, double limit, double now,
	      struct cap_scratch *sc, struct cap_fit *out);

const char *cap_resource__str(enum cap_resource r); /* "connections", "memory", "traffic" */

#endif /* NEXUS_CAPACITY_H */
