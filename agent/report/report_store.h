/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The last REPORT_KEEP reports, as JSON text: written by the stats thread, read by the HTTP
 * thread (a short lock around a pointer ring; readers get a copy). With a directory, each report
 * is also written there as report-<time>.json, atomically (a temporary file renamed into place),
 * and only the newest REPORT_KEEP such files are kept.
 */
#ifndef NEXUS_REPORT_STORE_H
#define NEXUS_REPORT_STORE_H
#include <pthread.h>
#include <stdint.h>

#define REPORT_KEEP 96 /* a day of 15-minute reports */

struct report_store {
	pthread_mutex_t lock;
	char *ring[REPORT_KEEP];
	int head, n;
	const char *dir; /* NULL: memory only */
	uint64_t added, write_errors;
};

void report_store__init(struct report_store *st, const char *dir);
void report_store__destroy(struct report_store *st);
/* Takes json (malloc'ed); writes the file when there is a directory. 0, or -errno when the file
 * could not be written (the report is kept in memory all the same). */
int report_store__add(struct report_store *st, char *json, int64_t unix_ms);
/* A copy of the n-th newest report (0: the latest), NULL when there is none; *count: how many
 * there are. */
char *report_store__get(struct report_store *st, int n, int *count);
/* Writes json to dir/name through a temporary file and a rename; 0 or -errno. */
int report_store__write_file(const char *dir, const char *name, const char *json);

#endif /* NEXUS_REPORT_STORE_H */
