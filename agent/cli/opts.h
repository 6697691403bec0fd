/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command-line options of every subcommand, parsed in one place with one usage text. */
#ifndef NEXUS_OPTS_H
#define NEXUS_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "capture/targets.h"
#include "cli/trace_filter.h"
#include "export/http.h"
#include "export/otlp_headers.h"
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
	NX_CMD_REPORT = 1 << 14, /* issue 14: prints the agent's latest health report */
};

enum nx_report_format { NX_REPORT_TEXT, NX_REPORT_MARKDOWN, NX_REPORT_JSON };

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
	/* run: OpenTelemetry push (export/otlp.h) */
	const char *otlp_endpoint;    /* --otlp-endpoint URL (NULL: off) */
	double otlp_interval;	      /* --otlp-interval seconds (15) */
	bool otlp_no_gzip;	      /* --otlp-gzip off */
	bool otlp_exponential;	      /* --otlp-histograms exponential */
	double otlp_timeout;	      /* --otlp-timeout seconds (10) */
	uint32_t otlp_queue;	      /* --otlp-queue requests (32) */
	const char *otlp_header[OTLP_MAX_HEADERS]; /* --otlp-header NAME=VALUE, checked */
	int n_otlp_header;
	const char *runbook_url_base; /* run: overrides the file's runbook_url_base (NULL: not given) */
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
	const char *top_cacert;	  /* --cacert: the CA of an agent top reads over https:// */
	/* record and replay (issue 12) */
	const char *output;	  /* record: -o FILE */
	bool redact;		  /* record: --redact (capture/redact.h) */
	const char *input;	  /* replay: FILE */
	double speed;		  /* replay: --speed X of record time (0: as fast as it goes) */
	bool listen_given;	  /* replay: --listen serves /metrics instead of printing */
	const char *pod_logs_dir; /* run, trace: --pod-logs-dir (NULL: /var/log/pods) */
	struct http_config http;  /* run, replay: TLS, token, limits of the HTTP endpoint */
	/* reports (issue 14) */
	uint64_t report_interval_ns; /* run: --report-interval (default 15 min) */
	const char *report_dir;	     /* run: --report-dir: also write each report there */
	int report_format;	     /* report: --format (enum nx_report_format) */
};

/* 0 on success; on a bad option prints the usage to stderr and returns -EINVAL. */
int opts__parse(unsigned int cmd, int argc, char **argv, struct nx_opts *o);
void opts__usage(FILE *f);
/* A duration of 1 s..7 d: "30s", "15m", "1h", "500ms"; a plain number is seconds. 0 or -EINVAL. */
int opts__parse_interval(const char *s, uint64_t *ns);

#endif /* NEXUS_OPTS_H */
