// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Option parsing: defaults, targets, bounds, and options a subcommand does not take. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cli/opts.h"

static int parse(unsigned int cmd, struct nx_opts *o, int argc, char **argv)
{
	/* usage goes to stderr; keep test output readable */
	FILE *saved = stderr;
	int err;

	stderr = fopen("/dev/null", "w");
	err = opts__parse(cmd, argc, argv, o);
	fclose(stderr);
	stderr = saved;
	return err;
}

static void test_defaults(void **state)
{
	char *argv[] = { "run", NULL };
	struct nx_opts o;

	assert_int_equal(parse(NX_CMD_RUN, &o, 1, argv), 0);
	assert_string_equal(o.listen, ":9435");
	assert_int_equal(o.capture_bytes, NX_DEFAULT_CAPTURE);
	assert_int_equal(o.spec.n_names, 3);
	assert_string_equal(o.spec.names[0], "redis-server");
	assert_string_equal(o.spec.names[2], "postgres");
}

static void test_targets(void **state)
{
	char *argv[] = { "trace", "--no-default-targets", "--comm", "keydb-server", "--pid", "42",
			 "--json", "--capture-bytes", "4096", NULL };
	struct nx_opts o;

	assert_int_equal(parse(NX_CMD_TRACE, &o, 9, argv), 0);
	assert_int_equal(o.spec.n_names, 1);
	assert_string_equal(o.spec.names[0], "keydb-server");
	assert_int_equal(o.spec.n_pids, 1);
	assert_int_equal(o.spec.pids[0], 42);
	assert_true(o.json);
	assert_int_equal(o.capture_bytes, 4096);
}

static void test_alerts(void **state)
{
	char *argv[] = { "run", "--alerts", "/etc/nexus/alerts.yaml", "--alertmanager",
			 "http://127.0.0.1:9093", "--webhook", "https://hooks.example/x", NULL };
	char *off[] = { "run", "--no-alerts", NULL };
	struct nx_opts o;

	assert_int_equal(parse(NX_CMD_RUN, &o, 1, argv), 0);
	assert_null(o.alerts_file);
	assert_null(o.alertmanager_url);
	assert_false(o.no_alerts);
	assert_int_equal(parse(NX_CMD_RUN, &o, 7, argv), 0);
	assert_string_equal(o.alerts_file, "/etc/nexus/alerts.yaml");
	assert_string_equal(o.alertmanager_url, "http://127.0.0.1:9093");
	assert_string_equal(o.webhook_url, "https://hooks.example/x");
	assert_int_equal(parse(NX_CMD_RUN, &o, 2, off), 0);
	assert_true(o.no_alerts);
	{
		char *both[] = { "run", "--no-alerts", "--alerts", "a.yaml", NULL };

		assert_int_equal(parse(NX_CMD_RUN, &o, 4, both), -22);
	}
	{
		char *rb[] = { "run", "--runbook-url-base", "https://wiki.example/rb.md", NULL };
		char *none[] = { "run", "--runbook-url-base", "", NULL };
		char *bad[][4] = { { "run", "--runbook-url-base", "wiki.example/rb.md", NULL },
				   { "run", "--runbook-url-base", "https://x/rb.md#a", NULL },
				   { "run", "--runbook-url-base", "https://x/a b", NULL } };

		assert_int_equal(parse(NX_CMD_RUN, &o, 1, rb), 0);
		assert_null(o.runbook_url_base); /* not given: the file's, or the default */
		assert_int_equal(parse(NX_CMD_RUN, &o, 3, rb), 0);
		assert_string_equal(o.runbook_url_base, "https://wiki.example/rb.md");
		assert_int_equal(parse(NX_CMD_RUN, &o, 3, none), 0);
		assert_string_equal(o.runbook_url_base, ""); /* no links */
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_equal(parse(NX_CMD_RUN, &o, 3, bad[i]), -22);
	}
}

/* Flags that each parse but cannot go together. */
static void test_trace_filter_conflicts(void **state)
{
	char *cases[][5] = {
		{ "trace", "--kind", "postgres", "--command", "get" },
		{ "trace", "--kind", "redis", "--query", "select" },
		{ "trace", "--raw", "--errors", NULL },
		{ "trace", "--raw", "--min-latency", "0" },
		{ "trace", "--raw", "--command", "get" },
	};
	struct nx_opts o;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int argc = cases[i][3] ? (cases[i][4] ? 5 : 4) : 3;

		if (parse(NX_CMD_TRACE, &o, argc, cases[i]) != -22)
			fail_msg("accepted: %s %s %s %s", cases[i][1], cases[i][2],
				 cases[i][3] ? cases[i][3] : "", cases[i][4] ? cases[i][4] : "");
	}
}

static void test_usdt(void **state)
{
	char *argv[] = { "run", "--pg-exec-time", NULL };
	char *trace[] = { "trace", "--pg-exec-time", NULL };
	char *both[] = { "run", "--no-usdt", "--pg-exec-time", NULL };
	struct nx_opts o;

	/* Execution time costs three probe hits per statement: off unless asked for. */
	assert_int_equal(parse(NX_CMD_RUN, &o, 1, argv), 0);
	assert_false(o.pg_exec_time);
	assert_false(o.no_usdt);
	assert_int_equal(parse(NX_CMD_RUN, &o, 2, argv), 0);
	assert_true(o.pg_exec_time);
	assert_int_equal(parse(NX_CMD_TRACE, &o, 2, trace), 0);
	assert_true(o.pg_exec_time);
	assert_int_equal(parse(NX_CMD_RUN, &o, 3, both), -22);
}

static void test_trace_filters(void **state)
{
	char *argv[] = { "trace", "--server", ":6379", "--kind", "redis", "--command", "get",
			 "--min-latency", "1.5s", "--errors", "--client", "10.0.0.7", "--count",
			 "5", "--duration", "30", NULL };
	char *pg[] = { "trace", "--kind", "postgres", "--query", "pg_sleep", "--min-latency",
		       "100", NULL };
	char *none[] = { "trace", NULL };
	char *zero[] = { "trace", "--min-latency", "0", "--count", "1", NULL };
	char *raw[] = { "trace", "--raw", "--server", "/run/redis.sock", "--kind", "redis", NULL };
	struct nx_opts o;

	assert_int_equal(parse(NX_CMD_TRACE, &o, 1, none), 0);
	assert_null(o.filter.server);
	assert_int_equal(o.filter.kind, TRACE_KIND_ANY);
	assert_false(o.filter.latency_set);
	assert_int_equal(o.filter.count, 0);
	assert_int_equal(parse(NX_CMD_TRACE, &o, 16, argv), 0);
	assert_string_equal(o.filter.server, ":6379");
	assert_int_equal(o.filter.kind, TRACE_KIND_REDIS);
	assert_string_equal(o.filter.command, "get");
	assert_true(o.filter.latency_set);
	assert_int_equal(o.filter.min_latency_ns, 1500000000ULL);
	assert_true(o.filter.errors);
	assert_string_equal(o.filter.client, "10.0.0.7");
	assert_int_equal(o.filter.count, 5);
	assert_true(o.duration == 30);
	assert_int_equal(parse(NX_CMD_TRACE, &o, 7, pg), 0);
	assert_int_equal(o.filter.kind, TRACE_KIND_POSTGRES);
	assert_string_equal(o.filter.query, "pg_sleep");
	assert_int_equal(o.filter.min_latency_ns, 100000000ULL); /* a plain number is ms */
	assert_int_equal(parse(NX_CMD_TRACE, &o, 5, zero), 0);
	assert_true(o.filter.latency_set);
	assert_int_equal(o.filter.min_latency_ns, 0);
	/* Where raw chunks come from can be filtered; what they say cannot. */
	assert_int_equal(parse(NX_CMD_TRACE, &o, 6, raw), 0);
	assert_true(o.raw);
	assert_string_equal(o.filter.server, "/run/redis.sock");
}

/* A bad value prints why and the usage, which lists the filters; trace then exits 2. */
static void test_bad_trace_filter_usage(void **state)
{
	char *argv[] = { "trace", "--min-latency", "5h", NULL };
	static const char *const flags[] = { "--server ADDR", "--kind redis|postgres",
					     "--command SUBSTR", "--query SUBSTR",
					     "--min-latency DURATION", "--errors",
					     "--client SUBSTR", "--count N" };
	char *err = NULL, *out = NULL;
	size_t elen = 0, olen = 0;
	FILE *saved = stderr, *f;
	struct nx_opts o;
	int rc;

	stderr = open_memstream(&err, &elen);
	rc = opts__parse(NX_CMD_TRACE, 3, argv, &o);
	fclose(stderr);
	stderr = saved;
	assert_int_equal(rc, -22);
	assert_non_null(strstr(err, "invalid --min-latency"));
	assert_non_null(strstr(err, "Usage: nexus-agent"));
	assert_non_null(strstr(err, "--min-latency DURATION"));
	free(err);
	f = open_memstream(&out, &olen);
	opts__usage(f);
	fclose(f);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (!strstr(out, flags[i]))
			fail_msg("usage does not list %s", flags[i]);
	free(out);
}

static void test_bad(void **state)
{
	struct nx_opts o;
	char *cases[][3] = {
		{ "trace", "--bogus", NULL },		{ "run", "--capture-bytes", "abc" },
		{ "run", "--capture-bytes", "1048577" },	{ "run", "--capture-bytes", "-1" },
		{ "run", "--pid", "0" },		{ "run", "--listen", "9435" },
		{ "run", "--ring-mb", "3" },		{ "run", "--duration", "-2" },
		{ "run", "--json", NULL },		{ "check", "--listen", ":1" },
		{ "trace", "extra", NULL },		{ "run", "--comm", "/usr/bin/x" },
		{ "run", "--alerts", "" },		{ "run", "--alertmanager", "localhost:9093" },
		{ "run", "--webhook", "ftp://x" },	{ "trace", "--alerts", "a.yaml" },
		{ "check", "--no-alerts", NULL },	{ "run", "--alerts", NULL },
		{ "check", "--pg-exec-time", NULL },
		/* trace's filters */
		{ "trace", "--kind", "mysql" },		{ "trace", "--kind", "" },
		{ "trace", "--min-latency", "-1" },	{ "trace", "--min-latency", "10 ms" },
		{ "trace", "--min-latency", "abc" },	{ "trace", "--min-latency", "5h" },
		{ "trace", "--min-latency", "1e3" },	{ "trace", "--min-latency", "86401s" },
		{ "trace", "--count", "0" },		{ "trace", "--count", "-1" },
		{ "trace", "--count", "x" },		{ "trace", "--count", "4294967296" },
		{ "trace", "--server", "" },		{ "trace", "--client", "" },
		{ "trace", "--command", "" },		{ "trace", "--query", "" },
		{ "trace", "--count", NULL },		{ "run", "--command", "get" },
		{ "run", "--errors", NULL },		{ "check", "--count", "5" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int argc = cases[i][2] ? 3 : 2;
		unsigned int cmd = !strcmp(cases[i][0], "run")	 ? NX_CMD_RUN
				   : !strcmp(cases[i][0], "trace") ? NX_CMD_TRACE
								   : NX_CMD_CHECK;

		if (parse(cmd, &o, argc, cases[i]) != -22)
			fail_msg("accepted: %s %s %s", cases[i][0], cases[i][1],
				 cases[i][2] ? cases[i][2] : "");
	}
}

static void test_top(void **state)
{
	char *argv[] = { "top", "-d", "0.5", "--connect", "127.0.0.1:9999", "--batch", "-n", "3",
			 NULL };
	char *longs[] = { "top", "--delay", "2", "--iterations", "1", NULL };
	char *bad_delay[] = { "top", "-d", "0", NULL };
	char *bad_connect[] = { "top", "--connect", "nohost", NULL };
	char *not_run[] = { "run", "-d", "1", NULL };
	char *not_top[] = { "top", "--listen", ":1", NULL };
	struct nx_opts o;

	assert_int_equal(parse(NX_CMD_TOP, &o, 1, argv), 0);
	assert_null(o.top_connect);
	assert_false(o.top_batch);
	assert_float_equal(o.top_delay, 1.0, 1e-9);
	assert_int_equal(o.top_iterations, 0);
	assert_int_equal(parse(NX_CMD_TOP, &o, 8, argv), 0);
	assert_float_equal(o.top_delay, 0.5, 1e-9);
	assert_string_equal(o.top_connect, "127.0.0.1:9999");
	assert_true(o.top_batch);
	assert_int_equal(o.top_iterations, 3);
	assert_int_equal(parse(NX_CMD_TOP, &o, 5, longs), 0);
	assert_float_equal(o.top_delay, 2.0, 1e-9);
	assert_int_equal(o.top_iterations, 1);
	assert_int_equal(parse(NX_CMD_TOP, &o, 3, bad_delay), -EINVAL);
	assert_int_equal(parse(NX_CMD_TOP, &o, 3, bad_connect), -EINVAL);
	assert_int_equal(parse(NX_CMD_RUN, &o, 3, not_run), -EINVAL);
	assert_int_equal(parse(NX_CMD_TOP, &o, 3, not_top), -EINVAL);
}

/* record and replay (issue 12): the options they take, the ones they refuse, replay's FILE. */
static void test_record_replay(void **state)
{
	char *rec[] = { "record", "-o", "/tmp/x.nxr", "--duration", "5", "--pid", "42",
			"--no-usdt", NULL };
	char *rec_no_o[] = { "record", "--duration", "5", NULL };
	char *rec_json[] = { "record", "-o", "f", "--json", NULL };
	char *rep[] = { "replay", "f.nxr", "--listen", "127.0.0.1:1", "--speed", "2", NULL };
	char *rep_trace[] = { "replay", "--json", "--raw", "f.nxr", NULL };
	char *rep_none[] = { "replay", "--json", NULL };
	char *rep_two[] = { "replay", "a", "b", NULL };
	char *rep_pid[] = { "replay", "f", "--pid", "1", NULL };
	char *rep_speed[] = { "replay", "f", "--speed", "0", NULL };
	struct nx_opts o;

	assert_int_equal(parse(NX_CMD_RECORD, &o, 8, rec), 0);
	assert_string_equal(o.output, "/tmp/x.nxr");
	assert_true(o.no_usdt && o.duration == 5 && o.spec.n_pids == 1 && o.spec.n_names == 3);
	assert_int_not_equal(parse(NX_CMD_RECORD, &o, 3, rec_no_o), 0);
	assert_int_not_equal(parse(NX_CMD_RECORD, &o, 4, rec_json), 0);
	assert_int_equal(parse(NX_CMD_REPLAY, &o, 6, rep), 0);
	assert_string_equal(o.input, "f.nxr");
	assert_true(o.listen_given && o.speed == 2);
	assert_string_equal(o.listen, "127.0.0.1:1");
	assert_int_equal(parse(NX_CMD_REPLAY, &o, 4, rep_trace), 0);
	assert_true(o.json && o.raw && !o.listen_given);
	assert_string_equal(o.input, "f.nxr");
	assert_int_not_equal(parse(NX_CMD_REPLAY, &o, 2, rep_none), 0);
	assert_int_not_equal(parse(NX_CMD_REPLAY, &o, 3, rep_two), 0);
	assert_int_not_equal(parse(NX_CMD_REPLAY, &o, 4, rep_pid), 0);
	assert_int_not_equal(parse(NX_CMD_REPLAY, &o, 4, rep_speed), 0);
}

/* --pod-logs-dir: an absolute directory, for run, trace and check; not given: the default. */
static void test_pod_logs_dir(void **state)
{
	char *none[] = { "run", NULL };
	char *run[] = { "run", "--pod-logs-dir", "/var/log/pods", NULL };
	char *check[] = { "check", "--pod-logs-dir", "/host/var/log/pods", NULL };
	char *rel[] = { "trace", "--pod-logs-dir", "var/log/pods", NULL };
	char *top[] = { "top", "--pod-logs-dir", "/var/log/pods", NULL };
	struct nx_opts o;

	assert_int_equal(parse(NX_CMD_RUN, &o, 1, none), 0);
	assert_null(o.pod_logs_dir);
	assert_int_equal(parse(NX_CMD_RUN, &o, 3, run), 0);
	assert_string_equal(o.pod_logs_dir, "/var/log/pods");
	assert_int_equal(parse(NX_CMD_CHECK, &o, 3, check), 0);
	assert_string_equal(o.pod_logs_dir, "/host/var/log/pods");
	assert_int_equal(parse(NX_CMD_TRACE, &o, 3, rel), -22);
	assert_int_equal(parse(NX_CMD_TOP, &o, 3, top), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_alerts),
		cmocka_unit_test(test_usdt),
		cmocka_unit_test(test_trace_filters),
		cmocka_unit_test(test_bad_trace_filter_usage),
		cmocka_unit_test(test_trace_filter_conflicts),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_top),
		cmocka_unit_test(test_record_replay),
		cmocka_unit_test(test_pod_logs_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
