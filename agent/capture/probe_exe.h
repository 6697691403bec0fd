/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The executables an optional probe object (pg_usdt, redis_uprobes) is attached to. Probes go on
 * a file for every process running it, so each file is attached once however many processes
 * (or containers) run it; files are told apart by device and inode.
 *
 * Each file also remembers the target processes that asked for it (its anchors: the processes
 * found at start and those that exec'd it later; children forked from them are covered by the
 * file's probes without being listed). When the last anchor exits, the caller detaches the file:
 * a server restarted from another binary leaves no attachment behind on the old one.
 */
#ifndef NEXUS_PROBE_EXE_H
#define NEXUS_PROBE_EXE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROBE_MAX_EXES 8     /* distinct executables per kind (versions, containers) */
#define PROBE_MAX_ANCHORS 32 /* processes remembered per executable; more pin it for the run */
#define PROBE_EXE_LEN 64

struct probe_exe {
	dev_t dev;
	ino_t ino;
	bool used;
	bool pinned; /* more anchors than remembered: never detached before the end */
	int n_anchors;
	uint32_t anchors[PROBE_MAX_ANCHORS];
};

struct probe_exes {
	int n; /* slots in use */
	struct probe_exe e[PROBE_MAX_EXES];
};

/*
 * Finds the executable of process tgid: exe gets a path that reaches it from here (/proc/PID/exe,
 * inside a container's mount namespace too). 1 when the file is not in set yet (*slot is a free
 * slot, *id what to store there once attached), 0 when it is (*slot is its slot), -errno when it
 * cannot be (err says why; `what` names the kind of executable in the message for a full set).
 */
int probe_exes__find(const struct probe_exes *set, uint32_t tgid, const char *what,
		     char exe[PROBE_EXE_LEN], struct probe_exe *id, int *slot, char *err,
		     size_t errlen);
void probe_exes__add(struct probe_exes *set, int slot, const struct probe_exe *id);
/* Process tgid runs the file in slot (once per tgid). */
void probe_exes__anchor(struct probe_exes *set, int slot, uint32_t tgid);
/* Process tgid is gone: returns the slot its file had when that was the file's last anchor (the
 * slot is free now; the caller detaches the file's probes), else -1. */
int probe_exes__release(struct probe_exes *set, uint32_t tgid);

#endif /* NEXUS_PROBE_EXE_H */
