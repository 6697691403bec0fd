// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Bounded tgid -> process table: chained hash over a fixed array, so entries never move. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "capture/proc_table.h"
#include "util.h"

#define NIL (-1)

struct proc_table {
	struct nx_proc *nodes;
	int32_t *buckets;
	uint32_t mask;
	uint32_t capacity;
	uint32_t count;
	int32_t free_head; /* removed entries, chained through hnext */
	uint32_t fresh;	   /* entries below this index have been used */
	uint64_t drops;
};

static uint32_t bucket_of(const struct proc_table *t, uint32_t tgid)
{
	return nx_hash32(tgid) & t->mask;
}

struct proc_table *proc_table__new(uint32_t capacity)
{
	struct proc_table *t;
	uint32_t nb = 1;

	if (capacity == 0 || capacity > (1U << 22)) {
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
		proc_table__free(t);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < nb; i++)
		t->buckets[i] = NIL;
	/* No free list through every entry: calloc's pages stay untouched (and out of the RSS,
	 * 5.5 MB at 16,384 entries) until processes come; entries are taken in order first. */
	t->free_head = NIL;
	t->mask = nb - 1;
	t->capacity = capacity;
	return t;
}

void proc_table__free(struct proc_table *t)
{
	if (!t)
		return;
	free(t->nodes);
	free(t->buckets);
	free(t);
}

struct nx_proc *proc_table__lookup(struct proc_table *t, uint32_t tgid)
{
	for (int32_t i = t->buckets[bucket_of(t, tgid)]; i != NIL; i = t->nodes[i].hnext)
		if (t->nodes[i].tgid == tgid)
			return &t->nodes[i];
	return NULL;
}

struct nx_proc *proc_table__get(struct proc_table *t, uint32_t tgid)
{
	struct nx_proc *p = proc_table__lookup(t, tgid);
	uint32_t b = bucket_of(t, tgid);
	int32_t i;

	if (p)
		return p;
	if (t->free_head != NIL) {
		i = t->free_head;
		t->free_head = t->nodes[i].hnext;
	} else if (t->fresh < t->capacity) {
		i = (int32_t)t->fresh++;
	} else {
		t->drops++;
		return NULL;
	}
	p = &t->nodes[i];
	memset(p, 0, sizeof(*p));
	p->tgid = tgid;
	p->conns = CONN_LIST_INIT;
	p->hnext = t->buckets[b];
	t->buckets[b] = i;
	t->count++;
	return p;
}

void proc_table__remove(struct proc_table *t, struct nx_proc *p)
{
	int32_t i = (int32_t)(p - t->nodes);
	int32_t *pp = &t->buckets[bucket_of(t, p->tgid)];

	while (*pp != NIL && *pp != i)
		pp = &t->nodes[*pp].hnext;
	if (*pp != i)
		return; /* not in the table */
	*pp = p->hnext;
	memset(p, 0, sizeof(*p));
	p->hnext = t->free_head;
	t->free_head = i;
	t->count--;
}

uint32_t proc_table__count(const struct proc_table *t)
{
	return t->count;
}

uint64_t proc_table__drops(const struct proc_table *t)
{
	return t->drops;
}

enum nx_server_kind nx_kind_of_comm(const char *comm)
{
	if (!strcmp(comm, "redis-server") || !strcmp(comm, "valkey-server"))
		return NX_KIND_REDIS;
	if (!strcmp(comm, "postgres") || !strcmp(comm, "postmaster"))
		return NX_KIND_POSTGRES;
	return NX_KIND_OTHER;
}
