// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <time.h>
#include "export/metrics.h"
#include "export/alert_api.h"
#include "export/otlp.h"
#include "export/prom.h"
#include "model/model_fill.h"
#include "stats/snap_box.h"

void metrics__fill(struct metrics_sources *src, struct metric_model *m)
{
	const struct redis_snapshot *redis;
	const struct postgres_snapshot *pg;
	struct snap_ref *ref;
	struct self_stats s;
	struct timespec now;

	self_stats__read(src->self, &s);
	clock_gettime(CLOCK_REALTIME, &now);
	metric_model__init(m, (uint64_t)(s.start_time * 1e9),
			   (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec);
	model__fill_self(m, &s);
	redis = snap_box__get(src->redis, &ref);
	if (redis)
		model__fill_redis(m, redis);
	snap_box__put(ref);
	pg = snap_box__get(src->postgres, &ref);
	if (pg)
		model__fill_postgres(m, pg);
	snap_box__put(ref);
	if (src->engine) {
		alert_api__fill_model(m, snap_box__get(src->engine, &ref));
		snap_box__put(ref);
	}
	if (src->otlp)
		otlp__fill_model(m, src->otlp);
}

int metrics__handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct prom p = { .f = resp->body, .openmetrics = prom__wants_openmetrics(req->accept) };
	struct metric_model m;
	int status = 200;

	metrics__fill(ctx, &m);
	if (m.oom) {
		/* A partial exposition would read as series that vanished: say so instead. */
		fprintf(resp->body, "out of memory building the metrics\n");
		status = 503;
	} else {
		prom__render_model(&p, &m);
		prom__end(&p);
	}
	metric_model__free(&m);
	resp->content_type = p.openmetrics ? OPENMETRICS_CONTENT_TYPE : PROM_CONTENT_TYPE;
	return status;
}
