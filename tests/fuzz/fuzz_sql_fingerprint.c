// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for sql_fingerprint, two modes picked by the first byte.
 *
 * Raw (even): the bytes as SQL, whole and split into statements. Every fingerprint is
 * NUL-terminated at len, len <= SQL_FP_MAX_TEXT + 3, printable valid UTF-8, "..." ends it when
 * truncated, and the splitter's pieces tile the input without reading past it (ASan: the input
 * is an exact-size heap block).
 *
 * Generated (odd): the bytes drive a generator of SQL made of raw chunks (any byte but ' " $ \) and
 * fragments: keywords, punctuation, parameters, and constants of every form (numbers, -numbers,
 * '..', E'..', X'..', U&'..', continued strings, $$..$$, $tg$..$tg$, IN lists, VALUES rows, and an
 * unterminated one at the end). It is written twice, A and B, identical but for the content of
 * every constant. Invariants, stated exactly:
 *   1. A and B give the same statements (splitter offsets) and the same fingerprints (text, id,
 *      kind, n_params, len, truncated): nothing in a constant's content reaches the output;
 *   2. every '$' in the output is followed by a digit: constants' contents carry "$!" every few
 *      bytes and no other source of '$' + non-digit exists in the generated text, so a leaked
 *      fragment of a constant longer than a few bytes shows up here even without B.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "proto/sql_fingerprint.h"

#define GEN_MAX 8192

/* Valid UTF-8 at p, or 0 (the output must be valid UTF-8 throughout). */
static size_t utf8_ok(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t k;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

static void check_fp(const struct sql_fingerprint *fp)
{
	const uint8_t *t = (const uint8_t *)fp->text;

	assert(fp->len <= SQL_FP_MAX_TEXT + 3);
	assert(t[fp->len] == '\0' && strlen(fp->text) == fp->len);
	assert((unsigned)fp->kind < SQL_KIND_COUNT);
	assert(strcmp(sql_kind__name(fp->kind), "") != 0);
	if (fp->truncated)
		assert(fp->len >= 3 && !memcmp(fp->text + fp->len - 3, "...", 3));
	else
		assert(fp->len <= SQL_FP_MAX_TEXT);
	if (fp->len)
		assert(t[0] != ' ' && t[fp->len - 1] != ' ');
	for (size_t i = 0; i < fp->len;) {
		size_t k = utf8_ok(t + i, fp->len - i);

		assert(k);
		assert(t[i] >= 0x20 && t[i] != 0x7f);
		i += k;
	}
}

/* Splits and fingerprints buf[0..n); records the statement ends and fingerprints in outs. */
struct run {
	size_t n_stmts;
	size_t ends[64];
	struct sql_fingerprint fps[64];
	struct sql_fingerprint whole;
};

static void run_all(const uint8_t *data, size_t n, struct run *r)
{
	/* An exact-size copy: ASan reports any read past n. */
	char *buf = malloc(n ? n : 1);
	size_t off = 0, k, sl;
	struct sql_fingerprint again;

	assert(buf);
	memcpy(buf, data, n);
	sql_fingerprint__compute(buf, n, &r->whole);
	check_fp(&r->whole);
	sql_fingerprint__compute(buf, n, &again);
	assert(again.id == r->whole.id && !strcmp(again.text, r->whole.text));
	r->n_stmts = 0;
	while ((k = sql_fingerprint__next_statement(buf + off, n - off, &sl))) {
		assert(k <= n - off && sl <= k);
		if (r->n_stmts < 64) {
			sql_fingerprint__compute(buf + off, sl, &r->fps[r->n_stmts]);
			check_fp(&r->fps[r->n_stmts]);
			r->ends[r->n_stmts] = off + k;
		}
		r->n_stmts++;
		off += k;
	}
	assert(sl == 0 && off <= n);
	free(buf);
}

/* The generator reads its choices from the fuzz input. */
struct gen {
	const uint8_t *d;
	size_t n;
	uint8_t *a, *b;
	size_t len;
	unsigned salt;
};

static unsigned take(struct gen *g)
{
	if (!g->n)
		return 0;
	g->n--;
	return *g->d++;
}

static void put2(struct gen *g, uint8_t ca, uint8_t cb)
{
	if (g->len < GEN_MAX) {
		g->a[g->len] = ca;
		g->b[g->len] = cb;
		g->len++;
	}
}

static void puts2(struct gen *g, const char *s)
{
	while (*s)
		put2(g, *s, *s), s++;
}

/*
 * Bytes a constant's content may hold freely: all but the quotes, backslash, '$' and what ends or
 * nests a comment the constant could sit in (newline, CR, '*', '/').
 */
static int free_byte(unsigned c)
{
	return !strchr("'\"\\$\n\r*/", c) || c == 0;
}

static uint8_t nth_free(unsigned k)
{
	static uint8_t alpha[256];
	static unsigned n;

	if (!n)
		for (unsigned c = 0; c < 256; c++)
			if (free_byte(c))
				alpha[n++] = c;
	return alpha[k % n];
}

/*
 * A constant's content: structure ("" escapes, E-string backslash pairs, "$!" markers) at the same
 * places in A and B, free bytes different in A and B.
 */
static void content(struct gen *g, bool estring)
{
	unsigned len = take(g) % 24;

	for (unsigned i = 0; i < len; i++) {
		unsigned c = take(g);

		if (i % 5 == 2 && i + 2 < len) {
			puts2(g, "$!");
			i++;
		} else if (c == 0 && i + 2 < len) {
			puts2(g, "''");
			i++;
		} else if (estring && (c == 1 || c == 2) && i + 2 < len) {
			/* \' or \\: an escape pair, the same in A and B */
			put2(g, '\\', '\\');
			put2(g, c == 1 ? '\'' : '\\', c == 1 ? '\'' : '\\');
			i++;
		} else {
			put2(g, nth_free(c), nth_free(c + 1 + g->salt % 200));
		}
	}
}

static void digits(struct gen *g)
{
	unsigned len = 1 + take(g) % 6;

	for (unsigned i = 0; i < len; i++) {
		unsigned c = take(g);

		put2(g, '1' + c % 9, '1' + (c + 1 + g->salt) % 9);
	}
}

static void constant(struct gen *g, unsigned kind)
{
	switch (kind % 11) {
	case 0:
		puts2(g, " '");
		content(g, false);
		puts2(g, "'");
		break;
	case 1:
		puts2(g, " E'");
		content(g, true);
		puts2(g, "'");
		break;
	case 2:
		puts2(g, (const char *[]){ " X'", " b'", " N'", " U&'" }[take(g) % 4]);
		content(g, false);
		puts2(g, "'");
		break;
	case 3:
		puts2(g, " $$");
		content(g, false);
		puts2(g, "$$");
		break;
	case 4:
		puts2(g, " $tg$");
		content(g, false);
		puts2(g, "$tg$");
		break;
	case 5:
		puts2(g, " '");
		content(g, false);
		puts2(g, "'\n '");
		content(g, false);
		puts2(g, "'");
		break;
	case 6:
		puts2(g, " ");
		digits(g);
		break;
	case 7:
		puts2(g, " -");
		digits(g);
		break;
	case 8:
		puts2(g, " ");
		digits(g);
		puts2(g, ".");
		digits(g);
		puts2(g, "e-");
		digits(g);
		break;
	case 9:
		puts2(g, " $");
		kind = '1' + take(g) % 9; /* parameters are structure, not secrets: A and B alike */
		put2(g, kind, kind);
		break;
	default:
		puts2(g, (const char *[]){ " true", " false", " null" }[take(g) % 3]);
		break;
	}
}

static const char *const words[] = {
	" select", " from", " where", " in", " not", " values", " array", " with", " insert",
	" into", " update", " set", " delete", " and", " or", " begin", " end", " commit",
	" create function f() begin atomic", " case", " as", " is", " t", " \"Quoted\"",
	" \"a\"\"b\"", " U&\"x\"",
};
static const char *const puncts[] = {
	"(", ")", "[", "]", ",", ";", "::", "=", "-", "+", "*", "<>", ".", ":", " ", "\n",
	" /* c */", " -- c\n", "=-", "<=", "||", "@>",
};

static void generate(struct gen *g)
{
	while (g->n && g->len < GEN_MAX - 64) {
		unsigned op = take(g);

		switch (op % 8) {
		case 0: { /* a raw chunk */
			unsigned len = take(g) % 16;

			for (unsigned i = 0; i < len; i++) {
				uint8_t c = take(g);

				if (c == '\'' || c == '"' || c == '$' || c == '\\')
					c = ' ';
				put2(g, c, c);
			}
			break;
		}
		case 1:
		case 2:
			constant(g, take(g));
			break;
		case 3:
			puts2(g, words[take(g) % (sizeof(words) / sizeof(words[0]))]);
			break;
		case 4:
			puts2(g, puncts[take(g) % (sizeof(puncts) / sizeof(puncts[0]))]);
			break;
		case 5: { /* a list after IN or ARRAY */
			unsigned k = 1 + take(g) % 5;
			bool arr = op & 8;

			puts2(g, arr ? " array[" : " in (");
			for (unsigned i = 0; i < k; i++) {
				if (i)
					puts2(g, ",");
				constant(g, take(g));
				if (take(g) % 4 == 0)
					puts2(g, "::int");
			}
			puts2(g, arr ? "]" : ")");
			break;
		}
		case 6: { /* VALUES rows */
			unsigned rows = 1 + take(g) % 4, cols = 1 + take(g) % 3;

			puts2(g, " values");
			for (unsigned r = 0; r < rows; r++) {
				puts2(g, r ? ", (" : " (");
				for (unsigned c = 0; c < cols; c++) {
					if (c)
						puts2(g, ",");
					constant(g, take(g));
				}
				puts2(g, ")");
			}
			break;
		}
		default:
			if (op & 8) { /* an unterminated constant ends the script */
				puts2(g, (const char *[]){ " '", " E'", " $$", " $tg$", " \"" }
						 [take(g) % 5]);
				content(g, false);
				return;
			}
			constant(g, take(g));
			break;
		}
	}
}

static void check_dollars(const struct sql_fingerprint *fp)
{
	for (size_t i = 0; i < fp->len; i++)
		if (fp->text[i] == '$')
			assert(i + 1 < fp->len && fp->text[i + 1] >= '1' && fp->text[i + 1] <= '9');
}

static void same_fp(const struct sql_fingerprint *x, const struct sql_fingerprint *y)
{
	assert(x->id == y->id && x->kind == y->kind && x->n_params == y->n_params);
	assert(x->len == y->len && x->truncated == y->truncated);
	assert(!strcmp(x->text, y->text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t ga[GEN_MAX], gb[GEN_MAX];
	static struct run ra, rb;
	struct gen g;

	if (!size)
		return 0;
	if (!(data[0] & 1)) {
		run_all(data + 1, size - 1, &ra);
		return 0;
	}
	g = (struct gen){ .d = data + 1, .n = size - 1, .a = ga, .b = gb, .salt = data[0] >> 1 };
	generate(&g);
	run_all(ga, g.len, &ra);
	run_all(gb, g.len, &rb);
	same_fp(&ra.whole, &rb.whole);
	check_dollars(&ra.whole);
	assert(ra.n_stmts == rb.n_stmts);
	for (size_t i = 0; i < ra.n_stmts && i < 64; i++) {
		assert(ra.ends[i] == rb.ends[i]);
		same_fp(&ra.fps[i], &rb.fps[i]);
		check_dollars(&ra.fps[i]);
	}
	return 0;
}
