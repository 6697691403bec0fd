/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tracefs, which tracepoint attachment reads event ids from: find it, or mount it. */
#ifndef NEXUS_TRACEFS_H
#define NEXUS_TRACEFS_H

#include <stdbool.h>
#include <stddef.h>

#define NX_TRACEFS "/sys/kernel/tracing"

/* Whether tracefs is mounted where libbpf looks for it. */
bool tracefs__mounted(void);
/* Mounts tracefs at /sys/kernel/tracing unless it is there. 0, or -errno with errmsg set. */
int tracefs__ensure(char *errmsg, size_t errlen);

#endif /* NEXUS_TRACEFS_H */
