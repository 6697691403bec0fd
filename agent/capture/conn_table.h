/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Bounded table of the connections of target processes, keyed by (tgid, fd).
 *
 * An fd number is reused as soon as it is closed, so the key alone does not name a connection: the
 * kernel's socket identity (sock_id) does. A lookup that finds the key with another sock_id is a new
 * connection, and the caller replaces the old one. The table never grows: when full, the least
 * recently active connection is evicted and counted. Each process's connections are also linked
 * in a list the process owns, so a process exit drops them without scanning the table.
 */
#ifndef NEXUS_CONN_TABLE_H
#define NEXUS_CONN_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "events.h"

enum nx_role {
	NX_ROLE_UNKNOWN = 0,
	NX_ROLE_SERVER = 1, /* the target accepted the connection: it serves the peer */
	NX_ROLE_CLIENT = 2, /* the target connected out */
};

/* Head of one process's connection list; lives in the process's entry, which must not move. */
struct conn_list {
	int32_t head;
	uint32_t count;
};
#define CONN_LIST_INIT ((struct conn_list){ .head = -1, .count = 0 })

struct nx_conn {
	uint32_t tgid;
	uint32_t fd;
	uint64_t sock_id;
	uint8_t transport; /* enum nx_transport, 0 if we only saw data (its CONN_OPEN was lost) */
	uint8_t role;	   /* enum nx_role */
	bool peer_closed;  /* the peer sent FIN or reset */
	uint16_t lport, rport;
	uint8_t laddr[16], raddr[16];
	char path[NX_UNIX_PATH_LEN];
	uint64_t opened_ns, last_ns;
	uint64_t bytes_in, bytes_out;
	uint64_t chunks;
	void *proto; /* the next stage's state for this connection (a protocol parser) */

	/* table internals */
	int32_t hnext;		 /* hash chain */
	int32_t lru_prev, lru_next;
	int32_t pprev, pnext;	 /* the owning process's list */
	struct conn_list *list;
};

struct conn_table;

/* Called for every connection that leaves the table (removed, replaced, evicted), before it goes,
 * so whoever hung state on conn->proto can free it. */
typedef void (*conn_release_fn)(void *ctx, struct nx_conn *c);

/* Returns NULL and sets errno on failure. release may be NULL. */
struct conn_table *conn_table__new(uint32_t capacity, conn_release_fn release, void *ctx);
void conn_table__free(struct conn_table *t);

struct nx_conn *conn_table__lookup(struct conn_table *t, uint32_t tgid, uint32_t fd);
/*
 * Inserts a zeroed connection for (tgid, fd), replacing any with the same key, evicting the least
 * recently used one when full; `list` is the owning process's list (may be NULL). Never fails.
 * `evicted`, if not NULL, receives a copy of the connection the insert pushed out (tgid 0: none).
 */
struct nx_conn *conn_table__insert(struct conn_table *t, uint32_t tgid, uint32_t fd,
				   struct conn_list *list, struct nx_conn *evicted);
/* Marks c as the most recently active connection. */
void conn_table__touch(struct conn_table *t, struct nx_conn *c);
void conn_table__remove(struct conn_table *t, struct nx_conn *c);
/* Removes every connection of one process, calling fn (if set) on each before it goes. */
void conn_table__remove_list(struct conn_table *t, struct conn_list *list,
			     void (*fn)(void *ctx, const struct nx_conn *c), void *ctx);

uint32_t conn_table__count(const struct conn_table *t);
uint64_t conn_table__evictions(const struct conn_table *t);

#endif /* NEXUS_CONN_TABLE_H */
