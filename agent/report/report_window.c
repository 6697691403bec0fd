// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A server's window from two snapshots (see report_window.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report/report_window.h"

/* The servers' defaults when their configuration does not say (as alert/series.c judges). */
#define REDIS_MAXCLIENTS   10000.0
#define PG_MAX_CONNECTIONS 100.0

/* end - start, or end when the counter went back (the figures restarted). */
static uint64_t delta(uint64_t end, uint64_t start)
{
	return end >= start ? end - start : end;
}

static void empty_figures(struct rp_figures *f, double seconds)
{
	*f = (struct rp_figures){
		.seconds = seconds,
		.p50_s = NAN, .p95_s = NAN, .p99_s = NAN,
		.conns = NAN, .conns_max = NAN, .conns_mean = NAN, .limit = NAN,
		.idle_in_txn = NAN, .idle_in_txn_mean = NAN, .rss_bytes = NAN, .maxmemory = NAN,
	};
}

/* Window percentiles from two since-start histograms (start may be NULL). */
static int percentiles(struct rp_figures *f, const struct hist *end, const struct hist *start)
{
	struct hist *w = malloc(sizeof(*w));

	if (!w)
		return -ENOMEM;
	if (start && hist__count(end) >= hist__count(start))
		hist__delta(w, end, start);
	else
		*w = *end;
	if (hist__count(w)) {
		f->p50_s = hist__quantile(w, 0.50) / 1e9;
		f->p95_s = hist__quantile(w, 0.95) / 1e9;
		f->p99_s = hist__quantile(w, 0.99) / 1e9;
	}
	free(w);
	return 0;
}

static int by_total(const void *a, const void *b)
{
	const struct rp_top *x = a, *y = b;

	return x->total_s < y->total_s ? 1 : x->total_s > y->total_s ? -1 : 0;
}

static int by_misses(const void *a, const void *b)
{
	const struct rp_prefix *x = a, *y = b;

	return x->misses < y->misses ? 1 : x->misses > y->misses ? -1 : strcmp(x->prefix, y->prefix);
}

static int by_duration(const void *a, const void *b)
{
	const struct rp_stall *x = a, *y = b;

	return x->dur_s < y->dur_s ? 1 : x->dur_s > y->dur_s ? -1 : 0;
}

/* Keeps a row in the top list: appended while there is room, else over the shortest. */
static void top_add(struct rp_server *sv, const struct rp_top *t)
{
	int min = 0;

	if (!t->count)
		return;
	if (sv->n_top < RP_MAX_TOP) {
		sv->top[sv->n_top++] = *t;
		return;
	}
	for (int i = 1; i < sv->n_top; i++)
		if (sv->top[i].total_s < sv->top[min].total_s)
			min = i;
	if (t->total_s > sv->top[min].total_s)
		sv->top[min] = *t;
}

static void server_head(struct rp_server *sv, const char *server, const char *kind,
			double seconds)
{
	memset(sv, 0, sizeof(*sv));
	snprintf(sv->server, sizeof(sv->server), "%s", server);
	snprintf(sv->kind, sizeof(sv->kind), "%s", kind);
	empty_figures(&sv->cur, seconds);
	empty_figures(&sv->prev, NAN);
	sv->health = (struct rp_health){ NAN, NAN, NAN };
}

int rp_window__redis(struct rp_server *sv, const struct rs_server_snap *start,
		     const struct rs_server_snap *end, uint64_t start_ns, double seconds)
{
	struct rp_figures *f = &sv->cur;

	server_head(sv, end->server, "redis", seconds);
	/* a restarted server's figures start again: the start snapshot says nothing of them */
	if (start && (end->commands < start->commands || end->hits < start->hits ||
		      end->misses < start->misses))
		start = NULL;
	f->requests = delta(end->commands, start ? start->commands : 0);
	f->errors = delta(end->errors, start ? start->errors : 0);
	f->hits = delta(end->hits, start ? start->hits : 0);
	f->misses = delta(end->misses, start ? start->misses : 0);
	f->opened = delta(end->conns_opened, start ? start->conns_opened : 0);
	f->conns = f->conns_max = f->conns_mean = (double)end->conns;
	f->limit = end->max_conns ? end->max_conns : REDIS_MAXCLIENTS;
	f->rss_bytes = end->rss_bytes ? (double)end->rss_bytes : NAN;
	f->maxmemory = end->maxmemory ? (double)end->maxmemory : NAN;
	if (percentiles(f, &end->total, start ? &start->total : NULL))
		return -ENOMEM;
	for (int i = 0; i < end->n_cmds; i++) {
		const struct rs_cmd_snap *c = &end->cmds[i], *s = NULL;
		struct rp_top t = { 0 };

		for (int j = 0; start && j < start->n_cmds && !s; j++)
			if (!strcmp(start->cmds[j].command, c->command))
				s = &start->cmds[j];
		snprintf(t.name, sizeof(t.name), "%s", c->command);
		t.count = delta(c->lat.count, s ? s->lat.count : 0);
		t.errors = delta(c->lat.errors, s ? s->lat.errors : 0);
		t.total_s = delta(c->lat.sum_ns, s ? s->lat.sum_ns : 0) / 1e9;
		t.slow = delta(c->slow, s ? s->slow : 0);
		t.blocking = c->blocking;
		top_add(sv, &t);
	}
	qsort(sv->top, sv->n_top, sizeof(sv->top[0]), by_total);
	for (int i = 0; i < end->n_prefixes && sv->n_prefixes < RP_MAX_PREFIXES; i++) {
		const struct rs_prefix_snap *p = &end->prefixes[i], *s = NULL;
		struct rp_prefix *o = &sv->prefixes[sv->n_prefixes];

		for (int j = 0; start && j < start->n_prefixes && !s; j++)
			if (!strcmp(start->prefixes[j].prefix, p->prefix))
				s = &start->prefixes[j];
		snprintf(o->prefix, sizeof(o->prefix), "%s", p->prefix);
		o->hits = delta(p->hits, s ? s->hits : 0);
		o->misses = delta(p->misses, s ? s->misses : 0);
		o->prev_ratio = NAN;
		if (o->hits + o->misses)
			sv->n_prefixes++;
	}
	qsort(sv->prefixes, sv->n_prefixes, sizeof(sv->prefixes[0]), by_misses);
	for (int i = 0; i < end->n_stalls && sv->n_stalls < RP_MAX_STALLS; i++) {
		const struct rs_stall *st = &end->stalls[i];
		struct rp_stall *o = &sv->stalls[sv->n_stalls];

		if (st->t_end < start_ns)
			continue;
		snprintf(o->command, sizeof(o->command), "%s", st->command);
		snprintf(o->client, sizeof(o->client), "%s", st->client);
		o->dur_s = st->dur_ns / 1e9;
		o->waiters = st->waiters;
		sv->n_stalls++;
	}
	qsort(sv->stalls, sv->n_stalls, sizeof(sv->stalls[0]), by_duration); /* longest first */
	return 0;
}

/* A server's latency: its databases' histograms merged (NULL when it has none). */
static struct hist *pg_total(const struct ps_server_snap *sv)
{
	struct hist *h;

	if (!sv || !sv->n_dbs)
		return NULL;
	h = malloc(sizeof(*h));
	if (!h)
		return NULL;
	hist__reset(h);
	for (int d = 0; d < sv->n_dbs; d++)
		hist__merge(h, &sv->dbs[d].total);
	return h;
}

int rp_window__pg(struct rp_server *sv, const struct ps_server_snap *start,
		  const struct ps_server_snap *end, double seconds)
{
	struct rp_figures *f = &sv->cur;
	uint64_t bh = 0, br = 0, sbh = 0, sbr = 0;
	struct hist *he = NULL, *hs = NULL;
	int err = 0;

	server_head(sv, end->server, "postgres", seconds);
	if (start && end->queries < start->queries)
		start = NULL;
	f->requests = delta(end->queries, start ? start->queries : 0);
	f->errors = delta(end->errors, start ? start->errors : 0);
	f->opened = delta(end->conns_opened, start ? start->conns_opened : 0);
	for (int d = 0; d < end->n_dbs; d++)
		bh += end->dbs[d].buffer_hits, br += end->dbs[d].buffer_reads;
	for (int d = 0; start && d < start->n_dbs; d++)
		sbh += start->dbs[d].buffer_hits, sbr += start->dbs[d].buffer_reads;
	f->hits = delta(bh, sbh);
	f->misses = delta(br, sbr);
	f->conns = 0;
	f->idle_in_txn = 0;
	for (int i = 0; i < end->n_conns; i++) {
		f->conns += end->conns[i].n;
		if (end->conns[i].state == PG_STATE_IDLE_IN_TXN ||
		    end->conns[i].state == PG_STATE_IDLE_IN_TXN_ABORTED)
			f->idle_in_txn += end->conns[i].n;
	}
	f->conns_max = f->conns_mean = f->conns;
	f->idle_in_txn_mean = f->idle_in_txn;
	f->limit = end->max_conns ? end->max_conns : PG_MAX_CONNECTIONS;
	he = pg_total(end);
	hs = pg_total(start);
	if (he)
		err = percentiles(f, he, hs);
	free(he);
	free(hs);
	if (err)
		return err;
	for (int i = 0; i < end->n_series; i++) {
		const struct ps_series_snap *c = &end->series[i], *s = NULL;
		struct rp_top t = { 0 };

		for (int j = 0; start && j < start->n_series && !s; j++)
			if (start->series[j].fingerprint == c->fingerprint &&
			    !strcmp(start->series[j].database, c->database) &&
			    !strcmp(start->series[j].user, c->user))
				s = &start->series[j];
		snprintf(t.name, sizeof(t.name), "%s", c->text);
		snprintf(t.database, sizeof(t.database), "%s", c->database);
		t.fingerprint = c->fingerprint;
		t.count = delta(c->lat.count, s ? s->lat.count : 0);
		t.errors = delta(c->lat.errors, s ? s->lat.errors : 0);
		t.total_s = delta(c->lat.sum_ns, s ? s->lat.sum_ns : 0) / 1e9;
		t.buf_hits = delta(c->buf_hits, s ? s->buf_hits : 0);
		t.buf_reads = delta(c->buf_reads, s ? s->buf_reads : 0);
		top_add(sv, &t);
	}
	qsort(sv->top, sv->n_top, sizeof(sv->top[0]), by_total);
	return 0;
}

static int by_index_access(const void *a, const void *b)
{
	const struct rp_index *x = a, *y = b;
	uint64_t ax = x->hits + x->reads, ay = y->hits + y->reads;

	return ax < ay ? 1 : ax > ay ? -1 : strcmp(x->name, y->name);
}

void rp_window__indexes(struct rp_server *sv, const struct rp_index *start, int n_start,
			const struct rp_index *end, int n_end)
{
	sv->n_indexes = 0;
	for (int i = 0; i < n_end && sv->n_indexes < RP_MAX_INDEXES; i++) {
		const struct rp_index *e = &end[i], *s = NULL;
		struct rp_index *o = &sv->indexes[sv->n_indexes++];

		for (int j = 0; j < n_start && !s; j++)
			if (!strcmp(start[j].database, e->database) &&
			    !strcmp(start[j].schema, e->schema) && !strcmp(start[j].name, e->name))
				s = &start[j];
		*o = *e;
		o->hits = delta(e->hits, s ? s->hits : 0);
		o->reads = delta(e->reads, s ? s->reads : 0);
	}
	qsort(sv->indexes, sv->n_indexes, sizeof(sv->indexes[0]), by_index_access);
}

void rp_window__previous(struct rp_server *sv, const struct rp_server *prev)
{
	sv->has_prev = prev != NULL;
	if (!prev)
		return;
	sv->prev = prev->cur;
	for (int i = 0; i < sv->n_prefixes; i++) {
		struct rp_prefix *p = &sv->prefixes[i];

		for (int j = 0; j < prev->n_prefixes; j++) {
			const struct rp_prefix *q = &prev->prefixes[j];

			if (strcmp(q->prefix, p->prefix))
				continue;
			p->prev_lookups = q->hits + q->misses;
			p->prev_ratio = p->prev_lookups ? (double)q->hits / p->prev_lookups : NAN;
		}
	}
}
