// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pipeline: a syscall's payload arrives as several DATA records (chunks) and reaches the parser as
 * one stream; a chunk the ring buffer lost becomes a gap of the right length, never bytes glued to
 * the wrong place. Records are built as the kernel builds them, through conntrack.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "pipeline.h"

#define TGID 4000001
#define SOCK 0x111
#define FD 8
#define CHUNK 4096 /* smaller than the kernel's, so that a test needs fewer bytes */

struct seen {
	uint32_t commands, hits, misses, other;
	char last[RESP_CMD_LEN];
};

static void on_redis(void *ctx, const struct redis_event *e)
{
	struct seen *s = ctx;

	if (strcmp(e->r->command, "get"))
		s->other++;
	s->commands++;
	s->hits += e->r->hits;
	s->misses += e->r->misses;
	snprintf(s->last, sizeof(s->last), "%s", e->r->command);
}

struct fixture {
	struct seen seen;
	struct pipeline *p;
	struct conntrack *ct;
	struct pipeline_opts o;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct conntrack_opts co = { .max_conns = 16, .max_procs = 8 };
	struct nx_conn_event ev = {};

	f->o = (struct pipeline_opts){ .decode = true, .resp = { .delimiter = ':', .depth = 1 } };
	f->p = pipeline__new(&f->o, NULL, NULL,
			     (struct pipeline_sink){ .on_redis = on_redis, .ctx = &f->seen });
	f->ct = conntrack__new(&co, NULL, pipeline__conntrack_sink(f->p));
	assert_non_null(f->p);
	assert_non_null(f->ct);
	ev.hdr.type = NX_EV_CONN_OPEN;
	ev.hdr.tgid = ev.hdr.pid = TGID;
	ev.hdr.fd = FD;
	ev.sock_id = SOCK;
	ev.transport = NX_TRANSPORT_TCP4;
	ev.how = NX_OPEN_ACCEPT;
	ev.lport = 6379;
	ev.rport = 50000;
	strcpy(ev.comm, "redis-server");
	conntrack__record(f->ct, &ev, sizeof(ev));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	conntrack__free(f->ct);
	pipeline__free(f->p);
	free(f);
	return 0;
}

/* One syscall of `len` bytes at ts, as the kernel sends it: chunks of CHUNK bytes; skip_chunk
 * (if >= 0) is the one the full ring buffer dropped. */
static void syscall_chunks(struct conntrack *ct, uint8_t dir, const char *bytes, uint32_t len,
			   uint64_t ts, int skip_chunk)
{
	static uint64_t rec[(sizeof(struct nx_data_event) + CHUNK) / 8 + 1];
	struct nx_data_event *ev = (struct nx_data_event *)rec;
	int i = 0;

	for (uint32_t off = 0; off < len || (!len && !off); off += CHUNK, i++) {
		uint32_t n = len - off < CHUNK ? len - off : CHUNK;

		memset(ev, 0, sizeof(*ev));
		ev->hdr.type = NX_EV_DATA;
		ev->hdr.tgid = ev->hdr.pid = TGID;
		ev->hdr.fd = FD;
		ev->hdr.ts_ns = ts;
		ev->sock_id = SOCK;
		ev->dir = dir;
		ev->len = len;
		ev->cap_len = n;
		ev->off = off;
		ev->flags = off + n < len ? NX_DATA_F_MORE : 0;
		ev->arrived_ns = dir == NX_DIR_IN ? ts - 700 : 0; /* the bytes waited 700 ns */
		memcpy(ev->data, bytes + off, n);
		if (i != skip_chunk)
			conntrack__record(ct, rec, sizeof(*ev) + n);
		if (!len)
			break;
	}
}

/* n GETs of keys k:0..k:n-1 in one buffer; replies: a value for even keys, null for odd ones. */
static char *gets(int from, int n, uint32_t *len)
{
	char *b = malloc((size_t)n * 40), *p = b;

	for (int i = from; i < from + n; i++) {
		char key[16];
		int kl = snprintf(key, sizeof(key), "k:%d", i);

		p += sprintf(p, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", kl, key);
	}
	*len = p - b;
	return b;
}

static char *replies(int from, int n, uint32_t *len)
{
	char *b = malloc((size_t)n * 16), *p = b;

	for (int i = from; i < from + n; i++)
		p += sprintf(p, i % 2 ? "$-1\r\n" : "$2\r\nv%d\r\n", i % 10);
	*len = p - b;
	return b;
}

/* A pipeline of 3,000 GETs in one read (many chunks) and its replies in one write. */
static void test_chunks_make_one_stream(void **state)
{
	struct fixture *f = *state;
	const struct resp_stats *st = pipeline__resp_stats(f->p);
	uint32_t rl, pl;
	char *req = gets(0, 3000, &rl), *rep = replies(0, 3000, &pl);

	assert_true(rl > 10 * CHUNK);
	syscall_chunks(f->ct, NX_DIR_IN, req, rl, 1000, -1);
	syscall_chunks(f->ct, NX_DIR_OUT, rep, pl, 2000, -1);
	assert_int_equal(f->seen.commands, 3000);
	assert_int_equal(f->seen.other, 0);
	assert_int_equal(f->seen.hits, 1500);
	assert_int_equal(f->seen.misses, 1500);
	assert_int_equal(st->unpaired, 0);
	assert_int_equal(st->resyncs, 0);
	free(req);
	free(rep);
}

/*
 * The ring buffer dropped a middle chunk of the requests: the commands before it pair with the
 * first replies, the rest are skipped until the client's next clean request, and nothing is paired
 * wrong (every record is a GET, hits and misses match the replies they got).
 */
static void test_lost_chunk_is_a_gap(void **state)
{
	struct fixture *f = *state;
	const struct resp_stats *st = pipeline__resp_stats(f->p);
	uint32_t rl, pl, rl2, pl2;
	char *req = gets(0, 1000, &rl), *rep = replies(0, 1000, &pl);
	char *req2 = gets(0, 10, &rl2), *rep2 = replies(0, 10, &pl2);

	syscall_chunks(f->ct, NX_DIR_IN, req, rl, 1000, 2);
	syscall_chunks(f->ct, NX_DIR_OUT, rep, pl, 2000, -1);
	assert_true(f->seen.commands > 0 && f->seen.commands < 1000);
	assert_int_equal(f->seen.other, 0);
	/* the first commands got the first replies: hit, miss, hit... */
	assert_true(f->seen.hits - f->seen.misses <= 1);
	assert_int_equal(st->resyncs, 1);
	/* the client's next pipeline is followed exactly again */
	memset(&f->seen, 0, sizeof(f->seen));
	syscall_chunks(f->ct, NX_DIR_IN, req2, rl2, 3000, -1);
	syscall_chunks(f->ct, NX_DIR_OUT, rep2, pl2, 4000, -1);
	assert_int_equal(f->seen.commands, 10);
	assert_int_equal(f->seen.hits, 5);
	assert_int_equal(f->seen.misses, 5);
	free(req);
	free(rep);
	free(req2);
	free(rep2);
}

/* The last chunk of a write was lost and the next write came whole: the gap is the lost tail's
 * length, so the next write's replies are not glued onto the middle of a value. */
static void test_lost_tail_then_next_syscall(void **state)
{
	struct fixture *f = *state;
	const struct resp_stats *st = pipeline__resp_stats(f->p);
	uint32_t rl, pl, rl2, pl2;
	char *req = gets(0, 2000, &rl), *rep = replies(0, 2000, &pl);
	char *req2 = gets(0, 4, &rl2), *rep2 = replies(0, 4, &pl2);
	int last = (pl - 1) / CHUNK;

	assert_true(last >= 1);
	syscall_chunks(f->ct, NX_DIR_IN, req, rl, 1000, -1);
	syscall_chunks(f->ct, NX_DIR_OUT, rep, pl, 2000, last);
	assert_int_equal(f->seen.other, 0);
	assert_true(f->seen.commands < 2000);
	/* the next read tells the parser of the lost tail (the reply it cut still answers its
	 * command, the rest are dropped); the read's own commands are then followed */
	syscall_chunks(f->ct, NX_DIR_IN, req2, rl2, 3000, -1);
	assert_true(f->seen.commands < 2000);
	memset(&f->seen, 0, sizeof(f->seen));
	syscall_chunks(f->ct, NX_DIR_OUT, rep2, pl2, 4000, -1);
	assert_int_equal(f->seen.commands, 4);
	assert_int_equal(f->seen.hits, 2);
	assert_int_equal(f->seen.other, 0);
	assert_true(st->unpaired > 0);
	free(req);
	free(rep);
	free(req2);
	free(rep2);
}

/* The reference: every record counted one by one, as without runs. */
static void count_each(void *ctx, const struct redis_event *e)
{
	redis_stats__command(ctx, e->server, e->pid, e->r, e->r->t_reply);
}

static void same_server(const struct rs_server_snap *a, const struct rs_server_snap *b)
{
	assert_int_equal(a->commands, b->commands);
	assert_int_equal(a->errors, b->errors);
	assert_int_equal(a->hits, b->hits);
	assert_int_equal(a->misses, b->misses);
	assert_int_equal(a->win_commands, b->win_commands);
	assert_int_equal(a->win_hits, b->win_hits);
	assert_int_equal(a->win_misses, b->win_misses);
	assert_int_equal(a->reply_gap_ns, b->reply_gap_ns);
	assert_memory_equal(&a->wait, &b->wait, sizeof(a->wait));
	assert_int_equal(a->wait.count, a->commands);
	assert_memory_equal(&a->total, &b->total, sizeof(a->total));
	assert_int_equal(a->n_prefixes, b->n_prefixes);
	for (int i = 0; i < a->n_prefixes; i++) {
		assert_string_equal(a->prefixes[i].prefix, b->prefixes[i].prefix);
		assert_int_equal(a->prefixes[i].hits, b->prefixes[i].hits);
		assert_int_equal(a->prefixes[i].misses, b->prefixes[i].misses);
	}
	assert_int_equal(a->n_cmds, b->n_cmds);
	for (int i = 0; i < a->n_cmds; i++) {
		assert_string_equal(a->cmds[i].command, b->cmds[i].command);
		assert_memory_equal(&a->cmds[i].lat, &b->cmds[i].lat, sizeof(a->cmds[i].lat));
		assert_memory_equal(&a->cmds[i].felt, &b->cmds[i].felt, sizeof(a->cmds[i].felt));
	}
}

/*
 * A pipeline's like commands are counted as one run; the statistics must be exactly those of
 * counting them one by one: mixed prefixes, a SET, an error and a MGET in the middle of GETs,
 * over several reads and writes.
 */
static void test_runs_count_as_one_by_one(void **state)
{
	struct redis_stats *runs = redis_stats__new(), *each = redis_stats__new();
	struct conntrack_opts co = { .max_conns = 16, .max_procs = 8 };
	struct pipeline_opts o = { .decode = true, .resp = { .delimiter = ':', .depth = 1 } };
	struct pipeline *p = pipeline__new(&o, runs, NULL,
					   (struct pipeline_sink){ .on_redis = count_each,
								   .ctx = each });
	struct conntrack *ct = conntrack__new(&co, NULL, pipeline__conntrack_sink(p));
	struct redis_snapshot *sa, *sb;
	struct nx_conn_event ev = {};
	uint32_t rl, pl;
	char *req = gets(0, 2000, &rl), *rep = replies(0, 2000, &pl);
	const char *mix_req = "*2\r\n$3\r\nGET\r\n$3\r\nu:1\r\n*3\r\n$3\r\nSET\r\n$3\r\nu:1\r\n"
			      "$1\r\nx\r\n*2\r\n$3\r\nGET\r\n$3\r\nu:1\r\n*2\r\n$3\r\nGET\r\n"
			      "$3\r\nh:1\r\n*3\r\n$4\r\nMGET\r\n$3\r\na:1\r\n$3\r\nb:1\r\n"
			      "*2\r\n$3\r\nGET\r\n$3\r\nu:2\r\n*2\r\n$3\r\nGET\r\n$3\r\nu:3\r\n";
	const char *mix_rep = "$-1\r\n+OK\r\n$1\r\nx\r\n-WRONGTYPE Operation\r\n*2\r\n$1\r\ny\r\n"
			      "$-1\r\n$1\r\nz\r\n$-1\r\n";

	assert_non_null(ct);
	ev.hdr.type = NX_EV_CONN_OPEN;
	ev.hdr.tgid = ev.hdr.pid = TGID;
	ev.hdr.fd = FD;
	ev.sock_id = SOCK;
	ev.transport = NX_TRANSPORT_TCP4;
	ev.how = NX_OPEN_ACCEPT;
	ev.lport = 6379;
	strcpy(ev.comm, "redis-server");
	conntrack__record(ct, &ev, sizeof(ev));
	for (int round = 0; round < 3; round++) {
		uint64_t t = 1000000000ULL * (round + 1);

		syscall_chunks(ct, NX_DIR_IN, req, rl, t, -1);
		syscall_chunks(ct, NX_DIR_OUT, rep, pl, t + 1000 * (round + 1), -1);
		syscall_chunks(ct, NX_DIR_IN, mix_req, strlen(mix_req), t + 5000, -1);
		syscall_chunks(ct, NX_DIR_OUT, mix_rep, strlen(mix_rep), t + 9000, -1);
	}
	sa = redis_stats__snapshot(runs, 5000000000ULL);
	sb = redis_stats__snapshot(each, 5000000000ULL);
	assert_int_equal(sa->n_servers, 1);
	assert_int_equal(sb->n_servers, 1);
	assert_int_equal(sa->servers[0].commands, 3 * 2007);
	same_server(&sa->servers[0], &sb->servers[0]);
	redis_snapshot__free(sa);
	redis_snapshot__free(sb);
	conntrack__free(ct);
	pipeline__free(p);
	redis_stats__free(runs);
	redis_stats__free(each);
	free(req);
	free(rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chunks_make_one_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_chunk_is_a_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_tail_then_next_syscall, setup, teardown),
		cmocka_unit_test(test_runs_count_as_one_by_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
