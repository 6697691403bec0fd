/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one table that turns the metric model's Prometheus names into OpenTelemetry ones: per
 * family its OTel metric name and unit, the attributes that say which database system it is, and
 * how its labels are renamed to attributes (OpenTelemetry semantic conventions where they exist:
 * db.*, server.*, error.type, container.id, k8s.*; nexus.* where none does). The README's
 * "OpenTelemetry" section prints the same table; tests/unit/test_otlp.c checks they agree.
 */
#ifndef NEXUS_OTLP_NAMES_H
#define NEXUS_OTLP_NAMES_H

#include <stdbool.h>
#include <stddef.h>

struct otlp_name {
	const char *prom;   /* the model's (Prometheus) family name; "*" is the row of defaults */
	const char *otel;   /* the OTel metric name */
	const char *unit;   /* UCUM; NULL: the model's */
	const char *system; /* db.system.name of every point ("redis", "postgresql"), or NULL */
	/* Label renames "label=attribute label=attribute ...", before the defaults' row; an
	 * attribute "-" drops the label. Two are computed rather than renamed:
	 *   server=server.address+server.port  splits "host:port", "[v6]:port" or a socket path
	 *   status=error.type                  only when it is not "ok" (semconv: set on errors) */
	const char *labels;
};

extern const struct otlp_name otlp_names[];
extern const size_t otlp_n_names;

/* The row of a family, or NULL when it has none (then: otlp_names__derive). */
const struct otlp_name *otlp_names__find(const char *prom);
/* The OTel name of a family without a row: "nexus_redis_resyncs_total" -> "nexus.redis.resyncs"
 * (the _total and, for histograms, a _seconds suffix are dropped; _ becomes .). */
void otlp_names__derive(const char *prom, bool counter, char *out, size_t len);
/* The attribute a label becomes for this row (row may be NULL): the row's rename, else the
 * defaults', else "nexus." + label. Returns "-" for a dropped label, and the special values
 * "server.address+server.port" and "error.type" described above. */
const char *otlp_names__attribute(const struct otlp_name *row, const char *label, char *buf,
				  size_t len);
/* Splits a server label into address and port: "10.0.0.1:6379" -> "10.0.0.1", 6379;
 * "[::1]:5432" -> "::1", 5432; "/run/redis.sock" -> itself, port -1. */
void otlp_names__split_server(const char *server, char *addr, size_t len, int *port);
/* db.query.summary from normalised SQL: the operation and its first target, in the
 * semantic conventions' shape ("SELECT pgbench_accounts", "UPDATE t", "BEGIN"). */
void otlp_names__query_summary(const char *sql, char *out, size_t len);

#endif /* NEXUS_OTLP_NAMES_H */
