// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The queue of client messages waiting for their responses, in the order the server read them,
 * and the runs that fold a batch longer than the queue. Entries are answered in order (q_cur);
 * records answered early are held for their ReadyForQuery. Past PG_FOLD_AT entries, a block of
 * up to PG_MAX_UNIT messages that repeats the block before it folds into a run: one repetition
 * stays in the entries, the run counts the others and when they came, and when the block's last
 * entry is answered the next repetition starts in the same entries (run_rewind()). Which
 * repetitions fold and how exactly they are timed: pg_queue__fold(), pgwire.h.
 */
#include <stdlib.h>
#include <string.h>
#include "proto/pgwire_int.h"
#include "proto/sql_fingerprint.h"

/* --- runs ------------------------------------------------------------------------------------- */

/* Queries/Executes/FunctionCalls in one repetition, in all of it or before its first Sync. */
uint32_t pg_queue__run_records(struct pg_conn *c, const struct run *r, bool before_sync)
{
	uint32_t s = pg_queue__run_start(c, r), n = 0;

	for (uint32_t i = 0; i < r->len; i++) {
		char t = pg_queue__at(c, s + i)->type;

		if (before_sync && t == 'S')
			break;
		n += pg_is_record_type(t);
	}
	return n;
}

/* Does the block hold a message of one of these types? */
bool pg_queue__run_has(struct pg_conn *c, const struct run *r, const char *types)
{
	for (uint32_t i = 0; i < r->len; i++)
		if (strchr(types, pg_queue__at(c, pg_queue__run_start(c, r) + i)->type))
			return true;
	return false;
}

/* An extended-protocol error came before the repetitions still to come: the server skips them
 * up to the next Sync (counted now). True when that Sync is one of theirs. */
bool pg_queue__run_skip(struct pg_conn *c, struct run *r)
{
	if (pg_queue__run_has(c, r, "S")) {
		r->skip_next = true; /* applied when the next repetition starts (run_rewind()) */
		c->st->skipped += pg_queue__run_records(c, r, true);
		return true;
	}
	c->st->skipped += (uint64_t)pg_queue__run_records(c, r, false) * r->more;
	r->more = r->anon = 0;
	r->n_seg = 0;
	return false;
}

/* The repetitions that never came are unpaired (those an error skipped were counted then). */
static uint64_t run_unanswered(struct pg_conn *c, const struct run *r)
{
	uint64_t n = (uint64_t)pg_queue__run_records(c, r, false) * r->more;

	return r->skip_next ? n - pg_queue__run_records(c, r, true) : n;
}

static void run_free(struct pg_conn *c, struct run *r)
{
	uint32_t s = pg_queue__run_start(c, r);

	for (uint32_t i = 0; i < r->len; i++)
		pg_queue__at(c, s + i)->run = 0;
	r->len = 0;
	c->n_runs--;
}

/* Every run goes (the queue is being emptied); the repetitions still to come are counted. */
void pg_queue__drop_runs(struct pg_conn *c)
{
	for (uint32_t i = 0; c->n_runs && i < PG_MAX_RUNS; i++) {
		struct run *r = &c->runs[i];

		if (!r->len)
			continue;
		c->st->unpaired += run_unanswered(c, r);
		run_free(c, r);
	}
}

/* --- the queue -------------------------------------------------------------------------------- */

void pg_queue__pop(struct pg_conn *c)
{
	struct pending *e = pg_queue__at(c, 0);

	if (e->type == 'P' && e->state == E_WAIT)
		c->n_pending_parse--;
	pg_sql__put(c, e->sql);
	c->q_head = (c->q_head + 1) & (c->q_cap - 1);
	c->q_seq++;
	c->q_len--;
	if (c->q_cur)
		c->q_cur--;
}

/* The newest entry goes (it folded into a run). */
static void q_unpush(struct pg_conn *c)
{
	struct pending *e = pg_queue__at(c, c->q_len - 1);

	if (e->type == 'P' && e->state == E_WAIT)
		c->n_pending_parse--;
	pg_sql__put(c, e->sql);
	c->q_len--;
}

/* Answered entries at the head go, except records held for the ReadyForQuery's status and the
 * entries of a run, which its next repetitions reuse. */
void pg_queue__trim(struct pg_conn *c)
{
	while (c->q_len && c->q_cur) {
		struct pending *e = pg_queue__at(c, 0);

		if ((e->state == E_DONE && e->emits) || e->run)
			break;
		pg_queue__pop(c);
	}
}

/* Records answered before index upto go now, without their ReadyForQuery (txn_status 0), in
 * order: the queue needs their entries. After a resync nothing unconfirmed is emitted. */
void pg_queue__flush_held(struct pg_conn *c, uint32_t upto)
{
	for (uint32_t i = 0; i < upto; i++) {
		struct pending *e = pg_queue__at(c, i);

		if (e->state != E_DONE || !e->emits)
			continue;
		if (c->provisional)
			c->st->unpaired++;
		else
			pg_pair__emit(c, e, 0);
		e->emits = false;
	}
}

/* The run's block has been answered: its next repetition starts in the same entries. */
static void run_rewind(struct pg_conn *c, struct run *r)
{
	uint32_t s = pg_queue__run_start(c, r);
	struct run_seg *g;
	bool anon = r->anon >= r->more;
	bool exact, skip = r->skip_next;
	uint64_t ts;

	pg_queue__flush_held(c, s + r->len);
	for (; s; s--) /* what came before is answered (and no longer held) */
		pg_queue__pop(c);
	g = &r->seg[r->seg0];
	ts = g->ts;
	exact = g->exact > 0;
	if (g->exact)
		g->exact--;
	if (!--g->n) {
		r->seg0 = (r->seg0 + 1) % RUN_SEGS;
		r->n_seg--;
	}
	for (uint32_t i = 0; i < r->len; i++) {
		struct pending *e = pg_queue__at(c, i);
		uint64_t req = r->req[i] / r->more;

		r->req[i] -= req;
		/* after an error, the server skips this repetition's messages up to its Sync */
		e->state = skip ? E_SKIPPED : E_WAIT;
		if (e->type == 'S')
			e->state = E_WAIT, skip = false;
		e->flags = e->status = e->copy = e->severity = 0;
		e->suspended = false;
		e->rows = e->t_response = e->resp_bytes = 0;
		e->data_rows = e->statements = 0;
		e->sqlstate[0] = e->tag[0] = '\0';
		e->emits = pg_is_record_type(e->type);
		e->t_request = ts;
		e->req_bytes = req;
		e->fold = FOLD_REP | (exact ? 0 : FOLD_BATCH_TIMED) | (anon ? FOLD_ANON : 0);
		if (anon) { /* from here on the block's SQL and names are not the client's */
			pg_sql__put(c, e->sql);
			e->sql = NULL;
			e->name_cut = true;
		}
		if (e->type == 'P' && e->state == E_WAIT)
			c->n_pending_parse++;
	}
	r->skip_next = false;
	r->more--;
	if (r->anon > r->more)
		r->anon = r->more;
	c->q_cur = 0;
}

/* q_cur moves to the first entry still waiting; passing the end of a run's block starts the
 * run's next repetition, or ends the run after its last. */
void pg_queue__advance(struct pg_conn *c)
{
	while (c->q_cur < c->q_len) {
		struct pending *e = pg_queue__at(c, c->q_cur);
		struct run *r = pg_queue__run_of(c, e);

		if (e->state == E_WAIT)
			return;
		if (r && c->q_cur == pg_queue__run_start(c, r) + r->len - 1) {
			if (r->more) {
				run_rewind(c, r);
				continue;
			}
			run_free(c, r);
		}
		c->q_cur++;
	}
}

/* A new entry, cleared; NULL when the queue is full and nothing can go. */
struct pending *pg_queue__push(struct pg_conn *c)
{
	struct pending *e;

	if (c->q_len == c->q_cap) {
		uint32_t ncap = c->q_cap ? c->q_cap * 2 : 4;
		struct pending *nq;

		if (c->q_cap >= PG_MAX_PENDING) {
			/* Nothing folds: the held records give up their ReadyForQuery's status. */
			if (!c->provisional) {
				pg_queue__flush_held(c, c->q_cur);
				pg_queue__trim(c);
			}
			if (c->q_len == c->q_cap)
				return NULL;
		} else {
			nq = malloc(ncap * sizeof(*nq));
			if (!nq)
				return NULL;
			for (uint32_t i = 0; i < c->q_len; i++)
				nq[i] = *pg_queue__at(c, i);
			free(c->q);
			c->q = nq;
			c->q_cap = ncap;
			c->q_head = 0;
		}
	}
	e = pg_queue__at(c, c->q_len++);
	memset(e, 0, offsetof(struct pending, sqlstate));
	e->sqlstate[0] = e->tag[0] = '\0';
	return e;
}

/* --- folding ---------------------------------------------------------------------------------- */

enum same { SAME_TEXT = 0, SAME_FP, SAME_SHAPE };

static uint64_t sql_fp(struct pg_sql *s)
{
	struct sql_fingerprint fp;

	if (!s->has_fp) {
		sql_fingerprint__compute(s->text, s->len, &fp);
		s->fp = fp.id;
		s->has_fp = true;
	}
	return s->fp;
}

static bool same_sql(struct pg_sql *a, struct pg_sql *b, enum same how)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	if (a->len == b->len && a->truncated == b->truncated && !memcmp(a->text, b->text, a->len))
		return true;
	return how >= SAME_FP && sql_fp(a) == sql_fp(b);
}

/* Would the server answer b as it answers a (how == SAME_SHAPE), and for the same statement? */
static bool same_msg(const struct pending *a, const struct pending *b, enum same how)
{
	if (a->type != b->type || a->target != b->target)
		return false;
	if (how == SAME_SHAPE)
		return true;
	return a->named == b->named && a->name_cut == b->name_cut && a->hash == b->hash &&
	       same_sql(a->sql, b->sql, how);
}

static bool same_block(struct pg_conn *c, uint32_t a, uint32_t b, uint32_t len, enum same how)
{
	for (uint32_t i = 0; i < len; i++)
		if (!same_msg(pg_queue__at(c, a + i), pg_queue__at(c, b + i), how))
			return false;
	return true;
}

/* A repetition joins the run: when it came, what it brought; its entries go. */
static void run_add(struct pg_conn *c, struct run *r, uint32_t s, bool anon)
{
	uint64_t ts = pg_queue__at(c, s)->t_request;
	bool exact = true;
	struct run_seg *g;

	for (uint32_t i = 0; i < r->len; i++) {
		const struct pending *e = pg_queue__at(c, s + i);

		r->req[i] += e->req_bytes;
		if (e->type != 'S' && e->type != 'C' && e->t_request != ts)
			exact = false; /* a repetition that came over two reads */
	}
	/* the latest segment, or a new one when this read is another (and there is room) */
	g = r->n_seg ? &r->seg[(r->seg0 + r->n_seg - 1) % RUN_SEGS] : NULL;
	if (!g || (g->ts != ts && r->n_seg < RUN_SEGS)) {
		g = &r->seg[(r->seg0 + r->n_seg++) % RUN_SEGS];
		g->ts = ts;
		g->n = g->exact = 0;
	} else if (g->ts == ts) {
		exact = exact && g->exact == g->n;
	} else { /* more reads waiting than kept: it takes the latest kept one, earlier */
		exact = false;
	}
	g->n++;
	g->exact += exact;
	r->more++;
	if (anon)
		r->shape_only = true;
	if (r->shape_only)
		r->anon++;
	for (uint32_t i = 0; i < r->len; i++)
		q_unpush(c);
}

/* The newest len entries become a run's block (of one repetition so far). */
static bool run_new(struct pg_conn *c, uint32_t s, uint32_t len)
{
	struct run *r = NULL;

	if (c->n_runs == PG_MAX_RUNS)
		return false;
	if (!c->runs && !(c->runs = calloc(PG_MAX_RUNS, sizeof(*c->runs))))
		return false;
	for (uint32_t i = 0; !r; i++)
		if (!c->runs[i].len)
			r = &c->runs[i];
	memset(r, 0, sizeof(*r));
	r->first = c->q_seq + s;
	r->len = (uint8_t)len;
	for (uint32_t i = 0; i < len; i++)
		pg_queue__at(c, s + i)->run = (uint8_t)(r - c->runs + 1);
	c->n_runs++;
	return true;
}

/*
 * Past PG_FOLD_AT entries: do the newest len entries (none answered yet) repeat the len before
 * them? Then they fold into the run those form, or become a run's block for the next ones to
 * fold into. Tried when a unit ends, so that blocks end where the client's units do: at a Sync,
 * or at an Execute, Query or FunctionCall for blocks without a Sync (a block with one ends at
 * it, so that its records keep their own ReadyForQuery). Shortest blocks first, same text
 * before same fingerprint. When the queue is nearly full: at any message, and by message types
 * alone (those repetitions lose their SQL).
 */
void pg_queue__fold(struct pg_conn *c)
{
	bool full = c->q_len + 2 * PG_MAX_UNIT > PG_MAX_PENDING;
	enum same top = full ? SAME_SHAPE : SAME_FP;
	char t = c->q_len ? pg_queue__at(c, c->q_len - 1)->type : 0;

	if (c->q_len <= PG_FOLD_AT || (!full && !pg_is_record_type(t) && t != 'S'))
		return;
	for (enum same how = SAME_TEXT; how <= top; how++) {
		for (uint32_t len = 1; len <= PG_MAX_UNIT && 2 * len <= c->q_len; len++) {
			uint32_t s = c->q_len - len;
			struct pending *first = pg_queue__at(c, s);
			struct run *r = pg_queue__run_of(c, pg_queue__at(c, s - 1));

			if (s < c->q_cur || first->run || first->state != E_WAIT)
				break; /* being answered, skipped, or a run's: so are longer ones */
			if (!full && t != 'S' && first->type == 'S')
				break;
			if (r && r->len == len && s - 1 == pg_queue__run_start(c, r) + len - 1) {
				enum same h = r->shape_only ? SAME_SHAPE : how;

				if (same_block(c, pg_queue__run_start(c, r), s, len, h)) {
					run_add(c, r, s, h == SAME_SHAPE);
					return;
				}
			} else if (same_block(c, s - len, s, len, how) && run_new(c, s, len)) {
				return;
			}
		}
	}
}
