// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The alerting configuration parser: a full file field by field, a table of bad files (each
 * with the line:col its message must name), durations, empty input, missing files, limits, and
 * hostile input (deep nesting, random bytes, mutated files) that must only ever give an error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "alert/alert_config.h"
#include "alert/engine.h"

static const char *const known[] = { "redis_hit_ratio_low", "postgres_buffer_hit_ratio_low",
				     "latency_p95_high", NULL };

/* Big enough that tests do not put a 130 KiB struct on the stack repeatedly. */
static struct alert_config cfg;
static char err[512];

static int parse(const char *yaml)
{
	return alert_config__parse(&cfg, yaml, strlen(yaml), "t.yaml", known, err, sizeof(err));
}

#define SEC 1000000000ULL

static void test_defaults(void **state)
{
	memset(&cfg, 0xab, sizeof(cfg));
	alert_config__init(&cfg);
	assert_int_equal(cfg.n_overrides, 0);
	assert_int_equal(cfg.n_custom, 0);
	assert_string_equal(cfg.alertmanager_url, "");
	assert_string_equal(cfg.webhook_url, "");
	assert_true(cfg.resend_interval_ns == 60 * SEC);
	assert_true(cfg.timeout_ns == 5 * SEC);
	assert_string_equal(acfg_op__str(OP_GT), ">");
	assert_string_equal(acfg_op__str(OP_GE), ">=");
	assert_string_equal(acfg_op__str(OP_LT), "<");
	assert_string_equal(acfg_op__str(OP_LE), "<=");
}

static const char full[] = "# every field once\n"			 /* 1 */
			   "rules:\n"					 /* 2 */
			   "  redis_hit_ratio_low:\n"			 /* 3 */
			   "    enabled: true\n"			 /* 4 */
			   "    severity: critical\n"			 /* 5 */
			   "    for: 30s\n"				 /* 6 */
			   "    clear_for: 10s\n"			 /* 7 */
			   "    threshold: 0.7\n"			 /* 8 */
			   "    clear: 0.75\n"				 /* 9 */
			   "  latency_p95_high:\n"		 /* 10 */
			   "    enabled: off\n"				 /* 11 */
			   "  postgres_buffer_hit_ratio_low: {threshold: 0.9}\n" /* 12 */
			   "custom_rules:\n"				 /* 13 */
			   "  - name: redis_errors_high\n"		 /* 14 */
			   "    metric: nexus_redis_commands_total\n"	 /* 15 */
			   "    match: {status: ERR, command: \"GET\"}\n" /* 16 */
			   "    rate: yes\n"				 /* 17 */
			   "    op: \">\"\n"				 /* 18 */
			   "    threshold: 50\n"			 /* 19 */
			   "    clear: 40\n"				 /* 20 */
			   "    for: 15s\n"				 /* 21 */
			   "    clear_for: 1m30s\n"			 /* 22 */
			   "    severity: critical\n"			 /* 23 */
			   "    summary: \"Redis errors above 50/s\"\n" /* 24 */
			   "  - name: pg_conns_low\n"			 /* 25 */
			   "    metric: \"nexus:pg_connections\"\n"	 /* 26 */
			   "    op: '<='\n"				 /* 27 */
			   "    threshold: -2e0\n"			 /* 28 */
			   "notify:\n"					 /* 29 */
			   "  alertmanager: http://127.0.0.1:9093\n"	 /* 30 */
			   "  webhook: https://example.com/hook?x=1\n"	 /* 31 */
			   "  resend_interval: 5m\n"			 /* 32 */
			   "  timeout: 2.5\n";				 /* 33 */

static void test_full(void **state)
{
	const struct acfg_override *o;
	const struct acfg_custom *r;

	if (parse(full))
		fail_msg("%s", err);
	assert_string_equal(err, "");
	assert_int_equal(cfg.n_overrides, 3);

	o = &cfg.overrides[0];
	assert_string_equal(o->rule, "redis_hit_ratio_low");
	assert_int_equal(o->fields,
			 ACF_ENABLED | ACF_SEVERITY | ACF_FOR | ACF_CLEAR_FOR | ACF_THRESHOLD | ACF_CLEAR);
	assert_true(o->enabled);
	assert_int_equal(o->severity, SEV_CRITICAL);
	assert_true(o->for_ns == 30 * SEC);
	assert_true(o->clear_for_ns == 10 * SEC);
	assert_true(o->threshold == 0.7);
	assert_true(o->clear == 0.75);
	assert_int_equal(o->line, 3);

	o = &cfg.overrides[1];
	assert_string_equal(o->rule, "latency_p95_high");
	assert_int_equal(o->fields, ACF_ENABLED);
	assert_false(o->enabled);
	assert_int_equal(o->line, 10);

	o = &cfg.overrides[2];
	assert_string_equal(o->rule, "postgres_buffer_hit_ratio_low");
	assert_int_equal(o->fields, ACF_THRESHOLD);
	assert_true(o->threshold == 0.9);
	assert_int_equal(o->line, 12);

	assert_int_equal(cfg.n_custom, 2);
	r = &cfg.custom[0];
	assert_string_equal(r->name, "redis_errors_high");
	assert_string_equal(r->metric, "nexus_redis_commands_total");
	assert_int_equal(r->n_match, 2);
	assert_string_equal(r->match[0].name, "status");
	assert_string_equal(r->match[0].value, "ERR");
	assert_string_equal(r->match[1].name, "command");
	assert_string_equal(r->match[1].value, "GET");
	assert_true(r->rate);
	assert_int_equal(r->op, OP_GT);
	assert_true(r->threshold == 50);
	assert_true(r->clear == 40);
	assert_true(r->for_ns == 15 * SEC);
	assert_true(r->clear_for_ns == 90 * SEC);
	assert_int_equal(r->severity, SEV_CRITICAL);
	assert_string_equal(r->summary, "Redis errors above 50/s");
	assert_int_equal(r->line, 14);

	/* only the required fields: the rest are the documented defaults */
	r = &cfg.custom[1];
	assert_string_equal(r->name, "pg_conns_low");
	assert_string_equal(r->metric, "nexus:pg_connections");
	assert_int_equal(r->n_match, 0);
	assert_false(r->rate);
	assert_int_equal(r->op, OP_LE);
	assert_true(r->threshold == -2);
	assert_true(r->clear == -2);
	assert_true(r->for_ns == 0);
	assert_true(r->clear_for_ns == 0);
	assert_int_equal(r->severity, SEV_WARNING);
	assert_string_equal(r->summary, "");
	assert_int_equal(r->line, 25);

	assert_string_equal(cfg.alertmanager_url, "http://127.0.0.1:9093");
	assert_string_equal(cfg.webhook_url, "https://example.com/hook?x=1");
	assert_true(cfg.resend_interval_ns == 300 * SEC);
	assert_true(cfg.timeout_ns == 2500000000ULL);

	/* a second parse starts from the defaults, not from what the first one left */
	assert_int_equal(parse("notify: {timeout: 1s}\n"), 0);
	assert_int_equal(cfg.n_overrides, 0);
	assert_int_equal(cfg.n_custom, 0);
	assert_string_equal(cfg.alertmanager_url, "");
	assert_true(cfg.resend_interval_ns == 60 * SEC);
	assert_true(cfg.timeout_ns == 1 * SEC);
}

static void test_empty(void **state)
{
	static const char *const cases[] = {
		"",
		"# nothing but a comment\n",
		"\n\n   \n",
		"---\n",
		"---\n...\n",
		"~\n",
		"rules:\ncustom_rules:\nnotify:\n",
		"rules: {}\ncustom_rules: []\nnotify: {}\n",
		"rules:\n  redis_hit_ratio_low:\n", /* named, nothing changed */
		"notify:\n  alertmanager:\n  webhook: \"\"\n",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i]))
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(cfg.n_custom, 0);
		assert_string_equal(cfg.alertmanager_url, "");
		assert_string_equal(cfg.webhook_url, "");
		assert_true(cfg.resend_interval_ns == 60 * SEC);
		assert_true(cfg.timeout_ns == 5 * SEC);
	}
	assert_int_equal(parse(cases[8]), 0);
	assert_int_equal(cfg.n_overrides, 1);
	assert_int_equal(cfg.overrides[0].fields, 0);

	/* a NULL buffer of length 0 is an empty file too */
	assert_int_equal(alert_config__parse(&cfg, NULL, 0, "t.yaml", known, err, sizeof(err)), 0);
}

/* Each bad file, where its message must point ("t.yaml:L:C: "), and what it must say. */
static const struct bad_case {
	const char *yaml;
	const char *where;
	const char *what;
} bad[] = {
	/* YAML syntax, from libyaml's problem mark */
	{ "notify:\n  timeout: 1s\n webhook: x\n", "t.yaml:3:2: ",
	  "syntax error: did not find expected key" },
	{ "notify: {timeout: 1s\n", "t.yaml:2:1: ", "syntax error:" },
	{ "notify:\n\ttimeout: 1s\n", "t.yaml:2:1: ", "syntax error:" },
	{ "notify:\n  webhook: \"unterminated\n", "t.yaml:3:1: ", "syntax error:" },
	{ "rules: {}\n\xff\xfe\n", "t.yaml:2:1: ", "bad input:" },
	{ "notify: {}\nrules: \x01\n", "t.yaml:2:8: ", "bad input:" },
	{ "notify:\n  timeout: &x 1s\n  resend_interval: *x\n", "t.yaml:3:20: ",
	  "aliases are not supported" },
	{ "rules: {}\n---\nrules: {}\n", "t.yaml:2:1: ", "only one YAML document" },
	/* structure */
	{ "notify: {}\nalerts: {}\n", "t.yaml:2:1: ", "unknown top-level key 'alerts'" },
	{ "rules: {}\nrules: {}\n", "t.yaml:2:1: ", "duplicate key 'rules'" },
	{ "- rules\n", "t.yaml:1:1: ", "mapping expected at the top level, found a sequence" },
	{ "just text\n", "t.yaml:1:1: ", "mapping expected at the top level, found a scalar" },
	{ "rules: [a]\n", "t.yaml:1:8: ", "mapping expected for 'rules'" },
	{ "rules: 5\n", "t.yaml:1:8: ", "mapping expected for 'rules'" },
	{ "rules:\n  redis_hit_ratio_low: 5\n", "t.yaml:2:24: ",
	  "mapping expected for rule 'redis_hit_ratio_low', found a scalar" },
	{ "notify: [1]\n", "t.yaml:1:9: ", "mapping expected for 'notify'" },
	{ "custom_rules: {a: 1}\n", "t.yaml:1:15: ", "sequence expected for 'custom_rules'" },
	{ "custom_rules:\n  - x\n", "t.yaml:2:5: ", "mapping expected for a custom rule" },
	{ "custom_rules:\n  - name: a\n    match: [x]\n", "t.yaml:3:12: ",
	  "mapping expected for 'match'" },
	{ "rules:\n  redis_hit_ratio_low:\n    threshold: [1]\n", "t.yaml:3:16: ",
	  "scalar expected for 'threshold', found a sequence" },
	{ "notify:\n  webhook: {a: b}\n", "t.yaml:2:12: ", "scalar expected for 'webhook'" },
	{ "custom_rules:\n  - summary:\n      a: b\n", "t.yaml:3:7: ",
	  "scalar expected for 'summary', found a mapping" },
	{ "? [a]\n: 1\n", "t.yaml:1:3: ", "scalar key expected, found a sequence" },
	{ "notify: {timeout: \"1\\0s\"}\n", "t.yaml:1:19: ", "'timeout' contains a NUL byte" },
	/* rules */
	{ "rules:\n  redis_hit_ratio_lo: {}\n", "t.yaml:2:3: ", "unknown rule 'redis_hit_ratio_lo'" },
	{ "rules:\n  redis_hit_ratio_low:\n    treshold: 1\n", "t.yaml:3:5: ",
	  "unknown field 'treshold' in rule 'redis_hit_ratio_low'" },
	{ "rules:\n  redis_hit_ratio_low:\n    for: 1s\n    for: 2s\n", "t.yaml:4:5: ",
	  "duplicate field 'for'" },
	{ "rules:\n  redis_hit_ratio_low: {}\n  redis_hit_ratio_low: {}\n", "t.yaml:3:3: ",
	  "rule 'redis_hit_ratio_low' is overridden twice (first at line 2)" },
	{ "rules:\n  redis_hit_ratio_low:\n    severity: fatal\n", "t.yaml:3:15: ",
	  "bad severity 'fatal'" },
	{ "rules:\n  redis_hit_ratio_low:\n    severity: Critical\n", "t.yaml:3:15: ",
	  "bad severity 'Critical'" },
	{ "rules:\n  redis_hit_ratio_low:\n    for: 5 minutes\n", "t.yaml:3:10: ",
	  "bad duration '5 minutes' for 'for'" },
	{ "rules:\n  redis_hit_ratio_low:\n    clear_for: -1s\n", "t.yaml:3:16: ",
	  "bad duration '-1s' for 'clear_for'" },
	{ "rules:\n  redis_hit_ratio_low:\n    threshold: 0.7x\n", "t.yaml:3:16: ",
	  "bad number '0.7x' for 'threshold'" },
	{ "rules:\n  redis_hit_ratio_low:\n    clear: .nan\n", "t.yaml:3:12: ",
	  "bad number '.nan' for 'clear'" },
	{ "rules:\n  redis_hit_ratio_low:\n    clear: nan\n", "t.yaml:3:12: ", "bad number 'nan'" },
	{ "rules:\n  redis_hit_ratio_low:\n    clear: inf\n", "t.yaml:3:12: ", "bad number 'inf'" },
	{ "rules:\n  redis_hit_ratio_low:\n    clear: 1e999\n", "t.yaml:3:12: ",
	  "bad number '1e999'" },
	{ "rules:\n  redis_hit_ratio_low:\n    clear: \"\"\n", "t.yaml:3:12: ", "bad number ''" },
	{ "rules:\n  redis_hit_ratio_low:\n    clear: \" 1\"\n", "t.yaml:3:12: ",
	  "bad number ' 1'" },
	{ "rules:\n  redis_hit_ratio_low:\n    enabled: maybe\n", "t.yaml:3:14: ",
	  "bad boolean 'maybe' for 'enabled'" },
	{ "rules:\n  redis_hit_ratio_low:\n    enabled: 1\n", "t.yaml:3:14: ", "bad boolean '1'" },
	/* custom rules */
	{ "custom_rules:\n  - name: a\n    metric: m\n    op: \"=>\"\n", "t.yaml:4:9: ",
	  "bad op '=>'" },
	{ "custom_rules:\n  - name: a\n    metric: m\n    op: \"==\"\n", "t.yaml:4:9: ",
	  "bad op '=='" },
	{ "custom_rules:\n  - name: a\n    metrc: m\n", "t.yaml:3:5: ",
	  "unknown field 'metrc' in a custom rule" },
	{ "custom_rules:\n  - name: a\n    enabled: true\n", "t.yaml:3:5: ",
	  "unknown field 'enabled'" },
	{ "custom_rules:\n  - name: a\n    name: b\n", "t.yaml:3:5: ", "duplicate field 'name'" },
	{ "custom_rules:\n  - {name: a, metric: m, op: '>', threshold: 1}\n"
	  "  - {name: a, metric: m, op: '>', threshold: 1}\n",
	  "t.yaml:3:12: ", "custom rule 'a' is defined twice (first at line 2)" },
	{ "custom_rules:\n  - name: redis_hit_ratio_low\n", "t.yaml:2:11: ",
	  "custom rule name 'redis_hit_ratio_low' is a built-in rule" },
	{ "custom_rules:\n  - name: 1abc\n", "t.yaml:2:11: ", "invalid custom rule name '1abc'" },
	{ "custom_rules:\n  - name: a-b\n", "t.yaml:2:11: ", "invalid custom rule name 'a-b'" },
	{ "custom_rules:\n  - name: \"\"\n", "t.yaml:2:11: ", "invalid custom rule name ''" },
	{ "custom_rules:\n  - name: \"caf\xc3\xa9\"\n", "t.yaml:2:11: ", "invalid custom rule name" },
	{ "custom_rules:\n  - metric: m\n    op: '>'\n    threshold: 1\n", "t.yaml:2:5: ",
	  "custom rule is missing 'name'" },
	{ "custom_rules:\n  - name: a\n    op: '>'\n    threshold: 1\n", "t.yaml:2:5: ",
	  "custom rule 'a' is missing 'metric'" },
	{ "custom_rules:\n  - name: a\n    metric: m\n    threshold: 1\n", "t.yaml:2:5: ",
	  "custom rule 'a' is missing 'op'" },
	{ "custom_rules:\n  - name: a\n    metric: m\n    op: '>'\n", "t.yaml:2:5: ",
	  "custom rule 'a' is missing 'threshold'" },
	{ "custom_rules:\n  - {}\n", "t.yaml:2:5: ", "custom rule is missing 'name'" },
	{ "custom_rules:\n  - name: a\n    metric: nexus-redis\n", "t.yaml:3:13: ",
	  "invalid metric name 'nexus-redis'" },
	{ "custom_rules:\n  - name: a\n    metric: 9lives\n", "t.yaml:3:13: ",
	  "invalid metric name '9lives'" },
	{ "custom_rules:\n  - name: a\n    metric: \"\"\n", "t.yaml:3:13: ", "invalid metric name ''" },
	{ "custom_rules:\n  - name: a\n    match: {1x: b}\n", "t.yaml:3:13: ",
	  "invalid label name '1x'" },
	{ "custom_rules:\n  - name: a\n    match: {a: x, a: y}\n", "t.yaml:3:19: ",
	  "duplicate label 'a'" },
	{ "custom_rules:\n  - name: a\n    rate: sometimes\n", "t.yaml:3:11: ",
	  "bad boolean 'sometimes' for 'rate'" },
	{ "custom_rules:\n  - {name: a, metric: m, op: '>', threshold: 5, clear: 6}\n",
	  "t.yaml:2:56: ", "clear 6 is past threshold 5 for op \">\"" },
	{ "custom_rules:\n  - {name: a, metric: m, op: '<', threshold: 5, clear: 4}\n",
	  "t.yaml:2:56: ", "clear 4 is past threshold 5 for op \"<\"" },
	/* notify */
	{ "notify:\n  alertmanager: 127.0.0.1:9093\n", "t.yaml:2:17: ",
	  "bad URL '127.0.0.1:9093' for 'alertmanager' (must start with http:// or https://)" },
	{ "notify:\n  webhook: ftp://x/hook\n", "t.yaml:2:12: ", "bad URL 'ftp://x/hook'" },
	{ "notify:\n  webhook: HTTP://x/hook\n", "t.yaml:2:12: ", "bad URL" },
	{ "notify:\n  webhook: http://\n", "t.yaml:2:12: ", "has no host" },
	{ "notify:\n  webhook: \"http://a b/\"\n", "t.yaml:2:12: ", "contains a space" },
	{ "notify:\n  resend_interval: often\n", "t.yaml:2:20: ",
	  "bad duration 'often' for 'resend_interval'" },
	{ "notify:\n  timeout: 0s\n", "t.yaml:2:12: ", "'timeout' must be greater than 0" },
	{ "notify:\n  resend_interval: 0\n", "t.yaml:2:20: ", "must be greater than 0" },
	{ "notify:\n  slack: http://x\n", "t.yaml:2:3: ", "unknown field 'slack' in 'notify'" },
	{ "notify:\n  timeout: 1s\n  timeout: 2s\n", "t.yaml:3:3: ", "duplicate field 'timeout'" },
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse(bad[i].yaml) != -1)
			fail_msg("case %zu accepted:\n%s", i, bad[i].yaml);
		if (getenv("SHOW_ERRORS"))
			printf("%s\n", err);
		if (strncmp(err, bad[i].where, strlen(bad[i].where)) || !strstr(err, bad[i].what))
			fail_msg("case %zu: got \"%s\", want \"%s...%s\"", i, err, bad[i].where,
				 bad[i].what);
	}
}

/* Every buffer: its longest value fits, one byte more is an error, never a truncation. */
static void test_lengths(void **state)
{
	static const struct {
		const char *fmt; /* %s is the value */
		size_t max;	 /* longest accepted */
		char fill;
		const char *what;
	} cases[] = {
		{ "custom_rules:\n- {name: %s, metric: m, op: '>', threshold: 1}\n", ALERT_NAME_LEN - 1,
		  'n', "'name' is too long" },
		{ "custom_rules:\n- {name: a, metric: %s, op: '>', threshold: 1}\n",
		  ACFG_METRIC_LEN - 1, 'm', "'metric' is too long" },
		{ "custom_rules:\n- {name: a, metric: m, op: '>', threshold: 1, summary: %s}\n",
		  ALERT_SUMMARY_LEN - 1, 's', "'summary' is too long" },
		{ "custom_rules:\n- {name: a, metric: m, op: '>', threshold: 1, match: {l: %s}}\n",
		  ALERT_LABEL_VALUE_LEN - 1, 'v', "'l' is too long" },
		{ "custom_rules:\n- {name: a, metric: m, op: '>', threshold: 1, match: {%s: v}}\n",
		  ALERT_LABEL_NAME_LEN - 1, 'l', "is too long" },
		{ "notify:\n  webhook: http://%s\n", ACFG_URL_LEN - 1 - 7, 'h', "'webhook' is too long" },
		{ "notify:\n  alertmanager: http://%s\n", ACFG_URL_LEN - 1 - 7, 'h',
		  "'alertmanager' is too long" },
	};
	char val[1024], yaml[2048];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(val, cases[i].fill, cases[i].max);
		val[cases[i].max] = '\0';
		snprintf(yaml, sizeof(yaml), cases[i].fmt, val);
		if (parse(yaml))
			fail_msg("case %zu (%zu bytes): %s", i, cases[i].max, err);
		val[cases[i].max] = cases[i].fill;
		val[cases[i].max + 1] = '\0';
		snprintf(yaml, sizeof(yaml), cases[i].fmt, val);
		assert_int_equal(parse(yaml), -1);
		if (strncmp(err, "t.yaml:2:", 9) || !strstr(err, cases[i].what))
			fail_msg("case %zu: %s", i, err);
	}
	/* a rule key past ALERT_NAME_LEN; and the message quotes it shortened */
	memset(val, 'r', ALERT_NAME_LEN);
	val[ALERT_NAME_LEN] = '\0';
	snprintf(yaml, sizeof(yaml), "rules:\n  %s: {}\n", val);
	assert_int_equal(parse(yaml), -1);
	assert_non_null(strstr(err, "t.yaml:2:3: key 'rrrr"));
	assert_non_null(strstr(err, "...' is too long (64 bytes, max 63)"));
}

/* The caps of alert_config.h: the last one that fits, then one more. */
static void test_caps(void **state)
{
	size_t sz = 64 * 1024, n;
	char *yaml = malloc(sz);

	assert_non_null(yaml);
	/* overrides: known_rules NULL, so any name will do */
	n = snprintf(yaml, sz, "rules:\n");
	for (int i = 0; i < ACFG_MAX_OVERRIDES; i++)
		n += snprintf(yaml + n, sz - n, "  r%d: {threshold: %d}\n", i, i);
	assert_int_equal(alert_config__parse(&cfg, yaml, n, "t.yaml", NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_overrides, ACFG_MAX_OVERRIDES);
	assert_true(cfg.overrides[ACFG_MAX_OVERRIDES - 1].threshold == ACFG_MAX_OVERRIDES - 1);
	n += snprintf(yaml + n, sz - n, "  extra: {}\n");
	assert_int_equal(alert_config__parse(&cfg, yaml, n, "t.yaml", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.yaml:66:3: too many rule overrides (max 64)"));

	n = snprintf(yaml, sz, "custom_rules:\n");
	for (int i = 0; i < ACFG_MAX_CUSTOM; i++)
		n += snprintf(yaml + n, sz - n, "  - {name: c%d, metric: m, op: '>', threshold: 1}\n",
			      i);
	assert_int_equal(parse(yaml), 0);
	assert_int_equal(cfg.n_custom, ACFG_MAX_CUSTOM);
	assert_string_equal(cfg.custom[ACFG_MAX_CUSTOM - 1].name, "c63");
	snprintf(yaml + n, sz - n, "  - {name: extra, metric: m, op: '>', threshold: 1}\n");
	assert_int_equal(parse(yaml), -1);
	assert_non_null(strstr(err, "t.yaml:66:5: too many custom rules (max 64)"));

	n = snprintf(yaml, sz, "custom_rules:\n  - name: a\n    match:\n");
	for (int i = 0; i < ACFG_MAX_MATCH; i++)
		n += snprintf(yaml + n, sz - n, "      l%d: v\n", i);
	n += snprintf(yaml + n, sz - n, "    metric: m\n    op: '>'\n    threshold: 1\n");
	assert_int_equal(parse(yaml), 0);
	assert_int_equal(cfg.custom[0].n_match, ACFG_MAX_MATCH);
	n = snprintf(yaml, sz, "custom_rules:\n  - name: a\n    match:\n");
	for (int i = 0; i <= ACFG_MAX_MATCH; i++)
		n += snprintf(yaml + n, sz - n, "      l%d: v\n", i);
	assert_int_equal(parse(yaml), -1);
	assert_non_null(strstr(err, "t.yaml:12:7: too many labels in 'match' (max 8)"));
	free(yaml);
}

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		uint64_t ns;
	} good[] = {
		{ "0", 0 },
		{ "0s", 0 },
		{ "500ms", 500000000ULL },
		{ "15s", 15 * SEC },
		{ "5m", 300 * SEC },
		{ "1h", 3600 * SEC },
		{ "2.5", 2500000000ULL },
		{ "1.5s", 1500000000ULL },
		{ ".5s", 500000000ULL },
		{ "0.1s", 100000000ULL },
		{ "1m30s", 90 * SEC },
		{ "1h2m3s4ms", 3723004000000ULL },
		{ "1h500ms", 3600500000000ULL },
		{ "5124095h", 5124095ULL * 3600 * SEC }, /* just under 2^64 ns */
		{ "18446744073s709ms", 18446744073709000000ULL },
		{ "18446744073.709551615s", 18446744073709551615ULL },
		{ "00000000000000000000000000001s", SEC },
		{ "1.000000000000000000000000001s", SEC },
	};
	static const char *const bad[] = {
		"",	  "-1s",    "+1s",   "s",    "ms",    "1x",	  "1d",	       "1S",
		"1 s",	  " 1s",    "1s ",   "1.2.3s", "1e3s",  "1m30",	  "30s1m",     "1s1s",
		"1ms1s",  "5mm",    "abc",   ".",    "1.s.",  "nan",	  "inf",       "5124096h",
		"99999999999999999999s", "18446744073.71s", "18446744074s", "1h-1m", "0x10s", "1,5s",
	};
	uint64_t ns;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ns = 12345;
		if (alert_config__duration(good[i].s, &ns))
			fail_msg("rejected '%s'", good[i].s);
		if (ns != good[i].ns)
			fail_msg("'%s': %llu, want %llu", good[i].s, (unsigned long long)ns,
				 (unsigned long long)good[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ns = 777;
		if (alert_config__duration(bad[i], &ns) != -1)
			fail_msg("accepted '%s' as %llu", bad[i], (unsigned long long)ns);
		assert_true(ns == 777);
	}
	assert_int_equal(alert_config__duration(NULL, &ns), -1);
}

static void test_booleans(void **state)
{
	static const struct {
		const char *s;
		bool v;
	} cases[] = {
		{ "true", true }, { "false", false }, { "yes", true }, { "no", false },
		{ "on", true },	  { "off", false },   { "True", true }, { "OFF", false },
		{ "\"yes\"", true },
	};
	char yaml[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(yaml, sizeof(yaml), "rules:\n  redis_hit_ratio_low: {enabled: %s}\n",
			 cases[i].s);
		if (parse(yaml))
			fail_msg("%s: %s", cases[i].s, err);
		assert_int_equal(cfg.overrides[0].enabled, cases[i].v);
	}
}

static void test_load(void **state)
{
	char path[] = "/tmp/test_alert_config_XXXXXX";
	const char *missing = "/nonexistent/dir/alerts.yaml";
	int fd = mkstemp(path);
	FILE *f;

	assert_int_equal(alert_config__load(&cfg, missing, known, err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/dir/alerts.yaml: No such file or directory");

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(full, f);
	fclose(f);
	if (alert_config__load(&cfg, path, known, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(cfg.n_overrides, 3);
	assert_int_equal(cfg.n_custom, 2);
	assert_true(cfg.timeout_ns == 2500000000ULL);

	/* a message names the path it read */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("rules:\n  nope: {}\n", f);
	fclose(f);
	assert_int_equal(alert_config__load(&cfg, path, known, err, sizeof(err)), -1);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_non_null(strstr(err, ":2:3: unknown rule 'nope'"));

	/* an empty file is the defaults */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(alert_config__load(&cfg, path, known, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_overrides, 0);
	unlink(path);

	/* a directory opens but does not read */
	assert_int_equal(alert_config__load(&cfg, "/tmp", known, err, sizeof(err)), -1);
	assert_string_equal(err, "/tmp: Is a directory");
}

/* deploy/alerts.example.yaml must stay valid; found relative to this source file. */
static void test_example(void **state)
{
	/* The engine's real rule names: the example must load in the agent, not only here. */
	const char *const *names = engine__rule_names();
	char path[4096];
	const char *slash = strrchr(__FILE__, '/');
	int len = slash ? (int)(slash - __FILE__) : 1;

	snprintf(path, sizeof(path), "%.*s/../../deploy/alerts.example.yaml", len,
		 slash ? __FILE__ : ".");
	if (access(path, R_OK))
		skip();
	if (alert_config__load(&cfg, path, names, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(cfg.n_overrides > 0);
	assert_true(cfg.n_custom > 0);
}

/* A message never overruns the caller's buffer, and no buffer at all is fine. */
static void test_err_buffer(void **state)
{
	char small[12];

	memset(small, 'x', sizeof(small));
	assert_int_equal(alert_config__parse(&cfg, "x: 1\n", 5, "t.yaml", known, small, 8), -1);
	assert_string_equal(small, "t.yaml:");
	assert_int_equal(small[8], 'x');
	assert_int_equal(alert_config__parse(&cfg, "x: 1\n", 5, "t.yaml", known, NULL, 0), -1);
	assert_int_equal(alert_config__parse(&cfg, "x: [\n", 5, "t.yaml", known, small, 0), -1);
	assert_int_equal(alert_config__load(&cfg, "/nonexistent", known, NULL, 0), -1);
	/* control bytes in a quoted key are not echoed raw */
	assert_int_equal(parse("\"a\\nb\\x1b[31m\": 1\n"), -1);
	assert_non_null(strstr(err, "unknown top-level key 'a?b?[31m'"));
}

/* Either a result or an error with a message: never a crash, a hang or a leak. */
static void expect_no_crash(const char *buf, size_t len)
{
	int ret;

	err[0] = '\0';
	ret = alert_config__parse(&cfg, buf, len, "t.yaml", known, err, sizeof(err));
	assert_true(ret == 0 || ret == -1);
	if (ret)
		assert_true(strncmp(err, "t.yaml:", 7) == 0);
}

static void test_hostile(void **state)
{
	static const char *const units[] = { "[", "{", "- ", "a: ", "{a: ", "[{", "? " };
	const size_t depth = 100000;
	char *buf = malloc(depth * 4 + 64);
	unsigned seed = 42;
	char mut[sizeof(full)];

	assert_non_null(buf);
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		size_t ul = strlen(units[u]), n = 0;

		for (size_t i = 0; i < depth; i++, n += ul)
			memcpy(buf + n, units[u], ul);
		expect_no_crash(buf, n);
		/* and as the value of a real section */
		memcpy(buf, "rules: ", 7);
		expect_no_crash(buf, n);
	}
	/* a block mapping nested by indentation */
	{
		size_t n = 0;

		for (size_t i = 0; i < 800; i++) {
			memset(buf + n, ' ', i);
			n += i;
			memcpy(buf + n, "k:\n", 3);
			n += 3;
		}
		expect_no_crash(buf, n);
	}
	/* random bytes, including NULs and invalid UTF-8 */
	for (int i = 0; i < 2000; i++) {
		size_t n = rand_r(&seed) % 512;

		for (size_t j = 0; j < n; j++)
			buf[j] = (char)rand_r(&seed);
		expect_no_crash(buf, n);
	}
	/* the valid file with a few bytes changed, which reaches deeper than noise */
	for (int i = 0; i < 3000; i++) {
		static const char alphabet[] = ":-[]{}#&*!|>'\"\\ \n\t0.,?%@`\x80\xff";

		memcpy(mut, full, sizeof(full));
		for (int k = rand_r(&seed) % 4; k >= 0; k--)
			mut[rand_r(&seed) % (sizeof(full) - 1)] =
				alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		expect_no_crash(mut, sizeof(full) - 1);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),  cmocka_unit_test(test_full),
		cmocka_unit_test(test_empty),	  cmocka_unit_test(test_errors),
		cmocka_unit_test(test_lengths),	  cmocka_unit_test(test_caps),
		cmocka_unit_test(test_durations), cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_load),	  cmocka_unit_test(test_example),
		cmocka_unit_test(test_err_buffer), cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
