// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "capture/pg_usdt.h"
#include "capture/privs.h"
#include "capture/redis_uprobes.h"
#include "cli/session.h"

/*
 * Poll timeout: records are submitted without wakeups, so this is how stale they can get while
 * they flow. A drain that finds nothing doubles it, up to NX_POLL_IDLE_MS, and the first record
 * brings it back: an idle agent wakes a few times a second instead of a hundred. A burst never
 * waits for the long timeout: the kernel side wakes the loop when the ring is an eighth full.
 */
#define NX_POLL_MS 10
#define NX_POLL_IDLE_MS 250

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = 1;
}

/* A postgres process: make sure its executable's USDT probes are attached (once per file). */
static void usdt_attach(struct session *s, uint32_t tgid)
{
	char msg[256];
	int rc;

	if (!s->pg)
		return;
	rc = pg_usdt__attach_pid(s->pg, tgid, msg, sizeof(msg));
	if (rc < 0 && rc != -ENOENT)
		fprintf(stderr, "nexus-agent: postgres USDT: %s\n", msg);
}

static void uprobe_attach(struct session *s, uint32_t tgid)
{
	char msg[256];
	int rc;

	if (!s->ru)
		return;
	rc = redis_uprobes__attach_pid(s->ru, tgid, msg, sizeof(msg));
	if (rc < 0 && rc != -ENOENT)
		fprintf(stderr, "nexus-agent: redis uprobes: %s\n", msg);
}

static void found(void *ctx, const struct target_info *ti)
{
	struct session *s = ctx;

	capture__set_target(s->cap, ti->tgid, true);
	conntrack__add_proc(s->ct, ti->tgid, ti->ppid, ti->comm, ti->exe);
	if (nx_kind_of_comm(ti->comm) == NX_KIND_POSTGRES)
		usdt_attach(s, ti->tgid);
	else if (nx_kind_of_comm(ti->comm) == NX_KIND_REDIS)
		uprobe_attach(s, ti->tgid);
	if (s->hooks && s->hooks->found)
		s->hooks->found(s->hooks->ctx, ti);
	s->n_found++;
}

/* In front of the caller's sink: a postgres exec'd after the start gets its probes attached. */
static void on_record(void *ctx, const struct nx_record *r)
{
	struct session *s = ctx;

	if (r->hdr->type == NX_EV_PROC_EXEC && r->proc && r->proc->kind == NX_KIND_POSTGRES)
		usdt_attach(s, r->proc->tgid);
	else if (r->hdr->type == NX_EV_PROC_EXEC && r->proc && r->proc->kind == NX_KIND_REDIS)
		uprobe_attach(s, r->proc->tgid);
	else if (r->hdr->type == NX_EV_PROC_EXIT && r->proc && r->proc->kind == NX_KIND_POSTGRES)
		pg_usdt__forget(s->pg, r->proc->tgid);
	else if (r->hdr->type == NX_EV_PROC_EXIT && r->proc && r->proc->kind == NX_KIND_REDIS)
		redis_uprobes__forget(s->ru, r->proc->tgid);
	if (s->sink.on_record)
		s->sink.on_record(s->sink.ctx, r);
}

static void on_release(void *ctx, struct nx_conn *c)
{
	struct session *s = ctx;

	if (s->sink.on_release)
		s->sink.on_release(s->sink.ctx, c);
}

int session__open(struct session *s, const struct nx_opts *o, struct conntrack_sink sink)
{
	return session__open_hooked(s, o, sink, NULL);
}

int session__open_hooked(struct session *s, const struct nx_opts *o, struct conntrack_sink sink,
			 const struct session_hooks *hooks)
{
	capture_record_fn record = hooks && hooks->record ? hooks->record : conntrack__record;
	struct capture_opts copts = {
		.capture_bytes = o->capture_bytes,
		.ring_bytes = o->ring_bytes,
		.max_fds = o->max_conns,
		.exec_names = o->spec.names,
		.n_exec_names = o->spec.n_names,
		.verbose = o->verbose,
	};
	/* Containers and pods are looked up here, once per process (record's hook logs them). */
	struct conntrack_opts topts = { .max_conns = o->max_conns, .max_procs = 16384,
					.identify = true, .pod_logs_dir = o->pod_logs_dir };
	struct sigaction sa = { .sa_handler = on_signal };
	char msg[256] = "";
	bool probes_ok;
	int err;

	memset(s, 0, sizeof(*s));
	s->hooks = hooks;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Name a missing capability now rather than report a bare EPERM later. */
	err = privs__check(stderr, !o->no_usdt, o->redis_uprobes, &probes_ok);
	if (err)
		return err;
	s->cap = capture__open(&copts, record, NULL, msg, sizeof(msg));
	if (!s->cap) {
		err = -errno;
		fprintf(stderr, "nexus-agent: %s\n", msg[0] ? msg : strerror(-err));
		return err;
	}
	s->sink = sink;
	s->ct = conntrack__new(&topts, s->cap,
			       (struct conntrack_sink){ .on_record = on_record,
							.on_release = on_release, .ctx = s });
	if (!s->ct) {
		err = -errno;
		fprintf(stderr, "nexus-agent: connection tables: %s\n", strerror(-err));
		session__close(s);
		return err;
	}
	if (hooks && hooks->host)
		conntrack__set_host(s->ct, hooks->host);
	capture__set_record_ctx(s->cap, hooks && hooks->record ? hooks->ctx : s->ct);
	if (!o->no_usdt && probes_ok) {
		s->pg = pg_usdt__open(s->cap, o->pg_exec_time, msg, sizeof(msg));
		if (!s->pg)
			fprintf(stderr, "nexus-agent: postgres USDT off: %s\n", msg);
	}
	if (o->redis_uprobes) {
		s->ru = redis_uprobes__open(s->cap, msg, sizeof(msg));
		if (!s->ru) {
			err = -errno;
			fprintf(stderr, "nexus-agent: --redis-uprobes: %s\n", msg);
			session__close(s);
			return err;
		}
	}
	/* Attached first, scanned second: a server exec'ing in between is caught by the kernel. */
	err = targets__scan(&o->spec, found, s);
	if (err < 0) {
		fprintf(stderr, "nexus-agent: scanning /proc: %s\n", strerror(-err));
		session__close(s);
		return err;
	}
	fprintf(stderr, "nexus-agent: attached, watching %d processes\n", s->n_found);
	return 0;
}

/* The poll timeout: the backoff, but no later than the next deadline (0: none). */
static int poll_timeout(int backoff_ms, uint64_t deadline)
{
	uint64_t now = nx_now_ns(), ms;

	if (!deadline)
		return backoff_ms;
	if (deadline <= now)
		return 0;
	/* Rounded up: waking a little early would only mean a second wakeup. */
	ms = (deadline - now + 999999) / 1000000;
	return ms < (uint64_t)backoff_ms ? (int)ms : backoff_ms;
}

int session__loop(struct session *s, const struct nx_opts *o, session_tick_fn tick, void *ctx)
{
	uint64_t end = o->duration > 0 ? nx_now_ns() + (uint64_t)(o->duration * 1e9) : 0;
	uint64_t deadline = end;
	int backoff = NX_POLL_MS;

	while (!stop_requested && (!end || nx_now_ns() < end)) {
		int n = capture__poll(s->cap, poll_timeout(backoff, deadline));

		if (n < 0) {
			fprintf(stderr, "nexus-agent: reading the ring buffer: %s\n", strerror(-n));
			return n;
		}
		if (n > 0)
			backoff = NX_POLL_MS;
		else if (backoff < NX_POLL_IDLE_MS)
			backoff = backoff * 2 < NX_POLL_IDLE_MS ? backoff * 2 : NX_POLL_IDLE_MS;
		deadline = tick ? tick(ctx, n) : 0;
		if (end && (!deadline || end < deadline))
			deadline = end;
	}
	/* Whatever is still in the ring buffer belongs to the run. */
	capture__poll(s->cap, 0);
	if (tick)
		tick(ctx, 0);
	return 0;
}

void session__stop(void)
{
	stop_requested = 1;
}

void session__close(struct session *s)
{
	pg_usdt__close(s->pg);
	s->pg = NULL;
	redis_uprobes__close(s->ru);
	s->ru = NULL;
	capture__close(s->cap);
	conntrack__free(s->ct);
	s->cap = NULL;
	s->ct = NULL;
}
