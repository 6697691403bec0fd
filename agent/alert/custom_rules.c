// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Custom threshold rules (see custom_rules.h): the value of a rule is the sum of the samples of
 * its metric whose labels hold every matcher, read from the Prometheus text format. Reading the
 * rendered text is simple and exact; a metric model both /metrics and the rules read would
 * spare rendering it a second time each tick.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alert/custom_rules.h"
#include "export/metrics.h"
#include "export/pg_metrics.h"
#include "export/prom.h"
#include "export/redis_metrics.h"

/* Reads one label value (after the opening quote) with the text format's escapes. */
static const char *label_value(const char *p, char *out, size_t len)
{
	size_t o = 0;

	for (; *p && *p != '"'; p++) {
		char c = *p;

		if (c == '\\' && p[1]) {
			p++;
			c = *p == 'n' ? '\n' : *p;
		}
		if (o + 1 < len)
			out[o++] = c;
	}
	out[o] = '\0';
	return *p == '"' ? p + 1 : NULL;
}

/* Whether a sample line's labels (from the '{') hold every matcher; *rest is after the '}'. */
static bool labels_match(const char *p, const struct acfg_custom *c, const char **rest)
{
	bool ok[ACFG_MAX_MATCH] = { false };
	int hits = 0;

	if (*p == '{') {
		p++;
		while (*p && *p != '}') {
			char name[ALERT_LABEL_NAME_LEN * 2], value[ALERT_LABEL_VALUE_LEN * 2];
			size_t n = strcspn(p, "=");

			if (!p[n] || p[n + 1] != '"')
				return false;
			snprintf(name, sizeof(name), "%.*s", (int)n, p);
			p = label_value(p + n + 2, value, sizeof(value));
			if (!p)
				return false;
			for (int m = 0; m < c->n_match; m++)
				if (!ok[m] && !strcmp(c->match[m].name, name) &&
				    !strcmp(c->match[m].value, value)) {
					ok[m] = true;
					hits++;
				}
			if (*p == ',')
				p++;
		}
		if (*p != '}')
			return false;
		p++;
	}
	*rest = p;
	return hits == c->n_match;
}

/* The sum of the samples of c's metric whose labels match, from exposition text; NAN if none. */
static double custom_sum(const char *text, const struct acfg_custom *c)
{
	size_t mlen = strlen(c->metric);
	double sum = 0;
	bool any = false;

	for (const char *line = text; line && *line;) {
		const char *next = strchr(line, '\n'), *rest;

		if (line[0] != '#' && !strncmp(line, c->metric, mlen) &&
		    (line[mlen] == '{' || line[mlen] == ' ') &&
		    labels_match(line + mlen, c, &rest)) {
			char *end;
			double v = strtod(rest, &end);

			if (end != rest) {
				sum += v;
				any = true;
			}
		}
		line = next ? next + 1 : NULL;
	}
	return any ? sum : NAN;
}

static bool compare(enum acfg_op op, double v, double t)
{
	switch (op) {
	case OP_GT:
		return v > t;
	case OP_GE:
		return v >= t;
	case OP_LT:
		return v < t;
	case OP_LE:
		return v <= t;
	}
	return false;
}

char *custom_rules__text(const struct redis_snapshot *redis, const struct postgres_snapshot *pg,
			 const struct self_stats *self)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct prom p = { .f = f };

	if (!f)
		return NULL;
	if (self)
		metrics__render_self(f, false, self);
	if (redis)
		redis_metrics__render(&p, redis);
	if (pg)
		pg_metrics__render(&p, pg);
	if (fclose(f)) { /* sets errno */
		free(text);
		return NULL;
	}
	if (!text)
		errno = ENOMEM;
	return text;
}

void custom_rules__eval(const struct acfg_custom *c, struct custom_state *st, const char *text,
			uint64_t now_ns, struct verdict *v)
{
	double sum = custom_sum(text, c), x = sum;

	if (c->rate) {
		x = NAN;
		if (st->have_prev && !isnan(sum) && now_ns > st->prev_ns && sum >= st->prev_sum)
			x = (sum - st->prev_sum) / ((now_ns - st->prev_ns) / 1e9);
		st->have_prev = !isnan(sum);
		st->prev_sum = sum;
		st->prev_ns = now_ns;
	}
	*v = (struct verdict){
		.value = x,
		.threshold = c->threshold,
		.fire = !isnan(x) && compare(c->op, x, c->threshold),
		.clear = isnan(x) || !compare(c->op, x, c->clear),
	};
}

void custom_rules__advice(const struct acfg_custom *c, const struct verdict *v,
			  struct rule_text *t)
{
	if (c->summary[0])
		snprintf(t->summary, sizeof(t->summary), "%s", c->summary);
	else
		snprintf(t->summary, sizeof(t->summary), "%s%s %s %g (value %g)", c->metric,
			 c->rate ? " rate" : "", acfg_op__str(c->op), c->threshold, v->value);
	snprintf(t->description, sizeof(t->description),
		 "Custom rule %s (configuration line %d): %s of %s%s, summed over the "
		 "matching series, is %g, %s %g.",
		 c->name, c->line, c->rate ? "the per-second rate" : "the value", c->metric,
		 c->n_match ? " with the given labels" : "", v->value, acfg_op__str(c->op),
		 c->threshold);
}

void custom_rules__key(const struct acfg_custom *c, struct alert *key)
{
	memset(key, 0, sizeof(*key));
	snprintf(key->name, sizeof(key->name), "%s", c->name);
	for (int m = 0; m < c->n_match; m++)
		alert__add_label(key, c->match[m].name, c->match[m].value);
}
