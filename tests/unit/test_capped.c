// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The capped table (agent/stats/capped.c): found, made while there is room, then the one shared
 * "(other)" entry, made once, with the overflow counted; a failed make is NULL, not a crash. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "stats/capped.h"
#include "util.h"

struct entry {
	int id;
	char name[16];
};

static int made, fail_next;

static void *make(const char *name)
{
	struct entry *e;

	if (fail_next) {
		fail_next = 0;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (e) {
		e->id = ++made;
		nx_strlcpy(e->name, sizeof(e->name), name);
	}
	return e;
}

static struct entry *get(void **slots, int *n, const char *name, uint64_t *dropped)
{
	return capped__get(slots, n, 2, offsetof(struct entry, name), name, make, dropped);
}

static void test_capped(void **state)
{
	void *slots[3] = { NULL };
	uint64_t dropped = 0;
	struct entry *a, *b, *o;
	int n = 0;

	made = 0;
	a = get(slots, &n, "a", &dropped);
	b = get(slots, &n, "b", &dropped);
	assert_int_equal(n, 2);
	assert_ptr_equal(get(slots, &n, "a", &dropped), a);
	assert_ptr_equal(get(slots, &n, "b", &dropped), b);
	o = get(slots, &n, "c", &dropped); /* past the cap */
	assert_string_equal(o->name, NX_OTHER);
	assert_ptr_equal(get(slots, &n, "d", &dropped), o); /* the same (other), made once */
	assert_int_equal(made, 3);
	assert_int_equal(dropped, 2);
	assert_int_equal(n, 2);
	assert_ptr_equal(get(slots, &n, "a", NULL), a); /* still found */
	for (int i = 0; i < 3; i++)
		free(slots[i]);
}

static void test_out_of_memory(void **state)
{
	void *slots[3] = { NULL };
	int n = 0;

	fail_next = 1;
	assert_null(get(slots, &n, "a", NULL));
	assert_int_equal(n, 0); /* nothing half-added */
	assert_non_null(get(slots, &n, "a", NULL));
	assert_int_equal(n, 1);
	free(slots[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capped),
		cmocka_unit_test(test_out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
