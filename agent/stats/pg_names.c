// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Lookups in a catalog snapshot (pg_names.h): the capture side fills it, stats reads it. */
#include <string.h>
#include "stats/pg_names.h"

const char *pg_names__kind(char k)
{
	switch (k) {
	case 'r':
		return "table";
	case 'i':
		return "index";
	case 't':
		return "toast";
	case 'm':
		return "materialized_view";
	case 'S':
		return "sequence";
	default:
		return "other";
	}
}

const struct pgc_db *pg_names__db(const struct pg_catalog_snapshot *s, const char *server,
				  uint32_t db_oid)
{
	/* A database of the server itself first; "" (connection-string mode) matches any. */
	for (int pass = 0; s && pass < 2; pass++)
		for (int i = 0; i < s->n_dbs; i++) {
			const struct pgc_db *d = &s->dbs[i];

			if (d->oid != db_oid)
				continue;
			if (pass == 0 && server && !strcmp(d->server, server))
				return d;
			if (pass == 1 && (!server || !d->server[0]))
				return d;
		}
	return NULL;
}

const struct pgc_rel *pg_names__find(const struct pg_catalog_snapshot *s, const char *server,
				     uint32_t db_oid, uint32_t filenode)
{
	const struct pgc_db *d = pg_names__db(s, server, db_oid);
	int lo = 0, hi = d ? d->n_rels - 1 : -1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		uint32_t f = d->rels[mid].filenode;

		if (f == filenode)
			return &d->rels[mid];
		if (f < filenode)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}
