/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The alert engine: once per tick (1 s) it turns the latest Redis, PostgreSQL and agent figures
 * into signals per server (p95/p99, throughput, error ratio, hit ratios, connections, lock wait,
 * lost events; series.h), scores each against its baseline, evaluates the built-in rules
 * (rules.h) and the configured ones (custom_rules.h), steps every alert's state machine,
 * computes the health scores, and publishes the result for the API and /metrics. Runs on the
 * agent's stats thread; readers use the published snapshot.
 * Memory is bounded: a fixed number of signal series and alert instances.
 */
#ifndef NEXUS_ENGINE_H
#define NEXUS_ENGINE_H
#include <stdint.h>
#include "identity.h"
#include <stdio.h>
#include "alert/alert.h"
#include "alert/alert_config.h"
#include "alert/capacity.h"
#include "alert/health.h"
#include "alert/notify.h"

#define ENG_MAX_SERIES 256 /* servers and PostgreSQL databases watched; past it, counted */
#define ENG_MAX_ALERTS 512 /* alert instances (pending, firing, resolved); past it, counted */
#define ENG_WINDOW 5	   /* ticks of latency and ratios a signal covers */

struct redis_snapshot;
struct postgres_snapshot;
struct self_stats;
struct notifier;

/* What readers get, published once per tick (immutable; through a snap_box). */
struct engine_server_health {
	char server[ALERT_LABEL_VALUE_LEN];
	char kind[12]; /* "redis" or "postgres" */
	struct nx_identity ident; /* its container and pod (labels of its capacity series) */
	struct health_result health;
	struct health_input input;
	bool has_cap;			  /* the capacity trends below are known */
	struct cap_fit cap[CAP__COUNT]; /* connections, memory, traffic (alert/capacity.h) */
};

struct engine_snapshot {
	int64_t at_ms;			/* unix ms of the evaluation */
	int n_alerts;			/* pending, firing and recently resolved instances */
	struct alert *alerts;
	uint64_t by_state_sev[ALERT__STATES][SEV__COUNT]; /* counts for nexus_alerts */
	double node_score;
	int n_servers;
	struct engine_server_health *servers;
	uint64_t evaluations, transitions;
	/* past the caps: servers (or databases) not judged, counted once per tick each; alert
	 * instances that could not be created */
	uint64_t dropped_series, dropped_alerts;
	bool has_notifier;
	struct notify_stats notify; /* the notifier's counters as of this tick */
};

struct engine;
/* cfg may be NULL (defaults); the notifier may be NULL (no receivers). */
struct engine *engine__new(const struct alert_config *cfg, struct notifier *notifier);
void engine__free(struct engine *e);
/* Where to write one line per alert transition (NULL: nowhere, the default). */
void engine__set_log(struct engine *e, FILE *log);
/* Ticks' times are another host's CLOCK_MONOTONIC (a replay): wall time = mono + this. */
void engine__set_wall_offset(struct engine *e, int64_t realtime_minus_mono_ns);
/* Swaps in a new configuration, keeping baselines and the states of rules that still exist. */
void engine__configure(struct engine *e, const struct alert_config *cfg);
/* The built-in rule names, NULL-terminated (for alert_config__load). */
const char *const *engine__rule_names(void);
/* One evaluation. Any snapshot may be NULL. now_ns is CLOCK_MONOTONIC; returns a new snapshot
 * (free with engine_snapshot__free) or NULL + errno. */
struct engine_snapshot *engine__tick(struct engine *e, const struct redis_snapshot *redis,
				     const struct postgres_snapshot *pg,
				     const struct self_stats *self, uint64_t now_ns);
void engine_snapshot__free(struct engine_snapshot *s);

#endif /* NEXUS_ENGINE_H */
