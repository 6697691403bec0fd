/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* How trace shows a record: endpoints, payload previews, one text line or one JSON object. */
#ifndef NEXUS_TRACE_FMT_H
#define NEXUS_TRACE_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "capture/conntrack.h"
#include "capture/endpoint.h"
#include "pipeline.h"

/* Printable preview of bytes: \r \n \t \\ \" escaped, other non-printables as \xHH; at most
 * max_out-1 characters, cut on an escape boundary. Returns the length written. */
size_t fmt_preview(char *out, size_t max_out, const uint8_t *data, size_t n);
/* Wall-clock ISO 8601 UTC time with microseconds of a CLOCK_MONOTONIC timestamp. */
void fmt_time(char *out, size_t len, uint64_t mono_ns);
/* Records' times are another host's CLOCK_MONOTONIC (a replay): wall time = mono + this. */
void trace_fmt__set_wall_offset(int64_t realtime_minus_mono_ns);

const char *fmt_event_name(uint32_t type);
const char *fmt_syscall_name(uint8_t sys);
const char *fmt_transport_name(uint8_t transport);
const char *fmt_role_name(uint8_t role);

void trace_fmt__text(FILE *f, const struct nx_record *r);
/* 0, or -ENOMEM. */
int trace_fmt__json(FILE *f, const struct nx_record *r);

/* A decoded Redis command: command, key prefixes, status, hit/miss, latency. */
void trace_fmt__redis_text(FILE *f, const struct redis_event *e);
int trace_fmt__redis_json(FILE *f, const struct redis_event *e);

/* A decoded PostgreSQL statement: fingerprint text (never literals), status, rows, latency. */
void trace_fmt__postgres_text(FILE *f, const struct postgres_event *e);
int trace_fmt__postgres_json(FILE *f, const struct postgres_event *e);

#endif /* NEXUS_TRACE_FMT_H */
