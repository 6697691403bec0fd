/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * redis-server's call() and lookupKey() (bpf/redis_uprobes.bpf.c), for --redis-uprobes: loaded
 * beside the capture object, writing into its ring buffer, attached once per executable and
 * counting only the processes the agent watches.
 */
#ifndef NEXUS_REDIS_UPROBES_H
#define NEXUS_REDIS_UPROBES_H
#include <stdbool.h>
#include <stdint.h>

struct capture;
struct redis_uprobes;

struct redis_uprobes *redis_uprobes__open(struct capture *cap, char *err, size_t errlen);
void redis_uprobes__close(struct redis_uprobes *u);
/* Watches process tgid and attaches to its executable unless that file already is: 1 newly
 * attached, 0 already, -errno (err says why: no symbols, a stripped binary...). */
int redis_uprobes__attach_pid(struct redis_uprobes *u, uint32_t tgid, char *err, size_t errlen);
void redis_uprobes__forget(struct redis_uprobes *u, uint32_t tgid);
/* Keyspace hits and misses per watched process, as Redis's INFO stats counts them. */
void redis_uprobes__each_keyspace(struct redis_uprobes *u,
				  void (*fn)(void *ctx, uint32_t tgid, uint64_t hits, uint64_t misses),
				  void *ctx);

#endif /* NEXUS_REDIS_UPROBES_H */
