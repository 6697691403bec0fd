/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which events `trace` prints: its filter flags, parsed into one struct and matched by pure
 * functions over the events the pipeline hands trace (no capture, no I/O), so that the unit tests
 * can drive them with fixture tables.
 *
 * Decoded Redis commands and PostgreSQL statements pass every filter that is set. Other records
 * (raw chunks with --raw or of other servers, connection and process events) pass only the filters
 * that say where they come from (--kind, --server, --client); a filter on what a decoded event says
 * (--command, --query, --min-latency, --errors) lets none of them through.
 */
#ifndef NEXUS_TRACE_FILTER_H
#define NEXUS_TRACE_FILTER_H

#include <stdbool.h>
#include <stdint.h>

struct nx_record;
struct postgres_event;
struct redis_event;
struct resp_record;

enum trace_kind {
	TRACE_KIND_ANY = 0,
	TRACE_KIND_REDIS,    /* redis-server, valkey-server */
	TRACE_KIND_POSTGRES,
};

/* The longest --min-latency: one day. */
#define TRACE_MAX_LATENCY_NS (86400ULL * 1000000000ULL)

struct trace_filter {
	const char *server;   /* --server: the server label, exactly; ":PORT" any address on PORT */
	const char *client;   /* --client: part of the client's address:port, any case */
	const char *command;  /* --command: part of the Redis command, any case */
	const char *query;    /* --query: part of the PostgreSQL normalised text, any case */
	uint8_t kind;	      /* --kind: enum trace_kind */
	bool errors;	      /* --errors: Redis error replies, PostgreSQL ErrorResponses */
	bool latency_set;     /* --min-latency given (0 included: decoded events only) */
	uint64_t min_latency_ns; /* felt latency when the arrival is known, else the server's */
	uint32_t count;	      /* --count: stop after this many printed events; 0: no limit */
};

/* "10ms", "1.5s", "250us" (or "µs"), "800ns", a plain number of ms: 0..TRACE_MAX_LATENCY_NS.
 * 0, or -EINVAL. */
int trace_filter__parse_duration(const char *s, uint64_t *ns);
/* "redis" or "postgres" into enum trace_kind. 0, or -EINVAL. */
int trace_filter__parse_kind(const char *s, uint8_t *kind);
/* Flags that cannot match anything together (--kind postgres --command, --raw --errors...): 0,
 * or -EINVAL with *why saying which. raw: trace --raw (no decoded events at all). */
int trace_filter__check(const struct trace_filter *f, bool raw, const char **why);

/* A filter on what decoded events say is set: no raw record can pass. */
bool trace_filter__decoded_only(const struct trace_filter *f);

/* What the client felt: from the request's arrival at the socket to the reply when the arrival
 * is known, else from the server's read of it. */
uint64_t trace_filter__redis_latency_ns(const struct resp_record *r);
uint64_t trace_filter__postgres_latency_ns(const struct postgres_event *e);

bool trace_filter__match_redis(const struct trace_filter *f, const struct redis_event *e);
bool trace_filter__match_postgres(const struct trace_filter *f, const struct postgres_event *e);
/* Any other record trace prints (raw chunks, connection and process events). */
bool trace_filter__match_record(const struct trace_filter *f, const struct nx_record *r);

#endif /* NEXUS_TRACE_FILTER_H */
