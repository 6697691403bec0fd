// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "export/otlp_names.h"

/*
 * Families that measure the same thing on both servers share an OTel name and differ by
 * db.system.name, as the semantic conventions' db.* metrics do; the encoder merges them into one
 * metric. Our durations are measured at the server's sockets, hence db.server.operation.duration
 * rather than the client-side db.client.operation.duration.
 */
const struct otlp_name otlp_names[] = {
	{ "*", NULL, NULL, NULL,
	  "server=server.address+server.port database=db.namespace command=db.operation.name "
	  "status=error.type fingerprint=nexus.db.query.fingerprint user=nexus.db.user "
	  "prefix=nexus.redis.key_prefix container_id=container.id pod_uid=k8s.pod.uid "
	  "pod=k8s.pod.name namespace=k8s.namespace.name" },
	/* Redis */
	{ "nexus_redis_commands_total", "nexus.db.server.operations", "{operation}", "redis", "" },
	{ "nexus_redis_command_duration_seconds", "db.server.operation.duration", "s", "redis", "" },
	{ "nexus_redis_blocking_command_duration_seconds", "nexus.redis.blocking_command.duration",
	  "s", "redis", "" },
	{ "nexus_redis_command_exec_seconds", "nexus.redis.command.exec.duration", "s", "redis", "" },
	{ "nexus_redis_request_wait_seconds", "nexus.db.server.request.wait.duration", "s", "redis",
	  "" },
	{ "nexus_redis_slow_commands_total", "nexus.redis.slow_commands", "{command}", "redis", "" },
	{ "nexus_redis_keyspace_hits_total", "nexus.redis.keyspace.hits", "{hit}", "redis", "" },
	{ "nexus_redis_keyspace_misses_total", "nexus.redis.keyspace.misses", "{miss}", "redis", "" },
	{ "nexus_redis_key_prefix_hits_total", "nexus.redis.key_prefix.hits", "{hit}", "redis", "" },
	{ "nexus_redis_key_prefix_misses_total", "nexus.redis.key_prefix.misses", "{miss}", "redis",
	  "" },
	{ "nexus_redis_connections", "nexus.db.server.connections", "{connection}", "redis", "" },
	{ "nexus_redis_connections_opened_total", "nexus.db.server.connections.opened",
	  "{connection}", "redis", "" },
	/* PostgreSQL */
	{ "nexus_postgres_queries_total", "nexus.db.server.operations", "{operation}", "postgresql",
	  "" },
	{ "nexus_postgres_query_duration_seconds", "db.server.operation.duration", "s", "postgresql",
	  "" },
	{ "nexus_postgres_request_wait_seconds", "nexus.db.server.request.wait.duration", "s",
	  "postgresql", "" },
	{ "nexus_postgres_query_info", "nexus.postgres.query.info", "1", "postgresql",
	  "query=db.query.text" },
	{ "nexus_postgres_query_exec_seconds_total", "nexus.postgres.query.exec.time", "s",
	  "postgresql", "" },
	{ "nexus_postgres_connections", "nexus.db.server.connections", "{connection}", "postgresql",
	  "state=nexus.db.connection.state" },
	{ "nexus_postgres_connections_opened_total", "nexus.db.server.connections.opened",
	  "{connection}", "postgresql", "" },
	{ "nexus_postgres_buffer_hits_total", "nexus.postgres.buffer.hits", "{hit}", "postgresql",
	  "" },
	{ "nexus_postgres_buffer_reads_total", "nexus.postgres.buffer.reads", "{read}", "postgresql",
	  "" },
	{ "nexus_postgres_lock_wait_seconds_total", "nexus.postgres.lock.wait.time", "s",
	  "postgresql", "" },
	{ "nexus_postgres_lock_waiting_backends", "nexus.postgres.lock.waiting_backends",
	  "{backend}", "postgresql", "" },
	{ "nexus_postgres_deadlocks_total", "nexus.postgres.deadlocks", "{deadlock}", "postgresql",
	  "" },
	{ "nexus_postgres_transactions_total", "nexus.postgres.transactions", "{transaction}",
	  "postgresql", "outcome=nexus.db.transaction.outcome" },
	/* Alerts and health */
	{ "nexus_alerts", "nexus.alerts", "{alert}", NULL,
	  "alertname=nexus.alert.name severity=nexus.alert.severity state=nexus.alert.state" },
	{ "nexus_health_score", "nexus.health.score", "1", NULL, "scope=nexus.health.scope" },
	/* The agent: its own figures keep their names with dots (otlp_names__derive) */
	{ "nexus_agent_build_info", "nexus.agent.build_info", "1", NULL, "version=service.version" },
	{ "nexus_agent_start_time_seconds", "nexus.agent.start_time", "s", NULL, "" },
};
const size_t otlp_n_names = sizeof(otlp_names) / sizeof(otlp_names[0]);

const struct otlp_name *otlp_names__find(const char *prom)
{
	for (size_t i = 1; i < otlp_n_names; i++)
		if (!strcmp(otlp_names[i].prom, prom))
			return &otlp_names[i];
	return NULL;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n > k && !memcmp(s + n - k, suffix, k);
}

void otlp_names__derive(const char *prom, bool counter, char *out, size_t len)
{
	size_t n = strlen(prom);

	if (!len)
		return;
	if (counter && ends_with(prom, n, "_total"))
		n -= 6;
	else if (ends_with(prom, n, "_seconds"))
		n -= 8; /* the unit says it */
	if (n >= len)
		n = len - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = prom[i] == '_' ? '.' : prom[i];
	out[n] = '\0';
}

/* Finds "label=" in a rename list; copies its attribute into buf. */
static bool lookup(const char *list, const char *label, char *buf, size_t len)
{
	size_t k = strlen(label);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ' ');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n > k && !strncmp(p, label, k) && p[k] == '=') {
			snprintf(buf, len, "%.*s", (int)(n - k - 1), p + k + 1);
			return true;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return false;
}

const char *otlp_names__attribute(const struct otlp_name *row, const char *label, char *buf,
				  size_t len)
{
	if (row && lookup(row->labels, label, buf, len))
		return buf;
	if (lookup(otlp_names[0].labels, label, buf, len))
		return buf;
	snprintf(buf, len, "nexus.%s", label);
	return buf;
}

void otlp_names__split_server(const char *server, char *addr, size_t len, int *port)
{
	const char *colon = strrchr(server, ':');
	char *end;
	long p;

	*port = -1;
	snprintf(addr, len, "%s", server);
	if (server[0] == '/' || server[0] == '@' || !colon)
		return; /* a Unix socket: its path is the address (semconv allows it) */
	p = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || p < 0 || p > 65535)
		return;
	*port = (int)p;
	if (server[0] == '[' && colon > server && colon[-1] == ']')
		snprintf(addr, len, "%.*s", (int)(colon - server - 2), server + 1);
	else
		snprintf(addr, len, "%.*s", (int)(colon - server), server);
}

/* The next word of sql at *p (letters, digits, _ . $ and quoted identifiers); "" at the end. */
static size_t next_word(const char **p, char *w, size_t len)
{
	const char *s = *p;
	size_t n = 0;

	while (*s && !(isalnum((unsigned char)*s) || *s == '_' || *s == '"'))
		s++;
	if (*s == '"') {
		s++;
		while (*s && *s != '"') {
			if (n + 1 < len)
				w[n++] = *s;
			s++;
		}
		if (*s)
			s++;
	} else {
		while (*s && (isalnum((unsigned char)*s) || *s == '_' || *s == '.' || *s == '$')) {
			if (n + 1 < len)
				w[n++] = *s;
			s++;
		}
	}
	w[n] = '\0';
	*p = s;
	return n;
}

void otlp_names__query_summary(const char *sql, char *out, size_t len)
{
	/* After which keyword the statement's first target comes, per operation. */
	static const char *const targets[] = { "from", "into", "update", "table", "join", NULL };
	char op[32], w[128];
	const char *p = sql;

	if (!len)
		return;
	out[0] = '\0';
	if (!next_word(&p, op, sizeof(op)))
		return;
	for (char *c = op; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	snprintf(out, len, "%s", op);
	if (!strcmp(op, "UPDATE")) {
		if (next_word(&p, w, sizeof(w)))
			snprintf(out, len, "%s %s", op, w);
		return;
	}
	while (next_word(&p, w, sizeof(w))) {
		for (int i = 0; targets[i]; i++) {
			char t[128];

			if (strcasecmp(w, targets[i]))
				continue;
			/* "select ... from (select ...)": no name follows, keep the operation */
			if (next_word(&p, t, sizeof(t)) && strcasecmp(t, "select") &&
			    !isdigit((unsigned char)t[0]) && t[0] != '$')
				snprintf(out, len, "%s %s", op, t);
			return;
		}
	}
}
