// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alert/alert_config.h"
#include "cli/opts.h"
#include "stats/redis_stats.h"

/* Executables that are targets unless --no-default-targets. */
static const char *const default_names[] = { "redis-server", "valkey-server", "postgres" };

enum {
	OPT_LISTEN = 'l',
	OPT_COMM = 'c',
	OPT_PID = 'p',
	OPT_JSON = 'j',
	OPT_VERBOSE = 'v',
	OPT_HELP = 'h',
	OPT_NO_DEFAULTS = 256,
	OPT_CAPTURE_BYTES,
	OPT_RING_MB,
	OPT_MAX_CONNS,
	OPT_DURATION,
	OPT_RAW,
	/* trace's filters (cli/trace_filter.h) */
	OPT_SERVER,
	OPT_KIND,
	OPT_COMMAND,
	OPT_QUERY,
	OPT_MIN_LATENCY,
	OPT_ERRORS,
	OPT_CLIENT,
	OPT_COUNT,
	OPT_KEY_DELIM,
	OPT_KEY_DEPTH,
	OPT_FULL_KEYS,
	OPT_ALERTS,
	OPT_ALERTMANAGER,
	OPT_WEBHOOK,
	OPT_NO_ALERTS,
	OPT_NO_USDT,
	OPT_PG_EXEC_TIME,
	OPT_REDIS_UPROBES,
	OPT_SLOW_MS,
	OPT_SLOW_LOG,
	OPT_OTLP_ENDPOINT,
	OPT_OTLP_INTERVAL,
	OPT_OTLP_GZIP,
	OPT_OTLP_HISTOGRAMS,
	OPT_OTLP_TIMEOUT,
	OPT_OTLP_QUEUE,
	OPT_OTLP_HEADER,
	OPT_POD_LOGS_DIR, /* issue 11: containers and pods */
	OPT_RUNBOOK_URL_BASE,
	OPT_PG_CATALOG,
};

/* reports (issue 14) */
enum {
	OPT_REPORT_INTERVAL = 1536,
	OPT_REPORT_DIR,
	OPT_REPORT_FORMAT,
};

/* top's options ('d' and 'n' are short options of top only) */
enum {
	OPT_TOP_DELAY = 'd',
	OPT_TOP_ITERATIONS = 'n',
	OPT_TOP_CONNECT = 512,
	OPT_TOP_BATCH,
};

static const struct {
	struct option opt;
	unsigned int cmds;
} options[] = {
	{ { "listen", required_argument, NULL, OPT_LISTEN }, NX_CMD_RUN },
	{ { "comm", required_argument, NULL, OPT_COMM }, NX_CMD_RUN | NX_CMD_TRACE | NX_CMD_CHECK },
	{ { "pid", required_argument, NULL, OPT_PID }, NX_CMD_RUN | NX_CMD_TRACE | NX_CMD_CHECK },
	{ { "no-default-targets", no_argument, NULL, OPT_NO_DEFAULTS },
	  NX_CMD_RUN | NX_CMD_TRACE | NX_CMD_CHECK },
	{ { "capture-bytes", required_argument, NULL, OPT_CAPTURE_BYTES }, NX_CMD_RUN | NX_CMD_TRACE },
	{ { "ring-mb", required_argument, NULL, OPT_RING_MB }, NX_CMD_RUN | NX_CMD_TRACE },
	{ { "max-conns", required_argument, NULL, OPT_MAX_CONNS }, NX_CMD_RUN | NX_CMD_TRACE },
	{ { "duration", required_argument, NULL, OPT_DURATION }, NX_CMD_RUN | NX_CMD_TRACE },
	{ { "key-delimiter", required_argument, NULL, OPT_KEY_DELIM }, NX_CMD_RUN | NX_CMD_TRACE },
	{ { "key-depth", required_argument, NULL, OPT_KEY_DEPTH }, NX_CMD_RUN | NX_CMD_TRACE },
	{ { "full-keys", no_argument, NULL, OPT_FULL_KEYS }, NX_CMD_RUN | NX_CMD_TRACE },
	{ { "no-usdt", no_argument, NULL, OPT_NO_USDT }, NX_CMD_RUN | NX_CMD_TRACE },
	{ { "pg-exec-time", no_argument, NULL, OPT_PG_EXEC_TIME }, NX_CMD_RUN | NX_CMD_TRACE },
	{ { "redis-uprobes", no_argument, NULL, OPT_REDIS_UPROBES }, NX_CMD_RUN | NX_CMD_TRACE },
	{ { "slow-command-ms", required_argument, NULL, OPT_SLOW_MS }, NX_CMD_RUN },
	{ { "slow-log-size", required_argument, NULL, OPT_SLOW_LOG }, NX_CMD_RUN },
	{ { "pod-logs-dir", required_argument, NULL, OPT_POD_LOGS_DIR },
	  NX_CMD_RUN | NX_CMD_TRACE | NX_CMD_CHECK },
	{ { "alerts", required_argument, NULL, OPT_ALERTS }, NX_CMD_RUN },
	{ { "alertmanager", required_argument, NULL, OPT_ALERTMANAGER }, NX_CMD_RUN },
	{ { "webhook", required_argument, NULL, OPT_WEBHOOK }, NX_CMD_RUN },
	{ { "no-alerts", no_argument, NULL, OPT_NO_ALERTS }, NX_CMD_RUN },
	{ { "otlp-endpoint", required_argument, NULL, OPT_OTLP_ENDPOINT }, NX_CMD_RUN },
	{ { "otlp-interval", required_argument, NULL, OPT_OTLP_INTERVAL }, NX_CMD_RUN },
	{ { "otlp-gzip", required_argument, NULL, OPT_OTLP_GZIP }, NX_CMD_RUN },
	{ { "otlp-histograms", required_argument, NULL, OPT_OTLP_HISTOGRAMS }, NX_CMD_RUN },
	{ { "otlp-timeout", required_argument, NULL, OPT_OTLP_TIMEOUT }, NX_CMD_RUN },
	{ { "otlp-queue", required_argument, NULL, OPT_OTLP_QUEUE }, NX_CMD_RUN },
	{ { "otlp-header", required_argument, NULL, OPT_OTLP_HEADER }, NX_CMD_RUN },
	{ { "runbook-url-base", required_argument, NULL, OPT_RUNBOOK_URL_BASE }, NX_CMD_RUN },
	{ { "pg-catalog", required_argument, NULL, OPT_PG_CATALOG }, NX_CMD_RUN },
	{ { "json", no_argument, NULL, OPT_JSON }, NX_CMD_TRACE },
	{ { "raw", no_argument, NULL, OPT_RAW }, NX_CMD_TRACE },
	/* trace's filters */
	{ { "server", required_argument, NULL, OPT_SERVER }, NX_CMD_TRACE },
	{ { "kind", required_argument, NULL, OPT_KIND }, NX_CMD_TRACE },
	{ { "command", required_argument, NULL, OPT_COMMAND }, NX_CMD_TRACE },
	{ { "query", required_argument, NULL, OPT_QUERY }, NX_CMD_TRACE },
	{ { "min-latency", required_argument, NULL, OPT_MIN_LATENCY }, NX_CMD_TRACE },
	{ { "errors", no_argument, NULL, OPT_ERRORS }, NX_CMD_TRACE },
	{ { "client", required_argument, NULL, OPT_CLIENT }, NX_CMD_TRACE },
	{ { "count", required_argument, NULL, OPT_COUNT }, NX_CMD_TRACE },
	{ { "verbose", no_argument, NULL, OPT_VERBOSE }, NX_CMD_RUN | NX_CMD_TRACE | NX_CMD_CHECK },
	{ { "help", no_argument, NULL, OPT_HELP }, NX_CMD_RUN | NX_CMD_TRACE | NX_CMD_CHECK },
	/* top (a name may appear twice here: each subcommand sees one row of it) */
	{ { "connect", required_argument, NULL, OPT_TOP_CONNECT }, NX_CMD_TOP },
	{ { "delay", required_argument, NULL, OPT_TOP_DELAY }, NX_CMD_TOP },
	{ { "batch", no_argument, NULL, OPT_TOP_BATCH }, NX_CMD_TOP },
	{ { "iterations", required_argument, NULL, OPT_TOP_ITERATIONS }, NX_CMD_TOP },
	/* top: targets of the agent it starts when none answers */
	{ { "comm", required_argument, NULL, OPT_COMM }, NX_CMD_TOP },
	{ { "pid", required_argument, NULL, OPT_PID }, NX_CMD_TOP },
	{ { "no-default-targets", no_argument, NULL, OPT_NO_DEFAULTS }, NX_CMD_TOP },
	{ { "verbose", no_argument, NULL, OPT_VERBOSE }, NX_CMD_TOP },
	{ { "help", no_argument, NULL, OPT_HELP }, NX_CMD_TOP },
	/* reports (issue 14) */
	{ { "report-interval", required_argument, NULL, OPT_REPORT_INTERVAL }, NX_CMD_RUN },
	{ { "report-dir", required_argument, NULL, OPT_REPORT_DIR }, NX_CMD_RUN },
	{ { "connect", required_argument, NULL, OPT_TOP_CONNECT }, NX_CMD_REPORT },
	{ { "format", required_argument, NULL, OPT_REPORT_FORMAT }, NX_CMD_REPORT },
	{ { "help", no_argument, NULL, OPT_HELP }, NX_CMD_REPORT },
};
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* --- record and replay (issue 12) ------------------------------------------------------------ */
enum { OPT_OUTPUT = 'o', OPT_SPEED = 1024, OPT_REDACT };

static const struct option record_options[] = {
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "speed", required_argument, NULL, OPT_SPEED },
	{ "redact", no_argument, NULL, OPT_REDACT },
};
#define N_RECORD_OPTIONS (sizeof(record_options) / sizeof(record_options[0]))

/* record takes the target and capture options of run and trace; replay what decodes, keeps
 * statistics and shows them. By name, so the table above stays as it is. */
static const char *const record_names[] = {
	"comm", "pid", "no-default-targets", "capture-bytes", "ring-mb", "max-conns", "duration",
	"no-usdt", "pg-exec-time", "redis-uprobes", "verbose", "help", "output", "pod-logs-dir", "redact", NULL
};
static const char *const replay_names[] = {
	"listen", "duration", "key-delimiter", "key-depth", "full-keys", "max-conns",
	"slow-command-ms", "slow-log-size", "alerts", "no-alerts", "json", "raw", "verbose",
	"help", "speed",
	/* trace's filters, on what replay prints */
	"server", "kind", "command", "query", "min-latency", "errors", "client", "count", NULL
};

static bool record_takes(unsigned int cmd, const char *name)
{
	const char *const *names = cmd == NX_CMD_RECORD ? record_names
				   : cmd == NX_CMD_REPLAY ? replay_names : NULL;

	for (; names && *names; names++)
		if (!strcmp(*names, name))
			return true;
	return false;
}

/* 1: not one of record's own options; 0 or -EINVAL: handled. */
static int record_option(struct nx_opts *o, int c, const char *arg)
{
	char *end;

	switch (c) {
	case OPT_OUTPUT:
		if (!*arg) {
			fprintf(stderr, "nexus-agent: invalid -o (want a file)\n");
			return -EINVAL;
		}
		o->output = arg;
		return 0;
	case OPT_SPEED:
		o->speed = strtod(arg, &end);
		if (end == arg || *end || !(o->speed > 0) || o->speed > 1e6) {
			fprintf(stderr, "nexus-agent: invalid --speed '%s' (want > 0)\n", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_REDACT:
		o->redact = true;
		return 0;
	case OPT_LISTEN:
		o->listen_given = true;
		return 1;
	}
	return 1;
}

/* What record and replay need besides their options; 0 or -EINVAL. */
static int record_check(struct nx_opts *o, int argc, char **argv)
{
	if (o->cmd == NX_CMD_REPLAY && optind == argc - 1)
		o->input = argv[optind++];
	if (o->cmd == NX_CMD_REPLAY && !o->input && optind == argc) {
		fprintf(stderr, "nexus-agent replay: which recording? (replay FILE)\n");
		return -EINVAL;
	}
	if (o->cmd == NX_CMD_RECORD && !o->output) {
		fprintf(stderr, "nexus-agent record: -o FILE is required\n");
		return -EINVAL;
	}
	return 0;
}

static void record_usage(FILE *f)
{
	fprintf(f,
		"\n"
		"Record and replay:\n"
		"  record -o FILE [--redact] [--duration S] [target and capture options]\n"
		"                          write every captured record to FILE (mode 0600: it holds\n"
		"                          raw bytes, values and SQL literals included)\n"
		"  --redact                (record) mask in place, lengths kept, so replay still decodes\n"
		"                          it: Redis values (arguments other than command, subcommand\n"
		"                          and keys; bulk replies; error text after its first word),\n"
		"                          AUTH/HELLO AUTH/CONFIG SET/MIGRATE AUTH arguments, PostgreSQL\n"
		"                          password and SASL messages. SQL text and keys stay\n"
		"  replay FILE [--listen HOST:PORT] [--json] [--raw] [--speed X] [--duration S]\n"
		"                          run FILE's records through the pipeline, no root needed:\n"
		"                          print them as trace does, or serve /metrics and the API\n"
		"  -o, --output FILE       (record) the recording\n"
		"  --speed X               (replay) X times the recorded pace (default: at once)\n");
}
/* --- end of record and replay ---------------------------------------------------------------- */

/* --- the HTTP endpoint's protection (issue 13), run and replay ------------------------------- */
enum {
	OPT_TLS_CERT = 1280,
	OPT_TLS_KEY,
	OPT_AUTH_TOKEN_FILE,
	OPT_HTTP_MAX_CONNS,
	OPT_HTTP_MAX_CONNS_PER_IP,
	OPT_HTTP_TIMEOUT,
	OPT_HTTP_MAX_HEADER_BYTES,
	OPT_CACERT,
};

#define NX_CMD_SERVE (NX_CMD_RUN | NX_CMD_REPLAY)
static const struct {
	struct option opt;
	unsigned int cmds;
} http_options[] = {
	{ { "tls-cert", required_argument, NULL, OPT_TLS_CERT }, NX_CMD_SERVE },
	{ { "tls-key", required_argument, NULL, OPT_TLS_KEY }, NX_CMD_SERVE },
	/* top, report: the token they send to the agent they read */
	{ { "auth-token-file", required_argument, NULL, OPT_AUTH_TOKEN_FILE },
	  NX_CMD_SERVE | NX_CMD_TOP | NX_CMD_REPORT },
	{ { "http-max-conns", required_argument, NULL, OPT_HTTP_MAX_CONNS }, NX_CMD_SERVE },
	{ { "http-max-conns-per-ip", required_argument, NULL, OPT_HTTP_MAX_CONNS_PER_IP },
	  NX_CMD_SERVE },
	{ { "http-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT }, NX_CMD_SERVE },
	{ { "http-max-header-bytes", required_argument, NULL, OPT_HTTP_MAX_HEADER_BYTES },
	  NX_CMD_SERVE },
	{ { "cacert", required_argument, NULL, OPT_CACERT }, NX_CMD_TOP | NX_CMD_REPORT },
};
#define N_HTTP_OPTIONS (sizeof(http_options) / sizeof(http_options[0]))

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
static int bad(const char *what, const char *arg);

/* 1: not one of these options; 0 or -EINVAL: handled. */
static int http_option(struct nx_opts *o, int c, const char *arg)
{
	struct http_config *h = &o->http;

	switch (c) {
	case OPT_CACERT:
		if (!*arg)
			return bad("--cacert (want a PEM file)", arg);
		o->top_cacert = arg;
		return 0;
	case OPT_TLS_CERT:
	case OPT_TLS_KEY:
	case OPT_AUTH_TOKEN_FILE:
		if (!*arg)
			return bad(c == OPT_TLS_CERT  ? "--tls-cert (want a PEM file)"
				   : c == OPT_TLS_KEY ? "--tls-key (want a PEM file)"
						      : "--auth-token-file (want a file)",
				   arg);
		*(c == OPT_TLS_CERT ? &h->tls_cert
		  : c == OPT_TLS_KEY ? &h->tls_key : &h->auth_token_file) = arg;
		return 0;
	case OPT_HTTP_MAX_CONNS:
		return parse_u32(arg, 1, 10000, &h->max_conns) ? bad("--http-max-conns (1..10000)", arg)
							      : 0;
	case OPT_HTTP_MAX_CONNS_PER_IP:
		return parse_u32(arg, 1, 10000, &h->max_conns_per_ip)
			       ? bad("--http-max-conns-per-ip (1..10000)", arg) : 0;
	case OPT_HTTP_TIMEOUT:
		return parse_u32(arg, 1, 3600, &h->timeout_s) ? bad("--http-timeout (1..3600 s)", arg)
							      : 0;
	case OPT_HTTP_MAX_HEADER_BYTES:
		return parse_u32(arg, 1024, 1 << 20, &h->max_header_bytes)
			       ? bad("--http-max-header-bytes (1024..1048576)", arg) : 0;
	}
	return 1;
}

static void http_usage(FILE *f)
{
	fprintf(f,
		"\n"
		"HTTP endpoint (run, and replay --listen); see \"Securing the endpoint\" in the README:\n"
		"  --tls-cert FILE         serve HTTPS only, with this PEM certificate (chain)...\n"
		"  --tls-key FILE          ... and this PEM private key (both are needed)\n"
		"  --auth-token-file FILE  require `Authorization: Bearer TOKEN` (TOKEN: the file's\n"
		"                          content) on every path but /healthz and /readyz; browsers\n"
		"                          may log in with Basic auth, any user, TOKEN as password.\n"
		"                          The file must not be readable by others (chmod 600)\n"
		"  --http-max-conns N      connections open at once, all clients (default %d)\n"
		"  --http-max-conns-per-ip N  ... from one address (default %d)\n"
		"  --http-timeout SECONDS  a request must arrive and its reply be read within this\n"
		"                          long of the connection (or its previous reply); idle and\n"
		"                          slow-drip connections are closed (default %d)\n"
		"  --http-max-header-bytes N  request line and headers, larger: 431 (default %d)\n"
		"top, reading an agent that asks for them:\n"
		"  --connect https://HOST:PORT  the agent serves TLS\n"
		"  --cacert FILE           (top) trust the agent's certificate (or its CA) from FILE\n"
		"  --auth-token-file FILE  (top) send `Authorization: Bearer` with FILE's token\n",
		HTTP_DEFAULT_MAX_CONNS, HTTP_DEFAULT_MAX_CONNS_PER_IP, HTTP_DEFAULT_TIMEOUT_S,
		HTTP_DEFAULT_MAX_HEADER_BYTES);
}
/* --- end of the HTTP endpoint's options ------------------------------------------------------ */

void opts__usage(FILE *f)
{
	fprintf(f,
		"Usage: nexus-agent COMMAND [OPTIONS]\n"
		"\n"
		"Watches the Redis and PostgreSQL servers of this node through eBPF.\n"
		"\n"
		"Commands:\n"
		"  run     capture and serve /metrics\n"
		"  trace   print each captured chunk as a line\n"
		"  check   say what this kernel offers and whether the agent can run here\n"
		"  top     the servers, their commands and clients on one screen, live\n"
		"  report  print the agent's latest health report and recommendations\n"
		"  record  write what the probes capture to a file (-o FILE)\n"
		"  replay  run a recording through the pipeline, no root needed\n"
		"  version print the version\n"
		"\n"
		"Options:\n"
		"  --listen HOST:PORT      (run) HTTP address for /metrics, default :9435\n"
		"                          (also /api/v1/..., /healthz: capture loop alive, /readyz:\n"
		"                          probes attached)\n"
		"  --comm NAME             also watch processes running executable NAME (repeatable)\n"
		"  --pid PID               also watch process PID and its children (repeatable)\n"
		"  --no-default-targets    do not watch redis-server, valkey-server and postgres by name\n"
		"  --capture-bytes N       payload bytes kept per read/write, 0..%u (default %u)\n"
		"  --ring-mb N             ring buffer size in MiB, a power of two (default 16)\n"
		"  --max-conns N           connections tracked at once (default 65536)\n"
		"  --duration SECONDS      stop after this long (default: at SIGINT/SIGTERM)\n"
		"  --key-delimiter C       Redis key prefixes end at this character (default ':')\n"
		"  --key-depth N           ... at its N-th occurrence, 1..8 (default 1)\n"
		"  --full-keys             export whole Redis keys, not prefixes (privacy: off)\n"
		"  --no-usdt               do not attach PostgreSQL's USDT probes (no buffer, lock\n"
		"                          and transaction figures; saves ~1 us per probe hit)\n"
		"  --pg-exec-time          also time statements inside PostgreSQL (USDT query__start/\n"
		"                          done, query__execute__start: three more probe hits per\n"
		"                          statement)\n"
		"  --redis-uprobes         uprobes on redis-server's call() and lookupKey(): execution\n"
		"                          time per command and exact keyspace hits/misses (costs a few\n"
		"                          hundred ns to ~2 us per command)\n"
		"  --slow-command-ms N     (run) Redis commands whose clients waited N ms or more (arrival\n"
		"                          to reply) go to /api/v1/cache/slow-commands; 0: none (default 10)\n"
		"  --slow-log-size N       (run) slow commands kept, 1..%u (default %u)\n"
		"  --pod-logs-dir DIR      the kubelet's pod log directory, whose <namespace>_<pod>_<uid>\n"
		"                          entries name the pods of servers (default /var/log/pods)\n"
		"  --alerts FILE           (run) alert rules and receivers, YAML; SIGHUP reloads it\n"
		"  --alertmanager URL      (run) send alerts to this Alertmanager (overrides FILE)\n"
		"  --webhook URL           (run) POST alerts as JSON to this URL (overrides FILE)\n"
		"  --no-alerts             (run) no alert rules, health score or notifications\n"
		"  --otlp-endpoint URL     (run) push metrics (POST URL/v1/metrics) and alerts and slow\n"
		"                          commands/statements as logs (URL/v1/logs) to an OpenTelemetry\n"
		"                          collector, OTLP/HTTP protobuf, e.g. http://127.0.0.1:4318\n"
		"  --otlp-interval SECONDS (run) metrics push period, 1..3600 (default 15)\n"
		"  --otlp-gzip on|off      (run) gzip request bodies (default on)\n"
		"  --otlp-histograms explicit|exponential\n"
		"                          (run) histogram kind (default explicit: the /metrics buckets)\n"
		"  --otlp-timeout SECONDS  (run) per request, 0.1..120 (default 10)\n"
		"  --otlp-queue N          (run) requests waiting at most, 1..1024 (default 32); the\n"
		"                          oldest is dropped and counted when full\n"
		"  --otlp-header NAME=VALUE (run, repeatable) a request header for the collector\n"
		"                          (e.g. authorization=Bearer...); OTEL_EXPORTER_OTLP_HEADERS\n"
		"                          (name=value,..., %%-encoded) is read too, and keeps a\n"
		"                          secret out of the process list\n"
		"  --runbook-url-base URL  (run) alerts' runbook_url is URL#rule_name (default the\n"
		"                          repository's docs/runbooks.md on GitHub; \"\": no links;\n"
		"                          overrides FILE's runbook_url_base)\n"
		"  --pg-catalog MODE       (run) name relations and indexes from each PostgreSQL\n"
		"                          server's catalog (read-only queries, README \"Index and\n"
		"                          table usage\"): 'peer' connects over the server's own Unix\n"
		"                          socket as the user owning the postmaster; anything else is a\n"
		"                          libpq connection string (a pg_monitor role is enough).\n"
		"                          Off by default\n"
		"  --json                  (trace) one JSON object per line\n"
		"  --raw                   (trace) raw captured chunks instead of decoded commands\n"
		"  -v, --verbose           libbpf's debug output\n"
		"\n"
		"top options:\n"
		"  --connect HOST:PORT     read this agent's API (default 127.0.0.1:9435; when none\n"
		"                          answers there, top starts `run` on a loopback port itself)\n"
		"  -d, --delay SECONDS     between refreshes, 0.1..3600 (default 1)\n"
		"  --batch                 print the tables as text at each refresh, no screen\n"
		"  -n, --iterations N      stop after N refreshes (default: never)\n"
		"  --comm, --pid, --no-default-targets  targets of the agent top starts itself\n"
		"\n"
		"Reports (see README \"Reports and recommendations\"):\n"
		"  --report-interval D     (run) a health report every D: 30s, 15m, 1h (default 15m);\n"
		"                          the last 96 are kept, GET /api/v1/report[?n=K]\n"
		"  --report-dir DIR        (run) also write each report to DIR/report-<time>.json\n"
		"                          (atomically; the newest 96 files are kept)\n"
		"  report [--connect HOST:PORT|https://HOST:PORT] [--format text|markdown|json]\n"
		"         [--cacert FILE] [--auth-token-file FILE]\n"
		"                          print the latest report of the agent at HOST:PORT\n"
		"                          (default 127.0.0.1:9435) and its recommendations; a\n"
		"                          secured agent's CA and token as for top\n",
		(unsigned)NX_MAX_CAPTURE, (unsigned)NX_DEFAULT_CAPTURE, (unsigned)RS_SLOW_LOG_MAX,
		(unsigned)RS_SLOW_LOG_DEFAULT);
	fputs(
		"\n"
		"Filters of trace: a decoded command or statement is printed when it passes every one\n"
		"given; other records (--raw, other traffic) pass only --kind, --server and --client:\n"
		"  --server ADDR           server address:port or Unix socket path, exactly; :PORT for\n"
		"                          that port on any address\n"
		"  --kind redis|postgres   one kind of server\n"
		"  --command SUBSTR        Redis commands containing SUBSTR, any case (leaves out\n"
		"                          PostgreSQL statements unless --query is given too)\n"
		"  --query SUBSTR          PostgreSQL statements whose normalised text contains SUBSTR,\n"
		"                          any case (leaves out Redis commands unless --command too)\n"
		"  --min-latency DURATION  latency the client felt (arrival to reply; from the server's\n"
		"                          read when the arrival is not known) at least DURATION: 10ms,\n"
		"                          1.5s, 250us, a plain number is ms\n"
		"  --errors                error replies and ErrorResponses only\n"
		"  --client SUBSTR         client address:port containing SUBSTR\n"
		"  --count N               stop after printing N events\n"
		"  (one server's processes only: --no-default-targets --pid PID, in the kernel)\n",
		f);
	record_usage(f);
	fputs("\n"
	      "Privileges: root, or these capabilities (README \"Privileges\"; `check` lists them):\n"
	      "  CAP_BPF, CAP_PERFMON    capture (required; CAP_SYS_ADMIN stands in for both)\n"
	      "  CAP_SYS_ADMIN           USDT probes and --redis-uprobes (uprobe perf events), and\n"
	      "                          mounting tracefs when it is not mounted\n"
	      "  CAP_SYS_PTRACE          /proc/PID/exe, cwd, root of servers run by other users\n"
	      "  CAP_DAC_READ_SEARCH     postgres' configuration files (max_connections)\n"
	      "A missing one is named at start with what it costs.\n",
	      f);
	http_usage(f);
}

int opts__parse_interval(const char *s, uint64_t *ns)
{
	char *end;
	double v = strtod(s, &end), mul = 1;

	if (end == s)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		mul = 1e-3;
	else if (!strcmp(end, "s") || !*end)
		mul = 1;
	else if (!strcmp(end, "m") || !strcmp(end, "min"))
		mul = 60;
	else if (!strcmp(end, "h"))
		mul = 3600;
	else
		return -EINVAL;
	v *= mul;
	if (!(v >= 1) || v > 7 * 86400)
		return -EINVAL;
	*ns = (uint64_t)(v * 1e9);
	return 0;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "nexus-agent: invalid %s '%s'\n", what, arg);
	return -EINVAL;
}

/* trace's filters: the values are checked here, what they mean is trace_filter.c's. */
static int set_trace_filter(struct trace_filter *f, int c, const char *arg)
{
	switch (c) {
	case OPT_SERVER:
		if (!*arg)
			return bad("--server (want address:port, :port or a socket path)", arg);
		f->server = arg;
		return 0;
	case OPT_KIND:
		if (trace_filter__parse_kind(arg, &f->kind))
			return bad("--kind (want redis or postgres)", arg);
		return 0;
	case OPT_COMMAND:
	case OPT_QUERY:
	case OPT_CLIENT:
		if (!*arg)
			return bad(c == OPT_COMMAND ? "--command"
				   : c == OPT_QUERY ? "--query" : "--client", arg);
		*(c == OPT_COMMAND ? &f->command : c == OPT_QUERY ? &f->query : &f->client) = arg;
		return 0;
	case OPT_MIN_LATENCY:
		if (trace_filter__parse_duration(arg, &f->min_latency_ns))
			return bad("--min-latency (want 10ms, 1.5s, 250us; a number: ms)", arg);
		f->latency_set = true;
		return 0;
	case OPT_ERRORS:
		f->errors = true;
		return 0;
	case OPT_COUNT:
		if (parse_u32(arg, 1, UINT32_MAX, &f->count))
			return bad("--count (want 1 or more)", arg);
		return 0;
	}
	return -EINVAL;
}

static int set_option(struct nx_opts *o, int c, const char *arg)
{
	uint32_t v;
	char *end;

	switch (c) {
	case OPT_LISTEN:
		if (!strchr(arg, ':'))
			return bad("--listen (want HOST:PORT or :PORT)", arg);
		o->listen = arg;
		return 0;
	case OPT_COMM:
		if (!*arg || strchr(arg, '/'))
			return bad("--comm (want an executable name)", arg);
		if (o->spec.n_names >= NX_MAX_EXEC_NAMES)
			return bad("--comm (too many names)", arg);
		o->spec.names[o->spec.n_names++] = arg;
		return 0;
	case OPT_PID:
		if (parse_u32(arg, 1, NX_PID_LIMIT - 1, &v))
			return bad("--pid", arg);
		if (o->spec.n_pids >= NX_MAX_TARGET_PIDS)
			return bad("--pid (too many)", arg);
		o->spec.pids[o->spec.n_pids++] = (pid_t)v;
		return 0;
	case OPT_CAPTURE_BYTES:
		return parse_u32(arg, 0, NX_MAX_CAPTURE, &o->capture_bytes) ? bad("--capture-bytes", arg)
									   : 0;
	case OPT_RING_MB:
		if (parse_u32(arg, 1, 1024, &v) || (v & (v - 1)))
			return bad("--ring-mb (want a power of two, 1..1024)", arg);
		o->ring_bytes = v << 20;
		return 0;
	case OPT_MAX_CONNS:
		return parse_u32(arg, 16, 1 << 22, &o->max_conns) ? bad("--max-conns", arg) : 0;
	case OPT_DURATION:
		o->duration = strtod(arg, &end);
		if (end == arg || *end || !(o->duration > 0) || o->duration > 1e7)
			return bad("--duration", arg);
		return 0;
	case OPT_KEY_DELIM:
		if (strlen(arg) != 1 || arg[0] < 0x21 || arg[0] > 0x7e)
			return bad("--key-delimiter (want one printable character)", arg);
		o->resp.delimiter = arg[0];
		return 0;
	case OPT_KEY_DEPTH:
		if (parse_u32(arg, 1, 8, &v))
			return bad("--key-depth (want 1..8)", arg);
		o->resp.depth = (uint8_t)v;
		return 0;
	case OPT_FULL_KEYS:
		o->resp.full_keys = true;
		return 0;
	case OPT_NO_USDT:
		o->no_usdt = true;
		return 0;
	case OPT_PG_EXEC_TIME:
		o->pg_exec_time = true;
		return 0;
	case OPT_REDIS_UPROBES:
		o->redis_uprobes = true;
		return 0;
	case OPT_SLOW_MS:
		return parse_u32(arg, 0, 3600 * 1000, &o->slow_ms) ? bad("--slow-command-ms", arg) : 0;
	case OPT_SLOW_LOG:
		return parse_u32(arg, 1, RS_SLOW_LOG_MAX, &o->slow_log) ? bad("--slow-log-size", arg) : 0;
	case OPT_POD_LOGS_DIR:
		if (arg[0] != '/')
			return bad("--pod-logs-dir (want an absolute path)", arg);
		o->pod_logs_dir = arg;
		return 0;
	case OPT_PG_CATALOG:
		if (!*arg)
			return bad("--pg-catalog (want 'peer' or a connection string)", arg);
		o->pg_catalog = arg;
		return 0;
	case OPT_ALERTS:
		if (!*arg)
			return bad("--alerts (want a file)", arg);
		o->alerts_file = arg;
		return 0;
	case OPT_ALERTMANAGER:
	case OPT_WEBHOOK:
		if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8))
			return bad(c == OPT_WEBHOOK ? "--webhook (want an http(s):// URL)"
						    : "--alertmanager (want an http(s):// URL)",
				   arg);
		*(c == OPT_WEBHOOK ? &o->webhook_url : &o->alertmanager_url) = arg;
		return 0;
	case OPT_NO_ALERTS:
		o->no_alerts = true;
		return 0;
	case OPT_OTLP_ENDPOINT:
		if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8))
			return bad("--otlp-endpoint (want an http(s):// URL)", arg);
		o->otlp_endpoint = arg;
		return 0;
	case OPT_OTLP_INTERVAL:
	case OPT_OTLP_TIMEOUT: {
		double v = strtod(arg, &end), lo = c == OPT_OTLP_INTERVAL ? 1 : 0.1;
		double hi = c == OPT_OTLP_INTERVAL ? 3600 : 120;

		if (end == arg || *end || !(v >= lo) || v > hi)
			return bad(c == OPT_OTLP_INTERVAL ? "--otlp-interval (want 1..3600 seconds)"
							  : "--otlp-timeout (want 0.1..120 seconds)",
				   arg);
		*(c == OPT_OTLP_INTERVAL ? &o->otlp_interval : &o->otlp_timeout) = v;
		return 0;
	}
	case OPT_OTLP_GZIP:
		if (strcmp(arg, "on") && strcmp(arg, "off"))
			return bad("--otlp-gzip (want on or off)", arg);
		o->otlp_no_gzip = !strcmp(arg, "off");
		return 0;
	case OPT_OTLP_HISTOGRAMS:
		if (strcmp(arg, "explicit") && strcmp(arg, "exponential"))
			return bad("--otlp-histograms (want explicit or exponential)", arg);
		o->otlp_exponential = !strcmp(arg, "exponential");
		return 0;
	case OPT_OTLP_QUEUE:
		return parse_u32(arg, 1, 1024, &o->otlp_queue) ? bad("--otlp-queue (want 1..1024)", arg)
							       : 0;
	case OPT_OTLP_HEADER: {
		struct otlp_headers h = {};
		char err[160];
		int rc = otlp_headers__add(&h, arg, 0, err, sizeof(err));

		otlp_headers__free(&h);
		/* the value may be a key: the message names the problem, never the argument */
		if (rc || o->n_otlp_header == OTLP_MAX_HEADERS) {
			fprintf(stderr, "nexus-agent: --otlp-header: %s\n",
				rc ? err : "too many (at most 16)");
			return -EINVAL;
		}
		o->otlp_header[o->n_otlp_header++] = arg;
		return 0;
	}
	case OPT_RUNBOOK_URL_BASE:
		/* "" turns the links off; otherwise a URL the engine can append #rule_name to */
		if (*arg && ((strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8)) ||
			     strlen(arg) >= ACFG_URL_LEN || strpbrk(arg, " \t\r\n#")))
			return bad("--runbook-url-base (want an http(s):// URL without '#' or spaces, "
				   "or \"\")",
				   arg);
		o->runbook_url_base = arg;
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_RAW:
		o->raw = true;
		return 0;
	case OPT_SERVER:
	case OPT_KIND:
	case OPT_COMMAND:
	case OPT_QUERY:
	case OPT_MIN_LATENCY:
	case OPT_ERRORS:
	case OPT_CLIENT:
	case OPT_COUNT:
		return set_trace_filter(&o->filter, c, arg);
	case OPT_VERBOSE:
		o->verbose = true;
		return 0;
	/* top */
	case OPT_TOP_CONNECT:
		if (!strchr(arg, ':') || arg[0] == ':')
			return bad("--connect (want HOST:PORT)", arg);
		o->top_connect = arg;
		return 0;
	case OPT_TOP_DELAY:
		o->top_delay = strtod(arg, &end);
		if (end == arg || *end || !(o->top_delay >= 0.1) || o->top_delay > 3600)
			return bad("-d (want seconds, 0.1..3600)", arg);
		return 0;
	case OPT_TOP_BATCH:
		o->top_batch = true;
		return 0;
	case OPT_TOP_ITERATIONS:
		return parse_u32(arg, 1, UINT32_MAX, &o->top_iterations) ? bad("-n", arg) : 0;
	/* reports */
	case OPT_REPORT_INTERVAL:
		if (opts__parse_interval(arg, &o->report_interval_ns))
			return bad("--report-interval (want 1s..7d: 30s, 15m, 1h; a number: s)",
				   arg);
		return 0;
	case OPT_REPORT_DIR:
		if (!*arg)
			return bad("--report-dir (want a directory)", arg);
		o->report_dir = arg;
		return 0;
	case OPT_REPORT_FORMAT:
		if (!strcmp(arg, "text"))
			o->report_format = NX_REPORT_TEXT;
		else if (!strcmp(arg, "markdown"))
			o->report_format = NX_REPORT_MARKDOWN;
		else if (!strcmp(arg, "json"))
			o->report_format = NX_REPORT_JSON;
		else
			return bad("--format (want text, markdown or json)", arg);
		return 0;
	}
	return -EINVAL;
}

int opts__parse(unsigned int cmd, int argc, char **argv, struct nx_opts *o)
{
	struct option longopts[N_OPTIONS + N_RECORD_OPTIONS + N_HTTP_OPTIONS + 1];
	const char *why;
	bool defaults = true;
	int n = 0, c, rc;
	const char *shortopts;

	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	o->listen = ":9435";
	o->capture_bytes = NX_DEFAULT_CAPTURE;
	o->ring_bytes = 16 << 20;
	o->max_conns = 65536;
	o->resp.delimiter = ':';
	o->resp.depth = 1;
	o->slow_ms = 10;
	o->slow_log = RS_SLOW_LOG_DEFAULT;
	o->otlp_interval = 15;
	o->otlp_timeout = 10;
	o->otlp_queue = 32;
	o->top_delay = 1; /* top */
	o->report_interval_ns = 15ULL * 60 * 1000000000;
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].cmds & cmd || record_takes(cmd, options[i].opt.name))
			longopts[n++] = options[i].opt;
	for (size_t i = 0; i < N_RECORD_OPTIONS; i++)
		if (record_takes(cmd, record_options[i].name))
			longopts[n++] = record_options[i];
	http_config__defaults(&o->http);
	for (size_t i = 0; i < N_HTTP_OPTIONS; i++)
		if (http_options[i].cmds & cmd)
			longopts[n++] = http_options[i].opt;
	memset(&longopts[n], 0, sizeof(longopts[n]));

	optind = 0; /* glibc: 0 also re-reads the ordering ("+": stop at FILE; replay permutes) */
	opterr = 0;
	/* top: -d, -n; record: -o; replay FILE [options]: its file may come first, so replay's
	 * arguments are permuted */
	shortopts = cmd == NX_CMD_TOP	   ? "+vd:n:"
		    : cmd == NX_CMD_RECORD ? "+vo:"
		    : cmd == NX_CMD_REPLAY ? "v"
					   : "+v";
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			fprintf(stderr, "nexus-agent %s: unknown or incomplete option '%s'\n", argv[0],
				argv[optind - 1]);
			goto usage;
		}
		if (c == OPT_HELP) {
			opts__usage(stdout);
			exit(0);
		}
		if (c == OPT_NO_DEFAULTS) {
			defaults = false;
			continue;
		}
		rc = record_option(o, c, optarg);
		if (rc < 0)
			goto usage;
		if (rc == 0)
			continue;
		rc = http_option(o, c, optarg);
		if (rc < 0)
			goto usage;
		if (rc == 0)
			continue;
		if (set_option(o, c, optarg))
			goto usage;
	}
	if (record_check(o, argc, argv))
		goto usage;
	if (optind < argc) {
		fprintf(stderr, "nexus-agent %s: unexpected argument '%s'\n", argv[0], argv[optind]);
		goto usage;
	}
	if (o->no_alerts && (o->alerts_file || o->alertmanager_url || o->webhook_url)) {
		fprintf(stderr,
			"nexus-agent: --no-alerts with --alerts, --alertmanager or --webhook\n");
		goto usage;
	}
	if (o->cmd == NX_CMD_REPLAY && !o->listen_given &&
	    (o->http.tls_cert || o->http.tls_key || o->http.auth_token_file)) {
		fprintf(stderr, "nexus-agent replay: --tls-cert, --tls-key and --auth-token-file "
				"need --listen\n");
		goto usage;
	}
	if (o->no_usdt && o->pg_exec_time) {
		fprintf(stderr, "nexus-agent: --pg-exec-time needs the USDT probes --no-usdt turns off\n");
		goto usage;
	}
	if (trace_filter__check(&o->filter, o->raw, &why)) {
		fprintf(stderr, "nexus-agent: %s\n", why);
		goto usage;
	}
	o->top_named = o->spec.n_names; /* top: before the defaults */
	o->top_no_defaults = !defaults;
	if (defaults) {
		for (size_t i = 0; i < sizeof(default_names) / sizeof(default_names[0]); i++) {
			if (o->spec.n_names >= NX_MAX_EXEC_NAMES) {
				fprintf(stderr, "nexus-agent: too many --comm names with the defaults\n");
				goto usage;
			}
			o->spec.names[o->spec.n_names++] = default_names[i];
		}
	}
	return 0;
usage:
	fputc('\n', stderr);
	opts__usage(stderr);
	return -EINVAL;
}
