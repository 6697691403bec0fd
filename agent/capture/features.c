// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "capture/capture.h"
#include "capture/features.h"
#include "capture/tracefs.h"

static void set(struct feature *f, const char *name, bool ok, bool required, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void set(struct feature *f, const char *name, bool ok, bool required, const char *fmt, ...)
{
	va_list ap;

	f->name = name;
	f->ok = ok;
	f->required = required;
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
}

/* CAP_BPF (39) and CAP_PERFMON (38), or CAP_SYS_ADMIN (21), in the effective set. */
static void probe_priv(struct feature *f)
{
	char line[256];
	unsigned long long eff = 0;
	FILE *fp = fopen("/proc/self/status", "re");

	while (fp && fgets(line, sizeof(line), fp))
		if (!strncmp(line, "CapEff:", 7)) {
			eff = strtoull(line + 7, NULL, 16);
			break;
		}
	if (fp)
		fclose(fp);
	if (eff & (1ULL << 21))
		set(f, "privileges", true, true, "CAP_SYS_ADMIN%s", geteuid() ? "" : " (root)");
	else if ((eff & (1ULL << 39)) && (eff & (1ULL << 38)))
		set(f, "privileges", true, true, "CAP_BPF and CAP_PERFMON");
	else
		set(f, "privileges", false, true,
		    "need root, or CAP_BPF + CAP_PERFMON (+ CAP_SYS_ADMIN to mount tracefs)");
}

static void probe_btf(struct feature *f)
{
	struct btf *btf = btf__load_vmlinux_btf();

	if (btf) {
		set(f, "BTF", true, true, "/sys/kernel/btf/vmlinux, %u types", btf__type_cnt(btf));
		btf__free(btf);
	} else {
		set(f, "BTF", false, true, "no kernel BTF (CONFIG_DEBUG_INFO_BTF): %s",
		    strerror(errno));
	}
}

/* A BPF_TRACE_FENTRY program on a kernel function, loaded and attached for real. */
static void probe_fentry(struct feature *f)
{
	struct bpf_insn insns[] = {
		{ .code = 0xb7, .dst_reg = 0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 },			  /* exit */
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY);
	struct btf *btf = btf__load_vmlinux_btf();
	int id, prog, link;

	if (!btf) {
		set(f, "fentry", false, false, "needs BTF");
		return;
	}
	id = btf__find_by_name_kind(btf, "do_unlinkat", BTF_KIND_FUNC);
	btf__free(btf);
	if (id < 0) {
		set(f, "fentry", false, false, "no do_unlinkat in BTF to try it on");
		return;
	}
	opts.attach_btf_id = id;
	prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "nx_probe_fentry", "GPL", insns, 2, &opts);
	if (prog < 0) {
		set(f, "fentry", false, false, "refused at load: %s (not used)", strerror(errno));
		return;
	}
	link = bpf_raw_tracepoint_open(NULL, prog);
	if (link < 0)
		set(f, "fentry", false, false, "refused at attach: %s (not used)", strerror(errno));
	else
		set(f, "fentry", true, false, "available (not used: tracepoints cover what we need)");
	if (link >= 0)
		close(link);
	close(prog);
}

static int read_pmu_type(const char *pmu)
{
	char path[128], buf[32], *end;
	long type;
	int fd, n;

	snprintf(path, sizeof(path), "/sys/bus/event_source/devices/%s/type", pmu);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	buf[n] = '\0';
	errno = 0;
	type = strtol(buf, &end, 10);
	if (end == buf || (*end && *end != '\n') || errno || type < 0 || type > INT_MAX)
		return -EINVAL;
	return (int)type;
}

/* A kprobe perf event on a kernel function, created and closed. */
static void probe_kprobes(struct feature *f)
{
	struct perf_event_attr attr = { .size = sizeof(attr) };
	int type = read_pmu_type("kprobe"), fd;

	if (type < 0) {
		set(f, "kprobes", false, false, "no kprobe PMU (CONFIG_KPROBES off?); not used");
		return;
	}
	attr.type = type;
	attr.config1 = (unsigned long)"do_unlinkat";
	fd = syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		set(f, "kprobes", false, false, "refused: %s; not used", strerror(errno));
		return;
	}
	close(fd);
	set(f, "kprobes", true, false, "available (not used)");
}

void features__probe(struct feature out[FEAT__COUNT])
{
	char msg[256] = "";
	int uprobe = read_pmu_type("uprobe");
	bool cookie;

	probe_priv(&out[FEAT_PRIV]);
	probe_btf(&out[FEAT_BTF]);
	set(&out[FEAT_RINGBUF], "ring buffer", libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1,
	    true, "BPF_MAP_TYPE_RINGBUF");
	if (tracefs__ensure(msg, sizeof(msg)) == 0)
		set(&out[FEAT_TRACEFS], "tracefs", true, true, "mounted");
	else
		set(&out[FEAT_TRACEFS], "tracefs", false, true, "%s", msg);
	set(&out[FEAT_SYSCALL_TP], "syscall tracepoints",
	    access(NX_TRACEFS "/events/syscalls/sys_exit_read", F_OK) == 0 ||
		    access("/sys/kernel/debug/tracing/events/syscalls/sys_exit_read", F_OK) == 0,
	    true, "syscalls:sys_exit_* (CONFIG_FTRACE_SYSCALLS)");
	set(&out[FEAT_TASK_REGS], "bpf_task_pt_regs",
	    libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_pt_regs, NULL) == 1, true,
	    "syscall arguments at syscall exit (5.15+)");
	set(&out[FEAT_UPROBES], "uprobes", uprobe >= 0, false,
	    uprobe >= 0 ? "uprobe PMU" : "no uprobe PMU: redis/postgres function probes unavailable");
	cookie = libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, NULL) == 1;
	set(&out[FEAT_USDT], "USDT", uprobe >= 0 && cookie, false,
	    uprobe >= 0 && cookie ? "uprobes with BPF cookies (libbpf USDT)"
				  : "needs uprobes and bpf_get_attach_cookie (5.15+)");
	set(&out[FEAT_DATA_READY], "sk_data_ready", capture__has_data_ready(), false,
	    capture__has_data_ready()
		    ? "sock:sk_data_ready: request wait (arrival to the server's read) measured"
		    : "no sock:sk_data_ready (6.6+): request wait not measured");
	probe_fentry(&out[FEAT_FENTRY]);
	probe_kprobes(&out[FEAT_KPROBES]);
}
