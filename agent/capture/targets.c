// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
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
	// NOLINTNEXTLINE(cert-err34-c): the kernel's format, no overflow to detect
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

/* The inodes of a process's sockets (/proc/PID/fd, lowest fds first: listeners open early). */
static int socket_inodes(pid_t tgid, unsigned long *inodes, int max)
{
	char path[64], link[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", tgid);
	d = opendir(path);
	if (!d)
		return 0;
	while (n < max && (de = readdir(d))) {
		char fd_path[64 + 256];
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fd_path, sizeof(fd_path), "%s/%s", path, de->d_name);
		len = readlink(fd_path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		// NOLINTNEXTLINE(cert-err34-c): the kernel's format, no overflow to detect
		if (sscanf(link, "socket:[%lu]", &inodes[n]) == 1)
			n++;
	}
	closedir(d);
	return n;
}

/* Listening ports in a /proc/net/tcp{,6} file; with inodes, only those sockets. */
static int scan_listen(const char *path, uint16_t *ports, int n, int max,
		       const unsigned long *inodes, int n_inodes)
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
		unsigned long inode = 0;
		bool dup = false, mine = !inodes;

		/* "  0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0 0 INODE" */
		// NOLINTNEXTLINE(cert-err34-c): the kernel's format, no overflow to detect
		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
			   &port, &state, &inode) < 2)
			continue;
		if (state != 0x0A) /* TCP_LISTEN */
			continue;
		for (int i = 0; inodes && i < n_inodes; i++)
			mine |= inodes[i] == inode;
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

static bool same_netns(pid_t a, pid_t b)
{
	struct stat sa, sb;
	char pa[64], pb[64];

	snprintf(pa, sizeof(pa), "/proc/%d/ns/net", a);
	snprintf(pb, sizeof(pb), "/proc/%d/ns/net", b);
	return !stat(pa, &sa) && !stat(pb, &sb) && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

/* The listening ports among the sockets a process owns. */
static int own_listen_ports(pid_t tgid, uint16_t *ports, int max)
{
	unsigned long inodes[256];
	int n_inodes = socket_inodes(tgid, inodes, 256);
	char tcp[64], tcp6[64];
	int n;

	if (!n_inodes)
		return 0;
	snprintf(tcp, sizeof(tcp), "/proc/%d/net/tcp", tgid);
	snprintf(tcp6, sizeof(tcp6), "/proc/%d/net/tcp6", tgid);
	n = scan_listen(tcp, ports, 0, max, inodes, n_inodes);
	return scan_listen(tcp6, ports, n, max, inodes, n_inodes);
}

/*
 * The ports the process itself listens on: a host network namespace holds many other listeners
 * (every daemon of the node), more than a process entry keeps. A process that owns none gets its
 * parent's (a postgres backend: the postmaster's listeners are closed in it, and it serves on
 * them), and failing that every listener of its namespace.
 */
int targets__listen_ports(pid_t tgid, uint16_t *ports, int max)
{
	struct target_info ti;
	char tcp[64], tcp6[64];
	int n = own_listen_ports(tgid, ports, max);

	if (n)
		return n;
	if (!targets__describe(tgid, &ti) && ti.ppid > 1 && same_netns(tgid, ti.ppid)) {
		n = own_listen_ports(ti.ppid, ports, max);
		if (n)
			return n;
	}
	snprintf(tcp, sizeof(tcp), "/proc/%d/net/tcp", tgid);
	snprintf(tcp6, sizeof(tcp6), "/proc/%d/net/tcp6", tgid);
	n = scan_listen(tcp, ports, 0, max, NULL, 0);
	return scan_listen(tcp6, ports, n, max, NULL, 0);
}

bool targets__alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}
