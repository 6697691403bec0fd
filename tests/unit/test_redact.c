// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * record --redact: each conversation is masked as expected (written out, '*' for masked bytes),
 * whole, split at every byte (as two chunks of one syscall and as two syscalls) and one byte at
 * a time; the RESP parser reads the same records from the masked bytes as from the original;
 * gaps inside a value are skipped, gaps in framing mask the rest of the direction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "capture/redact.h"
#include "proto/resp.h"

/* Fixtures leave unused trailing fields zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct msg {
	bool in;	  /* the server read it */
	const char *data;
	const char *want; /* data masked; NULL: unchanged */
	size_t len;	  /* 0: strlen(data) */
};

static size_t msg_len(const struct msg *m)
{
	return m->len ? m->len : strlen(m->data);
}

#define SPLIT_NONE 0
#define SPLIT_CHUNKS 1	/* two chunks of one syscall */
#define SPLIT_SYSCALLS 2 /* two syscalls */
#define SPLIT_BYTES 3	/* one byte per syscall */

/* Masks every message of the conversation, message m split at s as mode says; out[i] gets
 * message i masked. */
static void redact_conv(enum redact_proto proto, const struct msg *msgs, int n, int m, size_t s,
			int mode, uint8_t out[][512])
{
	struct redact_stats st = {};
	struct redact_conn *c = redact_conn__new(proto, true, &st);
	uint64_t ts = 1;

	assert_non_null(c);
	for (int i = 0; i < n; i++) {
		size_t len = msg_len(&msgs[i]);
		uint8_t *b = out[i];

		assert_true(len <= 512);
		memcpy(b, msgs[i].data, len);
		if (i != m || mode == SPLIT_NONE) {
			redact_conn__chunk(c, msgs[i].in, b, 0, len, len, false, ts++);
		} else if (mode == SPLIT_CHUNKS) {
			redact_conn__chunk(c, msgs[i].in, b, 0, s, len, true, ts);
			redact_conn__chunk(c, msgs[i].in, b + s, s, len - s, len, false, ts++);
		} else if (mode == SPLIT_SYSCALLS) {
			redact_conn__chunk(c, msgs[i].in, b, 0, s, s, false, ts++);
			redact_conn__chunk(c, msgs[i].in, b + s, 0, len - s, len - s, false, ts++);
		} else {
			for (size_t k = 0; k < len; k++)
				redact_conn__chunk(c, msgs[i].in, b + k, 0, 1, 1, false, ts++);
		}
	}
	assert_int_equal(st.desyncs, 0);
	redact_conn__free(c);
}

static void check_conv(enum redact_proto proto, const struct msg *msgs, int n)
{
	static uint8_t out[16][512];

	assert_true(n <= 16);
	for (int m = 0; m < n; m++) {
		size_t len = msg_len(&msgs[m]);

		for (int mode = SPLIT_NONE; mode <= SPLIT_BYTES; mode++) {
			for (size_t s = 1; s < (mode == SPLIT_NONE || mode == SPLIT_BYTES ? 2 : len);
			     s++) {
				redact_conv(proto, msgs, n, m, s, mode, out);
				for (int i = 0; i < n; i++) {
					const char *want = msgs[i].want ? msgs[i].want
									: msgs[i].data;

					if (memcmp(out[i], want, msg_len(&msgs[i]))) {
						print_error("message %d, split %d of message %d "
							    "(mode %d): got '%.*s'\n", i, (int)s,
							    m, mode, (int)msg_len(&msgs[i]),
							    out[i]);
						fail();
					}
				}
			}
		}
	}
}

static const struct msg redis_conv[] = {
	{ true, "*3\r\n$3\r\nSET\r\n$11\r\nuser:SECRET\r\n$9\r\nVALSECRET\r\n",
		"*3\r\n$3\r\nSET\r\n$11\r\nuser:SECRET\r\n$9\r\n*********\r\n" },
	{ false, "+OK\r\n" },
	{ true, "*2\r\n$4\r\nAUTH\r\n$7\r\nhunter2\r\n", "*2\r\n$4\r\nAUTH\r\n$7\r\n*******\r\n" },
	{ false, "-WRONGPASS invalid username-password\r\n",
		 "-WRONGPASS *************************\r\n" },
	{ true, "*2\r\n$3\r\nget\r\n$6\r\nuser:1\r\n" },
	{ false, "$9\r\nVALSECRET\r\n", "$9\r\n*********\r\n" },
	{ true, "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$3\r\npw1\r\n",
		"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\n****\r\n$7\r\n*******\r\n$3\r\n***\r\n" },
	{ false, "%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n", "%1\r\n$6\r\n******\r\n$5\r\n*****\r\n" },
	{ true, "*4\r\n$6\r\nconfig\r\n$3\r\nset\r\n$11\r\nrequirepass\r\n$3\r\npw2\r\n",
		"*4\r\n$6\r\nconfig\r\n$3\r\nset\r\n$11\r\n***********\r\n$3\r\n***\r\n" },
	{ false, "+OK\r\n" },
	{ true, "*2\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n", "*2\r\n$9\r\nsubscribe\r\n$2\r\n**\r\n" },
	{ false, "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nabc\r\n",
		 "*3\r\n$9\r\nsubscribe\r\n$2\r\n**\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$2\r\n**\r\n$3\r\n***\r\n" },
	{ true, "MIGRATE h 1 k 0 9 AUTH pw3\r\n", "MIGRATE * * * * * **** ***\r\n" },
	{ false, "*2\r\n$5\r\nSECRE\r\n*1\r\n$7\r\nmessage\r\n",
		 "*2\r\n$5\r\n*****\r\n*1\r\n$7\r\n*******\r\n" },
};

/* Split anywhere: a top-level first element that is a push word, whole in its chunk, is kept;
 * split, it is masked. The expectation above holds for every split that leaves it whole, so
 * this conversation avoids a push word at a top-level array's head split by the test... except
 * in message 11, checked apart below. */
static void test_redis_splits(void **state)
{
	(void)state;
	/* message 11 holds push words at a top-level head: split inside one, it is masked (not
	 * kept on a guess), so the conversation is checked without it here and whole below */
	struct msg conv[16];
	int n = 0;

	for (size_t i = 0; i < sizeof(redis_conv) / sizeof(redis_conv[0]); i++)
		if (i != 11)
			conv[n++] = redis_conv[i];
	check_conv(REDACT_REDIS, conv, n);
}

static void test_redis_whole(void **state)
{
	static uint8_t out[16][512];
	int n = sizeof(redis_conv) / sizeof(redis_conv[0]);

	(void)state;
	redact_conv(REDACT_REDIS, redis_conv, n, -1, 0, SPLIT_NONE, out);
	for (int i = 0; i < n; i++)
		assert_memory_equal(out[i], redis_conv[i].want ? redis_conv[i].want
							       : redis_conv[i].data,
				    msg_len(&redis_conv[i]));
}

/* A push word split across chunks is masked: never kept on a guess. */
static void test_redis_push_split(void **state)
{
	static const struct msg conv[] = {
		{ false, "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nabc\r\n" },
	};
	uint8_t out[1][512];

	(void)state;
	redact_conv(REDACT_REDIS, conv, 1, 0, 10, SPLIT_CHUNKS, out);
	assert_memory_equal(out[0], "*3\r\n$7\r\n*******\r\n$2\r\n**\r\n$3\r\n***\r\n",
			    strlen(conv[0].data));
}

static const struct msg pg_conv[] = {
	{ true, "\0\0\0\x08\x04\xd2\x16\x2f", NULL, 8 }, /* SSLRequest */
	{ false, "N" },
	{ true, "\0\0\0\x11\0\3\0\0user\0bob\0\0", NULL, 17 },
	{ false, "R\0\0\0\x0c\0\0\0\x05salt", NULL, 13 },
	{ true, "p\0\0\0\x28md5c0ffeec0ffeec0ffeec0ffeec0ffee01\0",
		"p\0\0\0\x28************************************", 41 },
	{ true, "p\0\0\0\x1cSCRAM-SHA-256\0\0\0\0\x06n,,n=x",
		"p\0\0\0\x1c************************", 29 },
	{ true, "Q\0\0\0\x0dselect 1\0", NULL, 14 },
	{ true, "X\0\0\0\x04", NULL, 5 },
};

static void test_pg_splits(void **state)
{
	(void)state;
	check_conv(REDACT_POSTGRES, pg_conv, sizeof(pg_conv) / sizeof(pg_conv[0]));
}

static void collect(void *ctx, const struct resp_record *r)
{
	char *out = ctx;
	size_t n = strlen(out);

	snprintf(out + n, 4096 - n, "%s/%d/%s/%s|", r->command, r->status, r->error,
		 r->n_keys ? r->keys[0].prefix : "-");
}

/* The parser reads the same records from masked bytes as from the original. */
static void test_redis_replay_same(void **state)
{
	static uint8_t out[16][512];
	int n = sizeof(redis_conv) / sizeof(redis_conv[0]);
	char a[4096] = "", b[4096] = "";
	struct resp_opts o = { .delimiter = ':', .depth = 1 };
	struct resp_stats sa = {}, sb = {};
	struct resp_conn *ca = resp_conn__new(&o, &sa), *cb = resp_conn__new(&o, &sb);

	(void)state;
	redact_conv(REDACT_REDIS, redis_conv, n, -1, 0, SPLIT_NONE, out);
	for (int i = 0; i < n; i++) {
		uint32_t len = (uint32_t)msg_len(&redis_conv[i]);

		resp_conn__feed(ca, redis_conv[i].in, (const uint8_t *)redis_conv[i].data, len, len,
				(uint64_t)i + 1, collect, a);
		resp_conn__feed(cb, redis_conv[i].in, out[i], len, len, (uint64_t)i + 1, collect,
				b);
	}
	assert_true(sa.commands >= 7);
	assert_int_equal(sa.commands, sb.commands);
	assert_int_equal(sa.pushes, sb.pushes);
	assert_string_equal(a, b);
	resp_conn__free(ca);
	resp_conn__free(cb);
}

/* A value larger than the capture: its uncaptured rest is skipped by length, and the next
 * command is read as usual. A gap in a header line masks the rest of the direction. */
static void test_gaps(void **state)
{
	struct redact_stats st = {};
	struct redact_conn *c = redact_conn__new(REDACT_REDIS, true, &st);
	char a[] = "*3\r\n$3\r\nSET\r\n$3\r\nk:1\r\n$100\r\nSECRETSECRET";
	char b[] = "*2\r\n$3\r\nGET\r\n$3\r\nk:1\r\n";
	char d[] = "*2\r\n$3\r\nGET\r\n$3";
	char e[] = "*2\r\n$3\r\nGET\r\n$3\r\nk:1\r\n";

	(void)state;
	/* 100 + 2 bytes of the value and its CRLF beyond the capture */
	redact_conn__chunk(c, true, (uint8_t *)a, 0, strlen(a), strlen(a) + 100 - 12 + 2, false, 1);
	assert_string_equal(a, "*3\r\n$3\r\nSET\r\n$3\r\nk:1\r\n$100\r\n************");
	/* the whole CRLF was in the gap? no: 88 value bytes and the CRLF are; the next is clean */
	redact_conn__chunk(c, true, (uint8_t *)b, 0, strlen(b), strlen(b), false, 2);
	assert_string_equal(b, "*2\r\n$3\r\nGET\r\n$3\r\nk:1\r\n");
	assert_int_equal(st.desyncs, 0);
	/* a syscall whose capture stops inside a length line: uncertain from there on */
	redact_conn__chunk(c, true, (uint8_t *)d, 0, strlen(d), strlen(d) + 5, false, 3);
	redact_conn__chunk(c, true, (uint8_t *)e, 0, strlen(e), strlen(e), false, 4);
	assert_int_equal(st.desyncs, 1);
	assert_string_equal(e, "**********************");
	/* a lost chunk of a syscall (off jumps) inside framing: the same */
	redact_conn__free(c);
	c = redact_conn__new(REDACT_REDIS, true, &st);
	memcpy(d, "*2\r\n$3\r\nGET\r\n$3", sizeof(d));
	memcpy(e, "*2\r\n$3\r\nGET\r\n$3\r\nk:1\r\n", sizeof(e));
	redact_conn__chunk(c, true, (uint8_t *)d, 0, 4, 100, true, 5);
	redact_conn__chunk(c, true, (uint8_t *)e, 10, strlen(e), 100, false, 5);
	assert_int_equal(st.desyncs, 2);
	assert_string_equal(e, "**********************");
	redact_conn__free(c);
}

/* The target connected out (a replica to its primary, a subscription's walreceiver): its
 * writes are the requests, masked as such; what it reads are replies. */
static void test_client_role(void **state)
{
	struct redact_conn *c = redact_conn__new(REDACT_POSTGRES, false, NULL);
	char pw[] = "p\0\0\0\x08pw1\0";
	char reply[] = "p\0\0\0\x08pw1\0"; /* not a server message: passed as the server's */

	(void)state;
	redact_conn__chunk(c, false, (uint8_t *)pw, 0, 9, 9, false, 1);
	redact_conn__chunk(c, true, (uint8_t *)reply, 0, 9, 9, false, 2);
	assert_memory_equal(pw, "p\0\0\0\x08****", 9);
	assert_memory_equal(reply, "p\0\0\0\x08pw1\0", 9);
	redact_conn__free(c);
	c = redact_conn__new(REDACT_REDIS, false, NULL);
	char auth[] = "*2\r\n$4\r\nAUTH\r\n$3\r\npw1\r\n";
	redact_conn__chunk(c, false, (uint8_t *)auth, 0, strlen(auth), strlen(auth), false, 3);
	assert_string_equal(auth, "*2\r\n$4\r\nAUTH\r\n$3\r\n***\r\n");
	redact_conn__free(c);
}

/* Nothing known of the connection: every byte masked. */
static void test_unknown(void **state)
{
	struct redact_conn *c = redact_conn__new(REDACT_ALL, true, NULL);
	char a[] = "anything";

	(void)state;
	redact_conn__chunk(c, false, (uint8_t *)a, 0, 8, 8, false, 1);
	assert_string_equal(a, "********");
	redact_conn__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redis_whole),
		cmocka_unit_test(test_redis_splits),
		cmocka_unit_test(test_redis_push_split),
		cmocka_unit_test(test_pg_splits),
		cmocka_unit_test(test_redis_replay_same),
		cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_client_role),
		cmocka_unit_test(test_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
