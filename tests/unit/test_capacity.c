// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Capacity trends (alert/capacity.c) on synthetic series: a steady rise predicts the right time
 * to the limit, outliers do not move it, flat and noisy series (many seeds, near the limit too)
 * never predict; the one-point-a-minute ring; the rule
 * capacity_exhaustion_predicted (warning under 4 h, critical under 30 min, quiet otherwise);
 * and the metric nexus_capacity_time_to_limit_seconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "alert/capacity.h"
#include "alert/rules.h"
#include "export/capacity_metrics.h"
#include "export/prom.h"

static struct cap_scratch sc;

static int setup(void **state)
{
	return cap_scratch__init(&sc);
}

static int teardown(void **state)
{
	cap_scratch__free(&sc);
	return 0;
}

/* Deterministic noise: xorshift64*, then Box-Muller for a normal variate. */
static uint64_t rng;

static double uniform(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return ((rng * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static double normal(void)
{
	double u = uniform(), v = uniform();

	return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

/* n points a minute apart ending at now = (n - 1) * 60 */
static void series(double *t, double *v, int n, double start, double per_min, double noise)
{
	for (int i = 0; i < n; i++) {
		t[i] = i * 60.0;
		v[i] = start + per_min * i + noise * normal();
	}
}

static void test_rising(void **state)
{
	double t[CAP_POINTS], v[CAP_POINTS];
	struct cap_fit f;

	/* connections 40 -> 100 (the limit): +0.5 a minute for 60 min, now at 69.5 */
	series(t, v, 60, 40, 0.5, 0);
	cap__fit(t, v, 60, 100, t[59], &sc, &f);
	assert_true(f.rising);
	assert_true(fabs(f.slope - 0.5 / 60) < 1e-12);
	assert_true(fabs(f.ttl_s - (100 - 69.5) / (0.5 / 60)) < 1); /* 61 min */
	/* the same with noise (sd 2) and 10 % of wild outliers: still about an hour */
	rng = 42;
	series(t, v, 120, 40, 0.25, 2);
	for (int i = 0; i < 120; i += 10)
		v[i] = uniform() < 0.5 ? 0 : 99;
	cap__fit(t, v, 120, 100, t[119], &sc, &f);
	assert_true(f.rising);
	assert_true(fabs(f.slope * 60 - 0.25) < 0.05);
	/* the line is at 40 + 0.25 * 119 = 69.75 now: (100 - 69.75) / 0.25 = 121 min */
	assert_true(fabs(f.ttl_s / 60 - 121) < 25);
	/* already past the limit: 0 */
	series(t, v, 30, 95, 0.5, 0);
	cap__fit(t, v, 30, 100, t[29], &sc, &f);
	assert_true(f.rising && f.ttl_s == 0);
	/* no limit (traffic): a trend, never a time */
	series(t, v, 30, 100, 5, 0);
	cap__fit(t, v, 30, 0, t[29], &sc, &f);
	assert_true(f.rising && isinf(f.ttl_s));
}

static void test_too_few_points(void **state)
{
	double t[CAP_POINTS], v[CAP_POINTS];
	struct cap_fit f;

	series(t, v, CAP_MIN_POINTS - 1, 10, 5, 0);
	cap__fit(t, v, CAP_MIN_POINTS - 1, 100, t[CAP_MIN_POINTS - 2], &sc, &f);
	assert_false(f.rising);
	assert_true(isnan(f.slope) && isinf(f.ttl_s));
}

/* Flat and noisy, many seeds, lengths and levels (near the limit too): never a prediction. */
static void test_flat_noisy_never_predicts(void **state)
{
	double t[CAP_POINTS], v[CAP_POINTS];
	int rising = 0, runs = 0;
	const int lengths[] = { 20, 60, 180, 360 };
	const double levels[] = { 10, 50, 85, 97 }, noises[] = { 0.5, 3, 10 };

	for (uint64_t seed = 1; seed <= 60; seed++)
		for (size_t li = 0; li < 4; li++)
			for (size_t lv = 0; lv < 4; lv++)
				for (size_t ni = 0; ni < 3; ni++) {
					struct cap_fit f;
					int n = lengths[li];

					rng = seed * 0x9E3779B97F4A7C15ULL + li * 131 + lv * 7 + ni;
					series(t, v, n, levels[lv], 0, noises[ni]);
					cap__fit(t, v, n, 100, t[n - 1], &sc, &f);
					rising += f.rising;
					runs++;
					if (isfinite(f.ttl_s))
						fail_msg("seed %llu n %d level %g noise %g: predicted %g s "
							 "(slope %g/h, z %g)",
							 (unsigned long long)seed, n, levels[lv],
							 noises[ni], f.ttl_s, f.slope * 3600, f.z);
				}
	assert_int_equal(runs, 2880);
	assert_int_equal(rising, 0);
}

/* Integer connection counts that hop between two values (many ties): no trend. */
static void test_ties(void **state)
{
	double t[CAP_POINTS], v[CAP_POINTS];
	struct cap_fit f;

	rng = 7;
	for (int i = 0; i < CAP_POINTS; i++) {
		t[i] = i * 60.0;
		v[i] = uniform() < 0.5 ? 12 : 13;
	}
	cap__fit(t, v, CAP_POINTS, 20, t[CAP_POINTS - 1], &sc, &f);
	assert_false(f.rising);
	assert_true(isinf(f.ttl_s));
}

/* The ring: one point per minute (the mean of the readings), fitted as each minute ends. */
static void test_observe_ring(void **state)
{
	struct cap_series *s = calloc(1, sizeof(*s));
	struct cap_fit f = { .ttl_s = INFINITY, .slope = NAN };
	const uint64_t sec = 1000000000ULL;
	int fits = 0;

	/* 2 h of readings once a second, rising 1 a minute from 10, limit 200 */
	for (uint64_t k = 1; k <= 7200; k++)
		fits += cap_series__observe(s, &sc, k * sec, 10 + k / 60.0, 200, &f);
	assert_int_equal(fits, 119);
	assert_int_equal(s->n, 119);
	assert_true(f.rising);
	assert_true(fabs(f.slope * 60 - 1) < 1e-6);
	assert_true(f.value == 10 + 7200 / 60.0);
	/* the line at 7200 s is 130: 70 minutes to 200 */
	assert_true(fabs(f.ttl_s - 70 * 60) < 60);
	/* between fits the prediction counts down with the clock */
	{
		double ttl;

		/* steps start at 1 s: 7201 s ends one (a fit), the next 30 readings do not */
		assert_true(cap_series__observe(s, &sc, 7201 * sec, 10 + 7201 / 60.0, 200, &f));
		ttl = f.ttl_s;
		for (uint64_t k = 7202; k <= 7231; k++)
			assert_false(cap_series__observe(s, &sc, k * sec, 10 + k / 60.0, 200, &f));
		assert_true(fabs(f.ttl_s - (ttl - 30)) < 1e-6);
	}
	/* after 8 h the ring holds the last 6 h only */
	for (uint64_t k = 7232; k <= 8 * 3600; k++)
		cap_series__observe(s, &sc, k * sec, 10 + k / 60.0, 100000, &f);
	assert_int_equal(s->n, CAP_POINTS);
	/* readings without a value (a server with no traffic yet) add no point */
	{
		int n = s->n, head = s->head;

		for (uint64_t k = 8 * 3600 + 1; k <= 8 * 3600 + 300; k++)
			cap_series__observe(s, &sc, k * sec, NAN, 100000, &f);
		assert_int_equal(s->n, n);
		assert_int_equal(s->head, (head + 1) % CAP_POINTS); /* the minute in progress */
	}
	free(s);
}

/* --- the rule ---------------------------------------------------------------------------------- */

static const struct rule *rule(void)
{
	const struct rule *all[RULES_MAX];
	int n = rules__all(all, RULES_MAX), i = rules__index("capacity_exhaustion_predicted");

	assert_true(i >= 0 && i < n);
	return all[i];
}

static void judge(struct cap_fit *cap, struct verdict *v, struct rule_text *t)
{
	const struct rule *r = rule();
	struct rule_bounds b = { r->defaults.threshold, r->defaults.clear };
	struct rule_subject s = { .scope = SC_REDIS, .kind = "redis", .server = "127.0.0.1:6379",
				  .database = "", .present = true, .cap = cap };

	*v = (struct verdict){ .clear = true, .value = NAN, .threshold = b.threshold };
	r->eval(&s, &b, v);
	r->advice(&s, &b, v, t);
}

static void test_rule(void **state)
{
	struct cap_fit cap[CAP__COUNT];
	struct rule_text t;
	struct verdict v;

	assert_true(rule()->defaults.threshold == 4 * 3600);
	assert_int_equal(rule()->defaults.severity, SEV_WARNING);
	for (int i = 0; i < CAP__COUNT; i++)
		cap[i] = (struct cap_fit){ .n = 100, .value = 50, .limit = 100, .slope = 0, .z = 0,
					   .ttl_s = INFINITY };
	/* nothing rising: quiet, and clear */
	judge(cap, &v, &t);
	assert_false(v.fire);
	assert_true(v.clear);
	/* memory in 3 h: warning, naming memory */
	cap[CAP_MEMORY] = (struct cap_fit){ .n = 200, .value = 80 << 20, .limit = 100 << 20,
					    .slope = (20 << 20) / 10800.0, .z = 9, .rising = true,
					    .ttl_s = 10800 };
	judge(cap, &v, &t);
	assert_true(v.fire && !v.escalate && v.value == 10800);
	assert_non_null(strstr(t.summary, "memory"));
	/* connections in 20 min: critical, the soonest named */
	cap[CAP_CONNECTIONS].ttl_s = 1200;
	cap[CAP_CONNECTIONS].rising = true;
	judge(cap, &v, &t);
	assert_true(v.fire && v.escalate && v.value == 1200);
	assert_non_null(strstr(t.summary, "connections"));
	/* 4.5 h: not firing, not yet clear (hysteresis up to 5 h) */
	cap[CAP_CONNECTIONS].ttl_s = INFINITY;
	cap[CAP_MEMORY].ttl_s = 4.5 * 3600;
	judge(cap, &v, &t);
	assert_false(v.fire);
	assert_false(v.clear);
	/* traffic has no limit: whatever its trend, no alert */
	cap[CAP_MEMORY].ttl_s = INFINITY;
	cap[CAP_TRAFFIC] = (struct cap_fit){ .n = 100, .value = 5000, .limit = 0, .slope = 1,
					     .rising = true, .ttl_s = 60 };
	judge(cap, &v, &t);
	assert_false(v.fire);
	/* no trends at all (a database, the agent): quiet */
	judge(NULL, &v, &t);
	assert_false(v.fire);
}

static void test_metric(void **state)
{
	struct engine_server_health sv[2] = { 0 };
	struct engine_snapshot s = { .n_servers = 2, .servers = sv };
	char *text = NULL;
	size_t len = 0;
	struct prom p = { .f = open_memstream(&text, &len) };
	struct metric_model m;

	snprintf(sv[0].server, sizeof(sv[0].server), "127.0.0.1:6379");
	snprintf(sv[1].server, sizeof(sv[1].server), "127.0.0.1:5432");
	sv[0].has_cap = true;
	sv[0].cap[CAP_CONNECTIONS] = (struct cap_fit){ .limit = 10000, .ttl_s = INFINITY };
	sv[0].cap[CAP_MEMORY] = (struct cap_fit){ .limit = 1 << 30, .ttl_s = 5400 };
	sv[0].cap[CAP_TRAFFIC] = (struct cap_fit){ .limit = 0, .ttl_s = INFINITY };
	metric_model__init(&m, 0, 0);
	capacity_metrics__fill(&m, &s);
	prom__render_model(&p, &m);
	metric_model__free(&m);
	fclose(p.f);
	assert_non_null(strstr(text, "# TYPE nexus_capacity_time_to_limit_seconds gauge"));
	assert_non_null(strstr(text, "nexus_capacity_time_to_limit_seconds{server=\"127.0.0.1:6379\","
				     "resource=\"connections\"} +Inf"));
	assert_non_null(strstr(text, "nexus_capacity_time_to_limit_seconds{server=\"127.0.0.1:6379\","
				     "resource=\"memory\"} 5400"));
	assert_null(strstr(text, "traffic"));
	assert_null(strstr(text, "5432")); /* no trends known for it */
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rising),
		cmocka_unit_test(test_too_few_points),
		cmocka_unit_test(test_flat_noisy_never_predicts),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_observe_ring),
		cmocka_unit_test(test_rule),
		cmocka_unit_test(test_metric),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
