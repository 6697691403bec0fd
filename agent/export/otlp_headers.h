/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Extra HTTP headers for OTLP requests: what a hosted collector wants for authentication
 * ("Authorization: Bearer ...", "x-honeycomb-team: ..."). Two sources, as the OpenTelemetry SDKs
 * take them: the environment variable OTEL_EXPORTER_OTLP_HEADERS ("name=value,name2=value2",
 * values percent-encoded; the way to pass a Kubernetes Secret) and --otlp-header NAME=VALUE.
 * Values are secrets: no message ever prints one.
 */
#ifndef NEXUS_OTLP_HEADERS_H
#define NEXUS_OTLP_HEADERS_H

#include <stddef.h>

#define OTLP_MAX_HEADERS 16

struct otlp_headers {
	int n;
	char *line[OTLP_MAX_HEADERS]; /* "Name: value", as curl takes them */
};

/* One "name=value" (percent-decoded when decode); it replaces one of the same name. 0, or -EINVAL with err naming the problem
 * (and the header's name, never its value); -ENOMEM; -E2BIG past OTLP_MAX_HEADERS. */
int otlp_headers__add(struct otlp_headers *h, const char *spec, int decode, char *err,
		      size_t errlen);
/* A whole OTEL_EXPORTER_OTLP_HEADERS value: comma-separated, each percent-decoded. */
int otlp_headers__add_list(struct otlp_headers *h, const char *list, char *err, size_t errlen);
void otlp_headers__free(struct otlp_headers *h);

#endif /* NEXUS_OTLP_HEADERS_H */
