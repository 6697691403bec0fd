// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Built-in rules on Redis's keyspace: the hit ratio below a floor or far below its baseline,
 * and a storm of misses (an emptied cache). See rules.h for the entry format.
 */
#include <math.h>
#include <stdio.h>
#include "alert/rules.h"
#include "stats/redis_stats.h" /* struct rs_stall */

/* redis_miss_storm: how far above its baseline misses/s must be, and the hit ratios that make
 * the storm an emptied cache (fire below the first, clear at or above the second). */
#define MISS_STORM_SCORE  6
#define MISS_STORM_HIT	  0.5
#define MISS_STORM_HIT_OK 0.6

static void hit_ratio_low_eval(const struct rule_subject *s, const struct rule_bounds *b,
			       struct verdict *v)
{
	double h = s->sig[S_HIT_RATIO];

	v->value = h;
	v->fire = !isnan(h) && h < b->threshold;
	v->clear = isnan(h) || h >= b->clear;
}

static void hit_ratio_low_advice(const struct rule_subject *s, const struct rule_bounds *b,
				 const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s keyspace hit ratio %.2f (floor %.2f)", w,
		 s->sig[S_HIT_RATIO], b->threshold);
	snprintf(t->description, sizeof(t->description),
		 "%s: only %.0f%% of key lookups hit over the last %d s. Check evictions "
		 "(maxmemory), TTLs and the key prefixes that miss most "
		 "(/api/v1/cache/stats).",
		 w, 100 * s->sig[S_HIT_RATIO], ENG_WINDOW);
}

/* Thresholds are scores (negative: below the baseline). */
static void hit_ratio_drop_eval(const struct rule_subject *s, const struct rule_bounds *b,
				struct verdict *v)
{
	double h = s->sig[S_HIT_RATIO], z = s->score[S_HIT_RATIO];

	v->value = h;
	v->fire = !isnan(h) && subject__warm(s, S_HIT_RATIO) && z <= b->threshold &&
		  subject__centre(s, S_HIT_RATIO) - h >= s->bcfg[S_HIT_RATIO].min_abs_effect;
	v->clear = isnan(h) || z > b->clear;
}

static void hit_ratio_drop_advice(const struct rule_subject *s, const struct rule_bounds *b,
				  const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s hit ratio dropped to %.2f (baseline %.2f)",
		 w, s->sig[S_HIT_RATIO], subject__centre(s, S_HIT_RATIO));
	snprintf(t->description, sizeof(t->description),
		 "%s: the keyspace hit ratio fell suddenly. Check for a FLUSHALL/FLUSHDB, a "
		 "restart, mass expiry or evictions, and which prefixes miss "
		 "(/api/v1/cache/stats).",
		 w);
}

/* The threshold is misses/s; the score and the hit ratio are fixed parts of the condition. */
static void miss_storm_eval(const struct rule_subject *s, const struct rule_bounds *b,
			    struct verdict *v)
{
	double m = s->sig[S_MISSES], h = s->sig[S_HIT_RATIO];

	v->value = m;
	v->fire = !isnan(m) && subject__warm(s, S_MISSES) &&
		  s->score[S_MISSES] >= MISS_STORM_SCORE && m > b->threshold && !isnan(h) &&
		  h < MISS_STORM_HIT;
	v->clear = isnan(m) || m < b->clear || (!isnan(h) && h >= MISS_STORM_HIT_OK);
}

static void miss_storm_advice(const struct rule_subject *s, const struct rule_bounds *b,
			      const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s miss storm: %.0f misses/s, hit ratio %.2f",
		 w, s->sig[S_MISSES], s->sig[S_HIT_RATIO]);
	snprintf(t->description, sizeof(t->description),
		 "%s: misses jumped to %.0f/s (baseline %.0f/s) and most lookups miss: the "
		 "cache was emptied (FLUSHALL, restart without persistence) and the backing "
		 "store takes the load. Check the database behind the cache.",
		 w, s->sig[S_MISSES], subject__centre(s, S_MISSES));
}

/*
 * redis_event_loop_blocked: a command held the single-threaded server for `threshold` seconds
 * or more while others waited; critical when stalls held it for more than this share of the
 * last minute.
 */
#define LOOP_BLOCKED_CRITICAL_SHARE 0.25

static void loop_blocked_eval(const struct rule_subject *s, const struct rule_bounds *b,
			      struct verdict *v)
{
	double d = s->stall ? s->stall->dur_ns / 1e9 : 0;

	v->value = d;
	v->fire = s->stall && d >= b->threshold && s->stall->waiters > 0;
	v->clear = !v->fire && d < b->clear;
	v->escalate = s->blocked_share > LOOP_BLOCKED_CRITICAL_SHARE;
}

static void loop_blocked_advice(const struct rule_subject *s, const struct rule_bounds *b,
				const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN], d[32];
	const struct rs_stall *st = s->stall;

	rule__who(s, w, sizeof(w));
	if (!st) {
		snprintf(t->summary, sizeof(t->summary), "%s event loop blocked", w);
		snprintf(t->description, sizeof(t->description),
			 "%s: a command held the server for %s or more while other clients "
			 "waited.",
			 w, rule__fmt_secs(d, sizeof(d), b->threshold));
		return;
	}
	snprintf(t->summary, sizeof(t->summary),
		 "%.100s event loop blocked %s by %.32s from %.60s; %u requests waited", w,
		 rule__fmt_secs(d, sizeof(d), st->dur_ns / 1e9), st->command,
		 st->client[0] ? st->client : "a local client", st->waiters);
	snprintf(t->description, sizeof(t->description),
		 "%s: one command held the single-threaded server while %u requests of other "
		 "clients waited unread; stalls held it %.0f%% of the last minute. Look for KEYS, "
		 "big DEL/HGETALL/SMEMBERS, long Lua scripts (use SCAN and UNLINK) in "
		 "/api/v1/cache/slow-commands.",
		 w, st->waiters, 100 * s->blocked_share);
}

static const struct rule rules[] = {
	{
		.name = "redis_hit_ratio_low",
		.defaults = { .severity = SEV_WARNING, .for_s = 10, .clear_for_s = 10,
			      .threshold = 0.80, .clear = 0.85 },
		.applies = { .scopes = SC_REDIS },
		.eval = hit_ratio_low_eval,
		.advice = hit_ratio_low_advice,
	},
	{
		.name = "redis_hit_ratio_drop",
		.defaults = { .severity = SEV_WARNING, .for_s = 5, .clear_for_s = 10,
			      .threshold = -4, .clear = -2, .score = true },
		.applies = { .scopes = SC_REDIS },
		.eval = hit_ratio_drop_eval,
		.advice = hit_ratio_drop_advice,
	},
	{
		.name = "redis_miss_storm",
		.defaults = { .severity = SEV_CRITICAL, .for_s = 2, .clear_for_s = 10,
			      .threshold = 100, .clear = 50 },
		.applies = { .scopes = SC_REDIS },
		.eval = miss_storm_eval,
		.advice = miss_storm_advice,
	},
	{
		.name = "redis_event_loop_blocked",
		.defaults = { .severity = SEV_WARNING, .for_s = 0, .clear_for_s = 15,
			      .threshold = 0.1, .clear = 0.1 },
		.applies = { .scopes = SC_REDIS },
		.eval = loop_blocked_eval,
		.advice = loop_blocked_advice,
	},
};

const struct rule_group rules_redis = RULE_GROUP(rules);
