// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The nexus_agent_* families of the metric model: the agent's own figures. */
#include <stdio.h>
#include "model/model_fill.h"

#ifndef NX_VERSION
#define NX_VERSION "dev"
#endif

void model__fill_self(struct metric_model *m, const struct self_stats *s)
{
	struct mm_labels ls;

	mm_labels__reset(&ls);
	mm_labels__add(&ls, "version", NX_VERSION);
	mm__family(m, "nexus_agent_build_info", MM_GAUGE, "1", "The agent's version, as a label.");
	mm__sample(m, &ls, 1);
	mm__single(m, "nexus_agent_start_time_seconds", MM_GAUGE, "s",
		   "When the agent started, unix time.", s->start_time);
	mm__single(m, "nexus_agent_events_total", MM_COUNTER, "{event}",
		   "Reads and writes of target sockets captured by the kernel side.",
		   s->kernel[NX_CNT_EVENTS]);
	mm__single(m, "nexus_agent_captured_bytes_total", MM_COUNTER, "By",
		   "Payload bytes copied from target sockets (at most --capture-bytes per event).",
		   s->kernel[NX_CNT_BYTES]);
	mm__single(m, "nexus_agent_events_lost_total", MM_COUNTER, "{record}",
		   "Records the ring buffer had no room for: data the agent never saw.",
		   s->kernel[NX_CNT_LOST]);
	if (s->n_cpus) {
		char cpu[12];

		mm__family(m, "nexus_agent_events_lost_by_cpu_total", MM_COUNTER, "{record}",
			   "nexus_agent_events_lost_total by the CPU whose record found the ring "
			   "buffer full.");
		for (int i = 0; i < s->n_cpus; i++) {
			snprintf(cpu, sizeof(cpu), "%d", i);
			mm_labels__reset(&ls);
			mm_labels__add(&ls, "cpu", cpu);
			mm__sample(m, &ls, s->lost_by_cpu[i]);
		}
	}
	mm__single(m, "nexus_agent_payload_read_errors_total", MM_COUNTER, "{event}",
		   "Payloads the kernel side could not copy from the target's memory.",
		   s->kernel[NX_CNT_READ_FAIL]);
	mm__single(m, "nexus_agent_fd_cache_full_total", MM_COUNTER, "{socket}",
		   "Sockets the kernel side could not remember because its fd cache was full.",
		   s->kernel[NX_CNT_FDCACHE_FULL]);
	mm__single(m, "nexus_agent_records_total", MM_COUNTER, "{record}",
		   "Records of any kind the agent read from the ring buffer.", s->records);
	mm__single(m, "nexus_agent_bad_records_total", MM_COUNTER, "{record}",
		   "Records of an unknown type or size, dropped.", s->bad_records);
	mm__single(m, "nexus_agent_targets", MM_GAUGE, "{process}", "Processes being watched.",
		   s->targets);
	mm__single(m, "nexus_agent_dropped_processes_total", MM_COUNTER, "{process}",
		   "Target processes the full process table could not hold.", s->proc_drops);
	mm__single(m, "nexus_agent_connections", MM_GAUGE, "{connection}",
		   "Connections of target processes being tracked.", s->conns);
	mm__single(m, "nexus_agent_connections_opened_total", MM_COUNTER, "{connection}",
		   "Connections of target processes the agent started tracking.", s->conns_opened);
	mm__single(m, "nexus_agent_connections_closed_total", MM_COUNTER, "{connection}",
		   "Connections of target processes that closed.", s->conns_closed);
	mm__single(m, "nexus_agent_connection_evictions_total", MM_COUNTER, "{connection}",
		   "Connections pushed out of the full connection table (--max-conns).",
		   s->conn_evictions);
	mm__single(m, "nexus_agent_orphan_chunks_total", MM_COUNTER, "{chunk}",
		   "Captured chunks of a connection whose opening record was lost.",
		   s->orphan_chunks);
	mm__single(m, "nexus_agent_parse_errors_total", MM_COUNTER, "By",
		   "Protocol bytes the parsers could not understand.", s->parse_errors);
}
