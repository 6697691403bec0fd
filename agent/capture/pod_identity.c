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
 * The service account's namespace file as the container sees it. RESOLVE_IN_ROOT: the container's
 * own symlinks (Debian images link /var/run to /run) resolve inside its root, never on the host.
 */
static void from_service_account(pid_t tgid, struct nx_identity *id)
{
	static const char *const paths[] = {
		"var/run/secrets/kubernetes.io/serviceaccount/namespace",
		"run/secrets/kubernetes.io/serviceaccount/namespace",
	};
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	char root[64], buf[NX_POD_NS_LEN + 2];
	int rootfd, fd = -1;
	ssize_t n;

	snprintf(root, sizeof(root), "/proc/%d/root", tgid);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return;
	for (size_t i = 0; fd < 0 && i < sizeof(paths) / sizeof(paths[0]); i++)
		fd = (int)syscall(SYS_openat2, rootfd, paths[i], &how, sizeof(how));
	close(rootfd);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	n = (ssize_t)strcspn(buf, "\n");
	if (pod_identity__valid_label(buf, n)) {
		memcpy(id->namespace_, buf, n);
		id->namespace_[n] = '\0';
	}
}

/* A process in the node's UTS namespace (hostNetwork) has the node's name as HOSTNAME. */
static bool own_uts(pid_t tgid)
{
	struct stat a, b;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/uts", tgid);
	if (stat(path, &a) || stat("/proc/1/ns/uts", &b))
		return false;
	return a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

static void from_environ(pid_t tgid, struct nx_identity *id)
{
	char path[64], *env;
	ssize_t n;

	if (!own_uts(tgid))
		return;
	env = malloc(ENVIRON_MAX);
	if (!env)
		return;
	snprintf(path, sizeof(path), "/proc/%d/environ", tgid);
	n = read_file(AT_FDCWD, path, env, ENVIRON_MAX);
	if (n > 0)
		pod_identity__environ_hostname(env, (size_t)n, id->pod);
	free(env);
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
	if (pod_logs_dir[0] == '/' &&
	    snprintf(host_dir, sizeof(host_dir), "/proc/1/root%s", pod_logs_dir) < (int)sizeof(host_dir) &&
	    from_log_dir(host_dir, id))
		return true;
	from_service_account(tgid, id);
	from_environ(tgid, id);
	return true;
}
