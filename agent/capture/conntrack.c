// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "capture/capture.h"
#include "capture/conntrack.h"
#include "capture/pod_identity.h"
#include "capture/targets.h"

/* One container's identity, shared by its processes (a postmaster and its backends). */
struct ident_node {
	struct nx_identity id; /* first: nx_proc.ident points here */
	uint32_t refs;
	struct ident_node *next;
};

struct conntrack {
	struct conn_table *conns;
	struct proc_table *procs;
	struct capture *cap;
	struct conntrack_sink sink;
	struct conntrack_stats st;
	struct conntrack_host host; /* describe/listen_ports NULL: this host's /proc */
	bool identify;
	const char *pod_logs_dir;
	struct ident_node *idents; /* of the processes in the table, each once */
};

void conntrack__set_host(struct conntrack *ct, const struct conntrack_host *host)
{
	ct->host = *host;
}

static int describe(struct conntrack *ct, uint32_t tgid, struct target_info *ti)
{
	if (ct->host.describe)
		return ct->host.describe(ct->host.ctx, tgid, ti);
	return targets__describe((pid_t)tgid, ti);
}

struct conntrack *conntrack__new(const struct conntrack_opts *opts, struct capture *cap,
				 struct conntrack_sink sink)
{
	struct conntrack *ct = calloc(1, sizeof(*ct));
	int err;

	if (!ct)
		return NULL;
	ct->cap = cap;
	ct->sink = sink;
	ct->identify = opts->identify;
	ct->pod_logs_dir = opts->pod_logs_dir;
	ct->conns = conn_table__new(opts->max_conns, sink.on_release, sink.ctx);
	ct->procs = ct->conns ? proc_table__new(opts->max_procs) : NULL;
	if (!ct->procs) {
		err = errno;
		conntrack__free(ct);
		errno = err;
		return NULL;
	}
	return ct;
}

void conntrack__free(struct conntrack *ct)
{
	if (!ct)
		return;
	conn_table__free(ct->conns);
	proc_table__free(ct->procs);
	while (ct->idents) {
		struct ident_node *n = ct->idents;

		ct->idents = n->next;
		free(n);
	}
	free(ct);
}

static const struct nx_identity *ident_hold(const struct nx_identity *id)
{
	if (id)
		((struct ident_node *)id)->refs++;
	return id;
}

static void ident_put(struct conntrack *ct, const struct nx_identity *id)
{
	struct ident_node **pp;

	if (!id || --((struct ident_node *)id)->refs)
		return;
	for (pp = &ct->idents; *pp; pp = &(*pp)->next)
		if (&(*pp)->id == id) {
			struct ident_node *n = *pp;

			*pp = n->next;
			free(n);
			return;
		}
}

/* The shared node equal to id, made when none is; NULL when out of memory. */
static const struct nx_identity *ident_intern(struct conntrack *ct, const struct nx_identity *id)
{
	struct ident_node *n;

	for (n = ct->idents; n; n = n->next)
		if (!memcmp(&n->id, id, sizeof(*id)))
			return ident_hold(&n->id);
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->id = *id;
	n->refs = 1;
	n->next = ct->idents;
	ct->idents = n;
	return &n->id;
}

/* Takes over a reference the caller holds; the process's former one is let go. */
static void set_ident(struct conntrack *ct, struct nx_proc *p, const struct nx_identity *id)
{
	const struct nx_identity *old = p->ident;

	p->ident = id;
	ident_put(ct, old);
}

/* Which container and pod a process met now runs in: once per process, never per record. */
static void identify(struct conntrack *ct, struct nx_proc *p)
{
	struct nx_identity id;
	bool found;

	if (ct->host.identify)
		found = ct->host.identify(ct->host.ctx, p->tgid, &id);
	else
		found = ct->identify && !ct->host.describe &&
			pod_identity__lookup((pid_t)p->tgid, ct->pod_logs_dir, &id);
	set_ident(ct, p, found ? ident_intern(ct, &id) : NULL);
}

static void set_comm(struct nx_proc *p, const char *comm)
{
	if (comm && *comm) {
		/* A record's comm is NX_COMM_LEN bytes, NUL-terminated only if the kernel (or a
		 * recording's author) did so: never read past it. */
		size_t n = strnlen(comm, sizeof(p->comm) - 1);

		memcpy(p->comm, comm, n);
		p->comm[n] = '\0';
		p->kind = nx_kind_of_comm(p->comm);
	}
}

static void learn_listen_ports(struct conntrack *ct, struct nx_proc *p)
{
	int max = sizeof(p->listen_ports) / sizeof(p->listen_ports[0]);

	if (ct->host.listen_ports)
		p->n_listen = ct->host.listen_ports(ct->host.ctx, p->tgid, p->listen_ports, max);
	else
		p->n_listen = targets__listen_ports(p->tgid, p->listen_ports, max);
}

struct nx_proc *conntrack__add_proc(struct conntrack *ct, uint32_t tgid, uint32_t ppid,
				    const char *comm, const char *exe)
{
	struct nx_proc *p = proc_table__get(ct->procs, tgid);

	if (!p)
		return NULL;
	p->ppid = ppid;
	set_comm(p, comm);
	if (exe)
		snprintf(p->exe, sizeof(p->exe), "%s", exe);
	learn_listen_ports(ct, p);
	identify(ct, p);
	return p;
}

/* The process a record belongs to; one we have not met yet is read from /proc once. */
static struct nx_proc *proc_of(struct conntrack *ct, uint32_t tgid, const char *comm)
{
	struct nx_proc *p = proc_table__lookup(ct->procs, tgid);
	struct target_info ti;

	if (p)
		return p;
	if (describe(ct, tgid, &ti) == 0)
		return conntrack__add_proc(ct, tgid, ti.ppid, comm && *comm ? comm : ti.comm, ti.exe);
	return conntrack__add_proc(ct, tgid, 0, comm, NULL);
}

static void add_listen_port(struct nx_proc *p, uint16_t port)
{
	int max = sizeof(p->listen_ports) / sizeof(p->listen_ports[0]);

	for (int i = 0; i < p->n_listen; i++)
		if (p->listen_ports[i] == port)
			return;
	if (p->n_listen < max) {
		p->listen_ports[p->n_listen++] = port;
		return;
	}
	/* Full: an accept is first-hand knowledge, so it pushes out the oldest port. */
	memmove(p->listen_ports, p->listen_ports + 1, (max - 1) * sizeof(p->listen_ports[0]));
	p->listen_ports[max - 1] = port;
}

/*
 * Who serves whom. accept and connect say it; for a connection that was open before we looked
 * (or that a postgres backend inherited from the postmaster's accept), a TCP connection on a
 * listening port was accepted, and a Unix socket bound to the path is the listener's side.
 */
static uint8_t role_of(const struct nx_conn_event *ev, const struct nx_proc *p)
{
	if (ev->how == NX_OPEN_ACCEPT)
		return NX_ROLE_SERVER;
	if (ev->how == NX_OPEN_CONNECT)
		return NX_ROLE_CLIENT;
	if (ev->transport == NX_TRANSPORT_UNIX)
		return ev->flags & NX_CONN_F_PATH_LOCAL ? NX_ROLE_SERVER : NX_ROLE_CLIENT;
	if (p) {
		for (int i = 0; i < p->n_listen; i++)
			if (p->listen_ports[i] == ev->lport)
				return NX_ROLE_SERVER;
		if (p->n_listen)
			return NX_ROLE_CLIENT;
	}
	/* Nothing known: ephemeral ports start at 32768 on Linux by default. */
	return ev->lport < 32768 ? NX_ROLE_SERVER : NX_ROLE_CLIENT;
}

static void emit(struct conntrack *ct, const struct nx_event_hdr *hdr,
		 const struct nx_data_event *data, const struct nx_conn *c, const struct nx_proc *p,
		 uint32_t exit_code)
{
	struct nx_record r = {
		.hdr = hdr, .data = data, .conn = c, .proc = p, .exit_code = exit_code
	};

	if (hdr->type == NX_EV_CONN_STATE)
		r.state = ((const struct nx_conn_event *)hdr)->new_state;

	if (ct->sink.on_record)
		ct->sink.on_record(ct->sink.ctx, &r);
}

static struct nx_conn *insert_conn(struct conntrack *ct, struct nx_proc *p, uint32_t tgid,
				   uint32_t fd)
{
	struct nx_conn evicted;
	struct nx_conn *c;

	c = conn_table__insert(ct->conns, tgid, fd, p ? &p->conns : NULL, &evicted);
	if (evicted.tgid) {
		ct->st.conn_evictions++;
		if (ct->cap)
			capture__forget_fd(ct->cap, evicted.tgid, evicted.fd);
	}
	return c;
}

static void on_conn_open(struct conntrack *ct, const struct nx_conn_event *ev)
{
	struct nx_proc *p = proc_of(ct, ev->hdr.tgid, ev->comm);
	struct nx_conn *c = insert_conn(ct, p, ev->hdr.tgid, ev->hdr.fd);

	c->sock_id = ev->sock_id;
	c->transport = ev->transport;
	c->lport = ev->lport;
	c->rport = ev->rport;
	memcpy(c->laddr, ev->laddr, sizeof(c->laddr));
	memcpy(c->raddr, ev->raddr, sizeof(c->raddr));
	memcpy(c->path, ev->path, sizeof(c->path));
	c->path[sizeof(c->path) - 1] = '\0';
	c->role = role_of(ev, p);
	if (p && ev->how == NX_OPEN_ACCEPT && ev->transport != NX_TRANSPORT_UNIX)
		add_listen_port(p, ev->lport);
	c->opened_ns = c->last_ns = ev->hdr.ts_ns;
	ct->st.conns_opened++;
	emit(ct, &ev->hdr, NULL, c, p, 0);
}

/* The connection a record names, if the fd still holds the same socket. */
static struct nx_conn *conn_of(struct conntrack *ct, const struct nx_event_hdr *h, uint64_t sock_id)
{
	struct nx_conn *c = conn_table__lookup(ct->conns, h->tgid, h->fd);

	return c && c->sock_id == sock_id ? c : NULL;
}

static void on_conn_close(struct conntrack *ct, const struct nx_conn_event *ev)
{
	struct nx_conn *c = conn_of(ct, &ev->hdr, ev->sock_id);

	if (!c)
		return;
	ct->st.conns_closed++;
	emit(ct, &ev->hdr, NULL, c, proc_table__lookup(ct->procs, c->tgid), 0);
	conn_table__remove(ct->conns, c);
}

static void on_conn_state(struct conntrack *ct, const struct nx_conn_event *ev)
{
	struct nx_conn *c = conn_of(ct, &ev->hdr, ev->sock_id);

	if (!c)
		return;
	c->peer_closed = true;
	emit(ct, &ev->hdr, NULL, c, proc_table__lookup(ct->procs, c->tgid), 0);
}

static void on_data(struct conntrack *ct, const struct nx_data_event *ev)
{
	struct nx_conn *c = conn_of(ct, &ev->hdr, ev->sock_id);
	struct nx_proc *p;

	if (!c) {
		/* Its CONN_OPEN was lost (ring full) or evicted: keep the bytes, without addresses. */
		p = proc_of(ct, ev->hdr.tgid, NULL);
		c = insert_conn(ct, p, ev->hdr.tgid, ev->hdr.fd);
		c->sock_id = ev->sock_id;
		c->opened_ns = ev->hdr.ts_ns;
		ct->st.orphan_chunks++;
	} else {
		p = proc_table__lookup(ct->procs, c->tgid);
		conn_table__touch(ct->conns, c);
	}
	c->last_ns = ev->hdr.ts_ns;
	c->chunks++;
	ct->st.chunks++;
	ct->st.bytes += ev->cap_len;
	if (ev->off == 0) { /* a syscall's first chunk: its byte count, once */
		if (ev->dir == NX_DIR_IN)
			c->bytes_in += ev->len;
		else
			c->bytes_out += ev->len;
		ct->st.syscall_bytes += ev->len;
	}
	emit(ct, &ev->hdr, ev, c, p, 0);
}

static void on_proc_start(struct conntrack *ct, const struct nx_proc_event *ev)
{
	struct nx_proc *parent = NULL, *p;
	struct target_info ti;

	if (ev->hdr.type == NX_EV_PROC_FORK)
		parent = proc_table__lookup(ct->procs, ev->ppid);
	if (parent) {
		/* A fork runs the parent's binary in the parent's namespaces: no /proc read needed. */
		p = proc_table__get(ct->procs, ev->hdr.tgid);
		if (p) {
			p->ppid = ev->ppid;
			set_comm(p, ev->comm);
			memcpy(p->exe, parent->exe, sizeof(p->exe));
			memcpy(p->listen_ports, parent->listen_ports, sizeof(p->listen_ports));
			p->n_listen = parent->n_listen;
			/* a child starts in its parent's cgroup: the same container */
			set_ident(ct, p, ident_hold(parent->ident));
		}
	} else if (describe(ct, ev->hdr.tgid, &ti) == 0) {
		p = conntrack__add_proc(ct, ev->hdr.tgid, ti.ppid, ev->comm, ti.exe);
	} else {
		p = conntrack__add_proc(ct, ev->hdr.tgid, ev->ppid, ev->comm, NULL);
	}
	if (!p)
		return;
	p->seen_ns = ev->hdr.ts_ns;
	emit(ct, &ev->hdr, NULL, NULL, p, 0);
}

static void drop_conn(void *ctx, const struct nx_conn *c)
{
	struct conntrack *ct = ctx;

	ct->st.conns_closed++;
	if (ct->cap)
		capture__forget_fd(ct->cap, c->tgid, c->fd);
}

static void on_proc_exit(struct conntrack *ct, const struct nx_proc_event *ev)
{
	struct nx_proc *p = proc_table__lookup(ct->procs, ev->hdr.tgid);
	struct nx_proc gone;

	if (!p)
		return;
	/* Its sockets closed with it: no close() was seen for them. */
	conn_table__remove_list(ct->conns, &p->conns, drop_conn, ct);
	gone = *p;
	proc_table__remove(ct->procs, p);
	emit(ct, &ev->hdr, NULL, NULL, &gone, ev->exit_code);
	ident_put(ct, gone.ident);
}

void conntrack__record(void *ctx, const void *rec, size_t size)
{
	struct conntrack *ct = ctx;
	const struct nx_event_hdr *h = rec;

	ct->st.records++;
	switch (h->type) {
	case NX_EV_DATA: {
		const struct nx_data_event *ev = rec;

		if (size < sizeof(*ev) || size < sizeof(*ev) + ev->cap_len ||
		    ev->cap_len > NX_CHUNK_BYTES || (uint64_t)ev->off + ev->cap_len > ev->len)
			goto bad;
		on_data(ct, ev);
		break;
	}
	case NX_EV_CONN_OPEN:
	case NX_EV_CONN_CLOSE:
	case NX_EV_CONN_STATE:
		if (size < sizeof(struct nx_conn_event))
			goto bad;
		if (h->type == NX_EV_CONN_OPEN)
			on_conn_open(ct, rec);
		else if (h->type == NX_EV_CONN_CLOSE)
			on_conn_close(ct, rec);
		else
			on_conn_state(ct, rec);
		break;
	case NX_EV_PROC_EXEC:
	case NX_EV_PROC_FORK:
	case NX_EV_PROC_EXIT:
		if (size < sizeof(struct nx_proc_event))
			goto bad;
		if (h->type == NX_EV_PROC_EXIT)
			on_proc_exit(ct, rec);
		else
			on_proc_start(ct, rec);
		break;
	case NX_EV_PG_USDT:
	case NX_EV_REDIS_CALL:
		if (size < (h->type == NX_EV_PG_USDT ? sizeof(struct nx_pg_usdt_event)
						     : sizeof(struct nx_redis_call_event)))
			goto bad;
		emit(ct, h, NULL, NULL, proc_table__lookup(ct->procs, h->tgid), 0);
		break;
	default:
		goto bad;
	}
	return;
bad:
	ct->st.bad_records++;
}

void conntrack__stats(const struct conntrack *ct, struct conntrack_stats *out)
{
	*out = ct->st;
	out->conns = conn_table__count(ct->conns);
	out->procs = proc_table__count(ct->procs);
	out->proc_drops = proc_table__drops(ct->procs);
}
