// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * PostgreSQL v3 framing, both directions: each chunk is cut into messages by their lengths, so
 * that bodies past the capture are skipped, and only the first fields pairing needs are read
 * (into struct framer's named fields: names, a tag, a status, a SQLSTATE). Framing is lost at a
 * gap across a header or at bytes that are not the protocol; this file decides what survives a
 * loss and where pairing may start again (enum pg_sync, see pg_frame__lose() and probe()), and
 * is where the captured chunks come in (pg_conn__feed()).
 */
#include <string.h>
#include "proto/pgwire_int.h"

#define SMALL_LIMIT 10000     /* PQ_SMALL_MESSAGE_LIMIT: Execute, Describe, Close, Sync... */
#define LARGE_LIMIT (1U << 30) /* PQ_LARGE_MESSAGE_LIMIT, and our sanity bound on responses */
#define PROBE_MAX_LEN (1U << 20) /* resync only at a message this short: its length has NULs */

/* Bounds of a message's length field (itself included), as the server enforces them for client
 * messages (postgres.c, SocketBackend) and as the format implies for its own. 0: not a type. */
struct lim {
	uint32_t min, max;
};

static const struct lim client_lim[128] = {
	['Q'] = { 5, LARGE_LIMIT },  ['P'] = { 8, LARGE_LIMIT }, ['B'] = { 12, LARGE_LIMIT },
	['E'] = { 9, SMALL_LIMIT },  ['D'] = { 6, SMALL_LIMIT }, ['C'] = { 6, SMALL_LIMIT },
	['S'] = { 4, 4 },	     ['H'] = { 4, 4 },		 ['X'] = { 4, 4 },
	['F'] = { 14, LARGE_LIMIT }, ['d'] = { 4, LARGE_LIMIT }, ['c'] = { 4, 4 },
	['f'] = { 5, SMALL_LIMIT },  ['p'] = { 4, 1U << 20 },
};

static const struct lim server_lim[128] = {
	['1'] = { 4, 4 },	    ['2'] = { 4, 4 },		['3'] = { 4, 4 },
	['n'] = { 4, 4 },	    ['I'] = { 4, 4 },		['s'] = { 4, 4 },
	['c'] = { 4, 4 },	    ['Z'] = { 5, 5 },		['C'] = { 5, LARGE_LIMIT },
	['E'] = { 5, LARGE_LIMIT }, ['N'] = { 5, LARGE_LIMIT }, ['T'] = { 6, LARGE_LIMIT },
	['t'] = { 6, LARGE_LIMIT }, ['D'] = { 6, LARGE_LIMIT }, ['A'] = { 10, LARGE_LIMIT },
	['S'] = { 6, LARGE_LIMIT }, ['K'] = { 12, 12 + 256 },	['R'] = { 8, LARGE_LIMIT },
	['G'] = { 7, LARGE_LIMIT }, ['H'] = { 7, LARGE_LIMIT }, ['W'] = { 7, LARGE_LIMIT },
	['d'] = { 4, LARGE_LIMIT }, ['V'] = { 8, LARGE_LIMIT }, ['v'] = { 12, LARGE_LIMIT },
};

/* Where a message type may appear (a table: this runs for every message). */
#define T_CLIENT 1	 /* client, after authentication */
#define T_CLIENT_AUTH 2	 /* client, during authentication */
#define T_SERVER 4	 /* server, after authentication */
#define T_SERVER_AUTH 8	 /* server, during authentication */
#define T_BATCH 16	 /* client: starts or continues an extended-protocol batch */

static const uint8_t type_flags[128] = {
	['Q'] = T_CLIENT,
	['P'] = T_CLIENT | T_BATCH,
	['B'] = T_CLIENT | T_BATCH,
	['E'] = T_CLIENT | T_BATCH | T_SERVER | T_SERVER_AUTH,
	['D'] = T_CLIENT | T_BATCH | T_SERVER,
	['C'] = T_CLIENT | T_BATCH | T_SERVER,
	['H'] = T_CLIENT | T_BATCH | T_SERVER,
	['S'] = T_CLIENT | T_SERVER | T_SERVER_AUTH,
	['X'] = T_CLIENT | T_CLIENT_AUTH,
	['F'] = T_CLIENT,
	['d'] = T_CLIENT | T_SERVER,
	['c'] = T_CLIENT | T_SERVER,
	['f'] = T_CLIENT,
	['p'] = T_CLIENT_AUTH,
	['1'] = T_SERVER, ['2'] = T_SERVER, ['3'] = T_SERVER, ['n'] = T_SERVER,
	['I'] = T_SERVER, ['s'] = T_SERVER, ['T'] = T_SERVER, ['t'] = T_SERVER,
	['A'] = T_SERVER, ['G'] = T_SERVER, ['W'] = T_SERVER, ['V'] = T_SERVER,
	['Z'] = T_SERVER | T_SERVER_AUTH, ['N'] = T_SERVER | T_SERVER_AUTH,
	['R'] = T_SERVER_AUTH, ['K'] = T_SERVER_AUTH, ['v'] = T_SERVER_AUTH,
};


/* --- reading fields --------------------------------------------------------------------------- */

uint32_t pg_frame__take_str(char *s, uint8_t *slen, uint32_t cap, const uint8_t *d, uint32_t n,
			    bool *end)
{
	const uint8_t *z = memchr(d, '\0', n);
	uint32_t k = z ? (uint32_t)(z - d) : n;
	uint32_t room = cap - 1 - *slen;
	uint32_t m = k < room ? k : room;

	memcpy(s + *slen, d, m);
	*slen += m;
	s[*slen] = '\0';
	*end = z != NULL;
	return z ? k + 1 : k;
}

uint32_t pg_frame__skip_str(const uint8_t *d, uint32_t n, bool *end)
{
	const uint8_t *z = memchr(d, '\0', n);

	*end = z != NULL;
	return z ? (uint32_t)(z - d) + 1 : n;
}

static uint32_t take_sql(struct pg_sql *s, const uint8_t *d, uint32_t n, bool *end)
{
	const uint8_t *z = memchr(d, '\0', n);
	uint32_t k = z ? (uint32_t)(z - d) : n;

	if (s) {
		uint32_t room = s->cap - s->len;
		uint32_t m = k < room ? k : room;

		memcpy(s->text + s->len, d, m);
		s->len += m;
		s->text[s->len] = '\0';
		if (k > room)
			s->truncated = true;
	}
	*end = z != NULL;
	return z ? k + 1 : k;
}

#define TAKE(field, d, n, end) pg_frame__take_str(field, &field##_len, sizeof(field), d, n, end)

/* Client messages: Query's and Parse's SQL, the names of Parse, Bind, Execute, Describe and
 * Close, the target of the last two. Bind's parameters are never read. */
static void client_body(struct pg_conn *c, const uint8_t *d, uint32_t n)
{
	struct framer *f = &c->cf;
	union pg_fields *m = &f->m;
	uint32_t i = 0;
	bool end;

	while (i < n) {
		switch (f->type) {
		case 'Q': /* step 0: the SQL; 1: read */
			if (f->step)
				return;
			i += take_sql(f->sql, d + i, n - i, &end);
			f->step = end;
			f->after = f->left - i;
			break;
		case 'P': /* step 0: the name; 1: the SQL; 2: read */
			if (f->step == 0) {
				i += TAKE(m->parse.name, d + i, n - i, &end);
				if (end) {
					f->step = 1;
					f->sql = pg_sql__new(c, f->left - i);
				}
			} else if (f->step == 1) {
				i += take_sql(f->sql, d + i, n - i, &end);
				f->step += end;
				f->after = f->left - i;
			} else {
				return;
			}
			break;
		case 'B': /* step 0: the portal; 1: the statement; 2: read */
			if (f->step == 0)
				i += TAKE(m->bind.portal, d + i, n - i, &end);
			else if (f->step == 1)
				i += TAKE(m->bind.stmt, d + i, n - i, &end);
			else
				return;
			f->step += end;
			f->after = f->left - i;
			break;
		case 'E': /* step 0: the portal; 1: read */
			if (f->step)
				return;
			i += TAKE(m->execute.portal, d + i, n - i, &end);
			f->step = end;
			break;
		case 'D': /* step 0: the target; 1: the name; 2: read */
		case 'C':
			if (f->step == 0) {
				m->describe.target = (char)d[i++];
				f->step = 1;
			} else if (f->step == 1) {
				i += TAKE(m->describe.name, d + i, n - i, &end);
				f->step += end;
			} else {
				return;
			}
			break;
		default: /* Sync, Flush, CopyData, passwords...: framed, never read */
			return;
		}
	}
}

/* Server messages: CommandComplete's tag, ReadyForQuery's status, application_name's value,
 * ErrorResponse's severity and SQLSTATE. */
static void server_body(struct pg_conn *c, const uint8_t *d, uint32_t n)
{
	struct framer *f = &c->sf;
	union pg_fields *m = &f->m;
	uint32_t i = 0;
	bool end;

	switch (f->type) {
	case 'C': /* step 0: the tag; 1: read whole */
		if (!f->step) {
			TAKE(m->complete.tag, d, n, &end);
			f->step = end;
		}
		return;
	case 'Z': /* step 0: the status; 1: read */
		if (!f->step) {
			m->ready.status = (char)d[0];
			f->step = 1;
		}
		return;
	case 'S': /* step 0: the name; 1: the value; 2: read; 3: another parameter */
		while (i < n && f->step < 2) {
			if (f->step == 0) {
				i += TAKE(m->param.name, d + i, n - i, &end);
				if (end)
					f->step = strcmp(m->param.name, "application_name") ? 3 : 1;
			} else {
				i += TAKE(m->param.value, d + i, n - i, &end);
				f->step += end;
			}
		}
		return;
	case 'E': /* step 0: a field's code; 1: its value; 2: the end. The message is skipped. */
		while (i < n && f->step < 2) {
			if (f->step == 0) {
				m->error.code = d[i++];
				f->step = m->error.code ? 1 : 2;
				continue;
			}
			if (m->error.code == 'S')
				i += TAKE(m->error.severity, d + i, n - i, &end);
			else if (m->error.code == 'V')
				i += TAKE(m->error.severity_v, d + i, n - i, &end);
			else if (m->error.code == 'C')
				i += TAKE(m->error.sqlstate, d + i, n - i, &end);
			else
				i += pg_frame__skip_str(d + i, n - i, &end);
			if (end) {
				m->error.seen |= m->error.code == 'S'	? ERR_SEVERITY
						 : m->error.code == 'V' ? ERR_SEVERITY_V
						 : m->error.code == 'C' ? ERR_SQLSTATE
									: 0;
				f->step = 0;
			}
		}
		return;
	}
}

/* A whole client message whose strings end where its format says (no text has NUL bytes). */
static bool well_formed(const struct framer *f)
{
	if (f->cut)
		return false;
	switch (f->type) {
	case 'Q':
		return f->step == 1 && f->after == 0;
	case 'P':
		return f->step == 2 && f->after >= 2 && (f->after - 2) % 4 == 0;
	case 'B':
		return f->step == 2 && f->after >= 6;
	default:
		return f->type == 'F';
	}
}

/* --- losing framing --------------------------------------------------------------------------- */

void pg_frame__reset(struct pg_conn *c, struct framer *f)
{
	pg_sql__put(c, f->sql);
	f->sql = NULL;
	f->state = FR_HDR;
	f->hdr_len = 0;
}

/*
 * Framing is gone: drop what is pending and ignore both directions until it starts clean again.
 * The server answers a Sync or Query with ReadyForQuery and flushes it, and a PostgreSQL backend
 * reads its socket only when it has nothing left to answer; so when what the server last wrote
 * ends with a ReadyForQuery and the next thing it reads starts with a Query/Parse/Bind/
 * FunctionCall header (length <= 1 MiB), nothing is in flight either way: pairing resumes there.
 * When the end of the server's last write was past the capture (results longer than it), that
 * proof cannot come, so pairing also resumes at such a header if the whole first message is
 * captured and well formed (BLIND); either way it stays provisional (a loss emits nothing held)
 * until a ReadyForQuery answers what we queued. A connection whose server never wrote (joined
 * in the middle of a client's first bytes) may resume at the next client header (JOINED).
 */
void pg_frame__lose(struct pg_conn *c, bool count)
{
	if (count)
		c->st->resyncs++;
	if (c->cf.state == FR_BODY && pg_is_record_type(c->cf.type))
		c->st->unpaired++;
	pg_pair__drop(c);
	pg_frame__reset(c, &c->cf);
	pg_frame__reset(c, &c->sf);
	c->skip_to_sync = false;
	c->batch_ts = c->req_acc = c->resp_acc = 0;
	c->sync = c->sync == SYNC_FRESH || c->sync == SYNC_JOINED ? SYNC_JOINED : SYNC_LOST;
	c->provisional = false;
	if (c->in_chunk) { /* lost in what the client sent: the server must write after it */
		c->win_len = 0;
		c->win_unknown = false;
	}
	if (c->phase == PH_AUTH || c->phase == PH_STARTUP || c->phase == PH_SSL_WAIT)
		c->phase = PH_READY;
}

/* A response that does not fit the message it would answer: our view is wrong. */
void pg_frame__mismatch(struct pg_conn *c)
{
	c->st->parse_errors++;
	pg_frame__lose(c, true);
}

/*
 * A gap cut the client stream across a header: the messages parsed before it still get the next
 * responses, in order; those after it were never seen, so once the queue is answered the server's
 * output is theirs and the connection is lost until it starts clean (CLIENT_CUT).
 */
static void lose_client(struct pg_conn *c)
{
	c->st->resyncs++;
	if (c->cf.state == FR_BODY && pg_is_record_type(c->cf.type))
		c->st->unpaired++; /* the message the gap cut */
	pg_frame__reset(c, &c->cf);
	if (c->phase != PH_READY || !pg_queue__wait(c)) {
		pg_frame__lose(c, false);
		return;
	}
	c->sync = SYNC_CLIENT_CUT;
}

/* --- framing ---------------------------------------------------------------------------------- */

static bool type_ok(struct pg_conn *c, bool in, uint8_t t)
{
	uint8_t want = in ? (c->phase == PH_AUTH ? T_CLIENT_AUTH : T_CLIENT)
			  : (c->phase == PH_AUTH ? T_SERVER_AUTH : T_SERVER);

	return t < 128 && (type_flags[t] & want);
}

/* A header is complete: check it, set up the body reader. False: framing was given up. */
static bool msg_start(struct pg_conn *c, bool in)
{
	struct framer *f = in ? &c->cf : &c->sf;
	uint8_t t = f->hdr[0];
	uint32_t len = pg_be32(f->hdr + 1);
	const struct lim *l = in ? client_lim : server_lim;

	if (!type_ok(c, in, t) || len < l[t].min || len > l[t].max) {
		c->st->parse_errors++;
		pg_frame__lose(c, true);
		return false;
	}
	f->type = (char)t;
	f->left = len - 4;
	f->state = FR_BODY;
	f->step = 0;
	f->cut = false;
	memset(&f->m, 0, sizeof(f->m));
	if (!in) {
		c->resp_acc += len + 1;
		return true;
	}
	if (t == 'd' || t == 'c' || t == 'f') {
		struct pending *e = pg_queue__wait(c);

		if (e && (e->flags & F_COPY_IN)) {
			e->req_bytes += len + 1;
			return true;
		}
	}
	c->req_acc += len + 1;
	if (!c->batch_ts && (type_flags[t] & T_BATCH))
		c->batch_ts = f->ts;
	if (t == 'Q')
		f->sql = pg_sql__new(c, len - 4);
	return true;
}

static void msg_end(struct pg_conn *c, bool in)
{
	struct framer *f = in ? &c->cf : &c->sf;

	if (c->phase == PH_AUTH) {
		if (!in) /* the client's password and SASL messages are framed, never read */
			pg_startup__auth_msg(c);
	} else if (in && c->sync == SYNC_BLIND) {
		/* resynced blind: the first message (a Query, Parse, Bind or FunctionCall, see
		 * probe()) must be exactly well formed */
		c->sync = SYNC_PAIRED;
		if (well_formed(f)) {
			pg_pair__client(c);
		} else {
			c->st->parse_errors++;
			pg_frame__lose(c, true);
		}
	} else if (in) {
		pg_pair__client(c);
	} else {
		pg_pair__server(c);
	}
	pg_frame__reset(c, f);
}

/* Frames typed messages; false when parsing this chunk must stop (framing lost, phase over). */
static bool frame(struct pg_conn *c, bool in, const uint8_t *d, uint32_t n)
{
	struct framer *f = in ? &c->cf : &c->sf;
	uint32_t i = 0;

	while (i < n) {
		if (f->state == FR_HDR) {
			uint32_t k = 5 - f->hdr_len;

			if (!f->hdr_len)
				f->ts = c->t_chunk;
			if (k == 5 && n - i >= 5) { /* the usual case: a whole header */
				memcpy(f->hdr, d + i, 5);
			} else {
				if (k > n - i)
					k = n - i;
				memcpy(f->hdr + f->hdr_len, d + i, k);
			}
			f->hdr_len += k;
			i += k;
			if (f->hdr_len < 5)
				break;
			if (!msg_start(c, in))
				return false;
			if (f->left)
				continue;
		} else {
			uint32_t k = f->left < n - i ? f->left : n - i;

			if (in)
				client_body(c, d + i, k);
			else
				server_body(c, d + i, k);
			f->left -= k;
			i += k;
			if (f->left)
				continue;
		}
		msg_end(c, in);
		if (pg_lost(c) || (c->phase != PH_READY && c->phase != PH_AUTH))
			return false;
	}
	return true;
}

/* --- gaps and resync -------------------------------------------------------------------------- */

/* Remembers the last six bytes the server wrote (none after a gap: its end was not seen). */
static void window_push(struct pg_conn *c, const uint8_t *d, uint32_t cap, uint32_t len)
{
	uint32_t keep;

	c->win_unknown = len > cap;
	if (len > cap) {
		c->win_len = 0;
		return;
	}
	if (!cap)
		return;
	if (cap >= 6) {
		memcpy(c->win, d + cap - 6, 6);
		c->win_len = 6;
		return;
	}
	keep = c->win_len < 6 - cap ? c->win_len : 6 - cap;
	memmove(c->win, c->win + c->win_len - keep, keep);
	memcpy(c->win + keep, d, cap);
	c->win_len = (uint8_t)(keep + cap);
}

static bool window_is_ready(const struct pg_conn *c)
{
	const uint8_t *w = c->win;

	return c->win_len == 6 && w[0] == 'Z' && !w[1] && !w[2] && !w[3] && w[4] == 5 &&
	       (w[5] == 'I' || w[5] == 'T' || w[5] == 'E');
}

static void server_gap(struct pg_conn *c, uint64_t gap)
{
	struct framer *f = &c->sf;
	uint64_t extra = gap;

	if (f->state == FR_BODY) {
		if (gap <= f->left) { /* inside the body: skipped by its length */
			f->left -= (uint32_t)gap;
			f->cut = true;
			if (!f->left)
				msg_end(c, false);
			return;
		}
		extra -= f->left;
	}
	/* During authentication the server flushes before each read too (it waits for the client's
	 * password, or for its first query after ReadyForQuery): the next read tells which. */
	if (c->phase == PH_AUTH ||
	    (c->phase == PH_READY && c->sync != SYNC_CLIENT_CUT && pg_pair__tail_unit(c))) {
		c->sync = SYNC_SERVER_TAIL;
		c->tail_ts = c->t_chunk;
		c->tail_bytes = extra;
		pg_frame__reset(c, f);
		return;
	}
	pg_frame__lose(c, true);
}

static void client_gap(struct pg_conn *c, uint64_t gap)
{
	struct framer *f = &c->cf;

	if (f->state == FR_BODY && gap <= f->left) {
		f->left -= (uint32_t)gap;
		f->cut = true;
		if (!f->left)
			msg_end(c, true);
		return;
	}
	lose_client(c);
}

static bool probe_start_type(uint8_t t)
{
	return t == 'Q' || t == 'P' || t == 'B' || t == 'F';
}

/* Lost: is this client chunk where pairing resumes (see pg_frame__lose())? The bytes of d
 * consumed, or -1. */
static int64_t probe(struct pg_conn *c, const uint8_t *d, uint32_t cap, uint32_t len)
{
	uint32_t i = 0;
	uint64_t t;

	if (c->sync != SYNC_PROBING) {
		if (c->sync != SYNC_JOINED && !window_is_ready(c) && !c->win_unknown)
			return -1;
		c->sync = SYNC_PROBING;
		c->probe_len = 0;
		c->probe_ts = c->t_chunk;
	}
	while (c->probe_len < 5 && i < cap)
		c->probe[c->probe_len++] = d[i++];
	if (c->probe_len && !probe_start_type(c->probe[0]))
		goto fail;
	if (c->probe_len < 5) {
		if (len > cap)
			goto fail;
		return -1;
	}
	if (pg_be32(c->probe + 1) < client_lim[c->probe[0]].min ||
	    pg_be32(c->probe + 1) > PROBE_MAX_LEN)
		goto fail;
	/* (the server has not written since probing began: the window is what it was then) */
	c->sync = window_is_ready(c) ? SYNC_PAIRED : SYNC_BLIND;
	c->provisional = true;
	pg_frame__reset(c, &c->cf);
	pg_frame__reset(c, &c->sf);
	t = c->t_chunk;
	c->t_chunk = c->probe_ts;
	frame(c, true, c->probe, 5);
	c->t_chunk = t;
	return i;
fail:
	c->sync = SYNC_LOST;
	c->win_len = 0;
	c->win_unknown = false;
	return -1;
}

/* --- feeding ---------------------------------------------------------------------------------- */

static void feed_in(struct pg_conn *c, const uint8_t *d, uint32_t cap, uint32_t len)
{
	bool go;
	uint32_t used = pg_startup__in(c, d, cap, len, &go);

	if (!go)
		return;
	if (c->sync == SYNC_SERVER_TAIL) { /* the server reads again: the unit it answered ended */
		if (c->phase == PH_AUTH && cap > used && d[used] != 'p') {
			c->phase = PH_READY; /* the gap hid AuthenticationOk ... ReadyForQuery */
			c->req_acc = c->resp_acc = 0;
		}
		pg_pair__finish_tail(c);
	}
	if (pg_lost(c)) {
		int64_t at = probe(c, d + used, cap - used, len - used);

		if (at < 0 || pg_lost(c))
			return;
		used += (uint32_t)at;
	}
	if (c->sync == SYNC_CLIENT_CUT) {
		struct pending *e = pg_queue__wait(c);

		if (e && (e->flags & F_COPY_IN))
			e->req_bytes += len;
		return;
	}
	if (!frame(c, true, d + used, cap - used))
		return;
	if (len > cap)
		client_gap(c, len - cap);
}

static void feed_out(struct pg_conn *c, const uint8_t *d, uint32_t cap, uint32_t len)
{
	if (c->sync == SYNC_FRESH)
		c->sync = SYNC_PAIRED;
	else if (c->sync == SYNC_JOINED || c->sync == SYNC_PROBING)
		c->sync = SYNC_LOST; /* the client header being probed is not a clean start */
	if (pg_startup__out(c, d, cap) || pg_lost(c))
		return;
	if (c->sync == SYNC_SERVER_TAIL) {
		c->tail_ts = c->t_chunk;
		c->tail_bytes += len;
		return;
	}
	if (!frame(c, false, d, cap))
		return;
	if (len > cap)
		server_gap(c, len - cap);
}

void pg_conn__feed(struct pg_conn *c, bool in, const uint8_t *data, uint32_t cap, uint32_t len,
		   uint64_t ts_ns, pg_emit_fn emit_fn, void *ctx)
{
	if (c->phase == PH_ENCRYPTED || c->phase == PH_DONE)
		return;
	c->emit = emit_fn;
	c->ctx = ctx;
	c->t_chunk = ts_ns;
	c->in_chunk = in;
	if (cap > len)
		cap = len;
	if (!data) { /* nothing captured: pointer arithmetic needs an object */
		static const uint8_t none[1];

		data = none;
		cap = 0;
	}
	if (in) {
		feed_in(c, data, cap, len);
	} else {
		feed_out(c, data, cap, len);
		window_push(c, data, cap, len);
	}
}
