// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Container id and pod UID from cgroup paths (cgroup_id.c): a fixture table of the shapes
 * containerd, CRI-O, Docker and podman write under the kubelet's systemd and cgroupfs drivers,
 * cgroup v1 and v2 and hybrid files, and malformed ones; then the pod names of pod_identity.c
 * (log directory names, HOSTNAME in an environ block), and the labels a server gets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "capture/cgroup_id.h"
#include "capture/pod_identity.h"
#include "export/prom.h"
#include "model/server_labels.h"

#define CID "3f1d0c6a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817065f4e"
#define CID2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID "0f3a9c2e-1b2d-4c5e-8f90-a1b2c3d4e5f6"
#define UID_ "0f3a9c2e_1b2d_4c5e_8f90_a1b2c3d4e5f6"
#define STATIC_UID "6ee5f1c1b7b0a7d2a2c3f4e5d6c7b8a9"

struct cg_case {
	const char *what;
	const char *text; /* /proc/PID/cgroup */
	const char *cid, *uid, *runtime;
};

static const struct cg_case cases[] = {
	/* cgroup v2, kubelet's systemd driver */
	{ "containerd v2 systemd burstable",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/cri-containerd-" CID ".scope\n",
	  CID, UID, "containerd" },
	{ "containerd v2 systemd guaranteed",
	  "0::/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" CID ".scope\n", CID, UID,
	  "containerd" },
	{ "containerd v2 systemd besteffort",
	  "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	  ".slice/cri-containerd-" CID ".scope\n",
	  CID, UID, "containerd" },
	{ "CRI-O v2 systemd",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/crio-" CID ".scope\n",
	  CID, UID, "cri-o" },
	{ "CRI-O v2 systemd, the container's sub-cgroup",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/crio-" CID ".scope/container\n",
	  CID, UID, "cri-o" },
	{ "CRI-O conmon is not the container",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/crio-conmon-" CID ".scope\n",
	  "", UID, "" },
	{ "cri-dockerd v2 systemd",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/docker-" CID ".scope\n",
	  CID, UID, "docker" },
	{ "kubelet under its own slice",
	  "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
	  "kubelet-kubepods-burstable-pod" UID_ ".slice/cri-containerd-" CID ".scope\n",
	  CID, UID, "containerd" },
	{ "static pod (hash UID), systemd",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" STATIC_UID
	  ".slice/cri-containerd-" CID ".scope\n",
	  CID, STATIC_UID, "containerd" },
	/* cgroupfs driver, v1 and v2 */
	{ "containerd v1 cgroupfs burstable",
	  "12:memory:/kubepods/burstable/pod" UID "/" CID "\n", CID, UID, "" },
	{ "containerd v1 cgroupfs guaranteed", "4:pids:/kubepods/pod" UID "/" CID "\n", CID, UID,
	  "" },
	{ "k3s v2 cgroupfs", "0::/kubepods/besteffort/pod" UID "/" CID "\n", CID, UID, "" },
	{ "CRI-O cgroupfs", "0::/kubepods/burstable/pod" UID "/crio-" CID "\n", CID, UID, "cri-o" },
	{ "static pod, cgroupfs", "0::/kubepods/burstable/pod" STATIC_UID "/" CID "\n", CID,
	  STATIC_UID, "" },
	{ "pod cgroup itself (the pause process's parent)", "0::/kubepods/burstable/pod" UID "\n",
	  "", UID, "" },
	/* Docker and podman without Kubernetes */
	{ "docker v1 cgroupfs", "11:cpu,cpuacct:/docker/" CID "\n", CID, "", "docker" },
	{ "docker v2 systemd", "0::/system.slice/docker-" CID ".scope\n", CID, "", "docker" },
	{ "podman", "0::/machine.slice/libpod-" CID ".scope/container\n", CID, "", "podman" },
	{ "podman conmon", "0::/machine.slice/libpod-conmon-" CID ".scope\n", "", "", "" },
	/* nesting: kind runs pods inside a Docker container; the innermost wins */
	{ "kind node", "0::/docker/" CID2 "/kubepods/burstable/pod" UID "/" CID "\n", CID, UID, "" },
	{ "kind node itself", "0::/docker/" CID2 "/system.slice/containerd.service\n", CID2, "",
	  "docker" },
	/* the agent in a cgroup namespace of its own sees others relative to it */
	{ "relative to a cgroup namespace",
	  "0::/../../kubepods-burstable-pod" UID_ ".slice/cri-containerd-" CID ".scope\n", CID, UID,
	  "containerd" },
	/* hybrid hosts: v1 and v2 lines; the line that names the most wins */
	{ "hybrid, only v2 names it",
	  "12:pids:/user.slice\n11:memory:/user.slice/user-0.slice\n1:name=systemd:/user.slice\n"
	  "0::/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" CID ".scope\n",
	  CID, UID, "containerd" },
	{ "hybrid, only a v1 hierarchy names it",
	  "9:name=systemd:/\n8:pids:/kubepods/burstable/pod" UID "/" CID "\n0::/\n", CID, UID, "" },
	{ "hybrid, a pod uid alone loses to a full path",
	  "8:pids:/kubepods/burstable/pod" UID "\n7:blkio:/kubepods/burstable/pod" UID "/" CID
	  "\n0::/\n",
	  CID, UID, "" },
	{ "no trailing newline", "0::/kubepods/pod" UID "/" CID, CID, UID, "" },
	{ "a ':' in a v1 controller list", "3:cpu,cpuacct:/docker/" CID "\n", CID, "", "docker" },
	/* host processes */
	{ "host v2 root", "0::/\n", "", "", "" },
	{ "host service", "0::/system.slice/redis-server.service\n", "", "", "" },
	{ "host user session", "0::/user.slice/user-1000.slice/session-3.scope\n", "", "", "" },
	{ "empty", "", "", "", "" },
	/* malformed: never a wrong id */
	{ "63 hex digits", "0::/docker/" "3f1d0c6a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817065f4\n",
	  "", "", "" },
	{ "65 hex digits", "0::/docker/" CID "0\n", "", "", "" },
	{ "upper-case hex",
	  "0::/docker/3F1D0C6A9B8E7D6C5B4A39281706F5E4D3C2B1A09F8E7D6C5B4A392817065F4E\n", "", "",
	  "" },
	{ "not hex", "0::/docker/" "zf1d0c6a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817065f4e\n",
	  "", "", "" },
	{ "unknown runtime prefix", "0::/system.slice/rkt-" CID ".scope\n", "", "", "" },
	{ "a scope with nothing after the prefix", "0::/system.slice/docker-.scope\n", "", "", "" },
	{ "pod with a short uid", "0::/kubepods/burstable/pod0f3a9c2e-1b2d-4c5e-8f90/" CID "\n",
	  CID, "", "" },
	{ "pod uid with underscores in a cgroupfs path",
	  "0::/kubepods/burstable/pod" UID_ "/" CID "\n", CID, "", "" },
	{ "dashes misplaced", "0::/kubepods/pod0f3a9c2e1-b2d-4c5e-8f90-a1b2c3d4e5f6/x\n", "", "",
	  "" },
	{ "slice without kubepods", "0::/machine.slice/machine-pod" UID_ ".slice\n", "", "", "" },
	{ "kubepods slice with an empty uid", "0::/kubepods.slice/kubepods-burstable-pod.slice\n", "",
	  "", "" },
	{ "line without a path", "0::\n12:memory\ngarbage\n", "", "", "" },
	{ "relative path", "0::kubepods/pod" UID "/" CID "\n", "", "", "" },
	{ "only slashes", "0::////\n", "", "", "" },
};

static void test_cgroup_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cg_case *c = &cases[i];
		struct nx_identity id;
		bool any;

		memset(&id, 0x55, sizeof(id)); /* whatever was there is overwritten */
		any = cgroup_id__parse(c->text, &id);
		if (strcmp(id.container_id, c->cid) || strcmp(id.pod_uid, c->uid) ||
		    strcmp(id.runtime, c->runtime) || any != (c->cid[0] || c->uid[0]))
			fail_msg("%s: got cid '%s' uid '%s' runtime '%s' (%d)", c->what,
				 id.container_id, id.pod_uid, id.runtime, any);
	}
}

/* A path far longer than any buffer, and one component longer than a uid: nothing overflows. */
static void test_long_paths(void **state)
{
	size_t n = 100000;
	char *text = malloc(n + 128);
	struct nx_identity id;

	assert_non_null(text);
	strcpy(text, "0::");
	memset(text + 3, 'a', n);
	strcpy(text + 3 + n, "/" CID "\n");
	text[3] = '/';
	assert_true(cgroup_id__parse(text, &id));
	assert_string_equal(id.container_id, CID);
	memset(text + 3, '/', n);
	text[3 + n] = '\0';
	assert_false(cgroup_id__parse(text, &id));
	snprintf(text, n, "0::/kubepods.slice/kubepods-pod%s%s.slice\n", UID_, UID_);
	assert_false(cgroup_id__parse(text, &id));
	free(text);
}

static void test_uid_forms(void **state)
{
	assert_true(cgroup_id__is_pod_uid(UID, 36));
	assert_true(cgroup_id__is_pod_uid(STATIC_UID, 32));
	assert_false(cgroup_id__is_pod_uid(UID_, 36));
	assert_false(cgroup_id__is_pod_uid("0F3A9C2E-1B2D-4C5E-8F90-A1B2C3D4E5F6", 36));
	assert_false(cgroup_id__is_pod_uid(UID, 35));
}

static void test_log_dir_names(void **state)
{
	static const struct {
		const char *name, *uid, *ns, *pod; /* ns NULL: not this pod's */
	} dirs[] = {
		{ "shop_redis-0_" UID, UID, "shop", "redis-0" },
		{ "kube-system_etcd-node-1.example_" STATIC_UID, STATIC_UID, "kube-system",
		  "etcd-node-1.example" },
		{ "default_pg-7d9f8b6c5-x2x7q_" UID, UID, "default", "pg-7d9f8b6c5-x2x7q" },
		{ "shop_redis-0_" UID, STATIC_UID, NULL, NULL },	  /* another pod */
		{ "shop_redis-0-" UID, UID, NULL, NULL },	  /* no separator */
		{ "_redis-0_" UID, UID, NULL, NULL },		  /* empty namespace */
		{ "shop__" UID, UID, NULL, NULL },		  /* empty pod */
		{ "Shop_redis-0_" UID, UID, NULL, NULL },	  /* not a DNS label */
		{ "shop_redis_0_" UID, UID, NULL, NULL },	  /* '_' in a name */
		{ "shop_-redis_" UID, UID, NULL, NULL },	  /* starts with '-' */
		{ UID, UID, NULL, NULL },
		{ "x", UID, NULL, NULL },
		{ "shop_redis-0_", "", NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char ns[NX_POD_NS_LEN] = "", pod[NX_POD_NAME_LEN] = "";
		bool ok = pod_identity__parse_log_dir(dirs[i].name, dirs[i].uid, ns, pod);

		if (ok != (dirs[i].ns != NULL))
			fail_msg("%s: %s", dirs[i].name, ok ? "taken" : "refused");
		if (ok && (strcmp(ns, dirs[i].ns) || strcmp(pod, dirs[i].pod)))
			fail_msg("%s: ns '%s' pod '%s'", dirs[i].name, ns, pod);
	}
}

static void test_environ_hostname(void **state)
{
	static const char env[] = "PATH=/usr/bin\0HOSTNAME=redis-0\0HOME=/root";
	static const char bad[] = "HOSTNAME=Not_A_Pod\0";
	static const char none[] = "PATH=/usr/bin\0HOSTNAMEX=a\0";
	static const char cut[] = "PATH=/usr/bin\0HOSTNAME=pg-1"; /* no NUL at the end */
	char pod[NX_POD_NAME_LEN] = "";

	assert_true(pod_identity__environ_hostname(env, sizeof(env), pod));
	assert_string_equal(pod, "redis-0");
	assert_false(pod_identity__environ_hostname(bad, sizeof(bad), pod));
	assert_false(pod_identity__environ_hostname(none, sizeof(none), pod));
	assert_true(pod_identity__environ_hostname(cut, sizeof(cut) - 1, pod));
	assert_string_equal(pod, "pg-1");
	assert_false(pod_identity__environ_hostname("", 0, pod));
}

/* The model's label set of a server as the text format spells it (what /metrics shows). */
static void server_labels__prom(char *buf, size_t len, const char *server,
				const struct nx_identity *id)
{
	struct mm_labels ls;

	model__server_labels(&ls, server, id);
	for (int i = 0; i < ls.n; i++)
		prom__label(buf, len, ls.l[i].name, ls.l[i].value);
}

/* A host server keeps exactly the label it had; a pod's server gets what is known, in order. */
static void test_labels(void **state)
{
	struct nx_identity id = {};
	char buf[1024] = "";

	server_labels__prom(buf, sizeof(buf), "127.0.0.1:6379", &id);
	assert_string_equal(buf, "server=\"127.0.0.1:6379\"");
	buf[0] = '\0';
	server_labels__prom(buf, sizeof(buf), "127.0.0.1:6379", NULL);
	assert_string_equal(buf, "server=\"127.0.0.1:6379\"");
	strcpy(id.container_id, CID);
	strcpy(id.pod_uid, UID);
	buf[0] = '\0';
	server_labels__prom(buf, sizeof(buf), "10.0.0.5:6379", &id);
	assert_string_equal(buf, "server=\"10.0.0.5:6379\",container_id=\"" CID "\",pod_uid=\"" UID
				 "\"");
	strcpy(id.pod, "redis-0");
	strcpy(id.namespace_, "shop");
	buf[0] = '\0';
	server_labels__prom(buf, sizeof(buf), "10.0.0.5:6379", &id);
	assert_string_equal(buf, "server=\"10.0.0.5:6379\",container_id=\"" CID "\",pod_uid=\"" UID
				 "\",pod=\"redis-0\",namespace=\"shop\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup_table),	 cmocka_unit_test(test_long_paths),
		cmocka_unit_test(test_uid_forms),	 cmocka_unit_test(test_log_dir_names),
		cmocka_unit_test(test_environ_hostname), cmocka_unit_test(test_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
