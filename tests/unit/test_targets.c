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

/* A TCP listener on 127.0.0.1 at a kernel-chosen port; returns the fd, the port in *port. */
static int listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static bool has_port(const uint16_t *ports, int n, uint16_t port)
{
	for (int i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

/* /proc/PID/net/tcp lists the whole network namespace: a port another process listens on (here
 * a child's) must not count as ours, or a busy host's ports fill the table and a postgres
 * backend's connection is taken for a client one. */
static void test_listen_ports_are_our_own(void **state)
{
	uint16_t mine, theirs, ports[64];
	int pipefd[2], fd = listener(&mine), n;
	pid_t child;

	assert_int_equal(pipe(pipefd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(fd); /* the child holds only its own listener */
		int cfd = listener(&theirs);

		if (write(pipefd[1], &theirs, sizeof(theirs)) != sizeof(theirs))
			_exit(1);
		pause();
		close(cfd);
		_exit(0);
	}
	assert_int_equal(read(pipefd[0], &theirs, sizeof(theirs)), sizeof(theirs));
	n = targets__listen_ports(getpid(), ports, 64);
	assert_true(has_port(ports, n, mine));
	assert_false(has_port(ports, n, theirs));
	n = targets__listen_ports(child, ports, 64);
	assert_true(has_port(ports, n, theirs));
	assert_false(has_port(ports, n, mine));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(fd);
	close(pipefd[0]);
	close(pipefd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pid_children),
		cmocka_unit_test(test_listen_ports_are_our_own),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
