/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* From an fd of the current task to its struct sock, and the sock's identity, by CO-RE reads. */
#ifndef NEXUS_SOCK_BPF_H
#define NEXUS_SOCK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "events.h"

/* Not in vmlinux.h: these are #defines in the kernel. */
#define NX_S_IFMT 00170000
#define NX_S_IFSOCK 0140000
#define NX_AF_UNIX 1
#define NX_AF_INET 2
#define NX_AF_INET6 10
#define NX_SOCK_STREAM 1
#define NX_IPPROTO_TCP 6

/*
 * task -> files -> fdt -> fd[fd] -> file; a socket's file has an S_IFSOCK inode and its
 * private_data is the struct socket. Returns NULL for anything that is not a socket.
 */
static __always_inline struct sock *nx_fd_to_sock(struct task_struct *task, __u32 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;
	struct socket *sock;
	umode_t mode;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_core_read(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & NX_S_IFMT) != NX_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

/*
 * Which of our transports a sock is: TCP over IPv4/IPv6 or a Unix stream socket; 0 for the rest
 * (UDP, netlink, Unix datagram...), which the kernel side ignores.
 * sk_type and sk_protocol are plain u16 fields since 5.6 (bitfields before, not handled here).
 */
static __always_inline __u8 nx_sock_transport(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 type = BPF_CORE_READ(sk, sk_type);

	if (type != NX_SOCK_STREAM)
		return 0;
	if (family == NX_AF_UNIX)
		return NX_TRANSPORT_UNIX;
	if (BPF_CORE_READ(sk, sk_protocol) != NX_IPPROTO_TCP)
		return 0;
	if (family == NX_AF_INET)
		return NX_TRANSPORT_TCP4;
	if (family == NX_AF_INET6)
		return NX_TRANSPORT_TCP6;
	return 0;
}

/* Copies the sun_path of a bound Unix address, if any; returns whether there was one. */
static __always_inline bool nx_unix_path(struct sock *sk, char *path)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct unix_address *addr = BPF_CORE_READ(u, addr);

	if (!addr)
		return false;
	bpf_probe_read_kernel_str(path, NX_UNIX_PATH_LEN, &addr->name[0].sun_path);
	if (path[0] == '\0') /* abstract namespace: keep a readable marker, as ss prints it */
		path[0] = '@';
	return true;
}

/* Fills the addressing part of a CONN event. */
static __always_inline void nx_fill_conn(struct nx_conn_event *ev, struct sock *sk, __u8 transport)
{
	ev->transport = transport;
	if (transport == NX_TRANSPORT_UNIX) {
		/*
		 * An accepted socket shares the listener's address, so a server sees its own socket
		 * path; a client's socket is usually unbound: its peer holds the server's path.
		 */
		if (nx_unix_path(sk, ev->path)) {
			ev->flags |= NX_CONN_F_PATH_LOCAL;
		} else {
			struct sock *peer = BPF_CORE_READ((struct unix_sock *)sk, peer);

			if (peer)
				nx_unix_path(peer, ev->path);
		}
		return;
	}
	ev->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	ev->old_state = ev->new_state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (transport == NX_TRANSPORT_TCP4) {
		bpf_core_read(ev->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(ev->raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(ev->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(ev->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

#endif /* NEXUS_SOCK_BPF_H */
