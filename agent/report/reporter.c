// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The reporter (see reporter.h): windows, per-tick accumulation, one report per interval. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alert/engine.h"
#include "report/report.h"
#include "report/report_json.h"
#include "report/report_window.h"
#include "report/reporter.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"

#define ACC_MAX 128 /* servers accumulated per window; past it, not reported */

/* What accumulates per server over a window, tick by tick. */
struct acc {
	bool used;
	char server[RP_SERVER_LEN];
	char kind[12];
	double h_now, h_min, h_sum;
	int h_n;
	double conns_sum, conns_max;
	int conns_n;
	double idle_sum;
	int idle_n;
	int n_fired;
	struct rp_fired fired[RP_MAX_FIRED];
};

struct reporter {
	uint64_t interval_ns;
	bool started;
	uint64_t start_ns;
	int64_t start_ms;
	struct snap_ref *redis_ref, *pg_ref; /* the window's first snapshots */
	const struct redis_snapshot *redis0;
	const struct postgres_snapshot *pg0;
	int64_t last_eval_ms; /* the engine snapshot last seen */
	struct acc acc[ACC_MAX];
	struct acc node;
	struct rp_server *prev; /* the last report's servers */
	int n_prev;
};

struct reporter *reporter__new(uint64_t interval_ns)
{
	struct reporter *rp = calloc(1, sizeof(*rp));

	if (!rp)
		return NULL;
	rp->interval_ns = interval_ns;
	return rp;
}

void reporter__free(struct reporter *rp)
{
	if (!rp)
		return;
	snap_box__put(rp->redis_ref);
	snap_box__put(rp->pg_ref);
	free(rp->prev);
	free(rp);
}

static void acc_reset(struct acc *a)
{
	memset(a, 0, sizeof(*a));
	a->h_now = a->h_min = NAN;
}

static struct acc *acc_find(struct reporter *rp, const char *server, const char *kind, bool add)
{
	struct acc *free_slot = NULL;

	for (int i = 0; i < ACC_MAX; i++) {
		struct acc *a = &rp->acc[i];

		if (!a->used) {
			if (!free_slot)
				free_slot = a;
			continue;
		}
		if (!strcmp(a->server, server) && (!kind || !strcmp(a->kind, kind)))
			return a;
	}
	if (!add || !free_slot || !kind)
		return NULL;
	acc_reset(free_slot);
	free_slot->used = true;
	snprintf(free_slot->server, sizeof(free_slot->server), "%s", server);
	snprintf(free_slot->kind, sizeof(free_slot->kind), "%s", kind);
	return free_slot;
}

static void acc_health(struct acc *a, double score)
{
	if (isnan(score))
		return;
	a->h_now = score;
	a->h_min = isnan(a->h_min) || score < a->h_min ? score : a->h_min;
	a->h_sum += score;
	a->h_n++;
}

static void acc_fired(struct acc *a, const struct alert *al)
{
	const char *sev = alert_severity__str(al->severity);

	for (int i = 0; i < a->n_fired; i++)
		if (!strcmp(a->fired[i].alertname, al->name) && !strcmp(a->fired[i].severity, sev)) {
			a->fired[i].count++;
			return;
		}
	if (a->n_fired >= RP_MAX_FIRED)
		return;
	snprintf(a->fired[a->n_fired].alertname, RP_NAME_LEN, "%s", al->name);
	snprintf(a->fired[a->n_fired].severity, sizeof(a->fired[0].severity), "%s", sev);
	a->fired[a->n_fired++].count = 1;
}

/* One tick's figures into the window's accumulators. */
static void accumulate(struct reporter *rp, const struct redis_snapshot *rs,
		       const struct postgres_snapshot *ps, const struct engine_snapshot *es)
{
	for (int i = 0; rs && i < rs->n_servers; i++) {
		struct acc *a = acc_find(rp, rs->servers[i].server, "redis", true);

		if (!a)
			continue;
		a->conns_sum += rs->servers[i].conns;
		a->conns_max = fmax(a->conns_max, rs->servers[i].conns);
		a->conns_n++;
	}
	for (int i = 0; ps && i < ps->n_servers; i++) {
		const struct ps_server_snap *sv = &ps->servers[i];
		struct acc *a = acc_find(rp, sv->server, "postgres", true);
		double conns = 0, idle = 0;

		if (!a)
			continue;
		for (int c = 0; c < sv->n_conns; c++) {
			conns += sv->conns[c].n;
			if (sv->conns[c].state == PG_STATE_IDLE_IN_TXN ||
			    sv->conns[c].state == PG_STATE_IDLE_IN_TXN_ABORTED)
				idle += sv->conns[c].n;
		}
		a->conns_sum += conns;
		a->conns_max = fmax(a->conns_max, conns);
		a->conns_n++;
		a->idle_sum += idle;
		a->idle_n++;
	}
	if (!es || es->at_ms == rp->last_eval_ms)
		return;
	for (int i = 0; i < es->n_servers; i++) {
		struct acc *a = acc_find(rp, es->servers[i].server, es->servers[i].kind, true);

		if (a)
			acc_health(a, es->servers[i].health.score);
	}
	acc_health(&rp->node, es->node_score);
	/* An alert fired in this tick when its firing time is past the last evaluation seen. */
	for (int i = 0; i < es->n_alerts; i++) {
		const struct alert *al = &es->alerts[i];
		const char *server = alert__label(al, "server"), *kind = alert__label(al, "kind");
		struct acc *a;

		if (al->state != ALERT_FIRING || al->fired_at_ms <= rp->last_eval_ms ||
		    al->fired_at_ms < rp->start_ms)
			continue;
		a = server ? acc_find(rp, server, kind, true) : &rp->node;
		if (a)
			acc_fired(a, al);
	}
	rp->last_eval_ms = es->at_ms;
}

static void start_window(struct reporter *rp, struct snap_box *redis, struct snap_box *postgres,
			 uint64_t now_ns, int64_t now_ms)
{
	snap_box__put(rp->redis_ref);
	snap_box__put(rp->pg_ref);
	rp->redis_ref = rp->pg_ref = NULL;
	rp->redis0 = redis ? snap_box__get(redis, &rp->redis_ref) : NULL;
	rp->pg0 = postgres ? snap_box__get(postgres, &rp->pg_ref) : NULL;
	rp->start_ns = now_ns;
	rp->start_ms = now_ms;
	rp->started = true;
	for (int i = 0; i < ACC_MAX; i++)
		rp->acc[i].used = false;
	acc_reset(&rp->node);
}

static const struct rp_server *prev_of(const struct reporter *rp, const struct rp_server *sv)
{
	for (int i = 0; i < rp->n_prev; i++)
		if (!strcmp(rp->prev[i].server, sv->server) && !strcmp(rp->prev[i].kind, sv->kind))
			return &rp->prev[i];
	return NULL;
}

/* What the window's accumulators and the engine say of one server. */
static void finish_server(struct reporter *rp, struct rp_server *sv,
			  const struct engine_snapshot *es)
{
	struct acc *a = acc_find(rp, sv->server, sv->kind, false);

	if (a) {
		sv->health = (struct rp_health){ a->h_now, a->h_min,
						 a->h_n ? a->h_sum / a->h_n : NAN };
		sv->n_fired = a->n_fired;
		memcpy(sv->fired, a->fired, sizeof(sv->fired));
		if (a->conns_n) {
			sv->cur.conns_mean = a->conns_sum / a->conns_n;
			sv->cur.conns_max = a->conns_max;
		}
		if (a->idle_n)
			sv->cur.idle_in_txn_mean = a->idle_sum / a->idle_n;
	}
	for (int i = 0; es && i < es->n_servers; i++) {
		const struct engine_server_health *h = &es->servers[i];

		if (strcmp(h->server, sv->server) || strcmp(h->kind, sv->kind) || !h->has_cap)
			continue;
		sv->has_cap = true;
		memcpy(sv->cap, h->cap, sizeof(sv->cap));
	}
	rp_window__previous(sv, prev_of(rp, sv));
}

static char *build(struct reporter *rp, const struct redis_snapshot *rs,
		   const struct postgres_snapshot *ps, const struct engine_snapshot *es,
		   uint64_t now_ns, int64_t now_ms)
{
	int n = (rs ? rs->n_servers : 0) + (ps ? ps->n_servers : 0);
	double seconds = (now_ns - rp->start_ns) / 1e9;
	struct report *r = calloc(1, sizeof(*r));
	char *json = NULL;

	if (!r)
		return NULL;
	r->servers = calloc(n ? n : 1, sizeof(*r->servers));
	if (!r->servers)
		goto cleanup;
	r->generated_at_ms = now_ms;
	r->window_start_ms = rp->start_ms;
	r->window_seconds = seconds;
	r->node = (struct rp_health){ rp->node.h_now, rp->node.h_min,
				      rp->node.h_n ? rp->node.h_sum / rp->node.h_n : NAN };
	r->n_node_fired = rp->node.n_fired;
	memcpy(r->node_fired, rp->node.fired, sizeof(r->node_fired));
	for (int i = 0; rs && i < rs->n_servers; i++) {
		const struct rs_server_snap *end = &rs->servers[i], *start = NULL;
		struct rp_server *sv = &r->servers[r->n_servers];

		for (int j = 0; rp->redis0 && j < rp->redis0->n_servers && !start; j++)
			if (!strcmp(rp->redis0->servers[j].server, end->server))
				start = &rp->redis0->servers[j];
		if (rp_window__redis(sv, start, end, rp->start_ns, seconds))
			continue;
		finish_server(rp, sv, es);
		r->n_servers++;
	}
	for (int i = 0; ps && i < ps->n_servers; i++) {
		const struct ps_server_snap *end = &ps->servers[i], *start = NULL;
		struct rp_server *sv = &r->servers[r->n_servers];

		for (int j = 0; rp->pg0 && j < rp->pg0->n_servers && !start; j++)
			if (!strcmp(rp->pg0->servers[j].server, end->server))
				start = &rp->pg0->servers[j];
		if (rp_window__pg(sv, start, end, seconds))
			continue;
		/* Named relations (h-pgcat's rows in the snapshot) enter here through
		 * rp_window__indexes(); without them a window has no index rows. */
		finish_server(rp, sv, es);
		r->n_servers++;
	}
	rp_recs__all(r);
	json = report__dumps(r);
	/* this report's servers are the next one's "before" */
	free(rp->prev);
	rp->prev = r->servers;
	rp->n_prev = r->n_servers;
	r->servers = NULL;
cleanup:
	free(r->servers);
	free(r);
	return json;
}

char *reporter__tick(struct reporter *rp, struct snap_box *redis, struct snap_box *postgres,
		     struct snap_box *engine, uint64_t now_ns, int64_t now_unix_ms)
{
	struct snap_ref *rref = NULL, *pref = NULL, *eref = NULL;
	const struct redis_snapshot *rs = redis ? snap_box__get(redis, &rref) : NULL;
	const struct postgres_snapshot *ps = postgres ? snap_box__get(postgres, &pref) : NULL;
	const struct engine_snapshot *es = engine ? snap_box__get(engine, &eref) : NULL;
	char *json = NULL;

	if (!rp->started)
		start_window(rp, redis, postgres, now_ns, now_unix_ms);
	accumulate(rp, rs, ps, es);
	if (now_ns - rp->start_ns >= rp->interval_ns) {
		json = build(rp, rs, ps, es, now_ns, now_unix_ms);
		/* the next window starts with these snapshots and this tick's readings */
		start_window(rp, redis, postgres, now_ns, now_unix_ms);
		if (es)
			rp->last_eval_ms = es->at_ms;
	}
	snap_box__put(rref);
	snap_box__put(pref);
	snap_box__put(eref);
	return json;
}
