/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The executables an optional probe object (pg_usdt, redis_uprobes) is attached to. Probes go on
 * a file for every process running it, so each file is attached once however many processes
 * (or containers) run it; files are told apart by device and inode.
 */
#ifndef NEXUS_PROBE_EXE_H
#define NEXUS_PROBE_EXE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROBE_MAX_EXES 8 /* distinct executables per kind (versions, containers) */
#define PROBE_EXE_LEN 64

struct probe_exe {
	dev_t dev;
	ino_t ino;
};

struct probe_exes {
	int n;
	struct probe_exe e[PROBE_MAX_EXES];
};

/*
 * Finds the executable of process tgid: exe gets a path that reaches it from here (/proc/PID/exe,
 * inside a container's mount namespace too). 1 when the file is not in set yet (*id is what to
 * add once attached), 0 when it is, -errno when it cannot be (err says why; `what` names the kind
 * of executable in the message for a full set).
 */
int probe_exes__find(const struct probe_exes *set, uint32_t tgid, const char *what,
		     char exe[PROBE_EXE_LEN], struct probe_exe *id, char *err, size_t errlen);
void probe_exes__add(struct probe_exes *set, const struct probe_exe *id);

#endif /* NEXUS_PROBE_EXE_H */
