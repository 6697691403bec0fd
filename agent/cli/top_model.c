// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent top: the APIs' JSON into top_snapshot, and rates between two refreshes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "cli/top_model.h"

const char *const top_model__paths[TOP_DOC__COUNT] = {
	[TOP_DOC_HEALTH] = "/api/v1/health",
	[TOP_DOC_ALERTS] = "/api/v1/alerts",
	[TOP_DOC_CACHE] = "/api/v1/cache/stats",
	[TOP_DOC_SLOW_CMDS] = "/api/v1/cache/slow-commands",
	[TOP_DOC_DB_STATS] = "/api/v1/database/stats",
	[TOP_DOC_SLOW_QUERIES] = "/api/v1/database/slow-queries",
	[TOP_DOC_DB_CONNS] = "/api/v1/database/connections",
	[TOP_DOC_METRICS] = "/metrics",
};

/* Past these a server's lists are cut: the screen shows far fewer anyway. */
#define MAX_SERVERS 256
#define MAX_CMDS 512
#define MAX_CLIENTS 256

void top_model__init(struct top_model *m)
{
	memset(m, 0, sizeof(*m));
}

void top_snapshot__clear(struct top_snapshot *s)
{
	for (int i = 0; i < s->n_servers; i++) {
		free(s->servers[i].cmds);
		free(s->servers[i].clients);
	}
	free(s->servers);
	memset(s, 0, sizeof(*s));
}

void top_model__free(struct top_model *m)
{
	top_snapshot__clear(&m->cur);
	top_snapshot__clear(&m->prev);
}

/* --- small JSON readers: a missing or null member is NAN / 0 / "" ------------------------- */

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static double num2(json_t *o, const char *k1, const char *k2)
{
	return num(json_object_get(o, k1), k2);
}

static uint64_t count(json_t *o, const char *key)
{
	double v = num(o, key);

	return isfinite(v) && v > 0 ? (uint64_t)v : 0;
}

static void str(char *out, size_t len, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(out, len, "%s", s ? s : "");
}

/* "2026-12-06T18:24:08.181Z" -> seconds since the epoch; NAN when it is not that. */
static double parse_time(const char *s)
{
	struct tm tm = {};
	int ms = 0;
	char *end;

	if (!s || !(end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return NAN;
	if (*end == '.')
		ms = atoi(end + 1);
	return (double)timegm(&tm) + ms / 1000.0;
}

static double evaluated_at(const char *health)
{
	json_t *root = health ? json_loads(health, 0, NULL) : NULL;
	double t = parse_time(json_string_value(json_object_get(root, "evaluated_at")));

	json_decref(root);
	return t;
}

bool top_model__same_evaluation(const char *health1, const char *health2)
{
	double a = evaluated_at(health1), b = evaluated_at(health2);

	return a == b || (isnan(a) && isnan(b));
}

/* --- the mixture estimate ------------------------------------------------------------------- */

/* A part's CDF at x, linear through (0,0), (p50,.5), (p95,.95), (p99,.99), then 1 at p99. */
static double part_cdf(const struct top_mix_part *pt, double x)
{
	const double xs[] = { 0, pt->p50, pt->p95, pt->p99 }, ps[] = { 0, 0.5, 0.95, 0.99 };

	if (x >= pt->p99)
		return 1.0;
	for (int i = 1; i < 4; i++)
		if (x < xs[i])
			return xs[i] > xs[i - 1]
				       ? ps[i - 1] + (ps[i] - ps[i - 1]) * (x - xs[i - 1]) /
							     (xs[i] - xs[i - 1])
				       : ps[i];
	return 1.0;
}

static bool usable(const struct top_mix_part *pt)
{
	return pt->weight > 0 && isfinite(pt->p50) && isfinite(pt->p95) && isfinite(pt->p99) &&
	       pt->p50 >= 0 && pt->p95 >= pt->p50 && pt->p99 >= pt->p95;
}

double top_model__mix_quantile(const struct top_mix_part *parts, int n, double p)
{
	double total = 0, lo = 0, hi = 0;

	for (int i = 0; i < n; i++)
		if (usable(&parts[i])) {
			total += parts[i].weight;
			hi = fmax(hi, parts[i].p99);
		}
	if (!(total > 0))
		return NAN;
	/* The mixture's CDF is monotonic: bisect for the smallest x where it reaches p. */
	for (int it = 0; it < 60; it++) {
		double mid = (lo + hi) / 2, f = 0;

		for (int i = 0; i < n; i++)
			if (usable(&parts[i]))
				f += parts[i].weight * part_cdf(&parts[i], mid);
		if (f / total >= p)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* --- servers -------------------------------------------------------------------------------- */

static struct top_server *add_server(struct top_snapshot *s, enum top_kind kind, const char *addr)
{
	struct top_server *sv;

	if (s->n_servers >= MAX_SERVERS)
		return NULL;
	if (!(s->n_servers % 16)) {
		void *p = realloc(s->servers, (s->n_servers + 16) * sizeof(*s->servers));

		if (!p)
			return NULL;
		s->servers = p;
	}
	sv = &s->servers[s->n_servers++];
	memset(sv, 0, sizeof(*sv));
	sv->kind = kind;
	snprintf(sv->address, sizeof(sv->address), "%s", addr);
	sv->ops_per_s = sv->p50_ms = sv->p95_ms = sv->p99_ms = sv->wait_p99_ms = NAN;
	sv->error_ratio = sv->hit_ratio = sv->connections = NAN;
	return sv;
}

static struct top_server *find_server(const struct top_snapshot *s, enum top_kind kind,
				      const char *addr)
{
	for (int i = 0; s && i < s->n_servers; i++)
		if (s->servers[i].kind == kind && !strcmp(s->servers[i].address, addr))
			return &s->servers[i];
	return NULL;
}

static struct top_cmd *add_cmd(struct top_server *sv)
{
	struct top_cmd *c;

	if (sv->n_cmds >= MAX_CMDS)
		return NULL;
	if (!(sv->n_cmds % 16)) {
		void *p = realloc(sv->cmds, (sv->n_cmds + 16) * sizeof(*sv->cmds));

		if (!p)
			return NULL;
		sv->cmds = p;
	}
	c = &sv->cmds[sv->n_cmds++];
	memset(c, 0, sizeof(*c));
	c->calls_per_s = c->p95_ms = c->total_ms = c->hit_ratio = NAN;
	return c;
}

static struct top_client *add_client(struct top_server *sv)
{
	struct top_client *c;

	if (sv->n_clients >= MAX_CLIENTS)
		return NULL;
	if (!(sv->n_clients % 16)) {
		void *p = realloc(sv->clients, (sv->n_clients + 16) * sizeof(*sv->clients));

		if (!p)
			return NULL;
		sv->clients = p;
	}
	c = &sv->clients[sv->n_clients++];
	memset(c, 0, sizeof(*c));
	c->rate = c->worst_ms = NAN;
	return c;
}

static void parse_cache(struct top_snapshot *s, json_t *root)
{
	size_t i, j;
	json_t *v, *c;

	json_array_foreach(json_object_get(root, "servers"), i, v) {
		const char *addr = json_string_value(json_object_get(v, "server"));
		struct top_mix_part *parts;
		struct top_server *sv;
		json_t *cmds = json_object_get(v, "commands_by_name");
		double secs = num(v, "window_seconds"), win_cmds;
		int n = 0;

		if (!addr || !(sv = add_server(s, TOP_REDIS, addr)))
			continue;
		sv->pid = (uint32_t)count(v, "pid");
		sv->ops_total = count(v, "commands");
		sv->errors_total = count(v, "errors");
		sv->ops_per_s = num(v, "ops_per_second");
		win_cmds = sv->ops_per_s * (secs > 0 ? secs : 1);
		sv->error_ratio = win_cmds > 0 ? num(v, "errors_window") / win_cmds : NAN;
		sv->hit_ratio = num2(v, "hit_ratio", "window");
		sv->connections = num(v, "connections");
		sv->wait_p99_ms = num2(json_object_get(v, "request_wait"), "ms_window", "p99");
		parts = calloc(json_array_size(cmds) + 1, sizeof(*parts));
		json_array_foreach(cmds, j, c) {
			struct top_cmd *tc = add_cmd(sv);
			json_t *lat = json_object_get(c, "latency_ms_window");
			double wc = num(c, "count_window");

			if (!tc)
				break;
			str(tc->name, sizeof(tc->name), c, "command");
			snprintf(tc->key, sizeof(tc->key), "%s", tc->name);
			tc->calls = count(c, "count");
			tc->errors = count(c, "errors");
			tc->p95_ms = num(lat, "p95");
			tc->total_ms = num(c, "total_ms"); /* agents before top: absent */
			if (secs > 0 && isfinite(wc))
				tc->calls_per_s = wc / secs;
			/* Blocking commands wait by design: kept out of the server's latency, as
			 * the agent keeps them out of its duration histogram. */
			if (parts && !json_is_true(json_object_get(c, "blocking")))
				parts[n++] =
					(struct top_mix_part){ isfinite(wc) ? wc : 0,
							       num(lat, "p50"), num(lat, "p95"),
							       num(lat, "p99") };
		}
		sv->p50_ms = top_model__mix_quantile(parts, n, 0.50);
		sv->p95_ms = top_model__mix_quantile(parts, n, 0.95);
		sv->p99_ms = top_model__mix_quantile(parts, n, 0.99);
		free(parts);
	}
}

/* Redis clients: the peers of a server's entries in the slow-command log (newest first). */
static void parse_slow_cmds(struct top_snapshot *s, json_t *root)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(root, "slow_commands"), i, e) {
		const char *addr = json_string_value(json_object_get(e, "server"));
		struct top_server *sv = addr ? find_server(s, TOP_REDIS, addr) : NULL;
		struct top_client *c = NULL;
		char client[TOP_NAME_LEN];
		double felt = num(e, "felt_ms");

		if (!sv)
			continue;
		if (!isfinite(felt))
			felt = num(e, "server_ms");
		str(client, sizeof(client), e, "client");
		for (int k = 0; k < sv->n_clients && !c; k++)
			if (!strcmp(sv->clients[k].client, client))
				c = &sv->clients[k];
		if (!c) {
			if (!(c = add_client(sv)))
				continue;
			snprintf(c->client, sizeof(c->client), "%s", client);
			str(c->detail, sizeof(c->detail), e, "command"); /* the newest */
		}
		c->count++;
		if (isfinite(felt) && !(c->worst_ms >= felt))
			c->worst_ms = felt;
	}
}

static void parse_db_stats(struct top_snapshot *s, json_t *root)
{
	size_t i, j;
	json_t *v, *d;

	json_array_foreach(json_object_get(root, "servers"), i, v) {
		const char *addr = json_string_value(json_object_get(v, "server"));
		json_t *dbs = json_object_get(v, "databases");
		double qps = 0, errs = 0, hits = 0, hit_w = 0;
		struct top_mix_part *parts;
		struct top_server *sv;
		int n = 0;

		if (!addr || !(sv = add_server(s, TOP_POSTGRES, addr)))
			continue;
		sv->pid = (uint32_t)count(v, "pid"); /* agents before top: absent */
		sv->wait_p99_ms = num2(json_object_get(v, "request_wait"), "ms_window", "p99");
		parts = calloc(json_array_size(dbs) + 1, sizeof(*parts));
		json_array_foreach(dbs, j, d) {
			json_t *lat = json_object_get(d, "latency_ms");
			double q = num(d, "queries_per_second"), er = num(d, "error_rate");
			double hr = num(d, "buffer_hit_ratio");

			sv->ops_total += count(d, "queries_total");
			sv->errors_total += count(d, "errors_total");
			if (!isfinite(q))
				continue;
			qps += q;
			if (isfinite(er))
				errs += er * q;
			/* Databases' buffer ratios weighted by their statements: the API gives
			 * ratios, not accesses. */
			if (isfinite(hr)) {
				hits += hr * (q > 0 ? q : 1e-9);
				hit_w += q > 0 ? q : 1e-9;
			}
			if (parts)
				parts[n++] =
					(struct top_mix_part){ q, num(lat, "p50"), num(lat, "p95"),
							       num(lat, "p99") };
		}
		if (json_array_size(dbs)) {
			sv->ops_per_s = qps;
			sv->error_ratio = qps > 0 ? errs / qps : NAN;
			sv->hit_ratio = hit_w > 0 ? hits / hit_w : NAN;
		}
		sv->p50_ms = top_model__mix_quantile(parts, n, 0.50);
		sv->p95_ms = top_model__mix_quantile(parts, n, 0.95);
		sv->p99_ms = top_model__mix_quantile(parts, n, 0.99);
		free(parts);
	}
}

/* Fingerprints: the union of the top 10 by p95 and the top 10 by total time. */
static void parse_slow_queries(struct top_snapshot *s, json_t *root)
{
	static const char *const lists[] = { "by_total_time", "by_p95" };
	size_t i, j;
	json_t *v, *q;

	json_array_foreach(json_object_get(root, "servers"), i, v) {
		const char *addr = json_string_value(json_object_get(v, "server"));
		struct top_server *sv = addr ? find_server(s, TOP_POSTGRES, addr) : NULL;

		for (int l = 0; sv && l < 2; l++)
			json_array_foreach(json_object_get(v, lists[l]), j, q) {
				char key[sizeof(sv->cmds->key)], fp[32], db[TOP_NAME_LEN],
					user[TOP_NAME_LEN];
				struct top_cmd *c = NULL;

				str(fp, sizeof(fp), q, "fingerprint");
				str(db, sizeof(db), q, "database");
				str(user, sizeof(user), q, "user");
				snprintf(key, sizeof(key), "%s/%s/%s", fp, db, user);
				/* sv is not NULL: the loop over lists runs only when it is set */
				// cppcheck-suppress nullPointer
				for (int k = 0; k < sv->n_cmds && !c; k++)
					if (!strcmp(sv->cmds[k].key, key))
						c = &sv->cmds[k];
				if (c || !(c = add_cmd(sv)))
					continue;
				snprintf(c->key, sizeof(c->key), "%s", key);
				snprintf(c->database, sizeof(c->database), "%s", db);
				str(c->name, sizeof(c->name), q, "query");
				c->calls = count(q, "calls");
				c->errors = count(q, "errors");
				c->p95_ms = num(q, "p95_ms");
				c->total_ms = num(q, "total_ms");
				c->hit_ratio = num(q, "buffer_hit_ratio");
			}
	}
}

static void parse_db_conns(struct top_snapshot *s, json_t *root)
{
	size_t i, j;
	json_t *v, *e;

	json_array_foreach(json_object_get(root, "servers"), i, v) {
		const char *addr = json_string_value(json_object_get(v, "server"));
		struct top_server *sv = addr ? find_server(s, TOP_POSTGRES, addr) : NULL;
		double conns = 0;

		if (!sv)
			continue;
		json_array_foreach(json_object_get(v, "connections"), j, e) {
			struct top_client *c;
			const char *state;
			json_t *n;
			size_t off = 0;

			conns += count(e, "count");
			if (!(c = add_client(sv)))
				continue;
			str(c->client, sizeof(c->client), e, "client");
			str(c->database, sizeof(c->database), e, "database");
			str(c->user, sizeof(c->user), e, "user");
			str(c->application, sizeof(c->application), e, "application");
			c->count = count(e, "count");
			c->rate = num(e, "opened_per_second");
			json_object_foreach(json_object_get(e, "states"), state, n)
				if (off < sizeof(c->detail))
					off += snprintf(c->detail + off, sizeof(c->detail) - off,
							"%s%lld %s", off ? " " : "",
							(long long)json_integer_value(n), state);
		}
		sv->connections = conns;
	}
}

static void parse_health(struct top_snapshot *s, json_t *root)
{
	s->health =
		json_is_true(json_object_get(root, "enabled")) ? num2(root, "node", "score") : NAN;
	s->at = parse_time(json_string_value(json_object_get(root, "evaluated_at")));
	s->dated_by_agent = isfinite(s->at);
}

static void parse_alerts(struct top_snapshot *s, json_t *root)
{
	size_t i;
	json_t *a;

	json_array_foreach(json_object_get(root, "alerts"), i, a) {
		const char *state = json_string_value(json_object_get(a, "state"));
		const char *server =
			json_string_value(json_object_get(json_object_get(a, "labels"), "server"));

		if (!state || strcmp(state, "firing"))
			continue;
		s->firing++;
		for (int k = 0; server && k < s->n_servers; k++)
			if (!strcmp(s->servers[k].address, server))
				s->servers[k].firing++;
	}
}

/* The value of an unlabelled sample of name in Prometheus text; false when absent. */
static bool metric(const char *text, const char *name, double *out)
{
	size_t len = strlen(name);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, len) && (p[len] == ' ' || p[len] == '\t')) {
			char *end;

			*out = strtod(p + len + 1, &end);
			return end != p + len + 1;
		}
	return false;
}

/* --- rates between two refreshes ------------------------------------------------------------ */

static double rate(uint64_t now, uint64_t before, double dt)
{
	return now >= before && dt > 0 ? (double)(now - before) / dt : NAN;
}

static void rates(struct top_model *m, double dt)
{
	for (int i = 0; i < m->cur.n_servers; i++) {
		struct top_server *sv = &m->cur.servers[i];
		const struct top_server *old = find_server(&m->prev, sv->kind, sv->address);

		if (!old)
			continue;
		if (sv->ops_total >= old->ops_total && dt > 0) {
			uint64_t ops = sv->ops_total - old->ops_total;

			sv->ops_per_s = ops / dt;
			if (sv->errors_total >= old->errors_total)
				sv->error_ratio =
					ops ? (double)(sv->errors_total - old->errors_total) / ops
					    : 0;
		}
		for (int j = 0; j < sv->n_cmds; j++) {
			struct top_cmd *c = &sv->cmds[j];
			double r = NAN;

			for (int k = 0; k < old->n_cmds; k++)
				if (!strcmp(old->cmds[k].key, c->key)) {
					r = rate(c->calls, old->cmds[k].calls, dt);
					break;
				}
			if (isfinite(r) || sv->kind == TOP_POSTGRES)
				c->calls_per_s = r;
		}
	}
}

/* The agent has not evaluated since: its figures are those of the last refresh, so are the
 * rates. */
static void keep_rates(struct top_snapshot *cur, const struct top_snapshot *old)
{
	for (int i = 0; i < cur->n_servers; i++) {
		struct top_server *sv = &cur->servers[i];
		const struct top_server *o = find_server(old, sv->kind, sv->address);

		if (!o)
			continue;
		sv->ops_per_s = o->ops_per_s;
		sv->error_ratio = o->error_ratio;
		for (int j = 0; j < sv->n_cmds; j++)
			for (int k = 0; k < o->n_cmds; k++)
				if (!strcmp(o->cmds[k].key, sv->cmds[j].key)) {
					sv->cmds[j].calls_per_s = o->cmds[k].calls_per_s;
					break;
				}
	}
}

int top_model__update(struct top_model *m, const struct top_docs *docs, double now)
{
	static void (*const parsers[TOP_DOC__COUNT])(struct top_snapshot *, json_t *) = {
		/* servers first: the others add to them */
		[TOP_DOC_CACHE] = parse_cache,	       [TOP_DOC_DB_STATS] = parse_db_stats,
		[TOP_DOC_SLOW_CMDS] = parse_slow_cmds, [TOP_DOC_SLOW_QUERIES] = parse_slow_queries,
		[TOP_DOC_DB_CONNS] = parse_db_conns,   [TOP_DOC_HEALTH] = parse_health,
		[TOP_DOC_ALERTS] = parse_alerts,
	};
	static const enum top_doc order[] = { TOP_DOC_CACHE,	 TOP_DOC_DB_STATS,
					      TOP_DOC_SLOW_CMDS, TOP_DOC_SLOW_QUERIES,
					      TOP_DOC_DB_CONNS,	 TOP_DOC_HEALTH,
					      TOP_DOC_ALERTS };
	struct top_snapshot s = { .health = NAN, .at = NAN, .events_per_s = NAN };
	double events, lost, dt;
	int parsed = 0;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		json_t *root =
			docs->doc[order[i]] ? json_loads(docs->doc[order[i]], 0, NULL) : NULL;

		if (!json_is_object(root)) {
			json_decref(root);
			continue;
		}
		parsers[order[i]](&s, root);
		json_decref(root);
		parsed++;
	}
	if (docs->doc[TOP_DOC_METRICS] &&
	    metric(docs->doc[TOP_DOC_METRICS], "nexus_agent_events_total", &events)) {
		s.has_events = true;
		s.events_total = (uint64_t)events;
		if (metric(docs->doc[TOP_DOC_METRICS], "nexus_agent_events_lost_total", &lost))
			s.events_lost = (uint64_t)lost;
		parsed++;
	}
	if (!parsed) {
		top_snapshot__clear(&s);
		return -EINVAL;
	}
	if (!s.dated_by_agent)
		s.at = now;
	top_snapshot__clear(&m->prev);
	m->prev = m->cur;
	m->cur = s;
	m->prev_events_at = m->events_at;
	m->events_at = now;
	if (m->has_prev && s.has_events && m->prev.has_events)
		s.events_per_s = m->cur.events_per_s =
			rate(s.events_total, m->prev.events_total, now - m->prev_events_at);
	if (m->has_prev) {
		/* Both dated by the agent: the time between its two evaluations. An agent that
		 * has not evaluated since (a refresh faster than its second) leaves the rates as
		 * they were rather than show a zero. */
		dt = m->cur.at - m->prev.at;
		if (m->cur.dated_by_agent != m->prev.dated_by_agent)
			dt = NAN;
		if (dt > 0)
			rates(m, dt);
		else if (dt == 0)
			keep_rates(&m->cur, &m->prev);
	}
	m->has_prev = true;
	return 0;
}
