// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "export/report_api.h"

static int error(struct http_response *resp, int status, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);

	resp->json_error = true;
	resp->content_type = "application/json";
	if (o) {
		json_dumpf(o, resp->body, JSON_COMPACT);
		fputc('\n', resp->body);
	}
	json_decref(o);
	return status;
}

int report_api__render(struct report_store *st, const char *n, struct http_response *resp)
{
	char msg[160], *end, *json;
	long k = 0;
	int count;

	if (n) {
		errno = 0;
		k = strtol(n, &end, 10);
		if (!*n || *end || errno || k < 0 || k >= REPORT_KEEP) {
			snprintf(msg, sizeof(msg), "bad n '%.40s': want 0 (the latest) to %d", n,
				 REPORT_KEEP - 1);
			return error(resp, 400, msg);
		}
	}
	json = report_store__get(st, (int)k, &count);
	if (!json) {
		if (!count)
			return error(resp, 404, "no report yet: the first one is written at the end "
						"of the first --report-interval");
		snprintf(msg, sizeof(msg), "no report %ld: %d kept (n = 0..%d)", k, count, count - 1);
		return error(resp, 404, msg);
	}
	resp->content_type = "application/json";
	fputs(json, resp->body);
	fputc('\n', resp->body);
	free(json);
	return 200;
}

int report_api__report(void *ctx, const struct http_request *req, struct http_response *resp)
{
	return report_api__render(ctx, http_request__arg(req, "n"), resp);
}
