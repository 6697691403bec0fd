/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The HTTP client of the commands that read a running agent's API (`top --connect`, `report`):
 * libcurl, loopback-friendly (no proxy), with the agent's TLS certificate (--cacert) and bearer
 * token (--auth-token-file) when it is secured (README "Securing the endpoint").
 */
#ifndef NEXUS_API_CLIENT_H
#define NEXUS_API_CLIENT_H

#include <stddef.h>
#include <curl/curl.h>
#include "cli/opts.h"

struct api_client {
	CURL *c;
	long timeout_ms, connect_timeout_ms;
};

/* A client with o's --cacert and --auth-token-file; 0, or -1 after saying why on stderr
 * prefixed with who ("nexus-agent top"). */
int api_client__init(struct api_client *a, const struct nx_opts *o, const char *who,
		     long timeout_ms);
void api_client__free(struct api_client *a);
/* GET addr + path (addr is HOST:PORT, http, or a URL base such as https://HOST:PORT). The body
 * (free it; "" when empty) with the HTTP status in *status, whatever the status; NULL when no
 * answer came, with why in err (err may be NULL). Bodies over 64 MiB are refused. */
char *api_client__get(struct api_client *a, const char *addr, const char *path, long *status,
		      char *err, size_t errlen);

#endif /* NEXUS_API_CLIENT_H */
