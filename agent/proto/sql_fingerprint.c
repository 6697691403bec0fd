// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * SQL fingerprints. A lexer that follows PostgreSQL's scan.l closely enough to find the same token
 * boundaries (strings, dollar quotes, comments, operators) feeds a single pass that writes the
 * normal form into the caller's struct and hashes it. Lookahead (a number after a unary minus, a
 * comparison after TRUE/FALSE, a list after IN/ARRAY, a row after VALUES) lexes a token at most
 * twice more, and the one loop over a run of operator bytes is remembered, so time stays linear.
 * The lexer, the normaliser and the statement splitter stay in one file because they are one
 * state machine over the same token stream; the fuzz target checks them together.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <string.h>
#include "proto/sql_fingerprint.h"

/* Byte classes, from scan.l: space, ident_start, ident_cont, op_chars. */
enum {
	C_SPACE = 1,
	C_IDSTART = 2,
	C_IDCONT = 4,	/* also the bytes that would glue two tokens into one word */
	C_DIGIT = 8,
	C_OP = 16,
	C_QUAL = 32,	/* op chars that let an operator end in + or - */
	C_TAG = 64,	/* dollar-quote tag characters (ident_cont without '$') */
};

#define ID (C_IDSTART | C_IDCONT | C_TAG)
static const uint8_t cls[256] = {
	[' '] = C_SPACE, ['\t'] = C_SPACE, ['\n'] = C_SPACE, ['\r'] = C_SPACE, ['\f'] = C_SPACE,
	['\v'] = C_SPACE,
	['A' ... 'Z'] = ID, ['a' ... 'z'] = ID, ['_'] = ID, [0x80 ... 0xff] = ID,
	['0' ... '9'] = C_DIGIT | C_IDCONT | C_TAG, ['$'] = C_IDCONT,
	['~'] = C_OP | C_QUAL, ['!'] = C_OP | C_QUAL, ['@'] = C_OP | C_QUAL, ['#'] = C_OP | C_QUAL,
	['^'] = C_OP | C_QUAL, ['&'] = C_OP | C_QUAL, ['|'] = C_OP | C_QUAL, ['`'] = C_OP | C_QUAL,
	['?'] = C_OP | C_QUAL, ['%'] = C_OP | C_QUAL,
	['+'] = C_OP, ['-'] = C_OP, ['*'] = C_OP, ['/'] = C_OP, ['<'] = C_OP, ['>'] = C_OP,
	['='] = C_OP,
};
#undef ID

enum tok_type {
	T_END = 0,
	T_WORD,	  /* keyword or unquoted identifier */
	T_QIDENT, /* "quoted" or U&"quoted" identifier */
	T_NUM,
	T_STR,	  /* every quoted or dollar-quoted string form */
	T_PARAM,  /* $k */
	T_OP,	  /* operator, also := */
	T_CAST,	  /* :: */
	T_LPAREN,
	T_RPAREN,
	T_LBRACK,
	T_RBRACK,
	T_COMMA,
	T_SEMI,
	T_OTHER,  /* any other byte, or "..": . : { \ NUL ... */
};

struct lex {
	const uint8_t *s;
	size_t n, pos;
	/* Bytes before pm_end are the +/- tail of an operator already cut: one-byte tokens each. */
	size_t pm_end;
};

struct tok {
	uint8_t type;
	bool ws;     /* whitespace or a comment came before it */
	bool closed; /* strings and quoted identifiers: the closing quote was there */
	size_t start, end;
};

static inline bool is_pm(uint8_t c)
{
	return c == '+' || c == '-';
}

/* Whitespace and comments before the next token. */
static bool lex_skip(struct lex *lx)
{
	const uint8_t *s = lx->s;
	size_t n = lx->n, i = lx->pos;
	bool ws = false;

	while (i < n) {
		if (cls[s[i]] & C_SPACE) {
			i++;
		} else if (s[i] == '-' && i + 1 < n && s[i + 1] == '-') {
			for (i += 2; i < n && s[i] != '\n' && s[i] != '\r'; i++)
				;
		} else if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
			/* Comments nest in PostgreSQL, unlike C; an open one runs to the end. */
			unsigned long depth = 1;

			for (i += 2; i < n && depth;) {
				if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
					depth++;
					i += 2;
				} else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
					depth--;
					i += 2;
				} else {
					i++;
				}
			}
		} else {
			break;
		}
		ws = true;
	}
	lx->pos = i;
	return ws;
}

/*
 * A quoted string from i, just past its opening quote; backslash: E'' escapes. Strings separated
 * only by whitespace holding a newline are one constant in SQL ('a'\n'b'), so they are one token.
 */
static size_t scan_string(const uint8_t *s, size_t n, size_t i, bool backslash, bool *closed)
{
	for (;;) {
		for (;;) {
			if (i >= n)
				goto open;
			if (!backslash) {
				const uint8_t *q = memchr(s + i, '\'', n - i);

				if (!q)
					goto open;
				i = q - s;
			} else {
				while (i < n && s[i] != '\'' && s[i] != '\\')
					i++;
				if (i >= n)
					goto open;
				if (s[i] == '\\') {
					i += 2;
					continue;
				}
			}
			if (i + 1 < n && s[i + 1] == '\'') {
				i += 2;
				continue;
			}
			i++;
			break;
		}
		size_t j = i;
		bool nl = false;

		for (; j < n && (cls[s[j]] & C_SPACE); j++)
			nl |= s[j] == '\n' || s[j] == '\r';
		if (!nl || j >= n || s[j] != '\'')
			break;
		i = j + 1;
	}
	*closed = true;
	return i;
open:
	*closed = false;
	return n;
}

static size_t scan_qident(const uint8_t *s, size_t n, size_t i, bool *closed)
{
	for (;;) {
		const uint8_t *q = i < n ? memchr(s + i, '"', n - i) : NULL;

		if (!q) {
			*closed = false;
			return n;
		}
		i = q - s + 1;
		if (i < n && s[i] == '"') {
			i++;
			continue;
		}
		*closed = true;
		return i;
	}
}

static size_t skip_digits(const uint8_t *s, size_t n, size_t i)
{
	while (i < n && ((cls[s[i]] & C_DIGIT) || s[i] == '_'))
		i++;
	return i;
}

/* decinteger, numeric, real and PostgreSQL 16's 0x/0o/0b forms; "1..2" stops before "..". */
static size_t scan_number(const uint8_t *s, size_t n, size_t i)
{
	uint8_t x = i + 1 < n ? s[i + 1] | 0x20 : 0;

	if (s[i] == '0' && (x == 'x' || x == 'o' || x == 'b') && i + 2 < n &&
	    (cls[s[i + 2]] & C_TAG)) {
		for (i += 2; i < n && (cls[s[i]] & C_TAG); i++)
			;
		return i;
	}
	i = skip_digits(s, n, i);
	if (i < n && s[i] == '.' && !(i + 1 < n && s[i + 1] == '.'))
		i = skip_digits(s, n, i + 1);
	if (i < n && (s[i] | 0x20) == 'e') {
		size_t k = i + 1;

		if (k < n && is_pm(s[k]))
			k++;
		if (k < n && (cls[s[k]] & C_DIGIT))
			i = skip_digits(s, n, k);
	}
	return i;
}

/*
 * An operator as scan.l cuts it: a run of op chars, stopped by a comment start, and losing trailing
 * + and - unless it holds one of ~!@#^&|`?% (so "=-5" is "=" then "-5"). The lost tail becomes
 * one-byte tokens; pm_end remembers it so a long run of +/- is not scanned again for each byte.
 */
static size_t scan_op(struct lex *lx, size_t i)
{
	const uint8_t *s = lx->s;
	size_t n = lx->n, j = i, k, e;

	if (i < lx->pm_end)
		return i + 1;
	while (j < n && (cls[s[j]] & C_OP)) {
		if (j > i && j + 1 < n &&
		    ((s[j] == '-' && s[j + 1] == '-') || (s[j] == '/' && s[j + 1] == '*')))
			break;
		j++;
	}
	if (j - i < 2 || !is_pm(s[j - 1]))
		return j;
	for (k = i; k < j - 1; k++)
		if (cls[s[k]] & C_QUAL)
			return j;
	for (e = j; e - i > 1 && is_pm(s[e - 1]); e--)
		;
	lx->pm_end = j;
	return e;
}

static void lex_next(struct lex *lx, struct tok *t)
{
	const uint8_t *s = lx->s;
	size_t n = lx->n, i, e;
	uint8_t c, c1;

	t->ws = lex_skip(lx);
	i = lx->pos;
	t->start = i;
	t->closed = true;
	if (i >= n) {
		t->type = T_END;
		t->end = n;
		return;
	}
	c = s[i];
	c1 = i + 1 < n ? s[i + 1] : 0;
	e = i + 1;
	switch (c) {
	case '\'':
		t->type = T_STR;
		e = scan_string(s, n, i + 1, false, &t->closed);
		break;
	case '"':
		t->type = T_QIDENT;
		e = scan_qident(s, n, i + 1, &t->closed);
		break;
	case '(':
		t->type = T_LPAREN;
		break;
	case ')':
		t->type = T_RPAREN;
		break;
	case '[':
		t->type = T_LBRACK;
		break;
	case ']':
		t->type = T_RBRACK;
		break;
	case ',':
		t->type = T_COMMA;
		break;
	case ';':
		t->type = T_SEMI;
		break;
	case ':':
		t->type = c1 == ':' ? T_CAST : c1 == '=' ? T_OP : T_OTHER;
		e = t->type == T_OTHER ? i + 1 : i + 2;
		break;
	case '$':
		if (cls[c1] & C_DIGIT) {
			/* A parameter; scan.l's param_junk ("$1abc") is part of it. */
			for (e = i + 1; e < n && (cls[s[e]] & C_DIGIT); e++)
				;
			if (e < n && (cls[s[e]] & C_IDSTART))
				while (e < n && (cls[s[e]] & C_IDCONT))
					e++;
			t->type = T_PARAM;
			break;
		}
		e = i + 1;
		if (cls[c1] & C_IDSTART)
			while (e < n && (cls[s[e]] & C_TAG))
				e++;
		if (e < n && s[e] == '$') {
			/* $tag$ ... $tag$: the body ends at the first copy of the delimiter. */
			size_t dlen = e + 1 - i;
			const uint8_t *q = memmem(s + e + 1, n - e - 1, s + i, dlen);

			t->type = T_STR;
			t->closed = q != NULL;
			e = q ? (size_t)(q - s) + dlen : n;
			break;
		}
		t->type = T_OTHER; /* a lone '$', as scan.l's dolqfailed */
		e = i + 1;
		break;
	case '.':
		if (cls[c1] & C_DIGIT) {
			t->type = T_NUM;
			e = scan_number(s, n, i);
		} else {
			t->type = T_OTHER;
			e = c1 == '.' ? i + 2 : i + 1; /* "..", or "1..2" would read as 1 .2 */
		}
		break;
	default:
		if (cls[c] & C_DIGIT) {
			t->type = T_NUM;
			e = scan_number(s, n, i);
		} else if (cls[c] & C_IDSTART) {
			uint8_t l = c | 0x20;

			if (c1 == '\'' && (l == 'e' || l == 'b' || l == 'x' || l == 'n')) {
				t->type = T_STR;
				e = scan_string(s, n, i + 2, l == 'e', &t->closed);
			} else if (l == 'u' && c1 == '&' && i + 2 < n && s[i + 2] == '\'') {
				t->type = T_STR;
				e = scan_string(s, n, i + 3, false, &t->closed);
			} else if (l == 'u' && c1 == '&' && i + 2 < n && s[i + 2] == '"') {
				t->type = T_QIDENT;
				e = scan_qident(s, n, i + 3, &t->closed);
			} else {
				for (e = i + 1; e < n && (cls[s[e]] & C_IDCONT); e++)
					;
				t->type = T_WORD;
			}
		} else if (cls[c] & C_OP) {
			t->type = T_OP;
			e = scan_op(lx, i);
		} else {
			t->type = T_OTHER;
		}
		break;
	}
	t->end = e;
	lx->pos = e;
}

/* Is s[start..end) the lower-case word w (letters only), in any case? */
static inline bool word_is(const uint8_t *s, size_t start, size_t end, const char *w)
{
	size_t n = end - start;

	/* Inlined with a literal, this compares with a constant: most words stop here. */
	if (n != __builtin_strlen(w))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((s[start + i] | 0x20) != (uint8_t)w[i])
			return false;
	return true;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 when it is not one. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];

	if (c < 0xc2 || c > 0xf4)
		return 0;
	if (n < 2 || (p[1] & 0xc0) != 0x80)
		return 0;
	if (c < 0xe0)
		return 2;
	if (n < 3 || (p[2] & 0xc0) != 0x80)
		return 0;
	if (c < 0xf0) /* no overlong forms, no surrogates */
		return (c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ? 0 : 3;
	if (n < 4 || (p[3] & 0xc0) != 0x80 || (c == 0xf0 && p[1] < 0x90) ||
	    (c == 0xf4 && p[1] > 0x8f))
		return 0;
	return 4;
}

enum xmode {
	X_RAW,	 /* our own bytes: placeholders, lists */
	X_WORD,	 /* ASCII lower case */
	X_TEXT,	 /* verbatim */
};

/*
 * Copies src to dst as the output shows it, byte for byte the same length: control bytes and bytes
 * that are not UTF-8 become '?'. Stops before a sequence that would not fit in cap; returns the
 * bytes done.
 */
static inline size_t xform(uint8_t *dst, size_t cap, const uint8_t *src, size_t n,
			   enum xmode m)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	size_t i = 0;

	if (m == X_RAW) {
		n = n < cap ? n : cap;
		memcpy(dst, src, n);
		return n;
	}
	/* Eight printable ASCII bytes at a time, upper case folded with carry-free byte adds. */
	for (; i + 8 <= n && i + 8 <= cap; i += 8) {
		uint64_t w, up;

		memcpy(&w, src + i, 8);
		/* Any byte >= 0x80, < 0x20 or == 0x7f: the byte loop below. */
		if ((w & highs) || ((w - 0x20 * ones) & ~w & highs) ||
		    (((w ^ 0x7f * ones) - ones) & highs))
			break;
		if (m == X_WORD) {
			up = (w + (0x80 - 'A') * ones) & ~(w + (0x80 - 'Z' - 1) * ones) & highs;
			w |= up >> 2;
		}
		memcpy(dst + i, &w, 8);
	}
	while (i < n && i < cap) {
		uint8_t c = src[i];

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				c = '?';
			else if (m == X_WORD && (uint8_t)(c - 'A') < 26)
				c += 'a' - 'A';
			dst[i++] = c;
			continue;
		}
		size_t k = utf8_len(src + i, n - i);

		if (!k) {
			dst[i++] = '?';
			continue;
		}
		if (i + k > cap)
			break;
		memcpy(dst + i, src + i, k);
		i += k;
	}
	return i;
}

/* The id: xxh64's round and avalanche over 8-byte little-endian words, fed as bytes come. */
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

struct hasher {
	uint64_t h, total;
	uint8_t tail[8];
	unsigned nt;
};

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

static inline uint64_t hash_word(uint64_t h, uint64_t w)
{
	h ^= rotl64(w * P2, 31) * P1;
	return rotl64(h, 27) * P1 + P4;
}

static void hash_update(struct hasher *hs, const uint8_t *p, size_t n)
{
	hs->total += n;
	if (hs->nt) {
		while (n && hs->nt < 8) {
			hs->tail[hs->nt++] = *p++;
			n--;
		}
		if (hs->nt < 8)
			return;
		hs->h = hash_word(hs->h, load_le64(hs->tail));
		hs->nt = 0;
	}
	for (; n >= 8; p += 8, n -= 8)
		hs->h = hash_word(hs->h, load_le64(p));
	memcpy(hs->tail, p, n);
	hs->nt = n;
}

static uint64_t hash_final(struct hasher *hs)
{
	uint64_t h = hs->h;

	if (hs->nt) {
		memset(hs->tail + hs->nt, 0, 8 - hs->nt);
		h = hash_word(h, load_le64(hs->tail));
	}
	h ^= hs->total * P3;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

/* Parameters remembered for renumbering; past this many, a repeated $k gets a new number. */
#define PMAP_N 32

enum vstate {
	V_NONE,
	V_EXPECT, /* VALUES seen, its first row not begun */
	V_ROW,	  /* inside the first row */
	V_AFTER,  /* after a row: ", (" starts one to drop */
};

enum kstate {
	K_FIRST, /* nothing but '(' yet */
	K_WITH,	 /* WITH: the first DML word at the WITH's depth decides */
	K_DONE,
};

struct fp {
	struct sql_fingerprint *out;
	const uint8_t *s;
	struct hasher hs;
	size_t tlen;	       /* bytes of the normal form in out->text */
	bool full;	       /* out->text is closed with "..."; the rest is only hashed */
	bool any;	       /* something was written */
	uint8_t last;	       /* its last byte (as read), to keep words apart */
	uint32_t nparams;
	unsigned semis;	       /* ';' held back: trailing ones are dropped */
	bool semi_ws;
	uint8_t prev_type;     /* previous token written, for unary minus, booleans, lists */
	size_t prev_start, prev_end;
	unsigned depth, vdepth, with_depth;
	uint8_t vstate, kstate;
	unsigned np;
	uint32_t porig[PMAP_N], pnew[PMAP_N];
};

static void emit(struct fp *f, bool ws, const uint8_t *src, size_t n, enum xmode m)
{
	char *text = f->out->text;
	bool sp = f->any && (ws || ((cls[f->last] & C_IDCONT) && (cls[src[0]] & C_IDCONT)));

	f->any = true;
	f->last = src[n - 1];
	if (!f->full && f->tlen + sp + n > SQL_FP_MAX_TEXT) {
		/* Cut before the token that does not fit; what was written is hashed now. */
		f->full = true;
		hash_update(&f->hs, (const uint8_t *)text, f->tlen);
		memcpy(text + f->tlen, "...", sizeof("...")); /* text has room for it and the NUL */
	}
	if (!f->full) {
		if (sp)
			text[f->tlen++] = ' ';
		f->tlen += xform((uint8_t *)text + f->tlen, n, src, n, m);
		return;
	}
	if (sp)
		hash_update(&f->hs, (const uint8_t *)" ", 1);
	while (n) {
		uint8_t buf[256];
		size_t k = xform(buf, sizeof(buf), src, n, m);

		hash_update(&f->hs, buf, k);
		src += k;
		n -= k;
	}
}

static void emit_tok(struct fp *f, const struct tok *t, enum xmode m)
{
	emit(f, t->ws, f->s + t->start, t->end - t->start, m);
	f->prev_type = t->type;
	f->prev_start = t->start;
	f->prev_end = t->end;
}

/* "$n", with open/close around it and the squashed-list comment when open is set. */
static void emit_placeholder(struct fp *f, bool ws, uint32_t num, char open, char close)
{
	static const char squash[] = " /*, ... */";
	uint8_t b[32];
	size_t k = 16, e = 16;

	do
		b[--k] = '0' + num % 10;
	while ((num /= 10));
	b[--k] = '$';
	if (open) {
		b[--k] = open;
		memcpy(b + e, squash, sizeof(squash) - 1);
		e += sizeof(squash) - 1;
		b[e++] = close;
	}
	emit(f, ws, b + k, e - k, X_RAW);
	f->prev_type = open ? T_RPAREN : T_NUM;
}

static uint32_t param_number(struct fp *f, const struct tok *t)
{
	uint32_t v = 0;
	bool ok = true;

	for (size_t i = t->start + 1; i < t->end && (cls[f->s[i]] & C_DIGIT); i++) {
		if (v >= 100000000)
			ok = false;
		v = v % 100000000 * 10 + (f->s[i] - '0');
	}
	for (unsigned i = 0; ok && i < f->np; i++)
		if (f->porig[i] == v)
			return f->pnew[i];
	f->nparams++;
	if (ok && f->np < PMAP_N) {
		f->porig[f->np] = v;
		f->pnew[f->np++] = f->nparams;
	}
	return f->nparams;
}

static bool is_cmp(const uint8_t *s, size_t start, size_t end)
{
	size_t n = end - start;

	if (n == 1)
		return s[start] == '=' || s[start] == '<' || s[start] == '>';
	if (n != 2)
		return false;
	if (s[start + 1] == '=')
		return s[start] == '<' || s[start] == '>' || s[start] == '!';
	return s[start] == '<' && s[start + 1] == '>';
}

/* Words after which a '-' can only be a sign: the operand of an expression comes next. */
static const char *const operand_kw[] = {
	"all",	   "and",     "any",	"between", "by",     "case",	  "default", "distinct",
	"else",	   "having",  "ilike",	"in",	   "is",     "like",	  "limit",   "maxvalue",
	"minvalue", "not",    "offset", "on",	   "or",     "return",	  "returning", "select",
	"set",	   "similar", "some",	"then",	   "to",     "using",	  "values",  "when",
	"where",   "with",
};

static bool unary_ok(const struct fp *f)
{
	switch (f->prev_type) {
	case T_END:
	case T_OP:
	case T_LPAREN:
	case T_LBRACK:
	case T_COMMA:
	case T_SEMI:
		return true;
	case T_WORD:
		for (size_t i = 0; i < sizeof(operand_kw) / sizeof(operand_kw[0]); i++)
			if (word_is(f->s, f->prev_start, f->prev_end, operand_kw[i]))
				return true;
		return false;
	default:
		return false;
	}
}

/*
 * From just past IN's '(' or ARRAY's '[': is this a list of constants and parameters, each maybe
 * with a ::type, up to the closer? If so lx moves past it.
 */
static bool try_squash(struct lex *lx, uint8_t closer)
{
	struct lex l = *lx;
	struct tok t;

	for (;;) {
		lex_next(&l, &t);
		if (t.type == T_OP && t.end - t.start == 1 && l.s[t.start] == '-')
			lex_next(&l, &t);
		if (t.type == T_WORD && (word_is(l.s, t.start, t.end, "true") ||
					 word_is(l.s, t.start, t.end, "false")))
			;
		else if (t.type != T_NUM && t.type != T_STR && t.type != T_PARAM)
			return false;
		lex_next(&l, &t);
		if (t.type == T_CAST) {
			lex_next(&l, &t);
			if (t.type != T_WORD)
				return false;
			for (;;) {
				lex_next(&l, &t);
				if (t.type == T_LBRACK) {
					lex_next(&l, &t);
					if (t.type != T_RBRACK)
						return false;
				} else if (t.type != T_WORD) {
					break;
				}
			}
		}
		if (t.type == closer) {
			*lx = l;
			return true;
		}
		if (t.type != T_COMMA)
			return false;
	}
}

/* From just past a '(', past its ')' (or to the end). */
static void skip_group(struct lex *lx)
{
	unsigned long depth = 1;
	struct tok t;

	while (depth) {
		lex_next(lx, &t);
		if (t.type == T_END)
			return;
		if (t.type == T_LPAREN)
			depth++;
		else if (t.type == T_RPAREN)
			depth--;
	}
}

static const struct {
	const char *word;
	uint8_t kind;
} kind_words[] = {
	{ "select", SQL_SELECT },   { "values", SQL_SELECT },	{ "table", SQL_SELECT },
	{ "insert", SQL_INSERT },   { "update", SQL_UPDATE },	{ "delete", SQL_DELETE },
	{ "create", SQL_DDL },	    { "alter", SQL_DDL },	{ "drop", SQL_DDL },
	{ "truncate", SQL_DDL },    { "comment", SQL_DDL },	{ "grant", SQL_DDL },
	{ "revoke", SQL_DDL },	    { "begin", SQL_BEGIN },	{ "start", SQL_BEGIN },
	{ "commit", SQL_COMMIT },   { "end", SQL_COMMIT },	{ "rollback", SQL_ROLLBACK },
	{ "abort", SQL_ROLLBACK },
};

static int kind_of_word(const uint8_t *s, const struct tok *t, bool dml_only)
{
	for (size_t i = 0; i < sizeof(kind_words) / sizeof(kind_words[0]); i++) {
		if (dml_only && kind_words[i].kind > SQL_DELETE)
			break;
		if (word_is(s, t->start, t->end, kind_words[i].word))
			return kind_words[i].kind;
	}
	return -1;
}

static void kind_step(struct fp *f, const struct tok *t)
{
	int k;

	if (t->type == T_LPAREN && f->kstate == K_FIRST)
		return; /* (SELECT ...) UNION (...) */
	if (t->type != T_WORD) {
		if (f->kstate == K_FIRST) {
			f->out->kind = SQL_OTHER;
			f->kstate = K_DONE;
		}
		return;
	}
	if (f->kstate == K_FIRST) {
		if (word_is(f->s, t->start, t->end, "with")) {
			f->kstate = K_WITH;
			f->with_depth = f->depth;
			return;
		}
		k = kind_of_word(f->s, t, false);
		f->out->kind = k < 0 ? SQL_OTHER : (enum sql_kind)k;
		f->kstate = K_DONE;
		return;
	}
	/* WITH: CTEs are in parentheses; the main statement is the first DML at WITH's level. */
	if (f->depth != f->with_depth)
		return;
	k = kind_of_word(f->s, t, true);
	if (k >= 0) {
		f->out->kind = (enum sql_kind)k;
		f->kstate = K_DONE;
	}
}

static void flush_semis(struct fp *f)
{
	static const uint8_t semi = ';';

	for (unsigned i = 0; i < f->semis; i++)
		emit(f, i == 0 && f->semi_ws, &semi, 1, X_RAW);
	f->semis = 0;
	f->prev_type = T_SEMI;
}

void sql_fingerprint__compute(const char *sql, size_t len, struct sql_fingerprint *out)
{
	struct fp f;
	/* "" for NULL: the lexer never reads it (n is 0), and no path holds a NULL base pointer. */
	struct lex lx = { .s = (const uint8_t *)(sql ? sql : ""), .n = sql ? len : 0 };
	struct tok t, p;

	/* Field by field: porig/pnew need no zeroing, np bounds them. */
	f.out = out;
	f.s = lx.s;
	f.hs.h = P5;
	f.hs.total = 0;
	f.hs.nt = 0;
	f.tlen = 0;
	f.full = f.any = false;
	f.last = 0;
	f.nparams = 0;
	f.semis = 0;
	f.semi_ws = false;
	f.prev_type = T_END;
	f.prev_start = f.prev_end = 0;
	f.depth = f.vdepth = f.with_depth = 0;
	f.vstate = V_NONE;
	f.kstate = K_FIRST;
	f.np = 0;

	out->kind = SQL_OTHER;
	for (;;) {
		lex_next(&lx, &t);
		if (t.type == T_END)
			break;
		if (t.type == T_SEMI) {
			/* Held back: dropped if nothing follows, or if nothing came before. */
			if (f.any && !f.semis++)
				f.semi_ws = t.ws;
			f.vstate = V_NONE;
			continue;
		}
		if (f.semis)
			flush_semis(&f);
		if (f.kstate != K_DONE)
			kind_step(&f, &t);
		if ((f.vstate == V_EXPECT && t.type != T_LPAREN) ||
		    (f.vstate == V_AFTER && t.type != T_COMMA))
			f.vstate = V_NONE;

		switch (t.type) {
		case T_WORD:
			if ((word_is(f.s, t.start, t.end, "true") ||
			     word_is(f.s, t.start, t.end, "false"))) {
				bool cmp = f.prev_type == T_OP &&
					   is_cmp(f.s, f.prev_start, f.prev_end);

				if (!cmp) {
					struct lex pl = lx;

					lex_next(&pl, &p);
					cmp = p.type == T_OP && is_cmp(f.s, p.start, p.end);
				}
				if (cmp) {
					emit_placeholder(&f, t.ws, ++f.nparams, 0, 0);
					break;
				}
			}
			if (word_is(f.s, t.start, t.end, "values")) {
				f.vstate = V_EXPECT;
				f.vdepth = f.depth;
			}
			emit_tok(&f, &t, X_WORD);
			break;
		case T_QIDENT:
			if (t.closed)
				emit_tok(&f, &t, X_TEXT);
			else
				emit_placeholder(&f, t.ws, ++f.nparams, 0, 0);
			break;
		case T_NUM:
		case T_STR:
			emit_placeholder(&f, t.ws, ++f.nparams, 0, 0);
			break;
		case T_PARAM:
			emit_placeholder(&f, t.ws, param_number(&f, &t), 0, 0);
			break;
		case T_OP:
			if (t.end - t.start == 1 && f.s[t.start] == '-' && unary_ok(&f)) {
				struct lex pl = lx;

				lex_next(&pl, &p);
				if (p.type == T_NUM) {
					lx = pl;
					emit_placeholder(&f, t.ws, ++f.nparams, 0, 0);
					break;
				}
			}
			emit_tok(&f, &t, X_TEXT);
			break;
		case T_LPAREN:
			if (f.prev_type == T_WORD && word_is(f.s, f.prev_start, f.prev_end, "in") &&
			    try_squash(&lx, T_RPAREN)) {
				emit_placeholder(&f, t.ws, ++f.nparams, '(', ')');
				break;
			}
			if (f.vstate == V_EXPECT)
				f.vstate = V_ROW;
			f.depth++;
			emit_tok(&f, &t, X_RAW);
			break;
		case T_RPAREN:
			if (f.depth)
				f.depth--;
			if (f.vstate == V_ROW && f.depth == f.vdepth)
				f.vstate = V_AFTER;
			emit_tok(&f, &t, X_RAW);
			break;
		case T_LBRACK:
			if (f.prev_type == T_WORD &&
			    word_is(f.s, f.prev_start, f.prev_end, "array") &&
			    try_squash(&lx, T_RBRACK)) {
				emit_placeholder(&f, t.ws, ++f.nparams, '[', ']');
				break;
			}
			emit_tok(&f, &t, X_RAW);
			break;
		case T_COMMA:
			if (f.vstate == V_AFTER) {
				struct lex pl = lx;

				lex_next(&pl, &p);
				if (p.type == T_LPAREN) {
					/* Another VALUES row: dropped, its constants unnumbered. */
					lx = pl;
					skip_group(&lx);
					break;
				}
				f.vstate = V_NONE;
			}
			emit_tok(&f, &t, X_RAW);
			break;
		default:
			emit_tok(&f, &t, X_TEXT);
			break;
		}
	}

	if (f.kstate == K_WITH)
		out->kind = SQL_OTHER;
	if (!f.full)
		hash_update(&f.hs, (const uint8_t *)out->text, f.tlen);
	out->id = hash_final(&f.hs);
	out->n_params = f.nparams;
	out->truncated = f.full;
	out->len = f.tlen + (f.full ? 3 : 0);
	out->text[out->len] = '\0';
}

size_t sql_fingerprint__next_statement(const char *sql, size_t len, size_t *stmt_len)
{
	struct lex lx = { .s = (const uint8_t *)(sql ? sql : ""), .n = sql ? len : 0 };
	unsigned long paren = 0, begin = 0, nwords = 0;
	char ids[4] = { 0 };
	bool any = false;
	struct tok t;

	if (stmt_len)
		*stmt_len = 0;
	for (;;) {
		lex_next(&lx, &t);
		switch (t.type) {
		case T_END:
			if (!any)
				return 0;
			if (stmt_len)
				*stmt_len = lx.n;
			return lx.n;
		case T_SEMI:
			if (any && !paren && !begin) {
				if (stmt_len)
					*stmt_len = t.start;
				return t.end;
			}
			continue;
		case T_LPAREN:
			paren++;
			break;
		case T_RPAREN:
			if (paren)
				paren--;
			break;
		case T_WORD:
			/*
			 * psql's rule for SQL-standard function bodies: in CREATE [OR REPLACE]
			 * FUNCTION/PROCEDURE, BEGIN (and CASE inside it) opens what END closes.
			 */
			if (nwords < 4) {
				static const char *const w[] = { "create", "function", "procedure",
								 "or", "replace" };

				for (size_t i = 0; i < 5; i++)
					if (word_is(lx.s, t.start, t.end, w[i]))
						ids[nwords] = w[i][0];
			}
			nwords++;
			if (ids[0] == 'c' && !paren &&
			    (ids[1] == 'f' || ids[1] == 'p' ||
			     (ids[1] == 'o' && ids[2] == 'r' &&
			      (ids[3] == 'f' || ids[3] == 'p')))) {
				/* a CASE inside BEGIN ATOMIC has its own END */
				if (word_is(lx.s, t.start, t.end, "begin") ||
				    (begin && word_is(lx.s, t.start, t.end, "case")))
					begin++;
				else if (begin && word_is(lx.s, t.start, t.end, "end"))
					begin--;
			}
			break;
		default:
			break;
		}
		any = true;
	}
}

const char *sql_kind__name(enum sql_kind k)
{
	static const char *const names[SQL_KIND_COUNT] = {
		[SQL_SELECT] = "select", [SQL_INSERT] = "insert",     [SQL_UPDATE] = "update",
		[SQL_DELETE] = "delete", [SQL_DDL] = "ddl",	       [SQL_BEGIN] = "begin",
		[SQL_COMMIT] = "commit", [SQL_ROLLBACK] = "rollback", [SQL_OTHER] = "other",
	};

	return (unsigned)k < SQL_KIND_COUNT ? names[k] : "other";
}
