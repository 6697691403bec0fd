/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Fillers of the metric model from the statistics snapshots: every family the agent publishes
 * about the servers and itself, named as on /metrics (the names are an interface: dashboards and
 * alert rules use them). The alert engine's families are added by export (alert_api.c), which
 * reads the engine's snapshot.
 */
#ifndef NEXUS_MODEL_FILL_H
#define NEXUS_MODEL_FILL_H

#include "model/metric_model.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"
#include "stats/self_stats.h"

/* nexus_agent_*: the agent's own figures. */
void model__fill_self(struct metric_model *m, const struct self_stats *s);
/* nexus_redis_* */
void model__fill_redis(struct metric_model *m, const struct redis_snapshot *s);
/* nexus_postgres_* */
void model__fill_postgres(struct metric_model *m, const struct postgres_snapshot *s);
/* nexus_postgres_relation_buffer_{hits,reads}_total and the catalog counters (model__fill_postgres
 * calls it last) */
void model__fill_relations(struct metric_model *m, const struct postgres_snapshot *s);
/* The fine buckets of a latency histogram (seconds) onto the histogram sample just added, for
 * OTLP exponential histograms (model_fine.c). NULL or empty: nothing. */
void model__fine(struct metric_model *m, const struct hist_sparse *fine);

#endif /* NEXUS_MODEL_FILL_H */
