// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* trace's formatting: endpoints by role and transport, previews, JSON lines that parse back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "cli/trace_fmt.h"

static void test_endpoints(void **state)
{
	uint8_t v4[16] = { 127, 0, 0, 1 }, v6[16] = { [15] = 1 };
	char buf[NX_ENDPOINT_LEN];

	fmt_endpoint(buf, sizeof(buf), NX_TRANSPORT_TCP4, v4, 6379);
	assert_string_equal(buf, "127.0.0.1:6379");
	fmt_endpoint(buf, sizeof(buf), NX_TRANSPORT_TCP6, v6, 5432);
	assert_string_equal(buf, "[::1]:5432");
	fmt_endpoint(buf, sizeof(buf), 0, v4, 1);
	assert_string_equal(buf, "");
}

static void test_conn_ends_by_role(void **state)
{
	struct nx_conn c = { .transport = NX_TRANSPORT_TCP4, .lport = 6379, .rport = 50000 };
	char server[NX_ENDPOINT_LEN], peer[NX_ENDPOINT_LEN];

	c.laddr[0] = c.raddr[0] = 127;
	c.laddr[3] = 1;
	c.raddr[3] = 2;
	c.role = NX_ROLE_SERVER;
	fmt_conn_ends(&c, server, peer, sizeof(server));
	assert_string_equal(server, "127.0.0.1:6379");
	assert_string_equal(peer, "127.0.0.2:50000");
	c.role = NX_ROLE_CLIENT;
	fmt_conn_ends(&c, server, peer, sizeof(server));
	assert_string_equal(server, "127.0.0.2:50000");
	assert_string_equal(peer, "127.0.0.1:6379");
	c.transport = NX_TRANSPORT_UNIX;
	strcpy(c.path, "/run/redis/redis.sock");
	fmt_conn_ends(&c, server, peer, sizeof(server));
	assert_string_equal(server, "/run/redis/redis.sock");
	assert_string_equal(peer, "");
}

static void test_preview(void **state)
{
	const uint8_t in[] = "*1\r\n$4\r\nPING\r\n\x00\xff\"\\";
	char out[64];

	fmt_preview(out, sizeof(out), in, sizeof(in) - 1);
	assert_string_equal(out, "*1\\r\\n$4\\r\\nPING\\r\\n\\x00\\xff\\\"\\\\");
	/* Cut on an escape boundary, always terminated. */
	assert_int_equal(fmt_preview(out, 6, in, sizeof(in) - 1), 4);
	assert_string_equal(out, "*1\\r");
	assert_int_equal(fmt_preview(out, 1, in, 3), 0);
	assert_string_equal(out, "");
}

static void test_json_line(void **state)
{
	struct {
		struct nx_data_event ev;
		uint8_t buf[4];
	} d = {};
	struct nx_conn c = { .transport = NX_TRANSPORT_TCP4, .role = NX_ROLE_SERVER, .fd = 8,
			     .lport = 6379, .rport = 40000, .sock_id = 0xab };
	struct nx_proc p = { .tgid = 42, .comm = "redis-server" };
	struct nx_record r = { .hdr = &d.ev.hdr, .data = &d.ev, .conn = &c, .proc = &p };
	char *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);
	json_error_t jerr;
	json_t *o;

	d.ev.hdr.type = NX_EV_DATA;
	d.ev.hdr.tgid = 42;
	d.ev.len = 100;
	d.ev.cap_len = 4;
	d.ev.dir = NX_DIR_OUT;
	memcpy(d.buf, "+OK\r", 4);
	assert_int_equal(trace_fmt__json(f, &r), 0);
	fclose(f);
	assert_int_equal(line[len - 1], '\n');
	o = json_loads(line, 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "event")), "data");
	assert_string_equal(json_string_value(json_object_get(o, "dir")), "out");
	assert_string_equal(json_string_value(json_object_get(o, "data_hex")), "2b4f4b0d");
	assert_string_equal(json_string_value(json_object_get(o, "server")), "0.0.0.0:6379");
	assert_string_equal(json_string_value(json_object_get(o, "comm")), "redis-server");
	assert_int_equal(json_integer_value(json_object_get(o, "len")), 100);
	assert_int_equal(json_integer_value(json_object_get(o, "captured")), 4);
	json_decref(o);
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_conn_ends_by_role),
		cmocka_unit_test(test_preview),
		cmocka_unit_test(test_json_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
