/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The JSON API (/api/v1/...), rendered from snapshots with jansson. */
#ifndef NEXUS_API_H
#define NEXUS_API_H

#include "export/http.h"
#include "stats/redis_stats.h"

/* GET /api/v1/cache/stats; ctx is the struct snap_box holding Redis snapshots. */
int api__cache_stats(void *ctx, const struct http_request *req, struct http_response *resp);
/* The same body from a snapshot (NULL: none yet); 0 or -ENOMEM. */
int api__render_cache_stats(FILE *f, const struct redis_snapshot *s);

#endif /* NEXUS_API_H */
