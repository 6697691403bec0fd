/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The alerting configuration file (YAML, read with libyaml). It overrides built-in rules
 * (thresholds, durations, severity, off), adds threshold rules on any exported series, and says
 * where alerts go. A bad file is an error naming its line; the caller keeps its last good
 * configuration (SIGHUP reload).
 *
 *   rules:
 *     redis_hit_ratio_low:           # a built-in rule's name
 *       enabled: true
 *       severity: critical           # info | warning | critical
 *       for: 30s                     # durations: 500ms, 15s, 5m, 1h, or plain seconds
 *       clear_for: 10s
 *       threshold: 0.7               # fires past this ...
 *       clear: 0.75                  # ... and resolves only past this (hysteresis)
 *   custom_rules:
 *     - name: redis_errors_high      # [a-zA-Z_][a-zA-Z0-9_]*, unique, not a built-in name
 *       metric: nexus_redis_commands_total
 *       match: {status: ERR}         # label equality; series matching are summed
 *       rate: true                   # per-second rate of a counter instead of its value
 *       op: ">"                      # > >= < <=
 *       threshold: 50
 *       clear: 40                    # optional; default = threshold
 *       for: 15s
 *       severity: warning
 *       summary: "Redis errors above 50/s"
 *       runbook_url: https://wiki.example/redis-errors   # optional; none by default
 *   notify:
 *     alertmanager: http://127.0.0.1:9093   # base URL; alerts go to /api/v2/alerts
 *     webhook: http://127.0.0.1:8080/hook   # generic JSON webhook
 *     resend_interval: 60s
 *     timeout: 5s
 *   runbook_url_base: https://wiki.example/nexus/runbooks.md  # built-in rules' links (BASE#rule)
 */
#ifndef NEXUS_ALERT_CONFIG_H
#define NEXUS_ALERT_CONFIG_H
#include <stdbool.h>
#include <stdint.h>
#include "alert/alert.h"

#define ACFG_MAX_OVERRIDES 64
#define ACFG_MAX_CUSTOM 64
#define ACFG_MAX_MATCH 8
#define ACFG_METRIC_LEN 128
#define ACFG_URL_LEN 512

/* Which fields of an override were given; the rest keep the built-in values. */
enum acfg_field {
	ACF_ENABLED = 1 << 0,
	ACF_SEVERITY = 1 << 1,
	ACF_FOR = 1 << 2,
	ACF_CLEAR_FOR = 1 << 3,
	ACF_THRESHOLD = 1 << 4,
	ACF_CLEAR = 1 << 5,
};

struct acfg_override {
	char rule[ALERT_NAME_LEN];
	unsigned fields; /* enum acfg_field bits */
	bool enabled;
	enum alert_severity severity;
	uint64_t for_ns, clear_for_ns;
	double threshold, clear;
	int line; /* where it was written, for messages about it */
};

enum acfg_op { OP_GT, OP_GE, OP_LT, OP_LE };

struct acfg_custom {
	char name[ALERT_NAME_LEN];
	char metric[ACFG_METRIC_LEN];
	int n_match;
	struct alert_label match[ACFG_MAX_MATCH];
	bool rate;
	enum acfg_op op;
	double threshold, clear; /* clear == threshold when not given */
	uint64_t for_ns, clear_for_ns;
	enum alert_severity severity; /* default warning */
	char summary[ALERT_SUMMARY_LEN];
	char runbook_url[ACFG_URL_LEN]; /* "" = none: a custom rule has no runbook of its own */
	int line;
};

struct alert_config {
	int n_overrides;
	struct acfg_override overrides[ACFG_MAX_OVERRIDES];
	int n_custom;
	struct acfg_custom custom[ACFG_MAX_CUSTOM];
	char alertmanager_url[ACFG_URL_LEN]; /* "" = none */
	char webhook_url[ACFG_URL_LEN];
	uint64_t resend_interval_ns; /* default 60 s */
	uint64_t timeout_ns;	     /* default 5 s */
	/* built-in rules' runbook links: BASE#rule_name (runbook.h); "" = none.
	 * Default RUNBOOK_URL_BASE_DEFAULT. */
	char runbook_url_base[ACFG_URL_LEN];
};

/* The defaults: no overrides, no custom rules, no receivers. */
void alert_config__init(struct alert_config *c);
/*
 * Parses path into c. known_rules (NULL-terminated) are the built-in rule names an override may
 * name. On error returns -1, leaves c unspecified and writes "path:line:col: what" into err.
 */
int alert_config__load(struct alert_config *c, const char *path, const char *const *known_rules,
		       char *err, size_t err_len);
/* The same from a string (tests); name stands for the path in messages. */
int alert_config__parse(struct alert_config *c, const char *yaml, size_t len, const char *name,
			const char *const *known_rules, char *err, size_t err_len);
/* "15s", "500ms", "5m", "1h", "2.5" (seconds) -> ns; -1 when not a duration. */
int alert_config__duration(const char *s, uint64_t *ns);
const char *acfg_op__str(enum acfg_op op);

#endif /* NEXUS_ALERT_CONFIG_H */
