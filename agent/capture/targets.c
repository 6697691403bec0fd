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

/* Socket inodes among a process's open files (its listening sockets are among them); -1 when its
 * fd table cannot be read (no CAP_SYS_PTRACE for another user's process). */
static int socket_inodes(pid_t pid, unsigned long *inodes, int max)
{
	char path[300], link[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while (n < max && (de = readdir(d))) {
		unsigned long ino;
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) == 1)
			inodes[n++] = ino;
	}
	closedir(d);
	return n;
}

static int scan_listen(const char *path, const unsigned long *inodes, int n_ino, uint16_t *ports,
		       int n, int max)
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
		unsigned long ino;
		bool dup = false, mine = n_ino == 0;

		/* "  0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000
		 *    0        0 12345 ..." (the 10th field is the socket's inode) */
		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x "
			   "%*u %*u %lu", &port, &state, &ino) != 3)
			continue;
		if (state != 0x0A) /* TCP_LISTEN */
			continue;
		for (int i = 0; i < n_ino && !mine; i++)
			mine = inodes[i] == ino;
		if (!mine)
			continue;
		for (int i = 0; i < n; i++)
			dup |= ports[i] == port;
		if (!dup)
			ports[n++] = (uint16_t)port;
	}
	fclose(f);
	return n;
}

/* LISTEN ports in tgid's namespace held by the sockets listed (all when n_ino < 0). */
static int ports_of(pid_t tgid, const unsigned long *inodes, int n_ino, uint16_t *ports, int max)
{
	char path[64];
	int n;

	if (n_ino == 0)
		return 0;
	if (n_ino < 0)
		n_ino = 0; /* no filter */
	snprintf(path, sizeof(path), "/proc/%d/net/tcp", tgid);
	n = scan_listen(path, inodes, n_ino, ports, 0, max);
	snprintf(path, sizeof(path), "/proc/%d/net/tcp6", tgid);
	return scan_listen(path, inodes, n_ino, ports, n, max);
}

int targets__listen_ports(pid_t tgid, uint16_t *ports, int max)
{
	/* The namespace's table lists every listener in it (on a busy host many more than max):
	 * keep the ones this process holds, by socket inode; a process holding none gets its
	 * parent's (a postgres backend's listener is its postmaster's). Only when neither fd
	 * table can be read, every listener in the namespace (the first max of them). */
	unsigned long inodes[512];
	struct target_info ti;
	int n_own, n_parent = -1, n;

	n_own = socket_inodes(tgid, inodes, 512);
	n = n_own > 0 ? ports_of(tgid, inodes, n_own, ports, max) : 0;
	if (n > 0)
		return n;
	if (!targets__describe(tgid, &ti) && ti.ppid > 1) {
		n_parent = socket_inodes(ti.ppid, inodes, 512);
		n = n_parent > 0 ? ports_of(tgid, inodes, n_parent, ports, max) : 0;
		if (n > 0)
			return n;
	}
	return n_own < 0 && n_parent < 0 ? ports_of(tgid, NULL, -1, ports, max) : 0;
}
