// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "export/capacity_metrics.h"
#include "model/server_labels.h"

void capacity_metrics__fill(struct metric_model *m, const struct engine_snapshot *s)
{
	bool family = false;

	for (int i = 0; s && i < s->n_servers; i++) {
		const struct engine_server_health *h = &s->servers[i];

		for (int r = 0; h->has_cap && r < CAP__COUNT; r++) {
			struct mm_labels ls;

			/* without a limit there is nothing to run out of (traffic, unknown maxmemory) */
			if (!(h->cap[r].limit > 0))
				continue;
			if (!family)
				mm__family(m, "nexus_capacity_time_to_limit_seconds", MM_GAUGE, "s",
					   "Seconds until the robust trend (Theil-Sen, last 6 h) of a "
					   "resource reaches the server's limit; +Inf: no rise.");
			family = true;
			model__server_labels(&ls, h->server, &h->ident);
			mm_labels__add(&ls, "resource", cap_resource__str(r));
			mm__sample(m, &ls, h->cap[r].ttl_s);
		}
	}
}
