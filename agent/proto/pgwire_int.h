/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The PostgreSQL parser's insides, shared by its four files and by nothing else:
 *   pgwire_frame.c    cuts each direction into messages by their lengths, reads the few fields
 *                     it needs into struct framer, handles gaps, loses and regains framing
 *                     (enum pg_sync), and is where captured chunks come in (pg_conn__feed);
 *   pgwire_startup.c  startup packets, SSL/GSS requests, authentication, and who the connection
 *                     is (user, database, application_name);
 *   pgwire_queue.c    the queue of client messages waiting for their responses, and the runs
 *                     that fold a batch longer than the queue;
 *   pgwire.c          pairing: what each response means for the message it answers, records,
 *                     prepared statements and portals, the SQL budget, the connection's life.
 */
#ifndef NEXUS_PGWIRE_INT_H
#define NEXUS_PGWIRE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "proto/pgwire.h"

/* SQL text, shared by reference: the statement map, portals and waiting messages point to it. */
struct pg_sql {
	uint32_t refs;
	uint32_t size; /* bytes allocated, counted against PG_SQL_BUDGET */
	uint32_t len;  /* bytes of SQL held */
	uint32_t cap;  /* room for SQL, NUL not included */
	bool truncated;
	bool has_fp;
	uint64_t fp; /* sql_fingerprint id, computed when a fold compares it */
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
/* What a waiting message has been told so far (pending.flags). */
#define F_PARAMDESC 1 /* Describe statement: ParameterDescription came */
#define F_COPY_IN 2   /* inside COPY FROM STDIN: the client sends CopyData */
#define F_COPY_OUT 4  /* inside COPY TO STDOUT: the server sends CopyData */
/* How a repetition of a run was folded (pending.fold). */
#define FOLD_REP 1	   /* a repetition after the first: counted in pg_stats.folded */
#define FOLD_BATCH_TIMED 2 /* t_request is an earlier read than its own */
#define FOLD_ANON 4	   /* matched by message types only: its SQL and names are not known */

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
	uint8_t severity;   /* index into pg_severities[] */
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

extern const char *const pg_severities[4]; /* "", "ERROR", "FATAL", "PANIC" */

#define RUN_SEGS 6

/* Repetitions of a run that came in one read. */
struct run_seg {
	uint64_t ts;	/* the read */
	uint32_t n;	/* repetitions */
	uint32_t exact; /* the first exact of them came in it; the others later (merged) */
};

/*
 * A block of consecutive queue entries that the client sent again and again: the entries hold
 * the repetition being answered, the run counts the repetitions still to come (which were never
 * queued) and what they brought. When the block's last entry is answered, the next repetition
 * starts in the same entries (pgwire_queue.c).
 */
struct run {
	uint32_t first;	 /* sequence number of the block's first entry */
	uint8_t len;	 /* entries in the block; 0: slot free */
	uint8_t seg0, n_seg;
	bool shape_only; /* a repetition matched by types only: every later one is anonymous */
	bool skip_next;	 /* an error before the next repetition: it skips to its Sync */
	uint32_t more;	 /* repetitions still to come after the one in the entries */
	uint32_t anon;	 /* the last anon of them are anonymous (FOLD_ANON) */
	uint64_t req[PG_MAX_UNIT];    /* request bytes the repetitions to come brought, per entry */
	struct run_seg seg[RUN_SEGS]; /* when the repetitions to come came, oldest first */
};

enum phase { PH_STARTUP = 0, PH_SSL_WAIT, PH_AUTH, PH_READY, PH_ENCRYPTED, PH_DONE };

/*
 * Where framing and pairing stand. The parser starts FRESH; a loss (see pg_frame__lose())
 * leads to LOST or JOINED, and only a clean client start (PROBING, then PAIRED or BLIND) leads
 * back.
 */
enum pg_sync {
	SYNC_FRESH = 0,	  /* framed, and the server has not written yet: a new connection */
	SYNC_PAIRED,	  /* both directions framed, each response paired with its message */
	SYNC_BLIND,	  /* resynced without seeing the server's ReadyForQuery: PAIRED once the
			   * first client message is exactly well formed, else LOST */
	SYNC_CLIENT_CUT,  /* client framing lost across a header: the messages queued before it
			   * still get the next responses; once they are answered, LOST */
	SYNC_SERVER_TAIL, /* server framing lost inside one unit that ends with ReadyForQuery: the
			   * unit ends at the server's next read (pg_pair__finish_tail()) */
	SYNC_LOST,	  /* framing given up: both directions ignored until a clean start */
	SYNC_JOINED,	  /* LOST before the server wrote anything (a connection joined in the
			   * middle): the next client header may resume at once */
	SYNC_PROBING,	  /* LOST or JOINED: reading a client header where pairing resumes */
};

enum fr_state { FR_HDR = 0, FR_BODY };

/* What is kept of the message being read, by its type: names, codes, never values or texts. */
union pg_fields {
	struct {		/* Parse; its SQL goes to framer.sql */
		uint8_t name_len;
		char name[PG_NAME_LEN];
	} parse;
	struct {		/* Bind: the two names; parameter values are never read */
		uint8_t portal_len, stmt_len;
		char portal[PG_NAME_LEN];
		char stmt[PG_NAME_LEN];
	} bind;
	struct {		/* Execute */
		uint8_t portal_len;
		char portal[PG_NAME_LEN];
	} execute;
	struct {		/* Describe and Close */
		char target;	/* 'S' statement, 'P' portal; 0 when not read */
		uint8_t name_len;
		char name[PG_NAME_LEN];
	} describe;
	struct {		/* CommandComplete */
		uint8_t tag_len;
		char tag[PG_NAME_LEN];
	} complete;
	struct {		/* ReadyForQuery */
		char status;	/* 'I', 'T', 'E'... 0 when not read */
	} ready;
	struct {		/* ErrorResponse: severity and SQLSTATE; the message is skipped */
		uint8_t code;	/* the field being read */
		uint8_t seen;	/* fields read whole: ERR_SEVERITY, _SEVERITY_V, _SQLSTATE */
		uint8_t severity_len, severity_v_len, sqlstate_len;
		char severity[12];   /* S: maybe localized */
		char severity_v[12]; /* V: never localized (9.6+) */
		char sqlstate[8];    /* C */
	} error;
	struct {		/* ParameterStatus, and a startup packet's parameters */
		bool want;	/* startup: the value is kept (user, database, app. name) */
		uint8_t name_len, value_len;
		char name[PG_NAME_LEN];
		char value[PG_NAME_LEN];
	} param;
};

#define ERR_SEVERITY 1
#define ERR_SEVERITY_V 2
#define ERR_SQLSTATE 4

/* One direction's framing, and what is kept of the message being read. */
struct framer {
	uint8_t hdr[8]; /* type + length, or a startup packet's length + code */
	uint8_t hdr_len;
	uint8_t state;	/* enum fr_state */
	char type;
	uint8_t step;	/* the part of the body being read, by type (see client_body()) */
	bool cut;	/* a gap fell inside the body */
	uint32_t after; /* body bytes after the last string read (structure checks) */
	uint32_t left;	/* body bytes still to come */
	uint64_t ts;	/* the chunk that brought the first byte */
	struct pg_sql *sql; /* Query/Parse: the SQL being read */
	union pg_fields m;
};

struct pg_conn {
	struct pg_stats *st;
	uint8_t phase;	  /* enum phase */
	uint8_t sync;	  /* enum pg_sync */
	/* Resynced: no ReadyForQuery has confirmed the pairing yet, so a loss emits nothing held.
	 * Not a pg_sync state: it holds through BLIND, CLIENT_CUT and SERVER_TAIL alike. */
	bool provisional;
	bool skip_to_sync; /* after an extended-protocol error the server skips messages to Sync */
	bool in_chunk;	   /* the chunk being fed is one the server read */
	bool win_unknown;  /* the server's last write ended past the capture */
	uint8_t probe_len, win_len;
	uint8_t probe[5];  /* PROBING: the client header read so far */
	uint8_t win[6];	   /* the last bytes the server wrote */
	uint64_t probe_ts;
	struct framer cf, sf; /* client, server */
	/* the queue (pgwire_queue.c) */
	struct pending *q; /* ring, power-of-two capacity */
	uint32_t q_cap, q_head, q_len;
	uint32_t q_cur; /* index (from the head) of the first entry still waiting */
	uint32_t q_seq; /* sequence number of the head entry (runs name entries by it) */
	uint32_t n_pending_parse;
	struct run *runs; /* PG_MAX_RUNS, allocated at the first fold */
	uint32_t n_runs;
	/* statements, portals, SQL (pgwire.c) */
	struct named *stmts;
	uint32_t n_stmts, stmts_cap;
	struct named *portals; /* PG_MAX_PORTALS, allocated at the first named portal */
	uint32_t n_portals;
	struct pg_sql *unnamed_stmt, *unnamed_portal;
	struct pg_sql *spare; /* see pg_sql__put() */
	uint32_t tick;
	size_t sql_bytes;
	/* what the records are built from */
	uint64_t batch_ts; /* first message of the extended batch being sent */
	uint64_t req_acc, resp_acc; /* bytes not yet given to a record */
	uint64_t tail_ts, tail_bytes; /* SERVER_TAIL: the server's last write, its bytes */
	uint64_t t_chunk;  /* the chunk being fed */
	pg_emit_fn emit;
	void *ctx;
	char user[PG_NAME_LEN], database[PG_NAME_LEN], application[PG_NAME_LEN];
};

static inline uint32_t pg_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline bool pg_is_record_type(char t)
{
	return t == 'Q' || t == 'E' || t == 'F';
}

/* framing lost in either direction (LOST, JOINED, PROBING) */
static inline bool pg_lost(const struct pg_conn *c)
{
	return c->sync >= SYNC_LOST;
}

/* ReadyForQuery's transaction status: idle, in a transaction, in a failed one. */
static inline bool pg_ready_status(char s)
{
	return s == 'I' || s == 'T' || s == 'E';
}

static inline struct pending *pg_queue__at(struct pg_conn *c, uint32_t i)
{
	return &c->q[(c->q_head + i) & (c->q_cap - 1)];
}

static inline struct run *pg_queue__run_of(struct pg_conn *c, const struct pending *e)
{
	return e->run ? &c->runs[e->run - 1] : NULL;
}

/* Index (from the head) of the run's first entry. */
static inline uint32_t pg_queue__run_start(const struct pg_conn *c, const struct run *r)
{
	return r->first - c->q_seq;
}

/* The entry being answered, NULL when nothing waits. */
static inline struct pending *pg_queue__wait(struct pg_conn *c)
{
	return c->q_cur < c->q_len ? pg_queue__at(c, c->q_cur) : NULL;
}

/* --- pgwire_frame.c --- */
/* Reads up to a NUL into s (keeping at most cap - 1 bytes); returns the bytes consumed, the NUL
 * included; *end says whether it was among them. */
uint32_t pg_frame__take_str(char *s, uint8_t *slen, uint32_t cap, const uint8_t *d, uint32_t n,
			    bool *end);
uint32_t pg_frame__skip_str(const uint8_t *d, uint32_t n, bool *end);
void pg_frame__reset(struct pg_conn *c, struct framer *f);
void pg_frame__lose(struct pg_conn *c, bool count);
void pg_frame__mismatch(struct pg_conn *c);

/* --- pgwire_startup.c --- */
/* The client's bytes before framing starts (startup packets, SSLRequest...); the bytes of d
 * used, and *go when typed messages follow in this chunk. */
uint32_t pg_startup__in(struct pg_conn *c, const uint8_t *d, uint32_t cap, uint32_t len,
			bool *go);
/* The server's bytes before authentication; true when consumed. */
bool pg_startup__out(struct pg_conn *c, const uint8_t *d, uint32_t cap);
void pg_startup__auth_msg(struct pg_conn *c);
void pg_startup__param_status(struct pg_conn *c);

/* --- pgwire_queue.c --- */
struct pending *pg_queue__push(struct pg_conn *c);
void pg_queue__pop(struct pg_conn *c);
void pg_queue__trim(struct pg_conn *c);
void pg_queue__advance(struct pg_conn *c);
void pg_queue__flush_held(struct pg_conn *c, uint32_t upto);
void pg_queue__fold(struct pg_conn *c);
void pg_queue__drop_runs(struct pg_conn *c);
uint32_t pg_queue__run_records(struct pg_conn *c, const struct run *r, bool before_sync);
bool pg_queue__run_has(struct pg_conn *c, const struct run *r, const char *types);
bool pg_queue__run_skip(struct pg_conn *c, struct run *r);

/* --- pgwire.c --- */
struct pg_sql *pg_sql__new(struct pg_conn *c, uint32_t want);
void pg_sql__put(struct pg_conn *c, struct pg_sql *s);
void pg_pair__emit(struct pg_conn *c, struct pending *e, char txn);
void pg_pair__client(struct pg_conn *c);
void pg_pair__server(struct pg_conn *c);
void pg_pair__drop(struct pg_conn *c);
bool pg_pair__tail_unit(struct pg_conn *c);
void pg_pair__finish_tail(struct pg_conn *c);

#endif /* NEXUS_PGWIRE_INT_H */
