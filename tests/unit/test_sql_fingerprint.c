// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sql_fingerprint: a fixture table (SQL in -> normal form and kind out) over every rule and
 * pgbench's own statements, then ids, secrets, the splitter, malformed input, the text cap and
 * linear time on 1 MB inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "proto/sql_fingerprint.h"

struct fixture {
	const char *in;
	const char *want;
	enum sql_kind kind;
	uint32_t n_params;
};

static const struct fixture fixtures[] = {
	/* pgbench's TPC-B script, as pgbench sends it (simple protocol). */
	{ "BEGIN;", "begin", SQL_BEGIN, 0 },
	{ "UPDATE pgbench_accounts SET abalance = abalance + -3164 WHERE aid = 48017;",
	  "update pgbench_accounts set abalance = abalance + $1 where aid = $2", SQL_UPDATE, 2 },
	{ "SELECT abalance FROM pgbench_accounts WHERE aid = 1;",
	  "select abalance from pgbench_accounts where aid = $1", SQL_SELECT, 1 },
	{ "UPDATE pgbench_tellers SET tbalance = tbalance + 4711 WHERE tid = 7;",
	  "update pgbench_tellers set tbalance = tbalance + $1 where tid = $2", SQL_UPDATE, 2 },
	{ "UPDATE pgbench_branches SET bbalance = bbalance + -3164 WHERE bid = 1;",
	  "update pgbench_branches set bbalance = bbalance + $1 where bid = $2", SQL_UPDATE, 2 },
	{ "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, "
	  "CURRENT_TIMESTAMP);",
	  "insert into pgbench_history (tid, bid, aid, delta, mtime) values ($1, $2, $3, $4, "
	  "current_timestamp)",
	  SQL_INSERT, 4 },
	{ "END;", "end", SQL_COMMIT, 0 },
	/* pgbench -i and -M extended/prepared */
	{ "vacuum analyze pgbench_branches", "vacuum analyze pgbench_branches", SQL_OTHER, 0 },
	{ "truncate table pgbench_accounts, pgbench_branches",
	  "truncate table pgbench_accounts, pgbench_branches", SQL_DDL, 0 },
	{ "copy pgbench_accounts from stdin with (freeze on)",
	  "copy pgbench_accounts from stdin with (freeze on)", SQL_OTHER, 0 },
	{ "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
	  "update pgbench_accounts set abalance = abalance + $1 where aid = $2", SQL_UPDATE, 2 },

	/* numbers, and the '-' that is a sign */
	{ "SELECT 1, 1.5, .5, 5., 1e10, 1.5E-3, 2e+4, 0x1F, 0o17, 0b101, 1_000_000",
	  "select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11", SQL_SELECT, 11 },
	{ "SELECT -1, - 2, a - 3, a-4, a=-5, (-6), -x, a * -7, x[-8:9]",
	  "select $1, $2, a - $3, a-$4, a=$5, ($6), -x, a * $7, x[$8:$9]", SQL_SELECT, 9 },
	{ "SELECT a FROM t WHERE b BETWEEN -1 AND -2 LIMIT 5 OFFSET 10",
	  "select a from t where b between $1 and $2 limit $3 offset $4", SQL_SELECT, 4 },
	{ "select 1..2, a[1:2]", "select $1..$2, a[$3:$4]", SQL_SELECT, 4 },

	/* strings of every form */
	{ "SELECT 'it''s', E'a\\'b\\\\', e'\\n', B'1010', X'FF', N'nat', U&'d\\0061t'",
	  "select $1, $2, $3, $4, $5, $6, $7", SQL_SELECT, 7 },
	{ "SELECT 'one'\n  'continued', 'two' 'three'", "select $1, $2 $3", SQL_SELECT, 3 },
	{ "SELECT $$it's$$, $fn$ a $$ b $fn$, $a$x$ab$y$a$",
	  "select $1, $2, $3", SQL_SELECT, 3 },
	{ "SELECT'a'FROM t", "select $1 from t", SQL_SELECT, 1 },
	{ "select interval '1 day', date '2024-01-01', 'x'::text",
	  "select interval $1, date $2, $3::text", SQL_SELECT, 3 },
	{ "select a$b, a$1, 1$a$b$a$", "select a$b, a$1, $1 $2", SQL_SELECT, 2 },

	/* booleans: constants only as operands of a comparison; NULL stays */
	{ "SELECT true, false FROM t WHERE a = TRUE AND b<>false AND true = c AND d IS TRUE",
	  "select true, false from t where a = $1 and b<>$2 and $3 = c and d is true", SQL_SELECT,
	  3 },
	{ "SELECT * FROM t WHERE a = NULL OR b IS NULL",
	  "select * from t where a = null or b is null", SQL_SELECT, 0 },

	/* parameters keep their place in the numbering; the same $k keeps one number */
	{ "SELECT * FROM t WHERE a = $1 AND b = 5", "select * from t where a = $1 and b = $2",
	  SQL_SELECT, 2 },
	{ "SELECT * FROM t WHERE b = 5 AND a = $1", "select * from t where b = $1 and a = $2",
	  SQL_SELECT, 2 },
	{ "SELECT $3, $1, $3, 7", "select $1, $2, $1, $3", SQL_SELECT, 3 },

	/* IN and ARRAY lists of constants squash, whatever their length */
	{ "SELECT * FROM t WHERE id IN (1, 2, 3)", "select * from t where id in ($1 /*, ... */)",
	  SQL_SELECT, 1 },
	{ "SELECT * FROM t WHERE id IN (7)", "select * from t where id in ($1 /*, ... */)",
	  SQL_SELECT, 1 },
	{ "select * from t where a not in ('x'::text, -2, $1, true) and b = 1",
	  "select * from t where a not in ($1 /*, ... */) and b = $2", SQL_SELECT, 2 },
	{ "select * from t where a in (1::character varying, 2::int[]) and b = ANY(ARRAY[1,2,3])",
	  "select * from t where a in ($1 /*, ... */) and b = any(array[$2 /*, ... */])",
	  SQL_SELECT, 2 },
	{ "select * from t where a in (select x from u where y = 1)",
	  "select * from t where a in (select x from u where y = $1)", SQL_SELECT, 1 },
	{ "select * from t where a in (b, 1) or c in (1, NULL)",
	  "select * from t where a in (b, $1) or c in ($2, null)", SQL_SELECT, 2 },
	{ "select array[[1,2],[3,4]]", "select array[[$1,$2],[$3,$4]]", SQL_SELECT, 4 },

	/* VALUES keeps its first row */
	{ "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z') ON CONFLICT DO NOTHING",
	  "insert into t (a, b) values ($1, $2) on conflict do nothing", SQL_INSERT, 2 },
	{ "insert into t values ($1, now()),($2, now()) returning id",
	  "insert into t values ($1, now()) returning id", SQL_INSERT, 1 },
	{ "VALUES (1, (2)), (3, (4));", "values ($1, ($2))", SQL_SELECT, 2 },
	{ "insert into t default values", "insert into t default values", SQL_INSERT, 0 },
	{ "select * from (values (1), (2)) v(x), u", "select * from (values ($1)) v(x), u",
	  SQL_SELECT, 1 },

	/* comments, blanks, case, quoted identifiers, semicolons */
	{ "  /* lead */ SeLeCt \"MixedCase\", Plain -- tail\n\tFROM  s.\"T\"\"x\" ;; \n",
	  "select \"MixedCase\", plain from s.\"T\"\"x\"", SQL_SELECT, 0 },
	{ "SELECT/* a /* nested */ still comment */1", "select $1", SQL_SELECT, 1 },
	{ "select a+/*c*/b, a/**/b", "select a+ b, a b", SQL_SELECT, 0 },
	{ ";; select 1; select 2;", "select $1; select $2", SQL_SELECT, 2 },
	{ "select U&\"d\\0061t\", \"ü\", ÜBER from t",
	  "select U&\"d\\0061t\", \"ü\", Über from t", SQL_SELECT, 0 },
	{ "select a::int, b->>'k', c @> '{}', d #- '{a}', e =- 1",
	  "select a::int, b->>$1, c @> $2, d #- $3, e =$4", SQL_SELECT, 4 },

	/* kinds */
	{ "with x as (select 1), y as (update t set a = 2 returning *) select * from x",
	  "with x as (select $1), y as (update t set a = $2 returning *) select * from x",
	  SQL_SELECT, 2 },
	{ "WITH RECURSIVE r(n) AS (VALUES (1) UNION ALL SELECT n+1 FROM r) "
	  "INSERT INTO t SELECT * FROM r",
	  "with recursive r(n) as (values ($1) union all select n+$2 from r) "
	  "insert into t select * from r",
	  SQL_INSERT, 2 },
	{ "WITH d AS (DELETE FROM q RETURNING *) DELETE FROM t USING d",
	  "with d as (delete from q returning *) delete from t using d", SQL_DELETE, 0 },
	{ "with x as (select 1) update t set a = 1", "with x as (select $1) update t set a = $2",
	  SQL_UPDATE, 2 },
	{ "with x as (select 1)", "with x as (select $1)", SQL_OTHER, 1 },
	{ "(SELECT 1) UNION (SELECT 2)", "(select $1) union (select $2)", SQL_SELECT, 2 },
	{ "TABLE t", "table t", SQL_SELECT, 0 },
	{ "DELETE FROM t WHERE a = 1", "delete from t where a = $1", SQL_DELETE, 1 },
	{ "CREATE TABLE t (a int DEFAULT -1)", "create table t (a int default $1)", SQL_DDL, 1 },
	{ "ALTER TABLE t ADD b int", "alter table t add b int", SQL_DDL, 0 },
	{ "DROP TABLE t", "drop table t", SQL_DDL, 0 },
	{ "COMMENT ON TABLE t IS 'x'", "comment on table t is $1", SQL_DDL, 1 },
	{ "GRANT SELECT ON t TO u", "grant select on t to u", SQL_DDL, 0 },
	{ "REVOKE ALL ON t FROM u", "revoke all on t from u", SQL_DDL, 0 },
	{ "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
	  "start transaction isolation level serializable", SQL_BEGIN, 0 },
	{ "begin", "begin", SQL_BEGIN, 0 },
	{ "COMMIT", "commit", SQL_COMMIT, 0 },
	{ "ROLLBACK", "rollback", SQL_ROLLBACK, 0 },
	{ "abort;", "abort", SQL_ROLLBACK, 0 },
	{ "SET search_path = 'public'", "set search_path = $1", SQL_OTHER, 1 },
	{ "SHOW work_mem", "show work_mem", SQL_OTHER, 0 },
	{ "EXPLAIN SELECT 1", "explain select $1", SQL_OTHER, 1 },
	{ "", "", SQL_OTHER, 0 },
	{ " ; -- nothing\n", "", SQL_OTHER, 0 },
	{ "42", "$1", SQL_OTHER, 1 },
};

static void compute_str(const char *s, struct sql_fingerprint *fp)
{
	sql_fingerprint__compute(s, strlen(s), fp);
}

static void test_fixtures(void **state)
{
	struct sql_fingerprint fp;
	int bad = 0;

	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		const struct fixture *f = &fixtures[i];

		compute_str(f->in, &fp);
		if (strcmp(fp.text, f->want) || fp.kind != f->kind || fp.n_params != f->n_params ||
		    fp.len != strlen(fp.text) || fp.truncated) {
			print_error("fixture %zu: %s\n  got  [%s] %s n=%u\n  want [%s] %s n=%u\n",
				    i, f->in, fp.text, sql_kind__name(fp.kind), fp.n_params,
				    f->want, sql_kind__name(f->kind), f->n_params);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static uint64_t id_of(const char *s)
{
	struct sql_fingerprint fp;

	compute_str(s, &fp);
	return fp.id;
}

static void test_ids(void **state)
{
	static const char *const same[][2] = {
		{ "SELECT * FROM t WHERE a = 1 AND b = 'x'",
		  "select * from t where a = 99 and b = 'yy'" },
		{ "UPDATE pgbench_accounts SET abalance = abalance + -3164 WHERE aid = 48017;",
		  "UPDATE pgbench_accounts SET abalance = abalance + 17 WHERE aid = 1" },
		{ "select * from t where id in (1,2,3)", "select * from t where id in ($1, 5)" },
		{ "select * from t where id in (7)",
		  "select * from t where id in (1, 2, 3, 4, 5, 6)" },
		{ "insert into t values (1, 'a')",
		  "insert into t values (2, 'b'), (3, 'c'), (4, 'd')" },
		{ "select $$a$$, E'\\'', 1.5e3", "select 'b', $x$c$x$, -2" },
		{ "select /* hint */ 1;", "select -- other\n 2" },
		{ "select * from t where a = $1", "select * from t where a = 5" },
		{ "select * from t where flag = true", "select * from t where flag = false" },
	};
	static const char *const differ[][2] = {
		{ "select a from t", "select b from t" },
		{ "select 1", "select 1, 2" },
		{ "select * from t where a in (1)", "select * from t where a = any(array[1])" },
		{ "select * from t where a = $1 or b = $1",
		  "select * from t where a = $1 or b = $2" },
		{ "select \"A\" from t", "select a from t" },
		{ "select a - 1", "select a, -1" },
		{ "select true", "select false" },
		{ "", " " "x" },
	};

	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (id_of(same[i][0]) != id_of(same[i][1]))
			fail_msg("same id expected: %s | %s", same[i][0], same[i][1]);
	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++)
		if (id_of(differ[i][0]) == id_of(differ[i][1]))
			fail_msg("different ids expected: %s | %s", differ[i][0], differ[i][1]);
	/* The id is a function of the normal form only, fixed across builds and hosts. */
	assert_true(id_of("SELECT 1") == id_of("select $1"));
	assert_true(id_of("") != 0);
}

static void assert_no(const struct sql_fingerprint *fp, const char *in, const char *secret)
{
	if (strstr(fp->text, secret))
		fail_msg("'%s' leaked from [%s]: [%s]", secret, in, fp->text);
}

static void test_secrets(void **state)
{
	static const char *const inputs[] = {
		"ALTER ROLE app PASSWORD 'password123'",
		"select * from users where pw = 'password123' and tok = $$secret$$",
		"select * from users where k = E'\\'xsecret' and pw = 'password123'",
		"select $tag$ secret $notit$ $tag$, U&'secret\\0041', 'a'\n'secret'",
		"select * from t where a in ('password123', 'secret')",
		"insert into t values ('password123'), ('secret')",
		"select 'password123",
		"select $$secret",
		"select $q$secret$Q$",
		"select e'secret\\'",
		"select * from t where a = 'pass''word123''secret'",
		"select -- 'password123\n 'secret'",
		"select \"secret",
		"select b'password123",
	};
	static const char *const secrets[] = { "password123", "secret", "word123", "xsecret" };
	struct sql_fingerprint fp;

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		compute_str(inputs[i], &fp);
		for (size_t j = 0; j < sizeof(secrets) / sizeof(secrets[0]); j++)
			assert_no(&fp, inputs[i], secrets[j]);
	}
	compute_str("ALTER ROLE app PASSWORD 'password123'", &fp);
	assert_string_equal(fp.text, "alter role app password $1");
	/* E'\\' is one backslash: what follows is a word, then a string. */
	compute_str("select E'\\\\' colX'ab' from t", &fp);
	assert_string_equal(fp.text, "select $1 colx $2 from t");
}

/* Splits s and checks each statement's bytes (with its ';') and what compute gets. */
static void check_split(const char *s, const char *const *want_stmt, const char *const *want_fp)
{
	size_t len = strlen(s), off = 0, n, sl;
	struct sql_fingerprint fp;
	int i = 0;

	while ((n = sql_fingerprint__next_statement(s + off, len - off, &sl))) {
		assert_true(sl <= n);
		assert_non_null(want_stmt[i]);
		if (strlen(want_stmt[i]) != n || memcmp(want_stmt[i], s + off, n))
			fail_msg("statement %d of [%s]: got [%.*s] want [%s]", i, s, (int)n,
				 s + off, want_stmt[i]);
		sql_fingerprint__compute(s + off, sl, &fp);
		assert_string_equal(fp.text, want_fp[i]);
		off += n;
		i++;
	}
	assert_int_equal(sl, 0);
	assert_null(want_stmt[i]);
}

static void test_splitter(void **state)
{
	size_t sl = 7;

	check_split("BEGIN; SELECT 1; COMMIT",
		    (const char *[]){ "BEGIN;", " SELECT 1;", " COMMIT", NULL },
		    (const char *[]){ "begin", "select $1", "commit" });
	check_split("select ';' ; select $$;$$ /* ; */; select \";\" -- ;\n;select E'\\';';",
		    (const char *[]){ "select ';' ;", " select $$;$$ /* ; */;",
				      " select \";\" -- ;\n;", "select E'\\';';", NULL },
		    (const char *[]){ "select $1", "select $1", "select \";\"", "select $1" });
	check_split(";; ;select 1;;\n  -- bye\n ; ",
		    (const char *[]){ ";; ;select 1;", NULL }, (const char *[]){ "select $1" });
	check_split("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT "
		    "CASE WHEN true THEN 2 END; END; SELECT 3",
		    (const char *[]){ "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC "
				      "SELECT 1; SELECT CASE WHEN true THEN 2 END; END;",
				      " SELECT 3", NULL },
		    (const char *[]){ "create function f() returns int language sql begin atomic "
				      "select $1; select case when true then $2 end; end",
				      "select $1" });
	check_split("create or replace procedure p() begin atomic insert into t values (1); end;"
		    "begin; end;",
		    (const char *[]){ "create or replace procedure p() begin atomic insert into t "
				      "values (1); end;",
				      "begin;", " end;", NULL },
		    (const char *[]){ "create or replace procedure p() begin atomic insert into t "
				      "values ($1); end",
				      "begin", "end" });
	check_split("create rule r as on insert to t do instead (insert into a values (1); "
		    "insert into b values (2)); select 1",
		    (const char *[]){ "create rule r as on insert to t do instead (insert into a "
				      "values (1); insert into b values (2));",
				      " select 1", NULL },
		    (const char *[]){ "create rule r as on insert to t do instead (insert into a "
				      "values ($1); insert into b values ($2))",
				      "select $1" });
	check_split("select 'unterminated; select 2",
		    (const char *[]){ "select 'unterminated; select 2", NULL },
		    (const char *[]){ "select $1" });
	check_split("select 1) ; select (2", (const char *[]){ "select 1) ;", " select (2", NULL },
		    (const char *[]){ "select $1)", "select ($1" });

	assert_int_equal(sql_fingerprint__next_statement("", 0, &sl), 0);
	assert_int_equal(sl, 0);
	assert_int_equal(sql_fingerprint__next_statement(NULL, 5, NULL), 0);
	assert_int_equal(sql_fingerprint__next_statement("  /* x */ ;", 11, &sl), 0);
	/* Never past len: the ';' after it is not seen. */
	assert_int_equal(sql_fingerprint__next_statement("select 1; x", 8, &sl), 8);
	assert_int_equal(sl, 8);
}

static void test_malformed(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{ "select 'abc", 0, "select $1" },
		{ "select E'abc\\", 0, "select $1" },
		{ "select $$abc$", 0, "select $1" },
		{ "select $a$abc$a", 0, "select $1" },
		{ "select \"abc", 0, "select $1" },
		{ "select 1 /* abc /* def */", 0, "select $1" },
		{ "select 1 -- abc", 0, "select $1" },
		{ "select $", 0, "select $" },
		{ "select a\0b, '\0secret'", 21, "select a?b, $1" },
		{ "select \x01\x7f\"\x02\"", 0, "select ??\"?\"" },
		{ "select caf\xc3\xa9, bad\xff\xfe, \"q\xe0\x80\x80\", \xed\xa0\x80x",
		  0, "select caf\xc3\xa9, bad??, \"q???\", ???x" },
		{ "select \xf0\x9f\x98\x80 from \xf4\x90\x80\x80", 0,
		  "select \xf0\x9f\x98\x80 from ????" },
		{ "\xc3", 0, "?" },
		{ "select 1 )))) (( ]]", 0, "select $1 )))) (( ]]" },
		{ "in (1, 2", 0, "in ($1, $2" },
		{ "values (1), (2", 0, "values ($1)" },
		{ "select - - 1, +-+-1, ---", 0, "select - $1, +-+$2," },
		{ "select 0x, 0xg, 1e, 1e+, 1ee", 0, "select $1 x, $2, $3 e, $4 e+, $5 ee" },
	};
	struct sql_fingerprint fp;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);

		sql_fingerprint__compute(cases[i].in, len, &fp);
		if (strcmp(fp.text, cases[i].want))
			fail_msg("case %zu: got [%s] want [%s]", i, fp.text, cases[i].want);
		assert_int_equal(fp.len, strlen(fp.text));
	}
	assert_null(strstr(fp.text, "secret"));
	sql_fingerprint__compute(NULL, 0, &fp);
	assert_string_equal(fp.text, "");
	assert_int_equal(fp.kind, SQL_OTHER);
	/* Only len bytes are read: a quote after them is not there. */
	sql_fingerprint__compute("select 'a' + 'b'", 15, &fp);
	assert_string_equal(fp.text, "select $1 + $2");
}

static char *big;

static void test_cap(void **state)
{
	struct sql_fingerprint fp, fp2;
	char want[64];
	size_t o = 0, wo = 0, wlen;

	/* 400 columns: "select c0000, c0001, ...", far more than the cap. */
	o += sprintf(big + o, "SELECT c0000");
	for (int i = 1; i < 400; i++)
		o += sprintf(big + o, ", c%04d", i);
	o += sprintf(big + o, " FROM t WHERE a = 1");
	sql_fingerprint__compute(big, o, &fp);
	assert_true(fp.truncated);
	assert_true(fp.len <= SQL_FP_MAX_TEXT + 3);
	assert_int_equal(fp.len, strlen(fp.text));
	assert_string_equal(fp.text + fp.len - 3, "...");
	assert_int_equal(fp.n_params, 1);
	assert_int_equal(fp.kind, SQL_SELECT);
	/* Cut at a token boundary: a prefix of the normal form that ends with a whole token. */
	for (int i = 0; wo < fp.len - 3; i++) {
		wlen = sprintf(want, i ? ", c%04d" : "select c%04d", i);
		if (wo + wlen > fp.len - 3) {
			/* The next token would not fit: only its separator may be missing. */
			assert_true(wo + 1 == fp.len - 3 || wo == fp.len - 3);
			break;
		}
		assert_memory_equal(fp.text + wo, want, wlen);
		wo += wlen;
	}
	assert_true(fp.len - 3 > SQL_FP_MAX_TEXT - 8);

	/* The id covers what was cut: other constants, same id; another table past the cut, not. */
	big[o - 1] = '7';
	sql_fingerprint__compute(big, o, &fp2);
	assert_true(fp.id == fp2.id);
	memcpy(big + o - 18, "FROM u", 6);
	sql_fingerprint__compute(big, o, &fp2);
	assert_true(fp.id != fp2.id);
	assert_string_equal(fp.text, fp2.text);

	/* One token longer than the cap. */
	memset(big, 'a', 5000);
	sql_fingerprint__compute(big, 5000, &fp);
	assert_string_equal(fp.text, "...");
	assert_true(fp.truncated);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define BIG (1 << 20)

/* Fills big with prefix, then unit repeated to BIG bytes. */
static size_t fill(const char *prefix, const char *unit)
{
	size_t o = strlen(prefix), u = strlen(unit);

	memcpy(big, prefix, o);
	while (o + u <= BIG) {
		memcpy(big + o, unit, u);
		o += u;
	}
	return o;
}

static void test_linear(void **state)
{
	static const char *const shapes[][2] = {
		{ "select ", "+" },		   { "select ", "+-" },
		{ "select 1 ", "=-" },		   { "select ", "1," },
		{ "select * from t where a in (", "1, " },
		{ "select * from t where a in (", "1, -" },
		{ "select a in (1, in (", "1, in (" },
		{ "insert into t values (1)", ", (1, 'x')" },
		{ "select $a$", "$a" },		   { "select $", "a" },
		{ "select '", "x''" },		   { "select E'", "\\'" },
		{ "select ", "/*" },		   { "select ", "/* */" },
		{ "select ", "true " },		   { "select ", "- " },
		{ "select ", "'a'\n" },		   { "select ", "a" },
		{ "select \"", "\"\"" },	   { "select ", ";" },
		{ "", "begin atomic create function " },
		{ "select ", "array[1," },	   { "select ", "\xff" },
	};
	struct sql_fingerprint fp;
	double worst = 0;

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		size_t n = fill(shapes[i][0], shapes[i][1]), off = 0, k, sl;
		double t0 = now_s(), dt;

		sql_fingerprint__compute(big, n, &fp);
		assert_true(fp.len <= SQL_FP_MAX_TEXT + 3);
		while ((k = sql_fingerprint__next_statement(big + off, n - off, &sl)))
			off += k;
		dt = now_s() - t0;
		worst = dt > worst ? dt : worst;
		/* Linear work is a few ms here; quadratic would be minutes. */
		if (getenv("SQLFP_TIMES"))
			print_message("%-32s %-10s %6.1f ms\n", shapes[i][0], shapes[i][1],
				      dt * 1e3);
		if (dt > 1.0)
			fail_msg("1 MB of [%s][%s]...: %.2f s", shapes[i][0], shapes[i][1], dt);
	}
	print_message("worst 1 MB input: %.1f ms\n", worst * 1e3);
}

static void test_kind_names(void **state)
{
	static const char *const names[] = { "select", "insert", "update",   "delete", "ddl",
					     "begin",  "commit", "rollback", "other" };

	for (int k = 0; k < SQL_KIND_COUNT; k++)
		assert_string_equal(sql_kind__name(k), names[k]);
	assert_string_equal(sql_kind__name(SQL_KIND_COUNT), "other");
	assert_string_equal(sql_kind__name((enum sql_kind)-1), "other");
}

static int setup(void **state)
{
	big = malloc(BIG);
	return big ? 0 : -1;
}

static int teardown(void **state)
{
	free(big);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),  cmocka_unit_test(test_ids),
		cmocka_unit_test(test_secrets),	  cmocka_unit_test(test_splitter),
		cmocka_unit_test(test_malformed), cmocka_unit_test(test_cap),
		cmocka_unit_test(test_linear),	  cmocka_unit_test(test_kind_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
