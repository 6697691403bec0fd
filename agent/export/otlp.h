/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --otlp-endpoint: pushes the metric model and log records (alert transitions, slow commands and
 * statements) to an OpenTelemetry collector over OTLP/HTTP protobuf, from a thread of its own
 * with libcurl. Every interval it fills a model from the latest snapshots (metrics__fill, as
 * /metrics does), encodes it, gzips it and queues it; once a second it looks for new log
 * records. The queue is bounded (the oldest request is dropped and counted) and requests are
 * retried per otlp_send.h, so a collector that is down, slow or answers garbage costs this thread
 * its time and nothing else: capture and /metrics never wait for it.
 */
#ifndef NEXUS_OTLP_H
#define NEXUS_OTLP_H

#include <stdbool.h>
#include <stdint.h>
#include "export/metrics.h"
#include "export/otlp_encode.h"
#include "export/otlp_metrics.h"
#include "export/otlp_headers.h"

struct otlp_cfg {
	const char *endpoint;	  /* base URL: POST {endpoint}/v1/metrics and /v1/logs */
	double interval_s;	  /* metrics push period (default 15) */
	bool gzip;		  /* Content-Encoding: gzip (default on) */
	enum otlp_hist_mode hist; /* explicit (default) or exponential */
	double timeout_s;	  /* per request (default 10) */
	int queue;		  /* requests waiting at most (default 32) */
	uint64_t pg_slow_ns;	  /* PostgreSQL statements reported slow from this p95; 0: none */
	const struct otlp_headers *headers; /* more request headers; may be NULL */
};

struct otlp_exporter;

/* Starts the thread and sets src->otlp; NULL + errno on failure. src must outlive it. */
struct otlp_exporter *otlp__start(const struct otlp_cfg *cfg, struct metrics_sources *src);
/* One last push of what is queued (bounded by the timeout), then stops and frees. NULL is ok. */
void otlp__stop(struct otlp_exporter *e);
void otlp__stats(struct otlp_exporter *e, struct otlp_stats *out);
/* The exporter's own families into a model (metrics__fill calls it). */
void otlp__fill_model(struct metric_model *m, struct otlp_exporter *e);

#endif /* NEXUS_OTLP_H */
