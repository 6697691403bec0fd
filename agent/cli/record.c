// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * nexus-agent record: every ring-buffer record the probes write, byte for byte and in order, into
 * a recording (capture/recording.h), with what the agent learned from /proc on the way (the start
 * scan, conntrack's lookups, postgres backends' titles), so replay needs neither this host nor
 * root. The records still go through conntrack, which prunes the kernel's fd cache as processes
 * and connections go; nothing is decoded here. With --redact, DATA records are written masked
 * (capture/redact.h): conntrack's sink hands each one over with its connection, whose redaction
 * state hangs on nx_conn.proto.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "capture/pod_identity.h"
#include "capture/pg_title.h"
#include "capture/recording.h"
#include "capture/redact.h"
#include "cli/commands.h"
#include "cli/session.h"

#define COUNTERS_NS (1000 * 1000000ULL) /* the kernel's counters go in once a second */

struct recorder {
	struct session s;
	struct rec_writer *w;
	int err;	    /* the first failed write: the recording stops there */
	uint64_t records;   /* ring records written */
	uint64_t last_counters;
	const char *pod_logs_dir; /* --pod-logs-dir */
	/* --redact */
	bool redact;
	struct redact_stats rst;
	const void *rec;  /* what on_ring writes: the ring's record, or scratch masked */
	uint8_t scratch[sizeof(struct nx_data_event) + NX_CHUNK_BYTES];
};

static void add(struct recorder *r, uint16_t kind, const void *data, uint32_t len, uint64_t ts)
{
	int err;

	if (r->err)
		return;
	err = rec_writer__add(r->w, kind, data, len, ts);
	if (err) {
		r->err = err;
		/* session__loop stops at a signal: the recording is broken from here on. */
		raise(SIGTERM);
	}
}

/* Each ring record: conntrack first (its /proc lookups are logged before the record that asked
 * for them, so a replay has the answer when it needs it), then the record itself. */
static void on_ring(void *ctx, const void *rec, size_t size)
{
	struct recorder *r = ctx;

	r->rec = rec;
	conntrack__record(r->s.ct, rec, size);
	if (r->redact && ((const struct nx_event_hdr *)rec)->type == NX_EV_DATA && r->rec == rec) {
		/* a DATA record conntrack did not hand over (malformed): nothing of it is kept */
		if (size > sizeof(struct nx_data_event) && size <= sizeof(r->scratch)) {
			memcpy(r->scratch, rec, size);
			memset(r->scratch + sizeof(struct nx_data_event), REDACT_MASK,
			       size - sizeof(struct nx_data_event));
			r->rec = r->scratch;
		}
	}
	add(r, REC_E_RING, r->rec, (uint32_t)size, ((const struct nx_event_hdr *)rec)->ts_ns);
	r->records++;
}

/* conntrack's sink, with --redact: a DATA record is copied and masked for on_ring to write. */
static void on_redact(void *ctx, const struct nx_record *rec)
{
	struct recorder *r = ctx;
	const struct nx_data_event *d = rec->data;
	struct nx_conn *c = (struct nx_conn *)rec->conn; /* ours to hang state on (nx_conn.proto) */
	struct redact_conn *rc = NULL;
	uint32_t cap;

	if (rec->hdr->type != NX_EV_DATA || !d)
		return;
	cap = d->cap_len;
	if (sizeof(*d) + cap > sizeof(r->scratch))
		return; /* on_ring masks what it was not handed */
	memcpy(r->scratch, d, sizeof(*d) + cap);
	r->rec = r->scratch;
	if (c) {
		rc = c->proto;
		if (!rc) {
			/* what the pipeline would decode, by the same facts: the process's kind and
			 * a connection it serves; anything else is masked whole */
			enum redact_proto proto = REDACT_ALL;
			uint8_t kind = rec->proc ? rec->proc->kind : NX_KIND_OTHER;

			if (c->transport && c->role != NX_ROLE_UNKNOWN)
				proto = kind == NX_KIND_REDIS	   ? REDACT_REDIS
					: kind == NX_KIND_POSTGRES ? REDACT_POSTGRES
								   : REDACT_ALL;
			rc = c->proto = redact_conn__new(proto, c->role != NX_ROLE_CLIENT, &r->rst);
		}
	}
	if (!rc) {
		memset(r->scratch + sizeof(*d), REDACT_MASK, cap);
		return;
	}
	redact_conn__chunk(rc, d->dir == NX_DIR_IN, r->scratch + sizeof(*d), d->off, cap, d->len,
			   d->flags & NX_DATA_F_MORE, d->hdr.ts_ns);
}

static void on_release(void *ctx, struct nx_conn *c)
{
	(void)ctx;
	redact_conn__free(c->proto);
	c->proto = NULL;
}

static void fill_proc(struct rec_proc *p, uint32_t tgid, int rc, const struct target_info *ti)
{
	memset(p, 0, sizeof(*p));
	p->tgid = tgid;
	p->rc = rc;
	if (rc)
		return;
	p->ppid = (uint32_t)ti->ppid;
	p->kind = nx_kind_of_comm(ti->comm);
	memcpy(p->comm, ti->comm, sizeof(p->comm));
	memcpy(p->exe, ti->exe, sizeof(p->exe));
}

static int log_describe(void *ctx, uint32_t tgid, struct target_info *ti)
{
	struct recorder *r = ctx;
	int rc = targets__describe((pid_t)tgid, ti);
	struct rec_proc p;

	fill_proc(&p, tgid, rc, ti);
	add(r, REC_E_DESCRIBE, &p, sizeof(p), nx_now_ns());
	return rc;
}

static int log_listen_ports(void *ctx, uint32_t tgid, uint16_t *ports, int max)
{
	struct recorder *r = ctx;
	struct rec_listen l = { .tgid = tgid };
	int n = targets__listen_ports((pid_t)tgid, ports, max);

	l.n = n < 0 ? 0 : (uint32_t)n;
	if (l.n > sizeof(l.ports) / sizeof(l.ports[0]))
		l.n = sizeof(l.ports) / sizeof(l.ports[0]);
	memcpy(l.ports, ports, l.n * sizeof(*ports));
	add(r, REC_E_LISTEN, &l, sizeof(l), nx_now_ns());
	return n;
}

static bool log_identify(void *ctx, uint32_t tgid, struct nx_identity *id)
{
	struct recorder *r = ctx;
	struct rec_identity e = { .tgid = tgid };

	e.found = pod_identity__lookup((pid_t)tgid, r->pod_logs_dir, id);
	e.id = *id;
	add(r, REC_E_IDENTITY, &e, sizeof(e), nx_now_ns());
	return e.found;
}

/* A target running before the recording: who it is, and for a postgres backend whose startup
 * the recording cannot hold, whom it serves (the pipeline would read its title). */
static void log_found(void *ctx, const struct target_info *ti)
{
	struct recorder *r = ctx;
	struct rec_title t = { .tgid = (uint32_t)ti->tgid };
	struct rec_proc p;

	fill_proc(&p, (uint32_t)ti->tgid, 0, ti);
	add(r, REC_E_FOUND, &p, sizeof(p), nx_now_ns());
	if (p.kind != NX_KIND_POSTGRES)
		return;
	t.rc = pg_title__read(t.tgid, t.user, sizeof(t.user), t.db, sizeof(t.db));
	add(r, REC_E_PG_TITLE, &t, sizeof(t), nx_now_ns());
}

static uint64_t tick(void *ctx, int n_records)
{
	struct recorder *r = ctx;
	uint64_t now = nx_now_ns(), k[NX_CNT__COUNT];

	if (now - r->last_counters < COUNTERS_NS)
		return r->last_counters + COUNTERS_NS;
	r->last_counters = now;
	if (!capture__counters(r->s.cap, k))
		add(r, REC_E_COUNTERS, k, sizeof(k), now);
	return now + COUNTERS_NS;
}

static void fill_header(struct rec_file_hdr *h, const struct nx_opts *o)
{
	struct timespec rt, mt;
	FILE *f;

	memset(h, 0, sizeof(*h));
	snprintf(h->agent_version, sizeof(h->agent_version), "%s", NX_VERSION);
	gethostname(h->hostname, sizeof(h->hostname) - 1);
	f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (f) {
		if (fgets(h->boot_id, sizeof(h->boot_id), f))
			h->boot_id[strcspn(h->boot_id, "\n")] = '\0';
		fclose(f);
	}
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	h->start_mono_ns = (uint64_t)mt.tv_sec * 1000000000ULL + (uint64_t)mt.tv_nsec;
	h->start_real_ns = (int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec;
	h->capture_bytes = o->capture_bytes;
	h->ring_bytes = o->ring_bytes;
	h->max_conns = o->max_conns;
	h->flags = (o->no_usdt ? 0 : REC_F_USDT) | (o->pg_exec_time ? REC_F_PG_EXEC_TIME : 0) |
		   (o->redis_uprobes ? REC_F_REDIS_UPROBES : 0) |
		   (capture__has_data_ready() ? REC_F_DATA_READY : 0);
}

int cmd_record(int argc, char **argv)
{
	struct recorder r = {};
	const struct conntrack_host host = {
		.describe = log_describe, .listen_ports = log_listen_ports,
		.identify = log_identify, .ctx = &r
	};
	const struct session_hooks hooks = {
		.record = on_ring, .host = &host, .found = log_found, .ctx = &r
	};
	uint64_t k[NX_CNT__COUNT] = {};
	struct rec_file_hdr h;
	struct nx_opts o;
	int err, cerr;

	if (opts__parse(NX_CMD_RECORD, argc, argv, &o))
		return NX_EXIT_USAGE;
	fill_header(&h, &o);
	r.pod_logs_dir = o.pod_logs_dir;
	r.redact = o.redact;
	/* Before attaching: a file that cannot be written stops us before any probe runs. */
	r.w = rec_writer__open(o.output, &h);
	if (!r.w) {
		fprintf(stderr, "nexus-agent: %s: %s\n", o.output, strerror(errno));
		return NX_EXIT_FAIL;
	}
	err = session__open_hooked(&r.s, &o,
				   o.redact ? (struct conntrack_sink){ .on_record = on_redact,
								       .on_release = on_release,
								       .ctx = &r }
					    : (struct conntrack_sink){},
				   &hooks);
	if (!err) {
		fprintf(stderr, "nexus-agent: recording to %s%s\n", o.output,
			o.redact ? " (redacted: values, AUTH and password messages masked)" : "");
		err = session__loop(&r.s, &o, tick, &r);
		capture__counters(r.s.cap, k);
	}
	session__close(&r.s);
	cerr = rec_writer__close(r.w, REC_E_COUNTERS, k, sizeof(k));
	if (err && !r.records) {
		/* Nothing was attached or nothing came: no file that looks like a recording. */
		unlink(o.output);
		return NX_EXIT_FAIL;
	}
	if (r.err || cerr) {
		fprintf(stderr, "nexus-agent: writing %s: %s\n", o.output,
			strerror(-(r.err ? r.err : cerr)));
		return NX_EXIT_FAIL;
	}
	if (!err)
		fprintf(stderr,
			"nexus-agent: recorded %llu records (%llu lost by the kernel) to %s\n",
			(unsigned long long)r.records, (unsigned long long)k[NX_CNT_LOST], o.output);
	if (!err && o.redact)
		fprintf(stderr, "nexus-agent: redacted %llu bytes; %llu stream directions lost "
			"their framing and were masked from there on\n",
			(unsigned long long)r.rst.masked, (unsigned long long)r.rst.desyncs);
	return err ? NX_EXIT_FAIL : 0;
}
