// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include "stats/snap_box.h"

struct snap_ref {
	int refs; /* the box's own reference + one per reader */
	void *data;
	void (*free_fn)(void *data);
};

void snap_box__init(struct snap_box *b)
{
	pthread_mutex_init(&b->lock, NULL);
	b->cur = NULL;
}

void snap_box__put(struct snap_ref *ref)
{
	if (ref && __atomic_sub_fetch(&ref->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		ref->free_fn(ref->data);
		free(ref);
	}
}

int snap_box__publish(struct snap_box *b, void *data, void (*free_fn)(void *data))
{
	struct snap_ref *ref = malloc(sizeof(*ref)), *old;

	if (!ref) {
		free_fn(data);
		return -ENOMEM;
	}
	ref->refs = 1;
	ref->data = data;
	ref->free_fn = free_fn;
	pthread_mutex_lock(&b->lock);
	old = b->cur;
	b->cur = ref;
	pthread_mutex_unlock(&b->lock);
	snap_box__put(old);
	return 0;
}

void *snap_box__get(struct snap_box *b, struct snap_ref **ref)
{
	pthread_mutex_lock(&b->lock);
	*ref = b->cur;
	if (*ref)
		__atomic_add_fetch(&(*ref)->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&b->lock);
	return *ref ? (*ref)->data : NULL;
}

void snap_box__destroy(struct snap_box *b)
{
	pthread_mutex_lock(&b->lock);
	snap_box__put(b->cur);
	b->cur = NULL;
	pthread_mutex_unlock(&b->lock);
}
