/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Custom threshold rules (the configuration's custom_rules:): a metric of /metrics, label
 * matchers, optionally its per-second rate, an operator and thresholds. They read the same text
 * /metrics serves, so a custom rule sees exactly what a scraper sees. The engine steps their
 * alerts like those of the built-in rules.
 */
#ifndef NEXUS_CUSTOM_RULES_H
#define NEXUS_CUSTOM_RULES_H
#include <stdbool.h>
#include <stdint.h>
#include "alert/alert.h"
#include "alert/alert_config.h"
#include "alert/rules.h"

struct redis_snapshot;
struct postgres_snapshot;
struct self_stats;

/* What a rate rule remembers between ticks. */
struct custom_state {
	bool have_prev;
	double prev_sum;
	uint64_t prev_ns;
};

/* This tick's exposition text (malloc'd; free it), or NULL + errno. Any snapshot may be NULL. */
char *custom_rules__text(const struct redis_snapshot *redis, const struct postgres_snapshot *pg,
			 const struct self_stats *self);
/* The verdict of c on text at now_ns; st carries the previous sum for a rate. */
void custom_rules__eval(const struct acfg_custom *c, struct custom_state *st, const char *text,
			uint64_t now_ns, struct verdict *v);
/* Its summary (the configured one, or one made of the rule) and description. */
void custom_rules__advice(const struct acfg_custom *c, const struct verdict *v,
			  struct rule_text *t);
/* The alert's name and labels: the rule's name and its matchers. */
void custom_rules__key(const struct acfg_custom *c, struct alert *key);

#endif /* NEXUS_CUSTOM_RULES_H */
