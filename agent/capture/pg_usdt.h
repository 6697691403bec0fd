/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * PostgreSQL's USDT probes (bpf/pg_usdt.bpf.c): loaded beside the capture object and writing into
 * its ring buffer, attached once per postgres executable (every process running it, containers
 * included, through /proc/PID/exe). Without probes in the binary the wire figures still work.
 */
#ifndef NEXUS_PG_USDT_H
#define NEXUS_PG_USDT_H
#include <stdbool.h>
#include <stdint.h>
#include "events.h"

struct capture;
struct pg_usdt;

/* Loads the programs into the capture's maps; NULL + errno, err says why. exec_time: also attach
 * query__start/done and query__execute__start (execution time inside the server, three more
 * uprobe traps per statement). */
struct pg_usdt *pg_usdt__open(struct capture *cap, bool exec_time, char *err, size_t errlen);
void pg_usdt__close(struct pg_usdt *u);
/*
 * Watches process tgid (and the children it forks from now on) and attaches to its executable
 * unless that file already is. Other processes running the file are ignored in the kernel. 1 when newly attached,
 * 0 when it already was, -errno when it cannot be (err says why: no probes, too many binaries).
 */
int pg_usdt__attach_pid(struct pg_usdt *u, uint32_t tgid, char *err, size_t errlen);
int pg_usdt__n_binaries(const struct pg_usdt *u);
/* Backends in a lock wait right now: fn(ctx, tgid, waiting since, CLOCK_MONOTONIC ns). */
void pg_usdt__each_waiting(struct pg_usdt *u, void (*fn)(void *ctx, uint32_t tgid, uint64_t since),
			   void *ctx);
/* Buffer figures per relation since the probes were attached. */
void pg_usdt__each_relation(struct pg_usdt *u,
			    void (*fn)(void *ctx, const struct nx_pg_rel_key *k,
				       const struct nx_pg_rel_val *v),
			    void *ctx);
/* A backend exited: drop a lock wait it left behind now rather than when the LRU gets to it. */
void pg_usdt__forget(struct pg_usdt *u, uint32_t tgid);

/* What `check` reports: does this executable carry the probes the figures need? */
bool pg_usdt__binary_has_probes(const char *path, char *missing, size_t len);

#endif /* NEXUS_PG_USDT_H */
