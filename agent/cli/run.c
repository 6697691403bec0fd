// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent run: capture, decode, keep statistics, and serve them over HTTP. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cli/commands.h"
#include "cli/session.h"
#include "export/api.h"
#include "export/http.h"
#include "export/metrics.h"
#include "pipeline.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"
#include "stats/self_stats.h"
#include "stats/snap_box.h"

/* How often the capture thread publishes its own figures, and the (costlier) Redis snapshot. */
#define SELF_PUBLISH_NS (100 * 1000000ULL)
#define STATS_PUBLISH_NS (1000 * 1000000ULL)

struct runner {
	struct session *s;
	struct pipeline *pipe;
	struct redis_stats *redis;
	struct postgres_stats *postgres;
	struct self_stats_box self_box;
	struct snap_box redis_box;
	struct snap_box postgres_box;
	double start_time;
	uint64_t last_self, last_stats;
};

static void free_redis_snapshot(void *p)
{
	redis_snapshot__free(p);
}

static void free_postgres_snapshot(void *p)
{
	postgres_snapshot__free(p);
}

static void publish_self(struct runner *r)
{
	const struct resp_stats *rp = pipeline__resp_stats(r->pipe);
	struct conntrack_stats ct;
	struct self_stats st = { .start_time = r->start_time };

	capture__counters(r->s->cap, st.kernel);
	conntrack__stats(r->s->ct, &ct);
	st.records = ct.records;
	st.chunks = ct.chunks;
	st.bytes = ct.bytes;
	st.conns_opened = ct.conns_opened;
	st.conns_closed = ct.conns_closed;
	st.orphan_chunks = ct.orphan_chunks;
	st.conn_evictions = ct.conn_evictions;
	st.proc_drops = ct.proc_drops;
	st.bad_records = ct.bad_records;
	st.conns = ct.conns;
	st.targets = capture__count_targets(r->s->cap);
	st.parse_errors = rp->parse_errors + pipeline__pg_stats(r->pipe)->parse_errors;
	self_stats__publish(&r->self_box, &st);
}

/* Runs on the capture thread after every drained batch: publication, never per record. */
static void tick(void *ctx)
{
	struct runner *r = ctx;
	uint64_t now = nx_now_ns();

	if (now - r->last_self >= SELF_PUBLISH_NS) {
		r->last_self = now;
		publish_self(r);
	}
	if (now - r->last_stats >= STATS_PUBLISH_NS) {
		struct redis_snapshot *snap = redis_stats__snapshot(r->redis, now);
		struct postgres_snapshot *pg = postgres_stats__snapshot(r->postgres, now);

		r->last_stats = now;
		if (snap)
			snap_box__publish(&r->redis_box, snap, free_redis_snapshot);
		if (pg) {
			pg->wire = *pipeline__pg_stats(r->pipe);
			snap_box__publish(&r->postgres_box, pg, free_postgres_snapshot);
		}
	}
}

int cmd_run(int argc, char **argv)
{
	struct runner r = { .start_time = (double)time(NULL) };
	struct metrics_sources sources = {
		.self = &r.self_box, .redis = &r.redis_box, .postgres = &r.postgres_box
	};
	struct http_server *http = NULL;
	struct pipeline_opts popts;
	struct session s = {};
	struct nx_opts o;
	char msg[256] = "";
	int err = -ENOMEM;

	if (opts__parse(NX_CMD_RUN, argc, argv, &o))
		return NX_EXIT_USAGE;
	self_stats__init(&r.self_box);
	snap_box__init(&r.redis_box);
	snap_box__init(&r.postgres_box);
	popts = (struct pipeline_opts){ .decode = true, .resp = o.resp };
	r.redis = redis_stats__new();
	r.postgres = postgres_stats__new();
	r.pipe = r.redis && r.postgres
			 ? pipeline__new(&popts, r.redis, r.postgres, (struct pipeline_sink){})
			 : NULL;
	if (!r.pipe) {
		fprintf(stderr, "nexus-agent: out of memory\n");
		goto cleanup;
	}
	r.s = &s;
	err = session__open(&s, &o, pipeline__conntrack_sink(r.pipe));
	if (err)
		goto cleanup;
	tick(&r);

	const struct http_route routes[] = {
		{ "/metrics", metrics__handle, &sources },
		{ "/api/v1/cache/stats", api__cache_stats, &r.redis_box },
		{ "/api/v1/database/slow-queries", api__slow_queries, &r.postgres_box },
		{ "/api/v1/database/connections", api__db_connections, &r.postgres_box },
	};
	http = http_server__start(o.listen, routes, sizeof(routes) / sizeof(routes[0]), msg,
				  sizeof(msg));
	if (!http) {
		err = -errno;
		fprintf(stderr, "nexus-agent: %s\n", msg[0] ? msg : strerror(errno));
		goto cleanup;
	}
	fprintf(stderr, "nexus-agent: serving http://%s/metrics\n", o.listen);
	err = session__loop(&s, &o, tick, &r);
cleanup:
	http_server__stop(http);
	session__close(&s);
	snap_box__destroy(&r.redis_box);
	snap_box__destroy(&r.postgres_box);
	pipeline__free(r.pipe);
	redis_stats__free(r.redis);
	postgres_stats__free(r.postgres);
	return err ? NX_EXIT_FAIL : 0;
}
