// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent top --batch: plain-text tables, widths fitted to their contents (no terminal). */
#include <stdlib.h>
#include <time.h>
#include "cli/top_batch.h"
#include "cli/top_view.h"

#define MAX_ROWS 512

static void table(FILE *f, enum top_table t, const struct top_snapshot *s,
		  const struct top_server *sv, int max)
{
	const void **rows = malloc(MAX_ROWS * sizeof(*rows));
	char line[1024];
	int n, w;

	if (!rows)
		return;
	n = top_view__rows(t, s, sv, NULL, top_view__default_sort(t), false, rows, MAX_ROWS);
	if (n > max)
		n = max;
	w = top_view__natural_width(t, rows, n);
	top_view__line(t, NULL, 0, w, line, sizeof(line));
	fprintf(f, "%s\n", line);
	for (int i = 0; i < n; i++) {
		top_view__line(t, rows[i], 0, w, line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
	if (!n)
		fprintf(f, "(none)\n");
	free(rows);
}

void top_batch__print(FILE *f, const struct top_snapshot *s, double wall)
{
	const void **order = malloc(MAX_ROWS * sizeof(*order));
	time_t t = (time_t)wall;
	char date[32], summary[256];
	struct tm tm;
	int n;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	top_view__summary(s, summary, sizeof(summary));
	fprintf(f, "--- %s  %s\n", date, summary);
	table(f, TOP_T_SERVERS, s, NULL, MAX_ROWS);
	/* the servers in the table's order */
	n = order ? top_view__rows(TOP_T_SERVERS, s, NULL, NULL,
				   top_view__default_sort(TOP_T_SERVERS), false, order, MAX_ROWS)
		  : 0;
	for (int i = 0; i < n; i++) {
		const struct top_server *sv = order[i];
		const char *kind = sv->kind == TOP_REDIS ? "redis" : "pg";

		fprintf(f, "\n%s %s: top %s\n", kind, sv->address,
			sv->kind == TOP_REDIS ? "commands" : "query fingerprints");
		table(f, TOP_T_COMMANDS, s, sv, TOP_BATCH_ROWS);
		fprintf(f, "\n%s %s: top clients%s\n", kind, sv->address,
			sv->kind == TOP_REDIS ? " (from the slow-command log)" : "");
		table(f, top_view__clients_table(sv), s, sv, TOP_BATCH_ROWS);
	}
	fprintf(f, "\n");
	fflush(f);
	free(order);
}
