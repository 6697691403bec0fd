// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * --pg-catalog's worker thread: takes the capture thread's requests for names (a database of a
 * server), runs the helper process for one server at a time (pg_catalog_helper.c says why a
 * process), and publishes every database's relations as one immutable snapshot. All I/O is
 * here; the capture thread's side (pg_catalog__want, __get) takes one short lock and returns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "capture/pg_catalog.h"
#include "stats/snap_box.h"
#include "util.h"

#define PGC_MAX_SERVERS 16
#define PGC_MIN_INTERVAL_NS (10 * 1000000000ULL)  /* between two helper runs for one server */
#define PGC_RETRY_NS (60 * 1000000000ULL)	    /* after a failure */
#define PGC_MAX_AGE_NS (600 * 1000000000ULL)	    /* names older than this are fetched again */
#define PGC_DEADLINE_MS 20000			    /* a helper run, all databases included */
#define PGC_MAX_OUTPUT (64u << 20)		    /* bytes read from one helper run */

enum { SERVED_NONE, SERVED_OK, SERVED_FAILED };

struct pgc_served {
	uint32_t oid;
	uint64_t sig; /* the request's signature when it was served */
	uint64_t at;
	int state;
};

struct pgc_server {
	char server[PGC_SERVER_LEN];
	uint32_t pid;
	uint32_t pending[PGC_MAX_DBS];
	int n_pending;
	uint64_t last_run;
	bool failing; /* a failure was logged; logged again only after a success */
	struct pgc_served served[PGC_MAX_DBS];
	int n_served;
};

struct pg_catalog {
	char *conninfo; /* NULL: peer */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct pgc_server servers[PGC_MAX_SERVERS]; /* under lock */
	int n_servers;
	struct snap_box box;
	/* the worker's own */
	struct pgc_db dbs[PGC_MAX_DBS];
	int *refs[PGC_MAX_DBS]; /* each dbs[i].rels' reference count (shared with snapshots) */
	int n_dbs;
	uint64_t refreshes, errors;
};

/* Snapshots share each database's relation array with the worker: a count per array. */
struct pgc_snap {
	struct pg_catalog_snapshot s;
	int *refs[PGC_MAX_DBS];
};

static void rels_put(struct pgc_rel *rels, int *refs)
{
	if (refs && __atomic_sub_fetch(refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(rels);
		free(refs);
	}
}

static void free_snap(void *p)
{
	struct pgc_snap *sn = p;

	for (int i = 0; i < sn->s.n_dbs; i++)
		rels_put(sn->s.dbs[i].rels, sn->refs[i]);
	free(sn->s.dbs);
	free(sn);
}

static void publish(struct pg_catalog *c)
{
	struct pgc_snap *sn = calloc(1, sizeof(*sn));

	if (!sn || !(sn->s.dbs = calloc(c->n_dbs ? c->n_dbs : 1, sizeof(*sn->s.dbs)))) {
		free(sn);
		return;
	}
	sn->s.n_dbs = c->n_dbs;
	sn->s.refreshes = c->refreshes;
	sn->s.errors = c->errors;
	for (int i = 0; i < c->n_dbs; i++) {
		sn->s.dbs[i] = c->dbs[i];
		sn->refs[i] = c->refs[i];
		__atomic_add_fetch(c->refs[i], 1, __ATOMIC_ACQ_REL);
	}
	snap_box__publish(&c->box, sn, free_snap);
}

/* Splits a tab-separated line in place; returns the number of fields (at most max). */
static int split_tabs(char *line, char **f, int max)
{
	int n = 0;

	while (n < max) {
		f[n++] = line;
		line = strchr(line, '\t');
		if (!line)
			break;
		*line++ = 0;
	}
	return n;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int pg_catalog__parse_rel(const char *line, struct pgc_rel *out, uint32_t *db_oid)
{
	char buf[512], *f[8];

	if (line[0] != 'R')
		return 0;
	if (strlen(line) >= sizeof(buf))
		return -EINVAL;
	nx_strlcpy(buf, sizeof(buf), line);
	buf[strcspn(buf, "\n")] = 0;
	if (split_tabs(buf, f, 8) != 8 || strcmp(f[0], "R") || parse_u32(f[1], db_oid) ||
	    parse_u32(f[2], &out->filenode) || strlen(f[3]) != 1 || strlen(f[4]) != 1)
		return -EINVAL;
	memset(out->schema, 0, sizeof(out->schema));
	out->kind = f[3][0];
	out->shared = f[4][0] == '1';
	snprintf(out->schema, sizeof(out->schema), "%s", f[5]);
	snprintf(out->name, sizeof(out->name), "%s", f[6]);
	snprintf(out->table, sizeof(out->table), "%s", f[7]);
	return 1;
}

/* --- finding a server's socket and owner (peer mode) ---------------------------------------- */

struct peer {
	char sockdir[4096];
	long port, uid, gid;
	char user[PGC_NAME_LEN];
};

static int read_ids(uint32_t pid, long *uid, long *gid)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	if (!(f = fopen(path, "re")))
		return -errno;
	*uid = *gid = -1;
	while (fgets(line, sizeof(line), f)) {
		/* "Uid:\treal\teffective\tsaved\tfs": the kernel's format */
		bool is_uid = !strncmp(line, "Uid:", 4), is_gid = !strncmp(line, "Gid:", 4);
		char *p = line + 4, *end;
		long e;

		if (!is_uid && !is_gid)
			continue;
		strtol(p, &end, 10); /* the real id */
		if (end == p)
			continue;
		p = end;
		e = strtol(p, &end, 10); /* the effective one */
		if (end == p)
			continue;
		*(is_uid ? uid : gid) = e;
	}
	fclose(f);
	return *uid > 0 && *gid >= 0 ? 0 : -EPERM;
}

/* The postmaster's user name, from its own /etc/passwd: peer authentication maps the peer's uid
 * to a name in the server's world, which inside a container need not be ours. */
static void user_of(uint32_t pid, long uid, char *out, size_t len)
{
	char path[64], line[1024];
	FILE *f;

	snprintf(out, len, "postgres");
	snprintf(path, sizeof(path), "/proc/%u/root/etc/passwd", pid);
	if (!(f = fopen(path, "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *name = strtok_r(line, ":", &save), *pw = strtok_r(NULL, ":", &save),
		     *u = strtok_r(NULL, ":", &save);

		if (name && pw && u && strtol(u, NULL, 10) == uid) {
			snprintf(out, len, "%s", name);
			break;
		}
	}
	fclose(f);
}

static int cmp_ino(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* The postmaster's listening ".s.PGSQL.PORT" socket: its fds' socket inodes, matched against
 * the listening Unix sockets of its network namespace. */
static int find_socket(uint32_t pid, struct peer *p)
{
	char path[128], line[4352], target[64];
	unsigned long inos[1024];
	int n = 0, err = -ENOENT;
	struct dirent *de;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%u/fd", pid);
	if (!(d = opendir(path)))
		return -errno;
	while ((de = readdir(d)) && n < (int)(sizeof(inos) / sizeof(inos[0]))) {
		char fd[448];
		ssize_t len;

		snprintf(fd, sizeof(fd), "%s/%s", path, de->d_name);
		len = readlink(fd, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = 0;
		if (!strncmp(target, "socket:[", 8)) {
			char *end;

			inos[n] = strtoul(target + 8, &end, 10);
			if (*end == ']')
				n++;
		}
	}
	closedir(d);
	qsort(inos, n, sizeof(inos[0]), cmp_ino);
	snprintf(path, sizeof(path), "/proc/%u/net/unix", pid);
	if (!(f = fopen(path, "re")))
		return -errno;
	while (err && fgets(line, sizeof(line), f)) {
		unsigned long flags, ino;
		char spath[4097] = "", *base;
		unsigned int st;

		/* /proc/net/unix: "Num RefCount Protocol Flags Type St Inode Path", the kernel's fixed
		 * layout (a field that does not convert leaves the line skipped) */
		// NOLINTNEXTLINE(cert-err34-c): the count of converted fields is checked
		if (sscanf(line, "%*s %*s %*s %lx %*x %x %lu %4096s", &flags, &st, &ino, spath) != 4)
			continue;
		/* __SO_ACCEPTCON: a listening socket; '@': abstract, no file to reach */
		if (!(flags & 0x10000) || spath[0] != '/' ||
		    !bsearch(&ino, inos, n, sizeof(inos[0]), cmp_ino))
			continue;
		base = strrchr(spath, '/');
		if (strncmp(base + 1, ".s.PGSQL.", 9))
			continue;
		p->port = strtol(base + 10, NULL, 10);
		*base = 0;
		if (snprintf(p->sockdir, sizeof(p->sockdir), "/proc/%u/root%s", pid,
			     spath[0] ? spath : "/") < (int)sizeof(p->sockdir))
			err = 0;
	}
	fclose(f);
	return err;
}

static int peer_of(uint32_t pid, struct peer *p, char *why, size_t len)
{
	int err = read_ids(pid, &p->uid, &p->gid);

	if (err) {
		snprintf(why, len, "cannot read the owner of postmaster %u: %s", pid,
			 strerror(-err));
		return err;
	}
	err = find_socket(pid, p);
	if (err) {
		snprintf(why, len, "postmaster %u listens on no Unix socket the agent can see (%s)",
			 pid, strerror(-err));
		return err;
	}
	user_of(pid, p->uid, p->user, sizeof(p->user));
	return 0;
}

/* --- one helper run ------------------------------------------------------------------------- */

struct run_result {
	struct {
		uint32_t oid;
		char datname[PGC_NAME_LEN];
	} dbs[PGC_MAX_DBS * 4];
	int n_dbs;
	/* relations by wanted database (index into the request) */
	struct pgc_rel *rels[PGC_MAX_DBS];
	int n_rels[PGC_MAX_DBS], cap_rels[PGC_MAX_DBS];
	uint64_t truncated[PGC_MAX_DBS];
	bool failed[PGC_MAX_DBS];
	char first_error[256];
	bool boot_failed;
};

static int wanted_index(const uint32_t *want, int n, uint32_t oid)
{
	for (int i = 0; i < n; i++)
		if (want[i] == oid)
			return i;
	return -1;
}

static void take_line(struct run_result *r, char *line, const uint32_t *want, int n_want)
{
	struct pgc_rel rel;
	uint32_t db;
	char *f[3];
	int i;

	if (line[0] == 'D') {
		if (split_tabs(line, f, 3) == 3 && r->n_dbs < (int)(sizeof(r->dbs) / sizeof(r->dbs[0])) &&
		    !parse_u32(f[1], &r->dbs[r->n_dbs].oid)) {
			snprintf(r->dbs[r->n_dbs].datname, PGC_NAME_LEN, "%s", f[2]);
			r->n_dbs++;
		}
	} else if (line[0] == 'E') {
		if (split_tabs(line, f, 3) == 3 && !parse_u32(f[1], &db)) {
			if (!r->first_error[0])
				snprintf(r->first_error, sizeof(r->first_error), "%s", f[2]);
			if ((i = wanted_index(want, n_want, db)) >= 0)
				r->failed[i] = true;
			if (db == 0)
				r->boot_failed = true;
		}
	} else if (pg_catalog__parse_rel(line, &rel, &db) == 1 &&
		   (i = wanted_index(want, n_want, db)) >= 0) {
		if (db == 0 && !rel.shared)
			return; /* db 0: the bootstrap database's shared catalogs only */
		if (r->n_rels[i] >= PGC_MAX_RELS) {
			r->truncated[i]++;
			return;
		}
		if (r->n_rels[i] == r->cap_rels[i]) {
			int cap = r->cap_rels[i] ? 2 * r->cap_rels[i] : 256;
			struct pgc_rel *m = realloc(r->rels[i], cap * sizeof(*m));

			if (!m) {
				r->truncated[i]++;
				return;
			}
			r->rels[i] = m;
			r->cap_rels[i] = cap;
		}
		r->rels[i][r->n_rels[i]++] = rel;
	}
}

/* Forks and execs the helper with our own executable; in the child only async-signal-safe
 * calls until the exec. */
static pid_t spawn(int *to, int *from)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	char *const argv[] = { "nexus-agent", "pg-catalog-helper", NULL };
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		goto fail;
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_WRONLY);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || null < 0 || dup2(null, 2) < 0)
			_exit(127);
		/* No fd of the agent (BPF maps, the HTTP socket) reaches the helper. */
		close_range(3, ~0U, 0);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*to = in[1];
	*from = out[0];
	return pid;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return -1;
}

/* Runs the helper for one server; 0 when it ran to the end (per-database failures are in r). */
static int run_helper(struct pg_catalog *c, const struct pgc_server *sv, const uint32_t *want,
		      int n_want, struct run_result *r)
{
	char *buf = NULL, *line;
	size_t len = 0, cap = 0, total = 0, used = 0;
	uint64_t deadline = nx_now_ns() + PGC_DEADLINE_MS * 1000000ULL;
	struct peer p = {};
	int to = -1, from = -1, status = 0, err = 0;
	FILE *in;
	pid_t pid;

	if (!c->conninfo && peer_of(sv->pid, &p, r->first_error, sizeof(r->first_error)))
		return -ENOENT;
	pid = spawn(&to, &from);
	if (pid < 0) {
		snprintf(r->first_error, sizeof(r->first_error), "cannot start the helper: %s",
			 strerror(errno));
		return -errno;
	}
	/* The input is a few hundred bytes: it fits the pipe, the write does not wait. */
	if ((in = fdopen(to, "w"))) {
		if (c->conninfo)
			fprintf(in, "conninfo %s\n", c->conninfo);
		else
			fprintf(in, "uid %ld\ngid %ld\nsockdir %s\nport %ld\nuser %s\n", p.uid,
				p.gid, p.sockdir, p.port, p.user);
		for (int i = 0; i < n_want; i++)
			fprintf(in, "db %u\n", want[i]);
		fclose(in);
	} else {
		close(to);
	}
	for (;;) {
		uint64_t now = nx_now_ns();
		struct pollfd pfd = { .fd = from, .events = POLLIN };
		ssize_t n;

		if (__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
			snprintf(r->first_error, sizeof(r->first_error), "the agent is stopping");
			err = -ECANCELED;
			break;
		}
		if (now >= deadline) {
			snprintf(r->first_error, sizeof(r->first_error),
				 "no answer within %d ms: helper killed", PGC_DEADLINE_MS);
			err = -ETIMEDOUT;
			break;
		}
		/* short slices: a stopping agent does not wait for a slow server */
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (cap - len < 65536) {
			char *m = realloc(buf, cap + 262144);

			if (!m) {
				err = -ENOMEM;
				break;
			}
			buf = m;
			cap += 262144;
		}
		n = read(from, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
		total += n;
		buf[len] = 0;
		/* whole lines only; the tail waits for its end */
		used = 0;
		while ((line = memchr(buf + used, '\n', len - used))) {
			*line = 0;
			take_line(r, buf + used, want, n_want);
			used = line + 1 - buf;
		}
		memmove(buf, buf + used, len - used);
		len -= used;
		if (total > PGC_MAX_OUTPUT) {
			snprintf(r->first_error, sizeof(r->first_error), "too much output: killed");
			err = -E2BIG;
			break;
		}
	}
	if (err)
		kill(pid, SIGKILL);
	close(from);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	free(buf);
	if (!err && (!WIFEXITED(status) || WEXITSTATUS(status) > 1)) {
		if (!r->first_error[0])
			snprintf(r->first_error, sizeof(r->first_error), "helper failed (status %d)",
				 status);
		err = -EIO;
	}
	if (!err && r->boot_failed)
		err = -ECONNREFUSED;
	return err;
}

/* --- the worker ----------------------------------------------------------------------------- */

static struct pgc_served *served_of(struct pgc_server *sv, uint32_t oid, bool add)
{
	for (int i = 0; i < sv->n_served; i++)
		if (sv->served[i].oid == oid)
			return &sv->served[i];
	if (!add || sv->n_served >= PGC_MAX_DBS)
		return NULL;
	sv->served[sv->n_served] = (struct pgc_served){ .oid = oid };
	return &sv->served[sv->n_served++];
}

/* Replaces (or adds) the relations of (server, oid); takes rels. */
static void store_db(struct pg_catalog *c, const char *server, uint32_t oid, const char *datname,
		     struct pgc_rel *rels, int n, uint64_t truncated)
{
	int i, *refs;

	for (i = 0; i < c->n_dbs; i++)
		if (c->dbs[i].oid == oid && !strcmp(c->dbs[i].server, server))
			break;
	if (i == c->n_dbs && c->n_dbs == PGC_MAX_DBS) {
		free(rels);
		return;
	}
	if (!(refs = malloc(sizeof(*refs)))) {
		free(rels);
		return;
	}
	*refs = 1;
	if (i < c->n_dbs)
		rels_put(c->dbs[i].rels, c->refs[i]);
	else
		c->n_dbs++;
	memset(&c->dbs[i], 0, sizeof(c->dbs[i]));
	memcpy(c->dbs[i].server, server, strnlen(server, PGC_SERVER_LEN - 1));
	snprintf(c->dbs[i].datname, sizeof(c->dbs[i].datname), "%s", datname);
	c->dbs[i].oid = oid;
	c->dbs[i].rels = rels;
	c->dbs[i].n_rels = n;
	c->dbs[i].truncated = truncated;
	c->refs[i] = refs;
}

static int cmp_rel(const void *a, const void *b)
{
	uint32_t x = ((const struct pgc_rel *)a)->filenode, y = ((const struct pgc_rel *)b)->filenode;

	return x < y ? -1 : x > y;
}

static void refresh(struct pg_catalog *c, struct pgc_server *snap_sv, const uint32_t *want,
		    int n_want)
{
	struct run_result *r = calloc(1, sizeof(*r));
	const char *label = c->conninfo ? "the --pg-catalog connection" : snap_sv->server;
	int err;

	if (!r)
		return;
	err = run_helper(c, snap_sv, want, n_want, r);
	for (int i = 0; i < n_want; i++) {
		const char *datname = want[i] == 0 ? "(shared)" : NULL;
		int state = SERVED_FAILED;

		for (int j = 0; !datname && j < r->n_dbs; j++)
			if (r->dbs[j].oid == want[i])
				datname = r->dbs[j].datname;
		if (!err && datname && !r->failed[i]) {
			if (r->n_rels[i]) /* a database without relations may have none allocated */
				qsort(r->rels[i], r->n_rels[i], sizeof(*r->rels[i]), cmp_rel);
			store_db(c, snap_sv->server, want[i], datname, r->rels[i], r->n_rels[i],
				 r->truncated[i]);
			r->rels[i] = NULL;
			state = SERVED_OK;
		} else if (!err && !datname) {
			state = SERVED_OK; /* not a database of this server: nothing to name */
		} else if (!err) {
			c->errors++; /* one database failed in a run that otherwise worked */
		}
		free(r->rels[i]);
		pthread_mutex_lock(&c->lock);
		struct pgc_served *s = served_of(snap_sv, want[i], true);

		if (s) {
			s->state = state;
			s->at = nx_now_ns();
		}
		pthread_mutex_unlock(&c->lock);
	}
	if (!err && !r->first_error[0]) {
		c->refreshes++;
		if (snap_sv->failing)
			fprintf(stderr, "nexus-agent: pg-catalog: %s: names available again\n", label);
		snap_sv->failing = false;
	} else {
		if (err)
			c->errors++;
		/* Once, until it works again: a server that refuses us must not fill the log. */
		if (!snap_sv->failing)
			fprintf(stderr, "nexus-agent: pg-catalog: %s: %s; relations keep their "
					"relfilenode numbers (counted in "
					"nexus_postgres_catalog_errors_total)\n",
				label, r->first_error[0] ? r->first_error : strerror(-err));
		snap_sv->failing = true;
	}
	publish(c);
	free(r);
}

static void *worker(void *arg)
{
	struct pg_catalog *c = arg;
	sigset_t all;

	/* Signals belong to the main thread; a helper that exits early gives EPIPE, not SIGPIPE. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	publish(c);
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		uint64_t now = nx_now_ns();
		struct pgc_server *sv = NULL;
		uint32_t want[PGC_MAX_DBS];
		int n_want = 0;

		for (int i = 0; i < c->n_servers && !sv; i++)
			if (c->servers[i].n_pending &&
			    (!c->servers[i].last_run ||
			     now - c->servers[i].last_run >= PGC_MIN_INTERVAL_NS))
				sv = &c->servers[i];
		if (!sv) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&c->cond, &c->lock, &ts);
			continue;
		}
		n_want = sv->n_pending;
		memcpy(want, sv->pending, n_want * sizeof(want[0]));
		sv->n_pending = 0;
		sv->last_run = now;
		pthread_mutex_unlock(&c->lock);
		/* sv stays valid: servers are only ever added, and only this thread reads its
		 * name and pid outside the lock (the capture thread rewrites pid in place). */
		refresh(c, sv, want, n_want);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void pg_catalog__want(struct pg_catalog *c, const char *server, uint32_t pid, uint32_t db_oid,
		      uint64_t sig)
{
	uint64_t now = nx_now_ns();
	struct pgc_server *sv = NULL;
	struct pgc_served *s;

	if (!c)
		return;
	if (c->conninfo)
		server = ""; /* one connection string: one catalog */
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->n_servers && !sv; i++)
		if (!strcmp(c->servers[i].server, server))
			sv = &c->servers[i];
	if (!sv && c->n_servers < PGC_MAX_SERVERS) {
		sv = &c->servers[c->n_servers++];
		snprintf(sv->server, sizeof(sv->server), "%s", server);
	}
	if (!sv)
		goto out;
	if (pid)
		sv->pid = pid;
	s = served_of(sv, db_oid, false);
	/* Served already, with these unknowns, recently enough (failures: retried later). */
	if (s && s->state == SERVED_OK && s->sig == sig && now - s->at < PGC_MAX_AGE_NS)
		goto out;
	if (s && s->state == SERVED_FAILED && now - s->at < PGC_RETRY_NS)
		goto out;
	if (s && s->state == SERVED_NONE)
		goto out; /* requested, not answered yet */
	if ((s = served_of(sv, db_oid, true))) {
		s->sig = sig;
		s->state = SERVED_NONE;
	}
	for (int i = 0; i < sv->n_pending; i++)
		if (sv->pending[i] == db_oid)
			goto out;
	if (sv->n_pending < PGC_MAX_DBS) {
		sv->pending[sv->n_pending++] = db_oid;
		pthread_cond_signal(&c->cond);
	}
out:
	pthread_mutex_unlock(&c->lock);
}

const struct pg_catalog_snapshot *pg_catalog__get(struct pg_catalog *c, void **ref)
{
	struct pgc_snap *sn;

	*ref = NULL;
	if (!c)
		return NULL;
	sn = snap_box__get(&c->box, (struct snap_ref **)ref);
	return sn ? &sn->s : NULL;
}

void pg_catalog__put(void *ref)
{
	if (ref)
		snap_box__put(ref);
}

struct pg_catalog *pg_catalog__start(const char *mode)
{
	struct pg_catalog *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	snap_box__init(&c->box);
	if (strcmp(mode, "peer") && !(c->conninfo = strdup(mode)))
		goto fail;
	if (pthread_create(&c->thread, NULL, worker, c)) {
		errno = EAGAIN;
		goto fail;
	}
	c->started = true;
	return c;
fail:
	pg_catalog__stop(c);
	return NULL;
}

void pg_catalog__stop(struct pg_catalog *c)
{
	if (!c)
		return;
	if (c->started) {
		pthread_mutex_lock(&c->lock);
		__atomic_store_n(&c->stop, true, __ATOMIC_RELAXED);
		pthread_cond_signal(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	for (int i = 0; i < c->n_dbs; i++)
		rels_put(c->dbs[i].rels, c->refs[i]);
	snap_box__destroy(&c->box);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c->conninfo);
	free(c);
}
