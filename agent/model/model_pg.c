// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The nexus_postgres_* families of the metric model, from a PostgreSQL snapshot. Names are an
 * interface. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "model/model_fill.h"
#include "model/server_labels.h"

static void fp_label(char *buf, size_t len, uint64_t fp, const char *text)
{
	if (!fp && !strcmp(text, LS_OTHER))
		snprintf(buf, len, "%s", LS_OTHER);
	else
		snprintf(buf, len, "%016" PRIx64, fp);
}

static void server_labels(struct mm_labels *ls, const struct ps_server_snap *sv)
{
	model__server_labels(ls, sv->server, &sv->ident);
}

static void fill_queries(struct metric_model *m, const struct ps_server_snap *sv)
{
	for (int i = 0; i < sv->n_series; i++) {
		const struct ps_series_snap *se = &sv->series[i];
		struct mm_labels base, ls;
		char fp[24];

		fp_label(fp, sizeof(fp), se->fingerprint, se->text);
		server_labels(&base, sv);
		mm_labels__add(&base, "database", se->database);
		mm_labels__add(&base, "user", se->user);
		mm_labels__add(&base, "fingerprint", fp);
		ls = base;
		mm_labels__add(&ls, "status", "ok");
		mm__sample(m, &ls, se->lat.ok);
		for (int e = 0; e < se->lat.n_errs; e++) {
			ls = base;
			mm_labels__add(&ls, "status", se->lat.errs[e].word);
			mm__sample(m, &ls, se->lat.errs[e].n);
		}
	}
}

static bool same_group(const struct ps_series_snap *a, const struct ps_series_snap *b)
{
	return a->fingerprint == b->fingerprint && !strcmp(a->database, b->database) &&
	       !strcmp(a->text, b->text);
}

/* Time requests waited unread in the backends' sockets (sk_data_ready to the read). */
static void fill_wait(struct metric_model *m, const struct postgres_snapshot *s)
{
	mm__histogram_family(m, "nexus_postgres_request_wait_seconds", "s",
			     "Time from a request's arrival at the server's socket (sk_data_ready) to "
			     "the server's read of it.",
			     ls_le_seconds, LS_N_LE);
	for (int i = 0; i < s->n_servers; i++) {
		const struct lat_snap *w = &s->servers[i].wait;
		struct mm_labels ls;

		server_labels(&ls, &s->servers[i]);
		mm__histogram(m, &ls, w->le, w->count, w->sum_ns / 1e9);
		model__fine(m, &w->fine);
	}
}

/* The histogram is per (server, database, fingerprint): users' series add up bucket by bucket. */
static void fill_hist(struct metric_model *m, const struct ps_server_snap *sv)
{
	for (int i = 0; i < sv->n_series; i++) {
		const struct ps_series_snap *se = &sv->series[i];
		uint64_t le[LS_N_LE] = { 0 }, count = 0, sum = 0;
		struct hist_sparse fine = { 0 }; /* for OTLP exponential histograms */
		struct mm_labels ls;
		bool seen = false;
		char fp[24];

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
			hist_sparse__merge(&fine, &sv->series[j].lat.fine);
		}
		fp_label(fp, sizeof(fp), se->fingerprint, se->text);
		server_labels(&ls, sv);
		mm_labels__add(&ls, "database", se->database);
		mm_labels__add(&ls, "fingerprint", fp);
		mm__histogram(m, &ls, le, count, sum / 1e9);
		model__fine(m, &fine);
	}
}

/* One info series per fingerprint, whichever servers and databases run it. */
static void fill_info(struct metric_model *m, const struct postgres_snapshot *s)
{
	for (int i = 0; i < s->n_servers; i++) {
		for (int j = 0; j < s->servers[i].n_series; j++) {
			const struct ps_series_snap *se = &s->servers[i].series[j];
			struct mm_labels ls;
			bool seen = false;
			char fp[24];

			for (int a = 0; a <= i && !seen; a++)
				for (int b = 0; b < (a == i ? j : s->servers[a].n_series) && !seen; b++)
					seen = s->servers[a].series[b].fingerprint == se->fingerprint;
			if (seen)
				continue;
			fp_label(fp, sizeof(fp), se->fingerprint, se->text);
			mm_labels__reset(&ls);
			mm_labels__add(&ls, "fingerprint", fp);
			mm_labels__add(&ls, "query", se->text);
			mm__sample(m, &ls, 1);
		}
	}
}

static bool same_conn_group(const struct ps_conn_snap *a, const struct ps_conn_snap *b)
{
	return a->state == b->state && !strcmp(a->database, b->database) &&
	       !strcmp(a->user, b->user);
}

static void fill_connections(struct metric_model *m, const struct postgres_snapshot *s)
{
	mm__family(m, "nexus_postgres_connections", MM_GAUGE, "{connection}",
		   "Client connections by database, user and state.");
	for (int i = 0; i < s->n_servers; i++) {
		const struct ps_server_snap *sv = &s->servers[i];

		for (int j = 0; j < sv->n_conns; j++) {
			const struct ps_conn_snap *k = &sv->conns[j];
			struct mm_labels ls;
			bool seen = false;
			uint64_t n = 0;

			/* Rows are per application and client too; the metric sums over them. */
			for (int o = 0; o < j && !seen; o++)
				seen = same_conn_group(&sv->conns[o], k);
			if (seen)
				continue;
			for (int o = j; o < sv->n_conns; o++)
				if (same_conn_group(&sv->conns[o], k))
					n += sv->conns[o].n;
			server_labels(&ls, sv);
			mm_labels__add(&ls, "database", k->database);
			mm_labels__add(&ls, "user", k->user);
			mm_labels__add(&ls, "state", pg_state_names[k->state]);
			mm__sample(m, &ls, n);
		}
	}
	mm__family(m, "nexus_postgres_connections_opened_total", MM_COUNTER, "{connection}",
		   "Client connections opened (or first seen).");
	for (int i = 0; i < s->n_servers; i++) {
		struct mm_labels ls;

		server_labels(&ls, &s->servers[i]);
		mm__sample(m, &ls, s->servers[i].conns_opened);
	}
}

/* One counter per (server, database) from the USDT figures; field picks it from a ps_db_snap. */
static void fill_db_counter(struct metric_model *m, const struct postgres_snapshot *s,
			    const char *extra_name, const char *extra_value,
			    double (*field)(const struct ps_db_snap *d))
{
	for (int i = 0; i < s->n_servers; i++) {
		const struct ps_server_snap *sv = &s->servers[i];

		/* Without probes these would be zeros that look like "no buffer traffic". */
		if (!sv->usdt)
			continue;
		for (int j = 0; j < sv->n_dbs; j++) {
			struct mm_labels ls;

			server_labels(&ls, sv);
			mm_labels__add(&ls, "database", sv->dbs[j].database);
			if (extra_name)
				mm_labels__add(&ls, extra_name, extra_value);
			mm__sample(m, &ls, field(&sv->dbs[j]));
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
static void fill_exec(struct metric_model *m, const struct postgres_snapshot *s)
{
	if (!s->exec_time)
		return;
	mm__family(m, "nexus_postgres_query_exec_seconds_total", MM_COUNTER, "s",
		   "Time statements spent executing inside the server (USDT query__start/done, or "
		   "query__execute__start/done for the extended protocol); divide by "
		   "nexus_postgres_queries_total for the mean, compare with the wire duration.");
	for (int i = 0; i < s->n_servers; i++) {
		const struct ps_server_snap *sv = &s->servers[i];

		if (!sv->usdt)
			continue;
		for (int j = 0; j < sv->n_series; j++) {
			const struct ps_series_snap *se = &sv->series[j];
			struct mm_labels ls;
			uint64_t ns = 0;
			bool seen = false;
			char fp[24];

			for (int k = 0; k < j && !seen; k++)
				seen = same_group(&sv->series[k], se);
			if (seen)
				continue;
			for (int k = j; k < sv->n_series; k++)
				if (same_group(&sv->series[k], se))
					ns += sv->series[k].exec_ns;
			fp_label(fp, sizeof(fp), se->fingerprint, se->text);
			server_labels(&ls, sv);
			mm_labels__add(&ls, "database", se->database);
			mm_labels__add(&ls, "fingerprint", fp);
			mm__sample(m, &ls, ns / 1e9);
		}
	}
}

static void fill_usdt(struct metric_model *m, const struct postgres_snapshot *s)
{
	fill_exec(m, s);
	mm__family(m, "nexus_postgres_buffer_hits_total", MM_COUNTER, "{page}",
		   "Shared-buffer reads that found the page in PostgreSQL's cache (USDT "
		   "buffer__read__done).");
	fill_db_counter(m, s, NULL, NULL, db_hits);
	mm__family(m, "nexus_postgres_buffer_reads_total", MM_COUNTER, "{page}",
		   "Shared-buffer reads that missed PostgreSQL's cache and went to the kernel "
		   "(or extended the relation).");
	fill_db_counter(m, s, NULL, NULL, db_reads);
	mm__family(m, "nexus_postgres_lock_wait_seconds_total", MM_COUNTER, "s",
		   "Time backends spent waiting for heavyweight locks (finished waits).");
	fill_db_counter(m, s, NULL, NULL, db_lock_wait);
	mm__family(m, "nexus_postgres_lock_waiting_backends", MM_GAUGE, "{backend}",
		   "Backends waiting for a heavyweight lock at the last sample.");
	fill_db_counter(m, s, NULL, NULL, db_waiting);
	mm__family(m, "nexus_postgres_transactions_total", MM_COUNTER, "{transaction}",
		   "Transactions by outcome: commit or rollback (USDT transaction__commit/abort).");
	fill_db_counter(m, s, "outcome", "commit", db_commits);
	fill_db_counter(m, s, "outcome", "rollback", db_rollbacks);
	mm__family(m, "nexus_postgres_deadlocks_total", MM_COUNTER, "{deadlock}",
		   "Deadlocks the server detected (USDT deadlock__found).");
	for (int i = 0; i < s->n_servers; i++) {
		struct mm_labels ls;

		if (!s->servers[i].usdt)
			continue;
		server_labels(&ls, &s->servers[i]);
		mm__sample(m, &ls, s->servers[i].deadlocks);
	}
}

void model__fill_postgres(struct metric_model *m, const struct postgres_snapshot *s)
{
	mm__family(m, "nexus_postgres_queries_total", MM_COUNTER, "{statement}",
		   "Statements by server, database, user, fingerprint and status (ok or the "
		   "SQLSTATE class).");
	for (int i = 0; i < s->n_servers; i++)
		fill_queries(m, &s->servers[i]);
	mm__histogram_family(m, "nexus_postgres_query_duration_seconds", "s",
			     "Time from a statement's arrival to the server's reply being complete.",
			     ls_le_seconds, LS_N_LE);
	for (int i = 0; i < s->n_servers; i++)
		fill_hist(m, &s->servers[i]);
	fill_wait(m, s);
	mm__family(m, "nexus_postgres_query_info", MM_GAUGE, "1",
		   "The normalised text (no literals) of each fingerprint.");
	fill_info(m, s);
	fill_connections(m, s);
	fill_usdt(m, s);
	mm__single(m, "nexus_postgres_dropped_series_total", MM_COUNTER, "{statement}",
		   "Statements counted under fingerprint=\"(other)\" because the series cap was "
		   "reached.", s->dropped_series);
	mm__single(m, "nexus_postgres_parse_errors_total", MM_COUNTER, "By",
		   "Bytes of PostgreSQL traffic that were not the v3 protocol.",
		   s->wire.parse_errors);
	mm__single(m, "nexus_postgres_resyncs_total", MM_COUNTER, "{resync}",
		   "Times a connection lost its framing (a gap across a header, bad bytes).",
		   s->wire.resyncs);
	mm__single(m, "nexus_postgres_unpaired_statements_total", MM_COUNTER, "{statement}",
		   "Statements dropped without their response.", s->wire.unpaired);
	mm__single(m, "nexus_postgres_folded_statements_total", MM_COUNTER, "{statement}",
		   "Statements of batches longer than the parser's queue, counted one by one from "
		   "a folded run of repeated messages.", s->wire.folded);
	mm__single(m, "nexus_postgres_batch_timed_statements_total", MM_COUNTER, "{statement}",
		   "Folded statements whose duration starts at an earlier read of their batch "
		   "than their own.", s->wire.batch_timed);
	mm__single(m, "nexus_postgres_encrypted_connections_total", MM_COUNTER, "{connection}",
		   "Connections that switched to SSL/GSS encryption: counted, not decoded.",
		   s->wire.encrypted_conns);
	model__fill_relations(m, s);
}
