/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One export-neutral model of the metric families the agent publishes: name, type, unit, help,
 * labels, samples, histogram buckets and start time. It is filled from the stats snapshots (and
 * the alert engine's) once per scrape, OTLP push or alert tick, and every consumer reads it:
 * /metrics renders it as Prometheus text, OTLP as protobuf, custom alert rules sum its samples.
 * Nobody renders text to read it back, and no consumer reaches into capture.
 *
 * Memory: everything a model holds (families, samples, label strings, bucket counts) lives in
 * arena blocks owned by the model and freed at once by metric_model__free. A model is built by
 * one thread and then only read, so readers need no lock.
 *
 * Order is insertion order, families and samples alike: the Prometheus text of a model is
 * byte-for-byte what the agent printed before the model existed.
 */
#ifndef NEXUS_METRIC_MODEL_H
#define NEXUS_METRIC_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mm_type {
	MM_COUNTER,   /* monotonic since start_unix_ns; Prometheus name ends in _total */
	MM_GAUGE,     /* a value now */
	MM_HISTOGRAM, /* cumulative buckets since start_unix_ns, plus sum and count */
};

#define MM_MAX_LABELS 12

struct mm_label {
	const char *name;
	const char *value;
};

/* A label set being built on the stack; mm__sample copies it into the model. */
struct mm_labels {
	int n;
	struct mm_label l[MM_MAX_LABELS];
};

/* Optional fine buckets of a histogram sample, for OTLP exponential histograms: n non-empty
 * ranges [lo, hi) of the stats' log-linear histogram (family unit), ascending, and their counts. */
struct mm_exp {
	int n;
	const double *lo, *hi;
	const uint64_t *count;
};

struct mm_sample {
	const struct mm_label *labels; /* in the model's arena */
	int n_labels;
	double value; /* counters and gauges */
	/* Histograms: buckets[i] is the cumulative count of values <= family->bounds[i]; the +Inf
	 * bucket is count. sum is in the family's unit. */
	const uint64_t *buckets;
	uint64_t count;
	double sum;
	const struct mm_exp *exp; /* NULL unless the filler has fine buckets (zeroed by mm__*) */
};

struct mm_family {
	const char *name; /* the Prometheus name (a counter's with _total) */
	const char *help;
	const char *unit; /* UCUM, as OTLP wants it: "s", "By", "1", "{command}" */
	enum mm_type type;
	const double *bounds; /* histograms: upper bounds, ascending, +Inf implicit; static storage */
	int n_bounds;
	struct mm_sample *samples;
	int n_samples, cap_samples;
};

struct mm_block;

struct metric_model {
	uint64_t start_unix_ns; /* when every cumulative series started: the agent's start */
	uint64_t time_unix_ns;	/* when the model was filled */
	struct mm_family *families;
	int n_families, cap_families;
	struct mm_block *blocks; /* the arena */
	bool oom;		 /* an allocation failed: some samples are missing */
};

/* An empty model; start and time in unix ns. */
void metric_model__init(struct metric_model *m, uint64_t start_unix_ns, uint64_t time_unix_ns);
void metric_model__free(struct metric_model *m);

/* Starts a family; the samples added next belong to it. Strings must outlive the model (they are
 * literals everywhere today). Returns NULL only when out of memory (later samples are dropped). */
struct mm_family *mm__family(struct metric_model *m, const char *name, enum mm_type type,
			     const char *unit, const char *help);
/* Same, for a histogram with the given bucket bounds (static storage). */
struct mm_family *mm__histogram_family(struct metric_model *m, const char *name, const char *unit,
				       const char *help, const double *bounds, int n_bounds);

static inline void mm_labels__reset(struct mm_labels *ls)
{
	ls->n = 0;
}

/* Appends name="value" (both copied when the sample is added); past MM_MAX_LABELS it is ignored. */
static inline void mm_labels__add(struct mm_labels *ls, const char *name, const char *value)
{
	if (ls->n < MM_MAX_LABELS)
		ls->l[ls->n++] = (struct mm_label){ .name = name, .value = value };
}

/* A counter or gauge sample of the current family; labels may be NULL. */
void mm__sample(struct metric_model *m, const struct mm_labels *labels, double value);
/* A family of one unlabelled counter or gauge sample: mm__family, then mm__sample. */
void mm__single(struct metric_model *m, const char *name, enum mm_type type, const char *unit,
		const char *help, double value);
/* A histogram sample of the current family: bucket counts (family->n_bounds of them, cumulative),
 * count and sum. */
void mm__histogram(struct metric_model *m, const struct mm_labels *labels, const uint64_t *buckets,
		   uint64_t count, double sum);

/* Fine buckets for the histogram sample just added (OTLP exponential histograms): n ranges
 * [lo, hi) (family unit) and their counts, copied into the arena. Ignored without such a sample. */
void mm__histogram_exp(struct metric_model *m, int n, const double *lo, const double *hi,
		       const uint64_t *count);

/* Look-ups for readers. */
const struct mm_family *metric_model__find(const struct metric_model *m, const char *name);
/* The value of a sample's label, NULL if it has none of that name. */
const char *mm_sample__label(const struct mm_sample *s, const char *name);

#endif /* NEXUS_METRIC_MODEL_H */
