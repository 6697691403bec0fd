// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * PostgreSQL v3 parser fixtures: captured chunks in (client messages the server read, its
 * responses, captures shorter than the syscall), records out. Messages are written as short specs
 * ("Q|SELECT 1", "C|SELECT 1", "Z|I") that build() turns into protocol bytes. Each fixture is also
 * fed one byte at a time, which must give the same records and counters. No record may ever hold
 * a secret the fixtures send (passwords, Bind values, startup options, error texts). Batch
 * fixtures (batches longer than the queue, up to 10,000 statements) are built by build_group(),
 * fed at once and in pieces of 7, 1000 and 65536 bytes, and their records tallied by line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "proto/pgwire.h"
#include "proto/sql_fingerprint.h"

/* Fixtures leave unused trailing fields (stats, options) zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define MAXMSG 24

struct chunk {
	char dir;		 /* 'i' the server read it, 'o' it wrote it */
	const char *m[MAXMSG];	 /* message specs, see build() */
	uint32_t cap;		 /* bytes captured; 0: all (else the rest is a gap) */
};

struct fixture {
	const char *name;
	struct chunk chunks[14];
	const char *want[8];
	struct pg_stats want_stats; /* fields checked when non-zero, plus unpaired exactly */
};

/* --- message builder -------------------------------------------------------------------------- */

struct buf {
	uint8_t d[65536];
	uint32_t n;
};

static void put(struct buf *b, const void *p, uint32_t n)
{
	assert_true(b->n + n <= sizeof(b->d));
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void put8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put16(struct buf *b, uint16_t v)
{
	put8(b, v >> 8);
	put8(b, v & 0xff);
}

static void put32(struct buf *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b, v & 0xffff);
}

/* A string with its NUL; "#N" inside it stands for N bytes of 'x'. */
static void putstr(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '#' && s[1] >= '0' && s[1] <= '9') {
			long n = strtol(s + 1, (char **)&s, 10);

			while (n-- > 0)
				put8(b, 'x');
			s--;
			continue;
		}
		put8(b, (uint8_t)*s);
	}
	put8(b, 0);
}

static uint32_t begin(struct buf *b, char type)
{
	uint32_t at;

	if (type)
		put8(b, (uint8_t)type);
	at = b->n;
	put32(b, 0);
	return at;
}

static void finish(struct buf *b, uint32_t at)
{
	uint32_t len = b->n - at;

	b->d[at] = len >> 24;
	b->d[at + 1] = (len >> 16) & 0xff;
	b->d[at + 2] = (len >> 8) & 0xff;
	b->d[at + 3] = len & 0xff;
}

/* Splits "a|b|c" into fields (at most 16). */
static int split(const char *spec, char f[16][256])
{
	int n = 0;
	const char *p = spec;

	for (;;) {
		const char *e = strchr(p, '|');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		assert_true(l < 256 && n < 16);
		memcpy(f[n], p, l);
		f[n++][l] = '\0';
		if (!e)
			return n;
		p = e + 1;
	}
}

/* Client messages: startup|k|v.., ssl, gss, cancel, v2, Q|sql, P|name|sql, B|portal|stmt|v..,
 * D|S|n, C|P|n, E|portal[|max], S, H, X, F, d|data, c, f|why, p|secret, raw|bytes.
 * Server messages: byte|c, R|code, S|name|value, K, Z|s, T|ncols, D|v.., C|tag, I, E|sev|code|msg,
 * N|sev|code|msg, A|chan|payload, 1, 2, 3, n, t|nparams, s, G, H, W, d|data, c, V|data, raw|bytes.
 * "N*spec" repeats a message N times. */
static void build(struct buf *b, char dir, const char *spec)
{
	char f[16][256];
	int n, rep = 1;
	uint32_t at;

	if (spec[0] >= '0' && spec[0] <= '9' && strchr(spec, '*')) {
		rep = atoi(spec);
		spec = strchr(spec, '*') + 1;
	}
	n = split(spec, f);
	while (rep--) {
		const char *t = f[0];

		if (!strcmp(t, "raw")) {
			put(b, f[1], strlen(f[1]));
		} else if (!strcmp(t, "byte")) {
			put8(b, (uint8_t)f[1][0]);
		} else if (dir == 'i' && !strcmp(t, "startup")) {
			at = begin(b, 0);
			put32(b, 196608);
			for (int i = 1; i + 1 < n; i += 2) {
				putstr(b, f[i]);
				putstr(b, f[i + 1]);
			}
			put8(b, 0);
			finish(b, at);
		} else if (dir == 'i' &&
			   (!strcmp(t, "ssl") || !strcmp(t, "gss") || !strcmp(t, "v2"))) {
			put32(b, 8);
			put32(b, !strcmp(t, "ssl")   ? 80877103
				 : !strcmp(t, "gss") ? 80877104
						     : 131072);
		} else if (dir == 'i' && !strcmp(t, "cancel")) {
			put32(b, 16);
			put32(b, 80877102);
			put32(b, 4242);
			put32(b, 0x5ec2e7);
		} else if (dir == 'i') {
			at = begin(b, t[0]);
			switch (t[0]) {
			case 'Q':
			case 'd':
			case 'f':
			case 'p':
				if (t[0] == 'd')
					put(b, f[1], strlen(f[1]));
				else
					putstr(b, f[1]);
				break;
			case 'P':
				putstr(b, f[1]);
				putstr(b, f[2]);
				put16(b, 0);
				break;
			case 'B':
				putstr(b, f[1]);
				putstr(b, f[2]);
				put16(b, 0);
				put16(b, n - 3);
				for (int i = 3; i < n; i++) {
					put32(b, strlen(f[i]));
					put(b, f[i], strlen(f[i]));
				}
				put16(b, 0);
				break;
			case 'D':
			case 'C':
				put8(b, f[1][0]);
				putstr(b, f[2]);
				break;
			case 'E':
				putstr(b, f[1]);
				put32(b, n > 2 ? atoi(f[2]) : 0);
				break;
			case 'F':
				put32(b, 1234);
				put16(b, 0);
				put16(b, 1);
				put32(b, 1);
				put8(b, 'x');
				put16(b, 0);
				break;
			}
			finish(b, at);
		} else {
			at = begin(b, t[0]);
			switch (t[0]) {
			case 'R':
				put32(b, atoi(f[1]));
				if (atoi(f[1]) == 5)
					put32(b, 0x01020304);
				else if (atoi(f[1]) == 10)
					putstr(b, "SCRAM-SHA-256"), put8(b, 0);
				else if (atoi(f[1]) != 0)
					put(b, "r=nonce,s=salt,i=4096", 21);
				break;
			case 'S':
			case 'A':
				if (t[0] == 'A')
					put32(b, 999);
				putstr(b, f[1]);
				putstr(b, f[2]);
				break;
			case 'K':
				put32(b, 4242);
				put32(b, 0x5ec2e7);
				break;
			case 'Z':
				put8(b, f[1][0]);
				break;
			case 'T':
				put16(b, atoi(f[1]));
				for (int i = 0; i < atoi(f[1]); i++) {
					putstr(b, "col");
					put32(b, 0), put16(b, 0), put32(b, 23), put16(b, 4);
					put32(b, -1), put16(b, 0);
				}
				break;
			case 'D':
				put16(b, n - 1);
				for (int i = 1; i < n; i++) {
					struct buf tmp = { .n = 0 };

					putstr(&tmp, f[i]); /* expands #N */
					put32(b, tmp.n - 1);
					put(b, tmp.d, tmp.n - 1);
				}
				break;
			case 'C':
				putstr(b, f[1]);
				break;
			case 'E':
			case 'N':
				put8(b, 'S'), putstr(b, f[1]);
				put8(b, 'V'), putstr(b, f[1]);
				put8(b, 'C'), putstr(b, f[2]);
				put8(b, 'M'), putstr(b, f[3]);
				put8(b, 'F'), putstr(b, "postgres.c");
				put8(b, 0);
				break;
			case 't':
				put16(b, atoi(f[1]));
				for (int i = 0; i < atoi(f[1]); i++)
					put32(b, 23);
				break;
			case 'G':
			case 'H':
			case 'W':
				put8(b, 0);
				put16(b, 0);
				break;
			case 'd':
				put(b, f[1], strlen(f[1]));
				break;
			case 'V':
				put32(b, strlen(f[1]));
				put(b, f[1], strlen(f[1]));
				break;
			default: /* 1 2 3 n I s c: no body */
				break;
			}
			finish(b, at);
		}
	}
}

static void build_chunk(struct buf *b, const struct chunk *ch)
{
	b->n = 0;
	for (int i = 0; i < MAXMSG && ch->m[i]; i++)
		build(b, ch->dir, ch->m[i]);
}

/* --- running fixtures ------------------------------------------------------------------------- */

#define MAXREC 16

struct got {
	int n;
	char rec[MAXREC][200];
	struct pg_record last;
};

static const char *const secrets[] = { "hunter2", "s3cr3t", "leakme", "topsecret" };

static void assert_no_secret(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (memmem(s, n, secrets[i], strlen(secrets[i])))
			fail_msg("a record holds '%s'", secrets[i]);
}

static void collect(void *ctx, const struct pg_record *r)
{
	static const char *const copies[] = { "", " ci", " co", " cb" };
	struct got *g = ctx;
	char st[32];

	/* nothing secret in any of the record's strings */
	assert_no_secret(r->sql, r->sql_len);
	assert_no_secret(r->tag, strlen(r->tag));
	assert_no_secret(r->user, strlen(r->user));
	assert_no_secret(r->database, strlen(r->database));
	assert_no_secret(r->application, strlen(r->application));
	assert_int_equal(strlen(r->sql), r->sql_len);
	if (g->n >= MAXREC)
		return;
	g->last = *r;
	if (r->status == PG_OK)
		strcpy(st, "ok");
	else if (r->status == PG_ERROR)
		snprintf(st, sizeof(st), "%s/%s", r->sqlstate, r->severity);
	else
		strcpy(st, "unknown");
	snprintf(g->rec[g->n++], 200, "%c %s %s r%llu n%u %c%s%s%s%s: %.60s", "QEF"[r->kind], st,
		 r->tag[0] ? r->tag : "-", (unsigned long long)r->rows, r->statements,
		 r->txn_status ? r->txn_status : '-', copies[r->copy], r->suspended ? " susp" : "",
		 r->sql_truncated ? " trunc" : "", r->sql_unknown ? " unknown" : "", r->sql);
}

static void run(const struct fixture *f, bool bytewise, struct got *g, struct pg_stats *st)
{
	struct pg_conn *c = pg_conn__new(st);
	static struct buf b;
	uint64_t ts = 1000;

	memset(g, 0, sizeof(*g));
	assert_non_null(c);
	for (int i = 0; i < 14 && f->chunks[i].dir; i++) {
		const struct chunk *ch = &f->chunks[i];
		bool in = ch->dir == 'i';

		build_chunk(&b, ch);
		ts += 1000;
		if (!bytewise || ch->cap) {
			uint32_t cap = ch->cap && ch->cap < b.n ? ch->cap : b.n;

			pg_conn__feed(c, in, b.d, cap, b.n, ts, collect, g);
			continue;
		}
		for (uint32_t k = 0; k < b.n; k++)
			pg_conn__feed(c, in, b.d + k, 1, 1, ts, collect, g);
	}
	assert_true(pg_conn__memory(c) <= 160 * 1024);
	pg_conn__free(c);
}

static void check(const struct fixture *f, bool bytewise)
{
	struct pg_stats st = {};
	const struct pg_stats *w = &f->want_stats;
	struct got g;
	int nwant = 0;

	run(f, bytewise, &g, &st);
	while (nwant < 8 && f->want[nwant])
		nwant++;
	for (int i = 0; i < g.n || i < nwant; i++) {
		const char *a = i < nwant ? f->want[i] : "(none)";
		const char *r = i < g.n ? g.rec[i] : "(none)";

		if (strcmp(a, r))
			fail_msg("%s%s: record %d: want '%s', got '%s'", f->name,
				 bytewise ? " (bytewise)" : "", i, a, r);
	}
	assert_int_equal(st.commands, g.n);
#define CHECK(field)                                                                              \
	if (w->field && st.field != w->field)                                                     \
		fail_msg("%s%s: " #field " %llu, want %llu", f->name,                            \
			 bytewise ? " (bytewise)" : "", (unsigned long long)st.field,             \
			 (unsigned long long)w->field);
	CHECK(parse_errors);
	CHECK(resyncs);
	CHECK(skipped);
	CHECK(truncated_responses);
	CHECK(unknown_statements);
	CHECK(encrypted_conns);
	CHECK(cancel_requests);
	CHECK(notifications);
	CHECK(notices);
	CHECK(startups);
	CHECK(startup_errors);
	CHECK(async_errors);
	CHECK(midstream);
	CHECK(unsupported);
#undef CHECK
	if (st.unpaired != w->unpaired)
		fail_msg("%s%s: unpaired %llu, want %llu", f->name, bytewise ? " (bytewise)" : "",
			 (unsigned long long)st.unpaired, (unsigned long long)w->unpaired);
	/* what is not asked for did not happen */
	if (!w->resyncs && st.resyncs)
		fail_msg("%s: unexpected resync", f->name);
	if (!w->parse_errors && st.parse_errors)
		fail_msg("%s: unexpected parse error", f->name);
}

#define IN(...) { 'i', { __VA_ARGS__ } }
#define OUT(...) { 'o', { __VA_ARGS__ } }
#define IN_CAP(cap, ...) { 'i', { __VA_ARGS__ }, cap }
#define OUT_CAP(cap, ...) { 'o', { __VA_ARGS__ }, cap }
#define STARTUP                                                                                   \
	IN("startup|user|alice|database|shop|application_name|web|options|-c search_path=topsecret")
#define AUTH_OK OUT("R|0", "S|application_name|web", "S|server_version|15.4", "K", "Z|I")
#define SEL1_REPLY OUT("T|1", "D|1", "C|SELECT 1", "Z|I")

static const struct fixture fixtures[] = {
	/* --- startup --- */
	{ "plain startup, one query",
	  { STARTUP, AUTH_OK, IN("Q|SELECT 1"), SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 1" }, { .startups = 1 } },
	{ "SSLRequest refused, then plaintext",
	  { IN("ssl"), OUT("byte|N"), STARTUP, AUTH_OK, IN("Q|SELECT 1"), SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 1" }, { .startups = 1 } },
	{ "SSLRequest accepted: encrypted, nothing parsed after",
	  { IN("ssl"), OUT("byte|S"), IN("raw|\x16\x03\x01 client hello"), OUT("raw|\x16\x03\x03"),
	    IN("Q|SELECT 1"), SEL1_REPLY },
	  {}, { .encrypted_conns = 1 } },
	{ "GSSENCRequest refused, SSLRequest refused, then plaintext",
	  { IN("gss"), OUT("byte|N"), IN("ssl"), OUT("byte|N"), STARTUP, AUTH_OK, IN("Q|SELECT 1"),
	    SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 1" } },
	{ "GSSENCRequest accepted", { IN("gss"), OUT("byte|G"), IN("Q|SELECT 1"), SEL1_REPLY },
	  {}, { .encrypted_conns = 1 } },
	{ "direct TLS (no SSLRequest)", { IN("raw|\x16\x03\x01\x02\x03"), OUT("raw|\x16\x03\x03") },
	  {}, { .encrypted_conns = 1 } },
	{ "CancelRequest: counted, its key never read", { IN("cancel") }, {},
	  { .cancel_requests = 1 } },
	{ "protocol 2 startup is not followed", { IN("v2"), OUT("R|0") }, {},
	  { .unsupported = 1 } },
	{ "SCRAM exchange: framed, never kept",
	  { STARTUP, OUT("R|10"), IN("p|SCRAM-SHA-256 n,,n=,r=hunter2"), OUT("R|11"),
	    IN("p|c=biws,r=hunter2,p=s3cr3t"), OUT("R|12", "R|0", "S|TimeZone|UTC", "K", "Z|I"),
	    IN("Q|SELECT 1"), SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 1" } },
	{ "authentication failure: counted, nothing after",
	  { STARTUP, OUT("R|5"), IN("p|md5hunter2"),
	    OUT("E|FATAL|28P01|password authentication failed leakme"), IN("Q|SELECT 1"),
	    SEL1_REPLY },
	  {}, { .startup_errors = 1 } },
	/* --- simple query --- */
	{ "multi-statement query: one record, statements counted, rows summed",
	  { STARTUP, AUTH_OK,
	    IN("Q|BEGIN; INSERT INTO t VALUES (1); UPDATE t SET a = 2; COMMIT"),
	    OUT("C|BEGIN", "C|INSERT 0 1", "C|UPDATE 3", "C|COMMIT", "Z|I") },
	  { "Q ok COMMIT r4 n4 I: BEGIN; INSERT INTO t VALUES (1); UPDATE t SET a = 2; COMMIT" } },
	{ "an error ends a multi-statement query",
	  { STARTUP, AUTH_OK, IN("Q|SELECT 1; SELECT 1/0; SELECT 3"),
	    OUT("T|1", "D|1", "C|SELECT 1", "E|ERROR|22012|division by zero leakme", "Z|I") },
	  { "Q 22012/ERROR SELECT r1 n1 I: SELECT 1; SELECT 1/0; SELECT 3" } },
	{ "transaction status from ReadyForQuery, DDL tags",
	  { STARTUP, AUTH_OK, IN("Q|BEGIN"), OUT("C|BEGIN", "Z|T"), IN("Q|SELECT nope"),
	    OUT("E|ERROR|42703|column nope does not exist leakme", "Z|E"), IN("Q|ROLLBACK"),
	    OUT("C|ROLLBACK", "Z|I"), IN("Q|CREATE TABLE t (a int)"),
	    OUT("C|CREATE TABLE", "Z|I") },
	  { "Q ok BEGIN r0 n1 T: BEGIN", "Q 42703/ERROR - r0 n0 E: SELECT nope",
	    "Q ok ROLLBACK r0 n1 I: ROLLBACK",
	    "Q ok CREATE TABLE r0 n1 I: CREATE TABLE t (a int)" } },
	{ "empty query", { STARTUP, AUTH_OK, IN("Q|"), OUT("I", "Z|I") }, { "Q ok - r0 n1 I: " } },
	{ "SHOW: rows from DataRows when the tag has no count",
	  { STARTUP, AUTH_OK, IN("Q|SHOW work_mem"), OUT("T|1", "D|4MB", "C|SHOW", "Z|I") },
	  { "Q ok SHOW r1 n1 I: SHOW work_mem" } },
	/* --- extended protocol --- */
	{ "pgbench -M extended: unnamed Parse/Bind/Describe/Execute/Sync",
	  { STARTUP, AUTH_OK,
	    IN("P||SELECT abalance FROM pgbench_accounts WHERE aid = $1", "B|||42", "D|P|", "E|",
	       "S"),
	    OUT("1", "2", "T|1", "D|123", "C|SELECT 1", "Z|I"),
	    IN("P||UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
	       "B|||5|42", "D|P|", "E|", "S"),
	    OUT("1", "2", "n", "C|UPDATE 1", "Z|I") },
	  { "E ok SELECT r1 n1 I: SELECT abalance FROM pgbench_accounts WHERE aid = $1",
	    "E ok UPDATE r1 n1 I: UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE a" } },
	{ "pgbench -M prepared: named Parse once, then Bind/Describe/Execute/Sync",
	  { STARTUP, AUTH_OK,
	    IN("P|P0_1|SELECT abalance FROM pgbench_accounts WHERE aid = $1", "S"),
	    OUT("1", "Z|I"), IN("B||P0_1|42", "D|P|", "E|", "S"),
	    OUT("2", "T|1", "D|123", "C|SELECT 1", "Z|I"), IN("B||P0_1|43", "D|P|", "E|", "S"),
	    OUT("2", "T|1", "D|124", "C|SELECT 1", "Z|I") },
	  { "E ok SELECT r1 n1 I: SELECT abalance FROM pgbench_accounts WHERE aid = $1",
	    "E ok SELECT r1 n1 I: SELECT abalance FROM pgbench_accounts WHERE aid = $1" } },
	{ "pipelined Executes before one Sync, each with its own statement",
	  { STARTUP, AUTH_OK,
	    IN("P|s1|INSERT INTO t VALUES ($1)", "B||s1|1", "E|", "B||s1|2", "E|", "P||SELECT 2",
	       "B|||", "E|", "P||SELECT 3", "B|||", "E|", "S"),
	    OUT("1", "2", "C|INSERT 0 1", "2", "C|INSERT 0 1", "1", "2", "D|2", "C|SELECT 1", "1",
		"2", "D|3", "C|SELECT 1", "Z|T") },
	  { "E ok INSERT r1 n1 T: INSERT INTO t VALUES ($1)",
	    "E ok INSERT r1 n1 T: INSERT INTO t VALUES ($1)", "E ok SELECT r1 n1 T: SELECT 2",
	    "E ok SELECT r1 n1 T: SELECT 3" } },
	{ "error mid-pipeline: the rest is skipped until Sync, then pairing goes on",
	  { STARTUP, AUTH_OK,
	    IN("P||SELECT 1", "B|||", "E|", "P||SELEC oops", "B|||", "E|", "P||SELECT 3", "B|||",
	       "E|", "S"),
	    OUT("1", "2", "D|1", "C|SELECT 1", "E|ERROR|42601|syntax error at SELEC leakme", "Z|I"),
	    IN("P||SELECT 4", "B|||", "E|", "S"), OUT("1", "2", "D|4", "C|SELECT 1", "Z|I") },
	  { "E ok SELECT r1 n1 I: SELECT 1", "E 42601/ERROR - r0 n0 I: SELEC oops",
	    "E ok SELECT r1 n1 I: SELECT 4" },
	  { .skipped = 2 } },
	{ "error before the client's Sync was read: later messages skipped too",
	  { STARTUP, AUTH_OK, IN("P||SELECT 1/0", "B|||", "E|"),
	    OUT("1", "2", "E|ERROR|22012|division by zero"), IN("B|||", "E|", "S"), OUT("Z|I"),
	    IN("Q|SELECT 1"), SEL1_REPLY },
	  { "E 22012/ERROR - r0 n0 I: SELECT 1/0", "Q ok SELECT r1 n1 I: SELECT 1" },
	  { .skipped = 1 } },
	{ "Bind error: a failed query with its statement's SQL",
	  { STARTUP, AUTH_OK, IN("P||SELECT $1::int", "B|||s3cr3t", "E|", "S"),
	    OUT("1", "E|ERROR|22P02|invalid input syntax for type integer: s3cr3t", "Z|I") },
	  { "E 22P02/ERROR - r0 n0 I: SELECT $1::int" }, { .skipped = 1 } },
	{ "commit failure at Sync is the batch's last Execute's",
	  { STARTUP, AUTH_OK, IN("P||INSERT INTO t VALUES (1)", "B|||", "E|", "S"),
	    OUT("1", "2", "C|INSERT 0 1", "E|ERROR|23503|violates foreign key leakme", "Z|I") },
	  { "E 23503/ERROR INSERT r1 n1 I: INSERT INTO t VALUES (1)" } },
	{ "Describe statement, Close, then Bind of the closed statement",
	  { STARTUP, AUTH_OK, IN("P|s1|SELECT $1", "D|S|s1", "S"), OUT("1", "t|1", "T|1", "Z|I"),
	    IN("B||s1|5", "E|", "S"), OUT("2", "D|5", "C|SELECT 1", "Z|I"), IN("C|S|s1", "S"),
	    OUT("3", "Z|I"), IN("B||s1|5", "E|", "S"),
	    OUT("E|ERROR|26000|prepared statement s1 does not exist", "Z|I") },
	  { "E ok SELECT r1 n1 I: SELECT $1", "E 26000/ERROR - r0 n0 I unknown: " },
	  { .skipped = 1, .unknown_statements = 1 } },
	{ "named portal fetched in pieces (PortalSuspended), Flush then Sync",
	  { STARTUP, AUTH_OK, IN("Q|BEGIN"), OUT("C|BEGIN", "Z|T"),
	    IN("P||SELECT g FROM generate_series(1, 3) g", "B|c1|", "E|c1|2", "H"),
	    OUT("1", "2", "D|1", "D|2", "s"), IN("E|c1|2", "S"), OUT("D|3", "C|SELECT 1", "Z|T") },
	  { "Q ok BEGIN r0 n1 T: BEGIN",
	    "E ok - r2 n0 T susp: SELECT g FROM generate_series(1, 3) g",
	    "E ok SELECT r1 n1 T: SELECT g FROM generate_series(1, 3) g" } },
	{ "FunctionCall", { STARTUP, AUTH_OK, IN("F"), OUT("V|x", "Z|I") },
	  { "F ok - r0 n1 I: " } },
	/* --- COPY, asynchronous messages --- */
	{ "COPY FROM STDIN",
	  { STARTUP, AUTH_OK, IN("Q|COPY t FROM STDIN"), OUT("G"),
	    IN("d|1\tone\n", "d|2\ttwo\n"), IN("c"), OUT("C|COPY 2", "Z|I") },
	  { "Q ok COPY r2 n1 I ci: COPY t FROM STDIN" } },
	{ "COPY TO STDOUT",
	  { STARTUP, AUTH_OK, IN("Q|COPY t TO STDOUT"),
	    OUT("H", "d|1\tone\n", "d|2\ttwo\n", "c", "C|COPY 2", "Z|I") },
	  { "Q ok COPY r2 n1 I co: COPY t TO STDOUT" } },
	{ "notices, notifications, parameter status interleaved; FATAL with nothing asked",
	  { STARTUP, AUTH_OK, IN("Q|SELECT f()"),
	    OUT("N|NOTICE|00000|hello leakme", "T|1", "A|chan|payload leakme", "D|1",
		"S|application_name|batch", "C|SELECT 1", "Z|I"),
	    OUT("A|chan|idle"), OUT("E|FATAL|57P01|terminating connection leakme") },
	  { "Q ok SELECT r1 n1 I: SELECT f()" },
	  { .notices = 1, .notifications = 2, .async_errors = 1 } },
	/* --- captures shorter than the syscall --- */
	{ "a DataRow past the capture is skipped by its length",
	  { STARTUP, AUTH_OK, IN("Q|SELECT big"), OUT_CAP(100, "T|1", "D|#5000"),
	    OUT("C|SELECT 1", "Z|I") },
	  { "Q ok SELECT r1 n1 I: SELECT big" } },
	{ "SQL past the capture is truncated, pairing intact",
	  { STARTUP, AUTH_OK, IN_CAP(40, "Q|SELECT '#5000'"), SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I trunc: SELECT 'xxxxxxxxxxxxxxxxxxxxxxxxxxx" } },
	{ "a result past the capture: it ends at the next read, status unknown",
	  { STARTUP, AUTH_OK, IN("Q|SELECT * FROM big"),
	    OUT_CAP(100, "T|1", "200*D|rowdata", "C|SELECT 200", "Z|I"), IN("Q|SELECT 1"),
	    SEL1_REPLY },
	  { "Q unknown - r3 n0 -: SELECT * FROM big", "Q ok SELECT r1 n1 I: SELECT 1" },
	  { .truncated_responses = 1 } },
	{ "an extended result past the capture",
	  { STARTUP, AUTH_OK, IN("P||SELECT * FROM big", "B|||", "D|P|", "E|", "S"),
	    OUT_CAP(100, "1", "2", "T|1", "200*D|rowdata", "C|SELECT 200", "Z|I"),
	    OUT("200*D|rowdata", "C|SELECT 400", "Z|I"),
	    IN("P||SELECT 1", "B|||", "E|", "S"), OUT("1", "2", "D|1", "C|SELECT 1", "Z|I") },
	  { "E unknown - r3 n0 -: SELECT * FROM big", "E ok SELECT r1 n1 I: SELECT 1" },
	  { .truncated_responses = 1 } },
	{ "a gap across headers with a pipeline: dropped, counted, resynced",
	  { STARTUP, AUTH_OK, IN("Q|SELECT 1", "Q|SELECT 2"),
	    OUT_CAP(60, "T|1", "50*D|x", "C|SELECT 50", "Z|I", "T|1", "D|2", "C|SELECT 1", "Z|I"),
	    IN("Q|SELECT 3"), OUT("T|1", "D|3", "C|SELECT 1", "Z|I"), IN("Q|SELECT 4"),
	    SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 3", "Q ok SELECT r1 n1 I: SELECT 4" },
	  { .resyncs = 1, .unpaired = 2 } },
	{ "lost while every response is longer than the capture: resync at a whole clean message",
	  { STARTUP, AUTH_OK, IN("Q|SELECT 1"), OUT("2", "Z|I"),
	    IN("P||SELECT 2", "B|||", "E|", "S"),
	    OUT_CAP(20, "1", "2", "50*D|x", "C|SELECT 50", "Z|I"), IN("Q|SELECT 3"),
	    OUT_CAP(20, "T|1", "50*D|x", "C|SELECT 50", "Z|I"), IN("Q|SELECT 4"),
	    OUT_CAP(30, "T|1", "50*D|x", "C|SELECT 50", "Z|I"), IN("Q|SELECT 5") },
	  { "E unknown - r0 n0 -: SELECT 2", "Q unknown - r0 n0 -: SELECT 3",
	    "Q unknown - r0 n0 -: SELECT 4" },
	  { .resyncs = 1, .parse_errors = 1, .unpaired = 2, .truncated_responses = 3 } },
	{ "a blind resync is refused at a message that is not exactly well formed",
	  { STARTUP, AUTH_OK, IN("Q|SELECT 1"), OUT("2", "Z|I"), OUT_CAP(10, "50*D|x", "Z|I"),
	    IN("raw|Q\x01\x02\x03"), IN("raw|Q"), OUT_CAP(10, "50*D|x", "Z|I"),
	    IN_CAP(20, "Q|SELECT #100"), OUT_CAP(10, "50*D|x", "Z|I"), IN("Q|SELECT 2"),
	    SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 2" },
	  { .resyncs = 2, .parse_errors = 2, .unpaired = 2 } },
	{ "provisional pairing: a mismatch before the first ReadyForQuery emits nothing",
	  { STARTUP, AUTH_OK, IN("Q|SELECT 1"), OUT("2", "Z|I"), OUT_CAP(10, "50*D|x", "Z|I"),
	    IN("P||SELECT 2", "B|||", "E|", "S"), OUT("1", "2", "C|SELECT 0", "1", "Z|I"),
	    IN("Q|SELECT 3"), SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 3" },
	  { .resyncs = 2, .parse_errors = 2, .unpaired = 2 } },
	{ "the server's first burst longer than the capture: the next read ends authentication",
	  { STARTUP,
	    OUT_CAP(40, "R|0", "S|application_name|web", "S|server_version|15.4",
		    "S|client_encoding|UTF8", "S|DateStyle|ISO, MDY", "S|TimeZone|UTC", "K", "Z|I"),
	    IN("P|s1|SELECT 1", "S"), OUT("1", "Z|I"), IN("B||s1|", "E|", "S"),
	    OUT("2", "D|1", "C|SELECT 1", "Z|I") },
	  { "E ok SELECT r1 n1 I: SELECT 1" } },
	{ "a SASL message past the capture: authentication goes on",
	  { STARTUP, OUT_CAP(10, "R|10"), IN("p|SCRAM-SHA-256 n,,n=,r=hunter2"), OUT("R|11"),
	    IN("p|c=biws,r=hunter2,p=s3cr3t"), OUT("R|12", "R|0", "K", "Z|I"), IN("Q|SELECT 1"),
	    SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 1" } },
	{ "a client gap across headers: what was queued pairs, the rest is dropped",
	  { STARTUP, AUTH_OK, IN_CAP(30, "Q|SELECT 1", "Q|SELECT #3000", "Q|SELECT 3"),
	    SEL1_REPLY, OUT("T|1", "D|2", "C|SELECT 1", "Z|I", "T|1", "D|3", "C|SELECT 1", "Z|I"),
	    IN("Q|SELECT 4"), SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 1", "Q ok SELECT r1 n1 I: SELECT 4" },
	  { .resyncs = 1, .unpaired = 1 } },
	{ "a Parse longer than the capture loses its batch, then resync",
	  { STARTUP, AUTH_OK, IN_CAP(100, "P||SELECT '#3000'", "B|||", "D|P|", "E|", "S"),
	    OUT("1", "2", "T|1", "D|x", "C|SELECT 1", "Z|I"), IN("Q|SELECT 2"), SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 2" }, { .resyncs = 1 } },
	{ "COPY FROM STDIN past the capture: the COPY still pairs",
	  { STARTUP, AUTH_OK, IN("Q|COPY t FROM STDIN"), OUT("G"),
	    IN_CAP(20, "50*d|1\tone\n", "c"), OUT("C|COPY 50", "Z|I"), IN("Q|SELECT 1"),
	    SEL1_REPLY },
	  { "Q ok COPY r50 n1 I ci: COPY t FROM STDIN", "Q ok SELECT r1 n1 I: SELECT 1" },
	  { .resyncs = 1 } },
	/* --- garbage, joining late --- */
	{ "a bad length loses framing; resync after the next ReadyForQuery",
	  { STARTUP, AUTH_OK, IN("Q|SELECT 1"), SEL1_REPLY, IN("raw|Q\x7f\x7f\x7f\x7fQ\0\0\0\x0a"),
	    OUT("E|FATAL|08P01|invalid message length"), IN("Q|SELECT 2"), OUT("Z|I"),
	    IN("Q|SELECT 3"), SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 1", "Q ok SELECT r1 n1 I: SELECT 3" },
	  { .parse_errors = 1, .resyncs = 1 } },
	{ "a response to nothing is counted, never paired",
	  { STARTUP, AUTH_OK, OUT("C|SELECT 1", "Z|I"), IN("Q|SELECT 2"), SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 2" }, { .parse_errors = 1, .resyncs = 1 } },
	{ "a response out of place (BindComplete to a Query) loses framing",
	  { STARTUP, AUTH_OK, IN("Q|SELECT 1"), OUT("2", "Z|I"), IN("Q|SELECT 2"), SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 2" }, { .parse_errors = 1, .resyncs = 1, .unpaired = 1 } },
	{ "garbage from a client joined late, then a clean query after ReadyForQuery",
	  { IN("raw|xyz garbage"), OUT("raw|junk"), OUT("Z|I"), IN("Q|SELECT 1"), SEL1_REPLY },
	  { "Q ok SELECT r1 n1 I: SELECT 1" }, { .midstream = 1 } },
	{ "joined mid-stream at a query: pairs at once",
	  { IN("Q|SELECT 1"), SEL1_REPLY }, { "Q ok SELECT r1 n1 I: SELECT 1" },
	  { .midstream = 1 } },
	{ "joined mid-stream during a response; Bind of a statement never seen",
	  { OUT("D|x", "C|SELECT 1", "Z|I"), IN("B||S_3|1", "E|", "S"),
	    OUT("2", "D|1", "C|SELECT 1", "Z|I") },
	  { "E ok SELECT r1 n1 I unknown: " }, { .midstream = 1, .unknown_statements = 1 } },
	{ "connection closed with a query pending: unpaired",
	  { STARTUP, AUTH_OK, IN("Q|SELECT pg_sleep(10)"), IN("X") }, {}, { .unpaired = 1 } },
};

static void test_fixtures(void **state)
{
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		check(&fixtures[i], false);
}

static void test_fixtures_bytewise(void **state)
{
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		check(&fixtures[i], true);
}

/* --- single-purpose tests --------------------------------------------------------------------- */

struct script {
	struct pg_conn *c;
	struct pg_stats st;
	struct got g;
	struct buf b;
};

static void feed(struct script *s, char dir, uint64_t ts, uint32_t cap, const char *const *m)
{
	struct chunk ch = { .dir = dir };

	for (int i = 0; m[i]; i++)
		ch.m[i] = m[i];
	build_chunk(&s->b, &ch);
	pg_conn__feed(s->c, dir == 'i', s->b.d, cap && cap < s->b.n ? cap : s->b.n, s->b.n, ts,
		      collect, &s->g);
}

#define FEED(s, dir, ts, ...) feed(s, dir, ts, 0, (const char *const[]){ __VA_ARGS__, NULL })

static struct script *script_new(void)
{
	struct script *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->c = pg_conn__new(&s->st);
	assert_non_null(s->c);
	return s;
}

static void script_free(struct script *s)
{
	pg_conn__free(s->c);
	free(s);
}

/* user, database, application_name kept; options and everything else not. */
static void test_startup_params(void **state)
{
	struct script *s = script_new();

	FEED(s, 'i', 1, "startup|user|alice|application_name|web|options|-c x=topsecret");
	FEED(s, 'o', 2, "R|0", "S|application_name|web", "K", "Z|I");
	assert_string_equal(pg_conn__user(s->c), "alice");
	assert_string_equal(pg_conn__database(s->c), "alice"); /* the server's default */
	assert_string_equal(pg_conn__application(s->c), "web");
	assert_false(pg_conn__encrypted(s->c));
	FEED(s, 'i', 3, "Q|SET application_name = 'batch'");
	FEED(s, 'o', 4, "C|SET", "S|application_name|batch", "Z|I");
	FEED(s, 'i', 5, "Q|SELECT 1");
	FEED(s, 'o', 6, "T|1", "D|1", "C|SELECT 1", "Z|I");
	assert_int_equal(s->g.n, 2);
	assert_string_equal(s->g.last.user, "alice");
	assert_string_equal(s->g.last.database, "alice");
	assert_string_equal(s->g.last.application, "batch");
	assert_string_equal(pg_conn__application(s->c), "batch");
	script_free(s);
}

static void test_encrypted_accessor(void **state)
{
	struct script *s = script_new();

	FEED(s, 'i', 1, "ssl");
	FEED(s, 'o', 2, "byte|S");
	assert_true(pg_conn__encrypted(s->c));
	assert_int_equal(s->st.encrypted_conns, 1);
	script_free(s);
}

/* Latency ends and byte counts: from the read that brought the request (the first message of an
 * extended batch) to the write that completed the response. */
static void test_timing_and_bytes(void **state)
{
	struct script *s = script_new();

	FEED(s, 'i', 10, "startup|user|u|database|d");
	FEED(s, 'o', 20, "R|0", "Z|I");
	FEED(s, 'i', 100, "Q|SELECT 1");		       /* 1 + 4 + 9 = 14 bytes */
	FEED(s, 'o', 150, "T|1", "D|1");
	FEED(s, 'o', 170, "C|SELECT 1", "Z|I");	       /* T 29, D 12, C 14, Z 6 */
	assert_int_equal(s->g.n, 1);
	assert_int_equal(s->g.last.t_request, 100);
	assert_int_equal(s->g.last.t_response, 170);
	assert_int_equal(s->g.last.request_bytes, 14);
	assert_int_equal(s->g.last.response_bytes, 29 + 12 + 14 + 6);
	assert_string_equal(s->g.last.database, "d");

	FEED(s, 'i', 200, "P||SELECT 2", "B|||");	       /* a batch split over two reads */
	FEED(s, 'i', 210, "D|P|", "E|", "S");
	FEED(s, 'o', 300, "1", "2", "T|1", "D|2", "C|SELECT 1");
	FEED(s, 'o', 320, "Z|I");
	assert_int_equal(s->g.n, 2);
	assert_int_equal(s->g.last.t_request, 200);
	assert_int_equal(s->g.last.t_response, 300); /* its CommandComplete, not the Sync's */
	assert_int_equal(s->g.last.txn_status, 'I');
	/* P 17, B 17 (one empty parameter), D 7, E 10 (Sync counts for the next);
	 * 1 5, 2 5, T 29, D 12, C 14 + Z 6 */
	assert_int_equal(s->g.last.request_bytes, 17 + 17 + 7 + 10);
	assert_int_equal(s->g.last.response_bytes, 5 + 5 + 29 + 12 + 14 + 6);

	/* a result past the capture ends at the last write before the next read */
	FEED(s, 'i', 400, "Q|SELECT big");
	feed(s, 'o', 450, 64, (const char *const[]){ "T|1", "100*D|abcdef", NULL });
	FEED(s, 'o', 460, "100*D|abcdef");
	FEED(s, 'o', 470, "C|SELECT 200", "Z|I");
	assert_int_equal(s->g.n, 2);
	FEED(s, 'i', 500, "Q|SELECT 1");
	assert_int_equal(s->g.n, 3);
	assert_int_equal(s->g.last.status, PG_UNKNOWN);
	assert_int_equal(s->g.last.t_request, 400);
	assert_int_equal(s->g.last.t_response, 470);
	script_free(s);
}

/* A DataRow cut by a gap, its tail arriving over two more chunks: the byte count stays exact. */
static void test_gap_then_tail(void **state)
{
	struct script *s = script_new();
	static struct buf b;
	uint32_t cut;

	FEED(s, 'i', 1, "Q|SELECT big");
	b.n = 0;
	build(&b, 'o', "T|1");
	build(&b, 'o', "D|#3000");
	build(&b, 'o', "C|SELECT 1");
	build(&b, 'o', "Z|I");
	cut = b.n - 1000; /* the write moved all but the last 1000 bytes, 40 of them captured */
	pg_conn__feed(s->c, false, b.d, 40, cut, 2, collect, &s->g);
	pg_conn__feed(s->c, false, b.d + cut, 500, 500, 3, collect, &s->g);
	assert_int_equal(s->g.n, 0);
	pg_conn__feed(s->c, false, b.d + cut + 500, 500, 500, 4, collect, &s->g);
	assert_int_equal(s->g.n, 1);
	assert_string_equal(s->g.rec[0], "Q ok SELECT r1 n1 I: SELECT big");
	assert_int_equal(s->g.last.response_bytes, b.n);
	assert_int_equal(s->st.resyncs, 0);
	script_free(s);
}

/* Prepared statements are bounded: the least recently used go, counted; a Bind of one of them has
 * no SQL rather than a wrong one. The SQL budget bounds memory. */
static void test_statement_bound(void **state)
{
	struct script *s = script_new();
	char p[64], q[300];

	FEED(s, 'i', 1, "startup|user|u");
	FEED(s, 'o', 2, "R|0", "Z|I");
	for (int i = 0; i < PG_MAX_STATEMENTS + 44; i++) {
		snprintf(p, sizeof(p), "P|s%d|SELECT %d", i, i);
		FEED(s, 'i', 10 + i, p, "S");
		FEED(s, 'o', 10 + i, "1", "Z|I");
	}
	assert_int_equal(s->st.statements_evicted, 44);
	FEED(s, 'i', 1000, "B||s0|", "E|", "S"); /* evicted */
	FEED(s, 'o', 1001, "2", "C|SELECT 1", "Z|I");
	FEED(s, 'i', 1002, "B||s299|", "E|", "S");
	FEED(s, 'o', 1003, "2", "C|SELECT 1", "Z|I");
	assert_int_equal(s->g.n, 2);
	assert_string_equal(s->g.rec[0], "E ok SELECT r1 n1 I unknown: ");
	assert_string_equal(s->g.rec[1], "E ok SELECT r1 n1 I: SELECT 299");
	/* big statements: the budget, not the count, is the bound */
	for (int i = 0; i < 100; i++) {
		snprintf(q, sizeof(q), "P|big%d|SELECT '#5000' AS c%d", i, i);
		FEED(s, 'i', 2000 + i, q, "S");
		FEED(s, 'o', 2000 + i, "1", "Z|I");
	}
	assert_true(pg_conn__memory(s->c) <= PG_SQL_BUDGET + 32 * 1024);
	FEED(s, 'i', 3000, "B||big99|", "E|", "S");
	FEED(s, 'o', 3001, "2", "C|SELECT 1", "Z|I");
	assert_int_equal(s->g.last.sql_len, PG_SQL_MAX - 1); /* 4095 kept, and truncated */
	assert_true(s->g.last.sql_truncated);
	assert_int_equal(s->g.last.sql_unknown, false);
	script_free(s);
}

/* --- batches longer than the queue ----------------------------------------------------------- */

/* A stream of any length (the fixtures above fit in 64 KiB). */
struct stream {
	uint8_t *d;
	uint32_t n, cap;
};

static void stream_put(struct stream *s, const uint8_t *p, uint32_t n)
{
	if (s->n + n > s->cap) {
		s->cap = (s->n + n) * 2;
		s->d = realloc(s->d, s->cap);
		assert_non_null(s->d);
	}
	memcpy(s->d + s->n, p, n);
	s->n += n;
}

/* "N*a;b;c": the messages a, b and c (build() specs), N times; "%d" in them is the repetition's
 * number (from 0). No repeat count: once. */
static void build_group(struct stream *s, char dir, const char *spec)
{
	static struct buf b;
	char *end;
	long rep = strtol(spec, &end, 10);

	if (end != spec && *end == '*')
		spec = end + 1;
	else
		rep = 1;
	for (long k = 0; k < rep; k++) {
		for (const char *q = spec; *q;) {
			const char *e = strchr(q, ';');
			size_t l = e ? (size_t)(e - q) : strlen(q);
			char part[512];
			size_t n = 0;

			for (size_t i = 0; i < l; i++) {
				if (q[i] == '%' && i + 1 < l && q[i + 1] == 'd') {
					n += snprintf(part + n, sizeof(part) - n, "%ld", k);
					i++;
				} else {
					part[n++] = q[i];
				}
				assert_true(n < sizeof(part) - 24);
			}
			part[n] = '\0';
			b.n = 0;
			build(&b, dir, part);
			stream_put(s, b.d, b.n);
			q = e ? e + 1 : q + l;
		}
	}
}

#define MAXLINE 12

/* Records tallied: consecutive records with the same line are counted together. The line is
 * collect()'s with the statement's fingerprint for its SQL: what the statistics see. */
struct tally {
	int n;
	char line[MAXLINE][300];
	uint64_t count[MAXLINE];
	uint64_t records, batch_timed, req_bytes, last_response;
	uint64_t lines_dropped; /* the oldest lines, when there were more than MAXLINE */
};

static void tally_rec(void *ctx, const struct pg_record *r)
{
	struct tally *t = ctx;
	struct got g = { 0 };
	static struct sql_fingerprint fp;
	char line[300];

	collect(&g, r); /* its checks, and its line up to the SQL */
	*strstr(g.rec[0], ": ") = '\0';
	sql_fingerprint__compute(r->sql, r->sql_len, &fp);
	snprintf(line, sizeof(line), "%s: %.60s", g.rec[0], r->sql_unknown ? "" : fp.text);
	assert_true(r->t_request <= r->t_response);
	assert_true(r->t_response >= t->last_response); /* emitted in order */
	t->last_response = r->t_response;
	t->records++;
	t->batch_timed += r->batch_timed;
	t->req_bytes += r->request_bytes;
	if (t->n && !strcmp(t->line[t->n - 1], line)) {
		t->count[t->n - 1]++;
		return;
	}
	if (t->n == MAXLINE) {
		memmove(t->line, t->line + 1, sizeof(t->line) - sizeof(t->line[0]));
		memmove(t->count, t->count + 1, sizeof(t->count) - sizeof(t->count[0]));
		t->n--;
		t->lines_dropped++;
	}
	strcpy(t->line[t->n], line);
	t->count[t->n++] = 1;
}

/* Heap bytes a connection may hold whatever it is sent (pgwire.h: about 106 KiB). */
#define CONN_MEMORY_BOUND (112 * 1024)

/* Feeds a stream in pieces of piece bytes (0: at once), each piece a syscall of its own. */
static void feed_stream(struct pg_conn *c, bool in, const struct stream *s, uint32_t piece,
			uint64_t *ts, struct tally *t)
{
	for (uint32_t at = 0; at < s->n;) {
		uint32_t k = piece && piece < s->n - at ? piece : s->n - at;

		pg_conn__feed(c, in, s->d + at, k, k, ++*ts, tally_rec, t);
		assert_true(pg_conn__memory(c) <= CONN_MEMORY_BOUND);
		at += k;
	}
}

struct batch_fixture {
	const char *name;
	struct {
		char dir;
		const char *m[6]; /* build_group() specs */
	} ex[6];
	const char *want[MAXLINE]; /* "N x line" */
	struct pg_stats want_stats; /* skipped, folded, folded_unknown, unpaired, resyncs: exact */
};

#define BX_IN(...) { 'i', { __VA_ARGS__ } }
#define BX_OUT(...) { 'o', { __VA_ARGS__ } }
#define INS "INSERT INTO t (id, v) VALUES ($1, $2)"
#define INS_FP "insert into t (id, v) values ($1, $2)"
/* asyncpg prepares its statement once: Parse, Describe statement, Sync */
#define PREPARE BX_IN("P|ins|" INS, "D|S|ins", "S"), BX_OUT("1", "t|2", "n", "Z|I")

/*
 * Queue entries for the first repetitions: with 3 (B E S) or 2 (B E) entries a repetition, the
 * 64th/96th is the last before PG_FOLD_AT; the next one becomes the run's block and those after
 * it fold. A record's txn_status is '-' when it was emitted before its ReadyForQuery.
 */
static const struct batch_fixture batch_fixtures[] = {
	{ "executemany: Bind/Execute x300 then Sync",
	  { PREPARE, BX_IN("300*B||ins|%d|v-%d;E|", "S"), BX_OUT("300*2;C|INSERT 0 1", "Z|I") },
	  { "299 x E ok INSERT r1 n1 -: " INS_FP, "1 x E ok INSERT r1 n1 I: " INS_FP },
	  { .folded = 300 - 97 } },
	{ "executemany: Bind/Execute x10000 then Sync",
	  { PREPARE, BX_IN("10000*B||ins|%d|v-%d;E|", "S"),
	    BX_OUT("10000*2;C|INSERT 0 1", "Z|I") },
	  { "9999 x E ok INSERT r1 n1 -: " INS_FP, "1 x E ok INSERT r1 n1 I: " INS_FP },
	  { .folded = 10000 - 97 } },
	{ "executemany x10000, an Execute fails mid-batch: the server skips the rest until Sync",
	  { PREPARE, BX_IN("10000*B||ins|%d|v-%d;E|", "S"),
	    BX_OUT("4999*2;C|INSERT 0 1", "2", "E|ERROR|23505|duplicate key leakme", "Z|I") },
	  { "4999 x E ok INSERT r1 n1 -: " INS_FP, "1 x E 23505/ERROR - r0 n0 I: " INS_FP },
	  { .folded = 5000 - 97, .skipped = 5000 } },
	{ "executemany x10000, a Bind fails mid-batch: a failed query, the rest skipped",
	  { PREPARE, BX_IN("10000*B||ins|%d|v-%d;E|", "S"),
	    BX_OUT("4999*2;C|INSERT 0 1", "E|ERROR|22P02|invalid input syntax s3cr3t", "Z|I") },
	  { "4999 x E ok INSERT r1 n1 -: " INS_FP, "1 x E 22P02/ERROR - r0 n0 I: " INS_FP },
	  { .folded = 5000 - 97, .skipped = 5001 } },
	{ "executemany x10000 twice on one connection, the first fails early; then a Query",
	  { PREPARE, BX_IN("10000*B||ins|%d|v-%d;E|", "S", "10000*B||ins|%d|v-%d;E|", "S"),
	    BX_OUT("2;C|INSERT 0 1", "2", "E|ERROR|23505|dup", "Z|E",
		   "10000*2;C|INSERT 0 1", "Z|I"),
	    BX_IN("Q|SELECT 1"), BX_OUT("T|1", "D|1", "C|SELECT 1", "Z|I") },
	  { "1 x E ok INSERT r1 n1 E: " INS_FP, "1 x E 23505/ERROR - r0 n0 E: " INS_FP,
	    "9999 x E ok INSERT r1 n1 -: " INS_FP, "1 x E ok INSERT r1 n1 I: " INS_FP,
	    "1 x Q ok SELECT r1 n1 I: select $1" },
	  /* the first batch's folded repetitions were skipped; the second one starts past the
	   * bound: its second Bind/Execute is the run's block */
	  { .folded = 9998, .skipped = 9998 } },
	{ "an error answered before the client's Sync: later pushes skipped, the next batch folds",
	  { PREPARE, BX_IN("300*B||ins|%d|v-%d;E|"),
	    BX_OUT("2;C|INSERT 0 1", "2", "E|ERROR|23505|dup"),
	    BX_IN("300*B||ins|%d|v-%d;E|", "S", "300*B||ins|%d|v-%d;E|", "S"),
	    BX_OUT("Z|E", "300*2;C|INSERT 0 1", "Z|I") },
	  { "1 x E ok INSERT r1 n1 E: " INS_FP, "1 x E 23505/ERROR - r0 n0 E: " INS_FP,
	    "299 x E ok INSERT r1 n1 -: " INS_FP, "1 x E ok INSERT r1 n1 I: " INS_FP },
	  { .folded = 298, .skipped = 298 + 300 } },
	{ "a pipelining driver: Bind/Execute/Sync x10000, each its own ReadyForQuery",
	  { PREPARE, BX_IN("10000*B||ins|%d|v-%d;E|;S"), BX_OUT("10000*2;C|INSERT 0 1;Z|I") },
	  { "10000 x E ok INSERT r1 n1 I: " INS_FP }, { .folded = 10000 - 65 } },
	{ "Bind/Execute/Sync x10000, one Bind fails: only its unit is skipped",
	  { PREPARE, BX_IN("10000*B||ins|%d|v-%d;E|;S"),
	    BX_OUT("4999*2;C|INSERT 0 1;Z|I", "E|ERROR|22P02|bad s3cr3t;Z|I",
		   "5000*2;C|INSERT 0 1;Z|I") },
	  { "4999 x E ok INSERT r1 n1 I: " INS_FP, "1 x E 22P02/ERROR - r0 n0 I: " INS_FP,
	    "5000 x E ok INSERT r1 n1 I: " INS_FP },
	  { .folded = 10000 - 65, .skipped = 1 } },
	{ "unnamed Parse/Bind/Describe/Execute/Sync x10000 (psycopg, node-postgres)",
	  { BX_IN("10000*P||" INS ";B|||%d|v-%d;D|P|;E|;S"),
	    BX_OUT("10000*1;2;n;C|INSERT 0 1;Z|T") },
	  { "10000 x E ok INSERT r1 n1 T: " INS_FP }, { .folded = 10000 - 39 } },
	{ "10000 pipelined Queries, literals differ: folded by fingerprint, one fails",
	  { BX_IN("10000*Q|INSERT INTO t (id, v) VALUES (%d, 'v-%d')"),
	    BX_OUT("4999*C|INSERT 0 1;Z|I", "E|ERROR|23505|dup leakme;Z|I",
		   "5000*C|INSERT 0 1;Z|I") },
	  { "4999 x Q ok INSERT r1 n1 I: " INS_FP, "1 x Q 23505/ERROR - r0 n0 I: " INS_FP,
	    "5000 x Q ok INSERT r1 n1 I: " INS_FP },
	  { .folded = 10000 - 193 } },
	{ "10000 pipelined SELECTs with rows, COPY-free",
	  { BX_IN("10000*Q|SELECT * FROM t WHERE id = %d"),
	    BX_OUT("10000*T|1;D|%d;D|x;C|SELECT 2;Z|T") },
	  { "10000 x Q ok SELECT r2 n1 T: select * from t where id = $1" },
	  { .folded = 10000 - 193 } },
	{ "a batch with no Sync yet when the connection closes: what came back counts",
	  { PREPARE, BX_IN("1000*B||ins|%d|v-%d;E|"), BX_OUT("600*2;C|INSERT 0 1") },
	  { "600 x E ok INSERT r1 n1 -: " INS_FP }, { .folded = 600 - 97, .unpaired = 400 } },
};

static const uint32_t pieces[] = { 0, 7, 1000, 65536 };

static void test_batch_fixtures(void **state)
{
	for (size_t i = 0; i < sizeof(batch_fixtures) / sizeof(batch_fixtures[0]); i++) {
		const struct batch_fixture *f = &batch_fixtures[i];

		for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
			struct pg_stats st = {};
			struct pg_conn *c = pg_conn__new(&st);
			struct tally *t = calloc(1, sizeof(*t));
			struct stream s = { 0 };
			uint64_t ts = 0;
			int nwant = 0;

			assert_non_null(c);
			assert_non_null(t);
			build_group(&s, 'i', "startup|user|u|database|d");
			feed_stream(c, true, &s, pieces[p], &ts, t);
			s.n = 0;
			build_group(&s, 'o', "R|0;Z|I");
			feed_stream(c, false, &s, pieces[p], &ts, t);
			for (int k = 0; k < 6 && f->ex[k].dir; k++) {
				s.n = 0;
				for (int m = 0; m < 6 && f->ex[k].m[m]; m++)
					build_group(&s, f->ex[k].dir, f->ex[k].m[m]);
				feed_stream(c, f->ex[k].dir == 'i', &s, pieces[p], &ts, t);
			}
			pg_conn__free(c);
			free(s.d);
			while (nwant < MAXLINE && f->want[nwant])
				nwant++;
			for (int k = 0; k < t->n || k < nwant; k++) {
				char got[340];

				if (k < t->n)
					snprintf(got, sizeof(got), "%llu x %s",
						 (unsigned long long)t->count[k], t->line[k]);
				else
					strcpy(got, "(none)");
				if (strcmp(k < nwant ? f->want[k] : "(none)", got)) {
					for (int j = 0; j < t->n; j++)
						print_message("  got %llu x %s\n",
							      (unsigned long long)t->count[j],
							      t->line[j]);
					fail_msg("%s (pieces of %u): line %d: want '%s', got '%s'",
						 f->name, pieces[p], k,
						 k < nwant ? f->want[k] : "(none)", got);
				}
			}
#define BCHECK(field, want)                                                                       \
	if (st.field != (want))                                                                   \
		fail_msg("%s (pieces of %u): " #field " %llu, want %llu", f->name, pieces[p],    \
			 (unsigned long long)st.field, (unsigned long long)(want));
			BCHECK(commands, t->records);
			BCHECK(skipped, f->want_stats.skipped);
			BCHECK(folded, f->want_stats.folded);
			BCHECK(folded_unknown, f->want_stats.folded_unknown);
			BCHECK(unpaired, f->want_stats.unpaired);
			BCHECK(resyncs, f->want_stats.resyncs);
			BCHECK(parse_errors, 0);
			BCHECK(batch_timed, t->batch_timed);
			assert_int_equal(t->lines_dropped, 0);
#undef BCHECK
			assert_true(st.batch_timed <= st.folded);
			free(t);
		}
	}
}

/* A connection fed like the backend reads and writes: the client sends the whole batch, the
 * server reads 8 KiB at a time (PostgreSQL's receive buffer) and answers what it read, its
 * output flushed 8 KiB at a time, so reads run ahead of the responses by a read or two. Every
 * record is timed from the read that brought its own Bind, none from the batch. */
static void test_batch_like_postgres(void **state)
{
	struct pg_stats st = {};
	struct pg_conn *c = pg_conn__new(&st);
	struct tally *t = calloc(1, sizeof(*t));
	struct stream in = { 0 }, out = { 0 }, s = { 0 };
	uint32_t *in_end = calloc(10001, sizeof(*in_end)), *out_end = calloc(10001, 4);
	uint64_t ts = 0, req = 0;
	uint32_t at_in = 0, at_out = 0, reps_read = 0, reps_out = 0;
	char spec[64];

	assert_non_null(c);
	build_group(&s, 'i', "startup|user|u|database|d");
	feed_stream(c, true, &s, 0, &ts, t);
	s.n = 0;
	build_group(&s, 'o', "R|0;Z|I");
	feed_stream(c, false, &s, 0, &ts, t);
	s.n = 0;
	build_group(&s, 'i', "P|ins|" INS ";S");
	feed_stream(c, true, &s, 0, &ts, t);
	req = s.n; /* the Parse and its Sync count for the first Execute */
	s.n = 0;
	build_group(&s, 'o', "1;Z|I");
	feed_stream(c, false, &s, 0, &ts, t);
	for (int k = 0; k < 10000; k++) {
		snprintf(spec, sizeof(spec), "B||ins|%d|v-%d;E|", k, k);
		build_group(&in, 'i', spec);
		build_group(&out, 'o', k == 9999 ? "2;C|INSERT 0 1;Z|I" : "2;C|INSERT 0 1");
		in_end[k] = in.n;
		out_end[k] = out.n;
	}
	build_group(&in, 'i', "S");
	in_end[9999] = in.n;
	req += in.n - 5; /* the last Sync's bytes go to the next record */
	while (at_out < out.n) {
		if (at_in < in.n) { /* a read */
			uint32_t k = in.n - at_in < 8192 ? in.n - at_in : 8192;

			pg_conn__feed(c, true, in.d + at_in, k, k, ++ts, tally_rec, t);
			at_in += k;
			while (reps_read < 10000 && in_end[reps_read] <= at_in)
				reps_read++;
		}
		/* its output, 8 KiB writes, up to what was read (all of it after the Sync) */
		while (reps_out < reps_read) {
			uint32_t end = out_end[reps_out];

			if (end - at_out >= 8192 || reps_out + 1 == reps_read) {
				uint32_t k = end - at_out < 8192 ? end - at_out : 8192;

				if (at_in < in.n && end - at_out < 8192)
					break; /* not a full buffer yet: the backend reads on */
				pg_conn__feed(c, false, out.d + at_out, k, k, ++ts, tally_rec, t);
				at_out += k;
				while (reps_out < 10000 && out_end[reps_out] <= at_out)
					reps_out++;
				continue;
			}
			reps_out++;
		}
		if (at_in == in.n && at_out < out.n) {
			uint32_t k = out.n - at_out < 8192 ? out.n - at_out : 8192;

			pg_conn__feed(c, false, out.d + at_out, k, k, ++ts, tally_rec, t);
			at_out += k;
		}
		assert_true(pg_conn__memory(c) <= CONN_MEMORY_BOUND);
	}
	assert_int_equal(t->records, 10000);
	assert_int_equal(st.commands, 10000);
	assert_int_equal(st.batch_timed, 0);
	assert_int_equal(st.resyncs + st.unpaired + st.parse_errors, 0);
	assert_int_equal(t->req_bytes, req);
	assert_int_equal(t->n, 2);
	assert_string_equal(t->line[1], "E ok INSERT r1 n1 I: " INS_FP);
	pg_conn__free(c);
	free(in.d), free(out.d), free(s.d), free(t), free(in_end), free(out_end);
}

struct stamps {
	uint64_t n, batch_timed;
	uint64_t t_request[2000];
	bool flagged[2000];
};

static void stamp_rec(void *ctx, const struct pg_record *r)
{
	struct stamps *s = ctx;

	assert_true(s->n < 2000);
	s->flagged[s->n] = r->batch_timed;
	s->t_request[s->n++] = r->t_request;
	s->batch_timed += r->batch_timed;
}

/* Timing past the bound: a folded repetition keeps the read that brought it while its run holds
 * no more than 6 waiting reads; past that, later ones take an earlier read and say so. */
static void test_run_timing(void **state)
{
	for (int reads = 5; reads <= 20; reads += 15) {
		struct pg_stats st = {};
		struct pg_conn *c = pg_conn__new(&st);
		struct stamps *sp = calloc(1, sizeof(*sp));
		struct stream s = { 0 };
		uint64_t own[2000], ts = 1000;
		int per = 1000 / reads, k = 0;

		assert_non_null(c);
		build_group(&s, 'i', "startup|user|u");
		pg_conn__feed(c, true, s.d, s.n, s.n, 1, stamp_rec, sp);
		s.n = 0;
		build_group(&s, 'o', "R|0;Z|I");
		pg_conn__feed(c, false, s.d, s.n, s.n, 2, stamp_rec, sp);
		for (int r = 0; r < reads; r++, ts += 1000) {
			s.n = 0;
			for (int i = 0; i < per; i++, k++) {
				build_group(&s, 'i', "Q|SELECT 1");
				own[k] = ts;
			}
			pg_conn__feed(c, true, s.d, s.n, s.n, ts, stamp_rec, sp);
		}
		s.n = 0;
		build_group(&s, 'o', "1000*C|SELECT 1;Z|I");
		pg_conn__feed(c, false, s.d, s.n, s.n, ts, stamp_rec, sp);
		assert_int_equal(sp->n, 1000);
		assert_int_equal(st.batch_timed, sp->batch_timed);
		for (int i = 0; i < 1000; i++) {
			if (sp->flagged[i])
				assert_true(sp->t_request[i] < own[i]);
			else
				assert_int_equal(sp->t_request[i], own[i]);
		}
		if (reads <= 6)
			assert_int_equal(st.batch_timed, 0);
		else /* the reads past the 6th (193 queued one by one: reads 0 and 1) */
			assert_true(st.batch_timed > 0 && st.batch_timed < 1000 - 193);
		assert_int_equal(st.folded, 1000 - 193);
		pg_conn__free(c);
		free(s.d);
		free(sp);
	}
}

/* Pipelined statements that differ in everything but their message types: past the point where
 * the queue is nearly full they fold by type alone, still counted one by one with their
 * statuses, without SQL. */
static void test_fold_by_shape(void **state)
{
	struct pg_stats st = {};
	struct pg_conn *c = pg_conn__new(&st);
	struct tally *t = calloc(1, sizeof(*t));
	struct stream s = { 0 };
	uint64_t ts = 0;

	assert_non_null(c);
	build_group(&s, 'i', "startup|user|u");
	feed_stream(c, true, &s, 0, &ts, t);
	s.n = 0;
	build_group(&s, 'o', "R|0;Z|I");
	feed_stream(c, false, &s, 0, &ts, t);
	s.n = 0;
	build_group(&s, 'i', "5000*Q|SELECT %d AS c%d");
	feed_stream(c, true, &s, 4096, &ts, t);
	s.n = 0;
	build_group(&s, 'o', "2000*T|1;D|1;C|SELECT 1;Z|I");
	build_group(&s, 'o', "E|ERROR|42703|nope;Z|I");
	build_group(&s, 'o', "2999*T|1;D|1;C|SELECT 1;Z|I");
	feed_stream(c, false, &s, 4096, &ts, t);
	assert_int_equal(t->records, 5000);
	/* 240 queued one by one (and the run's block) keep their SQL */
	assert_int_equal(st.folded_unknown, 5000 - 241);
	assert_int_equal(st.unknown_statements, 5000 - 241);
	assert_int_equal(st.folded, 5000 - 241);
	assert_string_equal(t->line[t->n - 3], "Q ok SELECT r1 n1 I unknown: ");
	assert_int_equal(t->count[t->n - 3], 2000 - 241);
	assert_string_equal(t->line[t->n - 2], "Q 42703/ERROR - r0 n0 I unknown: ");
	assert_int_equal(t->count[t->n - 1], 2999);
	assert_int_equal(st.resyncs + st.unpaired, 0);
	pg_conn__free(c);
	free(s.d);
	free(t);
}

/* What repeats nothing cannot fold: a pipeline of Query, FunctionCall and Sync in a square-free
 * order (no block is ever followed by itself) is given up at PG_MAX_PENDING, counted, and
 * decoding resumes cleanly. */
static void test_pending_bound(void **state)
{
	struct script *s = script_new();
	static struct buf b;
	uint8_t tm[1024];
	int n = 0;

	/* Thue-Morse; the 1s between its consecutive 0s (0, 1 or 2) are square-free. */
	for (int i = 0; i < 1024; i++)
		tm[i] = __builtin_popcount(i) & 1;
	FEED(s, 'i', 1, "startup|user|u");
	FEED(s, 'o', 2, "R|0", "Z|I");
	b.n = 0;
	for (int i = 0, ones = 0; i < 1024 && n < 400; i++) {
		if (tm[i]) {
			ones++;
			continue;
		}
		if (i)
			build(&b, 'i', ones == 0 ? "S" : ones == 1 ? "Q|SELECT 1" : "F"), n++;
		ones = 0;
	}
	pg_conn__feed(s->c, true, b.d, b.n, b.n, 3, collect, &s->g);
	assert_int_equal(s->st.resyncs, 1);
	assert_int_equal(s->st.folded, 0);
	assert_true(s->st.unpaired > 50);
	FEED(s, 'o', 4, "Z|I", "C|SELECT 1", "Z|I");
	assert_int_equal(s->g.n, 0);
	FEED(s, 'i', 5, "Q|SELECT 1");
	FEED(s, 'o', 6, "T|1", "D|1", "C|SELECT 1", "Z|I");
	assert_int_equal(s->g.n, 1);
	script_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_fixtures_bytewise),
		cmocka_unit_test(test_startup_params),
		cmocka_unit_test(test_encrypted_accessor),
		cmocka_unit_test(test_timing_and_bytes),
		cmocka_unit_test(test_gap_then_tail),
		cmocka_unit_test(test_statement_bound),
		cmocka_unit_test(test_pending_bound),
		cmocka_unit_test(test_batch_fixtures),
		cmocka_unit_test(test_batch_like_postgres),
		cmocka_unit_test(test_run_timing),
		cmocka_unit_test(test_fold_by_shape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
