/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The OTLP exporter's own counters (nexus_agent_otlp_*): requests sent, failed, dropped and
 * retried, bytes sent, log records, per signal, as families of the metric model: /metrics and
 * the OTLP push itself show them.
 */
#ifndef NEXUS_OTLP_METRICS_H
#define NEXUS_OTLP_METRICS_H

#include <stdint.h>
#include "export/otlp_send.h"

struct metric_model;

struct otlp_stats {
	uint64_t sent[OTLP__SIGNALS];	     /* requests the collector accepted (2xx) */
	uint64_t sent_bytes[OTLP__SIGNALS];  /* their bodies as sent (gzip'ed when on) */
	uint64_t rejected[OTLP__SIGNALS];    /* answered with a status that is not retried (400) */
	uint64_t exhausted[OTLP__SIGNALS];   /* given up after the retries */
	uint64_t dropped[OTLP__SIGNALS];     /* pushed out of the full queue, never sent */
	uint64_t retries[OTLP__SIGNALS];     /* attempts that were retried (429/502/503/504, none) */
	uint64_t encode_errors;		     /* requests that could not be built (memory) */
	uint64_t bad_responses;		     /* 2xx bodies that were not an Export*ServiceResponse */
	uint64_t rejected_points;	     /* partial_success: points/records the collector refused */
	uint64_t log_records[3];	     /* alerts, slow commands, slow statements */
	uint64_t log_records_missed;	     /* more at once than a request holds, tables full */
	uint32_t queued;		     /* requests waiting now */
};

void otlp_metrics__fill(struct metric_model *m, const struct otlp_stats *s);

#endif /* NEXUS_OTLP_METRICS_H */
