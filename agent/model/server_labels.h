/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The labels that name a server on every per-server series: `server`, and for a server in a
 * container `container_id` and `pod_uid`, and `pod` and `namespace` when they are known. A server
 * of the host gets `server` alone, so its series are what they were before containers were known.
 */
#ifndef NEXUS_SERVER_LABELS_H
#define NEXUS_SERVER_LABELS_H

#include "identity.h"
#include "model/metric_model.h"

/* Resets ls to the server's labels; id may be NULL. */
void model__server_labels(struct mm_labels *ls, const char *server, const struct nx_identity *id);

#endif /* NEXUS_SERVER_LABELS_H */
