/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's HTTP server (libmicrohttpd, its own thread): GET routes that render a response body
 * from snapshots. Bounded: a connection limit, a timeout, GET/HEAD only, no request bodies.
 */
#ifndef NEXUS_HTTP_H
#define NEXUS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct http_request {
	const char *path;
	const char *accept; /* the Accept header, or "" */
	void *conn;	    /* the server's own (http_request__arg); NULL in tests */
};

struct http_response {
	FILE *body;		  /* write the body here */
	const char *content_type; /* set by the handler */
	bool json_error;	  /* a status >= 400 whose body is JSON ({"error": "..."}) */
};

/* A query-string argument of the request (?n=3 -> "3"), NULL when absent. */
const char *http_request__arg(const struct http_request *req, const char *name);

/* Returns an HTTP status; a status >= 400 sends the body as plain text (or JSON: json_error). */
typedef int (*http_handler_fn)(void *ctx, const struct http_request *req,
			       struct http_response *resp);

struct http_route {
	const char *path;
	http_handler_fn handler;
	void *ctx;
};

struct http_server;

/* listen is "HOST:PORT", ":PORT" (every address) or "[V6ADDR]:PORT". Routes must outlive the
 * server. NULL + errno on failure, with errmsg set. */
struct http_server *http_server__start(const char *listen, const struct http_route *routes,
				       int n_routes, char *errmsg, size_t errlen);
void http_server__stop(struct http_server *s);

#endif /* NEXUS_HTTP_H */
