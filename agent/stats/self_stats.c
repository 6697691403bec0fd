// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "stats/self_stats.h"

void self_stats__init(struct self_stats_box *b)
{
	pthread_mutex_init(&b->lock, NULL);
	memset(&b->s, 0, sizeof(b->s));
}

void self_stats__publish(struct self_stats_box *b, const struct self_stats *s)
{
	pthread_mutex_lock(&b->lock);
	b->s = *s;
	pthread_mutex_unlock(&b->lock);
}

void self_stats__read(struct self_stats_box *b, struct self_stats *out)
{
	pthread_mutex_lock(&b->lock);
	*out = b->s;
	pthread_mutex_unlock(&b->lock);
}
