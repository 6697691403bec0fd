/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Container id and pod UID from a process's cgroup paths (/proc/PID/cgroup), for cgroup v1 and
 * v2, for the shapes containerd, CRI-O, Docker and podman give them under the kubelet's systemd
 * and cgroupfs drivers:
 *   .../kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<64hex>.scope   (systemd)
 *   .../kubepods-pod<uid>.slice/crio-<64hex>.scope, docker-<64hex>.scope, libpod-<64hex>.scope
 *   /kubepods/burstable/pod<uid>/<64hex>, /kubepods/pod<uid>/crio-<64hex>             (cgroupfs)
 *   /docker/<64hex>, /system.slice/docker-<64hex>.scope                       (Docker alone)
 * Pure text in, identity out: no /proc or filesystem access here (pod_identity.c does that).
 */
#ifndef NEXUS_CGROUP_ID_H
#define NEXUS_CGROUP_ID_H

#include <stdbool.h>
#include <stddef.h>
#include "identity.h"

/*
 * One cgroup path. The innermost container id and pod UID win (kind: a pod's containers run
 * inside a node that is itself a Docker container). Components ".." (a reader in another cgroup
 * namespace sees paths relative to its own) are skipped. Sets id->container_id, ->pod_uid and
 * ->runtime ("" for what is not found); returns true when either was found.
 */
bool cgroup_id__parse_path(const char *path, size_t len, struct nx_identity *id);

/*
 * The whole text of /proc/PID/cgroup: "hierarchy:controllers:path" lines, v1 and v2 (hybrid
 * hosts have both). The line that names the most wins (a container id and a pod UID, then a
 * container id, then a pod UID), the first of equals. Lines that are not of that shape are
 * skipped. Returns true when a container id or pod UID was found.
 */
bool cgroup_id__parse(const char *text, struct nx_identity *id);

/* Whether s[0..len) is a pod UID as the kubelet writes it (UUID, or 32 hex for a static pod). */
bool cgroup_id__is_pod_uid(const char *s, size_t len);

#endif /* NEXUS_CGROUP_ID_H */
