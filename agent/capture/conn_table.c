// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Bounded (tgid, fd) -> connection table: chained hash over a fixed node array, LRU eviction. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "capture/conn_table.h"

#define NIL (-1)

struct conn_table {
	struct nx_conn *nodes;
	int32_t *buckets;
	uint32_t mask; /* buckets - 1 */
	uint32_t capacity;
	uint32_t count;
	int32_t free_head; /* released nodes, chained through hnext */
	uint32_t fresh;	   /* nodes [fresh, capacity) were never used: untouched, so not resident */
	int32_t lru_head;  /* most recently active */
	int32_t lru_tail;  /* eviction candidate */
	uint64_t evictions;
	conn_release_fn release;
	void *release_ctx;
};

static uint32_t hash_key(uint32_t tgid, uint32_t fd)
{
	uint64_t k = (uint64_t)tgid << 32 | fd;

	/* Murmur3 finaliser: fds are small consecutive numbers, tgids cluster. */
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (uint32_t)k;
}

struct conn_table *conn_table__new(uint32_t capacity, conn_release_fn release, void *ctx)
{
	struct conn_table *t;
	uint32_t nb = 1;

	if (capacity == 0 || capacity > (1U << 24)) {
		errno = EINVAL;
		return NULL;
	}
	while (nb < capacity)
		nb <<= 1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->nodes = calloc(capacity, sizeof(*t->nodes));
	t->buckets = malloc(nb * sizeof(*t->buckets));
	if (!t->nodes || !t->buckets) {
		conn_table__free(t);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < nb; i++)
		t->buckets[i] = NIL;
	/* No free list through every node: calloc's pages stay untouched (and out of the RSS) until
	 * connections need them, so --max-conns costs memory only as far as it is used. */
	t->mask = nb - 1;
	t->capacity = capacity;
	t->free_head = NIL;
	t->fresh = 0;
	t->lru_head = t->lru_tail = NIL;
	t->release = release;
	t->release_ctx = ctx;
	return t;
}

void conn_table__free(struct conn_table *t)
{
	if (!t)
		return;
	/* Whatever still hangs on a live connection is released too. */
	for (int32_t i = t->lru_head; t->release && i != NIL; i = t->nodes[i].lru_next)
		t->release(t->release_ctx, &t->nodes[i]);
	free(t->nodes);
	free(t->buckets);
	free(t);
}

static int32_t idx_of(const struct conn_table *t, const struct nx_conn *c)
{
	return (int32_t)(c - t->nodes);
}

struct nx_conn *conn_table__lookup(struct conn_table *t, uint32_t tgid, uint32_t fd)
{
	for (int32_t i = t->buckets[hash_key(tgid, fd) & t->mask]; i != NIL; i = t->nodes[i].hnext) {
		struct nx_conn *c = &t->nodes[i];

		if (c->tgid == tgid && c->fd == fd)
			return c;
	}
	return NULL;
}

static void lru_unlink(struct conn_table *t, struct nx_conn *c)
{
	if (c->lru_prev != NIL)
		t->nodes[c->lru_prev].lru_next = c->lru_next;
	else
		t->lru_head = c->lru_next;
	if (c->lru_next != NIL)
		t->nodes[c->lru_next].lru_prev = c->lru_prev;
	else
		t->lru_tail = c->lru_prev;
}

static void lru_push_head(struct conn_table *t, struct nx_conn *c)
{
	int32_t i = idx_of(t, c);

	c->lru_prev = NIL;
	c->lru_next = t->lru_head;
	if (t->lru_head != NIL)
		t->nodes[t->lru_head].lru_prev = i;
	t->lru_head = i;
	if (t->lru_tail == NIL)
		t->lru_tail = i;
}

void conn_table__touch(struct conn_table *t, struct nx_conn *c)
{
	if (t->lru_head == idx_of(t, c))
		return;
	lru_unlink(t, c);
	lru_push_head(t, c);
}

static void list_unlink(struct conn_table *t, struct nx_conn *c)
{
	struct conn_list *l = c->list;

	if (!l)
		return;
	if (c->pprev != NIL)
		t->nodes[c->pprev].pnext = c->pnext;
	else
		l->head = c->pnext;
	if (c->pnext != NIL)
		t->nodes[c->pnext].pprev = c->pprev;
	l->count--;
	c->list = NULL;
}

void conn_table__remove(struct conn_table *t, struct nx_conn *c)
{
	int32_t i = idx_of(t, c);
	int32_t *pp = &t->buckets[hash_key(c->tgid, c->fd) & t->mask];

	while (*pp != NIL && *pp != i)
		pp = &t->nodes[*pp].hnext;
	if (*pp == i)
		*pp = c->hnext;
	if (t->release)
		t->release(t->release_ctx, c);
	lru_unlink(t, c);
	list_unlink(t, c);
	memset(c, 0, sizeof(*c));
	c->hnext = t->free_head;
	t->free_head = i;
	t->count--;
}

struct nx_conn *conn_table__insert(struct conn_table *t, uint32_t tgid, uint32_t fd,
				   struct conn_list *list, struct nx_conn *evicted)
{
	struct nx_conn *c = conn_table__lookup(t, tgid, fd);
	uint32_t b = hash_key(tgid, fd) & t->mask;
	int32_t i;

	if (evicted)
		evicted->tgid = 0;
	if (c)
		conn_table__remove(t, c);
	if (t->free_head == NIL && t->fresh == t->capacity) {
		struct nx_conn *old = &t->nodes[t->lru_tail];

		if (evicted)
			*evicted = *old;
		conn_table__remove(t, old);
		t->evictions++;
	}
	if (t->free_head != NIL) {
		i = t->free_head;
		c = &t->nodes[i];
		t->free_head = c->hnext;
	} else {
		i = (int32_t)t->fresh++;
		c = &t->nodes[i];
	}
	memset(c, 0, sizeof(*c));
	c->tgid = tgid;
	c->fd = fd;
	c->hnext = t->buckets[b];
	t->buckets[b] = i;
	c->pprev = c->pnext = NIL;
	if (list) {
		c->pnext = list->head;
		if (list->head != NIL)
			t->nodes[list->head].pprev = i;
		list->head = i;
		list->count++;
		c->list = list;
	}
	lru_push_head(t, c);
	t->count++;
	return c;
}

void conn_table__remove_list(struct conn_table *t, struct conn_list *list,
			     void (*fn)(void *ctx, const struct nx_conn *c), void *ctx)
{
	while (list->head != NIL) {
		struct nx_conn *c = &t->nodes[list->head];

		if (fn)
			fn(ctx, c);
		conn_table__remove(t, c);
	}
}

uint32_t conn_table__count(const struct conn_table *t)
{
	return t->count;
}

uint64_t conn_table__evictions(const struct conn_table *t)
{
	return t->evictions;
}
