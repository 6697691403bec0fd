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

/* Redis: memory units, redis.conf text, and a command line with a config file and options. */
static void test_redis(void **state)
{
	char dir[] = "/tmp/nx-test-redisconf-XXXXXX", conf[256];
	struct redis_conf rc = { 0 };
	pid_t pid;
	FILE *f;

	assert_int_equal(server_conf__redis_bytes("100"), 100);
	assert_int_equal(server_conf__redis_bytes("1k"), 1000);
	assert_int_equal(server_conf__redis_bytes("1KB"), 1024);
	assert_int_equal(server_conf__redis_bytes("64mb"), 64 << 20);
	assert_int_equal(server_conf__redis_bytes("2g"), 2000000000LL);
	assert_int_equal(server_conf__redis_bytes("\"1gb\""), 1LL << 30);
	assert_int_equal(server_conf__redis_bytes("lots"), -1);
	assert_int_equal(server_conf__redis_bytes("5mbx"), -1);
	server_conf__parse_redis_text("# maxclients 5\nmaxclients 300\n  maxmemory 64mb\n"
				      "maxmemory-policy allkeys-lru\n", &rc);
	assert_int_equal(rc.maxclients, 300);
	assert_true(rc.maxmemory == 64 << 20);
	/* redis-server FILE --maxclients 42 (as with set-proc-title no): the option wins */
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/redis.conf", dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs("maxclients 300\nmaxmemory 1mb\n", f);
	fclose(f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "/bin/sh", "-c", "sleep 5", conf, "--maxclients", "42",
		      (char *)NULL);
		_exit(127);
	}
	usleep(100 * 1000);
	server_conf__redis((uint32_t)pid, &rc);
	assert_int_equal(rc.maxclients, 42);
	assert_true(rc.maxmemory == 1 << 20);
	assert_true(server_conf__rss_bytes((uint32_t)pid) > 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_true(server_conf__rss_bytes((uint32_t)pid) == 0);
	unlink(conf);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_redis),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
