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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
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

static int listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/*
 * A process's listening ports are its own, not every listener of its network namespace (a host's
 * namespace has more than a process entry keeps); one that owns none gets the namespace's.
 */
static void test_listen_ports_own(void **state)
{
	uint16_t child_port, other_port, ports[4096]; /* a busy host has many listeners */
	int pipefd[2], other, n;
	bool has_other = false;
	pid_t child;

	assert_int_equal(pipe(pipefd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		uint16_t p;

		listener(&p);
		if (write(pipefd[1], &p, sizeof(p)) != sizeof(p))
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pipefd[0], &child_port, sizeof(child_port)), sizeof(child_port));
	other = listener(&other_port); /* ours, not the child's */
	n = targets__listen_ports(child, ports, 4096);
	assert_int_equal(n, 1);
	assert_int_equal(ports[0], child_port);
	/* a process that owns no listener (a backend) gets its parent's: ours, only */
	close(other);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	other = listener(&other_port);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		uint16_t p = 0;

		close(other);
		if (write(pipefd[1], &p, sizeof(p)) != sizeof(p))
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pipefd[0], &child_port, sizeof(child_port)), sizeof(child_port));
	n = targets__listen_ports(child, ports, 4096);
	for (int k = 0; k < n; k++)
		has_other |= ports[k] == other_port;
	assert_true(has_other);
	assert_int_equal(n, 1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(other);
	close(pipefd[0]);
	close(pipefd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pid_children),
		cmocka_unit_test(test_listen_ports_own),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
