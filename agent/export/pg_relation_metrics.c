// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Buffer hits and reads per relation. Relations with series of their own are the first
 * PS_REL_METRIC_CAP user relations by access (stats/pg_relations.c keeps them once chosen);
 * every other relation of a (server, database), system catalogs included, is summed into
 * relation="(other)", kind="(other)".
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "export/pg_relation_metrics.h"
#include "util.h"

#define LABELS 1024
#define MAX_OTHER 256

static const char HITS[] = "nexus_postgres_relation_buffer_hits_total";
static const char READS[] = "nexus_postgres_relation_buffer_reads_total";

struct other {
	int server;
	const char *database;
	uint32_t db_oid;
	uint64_t hits, reads;
};

static void labels_of(char *buf, const struct postgres_snapshot *s, int server,
		      const char *database, uint32_t db_oid, const char *relation, const char *kind)
{
	char oid[16];

	snprintf(oid, sizeof(oid), "%" PRIu32, db_oid);
	buf[0] = 0;
	prom__label(buf, LABELS, "server",
		    server >= 0 && server < s->n_servers ? s->servers[server].server : "(unknown)");
	/* A database the agent has no name for yet: its oid. */
	prom__label(buf, LABELS, "database", database[0] ? database : oid);
	prom__label(buf, LABELS, "relation", relation);
	prom__label(buf, LABELS, "kind", kind);
}

static void sample(struct prom *p, const char *labels, uint64_t hits, uint64_t reads, bool hit)
{
	prom__sample(p, hit ? HITS : READS, labels, (double)(hit ? hits : reads));
}

static void render(struct prom *p, const struct postgres_snapshot *s, bool hit)
{
	struct other other[MAX_OTHER];
	char labels[LABELS], rel[2 * PS_NAME_LEN + 2];
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
		labels_of(labels, s, r->server, r->database, r->db_oid, rel,
			  r->named ? r->kind : "unknown");
		sample(p, labels, r->hits, r->reads, hit);
	}
	for (int k = 0; k < n_other; k++) {
		labels_of(labels, s, other[k].server, other[k].database, other[k].db_oid, NX_OTHER,
			  NX_OTHER);
		sample(p, labels, other[k].hits, other[k].reads, hit);
	}
}

void pg_relation_metrics__render(struct prom *p, const struct postgres_snapshot *s)
{
	if (s->n_relations) {
		prom__family(p, HITS, "counter",
			     "Shared-buffer accesses that found the page, per relation (USDT "
			     "buffer__read__done; names with --pg-catalog).");
		render(p, s, true);
		prom__family(p, READS, "counter",
			     "Shared-buffer accesses that had to read the page, per relation.");
		render(p, s, false);
	}
	if (s->catalog) {
		prom__family(p, "nexus_postgres_catalog_refreshes_total", "counter",
			     "--pg-catalog: catalog reads that succeeded.");
		prom__sample(p, "nexus_postgres_catalog_refreshes_total", NULL,
			     (double)s->catalog_refreshes);
		prom__family(p, "nexus_postgres_catalog_errors_total", "counter",
			     "--pg-catalog: catalog reads or databases that failed (names stay "
			     "relfilenode numbers).");
		prom__sample(p, "nexus_postgres_catalog_errors_total", NULL,
			     (double)s->catalog_errors);
	}
}
