/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Latency histograms for the statistics stage: one per (server, command) for Redis, per (server,
 * database, fingerprint) for PostgreSQL, and a sliding window of them for "the last minute".
 *
 * Log-linear buckets as HDR histograms lay them out: every power of two [2^e, 2^(e+1)) of
 * nanoseconds is cut into 2^HIST_SUB_BITS equal sub-buckets, from HIST_LOW (512 ns, so 1 us is
 * covered) up to HIST_HIGH (2^40 ns, about 1099.5 s). Values below HIST_LOW share bucket 0; values
 * at or above HIST_HIGH are counted in the top bucket and in `overflow`. count, sum, min and max
 * are kept exactly beside the buckets.
 *
 * Why HIST_SUB_BITS is 6 (the error bound): a bucket of octave e has width w = 2^(e-6) and starts
 * at lo = (64 + s) * w >= 64 * w. A quantile is reported as the bucket's midpoint m = lo + w/2 (w
 * >= 8 ns, so m is an integer). The true order statistic v is an integer in [lo, lo + w - 1], so
 * |m - v| <= w/2 and v >= 64 * w, hence |m - v| / v <= 1/128 < 0.79%. The reported value is then
 * clamped to [min, max], which holds v, so clamping only moves it closer. With 5 bits the same
 * bound is 1/64 = 1.56% > 1%, so 6 is the smallest k that guarantees 1%. Bucket 0 (below 512 ns)
 * and values past HIST_HIGH have no relative bound: they are out of the range asked for.
 *
 * Size: 1 + 31 * 64 = 1985 uint32 counters (7940 B) + 5 uint64 (40 B) = 7984 bytes with padding;
 * a struct hist_window of 6 slots is 47,960 bytes. Counters saturate at UINT32_MAX instead of
 * wrapping (4.29e9 values in one bucket); sum saturates at UINT64_MAX ns (584 years).
 *
 * An all-zero struct hist or struct hist_window is empty and valid, so they can be embedded in
 * calloc'ed or static structs. Nothing allocates; nothing locks: one thread owns a histogram, and
 * others read a copy (or a snapshot) it publishes.
 */
#ifndef NEXUS_HIST_H
#define NEXUS_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS	6
#define HIST_SUB_COUNT	(1U << HIST_SUB_BITS)
#define HIST_LOW_SHIFT	9  /* HIST_LOW = 512 ns: the lowest power of two <= 1 us */
#define HIST_HIGH_SHIFT 40 /* HIST_HIGH = 2^40 ns = 1099.5 s >= 1000 s */
#define HIST_LOW	(1ULL << HIST_LOW_SHIFT)
#define HIST_HIGH	(1ULL << HIST_HIGH_SHIFT)
#define HIST_OCTAVES	(HIST_HIGH_SHIFT - HIST_LOW_SHIFT)
/* Bucket 0 holds everything below HIST_LOW; then HIST_SUB_COUNT buckets per octave. */
#define HIST_BUCKETS	(1 + HIST_OCTAVES * HIST_SUB_COUNT)

struct hist {
	uint64_t count;	  /* values recorded (exact; record_n adds n) */
	uint64_t sum;	  /* their sum in ns, saturating */
	uint64_t min_inv; /* ~min, so that zero means "no value yet" and max() updates it */
	uint64_t max;
	uint64_t overflow; /* values >= HIST_HIGH, also counted in the top bucket */
	uint32_t buckets[HIST_BUCKETS];
};

void hist__reset(struct hist *h);
/* O(1): a few conditional moves, no floating point, no allocation. */
void hist__record(struct hist *h, uint64_t ns);
/* n values of ns at once; n == 0 records nothing. */
void hist__record_n(struct hist *h, uint64_t ns, uint32_t n);
/* dst += src; the result equals having recorded both into dst. dst == src doubles it. */
void hist__merge(struct hist *dst, const struct hist *src);
uint64_t hist__count(const struct hist *h);
/* out = now - prev, for two readings of one since-start histogram: what was recorded in between
 * (the alert engine's per-tick latency). min is unknown afterwards (0) and max is now's. */
void hist__delta(struct hist *out, const struct hist *now, const struct hist *prev);
/* Exact sum of the recorded values in ns (out-of-range ones too), UINT64_MAX if it would wrap. */
uint64_t hist__sum(const struct hist *h);
/*
 * Nearest-rank quantile: the value of rank ceil(q * count) (at least 1), within 1/128 of it when
 * it lies in [HIST_LOW, HIST_HIGH). q <= 0 gives min() and q >= 1 max(), exactly; 0 when empty.
 * A rank in bucket 0 reports 256 ns (that bucket's midpoint), one among overflowed values the
 * top bucket's midpoint, both clamped to [min, max]. O(HIST_BUCKETS).
 */
uint64_t hist__quantile(const struct hist *h, double q);
/*
 * Cumulative count of values <= ns, for Prometheus `le` buckets. Counts are known per bucket, so
 * this is the exact count of values <= E, where E is the bucket edge nearest ns: a bucket is
 * included when ns reaches its midpoint (the value quantile() reports for it). Exact when ns is a
 * bucket's last value (lo + w - 1); otherwise |E - ns| <= ns / 128 for ns >= HIST_LOW. Values past
 * HIST_HIGH are only known as ">= HIST_HIGH": they are excluded below HIST_HIGH and all included
 * from it on, where the result is count(). It depends on bucket counts only, so it never decreases
 * as ns grows or as values are recorded (what a Prometheus counter needs). O(HIST_BUCKETS).
 */
uint64_t hist__count_le(const struct hist *h, uint64_t ns);
/* Exact; 0 when empty. */
uint64_t hist__max(const struct hist *h);
uint64_t hist__min(const struct hist *h);

/*
 * A bounded sparse copy of a histogram's non-empty buckets, for OTLP exponential histograms
 * (the Prometheus `le` buckets are too coarse to map onto them). Entry i covers 2^shift fine
 * buckets from bucket idx[i] (bucket 0, below HIST_LOW, always alone), ascending. shift is the
 * smallest (0..HIST_SUB_BITS) that fits HIST_SPARSE_MAX entries: at shift s an entry is 2^s/64
 * of its octave wide, so its midpoint is within 2^s/128 of every value in it (0.78 % at s = 0).
 * 32 entries always fit at s = 6 (an octave each); 1.3 KiB.
 */
#define HIST_SPARSE_MAX 128

struct hist_sparse {
	uint8_t shift;
	uint16_t n;
	uint16_t idx[HIST_SPARSE_MAX];
	uint64_t count[HIST_SPARSE_MAX];
};

void hist__sparse(const struct hist *h, struct hist_sparse *out);
/* dst += src, coarsening dst's shift when the union does not fit. */
void hist_sparse__merge(struct hist_sparse *dst, const struct hist_sparse *src);
/* Midpoint of entry i in ns; its range [lo, hi) (bucket 0: [0, HIST_LOW); values past HIST_HIGH
 * are counted in the top bucket and so end at HIST_HIGH). */
uint64_t hist_sparse__mid_ns(const struct hist_sparse *s, int i);
void hist_sparse__range_ns(const struct hist_sparse *s, int i, uint64_t *lo, uint64_t *hi);

/*
 * Sliding window: a ring of HIST_WINDOW_SLOTS histograms, each holding HIST_WINDOW_SLOT_NS of
 * CLOCK_MONOTONIC time. A snapshot merges the current slot and the HIST_WINDOW_SLOTS - 1 before
 * it, so it covers between 50 and 60 s with the defaults: a value is gone from snapshots at most
 * 60 s after it was recorded. Each slot carries the slot number it holds, so a slot is cleared
 * when it is reused and a snapshot skips stale ones: no loop over elapsed time, whatever the jump.
 * A time before the newest one seen (a backwards jump, or events out of order) counts as the
 * newest. Change the two constants here; they size the struct.
 */
#define HIST_WINDOW_SLOTS   6
#define HIST_WINDOW_SLOT_NS (10ULL * 1000000000ULL)

struct hist_window {
	uint64_t head;			 /* newest slot number: now_ns / HIST_WINDOW_SLOT_NS */
	uint64_t tag[HIST_WINDOW_SLOTS]; /* slot number slot[i] holds; i == tag % SLOTS */
	struct hist slot[HIST_WINDOW_SLOTS];
};

void hist_window__init(struct hist_window *w);
void hist_window__record(struct hist_window *w, uint64_t now_ns, uint64_t value_ns);
/* n values of value_ns at once (a pipeline's commands answered together). */
void hist_window__record_n(struct hist_window *w, uint64_t now_ns, uint64_t value_ns, uint32_t n);
/* out = merge of the slots within the last window as of now_ns; out must not be inside w. */
void hist_window__snapshot(const struct hist_window *w, uint64_t now_ns, struct hist *out);

#endif /* NEXUS_HIST_H */
