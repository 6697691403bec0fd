// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for what becomes a container's labels from text a container controls or the
 * node writes: /proc/PID/cgroup text (cgroup_id__parse), a pod log directory's name and an
 * environ block (pod_identity.c's parsers). Invariants: no read past the input (ASan: an
 * exact-size heap block); a container id is empty or 64 lower-case hex digits, a pod UID empty or
 * a UID, the runtime one of the known names; a namespace or pod name is empty or a valid
 * Kubernetes name, NUL-terminated within its field.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "capture/cgroup_id.h"
#include "capture/pod_identity.h"

static void check_identity(const struct nx_identity *id)
{
	size_t n = strnlen(id->container_id, sizeof(id->container_id));

	assert(n < sizeof(id->container_id));
	assert(n == 0 || n == 64);
	for (size_t i = 0; i < n; i++)
		assert((id->container_id[i] >= '0' && id->container_id[i] <= '9') ||
		       (id->container_id[i] >= 'a' && id->container_id[i] <= 'f'));
	n = strnlen(id->pod_uid, sizeof(id->pod_uid));
	assert(n < sizeof(id->pod_uid));
	assert(n == 0 || cgroup_id__is_pod_uid(id->pod_uid, n));
	assert(!strcmp(id->runtime, "") || !strcmp(id->runtime, "containerd") ||
	       !strcmp(id->runtime, "cri-o") || !strcmp(id->runtime, "docker") ||
	       !strcmp(id->runtime, "podman"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), ns[NX_POD_NS_LEN], pod[NX_POD_NAME_LEN];
	struct nx_identity id;
	bool any;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&id, 0x7f, sizeof(id));
	any = cgroup_id__parse(text, &id);
	check_identity(&id);
	assert(any == (id.container_id[0] || id.pod_uid[0]));
	cgroup_id__parse_path(text, size, &id);
	check_identity(&id);

	/* the text as a log directory's name, for the UID found (or a fixed one) */
	if (pod_identity__parse_log_dir(text, id.pod_uid[0] ? id.pod_uid
							  : "0f3a9c2e-1b2d-4c5e-8f90-a1b2c3d4e5f6",
					ns, pod)) {
		assert(pod_identity__valid_label(ns, strlen(ns)));
		assert(pod_identity__valid_subdomain(pod, strlen(pod)));
	}
	/* the raw bytes as an environ block (not NUL-terminated at the end) */
	if (pod_identity__environ_hostname((const char *)data, size, pod))
		assert(pod_identity__valid_subdomain(pod, strnlen(pod, sizeof(pod))));
	free(text);
	return 0;
}
