// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * GET / (see status_page.h). The page's style and script are inline, so the policy allows them
 * by a nonce that is new for every response (a hash would have to be recomputed at every edit
 * of the page); nothing else may run or load, and the script may only talk to this agent.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "export/status_page.h"
#include "util.h"

/* status_page_html[]: the bytes of agent/export/status_page.html (the Makefile makes this
 * header with xxd -i). */
#include "status_page_html.h"

#define NONCE_BYTES 18 /* 144 bits; 24 base64 characters, no padding */
#define PLACEHOLDER "__NONCE__"

static void base64(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i + 2 < n; i += 3) { /* n is a multiple of 3 */
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	out[o] = '\0';
}

static void new_nonce(char *out)
{
	unsigned char raw[NONCE_BYTES];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	/* getrandom cannot fail after boot; should it, the nonce is still unguessable enough
	 * from the clock and the address space layout for a page that only reads our API */
	if (got < sizeof(raw)) {
		uint64_t x = nx_now_ns() ^ (uint64_t)(uintptr_t)&raw ^ (uint64_t)time(NULL) << 20;

		for (size_t i = got; i < sizeof(raw); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			raw[i] = (unsigned char)x;
		}
	}
	base64(raw, sizeof(raw), out);
}

int status_page__write(FILE *f, const char *nonce)
{
	const char *p = (const char *)status_page_html, *end = p + sizeof(status_page_html);
	const size_t plen = strlen(PLACEHOLDER);

	while (p < end) {
		const char *hit = memmem(p, (size_t)(end - p), PLACEHOLDER, plen);
		size_t n = hit ? (size_t)(hit - p) : (size_t)(end - p);

		if (fwrite(p, 1, n, f) != n)
			return -1;
		if (!hit)
			break;
		if (fputs(nonce, f) < 0)
			return -1;
		p = hit + plen;
	}
	return ferror(f) ? -1 : 0;
}

static struct http_header *header(struct http_response *resp, const char *name, const char *value)
{
	struct http_header *h;

	if (resp->n_headers >= HTTP_MAX_HEADERS)
		return NULL;
	h = &resp->headers[resp->n_headers++];
	h->name = name;
	snprintf(h->value, sizeof(h->value), "%s", value);
	return h;
}

int status_page__handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	char nonce[NONCE_BYTES / 3 * 4 + 1];
	struct http_header *csp;

	new_nonce(nonce);
	if (status_page__write(resp->body, nonce))
		return 500;
	resp->content_type = "text/html; charset=utf-8";
	csp = header(resp, "Content-Security-Policy", "");
	if (csp)
		snprintf(csp->value, sizeof(csp->value),
			 "default-src 'none'; script-src 'nonce-%s'; style-src 'nonce-%s'; "
			 "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
			 "frame-ancestors 'none'",
			 nonce, nonce);
	header(resp, "X-Content-Type-Options", "nosniff");
	header(resp, "Referrer-Policy", "no-referrer");
	header(resp, "Cache-Control", "no-store");
	return 200;
}
