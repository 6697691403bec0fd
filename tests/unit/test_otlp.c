// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * OTLP: the encoder's output decoded back with protobuf-c (names, attributes, counts, buckets,
 * sums, start times, merged families, exponential buckets), the names table against the README,
 * log records sent once, and the delivery policy (verdicts, Retry-After, backoff, gzip, queue).
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <cmocka.h>
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "alert/engine.h"
#include "export/otlp_encode.h"
#include "export/otlp_logs.h"
#include "export/otlp_names.h"
#include "export/otlp_send.h"
#include "model/metric_model.h"
#include "stats/hist.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest MReq;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

#define START 1700000000000000000ULL
#define NOW (START + 15000000000ULL)

static const double bounds[3] = { 0.001, 0.01, 0.1 };

static const KeyValue *attr(KeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i]->key, key))
			return kv[i];
	return NULL;
}

static const char *attr_s(KeyValue **kv, size_t n, const char *key)
{
	const KeyValue *a = attr(kv, n, key);

	return a && a->value->value_case ==
			     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
		       ? a->value->string_value
		       : NULL;
}

static const Metric *metric(const MReq *r, const char *name)
{
	const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm =
		r->resource_metrics[0]->scope_metrics[0];

	for (size_t i = 0; i < sm->n_metrics; i++)
		if (!strcmp(sm->metrics[i]->name, name))
			return sm->metrics[i];
	return NULL;
}

static void build_model(struct metric_model *m)
{
	struct mm_labels ls;
	uint64_t b1[3] = { 1, 3, 4 }, b2[3] = { 0, 2, 2 };

	metric_model__init(m, START, NOW);
	mm__family(m, "nexus_redis_commands_total", MM_COUNTER, "{command}", "Redis commands.");
	mm_labels__reset(&ls);
	mm_labels__add(&ls, "server", "127.0.0.1:6379");
	mm_labels__add(&ls, "command", "get");
	mm_labels__add(&ls, "status", "ok");
	mm__sample(m, &ls, 10);
	ls.l[2].value = "WRONGTYPE";
	mm__sample(m, &ls, 2);
	mm__histogram_family(m, "nexus_redis_command_duration_seconds", "s", "Redis latency.",
			     bounds, 3);
	mm_labels__reset(&ls);
	mm_labels__add(&ls, "server", "127.0.0.1:6379");
	mm_labels__add(&ls, "command", "get");
	mm__histogram(m, &ls, b1, 5, 0.75);
	mm__histogram_family(m, "nexus_postgres_query_duration_seconds", "s", "PG latency.", bounds,
			     3);
	mm_labels__reset(&ls);
	mm_labels__add(&ls, "server", "[::1]:5432");
	mm_labels__add(&ls, "database", "bench");
	mm_labels__add(&ls, "fingerprint", "00000000000000ab");
	mm__histogram(m, &ls, b2, 2, 0.01);
	mm__family(m, "nexus_postgres_query_info", MM_GAUGE, "1", "texts");
	mm_labels__reset(&ls);
	mm_labels__add(&ls, "fingerprint", "00000000000000ab");
	mm_labels__add(&ls, "query", "select abalance from pgbench_accounts where aid = $1");
	mm__sample(m, &ls, 1);
	mm__family(m, "nexus_redis_connections", MM_GAUGE, "{connection}", "conns");
	mm_labels__reset(&ls);
	mm_labels__add(&ls, "server", "/run/redis/redis.sock");
	mm_labels__add(&ls, "container_id", "abc123");
	mm_labels__add(&ls, "pod_uid", "uid-1");
	mm__sample(m, &ls, 7);
	mm__family(m, "nexus_agent_events_total", MM_COUNTER, "{event}", "events");
	mm__sample(m, NULL, 12345);
}

static MReq *encode(const struct metric_model *m, enum otlp_hist_mode mode)
{
	struct otlp_resource res = { .service_name = "nexus-agent", .service_version = "9.9",
				     .host_name = "node1", .k8s_pod_name = "agent-x" };
	struct otlp_buf b;
	MReq *r;

	assert_int_equal(otlp_encode__metrics(m, &res, mode, &b), 0);
	assert_true(b.len > 0);
	r = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, b.len, b.data);
	free(b.data);
	assert_non_null(r);
	return r;
}

static void test_metrics(void **state)
{
	struct metric_model m;
	MReq *r;
	const Metric *mt;
	build_model(&m);
	r = encode(&m, OTLP_HIST_EXPLICIT);
	/* resource */
	{
		Opentelemetry__Proto__Resource__V1__Resource *res = r->resource_metrics[0]->resource;

		assert_string_equal(attr_s(res->attributes, res->n_attributes, "service.name"),
				    "nexus-agent");
		assert_string_equal(attr_s(res->attributes, res->n_attributes, "service.version"),
				    "9.9");
		assert_string_equal(attr_s(res->attributes, res->n_attributes, "host.name"), "node1");
		assert_string_equal(attr_s(res->attributes, res->n_attributes, "k8s.pod.name"),
				    "agent-x");
		assert_null(attr(res->attributes, res->n_attributes, "k8s.node.name"));
	}
	/* counter: cumulative monotonic sum with the model's start */
	mt = metric(r, "nexus.db.server.operations");
	assert_non_null(mt);
	assert_string_equal(mt->unit, "{operation}");
	assert_int_equal(mt->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
	assert_true(mt->sum->is_monotonic);
	assert_int_equal(mt->sum->aggregation_temporality,
			 OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	assert_int_equal(mt->sum->n_data_points, 2);
	for (int i = 0; i < 2; i++) {
		const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *p = mt->sum->data_points[i];

		assert_int_equal(p->start_time_unix_nano, START);
		assert_int_equal(p->time_unix_nano, NOW);
		assert_string_equal(attr_s(p->attributes, p->n_attributes, "db.system.name"), "redis");
		assert_string_equal(attr_s(p->attributes, p->n_attributes, "server.address"),
				    "127.0.0.1");
		assert_int_equal(attr(p->attributes, p->n_attributes, "server.port")->value->int_value,
				 6379);
		assert_string_equal(attr_s(p->attributes, p->n_attributes, "db.operation.name"),
				    "get");
		assert_null(attr(p->attributes, p->n_attributes, "status"));
	}
	/* ok has no error.type; the error has it */
	assert_null(attr(mt->sum->data_points[0]->attributes, mt->sum->data_points[0]->n_attributes,
			 "error.type"));
	assert_true(mt->sum->data_points[0]->as_double == 10);
	assert_string_equal(attr_s(mt->sum->data_points[1]->attributes,
				   mt->sum->data_points[1]->n_attributes, "error.type"),
			    "WRONGTYPE");
	assert_true(mt->sum->data_points[1]->as_double == 2);

	/* Redis and PostgreSQL durations: one metric, two points, explicit buckets per bucket */
	mt = metric(r, "db.server.operation.duration");
	assert_non_null(mt);
	assert_string_equal(mt->unit, "s");
	assert_int_equal(mt->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
	assert_int_equal(mt->histogram->n_data_points, 2);
	{
		const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p =
			mt->histogram->data_points[0];
		const uint64_t want[4] = { 1, 2, 1, 1 };

		assert_int_equal(p->start_time_unix_nano, START);
		assert_int_equal(p->count, 5);
		assert_int_equal(p->_sum_case,
				 OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM);
		assert_true(fabs(p->sum - 0.75) < 1e-12);
		assert_int_equal(p->n_explicit_bounds, 3);
		assert_true(p->explicit_bounds[1] == 0.01);
		assert_int_equal(p->n_bucket_counts, 4);
		for (int i = 0; i < 4; i++)
			assert_int_equal(p->bucket_counts[i], want[i]);
		p = mt->histogram->data_points[1];
		assert_string_equal(attr_s(p->attributes, p->n_attributes, "db.system.name"),
				    "postgresql");
		assert_string_equal(attr_s(p->attributes, p->n_attributes, "server.address"), "::1");
		assert_int_equal(attr(p->attributes, p->n_attributes, "server.port")->value->int_value,
				 5432);
		assert_string_equal(attr_s(p->attributes, p->n_attributes, "db.namespace"), "bench");
		assert_string_equal(attr_s(p->attributes, p->n_attributes,
					   "nexus.db.query.fingerprint"),
				    "00000000000000ab");
		assert_string_equal(attr_s(p->attributes, p->n_attributes, "db.query.summary"),
				    "SELECT pgbench_accounts");
		assert_int_equal(p->count, 2);
		assert_int_equal(p->bucket_counts[0], 0);
		assert_int_equal(p->bucket_counts[1], 2);
	}
	/* gauge: no start; container and pod attributes; a socket path is the address */
	mt = metric(r, "nexus.db.server.connections");
	assert_non_null(mt);
	assert_int_equal(mt->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
	{
		const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *p =
			mt->gauge->data_points[0];

		assert_int_equal(p->start_time_unix_nano, 0);
		assert_string_equal(attr_s(p->attributes, p->n_attributes, "server.address"),
				    "/run/redis/redis.sock");
		assert_null(attr(p->attributes, p->n_attributes, "server.port"));
		assert_string_equal(attr_s(p->attributes, p->n_attributes, "container.id"), "abc123");
		assert_string_equal(attr_s(p->attributes, p->n_attributes, "k8s.pod.uid"), "uid-1");
		assert_true(p->as_double == 7);
	}
	/* a family without a row: derived name */
	mt = metric(r, "nexus.agent.events");
	assert_non_null(mt);
	assert_true(mt->sum->data_points[0]->as_double == 12345);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		r, NULL);
	metric_model__free(&m);
}

/* Fine ranges to an exponential histogram: every count lands, a range inside one bucket goes to
 * it whole, one across a boundary is split in proportion, exactly. */
static void test_exponential(void **state)
{
	static const double lo[3] = { 0.0001, 0.0002, 0.05 };
	static const double hi[3] = { 0.0001000001, 0.000203, 0.0500001 };
	static const uint64_t cnt[3] = { 3, 1000, 1 };
	static const struct mm_exp ex = { .n = 3, .lo = lo, .hi = hi, .count = cnt };
	uint64_t b[3] = { 1003, 1003, 1004 };
	struct mm_labels ls;
	struct metric_model m;
	const Metric *mt;
	MReq *r;

	metric_model__init(&m, START, NOW);
	mm__histogram_family(&m, "nexus_redis_command_duration_seconds", "s", "h", bounds, 3);
	mm_labels__reset(&ls);
	mm_labels__add(&ls, "server", "127.0.0.1:6379");
	mm__histogram(&m, &ls, b, 1004, 0.2555);
	mm__histogram_exp(&m, ex.n, ex.lo, ex.hi, ex.count);
	r = encode(&m, OTLP_HIST_EXPONENTIAL);
	mt = metric(r, "db.server.operation.duration");
	assert_int_equal(mt->data_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM);
	{
		const Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint *p =
			mt->exponential_histogram->data_points[0];
		int32_t i0 = (int32_t)ceil(log2(0.0001) * 32) - 1;
		int32_t i1 = (int32_t)ceil(log2(0.0002) * 32) - 1;
		int32_t i2 = (int32_t)ceil(log2(0.05) * 32) - 1;
		double edge = pow(2, (i1 + 1) / 32.0), share = 1000 * (edge - 0.0002) / 0.000003;
		uint64_t total = 0;

		assert_int_equal(p->scale, OTLP_EXP_SCALE);
		assert_int_equal(p->count, 1004);
		assert_true(fabs(p->sum - 0.2555) < 1e-12);
		assert_int_equal(p->start_time_unix_nano, START);
		assert_int_equal(p->positive->offset, i0);
		assert_int_equal(p->positive->n_bucket_counts, (size_t)(i2 - i0 + 1));
		for (size_t i = 0; i < p->positive->n_bucket_counts; i++)
			total += p->positive->bucket_counts[i];
		assert_int_equal(total, 1004);
		/* [0.0001, 0.0001000001) is inside bucket i0: whole */
		assert_true(pow(2, i0 / 32.0) < 0.0001 && 0.0001000001 <= pow(2, (i0 + 1) / 32.0));
		assert_int_equal(p->positive->bucket_counts[0], 3);
		/* [0.0002, 0.000203) crosses the edge of bucket i1: split by the overlap */
		assert_true(edge > 0.0002 && edge < 0.000203);
		assert_true(fabs((double)p->positive->bucket_counts[i1 - i0] - share) <= 1);
		assert_int_equal(p->positive->bucket_counts[i1 - i0] +
					 p->positive->bucket_counts[i1 + 1 - i0],
				 1000);
		assert_int_equal(p->positive->bucket_counts[i2 - i0], 1);
	}
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		r, NULL);
	/* explicit mode ignores the fine buckets */
	r = encode(&m, OTLP_HIST_EXPLICIT);
	assert_int_equal(metric(r, "db.server.operation.duration")->data_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		r, NULL);
	metric_model__free(&m);
}

/* The stats' sparse fine buckets: every count kept, midpoints within 2^shift/128 of the values,
 * coarser only when more than HIST_SPARSE_MAX buckets are used; merging adds up. */
static void test_sparse(void **state)
{
	static const uint64_t vals[] = { 700, 12345, 98765, 1000000, 1500000, 250000000 };
	struct hist *hh = calloc(1, sizeof(*hh));
	struct hist_sparse *sp = calloc(1, sizeof(*sp)), *sp2 = calloc(1, sizeof(*sp2));
	uint64_t total = 0;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		hist__record_n(hh, vals[i], (uint32_t)(i + 1));
	hist__sparse(hh, sp);
	assert_int_equal(sp->shift, 0);
	assert_int_equal(sp->n, 6);
	for (int i = 0; i < sp->n; i++) {
		double mid = (double)hist_sparse__mid_ns(sp, i), v = (double)vals[i];

		assert_true(fabs(mid - v) / v <= 1.0 / 128);
		assert_int_equal(sp->count[i], (uint64_t)i + 1);
		total += sp->count[i];
	}
	assert_int_equal(total, hist__count(hh));
	/* 1000 distinct buckets: coarser, still all counted, within 2^shift/128 */
	hist__reset(hh);
	for (uint64_t v = 1000; v < 100000000; v = v * 1009 / 1000 + 1)
		hist__record(hh, v);
	hist__sparse(hh, sp2);
	assert_true(sp2->shift > 0 && sp2->shift <= HIST_SUB_BITS);
	assert_true(sp2->n <= HIST_SPARSE_MAX);
	total = 0;
	for (int i = 0; i < sp2->n; i++)
		total += sp2->count[i];
	assert_int_equal(total, hist__count(hh));
	/* merge: the union, at the coarser shift */
	hist_sparse__merge(sp2, sp);
	total = 0;
	for (int i = 0; i < sp2->n; i++) {
		total += sp2->count[i];
		if (i)
			assert_true(sp2->idx[i] > sp2->idx[i - 1]);
	}
	assert_int_equal(total, hist__count(hh) + 21);
	free(hh);
	free(sp);
	free(sp2);
}

static void test_names(void **state)
{
	char addr[128], out[128], buf[96];
	int port;

	otlp_names__split_server("10.1.2.3:6379", addr, sizeof(addr), &port);
	assert_string_equal(addr, "10.1.2.3");
	assert_int_equal(port, 6379);
	otlp_names__split_server("[fe80::1]:5432", addr, sizeof(addr), &port);
	assert_string_equal(addr, "fe80::1");
	assert_int_equal(port, 5432);
	otlp_names__split_server("/var/run/postgresql/.s.PGSQL.5432", addr, sizeof(addr), &port);
	assert_string_equal(addr, "/var/run/postgresql/.s.PGSQL.5432");
	assert_int_equal(port, -1);
	otlp_names__query_summary("update pgbench_accounts set abalance = abalance + $1", out,
				  sizeof(out));
	assert_string_equal(out, "UPDATE pgbench_accounts");
	otlp_names__query_summary("insert into t (a) values ($1)", out, sizeof(out));
	assert_string_equal(out, "INSERT t");
	otlp_names__query_summary("begin", out, sizeof(out));
	assert_string_equal(out, "BEGIN");
	otlp_names__query_summary("select $1", out, sizeof(out));
	assert_string_equal(out, "SELECT");
	otlp_names__query_summary("select * from (select 1) s", out, sizeof(out));
	assert_string_equal(out, "SELECT");
	otlp_names__derive("nexus_redis_resyncs_total", true, out, sizeof(out));
	assert_string_equal(out, "nexus.redis.resyncs");
	otlp_names__derive("nexus_foo_seconds", false, out, sizeof(out));
	assert_string_equal(out, "nexus.foo");
	assert_string_equal(otlp_names__attribute(otlp_names__find("nexus_postgres_connections"),
						  "state", buf, sizeof(buf)),
			    "nexus.db.connection.state");
	assert_string_equal(otlp_names__attribute(NULL, "database", buf, sizeof(buf)),
			    "db.namespace");
	assert_string_equal(otlp_names__attribute(NULL, "whatever", buf, sizeof(buf)),
			    "nexus.whatever");
}

/* The README's mapping table is this table: every row's names, both ways. */
static void test_readme_table(void **state)
{
	const char *slash = strrchr(__FILE__, '/');
	char path[4096], line[2048];
	bool in_table = false;
	int rows = 0, found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%.*s/../../README.md", slash ? (int)(slash - __FILE__) : 1,
		 slash ? __FILE__ : ".");
	f = fopen(path, "r");
	if (!f)
		f = fopen("README.md", "r");
	if (!f)
		fail_msg("README.md not found (from %s)", path);
	while (fgets(line, sizeof(line), f)) {
		char prom[128], otel[128];

		if (strstr(line, "<!-- otlp-names -->")) {
			in_table = true;
			continue;
		}
		if (!in_table)
			continue;
		if (line[0] != '|') {
			if (rows)
				break;
			continue;
		}
		if (!strncmp(line, "| Prometheus", 12) || !strncmp(line, "| ---", 5))
			continue;
		rows++;
		if (strstr(line, "(every family)"))
			continue;
		if (sscanf(line, "| `%127[^`]` | `%127[^`]`", prom, otel) != 2)
			fail_msg("README row not understood: %s", line);
		const struct otlp_name *n = otlp_names__find(prom);

		if (!n)
			fail_msg("README names %s, the table does not", prom);
		assert_string_equal(n->otel, otel);
		found++;
	}
	fclose(f);
	assert_int_equal(found, (int)otlp_n_names - 1);
}

static void test_logs(void **state)
{
	struct otlp_logs *st = malloc(sizeof(*st));
	struct otlp_log *out = calloc(16, sizeof(*out));
	struct alert al = { .name = "redis_hit_ratio_low", .severity = SEV_WARNING,
			    .state = ALERT_FIRING, .fingerprint = 42, .value = 0.4,
			    .threshold = 0.8, .fired_at_ms = 1700000000123 };
	struct engine_snapshot es = { .n_alerts = 1, .alerts = &al };
	struct rs_slow_entry slow[3] = {};
	struct redis_snapshot rs = { .n_slow = 0, .slow = slow };
	struct ps_series_snap se = { .database = "bench", .user = "u", .fingerprint = 0xab,
				     .text = "select pg_sleep($1)" };
	struct ps_server_snap sv = { .server = "127.0.0.1:5432", .n_series = 1, .series = &se };
	struct postgres_snapshot ps = { .n_servers = 1, .servers = &sv };
	int n;

	alert__add_label(&al, "server", "127.0.0.1:6379");
	alert__add_label(&al, "kind", "redis");
	snprintf(al.summary, sizeof(al.summary), "hit ratio 0.40 < 0.8");
	otlp_logs__init(st, 10 * 1000000ULL);
	n = otlp_logs__collect(st, &es, &rs, &ps, NOW, out, 16);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].event_name, "nexus.alert");
	assert_int_equal(out[0].severity_number, 13);
	assert_int_equal(out[0].time_unix_ns, 1700000000123ULL * 1000000ULL);
	assert_non_null(strstr(out[0].body, "redis_hit_ratio_low firing"));
	/* same snapshot again: nothing new */
	assert_int_equal(otlp_logs__collect(st, &es, &rs, &ps, NOW, out, 16), 0);
	/* resolved: one more */
	al.state = ALERT_RESOLVED;
	al.resolved_at_ms = 1700000009000;
	n = otlp_logs__collect(st, &es, &rs, &ps, NOW, out, 16);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].severity_number, 9);
	assert_non_null(strstr(out[0].body, "resolved"));
	assert_int_equal(otlp_logs__collect(st, &es, &rs, &ps, NOW, out, 16), 0);

	/* slow commands, newest first; two in one millisecond */
	for (int i = 0; i < 3; i++) {
		snprintf(slow[i].server, sizeof(slow[i].server), "127.0.0.1:6379");
		snprintf(slow[i].command, sizeof(slow[i].command), "get");
		snprintf(slow[i].prefix, sizeof(slow[i].prefix), "user");
		snprintf(slow[i].status, sizeof(slow[i].status), "ok");
		slow[i].server_ns = 20000000;
	}
	slow[0].unix_ms = slow[1].unix_ms = 2000; /* the newest two */
	slow[2].unix_ms = 1000;
	rs.slow = slow + 1; /* first look: [1] and [2] */
	rs.n_slow = 2;
	n = otlp_logs__collect(st, NULL, &rs, NULL, NOW, out, 16);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].time_unix_ns, 1000ULL * 1000000); /* oldest first */
	assert_string_equal(out[0].event_name, "nexus.redis.slow_command");
	rs.slow = slow; /* then [0] arrived in the same millisecond as [1] */
	rs.n_slow = 3;
	n = otlp_logs__collect(st, NULL, &rs, NULL, NOW, out, 16);
	assert_int_equal(n, 1);
	assert_int_equal(otlp_logs__collect(st, NULL, &rs, NULL, NOW, out, 16), 0);
	/* no values: the key prefix only */
	n = 0;
	for (int i = 0; i < out[0].n_attrs; i++)
		n += !strcmp(out[0].attrs[i].key, "nexus.redis.key_prefix") &&
		     !strcmp(out[0].attrs[i].s, "user");
	assert_int_equal(n, 1);

	/* a slow statement: once, again only after it was fast */
	se.lat.win_count = 5;
	se.lat.q_win[LS_P95] = 20 * 1000000ULL;
	n = otlp_logs__collect(st, NULL, NULL, &ps, NOW, out, 16);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].event_name, "nexus.postgres.slow_statement");
	assert_non_null(strstr(out[0].body, "select pg_sleep($1)"));
	assert_int_equal(otlp_logs__collect(st, NULL, NULL, &ps, NOW, out, 16), 0);
	se.lat.q_win[LS_P95] = 1000000ULL;
	assert_int_equal(otlp_logs__collect(st, NULL, NULL, &ps, NOW, out, 16), 0);
	se.lat.q_win[LS_P95] = 30 * 1000000ULL;
	assert_int_equal(otlp_logs__collect(st, NULL, NULL, &ps, NOW, out, 16), 1);
	assert_int_equal(st->missed, 0);

	/* more than max at once: the rest counted; and nothing at or before the watermark is
	 * left in the log, so some went unseen between the two looks: counted too */
	slow[0].unix_ms = slow[1].unix_ms = slow[2].unix_ms = 5000;
	assert_int_equal(otlp_logs__collect(st, NULL, &rs, NULL, NOW, out, 2), 2);
	assert_int_equal(st->missed, 2);
	free(out);
	free(st);
}

static void test_logs_encode(void **state)
{
	struct otlp_resource res = { .service_name = "nexus-agent" };
	struct otlp_log l = { .time_unix_ns = 5, .severity_number = 13 };
	Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *r;
	Opentelemetry__Proto__Logs__V1__LogRecord *rec;
	struct otlp_buf b;

	snprintf(l.body, sizeof(l.body), "slow command get");
	snprintf(l.event_name, sizeof(l.event_name), "nexus.redis.slow_command");
	snprintf(l.severity_text, sizeof(l.severity_text), "WARN");
	otlp_log__server(&l, "server", "127.0.0.1:6379");
	otlp_log__double(&l, "nexus.server.duration", 0.02);
	assert_int_equal(otlp_encode__logs(&l, 1, &res, &b), 0);
	r = opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
		NULL, b.len, b.data);
	free(b.data);
	assert_non_null(r);
	rec = r->resource_logs[0]->scope_logs[0]->log_records[0];
	assert_int_equal(rec->time_unix_nano, 5);
	assert_int_equal(rec->severity_number, 13);
	assert_string_equal(rec->severity_text, "WARN");
	assert_string_equal(rec->event_name, "nexus.redis.slow_command");
	assert_string_equal(rec->body->string_value, "slow command get");
	assert_string_equal(attr_s(rec->attributes, rec->n_attributes, "server.address"),
			    "127.0.0.1");
	assert_int_equal(attr(rec->attributes, rec->n_attributes, "server.port")->value->int_value,
			 6379);
	assert_true(attr(rec->attributes, rec->n_attributes, "nexus.server.duration")
			    ->value->double_value == 0.02);
	opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(r,
											      NULL);
}

static void test_policy(void **state)
{
	struct tm tm = { .tm_year = 126, .tm_mon = 11, .tm_mday = 6, .tm_hour = 20 };
	time_t now = timegm(&tm);
	uint64_t prev_hi = 0;

	assert_int_equal(otlp_send__verdict(200), OTLP_DONE);
	assert_int_equal(otlp_send__verdict(204), OTLP_DONE);
	assert_int_equal(otlp_send__verdict(429), OTLP_RETRY);
	assert_int_equal(otlp_send__verdict(502), OTLP_RETRY);
	assert_int_equal(otlp_send__verdict(503), OTLP_RETRY);
	assert_int_equal(otlp_send__verdict(504), OTLP_RETRY);
	assert_int_equal(otlp_send__verdict(0), OTLP_RETRY);
	assert_int_equal(otlp_send__verdict(400), OTLP_PERMANENT);
	assert_int_equal(otlp_send__verdict(500), OTLP_PERMANENT);
	assert_int_equal(otlp_send__verdict(404), OTLP_PERMANENT);

	assert_int_equal(otlp_send__retry_after("3", now, 60), 3);
	assert_int_equal(otlp_send__retry_after(" 120 ", now, 60), 60);
	assert_int_equal(otlp_send__retry_after("Sun, 06 Dec 2026 20:00:07 GMT", now, 60), 7);
	assert_int_equal(otlp_send__retry_after("Sun, 06 Dec 2026 19:00:00 GMT", now, 60), 0);
	assert_int_equal(otlp_send__retry_after("soon", now, 60), -1);
	assert_int_equal(otlp_send__retry_after("3x", now, 60), -1);
	assert_int_equal(otlp_send__retry_after(NULL, now, 60), -1);

	for (int a = 1; a <= 8; a++) {
		uint64_t lo = otlp_send__backoff_ns(a, 1000, 30000, 0);
		uint64_t hi = otlp_send__backoff_ns(a, 1000, 30000, UINT32_MAX);
		uint64_t d = 1000ULL << (a - 1);

		if (d > 30000)
			d = 30000;
		assert_int_equal(lo, d / 2);
		assert_true(hi <= d && hi >= d - 1);
		assert_true(hi >= prev_hi);
		prev_hi = hi;
	}
}

static void test_gzip_queue(void **state)
{
	uint8_t in[4096], back[8192], *gz;
	size_t gz_len;
	uLongf back_len = sizeof(back);
	z_stream z = {};
	struct otlp_queue q;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i % 7);
	assert_int_equal(otlp_send__gzip(in, sizeof(in), &gz, &gz_len), 0);
	assert_true(gz_len < sizeof(in));
	assert_int_equal(gz[0], 0x1f); /* gzip magic */
	assert_int_equal(gz[1], 0x8b);
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = gz;
	z.avail_in = (uInt)gz_len;
	z.next_out = back;
	z.avail_out = (uInt)back_len;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.total_out, sizeof(in));
	assert_memory_equal(back, in, sizeof(in));
	inflateEnd(&z);
	free(gz);

	assert_int_equal(otlp_queue__init(&q, 2), 0);
	assert_int_equal(otlp_queue__push(&q, OTLP_METRICS, malloc(1), 1, 1), -1);
	assert_int_equal(otlp_queue__push(&q, OTLP_LOGS, malloc(2), 2, 2), -1);
	/* full: the oldest (metrics) goes */
	assert_int_equal(otlp_queue__push(&q, OTLP_METRICS, malloc(3), 3, 3), OTLP_METRICS);
	assert_int_equal(q.n, 2);
	assert_int_equal(otlp_queue__head(&q)->len, 2);
	otlp_queue__pop(&q);
	assert_int_equal(otlp_queue__head(&q)->len, 3);
	otlp_queue__free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics),	    cmocka_unit_test(test_exponential),
		cmocka_unit_test(test_sparse),
		cmocka_unit_test(test_names),	    cmocka_unit_test(test_readme_table),
		cmocka_unit_test(test_logs),	    cmocka_unit_test(test_logs_encode),
		cmocka_unit_test(test_policy),	    cmocka_unit_test(test_gzip_queue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
