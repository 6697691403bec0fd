// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Recommendations: each one is a finding in one server's window, with the measured figures that
 * make it (evidence) and what to do. The thresholds are here, one #define each; a finding below
 * its threshold, or on too few events to mean anything, is not made.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "report/report.h"

/* Key prefixes */
#define PREFIX_MIN_LOOKUPS   100  /* in the window (and in the one before, for a fall) */
#define PREFIX_LOW_RATIO     0.5  /* more misses than hits */
#define PREFIX_FALL	     0.2  /* the hit ratio fell this much against the window before */
/* Other commands that held the event loop (the stall log records >= 10 ms of the server's
 * time): worth a finding when one held others' requests this long. On a busy host a GET can
 * take 15 ms because the server lost its CPU; that held nobody and is not the command's doing. */
#define STALL_MIN_S	     0.05
/* PostgreSQL statements */
#define STMT_MIN_ACCESSES    1000 /* buffer accesses of the statement in the window */
#define STMT_LOW_RATIO	     0.90
#define STMT_SHARE	     0.50 /* more than this of the time of all statements */
#define STMT_SHARE_MIN_S     1.0  /* ... when they took at least this long in all */
#define UNUSED_MIN_WATCH_S   3600 /* an index not touched for an hour of watching */
#define IDLE_TXN_MEAN	     1.0  /* sessions idle in a transaction, on average over the window */
/* Connections */
#define CHURN_MIN_PER_S	     1.0  /* opened per second ... */
#define CHURN_MAX_LIFE_S     10.0 /* ... living this long on average (open / opened per s) */
#define NEAR_LIMIT	     0.80 /* of the limit at the window's peak */
#define NEAR_LIMIT_CRIT	     0.95
#define MEM_NEAR_LIMIT	     0.90 /* resident memory against maxmemory */
#define CAP_HORIZON_S	     (24 * 3600.0) /* trends that reach a limit within a day */

static const char *const sev_names[] = { "info", "warning", "critical" };

const char *rp_severity__str(enum rp_severity s)
{
	return (unsigned)s <= RP_CRITICAL ? sev_names[s] : "info";
}

/* A new recommendation (NULL when the list is full); the caller adds evidence. */
static struct rp_rec *rec(const struct rp_server *sv, struct rp_rec *out, int *n, int max,
			  enum rp_severity sev, const char *subject, const char *advice,
			  const char *fmt, ...)
{
	struct rp_rec *r;
	va_list ap;

	if (*n >= max)
		return NULL;
	r = &out[(*n)++];
	memset(r, 0, sizeof(*r));
	r->severity = sev;
	snprintf(r->server, sizeof(r->server), "%s", sv->server);
	snprintf(r->subject, sizeof(r->subject), "%s", subject);
	snprintf(r->advice, sizeof(r->advice), "%s", advice);
	va_start(ap, fmt);
	vsnprintf(r->finding, sizeof(r->finding), fmt, ap);
	va_end(ap);
	return r;
}

static void ev_num(struct rp_rec *r, const char *key, double v)
{
	if (!r || r->n_evidence >= RP_MAX_EVIDENCE)
		return;
	r->evidence[r->n_evidence].key = key;
	r->evidence[r->n_evidence].num = v;
	r->evidence[r->n_evidence].str[0] = '\0';
	r->n_evidence++;
}

static void ev_str(struct rp_rec *r, const char *key, const char *v)
{
	if (!r || r->n_evidence >= RP_MAX_EVIDENCE)
		return;
	r->evidence[r->n_evidence].key = key;
	snprintf(r->evidence[r->n_evidence].str, sizeof(r->evidence[0].str), "%s", v);
	r->n_evidence++;
}

/* --- Redis ------------------------------------------------------------------------------------ */

static void prefixes(const struct rp_server *sv, struct rp_rec *out, int *n, int max)
{
	for (int i = 0; i < sv->n_prefixes; i++) {
		const struct rp_prefix *p = &sv->prefixes[i];
		uint64_t lookups = p->hits + p->misses;
		double hr = nx_hit_ratio(p->hits, p->misses);
		bool low, fell;
		char subject[RP_TEXT_LEN];
		struct rp_rec *r;

		if (lookups < PREFIX_MIN_LOOKUPS || !strcmp(p->prefix, "(other)"))
			continue;
		low = hr < PREFIX_LOW_RATIO;
		fell = !isnan(p->prev_ratio) && p->prev_lookups >= PREFIX_MIN_LOOKUPS &&
		       p->prev_ratio - hr >= PREFIX_FALL;
		if (!low && !fell)
			continue;
		snprintf(subject, sizeof(subject), "key prefix %s", p->prefix);
		r = rec(sv, out, n, max, RP_WARNING, subject,
			"Check that these keys are written (or warmed) before they are read, that "
			"their TTL is not shorter than the time between reads, and that eviction "
			"(maxmemory-policy) is not removing them; a cache-aside client should store "
			"the value on a miss.",
			low ? "keys under %s were found in %.0f%% of %llu lookups%s"
			    : "the hit ratio of keys under %s fell to %.0f%% of %llu lookups%s",
			p->prefix, 100 * hr, (unsigned long long)lookups,
			fell ? " (the window before: higher)" : "");
		ev_str(r, "prefix", p->prefix);
		ev_num(r, "hits", (double)p->hits);
		ev_num(r, "misses", (double)p->misses);
		ev_num(r, "hit_ratio", hr);
		if (!isnan(p->prev_ratio)) {
			ev_num(r, "previous_hit_ratio", p->prev_ratio);
			ev_num(r, "previous_lookups", (double)p->prev_lookups);
		}
	}
}

static const struct rp_top *find_top(const struct rp_server *sv, const char *name)
{
	for (int i = 0; i < sv->n_top; i++)
		if (!strcmp(sv->top[i].name, name))
			return &sv->top[i];
	return NULL;
}

/* The stalls of one command in the window: how many, the longest, the requests held up. */
static int stalls_of(const struct rp_server *sv, const char *cmd, double *longest,
		     uint64_t *waiters)
{
	int k = 0;

	*longest = 0;
	*waiters = 0;
	for (int i = 0; i < sv->n_stalls; i++) {
		if (strcmp(sv->stalls[i].command, cmd))
			continue;
		k++;
		*waiters += sv->stalls[i].waiters;
		if (sv->stalls[i].dur_s > *longest)
			*longest = sv->stalls[i].dur_s;
	}
	return k;
}

static const char *stall_advice(const char *cmd)
{
	if (!strcmp(cmd, "eval") || !strcmp(cmd, "evalsha") || !strcmp(cmd, "fcall"))
		return "A script runs alone on the server: keep scripts short, or move the "
		       "work to the client in batches.";
	if (!strcmp(cmd, "flushall") || !strcmp(cmd, "flushdb"))
		return "Use FLUSHALL ASYNC / FLUSHDB ASYNC (or lazyfree-lazy-user-flush yes).";
	if (!strcmp(cmd, "hgetall") || !strcmp(cmd, "smembers") || !strcmp(cmd, "lrange") ||
	    !strcmp(cmd, "zrange") || !strcmp(cmd, "sunion") || !strcmp(cmd, "sinter"))
		return "The collection is large: read it in pages (HSCAN, SSCAN, ZSCAN, LRANGE "
		       "with bounds) or split the key.";
	return "One command held the single-threaded server while every other client waited: "
	       "find its caller (GET /api/v1/cache/slow-commands names the client) and make the "
	       "work smaller.";
}

static void commands(const struct rp_server *sv, struct rp_rec *out, int *n, int max)
{
	const struct rp_top *keys = find_top(sv, "keys"), *del = find_top(sv, "del");
	double longest;
	uint64_t waiters;
	int k;

	if (keys && keys->count) {
		struct rp_rec *r;

		k = stalls_of(sv, "keys", &longest, &waiters);
		r = rec(sv, out, n, max, k || keys->slow ? RP_WARNING : RP_INFO, "command KEYS",
			"Use SCAN with MATCH and COUNT: it walks the keyspace in small steps "
			"between other clients' commands.",
			"KEYS ran %llu times (%.1f ms in all); it walks the whole keyspace while "
			"every other client waits%s",
			(unsigned long long)keys->count, keys->total_s * 1e3,
			k ? ", and held the event loop in this window" : "");
		ev_num(r, "count", (double)keys->count);
		ev_num(r, "total_ms", keys->total_s * 1e3);
		ev_num(r, "mean_ms", keys->total_s * 1e3 / keys->count);
		ev_num(r, "stalls", k);
		if (k) {
			ev_num(r, "longest_stall_ms", longest * 1e3);
			ev_num(r, "requests_held", (double)waiters);
		}
		ev_num(r, "slow_log_entries", (double)keys->slow);
	}
	k = stalls_of(sv, "del", &longest, &waiters);
	if (del && (k || del->slow)) {
		struct rp_rec *r = rec(
			sv, out, n, max, RP_WARNING, "command DEL",
			"Use UNLINK for large keys (or lazyfree-lazy-user-del yes): the memory is freed "
			"in a background thread instead of inside the command.",
			"DEL of large keys blocked the server: %d stall(s), the longest %.1f ms, %llu "
			"command(s) into the slow log",
			k, longest * 1e3, (unsigned long long)del->slow);

		ev_num(r, "count", (double)del->count);
		ev_num(r, "stalls", k);
		ev_num(r, "longest_stall_ms", longest * 1e3);
		ev_num(r, "requests_held", (double)waiters);
		ev_num(r, "slow_log_entries", (double)del->slow);
	}
	/* every other command that held the event loop, once each */
	for (int i = 0; i < sv->n_stalls; i++) {
		const char *cmd = sv->stalls[i].command;
		char subject[RP_TEXT_LEN];
		struct rp_rec *r;
		bool seen = false;

		if (!strcmp(cmd, "keys") || !strcmp(cmd, "del"))
			continue;
		for (int j = 0; j < i && !seen; j++)
			seen = !strcmp(sv->stalls[j].command, cmd);
		if (seen)
			continue;
		k = stalls_of(sv, cmd, &longest, &waiters);
		if (!waiters || longest < STALL_MIN_S)
			continue;
		snprintf(subject, sizeof(subject), "command %s", cmd);
		r = rec(sv, out, n, max, RP_WARNING, subject, stall_advice(cmd),
			"%s held the event loop %d time(s), the longest %.1f ms, while %llu "
			"requests of other clients waited",
			cmd, k, longest * 1e3, (unsigned long long)waiters);
		ev_num(r, "stalls", k);
		ev_num(r, "longest_stall_ms", longest * 1e3);
		ev_num(r, "requests_held", (double)waiters);
	}
}

static void memory(const struct rp_server *sv, struct rp_rec *out, int *n, int max)
{
	const struct rp_figures *f = &sv->cur;
	struct rp_rec *r;

	if (isnan(f->rss_bytes) || isnan(f->maxmemory) || f->maxmemory <= 0 ||
	    f->rss_bytes < MEM_NEAR_LIMIT * f->maxmemory)
		return;
	r = rec(sv, out, n, max, RP_WARNING, "memory",
		"Set a maxmemory-policy that evicts (allkeys-lru for a cache), give keys a TTL, or "
		"raise maxmemory; resident memory above used memory is fragmentation "
		"(activedefrag).",
		"resident memory is %.0f%% of maxmemory (%.1f of %.1f MiB)",
		100 * f->rss_bytes / f->maxmemory, f->rss_bytes / 1048576, f->maxmemory / 1048576);
	ev_num(r, "rss_bytes", f->rss_bytes);
	ev_num(r, "maxmemory_bytes", f->maxmemory);
}

/* --- PostgreSQL ------------------------------------------------------------------------------- */

static void statements(const struct rp_server *sv, struct rp_rec *out, int *n, int max)
{
	double all = 0;

	for (int i = 0; i < sv->n_top; i++)
		all += sv->top[i].total_s;
	for (int i = 0; i < sv->n_top; i++) {
		const struct rp_top *t = &sv->top[i];
		uint64_t acc = t->buf_hits + t->buf_reads;
		double hr = nx_hit_ratio(t->buf_hits, t->buf_reads), share = all > 0 ? t->total_s / all : 0;
		char subject[RP_TEXT_LEN];
		struct rp_rec *r;

		snprintf(subject, sizeof(subject), "statement %.200s", t->name);
		if (acc >= STMT_MIN_ACCESSES && hr < STMT_LOW_RATIO) {
			r = rec(sv, out, n, max, RP_WARNING, subject,
				"Most of its pages come from disk or the OS cache: check its plan "
				"(EXPLAIN (ANALYZE, BUFFERS)) for a sequential scan an index would "
				"avoid; if its working set is simply large, shared_buffers may be "
				"too small.",
				"found %.0f%% of %llu buffer accesses in shared buffers (database %s)",
				100 * hr, (unsigned long long)acc, t->database);
			ev_str(r, "database", t->database);
			ev_num(r, "calls", (double)t->count);
			ev_num(r, "buffer_hits", (double)t->buf_hits);
			ev_num(r, "buffer_reads", (double)t->buf_reads);
			ev_num(r, "buffer_hit_ratio", hr);
		}
		if (sv->n_top >= 2 && all >= STMT_SHARE_MIN_S && share > STMT_SHARE) {
			r = rec(sv, out, n, max, RP_INFO, subject,
				"Optimise this statement first: it is where the server's time goes "
				"(EXPLAIN ANALYZE it; fewer calls, a better index, or a cache).",
				"takes %.0f%% of the time of all statements (%.2f s of %.2f s, %llu "
				"calls)",
				100 * share, t->total_s, all, (unsigned long long)t->count);
			ev_str(r, "database", t->database);
			ev_num(r, "calls", (double)t->count);
			ev_num(r, "total_s", t->total_s);
			ev_num(r, "all_statements_s", all);
			ev_num(r, "share", share);
		}
	}
}

static void indexes(const struct rp_server *sv, struct rp_rec *out, int *n, int max)
{
	for (int i = 0; i < sv->n_indexes; i++) {
		const struct rp_index *x = &sv->indexes[i];
		char subject[RP_TEXT_LEN];
		struct rp_rec *r;

		if (strcmp(x->kind, "index") || x->accessed_ever || x->watched_s < UNUSED_MIN_WATCH_S)
			continue;
		snprintf(subject, sizeof(subject), "index %s.%s", x->schema, x->name);
		r = rec(sv, out, n, max, RP_INFO, subject,
			"An index nobody reads still costs every write to its table and space: if no "
			"rare job (a monthly report) needs it, drop it (DROP INDEX CONCURRENTLY).",
			"index %s.%s on %s (database %s) was not read once in %.1f h of watching",
			x->schema, x->name, x->table, x->database, x->watched_s / 3600);
		ev_str(r, "database", x->database);
		ev_str(r, "table", x->table);
		ev_num(r, "watched_s", x->watched_s);
		ev_num(r, "accesses", 0);
	}
}

static void idle_in_txn(const struct rp_server *sv, struct rp_rec *out, int *n, int max)
{
	const struct rp_figures *f = &sv->cur;
	struct rp_rec *r;

	if (isnan(f->idle_in_txn_mean) || f->idle_in_txn_mean < IDLE_TXN_MEAN)
		return;
	r = rec(sv, out, n, max, RP_WARNING, "connections idle in transaction",
		"A session that opened a transaction and waits holds its locks and keeps vacuum "
		"from removing dead rows: find the application (GET /api/v1/database/connections) "
		"and commit sooner; set idle_in_transaction_session_timeout as a guard.",
		"%.1f sessions were idle in a transaction on average over the window (%.0f now)",
		f->idle_in_txn_mean, f->idle_in_txn);
	ev_num(r, "idle_in_transaction_mean", f->idle_in_txn_mean);
	ev_num(r, "idle_in_transaction_now", f->idle_in_txn);
}

/* --- both ------------------------------------------------------------------------------------- */

static void churn(const struct rp_server *sv, struct rp_rec *out, int *n, int max)
{
	const struct rp_figures *f = &sv->cur;
	double per_s = f->seconds > 0 ? f->opened / f->seconds : 0;
	double live = isnan(f->conns_mean) ? 0 : f->conns_mean;
	bool redis = !strcmp(sv->kind, "redis");
	struct rp_rec *r;

	/* Little's law: connections open on average = opened per second x their mean lifetime */
	if (per_s < CHURN_MIN_PER_S || live / per_s >= CHURN_MAX_LIFE_S)
		return;
	r = rec(sv, out, n, max, RP_WARNING, "connection churn",
		redis ? "Keep connections open and reuse them (a client-side pool): each new "
			"connection costs the server an accept, a handshake and memory."
		      : "Put a pooler (PgBouncer, or the driver's pool) between the clients and the "
			"server: each new connection forks a backend.",
		"clients opened %.1f connections per second (%llu in the window) while %.1f were "
		"open on average: each lived about %.2f s",
		per_s, (unsigned long long)f->opened, live, live / per_s);
	ev_num(r, "opened", (double)f->opened);
	ev_num(r, "opened_per_s", per_s);
	ev_num(r, "open_mean", live);
	ev_num(r, "mean_lifetime_s", live / per_s);
}

static void near_limit(const struct rp_server *sv, struct rp_rec *out, int *n, int max)
{
	const struct rp_figures *f = &sv->cur;
	bool redis = !strcmp(sv->kind, "redis");
	double share;
	struct rp_rec *r;

	if (isnan(f->conns_max) || isnan(f->limit) || f->limit <= 0)
		return;
	share = f->conns_max / f->limit;
	if (share < NEAR_LIMIT)
		return;
	r = rec(sv, out, n, max, share >= NEAR_LIMIT_CRIT ? RP_CRITICAL : RP_WARNING,
		"connections",
		redis ? "Look for leaked connections (CLIENT LIST, by age and idle time) and pool "
			"sizes, or raise maxclients."
		      : "Look for leaked connections and oversized pools; a pooler in transaction "
			"mode serves many clients with few backends. Raise max_connections only "
			"with the memory for it.",
		"connections peaked at %.0f of the %s of %.0f (%.0f%%)", f->conns_max,
		redis ? "maxclients" : "max_connections", f->limit, 100 * share);
	ev_num(r, "connections_max", f->conns_max);
	ev_num(r, "connections_now", f->conns);
	ev_num(r, "limit", f->limit);
	ev_num(r, "share", share);
}

static void capacity(const struct rp_server *sv, struct rp_rec *out, int *n, int max)
{
	for (int i = 0; sv->has_cap && i < CAP__COUNT; i++) {
		const struct cap_fit *c = &sv->cap[i];
		char subject[RP_TEXT_LEN];
		bool mem = i == CAP_MEMORY;
		double unit = mem ? 1048576 : 1;
		struct rp_rec *r;

		if (!(c->limit > 0) || !isfinite(c->ttl_s) || c->ttl_s >= CAP_HORIZON_S)
			continue;
		snprintf(subject, sizeof(subject), "capacity: %s", cap_resource__str(i));
		r = rec(sv, out, n, max,
			c->ttl_s < 1800	       ? RP_CRITICAL
			: c->ttl_s < 4 * 3600 ? RP_WARNING
					       : RP_INFO,
			subject,
			mem ? "Find what grows (keys without TTL, big keys: redis-cli --bigkeys) "
			      "before it reaches maxmemory, or raise it."
			    : "Find what opens connections without closing them, or raise the limit "
			      "before the trend reaches it.",
			"%s grows %.3g%s per hour and reaches the limit of %.4g%s in %.1f h at this "
			"trend",
			cap_resource__str(i), c->slope * 3600 / unit, mem ? " MiB" : "",
			c->limit / unit, mem ? " MiB" : "", c->ttl_s / 3600);
		ev_num(r, "value", c->value);
		ev_num(r, "limit", c->limit);
		ev_num(r, "slope_per_hour", c->slope * 3600);
		ev_num(r, "time_to_limit_s", c->ttl_s);
		ev_num(r, "points", c->n);
		ev_num(r, "mann_kendall_z", c->z);
	}
}

void rp_recs__server(const struct rp_server *sv, struct rp_rec *out, int *n, int max)
{
	if (!strcmp(sv->kind, "redis")) {
		prefixes(sv, out, n, max);
		commands(sv, out, n, max);
		memory(sv, out, n, max);
	} else {
		statements(sv, out, n, max);
		indexes(sv, out, n, max);
		idle_in_txn(sv, out, n, max);
	}
	churn(sv, out, n, max);
	near_limit(sv, out, n, max);
	capacity(sv, out, n, max);
}

static int by_severity(const void *a, const void *b)
{
	const struct rp_rec *x = a, *y = b;

	if (x->severity != y->severity)
		return (int)y->severity - (int)x->severity;
	return strcmp(x->server, y->server);
}

void rp_recs__all(struct report *r)
{
	r->n_recs = 0;
	for (int i = 0; i < r->n_servers; i++)
		rp_recs__server(&r->servers[i], r->recs, &r->n_recs, RP_MAX_RECS);
	/* stable enough: servers in order within a severity */
	qsort(r->recs, r->n_recs, sizeof(r->recs[0]), by_severity);
}
