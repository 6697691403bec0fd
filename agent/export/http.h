/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's HTTP server (libmicrohttpd, its own thread): GET routes that render a response body
 * from snapshots. Bounded: a connection limit, a timeout, GET/HEAD only, no request bodies.
 */
#ifndef NEXUS_HTTP_H
#define NEXUS_HTTP_H

#include <stddef.h>
#include <stdio.h>

struct http_request {
	const char *path;
	const char *accept; /* the Accept header, or "" */
};

#define HTTP_MAX_HEADERS 4
#define HTTP_HEADER_LEN 512

/* A response header besides Content-Type (a handler's own: Content-Security-Policy...). */
struct http_header {
	const char *name;
	char value[HTTP_HEADER_LEN];
};

struct http_response {
	int n_headers; /* headers[] the handler set (sent with statuses < 400 only) */
	struct http_header headers[HTTP_MAX_HEADERS];
	FILE *body;		  /* write the body here */
	const char *content_type; /* set by the handler */
};

/* Returns an HTTP status; a status >= 400 sends the body as plain text. */
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
