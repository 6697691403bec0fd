/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which processes are targets, found the way ps finds them: /proc. Executables are resolved through
 * /proc/PID/root, so a server inside a container is seen with its own filesystem's binary.
 */
#ifndef NEXUS_TARGETS_H
#define NEXUS_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "events.h"

#define NX_MAX_TARGET_PIDS 64
#define NX_MAX_LISTEN_PORTS 32

struct target_spec {
	const char *names[NX_MAX_EXEC_NAMES]; /* executable names: redis-server, postgres, --comm */
	int n_names;
	pid_t pids[NX_MAX_TARGET_PIDS];	      /* --pid */
	int n_pids;
};

struct target_info {
	pid_t tgid;
	pid_t ppid;
	char comm[NX_COMM_LEN];
	char exe[256];	    /* the executable's path inside the process's mount namespace */
	char host_exe[300]; /* the same file seen from here: /proc/PID/root/<exe> */
};

/* Reads what /proc says of one process; 0 or -errno (the process is gone: -ENOENT). */
int targets__describe(pid_t tgid, struct target_info *ti);
/* Whether a process with this executable basename or comm is a target by name. */
bool targets__name_matches(const struct target_spec *spec, const char *comm, const char *exe);
/* Calls fn for each running process the spec selects (by name, by pid, or as the child of a
 * listed pid); returns how many, or -errno. */
int targets__scan(const struct target_spec *spec,
		  void (*fn)(void *ctx, const struct target_info *ti), void *ctx);
/* TCP ports in LISTEN state that a process listens on itself (its socket inodes in
 * /proc/PID/net/tcp{,6}); when it owns none, its parent's in the same network namespace (a
 * postgres backend serves on the postmaster's), else every listener of its namespace. Returns how
 * many were stored (at most max). */
/* Whether a process exists (one we may not signal counts: EPERM). */
bool targets__alive(pid_t pid);

int targets__listen_ports(pid_t tgid, uint16_t *ports, int max);

#endif /* NEXUS_TARGETS_H */
