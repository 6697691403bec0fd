// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pg_title: who a PostgreSQL backend serves, from its process title. A fixture table of titles
 * (input -> user, database or error), the read of a real process's /proc/PID/cmdline, and the
 * pipeline naming a connection it joined late by its backend's title.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "capture/pg_title.h"
#include "pipeline.h"

struct title_case {
	const char *title;
	int err; /* 0, -ENOTCONN or -EINVAL */
	const char *user, *db;
};

static const struct title_case cases[] = {
	/* client backends, as PostgreSQL 15 writes them */
	{ "postgres: alice shop 10.0.0.7(50412) idle", 0, "alice", "shop" },
	{ "postgres: alice shop 10.0.0.7(50412) idle in transaction", 0, "alice", "shop" },
	{ "postgres: alice shop 10.0.0.7(50412) SELECT waiting", 0, "alice", "shop" },
	{ "postgres: alice shop 10.0.0.7(50412) authentication", 0, "alice", "shop" },
	{ "postgres: postgres postgres 127.0.0.1(53582) idle", 0, "postgres", "postgres" },
	{ "postgres: alice shop ::1(50412) idle", 0, "alice", "shop" },
	{ "postgres: alice shop fe80::1%eth0(50412) idle", 0, "alice", "shop" },
	{ "postgres: alice shop client-7.example.com(50412) idle", 0, "alice", "shop" },
	{ "postgres: alice shop [local] idle", 0, "alice", "shop" },
	{ "postgres: alice shop [local] COMMIT", 0, "alice", "shop" },
	/* update_process_title = off: no state after the fixed part */
	{ "postgres: alice shop 10.0.0.7(50412) ", 0, "alice", "shop" },
	{ "postgres: alice shop [local]", 0, "alice", "shop" },
	/* cluster_name (Debian sets "15/main") */
	{ "postgres: 15/main: alice shop 10.0.0.7(50412) idle", 0, "alice", "shop" },
	{ "postgres: 15/main: alice shop [local] idle", 0, "alice", "shop" },
	{ "postgres: my cluster: alice shop [local] idle", 0, "alice", "shop" },
	/* two words only: no cluster, a user name may end in ':' */
	{ "postgres: bob: shop [local] idle", 0, "bob:", "shop" },
	{ "postgres: main: bob: shop [local] idle", 0, "bob:", "shop" },
	/* odd but unambiguous names */
	{ "postgres: a(b) shop [local] idle", 0, "a(b)", "shop" },
	{ "postgres: caf\xc3\xa9 b\xc3\xa4r 10.0.0.7(1) idle", 0, "caf\xc3\xa9", "b\xc3\xa4r" },
	/* processes that serve no client */
	{ "postgres: checkpointer ", -ENOTCONN, NULL, NULL },
	{ "postgres: background writer ", -ENOTCONN, NULL, NULL },
	{ "postgres: walwriter ", -ENOTCONN, NULL, NULL },
	{ "postgres: autovacuum launcher ", -ENOTCONN, NULL, NULL },
	{ "postgres: autovacuum worker shop", -ENOTCONN, NULL, NULL },
	{ "postgres: logical replication launcher ", -ENOTCONN, NULL, NULL },
	{ "postgres: logical replication worker for subscription 16394 ", -ENOTCONN, NULL, NULL },
	{ "postgres: parallel worker for PID 13275 ", -ENOTCONN, NULL, NULL },
	{ "postgres: archiver last was 00000001000000000000000A", -ENOTCONN, NULL, NULL },
	{ "postgres: 15/main: checkpointer ", -ENOTCONN, NULL, NULL },
	{ "postgres: walsender repl 10.0.0.9(40000) streaming 0/3000148", -ENOTCONN, NULL, NULL },
	{ "postgres: walsender repl shop 10.0.0.9(40000) START_REPLICATION", -ENOTCONN, NULL,
	  NULL },
	{ "postgres: 15/main: walsender repl 10.0.0.9(40000) idle", -ENOTCONN, NULL, NULL },
	/* cut before the host: cannot be told from these */
	{ "postgres: alice sh", -ENOTCONN, NULL, NULL },
	/* nor is a title whose host is not one */
	{ "postgres: alice shop 10.0.0.7() idle", -ENOTCONN, NULL, NULL },
	{ "postgres: alice shop 10.0.0.7(123456) idle", -ENOTCONN, NULL, NULL },
	{ "postgres: alice shop 10.0.0.7(12a) idle", -ENOTCONN, NULL, NULL },
	{ "postgres: alice shop 10.0.0.7/32(5432) idle", -ENOTCONN, NULL, NULL },
	/* cut short, garbage, not a title */
	{ "postgres: alice shop 10.0.0.7(504", -EINVAL, NULL, NULL },
	{ "postgres: alice shop [loc", -EINVAL, NULL, NULL },
	{ "postgres: alice shop 10.0.0.7(", -EINVAL, NULL, NULL },
	{ "/usr/lib/postgresql/15/bin/postgres", -EINVAL, NULL, NULL }, /* the postmaster */
	{ "postgres", -EINVAL, NULL, NULL },
	{ "postgres:", -EINVAL, NULL, NULL },
	{ "", -EINVAL, NULL, NULL },
	{ "redis-server *:6379", -EINVAL, NULL, NULL },
	{ "\x01\x02\xff garbage (((", -EINVAL, NULL, NULL },
	{ "postgres: 10.0.0.7(5432) idle", -EINVAL, NULL, NULL },
	{ "postgres: alice 10.0.0.7(5432) idle", -EINVAL, NULL, NULL },
	{ "postgres: a(1) shop [local] idle", -EINVAL, NULL, NULL }, /* a host-shaped user name */
	/* names with spaces are written unquoted: the split is refused, never guessed */
	{ "postgres: alice my shop 10.0.0.7(5432) idle", -EINVAL, NULL, NULL },
	{ "postgres: alice  shop 10.0.0.7(5432) idle", -EINVAL, NULL, NULL },
	{ "postgres: main: alice my shop [local] idle", -EINVAL, NULL, NULL },
	{ "postgres: alice a: b [local] idle", -EINVAL, NULL, NULL },
};

static void test_fixtures(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct title_case *c = &cases[i];
		char user[64], db[64];
		int err = pg_title__parse(c->title, strlen(c->title), user, sizeof(user), db,
					  sizeof(db));

		if (err != c->err || (!err && (strcmp(user, c->user) || strcmp(db, c->db))))
			fail_msg("\"%s\": got %d (%s, %s), want %d (%s, %s)", c->title, err, user,
				 db, c->err, c->user ? c->user : "", c->db ? c->db : "");
		if (err)
			assert_true(!user[0] && !db[0]);
	}
}

/* The title is argv[0]: the arguments after its NUL, and bytes past len, are not read. */
static void test_bounds(void **state)
{
	static const char argv[] = "postgres: alice shop [local] idle\0-D\0/var/lib/x x y [local]";
	const char *t = "postgres: alice shop 10.0.0.7(50412) idle";
	char user[64], db[64], small[4], title[300];

	assert_int_equal(pg_title__parse(argv, sizeof(argv) - 1, user, sizeof(user), db,
					 sizeof(db)),
			 0);
	assert_string_equal(user, "alice");
	/* len ends the title as its NUL would: cut inside the host */
	assert_int_equal(pg_title__parse(t, strlen("postgres: alice shop 10.0.0.7(50"), user,
					 sizeof(user), db, sizeof(db)),
			 -EINVAL);
	assert_int_equal(pg_title__parse(t, 0, user, sizeof(user), db, sizeof(db)), -EINVAL);
	/* names are cut to the buffers */
	assert_int_equal(pg_title__parse(t, strlen(t), small, sizeof(small), db, sizeof(db)), 0);
	assert_string_equal(small, "ali");
	assert_int_equal(pg_title__parse(t, strlen(t), user, 0, db, sizeof(db)), -EINVAL);
	assert_int_equal(pg_title__parse(NULL, 10, user, sizeof(user), db, sizeof(db)), -EINVAL);
	/* a 63-byte name (NAMEDATALEN - 1) fits a PG_NAME_LEN buffer whole */
	snprintf(title, sizeof(title), "postgres: %.63s shop [local] idle",
		 "u123456789u123456789u123456789u123456789u123456789u123456789xyz");
	assert_int_equal(pg_title__parse(title, strlen(title), user, PG_NAME_LEN, db, sizeof(db)),
			 0);
	assert_int_equal(strlen(user), 63);
	/* more words than are ever split */
	snprintf(title, sizeof(title), "postgres: %s[local] idle",
		 "a b c d e f g h i j k l m n o p q r s t u v w x y z ");
	assert_int_equal(pg_title__parse(title, strlen(title), user, sizeof(user), db, sizeof(db)),
			 -EINVAL);
}

/* A process whose argv[0] is a backend's title, as PostgreSQL's set_ps_display() leaves it. */
static pid_t fake_backend(const char *title)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sleep", title, "10", (char *)NULL);
		_exit(127);
	}
	/* until exec has replaced the command line (titles here are longer than 16 bytes) */
	for (int i = 0; i < 400; i++) {
		char path[40], buf[17] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		f = fopen(path, "re");
		if (f) {
			buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
			fclose(f);
			if (!strncmp(buf, title, sizeof(buf) - 1))
				break;
		}
		usleep(5000);
	}
	return pid;
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_read(void **state)
{
	pid_t pid = fake_backend("postgres: 15/main: alice shop 10.0.0.7(50412) idle");
	char user[PG_NAME_LEN], db[PG_NAME_LEN];

	assert_int_equal(pg_title__read((uint32_t)pid, user, sizeof(user), db, sizeof(db)), 0);
	assert_string_equal(user, "alice");
	assert_string_equal(db, "shop");
	stop(pid);
	/* a process that is gone */
	assert_int_equal(pg_title__read((uint32_t)pid, user, sizeof(user), db, sizeof(db)),
			 -ENOENT);
	/* this one is no backend */
	assert_int_equal(pg_title__read((uint32_t)getpid(), user, sizeof(user), db, sizeof(db)),
			 -EINVAL);
}

/* --- the pipeline ------------------------------------------------------------------------- */

#define SOCK 0x222
#define FD 9

struct seen {
	int n;
	char user[PG_NAME_LEN], db[PG_NAME_LEN];
};

static void on_postgres(void *ctx, const struct postgres_event *e)
{
	struct seen *s = ctx;

	s->n++;
	snprintf(s->user, sizeof(s->user), "%s", e->r->user);
	snprintf(s->db, sizeof(s->db), "%s", e->r->database);
}

static void record(struct conntrack *ct, pid_t pid, uint8_t dir, const void *bytes, uint32_t len,
		   uint64_t ts)
{
	static uint64_t rec[(sizeof(struct nx_data_event) + 256) / 8 + 1];
	struct nx_data_event *ev = (struct nx_data_event *)rec;

	memset(ev, 0, sizeof(*ev));
	ev->hdr.type = NX_EV_DATA;
	ev->hdr.tgid = ev->hdr.pid = (uint32_t)pid;
	ev->hdr.fd = FD;
	ev->hdr.ts_ns = ts;
	ev->sock_id = SOCK;
	ev->dir = dir;
	ev->len = ev->cap_len = len;
	memcpy(ev->data, bytes, len);
	conntrack__record(ct, rec, sizeof(*ev) + len);
}

/* SELECT 1's response: RowDescription, DataRow, CommandComplete, ReadyForQuery (idle). */
static const uint8_t response[] = {
	'T', 0, 0, 0, 33, 0, 1, '?', 'c', 'o', 'l', 'u', 'm', 'n', '?', 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 23, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0,
	'D', 0, 0, 0, 11, 0, 1, 0, 0, 0, 1, '1',
	'C', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0,
	'Z', 0, 0, 0, 5, 'I',
};
static const uint8_t query[] = { 'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0 };

/*
 * A connection the agent meets in the middle (its first bytes a Query, or the server's answer to
 * one it never saw): its statements carry the database and user of its backend's title. The
 * backend is a process whose argv[0] is such a title.
 */
static void joined_late(const char *title, bool server_first, const char *user, const char *db)
{
	struct seen seen = {};
	struct pipeline_opts o = { .decode = true };
	struct conntrack_opts co = { .max_conns = 4, .max_procs = 4 };
	struct nx_conn_event ev = {};
	pid_t pid = fake_backend(title);
	struct pipeline *p = pipeline__new(&o, NULL, NULL,
					   (struct pipeline_sink){ .on_postgres = on_postgres,
								   .ctx = &seen });
	struct conntrack *ct = conntrack__new(&co, NULL, pipeline__conntrack_sink(p));

	assert_non_null(p);
	assert_non_null(ct);
	ev.hdr.type = NX_EV_CONN_OPEN;
	ev.hdr.tgid = ev.hdr.pid = (uint32_t)pid;
	ev.hdr.fd = FD;
	ev.sock_id = SOCK;
	ev.transport = NX_TRANSPORT_TCP4;
	ev.how = NX_OPEN_ACCEPT;
	ev.lport = 5432;
	ev.rport = 50412;
	strcpy(ev.comm, "postgres");
	conntrack__record(ct, &ev, sizeof(ev));
	if (server_first)
		record(ct, pid, NX_DIR_OUT, response, sizeof(response), 1000);
	for (int i = 0; i < 3; i++) {
		record(ct, pid, NX_DIR_IN, query, sizeof(query), 2000 + i * 100);
		record(ct, pid, NX_DIR_OUT, response, sizeof(response), 2050 + i * 100);
	}
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.user, user);
	assert_string_equal(seen.db, db);
	assert_int_equal(pipeline__pg_stats(p)->midstream, 1);
	conntrack__free(ct);
	pipeline__free(p);
	stop(pid);
}

static void test_pipeline_names_late_connection(void **state)
{
	joined_late("postgres: alice shop 10.0.0.7(50412) idle", false, "alice", "shop");
	joined_late("postgres: 15/main: bob crm 10.0.0.8(50412) idle", true, "bob", "crm");
	/* a title that says nothing leaves the connection unnamed ("(unknown)" in statistics) */
	joined_late("postgres: alice my shop 10.0.0.7(50412) idle", false, "", "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_pipeline_names_late_connection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
