/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the optional probe objects (pg_usdt, redis_uprobes) share with the capture object: its
 * ring buffer and counters. Declared here with any size; the agent makes them the capture's maps
 * (bpf_map__reuse_fd) before load, so every record lands in one ring, in order.
 */
#ifndef NEXUS_PROBE_BPF_H
#define NEXUS_PROBE_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct nx_counters {
	__u64 c[NX_CNT__COUNT];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nx_counters);
} counters SEC(".maps");

/* A record the ring had no room for: counted with the capture's losses. */
static __always_inline void probe_count_lost(void)
{
	__u32 zero = 0;
	struct nx_counters *c = bpf_map_lookup_elem(&counters, &zero);

	if (c)
		c->c[NX_CNT_LOST]++;
}

#endif /* NEXUS_PROBE_BPF_H */
