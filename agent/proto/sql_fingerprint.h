/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * SQL text to a fingerprint: the statement normalised the way pg_stat_statements shows it
 * (constants as $n), its kind, and a 64-bit id of the normalised text, to group queries and to
 * export them without the values they carry. One lexer pass, no allocation, nothing but libc;
 * knows nothing of BPF, the wire protocol or HTTP.
 *
 * The normal form, token by token (PostgreSQL's lexical rules, standard_conforming_strings on):
 *  - constants become $1, $2... in order of appearance: numbers (integer, decimal, exponent,
 *    0x/0o/0b, 1_000), a unary minus before a number ("a = -5", "+ -3164"; not "a - 5"), every
 *    string form ('..' with '' escapes, E'..' with backslash escapes, B'..', X'..', N'..', U&'..',
 *    strings continued across a newline, $$..$$, $tag$..$tag$), and TRUE/FALSE when they are an
 *    operand of a comparison (= <> != < > <= >=); NULL stays. Parameters $k are renumbered with
 *    the rest, and a $k met again gets the number it got the first time;
 *  - IN (...) and ARRAY[...] holding only constants and parameters (each maybe cast with ::type)
 *    become "($n C)" and "[$n C]" whatever their length, C being the comment ", ... " the way
 *    PostgreSQL 18 prints squashed lists; VALUES (..), (..), ... keeps its first row only, so
 *    one-row and many-row inserts group together;
 *  - comments (-- and nested C-style ones) and whitespace runs become one space where the input
 *    had them between two tokens, none at either end; unquoted words are in lower case (ASCII),
 *    "Quoted" identifiers verbatim; leading and trailing semicolons go;
 *  - the text is printable: control bytes and bytes that are not valid UTF-8 show as '?';
 *  - never a constant's content: an unterminated string, dollar quote or quoted identifier runs
 *    to the end of the input and becomes a placeholder like any other constant.
 *
 * The id is a 64-bit hash (xxh64-style, our own code, fixed seed) of the whole normalised text,
 * even when text[] had to be cut. It is not PostgreSQL's queryid, which hashes the parse tree:
 * equal ids here mean equal normal forms, and the same query has the same id on every host.
 *
 * Bounds: linear time in len for any input; text capped at SQL_FP_MAX_TEXT bytes (cut before the
 * token that does not fit, then "..."); nothing read past sql[len - 1]; NUL bytes are bytes.
 */
#ifndef NEXUS_SQL_FINGERPRINT_H
#define NEXUS_SQL_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SQL_FP_MAX_TEXT 1024

enum sql_kind {
	SQL_SELECT = 0,	 /* SELECT, VALUES, TABLE, and WITH ... SELECT */
	SQL_INSERT,
	SQL_UPDATE,
	SQL_DELETE,
	SQL_DDL,	 /* CREATE ALTER DROP TRUNCATE COMMENT GRANT REVOKE */
	SQL_BEGIN,	 /* BEGIN, START TRANSACTION */
	SQL_COMMIT,	 /* COMMIT, END (also COMMIT PREPARED) */
	SQL_ROLLBACK,	 /* ROLLBACK, ABORT (also ROLLBACK TO SAVEPOINT, ROLLBACK PREPARED) */
	SQL_OTHER,	 /* COPY SET SHOW VACUUM EXPLAIN MERGE CALL..., and anything unknown */
	SQL_KIND_COUNT,
};

struct sql_fingerprint {
	uint64_t id;		/* hash of the whole normalised text */
	enum sql_kind kind;
	uint32_t n_params;	/* placeholders in the whole normalised text: the highest $n */
	size_t len;		/* strlen(text), "..." included */
	bool truncated;		/* text holds a prefix of the normalised text, then "..." */
	char text[SQL_FP_MAX_TEXT + 4];
};

/*
 * Normalises sql[0..len) as one statement (use next_statement to split a script; a ';' inside is
 * kept). sql may be NULL when len is 0. Fills every field of out.
 */
void sql_fingerprint__compute(const char *sql, size_t len, struct sql_fingerprint *out);

/*
 * Splits a script the way psql does: at a ';' outside quotes, dollar quotes, comments,
 * parentheses and a CREATE FUNCTION/PROCEDURE's BEGIN ATOMIC ... END. Returns the bytes the next
 * statement takes from sql (its ';' included; empty statements and leading blanks are folded into
 * it) and sets *stmt_len to the length to hand to compute (up to, not including, the ';').
 * Returns 0, with *stmt_len 0, when nothing but blanks, comments and ';' remains. stmt_len may be
 * NULL. An unterminated quote or comment runs to the end: the rest is one statement.
 */
size_t sql_fingerprint__next_statement(const char *sql, size_t len, size_t *stmt_len);

/* "select", "insert", "update", "delete", "ddl", "begin", "commit", "rollback", "other". */
const char *sql_kind__name(enum sql_kind k);

#endif /* NEXUS_SQL_FINGERPRINT_H */
