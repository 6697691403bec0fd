// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Built-in rules on how a server answers, Redis and PostgreSQL alike: latency against its
 * baseline and against absolute bounds, and the share of failed requests. Judged where answers
 * are (SC_ANSWERS): a Redis server, a PostgreSQL database, or a PostgreSQL server without
 * per-database figures. See rules.h for the entry format.
 */
#include <math.h>
#include <stdio.h>
#include "alert/rules.h"

/* A stall that holds a few percent of the requests (CLIENT PAUSE, a short lock) leaves p95 alone
 * and moves p99: latency_anomaly also fires on p99, at a higher bar. */
#define P99_SCORE_EXTRA 2

/* latency_anomaly: which of its conditions the alert is about (verdict.why). */
enum latency_why { BY_P95, BY_P99, BY_STALL, BY_FELT };

/* A p95 signal far above its baseline, by at least its minimum effect. */
static bool p95_off(const struct rule_subject *s, enum sig i, double thr)
{
	return !isnan(s->sig[i]) && subject__warm(s, i) && s->score[i] >= thr &&
	       s->sig[i] - subject__centre(s, i) >= s->bcfg[i].min_abs_effect;
}

static void latency_anomaly_eval(const struct rule_subject *s, const struct rule_bounds *b,
				 struct verdict *v)
{
	const double *x = s->sig, *z = s->score;
	double thr = b->threshold, clr = b->clear;
	bool p95_fire = p95_off(s, S_P95, thr);
	/* What clients felt: the server's time plus the wait in its socket (a busy event loop,
	 * a backend still on the previous statement of a pipeline). */
	bool felt_fire = p95_off(s, S_FELT_P95, thr);
	/* The baseline already zeroes scores under the p99 minimum effects. */
	bool p99_fire = !isnan(x[S_P99]) && subject__warm(s, S_P99) &&
			z[S_P99] >= thr + P99_SCORE_EXTRA;
	/* A silence judged against the server's usual one (and STALL_MIN_S at least). */
	bool stall = !isnan(x[S_GAP]) && x[S_GAP] >= STALL_MIN_S && subject__warm(s, S_GAP) &&
		     x[S_GAP] >= STALL_USUAL_X * subject__centre(s, S_GAP) && z[S_GAP] >= thr &&
		     subject__warm(s, S_RATE) && subject__centre(s, S_RATE) >= STALL_MIN_RATE &&
		     s->conns > 0;

	v->fire = p95_fire || p99_fire || stall || felt_fire;
	v->clear = (isnan(x[S_P95]) || z[S_P95] < clr) &&
		   (isnan(x[S_FELT_P95]) || z[S_FELT_P95] < clr) &&
		   (isnan(x[S_P99]) || z[S_P99] < clr + P99_SCORE_EXTRA) &&
		   (isnan(x[S_GAP]) || x[S_GAP] < STALL_MIN_S / 2 ||
		    x[S_GAP] < STALL_USUAL_X / 2 * subject__centre(s, S_GAP));
	/* Name the quantile that is off: a stall of a few requests shows in p99 only. */
	if (stall && !p95_fire && !p99_fire)
		v->why = BY_STALL;
	else if (p99_fire && !p95_fire)
		v->why = BY_P99;
	else if (felt_fire && !p95_fire)
		v->why = BY_FELT;
	else
		v->why = BY_P95;
	v->value = x[v->why == BY_STALL  ? S_GAP
		     : v->why == BY_P99  ? S_P99
		     : v->why == BY_FELT ? S_FELT_P95
					 : S_P95];
}

static void latency_anomaly_advice(const struct rule_subject *s, const struct rule_bounds *b,
				   const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN], a[32], c[32];
	enum sig q = v->why == BY_P99 ? S_P99 : v->why == BY_FELT ? S_FELT_P95 : S_P95;

	rule__who(s, w, sizeof(w));
	if (v->why == BY_STALL) {
		const char *look = "Check for a server-wide stall: checkpoints and I/O, locks "
				   "held on hot tables, the host's CPU and swap.";

		if (subject__redis(s))
			look = "Something blocked the event loop: DEBUG SLEEP, a slow script or "
			       "command (SLOWLOG), a big DEL or FLUSHALL, fork/swap on the host.";

		snprintf(t->summary, sizeof(t->summary), "%s stalled: no reply for %s (usually %s)",
			 w, rule__fmt_secs(a, sizeof(a), s->sig[S_GAP]),
			 rule__fmt_secs(c, sizeof(c), subject__centre(s, S_GAP)));
		snprintf(t->description, sizeof(t->description),
			 "%s answered nothing for %s while clients were connected and "
			 "traffic was steady (%.0f/s): requests waited unread. %s",
			 w, rule__fmt_secs(a, sizeof(a), s->sig[S_GAP]),
			 subject__centre(s, S_RATE), look);
		return;
	}
	snprintf(t->summary, sizeof(t->summary), "%s %sp%d latency %s (baseline %s)", w,
		 q == S_FELT_P95 ? "felt " : "", q == S_P99 ? 99 : 95,
		 rule__fmt_secs(a, sizeof(a), s->sig[q]),
		 rule__fmt_secs(c, sizeof(c), subject__centre(s, q)));
	snprintf(t->description, sizeof(t->description),
		 "%s: p%d latency %sover the last %d s is %.1f robust deviations above "
		 "what is normal for it. %s",
		 w, q == S_P99 ? 99 : 95,
		 q == S_FELT_P95 ? "as clients felt it (with the wait in the server's socket) " : "",
		 ENG_WINDOW, s->score[q],
		 subject__redis(s) ? "Check SLOWLOG, blocked clients (CLIENT LIST), big keys and "
				     "the host's CPU and swap."
				   : "Check pg_stat_activity for long-running statements and lock "
				     "waits, and the host's I/O.");
}

/* latency_p95_high and latency_p95_critical: the same test at two bounds. */
static void p95_bound_eval(const struct rule_subject *s, const struct rule_bounds *b,
			   struct verdict *v)
{
	/* the higher of the server's p95 and what its clients felt */
	double p95 = !isnan(s->sig[S_FELT_P95]) && !(s->sig[S_FELT_P95] <= s->sig[S_P95])
			     ? s->sig[S_FELT_P95]
			     : s->sig[S_P95];

	v->value = p95;
	v->fire = !isnan(p95) && p95 > b->threshold;
	v->clear = isnan(p95) || p95 < b->clear;
}

static void p95_bound_advice(const struct rule_subject *s, const struct rule_bounds *b,
			     const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN], a[32], c[32], d[32];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s p95 latency %s (bound %s, baseline %s)", w,
		 rule__fmt_secs(a, sizeof(a), s->sig[S_P95]),
		 rule__fmt_secs(c, sizeof(c), b->threshold),
		 rule__fmt_secs(d, sizeof(d),
				subject__warm(s, S_P95) ? subject__centre(s, S_P95) : NAN));
	snprintf(t->description, sizeof(t->description),
		 "%s answers slowly: p95 over the last %d s is above %s. %s", w, ENG_WINDOW,
		 rule__fmt_secs(c, sizeof(c), b->threshold),
		 subject__redis(s) ? "Check SLOWLOG and blocked clients; a DEBUG SLEEP, a big KEYS "
				     "or a CLIENT PAUSE stalls every client."
				   : "Check pg_stat_activity for slow statements (/api/v1/database/"
				     "slow-queries) and lock waits.");
}

static void error_ratio_eval(const struct rule_subject *s, const struct rule_bounds *b,
			     struct verdict *v)
{
	double r = s->sig[S_ERR_RATIO];

	v->value = r;
	v->fire = !isnan(r) && r > b->threshold;
	v->clear = isnan(r) || r < b->clear;
}

static void error_ratio_advice(const struct rule_subject *s, const struct rule_bounds *b,
			       const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s error ratio %.2f%% (bound %.2f%%)", w,
		 100 * s->sig[S_ERR_RATIO], 100 * b->threshold);
	snprintf(t->description, sizeof(t->description),
		 "%s: %.2f%% of requests failed over the last %d s. %s", w,
		 100 * s->sig[S_ERR_RATIO], ENG_WINDOW,
		 subject__redis(s) ? "See nexus_redis_commands_total by status (WRONGTYPE, OOM, "
				     "NOSCRIPT...)."
				   : "See nexus_postgres_queries_total by status (SQLSTATE class) "
				     "and the server log.");
}

static const struct rule rules[] = {
	{
		.name = "latency_anomaly",
		.defaults = { .severity = SEV_WARNING, .for_s = 5, .clear_for_s = 5,
			      .threshold = 4, .clear = 2, .score = true },
		.applies = { .scopes = SC_ANSWERS },
		.eval = latency_anomaly_eval,
		.advice = latency_anomaly_advice,
	},
	{
		.name = "latency_p95_high",
		.defaults = { .severity = SEV_WARNING, .for_s = 5, .clear_for_s = 5,
			      .threshold = 1.0, .clear = 0.8 },
		.applies = { .scopes = SC_ANSWERS },
		.eval = p95_bound_eval,
		.advice = p95_bound_advice,
	},
	{
		.name = "latency_p95_critical",
		.defaults = { .severity = SEV_CRITICAL, .for_s = 5, .clear_for_s = 5,
			      .threshold = 2.0, .clear = 1.6 },
		.applies = { .scopes = SC_ANSWERS },
		.eval = p95_bound_eval,
		.advice = p95_bound_advice,
	},
	{
		.name = "error_ratio_high",
		.defaults = { .severity = SEV_WARNING, .for_s = 5, .clear_for_s = 10,
			      .threshold = 0.01, .clear = 0.005 },
		.applies = { .scopes = SC_ANSWERS },
		.eval = error_ratio_eval,
		.advice = error_ratio_advice,
	},
};

const struct rule_group rules_requests = RULE_GROUP(rules);
