// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "model/server_labels.h"

void model__server_labels(struct mm_labels *ls, const char *server, const struct nx_identity *id)
{
	mm_labels__reset(ls);
	mm_labels__add(ls, "server", server);
	if (!id)
		return;
	if (id->container_id[0])
		mm_labels__add(ls, "container_id", id->container_id);
	if (id->pod_uid[0])
		mm_labels__add(ls, "pod_uid", id->pod_uid);
	if (id->pod[0])
		mm_labels__add(ls, "pod", id->pod);
	if (id->namespace_[0])
		mm_labels__add(ls, "namespace", id->namespace_);
}
