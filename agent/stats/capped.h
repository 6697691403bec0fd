/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A capped table of named entries: the servers of Redis and PostgreSQL statistics, a server's
 * databases. slots holds cap + 1 pointers: the first *n are the entries in the order they came,
 * slots[cap] is the shared NX_OTHER entry everything past the cap is counted under (made when
 * first needed). Each entry's name is a NUL-terminated string at name_off bytes into it.
 */
#ifndef NEXUS_CAPPED_H
#define NEXUS_CAPPED_H

#include <stddef.h>
#include <stdint.h>

/* The entry named name: found, else made with make(name) while there is room, else the
 * (other) entry made with make(NX_OTHER), counting the overflow in *dropped when not NULL.
 * NULL only when make failed (out of memory). Linear: these tables hold tens of entries. */
void *capped__get(void **slots, int *n, int cap, size_t name_off, const char *name,
		  void *(*make)(const char *name), uint64_t *dropped);

#endif /* NEXUS_CAPPED_H */
