/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Records the kernel side writes into the ring buffer and the agent reads back: the one place that
 * defines their layout. Fixed-size types only, no pointers, so bpf/ and agent/ agree by construction.
 */
#ifndef NEXUS_EVENTS_H
#define NEXUS_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * Payload bytes one DATA record carries at most; a power of two so the BPF side can clamp lengths
 * with a mask. A syscall that moved more is captured as several records (chunks), in order.
 */
#define NX_CHUNK_BYTES 16384
/*
 * Bytes captured per read/write (--capture-bytes), at most and by default. The default holds a
 * whole read or write of both servers (Redis reads 16 KiB and writes up to 64 KiB of replies at a
 * time, PostgreSQL moves 8 KiB), so the parsers see every command of any pipeline; larger I/O
 * is bulk values and rows, which the parsers skip by their framed lengths.
 */
#define NX_MAX_CAPTURE (1U << 20)
#define NX_DEFAULT_CAPTURE 65536
/* pid_max can be raised to 2^22 (PID_MAX_LIMIT): the target bitmap covers every possible tgid. */
#define NX_PID_LIMIT (1U << 22)
#define NX_COMM_LEN 16
#define NX_UNIX_PATH_LEN 108
/* Executable names the kernel recognises at exec time (redis-server, postgres, --comm ...). */
#define NX_MAX_EXEC_NAMES 8
/* iovecs of one readv/writev/sendmsg/recvmsg the kernel copies from; the rest is counted, not copied. */
#define NX_MAX_IOV 8

enum nx_event_type {
	NX_EV_DATA = 1,	      /* bytes a target read from or wrote to a socket */
	NX_EV_CONN_OPEN = 2,  /* first sight of a socket fd: accept, connect, or first I/O */
	NX_EV_CONN_CLOSE = 3, /* close() of a socket fd */
	NX_EV_CONN_STATE = 4, /* TCP state change of a socket we know (peer FIN, reset) */
	NX_EV_PROC_EXEC = 5,  /* a process exec'd a target executable */
	NX_EV_PROC_FORK = 6,  /* a target forked a new process, which is a target too */
	NX_EV_PROC_EXIT = 7,  /* a target process (thread group) exited */
	NX_EV_PG_USDT = 8,    /* a postgres backend's USDT figures since its last record */
	NX_EV_REDIS_CALL = 9, /* redis-server's call() returned: one command executed */
};

/* Direction seen from the target process: it read (IN) or wrote (OUT) the bytes. */
enum nx_dir {
	NX_DIR_IN = 0,
	NX_DIR_OUT = 1,
};

enum nx_syscall {
	NX_SYS_READ = 0,
	NX_SYS_WRITE,
	NX_SYS_READV,
	NX_SYS_WRITEV,
	NX_SYS_SENDTO,
	NX_SYS_RECVFROM,
	NX_SYS_SENDMSG,
	NX_SYS_RECVMSG,
	NX_SYS_CLOSE,
	NX_SYS_ACCEPT,
	NX_SYS_CONNECT,
	NX_SYS__COUNT,
};

enum nx_transport {
	NX_TRANSPORT_TCP4 = 1,
	NX_TRANSPORT_TCP6 = 2,
	NX_TRANSPORT_UNIX = 3,
};

/* How the kernel side came to know a connection. */
enum nx_open_how {
	NX_OPEN_SEEN = 0,    /* first I/O on an fd opened before we looked, or whose open we missed */
	NX_OPEN_ACCEPT = 1,  /* accept()/accept4() returned it: the target is the server */
	NX_OPEN_CONNECT = 2, /* connect() on it: the target is the client */
};

/* Counters the kernel side keeps per CPU; the agent sums and exports them. */
enum nx_counter {
	NX_CNT_EVENTS = 0,   /* DATA records submitted */
	NX_CNT_BYTES,	     /* payload bytes copied into DATA records */
	NX_CNT_LOST,	     /* records of any type the ring buffer had no room for */
	NX_CNT_READ_FAIL,    /* payload the kernel could not copy from user memory */
	NX_CNT_FDCACHE_FULL, /* sockets we could not remember (fd cache full) */
	NX_CNT__COUNT,
};

struct nx_event_hdr {
	__u32 type;  /* enum nx_event_type */
	__u32 tgid;  /* process (thread group) id, as the root pid namespace sees it */
	__u32 pid;   /* thread id */
	__u32 fd;    /* socket fd for DATA/CONN_*, 0 otherwise */
	__u64 ts_ns; /* CLOCK_MONOTONIC, bpf_ktime_get_ns() */
};

struct nx_data_event {
	struct nx_event_hdr hdr;
	__u64 sock_id;	/* identity of the kernel socket behind the fd (keyed hash of struct sock *) */
	__u32 len;	/* bytes the syscall moved (its return value) */
	__u32 cap_len;	/* bytes of payload that follow, <= NX_CHUNK_BYTES */
	__u8 dir;	/* enum nx_dir */
	__u8 syscall;	/* enum nx_syscall */
	__u8 flags;	/* NX_DATA_F_* */
	__u8 pad;
	__u32 off;	/* where data starts in the syscall's payload (0 for its first chunk) */
	__u64 arrived_ns; /* IN: when the oldest bytes this read took reached the socket (its
			   * sk_data_ready); 0: not known. ts_ns - arrived_ns is the request's wait. */
	__u8 data[];	/* cap_len bytes of the I/O from off on, in order (iovecs concatenated) */
};

/*
 * Another chunk of the same syscall follows (same ts_ns, off + cap_len). The last chunk lacks it;
 * what it leaves of len, len - (off + cap_len), was not captured (--capture-bytes, a failed copy).
 */
#define NX_DATA_F_MORE 0x1

/* The Unix path in a CONN event is the socket's own address (it is the listening side). */
#define NX_CONN_F_PATH_LOCAL 0x1

struct nx_conn_event {
	struct nx_event_hdr hdr;
	__u64 sock_id;
	__u8 transport; /* enum nx_transport */
	__u8 how;	/* enum nx_open_how (CONN_OPEN) */
	__u8 old_state; /* TCP states (CONN_STATE), as in include/net/tcp_states.h */
	__u8 new_state;
	__u8 flags;	/* NX_CONN_F_* */
	__u8 pad[3];
	__u16 lport;	/* host byte order */
	__u16 rport;
	__u8 laddr[16]; /* IPv4 in the first 4 bytes, or IPv6 */
	__u8 raddr[16];
	char path[NX_UNIX_PATH_LEN]; /* Unix socket path of the listening side ('\0' first: abstract) */
	char comm[NX_COMM_LEN];
};

struct nx_proc_event {
	struct nx_event_hdr hdr;
	__u32 ppid; /* parent's tgid (FORK) */
	__u32 exit_code;
	char comm[NX_COMM_LEN];
};

/*
 * PostgreSQL's own probes (bpf/pg_usdt.bpf.c). A backend accumulates buffer and lock figures in
 * struct nx_pg_backend; at the end of each executor run and each transaction it flushes them into
 * one record. The record shares the ring buffer with the backend's socket records, so it arrives
 * after the read of the statement it belongs to and before the write of its result.
 */
enum nx_pg_usdt_kind {
	NX_PG_EXEC_DONE = 1, /* query__execute__done: a statement's executor finished */
	NX_PG_COMMIT = 2,    /* transaction__commit */
	NX_PG_ABORT = 3,     /* transaction__abort */
	NX_PG_DEADLOCK = 4,  /* deadlock__found: this backend was chosen to break a deadlock */
	NX_PG_QUERY_DONE = 5, /* query__done: a simple-protocol Query finished */
};

struct nx_pg_backend {
	__u64 buf_hits;	     /* shared buffers found (buffer__read__done found = 1) */
	__u64 buf_reads;     /* not found: read from the kernel (or extended) */
	__u64 lock_wait_ns;  /* finished heavyweight-lock waits */
	__u64 lock_start_ns; /* a wait in progress since then; 0: none */
	__u32 lock_waits;
	__u32 db_oid;	     /* database of the last non-shared buffer read (0: none yet) */
	__u64 exec_ns;	     /* statement execution inside the server (query__start/done, or
			      * query__execute__start/done for the extended protocol) */
	__u64 q_start_ns;    /* a simple Query in progress since; 0: none */
	__u64 x_start_ns;    /* an Execute in progress since; 0: none */
};

struct nx_pg_usdt_event {
	struct nx_event_hdr hdr;   /* fd 0 */
	__u32 kind;		   /* enum nx_pg_usdt_kind */
	__u32 pad;
	struct nx_pg_backend acc;  /* the figures since the previous record (lock_start_ns unused) */
};

/* Value of the kernel's pg_tasks map (task storage), which the agent fills for the processes it
 * finds: a watched postgres process's figures since its last record. Inside a simple Query
 * (--pg-exec-time attaches query__start/done) the end of a statement or a commit writes no record
 * of its own: query__done writes one for the whole Query, of the kind kept here. */
struct nx_pg_task {
	struct nx_pg_backend acc;
	__u32 pending; /* kind of query__done's record: QUERY_DONE from query__start, COMMIT after a
			* commit; 0 outside a Query or after an abort (every end writes at once) */
	__u32 server;  /* its postmaster's tgid, set at fork; 0 in the postmaster itself */
};

/*
 * redis-server's own functions (bpf/redis_uprobes.bpf.c, --redis-uprobes). call() is the one
 * function every command runs through; its outermost return (EXEC and scripts call it again
 * inside) gives the command's execution time. The record follows the thread's read of the
 * request in the ring buffer, so the agent pairs it with the command it parsed from that read.
 */
struct nx_redis_call_event {
	struct nx_event_hdr hdr; /* fd 0; pid is the thread that ran the command */
	__u64 exec_ns;		 /* call() entry to its return */
	__u32 hits, misses;	 /* keyspace lookups it made, counted as Redis counts them */
};

/* Keyspace hits and misses per redis-server process, as lookupKey() counts them (INFO stats). */
struct nx_redis_keyspace {
	__u64 hits;
	__u64 misses;
};

/* Shared-buffer figures per relation (the kernel's pg_relations map). */
struct nx_pg_rel_key {
	__u32 db_oid;
	__u32 rel_node; /* relfilenode: the relation's file, not its oid */
	__u32 server;	/* the postmaster's tgid: two clusters on a node share oids and filenodes */
};

struct nx_pg_rel_val {
	__u64 hits;
	__u64 reads;
};

/* Key and value of the kernel's fd_cache map, which the agent prunes when a process exits. */
struct nx_fd_key {
	__u32 tgid;
	__u32 fd;
};

struct nx_fd_info {
	__u64 sk; /* struct sock *, keys sock_owner */
	__u8 transport;
	__u8 pad[7];
};

/*
 * A direct-mapped front of fd_cache in the kernel's .bss: slot = hash(tgid, fd), one multiply, no
 * helper call. The agent clears the slots of an exited process's fds through the mmap too.
 */
#define NX_FAST_SLOTS (1U << 16)

struct nx_fast_slot {
	__u64 key; /* (tgid << 32) | fd; 0: empty (tgid 0 is never a target) */
	__u64 sk;
};

/*
 * When unread bytes reached each target socket, direct-mapped by the socket's address in the
 * kernel's .bss: sk_data_ready fires for every socket on the node, and one load and compare tells
 * ours from the rest. A slot belongs to the socket that last claimed it (learn or read).
 */
#define NX_ARRIVAL_SLOTS (1U << 16)

struct nx_arrival_slot {
	__u64 sk; /* struct sock *; 0: free */
	__u64 ns; /* first sk_data_ready since the owner's last read; 0: nothing waits */
};

static inline __u32 nx_arrival_index(__u64 sk)
{
	/* sock structs are cache-line aligned: the low bits carry nothing */
	return (__u32)(((sk >> 6) * 0x9E3779B97F4A7C15ULL) >> 48) & (NX_ARRIVAL_SLOTS - 1);
}

static inline __u64 nx_fast_key(__u32 tgid, __u32 fd)
{
	return (__u64)tgid << 32 | fd;
}

static inline __u32 nx_fast_index(__u64 key)
{
	return (__u32)((key * 0x9E3779B97F4A7C15ULL) >> 48) & (NX_FAST_SLOTS - 1);
}

#endif /* NEXUS_EVENTS_H */
