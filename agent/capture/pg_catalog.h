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
#include "stats/pg_names.h" /* the snapshot's types and its lookups */

#define PGC_MAX_RELS 20000   /* relations kept per database; the rest are counted */
#define PGC_MAX_DBS 64	     /* databases kept in all */

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

/* Parses one line of the helper's output into db (D/R lines); exposed for the unit test. 1 when
 * a relation was added, 0 for other lines, -EINVAL for a malformed line. */
int pg_catalog__parse_rel(const char *line, struct pgc_rel *out, uint32_t *db_oid);

/* The helper subcommand (runs in its own process). */
int cmd_pg_catalog_helper(int argc, char **argv);

#endif /* NEXUS_PG_CATALOG_H */
