// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "capture/endpoint.h"
#include "pipeline.h"

struct pipeline {
	struct pipeline_opts opts;
	struct redis_stats *rs;
	struct pipeline_sink sink;
	struct resp_stats own_stats; /* when there is no redis_stats to hold them */
	struct resp_stats *resp_stats;
};

/* What hangs on nx_conn.proto for a Redis client connection. */
struct redis_conn {
	struct pipeline *p;
	struct resp_conn *parser;
	uint32_t pid;
	char comm[NX_COMM_LEN];
	char server[NX_ENDPOINT_LEN];
	char client[NX_ENDPOINT_LEN];
};

static void on_command(void *ctx, const struct resp_record *r)
{
	struct redis_conn *rc = ctx;
	struct redis_event e = {
		.r = r, .server = rc->server, .client = rc->client, .pid = rc->pid, .comm = rc->comm
	};

	if (rc->p->rs)
		redis_stats__command(rc->p->rs, rc->server, rc->pid, r, r->t_reply);
	if (rc->p->sink.on_redis)
		rc->p->sink.on_redis(rc->p->sink.ctx, &e);
}

static bool is_redis_server_conn(const struct nx_record *r)
{
	return r->conn && r->proc && r->proc->kind == NX_KIND_REDIS && r->conn->transport &&
	       r->conn->role == NX_ROLE_SERVER;
}

/* The parser of a Redis client connection, made at its first record. */
static struct redis_conn *redis_conn_of(struct pipeline *p, const struct nx_record *r)
{
	struct nx_conn *c = (struct nx_conn *)r->conn; /* ours to hang state on: see nx_conn.proto */
	struct redis_conn *rc = c->proto;

	if (rc)
		return rc;
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return NULL;
	rc->parser = resp_conn__new(&p->opts.resp, p->resp_stats);
	if (!rc->parser) {
		free(rc);
		return NULL;
	}
	rc->p = p;
	rc->pid = r->proc->tgid;
	memcpy(rc->comm, r->proc->comm, sizeof(rc->comm));
	fmt_conn_ends(c, rc->server, rc->client, sizeof(rc->server));
	c->proto = rc;
	if (p->rs)
		redis_stats__connection(p->rs, rc->server, +1);
	return rc;
}

static void on_record(void *ctx, const struct nx_record *r)
{
	struct pipeline *p = ctx;
	struct redis_conn *rc;

	if (!p->opts.decode || !is_redis_server_conn(r))
		goto other;
	if (r->hdr->type == NX_EV_CONN_OPEN) {
		redis_conn_of(p, r);
		return;
	}
	if (!r->data)
		goto other;
	rc = redis_conn_of(p, r);
	if (!rc)
		goto other;
	resp_conn__feed(rc->parser, r->data->dir == NX_DIR_IN, r->data->data, r->data->cap_len,
			r->data->len, r->hdr->ts_ns, on_command, rc);
	return;
other:
	if (p->sink.on_other)
		p->sink.on_other(p->sink.ctx, r);
}

static void on_release(void *ctx, struct nx_conn *c)
{
	struct pipeline *p = ctx;
	struct redis_conn *rc = c->proto;

	if (!rc)
		return;
	if (p->rs)
		redis_stats__connection(p->rs, rc->server, -1);
	resp_conn__free(rc->parser);
	free(rc);
	c->proto = NULL;
}

struct pipeline *pipeline__new(const struct pipeline_opts *o, struct redis_stats *rs,
			       struct pipeline_sink sink)
{
	struct pipeline *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->opts = *o;
	p->rs = rs;
	p->sink = sink;
	p->resp_stats = rs ? redis_stats__parser(rs) : &p->own_stats;
	return p;
}

void pipeline__free(struct pipeline *p)
{
	free(p);
}

struct conntrack_sink pipeline__conntrack_sink(struct pipeline *p)
{
	return (struct conntrack_sink){ .on_record = on_record, .on_release = on_release, .ctx = p };
}

const struct resp_stats *pipeline__resp_stats(const struct pipeline *p)
{
	return p->resp_stats;
}
