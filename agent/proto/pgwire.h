/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Incremental PostgreSQL frontend/backend protocol (v3) parser for one connection, seen from the
 * server: the bytes it read (client messages) and the bytes it wrote (its responses), in capture
 * order, possibly with gaps where a syscall moved more than was captured. Each simple Query, each
 * Execute, each FunctionCall, and each Parse/Bind/Describe the server rejected becomes one struct
 * pg_record, paired with its own response. Knows nothing of BPF, sockets or HTTP.
 *
 * Records. A Query message is one record however many statements its SQL holds (statements
 * counts them, rows sums their counts, tag is the last one's; an error ends the Query), emitted at
 * its ReadyForQuery. An Execute is one record with the SQL of the statement its portal was bound
 * to (named statements are remembered per connection; a Parse counts once the server confirmed
 * it); it is held until the Sync's ReadyForQuery (for txn_status) and emitted then (for batches
 * past PG_FOLD_AT see below). After an extended-protocol error the server skips everything up
 * to Sync: those Executes never ran and are counted in pg_stats.skipped, not emitted. COPY is
 * part of the record of the Query/Execute that started it. Notices, notifications and
 * ParameterStatus are never responses.
 *
 * Gaps. A gap inside a message body is skipped by the message's length (a big DataRow, a long
 * Query, CopyData). A gap across a header loses framing in that direction, with three exact
 * exceptions: during authentication, and when what waits for a response is one unit ending in
 * ReadyForQuery (a Query, a FunctionCall, or Parse/Bind/Describe/Execute up to a Sync) -- the
 * usual case of a result longer than the capture -- the backend flushes and reads again only when
 * done, so the unit ends at the next read (status PG_UNKNOWN, rows seen so far); and a client-side
 * gap still lets the messages parsed before it pair. Anything else drops what is pending
 * (unpaired, resyncs) and waits for a clean start: see pg_frame__lose() (pgwire_frame.c).
 *
 * Batches of any length. Up to PG_FOLD_AT waiting messages are queued one by one. Past it, a
 * block of up to PG_MAX_UNIT messages that repeats the block before it (Bind/Execute pairs of an
 * executemany, Bind/Execute/Sync units of a pipelining driver, pipelined Queries) folds into a
 * run: the queue keeps one repetition and a count of those still to come, and each repetition is
 * answered, counted and emitted one by one as its responses arrive, so counts, statuses and
 * errors stay exact however long the batch (an error skips the rest of the run up to its Sync,
 * as the server does). Blocks match when their messages have the same SQL text, else the same
 * fingerprint (the record then carries the first one's text, which normalises the same), else,
 * when the queue is nearly full, the same message types only: those repetitions' records have no
 * SQL (sql_unknown, counted in pg_stats.folded_unknown). Only a pipeline that repeats nothing for
 * more than PG_MAX_PENDING messages is still given up (resyncs, unpaired).
 *
 * Timing past the bound. t_response is always the write that completed the record's own
 * response. t_request of a folded repetition is the read that brought it, kept per run as up to
 * 6 (read, count) segments; when more distinct reads are waiting than that, later repetitions
 * take the latest kept read, which is earlier than their own: they are flagged batch_timed and
 * counted in pg_stats.batch_timed (their latency includes the wait behind their batch). When
 * the block holds no Sync (Bind/Execute pairs before one Sync), a repetition's records are
 * emitted when the next repetition starts, before the Sync's ReadyForQuery, and so are those
 * queued before the run: their txn_status is 0 (the run's last repetition keeps it; a block
 * with its own Sync always does). Right after a blind resync (before a ReadyForQuery confirmed
 * the pairing) such records are counted unpaired instead. request_bytes of folded repetitions
 * are the run's average (their sum is exact).
 *
 * Memory per connection: the struct (0.75 KiB), the queue (128 B an entry, grown by doubling
 * from 4 to PG_MAX_PENDING: 32 KiB at most), runs (1.4 KiB, allocated at the first fold), the
 * statement map (24 B each, 6 KiB at most), named portals (0.4 KiB if any) and SQL text
 * (PG_SQL_BUDGET, 64 KiB, shared by statements and waiting messages): about 105 KiB at worst
 * whatever the batch length, 1.4 to 2 KiB for pgbench (see pg_conn__memory()).
 *
 * Privacy: pg_record.sql is the statement as the client sent it, literals included: the caller must
 * normalise (fingerprint) it before it leaves the process. Bind parameter values, passwords and
 * SASL exchanges, the cancel key, startup parameters other than user/database/application_name,
 * and the text of error and notice messages are never copied, not even inside the parser.
 */
#ifndef NEXUS_PGWIRE_H
#define NEXUS_PGWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_SQL_MAX 4096	  /* bytes of a statement's SQL kept, NUL included (4095 of text) */
#define PG_NAME_LEN 64	  /* user, database, application_name (PostgreSQL's NAMEDATALEN) */
#define PG_TAG_LEN 40	  /* command tag without its counts: "SELECT", "CREATE TABLE"... */
/* Queue entries per connection: client messages waiting for their responses, and answered
 * Executes held for their Sync's ReadyForQuery. When it is full and nothing folds, answered
 * records are emitted early (no txn_status); if that frees nothing, framing is given up. */
#define PG_MAX_PENDING 256
/* Past this many entries, repeated blocks fold into runs (and only then: below it every message
 * has its own entry, its own timing and its ReadyForQuery's status). */
#define PG_FOLD_AT 192
#define PG_MAX_UNIT 8 /* messages in a block that folds (P B D E S: 5) */
#define PG_MAX_RUNS 8 /* runs per connection */
/* Named prepared statements remembered per connection (least recently used forgotten, counted). */
#define PG_MAX_STATEMENTS 256
#define PG_MAX_PORTALS 16 /* named portals (cursors); the unnamed one is always kept */
/* SQL text held per connection (statements, and statements waiting for their responses). */
#define PG_SQL_BUDGET ((size_t)64 * 1024)

enum pg_kind {
	PG_KIND_SIMPLE = 0,   /* Query message: sql may hold several statements */
	PG_KIND_EXTENDED = 1, /* Execute of a prepared statement (or a Parse/Bind/Describe error) */
	PG_KIND_FUNCTION = 2, /* FunctionCall (fast path): no SQL */
};

enum pg_status {
	PG_OK = 0,
	PG_ERROR = 1,	/* ErrorResponse: sqlstate and severity say which */
	PG_UNKNOWN = 2, /* the response ended past the capture: latency right, outcome unknown */
};

enum pg_copy {
	PG_COPY_NONE = 0,
	PG_COPY_IN = 1,	  /* COPY FROM STDIN: request_bytes include the data */
	PG_COPY_OUT = 2,  /* COPY TO STDOUT */
	PG_COPY_BOTH = 3, /* replication streams */
};

struct pg_record {
	char sql[PG_SQL_MAX];	/* NUL-terminated; empty for FunctionCall or an unknown statement */
	uint32_t sql_len;
	bool sql_truncated;	/* the statement is longer than sql holds (size, capture, budget) */
	bool sql_unknown;	/* statement never seen: joined late, evicted, SQL PREPARE */
	bool suspended;		/* Execute stopped at its row limit (PortalSuspended) */
	uint8_t kind;		/* enum pg_kind */
	uint8_t copy;		/* enum pg_copy */
	uint8_t status;		/* enum pg_status */
	char tag[PG_TAG_LEN];	/* of the (last) CommandComplete, counts removed; "" if none */
	uint32_t statements;	/* statements completed (CommandComplete or EmptyQueryResponse) */
	uint64_t rows;		/* the tag's count (a Query's statements summed), else DataRows */
	char sqlstate[6];	/* when status is PG_ERROR: "23505"...; its class: the first two */
	char severity[8];	/* ERROR, FATAL or PANIC when status is PG_ERROR */
	char txn_status;	/* of the ReadyForQuery after it: 'I', 'T', 'E'; 0 if not seen */
	uint64_t t_request;	/* ns: the read that brought the Query, or the first message
				 * of the Execute's batch (Parse/Bind/Describe since the last) */
	uint64_t t_response;	/* ns: the write that completed its CommandComplete/ErrorResponse
				 * (Execute), or its ReadyForQuery (Query, FunctionCall) */
	uint64_t request_bytes;	/* client messages since the previous record, this one's too */
	uint64_t response_bytes; /* server messages since the previous record, this one's too */
	bool batch_timed;	/* t_request is an earlier read of its run, not its own (see above) */
	char user[PG_NAME_LEN], database[PG_NAME_LEN], application[PG_NAME_LEN];
};

/* Per-parser counters: every drop is counted here, never guessed around. stats may be shared. */
struct pg_stats {
	uint64_t commands;	      /* records emitted */
	uint64_t parse_errors;	      /* bytes not of the protocol, or a response out of place */
	uint64_t resyncs;	      /* framing lost (gap across a header, error, overflow) */
	uint64_t unpaired;	      /* Query/Execute/FunctionCall dropped without a response */
	uint64_t skipped;	      /* ...that the server ignored after an error, until Sync */
	uint64_t truncated_responses; /* records with PG_UNKNOWN: response ended past the capture */
	uint64_t unknown_statements;  /* records whose statement was never seen (sql_unknown) */
	uint64_t statements_evicted;  /* prepared statements forgotten (count or SQL budget) */
	uint64_t encrypted_conns;     /* SSL/GSS accepted, or direct TLS: nothing parsed */
	uint64_t cancel_requests;
	uint64_t notifications;	      /* NotificationResponse (LISTEN/NOTIFY) */
	uint64_t notices;	      /* NoticeResponse */
	uint64_t startups;	      /* StartupMessage, protocol 3 */
	uint64_t startup_errors;      /* ErrorResponse before ReadyForQuery: auth, no database... */
	uint64_t async_errors;	      /* ErrorResponse with nothing waiting (FATAL: shutdown) */
	uint64_t midstream;	      /* connections joined after their startup */
	uint64_t unsupported;	      /* startup of a protocol we do not follow (2.0) */
	uint64_t folded;	      /* records of repetitions that were folded into a run */
	uint64_t batch_timed;	      /* ...whose t_request is an earlier read (record.batch_timed) */
	uint64_t folded_unknown;      /* ...folded by message types alone: no SQL (sql_unknown) */
};

typedef void (*pg_emit_fn)(void *ctx, const struct pg_record *r);

struct pg_conn;

/* NULL + errno on failure. stats must outlive the parser. */
struct pg_conn *pg_conn__new(struct pg_stats *stats);
/* Counts what is still waiting for a response as unpaired; accepts NULL. */
void pg_conn__free(struct pg_conn *c);

/*
 * Feeds one captured chunk. in: the server read it (client messages), else it wrote it. data
 * holds the first cap bytes of the len the syscall moved; len > cap is a gap after them. emit is
 * called (possibly several times) before this returns; the record is valid during the call only.
 */
void pg_conn__feed(struct pg_conn *c, bool in, const uint8_t *data, uint32_t cap, uint32_t len,
		   uint64_t ts_ns, pg_emit_fn emit, void *ctx);

/* From the StartupMessage (application_name also from ParameterStatus); "" when not seen. */
const char *pg_conn__user(const struct pg_conn *c);
const char *pg_conn__database(const struct pg_conn *c);
const char *pg_conn__application(const struct pg_conn *c);
/* SSL/GSS encryption was accepted (or TLS started directly): the parser sees nothing more. */
bool pg_conn__encrypted(const struct pg_conn *c);
/* Heap bytes the parser holds for this connection (struct, queue, statements, SQL). */
size_t pg_conn__memory(const struct pg_conn *c);

/*
 * Identity from elsewhere. A connection past its startup without having seen it (joined late, or
 * its startup was lost) is anonymous: its user and database are "" until pg_conn__identify() names
 * it (the pipeline reads them from the backend's process title). Records emitted from then on
 * carry them; a connection its startup named is never renamed.
 */
bool pg_conn__anonymous(const struct pg_conn *c);
void pg_conn__identify(struct pg_conn *c, const char *user, const char *database);

#endif /* NEXUS_PGWIRE_H */
