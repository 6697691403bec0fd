// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * nexus-agent replay: a recording (capture/recording.h) through the same conntrack -> pipeline
 * -> stats code as run and trace, with no kernel and no root. It prints what trace prints, or
 * with --listen serves /metrics and the API as run does. Time is the records' own
 * (CLOCK_MONOTONIC of the recording host): snapshots and alert ticks happen every second of
 * record time, so the statistics windows are as they were at that moment of the recording.
 * /proc lookups are answered from the recording, never from this host.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "alert/alert_config.h"
#include "alert/engine.h"
#include "capture/recording.h"
#include "capture/targets.h"
#include "cli/commands.h"
#include "cli/opts.h"
#include "cli/trace_fmt.h"
#include "export/alert_api.h"
#include "export/api.h"
#include "export/http.h"
#include "export/metrics.h"
#include "export/status_page.h"
#include "cli/trace_filter.h"
#include "pipeline.h"
#include "stats/self_stats.h"
#include "stats/snap_box.h"
#include "util.h"

#define STATS_NS (1000 * 1000000ULL) /* snapshots and alert ticks, in record time, as run */
#define REPLAY_ROUTES 10

/* What the recording host's /proc answered, in the order it was asked: the newest per tgid. */
struct host_log {
	struct rec_proc *procs;
	struct rec_listen *listens;
	struct rec_title *titles;
	struct rec_identity *idents;
	size_t n_procs, n_listens, n_titles, cap_procs, cap_listens, cap_titles;
	size_t n_idents, cap_idents;
};

struct replayer {
	const struct nx_opts *o;
	struct rec_reader *rd;
	struct conntrack *ct;
	struct pipeline *pipe;
	struct host_log host;
	uint64_t kernel[NX_CNT__COUNT]; /* the newest counters the recording holds */
	uint64_t now;			/* record time: the newest record's */
	uint64_t next_stats;		/* 0: not started */
	uint64_t first_ts, real_start;	/* --speed */
	uint64_t end;			/* --duration: CLOCK_MONOTONIC of this host; 0: none */
	/* --listen */
	struct redis_stats *redis;
	struct postgres_stats *postgres;
	struct self_stats_box self_box;
	struct snap_box redis_box, postgres_box, engine_box;
	struct engine *engine;
	double start_time;
	struct metrics_sources sources;
	struct http_route routes[REPLAY_ROUTES];
	/* trace output */
	bool json;
	unsigned long failed;
	uint64_t printed; /* lines printed, for --count */
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = 1;
}

/* --- the recording host's /proc --------------------------------------------------------------- */

static int push(void **arr, size_t *n, size_t *cap, size_t size, const void *item)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		void *a = realloc(*arr, c * size);

		if (!a)
			return -ENOMEM;
		*arr = a;
		*cap = c;
	}
	memcpy((char *)*arr + *n * size, item, size);
	(*n)++;
	return 0;
}

static int host_describe(void *ctx, uint32_t tgid, struct target_info *ti)
{
	struct replayer *r = ctx;

	memset(ti, 0, sizeof(*ti));
	ti->tgid = (pid_t)tgid;
	for (size_t i = r->host.n_procs; i-- > 0;) {
		const struct rec_proc *p = &r->host.procs[i];

		if (p->tgid != tgid)
			continue;
		if (p->rc)
			return p->rc;
		ti->ppid = (pid_t)p->ppid;
		memcpy(ti->comm, p->comm, sizeof(ti->comm));
		memcpy(ti->exe, p->exe, sizeof(ti->exe));
		ti->comm[sizeof(ti->comm) - 1] = ti->exe[sizeof(ti->exe) - 1] = '\0';
		return 0;
	}
	return -ENOENT;
}

static int host_listen_ports(void *ctx, uint32_t tgid, uint16_t *ports, int max)
{
	struct replayer *r = ctx;

	for (size_t i = r->host.n_listens; i-- > 0;) {
		const struct rec_listen *l = &r->host.listens[i];
		int n = l->n < (uint32_t)max ? (int)l->n : max;

		if (l->tgid != tgid)
			continue;
		if (n > (int)(sizeof(l->ports) / sizeof(l->ports[0])))
			n = sizeof(l->ports) / sizeof(l->ports[0]);
		memcpy(ports, l->ports, (size_t)n * sizeof(*ports));
		return n;
	}
	return 0;
}

static int host_pg_title(void *ctx, uint32_t pid, char *user, size_t ulen, char *db, size_t dlen)
{
	struct replayer *r = ctx;

	for (size_t i = r->host.n_titles; i-- > 0;) {
		const struct rec_title *t = &r->host.titles[i];

		if (t->tgid != pid)
			continue;
		if (t->rc)
			return t->rc;
		snprintf(user, ulen, "%.*s", (int)sizeof(t->user), t->user);
		snprintf(db, dlen, "%.*s", (int)sizeof(t->db), t->db);
		return 0;
	}
	return -ENOENT;
}

static bool host_identify(void *ctx, uint32_t tgid, struct nx_identity *id)
{
	struct replayer *r = ctx;

	for (size_t i = r->host.n_idents; i-- > 0;) {
		const struct rec_identity *e = &r->host.idents[i];

		if (e->tgid != tgid)
			continue;
		if (!e->found)
			return false;
		/* the file's strings, bounded: whatever it holds, each field ends in its own size */
		*id = e->id;
		id->container_id[sizeof(id->container_id) - 1] = '\0';
		id->pod_uid[sizeof(id->pod_uid) - 1] = '\0';
		id->pod[sizeof(id->pod) - 1] = '\0';
		id->namespace_[sizeof(id->namespace_) - 1] = '\0';
		id->runtime[sizeof(id->runtime) - 1] = '\0';
		return true;
	}
	return false;
}

/* --- trace output (as trace prints) ----------------------------------------------------------- */

/* trace's filters, and --count: after N printed lines the replay stops as SIGINT stops it. */
static bool take(struct replayer *r, bool pass)
{
	if (!pass)
		return false;
	if (r->o->filter.count && ++r->printed >= r->o->filter.count)
		stop_requested = 1;
	return !r->o->filter.count || r->printed <= r->o->filter.count;
}

static void print_record(void *ctx, const struct nx_record *rec)
{
	struct replayer *r = ctx;

	if (!take(r, trace_filter__match_record(&r->o->filter, rec)))
		return;
	if (r->json)
		r->failed += trace_fmt__json(stdout, rec) != 0;
	else
		trace_fmt__text(stdout, rec);
}

static void print_redis(void *ctx, const struct redis_event *e)
{
	struct replayer *r = ctx;

	if (!take(r, trace_filter__match_redis(&r->o->filter, e)))
		return;
	if (r->json)
		r->failed += trace_fmt__redis_json(stdout, e) != 0;
	else
		trace_fmt__redis_text(stdout, e);
}

static void print_postgres(void *ctx, const struct postgres_event *e)
{
	struct replayer *r = ctx;

	if (!take(r, trace_filter__match_postgres(&r->o->filter, e)))
		return;
	if (r->json)
		r->failed += trace_fmt__postgres_json(stdout, e) != 0;
	else
		trace_fmt__postgres_text(stdout, e);
}

/* --- statistics at record time (--listen) ----------------------------------------------------- */

static void free_redis_snapshot(void *p)
{
	redis_snapshot__free(p);
}

static void free_postgres_snapshot(void *p)
{
	postgres_snapshot__free(p);
}

static void free_engine_snapshot(void *p)
{
	engine_snapshot__free(p);
}

static void publish_self(struct replayer *r)
{
	struct self_stats st = { .start_time = r->start_time };
	struct conntrack_stats ct;

	memcpy(st.kernel, r->kernel, sizeof(st.kernel));
	pipeline__self_stats(r->pipe, r->ct, &st);
	conntrack__stats(r->ct, &ct);
	st.targets = ct.procs; /* the recording host's target bits are not recorded: its table */
	self_stats__publish(&r->self_box, &st);
}

/* What run's tick does once a second, at record time `now`. */
static void publish(struct replayer *r, uint64_t now)
{
	struct redis_snapshot *snap;
	struct postgres_snapshot *pg;

	publish_self(r);
	snap = redis_stats__snapshot(r->redis, now);
	pg = postgres_stats__snapshot(r->postgres, now);
	if (snap) {
		const struct redis_exec_stats *x = pipeline__redis_exec_stats(r->pipe);

		snap->exec_calls = x->calls;
		snap->exec_orphans = x->orphans;
		snap->exec_unmatched = x->unmatched;
		snap->exec_dropped = x->dropped;
	}
	if (snap && snap_box__publish(&r->redis_box, snap, free_redis_snapshot))
		snap = NULL;
	if (pg) {
		pg->wire = *pipeline__pg_stats(r->pipe);
		pg->exec_time = rec_reader__header(r->rd)->flags & REC_F_PG_EXEC_TIME;
		if (snap_box__publish(&r->postgres_box, pg, free_postgres_snapshot))
			pg = NULL;
	}
	if (r->engine) {
		struct engine_snapshot *es;
		struct self_stats self;

		self_stats__read(&r->self_box, &self);
		es = engine__tick(r->engine, snap, pg, &self, now);
		if (es)
			snap_box__publish(&r->engine_box, es, free_engine_snapshot);
	}
}

/* Record time moves to ts: the ticks it passed, and --speed's pace. */
static void advance(struct replayer *r, uint64_t ts)
{
	if (ts <= r->now)
		return;
	r->now = ts;
	if (r->o->speed > 0) {
		uint64_t due, real;

		if (!r->first_ts) {
			r->first_ts = ts;
			r->real_start = nx_now_ns();
		}
		due = r->real_start + (uint64_t)((double)(ts - r->first_ts) / r->o->speed);
		real = nx_now_ns();
		if (due > real + 1000000) {
			struct timespec d = { .tv_sec = (time_t)((due - real) / 1000000000ULL),
					      .tv_nsec = (long)((due - real) % 1000000000ULL) };

			nanosleep(&d, NULL);
		}
	}
	if (!r->redis)
		return;
	if (!r->next_stats)
		r->next_stats = ts + STATS_NS;
	while (r->next_stats <= ts) {
		publish(r, r->next_stats);
		r->next_stats += STATS_NS;
	}
}

/* Every entry of the recording, in order. 1 at its end, 0 when stopped, or -errno with err. */
static int feed(struct replayer *r, char *err, size_t errlen)
{
	struct rec_entry e;
	int rc = 1; /* stopped before the first entry: not an error */

	while (!stop_requested && !(r->end && nx_now_ns() >= r->end) &&
	       (rc = rec_reader__next(r->rd, &e, err, errlen)) == 1) {
		switch (e.kind) {
		case REC_E_RING:
			/* as capture hands them on: a record shorter than its header is none */
			if (e.len < sizeof(struct nx_event_hdr))
				break;
			advance(r, ((const struct nx_event_hdr *)e.data)->ts_ns);
			conntrack__record(r->ct, e.data, e.len);
			break;
		case REC_E_FOUND:
			if (e.len >= sizeof(struct rec_proc)) {
				const struct rec_proc *p = e.data;
				char comm[NX_COMM_LEN], exe[256];

				snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(p->comm), p->comm);
				snprintf(exe, sizeof(exe), "%.*s", (int)sizeof(p->exe), p->exe);
				conntrack__add_proc(r->ct, p->tgid, p->ppid, comm, exe);
			}
			break;
		case REC_E_DESCRIBE:
			if (e.len >= sizeof(struct rec_proc) &&
			    push((void **)&r->host.procs, &r->host.n_procs, &r->host.cap_procs,
				 sizeof(struct rec_proc), e.data))
				return -ENOMEM;
			break;
		case REC_E_LISTEN:
			if (e.len >= sizeof(struct rec_listen) &&
			    push((void **)&r->host.listens, &r->host.n_listens,
				 &r->host.cap_listens, sizeof(struct rec_listen), e.data))
				return -ENOMEM;
			break;
		case REC_E_PG_TITLE:
			if (e.len >= sizeof(struct rec_title) &&
			    push((void **)&r->host.titles, &r->host.n_titles, &r->host.cap_titles,
				 sizeof(struct rec_title), e.data))
				return -ENOMEM;
			break;
		case REC_E_IDENTITY:
			if (e.len >= sizeof(struct rec_identity) &&
			    push((void **)&r->host.idents, &r->host.n_idents, &r->host.cap_idents,
				 sizeof(struct rec_identity), e.data))
				return -ENOMEM;
			break;
		case REC_E_COUNTERS:
			if (e.len >= sizeof(r->kernel))
				memcpy(r->kernel, e.data, sizeof(r->kernel));
			break;
		default:
			break; /* a kind of a later minor version: skipped */
		}
	}
	if (stop_requested || (r->end && nx_now_ns() >= r->end))
		return 0;
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	return rc < 0 ? rc : 1;
}

/* --listen: serve what the replay made, as run does (the routes live in r: the server keeps
 * pointers to them). */
static int serve(struct replayer *r, struct http_server **http)
{
	char msg[256] = "";

	r->sources = (struct metrics_sources){ .self = &r->self_box, .redis = &r->redis_box,
					       .postgres = &r->postgres_box,
					       .engine = r->engine ? &r->engine_box : NULL };
	const struct http_route routes[REPLAY_ROUTES] = {
		{ "/metrics", metrics__handle, &r->sources },
		{ "/api/v1/cache/stats", api__cache_stats, &r->redis_box },
		{ "/api/v1/cache/slow-commands", api__slow_commands, &r->redis_box },
		{ "/api/v1/database/slow-queries", api__slow_queries, &r->postgres_box },
		{ "/api/v1/database/connections", api__db_connections, &r->postgres_box },
		{ "/api/v1/database/stats", api__db_stats, &r->postgres_box },
		{ "/api/v1/database/relations", api__db_relations, &r->postgres_box },
		{ "/api/v1/alerts", alert_api__alerts, &r->engine_box },
		{ "/api/v1/health", alert_api__health, &r->engine_box },
		{ "/", status_page__handle, NULL },
	};

	memcpy(r->routes, routes, sizeof(routes));
	*http = http_server__start_cfg(r->o->listen, r->routes, REPLAY_ROUTES, &r->o->http, msg,
				       sizeof(msg));
	if (!*http) {
		int err = -errno;

		fprintf(stderr, "nexus-agent: %s\n", msg[0] ? msg : strerror(errno));
		return err ? err : -EINVAL;
	}
	fprintf(stderr, "nexus-agent: serving %s://%s/metrics%s\n",
		r->o->http.cert_pem ? "https" : "http", r->o->listen,
		r->o->http.token ? " (bearer token required)" : "");
	return 0;
}

static int setup_stats(struct replayer *r, int64_t wall_offset)
{
	struct alert_config *acfg;
	char aerr[512] = "";

	r->start_time = (double)time(NULL);
	self_stats__init(&r->self_box);
	snap_box__init(&r->redis_box);
	snap_box__init(&r->postgres_box);
	snap_box__init(&r->engine_box);
	r->redis = redis_stats__new();
	r->postgres = postgres_stats__new();
	if (!r->redis || !r->postgres || redis_stats__slow_log_size(r->redis, r->o->slow_log))
		return -ENOMEM;
	redis_stats__set_wall_offset(r->redis, wall_offset);
	if (r->o->no_alerts)
		return 0;
	acfg = malloc(sizeof(*acfg));
	if (!acfg)
		return -ENOMEM;
	if (!r->o->alerts_file)
		alert_config__init(acfg);
	else if (alert_config__load(acfg, r->o->alerts_file, engine__rule_names(), aerr,
				    sizeof(aerr))) {
		fprintf(stderr, "nexus-agent: alert config: %s\n", aerr);
		free(acfg);
		return -EINVAL;
	}
	/* These two ask this host whether the recorded pid still runs: off unless the file
	 * says otherwise. */
	for (int k = 0; k < 2; k++) {
		const char *rule = k ? "target_restarted" : "target_gone";
		bool given = false;

		for (int i = 0; i < acfg->n_overrides; i++)
			given |= !strcmp(acfg->overrides[i].rule, rule);
		if (given || acfg->n_overrides >= ACFG_MAX_OVERRIDES)
			continue;
		acfg->overrides[acfg->n_overrides++] =
			(struct acfg_override){ .fields = ACF_ENABLED, .enabled = false };
		snprintf(acfg->overrides[acfg->n_overrides - 1].rule, ALERT_NAME_LEN, "%s", rule);
	}
	/* No receivers: a replay's alerts are shown, never sent. */
	r->engine = engine__new(acfg, NULL);
	free(acfg);
	if (!r->engine)
		return -ENOMEM;
	engine__set_log(r->engine, stderr);
	engine__set_wall_offset(r->engine, wall_offset);
	return 0;
}

int cmd_replay(int argc, char **argv)
{
	struct replayer r = {};
	struct sigaction sa = { .sa_handler = on_signal };
	struct conntrack_opts topts = { .max_procs = 16384 };
	struct pipeline_opts popts = {};
	struct conntrack_host host;
	struct http_server *http = NULL;
	const struct rec_file_hdr *h;
	char err[512] = "";
	int64_t wall_offset;
	uint64_t end;
	struct nx_opts o;
	int rc = 0, status = 0;

	if (opts__parse(NX_CMD_REPLAY, argc, argv, &o))
		return NX_EXIT_USAGE;
	r.o = &o;
	if (o.listen_given && http_config__load(&o.http, err, sizeof(err))) {
		fprintf(stderr, "nexus-agent: %s\n", err);
		return NX_EXIT_USAGE;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	end = o.duration > 0 ? nx_now_ns() + (uint64_t)(o.duration * 1e9) : 0;
	r.end = end;
	r.rd = rec_reader__open(o.input, err, sizeof(err));
	if (!r.rd) {
		fprintf(stderr, "nexus-agent: %s\n", err);
		return NX_EXIT_FAIL;
	}
	h = rec_reader__header(r.rd);
	wall_offset = h->start_real_ns - (int64_t)h->start_mono_ns;
	if (!wall_offset)
		wall_offset = 1; /* 0 means "this host's clock" to the setters */
	/* The recording's settings, not this replay's: a connection table as large as it was. */
	topts.max_conns = o.max_conns > h->max_conns && h->max_conns ? o.max_conns
			  : h->max_conns				   ? h->max_conns
									   : o.max_conns;
	popts = (struct pipeline_opts){ .decode = o.listen_given || !o.raw,
					.redis_exec = h->flags & REC_F_REDIS_UPROBES,
					.slow_ns = (uint64_t)o.slow_ms * 1000000,
					.resp = o.resp,
					.pg_title = host_pg_title,
					.pg_title_ctx = &r };
	if (o.listen_given) {
		rc = setup_stats(&r, wall_offset);
		if (rc == -EINVAL) {
			status = NX_EXIT_USAGE;
			goto cleanup;
		}
		if (rc) {
			fprintf(stderr, "nexus-agent: out of memory\n");
			status = NX_EXIT_FAIL;
			goto cleanup;
		}
		r.pipe = pipeline__new(&popts, r.redis, r.postgres, (struct pipeline_sink){});
	} else {
		r.json = o.json;
		trace_fmt__set_wall_offset(wall_offset);
		setvbuf(stdout, NULL, _IOLBF, 0);
		r.pipe = pipeline__new(&popts, NULL, NULL,
				       (struct pipeline_sink){ .on_redis = print_redis,
							       .on_postgres = print_postgres,
							       .on_other = print_record,
							       .ctx = &r });
	}
	r.ct = r.pipe ? conntrack__new(&topts, NULL, pipeline__conntrack_sink(r.pipe)) : NULL;
	if (!r.ct) {
		fprintf(stderr, "nexus-agent: out of memory\n");
		status = NX_EXIT_FAIL;
		goto cleanup;
	}
	host = (struct conntrack_host){ .describe = host_describe,
					.listen_ports = host_listen_ports,
					.identify = host_identify, .ctx = &r };
	conntrack__set_host(r.ct, &host);
	if (o.listen_given) {
		publish(&r, h->start_mono_ns);
		if (serve(&r, &http)) {
			status = NX_EXIT_FAIL;
			goto cleanup;
		}
	}
	fprintf(stderr, "nexus-agent: replaying %s (recorded on %s by nexus-agent %s)\n", o.input,
		h->hostname, h->agent_version);
	rc = feed(&r, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "nexus-agent: %s: %s; the records before it were replayed\n", o.input,
			err);
		status = NX_EXIT_FAIL;
	}
	if (r.redis) {
		/* The end of the recording is "now" from here on. */
		publish(&r, r.now ? r.now : h->start_mono_ns);
		struct conntrack_stats cs;

		conntrack__stats(r.ct, &cs);
		fprintf(stderr, "nexus-agent: replayed %llu records; serving until stopped\n",
			(unsigned long long)cs.records);
		while (!stop_requested && (!end || nx_now_ns() < end))
			usleep(100 * 1000);
	}
	if (r.failed)
		fprintf(stderr, "nexus-agent: %lu records could not be printed\n", r.failed);
cleanup:
	http_server__stop(http);
	http_config__release(&o.http);
	conntrack__free(r.ct);
	pipeline__free(r.pipe);
	if (r.redis) {
		snap_box__destroy(&r.redis_box);
		snap_box__destroy(&r.postgres_box);
		snap_box__destroy(&r.engine_box);
	}
	engine__free(r.engine);
	redis_stats__free(r.redis);
	postgres_stats__free(r.postgres);
	free(r.host.procs);
	free(r.host.listens);
	free(r.host.titles);
	free(r.host.idents);
	rec_reader__close(r.rd);
	return status;
}
