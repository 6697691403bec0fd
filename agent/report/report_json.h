/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A report as the /api/v1/report JSON (version 1). */
#ifndef NEXUS_REPORT_JSON_H
#define NEXUS_REPORT_JSON_H
#include <jansson.h>
#include "report/report.h"

/* A new reference, NULL on failure. */
json_t *report__json(const struct report *r);
/* The same as one line of text (malloc'ed, no trailing newline), NULL on failure. */
char *report__dumps(const struct report *r);

#endif /* NEXUS_REPORT_JSON_H */
