/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Turns the kernel's records into state: which target processes exist, which connections each
 * has, and for every DATA record the connection and process it belongs to. Owns the process and
 * connection tables; the next stage (a protocol parser, or trace's printer) sees each record with
 * that context through a sink and never the tables themselves.
 */
#ifndef NEXUS_CONNTRACK_H
#define NEXUS_CONNTRACK_H

#include <stdbool.h>
#include <stdint.h>
#include "capture/conn_table.h"
#include "capture/proc_table.h"
#include "events.h"

struct capture;

/* What the sink sees of one record. conn and proc are NULL for records that have none. */
struct nx_record {
	const struct nx_event_hdr *hdr;
	const struct nx_data_event *data; /* DATA only */
	const struct nx_conn *conn;
	const struct nx_proc *proc;
	uint32_t exit_code; /* PROC_EXIT */
	uint8_t state;	    /* CONN_STATE: the new TCP state */
};

#define NX_TCP_STATE_CLOSE 7
#define NX_TCP_STATE_CLOSE_WAIT 8

struct conntrack_sink {
	void (*on_record)(void *ctx, const struct nx_record *r);
	/* A connection leaves the tables (closed, evicted, its process gone): free conn->proto. */
	void (*on_release)(void *ctx, struct nx_conn *c);
	void *ctx;
};

struct conntrack_stats {
	uint64_t records;	  /* every record read from the ring buffer */
	uint64_t chunks;	  /* DATA records */
	uint64_t bytes;		  /* payload bytes in them */
	uint64_t syscall_bytes;	  /* bytes the syscalls moved (>= bytes: capture is capped) */
	uint64_t conns_opened;
	uint64_t conns_closed;
	uint64_t orphan_chunks;	  /* DATA for a connection whose CONN_OPEN we never got */
	uint64_t conn_evictions;  /* connections pushed out of a full table */
	uint64_t proc_drops;	  /* processes the full process table could not hold */
	uint64_t bad_records;	  /* records of an unknown type or a wrong size */
	uint32_t conns;
	uint32_t procs;
};

struct conntrack_opts {
	uint32_t max_conns;
	uint32_t max_procs;
	/* Look up each process's container and pod (pod_identity.h) when it is met: run and trace.
	 * Off where pids are not this host's live processes (replay, tests). */
	bool identify;
	const char *pod_logs_dir; /* NULL: the default */
};

struct conntrack;

/* cap may be NULL (tests): then the kernel's fd cache is not pruned. NULL + errno on failure. */
struct conntrack *conntrack__new(const struct conntrack_opts *opts, struct capture *cap,
				 struct conntrack_sink sink);
void conntrack__free(struct conntrack *ct);

/* Applies one ring-buffer record; a capture_record_fn. */
void conntrack__record(void *ct, const void *rec, size_t size);
/* A process found by scanning /proc at start, before any of its records. */
struct nx_proc *conntrack__add_proc(struct conntrack *ct, uint32_t tgid, uint32_t ppid,
				    const char *comm, const char *exe);
void conntrack__stats(const struct conntrack *ct, struct conntrack_stats *out);

/*
 * Where conntrack learns what records do not say (a process met without a fork from a known
 * parent, its listening ports): this host's /proc unless set. record logs the answers as they
 * are given; replay gives them back from the recording (a recorded pid means nothing here).
 */
struct target_info;
struct conntrack_host {
	int (*describe)(void *ctx, uint32_t tgid, struct target_info *ti); /* 0 or -errno */
	int (*listen_ports)(void *ctx, uint32_t tgid, uint16_t *ports, int max); /* how many */
	/* Its container and pod (pod_identity__lookup): true when it runs in one. NULL with
	 * describe set: none looked up. */
	bool (*identify)(void *ctx, uint32_t tgid, struct nx_identity *id);
	void *ctx;
};
void conntrack__set_host(struct conntrack *ct, const struct conntrack_host *host);

#endif /* NEXUS_CONNTRACK_H */
