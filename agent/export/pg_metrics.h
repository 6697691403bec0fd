/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The nexus_postgres_* families on /metrics, from a PostgreSQL snapshot. Names are an interface. */
#ifndef NEXUS_PG_METRICS_H
#define NEXUS_PG_METRICS_H

#include "export/prom.h"
#include "stats/postgres_stats.h"

void pg_metrics__render(struct prom *p, const struct postgres_snapshot *s);

#endif /* NEXUS_PG_METRICS_H */
