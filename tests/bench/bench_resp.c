// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * User-space cost of one Redis command on the agent's hot path: RESP parsing of the request and
 * its reply, then the statistics update (series lookup, histograms, windows, prefixes). Prints ns
 * per command for non-pipelined traffic (one chunk per request and per reply, as redis-benchmark
 * -P 1 produces) and for -P 16 pipelines (16 commands per chunk).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "proto/resp.h"
#include "stats/redis_stats.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

struct ctx {
	struct redis_stats *rs;
	uint64_t n;
};

static void on_cmd(void *p, const struct resp_record *r)
{
	struct ctx *c = p;

	redis_stats__command(c->rs, "127.0.0.1:6379", 1, r, r->t_reply);
	c->n++;
}

static double run(int pipeline, int rounds, bool with_stats)
{
	struct resp_opts o = { .delimiter = ':', .depth = 1 };
	struct redis_stats *rs = redis_stats__new();
	struct resp_conn *c = resp_conn__new(&o, redis_stats__parser(rs));
	struct ctx ctx = { .rs = rs };
	char req[4096], rep[4096];
	size_t rl = 0, pl = 0;
	uint64_t t0, t;

	for (int i = 0; i < pipeline; i++) {
		rl += sprintf(req + rl, "*2\r\n$3\r\nGET\r\n$16\r\nkey:%012d\r\n", i);
		pl += sprintf(rep + pl, i % 3 ? "$3\r\nxxx\r\n" : "$-1\r\n");
	}
	t0 = now_ns();
	t = 1000;
	for (int i = 0; i < rounds; i++) {
		resp_conn__feed(c, true, (const uint8_t *)req, rl, rl, t, with_stats ? on_cmd : NULL,
				&ctx);
		t += 20000;
		resp_conn__feed(c, false, (const uint8_t *)rep, pl, pl, t, with_stats ? on_cmd : NULL,
				&ctx);
		t += 20000;
	}
	t = now_ns() - t0;
	resp_conn__free(c);
	redis_stats__free(rs);
	return (double)t / ((double)rounds * pipeline);
}

/* The fastest of five runs: on a shared machine, the others measure the neighbours. */
static double best(int pipeline, int rounds, bool with_stats)
{
	double m = run(pipeline, rounds, with_stats);

	for (int i = 1; i < 5; i++) {
		double t = run(pipeline, rounds, with_stats);

		m = t < m ? t : m;
	}
	return m;
}

int main(void)
{
	printf("resp parse only,        -P 1 : %6.1f ns/command\n", best(1, 1000000, false));
	printf("resp parse only,        -P 16: %6.1f ns/command\n", best(16, 100000, false));
	printf("resp parse + statistics,-P 1 : %6.1f ns/command\n", best(1, 1000000, true));
	printf("resp parse + statistics,-P 16: %6.1f ns/command\n", best(16, 100000, true));
	return 0;
}
