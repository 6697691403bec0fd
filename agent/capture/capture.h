/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel side's owner: opens, configures, loads and attaches bpf/capture.bpf.c, keeps the
 * target bitmap, drains the ring buffer in batches and hands each record on. Nothing else in the
 * agent touches BPF.
 */
#ifndef NEXUS_CAPTURE_H
#define NEXUS_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "events.h"

struct capture_opts {
	uint32_t capture_bytes;	 /* payload bytes per read/write, <= NX_MAX_CAPTURE */
	uint32_t ring_bytes;	 /* ring buffer size, a power of two >= page size */
	uint32_t max_fds;	 /* socket fds the kernel side remembers */
	const char *const *exec_names; /* executables that become targets at exec */
	int n_exec_names;
	bool verbose;		 /* libbpf's debug output */
};

/* One record from the ring buffer: a struct nx_event_hdr followed by its type's fields. */
typedef void (*capture_record_fn)(void *ctx, const void *rec, size_t size);

struct capture;

/* Returns NULL and sets errno; errmsg (if not NULL) receives what failed, for the user. */
struct capture *capture__open(const struct capture_opts *opts, capture_record_fn fn, void *ctx,
			      char *errmsg, size_t errlen);
/* Sets the ctx handed to the record callback; records are only delivered from capture__poll. */
void capture__set_record_ctx(struct capture *c, void *ctx);
/* Detaches every program and frees everything; accepts NULL. */
void capture__close(struct capture *c);

/* Whether this kernel has sock:sk_data_ready (6.6+), which request waits are measured by. */
bool capture__has_data_ready(void);

void capture__set_target(struct capture *c, pid_t tgid, bool on);
uint32_t capture__count_targets(const struct capture *c);

/* Waits up to timeout_ms for records and drains everything available. Returns the number of
 * records handled or a negative errno. */
int capture__poll(struct capture *c, int timeout_ms);
/* Sums the kernel side's per-CPU counters (enum nx_counter). */
int capture__counters(struct capture *c, uint64_t out[NX_CNT__COUNT]);
/* Counter k of each possible CPU as the last capture__counters read them, at most max CPUs (the
 * rest added to the last); returns how many CPUs were stored. */
int capture__counter_by_cpu(const struct capture *c, enum nx_counter k, uint64_t *out, int max);
struct bpf_map;
/* Makes an optional probe object's (pg_usdt, redis_uprobes) ring buffer and counters the
 * capture's, before that object is loaded: every record lands in one ring, in order. 0 or
 * -errno. */
int capture__share_maps(const struct capture *c, struct bpf_map *events, struct bpf_map *counters);
/* Forgets the kernel's cached socket fd of a process that is gone. */
void capture__forget_fd(struct capture *c, uint32_t tgid, uint32_t fd);

#endif /* NEXUS_CAPTURE_H */
