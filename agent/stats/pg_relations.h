/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Relations into the PostgreSQL snapshot: the USDT probes' buffer counts per (database oid,
 * relfilenode), given their server and database from what the snapshot learned, their names
 * from the --pg-catalog snapshot, and the catalog's indexes nobody touched. Remembers which
 * relations own metric series (the first PS_REL_METRIC_CAP user relations by access keep
 * theirs, so the "(other)" counter never goes back; system catalogs always count in "(other)").
 */
#ifndef NEXUS_PG_RELATIONS_H
#define NEXUS_PG_RELATIONS_H

#include <stdint.h>
#include "stats/pg_names.h"
#include "stats/postgres_stats.h"

struct pg_rel_count {
	uint32_t db_oid, relfilenode;
	uint64_t hits, reads;
	uint32_t server_pid; /* the postmaster's; 0: not known (the server is found by db_oid) */
};

/* Names wanted for (server, postmaster pid, database oid); sig: the unknown filenodes (0: none). */
typedef void (*pg_relations_want_fn)(void *ctx, const char *server, uint32_t pid, uint32_t db_oid,
				     uint64_t sig);

struct pg_relations;

struct pg_relations *pg_relations__new(void);
void pg_relations__free(struct pg_relations *r);
/*
 * Fills snap's relations and unused indexes from rows (n of them, at most PS_MAX_RELATIONS are
 * kept). cat may be NULL (no --pg-catalog); want, when not NULL, is told which databases need
 * names. 0 or -ENOMEM.
 */
int pg_relations__fill(struct pg_relations *r, struct postgres_snapshot *snap,
		       const struct pg_rel_count *rows, int n, const struct pg_catalog_snapshot *cat,
		       pg_relations_want_fn want, void *ctx);

#endif /* NEXUS_PG_RELATIONS_H */
