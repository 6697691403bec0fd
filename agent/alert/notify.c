// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The notifier owns a queue (engine -> worker), a table of the alerts it has seen (by
 * fingerprint, with per-receiver "unsent" marks) and one libcurl easy handle per receiver. Only
 * the worker thread touches the table and the handles; the mutex guards the queue, the stop flag
 * and the counters.
 *
 * libcurl honours http_proxy / https_proxy / no_proxy from the environment; we leave that on
 * purpose (a node may only reach Alertmanager through a proxy). Set no_proxy for local receivers.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <jansson.h>
#include "alert/notify.h"
#include "util.h"

#define NOTIFY_QUEUE_CAP 256
#define NOTIFY_TABLE_CAP 1024
#define NOTIFY_DEFAULT_RESEND_NS (60ULL * 1000000000ULL)
#define NOTIFY_DEFAULT_TIMEOUT_NS (5ULL * 1000000000ULL)
#define NOTIFY_FIRST_BACKOFF_NS (1000000000ULL)
/* The worker wakes at least this often to expire stale entries. */
#define NOTIFY_MAX_SLEEP_NS (1000000000ULL)

enum { RCV_ALERTMANAGER, RCV_WEBHOOK, RCV__COUNT };

struct receiver {
	const char *name;
	char *url; /* NULL = off */
	CURL *curl;
	struct curl_slist *headers;
	uint64_t retry_at_ns; /* 0 = not backing off */
	uint64_t backoff_ns;
	char errbuf[CURL_ERROR_SIZE];
};

struct entry {
	struct alert a;
	uint64_t fp;
	uint64_t last_seen_ns;
	bool unsent[RCV__COUNT];
	uint64_t last_sent_ns[RCV__COUNT]; /* 0 = never */
};

struct notifier {
	struct notify_cfg cfg; /* strings point into the copies below */
	char *generator_url, *instance;
	uint64_t resend_ns, timeout_ns;
	struct receiver rcv[RCV__COUNT];

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int q_len;
	struct alert queue[NOTIFY_QUEUE_CAP];
	struct notify_stats stats;

	/* Worker-only from here on. */
	pthread_t thread;
	struct alert batch[NOTIFY_QUEUE_CAP];
	int n_entries;
	struct entry table[NOTIFY_TABLE_CAP];
	int due[NOTIFY_TABLE_CAP]; /* scratch: indexes of the entries in one request */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

/* curl_global_init is not thread-safe and the agent has threads; never cleaned up on purpose,
 * other modules may use libcurl too. */
static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rfc3339(char *buf, size_t size, int64_t ms)
{
	time_t sec = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	gmtime_r(&sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* Prometheus spelling for the odd values; otherwise the shortest text that reads back equal. */
static void fmt_value(char *buf, size_t size, double v)
{
	if (isnan(v)) {
		snprintf(buf, size, "NaN");
	} else if (isinf(v)) {
		snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
	} else {
		snprintf(buf, size, "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, size, "%.17g", v);
	}
}

/* Label values can come from traffic (key prefixes, command names) and need not be UTF-8;
 * jansson refuses such strings, so invalid bytes become '?'. */
static json_t *json_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	char *copy = NULL;
	json_t *j;

	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
					   (c & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n && i + n <= len && !(n == 2 && c < 0xc2) && !(n == 4 && c > 0xf4);

		for (size_t k = 1; ok && k < n; k++)
			ok = (p[i + k] & 0xc0) == 0x80;
		if (ok && n == 3)
			ok = !(c == 0xe0 && p[i + 1] < 0xa0) && !(c == 0xed && p[i + 1] >= 0xa0);
		if (ok && n == 4)
			ok = !(c == 0xf0 && p[i + 1] < 0x90) && !(c == 0xf4 && p[i + 1] >= 0x90);
		if (ok) {
			i += n;
			continue;
		}
		if (!copy) {
			copy = strdup(s);
			if (!copy)
				return NULL;
		}
		copy[i++] = '?';
	}
	j = json_string(copy ? copy : s);
	free(copy);
	return j;
}

/* Alertmanager rejects the whole request (400) for one bad label name; skip such labels. */
static bool label_name_ok(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static uint64_t resend_ns_of(const struct notify_cfg *cfg)
{
	return cfg && cfg->resend_interval_ns ? cfg->resend_interval_ns : NOTIFY_DEFAULT_RESEND_NS;
}

/* One alert as Alertmanager v2 wants it; with_status adds "status" for the webhook. */
static json_t *alert_json(const struct alert *a, const struct notify_cfg *cfg, int64_t now_ms,
			  bool with_status)
{
	json_t *o = json_object(), *labels = json_object(), *ann = json_object();
	int64_t starts = a->fired_at_ms ? a->fired_at_ms : a->active_since_ms, ends;
	char buf[64];
	int err = 0;

	if (!o || !labels || !ann)
		goto fail;
	/* The alert's own labels first, so alertname and severity cannot be overridden; a rule may
	 * set its own instance though. */
	for (int i = 0; i < a->n_labels && i < ALERT_MAX_LABELS; i++) {
		const struct alert_label *l = &a->labels[i];

		if (!label_name_ok(l->name) || !l->value[0]) /* empty = absent, as in Prometheus */
			continue;
		err |= json_object_set_new(labels, l->name, json_text(l->value));
	}
	err |= json_object_set_new(labels, "alertname", json_text(a->name));
	err |= json_object_set_new(labels, "severity",
				   json_string(alert_severity__str(a->severity)));
	if (cfg && cfg->instance && cfg->instance[0] && !json_object_get(labels, "instance"))
		err |= json_object_set_new(labels, "instance", json_text(cfg->instance));

	if (a->summary[0])
		err |= json_object_set_new(ann, "summary", json_text(a->summary));
	if (a->description[0])
		err |= json_object_set_new(ann, "description", json_text(a->description));
	if (a->runbook_url[0]) /* the annotation Prometheus' alerting rules use for it */
		err |= json_object_set_new(ann, "runbook_url", json_text(a->runbook_url));
	fmt_value(buf, sizeof(buf), a->value);
	err |= json_object_set_new(ann, "value", json_string(buf));
	if (isfinite(a->threshold)) {
		fmt_value(buf, sizeof(buf), a->threshold);
		err |= json_object_set_new(ann, "threshold", json_string(buf));
	}

	err |= json_object_set_new(o, "labels", labels);
	labels = NULL;
	err |= json_object_set_new(o, "annotations", ann);
	ann = NULL;
	/* No start time: Alertmanager then uses the time it receives the alert. */
	if (starts > 0) {
		rfc3339(buf, sizeof(buf), starts);
		err |= json_object_set_new(o, "startsAt", json_string(buf));
	}
	if (a->state == ALERT_RESOLVED)
		ends = a->resolved_at_ms > 0 ? a->resolved_at_ms : now_ms;
	else /* Lapses on its own if the agent dies and stops re-sending. */
		ends = now_ms + (int64_t)(4 * resend_ns_of(cfg) / 1000000);
	if (starts > 0 && ends < starts) /* Alertmanager refuses endsAt before startsAt */
		ends = starts;
	rfc3339(buf, sizeof(buf), ends);
	err |= json_object_set_new(o, "endsAt", json_string(buf));
	if (cfg && cfg->generator_url && cfg->generator_url[0])
		err |= json_object_set_new(o, "generatorURL", json_text(cfg->generator_url));
	if (with_status)
		err |= json_object_set_new(o, "status",
					   json_string(a->state == ALERT_RESOLVED ? "resolved" :
										    "firing"));
	if (err)
		goto fail;
	return o;
fail:
	json_decref(o);
	json_decref(labels);
	json_decref(ann);
	return NULL;
}

char *notify__alertmanager_json(const struct alert *alerts, int n, const struct notify_cfg *cfg)
{
	int64_t now_ms = wall_ms();
	json_t *arr = json_array();
	char *out = NULL;

	if (!arr)
		goto cleanup;
	for (int i = 0; i < n; i++)
		if (json_array_append_new(arr, alert_json(&alerts[i], cfg, now_ms, false)))
			goto cleanup;
	out = json_dumps(arr, JSON_COMPACT);
cleanup:
	json_decref(arr);
	if (!out)
		errno = ENOMEM;
	return out;
}

/* ---- the worker ---- */

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	return size * nmemb;
}

static int receiver__init(struct receiver *r, const char *name, const char *base,
			  const char *suffix, const struct notifier *n)
{
	size_t len;

	r->name = name;
	if (!base || !base[0])
		return 0;
	len = strlen(base);
	while (suffix[0] && len && base[len - 1] == '/') /* "http://am:9093/" + "/api/v2/alerts" */
		len--;
	if (asprintf(&r->url, "%.*s%s", (int)len, base, suffix) < 0) {
		r->url = NULL;
		return -ENOMEM;
	}
	r->curl = curl_easy_init();
	r->headers = curl_slist_append(NULL, "Content-Type: application/json");
	/* No "Expect: 100-continue" round trip on large batches. */
	if (r->headers)
		r->headers = curl_slist_append(r->headers, "Expect:");
	if (!r->curl || !r->headers)
		return -ENOMEM;
	curl_easy_setopt(r->curl, CURLOPT_URL, r->url);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, (long)(n->timeout_ns / 1000000));
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(n->timeout_ns / 1000000));
	/* Timeouts via signals are not safe in a threaded process. */
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "nexus-agent/" NX_VERSION);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	return 0;
}

static void receiver__fini(struct receiver *r)
{
	if (r->curl)
		curl_easy_cleanup(r->curl);
	curl_slist_free_all(r->headers);
	free(r->url);
}

static bool receiver__on(const struct receiver *r)
{
	return r->url != NULL;
}

static struct entry *table__find(struct notifier *n, uint64_t fp)
{
	for (int i = 0; i < n->n_entries; i++)
		if (n->table[i].fp == fp)
			return &n->table[i];
	return NULL;
}

static bool entry__pending(const struct entry *e)
{
	for (int r = 0; r < RCV__COUNT; r++)
		if (e->unsent[r])
			return true;
	return false;
}

static void table__remove(struct notifier *n, int i)
{
	n->table[i] = n->table[--n->n_entries];
}

/* Room for one more: a resolved alert that went out everywhere is the cheapest to lose. */
static struct entry *table__add(struct notifier *n)
{
	if (n->n_entries < NOTIFY_TABLE_CAP)
		return &n->table[n->n_entries++];
	for (int i = 0; i < n->n_entries; i++) {
		if (n->table[i].a.state == ALERT_RESOLVED && !entry__pending(&n->table[i])) {
			table__remove(n, i);
			return &n->table[n->n_entries++];
		}
	}
	return NULL;
}

static int merge(struct notifier *n, const struct alert *batch, int count, uint64_t now)
{
	int dropped = 0;

	/* No receiver: nothing to remember (the table would only fill up and count drops). */
	if (!receiver__on(&n->rcv[RCV_ALERTMANAGER]) && !receiver__on(&n->rcv[RCV_WEBHOOK]))
		return 0;
	for (int i = 0; i < count; i++) {
		const struct alert *a = &batch[i];
		uint64_t fp = a->fingerprint ? a->fingerprint : alert__fingerprint(a);
		struct entry *e;
		bool changed;

		if (a->state != ALERT_FIRING && a->state != ALERT_RESOLVED)
			continue;
		e = table__find(n, fp);
		if (!e) {
			/* Even an unknown resolved alert goes out once: Alertmanager may know it
			 * from before a restart. */
			e = table__add(n);
			if (!e) {
				dropped++;
				continue;
			}
			memset(e, 0, sizeof(*e));
			e->fp = fp;
			changed = true;
		} else {
			changed = e->a.state != a->state || e->a.fired_at_ms != a->fired_at_ms ||
				  e->a.resolved_at_ms != a->resolved_at_ms;
		}
		e->a = *a; /* fresh value and texts for the next resend */
		e->last_seen_ns = now;
		for (int r = 0; changed && r < RCV__COUNT; r++)
			e->unsent[r] = receiver__on(&n->rcv[r]);
	}
	return dropped;
}

/*
 * Forget what the engine stopped handing over for 4 resend intervals (rule removed, or a
 * resolved alert that left its list): Alertmanager drops its copy by then anyway, as endsAt
 * passes. A resolved alert stays as a marker while it is still submitted, so it goes out once.
 */
static void expire(struct notifier *n, uint64_t now)
{
	for (int i = 0; i < n->n_entries;) {
		if (now - n->table[i].last_seen_ns > 4 * n->resend_ns)
			table__remove(n, i);
		else
			i++;
	}
}

static bool entry__due(const struct notifier *n, const struct entry *e, int r, uint64_t now)
{
	return e->unsent[r] || (e->a.state == ALERT_FIRING && e->last_sent_ns[r] &&
				now - e->last_sent_ns[r] >= n->resend_ns);
}

static char *build_body(struct notifier *n, int r, int count, int64_t now_ms)
{
	json_t *arr = json_array(), *root = NULL;
	bool any_firing = false;
	char *out = NULL;

	if (!arr)
		return NULL;
	for (int i = 0; i < count; i++) {
		const struct alert *a = &n->table[n->due[i]].a;

		any_firing |= a->state == ALERT_FIRING;
		if (json_array_append_new(arr, alert_json(a, &n->cfg, now_ms, r == RCV_WEBHOOK)))
			goto cleanup;
	}
	if (r == RCV_WEBHOOK) {
		root = json_pack("{s:s, s:s, s:O}", "receiver", "nexus-agent", "status",
				 any_firing ? "firing" : "resolved", "alerts", arr);
		if (!root)
			goto cleanup;
		out = json_dumps(root, JSON_COMPACT);
	} else {
		out = json_dumps(arr, JSON_COMPACT);
	}
cleanup:
	json_decref(root);
	json_decref(arr);
	return out;
}

/* Only 2xx counts; the reason of a failure goes to errbuf. */
static bool post(struct receiver *r, const char *body)
{
	long code = 0;
	CURLcode rc;

	r->errbuf[0] = 0;
	curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	rc = curl_easy_perform(r->curl);
	if (rc != CURLE_OK) {
		if (!r->errbuf[0])
			snprintf(r->errbuf, sizeof(r->errbuf), "%s", curl_easy_strerror(rc));
		return false;
	}
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		snprintf(r->errbuf, sizeof(r->errbuf), "HTTP status %ld", code);
		return false;
	}
	return true;
}

static void send_to(struct notifier *n, int ri, uint64_t now)
{
	struct receiver *r = &n->rcv[ri];
	int count = 0;
	char *body;
	bool ok;

	if (!receiver__on(r) || (r->retry_at_ns && now < r->retry_at_ns))
		return;
	for (int i = 0; i < n->n_entries; i++)
		if (entry__due(n, &n->table[i], ri, now))
			n->due[count++] = i;
	if (!count)
		return;
	body = build_body(n, ri, count, wall_ms());
	ok = body && post(r, body);
	if (!body)
		snprintf(r->errbuf, sizeof(r->errbuf), "out of memory building JSON");
	free(body);

	pthread_mutex_lock(&n->lock);
	if (ok)
		n->stats.sent++;
	else
		n->stats.failed++;
	pthread_mutex_unlock(&n->lock);

	if (!ok) {
		/* Only the first failure of a run is printed; retries would flood the log. */
		if (!r->retry_at_ns)
			fprintf(stderr, "nexus-agent: notify %s %s: %s (will retry)\n", r->name,
				r->url, r->errbuf);
		r->backoff_ns = r->backoff_ns ? r->backoff_ns * 2 : NOTIFY_FIRST_BACKOFF_NS;
		if (r->backoff_ns > n->resend_ns)
			r->backoff_ns = n->resend_ns;
		r->retry_at_ns = now + r->backoff_ns;
		for (int i = 0; i < count; i++)
			n->table[n->due[i]].unsent[ri] = true;
		return;
	}
	if (r->retry_at_ns)
		fprintf(stderr, "nexus-agent: notify %s %s: delivering again\n", r->name, r->url);
	r->retry_at_ns = 0;
	r->backoff_ns = 0;
	for (int i = 0; i < count; i++) {
		struct entry *e = &n->table[n->due[i]];

		e->unsent[ri] = false;
		e->last_sent_ns[ri] = now;
	}
}

/* When something next needs doing, capped so expiry runs regularly. */
static uint64_t next_wake(const struct notifier *n, uint64_t now)
{
	uint64_t wake = now + NOTIFY_MAX_SLEEP_NS;

	for (int ri = 0; ri < RCV__COUNT; ri++) {
		const struct receiver *r = &n->rcv[ri];

		if (!receiver__on(r))
			continue;
		for (int i = 0; i < n->n_entries; i++) {
			const struct entry *e = &n->table[i];
			uint64_t t;

			if (e->unsent[ri])
				t = now;
			else if (e->a.state == ALERT_FIRING && e->last_sent_ns[ri])
				t = e->last_sent_ns[ri] + n->resend_ns;
			else
				continue;
			if (r->retry_at_ns > t)
				t = r->retry_at_ns;
			if (t < wake)
				wake = t;
		}
	}
	return wake;
}

static void *worker(void *arg)
{
	struct notifier *n = arg;
	bool stop = false;

	while (!stop) {
		uint64_t now = nx_now_ns(), wake = next_wake(n, now);
		int count, dropped;

		pthread_mutex_lock(&n->lock);
		while (!n->q_len && !n->stop && wake > now) {
			struct timespec ts = { .tv_sec = wake / 1000000000ULL,
					       .tv_nsec = wake % 1000000000ULL };

			pthread_cond_timedwait(&n->cond, &n->lock, &ts);
			now = nx_now_ns();
		}
		count = n->q_len;
		memcpy(n->batch, n->queue, (size_t)count * sizeof(n->queue[0]));
		n->q_len = 0;
		stop = n->stop;
		pthread_mutex_unlock(&n->lock);

		now = nx_now_ns();
		dropped = merge(n, n->batch, count, now);
		if (dropped) {
			pthread_mutex_lock(&n->lock);
			n->stats.dropped += (uint64_t)dropped;
			pthread_mutex_unlock(&n->lock);
		}
		/* On stop this is the last flush; a receiver still backing off is skipped, so
		 * freeing costs at most one timeout per healthy receiver. */
		for (int ri = 0; ri < RCV__COUNT; ri++)
			send_to(n, ri, now);
		expire(n, nx_now_ns());
	}
	return NULL;
}

struct notifier *notifier__new(const struct notify_cfg *cfg)
{
	static const struct notify_cfg none;
	struct notifier *n = NULL;
	pthread_condattr_t ca;
	bool lock_init = false, cond_init = false;
	int err = 0;

	if (!cfg)
		cfg = &none;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		err = -EIO;
		goto cleanup;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		err = -ENOMEM;
		goto cleanup;
	}
	n->resend_ns = resend_ns_of(cfg);
	n->timeout_ns = cfg->timeout_ns ? cfg->timeout_ns : NOTIFY_DEFAULT_TIMEOUT_NS;
	if (n->timeout_ns < 1000000)
		n->timeout_ns = 1000000; /* curl takes ms; 0 would mean "no timeout" */
	if ((cfg->generator_url && !(n->generator_url = strdup(cfg->generator_url))) ||
	    (cfg->instance && !(n->instance = strdup(cfg->instance)))) {
		err = -ENOMEM;
		goto cleanup;
	}
	n->cfg.resend_interval_ns = n->resend_ns;
	n->cfg.timeout_ns = n->timeout_ns;
	n->cfg.generator_url = n->generator_url;
	n->cfg.instance = n->instance;
	err = receiver__init(&n->rcv[RCV_ALERTMANAGER], "alertmanager", cfg->alertmanager_url,
			     "/api/v2/alerts", n);
	if (!err)
		err = receiver__init(&n->rcv[RCV_WEBHOOK], "webhook", cfg->webhook_url, "", n);
	if (err)
		goto cleanup;
	n->cfg.alertmanager_url = n->rcv[RCV_ALERTMANAGER].url;
	n->cfg.webhook_url = n->rcv[RCV_WEBHOOK].url;

	err = -pthread_mutex_init(&n->lock, NULL);
	if (err)
		goto cleanup;
	lock_init = true;
	/* Deadlines are monotonic: a wall-clock step must not delay or rush resends. */
	err = -pthread_condattr_init(&ca);
	if (err)
		goto cleanup;
	err = -pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!err)
		err = -pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (err)
		goto cleanup;
	cond_init = true;
	err = -pthread_create(&n->thread, NULL, worker, n);
	if (err)
		goto cleanup;
cleanup:
	if (err && n) {
		if (cond_init)
			pthread_cond_destroy(&n->cond);
		if (lock_init)
			pthread_mutex_destroy(&n->lock);
		for (int r = 0; r < RCV__COUNT; r++)
			receiver__fini(&n->rcv[r]);
		free(n->generator_url);
		free(n->instance);
		free(n);
		n = NULL;
	}
	if (err)
		errno = -err;
	return n;
}

void notifier__free(struct notifier *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	for (int r = 0; r < RCV__COUNT; r++)
		receiver__fini(&n->rcv[r]);
	free(n->generator_url);
	free(n->instance);
	free(n);
}

void notifier__submit(struct notifier *n, const struct alert *alerts, int n_alerts)
{
	int room, take;

	if (!n || !alerts || n_alerts <= 0)
		return;
	pthread_mutex_lock(&n->lock);
	room = NOTIFY_QUEUE_CAP - n->q_len;
	take = n_alerts < room ? n_alerts : room;
	memcpy(&n->queue[n->q_len], alerts, (size_t)take * sizeof(*alerts));
	n->q_len += take;
	n->stats.dropped += (uint64_t)(n_alerts - take);
	if (take)
		pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

void notifier__stats(struct notifier *n, struct notify_stats *out)
{
	if (!n) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&n->lock);
	*out = n->stats;
	pthread_mutex_unlock(&n->lock);
}
