// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The recording format: what is written reads back byte for byte and in order; a file cut at
 * any block boundary or inside a block, or with a flipped byte, gives its blocks before the bad
 * one and an error naming that block (index and offset); a newer version is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "capture/proc_table.h"
#include "capture/recording.h"
#include "cli/commands.h"

#define N_ENTRIES 200
#define PER_BLOCK 25 /* entries per block: 8 data blocks and the end block */

static char dir[] = "/tmp/nx-test-recording-XXXXXX";
static char path[256];

/* Entry i: kind and bytes that depend on i, lengths not multiples of 8. */
static uint32_t entry_len(int i)
{
	return (uint32_t)(i * 37 % 700) + (i % 3);
}

static void entry_fill(int i, uint8_t *buf)
{
	for (uint32_t k = 0; k < entry_len(i); k++)
		buf[k] = (uint8_t)(i * 31 + k * 7);
}

static uint16_t entry_kind(int i)
{
	return (uint16_t)(REC_E_RING + i % 6);
}

static void write_file(const char *p)
{
	struct rec_file_hdr h = { .capture_bytes = 65536, .flags = REC_F_USDT };
	struct rec_writer *w;
	uint8_t buf[1024];

	snprintf(h.agent_version, sizeof(h.agent_version), "test");
	w = rec_writer__open(p, &h);
	assert_non_null(w);
	for (int i = 0; i < N_ENTRIES; i++) {
		entry_fill(i, buf);
		assert_int_equal(rec_writer__add(w, entry_kind(i), buf, entry_len(i), 1000 + i), 0);
		if (i % PER_BLOCK == PER_BLOCK - 1)
			assert_int_equal(rec_writer__flush(w), 0);
	}
	assert_int_equal(rec_writer__close(w, 0, NULL, 0), 0);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/rec", dir);
	write_file(path);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static size_t slurp(const char *p, uint8_t **out)
{
	FILE *f = fopen(p, "rb");
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	*out = malloc((size_t)n);
	assert_int_equal(fread(*out, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return (size_t)n;
}

static void spit(const char *p, const uint8_t *b, size_t n)
{
	FILE *f = fopen(p, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
}

/* Byte offsets of every block header, the end block last. */
static int block_offsets(const uint8_t *b, size_t n, size_t *offs)
{
	size_t off = sizeof(struct rec_file_hdr);
	int k = 0;

	while (off + sizeof(struct rec_block_hdr) <= n) {
		struct rec_block_hdr bh;

		memcpy(&bh, b + off, sizeof(bh));
		offs[k++] = off;
		off += sizeof(bh) + bh.comp_len;
	}
	assert_int_equal(off, n);
	return k;
}

/* Reads p; returns how many entries came back (each checked against what was written) and the
 * final rc, with the error text in err. */
static int read_all(const char *p, int *rc, char *err, size_t errlen)
{
	struct rec_reader *r = rec_reader__open(p, err, errlen);
	struct rec_entry e;
	uint8_t buf[1024];
	int n = 0;

	assert_non_null(r);
	assert_string_equal(rec_reader__header(r)->agent_version, "test");
	assert_int_equal(rec_reader__header(r)->capture_bytes, 65536);
	while ((*rc = rec_reader__next(r, &e, err, errlen)) == 1) {
		assert_true(n < N_ENTRIES);
		entry_fill(n, buf);
		assert_int_equal(e.kind, entry_kind(n));
		assert_int_equal(e.len, entry_len(n));
		assert_memory_equal(e.data, buf, e.len);
		assert_int_equal((uintptr_t)e.data % 8, 0);
		n++;
	}
	rec_reader__close(r);
	return n;
}

static void test_roundtrip(void **state)
{
	char err[256] = "";
	struct stat st;
	int rc;

	assert_int_equal(read_all(path, &rc, err, sizeof(err)), N_ENTRIES);
	assert_int_equal(rc, 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* An existing file of another mode is made private too. */
static void test_mode_of_existing_file(void **state)
{
	char p[300];
	struct stat st;
	FILE *f;

	snprintf(p, sizeof(p), "%s/existing", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(p, 0644), 0);
	write_file(p);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void expect_error(const char *p, int entries, int block, size_t off, const char *what)
{
	char err[256] = "", want[96];
	int rc;

	assert_int_equal(read_all(p, &rc, err, sizeof(err)), entries);
	assert_int_equal(rc, -EBADMSG);
	snprintf(want, sizeof(want), "block %d at byte %zu:", block, off);
	if (strncmp(err, want, strlen(want)) || !strstr(err, what))
		fail_msg("got '%s', want '%s ... %s'", err, want, what);
}

static void test_truncation(void **state)
{
	size_t offs[64], n;
	char p[300];
	uint8_t *b;
	int k;

	n = slurp(path, &b);
	k = block_offsets(b, n, offs);
	assert_int_equal(k, N_ENTRIES / PER_BLOCK + 1);
	snprintf(p, sizeof(p), "%s/cut", dir);
	for (int i = 0; i < k; i++) {
		size_t end = i + 1 < k ? offs[i + 1] : n;

		/* at the boundary: everything before block i, and "cut short" */
		spit(p, b, offs[i]);
		expect_error(p, i * PER_BLOCK, i, offs[i], "cut short");
		/* in its header, and in its payload */
		spit(p, b, offs[i] + 5);
		expect_error(p, i * PER_BLOCK, i, offs[i], "truncated block header");
		spit(p, b, offs[i] + sizeof(struct rec_block_hdr) +
			       (end - offs[i] - sizeof(struct rec_block_hdr)) / 2);
		expect_error(p, i * PER_BLOCK, i, offs[i], "truncated");
	}
	free(b);
}

static void test_flipped_byte(void **state)
{
	size_t offs[64], n;
	char p[300];
	uint8_t *b;
	int k;

	n = slurp(path, &b);
	k = block_offsets(b, n, offs);
	snprintf(p, sizeof(p), "%s/flip", dir);
	for (int i = 0; i < k; i++) {
		size_t at = offs[i] + sizeof(struct rec_block_hdr) + 3;

		b[at] ^= 0x40;
		spit(p, b, n);
		expect_error(p, i * PER_BLOCK, i, offs[i], "CRC mismatch");
		b[at] ^= 0x40;
		/* a flipped length in the header is caught by the header's own CRC */
		b[offs[i] + 8] ^= 0x01;
		spit(p, b, n);
		expect_error(p, i * PER_BLOCK, i, offs[i], "corrupt block header");
		b[offs[i] + 8] ^= 0x01;
	}
	free(b);
}

static void test_newer_version(void **state)
{
	char p[300], err[256] = "";
	uint32_t v = REC_VERSION + 1;
	size_t n;
	uint8_t *b;

	n = slurp(path, &b);
	memcpy(b + 8, &v, 4);
	snprintf(p, sizeof(p), "%s/newer", dir);
	spit(p, b, n);
	errno = 0;
	assert_null(rec_reader__open(p, err, sizeof(err)));
	assert_int_equal(errno, EPROTONOSUPPORT);
	assert_non_null(strstr(err, "version 2 is newer"));
	/* not a recording at all */
	memcpy(b, "GARBAGE!", 8);
	spit(p, b, n);
	assert_null(rec_reader__open(p, err, sizeof(err)));
	assert_non_null(strstr(err, "not a nexus-agent recording"));
	/* a corrupt file header */
	memcpy(b, REC_MAGIC, 8);
	v = REC_VERSION;
	memcpy(b + 8, &v, 4);
	b[20] ^= 1;
	spit(p, b, n);
	assert_null(rec_reader__open(p, err, sizeof(err)));
	assert_non_null(strstr(err, "file header"));
	free(b);
}

/* A big entry and the block bound: entries never straddle blocks. */
static void test_full_blocks(void **state)
{
	struct rec_file_hdr h = {};
	struct rec_writer *w;
	struct rec_reader *r;
	struct rec_entry e;
	static uint8_t big[NX_CHUNK_BYTES + 64];
	char p[300], err[256];
	int n = 0, rc;

	snprintf(p, sizeof(p), "%s/full", dir);
	memset(big, 0xab, sizeof(big));
	w = rec_writer__open(p, &h);
	assert_non_null(w);
	for (int i = 0; i < 300; i++) {
		big[0] = (uint8_t)i;
		assert_int_equal(rec_writer__add(w, REC_E_RING, big, sizeof(big), 0), 0);
	}
	assert_int_equal(rec_writer__add(w, REC_E_RING, big, REC_BLOCK_RAW_MAX, 0), -E2BIG);
	assert_int_equal(rec_writer__close(w, REC_E_COUNTERS, "12345678", 8), 0);
	r = rec_reader__open(p, err, sizeof(err));
	assert_non_null(r);
	while ((rc = rec_reader__next(r, &e, err, sizeof(err))) == 1) {
		if (n < 300) {
			assert_int_equal(e.len, sizeof(big));
			assert_int_equal(((const uint8_t *)e.data)[0], (uint8_t)n);
		} else {
			assert_int_equal(e.kind, REC_E_COUNTERS);
		}
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 301);
	assert_true(rec_reader__blocks(r) >= 6); /* 300 x 16 KiB in 1 MiB blocks, and the end */
	rec_reader__close(r);
}

/*
 * replay end to end, no root: a redis-server (a tgid no host has) found at start, listening on
 * 40000 (an ephemeral-range port: without the recorded LISTEN entry its connection would be
 * taken for a client's and not decoded), a connection open before the recording, one GET.
 */
static void add_ring(struct rec_writer *w, const void *rec, uint32_t len)
{
	assert_int_equal(rec_writer__add(w, REC_E_RING, rec, len, 0), 0);
}

static void data_rec(struct rec_writer *w, uint8_t dir, uint64_t ts, const char *payload)
{
	struct {
		struct nx_data_event ev;
		uint8_t buf[64];
	} r = {};
	uint32_t n = strlen(payload);

	r.ev.hdr = (struct nx_event_hdr){ .type = NX_EV_DATA, .tgid = 4000001, .pid = 4000001,
					  .fd = 7, .ts_ns = ts };
	r.ev.sock_id = 99;
	r.ev.dir = dir;
	r.ev.len = r.ev.cap_len = n;
	memcpy(r.buf, payload, n);
	add_ring(w, &r, sizeof(r.ev) + n);
}

static int replay_json(const char *file, char *out, size_t outlen)
{
	char outp[300], *argv[] = { "replay", (char *)file, "--json", NULL };
	int saved, fd, rc;
	FILE *f;
	size_t n;

	snprintf(outp, sizeof(outp), "%s/replay.out", dir);
	fflush(stdout);
	saved = dup(1);
	fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 1);
	close(fd);
	rc = cmd_replay(3, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	f = fopen(outp, "r");
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	fclose(f);
	return rc;
}

static void test_replay_end_to_end(void **state)
{
	struct rec_file_hdr h = { .start_mono_ns = 1000000000ULL,
				  .start_real_ns = 1700000000000000000LL, .max_conns = 1024 };
	struct rec_proc p = { .tgid = 4000001, .ppid = 1, .kind = NX_KIND_REDIS,
			      .comm = "redis-server", .exe = "/usr/bin/redis-server" };
	struct rec_listen l = { .tgid = 4000001, .n = 1, .ports = { 40000 } };
	struct nx_conn_event c = {};
	char file[300], out[8192];
	struct rec_writer *w;
	size_t n, offs[8];
	uint8_t *b;

	snprintf(file, sizeof(file), "%s/e2e", dir);
	w = rec_writer__open(file, &h);
	assert_non_null(w);
	assert_int_equal(rec_writer__add(w, REC_E_LISTEN, &l, sizeof(l), 0), 0);
	assert_int_equal(rec_writer__add(w, REC_E_FOUND, &p, sizeof(p), 0), 0);
	c.hdr = (struct nx_event_hdr){ .type = NX_EV_CONN_OPEN, .tgid = 4000001, .pid = 4000001,
				       .fd = 7, .ts_ns = 2000000000ULL };
	c.sock_id = 99;
	c.transport = NX_TRANSPORT_TCP4;
	c.how = NX_OPEN_SEEN;
	c.lport = 40000;
	c.rport = 50000;
	c.laddr[0] = c.raddr[0] = 127;
	c.laddr[3] = c.raddr[3] = 1;
	add_ring(w, &c, sizeof(c));
	data_rec(w, NX_DIR_IN, 2000001000ULL, "*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
	data_rec(w, NX_DIR_OUT, 2000051000ULL, "$1\r\n1\r\n");
	assert_int_equal(rec_writer__flush(w), 0);
	data_rec(w, NX_DIR_IN, 3000001000ULL, "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n");
	data_rec(w, NX_DIR_OUT, 3000051000ULL, "$-1\r\n");
	assert_int_equal(rec_writer__close(w, 0, NULL, 0), 0);

	assert_int_equal(replay_json(file, out, sizeof(out)), 0);
	if (!strstr(out, "\"command\":\"get\"") || !strstr(out, "127.0.0.1:40000") ||
	    !strstr(out, "\"pid\":4000001"))
		fail_msg("replay printed: %s", out);
	/* times are the recording host's: 1 s after its start, 1700000001 */
	if (!strstr(out, "2023-11-14T22:13:21"))
		fail_msg("want the recorded wall time, got: %s", out);
	/* both GETs, in their own blocks */
	assert_non_null(strstr(strstr(out, "\"command\":\"get\"") + 1, "\"command\":\"get\""));

	/* cut in the second block's payload: the first GET, then exit 1 */
	n = slurp(file, &b);
	assert_int_equal(block_offsets(b, n, offs), 3);
	spit(file, b, offs[1] + sizeof(struct rec_block_hdr) + 4);
	free(b);
	assert_int_equal(replay_json(file, out, sizeof(out)), NX_EXIT_FAIL);
	assert_non_null(strstr(out, "\"command\":\"get\""));
	assert_null(strstr(strstr(out, "\"command\":\"get\"") + 1, "\"command\":\"get\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_mode_of_existing_file),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_flipped_byte),
		cmocka_unit_test(test_newer_version),
		cmocka_unit_test(test_full_blocks),
		cmocka_unit_test(test_replay_end_to_end),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
