// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * PostgreSQL v3 request/response pairing. Client messages that get a response wait in a queue
 * (pgwire_queue.c), in order, and each server message answers the oldest one still waiting. The
 * server answers in the order it read, so a response that does not fit the message it would
 * answer means our view is wrong: everything pending is dropped (counted) and pairing resumes
 * only where it provably starts clean (pg_frame__lose()). This file says what each response
 * means for the message it answers, builds the records, and keeps what later messages refer to:
 * prepared statements, portals, and the SQL text they share within PG_SQL_BUDGET.
 */
#include <stdlib.h>
#include <string.h>
#include "proto/pgwire_int.h"
#include "util.h"

const char *const pg_severities[4] = { "", "ERROR", "FATAL", "PANIC" };

static uint64_t name_hash(const char *s, uint32_t n)
{
	return nx_fnv1a64(NX_FNV64_INIT, s, n);
}

/* --- SQL text and its budget ------------------------------------------------------------------ */

static struct pg_sql *sql_ref(struct pg_sql *s)
{
	if (s)
		s->refs++;
	return s;
}

/* One small freed blob is kept for the next statement: an unnamed Parse per query (pgbench -M
 * extended, most drivers) then costs no malloc/free. It stays counted in the budget. */
#define SPARE_MAX 512

void pg_sql__put(struct pg_conn *c, struct pg_sql *s)
{
	if (!s || --s->refs)
		return;
	if (!c->spare && s->size <= sizeof(*s) + SPARE_MAX) {
		c->spare = s;
		return;
	}
	c->sql_bytes -= s->size;
	free(s);
}

static void stmt_evict_lru(struct pg_conn *c);

/* Room for up to want bytes of SQL (capped at PG_SQL_MAX - 1, and by the budget: least recently
 * used statements are forgotten first, then the text is cut). NULL only when malloc fails. */
struct pg_sql *pg_sql__new(struct pg_conn *c, uint32_t want)
{
	uint32_t cap = want < PG_SQL_MAX - 1 ? want : PG_SQL_MAX - 1;
	size_t size = sizeof(struct pg_sql) + cap + 1;
	struct pg_sql *s;

	if (c->spare && c->spare->size >= size) {
		s = c->spare;
		c->spare = NULL;
		goto init;
	}
	while (c->sql_bytes + size > PG_SQL_BUDGET && c->n_stmts)
		stmt_evict_lru(c);
	if (c->sql_bytes + size > PG_SQL_BUDGET) {
		size_t room = PG_SQL_BUDGET > c->sql_bytes ? PG_SQL_BUDGET - c->sql_bytes : 0;

		cap = room > sizeof(*s) + 1 ? (uint32_t)(room - sizeof(*s) - 1) : 0;
		size = sizeof(struct pg_sql) + cap + 1;
	}
	s = malloc(size);
	if (!s)
		return NULL;
	s->size = (uint32_t)size;
	c->sql_bytes += size;
init:
	s->refs = 1;
	s->len = 0;
	s->cap = cap;
	s->truncated = false;
	s->has_fp = false;
	s->text[0] = '\0';
	return s;
}

/* --- prepared statements and portals ---------------------------------------------------------- */

static struct named *named_find(struct named *v, uint32_t n, uint64_t hash)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i].hash == hash)
			return &v[i];
	return NULL;
}

static void named_del(struct pg_conn *c, struct named *v, uint32_t *n, struct named *e)
{
	pg_sql__put(c, e->sql);
	*e = v[--*n];
}

static struct named *named_lru(struct named *v, uint32_t n)
{
	struct named *lru = &v[0];

	for (uint32_t i = 1; i < n; i++)
		if ((int32_t)(v[i].used - lru->used) < 0)
			lru = &v[i];
	return lru;
}

static void stmt_evict_lru(struct pg_conn *c)
{
	named_del(c, c->stmts, &c->n_stmts, named_lru(c->stmts, c->n_stmts));
	c->st->statements_evicted++;
}

static void stmt_put(struct pg_conn *c, uint64_t hash, struct pg_sql *sql)
{
	struct named *e = named_find(c->stmts, c->n_stmts, hash);

	if (!e) {
		if (c->n_stmts == c->stmts_cap) {
			uint32_t ncap = c->stmts_cap ? c->stmts_cap * 2 : 8;
			struct named *n;

			if (c->stmts_cap >= PG_MAX_STATEMENTS) {
				stmt_evict_lru(c);
			} else if ((n = realloc(c->stmts, ncap * sizeof(*n)))) {
				c->stmts = n;
				c->stmts_cap = ncap;
			} else {
				c->st->statements_evicted++; /* no memory: this one is not kept */
				return;
			}
		}
		e = &c->stmts[c->n_stmts++];
		e->hash = hash;
		e->sql = NULL;
	}
	pg_sql__put(c, e->sql);
	e->sql = sql_ref(sql);
	e->used = ++c->tick;
}

static void portal_put(struct pg_conn *c, bool named, uint64_t hash, struct pg_sql *sql)
{
	struct named *e;

	if (!named) {
		pg_sql__put(c, c->unnamed_portal);
		c->unnamed_portal = sql_ref(sql);
		return;
	}
	if (!c->portals && !(c->portals = calloc(PG_MAX_PORTALS, sizeof(*c->portals))))
		return;
	e = named_find(c->portals, c->n_portals, hash);
	if (!e) {
		if (c->n_portals == PG_MAX_PORTALS) /* cursors left open: forget the oldest */
			named_del(c, c->portals, &c->n_portals,
				  named_lru(c->portals, c->n_portals));
		e = &c->portals[c->n_portals++];
		e->hash = hash;
		e->sql = NULL;
	}
	pg_sql__put(c, e->sql);
	e->sql = sql_ref(sql);
	e->used = ++c->tick;
}

static void portal_forget(struct pg_conn *c)
{
	pg_sql__put(c, c->unnamed_portal);
	c->unnamed_portal = NULL;
	for (uint32_t i = 0; i < c->n_portals; i++)
		pg_sql__put(c, c->portals[i].sql);
	c->n_portals = 0;
}

static struct pg_sql *portal_get(struct pg_conn *c, bool named, uint64_t hash)
{
	struct named *e;

	if (!named)
		return c->unnamed_portal;
	e = c->portals ? named_find(c->portals, c->n_portals, hash) : NULL;
	if (!e)
		return NULL;
	e->used = ++c->tick;
	return e->sql;
}

/* The statement a Bind or Describe names, as the server will see it: a Parse still waiting for
 * its ParseComplete comes first (if it fails, the server skips the Bind too), then the map. The
 * Parse of a run with repetitions to come is still waiting, whatever its entry says. */
static struct pg_sql *stmt_get(struct pg_conn *c, bool named, uint64_t hash)
{
	struct named *e;

	for (uint32_t i = c->q_len; (c->n_pending_parse || c->n_runs) && i-- > 0;) {
		struct pending *p = pg_queue__at(c, i);
		struct run *r = pg_queue__run_of(c, p);

		if (p->type != 'P' || (p->state != E_WAIT && !(r && r->more)))
			continue;
		if (p->name_cut || (r && r->anon)) /* it may define this name: not known */
			return NULL;
		if (p->named == named && (!named || p->hash == hash))
			return p->sql;
	}
	if (!named)
		return c->unnamed_stmt;
	e = named_find(c->stmts, c->n_stmts, hash);
	if (!e)
		return NULL;
	e->used = ++c->tick;
	return e->sql;
}

/* --- records ---------------------------------------------------------------------------------- */

void pg_pair__emit(struct pg_conn *c, struct pending *e, char txn)
{
	struct pg_record r;
	const struct pg_sql *s = e->sql;

	/* Field by field: the record is large and its SQL is usually short. */
	if (s) {
		memcpy(r.sql, s->text, s->len);
		r.sql_len = s->len;
		r.sql_truncated = s->truncated;
	} else {
		r.sql_len = 0;
		r.sql_truncated = false;
	}
	r.sql[r.sql_len] = '\0';
	r.sql_unknown = !s && e->type != 'F';
	if (r.sql_unknown)
		c->st->unknown_statements++;
	r.suspended = e->suspended;
	r.kind = e->type == 'Q'	  ? PG_KIND_SIMPLE
		 : e->type == 'F' ? PG_KIND_FUNCTION
				  : PG_KIND_EXTENDED;
	r.copy = e->copy;
	r.status = e->status;
	nx_strlcpy(r.tag, sizeof(r.tag), e->tag);
	r.statements = e->statements;
	r.rows = e->rows;
	nx_strlcpy(r.sqlstate, sizeof(r.sqlstate), e->status == PG_ERROR ? e->sqlstate : "");
	nx_strlcpy(r.severity, sizeof(r.severity),
		   e->status == PG_ERROR ? pg_severities[e->severity ? e->severity : 1] : "");
	r.txn_status = txn;
	r.t_request = e->t_request;
	r.t_response = e->t_response;
	r.request_bytes = e->req_bytes;
	r.response_bytes = e->resp_bytes;
	r.batch_timed = e->fold & FOLD_BATCH_TIMED;
	if (e->fold & FOLD_REP)
		c->st->folded++;
	if (e->fold & FOLD_BATCH_TIMED)
		c->st->batch_timed++;
	if (e->fold & FOLD_ANON)
		c->st->folded_unknown++;
	memcpy(r.user, c->user, sizeof(r.user));
	memcpy(r.database, c->database, sizeof(r.database));
	memcpy(r.application, c->application, sizeof(r.application));
	c->st->commands++;
	if (c->emit)
		c->emit(c->ctx, &r);
}

/*
 * Everything queued goes: records already answered (held for their ReadyForQuery) are emitted
 * without a transaction status, the rest is counted. Pairing so far was right: responses come in
 * order, so what we matched before the loss was matched to its own message; unless we had just
 * resynced and no ReadyForQuery had confirmed it yet (provisional): then nothing is emitted.
 */
void pg_pair__drop(struct pg_conn *c)
{
	pg_queue__drop_runs(c);
	while (c->q_len) {
		struct pending *e = pg_queue__at(c, 0);

		if (e->state == E_DONE && e->emits && !c->provisional)
			pg_pair__emit(c, e, 0);
		else if (e->state != E_SKIPPED && e->emits)
			c->st->unpaired++;
		pg_queue__pop(c);
	}
	c->q_cur = 0;
	c->n_pending_parse = 0;
}

/*
 * The messages still waiting form one unit that ends with ReadyForQuery: a Query, a
 * FunctionCall, or extended messages up to a Sync with at most one Execute. The server flushes
 * that ReadyForQuery and reads again only after it, so the unit ends at the next read even when
 * its response's end was past the capture.
 */
bool pg_pair__tail_unit(struct pg_conn *c)
{
	struct pending *last = NULL;
	uint32_t n_wait = 0, n_exec = 0;

	for (uint32_t i = c->q_cur; i < c->q_len; i++) {
		struct pending *e = pg_queue__at(c, i);
		struct run *r = pg_queue__run_of(c, e);

		/* a block that comes again with a record or a Sync in it: more than one unit */
		if (r && r->more && pg_queue__run_has(c, r, "SQFE"))
			return false;
		if (e->state != E_WAIT)
			continue;
		if (e->flags & F_COPY_IN) /* the server reads CopyData while answering */
			return false;
		if (last && last->type == 'S')
			return false;
		n_wait++;
		n_exec += e->type == 'E';
		last = e;
	}
	if (!last)
		return false;
	if (last->type == 'Q' || last->type == 'F')
		return n_wait == 1;
	return last->type == 'S' && n_exec <= 1;
}

/*
 * The unit whose response the capture cut has ended: the server read again. Its record says
 * when, and what was seen of the response; after a blind resync (provisional) what was seen may
 * be an earlier message's unflushed output, so only when is said (status unknown, no rows).
 */
void pg_pair__finish_tail(struct pg_conn *c)
{
	pg_queue__drop_runs(c); /* (only blocks without records: see pg_pair__tail_unit()) */
	while (c->q_len) {
		struct pending *e = pg_queue__at(c, 0);

		if (e->state == E_WAIT && pg_is_record_type(e->type)) {
			if (e->status != PG_ERROR || c->provisional) {
				e->status = PG_UNKNOWN;
				c->st->truncated_responses++;
			}
			e->rows = c->provisional ? 0 : e->rows + e->data_rows;
			e->t_response = c->tail_ts;
			e->resp_bytes += c->resp_acc + c->tail_bytes;
			c->resp_acc = c->tail_bytes = 0;
			pg_pair__emit(c, e, 0);
		} else if (e->state == E_DONE && e->emits) {
			if (c->provisional)
				c->st->unpaired++;
			else
				pg_pair__emit(c, e, 0);
		}
		pg_queue__pop(c);
	}
	c->q_cur = 0;
	c->n_pending_parse = 0;
	c->sync = SYNC_PAIRED;
	c->resp_acc = c->tail_bytes = 0;
	pg_frame__reset(c, &c->sf);
}

/* --- server messages -------------------------------------------------------------------------- */

/* The ErrorResponse just read: severity (non-localized V first) and SQLSTATE, nothing else. */
static void take_error(struct pending *e, const struct framer *f)
{
	typeof(f->m.error) *m = &f->m.error;
	const char *sev = (m->seen & ERR_SEVERITY_V) ? m->severity_v
			  : (m->seen & ERR_SEVERITY) ? m->severity
						     : "";
	const char *code = m->sqlstate;
	bool ok = (m->seen & ERR_SQLSTATE) && m->sqlstate_len == 5;

	e->status = PG_ERROR;
	e->severity = 1;
	for (size_t i = 1; i < sizeof(pg_severities) / sizeof(pg_severities[0]); i++)
		if (!strcmp(sev, pg_severities[i]))
			e->severity = (uint8_t)i;
	for (int i = 0; ok && i < 5; i++)
		ok = (code[i] >= '0' && code[i] <= '9') || (code[i] >= 'A' && code[i] <= 'Z');
	memcpy(e->sqlstate, ok ? code : "", ok ? 6 : 1);
}

/* CommandComplete: the tag without its counts ("INSERT 0 1" -> "INSERT"), and the row count it
 * carries (its last word), or the DataRows seen when it carries none. */
static void take_tag(struct pending *e, const struct framer *f, bool sum)
{
	uint64_t count = 0;
	bool has_count = false;
	uint32_t n = 0, k;
	const char *p = f->m.complete.tag;
	uint32_t len = f->m.complete.tag_len;

	if (f->step >= 1 && len < sizeof(f->m.complete.tag) - 1) { /* the whole tag was captured */
		/* the count: the last word, when it is all digits (19 at most: no overflow) */
		for (k = len; k && p[k - 1] >= '0' && p[k - 1] <= '9'; k--)
			;
		if (k && k < len && p[k - 1] == ' ' && len - k <= 19) {
			has_count = true;
			for (; k < len; k++)
				count = count * 10 + (uint64_t)(p[k] - '0');
		}
		/* the label: up to the first word that starts with a digit */
		for (; n < len && n < PG_TAG_LEN - 1; n++) {
			char ch = p[n];

			if (ch >= '0' && ch <= '9' && (!n || p[n - 1] == ' '))
				break;
			e->tag[n] = (ch >= 'A' && ch <= 'Z') || ch == ' ' ? ch : '?';
		}
		while (n && e->tag[n - 1] == ' ')
			n--;
	}
	e->tag[n] = '\0';
	if (!has_count)
		count = e->data_rows;
	e->rows = sum ? e->rows + count : count;
	e->data_rows = 0;
}

static void complete(struct pg_conn *c, struct pending *e)
{
	e->state = E_DONE;
	e->t_response = c->t_chunk;
	if (e->emits) { /* ParseComplete, BindComplete...: part of the next Execute's response */
		e->resp_bytes += c->resp_acc;
		c->resp_acc = 0;
	}
	if (e->type == 'P')
		c->n_pending_parse--;
	pg_queue__advance(c);
	pg_queue__trim(c);
	/* Client framing was lost: once what we saw is answered, the rest answers the unseen. */
	if (c->sync == SYNC_CLIENT_CUT && !pg_queue__wait(c))
		pg_frame__lose(c, false);
}

/* ErrorResponse to an extended-protocol message: the server skips what follows until Sync,
 * the repetitions of a run to come included. */
static void ext_error(struct pg_conn *c, struct pending *e)
{
	bool sync = false;

	take_error(e, &c->sf);
	e->emits = e->type != 'C'; /* a rejected Parse/Bind/Describe is a failed query too */
	for (uint32_t i = c->q_cur; i < c->q_len && !sync; i++) {
		struct pending *s = pg_queue__at(c, i);
		struct run *r = pg_queue__run_of(c, s);

		if (i > c->q_cur && s->type == 'S') {
			sync = true;
			break;
		}
		if (i > c->q_cur && s->state == E_WAIT) {
			if (s->type == 'P')
				c->n_pending_parse--;
			if (pg_is_record_type(s->type))
				c->st->skipped++;
			s->state = E_SKIPPED;
		}
		/* the end of a block that comes again: its next repetitions come first */
		if (r && r->more && i == pg_queue__run_start(c, r) + r->len - 1)
			sync = pg_queue__run_skip(c, r);
	}
	c->skip_to_sync = !sync;
	complete(c, e);
}

/* ReadyForQuery answers the waiting Sync, Query or FunctionCall; the records held for it (the
 * batch's Executes) are emitted with its transaction status. */
static void ready(struct pg_conn *c, struct pending *z, char txn)
{
	struct pending *last = NULL;

	if (z->type == 'Q' || z->type == 'F') {
		z->t_response = c->t_chunk;
		z->resp_bytes += c->resp_acc;
		c->resp_acc = 0;
	} else {
		for (uint32_t i = 0; i < c->q_cur; i++)
			if (pg_queue__at(c, i)->state == E_DONE && pg_queue__at(c, i)->emits)
				last = pg_queue__at(c, i);
		if (last) {
			last->resp_bytes += c->resp_acc;
			c->resp_acc = 0;
			/* An error at Sync is the implicit transaction's commit failing. */
			if (z->status == PG_ERROR && last->status == PG_OK) {
				last->status = PG_ERROR;
				last->severity = z->severity;
				memcpy(last->sqlstate, z->sqlstate, sizeof(last->sqlstate));
			}
		} else if (z->status == PG_ERROR) {
			c->st->async_errors++;
		}
	}
	z->state = E_DONE;
	for (uint32_t i = 0; i <= c->q_cur; i++) {
		struct pending *e = pg_queue__at(c, i);

		if (e->state == E_DONE && e->emits) {
			pg_pair__emit(c, e, txn);
			e->emits = false;
		}
	}
	c->provisional = false;
	pg_queue__advance(c);
	pg_queue__trim(c);
	if (c->sync == SYNC_CLIENT_CUT && !pg_queue__wait(c))
		pg_frame__lose(c, false);
}

/* Response messages common to Query and Execute: rows, COPY. False: not one of them. */
static bool result_msg(struct pending *e, char t)
{
	switch (t) {
	case 'D':
		if (e->flags & (F_COPY_IN | F_COPY_OUT))
			return false;
		e->data_rows++;
		return true;
	case 'G':
		e->copy = PG_COPY_IN;
		e->flags |= F_COPY_IN;
		return true;
	case 'H':
		e->copy = PG_COPY_OUT;
		e->flags |= F_COPY_OUT;
		return true;
	case 'W':
		e->copy = PG_COPY_BOTH;
		e->flags |= F_COPY_IN | F_COPY_OUT;
		return true;
	case 'd':
	case 'c':
		return e->flags & F_COPY_OUT;
	}
	return false;
}

/* A whole server message: it answers the oldest message still waiting, or nothing (notices,
 * notifications, parameters), or it does not fit and our view is wrong. */
void pg_pair__server(struct pg_conn *c)
{
	struct framer *f = &c->sf;
	char t = f->type;
	struct pending *e;

	if (t == 'Z' && !pg_ready_status(f->m.ready.status)) {
		pg_frame__mismatch(c);
		return;
	}
	switch (t) {
	case 'N':
		c->st->notices++;
		return;
	case 'A':
		c->st->notifications++;
		return;
	case 'S':
		pg_startup__param_status(c);
		return;
	}
	e = pg_queue__wait(c);
	if (!e) {
		if (t == 'E')
			c->st->async_errors++; /* FATAL with nothing asked: shutdown, timeouts */
		else
			pg_frame__mismatch(c);
		return;
	}
	switch (e->type) {
	case 'Q':
		if (t == 'Z') {
			ready(c, e, f->m.ready.status);
			return;
		}
		if (e->status == PG_ERROR) /* an error ends the Query: only ReadyForQuery follows */
			break;
		if (t == 'T') {
			e->data_rows = 0;
		} else if (t == 'C') {
			e->statements++;
			e->flags &= ~(F_COPY_IN | F_COPY_OUT);
			take_tag(e, f, true);
		} else if (t == 'I') {
			e->statements++;
		} else if (t == 'E') {
			e->flags &= ~(F_COPY_IN | F_COPY_OUT);
			e->rows += e->data_rows;
			e->data_rows = 0;
			take_error(e, f);
		} else if (!result_msg(e, t)) {
			break;
		}
		return;
	case 'F':
		if (t == 'Z') {
			ready(c, e, f->m.ready.status);
		} else if (t == 'V' && e->status == PG_OK && !e->statements) {
			e->statements = 1;
		} else if (t == 'E' && e->status == PG_OK) {
			take_error(e, f);
		} else {
			break;
		}
		return;
	case 'S':
		if (t == 'Z') {
			ready(c, e, f->m.ready.status);
		} else if (t == 'E' && e->status == PG_OK) {
			take_error(e, f);
		} else {
			break;
		}
		return;
	case 'E':
		if (t == 'E') {
			e->rows = e->data_rows;
			ext_error(c, e);
		} else if (t == 'C') {
			e->flags &= ~(F_COPY_IN | F_COPY_OUT);
			e->statements = 1;
			take_tag(e, f, false);
			complete(c, e);
		} else if (t == 'I') {
			e->statements = 1;
			complete(c, e);
		} else if (t == 's') {
			e->suspended = true;
			e->rows = e->data_rows;
			complete(c, e);
		} else if (!result_msg(e, t)) {
			break;
		}
		return;
	case 'P':
	case 'B':
	case 'D':
	case 'C':
		if (t == 'E') {
			ext_error(c, e);
			return;
		}
		if (e->type == 'P' && t == '1') {
			if (e->named && !e->name_cut) {
				stmt_put(c, e->hash, e->sql);
			} else { /* a cut name may have been the unnamed statement's */
				pg_sql__put(c, c->unnamed_stmt);
				c->unnamed_stmt = e->name_cut ? NULL : sql_ref(e->sql);
			}
		} else if (e->type == 'D' && t == 't' && e->target != 'P' &&
			   !(e->flags & F_PARAMDESC)) {
			e->flags |= F_PARAMDESC; /* (a target past the capture may be either) */
			return;
		} else if ((e->type == 'B' && t == '2') ||
			   (e->type == 'D' && (t == 'T' || t == 'n') &&
			    (e->target != 'S' || (e->flags & F_PARAMDESC)))) {
			/* BindComplete, the Describe's last answer: only completion */
		} else if (e->type == 'C' && t == '3') {
			if (e->target == 'S' && !e->named) {
				pg_sql__put(c, c->unnamed_stmt);
				c->unnamed_stmt = NULL;
			} else if (e->target == 'S' && !e->name_cut) {
				struct named *s = named_find(c->stmts, c->n_stmts, e->hash);

				if (s)
					named_del(c, c->stmts, &c->n_stmts, s);
			} else if (e->target == 'P' && !e->named) {
				portal_put(c, false, 0, NULL);
			} else if (e->target == 'P' && !e->name_cut && c->portals) {
				struct named *s = named_find(c->portals, c->n_portals, e->hash);

				if (s)
					named_del(c, c->portals, &c->n_portals, s);
			}
		} else {
			break;
		}
		complete(c, e);
		return;
	}
	pg_frame__mismatch(c);
}

/* --- client messages -------------------------------------------------------------------------- */

/* A whole client message: those that get a response are queued, with what they refer to. */
void pg_pair__client(struct pg_conn *c)
{
	struct framer *f = &c->cf;
	union pg_fields *m = &f->m;
	struct pending *e;
	uint64_t hash;
	char t = f->type;

	switch (t) {
	case 'X':
		c->skip_to_sync = false;
		return;
	case 'H':
	case 'd':
	case 'c':
	case 'f':
		return; /* no response of their own; bytes were counted at their header */
	}
	if (c->skip_to_sync && t != 'S') {
		if (pg_is_record_type(t))
			c->st->skipped++;
		return;
	}
	e = pg_queue__push(c);
	if (!e) { /* deeper than we follow: framing is given up (this message counted by lose) */
		pg_frame__lose(c, true);
		return;
	}
	e->type = t;
	e->t_request = f->ts;
	switch (t) {
	case 'Q':
		e->sql = f->sql;
		f->sql = NULL;
		if (e->sql && f->step < 1)
			e->sql->truncated = true;
		/* fallthrough */
	case 'F':
		e->emits = true;
		e->req_bytes = c->req_acc;
		c->req_acc = 0;
		c->batch_ts = 0;
		break;
	case 'P':
		e->named = m->parse.name_len > 0;
		e->name_cut = f->step < 1;
		e->hash = name_hash(m->parse.name, m->parse.name_len);
		e->sql = f->sql;
		f->sql = NULL;
		if (e->sql && f->step < 2)
			e->sql->truncated = true;
		c->n_pending_parse++;
		break;
	case 'B':
		/* Only the two names were read: parameter values never leave the socket buffer. */
		if (f->step >= 2)
			e->sql = sql_ref(stmt_get(c, m->bind.stmt_len > 0,
						  name_hash(m->bind.stmt, m->bind.stmt_len)));
		if (f->step >= 1)
			portal_put(c, m->bind.portal_len > 0,
				   name_hash(m->bind.portal, m->bind.portal_len), e->sql);
		else /* which portal it defines is not known: none of them is any more */
			portal_forget(c);
		break;
	case 'D':
		e->target = m->describe.target;
		hash = name_hash(m->describe.name, m->describe.name_len);
		if (f->step >= 2 && e->target == 'S')
			e->sql = sql_ref(stmt_get(c, m->describe.name_len > 0, hash));
		else if (f->step >= 2)
			e->sql = sql_ref(portal_get(c, m->describe.name_len > 0, hash));
		break;
	case 'E':
		if (f->step >= 1)
			e->sql = sql_ref(portal_get(c, m->execute.portal_len > 0,
						    name_hash(m->execute.portal,
							      m->execute.portal_len)));
		e->emits = true;
		e->t_request = c->batch_ts ? c->batch_ts : f->ts;
		e->req_bytes = c->req_acc;
		c->req_acc = 0;
		c->batch_ts = 0;
		break;
	case 'C':
		e->target = m->describe.target;
		e->named = m->describe.name_len > 0;
		e->name_cut = f->step < 2;
		e->hash = name_hash(m->describe.name, m->describe.name_len);
		break;
	case 'S':
		c->skip_to_sync = false;
		c->batch_ts = 0;
		break;
	}
	pg_queue__fold(c);
}

/* --- life cycle ------------------------------------------------------------------------------- */

struct pg_conn *pg_conn__new(struct pg_stats *stats)
{
	struct pg_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->st = stats;
	c->sync = SYNC_FRESH;
	return c;
}

void pg_conn__free(struct pg_conn *c)
{
	if (!c)
		return;
	pg_queue__drop_runs(c);
	while (c->q_len) {
		struct pending *e = pg_queue__at(c, 0);

		if (e->emits && e->state != E_SKIPPED)
			c->st->unpaired++;
		pg_queue__pop(c);
	}
	for (uint32_t i = 0; i < c->n_stmts; i++)
		pg_sql__put(c, c->stmts[i].sql);
	for (uint32_t i = 0; i < c->n_portals; i++)
		pg_sql__put(c, c->portals[i].sql);
	pg_sql__put(c, c->unnamed_stmt);
	pg_sql__put(c, c->unnamed_portal);
	pg_sql__put(c, c->cf.sql);
	pg_sql__put(c, c->sf.sql);
	free(c->spare);
	free(c->q);
	free(c->stmts);
	free(c->portals);
	free(c->runs);
	free(c);
}

size_t pg_conn__memory(const struct pg_conn *c)
{
	return sizeof(*c) + c->q_cap * sizeof(struct pending) +
	       c->stmts_cap * sizeof(struct named) +
	       (c->portals ? PG_MAX_PORTALS * sizeof(struct named) : 0) +
	       (c->runs ? PG_MAX_RUNS * sizeof(struct run) : 0) + c->sql_bytes;
}
