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

#endif /* NEXUS_SERVER_CONF_H */
