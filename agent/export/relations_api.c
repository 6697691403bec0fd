// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /api/v1/database/relations and /api/v1/database/indexes, from the relations in the PostgreSQL
 * snapshot (stats/pg_relations.c fills them; names only with --pg-catalog).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "export/api.h"

#define TOP_RELATIONS 50
#define MAX_GROUPS 256 /* (server, database) pairs in /indexes */

static json_t *rfc3339(double t)
{
	char buf[32];
	time_t sec = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&sec, &tm))
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static const char *server_name(const struct postgres_snapshot *s, int i)
{
	return i >= 0 && i < s->n_servers ? s->servers[i].server : NULL;
}

static int by_reads(const void *a, const void *b)
{
	const struct ps_rel_snap *x = *(const struct ps_rel_snap *const *)a;
	const struct ps_rel_snap *y = *(const struct ps_rel_snap *const *)b;

	return x->reads < y->reads ? 1 : x->reads > y->reads ? -1 : 0;
}

int api__render_db_relations(FILE *f, const struct postgres_snapshot *s)
{
	int n = s ? s->n_relations : 0;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): rows is an array of pointers, sorted
	const struct ps_rel_snap **rows = malloc((n + 1) * sizeof(*rows));
	json_t *rels = json_array();

	if (!rows) {
		json_decref(rels);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		rows[i] = &s->relations[i];
	qsort(rows, n, sizeof(*rows), by_reads); // NOLINT(bugprone-sizeof-expression): pointers
	for (int i = 0; rels && i < n && i < TOP_RELATIONS; i++) {
		const struct ps_rel_snap *r = rows[i];
		json_t *o = json_pack("{s:s?, s:s?, s:I, s:I, s:I, s:I, s:o}", "server",
				      server_name(s, r->server), "database",
				      r->database[0] ? r->database : NULL, "database_oid",
				      (json_int_t)r->db_oid, "relfilenode",
				      (json_int_t)r->relfilenode, "buffer_hits", (json_int_t)r->hits,
				      "buffer_reads", (json_int_t)r->reads, "hit_ratio",
				      api__ratio(r->hits, r->reads));

		/* Names only where the catalog gave them; without it, relfilenode is all there is. */
		if (o && r->named) {
			json_object_set_new(o, "schema", json_string(r->schema));
			json_object_set_new(o, "name", json_string(r->name));
			json_object_set_new(o, "kind", json_string(r->kind));
			if (r->table[0])
				json_object_set_new(o, "table", json_string(r->table));
		}
		json_array_append_new(rels, o);
	}
	free(rows);
	/* database_oid 0 holds the shared catalogs. */
	return api__dump(f, json_pack("{s:b, s:b, s:o, s:o}", "usdt", s && s->relations_usdt,
				      "catalog", s && s->catalog, "since",
				      rfc3339(s ? s->relations_since : 0), "relations", rels));
}

struct group {
	int server;
	const char *database;
	json_t *indexes, *unused;
};

static struct group *group_of(struct group *g, int *n, int server, const char *database)
{
	for (int i = 0; i < *n; i++)
		if (g[i].server == server && !strcmp(g[i].database, database))
			return &g[i];
	if (*n == MAX_GROUPS)
		return NULL;
	g[*n] = (struct group){ server, database, json_array(), json_array() };
	return &g[(*n)++];
}

int api__render_db_indexes(FILE *f, const struct postgres_snapshot *s)
{
	struct group *g = calloc(MAX_GROUPS, sizeof(*g));
	json_t *servers = json_array(), *since;
	int n = 0;

	if (!g) {
		json_decref(servers);
		return -ENOMEM;
	}
	since = rfc3339(s ? s->relations_since : 0);
	for (int i = 0; s && i < s->n_relations; i++) {
		const struct ps_rel_snap *r = &s->relations[i];
		struct group *gr;

		if (!r->named || strcmp(r->kind, "index") || !strcmp(r->schema, "pg_catalog") ||
		    !strcmp(r->schema, "information_schema") || !strncmp(r->schema, "pg_toast", 8) ||
		    !(gr = group_of(g, &n, r->server, r->database)))
			continue;
		json_array_append_new(
			gr->indexes,
			json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "schema", r->schema, "table",
				  r->table, "index", r->name, "relfilenode", (json_int_t)r->relfilenode,
				  "hits", (json_int_t)r->hits, "reads", (json_int_t)r->reads,
				  "hit_ratio", api__ratio(r->hits, r->reads)));
	}
	for (int i = 0; s && i < s->n_unused; i++) {
		const struct ps_unused_index *u = &s->unused[i];
		struct group *gr = group_of(g, &n, u->server, u->database);

		if (gr)
			json_array_append_new(
				gr->unused,
				json_pack("{s:s, s:s, s:s, s:I, s:O}", "schema", u->schema, "table",
					  u->table, "index", u->name, "relfilenode",
					  (json_int_t)u->relfilenode, "unused_since", since));
	}
	/* One entry per server, its databases in the order first seen. */
	for (int i = 0; i < n; i++) {
		json_t *dbs = json_array();

		if (g[i].database == NULL)
			continue;
		for (int j = i; j < n; j++) {
			if (g[j].server != g[i].server || !g[j].database)
				continue;
			json_array_append_new(dbs, json_pack("{s:s, s:o, s:o}", "database",
							     g[j].database, "indexes", g[j].indexes,
							     "unused_indexes", g[j].unused));
			if (j != i)
				g[j].database = NULL;
		}
		json_array_append_new(servers, json_pack("{s:s?, s:o}", "server",
							 server_name(s, g[i].server), "databases",
							 dbs));
		g[i].database = NULL;
	}
	free(g);
	return api__dump(f, json_pack("{s:b, s:b, s:o, s:I, s:I, s:o}", "usdt",
				      s && s->relations_usdt, "catalog", s && s->catalog, "since",
				      since, "unused_dropped",
				      (json_int_t)(s ? s->unused_dropped : 0), "catalog_errors",
				      (json_int_t)(s ? s->catalog_errors : 0), "servers", servers));
}

int api__db_relations(void *ctx, const struct http_request *req, struct http_response *resp)
{
	return api__serve_pg(ctx, resp, api__render_db_relations);
}

int api__db_indexes(void *ctx, const struct http_request *req, struct http_response *resp)
{
	return api__serve_pg(ctx, resp, api__render_db_indexes);
}
