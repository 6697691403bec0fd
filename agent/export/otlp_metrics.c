// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "export/otlp_metrics.h"
#include "model/metric_model.h"

static const char *const signal_names[OTLP__SIGNALS] = { "metrics", "logs" };

/* One counter family with a sample per signal. */
static void per_signal(struct metric_model *m, const char *name, const char *unit,
		       const char *help, const uint64_t v[OTLP__SIGNALS])
{
	struct mm_labels ls;

	mm__family(m, name, MM_COUNTER, unit, help);
	for (int i = 0; i < OTLP__SIGNALS; i++) {
		mm_labels__reset(&ls);
		mm_labels__add(&ls, "signal", signal_names[i]);
		mm__sample(m, &ls, (double)v[i]);
	}
}

void otlp_metrics__fill(struct metric_model *m, const struct otlp_stats *s)
{
	static const char *const events[3] = { "alert", "slow_command", "slow_statement" };
	struct mm_labels ls;

	per_signal(m, "nexus_agent_otlp_sent_total", "{request}",
		   "OTLP requests the collector accepted (2xx), by signal.", s->sent);
	per_signal(m, "nexus_agent_otlp_sent_bytes_total", "By",
		   "Bytes of OTLP request bodies the collector accepted, as sent (gzip'ed unless "
		   "--otlp-gzip off).",
		   s->sent_bytes);
	mm__family(m, "nexus_agent_otlp_failed_total", MM_COUNTER, "{request}",
		   "OTLP requests given up: rejected (a status that is not retried, such as 400) "
		   "or retries exhausted.");
	for (int i = 0; i < OTLP__SIGNALS; i++) {
		mm_labels__reset(&ls);
		mm_labels__add(&ls, "signal", signal_names[i]);
		mm_labels__add(&ls, "reason", "rejected");
		mm__sample(m, &ls, (double)s->rejected[i]);
		mm_labels__reset(&ls);
		mm_labels__add(&ls, "signal", signal_names[i]);
		mm_labels__add(&ls, "reason", "retries_exhausted");
		mm__sample(m, &ls, (double)s->exhausted[i]);
	}
	per_signal(m, "nexus_agent_otlp_dropped_total", "{request}",
		   "OTLP requests pushed out of the full queue (--otlp-queue) before they were sent.",
		   s->dropped);
	per_signal(m, "nexus_agent_otlp_retries_total", "{request}",
		   "OTLP attempts retried after 429, 502, 503, 504 or no answer.", s->retries);
	mm__single(m, "nexus_agent_otlp_queued_requests", MM_GAUGE, "{request}",
		   "OTLP requests waiting to be sent.", s->queued);
	mm__single(m, "nexus_agent_otlp_encode_errors_total", MM_COUNTER, "{request}",
		   "OTLP requests that could not be built (out of memory).",
		   (double)s->encode_errors);
	mm__single(m, "nexus_agent_otlp_bad_responses_total", MM_COUNTER, "{response}",
		   "2xx answers whose body was not an OTLP Export response (counted as sent).",
		   (double)s->bad_responses);
	mm__single(m, "nexus_agent_otlp_rejected_points_total", MM_COUNTER, "{point}",
		   "Data points and log records a collector refused in a partial_success answer.",
		   (double)s->rejected_points);
	mm__family(m, "nexus_agent_otlp_log_records_total", MM_COUNTER, "{record}",
		   "OTLP log records queued, by event: alert transitions, Redis slow commands, "
		   "PostgreSQL slow statements.");
	for (int i = 0; i < 3; i++) {
		mm_labels__reset(&ls);
		mm_labels__add(&ls, "event", events[i]);
		mm__sample(m, &ls, (double)s->log_records[i]);
	}
	mm__single(m, "nexus_agent_otlp_log_records_missed_total", MM_COUNTER, "{record}",
		   "Log records not sent: more at once than one request holds, or slow commands "
		   "that left the slow-command log between two looks.",
		   (double)s->log_records_missed);
}
