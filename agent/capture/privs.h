/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The capabilities the agent needs, checked at start against its effective set (capget(2)), so
 * that a missing one is named with what it is for instead of surfacing later as a bare EPERM
 * from bpf(2) or perf_event_open(2). The set was found by experiment on Linux 6.18 (README,
 * "Privileges"; tests/integration/test_privileges.py proves it).
 */
#ifndef NEXUS_PRIVS_H
#define NEXUS_PRIVS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct priv_info {
	int cap;	   /* CAP_* number */
	const char *name;  /* "CAP_BPF" */
	const char *why;   /* what the agent does with it */
	const char *without; /* what happens without it */
};

#define PRIVS_COUNT 5
extern const struct priv_info privs__table[PRIVS_COUNT];

/* The effective capability set as a bit mask (bit n: capability n); 0 or -errno. */
int privs__effective(uint64_t *eff);

/*
 * Before a capture: says on out (one line each, naming the capability) what is missing for what
 * was asked. Returns -EPERM when capture cannot work at all (no CAP_BPF, CAP_PERFMON, or
 * --redis-uprobes without CAP_SYS_ADMIN), else 0; *probes_ok tells whether uprobes and USDT
 * probes can attach (false: the caller leaves them off).
 */
int privs__check(FILE *out, bool usdt, bool redis_uprobes, bool *probes_ok);

#endif /* NEXUS_PRIVS_H */
