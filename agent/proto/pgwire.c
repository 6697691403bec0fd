// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * PostgreSQL v3 request/response pairing. One framer per direction cuts the stream into messages
 * by their lengths (so bodies past the capture are skipped) and reads only the first fields it
 * needs; client messages that get a response wait in a queue, in order, and each server message
 * answers the oldest one still waiting. The server answers in the order it read, so a response
 * that does not fit the message it would answer means our view is wrong: everything pending is
 * dropped (counted) and pairing resumes only where it provably starts clean (see lose()).
 * Past PG_FOLD_AT entries, a block of messages that repeats the one before it folds into a run
 * that counts its repetitions instead of queueing them (see q_fold() and run_rewind()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "proto/pgwire.h"
#include "proto/sql_fingerprint.h"

#define SSL_REQUEST 80877103
#define GSSENC_REQUEST 80877104
#define CANCEL_REQUEST 80877102
#define MAX_STARTUP_LEN 10000 /* the server refuses longer startup packets */
#define SMALL_LIMIT 10000     /* PQ_SMALL_MESSAGE_LIMIT: Execute, Describe, Close, Sync... */
#define LARGE_LIMIT (1U << 30) /* PQ_LARGE_MESSAGE_LIMIT, and our sanity bound on responses */
#define TLS_HANDSHAKE 0x16    /* first byte of a TLS record: direct SSL (PostgreSQL 17) */
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

/* SQL text, shared by reference: the statement map, portals and waiting messages point to it. */
struct pg_sql {
	uint32_t refs;
	uint32_t size; /* bytes allocated, counted against PG_SQL_BUDGET */
	uint32_t len;  /* bytes of SQL held */
	uint32_t cap;  /* room for SQL, NUL not included */
	bool truncated;
	bool has_fp;
	uint64_t fp; /* sql_fingerprint id, computed when a fold compares it (sql_fp()) */
	char text[];
};

/* A named prepared statement or portal. Names are compared by a 64-bit hash of their first 63
 * bytes (the server keeps NAMEDATALEN - 1 bytes of them too). */
struct named {
	uint64_t hash;
	uint32_t used; /* tick of the last use, for LRU */
	struct pg_sql *sql;
};

enum ent_state { E_WAIT = 0, E_DONE, E_SKIPPED };
/* What a waiting message has been told so far. */
#define F_PARAMDESC 1 /* Describe statement: ParameterDescription came */
#define F_COPY_IN 2   /* inside COPY FROM STDIN: the client sends CopyData */
#define F_COPY_OUT 4  /* inside COPY TO STDOUT: the server sends CopyData */
/* How a repetition of a run was folded (pending.fold). */
#define FOLD_REP 1	    /* a repetition after the first: counted in pg_stats.folded */
#define FOLD_BATCH_TIMED 2 /* t_request is an earlier read than its own */
#define FOLD_ANON 4	    /* matched by message types only: its SQL and names are not known */

/* A client message waiting for (or, until ReadyForQuery, holding) its response. */
struct pending {
	struct pg_sql *sql; /* Query/Parse: its SQL; Bind/Describe/Execute: the statement's */
	uint64_t hash;	    /* Parse, Close: the name */
	uint64_t t_request, t_response;
	uint64_t req_bytes, resp_bytes;
	uint64_t rows;
	uint32_t data_rows; /* DataRows of the statement being answered */
	uint32_t statements;
	char type;	    /* the client message: Q P B D E C S F */
	char target;	    /* Describe, Close: 'S' statement or 'P' portal */
	uint8_t state;	    /* enum ent_state */
	uint8_t flags;	    /* F_* */
	uint8_t status;
	uint8_t copy;
	uint8_t severity;   /* index into severities[] */
	uint8_t run;	    /* 0, or 1 + the slot of the run it belongs to */
	uint8_t fold;	    /* FOLD_* */
	bool emits;	    /* becomes a record: Query, Execute, FunctionCall, a rejected P/B/D;
			     * cleared once emitted */
	bool named;	    /* Parse, Close: not the unnamed statement/portal */
	bool name_cut;	    /* the name was past the capture: unknown */
	bool suspended;
	/* last, so that a new entry clears only the fields above (these are set when answered) */
	char sqlstate[6];
	char tag[PG_TAG_LEN];
};

static const char *const severities[] = { "", "ERROR", "FATAL", "PANIC" };

#define RUN_SEGS 6

/* Repetitions of a run that came in one read. */
struct run_seg {
	uint64_t ts; /* the read */
	uint32_t n;  /* repetitions */
	uint32_t exact; /* the first exact of them came in it; the others later (merged) */
};

/*
 * A block of consecutive queue entries that the client sent again and again: the entries hold
 * the repetition being answered, the run counts the repetitions still to come (which were never
 * queued) and what they brought. When the block's last entry is answered, the next repetition
 * starts in the same entries (run_rewind()).
 */
struct run {
	uint32_t first;	    /* sequence number of the block's first entry */
	uint8_t len;	    /* entries in the block; 0: slot free */
	uint8_t seg0, n_seg;
	bool shape_only;    /* a repetition matched by types only: every later one is anonymous */
	bool skip_next;	    /* an error before the next repetition: it skips to its Sync */
	uint32_t more;	    /* repetitions still to come after the one in the entries */
	uint32_t anon;	    /* the last anon of them are anonymous (FOLD_ANON) */
	uint64_t req[PG_MAX_UNIT]; /* request bytes the repetitions to come brought, per entry */
	struct run_seg seg[RUN_SEGS]; /* when the repetitions to come came, oldest first */
};

enum phase { PH_STARTUP = 0, PH_SSL_WAIT, PH_AUTH, PH_READY, PH_ENCRYPTED, PH_DONE };
enum fr_state { FR_HDR = 0, FR_BODY };

/* One direction's framing, and what is kept of the message being read. */
struct framer {
	uint8_t hdr[8]; /* type + length, or a startup packet's length + code */
	uint8_t hdr_len;
	uint8_t state;
	char type;
	uint8_t field;	/* which part of the body is being read */
	uint8_t fcode;	/* ErrorResponse: the field being read */
	uint8_t seen;	/* ErrorResponse: fields complete (1 S, 2 V, 4 C) */
	bool want;	/* startup: the value being read is kept */
	bool cut;	/* a gap fell inside the body */
	uint8_t len1, len2, len3;
	uint32_t after; /* body bytes after the last string read (structure checks) */
	uint32_t left;	/* body bytes still to come */
	uint64_t ts;	/* the chunk that brought the first byte */
	char s1[PG_NAME_LEN]; /* names, a tag, a parameter name, a severity */
	char s2[PG_NAME_LEN]; /* Bind's statement, a parameter value, the other severity */
	char s3[8];	      /* Describe/Close target, ReadyForQuery status, SQLSTATE */
	struct pg_sql *sql;   /* Query/Parse: the SQL being read */
};

struct pg_conn {
	struct pg_stats *st;
	uint8_t phase;
	bool encrypted;
	bool lost;	  /* framing given up: wait for ReadyForQuery, then a clean client start */
	bool virgin;	  /* no server byte seen yet: a joined connection may resume at once */
	bool probing;	  /* lost: reading the header of a client message that may resume */
	bool c_lost;	  /* client framing lost: pair what is queued, then lost */
	bool s_tail;	  /* server framing lost inside one unit, which ends at the next read */
	bool skip_pushes; /* after an extended-protocol error the server skips messages to Sync */
	bool in_chunk;	  /* the chunk being fed is one the server read */
	bool win_unknown; /* the server's last write ended past the capture */
	bool provisional; /* resynced: no ReadyForQuery has confirmed the pairing yet */
	bool check_first; /* resynced without seeing ReadyForQuery: check the first message */
	uint8_t probe_len, win_len;
	uint8_t probe[5];
	uint8_t win[6];	  /* the last bytes the server wrote */
	uint64_t probe_ts;
	struct framer cf, sf;
	struct pending *q; /* ring, power-of-two capacity */
	uint32_t q_cap, q_head, q_len;
	uint32_t q_cur; /* index (from the head) of the first entry still waiting */
	uint32_t q_seq; /* sequence number of the head entry (runs name entries by it) */
	uint32_t n_pending_parse;
	struct run *runs; /* PG_MAX_RUNS, allocated at the first fold */
	uint32_t n_runs;
	struct named *stmts;
	uint32_t n_stmts, stmts_cap;
	struct named *portals; /* PG_MAX_PORTALS, allocated at the first named portal */
	uint32_t n_portals;
	struct pg_sql *unnamed_stmt, *unnamed_portal;
	struct pg_sql *spare; /* see sql_put() */
	uint32_t tick;
	size_t sql_bytes;
	uint64_t batch_ts; /* first message of the extended batch being sent */
	uint64_t req_acc, resp_acc;
	uint64_t tail_ts, tail_bytes;
	uint64_t t_chunk;
	pg_emit_fn emit;
	void *ctx;
	char user[PG_NAME_LEN], database[PG_NAME_LEN], application[PG_NAME_LEN];
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t name_hash(const char *s, uint32_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (uint32_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
	return h;
}

/* Labels: printable ASCII, anything else '?'. */
static void copy_label(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; src[n] && n < size - 1; n++)
		dst[n] = (src[n] >= 0x20 && src[n] < 0x7f) ? src[n] : '?';
	dst[n] = '\0';
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

static void sql_put(struct pg_conn *c, struct pg_sql *s)
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
static struct pg_sql *sql_new(struct pg_conn *c, uint32_t want)
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

/* Reads up to a NUL into s (keeping at most cap - 1 bytes); returns the bytes consumed, the NUL
 * included; *end says whether it was among them. */
static uint32_t take_str(char *s, uint8_t *slen, uint32_t cap, const uint8_t *d, uint32_t n,
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

static uint32_t skip_str(const uint8_t *d, uint32_t n, bool *end)
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
	sql_put(c, e->sql);
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
	sql_put(c, e->sql);
	e->sql = sql_ref(sql);
	e->used = ++c->tick;
}

static void portal_put(struct pg_conn *c, bool named, uint64_t hash, struct pg_sql *sql)
{
	struct named *e;

	if (!named) {
		sql_put(c, c->unnamed_portal);
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
	sql_put(c, e->sql);
	e->sql = sql_ref(sql);
	e->used = ++c->tick;
}

static void portal_forget(struct pg_conn *c)
{
	sql_put(c, c->unnamed_portal);
	c->unnamed_portal = NULL;
	while (c->n_portals)
		named_del(c, c->portals, &c->n_portals, &c->portals[0]);
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

static struct pending *q_at(struct pg_conn *c, uint32_t i)
{
	return &c->q[(c->q_head + i) & (c->q_cap - 1)];
}

static bool is_record_type(char t)
{
	return t == 'Q' || t == 'E' || t == 'F';
}

/* --- runs ------------------------------------------------------------------------------------- */

static struct run *run_of(struct pg_conn *c, const struct pending *e)
{
	return e->run ? &c->runs[e->run - 1] : NULL;
}

/* Index (from the head) of the run's first entry. */
static uint32_t run_start(const struct pg_conn *c, const struct run *r)
{
	return r->first - c->q_seq;
}

/* Queries/Executes/FunctionCalls in one repetition, in all of it or before its first Sync. */
static uint32_t run_records(struct pg_conn *c, const struct run *r, bool before_sync)
{
	uint32_t s = run_start(c, r), n = 0;

	for (uint32_t i = 0; i < r->len; i++) {
		char t = q_at(c, s + i)->type;

		if (before_sync && t == 'S')
			break;
		n += is_record_type(t);
	}
	return n;
}

static bool run_has(struct pg_conn *c, const struct run *r, char type)
{
	for (uint32_t i = 0; i < r->len; i++)
		if (q_at(c, run_start(c, r) + i)->type == type)
			return true;
	return false;
}

/* The repetitions that never came are unpaired (those an error skipped were counted then). */
static uint64_t run_unanswered(struct pg_conn *c, const struct run *r)
{
	uint64_t n = (uint64_t)run_records(c, r, false) * r->more;

	return r->skip_next ? n - run_records(c, r, true) : n;
}

static void run_free(struct pg_conn *c, struct run *r)
{
	uint32_t s = run_start(c, r);

	for (uint32_t i = 0; i < r->len; i++)
		q_at(c, s + i)->run = 0;
	r->len = 0;
	c->n_runs--;
}

/* Every run goes (the queue is being emptied); the repetitions still to come are counted. */
static void runs_drop(struct pg_conn *c)
{
	for (uint32_t i = 0; c->n_runs && i < PG_MAX_RUNS; i++) {
		struct run *r = &c->runs[i];

		if (!r->len)
			continue;
		c->st->unpaired += run_unanswered(c, r);
		run_free(c, r);
	}
}

/* --- the queue of waiting messages ------------------------------------------------------------ */

/* The statement a Bind or Describe names, as the server will see it: a Parse still waiting for
 * its ParseComplete comes first (if it fails, the server skips the Bind too), then the map. The
 * Parse of a run with repetitions to come is still waiting, whatever its entry says. */
static struct pg_sql *stmt_get(struct pg_conn *c, bool named, uint64_t hash)
{
	struct named *e;

	for (uint32_t i = c->q_len; (c->n_pending_parse || c->n_runs) && i-- > 0;) {
		struct pending *p = q_at(c, i);
		struct run *r = run_of(c, p);

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

static void q_pop(struct pg_conn *c)
{
	struct pending *e = q_at(c, 0);

	if (e->type == 'P' && e->state == E_WAIT)
		c->n_pending_parse--;
	sql_put(c, e->sql);
	c->q_head = (c->q_head + 1) & (c->q_cap - 1);
	c->q_seq++;
	c->q_len--;
	if (c->q_cur)
		c->q_cur--;
}

/* The newest entry goes (it folded into a run). */
static void q_unpush(struct pg_conn *c)
{
	struct pending *e = q_at(c, c->q_len - 1);

	if (e->type == 'P' && e->state == E_WAIT)
		c->n_pending_parse--;
	sql_put(c, e->sql);
	c->q_len--;
}

/* Answered entries at the head go, except records held for the ReadyForQuery's status and the
 * entries of a run, which its next repetitions reuse. */
static void q_trim(struct pg_conn *c)
{
	while (c->q_len && c->q_cur) {
		struct pending *e = q_at(c, 0);

		if ((e->state == E_DONE && e->emits) || e->run)
			break;
		q_pop(c);
	}
}

static void emit(struct pg_conn *c, struct pending *e, char txn);

/* Records answered before index upto go now, without their ReadyForQuery (txn_status 0), in
 * order: the queue needs their entries. After a resync nothing unconfirmed is emitted. */
static void flush_held(struct pg_conn *c, uint32_t upto)
{
	for (uint32_t i = 0; i < upto; i++) {
		struct pending *e = q_at(c, i);

		if (e->state != E_DONE || !e->emits)
			continue;
		if (c->provisional)
			c->st->unpaired++;
		else
			emit(c, e, 0);
		e->emits = false;
	}
}

/* The run's block has been answered: its next repetition starts in the same entries. */
static void run_rewind(struct pg_conn *c, struct run *r)
{
	uint32_t s = run_start(c, r);
	bool anon = r->anon >= r->more;
	bool exact, skip = r->skip_next;
	uint64_t ts;

	flush_held(c, s + r->len);
	for (; s; s--) /* what came before is answered (and no longer held) */
		q_pop(c);
	ts = r->seg[r->seg0].ts;
	exact = r->seg[r->seg0].exact > 0;
	if (r->seg[r->seg0].exact)
		r->seg[r->seg0].exact--;
	if (!--r->seg[r->seg0].n) {
		r->seg0 = (r->seg0 + 1) % RUN_SEGS;
		r->n_seg--;
	}
	for (uint32_t i = 0; i < r->len; i++) {
		struct pending *e = q_at(c, i);
		uint64_t req = r->req[i] / r->more;

		r->req[i] -= req;
		e->state = skip ? E_SKIPPED : E_WAIT;
		if (e->type == 'S')
			e->state = E_WAIT, skip = false;
		e->flags = e->status = e->copy = e->severity = 0;
		e->suspended = false;
		e->rows = e->t_response = e->resp_bytes = 0;
		e->data_rows = e->statements = 0;
		e->sqlstate[0] = e->tag[0] = '\0';
		e->emits = is_record_type(e->type);
		e->t_request = ts;
		e->req_bytes = req;
		e->fold = FOLD_REP | (exact ? 0 : FOLD_BATCH_TIMED) | (anon ? FOLD_ANON : 0);
		if (anon) { /* from here on the block's SQL and names are not the client's */
			sql_put(c, e->sql);
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
static void q_advance(struct pg_conn *c)
{
	while (c->q_cur < c->q_len) {
		struct pending *e = q_at(c, c->q_cur);
		struct run *r = run_of(c, e);

		if (e->state == E_WAIT)
			return;
		if (r && c->q_cur == run_start(c, r) + r->len - 1) {
			if (r->more) {
				run_rewind(c, r);
				continue;
			}
			run_free(c, r);
		}
		c->q_cur++;
	}
}

static struct pending *q_wait(struct pg_conn *c)
{
	return c->q_cur < c->q_len ? q_at(c, c->q_cur) : NULL;
}

static bool has_wait(struct pg_conn *c)
{
	return c->q_cur < c->q_len;
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
		if (!same_msg(q_at(c, a + i), q_at(c, b + i), how))
			return false;
	return true;
}

/* A repetition joins the run: when it came, what it brought; its entries go. */
static void run_add(struct pg_conn *c, struct run *r, uint32_t s, bool anon)
{
	uint64_t ts = q_at(c, s)->t_request;
	bool exact = true;
	struct run_seg *g = r->n_seg ? &r->seg[(r->seg0 + r->n_seg - 1) % RUN_SEGS] : NULL;

	for (uint32_t i = 0; i < r->len; i++) {
		const struct pending *e = q_at(c, s + i);

		r->req[i] += e->req_bytes;
		if (e->type != 'S' && e->type != 'C' && e->t_request != ts)
			exact = false; /* a repetition that came over two reads */
	}
	if (g && g->ts == ts) {
		exact = exact && g->exact == g->n;
	} else if (r->n_seg < RUN_SEGS) {
		g = &r->seg[(r->seg0 + r->n_seg++) % RUN_SEGS];
		g->ts = ts;
		g->n = g->exact = 0;
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
		q_at(c, s + i)->run = (uint8_t)(r - c->runs + 1);
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
static void q_fold(struct pg_conn *c)
{
	bool full = c->q_len + 2 * PG_MAX_UNIT > PG_MAX_PENDING;
	enum same top = full ? SAME_SHAPE : SAME_FP;
	char t = c->q_len ? q_at(c, c->q_len - 1)->type : 0;

	if (c->q_len <= PG_FOLD_AT || (!full && !is_record_type(t) && t != 'S'))
		return;
	for (enum same how = SAME_TEXT; how <= top; how++) {
		for (uint32_t len = 1; len <= PG_MAX_UNIT && 2 * len <= c->q_len; len++) {
			uint32_t s = c->q_len - len;
			struct pending *prev = q_at(c, s - 1);
			struct run *r = run_of(c, prev);

			if (s < c->q_cur || q_at(c, s)->run || q_at(c, s)->state != E_WAIT)
				break; /* being answered, skipped, or a run's: so are longer ones */
			if (!full && t != 'S' && q_at(c, s)->type == 'S')
				break;
			if (r && r->len == len && s - 1 == run_start(c, r) + len - 1) {
				enum same h = r->shape_only ? SAME_SHAPE : how;

				if (same_block(c, run_start(c, r), s, len, h)) {
					run_add(c, r, s, h == SAME_SHAPE);
					return;
				}
			} else if (same_block(c, s - len, s, len, how) && run_new(c, s, len)) {
				return;
			}
		}
	}
}
/* --- records ---------------------------------------------------------------------------------- */

static void emit(struct pg_conn *c, struct pending *e, char txn)
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
	strcpy(r.tag, e->tag);
	r.statements = e->statements;
	r.rows = e->rows;
	strcpy(r.sqlstate, e->status == PG_ERROR ? e->sqlstate : "");
	strcpy(r.severity, e->status == PG_ERROR ? severities[e->severity ? e->severity : 1] : "");
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

static void framer_reset(struct pg_conn *c, struct framer *f)
{
	sql_put(c, f->sql);
	f->sql = NULL;
	f->state = FR_HDR;
	f->hdr_len = 0;
}

/*
 * Everything queued goes: records already answered (held for their ReadyForQuery) are emitted
 * without a transaction status, the rest is counted. Pairing so far was right: responses come in
 * order, so what we matched before the loss was matched to its own message; unless we had just
 * resynced and no ReadyForQuery had confirmed it yet (provisional): then nothing is emitted.
 */
static void drop_queue(struct pg_conn *c)
{
	runs_drop(c);
	while (c->q_len) {
		struct pending *e = q_at(c, 0);

		if (e->state == E_DONE && e->emits && !c->provisional)
			emit(c, e, 0);
		else if (e->state != E_SKIPPED && e->emits)
			c->st->unpaired++;
		q_pop(c);
	}
	c->q_cur = 0;
	c->n_pending_parse = 0;
}

/*
 * Framing is gone: drop what is pending and ignore both directions until it starts clean again.
 * The server answers a Sync or Query with ReadyForQuery and flushes it, and a PostgreSQL backend
 * reads its socket only when it has nothing left to answer; so when what the server last wrote
 * ends with a ReadyForQuery and the next thing it reads starts with a Query/Parse/Bind/
 * FunctionCall header (length <= 1 MiB), nothing is in flight either way: pairing resumes there.
 * When the end of the server's last write was past the capture (results longer than it), that
 * proof cannot come, so pairing also resumes at such a header if the whole first message is
 * captured and well formed; either way it stays provisional (a loss emits nothing held) until a
 * ReadyForQuery answers what we queued.
 */
static void lose(struct pg_conn *c, bool count)
{
	if (count)
		c->st->resyncs++;
	if (c->cf.state == FR_BODY && is_record_type(c->cf.type))
		c->st->unpaired++;
	drop_queue(c);
	framer_reset(c, &c->cf);
	framer_reset(c, &c->sf);
	c->c_lost = c->s_tail = c->skip_pushes = false;
	c->batch_ts = c->req_acc = c->resp_acc = 0;
	c->lost = true;
	c->probing = c->provisional = c->check_first = false;
	if (c->in_chunk) { /* lost in what the client sent: the server must write after it */
		c->win_len = 0;
		c->win_unknown = false;
	}
	if (c->phase == PH_AUTH || c->phase == PH_STARTUP || c->phase == PH_SSL_WAIT)
		c->phase = PH_READY;
}

/* A response that does not fit the message it would answer: our view is wrong. */
static void mismatch(struct pg_conn *c)
{
	c->st->parse_errors++;
	lose(c, true);
}

/*
 * A gap cut the client stream across a header: the messages parsed before it still get the next
 * responses, in order; those after it were never seen, so once the queue is answered the server's
 * output is theirs and the connection is lost until it starts clean.
 */
static void lose_client(struct pg_conn *c)
{
	c->st->resyncs++;
	if (c->cf.state == FR_BODY && is_record_type(c->cf.type))
		c->st->unpaired++; /* the message the gap cut */
	framer_reset(c, &c->cf);
	if (c->phase != PH_READY || !has_wait(c)) {
		lose(c, false);
		return;
	}
	c->c_lost = true;
}

/*
 * The messages still waiting form one unit that ends with ReadyForQuery: a Query, a
 * FunctionCall, or extended messages up to a Sync with at most one Execute. The server flushes
 * that ReadyForQuery and reads again only after it, so the unit ends at the next read even when
 * its response's end was past the capture.
 */
static bool tail_unit(struct pg_conn *c)
{
	struct pending *last = NULL;
	uint32_t n_wait = 0, n_exec = 0;

	for (uint32_t i = c->q_cur; i < c->q_len; i++) {
		struct pending *e = q_at(c, i);
		struct run *r = run_of(c, e);

		/* a block that comes again with a record or a Sync in it: more than one unit */
		if (r && r->more &&
		    (run_has(c, r, 'S') || run_has(c, r, 'Q') || run_has(c, r, 'F') ||
		     run_has(c, r, 'E')))
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
static void finish_tail(struct pg_conn *c)
{
	runs_drop(c); /* (only blocks without records: see tail_unit()) */
	while (c->q_len) {
		struct pending *e = q_at(c, 0);

		if (e->state == E_WAIT && is_record_type(e->type)) {
			if (e->status != PG_ERROR || c->provisional) {
				e->status = PG_UNKNOWN;
				c->st->truncated_responses++;
			}
			e->rows = c->provisional ? 0 : e->rows + e->data_rows;
			e->t_response = c->tail_ts;
			e->resp_bytes += c->resp_acc + c->tail_bytes;
			c->resp_acc = c->tail_bytes = 0;
			emit(c, e, 0);
		} else if (e->state == E_DONE && e->emits) {
			if (c->provisional)
				c->st->unpaired++;
			else
				emit(c, e, 0);
		}
		q_pop(c);
	}
	c->q_cur = 0;
	c->n_pending_parse = 0;
	c->s_tail = false;
	c->resp_acc = c->tail_bytes = 0;
	framer_reset(c, &c->sf);
}

/* --- server messages -------------------------------------------------------------------------- */

/* The ErrorResponse just read: severity (non-localized V first) and SQLSTATE, nothing else. */
static void take_error(struct pending *e, const struct framer *f)
{
	const char *sev = (f->seen & 2) ? f->s2 : (f->seen & 1) ? f->s1 : "";
	bool ok = (f->seen & 4) && f->len3 == 5;

	e->status = PG_ERROR;
	e->severity = 1;
	for (uint8_t i = 1; i < sizeof(severities) / sizeof(severities[0]); i++)
		if (!strcmp(sev, severities[i]))
			e->severity = i;
	for (int i = 0; ok && i < 5; i++)
		ok = (f->s3[i] >= '0' && f->s3[i] <= '9') || (f->s3[i] >= 'A' && f->s3[i] <= 'Z');
	memcpy(e->sqlstate, ok ? f->s3 : "", ok ? 6 : 1);
}

/* CommandComplete: the tag without its counts ("INSERT 0 1" -> "INSERT"), and the row count it
 * carries (its last word), or the DataRows seen when it carries none. */
static void take_tag(struct pending *e, const struct framer *f, bool sum)
{
	uint64_t count = 0;
	bool has_count = false;
	uint32_t n = 0, k;
	const char *p = f->s1;

	if (f->field >= 1 && f->len1 < sizeof(f->s1) - 1) { /* the whole tag was captured */
		/* the count: the last word, when it is all digits (19 at most: no overflow) */
		for (k = f->len1; k && p[k - 1] >= '0' && p[k - 1] <= '9'; k--)
			;
		if (k && k < f->len1 && p[k - 1] == ' ' && f->len1 - k <= 19) {
			has_count = true;
			for (; k < f->len1; k++)
				count = count * 10 + (uint64_t)(p[k] - '0');
		}
		/* the label: up to the first word that starts with a digit */
		for (; n < f->len1 && n < PG_TAG_LEN - 1; n++) {
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
	q_advance(c);
	q_trim(c);
	/* Client framing was lost: once what we saw is answered, the rest answers the unseen. */
	if (c->c_lost && !has_wait(c))
		lose(c, false);
}

/* ErrorResponse to an extended-protocol message: the server skips what follows until Sync,
 * the repetitions of a run to come included. */
static void ext_error(struct pg_conn *c, struct pending *e)
{
	bool sync = false;

	take_error(e, &c->sf);
	e->emits = e->type != 'C'; /* a rejected Parse/Bind/Describe is a failed query too */
	for (uint32_t i = c->q_cur + 1; i < c->q_len; i++) {
		struct pending *s = q_at(c, i);
		struct run *r = run_of(c, q_at(c, i - 1));

		if (r && r->more && i - 1 == run_start(c, r) + r->len - 1) {
			/* past the block's end: its next repetitions come first */
			if (run_has(c, r, 'S')) {
				r->skip_next = true;
				c->st->skipped += run_records(c, r, true);
				sync = true;
				break;
			}
			c->st->skipped += (uint64_t)run_records(c, r, false) * r->more;
			r->more = r->anon = 0;
			r->n_seg = 0;
		}
		if (s->type == 'S') {
			sync = true;
			break;
		}
		if (s->state != E_WAIT)
			continue;
		if (s->type == 'P')
			c->n_pending_parse--;
		if (is_record_type(s->type))
			c->st->skipped++;
		s->state = E_SKIPPED;
	}
	if (!sync) { /* the walk ended at the newest entry, which may end a run's block */
		struct run *r = c->q_len ? run_of(c, q_at(c, c->q_len - 1)) : NULL;

		if (r && r->more && run_has(c, r, 'S')) {
			r->skip_next = true;
			c->st->skipped += run_records(c, r, true);
			sync = true;
		} else if (r && r->more) {
			c->st->skipped += (uint64_t)run_records(c, r, false) * r->more;
			r->more = r->anon = 0;
			r->n_seg = 0;
		}
	}
	c->skip_pushes = !sync;
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
			if (q_at(c, i)->state == E_DONE && q_at(c, i)->emits)
				last = q_at(c, i);
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
		struct pending *e = q_at(c, i);

		if (e->state == E_DONE && e->emits) {
			emit(c, e, txn);
			e->emits = false;
		}
	}
	c->provisional = false;
	q_advance(c);
	q_trim(c);
	if (c->c_lost && !has_wait(c))
		lose(c, false);
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

/* ReadyForQuery's transaction status: idle, in a transaction, in a failed one. */
static bool ready_status(char s)
{
	return s == 'I' || s == 'T' || s == 'E';
}

static void param_status(struct pg_conn *c)
{
	if (c->sf.field == 2) /* application_name, all of it (SET application_name reports it) */
		copy_label(c->application, sizeof(c->application), c->sf.s2);
}

static void server_msg(struct pg_conn *c)
{
	struct framer *f = &c->sf;
	char t = f->type;
	struct pending *e;

	if (t == 'Z' && !ready_status(f->s3[0])) {
		mismatch(c);
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
		param_status(c);
		return;
	}
	e = q_wait(c);
	if (!e) {
		if (t == 'E')
			c->st->async_errors++; /* FATAL with nothing asked: shutdown, timeouts */
		else
			mismatch(c);
		return;
	}
	switch (e->type) {
	case 'Q':
		if (t == 'Z') {
			ready(c, e, f->s3[0]);
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
			ready(c, e, f->s3[0]);
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
			ready(c, e, f->s3[0]);
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
				sql_put(c, c->unnamed_stmt);
				c->unnamed_stmt = e->name_cut ? NULL : sql_ref(e->sql);
			}
		} else if (e->type == 'B' && t == '2') {
		} else if (e->type == 'D' && t == 't' && e->target != 'P' &&
			   !(e->flags & F_PARAMDESC)) {
			e->flags |= F_PARAMDESC; /* (a target past the capture may be either) */
			return;
		} else if (e->type == 'D' && (t == 'T' || t == 'n') &&
			   (e->target != 'S' || (e->flags & F_PARAMDESC))) {
		} else if (e->type == 'C' && t == '3') {
			if (e->target == 'S' && !e->named) {
				sql_put(c, c->unnamed_stmt);
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
	mismatch(c);
}

/* Before ReadyForQuery: authentication (never kept), parameters, the cancel key (never kept). */
static void auth_msg(struct pg_conn *c)
{
	switch (c->sf.type) {
	case 'S':
		param_status(c);
		break;
	case 'N':
		c->st->notices++;
		break;
	case 'E': /* authentication failed, no such database, too many connections... */
		c->st->startup_errors++;
		c->phase = PH_DONE;
		break;
	case 'Z':
		if (!ready_status(c->sf.s3[0])) {
			mismatch(c);
			break;
		}
		c->phase = PH_READY;
		c->req_acc = c->resp_acc = 0;
		break;
	default: /* R, K, v */
		break;
	}
}

/* --- client messages -------------------------------------------------------------------------- */

static struct pending *q_push(struct pg_conn *c)
{
	struct pending *e;

	if (c->q_len == c->q_cap) {
		uint32_t ncap = c->q_cap ? c->q_cap * 2 : 4;
		struct pending *nq;

		if (c->q_cap >= PG_MAX_PENDING) {
			/* Nothing folds: the held records give up their ReadyForQuery's status. */
			if (!c->provisional) {
				flush_held(c, c->q_cur);
				q_trim(c);
			}
			if (c->q_len == c->q_cap)
				return NULL;
		} else {
			nq = malloc(ncap * sizeof(*nq));
			if (!nq)
				return NULL;
			for (uint32_t i = 0; i < c->q_len; i++)
				nq[i] = *q_at(c, i);
			free(c->q);
			c->q = nq;
			c->q_cap = ncap;
			c->q_head = 0;
		}
	}
	e = q_at(c, c->q_len++);
	memset(e, 0, offsetof(struct pending, sqlstate));
	e->sqlstate[0] = e->tag[0] = '\0';
	return e;
}

/* A whole client message whose strings end where its format says (no text has NUL bytes). */
static bool well_formed(const struct framer *f)
{
	if (f->cut)
		return false;
	switch (f->type) {
	case 'Q':
		return f->field == 1 && f->after == 0;
	case 'P':
		return f->field == 2 && f->after >= 2 && (f->after - 2) % 4 == 0;
	case 'B':
		return f->field == 2 && f->after >= 6;
	default:
		return f->type == 'F';
	}
}

static void client_msg(struct pg_conn *c)
{
	struct framer *f = &c->cf;
	struct pending *e;
	char t = f->type;

	switch (t) {
	case 'X':
		c->skip_pushes = false;
		return;
	case 'H':
	case 'd':
	case 'c':
	case 'f':
		return; /* no response of their own; bytes were counted at their header */
	}
	if (c->check_first) { /* resynced blind: the first message must be exactly well formed */
		c->check_first = false;
		if (!well_formed(f)) {
			c->st->parse_errors++;
			lose(c, true);
			return;
		}
	}
	if (c->skip_pushes && t != 'S') {
		if (is_record_type(t))
			c->st->skipped++;
		return;
	}
	e = q_push(c);
	if (!e) { /* deeper than we follow: framing is given up (this message counted by lose) */
		lose(c, true);
		return;
	}
	e->type = t;
	e->t_request = f->ts;
	switch (t) {
	case 'Q':
		e->sql = f->sql;
		f->sql = NULL;
		if (e->sql && f->field < 1)
			e->sql->truncated = true;
		/* fallthrough */
	case 'F':
		e->emits = true;
		e->req_bytes = c->req_acc;
		c->req_acc = 0;
		c->batch_ts = 0;
		break;
	case 'P':
		e->named = f->len1 > 0;
		e->name_cut = f->field < 1;
		e->hash = name_hash(f->s1, f->len1);
		e->sql = f->sql;
		f->sql = NULL;
		if (e->sql && f->field < 2)
			e->sql->truncated = true;
		c->n_pending_parse++;
		break;
	case 'B':
		/* Only the two names were read: parameter values never leave the socket buffer. */
		if (f->field >= 2)
			e->sql = sql_ref(stmt_get(c, f->len2 > 0, name_hash(f->s2, f->len2)));
		if (f->field >= 1)
			portal_put(c, f->len1 > 0, name_hash(f->s1, f->len1), e->sql);
		else /* which portal it defines is not known: none of them is any more */
			portal_forget(c);
		break;
	case 'D':
		e->target = f->s3[0];
		if (f->field >= 2 && e->target == 'S')
			e->sql = sql_ref(stmt_get(c, f->len1 > 0, name_hash(f->s1, f->len1)));
		else if (f->field >= 2)
			e->sql = sql_ref(portal_get(c, f->len1 > 0, name_hash(f->s1, f->len1)));
		break;
	case 'E':
		if (f->field >= 1)
			e->sql = sql_ref(portal_get(c, f->len1 > 0, name_hash(f->s1, f->len1)));
		e->emits = true;
		e->t_request = c->batch_ts ? c->batch_ts : f->ts;
		e->req_bytes = c->req_acc;
		c->req_acc = 0;
		c->batch_ts = 0;
		break;
	case 'C':
		e->target = f->s3[0];
		e->named = f->len1 > 0;
		e->name_cut = f->field < 2;
		e->hash = name_hash(f->s1, f->len1);
		break;
	case 'S':
		c->skip_pushes = false;
		c->batch_ts = 0;
		break;
	}
	q_fold(c);
}

/* --- framing ---------------------------------------------------------------------------------- */

static void client_body(struct pg_conn *c, const uint8_t *d, uint32_t n)
{
	struct framer *f = &c->cf;
	uint32_t i = 0;
	bool end;

	while (i < n) {
		switch (f->type) {
		case 'Q':
			if (f->field)
				return;
			i += take_sql(f->sql, d + i, n - i, &end);
			f->field = end;
			f->after = f->left - i;
			break;
		case 'P':
			if (f->field == 0) {
				i += take_str(f->s1, &f->len1, sizeof(f->s1), d + i, n - i, &end);
				if (end) {
					f->field = 1;
					f->sql = sql_new(c, f->left - i);
				}
			} else if (f->field == 1) {
				i += take_sql(f->sql, d + i, n - i, &end);
				f->field += end;
				f->after = f->left - i;
			} else {
				return;
			}
			break;
		case 'B': /* portal, then statement; the parameters are not read */
			if (f->field == 0)
				i += take_str(f->s1, &f->len1, sizeof(f->s1), d + i, n - i, &end);
			else if (f->field == 1)
				i += take_str(f->s2, &f->len2, sizeof(f->s2), d + i, n - i, &end);
			else
				return;
			f->field += end;
			f->after = f->left - i;
			break;
		case 'E':
			if (f->field)
				return;
			i += take_str(f->s1, &f->len1, sizeof(f->s1), d + i, n - i, &end);
			f->field = end;
			break;
		case 'D':
		case 'C':
			if (f->field == 0) {
				f->s3[0] = (char)d[i++];
				f->field = 1;
			} else if (f->field == 1) {
				i += take_str(f->s1, &f->len1, sizeof(f->s1), d + i, n - i, &end);
				f->field += end;
			} else {
				return;
			}
			break;
		default: /* Sync, Flush, CopyData, passwords...: framed, never read */
			return;
		}
	}
}

static void server_body(struct pg_conn *c, const uint8_t *d, uint32_t n)
{
	struct framer *f = &c->sf;
	uint32_t i = 0;
	bool end;

	switch (f->type) {
	case 'C':
		if (!f->field) {
			take_str(f->s1, &f->len1, sizeof(f->s1), d, n, &end);
			f->field = end;
		}
		return;
	case 'Z':
		if (!f->field) {
			f->s3[0] = (char)d[0];
			f->field = 1;
		}
		return;
	case 'S': /* ParameterStatus: only application_name's value is kept */
		while (i < n && f->field < 2) {
			if (f->field == 0) {
				i += take_str(f->s1, &f->len1, sizeof(f->s1), d + i, n - i, &end);
				if (end)
					f->field = strcmp(f->s1, "application_name") ? 3 : 1;
			} else {
				i += take_str(f->s2, &f->len2, sizeof(f->s2), d + i, n - i, &end);
				f->field += end;
			}
		}
		return;
	case 'E': /* severity and SQLSTATE; the message and the rest are skipped unread */
		while (i < n && f->field < 2) {
			if (f->field == 0) {
				f->fcode = d[i++];
				f->field = f->fcode ? 1 : 2;
				continue;
			}
			if (f->fcode == 'S')
				i += take_str(f->s1, &f->len1, 12, d + i, n - i, &end);
			else if (f->fcode == 'V')
				i += take_str(f->s2, &f->len2, 12, d + i, n - i, &end);
			else if (f->fcode == 'C')
				i += take_str(f->s3, &f->len3, sizeof(f->s3), d + i, n - i, &end);
			else
				i += skip_str(d + i, n - i, &end);
			if (end) {
				f->seen |= f->fcode == 'S'   ? 1
					   : f->fcode == 'V' ? 2
					   : f->fcode == 'C' ? 4
							     : 0;
				f->field = 0;
			}
		}
		return;
	}
}

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
	uint32_t len = be32(f->hdr + 1);
	const struct lim *l = in ? client_lim : server_lim;

	if (!type_ok(c, in, t) || len < l[t].min || len > l[t].max) {
		c->st->parse_errors++;
		lose(c, true);
		return false;
	}
	f->type = (char)t;
	f->left = len - 4;
	f->state = FR_BODY;
	f->field = f->seen = 0;
	f->cut = false;
	f->len1 = f->len2 = f->len3 = 0;
	f->s1[0] = f->s2[0] = f->s3[0] = '\0';
	if (!in) {
		c->resp_acc += len + 1;
		return true;
	}
	if (t == 'd' || t == 'c' || t == 'f') {
		struct pending *e = q_wait(c);

		if (e && (e->flags & F_COPY_IN)) {
			e->req_bytes += len + 1;
			return true;
		}
	}
	c->req_acc += len + 1;
	if (!c->batch_ts && (type_flags[t] & T_BATCH))
		c->batch_ts = f->ts;
	if (t == 'Q')
		f->sql = sql_new(c, len - 4);
	return true;
}

static void msg_end(struct pg_conn *c, bool in)
{
	struct framer *f = in ? &c->cf : &c->sf;

	if (c->phase == PH_AUTH) {
		if (!in) /* the client's password and SASL messages are framed, never read */
			auth_msg(c);
	} else if (in)
		client_msg(c);
	else
		server_msg(c);
	framer_reset(c, f);
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
		if (c->lost || (c->phase != PH_READY && c->phase != PH_AUTH))
			return false;
	}
	return true;
}

/* --- startup ---------------------------------------------------------------------------------- */

static void encrypted(struct pg_conn *c)
{
	c->st->encrypted_conns++;
	c->encrypted = true;
	c->phase = PH_ENCRYPTED;
}

/* Joined after the startup: nothing is known of this connection's statements. */
static void midstream(struct pg_conn *c)
{
	c->st->midstream++;
	c->phase = PH_READY;
	lose(c, false);
}

static void startup_body(struct pg_conn *c, const uint8_t *d, uint32_t n)
{
	struct framer *f = &c->cf;
	uint32_t i = 0;
	bool end;

	while (i < n) {
		if (f->field == 0) { /* a parameter name; an empty one ends the list */
			i += take_str(f->s1, &f->len1, sizeof(f->s1), d + i, n - i, &end);
			if (!end)
				return;
			if (!f->len1) {
				f->field = 2;
				return;
			}
			f->want = !strcmp(f->s1, "user") || !strcmp(f->s1, "database") ||
				  !strcmp(f->s1, "application_name");
			f->len2 = 0;
			f->s2[0] = '\0';
			f->field = 1;
		} else if (f->field == 1) { /* its value: kept for three names, unread for others */
			if (f->want)
				i += take_str(f->s2, &f->len2, sizeof(f->s2), d + i, n - i, &end);
			else
				i += skip_str(d + i, n - i, &end);
			if (!end)
				return;
			if (f->want && !strcmp(f->s1, "user"))
				copy_label(c->user, sizeof(c->user), f->s2);
			else if (f->want && !strcmp(f->s1, "database"))
				copy_label(c->database, sizeof(c->database), f->s2);
			else if (f->want)
				copy_label(c->application, sizeof(c->application), f->s2);
			f->len1 = 0;
			f->field = 0;
		} else {
			return;
		}
	}
}

static void startup_done(struct pg_conn *c)
{
	if (!c->database[0]) /* the server's default */
		memcpy(c->database, c->user, sizeof(c->database));
	framer_reset(c, &c->cf);
	c->phase = PH_AUTH;
}

/* The client's first packets: no type byte, a length and a code. Returns the bytes consumed. */
static uint32_t startup_in(struct pg_conn *c, const uint8_t *d, uint32_t n)
{
	struct framer *f = &c->cf;
	uint32_t i = 0, len, code;

	if (!n)
		return 0;
	if (f->state == FR_HDR) {
		if (!f->hdr_len) {
			if (d[0] == TLS_HANDSHAKE) {
				encrypted(c);
				return n;
			}
			if (d[0] != 0) { /* lengths are <= 10000: a typed message, we joined late */
				midstream(c);
				return 0;
			}
			f->ts = c->t_chunk;
		}
		i = 8u - f->hdr_len < n ? 8u - f->hdr_len : n;
		memcpy(f->hdr + f->hdr_len, d, i);
		f->hdr_len += i;
		if (f->hdr_len < 8)
			return i;
		len = be32(f->hdr);
		code = be32(f->hdr + 4);
		if (len < 8 || len > MAX_STARTUP_LEN) {
			c->st->parse_errors++;
			lose(c, true);
			return i;
		}
		if ((code == SSL_REQUEST || code == GSSENC_REQUEST) && len == 8) {
			framer_reset(c, f);
			c->phase = PH_SSL_WAIT;
			return i;
		}
		if (code == CANCEL_REQUEST) { /* another connection's query; the key is not read */
			c->st->cancel_requests++;
			c->phase = PH_DONE;
			return n;
		}
		if (code >> 16 != 3) {
			c->st->unsupported++;
			c->phase = PH_DONE;
			return n;
		}
		c->st->startups++;
		f->state = FR_BODY;
		f->left = len - 8;
		f->field = 0;
		f->len1 = 0;
		if (!f->left) {
			startup_done(c);
			return i;
		}
	}
	while (i < n && f->state == FR_BODY) {
		uint32_t k = f->left < n - i ? f->left : n - i;

		startup_body(c, d + i, k);
		f->left -= k;
		i += k;
		if (!f->left)
			startup_done(c);
	}
	return i;
}

/* --- feeding ---------------------------------------------------------------------------------- */

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
	if (c->phase == PH_AUTH || (c->phase == PH_READY && !c->c_lost && tail_unit(c))) {
		c->s_tail = true;
		c->tail_ts = c->t_chunk;
		c->tail_bytes = extra;
		framer_reset(c, f);
		return;
	}
	lose(c, true);
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

/* Lost: is this client chunk where pairing resumes? The bytes of d consumed, or -1. */
static int64_t probe(struct pg_conn *c, const uint8_t *d, uint32_t cap, uint32_t len)
{
	uint32_t i = 0;
	uint64_t t;

	if (!c->probing) {
		if (!c->virgin && !window_is_ready(c) && !c->win_unknown)
			return -1;
		c->check_first = !window_is_ready(c);
		c->probing = true;
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
	if (be32(c->probe + 1) < client_lim[c->probe[0]].min ||
	    be32(c->probe + 1) > PROBE_MAX_LEN)
		goto fail;
	c->lost = c->probing = c->virgin = false;
	c->provisional = true;
	framer_reset(c, &c->cf);
	framer_reset(c, &c->sf);
	t = c->t_chunk;
	c->t_chunk = c->probe_ts;
	frame(c, true, c->probe, 5);
	c->t_chunk = t;
	return i;
fail:
	c->probing = c->virgin = c->check_first = false;
	c->win_len = 0;
	c->win_unknown = false;
	return -1;
}

static void feed_in(struct pg_conn *c, const uint8_t *d, uint32_t cap, uint32_t len)
{
	uint32_t used = 0;

	if (c->phase == PH_SSL_WAIT) {
		if (cap && d[0] == TLS_HANDSHAKE) {
			encrypted(c);
			return;
		}
		c->phase = PH_STARTUP; /* the server's answer was not seen; a new packet starts */
	}
	if (c->phase == PH_STARTUP) {
		used = startup_in(c, d, cap);
		if (c->phase == PH_STARTUP) {
			struct framer *f = &c->cf;

			if (len > cap && !(f->state == FR_BODY && len - cap <= f->left)) {
				lose(c, true);
			} else if (len > cap) {
				f->left -= len - cap;
				if (!f->left)
					startup_done(c);
			}
			return;
		}
		if (c->phase != PH_AUTH && c->phase != PH_READY)
			return;
	}
	if (c->s_tail) {
		if (c->phase == PH_AUTH && cap > used && d[used] != 'p') {
			c->phase = PH_READY; /* the gap hid AuthenticationOk ... ReadyForQuery */
			c->req_acc = c->resp_acc = 0;
		}
		finish_tail(c);
	}
	if (c->lost) {
		int64_t at = probe(c, d + used, cap - used, len - used);

		if (at < 0 || c->lost)
			return;
		used += (uint32_t)at;
	}
	if (c->c_lost) {
		struct pending *e = q_wait(c);

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
	c->virgin = false;
	c->probing = false;
	switch (c->phase) {
	case PH_STARTUP: /* the server speaks first only on a connection we joined late */
		midstream(c);
		return;
	case PH_SSL_WAIT:
		if (!cap)
			return;
		if (d[0] == 'S' || d[0] == 'G') {
			encrypted(c);
		} else if (d[0] == 'N') {
			c->phase = PH_STARTUP;
		} else {
			c->st->startup_errors++; /* a pre-9.x server's ErrorResponse, or garbage */
			c->phase = PH_DONE;
		}
		return;
	}
	if (c->lost)
		return;
	if (c->s_tail) {
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

/* --- life cycle ------------------------------------------------------------------------------- */

struct pg_conn *pg_conn__new(struct pg_stats *stats)
{
	struct pg_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->st = stats;
	c->virgin = true;
	return c;
}

void pg_conn__free(struct pg_conn *c)
{
	if (!c)
		return;
	runs_drop(c);
	while (c->q_len) {
		struct pending *e = q_at(c, 0);

		if (e->emits && e->state != E_SKIPPED)
			c->st->unpaired++;
		q_pop(c);
	}
	for (uint32_t i = 0; i < c->n_stmts; i++)
		sql_put(c, c->stmts[i].sql);
	for (uint32_t i = 0; i < c->n_portals; i++)
		sql_put(c, c->portals[i].sql);
	sql_put(c, c->unnamed_stmt);
	sql_put(c, c->unnamed_portal);
	sql_put(c, c->cf.sql);
	sql_put(c, c->sf.sql);
	free(c->spare);
	free(c->q);
	free(c->stmts);
	free(c->portals);
	free(c->runs);
	free(c);
}

const char *pg_conn__user(const struct pg_conn *c)
{
	return c->user;
}

const char *pg_conn__database(const struct pg_conn *c)
{
	return c->database;
}

const char *pg_conn__application(const struct pg_conn *c)
{
	return c->application;
}

bool pg_conn__encrypted(const struct pg_conn *c)
{
	return c->encrypted;
}

size_t pg_conn__memory(const struct pg_conn *c)
{
	return sizeof(*c) + c->q_cap * sizeof(struct pending) +
	       c->stmts_cap * sizeof(struct named) +
	       (c->portals ? PG_MAX_PORTALS * sizeof(struct named) : 0) +
	       (c->runs ? PG_MAX_RUNS * sizeof(struct run) : 0) + c->sql_bytes;
}

/* --- identity from elsewhere ------------------------------------------------------------------ */

bool pg_conn__anonymous(const struct pg_conn *c)
{
	return c->phase == PH_READY && !c->user[0];
}

void pg_conn__identify(struct pg_conn *c, const char *user, const char *database)
{
	if (c->user[0])
		return;
	copy_label(c->user, sizeof(c->user), user);
	copy_label(c->database, sizeof(c->database), database);
}
