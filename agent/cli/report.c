// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent report: the latest health report of a running agent, as text, Markdown or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/opts.h"
#include "cli/report_fmt.h"

#define DEFAULT_CONNECT "127.0.0.1:9435"

int cmd_report(int argc, char **argv)
{
	struct api_client client;
	struct nx_opts o;
	char err[512] = "";
	const char *addr;
	json_error_t jerr;
	json_t *root = NULL;
	long status = 0;
	char *body;
	int rc = NX_EXIT_FAIL;

	if (opts__parse(NX_CMD_REPORT, argc, argv, &o))
		return NX_EXIT_USAGE;
	addr = o.top_connect ? o.top_connect : DEFAULT_CONNECT;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (api_client__init(&client, &o, "nexus-agent report", 10000)) {
		curl_global_cleanup();
		return NX_EXIT_USAGE;
	}
	body = api_client__get(&client, addr, "/api/v1/report", &status, err, sizeof(err));
	api_client__free(&client);
	if (!body) {
		fprintf(stderr, "nexus-agent report: %s (is `nexus-agent run` listening there?)\n",
			err);
		goto cleanup;
	}
	root = json_loads(body, 0, &jerr);
	if (status != 200) {
		const char *why = json_string_value(json_object_get(root, "error"));

		fprintf(stderr, "nexus-agent report: %s: HTTP %ld: %s\n", addr, status,
			why ? why : "not a report");
		goto cleanup;
	}
	if (!root) {
		fprintf(stderr, "nexus-agent report: %s: not JSON: %s\n", addr, jerr.text);
		goto cleanup;
	}
	if (o.report_format == NX_REPORT_JSON) {
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else if (report_fmt__print(stdout, root, o.report_format == NX_REPORT_MARKDOWN)) {
		fprintf(stderr, "nexus-agent report: %s: not a report\n", addr);
		goto cleanup;
	}
	rc = 0;
cleanup:
	json_decref(root);
	free(body);
	curl_global_cleanup();
	return rc;
}
