// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reports from synthetic snapshots: a window's figures from two snapshots of a server
 * (report_window.c), each recommendation driven by the figures that make it and kept away by the
 * figures that must not (report_recs.c), the JSON shape (report_json.c), the store and its files
 * (report_store.c) and /api/v1/report's answers (export/report_api.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "cli/opts.h"
#include "export/report_api.h"
#include "report/report.h"
#include "report/report_json.h"
#include "report/report_store.h"
#include "report/report_window.h"

/* --- synthetic snapshots ---------------------------------------------------------------------- */

static struct rs_cmd_snap cmds0[4], cmds1[4];
static struct rs_prefix_snap pre0[3], pre1[3];

static void redis_pair(struct rs_server_snap *s0, struct rs_server_snap *s1)
{
	const char *names[] = { "get", "set", "keys", "del" };

	memset(s0, 0, sizeof(*s0));
	memset(s1, 0, sizeof(*s1));
	memset(cmds0, 0, sizeof(cmds0));
	memset(cmds1, 0, sizeof(cmds1));
	memset(pre0, 0, sizeof(pre0));
	memset(pre1, 0, sizeof(pre1));
	snprintf(s0->server, sizeof(s0->server), "127.0.0.1:6379");
	snprintf(s1->server, sizeof(s1->server), "127.0.0.1:6379");
	hist__reset(&s0->total);
	hist__reset(&s1->total);
	for (int i = 0; i < 4; i++) {
		snprintf(cmds0[i].command, sizeof(cmds0[i].command), "%s", names[i]);
		snprintf(cmds1[i].command, sizeof(cmds1[i].command), "%s", names[i]);
	}
	/* before the window: 1000 gets of 100 us; in it, 500 more of 100 us and 10 of 2 ms */
	cmds0[0].lat.count = 1000;
	cmds0[0].lat.sum_ns = 1000 * 100000ULL;
	cmds1[0].lat.count = 1510;
	cmds1[0].lat.sum_ns = 1500 * 100000ULL + 10 * 2000000ULL;
	hist__record_n(&s0->total, 100000, 1000);
	hist__record_n(&s1->total, 100000, 1500);
	hist__record_n(&s1->total, 2000000, 10);
	cmds1[1].lat.count = 20;
	cmds1[1].lat.sum_ns = 20 * 50000ULL;
	s0->commands = 1000;
	s1->commands = 1530;
	s0->hits = 900, s0->misses = 100;
	s1->hits = 1300, s1->misses = 210;
	snprintf(pre0[0].prefix, sizeof(pre0[0].prefix), "user");
	snprintf(pre1[0].prefix, sizeof(pre1[0].prefix), "user");
	snprintf(pre1[1].prefix, sizeof(pre1[1].prefix), "sess");
	pre0[0].hits = 900, pre0[0].misses = 100;
	pre1[0].hits = 1300, pre1[0].misses = 100; /* user: 400 hits, no miss in the window */
	pre1[1].hits = 0, pre1[1].misses = 110;	   /* sess: new, all misses */
	s0->cmds = cmds0, s0->n_cmds = 4;
	s1->cmds = cmds1, s1->n_cmds = 4;
	s0->prefixes = pre0, s0->n_prefixes = 1;
	s1->prefixes = pre1, s1->n_prefixes = 2;
	s0->conns_opened = 10, s1->conns_opened = 12;
	s1->conns = 5;
	s1->max_conns = 0; /* unknown: Redis's default */
}

static int n_recs(const struct rp_server *sv, const char *subject, struct rp_rec *found)
{
	struct rp_rec recs[RP_MAX_RECS];
	int n = 0, k = 0;

	rp_recs__server(sv, recs, &n, RP_MAX_RECS);
	for (int i = 0; i < n; i++)
		if (!strncmp(recs[i].subject, subject, strlen(subject))) {
			if (found)
				*found = recs[i];
			k++;
		}
	return k;
}

static double evidence(const struct rp_rec *r, const char *key)
{
	for (int i = 0; i < r->n_evidence; i++)
		if (!strcmp(r->evidence[i].key, key))
			return r->evidence[i].num;
	return NAN;
}

/* --- the window ------------------------------------------------------------------------------- */

static void test_redis_window(void **state)
{
	struct rs_server_snap s0, s1;
	struct rp_server *sv = calloc(1, sizeof(*sv));

	redis_pair(&s0, &s1);
	assert_int_equal(rp_window__redis(sv, &s0, &s1, 0, 60), 0);
	assert_string_equal(sv->kind, "redis");
	assert_int_equal(sv->cur.requests, 530);
	assert_int_equal(sv->cur.hits, 400);
	assert_int_equal(sv->cur.misses, 110);
	assert_int_equal(sv->cur.opened, 2);
	assert_true(sv->cur.limit == 10000); /* the default when the configuration is unknown */
	/* the window's latency: 500 at 100 us and 10 at 2 ms (<= 1/128 relative error) */
	assert_true(fabs(sv->cur.p50_s - 100e-6) < 1e-6);
	assert_true(fabs(sv->cur.p99_s - 2e-3) < 2e-3 / 64);
	/* top by total time: get (500 x 0.1 + 10 x 2 ms = 70 ms), then set */
	assert_int_equal(sv->n_top, 2); /* keys and del did not run */
	assert_string_equal(sv->top[0].name, "get");
	assert_int_equal(sv->top[0].count, 510);
	assert_true(fabs(sv->top[0].total_s - 0.070) < 1e-9);
	/* prefixes by misses: sess first */
	assert_int_equal(sv->n_prefixes, 2);
	assert_string_equal(sv->prefixes[0].prefix, "sess");
	assert_int_equal(sv->prefixes[0].misses, 110);
	assert_int_equal(sv->prefixes[1].hits, 400);
	/* a restarted server (counters went back): the window counts from zero */
	s0.commands = 5000;
	assert_int_equal(rp_window__redis(sv, &s0, &s1, 0, 60), 0);
	assert_int_equal(sv->cur.requests, 1530);
	free(sv);
}

static struct ps_series_snap series0[2], series1[2];
static struct ps_db_snap dbs0[1], dbs1[1];
static struct ps_conn_snap conns1[2];

static void pg_pair(struct ps_server_snap *s0, struct ps_server_snap *s1)
{
	memset(s0, 0, sizeof(*s0));
	memset(s1, 0, sizeof(*s1));
	memset(series0, 0, sizeof(series0));
	memset(series1, 0, sizeof(series1));
	memset(dbs0, 0, sizeof(dbs0));
	memset(dbs1, 0, sizeof(dbs1));
	memset(conns1, 0, sizeof(conns1));
	snprintf(s0->server, sizeof(s0->server), "127.0.0.1:5432");
	snprintf(s1->server, sizeof(s1->server), "127.0.0.1:5432");
	for (int i = 0; i < 2; i++) {
		struct ps_series_snap *a = &series0[i], *b = &series1[i];

		snprintf(a->database, sizeof(a->database), "app");
		snprintf(b->database, sizeof(b->database), "app");
		a->fingerprint = b->fingerprint = 100 + i;
		snprintf(b->text, sizeof(b->text), i ? "SELECT * FROM orders WHERE id = $1"
						   : "SELECT * FROM events WHERE day = $1");
		snprintf(a->text, sizeof(a->text), "%s", b->text);
	}
	/* events: 10 calls, 9 s, 5000 buffer accesses of which 40 % hits (a scan); orders: 1000
	 * calls, 1 s, all hits */
	series1[0].lat.count = 10, series1[0].lat.sum_ns = 9000000000ULL;
	series1[0].buf_hits = 2000, series1[0].buf_reads = 3000;
	series0[1].lat.count = 500, series0[1].lat.sum_ns = 500000000ULL;
	series1[1].lat.count = 1500, series1[1].lat.sum_ns = 1500000000ULL;
	series1[1].buf_hits = 4000;
	snprintf(dbs0[0].database, sizeof(dbs0[0].database), "app");
	snprintf(dbs1[0].database, sizeof(dbs1[0].database), "app");
	hist__reset(&dbs0[0].total);
	hist__reset(&dbs1[0].total);
	hist__record_n(&dbs1[0].total, 1000000, 1000);
	dbs1[0].buffer_hits = 6000, dbs1[0].buffer_reads = 3000;
	s0->queries = 500, s1->queries = 1510;
	s0->series = series0, s0->n_series = 2;
	s1->series = series1, s1->n_series = 2;
	s0->dbs = dbs0, s0->n_dbs = 1;
	s1->dbs = dbs1, s1->n_dbs = 1;
	conns1[0].state = PG_STATE_IDLE, conns1[0].n = 8;
	conns1[1].state = PG_STATE_IDLE_IN_TXN, conns1[1].n = 2;
	s1->conns = conns1, s1->n_conns = 2;
	s1->max_conns = 200;
}

static void test_pg_window_and_json(void **state)
{
	struct ps_server_snap s0, s1;
	struct report r = { .generated_at_ms = 1765051200000LL, .window_start_ms = 1765051140000LL,
			    .window_seconds = 60, .node = { 90, 80, 85 } };
	struct rp_server *sv = calloc(1, sizeof(*sv));
	json_t *root, *jsv, *top;

	pg_pair(&s0, &s1);
	assert_int_equal(rp_window__pg(sv, &s0, &s1, 60), 0);
	assert_int_equal(sv->cur.requests, 1010);
	assert_int_equal(sv->cur.hits, 6000);
	assert_int_equal(sv->cur.misses, 3000);
	assert_true(sv->cur.conns == 10 && sv->cur.idle_in_txn == 2 && sv->cur.limit == 200);
	assert_int_equal(sv->n_top, 2);
	assert_string_equal(sv->top[0].name, "SELECT * FROM events WHERE day = $1");
	assert_int_equal(sv->top[1].count, 1000);
	r.servers = sv;
	r.n_servers = 1;
	rp_recs__all(&r);
	root = report__json(&r);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
	assert_string_equal(json_string_value(json_object_get(root, "generated_at")),
			    "2025-12-06T20:00:00Z");
	jsv = json_array_get(json_object_get(root, "servers"), 0);
	assert_non_null(jsv);
	assert_string_equal(json_string_value(json_object_get(jsv, "kind")), "postgres");
	top = json_array_get(json_object_get(jsv, "top"), 0);
	assert_non_null(top);
	assert_true(fabs(json_number_value(json_object_get(top, "share")) - 0.9) < 1e-9);
	assert_true(json_array_size(json_object_get(root, "recommendations")) > 0);
	json_decref(root);
	free(sv);
}

/* --- each recommendation: made by its figures, not made without them ------------------------- */

static struct rp_server *blank(const char *kind)
{
	struct rp_server *sv = calloc(1, sizeof(*sv));

	snprintf(sv->server, sizeof(sv->server), "127.0.0.1:1");
	snprintf(sv->kind, sizeof(sv->kind), "%s", kind);
	sv->cur = (struct rp_figures){ .seconds = 900, .p50_s = NAN, .p95_s = NAN, .p99_s = NAN,
				       .conns = 5, .conns_max = 5, .conns_mean = 5, .limit = 100,
				       .idle_in_txn = 0, .idle_in_txn_mean = 0, .rss_bytes = NAN,
				       .maxmemory = NAN };
	sv->health = (struct rp_health){ NAN, NAN, NAN };
	return sv;
}

static void add_prefix(struct rp_server *sv, const char *p, uint64_t hits, uint64_t misses,
		       double prev_ratio, uint64_t prev_lookups)
{
	struct rp_prefix *x = &sv->prefixes[sv->n_prefixes++];

	snprintf(x->prefix, sizeof(x->prefix), "%s", p);
	x->hits = hits;
	x->misses = misses;
	x->prev_ratio = prev_ratio;
	x->prev_lookups = prev_lookups;
}

static void test_rec_prefixes(void **state)
{
	struct rp_server *sv = blank("redis");
	struct rp_rec r;

	add_prefix(sv, "sess", 30, 270, NAN, 0);      /* low: 10 % */
	add_prefix(sv, "user", 990, 10, NAN, 0);      /* fine */
	add_prefix(sv, "cart", 5, 45, NAN, 0);	      /* low but only 50 lookups: no finding */
	add_prefix(sv, "feed", 700, 300, 0.98, 1000); /* 70 %, was 98 %: falling */
	add_prefix(sv, "tags", 850, 150, 0.90, 1000); /* 85 %, was 90 %: a small move, no */
	add_prefix(sv, "(other)", 0, 500, NAN, 0);    /* an aggregate, not a prefix */
	assert_int_equal(n_recs(sv, "key prefix sess", &r), 1);
	assert_int_equal(r.severity, RP_WARNING);
	assert_true(evidence(&r, "hits") == 30 && evidence(&r, "misses") == 270);
	assert_true(fabs(evidence(&r, "hit_ratio") - 0.1) < 1e-12);
	assert_int_equal(n_recs(sv, "key prefix feed", &r), 1);
	assert_true(evidence(&r, "previous_hit_ratio") == 0.98);
	assert_int_equal(n_recs(sv, "key prefix user", NULL), 0);
	assert_int_equal(n_recs(sv, "key prefix cart", NULL), 0);
	assert_int_equal(n_recs(sv, "key prefix tags", NULL), 0);
	assert_int_equal(n_recs(sv, "key prefix (other)", NULL), 0);
	free(sv);
}

static void add_top(struct rp_server *sv, const char *name, uint64_t count, double total_s,
		    uint64_t slow)
{
	struct rp_top *t = &sv->top[sv->n_top++];

	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->database, sizeof(t->database), "app");
	t->count = count;
	t->total_s = total_s;
	t->slow = slow;
}

static void add_stall(struct rp_server *sv, const char *cmd, double dur_s, uint32_t waiters)
{
	struct rp_stall *s = &sv->stalls[sv->n_stalls++];

	snprintf(s->command, sizeof(s->command), "%s", cmd);
	s->dur_s = dur_s;
	s->waiters = waiters;
}

static void test_rec_commands(void **state)
{
	struct rp_server *sv = blank("redis");
	struct rp_rec r;

	/* only fast GETs and DELs: nothing to say */
	add_top(sv, "get", 100000, 5, 0);
	add_top(sv, "del", 1000, 0.05, 0);
	assert_int_equal(n_recs(sv, "command", NULL), 0);
	/* KEYS that stalled the server: SCAN; a big DEL: UNLINK; a slow script */
	add_top(sv, "keys", 4, 0.4, 2);
	add_stall(sv, "keys", 0.12, 40);
	add_stall(sv, "keys", 0.09, 10);
	add_stall(sv, "del", 0.25, 70);
	add_stall(sv, "eval", 0.5, 3);
	add_stall(sv, "get", 0.02, 0); /* a GET that lost its CPU, holding nobody: no finding */
	add_stall(sv, "hgetall", 0.03, 5); /* 30 ms: under the 50 ms that makes one */
	assert_int_equal(n_recs(sv, "command KEYS", &r), 1);
	assert_int_equal(r.severity, RP_WARNING);
	assert_true(evidence(&r, "count") == 4 && evidence(&r, "stalls") == 2);
	assert_true(fabs(evidence(&r, "longest_stall_ms") - 120) < 1e-9);
	assert_true(evidence(&r, "requests_held") == 50);
	assert_non_null(strstr(r.advice, "SCAN"));
	assert_int_equal(n_recs(sv, "command DEL", &r), 1);
	assert_non_null(strstr(r.advice, "UNLINK"));
	assert_true(fabs(evidence(&r, "longest_stall_ms") - 250) < 1e-9);
	assert_int_equal(n_recs(sv, "command eval", &r), 1);
	assert_int_equal(n_recs(sv, "command get", NULL), 0);
	assert_int_equal(n_recs(sv, "command hgetall", NULL), 0);
	free(sv);
	/* KEYS on a tiny keyspace, no stall: still worth knowing, as info */
	sv = blank("redis");
	add_top(sv, "keys", 2, 0.0001, 0);
	assert_int_equal(n_recs(sv, "command KEYS", &r), 1);
	assert_int_equal(r.severity, RP_INFO);
	free(sv);
}

static void add_stmt(struct rp_server *sv, const char *text, uint64_t count, double total_s,
		     uint64_t hits, uint64_t reads)
{
	add_top(sv, text, count, total_s, 0);
	sv->top[sv->n_top - 1].buf_hits = hits;
	sv->top[sv->n_top - 1].buf_reads = reads;
}

static void test_rec_statements(void **state)
{
	struct rp_server *sv = blank("postgres");
	struct rp_rec r;

	add_stmt(sv, "SELECT scan", 10, 6, 2000, 8000);	  /* 20 % hits, 60 % of the time */
	add_stmt(sv, "SELECT point", 10000, 3, 40000, 0); /* all hits */
	add_stmt(sv, "SELECT few", 5, 1, 10, 90);	  /* low ratio but 100 accesses: no */
	assert_int_equal(n_recs(sv, "statement SELECT scan", NULL), 2); /* ratio and share */
	assert_int_equal(n_recs(sv, "statement SELECT point", NULL), 0);
	assert_int_equal(n_recs(sv, "statement SELECT few", NULL), 0);
	/* the share: 6 of 10 s */
	{
		struct rp_rec recs[RP_MAX_RECS];
		int n = 0, shares = 0;

		rp_recs__server(sv, recs, &n, RP_MAX_RECS);
		for (int i = 0; i < n; i++)
			if (!isnan(evidence(&recs[i], "share"))) {
				shares++;
				assert_true(fabs(evidence(&recs[i], "share") - 0.6) < 1e-12);
			}
		assert_int_equal(shares, 1);
	}
	free(sv);
	/* one statement alone is all of the time by definition: not a finding; nor 0.4 s in all */
	sv = blank("postgres");
	add_stmt(sv, "SELECT only", 100, 50, 100, 0);
	assert_int_equal(n_recs(sv, "statement", NULL), 0);
	free(sv);
	sv = blank("postgres");
	add_stmt(sv, "SELECT a", 100, 0.3, 100, 0);
	add_stmt(sv, "SELECT b", 100, 0.1, 100, 0);
	assert_int_equal(n_recs(sv, "statement", &r), 0);
	free(sv);
}

static void test_rec_indexes(void **state)
{
	struct rp_server *sv = blank("postgres");
	struct rp_index start[3] = { 0 }, end[3] = { 0 };
	struct rp_rec r;

	for (int i = 0; i < 3; i++) {
		snprintf(end[i].database, RP_NAME_LEN, "app");
		snprintf(end[i].schema, RP_NAME_LEN, "public");
		snprintf(end[i].table, RP_NAME_LEN, "orders");
		snprintf(end[i].kind, sizeof(end[i].kind), "index");
		end[i].watched_s = 7200;
	}
	snprintf(end[0].name, RP_NAME_LEN, "orders_pkey");
	end[0].hits = 5000, end[0].reads = 10, end[0].accessed_ever = true;
	snprintf(end[1].name, RP_NAME_LEN, "orders_legacy_idx"); /* never read in 2 h */
	snprintf(end[2].name, RP_NAME_LEN, "orders_new_idx");	 /* never read, watched 10 min */
	end[2].watched_s = 600;
	start[0] = end[0];
	start[0].hits = 4000, start[0].reads = 10;
	rp_window__indexes(sv, start, 1, end, 3);
	assert_int_equal(sv->n_indexes, 3);
	assert_string_equal(sv->indexes[0].name, "orders_pkey");
	assert_int_equal(sv->indexes[0].hits, 1000); /* the window's */
	assert_int_equal(sv->indexes[0].reads, 0);
	assert_int_equal(n_recs(sv, "index public.orders_legacy_idx", &r), 1);
	assert_int_equal(r.severity, RP_INFO);
	assert_int_equal(n_recs(sv, "index public.orders_pkey", NULL), 0);
	assert_int_equal(n_recs(sv, "index public.orders_new_idx", NULL), 0);
	free(sv);
}

static void test_rec_idle_in_txn(void **state)
{
	struct rp_server *sv = blank("postgres");
	struct rp_rec r;

	/* a blip (2 now, 0.2 on average): no */
	sv->cur.idle_in_txn = 2;
	sv->cur.idle_in_txn_mean = 0.2;
	assert_int_equal(n_recs(sv, "connections idle in transaction", NULL), 0);
	sv->cur.idle_in_txn_mean = 1.5;
	assert_int_equal(n_recs(sv, "connections idle in transaction", &r), 1);
	assert_true(evidence(&r, "idle_in_transaction_mean") == 1.5);
	assert_true(evidence(&r, "idle_in_transaction_now") == 2);
	free(sv);
}

static void test_rec_churn(void **state)
{
	struct rp_server *sv = blank("postgres");
	struct rp_rec r;

	/* a pool: 5 connections, 20 opened in 15 min */
	sv->cur.opened = 20;
	assert_int_equal(n_recs(sv, "connection churn", NULL), 0);
	/* many opened, but as many are open (a big pool rotating): 0.9/s, under 1/s */
	sv->cur.opened = 810;
	assert_int_equal(n_recs(sv, "connection churn", NULL), 0);
	/* 5 open, 9000 opened in 900 s: 10/s, each lives 0.5 s */
	sv->cur.opened = 9000;
	assert_int_equal(n_recs(sv, "connection churn", &r), 1);
	assert_true(evidence(&r, "opened_per_s") == 10);
	assert_true(fabs(evidence(&r, "mean_lifetime_s") - 0.5) < 1e-12);
	assert_non_null(strstr(r.advice, "PgBouncer"));
	/* 10/s with 200 open on average: a pool turning over, not churn */
	sv->cur.conns_mean = 200;
	assert_int_equal(n_recs(sv, "connection churn", NULL), 0);
	free(sv);
}

static void test_rec_near_limit(void **state)
{
	struct rp_server *sv = blank("postgres");
	struct rp_rec r;

	sv->cur.conns_max = 79; /* of 100 */
	assert_int_equal(n_recs(sv, "connections", &r), 0);
	sv->cur.conns_max = 85;
	assert_int_equal(n_recs(sv, "connections", &r), 1);
	assert_int_equal(r.severity, RP_WARNING);
	assert_true(evidence(&r, "limit") == 100 && evidence(&r, "connections_max") == 85);
	sv->cur.conns_max = 97;
	assert_int_equal(n_recs(sv, "connections", &r), 1);
	assert_int_equal(r.severity, RP_CRITICAL);
	free(sv);
}

static void test_rec_memory_and_capacity(void **state)
{
	struct rp_server *sv = blank("redis");
	struct rp_rec r;

	sv->cur.rss_bytes = 80 << 20;
	sv->cur.maxmemory = 100 << 20;
	assert_int_equal(n_recs(sv, "memory", NULL), 0);
	sv->cur.rss_bytes = 95 << 20;
	assert_int_equal(n_recs(sv, "memory", &r), 1);
	/* capacity: a trend that reaches the limit in 2 h; one that never does; one in 3 days */
	sv->has_cap = true;
	for (int i = 0; i < CAP__COUNT; i++)
		sv->cap[i] = (struct cap_fit){ .n = 100, .value = 10, .limit = 100, .slope = 0,
					       .z = 0, .ttl_s = INFINITY };
	sv->cap[CAP_CONNECTIONS].ttl_s = 7200;
	sv->cap[CAP_CONNECTIONS].slope = 0.01;
	sv->cap[CAP_MEMORY].ttl_s = 3 * 86400;
	sv->cap[CAP_TRAFFIC].limit = 0; /* no limit: never a prediction */
	sv->cap[CAP_TRAFFIC].ttl_s = 10;
	assert_int_equal(n_recs(sv, "capacity: connections", &r), 1);
	assert_int_equal(r.severity, RP_WARNING);
	assert_true(evidence(&r, "time_to_limit_s") == 7200);
	assert_int_equal(n_recs(sv, "capacity: memory", NULL), 0);
	assert_int_equal(n_recs(sv, "capacity: traffic", NULL), 0);
	sv->cap[CAP_CONNECTIONS].ttl_s = 600;
	assert_int_equal(n_recs(sv, "capacity: connections", &r), 1);
	assert_int_equal(r.severity, RP_CRITICAL);
	free(sv);
}

/* A quiet, healthy server gets no recommendation at all. */
static void test_rec_none(void **state)
{
	struct rp_server *r = blank("redis"), *p = blank("postgres");
	struct rp_rec recs[RP_MAX_RECS];
	int n = 0;

	add_prefix(r, "user", 9900, 100, 0.99, 10000);
	add_top(r, "get", 10000, 1, 0);
	add_stmt(p, "SELECT a", 1000, 2, 10000, 10);
	add_stmt(p, "SELECT b", 1000, 2, 10000, 10);
	rp_recs__server(r, recs, &n, RP_MAX_RECS);
	rp_recs__server(p, recs, &n, RP_MAX_RECS);
	assert_int_equal(n, 0);
	free(r);
	free(p);
}

/* --- store, files, API ------------------------------------------------------------------------ */

static int count_files(const char *dir, int *tmp)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	*tmp = 0;
	while (d && (e = readdir(d))) {
		if (!strncmp(e->d_name, "report-", 7))
			n++;
		if (strstr(e->d_name, ".tmp"))
			(*tmp)++;
	}
	if (d)
		closedir(d);
	return n;
}

static void test_store_and_api(void **state)
{
	char dir[] = "/tmp/nx-test-report-XXXXXX", *s, path[256];
	struct report_store st;
	struct http_response resp = { 0 };
	char *body = NULL;
	size_t len = 0;
	int count, tmp;

	assert_non_null(mkdtemp(dir));
	report_store__init(&st, dir);
	/* before the first report: 404 with a JSON error */
	resp.body = open_memstream(&body, &len);
	assert_int_equal(report_api__render(&st, NULL, &resp), 404);
	fclose(resp.body);
	assert_true(resp.json_error);
	assert_non_null(strstr(body, "\"error\""));
	free(body);
	/* a foreign file in the directory is never touched */
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	fclose(fopen(path, "w"));
	for (int i = 0; i < REPORT_KEEP + 5; i++) {
		char json[64];

		snprintf(json, sizeof(json), "{\"version\":1,\"i\":%d}", i);
		assert_int_equal(report_store__add(&st, strdup(json), 1765051200000LL + i * 1000), 0);
	}
	assert_int_equal(count_files(dir, &tmp), REPORT_KEEP);
	assert_int_equal(tmp, 0);
	assert_int_equal(access(path, F_OK), 0);
	s = report_store__get(&st, 0, &count);
	assert_int_equal(count, REPORT_KEEP);
	assert_string_equal(s, "{\"version\":1,\"i\":100}");
	free(s);
	s = report_store__get(&st, 2, &count);
	assert_string_equal(s, "{\"version\":1,\"i\":98}");
	free(s);
	assert_null(report_store__get(&st, REPORT_KEEP, &count));
	/* the API: ?n=1 the one before, bad n 400, past the end 404 */
	body = NULL;
	resp = (struct http_response){ .body = open_memstream(&body, &len) };
	assert_int_equal(report_api__render(&st, "1", &resp), 200);
	fclose(resp.body);
	assert_non_null(strstr(body, "\"i\":99"));
	free(body);
	const char *bad[] = { "x", "-1", "", "1.5", "96", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		body = NULL;
		resp = (struct http_response){ .body = open_memstream(&body, &len) };
		assert_int_equal(report_api__render(&st, bad[i], &resp), 400);
		fclose(resp.body);
		assert_non_null(strstr(body, "\"error\""));
		free(body);
	}
	report_store__destroy(&st);
	/* a directory that went away: the report is kept in memory, the error returned */
	report_store__init(&st, "/nonexistent-nx-dir");
	assert_true(report_store__add(&st, strdup("{}"), 0) < 0);
	s = report_store__get(&st, 0, &count);
	assert_string_equal(s, "{}");
	free(s);
	report_store__destroy(&st);
	assert_int_equal(system("rm -rf /tmp/nx-test-report-*"), 0);
}

/* --report-interval and report's options (cli/opts.c) */
static void test_options(void **state)
{
	const char *ok[] = { "30s", "15m", "1h", "90", "1.5s", "2min", "1000ms" };
	const double want[] = { 30, 900, 3600, 90, 1.5, 120, 1 };
	const char *bad[] = { "", "0", "0.5s", "-3s", "8d", "10x", "s", "700000" };
	char *run_argv[] = { "run", "--report-interval", "45s", "--report-dir", "/tmp" };
	char *rep_argv[] = { "report", "--connect", "127.0.0.1:1", "--format", "markdown" };
	struct nx_opts o;
	uint64_t ns;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(opts__parse_interval(ok[i], &ns), 0);
		assert_true(fabs(ns / 1e9 - want[i]) < 1e-9);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(opts__parse_interval(bad[i], &ns), 0);
	assert_int_equal(opts__parse(NX_CMD_RUN, 5, run_argv, &o), 0);
	assert_true(o.report_interval_ns == 45000000000ULL);
	assert_string_equal(o.report_dir, "/tmp");
	assert_int_equal(opts__parse(NX_CMD_REPORT, 5, rep_argv, &o), 0);
	assert_int_equal(o.report_format, NX_REPORT_MARKDOWN);
	assert_string_equal(o.top_connect, "127.0.0.1:1");
	/* the default: 15 minutes */
	assert_int_equal(opts__parse(NX_CMD_RUN, 1, run_argv, &o), 0);
	assert_true(o.report_interval_ns == 900000000000ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redis_window),
		cmocka_unit_test(test_pg_window_and_json),
		cmocka_unit_test(test_rec_prefixes),
		cmocka_unit_test(test_rec_commands),
		cmocka_unit_test(test_rec_statements),
		cmocka_unit_test(test_rec_indexes),
		cmocka_unit_test(test_rec_idle_in_txn),
		cmocka_unit_test(test_rec_churn),
		cmocka_unit_test(test_rec_near_limit),
		cmocka_unit_test(test_rec_memory_and_capacity),
		cmocka_unit_test(test_rec_none),
		cmocka_unit_test(test_store_and_api),
		cmocka_unit_test(test_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
