// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * baseline: an online robust location/spread of one series in five doubles.
 *
 * Method (a winsorised EWMA, i.e. an online Huber M-estimator, plus a shift detector):
 *
 *   w      = max(1/n, a),  a = 1 - 2^(-1/half_life)
 *   s'     = max(scale, floor),  floor = max(min_abs_effect, min_rel_effect * |centre|) / 3
 *   d      = x - centre
 *   score  = d / s'   (0 while warming up or when |d| is under either minimum effect)
 *   centre += w * (clamp(x, centre - clip * s', centre + clip * s') - centre)
 *   scale  += w * (1.2533 * min(|d|, clip * s') - scale)
 *   p      += w * (sign(d) - p)        (aux[0]: which side of the centre samples fall on)
 *   once warm, while |p| > 1/2 the clamp is lifted on p's side
 *
 * Why this and not a plain EWMA/stddev or a stochastic median:
 * - Winsorising before learning bounds what one sample can do: a single outlier moves the centre
 *   by at most a * clip * s' (0.7% of s' at the defaults), and a one-minute burst at 10x moves
 *   it by under half of s' (7% of the level for a ±5% series). Inside the band the sample counts
 *   with its full size, so on ordinary noise this converges as fast as a mean (a sign-step median
 *   wastes a third of the information on Gaussian noise).
 * - The spread is the EWMA of the (clipped) absolute deviation, scaled by sqrt(pi/2) = 1.2533 so
 *   that on Gaussian noise it equals the standard deviation: a score reads as a z-score. (1.4826
 *   is the factor for the *median* absolute deviation; this is a mean of clipped deviations.)
 * - The floor keeps a quiet or constant series from producing huge scores: it is a third of the
 *   smallest deviation the minimum effects let through, so a deviation that just passes them
 *   scores at most 3 (and a constant series scores exactly ±3 there, never inf). With no minimum
 *   effect at all (min_abs_effect 0, centre 0) nothing bounds it; the score is then capped at
 *   ±BASELINE_SCORE_MAX. The same floored spread sets the clamp band, so samples inside the
 *   minimum effects are never clipped.
 * - Level shifts: a clipped sample still pulls the centre by a * clip * s' and the spread grows
 *   by a factor 1 + a * (1.2533 * clip - 1) per sample, so even the Huber part adapts, slowly.
 *   On its own that takes about log(shift / scale) / a samples, unbounded for a series that had
 *   no spread. p fixes that: on symmetric noise it stays near 0 (wobbling by about ±0.03 at
 *   the defaults), but when every sample falls on the same side it passes 1/2 after exactly
 *   one half-life. From then on the samples on that side are learned unclipped, i.e. the centre
 *   follows the new level as a plain EWMA with the configured half-life. A permanent change is
 *   accepted after about one half-life of one-sided samples plus one to three half-lives of
 *   convergence until the minimum effects hide the rest. tests/unit/test_baseline.c pins, at
 *   the defaults: a 10x step up scores under 3 after 2 half-lives and 0 after 3; back down,
 *   under 3 after 1 and 0 after 4 (min_rel_effect is relative to a centre that has further to
 *   fall). The other side stays clamped, so an outlier against the shift cannot drag it. The
 *   price: an incident longer than one half-life starts becoming the new normal; give series
 *   whose incidents last longer a longer half-life. A strongly skewed series can hold |p| near
 *   or past 1/2 for good (most samples sit on the bulk's side of a centre the tail pulls
 *   away); that only unclamps the bulk's side, where there are no outliers, and moves the
 *   centre towards the median.
 * - Start-up: the first three samples are kept (aux[1..3]); the centre starts at their median
 *   and the spread at 1.4826 times their median absolute deviation, so one wild sample among
 *   them does not become the baseline. After that w = 1/n makes the estimate a running
 *   (winsorised) mean, which hands over smoothly to the EWMA once 1/n falls below a (n > 1/a,
 *   433 samples at half_life 300). The shift detector only acts once warm.
 * - Memory: n, centre, scale and aux[4], whatever the uptime.
 */
#include <math.h>
#include "alert/baseline.h"

#define SQRT_PI_2 1.2533141373155003 /* sigma / E|x - mu| for a Gaussian */
#define MAD_K 1.4826		     /* sigma / median|x - median| for a Gaussian */
#define FLOOR_Z 3.0		     /* a deviation at the minimum effect scores at most this */
#define SHIFT_P 0.5		     /* |p| past this: the series has moved, learn it */

/* aux[] layout */
#define AUX_P 0 /* EWMA of sign(x - centre) */
#define AUX_FIRST 1 /* aux[1..3]: the first three samples, used once */

/*
 * Defaults, unit-free; the engine sets min_abs_effect per series kind (e.g. 0.0005 s for p95).
 * - warmup 30: half a minute of 1 Hz samples gives the centre a standard error of about
 *   0.2 standard deviations, and a restarted agent judges again within 30 s.
 * - half_life 300: a 1-minute incident barely moves the baseline (see above), while a permanent
 *   change stops scoring within 15-20 minutes and scores under 3 well before.
 * - clip 3: ±3 sigma lets 99.7% of Gaussian noise through unclipped (no bias on normal data)
 *   and limits one sample's pull to 3 sigma times the EWMA weight.
 * - min_abs_effect 0: there is no unit-free absolute value; see above.
 * - min_rel_effect 0.5: operators do not act on a latency or rate that moved by less than half
 *   of its usual level (diurnal swings, GC pauses); an anomaly must be 1.5x or 0.5x the usual.
 */
void baseline_cfg__default(struct baseline_cfg *cfg)
{
	cfg->warmup = 30;
	cfg->half_life = 300;
	cfg->min_abs_effect = 0;
	cfg->min_rel_effect = 0.5;
	cfg->clip = 3;
}

void baseline__init(struct baseline *b)
{
	*b = (struct baseline){0};
}

bool baseline__warm(const struct baseline *b, const struct baseline_cfg *cfg)
{
	return b->n >= cfg->warmup;
}

/* EWMA weight for a half-life in samples: 1 - 2^(-1/h); no memory for a non-positive h. */
static double ewma_weight(double half_life)
{
	if (!(half_life > 0))
		return 1;
	return -expm1(-M_LN2 / half_life);
}

static double scale_floor(const struct baseline_cfg *cfg, double centre)
{
	double f = fmax(cfg->min_abs_effect, cfg->min_rel_effect * fabs(centre)) / FLOOR_Z;

	return f > 0 ? f : 0;
}

static double score_of(const struct baseline *b, const struct baseline_cfg *cfg, double x)
{
	double d = x - b->centre, ad = fabs(d), s, z;

	if (ad == 0 || ad < cfg->min_abs_effect || ad < cfg->min_rel_effect * fabs(b->centre))
		return 0;
	s = fmax(b->scale, scale_floor(cfg, b->centre));
	z = s > 0 ? d / s : copysign(BASELINE_SCORE_MAX, d);
	return fmax(-BASELINE_SCORE_MAX, fmin(BASELINE_SCORE_MAX, z));
}

static void start(struct baseline *b, double x)
{
	double *v = &b->aux[AUX_FIRST], lo, mid, hi;

	v[b->n - 1] = x;
	switch (b->n) {
	case 1:
		b->centre = x;
		b->scale = 0;
		break;
	case 2:
		b->centre = (v[0] + v[1]) / 2;
		b->scale = SQRT_PI_2 * fabs(v[0] - v[1]) / 2;
		break;
	default:
		lo = fmin(fmin(v[0], v[1]), v[2]);
		hi = fmax(fmax(v[0], v[1]), v[2]);
		/* by comparison, not as the sum minus lo and hi, which rounds */
		mid = fmax(fmin(v[0], v[1]), fmin(fmax(v[0], v[1]), v[2]));
		b->centre = mid;
		/* The deviations from the median are {0, mid - lo, hi - mid}; their median: */
		b->scale = MAD_K * fmin(mid - lo, hi - mid);
		break;
	}
}

static void learn(struct baseline *b, const struct baseline_cfg *cfg, double x)
{
	double w, d, s, lo, hi, dev, sign, *p = &b->aux[AUX_P];

	b->n++;
	if (b->n <= 3) {
		start(b, x);
		return;
	}
	w = fmax(1.0 / (double)b->n, ewma_weight(cfg->half_life));
	d = x - b->centre;
	s = fmax(b->scale, scale_floor(cfg, b->centre));
	if (cfg->clip > 0) { /* clip <= 0 (or NaN) turns winsorising off */
		lo = b->centre - cfg->clip * s;
		hi = b->centre + cfg->clip * s;
		dev = fmin(fabs(d), cfg->clip * s);
	} else {
		lo = -INFINITY;
		hi = INFINITY;
		dev = fabs(d);
	}
	if (baseline__warm(b, cfg)) {
		if (*p > SHIFT_P)
			hi = INFINITY;
		else if (*p < -SHIFT_P)
			lo = -INFINITY;
	}
	sign = d > 0 ? 1 : d < 0 ? -1 : 0;
	b->centre += w * (fmax(lo, fmin(hi, x)) - b->centre);
	b->scale += w * (SQRT_PI_2 * dev - b->scale);
	*p += w * (sign - *p);
}

double baseline__score(const struct baseline *b, const struct baseline_cfg *cfg, double x)
{
	return isfinite(x) && b->n > 0 && baseline__warm(b, cfg) ? score_of(b, cfg, x) : 0;
}

double baseline__update(struct baseline *b, const struct baseline_cfg *cfg, double x)
{
	double score = 0;

	/* inf would poison the centre for good once a shift lifts the clamp */
	if (!isfinite(x))
		return 0;
	if (b->n > 0 && baseline__warm(b, cfg))
		score = score_of(b, cfg, x);
	learn(b, cfg, x);
	return score;
}
