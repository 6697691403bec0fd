// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "events.h"
#include "redis_uprobes.skel.h"
#include "capture/capture.h"
#include "capture/redis_uprobes.h"

#define REDIS_MAX_BINARIES 8
#define N_LINKS 4 /* call entry and return, lookupKey entry and return */

struct redis_binary {
	dev_t dev;
	ino_t ino;
	struct bpf_link *links[N_LINKS];
};

struct redis_uprobes {
	struct redis_uprobes_bpf *skel;
	int n_bins;
	struct redis_binary bins[REDIS_MAX_BINARIES];
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
	rc = bpf_map__reuse_fd(u->skel->maps.events, capture__events_fd(cap));
	if (!rc)
		rc = bpf_map__reuse_fd(u->skel->maps.counters, capture__counters_fd(cap));
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
	for (int b = 0; b < u->n_bins; b++)
		for (int i = 0; i < N_LINKS; i++)
			bpf_link__destroy(u->bins[b].links[i]);
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
	struct redis_binary *b;
	struct stat st;
	char exe[64];
	uint8_t one = 1;

	bpf_map_update_elem(bpf_map__fd(u->skel->maps.redis_targets), &tgid, &one, BPF_ANY);
	snprintf(exe, sizeof(exe), "/proc/%u/exe", tgid);
	if (stat(exe, &st)) {
		snprintf(err, errlen, "%s: %s", exe, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < u->n_bins; i++)
		if (u->bins[i].dev == st.st_dev && u->bins[i].ino == st.st_ino)
			return 0;
	if (u->n_bins == REDIS_MAX_BINARIES) {
		snprintf(err, errlen, "more than %d redis-server executables; not attaching to %s",
			 REDIS_MAX_BINARIES, exe);
		return -E2BIG;
	}
	b = &u->bins[u->n_bins];
	memset(b, 0, sizeof(*b));
	for (int i = 0; i < N_LINKS; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = probes[i].func,
			    .retprobe = probes[i].ret);

		/* pid -1: the file, for every process; the kernel side filters by redis_targets. */
		b->links[i] = bpf_program__attach_uprobe_opts(probes[i].prog, -1, exe, 0, &o);
		if (!b->links[i]) {
			int rc = -errno;

			snprintf(err, errlen,
				 "%s: cannot attach to %s() (%s): a stripped binary? "
				 "`nexus-agent check` lists its symbols; the wire figures still work",
				 exe, probes[i].func, strerror(-rc));
			for (int k = 0; k < i; k++)
				bpf_link__destroy(b->links[k]);
			return rc;
		}
	}
	b->dev = st.st_dev;
	b->ino = st.st_ino;
	u->n_bins++;
	return 1;
}

void redis_uprobes__forget(struct redis_uprobes *u, uint32_t tgid)
{
	if (!u)
		return;
	bpf_map_delete_elem(bpf_map__fd(u->skel->maps.redis_targets), &tgid);
	bpf_map_delete_elem(bpf_map__fd(u->skel->maps.keyspace), &tgid);
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
