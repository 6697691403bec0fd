// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <jansson.h>
#include "export/api.h"
#include "util.h"
#include "stats/snap_box.h"

#define TOP_PREFIXES 10
#define TOP_QUERIES 10

json_t *api__ratio(uint64_t hits, uint64_t misses)
{
	double r = nx_hit_ratio(hits, misses);

	return isnan(r) ? json_null() : json_real(r);
}

int api__dump(FILE *f, json_t *root)
{
	int err = !root || json_dumpf(root, f, JSON_COMPACT) ? -ENOMEM : 0;

	if (!err)
		fputc('\n', f);
	json_decref(root);
	return err;
}

/* p50, p95, p99 in milliseconds; null when nothing was recorded. */
static json_t *latency(const uint64_t q[LS_N_QUANTILES], uint64_t count)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "p50", count ? json_real(q[LS_P50] / 1e6) : json_null());
	json_object_set_new(o, "p95", count ? json_real(q[LS_P95] / 1e6) : json_null());
	json_object_set_new(o, "p99", count ? json_real(q[LS_P99] / 1e6) : json_null());
	return o;
}

/*
 * A command's latency as the server saw it (its read to its reply) and as its clients felt it
 * (arrival at the socket to the reply: the wait behind a busy event loop included); felt is null
 * where arrivals are not known.
 */
static json_t *command(const struct rs_cmd_snap *c)
{
	return json_pack("{s:s, s:b, s:I, s:I, s:I, s:f, s:o, s:o, s:o, s:o}", "command",
			 c->command, "blocking", c->blocking, "count", (json_int_t)c->lat.count,
			 "errors", (json_int_t)c->lat.errors, "count_window",
			 (json_int_t)c->lat.win_count, "total_ms", c->lat.sum_ns / 1e6,
			 "latency_ms_window", latency(c->lat.q_win, c->lat.win_count),
			 "latency_ms_since_start", latency(c->lat.q_total, c->lat.count),
			 "felt_ms_window", latency(c->felt.q_win, c->felt.win_count),
			 "felt_ms_since_start", latency(c->felt.q_total, c->felt.count));
}

static int by_misses(const void *a, const void *b)
{
	const struct rs_prefix_snap *x = a, *y = b;

	return x->misses < y->misses ? 1 : x->misses > y->misses ? -1 : 0;
}

/* A server's container and pod: the four fields are always there, "" for a server of the host. */
static json_t *with_container(json_t *o, const struct nx_identity *id)
{
	if (o) {
		json_object_set_new(o, "container_id", json_string(id->container_id));
		json_object_set_new(o, "pod_uid", json_string(id->pod_uid));
		json_object_set_new(o, "pod", json_string(id->pod));
		json_object_set_new(o, "namespace", json_string(id->namespace_));
	}
	return o;
}

static json_t *server(const struct rs_server_snap *sv)
{
	json_t *cmds = json_array(), *prefixes = json_array();
	struct rs_prefix_snap *sorted = NULL;
	double secs = sv->win_seconds > 0 ? sv->win_seconds : 1;

	if (!cmds || !prefixes)
		goto fail;
	for (int i = 0; i < sv->n_cmds; i++)
		if (json_array_append_new(cmds, command(&sv->cmds[i])))
			goto fail;
	sorted = malloc((sv->n_prefixes ? sv->n_prefixes : 1) * sizeof(*sorted));
	if (!sorted)
		goto fail;
	if (sv->n_prefixes) { /* a server without prefixes may have none allocated: no memcpy(NULL) */
		memcpy(sorted, sv->prefixes, sv->n_prefixes * sizeof(*sorted));
		qsort(sorted, sv->n_prefixes, sizeof(*sorted), by_misses);
	}
	for (int i = 0; i < sv->n_prefixes && i < TOP_PREFIXES; i++)
		json_array_append_new(prefixes,
				      json_pack("{s:s, s:I, s:I, s:o}", "prefix", sorted[i].prefix,
						"hits", (json_int_t)sorted[i].hits, "misses",
						(json_int_t)sorted[i].misses, "hit_ratio",
						api__ratio(sorted[i].hits, sorted[i].misses)));
	free(sorted);
	return with_container(
		json_pack("{s:s, s:i, s:f, s:f, s:{s:o, s:o}, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, "
			 "s:{s:I, s:o, s:o}}",
			 "server", sv->server, "pid", (int)sv->pid, "window_seconds", sv->win_seconds,
			 "ops_per_second", sv->win_commands / secs, "hit_ratio", "window",
			 api__ratio(sv->win_hits, sv->win_misses), "since_start",
			 api__ratio(sv->hits, sv->misses), "hits", (json_int_t)sv->hits, "misses",
			 (json_int_t)sv->misses, "commands", (json_int_t)sv->commands, "errors",
			 (json_int_t)sv->errors, "errors_window", (json_int_t)sv->win_errors,
			 "connections", (json_int_t)sv->conns, "commands_by_name", cmds,
			 "top_prefixes_by_misses", prefixes, "request_wait", "count",
			 (json_int_t)sv->wait.count, "ms_window", latency(sv->wait.q_win, sv->wait.win_count),
			 "ms_since_start", latency(sv->wait.q_total, sv->wait.count)), &sv->ident);
fail:
	json_decref(cmds);
	json_decref(prefixes);
	free(sorted);
	return NULL;
}

int api__render_cache_stats(FILE *f, const struct redis_snapshot *s)
{
	json_t *servers = json_array(), *root;
	int err = 0;

	if (!servers)
		return -ENOMEM;
	for (int i = 0; s && i < s->n_servers; i++)
		if (json_array_append_new(servers, server(&s->servers[i])))
			err = -ENOMEM;
	root = json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "servers", servers, "parser",
			 "parse_errors", (json_int_t)(s ? s->parser.parse_errors : 0), "resyncs",
			 (json_int_t)(s ? s->parser.resyncs : 0), "unpaired",
			 (json_int_t)(s ? s->parser.unpaired : 0), "pushes",
			 (json_int_t)(s ? s->parser.pushes : 0), "folded",
			 (json_int_t)(s ? s->parser.folded : 0));
	if (err) {
		json_decref(root);
		return err;
	}
	return api__dump(f, root);
}

/* Ends a JSON response: releases the snapshot it was rendered from, reports a failed render. */
static int finish(struct http_response *resp, struct snap_ref *ref, int err)
{
	snap_box__put(ref);
	resp->content_type = "application/json";
	if (err) {
		fprintf(resp->body, "out of memory\n");
		return 500;
	}
	return 200;
}

int api__finish(struct http_response *resp, struct snap_ref *ref, int err)
{
	return finish(resp, ref, err);
}

/* ISO 8601 UTC with milliseconds. */
static void iso_ms(char *out, size_t len, int64_t unix_ms)
{
	time_t secs = unix_ms / 1000;
	struct tm tm;
	char date[32];

	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03dZ", date, (int)(unix_ms % 1000));
}

static json_t *slow_entry(const struct rs_slow_entry *e)
{
	char when[40];

	iso_ms(when, sizeof(when), e->unix_ms);
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s?, s:s, s:f, s:o, s:o}", "time", when,
			 "server", e->server, "client", e->client[0] ? e->client : "local", "db",
			 e->db, "command", e->command, "key_prefix", e->prefix[0] ? e->prefix : NULL,
			 "status", e->status, "server_ms", e->server_ns / 1e6, "wait_ms",
			 e->wait_known ? json_real(e->wait_ns / 1e6) : json_null(), "felt_ms",
			 e->wait_known ? json_real((e->wait_ns + e->server_ns) / 1e6) : json_null());
}

int api__render_slow_commands(FILE *f, const struct redis_snapshot *s)
{
	json_t *list = json_array(), *root;
	int err = 0;

	if (!list)
		return -ENOMEM;
	for (int i = 0; s && i < s->n_slow; i++)
		if (json_array_append_new(list, slow_entry(&s->slow[i])))
			err = -ENOMEM;
	root = json_pack("{s:o}", "slow_commands", list);
	if (err) {
		json_decref(root);
		return err;
	}
	return api__dump(f, root);
}

int api__slow_commands(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct snap_ref *ref;
	const struct redis_snapshot *s = snap_box__get(ctx, &ref);

	return finish(resp, ref, api__render_slow_commands(resp->body, s));
}

int api__cache_stats(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct snap_ref *ref;
	const struct redis_snapshot *s = snap_box__get(ctx, &ref);

	return finish(resp, ref, api__render_cache_stats(resp->body, s));
}

/* --- PostgreSQL ------------------------------------------------------------------------------ */

/* hits / (hits + reads), null when there were none (or no USDT). */
static json_t *query(const struct ps_series_snap *q)
{
	char fp[24];
	json_t *o;

	snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)q->fingerprint);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:o, s:o, s:f}",
			 "fingerprint", fp, "query", q->text, "kind", q->kind, "database",
			 q->database, "user", q->user, "calls", (json_int_t)q->lat.count, "errors",
			 (json_int_t)q->lat.errors, "rows", (json_int_t)q->rows, "mean_ms",
			 q->lat.count ? q->lat.sum_ns / 1e6 / q->lat.count : 0.0, "p95_ms",
			 q->lat.count ? json_real(q->lat.q_total[LS_P95] / 1e6) : json_null(), "p99_ms",
			 q->lat.count ? json_real(q->lat.q_total[LS_P99] / 1e6) : json_null(),
			 "total_ms", q->lat.sum_ns / 1e6);
	if (o) {
		/* USDT figures: buffers and lock waits of the statement's own backend. */
		json_object_set_new(o, "buffer_hits", json_integer((json_int_t)q->buf_hits));
		json_object_set_new(o, "buffer_reads", json_integer((json_int_t)q->buf_reads));
		json_object_set_new(o, "buffer_hit_ratio", api__ratio(q->buf_hits, q->buf_reads));
		json_object_set_new(o, "lock_wait_ms", json_real(q->lock_wait_ns / 1e6));
		/* inside the server (USDT) beside mean_ms on the wire: the rest is network and
		 * the client's pace within the batch */
		json_object_set_new(o, "exec_mean_ms",
				    q->exec_ns && q->lat.count
					    ? json_real(q->exec_ns / 1e6 / q->lat.count)
					    : json_null());
	}
	return o;
}

static int by_p95(const void *a, const void *b)
{
	const struct ps_series_snap *x = *(const struct ps_series_snap *const *)a;
	const struct ps_series_snap *y = *(const struct ps_series_snap *const *)b;

	return x->lat.q_total[LS_P95] < y->lat.q_total[LS_P95]	 ? 1
	       : x->lat.q_total[LS_P95] > y->lat.q_total[LS_P95] ? -1
								   : 0;
}

static int by_total(const void *a, const void *b)
{
	const struct ps_series_snap *x = *(const struct ps_series_snap *const *)a;
	const struct ps_series_snap *y = *(const struct ps_series_snap *const *)b;

	return x->lat.sum_ns < y->lat.sum_ns ? 1 : x->lat.sum_ns > y->lat.sum_ns ? -1 : 0;
}

/* The TOP_QUERIES series of sv by cmp, as a JSON array. */
static json_t *top_queries(const struct ps_server_snap *sv, int (*cmp)(const void *, const void *))
{
	// NOLINTNEXTLINE(bugprone-sizeof-expression): v is an array of pointers, sorted
	const struct ps_series_snap **v = malloc((sv->n_series ? sv->n_series : 1) * sizeof(*v));
	json_t *a = json_array();

	if (!v || !a) {
		free(v);
		json_decref(a);
		return NULL;
	}
	for (int i = 0; i < sv->n_series; i++)
		v[i] = &sv->series[i];
	qsort(v, sv->n_series, sizeof(*v), cmp); // NOLINT(bugprone-sizeof-expression): pointers
	for (int i = 0; i < sv->n_series && i < TOP_QUERIES; i++)
		json_array_append_new(a, query(v[i]));
	free(v);
	return a;
}

int api__render_slow_queries(FILE *f, const struct postgres_snapshot *s)
{
	json_t *servers = json_array();

	for (int i = 0; servers && s && i < s->n_servers; i++) {
		const struct ps_server_snap *sv = &s->servers[i];

		json_array_append_new(servers, with_container(json_pack("{s:s, s:o, s:o}", "server",
									sv->server, "by_p95",
									top_queries(sv, by_p95),
									"by_total_time",
									top_queries(sv, by_total)),
							      &sv->ident));
	}
	return api__dump(f, json_pack("{s:o}", "servers", servers));
}

static bool same_identity(const struct ps_conn_snap *k, const struct ps_opened_snap *o)
{
	return !strcmp(k->database, o->database) && !strcmp(k->user, o->user) &&
	       !strcmp(k->application, o->application) && !strcmp(k->client, o->client);
}

static json_t *identity(const struct ps_server_snap *sv, const struct ps_opened_snap *o)
{
	json_t *states = json_object(), *e;
	uint64_t count = 0;

	for (int i = 0; states && i < sv->n_conns; i++) {
		const struct ps_conn_snap *k = &sv->conns[i];

		if (!k->n || !same_identity(k, o))
			continue;
		json_object_set_new(states, pg_state_names[k->state], json_integer((json_int_t)k->n));
		count += k->n;
	}
	e = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:o}", "client", o->client, "database",
		      o->database, "user", o->user, "application", o->application, "count",
		      (json_int_t)count, "states", states ? states : json_object(), "opened_total",
		      (json_int_t)o->opened, "opened_per_second",
		      o->win_seconds > 0 ? json_real(o->win_opened / o->win_seconds) : json_null());
	return e;
}

int api__render_db_connections(FILE *f, const struct postgres_snapshot *s)
{
	json_t *servers = json_array();

	for (int i = 0; servers && s && i < s->n_servers; i++) {
		const struct ps_server_snap *sv = &s->servers[i];
		json_t *conns = json_array();

		/* One entry per identity (client, database, user, application): its connections by
		 * state now, and how many it opened. */
		for (int j = 0; conns && j < sv->n_opened; j++)
			json_array_append_new(conns, identity(sv, &sv->opened[j]));
		json_array_append_new(servers, with_container(json_pack("{s:s, s:I, s:o}", "server",
									sv->server, "opened_total",
									(json_int_t)sv->conns_opened,
									"connections", conns),
							      &sv->ident));
	}
	return api__dump(f, json_pack("{s:o}", "servers", servers));
}

static json_t *per_second(uint64_t n, double seconds)
{
	return seconds > 0 ? json_real(n / seconds) : json_null();
}

static json_t *db_stats(const struct ps_server_snap *sv, const struct ps_db_snap *d)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "database", json_string(d->database));
	json_object_set_new(o, "queries_per_second", per_second(d->win_queries, d->win_seconds));
	json_object_set_new(o, "error_rate",
			    d->win_queries ? json_real((double)d->win_errors / d->win_queries)
					   : json_null());
	json_object_set_new(o, "latency_ms", latency(d->lat.q_win, d->lat.win_count));
	json_object_set_new(o, "latency_ms_since_start", latency(d->lat.q_total, d->lat.count));
	/* as clients felt it: from the request's arrival at the socket (null: not known) */
	json_object_set_new(o, "felt_ms", latency(d->felt.q_win, d->felt.win_count));
	json_object_set_new(o, "felt_ms_since_start", latency(d->felt.q_total, d->felt.count));
	json_object_set_new(o, "queries_total", json_integer((json_int_t)d->queries));
	json_object_set_new(o, "errors_total", json_integer((json_int_t)d->errors));
	if (sv->usdt) {
		json_object_set_new(o, "buffer_hit_ratio", api__ratio(d->win_hits, d->win_reads));
		json_object_set_new(o, "buffer_hit_ratio_since_start",
				    api__ratio(d->buffer_hits, d->buffer_reads));
		json_object_set_new(o, "commits_per_second",
				    per_second(d->win_commits, d->win_seconds));
		json_object_set_new(o, "rollbacks_per_second",
				    per_second(d->win_rollbacks, d->win_seconds));
		json_object_set_new(o, "lock_wait_seconds_total", json_real(d->lock_wait_ns / 1e9));
		json_object_set_new(o, "lock_waiting_backends", json_integer(d->lock_waiting));
	}
	return o;
}

int api__render_db_stats(FILE *f, const struct postgres_snapshot *s)
{
	json_t *servers = json_array();

	for (int i = 0; servers && s && i < s->n_servers; i++) {
		const struct ps_server_snap *sv = &s->servers[i];
		json_t *dbs = json_array();

		for (int j = 0; dbs && j < sv->n_dbs; j++)
			json_array_append_new(dbs, db_stats(sv, &sv->dbs[j]));
		json_array_append_new(
			servers,
			with_container(
				json_pack("{s:s, s:i, s:b, s:I, s:o, s:{s:I, s:o, s:o}}", "server",
					  sv->server, "pid", (int)sv->pid, "usdt", sv->usdt,
					  "deadlocks_total", (json_int_t)sv->deadlocks, "databases", dbs,
					  "request_wait", "count", (json_int_t)sv->wait.count,
					  "ms_window", latency(sv->wait.q_win, sv->wait.win_count),
					  "ms_since_start", latency(sv->wait.q_total, sv->wait.count)),
				&sv->ident));
	}
	return api__dump(f, json_pack("{s:o}", "servers", servers));
}

int api__serve_pg(void *ctx, struct http_response *resp,
		  int (*fn)(FILE *f, const struct postgres_snapshot *s))
{
	struct snap_ref *ref;
	const struct postgres_snapshot *s = snap_box__get(ctx, &ref);

	return finish(resp, ref, fn(resp->body, s));
}

int api__slow_queries(void *ctx, const struct http_request *req, struct http_response *resp)
{
	return api__serve_pg(ctx, resp, api__render_slow_queries);
}

int api__db_connections(void *ctx, const struct http_request *req, struct http_response *resp)
{
	return api__serve_pg(ctx, resp, api__render_db_connections);
}

int api__db_stats(void *ctx, const struct http_request *req, struct http_response *resp)
{
	return api__serve_pg(ctx, resp, api__render_db_stats);
}
