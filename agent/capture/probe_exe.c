// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "capture/probe_exe.h"

int probe_exes__find(const struct probe_exes *set, uint32_t tgid, const char *what,
		     char exe[PROBE_EXE_LEN], struct probe_exe *id, char *err, size_t errlen)
{
	struct stat st;

	snprintf(exe, PROBE_EXE_LEN, "/proc/%u/exe", tgid);
	if (stat(exe, &st)) {
		int rc = -errno;

		snprintf(err, errlen, "%s: %s", exe, strerror(-rc));
		return rc;
	}
	for (int i = 0; i < set->n; i++)
		if (set->e[i].dev == st.st_dev && set->e[i].ino == st.st_ino)
			return 0;
	if (set->n == PROBE_MAX_EXES) {
		snprintf(err, errlen, "more than %d %s executables; not attaching to %s",
			 PROBE_MAX_EXES, what, exe);
		return -E2BIG;
	}
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 1;
}

void probe_exes__add(struct probe_exes *set, const struct probe_exe *id)
{
	if (set->n < PROBE_MAX_EXES)
		set->e[set->n++] = *id;
}
