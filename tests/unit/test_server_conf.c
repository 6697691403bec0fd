// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Reading a server's settings from its command line and configuration files (server_conf.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "capture/server_conf.h"

static void test_parse(void **state)
{
	assert_int_equal(server_conf__parse_pg_int("max_connections = 200\n", "max_connections"),
			 200);
	/* comments, quotes, no spaces, case; the last setting wins, as in PostgreSQL */
	assert_int_equal(server_conf__parse_pg_int("#max_connections = 5\n"
						   "  MAX_CONNECTIONS='150' # a comment\n"
						   "max_connections=300\n",
						   "max_connections"),
			 300);
	assert_int_equal(server_conf__parse_pg_int("max_connections_extra = 9\n", "max_connections"),
			 0);
	assert_int_equal(server_conf__parse_pg_int("max_connections = abc\n", "max_connections"), 0);
	assert_int_equal(server_conf__parse_pg_int("max_connections = -4\n", "max_connections"), 0);
	assert_int_equal(server_conf__parse_pg_int("", "max_connections"), 0);
}

/* A process whose command line says -c max_connections=230, as `postgres -c ...` would. */
static void test_cmdline(void **state)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "/bin/sh", "-c", "sleep 5", "-c", "max_connections=230",
		      (char *)NULL);
		_exit(127);
	}
	usleep(100 * 1000);
	assert_int_equal(server_conf__pg_max_connections((uint32_t)pid), 230);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* a process that is gone says nothing */
	assert_int_equal(server_conf__pg_max_connections((uint32_t)pid), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_cmdline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
