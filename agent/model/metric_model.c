// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include "model/metric_model.h"

/* The arena: blocks of at least MM_BLOCK bytes, bump-allocated, freed together. A model of a
 * busy node (a few thousand samples) takes a few hundred KiB. */
#define MM_BLOCK ((size_t)64 * 1024)

struct mm_block {
	struct mm_block *next;
	size_t used, size;
	_Alignas(16) unsigned char data[];
};

static void *arena_alloc(struct metric_model *m, size_t n)
{
	struct mm_block *b = m->blocks;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (!b || b->size - b->used < n) {
		size_t size = n > MM_BLOCK ? n : MM_BLOCK;

		b = malloc(sizeof(*b) + size);
		if (!b) {
			m->oom = true;
			return NULL;
		}
		b->next = m->blocks;
		b->used = 0;
		b->size = size;
		m->blocks = b;
	}
	p = b->data + b->used;
	b->used += n;
	return p;
}

static const char *arena_strdup(struct metric_model *m, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(m, n);

	if (p)
		memcpy(p, s, n);
	return p;
}

void metric_model__init(struct metric_model *m, uint64_t start_unix_ns, uint64_t time_unix_ns)
{
	*m = (struct metric_model){ .start_unix_ns = start_unix_ns, .time_unix_ns = time_unix_ns };
}

void metric_model__free(struct metric_model *m)
{
	struct mm_block *b = m->blocks;

	for (int i = 0; i < m->n_families; i++)
		free(m->families[i].samples);
	free(m->families);
	while (b) {
		struct mm_block *next = b->next;

		free(b);
		b = next;
	}
	*m = (struct metric_model){ 0 };
}

static struct mm_family *add_family(struct metric_model *m, const struct mm_family *f)
{
	if (m->n_families == m->cap_families) {
		int cap = m->cap_families ? m->cap_families * 2 : 64;
		struct mm_family *n = realloc(m->families, cap * sizeof(*n));

		if (!n) {
			m->oom = true;
			return NULL;
		}
		m->families = n;
		m->cap_families = cap;
	}
	m->families[m->n_families] = *f;
	return &m->families[m->n_families++];
}

struct mm_family *mm__family(struct metric_model *m, const char *name, enum mm_type type,
			     const char *unit, const char *help)
{
	return add_family(m, &(struct mm_family){
				     .name = name, .help = help, .unit = unit, .type = type });
}

struct mm_family *mm__histogram_family(struct metric_model *m, const char *name, const char *unit,
				       const char *help, const double *bounds, int n_bounds)
{
	return add_family(m, &(struct mm_family){ .name = name,
						  .help = help,
						  .unit = unit,
						  .type = MM_HISTOGRAM,
						  .bounds = bounds,
						  .n_bounds = n_bounds });
}

/* A new sample of the newest family with its labels copied; NULL when out of memory. */
static struct mm_sample *add_sample(struct metric_model *m, const struct mm_labels *ls)
{
	struct mm_family *f;
	struct mm_sample *s;
	struct mm_label *l = NULL;
	int n = ls ? ls->n : 0;

	if (!m->n_families)
		return NULL;
	f = &m->families[m->n_families - 1];
	if (f->n_samples == f->cap_samples) {
		int cap = f->cap_samples ? f->cap_samples * 2 : 8;
		struct mm_sample *ns = realloc(f->samples, cap * sizeof(*ns));

		if (!ns) {
			m->oom = true;
			return NULL;
		}
		f->samples = ns;
		f->cap_samples = cap;
	}
	if (n) {
		l = arena_alloc(m, n * sizeof(*l));
		if (!l)
			return NULL;
		for (int i = 0; i < n; i++) {
			l[i].name = arena_strdup(m, ls->l[i].name);
			l[i].value = arena_strdup(m, ls->l[i].value ? ls->l[i].value : "");
			if (!l[i].name || !l[i].value)
				return NULL;
		}
	}
	s = &f->samples[f->n_samples++];
	*s = (struct mm_sample){ .labels = l, .n_labels = n };
	return s;
}

void mm__sample(struct metric_model *m, const struct mm_labels *labels, double value)
{
	struct mm_sample *s = add_sample(m, labels);

	if (s)
		s->value = value;
}

void mm__single(struct metric_model *m, const char *name, enum mm_type type, const char *unit,
		const char *help, double value)
{
	mm__family(m, name, type, unit, help);
	mm__sample(m, NULL, value);
}

void mm__histogram(struct metric_model *m, const struct mm_labels *labels, const uint64_t *buckets,
		   uint64_t count, double sum)
{
	const struct mm_family *f = m->n_families ? &m->families[m->n_families - 1] : NULL;
	uint64_t *b;
	struct mm_sample *s;

	if (!f || f->type != MM_HISTOGRAM)
		return;
	b = arena_alloc(m, f->n_bounds * sizeof(*b));
	if (!b)
		return;
	memcpy(b, buckets, f->n_bounds * sizeof(*b));
	s = add_sample(m, labels);
	if (!s)
		return;
	s->buckets = b;
	s->count = count;
	s->sum = sum;
}

void mm__histogram_exp(struct metric_model *m, int n, const double *lo, const double *hi,
		       const uint64_t *count)
{
	struct mm_family *f = m->n_families ? &m->families[m->n_families - 1] : NULL;
	struct mm_sample *s;
	struct mm_exp *e;
	double *los, *his;
	uint64_t *counts;

	if (!f || f->type != MM_HISTOGRAM || !f->n_samples || n <= 0)
		return;
	s = &f->samples[f->n_samples - 1];
	e = arena_alloc(m, sizeof(*e));
	los = arena_alloc(m, n * sizeof(*los));
	his = arena_alloc(m, n * sizeof(*his));
	counts = arena_alloc(m, n * sizeof(*counts));
	if (!e || !los || !his || !counts)
		return;
	memcpy(los, lo, n * sizeof(*los));
	memcpy(his, hi, n * sizeof(*his));
	memcpy(counts, count, n * sizeof(*counts));
	*e = (struct mm_exp){ .n = n, .lo = los, .hi = his, .count = counts };
	s->exp = e;
}

const struct mm_family *metric_model__find(const struct metric_model *m, const char *name)
{
	for (int i = 0; i < m->n_families; i++)
		if (!strcmp(m->families[i].name, name))
			return &m->families[i];
	return NULL;
}

const char *mm_sample__label(const struct mm_sample *s, const char *name)
{
	for (int i = 0; i < s->n_labels; i++)
		if (!strcmp(s->labels[i].name, name))
			return s->labels[i].value;
	return NULL;
}
