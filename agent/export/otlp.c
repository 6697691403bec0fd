// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "alert/engine.h"
#include "export/otlp.h"
#include "export/otlp_logs.h"
#include "stats/snap_box.h"
#include "util.h"

#ifndef NX_VERSION
#define NX_VERSION "dev"
#endif

#define LOGS_EVERY_NS (1000 * 1000000ULL)  /* look for new log records once a second */
#define LOGS_PER_REQUEST 256		    /* records per logs request (the rest: next second) */
#define BACKOFF_INITIAL_NS (1000 * 1000000ULL)
#define BACKOFF_MAX_NS (30 * 1000000000ULL)
#define RETRY_AFTER_MAX_S 60		    /* a longer Retry-After is capped */
#define GIVE_UP_NS (120 * 1000000000ULL)    /* a request older than this is not retried */
#define RESPONSE_MAX (64 * 1024)	    /* response bytes kept to decode */

struct otlp_exporter {
	struct otlp_cfg cfg;
	struct metrics_sources *src;
	struct otlp_resource res;
	char host[256];
	char url[OTLP__SIGNALS][1024];
	CURL *curl;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	/* the response being read */
	char body[RESPONSE_MAX];
	size_t body_len;
	char retry_after[64];

	struct otlp_queue q;	  /* this thread's only */
	struct otlp_logs logs;	  /* likewise */
	struct otlp_log *log_buf; /* LOGS_PER_REQUEST records */
	uint32_t rnd;
	unsigned logged;	  /* what was already said once on stderr (bits) */

	pthread_mutex_t lock; /* stats, stop */
	pthread_cond_t cond;
	bool stop;	      /* also read without the lock by on_progress (__atomic) */
	bool flushing;	      /* this thread's: the last tries at exit are not aborted */
	struct otlp_stats stats;
	pthread_t thread;
	bool started;
};

enum { SAID_REJECTED = 1, SAID_TRANSPORT = 2, SAID_BAD_RESPONSE = 4, SAID_STATUS = 8 };

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* curl_global_init is not thread-safe: once, never cleaned up (notify.c does the same). */
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t wall_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct otlp_exporter *e = ctx;
	size_t n = size * nmemb, room = sizeof(e->body) - e->body_len;

	/* Keep what fits; a huge or endless answer is cut, not buffered. */
	memcpy(e->body + e->body_len, ptr, n < room ? n : room);
	e->body_len += n < room ? n : room;
	return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ctx)
{
	struct otlp_exporter *e = ctx;
	size_t n = size * nitems;

	if (n > 12 && !strncasecmp(buf, "Retry-After:", 12)) {
		size_t k = n - 12 < sizeof(e->retry_after) - 1 ? n - 12 : sizeof(e->retry_after) - 1;

		memcpy(e->retry_after, buf + 12, k);
		e->retry_after[k] = '\0';
		for (char *p = e->retry_after + k; p > e->retry_after && (p[-1] == '\r' || p[-1] == '\n');)
			*--p = '\0';
	}
	return n;
}

/* A transfer in flight when the agent stops is abandoned at once: exit never waits for a slow
 * collector (the last tries at exit have their own bound). */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct otlp_exporter *e = ctx;

	return __atomic_load_n(&e->stop, __ATOMIC_RELAXED) && !e->flushing;
}

static void bump(struct otlp_exporter *e, uint64_t *counter, uint64_t by)
{
	pthread_mutex_lock(&e->lock);
	*counter += by;
	pthread_mutex_unlock(&e->lock);
}

/* A 2xx body: an Export*ServiceResponse, maybe with a partial_success that refused some. */
static void check_response(struct otlp_exporter *e, enum otlp_signal sig)
{
	size_t n = e->body_len;
	uint64_t rejected = 0;
	bool bad = false;

	if (!n)
		return; /* empty is a full success */
	if (sig == OTLP_METRICS) {
		Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse *r =
			opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__unpack(
				NULL, n, (const uint8_t *)e->body);

		bad = !r;
		if (r && r->partial_success)
			rejected = (uint64_t)r->partial_success->rejected_data_points;
		if (r)
			opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__free_unpacked(
				r, NULL);
	} else {
		Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse *r =
			opentelemetry__proto__collector__logs__v1__export_logs_service_response__unpack(
				NULL, n, (const uint8_t *)e->body);

		bad = !r;
		if (r && r->partial_success)
			rejected = (uint64_t)r->partial_success->rejected_log_records;
		if (r)
			opentelemetry__proto__collector__logs__v1__export_logs_service_response__free_unpacked(
				r, NULL);
	}
	if (bad) {
		bump(e, &e->stats.bad_responses, 1);
		if (!(e->logged & SAID_BAD_RESPONSE))
			fprintf(stderr, "nexus-agent: otlp: %s answered 2xx with a body that is not an "
					"OTLP response (%zu bytes); counted as sent, further ones only "
					"in nexus_agent_otlp_bad_responses_total\n",
				e->url[sig], n);
		e->logged |= SAID_BAD_RESPONSE;
	}
	if (rejected)
		bump(e, &e->stats.rejected_points, rejected);
}

/* One attempt at the head of the queue. */
static void send_head(struct otlp_exporter *e, uint64_t now)
{
	struct otlp_req *r = otlp_queue__head(&e->q);
	enum otlp_verdict v;
	long status = 0;
	CURLcode rc;
	long wait_s;

	e->body_len = 0;
	e->retry_after[0] = '\0';
	curl_easy_setopt(e->curl, CURLOPT_URL, e->url[r->signal]);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, (const char *)r->data);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	rc = curl_easy_perform(e->curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	v = otlp_send__verdict(rc == CURLE_OK ? status : 0);
	if (v == OTLP_DONE) {
		pthread_mutex_lock(&e->lock);
		e->stats.sent[r->signal]++;
		e->stats.sent_bytes[r->signal] += r->len;
		pthread_mutex_unlock(&e->lock);
		check_response(e, r->signal);
		otlp_queue__pop(&e->q);
		return;
	}
	if (v == OTLP_PERMANENT) {
		bump(e, &e->stats.rejected[r->signal], 1);
		if (!(e->logged & SAID_REJECTED))
			fprintf(stderr, "nexus-agent: otlp: %s answered %ld: %.*s; the request is "
					"dropped, not retried (further ones are only counted in "
					"nexus_agent_otlp_failed_total)\n",
				e->url[r->signal], status, (int)(e->body_len < 200 ? e->body_len : 200),
				e->body);
		e->logged |= SAID_REJECTED;
		otlp_queue__pop(&e->q);
		return;
	}
	r->attempts++;
	if (!(e->logged & SAID_TRANSPORT)) {
		if (rc != CURLE_OK)
			fprintf(stderr, "nexus-agent: otlp: %s: %s; retrying with backoff (said once)\n",
				e->url[r->signal], e->errbuf[0] ? e->errbuf : curl_easy_strerror(rc));
		else
			fprintf(stderr, "nexus-agent: otlp: %s answered %ld; retrying with backoff "
					"(said once)\n",
				e->url[r->signal], status);
		e->logged |= SAID_TRANSPORT;
	}
	if (now - r->first_ns >= GIVE_UP_NS) {
		bump(e, &e->stats.exhausted[r->signal], 1);
		otlp_queue__pop(&e->q);
		return;
	}
	bump(e, &e->stats.retries[r->signal], 1);
	e->rnd = e->rnd * 1664525u + 1013904223u;
	r->not_before = now + otlp_send__backoff_ns(r->attempts, BACKOFF_INITIAL_NS, BACKOFF_MAX_NS,
						    e->rnd);
	wait_s = otlp_send__retry_after(e->retry_after, time(NULL), RETRY_AFTER_MAX_S);
	if (wait_s >= 0 && now + (uint64_t)wait_s * 1000000000ULL > r->not_before)
		r->not_before = now + (uint64_t)wait_s * 1000000000ULL;
}

/* Queues an encoded request, gzip'ed when asked; counts a drop of the oldest. */
static void enqueue(struct otlp_exporter *e, enum otlp_signal sig, struct otlp_buf *b)
{
	uint8_t *data = b->data;
	size_t len = b->len;
	int dropped;

	if (e->cfg.gzip) {
		if (otlp_send__gzip(b->data, b->len, &data, &len)) {
			free(b->data);
			bump(e, &e->stats.encode_errors, 1);
			return;
		}
		free(b->data);
	}
	b->data = NULL;
	dropped = otlp_queue__push(&e->q, sig, data, len, nx_now_ns());
	pthread_mutex_lock(&e->lock);
	if (dropped >= 0)
		e->stats.dropped[dropped]++;
	e->stats.queued = (uint32_t)e->q.n;
	pthread_mutex_unlock(&e->lock);
}

static void push_metrics(struct otlp_exporter *e)
{
	struct metric_model m;
	struct otlp_buf b;

	/* metrics__fill adds this exporter's own families through src->otlp */
	metrics__fill(e->src, &m);
	if (m.oom || otlp_encode__metrics(&m, &e->res, e->cfg.hist, &b))
		bump(e, &e->stats.encode_errors, 1);
	else
		enqueue(e, OTLP_METRICS, &b);
	metric_model__free(&m);
}

static void push_logs(struct otlp_exporter *e)
{
	const struct engine_snapshot *es = NULL;
	const struct redis_snapshot *rs;
	const struct postgres_snapshot *ps;
	struct snap_ref *r1 = NULL, *r2, *r3;
	uint64_t before[3] = { e->logs.alerts_out, e->logs.slow_commands_out,
			       e->logs.slow_statements_out };
	uint64_t missed = e->logs.missed;
	struct otlp_buf b;
	int n;

	if (e->src->engine)
		es = snap_box__get(e->src->engine, &r1);
	rs = snap_box__get(e->src->redis, &r2);
	ps = snap_box__get(e->src->postgres, &r3);
	n = otlp_logs__collect(&e->logs, es, rs, ps, wall_ns(), e->log_buf, LOGS_PER_REQUEST);
	if (r1)
		snap_box__put(r1);
	snap_box__put(r2);
	snap_box__put(r3);
	pthread_mutex_lock(&e->lock);
	e->stats.log_records[0] += e->logs.alerts_out - before[0];
	e->stats.log_records[1] += e->logs.slow_commands_out - before[1];
	e->stats.log_records[2] += e->logs.slow_statements_out - before[2];
	e->stats.log_records_missed += e->logs.missed - missed;
	pthread_mutex_unlock(&e->lock);
	if (!n)
		return;
	if (otlp_encode__logs(e->log_buf, n, &e->res, &b))
		bump(e, &e->stats.encode_errors, 1);
	else
		enqueue(e, OTLP_LOGS, &b);
}

static void *run(void *arg)
{
	struct otlp_exporter *e = arg;
	uint64_t interval = (uint64_t)(e->cfg.interval_s * 1e9);
	uint64_t next_metrics = nx_now_ns() + interval, next_logs = nx_now_ns() + LOGS_EVERY_NS;

	for (;;) {
		uint64_t now = nx_now_ns(), wake;
		struct otlp_req *head;
		struct timespec ts;
		bool stop;

		pthread_mutex_lock(&e->lock);
		stop = e->stop;
		pthread_mutex_unlock(&e->lock);
		if (stop)
			break;
		if (now >= next_logs) {
			push_logs(e);
			next_logs = now + LOGS_EVERY_NS;
		}
		if (now >= next_metrics) {
			push_metrics(e);
			/* on the grid, unless a slow collector made us miss a beat */
			next_metrics += interval;
			if (next_metrics <= now)
				next_metrics = now + interval;
		}
		head = otlp_queue__head(&e->q);
		if (head && head->not_before <= now) {
			send_head(e, now);
			pthread_mutex_lock(&e->lock);
			e->stats.queued = (uint32_t)e->q.n;
			pthread_mutex_unlock(&e->lock);
			continue;
		}
		wake = next_logs < next_metrics ? next_logs : next_metrics;
		if (head && head->not_before < wake)
			wake = head->not_before;
		/* the condition variable waits on CLOCK_REALTIME: convert the delay */
		now = nx_now_ns();
		if (wake <= now)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		{
			uint64_t t = (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec + (wake - now);

			ts.tv_sec = (time_t)(t / 1000000000ULL);
			ts.tv_nsec = (long)(t % 1000000000ULL);
		}
		pthread_mutex_lock(&e->lock);
		if (!e->stop)
			pthread_cond_timedwait(&e->cond, &e->lock, &ts);
		pthread_mutex_unlock(&e->lock);
	}
	/* Stopping: what is queued gets one try each, within about one timeout in all, unless the
	 * collector already failed it (then it is not there: do not wait for it again). */
	{
		uint64_t until = nx_now_ns() + (uint64_t)(e->cfg.timeout_s * 1e9);

		e->flushing = true;
		while (otlp_queue__head(&e->q) && !otlp_queue__head(&e->q)->attempts &&
		       nx_now_ns() < until) {
			struct otlp_req *h = otlp_queue__head(&e->q);
			int attempts = h->attempts;

			send_head(e, nx_now_ns());
			if (otlp_queue__head(&e->q) == h && h->attempts != attempts)
				break; /* it failed: the collector is not there, stop trying */
		}
	}
	return NULL;
}

struct otlp_exporter *otlp__start(const struct otlp_cfg *cfg, struct metrics_sources *src)
{
	struct otlp_exporter *e = calloc(1, sizeof(*e));
	const char *paths[OTLP__SIGNALS] = { "/v1/metrics", "/v1/logs" };
	size_t n;
	int err = -ENOMEM;

	if (!e)
		return NULL;
	e->cfg = *cfg;
	e->src = src;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	otlp_resource__init(&e->res, e->host, sizeof(e->host));
	otlp_logs__init(&e->logs, cfg->pg_slow_ns);
	e->rnd = (uint32_t)nx_now_ns();
	n = strlen(cfg->endpoint);
	while (n && cfg->endpoint[n - 1] == '/')
		n--; /* "http://c:4318/" and "http://c:4318" are one collector */
	for (int i = 0; i < OTLP__SIGNALS; i++)
		snprintf(e->url[i], sizeof(e->url[i]), "%.*s%s", (int)n, cfg->endpoint, paths[i]);
	e->log_buf = calloc(LOGS_PER_REQUEST, sizeof(*e->log_buf));
	if (!e->log_buf || otlp_queue__init(&e->q, cfg->queue > 0 ? cfg->queue : 32))
		goto fail;
	pthread_once(&curl_once, curl_init_once);
	e->curl = curl_easy_init();
	e->headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	if (e->headers && cfg->gzip)
		e->headers = curl_slist_append(e->headers, "Content-Encoding: gzip");
	if (e->headers) /* no 100-continue round trip */
		e->headers = curl_slist_append(e->headers, "Expect:");
	for (int i = 0; e->headers && cfg->headers && i < cfg->headers->n; i++)
		e->headers = curl_slist_append(e->headers, cfg->headers->line[i]);
	if (!e->curl || !e->headers)
		goto fail;
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(e->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)(cfg->timeout_s * 1000));
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(cfg->timeout_s * 1000));
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_USERAGENT, "nexus-agent/" NX_VERSION);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(e->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e->curl, CURLOPT_HEADERDATA, e);
	curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, e->errbuf);
	curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, e);
	curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
	src->otlp = e; /* metrics__fill adds our counters: set before the thread reads src */
	err = pthread_create(&e->thread, NULL, run, e);
	if (err) {
		src->otlp = NULL;
		err = -err;
		goto fail;
	}
	e->started = true;
	return e;
fail:
	otlp__stop(e);
	errno = -err;
	return NULL;
}

void otlp__stop(struct otlp_exporter *e)
{
	if (!e)
		return;
	if (e->started) {
		pthread_mutex_lock(&e->lock);
		__atomic_store_n(&e->stop, true, __ATOMIC_RELAXED);
		pthread_cond_signal(&e->cond);
		pthread_mutex_unlock(&e->lock);
		pthread_join(e->thread, NULL);
	}
	if (e->curl)
		curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	otlp_queue__free(&e->q);
	free(e->log_buf);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void otlp__stats(struct otlp_exporter *e, struct otlp_stats *out)
{
	pthread_mutex_lock(&e->lock);
	*out = e->stats;
	pthread_mutex_unlock(&e->lock);
}

void otlp__fill_model(struct metric_model *m, struct otlp_exporter *e)
{
	struct otlp_stats s;

	otlp__stats(e, &s);
	otlp_metrics__fill(m, &s);
}
