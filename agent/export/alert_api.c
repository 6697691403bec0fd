// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "export/alert_api.h"
#include "export/capacity_metrics.h"
#include "export/api.h"
#include "stats/snap_box.h"


/* jansson has no NaN: an unknown figure is null. */
static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* unix ms -> "2024-05-01T12:00:00.123Z"; 0 -> null */
static json_t *rfc3339(int64_t ms)
{
	char buf[40];
	struct tm tm;
	time_t t;

	if (ms <= 0)
		return json_null();
	t = (time_t)(ms / 1000);
	if (!gmtime_r(&t, &tm))
		return json_null();
	snprintf(buf + strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm), 16, ".%03dZ",
		 (int)(ms % 1000));
	return json_string(buf);
}

/* json_object_set_new that remembers a failure (a NULL value from an allocation). */
static void set(json_t *o, const char *key, json_t *v, int *err)
{
	if (!o || !v || json_object_set_new(o, key, v))
		*err = -ENOMEM;
}

static json_t *alert_json(const struct alert *a, int *err)
{
	json_t *o = json_object(), *labels = json_object();
	char fp[20];

	snprintf(fp, sizeof(fp), "%016" PRIx64, a->fingerprint);
	for (int i = 0; i < a->n_labels; i++)
		set(labels, a->labels[i].name, json_string(a->labels[i].value), err);
	set(o, "name", json_string(a->name), err);
	set(o, "severity", json_string(alert_severity__str(a->severity)), err);
	set(o, "state", json_string(alert_state__str(a->state)), err);
	set(o, "labels", labels, err);
	set(o, "summary", json_string(a->summary), err);
	set(o, "description", json_string(a->description), err);
	set(o, "runbook_url", a->runbook_url[0] ? json_string(a->runbook_url) : json_null(), err);
	set(o, "value", num(a->value), err);
	set(o, "threshold", num(a->threshold), err);
	set(o, "active_since", rfc3339(a->active_since_ms), err);
	set(o, "fired_at", rfc3339(a->fired_at_ms), err);
	set(o, "resolved_at", rfc3339(a->resolved_at_ms), err);
	set(o, "fingerprint", json_string(fp), err);
	return o;
}

static int dump(FILE *f, json_t *root, int err)
{
	if (!root || err || json_dumpf(root, f, JSON_COMPACT))
		err = -ENOMEM;
	else
		fputc('\n', f);
	json_decref(root);
	return err;
}

int alert_api__render_alerts(FILE *f, const struct engine_snapshot *s)
{
	json_t *root = json_object(), *alerts = json_array(), *counts = json_object();
	json_t *firing_by_sev = json_object();
	int err = 0;

	for (int i = 0; s && i < s->n_alerts; i++)
		if (!alerts || json_array_append_new(alerts, alert_json(&s->alerts[i], &err)))
			err = -ENOMEM;
	for (int st = ALERT_PENDING; st <= ALERT_RESOLVED; st++) {
		uint64_t n = 0;

		for (int sev = 0; s && sev < SEV__COUNT; sev++)
			n += s->by_state_sev[st][sev];
		set(counts, alert_state__str(st), json_integer((json_int_t)n), &err);
	}
	for (int sev = 0; sev < SEV__COUNT; sev++)
		set(firing_by_sev, alert_severity__str(sev),
		    json_integer(s ? (json_int_t)s->by_state_sev[ALERT_FIRING][sev] : 0), &err);
	set(counts, "firing_by_severity", firing_by_sev, &err);
	set(root, "enabled", json_boolean(s != NULL), &err);
	set(root, "evaluated_at", rfc3339(s ? s->at_ms : 0), &err);
	set(root, "alerts", alerts, &err);
	set(root, "counts", counts, &err);
	return dump(f, root, err);
}

static json_t *part(double penalty, double max, double value, int *err)
{
	json_t *o = json_object();

	set(o, "penalty", num(penalty), err);
	set(o, "max", num(max), err);
	set(o, "value", num(value), err);
	return o;
}

static json_t *server_health(const struct engine_server_health *h, int *err)
{
	const struct health_input *in = &h->input;
	const struct health_result *r = &h->health;
	json_t *o = json_object(), *parts = json_object(), *lat;
	double values[HP__COUNT] = {
		[HP_LATENCY] = in->p95_s,
		[HP_ERRORS] = in->error_ratio,
		[HP_CACHE] = in->hit_ratio,
		[HP_SATURATION] = in->saturation,
		[HP_ALERTS] = in->firing_warning + in->firing_critical,
	};

	for (int p = 0; p < HP__COUNT; p++)
		set(parts, health_part__str(p),
		    part(r->penalty[p], r->max_penalty[p], values[p], err), err);
	/* What each value was judged against, so the penalty can be checked by hand. */
	lat = json_object_get(parts, "latency");
	set(lat, "baseline", num(in->p95_baseline_s), err);
	set(lat, "warning", num(in->p95_warn_s), err);
	set(lat, "critical", num(in->p95_crit_s), err);
	set(json_object_get(parts, "cache"), "floor", num(in->hit_ratio_floor), err);
	set(json_object_get(parts, "alerts"), "warning", json_integer(in->firing_warning), err);
	set(json_object_get(parts, "alerts"), "critical", json_integer(in->firing_critical), err);
	set(o, "server", json_string(h->server), err);
	set(o, "kind", json_string(h->kind), err);
	set(o, "score", num(r->score), err);
	set(o, "parts", parts, err);
	return o;
}

int alert_api__render_health(FILE *f, const struct engine_snapshot *s)
{
	json_t *root = json_object(), *node = json_object(), *servers = json_array();
	int err = 0;

	for (int i = 0; s && i < s->n_servers; i++)
		if (!servers || json_array_append_new(servers, server_health(&s->servers[i], &err)))
			err = -ENOMEM;
	set(node, "score", s ? num(s->node_score) : json_null(), &err);
	set(root, "enabled", json_boolean(s != NULL), &err);
	set(root, "evaluated_at", rfc3339(s ? s->at_ms : 0), &err);
	set(root, "node", node, &err);
	set(root, "servers", servers, &err);
	return dump(f, root, err);
}

int alert_api__alerts(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct snap_ref *ref;
	const struct engine_snapshot *s = snap_box__get(ctx, &ref);

	return api__finish(resp, ref, alert_api__render_alerts(resp->body, s));
}

int alert_api__health(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct snap_ref *ref;
	const struct engine_snapshot *s = snap_box__get(ctx, &ref);

	return api__finish(resp, ref, alert_api__render_health(resp->body, s));
}

/* nexus_alerts: instances per (alertname, severity, state), pending and firing only, as
 * Prometheus' own ALERTS series. The snapshot's alerts are sorted by state, so a group's
 * members are not adjacent: each group is counted at its first member. */
static void fill_alerts(struct metric_model *m, const struct engine_snapshot *s)
{
	mm__family(m, "nexus_alerts", MM_GAUGE, "{alert}",
		   "Alert instances by rule, severity and state (pending or firing).");
	for (int i = 0; i < s->n_alerts; i++) {
		const struct alert *a = &s->alerts[i];
		struct mm_labels ls;
		bool seen = false;
		int n = 0;

		if (a->state != ALERT_PENDING && a->state != ALERT_FIRING)
			continue;
		for (int j = 0; j < s->n_alerts && !seen; j++) {
			const struct alert *b = &s->alerts[j];
			bool same = b->state == a->state && b->severity == a->severity &&
				    !strcmp(b->name, a->name);

			if (same && j < i)
				seen = true;
			else if (same)
				n++;
		}
		if (seen)
			continue;
		mm_labels__reset(&ls);
		mm_labels__add(&ls, "alertname", a->name);
		mm_labels__add(&ls, "severity", alert_severity__str(a->severity));
		mm_labels__add(&ls, "state", alert_state__str(a->state));
		mm__sample(m, &ls, n);
	}
}

static void labelled(struct metric_model *m, const char *name, const char *value, double v)
{
	struct mm_labels ls;

	mm_labels__reset(&ls);
	mm_labels__add(&ls, name, value);
	mm__sample(m, &ls, v);
}

void alert_api__fill_model(struct metric_model *m, const struct engine_snapshot *s)
{
	if (!s)
		return;
	fill_alerts(m, s);
	mm__family(m, "nexus_health_score", MM_GAUGE, "1",
		   "Health, 0-100, of the node and of each server (GET /api/v1/health says why).");
	labelled(m, "scope", "node", s->node_score);
	for (int i = 0; i < s->n_servers; i++)
		labelled(m, "scope", s->servers[i].server, s->servers[i].health.score);
	capacity_metrics__fill(m, s);
	mm__family(m, "nexus_alert_evaluations_total", MM_COUNTER, "{evaluation}",
		   "Evaluations of the alert rules (one per second).");
	mm__sample(m, NULL, (double)s->evaluations);
	mm__family(m, "nexus_alert_transitions_total", MM_COUNTER, "{transition}",
		   "Alert state changes (pending, firing, resolved, ...).");
	mm__sample(m, NULL, (double)s->transitions);
	mm__family(m, "nexus_alert_dropped_total", MM_COUNTER, "1",
		   "Series not judged and alert instances not created because a table was full.");
	labelled(m, "table", "series", (double)s->dropped_series);
	labelled(m, "table", "alerts", (double)s->dropped_alerts);
	if (!s->has_notifier)
		return;
	mm__family(m, "nexus_alert_notifications_total", MM_COUNTER, "{notification}",
		   "Notifications to Alertmanager and webhooks by result (sent, failed, dropped).");
	labelled(m, "result", "sent", (double)s->notify.sent);
	labelled(m, "result", "failed", (double)s->notify.failed);
	labelled(m, "result", "dropped", (double)s->notify.dropped);
}
