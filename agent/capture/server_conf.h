/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Settings of a watched server read the way the server itself reads them, without a client
 * connection or credentials: its command line and its configuration files, through /proc.
 */
#ifndef NEXUS_SERVER_CONF_H
#define NEXUS_SERVER_CONF_H
#include <stdint.h>

/*
 * max_connections of the postmaster pid: its command line (-N, -c max_connections=...), then
 * postgresql.auto.conf in its data directory, then its postgresql.conf (config_file= or the data
 * directory's). 0 when none says (the server's default, 100, then applies).
 */
int server_conf__pg_max_connections(uint32_t pid);

/* The value of `name = value` in a postgresql.conf-style text (last one wins); 0 if absent. */
int server_conf__parse_pg_int(const char *text, const char *name);

/* What a redis-server says of its limits: its command line (--maxclients N, --maxmemory 2gb), then
 * the configuration file named on it. Redis rewrites its process title (set-proc-title yes, the
 * default), which hides both: then the fields stay 0 (unknown). */
struct redis_conf {
	int maxclients;	    /* 0: not said (Redis's default, 10000, applies) */
	uint64_t maxmemory; /* bytes; 0: not said or no limit */
};
void server_conf__redis(uint32_t pid, struct redis_conf *out);
/* Applies one "name value" of a redis.conf-style text (or a --name value pair) to out. */
void server_conf__parse_redis_text(const char *text, struct redis_conf *out);
/* A Redis memory amount: 100, 1k (1000), 1kb (1024), 5m, 5mb, 2g, 2gb, any case; -1 if bad. */
int64_t server_conf__redis_bytes(const char *s);

/* Resident memory of the process, bytes (/proc/PID/statm); 0 when it cannot be read. */
uint64_t server_conf__rss_bytes(uint32_t pid);

#endif /* NEXUS_SERVER_CONF_H */
