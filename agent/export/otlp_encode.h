/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * OTLP protobuf messages from what the agent knows: an ExportMetricsServiceRequest from a metric
 * model (names and attributes through otlp_names.h; counters as cumulative monotonic sums and
 * histograms as cumulative explicit-bucket or exponential histograms, all starting at the
 * model's start_unix_ns), and an ExportLogsServiceRequest from log records (alerts, slow
 * commands). Built with protobuf-c from the vendored official .proto files; every message lives
 * in one arena freed after packing, so an encode is a few allocations whatever its size.
 */
#ifndef NEXUS_OTLP_ENCODE_H
#define NEXUS_OTLP_ENCODE_H

#include <stddef.h>
#include <stdint.h>
#include "model/metric_model.h"

/* Resource attributes of everything the agent sends. NULL or "" fields are left out. */
struct otlp_resource {
	const char *service_name;    /* "nexus-agent" */
	const char *service_version;
	const char *host_name;	     /* gethostname() */
	const char *k8s_node_name;   /* env NODE_NAME */
	const char *k8s_pod_name;    /* env POD_NAME */
	const char *k8s_namespace;   /* env POD_NAMESPACE */
};

/* Fills r from the environment and the host; host is the caller's buffer for the host name. */
void otlp_resource__init(struct otlp_resource *r, char *host, size_t host_len);

enum otlp_hist_mode {
	OTLP_HIST_EXPLICIT,    /* the model's bounds (10 us .. 10 s) */
	OTLP_HIST_EXPONENTIAL, /* from a sample's fine buckets (mm_sample.exp); explicit without */
};

/*
 * Scale of exponential histograms: base 2^(1/32), buckets 2.2 % wide, 32 per power of two. The
 * stats keep 64 fine buckets per power of two (hist.h), each under 1/64 of its value wide, so a
 * fine bucket straddles at most two exponential ones; its count is split between them in
 * proportion to the overlap (values taken as uniform inside it), by largest remainder so counts
 * stay exact. A value is thus counted at most one fine bucket (< 1.6 %) from its own exponential
 * bucket. When a series uses more than HIST_SPARSE_MAX fine buckets they are coarsened 2^shift at
 * a time and that bound grows to 2^shift/64 (see hist.h); at scale 6 (1.1 %) the 64 fine buckets
 * per octave would not map one to one either, so 5 costs nothing real.
 */
#define OTLP_EXP_SCALE 5

/* A serialised request; data is malloc'ed. */
struct otlp_buf {
	uint8_t *data;
	size_t len;
};

/* 0, or -ENOMEM. A model with no families gives a valid request with no metrics. */
int otlp_encode__metrics(const struct metric_model *m, const struct otlp_resource *res,
			 enum otlp_hist_mode mode, struct otlp_buf *out);

/* A log record, self-contained (fixed-size strings) so records can be queued between threads. */
#define OTLP_LOG_ATTRS 14
#define OTLP_LOG_STR 160

enum otlp_attr_type { OTLP_ATTR_STR, OTLP_ATTR_INT, OTLP_ATTR_DOUBLE };

struct otlp_attr {
	char key[48];
	enum otlp_attr_type type;
	char s[OTLP_LOG_STR];
	int64_t i;
	double d;
};

struct otlp_log {
	uint64_t time_unix_ns;	   /* when it happened */
	uint64_t observed_unix_ns; /* when the agent saw it */
	int severity_number;	   /* OTLP SeverityNumber: 9 INFO, 13 WARN, 17 ERROR, 21 FATAL */
	char severity_text[16];
	char event_name[48];	   /* "nexus.alert", "nexus.redis.slow_command", ... */
	char body[896];
	int n_attrs;
	struct otlp_attr attrs[OTLP_LOG_ATTRS];
};

/* Appends an attribute; past OTLP_LOG_ATTRS it is dropped (counted by the encoder). */
void otlp_log__str(struct otlp_log *l, const char *key, const char *value);
void otlp_log__int(struct otlp_log *l, const char *key, int64_t value);
void otlp_log__double(struct otlp_log *l, const char *key, double value);
/* server.address and server.port (no port for a Unix socket) from a server label. */
void otlp_log__server(struct otlp_log *l, const char *prefix, const char *server);

/* 0, or -ENOMEM. */
int otlp_encode__logs(const struct otlp_log *logs, int n, const struct otlp_resource *res,
		      struct otlp_buf *out);

#endif /* NEXUS_OTLP_ENCODE_H */
