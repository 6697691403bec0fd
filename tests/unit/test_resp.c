// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * RESP parser fixtures: captured chunks in (server-read requests, server-written replies, gaps),
 * records out. Each fixture is also fed one byte at a time, which must give the same records.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "proto/resp.h"

/* Fixtures leave unused trailing fields (stats, options) zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct chunk {
	char dir;	  /* 'i' the server read it, 'o' it wrote it */
	const char *data; /* captured bytes */
	uint32_t gap;	  /* bytes the syscall moved beyond them */
};

/* Expected record: "command status/error hits/misses prefix..." compared as one string. */
struct fixture {
	const char *name;
	struct chunk chunks[12];
	const char *want[8];
	struct resp_stats want_stats; /* fields checked when non-zero, plus unpaired exactly */
	bool full_keys;
};

#define MAXREC 16

struct got {
	int n;
	char rec[MAXREC][160];
};

static void collect(void *ctx, const struct resp_record *r)
{
	struct got *g = ctx;
	char *s;
	int o;

	if (g->n >= MAXREC)
		return;
	s = g->rec[g->n++];
	o = snprintf(s, 160, "%s %s", r->command, r->status == RESP_OK ? "ok" : r->error);
	if (r->counts_keyspace)
		o += snprintf(s + o, 160 - o, " %u/%u", r->hits, r->misses);
	if (r->db)
		o += snprintf(s + o, 160 - o, " db%u", r->db);
	if (r->blocking)
		o += snprintf(s + o, 160 - o, " blocking");
	if (r->in_multi)
		o += snprintf(s + o, 160 - o, " multi");
	if (r->rejected)
		o += snprintf(s + o, 160 - o, " rejected");
	for (int i = 0; i < r->n_keys; i++)
		o += snprintf(s + o, 160 - o, " [%s]", r->keys[i].prefix);
}

static void run(const struct fixture *f, bool bytewise, struct got *g, struct resp_stats *st)
{
	struct resp_opts o = { .delimiter = ':', .depth = 1, .full_keys = f->full_keys };
	struct resp_conn *c = resp_conn__new(&o, st);
	uint64_t ts = 1000;

	memset(g, 0, sizeof(*g));
	assert_non_null(c);
	for (int i = 0; i < 12 && f->chunks[i].data; i++) {
		const struct chunk *ch = &f->chunks[i];
		uint32_t n = strlen(ch->data);

		ts += 1000;
		if (!bytewise || ch->gap) {
			resp_conn__feed(c, ch->dir == 'i', (const uint8_t *)ch->data, n, n + ch->gap, ts,
					collect, g);
			continue;
		}
		for (uint32_t k = 0; k < n; k++)
			resp_conn__feed(c, ch->dir == 'i', (const uint8_t *)ch->data + k, 1, 1, ts,
					collect, g);
	}
	resp_conn__free(c);
}

static void check(const struct fixture *f, bool bytewise)
{
	struct resp_stats st = {};
	struct got g;
	int nwant = 0;

	run(f, bytewise, &g, &st);
	while (nwant < 8 && f->want[nwant])
		nwant++;
	for (int i = 0; i < g.n || i < nwant; i++) {
		const char *w = i < nwant ? f->want[i] : "(none)";
		const char *r = i < g.n ? g.rec[i] : "(none)";

		if (strcmp(w, r))
			fail_msg("%s%s: record %d: want '%s', got '%s'", f->name,
				 bytewise ? " (bytewise)" : "", i, w, r);
	}
	if (st.unpaired != f->want_stats.unpaired)
		fail_msg("%s: unpaired %lu, want %lu", f->name, (unsigned long)st.unpaired,
			 (unsigned long)f->want_stats.unpaired);
	if (f->want_stats.resyncs && st.resyncs != f->want_stats.resyncs)
		fail_msg("%s: resyncs %lu, want %lu", f->name, (unsigned long)st.resyncs,
			 (unsigned long)f->want_stats.resyncs);
	if (f->want_stats.pushes && st.pushes != f->want_stats.pushes)
		fail_msg("%s: pushes %lu, want %lu", f->name, (unsigned long)st.pushes,
			 (unsigned long)f->want_stats.pushes);
	if (f->want_stats.parse_errors && st.parse_errors != f->want_stats.parse_errors)
		fail_msg("%s: parse errors %lu, want %lu", f->name, (unsigned long)st.parse_errors,
			 (unsigned long)f->want_stats.parse_errors);
}

#define REQ(s) { 'i', s, 0 }
#define REP(s) { 'o', s, 0 }

static const struct fixture fixtures[] = {
	{ "errors refused before execution are marked (--redis-uprobes expects no call())",
	  { REQ("*1\r\n$6\r\nNOSUCH\r\n*1\r\n$3\r\nGET\r\n*2\r\n$3\r\nGET\r\n$3\r\nh:1\r\n"
		"*1\r\n$4\r\nPING\r\n"),
	    REP("-ERR unknown command 'NOSUCH', with args beginning with: \r\n"
		"-ERR wrong number of arguments for 'get' command\r\n"
		"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
		"-NOAUTH Authentication required.\r\n") },
	  { "(unknown) ERR rejected", "get ERR rejected", "get WRONGTYPE 1/0 [h]", "ping NOAUTH rejected" } },
	{ "what Redis does not know as a command is never a label (a typed password, a value)",
	  { REQ("hunter2\r\n*2\r\n$6\r\nCONFIG\r\n$6\r\nSECRET\r\n"),
	    REP("-ERR unknown command 'hunter2', with args beginning with: \r\n"
		"-ERR unknown subcommand 'SECRET'. Try CONFIG HELP.\r\n") },
	  { "(unknown) ERR rejected", "config (unknown) ERR rejected" } },
	{ "set/get hit and miss",
	  { REQ("*3\r\n$3\r\nSET\r\n$6\r\nuser:1\r\n$5\r\nhello\r\n"), REP("+OK\r\n"),
	    REQ("*2\r\n$3\r\nGET\r\n$6\r\nuser:1\r\n"), REP("$5\r\nhello\r\n"),
	    REQ("*2\r\n$3\r\nget\r\n$9\r\nsession:9\r\n"), REP("$-1\r\n") },
	  { "set ok [user]", "get ok 1/0 [user]", "get ok 0/1 [session]" } },
	{ "pipelined requests and replies in one chunk each",
	  { REQ("*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n*2\r\n$3\r\nGET\r\n$3\r\nb:2\r\n*1\r\n$4\r\nPING\r\n"),
	    REP("$1\r\nx\r\n$-1\r\n+PONG\r\n") },
	  { "get ok 1/0 [a]", "get ok 0/1 [b]", "ping ok" } },
	{ "reply before its request completes is impossible: replies wait",
	  { REQ("*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n*1\r\n$4\r\nPI"), REP("$-1\r\n"), REQ("NG\r\n"),
	    REP("+PONG\r\n") },
	  { "get ok 0/1 [a]", "ping ok" } },
	{ "inline commands",
	  { REQ("PING\r\n"), REP("+PONG\r\n"), REQ("GET  k:1\r\n"), REP("$-1\r\n"), REQ("\r\n") },
	  { "ping ok", "get ok 0/1 [k]" } },
	{ "resp3: hello 3, null, map, double, verbatim",
	  { REQ("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"),
	    REP("%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n"),
	    REQ("*2\r\n$3\r\nGET\r\n$3\r\nm:1\r\n"), REP("_\r\n"),
	    REQ("*2\r\n$7\r\nHGETALL\r\n$3\r\nh:1\r\n"), REP("%1\r\n+f\r\n,1.5\r\n"),
	    REQ("*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"), REP("=15\r\ntxt:Some string\r\n") },
	  { "hello ok", "get ok 0/1 [m]", "hgetall ok 1/0 [h]", "info ok" } },
	{ "resp3 attribute before a reply, push in between",
	  { REQ("*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n"),
	    REP(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
	    REP("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.5\r\n$2\r\nok\r\n") },
	  { "get ok 1/0 [a]" }, { .pushes = 1 } },
	{ "errors: wrongtype counts a hit, unknown command",
	  { REQ("*2\r\n$3\r\nGET\r\n$4\r\nl:17\r\n"),
	    REP("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
	    REQ("*1\r\n$5\r\nBOGUS\r\n"), REP("-ERR unknown command 'BOGUS'\r\n"),
	    REQ("*2\r\n$3\r\nGET\r\n$1\r\nx\r\n"), REP("-MOVED 3999 127.0.0.1:6381\r\n") },
	  { "get WRONGTYPE 1/0 [l]", "(unknown) ERR rejected", "get MOVED rejected [(none)]" } },
	{ "mget per key, exists counts",
	  { REQ("*4\r\n$4\r\nMGET\r\n$3\r\na:1\r\n$3\r\nb:1\r\n$3\r\nc:1\r\n"),
	    REP("*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n"),
	    REQ("*3\r\n$6\r\nEXISTS\r\n$3\r\na:1\r\n$3\r\nz:1\r\n"), REP(":1\r\n") },
	  { "mget ok 2/1 [a] [b] [c]", "exists ok 1/1 [a] [z]" } },
	{ "multi/exec: queued replies, exec array pairs each command",
	  { REQ("*1\r\n$5\r\nMULTI\r\n"), REP("+OK\r\n"),
	    REQ("*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n"), REP("+QUEUED\r\n"),
	    REQ("*2\r\n$4\r\nINCR\r\n$3\r\nc:1\r\n*2\r\n$3\r\nGET\r\n$3\r\nb:1\r\n"),
	    REP("+QUEUED\r\n+QUEUED\r\n"), REQ("*1\r\n$4\r\nEXEC\r\n"),
	    REP("*3\r\n$-1\r\n-WRONGTYPE x\r\n$1\r\nv\r\n"),
	    REQ("*1\r\n$4\r\nPING\r\n"), REP("+PONG\r\n") },
	  { "multi ok", "get ok 0/1 multi [a]", "incr WRONGTYPE multi [c]",
	    "get ok 1/0 multi [b]", "exec ok", "ping ok" } },
	{ "multi/discard and a rejected command",
	  { REQ("*1\r\n$5\r\nMULTI\r\n"), REP("+OK\r\n"), REQ("*1\r\n$3\r\nFOO\r\n"),
	    REP("-ERR unknown command 'FOO'\r\n"), REQ("*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n"),
	    REP("+QUEUED\r\n"), REQ("*1\r\n$7\r\nDISCARD\r\n"), REP("+OK\r\n"),
	    REQ("*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n"), REP("$-1\r\n") },
	  { "multi ok", "(unknown) ERR rejected", "discard ok", "get ok 0/1 [a]" } },
	{ "pub/sub resp2: one confirmation per channel, messages are not replies",
	  { REQ("*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n"),
	    REP("*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"),
	    REP("*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n"),
	    REQ("*1\r\n$4\r\nPING\r\n"), REP("*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
	    REQ("*1\r\n$11\r\nUNSUBSCRIBE\r\n"),
	    REP("*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n"),
	    REQ("*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n"), REP("$-1\r\n") },
	  { "subscribe ok", "ping ok", "unsubscribe ok", "get ok 0/1 [a]" }, { .pushes = 1 } },
	{ "blocking commands are marked",
	  { REQ("*3\r\n$5\r\nBLPOP\r\n$3\r\nq:1\r\n$1\r\n0\r\n"), REP("*2\r\n$3\r\nq:1\r\n$1\r\nx\r\n"),
	    REQ("*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$3\r\n100\r\n$7\r\nSTREAMS\r\n$1\r\ns\r\n$1\r\n$\r\n"),
	    REP("*-1\r\n") },
	  { "blpop ok blocking [q]", "xread ok blocking" } },
	{ "select changes the db of what follows, only when it succeeds",
	  { REQ("*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"), REP("+OK\r\n"),
	    REQ("*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n"), REP("$-1\r\n"),
	    REQ("*2\r\n$6\r\nSELECT\r\n$2\r\n99\r\n"), REP("-ERR DB index is out of range\r\n"),
	    REQ("*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n"), REP("$-1\r\n") },
	  { "select ok", "get ok 0/1 db3 [a]", "select ERR db3", "get ok 0/1 db3 [a]" } },
	{ "container commands and auth: names, no arguments",
	  { REQ("*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$9\r\nmaxmemory\r\n"),
	    REP("*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"),
	    REQ("*3\r\n$4\r\nAUTH\r\n$5\r\nadmin\r\n$6\r\nsecret\r\n"), REP("+OK\r\n"),
	    REQ("*4\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n"), REP("%0\r\n") },
	  { "config get ok", "auth ok", "hello ok" } },
	{ "a big value past the capture is skipped by its length",
	  { { 'i', "*3\r\n$3\r\nSET\r\n$3\r\nb:1\r\n$5000\r\nxxxx", 4998 }, REP("+OK\r\n"),
	    REQ("*2\r\n$3\r\nGET\r\n$3\r\nb:1\r\n"), { 'o', "$5000\r\nxxxx", 4998 },
	    REQ("*1\r\n$4\r\nPING\r\n"), REP("+PONG\r\n") },
	  { "set ok [b]", "get ok 1/0 [b]", "ping ok" } },
	{ "an array reply past the capture: the command is answered, then resync",
	  { REQ("*4\r\n$6\r\nLRANGE\r\n$3\r\nl:1\r\n$1\r\n0\r\n$2\r\n-1\r\n*2\r\n$4\r\nPING\r\n$1\r\na\r\n"),
	    { 'o', "*1000\r\n$3\r\nabc\r\n$3\r\nab", 9000 }, REP("c\r\n$3\r\nabc\r\n$1\r\na\r\n"),
	    REQ("*1\r\n$4\r\nPING\r\n"), REP("+PONG\r\n") },
	  { "lrange ok [l]", "ping ok" }, { .unpaired = 1, .resyncs = 1 } },
	{ "a pipeline past the capture: what was parsed pairs, the rest is skipped, then resync",
	  { { 'i', "*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n*2\r\n$3\r\nGET\r\n$3\r\nb:1\r\n*2\r\n$3\r\nGE",
	      40 },
	    REP("$1\r\nx\r\n$-1\r\n$-1\r\n$1\r\ny\r\n"), REP("$1\r\nz\r\n"),
	    REQ("*1\r\n$4\r\nPING\r\n"), REP("+PONG\r\n") },
	  { "get ok 1/0 [a]", "get ok 0/1 [b]", "ping ok" }, { .unpaired = 1, .resyncs = 1 } },
	{ "garbage: counted, resynced at the next clean request, nothing invented",
	  { REQ("\x01\x02\x03garbage\r\n"), REP("-ERR unknown command\r\n"),
	    REQ("*1\r\n$4\r\nPING\r\n"), REP("+PONG\r\n"), REQ("*2\r\n$x\r\n"),
	    REP("-ERR Protocol error\r\n"), REQ("*1\r\n$4\r\nPING\r\n"), REP("+PONG\r\n") },
	  { "(unknown) ERR rejected", "ping ok", "ping ok" }, { .resyncs = 1, .parse_errors = 1 } },
	{ "a reply nobody asked for loses framing, never pairs",
	  { REP("+OK\r\n"), REQ("*1\r\n$4\r\nPING\r\n"), REP("+PONG\r\n") },
	  { "ping ok" }, { .resyncs = 1, .parse_errors = 1 } },
	{ "connection closed with commands pending: unpaired",
	  { REQ("*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n*2\r\n$3\r\nGET\r\n$3\r\nb:1\r\n"), REP("$-1\r\n") },
	  { "get ok 0/1 [a]" }, { .unpaired = 1 } },
	{ "a reply nested deeper than the parser holds itself (XRANGE), then the next one",
	  { REQ("*4\r\n$6\r\nXRANGE\r\n$3\r\ns:1\r\n$1\r\n-\r\n$1\r\n+\r\n"),
	    REP("*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
		"*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nf\r\n*1\r\n:1\r\n$1\r\ng\r\n$0\r\n\r\n"),
	    REQ("*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n"), REP("$-1\r\n") },
	  { "xrange ok [s]", "get ok 0/1 [a]" } },
	{ "inline commands, QUEUED and an error word from a line cut short",
	  { REQ("MULTI\r\n"), REP("+OK\r\n"), REQ("GET k:1\r\n"), REP("+QUEUED\r\n"),
	    REQ("EXEC\r\n"), REP("*1\r\n-WRONGTYPE Operation against a key holding the wrong kind\r\n") },
	  { "multi ok", "get WRONGTYPE 1/0 multi [k]", "exec ok" } },
	{ "key prefixes: no delimiter shows nothing, full keys on request",
	  { REQ("*2\r\n$3\r\nGET\r\n$7\r\nsession\r\n"), REP("$-1\r\n") }, { "get ok 0/1 [(none)]" } },
	{ "full keys opt-in",
	  { REQ("*2\r\n$3\r\nGET\r\n$6\r\nuser:7\r\n"), REP("$-1\r\n") }, { "get ok 0/1 [user:7]" },
	  {}, true },
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

static void test_prefix(void **state)
{
	struct resp_opts o = { .delimiter = ':', .depth = 2 };
	char out[RESP_PREFIX_LEN];

	resp_key_prefix(&o, "app:user:42", 11, out, sizeof(out));
	assert_string_equal(out, "app:user");
	resp_key_prefix(&o, "app:42", 6, out, sizeof(out));
	assert_string_equal(out, "(none)");
	resp_key_prefix(&o, "(other):x:y", 11, out, sizeof(out));
	assert_string_equal(out, "?other):x");
	o.delimiter = '/';
	o.depth = 1;
	resp_key_prefix(&o, "a\x01" "b/c", 5, out, sizeof(out));
	assert_string_equal(out, "a?b");
}

/* A bulk reply split by a gap and continued over several chunks, byte counts exact. */
static void test_gap_then_tail(void **state)
{
	struct resp_opts o = { .delimiter = ':', .depth = 1 };
	struct resp_stats st = {};
	struct resp_conn *c = resp_conn__new(&o, &st);
	const char *req = "*2\r\n$3\r\nGET\r\n$3\r\nb:1\r\n*1\r\n$4\r\nPING\r\n";
	const char *head = "$3000\r\nxx"; /* 2 payload bytes captured, then a gap */
	char tail[200];
	struct got g = {};

	resp_conn__feed(c, true, (const uint8_t *)req, strlen(req), strlen(req), 1, collect, &g);
	resp_conn__feed(c, false, (const uint8_t *)head, 9, 9 + 2818, 2, collect, &g);
	assert_int_equal(g.n, 0);
	/* 3000 - 2 - 2818 = 180 payload bytes, CRLF, then the next reply */
	memset(tail, 'x', 180);
	memcpy(tail + 180, "\r\n+PONG\r\n", 9);
	resp_conn__feed(c, false, (const uint8_t *)tail, 100, 100, 3, collect, &g);
	resp_conn__feed(c, false, (const uint8_t *)tail + 100, 89, 89, 4, collect, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.rec[0], "get ok 1/0 [b]");
	assert_string_equal(g.rec[1], "ping ok");
	assert_int_equal(st.resyncs, 0);
	resp_conn__free(c);
	assert_int_equal(st.unpaired, 0);
}

/* Values must never leave the parser: a SET of a secret yields no record text holding it. */
static void test_values_stay_inside(void **state)
{
	struct resp_opts o = { .delimiter = ':', .depth = 1 };
	struct resp_stats st = {};
	struct resp_conn *c = resp_conn__new(&o, &st);
	const char *req = "*3\r\n$3\r\nSET\r\n$6\r\ntok:ab\r\n$12\r\nhunter2hunt2\r\n";
	struct got g = {};

	resp_conn__feed(c, true, (const uint8_t *)req, strlen(req), strlen(req), 1, collect, &g);
	resp_conn__feed(c, false, (const uint8_t *)"+OK\r\n", 5, 5, 2, collect, &g);
	resp_conn__free(c);
	assert_int_equal(g.n, 1);
	assert_null(strstr(g.rec[0], "hunter2"));
	assert_null(strstr(g.rec[0], "ab"));
}

/*
 * Deep pipelines are bounded: past RESP_MAX_PENDING, a command like the newest one waiting is
 * folded into it and still answered one by one; an unlike one is dropped and counted.
 */
static void test_pipeline_bound(void **state)
{
	struct resp_opts o = { .delimiter = ':', .depth = 1 };
	struct resp_stats st = {};
	struct resp_conn *c = resp_conn__new(&o, &st);
	const char *get_a = "*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n";
	const char *get_b = "*2\r\n$3\r\nGET\r\n$3\r\nb:1\r\n";
	struct got g = {};
	int n = RESP_MAX_PENDING + 10;

	/* like commands: GET a:1 over and over, answered hit, miss, hit... */
	for (int i = 0; i < n; i++)
		resp_conn__feed(c, true, (const uint8_t *)get_a, 22, 22, i, NULL, NULL);
	assert_int_equal(st.unpaired, 0);
	assert_int_equal(st.folded, 10);
	for (int i = 0; i < n; i++) {
		const char *rep = i % 2 ? "$-1\r\n" : "$1\r\nx\r\n";

		resp_conn__feed(c, false, (const uint8_t *)rep, strlen(rep), strlen(rep), n + i,
				collect, &g);
	}
	assert_int_equal(st.commands, n);
	assert_string_equal(g.rec[0], "get ok 1/0 [a]");
	assert_string_equal(g.rec[1], "get ok 0/1 [a]");

	/* the prefix alternates: past the bound, every other command is like the last one queued
	 * (folded) and the others are dropped */
	for (int i = 0; i < n; i++)
		resp_conn__feed(c, true, (const uint8_t *)(i % 2 ? get_b : get_a), 22, 22, i, NULL,
				NULL);
	assert_int_equal(st.unpaired, 5);
	assert_int_equal(st.folded, 15);
	resp_conn__free(c);
	assert_int_equal(st.unpaired, RESP_MAX_PENDING + 10);
}

static void count_unkeyed(void *ctx, const struct resp_record *r)
{
	int *n = ctx;

	*n += r->n_keys == 0;
}

/*
 * The key ring is bounded too (2 x RESP_MAX_PENDING prefixes): commands queued past it are
 * counted in totals without prefixes; every command still gets its record.
 */
static void test_key_ring_bound(void **state)
{
	struct resp_opts o = { .delimiter = ':', .depth = 1 };
	struct resp_stats st = {};
	struct resp_conn *c = resp_conn__new(&o, &st);
	const char *mget = "*9\r\n$4\r\nMGET\r\n$3\r\na:1\r\n$3\r\na:2\r\n$3\r\na:3\r\n$3\r\na:4\r\n"
			   "$3\r\na:5\r\n$3\r\na:6\r\n$3\r\na:7\r\n$3\r\na:8\r\n";
	const char *rep = "*8\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n";
	int n = 2 * RESP_MAX_PENDING / 8 + 50, unkeyed = 0;

	for (int i = 0; i < n; i++)
		resp_conn__feed(c, true, (const uint8_t *)mget, strlen(mget), strlen(mget), i, NULL,
				NULL);
	for (int i = 0; i < n; i++)
		resp_conn__feed(c, false, (const uint8_t *)rep, strlen(rep), strlen(rep), n + i,
				count_unkeyed, &unkeyed);
	assert_int_equal(st.commands, n);
	assert_int_equal(unkeyed, 50);
	assert_int_equal(st.unpaired, 0);
	resp_conn__free(c);
}

/*
 * What a connection's parser holds (issue 13: 10,000 idle connections must not cost megabytes):
 * printed for the record. An idle connection that sends one command at a time holds its struct
 * alone, whatever it sent last; a pipelining one keeps its queue and key ring.
 */
static void test_footprint(void **state)
{
	struct resp_opts o = { .delimiter = ':', .depth = 1 };
	struct resp_stats st = {};
	struct resp_conn *c = resp_conn__new(&o, &st);
	const char *get = "*2\r\n$3\r\nGET\r\n$3\r\na:1\r\n";
	size_t fresh = resp_conn__footprint(c), after_ping, after_get, cut, piped;

	resp_conn__feed(c, true, (const uint8_t *)"*1\r\n$4\r\nPING\r\n", 14, 14, 1, NULL, NULL);
	resp_conn__feed(c, false, (const uint8_t *)"+PONG\r\n", 7, 7, 2, NULL, NULL);
	after_ping = resp_conn__footprint(c);
	resp_conn__feed(c, true, (const uint8_t *)get, 22, 22, 3, NULL, NULL);
	resp_conn__feed(c, false, (const uint8_t *)"$1\r\nx\r\n", 7, 7, 4, NULL, NULL);
	after_get = resp_conn__footprint(c);
	/* a request cut by a chunk's end holds the byte-wise path's buffers until it completes */
	resp_conn__feed(c, true, (const uint8_t *)get, 10, 10, 5, NULL, NULL);
	cut = resp_conn__footprint(c);
	resp_conn__feed(c, true, (const uint8_t *)get + 10, 12, 12, 6, NULL, NULL);
	resp_conn__feed(c, false, (const uint8_t *)"$-1\r\n", 5, 5, 7, NULL, NULL);
	assert_int_equal(resp_conn__footprint(c), fresh);
	for (int i = 0; i < 16; i++)
		resp_conn__feed(c, true, (const uint8_t *)get, 22, 22, 8, NULL, NULL);
	for (int i = 0; i < 16; i++)
		resp_conn__feed(c, false, (const uint8_t *)"$-1\r\n", 5, 5, 9, NULL, NULL);
	piped = resp_conn__footprint(c);
	printf("# resp_conn footprint (bytes): new %zu, idle after PING %zu, after GET %zu, "
	       "request cut by a chunk %zu, idle after a pipeline of 16 GETs %zu\n",
	       fresh, after_ping, after_get, cut, piped);
	assert_int_equal(after_ping, fresh);
	assert_int_equal(after_get, fresh);
	assert_true(cut > fresh);
	assert_true(piped > fresh);
	assert_int_equal(st.commands, 19);
	resp_conn__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),	  cmocka_unit_test(test_fixtures_bytewise),
		cmocka_unit_test(test_prefix),		  cmocka_unit_test(test_values_stay_inside),
		cmocka_unit_test(test_pipeline_bound),	  cmocka_unit_test(test_gap_then_tail),
		cmocka_unit_test(test_key_ring_bound),	  cmocka_unit_test(test_footprint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
