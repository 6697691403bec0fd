// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Capacity trends (see capacity.h): Theil-Sen slopes, Mann-Kendall significance. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "alert/capacity.h"

#define N_PAIRS (CAP_POINTS * (CAP_POINTS - 1) / 2)

static const char *const names[CAP__COUNT] = {
	[CAP_CONNECTIONS] = "connections", [CAP_MEMORY] = "memory", [CAP_TRAFFIC] = "traffic"
};

const char *cap_resource__str(enum cap_resource r)
{
	return (unsigned)r < CAP__COUNT ? names[r] : "?";
}

int cap_scratch__init(struct cap_scratch *sc)
{
	sc->pairs = malloc(N_PAIRS * sizeof(*sc->pairs));
	return sc->pairs ? 0 : -ENOMEM;
}

void cap_scratch__free(struct cap_scratch *sc)
{
	free(sc->pairs);
	sc->pairs = NULL;
}

void cap_server__reset(struct cap_server *c)
{
	memset(c, 0, sizeof(*c));
	for (int r = 0; r < CAP__COUNT; r++) {
		c->fit[r].slope = c->fit[r].z = NAN;
		c->fit[r].value = NAN;
		c->fit[r].ttl_s = c->fit[r].ttl_at_fit = INFINITY;
	}
}

/* The k-th smallest of a[0..n) (a is reordered): Hoare's selection, expected O(n). */
static double select_kth(double *a, int n, int k)
{
	int lo = 0, hi = n - 1;

	while (lo < hi) {
		double pivot = a[lo + (hi - lo) / 2];
		int i = lo, j = hi;

		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				double x = a[i];

				a[i++] = a[j];
				a[j--] = x;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return a[k];
}

static double median(double *a, int n)
{
	double hi = select_kth(a, n, n / 2);

	return n % 2 ? hi : (hi + select_kth(a, n, n / 2 - 1)) / 2;
}

void cap__fit(const double *t, const double *v, int n, double limit, double now,
	      struct cap_scratch *sc, struct cap_fit *out)
{
	double s = 0, var, rise, span;
	int np = 0;

	*out = (struct cap_fit){ .n = n, .value = n ? v[n - 1] : NAN, .limit = limit,
				 .slope = NAN, .z = NAN, .ttl_s = INFINITY, .fitted_at = now,
				 .ttl_at_fit = INFINITY };
	if (n < CAP_MIN_POINTS || n > CAP_POINTS || !sc->pairs)
		return;
	for (int i = 0; i < n; i++) {
		for (int j = i + 1; j < n; j++) {
			double dv = v[j] - v[i], dt = t[j] - t[i];

			s += (dv > 0) - (dv < 0);
			if (dt > 0)
				sc->pairs[np++] = dv / dt;
		}
	}
	if (!np)
		return;
	out->slope = median(sc->pairs, np);
	/* Mann-Kendall without the tie correction: ties (integer counts) only shrink the true
	 * variance, so this z errs towards "no trend". */
	var = n * (n - 1.0) * (2.0 * n + 5) / 18.0;
	out->z = s > 0 ? (s - 1) / sqrt(var) : s < 0 ? (s + 1) / sqrt(var) : 0;
	span = t[n - 1] - t[0];
	rise = out->slope * span;
	out->rising = out->slope > 0 && out->z >= CAP_MIN_Z &&
		      (limit <= 0 || rise >= CAP_MIN_RISE * limit);
	if (out->rising && limit > 0) {
		double level;

		for (int i = 0; i < n; i++)
			sc->pairs[i] = v[i] - out->slope * t[i];
		level = median(sc->pairs, n) + out->slope * now; /* the line, now */
		out->ttl_s = level >= limit ? 0 : (limit - level) / out->slope;
	}
	out->fitted_at = now;
	out->ttl_at_fit = out->ttl_s;
}

bool cap_series__observe(struct cap_series *s, struct cap_scratch *sc, uint64_t now_ns,
			 double value, double limit, struct cap_fit *fit)
{
	bool stepped = false;

	if (!s->step_start_ns)
		s->step_start_ns = now_ns;
	if (now_ns - s->step_start_ns >= CAP_STEP_NS) {
		if (s->acc_n) {
			s->t[s->head] = (s->step_start_ns + CAP_STEP_NS / 2) / 1e9;
			s->v[s->head] = s->acc / s->acc_n;
			s->head = (s->head + 1) % CAP_POINTS;
			if (s->n < CAP_POINTS)
				s->n++;
			stepped = true;
		}
		s->step_start_ns = now_ns;
		s->acc = 0;
		s->acc_n = 0;
	}
	if (!isnan(value)) {
		s->acc += value;
		s->acc_n++;
		s->limit = limit;
	}
	if (stepped) {
		double t[CAP_POINTS] = { 0 }, v[CAP_POINTS] = { 0 };

		for (int i = 0; i < s->n; i++) {
			int k = (s->head + CAP_POINTS - s->n + i) % CAP_POINTS;

			t[i] = s->t[k];
			v[i] = s->v[k];
		}
		cap__fit(t, v, s->n, s->limit, now_ns / 1e9, sc, fit);
	}
	if (!isnan(value)) {
		fit->value = value; /* the latest reading, between fits too */
		fit->limit = limit;
	}
	/* between fits the prediction counts down with the clock */
	if (isfinite(fit->ttl_at_fit))
		fit->ttl_s = fmax(0, fit->ttl_at_fit - (now_ns / 1e9 - fit->fitted_at));
	return stepped;
}
