/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A deadline per HTTP request that slow clients cannot stretch. libmicrohttpd's connection
 * timeout is an idle timeout: a client that sends one byte a second never reaches it and keeps
 * its connection (and a slot of the connection limit) forever. Here every connection gets
 * TIMEOUT from its start, and again from each completed response (keep-alive), to send its
 * next request and read the reply; a small thread shuts down the sockets of those that are
 * late. libmicrohttpd then sees the end of the stream and closes the connection itself.
 */
#ifndef NEXUS_HTTP_DEADLINE_H
#define NEXUS_HTTP_DEADLINE_H

#include <stdint.h>

struct http_deadlines;
struct http_deadline;

/* NULL + errno when the thread cannot start. */
struct http_deadlines *http_deadlines__start(uint64_t timeout_ns);
void http_deadlines__stop(struct http_deadlines *d);

/* A new connection on socket FD (NULL: out of memory, the connection goes unwatched). */
struct http_deadline *http_deadlines__add(struct http_deadlines *d, int fd);
/* Its response was sent: the next request gets a full TIMEOUT. */
void http_deadlines__rearm(struct http_deadlines *d, struct http_deadline *e);
/* Called before the socket is closed, so the thread never touches a reused descriptor. */
void http_deadlines__remove(struct http_deadlines *d, struct http_deadline *e);
uint64_t http_deadlines__cuts(struct http_deadlines *d);

#endif /* NEXUS_HTTP_DEADLINE_H */
