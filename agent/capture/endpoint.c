// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <stdio.h>
#include "capture/endpoint.h"

void fmt_endpoint(char *out, size_t len, uint8_t transport, const uint8_t addr[16], uint16_t port)
{
	char ip[INET6_ADDRSTRLEN];

	if (transport == NX_TRANSPORT_TCP4 && inet_ntop(AF_INET, addr, ip, sizeof(ip)))
		snprintf(out, len, "%s:%u", ip, port);
	else if (transport == NX_TRANSPORT_TCP6 && inet_ntop(AF_INET6, addr, ip, sizeof(ip)))
		snprintf(out, len, "[%s]:%u", ip, port);
	else
		snprintf(out, len, "%s", "");
}

void fmt_conn_ends(const struct nx_conn *c, char *server, char *peer, size_t len)
{
	if (c->transport == NX_TRANSPORT_UNIX) {
		/* Only the listening side has a path; Unix sockets have no peer address to show. */
		snprintf(server, len, "%s", c->path);
		snprintf(peer, len, "%s", "");
		return;
	}
	if (c->role == NX_ROLE_CLIENT) {
		fmt_endpoint(server, len, c->transport, c->raddr, c->rport);
		fmt_endpoint(peer, len, c->transport, c->laddr, c->lport);
	} else {
		fmt_endpoint(server, len, c->transport, c->laddr, c->lport);
		fmt_endpoint(peer, len, c->transport, c->raddr, c->rport);
	}
}
