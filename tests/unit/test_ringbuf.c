// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ringbuf: the agent's own ring buffer consumer (data mapped once, a wrapping record copied whole)
 * against the kernel's producer. A tiny BPF program (tests/unit/bpf/ringbuf_writer.bpf.c) writes
 * numbered records of 24, 1000 and 3000 bytes into a 16 KiB ring, run by BPF_PROG_TEST_RUN, so
 * records wrap around the end at every offset; every fifth is discarded. Needs root (SKIP
 * otherwise): it loads a BPF program.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "capture/ringbuf.h"
#include "tests/bpf/ringbuf_writer.skel.h"

struct seen {
	uint64_t next;	  /* the record number expected next */
	uint64_t records;
	uint64_t wrong;	  /* records out of order, of the wrong size, or with a wrong word */
};

static void check(void *ctx, void *data, size_t size)
{
	struct seen *s = ctx;
	const uint64_t *w = data;
	uint64_t k = s->next;

	/* discarded ones (every fifth) never arrive */
	if (k % 5 == 4)
		k++;
	if (size < 16 || w[0] != k || w[1] != size) {
		s->wrong++;
	} else {
		for (size_t i = 2; i < size / 8; i++)
			if (w[i] != k + i) {
				s->wrong++;
				break;
			}
	}
	s->next = (size >= 8 ? w[0] : k) + 1;
	s->records++;
}

static int run_writer(int prog_fd)
{
	LIBBPF_OPTS(bpf_test_run_opts, o);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	return (int)o.retval;
}

static void test_wrap_discard_full(void **state)
{
	struct ringbuf_writer_bpf *skel;
	struct ringbuf *rb;
	struct seen s = {};
	uint64_t submitted = 0, full = 0;
	int prog_fd;

	if (geteuid() != 0)
		skip();
	skel = ringbuf_writer_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "# SKIP: cannot load the test BPF program: %s\n", strerror(errno));
		skip();
	}
	rb = ringbuf__new(bpf_map__fd(skel->maps.rb), check, &s);
	assert_non_null(rb);
	prog_fd = bpf_program__fd(skel->progs.write_one);
	/* Bursts of 1..20 records between drains: the longer ones fill the 16 KiB ring. */
	for (int round = 0; round < 3000; round++) {
		int burst = 1 + (round * 7) % 20;

		for (int i = 0; i < burst; i++) {
			int rc = run_writer(prog_fd);

			assert_true(rc >= 0);
			if (rc == 1) {
				full++;
				break;
			}
			submitted += (skel->bss->seq - 1) % 5 != 4;
		}
		assert_true(ringbuf__consume(rb) >= 0);
	}
	assert_int_equal(s.wrong, 0);
	assert_int_equal(s.records, submitted);
	assert_int_equal(s.next + (s.next % 5 == 4), skel->bss->seq);
	/* the test meant to fill the ring, and to wrap: more than 4 rings' worth went through */
	assert_true(full > 0);
	assert_true(skel->bss->seq * 1341 > 4 * 16384);
	assert_int_equal(ringbuf__consume(rb), 0);
	ringbuf__free(rb);
	ringbuf_writer_bpf__destroy(skel);
}

/* Not a ring buffer: refused with EINVAL, nothing mapped. */
static void test_not_a_ringbuf(void **state)
{
	int fd;

	if (geteuid() != 0)
		skip();
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "nx_test", 4, 8, 1, NULL);
	if (fd < 0)
		skip();
	errno = 0;
	assert_null(ringbuf__new(fd, check, NULL));
	assert_int_equal(errno, EINVAL);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrap_discard_full),
		cmocka_unit_test(test_not_a_ringbuf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
