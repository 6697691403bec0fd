/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* How trace shows a record: endpoints, payload previews, one text line or one JSON object. */
#ifndef NEXUS_TRACE_FMT_H
#define NEXUS_TRACE_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "capture/conntrack.h"

#define NX_ENDPOINT_LEN 128

/* "127.0.0.1:6379", "[::1]:6379", a Unix socket path, or "" when unknown. */
void fmt_endpoint(char *out, size_t len, uint8_t transport, const uint8_t addr[16], uint16_t port);
/* The server's and the peer's endpoint of a connection, whichever side the target is on. */
void fmt_conn_ends(const struct nx_conn *c, char *server, char *peer, size_t len);
/* Printable preview of bytes: \r \n \t \\ \" escaped, other non-printables as \xHH; at most
 * max_out-1 characters, cut on an escape boundary. Returns the length written. */
size_t fmt_preview(char *out, size_t max_out, const uint8_t *data, size_t n);
/* Wall-clock ISO 8601 UTC time with microseconds of a CLOCK_MONOTONIC timestamp. */
void fmt_time(char *out, size_t len, uint64_t mono_ns);

const char *fmt_event_name(uint32_t type);
const char *fmt_syscall_name(uint8_t sys);
const char *fmt_transport_name(uint8_t transport);
const char *fmt_role_name(uint8_t role);

void trace_fmt__text(FILE *f, const struct nx_record *r);
/* 0, or -ENOMEM. */
int trace_fmt__json(FILE *f, const struct nx_record *r);

#endif /* NEXUS_TRACE_FMT_H */
