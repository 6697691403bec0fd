// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Cost of the latency histogram: ns per hist__record (10M values from a cheap PRNG), per
 * hist__quantile, hist__count_le, hist__merge, hist_window__record and hist_window__snapshot, and
 * the structs' sizes. Not built by the Makefile:
 *
 *   gcc -O2 -std=gnu11 -Iagent -Iinclude tests/bench/bench_hist.c agent/stats/hist.c -o bench_hist
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "stats/hist.h"

#define N_RECORD   10000000
#define N_QUANTILE 200000

static struct hist h, h2, out;
static struct hist_window win;
static uint64_t vals[1 << 16];
/* Results land here so the compiler cannot drop the calls. */
static volatile uint64_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Latency-like values: log-uniform from 1 us to about 1 s, drawn ahead so the PRNG's cost is
 * measured apart (and reported) rather than folded into record's.
 */
static void fill(uint64_t *seed)
{
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint64_t r = xorshift(seed);
		unsigned e = 10 + r % 20;

		vals[i] = (1ULL << e) | ((r >> 8) & ((1ULL << e) - 1));
	}
}

int main(void)
{
	static const double qs[] = { 0.5, 0.9, 0.99, 0.999 };
	uint64_t seed = 88172645463325252ULL, t, t_gen;
	const size_t mask = sizeof(vals) / sizeof(vals[0]) - 1;

	printf("sizeof(struct hist)        %zu bytes (%u buckets)\n", sizeof(struct hist),
	       HIST_BUCKETS);
	printf("sizeof(struct hist_window) %zu bytes (%u slots of %llu s)\n",
	       sizeof(struct hist_window), HIST_WINDOW_SLOTS, HIST_WINDOW_SLOT_NS / 1000000000ULL);

	/* Values from the PRNG inline, as a caller would produce them one by one. */
	hist__reset(&h);
	t_gen = now_ns();
	for (uint64_t i = 0; i < N_RECORD; i++)
		sink += xorshift(&seed) >> 34;
	t_gen = now_ns() - t_gen;
	t = now_ns();
	for (uint64_t i = 0; i < N_RECORD; i++) {
		uint64_t r = xorshift(&seed);

		hist__record(&h, (1ULL << (10 + r % 20)) | ((r >> 8) & 0xfffff));
	}
	t = now_ns() - t;
	printf("hist__record (+PRNG)       %.2f ns  (PRNG alone %.2f ns), count %llu\n",
	       (double)t / N_RECORD, (double)t_gen / N_RECORD, (unsigned long long)hist__count(&h));

	/* The same from a precomputed table (64K values, cache-resident). */
	fill(&seed);
	hist__reset(&h);
	t = now_ns();
	for (uint64_t i = 0; i < N_RECORD; i++)
		hist__record(&h, vals[i & mask]);
	t = now_ns() - t;
	printf("hist__record (table)       %.2f ns\n", (double)t / N_RECORD);

	/* A constant value: the same counter every time, the worst case for store forwarding. */
	hist__reset(&h2);
	t = now_ns();
	for (uint64_t i = 0; i < N_RECORD; i++)
		hist__record(&h2, 5000000 + (i & 1));
	t = now_ns() - t;
	printf("hist__record (constant)    %.2f ns\n", (double)t / N_RECORD);

	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		t = now_ns();
		for (int i = 0; i < N_QUANTILE; i++)
			sink += hist__quantile(&h, qs[k]);
		t = now_ns() - t;
		printf("hist__quantile(%-5g)       %.1f ns  -> %llu ns\n", qs[k],
		       (double)t / N_QUANTILE, (unsigned long long)hist__quantile(&h, qs[k]));
	}

	t = now_ns();
	for (int i = 0; i < N_QUANTILE; i++)
		sink += hist__count_le(&h, 1000000 + (i & 1023));
	t = now_ns() - t;
	printf("hist__count_le(1 ms)       %.1f ns\n", (double)t / N_QUANTILE);

	t = now_ns();
	for (int i = 0; i < N_QUANTILE; i++)
		hist__merge(&h2, &h);
	t = now_ns() - t;
	printf("hist__merge                %.1f ns\n", (double)t / N_QUANTILE);

	/* 10M records spread over 10 minutes of fake monotonic time: every slot rotates. */
	hist_window__init(&win);
	t = now_ns();
	for (uint64_t i = 0; i < N_RECORD; i++)
		hist_window__record(&win, i * 60000ULL, vals[i & mask]);
	t = now_ns() - t;
	printf("hist_window__record        %.2f ns\n", (double)t / N_RECORD);

	t = now_ns();
	for (int i = 0; i < N_QUANTILE / 10; i++)
		hist_window__snapshot(&win, (uint64_t)N_RECORD * 60000ULL, &out);
	t = now_ns() - t;
	sink += hist__count(&out);
	printf("hist_window__snapshot      %.1f ns  (count %llu)\n", (double)t / (N_QUANTILE / 10),
	       (unsigned long long)hist__count(&out));
	return 0;
}
