// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * health: each part's endpoints and a point inside, unknown (NaN) parts, the maxima, rounding,
 * the sum of penalties against the score, and the node formula.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>
#include "alert/health.h"

#define MS 0.001

/* A healthy Redis: nothing costs anything. */
static struct health_input healthy(void)
{
	return (struct health_input){
		.p95_s = 1 * MS,
		.p95_baseline_s = 1 * MS,
		.p95_warn_s = 10 * MS,
		.p95_crit_s = 50 * MS,
		.error_ratio = 0,
		.hit_ratio = 0.95,
		.hit_ratio_floor = 0.80,
		.saturation = 0.2,
	};
}

static struct health_input unknown(void)
{
	return (struct health_input){
		.p95_s = NAN,
		.p95_baseline_s = NAN,
		.p95_warn_s = NAN,
		.p95_crit_s = NAN,
		.error_ratio = NAN,
		.hit_ratio = NAN,
		.hit_ratio_floor = NAN,
		.saturation = NAN,
	};
}

static double penalty(const struct health_input *in, enum health_part p)
{
	struct health_result r;

	health__score(in, &r);
	return r.penalty[p];
}

static void assert_near(double got, double want)
{
	if (fabs(got - want) > 1e-9)
		fail_msg("got %.12g, want %.12g", got, want);
}

static void test_healthy_and_maxima(void **state)
{
	struct health_input in = healthy();
	struct health_result r;
	double sum = 0;

	health__score(&in, &r);
	assert_near(r.score, 100);
	for (int i = 0; i < HP__COUNT; i++) {
		assert_near(r.penalty[i], 0);
		sum += r.max_penalty[i];
	}
	assert_near(sum, 100);
	assert_near(r.max_penalty[HP_LATENCY], 30);
	assert_near(r.max_penalty[HP_ERRORS], 25);
	assert_near(r.max_penalty[HP_CACHE], 20);
	assert_near(r.max_penalty[HP_SATURATION], 10);
	assert_near(r.max_penalty[HP_ALERTS], 15);
}

static void test_latency(void **state)
{
	struct health_input in = healthy();

	/* lo = min(1.5 * 1 ms, 10 ms) = 1.5 ms, hi = 50 ms, log-linear between. */
	in.p95_s = 1.5 * MS;
	assert_near(penalty(&in, HP_LATENCY), 0);
	in.p95_s = 3 * MS; /* 30 * ln 2 / ln(33.3) = 5.93 */
	assert_near(penalty(&in, HP_LATENCY), 5.9);
	in.p95_s = 10 * MS; /* 16.23 */
	assert_near(penalty(&in, HP_LATENCY), 16.2);
	in.p95_s = 50 * MS;
	assert_near(penalty(&in, HP_LATENCY), 30);
	in.p95_s = 5000 * MS;
	assert_near(penalty(&in, HP_LATENCY), 30);

	/* Baseline still warming up: from the warning bound, 10 ms -> 0, sqrt(500) ms -> 15. */
	in.p95_baseline_s = NAN;
	in.p95_s = 10 * MS;
	assert_near(penalty(&in, HP_LATENCY), 0);
	in.p95_s = sqrt(10 * 50) * MS;
	assert_near(penalty(&in, HP_LATENCY), 15);
	in.p95_s = 50 * MS;
	assert_near(penalty(&in, HP_LATENCY), 30);

	/* A server that is always slow (baseline 20 ms): the warning bound still starts it. */
	in.p95_baseline_s = 20 * MS;
	in.p95_s = 25 * MS;
	assert_true(penalty(&in, HP_LATENCY) > 0);
	in.p95_s = 9 * MS;
	assert_near(penalty(&in, HP_LATENCY), 0);

	/* No critical bound: full at 10x lo (15 ms with baseline 1 ms, no warning bound). */
	in = healthy();
	in.p95_warn_s = NAN;
	in.p95_crit_s = NAN;
	in.p95_s = 15 * MS;
	assert_near(penalty(&in, HP_LATENCY), 30);
	in.p95_s = sqrt(1.5 * 15) * MS;
	assert_near(penalty(&in, HP_LATENCY), 15);

	/* Only a critical bound: a step at it. */
	in = unknown();
	in.p95_crit_s = 50 * MS;
	in.p95_s = 49 * MS;
	assert_near(penalty(&in, HP_LATENCY), 0);
	in.p95_s = 50 * MS;
	assert_near(penalty(&in, HP_LATENCY), 30);

	/* Unknown p95, or nothing to compare it with: 0. */
	in = healthy();
	in.p95_s = NAN;
	assert_near(penalty(&in, HP_LATENCY), 0);
	in = unknown();
	in.p95_s = 10;
	assert_near(penalty(&in, HP_LATENCY), 0);
}

static void test_errors(void **state)
{
	struct health_input in = healthy();

	in.error_ratio = 0;
	assert_near(penalty(&in, HP_ERRORS), 0);
	in.error_ratio = 0.001; /* 25 * sqrt(0.02) = 3.54 */
	assert_near(penalty(&in, HP_ERRORS), 3.5);
	in.error_ratio = 0.01; /* 25 * sqrt(0.2) = 11.18 */
	assert_near(penalty(&in, HP_ERRORS), 11.2);
	in.error_ratio = 0.05;
	assert_near(penalty(&in, HP_ERRORS), 25);
	in.error_ratio = 1;
	assert_near(penalty(&in, HP_ERRORS), 25);
	in.error_ratio = -0.1;
	assert_near(penalty(&in, HP_ERRORS), 0);
}

static void test_cache(void **state)
{
	struct health_input in = healthy();

	in.hit_ratio = 0.80; /* at the floor */
	assert_near(penalty(&in, HP_CACHE), 0);
	in.hit_ratio = 0.65; /* halfway down the 0.30 span */
	assert_near(penalty(&in, HP_CACHE), 10);
	in.hit_ratio = 0.50;
	assert_near(penalty(&in, HP_CACHE), 20);
	in.hit_ratio = 0;
	assert_near(penalty(&in, HP_CACHE), 20);
	/* Postgres floor 0.95: full at 0.65. */
	in.hit_ratio_floor = 0.95;
	in.hit_ratio = 0.65;
	assert_near(penalty(&in, HP_CACHE), 20);
	in.hit_ratio = 0.99;
	assert_near(penalty(&in, HP_CACHE), 0);
	/* No floor: no judgement. */
	in.hit_ratio_floor = NAN;
	in.hit_ratio = 0.1;
	assert_near(penalty(&in, HP_CACHE), 0);
}

static void test_saturation(void **state)
{
	struct health_input in = healthy();

	in.saturation = 0.7;
	assert_near(penalty(&in, HP_SATURATION), 0);
	in.saturation = 0.85;
	assert_near(penalty(&in, HP_SATURATION), 5);
	in.saturation = 1.0;
	assert_near(penalty(&in, HP_SATURATION), 10);
	in.saturation = 1.5;
	assert_near(penalty(&in, HP_SATURATION), 10);
}

static void test_alerts(void **state)
{
	struct health_input in = healthy();

	in.firing_warning = 1;
	assert_near(penalty(&in, HP_ALERTS), 5);
	in.firing_warning = 2;
	assert_near(penalty(&in, HP_ALERTS), 10);
	in.firing_warning = 7;
	assert_near(penalty(&in, HP_ALERTS), 15);
	in.firing_warning = 0;
	in.firing_critical = 1;
	assert_near(penalty(&in, HP_ALERTS), 15);
	in.firing_critical = 4;
	in.firing_warning = 3;
	assert_near(penalty(&in, HP_ALERTS), 15);
	in.firing_critical = -1;
	in.firing_warning = -1;
	assert_near(penalty(&in, HP_ALERTS), 0);
}

static void test_unknown_parts(void **state)
{
	struct health_input in = unknown();
	struct health_result r;

	health__score(&in, &r);
	assert_near(r.score, 100);
	for (int i = 0; i < HP__COUNT; i++)
		assert_near(r.penalty[i], 0);
}

static void test_sum_and_rounding(void **state)
{
	struct health_input in = healthy();
	struct health_result r;
	double sum = 0;

	/* Everything at its worst: exactly 0, never negative. */
	in.p95_s = 1;
	in.error_ratio = 0.5;
	in.hit_ratio = 0.1;
	in.saturation = 1;
	in.firing_critical = 3;
	health__score(&in, &r);
	assert_near(r.score, 0);

	/* A mix: penalties 5.9 + 11.2 + 10 + 5 + 5, score = 100 - their sum, to 0.1. */
	in = healthy();
	in.p95_s = 3 * MS;
	in.error_ratio = 0.01;
	in.hit_ratio = 0.65;
	in.saturation = 0.85;
	in.firing_warning = 1;
	health__score(&in, &r);
	for (int i = 0; i < HP__COUNT; i++) {
		assert_true(r.penalty[i] >= 0 && r.penalty[i] <= r.max_penalty[i]);
		sum += r.penalty[i];
	}
	assert_near(r.score, 62.9);
	assert_near(r.score, round((100 - sum) * 10) / 10);
	assert_near(r.score * 10, round(r.score * 10));
}

static void test_node(void **state)
{
	const double one[] = {73.4};
	const double ten[] = {100, 100, 100, 100, 100, 100, 100, 100, 100, 0};
	const double mixed[] = {80, 60, NAN};
	const double none[] = {NAN};

	assert_near(health__node(NULL, 0), 100);
	assert_near(health__node(none, 1), 100);
	assert_near(health__node(one, 1), 73.4);
	/* One failing server of ten: 0.6 * 0 + 0.4 * 90. */
	assert_near(health__node(ten, 10), 36);
	/* 0.6 * 60 + 0.4 * 70; the unknown one is skipped. */
	assert_near(health__node(mixed, 3), 64);
}

static void test_names(void **state)
{
	assert_string_equal(health_part__str(HP_LATENCY), "latency");
	assert_string_equal(health_part__str(HP_ERRORS), "errors");
	assert_string_equal(health_part__str(HP_CACHE), "cache");
	assert_string_equal(health_part__str(HP_SATURATION), "saturation");
	assert_string_equal(health_part__str(HP_ALERTS), "alerts");
	assert_string_equal(health_part__str(HP__COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthy_and_maxima),
		cmocka_unit_test(test_latency),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_alerts),
		cmocka_unit_test(test_unknown_parts),
		cmocka_unit_test(test_sum_and_rounding),
		cmocka_unit_test(test_node),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
