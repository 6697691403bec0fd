/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --pg-catalog: names for the relfilenodes the USDT buffer probes count. A thread of its own asks
 * each PostgreSQL server's catalog (pg_database, pg_class, pg_index, pg_namespace; read-only, with
 * a statement timeout) through a short-lived helper process (`nexus-agent pg-catalog-helper`,
 * agent/capture/pg_catalog_helper.c) and publishes what it learned as an immutable snapshot. The
 * capture thread only ever takes that snapshot and drops requests into a queue: it never waits
 * for a server.
 */
#ifndef NEXUS_PG_CATALOG_H
#define NEXUS_PG_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PGC_NAME_LEN 64	     /* NAMEDATALEN */
#define PGC_SERVER_LEN 128
#define PGC_MAX_RELS 20000   /* relations kept per database; the rest are counted */
#define PGC_MAX_DBS 64	     /* databases kept in all */

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
	uint64_t truncated;	      /* relations past PGC_MAX_RELS */
};

struct pg_catalog_snapshot {
	int n_dbs;
	struct pgc_db *dbs;
	uint64_t refreshes;	      /* helper runs that succeeded */
	uint64_t errors;	      /* helper runs or databases that failed */
};

struct pg_catalog;

/* mode: "peer" or a libpq connection string. self: the agent's executable (the helper is it). */
struct pg_catalog *pg_catalog__start(const char *mode);
void pg_catalog__stop(struct pg_catalog *c);

/*
 * Capture thread: names are wanted for database db_oid of server (postmaster pid). sig identifies
 * the relfilenodes still unknown there (0: none): a request with the signature already served is
 * ignored, so a dropped table's filenode does not cause a refresh every time. Never blocks on I/O.
 */
void pg_catalog__want(struct pg_catalog *c, const char *server, uint32_t pid, uint32_t db_oid,
		      uint64_t sig);

/* The latest snapshot (NULL before the first) with a reference; release with pg_catalog__put. */
const struct pg_catalog_snapshot *pg_catalog__get(struct pg_catalog *c, void **ref);
void pg_catalog__put(void *ref);

/* A relation by (server, database oid, filenode); NULL when unknown. server NULL: any. */
const struct pgc_rel *pg_catalog__find(const struct pg_catalog_snapshot *s, const char *server,
				       uint32_t db_oid, uint32_t filenode);
const struct pgc_db *pg_catalog__db(const struct pg_catalog_snapshot *s, const char *server,
				    uint32_t db_oid);
/* "table", "index", "toast", "materialized_view", "sequence" or "other" for a relkind. */
const char *pg_catalog__kind_name(char relkind);

/* Parses one line of the helper's output into db (D/R lines); exposed for the unit test. 1 when
 * a relation was added, 0 for other lines, -EINVAL for a malformed line. */
int pg_catalog__parse_rel(const char *line, struct pgc_rel *out, uint32_t *db_oid);

/* The helper subcommand (runs in its own process). */
int cmd_pg_catalog_helper(int argc, char **argv);

#endif /* NEXUS_PG_CATALOG_H */
