// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * nexus-agent top: a running agent's APIs on one screen that refreshes itself (or, with --batch,
 * as text). Without --connect it reads the local agent at 127.0.0.1:9435; when none answers it
 * starts `nexus-agent run --listen 127.0.0.1:PORT` as its child and reads that one: the same
 * machinery and the same APIs, in a process of its own, so top never holds BPF objects itself.
 * The child dies with top: it is stopped on every exit path, and PR_SET_PDEATHSIG covers the
 * paths that run no code (SIGKILL).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/opts.h"
#include "cli/top_batch.h"
#include "cli/top_model.h"
#include "cli/top_screen.h"

#define DEFAULT_AGENT "127.0.0.1:9435"
#define CHILD_START_S 60.0 /* attaching can take a while on a busy node */
#define CHILD_STOP_S 10.0

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	stop_requested = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- HTTP --------------------------------------------------------------------------------- */

/* GET addr + path; the body when the agent answered 200 (free it), else NULL with why in err. */
static char *http_get(struct api_client *c, const char *addr, const char *path, char *err,
		      size_t errlen)
{
	long status;
	char *body = api_client__get(c, addr, path, &status, err, errlen);

	if (body && status != 200) {
		if (err)
			snprintf(err, errlen, "%.300s%.100s: HTTP %ld", addr, path, status);
		free(body);
		return NULL;
	}
	return body;
}

/* Reads every document into docs; how many could be read. */
static int fetch_all(struct api_client *c, const char *addr, struct top_docs *docs, char *err, size_t errlen)
{
	int ok = 0;

	err[0] = '\0';
	for (int i = 0; i < TOP_DOC__COUNT; i++) {
		docs->doc[i] = http_get(c, addr, top_model__paths[i], err[0] ? NULL : err, errlen);
		ok += docs->doc[i] != NULL;
		/* nothing answers: do not wait on every path in turn */
		if (!ok && i == 0)
			break;
	}
	return ok;
}

static void free_docs(struct top_docs *docs)
{
	for (int i = 0; i < TOP_DOC__COUNT; i++)
		free((char *)docs->doc[i]);
	memset(docs, 0, sizeof(*docs));
}

/*
 * One refresh into m; 0, or -1 with why in err (the model keeps its last figures). The agent
 * publishes all its snapshots at once each second and /api/v1/health dates them: when it moved
 * on while we read (its evaluation time differs after the reads), the documents may straddle
 * two publications, so they are read once more.
 */
static int refresh(struct api_client *c, const char *addr, struct top_model *m, char *err, size_t errlen)
{
	struct top_docs docs = {};
	int ok = 0, rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		char *again;
		bool same;

		free_docs(&docs);
		ok = fetch_all(c, addr, &docs, err, errlen);
		if (!ok || !docs.doc[TOP_DOC_HEALTH])
			break;
		again = http_get(c, addr, top_model__paths[TOP_DOC_HEALTH], NULL, 0);
		same = top_model__same_evaluation(docs.doc[TOP_DOC_HEALTH], again);
		free(again);
		if (same)
			break;
	}
	rc = ok ? top_model__update(m, &docs, now_s()) : -1;
	free_docs(&docs);
	if (rc && !err[0])
		snprintf(err, errlen, "%s%s: no figures could be read",
			 strstr(addr, "://") ? "" : "http://", addr);
	return rc ? -1 : 0;
}

/* --- the child agent ------------------------------------------------------------------------ */

struct child {
	pid_t pid;
	char addr[64];
	int log_fd; /* its stderr, shown when it fails: an unlinked file, nothing is left behind */
};

/* A loopback port nothing listens on now (the child binds it a moment later; if someone else
 * does first, the child exits and says so). */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -errno;
	if (!bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockname(fd, (struct sockaddr *)&sa, &len))
		port = ntohs(sa.sin_port);
	else
		port = -errno;
	close(fd);
	return port;
}

static void child_stop(struct child *ch)
{
	double deadline;
	int status;

	if (ch->log_fd >= 0)
		close(ch->log_fd);
	ch->log_fd = -1;
	if (ch->pid <= 0)
		return;
	kill(ch->pid, SIGTERM);
	deadline = now_s() + CHILD_STOP_S;
	while (waitpid(ch->pid, &status, WNOHANG) == 0) {
		if (now_s() > deadline) {
			kill(ch->pid, SIGKILL);
			waitpid(ch->pid, &status, 0);
			break;
		}
		usleep(20000);
	}
	ch->pid = 0;
}

static void child_log_tail(const struct child *ch)
{
	char buf[4096];
	off_t end = ch->log_fd >= 0 ? lseek(ch->log_fd, 0, SEEK_END) : -1;
	ssize_t n;

	if (end < 0)
		return;
	n = pread(ch->log_fd, buf, sizeof(buf) - 1,
		  end > (off_t)sizeof(buf) - 1 ? end - (off_t)(sizeof(buf) - 1) : 0);
	if (n > 0) {
		buf[n] = '\0';
		fprintf(stderr, "%s", buf);
	}
}

/* Starts `nexus-agent run --listen 127.0.0.1:PORT` and waits until its API answers. 0, or -1
 * after saying why. */
static int child_start(struct child *ch, struct api_client *c, const struct nx_opts *o)
{
	/* run --listen ADDR, then top's target options, passed on */
	char *argv[4 + 1 + 2 * (NX_MAX_EXEC_NAMES + NX_MAX_TARGET_PIDS) + 1] = { "nexus-agent",
										 "run", "--listen",
										 ch->addr };
	char pids[NX_MAX_TARGET_PIDS][16];
	int argc = 4;
	int port = free_port(), fd;
	pid_t parent = getpid();
	double deadline;

	if (port < 0) {
		fprintf(stderr, "nexus-agent top: no free loopback port: %s\n", strerror(-port));
		return -1;
	}
	snprintf(ch->addr, sizeof(ch->addr), "127.0.0.1:%d", port);
	if (o->top_no_defaults)
		argv[argc++] = "--no-default-targets";
	for (int i = 0; i < o->top_named; i++) {
		argv[argc++] = "--comm";
		argv[argc++] = (char *)o->spec.names[i];
	}
	for (int i = 0; i < o->spec.n_pids; i++) {
		snprintf(pids[i], sizeof(pids[i]), "%d", (int)o->spec.pids[i]);
		argv[argc++] = "--pid";
		argv[argc++] = pids[i];
	}
	fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "nexus-agent top: log file: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	ch->pid = fork();
	if (ch->pid < 0) {
		fprintf(stderr, "nexus-agent top: fork: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	if (ch->pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		/* Dies with top even when top cannot stop it (SIGKILL); its own process group, so
		 * the terminal's Ctrl-C reaches top, which stops it in order. */
		signal(SIGTERM, SIG_DFL); /* top's handler would only set a flag here */
		signal(SIGINT, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL); /* as `run` started from a shell has it */
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	ch->log_fd = fd;
	fprintf(stderr, "nexus-agent top: no agent at %s; starting one on %s (pid %d)\n",
		DEFAULT_AGENT, ch->addr, (int)ch->pid);
	deadline = now_s() + CHILD_START_S;
	while (!stop_requested && now_s() < deadline) {
		char *body;
		int status;

		if (waitpid(ch->pid, &status, WNOHANG) == ch->pid) {
			ch->pid = 0;
			fprintf(stderr, "nexus-agent top: the agent it started exited (%s %d):\n",
				WIFEXITED(status) ? "status" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			child_log_tail(ch);
			return -1;
		}
		body = http_get(c, ch->addr, "/api/v1/health", NULL, 0);
		if (body) {
			free(body);
			return 0;
		}
		usleep(200000);
	}
	if (!stop_requested) {
		fprintf(stderr,
			"nexus-agent top: the agent it started did not answer within %.0f s\n",
			CHILD_START_S);
		if (o->verbose)
			child_log_tail(ch);
	}
	child_stop(ch);
	return -1;
}

/* --- the loops ------------------------------------------------------------------------------ */

static int run_batch(struct api_client *c, const char *addr, const struct nx_opts *o)
{
	struct top_model m;
	char err[512];
	double next = now_s();
	int rc = 0;

	top_model__init(&m);
	/* A first read for the rates, then one table per interval. */
	refresh(c, addr, &m, err, sizeof(err));
	for (uint32_t i = 0; !stop_requested && (!o->top_iterations || i < o->top_iterations);
	     i++) {
		next += o->top_delay;
		while (!stop_requested && now_s() < next)
			usleep((useconds_t)(fmin(next - now_s(), 0.1) * 1e6));
		if (stop_requested)
			break;
		if (refresh(c, addr, &m, err, sizeof(err))) {
			fprintf(stderr, "nexus-agent top: %s\n", err);
			rc = NX_EXIT_FAIL;
			if (!m.has_prev)
				break;
			continue;
		}
		rc = 0;
		top_batch__print(stdout, &m.cur, (double)time(NULL));
	}
	top_model__free(&m);
	return rc;
}

static int run_screen(struct api_client *c, const char *addr, const char *source, const struct nx_opts *o)
{
	struct top_screen *sc =
		isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) ? top_screen__open(source) : NULL;
	struct top_model m;
	char err[512] = "", status[600] = "";
	double next = 0;
	bool have = false;
	int wait_ms;

	if (!sc) {
		fprintf(stderr,
			"nexus-agent top: no usable terminal (for scripts and logs: --batch)\n");
		return NX_EXIT_FAIL;
	}
	top_model__init(&m);
	while (!stop_requested) {
		double t = now_s();

		if (t >= next && !top_screen__paused(sc)) {
			if (refresh(c, addr, &m, err, sizeof(err)))
				snprintf(status, sizeof(status), "%s (showing the last figures)",
					 err);
			else
				status[0] = '\0', have = true;
			next = t + o->top_delay;
		} else if (top_screen__paused(sc)) {
			next = t; /* refresh at once on resume */
		}
		top_screen__draw(sc, have ? &m.cur : NULL,
				 status[0] ? status : (have ? NULL : "reading the agent..."));
		t = now_s();
		/* paused: wake once a second for the clock, else at the next refresh */
		wait_ms = top_screen__paused(sc) ? 1000
			  : next > t		 ? (int)fmin((next - t) * 1000, 1000) + 1
						 : 0;
		if (!top_screen__input(sc, have ? &m.cur : NULL, wait_ms))
			break;
	}
	top_screen__close(sc);
	top_model__free(&m);
	return 0;
}

int cmd_top(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART: getch returns */
	struct child ch = { .log_fd = -1 };
	const char *addr;
	char source[128];
	struct nx_opts o;
	struct api_client client, *c = &client;
	char *body;
	int rc;

	if (opts__parse(NX_CMD_TOP, argc, argv, &o))
		return NX_EXIT_USAGE;
	/* before the screen opens, so ncurses leaves these to us and every exit goes through
	 * the cleanup below */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (api_client__init(c, &o, "nexus-agent top", 3000)) {
		curl_global_cleanup();
		return NX_EXIT_USAGE;
	}
	addr = o.top_connect ? o.top_connect : DEFAULT_AGENT;
	body = http_get(c, addr, "/api/v1/health", NULL, 0);
	if (body) {
		free(body);
		snprintf(source, sizeof(source), "%s%s", strstr(addr, "://") ? "" : "http://", addr);
	} else if (o.top_connect) {
		char err[512];

		free(http_get(c, addr, "/api/v1/health", err, sizeof(err)));
		fprintf(stderr, "nexus-agent top: no agent answers at %s: %s\n", addr, err);
		api_client__free(c);
		return NX_EXIT_FAIL;
	} else if (child_start(&ch, c, &o)) {
		child_stop(&ch);
		api_client__free(c);
		return NX_EXIT_FAIL;
	} else {
		addr = ch.addr;
		snprintf(source, sizeof(source), "own agent http://%s", addr);
	}
	rc = o.top_batch ? run_batch(c, addr, &o) : run_screen(c, addr, source, &o);
	child_stop(&ch);
	api_client__free(c);
	curl_global_cleanup();
	return rc;
}
