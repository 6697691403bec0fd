// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Option parsing: defaults, targets, bounds, and options a subcommand does not take. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_alerts),
		cmocka_unit_test(test_usdt),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_record_replay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
