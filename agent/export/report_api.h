/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* GET /api/v1/report[?n=K]: the latest health report, or the K-th older one. */
#ifndef NEXUS_REPORT_API_H
#define NEXUS_REPORT_API_H
#include "export/http.h"
#include "report/report_store.h"

/* ctx: a struct report_store. 404 {"error"} before the first report or past the last kept,
 * 400 {"error"} for an n that is not a number 0..REPORT_KEEP-1. */
int report_api__report(void *ctx, const struct http_request *req, struct http_response *resp);
/* The same with n given (for tests): NULL for the latest. */
int report_api__render(struct report_store *st, const char *n, struct http_response *resp);

#endif /* NEXUS_REPORT_API_H */
