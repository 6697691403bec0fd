/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Hands immutable snapshots from the one writer (the capture thread) to readers (HTTP, OTLP):
 * publishing swaps a pointer under a short lock; a reader takes a reference and renders without
 * any lock; the last reference frees the snapshot. The writer never waits for a reader.
 */
#ifndef NEXUS_SNAP_BOX_H
#define NEXUS_SNAP_BOX_H

#include <pthread.h>

struct snap_ref;

struct snap_box {
	pthread_mutex_t lock;
	struct snap_ref *cur;
};

void snap_box__init(struct snap_box *b);
/* Drops the current snapshot (freed when its last reader is done). */
void snap_box__destroy(struct snap_box *b);
/* Publishes data, to be freed with free_fn once nobody holds it. 0 or -ENOMEM (data freed). */
int snap_box__publish(struct snap_box *b, void *data, void (*free_fn)(void *data));
/* The current snapshot (NULL if none yet) with a reference in *ref; release with snap_box__put. */
void *snap_box__get(struct snap_box *b, struct snap_ref **ref);
void snap_box__put(struct snap_ref *ref);

#endif /* NEXUS_SNAP_BOX_H */
