// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* otlp_headers: OTEL_EXPORTER_OTLP_HEADERS and --otlp-header parsing, what is refused, and that
 * no error message repeats a value (it is a secret). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "export/otlp_headers.h"

static void test_env_list(void **state)
{
	struct otlp_headers h = {};
	char err[160] = "";

	assert_int_equal(otlp_headers__add_list(&h, " authorization = Bearer%20abc%3D%3D ,"
						"x-team=k1,,x-pct=100%zz,", err, sizeof(err)), 0);
	assert_int_equal(h.n, 3);
	assert_string_equal(h.line[0], "authorization: Bearer abc==");
	assert_string_equal(h.line[1], "x-team: k1");
	/* a '%' without two hex digits after it stays */
	assert_string_equal(h.line[2], "x-pct: 100%zz");
	otlp_headers__free(&h);
	assert_int_equal(h.n, 0);
}

/* --otlp-header after the environment: the same name (any case) is replaced, not sent twice;
 * command-line values are taken as written (no %-decoding). */
static void test_override(void **state)
{
	struct otlp_headers h = {};
	char err[160];

	assert_int_equal(otlp_headers__add_list(&h, "Authorization=old,x-a=1", err, sizeof(err)), 0);
	assert_int_equal(otlp_headers__add(&h, "authorization=Basic a%3Db", 0, err, sizeof(err)), 0);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.line[0], "authorization: Basic a%3Db");
	assert_string_equal(h.line[1], "x-a: 1");
	otlp_headers__free(&h);
}

static void test_refused(void **state)
{
	static const char *bad[] = { "novalue", "=v", "bad name=v", "x:y=v", "é=v" };
	struct otlp_headers h = {};
	char err[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(otlp_headers__add(&h, bad[i], 0, err, sizeof(err)), -EINVAL);
		assert_int_equal(h.n, 0);
	}
	/* a decoded CR or LF would smuggle a header: refused, and the message names the header
	 * but not the value */
	assert_int_equal(otlp_headers__add_list(&h, "x-key=s3cret%0d%0aHost: evil", err,
						sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "x-key"));
	assert_null(strstr(err, "s3cret"));
	assert_int_equal(h.n, 0);
	for (int i = 0; i < OTLP_MAX_HEADERS; i++) {
		char spec[32];

		snprintf(spec, sizeof(spec), "h%d=v", i);
		assert_int_equal(otlp_headers__add(&h, spec, 0, err, sizeof(err)), 0);
	}
	assert_int_equal(otlp_headers__add(&h, "one-more=v", 0, err, sizeof(err)), -E2BIG);
	assert_int_equal(h.n, OTLP_MAX_HEADERS);
	otlp_headers__free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_list),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
