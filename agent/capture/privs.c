// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include "capture/privs.h"
#include "capture/tracefs.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

const struct priv_info privs__table[PRIVS_COUNT] = {
	{ CAP_BPF, "CAP_BPF", "loading the BPF programs, creating and reading their maps",
	  "nothing can be captured" },
	{ CAP_PERFMON, "CAP_PERFMON",
	  "attaching to tracepoints, reading kernel memory (sockets, task registers) from BPF",
	  "nothing can be captured" },
	{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN",
	  "uprobe perf events (PostgreSQL USDT probes, --redis-uprobes) and mounting tracefs when "
	  "it is not mounted",
	  "no USDT probes (buffer, lock and transaction figures), --redis-uprobes refused" },
	{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE",
	  "/proc/PID/exe, cwd and root of servers run by other users (postgres): their executable "
	  "for probes, their configuration",
	  "no probes and no max_connections for servers of other users" },
	{ CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH",
	  "reading postgresql.conf/postgresql.auto.conf in a data directory only postgres may read",
	  "max_connections is taken as the default (100) for connection saturation" },
};

int privs__effective(uint64_t *eff)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	/* Plain capget(2): two 32-bit words per set, no libcap needed for a bit test. */
	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	*eff = (uint64_t)data[0].effective | (uint64_t)data[1].effective << 32;
	return 0;
}

static bool has(uint64_t eff, int cap)
{
	return eff & (1ULL << cap);
}

static void missing(FILE *out, int i, const char *then)
{
	fprintf(out, "nexus-agent: missing capability %s (used for: %s): %s\n",
		privs__table[i].name, privs__table[i].why, then);
}

int privs__check(FILE *out, bool usdt, bool redis_uprobes, bool *probes_ok)
{
	uint64_t eff = 0;
	bool admin;
	int rc = 0;

	*probes_ok = true;
	if (privs__effective(&eff))
		return 0; /* cannot tell: let the kernel decide */
	admin = has(eff, CAP_SYS_ADMIN);
	/* The kernel takes CAP_SYS_ADMIN for CAP_BPF and CAP_PERFMON (bpf_capable(),
	 * perfmon_capable()): only their absence together is fatal. */
	if (!has(eff, CAP_BPF) && !admin) {
		missing(out, 0, "cannot capture (CAP_SYS_ADMIN would stand in for it)");
		rc = -EPERM;
	}
	if (!has(eff, CAP_PERFMON) && !admin) {
		missing(out, 1, "cannot capture (CAP_SYS_ADMIN would stand in for it)");
		rc = -EPERM;
	}
	if (!admin) {
		*probes_ok = false;
		if (redis_uprobes) {
			missing(out, 2, "--redis-uprobes cannot attach");
			rc = -EPERM;
		} else if (usdt) {
			missing(out, 2, "PostgreSQL USDT probes are off (buffer, lock and "
					"transaction figures; --no-usdt silences this)");
		}
		if (!tracefs__mounted())
			missing(out, 2, "tracefs is not mounted and cannot be mounted (mount -t "
					"tracefs tracefs " NX_TRACEFS ")");
	}
	if (!has(eff, CAP_SYS_PTRACE))
		missing(out, 3, "servers run by other users get no probes and no configuration");
	if (!has(eff, CAP_DAC_READ_SEARCH) && !has(eff, CAP_DAC_OVERRIDE))
		missing(out, 4, "PostgreSQL's max_connections is taken as its default");
	return rc;
}
