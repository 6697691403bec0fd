// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * trace's filters: a fixture table of (filter, event) -> printed or not, over decoded Redis
 * commands, PostgreSQL statements and raw records; durations; flags that cannot go together.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "capture/conntrack.h"
#include "cli/trace_filter.h"
#include "pipeline.h"

#define MS(x) ((uint64_t)((x) * 1000000.0))
/* Every event's request is read at T0; its arrival, when known, is before. */
#define T0 MS(1000)

enum ev_type { EV_REDIS, EV_PG, EV_RAW };

struct fixture {
	const char *name;
	struct trace_filter f;
	enum ev_type ev;
	const char *server;  /* decoded: its label (default 127.0.0.1:6379 / :5432) */
	const char *client;  /* decoded: default 127.0.0.1:41490 */
	const char *what;    /* Redis command (default "get") or normalised SQL ("select $1") */
	bool error;	     /* error reply / ErrorResponse */
	bool pg_unknown;     /* PG_UNKNOWN: the response ended past the capture */
	bool sql_unknown;    /* statement never seen */
	double server_ms;    /* t_reply - t_request */
	double wait_ms;	     /* t_request - t_arrival; 0: arrival not known */
	/* raw records: a TCP connection 127.0.0.1:6379 <- 10.0.0.7:50000 of a redis-server */
	bool unix_conn;	     /* ... a Unix socket /run/redis.sock instead */
	bool no_conn;	     /* a process event */
	bool no_proc;
	uint8_t proc_kind;   /* default NX_KIND_REDIS */
	bool want;
};

static const struct fixture fixtures[] = {
	/* Redis */
	{ "redis: no filter", {}, EV_REDIS, .want = true },
	{ "redis: --command any case", { .command = "GET" }, EV_REDIS, .want = true },
	{ "redis: --command is a substring", { .command = "get" }, EV_REDIS, .what = "mget",
	  .want = true },
	{ "redis: --command other", { .command = "set" }, EV_REDIS, .want = false },
	{ "redis: --command of a container command", { .command = "config" }, EV_REDIS,
	  .what = "config get", .want = true },
	{ "redis: --errors, ok reply", { .errors = true }, EV_REDIS, .want = false },
	{ "redis: --errors, error reply", { .errors = true }, EV_REDIS, .error = true,
	  .want = true },
	{ "redis: felt latency (wait + server) over the bound", { .latency_set = true,
	  .min_latency_ns = MS(10) }, EV_REDIS, .server_ms = 5, .wait_ms = 20, .want = true },
	{ "redis: no arrival: server latency under the bound", { .latency_set = true,
	  .min_latency_ns = MS(10) }, EV_REDIS, .server_ms = 5, .want = false },
	{ "redis: latency equal to the bound", { .latency_set = true, .min_latency_ns = MS(5) },
	  EV_REDIS, .server_ms = 5, .want = true },
	{ "redis: --min-latency 0", { .latency_set = true }, EV_REDIS, .want = true },
	{ "redis: --kind redis", { .kind = TRACE_KIND_REDIS }, EV_REDIS, .want = true },
	{ "redis: --kind postgres", { .kind = TRACE_KIND_POSTGRES }, EV_REDIS, .want = false },
	{ "redis: --query alone is for PostgreSQL", { .query = "select" }, EV_REDIS,
	  .want = false },
	{ "redis: --command and --query, command matches", { .command = "get", .query = "select" },
	  EV_REDIS, .want = true },
	{ "redis: --command and --query, command does not", { .command = "set", .query = "get" },
	  EV_REDIS, .want = false },
	{ "redis: --server exact", { .server = "127.0.0.1:6379" }, EV_REDIS, .want = true },
	{ "redis: --server is not a prefix", { .server = "127.0.0.1:637" }, EV_REDIS,
	  .want = false },
	{ "redis: --server :PORT", { .server = ":6379" }, EV_REDIS, .want = true },
	{ "redis: --server :PORT, IPv6", { .server = ":6379" }, EV_REDIS, .server = "[::1]:6379",
	  .want = true },
	{ "redis: --server :PORT is the whole port", { .server = ":79" }, EV_REDIS, .want = false },
	{ "redis: --server other port", { .server = ":6380" }, EV_REDIS, .want = false },
	{ "redis: --server socket path", { .server = "/run/redis.sock" }, EV_REDIS,
	  .server = "/run/redis.sock", .client = "", .want = true },
	{ "redis: --client over a Unix socket (no address)", { .client = "127" }, EV_REDIS,
	  .server = "/run/redis.sock", .client = "", .want = false },
	{ "redis: --client substring", { .client = ":41490" }, EV_REDIS, .want = true },
	{ "redis: --client other", { .client = "10.0.0." }, EV_REDIS, .want = false },
	{ "redis: everything at once", { .server = ":6379", .client = "127.0.0.1", .command = "Get",
	  .errors = true, .latency_set = true, .min_latency_ns = MS(1), .kind = TRACE_KIND_REDIS },
	  EV_REDIS, .error = true, .server_ms = 2, .want = true },
	/* PostgreSQL */
	{ "pg: no filter", {}, EV_PG, .want = true },
	{ "pg: --query pg_sleep --min-latency 100ms, a pg_sleep(0.2)", { .query = "pg_sleep",
	  .latency_set = true, .min_latency_ns = MS(100) }, EV_PG, .what = "select pg_sleep($1)",
	  .server_ms = 200, .want = true },
	{ "pg: ... a SELECT 1", { .query = "pg_sleep", .latency_set = true,
	  .min_latency_ns = MS(100) }, EV_PG, .what = "select $1", .server_ms = 0.2,
	  .want = false },
	{ "pg: ... a quick pg_sleep", { .query = "pg_sleep", .latency_set = true,
	  .min_latency_ns = MS(100) }, EV_PG, .what = "select pg_sleep($1)", .server_ms = 1,
	  .want = false },
	{ "pg: --query any case", { .query = "SELECT PG_" }, EV_PG, .what = "select pg_sleep($1)",
	  .want = true },
	{ "pg: felt latency (waited 150 ms unread)", { .latency_set = true,
	  .min_latency_ns = MS(100) }, EV_PG, .server_ms = 60, .wait_ms = 150, .want = true },
	{ "pg: --errors, ok", { .errors = true }, EV_PG, .want = false },
	{ "pg: --errors, ErrorResponse", { .errors = true }, EV_PG, .error = true, .want = true },
	{ "pg: --errors, outcome unknown", { .errors = true }, EV_PG, .pg_unknown = true,
	  .want = false },
	{ "pg: --command alone is for Redis", { .command = "get" }, EV_PG, .want = false },
	{ "pg: --command and --query", { .command = "get", .query = "select" }, EV_PG,
	  .want = true },
	{ "pg: --kind redis", { .kind = TRACE_KIND_REDIS }, EV_PG, .want = false },
	{ "pg: --kind postgres", { .kind = TRACE_KIND_POSTGRES }, EV_PG, .want = true },
	{ "pg: unknown statement matches what trace prints", { .query = "unknown" }, EV_PG,
	  .sql_unknown = true, .want = true },
	{ "pg: --server :5432", { .server = ":5432" }, EV_PG, .want = true },
	{ "pg: --server :6379", { .server = ":6379" }, EV_PG, .want = false },
	/* raw records: only where they come from */
	{ "raw: no filter", {}, EV_RAW, .want = true },
	{ "raw: --kind redis", { .kind = TRACE_KIND_REDIS }, EV_RAW, .want = true },
	{ "raw: --kind postgres", { .kind = TRACE_KIND_POSTGRES }, EV_RAW, .want = false },
	{ "raw: --kind postgres, a postgres chunk", { .kind = TRACE_KIND_POSTGRES }, EV_RAW,
	  .proc_kind = NX_KIND_POSTGRES, .want = true },
	{ "raw: --kind, no process known", { .kind = TRACE_KIND_REDIS }, EV_RAW, .no_proc = true,
	  .want = false },
	{ "raw: --server :6379", { .server = ":6379" }, EV_RAW, .want = true },
	{ "raw: --server exact", { .server = "127.0.0.1:6379" }, EV_RAW, .want = true },
	{ "raw: --server other", { .server = ":5432" }, EV_RAW, .want = false },
	{ "raw: --server, a process event", { .server = ":6379" }, EV_RAW, .no_conn = true,
	  .want = false },
	{ "raw: --kind, a process event", { .kind = TRACE_KIND_REDIS }, EV_RAW, .no_conn = true,
	  .want = true },
	{ "raw: --server socket path", { .server = "/run/redis.sock" }, EV_RAW, .unix_conn = true,
	  .want = true },
	{ "raw: --client is the peer", { .client = "10.0.0.7" }, EV_RAW, .want = true },
	{ "raw: --client other", { .client = "127.0.0.1" }, EV_RAW, .want = false },
	{ "raw: --command", { .command = "get" }, EV_RAW, .want = false },
	{ "raw: --query", { .query = "select" }, EV_RAW, .want = false },
	{ "raw: --errors", { .errors = true }, EV_RAW, .want = false },
	{ "raw: --min-latency 0", { .latency_set = true }, EV_RAW, .want = false },
	{ "raw: --count alone", { .count = 3 }, EV_RAW, .want = true },
};

static bool run_fixture(const struct fixture *x)
{
	uint64_t arrival = x->wait_ms ? T0 - MS(x->wait_ms) : 0;
	uint64_t done = T0 + MS(x->server_ms);
	const char *server = x->server, *client = x->client ? x->client : "127.0.0.1:41490";

	if (x->ev == EV_REDIS) {
		struct resp_record r = { .status = x->error ? RESP_ERROR : RESP_OK,
					 .t_arrival = arrival, .t_request = T0, .t_reply = done };
		struct redis_event e = { .r = &r, .server = server ? server : "127.0.0.1:6379",
					 .client = client, .pid = 7, .comm = "redis-server" };

		snprintf(r.command, sizeof(r.command), "%s", x->what ? x->what : "get");
		if (x->error)
			strcpy(r.error, "ERR");
		return trace_filter__match_redis(&x->f, &e);
	}
	if (x->ev == EV_PG) {
		static struct pg_record r;
		static struct sql_fingerprint fp;
		struct postgres_event e = { .r = &r, .fp = &fp, .t_arrival = arrival,
					    .server = server ? server : "127.0.0.1:5432",
					    .client = client, .pid = 8, .comm = "postgres" };

		memset(&r, 0, sizeof(r));
		memset(&fp, 0, sizeof(fp));
		r.status = x->error ? PG_ERROR : x->pg_unknown ? PG_UNKNOWN : PG_OK;
		r.sql_unknown = x->sql_unknown;
		r.t_request = T0;
		r.t_response = done;
		snprintf(fp.text, sizeof(fp.text), "%s",
			 x->sql_unknown ? "" : x->what ? x->what : "select $1");
		return trace_filter__match_postgres(&x->f, &e);
	}
	{
		struct nx_event_hdr hdr = { .type = x->no_conn ? NX_EV_PROC_FORK : NX_EV_DATA,
					    .tgid = 7 };
		struct nx_proc p = { .tgid = 7, .kind = x->proc_kind ? x->proc_kind : NX_KIND_REDIS,
				     .comm = "redis-server" };
		struct nx_conn c = { .transport = NX_TRANSPORT_TCP4, .role = NX_ROLE_SERVER,
				     .lport = 6379, .rport = 50000, .laddr = { 127, 0, 0, 1 },
				     .raddr = { 10, 0, 0, 7 } };
		struct nx_record r = { .hdr = &hdr, .conn = x->no_conn ? NULL : &c,
				       .proc = x->no_proc ? NULL : &p };

		if (x->unix_conn) {
			c.transport = NX_TRANSPORT_UNIX;
			strcpy(c.path, "/run/redis.sock");
		}
		return trace_filter__match_record(&x->f, &r);
	}
}

static void test_fixtures(void **state)
{
	int failed = 0;

	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		bool got = run_fixture(&fixtures[i]);

		if (got != fixtures[i].want) {
			print_error("fixture '%s': %s, want %s\n", fixtures[i].name,
				    got ? "printed" : "left out",
				    fixtures[i].want ? "printed" : "left out");
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void test_durations(void **state)
{
	static const struct {
		const char *in;
		int err;
		uint64_t ns;
	} cases[] = {
		{ "10ms", 0, 10000000 },
		{ "1.5s", 0, 1500000000 },
		{ "250us", 0, 250000 },
		{ "250\xc2\xb5s", 0, 250000 },
		{ "800ns", 0, 800 },
		{ "7", 0, 7000000 }, /* a plain number is ms */
		{ "0.5", 0, 500000 },
		{ "0", 0, 0 },
		{ "0ms", 0, 0 },
		{ "86400s", 0, 86400ULL * 1000000000ULL },
		{ ".25s", 0, 250000000 },
		{ "", -22, 0 },
		{ "ms", -22, 0 },
		{ "-1", -22, 0 },
		{ "-1ms", -22, 0 },
		{ "10 ms", -22, 0 },
		{ "10MS", -22, 0 },
		{ "5h", -22, 0 },
		{ "1e3", -22, 0 },
		{ "0x10", -22, 0 },
		{ "inf", -22, 0 },
		{ "nan", -22, 0 },
		{ "1.2.3", -22, 0 },
		{ "86401s", -22, 0 },
		{ "10msx", -22, 0 },
		{ " 10", -22, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ns = 12345;
		int err = trace_filter__parse_duration(cases[i].in, &ns);

		if (err != cases[i].err || (!err && ns != cases[i].ns))
			fail_msg("'%s': err %d ns %llu, want err %d ns %llu", cases[i].in, err,
				 (unsigned long long)ns, cases[i].err,
				 (unsigned long long)cases[i].ns);
	}
}

static void test_kind(void **state)
{
	uint8_t k = 0;

	assert_int_equal(trace_filter__parse_kind("redis", &k), 0);
	assert_int_equal(k, TRACE_KIND_REDIS);
	assert_int_equal(trace_filter__parse_kind("postgres", &k), 0);
	assert_int_equal(k, TRACE_KIND_POSTGRES);
	assert_int_equal(trace_filter__parse_kind("mysql", &k), -22);
	assert_int_equal(trace_filter__parse_kind("", &k), -22);
}

static void test_check(void **state)
{
	const char *why = NULL;
	struct trace_filter f = { .kind = TRACE_KIND_REDIS, .command = "get", .errors = true };

	assert_int_equal(trace_filter__check(&f, false, &why), 0);
	/* Nothing decoded with --raw: a filter on what decoded events say would print nothing. */
	assert_int_equal(trace_filter__check(&f, true, &why), -22);
	assert_non_null(strstr(why, "--raw"));
	f = (struct trace_filter){ .server = ":6379", .kind = TRACE_KIND_REDIS, .count = 5 };
	assert_int_equal(trace_filter__check(&f, true, &why), 0);
	f = (struct trace_filter){ .kind = TRACE_KIND_REDIS, .query = "select" };
	assert_int_equal(trace_filter__check(&f, false, &why), -22);
	f = (struct trace_filter){ .kind = TRACE_KIND_POSTGRES, .command = "get" };
	assert_int_equal(trace_filter__check(&f, false, &why), -22);
	f = (struct trace_filter){ .latency_set = true };
	assert_int_equal(trace_filter__check(&f, true, &why), -22);
}

static void test_latency(void **state)
{
	struct resp_record r = { .t_request = T0, .t_reply = T0 + MS(2) };
	struct pg_record pr = { .t_request = T0, .t_response = T0 + MS(3) };
	struct postgres_event e = { .r = &pr };

	assert_int_equal(trace_filter__redis_latency_ns(&r), MS(2));
	r.t_arrival = T0 - MS(40);
	assert_int_equal(trace_filter__redis_latency_ns(&r), MS(42));
	/* An arrival after the read cannot be the request's: the server's latency stands. */
	r.t_arrival = T0 + MS(1);
	assert_int_equal(trace_filter__redis_latency_ns(&r), MS(2));
	r.t_reply = T0 - 1;
	r.t_arrival = 0;
	assert_int_equal(trace_filter__redis_latency_ns(&r), 0);
	assert_int_equal(trace_filter__postgres_latency_ns(&e), MS(3));
	e.t_arrival = T0 - MS(7);
	assert_int_equal(trace_filter__postgres_latency_ns(&e), MS(10));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_kind),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_latency),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
