/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The nexus_redis_* families on /metrics, from a Redis snapshot. Names are an interface. */
#ifndef NEXUS_REDIS_METRICS_H
#define NEXUS_REDIS_METRICS_H

#include "export/prom.h"
#include "stats/redis_stats.h"

void redis_metrics__render(struct prom *p, const struct redis_snapshot *s);

#endif /* NEXUS_REDIS_METRICS_H */
