// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "export/prom.h"
#include "export/server_labels.h"

void server_labels__each(const struct nx_identity *id,
			 void (*fn)(void *ctx, const char *name, const char *value), void *ctx)
{
	if (!id)
		return;
	if (id->container_id[0])
		fn(ctx, "container_id", id->container_id);
	if (id->pod_uid[0])
		fn(ctx, "pod_uid", id->pod_uid);
	if (id->pod[0])
		fn(ctx, "pod", id->pod);
	if (id->namespace_[0])
		fn(ctx, "namespace", id->namespace_);
}

struct prom_buf {
	char *buf;
	size_t len;
};

static void add_prom(void *ctx, const char *name, const char *value)
{
	struct prom_buf *b = ctx;

	prom__label(b->buf, b->len, name, value);
}

void server_labels__prom(char *buf, size_t len, const char *server, const struct nx_identity *id)
{
	struct prom_buf b = { buf, len };

	prom__label(buf, len, "server", server);
	server_labels__each(id, add_prom, &b);
}
