/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* /metrics: the agent's own figures in the Prometheus/OpenMetrics text formats. */
#ifndef NEXUS_METRICS_H
#define NEXUS_METRICS_H

#include <stdbool.h>
#include "export/http.h"
#include "stats/self_stats.h"

struct snap_box;

/* What /metrics reads: the agent's own figures and the latest Redis snapshot. */
struct metrics_sources {
	struct self_stats_box *self;
	struct snap_box *redis;	   /* holds struct redis_snapshot */
	struct snap_box *postgres; /* holds struct postgres_snapshot */
	struct snap_box *engine;   /* holds struct engine_snapshot; NULL when alerting is off */
};

/* An http_handler_fn; ctx is a struct metrics_sources. */
int metrics__handle(void *ctx, const struct http_request *req, struct http_response *resp);
void metrics__render_self(FILE *f, bool openmetrics, const struct self_stats *s);

#endif /* NEXUS_METRICS_H */
