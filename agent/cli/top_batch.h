/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* nexus-agent top --batch: the screen's tables as plain text, one block per refresh. */
#ifndef NEXUS_TOP_BATCH_H
#define NEXUS_TOP_BATCH_H

#include <stdio.h>
#include "cli/top_model.h"

/* Rows of each server's commands and clients tables printed. */
#define TOP_BATCH_ROWS 10

/* One refresh: a dated summary line, the servers, then each server's top commands and clients.
 * wall: seconds since the epoch, for the date line. */
void top_batch__print(FILE *f, const struct top_snapshot *s, double wall);

#endif /* NEXUS_TOP_BATCH_H */
