// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * RESP request/reply pairing. Two incremental parsers per connection, one per direction, share a
 * queue of commands waiting for their reply. The reply parser frames any RESP2/RESP3 value with a
 * stack of remaining element counts, so replies larger than the capture are skipped by their bulk
 * lengths; a gap it cannot frame drops what is pending (counted) rather than risk a wrong pairing.
 *
 * Why one file of this size: the two parsers, the queue, the key ring and the fast paths for
 * whole commands and bulk replies share the connection's private state on the per-byte path,
 * where a call across files would stop the compiler from inlining. The command table (what each
 * command's keys and reply mean) stands alone in resp_commands.c: it is looked up once per
 * distinct command name, not per byte.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proto/resp.h"
#include "proto/resp_commands.h"
#include "util.h"

#define LINE_CAP 48	 /* header lines and the start of simple strings/errors */
#define ARG_CAP 64	 /* bytes kept of an argument we look at (command, key, subcommand) */
#define MAX_DEPTH 16	 /* nesting of aggregates in a reply */
#define LEFT_INLINE 2	 /* ...of which the parser holds this many levels itself */
#define INLINE_CAP 256	 /* bytes kept of an inline command line */
#define FIRST_CHILD_CAP 16 /* bytes kept of a reply array's first element (pub/sub kind) */
#define LAST_CAP 16	 /* command names shorter than this are looked up once per run of them */


/* A command sent and not yet answered. */
struct pending {
	char command[RESP_CMD_LEN];
	const struct cmd_info *info;
	bool blocking;
	uint8_t arg_db;	    /* SELECT n */
	uint8_t arg_proto;  /* HELLO n */
	uint16_t expect;    /* (un)subscribe confirmations still expected */
	bool named;	    /* (un)subscribe named its channels; else UNSUBSCRIBE runs to count 0 */
	uint8_t n_keys;
	uint32_t total_keys;
	uint32_t found;	    /* HM_PER_KEY/HM_FIELD: values seen in the reply so far */
	int8_t key_hit[RESP_MAX_KEYS];
	uint32_t hits, misses;
	uint8_t db;
	bool in_multi;
	/* More commands just like it folded into this entry when the queue was full: each still
	 * gets its own reply and record, with this entry's t_request (see RESP_MAX_PENDING). */
	uint32_t repeat;
	uint64_t t_arrival;
	uint64_t t_request;
	uint64_t bytes;
	/* Its n_keys key prefixes, from this position of the connection's key ring on. */
	uint64_t key_at;
};

typedef char key_prefix_t[RESP_PREFIX_LEN];

/* The request being parsed. */
enum rq_state { RQ_START, RQ_ARRAY_LINE, RQ_BULK_TYPE, RQ_BULK_LINE, RQ_BULK_DATA, RQ_BULK_CR,
		RQ_BULK_LF, RQ_INLINE };

/*
 * What the byte-wise path needs of a request it reads across chunks (or an inline one): allocated
 * when such a request begins and freed when it ends. A whole command in one chunk (the common
 * case) is read where it lies, its key prefixes written straight into the key ring, so an idle
 * connection holds none of this.
 */
struct rq_split {
	int64_t nargs, argi;
	int64_t bulk_left;
	uint32_t arg_len;
	uint32_t inl_len;
	uint8_t line_len;
	char line[LINE_CAP];
	char arg[ARG_CAP];
	key_prefix_t keys[RESP_MAX_KEYS]; /* cur's, until it is queued */
	char inl[INLINE_CAP];
};

struct req_parser {
	uint8_t state;
	bool keys_lost; /* the key ring could not take cur's key prefixes (counted in totals only) */
	struct rq_split *split; /* NULL unless the byte-wise path is inside a request */
	/* The request being read, NULL between requests. It is read straight into the queue's
	 * next free entry (queued by counting it in), or, the queue being full, into ovf, which
	 * q_push then queues, folds or drops as it would any command. */
	struct pending *cur;
	struct pending *ovf;
	/* The last command name as the client wrote it, and what it became: a pipeline repeats
	 * one command, whose name is then cleaned and looked up once. */
	uint8_t last_raw_len;
	char last_raw[LAST_CAP];
	char last_name[LAST_CAP];
	const struct cmd_info *last_info;
};

/* The reply being parsed: a stack of aggregates, and what the pairing needs of the value. */
enum rp_state { RP_TYPE, RP_LINE, RP_BULK, RP_BULK_CR, RP_BULK_LF };

/* What a reply array's first element says it is (RESP2 pub/sub messages are arrays). */
enum first_kind {
	FK_NONE = 0,
	FK_PUSH, /* message, pmessage, smessage */
	FK_SUB,	 /* (p|s)subscribe, (p|s)unsubscribe: a confirmation */
};

struct rep_parser {
	uint8_t state;
	uint8_t type; /* of the value being read */
	uint8_t depth;
	uint8_t line_len;
	/* the top-level value */
	uint8_t top_type;
	bool top_null, top_empty;
	bool queued;	 /* it is the simple string QUEUED */
	bool rejected; /* err is one Redis gives before running a command (processCommand) */
	uint8_t unknown; /* 1: "ERR unknown command", 2: "ERR unknown subcommand" */
	/* its direct children */
	uint8_t child_type;
	bool child_null, child_empty;
	uint8_t first_kind;	 /* enum first_kind of the first one */
	bool capture_bulk;	 /* keep the start of the bulk being read (first child / blob error) */
	uint8_t bulk_head_len;
	/* A header line the chunk cut, kept until its end comes (a whole one is read where it
	 * lies): allocated only then. */
	char *line;
	int64_t bulk_left;
	int64_t top_int;
	uint64_t bytes;
	int64_t child_idx;
	int64_t child_int;
	int64_t third_child_int; /* (un)subscribe confirmations: [kind, channel, count] */
	char err[RESP_ERR_LEN];
	char child_err[RESP_ERR_LEN];
	char bulk_head[RESP_ERR_LEN];
	/* Elements still to come at each open aggregate: the first LEFT_INLINE levels here, the
	 * deeper ones (rare: EXEC of arrays, XRANGE, nested RESP3) allocated while a reply needs
	 * them. */
	int64_t left[LEFT_INLINE];
	int64_t *left_deep;
};

static inline int64_t *left_at(struct rep_parser *rp, uint8_t depth)
{
	return depth < LEFT_INLINE ? &rp->left[depth] : &rp->left_deep[depth - LEFT_INLINE];
}

struct resp_conn {
	const struct resp_opts *opts;
	struct resp_stats *st;
	struct req_parser rq;
	struct rep_parser rp;
	struct pending *q; /* ring of commands waiting for replies */
	uint32_t q_cap, q_head, q_len;
	struct pending *mq; /* commands QUEUED inside MULTI, answered by EXEC */
	uint32_t mq_cap, mq_len;
	/* The key prefixes of waiting commands, oldest first: a ring addressed by ever-growing
	 * positions (slot = position % kr_cap, a mask: kr_cap and q_cap are powers of two).
	 * Commands are answered in order, so the keys of the oldest one still waiting (in mq,
	 * else in q) mark where the used part begins. */
	key_prefix_t *kr;
	uint32_t kr_cap;
	uint64_t kr_head, kr_tail;
	uint8_t db;
	bool multi;
	bool subscribed; /* RESP2 subscribed mode: arrays may be messages */
	bool lost;	 /* framing lost: ignore bytes until a request starts cleanly */
	bool in_lost;	 /* requests lost to a gap: ignore requests until one starts cleanly... */
	bool tail_lost;	 /* ...and the replies after the queue drains, which answer the lost ones */
	uint64_t t_chunk;
	uint64_t t_arrival; /* of the requests being read (resp_conn__set_arrival) */
	resp_emit_fn emit;
	void *ctx;
};

static uint64_t q_count(const struct resp_conn *c);

struct resp_conn *resp_conn__new(const struct resp_opts *opts, struct resp_stats *stats)
{
	struct resp_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->opts = opts;
	c->st = stats;
	return c;
}

void resp_conn__free(struct resp_conn *c)
{
	if (!c)
		return;
	c->st->unpaired += q_count(c) + c->mq_len;
	free(c->q);
	free(c->mq);
	free(c->kr);
	free(c->rq.split);
	free(c->rq.ovf);
	free(c->rp.line);
	free(c->rp.left_deep);
	free(c);
}


size_t resp_conn__footprint(const struct resp_conn *c)
{
	return sizeof(*c) + (size_t)c->q_cap * sizeof(*c->q) + (size_t)c->mq_cap * sizeof(*c->mq) +
	       (size_t)c->kr_cap * sizeof(*c->kr) + (c->rq.split ? sizeof(*c->rq.split) : 0) +
	       (c->rq.ovf ? sizeof(*c->rq.ovf) : 0) + (c->rp.line ? LINE_CAP : 0) +
	       (c->rp.left_deep ? (MAX_DEPTH - LEFT_INLINE) * sizeof(*c->rp.left_deep) : 0);
}

void resp_key_prefix(const struct resp_opts *o, const char *key, size_t len, char *out,
		     size_t outlen)
{
	size_t n = 0, cut = 0;
	unsigned int seen = 0;

	if (!outlen)
		return;
	if (o->full_keys) {
		cut = len;
	} else if (o->depth == 1) { /* the default: the first delimiter, found by memchr */
		const char *d = memchr(key, o->delimiter, len);

		cut = d ? (size_t)(d - key) : 0;
	} else {
		for (n = 0; n < len; n++) {
			if (key[n] == o->delimiter && ++seen == o->depth) {
				cut = n;
				break;
			}
		}
		/* Fewer delimiters than the depth: the key has no prefix to show. */
		if (seen < o->depth)
			cut = 0;
	}
	if (cut == 0) {
		nx_strlcpy(out, outlen, RESP_NO_PREFIX);
		return;
	}
	if (cut >= outlen)
		cut = outlen - 1;
	/* Labels are text: anything that is not printable ASCII becomes '?'. A leading '(' too:
	 * labels in parentheses, "(none)" and "(other)", are ours and must not collide. */
	for (n = 0; n < cut; n++)
		out[n] = (key[n] >= 0x20 && key[n] < 0x7f && !(n == 0 && key[n] == '(')) ? key[n] : '?';
	out[cut] = '\0';
}

/* --- the queue of pending commands ------------------------------------------------------------ */

/* Commands waiting, folded ones included. */
static uint64_t q_count(const struct resp_conn *c)
{
	uint64_t n = c->q_len;

	for (uint32_t i = 0; i < c->q_len; i++)
		n += c->q[(c->q_head + i) & (c->q_cap - 1)].repeat;
	return n;
}

static struct pending *q_front(struct resp_conn *c)
{
	return c->q_len ? &c->q[c->q_head] : NULL;
}

static const char *key_of(const struct resp_conn *c, const struct pending *p, uint32_t i)
{
	return c->kr[(p->key_at + i) & (c->kr_cap - 1)];
}

/* Frees the key slots of commands no longer waiting: everything before the oldest that is. */
static void kr_trim(struct resp_conn *c)
{
	uint64_t keep = c->mq_len ? c->mq[0].key_at : c->q_len ? c->q[c->q_head].key_at : c->kr_tail;

	if (keep > c->kr_head)
		c->kr_head = keep;
}

/*
 * Room for n more keys; false when the ring is at its bound (the keys are then not kept). The
 * slots past the tail move too: the request being read may have written its prefixes there.
 */
static bool kr_reserve(struct resp_conn *c, uint32_t n)
{
	uint32_t ncap = c->kr_cap ? c->kr_cap : 1;
	key_prefix_t *nk;

	if (c->kr_tail + n - c->kr_head <= c->kr_cap)
		return true;
	while (c->kr_tail + n - c->kr_head > ncap)
		ncap *= 2;
	if (ncap > 2 * RESP_MAX_PENDING || !(nk = malloc((size_t)ncap * sizeof(*nk))))
		return false;
	/* Positions stay what they were; only their slots move (none while kr_cap is 0). */
	for (uint64_t pos = c->kr_head; c->kr_cap && pos < c->kr_tail + n - 1; pos++)
		memcpy(nk[pos & (ncap - 1)], c->kr[pos & (c->kr_cap - 1)], sizeof(*nk));
	free(c->kr);
	c->kr = nk;
	c->kr_cap = ncap;
	return true;
}

static inline void q_pop(struct resp_conn *c)
{
	c->q_head = (c->q_head + 1) & (c->q_cap - 1);
	c->q_len--;
	kr_trim(c);
}

/*
 * A full queue (RESP_MAX_PENDING) still takes a command just like the newest one waiting: it is
 * folded into that entry, so a pipeline of any length of the same command stays counted exactly.
 */
static bool q_fold(struct resp_conn *c, const struct pending *p, const char *key0)
{
	struct pending *t = &c->q[(c->q_head + c->q_len - 1) & (c->q_cap - 1)];

	if (t->info != p->info || t->info->kind != K_NORMAL || strcmp(t->command, p->command) ||
	    t->db != p->db || t->blocking != p->blocking || t->n_keys != p->n_keys ||
	    t->total_keys != p->total_keys || p->n_keys > 1 ||
	    (p->n_keys && (!key0 || strcmp(key_of(c, t, 0), key0))))
		return false;
	t->repeat++;
	c->st->folded++;
	return true;
}

/* A full queue doubles, up to RESP_MAX_PENDING; false when it cannot. */
static bool q_grow(struct resp_conn *c)
{
	uint32_t ncap = c->q_cap ? c->q_cap * 2 : 1;
	struct pending *nq;

	if (c->q_cap >= RESP_MAX_PENDING || !(nq = malloc(ncap * sizeof(*nq))))
		return false;
	/* the entry past the last one too: the request being read may be there */
	for (uint32_t i = 0; c->q_cap && i <= c->q_len && i < c->q_cap; i++)
		nq[i] = c->q[(c->q_head + i) & (c->q_cap - 1)];
	free(c->q);
	c->q = nq;
	c->q_cap = ncap;
	c->q_head = 0;
	return true;
}

/*
 * Queues p: read straight into the queue's next entry (then there is nothing to copy), or into
 * rq.ovf when the queue was full. Its key prefixes are in keys (read across chunks) or, keys NULL,
 * already in the ring past its tail; keys_lost: out of memory for them.
 */
static void q_push(struct resp_conn *c, const struct pending *p, const key_prefix_t *keys,
		   bool keys_lost)
{
	struct pending *e = NULL;

	if (c->q_len == c->q_cap && !q_grow(c)) {
		if (c->q_cap >= RESP_MAX_PENDING) {
			const char *key0 = keys ? keys[0] : NULL;

			if (!keys && p->n_keys && !keys_lost) /* (its prefix is past the ring's tail) */
				key0 = c->kr[c->kr_tail & (c->kr_cap - 1)];

			if (!q_fold(c, p, key0))
				c->st->unpaired++; /* deeper than we follow, and unlike the last: dropped */
			return;
		}
		c->st->unpaired++;
		return;
	}
	e = &c->q[(c->q_head + c->q_len) & (c->q_cap - 1)];
	if (e != p)
		*e = *p;
	if (keys_lost || (keys && !kr_reserve(c, p->n_keys)))
		e->n_keys = 0; /* counted in the totals, not by prefix */
	e->key_at = c->kr_tail;
	for (uint32_t i = 0; keys && i < e->n_keys; i++)
		memcpy(c->kr[(c->kr_tail + i) & (c->kr_cap - 1)], keys[i], sizeof(keys[i]));
	c->kr_tail += e->n_keys;
	c->q_len++;
}

static void mq_push(struct resp_conn *c, const struct pending *p)
{
	if (c->mq_len == c->mq_cap) {
		uint32_t ncap = c->mq_cap ? c->mq_cap * 2 : 4;
		struct pending *n;

		if (c->mq_cap >= RESP_MAX_PENDING || !(n = realloc(c->mq, ncap * sizeof(*n)))) {
			c->st->unpaired++;
			return;
		}
		c->mq = n;
		c->mq_cap = ncap;
	}
	c->mq[c->mq_len] = *p;
	c->mq[c->mq_len].in_multi = true;
	c->mq_len++;
}

/* EXEC, DISCARD or RESET ended the transaction: what it queued waits no more. */
static void mq_clear(struct resp_conn *c)
{
	c->mq_len = 0;
	free(c->mq); /* transactions are rare on most connections: nothing kept for the next */
	c->mq = NULL;
	c->mq_cap = 0;
	kr_trim(c);
}

/*
 * Nothing waits: give back what a deep pipeline made the queues grow to, and what a connection
 * that sends one command at a time (a queue of one) holds: most connections are idle most of the
 * time, and 10,000 of them should hold next to nothing. One allocation of each per command is
 * the price there; a pipelining connection keeps its queue.
 */
static void q_shrink(struct resp_conn *c)
{
	if (c->q_len || c->mq_len || (c->q_cap <= 1024 && c->q_cap != 1) || c->rq.cur)
		return;
	free(c->q);
	free(c->kr);
	c->q = NULL;
	c->kr = NULL;
	c->q_cap = c->kr_cap = 0;
	c->q_head = 0;
	c->kr_head = c->kr_tail = 0;
}

static void rq_reset(struct req_parser *rq);
static void rp_reset(struct rep_parser *rp);

/* Framing is gone: whatever waits for a reply can no longer be paired safely. */
static void lose(struct resp_conn *c)
{
	c->st->resyncs++;
	c->st->unpaired += q_count(c) + c->mq_len;
	c->q_len = c->mq_len = 0;
	c->q_head = 0;
	kr_trim(c);
	c->multi = false;
	rq_reset(&c->rq);
	rp_reset(&c->rp);
	c->in_lost = c->tail_lost = false;
	c->lost = true;
}

/* --- emitting records -------------------------------------------------------------------------- */

static void emit(struct resp_conn *c, struct pending *p, bool error, const char *err,
		 uint64_t reply_bytes)
{
	struct resp_record r;

	/* Field by field: the record is large and most of it (keys) is unused per command. Names
	 * and prefixes are copied whole, a fixed size (cheaper than measuring them): each holds
	 * its NUL. */
	memcpy(r.command, p->command, sizeof(r.command));
	if (error && c->rp.unknown == 1) {
		memset(r.command, 0, sizeof(r.command));
		memcpy(r.command, RESP_UNKNOWN, sizeof(RESP_UNKNOWN));
	} else if (error && c->rp.unknown == 2) {
		char *sp = strchr(r.command, ' ');

		if (sp && (size_t)(sp - r.command) + 1 + sizeof(RESP_UNKNOWN) <= sizeof(r.command))
			memcpy(sp + 1, RESP_UNKNOWN, sizeof(RESP_UNKNOWN));
		else if (sp)
			*sp = '\0';
		if (sp) {
			size_t l = strlen(r.command);

			memset(r.command + l, 0, sizeof(r.command) - l); /* padded, as promised */
		}
	}
	r.status = error ? RESP_ERROR : RESP_OK;
	if (error)
		nx_strlcpy(r.error, sizeof(r.error), err[0] ? err : "ERR");
	else
		r.error[0] = '\0';
	r.db = p->db;
	r.blocking = p->blocking;
	r.in_multi = p->in_multi;
	r.counts_keyspace = p->info->hitmode != HM_NONE && (p->hits || p->misses);
	r.rejected = error && c->rp.rejected && !p->in_multi;
	r.n_keys = p->n_keys;
	for (int i = 0; i < p->n_keys; i++) {
		memcpy(r.keys[i].prefix, key_of(c, p, i), sizeof(r.keys[i].prefix));
		r.keys[i].hit = p->key_hit[i];
	}
	r.hits = p->hits;
	r.misses = p->misses;
	r.t_arrival = p->t_arrival;
	r.t_request = p->t_request;
	r.t_reply = c->t_chunk;
	r.request_bytes = p->bytes;
	r.reply_bytes = reply_bytes;
	c->st->commands++;
	if (c->emit)
		c->emit(c->ctx, &r);
}

static void mark_key(struct pending *p, uint32_t i, bool hit)
{
	if (hit)
		p->hits++;
	else
		p->misses++;
	if (i < p->n_keys)
		p->key_hit[i] = hit;
}

/* Hits and misses from the top-level reply of a command that reads keys. */
static inline void judge_reply(struct pending *p, uint8_t type, bool null, bool empty, int64_t ival,
			const char *err)
{
	bool wrongtype = type == '-' && !strcmp(err, "WRONGTYPE");

	switch (p->info->hitmode) {
	case HM_VALUE:
		if (null)
			mark_key(p, 0, false);
		else if ((type != '-' && type != '!') || wrongtype)
			mark_key(p, 0, true); /* WRONGTYPE: the key exists (Redis counted a hit) */
		break;
	case HM_COUNT:
		if (type == ':' && ival >= 0 && ival <= p->total_keys) {
			p->hits += ival;
			p->misses += p->total_keys - ival;
			if (p->total_keys == 1)
				p->key_hit[0] = ival == 1;
		}
		break;
	case HM_EMPTY_AGG:
		if (wrongtype || (type != '-' && type != '!'))
			mark_key(p, 0, !empty && !null);
		break;
	case HM_FIELD:
		if (wrongtype || (type != '-' && type != '!'))
			mark_key(p, 0, p->found > 0 || (!null && type != '*' && type != '~'));
		break;
	default:
		break;
	}
}

/* --- replies ----------------------------------------------------------------------------------- */

static bool is_word(const char *s, const char *w)
{
	return !strcasecmp(s, w);
}

/*
 * The kind of a first element of len bytes (up to a NUL), as the first FIRST_CHILD_CAP - 1 of
 * them tell it: a longer one is none of these words.
 */
static uint8_t first_kind(const char *t, size_t len)
{
	char s[FIRST_CHILD_CAP];

	len = strnlen(t, len);
	if (len >= sizeof(s))
		return FK_NONE;
	memcpy(s, t, len);
	s[len] = '\0';
	if (is_word(s, "message") || is_word(s, "pmessage") || is_word(s, "smessage"))
		return FK_PUSH;
	if (is_word(s, "subscribe") || is_word(s, "psubscribe") || is_word(s, "ssubscribe") ||
	    is_word(s, "unsubscribe") || is_word(s, "punsubscribe") || is_word(s, "sunsubscribe"))
		return FK_SUB;
	return FK_NONE;
}

/* An element directly inside the top-level reply completed. */
static void child_done(struct resp_conn *c)
{
	struct rep_parser *rp = &c->rp;
	struct pending *p = q_front(c);
	int64_t i = rp->child_idx++;

	if (!p)
		return;
	if (p->info->kind == K_EXEC && rp->top_type == '*') {
		/* EXEC's array: element i is the reply of the i-th queued command. */
		if (i < c->mq_len) {
			struct pending *m = &c->mq[i];
			bool err = rp->child_type == '-' || rp->child_type == '!';

			judge_reply(m, rp->child_type, rp->child_null, rp->child_empty, rp->child_int,
				    rp->child_err);
			emit(c, m, err, rp->child_err, 0);
		}
		return;
	}
	if (p->info->hitmode == HM_PER_KEY && rp->top_type == '*' && i < p->total_keys)
		mark_key(p, (uint32_t)i, !rp->child_null);
	else if (p->info->hitmode == HM_FIELD && !rp->child_null)
		p->found++;
}

/* A (un)subscribe confirmation for the front command; true when it was one. */
static bool confirm_sub(struct resp_conn *c)
{
	struct rep_parser *rp = &c->rp;
	struct pending *p = q_front(c);

	if (!p || (p->info->kind != K_SUB && p->info->kind != K_UNSUB) ||
	    rp->first_kind != FK_SUB)
		return false;
	c->subscribed = rp->third_child_int > 0;
	if (p->expect > 0)
		p->expect--;
	if (p->named ? p->expect == 0 : rp->third_child_int == 0) {
		emit(c, p, false, "", rp->bytes);
		q_pop(c);
	}
	return true;
}

/* Ready for the next reply: only what a reply sets is cleared, not the buffers. */
static inline void rp_reset(struct rep_parser *rp)
{
	rp->state = RP_TYPE;
	rp->depth = 0;
	rp->line_len = 0;
	if (rp->line || rp->left_deep) { /* (rarely: not a call per reply) */
		free(rp->line);
		free(rp->left_deep);
		rp->line = NULL;
		rp->left_deep = NULL;
	}
	rp->top_type = 0;
	rp->top_null = rp->top_empty = rp->queued = false;
	rp->top_int = 0;
	rp->err[0] = '\0';
	rp->rejected = false;
	rp->unknown = 0;
	rp->bytes = 0;
	rp->child_idx = 0;
	rp->child_err[0] = '\0';
	rp->first_kind = FK_NONE;
	rp->third_child_int = 0;
}

/* The top-level reply completed: pair it with the oldest command waiting. */
static void reply_done(struct resp_conn *c)
{
	struct rep_parser *rp = &c->rp;
	struct pending *p;
	bool err = rp->top_type == '-' || rp->top_type == '!';

	if (rp->top_type == '|') /* RESP3 attribute: metadata before the actual reply */
		goto reset;
	if (rp->top_type == '>' || (c->subscribed && rp->top_type == '*' &&
				    rp->first_kind != FK_NONE)) {
		if (!confirm_sub(c))
			c->st->pushes++;
		goto reset;
	}
	if (rp->top_type == '*' && rp->first_kind == FK_SUB && confirm_sub(c))
		goto reset;

	p = q_front(c);
	if (!p) {
		c->st->parse_errors++; /* a reply to nothing we saw asked: framing is not to be trusted */
		lose(c);
		return;
	}
	if (c->multi && p->info->kind != K_EXEC && p->info->kind != K_DISCARD &&
	    p->info->kind != K_MULTI && rp->top_type == '+' && rp->queued) {
		mq_push(c, p);
		if (p->repeat)
			p->repeat--; /* the next folded one is queued by the next QUEUED */
		else
			q_pop(c);
		goto reset;
	}
	switch (p->info->kind) {
	case K_SELECT:
		if (!err)
			c->db = p->arg_db;
		break;
	case K_MULTI:
		if (!err)
			c->multi = true;
		break;
	case K_EXEC:
	case K_DISCARD:
		/* EXEC's elements were emitted as they came; a null EXEC (WATCH) ran nothing. */
		c->multi = false;
		mq_clear(c);
		break;
	case K_RESET:
		c->multi = false;
		mq_clear(c);
		c->db = 0;
		c->subscribed = false;
		break;
	default:
		break;
	}
	judge_reply(p, rp->top_type, rp->top_null, rp->top_empty, rp->top_int, rp->err);
	emit(c, p, err, rp->err, rp->bytes);
	if (p->repeat) {
		/* the next of the folded commands: same command, its own reply */
		p->repeat--;
		p->hits = p->misses = p->found = 0;
		for (int i = 0; i < p->n_keys; i++)
			p->key_hit[i] = -1;
	} else {
		q_pop(c);
		q_shrink(c);
	}
reset:
	rp_reset(rp);
}

/*
 * Whether an error is one Redis 7 answers from processCommand(), before the command's
 * implementation runs: what --redis-uprobes must not expect a call() for. The first word
 * settles most; an ERR needs its message.
 */
static bool rejected_before_call(const char *msg, size_t len)
{
	static const char *const words[] = {
		"NOAUTH ", "NOPERM ", "MOVED ", "ASK ", "TRYAGAIN ", "CROSSSLOT ", "CLUSTERDOWN ",
		"OOM ", "MISCONF ", "READONLY ", "NOREPLICAS ", "MASTERDOWN ", "LOADING ", "BUSY ",
		"ERR unknown command", "ERR unknown subcommand", "ERR wrong number of arguments",
		"ERR Command not allowed inside a transaction", "ERR Can't execute",
		"ERR only (P|S)SUBSCRIBE", "ERR Protocol error",
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i]);

		if (len >= n && !memcmp(msg, words[i], n))
			return true;
	}
	return false;
}

/*
 * Whether Redis said it does not know the command (1) or the subcommand (2). What it did not
 * know is any word a client sent where a command goes: a value, a password typed on its own line
 * (redis-cli, then the password): never a label (privacy), and one series for all of them.
 */
static uint8_t unknown_command(const char *msg, size_t len)
{
	static const char cmd[] = "ERR unknown command", sub[] = "ERR unknown subcommand";

	if (len >= sizeof(cmd) - 1 && !memcmp(msg, cmd, sizeof(cmd) - 1))
		return 1;
	if (len >= sizeof(sub) - 1 && !memcmp(msg, sub, sizeof(sub) - 1))
		return 2;
	return 0;
}

/* First word of an error message: "WRONGTYPE Operation against..." -> "WRONGTYPE". */
static void error_word(char *out, const char *msg, size_t len)
{
	size_t n = 0;

	while (n < len && n < RESP_ERR_LEN - 1 && msg[n] != ' ' && msg[n] != '\r' && msg[n] != '\n')
		out[n] = isalnum((unsigned char)msg[n]) ? msg[n] : '_', n++;
	out[n] = '\0';
}

/*
 * A RESP length or integer: optional '-', 1 to 18 digits, nothing else (strtoll costs more). The
 * text is len bytes, or up to a NUL before them (it is read as the C string it used to be copied
 * into).
 */
static bool parse_i64n(const char *s, size_t len, int64_t *out)
{
	const char *end = s + len;
	bool neg = len && *s == '-';
	int64_t v = 0;
	int n = 0;

	s += neg;
	for (; s < end && *s; s++, n++) {
		if (*s < '0' || *s > '9' || n == 18)
			return false;
		v = v * 10 + (*s - '0');
	}
	if (!n)
		return false;
	*out = neg ? -v : v;
	return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
	return parse_i64n(s, strlen(s), out);
}

/* A value at the current depth completed; close every aggregate it completes. */
static void value_done(struct resp_conn *c)
{
	struct rep_parser *rp = &c->rp;

	for (;;) {
		if (rp->depth == 0) {
			reply_done(c);
			return;
		}
		if (rp->depth == 1)
			child_done(c);
		if (--*left_at(rp, rp->depth - 1) > 0)
			return;
		rp->depth--; /* the aggregate is complete: it is a value of its parent */
	}
}

/* A value of type t starts at the current depth. */
static void value_start(struct rep_parser *rp, uint8_t t)
{
	rp->type = t;
	if (rp->depth == 0) {
		rp->top_type = t;
		rp->child_idx = 0;
	} else if (rp->depth == 1) {
		rp->child_type = t;
		rp->child_null = rp->child_empty = false;
		rp->child_int = 0;
		rp->child_err[0] = '\0';
	}
}

/*
 * The header line of the current value is complete: len bytes (its CR off, at most LINE_CAP - 1
 * of them). Returns false on a protocol error.
 */
static bool line_done(struct resp_conn *c, const char *line, uint32_t len)
{
	struct rep_parser *rp = &c->rp;
	int64_t n;

	switch (rp->type) {
	case '+':
	case ':':
	case ',':
	case '#':
	case '(':
	case '_':
	case '-':
		if (rp->type == '-') {
			if (rp->depth == 0) {
				error_word(rp->err, line, len);
				rp->rejected = rejected_before_call(line, len);
				rp->unknown = unknown_command(line, len);
			} else if (rp->depth == 1)
				error_word(rp->child_err, line, len);
		}
		if (rp->type == '_') {
			if (rp->depth == 0)
				rp->top_null = true;
			else if (rp->depth == 1)
				rp->child_null = true;
		}
		if (rp->type == ':' && parse_i64n(line, len, &n)) {
			if (rp->depth == 0) {
				rp->top_int = n;
			} else if (rp->depth == 1) {
				rp->child_int = n;
				if (rp->child_idx == 2)
					rp->third_child_int = n;
			}
		}
		if (rp->type == '+' && rp->depth == 1 && rp->child_idx == 0)
			rp->first_kind = first_kind(line, len);
		/* (up to a NUL: it used to be a C string) */
		if (rp->type == '+' && rp->depth == 0)
			rp->queued = len >= 6 && !memcmp(line, "QUEUED", 6) && (len == 6 || !line[6]);
		rp->state = RP_TYPE;
		value_done(c);
		return true;
	case '$':
	case '!':
	case '=':
		if (!parse_i64n(line, len, &n) || n < -1)
			return false;
		if (n == -1) {
			if (rp->depth == 0)
				rp->top_null = true;
			else if (rp->depth == 1)
				rp->child_null = true;
			rp->state = RP_TYPE;
			value_done(c);
			return true;
		}
		rp->bulk_left = n;
		rp->bulk_head_len = 0;
		rp->capture_bulk = rp->type == '!' || (rp->depth == 1 && rp->child_idx == 0);
		rp->state = RP_BULK;
		return true;
	case '*':
	case '%':
	case '~':
	case '>':
	case '|':
		/* No server sends 2^40 elements: such a count is garbage, not a reply. */
		if (!parse_i64n(line, len, &n) || n < -1 || n > (1LL << 40))
			return false;
		if (rp->type == '%' || rp->type == '|')
			n *= 2;
		rp->state = RP_TYPE;
		if (n <= 0) {
			if (rp->depth == 0) {
				rp->top_null = n < 0;
				rp->top_empty = n == 0;
			} else if (rp->depth == 1) {
				rp->child_null = n < 0;
				rp->child_empty = n == 0;
			}
			value_done(c);
			return true;
		}
		if (rp->depth >= MAX_DEPTH)
			return false;
		if (rp->depth >= LEFT_INLINE && !rp->left_deep &&
		    !(rp->left_deep = malloc((MAX_DEPTH - LEFT_INLINE) * sizeof(*rp->left_deep))))
			return false; /* counted as a parse error: framing is given up */
		*left_at(rp, rp->depth++) = n;
		return true;
	}
	return false;
}

static void bulk_done(struct resp_conn *c)
{
	struct rep_parser *rp = &c->rp;

	rp->bulk_head[rp->bulk_head_len] = '\0'; /* at most sizeof - 1 of them are kept */
	if (rp->type == '!') {
		if (rp->depth == 0)
			error_word(rp->err, rp->bulk_head, rp->bulk_head_len);
		else if (rp->depth == 1)
			error_word(rp->child_err, rp->bulk_head, rp->bulk_head_len);
	} else if (rp->depth == 1 && rp->child_idx == 0) {
		rp->first_kind = first_kind(rp->bulk_head, rp->bulk_head_len);
	}
	value_done(c);
}

/*
 * A length line ("123\r\n") at d[*i], all of it in the buffer: plain digits only, as clients
 * write them. false leaves anything else (and a line the chunk cuts) to the byte-wise parser.
 */
static inline bool fast_len(const uint8_t *d, uint32_t n, uint32_t *i, uint32_t *v)
{
	uint32_t k = *i;
	uint64_t x = 0;

	/* one or two digits, the usual counts of arguments and lengths of names and keys */
	if (k + 2 < n && (uint8_t)(d[k] - '0') <= 9) {
		if (d[k + 1] == '\r') {
			if (d[k + 2] != '\n')
				return false;
			*v = d[k] - '0';
			*i = k + 3;
			return true;
		}
		if (k + 3 < n && (uint8_t)(d[k + 1] - '0') <= 9 && d[k + 2] == '\r') {
			if (d[k + 3] != '\n')
				return false;
			*v = (d[k] - '0') * 10 + (d[k + 1] - '0');
			*i = k + 4;
			return true;
		}
	}
	while (k < n && d[k] >= '0' && d[k] <= '9' && k - *i < 10)
		x = x * 10 + (d[k++] - '0');
	if (k == *i || k + 1 >= n || d[k] != '\r' || d[k + 1] != '\n' || x > UINT32_MAX)
		return false;
	*i = k + 2;
	*v = (uint32_t)x;
	return true;
}

/*
 * The common reply: a whole top-level bulk string ("$3\r\nabc\r\n", or "$-1\r\n") inside the
 * chunk, answered in one step. Returns the bytes it took, or 0 to leave it to the byte-wise path.
 */
static uint32_t fast_bulk_reply(struct resp_conn *c, const uint8_t *d, uint32_t n)
{
	struct rep_parser *rp = &c->rp;
	uint32_t i = 1, len;

	if (n >= 5 && !memcmp(d, "$-1\r\n", 5)) {
		i = 5;
		value_start(rp, '$');
		rp->top_null = true;
	} else {
		if (!fast_len(d, n, &i, &len) || n - i < 2 || len > n - i - 2 || d[i + len] != '\r' ||
		    d[i + len + 1] != '\n')
			return 0;
		i += len + 2;
		value_start(rp, '$');
	}
	rp->bytes += i;
	rp->state = RP_TYPE;
	value_done(c);
	return i;
}

/* memchr(p, '\n', n): most reply lines are a few bytes ("+OK", ":1", "$5"), found without a call */
static inline const uint8_t *find_nl(const uint8_t *p, uint32_t n)
{
	uint32_t m = n < 16 ? n : 16;

	for (uint32_t k = 0; k < m; k++)
		if (p[k] == '\n')
			return p + k;
	return n > 16 ? memchr(p + 16, '\n', n - 16) : NULL;
}

/* The RESP2/RESP3 type bytes a reply value starts with. */
static inline bool is_reply_type(uint8_t t)
{
	switch (t) {
	case '+': case '-': case ':': case '$': case '*': case '_': case ',': case '#':
	case '!': case '=': case '(': case '%': case '~': case '>': case '|':
		return true;
	default:
		return false;
	}
}

/* Parses reply bytes; false on a protocol error. */
static bool parse_replies(struct resp_conn *c, const uint8_t *d, uint32_t n)
{
	struct rep_parser *rp = &c->rp;
	uint32_t i = 0;

	while (i < n) {
		uint32_t start = i;

		if (c->tail_lost && !c->q_len && rp->state == RP_TYPE)
			return true; /* the rest answers requests the capture lost */
		switch (rp->state) {
		case RP_TYPE:
			if (rp->depth == 0 && d[i] == '$') {
				uint32_t took = fast_bulk_reply(c, d + i, n - i);

				if (took) {
					i += took;
					start = i;
					break;
				}
			}
			if (!is_reply_type(d[i]))
				return false;
			value_start(rp, d[i]);
			rp->line_len = 0;
			rp->state = RP_LINE;
			i++;
			break;
		case RP_LINE: {
			const uint8_t *nl = find_nl(d + i, n - i);
			uint32_t take = nl ? (uint32_t)(nl - (d + i)) : n - i;
			uint32_t room = LINE_CAP - 1 - rp->line_len;
			char *kept = NULL;
			const char *line;
			uint32_t len;
			bool ok;

			if (nl && !rp->line) {
				/* all of it is here: read where it lies */
				line = (const char *)d + i;
				len = take < LINE_CAP - 1 ? take : LINE_CAP - 1;
			} else {
				if (!rp->line && !(rp->line = malloc(LINE_CAP)))
					return false; /* counted as a parse error: framing is given up */
				memcpy(rp->line + rp->line_len, d + i, take < room ? take : room);
				rp->line_len += take < room ? take : room;
				line = kept = rp->line;
				len = rp->line_len;
			}
			i += take;
			if (!nl)
				break;
			i++; /* the '\n' */
			rp->bytes += i - start;
			start = i;
			if (len && line[len - 1] == '\r')
				len--;
			/* the line is done with before the reply can complete (and reset rp) */
			rp->line = NULL;
			rp->line_len = 0;
			ok = line_done(c, line, len);
			free(kept);
			if (!ok)
				return false;
			break;
		}
		case RP_BULK: {
			uint32_t take = rp->bulk_left < n - i ? (uint32_t)rp->bulk_left : n - i;

			if (rp->capture_bulk)
				for (uint32_t k = 0; k < take && rp->bulk_head_len < sizeof(rp->bulk_head) - 1;
				     k++)
					rp->bulk_head[rp->bulk_head_len++] = d[i + k];
			rp->bulk_left -= take;
			i += take;
			if (!rp->bulk_left)
				rp->state = RP_BULK_CR;
			break;
		}
		case RP_BULK_CR:
			if (d[i++] != '\r')
				return false;
			rp->state = RP_BULK_LF;
			break;
		case RP_BULK_LF:
			if (d[i++] != '\n')
				return false;
			rp->bytes += i - start;
			start = i;
			rp->state = RP_TYPE;
			bulk_done(c);
			break;
		}
		/* A completed reply resets rp (bytes included); what is left here belongs to the next. */
		rp->bytes += i - start;
	}
	return true;
}

/* --- requests ---------------------------------------------------------------------------------- */

/* Command names are labels: lower case, and only the characters real commands use. */
static void set_name(char *out, size_t outlen, const char *s, size_t len)
{
	size_t n = 0;

	for (; n < len && n < outlen - 1; n++) {
		char ch = (char)tolower((unsigned char)s[n]);

		if (!(isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '.' || ch == '|'))
			ch = '?';
		out[n] = ch;
	}
	out[n] = '\0';
}

static bool is_key_arg(const struct pending *p, int64_t i)
{
	const struct cmd_info *ci = p->info;

	if (ci->first_key <= 0 || i < ci->first_key)
		return false;
	if (ci->key_step == 0)
		return i == ci->first_key;
	return (i - ci->first_key) % ci->key_step == 0;
}

bool resp_arg_is_read(const char *name, size_t nlen, int64_t i, uint32_t alen)
{
	char command[RESP_CMD_LEN];
	struct pending p = {};

	if (i <= 0)
		return true;
	set_name(command, sizeof(command), name, nlen);
	p.info = resp_commands__lookup(command);
	if (p.info->kind == K_AUTH || p.info->kind == K_SUB || p.info->kind == K_UNSUB)
		return false;
	if (i == 1 && ((p.info->flags & CMD_CONTAINER) || p.info->kind == K_SELECT ||
		       p.info->kind == K_HELLO))
		return true;
	if (alen == 5 && (!strcmp(command, "xread") || !strcmp(command, "xreadgroup")))
		return true; /* BLOCK: its blocking flag */
	return is_key_arg(&p, i);
}

/*
 * Where key prefix i of the request being parsed goes. Read from one chunk, nothing can answer
 * (and trim) the ring before the request is queued: its prefixes go straight to the ring's slots
 * after its tail. Read across chunks, replies in between may free slots first: its prefixes wait
 * in rq_split, and q_push reserves and copies them. So do those of a request the ring has no
 * room for now, so that q_push decides (fold, or keep no prefix) as it always did. NULL: out of
 * memory, the request's prefixes are not kept.
 */
static char *key_dst(struct resp_conn *c, uint32_t i)
{
	struct req_parser *rq = &c->rq;

	if (rq->split)
		return rq->split->keys[i];
	if (rq->keys_lost)
		return NULL;
	if (kr_reserve(c, i + 1))
		return c->kr[(c->kr_tail + i) & (c->kr_cap - 1)];
	rq->split = malloc(sizeof(*rq->split));
	if (!rq->split) {
		rq->keys_lost = true;
		return NULL;
	}
	for (uint32_t k = 0; k < i; k++)
		memcpy(rq->split->keys[k], c->kr[(c->kr_tail + k) & (c->kr_cap - 1)], RESP_PREFIX_LEN);
	return rq->split->keys[i];
}

/* memcmp(a, b, n) == 0 for a name's few bytes, without the call */
static inline bool same_short(const char *a, const char *b, uint32_t n)
{
	uint32_t k = 0;

	while (k < n && a[k] == b[k])
		k++;
	return k == n;
}

/* One argument of the request being parsed, all of it (len) or its first ARG_CAP bytes. */
static void on_arg(struct resp_conn *c, int64_t i, const char *a, uint32_t alen)
{
	struct pending *p = c->rq.cur;

	if (i == 0) {
		struct req_parser *rq = &c->rq;

		if (rq->last_info && alen == rq->last_raw_len && same_short(a, rq->last_raw, alen)) {
			memcpy(p->command, rq->last_name, sizeof(rq->last_name)); /* the rest is 0 */
			p->info = rq->last_info;
		} else {
			set_name(p->command, sizeof(p->command), a, alen);
			p->info = resp_commands__lookup(p->command);
			if (alen < sizeof(rq->last_raw)) {
				/* p->command was zero: so is last_name past the name (emit copies
				 * it whole) */
				memcpy(rq->last_raw, a, alen);
				rq->last_raw_len = alen;
				memcpy(rq->last_name, p->command, sizeof(rq->last_name));
				rq->last_info = p->info;
			}
		}
		p->blocking = p->info->flags & CMD_BLOCKING;
		return;
	}
	if (p->info->kind == K_AUTH)
		return; /* credentials never leave the parser */
	if (i == 1 && (p->info->flags & CMD_CONTAINER)) {
		size_t n = strlen(p->command);

		/* "config" (at most 8) + ' ' + up to 15 of the subcommand fits RESP_CMD_LEN */
		p->command[n] = ' ';
		set_name(p->command + n + 1, 16, a, alen);
		return;
	}
	if (i == 1 && (p->info->kind == K_SELECT || p->info->kind == K_HELLO)) {
		char num[8];
		int64_t v;

		memcpy(num, a, alen < 7 ? alen : 7);
		num[alen < 7 ? alen : 7] = '\0';
		if (parse_i64(num, &v) && v >= 0 && v <= 255) {
			if (p->info->kind == K_SELECT)
				p->arg_db = (uint8_t)v;
			else
				p->arg_proto = (uint8_t)v;
		}
		return;
	}
	if (p->info->kind == K_SUB || p->info->kind == K_UNSUB) {
		p->expect++;
		p->named = true;
		return;
	}
	if (alen == 5 && p->command[0] == 'x' &&
	    (!strcmp(p->command, "xread") || !strcmp(p->command, "xreadgroup")) &&
	    !strncasecmp(a, "block", 5))
		p->blocking = true;
	if (is_key_arg(p, i)) {
		if (p->n_keys < RESP_MAX_KEYS) {
			char *dst = key_dst(c, p->n_keys);

			if (dst) {
				/* NUL-padded, as resp_record.keys promises (a constant-size memset is a
				 * few stores) */
				memset(dst, 0, RESP_PREFIX_LEN);
				resp_key_prefix(c->opts, a, alen, dst, RESP_PREFIX_LEN);
			}
			p->key_hit[p->n_keys] = -1;
			p->n_keys++;
		}
		p->total_keys++;
	}
}

/* Ready for the next request; the pending command is reset when it begins. */
static void rq_reset(struct req_parser *rq)
{
	rq->state = RQ_START;
	rq->keys_lost = false;
	rq->cur = NULL;
	if (rq->split || rq->ovf) { /* (rarely: not a call per request) */
		free(rq->split);
		free(rq->ovf);
		rq->split = NULL;
		rq->ovf = NULL;
	}
}

/* The request is complete: it waits for its reply. */
static void request_done(struct resp_conn *c)
{
	struct pending *p = c->rq.cur;

	if (!p->info) /* an empty multibulk (*0): Redis ignores it */
		goto reset;
	p->db = c->db;
	q_push(c, p, c->rq.split ? c->rq.split->keys : NULL, c->rq.keys_lost);
reset:
	rq_reset(&c->rq);
}

static const struct pending zero_pending;

/* false: out of memory */
static bool begin_request(struct resp_conn *c)
{
	struct req_parser *rq = &c->rq;
	struct pending *p;

	if (c->q_len < c->q_cap || q_grow(c)) {
		p = &c->q[(c->q_head + c->q_len) & (c->q_cap - 1)];
	} else {
		if (!rq->ovf && !(rq->ovf = malloc(sizeof(*rq->ovf))))
			return false;
		p = rq->ovf;
	}
	rq->cur = p;
	/* A copy of a zero one: a memset of the struct is a rep stos, slower for this size. */
	memcpy(p, &zero_pending, sizeof(*p));
	p->t_request = c->t_chunk;
	p->t_arrival = c->t_arrival && c->t_arrival <= c->t_chunk ? c->t_arrival : 0;
	return true;
}

/* Inline command: space-separated words on one line ("PING", "GET key"). */
static void inline_done(struct resp_conn *c)
{
	struct req_parser *rq = &c->rq;
	int64_t argi = 0;
	uint32_t k = 0;

	const char *inl = rq->split->inl;

	while (k < rq->split->inl_len) {
		uint32_t s;

		while (k < rq->split->inl_len && (inl[k] == ' ' || inl[k] == '\t' || inl[k] == '\r'))
			k++;
		s = k;
		while (k < rq->split->inl_len && inl[k] != ' ' && inl[k] != '\t' && inl[k] != '\r')
			k++;
		if (k > s)
			on_arg(c, argi++, inl + s, k - s);
	}
	if (argi == 0) { /* an empty line: Redis ignores it */
		rq_reset(rq);
		return;
	}
	request_done(c);
}

/* The bulk argument being read is complete (its CRLF included). */
static void arg_done(struct resp_conn *c)
{
	struct req_parser *rq = &c->rq;

	on_arg(c, rq->split->argi, rq->split->arg, rq->split->arg_len);
	if (++rq->split->argi == rq->split->nargs)
		request_done(c);
	else
		rq->state = RQ_BULK_TYPE;
}

/*
 * The common case of a pipeline: a whole multibulk command inside the chunk. One pass checks that
 * all of it is there and well formed, a second hands its arguments over, with no per-byte state.
 * Returns the bytes it took, or 0 to leave the command to the byte-wise parser (which then sees
 * it exactly as if this did not exist).
 */
#define FAST_ARGS 8 /* arguments whose place the first pass keeps for the second */

static uint32_t fast_request(struct resp_conn *c, const uint8_t *d, uint32_t n)
{
	uint32_t i = 1, nargs, len, args;
	uint32_t at[FAST_ARGS], alen[FAST_ARGS];

	if (!fast_len(d, n, &i, &nargs) || !nargs || nargs > 1024 * 1024)
		return 0;
	args = i;
	for (uint32_t a = 0; a < nargs; a++) {
		if (i >= n || d[i] != '$')
			return 0;
		i++;
		if (!fast_len(d, n, &i, &len) || len > 512U * 1024 * 1024 || n - i < 2 ||
		    len > n - i - 2 || d[i + len] != '\r' || d[i + len + 1] != '\n')
			return 0;
		if (a < FAST_ARGS) {
			at[a] = i;
			alen[a] = len;
		}
		i += len + 2;
	}
	if (!begin_request(c))
		return 0;
	c->rq.cur->bytes = i;
	for (uint32_t a = 0; a < nargs; a++) {
		if (a < FAST_ARGS) {
			args = at[a];
			len = alen[a];
		} else {
			args++; /* '$' */
			fast_len(d, n, &args, &len);
		}
		on_arg(c, a, (const char *)d + args, len < ARG_CAP ? len : ARG_CAP);
		args += len + 2;
	}
	request_done(c);
	return i;
}

/* Parses request bytes; false on a protocol error. */
static bool parse_requests(struct resp_conn *c, const uint8_t *d, uint32_t n)
{
	struct req_parser *rq = &c->rq;
	uint32_t i = 0;

	while (i < n) {
		switch (rq->state) {
		case RQ_START:
			if (d[i] == '*') {
				uint32_t took = fast_request(c, d + i, n - i);

				if (took) {
					i += took;
					break;
				}
			}
			if (!begin_request(c) || !(rq->split = malloc(sizeof(*rq->split))))
				return false; /* counted as a parse error: framing is given up */
			rq->split->nargs = rq->split->argi = rq->split->bulk_left = 0;
			rq->split->arg_len = rq->split->inl_len = rq->split->line_len = 0;
			if (d[i] == '*') {
				rq->state = RQ_ARRAY_LINE;
				rq->split->line_len = 0;
				i++;
				rq->cur->bytes++;
			} else {
				rq->state = RQ_INLINE;
				rq->split->inl_len = 0;
			}
			break;
		case RQ_ARRAY_LINE:
		case RQ_BULK_LINE: {
			const uint8_t *nl = memchr(d + i, '\n', n - i);
			uint32_t take = nl ? (uint32_t)(nl - (d + i)) : n - i;

			/* a length line longer than any length is not RESP */
			if (rq->split->line_len + take > LINE_CAP - 1)
				return false;
			memcpy(rq->split->line + rq->split->line_len, d + i, take);
			rq->split->line_len += take;
			rq->cur->bytes += take + (nl ? 1 : 0);
			i += take + (nl ? 1 : 0);
			if (nl) {
				char *line = rq->split->line;
				int64_t v;

				if (rq->split->line_len && line[rq->split->line_len - 1] == '\r')
					rq->split->line_len--;
				line[rq->split->line_len] = '\0';
				if (!parse_i64(line, &v))
					return false;
				if (rq->state == RQ_ARRAY_LINE) {
					if (v > (int64_t)1024 * 1024 * 1024)
						return false;
					if (v <= 0) {
						request_done(c);
						break;
					}
					rq->split->nargs = v;
					rq->split->argi = 0;
					rq->state = RQ_BULK_TYPE;
				} else {
					if (v < 0 || v > 512LL * 1024 * 1024)
						return false;
					rq->split->bulk_left = v;
					rq->split->arg_len = 0;
					rq->state = v ? RQ_BULK_DATA : RQ_BULK_CR;
				}
			}
			break;
		}
		case RQ_BULK_TYPE:
			if (d[i++] != '$')
				return false;
			rq->cur->bytes++;
			rq->split->line_len = 0;
			rq->state = RQ_BULK_LINE;
			break;
		case RQ_BULK_DATA: {
			int64_t left = rq->split->bulk_left;
			uint32_t take = left < n - i ? (uint32_t)left : n - i;
			uint32_t room = ARG_CAP - rq->split->arg_len;

			memcpy(rq->split->arg + rq->split->arg_len, d + i, take < room ? take : room);
			rq->split->arg_len += take < room ? take : room;
			rq->cur->bytes += take;
			rq->split->bulk_left -= take;
			i += take;
			if (!rq->split->bulk_left)
				rq->state = RQ_BULK_CR;
			break;
		}
		case RQ_BULK_CR:
			if (d[i++] != '\r')
				return false;
			rq->cur->bytes++;
			rq->state = RQ_BULK_LF;
			break;
		case RQ_BULK_LF:
			if (d[i++] != '\n')
				return false;
			rq->cur->bytes++;
			arg_done(c);
			break;
		case RQ_INLINE: {
			uint8_t ch = d[i++];

			rq->cur->bytes++;
			if (ch == '\n') {
				inline_done(c);
			} else if (rq->split->inl_len < INLINE_CAP - 1) {
				rq->split->inl[rq->split->inl_len++] = ch;
			} else if (rq->cur->bytes > (uint64_t)64 * 1024) {
				return false; /* Redis itself refuses inline requests this big */
			}
			break;
		}
		}
	}
	return true;
}

/* --- feeding ----------------------------------------------------------------------------------- */

/*
 * Bytes the capture did not hold. Framing survives a gap that ends inside a bulk payload, or
 * exactly at the end of its CRLF (a big SET value or GET reply, the common case); anything else
 * (a gap across headers, or past the end of a bulk into unknown bytes) loses it.
 */
static bool skip_gap(struct resp_conn *c, bool in, uint64_t gap)
{
	uint8_t state = in ? c->rq.state : c->rp.state;
	int64_t *left;
	uint64_t tail; /* payload + CRLF still to come */

	if (in && (state == RQ_START || state == RQ_INLINE))
		return false; /* (no request being read, or not a bulk: nothing in split to see) */
	left = in ? &c->rq.split->bulk_left : &c->rp.bulk_left;
	if (in ? state == RQ_BULK_DATA : state == RP_BULK)
		tail = (uint64_t)*left + 2;
	else if (in ? state == RQ_BULK_CR : state == RP_BULK_CR)
		tail = 2;
	else if (in ? state == RQ_BULK_LF : state == RP_BULK_LF)
		tail = 1;
	else
		return false;
	if (gap > tail)
		return false;
	if (in)
		c->rq.cur->bytes += gap;
	else
		c->rp.bytes += gap;
	tail -= gap; /* what still comes in later chunks */
	if (tail >= 2) {
		*left = (int64_t)tail - 2;
		if (in)
			c->rq.state = *left ? RQ_BULK_DATA : RQ_BULK_CR;
		else
			c->rp.state = *left ? RP_BULK : RP_BULK_CR;
	} else if (tail == 1) {
		*left = 0;
		if (in)
			c->rq.state = RQ_BULK_LF;
		else
			c->rp.state = RP_BULK_LF;
	} else {
		*left = 0;
		if (in) {
			arg_done(c);
		} else {
			c->rp.state = RP_TYPE;
			bulk_done(c);
		}
	}
	return true;
}

/*
 * Requests the capture cut: those parsed before the gap still get the next replies, in order; the
 * replies after them answer requests we never saw, so they are skipped until the client, having
 * read them, sends a request that starts cleanly. (A client that streams a pipeline without
 * waiting could still have replies in flight then: see the README.)
 */
static void lose_requests(struct resp_conn *c)
{
	c->st->resyncs++;
	if (c->rq.state != RQ_START)
		c->st->unpaired++; /* the request the gap cut */
	rq_reset(&c->rq);
	c->in_lost = true;
	c->tail_lost = true;
}

/*
 * Where decoding may resume after lost framing: a chunk that starts a request. A read can begin
 * anywhere in a client's stream (and a later chunk of a large read anywhere in a pipeline), so a
 * chunk must show the shape of one: "*<count>\r\n$", or an inline command naming a command we
 * know ("PING\r\n"), not just any letter (the middle of a key).
 */
static bool clean_request_start(const uint8_t *data, uint32_t cap)
{
	char word[RESP_CMD_LEN];
	uint32_t i = 1;

	if (!cap)
		return false;
	if (data[0] == '*') {
		/* What the chunk holds must fit the shape; where it ends, the next chunk goes on. */
		while (i < cap && i < 12 && isdigit(data[i]))
			i++;
		if (i == cap)
			return true;
		if (i == 1 || data[i] != '\r')
			return false;
		if (i + 1 == cap)
			return true;
		return data[i + 1] == '\n' && (i + 2 == cap || data[i + 2] == '$');
	}
	for (i = 0; i < cap && i < sizeof(word) - 1 && isalpha(data[i]); i++)
		word[i] = tolower(data[i]);
	word[i] = '\0';
	if (!i || i == cap || (data[i] != ' ' && data[i] != '\r'))
		return false;
	return resp_commands__lookup(word) != &resp_commands__default || !strcmp(word, "set");
}

void resp_conn__set_arrival(struct resp_conn *c, uint64_t ns)
{
	c->t_arrival = ns;
}

void resp_conn__feed(struct resp_conn *c, bool in, const uint8_t *data, uint32_t cap,
		     uint32_t len, uint64_t ts_ns, resp_emit_fn emit_fn, void *ctx)
{
	bool ok;

	c->emit = emit_fn;
	c->ctx = ctx;
	c->t_chunk = ts_ns;
	if (cap > len)
		cap = len;
	if (c->lost) {
		/* Resume at a request that starts cleanly; replies until then belong to lost ones. */
		if (!in || !clean_request_start(data, cap))
			return;
		c->lost = false;
	}
	if (c->in_lost && in) {
		if (!clean_request_start(data, cap))
			return;
		if (c->q_len) /* our replies have not all come: lost ones may still be ahead */
			lose(c);
		c->lost = c->in_lost = c->tail_lost = false;
		rp_reset(&c->rp);
	}
	if (!in && c->tail_lost && !c->q_len)
		return;
	ok = in ? parse_requests(c, data, cap) : parse_replies(c, data, cap);
	if (!ok) {
		c->st->parse_errors++;
		lose(c);
		return;
	}
	if (len > cap && !skip_gap(c, in, (uint64_t)len - cap)) {
		struct pending *p = in ? NULL : q_front(c);

		if (in) {
			lose_requests(c);
			return;
		}
		/* A reply we cannot frame past the gap still answered the oldest command: it is
		 * complete as far as pairing goes, and nothing after it can be trusted. */
		if (p && c->rp.top_type) {
			bool err = c->rp.top_type == '-' || c->rp.top_type == '!';

			emit(c, p, err, c->rp.err, c->rp.bytes + (len - cap));
			q_pop(c);
		}
		lose(c);
	}
}
