// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Finding targets in /proc (targets.c): --pid takes the children that exist already. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
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

/* A listening TCP socket on 127.0.0.1 and a free port; returns the fd, its port in *port. */
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

static bool has_port(const uint16_t *ports, int n, uint16_t port)
{
	for (int i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

/*
 * More listeners in the namespace than the caller keeps: the process's own port (and, for a
 * child, its parent's) must still be among them.
 */
static void test_listen_ports_own_first(void **state)
{
	int pipefd[2], own_fd, go[2], n_self, n_child;
	uint16_t own, self_ports[8], child_ports[8], p;
	pid_t other, child;
	char c;

	/* another process holding 12 listeners (it dies with us, whatever happens) */
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(pipe(go), 0);
	other = fork();
	assert_true(other >= 0);
	if (other == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (int i = 0; i < 12; i++)
			listener(&p);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		if (read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	own_fd = listener(&own);
	n_self = targets__listen_ports(getpid(), self_ports, 8);
	/* a child without listeners of its own serves on its parent's (a postgres backend) */
	child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(own_fd);
		pause();
		_exit(0);
	}
	n_child = child > 0 ? targets__listen_ports(child, child_ports, 8) : 0;
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	close(own_fd);
	close(pipefd[0]);
	close(pipefd[1]);
	close(go[0]);
	close(go[1]);
	assert_true(child > 0);
	assert_int_equal(n_self, 8);
	assert_true(has_port(self_ports, n_self, own));
	assert_true(has_port(child_ports, n_child, own));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pid_children),
		cmocka_unit_test(test_listen_ports_own_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
