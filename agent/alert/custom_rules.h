/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Custom threshold rules (the configuration's custom_rules:): a metric of /metrics, label
 * matchers, optionally its per-second rate, an operator and thresholds. They read the metric
 * model /metrics renders, so a custom rule sees what a scraper sees. The engine steps their
 * alerts like those of the built-in rules.
 */
#ifndef NEXUS_CUSTOM_RULES_H
#define NEXUS_CUSTOM_RULES_H
#include <stdbool.h>
#include <stdint.h>
#include "alert/alert.h"
#include "alert/alert_config.h"
#include "alert/rules.h"
#include "model/metric_model.h"

/* What a rate rule remembers between ticks. */
struct custom_state {
	bool have_prev;
	double prev_sum;
	uint64_t prev_ns;
};

/* The verdict of c on this tick's model at now_ns; st carries the previous sum for a rate. */
void custom_rules__eval(const struct acfg_custom *c, struct custom_state *st,
			const struct metric_model *m, uint64_t now_ns, struct verdict *v);
/* Its summary (the configured one, or one made of the rule) and description. */
void custom_rules__advice(const struct acfg_custom *c, const struct verdict *v,
			  struct rule_text *t);
/* The alert's name and labels: the rule's name and its matchers. */
void custom_rules__key(const struct acfg_custom *c, struct alert *key);

#endif /* NEXUS_CUSTOM_RULES_H */
