/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The limits and memory of the watched servers, read from /proc on the capture side so that the
 * snapshots carry them (alerting and reports read snapshots, never /proc): connection limits
 * (Redis maxclients, PostgreSQL max_connections), Redis maxmemory, and the resident memory of
 * the server's process. Configuration is read once per process (again when the pid changes:
 * a restart may have changed it); the resident memory at every call. A fixed table.
 */
#ifndef NEXUS_SERVER_LIMITS_H
#define NEXUS_SERVER_LIMITS_H
#include <stdbool.h>
#include <stdint.h>

#define SL_MAX 64 /* processes remembered; past it the oldest entry is reused */

struct server_limit {
	uint32_t max_conns; /* 0: the configuration does not say (the server's default applies) */
	uint64_t maxmemory; /* Redis only; 0: unknown or no limit */
	uint64_t rss_bytes; /* 0: unknown */
};

struct server_limits {
	struct {
		uint32_t pid;
		bool redis;
		struct server_limit v;
	} e[SL_MAX];
	int next; /* the slot the next new pid takes */
};

void server_limits__init(struct server_limits *sl);
/* The limits of the server process pid (Redis when redis, else a postmaster). */
void server_limits__get(struct server_limits *sl, uint32_t pid, bool redis,
			struct server_limit *out);

#endif /* NEXUS_SERVER_LIMITS_H */
