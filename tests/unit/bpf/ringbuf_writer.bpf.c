// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * For test_ringbuf: writes one record per test run into a small ring buffer, so that records of
 * three sizes wrap around its end in every position. Record k holds words k, k+1, ... (the size
 * in the second word), and every fifth is reserved, written and discarded: the consumer must
 * skip those and see every other in order, whole.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16384); /* four pages: the test's records are up to 3000 bytes */
} rb SEC(".maps");

__u64 seq;   /* the next record's number */
__u64 fails; /* reservations refused: the ring was full */

#define WRITE(N)                                                        \
	do {                                                            \
		__u64 *p = bpf_ringbuf_reserve(&rb, N, 0);              \
		if (!p) {                                               \
			fails++;                                        \
			return 1;                                       \
		}                                                       \
		for (int i = 0; i < (N) / 8; i++)                       \
			p[i] = s + i;                                   \
		p[1] = N;                                               \
		if (s % 5 == 4)                                         \
			bpf_ringbuf_discard(p, 0);                      \
		else                                                    \
			bpf_ringbuf_submit(p, 0);                       \
	} while (0)

SEC("syscall")
int write_one(void *ctx)
{
	__u64 s = seq;

	switch (s % 3) {
	case 0:
		WRITE(24);
		break;
	case 1:
		WRITE(1000);
		break;
	default:
		WRITE(3000);
		break;
	}
	seq = s + 1;
	return 0;
}
