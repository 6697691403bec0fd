// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent run: capture, and serve what was captured over HTTP. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cli/commands.h"
#include "cli/session.h"
#include "export/http.h"
#include "export/metrics.h"
#include "stats/self_stats.h"

/* How often the capture thread publishes its figures for readers. */
#define PUBLISH_NS (100 * 1000000ULL)

struct runner {
	struct session *s;
	struct self_stats_box box;
	double start_time;
	uint64_t last_publish;
};

static void publish(void *ctx)
{
	struct runner *r = ctx;
	struct conntrack_stats ct;
	struct self_stats st = { .start_time = r->start_time };
	uint64_t now = nx_now_ns();

	if (now - r->last_publish < PUBLISH_NS)
		return;
	r->last_publish = now;
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
	self_stats__publish(&r->box, &st);
}

int cmd_run(int argc, char **argv)
{
	struct runner r = { .start_time = (double)time(NULL) };
	struct http_server *http = NULL;
	struct session s;
	struct nx_opts o;
	char msg[256] = "";
	int err;

	if (opts__parse(NX_CMD_RUN, argc, argv, &o))
		return NX_EXIT_USAGE;
	self_stats__init(&r.box);
	r.s = &s;
	if (session__open(&s, &o, (struct conntrack_sink){ NULL, NULL }))
		return NX_EXIT_FAIL;
	r.last_publish = 0;
	publish(&r);

	const struct http_route routes[] = {
		{ "/metrics", metrics__handle, &r.box },
	};
	http = http_server__start(o.listen, routes, sizeof(routes) / sizeof(routes[0]), msg,
				  sizeof(msg));
	if (!http) {
		fprintf(stderr, "nexus-agent: %s\n", msg[0] ? msg : strerror(errno));
		session__close(&s);
		return NX_EXIT_FAIL;
	}
	fprintf(stderr, "nexus-agent: serving http://%s/metrics\n", o.listen);
	err = session__loop(&s, &o, publish, &r);
	http_server__stop(http);
	session__close(&s);
	return err ? NX_EXIT_FAIL : 0;
}
