/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The labels that name a server on every per-server series: `server`, and for a server in a
 * container `container_id` and `pod_uid`, and `pod` and `namespace` when they are known. A server
 * of the host gets `server` alone, so its series are what they were before containers were known.
 */
#ifndef NEXUS_SERVER_LABELS_H
#define NEXUS_SERVER_LABELS_H

#include <stddef.h>
#include "identity.h"

/* Appends the labels (prom__label's format) to buf; id may be NULL. */
void server_labels__prom(char *buf, size_t len, const char *server, const struct nx_identity *id);

/* Calls fn for each identity label with a value, in the order above (not `server`): for label
 * sets built elsewhere (the metric model, OTLP attributes). */
void server_labels__each(const struct nx_identity *id,
			 void (*fn)(void *ctx, const char *name, const char *value), void *ctx);

#endif /* NEXUS_SERVER_LABELS_H */
