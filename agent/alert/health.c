// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * health: the 0-100 score and the penalty behind each point. The formula, as in the README:
 *
 *   score = 100 - (latency + errors + cache + saturation + alerts), rounded to 0.1
 *
 *   part        max  penalty
 *   latency      30  30 * clamp(ln(p95 / lo) / ln(hi / lo), 0, 1)
 *                      lo = min(1.5 * p95 baseline, warning bound), either alone if the other
 *                           is unknown (the baseline is unknown while it warms up)
 *                      hi = critical bound (10 * lo when there is none)
 *                      with no lo (or lo >= hi): 30 at p95 >= hi, else 0
 *   errors       25  25 * sqrt(min(error_ratio / 0.05, 1))
 *   cache        20  20 * clamp((hit_ratio_floor - hit_ratio) / 0.30, 0, 1)
 *   saturation   10  10 * clamp((saturation - 0.70) / 0.30, 0, 1)
 *   alerts       15  min(15, 5 * firing warnings + 15 * firing criticals)
 *
 *   A part whose input is unknown (NaN) costs 0. Each penalty is rounded to 0.1, so the listed
 *   penalties add up to exactly 100 - score. The maxima sum to 100.
 *
 *   node score = 0.6 * min(server scores) + 0.4 * mean(server scores), rounded to 0.1;
 *                100 with no servers (servers without a score are skipped)
 *
 * Why these shapes:
 * - Latency is judged in log space because latency degrades by factors: 2x the usual costs as
 *   much at 1 ms as at 100 ms. It starts at 1.5x the baseline (the baseline's own minimum
 *   relative effect: less is normal variation) or at the warning bound if that is lower (a p95
 *   past the warning threshold is never fully healthy, even if it is usual for the server), and
 *   reaches the full 30 at the critical bound. Example: baseline 1 ms, warn 10 ms, crit 50 ms:
 *   3 ms costs 30 * ln(2) / ln(33.3) = 5.9, 10 ms 16.2, 50 ms 30.
 * - Errors get a square root so small ratios show: 0.1% costs 3.5, 1% 11.2, 5% or more 25.
 * - The cache penalty is linear over the 30 points below the hit-ratio rule's floor (0.80 -> 0.50
 *   for Redis, 0.95 -> 0.65 for Postgres); at or above the floor it costs nothing.
 * - Saturation costs nothing below 70% (normal headroom) and everything at 100% (new
 *   connections are refused).
 * - Alerts repeat what the rules already know so a firing alert is visible in the score even if
 *   its signal is not one of the parts above; one critical, or three warnings, take all 15.
 * - The node weighs the worst server most: a plain mean would let nine healthy servers hide a
 *   failing tenth (mean 90, node 36 here), a plain minimum could not tell one sick server from
 *   all of them. With one server the node score is that server's.
 */
#include <math.h>
#include "alert/health.h"

/* Whole points (integers, so the sum can be checked at compile time by any compiler). */
#define LAT_MAX 30
#define ERR_MAX 25
#define CACHE_MAX 20
#define SAT_MAX 10
#define ALERTS_MAX 15

#define LAT_BASELINE_FACTOR 1.5 /* latency costs nothing below 1.5x its baseline */
#define LAT_NO_CRIT_FACTOR 10.0 /* hi = 10 * lo without a critical bound */
#define ERR_FULL 0.05		/* error ratio that takes the whole errors penalty */
#define CACHE_SPAN 0.30		/* hit-ratio points below the floor to the full penalty */
#define SAT_FROM 0.70
#define SAT_SPAN 0.30
#define ALERT_WARNING_COST 5.0
#define ALERT_CRITICAL_COST 15.0

static const char *const part_names[HP__COUNT] = {
	[HP_LATENCY] = "latency", [HP_ERRORS] = "errors",	  [HP_CACHE] = "cache",
	[HP_SATURATION] = "saturation", [HP_ALERTS] = "alerts",
};

static const double part_max[HP__COUNT] = {
	[HP_LATENCY] = LAT_MAX,	    [HP_ERRORS] = ERR_MAX,    [HP_CACHE] = CACHE_MAX,
	[HP_SATURATION] = SAT_MAX, [HP_ALERTS] = ALERTS_MAX,
};

_Static_assert(LAT_MAX + ERR_MAX + CACHE_MAX + SAT_MAX + ALERTS_MAX == 100,
	       "the maxima must sum to 100");

const char *health_part__str(enum health_part p)
{
	return (unsigned)p < HP__COUNT ? part_names[p] : "unknown";
}

static double round1(double x)
{
	return round(x * 10) / 10;
}

/* 0..1; NaN (unknown input) becomes 0 */
static double clamp01(double x)
{
	if (!(x > 0))
		return 0;
	return x < 1 ? x : 1;
}

static bool known_positive(double x)
{
	return isfinite(x) && x > 0;
}

static double latency_fraction(const struct health_input *in)
{
	double p = in->p95_s, lo = NAN, hi = NAN;

	if (!known_positive(p))
		return 0;
	if (known_positive(in->p95_baseline_s))
		lo = LAT_BASELINE_FACTOR * in->p95_baseline_s;
	if (known_positive(in->p95_warn_s))
		lo = isnan(lo) ? in->p95_warn_s : fmin(lo, in->p95_warn_s);
	if (known_positive(in->p95_crit_s))
		hi = in->p95_crit_s;
	else if (!isnan(lo))
		hi = LAT_NO_CRIT_FACTOR * lo;
	if (isnan(hi))
		return 0;
	if (isnan(lo) || lo >= hi)
		return p >= hi ? 1 : 0;
	return clamp01(log(p / lo) / log(hi / lo));
}

static double alerts_penalty(const struct health_input *in)
{
	double w = in->firing_warning > 0 ? in->firing_warning : 0;
	double c = in->firing_critical > 0 ? in->firing_critical : 0;

	return fmin(ALERTS_MAX, ALERT_WARNING_COST * w + ALERT_CRITICAL_COST * c);
}

void health__score(const struct health_input *in, struct health_result *out)
{
	double sum = 0;

	out->penalty[HP_LATENCY] = LAT_MAX * latency_fraction(in);
	out->penalty[HP_ERRORS] = ERR_MAX * sqrt(clamp01(in->error_ratio / ERR_FULL));
	out->penalty[HP_CACHE] =
		CACHE_MAX * clamp01((in->hit_ratio_floor - in->hit_ratio) / CACHE_SPAN);
	out->penalty[HP_SATURATION] = SAT_MAX * clamp01((in->saturation - SAT_FROM) / SAT_SPAN);
	out->penalty[HP_ALERTS] = alerts_penalty(in);
	for (int i = 0; i < HP__COUNT; i++) {
		out->penalty[i] = round1(out->penalty[i]);
		out->max_penalty[i] = part_max[i];
		sum += out->penalty[i];
	}
	out->score = sum < 100 ? round1(100 - sum) : 0;
}

double health__node(const double *server_scores, int n)
{
	double min = INFINITY, sum = 0;
	int k = 0;

	for (int i = 0; i < n; i++) {
		if (isnan(server_scores[i]))
			continue;
		min = fmin(min, server_scores[i]);
		sum += server_scores[i];
		k++;
	}
	if (k == 0)
		return 100;
	return round1(0.6 * min + 0.4 * sum / k);
}
