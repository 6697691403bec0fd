/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* /metrics: the metric model, filled from the latest snapshots at each scrape, as Prometheus or
 * OpenMetrics text. */
#ifndef NEXUS_METRICS_H
#define NEXUS_METRICS_H

#include <stdbool.h>
#include "export/http.h"
#include "model/metric_model.h"
#include "stats/self_stats.h"

struct snap_box;
struct otlp_exporter;

/* What the model is filled from: the agent's own figures and the latest snapshots. */
struct metrics_sources {
	struct self_stats_box *self;
	struct snap_box *redis;	   /* holds struct redis_snapshot */
	struct snap_box *postgres; /* holds struct postgres_snapshot */
	struct snap_box *engine;   /* holds struct engine_snapshot; NULL when alerting is off */
	struct otlp_exporter *otlp; /* --otlp-endpoint: its own counters; NULL without */
};

/* An http_handler_fn; ctx is a struct metrics_sources. */
int metrics__handle(void *ctx, const struct http_request *req, struct http_response *resp);
/* A model of everything the agent publishes now (free it with metric_model__free; m->oom says
 * whether it is complete): what /metrics and the OTLP exporter render. */
void metrics__fill(struct metrics_sources *src, struct metric_model *m);

#endif /* NEXUS_METRICS_H */
