// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Custom threshold rules (agent/alert/custom_rules.c) on fixed metric models: which samples a
 * rule sums (metric name exact, every matcher held, label values with the characters the text
 * format escapes, longer names skipped, a histogram's _bucket/_sum/_count as the text spells
 * them), rates between ticks and after a reset, operators with hysteresis, and the words and
 * labels of its alert.
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

static void sample(struct metric_model *m, double v, int n, ...)
{
	struct mm_labels ls = { 0 };
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *name = va_arg(ap, const char *);

		mm_labels__add(&ls, name, va_arg(ap, const char *));
	}
	va_end(ap);
	mm__sample(m, &ls, v);
}

/* What the text of this model would be:
 *   nexus_redis_commands_total{server="a:1",command="get",status="ok"} 100
 *   nexus_redis_commands_total{server="a:1",command="get",status="ERR"} 7
 *   nexus_redis_commands_total{server="b:2",command="set",status="ERR"} 5
 *   nexus_redis_commands_total_extra{server="a:1",status="ERR"} 1000
 *   nexus_redis_key_prefix_hits_total{server="a:1",prefix="q\"x\\y"} 3
 *   nexus_agent_targets 4
 *   a histogram with bounds 0.001 and 0.01: two series, buckets {1,2} {3,4}, counts 5 and 6 */
static void model1(struct metric_model *m)
{
	static const double bounds[] = { 0.001, 0.01 };
	static const uint64_t b1[] = { 1, 2 }, b2[] = { 3, 4 };
	struct mm_labels ls = { 0 };

	metric_model__init(m, 0, 0);
	mm__family(m, "nexus_redis_commands_total", MM_COUNTER, "1", "commands");
	sample(m, 100, 3, "server", "a:1", "command", "get", "status", "ok");
	sample(m, 7, 3, "server", "a:1", "command", "get", "status", "ERR");
	sample(m, 5, 3, "server", "b:2", "command", "set", "status", "ERR");
	mm__family(m, "nexus_redis_commands_total_extra", MM_COUNTER, "1", "x");
	sample(m, 1000, 2, "server", "a:1", "status", "ERR");
	mm__family(m, "nexus_redis_key_prefix_hits_total", MM_COUNTER, "1", "x");
	sample(m, 3, 2, "server", "a:1", "prefix", "q\"x\\y");
	mm__family(m, "nexus_agent_targets", MM_GAUGE, "1", "x");
	sample(m, 4, 0);
	mm__histogram_family(m, "h_seconds", "s", "x", bounds, 2);
	mm_labels__add(&ls, "server", "a:1");
	mm__histogram(m, &ls, b1, 5, 0.5);
	ls.l[0].value = "b:2";
	mm__histogram(m, &ls, b2, 6, 0.25);
}

/* A model of one unlabelled gauge. */
static void model_one(struct metric_model *m, const char *name, double v)
{
	metric_model__init(m, 0, 0);
	mm__family(m, name, MM_GAUGE, "1", "x");
	sample(m, v, 0);
}

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

static double value_of(const struct acfg_custom *c, const struct metric_model *m)
{
	struct custom_state st = { 0 };
	struct verdict v;

	custom_rules__eval(c, &st, m, SEC, &v);
	return v.value;
}

/* eval of c on a model of the one gauge name = x */
static void eval_one(const struct acfg_custom *c, struct custom_state *st, const char *name,
		     double x, uint64_t now_ns, struct verdict *v)
{
	struct metric_model m;

	model_one(&m, name, x);
	custom_rules__eval(c, st, &m, now_ns, v);
	metric_model__free(&m);
}

static void test_sum(void **state)
{
	struct metric_model m1, empty;
	struct acfg_custom c;

	model1(&m1);
	metric_model__init(&empty, 0, 0);

	rule(&c, "nexus_redis_commands_total", OP_GT, 10, 10);
	assert_true(value_of(&c, &m1) == 112); /* not the _extra series */
	match(&c, "status", "ERR");
	assert_true(value_of(&c, &m1) == 12);
	match(&c, "server", "a:1");
	assert_true(value_of(&c, &m1) == 7);
	rule(&c, "nexus_redis_key_prefix_hits_total", OP_GT, 10, 10);
	match(&c, "prefix", "q\"x\\y"); /* the escapes of the text format */
	assert_true(value_of(&c, &m1) == 3);
	rule(&c, "nexus_agent_targets", OP_GE, 10, 8); /* no labels at all */
	assert_true(value_of(&c, &m1) == 4);
	match(&c, "server", "a:1"); /* a matcher no sample holds */
	assert_true(isnan(value_of(&c, &m1)));
	rule(&c, "nexus_nothing", OP_GT, 1, 1);
	assert_true(isnan(value_of(&c, &m1)));
	assert_true(isnan(value_of(&c, &empty)));
	metric_model__free(&m1);
	metric_model__free(&empty);
}

/* A histogram's series as the text format names them; the family name itself has no samples. */
static void test_histogram_parts(void **state)
{
	struct metric_model m;
	struct acfg_custom c;

	model1(&m);
	rule(&c, "h_seconds_count", OP_GT, 1, 1);
	assert_true(value_of(&c, &m) == 11);
	rule(&c, "h_seconds_sum", OP_GT, 1, 1);
	assert_true(value_of(&c, &m) == 0.75);
	match(&c, "server", "b:2");
	assert_true(value_of(&c, &m) == 0.25);
	rule(&c, "h_seconds_bucket", OP_GT, 1, 1);
	match(&c, "le", "0.01");
	assert_true(value_of(&c, &m) == 6); /* 2 + 4 */
	rule(&c, "h_seconds_bucket", OP_GT, 1, 1);
	match(&c, "le", "+Inf");
	match(&c, "server", "a:1");
	assert_true(value_of(&c, &m) == 5);
	rule(&c, "h_seconds_bucket", OP_GT, 1, 1);
	match(&c, "le", "0.5"); /* no such bound */
	assert_true(isnan(value_of(&c, &m)));
	rule(&c, "h_seconds", OP_GT, 1, 1);
	assert_true(isnan(value_of(&c, &m)));
	rule(&c, "nexus_agent_targets_count", OP_GT, 1, 1); /* not a histogram */
	assert_true(isnan(value_of(&c, &m)));
	metric_model__free(&m);
}

static void test_rate(void **state)
{
	struct acfg_custom c;
	struct custom_state st = { 0 };
	struct verdict v;

	rule(&c, "m", OP_GT, 50, 40);
	c.rate = true;
	eval_one(&c, &st, "m", 100, 10 * SEC, &v);
	assert_true(isnan(v.value)); /* no rate from one reading */
	assert_false(v.fire);
	assert_true(v.clear);
	eval_one(&c, &st, "m", 220, 12 * SEC, &v);
	assert_true(v.value == 60);
	assert_true(v.fire);
	assert_false(v.clear);
	eval_one(&c, &st, "m", 310, 14 * SEC, &v);
	assert_true(v.value == 45); /* between clear and threshold: holds */
	assert_false(v.fire);
	assert_false(v.clear);
	eval_one(&c, &st, "m", 5, 15 * SEC, &v);
	assert_true(isnan(v.value)); /* the counter went back: no rate */
	eval_one(&c, &st, "m", 25, 16 * SEC, &v);
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

		rule(&c, "g", cases[i].op, cases[i].thr, cases[i].clr);
		eval_one(&c, &st, "g", cases[i].x, SEC, &v);
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
		cmocka_unit_test(test_histogram_parts),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_words_and_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
