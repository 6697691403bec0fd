// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A report as JSON (the /api/v1/report shape: version 1; fields may be added, never renamed).
 * Times are RFC 3339 UTC, durations in seconds or milliseconds as the key says; a figure that
 * was not measured is null.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "util.h"
#include "report/report_json.h"

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *rfc3339(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[40];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *health(const struct rp_health *h)
{
	return json_pack("{s:o, s:o, s:o}", "now", num(h->now), "min", num(h->min), "mean",
			 num(h->mean));
}

static json_t *fired(const struct rp_fired *f, int n)
{
	json_t *a = json_array();

	for (int i = 0; a && i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:i}", "alertname", f[i].alertname,
						   "severity", f[i].severity, "count", f[i].count));
	return a;
}

static double rate(uint64_t n, double seconds)
{
	return seconds > 0 ? n / seconds : NAN;
}

static double err_ratio(const struct rp_figures *f)
{
	return f->requests ? (double)f->errors / f->requests : NAN;
}

/* {"now", "before", "change"}: change is now / before - 1 (null when before is 0 or unknown) */
static json_t *change(double now, double before, bool has_prev)
{
	double ch = has_prev && isfinite(before) && before != 0 && isfinite(now)
			    ? now / before - 1
			    : NAN;

	return json_pack("{s:o, s:o, s:o}", "now", num(now), "before",
			 num(has_prev ? before : NAN), "change", num(ch));
}

static json_t *figures(const struct rp_figures *f, bool redis)
{
	return json_pack("{s:I, s:o, s:I, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, "
			 "s:o, s:o, s:o, s:o}",
			 "requests", (json_int_t)f->requests, "requests_per_s",
			 num(rate(f->requests, f->seconds)), "errors", (json_int_t)f->errors,
			 "error_ratio", num(err_ratio(f)), "hits", (json_int_t)f->hits, "misses",
			 (json_int_t)f->misses, "hit_ratio", num(nx_hit_ratio(f->hits, f->misses)),
			 "p50_ms", num(f->p50_s * 1e3), "p95_ms", num(f->p95_s * 1e3), "p99_ms",
			 num(f->p99_s * 1e3), "connections_opened", (json_int_t)f->opened,
			 "connections", num(f->conns), "connections_max", num(f->conns_max),
			 "connections_limit", num(f->limit), "idle_in_transaction",
			 num(redis ? NAN : f->idle_in_txn), "idle_in_transaction_mean",
			 num(redis ? NAN : f->idle_in_txn_mean), "rss_bytes", num(f->rss_bytes),
			 "maxmemory_bytes", num(f->maxmemory));
}

static json_t *changes(const struct rp_server *sv)
{
	const struct rp_figures *c = &sv->cur, *p = &sv->prev;
	bool hp = sv->has_prev;

	return json_pack(
		"{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "requests_per_s",
		change(rate(c->requests, c->seconds), rate(p->requests, p->seconds), hp), "errors",
		change((double)c->errors, (double)p->errors, hp), "error_ratio",
		change(err_ratio(c), err_ratio(p), hp), "hit_ratio",
		change(nx_hit_ratio(c->hits, c->misses), nx_hit_ratio(p->hits, p->misses), hp), "p50_ms",
		change(c->p50_s * 1e3, p->p50_s * 1e3, hp), "p95_ms",
		change(c->p95_s * 1e3, p->p95_s * 1e3, hp), "p99_ms",
		change(c->p99_s * 1e3, p->p99_s * 1e3, hp));
}

static json_t *top(const struct rp_server *sv, bool redis)
{
	json_t *a = json_array();
	double all = 0;

	for (int i = 0; i < sv->n_top; i++)
		all += sv->top[i].total_s;
	for (int i = 0; a && i < sv->n_top && i < RP_SHOW; i++) {
		const struct rp_top *t = &sv->top[i];
		json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:o, s:o}", redis ? "command" : "query",
				      t->name, "count", (json_int_t)t->count, "errors",
				      (json_int_t)t->errors, "total_ms", t->total_s * 1e3,
				      "mean_ms", num(t->count ? t->total_s * 1e3 / t->count : NAN),
				      "share", num(all > 0 ? t->total_s / all : NAN));

		if (!o)
			continue;
		if (!redis) {
			json_object_set_new(o, "database", json_string(t->database));
			json_object_set_new(o, "buffer_hits", json_integer((json_int_t)t->buf_hits));
			json_object_set_new(o, "buffer_reads",
					    json_integer((json_int_t)t->buf_reads));
			json_object_set_new(o, "buffer_hit_ratio",
					    num(nx_hit_ratio(t->buf_hits, t->buf_reads)));
		} else {
			json_object_set_new(o, "slow", json_integer((json_int_t)t->slow));
		}
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *prefixes(const struct rp_server *sv)
{
	json_t *a = json_array();

	for (int i = 0; a && i < sv->n_prefixes && i < RP_SHOW; i++) {
		const struct rp_prefix *p = &sv->prefixes[i];

		json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:o, s:o}", "prefix", p->prefix,
						   "hits", (json_int_t)p->hits, "misses",
						   (json_int_t)p->misses, "hit_ratio",
						   num(nx_hit_ratio(p->hits, p->misses)),
						   "previous_hit_ratio", num(p->prev_ratio)));
	}
	return a;
}

static json_t *indexes(const struct rp_server *sv)
{
	json_t *a = json_array();

	for (int i = 0; a && i < sv->n_indexes && i < RP_SHOW; i++) {
		const struct rp_index *x = &sv->indexes[i];

		json_array_append_new(
			a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:b}", "database",
				     x->database, "schema", x->schema, "table", x->table, "index",
				     x->name, "kind", x->kind, "hits", (json_int_t)x->hits, "reads",
				     (json_int_t)x->reads, "hit_ratio", num(nx_hit_ratio(x->hits, x->reads)),
				     "accessed_ever", x->accessed_ever));
	}
	return a;
}

static json_t *stalls(const struct rp_server *sv)
{
	json_t *a = json_array();

	for (int i = 0; a && i < sv->n_stalls; i++) {
		const struct rp_stall *s = &sv->stalls[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:f, s:i}", "command", s->command,
						   "client", s->client, "duration_ms", s->dur_s * 1e3,
						   "requests_held", (int)s->waiters));
	}
	return a;
}

static json_t *capacity(const struct rp_server *sv)
{
	json_t *a = json_array();

	for (int i = 0; a && sv->has_cap && i < CAP__COUNT; i++) {
		const struct cap_fit *c = &sv->cap[i];

		if (isnan(c->value))
			continue;
		json_array_append_new(
			a, json_pack("{s:s, s:o, s:o, s:o, s:o, s:i, s:o, s:b}", "resource",
				     cap_resource__str(i), "value", num(c->value), "limit",
				     num(c->limit > 0 ? c->limit : NAN), "slope_per_hour",
				     num(c->slope * 3600), "time_to_limit_s",
				     num(c->limit > 0 ? c->ttl_s : NAN), "points", c->n,
				     "mann_kendall_z", num(c->z), "rising", c->rising));
	}
	return a;
}

static json_t *server(const struct rp_server *sv)
{
	bool redis = !strcmp(sv->kind, "redis");

	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "server",
			 sv->server, "kind", sv->kind, "health", health(&sv->health),
			 "alerts_fired", fired(sv->fired, sv->n_fired), "figures",
			 figures(&sv->cur, redis), "previous",
			 sv->has_prev ? figures(&sv->prev, redis) : json_null(), "changes",
			 changes(sv), "top", top(sv, redis), "prefixes_by_misses",
			 redis ? prefixes(sv) : json_array(), "indexes",
			 redis ? json_array() : indexes(sv), "stalls", stalls(sv), "capacity",
			 capacity(sv));
}

/* Counts as integers, the rest as reals. */
static json_t *evnum(double v)
{
	return isfinite(v) && fabs(v) < 9e15 && v == (double)(json_int_t)v
		       ? json_integer((json_int_t)v)
		       : num(v);
}

static json_t *rec(const struct rp_rec *r)
{
	json_t *ev = json_object();

	for (int i = 0; ev && i < r->n_evidence; i++)
		json_object_set_new(ev, r->evidence[i].key,
				    r->evidence[i].str[0] ? json_string(r->evidence[i].str)
							  : evnum(r->evidence[i].num));
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "severity",
			 rp_severity__str(r->severity), "server", r->server, "subject", r->subject,
			 "finding", r->finding, "evidence", ev, "advice", r->advice);
}

json_t *report__json(const struct report *r)
{
	json_t *servers = json_array(), *recs = json_array(), *root;

	for (int i = 0; servers && i < r->n_servers; i++)
		json_array_append_new(servers, server(&r->servers[i]));
	for (int i = 0; recs && i < r->n_recs; i++)
		json_array_append_new(recs, rec(&r->recs[i]));
	root = json_pack("{s:i, s:o, s:o, s:f, s:{s:o, s:o}, s:o, s:o}", "version", 1,
			 "generated_at", rfc3339(r->generated_at_ms), "window_start",
			 rfc3339(r->window_start_ms), "window_seconds", r->window_seconds, "node",
			 "health", health(&r->node), "alerts_fired",
			 fired(r->node_fired, r->n_node_fired), "servers", servers,
			 "recommendations", recs);
	return root;
}

char *report__dumps(const struct report *r)
{
	json_t *root = report__json(r);
	char *s = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(root);
	return s;
}
