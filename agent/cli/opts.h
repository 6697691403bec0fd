/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command-line options of every subcommand, parsed in one place with one usage text. */
#ifndef NEXUS_OPTS_H
#define NEXUS_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "capture/targets.h"
#include "cli/trace_filter.h"
#include "proto/resp.h"

/* Which subcommand accepts an option. */
enum {
	NX_CMD_RUN = 1 << 0,
	NX_CMD_TRACE = 1 << 1,
	NX_CMD_CHECK = 1 << 2,
	NX_CMD_TOP = 1 << 3,
	/* record and replay (issue 12): their options are listed by name in opts.c */
	NX_CMD_RECORD = 1 << 10,
	NX_CMD_REPLAY = 1 << 11,
};

struct nx_opts {
	unsigned int cmd;	  /* NX_CMD_* */
	const char *listen;	  /* run: HOST:PORT of the HTTP server */
	struct target_spec spec;  /* default names (unless --no-default-targets) + --comm + --pid */
	uint32_t capture_bytes;
	uint32_t ring_bytes;
	uint32_t max_conns;
	double duration;	  /* seconds; 0: until SIGINT/SIGTERM */
	struct resp_opts resp;	  /* key prefixes: --key-delimiter, --key-depth, --full-keys */
	bool no_usdt;		  /* --no-usdt: PostgreSQL figures from the wire only */
	bool pg_exec_time;	  /* --pg-exec-time: USDT execution time per statement */
	bool redis_uprobes;	  /* --redis-uprobes: call() exec time, lookupKey() hits/misses */
	uint32_t slow_ms;	  /* run: --slow-command-ms (0: no slow-command log) */
	uint32_t slow_log;	  /* run: --slow-log-size */
	const char *alerts_file;      /* run: --alerts YAML (NULL: built-in rules) */
	const char *alertmanager_url; /* run: overrides the file's notify.alertmanager */
	const char *webhook_url;      /* run: overrides the file's notify.webhook */
	bool no_alerts;		      /* run: no alert engine at all */
	const char *pg_catalog;	      /* run: --pg-catalog "peer" or a libpq conninfo (NULL: off) */
	bool json;
	bool raw;
	struct trace_filter filter; /* trace: --server, --kind, --command... --count */
	bool verbose;
	/* top */
	const char *top_connect;  /* --connect HOST:PORT (NULL: 127.0.0.1:9435, else its own) */
	double top_delay;	  /* -d SECONDS between refreshes */
	bool top_batch;		  /* --batch: plain-text tables */
	uint32_t top_iterations;  /* -n N: stop after N refreshes (0: never) */
	int top_named;		  /* spec.names given by --comm (the defaults follow them) */
	bool top_no_defaults;	  /* --no-default-targets, passed on to the agent top starts */
	/* record and replay (issue 12) */
	const char *output;	  /* record: -o FILE */
	const char *input;	  /* replay: FILE */
	double speed;		  /* replay: --speed X of record time (0: as fast as it goes) */
	bool listen_given;	  /* replay: --listen serves /metrics instead of printing */
};

/* 0 on success; on a bad option prints the usage to stderr and returns -EINVAL. */
int opts__parse(unsigned int cmd, int argc, char **argv, struct nx_opts *o);
void opts__usage(FILE *f);

#endif /* NEXUS_OPTS_H */
