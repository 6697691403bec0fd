// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * GET / without a server: the embedded page comes out whole, every __NONCE__ replaced by the
 * response's nonce, the Content-Security-Policy names that nonce (and allows nothing inline
 * without it), and two responses never share a nonce.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "export/status_page.h"

struct served {
	char *body;
	size_t len;
	struct http_response resp;
	int status;
};

static void serve(struct served *s)
{
	struct http_request req = { .path = "/", .accept = "" };

	memset(s, 0, sizeof(*s));
	s->resp.body = open_memstream(&s->body, &s->len);
	assert_non_null(s->resp.body);
	s->status = status_page__handle(NULL, &req, &s->resp);
	assert_int_equal(fclose(s->resp.body), 0);
}

static const char *header(const struct served *s, const char *name)
{
	for (int i = 0; i < s->resp.n_headers; i++)
		if (!strcmp(s->resp.headers[i].name, name))
			return s->resp.headers[i].value;
	return NULL;
}

/* The nonce the policy names for scripts, into buf. */
static void csp_nonce(const char *csp, char *buf, size_t len)
{
	const char *p = strstr(csp, "script-src 'nonce-");
	size_t n;

	assert_non_null(p);
	p += strlen("script-src 'nonce-");
	n = strcspn(p, "'");
	assert_true(n >= 22 && n < len);
	memcpy(buf, p, n);
	buf[n] = '\0';
}

static void test_page(void **state)
{
	struct served a, b;
	char na[64], nb[64], tag[128];
	const char *csp;

	serve(&a);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.resp.content_type, "text/html; charset=utf-8");
	assert_true(a.len > 1000);
	assert_true(!strncmp(a.body, "<!DOCTYPE html>", 15));
	assert_non_null(strstr(a.body, "</html>"));
	assert_null(strstr(a.body, "__NONCE__"));
	csp = header(&a, "Content-Security-Policy");
	assert_non_null(csp);
	assert_non_null(strstr(csp, "default-src 'none'"));
	assert_non_null(strstr(csp, "connect-src 'self'"));
	assert_null(strstr(csp, "unsafe-inline"));
	assert_null(strstr(csp, "unsafe-eval"));
	csp_nonce(csp, na, sizeof(na));
	snprintf(tag, sizeof(tag), "<script nonce=\"%s\">", na);
	assert_non_null(strstr(a.body, tag));
	snprintf(tag, sizeof(tag), "<style nonce=\"%s\">", na);
	assert_non_null(strstr(a.body, tag));
	snprintf(tag, sizeof(tag), "style-src 'nonce-%s'", na);
	assert_non_null(strstr(csp, tag));
	assert_string_equal(header(&a, "X-Content-Type-Options"), "nosniff");
	/* no markup is built from strings in the script: everything goes in as text */
	assert_null(strstr(a.body, "innerHTML"));
	assert_null(strstr(a.body, "insertAdjacentHTML"));
	assert_null(strstr(a.body, "document.write"));

	serve(&b);
	csp_nonce(header(&b, "Content-Security-Policy"), nb, sizeof(nb));
	assert_string_not_equal(na, nb);
	free(a.body);
	free(b.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
