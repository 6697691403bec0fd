/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* nexus_postgres_relation_buffer_{hits,reads}_total and the --pg-catalog counters on /metrics. */
#ifndef NEXUS_PG_RELATION_METRICS_H
#define NEXUS_PG_RELATION_METRICS_H

#include "export/prom.h"
#include "stats/postgres_stats.h"

void pg_relation_metrics__render(struct prom *p, const struct postgres_snapshot *s);

#endif /* NEXUS_PG_RELATION_METRICS_H */
