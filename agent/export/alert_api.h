/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the alert engine publishes, for readers: GET /api/v1/alerts and GET /api/v1/health (JSON,
 * jansson) and the alerting families on /metrics (nexus_alerts, nexus_health_score,
 * nexus_alert_evaluations_total, nexus_alert_notifications_total). All render one engine
 * snapshot (struct engine_snapshot, held in a snap_box).
 */
#ifndef NEXUS_ALERT_API_H
#define NEXUS_ALERT_API_H

#include <stdio.h>
#include "alert/engine.h"
#include "export/http.h"
#include "model/metric_model.h"

/* GET /api/v1/alerts and GET /api/v1/health; ctx is the struct snap_box of engine snapshots. */
int alert_api__alerts(void *ctx, const struct http_request *req, struct http_response *resp);
int alert_api__health(void *ctx, const struct http_request *req, struct http_response *resp);
/* The same bodies from a snapshot (NULL: none yet, or alerting off); 0 or -ENOMEM. */
int alert_api__render_alerts(FILE *f, const struct engine_snapshot *s);
int alert_api__render_health(FILE *f, const struct engine_snapshot *s);
/* The alerting families on /metrics; s NULL renders nothing. */
void alert_api__fill_model(struct metric_model *m, const struct engine_snapshot *s);

#endif /* NEXUS_ALERT_API_H */
