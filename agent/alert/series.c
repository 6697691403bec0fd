// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Signal series (see series.h): a reading per tick from the Redis and PostgreSQL snapshots,
 * rates from the difference with the previous reading, windowed ratios and latency quantiles
 * from the difference with the oldest one kept, then a score per signal against its baseline.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alert/series.h"

/* Ratios need this many events in the window to mean anything (a 1-in-3 error is no ratio). */
#define MIN_RATIO_EVENTS	20
#define MIN_LATENCY_EVENTS	5
/* p99 of fewer events is their maximum: too noisy to have a baseline of its own. */
#define MIN_P99_EVENTS		100
/* p99 moves alone when a few percent of requests stall (CLIENT PAUSE): below this it is noise. */
#define P99_MIN_ABS_S		0.1
#define MIN_BUFFER_ACCESS_PER_S 100.0
#define SLOW_STATEMENT_NS	(500 * 1000000ULL)
#define REDIS_MAXCLIENTS	10000.0 /* defaults of the servers: what "near the limit" means */
#define PG_MAX_CONNECTIONS	100.0

/* The quantiles of the window's latency histogram that S_P95 and S_P99 hold. */
#define Q_P95 0.95
#define Q_P99 0.99

static const char *const kind_names[] = { [SK_REDIS] = "redis", [SK_POSTGRES] = "postgres" };

const char *series_kind__str(enum series_kind k)
{
	return kind_names[k];
}

void series_set__init(struct series_set *ss)
{
	struct baseline_cfg *c = ss->bcfg;

	for (int i = 0; i < S__COUNT; i++)
		baseline_cfg__default(&c[i]);
	/* Minimum effects: below these a change is never an incident, whatever the score. */
	c[S_P95].min_abs_effect = 0.001; /* 40 us -> 80 us is not news */
	/* What clients feel includes the time the server waited for a CPU: noisy on a busy host.
	 * A queue that builds up (a saturated event loop, a pipeline behind slow statements) is
	 * news at 5 ms and 5x its usual value; single stalls are redis_event_loop_blocked's. */
	c[S_FELT_P95].min_abs_effect = 0.005;
	c[S_FELT_P95].min_rel_effect = 4;
	c[S_RATE].min_abs_effect = 1;
	c[S_ERR_RATIO].min_abs_effect = 0.01;
	c[S_HIT_RATIO].min_abs_effect = 0.1;
	c[S_HIT_RATIO].min_rel_effect = 0; /* a ratio near 1 never moves 50% */
	c[S_MISSES].min_abs_effect = 50;
	c[S_OPENED].min_abs_effect = 20;
	c[S_LOCK_WAIT].min_abs_effect = 0.05;
	c[S_SLOW].min_abs_effect = 0.5;
	c[S_P99].min_abs_effect = P99_MIN_ABS_S;
	c[S_P99].min_rel_effect = 4; /* 5x its usual value */
	/* Small on purpose: the minimum effect also floors the spread that samples are clipped
	 * at, and silences of a busy server are milliseconds; the rule adds STALL_MIN_S. */
	c[S_GAP].min_abs_effect = 0.05;
	c[S_GAP].min_rel_effect = 4; /* 5x the usual silence */
	/* without it, no capacity trends (the fits are skipped), everything else works */
	cap_scratch__init(&ss->cap_scratch);
}

void series_set__free(struct series_set *ss)
{
	for (int i = 0; i < ENG_MAX_SERIES; i++) {
		free(ss->s[i].ring_h);
		ss->s[i].ring_h = NULL;
		free(ss->s[i].cap);
		ss->s[i].cap = NULL;
	}
	cap_scratch__free(&ss->cap_scratch);
}

static int series_find(struct series_set *ss, enum series_kind k, const char *server,
		       const char *db)
{
	int free_slot = -1;

	for (int i = 0; i < ENG_MAX_SERIES; i++) {
		struct series *se = &ss->s[i];

		if (!se->used) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (se->kind == k && !strcmp(se->server, server) && !strcmp(se->database, db))
			return i;
	}
	if (free_slot < 0)
		return -1;
	{
		struct series *se = &ss->s[free_slot];
		struct hist *ring_h = se->ring_h;
		struct cap_server *cap = se->cap;

		memset(se, 0, sizeof(*se));
		/* servers keep capacity trends; the slot's earlier ones are reused */
		if (!db[0] && !cap)
			cap = malloc(sizeof(*cap));
		if (cap)
			cap_server__reset(cap);
		se->cap = cap;
		if (!ring_h)
			ring_h = calloc((size_t)2 * ENG_WINDOW, sizeof(*ring_h)); /* server, felt */
		if (!ring_h)
			return -1;
		se->ring_h = ring_h;
		se->used = true;
		se->kind = k;
		snprintf(se->server, sizeof(se->server), "%s", server);
		snprintf(se->database, sizeof(se->database), "%s", db);
		for (int s = 0; s < S__COUNT; s++)
			baseline__init(&se->b[s]);
	}
	return free_slot;
}

static double nan_if(bool cond, double v)
{
	return cond ? NAN : v;
}

/*
 * A new reading of a series: signals from the deltas against the previous reading (rates) and
 * against the oldest one kept (windowed ratios and latency), then scores, then the ring moves.
 * Long because every signal is one step of the same walk over the same two readings.
 */
static void series_update(struct series_set *ss, struct series *se, const struct reading *r,
			  const struct hist *total, const struct hist *felt)
{
	struct hist *ring_f = se->ring_h + ENG_WINDOW; /* felt, beside server time */
	const struct baseline_cfg *bcfg = ss->bcfg;
	int newest = (se->head + ENG_WINDOW - 1) % ENG_WINDOW;
	int oldest = (se->head + ENG_WINDOW - se->n_ring) % ENG_WINDOW;
	const struct reading *p = &se->ring[newest], *o = &se->ring[oldest];

	for (int i = 0; i < S__COUNT; i++)
		se->sig[i] = NAN;
	se->deadlocks_delta = 0;
	/* A counter that went back means the figures restarted: start the ring again. */
	if (se->n_ring &&
	    (r->req < p->req || r->err < p->err || r->hits < p->hits || r->misses < p->misses ||
	     r->opened < p->opened || r->deadlocks < p->deadlocks || r->lock_ns < p->lock_ns ||
	     r->buf_hits < p->buf_hits || r->buf_reads < p->buf_reads ||
	     (total && hist__count(total) < hist__count(&se->ring_h[newest])) ||
	     (felt && hist__count(felt) < hist__count(&ring_f[newest]))))
		se->n_ring = 0;
	if (se->n_ring && r->t_ns > p->t_ns && r->t_ns > o->t_ns) {
		double dt = (r->t_ns - p->t_ns) / 1e9, wdt = (r->t_ns - o->t_ns) / 1e9;
		uint64_t wreq = r->req - o->req, wacc;

		se->sig[S_RATE] = (r->req - p->req) / dt;
		/* Silences mean something only on a server that is normally busy: learned (and
		 * judged) only once the rate's baseline is warm and high, so an idle start or an
		 * idle server never teaches it that a second of silence is normal. */
		if (r->gap_ns && baseline__warm(&se->b[S_RATE], &bcfg[S_RATE]) &&
		    se->b[S_RATE].centre >= STALL_MIN_RATE) {
			/* over the window, like latency: a 2 s stall stays in view for 5 s */
			uint64_t g = r->gap_ns;

			for (int k = 1; k <= se->n_ring; k++) {
				const struct reading *q =
					&se->ring[(se->head + ENG_WINDOW - k) % ENG_WINDOW];

				if (q->gap_ns > g)
					g = q->gap_ns;
			}
			se->sig[S_GAP] = g / 1e9;
		}
		se->sig[S_ERR_RATIO] =
			nan_if(wreq < MIN_RATIO_EVENTS, (double)(r->err - o->err) / (double)wreq);
		se->sig[S_OPENED] = (r->opened - p->opened) / dt;
		se->deadlocks_delta = r->deadlocks - p->deadlocks;
		if (se->kind == SK_REDIS) {
			uint64_t h = r->hits - o->hits, m = r->misses - o->misses;

			se->sig[S_HIT_RATIO] =
				nan_if(h + m < MIN_RATIO_EVENTS, (double)h / (h + m));
			se->sig[S_MISSES] = (r->misses - p->misses) / dt;
		} else if (se->usdt) {
			wacc = (r->buf_hits - o->buf_hits) + (r->buf_reads - o->buf_reads);
			se->sig[S_HIT_RATIO] = nan_if(wacc < MIN_BUFFER_ACCESS_PER_S * wdt || !wacc,
						      (double)(r->buf_hits - o->buf_hits) / wacc);
			/* Finished waits count when they end; a backend still waiting adds one
			 * second per second now, so a lock held for minutes shows while it is held.
			 * (When it ends its whole wait lands in one tick: that spike only restarts
			 * clear_for.) */
			se->sig[S_LOCK_WAIT] =
				(r->lock_ns - p->lock_ns) / 1e9 / dt + r->lock_waiting;
		}
		if (total) {
			uint64_t n;

			hist__delta(&ss->window, total, &se->ring_h[oldest]);
			n = hist__count(&ss->window);
			if (n >= MIN_LATENCY_EVENTS)
				se->sig[S_P95] = hist__quantile(&ss->window, Q_P95) / 1e9;
			if (n >= MIN_P99_EVENTS)
				se->sig[S_P99] = hist__quantile(&ss->window, Q_P99) / 1e9;
			if (se->kind == SK_POSTGRES)
				se->sig[S_SLOW] =
					(n - hist__count_le(&ss->window, SLOW_STATEMENT_NS)) / wdt;
		}
		if (felt) {
			hist__delta(&ss->window, felt, &ring_f[oldest]);
			if (hist__count(&ss->window) >= MIN_LATENCY_EVENTS)
				se->sig[S_FELT_P95] = hist__quantile(&ss->window, Q_P95) / 1e9;
		}
	}
	for (int i = 0; i < S__COUNT; i++) {
		/* A silence of STALL_MIN_S on a busy server is never normal: scored, not learned,
		 * so a burst of stalls does not teach the baseline to expect the next one. */
		if (i == S_GAP && se->sig[i] >= STALL_MIN_S)
			se->score[i] = baseline__score(&se->b[i], &bcfg[i], se->sig[i]);
		else
			se->score[i] = baseline__update(&se->b[i], &bcfg[i], se->sig[i]);
	}
	se->ring[se->head] = *r;
	if (total)
		se->ring_h[se->head] = *total;
	else
		hist__reset(&se->ring_h[se->head]);
	if (felt)
		ring_f[se->head] = *felt;
	else
		hist__reset(&ring_f[se->head]);
	se->head = (se->head + 1) % ENG_WINDOW;
	if (se->n_ring < ENG_WINDOW)
		se->n_ring++;
}

/* The server's process as its snapshot names it (PostgreSQL: the postmaster, the parent of the
 * backends, which the pipeline takes from the backend's process record). */
static void series_pid(struct series *se, uint32_t pid, bool gone, uint64_t now_ns)
{
	se->gone = gone;
	se->restarted_now = false;
	if (!pid)
		return;
	if (se->pid && pid != se->pid) {
		se->old_pid = se->pid;
		se->restarted_ns = now_ns;
		se->restarted_now = true;
	}
	se->pid = pid;
}

static void see(struct series *se, uint64_t now_ns)
{
	se->present = true;
	se->last_seen_ns = now_ns;
}

/* A server's capacity readings: one point a minute per resource, fitted when a step ends. */
static void capacity_observe(struct series_set *ss, struct series *se, uint64_t now_ns,
			     double memory, double maxmemory)
{
	struct cap_server *c = se->cap;

	if (!c)
		return;
	cap_series__observe(&c->s[CAP_CONNECTIONS], &ss->cap_scratch, now_ns, se->conns,
			    se->limit, &c->fit[CAP_CONNECTIONS]);
	cap_series__observe(&c->s[CAP_MEMORY], &ss->cap_scratch, now_ns, memory, maxmemory,
			    &c->fit[CAP_MEMORY]);
	cap_series__observe(&c->s[CAP_TRAFFIC], &ss->cap_scratch, now_ns, se->sig[S_RATE], 0,
			    &c->fit[CAP_TRAFFIC]);
}

/*
 * The longest stall that ended since the last reading. One that ended in the last STALL_SETTLE_NS
 * waits for the next reading: the requests it held up are counted as they are answered, just
 * after it.
 */
#define STALL_SETTLE_NS (200 * 1000000ULL)

static void take_stalls(struct series *se, const struct rs_server_snap *sv, uint64_t now_ns)
{
	uint64_t newest = se->stall_seen_end;

	se->has_stall = false;
	for (int i = 0; i < sv->n_stalls; i++) {
		const struct rs_stall *st = &sv->stalls[i];

		if (st->t_end <= se->stall_seen_end || st->t_end + STALL_SETTLE_NS > now_ns)
			continue;
		if (st->t_end > newest)
			newest = st->t_end;
		if (!se->has_stall || st->dur_ns > se->stall.dur_ns)
			se->stall = *st;
		se->has_stall = true;
	}
	se->stall_seen_end = newest;
	se->blocked_share = sv->win_seconds > 0 ? sv->win_blocked_ns / 1e9 / sv->win_seconds : 0;
}

void series_set__update_redis(struct series_set *ss, const struct rs_server_snap *sv,
			      uint64_t now_ns)
{
	int i = series_find(ss, SK_REDIS, sv->server, "");
	struct series *se;
	struct reading r = { .t_ns = now_ns };

	if (i < 0) {
		ss->dropped++;
		return;
	}
	se = &ss->s[i];
	see(se, now_ns);
	r.req = sv->commands;
	r.gap_ns = sv->reply_gap_ns;
	r.err = sv->errors;
	r.hits = sv->hits;
	r.misses = sv->misses;
	r.opened = sv->conns_opened;
	se->conns = (double)sv->conns;
	/* What "near the limit" means: the snapshot carries the configured limit (capture side,
	 * read again when the server restarts), else the server's default. */
	se->limit = sv->max_conns ? sv->max_conns : REDIS_MAXCLIENTS;
	take_stalls(se, sv, now_ns);
	series_pid(se, sv->pid, sv->gone, now_ns);
	se->ident = sv->ident;
	series_update(ss, se, &r, &sv->total, &sv->felt_total);
	capacity_observe(ss, se, now_ns, sv->rss_bytes ? (double)sv->rss_bytes : NAN,
			 (double)sv->maxmemory);
}

/* Without per-database histograms, a server's latency from its statements' Prometheus buckets:
 * each bucket's count at the geometric middle of its edges. Coarse, and only a fallback. */
static void synth_hist(struct hist *h, const struct ps_server_snap *sv)
{
	uint64_t le[LS_N_LE] = { 0 }, count = 0;

	hist__reset(h);
	for (int i = 0; i < sv->n_series; i++) {
		for (int b = 0; b < LS_N_LE; b++)
			le[b] += sv->series[i].lat.le[b];
		count += sv->series[i].lat.count;
	}
	for (int b = 0; b < LS_N_LE; b++) {
		uint64_t n = le[b] - (b ? le[b - 1] : 0);
		double lo = b ? ls_le_seconds[b - 1] : ls_le_seconds[0] / 2;

		if (n)
			hist__record_n(h, (uint64_t)(sqrt(lo * ls_le_seconds[b]) * 1e9),
				       n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
	}
	if (count > le[LS_N_LE - 1]) {
		uint64_t n = count - le[LS_N_LE - 1];

		hist__record_n(h, (uint64_t)(2 * ls_le_seconds[LS_N_LE - 1] * 1e9),
			       n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
	}
}

static double pg_conns(const struct ps_server_snap *sv, const char *db)
{
	double n = 0;

	for (int i = 0; i < sv->n_conns; i++)
		if (!db || !strcmp(sv->conns[i].database, db))
			n += sv->conns[i].n;
	return n;
}

void series_set__update_pg(struct series_set *ss, const struct ps_server_snap *sv,
			   uint64_t now_ns)
{
	int i = series_find(ss, SK_POSTGRES, sv->server, "");
	struct reading r = { .t_ns = now_ns };
	double limit = PG_MAX_CONNECTIONS;
	struct series *se;

	if (i < 0) {
		ss->dropped++;
	} else {
		se = &ss->s[i];
		see(se, now_ns);
		se->has_dbs = sv->n_dbs > 0;
		se->usdt = sv->usdt;
		r.req = sv->queries;
		r.err = sv->errors;
		r.opened = sv->conns_opened;
		r.deadlocks = sv->deadlocks;
		r.gap_ns = sv->reply_gap_ns;
		if (sv->n_dbs) {
			hist__reset(&ss->scratch);
			for (int d = 0; d < sv->n_dbs; d++) {
				const struct ps_db_snap *db = &sv->dbs[d];

				hist__merge(&ss->scratch, &db->total);
				r.buf_hits += db->buffer_hits;
				r.buf_reads += db->buffer_reads;
				r.lock_ns += db->lock_wait_ns;
				r.lock_waiting += db->lock_waiting;
			}
		} else {
			synth_hist(&ss->scratch, sv);
		}
		se->conns = pg_conns(sv, NULL);
		series_pid(se, sv->pid, sv->gone, now_ns);
		se->ident = sv->ident;
		limit = se->limit = sv->max_conns ? sv->max_conns : PG_MAX_CONNECTIONS;
		series_update(ss, se, &r, &ss->scratch, NULL);
		capacity_observe(ss, se, now_ns, NAN, 0);
		se->lock_share = isnan(se->sig[S_LOCK_WAIT])
					 ? NAN
					 : fmin(1, se->sig[S_LOCK_WAIT] / fmax(1, se->conns));
	}
	for (int d = 0; d < sv->n_dbs; d++) {
		const struct ps_db_snap *db = &sv->dbs[d];
		struct reading rd = { .t_ns = now_ns };

		i = series_find(ss, SK_POSTGRES, sv->server, db->database);
		if (i < 0) {
			ss->dropped++;
			continue;
		}
		se = &ss->s[i];
		see(se, now_ns);
		se->usdt = sv->usdt;
		rd.req = db->queries;
		rd.err = db->errors;
		rd.buf_hits = db->buffer_hits;
		rd.buf_reads = db->buffer_reads;
		rd.lock_ns = db->lock_wait_ns;
		rd.lock_waiting = db->lock_waiting;
		se->conns = pg_conns(sv, db->database);
		se->limit = limit; /* a database's connections count against the server's limit */
		series_update(ss, se, &rd, &db->total, &db->felt_total);
	}
}

void series__absent(struct series *se)
{
	for (int s = 0; s < S__COUNT; s++)
		se->sig[s] = se->score[s] = NAN;
	se->lock_share = NAN;
	se->restarted_now = false;
	se->has_stall = false;
}

void series__forget(struct series *se)
{
	struct hist *ring_h = se->ring_h;
	struct cap_server *cap = se->cap;

	memset(se, 0, sizeof(*se));
	se->ring_h = ring_h; /* kept for the next series in this slot: no churn */
	se->cap = cap;
}


void series__subject(const struct series_set *ss, const struct series *se,
		     struct rule_subject *out)
{
	*out = (struct rule_subject){
		.kind = kind_names[se->kind],
		.server = se->server,
		.database = se->database,
		.present = se->present,
		.usdt = se->usdt,
		.pid = se->pid,
		.gone = se->gone,
		.old_pid = se->old_pid,
		.restarted_now = se->restarted_now,
		.sig = se->sig,
		.score = se->score,
		.base = se->b,
		.bcfg = ss->bcfg,
		.conns = se->conns,
		.limit = se->limit,
		.deadlocks = se->deadlocks_delta,
		.stall = se->has_stall ? &se->stall : NULL,
		.blocked_share = se->blocked_share,
		.cap = se->cap && !se->database[0] ? se->cap->fit : NULL,
	};
	if (se->kind == SK_REDIS)
		out->scope = SC_REDIS;
	else if (se->database[0])
		out->scope = SC_PG_DATABASE;
	else if (se->has_dbs)
		out->scope = SC_PG_SERVER;
	else
		out->scope = SC_PG_SERVER_ONLY;
}
