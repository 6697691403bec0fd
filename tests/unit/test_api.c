// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * agent/export/api.c's renderers on their edge cases: what /api/v1/database/relations answers
 * when the PostgreSQL server has no USDT probes (no rows at all; this passed a NULL array to
 * qsort, which the sanitizer build aborts on).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <jansson.h>
#include "export/api.h"
#include "stats/postgres_stats.h"

static json_t *render_relations(const struct postgres_snapshot *s)
{
	char *doc = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&doc, &len);
	json_t *root;

	assert_non_null(f);
	assert_int_equal(api__render_db_relations(f, s, NULL), 0);
	fclose(f);
	root = json_loads(doc, 0, NULL);
	free(doc);
	assert_non_null(root);
	return root;
}

static void test_relations_without_usdt(void **state)
{
	struct postgres_snapshot *s = calloc(1, sizeof(*s));
	json_t *root;

	assert_non_null(s);
	for (int i = 0; i < 2; i++) { /* with and without a snapshot yet */
		root = render_relations(i ? s : NULL);
		assert_true(json_is_false(json_object_get(root, "usdt")));
		assert_true(json_is_array(json_object_get(root, "relations")));
		assert_int_equal(json_array_size(json_object_get(root, "relations")), 0);
		json_decref(root);
	}
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relations_without_usdt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
