// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Relations in the PostgreSQL snapshot (stats/pg_relations.c): attribution to a server and
 * database, names from a catalog snapshot, what is asked of the catalog, unused indexes, the
 * capped and sticky metric series; the helper's line format (pg_catalog__parse_rel); and what
 * /api/v1/database/indexes and the relation metrics make of it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "capture/pg_catalog.h" /* pg_catalog__parse_rel */
#include "export/api.h"
#include "export/prom.h"
#include "model/model_fill.h"
#include "stats/pg_relations.h"

#define SHOP 16384

static struct pgc_rel shop_rels[] = {
	{ 1000, 'r', false, "public", "orders", "" },
	{ 1001, 'i', false, "public", "orders_pkey", "orders" },
	{ 1002, 'i', false, "public", "orders_unused_idx", "orders" },
	{ 1003, 'i', false, "pg_catalog", "pg_class_oid_index", "pg_class" },
	{ 1004, 't', false, "pg_toast", "pg_toast_1000", "orders" },
};
static struct pgc_rel shared_rels[] = {
	{ 1262, 'r', true, "pg_catalog", "pg_database", "" },
};

static struct pgc_db cat_dbs[] = {
	{ .server = "s1", .oid = SHOP, .datname = "shop", .n_rels = 5, .rels = shop_rels },
	{ .server = "s1", .oid = 0, .datname = "(shared)", .n_rels = 1, .rels = shared_rels },
};
static const struct pg_catalog_snapshot cat = { .n_dbs = 2, .dbs = cat_dbs };

struct ask {
	char server[32];
	uint32_t pid, oid;
	uint64_t sig;
};
static struct ask asks[16];
static int n_asks;

static void want(void *ctx, const char *server, uint32_t pid, uint32_t oid, uint64_t sig)
{
	if (n_asks < 16)
		asks[n_asks++] = (struct ask){ "", pid, oid, sig };
	snprintf(asks[n_asks - 1].server, sizeof(asks[0].server), "%s", server);
}

static const struct ask *asked(const char *server, uint32_t oid)
{
	for (int i = 0; i < n_asks; i++)
		if (!strcmp(asks[i].server, server) && asks[i].oid == oid)
			return &asks[i];
	return NULL;
}

/* Two servers; s1 has database shop (oid 16384) as the wire learned it. */
static struct postgres_snapshot *snapshot(void)
{
	struct postgres_snapshot *s = calloc(1, sizeof(*s));

	s->n_servers = 2;
	s->servers = calloc(2, sizeof(*s->servers));
	strcpy(s->servers[0].server, "s1");
	s->servers[0].pid = 100;
	s->servers[0].n_dbs = 1;
	s->servers[0].dbs = calloc(1, sizeof(*s->servers[0].dbs));
	strcpy(s->servers[0].dbs[0].database, "shop");
	s->servers[0].dbs[0].oid = SHOP;
	strcpy(s->servers[1].server, "s2");
	s->servers[1].pid = 200;
	return s;
}

static const struct ps_rel_snap *row(const struct postgres_snapshot *s, uint32_t db, uint32_t node)
{
	for (int i = 0; i < s->n_relations; i++)
		if (s->relations[i].db_oid == db && s->relations[i].relfilenode == node)
			return &s->relations[i];
	return NULL;
}

static void test_fill(void **state)
{
	const struct pg_rel_count rows[] = {
		{ SHOP, 1001, 7, 1, 0 },  { SHOP, 1000, 10, 5, 0 }, { SHOP, 2000, 1, 0, 0 },
		{ 0, 1262, 3, 0, 0 },     { 99999, 5, 1, 1, 0 },
	};
	struct pg_relations *r = pg_relations__new();
	struct postgres_snapshot *s = snapshot();
	const struct ps_rel_snap *x;
	const struct ask *a;
	uint64_t sig;

	n_asks = 0;
	assert_int_equal(pg_relations__fill(r, s, rows, 5, &cat, want, NULL), 0);
	assert_int_equal(s->n_relations, 5);
	/* most accessed first */
	assert_int_equal(s->relations[0].relfilenode, 1000);
	assert_int_equal(s->relations[1].relfilenode, 1001);
	x = row(s, SHOP, 1001);
	assert_true(x->named);
	assert_int_equal(x->server, 0);
	assert_string_equal(x->database, "shop");
	assert_string_equal(x->kind, "index");
	assert_string_equal(x->name, "orders_pkey");
	assert_string_equal(x->table, "orders");
	assert_string_equal(row(s, SHOP, 1000)->kind, "table");
	/* a filenode the catalog does not have yet: unnamed, and the catalog is asked */
	assert_false(row(s, SHOP, 2000)->named);
	a = asked("s1", SHOP);
	assert_non_null(a);
	assert_int_equal(a->pid, 100);
	assert_int_not_equal(a->sig, 0);
	sig = a->sig;
	/* only s1 for its own database */
	assert_null(asked("s2", SHOP));
	/* shared catalogs: "(shared)", named from any server's catalog */
	x = row(s, 0, 1262);
	assert_string_equal(x->database, "(shared)");
	assert_int_equal(x->server, -1);
	assert_string_equal(x->name, "pg_database");
	/* user relations take metric series; catalogs (named or by number) never do */
	assert_true(row(s, SHOP, 1000)->metric);
	assert_true(row(s, SHOP, 1001)->metric);
	assert_false(row(s, 0, 1262)->metric);
	assert_false(row(s, 99999, 5)->metric);
	/* a database no server is known to have: every server is asked */
	assert_int_equal(row(s, 99999, 5)->server, -1);
	assert_non_null(asked("s1", 99999));
	assert_non_null(asked("s2", 99999));
	/* unused: the user index nobody touched, not the system one, not the used one */
	assert_int_equal(s->n_unused, 1);
	assert_string_equal(s->unused[0].name, "orders_unused_idx");
	assert_string_equal(s->unused[0].table, "orders");
	assert_string_equal(s->unused[0].database, "shop");
	assert_int_equal(s->unused[0].server, 0);
	postgres_snapshot__free(s);

	/* the same unknowns give the same signature (the catalog ignores a repeat) */
	s = snapshot();
	n_asks = 0;
	assert_int_equal(pg_relations__fill(r, s, rows, 5, &cat, want, NULL), 0);
	assert_int_equal(asked("s1", SHOP)->sig, sig);
	postgres_snapshot__free(s);
	pg_relations__free(r);
}

static void test_no_catalog(void **state)
{
	const struct pg_rel_count rows[] = { { SHOP, 1001, 7, 1, 0 } };
	struct pg_relations *r = pg_relations__new();
	struct postgres_snapshot *s = snapshot();

	n_asks = 0;
	assert_int_equal(pg_relations__fill(r, s, rows, 1, NULL, NULL, NULL), 0);
	assert_false(s->catalog);
	assert_false(s->relations[0].named);
	assert_string_equal(s->relations[0].database, "shop");
	assert_int_equal(s->n_unused, 0);
	assert_int_equal(n_asks, 0);
	postgres_snapshot__free(s);
	pg_relations__free(r);
}

/*
 * Two clusters on one node: both have a database of oid SHOP and a file 1000 in it (initdb makes
 * the same catalog). The probes' postmaster pid tells them apart; each server's row is its own,
 * with its own series, and an index used on one server is still unused on the other.
 */
static void test_two_clusters(void **state)
{
	const struct pg_rel_count rows[] = {
		{ SHOP, 1000, 10, 5, 100 }, /* s1's orders */
		{ SHOP, 1000, 3, 0, 200 },  /* s2's file of the same number */
		{ SHOP, 1002, 4, 0, 200 },  /* s2 uses orders_unused_idx; s1 does not */
	};
	struct pg_relations *r = pg_relations__new();
	struct postgres_snapshot *s = snapshot();
	int s1 = -1, s2 = -1, unused_s1 = 0, unused_s2 = 0;

	/* s2 learned its database shop on the wire too */
	s->servers[1].n_dbs = 1;
	s->servers[1].dbs = calloc(1, sizeof(*s->servers[1].dbs));
	strcpy(s->servers[1].dbs[0].database, "shop2");
	s->servers[1].dbs[0].oid = SHOP;
	assert_int_equal(pg_relations__fill(r, s, rows, 3, &cat, NULL, NULL), 0);
	assert_int_equal(s->n_relations, 3);
	for (int i = 0; i < s->n_relations; i++)
		if (s->relations[i].relfilenode == 1000) {
			if (s->relations[i].server == 0)
				s1 = i;
			else if (s->relations[i].server == 1)
				s2 = i;
		}
	assert_true(s1 >= 0 && s2 >= 0);
	assert_int_equal(s->relations[s1].hits, 10);
	assert_string_equal(s->relations[s1].database, "shop");
	assert_int_equal(s->relations[s2].hits, 3);
	assert_string_equal(s->relations[s2].database, "shop2");
	/* names do not cross servers: the catalog knows s1's file 1000, not s2's */
	assert_true(s->relations[s1].named);
	assert_true(s->relations[s1].metric);
	assert_false(s->relations[s2].named);
	/* the catalog lists orders_unused_idx for s1 only: s2's use of its own file 1002 does not
	 * make s1's index used */
	for (int i = 0; i < s->n_unused; i++) {
		unused_s1 += s->unused[i].server == 0 && s->unused[i].relfilenode == 1002;
		unused_s2 += s->unused[i].server == 1;
	}
	assert_int_equal(unused_s1, 1);
	assert_int_equal(unused_s2, 0);
	postgres_snapshot__free(s);
	pg_relations__free(r);
}

/* The first PS_REL_METRIC_CAP relations by access keep their series; a later, busier one goes
 * to "(other)" so that "(other)" never loses what it counted. */
static void test_metric_cap(void **state)
{
	int n = PS_REL_METRIC_CAP + 20;
	struct pg_rel_count *rows = calloc(n + 1, sizeof(*rows));
	struct pg_relations *r = pg_relations__new();
	struct postgres_snapshot *s = snapshot();
	int metric = 0;

	for (int i = 0; i < n; i++)
		rows[i] = (struct pg_rel_count){ SHOP, 20000 + i, 1000 - i, 0, 0 };
	assert_int_equal(pg_relations__fill(r, s, rows, n, NULL, NULL, NULL), 0);
	for (int i = 0; i < s->n_relations; i++)
		metric += s->relations[i].metric;
	assert_int_equal(metric, PS_REL_METRIC_CAP);
	assert_true(row(s, SHOP, 20000)->metric);
	assert_false(row(s, SHOP, 20000 + n - 1)->metric);
	postgres_snapshot__free(s);

	rows[n] = (struct pg_rel_count){ SHOP, 99999, 1000000, 0, 0 };
	s = snapshot();
	assert_int_equal(pg_relations__fill(r, s, rows, n + 1, NULL, NULL, NULL), 0);
	assert_false(row(s, SHOP, 99999)->metric);
	assert_true(row(s, SHOP, 20000 + PS_REL_METRIC_CAP - 1)->metric);

	/* the metrics: one series per chosen relation, the rest summed into (other) */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct prom p = { .f = f };
	struct metric_model m;

	metric_model__init(&m, 0, 0);
	model__fill_relations(&m, s);
	prom__render_model(&p, &m);
	metric_model__free(&m);
	fclose(f);
	assert_non_null(strstr(text, "nexus_postgres_relation_buffer_hits_total{server=\"s1\","
				     "database=\"shop\",relation=\"20000\",kind=\"unknown\"} 1000"));
	/* (other): 20 relations of 1000-100 .. 1000-119 hits, and the busy newcomer */
	long other = 1000000;
	for (int i = PS_REL_METRIC_CAP; i < n; i++)
		other += 1000 - i;
	char want_line[256];
	snprintf(want_line, sizeof(want_line),
		 "nexus_postgres_relation_buffer_hits_total{server=\"s1\",database=\"shop\","
		 "relation=\"(other)\",kind=\"(other)\"} %ld\n", other);
	assert_non_null(strstr(text, want_line));
	free(text);
	postgres_snapshot__free(s);
	pg_relations__free(r);
	free(rows);
}

static void test_parse_rel(void **state)
{
	struct pgc_rel rel;
	uint32_t db;

	assert_int_equal(pg_catalog__parse_rel("R\t5\t16394\ti\t0\tpublic\tnx_orders_customer_idx\t"
					       "nx_orders", &rel, &db), 1);
	assert_int_equal(db, 5);
	assert_int_equal(rel.filenode, 16394);
	assert_int_equal(rel.kind, 'i');
	assert_false(rel.shared);
	assert_string_equal(rel.schema, "public");
	assert_string_equal(rel.name, "nx_orders_customer_idx");
	assert_string_equal(rel.table, "nx_orders");
	assert_int_equal(pg_catalog__parse_rel("R\t0\t1262\tr\t1\tpg_catalog\tpg_database\t",
					       &rel, &db), 1);
	assert_true(rel.shared);
	assert_string_equal(rel.table, "");
	/* other lines are not relations; broken ones are errors, never a half-filled row */
	assert_int_equal(pg_catalog__parse_rel("D\t5\tpostgres", &rel, &db), 0);
	assert_int_equal(pg_catalog__parse_rel("R\t5\t16394\ti\t0\tpublic\tname", &rel, &db),
			 -EINVAL);
	assert_int_equal(pg_catalog__parse_rel("R\tx\t16394\ti\t0\ts\tn\tt", &rel, &db), -EINVAL);
	assert_int_equal(pg_catalog__parse_rel("R\t5\t99999999999\ti\t0\ts\tn\tt", &rel, &db),
			 -EINVAL);
	assert_int_equal(pg_catalog__parse_rel("R\t5\t1\tix\t0\ts\tn\tt", &rel, &db), -EINVAL);
	assert_string_equal(pg_names__kind('m'), "materialized_view");
	assert_string_equal(pg_names__kind('?'), "other");
}

static void test_indexes_api(void **state)
{
	const struct pg_rel_count rows[] = { { SHOP, 1001, 3, 1, 0 }, { SHOP, 1000, 10, 5, 0 } };
	struct pg_relations *r = pg_relations__new();
	struct postgres_snapshot *s = snapshot();
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	s->relations_usdt = true;
	s->relations_since = 1796601600; /* 2026-12-07T00:00:00Z */
	assert_int_equal(pg_relations__fill(r, s, rows, 2, &cat, NULL, NULL), 0);
	assert_int_equal(api__render_db_indexes(f, s), 0);
	fclose(f);
	assert_non_null(strstr(text, "\"server\":\"s1\",\"databases\":[{\"database\":\"shop\""));
	assert_non_null(strstr(text, "\"schema\":\"public\",\"table\":\"orders\",\"index\":"
				     "\"orders_pkey\",\"relfilenode\":1001,\"hits\":3,\"reads\":1,"
				     "\"hit_ratio\":0.75"));
	assert_non_null(strstr(text, "\"unused_indexes\":[{\"schema\":\"public\",\"table\":"
				     "\"orders\",\"index\":\"orders_unused_idx\",\"relfilenode\":1002,"
				     "\"unused_since\":\"2026-12-07T00:00:00Z\"}]"));
	/* the table is not an index */
	assert_null(strstr(text, "\"index\":\"orders\""));
	free(text);
	postgres_snapshot__free(s);
	pg_relations__free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill),
		cmocka_unit_test(test_no_catalog),
		cmocka_unit_test(test_two_clusters),
		cmocka_unit_test(test_metric_cap),
		cmocka_unit_test(test_parse_rel),
		cmocka_unit_test(test_indexes_api),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
