// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "events.h"
#include "redis_uprobes.skel.h"
#include "capture/capture.h"
#include "capture/probe_exe.h"
#include "capture/redis_uprobes.h"

#define N_LINKS 4 /* call entry and return, lookupKey entry and return */

struct redis_uprobes {
	struct redis_uprobes_bpf *skel;
	struct probe_exes exes;
	struct bpf_link *links[PROBE_MAX_EXES][N_LINKS]; /* per attached executable */
};

struct redis_uprobes *redis_uprobes__open(struct capture *cap, char *err, size_t errlen)
{
	struct redis_uprobes *u = calloc(1, sizeof(*u));
	int rc;

	if (!u)
		return NULL;
	u->skel = redis_uprobes_bpf__open();
	if (!u->skel) {
		rc = -errno;
		snprintf(err, errlen, "opening the uprobe object failed: %s", strerror(-rc));
		goto fail;
	}
	rc = capture__share_maps(cap, u->skel->maps.events, u->skel->maps.counters);
	if (!rc)
		rc = redis_uprobes_bpf__load(u->skel);
	if (rc) {
		snprintf(err, errlen, "loading the uprobe programs failed: %s", strerror(-rc));
		goto fail;
	}
	return u;
fail:
	redis_uprobes__close(u);
	errno = -rc;
	return NULL;
}

void redis_uprobes__close(struct redis_uprobes *u)
{
	if (!u)
		return;
	/* Only slots in use: a failed attach leaves destroyed pointers in its slot. */
	for (int b = 0; b < PROBE_MAX_EXES; b++) {
		if (!u->exes.e[b].used)
			continue;
		for (int i = 0; i < N_LINKS; i++)
			bpf_link__destroy(u->links[b][i]);
	}
	redis_uprobes_bpf__destroy(u->skel);
	free(u);
}

int redis_uprobes__attach_pid(struct redis_uprobes *u, uint32_t tgid, char *err, size_t errlen)
{
	struct {
		struct bpf_program *prog;
		const char *func;
		bool ret;
	} probes[N_LINKS] = {
		{ u->skel->progs.nx_rd_call, "call", false },
		{ u->skel->progs.nx_rd_call_ret, "call", true },
		{ u->skel->progs.nx_rd_lookup, "lookupKey", false },
		{ u->skel->progs.nx_rd_lookup_ret, "lookupKey", true },
	};
	struct bpf_link **links;
	char exe[PROBE_EXE_LEN];
	struct probe_exe id;
	uint8_t one = 1;
	int rc, slot;

	bpf_map_update_elem(bpf_map__fd(u->skel->maps.redis_targets), &tgid, &one, BPF_ANY);
	rc = probe_exes__find(&u->exes, tgid, "redis-server", exe, &id, &slot, err, errlen);
	if (rc == 0)
		probe_exes__anchor(&u->exes, slot, tgid);
	if (rc <= 0)
		return rc;
	links = u->links[slot];
	memset(links, 0, sizeof(u->links[0]));
	for (int i = 0; i < N_LINKS; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = probes[i].func,
			    .retprobe = probes[i].ret);

		/* pid -1: the file, for every process; the kernel side filters by redis_targets. */
		links[i] = bpf_program__attach_uprobe_opts(probes[i].prog, -1, exe, 0, &o);
		if (!links[i]) {
			rc = -errno;

			snprintf(err, errlen,
				 "%s: cannot attach to %s() (%s): a stripped binary? "
				 "`nexus-agent check` lists its symbols; the wire figures still work",
				 exe, probes[i].func, strerror(-rc));
			for (int k = 0; k < i; k++)
				bpf_link__destroy(links[k]);
			return rc;
		}
	}
	probe_exes__add(&u->exes, slot, &id);
	probe_exes__anchor(&u->exes, slot, tgid);
	return 1;
}

/* The last process that ran an executable is gone: its probes go too (a restart from another
 * binary must not leave them on the old file, which they would also keep from being freed). */
static void detach_if_last(struct redis_uprobes *u, uint32_t tgid)
{
	int slot = probe_exes__release(&u->exes, tgid);

	if (slot < 0)
		return;
	for (int i = 0; i < N_LINKS; i++) {
		bpf_link__destroy(u->links[slot][i]);
		u->links[slot][i] = NULL;
	}
}

void redis_uprobes__forget(struct redis_uprobes *u, uint32_t tgid)
{
	if (!u)
		return;
	bpf_map_delete_elem(bpf_map__fd(u->skel->maps.redis_targets), &tgid);
	bpf_map_delete_elem(bpf_map__fd(u->skel->maps.keyspace), &tgid);
	detach_if_last(u, tgid);
}

void redis_uprobes__each_keyspace(struct redis_uprobes *u,
				  void (*fn)(void *ctx, uint32_t tgid, uint64_t hits, uint64_t misses),
				  void *ctx)
{
	int fd = bpf_map__fd(u->skel->maps.keyspace);
	uint32_t key, next, *prev = NULL;
	struct nx_redis_keyspace v;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(fd, &key, &v))
			fn(ctx, key, v.hits, v.misses);
	}
}
