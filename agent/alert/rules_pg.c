// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Built-in rules on PostgreSQL: shared-buffer hit ratio and lock waits (from the server's USDT
 * probes), deadlocks, and a surge of slow statements. See rules.h for the entry format.
 */
#include <math.h>
#include <stdio.h>
#include "alert/rules.h"

/* postgres_lock_wait_surge also fires this far above its baseline, and clears only under the
 * second score as well as under its clear bound. */
#define LOCK_SURGE_SCORE 6
#define LOCK_CALM_SCORE	 3
/* postgres_slow_query_surge: the rate of slow statements must also be this far above normal. */
#define SLOW_SURGE_SCORE 4

static void buffer_low_eval(const struct rule_subject *s, const struct rule_bounds *b,
			    struct verdict *v)
{
	double h = s->sig[S_HIT_RATIO];

	v->value = h;
	v->fire = !isnan(h) && h < b->threshold;
	v->clear = isnan(h) || h >= b->clear;
}

static void buffer_low_advice(const struct rule_subject *s, const struct rule_bounds *b,
			      const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s buffer hit ratio %.3f (floor %.2f)", w,
		 s->sig[S_HIT_RATIO], b->threshold);
	snprintf(t->description, sizeof(t->description),
		 "%s: %.1f%% of shared-buffer lookups had to read. Check shared_buffers, "
		 "sequential scans on big tables (pg_stat_user_tables) and missing indexes.",
		 w, 100 * (1 - s->sig[S_HIT_RATIO]));
}

static void lock_surge_eval(const struct rule_subject *s, const struct rule_bounds *b,
			    struct verdict *v)
{
	double l = s->sig[S_LOCK_WAIT], z = s->score[S_LOCK_WAIT];

	v->value = l;
	v->fire = !isnan(l) && (l >= b->threshold || z >= LOCK_SURGE_SCORE);
	v->clear = isnan(l) || (l < b->clear && z < LOCK_CALM_SCORE);
}

static void lock_surge_advice(const struct rule_subject *s, const struct rule_bounds *b,
			      const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s lock waits %.2f s per second", w,
		 s->sig[S_LOCK_WAIT]);
	snprintf(t->description, sizeof(t->description),
		 "%s: backends spend %.2f s per second waiting for heavyweight locks. Check "
		 "pg_locks joined with pg_stat_activity for the blocking session (a long "
		 "transaction or an explicit LOCK TABLE).",
		 w, s->sig[S_LOCK_WAIT]);
}

static void deadlock_eval(const struct rule_subject *s, const struct rule_bounds *b,
			  struct verdict *v)
{
	v->value = (double)s->deadlocks;
	v->fire = v->value > b->threshold;
	v->clear = !v->fire;
}

static void deadlock_advice(const struct rule_subject *s, const struct rule_bounds *b,
			    const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s detected a deadlock", w);
	snprintf(t->description, sizeof(t->description),
		 "%s aborted a transaction to break a deadlock. The server log names the "
		 "two statements; make transactions take their locks in the same order.",
		 w);
}

static void slow_surge_eval(const struct rule_subject *s, const struct rule_bounds *b,
			    struct verdict *v)
{
	double n = s->sig[S_SLOW];

	v->value = n;
	v->fire = !isnan(n) && n >= b->threshold && s->score[S_SLOW] >= SLOW_SURGE_SCORE;
	v->clear = isnan(n) || n < b->clear;
}

static void slow_surge_advice(const struct rule_subject *s, const struct rule_bounds *b,
			      const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s %.1f statements/s slower than 0.5 s", w,
		 s->sig[S_SLOW]);
	snprintf(t->description, sizeof(t->description),
		 "%s: statements slower than 0.5 s went to %.1f per second (baseline %.1f). "
		 "See /api/v1/database/slow-queries for which ones, then EXPLAIN them.",
		 w, s->sig[S_SLOW], subject__centre(s, S_SLOW));
}

static const struct rule rules[] = {
	{
		.name = "postgres_buffer_hit_ratio_low",
		.defaults = { .severity = SEV_WARNING, .for_s = 15, .clear_for_s = 15,
			      .threshold = 0.95, .clear = 0.97 },
		.applies = { .scopes = SC_PG_ANSWERS, .usdt = true },
		.eval = buffer_low_eval,
		.advice = buffer_low_advice,
	},
	{
		.name = "postgres_lock_wait_surge",
		.defaults = { .severity = SEV_WARNING, .for_s = 5, .clear_for_s = 10,
			      .threshold = 0.2, .clear = 0.1 },
		.applies = { .scopes = SC_PG_ANSWERS, .usdt = true },
		.eval = lock_surge_eval,
		.advice = lock_surge_advice,
	},
	{
		/* the snapshot counts deadlocks per server (USDT deadlock__found): judged there */
		.name = "postgres_deadlock",
		.defaults = { .severity = SEV_WARNING, .for_s = 0, .clear_for_s = 60,
			      .threshold = 0, .clear = 0 },
		.applies = { .scopes = SC_PG_SERVER | SC_PG_SERVER_ONLY },
		.eval = deadlock_eval,
		.advice = deadlock_advice,
	},
	{
		.name = "postgres_slow_query_surge",
		.defaults = { .severity = SEV_WARNING, .for_s = 5, .clear_for_s = 10,
			      .threshold = 1, .clear = 0.5 },
		.applies = { .scopes = SC_PG_ANSWERS },
		.eval = slow_surge_eval,
		.advice = slow_surge_advice,
	},
};

const struct rule_group rules_pg = RULE_GROUP(rules);
