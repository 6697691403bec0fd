// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
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

#define MAX_SOCK_INODES 1024

static int cmp_ino(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* Adds the socket inodes of pid's open files to inos (n so far); returns the new count. */
static int socket_inodes(pid_t pid, unsigned long *inos, int n, int max)
{
	char path[64], fd[320], target[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	if (pid <= 0 || !(d = opendir(path)))
		return n;
	while (n < max && (de = readdir(d))) {
		ssize_t len;

		snprintf(fd, sizeof(fd), "%s/%.255s", path, de->d_name);
		len = readlink(fd, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = 0;
		if (sscanf(target, "socket:[%lu]", &inos[n]) == 1)
			n++;
	}
	closedir(d);
	return n;
}

/* owned: only sockets whose inode is in inos (sorted); else every listener not yet stored. */
static int scan_listen(const char *path, uint16_t *ports, int n, int max,
		       const unsigned long *inos, int n_inos, bool owned)
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
		unsigned long ino = 0;
		bool dup = false;

		/* "  0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000
		 *  0 0 12345 ..." */
		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u "
				 "%*u %lu", &port, &state, &ino) < 2)
			continue;
		if (state != 0x0A) /* TCP_LISTEN */
			continue;
		if (owned && !bsearch(&ino, inos, n_inos, sizeof(*inos), cmp_ino))
			continue;
		for (int i = 0; i < n; i++)
			dup |= ports[i] == port;
		if (!dup)
			ports[n++] = (uint16_t)port;
	}
	fclose(f);
	return n;
}

/*
 * The process's own listening ports first (and its parent's: a postgres backend serves on the
 * postmaster's), then the rest of its network namespace: on a busy host the namespace has more
 * listeners than max, and which ones made the cut must not decide whether a connection is seen
 * as served or as made.
 */
int targets__listen_ports(pid_t tgid, uint16_t *ports, int max)
{
	unsigned long *inos = malloc(MAX_SOCK_INODES * sizeof(*inos));
	char path[64], tcp[64], tcp6[64], stat[512], *rp;
	int n = 0, n_inos = 0, ppid = 0;
	FILE *f;

	snprintf(tcp, sizeof(tcp), "/proc/%d/net/tcp", tgid);
	snprintf(tcp6, sizeof(tcp6), "/proc/%d/net/tcp6", tgid);
	if (inos) {
		snprintf(path, sizeof(path), "/proc/%d/stat", tgid);
		if ((f = fopen(path, "re"))) {
			/* "PID (comm) S PPID ...": comm may hold spaces and parentheses */
			if (fgets(stat, sizeof(stat), f) && (rp = strrchr(stat, ')')))
				sscanf(rp + 1, " %*c %d", &ppid);
			fclose(f);
		}
		n_inos = socket_inodes(tgid, inos, 0, MAX_SOCK_INODES);
		n_inos = socket_inodes(ppid, inos, n_inos, MAX_SOCK_INODES);
		qsort(inos, n_inos, sizeof(*inos), cmp_ino);
		n = scan_listen(tcp, ports, n, max, inos, n_inos, true);
		n = scan_listen(tcp6, ports, n, max, inos, n_inos, true);
	}
	n = scan_listen(tcp, ports, n, max, NULL, 0, false);
	n = scan_listen(tcp6, ports, n, max, NULL, 0, false);
	free(inos);
	return n;
}
