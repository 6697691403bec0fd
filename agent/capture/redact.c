// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * record --redact's masking state machines (redact.h says what is masked). Every decision is
 * made on bytes already seen: a chunk is masked as it comes and never held back, so what the
 * recording writes is the chunk, same length, with some bytes replaced by REDACT_MASK.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "capture/redact.h"
#include "proto/resp.h"

#define LINE_MAX_LEN 24	      /* "$536870912" and the like: a longer header line is not RESP */
#define MAX_DEPTH 16	      /* nested aggregates followed (deeper: the direction is uncertain) */
#define NAME_LEN 32
#define REDIS_MAX_BULK (512ULL << 20)
#define PG_MAX_MSG (1U << 30)
#define PG_MAX_STARTUP 10000
#define PG_SSL_REQUEST 80877103u
#define PG_GSSENC_REQUEST 80877104u

enum state {
	S_START,   /* at the start of an element (Redis) or message (PostgreSQL) */
	S_LINE,	   /* in a Redis header line ("*3", "$5"), kept */
	S_SIMPLE,  /* in a Redis simple line (+OK, -ERR ..., :1) */
	S_INLINE,  /* in an inline Redis command */
	S_BODY,	   /* in a framed body: masked or kept */
	S_CRLF,	   /* the CRLF after a Redis bulk body */
	S_PGHDR,   /* in a PostgreSQL message header (5 bytes, or 8 of a startup message) */
	S_PASS,	   /* a direction nothing is masked in (PostgreSQL's replies) */
	S_DESYNC,  /* framing lost: everything masked */
};

struct dir {
	uint8_t state;
	bool req;		/* the requests' direction */
	/* syscall bookkeeping: gaps between chunks */
	bool in_syscall;
	uint64_t sys_id;
	uint32_t expect_off, sys_len;
	/* framing */
	char line[LINE_MAX_LEN];
	uint8_t line_len;
	uint64_t body_left;
	bool body_mask;
	uint8_t crlf_left;
	bool simple_mask;	/* S_SIMPLE: past an error's first word */
	bool err_line;
	/* Redis requests */
	int64_t args_left, argi;
	char name[NAME_LEN];
	uint8_t name_len;
	uint8_t inl;		/* S_INLINE: 0 before the first word, 1 in it, 2 after it */
	/* Redis replies */
	int depth;
	int64_t agg_left[MAX_DEPTH];
	bool first_pending, cand;
	/* PostgreSQL */
	uint8_t hdr[8];
	uint8_t hdr_len, hdr_need;
	bool started, startup, sslreq;
};

struct redact_conn {
	enum redact_proto proto;
	bool requests_in;
	struct redact_stats *st;
	struct dir d[2]; /* [1]: what the target read (NX_DIR_IN) */
};

struct redact_conn *redact_conn__new(enum redact_proto proto, bool requests_in,
				     struct redact_stats *st)
{
	struct redact_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->proto = proto;
	c->requests_in = requests_in;
	c->st = st;
	for (int i = 0; i < 2; i++) {
		struct dir *d = &c->d[i];

		d->req = (i == 1) == requests_in;
		if (proto == REDACT_ALL)
			d->state = S_DESYNC;
		else if (proto == REDACT_POSTGRES && !d->req)
			d->state = S_PASS;
	}
	return c;
}

void redact_conn__free(struct redact_conn *c)
{
	free(c);
}

static void desync(struct redact_conn *c, struct dir *d)
{
	if (d->state == S_DESYNC)
		return;
	d->state = S_DESYNC;
	if (c->st)
		c->st->desyncs++;
}

static void mask(struct redact_conn *c, uint8_t *p, size_t n)
{
	memset(p, REDACT_MASK, n);
	if (c->st)
		c->st->masked += n;
}

/* A Redis reply element completed: pop the aggregates it completes. */
static void element_done(struct dir *d)
{
	while (d->depth) {
		if (--d->agg_left[d->depth - 1] > 0)
			return;
		d->depth--;
	}
}

static bool parse_len(const struct dir *d, int64_t *v)
{
	const char *s = d->line + 1;
	int n = d->line_len - 1;
	bool neg = false;
	int64_t x = 0;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n > 0 && *s == '-') {
		neg = true;
		s++;
		n--;
	}
	if (n <= 0 || n > 18)
		return false;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (s[i] - '0');
	}
	*v = neg ? -x : x;
	return true;
}

static const char *const push_words[] = {
	"message", "pmessage", "smessage", "subscribe", "psubscribe", "ssubscribe",
	"unsubscribe", "punsubscribe", "sunsubscribe",
};

/* The reply parser reads a top-level array's first element to tell pushes from replies: kept
 * when it is one of those words and whole in this chunk (else masked: never a guess). */
static bool push_word(const uint8_t *p, size_t avail, int64_t len)
{
	if (len <= 0 || len > 12 || avail < (size_t)len)
		return false;
	for (size_t i = 0; i < sizeof(push_words) / sizeof(push_words[0]); i++)
		if (strlen(push_words[i]) == (size_t)len &&
		    !strncasecmp((const char *)p, push_words[i], (size_t)len))
			return true;
	return false;
}

static void body_end(struct dir *d, enum redact_proto proto)
{
	if (proto == REDACT_POSTGRES) {
		d->state = S_START;
		if (d->sslreq) /* SSLRequest answered 'N': a startup message follows */
			d->started = false;
		d->sslreq = false;
		return;
	}
	d->state = S_CRLF;
	d->crlf_left = 2;
}

/* A Redis bulk string and its CRLF are complete. */
static void bulk_done(struct dir *d)
{
	d->state = S_START;
	if (!d->req) {
		element_done(d);
	} else {
		d->argi++;
		d->args_left--;
	}
}

/* A Redis header line is complete (d->line, without its '\n'). p, avail: what follows it. */
static void redis_line(struct redact_conn *c, struct dir *d, const uint8_t *p, size_t avail)
{
	char type = d->line[0];
	int64_t v;

	if (!parse_len(d, &v))
		return desync(c, d);
	if (d->req) {
		if (type == '*') {
			if (v > (1 << 30))
				return desync(c, d);
			d->args_left = v > 0 ? v : 0;
			d->argi = 0;
			d->name_len = 0;
			d->state = S_START;
			return;
		}
		if (v < 0 || (uint64_t)v > REDIS_MAX_BULK)
			return desync(c, d);
		d->body_left = (uint64_t)v;
		d->body_mask = d->argi > 0 &&
			       !resp_arg_is_read(d->name, d->name_len, d->argi, (uint32_t)v);
		d->state = S_BODY;
		if (!d->body_left)
			body_end(d, c->proto);
		return;
	}
	if (type == '$' || type == '=' || type == '!') {
		if (v < 0) {
			d->state = S_START;
			element_done(d);
			return;
		}
		if ((uint64_t)v > REDIS_MAX_BULK)
			return desync(c, d);
		d->body_left = (uint64_t)v;
		d->body_mask = !(d->cand && push_word(p, avail, v));
		d->state = S_BODY;
		if (!d->body_left)
			body_end(d, c->proto);
		return;
	}
	/* an aggregate */
	if (v <= 0) {
		d->state = S_START;
		element_done(d);
		return;
	}
	if (d->depth >= MAX_DEPTH || v > (1 << 30))
		return desync(c, d);
	if (!d->depth && (type == '*' || type == '>'))
		d->first_pending = true;
	d->agg_left[d->depth++] = (type == '%' || type == '|') ? 2 * v : v;
	d->state = S_START;
}

static void redis_start(struct redact_conn *c, struct dir *d, uint8_t b)
{
	d->line_len = 0;
	if (d->req) {
		if (d->args_left == 0 && b != '*') {
			d->state = S_INLINE;
			d->inl = 0;
			return;
		}
		if ((d->args_left == 0) != (b == '*') || (b != '*' && b != '$'))
			return desync(c, d);
		d->state = S_LINE;
		return;
	}
	d->cand = d->depth == 1 && d->first_pending;
	if (d->depth == 1)
		d->first_pending = false;
	switch (b) {
	case '+': case ':': case ',': case '#': case '_': case '(': case '-':
		d->state = S_SIMPLE;
		d->simple_mask = false;
		d->err_line = b == '-';
		return;
	case '$': case '=': case '!': case '*': case '%': case '~': case '>': case '|':
		d->state = S_LINE;
		return;
	}
	desync(c, d);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Frontend message types of the protocol, version 3. */
static bool pg_client_type(uint8_t t)
{
	return t && strchr("BCdcfDEHFpPQSX", t);
}

static void pg_header(struct redact_conn *c, struct dir *d)
{
	uint32_t len;

	if (d->startup) {
		uint32_t code = be32(d->hdr + 4);

		len = be32(d->hdr);
		if (len < 8 || len > PG_MAX_STARTUP)
			return desync(c, d);
		d->sslreq = code == PG_SSL_REQUEST || code == PG_GSSENC_REQUEST;
		d->body_left = len - 8;
	} else {
		len = be32(d->hdr + 1);
		if (!pg_client_type(d->hdr[0]) || len < 4 || len > PG_MAX_MSG)
			return desync(c, d);
		d->body_left = len - 4;
	}
	d->body_mask = !d->startup && d->hdr[0] == 'p';
	d->state = S_BODY;
	if (!d->body_left)
		body_end(d, c->proto);
}

/* Runs the direction's machine over n bytes, masking in place. */
static void run(struct redact_conn *c, struct dir *d, uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = p[i];
		size_t k;

		switch (d->state) {
		case S_PASS:
			return;
		case S_DESYNC:
			mask(c, p + i, n - i);
			return;
		case S_START:
			if (c->proto == REDACT_POSTGRES) {
				if (!d->started) {
					d->started = true;
					d->startup = b == 0;
				} else {
					d->startup = false;
				}
				d->hdr_len = 0;
				d->hdr_need = d->startup ? 8 : 5;
				d->state = S_PGHDR;
				continue;
			}
			redis_start(c, d, b);
			if (d->state == S_LINE) {
				d->line[d->line_len++] = (char)b;
				i++;
			}
			continue;
		case S_LINE:
			if (b == '\n') {
				i++;
				redis_line(c, d, p + i, n - i);
				continue;
			}
			/* digits, a leading '-', then '\r': anything else is not a header line,
			 * and the byte is masked with the rest */
			if (d->line_len >= LINE_MAX_LEN || d->line[d->line_len - 1] == '\r' ||
			    !((b >= '0' && b <= '9') || b == '\r' || (b == '-' && d->line_len == 1))) {
				desync(c, d);
				continue;
			}
			d->line[d->line_len++] = (char)b;
			i++;
			continue;
		case S_SIMPLE:
			if (b == '\n') {
				d->state = S_START;
				element_done(d);
			} else if (d->simple_mask && b != '\r') {
				mask(c, p + i, 1);
			} else if (d->err_line && b == ' ') {
				d->simple_mask = true; /* the parser reads the first word */
			}
			i++;
			continue;
		case S_INLINE:
			if (b == '\n') {
				d->state = S_START;
			} else if (b == ' ' || b == '\t' || b == '\r') {
				if (d->inl == 1)
					d->inl = 2;
			} else if (d->inl == 2) {
				mask(c, p + i, 1);
			} else {
				d->inl = 1;
			}
			i++;
			continue;
		case S_BODY:
			k = n - i < d->body_left ? n - i : (size_t)d->body_left;
			if (d->req && c->proto == REDACT_REDIS && d->argi == 0)
				for (size_t j = 0; j < k && d->name_len < NAME_LEN - 1; j++)
					d->name[d->name_len++] = (char)p[i + j];
			if (d->body_mask)
				mask(c, p + i, k);
			d->body_left -= k;
			i += k;
			if (!d->body_left)
				body_end(d, c->proto);
			continue;
		case S_CRLF:
			if (b != (d->crlf_left == 2 ? '\r' : '\n')) {
				desync(c, d);
				continue;
			}
			i++;
			if (!--d->crlf_left)
				bulk_done(d);
			continue;
		case S_PGHDR:
			d->hdr[d->hdr_len++] = b;
			i++;
			if (d->hdr_len == d->hdr_need)
				pg_header(c, d);
			continue;
		}
	}
}

/* n bytes the syscall moved were not captured: only a framed body can absorb them. */
static void skip(struct redact_conn *c, struct dir *d, uint64_t n)
{
	if (!n || d->state == S_PASS || d->state == S_DESYNC)
		return;
	if (d->state == S_CRLF && n <= d->crlf_left) {
		d->crlf_left = (uint8_t)(d->crlf_left - n);
		if (!d->crlf_left)
			bulk_done(d);
		return;
	}
	if (d->state == S_BODY && c->proto == REDACT_REDIS && n > d->body_left &&
	    n - d->body_left <= 2 && !(d->req && d->argi == 0)) {
		/* the value and (part of) its CRLF */
		n -= d->body_left;
		d->state = S_CRLF;
		d->crlf_left = (uint8_t)(2 - n);
		if (!d->crlf_left)
			bulk_done(d);
		return;
	}
	if (d->state != S_BODY || d->body_left < n ||
	    (d->req && c->proto == REDACT_REDIS && d->argi == 0)) {
		desync(c, d);
		return;
	}
	d->body_left -= n;
	if (!d->body_left)
		body_end(d, c->proto);
}

void redact_conn__chunk(struct redact_conn *c, bool in, uint8_t *data, uint32_t off,
			uint32_t cap, uint32_t len, bool more, uint64_t sys_id)
{
	struct dir *d = &c->d[in ? 1 : 0];

	if (d->in_syscall && d->sys_id != sys_id) {
		/* the rest of the previous syscall never came */
		skip(c, d, d->sys_len > d->expect_off ? d->sys_len - d->expect_off : 0);
		d->in_syscall = false;
	}
	if (d->in_syscall) {
		if (off < d->expect_off)
			desync(c, d);
		else
			skip(c, d, off - d->expect_off);
	} else {
		skip(c, d, off);
	}
	run(c, d, data, cap);
	if (more) {
		d->in_syscall = true;
		d->sys_id = sys_id;
		d->expect_off = off + cap;
		d->sys_len = len;
	} else {
		d->in_syscall = false;
		if ((uint64_t)off + cap < len)
			skip(c, d, len - ((uint64_t)off + cap));
	}
}
