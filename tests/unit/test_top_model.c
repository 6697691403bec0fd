// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * nexus-agent top's model and tables: fixture API documents (the shapes agent/export/api.c and
 * alert_api.c write) read twice a second apart, the rates between them, the mixture estimate of
 * a server's percentiles, filtering and sorting, the 80-column lines and the --batch text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "alert/engine.h"
#include "cli/top_batch.h"
#include "cli/top_model.h"
#include "cli/top_view.h"
#include "export/alert_api.h"
#include "export/api.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"

/* --- fixtures: one refresh at second `sec` after 18:00:00, with counters given ------------- */

struct fx {
	char doc[TOP_DOC__COUNT][4096];
	struct top_docs docs;
};

static const char health_fmt[] =
	"{\"enabled\":true,\"evaluated_at\":\"2026-12-06T18:00:%02d.500Z\",\"node\":{\"score\":"
	"91.5},\"servers\":[{\"server\":\"127.0.0.1:6379\",\"kind\":\"redis\",\"score\":88.0,"
	"\"parts\":{}}]}";

static const char alerts_doc[] =
	"{\"enabled\":true,\"evaluated_at\":\"2026-12-06T18:00:01.500Z\",\"alerts\":["
	"{\"name\":\"redis_hit_ratio_low\",\"severity\":\"warning\",\"state\":\"firing\","
	"\"labels\":{\"alertname\":\"redis_hit_ratio_low\",\"server\":\"127.0.0.1:6379\","
	"\"kind\":\"redis\"}},"
	"{\"name\":\"latency_anomaly\",\"severity\":\"warning\",\"state\":\"pending\","
	"\"labels\":{\"server\":\"127.0.0.1:5432\"}},"
	"{\"name\":\"events_lost\",\"severity\":\"warning\",\"state\":\"firing\","
	"\"labels\":{\"kind\":\"agent\"}}],"
	"\"counts\":{\"pending\":1,\"firing\":2,\"resolved\":0}}";

/* get: count %llu; set: count; blpop: blocking, slow */
static const char cache_fmt[] =
	"{\"servers\":[{\"server\":\"127.0.0.1:6379\",\"pid\":4242,\"window_seconds\":60.0,"
	"\"ops_per_second\":50.0,\"hit_ratio\":{\"window\":0.75,\"since_start\":0.8},"
	"\"hits\":30,\"misses\":10,\"commands\":%llu,\"errors\":%llu,\"errors_window\":30,"
	"\"connections\":7,\"commands_by_name\":["
	"{\"command\":\"get\",\"blocking\":false,\"count\":%llu,\"errors\":0,\"count_window\":"
	"2400,\"total_ms\":120.5,\"latency_ms_window\":{\"p50\":0.05,\"p95\":0.2,\"p99\":1.0},"
	"\"latency_ms_since_start\":{\"p50\":0.05,\"p95\":0.2,\"p99\":1.0},"
	"\"felt_ms_window\":{\"p50\":null,\"p95\":null,\"p99\":null},"
	"\"felt_ms_since_start\":{\"p50\":null,\"p95\":null,\"p99\":null}},"
	"{\"command\":\"set\",\"blocking\":false,\"count\":%llu,\"errors\":%llu,\"count_window\":"
	"600,\"latency_ms_window\":{\"p50\":0.05,\"p95\":0.2,\"p99\":1.0}},"
	"{\"command\":\"blpop\",\"blocking\":true,\"count\":3,\"errors\":0,\"count_window\":3,"
	"\"latency_ms_window\":{\"p50\":900,\"p95\":1000,\"p99\":1000}}],"
	"\"top_prefixes_by_misses\":[],"
	"\"request_wait\":{\"count\":100,\"ms_window\":{\"p50\":0.01,\"p95\":0.1,\"p99\":2.5},"
	"\"ms_since_start\":{\"p50\":0.01,\"p95\":0.1,\"p99\":2.5}}}],"
	"\"parser\":{\"parse_errors\":0,\"resyncs\":0,\"unpaired\":0,\"pushes\":0,\"folded\":0}}";

static const char slow_cmds_doc[] =
	"{\"slow_commands\":["
	"{\"time\":\"2026-12-06T18:00:01.100Z\",\"server\":\"127.0.0.1:6379\",\"client\":"
	"\"127.0.0.1:41474\",\"db\":0,\"command\":\"get\",\"status\":\"ok\",\"server_ms\":0.04,"
	"\"wait_ms\":249.2,\"felt_ms\":249.24},"
	"{\"time\":\"2026-12-06T18:00:01.000Z\",\"server\":\"127.0.0.1:6379\",\"client\":"
	"\"127.0.0.1:41490\",\"db\":0,\"command\":\"debug sleep\",\"status\":\"ok\",\"server_ms\":"
	"300.3,\"wait_ms\":null,\"felt_ms\":null},"
	"{\"time\":\"2026-12-06T18:00:00.900Z\",\"server\":\"127.0.0.1:6379\",\"client\":"
	"\"127.0.0.1:41474\",\"db\":0,\"command\":\"keys\",\"status\":\"ok\",\"server_ms\":20.0,"
	"\"wait_ms\":0.01,\"felt_ms\":20.01},"
	"{\"time\":\"2026-12-06T18:00:00.800Z\",\"server\":\"10.0.0.9:6380\",\"client\":"
	"\"10.0.0.1:5000\",\"db\":0,\"command\":\"get\",\"status\":\"ok\",\"server_ms\":20.0,"
	"\"wait_ms\":0.01,\"felt_ms\":20.01}]}";

/* two databases: app (queries %llu) and postgres */
static const char db_stats_fmt[] =
	"{\"servers\":[{\"server\":\"127.0.0.1:5432\",\"pid\":777,\"usdt\":true,"
	"\"deadlocks_total\":0,\"databases\":["
	"{\"database\":\"app\",\"queries_per_second\":30.0,\"error_rate\":0.0,"
	"\"latency_ms\":{\"p50\":1.0,\"p95\":4.0,\"p99\":8.0},\"queries_total\":%llu,"
	"\"errors_total\":%llu,\"buffer_hit_ratio\":0.99},"
	"{\"database\":\"postgres\",\"queries_per_second\":10.0,\"error_rate\":0.1,"
	"\"latency_ms\":{\"p50\":1.0,\"p95\":4.0,\"p99\":8.0},\"queries_total\":100,"
	"\"errors_total\":10,\"buffer_hit_ratio\":0.95}],"
	"\"request_wait\":{\"count\":5,\"ms_window\":{\"p50\":0.02,\"p95\":0.3,\"p99\":0.9},"
	"\"ms_since_start\":{\"p50\":0.02,\"p95\":0.3,\"p99\":0.9}}}]}";

/* the same fingerprint in both lists (counted once), another only by p95 */
static const char slow_queries_fmt[] =
	"{\"servers\":[{\"server\":\"127.0.0.1:5432\",\"by_p95\":["
	"{\"fingerprint\":\"00000000000000aa\",\"query\":\"select pg_sleep($1)\",\"kind\":"
	"\"simple\",\"database\":\"app\",\"user\":\"bob\",\"calls\":2,\"errors\":0,\"rows\":2,"
	"\"mean_ms\":500.0,\"p95_ms\":510.0,\"p99_ms\":510.0,\"total_ms\":1000.0,"
	"\"buffer_hits\":0,\"buffer_reads\":0,\"buffer_hit_ratio\":null},"
	"{\"fingerprint\":\"00000000000000bb\",\"query\":\"select * from t where id = $1\","
	"\"kind\":\"extended\",\"database\":\"app\",\"user\":\"bob\",\"calls\":%llu,"
	"\"errors\":1,\"rows\":90,\"mean_ms\":0.5,\"p95_ms\":0.9,\"p99_ms\":1.2,\"total_ms\":"
	"45.0,\"buffer_hits\":99,\"buffer_reads\":1,\"buffer_hit_ratio\":0.99}],"
	"\"by_total_time\":["
	"{\"fingerprint\":\"00000000000000aa\",\"query\":\"select pg_sleep($1)\",\"kind\":"
	"\"simple\",\"database\":\"app\",\"user\":\"bob\",\"calls\":2,\"errors\":0,\"rows\":2,"
	"\"mean_ms\":500.0,\"p95_ms\":510.0,\"p99_ms\":510.0,\"total_ms\":1000.0,"
	"\"buffer_hit_ratio\":null}]}]}";

static const char db_conns_doc[] =
	"{\"servers\":[{\"server\":\"127.0.0.1:5432\",\"opened_total\":12,\"connections\":["
	"{\"client\":\"127.0.0.1\",\"database\":\"app\",\"user\":\"bob\",\"application\":"
	"\"pgbench\",\"count\":3,\"states\":{\"idle\":2,\"active\":1},\"opened_total\":10,"
	"\"opened_per_second\":0.5},"
	"{\"client\":\"[local]\",\"database\":\"postgres\",\"user\":\"postgres\",\"application\":"
	"\"psql\",\"count\":1,\"states\":{\"idle\":1},\"opened_total\":2,"
	"\"opened_per_second\":null}]}]}";

static const char metrics_fmt[] =
	"# HELP nexus_agent_events_total Events.\n# TYPE nexus_agent_events_total counter\n"
	"nexus_agent_events_total %llu\n"
	"nexus_agent_events_lost_total_extra 99\n"
	"nexus_agent_events_lost_total 4\n";

/* Counters at step k: Redis 100 commands per second (80 get, 20 set, 2 errors), PostgreSQL
 * 40 queries per second in app (4 errors), fingerprint bb 10 calls per second, events 1000/s. */
static void fixture(struct fx *f, int sec, int k)
{
	unsigned long long r = 1000 + 100ULL * k;

	snprintf(f->doc[TOP_DOC_HEALTH], 4096, health_fmt, sec);
	snprintf(f->doc[TOP_DOC_ALERTS], 4096, "%s", alerts_doc);
	snprintf(f->doc[TOP_DOC_CACHE], 4096, cache_fmt, r, 10 + 2ULL * k, 800 + 80ULL * k,
		 200 + 20ULL * k, 10 + 2ULL * k);
	snprintf(f->doc[TOP_DOC_SLOW_CMDS], 4096, "%s", slow_cmds_doc);
	snprintf(f->doc[TOP_DOC_DB_STATS], 4096, db_stats_fmt, 400 + 40ULL * k, 4ULL * k);
	snprintf(f->doc[TOP_DOC_SLOW_QUERIES], 4096, slow_queries_fmt, 90 + 10ULL * k);
	snprintf(f->doc[TOP_DOC_DB_CONNS], 4096, "%s", db_conns_doc);
	snprintf(f->doc[TOP_DOC_METRICS], 4096, metrics_fmt, 5000 + 1000ULL * k);
	for (int i = 0; i < TOP_DOC__COUNT; i++)
		f->docs.doc[i] = f->doc[i];
}

static const struct top_server *server(const struct top_snapshot *s, const char *addr)
{
	for (int i = 0; i < s->n_servers; i++)
		if (!strcmp(s->servers[i].address, addr))
			return &s->servers[i];
	return NULL;
}

static const struct top_cmd *cmd(const struct top_server *sv, const char *name)
{
	for (int i = 0; i < sv->n_cmds; i++)
		if (!strcmp(sv->cmds[i].name, name))
			return &sv->cmds[i];
	return NULL;
}

/* --- tests ---------------------------------------------------------------------------------- */

static void test_mix_quantile(void **state)
{
	struct top_mix_part one = { 10, 1, 5, 9 }, two[] = { { 10, 1, 5, 9 }, { 30, 1, 5, 9 } };
	struct top_mix_part split[] = { { 90, 1, 1, 1 }, { 10, 100, 100, 100 } };
	struct top_mix_part none[] = { { 0, 1, 2, 3 }, { 5, NAN, NAN, NAN } };

	/* one part: its own quantiles */
	assert_float_equal(top_model__mix_quantile(&one, 1, 0.50), 1, 1e-6);
	assert_float_equal(top_model__mix_quantile(&one, 1, 0.95), 5, 1e-6);
	assert_float_equal(top_model__mix_quantile(&one, 1, 0.99), 9, 1e-6);
	/* like parts: the same, whatever the weights */
	assert_float_equal(top_model__mix_quantile(two, 2, 0.95), 5, 1e-6);
	/* 90 % of calls at 1 ms, 10 % at 100 ms: p50 is fast, p95 and p99 slow */
	assert_true(top_model__mix_quantile(split, 2, 0.50) <= 1.0 + 1e-6);
	assert_true(top_model__mix_quantile(split, 2, 0.95) > 50);
	assert_float_equal(top_model__mix_quantile(split, 2, 0.99), 100, 1e-6);
	/* no weight, no quantiles: unknown */
	assert_true(isnan(top_model__mix_quantile(none, 2, 0.5)));
	assert_true(isnan(top_model__mix_quantile(NULL, 0, 0.5)));
}

static void test_first_refresh(void **state)
{
	struct top_model m;
	struct fx f;
	const struct top_server *r, *p;
	const struct top_cmd *get, *blpop;

	top_model__init(&m);
	fixture(&f, 0, 0);
	assert_int_equal(top_model__update(&m, &f.docs, 100.0), 0);
	assert_int_equal(m.cur.n_servers, 2);
	assert_float_equal(m.cur.health, 91.5, 1e-9);
	assert_int_equal(m.cur.firing, 2);
	assert_true(m.cur.has_events);
	assert_int_equal(m.cur.events_lost, 4);
	assert_true(isnan(m.cur.events_per_s));

	r = server(&m.cur, "127.0.0.1:6379");
	assert_non_null(r);
	assert_int_equal(r->kind, TOP_REDIS);
	assert_int_equal(r->pid, 4242);
	/* first refresh: the agent's last-minute figures */
	assert_float_equal(r->ops_per_s, 50.0, 1e-9);
	assert_float_equal(r->error_ratio, 30.0 / 3000, 1e-9);
	assert_float_equal(r->hit_ratio, 0.75, 1e-9);
	assert_float_equal(r->connections, 7, 1e-9);
	assert_float_equal(r->wait_p99_ms, 2.5, 1e-9);
	assert_int_equal(r->firing, 1);
	/* get and set alike; blpop (blocking) is not part of the server's latency */
	assert_float_equal(r->p50_ms, 0.05, 1e-6);
	assert_float_equal(r->p95_ms, 0.2, 1e-6);
	assert_float_equal(r->p99_ms, 1.0, 1e-6);
	get = cmd(r, "get");
	blpop = cmd(r, "blpop");
	assert_non_null(get);
	assert_non_null(blpop);
	assert_float_equal(get->calls_per_s, 40.0, 1e-9); /* 2400 in the 60 s window */
	assert_float_equal(get->total_ms, 120.5, 1e-9);
	assert_true(isnan(cmd(r, "set")->total_ms)); /* an older agent: no total_ms */
	assert_true(isnan(get->hit_ratio));
	/* Redis clients: the slow-command log's peers of this server, newest command first */
	assert_int_equal(r->n_clients, 2);
	assert_string_equal(r->clients[0].client, "127.0.0.1:41474");
	assert_int_equal(r->clients[0].count, 2);
	assert_float_equal(r->clients[0].worst_ms, 249.24, 1e-9);
	assert_string_equal(r->clients[0].detail, "get");
	assert_float_equal(r->clients[1].worst_ms, 300.3, 1e-9); /* server_ms without felt */

	p = server(&m.cur, "127.0.0.1:5432");
	assert_non_null(p);
	assert_int_equal(p->kind, TOP_POSTGRES);
	assert_int_equal(p->pid, 777);
	assert_float_equal(p->ops_per_s, 40.0, 1e-9);
	assert_float_equal(p->error_ratio, 1.0 / 40, 1e-9);
	assert_float_equal(p->hit_ratio, (0.99 * 30 + 0.95 * 10) / 40, 1e-9);
	assert_float_equal(p->connections, 4, 1e-9);
	assert_float_equal(p->wait_p99_ms, 0.9, 1e-9);
	assert_float_equal(p->p95_ms, 4.0, 1e-6);
	assert_int_equal(p->firing, 0); /* its alert is pending */
	/* the union of both lists, once each */
	assert_int_equal(p->n_cmds, 2);
	assert_float_equal(cmd(p, "select pg_sleep($1)")->total_ms, 1000.0, 1e-9);
	assert_true(isnan(cmd(p, "select pg_sleep($1)")->hit_ratio));
	assert_float_equal(cmd(p, "select * from t where id = $1")->hit_ratio, 0.99, 1e-9);
	assert_true(isnan(cmd(p, "select pg_sleep($1)")->calls_per_s));
	assert_int_equal(p->n_clients, 2);
	assert_string_equal(p->clients[0].application, "pgbench");
	assert_int_equal(p->clients[0].count, 3);
	assert_non_null(strstr(p->clients[0].detail, "2 idle"));
	assert_non_null(strstr(p->clients[0].detail, "1 active"));
	assert_true(isnan(p->clients[1].rate));
	top_model__free(&m);
}

static void test_rates_between_refreshes(void **state)
{
	struct top_model m;
	struct fx f;
	const struct top_server *r, *p;

	top_model__init(&m);
	fixture(&f, 0, 0);
	assert_int_equal(top_model__update(&m, &f.docs, 100.0), 0);
	/* two seconds later by the agent's evaluations (our clock says 1.9: the agent's wins) */
	fixture(&f, 2, 2);
	assert_int_equal(top_model__update(&m, &f.docs, 101.9), 0);
	r = server(&m.cur, "127.0.0.1:6379");
	p = server(&m.cur, "127.0.0.1:5432");
	assert_float_equal(r->ops_per_s, 100.0, 1e-9);
	assert_float_equal(r->error_ratio, 0.02, 1e-9);
	assert_float_equal(cmd(r, "get")->calls_per_s, 80.0, 1e-9);
	assert_float_equal(cmd(r, "set")->calls_per_s, 20.0, 1e-9);
	assert_float_equal(p->ops_per_s, 40.0, 1e-9);
	assert_float_equal(p->error_ratio, 0.1, 1e-9);
	assert_float_equal(cmd(p, "select * from t where id = $1")->calls_per_s, 10.0, 1e-9);
	assert_float_equal(cmd(p, "select pg_sleep($1)")->calls_per_s, 0.0, 1e-9);
	/* events by our clock */
	assert_float_equal(m.cur.events_per_s, 2000.0 / 1.9, 1e-6);

	/* a refresh before the agent evaluated again: the same figures, the same rates (not 0) */
	fixture(&f, 2, 2);
	assert_int_equal(top_model__update(&m, &f.docs, 102.5), 0);
	r = server(&m.cur, "127.0.0.1:6379");
	assert_float_equal(r->ops_per_s, 100.0, 1e-9);
	assert_float_equal(cmd(r, "get")->calls_per_s, 80.0, 1e-9);
	top_model__free(&m);
}

static void test_same_evaluation(void **state)
{
	char a[512], b[512];

	snprintf(a, sizeof(a), health_fmt, 1);
	snprintf(b, sizeof(b), health_fmt, 2);
	assert_true(top_model__same_evaluation(a, a));
	assert_false(top_model__same_evaluation(a, b));
	assert_false(top_model__same_evaluation(a, NULL));
	/* no alert engine: no time either side, nothing better to know */
	assert_true(top_model__same_evaluation("{\"enabled\":false,\"evaluated_at\":null}",
					       "{\"enabled\":false,\"evaluated_at\":null}"));
}

/* The fraction of a second is a fraction, however many digits it has (it was read as a count of
 * milliseconds: ".5" was 5 ms, ".005" too, ".500000" 500 s). */
static void test_evaluation_time_fractions(void **state)
{
#define EVAL_AT(frac) "{\"enabled\":true,\"evaluated_at\":\"2026-12-06T18:00:01" frac "Z\"}"
	assert_true(top_model__same_evaluation(EVAL_AT(".5"), EVAL_AT(".500")));
	assert_true(top_model__same_evaluation(EVAL_AT(".500000"), EVAL_AT(".5")));
	assert_true(top_model__same_evaluation(EVAL_AT(""), EVAL_AT(".000")));
	assert_false(top_model__same_evaluation(EVAL_AT(".5"), EVAL_AT(".005")));
	assert_false(top_model__same_evaluation(EVAL_AT(".25"), EVAL_AT(".025")));
#undef EVAL_AT
}

static void test_missing_and_bad_documents(void **state)
{
	struct top_docs none = {}, bad = { .doc = { "not json", "[1,2]", "{\"servers\":7}" } };
	struct top_model m;
	struct fx f;
	const struct top_server *r;

	top_model__init(&m);
	assert_int_equal(top_model__update(&m, &none, 1.0), -EINVAL);
	assert_int_equal(top_model__update(&m, &bad, 1.0), 0); /* an object, with nothing in it */
	assert_int_equal(m.cur.n_servers, 0);
	assert_true(isnan(m.cur.health));
	/* only the cache stats: the rest unknown, nothing invented */
	fixture(&f, 0, 0);
	for (int i = 0; i < TOP_DOC__COUNT; i++)
		if (i != TOP_DOC_CACHE)
			f.docs.doc[i] = NULL;
	assert_int_equal(top_model__update(&m, &f.docs, 2.0), 0);
	assert_int_equal(m.cur.n_servers, 1);
	r = &m.cur.servers[0];
	assert_int_equal(r->firing, 0);
	assert_int_equal(r->n_clients, 0);
	assert_false(m.cur.has_events);
	assert_true(isnan(m.cur.health));
	top_model__free(&m);
}

static void test_numbers_fit(void **state)
{
	char buf[32];

	top_view__num(0.0512, 5, 2, buf, sizeof(buf));
	assert_string_equal(buf, "0.05");
	top_view__num(123.45, 5, 2, buf, sizeof(buf));
	assert_string_equal(buf, "123.5");
	top_view__num(12345.6, 5, 2, buf, sizeof(buf));
	assert_string_equal(buf, "12346");
	top_view__num(123456, 5, 2, buf, sizeof(buf));
	assert_string_equal(buf, "123k");
	top_view__num(2500000, 6, 1, buf, sizeof(buf));
	assert_string_equal(buf, "2.5M");
	top_view__num(NAN, 5, 2, buf, sizeof(buf));
	assert_string_equal(buf, "-");
}

static void test_rows_sort_filter_and_width(void **state)
{
	const void *rows[16];
	struct top_model m;
	char line[512];
	struct fx f;
	int n;

	top_model__init(&m);
	fixture(&f, 0, 0);
	top_model__update(&m, &f.docs, 1.0);
	/* servers by ops/s, largest first: Redis (50) before PostgreSQL (40) */
	n = top_view__rows(TOP_T_SERVERS, &m.cur, NULL, NULL, top_view__default_sort(TOP_T_SERVERS),
			   false, rows, 16);
	assert_int_equal(n, 2);
	assert_string_equal(((const struct top_server *)rows[0])->address, "127.0.0.1:6379");
	n = top_view__rows(TOP_T_SERVERS, &m.cur, NULL, NULL, top_view__default_sort(TOP_T_SERVERS),
			   true, rows, 16);
	assert_string_equal(((const struct top_server *)rows[0])->address, "127.0.0.1:5432");
	/* filter on text cells, case-insensitive */
	n = top_view__rows(TOP_T_SERVERS, &m.cur, NULL, "PG", 0, false, rows, 16);
	assert_int_equal(n, 1);
	assert_string_equal(((const struct top_server *)rows[0])->address, "127.0.0.1:5432");
	n = top_view__rows(TOP_T_COMMANDS, &m.cur, server(&m.cur, "127.0.0.1:6379"), "se", 0, true,
			   rows, 16);
	assert_int_equal(n, 1);
	assert_string_equal(((const struct top_cmd *)rows[0])->name, "set");
	/* 80 columns: every line of the servers table fits 79 and keeps the whole address */
	top_view__line(TOP_T_SERVERS, NULL, 79, 0, line, sizeof(line));
	assert_true(strlen(line) <= 79);
	assert_non_null(strstr(line, "ADDRESS"));
	assert_non_null(strstr(line, "WAIT99"));
	for (int i = 0; i < m.cur.n_servers; i++) {
		top_view__line(TOP_T_SERVERS, &m.cur.servers[i], 79, 0, line, sizeof(line));
		assert_true(strlen(line) <= 79);
		assert_non_null(strstr(line, m.cur.servers[i].address));
	}
	/* a socket path too long for its column keeps its end */
	snprintf(m.cur.servers[0].address, sizeof(m.cur.servers[0].address), "%s",
		 "/var/run/some/deeply/nested/directory/redis.sock");
	top_view__line(TOP_T_SERVERS, &m.cur.servers[0], 79, 0, line, sizeof(line));
	assert_true(strlen(line) <= 79);
	assert_non_null(strstr(line, " ~"));
	assert_non_null(strstr(line, "redis.sock "));
	snprintf(m.cur.servers[0].address, sizeof(m.cur.servers[0].address), "127.0.0.1:6379");
	top_view__line(TOP_T_SERVERS, server(&m.cur, "127.0.0.1:6379"), 79, 0, line, sizeof(line));
	assert_non_null(strstr(line, "redis"));
	assert_non_null(strstr(line, "4242"));
	assert_non_null(strstr(line, "75.0")); /* hit % */
	top_model__free(&m);
}

static void test_batch_text(void **state)
{
	struct top_model m;
	struct fx f;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	top_model__init(&m);
	fixture(&f, 0, 0);
	top_model__update(&m, &f.docs, 1.0);
	fixture(&f, 1, 1);
	top_model__update(&m, &f.docs, 2.0);
	top_batch__print(out, &m.cur, 1796580000.0); /* 2026-12-06T18:00:00Z */
	fclose(out);
	assert_non_null(strstr(text, "--- 2026-12-06T18:00:00Z  health 91.5  events/s 1000  lost 4"
				     "  firing alerts 2  servers 2\n"));
	assert_non_null(strstr(text, "\nKIND  ADDRESS"));
	assert_non_null(strstr(text, "redis 127.0.0.1:6379: top commands\n"));
	assert_non_null(strstr(text, "pg 127.0.0.1:5432: top query fingerprints\n"));
	assert_non_null(
		strstr(text, "redis 127.0.0.1:6379: top clients (from the slow-command log)"));
	assert_non_null(strstr(text, "select * from t where id = $1"));
	assert_non_null(strstr(text, "127.0.0.1:41474"));
	assert_non_null(strstr(text, "pgbench"));
	/* Redis first (more ops/s): its block precedes PostgreSQL's */
	assert_true(strstr(text, "redis 127.0.0.1:6379: top commands") <
		    strstr(text, "pg 127.0.0.1:5432: top query"));
	free(text);
	top_model__free(&m);
}

/* --- the agent's own renderers, read back: the model follows api.c's shapes ---------------- */

#define RENDER(doc, fn, snap)                             \
	do {                                              \
		size_t len_ = 0;                          \
		FILE *f_ = open_memstream(&(doc), &len_); \
		assert_int_equal(fn(f_, snap), 0);        \
		fclose(f_);                               \
	} while (0)

static void test_agent_renderers(void **state)
{
	struct rs_server_snap *rsv = calloc(1, sizeof(*rsv));
	struct rs_cmd_snap *rc = calloc(1, sizeof(*rc));
	struct rs_slow_entry *slow = calloc(1, sizeof(*slow));
	struct ps_server_snap *psv = calloc(1, sizeof(*psv));
	struct ps_db_snap *db = calloc(1, sizeof(*db));
	struct ps_series_snap *q = calloc(1, sizeof(*q));
	struct ps_conn_snap conn = { .database = "app",
				     .user = "bob",
				     .application = "psql",
				     .client = "10.0.0.1",
				     .state = PG_STATE_IDLE,
				     .n = 2 };
	struct ps_opened_snap opened = { .database = "app",
					 .user = "bob",
					 .application = "psql",
					 .client = "10.0.0.1",
					 .opened = 5,
					 .win_opened = 1,
					 .win_seconds = 10 };
	struct alert *al = calloc(1, sizeof(*al));
	struct redis_snapshot rs = { .n_servers = 1, .servers = rsv, .n_slow = 1, .slow = slow };
	struct postgres_snapshot ps = { .n_servers = 1, .servers = psv };
	struct engine_snapshot es = {
		.at_ms = 1796580000123LL, .n_alerts = 1, .alerts = al, .node_score = 77.0
	};
	struct top_docs docs = { .doc = { [TOP_DOC_METRICS] =
						  "nexus_agent_events_total 10\n"
						  "nexus_agent_events_lost_total 1\n" } };
	char *doc[TOP_DOC__COUNT] = {};
	const struct top_server *r, *p;
	struct top_model m;

	/* Redis: 100 commands in a 10 s window, one error; get took 1 s in all */
	snprintf(rsv->server, sizeof(rsv->server), "127.0.0.1:6379");
	rsv->pid = 11;
	rsv->win_seconds = 10;
	rsv->win_commands = 100;
	rsv->win_errors = 1;
	rsv->win_hits = 9;
	rsv->win_misses = 1;
	rsv->commands = 500;
	rsv->conns = 3;
	rsv->wait.count = rsv->wait.win_count = 10;
	rsv->wait.q_win[LS_P99] = 2000000;
	rsv->n_cmds = 1;
	rsv->cmds = rc;
	snprintf(rc->command, sizeof(rc->command), "get");
	rc->lat.count = 500;
	rc->lat.sum_ns = 1000000000;
	rc->lat.win_count = 100;
	rc->lat.q_win[LS_P50] = 100000;
	rc->lat.q_win[LS_P95] = 200000;
	rc->lat.q_win[LS_P99] = 300000;
	snprintf(slow->server, sizeof(slow->server), "127.0.0.1:6379");
	snprintf(slow->client, sizeof(slow->client), "127.0.0.1:5555");
	snprintf(slow->command, sizeof(slow->command), "keys");
	snprintf(slow->status, sizeof(slow->status), "ok");
	slow->server_ns = 20000000;
	slow->wait_ns = 5000000;
	slow->wait_known = true;
	/* PostgreSQL: one database, 50 statements in 10 s, 5 errors */
	snprintf(psv->server, sizeof(psv->server), "127.0.0.1:5432");
	psv->pid = 22;
	psv->usdt = true;
	psv->wait.count = psv->wait.win_count = 4;
	psv->wait.q_win[LS_P99] = 500000;
	psv->n_dbs = 1;
	psv->dbs = db;
	snprintf(db->database, sizeof(db->database), "app");
	db->win_seconds = 10;
	db->win_queries = 50;
	db->win_errors = 5;
	db->queries = 200;
	db->errors = 20;
	db->win_hits = 90;
	db->win_reads = 10;
	db->lat.count = 200;
	db->lat.win_count = 50;
	db->lat.q_win[LS_P50] = 1000000;
	db->lat.q_win[LS_P95] = 3000000;
	db->lat.q_win[LS_P99] = 4000000;
	psv->n_series = 1;
	psv->series = q;
	snprintf(q->database, sizeof(q->database), "app");
	snprintf(q->user, sizeof(q->user), "bob");
	snprintf(q->text, sizeof(q->text), "select $1");
	snprintf(q->kind, sizeof(q->kind), "simple");
	q->fingerprint = 0xab;
	q->lat.count = 200;
	q->lat.sum_ns = 400000000;
	q->lat.q_total[LS_P95] = 3000000;
	q->buf_hits = 9;
	q->buf_reads = 1;
	psv->n_conns = 1;
	psv->conns = &conn;
	psv->n_opened = 1;
	psv->opened = &opened;
	/* one firing alert on the PostgreSQL server */
	snprintf(al->name, sizeof(al->name), "latency_anomaly");
	al->state = ALERT_FIRING;
	alert__add_label(al, "server", "127.0.0.1:5432");

	RENDER(doc[TOP_DOC_CACHE], api__render_cache_stats, &rs);
	RENDER(doc[TOP_DOC_SLOW_CMDS], api__render_slow_commands, &rs);
	RENDER(doc[TOP_DOC_DB_STATS], api__render_db_stats, &ps);
	RENDER(doc[TOP_DOC_SLOW_QUERIES], api__render_slow_queries, &ps);
	RENDER(doc[TOP_DOC_DB_CONNS], api__render_db_connections, &ps);
	RENDER(doc[TOP_DOC_HEALTH], alert_api__render_health, &es);
	RENDER(doc[TOP_DOC_ALERTS], alert_api__render_alerts, &es);
	for (int i = 0; i < TOP_DOC__COUNT; i++)
		if (doc[i])
			docs.doc[i] = doc[i];

	top_model__init(&m);
	assert_int_equal(top_model__update(&m, &docs, 1.0), 0);
	assert_true(m.cur.dated_by_agent);
	assert_float_equal(m.cur.at, 1796580000.123, 1e-3);
	assert_float_equal(m.cur.health, 77.0, 1e-9);
	assert_int_equal(m.cur.firing, 1);
	assert_int_equal(m.cur.events_lost, 1);
	assert_int_equal(m.cur.n_servers, 2);
	r = &m.cur.servers[0];
	p = &m.cur.servers[1];
	assert_string_equal(r->address, "127.0.0.1:6379");
	assert_int_equal(r->pid, 11);
	assert_float_equal(r->ops_per_s, 10.0, 1e-9);
	assert_float_equal(r->error_ratio, 0.01, 1e-9);
	assert_float_equal(r->hit_ratio, 0.9, 1e-9);
	assert_float_equal(r->connections, 3, 1e-9);
	assert_float_equal(r->wait_p99_ms, 2.0, 1e-9);
	assert_float_equal(r->p95_ms, 0.2, 1e-6);
	assert_int_equal(r->n_cmds, 1);
	assert_float_equal(r->cmds[0].total_ms, 1000.0, 1e-9);
	assert_int_equal(r->n_clients, 1);
	assert_string_equal(r->clients[0].client, "127.0.0.1:5555");
	assert_float_equal(r->clients[0].worst_ms, 25.0, 1e-9);
	assert_string_equal(p->address, "127.0.0.1:5432");
	assert_int_equal(p->pid, 22);
	assert_int_equal(p->firing, 1);
	assert_float_equal(p->ops_per_s, 5.0, 1e-9);
	assert_float_equal(p->error_ratio, 0.1, 1e-9);
	assert_float_equal(p->hit_ratio, 0.9, 1e-9);
	assert_float_equal(p->p99_ms, 4.0, 1e-6);
	assert_float_equal(p->wait_p99_ms, 0.5, 1e-9);
	assert_float_equal(p->connections, 2, 1e-9);
	assert_int_equal(p->n_cmds, 1);
	assert_string_equal(p->cmds[0].name, "select $1");
	assert_float_equal(p->cmds[0].total_ms, 400.0, 1e-9);
	assert_float_equal(p->cmds[0].p95_ms, 3.0, 1e-9);
	assert_float_equal(p->cmds[0].hit_ratio, 0.9, 1e-9);
	assert_int_equal(p->n_clients, 1);
	assert_string_equal(p->clients[0].application, "psql");
	assert_string_equal(p->clients[0].detail, "2 idle");
	assert_float_equal(p->clients[0].rate, 0.1, 1e-9);
	top_model__free(&m);
	for (int i = 0; i < TOP_DOC__COUNT; i++)
		free(doc[i]);
	free(rsv);
	free(rc);
	free(slow);
	free(psv);
	free(db);
	free(q);
	free(al);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mix_quantile),
		cmocka_unit_test(test_first_refresh),
		cmocka_unit_test(test_rates_between_refreshes),
		cmocka_unit_test(test_same_evaluation),
		cmocka_unit_test(test_evaluation_time_fractions),
		cmocka_unit_test(test_missing_and_bad_documents),
		cmocka_unit_test(test_numbers_fit),
		cmocka_unit_test(test_rows_sort_filter_and_width),
		cmocka_unit_test(test_batch_text),
		cmocka_unit_test(test_agent_renderers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
