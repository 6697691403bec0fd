// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * User-space throughput of the whole pipeline (conntrack -> pipeline -> parsers -> statistics,
 * with a snapshot every second of record time, as replay --listen runs it) over recordings made
 * by tests/bench/bench_replay.sh: records/s and Redis commands or PostgreSQL statements/s per
 * core (thread CPU time), and the reader's own records/s (read, CRC, inflate). Numbers only.
 *
 *	bench_replay NAME FILE [NAME FILE ...]
 *
 * Without arguments (make bench's loop over the micro-benchmarks) it says where its input comes
 * from and exits 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "capture/conntrack.h"
#include "capture/recording.h"
#include "capture/targets.h"
#include "pipeline.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"

#define ROUNDS 3

struct entry {
	uint16_t kind;
	uint32_t len;
	void *data;
};

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A recording's answers are not needed for throughput; this host's /proc must not be asked. */
static int no_describe(void *ctx, uint32_t tgid, struct target_info *ti)
{
	return -ENOENT;
}

static int no_ports(void *ctx, uint32_t tgid, uint16_t *ports, int max)
{
	return 0;
}

static int no_title(void *ctx, uint32_t pid, char *u, size_t ul, char *d, size_t dl)
{
	return -ENOENT;
}

static struct entry *load(const char *path, size_t *n, size_t *n_ring, double *read_rate)
{
	struct rec_reader *r;
	struct rec_entry e;
	struct entry *v = NULL;
	size_t cap = 0;
	char err[256];
	double t0;
	int rc;

	*n = *n_ring = 0;
	t0 = cpu_s();
	r = rec_reader__open(path, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "bench_replay: %s\n", err);
		return NULL;
	}
	while ((rc = rec_reader__next(r, &e, err, sizeof(err))) == 1) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				exit(1);
		}
		v[*n].kind = e.kind;
		v[*n].len = e.len;
		v[*n].data = malloc(e.len ? e.len : 1);
		if (!v[*n].data)
			exit(1);
		memcpy(v[*n].data, e.data, e.len);
		*n_ring += e.kind == REC_E_RING;
		(*n)++;
	}
	/* the copies are counted in too: the rate is a floor of the reader's */
	*read_rate = *n_ring / (cpu_s() - t0);
	rec_reader__close(r);
	if (rc < 0) {
		fprintf(stderr, "bench_replay: %s: %s\n", path, err);
		return NULL;
	}
	return v;
}

/* One pass; returns the CPU seconds it took and the commands and statements counted. */
static double pass(const struct entry *v, size_t n, uint64_t *cmds, uint64_t *stmts)
{
	struct pipeline_opts popts = { .decode = true, .slow_ns = 10000000,
				       .resp = { .delimiter = ':', .depth = 1 },
				       .pg_title = no_title };
	struct conntrack_opts topts = { .max_conns = 65536, .max_procs = 16384 };
	struct conntrack_host host = { .describe = no_describe, .listen_ports = no_ports };
	struct redis_stats *rs = redis_stats__new();
	struct postgres_stats *ps = postgres_stats__new();
	struct pipeline *p = pipeline__new(&popts, rs, ps, (struct pipeline_sink){});
	struct conntrack *ct = conntrack__new(&topts, NULL, pipeline__conntrack_sink(p));
	struct redis_snapshot *rsn;
	struct postgres_snapshot *psn;
	uint64_t next = 0, now = 0;
	double t0, t;

	if (!rs || !ps || !p || !ct)
		exit(1);
	conntrack__set_host(ct, &host);
	t0 = cpu_s();
	for (size_t i = 0; i < n; i++) {
		const struct entry *e = &v[i];

		if (e->kind == REC_E_RING) {
			uint64_t ts = ((const struct nx_event_hdr *)e->data)->ts_ns;

			if (ts > now)
				now = ts;
			if (!next)
				next = now + 1000000000ULL;
			while (next <= now) {
				redis_snapshot__free(redis_stats__snapshot(rs, next));
				postgres_snapshot__free(postgres_stats__snapshot(ps, next));
				next += 1000000000ULL;
			}
			conntrack__record(ct, e->data, e->len);
		} else if (e->kind == REC_E_FOUND) {
			const struct rec_proc *pr = e->data;

			conntrack__add_proc(ct, pr->tgid, pr->ppid, pr->comm, pr->exe);
		}
	}
	t = cpu_s() - t0;
	rsn = redis_stats__snapshot(rs, now);
	psn = postgres_stats__snapshot(ps, now);
	*cmds = *stmts = 0;
	for (int i = 0; rsn && i < rsn->n_servers; i++)
		*cmds += rsn->servers[i].commands;
	for (int i = 0; psn && i < psn->n_servers; i++)
		*stmts += psn->servers[i].queries;
	redis_snapshot__free(rsn);
	postgres_snapshot__free(psn);
	conntrack__free(ct);
	pipeline__free(p);
	redis_stats__free(rs);
	postgres_stats__free(ps);
	return t;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc % 2 == 0) {
		printf("bench_replay: input comes from tests/bench/bench_replay.sh (make bench runs "
		       "it)\n");
		return 0;
	}
	for (int a = 1; a + 1 < argc; a += 2) {
		size_t n, n_ring;
		double read_rate, best = 0;
		uint64_t cmds = 0, stmts = 0;
		struct entry *v = load(argv[a + 1], &n, &n_ring, &read_rate);

		if (!v)
			return 1;
		for (int r = 0; r < ROUNDS; r++) {
			double t = pass(v, n, &cmds, &stmts);

			if (!best || t < best)
				best = t;
		}
		printf("%s records %zu\n", argv[a], n_ring);
		printf("%s commands %llu\n", argv[a], (unsigned long long)(cmds + stmts));
		printf("%s pipeline_records_per_s_per_core %.0f\n", argv[a], n_ring / best);
		printf("%s pipeline_commands_per_s_per_core %.0f\n", argv[a], (cmds + stmts) / best);
		printf("%s reader_records_per_s_per_core %.0f\n", argv[a], read_rate);
		for (size_t i = 0; i < n; i++)
			free(v[i].data);
		free(v);
	}
	return 0;
}
