// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "export/http.h"
#include "export/http_auth.h"
#include "export/http_deadline.h"
#include "export/http_tls.h"

struct http_server {
	struct MHD_Daemon *mhd;
	const struct http_route *routes;
	int n_routes;
	const char *token_file;		 /* NULL: no token asked */
	pthread_mutex_t token_lock;	 /* token: replaced on SIGHUP while requests read it */
	char *token;
	struct http_deadlines *deadlines;
	size_t max_header_bytes;
};

static const char *const public_paths[] = HTTP_PUBLIC_PATHS;

void http_config__defaults(struct http_config *c)
{
	*c = (struct http_config){ .max_conns = HTTP_DEFAULT_MAX_CONNS,
				   .max_conns_per_ip = HTTP_DEFAULT_MAX_CONNS_PER_IP,
				   .timeout_s = HTTP_DEFAULT_TIMEOUT_S,
				   .max_header_bytes = HTTP_DEFAULT_MAX_HEADER_BYTES };
}

int http_config__load(struct http_config *c, char *err, size_t errlen)
{
	if (!c->tls_cert != !c->tls_key) {
		snprintf(err, errlen, "%s needs %s too", c->tls_cert ? "--tls-cert" : "--tls-key",
			 c->tls_cert ? "--tls-key" : "--tls-cert");
		return -1;
	}
	if (c->tls_cert && !MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		snprintf(err, errlen, "--tls-cert: this libmicrohttpd was built without TLS");
		return -1;
	}
	if (c->tls_cert &&
	    http_tls__load(c->tls_cert, c->tls_key, &c->cert_pem, &c->key_pem, err, errlen))
		return -1;
	if (c->auth_token_file && http_auth__load_token(c->auth_token_file, &c->token, err, errlen)) {
		http_config__release(c);
		return -1;
	}
	return 0;
}

static void free_secret(char **p)
{
	if (*p)
		explicit_bzero(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

void http_config__release(struct http_config *c)
{
	free(c->cert_pem);
	c->cert_pem = NULL;
	free_secret(&c->key_pem);
	free_secret(&c->token);
}

/* Extra response headers: NULL-terminated name, value pairs. */
static enum MHD_Result reply(struct MHD_Connection *conn, int status, const char *type, char *body,
			     size_t len, const char *const *headers)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	for (; headers && headers[0]; headers += 2)
		MHD_add_response_header(resp, headers[0], headers[1]);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, int status, const char *text,
				  const char *const *headers)
{
	char *body = strdup(text);

	return body ? reply(conn, status, "text/plain; charset=utf-8", body, strlen(body), headers)
		    : MHD_NO;
}

static bool is_public(const char *path)
{
	for (size_t i = 0; i < sizeof(public_paths) / sizeof(public_paths[0]); i++)
		if (!strcmp(path, public_paths[i]))
			return true;
	return false;
}

static bool authorized(struct http_server *s, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	bool ok;

	pthread_mutex_lock(&s->token_lock);
	ok = http_auth__check(s->token, h);
	pthread_mutex_unlock(&s->token_lock);
	return ok;
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
				       const char *value)
{
	*(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": ", CRLF */
	return MHD_YES;
}

/* The request line and headers as sent, give or take whitespace. libmicrohttpd's memory per
 * connection is capped a little above this (it answers 431 itself beyond that); this makes the
 * cap exact. */
static size_t header_bytes(struct MHD_Connection *conn, const char *method, const char *url)
{
	size_t n = strlen(method) + strlen(url) + sizeof(" HTTP/1.1\r\n");

	MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_bytes, &n);
	return n;
}

/* A request that carries a body: GET and HEAD have none to give, and nothing here reads one. */
static bool has_body(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return true;
	return cl && strspn(cl, "0 \t") != strlen(cl);
}

/* The method and a body are refused on the first call, when the headers are in: no route reads
 * a body, so that answer never waits for one (libmicrohttpd then closes the connection). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	static const char *const allow[] = { "Allow", "GET, HEAD", NULL };
	/* "/" is the status page: a browser shows its login prompt for Basic; the password is the
	 * token, and the browser then sends it with the page's own API calls. */
	static const char *const challenge_page[] = {
		MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"nexus-agent\"",
		MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"nexus-agent\", charset=\"UTF-8\"",
		NULL
	};
	static const char *const challenge[] = {
		MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"nexus-agent\"", NULL
	};
	struct http_server *s = cls;
	struct http_response resp = { .content_type = "text/plain; charset=utf-8" };
	struct http_request req = { .path = url, .conn = conn };
	char *body = NULL;
	size_t len = 0;
	const char *extra[2 * HTTP_MAX_HEADERS + 1] = { NULL }; /* name, value pairs, NULL-ended */
	int n_extra = 0;
	int status;

	if (!*req_cls) {
		*req_cls = (void *)1;
		if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
			return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n",
					  allow);
		if (has_body(conn))
			return reply_text(conn, MHD_HTTP_CONTENT_TOO_LARGE,
					  "request bodies are not accepted\n", NULL);
		if (header_bytes(conn, method, url) > s->max_header_bytes)
			return reply_text(conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
					  "request headers too large\n", NULL);
		/* Answered on the next call: answering now would close a keep-alive connection. */
		return MHD_YES;
	}
	if (*upload_data_size) /* a body after all: never read */
		return reply_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request bodies are not accepted\n",
				  NULL);
	if (s->token_file && !is_public(url) && !authorized(s, conn))
		return reply_text(conn, MHD_HTTP_UNAUTHORIZED, "a bearer token is required\n",
				  strcmp(url, "/") ? challenge : challenge_page);

	for (int i = 0; i < s->n_routes; i++) {
		if (strcmp(url, s->routes[i].path))
			continue;
		req.accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
		if (!req.accept)
			req.accept = "";
		resp.body = open_memstream(&body, &len);
		if (!resp.body)
			return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
		status = s->routes[i].handler(s->routes[i].ctx, &req, &resp);
		if (fclose(resp.body)) {
			free(body);
			return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
		}
		if (status < 400) /* a handler's own headers (the status page's CSP) */
			for (int j = 0; j < resp.n_headers && j < HTTP_MAX_HEADERS; j++)
				if (resp.headers[j].name) {
					extra[n_extra++] = resp.headers[j].name;
					extra[n_extra++] = resp.headers[j].value;
				}
		return reply(conn, status,
			     status >= 400 && !resp.json_error ? "text/plain; charset=utf-8"
			     : status >= 400			  ? "application/json"
								  : resp.content_type,
			     body, len, extra);
	}
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
}

/* Connections come and go on libmicrohttpd's thread; each gets a deadline (http_deadline.h). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode what)
{
	struct http_server *s = cls;
	const union MHD_ConnectionInfo *info;

	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_ctx = info ? http_deadlines__add(s->deadlines, info->connect_fd) : NULL;
	} else if (what == MHD_CONNECTION_NOTIFY_CLOSED) {
		http_deadlines__remove(s->deadlines, *socket_ctx);
		*socket_ctx = NULL;
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct http_server *s = cls;
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	if (why == MHD_REQUEST_TERMINATED_COMPLETED_OK && info)
		http_deadlines__rearm(s->deadlines, info->socket_context);
}

const char *http_request__arg(const struct http_request *req, const char *name)
{
	return req->conn ? MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name)
			 : NULL;
}

/* Splits "HOST:PORT", ":PORT" or "[V6]:PORT". */
static int parse_listen(const char *listen, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(listen, ':');
	size_t n;

	if (!colon || !colon[1] || strlen(colon + 1) >= plen)
		return -EINVAL;
	n = colon - listen;
	if (n >= 2 && listen[0] == '[' && listen[n - 1] == ']') {
		listen++;
		n -= 2;
	}
	if (n >= hlen)
		return -EINVAL;
	memcpy(host, listen, n);
	host[n] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

struct http_server *http_server__start(const char *listen, const struct http_route *routes,
				       int n_routes, char *errmsg, size_t errlen)
{
	struct http_config c;

	http_config__defaults(&c);
	return http_server__start_cfg(listen, routes, n_routes, &c, errmsg, errlen);
}

/* libmicrohttpd's options for C; n items are written to opt (room for 16). */
static int mhd_options(struct http_server *s, const struct http_config *c,
		       const struct sockaddr *addr, struct MHD_OptionItem *opt)
{
	int n = 0;

#define OPT(o, v, p) (opt[n++] = (struct MHD_OptionItem){ (o), (intptr_t)(v), (void *)(p) })
	OPT(MHD_OPTION_CONNECTION_LIMIT, c->max_conns, NULL);
	OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, c->max_conns_per_ip, NULL);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, c->timeout_s, NULL);
	/* The pool per connection holds the request line and headers, then the reply's headers
	 * (bodies are separate buffers): the cap plus room for those. */
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)c->max_header_bytes + 4096, NULL);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, s);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, s);
	if (addr)
		OPT(MHD_OPTION_SOCK_ADDR, 0, addr);
	if (c->cert_pem) {
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, c->cert_pem);
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, c->key_pem);
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	return n;
}

struct http_server *http_server__start_cfg(const char *listen, const struct http_route *routes,
					   int n_routes, const struct http_config *c, char *errmsg,
					   size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct http_server *s = NULL;
	struct MHD_OptionItem opts[16];
	char host[256], port[16];
	unsigned int flags;
	char *end;
	long portnum;
	int err;

	if (parse_listen(listen, host, sizeof(host), port, sizeof(port))) {
		snprintf(errmsg, errlen, "bad listen address '%s' (want HOST:PORT)", listen);
		err = EINVAL;
		goto cleanup;
	}
	portnum = strtol(port, &end, 10);
	if (*end || portnum < 0 || portnum > 65535) {
		snprintf(errmsg, errlen, "bad port in listen address '%s'", listen);
		err = EINVAL;
		goto cleanup;
	}
	if (c->auth_token_file && !c->token) {
		snprintf(errmsg, errlen, "--auth-token-file %s was not loaded", c->auth_token_file);
		err = EINVAL;
		goto cleanup;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = ENOMEM;
		goto cleanup;
	}
	s->routes = routes;
	s->n_routes = n_routes;
	s->max_header_bytes = c->max_header_bytes;
	pthread_mutex_init(&s->token_lock, NULL);
	if (c->token) {
		s->token_file = c->auth_token_file;
		s->token = strdup(c->token);
		if (!s->token) {
			err = ENOMEM;
			goto cleanup;
		}
	}
	s->deadlines = http_deadlines__start((uint64_t)c->timeout_s * 1000000000ULL);
	if (!s->deadlines) {
		err = errno ? errno : ENOMEM;
		snprintf(errmsg, errlen, "cannot start the HTTP deadline thread: %s", strerror(err));
		goto cleanup;
	}
	/* One internal thread polling every connection (epoll): sockets are non-blocking, so a
	 * slow client costs a slot, never the thread; capture runs on threads of its own. */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | (c->cert_pem ? MHD_USE_TLS : 0);
	if (host[0]) {
		int rc = getaddrinfo(host, port, &hints, &ai);

		if (rc) {
			snprintf(errmsg, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
			err = EINVAL;
			goto cleanup;
		}
		mhd_options(s, c, ai->ai_addr, opts);
		flags |= ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0;
	} else {
		mhd_options(s, c, NULL, opts);
		flags |= MHD_USE_DUAL_STACK;
	}
	errno = 0;
	s->mhd = MHD_start_daemon(flags, (uint16_t)portnum, NULL, NULL, on_request, s,
				  MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!s->mhd) {
		err = errno ? errno : EADDRINUSE;
		snprintf(errmsg, errlen, "cannot serve HTTP%s on %s: %s", c->cert_pem ? "S" : "",
			 listen, strerror(err));
		goto cleanup;
	}
	freeaddrinfo(ai);
	return s;

cleanup:
	if (ai)
		freeaddrinfo(ai);
	if (s) {
		http_deadlines__stop(s->deadlines);
		free_secret(&s->token);
		pthread_mutex_destroy(&s->token_lock);
	}
	free(s);
	errno = err;
	return NULL;
}

int http_server__reload_token(struct http_server *s, char *err, size_t errlen)
{
	char *token, *old;

	if (!s || !s->token_file)
		return 1;
	if (http_auth__load_token(s->token_file, &token, err, errlen))
		return -1;
	pthread_mutex_lock(&s->token_lock);
	old = s->token;
	s->token = token;
	pthread_mutex_unlock(&s->token_lock);
	free_secret(&old);
	return 0;
}

uint64_t http_server__deadline_cuts(const struct http_server *s)
{
	return s && s->deadlines ? http_deadlines__cuts(s->deadlines) : 0;
}

void http_server__stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->mhd);
	http_deadlines__stop(s->deadlines);
	free_secret(&s->token);
	pthread_mutex_destroy(&s->token_lock);
	free(s);
}
