/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The consumer side of a BPF_MAP_TYPE_RINGBUF map, with its data pages mapped once.
 *
 * libbpf's ring_buffer maps the data area twice, back to back, so that a record that wraps around
 * the end reads as one piece. The kernel fills every page of both mappings at mmap time, so a
 * 16 MiB ring costs 32 MB of the agent's RSS for 16 MiB of memory. Here the data is mapped once
 * and the rare record that wraps is copied into a scratch buffer: RSS counts the ring once.
 * The protocol (record header, busy and discard bits, the consumer position written back with
 * release order) is the kernel's, as in kernel/bpf/ringbuf.c.
 */
#ifndef NEXUS_RINGBUF_H
#define NEXUS_RINGBUF_H

#include <stddef.h>

struct ringbuf;

/* Called per record, in order; its data is valid until it returns. */
typedef void (*ringbuf_fn)(void *ctx, void *data, size_t size);

/* map_fd: a ringbuf map. NULL + errno on failure. */
struct ringbuf *ringbuf__new(int map_fd, ringbuf_fn fn, void *ctx);
/* Accepts NULL. */
void ringbuf__free(struct ringbuf *rb);
/* Hands every record written so far to fn; returns how many, or -errno. */
int ringbuf__consume(struct ringbuf *rb);
/* Waits up to timeout_ms for a wakeup (a record submitted with one, or the ring filling), then
 * consumes. Returns records consumed, 0 on timeout or a signal, -errno on failure. */
int ringbuf__poll(struct ringbuf *rb, int timeout_ms);

#endif /* NEXUS_RINGBUF_H */
