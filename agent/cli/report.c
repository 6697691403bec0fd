// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent report: the latest health report of a running agent, as text, Markdown or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include "cli/commands.h"
#include "cli/opts.h"
#include "cli/report_fmt.h"

#define DEFAULT_CONNECT "127.0.0.1:9435"

struct body {
	char *p;
	size_t len;
};

static size_t on_data(void *data, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	char *p;

	if (b->len + size * n > (64u << 20)) /* no report is this big: a wrong server */
		return 0;
	p = realloc(b->p, b->len + size * n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, data, size * n);
	b->p = p;
	b->len += size * n;
	p[b->len] = '\0';
	return size * n;
}

/* The body of GET url with its status, or NULL with why in err. */
static char *get(const char *url, long *status, char *err, size_t errlen)
{
	CURL *c = curl_easy_init();
	struct body b = { 0 };
	CURLcode rc;

	if (!c) {
		snprintf(err, errlen, "cannot start libcurl");
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%.300s: %s", url, curl_easy_strerror(rc));
		free(b.p);
		return NULL;
	}
	return b.p ? b.p : strdup("");
}

int cmd_report(int argc, char **argv)
{
	struct nx_opts o;
	char url[512], err[512] = "";
	const char *addr;
	json_error_t jerr;
	json_t *root = NULL;
	long status = 0;
	char *body;
	int rc = NX_EXIT_FAIL;

	if (opts__parse(NX_CMD_REPORT, argc, argv, &o))
		return NX_EXIT_USAGE;
	addr = o.top_connect ? o.top_connect : DEFAULT_CONNECT;
	snprintf(url, sizeof(url), "http://%s/api/v1/report", addr);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	body = get(url, &status, err, sizeof(err));
	if (!body) {
		fprintf(stderr, "nexus-agent report: %s (is `nexus-agent run` listening there?)\n",
			err);
		goto cleanup;
	}
	root = json_loads(body, 0, &jerr);
	if (status != 200) {
		const char *why = json_string_value(json_object_get(root, "error"));

		fprintf(stderr, "nexus-agent report: %s: HTTP %ld: %s\n", url, status,
			why ? why : "not a report");
		goto cleanup;
	}
	if (!root) {
		fprintf(stderr, "nexus-agent report: %s: not JSON: %s\n", url, jerr.text);
		goto cleanup;
	}
	if (o.report_format == NX_REPORT_JSON) {
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else if (report_fmt__print(stdout, root, o.report_format == NX_REPORT_MARKDOWN)) {
		fprintf(stderr, "nexus-agent report: %s: not a report\n", url);
		goto cleanup;
	}
	rc = 0;
cleanup:
	json_decref(root);
	free(body);
	curl_global_cleanup();
	return rc;
}
