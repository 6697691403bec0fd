// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the PostgreSQL parser. The input is a script of chunks, each a header byte
 * (bit 0: direction; bit 1: structured; bits 2-7: a gap, in units of 97 bytes, after the chunk)
 * and a length byte, then the chunk. A raw chunk is fed as is; a structured one is a cut byte (the
 * capture keeps cut * 4 bytes when non-zero) then token pairs (template, argument) that expand to
 * well-formed messages, so that pipelines, errors and gaps reach the pairing logic and not only
 * the framer. Template 0xff repeats the last (argument & 7) + 1 messages (argument >> 3) * 8 + 1
 * more times: batches longer than the queue, which fold into runs. If the first byte is odd the
 * connection starts with a canned startup and AuthOk.
 * Any bytes, any split, any gaps: the parser must count and go on, every record must be well
 * formed, and the connection's memory must stay within its bounds.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "proto/pgwire.h"

struct out {
	uint8_t d[96 * 1024];
	uint32_t n;
	uint32_t at[512]; /* where the last messages start, for repeats */
	uint32_t n_at;
};

static void mark(struct out *o)
{
	if (o->n_at == sizeof(o->at) / sizeof(o->at[0])) {
		memmove(o->at, o->at + 8, sizeof(o->at) - 8 * sizeof(o->at[0]));
		o->n_at -= 8;
	}
	o->at[o->n_at++] = o->n;
}

/* The last g messages, r more times (as many as fit). */
static void repeat(struct out *o, uint8_t a)
{
	uint32_t g = (a & 7u) + 1, r = (a >> 3) * 8u + 1;
	uint32_t from, len;

	if (g > o->n_at)
		return;
	from = o->at[o->n_at - g];
	len = o->n - from;
	while (r-- && o->n + len <= sizeof(o->d)) {
		memcpy(o->d + o->n, o->d + from, len);
		o->n += len;
	}
}

static void put(struct out *o, const void *p, uint32_t n)
{
	if (o->n + n <= sizeof(o->d)) {
		memcpy(o->d + o->n, p, n);
		o->n += n;
	}
}

static void put8(struct out *o, uint8_t v)
{
	put(o, &v, 1);
}

static void put16(struct out *o, uint16_t v)
{
	put8(o, v >> 8);
	put8(o, v & 0xff);
}

static void put32(struct out *o, uint32_t v)
{
	put16(o, v >> 16);
	put16(o, v & 0xffff);
}

static void putstr(struct out *o, const char *s)
{
	put(o, s, strlen(s) + 1);
}

/* A message: type (0: none, startup packets), then the body written by the caller. */
static uint32_t begin(struct out *o, char t)
{
	if (t)
		put8(o, (uint8_t)t);
	put32(o, 0);
	return o->n - 4;
}

static void finish(struct out *o, uint32_t at)
{
	uint32_t len = o->n - at;

	if (at + 4 > o->n)
		return;
	o->d[at] = len >> 24;
	o->d[at + 1] = (len >> 16) & 0xff;
	o->d[at + 2] = (len >> 8) & 0xff;
	o->d[at + 3] = len & 0xff;
}

static const char *const sqls[] = { "SELECT 1", "", "BEGIN; SELECT 2; COMMIT", "COPY t FROM STDIN",
				     "SELECT $1" };
static const char *const names[] = { "", "s1", "s2", "c1" };
static const char *const tags[] = { "SELECT 3", "INSERT 0 1", "BEGIN", "COPY 7", "CREATE TABLE",
				    "UPDATE 18446744073709551615", "x9 9" };
static const char *const codes[] = { "42P01", "22012", "XX000", "40001", "4", "" };

static void client_msg(struct out *o, uint8_t t, uint8_t a)
{
	uint32_t at;

	switch (t % 17) {
	case 0:
		at = begin(o, 'Q');
		putstr(o, sqls[a % 5]);
		break;
	case 1:
		at = begin(o, 'P');
		putstr(o, names[a % 3]);
		putstr(o, sqls[(a >> 2) % 5]);
		put16(o, 0);
		break;
	case 2:
		at = begin(o, 'B');
		putstr(o, names[(a >> 2) % 4 == 3 ? 3 : 0]);
		putstr(o, names[a % 3]);
		put16(o, 0);
		put16(o, 1);
		put32(o, 6);
		put(o, "s3cr3t", 6);
		put16(o, 0);
		break;
	case 3:
		at = begin(o, 'D');
		put8(o, a & 1 ? 'S' : 'P');
		putstr(o, names[(a >> 1) % 4]);
		break;
	case 4:
		at = begin(o, 'E');
		putstr(o, names[a & 1 ? 3 : 0]);
		put32(o, (a >> 1) % 3);
		break;
	case 5:
	case 6:
		at = begin(o, 'S');
		break;
	case 7:
		at = begin(o, 'H');
		break;
	case 8:
		at = begin(o, 'C');
		put8(o, a & 1 ? 'S' : 'P');
		putstr(o, names[(a >> 1) % 4]);
		break;
	case 9:
		at = begin(o, 'F');
		put32(o, 1234), put16(o, 0), put16(o, 0), put16(o, 0);
		break;
	case 10:
		at = begin(o, 'd');
		put(o, "1\tone\n", a % 7);
		break;
	case 11:
		at = begin(o, a & 1 ? 'c' : 'f');
		if (!(a & 1))
			putstr(o, "stop");
		break;
	case 12:
		at = begin(o, 'p');
		putstr(o, "hunter2");
		break;
	case 13:
		at = begin(o, 0);
		put32(o, 196608);
		putstr(o, "user"), putstr(o, a & 1 ? "alice" : "b\x01" "ob");
		putstr(o, "options"), putstr(o, "topsecret");
		put8(o, 0);
		break;
	case 14:
		at = begin(o, 0);
		put32(o, a % 3 == 0 ? 80877103 : a % 3 == 1 ? 80877104 : 80877102);
		if (a % 3 == 2)
			put32(o, 1), put32(o, 2);
		break;
	case 15:
		at = begin(o, 'X');
		break;
	default: /* a header of any type and length, no body */
		put8(o, a);
		put32(o, (uint32_t)a << (a % 25));
		return;
	}
	finish(o, at);
}

static void server_msg(struct out *o, uint8_t t, uint8_t a)
{
	static const char simple[] = "123nIsc";
	uint32_t at;

	switch (t % 19) {
	case 0:
	case 1:
		at = begin(o, simple[a % 7]);
		break;
	case 2:
		at = begin(o, 'Z');
		put8(o, "ITEX"[a % 4]);
		break;
	case 3:
		at = begin(o, 'T');
		put16(o, 1);
		putstr(o, "c");
		put32(o, 0), put16(o, 0), put32(o, 23), put16(o, 4), put32(o, -1), put16(o, 0);
		break;
	case 4:
	case 5:
		at = begin(o, 'D');
		put16(o, 1);
		put32(o, a % 9);
		put(o, "123456789", a % 9);
		break;
	case 6:
	case 7:
		at = begin(o, 'C');
		putstr(o, tags[a % 7]);
		break;
	case 8:
	case 9:
		at = begin(o, a & 1 ? 'E' : 'N');
		put8(o, 'S'), putstr(o, "ERROR");
		if (a & 2)
			put8(o, 'V'), putstr(o, a & 4 ? "FATAL" : "PANIQUE");
		put8(o, 'C'), putstr(o, codes[(a >> 3) % 6]);
		put8(o, 'M'), putstr(o, "leakme");
		put8(o, 0);
		break;
	case 10:
		at = begin(o, 'A');
		put32(o, 1), putstr(o, "ch"), putstr(o, "leakme");
		break;
	case 11:
		at = begin(o, 'S');
		putstr(o, a & 1 ? "application_name" : "TimeZone");
		putstr(o, a & 2 ? "app" : "\x7f" "x");
		break;
	case 12:
		at = begin(o, 'K');
		put32(o, 1), put32(o, 2);
		break;
	case 13:
		at = begin(o, 'R');
		put32(o, a % 13);
		break;
	case 14:
		at = begin(o, 't');
		put16(o, 0);
		break;
	case 15:
		at = begin(o, "GHW"[a % 3]);
		put8(o, 0), put16(o, 0);
		break;
	case 16:
		at = begin(o, 'd');
		put(o, "row\n", a % 5);
		break;
	case 17:
		at = begin(o, 'V');
		put32(o, 1), put8(o, 'x');
		break;
	default:
		put8(o, "SNGE"[a % 4]);
		return;
	}
	finish(o, at);
}

static bool printable(const char *s, size_t size)
{
	const char *end = memchr(s, '\0', size);

	if (!end)
		return false;
	for (; s < end; s++)
		if (*s < 0x20 || *s >= 0x7f)
			return false;
	return true;
}

struct ctx {
	uint64_t emitted;
	uint64_t last_ts;
	uint64_t last_response;
};

static void check_record(void *p, const struct pg_record *r)
{
	struct ctx *x = p;

	assert(r->sql_len < PG_SQL_MAX && r->sql[r->sql_len] == '\0');
	assert(strlen(r->sql) == r->sql_len);
	assert(!r->sql_unknown || !r->sql_len);
	assert(r->kind <= PG_KIND_FUNCTION && r->status <= PG_UNKNOWN && r->copy <= PG_COPY_BOTH);
	assert(printable(r->tag, sizeof(r->tag)));
	for (const char *t = r->tag; *t; t++)
		assert((*t >= 'A' && *t <= 'Z') || *t == ' ' || *t == '?');
	assert(memchr(r->sqlstate, '\0', sizeof(r->sqlstate)));
	assert(strlen(r->sqlstate) == 0 || strlen(r->sqlstate) == 5);
	for (const char *t = r->sqlstate; *t; t++)
		assert((*t >= '0' && *t <= '9') || (*t >= 'A' && *t <= 'Z'));
	if (r->status == PG_ERROR)
		assert(!strcmp(r->severity, "ERROR") || !strcmp(r->severity, "FATAL") ||
		       !strcmp(r->severity, "PANIC"));
	else
		assert(!r->severity[0] && !r->sqlstate[0]);
	assert(!r->txn_status || r->txn_status == 'I' || r->txn_status == 'T' ||
	       r->txn_status == 'E');
	assert(r->t_request <= r->t_response && r->t_response <= x->last_ts);
	assert(r->t_response >= x->last_response); /* emitted in order */
	x->last_response = r->t_response;
	assert(printable(r->user, sizeof(r->user)) && printable(r->database, sizeof(r->database)) &&
	       printable(r->application, sizeof(r->application)));
	/* nothing secret the inputs carry: Bind values, passwords, options, message texts */
	assert(!memmem(r->sql, r->sql_len, "s3cr3t", 6) && !strstr(r->user, "topsecret") &&
	       !strstr(r->application, "leakme") && !strstr(r->tag, "LEAKME"));
	x->emitted++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct out o;
	struct pg_stats st = {};
	struct pg_conn *c = pg_conn__new(&st);
	struct ctx x = {};

	if (!c)
		return 0;
	if (size && (data[0] & 1)) {
		o.n = 0;
		client_msg(&o, 13, 1);
		pg_conn__feed(c, true, o.d, o.n, o.n, ++x.last_ts, check_record, &x);
		o.n = 0;
		server_msg(&o, 13, 0);
		server_msg(&o, 11, 3);
		server_msg(&o, 12, 0);
		server_msg(&o, 2, 0);
		pg_conn__feed(c, false, o.d, o.n, o.n, ++x.last_ts, check_record, &x);
	}
	while (size >= 2) {
		uint8_t hdr = data[0];
		size_t n = data[1];
		uint32_t gap = (hdr >> 2) * 97, cap;
		bool in = hdr & 1;

		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		x.last_ts++;
		if (hdr & 2 && n) {
			o.n = o.n_at = 0;
			for (size_t i = 1; i + 1 < n; i += 2) {
				if (data[i] == 0xff) {
					repeat(&o, data[i + 1]);
					continue;
				}
				mark(&o);
				(in ? client_msg : server_msg)(&o, data[i], data[i + 1]);
			}
			cap = data[0] && data[0] * 4u < o.n ? data[0] * 4u : o.n;
			pg_conn__feed(c, in, o.d, cap, o.n + gap, x.last_ts, check_record, &x);
		} else {
			pg_conn__feed(c, in, data, (uint32_t)n, (uint32_t)n + gap, x.last_ts,
				      check_record, &x);
		}
		/* struct, queue, statements, portals, SQL budget (blob headers may pass it) */
		assert(pg_conn__memory(c) <= 160 * 1024);
		data += n;
		size -= n;
	}
	pg_conn__free(c);
	assert(x.emitted == st.commands);
	assert(st.batch_timed <= st.folded && st.folded_unknown <= st.folded &&
	       st.folded <= st.commands);
	assert(st.truncated_responses <= st.commands && st.unknown_statements <= st.commands);
	return 0;
}
