/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * An online baseline of one series sampled once per tick (1 s): what normal looks like, learned
 * as it goes, robust to outliers, in fixed memory whatever the uptime. Each sample gets an
 * anomaly score against the baseline as it stood before the sample.
 */
#ifndef NEXUS_BASELINE_H
#define NEXUS_BASELINE_H
#include <stdbool.h>
#include <stdint.h>

struct baseline_cfg {
	uint32_t warmup;	/* samples before the baseline judges anything (score 0 until then) */
	double half_life;	/* samples after which an old sample weighs half (adaptation speed) */
	double min_abs_effect;	/* |x - centre| below this is never anomalous (e.g. 0.0005 s of p95) */
	double min_rel_effect;	/* nor below this fraction of the centre (e.g. 0.5 = +50%) */
	double clip;		/* samples are winsorised at centre ± clip * scale before learning */
};

struct baseline {
	uint64_t n;	/* samples seen */
	double centre;	/* robust location (an EWMA-tracked median) */
	double scale;	/* robust spread (an EWMA-tracked mean absolute deviation, MAD-like) */
	/* implementation state; fixed size */
	double aux[4];
};

/* Defaults for a series kind; see baseline.c for why each value. */
void baseline_cfg__default(struct baseline_cfg *cfg);
void baseline__init(struct baseline *b);
bool baseline__warm(const struct baseline *b, const struct baseline_cfg *cfg);
/*
 * Scores x against the baseline, then learns from it. The score is a signed robust z
 * ((x - centre) / scale, scale floored so the minimum effects hold): 0 while warming up and
 * whenever |x - centre| is under either minimum effect. NaN samples are ignored (score 0).
 */
double baseline__update(struct baseline *b, const struct baseline_cfg *cfg, double x);
/* The score alone, learning nothing: for samples the caller knows are never normal. */
double baseline__score(const struct baseline *b, const struct baseline_cfg *cfg, double x);

/* |score| never exceeds this: a series with no spread at all (constant, min_abs_effect 0 and a
 * centre of 0) scores ±BASELINE_SCORE_MAX instead of ±inf when it moves. */
#define BASELINE_SCORE_MAX 1000.0

#endif /* NEXUS_BASELINE_H */
