/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The JSON API (/api/v1/...), rendered from snapshots with jansson. */
#ifndef NEXUS_API_H
#define NEXUS_API_H

#include "export/http.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"

struct snap_ref;
struct json_t;
/* JSON helpers of the API's renderers (api.c, relations_api.c). api__dump writes root as one
 * line and frees it; a NULL root (a failed pack) is an error: 0 or -ENOMEM. api__ratio:
 * hits / (hits + misses), a keyspace or shared-buffer hit ratio; null before any access. */
int api__dump(FILE *f, struct json_t *root);
struct json_t *api__ratio(uint64_t hits, uint64_t misses);
/* Ends a JSON response rendered from a snapshot: releases ref (may be NULL), sets the content
 * type, turns a failed render (err < 0) into a 500. Returns the HTTP status. */
int api__finish(struct http_response *resp, struct snap_ref *ref, int err);
/* Answers with fn's rendering of the latest PostgreSQL snapshot of the struct snap_box ctx (NULL
 * when none yet), the snapshot held only while it renders. Returns the HTTP status. */
int api__serve_pg(void *ctx, struct http_response *resp,
		  int (*fn)(FILE *f, const struct postgres_snapshot *s));

/* GET /api/v1/cache/stats; ctx is the struct snap_box holding Redis snapshots. */
int api__cache_stats(void *ctx, const struct http_request *req, struct http_response *resp);
/* The same body from a snapshot (NULL: none yet); 0 or -ENOMEM. */
int api__render_cache_stats(FILE *f, const struct redis_snapshot *s);
/* GET /api/v1/cache/slow-commands: the slow-command log, newest first. ctx: the Redis box. */
int api__slow_commands(void *ctx, const struct http_request *req, struct http_response *resp);
int api__render_slow_commands(FILE *f, const struct redis_snapshot *s);

/* GET /api/v1/database/slow-queries and /api/v1/database/connections; ctx is the struct snap_box
 * holding PostgreSQL snapshots. */
int api__slow_queries(void *ctx, const struct http_request *req, struct http_response *resp);
int api__db_connections(void *ctx, const struct http_request *req, struct http_response *resp);
int api__render_slow_queries(FILE *f, const struct postgres_snapshot *s);
int api__render_db_connections(FILE *f, const struct postgres_snapshot *s);
/* GET /api/v1/database/stats: per server and database (ctx as above). */
int api__db_stats(void *ctx, const struct http_request *req, struct http_response *resp);
int api__render_db_stats(FILE *f, const struct postgres_snapshot *s);

/* GET /api/v1/database/relations: relations by buffer reads, with their names under
 * --pg-catalog; GET /api/v1/database/indexes: per server and database, each index's buffer
 * figures and the indexes nobody touched (export/relations_api.c). ctx: the PostgreSQL box. */
int api__db_relations(void *ctx, const struct http_request *req, struct http_response *resp);
int api__render_db_relations(FILE *f, const struct postgres_snapshot *s);
int api__db_indexes(void *ctx, const struct http_request *req, struct http_response *resp);
int api__render_db_indexes(FILE *f, const struct postgres_snapshot *s);

#endif /* NEXUS_API_H */
