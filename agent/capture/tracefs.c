// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "capture/tracefs.h"

bool tracefs__mounted(void)
{
	/* Either mount point serves: libbpf prefers debugfs's tracing dir when it exists. */
	return access(NX_TRACEFS "/events", F_OK) == 0 ||
	       access("/sys/kernel/debug/tracing/events", F_OK) == 0;
}

int tracefs__ensure(char *errmsg, size_t errlen)
{
	if (tracefs__mounted())
		return 0;
	if (mount("tracefs", NX_TRACEFS, "tracefs", 0, NULL) == 0 && tracefs__mounted())
		return 0;
	int err = -errno;

	snprintf(errmsg, errlen,
		 "tracefs is not mounted and mounting it at " NX_TRACEFS " failed: %s%s",
		 strerror(errno),
		 errno == EPERM ? " (mounting needs CAP_SYS_ADMIN; or mount it first: "
				  "mount -t tracefs tracefs " NX_TRACEFS ")"
				: "");
	return err ? err : -ENOENT;
}
