// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent run: capture, decode, keep statistics, and serve them over HTTP. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>
#include "alert/engine.h"
#include "alert/notify.h"
#include "capture/pg_catalog.h"
#include "capture/pg_usdt.h"
#include "capture/redis_uprobes.h"
#include "capture/server_limits.h"
#include "cli/commands.h"
#include "cli/session.h"
#include "export/alert_api.h"
#include "export/api.h"
#include "export/healthz.h"
#include "export/http.h"
#include "export/metrics.h"
#include "export/otlp.h"
#include "export/report_api.h"
#include "export/status_page.h"
#include "pipeline.h"
#include "report/report_store.h"
#include "report/reporter.h"
#include "stats/pg_relations.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"
#include "stats/self_stats.h"
#include "stats/snap_box.h"

/* How often the capture thread publishes its own figures (while records arrive: without them
 * nothing in them moves), and the (costlier) Redis and PostgreSQL snapshots and the alert tick
 * (always: their windows move with time). */
#define SELF_PUBLISH_NS (100 * 1000000ULL)
#define STATS_PUBLISH_NS (1000 * 1000000ULL)
/* How often memory freed since is handed back to the kernel (malloc_trim): after a burst of
 * connections closes, glibc would otherwise keep the pages of the freed parsers for good. */
#define TRIM_NS (10 * 1000000000ULL)

struct runner {
	struct session *s;
	struct pipeline *pipe;
	struct redis_stats *redis;
	struct postgres_stats *postgres;
	struct self_stats_box self_box;
	struct snap_box redis_box;
	struct snap_box postgres_box;
	struct snap_box engine_box;	/* holds struct engine_snapshot */
	struct engine *engine;		/* NULL with --no-alerts */
	struct notifier *notifier;	/* NULL without a receiver */
	const struct nx_opts *o;
	double start_time;
	uint64_t last_self, last_stats, last_trim;
	bool self_stale;		/* records arrived since the last publish_self() */
	struct healthz health;		/* /healthz and /readyz */
	struct http_server *http;	/* SIGHUP re-reads its --auth-token-file */
	struct server_limits limits;	/* servers' limits and memory, from /proc */
	struct reporter *reporter;	/* health reports every --report-interval */
	struct report_store reports;	/* ... the last REPORT_KEEP, for /api/v1/report */
	struct pg_catalog *catalog;	/* --pg-catalog; NULL: off */
	struct pg_relations *relations;
	struct pg_rel_count *rel_rows;	/* the USDT relation map, read once per tick */
	int n_rel_rows;
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
	struct self_stats st = { .start_time = r->start_time };

	if (!capture__counters(r->s->cap, st.kernel))
		st.n_cpus = capture__counter_by_cpu(r->s->cap, NX_CNT_LOST, st.lost_by_cpu,
						    NX_SELF_MAX_CPUS);
	pipeline__self_stats(r->pipe, r->s->ct, &st);
	st.targets = capture__count_targets(r->s->cap);
	self_stats__publish(&r->self_box, &st);
}

static void redis_keyspace(void *ctx, uint32_t tgid, uint64_t hits, uint64_t misses)
{
	struct runner *r = ctx;

	redis_stats__keyspace(r->redis, tgid, hits, misses);
}

static void pg_waiting(void *ctx, uint32_t tgid, uint64_t since)
{
	struct runner *r = ctx;
	uint64_t now = nx_now_ns();

	pipeline__pg_waiting(r->pipe, tgid, now > since ? now - since : 0);
}

static void collect_rel(void *ctx, const struct nx_pg_rel_key *k, const struct nx_pg_rel_val *v)
{
	struct runner *r = ctx;

	if (r->n_rel_rows < PS_MAX_RELATIONS)
		r->rel_rows[r->n_rel_rows++] =
			(struct pg_rel_count){ k->db_oid, k->rel_node, v->hits, v->reads, k->server };
}

static void want_names(void *ctx, const char *server, uint32_t pid, uint32_t db_oid, uint64_t sig)
{
	pg_catalog__want(ctx, server, pid, db_oid, sig);
}

/* The relation map and its names into the snapshot: a map read and a catalog lookup, never a
 * wait for a server (pg_catalog.c does that on its own thread). */
static void fill_relations(struct runner *r, struct postgres_snapshot *pg)
{
	static const struct pg_catalog_snapshot none; /* on, nothing learned yet */
	const struct pg_catalog_snapshot *cat;
	void *ref;

	pg->relations_usdt = r->s->pg != NULL;
	pg->relations_since = r->start_time;
	if (!r->s->pg || !r->relations || !r->rel_rows)
		return;
	r->n_rel_rows = 0;
	pg_usdt__each_relation(r->s->pg, collect_rel, r);
	cat = pg_catalog__get(r->catalog, &ref);
	if (r->catalog && !cat)
		cat = &none;
	pg_relations__fill(r->relations, pg, r->rel_rows, r->n_rel_rows, cat,
			   r->catalog ? want_names : NULL, r->catalog);
	pg_catalog__put(ref);
}

/* --- alerting ------------------------------------------------------------------------------ */

static volatile sig_atomic_t reload_requested;
static volatile sig_atomic_t token_reload_requested;

static void on_sighup(int sig)
{
	reload_requested = 1;
	token_reload_requested = 1;
}

/* SIGHUP: a rotated --auth-token-file; a bad one keeps the token in force. */
static void reload_token(struct runner *r)
{
	char err[512] = "";
	int rc;

	token_reload_requested = 0;
	rc = http_server__reload_token(r->http, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "nexus-agent: %s; keeping the previous token\n", err);
	else if (rc == 0)
		fprintf(stderr, "nexus-agent: reloaded --auth-token-file %s\n",
			r->o->http.auth_token_file);
}

static void free_engine_snapshot(void *p)
{
	engine_snapshot__free(p);
}

/* The --alerts file (or the defaults); 0, or -1 with the reason in err. */
static int load_alerts(const struct nx_opts *o, struct alert_config *c, char *err, size_t len)
{
	if (!o->alerts_file)
		alert_config__init(c);
	else if (alert_config__load(c, o->alerts_file, engine__rule_names(), err, len))
		return -1;
	/* The command line wins over the file, at start and at every reload. */
	if (o->runbook_url_base)
		snprintf(c->runbook_url_base, sizeof(c->runbook_url_base), "%s",
			 o->runbook_url_base);
	return 0;
}

/* Receivers: the command line overrides the file's notify section. NULL when there is none. */
static struct notifier *start_notifier(const struct nx_opts *o, const struct alert_config *c)
{
	char host[256] = "localhost", generator[512];
	struct notify_cfg ncfg = {
		.alertmanager_url = o->alertmanager_url ? o->alertmanager_url : c->alertmanager_url,
		.webhook_url = o->webhook_url ? o->webhook_url : c->webhook_url,
		.resend_interval_ns = c->resend_interval_ns,
		.timeout_ns = c->timeout_ns,
		.generator_url = generator,
		.instance = host,
	};

	if (!ncfg.alertmanager_url[0] && !ncfg.webhook_url[0])
		return NULL;
	gethostname(host, sizeof(host) - 1);
	snprintf(generator, sizeof(generator), "http://%s%s/api/v1/alerts",
		 o->listen[0] == ':' ? host : "", o->listen);
	return notifier__new(&ncfg);
}

/* SIGHUP: the new rules, or the old ones and a message saying why. The receivers are kept. */
static void reload_alerts(struct runner *r)
{
	struct alert_config *c = malloc(sizeof(*c));
	char err[512] = "";

	if (!r->o->alerts_file) {
		fprintf(stderr, "nexus-agent: alert config: no --alerts file to reload\n");
	} else if (!c) {
		fprintf(stderr, "nexus-agent: alert config: out of memory; keeping the previous "
				"rules\n");
	} else if (load_alerts(r->o, c, err, sizeof(err))) {
		fprintf(stderr, "nexus-agent: alert config: %s; keeping the previous rules\n", err);
	} else {
		engine__configure(r->engine, c);
		fprintf(stderr, "nexus-agent: alert config: reloaded %s (%d overrides, %d custom "
				"rules)\n",
			r->o->alerts_file, c->n_overrides, c->n_custom);
	}
	free(c);
}

/* Once per second, after the snapshots are published: evaluate, publish the result. */
static void alerts_tick(struct runner *r, const struct redis_snapshot *redis,
			const struct postgres_snapshot *pg, uint64_t now)
{
	struct engine_snapshot *es;
	struct self_stats self;

	if (!r->engine)
		return;
	if (reload_requested) {
		reload_requested = 0;
		reload_alerts(r);
	}
	self_stats__read(&r->self_box, &self);
	es = engine__tick(r->engine, redis, pg, &self, now);
	if (es)
		snap_box__publish(&r->engine_box, es, free_engine_snapshot);
}

/* After the alert tick: the reporter reads what was just published (stats -> alert -> report). */
static void report_tick(struct runner *r, uint64_t now)
{
	struct timespec rt;
	char *json;
	int err;

	if (!r->reporter)
		return;
	clock_gettime(CLOCK_REALTIME, &rt);
	json = reporter__tick(r->reporter, &r->redis_box, &r->postgres_box,
			      r->engine ? &r->engine_box : NULL, now,
			      (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000);
	if (!json)
		return;
	err = report_store__add(&r->reports, json, (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000);
	/* said once per failure streak would be nicer; a report every few minutes is rare enough */
	if (err)
		fprintf(stderr, "nexus-agent: report: cannot write to %s: %s\n", r->o->report_dir,
			strerror(-err));
}

/* The servers' limits and memory go into the snapshots here, on the capture side. */
static void fill_limits(struct runner *r, struct redis_snapshot *snap, struct postgres_snapshot *pg)
{
	struct server_limit l;

	for (int i = 0; snap && i < snap->n_servers; i++) {
		struct rs_server_snap *sv = &snap->servers[i];

		server_limits__get(&r->limits, sv->pid, true, &l);
		sv->gone = sv->pid && !targets__alive(sv->pid);
		sv->max_conns = l.max_conns;
		sv->maxmemory = l.maxmemory;
		sv->rss_bytes = l.rss_bytes;
	}
	for (int i = 0; pg && i < pg->n_servers; i++) {
		server_limits__get(&r->limits, pg->servers[i].pid, false, &l);
		pg->servers[i].gone = pg->servers[i].pid && !targets__alive(pg->servers[i].pid);
		pg->servers[i].max_conns = l.max_conns;
	}
}

/* Runs on the capture thread after every drained batch: publication, never per record. Returns
 * when it must run next. */
static uint64_t tick(void *ctx, int n_records)
{
	struct runner *r = ctx;
	uint64_t now = nx_now_ns();
	bool stats_due = now - r->last_stats >= STATS_PUBLISH_NS;

	healthz__beat(&r->health, now);
	r->self_stale |= n_records > 0;
	/* The kernel's counters and the target count are read here: the once-a-second publish
	 * also catches any that moved without a record. */
	if ((r->self_stale && now - r->last_self >= SELF_PUBLISH_NS) || stats_due) {
		r->last_self = now;
		r->self_stale = false;
		publish_self(r);
	}
	if (stats_due) {
		struct redis_snapshot *snap;
		struct postgres_snapshot *pg;

		/* Lock waits still in progress, so a long one shows before it ends. */
		if (r->s->pg) {
			pipeline__pg_waiting_begin(r->pipe);
			pg_usdt__each_waiting(r->s->pg, pg_waiting, r);
		}
		if (r->s->ru)
			redis_uprobes__each_keyspace(r->s->ru, redis_keyspace, r);
		snap = redis_stats__snapshot(r->redis, now);
		pg = postgres_stats__snapshot(r->postgres, now);
		r->last_stats = now;
		fill_limits(r, snap, pg);
		if (snap) {
			const struct redis_exec_stats *x = pipeline__redis_exec_stats(r->pipe);

			snap->exec_calls = x->calls;
			snap->exec_orphans = x->orphans;
			snap->exec_unmatched = x->unmatched;
			snap->exec_dropped = x->dropped;
		}
		if (snap && snap_box__publish(&r->redis_box, snap, free_redis_snapshot))
			snap = NULL; /* freed by the failed publish */
		if (pg) {
			fill_relations(r, pg);
			pg->wire = *pipeline__pg_stats(r->pipe);
			pg->exec_time = r->s->pg && r->o->pg_exec_time;
			if (snap_box__publish(&r->postgres_box, pg, free_postgres_snapshot))
				pg = NULL;
		}
		/* The boxes hold both snapshots until this thread publishes the next ones. */
		alerts_tick(r, snap, pg, now);
		if (token_reload_requested)
			reload_token(r);
		report_tick(r, now);
		if (now - r->last_trim >= TRIM_NS) {
			r->last_trim = now;
			malloc_trim(0);
		}
	}
	if (r->self_stale && r->last_self + SELF_PUBLISH_NS < r->last_stats + STATS_PUBLISH_NS)
		return r->last_self + SELF_PUBLISH_NS;
	return r->last_stats + STATS_PUBLISH_NS;
}

/* The OTLP request headers: the environment's first, then --otlp-header, which replaces one of
 * the same name. A bad one is said (never its value) and fails the start. */
static int otlp_headers_of(const struct nx_opts *o, struct otlp_headers *h)
{
	const char *env = getenv("OTEL_EXPORTER_OTLP_HEADERS");
	char msg[160];
	int err = env ? otlp_headers__add_list(h, env, msg, sizeof(msg)) : 0;

	for (int i = 0; !err && i < o->n_otlp_header; i++)
		err = otlp_headers__add(h, o->otlp_header[i], 0, msg, sizeof(msg));
	if (err)
		fprintf(stderr, "nexus-agent: %s%s\n",
			env ? "OTEL_EXPORTER_OTLP_HEADERS or --otlp-header: " : "", msg);
	return err;
}

int cmd_run(int argc, char **argv)
{
	struct runner r = { .start_time = (double)time(NULL) };
	struct metrics_sources sources = {
		.self = &r.self_box, .redis = &r.redis_box, .postgres = &r.postgres_box
	};
	struct sigaction hup = { .sa_handler = on_sighup, .sa_flags = SA_RESTART };
	struct alert_config *acfg = NULL;
	char aerr[512] = "";
	struct http_server *http = NULL;
	struct otlp_exporter *otlp = NULL;
	struct otlp_headers otlp_headers = {};
	struct pipeline_opts popts;
	struct session s = {};
	struct nx_opts o;
	char msg[256] = "";
	int err = -ENOMEM;

	if (opts__parse(NX_CMD_RUN, argc, argv, &o))
		return NX_EXIT_USAGE;
	r.o = &o;
	/* TLS files and the token: a usage error before anything is attached. */
	if (http_config__load(&o.http, aerr, sizeof(aerr))) {
		fprintf(stderr, "nexus-agent: %s\n", aerr);
		return NX_EXIT_USAGE;
	}
	/* A report directory that cannot be written is a usage error, not a surprise in 15 min. */
	if (o.report_dir && access(o.report_dir, W_OK | X_OK)) {
		fprintf(stderr, "nexus-agent: --report-dir %s: %s\n", o.report_dir, strerror(errno));
		http_config__release(&o.http);
		return NX_EXIT_USAGE;
	}
	if (!o.no_alerts) {
		/* A bad file at start is a usage error: nothing runs on rules nobody meant. */
		acfg = malloc(sizeof(*acfg));
		if (!acfg || load_alerts(&o, acfg, aerr, sizeof(aerr))) {
			fprintf(stderr, "nexus-agent: alert config: %s\n",
				acfg ? aerr : "out of memory");
			free(acfg);
			http_config__release(&o.http);
			return acfg ? NX_EXIT_USAGE : NX_EXIT_FAIL;
		}
	}
	sigaction(SIGHUP, &hup, NULL);
	self_stats__init(&r.self_box);
	server_limits__init(&r.limits);
	report_store__init(&r.reports, o.report_dir);
	r.reporter = reporter__new(o.report_interval_ns);
	if (!r.reporter)
		fprintf(stderr, "nexus-agent: out of memory: no health reports\n");
	snap_box__init(&r.redis_box);
	snap_box__init(&r.postgres_box);
	snap_box__init(&r.engine_box);
	healthz__init(&r.health);
	if (acfg) {
		errno = 0;
		r.notifier = start_notifier(&o, acfg);
		if (!r.notifier && errno)
			fprintf(stderr, "nexus-agent: alert receivers: %s; alerts are not sent\n",
				strerror(errno));
		r.engine = engine__new(acfg, r.notifier);
		if (!r.engine) {
			fprintf(stderr, "nexus-agent: out of memory\n");
			goto cleanup;
		}
		engine__set_log(r.engine, stderr);
		sources.engine = &r.engine_box;
	}
	popts = (struct pipeline_opts){ .decode = true, .redis_exec = o.redis_uprobes,
					.slow_ns = (uint64_t)o.slow_ms * 1000000, .resp = o.resp };
	r.redis = redis_stats__new();
	if (r.redis && redis_stats__slow_log_size(r.redis, o.slow_log)) {
		redis_stats__free(r.redis);
		r.redis = NULL;
	}
	r.postgres = postgres_stats__new();
	r.relations = pg_relations__new();
	r.rel_rows = malloc(PS_MAX_RELATIONS * sizeof(*r.rel_rows));
	if (!r.relations || !r.rel_rows) {
		fprintf(stderr, "nexus-agent: out of memory\n");
		goto cleanup;
	}
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
	if (o.pg_catalog) {
		if (!s.pg)
			fprintf(stderr, "nexus-agent: --pg-catalog: no USDT probes, so no relation "
					"figures to name\n");
		else if (!(r.catalog = pg_catalog__start(o.pg_catalog)))
			fprintf(stderr, "nexus-agent: --pg-catalog: %s; relations keep their "
					"relfilenode numbers\n", strerror(errno));
	}
	tick(&r, 0);
	/* Probes are attached and that first tick published the first snapshots. */
	healthz__set_ready(&r.health);

	const struct http_route routes[] = {
		{ "/metrics", metrics__handle, &sources },
		{ "/api/v1/cache/stats", api__cache_stats, &r.redis_box },
		{ "/api/v1/cache/slow-commands", api__slow_commands, &r.redis_box },
		{ "/api/v1/database/slow-queries", api__slow_queries, &r.postgres_box },
		{ "/api/v1/database/connections", api__db_connections, &r.postgres_box },
		{ "/api/v1/database/stats", api__db_stats, &r.postgres_box },
		{ "/api/v1/database/relations", api__db_relations, &r.postgres_box },
		{ "/api/v1/database/indexes", api__db_indexes, &r.postgres_box },
		{ "/api/v1/alerts", alert_api__alerts, &r.engine_box },
		{ "/api/v1/health", alert_api__health, &r.engine_box },
		{ "/healthz", healthz__live, &r.health },
		{ "/readyz", healthz__ready, &r.health },
		{ "/api/v1/report", report_api__report, &r.reports },
		{ "/", status_page__handle, NULL },
	};
	if (o.otlp_endpoint) {
		struct otlp_cfg ocfg = {
			.endpoint = o.otlp_endpoint,
			.interval_s = o.otlp_interval,
			.gzip = !o.otlp_no_gzip,
			.hist = o.otlp_exponential ? OTLP_HIST_EXPONENTIAL : OTLP_HIST_EXPLICIT,
			.timeout_s = o.otlp_timeout,
			.queue = (int)o.otlp_queue,
			/* statements are slow by the same threshold as Redis commands */
			.pg_slow_ns = (uint64_t)o.slow_ms * 1000000,
			.headers = &otlp_headers,
		};

		err = otlp_headers_of(&o, &otlp_headers);
		if (err)
			goto cleanup;
		/* before the HTTP server: /metrics then shows the exporter's counters from the
		 * first scrape (otlp__start sets sources.otlp before its thread runs) */
		otlp = otlp__start(&ocfg, &sources);
		if (!otlp) {
			err = -errno;
			fprintf(stderr, "nexus-agent: otlp: %s\n", strerror(errno));
			goto cleanup;
		}
		fprintf(stderr, "nexus-agent: pushing OTLP to %s every %gs\n", o.otlp_endpoint,
			o.otlp_interval);
	}
	http = http_server__start_cfg(o.listen, routes, sizeof(routes) / sizeof(routes[0]), &o.http,
				      msg, sizeof(msg));
	if (!http) {
		err = -errno;
		fprintf(stderr, "nexus-agent: %s\n", msg[0] ? msg : strerror(errno));
		goto cleanup;
	}
	r.http = http;
	fprintf(stderr, "nexus-agent: serving %s://%s/metrics%s\n",
		o.http.cert_pem ? "https" : "http", o.listen,
		o.http.token ? " (bearer token required)" : "");
	err = session__loop(&s, &o, tick, &r);
cleanup:
	http_server__stop(http);
	otlp__stop(otlp);
	otlp_headers__free(&otlp_headers);
	http_config__release(&o.http);
	pg_catalog__stop(r.catalog);
	session__close(&s);
	reporter__free(r.reporter); /* it holds references to snapshots of the boxes */
	snap_box__destroy(&r.redis_box);
	snap_box__destroy(&r.postgres_box);
	snap_box__destroy(&r.engine_box);
	report_store__destroy(&r.reports);
	engine__free(r.engine);
	notifier__free(r.notifier);
	free(acfg);
	pipeline__free(r.pipe);
	redis_stats__free(r.redis);
	postgres_stats__free(r.postgres);
	pg_relations__free(r.relations);
	free(r.rel_rows);
	return err ? NX_EXIT_FAIL : 0;
}
