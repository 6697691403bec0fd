// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rule_state: every transition, `for` / `clear_for` / `keep_resolved` exact at their boundaries,
 * the hysteresis hold zone, pending cancellation, expiry, refiring and the names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "alert/rule_state.h"

#define MS 1000000ULL
#define SEC 1000000000ULL
#define T0 (1000 * SEC) /* any monotonic start */

/* fire / clear / hold-zone shorthands */
#define FIRE true, false
#define CLEAR false, true
#define HOLD false, false

static const struct rule_timing timing = {
	.for_ns = 30 * SEC,
	.clear_for_ns = 10 * SEC,
	.keep_resolved_ns = 300 * SEC,
};

/* Steps s with fire at T0 and keeps firing until it fires; returns the firing time. */
static uint64_t bring_to_firing(struct rule_state *s, const struct rule_timing *t)
{
	rule_state__init(s);
	assert_int_equal(rule_state__step(s, t, FIRE, T0), t->for_ns ? TR_PENDING : TR_FIRING);
	if (t->for_ns)
		assert_int_equal(rule_state__step(s, t, FIRE, T0 + t->for_ns), TR_FIRING);
	assert_int_equal(s->state, ALERT_FIRING);
	return T0 + t->for_ns;
}

static void test_init(void **state)
{
	struct rule_state s;

	memset(&s, 0xab, sizeof(s));
	rule_state__init(&s);
	assert_int_equal(s.state, ALERT_INACTIVE);
	assert_int_equal(s.pending_since_ns, 0);
	assert_int_equal(s.firing_since_ns, 0);
	assert_int_equal(s.clear_since_ns, 0);
	assert_int_equal(s.resolved_at_ns, 0);
}

static void test_inactive_stays(void **state)
{
	struct rule_state s;

	rule_state__init(&s);
	assert_int_equal(rule_state__step(&s, &timing, HOLD, T0), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, T0 + SEC), TR_NONE);
	assert_int_equal(s.state, ALERT_INACTIVE);
}

static void test_for_boundary(void **state)
{
	struct rule_state s;

	rule_state__init(&s);
	assert_int_equal(rule_state__step(&s, &timing, FIRE, T0), TR_PENDING);
	assert_int_equal(s.state, ALERT_PENDING);
	assert_int_equal(s.pending_since_ns, T0);
	/* Every second for 29 s: still pending; 1 ns short of 30 s: still pending. */
	for (int i = 1; i < 30; i++)
		assert_int_equal(rule_state__step(&s, &timing, FIRE, T0 + i * SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, FIRE, T0 + 30 * SEC - 1), TR_NONE);
	assert_int_equal(s.state, ALERT_PENDING);
	/* Exactly 30 s: fires. */
	assert_int_equal(rule_state__step(&s, &timing, FIRE, T0 + 30 * SEC), TR_FIRING);
	assert_int_equal(s.state, ALERT_FIRING);
	assert_int_equal(s.firing_since_ns, T0 + 30 * SEC);
	assert_int_equal(s.pending_since_ns, T0); /* kept: "active since" */
	assert_int_equal(rule_state__step(&s, &timing, FIRE, T0 + 31 * SEC), TR_NONE);
}

static void test_for_zero_fires_same_step(void **state)
{
	struct rule_timing t = timing;
	struct rule_state s;

	t.for_ns = 0;
	rule_state__init(&s);
	assert_int_equal(rule_state__step(&s, &t, FIRE, T0), TR_FIRING);
	assert_int_equal(s.state, ALERT_FIRING);
	assert_int_equal(s.pending_since_ns, T0);
	assert_int_equal(s.firing_since_ns, T0);
}

static void test_pending_cancels(void **state)
{
	struct rule_state s;

	/* Prometheus semantics: fire must hold continuously; the hold zone cancels too. */
	rule_state__init(&s);
	assert_int_equal(rule_state__step(&s, &timing, FIRE, T0), TR_PENDING);
	assert_int_equal(rule_state__step(&s, &timing, FIRE, T0 + 29 * SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, HOLD, T0 + 30 * SEC), TR_CANCELLED);
	assert_int_equal(s.state, ALERT_INACTIVE);
	assert_int_equal(s.pending_since_ns, 0);

	assert_int_equal(rule_state__step(&s, &timing, FIRE, T0 + 31 * SEC), TR_PENDING);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, T0 + 32 * SEC), TR_CANCELLED);
	/* The `for` clock restarts from the new pending. */
	assert_int_equal(rule_state__step(&s, &timing, FIRE, T0 + 40 * SEC), TR_PENDING);
	assert_int_equal(rule_state__step(&s, &timing, FIRE, T0 + 69 * SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, FIRE, T0 + 70 * SEC), TR_FIRING);
}

static void test_clear_for_boundary(void **state)
{
	struct rule_state s;
	uint64_t t = bring_to_firing(&s, &timing);

	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + SEC), TR_NONE);
	assert_int_equal(s.clear_since_ns, t + SEC);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + 11 * SEC - 1), TR_NONE);
	assert_int_equal(s.state, ALERT_FIRING);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + 11 * SEC), TR_RESOLVED);
	assert_int_equal(s.state, ALERT_RESOLVED);
	assert_int_equal(s.resolved_at_ns, t + 11 * SEC);
	assert_int_equal(s.clear_since_ns, 0);
}

static void test_clear_for_zero(void **state)
{
	struct rule_timing tm = timing;
	struct rule_state s;
	uint64_t t;

	tm.clear_for_ns = 0;
	t = bring_to_firing(&s, &tm);
	assert_int_equal(rule_state__step(&s, &tm, HOLD, t + SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &tm, CLEAR, t + 2 * SEC), TR_RESOLVED);
}

static void test_hold_zone(void **state)
{
	struct rule_state s;
	uint64_t t = bring_to_firing(&s, &timing);

	/* Between the thresholds a firing alert stays firing, however long. */
	for (int i = 1; i <= 3600; i++)
		assert_int_equal(rule_state__step(&s, &timing, HOLD, t + i * SEC), TR_NONE);
	assert_int_equal(s.state, ALERT_FIRING);
	t += 3600 * SEC;
	/* Clear for 9 s, back in the hold zone: the clear timer restarts. */
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + 10 * SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, HOLD, t + 11 * SEC), TR_NONE);
	assert_int_equal(s.clear_since_ns, 0);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + 12 * SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + 21 * SEC), TR_NONE);
	/* Fire again also restarts it. */
	assert_int_equal(rule_state__step(&s, &timing, FIRE, t + 22 * SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + 23 * SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + 32 * SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + 33 * SEC), TR_RESOLVED);
	/* Overlapping zones (fire and clear both true): fire wins, it stays firing. */
	bring_to_firing(&s, &timing);
	for (int i = 1; i <= 60; i++)
		assert_int_equal(rule_state__step(&s, &timing, true, true, t + i * SEC), TR_NONE);
	assert_int_equal(s.state, ALERT_FIRING);
}

static void test_resolved_expires(void **state)
{
	struct rule_state s;
	uint64_t t = bring_to_firing(&s, &timing), r;

	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + 11 * SEC), TR_RESOLVED);
	r = t + 11 * SEC;
	/* Listed as resolved for keep_resolved, whatever clear does. */
	assert_int_equal(rule_state__step(&s, &timing, HOLD, r + SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, r + 300 * SEC - 1), TR_NONE);
	assert_int_equal(s.state, ALERT_RESOLVED);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, r + 300 * SEC), TR_EXPIRED);
	assert_int_equal(s.state, ALERT_INACTIVE);
	assert_int_equal(s.resolved_at_ns, 0);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, r + 301 * SEC), TR_NONE);
}

static void test_keep_resolved_zero(void **state)
{
	struct rule_timing tm = timing;
	struct rule_state s;
	uint64_t t;

	tm.keep_resolved_ns = 0;
	tm.clear_for_ns = 0;
	t = bring_to_firing(&s, &tm);
	/* One transition per step: resolved now, expired at the next evaluation. */
	assert_int_equal(rule_state__step(&s, &tm, CLEAR, t + SEC), TR_RESOLVED);
	assert_int_equal(rule_state__step(&s, &tm, CLEAR, t + SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &tm, CLEAR, t + SEC + 1), TR_EXPIRED);
}

static void test_refire(void **state)
{
	struct rule_timing tm = timing;
	struct rule_state s;
	uint64_t t = bring_to_firing(&s, &timing), r;

	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + SEC), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, CLEAR, t + 11 * SEC), TR_RESOLVED);
	r = t + 11 * SEC;
	/* Resolved and fire again: pending, with a fresh `for`. */
	assert_int_equal(rule_state__step(&s, &timing, FIRE, r + 5 * SEC), TR_PENDING);
	assert_int_equal(s.state, ALERT_PENDING);
	assert_int_equal(s.pending_since_ns, r + 5 * SEC);
	assert_int_equal(s.resolved_at_ns, 0);
	assert_int_equal(s.firing_since_ns, 0);
	assert_int_equal(rule_state__step(&s, &timing, FIRE, r + 35 * SEC - 1), TR_NONE);
	assert_int_equal(rule_state__step(&s, &timing, FIRE, r + 35 * SEC), TR_FIRING);
	assert_int_equal(s.firing_since_ns, r + 35 * SEC);

	/* With for 0 the refire goes straight to firing. */
	tm.for_ns = 0;
	tm.clear_for_ns = 0;
	t = bring_to_firing(&s, &tm);
	assert_int_equal(rule_state__step(&s, &tm, CLEAR, t + SEC), TR_RESOLVED);
	assert_int_equal(rule_state__step(&s, &tm, FIRE, t + 2 * SEC), TR_FIRING);
	assert_int_equal(s.firing_since_ns, t + 2 * SEC);
}

static void test_clock_edges(void **state)
{
	struct rule_timing tm = {.for_ns = 5 * SEC, .clear_for_ns = 5 * SEC, .keep_resolved_ns = 0};
	struct rule_state s;

	/* A clock going backwards counts as no time: no early firing. */
	rule_state__init(&s);
	assert_int_equal(rule_state__step(&s, &tm, FIRE, T0), TR_PENDING);
	assert_int_equal(rule_state__step(&s, &tm, FIRE, T0 - 100 * SEC), TR_NONE);
	assert_int_equal(s.state, ALERT_PENDING);
	/* A clock reading of 0 still starts the clear timer. */
	tm.for_ns = 0;
	rule_state__init(&s);
	assert_int_equal(rule_state__step(&s, &tm, FIRE, 0), TR_FIRING);
	assert_int_equal(rule_state__step(&s, &tm, CLEAR, 0), TR_NONE);
	assert_true(s.clear_since_ns != 0);
	assert_int_equal(rule_state__step(&s, &tm, CLEAR, 5 * SEC), TR_NONE); /* 5 s - 1 ns */
	assert_int_equal(rule_state__step(&s, &tm, CLEAR, 5 * SEC + 1), TR_RESOLVED);
}

static void test_names(void **state)
{
	assert_string_equal(alert_transition__str(TR_NONE), "none");
	assert_string_equal(alert_transition__str(TR_PENDING), "pending");
	assert_string_equal(alert_transition__str(TR_CANCELLED), "cancelled");
	assert_string_equal(alert_transition__str(TR_FIRING), "firing");
	assert_string_equal(alert_transition__str(TR_RESOLVED), "resolved");
	assert_string_equal(alert_transition__str(TR_EXPIRED), "expired");
	assert_string_equal(alert_transition__str((enum alert_transition)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_inactive_stays),
		cmocka_unit_test(test_for_boundary),
		cmocka_unit_test(test_for_zero_fires_same_step),
		cmocka_unit_test(test_pending_cancels),
		cmocka_unit_test(test_clear_for_boundary),
		cmocka_unit_test(test_clear_for_zero),
		cmocka_unit_test(test_hold_zone),
		cmocka_unit_test(test_resolved_expires),
		cmocka_unit_test(test_keep_resolved_zero),
		cmocka_unit_test(test_refire),
		cmocka_unit_test(test_clock_edges),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
