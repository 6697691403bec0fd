// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "stats/capped.h"
#include "util.h"

void *capped__get(void **slots, int *n, int cap, size_t name_off, const char *name,
		  void *(*make)(const char *name), uint64_t *dropped)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp((const char *)slots[i] + name_off, name))
			return slots[i];
	if (*n < cap) {
		void *e = make(name);

		if (e)
			slots[(*n)++] = e;
		return e;
	}
	if (dropped)
		(*dropped)++;
	if (!slots[cap])
		slots[cap] = make(NX_OTHER);
	return slots[cap];
}
