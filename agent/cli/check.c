// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent check: can the agent run here, through which path, and on which targets. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include "capture/capture.h"
#include "capture/elf_syms.h"
#include "capture/pg_usdt.h"
#include "capture/privs.h"
#include "capture/redis_uprobes.h"
#include "capture/features.h"
#include "capture/pod_identity.h"
#include "capture/proc_table.h"
#include "capture/targets.h"
#include "cli/commands.h"
#include "cli/opts.h"

static const char *const kind_names[] = { "other", "redis", "postgres" };

static const char *pod_logs_dir; /* --pod-logs-dir */

/* Its container and pod, as run and trace label its series. */
static void show_identity(pid_t tgid)
{
	struct nx_identity id;

	if (!pod_identity__lookup(tgid, pod_logs_dir, &id))
		return;
	printf("              container: %s%s%s%s\n", id.container_id[0] ? id.container_id : "-",
	       id.runtime[0] ? " (" : "", id.runtime, id.runtime[0] ? ")" : "");
	if (id.pod_uid[0])
		printf("              pod: %s/%s uid %s\n", id.namespace_[0] ? id.namespace_ : "?",
		       id.pod[0] ? id.pod : "?", id.pod_uid);
}

static void show_target(void *ctx, const struct target_info *ti)
{
	int *n = ctx;
	const char *base = strrchr(ti->exe, '/');

	/* What a uprobe path would attach to in redis-server: command execution and key lookups. */
	static const char *const redis_syms[] = { "call", "lookupKey" };
	enum nx_server_kind kind = nx_kind_of_comm(ti->comm);
	bool found[2];

	(*n)++;
	if (kind == NX_KIND_OTHER && base)
		kind = nx_kind_of_comm(base + 1);
	printf("  pid %-7d %-15s %s (%s)\n", ti->tgid, ti->comm, ti->exe[0] ? ti->exe : "(no exe)",
	       kind_names[kind]);
	if (ti->host_exe[0])
		printf("              binary seen from here: %s\n", ti->host_exe);
	show_identity(ti->tgid);
	if (kind == NX_KIND_REDIS && ti->host_exe[0]) {
		if (elf_syms__find(ti->host_exe, redis_syms, 2, found))
			printf("              uprobes: cannot read the binary's symbols\n");
		else
			printf("              uprobe symbols: call %s, lookupKey %s%s\n",
			       found[0] ? "found" : "MISSING", found[1] ? "found" : "MISSING",
			       found[0] && found[1] ? "" : " (a stripped binary: the wire path still works)");
	}
	if (kind == NX_KIND_POSTGRES && ti->host_exe[0]) {
		char missing[256];

		if (pg_usdt__binary_has_probes(ti->host_exe, missing, sizeof(missing)))
			printf("              USDT probes: all found (buffers, locks, transactions)\n");
		else
			printf("              USDT probes: MISSING %s (built without --enable-dtrace? "
			       "the wire figures still work)\n", missing);
	}
}

/* The capabilities of README "Privileges", each with what it is for (effective set now). */
static void show_privileges(void)
{
	uint64_t eff;

	if (privs__effective(&eff)) {
		printf("\nprivileges: cannot read the capability sets: %s\n", strerror(errno));
		return;
	}
	printf("\nprivileges (effective capabilities):\n");
	for (int i = 0; i < PRIVS_COUNT; i++) {
		bool on = eff & (1ULL << privs__table[i].cap);

		printf("  %-20s %-4s %s%s%s\n", privs__table[i].name, on ? "yes" : "no",
		       privs__table[i].why, on ? "" : "; without it: ",
		       on ? "" : privs__table[i].without);
	}
}

static void discard(void *ctx, const void *rec, size_t size)
{
}

/* The optional probe objects load into the capture's maps: that they verify here is what
 * `run` needs; attaching them waits for a postgres or redis-server binary. */
static void try_optional(struct capture *c, char *out, size_t len)
{
	char msg[200] = "";
	struct pg_usdt *u = pg_usdt__open(c, true, msg, sizeof(msg));
	struct redis_uprobes *r;

	int n = snprintf(out, len, "postgres USDT: %s%s\n", u ? "ok: programs loaded" : "FAILED: ",
			 u ? "" : msg);

	pg_usdt__close(u);
	msg[0] = '\0';
	r = redis_uprobes__open(c, msg, sizeof(msg));
	snprintf(out + n, n < (int)len ? len - n : 0, "redis uprobes: %s%s\n",
		 r ? "ok: programs loaded (used with --redis-uprobes)" : "FAILED: ", r ? "" : msg);
	redis_uprobes__close(r);
}

/* The real thing: load and attach every program, then detach. */
static int try_capture(char *msg, size_t len, char *opt, size_t optlen)
{
	const char *names[] = { "redis-server" };
	struct capture_opts o = {
		.capture_bytes = NX_DEFAULT_CAPTURE,
		.ring_bytes = 1 << 20,
		.max_fds = 1024,
		.exec_names = names,
		.n_exec_names = 1,
	};
	struct capture *c = capture__open(&o, discard, NULL, msg, len);

	if (!c)
		return -errno;
	try_optional(c, opt, optlen);
	capture__close(c);
	return 0;
}

int cmd_check(int argc, char **argv)
{
	struct feature f[FEAT__COUNT] = {};
	struct utsname u;
	struct nx_opts o;
	char msg[256] = "", opt[512] = "";
	bool missing = false;
	int n = 0, err;

	if (opts__parse(NX_CMD_CHECK, argc, argv, &o))
		return NX_EXIT_USAGE;
	uname(&u);
	printf("nexus-agent %s on %s %s %s\n\n", NX_VERSION, u.sysname, u.release, u.machine);
	features__probe(f);
	for (int i = 0; i < FEAT__COUNT; i++) {
		printf("  %-20s %-4s %s\n", f[i].name, f[i].ok ? "yes" : "no", f[i].detail);
		missing |= f[i].required && !f[i].ok;
	}

	show_privileges();
	err = try_capture(msg, sizeof(msg), opt, sizeof(opt));
	printf("\nattach path: syscalls:sys_exit_{read,write,readv,writev,recvfrom,sendto,recvmsg,"
	       "sendmsg,accept,accept4,connect,close,dup2,dup3},\n"
	       "             sock:inet_sock_set_state, sched:sched_process_{exec,exit}, "
	       "raw_tp:sched_process_fork\n");
	printf("request wait: %s\n", capture__has_data_ready()
					  ? "sock:sk_data_ready (arrival at the socket to the server's read)"
					  : "not measured (no sock:sk_data_ready on this kernel)");
	printf("             (tracepoints only: neither fentry/fexit nor kprobes are needed)\n");
	if (err)
		printf("capture:     FAILED: %s\n", msg[0] ? msg : strerror(-err));
	else
		printf("capture:     ok: every program loaded and attached, then detached\n%s", opt);

	printf("\ntargets (by executable name:");
	for (int i = 0; i < o.spec.n_names; i++)
		printf(" %s", o.spec.names[i]);
	for (int i = 0; i < o.spec.n_pids; i++)
		printf(" pid %d", o.spec.pids[i]);
	printf("):\n");
	pod_logs_dir = o.pod_logs_dir;
	if (targets__scan(&o.spec, show_target, &n) < 0)
		printf("  cannot scan /proc: %s\n", strerror(errno));
	else if (!n)
		printf("  none running now; they are picked up when they start\n");

	if (missing || err) {
		fprintf(stderr, "\nnexus-agent cannot capture on this host: %s\n",
			err ? (msg[0] ? msg : strerror(-err)) : "a required feature above says no");
		return NX_EXIT_FAIL;
	}
	printf("\nverdict: nexus-agent can run here\n");
	return 0;
}
