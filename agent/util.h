/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few helpers every stage needs and none owns: hashes, a bounded string copy, the clock of
 * the kernel's timestamps, the overflow label. Header-only (static inline): no stage depends on
 * another through it.
 */
#ifndef NEXUS_UTIL_H
#define NEXUS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* The label of everything past a cap: a series, a server, a prefix, an error word. Labels in
 * parentheses are the agent's own (a real key prefix starting with '(' is shown with '?'). */
#define NX_OTHER "(other)"

/* FNV-1a, 32-bit: short names in small open-addressing tables. */
#define NX_FNV32_INIT 2166136261u

static inline uint32_t nx_fnv1a32_str(uint32_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* FNV-1a, 64-bit: keys whose collisions would mix up statistics (SQL text, alert labels). */
#define NX_FNV64_INIT 14695981039346656037ULL

static inline uint64_t nx_fnv1a64(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static inline uint64_t nx_fnv1a64_str(uint64_t h, const char *s)
{
	return nx_fnv1a64(h, s, strlen(s));
}

/* Knuth's multiplicative hash of a small integer (a tgid, a thread id) into a table index. */
static inline uint32_t nx_hash32(uint32_t x)
{
	return x * 2654435761u;
}

/* Copies at most size - 1 bytes of src and terminates; NULL copies as "". */
static inline void nx_strlcpy(char *dst, size_t size, const char *src)
{
	size_t n;

	if (!size)
		return;
	n = src ? strnlen(src, size - 1) : 0;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

/* CLOCK_MONOTONIC in nanoseconds: the clock of the kernel side's bpf_ktime_get_ns(). */
static inline uint64_t nx_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* hits / (hits + misses), NAN when there were none: the ratio of nothing is unknown, not 0 or 1. */
static inline double nx_hit_ratio(uint64_t hits, uint64_t misses)
{
	return hits + misses ? (double)hits / (double)(hits + misses) : __builtin_nan("");
}

#endif /* NEXUS_UTIL_H */
