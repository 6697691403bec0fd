// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "export/http.h"

#define NX_HTTP_MAX_CONNS 64
#define NX_HTTP_TIMEOUT_S 10

struct http_server {
	struct MHD_Daemon *mhd;
	const struct http_route *routes;
	int n_routes;
};

static enum MHD_Result reply_with(struct MHD_Connection *conn, int status, const char *type,
				  char *body, size_t len, const struct http_response *extra)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	for (int i = 0; extra && i < extra->n_headers && i < HTTP_MAX_HEADERS; i++)
		if (extra->headers[i].name)
			MHD_add_response_header(resp, extra->headers[i].name, extra->headers[i].value);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *conn, int status, const char *type, char *body,
			     size_t len)
{
	return reply_with(conn, status, type, body, len, NULL);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, int status, const char *text)
{
	char *body = strdup(text);

	return body ? reply(conn, status, "text/plain; charset=utf-8", body, strlen(body)) : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct http_server *s = cls;
	struct http_response resp = { .content_type = "text/plain; charset=utf-8" };
	struct http_request req = { .path = url };
	char *body = NULL;
	size_t len = 0;
	int status;

	/* First call per request has no body yet: accept it, and refuse bodies we never read. */
	if (!*req_cls) {
		*req_cls = (void *)1;
		return MHD_YES;
	}
	if (*upload_data_size)
		return reply_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request bodies are not accepted\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");

	for (int i = 0; i < s->n_routes; i++) {
		if (strcmp(url, s->routes[i].path))
			continue;
		req.accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
		if (!req.accept)
			req.accept = "";
		resp.body = open_memstream(&body, &len);
		if (!resp.body)
			return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		status = s->routes[i].handler(s->routes[i].ctx, &req, &resp);
		if (fclose(resp.body)) {
			free(body);
			return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		}
		return reply_with(conn, status,
				  status >= 400 ? "text/plain; charset=utf-8" : resp.content_type, body,
				  len, status >= 400 ? NULL : &resp);
	}
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
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
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct http_server *s = NULL;
	char host[256], port[16];
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
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = ENOMEM;
		goto cleanup;
	}
	s->routes = routes;
	s->n_routes = n_routes;
	if (host[0]) {
		int rc = getaddrinfo(host, port, &hints, &ai);

		if (rc) {
			snprintf(errmsg, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
			err = EINVAL;
			goto cleanup;
		}
		s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
						  (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
					  (uint16_t)portnum, NULL, NULL, on_request, s,
					  MHD_OPTION_SOCK_ADDR, ai->ai_addr,
					  MHD_OPTION_CONNECTION_LIMIT, (unsigned)NX_HTTP_MAX_CONNS,
					  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)NX_HTTP_TIMEOUT_S,
					  MHD_OPTION_END);
	} else {
		s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
						  MHD_USE_DUAL_STACK,
					  (uint16_t)portnum, NULL, NULL, on_request, s,
					  MHD_OPTION_CONNECTION_LIMIT, (unsigned)NX_HTTP_MAX_CONNS,
					  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)NX_HTTP_TIMEOUT_S,
					  MHD_OPTION_END);
	}
	if (!s->mhd) {
		err = errno ? errno : EADDRINUSE;
		snprintf(errmsg, errlen, "cannot serve HTTP on %s: %s", listen, strerror(err));
		goto cleanup;
	}
	freeaddrinfo(ai);
	return s;

cleanup:
	if (ai)
		freeaddrinfo(ai);
	free(s);
	errno = err;
	return NULL;
}

void http_server__stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->mhd);
	free(s);
}
