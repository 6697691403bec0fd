// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Built-in rules on any server's clients, traffic and process (Redis and PostgreSQL alike,
 * judged per server), and on the agent itself. See rules.h for the entry format.
 */
#include <math.h>
#include <stdio.h>
#include "alert/rules.h"

/* connection_storm and traffic_surge also need the rate this far above its baseline. */
#define CONN_STORM_SCORE    6
#define TRAFFIC_SURGE_SCORE 8
/* From an idle server any traffic is a surge: judged only against a baseline of this many/s. */
#define TRAFFIC_SURGE_MIN_BASE 1

static void conn_storm_eval(const struct rule_subject *s, const struct rule_bounds *b,
			    struct verdict *v)
{
	double o = s->sig[S_OPENED];

	v->value = o;
	v->fire = !isnan(o) && o >= b->threshold && s->score[S_OPENED] >= CONN_STORM_SCORE;
	v->clear = isnan(o) || o < b->clear;
}

static void conn_storm_advice(const struct rule_subject *s, const struct rule_bounds *b,
			      const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s connection storm: %.0f connections/s", w,
		 s->sig[S_OPENED]);
	snprintf(t->description, sizeof(t->description),
		 "%s: clients open %.0f connections per second (baseline %.1f). Look for a "
		 "client without a connection pool, or one reconnecting in a loop.",
		 w, s->sig[S_OPENED], subject__centre(s, S_OPENED));
}

/* The threshold is a share of the limit. */
static void conn_limit_eval(const struct rule_subject *s, const struct rule_bounds *b,
			    struct verdict *v)
{
	v->value = s->conns / s->limit;
	v->fire = v->value >= b->threshold;
	v->clear = v->value < b->clear;
}

static void conn_limit_advice(const struct rule_subject *s, const struct rule_bounds *b,
			      const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s has %.0f connections of %.0f allowed", w,
		 s->conns, s->limit);
	snprintf(t->description, sizeof(t->description),
		 "%s is at %.0f%% of its connection limit (%s %.0f by default): new clients "
		 "will be refused. Check for leaked connections and pool sizes.",
		 w, 100 * v->value, subject__redis(s) ? "maxclients" : "max_connections",
		 s->limit);
}

/* The threshold is the least usual rate (requests/s) at which silence means something. */
static void traffic_stopped_eval(const struct rule_subject *s, const struct rule_bounds *b,
				 struct verdict *v)
{
	double r = s->sig[S_RATE];

	v->value = r;
	v->fire = !isnan(r) && r == 0 && s->conns > 0 && subject__warm(s, S_RATE) &&
		  subject__centre(s, S_RATE) >= b->threshold;
	v->clear = isnan(r) || r > 0 || s->conns == 0;
}

static void traffic_stopped_advice(const struct rule_subject *s, const struct rule_bounds *b,
				   const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary),
		 "%s gets no requests while %.0f clients are connected", w, s->conns);
	snprintf(t->description, sizeof(t->description),
		 "%s usually serves %.1f requests/s but none came for a while, with clients "
		 "connected: the clients may be stuck (a pause, a lock, a network problem). "
		 "%s",
		 w, subject__centre(s, S_RATE),
		 subject__redis(s) ? "Check CLIENT LIST for paused or blocked clients."
				   : "Check pg_stat_activity for sessions waiting.");
}

/* The thresholds are multiples of the usual rate; the alert shows the rate they make. */
static void traffic_surge_eval(const struct rule_subject *s, const struct rule_bounds *b,
			       struct verdict *v)
{
	double r = s->sig[S_RATE], base = subject__centre(s, S_RATE);

	v->value = r;
	v->fire = !isnan(r) && s->score[S_RATE] >= TRAFFIC_SURGE_SCORE &&
		  base >= TRAFFIC_SURGE_MIN_BASE && r >= b->threshold * base;
	v->clear = isnan(r) || r < b->clear * base;
	v->threshold = b->threshold * base;
}

static void traffic_surge_advice(const struct rule_subject *s, const struct rule_bounds *b,
				 const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];
	double r = s->sig[S_RATE], base = subject__centre(s, S_RATE);

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary),
		 "%s traffic surge: %.0f requests/s (baseline %.1f)", w, r, base);
	snprintf(t->description, sizeof(t->description),
		 "%s: requests per second are %.1fx what is normal. Check which commands or "
		 "queries grew (nexus_*_commands_total, /api/v1/database/slow-queries) and "
		 "which clients send them.",
		 w, base > 0 ? r / base : INFINITY);
}

/* Also judged once the server left the snapshots (.absent): that is one way of being gone. */
static void target_gone_eval(const struct rule_subject *s, const struct rule_bounds *b,
			     struct verdict *v)
{
	bool gone = !s->present || s->gone;

	v->value = s->pid;
	v->threshold = NAN;
	v->fire = gone;
	v->clear = !gone;
}

static void target_gone_advice(const struct rule_subject *s, const struct rule_bounds *b,
			       const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s (pid %u) is gone", w, s->pid);
	snprintf(t->description, sizeof(t->description),
		 "%s: %s. Check the service manager (systemctl status, journalctl) and the "
		 "server's log for a crash or an OOM kill.",
		 w, s->present ? "its process no longer exists" : "it left the agent's figures");
}

static void target_restarted_eval(const struct rule_subject *s, const struct rule_bounds *b,
				  struct verdict *v)
{
	v->value = s->pid;
	v->threshold = NAN;
	v->fire = s->restarted_now;
	v->clear = !s->restarted_now;
}

static void target_restarted_advice(const struct rule_subject *s, const struct rule_bounds *b,
				    const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];

	rule__who(s, w, sizeof(w));
	snprintf(t->summary, sizeof(t->summary), "%s restarted (pid %u -> %u)", w, s->old_pid,
		 s->pid);
	snprintf(t->description, sizeof(t->description),
		 "%s is served by a new process. Check the server's log for why it "
		 "stopped; %s",
		 w,
		 subject__redis(s) ? "an empty cache after a restart without persistence means "
				     "misses."
				   : "caches (shared buffers) are cold after a restart.");
}

static void events_lost_eval(const struct rule_subject *s, const struct rule_bounds *b,
			     struct verdict *v)
{
	v->value = s->lost;
	v->fire = v->value > b->threshold;
	v->clear = !v->fire;
}

static void events_lost_advice(const struct rule_subject *s, const struct rule_bounds *b,
			       const struct verdict *v, struct rule_text *t)
{
	snprintf(t->summary, sizeof(t->summary), "the agent lost %.0f events in the last second",
		 v->value);
	snprintf(t->description, sizeof(t->description),
		 "The kernel's ring buffer was full: the agent missed records, so its figures "
		 "undercount. Raise --ring-mb, lower --capture-bytes, or check the agent's CPU.");
}

/*
 * The threshold and clear are seconds to the limit. The trends are fitted once a minute
 * (alert/capacity.c): a prediction holds between fits, so `for` spans a refit.
 */
#define CAP_CRITICAL_S 1800 /* sent as critical under 30 min */

/* The resource that reaches its limit first; -1 when none is predicted to. */
static int cap_soonest(const struct rule_subject *s)
{
	int best = -1;

	for (int r = 0; s->cap && r < CAP__COUNT; r++)
		if (s->cap[r].limit > 0 && isfinite(s->cap[r].ttl_s) &&
		    (best < 0 || s->cap[r].ttl_s < s->cap[best].ttl_s))
			best = r;
	return best;
}

static void capacity_eval(const struct rule_subject *s, const struct rule_bounds *b,
			  struct verdict *v)
{
	int r = cap_soonest(s);
	double ttl = r < 0 ? INFINITY : s->cap[r].ttl_s;

	v->value = ttl;
	v->why = r;
	v->fire = ttl < b->threshold;
	v->clear = !(ttl < b->clear);
	v->escalate = ttl < CAP_CRITICAL_S;
}

static void capacity_advice(const struct rule_subject *s, const struct rule_bounds *b,
			    const struct verdict *v, struct rule_text *t)
{
	char w[RULE_WHO_LEN];
	const struct cap_fit *f;
	bool mem;

	rule__who(s, w, sizeof(w));
	if (v->why < 0 || !s->cap) {
		snprintf(t->summary, sizeof(t->summary), "%s: no capacity limit in sight", w);
		snprintf(t->description, sizeof(t->description),
			 "%s: no resource with a known limit is predicted to reach it.", w);
		return;
	}
	f = &s->cap[v->why];
	mem = v->why == CAP_MEMORY;
	snprintf(t->summary, sizeof(t->summary), "%s reaches its %s limit in %.0f min at this trend",
		 w, cap_resource__str(v->why), v->value / 60);
	snprintf(t->description, sizeof(t->description),
		 "%s: %s grows %.3g%s per hour (Theil-Sen over %d minutes, Mann-Kendall z %.1f); "
		 "now %.4g%s of %.4g%s. %s",
		 w, cap_resource__str(v->why), f->slope * 3600 / (mem ? 1048576 : 1),
		 mem ? " MiB" : "", f->n, f->z, f->value / (mem ? 1048576 : 1), mem ? " MiB" : "",
		 f->limit / (mem ? 1048576 : 1), mem ? " MiB" : "",
		 mem ? "Find what grows (keys without a TTL, big keys: redis-cli --bigkeys) or raise "
		       "maxmemory and set an eviction policy."
		     : subject__redis(s) ? "Look for clients that leak connections (CLIENT LIST by "
					    "age) or raise maxclients."
					  : "Look for clients that leak connections, put a pooler "
					    "(PgBouncer) in front, or raise max_connections.");
}

static const struct rule rules[] = {
	{
		.name = "connection_storm",
		.defaults = { .severity = SEV_WARNING, .for_s = 0, .clear_for_s = 10,
			      .threshold = 50, .clear = 25 },
		.applies = { .scopes = SC_SERVERS },
		.eval = conn_storm_eval,
		.advice = conn_storm_advice,
	},
	{
		.name = "connections_near_limit",
		.defaults = { .severity = SEV_WARNING, .for_s = 5, .clear_for_s = 10,
			      .threshold = 0.9, .clear = 0.85 },
		.applies = { .scopes = SC_SERVERS },
		.eval = conn_limit_eval,
		.advice = conn_limit_advice,
	},
	{
		.name = "traffic_stopped",
		.defaults = { .severity = SEV_WARNING, .for_s = 10, .clear_for_s = 3,
			      .threshold = 1, .clear = 1 },
		.applies = { .scopes = SC_SERVERS },
		.eval = traffic_stopped_eval,
		.advice = traffic_stopped_advice,
	},
	{
		.name = "traffic_surge",
		.defaults = { .severity = SEV_INFO, .for_s = 10, .clear_for_s = 10,
			      .threshold = 3, .clear = 2 },
		.applies = { .scopes = SC_SERVERS },
		.eval = traffic_surge_eval,
		.advice = traffic_surge_advice,
	},
	{
		.name = "target_gone",
		.defaults = { .severity = SEV_CRITICAL, .for_s = 5, .clear_for_s = 0,
			      .threshold = 0, .clear = 0 },
		.applies = { .scopes = SC_SERVERS, .absent = true },
		.eval = target_gone_eval,
		.advice = target_gone_advice,
	},
	{
		.name = "target_restarted",
		.defaults = { .severity = SEV_WARNING, .for_s = 0, .clear_for_s = 60,
			      .threshold = 0, .clear = 0 },
		.applies = { .scopes = SC_SERVERS },
		.eval = target_restarted_eval,
		.advice = target_restarted_advice,
	},
	{
		.name = "capacity_exhaustion_predicted",
		.defaults = { .severity = SEV_WARNING, .for_s = 60, .clear_for_s = 300,
			      .threshold = 4 * 3600, .clear = 5 * 3600 },
		.applies = { .scopes = SC_SERVERS },
		.eval = capacity_eval,
		.advice = capacity_advice,
	},
	{
		.name = "events_lost",
		.defaults = { .severity = SEV_WARNING, .for_s = 0, .clear_for_s = 30,
			      .threshold = 0, .clear = 0 },
		.applies = { .scopes = SC_AGENT },
		.eval = events_lost_eval,
		.advice = events_lost_advice,
	},
};

const struct rule_group rules_common = RULE_GROUP(rules);
