// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A PostgreSQL connection's start: the client's untyped packets (StartupMessage, SSLRequest,
 * GSSENCRequest, CancelRequest, direct TLS), the server's one-byte answer to an encryption
 * request, and the server's messages during authentication up to its first ReadyForQuery. Owns
 * who the connection is: user, database and application_name (from the StartupMessage, and
 * application_name from ParameterStatus); nothing else of the startup packet, no password and no
 * SASL message is ever copied.
 */
#include <string.h>
#include "proto/pgwire_int.h"

#define SSL_REQUEST 80877103
#define GSSENC_REQUEST 80877104
#define CANCEL_REQUEST 80877102
#define MAX_STARTUP_LEN 10000 /* the server refuses longer startup packets */
#define TLS_HANDSHAKE 0x16    /* first byte of a TLS record: direct SSL (PostgreSQL 17) */

/* Labels: printable ASCII, anything else '?'. */
static void copy_label(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; n < size - 1 && src[n]; n++)
		dst[n] = (src[n] >= 0x20 && src[n] < 0x7f) ? src[n] : '?';
	dst[n] = '\0';
}

static void encrypted(struct pg_conn *c)
{
	c->st->encrypted_conns++;
	c->phase = PH_ENCRYPTED;
}

/* Joined after the startup: nothing is known of this connection's statements. */
static void midstream(struct pg_conn *c)
{
	c->st->midstream++;
	c->phase = PH_READY;
	pg_frame__lose(c, false);
}

/* The startup packet's parameters: name, value, ..., an empty name. */
static void startup_body(struct pg_conn *c, const uint8_t *d, uint32_t n)
{
	struct framer *f = &c->cf;
	typeof(f->m.param) *p = &f->m.param;
	uint32_t i = 0;
	bool end;

	while (i < n) {
		if (f->step == 0) { /* a parameter name; an empty one ends the list */
			i += pg_frame__take_str(p->name, &p->name_len, sizeof(p->name), d + i,
						n - i, &end);
			if (!end)
				return;
			if (!p->name_len) {
				f->step = 2;
				return;
			}
			p->want = !strcmp(p->name, "user") || !strcmp(p->name, "database") ||
				  !strcmp(p->name, "application_name");
			p->value_len = 0;
			p->value[0] = '\0';
			f->step = 1;
		} else if (f->step == 1) { /* its value: kept for three names, unread for others */
			if (p->want)
				i += pg_frame__take_str(p->value, &p->value_len, sizeof(p->value),
							d + i, n - i, &end);
			else
				i += pg_frame__skip_str(d + i, n - i, &end);
			if (!end)
				return;
			if (p->want && !strcmp(p->name, "user"))
				copy_label(c->user, sizeof(c->user), p->value);
			else if (p->want && !strcmp(p->name, "database"))
				copy_label(c->database, sizeof(c->database), p->value);
			else if (p->want)
				copy_label(c->application, sizeof(c->application), p->value);
			p->name_len = 0;
			f->step = 0;
		} else {
			return;
		}
	}
}

static void startup_done(struct pg_conn *c)
{
	if (!c->database[0]) /* the server's default */
		memcpy(c->database, c->user, sizeof(c->database));
	pg_frame__reset(c, &c->cf);
	c->phase = PH_AUTH;
}

/* The client's first packets: no type byte, a length and a code. Returns the bytes consumed. */
static uint32_t startup_packet(struct pg_conn *c, const uint8_t *d, uint32_t n)
{
	struct framer *f = &c->cf;
	uint32_t i = 0, len, code;

	if (!n)
		return 0;
	if (f->state == FR_HDR) {
		if (!f->hdr_len) {
			if (d[0] == TLS_HANDSHAKE) {
				encrypted(c);
				return n;
			}
			if (d[0] != 0) { /* lengths are <= 10000: a typed message, we joined late */
				midstream(c);
				return 0;
			}
			f->ts = c->t_chunk;
		}
		i = 8u - f->hdr_len < n ? 8u - f->hdr_len : n;
		memcpy(f->hdr + f->hdr_len, d, i);
		f->hdr_len += i;
		if (f->hdr_len < 8)
			return i;
		len = pg_be32(f->hdr);
		code = pg_be32(f->hdr + 4);
		if (len < 8 || len > MAX_STARTUP_LEN) {
			c->st->parse_errors++;
			pg_frame__lose(c, true);
			return i;
		}
		if ((code == SSL_REQUEST || code == GSSENC_REQUEST) && len == 8) {
			pg_frame__reset(c, f);
			c->phase = PH_SSL_WAIT;
			return i;
		}
		if (code == CANCEL_REQUEST) { /* another connection's query; the key is not read */
			c->st->cancel_requests++;
			c->phase = PH_DONE;
			return n;
		}
		if (code >> 16 != 3) {
			c->st->unsupported++;
			c->phase = PH_DONE;
			return n;
		}
		c->st->startups++;
		f->state = FR_BODY;
		f->left = len - 8;
		f->step = 0;
		memset(&f->m, 0, sizeof(f->m));
		if (!f->left) {
			startup_done(c);
			return i;
		}
	}
	while (i < n && f->state == FR_BODY) {
		uint32_t k = f->left < n - i ? f->left : n - i;

		startup_body(c, d + i, k);
		f->left -= k;
		i += k;
		if (!f->left)
			startup_done(c);
	}
	return i;
}

uint32_t pg_startup__in(struct pg_conn *c, const uint8_t *d, uint32_t cap, uint32_t len,
			bool *go)
{
	struct framer *f = &c->cf;
	uint32_t used;

	*go = false;
	if (c->phase == PH_SSL_WAIT) {
		if (cap && d[0] == TLS_HANDSHAKE) {
			encrypted(c);
			return cap;
		}
		c->phase = PH_STARTUP; /* the server's answer was not seen; a new packet starts */
	}
	if (c->phase != PH_STARTUP) {
		*go = true;
		return 0;
	}
	used = startup_packet(c, d, cap);
	if (c->phase == PH_STARTUP) { /* a gap: inside the packet it is skipped, else lost */
		if (len > cap && !(f->state == FR_BODY && len - cap <= f->left)) {
			pg_frame__lose(c, true);
		} else if (len > cap) {
			f->left -= len - cap;
			if (!f->left)
				startup_done(c);
		}
		return used;
	}
	*go = c->phase == PH_AUTH || c->phase == PH_READY;
	return used;
}

bool pg_startup__out(struct pg_conn *c, const uint8_t *d, uint32_t cap)
{
	switch (c->phase) {
	case PH_STARTUP: /* the server speaks first only on a connection we joined late */
		midstream(c);
		return true;
	case PH_SSL_WAIT: /* its answer to SSLRequest or GSSENCRequest: one byte */
		if (!cap)
			return true;
		if (d[0] == 'S' || d[0] == 'G') {
			encrypted(c);
		} else if (d[0] == 'N') {
			c->phase = PH_STARTUP;
		} else {
			c->st->startup_errors++; /* a pre-9.x server's ErrorResponse, or garbage */
			c->phase = PH_DONE;
		}
		return true;
	}
	return false;
}

void pg_startup__param_status(struct pg_conn *c)
{
	if (c->sf.step == 2) /* application_name, all of it (SET application_name reports it) */
		copy_label(c->application, sizeof(c->application), c->sf.m.param.value);
}

/* Before ReadyForQuery: authentication (never kept), parameters, the cancel key (never kept). */
void pg_startup__auth_msg(struct pg_conn *c)
{
	switch (c->sf.type) {
	case 'S':
		pg_startup__param_status(c);
		break;
	case 'N':
		c->st->notices++;
		break;
	case 'E': /* authentication failed, no such database, too many connections... */
		c->st->startup_errors++;
		c->phase = PH_DONE;
		break;
	case 'Z':
		if (!pg_ready_status(c->sf.m.ready.status)) {
			pg_frame__mismatch(c);
			break;
		}
		c->phase = PH_READY;
		c->req_acc = c->resp_acc = 0;
		break;
	default: /* R, K, v */
		break;
	}
}

const char *pg_conn__user(const struct pg_conn *c)
{
	return c->user;
}

const char *pg_conn__database(const struct pg_conn *c)
{
	return c->database;
}

const char *pg_conn__application(const struct pg_conn *c)
{
	return c->application;
}

bool pg_conn__encrypted(const struct pg_conn *c)
{
	return c->phase == PH_ENCRYPTED;
}

/* --- identity from elsewhere ------------------------------------------------------------------ */

bool pg_conn__anonymous(const struct pg_conn *c)
{
	return c->phase == PH_READY && !c->user[0];
}

void pg_conn__identify(struct pg_conn *c, const char *user, const char *database)
{
	if (c->user[0])
		return;
	copy_label(c->user, sizeof(c->user), user);
	copy_label(c->database, sizeof(c->database), database);
}
