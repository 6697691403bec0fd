// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "capture/targets.h"

static int read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (int)n;
}

int targets__describe(pid_t tgid, struct target_info *ti)
{
	char path[64], stat[512], *p;
	ssize_t n;
	int err;

	memset(ti, 0, sizeof(*ti));
	ti->tgid = tgid;
	snprintf(path, sizeof(path), "/proc/%d/stat", tgid);
	err = read_small(path, stat, sizeof(stat));
	if (err < 0)
		return err;
	/* "pid (comm) state ppid ...": comm may hold spaces and parens, so take the last ')'. */
	p = strrchr(stat, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ti->ppid) != 1)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/comm", tgid);
	if (read_small(path, ti->comm, sizeof(ti->comm)) > 0)
		ti->comm[strcspn(ti->comm, "\n")] = '\0';

	snprintf(path, sizeof(path), "/proc/%d/exe", tgid);
	n = readlink(path, ti->exe, sizeof(ti->exe) - 1);
	if (n > 0) {
		ti->exe[n] = '\0';
		/* A binary replaced by a package upgrade still runs; its old inode is what we watch. */
		p = strstr(ti->exe, " (deleted)");
		if (p && p[10] == '\0')
			*p = '\0';
		snprintf(ti->host_exe, sizeof(ti->host_exe), "/proc/%d/root%s", tgid, ti->exe);
	}
	return 0;
}

bool targets__name_matches(const struct target_spec *spec, const char *comm, const char *exe)
{
	const char *base = exe ? strrchr(exe, '/') : NULL;

	base = base ? base + 1 : exe;
	for (int i = 0; i < spec->n_names; i++) {
		const char *name = spec->names[i];

		if (base && *base && !strcmp(base, name))
			return true;
		/* comm is the executable name cut to 15 characters. */
		if (comm && *comm && !strncmp(comm, name, NX_COMM_LEN - 1))
			return true;
	}
	return false;
}

static bool pid_listed(const struct target_spec *spec, pid_t pid)
{
	for (int i = 0; i < spec->n_pids; i++)
		if (spec->pids[i] == pid)
			return true;
	return false;
}

int targets__scan(const struct target_spec *spec,
		  void (*fn)(void *ctx, const struct target_info *ti), void *ctx)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t self = getpid();
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct target_info ti;
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == self)
			continue;
		if (targets__describe((pid_t)pid, &ti))
			continue; /* exited while we looked */
		/* --pid's children that exist already (a postmaster's backends); the kernel's fork
		 * tracepoint adds those forked later. */
		if (!pid_listed(spec, ti.tgid) && !pid_listed(spec, ti.ppid) &&
		    !targets__name_matches(spec, ti.comm, ti.exe))
			continue;
		fn(ctx, &ti);
		n++;
	}
	closedir(d);
	return n;
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* The socket inodes among tgid's open fds, sorted; NULL (and *n 0) when /proc says nothing. */
static unsigned long *socket_inodes(pid_t tgid, int *n)
{
	char path[64], link[64];
	unsigned long *v = NULL;
	int cap = 0;
	struct dirent *de;
	DIR *d;

	*n = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", tgid);
	d = opendir(path);
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		char fdpath[64 + sizeof(de->d_name)];
		unsigned long ino;
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		len = readlink(fdpath, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		if (*n == cap) {
			unsigned long *nv = realloc(v, (cap ? cap * 2 : 64) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
			cap = cap ? cap * 2 : 64;
		}
		v[(*n)++] = ino;
	}
	closedir(d);
	qsort(v, *n, sizeof(*v), cmp_ulong);
	return v;
}

/* Listening ports of path (/proc/PID/net/tcp or tcp6) whose socket is one of inodes. The file
 * lists every socket of the network namespace, other processes' too: a port is ours only if we
 * hold its socket. */
static int scan_listen(const char *path, const unsigned long *inodes, int n_inodes,
		       uint16_t *ports, int n, int max)
{
	FILE *f = fopen(path, "re");
	char line[256];

	if (!f)
		return n;
	if (!fgets(line, sizeof(line), f)) { /* header */
		fclose(f);
		return n;
	}
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned int port, state;
		unsigned long inode;
		bool dup = false;

		/* "  0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000
		 *      0        0 31337 ..." : local, remote, state, queues, timer, retr, uid, timeout,
		 * inode */
		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
			   &port, &state, &inode) != 3)
			continue;
		if (state != 0x0A) /* TCP_LISTEN */
			continue;
		if (!inodes || !bsearch(&inode, inodes, n_inodes, sizeof(*inodes), cmp_ulong))
			continue;
		for (int i = 0; i < n; i++)
			dup |= ports[i] == port;
		if (!dup)
			ports[n++] = (uint16_t)port;
	}
	fclose(f);
	return n;
}

int targets__listen_ports(pid_t tgid, uint16_t *ports, int max)
{
	char path[64];
	int n, n_inodes;
	unsigned long *inodes = socket_inodes(tgid, &n_inodes);

	snprintf(path, sizeof(path), "/proc/%d/net/tcp", tgid);
	n = scan_listen(path, inodes, n_inodes, ports, 0, max);
	snprintf(path, sizeof(path), "/proc/%d/net/tcp6", tgid);
	n = scan_listen(path, inodes, n_inodes, ports, n, max);
	free(inodes);
	return n;
}
