// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
/* events.h first: the skeleton names its types (struct nx_fast_slot). */
#include "capture/capture.h"
#include "capture.skel.h"
#include "capture/ringbuf.h"
#include "capture/tracefs.h"

struct capture {
	struct capture_bpf *skel;
	struct ringbuf *rb;
	struct bpf_link **links;
	int n_links;
	capture_record_fn fn;
	void *ctx;
	int ncpus;
	uint64_t *percpu; /* scratch for reading the per-CPU counters, ncpus x NX_CNT__COUNT */
};

static bool libbpf_verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !libbpf_verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void on_record(void *ctx, void *data, size_t size)
{
	struct capture *c = ctx;

	if (size >= sizeof(struct nx_event_hdr))
		c->fn(c->ctx, data, size);
}

static int attach_all(struct capture *c, char *errmsg, size_t errlen)
{
	struct bpf_program *prog;
	int n = 0;

	bpf_object__for_each_program(prog, c->skel->obj)
		n++;
	/* calloc(0) may be NULL, which is not ENOMEM */
	// NOLINTNEXTLINE(bugprone-sizeof-expression): links is an array of pointers
	c->links = calloc(n ? n : 1, sizeof(*c->links));
	if (!c->links)
		return -ENOMEM;
	bpf_object__for_each_program(prog, c->skel->obj) {
		struct bpf_link *link;

		if (!bpf_program__autoload(prog))
			continue;
		link = bpf_program__attach(prog);

		if (!link) {
			int err = -errno;

			snprintf(errmsg, errlen, "attaching %s (%s) failed: %s",
				 bpf_program__name(prog), bpf_program__section_name(prog),
				 strerror(-err));
			return err;
		}
		c->links[c->n_links++] = link;
	}
	return 0;
}

bool capture__has_data_ready(void)
{
	return access(NX_TRACEFS "/events/sock/sk_data_ready", F_OK) == 0;
}

static int configure(struct capture *c, const struct capture_opts *o, char *errmsg, size_t errlen)
{
	struct capture_bpf__rodata *ro = c->skel->rodata;
	int err;

	if (o->capture_bytes > NX_MAX_CAPTURE || o->n_exec_names > NX_MAX_EXEC_NAMES) {
		snprintf(errmsg, errlen, "capture bytes above %u or more than %d executable names",
			 NX_MAX_CAPTURE, NX_MAX_EXEC_NAMES);
		return -EINVAL;
	}
	ro->capture_bytes = o->capture_bytes;
	/* Without the tracepoint reads carry no arrival time: waits are not known, not zero. */
	if (!capture__has_data_ready())
		bpf_program__set_autoload(c->skel->progs.nx_data_ready, false);
	/* Wake the consumer only when it is an eighth of the ring behind; it polls anyway. */
	ro->wakeup_bytes = o->ring_bytes / 8;
	if (getrandom((void *)&ro->sock_id_key, sizeof(ro->sock_id_key), 0) !=
	    sizeof(ro->sock_id_key))
		ro->sock_id_key = 0x9e3779b97f4a7c15ULL;
	ro->n_exec_names = o->n_exec_names;
	for (int i = 0; i < o->n_exec_names; i++)
		strncpy((char *)ro->exec_names[i], o->exec_names[i], NX_COMM_LEN - 1);

	err = bpf_map__set_max_entries(c->skel->maps.events, o->ring_bytes);
	if (!err)
		err = bpf_map__set_max_entries(c->skel->maps.scratch, c->ncpus);
	if (!err)
		err = bpf_map__set_max_entries(c->skel->maps.fd_cache, o->max_fds);
	if (!err)
		err = bpf_map__set_max_entries(c->skel->maps.sock_owner, o->max_fds);
	if (err)
		snprintf(errmsg, errlen, "sizing BPF maps failed: %s", strerror(-err));
	return err;
}

/* The programs are CO-RE: without the kernel's BTF libbpf cannot relocate them and says so only
 * in its debug log. Say it plainly first. */
static int need_btf(char *errmsg, size_t errlen)
{
	struct btf *btf = btf__load_vmlinux_btf();
	int err;

	if (btf) {
		btf__free(btf);
		return 0;
	}
	err = access("/sys/kernel/btf/vmlinux", R_OK) ? -errno : -EINVAL;
	snprintf(errmsg, errlen,
		 "no usable kernel BTF (/sys/kernel/btf/vmlinux %s): nexus-agent's programs are "
		 "CO-RE and need a kernel built with CONFIG_DEBUG_INFO_BTF=y",
		 err == -ENOENT ? "is missing" : err == -EINVAL ? "does not parse" : strerror(-err));
	return err;
}

struct capture *capture__open(const struct capture_opts *opts, capture_record_fn fn, void *ctx,
			      char *errmsg, size_t errlen)
{
	struct capture *c;
	int err;

	libbpf_verbose = opts->verbose;
	libbpf_set_print(libbpf_print);

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fn = fn;
	c->ctx = ctx;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		err = c->ncpus ? c->ncpus : -EINVAL;
		snprintf(errmsg, errlen, "cannot count CPUs: %s", strerror(-err));
		goto cleanup;
	}
	c->percpu = calloc((size_t)c->ncpus * NX_CNT__COUNT, sizeof(uint64_t));
	if (!c->percpu) {
		err = -ENOMEM;
		snprintf(errmsg, errlen, "out of memory");
		goto cleanup;
	}

	err = tracefs__ensure(errmsg, errlen);
	if (err)
		goto cleanup;
	err = need_btf(errmsg, errlen);
	if (err)
		goto cleanup;

	c->skel = capture_bpf__open();
	if (!c->skel) {
		err = -errno;
		snprintf(errmsg, errlen, "opening the BPF object failed: %s", strerror(-err));
		goto cleanup;
	}
	err = configure(c, opts, errmsg, errlen);
	if (err)
		goto cleanup;
	err = capture_bpf__load(c->skel);
	if (err) {
		snprintf(errmsg, errlen,
			 "loading the BPF programs failed: %s (run as root on a kernel with BTF; "
			 "`nexus-agent check` tells what is missing, -v shows the verifier log)",
			 strerror(-err));
		goto cleanup;
	}
	err = attach_all(c, errmsg, errlen);
	if (err)
		goto cleanup;
	c->rb = ringbuf__new(bpf_map__fd(c->skel->maps.events), on_record, c);
	if (!c->rb) {
		err = -errno;
		snprintf(errmsg, errlen, "opening the ring buffer failed: %s", strerror(-err));
		goto cleanup;
	}
	return c;

cleanup:
	capture__close(c);
	errno = -err;
	return NULL;
}

void capture__set_record_ctx(struct capture *c, void *ctx)
{
	c->ctx = ctx;
}

void capture__close(struct capture *c)
{
	if (!c)
		return;
	ringbuf__free(c->rb);
	for (int i = 0; i < c->n_links; i++)
		bpf_link__destroy(c->links[i]);
	free(c->links);
	capture_bpf__destroy(c->skel);
	free(c->percpu);
	free(c);
}

void capture__set_target(struct capture *c, pid_t tgid, bool on)
{
	__u64 *word, bit;

	if (tgid <= 0 || (uint32_t)tgid >= NX_PID_LIMIT)
		return;
	word = &c->skel->bss->target_bits[tgid / 64];
	bit = 1ULL << (tgid % 64);
	/* The kernel side flips bits too (fork, exec, exit): atomics on the shared word. */
	if (on)
		__atomic_fetch_or(word, bit, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(word, ~bit, __ATOMIC_RELAXED);
}

uint32_t capture__count_targets(const struct capture *c)
{
	uint32_t n = 0;

	for (size_t i = 0; i < NX_PID_LIMIT / 64; i++) {
		uint64_t w = __atomic_load_n(&c->skel->bss->target_bits[i], __ATOMIC_RELAXED);

		if (w)
			n += __builtin_popcountll(w);
	}
	return n;
}

int capture__poll(struct capture *c, int timeout_ms)
{
	/* Records are submitted without a wakeup (see nx_rb_flags()): poll only sleeps until the
	 * timeout or a forced wakeup, and then drains whatever is there. */
	return ringbuf__poll(c->rb, timeout_ms);
}

int capture__counters(struct capture *c, uint64_t out[NX_CNT__COUNT])
{
	int fd = bpf_map__fd(c->skel->maps.counters);

	uint32_t zero = 0;

	memset(out, 0, NX_CNT__COUNT * sizeof(*out));
	if (bpf_map_lookup_elem(fd, &zero, c->percpu))
		return -errno;
	for (int cpu = 0; cpu < c->ncpus; cpu++)
		for (int k = 0; k < NX_CNT__COUNT; k++)
			out[k] += c->percpu[cpu * NX_CNT__COUNT + k];
	return 0;
}

int capture__counter_by_cpu(const struct capture *c, enum nx_counter k, uint64_t *out, int max)
{
	int n = c->ncpus < max ? c->ncpus : max;

	if (n <= 0)
		return 0;
	memset(out, 0, n * sizeof(*out));
	for (int cpu = 0; cpu < c->ncpus; cpu++)
		out[cpu < n ? cpu : n - 1] += c->percpu[cpu * NX_CNT__COUNT + k];
	return n;
}

int capture__share_maps(const struct capture *c, struct bpf_map *events, struct bpf_map *counters)
{
	int rc = bpf_map__reuse_fd(events, bpf_map__fd(c->skel->maps.events));

	return rc ? rc : bpf_map__reuse_fd(counters, bpf_map__fd(c->skel->maps.counters));
}

void capture__forget_fd(struct capture *c, uint32_t tgid, uint32_t fd)
{
	struct nx_fd_key key = { .tgid = tgid, .fd = fd };
	int cache_fd = bpf_map__fd(c->skel->maps.fd_cache);
	struct nx_fd_info info;

	struct nx_fast_slot *slot = &c->skel->bss->fast_fds[nx_fast_index(nx_fast_key(tgid, fd))];
	__u64 fkey = nx_fast_key(tgid, fd);

	/* As the kernel side drops a slot: only if it still holds this fd. */
	__atomic_compare_exchange_n(&slot->key, &fkey, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	if (bpf_map_lookup_elem(cache_fd, &key, &info))
		return;
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.sock_owner), &info.sk);
	bpf_map_delete_elem(cache_fd, &key);
}
