// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* /healthz and /readyz: status codes and bodies over a fake clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "export/healthz.h"

#define SEC 1000000000ULL

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

/* Calls a handler; returns its status, the body in *body (free it). */
static int call(http_handler_fn fn, struct healthz *h, char **body)
{
	struct http_request req = { .path = "/", .accept = "" };
	struct http_response resp = {};
	size_t len = 0;
	int status;

	*body = NULL;
	resp.body = open_memstream(body, &len);
	assert_non_null(resp.body);
	status = fn(h, &req, &resp);
	fclose(resp.body);
	assert_non_null(resp.content_type);
	assert_non_null(strstr(resp.content_type, "text/plain"));
	return status;
}

static void setup_health(struct healthz *h)
{
	healthz__init(h);
	h->now = fake_clock;
	fake_now = 1000 * SEC;
}

static void test_before_start(void **state)
{
	struct healthz h;
	char *body;

	setup_health(&h);
	assert_int_equal(call(healthz__live, &h, &body), 503);
	assert_non_null(strstr(body, "has not started"));
	free(body);
	assert_int_equal(call(healthz__ready, &h, &body), 503);
	assert_non_null(strstr(body, "not ready"));
	free(body);
}

static void test_alive_not_ready(void **state)
{
	struct healthz h;
	char *body;

	setup_health(&h);
	healthz__beat(&h, fake_now - SEC / 2);
	assert_int_equal(call(healthz__live, &h, &body), 200);
	assert_string_equal(body, "ok: capture loop ticked 0.5 s ago\n");
	free(body);
	/* Beating is not being ready: probes may still be attaching. */
	assert_int_equal(call(healthz__ready, &h, &body), 503);
	assert_string_equal(body, "not ready: attaching probes\n");
	free(body);
}

static void test_ready(void **state)
{
	struct healthz h;
	char *body;

	setup_health(&h);
	healthz__beat(&h, fake_now);
	healthz__set_ready(&h);
	assert_int_equal(call(healthz__ready, &h, &body), 200);
	assert_string_equal(body, "ready: probes attached, snapshots published\n");
	free(body);
	assert_int_equal(call(healthz__live, &h, &body), 200);
	free(body);
}

static void test_stall(void **state)
{
	struct healthz h;
	char *body;

	setup_health(&h);
	healthz__beat(&h, fake_now);
	healthz__set_ready(&h);
	/* Exactly at the limit still counts as alive; past it is a stall. */
	fake_now += HEALTHZ_STALE_NS;
	assert_int_equal(call(healthz__live, &h, &body), 200);
	free(body);
	fake_now += 2500 * 1000000ULL;
	assert_int_equal(call(healthz__live, &h, &body), 503);
	assert_string_equal(body, "stalled: capture loop last ticked 12.5 s ago (limit 10 s)\n");
	free(body);
	assert_int_equal(call(healthz__ready, &h, &body), 503);
	assert_string_equal(body, "not ready: capture loop last ticked 12.5 s ago\n");
	free(body);
	/* A new beat brings both back. */
	healthz__beat(&h, fake_now);
	assert_int_equal(call(healthz__live, &h, &body), 200);
	free(body);
	assert_int_equal(call(healthz__ready, &h, &body), 200);
	free(body);
}

static void test_clock_behind_beat(void **state)
{
	struct healthz h;
	char *body;

	/* A beat stamped after the reader's clock read (threads race) is age 0, not a huge one. */
	setup_health(&h);
	healthz__beat(&h, fake_now + SEC);
	assert_int_equal(call(healthz__live, &h, &body), 200);
	assert_string_equal(body, "ok: capture loop ticked 0.0 s ago\n");
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_before_start),
		cmocka_unit_test(test_alive_not_ready),
		cmocka_unit_test(test_ready),
		cmocka_unit_test(test_stall),
		cmocka_unit_test(test_clock_behind_beat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
