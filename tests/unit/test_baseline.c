// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * baseline: warm-up, calibration on noise (scores read as z-scores), spikes, robustness of the
 * centre to outliers and bursts, learning a permanent level shift within a stated bound, the
 * minimum effects, NaN/inf input, constant series and fixed memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>
#include "alert/baseline.h"

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: reproducible across runs */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static double uniform(void)
{
	return ((double)(rng() >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
}

/* Box-Muller: a standard normal sample. */
static double gauss(void)
{
	return sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
}

/* Default config, or with the relative minimum effect off to see the raw z-scores. */
static struct baseline_cfg cfg_default(void)
{
	struct baseline_cfg c;

	baseline_cfg__default(&c);
	return c;
}

static struct baseline_cfg cfg_raw(void)
{
	struct baseline_cfg c = cfg_default();

	c.min_rel_effect = 0;
	return c;
}

/* n samples of mean ± sd noise; returns the largest |score| once warm. */
static double feed_noise(struct baseline *b, const struct baseline_cfg *c, int n, double mean,
			 double sd)
{
	double worst = 0;

	for (int i = 0; i < n; i++) {
		bool warm = baseline__warm(b, c);
		double z = baseline__update(b, c, mean + sd * gauss());

		assert_true(isfinite(z));
		if (warm && fabs(z) > worst)
			worst = fabs(z);
	}
	return worst;
}

static void test_defaults(void **state)
{
	struct baseline_cfg c = cfg_default();

	assert_int_equal(c.warmup, 30);
	assert_true(c.half_life == 300);
	assert_true(c.clip == 3);
	assert_true(c.min_abs_effect == 0);
	assert_true(c.min_rel_effect == 0.5);
}

static void test_warmup(void **state)
{
	struct baseline_cfg c = cfg_raw();
	struct baseline b;

	baseline__init(&b);
	assert_false(baseline__warm(&b, &c));
	/* The first three samples start the baseline at their median: one wild one is ignored. */
	assert_true(baseline__update(&b, &c, 1.0) == 0);
	assert_true(baseline__update(&b, &c, 1000.0) == 0);
	assert_true(baseline__update(&b, &c, 1.1) == 0);
	assert_true(b.centre == 1.1);
	/* Anything goes while warming up: score 0 for the first `warmup` samples, even a 100x. */
	for (uint32_t i = 3; i < c.warmup; i++) {
		double x = i == 20 ? 100.0 : 1.0 + 0.05 * ((int)(i % 5) - 2);

		assert_false(baseline__warm(&b, &c));
		assert_true(baseline__update(&b, &c, x) == 0);
	}
	assert_int_equal(b.n, 30);
	assert_true(baseline__warm(&b, &c));
	/* Sample 31 is the first one judged. The warm-up outlier was clipped, not learned. */
	assert_true(fabs(b.centre - 1.0) < 0.1);
	assert_true(baseline__update(&b, &c, 10.0) > 10);
}

static void test_steady_noise(void **state)
{
	struct baseline_cfg c = cfg_raw();
	struct baseline b;
	double sum2 = 0, worst = 0;
	int over3 = 0, n = 0;

	rng_state = 0x9e3779b97f4a7c15ULL;
	baseline__init(&b);
	feed_noise(&b, &c, 1000, 1.0, 0.05);
	for (int i = 0; i < 20000; i++) {
		double z = baseline__update(&b, &c, 1.0 + 0.05 * gauss());

		sum2 += z * z;
		n++;
		over3 += fabs(z) > 3;
		worst = fmax(worst, fabs(z));
	}
	/* Calibrated like a z-score on Gaussian noise: rms 1, 0.27% beyond 3. */
	assert_true(fabs(sqrt(sum2 / n) - 1.0) < 0.1);
	assert_true(over3 < n / 100);
	assert_true(worst < 5.5);
	assert_true(fabs(b.centre - 1.0) < 0.01);
	assert_true(fabs(b.scale - 0.05) < 0.005);

	/* With the default 50% minimum effect, ±5% noise never scores. */
	c = cfg_default();
	baseline__init(&b);
	assert_true(feed_noise(&b, &c, 5000, 1.0, 0.05) == 0);
}

static void test_spike(void **state)
{
	struct baseline_cfg c = cfg_default(), raw = cfg_raw();
	struct baseline b, copy;

	rng_state = 1;
	baseline__init(&b);
	feed_noise(&b, &c, 2000, 1.0, 0.05);
	/* 10x: the spread is floored at min_rel * centre / 3 = 0.167, so about 9 / 0.167 = 54. */
	copy = b;
	assert_true(baseline__update(&copy, &c, 10.0) > 50);
	copy = b;
	assert_true(baseline__update(&copy, &c, 0.1) < -5);
	/* Without the relative effect the real spread (0.05) judges it: 9 / 0.05 = 180. */
	copy = b;
	assert_true(baseline__update(&copy, &raw, 10.0) > 150);
	/* The score compares with the baseline as it was before the sample. */
	copy = b;
	assert_true(baseline__update(&copy, &c, 10.0) == baseline__update(&b, &c, 10.0));
}

static void test_outlier_barely_moves_centre(void **state)
{
	struct baseline_cfg c = cfg_default();
	struct baseline b;
	double centre, scale;
	double a = 1 - exp2(-1 / c.half_life);

	rng_state = 2;
	baseline__init(&b);
	feed_noise(&b, &c, 2000, 1.0, 0.05);
	centre = b.centre;
	scale = b.scale;
	assert_true(baseline__update(&b, &c, 1e6) == BASELINE_SCORE_MAX);
	/* At most a * clip * floored scale = 0.0023 * 3 * 0.167 = 0.00115. */
	assert_true(b.centre > centre);
	assert_true(b.centre - centre <= a * c.clip * fmax(scale, 0.5 * centre / 3) + 1e-12);
	assert_true(b.scale - scale < 0.002);
	/* Same downwards. */
	centre = b.centre;
	baseline__update(&b, &c, -1e6);
	assert_true(centre - b.centre < 0.0012);
}

static void test_burst_does_not_drag(void **state)
{
	struct baseline_cfg c = cfg_default();
	struct baseline b;

	rng_state = 3;
	baseline__init(&b);
	feed_noise(&b, &c, 2000, 1.0, 0.05);
	/* A one-minute incident at 10x: anomalous all along, then the baseline is nearly intact. */
	for (int i = 0; i < 60; i++)
		assert_true(baseline__update(&b, &c, 10.0) > 25);
	assert_true(fabs(b.centre - 1.0) < 0.1);
	assert_true(b.scale < 0.2);
	for (int i = 0; i < 60; i++)
		baseline__update(&b, &c, 1.0 + 0.05 * gauss());
	assert_true(baseline__update(&b, &c, 10.0) > 30);
}

/*
 * The bounds the engine relies on, at the defaults (half-life 300 samples). A permanent 10x step
 * up stays anomalous for at least the first minute, scores under 3 after 2 half-lives and 0
 * (inside the minimum effect) after 3. Back down it scores under 3 after 1 half-life and 0 after
 * 4: the relative minimum effect is measured against the centre, which has further to fall.
 */
static void test_level_shift_learned(void **state)
{
	struct baseline_cfg c = cfg_default();
	struct baseline b;
	int last = -1;

	rng_state = 4;
	baseline__init(&b);
	feed_noise(&b, &c, 2000, 1.0, 0.05);
	for (int i = 0; i < 3000; i++) {
		double z = baseline__update(&b, &c, 10.0 + 0.5 * gauss());

		if (i < 60)
			assert_true(z > 10);
		if (i >= 2 * 300)
			assert_true(z < 3);
		if (z != 0)
			last = i;
	}
	assert_true(last >= 60);
	assert_true(last < 3 * 300);
	assert_true(fabs(b.centre - 10.0) < 0.5);

	/* And back down. */
	last = -1;
	for (int i = 0; i < 3000; i++) {
		double z = baseline__update(&b, &c, 1.0 + 0.05 * gauss());

		if (i < 60)
			assert_true(z < -3);
		if (i >= 300)
			assert_true(z > -3);
		if (z != 0)
			last = i;
	}
	assert_true(last >= 300);
	assert_true(last < 4 * 300);
	assert_true(fabs(b.centre - 1.0) < 0.1);
}

static void test_min_effects(void **state)
{
	struct baseline_cfg c = cfg_default();
	struct baseline b, copy;

	/* p95 of 40 us doubling to 80 us is not an anomaly when min_abs_effect is 0.5 ms. */
	c.min_abs_effect = 0.0005;
	rng_state = 5;
	baseline__init(&b);
	feed_noise(&b, &c, 1000, 40e-6, 2e-6);
	copy = b;
	assert_true(baseline__update(&copy, &c, 80e-6) == 0);
	copy = b;
	assert_true(baseline__update(&copy, &c, 400e-6) == 0); /* 10x, still under 0.5 ms */
	/* Past it, the floored spread (0.5 ms / 3) makes it a modest score: 0.6 ms / 0.167 ms. */
	copy = b;
	double z = baseline__update(&copy, &c, b.centre + 0.0006);
	assert_true(fabs(z - 3.6) < 1e-6);

	/* Relative: a constant 1.0 moving to 1.49 is under 50%; 1.5 is exactly at it: score 3. */
	c = cfg_default();
	baseline__init(&b);
	for (int i = 0; i < 100; i++)
		baseline__update(&b, &c, 1.0);
	copy = b;
	assert_true(baseline__update(&copy, &c, 1.49) == 0);
	copy = b;
	assert_true(baseline__update(&copy, &c, 0.51) == 0);
	copy = b;
	assert_true(fabs(baseline__update(&copy, &c, 1.5) - 3.0) < 1e-9);
	copy = b;
	assert_true(fabs(baseline__update(&copy, &c, 0.5) + 3.0) < 1e-9);
}

static void test_nan_ignored(void **state)
{
	struct baseline_cfg c = cfg_default();
	struct baseline b, before;

	rng_state = 6;
	baseline__init(&b);
	feed_noise(&b, &c, 100, 2.0, 0.1);
	before = b;
	assert_true(baseline__update(&b, &c, NAN) == 0);
	assert_true(baseline__update(&b, &c, INFINITY) == 0);
	assert_true(baseline__update(&b, &c, -INFINITY) == 0);
	assert_memory_equal(&b, &before, sizeof(b));
	/* Also at the very start. */
	baseline__init(&b);
	assert_true(baseline__update(&b, &c, NAN) == 0);
	assert_int_equal(b.n, 0);
}

static void test_constant_series(void **state)
{
	struct baseline_cfg c = cfg_default();
	struct baseline b, copy;
	int last = -1;

	baseline__init(&b);
	for (int i = 0; i < 1000; i++)
		assert_true(baseline__update(&b, &c, 5.0) == 0);
	assert_true(b.centre == 5.0);
	assert_true(b.scale == 0);
	/* The spread is floored at 0.5 * 5 / 3: finite scores. */
	copy = b;
	assert_true(fabs(baseline__update(&copy, &c, 100.0) - 95.0 / (2.5 / 3)) < 1e-9);

	/* A series stuck at 0 has no spread and no minimum effect: capped, never inf or NaN. */
	baseline__init(&b);
	for (int i = 0; i < 1000; i++)
		assert_true(baseline__update(&b, &c, 0.0) == 0);
	copy = b;
	assert_true(baseline__update(&copy, &c, 1e-9) == BASELINE_SCORE_MAX);
	copy = b;
	assert_true(baseline__update(&copy, &c, -3.0) == -BASELINE_SCORE_MAX);
	/* ... and even it learns a permanent move to 5 within 3 half-lives. */
	for (int i = 0; i < 3000; i++) {
		double z = baseline__update(&b, &c, 5.0);

		assert_true(isfinite(z));
		if (z != 0)
			last = i;
	}
	assert_true(last > 0);
	assert_true(last < 3 * 300);
	assert_true(fabs(b.centre - 5.0) < 0.05);
}

static void test_fixed_memory(void **state)
{
	struct baseline_cfg c = cfg_default();
	struct baseline b;

	/* n, centre, scale and four doubles of state: nothing grows with uptime. */
	assert_int_equal(sizeof(struct baseline), sizeof(uint64_t) + 6 * sizeof(double));
	rng_state = 7;
	baseline__init(&b);
	feed_noise(&b, &c, 100000, 3.0, 0.3);
	assert_int_equal(b.n, 100000);
	assert_true(fabs(b.centre - 3.0) < 0.03);
	assert_true(fabs(b.scale - 0.3) < 0.03);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_warmup),
		cmocka_unit_test(test_steady_noise),
		cmocka_unit_test(test_spike),
		cmocka_unit_test(test_outlier_barely_moves_centre),
		cmocka_unit_test(test_burst_does_not_drag),
		cmocka_unit_test(test_level_shift_learned),
		cmocka_unit_test(test_min_effects),
		cmocka_unit_test(test_nan_ignored),
		cmocka_unit_test(test_constant_series),
		cmocka_unit_test(test_fixed_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
