// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "alert/engine.h"
#include "export/otlp_logs.h"
#include "export/otlp_names.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"
#include "util.h"

/* OTLP SeverityNumber values */
enum { SEV_NUM_INFO = 9, SEV_NUM_WARN = 13, SEV_NUM_ERROR = 17 };

void otlp_logs__init(struct otlp_logs *st, uint64_t pg_slow_ns)
{
	memset(st, 0, sizeof(*st));
	st->pg_slow_ns = pg_slow_ns;
}

static struct otlp_log *next(struct otlp_logs *st, struct otlp_log *out, int max, int *n,
			     uint64_t now)
{
	struct otlp_log *l;

	if (*n >= max) {
		st->missed++;
		return NULL;
	}
	l = &out[(*n)++];
	memset(l, 0, sizeof(*l));
	l->observed_unix_ns = now;
	return l;
}

/* --- alerts -------------------------------------------------------------------------------- */

static struct otlp_logs_seen_alert *seen_alert(struct otlp_logs *st, uint64_t fp)
{
	struct otlp_logs_seen_alert *free_slot = NULL, *oldest = &st->alerts[0];

	for (int i = 0; i < OTLP_LOGS_ALERTS; i++) {
		struct otlp_logs_seen_alert *e = &st->alerts[i];

		if (e->last_seen && e->fingerprint == fp)
			return e;
		if (!e->last_seen && !free_slot)
			free_slot = e;
		if (e->last_seen < oldest->last_seen)
			oldest = e;
	}
	/* Full: the instance not listed for longest has been gone from the engine for a while. */
	if (!free_slot)
		free_slot = oldest;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->fingerprint = fp;
	return free_slot;
}

static void alert_record(struct otlp_log *l, const struct alert *a, bool resolved)
{
	const char *sev = alert_severity__str(a->severity);
	char buf[96], fp[20];

	l->time_unix_ns = (uint64_t)(resolved ? a->resolved_at_ms : a->fired_at_ms) * 1000000ULL;
	l->severity_number = resolved			  ? SEV_NUM_INFO
			     : a->severity == SEV_CRITICAL ? SEV_NUM_ERROR
			     : a->severity == SEV_WARNING  ? SEV_NUM_WARN
							   : SEV_NUM_INFO;
	snprintf(l->severity_text, sizeof(l->severity_text), "%s",
		 l->severity_number == SEV_NUM_ERROR  ? "ERROR"
		 : l->severity_number == SEV_NUM_WARN ? "WARN"
						      : "INFO");
	snprintf(l->event_name, sizeof(l->event_name), "nexus.alert");
	snprintf(l->body, sizeof(l->body), "alert %s %s: %s%s%s", a->name,
		 resolved ? "resolved" : "firing", a->summary, a->description[0] ? " " : "",
		 a->description);
	otlp_log__str(l, "nexus.alert.name", a->name);
	otlp_log__str(l, "nexus.alert.severity", sev);
	otlp_log__str(l, "nexus.alert.state", resolved ? "resolved" : "firing");
	snprintf(fp, sizeof(fp), "%016" PRIx64, a->fingerprint);
	otlp_log__str(l, "nexus.alert.fingerprint", fp);
	if (isfinite(a->value))
		otlp_log__double(l, "nexus.alert.value", a->value);
	if (isfinite(a->threshold))
		otlp_log__double(l, "nexus.alert.threshold", a->threshold);
	for (int i = 0; i < a->n_labels; i++) {
		const struct alert_label *lb = &a->labels[i];

		if (!strcmp(lb->name, "server")) {
			otlp_log__server(l, "server", lb->value);
		} else if (!strcmp(lb->name, "kind")) {
			if (!strcmp(lb->value, "redis") || !strcmp(lb->value, "postgres"))
				otlp_log__str(l, "db.system.name",
					      lb->value[0] == 'r' ? "redis" : "postgresql");
		} else {
			const char *attr = otlp_names__attribute(NULL, lb->name, buf, sizeof(buf));

			if (strcmp(attr, "-") && strchr(attr, '+') == NULL)
				otlp_log__str(l, attr, lb->value);
		}
	}
}

static void collect_alerts(struct otlp_logs *st, const struct engine_snapshot *es,
			   struct otlp_log *out, int max, int *n, uint64_t now)
{
	for (int i = 0; i < es->n_alerts; i++) {
		const struct alert *a = &es->alerts[i];
		struct otlp_logs_seen_alert *e;
		struct otlp_log *l;

		if (!a->fired_at_ms)
			continue; /* pending alerts are not sent (Alertmanager never sees them either) */
		e = seen_alert(st, a->fingerprint);
		e->last_seen = st->round;
		if (e->fired_ms != a->fired_at_ms) {
			e->fired_ms = a->fired_at_ms;
			l = next(st, out, max, n, now);
			if (l) {
				alert_record(l, a, false);
				st->alerts_out++;
			}
		}
		if (a->state == ALERT_RESOLVED && a->resolved_at_ms &&
		    e->resolved_ms != a->resolved_at_ms) {
			e->resolved_ms = a->resolved_at_ms;
			l = next(st, out, max, n, now);
			if (l) {
				alert_record(l, a, true);
				st->alerts_out++;
			}
		}
	}
}

/* --- Redis slow commands ------------------------------------------------------------------- */

static void slow_command_record(struct otlp_log *l, const struct rs_slow_entry *e)
{
	double server_s = e->server_ns / 1e9, wait_s = e->wait_ns / 1e9;
	char db[8];

	l->time_unix_ns = (uint64_t)e->unix_ms * 1000000ULL;
	l->severity_number = SEV_NUM_WARN;
	snprintf(l->severity_text, sizeof(l->severity_text), "WARN");
	snprintf(l->event_name, sizeof(l->event_name), "nexus.redis.slow_command");
	if (e->wait_known)
		snprintf(l->body, sizeof(l->body),
			 "slow command %s%s%s on %s: %.3f ms felt (%.3f ms in the server, %.3f ms "
			 "waiting in the socket)",
			 e->command, e->prefix[0] ? " " : "", e->prefix, e->server,
			 (server_s + wait_s) * 1e3, server_s * 1e3, wait_s * 1e3);
	else
		snprintf(l->body, sizeof(l->body), "slow command %s%s%s on %s: %.3f ms in the server",
			 e->command, e->prefix[0] ? " " : "", e->prefix, e->server, server_s * 1e3);
	otlp_log__str(l, "db.system.name", "redis");
	otlp_log__server(l, "server", e->server);
	otlp_log__server(l, "client", e->client);
	snprintf(db, sizeof(db), "%u", e->db);
	otlp_log__str(l, "db.namespace", db);
	otlp_log__str(l, "db.operation.name", e->command);
	if (e->prefix[0])
		otlp_log__str(l, "nexus.redis.key_prefix", e->prefix);
	if (strcmp(e->status, "ok"))
		otlp_log__str(l, "error.type", e->status);
	otlp_log__double(l, "nexus.server.duration", server_s);
	if (e->wait_known) {
		otlp_log__double(l, "nexus.request.wait", wait_s);
		otlp_log__double(l, "nexus.felt.duration", server_s + wait_s);
	}
}

/* The log is newest first and holds no ids: what is newer than the watermark (and, at the
 * watermark's millisecond, beyond the entries already sent then) is new. */
static void collect_slow_commands(struct otlp_logs *st, const struct redis_snapshot *rs,
				  struct otlp_log *out, int max, int *n, uint64_t now)
{
	int fresh = 0, at_wm = 0, at_top = 0;

	for (int i = 0; i < rs->n_slow; i++) {
		if (!st->slow_started || rs->slow[i].unix_ms > st->slow_ms)
			fresh++;
		else if (rs->slow[i].unix_ms == st->slow_ms)
			at_wm++;
	}
	if (st->slow_started && at_wm > st->slow_at_ms)
		fresh += at_wm - st->slow_at_ms;
	if (rs->n_slow) {
		for (int i = 0; i < rs->n_slow && rs->slow[i].unix_ms == rs->slow[0].unix_ms; i++)
			at_top++;
		/* A full log with nothing left at or before the watermark lost some in between. */
		if (st->slow_started && rs->slow[rs->n_slow - 1].unix_ms > st->slow_ms)
			st->missed++;
		st->slow_ms = rs->slow[0].unix_ms;
		st->slow_at_ms = at_top;
		st->slow_started = true;
	}
	/* oldest first, as they happened */
	for (int i = fresh - 1; i >= 0; i--) {
		struct otlp_log *l = next(st, out, max, n, now);

		if (!l)
			continue;
		slow_command_record(l, &rs->slow[i]);
		st->slow_commands_out++;
	}
}

/* --- PostgreSQL slow statements ------------------------------------------------------------ */

static struct otlp_logs_seen_pg *seen_pg(struct otlp_logs *st, uint64_t key, bool add)
{
	struct otlp_logs_seen_pg *free_slot = NULL;

	for (int i = 0; i < OTLP_LOGS_SLOW_PG; i++) {
		if (st->pg[i].key == key && st->pg[i].slow)
			return &st->pg[i];
		if (!st->pg[i].slow && !free_slot)
			free_slot = &st->pg[i];
	}
	if (!add)
		return NULL;
	if (free_slot)
		free_slot->key = key;
	return free_slot;
}

static void slow_statement_record(struct otlp_log *l, const struct ps_server_snap *sv,
				  const struct ps_series_snap *se, uint64_t now)
{
	double p95 = se->lat.q_win[LS_P95] / 1e9, p99 = se->lat.q_win[LS_P99] / 1e9;
	char fp[20], summary[128];

	l->time_unix_ns = now;
	l->severity_number = SEV_NUM_WARN;
	snprintf(l->severity_text, sizeof(l->severity_text), "WARN");
	snprintf(l->event_name, sizeof(l->event_name), "nexus.postgres.slow_statement");
	snprintf(fp, sizeof(fp), "%016" PRIx64, se->fingerprint);
	otlp_names__query_summary(se->text, summary, sizeof(summary));
	snprintf(l->body, sizeof(l->body),
		 "slow statement on %s/%s: p95 %.3f ms, p99 %.3f ms over the last minute (%" PRIu64
		 " calls): %s",
		 sv->server, se->database, p95 * 1e3, p99 * 1e3, se->lat.win_count, se->text);
	otlp_log__str(l, "db.system.name", "postgresql");
	otlp_log__server(l, "server", sv->server);
	otlp_log__str(l, "db.namespace", se->database);
	otlp_log__str(l, "nexus.db.user", se->user);
	otlp_log__str(l, "db.query.summary", summary);
	otlp_log__str(l, "db.query.text", se->text); /* normalised: literals are $n */
	otlp_log__str(l, "nexus.db.query.fingerprint", fp);
	otlp_log__double(l, "nexus.duration.p95", p95);
	otlp_log__double(l, "nexus.duration.p99", p99);
	otlp_log__int(l, "nexus.calls", (int64_t)se->lat.win_count);
}

static void collect_slow_statements(struct otlp_logs *st, const struct postgres_snapshot *ps,
				    struct otlp_log *out, int max, int *n, uint64_t now)
{
	for (int i = 0; i < ps->n_servers; i++) {
		const struct ps_server_snap *sv = &ps->servers[i];

		for (int j = 0; j < sv->n_series; j++) {
			const struct ps_series_snap *se = &sv->series[j];
			uint64_t key = nx_fnv1a64_str(NX_FNV64_INIT, sv->server);
			uint64_t p95 = se->lat.q_win[LS_P95];
			struct otlp_logs_seen_pg *e;
			struct otlp_log *l;

			key = nx_fnv1a64_str(key, se->database);
			key = nx_fnv1a64_str(key, se->user);
			key = nx_fnv1a64(key, &se->fingerprint, sizeof(se->fingerprint));
			key |= 1; /* never 0 */
			e = seen_pg(st, key, false);
			/* Fast again (half the threshold: no flapping): may be reported again. */
			if (e && se->lat.win_count && p95 < st->pg_slow_ns / 2)
				e->slow = false;
			if (e || !se->lat.win_count || p95 < st->pg_slow_ns)
				continue;
			e = seen_pg(st, key, true);
			if (!e) {
				st->missed++;
				continue;
			}
			l = next(st, out, max, n, now);
			if (!l)
				continue; /* not marked: tried again next round */
			e->slow = true;
			slow_statement_record(l, sv, se, now);
			st->slow_statements_out++;
		}
	}
}

int otlp_logs__collect(struct otlp_logs *st, const struct engine_snapshot *es,
		       const struct redis_snapshot *rs, const struct postgres_snapshot *ps,
		       uint64_t now_unix_ns, struct otlp_log *out, int max)
{
	int n = 0;

	st->round++;
	if (es)
		collect_alerts(st, es, out, max, &n, now_unix_ns);
	if (rs)
		collect_slow_commands(st, rs, out, max, &n, now_unix_ns);
	if (ps && st->pg_slow_ns)
		collect_slow_statements(st, ps, out, max, &n, now_unix_ns);
	return n;
}
