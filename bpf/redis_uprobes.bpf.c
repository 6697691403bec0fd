// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * redis-server's own functions, for --redis-uprobes: call() for each command's execution time
 * inside the server (the wire latency minus this is time spent queued behind other clients),
 * and lookupKey() for keyspace hits and misses exactly as Redis counts them, for every command.
 * Loaded beside the capture object, writing into its ring buffer.
 *
 * A uprobe costs a trap per hit (~1 us on this kind of VM; uretprobes more), which is why this
 * is opt-in and the wire path stays the default. There is no DWARF for redis-server, so nothing
 * here reads its structures: only arguments, return values and the clock.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "events.h"
#include "probe.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* lookupKey()'s flags in Redis 7.0 (db.c): these two keep a lookup out of keyspace_hits/misses. */
#define LOOKUP_NOSTATS (1 << 2)
#define LOOKUP_WRITE (1 << 3)

/* The redis-server processes this agent watches (the probes are on the executable, for every
 * process running it). The agent adds them; a BGSAVE child inherits but runs no commands. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} redis_targets SEC(".maps");

/* Per thread: the command being executed. */
struct call_state {
	__u64 start_ns;
	__u32 depth;	 /* call() nests: EXEC, MULTI bodies, scripts' redis.call() */
	__u32 hits, misses;
	__u32 lookup_flags; /* of the lookupKey() in progress (it does not nest) */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* thread id */
	__type(value, struct call_state);
} calls SEC(".maps");

/* Per process: every counted lookup, inside call() or not, so the totals equal INFO stats. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct nx_redis_keyspace);
} keyspace SEC(".maps");

static __always_inline struct call_state *state(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct call_state *st;

	if (!bpf_map_lookup_elem(&redis_targets, &tgid))
		return NULL;
	st = bpf_map_lookup_elem(&calls, &tid);
	if (st)
		return st;
	struct call_state zero = {};

	bpf_map_update_elem(&calls, &tid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&calls, &tid);
}

SEC("uprobe")
int BPF_KPROBE(nx_rd_call)
{
	struct call_state *st = state();

	if (!st)
		return 0;
	if (st->depth++ == 0) {
		st->start_ns = bpf_ktime_get_ns();
		st->hits = st->misses = 0;
	}
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(nx_rd_call_ret)
{
	struct call_state *st = state();
	struct nx_redis_call_event *ev;
	__u64 id = bpf_get_current_pid_tgid();

	if (!st || st->depth == 0)
		return 0; /* attached while a call() was running: its entry was never seen */
	if (--st->depth)
		return 0;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		probe_count_lost();
		return 0;
	}
	ev->hdr.type = NX_EV_REDIS_CALL;
	ev->hdr.tgid = id >> 32;
	ev->hdr.pid = (__u32)id;
	ev->hdr.fd = 0;
	ev->hdr.ts_ns = bpf_ktime_get_ns();
	ev->exec_ns = ev->hdr.ts_ns - st->start_ns;
	ev->hits = st->hits;
	ev->misses = st->misses;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	return 0;
}

/* robj *lookupKey(redisDb *db, robj *key, int flags) */
SEC("uprobe")
int BPF_KPROBE(nx_rd_lookup, void *db, void *key, int flags)
{
	struct call_state *st = state();

	if (st)
		st->lookup_flags = flags;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(nx_rd_lookup_ret, void *val)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct call_state *st = state();
	struct nx_redis_keyspace *ks;

	if (!st || (st->lookup_flags & (LOOKUP_NOSTATS | LOOKUP_WRITE)))
		return 0;
	ks = bpf_map_lookup_elem(&keyspace, &tgid);
	if (!ks) {
		struct nx_redis_keyspace zero = {};

		bpf_map_update_elem(&keyspace, &tgid, &zero, BPF_NOEXIST);
		ks = bpf_map_lookup_elem(&keyspace, &tgid);
		if (!ks)
			return 0;
	}
	/* One thread runs commands; the counters are read by the agent only. */
	if (val) {
		ks->hits++;
		st->hits++;
	} else {
		ks->misses++;
		st->misses++;
	}
	return 0;
}
