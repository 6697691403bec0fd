/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Who a PostgreSQL backend serves, read from its process title: for a connection whose startup
 * message the agent never saw (the backend was there before the agent). A client backend's title,
 * /proc/PID/cmdline up to its first NUL, is
 *
 *	postgres: [CLUSTER: ]USER DATABASE HOST(PORT) STATE	(TCP)
 *	postgres: [CLUSTER: ]USER DATABASE [local] STATE	(Unix socket)
 *
 * HOST being an IPv4 or IPv6 address, or a host name with log_hostname.
 *
 * STATE (idle, SELECT, idle in transaction, ... waiting) changes with every statement and is not
 * read; USER DATABASE HOST are written once, when the backend starts, and never change. The pid
 * is the root namespace's and /proc/PID/cmdline is the process's own, so a backend inside a
 * container reads the same.
 *
 * PostgreSQL writes the names unquoted, so a name holding a space cannot be told from the next
 * one: the title is split only when exactly two words stand before HOST (after a cluster_name
 * prefix: the words up to the first one ending in ':', when there are more than two). Anything
 * else is refused rather than guessed, and the connection stays "(unknown)". The guesses left,
 * each needing odd names: with more than two words, a word ending in ':' is taken for the end of
 * cluster_name (it could end a user name followed by a database name with a space); a role named
 * "walsender" reads as a replication connection. Names are returned as the title has them
 * (bytes, cut to the buffer); the caller makes labels of them.
 */
#ifndef NEXUS_PG_TITLE_H
#define NEXUS_PG_TITLE_H

#include <stddef.h>
#include <stdint.h>

#define PG_TITLE_MAX 1024 /* bytes of /proc/PID/cmdline read: the title and then some */

/*
 * Splits a title (cmdline: len bytes, its first NUL ends it). 0 with user and db set (each cut to
 * its buffer, NUL-terminated); -ENOTCONN for the title of a PostgreSQL process that serves no
 * client (checkpointer, background writer, autovacuum, walsender, parallel and other background
 * workers: no client's host in it, or a walsender's); -EINVAL for anything else: not a process
 * title, one whose end cuts a host short, names that cannot be split.
 */
int pg_title__parse(const char *cmdline, size_t len, char *user, size_t ulen, char *db,
		    size_t dlen);

/* Reads the title of process pid and splits it: 0, -errno of the read (-ENOENT: gone), or
 * pg_title__parse()'s errors. One open and read of /proc/PID/cmdline (at most PG_TITLE_MAX
 * bytes), which takes the process's mmap lock for a moment, as ps does. */
int pg_title__read(uint32_t pid, char *user, size_t ulen, char *db, size_t dlen);

#endif /* NEXUS_PG_TITLE_H */
