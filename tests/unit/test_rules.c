// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The built-in rule table (agent/alert/rules.h): every entry complete (name, defaults, what it
 * applies to, eval, advice), names unique and the same as the README's "Built-in rules" table
 * (with its severity, for and clear_for), and every rule quiet on a subject with no figures
 * while its advice still names the subject.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "alert/engine.h"
#include "alert/rules.h"

static const struct rule *all[RULES_MAX];
static int n_all;

static int setup(void **state)
{
	n_all = rules__all(all, RULES_MAX);
	return n_all > RULES_MAX; /* room in the engine for every rule */
}

static void test_entries(void **state)
{
	static const struct rule_defaults none;

	assert_true(n_all > 0 && n_all <= RULES_MAX);
	for (int i = 0; i < n_all; i++) {
		const struct rule *r = all[i];
		const struct rule_defaults *d = &r->defaults;

		assert_non_null(r->name);
		if (!r->name[0] || strlen(r->name) >= ALERT_NAME_LEN)
			fail_msg("rule %d: name '%s'", i, r->name);
		for (const char *p = r->name; *p; p++)
			if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
				fail_msg("%s: not a snake_case name", r->name);
		/* An entry without .defaults is all zero: an info alert at 0 that fires and
		 * resolves in the same second. No rule means that. */
		if (!memcmp(d, &none, sizeof(none)))
			fail_msg("%s: no defaults", r->name);
		if ((unsigned)d->severity >= SEV__COUNT || !(d->for_s >= 0) ||
		    !(d->clear_for_s >= 0) || isnan(d->threshold) || isnan(d->clear))
			fail_msg("%s: bad defaults", r->name);
		if (!r->eval || !r->advice)
			fail_msg("%s: no eval or no advice", r->name);
		if (!r->applies.scopes || (r->applies.scopes & ~(unsigned)SC__ALL))
			fail_msg("%s: applies to nothing, or to an unknown scope", r->name);
		if (r->applies.usdt && (r->applies.scopes & ~(unsigned)SC_PG_ANSWERS))
			fail_msg("%s: USDT figures exist for PostgreSQL only", r->name);
		if (r->applies.absent && (r->applies.scopes & ~(unsigned)SC_SERVERS))
			fail_msg("%s: only servers can leave the snapshots", r->name);
		for (int j = 0; j < i; j++)
			if (!strcmp(all[j]->name, r->name))
				fail_msg("%s: twice in the table", r->name);
		assert_int_equal(rules__index(r->name), i);
	}
	assert_int_equal(rules__index("no_such_rule"), -1);
	/* the health score takes its bounds from these (engine.c, by name) */
	assert_true(rules__index("latency_p95_high") >= 0);
	assert_true(rules__index("latency_p95_critical") >= 0);
	assert_true(rules__index("redis_hit_ratio_low") >= 0);
	assert_true(rules__index("postgres_buffer_hit_ratio_low") >= 0);
}

/* engine__rule_names (what the configuration file may name) is the table, in order. */
static void test_names(void **state)
{
	const char *const *names = engine__rule_names();
	int n = 0;

	for (; names[n]; n++) {
		assert_true(n < n_all);
		assert_string_equal(names[n], all[n]->name);
	}
	assert_int_equal(n, n_all);
}

/* "5 s" -> 5, "0" -> 0; the last "(N s)" of a resolve column -> N, none ("it is back") -> 0. */
static double readme_secs(const char *col, bool in_parens)
{
	const char *p = col;

	if (in_parens) {
		const char *q = NULL;

		for (const char *o = strchr(col, '('); o; o = strchr(o + 1, '('))
			if (isdigit((unsigned char)o[1]))
				q = o + 1;
		if (!q)
			return 0;
		p = q;
	}
	return strtod(p, NULL);
}

static void trim(char *s)
{
	size_t n = strlen(s), b = strspn(s, " ");

	while (n > b && (s[n - 1] == ' ' || s[n - 1] == '\n'))
		n--;
	memmove(s, s + b, n - b);
	s[n - b] = '\0';
}

/* The README's table of built-in rules is the table: same names, severities and durations. */
static void test_readme(void **state)
{
	const char *slash = strrchr(__FILE__, '/');
	char path[4096], line[2048];
	bool in_table = false, seen[RULES_MAX] = { false };
	int rows = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%.*s/../../README.md", slash ? (int)(slash - __FILE__) : 1,
		 slash ? __FILE__ : ".");
	f = fopen(path, "r");
	if (!f)
		f = fopen("README.md", "r");
	if (!f)
		fail_msg("README.md not found (from %s)", path);
	while (fgets(line, sizeof(line), f)) {
		char *col[6] = { NULL }, *save = NULL, name[ALERT_NAME_LEN];
		int n = 0, i;

		if (!strncmp(line, "**Built-in rules**", 18)) {
			in_table = true;
			continue;
		}
		if (!in_table)
			continue;
		if (line[0] != '|') {
			if (rows)
				break; /* the end of the table */
			continue;
		}
		if (!strncmp(line, "| rule ", 7) || !strncmp(line, "| ---", 5))
			continue;
		for (char *c = strtok_r(line + 1, "|", &save); c && n < 6;
		     c = strtok_r(NULL, "|", &save))
			col[n++] = c;
		if (n < 5)
			fail_msg("README rule row with %d columns", n);
		for (i = 0; i < 5; i++)
			trim(col[i]);
		if (col[0][0] != '`' || sscanf(col[0], "`%63[a-z0-9_]`", name) != 1)
			fail_msg("README rule row without a `name`: %s", col[0]);
		rows++;
		i = rules__index(name);
		if (i < 0)
			fail_msg("README names %s, the table does not", name);
		if (seen[i])
			fail_msg("README names %s twice", name);
		seen[i] = true;
		if (strcmp(col[1], alert_severity__str(all[i]->defaults.severity)))
			fail_msg("%s: README says %s, the table %s", name, col[1],
				 alert_severity__str(all[i]->defaults.severity));
		if (readme_secs(col[3], false) != all[i]->defaults.for_s)
			fail_msg("%s: README for is '%s', the table %g s", name, col[3],
				 all[i]->defaults.for_s);
		if (readme_secs(col[4], true) != all[i]->defaults.clear_for_s)
			fail_msg("%s: README clear_for is '%s', the table %g s", name, col[4],
				 all[i]->defaults.clear_for_s);
	}
	fclose(f);
	for (int i = 0; i < n_all; i++)
		if (!seen[i])
			fail_msg("%s is not in the README's Built-in rules table", all[i]->name);
	assert_int_equal(rows, n_all);
}

static const enum rule_scope scopes[] = { SC_REDIS, SC_PG_SERVER, SC_PG_SERVER_ONLY,
					  SC_PG_DATABASE, SC_AGENT };

/* A subject of one scope with no figures at all: NAN signals, baselines that know nothing. */
static void quiet_subject(struct rule_subject *s, enum rule_scope scope, double *sig,
			  double *score, struct baseline *base, struct baseline_cfg *bcfg)
{
	for (int i = 0; i < S__COUNT; i++) {
		sig[i] = score[i] = NAN;
		baseline__init(&base[i]);
		baseline_cfg__default(&bcfg[i]);
	}
	*s = (struct rule_subject){
		.scope = scope,
		.kind = scope == SC_REDIS ? "redis" : scope == SC_AGENT ? "agent" : "postgres",
		.server = scope == SC_AGENT ? "" : "10.9.8.7:4242",
		.database = scope == SC_PG_DATABASE ? "app" : "",
		.present = true,
		.usdt = true,
		.sig = scope == SC_AGENT ? NULL : sig,
		.score = scope == SC_AGENT ? NULL : score,
		.base = scope == SC_AGENT ? NULL : base,
		.bcfg = scope == SC_AGENT ? NULL : bcfg,
		.limit = 100,
	};
}

/* No figures, no alert: every rule stays quiet (and lets an alert clear) on every subject it
 * applies to; its advice still words an alert, naming the server. */
static void test_quiet_and_advice(void **state)
{
	double sig[S__COUNT], score[S__COUNT];
	struct baseline base[S__COUNT];
	struct baseline_cfg bcfg[S__COUNT];

	for (int i = 0; i < n_all; i++) {
		const struct rule *r = all[i];
		struct rule_bounds b = { r->defaults.threshold, r->defaults.clear };

		for (size_t k = 0; k < sizeof(scopes) / sizeof(scopes[0]); k++) {
			struct rule_subject s;
			struct verdict v = { .clear = true, .value = NAN,
					     .threshold = r->defaults.score ? NAN : b.threshold };
			struct rule_text t;

			if (!(r->applies.scopes & scopes[k]))
				continue;
			quiet_subject(&s, scopes[k], sig, score, base, bcfg);
			r->eval(&s, &b, &v);
			if (v.fire || !v.clear)
				fail_msg("%s fires (or holds) without figures", r->name);
			memset(&t, 0, sizeof(t));
			r->advice(&s, &b, &v, &t);
			if (!t.summary[0] || !t.description[0])
				fail_msg("%s: no summary or no description", r->name);
			if (scopes[k] != SC_AGENT && !strstr(t.summary, "10.9.8.7:4242"))
				fail_msg("%s: the summary does not name the server: %s", r->name,
					 t.summary);
			if (scopes[k] == SC_PG_DATABASE && !strstr(t.summary, "database app"))
				fail_msg("%s: the summary does not name the database: %s", r->name,
					 t.summary);
		}
	}
}

/* What the configuration makes of a rule's defaults (engine.c applies it). */
static void test_effective(void **state)
{
	const struct rule *p95 = all[rules__index("latency_p95_high")];
	const struct rule *hit = all[rules__index("postgres_buffer_hit_ratio_low")];
	struct acfg_override o = { .fields = ACF_THRESHOLD };
	struct rule_eff eff;

	rule__effective(p95, NULL, &eff);
	assert_true(eff.enabled);
	assert_int_equal(eff.severity, SEV_WARNING);
	assert_true(eff.t.for_ns == 5000000000ULL && eff.t.clear_for_ns == 5000000000ULL);
	assert_true(eff.b.threshold == 1.0 && eff.b.clear == 0.8);
	/* a moved threshold keeps the hysteresis in proportion ... */
	o.threshold = 0.1;
	rule__effective(p95, &o, &eff);
	assert_true(eff.b.threshold == 0.1 && fabs(eff.b.clear - 0.08) < 1e-12);
	/* ... or, for a floor, the same gap but never at 1 */
	o.threshold = 0.99;
	rule__effective(hit, &o, &eff);
	assert_true(eff.b.threshold == 0.99 && fabs(eff.b.clear - 0.995) < 1e-12);
	o.fields |= ACF_CLEAR | ACF_ENABLED | ACF_SEVERITY;
	o.clear = 0.992;
	o.severity = SEV_CRITICAL;
	rule__effective(hit, &o, &eff);
	assert_false(eff.enabled);
	assert_int_equal(eff.severity, SEV_CRITICAL);
	assert_true(eff.b.clear == 0.992);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_readme),
		cmocka_unit_test(test_quiet_and_advice),
		cmocka_unit_test(test_effective),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
