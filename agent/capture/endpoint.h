/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* How a connection's ends are named: the server's and the peer's endpoint, as labels and text. */
#ifndef NEXUS_ENDPOINT_H
#define NEXUS_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "capture/conn_table.h"

#define NX_ENDPOINT_LEN 128

/* "127.0.0.1:6379", "[::1]:6379", or "" when unknown. */
void fmt_endpoint(char *out, size_t len, uint8_t transport, const uint8_t addr[16], uint16_t port);
/* The server's and the peer's endpoint of a connection, whichever side the target is on. A Unix
 * socket's server is its path and its peer "". */
void fmt_conn_ends(const struct nx_conn *c, char *server, char *peer, size_t len);

#endif /* NEXUS_ENDPOINT_H */
