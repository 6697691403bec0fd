/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * GET /: the status page, one self-contained HTML page (agent/export/status_page.html, embedded
 * in the binary at build time) whose script reads the agent's JSON API every few seconds. It
 * needs no context: everything it shows it fetches itself.
 */
#ifndef NEXUS_STATUS_PAGE_H
#define NEXUS_STATUS_PAGE_H
#include "export/http.h"

/* The route's handler: the page with a fresh nonce, its Content-Security-Policy and the other
 * headers of a page that runs a script. */
int status_page__handle(void *ctx, const struct http_request *req, struct http_response *resp);
/* The page with nonce in place of every __NONCE__ into f (tests); 0 or -1. */
int status_page__write(FILE *f, const char *nonce);

#endif /* NEXUS_STATUS_PAGE_H */
