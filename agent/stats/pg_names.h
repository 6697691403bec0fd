/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a PostgreSQL catalog says about relations: databases, and the relations with storage in
 * each, by relfilenode. The value the --pg-catalog thread (capture/pg_catalog.c) publishes and
 * the statistics (stats/pg_relations.c) read, with the lookups that read it; here, below both,
 * so that stats never depends on capture. Pure data: no I/O, no locks.
 */
#ifndef NEXUS_PG_NAMES_H
#define NEXUS_PG_NAMES_H

#include <stdbool.h>
#include <stdint.h>

#define PGC_NAME_LEN 64	     /* NAMEDATALEN */
#define PGC_SERVER_LEN 128

/* One relation with storage (pg_class row with a relfilenode). */
struct pgc_rel {
	uint32_t filenode;	      /* pg_relation_filenode(oid) */
	char kind;		      /* pg_class.relkind: r, i, t, m, S */
	bool shared;		      /* relisshared: counted under database oid 0 */
	char schema[PGC_NAME_LEN];
	char name[PGC_NAME_LEN];
	char table[PGC_NAME_LEN];     /* an index's table, a TOAST table's owner; "" otherwise */
};

struct pgc_db {
	char server[PGC_SERVER_LEN];
	uint32_t oid;
	char datname[PGC_NAME_LEN];
	int n_rels;
	struct pgc_rel *rels;	      /* sorted by filenode */
	uint64_t truncated;	      /* relations past the catalog's cap (PGC_MAX_RELS) */
};

struct pg_catalog_snapshot {
	int n_dbs;
	struct pgc_db *dbs;
	uint64_t refreshes;	      /* helper runs that succeeded */
	uint64_t errors;	      /* helper runs or databases that failed */
};

/* A relation by (server, database oid, filenode); NULL when unknown. server NULL: any. */
const struct pgc_rel *pg_names__find(const struct pg_catalog_snapshot *s, const char *server,
				     uint32_t db_oid, uint32_t filenode);
/* A database by (server, oid): the server's own first, then one of a connection-string catalog
 * (server ""); server NULL: any. NULL when unknown or s is NULL. */
const struct pgc_db *pg_names__db(const struct pg_catalog_snapshot *s, const char *server,
				  uint32_t db_oid);
/* "table", "index", "toast", "materialized_view", "sequence" or "other" for a relkind. */
const char *pg_names__kind(char relkind);

#endif /* NEXUS_PG_NAMES_H */
