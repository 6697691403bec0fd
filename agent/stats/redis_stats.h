/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Redis figures per server: commands by name and status, latency histograms (since start and the
 * last 60 s), keyspace hits and misses (also per key prefix), connections. Written by the capture
 * thread only; readers get immutable snapshots (redis_stats__snapshot), so nothing here locks.
 *
 * Bounded: servers, command series and prefixes have caps; past them traffic goes to a series
 * labelled "(other)" and the overflow is counted.
 */
#ifndef NEXUS_REDIS_STATS_H
#define NEXUS_REDIS_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include "identity.h"
#include "proto/resp.h"
#include "stats/lat_series.h"

#define RS_MAX_SERVERS 64
#define RS_MAX_SERIES 512   /* (server, command) series in all; each holds ~56 KiB of histograms */
#define RS_MAX_PREFIXES 64  /* key prefixes per server, first come; the rest count as "(other)" */
#define RS_SERVER_LEN 128
#define RS_SLOW_LOG_MAX 4096 /* bound of --slow-log-size */
#define RS_SLOW_LOG_DEFAULT 128
/* A command that held the server's event loop this long is a stall (redis_stats__stall). */
#define RS_STALL_FLOOR_NS (10 * 1000000ULL)
#define RS_STALLS 16 /* the newest stalls kept per server */

/* One command that held a single-threaded server: every other client waited meanwhile. */
struct rs_stall {
	uint64_t t_end;		    /* CLOCK_MONOTONIC: its reply was written */
	uint64_t dur_ns;	    /* the server's time on it: read to reply */
	char command[RESP_CMD_LEN];
	char client[RS_SERVER_LEN]; /* who sent it ("" for a Unix socket) */
	uint32_t waiters;	    /* requests of others that arrived during it and waited for it */
};

struct rs_cmd_snap {
	char command[RESP_CMD_LEN];
	bool blocking; /* its latency is waiting: kept out of the duration histogram */
	struct lat_snap lat;
	struct lat_snap felt; /* arrival at the socket to reply (count 0: arrivals not known) */
	uint64_t slow; /* commands that went to the slow-command log */
	/* --redis-uprobes: time inside the server (call()), 0 counts without */
	uint64_t exec_count, exec_sum_ns;
	uint64_t exec_le[LS_N_LE]; /* cumulative at ls_le_seconds */
};

struct rs_prefix_snap {
	char prefix[RESP_PREFIX_LEN];
	uint64_t hits, misses;
};

struct rs_server_snap {
	char server[RS_SERVER_LEN]; /* address:port or socket path */
	uint32_t pid;		    /* the process last seen serving it */
	bool gone;		    /* pid has exited (the capture side looks when it publishes) */
	struct nx_identity ident;   /* its container and pod ("" on the host) */
	uint64_t hits, misses;	    /* keyspace, since start: from lookupKey() when exact_keyspace,
				     * else from the replies of the read commands */
	bool exact_keyspace;	    /* --redis-uprobes counted them as Redis's INFO stats does */
	uint64_t win_hits, win_misses, win_commands, win_errors; /* last window */
	double win_seconds;	    /* how much time the window covers (< 60 s after start) */
	uint64_t commands, errors;
	uint64_t conns, conns_opened;
	struct hist total;	    /* latency of all its non-blocking commands, since start */
	uint64_t reply_gap_ns;	    /* longest silence between replies lately (reply_gap.h) */
	struct lat_snap wait;	    /* requests' time unread in the socket (arrival to read) */
	struct hist felt_total;	    /* arrival to reply of its non-blocking commands, since start */
	uint64_t win_blocked_ns;    /* last window: time its stalls held the server */
	int n_stalls;		    /* newest first */
	struct rs_stall stalls[RS_STALLS];
	int n_cmds;
	struct rs_cmd_snap *cmds;
	int n_prefixes;
	struct rs_prefix_snap *prefixes; /* "(other)" last when used */
	/* Set by whoever takes the snapshot from /proc (run: capture/server_limits.c); 0 unknown. */
	uint32_t max_conns;   /* maxclients as its configuration says */
	uint64_t maxmemory;   /* bytes */
	uint64_t rss_bytes;   /* the process's resident memory */
};

/* A command slower than the threshold, as the slow-command log keeps it (no values, no keys). */
struct rs_slow_entry {
	int64_t unix_ms;	    /* when its reply was written, wall clock */
	char server[RS_SERVER_LEN];
	char client[RS_SERVER_LEN]; /* peer address:port, "" for a Unix socket */
	uint8_t db;
	char command[RESP_CMD_LEN];
	char prefix[RESP_PREFIX_LEN]; /* its first key's prefix, "" without a key */
	char status[RESP_ERR_LEN];    /* "ok" or the error's first word */
	uint64_t server_ns;	    /* read of the request to the write of its reply */
	uint64_t wait_ns;	    /* unread in the socket before that (wait_known) */
	bool wait_known;
	bool blocking;
};

struct redis_snapshot {
	int n_servers;
	struct rs_server_snap *servers;
	int n_slow;		    /* newest first */
	struct rs_slow_entry *slow;
	uint64_t dropped_servers, dropped_series; /* traffic folded into "(other)" past the caps */
	struct resp_stats parser;		  /* parse errors, resyncs, unpaired, pushes */
	/* --redis-uprobes: call() records, and those that found no command (set by the taker) */
	uint64_t exec_calls, exec_orphans, exec_unmatched, exec_dropped;
};

struct redis_stats;

struct redis_stats *redis_stats__new(void);
void redis_stats__free(struct redis_stats *s);

/* One command of a server (its label) run by process pid, at now_ns (CLOCK_MONOTONIC). */
void redis_stats__command(struct redis_stats *s, const char *server, uint32_t pid,
			  const struct resp_record *r, uint64_t now_ns);
/*
 * n successful commands just like r (same command, key prefix, request and reply times: a
 * pipeline's run answered by one write), at most one key each; r->hits and r->misses are their
 * sums. Equal to n calls of redis_stats__command, for a fraction of the cost.
 */
void redis_stats__commands_ok(struct redis_stats *s, const char *server, uint32_t pid,
			      const struct resp_record *r, uint32_t n, uint64_t now_ns);
/*
 * A command its clients waited for at least the slow-command threshold (the caller's to judge):
 * into the log of the last `size` such commands (redis_stats__slow_log_size, default
 * RS_SLOW_LOG_DEFAULT) and counted per command.
 */
void redis_stats__slow(struct redis_stats *s, const char *server, const char *client,
		       const struct resp_record *r);
/* A non-blocking command that held the server RS_STALL_FLOOR_NS or more (the caller judges):
 * remembered with its client; requests read after it that arrived during it count as its
 * waiters. */
void redis_stats__stall(struct redis_stats *s, const char *server, const char *client,
			const struct resp_record *r);
/* Resizes the slow-command log (1..RS_SLOW_LOG_MAX), dropping what it held. 0 or -errno. */
int redis_stats__slow_log_size(struct redis_stats *s, uint32_t size);
/* Records' times are another host's CLOCK_MONOTONIC (a replay): wall time = mono + this. */
void redis_stats__set_wall_offset(struct redis_stats *s, int64_t realtime_minus_mono_ns);
/* A client connection to the server opened (delta +1, counted as opened) or went (-1). */
void redis_stats__connection(struct redis_stats *s, const char *server, int delta);
/* --redis-uprobes: the command r of the server spent exec_ns inside call(). */
void redis_stats__exec(struct redis_stats *s, const char *server, const struct resp_record *r,
		       uint64_t exec_ns);
/* --redis-uprobes: keyspace hits and misses of process pid, as lookupKey() counted them. */
void redis_stats__keyspace(struct redis_stats *s, uint32_t pid, uint64_t hits, uint64_t misses);
/* The container and pod of the process serving a server (NULL: the host's), as of its newest
 * connection. The "(other)" server past the cap keeps none. */
void redis_stats__server_identity(struct redis_stats *s, const char *server,
				  const struct nx_identity *id);
/* The parser counters to report with the figures. */
struct resp_stats *redis_stats__parser(struct redis_stats *s);

/* A deep copy of the figures as of now_ns, NULL + errno on failure; free with ..._free. */
struct redis_snapshot *redis_stats__snapshot(struct redis_stats *s, uint64_t now_ns);
void redis_snapshot__free(struct redis_snapshot *snap);

#endif /* NEXUS_REDIS_STATS_H */
