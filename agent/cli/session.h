/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What run and trace share: attach the kernel side, find the targets already running, then drain
 * records until a signal or --duration, with a periodic tick for the caller.
 */
#ifndef NEXUS_SESSION_H
#define NEXUS_SESSION_H

#include "capture/capture.h"
#include "capture/conntrack.h"
#include "cli/opts.h"
#include "util.h"

struct pg_usdt;
struct redis_uprobes;

struct session {
	struct capture *cap;
	struct conntrack *ct;
	struct pg_usdt *pg;	      /* PostgreSQL's USDT probes; NULL with --no-usdt or unloadable */
	struct redis_uprobes *ru;     /* --redis-uprobes; NULL without */
	struct conntrack_sink sink;   /* the caller's; the session's own sits in front of it */
	int n_found;		      /* targets found running at start */
	const struct session_hooks *hooks; /* record's; NULL for run and trace */
};

/*
 * Runs after every drained batch (n_records handled, 0 when the poll timed out) and returns the
 * CLOCK_MONOTONIC ns by which it must run again (0: no deadline). The loop polls on a short
 * timeout while records flow and backs off while they do not, but never past that deadline.
 */
typedef uint64_t (*session_tick_fn)(void *ctx, int n_records);

/* 0, or -errno after printing why. */
int session__open(struct session *s, const struct nx_opts *o, struct conntrack_sink sink);
/* Runs until SIGINT/SIGTERM or o->duration; tick (if set) runs after every drained batch. */
int session__loop(struct session *s, const struct nx_opts *o, session_tick_fn tick, void *ctx);
void session__close(struct session *s);
/* Ends session__loop after the batch being drained, as SIGINT would (trace --count). */
void session__stop(void);

/* What record (issue 12) changes in a session; NULL members keep the defaults. */
struct session_hooks {
	capture_record_fn record; /* gets each ring record first; it calls conntrack__record */
	const struct conntrack_host *host; /* conntrack's /proc lookups */
	/* each target the start scan found, after conntrack has it */
	void (*found)(void *ctx, const struct target_info *ti);
	void *ctx;
};
int session__open_hooked(struct session *s, const struct nx_opts *o, struct conntrack_sink sink,
			 const struct session_hooks *hooks);


#endif /* NEXUS_SESSION_H */
