// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Finding targets in /proc (targets.c): --pid takes the children that exist already. */
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
#include "capture/targets.h"

struct found {
	pid_t want;
	int hits, n;
};

static void on_found(void *ctx, const struct target_info *ti)
{
	struct found *f = ctx;

	f->n++;
	if (ti->tgid == f->want)
		f->hits++;
}

/* A postmaster's backends were forked before the agent started: --pid POSTMASTER finds them. */
static void test_pid_children(void **state)
{
	struct target_spec spec = { .n_pids = 1 };
	struct found f = {};
	pid_t child = fork();

	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	spec.pids[0] = getpid(); /* ourselves: never a target, our child is */
	f.want = child;
	assert_true(targets__scan(&spec, on_found, &f) >= 1);
	assert_int_equal(f.hits, 1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* gone: neither it nor children of it */
	memset(&f, 0, sizeof(f));
	spec.pids[0] = child;
	f.want = child;
	assert_int_equal(targets__scan(&spec, on_found, &f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pid_children),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
