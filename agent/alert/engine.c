// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The alert engine (see engine.h). Per tick:
 *   1. every server (and PostgreSQL database) in the snapshots gets a series: counters become
 *      per-second rates and windowed ratios, the since-start latency histogram becomes the p95
 *      of the last ENG_WINDOW ticks; each signal is scored against its baseline;
 *   2. the built-in rules judge each series, custom rules judge the /metrics text;
 *   3. every judgement steps the state machine of its alert instance (rule + labels);
 *   4. health scores, notifications and a snapshot for readers.
 * Both tables are fixed arrays: memory does not grow with uptime or with the number of servers.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "alert/baseline.h"
#include "alert/engine.h"
#include "capture/server_conf.h"
#include "alert/notify.h"
#include "alert/rule_state.h"
#include "export/metrics.h"
#include "export/pg_metrics.h"
#include "export/prom.h"
#include "export/redis_metrics.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"
#include "stats/self_stats.h"

#define NS 1000000000ULL

/* Ratios need this many events in the window to mean anything (a 1-in-3 error is no ratio). */
#define MIN_RATIO_EVENTS	20
#define MIN_LATENCY_EVENTS	5
/* p99 of fewer events is their maximum: too noisy to have a baseline of its own. */
#define MIN_P99_EVENTS		100
/* A stall that holds a few percent of the requests (CLIENT PAUSE, a short lock) leaves p95 alone
 * and moves p99: latency_anomaly also fires on p99, at a higher bar. */
#define P99_SCORE_EXTRA		2
#define P99_MIN_ABS_S		0.1
/* A blocked event loop (DEBUG SLEEP, a slow script) leaves latency alone: requests wait unread
 * in the kernel. Replies stop instead. latency_anomaly fires on a silence this long, far above
 * the usual one, on a server whose traffic was steady. */
#define STALL_MIN_S		1.0
#define STALL_MIN_RATE		10.0
#define MIN_BUFFER_ACCESS_PER_S 100.0
#define SLOW_STATEMENT_NS	(500 * 1000000ULL)
/* a server missing from snapshots this long is forgotten */
#define EXPIRE_NS		(60 * NS)
#define KEEP_RESOLVED_NS	(300 * NS) /* resolved alerts stay listed 5 min */
#define REDIS_MAXCLIENTS	10000.0 /* defaults of the servers: what "near the limit" means */
#define PG_MAX_CONNECTIONS	100.0

enum kind { K_REDIS, K_POSTGRES };
static const char *const kind_names[] = { "redis", "postgres" };

enum sig {
	S_P95,	     /* latency p95 over the window, s */
	S_RATE,	     /* requests/s in the last tick */
	S_ERR_RATIO, /* errors/requests over the window */
	S_HIT_RATIO, /* Redis keyspace or PostgreSQL shared buffers, over the window */
	S_MISSES,    /* Redis keyspace misses/s */
	S_OPENED,    /* connections opened/s */
	S_LOCK_WAIT, /* PostgreSQL seconds of lock wait per second */
	S_SLOW,	     /* statements slower than SLOW_STATEMENT_NS per second, over the window */
	S_P99,	     /* latency p99 over the window, s (only with MIN_P99_EVENTS in it) */
	S_GAP,	     /* longest silence between replies over the window, s (servers only) */
	S__COUNT
};

/* The counters of one reading; deltas between readings make the signals. */
struct reading {
	uint64_t t_ns;
	uint64_t req, err, hits, misses, opened, buf_hits, buf_reads, lock_ns, deadlocks;
	uint32_t lock_waiting; /* a gauge: backends in a lock wait at the reading */
	uint64_t gap_ns;       /* a gauge: the server's longest recent silence between replies */
};

struct series {
	bool used, present, has_dbs, usdt;
	enum kind kind;
	char server[ALERT_LABEL_VALUE_LEN];
	char database[PS_NAME_LEN]; /* "" for a server's own series */
	uint64_t last_seen_ns;
	uint32_t pid; /* the process judged (PostgreSQL: its postmaster) */
	uint32_t old_pid;
	uint64_t restarted_ns; /* 0: never seen restarting */
	int n_inst;	       /* alert instances that refer to it */
	/* the last ENG_WINDOW readings, oldest overwritten */
	int head, n_ring;
	struct reading ring[ENG_WINDOW];
	struct hist *ring_h; /* ENG_WINDOW since-start histograms beside them */
	/* this tick's signals */
	double sig[S__COUNT], score[S__COUNT], p99, conns, limit, lock_share;
	double conf_limit; /* postgres max_connections as the server's configuration says; 0 unknown */
	uint64_t deadlocks_delta;
	bool restarted_now;
	struct baseline b[S__COUNT];
};

struct inst {
	bool used, seen, resolved_now;
	int rule;   /* builtin index, R__COUNT + custom index, or -1 when its rule is gone */
	int series; /* -1 when node-wide or custom */
	struct rule_timing t;
	struct rule_state st;
	struct alert a;
};

enum rule_id {
	R_LATENCY_ANOMALY,
	R_P95_HIGH,
	R_P95_CRITICAL,
	R_ERROR_RATIO,
	R_HIT_LOW,
	R_HIT_DROP,
	R_MISS_STORM,
	R_PG_BUFFER_LOW,
	R_PG_LOCK_SURGE,
	R_PG_DEADLOCK,
	R_PG_SLOW_SURGE,
	R_CONN_STORM,
	R_CONN_LIMIT,
	R_TRAFFIC_STOPPED,
	R_TRAFFIC_SURGE,
	R_TARGET_GONE,
	R_TARGET_RESTARTED,
	R_EVENTS_LOST,
	R__COUNT
};

struct rule_def {
	const char *name;
	enum alert_severity sev;
	double for_s, clear_for_s;
	double threshold, clear; /* fire past threshold, resolve only past clear */
	bool score;		 /* the threshold is an anomaly score: alerts carry NAN */
};

/* The built-in rules. Names are an interface (configuration files, Alertmanager routes). */
static const struct rule_def defs[R__COUNT] = {
	[R_LATENCY_ANOMALY] = { "latency_anomaly", SEV_WARNING, 5, 5, 4, 2, true },
	[R_P95_HIGH] = { "latency_p95_high", SEV_WARNING, 5, 5, 1.0, 0.8, false },
	[R_P95_CRITICAL] = { "latency_p95_critical", SEV_CRITICAL, 5, 5, 2.0, 1.6, false },
	[R_ERROR_RATIO] = { "error_ratio_high", SEV_WARNING, 5, 10, 0.01, 0.005, false },
	[R_HIT_LOW] = { "redis_hit_ratio_low", SEV_WARNING, 10, 10, 0.80, 0.85, false },
	[R_HIT_DROP] = { "redis_hit_ratio_drop", SEV_WARNING, 5, 10, -4, -2, true },
	[R_MISS_STORM] = { "redis_miss_storm", SEV_CRITICAL, 2, 10, 100, 50, false },
	[R_PG_BUFFER_LOW] = { "postgres_buffer_hit_ratio_low", SEV_WARNING, 15, 15, 0.95, 0.97,
			      false },
	[R_PG_LOCK_SURGE] = { "postgres_lock_wait_surge", SEV_WARNING, 5, 10, 0.2, 0.1, false },
	[R_PG_DEADLOCK] = { "postgres_deadlock", SEV_WARNING, 0, 60, 0, 0, false },
	[R_PG_SLOW_SURGE] = { "postgres_slow_query_surge", SEV_WARNING, 5, 10, 1, 0.5, false },
	[R_CONN_STORM] = { "connection_storm", SEV_WARNING, 0, 10, 50, 25, false },
	[R_CONN_LIMIT] = { "connections_near_limit", SEV_WARNING, 5, 10, 0.9, 0.85, false },
	[R_TRAFFIC_STOPPED] = { "traffic_stopped", SEV_WARNING, 10, 3, 1, 1, false },
	[R_TRAFFIC_SURGE] = { "traffic_surge", SEV_INFO, 10, 10, 3, 2, false },
	[R_TARGET_GONE] = { "target_gone", SEV_CRITICAL, 5, 0, 0, 0, false },
	[R_TARGET_RESTARTED] = { "target_restarted", SEV_WARNING, 0, 60, 0, 0, false },
	[R_EVENTS_LOST] = { "events_lost", SEV_WARNING, 0, 30, 0, 0, false },
};

static const char *rule_names[R__COUNT + 1];

/* A rule as configured. */
struct rule_eff {
	bool enabled;
	enum alert_severity sev;
	struct rule_timing t;
	double threshold, clear;
};

struct custom_state {
	bool have_prev;
	double prev_sum;
	uint64_t prev_ns;
};

struct engine {
	struct alert_config *cfg;
	struct notifier *notifier;
	FILE *log;
	struct rule_eff rules[R__COUNT];
	struct rule_eff custom[ACFG_MAX_CUSTOM];
	struct custom_state cstate[ACFG_MAX_CUSTOM];
	struct baseline_cfg bcfg[S__COUNT];
	struct series series[ENG_MAX_SERIES];
	struct inst inst[ENG_MAX_ALERTS];
	struct hist scratch, window;
	uint64_t lost_prev;
	bool have_lost;
	uint64_t now_ns;
	int64_t mono_to_unix_ms; /* unix ms = now_ns / 1e6 + this, set each tick */
	uint64_t evaluations, transitions, dropped_series, dropped_alerts;
};

/* --- configuration ---------------------------------------------------------------------------- */

const char *const *engine__rule_names(void)
{
	for (int i = 0; i < R__COUNT; i++)
		rule_names[i] = defs[i].name;
	rule_names[R__COUNT] = NULL;
	return rule_names;
}

static uint64_t secs_ns(double s)
{
	return (uint64_t)(s * 1e9);
}

static void effective(const struct rule_def *d, const struct acfg_override *o, struct rule_eff *r)
{
	r->enabled = true;
	r->sev = d->sev;
	r->t.for_ns = secs_ns(d->for_s);
	r->t.clear_for_ns = secs_ns(d->clear_for_s);
	r->t.keep_resolved_ns = KEEP_RESOLVED_NS;
	r->threshold = d->threshold;
	r->clear = d->clear;
	if (!o)
		return;
	if (o->fields & ACF_ENABLED)
		r->enabled = o->enabled;
	if (o->fields & ACF_SEVERITY)
		r->sev = o->severity;
	if (o->fields & ACF_FOR)
		r->t.for_ns = o->for_ns;
	if (o->fields & ACF_CLEAR_FOR)
		r->t.clear_for_ns = o->clear_for_ns;
	if (o->fields & ACF_THRESHOLD) {
		/* A moved threshold keeps the built-in hysteresis unless clear is given too: in
		 * proportion (p95 1 s / 0.8 s -> 0.1 s / 0.08 s; scores 4 / 2 -> 6 / 3), or, for a
		 * ratio that fires below its floor, the same gap but never at or past 1 (a hit
		 * ratio floor of 0.95 clears at 0.975, not at a perfect 1.0). */
		double k = d->threshold != 0 ? d->clear / d->threshold : 0;

		r->threshold = o->threshold;
		if (k > 0 && k <= 1) {
			r->clear = o->threshold * k;
		} else {
			r->clear = o->threshold + (d->clear - d->threshold);
			if (d->threshold > 0 && d->threshold < 1 && d->clear > d->threshold)
				r->clear = fmin(r->clear, (o->threshold + 1) / 2);
		}
	}
	if (o->fields & ACF_CLEAR)
		r->clear = o->clear;
}

/* Steps an instance whose rule went away to its end: a firing alert resolves (and is sent as
 * such), a pending one is cancelled. */
static void retire(struct engine *e, struct inst *in);

void engine__configure(struct engine *e, const struct alert_config *cfg)
{
	if (cfg && cfg != e->cfg)
		*e->cfg = *cfg;
	else if (!cfg)
		alert_config__init(e->cfg);
	for (int i = 0; i < R__COUNT; i++) {
		const struct acfg_override *o = NULL;

		for (int j = 0; j < e->cfg->n_overrides; j++)
			if (!strcmp(e->cfg->overrides[j].rule, defs[i].name))
				o = &e->cfg->overrides[j];
		effective(&defs[i], o, &e->rules[i]);
	}
	for (int i = 0; i < e->cfg->n_custom; i++) {
		const struct acfg_custom *c = &e->cfg->custom[i];
		struct rule_eff *r = &e->custom[i];

		r->enabled = true;
		r->sev = c->severity;
		r->t = (struct rule_timing){ c->for_ns, c->clear_for_ns, KEEP_RESOLVED_NS };
		r->threshold = c->threshold;
		r->clear = c->clear;
		e->cstate[i].have_prev = false;
	}
	/* Instances follow their rule by name; those whose rule is gone or off are retired. */
	for (int i = 0; i < ENG_MAX_ALERTS; i++) {
		struct inst *in = &e->inst[i];
		int rule = -1;

		if (!in->used)
			continue;
		for (int r = 0; r < R__COUNT && rule < 0; r++)
			if (!strcmp(in->a.name, defs[r].name) && e->rules[r].enabled)
				rule = r;
		for (int c = 0; c < e->cfg->n_custom && rule < 0; c++)
			if (!strcmp(in->a.name, e->cfg->custom[c].name))
				rule = R__COUNT + c;
		in->rule = rule;
		if (rule < 0) {
			retire(e, in);
		} else {
			const struct rule_eff *r =
				rule < R__COUNT ? &e->rules[rule] : &e->custom[rule - R__COUNT];
			in->t = r->t;
			in->a.severity = r->sev;
		}
	}
}

struct engine *engine__new(const struct alert_config *cfg, struct notifier *notifier)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->cfg = malloc(sizeof(*e->cfg));
	if (!e->cfg) {
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	e->notifier = notifier;
	for (int i = 0; i < S__COUNT; i++)
		baseline_cfg__default(&e->bcfg[i]);
	/* Minimum effects: below these a change is never an incident, whatever the score. */
	e->bcfg[S_P95].min_abs_effect = 0.001; /* 40 us -> 80 us is not news */
	e->bcfg[S_RATE].min_abs_effect = 1;
	e->bcfg[S_ERR_RATIO].min_abs_effect = 0.01;
	e->bcfg[S_HIT_RATIO].min_abs_effect = 0.1;
	e->bcfg[S_HIT_RATIO].min_rel_effect = 0; /* a ratio near 1 never moves 50% */
	e->bcfg[S_MISSES].min_abs_effect = 50;
	e->bcfg[S_OPENED].min_abs_effect = 20;
	e->bcfg[S_LOCK_WAIT].min_abs_effect = 0.05;
	e->bcfg[S_SLOW].min_abs_effect = 0.5;
	e->bcfg[S_P99].min_abs_effect = P99_MIN_ABS_S;
	e->bcfg[S_P99].min_rel_effect = 4; /* 5x its usual value */
	/* Small on purpose: the minimum effect also floors the spread that samples are clipped
	 * at, and silences of a busy server are milliseconds; the rule adds STALL_MIN_S. */
	e->bcfg[S_GAP].min_abs_effect = 0.05;
	e->bcfg[S_GAP].min_rel_effect = 4; /* 5x the usual silence */
	for (int i = 0; i < ENG_MAX_ALERTS; i++)
		e->inst[i].series = -1;
	engine__configure(e, cfg);
	return e;
}

void engine__set_log(struct engine *e, FILE *log)
{
	e->log = log;
}

void engine__free(struct engine *e)
{
	if (!e)
		return;
	for (int i = 0; i < ENG_MAX_SERIES; i++)
		free(e->series[i].ring_h);
	free(e->cfg);
	free(e);
}

/* --- alert instances -------------------------------------------------------------------------- */

static int64_t unix_ms(const struct engine *e, uint64_t mono_ns)
{
	return (int64_t)(mono_ns / 1000000) + e->mono_to_unix_ms;
}

static void log_transition(struct engine *e, const struct inst *in, enum alert_state from)
{
	char labels[512] = "";
	size_t o = 0;

	if (!e->log)
		return;
	for (int i = 0; i < in->a.n_labels && o < sizeof(labels); i++) {
		if (!strcmp(in->a.labels[i].name, "kind"))
			continue;
		o += snprintf(labels + o, sizeof(labels) - o, " %s=%s", in->a.labels[i].name,
			      in->a.labels[i].value);
	}
	if (isnan(in->a.threshold))
		fprintf(e->log, "nexus-agent: alert %s%s %s %s -> %s (value %g)\n", in->a.name,
			labels, alert_severity__str(in->a.severity), alert_state__str(from),
			alert_state__str(in->st.state), in->a.value);
	else
		fprintf(e->log, "nexus-agent: alert %s%s %s %s -> %s (value %g, threshold %g)\n",
			in->a.name, labels, alert_severity__str(in->a.severity),
			alert_state__str(from), alert_state__str(in->st.state), in->a.value,
			in->a.threshold);
	fflush(e->log);
}

static void release(struct engine *e, struct inst *in)
{
	if (in->series >= 0)
		e->series[in->series].n_inst--;
	memset(in, 0, sizeof(*in));
	in->series = -1;
	in->rule = -1;
}

/* One step of an instance's state machine, with the times and the log line that go with it. */
static void step(struct engine *e, struct inst *in, bool fire, bool clear)
{
	enum alert_state from = in->st.state;
	enum alert_transition tr = rule_state__step(&in->st, &in->t, fire, clear, e->now_ns);
	int64_t now_ms = unix_ms(e, e->now_ns);

	/* An implementation may take a second step to go from pending to firing with for = 0. */
	if (tr == TR_PENDING && fire && in->t.for_ns == 0)
		rule_state__step(&in->st, &in->t, fire, clear, e->now_ns);
	in->a.state = in->st.state;
	if (in->st.state == from)
		return;
	e->transitions++;
	if ((from == ALERT_INACTIVE || from == ALERT_RESOLVED) &&
	    (in->st.state == ALERT_PENDING || in->st.state == ALERT_FIRING)) {
		/* a new episode */
		in->a.active_since_ms = now_ms;
		in->a.fired_at_ms = 0;
		in->a.resolved_at_ms = 0;
	}
	if (in->st.state == ALERT_FIRING)
		in->a.fired_at_ms = now_ms;
	if (in->st.state == ALERT_RESOLVED) {
		in->a.resolved_at_ms = now_ms;
		in->resolved_now = true;
	}
	log_transition(e, in, from);
	if (in->st.state == ALERT_INACTIVE)
		release(e, in);
}

static void retire(struct engine *e, struct inst *in)
{
	struct rule_timing now = { 0, 0, in->t.keep_resolved_ns };

	in->rule = -1;
	in->t = now;
	if (in->st.state == ALERT_PENDING || in->st.state == ALERT_FIRING)
		step(e, in, false, true);
}

/* A slot for a new instance: a free one, else the longest-resolved one. */
static struct inst *new_inst(struct engine *e)
{
	struct inst *victim = NULL;

	for (int i = 0; i < ENG_MAX_ALERTS; i++) {
		struct inst *in = &e->inst[i];

		if (!in->used)
			return in;
		if (in->st.state == ALERT_RESOLVED && !in->resolved_now &&
		    (!victim || in->a.resolved_at_ms < victim->a.resolved_at_ms))
			victim = in;
	}
	if (victim)
		release(e, victim);
	return victim;
}

/* What a rule says about one series at this tick. */
struct verdict {
	bool fire, clear;
	double value, threshold;
	char summary[ALERT_SUMMARY_LEN];
	char description[ALERT_DESCRIPTION_LEN];
};

/*
 * Applies a verdict to the instance of (rule, labels): creates it when the rule fires, steps it,
 * refreshes what it says. labels is the alert's label list (name, severity, ... not yet set).
 */
static void judge(struct engine *e, int rule, int series, const struct alert *key,
		  const struct verdict *v)
{
	const struct rule_eff *r = rule < R__COUNT ? &e->rules[rule] : &e->custom[rule - R__COUNT];
	uint64_t fp = alert__fingerprint(key);
	struct inst *in = NULL;

	if (!v->fire && series >= 0 && e->series[series].n_inst == 0)
		return; /* the common case: nothing to step, nothing to create */
	for (int i = 0; i < ENG_MAX_ALERTS && !in; i++)
		if (e->inst[i].used && e->inst[i].a.fingerprint == fp &&
		    !strcmp(e->inst[i].a.name, key->name))
			in = &e->inst[i];
	if (!in) {
		if (!v->fire)
			return;
		in = new_inst(e);
		if (!in) {
			e->dropped_alerts++;
			return;
		}
		in->used = true;
		in->a = *key;
		in->a.fingerprint = fp;
		in->series = series;
		if (series >= 0)
			e->series[series].n_inst++;
		rule_state__init(&in->st);
	}
	in->rule = rule;
	in->t = r->t;
	in->seen = true;
	in->a.severity = r->sev;
	in->a.value = v->value;
	in->a.threshold = v->threshold;
	if (v->fire || !in->a.summary[0]) {
		snprintf(in->a.summary, sizeof(in->a.summary), "%s", v->summary);
		snprintf(in->a.description, sizeof(in->a.description), "%s", v->description);
	}
	step(e, in, v->fire, v->clear);
}

/* --- series ----------------------------------------------------------------------------------- */

static int series_find(struct engine *e, enum kind k, const char *server, const char *db)
{
	int free_slot = -1;

	for (int i = 0; i < ENG_MAX_SERIES; i++) {
		struct series *se = &e->series[i];

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
		struct series *se = &e->series[free_slot];
		struct hist *ring_h = se->ring_h;

		memset(se, 0, sizeof(*se));
		if (!ring_h)
			ring_h = calloc(ENG_WINDOW, sizeof(*ring_h));
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
 */
static void series_update(struct engine *e, struct series *se, const struct reading *r,
			  const struct hist *total)
{
	int newest = (se->head + ENG_WINDOW - 1) % ENG_WINDOW;
	int oldest = (se->head + ENG_WINDOW - se->n_ring) % ENG_WINDOW;
	const struct reading *p = &se->ring[newest], *o = &se->ring[oldest];

	for (int i = 0; i < S__COUNT; i++)
		se->sig[i] = NAN;
	se->p99 = NAN;
	se->deadlocks_delta = 0;
	/* A counter that went back means the figures restarted: start the ring again. */
	if (se->n_ring &&
	    (r->req < p->req || r->err < p->err || r->hits < p->hits || r->misses < p->misses ||
	     r->opened < p->opened || r->deadlocks < p->deadlocks || r->lock_ns < p->lock_ns ||
	     r->buf_hits < p->buf_hits || r->buf_reads < p->buf_reads ||
	     (total && hist__count(total) < hist__count(&se->ring_h[newest]))))
		se->n_ring = 0;
	if (se->n_ring && r->t_ns > p->t_ns && r->t_ns > o->t_ns) {
		double dt = (r->t_ns - p->t_ns) / 1e9, wdt = (r->t_ns - o->t_ns) / 1e9;
		uint64_t wreq = r->req - o->req, wacc;

		se->sig[S_RATE] = (r->req - p->req) / dt;
		/* Silences mean something only on a server that is normally busy: learned (and
		 * judged) only once the rate's baseline is warm and high, so an idle start or an
		 * idle server never teaches it that a second of silence is normal. */
		if (r->gap_ns && baseline__warm(&se->b[S_RATE], &e->bcfg[S_RATE]) &&
		    se->b[S_RATE].centre >= STALL_MIN_RATE) {
			/* over the window, like latency: a 2 s stall stays in view for 5 s */
			uint64_t g = r->gap_ns;

			for (int k = 1; k <= se->n_ring; k++) {
				const struct reading *q = &se->ring[(se->head + ENG_WINDOW - k) % ENG_WINDOW];

				if (q->gap_ns > g)
					g = q->gap_ns;
			}
			se->sig[S_GAP] = g / 1e9;
		}
		se->sig[S_ERR_RATIO] =
			nan_if(wreq < MIN_RATIO_EVENTS, (double)(r->err - o->err) / (double)wreq);
		se->sig[S_OPENED] = (r->opened - p->opened) / dt;
		se->deadlocks_delta = r->deadlocks - p->deadlocks;
		if (se->kind == K_REDIS) {
			uint64_t h = r->hits - o->hits, m = r->misses - o->misses;

			se->sig[S_HIT_RATIO] =
				nan_if(h + m < MIN_RATIO_EVENTS, (double)h / (h + m));
			se->sig[S_MISSES] = (r->misses - p->misses) / dt;
		} else if (se->usdt) {
			wacc = (r->buf_hits - o->buf_hits) + (r->buf_reads - o->buf_reads);
			se->sig[S_HIT_RATIO] = nan_if(wacc < MIN_BUFFER_ACCESS_PER_S * wdt || !wacc,
						      (double)(r->buf_hits - o->buf_hits) / wacc);
			/* Finished waits count when they end; a backend still waiting adds one second
			 * per second now, so a lock held for minutes shows while it is held. (When it
			 * ends its whole wait lands in one tick: that spike only restarts clear_for.) */
			se->sig[S_LOCK_WAIT] = (r->lock_ns - p->lock_ns) / 1e9 / dt + r->lock_waiting;
		}
		if (total) {
			uint64_t n;

			hist__delta(&e->window, total, &se->ring_h[oldest]);
			n = hist__count(&e->window);
			if (n >= MIN_LATENCY_EVENTS) {
				se->sig[S_P95] = hist__quantile(&e->window, 0.95) / 1e9;
				se->p99 = hist__quantile(&e->window, 0.99) / 1e9;
			}
			if (n >= MIN_P99_EVENTS)
				se->sig[S_P99] = se->p99;
			if (se->kind == K_POSTGRES)
				se->sig[S_SLOW] =
					(n - hist__count_le(&e->window, SLOW_STATEMENT_NS)) / wdt;
		}
	}
	for (int i = 0; i < S__COUNT; i++) {
		/* A silence of STALL_MIN_S on a busy server is never normal: scored, not learned,
		 * so a burst of stalls does not teach the baseline to expect the next one. */
		if (i == S_GAP && se->sig[i] >= STALL_MIN_S)
			se->score[i] = baseline__score(&se->b[i], &e->bcfg[i], se->sig[i]);
		else
			se->score[i] = baseline__update(&se->b[i], &e->bcfg[i], se->sig[i]);
	}
	se->ring[se->head] = *r;
	if (total)
		se->ring_h[se->head] = *total;
	else
		hist__reset(&se->ring_h[se->head]);
	se->head = (se->head + 1) % ENG_WINDOW;
	if (se->n_ring < ENG_WINDOW)
		se->n_ring++;
}

static bool pid_alive(uint32_t pid)
{
	return pid && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* The server's process as its snapshot names it (PostgreSQL: the postmaster, the parent of the
 * backends, which the pipeline takes from the backend's process record). */
static void series_pid(struct engine *e, struct series *se, uint32_t pid)
{
	se->restarted_now = false;
	if (!pid)
		return;
	if (se->pid && pid != se->pid) {
		se->old_pid = se->pid;
		se->restarted_ns = e->now_ns;
		se->restarted_now = true;
	}
	if (se->kind == K_POSTGRES && pid != se->pid) {
		/* What "near the limit" means for this server: read again when it restarts. */
		int max = server_conf__pg_max_connections(pid);

		se->conf_limit = max > 0 ? max : PG_MAX_CONNECTIONS;
	}
	se->pid = pid;
}

static void see(struct engine *e, struct series *se)
{
	se->present = true;
	se->last_seen_ns = e->now_ns;
}

static void update_redis(struct engine *e, const struct rs_server_snap *sv)
{
	int i = series_find(e, K_REDIS, sv->server, "");
	struct series *se;
	struct reading r = { .t_ns = e->now_ns };

	if (i < 0) {
		e->dropped_series++;
		return;
	}
	se = &e->series[i];
	see(e, se);
	r.req = sv->commands;
	r.gap_ns = sv->reply_gap_ns;
	r.err = sv->errors;
	r.hits = sv->hits;
	r.misses = sv->misses;
	r.opened = sv->conns_opened;
	se->conns = (double)sv->conns;
	se->limit = REDIS_MAXCLIENTS;
	series_pid(e, se, sv->pid);
	series_update(e, se, &r, &sv->total);
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

static void update_pg(struct engine *e, const struct ps_server_snap *sv)
{
	int i = series_find(e, K_POSTGRES, sv->server, "");
	struct reading r = { .t_ns = e->now_ns };
	double limit = PG_MAX_CONNECTIONS;
	struct series *se;

	if (i < 0) {
		e->dropped_series++;
	} else {
		se = &e->series[i];
		see(e, se);
		se->has_dbs = sv->n_dbs > 0;
		se->usdt = sv->usdt;
		r.req = sv->queries;
		r.err = sv->errors;
		r.opened = sv->conns_opened;
		r.deadlocks = sv->deadlocks;
		r.gap_ns = sv->reply_gap_ns;
		if (sv->n_dbs) {
			hist__reset(&e->scratch);
			for (int d = 0; d < sv->n_dbs; d++) {
				const struct ps_db_snap *db = &sv->dbs[d];

				hist__merge(&e->scratch, &db->total);
				r.buf_hits += db->buffer_hits;
				r.buf_reads += db->buffer_reads;
				r.lock_ns += db->lock_wait_ns;
				r.lock_waiting += db->lock_waiting;
			}
		} else {
			synth_hist(&e->scratch, sv);
		}
		se->conns = pg_conns(sv, NULL);
		series_pid(e, se, sv->pid);
		limit = se->limit = se->conf_limit > 0 ? se->conf_limit : PG_MAX_CONNECTIONS;
		series_update(e, se, &r, &e->scratch);
		se->lock_share = isnan(se->sig[S_LOCK_WAIT])
					 ? NAN
					 : fmin(1, se->sig[S_LOCK_WAIT] / fmax(1, se->conns));
	}
	for (int d = 0; d < sv->n_dbs; d++) {
		const struct ps_db_snap *db = &sv->dbs[d];
		struct reading rd = { .t_ns = e->now_ns };

		i = series_find(e, K_POSTGRES, sv->server, db->database);
		if (i < 0) {
			e->dropped_series++;
			continue;
		}
		se = &e->series[i];
		see(e, se);
		se->usdt = sv->usdt;
		rd.req = db->queries;
		rd.err = db->errors;
		rd.buf_hits = db->buffer_hits;
		rd.buf_reads = db->buffer_reads;
		rd.lock_ns = db->lock_wait_ns;
		rd.lock_waiting = db->lock_waiting;
		se->conns = pg_conns(sv, db->database);
		se->limit = limit; /* a database's connections count against the server's limit */
		series_update(e, se, &rd, &db->total);
	}
}

/* --- built-in rules --------------------------------------------------------------------------- */

static const char *fmt_secs(char *buf, size_t len, double s)
{
	if (isnan(s))
		snprintf(buf, len, "n/a");
	else if (s >= 1)
		snprintf(buf, len, "%.2g s", s);
	else if (s >= 0.001)
		snprintf(buf, len, "%.3g ms", s * 1e3);
	else
		snprintf(buf, len, "%.3g us", s * 1e6);
	return buf;
}

/* "Redis 127.0.0.1:6379" or "PostgreSQL 127.0.0.1:5432 database app" */
static const char *who(char *buf, size_t len, const struct series *se)
{
	if (se->kind == K_REDIS)
		snprintf(buf, len, "Redis %s", se->server);
	else if (se->database[0])
		snprintf(buf, len, "PostgreSQL %s database %s", se->server, se->database);
	else
		snprintf(buf, len, "PostgreSQL %s", se->server);
	return buf;
}

static bool score_rule(const struct engine *e, int r)
{
	return defs[r].score;
}

/* Builds the verdict of rule r on series se; false when the rule does not apply to it. */
static bool rule_eval(const struct engine *e, int r, const struct series *se, struct verdict *v)
{
	const struct rule_eff *re = &e->rules[r];
	const double *s = se->sig, *z = se->score;
	double thr = re->threshold, clr = re->clear;
	bool redis = se->kind == K_REDIS, db = se->database[0] != '\0';
	/* Latency, errors and the USDT figures are judged per database when there are databases. */
	bool lat_here = redis || db || !se->has_dbs;
	char w[200], a[32], b[32];

	memset(v, 0, sizeof(*v));
	v->value = NAN;
	v->threshold = score_rule(e, r) ? NAN : thr;
	v->clear = true;
	who(w, sizeof(w), se);
	switch (r) {
	case R_LATENCY_ANOMALY: {
		const struct baseline *bl = &se->b[S_P95];

		if (!lat_here)
			return false;
		const struct baseline *b99 = &se->b[S_P99];
		bool p95_fire = !isnan(s[S_P95]) && baseline__warm(bl, &e->bcfg[S_P95]) &&
				z[S_P95] >= thr &&
				s[S_P95] - bl->centre >= e->bcfg[S_P95].min_abs_effect;
		/* The baseline already zeroes scores under the p99 minimum effects. */
		bool p99_fire = !isnan(s[S_P99]) && baseline__warm(b99, &e->bcfg[S_P99]) &&
				z[S_P99] >= thr + P99_SCORE_EXTRA;
		const struct baseline *brate = &se->b[S_RATE];
		bool stall = !isnan(s[S_GAP]) && s[S_GAP] >= STALL_MIN_S &&
			     baseline__warm(&se->b[S_GAP], &e->bcfg[S_GAP]) && z[S_GAP] >= thr &&
			     baseline__warm(brate, &e->bcfg[S_RATE]) &&
			     brate->centre >= STALL_MIN_RATE && se->conns > 0;

		v->value = s[S_P95];
		v->fire = p95_fire || p99_fire || stall;
		v->clear = (isnan(s[S_P95]) || z[S_P95] < clr) &&
			   (isnan(s[S_P99]) || z[S_P99] < clr + P99_SCORE_EXTRA) &&
			   (isnan(s[S_GAP]) || s[S_GAP] < STALL_MIN_S / 2);
		/* Name the quantile that is off: a stall of a few requests shows in p99 only. */
		bool by99 = p99_fire && !p95_fire;
		int q = by99 ? S_P99 : S_P95;

		if (stall && !p95_fire && !p99_fire) {
			v->value = s[S_GAP];
			snprintf(v->summary, sizeof(v->summary),
				 "%s stalled: no reply for %s (usually %s)", w,
				 fmt_secs(a, sizeof(a), s[S_GAP]),
				 fmt_secs(b, sizeof(b), se->b[S_GAP].centre));
			snprintf(v->description, sizeof(v->description),
				 "%s answered nothing for %s while clients were connected and "
				 "traffic was steady (%.0f/s): requests waited unread. %s",
				 w, fmt_secs(a, sizeof(a), s[S_GAP]), brate->centre,
				 redis ? "Something blocked the event loop: DEBUG SLEEP, a slow "
					 "script or command (SLOWLOG), a big DEL or FLUSHALL, "
					 "fork/swap on the host."
				       : "Check for a server-wide stall: checkpoints and I/O, "
					 "locks held on hot tables, the host's CPU and swap.");
			return true;
		}
		if (by99)
			v->value = s[S_P99];
		snprintf(v->summary, sizeof(v->summary), "%s p%d latency %s (baseline %s)", w,
			 by99 ? 99 : 95, fmt_secs(a, sizeof(a), s[q]),
			 fmt_secs(b, sizeof(b), se->b[q].centre));
		snprintf(v->description, sizeof(v->description),
			 "%s: p%d latency over the last %d s is %.1f robust deviations above "
			 "what is normal for it. %s",
			 w, by99 ? 99 : 95, ENG_WINDOW, z[q],
			 redis ? "Check SLOWLOG, blocked clients (CLIENT LIST), big keys and the "
				 "host's CPU and swap."
			       : "Check pg_stat_activity for long-running statements and lock "
				 "waits, and the host's I/O.");
		return true;
	}
	case R_P95_HIGH:
	case R_P95_CRITICAL:
		if (!lat_here)
			return false;
		v->value = s[S_P95];
		v->fire = !isnan(s[S_P95]) && s[S_P95] > thr;
		v->clear = isnan(s[S_P95]) || s[S_P95] < clr;
		snprintf(v->summary, sizeof(v->summary),
			 "%s p95 latency %s (bound %s, baseline %s)", w,
			 fmt_secs(a, sizeof(a), s[S_P95]), fmt_secs(b, sizeof(b), thr),
			 fmt_secs((char[32]){ 0 }, 32,
				  baseline__warm(&se->b[S_P95], &e->bcfg[S_P95])
					  ? se->b[S_P95].centre
					  : NAN));
		snprintf(v->description, sizeof(v->description),
			 "%s answers slowly: p95 over the last %d s is above %s. %s", w, ENG_WINDOW,
			 fmt_secs(b, sizeof(b), thr),
			 redis ? "Check SLOWLOG and blocked clients; a DEBUG SLEEP, a big KEYS or "
				 "a CLIENT PAUSE stalls every client."
			       : "Check pg_stat_activity for slow statements (/api/v1/database/"
				 "slow-queries) and lock waits.");
		return true;
	case R_ERROR_RATIO:
		if (!lat_here)
			return false;
		v->value = s[S_ERR_RATIO];
		v->fire = !isnan(s[S_ERR_RATIO]) && s[S_ERR_RATIO] > thr;
		v->clear = isnan(s[S_ERR_RATIO]) || s[S_ERR_RATIO] < clr;
		snprintf(v->summary, sizeof(v->summary), "%s error ratio %.2f%% (bound %.2f%%)", w,
			 100 * s[S_ERR_RATIO], 100 * thr);
		snprintf(
			v->description, sizeof(v->description),
			"%s: %.2f%% of requests failed over the last %d s. %s", w,
			100 * s[S_ERR_RATIO], ENG_WINDOW,
			redis ? "See nexus_redis_commands_total by status (WRONGTYPE, OOM, "
				"NOSCRIPT...)."
			      : "See nexus_postgres_queries_total by status (SQLSTATE class) and "
				"the server log.");
		return true;
	case R_HIT_LOW:
		if (!redis)
			return false;
		v->value = s[S_HIT_RATIO];
		v->fire = !isnan(s[S_HIT_RATIO]) && s[S_HIT_RATIO] < thr;
		v->clear = isnan(s[S_HIT_RATIO]) || s[S_HIT_RATIO] >= clr;
		snprintf(v->summary, sizeof(v->summary), "%s keyspace hit ratio %.2f (floor %.2f)",
			 w, s[S_HIT_RATIO], thr);
		snprintf(
			v->description, sizeof(v->description),
			"%s: only %.0f%% of key lookups hit over the last %d s. Check evictions "
			"(maxmemory), TTLs and the key prefixes that miss most "
			"(/api/v1/cache/stats).",
			w, 100 * s[S_HIT_RATIO], ENG_WINDOW);
		return true;
	case R_HIT_DROP: {
		const struct baseline *bl = &se->b[S_HIT_RATIO];

		if (!redis)
			return false;
		v->value = s[S_HIT_RATIO];
		v->fire = !isnan(s[S_HIT_RATIO]) && baseline__warm(bl, &e->bcfg[S_HIT_RATIO]) &&
			  z[S_HIT_RATIO] <= thr &&
			  bl->centre - s[S_HIT_RATIO] >= e->bcfg[S_HIT_RATIO].min_abs_effect;
		v->clear = isnan(s[S_HIT_RATIO]) || z[S_HIT_RATIO] > clr;
		snprintf(v->summary, sizeof(v->summary),
			 "%s hit ratio dropped to %.2f (baseline %.2f)", w, s[S_HIT_RATIO],
			 bl->centre);
		snprintf(
			v->description, sizeof(v->description),
			"%s: the keyspace hit ratio fell suddenly. Check for a FLUSHALL/FLUSHDB, a "
			"restart, mass expiry or evictions, and which prefixes miss "
			"(/api/v1/cache/stats).",
			w);
		return true;
	}
	case R_MISS_STORM:
		if (!redis)
			return false;
		v->value = s[S_MISSES];
		v->fire = !isnan(s[S_MISSES]) &&
			  baseline__warm(&se->b[S_MISSES], &e->bcfg[S_MISSES]) &&
			  z[S_MISSES] >= 6 && s[S_MISSES] > thr && !isnan(s[S_HIT_RATIO]) &&
			  s[S_HIT_RATIO] < 0.5;
		v->clear = isnan(s[S_MISSES]) || s[S_MISSES] < clr ||
			   (!isnan(s[S_HIT_RATIO]) && s[S_HIT_RATIO] >= 0.6);
		snprintf(v->summary, sizeof(v->summary),
			 "%s miss storm: %.0f misses/s, hit ratio %.2f", w, s[S_MISSES],
			 s[S_HIT_RATIO]);
		snprintf(
			v->description, sizeof(v->description),
			"%s: misses jumped to %.0f/s (baseline %.0f/s) and most lookups miss: the "
			"cache was emptied (FLUSHALL, restart without persistence) and the backing "
			"store takes the load. Check the database behind the cache.",
			w, s[S_MISSES], se->b[S_MISSES].centre);
		return true;
	case R_PG_BUFFER_LOW:
		if (redis || !se->usdt || (!db && se->has_dbs))
			return false;
		v->value = s[S_HIT_RATIO];
		v->fire = !isnan(s[S_HIT_RATIO]) && s[S_HIT_RATIO] < thr;
		v->clear = isnan(s[S_HIT_RATIO]) || s[S_HIT_RATIO] >= clr;
		snprintf(v->summary, sizeof(v->summary), "%s buffer hit ratio %.3f (floor %.2f)", w,
			 s[S_HIT_RATIO], thr);
		snprintf(
			v->description, sizeof(v->description),
			"%s: %.1f%% of shared-buffer lookups had to read. Check shared_buffers, "
			"sequential scans on big tables (pg_stat_user_tables) and missing indexes.",
			w, 100 * (1 - s[S_HIT_RATIO]));
		return true;
	case R_PG_LOCK_SURGE:
		if (redis || !se->usdt || (!db && se->has_dbs))
			return false;
		v->value = s[S_LOCK_WAIT];
		v->fire = !isnan(s[S_LOCK_WAIT]) && (s[S_LOCK_WAIT] >= thr || z[S_LOCK_WAIT] >= 6);
		v->clear = isnan(s[S_LOCK_WAIT]) || (s[S_LOCK_WAIT] < clr && z[S_LOCK_WAIT] < 3);
		snprintf(v->summary, sizeof(v->summary), "%s lock waits %.2f s per second", w,
			 s[S_LOCK_WAIT]);
		snprintf(
			v->description, sizeof(v->description),
			"%s: backends spend %.2f s per second waiting for heavyweight locks. Check "
			"pg_locks joined with pg_stat_activity for the blocking session (a long "
			"transaction or an explicit LOCK TABLE).",
			w, s[S_LOCK_WAIT]);
		return true;
	case R_PG_DEADLOCK:
		if (redis || db)
			return false;
		v->value = (double)se->deadlocks_delta;
		v->fire = se->deadlocks_delta > thr;
		v->clear = !v->fire;
		snprintf(v->summary, sizeof(v->summary), "%s detected a deadlock", w);
		snprintf(
			v->description, sizeof(v->description),
			"%s aborted a transaction to break a deadlock. The server log names the "
			"two statements; make transactions take their locks in the same order.",
			w);
		return true;
	case R_PG_SLOW_SURGE:
		if (redis || !lat_here)
			return false;
		v->value = s[S_SLOW];
		v->fire = !isnan(s[S_SLOW]) && s[S_SLOW] >= thr && z[S_SLOW] >= 4;
		v->clear = isnan(s[S_SLOW]) || s[S_SLOW] < clr;
		snprintf(v->summary, sizeof(v->summary), "%s %.1f statements/s slower than 0.5 s",
			 w, s[S_SLOW]);
		snprintf(
			v->description, sizeof(v->description),
			"%s: statements slower than 0.5 s went to %.1f per second (baseline %.1f). "
			"See /api/v1/database/slow-queries for which ones, then EXPLAIN them.",
			w, s[S_SLOW], se->b[S_SLOW].centre);
		return true;
	case R_CONN_STORM:
		if (db)
			return false;
		v->value = s[S_OPENED];
		v->fire = !isnan(s[S_OPENED]) && s[S_OPENED] >= thr && z[S_OPENED] >= 6;
		v->clear = isnan(s[S_OPENED]) || s[S_OPENED] < clr;
		snprintf(v->summary, sizeof(v->summary), "%s connection storm: %.0f connections/s",
			 w, s[S_OPENED]);
		snprintf(v->description, sizeof(v->description),
			 "%s: clients open %.0f connections per second (baseline %.1f). Look for a "
			 "client without a connection pool, or one reconnecting in a loop.",
			 w, s[S_OPENED], se->b[S_OPENED].centre);
		return true;
	case R_CONN_LIMIT:
		if (db)
			return false;
		v->value = se->conns / se->limit;
		v->fire = v->value >= thr;
		v->clear = v->value < clr;
		snprintf(v->summary, sizeof(v->summary), "%s has %.0f connections of %.0f allowed",
			 w, se->conns, se->limit);
		snprintf(
			v->description, sizeof(v->description),
			"%s is at %.0f%% of its connection limit (%s %.0f by default): new clients "
			"will be refused. Check for leaked connections and pool sizes.",
			w, 100 * v->value, redis ? "maxclients" : "max_connections", se->limit);
		return true;
	case R_TRAFFIC_STOPPED: {
		const struct baseline *bl = &se->b[S_RATE];

		if (db)
			return false;
		v->value = s[S_RATE];
		v->fire = !isnan(s[S_RATE]) && s[S_RATE] == 0 && se->conns > 0 &&
			  baseline__warm(bl, &e->bcfg[S_RATE]) && bl->centre >= thr;
		v->clear = isnan(s[S_RATE]) || s[S_RATE] > 0 || se->conns == 0;
		snprintf(v->summary, sizeof(v->summary),
			 "%s gets no requests while %.0f clients are connected", w, se->conns);
		snprintf(
			v->description, sizeof(v->description),
			"%s usually serves %.1f requests/s but none came for a while, with clients "
			"connected: the clients may be stuck (a pause, a lock, a network problem). "
			"%s",
			w, bl->centre,
			redis ? "Check CLIENT LIST for paused or blocked clients."
			      : "Check pg_stat_activity for sessions waiting.");
		return true;
	}
	case R_TRAFFIC_SURGE: {
		const struct baseline *bl = &se->b[S_RATE];

		if (db)
			return false;
		v->value = s[S_RATE];
		/* From an idle server any traffic is a surge: judged only against a real baseline.
		 */
		v->fire = !isnan(s[S_RATE]) && z[S_RATE] >= 8 && bl->centre >= 1 &&
			  s[S_RATE] >= thr * bl->centre;
		v->clear = isnan(s[S_RATE]) || s[S_RATE] < clr * bl->centre;
		v->threshold = thr * bl->centre;
		snprintf(v->summary, sizeof(v->summary),
			 "%s traffic surge: %.0f requests/s (baseline %.1f)", w, s[S_RATE],
			 bl->centre);
		snprintf(
			v->description, sizeof(v->description),
			"%s: requests per second are %.1fx what is normal. Check which commands or "
			"queries grew (nexus_*_commands_total, /api/v1/database/slow-queries) and "
			"which clients send them.",
			w, bl->centre > 0 ? s[S_RATE] / bl->centre : INFINITY);
		return true;
	}
	case R_TARGET_GONE: {
		bool gone = !se->present || (se->pid && !pid_alive(se->pid));

		if (db)
			return false;
		v->value = se->pid;
		v->threshold = NAN;
		v->fire = gone;
		v->clear = !gone;
		snprintf(v->summary, sizeof(v->summary), "%s (pid %u) is gone", w, se->pid);
		snprintf(v->description, sizeof(v->description),
			 "%s: %s. Check the service manager (systemctl status, journalctl) and the "
			 "server's log for a crash or an OOM kill.",
			 w,
			 se->present ? "its process no longer exists"
				     : "it left the agent's figures");
		return true;
	}
	case R_TARGET_RESTARTED:
		if (db || !se->present)
			return false;
		v->value = se->pid;
		v->threshold = NAN;
		v->fire = se->restarted_now;
		v->clear = !se->restarted_now;
		snprintf(v->summary, sizeof(v->summary), "%s restarted (pid %u -> %u)", w,
			 se->old_pid, se->pid);
		snprintf(
			v->description, sizeof(v->description),
			"%s is served by a new process. Check the server's log for why it "
			"stopped; %s",
			w,
			redis ? "an empty cache after a restart without persistence means misses."
			      : "caches (shared buffers) are cold after a restart.");
		return true;
	}
	return false;
}

static void base_labels(struct alert *a, const char *name, const struct series *se)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	alert__add_label(a, "server", se->server);
	if (se->database[0])
		alert__add_label(a, "database", se->database);
	alert__add_label(a, "kind", kind_names[se->kind]);
}

static void eval_series(struct engine *e, int idx)
{
	struct series *se = &e->series[idx];
	struct verdict v;
	struct alert key;

	for (int r = 0; r < R__COUNT; r++) {
		if (r == R_EVENTS_LOST || !e->rules[r].enabled)
			continue;
		/* A server that left the snapshots is only judged for being gone. */
		if (!se->present && r != R_TARGET_GONE)
			continue;
		if (!rule_eval(e, r, se, &v))
			continue;
		base_labels(&key, defs[r].name, se);
		judge(e, r, idx, &key, &v);
	}
}

static void eval_lost(struct engine *e, const struct self_stats *self)
{
	uint64_t lost;
	struct verdict v = { .clear = true };
	struct alert key = {};

	if (!self || !e->rules[R_EVENTS_LOST].enabled)
		return;
	lost = self->kernel[NX_CNT_LOST];
	v.value = e->have_lost && lost >= e->lost_prev ? (double)(lost - e->lost_prev) : 0;
	v.threshold = e->rules[R_EVENTS_LOST].threshold;
	v.fire = v.value > v.threshold;
	v.clear = !v.fire;
	e->lost_prev = lost;
	e->have_lost = true;
	snprintf(v.summary, sizeof(v.summary), "the agent lost %.0f events in the last second",
		 v.value);
	snprintf(v.description, sizeof(v.description),
		 "The kernel's ring buffer was full: the agent missed records, so its figures "
		 "undercount. Raise --ring-mb, lower --capture-bytes, or check the agent's CPU.");
	snprintf(key.name, sizeof(key.name), "%s", defs[R_EVENTS_LOST].name);
	alert__add_label(&key, "kind", "agent");
	judge(e, R_EVENTS_LOST, -1, &key, &v);
}

/* --- custom rules ----------------------------------------------------------------------------- */

/* Reads one label value (after the opening quote) with the text format's escapes. */
static const char *label_value(const char *p, char *out, size_t len)
{
	size_t o = 0;

	for (; *p && *p != '"'; p++) {
		char c = *p;

		if (c == '\\' && p[1]) {
			p++;
			c = *p == 'n' ? '\n' : *p;
		}
		if (o + 1 < len)
			out[o++] = c;
	}
	out[o] = '\0';
	return *p == '"' ? p + 1 : NULL;
}

/* Whether a sample line's labels (from the '{') hold every matcher; *rest is after the '}'. */
static bool labels_match(const char *p, const struct acfg_custom *c, const char **rest)
{
	bool ok[ACFG_MAX_MATCH] = { false };
	int hits = 0;

	if (*p == '{') {
		p++;
		while (*p && *p != '}') {
			char name[ALERT_LABEL_NAME_LEN * 2], value[ALERT_LABEL_VALUE_LEN * 2];
			size_t n = strcspn(p, "=");

			if (!p[n] || p[n + 1] != '"')
				return false;
			snprintf(name, sizeof(name), "%.*s", (int)n, p);
			p = label_value(p + n + 2, value, sizeof(value));
			if (!p)
				return false;
			for (int m = 0; m < c->n_match; m++)
				if (!ok[m] && !strcmp(c->match[m].name, name) &&
				    !strcmp(c->match[m].value, value)) {
					ok[m] = true;
					hits++;
				}
			if (*p == ',')
				p++;
		}
		if (*p != '}')
			return false;
		p++;
	}
	*rest = p;
	return hits == c->n_match;
}

/* The sum of the samples of c's metric whose labels match, from exposition text; NAN if none. */
static double custom_sum(const char *text, const struct acfg_custom *c)
{
	size_t mlen = strlen(c->metric);
	double sum = 0;
	bool any = false;

	for (const char *line = text; line && *line;) {
		const char *next = strchr(line, '\n'), *rest;

		if (line[0] != '#' && !strncmp(line, c->metric, mlen) &&
		    (line[mlen] == '{' || line[mlen] == ' ') &&
		    labels_match(line + mlen, c, &rest)) {
			char *end;
			double v = strtod(rest, &end);

			if (end != rest) {
				sum += v;
				any = true;
			}
		}
		line = next ? next + 1 : NULL;
	}
	return any ? sum : NAN;
}

static bool compare(enum acfg_op op, double v, double t)
{
	switch (op) {
	case OP_GT:
		return v > t;
	case OP_GE:
		return v >= t;
	case OP_LT:
		return v < t;
	case OP_LE:
		return v <= t;
	}
	return false;
}

static void eval_custom(struct engine *e, const struct redis_snapshot *redis,
			const struct postgres_snapshot *pg, const struct self_stats *self)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!e->cfg->n_custom)
		return;
	/* The same text /metrics serves: a custom rule sees exactly what a scraper sees. */
	f = open_memstream(&text, &len);
	if (!f)
		return;
	{
		struct prom p = { .f = f };

		if (self)
			metrics__render_self(f, false, self);
		if (redis)
			redis_metrics__render(&p, redis);
		if (pg)
			pg_metrics__render(&p, pg);
	}
	if (fclose(f) || !text) {
		free(text);
		return;
	}
	for (int i = 0; i < e->cfg->n_custom; i++) {
		const struct acfg_custom *c = &e->cfg->custom[i];
		struct custom_state *cs = &e->cstate[i];
		double sum = custom_sum(text, c), v = sum;
		struct verdict vd = {};
		struct alert key = {};

		if (c->rate) {
			v = NAN;
			if (cs->have_prev && !isnan(sum) && e->now_ns > cs->prev_ns &&
			    sum >= cs->prev_sum)
				v = (sum - cs->prev_sum) / ((e->now_ns - cs->prev_ns) / 1e9);
			cs->have_prev = !isnan(sum);
			cs->prev_sum = sum;
			cs->prev_ns = e->now_ns;
		}
		vd.value = v;
		vd.threshold = c->threshold;
		vd.fire = !isnan(v) && compare(c->op, v, c->threshold);
		vd.clear = isnan(v) || !compare(c->op, v, c->clear);
		if (c->summary[0])
			snprintf(vd.summary, sizeof(vd.summary), "%s", c->summary);
		else
			snprintf(vd.summary, sizeof(vd.summary), "%s%s %s %g (value %g)", c->metric,
				 c->rate ? " rate" : "", acfg_op__str(c->op), c->threshold, v);
		snprintf(
			vd.description, sizeof(vd.description),
			"Custom rule %s (configuration line %d): %s of %s%s, summed over the "
			"matching series, is %g, %s %g.",
			c->name, c->line, c->rate ? "the per-second rate" : "the value", c->metric,
			c->n_match ? " with the given labels" : "", v, acfg_op__str(c->op),
			c->threshold);
		snprintf(key.name, sizeof(key.name), "%s", c->name);
		for (int m = 0; m < c->n_match; m++)
			alert__add_label(&key, c->match[m].name, c->match[m].value);
		judge(e, R__COUNT + i, -1, &key, &vd);
	}
	free(text);
}

/* --- the tick --------------------------------------------------------------------------------- */

static void expire_series(struct engine *e, int idx)
{
	struct series *se = &e->series[idx];
	struct hist *ring_h = se->ring_h;

	for (int i = 0; i < ENG_MAX_ALERTS; i++) {
		struct inst *in = &e->inst[i];

		if (!in->used || in->series != idx)
			continue;
		/* The alert outlives its series, listed until it expires; it just has no owner. */
		retire(e, in);
		if (in->used) {
			in->series = -1;
			in->seen = true;
		}
	}
	memset(se, 0, sizeof(*se));
	se->ring_h = ring_h; /* kept for the next series in this slot: no churn */
}

static int by_importance(const void *pa, const void *pb)
{
	const struct alert *a = pa, *b = pb;
	static const int order[ALERT__STATES] = { 3, 1, 0, 2 }; /* firing, pending, resolved */

	if (order[a->state] != order[b->state])
		return order[a->state] - order[b->state];
	if (a->severity != b->severity)
		return (int)b->severity - (int)a->severity;
	{
		int c = strcmp(a->name, b->name);

		if (c)
			return c;
	}
	return a->fingerprint < b->fingerprint ? -1 : a->fingerprint > b->fingerprint;
}

static void health_of(const struct engine *e, const struct series *se,
		      struct engine_server_health *h)
{
	struct health_input *in = &h->input;
	const struct baseline *bl = &se->b[S_P95];
	bool redis = se->kind == K_REDIS;

	snprintf(h->server, sizeof(h->server), "%s", se->server);
	snprintf(h->kind, sizeof(h->kind), "%s", kind_names[se->kind]);
	in->p95_s = se->sig[S_P95];
	in->p95_baseline_s = baseline__warm(bl, &e->bcfg[S_P95]) ? bl->centre : NAN;
	in->p95_warn_s = e->rules[R_P95_HIGH].threshold;
	in->p95_crit_s = e->rules[R_P95_CRITICAL].threshold;
	in->error_ratio = se->sig[S_ERR_RATIO];
	in->hit_ratio = se->sig[S_HIT_RATIO];
	in->hit_ratio_floor =
		redis ? e->rules[R_HIT_LOW].threshold : e->rules[R_PG_BUFFER_LOW].threshold;
	in->saturation = se->limit > 0 ? fmin(1, se->conns / se->limit) : NAN;
	if (!redis && !isnan(se->lock_share))
		in->saturation = isnan(in->saturation) ? se->lock_share
						       : fmax(in->saturation, se->lock_share);
	for (int i = 0; i < ENG_MAX_ALERTS; i++) {
		const struct inst *a = &e->inst[i];
		const char *sv;

		if (!a->used || a->st.state != ALERT_FIRING)
			continue;
		sv = alert__label(&a->a, "server");
		if (!sv || strcmp(sv, se->server))
			continue;
		if (a->a.severity == SEV_CRITICAL)
			in->firing_critical++;
		else if (a->a.severity == SEV_WARNING)
			in->firing_warning++;
	}
	health__score(in, &h->health);
}

void engine_snapshot__free(struct engine_snapshot *s)
{
	if (!s)
		return;
	free(s->alerts);
	free(s->servers);
	free(s);
}

static struct engine_snapshot *snapshot(struct engine *e)
{
	struct engine_snapshot *s = calloc(1, sizeof(*s));
	double *scores = NULL;
	int n = 0, n_alerts = 0, n_servers = 0;

	if (!s)
		return NULL;
	/* Sized to what is there: a snapshot is made every second. */
	for (int i = 0; i < ENG_MAX_ALERTS; i++)
		n_alerts += e->inst[i].used && e->inst[i].st.state != ALERT_INACTIVE;
	for (int i = 0; i < ENG_MAX_SERIES; i++)
		n_servers += e->series[i].used && !e->series[i].database[0];
	s->alerts = calloc(n_alerts ? n_alerts : 1, sizeof(*s->alerts));
	s->servers = calloc(n_servers ? n_servers : 1, sizeof(*s->servers));
	scores = calloc(n_servers ? n_servers : 1, sizeof(*scores));
	if (!s->alerts || !s->servers || !scores) {
		free(scores);
		engine_snapshot__free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->at_ms = unix_ms(e, e->now_ns);
	for (int i = 0; i < ENG_MAX_ALERTS; i++) {
		const struct inst *in = &e->inst[i];

		if (!in->used || in->st.state == ALERT_INACTIVE)
			continue;
		s->alerts[s->n_alerts++] = in->a;
		if ((unsigned)in->a.severity < SEV__COUNT)
			s->by_state_sev[in->st.state][in->a.severity]++;
	}
	qsort(s->alerts, s->n_alerts, sizeof(*s->alerts), by_importance);
	for (int i = 0; i < ENG_MAX_SERIES; i++) {
		const struct series *se = &e->series[i];

		if (!se->used || se->database[0])
			continue;
		health_of(e, se, &s->servers[n]);
		scores[n] = s->servers[n].health.score;
		n++;
	}
	s->n_servers = n;
	s->node_score = n ? health__node(scores, n) : 100;
	free(scores);
	s->evaluations = e->evaluations;
	s->transitions = e->transitions;
	s->dropped_series = e->dropped_series;
	s->dropped_alerts = e->dropped_alerts;
	if (e->notifier) {
		s->has_notifier = true;
		notifier__stats(e->notifier, &s->notify);
	}
	return s;
}

static void notify(struct engine *e)
{
	struct alert *out;
	int n = 0, max = 0;

	if (!e->notifier)
		return;
	for (int i = 0; i < ENG_MAX_ALERTS; i++) {
		const struct inst *in = &e->inst[i];

		max += in->used && (in->st.state == ALERT_FIRING ||
				    (in->st.state == ALERT_RESOLVED && in->resolved_now));
	}
	if (!max)
		return;
	out = malloc(max * sizeof(*out));
	if (!out)
		return;
	for (int i = 0; i < ENG_MAX_ALERTS; i++) {
		const struct inst *in = &e->inst[i];

		if (in->used && (in->st.state == ALERT_FIRING ||
				 (in->st.state == ALERT_RESOLVED && in->resolved_now)))
			out[n++] = in->a;
	}
	notifier__submit(e->notifier, out, n);
	free(out);
}

struct engine_snapshot *engine__tick(struct engine *e, const struct redis_snapshot *redis,
				     const struct postgres_snapshot *pg,
				     const struct self_stats *self, uint64_t now_ns)
{
	struct timespec rt;

	clock_gettime(CLOCK_REALTIME, &rt);
	e->now_ns = now_ns;
	{
		/* Alert times follow the monotonic clock from the first tick on, so they stay in
		 * order whatever NTP does; only a wall clock off by more than an hour (set at
		 * boot, say) moves the mapping again. */
		int64_t off = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000 -
			      (int64_t)(now_ns / 1000000);

		if (!e->mono_to_unix_ms || llabs(off - e->mono_to_unix_ms) > 3600 * 1000)
			e->mono_to_unix_ms = off;
	}
	e->evaluations++;
	/* resolved_now is cleared after notify() below, not here: an alert that engine__configure
	 * resolved between ticks (its rule switched off) must still be sent as resolved. */
	for (int i = 0; i < ENG_MAX_ALERTS; i++)
		e->inst[i].seen = false;
	for (int i = 0; i < ENG_MAX_SERIES; i++)
		e->series[i].present = false;
	for (int i = 0; redis && i < redis->n_servers; i++)
		update_redis(e, &redis->servers[i]);
	for (int i = 0; pg && i < pg->n_servers; i++)
		update_pg(e, &pg->servers[i]);

	for (int i = 0; i < ENG_MAX_SERIES; i++) {
		struct series *se = &e->series[i];

		if (!se->used)
			continue;
		if (!se->present) {
			for (int s = 0; s < S__COUNT; s++)
				se->sig[s] = se->score[s] = NAN;
			se->lock_share = NAN;
			se->restarted_now = false;
			if (now_ns - se->last_seen_ns >= EXPIRE_NS) {
				expire_series(e, i);
				continue;
			}
		}
		if (se->database[0] && !se->present)
			continue; /* a database that went quiet: its instances wind down below */
		eval_series(e, i);
	}
	eval_lost(e, self);
	eval_custom(e, redis, pg, self);
	/* Instances nobody judged this tick (their series is quiet, their rule is off) wind down.
	 */
	for (int i = 0; i < ENG_MAX_ALERTS; i++) {
		struct inst *in = &e->inst[i];

		if (in->used && !in->seen)
			step(e, in, false, true);
	}
	notify(e);
	for (int i = 0; i < ENG_MAX_ALERTS; i++)
		e->inst[i].resolved_now = false;
	return snapshot(e);
}
