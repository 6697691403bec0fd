// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * PostgreSQL's USDT probes: shared-buffer hits and reads, heavyweight-lock waits, deadlocks and
 * transaction outcomes per backend. Loaded only when a postgres binary with the probes is
 * watched; its records go into the capture object's ring buffer (the agent reuses the map), so a
 * backend's figures are ordered with the bytes it reads and writes.
 *
 * Attached probes cost a uprobe trap each (~1 us), so only those the figures need are used:
 * buffer__read__done (a few per statement), query__execute__done and transaction__commit/abort
 * (once each), lock waits and deadlocks (rare).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "events.h"
#include "probe.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Per backend (tgid). LRU: a backend whose exit we miss ages out. The agent reads it once a
 * second for waits still in progress (a lock held for minutes must show before it is released). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct nx_pg_backend);
} pg_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct nx_pg_rel_key);
	__type(value, struct nx_pg_rel_val);
} pg_relations SEC(".maps");

/*
 * The postgres processes this agent watches. The probes are attached to the executable for
 * every process running it (backends are forked later), so each program first checks that
 * the process is one of ours: another cluster on the node, not watched, must neither pay for
 * a record nor mix its figures (its database oids repeat ours) into ours. The agent adds the
 * processes it finds; forks inherit in the kernel before the child runs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} pg_targets SEC(".maps");

static __always_inline bool watched(__u32 tgid)
{
	return bpf_map_lookup_elem(&pg_targets, &tgid) != NULL;
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(nx_pg_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (ctgid != ptgid && watched(ptgid))
		bpf_map_update_elem(&pg_targets, &ctgid, &one, BPF_ANY);
	return 0;
}

static __always_inline struct nx_pg_backend *backend(__u32 tgid)
{
	struct nx_pg_backend *b = bpf_map_lookup_elem(&pg_backends, &tgid);

	if (b)
		return b;
	struct nx_pg_backend zero = {};

	bpf_map_update_elem(&pg_backends, &tgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&pg_backends, &tgid);
}

static __always_inline void flush(__u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct nx_pg_backend *b;
	struct nx_pg_usdt_event *ev;

	if (!watched(tgid) || !(b = backend(tgid)))
		return;
	/* Nothing happened since the last record: an executor run that touched no buffer needs no
	 * record of its own; transactions and deadlocks always get one. */
	if (kind == NX_PG_EXEC_DONE && !b->buf_hits && !b->buf_reads && !b->lock_waits &&
	    !b->exec_ns)
		return;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		probe_count_lost();
		return;
	}
	ev->hdr.type = NX_EV_PG_USDT;
	ev->hdr.tgid = tgid;
	ev->hdr.pid = (__u32)id;
	ev->hdr.fd = 0;
	ev->hdr.ts_ns = bpf_ktime_get_ns();
	ev->kind = kind;
	ev->pad = 0;
	ev->acc = *b;
	ev->acc.lock_start_ns = ev->acc.q_start_ns = ev->acc.x_start_ns = 0;
	b->buf_hits = 0;
	b->buf_reads = 0;
	b->lock_wait_ns = 0;
	b->lock_waits = 0;
	b->exec_ns = 0;
	/* Records are few and the ring is drained every 10 ms: no wakeup needed. */
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
}

/*
 * buffer__read__done(forkNum, blockNum, spcOid, dbOid, relNumber, backend, [isExtend,] found):
 * PostgreSQL 16 dropped isExtend, so `found` is whichever argument comes last.
 */
SEC("usdt")
int nx_pg_buf_read(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct nx_pg_backend *b;
	struct nx_pg_rel_key rk;
	struct nx_pg_rel_val *rv;
	long found = 0, db = 0, rel = 0;
	int n = bpf_usdt_arg_cnt(ctx);

	if (n < 7 || !watched(tgid) || !(b = backend(tgid)))
		return 0;
	bpf_usdt_arg(ctx, n - 1, &found);
	bpf_usdt_arg(ctx, 3, &db);
	bpf_usdt_arg(ctx, 4, &rel);
	if ((__u8)found)
		b->buf_hits++;
	else
		b->buf_reads++;
	if (db)
		b->db_oid = (__u32)db;

	rk.db_oid = (__u32)db;
	rk.rel_node = (__u32)rel;
	rv = bpf_map_lookup_elem(&pg_relations, &rk);
	if (!rv) {
		struct nx_pg_rel_val zero = {};

		bpf_map_update_elem(&pg_relations, &rk, &zero, BPF_NOEXIST);
		rv = bpf_map_lookup_elem(&pg_relations, &rk);
		if (!rv)
			return 0;
	}
	/* Backends of one database run on several CPUs at once. */
	if ((__u8)found)
		__sync_fetch_and_add(&rv->hits, 1);
	else
		__sync_fetch_and_add(&rv->reads, 1);
	return 0;
}

SEC("usdt")
int nx_pg_lock_start(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct nx_pg_backend *b = watched(tgid) ? backend(tgid) : NULL;

	if (b)
		b->lock_start_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("usdt")
int nx_pg_lock_done(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct nx_pg_backend *b = watched(tgid) ? backend(tgid) : NULL;

	if (b && b->lock_start_ns) {
		b->lock_wait_ns += bpf_ktime_get_ns() - b->lock_start_ns;
		b->lock_waits++;
		b->lock_start_ns = 0;
	}
	return 0;
}

/* query__start(query string): a simple-protocol Query begins (parse, plan, execute). */
SEC("usdt")
int nx_pg_q_start(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct nx_pg_backend *b = watched(tgid) ? backend(tgid) : NULL;

	if (b)
		b->q_start_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("usdt")
int nx_pg_q_done(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct nx_pg_backend *b = watched(tgid) ? backend(tgid) : NULL;

	if (b && b->q_start_ns) {
		b->exec_ns += bpf_ktime_get_ns() - b->q_start_ns;
		b->q_start_ns = 0;
	}
	flush(NX_PG_QUERY_DONE);
	return 0;
}

/* query__execute__start/done bracket a portal's execution; for the extended protocol they are
 * the statement's execution time (inside a simple Query, query__start/done already count it). */
SEC("usdt")
int nx_pg_x_start(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct nx_pg_backend *b = watched(tgid) ? backend(tgid) : NULL;

	if (b && !b->q_start_ns)
		b->x_start_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("usdt")
int nx_pg_exec_done(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct nx_pg_backend *b = watched(tgid) ? backend(tgid) : NULL;

	if (b && b->x_start_ns) {
		b->exec_ns += bpf_ktime_get_ns() - b->x_start_ns;
		b->x_start_ns = 0;
	}
	flush(NX_PG_EXEC_DONE);
	return 0;
}

SEC("usdt")
int nx_pg_commit(struct pt_regs *ctx)
{
	flush(NX_PG_COMMIT);
	return 0;
}

SEC("usdt")
int nx_pg_abort(struct pt_regs *ctx)
{
	flush(NX_PG_ABORT);
	return 0;
}

SEC("usdt")
int nx_pg_deadlock(struct pt_regs *ctx)
{
	flush(NX_PG_DEADLOCK);
	return 0;
}
