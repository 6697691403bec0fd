// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * PostgreSQL's USDT probes: shared-buffer hits and reads, heavyweight-lock waits, deadlocks and
 * transaction outcomes per backend, and (when the agent asks) execution time. Loaded only when a
 * postgres binary with the probes is watched; its records go into the capture object's ring
 * buffer (the agent reuses the map), so a backend's figures are ordered with the bytes it reads
 * and writes.
 *
 * Every attached probe costs the backend a uprobe trap (~1 us) besides the program, so only those
 * the figures need are attached: buffer__read__done (a few per statement), query__execute__done
 * and transaction__commit/abort (once each), lock waits and deadlocks (rare); query__start/done
 * and query__execute__start only for execution time (--pg-exec-time). Each program makes one
 * lookup, in task storage, that both says whether the process is watched and finds its figures.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "events.h"
#include "probe.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The postgres processes this agent watches, and each one's figures since its last record. The
 * probes are attached to the executable for every process running it (backends are forked
 * later), so a process must be told apart: another cluster on the node, not watched, has no
 * entry, pays one failed lookup and neither a record nor a mix of its figures (its database
 * oids repeat ours) into ours. The agent creates entries for the processes it finds (through a
 * pidfd); a watched process's children get one at fork, before they run. The kernel frees an
 * entry with its task. A postgres process has one thread, and the entry hangs on it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct nx_pg_task);
} pg_tasks SEC(".maps");

/* Backends in a lock wait right now and since when, for the agent's once-a-second look (a lock
 * held for minutes must show before it is released). Written only when a wait begins or ends. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} pg_waiting SEC(".maps");

/* Buffer figures per relation. Per CPU: backends of one database run on every CPU at once, and a
 * plain increment of this CPU's copy costs less than an atomic on a shared line; the agent sums. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct nx_pg_rel_key);
	__type(value, struct nx_pg_rel_val);
} pg_relations SEC(".maps");

/* The calling process's figures, or NULL when it is not watched. */
static __always_inline struct nx_pg_task *me(void)
{
	return bpf_task_storage_get(&pg_tasks, bpf_get_current_task_btf(), NULL, 0);
}

/* A watched process's children are watched from their first instruction: the postmaster forks
 * a backend per connection. (tp_btf: task storage needs the tasks as typed pointers.) */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(nx_pg_fork, struct task_struct *parent, struct task_struct *child)
{
	struct nx_pg_task *pt, *ct;

	if (parent->tgid == child->tgid || !(pt = bpf_task_storage_get(&pg_tasks, parent, NULL, 0)))
		return 0;
	ct = bpf_task_storage_get(&pg_tasks, child, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (ct)
		ct->server = pt->server ? pt->server : parent->tgid;
	return 0;
}

static __always_inline void flush(struct nx_pg_task *t, __u32 kind)
{
	struct nx_pg_backend *b = &t->acc;
	struct nx_pg_usdt_event *ev;
	__u64 id;

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
	id = bpf_get_current_pid_tgid();
	ev->hdr.type = NX_EV_PG_USDT;
	ev->hdr.tgid = id >> 32;
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
	/* Records are few and the agent drains the ring on its own: no wakeup needed. */
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
}

/*
 * USDT arguments. libbpf's bpf_usdt_arg() looks the probe's spec up again for each argument and
 * reads the register and the value with one helper call each; buffer__read__done needs three
 * arguments on every hit, so they are read here from one lookup of the spec, with the decoding
 * of bpf_usdt_arg() (libbpf 1.1's usdt.bpf.h, whose maps libbpf fills).
 */
static __always_inline const struct __bpf_usdt_spec *usdt_spec(struct pt_regs *ctx)
{
	int id = __bpf_usdt_spec_id(ctx);

	return id < 0 ? NULL : bpf_map_lookup_elem(&__bpf_usdt_specs, &id);
}

/* barrier_var: without it clang folds the cases back into one load at ctx + off, a variable
 * context offset the verifier refuses. */
#define REG(r)                                                                                     \
	case __builtin_offsetof(struct pt_regs, r):                                                \
		val = ctx->r;                                                                      \
		barrier_var(val);                                                                  \
		return val

/* A register the spec names by its offset in pt_regs: a context load needs a constant offset, so
 * the general-purpose registers are spelled out (a load instead of a helper call); a helper call
 * reads any other. */
static __always_inline unsigned long usdt_reg(struct pt_regs *ctx, short off)
{
	unsigned long val = 0;

	switch (off) {
#if defined(__TARGET_ARCH_x86)
		REG(r15); REG(r14); REG(r13); REG(r12); REG(bp); REG(bx); REG(r11); REG(r10);
		REG(r9); REG(r8); REG(ax); REG(cx); REG(dx); REG(si); REG(di); REG(sp);
#endif
	}
	bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + off);
	return val;
}

/* The 8 bytes an argument's value is cut from (bpf_usdt_arg() reads 8 whatever the size). */
static __always_inline unsigned long usdt_raw(struct pt_regs *ctx,
					      const struct __bpf_usdt_arg_spec *a)
{
	unsigned long val;

	if (a->arg_type == BPF_USDT_ARG_CONST)
		return a->val_off;
	val = usdt_reg(ctx, a->reg_off);
	if (a->arg_type == BPF_USDT_ARG_REG_DEREF)
		bpf_probe_read_user(&val, sizeof(val), (void *)val + a->val_off);
	return val;
}

static __always_inline unsigned long usdt_cast(const struct __bpf_usdt_arg_spec *a,
					       unsigned long val)
{
	val <<= a->arg_bitshift;
	return a->arg_signed ? (unsigned long)((long)val >> a->arg_bitshift)
			     : val >> a->arg_bitshift;
}

/*
 * buffer__read__done(forkNum, blockNum, spcOid, dbOid, relNumber, backend, [isExtend,] found):
 * PostgreSQL 16 dropped isExtend, so `found` is whichever argument comes last. dbOid and
 * relNumber are neighbours in one struct (4@4(%r13) 4@8(%r13) in Debian's build): when the spec
 * says so, one read of 8 bytes gives both.
 */
SEC("usdt")
int nx_pg_buf_read(struct pt_regs *ctx)
{
	struct nx_pg_task *t = me();
	const struct __bpf_usdt_arg_spec *adb, *arel, *afound;
	const struct __bpf_usdt_spec *spec;
	struct nx_pg_rel_key rk;
	struct nx_pg_rel_val *rv;
	unsigned long raw;
	__u32 db, rel;
	int last;
	bool found;

	if (!t || !(spec = usdt_spec(ctx)))
		return 0;
	last = spec->arg_cnt - 1;
	if (last < 6 || last >= BPF_USDT_MAX_ARG_CNT)
		return 0;
	adb = &spec->args[3];
	arel = &spec->args[4];
	afound = &spec->args[last];
	raw = usdt_raw(ctx, adb);
	db = usdt_cast(adb, raw);
	if (adb->arg_type == BPF_USDT_ARG_REG_DEREF && arel->arg_type == BPF_USDT_ARG_REG_DEREF &&
	    arel->reg_off == adb->reg_off && arel->val_off == adb->val_off + 4 &&
	    adb->arg_bitshift == 32 && arel->arg_bitshift == 32)
		rel = raw >> 32;
	else
		rel = usdt_cast(arel, usdt_raw(ctx, arel));
	found = (__u8)usdt_cast(afound, usdt_raw(ctx, afound));

	if (found)
		t->acc.buf_hits++;
	else
		t->acc.buf_reads++;
	if (db)
		t->acc.db_oid = db;

	rk.db_oid = db;
	rk.rel_node = rel;
	rk.server = t->server ? t->server : bpf_get_current_pid_tgid() >> 32;
	rv = bpf_map_lookup_elem(&pg_relations, &rk);
	if (!rv) {
		struct nx_pg_rel_val zero = {};

		bpf_map_update_elem(&pg_relations, &rk, &zero, BPF_NOEXIST);
		rv = bpf_map_lookup_elem(&pg_relations, &rk);
		if (!rv)
			return 0;
	}
	if (found)
		rv->hits++;
	else
		rv->reads++;
	return 0;
}

SEC("usdt")
int nx_pg_lock_start(struct pt_regs *ctx)
{
	struct nx_pg_task *t = me();
	__u32 tgid;

	if (!t)
		return 0;
	t->acc.lock_start_ns = bpf_ktime_get_ns();
	tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_map_update_elem(&pg_waiting, &tgid, &t->acc.lock_start_ns, BPF_ANY);
	return 0;
}

/* The end of a lock wait: lock__wait__done, or the abort of a wait that ended in an error
 * (deadlock victim, lock_timeout, a cancel), which skips lock__wait__done. */
static __always_inline void lock_wait_end(struct nx_pg_task *t)
{
	__u32 tgid;

	if (!t->acc.lock_start_ns)
		return;
	t->acc.lock_wait_ns += bpf_ktime_get_ns() - t->acc.lock_start_ns;
	t->acc.lock_waits++;
	t->acc.lock_start_ns = 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_map_delete_elem(&pg_waiting, &tgid);
}

SEC("usdt")
int nx_pg_lock_done(struct pt_regs *ctx)
{
	struct nx_pg_task *t = me();

	if (t)
		lock_wait_end(t);
	return 0;
}

/*
 * With --pg-exec-time, query__start/done bracket a simple-protocol Query (parse, plan, execute:
 * every statement it holds). query__done comes after the Query's statements and transactions
 * ended and before its results are flushed to the client, and the agent gives a Query one
 * fingerprint whatever it holds: so inside a Query the ends of statements and commits write no
 * record of their own, query__done writes one for all (a commit's kind rides on it). That saves
 * two records per autocommit statement. An abort writes at once and ends the deferral: an error
 * skips query__done.
 */
SEC("usdt")
int nx_pg_q_start(struct pt_regs *ctx)
{
	struct nx_pg_task *t = me();

	if (!t)
		return 0;
	/* A commit of a Query that ended without query__done nor an abort (none known) counts. */
	if (t->pending == NX_PG_COMMIT)
		flush(t, NX_PG_COMMIT);
	t->pending = NX_PG_QUERY_DONE;
	t->acc.q_start_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("usdt")
int nx_pg_q_done(struct pt_regs *ctx)
{
	struct nx_pg_task *t = me();

	if (!t)
		return 0;
	if (t->acc.q_start_ns) {
		t->acc.exec_ns += bpf_ktime_get_ns() - t->acc.q_start_ns;
		t->acc.q_start_ns = 0;
	}
	flush(t, t->pending ? t->pending : NX_PG_QUERY_DONE);
	t->pending = 0;
	return 0;
}

/* query__execute__start/done bracket a portal's execution; for the extended protocol they are
 * the statement's execution time (inside a simple Query, query__start/done already count it).
 * Without --pg-exec-time neither query__start nor query__execute__start is attached: exec_ns
 * stays 0 and every statement end writes its own record. */
SEC("usdt")
int nx_pg_x_start(struct pt_regs *ctx)
{
	struct nx_pg_task *t = me();

	if (t && !t->acc.q_start_ns)
		t->acc.x_start_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("usdt")
int nx_pg_exec_done(struct pt_regs *ctx)
{
	struct nx_pg_task *t = me();

	if (!t)
		return 0;
	if (t->acc.x_start_ns) {
		t->acc.exec_ns += bpf_ktime_get_ns() - t->acc.x_start_ns;
		t->acc.x_start_ns = 0;
	}
	if (!t->pending)
		flush(t, NX_PG_EXEC_DONE);
	return 0;
}

SEC("usdt")
int nx_pg_commit(struct pt_regs *ctx)
{
	struct nx_pg_task *t = me();

	if (!t)
		return 0;
	if (!t->pending) {
		flush(t, NX_PG_COMMIT);
		return 0;
	}
	/* A Query holding several transactions: one record per commit. */
	if (t->pending == NX_PG_COMMIT)
		flush(t, NX_PG_COMMIT);
	t->pending = NX_PG_COMMIT;
	return 0;
}

SEC("usdt")
int nx_pg_abort(struct pt_regs *ctx)
{
	struct nx_pg_task *t = me();

	if (!t)
		return 0;
	lock_wait_end(t);
	if (t->pending == NX_PG_COMMIT)
		flush(t, NX_PG_COMMIT);
	t->pending = 0;
	flush(t, NX_PG_ABORT);
	return 0;
}

SEC("usdt")
int nx_pg_deadlock(struct pt_regs *ctx)
{
	struct nx_pg_task *t = me();

	if (t)
		flush(t, NX_PG_DEADLOCK);
	return 0;
}
