// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Custom threshold rules (see custom_rules.h): the value of a rule is the sum of the samples of
 * its metric whose labels hold every matcher, read from the metric model /metrics renders. A
 * histogram's _bucket (with its `le`), _sum and _count series are matched as the text format
 * spells them, so a rule written against what a scraper sees means the same here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alert/custom_rules.h"

/* Whether a sample's labels, plus `le` for a bucket (NULL otherwise), hold every matcher. */
static bool labels_match(const struct mm_sample *s, const char *le, const struct acfg_custom *c)
{
	for (int i = 0; i < c->n_match; i++) {
		const char *v = !strcmp(c->match[i].name, "le") ? le
								: mm_sample__label(s, c->match[i].name);

		if (!v || strcmp(v, c->match[i].value))
			return false;
	}
	return true;
}

enum hist_part { PART_BUCKET, PART_SUM, PART_COUNT };

/* The histogram family whose _bucket, _sum or _count series name is; NULL if none. */
static const struct mm_family *histogram_of(const struct metric_model *m, const char *name,
					    enum hist_part *part)
{
	static const struct {
		const char *suffix;
		enum hist_part part;
	} parts[] = { { "_bucket", PART_BUCKET }, { "_sum", PART_SUM }, { "_count", PART_COUNT } };
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		size_t k = strlen(parts[i].suffix);
		char base[ACFG_METRIC_LEN];
		const struct mm_family *f;

		if (n <= k || n - k >= sizeof(base) || strcmp(name + n - k, parts[i].suffix))
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(n - k), name);
		f = metric_model__find(m, base);
		if (f && f->type == MM_HISTOGRAM) {
			*part = parts[i].part;
			return f;
		}
	}
	return NULL;
}

static void add_histogram(const struct mm_family *f, enum hist_part part,
			  const struct acfg_custom *c, double *sum, bool *any)
{
	for (int j = 0; j < f->n_samples; j++) {
		const struct mm_sample *s = &f->samples[j];

		if (part != PART_BUCKET) {
			if (labels_match(s, NULL, c)) {
				*sum += part == PART_SUM ? s->sum : (double)s->count;
				*any = true;
			}
			continue;
		}
		for (int b = 0; b <= f->n_bounds; b++) {
			char le[32] = "+Inf";

			if (b < f->n_bounds)
				snprintf(le, sizeof(le), "%g", f->bounds[b]);
			if (labels_match(s, le, c)) {
				*sum += b < f->n_bounds ? s->buckets[b] : s->count;
				*any = true;
			}
		}
	}
}

/* The sum of the samples of c's metric whose labels match; NAN if none. */
static double custom_sum(const struct metric_model *m, const struct acfg_custom *c)
{
	const struct mm_family *f = metric_model__find(m, c->metric);
	enum hist_part part;
	double sum = 0;
	bool any = false;

	if (f && f->type != MM_HISTOGRAM) {
		for (int j = 0; j < f->n_samples; j++)
			if (labels_match(&f->samples[j], NULL, c)) {
				sum += f->samples[j].value;
				any = true;
			}
	} else if (!f && (f = histogram_of(m, c->metric, &part))) {
		add_histogram(f, part, c, &sum, &any);
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

void custom_rules__eval(const struct acfg_custom *c, struct custom_state *st,
			const struct metric_model *m, uint64_t now_ns, struct verdict *v)
{
	double sum = custom_sum(m, c), x = sum;

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
