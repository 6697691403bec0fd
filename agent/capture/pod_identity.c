// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include "capture/cgroup_id.h"
#include "capture/pod_identity.h"

#define CGROUP_TEXT 8192  /* /proc/PID/cgroup: 13 lines on a hybrid host, paths < 300 bytes */
#define ENVIRON_MAX 65536 /* HOSTNAME comes first or early; past this we stop looking */

static bool valid_name(const char *s, size_t len, size_t max, bool dots)
{
	if (!len || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && c != '-' && !(dots && c == '.'))
			return false;
	}
	/* starts and ends with an alphanumeric character */
	return s[0] != '-' && s[0] != '.' && s[len - 1] != '-' && s[len - 1] != '.';
}

bool pod_identity__valid_label(const char *s, size_t len)
{
	return valid_name(s, len, NX_POD_NS_LEN - 1, false);
}

bool pod_identity__valid_subdomain(const char *s, size_t len)
{
	return valid_name(s, len, NX_POD_NAME_LEN - 1, true);
}

bool pod_identity__parse_log_dir(const char *name, const char *uid, char ns[NX_POD_NS_LEN],
				 char pod[NX_POD_NAME_LEN])
{
	size_t len = strlen(name), ulen = strlen(uid);
	const char *first = strchr(name, '_');
	const char *last;

	/* neither a namespace nor a pod name can hold '_': the first and the last split it */
	if (!ulen || len < ulen + 4 || strcmp(name + len - ulen, uid) || name[len - ulen - 1] != '_')
		return false;
	last = name + len - ulen - 1;
	if (!first || first >= last || !pod_identity__valid_label(name, first - name) ||
	    !pod_identity__valid_subdomain(first + 1, last - first - 1))
		return false;
	memcpy(ns, name, first - name);
	ns[first - name] = '\0';
	memcpy(pod, first + 1, last - first - 1);
	pod[last - first - 1] = '\0';
	return true;
}

bool pod_identity__environ_hostname(const char *env, size_t len, char pod[NX_POD_NAME_LEN])
{
	const char *p = env, *end = env + len;

	while (p < end) {
		const char *nul = memchr(p, '\0', end - p);
		size_t n = (nul ? nul : end) - p;

		if (n > 9 && !memcmp(p, "HOSTNAME=", 9)) {
			if (!pod_identity__valid_subdomain(p + 9, n - 9))
				return false;
			memcpy(pod, p + 9, n - 9);
			pod[n - 9] = '\0';
			return true;
		}
		p += n + 1;
	}
	return false;
}

/* Up to len-1 bytes of a file, NUL-terminated; the count or -errno. */
static ssize_t read_file(int dirfd, const char *path, char *buf, size_t len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n, got = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return got;
}

/* The kubelet's log directory of pod uid in dir: its namespace and name. */
static bool from_log_dir(const char *dir, struct nx_identity *id)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d)))
		found = pod_identity__parse_log_dir(de->d_name, id->pod_uid, id->namespace_, id->pod);
	closedir(d);
	return found;
}

/*
 * The first line of a file as the container sees it (path relative to its root). RESOLVE_IN_ROOT:
 * the container's own symlinks (Debian images link /var/run to /run) resolve inside its root,
 * never on the host; no magic links. Returns its length, or -1.
 */
static ssize_t first_line_in_root(pid_t tgid, const char *path, char *buf, size_t len)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	char root[64];
	int rootfd, fd;
	ssize_t n;

	snprintf(root, sizeof(root), "/proc/%d/root", tgid);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	close(rootfd);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return (ssize_t)strcspn(buf, "\n");
}

/* The namespace file of the service account volume the kubelet mounts in every container (unless
 * automountServiceAccountToken is off). The token beside it is never opened. */
static void from_service_account(pid_t tgid, struct nx_identity *id)
{
	char buf[NX_POD_NS_LEN + 2];
	ssize_t n = first_line_in_root(tgid, "var/run/secrets/kubernetes.io/serviceaccount/namespace",
				       buf, sizeof(buf));

	if (n > 0 && pod_identity__valid_label(buf, n)) {
		memcpy(id->namespace_, buf, n);
		id->namespace_[n] = '\0';
	}
}

/* containerd, CRI-O and Docker bind-mount the pod's hostname at /etc/hostname in the container. */
static bool from_etc_hostname(pid_t tgid, struct nx_identity *id)
{
	char buf[NX_POD_NAME_LEN + 2];
	ssize_t n = first_line_in_root(tgid, "etc/hostname", buf, sizeof(buf));

	if (n <= 0 || !pod_identity__valid_subdomain(buf, n))
		return false;
	memcpy(id->pod, buf, n);
	id->pod[n] = '\0';
	return true;
}

/* A process in the node's UTS namespace (hostNetwork) has the node's name as HOSTNAME. */
static bool own_uts(pid_t tgid)
{
	struct stat a, b;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/uts", tgid);
	/* pid 1 is the node's init under hostPID; when it cannot be read (an init we may not
	 * inspect), the agent's own (a node agent usually runs with the node's network and name) */
	if (stat(path, &a) || (stat("/proc/1/ns/uts", &b) && stat("/proc/self/ns/uts", &b)))
		return false;
	return a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

/* HOSTNAME as the runtime set it; PostgreSQL and Redis overwrite their environ block with their
 * process title, so for them this rarely holds it any more. */
static void from_environ(pid_t tgid, struct nx_identity *id)
{
	char path[64], *env;
	ssize_t n;

	env = malloc(ENVIRON_MAX);
	if (!env)
		return;
	snprintf(path, sizeof(path), "/proc/%d/environ", tgid);
	n = read_file(AT_FDCWD, path, env, ENVIRON_MAX);
	if (n > 0)
		pod_identity__environ_hostname(env, (size_t)n, id->pod);
	free(env);
}

/* Whether pid 1 (the node's init, under hostPID) has our root: then its view adds nothing. */
static bool same_root(void)
{
	struct stat a, b;

	return !stat("/", &a) && !stat("/proc/1/root", &b) && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

bool pod_identity__lookup(pid_t tgid, const char *pod_logs_dir, struct nx_identity *id)
{
	char path[64], text[CGROUP_TEXT], host_dir[PATH_MAX];

	memset(id, 0, sizeof(*id));
	snprintf(path, sizeof(path), "/proc/%d/cgroup", tgid);
	if (read_file(AT_FDCWD, path, text, sizeof(text)) <= 0 || !cgroup_id__parse(text, id))
		return false;
	if (!id->pod_uid[0])
		return true; /* a container, not a pod (Docker, podman) */
	if (!pod_logs_dir)
		pod_logs_dir = POD_LOGS_DIR_DEFAULT;
	if (from_log_dir(pod_logs_dir, id))
		return true;
	/* The agent in a pod of its own, with hostPID: pid 1 is the node's init, its root the node's. */
	if (pod_logs_dir[0] == '/' && !same_root() &&
	    snprintf(host_dir, sizeof(host_dir), "/proc/1/root%s", pod_logs_dir) < (int)sizeof(host_dir) &&
	    from_log_dir(host_dir, id))
		return true;
	from_service_account(tgid, id);
	/* A hostNetwork pod shares the node's UTS namespace: its host name is the node's. */
	if (own_uts(tgid) && !from_etc_hostname(tgid, id))
		from_environ(tgid, id);
	return true;
}
