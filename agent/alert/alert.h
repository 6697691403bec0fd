/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * An alert as every part of alerting sees it: the rule engine produces them, the notifier posts
 * them to Alertmanager and webhooks, the JSON API and /metrics show them. Fixed-size so a list of
 * alerts is one allocation and can be copied between threads without pointers.
 */
#ifndef NEXUS_ALERT_H
#define NEXUS_ALERT_H
#include <stdbool.h>
#include <stdint.h>

#define ALERT_NAME_LEN 64
#define ALERT_MAX_LABELS 8 /* besides alertname and severity */
#define ALERT_LABEL_NAME_LEN 32
#define ALERT_LABEL_VALUE_LEN 128
#define ALERT_SUMMARY_LEN 256
#define ALERT_DESCRIPTION_LEN 512
/* room for a base URL as long as ACFG_URL_LEN, '#' and a rule name (runbook.h) */
#define ALERT_RUNBOOK_URL_LEN 600

enum alert_severity { SEV_INFO, SEV_WARNING, SEV_CRITICAL, SEV__COUNT };

/* Lifecycle: inactive -> pending (condition holds) -> firing (held for `for`) -> resolved
 * (condition cleared for the clear duration) -> inactive. A pending alert whose condition goes
 * away returns to inactive without ever being sent. */
enum alert_state { ALERT_INACTIVE, ALERT_PENDING, ALERT_FIRING, ALERT_RESOLVED, ALERT__STATES };

struct alert_label {
	char name[ALERT_LABEL_NAME_LEN];
	char value[ALERT_LABEL_VALUE_LEN];
};

struct alert {
	char name[ALERT_NAME_LEN]; /* the rule's name, exported as alertname */
	enum alert_severity severity;
	enum alert_state state;
	int n_labels;
	struct alert_label labels[ALERT_MAX_LABELS]; /* e.g. server, database, command */
	char summary[ALERT_SUMMARY_LEN];
	char description[ALERT_DESCRIPTION_LEN];
	char runbook_url[ALERT_RUNBOOK_URL_LEN]; /* "" when the rule has none (runbook.h) */
	double value;		 /* the series' value at the last evaluation */
	double threshold;	 /* what it was compared with (NAN for anomaly rules) */
	uint64_t fingerprint;	 /* hash of name + labels: the dedup key */
	int64_t active_since_ms; /* unix ms when it became pending; 0 if never */
	int64_t fired_at_ms;	 /* unix ms when it started firing; 0 if not yet */
	int64_t resolved_at_ms;	 /* unix ms when it resolved; 0 if not */
};

const char *alert_severity__str(enum alert_severity s); /* "info", "warning", "critical" */
const char *alert_state__str(enum alert_state s);	/* "inactive", "pending", "firing", "resolved" */
/* Parses "info"/"warning"/"critical"; -1 when unknown. */
int alert_severity__parse(const char *s);
/* FNV-1a over name and the label pairs in order; the engine keeps labels in a fixed order. */
uint64_t alert__fingerprint(const struct alert *a);
/* Appends a label; false when full or too long (the label is then dropped, not truncated). */
bool alert__add_label(struct alert *a, const char *name, const char *value);
const char *alert__label(const struct alert *a, const char *name); /* NULL when absent */

#endif /* NEXUS_ALERT_H */
