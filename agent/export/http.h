/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's HTTP server (libmicrohttpd, its own thread): GET routes that render a response body
 * from snapshots. Bounded: a connection limit, a timeout, GET/HEAD only, no request bodies.
 * Safe to expose (issue 13): TLS, a bearer token, caps on connections and header bytes, and a
 * deadline per request that slow-drip clients cannot stretch (struct http_config).
 */
#ifndef NEXUS_HTTP_H
#define NEXUS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct http_request {
	const char *path;
	const char *accept; /* the Accept header, or "" */
	void *conn;	    /* the server's own (http_request__arg); NULL in tests */
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
 * server. NULL + errno on failure, with errmsg set. The default limits, no TLS, no token. */
struct http_server *http_server__start(const char *listen, const struct http_route *routes,
				       int n_routes, char *errmsg, size_t errlen);
void http_server__stop(struct http_server *s);

/* --- securing the endpoint (issue 13) --------------------------------------------------------- */
#define HTTP_DEFAULT_MAX_CONNS 64
#define HTTP_DEFAULT_MAX_CONNS_PER_IP 16
#define HTTP_DEFAULT_TIMEOUT_S 10
#define HTTP_DEFAULT_MAX_HEADER_BYTES 16384

/* Paths answered without the token: they say only whether the agent is alive and ready. */
#define HTTP_PUBLIC_PATHS { "/healthz", "/readyz" }

struct http_config {
	/* the command line */
	const char *tls_cert;	     /* --tls-cert PEM (with tls_key: HTTPS only) */
	const char *tls_key;	     /* --tls-key PEM */
	const char *auth_token_file; /* --auth-token-file: token asked on every other path */
	uint32_t max_conns;	     /* --http-max-conns: open at once, all clients */
	uint32_t max_conns_per_ip;   /* --http-max-conns-per-ip */
	uint32_t timeout_s;	     /* --http-timeout: a request's whole life, arrival to reply */
	uint32_t max_header_bytes;   /* --http-max-header-bytes: request line and headers */
	/* http_config__load: the files' contents (http_config__release frees them) */
	char *cert_pem;
	char *key_pem;
	char *token;
};

void http_config__defaults(struct http_config *c);
/* Reads and checks the TLS files and the token file; 0, or -1 with the reason (naming the file
 * and flag) in err: a usage error, before anything else starts. */
int http_config__load(struct http_config *c, char *err, size_t errlen);
void http_config__release(struct http_config *c);

/* As http_server__start with C's limits, TLS and token (C, loaded, must outlive the server). */
struct http_server *http_server__start_cfg(const char *listen, const struct http_route *routes,
					   int n_routes, const struct http_config *c, char *errmsg,
					   size_t errlen);
/* SIGHUP: the token file read again; on error the old token stays. 0, -1 (err set), or 1 when
 * the server has no token file. */
int http_server__reload_token(struct http_server *s, char *err, size_t errlen);
/* Connections cut because a request outlived its deadline (slow clients). */
uint64_t http_server__deadline_cuts(const struct http_server *s);

#endif /* NEXUS_HTTP_H */
