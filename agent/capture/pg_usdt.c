// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "events.h"
#include "pg_usdt.skel.h"
#include "capture/capture.h"
#include "capture/elf_syms.h"
#include "capture/pg_usdt.h"
#include "capture/probe_exe.h"

/* Program and probe, in the order of the skeleton's programs. */
static const struct {
	const char *name;
	bool required;	/* the figures are wrong without it; lock and deadlock probes are extras */
	bool exec_time; /* only for execution time (--pg-exec-time): three traps per statement */
} probes[] = {
	{ "buffer__read__done", true, false },
	{ "lock__wait__start", false, false },
	{ "lock__wait__done", false, false },
	{ "query__execute__done", true, false },
	{ "transaction__commit", true, false },
	{ "transaction__abort", true, false },
	{ "deadlock__found", false, false },
	{ "query__start", false, true }, /* without these, buffers and locks still work */
	{ "query__done", false, true },
	{ "query__execute__start", false, true },
};
#define N_PROBES (sizeof(probes) / sizeof(probes[0]))

struct pg_usdt {
	struct pg_usdt_bpf *skel;
	struct bpf_link *fork_link; /* gives a watched process's children their pg_tasks entry */
	bool exec_time;
	int ncpus;		    /* pg_relations is per CPU */
	struct probe_exes exes;
	struct bpf_link *links[PROBE_MAX_EXES][N_PROBES]; /* per attached executable */
};

static struct bpf_program *prog_of(struct pg_usdt *u, int i)
{
	struct bpf_program *p[N_PROBES] = {
		u->skel->progs.nx_pg_buf_read,  u->skel->progs.nx_pg_lock_start,
		u->skel->progs.nx_pg_lock_done,    u->skel->progs.nx_pg_exec_done,
		u->skel->progs.nx_pg_commit, u->skel->progs.nx_pg_abort,
		u->skel->progs.nx_pg_deadlock, u->skel->progs.nx_pg_q_start,
		u->skel->progs.nx_pg_q_done, u->skel->progs.nx_pg_x_start,
	};
	return p[i];
}

struct pg_usdt *pg_usdt__open(struct capture *cap, bool exec_time, char *err, size_t errlen)
{
	struct pg_usdt *u = calloc(1, sizeof(*u));
	int rc;

	if (!u)
		return NULL;
	u->exec_time = exec_time;
	u->ncpus = libbpf_num_possible_cpus();
	if (u->ncpus <= 0) {
		rc = u->ncpus ? u->ncpus : -EINVAL;
		snprintf(err, errlen, "cannot count CPUs: %s", strerror(-rc));
		goto fail;
	}
	u->skel = pg_usdt_bpf__open();
	if (!u->skel) {
		rc = -errno;
		snprintf(err, errlen, "opening the USDT object failed: %s", strerror(-rc));
		goto fail;
	}
	rc = capture__share_maps(cap, u->skel->maps.events, u->skel->maps.counters);
	if (!rc)
		rc = pg_usdt_bpf__load(u->skel);
	if (rc) {
		snprintf(err, errlen, "loading the USDT programs failed: %s", strerror(-rc));
		goto fail;
	}
	u->fork_link = bpf_program__attach(u->skel->progs.nx_pg_fork);
	if (!u->fork_link) {
		rc = -errno;
		snprintf(err, errlen, "attaching the fork tracepoint failed: %s", strerror(-rc));
		goto fail;
	}
	return u;
fail:
	pg_usdt__close(u);
	errno = -rc;
	return NULL;
}

void pg_usdt__close(struct pg_usdt *u)
{
	if (!u)
		return;
	/* Only slots in use: a failed attach leaves destroyed pointers in its slot. */
	for (int b = 0; b < PROBE_MAX_EXES; b++) {
		if (!u->exes.e[b].used)
			continue;
		for (size_t i = 0; i < N_PROBES; i++)
			bpf_link__destroy(u->links[b][i]);
	}
	bpf_link__destroy(u->fork_link);
	pg_usdt_bpf__destroy(u->skel);
	free(u);
}

/* Watched from now on: the process gets its pg_tasks entry (task storage is keyed by a pidfd).
 * One made at fork already holds figures and stays. A process that is gone needs none. */
static void watch(struct pg_usdt *u, uint32_t tgid)
{
	struct nx_pg_task zero = {};
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)tgid, 0);

	if (pidfd < 0)
		return;
	bpf_map_update_elem(bpf_map__fd(u->skel->maps.pg_tasks), &pidfd, &zero, BPF_NOEXIST);
	close(pidfd);
}

int pg_usdt__attach_pid(struct pg_usdt *u, uint32_t tgid, char *err, size_t errlen)
{
	struct bpf_link **links;
	char exe[PROBE_EXE_LEN];
	struct probe_exe id;
	int rc, slot;

	/* Watched from now on, whatever becomes of the attachment; its children by inheritance. */
	watch(u, tgid);
	rc = probe_exes__find(&u->exes, tgid, "postgres", exe, &id, &slot, err, errlen);
	if (rc == 0)
		probe_exes__anchor(&u->exes, slot, tgid);
	if (rc <= 0)
		return rc;
	links = u->links[slot];
	memset(links, 0, sizeof(u->links[0]));
	for (size_t i = 0; i < N_PROBES; i++) {
		if (probes[i].exec_time && !u->exec_time)
			continue;
		/* pid -1: every process running the file, backends forked later included. */
		links[i] = bpf_program__attach_usdt(prog_of(u, i), -1, exe, "postgresql",
						    probes[i].name, NULL);
		if (!links[i] && probes[i].required) {
			rc = -errno;

			snprintf(err, errlen,
				 "%s has no usable USDT probe postgresql:%s (%s); built without "
				 "--enable-dtrace? Buffer, lock and transaction figures are off for it",
				 exe, probes[i].name, strerror(-rc));
			for (size_t k = 0; k < i; k++)
				bpf_link__destroy(links[k]);
			return rc;
		}
	}
	probe_exes__add(&u->exes, slot, &id);
	probe_exes__anchor(&u->exes, slot, tgid);
	return 1;
}

int pg_usdt__n_binaries(const struct pg_usdt *u)
{
	return u ? u->exes.n : 0;
}

void pg_usdt__each_waiting(struct pg_usdt *u, void (*fn)(void *ctx, uint32_t tgid, uint64_t since),
			   void *ctx)
{
	int fd = bpf_map__fd(u->skel->maps.pg_waiting);
	uint32_t key, next, *prev = NULL;
	uint64_t since;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(fd, &key, &since) && since)
			fn(ctx, key, since);
	}
}

#define REL_BATCH 512

/* One syscall per REL_BATCH entries: the map is read once a second on the capture thread, and
 * a get-next-key plus a lookup per entry would cost ~10 ms there for a full map. 0, or -errno
 * when the kernel has no batch lookup for this map (the caller then walks it). */
static int each_relation_batch(struct pg_usdt *u, int fd,
			       void (*fn)(void *ctx, const struct nx_pg_rel_key *k,
					  const struct nx_pg_rel_val *v),
			       void *ctx)
{
	struct nx_pg_rel_key *keys = calloc(REL_BATCH, sizeof(*keys));
	struct nx_pg_rel_val *vals = calloc((size_t)REL_BATCH * u->ncpus, sizeof(*vals));
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 in = 0, out = 0;
	bool first = true;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		__u32 n = REL_BATCH;

		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &n, &opts);
		if (err && errno != ENOENT) {
			err = first ? -errno : 0; /* mid-way: what was read stands */
			break;
		}
		for (__u32 i = 0; i < n; i++) {
			struct nx_pg_rel_val v = {};

			for (int c = 0; c < u->ncpus; c++) {
				v.hits += vals[(size_t)i * u->ncpus + c].hits;
				v.reads += vals[(size_t)i * u->ncpus + c].reads;
			}
			fn(ctx, &keys[i], &v);
		}
		if (err) { /* ENOENT: that was the last batch */
			err = 0;
			break;
		}
		in = out;
		first = false;
	}
cleanup:
	free(keys);
	free(vals);
	return err;
}

void pg_usdt__each_relation(struct pg_usdt *u,
			    void (*fn)(void *ctx, const struct nx_pg_rel_key *k,
				       const struct nx_pg_rel_val *v),
			    void *ctx)
{
	int fd = bpf_map__fd(u->skel->maps.pg_relations);
	struct nx_pg_rel_key key, next, *prev = NULL;
	struct nx_pg_rel_val *percpu;

	/* A per-CPU map gives one value per possible CPU, each rounded up to 8 bytes. */
	_Static_assert(sizeof(struct nx_pg_rel_val) % 8 == 0, "no padding between CPUs' values");
	if (!each_relation_batch(u, fd, fn, ctx))
		return;
	percpu = calloc(u->ncpus, sizeof(*percpu));
	while (percpu && !bpf_map_get_next_key(fd, prev, &next)) {
		struct nx_pg_rel_val v = {};

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, percpu))
			continue;
		for (int c = 0; c < u->ncpus; c++) {
			v.hits += percpu[c].hits;
			v.reads += percpu[c].reads;
		}
		fn(ctx, &key, &v);
	}
	free(percpu);
}

/* The last postgres started from an executable is gone (backends forked from it go with it):
 * its probes go too, so a restart from another binary leaves nothing on the old file. */
static void detach_if_last(struct pg_usdt *u, uint32_t tgid)
{
	int slot = probe_exes__release(&u->exes, tgid);

	if (slot < 0)
		return;
	for (size_t i = 0; i < N_PROBES; i++) {
		bpf_link__destroy(u->links[slot][i]);
		u->links[slot][i] = NULL;
	}
}

void pg_usdt__forget(struct pg_usdt *u, uint32_t tgid)
{
	if (!u)
		return;
	/* Its pg_tasks entry went with the task; a wait it never finished did not. */
	bpf_map_delete_elem(bpf_map__fd(u->skel->maps.pg_waiting), &tgid);
	detach_if_last(u, tgid);
}

bool pg_usdt__binary_has_probes(const char *path, char *missing, size_t len)
{
	const char *names[N_PROBES];
	bool found[N_PROBES];
	size_t off = 0;
	bool all = true;

	for (size_t i = 0; i < N_PROBES; i++)
		names[i] = probes[i].name;
	missing[0] = '\0';
	if (elf_syms__find_usdt(path, "postgresql", names, N_PROBES, found)) {
		snprintf(missing, len, "not a readable ELF file");
		return false;
	}
	for (size_t i = 0; i < N_PROBES; i++) {
		if (found[i])
			continue;
		all = false;
		off += snprintf(missing + off, off < len ? len - off : 0, "%s%s", off ? ", " : "",
				probes[i].name);
	}
	return all;
}
