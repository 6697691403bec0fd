// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* conn_table: lookups, fd reuse, the capacity bound with LRU eviction, per-process lists. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "capture/conn_table.h"

static void test_insert_lookup_remove(void **state)
{
	struct conn_table *t = conn_table__new(8, NULL, NULL);
	struct nx_conn *c;

	assert_non_null(t);
	assert_null(conn_table__lookup(t, 100, 5));
	c = conn_table__insert(t, 100, 5, NULL, NULL);
	c->sock_id = 0xabc;
	assert_ptr_equal(conn_table__lookup(t, 100, 5), c);
	assert_null(conn_table__lookup(t, 100, 6));
	assert_null(conn_table__lookup(t, 101, 5));
	assert_int_equal(conn_table__count(t), 1);
	conn_table__remove(t, c);
	assert_null(conn_table__lookup(t, 100, 5));
	assert_int_equal(conn_table__count(t), 0);
	conn_table__free(t);
}

/* A reused fd number is a new connection: insert replaces, never duplicates. */
static void test_fd_reuse_replaces(void **state)
{
	struct conn_table *t = conn_table__new(8, NULL, NULL);
	struct nx_conn *a, *b;

	a = conn_table__insert(t, 7, 9, NULL, NULL);
	a->sock_id = 1;
	a->bytes_in = 100;
	b = conn_table__insert(t, 7, 9, NULL, NULL);
	assert_int_equal(conn_table__count(t), 1);
	assert_int_equal(b->sock_id, 0);
	assert_int_equal(b->bytes_in, 0);
	assert_ptr_equal(conn_table__lookup(t, 7, 9), b);
	conn_table__free(t);
}

/* Full table: the least recently touched connection goes, and is reported and counted. */
static void test_bound_evicts_lru(void **state)
{
	struct conn_table *t = conn_table__new(4, NULL, NULL);
	struct nx_conn ev;

	for (uint32_t fd = 1; fd <= 4; fd++)
		conn_table__insert(t, 1, fd, NULL, &ev);
	assert_int_equal(ev.tgid, 0);
	conn_table__touch(t, conn_table__lookup(t, 1, 1)); /* fd 2 is now the oldest */
	conn_table__insert(t, 1, 5, NULL, &ev);
	assert_int_equal(ev.tgid, 1);
	assert_int_equal(ev.fd, 2);
	assert_null(conn_table__lookup(t, 1, 2));
	assert_non_null(conn_table__lookup(t, 1, 1));
	assert_non_null(conn_table__lookup(t, 1, 5));
	assert_int_equal(conn_table__count(t), 4);
	assert_int_equal(conn_table__evictions(t), 1);

	/* Many more inserts than capacity: memory and count stay bounded. */
	for (uint32_t fd = 100; fd < 10100; fd++)
		conn_table__insert(t, 2, fd, NULL, NULL);
	assert_int_equal(conn_table__count(t), 4);
	for (uint32_t fd = 10096; fd < 10100; fd++)
		assert_non_null(conn_table__lookup(t, 2, fd));
	conn_table__free(t);
}

static int seen;
static void count_cb(void *ctx, const struct nx_conn *c)
{
	seen++;
	assert_int_equal(c->tgid, *(uint32_t *)ctx);
}

static void test_process_list(void **state)
{
	struct conn_table *t = conn_table__new(16, NULL, NULL);
	struct conn_list a = CONN_LIST_INIT, b = CONN_LIST_INIT;
	uint32_t tgid = 10;

	for (uint32_t fd = 0; fd < 5; fd++)
		conn_table__insert(t, 10, fd, &a, NULL);
	for (uint32_t fd = 0; fd < 3; fd++)
		conn_table__insert(t, 11, fd, &b, NULL);
	assert_int_equal(a.count, 5);
	conn_table__remove(t, conn_table__lookup(t, 10, 2)); /* middle of the list */
	conn_table__remove(t, conn_table__lookup(t, 10, 4)); /* its head */
	assert_int_equal(a.count, 3);
	/* Replacing a connection keeps the list consistent. */
	conn_table__insert(t, 10, 0, &a, NULL);
	assert_int_equal(a.count, 3);
	seen = 0;
	conn_table__remove_list(t, &a, count_cb, &tgid);
	assert_int_equal(seen, 3);
	assert_int_equal(a.count, 0);
	assert_int_equal(a.head, -1);
	assert_int_equal(conn_table__count(t), 3);
	assert_non_null(conn_table__lookup(t, 11, 2));
	assert_null(conn_table__lookup(t, 10, 1));
	conn_table__free(t);
}

/* Eviction of a connection that belongs to a process unlinks it from that process's list. */
static void test_eviction_unlinks_list(void **state)
{
	struct conn_table *t = conn_table__new(2, NULL, NULL);
	struct conn_list a = CONN_LIST_INIT;

	conn_table__insert(t, 1, 1, &a, NULL);
	conn_table__insert(t, 1, 2, &a, NULL);
	conn_table__insert(t, 2, 1, NULL, NULL);
	assert_int_equal(a.count, 1);
	conn_table__remove_list(t, &a, NULL, NULL);
	assert_int_equal(conn_table__count(t), 1);
	conn_table__free(t);
}

static int released;
static void on_release(void *ctx, struct nx_conn *c)
{
	released++;
	assert_ptr_equal(c->proto, ctx);
}

/* Every way out of the table releases the connection's attached state exactly once. */
static void test_release(void **state)
{
	static int token;
	struct conn_table *t = conn_table__new(2, on_release, &token);
	struct conn_list l = CONN_LIST_INIT;

	released = 0;
	conn_table__insert(t, 1, 1, &l, NULL)->proto = &token;
	conn_table__insert(t, 1, 1, &l, NULL)->proto = &token; /* replaced */
	assert_int_equal(released, 1);
	conn_table__insert(t, 1, 2, &l, NULL)->proto = &token;
	conn_table__insert(t, 1, 3, &l, NULL)->proto = &token; /* evicts fd 1 */
	assert_int_equal(released, 2);
	conn_table__remove(t, conn_table__lookup(t, 1, 2));
	assert_int_equal(released, 3);
	conn_table__insert(t, 1, 4, &l, NULL)->proto = &token;
	conn_table__remove_list(t, &l, NULL, NULL);
	assert_int_equal(released, 5);
	conn_table__insert(t, 1, 5, NULL, NULL)->proto = &token;
	conn_table__free(t); /* live connections are released too */
	assert_int_equal(released, 6);
}

static void test_bad_capacity(void **state)
{
	assert_null(conn_table__new(0, NULL, NULL));
	conn_table__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_lookup_remove),
		cmocka_unit_test(test_fd_reuse_replaces),
		cmocka_unit_test(test_bound_evicts_lru),
		cmocka_unit_test(test_process_list),
		cmocka_unit_test(test_eviction_unlinks_list),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_bad_capacity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
