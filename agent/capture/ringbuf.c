// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include "capture/ringbuf.h"

struct ringbuf {
	int fd;
	ringbuf_fn fn;
	void *ctx;
	size_t page;
	uint64_t mask;		 /* data size - 1: a power of two */
	uint64_t *consumer_pos;	 /* page 0, ours to write */
	uint64_t *producer_pos;	 /* page 1, the kernel's */
	uint8_t *data;		 /* from page 2, mapped once */
	uint8_t *scratch;	 /* a record that wraps around the end, made whole */
	size_t scratch_cap;
};

struct ringbuf *ringbuf__new(int map_fd, ringbuf_fn fn, void *ctx)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	struct ringbuf *rb;
	void *p;
	int err;

	if (bpf_obj_get_info_by_fd(map_fd, &info, &len))
		return NULL;
	if (info.type != BPF_MAP_TYPE_RINGBUF || !info.max_entries ||
	    (info.max_entries & (info.max_entries - 1))) {
		errno = EINVAL;
		return NULL;
	}
	rb = calloc(1, sizeof(*rb));
	if (!rb)
		return NULL;
	rb->fd = map_fd;
	rb->fn = fn;
	rb->ctx = ctx;
	rb->page = (size_t)sysconf(_SC_PAGESIZE);
	rb->mask = info.max_entries - 1;
	p = mmap(NULL, rb->page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	rb->consumer_pos = p;
	/* The producer page and the data once: the kernel maps any length up to its two copies. */
	p = mmap(NULL, rb->page + info.max_entries, PROT_READ, MAP_SHARED, map_fd, (off_t)rb->page);
	if (p == MAP_FAILED)
		goto fail;
	rb->producer_pos = p;
	rb->data = (uint8_t *)p + rb->page;
	return rb;
fail:
	err = errno;
	ringbuf__free(rb);
	errno = err;
	return NULL;
}

void ringbuf__free(struct ringbuf *rb)
{
	if (!rb)
		return;
	if (rb->consumer_pos)
		munmap(rb->consumer_pos, rb->page);
	if (rb->producer_pos)
		munmap(rb->producer_pos, rb->page + rb->mask + 1);
	free(rb->scratch);
	free(rb);
}

/* The sample at off (past its header), len bytes: in place, or copied whole if it wraps. */
static void *sample_at(struct ringbuf *rb, uint64_t off, uint32_t len)
{
	size_t first = rb->mask + 1 - off;

	if (len <= first)
		return rb->data + off;
	if (!rb->scratch || len > rb->scratch_cap) {
		void *n = realloc(rb->scratch, len);

		if (!n)
			return NULL;
		rb->scratch = n;
		rb->scratch_cap = len;
	}
	// NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): data is mapped by ringbuf__new
	memcpy(rb->scratch, rb->data + off, first);
	memcpy(rb->scratch + first, rb->data, len - first);
	return rb->scratch;
}

int ringbuf__consume(struct ringbuf *rb)
{
	uint64_t cons = __atomic_load_n(rb->consumer_pos, __ATOMIC_ACQUIRE);
	bool more;
	int n = 0;

	do {
		uint64_t prod = __atomic_load_n(rb->producer_pos, __ATOMIC_ACQUIRE);

		more = false;
		while (cons < prod) {
			uint32_t *hdr = (uint32_t *)(rb->data + (cons & rb->mask));
			uint32_t hlen = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
			uint32_t len = hlen & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);

			/* reserved, not yet submitted: it and what follows wait for the next call */
			if (hlen & BPF_RINGBUF_BUSY_BIT)
				return n;
			more = true;
			if (!(hlen & BPF_RINGBUF_DISCARD_BIT)) {
				void *s = sample_at(rb, (cons + BPF_RINGBUF_HDR_SZ) & rb->mask, len);

				/* out of memory for a wrapped record: skipped, as a lost one */
				if (s) {
					rb->fn(rb->ctx, s, len);
					n++;
				}
			}
			cons += (len + BPF_RINGBUF_HDR_SZ + 7) & ~7ULL;
			/* hand the space back at once: the producers may be waiting for it */
			__atomic_store_n(rb->consumer_pos, cons, __ATOMIC_RELEASE);
		}
	} while (more);
	return n;
}

int ringbuf__poll(struct ringbuf *rb, int timeout_ms)
{
	struct pollfd pfd = { .fd = rb->fd, .events = POLLIN };

	if (poll(&pfd, 1, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	return ringbuf__consume(rb);
}
