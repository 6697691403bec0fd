// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Buffer hits and reads per relation, into the metric model. Relations with series of their own
 * are the first PS_REL_METRIC_CAP user relations by access (stats/pg_relations.c keeps them once
 * chosen); every other relation of a (server, database), system catalogs included, is summed into
 * relation="(other)", kind="(other)".
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "model/model_fill.h"
#include "model/server_labels.h"
#include "util.h"

#define MAX_OTHER 256

struct other {
	int server;
	const char *database;
	uint32_t db_oid;
	uint64_t hits, reads;
};

static void labels_of(struct mm_labels *ls, char oid[16], const struct postgres_snapshot *s,
		      int server, const char *database, uint32_t db_oid, const char *relation,
		      const char *kind)
{
	bool known = server >= 0 && server < s->n_servers;

	snprintf(oid, 16, "%" PRIu32, db_oid);
	/* the server's labels as on every per-server series (its container and pod too) */
	model__server_labels(ls, known ? s->servers[server].server : "(unknown)",
			     known ? &s->servers[server].ident : NULL);
	/* A database the agent has no name for yet: its oid. */
	mm_labels__add(ls, "database", database[0] ? database : oid);
	mm_labels__add(ls, "relation", relation);
	mm_labels__add(ls, "kind", kind);
}

static void fill(struct metric_model *m, const struct postgres_snapshot *s, bool hit)
{
	struct other other[MAX_OTHER];
	char rel[2 * PS_NAME_LEN + 2], oid[16];
	struct mm_labels ls;
	int n_other = 0;

	for (int i = 0; i < s->n_relations; i++) {
		const struct ps_rel_snap *r = &s->relations[i];

		if (!r->metric) {
			int k;

			for (k = 0; k < n_other; k++)
				if (other[k].server == r->server &&
				    !strcmp(other[k].database, r->database) &&
				    (r->database[0] || other[k].db_oid == r->db_oid))
					break;
			if (k == n_other && n_other < MAX_OTHER)
				other[n_other++] = (struct other){ r->server, r->database, r->db_oid, 0, 0 };
			if (k < n_other) {
				other[k].hits += r->hits;
				other[k].reads += r->reads;
			}
			continue;
		}
		/* schema.name with the catalog; the relfilenode number without */
		if (r->named)
			snprintf(rel, sizeof(rel), "%s.%s", r->schema, r->name);
		else
			snprintf(rel, sizeof(rel), "%" PRIu32, r->relfilenode);
		labels_of(&ls, oid, s, r->server, r->database, r->db_oid, rel,
			  r->named ? r->kind : "unknown");
		mm__sample(m, &ls, (double)(hit ? r->hits : r->reads));
	}
	for (int k = 0; k < n_other; k++) {
		labels_of(&ls, oid, s, other[k].server, other[k].database, other[k].db_oid, NX_OTHER,
			  NX_OTHER);
		mm__sample(m, &ls, (double)(hit ? other[k].hits : other[k].reads));
	}
}

void model__fill_relations(struct metric_model *m, const struct postgres_snapshot *s)
{
	if (s->n_relations) {
		mm__family(m, "nexus_postgres_relation_buffer_hits_total", MM_COUNTER, "{page}",
			   "Shared-buffer accesses that found the page, per relation (USDT "
			   "buffer__read__done; names with --pg-catalog).");
		fill(m, s, true);
		mm__family(m, "nexus_postgres_relation_buffer_reads_total", MM_COUNTER, "{page}",
			   "Shared-buffer accesses that had to read the page, per relation.");
		fill(m, s, false);
	}
	if (s->catalog) {
		mm__family(m, "nexus_postgres_catalog_refreshes_total", MM_COUNTER, "{refresh}",
			   "--pg-catalog: catalog reads that succeeded.");
		mm__sample(m, NULL, (double)s->catalog_refreshes);
		mm__family(m, "nexus_postgres_catalog_errors_total", MM_COUNTER, "{error}",
			   "--pg-catalog: catalog reads or databases that failed (names stay "
			   "relfilenode numbers).");
		mm__sample(m, NULL, (double)s->catalog_errors);
	}
}
