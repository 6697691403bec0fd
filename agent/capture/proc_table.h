/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Bounded table of target processes (tgid -> what the agent knows of it). Entries live in a fixed
 * array and never move, so a process can own the head of its connection list (conn_table.h).
 */
#ifndef NEXUS_PROC_TABLE_H
#define NEXUS_PROC_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include "capture/conn_table.h"
#include "events.h"
#include "identity.h"

enum nx_server_kind {
	NX_KIND_OTHER = 0,
	NX_KIND_REDIS = 1,    /* redis-server, valkey-server */
	NX_KIND_POSTGRES = 2, /* postgres (postmaster and backends) */
};

struct nx_proc {
	uint32_t tgid;
	uint32_t ppid;
	uint8_t kind; /* enum nx_server_kind */
	char comm[NX_COMM_LEN];
	char exe[256]; /* the executable, as /proc/PID/root/... resolves it: inside a container too */
	uint64_t seen_ns;
	/* Its container and pod (NULL: a process of the host, or not looked up): shared by the
	 * processes of one container, owned by conntrack (looked up once per process met). */
	const struct nx_identity *ident;
	/* TCP ports listening in its network namespace: a connection on one of them was accepted.
	 * Read from /proc once per discovered process, inherited at fork, extended by accept. */
	uint16_t listen_ports[8];
	uint8_t n_listen;
	struct conn_list conns;
	int32_t hnext; /* table internals */
};

struct proc_table;

struct proc_table *proc_table__new(uint32_t capacity);
void proc_table__free(struct proc_table *t);
struct nx_proc *proc_table__lookup(struct proc_table *t, uint32_t tgid);
/* Returns the entry for tgid, creating it; NULL (and a counted drop) when the table is full. */
struct nx_proc *proc_table__get(struct proc_table *t, uint32_t tgid);
/* The caller first empties the process's connection list (conn_table__remove_list). */
void proc_table__remove(struct proc_table *t, struct nx_proc *p);
uint32_t proc_table__count(const struct proc_table *t);
uint64_t proc_table__drops(const struct proc_table *t);

enum nx_server_kind nx_kind_of_comm(const char *comm);

#endif /* NEXUS_PROC_TABLE_H */
