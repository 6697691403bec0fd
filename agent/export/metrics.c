// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "export/metrics.h"
#include "export/alert_api.h"
#include "export/prom.h"
#include "export/pg_metrics.h"
#include "export/redis_metrics.h"
#include "stats/snap_box.h"

#ifndef NX_VERSION
#define NX_VERSION "dev"
#endif

static void one(struct prom *p, const char *name, const char *type, const char *help, double v)
{
	prom__family(p, name, type, help);
	prom__sample(p, name, NULL, v);
}

void metrics__render_self(FILE *f, bool openmetrics, const struct self_stats *s)
{
	struct prom p = { .f = f, .openmetrics = openmetrics };
	char labels[64] = "";

	prom__label(labels, sizeof(labels), "version", NX_VERSION);
	prom__family(&p, "nexus_agent_build_info", "gauge", "The agent's version, as a label.");
	prom__sample(&p, "nexus_agent_build_info", labels, 1);
	one(&p, "nexus_agent_start_time_seconds", "gauge", "When the agent started, unix time.",
	    s->start_time);
	one(&p, "nexus_agent_events_total", "counter",
	    "Reads and writes of target sockets captured by the kernel side.",
	    s->kernel[NX_CNT_EVENTS]);
	one(&p, "nexus_agent_captured_bytes_total", "counter",
	    "Payload bytes copied from target sockets (at most --capture-bytes per event).",
	    s->kernel[NX_CNT_BYTES]);
	one(&p, "nexus_agent_events_lost_total", "counter",
	    "Records the ring buffer had no room for: data the agent never saw.",
	    s->kernel[NX_CNT_LOST]);
	one(&p, "nexus_agent_payload_read_errors_total", "counter",
	    "Payloads the kernel side could not copy from the target's memory.",
	    s->kernel[NX_CNT_READ_FAIL]);
	one(&p, "nexus_agent_fd_cache_full_total", "counter",
	    "Sockets the kernel side could not remember because its fd cache was full.",
	    s->kernel[NX_CNT_FDCACHE_FULL]);
	one(&p, "nexus_agent_records_total", "counter",
	    "Records of any kind the agent read from the ring buffer.", s->records);
	one(&p, "nexus_agent_bad_records_total", "counter",
	    "Records of an unknown type or size, dropped.", s->bad_records);
	one(&p, "nexus_agent_targets", "gauge", "Processes being watched.", s->targets);
	one(&p, "nexus_agent_dropped_processes_total", "counter",
	    "Target processes the full process table could not hold.", s->proc_drops);
	one(&p, "nexus_agent_connections", "gauge", "Connections of target processes being tracked.",
	    s->conns);
	one(&p, "nexus_agent_connections_opened_total", "counter",
	    "Connections of target processes the agent started tracking.", s->conns_opened);
	one(&p, "nexus_agent_connections_closed_total", "counter",
	    "Connections of target processes that closed.", s->conns_closed);
	one(&p, "nexus_agent_connection_evictions_total", "counter",
	    "Connections pushed out of the full connection table (--max-conns).",
	    s->conn_evictions);
	one(&p, "nexus_agent_orphan_chunks_total", "counter",
	    "Captured chunks of a connection whose opening record was lost.", s->orphan_chunks);
	one(&p, "nexus_agent_parse_errors_total", "counter",
	    "Protocol bytes the parsers could not understand.", s->parse_errors);
}

int metrics__handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct metrics_sources *src = ctx;
	struct prom p = { .f = resp->body, .openmetrics = prom__wants_openmetrics(req->accept) };
	const struct redis_snapshot *redis;
	const struct postgres_snapshot *pg;
	struct snap_ref *ref;
	struct self_stats s;

	self_stats__read(src->self, &s);
	metrics__render_self(resp->body, p.openmetrics, &s);
	redis = snap_box__get(src->redis, &ref);
	if (redis)
		redis_metrics__render(&p, redis);
	snap_box__put(ref);
	pg = snap_box__get(src->postgres, &ref);
	if (pg)
		pg_metrics__render(&p, pg);
	snap_box__put(ref);
	if (src->engine) {
		alert_api__render_metrics(&p, snap_box__get(src->engine, &ref));
		snap_box__put(ref);
	}
	prom__end(&p);
	resp->content_type = p.openmetrics ? OPENMETRICS_CONTENT_TYPE : PROM_CONTENT_TYPE;
	return 200;
}
