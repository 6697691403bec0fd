/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Sends alerts out: Alertmanager's v2 API (POST /api/v2/alerts) and a generic JSON webhook, with
 * libcurl on a thread of its own so a slow receiver never stalls the rule engine. The engine
 * hands over the alerts that changed and those still firing; the notifier posts transitions at
 * once, re-sends firing alerts every resend interval (Alertmanager forgets an alert whose endsAt
 * passes) and sends resolved ones with endsAt = resolution time. A full queue drops and counts.
 */
#ifndef NEXUS_NOTIFY_H
#define NEXUS_NOTIFY_H
#include <stdint.h>
#include "alert/alert.h"

struct notify_cfg {
	const char *alertmanager_url; /* base URL, e.g. http://127.0.0.1:9093; NULL or "" = off */
	const char *webhook_url;      /* NULL or "" = off */
	uint64_t resend_interval_ns;  /* firing alerts are re-sent this often (default 60 s) */
	uint64_t timeout_ns;	      /* per HTTP request (default 5 s) */
	const char *generator_url;    /* shown as generatorURL, e.g. http://node:9464/api/v1/alerts */
	const char *instance;	      /* node name, added as label "instance" */
};

struct notify_stats {
	uint64_t sent;	   /* HTTP requests that got a 2xx */
	uint64_t failed;   /* requests that failed or got another status (retried at the next resend) */
	uint64_t dropped;  /* alerts dropped because the queue was full */
};

struct notifier;
/* NULL + errno on failure. With no URL configured it still works and sends nothing. */
struct notifier *notifier__new(const struct notify_cfg *cfg);
/* Stops the thread after one last attempt to flush (bounded by the timeout), frees. */
void notifier__free(struct notifier *n);
/*
 * Called by the engine once per evaluation with every alert that is firing or resolved this
 * tick (state ALERT_FIRING or ALERT_RESOLVED); never blocks on the network.
 */
void notifier__submit(struct notifier *n, const struct alert *alerts, int n_alerts);
void notifier__stats(struct notifier *n, struct notify_stats *out);
/* Alertmanager v2 JSON for a batch (also what the webhook gets inside its envelope); malloc'ed. */
char *notify__alertmanager_json(const struct alert *alerts, int n, const struct notify_cfg *cfg);

#endif /* NEXUS_NOTIFY_H */
