// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The notifier: Alertmanager JSON shape, the webhook envelope, resends and retries against a
 * small in-process HTTP server, receivers that are down or hang, queue overflow, and a round
 * trip through a real Alertmanager (skipped when the binary is missing).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include "alert/notify.h"

#define AM_BIN "/usr/bin/prometheus-alertmanager"

static uint64_t now_ms_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* "2023-11-14T22:13:20.123Z" -> unix ms; -1 if it is not exactly that shape. */
static int64_t parse_rfc3339(const char *s)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int ms;

	if (!p || strlen(p) != 5 || p[0] != '.' || p[4] != 'Z' || sscanf(p + 1, "%3d", &ms) != 1)
		return -1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

static struct alert mk_alert(const char *name, enum alert_state state, const char *server)
{
	struct alert a = {
		.severity = SEV_CRITICAL, .state = state, .value = 0.25, .threshold = 0.1
	};

	snprintf(a.name, sizeof(a.name), "%s", name);
	alert__add_label(&a, "server", server);
	snprintf(a.summary, sizeof(a.summary), "p99 of %s is high", server);
	snprintf(a.description, sizeof(a.description), "p99 latency 250 ms over 100 ms");
	a.fingerprint = alert__fingerprint(&a);
	a.active_since_ms = 1700000000000LL;
	a.fired_at_ms = 1700000000123LL;
	if (state == ALERT_RESOLVED)
		a.resolved_at_ms = 1700000060456LL;
	return a;
}

static json_t *am_json(const struct alert *a, int n, const struct notify_cfg *cfg)
{
	char *s = notify__alertmanager_json(a, n, cfg);
	json_t *j;

	assert_non_null(s);
	j = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(j);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), n);
	return j;
}

static const char *jstr(json_t *o, const char *path1, const char *key)
{
	json_t *v = json_object_get(path1 ? json_object_get(o, path1) : o, key);

	return json_string_value(v);
}

static void test_json_firing(void **state)
{
	struct notify_cfg cfg = { .instance = "node-1",
				  .generator_url = "http://node-1:9464/api/v1/alerts",
				  .resend_interval_ns = 60ULL * 1000000000ULL };
	struct alert a = mk_alert("RedisLatencyHigh", ALERT_FIRING, "127.0.0.1:6379");
	int64_t before = wall_ms(), after;
	json_t *j, *o;

	alert__add_label(&a, "command", "GET");
	j = am_json(&a, 1, &cfg);
	after = wall_ms();
	o = json_array_get(j, 0);
	assert_int_equal(json_object_size(json_object_get(o, "labels")), 5);
	assert_string_equal(jstr(o, "labels", "alertname"), "RedisLatencyHigh");
	assert_string_equal(jstr(o, "labels", "severity"), "critical");
	assert_string_equal(jstr(o, "labels", "instance"), "node-1");
	assert_string_equal(jstr(o, "labels", "server"), "127.0.0.1:6379");
	assert_string_equal(jstr(o, "labels", "command"), "GET");
	assert_string_equal(jstr(o, "annotations", "summary"), "p99 of 127.0.0.1:6379 is high");
	assert_string_equal(jstr(o, "annotations", "description"),
			    "p99 latency 250 ms over 100 ms");
	assert_string_equal(jstr(o, "annotations", "value"), "0.25");
	assert_string_equal(jstr(o, "annotations", "threshold"), "0.1");
	assert_null(json_object_get(json_object_get(o, "annotations"), "runbook_url")); /* none */
	assert_string_equal(jstr(o, NULL, "startsAt"), "2023-11-14T22:13:20.123Z");
	assert_string_equal(jstr(o, NULL, "generatorURL"), "http://node-1:9464/api/v1/alerts");
	assert_null(json_object_get(o, "status")); /* only the webhook has it */
	/* Firing: endsAt = now + 4 resend intervals, so Alertmanager lets it lapse if we die. */
	int64_t ends = parse_rfc3339(jstr(o, NULL, "endsAt"));
	assert_in_range(ends, before + 240000 - 1, after + 240000 + 1);
	json_decref(j);

	/* a runbook link is the runbook_url annotation */
	snprintf(a.runbook_url, sizeof(a.runbook_url), "https://example.org/rb.md#latency_anomaly");
	j = am_json(&a, 1, &cfg);
	assert_string_equal(jstr(json_array_get(j, 0), "annotations", "runbook_url"),
			    "https://example.org/rb.md#latency_anomaly");
	json_decref(j);
}

static void test_json_resolved_and_edges(void **state)
{
	struct alert a[3] = {
		mk_alert("PgLockWait", ALERT_RESOLVED, "db:5432"),
		mk_alert("Anomaly", ALERT_FIRING, "127.0.0.1:6379"),
		mk_alert("Odd", ALERT_RESOLVED, "x"),
	};
	json_t *j, *o;

	/* Resolved: endsAt is the resolution time. */
	a[0].severity = SEV_WARNING;
	/* No fired time: startsAt falls back to active_since; odd values in Prometheus spelling;
	 * bad label names skipped; alertname cannot be overridden; invalid UTF-8 replaced. */
	a[1].fired_at_ms = 0;
	a[1].value = NAN;
	a[1].threshold = NAN;
	a[1].summary[0] = 0;
	alert__add_label(&a[1], "bad-name", "x");
	alert__add_label(&a[1], "alertname", "spoof");
	alert__add_label(&a[1], "prefix", "user:\xff\xfe:");
	alert__add_label(&a[1], "empty", "");
	/* Resolved before it fired (clock step): endsAt is clamped to startsAt. */
	a[2].resolved_at_ms = a[2].fired_at_ms - 5000;
	a[2].value = INFINITY;
	a[2].severity = SEV_INFO;

	j = am_json(a, 3, NULL);
	o = json_array_get(j, 0);
	assert_string_equal(jstr(o, "labels", "severity"), "warning");
	assert_null(jstr(o, "labels", "instance")); /* no cfg, no instance */
	assert_null(json_object_get(o, "generatorURL"));
	assert_string_equal(jstr(o, NULL, "startsAt"), "2023-11-14T22:13:20.123Z");
	assert_string_equal(jstr(o, NULL, "endsAt"), "2023-11-14T22:14:20.456Z");

	o = json_array_get(j, 1);
	assert_string_equal(jstr(o, NULL, "startsAt"), "2023-11-14T22:13:20.000Z");
	assert_string_equal(jstr(o, "annotations", "value"), "NaN");
	assert_null(jstr(o, "annotations", "threshold"));
	assert_null(jstr(o, "annotations", "summary"));
	assert_string_equal(jstr(o, "labels", "alertname"), "Anomaly");
	assert_null(jstr(o, "labels", "bad-name"));
	assert_null(jstr(o, "labels", "empty"));
	assert_string_equal(jstr(o, "labels", "prefix"), "user:??:");
	/* Default resend (60 s): endsAt four minutes ahead. */
	assert_true(parse_rfc3339(jstr(o, NULL, "endsAt")) > wall_ms() + 239000);

	o = json_array_get(j, 2);
	assert_string_equal(jstr(o, "labels", "severity"), "info");
	assert_string_equal(jstr(o, "annotations", "value"), "+Inf");
	assert_string_equal(jstr(o, NULL, "endsAt"), jstr(o, NULL, "startsAt"));
	json_decref(j);

	/* An empty batch is an empty array. */
	char *s = notify__alertmanager_json(NULL, 0, NULL);
	assert_string_equal(s, "[]");
	free(s);
}

/* ---- a tiny HTTP server that records request bodies ---- */

#define SRV_MAX 64

struct srv {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t lock;
	bool stop;
	int fail_first; /* answer this many requests with 500 */
	int n;
	char *bodies[SRV_MAX];
	char paths[SRV_MAX][64];
};

static int listen_loopback(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A loopback port nothing listens on (bound then closed; good enough for a test). */
static int free_port(void)
{
	int port, fd = listen_loopback(&port);

	close(fd);
	return port;
}

static void srv_handle(struct srv *s, int c)
{
	char buf[65536], path[64] = "";
	size_t len = 0;
	char *hdr_end = NULL;
	long clen = 0;
	int status;
	char reply[128];

	while (len < sizeof(buf) - 1) {
		ssize_t r = read(c, buf + len, sizeof(buf) - 1 - len);

		if (r <= 0)
			return;
		len += (size_t)r;
		buf[len] = 0;
		if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
			char *cl = strcasestr(buf, "\r\nContent-Length:");

			clen = cl ? strtol(cl + 17, NULL, 10) : 0;
		}
		if (hdr_end && (size_t)(hdr_end + 4 - buf) + (size_t)clen <= len)
			break;
	}
	if (!hdr_end)
		return;
	sscanf(buf, "%*s %63s", path);
	pthread_mutex_lock(&s->lock);
	status = s->fail_first > 0 ? 500 : 200;
	if (s->fail_first > 0)
		s->fail_first--;
	if (s->n < SRV_MAX) {
		s->bodies[s->n] = strndup(hdr_end + 4, (size_t)clen);
		snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", path);
		s->n++;
	}
	pthread_mutex_unlock(&s->lock);
	snprintf(reply, sizeof(reply),
		 "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", status);
	if (write(c, reply, strlen(reply)) < 0)
		return;
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		bool stop;
		int c;

		pthread_mutex_lock(&s->lock);
		stop = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			return NULL;
		if (poll(&p, 1, 20) <= 0)
			continue;
		c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		srv_handle(s, c);
		close(c);
	}
}

static struct srv *srv_start(int fail_first)
{
	struct srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->fd = listen_loopback(&s->port);
	s->fail_first = fail_first;
	pthread_mutex_init(&s->lock, NULL);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
	return s;
}

static int srv_count(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static bool srv_wait(struct srv *s, int n, int timeout_ms)
{
	uint64_t end = now_ms_mono() + (uint64_t)timeout_ms;

	while (srv_count(s) < n) {
		if (now_ms_mono() > end)
			return false;
		sleep_ms(10);
	}
	return true;
}

static json_t *srv_body(struct srv *s, int i)
{
	json_t *j;

	pthread_mutex_lock(&s->lock);
	j = json_loads(s->bodies[i], 0, NULL);
	pthread_mutex_unlock(&s->lock);
	assert_non_null(j);
	return j;
}

static void srv_stop(struct srv *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	close(s->fd);
	for (int i = 0; i < s->n; i++)
		free(s->bodies[i]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void *srv_state;

static int srv_teardown(void **state)
{
	if (srv_state)
		srv_stop(srv_state);
	srv_state = NULL;
	return 0;
}

static void test_webhook_resend_resolve(void **state)
{
	struct srv *s = srv_state = srv_start(0);
	char url[64];
	struct notify_cfg cfg = { .webhook_url = url,
				  .resend_interval_ns = 300ULL * 1000000,
				  .timeout_ns = 2000ULL * 1000000,
				  .instance = "node-1" };
	struct alert firing = mk_alert("RedisDown", ALERT_FIRING, "127.0.0.1:6379");
	struct alert resolved = firing;
	struct notify_stats st;
	struct notifier *n;
	json_t *j, *a;

	resolved.state = ALERT_RESOLVED;
	resolved.resolved_at_ms = firing.fired_at_ms + 1000;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", s->port);
	n = notifier__new(&cfg);
	assert_non_null(n);

	notifier__submit(n, &firing, 1);
	assert_true(srv_wait(s, 1, 2000));
	assert_string_equal(s->paths[0], "/hook");
	j = srv_body(s, 0);
	assert_string_equal(json_string_value(json_object_get(j, "receiver")), "nexus-agent");
	assert_string_equal(json_string_value(json_object_get(j, "status")), "firing");
	assert_int_equal(json_array_size(json_object_get(j, "alerts")), 1);
	a = json_array_get(json_object_get(j, "alerts"), 0);
	assert_string_equal(jstr(a, NULL, "status"), "firing");
	assert_string_equal(jstr(a, "labels", "alertname"), "RedisDown");
	assert_string_equal(jstr(a, "labels", "instance"), "node-1");
	json_decref(j);

	/* The same firing alert again is no transition: nothing new until the resend interval. */
	notifier__submit(n, &firing, 1);
	sleep_ms(100);
	assert_int_equal(srv_count(s), 1);
	assert_true(srv_wait(s, 2, 1000)); /* the resend */

	notifier__submit(n, &resolved, 1);
	assert_true(srv_wait(s, 3, 2000));
	j = srv_body(s, 2);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "resolved");
	a = json_array_get(json_object_get(j, "alerts"), 0);
	assert_string_equal(jstr(a, NULL, "status"), "resolved");
	assert_int_equal(parse_rfc3339(jstr(a, NULL, "endsAt")), resolved.resolved_at_ms);
	json_decref(j);

	/* The engine may hand a resolved alert over on several ticks: it still goes out once,
	 * and resolved alerts are not re-sent. */
	notifier__submit(n, &resolved, 1);
	sleep_ms(800);
	assert_int_equal(srv_count(s), 3);

	notifier__stats(n, &st);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.dropped, 0);
	notifier__free(n);
}

static void test_retry_after_failure(void **state)
{
	struct srv *s = srv_state = srv_start(1);
	char url[64];
	struct notify_cfg cfg = { .alertmanager_url = url, .resend_interval_ns = 300ULL * 1000000 };
	struct alert a = mk_alert("PgDown", ALERT_FIRING, "db:5432");
	struct notify_stats st;
	struct notifier *n;
	json_t *j;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s->port); /* trailing slash */
	n = notifier__new(&cfg);
	assert_non_null(n);
	notifier__submit(n, &a, 1);
	assert_true(srv_wait(s, 2, 3000)); /* 500, then the retry */
	assert_string_equal(s->paths[0], "/api/v2/alerts");
	j = srv_body(s, 1);
	assert_true(json_is_array(j));
	assert_string_equal(jstr(json_array_get(j, 0), "labels", "alertname"), "PgDown");
	json_decref(j);
	/* The server has the retry; the notifier counts it once the answer is back. */
	for (uint64_t end = now_ms_mono() + 2000; now_ms_mono() < end; sleep_ms(20)) {
		notifier__stats(n, &st);
		if (st.sent >= 1)
			break;
	}
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.sent, 1);
	notifier__free(n);
}

static void test_receiver_down(void **state)
{
	char url[64];
	struct notify_cfg cfg = { .alertmanager_url = url, .resend_interval_ns = 200ULL * 1000000 };
	struct alert a = mk_alert("X", ALERT_FIRING, "s");
	struct notify_stats st = { 0 };
	struct notifier *n;
	uint64_t end, t0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", free_port());
	n = notifier__new(&cfg);
	assert_non_null(n);
	notifier__submit(n, &a, 1);
	end = now_ms_mono() + 3000;
	while (st.failed < 2 && now_ms_mono() < end) { /* first try and one retry */
		sleep_ms(20);
		notifier__stats(n, &st);
	}
	assert_true(st.failed >= 2);
	assert_int_equal(st.sent, 0);
	t0 = now_ms_mono();
	notifier__free(n);
	assert_true(now_ms_mono() - t0 < 500);
}

static void test_receiver_hangs(void **state)
{
	int port, fd = listen_loopback(&port); /* accepts (in the kernel) and never answers */
	char url[64];
	struct notify_cfg cfg = { .webhook_url = url,
				  .timeout_ns = 300ULL * 1000000,
				  .resend_interval_ns = 10ULL * 1000000000ULL };
	struct alert a = mk_alert("X", ALERT_FIRING, "s");
	struct notify_stats st = { 0 };
	struct notifier *n;
	uint64_t t0, dt;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	n = notifier__new(&cfg);
	assert_non_null(n);
	t0 = now_ms_mono();
	notifier__submit(n, &a, 1);
	while (!st.failed && now_ms_mono() - t0 < 3000) {
		sleep_ms(10);
		notifier__stats(n, &st);
	}
	dt = now_ms_mono() - t0;
	assert_int_equal(st.failed, 1);
	assert_in_range(dt, 250, 1000); /* bounded by the 300 ms timeout */
	t0 = now_ms_mono();
	notifier__free(n); /* backing off: no last attempt */
	assert_true(now_ms_mono() - t0 < 200);

	/* Freed while a request is in flight: waits for it, bounded by the timeout. */
	n = notifier__new(&cfg);
	assert_non_null(n);
	notifier__submit(n, &a, 1);
	sleep_ms(50);
	t0 = now_ms_mono();
	notifier__free(n);
	dt = now_ms_mono() - t0;
	assert_true(dt < 600);
	close(fd);
}

static void test_overflow_and_idle_stop(void **state)
{
	static struct alert many[300];
	struct notify_stats st;
	struct notifier *n = notifier__new(NULL); /* no receivers: accepts and sends nothing */
	uint64_t t0;

	assert_non_null(n);
	for (int i = 0; i < 300; i++) {
		char srv[16];

		snprintf(srv, sizeof(srv), "s%d", i);
		many[i] = mk_alert("X", ALERT_FIRING, srv);
	}
	notifier__submit(n, many, 300); /* one copy under the lock: 256 fit */
	notifier__submit(n, NULL, 3);
	notifier__submit(n, many, 0);
	notifier__stats(n, &st);
	assert_int_equal(st.dropped, 300 - 256);
	assert_int_equal(st.sent + st.failed, 0);
	sleep_ms(50);
	t0 = now_ms_mono();
	notifier__free(n); /* idle thread notices at once */
	assert_true(now_ms_mono() - t0 < 100);
	notifier__free(NULL);
}

/* ---- a real Alertmanager ---- */

struct am {
	pid_t pid;
	int port;
	char dir[64];
};

static struct am am = { .pid = -1 };

static size_t grow(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	FILE *f = userdata;

	return fwrite(ptr, size, nmemb, f);
}

/* GET http://127.0.0.1:port/path; returns the HTTP status (0 = no answer), body malloc'ed. */
static long http_get(int port, const char *path, char **body)
{
	char url[256], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CURL *c = curl_easy_init();
	long code = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	fclose(f);
	if (body)
		*body = buf;
	else
		free(buf);
	return code;
}

static void am_stop(void)
{
	char cmd[128];

	if (am.pid > 0) {
		kill(am.pid, SIGTERM);
		for (int i = 0; i < 200 && waitpid(am.pid, NULL, WNOHANG) == 0; i++)
			sleep_ms(10);
		if (waitpid(am.pid, NULL, WNOHANG) == 0) {
			kill(am.pid, SIGKILL);
			waitpid(am.pid, NULL, 0);
		}
		am.pid = -1;
	}
	if (am.dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", am.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", am.dir);
		am.dir[0] = 0;
	}
}

static int am_teardown(void **state)
{
	am_stop();
	return 0;
}

/* Starts Alertmanager with a null receiver; false (and a reason) when it does not come up. */
static bool am_start(char *why, size_t why_len)
{
	char cfg_path[128], data[128], log_path[128], listen[64], cfg_arg[160], data_arg[160];
	FILE *f;

	snprintf(am.dir, sizeof(am.dir), "/tmp/nx-am-XXXXXX");
	if (!mkdtemp(am.dir)) {
		am.dir[0] = 0;
		snprintf(why, why_len, "mkdtemp: %s", strerror(errno));
		return false;
	}
	snprintf(cfg_path, sizeof(cfg_path), "%s/alertmanager.yml", am.dir);
	snprintf(data, sizeof(data), "%s/data", am.dir);
	snprintf(log_path, sizeof(log_path), "%s/log", am.dir);
	f = fopen(cfg_path, "w");
	if (!f) {
		snprintf(why, why_len, "%s: %s", cfg_path, strerror(errno));
		return false;
	}
	fputs("route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n", f);
	fclose(f);
	am.port = free_port();
	snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", am.port);
	snprintf(cfg_arg, sizeof(cfg_arg), "--config.file=%s", cfg_path);
	snprintf(data_arg, sizeof(data_arg), "--storage.path=%s", data);

	am.pid = fork();
	if (am.pid < 0) {
		snprintf(why, why_len, "fork: %s", strerror(errno));
		return false;
	}
	if (am.pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		/* Dies with the test even if the test crashes. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(AM_BIN, AM_BIN, cfg_arg, data_arg, listen, "--cluster.listen-address=",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 150; i++) { /* 15 s */
		if (http_get(am.port, "/-/ready", NULL) == 200)
			return true;
		if (waitpid(am.pid, NULL, WNOHANG) == am.pid) {
			am.pid = -1;
			snprintf(why, why_len, "alertmanager exited; see %s", log_path);
			return false;
		}
		sleep_ms(100);
	}
	snprintf(why, why_len, "alertmanager not ready on port %d", am.port);
	return false;
}

/* Our alert in GET /api/v2/alerts?active=true, or NULL; *root must be json_decref'ed. */
static json_t *am_find(const char *alertname, json_t **root)
{
	char *body = NULL;
	json_t *arr, *a;
	size_t i;

	*root = NULL;
	if (http_get(am.port, "/api/v2/alerts?active=true", &body) != 200) {
		free(body);
		return NULL;
	}
	arr = json_loads(body, 0, NULL);
	free(body);
	*root = arr;
	json_array_foreach(arr, i, a) {
		const char *name = jstr(a, "labels", "alertname");

		if (name && strcmp(name, alertname) == 0)
			return a;
	}
	return NULL;
}

static void test_alertmanager(void **state)
{
	char why[256], url[64];
	struct notify_cfg cfg = { .alertmanager_url = url,
				  .instance = "node-1",
				  .generator_url = "http://node-1:9464/api/v1/alerts" };
	struct alert a = mk_alert("NexusTestLatency", ALERT_FIRING, "127.0.0.1:6379");
	struct notify_stats st;
	struct notifier *n;
	json_t *root = NULL, *found = NULL;
	uint64_t end;

	if (access(AM_BIN, X_OK) != 0) {
		print_message("skipping: %s not installed\n", AM_BIN);
		skip();
	}
	if (!am_start(why, sizeof(why)))
		fail_msg("%s", why);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", am.port);
	a.fired_at_ms = wall_ms() - 5000; /* a recent start: Alertmanager keeps it as is */
	n = notifier__new(&cfg);
	assert_non_null(n);

	notifier__submit(n, &a, 1);
	for (end = now_ms_mono() + 10000; now_ms_mono() < end; sleep_ms(100)) {
		found = am_find(a.name, &root);
		if (found)
			break;
		json_decref(root);
		root = NULL;
	}
	assert_non_null(found);
	assert_string_equal(jstr(found, "labels", "severity"), "critical");
	assert_string_equal(jstr(found, "labels", "server"), "127.0.0.1:6379");
	assert_string_equal(jstr(found, "labels", "instance"), "node-1");
	assert_string_equal(jstr(found, "status", "state"), "active");
	assert_string_equal(jstr(found, "annotations", "value"), "0.25");
	assert_string_equal(jstr(found, NULL, "generatorURL"), "http://node-1:9464/api/v1/alerts");
	assert_int_equal(parse_rfc3339(jstr(found, NULL, "startsAt")), a.fired_at_ms);
	json_decref(root);
	root = NULL;

	/* Resolved: endsAt in the past, so it leaves the active list at once (without our
	 * resolution it would stay for 4 resend intervals, 4 minutes here). */
	a.state = ALERT_RESOLVED;
	a.resolved_at_ms = wall_ms() - 1000;
	notifier__submit(n, &a, 1);
	for (end = now_ms_mono() + 10000; now_ms_mono() < end; sleep_ms(100)) {
		found = am_find(a.name, &root);
		json_decref(root);
		root = NULL;
		if (!found)
			break;
	}
	assert_null(found);
	/* Alertmanager applies a POST before it answers it: the alert can leave its list a moment
	 * before the notifier thread counts the answer. */
	for (end = now_ms_mono() + 2000; now_ms_mono() < end; sleep_ms(20)) {
		notifier__stats(n, &st);
		if (st.sent >= 2)
			break;
	}
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.failed, 0);
	notifier__free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_firing),
		cmocka_unit_test(test_json_resolved_and_edges),
		cmocka_unit_test_teardown(test_webhook_resend_resolve, srv_teardown),
		cmocka_unit_test_teardown(test_retry_after_failure, srv_teardown),
		cmocka_unit_test(test_receiver_down),
		cmocka_unit_test(test_receiver_hangs),
		cmocka_unit_test(test_overflow_and_idle_stop),
		cmocka_unit_test_teardown(test_alertmanager, am_teardown),
	};
	int rc;

	/* The notifier honours proxy settings; nothing here must go through one. */
	setenv("no_proxy", "127.0.0.1,localhost", 1);
	setenv("NO_PROXY", "127.0.0.1,localhost", 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	am_stop(); /* in case a teardown did not run */
	curl_global_cleanup();
	return rc;
}
