// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Custom threshold rules (agent/alert/custom_rules.c) on fixed exposition text: which samples a
 * rule sums (metric name exact, every matcher held, escapes in label values, comments and
 * longer names skipped), rates between ticks and after a reset, operators with hysteresis, and
 * the words and labels of its alert.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "alert/custom_rules.h"

#define SEC 1000000000ULL

static const char text1[] =
	"# HELP nexus_redis_commands_total commands\n"
	"# TYPE nexus_redis_commands_total counter\n"
	"nexus_redis_commands_total{server=\"a:1\",command=\"get\",status=\"ok\"} 100\n"
	"nexus_redis_commands_total{server=\"a:1\",command=\"get\",status=\"ERR\"} 7\n"
	"nexus_redis_commands_total{server=\"b:2\",command=\"set\",status=\"ERR\"} 5\n"
	"nexus_redis_commands_total_extra{server=\"a:1\",status=\"ERR\"} 1000\n"
	"nexus_redis_key_prefix_hits_total{server=\"a:1\",prefix=\"q\\\"x\\\\y\"} 3\n"
	"nexus_agent_targets 4\n";

static void rule(struct acfg_custom *c, const char *metric, enum acfg_op op, double thr,
		 double clr)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "r");
	snprintf(c->metric, sizeof(c->metric), "%s", metric);
	c->op = op;
	c->threshold = thr;
	c->clear = clr;
	c->line = 7;
}

static void match(struct acfg_custom *c, const char *name, const char *value)
{
	snprintf(c->match[c->n_match].name, sizeof(c->match[0].name), "%s", name);
	snprintf(c->match[c->n_match].value, sizeof(c->match[0].value), "%s", value);
	c->n_match++;
}

static double value_of(const struct acfg_custom *c, const char *text)
{
	struct custom_state st = { 0 };
	struct verdict v;

	custom_rules__eval(c, &st, text, SEC, &v);
	return v.value;
}

static void test_sum(void **state)
{
	struct acfg_custom c;

	rule(&c, "nexus_redis_commands_total", OP_GT, 10, 10);
	assert_true(value_of(&c, text1) == 112); /* not the _extra series */
	match(&c, "status", "ERR");
	assert_true(value_of(&c, text1) == 12);
	match(&c, "server", "a:1");
	assert_true(value_of(&c, text1) == 7);
	rule(&c, "nexus_redis_key_prefix_hits_total", OP_GT, 10, 10);
	match(&c, "prefix", "q\"x\\y"); /* the escapes of the text format */
	assert_true(value_of(&c, text1) == 3);
	rule(&c, "nexus_agent_targets", OP_GE, 10, 8); /* no labels at all */
	assert_true(value_of(&c, text1) == 4);
	match(&c, "server", "a:1"); /* a matcher no sample holds */
	assert_true(isnan(value_of(&c, text1)));
	rule(&c, "nexus_nothing", OP_GT, 1, 1);
	assert_true(isnan(value_of(&c, text1)));
	assert_true(isnan(value_of(&c, "")));
}

static void test_rate(void **state)
{
	struct acfg_custom c;
	struct custom_state st = { 0 };
	struct verdict v;

	rule(&c, "m", OP_GT, 50, 40);
	c.rate = true;
	custom_rules__eval(&c, &st, "m 100\n", 10 * SEC, &v);
	assert_true(isnan(v.value)); /* no rate from one reading */
	assert_false(v.fire);
	assert_true(v.clear);
	custom_rules__eval(&c, &st, "m 220\n", 12 * SEC, &v);
	assert_true(v.value == 60);
	assert_true(v.fire);
	assert_false(v.clear);
	custom_rules__eval(&c, &st, "m 310\n", 14 * SEC, &v);
	assert_true(v.value == 45); /* between clear and threshold: holds */
	assert_false(v.fire);
	assert_false(v.clear);
	custom_rules__eval(&c, &st, "m 5\n", 15 * SEC, &v);
	assert_true(isnan(v.value)); /* the counter went back: no rate */
	custom_rules__eval(&c, &st, "m 25\n", 16 * SEC, &v);
	assert_true(v.value == 20);
	assert_true(v.clear);
}

static void test_ops(void **state)
{
	static const struct {
		enum acfg_op op;
		double x, thr, clr;
		bool fire, clear;
	} cases[] = {
		{ OP_GT, 10, 10, 8, false, false }, { OP_GT, 11, 10, 8, true, false },
		{ OP_GT, 7, 10, 8, false, true },   { OP_GE, 10, 10, 8, true, false },
		{ OP_LT, 0.5, 0.8, 0.9, true, false }, { OP_LT, 0.85, 0.8, 0.9, false, false },
		{ OP_LE, 0.9, 0.8, 0.9, false, false }, { OP_LE, 0.95, 0.8, 0.9, false, true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct acfg_custom c;
		struct custom_state st = { 0 };
		struct verdict v;
		char text[64];

		rule(&c, "g", cases[i].op, cases[i].thr, cases[i].clr);
		snprintf(text, sizeof(text), "g %g\n", cases[i].x);
		custom_rules__eval(&c, &st, text, SEC, &v);
		if (v.fire != cases[i].fire || v.clear != cases[i].clear)
			fail_msg("case %zu: fire %d clear %d", i, v.fire, v.clear);
		assert_true(v.threshold == cases[i].thr);
	}
}

static void test_words_and_labels(void **state)
{
	struct acfg_custom c;
	struct verdict v = { .value = 60 };
	struct rule_text t;
	struct alert key;

	rule(&c, "nexus_redis_commands_total", OP_GT, 50, 40);
	c.rate = true;
	match(&c, "status", "ERR");
	custom_rules__advice(&c, &v, &t);
	assert_string_equal(t.summary, "nexus_redis_commands_total rate > 50 (value 60)");
	assert_string_equal(t.description,
			    "Custom rule r (configuration line 7): the per-second rate of "
			    "nexus_redis_commands_total with the given labels, summed over the "
			    "matching series, is 60, > 50.");
	snprintf(c.summary, sizeof(c.summary), "Redis errors above 50/s");
	custom_rules__advice(&c, &v, &t);
	assert_string_equal(t.summary, "Redis errors above 50/s");
	custom_rules__key(&c, &key);
	assert_string_equal(key.name, "r");
	assert_int_equal(key.n_labels, 1);
	assert_string_equal(alert__label(&key, "status"), "ERR");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sum),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_words_and_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
