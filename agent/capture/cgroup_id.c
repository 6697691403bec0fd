// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "capture/cgroup_id.h"

#define ID_HEX 64

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool all_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_lower_hex(s[i]))
			return false;
	return true;
}

bool cgroup_id__is_pod_uid(const char *s, size_t len)
{
	if (len == 32) /* a static (mirror) pod: the kubelet's hash of its manifest */
		return all_hex(s, len);
	if (len != 36)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !is_lower_hex(s[i]))
			return false;
	}
	return true;
}

static bool has_suffix(const char *s, size_t len, const char *suf)
{
	size_t n = strlen(suf);

	return len >= n && !memcmp(s + len - n, suf, n);
}

static bool has_prefix(const char *s, size_t len, const char *pre)
{
	size_t n = strlen(pre);

	return len >= n && !memcmp(s, pre, n);
}

/* The systemd driver writes the UID with '_' for '-' (a '-' in a slice name means nesting). */
static bool slice_uid(const char *s, size_t len, char out[NX_POD_UID_LEN])
{
	char uid[NX_POD_UID_LEN];

	if (len >= sizeof(uid))
		return false;
	for (size_t i = 0; i < len; i++)
		uid[i] = s[i] == '_' ? '-' : s[i];
	if (!cgroup_id__is_pod_uid(uid, len))
		return false;
	memcpy(out, uid, len);
	out[len] = '\0';
	return true;
}

/* A pod's cgroup: "pod<uid>" (cgroupfs driver) or "kubepods[-<qos>]-pod<uid_>.slice" (systemd). */
static bool pod_component(const char *c, size_t len, char out[NX_POD_UID_LEN])
{
	const char *p;

	if (has_prefix(c, len, "pod") && cgroup_id__is_pod_uid(c + 3, len - 3)) {
		memcpy(out, c + 3, len - 3);
		out[len - 3] = '\0';
		return true;
	}
	if (!has_suffix(c, len, ".slice") || !memmem(c, len, "kubepods", 8))
		return false;
	len -= 6;
	if (len < 4)
		return false;
	/* the last "-pod": a QoS class never contains one, a UID cannot */
	for (p = c + len - 4; p >= c; p--)
		if (!memcmp(p, "-pod", 4))
			return slice_uid(p + 4, c + len - (p + 4), out);
	return false;
}

static const struct {
	const char *prefix;
	const char *runtime;
} scopes[] = {
	{ "cri-containerd-", "containerd" },
	{ "crio-", "cri-o" },
	{ "docker-", "docker" },
	{ "libpod-", "podman" },
};

/*
 * A container's cgroup: "<runtime>-<64hex>[.scope]" or a bare "<64hex>" (cgroupfs driver, Docker's
 * /docker/<id>). conmon's "crio-conmon-<id>.scope" is the runtime's monitor, not the container.
 */
static bool container_component(const char *c, size_t len, const char *parent, size_t plen,
				struct nx_identity *id)
{
	const char *runtime = "";

	if (has_suffix(c, len, ".scope"))
		len -= 6;
	for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
		size_t n = strlen(scopes[i].prefix);

		if (len == n + ID_HEX && has_prefix(c, len, scopes[i].prefix)) {
			c += n;
			len -= n;
			runtime = scopes[i].runtime;
			break;
		}
	}
	if (len != ID_HEX || !all_hex(c, len))
		return false;
	if (!*runtime && plen == 6 && !memcmp(parent, "docker", 6))
		runtime = "docker";
	memcpy(id->container_id, c, ID_HEX);
	id->container_id[ID_HEX] = '\0';
	strncpy(id->runtime, runtime, sizeof(id->runtime) - 1);
	id->runtime[sizeof(id->runtime) - 1] = '\0';
	return true;
}

bool cgroup_id__parse_path(const char *path, size_t len, struct nx_identity *id)
{
	const char *end = path + len, *c = path, *parent = "";
	size_t plen = 0;

	id->container_id[0] = id->pod_uid[0] = id->runtime[0] = '\0';
	while (c < end) {
		const char *slash = memchr(c, '/', end - c);
		size_t n = (slash ? slash : end) - c;

		if (n && !(n == 1 && c[0] == '.') && !(n == 2 && c[0] == '.' && c[1] == '.')) {
			if (!pod_component(c, n, id->pod_uid))
				container_component(c, n, parent, plen, id);
			parent = c;
			plen = n;
		}
		c += n + 1;
	}
	return id->container_id[0] || id->pod_uid[0];
}

static int score(const struct nx_identity *id)
{
	return (id->container_id[0] ? 2 : 0) + (id->pod_uid[0] ? 1 : 0);
}

bool cgroup_id__parse(const char *text, struct nx_identity *id)
{
	struct nx_identity best = {}, cur;
	const char *line = text;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *c1 = memchr(line, ':', end - line);
		const char *c2 = c1 ? memchr(c1 + 1, ':', end - (c1 + 1)) : NULL;

		/* "ID:controllers:path", the path absolute ("/.." under a cgroup namespace) */
		if (c2 && c2 + 1 < end && c2[1] == '/' &&
		    cgroup_id__parse_path(c2 + 1, end - (c2 + 1), &cur) &&
		    score(&cur) > score(&best))
			best = cur;
		line = nl ? nl + 1 : NULL;
	}
	memcpy(id->container_id, best.container_id, sizeof(id->container_id));
	memcpy(id->pod_uid, best.pod_uid, sizeof(id->pod_uid));
	memcpy(id->runtime, best.runtime, sizeof(id->runtime));
	return score(&best) > 0;
}
