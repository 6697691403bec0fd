// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "capture/server_conf.h"
#include "capture/server_limits.h"

void server_limits__init(struct server_limits *sl)
{
	memset(sl, 0, sizeof(*sl));
}

void server_limits__get(struct server_limits *sl, uint32_t pid, bool redis,
			struct server_limit *out)
{
	int slot = -1;

	memset(out, 0, sizeof(*out));
	if (!pid)
		return;
	for (int i = 0; i < SL_MAX && slot < 0; i++)
		if (sl->e[i].pid == pid && sl->e[i].redis == redis)
			slot = i;
	if (slot < 0) {
		/* A new process: its configuration, once. */
		slot = sl->next;
		sl->next = (sl->next + 1) % SL_MAX;
		memset(&sl->e[slot], 0, sizeof(sl->e[slot]));
		sl->e[slot].pid = pid;
		sl->e[slot].redis = redis;
		if (redis) {
			struct redis_conf rc;

			server_conf__redis(pid, &rc);
			sl->e[slot].v.max_conns = rc.maxclients > 0 ? (uint32_t)rc.maxclients : 0;
			sl->e[slot].v.maxmemory = rc.maxmemory;
		} else {
			int max = server_conf__pg_max_connections(pid);

			sl->e[slot].v.max_conns = max > 0 ? (uint32_t)max : 0;
		}
	}
	*out = sl->e[slot].v;
	/* A postmaster's own memory says little of the server's: Redis only. */
	out->rss_bytes = redis ? server_conf__rss_bytes(pid) : 0;
}
