/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* nexus_capacity_time_to_limit_seconds: the capacity trends of the engine's snapshot. */
#ifndef NEXUS_CAPACITY_METRICS_H
#define NEXUS_CAPACITY_METRICS_H
#include "alert/engine.h"
#include "model/metric_model.h"

/* One sample per server and resource with a known limit: seconds until the trend reaches it,
 * +Inf when no rise is predicted. s may be NULL. */
void capacity_metrics__fill(struct metric_model *m, const struct engine_snapshot *s);

#endif /* NEXUS_CAPACITY_METRICS_H */
