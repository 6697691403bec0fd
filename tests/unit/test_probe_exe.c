// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* probe_exe: one slot per executable, the processes anchoring it, freed with the last of them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>
#include "capture/probe_exe.h"

/* This test's own executable: found, added, found again in the same slot. */
static void test_find_add_find(void **state)
{
	struct probe_exes set = {};
	char exe[PROBE_EXE_LEN], err[128];
	struct probe_exe id;
	int slot = -1, again = -1;

	assert_int_equal(probe_exes__find(&set, getpid(), "test", exe, &id, &slot, err,
					  sizeof(err)), 1);
	assert_int_equal(slot, 0);
	probe_exes__add(&set, slot, &id);
	assert_int_equal(set.n, 1);
	assert_int_equal(probe_exes__find(&set, getpid(), "test", exe, &id, &again, err,
					  sizeof(err)), 0);
	assert_int_equal(again, 0);
	/* a process that does not exist: an error, not a slot */
	assert_true(probe_exes__find(&set, 0x3fffffff, "test", exe, &id, &again, err,
				     sizeof(err)) < 0);
}

static void test_release_frees_with_last_anchor(void **state)
{
	struct probe_exes set = {};
	struct probe_exe a = { .dev = 1, .ino = 10 }, b = { .dev = 1, .ino = 20 };

	probe_exes__add(&set, 0, &a);
	probe_exes__add(&set, 1, &b);
	probe_exes__anchor(&set, 0, 100);
	probe_exes__anchor(&set, 0, 101);
	probe_exes__anchor(&set, 0, 101); /* once per process */
	probe_exes__anchor(&set, 1, 200);
	assert_int_equal(set.e[0].n_anchors, 2);
	assert_int_equal(probe_exes__release(&set, 999), -1); /* not an anchor: a forked child */
	assert_int_equal(probe_exes__release(&set, 100), -1); /* 101 still runs it */
	assert_int_equal(probe_exes__release(&set, 200), 1);  /* b's last: slot 1 is free */
	assert_false(set.e[1].used);
	assert_int_equal(set.n, 1);
	assert_int_equal(probe_exes__release(&set, 101), 0);
	assert_int_equal(set.n, 0);
	/* a freed slot is reused */
	probe_exes__add(&set, 1, &a);
	assert_true(set.e[1].used);
	assert_int_equal(set.e[1].n_anchors, 0);
}

/* More anchors than remembered: the executable stays attached (one we forgot may still run). */
static void test_overflow_pins(void **state)
{
	struct probe_exes set = {};
	struct probe_exe a = { .dev = 1, .ino = 10 };

	probe_exes__add(&set, 0, &a);
	for (uint32_t i = 0; i < PROBE_MAX_ANCHORS + 5; i++)
		probe_exes__anchor(&set, 0, 1000 + i);
	assert_true(set.e[0].pinned);
	for (uint32_t i = 0; i < PROBE_MAX_ANCHORS + 5; i++)
		assert_int_equal(probe_exes__release(&set, 1000 + i), -1);
	assert_true(set.e[0].used);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_add_find),
		cmocka_unit_test(test_release_frees_with_last_anchor),
		cmocka_unit_test(test_overflow_pins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
