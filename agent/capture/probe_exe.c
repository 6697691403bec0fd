// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "capture/probe_exe.h"

int probe_exes__find(const struct probe_exes *set, uint32_t tgid, const char *what,
		     char exe[PROBE_EXE_LEN], struct probe_exe *id, int *slot, char *err,
		     size_t errlen)
{
	struct stat st;
	int free_slot = -1;

	snprintf(exe, PROBE_EXE_LEN, "/proc/%u/exe", tgid);
	if (stat(exe, &st)) {
		int rc = -errno;

		snprintf(err, errlen, "%s: %s", exe, strerror(-rc));
		return rc;
	}
	for (int i = 0; i < PROBE_MAX_EXES; i++) {
		if (!set->e[i].used) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (set->e[i].dev == st.st_dev && set->e[i].ino == st.st_ino) {
			*slot = i;
			return 0;
		}
	}
	if (free_slot < 0) {
		snprintf(err, errlen, "more than %d %s executables; not attaching to %s",
			 PROBE_MAX_EXES, what, exe);
		return -E2BIG;
	}
	memset(id, 0, sizeof(*id));
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	*slot = free_slot;
	return 1;
}

void probe_exes__add(struct probe_exes *set, int slot, const struct probe_exe *id)
{
	if (slot < 0 || slot >= PROBE_MAX_EXES || set->e[slot].used)
		return;
	set->e[slot] = *id;
	set->e[slot].used = true;
	set->e[slot].n_anchors = 0;
	set->e[slot].pinned = false;
	set->n++;
}

void probe_exes__anchor(struct probe_exes *set, int slot, uint32_t tgid)
{
	struct probe_exe *e;

	if (slot < 0 || slot >= PROBE_MAX_EXES || !set->e[slot].used)
		return;
	e = &set->e[slot];
	for (int i = 0; i < e->n_anchors; i++)
		if (e->anchors[i] == tgid)
			return;
	if (e->n_anchors == PROBE_MAX_ANCHORS)
		e->pinned = true; /* an anchor we cannot remember may outlive the others */
	else
		e->anchors[e->n_anchors++] = tgid;
}

int probe_exes__release(struct probe_exes *set, uint32_t tgid)
{
	for (int s = 0; s < PROBE_MAX_EXES; s++) {
		struct probe_exe *e = &set->e[s];

		if (!e->used)
			continue;
		for (int i = 0; i < e->n_anchors; i++) {
			if (e->anchors[i] != tgid)
				continue;
			e->anchors[i] = e->anchors[--e->n_anchors];
			if (e->n_anchors || e->pinned)
				return -1;
			e->used = false;
			set->n--;
			return s;
		}
	}
	return -1;
}
