// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The alert engine (see engine.h). Per tick:
 *   1. every server (and PostgreSQL database) in the snapshots takes a reading into its series
 *      (series.c): rates, windowed ratios and latency quantiles, each scored against its
 *      baseline;
 *   2. each built-in rule (rules.h: one table over rules_*.c) judges the subjects it applies
 *      to: the series, then the agent itself; custom rules judge the /metrics text
 *      (custom_rules.c);
 *   3. every judgement steps the state machine of its alert instance (rule + labels);
 *   4. health scores, notifications and a snapshot for readers.
 * Both tables are fixed arrays: memory does not grow with uptime or with the number of servers.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "alert/custom_rules.h"
#include "alert/runbook.h"
#include "alert/engine.h"
#include "alert/notify.h"
#include "alert/rule_state.h"
#include "alert/rules.h"
#include "alert/series.h"
#include "model/model_fill.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"
#include "stats/self_stats.h"

#define NS 1000000000ULL

/* a server missing from snapshots this long is forgotten */
#define EXPIRE_NS		(60 * NS)
#define KEEP_RESOLVED_NS	(300 * NS) /* resolved alerts stay listed 5 min */

struct inst {
	bool used, seen, resolved_now;
	int rule;   /* built-in index, n_rules + custom index, or -1 when its rule is gone */
	int series; /* -1 when node-wide or custom */
	struct rule_timing t;
	struct rule_state st;
	struct alert a;
};

struct engine {
	struct alert_config *cfg;
	struct notifier *notifier;
	FILE *log;
	int n_rules;
	const struct rule *rule[RULES_MAX]; /* the built-in table, in evaluation order */
	struct rule_eff rules[RULES_MAX];   /* ... as configured */
	struct rule_eff custom[ACFG_MAX_CUSTOM];
	struct custom_state cstate[ACFG_MAX_CUSTOM];
	/* the rules whose thresholds the health score takes as its bounds; -1: none */
	int r_p95_warn, r_p95_crit, r_hit_floor_redis, r_hit_floor_pg;
	struct series_set series;
	struct inst inst[ENG_MAX_ALERTS];
	uint64_t lost_prev;
	bool have_lost;
	uint64_t now_ns;
	int64_t mono_to_unix_ms; /* unix ms = now_ns / 1e6 + this, set each tick */
	bool wall_fixed;	 /* ... or once, for another host's times (a replay) */
	uint64_t evaluations, transitions, dropped_alerts;
};

/* --- configuration ---------------------------------------------------------------------------- */

const char *const *engine__rule_names(void)
{
	return rules__names();
}

static const struct rule_eff *rule_eff(const struct engine *e, int rule)
{
	return rule < e->n_rules ? &e->rules[rule] : &e->custom[rule - e->n_rules];
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
	for (int i = 0; i < e->n_rules; i++) {
		const struct acfg_override *o = NULL;

		for (int j = 0; j < e->cfg->n_overrides; j++)
			if (!strcmp(e->cfg->overrides[j].rule, e->rule[i]->name))
				o = &e->cfg->overrides[j];
		rule__effective(e->rule[i], o, &e->rules[i]);
		e->rules[i].t.keep_resolved_ns = KEEP_RESOLVED_NS;
	}
	for (int i = 0; i < e->cfg->n_custom; i++) {
		const struct acfg_custom *c = &e->cfg->custom[i];
		struct rule_eff *r = &e->custom[i];

		r->enabled = true;
		r->severity = c->severity;
		r->t = (struct rule_timing){ c->for_ns, c->clear_for_ns, KEEP_RESOLVED_NS };
		r->b = (struct rule_bounds){ c->threshold, c->clear };
		e->cstate[i].have_prev = false;
	}
	/* Instances follow their rule by name; those whose rule is gone or off are retired. */
	for (int i = 0; i < ENG_MAX_ALERTS; i++) {
		struct inst *in = &e->inst[i];
		int rule = -1;

		if (!in->used)
			continue;
		for (int r = 0; r < e->n_rules && rule < 0; r++)
			if (!strcmp(in->a.name, e->rule[r]->name) && e->rules[r].enabled)
				rule = r;
		for (int c = 0; c < e->cfg->n_custom && rule < 0; c++)
			if (!strcmp(in->a.name, e->cfg->custom[c].name))
				rule = e->n_rules + c;
		in->rule = rule;
		if (rule < 0) {
			retire(e, in);
		} else {
			in->t = rule_eff(e, rule)->t;
			in->a.severity = rule_eff(e, rule)->severity;
		}
	}
}

struct engine *engine__new(const struct alert_config *cfg, struct notifier *notifier)
{
	struct engine *e = calloc(1, sizeof(*e));
	int err = 0;

	if (!e)
		return NULL;
	e->cfg = malloc(sizeof(*e->cfg));
	if (!e->cfg) {
		err = ENOMEM;
		goto cleanup;
	}
	e->n_rules = rules__all(e->rule, RULES_MAX);
	if (e->n_rules > RULES_MAX) {
		err = E2BIG; /* a table past RULES_MAX: test_rules says so first */
		goto cleanup;
	}
	e->notifier = notifier;
	e->r_p95_warn = rules__index("latency_p95_high");
	e->r_p95_crit = rules__index("latency_p95_critical");
	e->r_hit_floor_redis = rules__index("redis_hit_ratio_low");
	e->r_hit_floor_pg = rules__index("postgres_buffer_hit_ratio_low");
	series_set__init(&e->series);
	for (int i = 0; i < ENG_MAX_ALERTS; i++)
		e->inst[i].series = -1;
	engine__configure(e, cfg);
	return e;
cleanup:
	engine__free(e);
	errno = err;
	return NULL;
}

void engine__set_log(struct engine *e, FILE *log)
{
	e->log = log;
}

void engine__set_wall_offset(struct engine *e, int64_t realtime_minus_mono_ns)
{
	e->mono_to_unix_ms = realtime_minus_mono_ns / 1000000;
	e->wall_fixed = true;
}

void engine__free(struct engine *e)
{
	if (!e)
		return;
	series_set__free(&e->series);
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
		e->series.s[in->series].n_inst--;
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

/* The words of an alert of rule on s: made only when an alert will show them. */
static void advise(const struct engine *e, int rule, const struct rule_subject *s,
		   const struct verdict *v, struct rule_text *t)
{
	if (rule < e->n_rules)
		e->rule[rule]->advice(s, &e->rules[rule].b, v, t);
	else
		custom_rules__advice(&e->cfg->custom[rule - e->n_rules], v, t);
}

/* The alert's runbook link: BASE#rule for a built-in rule, the file's runbook_url for a custom
 * one (none unless given). */
static void runbook(const struct engine *e, int rule, struct alert *a)
{
	if (rule < e->n_rules)
		runbook__url(e->cfg->runbook_url_base, e->rule[rule]->name, a->runbook_url,
			     sizeof(a->runbook_url));
	else
		snprintf(a->runbook_url, sizeof(a->runbook_url), "%s",
			 e->cfg->custom[rule - e->n_rules].runbook_url);
}

/*
 * Applies a verdict to the instance of (rule, labels): creates it when the rule fires, steps it,
 * refreshes what it says. key is the alert's name and labels (severity, ... not yet set); s is
 * what the rule judged (NULL for custom rules).
 */
static void judge(struct engine *e, int rule, int series, const struct alert *key,
		  const struct verdict *v, const struct rule_subject *s)
{
	const struct rule_eff *r = rule_eff(e, rule);
	uint64_t fp = alert__fingerprint(key);
	struct inst *in = NULL;

	if (!v->fire && series >= 0 && e->series.s[series].n_inst == 0)
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
			e->series.s[series].n_inst++;
		rule_state__init(&in->st);
	}
	in->rule = rule;
	in->t = r->t;
	in->seen = true;
	in->a.severity = v->escalate ? SEV_CRITICAL : r->severity;
	in->a.value = v->value;
	in->a.threshold = v->threshold;
	if (v->fire || !in->a.summary[0]) {
		struct rule_text t;

		advise(e, rule, s, v, &t);
		snprintf(in->a.summary, sizeof(in->a.summary), "%s", t.summary);
		snprintf(in->a.description, sizeof(in->a.description), "%s", t.description);
		runbook(e, rule, &in->a);
	}
	step(e, in, v->fire, v->clear);
}

/* --- rules ------------------------------------------------------------------------------------ */

/* An alert's name and labels: server, database (PostgreSQL), kind; the agent's only kind. */
static void subject_key(struct alert *key, const char *name, const struct rule_subject *s)
{
	memset(key, 0, sizeof(*key));
	snprintf(key->name, sizeof(key->name), "%s", name);
	if (s->scope != SC_AGENT)
		alert__add_label(key, "server", s->server);
	if (s->database[0])
		alert__add_label(key, "database", s->database);
	alert__add_label(key, "kind", s->kind);
}

/* Every enabled built-in rule that applies to s judges it; series is s's, or -1. */
static void eval_subject(struct engine *e, const struct rule_subject *s, int series)
{
	for (int i = 0; i < e->n_rules; i++) {
		const struct rule *r = e->rule[i];
		const struct rule_eff *re = &e->rules[i];
		struct verdict v;
		struct alert key;

		if (!re->enabled || !(r->applies.scopes & s->scope))
			continue;
		/* A server that left the snapshots is only judged for being gone. */
		if (!s->present && !r->applies.absent)
			continue;
		if (r->applies.usdt && !s->usdt)
			continue;
		v = (struct verdict){
			.clear = true,
			.value = NAN,
			.threshold = r->defaults.score ? NAN : re->b.threshold,
		};
		r->eval(s, &re->b, &v);
		subject_key(&key, r->name, s);
		judge(e, i, series, &key, &v, s);
	}
}

/* The agent as a subject: the events the kernel's ring buffer dropped since the last tick. */
static void eval_agent(struct engine *e, const struct self_stats *self)
{
	struct rule_subject s = {
		.scope = SC_AGENT, .kind = "agent", .server = "", .database = "", .present = true,
	};
	bool judged = false;
	uint64_t lost;

	for (int i = 0; i < e->n_rules; i++)
		judged |= e->rules[i].enabled && (e->rule[i]->applies.scopes & SC_AGENT);
	/* Read only while a rule judges it: after events_lost is switched back on, its first
	 * reading holds the losses since it was switched off. */
	if (!self || !judged)
		return;
	lost = self->kernel[NX_CNT_LOST];
	s.lost = e->have_lost && lost >= e->lost_prev ? (double)(lost - e->lost_prev) : 0;
	e->lost_prev = lost;
	e->have_lost = true;
	eval_subject(e, &s, -1);
}

static void eval_custom(struct engine *e, const struct redis_snapshot *redis,
			const struct postgres_snapshot *pg, const struct self_stats *self)
{
	struct metric_model m;

	if (!e->cfg->n_custom)
		return;
	/* The families custom rules may name: the servers' and the agent's own, as /metrics has them
	 * (the engine's own families come from this very tick, so rules cannot judge them). */
	metric_model__init(&m, 0, 0);
	if (self)
		model__fill_self(&m, self);
	if (redis)
		model__fill_redis(&m, redis);
	if (pg)
		model__fill_postgres(&m, pg);
	if (m.oom) { /* a rule would judge a sum with series missing: skip this tick */
		metric_model__free(&m);
		return;
	}
	for (int i = 0; i < e->cfg->n_custom; i++) {
		const struct acfg_custom *c = &e->cfg->custom[i];
		struct verdict v;
		struct alert key;

		custom_rules__eval(c, &e->cstate[i], &m, e->now_ns, &v);
		custom_rules__key(c, &key);
		judge(e, e->n_rules + i, -1, &key, &v, NULL);
	}
	metric_model__free(&m);
}

/* --- the tick --------------------------------------------------------------------------------- */

static void expire_series(struct engine *e, int idx)
{
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
	series__forget(&e->series.s[idx]);
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

static double threshold_of(const struct engine *e, int rule)
{
	return rule >= 0 ? e->rules[rule].b.threshold : NAN;
}

static void health_of(const struct engine *e, const struct series *se,
		      struct engine_server_health *h)
{
	struct health_input *in = &h->input;
	const struct baseline *bl = &se->b[S_P95];
	bool redis = se->kind == SK_REDIS;

	snprintf(h->server, sizeof(h->server), "%s", se->server);
	snprintf(h->kind, sizeof(h->kind), "%s", series_kind__str(se->kind));
	h->ident = se->ident;
	in->p95_s = se->sig[S_P95];
	in->p95_baseline_s = baseline__warm(bl, &e->series.bcfg[S_P95]) ? bl->centre : NAN;
	in->p95_warn_s = threshold_of(e, e->r_p95_warn);
	in->p95_crit_s = threshold_of(e, e->r_p95_crit);
	in->error_ratio = se->sig[S_ERR_RATIO];
	in->hit_ratio = se->sig[S_HIT_RATIO];
	in->hit_ratio_floor = threshold_of(e, redis ? e->r_hit_floor_redis : e->r_hit_floor_pg);
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
	if (se->cap) {
		h->has_cap = true;
		memcpy(h->cap, se->cap->fit, sizeof(h->cap));
	}
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
		n_servers += e->series.s[i].used && !e->series.s[i].database[0];
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
		const struct series *se = &e->series.s[i];

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
	s->dropped_series = e->series.dropped;
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

		if (!e->wall_fixed &&
		    (!e->mono_to_unix_ms || llabs(off - e->mono_to_unix_ms) > 3600LL * 1000))
			e->mono_to_unix_ms = off;
	}
	e->evaluations++;
	/* resolved_now is cleared after notify() below, not here: an alert that engine__configure
	 * resolved between ticks (its rule switched off) must still be sent as resolved. */
	for (int i = 0; i < ENG_MAX_ALERTS; i++)
		e->inst[i].seen = false;
	for (int i = 0; i < ENG_MAX_SERIES; i++)
		e->series.s[i].present = false;
	for (int i = 0; redis && i < redis->n_servers; i++)
		series_set__update_redis(&e->series, &redis->servers[i], now_ns);
	for (int i = 0; pg && i < pg->n_servers; i++)
		series_set__update_pg(&e->series, &pg->servers[i], now_ns);

	for (int i = 0; i < ENG_MAX_SERIES; i++) {
		struct series *se = &e->series.s[i];
		struct rule_subject subject;

		if (!se->used)
			continue;
		if (!se->present) {
			series__absent(se);
			if (now_ns - se->last_seen_ns >= EXPIRE_NS) {
				expire_series(e, i);
				continue;
			}
		}
		if (se->database[0] && !se->present)
			continue; /* a database that went quiet: its instances wind down below */
		series__subject(&e->series, se, &subject);
		eval_subject(e, &subject, i);
	}
	eval_agent(e, self);
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
