/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The built-in alert rules as a table. A rule is one entry: its name, its defaults, what it
 * applies to, an eval function that reads one subject's signals and returns the verdict, and an
 * advice function that words the alert. The entries live in per-domain files:
 *
 *   rules_requests.c  how a server answers: latency_anomaly, latency_p95_*, error_ratio_high
 *   rules_redis.c     the Redis keyspace: redis_hit_ratio_*, redis_miss_storm
 *   rules_pg.c        PostgreSQL's buffers, locks, deadlocks and slow statements
 *   rules_common.c    any server's clients, traffic and process, and the agent itself
 *
 * rules.c joins them in that order, which is the order rules are evaluated in (and so the order
 * of simultaneous log lines and notifications). The engine (engine.c) owns everything else:
 * series and baselines (series.c), alert instances and their state machines, health, snapshots.
 *
 * Adding a rule (say redis_event_loop_blocked):
 *   1. Append one entry to the rules[] array of the file of its domain (rules_redis.c), with
 *      designated initializers only, and write its eval and advice functions beside it:
 *        {
 *                .name = "redis_event_loop_blocked",
 *                .defaults = { .severity = SEV_WARNING, .for_s = 5, .clear_for_s = 10,
 *                              .threshold = 1, .clear = 0.5 },
 *                .applies = { .scopes = SC_REDIS },
 *                .eval = loop_blocked_eval,
 *                .advice = loop_blocked_advice,
 *        },
 *      eval sets v->fire, v->clear and v->value (v->threshold is preset: the configured
 *      threshold, NAN for .score rules); advice writes the summary and the description, naming
 *      the server with rule__who() and what to look at. Nothing else needs to know the rule:
 *      the configuration file accepts its name (enabled, severity, for, clear_for, threshold,
 *      clear) and its alerts carry the labels of its subject.
 *   2. If it reads a figure no signal holds yet, add an S_* signal below (each series then
 *      keeps one more baseline), take its counter or gauge into struct reading in
 *      series_set__update_redis/_pg, compute it in series_update and give its baseline a
 *      minimum effect in series_set__init (all in series.c).
 *   3. Add its row to the README's "Built-in rules" table (tests/unit/test_rules.c checks
 *      names, severity, for and clear_for against it, and that the rule stays quiet on a
 *      subject without figures), and a case driving it to tests/unit/test_engine.c.
 * A new domain file adds its group to the list in rules.c (the only place that lists files).
 */
#ifndef NEXUS_RULES_H
#define NEXUS_RULES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "alert/alert.h"
#include "alert/alert_config.h"
#include "alert/baseline.h"
#include "alert/capacity.h"
#include "alert/engine.h" /* ENG_WINDOW: what "the last 5 s" of a signal is */
#include "alert/rule_state.h"

/* The signals of one series, computed once per tick by series.c (NAN when there is no value). */
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
	S_FELT_P95,  /* latency as clients felt it (arrival at the socket to the reply), p95 over
		      * the window, s; NAN where arrivals are not known */
	S__COUNT
};

/* A blocked event loop (DEBUG SLEEP, a slow script) leaves the server's latency alone: requests
 * wait unread in the kernel. Replies stop instead. latency_anomaly fires on a silence
 * STALL_USUAL_X times the usual one and at least STALL_MIN_S, on a server whose traffic was
 * steady; series.c learns silences only there, and never ones of STALL_MIN_S or more. */
#define STALL_MIN_S	0.25
#define STALL_USUAL_X	10.0
#define STALL_MIN_RATE	10.0

/* What a rule can judge. A subject is exactly one of these; a rule applies to a set of them. */
enum rule_scope {
	SC_REDIS = 1 << 0,	     /* a Redis server */
	SC_PG_SERVER = 1 << 1,	     /* a PostgreSQL server whose databases have series too */
	SC_PG_SERVER_ONLY = 1 << 2,  /* a PostgreSQL server without per-database figures */
	SC_PG_DATABASE = 1 << 3,     /* one database of a PostgreSQL server */
	SC_AGENT = 1 << 4,	     /* the agent itself */
	/* a server's process: its connections, traffic and pid */
	SC_SERVERS = SC_REDIS | SC_PG_SERVER | SC_PG_SERVER_ONLY,
	/* where answers (latency, errors, USDT figures) are judged: per database when there are
	 * databases, so a slow database is named and not judged twice */
	SC_ANSWERS = SC_REDIS | SC_PG_SERVER_ONLY | SC_PG_DATABASE,
	SC_PG_ANSWERS = SC_PG_SERVER_ONLY | SC_PG_DATABASE,
	SC__ALL = (1 << 5) - 1,
};

/*
 * What a rule reads of one subject at this tick. For a server or a database the arrays point
 * into its series; for the agent they are NULL and only `lost` is set.
 */
struct rule_subject {
	enum rule_scope scope;
	const char *kind;     /* the `kind` label: "redis", "postgres" or "agent" */
	const char *server;   /* "" for the agent */
	const char *database; /* "" but for SC_PG_DATABASE */
	bool present;	      /* in this tick's snapshots (only SC_SERVERS can be absent) */
	bool usdt;	      /* PostgreSQL's USDT figures are live for it */
	uint32_t pid, old_pid;
	bool gone;	      /* pid has exited (the snapshot says so: the engine asks no OS) */
	bool restarted_now;   /* its pid changed at this tick (old_pid -> pid) */
	const double *sig;    /* [S__COUNT] this tick's signals */
	const double *score;  /* [S__COUNT] their anomaly scores against their baselines */
	const struct baseline *base;	 /* [S__COUNT] */
	const struct baseline_cfg *bcfg; /* [S__COUNT] */
	double conns, limit;		 /* open connections and the server's limit */
	uint64_t deadlocks;		 /* deadlocks found since the last tick */
	/* Redis: the longest stall (a command that held the event loop) that ended since the last
	 * tick, NULL for none; and the share of the last minute stalls held the server. */
	const struct rs_stall *stall;
	double blocked_share;
	double lost;			 /* the agent: events lost since the last tick */
	/* a server's capacity trends, [CAP__COUNT] (NULL: none, e.g. a database or the agent) */
	const struct cap_fit *cap;
};

static inline bool subject__redis(const struct rule_subject *s)
{
	return s->scope == SC_REDIS;
}

/* The baseline of signal i has learned enough to judge. */
static inline bool subject__warm(const struct rule_subject *s, enum sig i)
{
	return baseline__warm(&s->base[i], &s->bcfg[i]);
}

/* What is normal for signal i (meaningful once warm). */
static inline double subject__centre(const struct rule_subject *s, enum sig i)
{
	return s->base[i].centre;
}

/* The configured thresholds of a rule: its defaults, or what the configuration made of them. */
struct rule_bounds {
	double threshold; /* fire past this ... */
	double clear;	  /* ... resolve only past this (hysteresis) */
};

/* What a rule says about one subject at this tick. */
struct verdict {
	bool fire;	  /* the condition holds: towards pending, then firing */
	bool clear;	  /* the clearing condition holds: towards resolved */
	double value;	  /* what the alert shows as its value */
	double threshold; /* what it was compared with (NAN: an anomaly score, nothing to show) */
	int why;	  /* which of the rule's conditions fired, for its advice; the rule's own */
	bool escalate;	  /* this time it is critical, whatever the configured severity */
};

/* The words of an alert. */
struct rule_text {
	char summary[ALERT_SUMMARY_LEN];
	char description[ALERT_DESCRIPTION_LEN];
};

/*
 * eval: the verdict on s. The engine presets v to { .clear = true, .value = NAN,
 * .threshold = the configured threshold, or NAN for .score rules } and calls eval only for the
 * subjects the rule applies to.
 */
typedef void rule_eval_fn(const struct rule_subject *s, const struct rule_bounds *b,
			  struct verdict *v);
/* advice: the summary (one line, with the figures) and the description (what to look at). Called
 * only when an alert will show them, after eval, with eval's verdict. */
typedef void rule_advice_fn(const struct rule_subject *s, const struct rule_bounds *b,
			    const struct verdict *v, struct rule_text *t);

struct rule_defaults {
	enum alert_severity severity;
	double for_s;	    /* the condition holds this long before the alert fires */
	double clear_for_s; /* the clearing condition holds this long before it resolves */
	double threshold, clear;
	bool score;	    /* the threshold is an anomaly score: alerts carry threshold NAN */
};

struct rule_applies {
	unsigned scopes; /* enum rule_scope bits */
	bool usdt;	 /* only where PostgreSQL's USDT figures are live */
	bool absent;	 /* also judges a server that left the snapshots (target_gone) */
};

struct rule {
	/* the alertname: an interface (configuration files, Alertmanager routes) */
	const char *name;
	struct rule_defaults defaults;
	struct rule_applies applies;
	rule_eval_fn *eval;
	rule_advice_fn *advice;
};

/* The rules of one domain file. */
struct rule_group {
	const struct rule *rules;
	int n;
};

#define RULE_GROUP(arr) { .rules = (arr), .n = (int)(sizeof(arr) / sizeof((arr)[0])) }

extern const struct rule_group rules_requests, rules_redis, rules_pg, rules_common;

#define RULES_MAX 64 /* built-in rules the engine has room for (test_rules checks the table) */

/* Every built-in rule in evaluation order into out (up to max); returns how many there are. */
int rules__all(const struct rule **out, int max);
/* Their names, NULL-terminated. */
const char *const *rules__names(void);
/* The index of a rule in rules__all's order; -1 when there is none of that name. */
int rules__index(const char *name);

/* A rule as configured. */
struct rule_eff {
	bool enabled;
	enum alert_severity severity;
	struct rule_timing t; /* keep_resolved_ns is the engine's to set */
	struct rule_bounds b;
};
/* The defaults of r with an override (NULL: none) applied. */
void rule__effective(const struct rule *r, const struct acfg_override *o, struct rule_eff *out);

/* For advice: "Redis 127.0.0.1:6379", "PostgreSQL 127.0.0.1:5432 database app". */
#define RULE_WHO_LEN 200
const char *rule__who(const struct rule_subject *s, char *buf, size_t len);
/* "n/a", "1.5 s", "20 ms", "40 us" */
const char *rule__fmt_secs(char *buf, size_t len, double s);

#endif /* NEXUS_RULES_H */
