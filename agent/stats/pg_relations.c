// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stats/pg_relations.h"
#include "util.h"

#define MAX_GROUPS 64 /* (server, database) pairs asked about per fill */

/* A relation of one server: two clusters on a node have the same oids and filenodes. */
struct rel_id {
	uint32_t server_pid, db_oid, relfilenode;
};

struct pg_relations {
	struct rel_id metric[PS_REL_METRIC_CAP]; /* sorted */
	int n_metric;
};

struct pg_relations *pg_relations__new(void)
{
	return calloc(1, sizeof(struct pg_relations));
}

void pg_relations__free(struct pg_relations *r)
{
	free(r);
}

static int cmp_u32(uint32_t x, uint32_t y)
{
	return x < y ? -1 : x > y;
}

static int cmp_id(const void *a, const void *b)
{
	const struct rel_id *x = a, *y = b;

	if (x->server_pid != y->server_pid)
		return cmp_u32(x->server_pid, y->server_pid);
	if (x->db_oid != y->db_oid)
		return cmp_u32(x->db_oid, y->db_oid);
	return cmp_u32(x->relfilenode, y->relfilenode);
}

/* The server's postmaster pid (0: not known) names it here: indexes into servers[] move. */
static struct rel_id id_of(const struct postgres_snapshot *s, int server, uint32_t db,
			   uint32_t node)
{
	return (struct rel_id){ server >= 0 ? s->servers[server].pid : 0, db, node };
}

static int by_access(const void *a, const void *b)
{
	const struct ps_rel_snap *x = a, *y = b;
	uint64_t u = x->hits + x->reads, v = y->hits + y->reads;

	if (u != v)
		return u < v ? 1 : -1;
	if (x->server != y->server)
		return x->server < y->server ? -1 : 1;
	if (x->db_oid != y->db_oid)
		return cmp_u32(x->db_oid, y->db_oid);
	return cmp_u32(x->relfilenode, y->relfilenode);
}

static int server_index(const struct postgres_snapshot *s, const char *name)
{
	for (int i = 0; name && name[0] && i < s->n_servers; i++)
		if (!strcmp(s->servers[i].server, name))
			return i;
	return -1;
}

/* The server whose postmaster is pid, or -1. */
static int server_of_pid(const struct postgres_snapshot *s, uint32_t pid)
{
	for (int i = 0; pid && i < s->n_servers; i++)
		if (s->servers[i].pid == pid)
			return i;
	return -1;
}

/* The database named oid on server i (which may be -1: any server), or -1 in *server. */
static bool find_db(const struct postgres_snapshot *s, int only, uint32_t oid, int *server,
		    char *database)
{
	for (int i = 0; i < s->n_servers; i++)
		for (int j = 0; (only < 0 || i == only) && j < s->servers[i].n_dbs; j++)
			if (s->servers[i].dbs[j].oid == oid) {
				*server = i;
				snprintf(database, PS_NAME_LEN, "%s", s->servers[i].dbs[j].database);
				return true;
			}
	return false;
}

/* The (server, database) of a database oid: the server is the one whose postmaster the probes
 * saw (pid) when it is known; the database from the wire's own figures first, then from the
 * catalog (which knows each server's pg_database). */
static void attribute(const struct postgres_snapshot *s, const struct pg_catalog_snapshot *cat,
		      uint32_t pid, uint32_t oid, int *server, char *database)
{
	int by_pid = server_of_pid(s, pid);
	const struct pgc_db *d;

	*server = by_pid;
	database[0] = 0;
	if (!oid) {
		snprintf(database, PS_NAME_LEN, "(shared)");
		return;
	}
	if (find_db(s, by_pid, oid, server, database))
		return;
	d = pg_names__db(cat, by_pid >= 0 ? s->servers[by_pid].server : NULL, oid);
	if (d) {
		if (by_pid < 0)
			*server = server_index(s, d->server);
		snprintf(database, PS_NAME_LEN, "%s", d->datname);
	}
}

static void name_row(struct ps_rel_snap *row, const struct pgc_rel *rel)
{
	row->named = true;
	snprintf(row->kind, sizeof(row->kind), "%s", pg_names__kind(rel->kind));
	snprintf(row->schema, sizeof(row->schema), "%s", rel->schema);
	snprintf(row->name, sizeof(row->name), "%s", rel->name);
	snprintf(row->table, sizeof(row->table), "%s", rel->table);
}

static bool user_schema(const char *s)
{
	return strcmp(s, "pg_catalog") && strcmp(s, "information_schema") &&
	       strncmp(s, "pg_toast", 8) && strncmp(s, "pg_temp_", 8);
}

/* PostgreSQL's own catalogs: by schema when named, else by file number (below
 * FirstNormalObjectId, 16384, until a VACUUM FULL renumbers one). */
static bool system_rel(const struct ps_rel_snap *row)
{
	if (!row->db_oid)
		return true;
	return row->named ? !user_schema(row->schema) : row->relfilenode < 16384;
}

/*
 * Relations past the metric cap keep going to "(other)"; the first ones by access keep theirs.
 * System catalogs never take a series (they go to "(other)"): backends' planning and the
 * catalog reads of --pg-catalog itself would otherwise fill the cap before the user's tables.
 */
static void pick_metric(struct pg_relations *r, const struct postgres_snapshot *s,
			struct ps_rel_snap *rows, int n)
{
	int added = 0;

	for (int i = 0; i < n; i++) {
		struct rel_id k = id_of(s, rows[i].server, rows[i].db_oid, rows[i].relfilenode);

		rows[i].metric = bsearch(&k, r->metric, r->n_metric, sizeof(k), cmp_id) != NULL;
	}
	for (int i = 0; i < n && r->n_metric + added < PS_REL_METRIC_CAP; i++)
		if (!rows[i].metric && rows[i].hits + rows[i].reads && !system_rel(&rows[i])) {
			rows[i].metric = true;
			r->metric[r->n_metric + added++] =
				id_of(s, rows[i].server, rows[i].db_oid, rows[i].relfilenode);
		}
	if (added) {
		r->n_metric += added;
		qsort(r->metric, r->n_metric, sizeof(r->metric[0]), cmp_id);
	}
}

/* Indexes of the catalog's databases with no row here (or a row at zero). */
static int fill_unused(struct postgres_snapshot *snap, const struct pg_catalog_snapshot *cat)
{
	struct rel_id *seen = malloc((snap->n_relations + 1) * sizeof(*seen));
	int n_seen = 0;

	if (!seen)
		return -ENOMEM;
	for (int i = 0; i < snap->n_relations; i++) {
		const struct ps_rel_snap *row = &snap->relations[i];

		if (row->hits + row->reads)
			seen[n_seen++] = id_of(snap, row->server, row->db_oid, row->relfilenode);
	}
	qsort(seen, n_seen, sizeof(*seen), cmp_id);
	for (int i = 0; cat && i < cat->n_dbs; i++) {
		const struct pgc_db *d = &cat->dbs[i];
		int server = server_index(snap, d->server);
		char unused_db[PS_NAME_LEN];

		if (!d->oid)
			continue;
		if (server < 0) /* connection-string mode: the server the oid was seen on */
			attribute(snap, NULL, 0, d->oid, &server, unused_db);
		for (int j = 0; j < d->n_rels; j++) {
			const struct pgc_rel *rel = &d->rels[j];
			struct rel_id k = id_of(snap, server, d->oid, rel->filenode);
			struct ps_unused_index *u;

			if (rel->kind != 'i' || !user_schema(rel->schema) ||
			    bsearch(&k, seen, n_seen, sizeof(k), cmp_id))
				continue;
			if (snap->n_unused >= PS_MAX_UNUSED) {
				snap->unused_dropped++;
				continue;
			}
			if (!snap->unused &&
			    !(snap->unused = calloc(PS_MAX_UNUSED, sizeof(*snap->unused)))) {
				free(seen);
				return -ENOMEM;
			}
			u = &snap->unused[snap->n_unused++];
			u->server = server;
			u->relfilenode = rel->filenode;
			snprintf(u->database, sizeof(u->database), "%s", d->datname);
			snprintf(u->schema, sizeof(u->schema), "%s", rel->schema);
			snprintf(u->table, sizeof(u->table), "%s", rel->table);
			snprintf(u->name, sizeof(u->name), "%s", rel->name);
		}
	}
	free(seen);
	return 0;
}

struct group {
	int server;
	uint32_t oid;
	uint64_t sig;
};

/* Tells the catalog which databases have relations without names (and which are fine). */
static void ask(const struct postgres_snapshot *snap, const struct pg_catalog_snapshot *cat,
		pg_relations_want_fn want, void *ctx)
{
	struct group g[MAX_GROUPS];
	int n = 0;

	for (int i = 0; i < snap->n_relations; i++) {
		const struct ps_rel_snap *row = &snap->relations[i];
		int k;

		for (k = 0; k < n; k++)
			if (g[k].oid == row->db_oid && g[k].server == row->server)
				break;
		if (k == n) {
			if (n == MAX_GROUPS)
				continue;
			g[n++] = (struct group){ .server = row->server, .oid = row->db_oid };
		}
		/* A signature of the unknown set: it changes when a new filenode appears. */
		if (!row->named)
			g[k].sig += nx_hash32(row->relfilenode) | 1;
	}
	for (int k = 0; k < n; k++) {
		/* Shared catalogs (oid 0) and databases of no known server: every server is
		 * asked (each says what its pg_database has). */
		for (int i = 0; i < snap->n_servers; i++)
			if (g[k].server == i || g[k].server < 0)
				want(ctx, snap->servers[i].server, snap->servers[i].pid, g[k].oid,
				     g[k].sig);
	}
	(void)cat;
}

int pg_relations__fill(struct pg_relations *r, struct postgres_snapshot *snap,
		       const struct pg_rel_count *rows, int n, const struct pg_catalog_snapshot *cat,
		       pg_relations_want_fn want, void *ctx)
{
	if (n > PS_MAX_RELATIONS)
		n = PS_MAX_RELATIONS;
	snap->n_relations = 0;
	snap->catalog = cat != NULL;
	if (cat) {
		snap->catalog_refreshes = cat->refreshes;
		snap->catalog_errors = cat->errors;
	}
	if (n && !(snap->relations = calloc(n, sizeof(*snap->relations))))
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct ps_rel_snap *row = &snap->relations[snap->n_relations++];
		const struct pgc_rel *rel;

		row->db_oid = rows[i].db_oid;
		row->relfilenode = rows[i].relfilenode;
		row->hits = rows[i].hits;
		row->reads = rows[i].reads;
		attribute(snap, cat, rows[i].server_pid, row->db_oid, &row->server, row->database);
		rel = pg_names__find(cat, row->server >= 0 ? snap->servers[row->server].server
							   : NULL,
				     row->db_oid, row->relfilenode);
		if (rel)
			name_row(row, rel);
	}
	qsort(snap->relations, snap->n_relations, sizeof(*snap->relations), by_access);
	pick_metric(r, snap, snap->relations, snap->n_relations);
	if (want)
		ask(snap, cat, want, ctx);
	return cat ? fill_unused(snap, cat) : 0;
}
