// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `nexus-agent pg-catalog-helper`: the process that talks to a PostgreSQL server for --pg-catalog
 * (pg_catalog.c starts one per refresh and reads its output). Not meant to be run by hand.
 *
 * Why a process of its own, exec'ed afresh: in peer mode it must connect as the operating-system
 * user that owns the postmaster, and the agent is privileged (root, BPF). A setuid() in a thread
 * would change every thread's credentials (glibc applies it process-wide), and libpq in a child
 * merely forked from a multithreaded process may inherit a lock some other thread held. So the
 * agent forks and immediately execs itself; this helper drops to the target uid/gid (no
 * supplementary groups, no capabilities, no_new_privs) before it reads anything from a server,
 * and then it can do nothing the postmaster's owner could not (connection-string mode: the agent's
 * user, without any capability). A crash or a hang in libpq costs a helper (killed after its
 * deadline), never the agent.
 *
 * Input (stdin, one "key value" a line): uid, gid, sockdir, port, user (peer mode) or conninfo,
 * then one "db OID" per database wanted. Output (stdout, tab-separated, control characters in
 * names replaced by '?'):
 *   D oid datname                                   every database that allows connections
 *   R dboid filenode relkind shared schema name table  relations of each wanted database
 *   E dboid message                                 a failure (dboid 0: the bootstrap database)
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <unistd.h>
#include <libpq-fe.h>
#include "capture/pg_catalog.h"

#define MAX_WANTED 64
#define IN_MAX 8192

/* Statement and lock timeouts on every connection: a busy or locked catalog is given up on. */
#define PG_OPTIONS "-c statement_timeout=5000 -c lock_timeout=2000 " \
		   "-c default_transaction_read_only=on"

static const char SQL_DATABASES[] =
	"SELECT oid, datname FROM pg_catalog.pg_database WHERE datallowconn ORDER BY oid";

/* Every relation with storage: its file number, kind, schema, name, and for an index its table
 * (for a TOAST table the table that owns it). */
static const char SQL_RELATIONS[] =
	"SELECT pg_catalog.pg_relation_filenode(c.oid), c.relkind, c.relisshared, n.nspname, "
	"c.relname, coalesce(t.relname, o.relname, '') "
	"FROM pg_catalog.pg_class c "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid "
	"LEFT JOIN pg_catalog.pg_class t ON t.oid = i.indrelid "
	"LEFT JOIN pg_catalog.pg_class o ON o.reltoastrelid = c.oid "
	"WHERE pg_catalog.pg_relation_filenode(c.oid) IS NOT NULL "
	"ORDER BY 1 LIMIT 20001";

struct helper_in {
	long uid, gid, port;
	char sockdir[4096], user[PGC_NAME_LEN], conninfo[IN_MAX];
	unsigned int wanted[MAX_WANTED];
	int n_wanted;
};

/* Names as one printable field: no tab, newline or other control byte reaches the parser. */
static void put_field(const char *s)
{
	for (int i = 0; i < PGC_NAME_LEN - 1 && s[i]; i++)
		putchar((unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i]);
}

static void put_error(unsigned int db, const char *msg)
{
	/* libpq's messages end in a newline and may carry a hint on the next: the first line */
	printf("E\t%u\t", db);
	char first[241];

	snprintf(first, sizeof(first), "%.*s", msg ? (int)strcspn(msg, "\n") : 0, msg ? msg : "");
	for (size_t i = 0; first[i]; i++)
		putchar((unsigned char)first[i] < 0x20 || first[i] == 0x7f ? '?' : first[i]);
	putchar('\n');
}

static int read_input(struct helper_in *in)
{
	char line[IN_MAX + 32];

	memset(in, 0, sizeof(*in));
	in->uid = in->gid = -1;
	while (fgets(line, sizeof(line), stdin)) {
		char *v = strchr(line, ' ');

		line[strcspn(line, "\n")] = 0;
		if (!v)
			continue;
		*v++ = 0;
		if (!strcmp(line, "uid"))
			in->uid = strtol(v, NULL, 10);
		else if (!strcmp(line, "gid"))
			in->gid = strtol(v, NULL, 10);
		else if (!strcmp(line, "port"))
			in->port = strtol(v, NULL, 10);
		else if (!strcmp(line, "sockdir"))
			snprintf(in->sockdir, sizeof(in->sockdir), "%s", v);
		else if (!strcmp(line, "user"))
			snprintf(in->user, sizeof(in->user), "%s", v);
		else if (!strcmp(line, "conninfo"))
			snprintf(in->conninfo, sizeof(in->conninfo), "%s", v);
		else if (!strcmp(line, "db") && in->n_wanted < MAX_WANTED)
			in->wanted[in->n_wanted++] = strtoul(v, NULL, 10);
	}
	return in->conninfo[0] || (in->sockdir[0] && in->uid > 0 && in->gid >= 0) ? 0 : -EINVAL;
}

/* Becomes uid/gid for good: no groups, no way back, no privileges gained by exec. */
static int drop_to(long uid, long gid)
{
	if (setgroups(0, NULL) || setgid(gid) || setuid(uid))
		return -errno;
	if (getuid() != uid || geteuid() != uid || getgid() != gid || setuid(0) == 0)
		return -EPERM;
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	/* Credential changes clear the parent-death signal: set it now. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	return 0;
}

/*
 * Connection-string mode: the string may name a passfile or certificates only the agent's user
 * can read, so the user stays; every capability goes (uid 0 without them reads root's own
 * 0600 files, nothing more), and no exec can bring one back.
 */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	for (int cap = 0; cap <= 63; cap++)
		prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); /* EINVAL past the last: harmless */
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}

static PGconn *connect_db(const struct helper_in *in, const char *host, const char *dbname)
{
	char port[16];

	snprintf(port, sizeof(port), "%ld", in->port);
	if (in->conninfo[0]) {
		/* The first dbname is expanded as the user's connection string; a second one (the
		 * database wanted) overrides its dbname only. */
		/* PG_OPTIONS is one literal made of several: no comma is missing */
		const char *kw[] = { "dbname", "connect_timeout", "application_name", "options",
				     dbname ? "dbname" : NULL, NULL };
		// NOLINTNEXTLINE(bugprone-suspicious-missing-comma): PG_OPTIONS is one literal
		const char *val[] = { in->conninfo, "5", "nexus-agent-catalog", PG_OPTIONS, dbname,
				      NULL };

		return PQconnectdbParams(kw, val, 1);
	}
	const char *kw[] = { "host", "port", "user", "dbname", "connect_timeout",
			     "application_name", "options", "sslmode", "gssencmode", NULL };
	/* PG_OPTIONS is one literal made of several: no comma is missing */
	const char *val[] = { host, port, in->user, dbname ? dbname : "postgres", "5",
			      "nexus-agent-catalog",
			      PG_OPTIONS, // NOLINT(bugprone-suspicious-missing-comma)
			      "disable", "disable", NULL };

	return PQconnectdbParams(kw, val, 0);
}

static const char *pg_err(PGconn *c)
{
	return PQerrorMessage(c);
}

static void dump_relations(PGconn *c, unsigned int db)
{
	PGresult *r = PQexec(c, SQL_RELATIONS);

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		put_error(db, PQresultErrorMessage(r));
		PQclear(r);
		return;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		printf("R\t%u\t%s\t", db, PQgetvalue(r, i, 0));
		put_field(PQgetvalue(r, i, 1));
		printf("\t%d\t", PQgetvalue(r, i, 2)[0] == 't');
		put_field(PQgetvalue(r, i, 3));
		putchar('\t');
		put_field(PQgetvalue(r, i, 4));
		putchar('\t');
		put_field(PQgetvalue(r, i, 5));
		putchar('\n');
	}
	PQclear(r);
}

int cmd_pg_catalog_helper(int argc, char **argv)
{
	static struct helper_in in;
	char host[64] = "";
	PGconn *boot = NULL;
	PGresult *dbs = NULL;
	int err = 1, dfd = -1;

	if (read_input(&in)) {
		put_error(0, "pg-catalog-helper: bad input (run by the agent, not by hand)");
		return 2;
	}
	if (!in.conninfo[0]) {
		/* Peer: the socket directory as the agent sees it (through /proc/PID/root, inside
		 * the server's mount namespace), opened before the privileges go; libpq then reaches
		 * the socket through our own fd table. */
		dfd = open(in.sockdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			put_error(0, strerror(errno));
			return 1;
		}
		snprintf(host, sizeof(host), "/proc/self/fd/%d", dfd);
		if (drop_to(in.uid, in.gid)) {
			put_error(0, "cannot drop privileges to the postmaster's owner");
			close(dfd);
			return 1;
		}
		fcntl(dfd, F_SETFD, 0);
	}
	if (in.conninfo[0] && drop_capabilities()) {
		put_error(0, "cannot drop capabilities");
		return 1;
	}
	boot = connect_db(&in, host, NULL);
	if (PQstatus(boot) != CONNECTION_OK) {
		put_error(0, pg_err(boot));
		goto cleanup;
	}
	dbs = PQexec(boot, SQL_DATABASES);
	if (PQresultStatus(dbs) != PGRES_TUPLES_OK) {
		put_error(0, PQresultErrorMessage(dbs));
		goto cleanup;
	}
	err = 0;
	/* "db 0": the shared catalogs (pg_database, pg_authid...), as the bootstrap database's
	 * pg_class lists them; the agent keeps the relisshared rows. */
	for (int j = 0; j < in.n_wanted; j++)
		if (in.wanted[j] == 0)
			dump_relations(boot, 0);
	for (int i = 0; i < PQntuples(dbs); i++) {
		unsigned int oid = strtoul(PQgetvalue(dbs, i, 0), NULL, 10);
		const char *name = PQgetvalue(dbs, i, 1);
		bool want = false;
		PGconn *c;

		printf("D\t%u\t", oid);
		put_field(name);
		putchar('\n');
		for (int j = 0; j < in.n_wanted; j++)
			want |= in.wanted[j] == oid;
		if (!want)
			continue;
		c = connect_db(&in, host, name);
		if (PQstatus(c) != CONNECTION_OK) {
			put_error(oid, pg_err(c));
			err = 1;
		} else {
			dump_relations(c, oid);
		}
		PQfinish(c);
		fflush(stdout);
	}
cleanup:
	PQclear(dbs);
	PQfinish(boot);
	if (dfd >= 0)
		close(dfd);
	fflush(stdout);
	return err;
}
