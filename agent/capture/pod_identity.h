/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which container and pod a process runs in, from what the node shows without credentials:
 *   container id, pod UID  /proc/PID/cgroup (cgroup_id.c)
 *   pod name, namespace    the kubelet's pod log directory, <pod-logs-dir>/<namespace>_<pod>_<uid>
 *                          (default /var/log/pods; through /proc/1/root when the agent has a
 *                          mount namespace of its own and hostPID); when the pod has none there:
 *   namespace              the service account's namespace file in the container,
 *                          /var/run/secrets/kubernetes.io/serviceaccount/namespace
 *                          (never the token beside it)
 *   pod name               the pod's hostname, only when the process has a UTS namespace of its own
 *                          (a hostNetwork pod shares the node's, and its name): /etc/hostname in
 *                          the container (the runtime mounts it there), else HOSTNAME in
 *                          /proc/PID/environ (gone when a server rewrote its environ block with its
 *                          process title, as PostgreSQL and Redis do)
 * Called once per process the agent meets (not per record); a forked child inherits its parent's.
 */
#ifndef NEXUS_POD_IDENTITY_H
#define NEXUS_POD_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "identity.h"

#define POD_LOGS_DIR_DEFAULT "/var/log/pods"

/* Fills id for process tgid (all "" for a process of the host); true when it runs in a container
 * or pod. pod_logs_dir NULL: POD_LOGS_DIR_DEFAULT. */
bool pod_identity__lookup(pid_t tgid, const char *pod_logs_dir, struct nx_identity *id);

/* A pod log directory's name "<namespace>_<pod>_<uid>": true, with namespace and pod, when it is
 * the directory of pod uid and both names are valid Kubernetes names. */
bool pod_identity__parse_log_dir(const char *name, const char *uid, char ns[NX_POD_NS_LEN],
				 char pod[NX_POD_NAME_LEN]);

/* The value of HOSTNAME in an environ block (NUL-separated, len bytes) if it is a valid pod
 * name. */
bool pod_identity__environ_hostname(const char *env, size_t len, char pod[NX_POD_NAME_LEN]);

/* Kubernetes names: a DNS label (namespaces) and a DNS subdomain (pod names). */
bool pod_identity__valid_label(const char *s, size_t len);
bool pod_identity__valid_subdomain(const char *s, size_t len);

#endif /* NEXUS_POD_IDENTITY_H */
