/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `nexus-agent report`'s text and Markdown renderings of a /api/v1/report document. */
#ifndef NEXUS_REPORT_FMT_H
#define NEXUS_REPORT_FMT_H
#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

/* 0, or -1 when root is not a report. */
int report_fmt__print(FILE *f, const json_t *root, bool markdown);

#endif /* NEXUS_REPORT_FMT_H */
