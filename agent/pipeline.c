// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "capture/endpoint.h"
#include "capture/pg_title.h"
#include "pipeline.h"
#include "proto/sql_fingerprint.h"
#include "util.h"

#define FP_CACHE_SLOTS 256
#define PG_BACKEND_SLOTS 4096 /* direct-mapped tgid -> connection of postgres backends */
#define READER_SLOTS 256      /* direct-mapped thread -> Redis connection it last read from */
#define EXEC_QUEUE 64	      /* call() times waiting for their command's reply, per connection */
#define PG_ARRIVALS 64	      /* reads of a postgres connection whose arrival is remembered */

struct pipeline {
	struct pipeline_opts opts;
	struct redis_stats *rs;
	struct postgres_stats *ps;
	struct pipeline_sink sink;
	struct resp_stats own_resp; /* when there is no redis_stats to hold them */
	struct resp_stats *resp_stats;
	struct pg_stats pg_wire;
	/* Normalising costs about 1 us per statement; prepared and extended-protocol statements
	 * repeat the same SQL text, so the last fingerprints are kept by a hash of that text. */
	struct fp_slot {
		uint64_t key; /* hash of the raw SQL; 0: empty */
		uint32_t len;
		struct sql_fingerprint fp;
	} fp_cache[FP_CACHE_SLOTS];
	/* A postgres backend serves one client connection: its USDT records (keyed by tgid) find
	 * the connection, and through it the server and database, here. A collision forgets the
	 * older backend, whose records then go by database oid like background processes'. */
	struct pg_backend_slot {
		uint32_t tgid;
		struct l7_conn *lc;
	} pg_backends[PG_BACKEND_SLOTS];
	uint64_t usdt_unattributed; /* USDT records of no known connection nor database */
	/* --redis-uprobes: a call() record belongs to the connection its thread read last (Redis
	 * runs the commands of a read before it reads again). */
	struct reader_slot {
		uint32_t tid;
		struct l7_conn *lc;
	} readers[READER_SLOTS];
	struct redis_exec_stats exec;
	/* A run of like commands answered by one write (a pipeline of GETs), counted into the
	 * statistics at once when the run ends: at the end of each chunk, or at an unlike command. */
	struct redis_run {
		struct l7_conn *lc; /* NULL: none */
		struct resp_record r; /* the first, with hits and misses summed over the run */
		uint32_t n;
	} run;
};

/* What hangs on nx_conn.proto for a client connection of a server we decode. */
struct l7_conn {
	struct pipeline *p;
	enum nx_server_kind kind;
	union {
		struct resp_conn *resp;
		struct pg_conn *pg;
	};
	uint32_t pid;
	char comm[NX_COMM_LEN];
	/* The two ends as text, in the same allocation right after the protocol's part (l7_size):
	 * "127.0.0.1:6379" takes 15 bytes, not NX_ENDPOINT_LEN. */
	const char *server, *client;
	/* Per direction (enum nx_dir), where the syscall being fed chunk by chunk stands: the next
	 * chunk's offset and the bytes still to come. A chunk the ring buffer lost shows as a jump,
	 * which the parser is told as a gap. */
	struct chunk_pos {
		uint64_t ts; /* the syscall's */
		uint32_t next;
		uint32_t left;
	} pos[2];
	/* What only one protocol needs, last: a Redis connection is allocated without the
	 * PostgreSQL part (l7_size), which is most of the struct. At 10,000 Redis connections that
	 * is 10 MB less. */
	union {
		struct { /* redis: call() times of commands executed but not yet answered, oldest first;
			  * allocated at the first one (--redis-uprobes only) */
			uint32_t exec_head, exec_n;
			uint64_t *exec_q;
		};
		struct { /* postgres */
			/* the (database, user, state) this connection is counted under */
			int pg_state;
			char pg_db[PG_NAME_LEN], pg_user[PG_NAME_LEN], pg_app[PG_NAME_LEN];
			char pg_client[NX_ENDPOINT_LEN]; /* the client's host: client without port */
			/* USDT figures since the last statement completed: the next one's */
			uint64_t usdt_hits, usdt_reads, usdt_lock_ns, usdt_exec_ns;
			/* when the bytes of the connection's last reads reached its socket, by the
			 * read's time: a statement's t_request is the time of a read, which finds its
			 * arrival here */
			struct read_arrival {
				uint64_t ts, arrived;
			} arrivals[PG_ARRIVALS];
			uint32_t arrivals_next;
		};
	};
};

/* Bytes to allocate for a connection of kind: the struct up to the end of its protocol's part. */
static size_t l7_size(enum nx_server_kind kind)
{
	if (kind == NX_KIND_REDIS)
		return offsetof(struct l7_conn, exec_q) + sizeof(((struct l7_conn *)0)->exec_q);
	return sizeof(struct l7_conn);
}

static struct reader_slot *reader_slot(struct pipeline *p, uint32_t tid)
{
	return &p->readers[nx_hash32(tid) % READER_SLOTS];
}

/* The call() record of the command that executed next on this thread's connection. */
static void on_redis_call(struct pipeline *p, const struct nx_redis_call_event *ev)
{
	struct reader_slot *slot = reader_slot(p, ev->hdr.pid);
	struct l7_conn *lc = slot->tid == ev->hdr.pid ? slot->lc : NULL;

	p->exec.calls++;
	if (!lc) {
		p->exec.orphans++;
		return;
	}
	if (!lc->exec_q) {
		lc->exec_q = malloc(EXEC_QUEUE * sizeof(*lc->exec_q));
		if (!lc->exec_q) {
			p->exec.dropped++;
			return;
		}
	}
	if (lc->exec_n == EXEC_QUEUE) {
		/* replies this far behind: the oldest can no longer be trusted to pair */
		lc->exec_head = (lc->exec_head + 1) % EXEC_QUEUE;
		lc->exec_n--;
		p->exec.dropped++;
	}
	lc->exec_q[(lc->exec_head + lc->exec_n) % EXEC_QUEUE] = ev->exec_ns;
	lc->exec_n++;
}

/*
 * The execution time of a command whose reply just came, or 0: commands refused before they ran
 * and those queued in MULTI (EXEC's own call() covers them) had no call() of their own.
 */
static uint64_t take_exec(struct l7_conn *lc, const struct resp_record *r)
{
	uint64_t ns;

	if (r->rejected || r->in_multi)
		return 0;
	if (!lc->exec_n) {
		lc->p->exec.unmatched++;
		return 0;
	}
	ns = lc->exec_q[lc->exec_head];
	lc->exec_head = (lc->exec_head + 1) % EXEC_QUEUE;
	lc->exec_n--;
	return ns;
}

static struct pg_backend_slot *pg_backend_slot(struct pipeline *p, uint32_t tgid)
{
	return &p->pg_backends[nx_hash32(tgid) % PG_BACKEND_SLOTS];
}

static struct l7_conn *pg_backend_of(struct pipeline *p, uint32_t tgid)
{
	struct pg_backend_slot *slot = pg_backend_slot(p, tgid);

	return slot->tgid == tgid ? slot->lc : NULL;
}

static void run_flush(struct pipeline *p)
{
	struct redis_run *run = &p->run;

	if (!run->lc)
		return;
	redis_stats__commands_ok(p->rs, run->lc->server, run->lc->pid, &run->r, run->n,
				 run->r.t_reply);
	run->lc = NULL;
}

/* Whether r can join a run: a success with at most one key whose hit or miss is known. */
static bool run_member(const struct resp_record *r)
{
	return r->status == RESP_OK && r->n_keys <= 1 &&
	       !(r->counts_keyspace && r->n_keys && r->keys[0].hit < 0);
}

/* memcmp(a, b, n) == 0 for n a multiple of 8, inlined (gcc calls memcmp for these sizes) */
static inline bool same_words(const void *a, const void *b, size_t n)
{
	uint64_t d = 0, x, y;

#pragma GCC unroll 8
	for (size_t i = 0; i < n; i += 8) {
		memcpy(&x, (const char *)a + i, 8);
		memcpy(&y, (const char *)b + i, 8);
		d |= x ^ y;
	}
	return !d;
}

/* (command and key prefixes are NUL-padded: comparing all their bytes is a strcmp) */
static bool run_continues(const struct redis_run *run, const struct l7_conn *lc,
			  const struct resp_record *r)
{
	const struct resp_record *f = &run->r;

	return run->lc == lc && f->t_reply == r->t_reply && f->t_request == r->t_request &&
	       f->t_arrival == r->t_arrival &&
	       f->n_keys == r->n_keys && f->blocking == r->blocking &&
	       f->counts_keyspace == r->counts_keyspace &&
	       same_words(f->command, r->command, sizeof(r->command)) &&
	       (!r->n_keys ||
		same_words(f->keys[0].prefix, r->keys[0].prefix, sizeof(r->keys[0].prefix)));
}

static void run_start(struct redis_run *run, struct l7_conn *lc, const struct resp_record *r)
{
	/* The record without the keys it does not use: most of its size. */
	memcpy(&run->r, r, offsetof(struct resp_record, keys));
	if (r->n_keys)
		run->r.keys[0] = r->keys[0];
	run->r.hits = r->hits;
	run->r.misses = r->misses;
	run->r.t_arrival = r->t_arrival;
	run->r.t_request = r->t_request;
	run->r.t_reply = r->t_reply;
	run->lc = lc;
	run->n = 1;
}

/* Statistics of one command, through the current run when it can be one. */
static void count_command(struct l7_conn *lc, const struct resp_record *r)
{
	struct pipeline *p = lc->p;

	if (!run_member(r)) {
		run_flush(p);
		redis_stats__command(p->rs, lc->server, lc->pid, r, r->t_reply);
	} else if (run_continues(&p->run, lc, r)) {
		p->run.r.hits += r->hits;
		p->run.r.misses += r->misses;
		p->run.n++;
	} else {
		run_flush(p);
		run_start(&p->run, lc, r);
	}
}

static void on_command(void *ctx, const struct resp_record *r)
{
	struct l7_conn *lc = ctx;
	struct redis_event e = {
		.r = r, .server = lc->server, .client = lc->client, .pid = lc->pid, .comm = lc->comm,
		.exec_ns = lc->p->opts.redis_exec ? take_exec(lc, r) : 0,
	};

	if (lc->p->rs) {
		count_command(lc, r);
		if (!r->blocking && r->t_reply >= r->t_request + RS_STALL_FLOOR_NS)
			redis_stats__stall(lc->p->rs, lc->server, lc->client, r);
		if (lc->p->opts.slow_ns && !r->blocking && resp_record__felt_ns(r) >= lc->p->opts.slow_ns)
			redis_stats__slow(lc->p->rs, lc->server, lc->client, r);
		if (e.exec_ns)
			redis_stats__exec(lc->p->rs, lc->server, r, e.exec_ns);
	}
	if (lc->p->sink.on_redis)
		lc->p->sink.on_redis(lc->p->sink.ctx, &e);
}

static bool pg_ready(int state)
{
	return state != PG_STATE_STARTUP && state != PG_STATE__COUNT;
}

/* Moves the connection's gauge to state (and to the identity it now knows), at now_ns. */
static void pg_track(struct l7_conn *lc, int state, uint64_t now_ns)
{
	const char *db = pg_conn__database(lc->pg), *user = pg_conn__user(lc->pg);
	const char *app = pg_conn__application(lc->pg);
	struct pg_conn_id old = { lc->pg_db, lc->pg_user, lc->pg_app, lc->pg_client };
	struct pg_conn_id now;

	/* A connection we joined after its startup never says who it is. */
	db = *db ? db : "(unknown)";
	user = *user ? user : "(unknown)";
	now = (struct pg_conn_id){ db, user, app, lc->pg_client };

	if (!lc->p->ps)
		return;
	if (state == lc->pg_state && !strcmp(db, lc->pg_db) && !strcmp(user, lc->pg_user) &&
	    !strcmp(app, lc->pg_app))
		return;
	postgres_stats__conn_state(lc->p->ps, lc->server, &old, lc->pg_state, PG_STATE__COUNT);
	if (pg_ready(state) && !pg_ready(lc->pg_state))
		postgres_stats__conn_ready(lc->p->ps, lc->server, &now, now_ns);
	snprintf(lc->pg_db, sizeof(lc->pg_db), "%s", db);
	snprintf(lc->pg_user, sizeof(lc->pg_user), "%s", user);
	snprintf(lc->pg_app, sizeof(lc->pg_app), "%s", app);
	lc->pg_state = state;
	if (state != PG_STATE__COUNT)
		postgres_stats__conn_state(lc->p->ps, lc->server, &now, PG_STATE__COUNT, state);
}

static int pg_state_of(char txn_status, int current)
{
	switch (txn_status) {
	case 'I': return PG_STATE_IDLE;
	case 'T': return PG_STATE_IDLE_IN_TXN;
	case 'E': return PG_STATE_IDLE_IN_TXN_ABORTED;
	}
	return current;
}

static const struct sql_fingerprint *fingerprint_of(struct pipeline *p, const struct pg_record *r)
{
	uint64_t h = nx_fnv1a64(NX_FNV64_INIT, r->sql, r->sql_len) | 1; /* never 0, the empty mark */
	struct fp_slot *slot;

	slot = &p->fp_cache[h % FP_CACHE_SLOTS];
	if (slot->key != h || slot->len != r->sql_len) {
		sql_fingerprint__compute(r->sql, r->sql_len, &slot->fp);
		slot->key = h;
		slot->len = r->sql_len;
	}
	return &slot->fp;
}

/* When the bytes of the read at ts reached the socket; 0 when not known (or forgotten). */
static uint64_t arrival_of(const struct l7_conn *lc, uint64_t ts)
{
	for (uint32_t i = 1; i <= PG_ARRIVALS; i++) {
		const struct read_arrival *a =
			&lc->arrivals[(lc->arrivals_next + PG_ARRIVALS - i) % PG_ARRIVALS];

		if (a->ts == ts)
			return a->arrived;
		if (!a->ts || a->ts < ts)
			return 0; /* older still: it is not there */
	}
	return 0;
}

static void on_statement(void *ctx, const struct pg_record *r)
{
	struct l7_conn *lc = ctx;
	/* A Query may hold several statements: they share one record and one fingerprint. */
	const struct sql_fingerprint *fp = fingerprint_of(lc->p, r);
	struct postgres_event e = {
		.r = r, .fp = fp, .server = lc->server, .client = lc->client, .pid = lc->pid,
		.comm = lc->comm, .t_arrival = arrival_of(lc, r->t_request),
	};

	if (lc->p->ps) {
		struct pg_query q = {
			.server = lc->server,
			.database = r->database[0] ? r->database : "(unknown)",
			.user = r->user[0] ? r->user : "(unknown)",
			.fingerprint = fp->id,
			.text = r->sql_unknown ? "(unknown statement)" : fp->text,
			.kind = sql_kind__name(fp->kind),
			.sqlstate = r->status == PG_ERROR ? r->sqlstate
				    : r->status == PG_UNKNOWN ? "unknown" : NULL,
			.rows = r->rows,
			.t_request = r->t_request,
			.t_response = r->t_response,
			.t_arrival = e.t_arrival,
			.buf_hits = lc->usdt_hits,
			.buf_reads = lc->usdt_reads,
			.lock_wait_ns = lc->usdt_lock_ns,
			.exec_ns = lc->usdt_exec_ns,
		};

		/* Pipelined statements answered together: the first takes what was flushed. */
		lc->usdt_hits = lc->usdt_reads = lc->usdt_lock_ns = lc->usdt_exec_ns = 0;
		postgres_stats__query(lc->p->ps, &q, r->t_response);
		pg_track(lc, pg_state_of(r->txn_status, lc->pg_state), r->t_response);
	}
	if (lc->p->sink.on_postgres)
		lc->p->sink.on_postgres(lc->p->sink.ctx, &e);
}

/* A client connection of a server we decode: Redis or PostgreSQL, served by the target. */
static enum nx_server_kind decoded_kind(const struct nx_record *r)
{
	if (!r->conn || !r->proc || !r->conn->transport || r->conn->role != NX_ROLE_SERVER)
		return NX_KIND_OTHER;
	return r->proc->kind;
}

/* "10.0.0.7:50412" -> "10.0.0.7", "[::1]:5000" -> "[::1]", "" (Unix socket) -> "local":
 * ports change with every connection, hosts are what a breakdown by client means. */
static void client_host(char *out, size_t len, const char *client)
{
	const char *colon = strrchr(client, ':');

	if (!*client)
		snprintf(out, len, "local");
	else
		snprintf(out, len, "%.*s", colon ? (int)(colon - client) : (int)strlen(client), client);
}

static struct l7_conn *l7_conn_of(struct pipeline *p, const struct nx_record *r,
				  enum nx_server_kind kind)
{
	struct nx_conn *c = (struct nx_conn *)r->conn; /* ours to hang state on: see nx_conn.proto */
	struct l7_conn *lc = c->proto;
	char server[NX_ENDPOINT_LEN], client[NX_ENDPOINT_LEN];
	size_t base, sl, cl;

	if (lc)
		return lc;
	fmt_conn_ends(c, server, client, sizeof(server));
	base = l7_size(kind);
	sl = strlen(server) + 1;
	cl = strlen(client) + 1;
	lc = calloc(1, base + sl + cl);
	if (!lc)
		return NULL;
	lc->server = memcpy((char *)lc + base, server, sl);
	lc->client = memcpy((char *)lc + base + sl, client, cl);
	lc->kind = kind;
	if (kind == NX_KIND_REDIS)
		lc->resp = resp_conn__new(&p->opts.resp, p->resp_stats);
	else
		lc->pg = pg_conn__new(&p->pg_wire);
	if (!lc->resp && !lc->pg) {
		free(lc);
		return NULL;
	}
	lc->p = p;
	lc->pid = r->proc->tgid;
	memcpy(lc->comm, r->proc->comm, sizeof(lc->comm));
	if (kind == NX_KIND_POSTGRES)
		client_host(lc->pg_client, sizeof(lc->pg_client), lc->client);
	c->proto = lc;
	if (kind == NX_KIND_REDIS && p->rs) {
		redis_stats__connection(p->rs, lc->server, +1);
		/* once per connection: a server restarted in (or out of) a container is seen anew */
		redis_stats__server_identity(p->rs, lc->server, r->proc->ident);
	} else if (kind == NX_KIND_POSTGRES) {
		struct pg_backend_slot *slot = pg_backend_slot(p, lc->pid);

		slot->tgid = lc->pid;
		slot->lc = lc;
		if (p->ps) {
			lc->pg_state = PG_STATE__COUNT;
			postgres_stats__conn_opened(p->ps, lc->server);
			/* A backend's parent is the postmaster: the server's identity across
			 * connections (target_gone, target_restarted). */
			postgres_stats__server_pid(p->ps, lc->server, r->proc->ppid);
			postgres_stats__server_identity(p->ps, lc->server, r->proc->ident);
			pg_track(lc, PG_STATE_STARTUP, r->hdr->ts_ns);
		}
	}
	return lc;
}

/*
 * A postgres connection whose startup the parser never saw (its backend was there before the
 * agent) is named by the backend's process title, read once: after the chunk that showed it. That
 * chunk cannot have completed a statement (the parser dropped all that was pending), so every
 * record of the connection carries the name. A title that says nothing leaves it "(unknown)".
 * (lc->pid is a live process of this host: a replay answers from the recording instead.)
 */
static void pg_feed(struct l7_conn *lc, bool in, const uint8_t *data, uint32_t cap, uint32_t len,
		    uint64_t ts)
{
	char user[PG_NAME_LEN], db[PG_NAME_LEN];
	const struct pipeline_opts *o = &lc->p->opts;
	bool was = pg_conn__anonymous(lc->pg);

	pg_conn__feed(lc->pg, in, data, cap, len, ts, on_statement, lc);
	if (was || !pg_conn__anonymous(lc->pg))
		return;
	if (!(o->pg_title ? o->pg_title(o->pg_title_ctx, lc->pid, user, sizeof(user), db,
					sizeof(db))
			  : pg_title__read(lc->pid, user, sizeof(user), db, sizeof(db))))
		pg_conn__identify(lc->pg, user, db);
}

/* Hands the parser `cap` bytes, followed by a gap up to `len` (len > cap: not captured). */
static void feed(struct l7_conn *lc, bool in, const uint8_t *data, uint32_t cap, uint32_t len,
		 uint64_t ts)
{
	if (lc->kind == NX_KIND_REDIS)
		resp_conn__feed(lc->resp, in, data, cap, len, ts, on_command, lc);
	else
		pg_feed(lc, in, data, cap, len, ts);
}

/*
 * A syscall's payload comes as one or more chunks (NX_DATA_F_MORE on all but the last), in order
 * and with the syscall's timestamp. The parser gets them as one stream; what the kernel could not
 * deliver (a chunk the full ring buffer dropped, the tail past --capture-bytes) is a gap of the
 * right length. A syscall still missing chunks when any other syscall of the connection shows up
 * has lost them: its gap is told first, so that bytes are never glued to the wrong place.
 */
static void feed_chunk(struct l7_conn *lc, const struct nx_data_event *d)
{
	static const uint8_t none[1];
	struct chunk_pos *pos = &lc->pos[d->dir & 1];
	bool in = d->dir == NX_DIR_IN;
	bool more = d->flags & NX_DATA_F_MORE;
	uint32_t from;

	for (int k = 0; k < 2; k++) {
		struct chunk_pos *o = &lc->pos[k];

		if (o->left && o->ts != d->hdr.ts_ns) {
			feed(lc, k == NX_DIR_IN, none, 0, o->left, d->hdr.ts_ns);
			o->left = 0;
		}
	}
	from = pos->left ? pos->next : 0; /* where this chunk should start */
	if (d->off > from)
		feed(lc, in, none, 0, d->off - from, d->hdr.ts_ns); /* chunks before it were lost */
	if (in && lc->kind == NX_KIND_REDIS) {
		resp_conn__set_arrival(lc->resp, d->arrived_ns);
	} else if (in && !d->off && d->arrived_ns) {
		lc->arrivals[lc->arrivals_next] = (struct read_arrival){ d->hdr.ts_ns, d->arrived_ns };
		lc->arrivals_next = (lc->arrivals_next + 1) % PG_ARRIVALS;
	}
	feed(lc, in, d->data, d->cap_len, more ? d->cap_len : d->len - d->off, d->hdr.ts_ns);
	if (lc->p->rs)
		run_flush(lc->p);
	pos->ts = d->hdr.ts_ns;
	pos->next = d->off + d->cap_len;
	pos->left = more ? d->len - pos->next : 0;
}

static void on_pg_usdt(struct pipeline *p, const struct nx_pg_usdt_event *ev)
{
	struct l7_conn *lc = pg_backend_of(p, ev->hdr.tgid);
	struct pg_usdt_flush f = {
		.db_oid = ev->acc.db_oid,
		.buf_hits = ev->acc.buf_hits,
		.buf_reads = ev->acc.buf_reads,
		.lock_wait_ns = ev->acc.lock_wait_ns,
		.lock_waits = ev->acc.lock_waits,
		.outcome = ev->kind == NX_PG_COMMIT ? 1 : ev->kind == NX_PG_ABORT ? -1 : 0,
		.ts = ev->hdr.ts_ns,
	};

	if (!p->ps)
		return;
	if (lc) {
		lc->usdt_hits += f.buf_hits;
		lc->usdt_reads += f.buf_reads;
		lc->usdt_lock_ns += f.lock_wait_ns;
		lc->usdt_exec_ns += ev->acc.exec_ns;
		f.server = lc->server;
		/* The startup message names the database before the first statement tracks it. */
		f.database = *pg_conn__database(lc->pg) ? pg_conn__database(lc->pg) : "(unknown)";
	} else if (!postgres_stats__db_of_oid(p->ps, f.db_oid, &f.server, &f.database)) {
		/* autovacuum of a database no client has used yet, a backend we never saw... */
		p->usdt_unattributed++;
		return;
	}
	if (ev->kind == NX_PG_DEADLOCK)
		postgres_stats__deadlock(p->ps, f.server);
	postgres_stats__usdt(p->ps, &f);
}

static void on_record(void *ctx, const struct nx_record *r)
{
	struct pipeline *p = ctx;
	enum nx_server_kind kind = p->opts.decode ? decoded_kind(r) : NX_KIND_OTHER;
	struct l7_conn *lc;

	if (r->hdr->type == NX_EV_PG_USDT) {
		on_pg_usdt(p, (const struct nx_pg_usdt_event *)r->hdr);
		return;
	}
	if (r->hdr->type == NX_EV_REDIS_CALL) {
		on_redis_call(p, (const struct nx_redis_call_event *)r->hdr);
		return;
	}
	if (kind == NX_KIND_OTHER)
		goto other;
	if (r->hdr->type == NX_EV_CONN_OPEN) {
		/* Redis connections count from their accept. A postgres connection counts from its
		 * first bytes: the postmaster accepts and hands the socket to a forked backend. */
		if (kind == NX_KIND_REDIS)
			l7_conn_of(p, r, kind);
		return;
	}
	if (!r->data)
		goto other;
	lc = l7_conn_of(p, r, kind);
	if (!lc)
		goto other;
	if (kind == NX_KIND_REDIS && r->data->dir == NX_DIR_IN && p->opts.redis_exec) {
		struct reader_slot *slot = reader_slot(p, r->hdr->pid);

		slot->tid = r->hdr->pid;
		slot->lc = lc;
	}
	feed_chunk(lc, r->data);
	return;
other:
	if (p->sink.on_other)
		p->sink.on_other(p->sink.ctx, r);
}

static void on_release(void *ctx, struct nx_conn *c)
{
	struct pipeline *p = ctx;
	struct l7_conn *lc = c->proto;

	if (!lc)
		return;
	if (p->run.lc == lc)
		run_flush(p);
	if (lc->kind == NX_KIND_REDIS) {
		/* A thread's last reader must not outlive its connection. */
		for (int i = 0; i < READER_SLOTS; i++)
			if (p->readers[i].lc == lc)
				p->readers[i].tid = 0, p->readers[i].lc = NULL;
		if (p->rs)
			redis_stats__connection(p->rs, lc->server, -1);
		resp_conn__free(lc->resp);
		free(lc->exec_q);
	} else {
		struct pg_backend_slot *slot = pg_backend_slot(p, lc->pid);

		if (slot->lc == lc)
			slot->tgid = 0, slot->lc = NULL;
		pg_track(lc, PG_STATE__COUNT, 0);
		pg_conn__free(lc->pg);
	}
	free(lc);
	c->proto = NULL;
}

struct pipeline *pipeline__new(const struct pipeline_opts *o, struct redis_stats *rs,
			       struct postgres_stats *ps, struct pipeline_sink sink)
{
	struct pipeline *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->opts = *o;
	p->rs = rs;
	p->ps = ps;
	p->sink = sink;
	p->resp_stats = rs ? redis_stats__parser(rs) : &p->own_resp;
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

void pipeline__self_stats(const struct pipeline *p, const struct conntrack *ct,
			  struct self_stats *st)
{
	struct conntrack_stats cs;

	conntrack__stats(ct, &cs);
	st->records = cs.records;
	st->chunks = cs.chunks;
	st->bytes = cs.bytes;
	st->conns_opened = cs.conns_opened;
	st->conns_closed = cs.conns_closed;
	st->orphan_chunks = cs.orphan_chunks;
	st->conn_evictions = cs.conn_evictions;
	st->proc_drops = cs.proc_drops;
	st->bad_records = cs.bad_records;
	st->conns = cs.conns;
	st->parse_errors = p->resp_stats->parse_errors + p->pg_wire.parse_errors;
}

const struct resp_stats *pipeline__resp_stats(const struct pipeline *p)
{
	return p->resp_stats;
}

const struct pg_stats *pipeline__pg_stats(const struct pipeline *p)
{
	return &p->pg_wire;
}

void pipeline__pg_waiting_begin(struct pipeline *p)
{
	if (p->ps)
		postgres_stats__lock_waiting_begin(p->ps);
}

void pipeline__pg_waiting(struct pipeline *p, uint32_t tgid, uint64_t waited_ns)
{
	struct l7_conn *lc = pg_backend_of(p, tgid);

	if (p->ps && lc)
		postgres_stats__lock_waiting(p->ps, lc->server,
					     *pg_conn__database(lc->pg) ? pg_conn__database(lc->pg)
									: "(unknown)",
					     waited_ns);
}

const struct redis_exec_stats *pipeline__redis_exec_stats(const struct pipeline *p)
{
	return &p->exec;
}

uint64_t pipeline__usdt_unattributed(const struct pipeline *p)
{
	return p->usdt_unattributed;
}
