// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "export/capacity_metrics.h"

#define LABELS 512

void capacity_metrics__render(struct prom *p, const struct engine_snapshot *s)
{
	bool family = false;

	for (int i = 0; s && i < s->n_servers; i++) {
		const struct engine_server_health *h = &s->servers[i];

		for (int r = 0; h->has_cap && r < CAP__COUNT; r++) {
			char labels[LABELS] = "";

			/* without a limit there is nothing to run out of (traffic, unknown maxmemory) */
			if (!(h->cap[r].limit > 0))
				continue;
			if (!family)
				prom__family(p, "nexus_capacity_time_to_limit_seconds", "gauge",
					     "Seconds until the robust trend (Theil-Sen, last 6 h) of a "
					     "resource reaches the server's limit; +Inf: no rise.");
			family = true;
			prom__label(labels, LABELS, "server", h->server);
			prom__label(labels, LABELS, "resource", cap_resource__str(r));
			prom__sample(p, "nexus_capacity_time_to_limit_seconds", labels,
				     h->cap[r].ttl_s);
		}
	}
}
