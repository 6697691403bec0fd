// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdbool.h>
#include <string.h>
#include "stats/hist.h"

/* A value >= HIST_LOW keeps HIST_SUB_BITS + 1 significant bits: its top bit and the next 6. */
#define UNIT_SHIFT (HIST_LOW_SHIFT - HIST_SUB_BITS)

_Static_assert(HIST_LOW_SHIFT > HIST_SUB_BITS + 1, "buckets must be at least 4 ns wide");
_Static_assert(HIST_HIGH_SHIFT < 64, "HIST_HIGH must fit in 64 bits");

/*
 * Bucket of ns in a dozen instructions, no loop and no table: u = ns in units of the narrowest
 * bucket (8 ns), forced to have its top bit at or above HIST_SUB_BITS so the shift is never
 * negative; below HIST_LOW, u < 64 and the result is replaced by bucket 0.
 */
static inline uint32_t bucket_of(uint64_t ns)
{
	uint64_t c = ns < HIST_HIGH ? ns : HIST_HIGH - 1;
	uint64_t u = c >> UNIT_SHIFT;
	uint32_t sh = 63 - __builtin_clzll(u | HIST_SUB_COUNT) - HIST_SUB_BITS; /* octave, 0..30 */
	/* 1 + sh * 64 + (u >> sh) - 64: (u >> sh) is 64..127, the top bit and the 6 below it. */
	uint32_t i = (sh << HIST_SUB_BITS) + (uint32_t)(u >> sh) - (HIST_SUB_COUNT - 1);

	return u < HIST_SUB_COUNT ? 0 : i;
}

/* First value of bucket i, and its width. */
static inline uint64_t bucket_lo(uint32_t i, uint64_t *width)
{
	uint32_t j = i - 1, sh;

	if (i == 0) {
		*width = HIST_LOW;
		return 0;
	}
	sh = (j >> HIST_SUB_BITS) + UNIT_SHIFT;
	*width = 1ULL << sh;
	return (uint64_t)(HIST_SUB_COUNT + (j & (HIST_SUB_COUNT - 1))) << sh;
}

/* The value a bucket is reported as: its midpoint (256 ns for bucket 0). */
static inline uint64_t bucket_mid(uint32_t i)
{
	uint64_t w, lo = bucket_lo(i, &w);

	return lo + w / 2;
}

static inline uint32_t sat_add32(uint32_t a, uint32_t b)
{
	uint32_t s = a + b;

	return s < a ? UINT32_MAX : s;
}

static inline uint64_t sat_add64(uint64_t a, uint64_t b)
{
	uint64_t s;

	return __builtin_add_overflow(a, b, &s) ? UINT64_MAX : s;
}

/*
 * Sum of the counters of octave o (buckets 1 + o * 64 ...). A constant trip count of 64 lets the
 * compiler vectorize it, so quantile() and count_le() skip whole octaves for a few ns each.
 */
static inline uint64_t octave_sum(const struct hist *h, uint32_t o)
{
	const uint32_t *b = &h->buckets[1 + (o << HIST_SUB_BITS)];
	uint64_t s = 0;

	for (uint32_t j = 0; j < HIST_SUB_COUNT; j++)
		s += b[j];
	return s;
}

/* Sum of buckets[0 .. i - 1]. */
static uint64_t count_below(const struct hist *h, uint32_t i)
{
	uint32_t o, end, j;
	uint64_t cum;

	if (i == 0)
		return 0;
	end = (i - 1) >> HIST_SUB_BITS; /* the octave bucket i is in */
	cum = h->buckets[0];
	for (o = 0; o < end; o++)
		cum += octave_sum(h, o);
	for (j = 1 + (end << HIST_SUB_BITS); j < i; j++)
		cum += h->buckets[j];
	return cum;
}

/* The bucket where the cumulative count first reaches rank, or HIST_BUCKETS if it never does. */
static uint32_t bucket_of_rank(const struct hist *h, uint64_t rank)
{
	uint64_t cum = h->buckets[0], s;
	uint32_t o, j;

	if (cum >= rank)
		return 0;
	for (o = 0; o < HIST_OCTAVES; o++) {
		s = octave_sum(h, o);
		if (cum + s >= rank)
			break;
		cum += s;
	}
	if (o == HIST_OCTAVES)
		return HIST_BUCKETS;
	for (j = 1 + (o << HIST_SUB_BITS);; j++) {
		cum += h->buckets[j];
		if (cum >= rank)
			return j;
	}
}

static inline void hist_add(struct hist *h, uint64_t ns, uint32_t n)
{
	uint32_t i = bucket_of(ns);
	uint64_t add;

	h->buckets[i] = sat_add32(h->buckets[i], n);
	h->count += n;
	if (__builtin_mul_overflow(ns, (uint64_t)n, &add))
		add = UINT64_MAX;
	h->sum = sat_add64(h->sum, add);
	h->min_inv = h->min_inv > ~ns ? h->min_inv : ~ns;
	h->max = h->max > ns ? h->max : ns;
	h->overflow += ns >= HIST_HIGH ? n : 0;
}

void hist__reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

void hist__record(struct hist *h, uint64_t ns)
{
	hist_add(h, ns, 1);
}

void hist__record_n(struct hist *h, uint64_t ns, uint32_t n)
{
	/* Otherwise min and max would move for a value that was never recorded. */
	if (n == 0)
		return;
	hist_add(h, ns, n);
}

typedef uint32_t u32x4 __attribute__((vector_size(16)));

void hist__merge(struct hist *dst, const struct hist *src)
{
	uint32_t i;

	/*
	 * Four counters at a time (a window snapshot merges six histograms): the compiler will not
	 * vectorize the plain loop, as dst may alias src and the count is odd. Saturating: a lane
	 * that wrapped is smaller than before, and the comparison's all-ones mask saturates it.
	 */
	for (i = 0; i + 4 <= HIST_BUCKETS; i += 4) {
		u32x4 a, b;

		memcpy(&a, &dst->buckets[i], sizeof(a));
		memcpy(&b, &src->buckets[i], sizeof(b));
		b += a;
		b |= (u32x4)(b < a);
		memcpy(&dst->buckets[i], &b, sizeof(b));
	}
	for (; i < HIST_BUCKETS; i++)
		dst->buckets[i] = sat_add32(dst->buckets[i], src->buckets[i]);
	dst->count += src->count;
	dst->sum = sat_add64(dst->sum, src->sum);
	/* An empty src has min_inv == 0 and max == 0, which change nothing. */
	dst->min_inv = dst->min_inv > src->min_inv ? dst->min_inv : src->min_inv;
	dst->max = dst->max > src->max ? dst->max : src->max;
	dst->overflow += src->overflow;
}

uint64_t hist__count(const struct hist *h)
{
	return h->count;
}

uint64_t hist__sum(const struct hist *h)
{
	return h->sum;
}

uint64_t hist__min(const struct hist *h)
{
	return h->count ? ~h->min_inv : 0;
}

uint64_t hist__max(const struct hist *h)
{
	return h->max;
}

uint64_t hist__quantile(const struct hist *h, double q)
{
	uint64_t rank, v, lo, hi;
	uint32_t i;
	double x;

	if (h->count == 0)
		return 0;
	/* !(q > 0) also catches NaN. */
	if (!(q > 0))
		return hist__min(h);
	if (q >= 1)
		return h->max;

	/* ceil() by hand: the agent does not link libm. */
	x = q * (double)h->count;
	rank = (uint64_t)x;
	if ((double)rank < x)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;

	i = bucket_of_rank(h, rank);
	/* Only when a saturated bucket lost counts: the rank lies past everything we can place. */
	if (i == HIST_BUCKETS)
		return h->max;
	v = bucket_mid(i);
	lo = hist__min(h);
	hi = h->max;
	return v < lo ? lo : v > hi ? hi : v;
}

void hist__delta(struct hist *out, const struct hist *now, const struct hist *prev)
{
	/* Buckets only grow in a since-start histogram; saturate anyway so a reset (a restarted
	 * series) gives an empty delta rather than huge counts. */
	out->count = 0;
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		out->buckets[i] = now->buckets[i] > prev->buckets[i] ? now->buckets[i] - prev->buckets[i] : 0;
		out->count += out->buckets[i];
	}
	out->sum = now->sum > prev->sum ? now->sum - prev->sum : 0;
	out->overflow = now->overflow > prev->overflow ? now->overflow - prev->overflow : 0;
	out->min_inv = out->count ? ~0ULL : 0; /* min() == 0: unknown */
	out->max = out->count ? now->max : 0;
}

uint64_t hist__count_le(const struct hist *h, uint64_t ns)
{
	uint32_t last, top;
	uint64_t cum;

	if (ns >= HIST_HIGH)
		return h->count;
	last = bucket_of(ns);
	cum = count_below(h, last);
	/* Round to the nearer bucket edge, consistently with what quantile() reports. */
	if (ns >= bucket_mid(last)) {
		top = h->buckets[last];
		/* Values >= HIST_HIGH sit in the top bucket but are above any ns < HIST_HIGH. */
		if (last == HIST_BUCKETS - 1)
			top = h->overflow >= top ? 0 : top - (uint32_t)h->overflow;
		cum += top;
	}
	return cum;
}

void hist_window__init(struct hist_window *w)
{
	memset(w, 0, sizeof(*w));
}

static inline uint64_t window_slot_no(const struct hist_window *w, uint64_t now_ns)
{
	uint64_t t = now_ns / HIST_WINDOW_SLOT_NS;

	return t < w->head ? w->head : t;
}

void hist_window__record(struct hist_window *w, uint64_t now_ns, uint64_t value_ns)
{
	hist_window__record_n(w, now_ns, value_ns, 1);
}

void hist_window__record_n(struct hist_window *w, uint64_t now_ns, uint64_t value_ns, uint32_t n)
{
	uint64_t t = window_slot_no(w, now_ns);
	uint32_t i = t % HIST_WINDOW_SLOTS;

	w->head = t;
	/* The slot still holds an older slot number's values (or none): they have expired. */
	if (w->tag[i] != t) {
		hist__reset(&w->slot[i]);
		w->tag[i] = t;
	}
	hist__record_n(&w->slot[i], value_ns, n);
}

void hist_window__snapshot(const struct hist_window *w, uint64_t now_ns, struct hist *out)
{
	uint64_t t = window_slot_no(w, now_ns);

	hist__reset(out);
	for (uint32_t i = 0; i < HIST_WINDOW_SLOTS; i++) {
		/* tag <= head <= t always holds; only the age needs checking. */
		if (t - w->tag[i] < HIST_WINDOW_SLOTS)
			hist__merge(out, &w->slot[i]);
	}
}

/* --- sparse copies (OTLP exponential histograms) ------------------------------------------- */

/* Group of bucket i at shift s: bucket 0 alone, the others by 2^s within their octave (64 is a
 * multiple of 2^s, so a group never spans two octaves). Returns the group's first bucket. */
static inline uint32_t group_first(uint32_t i, unsigned s)
{
	return i ? (((i - 1) >> s) << s) + 1 : 0;
}

/* Regroups a sorted (idx, count) list in place at shift s; returns its new length. */
static int regroup(uint16_t *idx, uint64_t *count, int n, unsigned s)
{
	int m = 0;

	for (int k = 0; k < n; k++) {
		uint16_t g = (uint16_t)group_first(idx[k], s);

		if (m && idx[m - 1] == g) {
			count[m - 1] += count[k];
		} else {
			idx[m] = g;
			count[m++] = count[k];
		}
	}
	return m;
}

/* Fits a sorted list into out, coarsening from shift s as needed. */
static void sparse_fit(struct hist_sparse *out, uint16_t *idx, uint64_t *count, int n, unsigned s)
{
	n = regroup(idx, count, n, s);
	while (n > HIST_SPARSE_MAX && s < HIST_SUB_BITS)
		n = regroup(idx, count, n, ++s);
	out->shift = (uint8_t)s;
	out->n = (uint16_t)n;
	memcpy(out->idx, idx, n * sizeof(*idx));
	memcpy(out->count, count, n * sizeof(*count));
}

void hist__sparse(const struct hist *h, struct hist_sparse *out)
{
	uint16_t idx[HIST_BUCKETS];
	uint64_t count[HIST_BUCKETS];
	int n = 0;

	for (uint32_t i = 0; i < HIST_BUCKETS; i++)
		if (h->buckets[i]) {
			idx[n] = (uint16_t)i;
			count[n++] = h->buckets[i];
		}
	sparse_fit(out, idx, count, n, 0);
}

void hist_sparse__merge(struct hist_sparse *dst, const struct hist_sparse *src)
{
	uint16_t idx[2 * HIST_SPARSE_MAX];
	uint64_t count[2 * HIST_SPARSE_MAX];
	unsigned s = dst->shift > src->shift ? dst->shift : src->shift;
	int n = 0, a = 0, b = 0;

	/* both lists are sorted and a group's first bucket is monotone in the bucket: merge */
	while (a < dst->n || b < src->n) {
		bool take_a = b >= src->n || (a < dst->n && dst->idx[a] <= src->idx[b]);

		idx[n] = take_a ? dst->idx[a] : src->idx[b];
		count[n++] = take_a ? dst->count[a++] : src->count[b++];
	}
	sparse_fit(dst, idx, count, n, s);
}

void hist_sparse__range_ns(const struct hist_sparse *s, int i, uint64_t *lo, uint64_t *hi)
{
	uint32_t first = s->idx[i], last;
	uint64_t w;

	if (!first) {
		*lo = 0;
		*hi = HIST_LOW;
		return;
	}
	last = first + (1U << s->shift) - 1;
	*lo = bucket_lo(first, &w);
	*hi = bucket_lo(last, &w) + w;
}

uint64_t hist_sparse__mid_ns(const struct hist_sparse *s, int i)
{
	uint64_t lo, hi;

	if (!s->idx[i])
		return bucket_mid(0);
	hist_sparse__range_ns(s, i, &lo, &hi);
	return lo + (hi - lo) / 2;
}
