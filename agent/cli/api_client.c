// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/api_client.h"
#include "export/http_auth.h"

#define MAX_BODY (64u << 20) /* no document of the API is this big: a wrong server */

struct body {
	char *p;
	size_t len;
};

static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	char *p;

	if (b->len + size * n > MAX_BODY)
		return 0;
	p = realloc(b->p, b->len + size * n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, data, size * n);
	b->p = p;
	b->len += size * n;
	p[b->len] = '\0';
	return size * n;
}

int api_client__init(struct api_client *a, const struct nx_opts *o, const char *who,
		     long timeout_ms)
{
	char err[512], *token;

	*a = (struct api_client){ .c = curl_easy_init(),
				  .timeout_ms = timeout_ms,
				  .connect_timeout_ms = timeout_ms / 3 < 3000 ? timeout_ms / 3 : 3000 };
	if (!a->c) {
		fprintf(stderr, "%s: cannot start libcurl\n", who);
		return -1;
	}
	if (o->top_cacert)
		curl_easy_setopt(a->c, CURLOPT_CAINFO, o->top_cacert);
	if (!o->http.auth_token_file)
		return 0;
	if (http_auth__load_token(o->http.auth_token_file, &token, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", who, err);
		api_client__free(a);
		return -1;
	}
	curl_easy_setopt(a->c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
	curl_easy_setopt(a->c, CURLOPT_XOAUTH2_BEARER, token); /* libcurl keeps its own copy */
	explicit_bzero(token, strlen(token));
	free(token);
	return 0;
}

void api_client__free(struct api_client *a)
{
	if (a->c)
		curl_easy_cleanup(a->c);
	a->c = NULL;
}

char *api_client__get(struct api_client *a, const char *addr, const char *path, long *status,
		      char *err, size_t errlen)
{
	struct body b = { 0 };
	char url[512];
	CURLcode rc;

	*status = 0;
	/* --connect https://HOST:PORT (an agent with --tls-cert); plain HOST:PORT is http */
	snprintf(url, sizeof(url), "%s%s%s", strstr(addr, "://") ? "" : "http://", addr, path);
	curl_easy_setopt(a->c, CURLOPT_URL, url);
	curl_easy_setopt(a->c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(a->c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(a->c, CURLOPT_TIMEOUT_MS, a->timeout_ms);
	curl_easy_setopt(a->c, CURLOPT_CONNECTTIMEOUT_MS, a->connect_timeout_ms);
	curl_easy_setopt(a->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a->c, CURLOPT_NOPROXY, "*");
	rc = curl_easy_perform(a->c);
	if (rc != CURLE_OK) {
		if (err)
			snprintf(err, errlen, "%.300s: %s", url, curl_easy_strerror(rc));
		free(b.p);
		return NULL;
	}
	curl_easy_getinfo(a->c, CURLINFO_RESPONSE_CODE, status);
	return b.p ? b.p : strdup("");
}
