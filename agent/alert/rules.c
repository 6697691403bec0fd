// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The built-in rule table (see rules.h): the domain files joined in evaluation order, the names
 * the configuration may use, what an override makes of a rule's defaults, and the wording
 * helpers every rule's advice shares.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "alert/rules.h"

/* The only list of domain files; a new rule goes into one of them, not here. The order is the
 * evaluation order: latency and errors first, then Redis, PostgreSQL, then the rest. */
static const struct rule_group *const groups[] = {
	&rules_requests,
	&rules_redis,
	&rules_pg,
	&rules_common,
};

int rules__all(const struct rule **out, int max)
{
	int n = 0;

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		for (int i = 0; i < groups[g]->n; i++, n++)
			if (n < max)
				out[n] = &groups[g]->rules[i];
	return n;
}

const char *const *rules__names(void)
{
	static const char *names[RULES_MAX + 1];
	const struct rule *all[RULES_MAX];
	int n = rules__all(all, RULES_MAX);

	if (n > RULES_MAX)
		n = RULES_MAX; /* test_rules fails first */
	for (int i = 0; i < n; i++)
		names[i] = all[i]->name;
	names[n] = NULL;
	return names;
}

int rules__index(const char *name)
{
	const struct rule *all[RULES_MAX];
	int n = rules__all(all, RULES_MAX);

	for (int i = 0; i < n && i < RULES_MAX; i++)
		if (!strcmp(all[i]->name, name))
			return i;
	return -1;
}

static uint64_t secs_ns(double s)
{
	return (uint64_t)(s * 1e9);
}

void rule__effective(const struct rule *r, const struct acfg_override *o, struct rule_eff *out)
{
	const struct rule_defaults *d = &r->defaults;

	out->enabled = true;
	out->severity = d->severity;
	out->t.for_ns = secs_ns(d->for_s);
	out->t.clear_for_ns = secs_ns(d->clear_for_s);
	out->t.keep_resolved_ns = 0;
	out->b.threshold = d->threshold;
	out->b.clear = d->clear;
	if (!o)
		return;
	if (o->fields & ACF_ENABLED)
		out->enabled = o->enabled;
	if (o->fields & ACF_SEVERITY)
		out->severity = o->severity;
	if (o->fields & ACF_FOR)
		out->t.for_ns = o->for_ns;
	if (o->fields & ACF_CLEAR_FOR)
		out->t.clear_for_ns = o->clear_for_ns;
	if (o->fields & ACF_THRESHOLD) {
		/* A moved threshold keeps the built-in hysteresis unless clear is given too: in
		 * proportion (p95 1 s / 0.8 s -> 0.1 s / 0.08 s; scores 4 / 2 -> 6 / 3), or, for a
		 * ratio that fires below its floor, the same gap but never at or past 1 (a hit
		 * ratio floor of 0.95 clears at 0.975, not at a perfect 1.0). */
		double k = d->threshold != 0 ? d->clear / d->threshold : 0;

		out->b.threshold = o->threshold;
		if (k > 0 && k <= 1) {
			out->b.clear = o->threshold * k;
		} else {
			out->b.clear = o->threshold + (d->clear - d->threshold);
			if (d->threshold > 0 && d->threshold < 1 && d->clear > d->threshold)
				out->b.clear = fmin(out->b.clear, (o->threshold + 1) / 2);
		}
	}
	if (o->fields & ACF_CLEAR)
		out->b.clear = o->clear;
}

const char *rule__who(const struct rule_subject *s, char *buf, size_t len)
{
	if (s->scope == SC_REDIS)
		snprintf(buf, len, "Redis %s", s->server);
	else if (s->scope == SC_AGENT)
		snprintf(buf, len, "the agent");
	else if (s->database[0])
		snprintf(buf, len, "PostgreSQL %s database %s", s->server, s->database);
	else
		snprintf(buf, len, "PostgreSQL %s", s->server);
	return buf;
}

const char *rule__fmt_secs(char *buf, size_t len, double s)
{
	if (isnan(s))
		snprintf(buf, len, "n/a");
	else if (s >= 1)
		snprintf(buf, len, "%.2g s", s);
	else if (s >= 0.001)
		snprintf(buf, len, "%.3g ms", s * 1e3);
	else
		snprintf(buf, len, "%.3g us", s * 1e6);
	return buf;
}
