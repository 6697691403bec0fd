// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket capture of target processes (redis-server, postgres...): what they read from and write to
 * TCP and Unix stream sockets, when connections open and close, and which processes are targets.
 *
 * Every program runs at a syscall's *exit* and reads the syscall's arguments back from the task's
 * saved user registers: one program run per syscall instead of an enter/exit pair, and no per-thread
 * map to carry arguments across. The first thing each does is one bit test in a tgid bitmap, so a
 * process that is not a target pays a few instructions and nothing else.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "events.h"
#include "sock.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the agent between open and load. */
const volatile __u32 capture_bytes = NX_DEFAULT_CAPTURE;
/* Ring buffer fill level at which a record also wakes the consumer (see nx_rb_flags()). */
const volatile __u64 wakeup_bytes = 1 << 20;
/* Key that turns struct sock addresses into sock_ids, so no kernel address reaches user space. */
const volatile __u64 sock_id_key = 0;
/* Executable names (comm at exec) that make a process a target. */
const volatile __u32 n_exec_names = 0;
const volatile char exec_names[NX_MAX_EXEC_NAMES][NX_COMM_LEN] = {};

/*
 * One bit per tgid: is this process a target? The agent sets bits through the mmap'ed .bss;
 * fork and exec below set them for new processes before the new process can run a syscall.
 */
__u64 target_bits[NX_PID_LIMIT / 64];

/* Every record for the agent; sized by the agent before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* All counters (enum nx_counter) in one per-CPU value: one lookup counts, nothing contends. */
struct nx_counters {
	__u64 c[NX_CNT__COUNT];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nx_counters);
} counters SEC(".maps");

/*
 * Socket facts per (tgid, fd) of targets, so the fd -> sock walk runs once per connection and not
 * on every read. close/dup2 remove entries; the agent removes those of exited processes; LRU so an
 * entry we missed ages out instead of filling the map.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct nx_fd_key);
	__type(value, struct nx_fd_info);
} fd_cache SEC(".maps");

/* See struct nx_fast_slot: most reads and writes find their socket here and skip the hash map. */
struct nx_fast_slot fast_fds[NX_FAST_SLOTS];

/* See struct nx_arrival_slot: when the bytes a target's read takes reached its socket. */
struct nx_arrival_slot arrivals[NX_ARRIVAL_SLOTS];

/*
 * TCP ports targets accepted connections on (any network namespace): a connection completing its
 * handshake on one claims an arrival slot at once, so that the request a client sends right after
 * connecting, which arrives before the server accepts, has its arrival time too.
 */
__u64 accept_ports[65536 / 64];

/* struct sock * -> its owner, for TCP state changes that happen outside the owner's syscalls. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct nx_fd_key);
} sock_owner SEC(".maps");

/* Where the payload of a data syscall is: its arguments after the fd. */
enum buf_kind {
	BUF_PLAIN = 0,	/* (fd, buf, len): read, write, recvfrom, sendto */
	BUF_IOV = 1,	/* (fd, iov, iovcnt): readv, writev */
	BUF_MSGHDR = 2, /* (fd, struct user_msghdr *): recvmsg, sendmsg */
};

struct user_iovec {
	void *base;
	__u64 len;
};

/*
 * Walking a syscall's payload chunk by chunk (bpf_loop's steps). The payload is a list of user
 * buffers (one, or up to NX_MAX_IOV iovecs); chunks are filled across buffer boundaries, so a
 * writev of small pieces is still one record. It lives in the per-CPU scratch slot, not on the
 * stack: the verifier tracks stack values exactly and would see a new state at every step.
 */
struct io_walk {
	struct nx_data_event hdr;	 /* what every chunk's header repeats (ts, len, dir...) */
	const struct user_iovec *uiov; /* NULL: one buffer, already in base/left */
	__u64 iovcnt;
	__u32 iov_next;			 /* the next iovec to read */
	const __u8 *base;		 /* the current buffer's next byte... */
	__u64 left;			 /* ...and what remains of it */
	__u32 want;			 /* bytes to capture in all (<= len, <= capture_bytes) */
	__u32 done;			 /* bytes captured so far */
	__u32 fill;			 /* of which in the chunk being built */
	bool open;			 /* the last record sent promised more (or none was sent) */
};

/* DATA records are up to NX_CHUNK_BYTES of payload: built here, not on the 512-byte stack. Twice
 * the chunk of room lets the verifier see that (offset < CHUNK) + (len <= CHUNK) stays inside.
 * buf is ev.data: the flexible array member is followed by its storage. */
struct data_scratch {
	struct io_walk w;
	struct nx_data_event ev;
	__u8 buf[2 * NX_CHUNK_BYTES];
};

/* One slot per CPU, indexed by CPU id: a per-CPU array caps values at 32 KiB, this one does not.
 * Sized to the possible CPUs by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_scratch);
} scratch SEC(".maps");

/* The exit tracepoints of syscalls:sys_exit_* share this layout. */
struct syscall_exit_ctx {
	__u64 common;
	int nr;
	long ret;
};

static __always_inline bool is_target(__u32 tgid)
{
	return (target_bits[(tgid >> 6) & (NX_PID_LIMIT / 64 - 1)] >> (tgid & 63)) & 1;
}

static __always_inline void set_target(__u32 tgid, bool on)
{
	__u64 bit = 1ULL << (tgid & 63);
	__u64 *word = &target_bits[(tgid >> 6) & (NX_PID_LIMIT / 64 - 1)];

	if (on)
		__sync_fetch_and_or(word, bit);
	else
		__sync_fetch_and_and(word, ~bit);
}

static __always_inline struct nx_counters *counters_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline void count(__u32 idx, __u64 n)
{
	struct nx_counters *c = counters_get();

	if (c && idx < NX_CNT__COUNT)
		c->c[idx] += n;
}

/*
 * A default ring-buffer wakeup is an irq_work self-IPI per record, several microseconds on a VM.
 * Records go in silently; only when the consumer has fallen behind by wakeup_bytes is it woken.
 * The agent also polls on a short timeout, so nothing waits long.
 */
static __always_inline __u64 nx_rb_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
}

static __always_inline __u64 sock_id_of(__u64 sk)
{
	return sk ^ sock_id_key;
}

static __always_inline void fill_hdr(struct nx_event_hdr *h, __u32 type, __u64 pid_tgid, __u32 fd)
{
	h->type = type;
	h->tgid = pid_tgid >> 32;
	h->pid = (__u32)pid_tgid;
	h->fd = fd;
	h->ts_ns = bpf_ktime_get_ns();
}

static __always_inline void emit_conn(__u32 type, __u64 pid_tgid, __u32 fd, struct sock *sk,
				      __u8 transport, __u8 how)
{
	struct nx_conn_event *ev;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(NX_CNT_LOST, 1);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	fill_hdr(&ev->hdr, type, pid_tgid, fd);
	ev->sock_id = sock_id_of((__u64)sk);
	ev->how = how;
	nx_fill_conn(ev, sk, transport);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	bpf_ringbuf_submit(ev, nx_rb_flags());
}

#define NX_READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define NX_WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

/*
 * Slots are written key = 0, sk, key and read key, sk, key: a reader racing a writer on another CPU
 * sees a key change and falls back to the hash map, never a socket under the wrong key.
 */
static __always_inline void fast_put(__u64 key, __u64 sk)
{
	struct nx_fast_slot *slot = &fast_fds[nx_fast_index(key)];

	NX_WRITE_ONCE(slot->key, 0);
	NX_WRITE_ONCE(slot->sk, sk);
	NX_WRITE_ONCE(slot->key, key);
}

static __always_inline __u64 fast_get(__u64 key)
{
	struct nx_fast_slot *slot = &fast_fds[nx_fast_index(key)];
	__u64 sk;

	if (NX_READ_ONCE(slot->key) != key)
		return 0;
	sk = NX_READ_ONCE(slot->sk);
	return NX_READ_ONCE(slot->key) == key ? sk : 0;
}

static __always_inline void fast_drop(__u64 key)
{
	struct nx_fast_slot *slot = &fast_fds[nx_fast_index(key)];

	if (NX_READ_ONCE(slot->key) == key)
		NX_WRITE_ONCE(slot->key, 0);
}

static __always_inline void arrival_claim(struct nx_arrival_slot *slot, __u64 sk)
{
	NX_WRITE_ONCE(slot->ns, 0);
	NX_WRITE_ONCE(slot->sk, sk);
}

/*
 * A read of sk took bytes: when did the oldest of them arrive? The stamp is cleared for the next
 * request unless the read filled its buffer (more may wait behind it, which arrived no earlier:
 * the stamp stays for the next read). 0: not known (the slot was another socket's).
 */
static __always_inline __u64 arrival_take(__u64 sk, bool maybe_more)
{
	struct nx_arrival_slot *slot = &arrivals[nx_arrival_index(sk)];
	__u64 ns;

	if (NX_READ_ONCE(slot->sk) != sk) {
		arrival_claim(slot, sk);
		return 0;
	}
	ns = NX_READ_ONCE(slot->ns);
	if (!maybe_more)
		NX_WRITE_ONCE(slot->ns, 0);
	return ns;
}

/* Walks fd -> sock, remembers a socket of ours and tells the agent about it; returns the sock. */
static __always_inline __u64 learn_fd(__u64 pid_tgid, __u32 fd, __u8 how)
{
	struct nx_fd_key key = { .tgid = pid_tgid >> 32, .fd = fd };
	struct nx_fd_info info = {};
	struct sock *sk;

	sk = nx_fd_to_sock((struct task_struct *)bpf_get_current_task(), fd);
	if (!sk)
		return 0;
	info.transport = nx_sock_transport(sk);
	if (!info.transport)
		return 0;
	info.sk = (__u64)sk;
	if (bpf_map_update_elem(&fd_cache, &key, &info, BPF_ANY)) {
		count(NX_CNT_FDCACHE_FULL, 1);
		return 0;
	}
	fast_put(nx_fast_key(key.tgid, fd), info.sk);
	/* a stamp taken since the handshake (accept_ports) stays: the first request's arrival */
	if (NX_READ_ONCE(arrivals[nx_arrival_index(info.sk)].sk) != info.sk)
		arrival_claim(&arrivals[nx_arrival_index(info.sk)], info.sk);
	if (how == NX_OPEN_ACCEPT && info.transport != NX_TRANSPORT_UNIX) {
		__u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);

		__sync_fetch_and_or(&accept_ports[(port >> 6) & 1023], 1ULL << (port & 63));
	}
	if (info.transport != NX_TRANSPORT_UNIX)
		bpf_map_update_elem(&sock_owner, &info.sk, &key, BPF_ANY);
	emit_conn(NX_EV_CONN_OPEN, pid_tgid, fd, sk, info.transport, how);
	return info.sk;
}

/* The sock behind a target's fd, or 0 when the fd is not one of our sockets. */
static __always_inline __u64 lookup_fd(__u64 pid_tgid, __u32 fd)
{
	struct nx_fd_key key = { .tgid = pid_tgid >> 32, .fd = fd };
	__u64 fkey = nx_fast_key(key.tgid, fd);
	struct nx_fd_info *info;
	__u64 sk = fast_get(fkey);

	if (sk)
		return sk;
	info = bpf_map_lookup_elem(&fd_cache, &key);
	if (!info)
		return learn_fd(pid_tgid, fd, NX_OPEN_SEEN);
	sk = info->sk;
	fast_put(fkey, sk);
	return sk;
}

/* Forgets a socket fd (close, dup2 over it) and tells the agent. */
static __always_inline void forget_fd(__u64 pid_tgid, __u32 fd)
{
	struct nx_fd_key key = { .tgid = pid_tgid >> 32, .fd = fd };
	struct nx_fd_info *info = bpf_map_lookup_elem(&fd_cache, &key);
	struct nx_conn_event *ev;
	__u64 sk;

	if (!info)
		return;
	sk = info->sk;
	fast_drop(nx_fast_key(key.tgid, fd));
	bpf_map_delete_elem(&fd_cache, &key);
	bpf_map_delete_elem(&sock_owner, &sk);
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(NX_CNT_LOST, 1);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	fill_hdr(&ev->hdr, NX_EV_CONN_CLOSE, pid_tgid, fd);
	ev->sock_id = sock_id_of(sk);
	bpf_ringbuf_submit(ev, nx_rb_flags());
}

/*
 * The registers the task entered the kernel with: at syscall exit they still hold the arguments.
 * bpf_task_pt_regs() gives a BTF pointer, so plain loads read it (no probe-read helper calls).
 */
static __always_inline struct pt_regs *user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

#if defined(__TARGET_ARCH_x86)
#define NX_SYSCALL_ARG1(regs) ((regs)->di)
#define NX_SYSCALL_ARG2(regs) ((regs)->si)
#define NX_SYSCALL_ARG3(regs) ((regs)->dx)
#else
#define NX_SYSCALL_ARG1(regs) PT_REGS_PARM1_CORE_SYSCALL(regs)
#define NX_SYSCALL_ARG2(regs) PT_REGS_PARM2_CORE_SYSCALL(regs)
#define NX_SYSCALL_ARG3(regs) PT_REGS_PARM3_CORE_SYSCALL(regs)
#endif

static __always_inline void fill_data(struct nx_data_event *ev, __u64 pid_tgid, __u32 fd, __u64 sk,
				      long ret, __u32 cap_len, __u8 dir, __u8 sys)
{
	fill_hdr(&ev->hdr, NX_EV_DATA, pid_tgid, fd);
	ev->sock_id = sock_id_of(sk);
	ev->len = ret;
	ev->cap_len = cap_len;
	ev->dir = dir;
	ev->syscall = sys;
	ev->flags = 0;
	ev->off = 0;
	ev->arrived_ns = 0;
}

/* Small single-buffer I/O (most requests and replies) is read straight into a fixed-size ring
 * record: no scratch copy. The record's tail past cap_len is slack. */
#define NX_SMALL_CAPTURE 256

struct small_record {
	struct nx_data_event ev;
	__u8 buf[NX_SMALL_CAPTURE];
};

static __always_inline void count_event(__u32 got)
{
	struct nx_counters *cnt = counters_get();

	if (cnt) {
		cnt->c[NX_CNT_EVENTS]++;
		cnt->c[NX_CNT_BYTES] += got;
	}
}

static __always_inline int small_io(long ret, __u8 sys, __u8 dir, __u64 pid_tgid, __u32 fd, __u64 sk,
				    const void *ubuf, __u32 want, __u64 arrived)
{
	struct small_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		count(NX_CNT_LOST, 1);
		return 0;
	}
	if (want > NX_SMALL_CAPTURE) /* the caller checked; the verifier wants to see it */
		want = NX_SMALL_CAPTURE;
	if (bpf_probe_read_user(r->buf, want, ubuf)) {
		count(NX_CNT_READ_FAIL, 1);
		want = 0;
	}
	fill_data(&r->ev, pid_tgid, fd, sk, ret, want, dir, sys);
	r->ev.arrived_ns = arrived;
	bpf_ringbuf_submit(r, nx_rb_flags());
	count_event(want);
	return 0;
}

/* Sends the chunk being built; its payload is the scratch's first w->fill bytes. */
static __always_inline void io_emit(struct data_scratch *s, bool more)
{
	struct io_walk *w = &s->w;
	__u32 fill = w->fill & (2 * NX_CHUNK_BYTES - 1);

	s->ev = w->hdr;
	s->ev.cap_len = fill;
	s->ev.off = w->done - fill;
	s->ev.flags = more ? NX_DATA_F_MORE : 0;
	/* bpf_ringbuf_reserve needs a constant size; output copies a variable-length record. */
	if (bpf_ringbuf_output(&events, &s->ev, sizeof(s->ev) + fill, nx_rb_flags()))
		count(NX_CNT_LOST, 1);
	w->fill = 0;
	w->open = more;
}

/* One step: copy what fits of the current buffer into the chunk; send the chunk when it is full
 * or the payload is done. 0: go on, 1: stop. */
static long io_step(__u32 i, void *cpu)
{
	struct data_scratch *s = bpf_map_lookup_elem(&scratch, cpu);
	struct io_walk *w;
	__u32 n, room;

	if (!s)
		return 1;
	w = &s->w;
	if (!w->left) {
		struct user_iovec iov;

		if (!w->uiov || w->iov_next >= w->iovcnt || w->iov_next >= NX_MAX_IOV)
			goto finish; /* iovecs past NX_MAX_IOV are counted in len, not copied */
		if (bpf_probe_read_user(&iov, sizeof(iov), &w->uiov[w->iov_next & (NX_MAX_IOV - 1)])) {
			count(NX_CNT_READ_FAIL, 1);
			goto finish;
		}
		w->iov_next++;
		w->base = iov.base;
		w->left = iov.len;
		return 0;
	}
	room = NX_CHUNK_BYTES - (w->fill & (NX_CHUNK_BYTES - 1));
	n = w->want - w->done;
	if (n > room)
		n = room;
	if (n > w->left)
		n = w->left;
	/* Said above, but the compiler drops a clamp it can prove: hide n so the verifier sees one. */
	asm volatile("" : "+r"(n));
	if (n > NX_CHUNK_BYTES)
		n = NX_CHUNK_BYTES;
	if (n && bpf_probe_read_user(&s->buf[w->fill & (NX_CHUNK_BYTES - 1)], n, w->base)) {
		count(NX_CNT_READ_FAIL, 1);
		goto finish;
	}
	w->fill += n;
	w->done += n;
	w->base += n;
	w->left -= n;
	if (w->done >= w->want) {
		io_emit(s, false);
		return 1;
	}
	if (w->fill >= NX_CHUNK_BYTES)
		io_emit(s, true);
	return 0;
finish:
	/* Ends the syscall's records: what was built, or an empty last chunk after a full one. */
	if (w->fill || w->open)
		io_emit(s, false);
	return 1;
}

/* Enough steps for every chunk of the largest capture plus one per iovec read, and the finish. */
#define IO_STEPS (NX_MAX_CAPTURE / NX_CHUNK_BYTES + NX_MAX_IOV + 2)

/*
 * The data path: a target moved `ret` bytes through fd; the first capture_bytes of them are
 * copied, in chunks of NX_CHUNK_BYTES, so that a parser sees a whole pipeline of requests.
 */
static __always_inline int on_io(long ret, __u8 sys, __u8 dir, enum buf_kind kind)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct data_scratch *s;
	struct pt_regs *regs;
	struct io_walk *w;
	__u32 want, cpu;
	__u64 sk, arrived = 0;
	__u32 fd;

	if (!is_target(pid_tgid >> 32) || ret <= 0)
		return 0;
	regs = user_regs();
	fd = NX_SYSCALL_ARG1(regs);
	sk = lookup_fd(pid_tgid, fd);
	if (!sk)
		return 0;
	/* A read that filled its buffer may have left bytes behind: their wait is the next read's. */
	if (dir == NX_DIR_IN)
		arrived = arrival_take(sk, kind == BUF_PLAIN && ret == NX_SYSCALL_ARG3(regs));
	want = ret < capture_bytes ? ret : capture_bytes;
	if (kind == BUF_PLAIN && want <= NX_SMALL_CAPTURE)
		return small_io(ret, sys, dir, pid_tgid, fd, sk, (void *)NX_SYSCALL_ARG2(regs), want,
				arrived);

	cpu = bpf_get_smp_processor_id();
	s = bpf_map_lookup_elem(&scratch, &cpu);
	if (!s)
		return 0;
	w = &s->w;
	__builtin_memset(w, 0, sizeof(*w));
	fill_data(&w->hdr, pid_tgid, fd, sk, ret, 0, dir, sys);
	w->hdr.arrived_ns = arrived;
	w->want = want;
	w->open = true;
	if (kind == BUF_PLAIN) {
		w->base = (const __u8 *)NX_SYSCALL_ARG2(regs);
		w->left = want;
	} else if (kind == BUF_IOV) {
		w->uiov = (const struct user_iovec *)NX_SYSCALL_ARG2(regs);
		w->iovcnt = NX_SYSCALL_ARG3(regs);
	} else {
		struct user_msghdr *msg = (void *)NX_SYSCALL_ARG2(regs);

		bpf_probe_read_user(&w->uiov, sizeof(w->uiov), &msg->msg_iov);
		bpf_probe_read_user(&w->iovcnt, sizeof(w->iovcnt), &msg->msg_iovlen);
	}
	bpf_loop(IO_STEPS, io_step, &cpu, 0);
	count_event(w->done);
	return 0;
}

#define IO_PROG(name, sys, dir, kind)                                                             \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                \
	int nx_exit_##name(struct syscall_exit_ctx *ctx)                                          \
	{                                                                                         \
		return on_io(ctx->ret, sys, dir, kind);                                           \
	}

IO_PROG(read, NX_SYS_READ, NX_DIR_IN, BUF_PLAIN)
IO_PROG(recvfrom, NX_SYS_RECVFROM, NX_DIR_IN, BUF_PLAIN)
IO_PROG(readv, NX_SYS_READV, NX_DIR_IN, BUF_IOV)
IO_PROG(recvmsg, NX_SYS_RECVMSG, NX_DIR_IN, BUF_MSGHDR)
IO_PROG(write, NX_SYS_WRITE, NX_DIR_OUT, BUF_PLAIN)
IO_PROG(sendto, NX_SYS_SENDTO, NX_DIR_OUT, BUF_PLAIN)
IO_PROG(writev, NX_SYS_WRITEV, NX_DIR_OUT, BUF_IOV)
IO_PROG(sendmsg, NX_SYS_SENDMSG, NX_DIR_OUT, BUF_MSGHDR)

/* accept/accept4 return a new connection of which the target is the server. */
static __always_inline int on_accept(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!is_target(pid_tgid >> 32) || ret < 0)
		return 0;
	forget_fd(pid_tgid, ret); /* a close we missed: the fd number is a new connection now */
	learn_fd(pid_tgid, ret, NX_OPEN_ACCEPT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int nx_exit_accept(struct syscall_exit_ctx *ctx)
{
	return on_accept(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int nx_exit_accept4(struct syscall_exit_ctx *ctx)
{
	return on_accept(ctx->ret);
}

#define NX_EINPROGRESS 115

SEC("tracepoint/syscalls/sys_exit_connect")
int nx_exit_connect(struct syscall_exit_ctx *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 fd;

	if (!is_target(pid_tgid >> 32) || (ctx->ret != 0 && ctx->ret != -NX_EINPROGRESS))
		return 0;
	fd = NX_SYSCALL_ARG1(user_regs());
	forget_fd(pid_tgid, fd);
	learn_fd(pid_tgid, fd, NX_OPEN_CONNECT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_close")
int nx_exit_close(struct syscall_exit_ctx *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!is_target(pid_tgid >> 32))
		return 0;
	forget_fd(pid_tgid, NX_SYSCALL_ARG1(user_regs()));
	return 0;
}

/* dup2/dup3 onto an open fd close it silently: the old connection behind newfd is gone. */
static __always_inline int on_dup(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!is_target(pid_tgid >> 32) || ret < 0)
		return 0;
	forget_fd(pid_tgid, ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_dup2")
int nx_exit_dup2(struct syscall_exit_ctx *ctx)
{
	return on_dup(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_dup3")
int nx_exit_dup3(struct syscall_exit_ctx *ctx)
{
	return on_dup(ctx->ret);
}

/*
 * TCP state changes run in softirq as often as in the owner's context, so the owner comes from
 * sock_owner. What matters here: a handshake completing on a port targets accept on (its first
 * request may arrive before the accept), the peer's FIN and the final close.
 */
#define NX_TCP_ESTABLISHED 1
#define NX_TCP_SYN_RECV 3
#define NX_TCP_CLOSE 7
#define NX_TCP_CLOSE_WAIT 8

SEC("tracepoint/sock/inet_sock_set_state")
int nx_sock_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u64 sk = (__u64)ctx->skaddr;
	struct nx_conn_event *ev;
	struct nx_fd_key *owner;

	if (ctx->newstate == NX_TCP_ESTABLISHED && ctx->oldstate == NX_TCP_SYN_RECV) {
		__u16 port = ctx->sport;

		if ((accept_ports[(port >> 6) & 1023] >> (port & 63)) & 1)
			arrival_claim(&arrivals[nx_arrival_index(sk)], sk);
		return 0;
	}
	if (ctx->newstate != NX_TCP_CLOSE && ctx->newstate != NX_TCP_CLOSE_WAIT)
		return 0;
	owner = bpf_map_lookup_elem(&sock_owner, &sk);
	if (!owner)
		return 0;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(NX_CNT_LOST, 1);
		return 0;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	fill_hdr(&ev->hdr, NX_EV_CONN_STATE, (__u64)owner->tgid << 32, owner->fd);
	ev->sock_id = sock_id_of(sk);
	ev->old_state = ctx->oldstate;
	ev->new_state = ctx->newstate;
	bpf_ringbuf_submit(ev, nx_rb_flags());
	return 0;
}

/*
 * Bytes reached a socket, any socket on the node (TCP and Unix alike call sock_def_readable): one
 * load and compare keeps ours. The first arrival since the owner's last read is the one a request
 * waited from; later ones only add to what is already waiting. (Kernels before 6.6 lack this
 * tracepoint: the agent then leaves the program out and waits are not known.)
 */
SEC("tracepoint/sock/sk_data_ready")
int nx_data_ready(struct trace_event_raw_sk_data_ready *ctx)
{
	__u64 sk = (__u64)ctx->skaddr;
	struct nx_arrival_slot *slot = &arrivals[nx_arrival_index(sk)];

	if (NX_READ_ONCE(slot->sk) != sk || NX_READ_ONCE(slot->ns))
		return 0;
	NX_WRITE_ONCE(slot->ns, bpf_ktime_get_ns());
	return 0;
}

static __always_inline void emit_proc(__u32 type, __u32 tgid, __u32 ppid, __u32 code,
				      const char *comm)
{
	struct nx_proc_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		count(NX_CNT_LOST, 1);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	fill_hdr(&ev->hdr, type, (__u64)tgid << 32 | tgid, 0);
	ev->ppid = ppid;
	ev->exit_code = code;
	bpf_probe_read_kernel_str(ev->comm, sizeof(ev->comm), comm);
	bpf_ringbuf_submit(ev, nx_rb_flags());
}

/* A target's children are targets from their first instruction (postgres forks a backend per
 * connection, which reads the startup packet at once). Threads share their process's bit. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(nx_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);

	if (!is_target(ptgid) || ctgid == ptgid)
		return 0;
	set_target(ctgid, true);
	emit_proc(NX_EV_PROC_FORK, ctgid, ptgid, 0, child->comm);
	return 0;
}

static __always_inline bool comm_is_target(const char *comm)
{
	for (int i = 0; i < NX_MAX_EXEC_NAMES; i++) {
		bool same = true;

		if (i >= n_exec_names)
			return false;
		for (int j = 0; j < NX_COMM_LEN; j++) {
			if (comm[j] != exec_names[i][j]) {
				same = false;
				break;
			}
			if (!comm[j])
				break;
		}
		if (same)
			return true;
	}
	return false;
}

/* A process that execs a target executable becomes a target; a target that execs anything else
 * stops being one. comm is already the new executable's name here. */
SEC("tracepoint/sched/sched_process_exec")
int nx_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	char comm[NX_COMM_LEN] = {};
	bool want, was;

	bpf_get_current_comm(comm, sizeof(comm));
	want = comm_is_target(comm);
	was = is_target(tgid);
	if (want == was && !want)
		return 0;
	set_target(tgid, want);
	emit_proc(want ? NX_EV_PROC_EXEC : NX_EV_PROC_EXIT, tgid, 0, 0, comm);
	return 0;
}

/* The last thread of a target leaving: the process is gone. */
SEC("tracepoint/sched/sched_process_exit")
int nx_exit(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct task_struct *task;
	char comm[NX_COMM_LEN];

	if (!is_target(tgid))
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	set_target(tgid, false);
	bpf_get_current_comm(comm, sizeof(comm));
	emit_proc(NX_EV_PROC_EXIT, tgid, 0, BPF_CORE_READ(task, exit_code), comm);
	return 0;
}
