// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "export/pg_metrics.h"
#include "export/pg_relation_metrics.h"

#define LABELS 1024

static void fp_label(char *buf, size_t len, uint64_t fp, const char *text)
{
	if (!fp && !strcmp(text, LS_OTHER))
		snprintf(buf, len, "%s", LS_OTHER);
	else
		snprintf(buf, len, "%016" PRIx64, fp);
}

static void render_queries(struct prom *p, const struct ps_server_snap *sv)
{
	for (int i = 0; i < sv->n_series; i++) {
		const struct ps_series_snap *se = &sv->series[i];
		char fp[24], base[LABELS], labels[LABELS];

		fp_label(fp, sizeof(fp), se->fingerprint, se->text);
		base[0] = '\0';
		prom__label(base, LABELS, "server", sv->server);
		prom__label(base, LABELS, "database", se->database);
		prom__label(base, LABELS, "user", se->user);
		prom__label(base, LABELS, "fingerprint", fp);
		snprintf(labels, sizeof(labels), "%s", base);
		prom__label(labels, LABELS, "status", "ok");
		prom__sample(p, "nexus_postgres_queries_total", labels, se->lat.ok);
		for (int e = 0; e < se->lat.n_errs; e++) {
			snprintf(labels, sizeof(labels), "%s", base);
			prom__label(labels, LABELS, "status", se->lat.errs[e].word);
			prom__sample(p, "nexus_postgres_queries_total", labels, se->lat.errs[e].n);
		}
	}
}

static bool same_group(const struct ps_series_snap *a, const struct ps_series_snap *b)
{
	return a->fingerprint == b->fingerprint && !strcmp(a->database, b->database) &&
	       !strcmp(a->text, b->text);
}

/* Time requests waited unread in the backends' sockets (sk_data_ready to the read). */
static void render_wait(struct prom *p, const struct postgres_snapshot *s)
{
	const char *family = "nexus_postgres_request_wait_seconds";

	prom__family(p, family, "histogram",
		     "Time from a request's arrival at the server's socket (sk_data_ready) to the "
		     "server's read of it.");
	for (int i = 0; i < s->n_servers; i++) {
		const struct lat_snap *w = &s->servers[i].wait;
		char base[LABELS], labels[LABELS], v[32];

		base[0] = '\0';
		prom__label(base, LABELS, "server", s->servers[i].server);
		for (int k = 0; k <= LS_N_LE; k++) {
			snprintf(labels, sizeof(labels), "%s", base);
			if (k < LS_N_LE)
				snprintf(v, sizeof(v), "%g", ls_le_seconds[k]);
			prom__label(labels, LABELS, "le", k < LS_N_LE ? v : "+Inf");
			prom__sample(p, "nexus_postgres_request_wait_seconds_bucket", labels,
				     k < LS_N_LE ? w->le[k] : w->count);
		}
		prom__sample(p, "nexus_postgres_request_wait_seconds_sum", base, w->sum_ns / 1e9);
		prom__sample(p, "nexus_postgres_request_wait_seconds_count", base, w->count);
	}
}

/* The histogram is per (server, database, fingerprint): users' series add up bucket by bucket. */
static void render_hist(struct prom *p, const struct ps_server_snap *sv)
{
	for (int i = 0; i < sv->n_series; i++) {
		const struct ps_series_snap *se = &sv->series[i];
		uint64_t le[LS_N_LE] = { 0 }, count = 0, sum = 0;
		char fp[24], base[LABELS], labels[LABELS], v[32];
		bool seen = false;

		for (int j = 0; j < i; j++)
			seen |= same_group(&sv->series[j], se);
		if (seen)
			continue;
		for (int j = i; j < sv->n_series; j++) {
			if (!same_group(&sv->series[j], se))
				continue;
			for (int k = 0; k < LS_N_LE; k++)
				le[k] += sv->series[j].lat.le[k];
			count += sv->series[j].lat.count;
			sum += sv->series[j].lat.sum_ns;
		}
		fp_label(fp, sizeof(fp), se->fingerprint, se->text);
		base[0] = '\0';
		prom__label(base, LABELS, "server", sv->server);
		prom__label(base, LABELS, "database", se->database);
		prom__label(base, LABELS, "fingerprint", fp);
		for (int k = 0; k <= LS_N_LE; k++) {
			snprintf(labels, sizeof(labels), "%s", base);
			if (k < LS_N_LE)
				snprintf(v, sizeof(v), "%g", ls_le_seconds[k]);
			prom__label(labels, LABELS, "le", k < LS_N_LE ? v : "+Inf");
			prom__sample(p, "nexus_postgres_query_duration_seconds_bucket", labels,
				     k < LS_N_LE ? le[k] : count);
		}
		prom__sample(p, "nexus_postgres_query_duration_seconds_sum", base, sum / 1e9);
		prom__sample(p, "nexus_postgres_query_duration_seconds_count", base, count);
	}
}

/* One info series per fingerprint, whichever servers and databases run it. */
static void render_info(struct prom *p, const struct postgres_snapshot *s)
{
	for (int i = 0; i < s->n_servers; i++) {
		for (int j = 0; j < s->servers[i].n_series; j++) {
			const struct ps_series_snap *se = &s->servers[i].series[j];
			char fp[24], labels[LABELS] = "";
			bool seen = false;

			for (int a = 0; a <= i && !seen; a++)
				for (int b = 0; b < (a == i ? j : s->servers[a].n_series) && !seen; b++)
					seen = s->servers[a].series[b].fingerprint == se->fingerprint;
			if (seen)
				continue;
			fp_label(fp, sizeof(fp), se->fingerprint, se->text);
			prom__label(labels, LABELS, "fingerprint", fp);
			prom__label(labels, LABELS, "query", se->text);
			prom__sample(p, "nexus_postgres_query_info", labels, 1);
		}
	}
}

static bool same_conn_group(const struct ps_conn_snap *a, const struct ps_conn_snap *b)
{
	return a->state == b->state && !strcmp(a->database, b->database) &&
	       !strcmp(a->user, b->user);
}

/* One counter per (server, database) from the USDT figures; field picks it from a ps_db_snap. */
static void render_db_counter(struct prom *p, const struct postgres_snapshot *s, const char *name,
			      const char *extra_name, const char *extra_value,
			      double (*field)(const struct ps_db_snap *d))
{
	char labels[LABELS];

	for (int i = 0; i < s->n_servers; i++) {
		const struct ps_server_snap *sv = &s->servers[i];

		/* Without probes these would be zeros that look like "no buffer traffic". */
		if (!sv->usdt)
			continue;
		for (int j = 0; j < sv->n_dbs; j++) {
			labels[0] = '\0';
			prom__label(labels, LABELS, "server", sv->server);
			prom__label(labels, LABELS, "database", sv->dbs[j].database);
			if (extra_name)
				prom__label(labels, LABELS, extra_name, extra_value);
			prom__sample(p, name, labels, field(&sv->dbs[j]));
		}
	}
}

static double db_hits(const struct ps_db_snap *d) { return d->buffer_hits; }
static double db_reads(const struct ps_db_snap *d) { return d->buffer_reads; }
static double db_lock_wait(const struct ps_db_snap *d) { return d->lock_wait_ns / 1e9; }
static double db_commits(const struct ps_db_snap *d) { return d->commits; }
static double db_rollbacks(const struct ps_db_snap *d) { return d->rollbacks; }
static double db_waiting(const struct ps_db_snap *d) { return d->lock_waiting; }

/* Execution inside the server per (server, database, fingerprint): users' series add up. Only
 * when measured (--pg-exec-time): zeros would read as statements that took no time. */
static void render_exec(struct prom *p, const struct postgres_snapshot *s)
{
	if (!s->exec_time)
		return;
	prom__family(p, "nexus_postgres_query_exec_seconds_total", "counter",
		     "Time statements spent executing inside the server (USDT query__start/done, or "
		     "query__execute__start/done for the extended protocol); divide by "
		     "nexus_postgres_queries_total for the mean, compare with the wire duration.");
	for (int i = 0; i < s->n_servers; i++) {
		const struct ps_server_snap *sv = &s->servers[i];

		if (!sv->usdt)
			continue;
		for (int j = 0; j < sv->n_series; j++) {
			const struct ps_series_snap *se = &sv->series[j];
			char fp[24], labels[LABELS];
			uint64_t ns = 0;
			bool seen = false;

			for (int k = 0; k < j && !seen; k++)
				seen = same_group(&sv->series[k], se);
			if (seen)
				continue;
			for (int k = j; k < sv->n_series; k++)
				if (same_group(&sv->series[k], se))
					ns += sv->series[k].exec_ns;
			fp_label(fp, sizeof(fp), se->fingerprint, se->text);
			labels[0] = '\0';
			prom__label(labels, LABELS, "server", sv->server);
			prom__label(labels, LABELS, "database", se->database);
			prom__label(labels, LABELS, "fingerprint", fp);
			prom__sample(p, "nexus_postgres_query_exec_seconds_total", labels, ns / 1e9);
		}
	}
}

static void render_usdt(struct prom *p, const struct postgres_snapshot *s)
{
	char labels[LABELS];

	render_exec(p, s);
	prom__family(p, "nexus_postgres_buffer_hits_total", "counter",
		     "Shared-buffer reads that found the page in PostgreSQL's cache (USDT "
		     "buffer__read__done).");
	render_db_counter(p, s, "nexus_postgres_buffer_hits_total", NULL, NULL, db_hits);
	prom__family(p, "nexus_postgres_buffer_reads_total", "counter",
		     "Shared-buffer reads that missed PostgreSQL's cache and went to the kernel "
		     "(or extended the relation).");
	render_db_counter(p, s, "nexus_postgres_buffer_reads_total", NULL, NULL, db_reads);
	prom__family(p, "nexus_postgres_lock_wait_seconds_total", "counter",
		     "Time backends spent waiting for heavyweight locks (finished waits).");
	render_db_counter(p, s, "nexus_postgres_lock_wait_seconds_total", NULL, NULL, db_lock_wait);
	prom__family(p, "nexus_postgres_lock_waiting_backends", "gauge",
		     "Backends waiting for a heavyweight lock at the last sample.");
	render_db_counter(p, s, "nexus_postgres_lock_waiting_backends", NULL, NULL, db_waiting);
	prom__family(p, "nexus_postgres_transactions_total", "counter",
		     "Transactions by outcome: commit or rollback (USDT transaction__commit/abort).");
	render_db_counter(p, s, "nexus_postgres_transactions_total", "outcome", "commit", db_commits);
	render_db_counter(p, s, "nexus_postgres_transactions_total", "outcome", "rollback",
			  db_rollbacks);
	prom__family(p, "nexus_postgres_deadlocks_total", "counter",
		     "Deadlocks the server detected (USDT deadlock__found).");
	for (int i = 0; i < s->n_servers; i++) {
		if (!s->servers[i].usdt)
			continue;
		labels[0] = '\0';
		prom__label(labels, LABELS, "server", s->servers[i].server);
		prom__sample(p, "nexus_postgres_deadlocks_total", labels, s->servers[i].deadlocks);
	}
}

void pg_metrics__render(struct prom *p, const struct postgres_snapshot *s)
{
	char labels[LABELS];

	prom__family(p, "nexus_postgres_queries_total", "counter",
		     "Statements by server, database, user, fingerprint and status (ok or the "
		     "SQLSTATE class).");
	for (int i = 0; i < s->n_servers; i++)
		render_queries(p, &s->servers[i]);
	prom__family(p, "nexus_postgres_query_duration_seconds", "histogram",
		     "Time from a statement's arrival to the server's reply being complete.");
	for (int i = 0; i < s->n_servers; i++)
		render_hist(p, &s->servers[i]);
	render_wait(p, s);
	prom__family(p, "nexus_postgres_query_info", "gauge",
		     "The normalised text (no literals) of each fingerprint.");
	render_info(p, s);
	prom__family(p, "nexus_postgres_connections", "gauge",
		     "Client connections by database, user and state.");
	for (int i = 0; i < s->n_servers; i++) {
		const struct ps_server_snap *sv = &s->servers[i];

		for (int j = 0; j < sv->n_conns; j++) {
			const struct ps_conn_snap *k = &sv->conns[j];
			bool seen = false;
			uint64_t n = 0;

			/* Rows are per application and client too; the metric sums over them. */
			for (int m = 0; m < j && !seen; m++)
				seen = same_conn_group(&sv->conns[m], k);
			if (seen)
				continue;
			for (int m = j; m < sv->n_conns; m++)
				if (same_conn_group(&sv->conns[m], k))
					n += sv->conns[m].n;
			labels[0] = '\0';
			prom__label(labels, LABELS, "server", sv->server);
			prom__label(labels, LABELS, "database", k->database);
			prom__label(labels, LABELS, "user", k->user);
			prom__label(labels, LABELS, "state", pg_state_names[k->state]);
			prom__sample(p, "nexus_postgres_connections", labels, n);
		}
	}
	prom__family(p, "nexus_postgres_connections_opened_total", "counter",
		     "Client connections opened (or first seen).");
	for (int i = 0; i < s->n_servers; i++) {
		labels[0] = '\0';
		prom__label(labels, LABELS, "server", s->servers[i].server);
		prom__sample(p, "nexus_postgres_connections_opened_total", labels,
			     s->servers[i].conns_opened);
	}
	render_usdt(p, s);
	prom__family(p, "nexus_postgres_dropped_series_total", "counter",
		     "Statements counted under fingerprint=\"(other)\" because the series cap was "
		     "reached.");
	prom__sample(p, "nexus_postgres_dropped_series_total", NULL, s->dropped_series);
	prom__family(p, "nexus_postgres_parse_errors_total", "counter",
		     "Bytes of PostgreSQL traffic that were not the v3 protocol.");
	prom__sample(p, "nexus_postgres_parse_errors_total", NULL, s->wire.parse_errors);
	prom__family(p, "nexus_postgres_resyncs_total", "counter",
		     "Times a connection lost its framing (a gap across a header, bad bytes).");
	prom__sample(p, "nexus_postgres_resyncs_total", NULL, s->wire.resyncs);
	prom__family(p, "nexus_postgres_unpaired_statements_total", "counter",
		     "Statements dropped without their response.");
	prom__sample(p, "nexus_postgres_unpaired_statements_total", NULL, s->wire.unpaired);
	prom__family(p, "nexus_postgres_folded_statements_total", "counter",
		     "Statements of batches longer than the parser's queue, counted one by one "
		     "from a folded run of repeated messages.");
	prom__sample(p, "nexus_postgres_folded_statements_total", NULL, s->wire.folded);
	prom__family(p, "nexus_postgres_batch_timed_statements_total", "counter",
		     "Folded statements whose duration starts at an earlier read of their batch "
		     "than their own.");
	prom__sample(p, "nexus_postgres_batch_timed_statements_total", NULL, s->wire.batch_timed);
	prom__family(p, "nexus_postgres_encrypted_connections_total", "counter",
		     "Connections that switched to SSL/GSS encryption: counted, not decoded.");
	prom__sample(p, "nexus_postgres_encrypted_connections_total", NULL, s->wire.encrypted_conns);
	pg_relation_metrics__render(p, s);
}
