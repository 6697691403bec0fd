// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <string.h>
#include "export/prom.h"

static const char *type_names[] = {
	[MM_COUNTER] = "counter",
	[MM_GAUGE] = "gauge",
	[MM_HISTOGRAM] = "histogram",
};

bool prom__wants_openmetrics(const char *accept)
{
	return accept && strstr(accept, "application/openmetrics-text") != NULL;
}

void prom__family(struct prom *p, const char *name, const char *type, const char *help)
{
	size_t n = strlen(name);

	/* OpenMetrics names the counter family without the _total its samples carry. */
	if (p->openmetrics && !strcmp(type, "counter") && n > 6 && !strcmp(name + n - 6, "_total"))
		n -= 6;
	fprintf(p->f, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)n, name, help, (int)n, name, type);
}

void prom__sample(struct prom *p, const char *name, const char *labels, double value)
{
	fprintf(p->f, "%s", name);
	if (labels && *labels)
		fprintf(p->f, "{%s}", labels);
	if (isnan(value))
		fprintf(p->f, " NaN\n");
	else if (isinf(value))
		fprintf(p->f, value > 0 ? " +Inf\n" : " -Inf\n");
	else if (value == (double)(long long)value && fabs(value) < 1e15)
		fprintf(p->f, " %lld\n", (long long)value);
	else
		fprintf(p->f, " %.15g\n", value);
}

void prom__label(char *buf, size_t len, const char *name, const char *value)
{
	size_t o = strlen(buf);

	if (o && o + 1 < len)
		buf[o++] = ',';
	o += snprintf(buf + o, o < len ? len - o : 0, "%s=\"", name);
	for (; *value && o + 3 < len; value++) {
		/* The text format escapes exactly these three in label values. */
		if (*value == '\\' || *value == '"') {
			buf[o++] = '\\';
			buf[o++] = *value;
		} else if (*value == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *value;
		}
	}
	if (o + 1 < len) {
		buf[o++] = '"';
		buf[o] = '\0';
	} else if (len) {
		buf[len - 1] = '\0';
	}
}

void prom__end(struct prom *p)
{
	if (p->openmetrics)
		fprintf(p->f, "# EOF\n");
}

static void labels_text(char *buf, size_t len, const struct mm_sample *s)
{
	buf[0] = '\0';
	for (int i = 0; i < s->n_labels; i++)
		prom__label(buf, len, s->labels[i].name, s->labels[i].value);
}

/* A histogram sample as the text format spells it: cumulative _bucket lines with `le` last, the
 * +Inf bucket (the count), then _sum and _count. */
static void histogram_text(struct prom *p, const struct mm_family *f, const struct mm_sample *s)
{
	char base[PROM_LABELS_LEN], labels[PROM_LABELS_LEN], name[160], le[32];

	labels_text(base, sizeof(base), s);
	snprintf(name, sizeof(name), "%s_bucket", f->name);
	for (int i = 0; i <= f->n_bounds; i++) {
		snprintf(labels, sizeof(labels), "%s", base);
		if (i < f->n_bounds)
			snprintf(le, sizeof(le), "%g", f->bounds[i]);
		prom__label(labels, sizeof(labels), "le", i < f->n_bounds ? le : "+Inf");
		prom__sample(p, name, labels, i < f->n_bounds ? s->buckets[i] : s->count);
	}
	snprintf(name, sizeof(name), "%s_sum", f->name);
	prom__sample(p, name, base, s->sum);
	snprintf(name, sizeof(name), "%s_count", f->name);
	prom__sample(p, name, base, s->count);
}

void prom__render_model(struct prom *p, const struct metric_model *m)
{
	char labels[PROM_LABELS_LEN];

	for (int i = 0; i < m->n_families; i++) {
		const struct mm_family *f = &m->families[i];

		prom__family(p, f->name, type_names[f->type], f->help);
		for (int j = 0; j < f->n_samples; j++) {
			const struct mm_sample *s = &f->samples[j];

			if (f->type == MM_HISTOGRAM) {
				histogram_text(p, f, s);
				continue;
			}
			labels_text(labels, sizeof(labels), s);
			prom__sample(p, f->name, labels, s->value);
		}
	}
}
