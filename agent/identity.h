/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which container and Kubernetes pod a server process runs in: a plain value type that capture
 * fills (capture/cgroup_id.c parses, capture/pod_identity.c looks up), the statistics carry per
 * server and export turns into labels. Every field is "" when not known; all empty: a process of
 * the host.
 */
#ifndef NEXUS_IDENTITY_H
#define NEXUS_IDENTITY_H

#define NX_CONTAINER_ID_LEN 65 /* 64 lower-case hex digits: containerd, CRI-O, Docker, podman */
#define NX_POD_UID_LEN 37      /* 8-4-4-4-12 UUID, or 32 hex digits (a static pod's hash) */
#define NX_POD_NAME_LEN 254    /* a DNS subdomain: at most 253 characters */
#define NX_POD_NS_LEN 64       /* a DNS label: at most 63 characters */
#define NX_RUNTIME_LEN 16

struct nx_identity {
	char container_id[NX_CONTAINER_ID_LEN];
	char pod_uid[NX_POD_UID_LEN];
	char pod[NX_POD_NAME_LEN];
	char namespace_[NX_POD_NS_LEN];
	char runtime[NX_RUNTIME_LEN]; /* "containerd", "cri-o", "docker", "podman" or "" */
};

static inline int nx_identity__empty(const struct nx_identity *id)
{
	return !id || (!id->container_id[0] && !id->pod_uid[0]);
}

#endif /* NEXUS_IDENTITY_H */
