// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The alert engine driven by hand-built snapshots, one tick per simulated second: warm-up
 * silence, the rules' conditions, `for` and hysteresis, overrides, custom rules, the caps and
 * bounded memory, and the JSON and /metrics renderings of what it publishes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "alert/baseline.h"
#include "alert/engine.h"
#include "alert/runbook.h"
#include "export/alert_api.h"
#include "export/prom.h"
#include "stats/postgres_stats.h"
#include "stats/redis_stats.h"
#include "stats/self_stats.h"

#define MS  1000000ULL
#define SEC 1000000000ULL

struct rig {
	struct engine *e;
	struct redis_snapshot rs;
	struct postgres_snapshot ps;
	struct self_stats self;
	uint64_t now;
	struct engine_snapshot *snap;
	FILE *log;
	char *logbuf;
	size_t loglen;
};

static struct rig *rig_new(int n_redis, const struct alert_config *cfg)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->rs.n_servers = n_redis;
	r->rs.servers = calloc(n_redis ? n_redis : 1, sizeof(*r->rs.servers));
	assert_non_null(r->rs.servers);
	for (int i = 0; i < n_redis; i++) {
		struct rs_server_snap *sv = &r->rs.servers[i];

		snprintf(sv->server, sizeof(sv->server), "10.0.%d.%d:6379", i / 250, i % 250 + 1);
		sv->pid = (uint32_t)getpid(); /* any pid: liveness is the snapshot's gone flag */
		sv->conns = 5;
	}
	r->now = 1000 * SEC;
	r->e = engine__new(cfg, NULL);
	assert_non_null(r->e);
	r->log = open_memstream(&r->logbuf, &r->loglen);
	engine__set_log(r->e, r->log);
	return r;
}

static void rig_free(struct rig *r)
{
	engine_snapshot__free(r->snap);
	engine__free(r->e);
	fclose(r->log);
	free(r->logbuf);
	free(r->rs.servers);
	free(r->ps.servers);
	free(r);
}

static void tick(struct rig *r)
{
	r->now += SEC;
	engine_snapshot__free(r->snap);
	r->snap = engine__tick(r->e, r->rs.n_servers ? &r->rs : NULL,
			       r->ps.n_servers ? &r->ps : NULL, &r->self, r->now);
	assert_non_null(r->snap);
}

/* n commands around lat_ns (half 10% under, half 10% over), hits and misses, errors. */
static void traffic(struct rs_server_snap *sv, uint32_t n, uint64_t lat_ns, uint64_t hits,
		    uint64_t misses, uint64_t errors)
{
	sv->commands += n;
	sv->errors += errors;
	sv->hits += hits;
	sv->misses += misses;
	hist__record_n(&sv->total, lat_ns - lat_ns / 10, n / 2);
	hist__record_n(&sv->total, lat_ns + lat_ns / 10, n - n / 2);
}

/* One tick of ordinary traffic on every server: 1000 commands at 1 ms, 95% hits. */
static void steady_tick(struct rig *r)
{
	for (int i = 0; i < r->rs.n_servers; i++)
		traffic(&r->rs.servers[i], 1000, 1 * MS, 950, 50, 0);
	tick(r);
}

static const struct alert *find(const struct engine_snapshot *s, const char *name,
				const char *server)
{
	for (int i = 0; s && i < s->n_alerts; i++) {
		const char *sv = alert__label(&s->alerts[i], "server");

		if (!strcmp(s->alerts[i].name, name) && (!server || (sv && !strcmp(sv, server))))
			return &s->alerts[i];
	}
	return NULL;
}

static enum alert_state state(const struct rig *r, const char *name)
{
	const struct alert *a = find(r->snap, name, NULL);

	return a ? a->state : ALERT_INACTIVE;
}

static uint32_t warmup(void)
{
	struct baseline_cfg c;

	baseline_cfg__default(&c);
	return c.warmup;
}

/* --- tests ------------------------------------------------------------------------------------ */

static void test_rule_names(void **st)
{
	const char *const *names = engine__rule_names();
	const char *must[] = { "latency_anomaly",
			       "latency_p95_high",
			       "latency_p95_critical",
			       "error_ratio_high",
			       "redis_hit_ratio_low",
			       "redis_hit_ratio_drop",
			       "redis_miss_storm",
			       "postgres_buffer_hit_ratio_low",
			       "postgres_lock_wait_surge",
			       "postgres_deadlock",
			       "postgres_slow_query_surge",
			       "connection_storm",
			       "connections_near_limit",
			       "traffic_stopped",
			       "traffic_surge",
			       "target_gone",
			       "target_restarted",
			       "events_lost" };
	int n = 0;

	while (names[n])
		n++;
	assert_true(n >= 15);
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
		bool found = false;

		for (int j = 0; j < n; j++)
			found |= !strcmp(names[j], must[i]);
		if (!found)
			fail_msg("missing rule %s", must[i]);
	}
}

/* While baselines learn, even a 50x latency spike says nothing; then a quiet minute stays quiet. */
static void test_warmup_silence(void **st)
{
	struct rig *r = rig_new(2, NULL);

	for (uint32_t t = 0; t < warmup() + 60; t++) {
		uint64_t lat = t >= 5 && t < 10 ? 50 * MS : 1 * MS;

		for (int i = 0; i < r->rs.n_servers; i++)
			traffic(&r->rs.servers[i], 1000, lat, 950, 50, 0);
		tick(r);
		if (r->snap->n_alerts)
			fail_msg("tick %u: %s %s", t, r->snap->alerts[0].name,
				 alert_state__str(r->snap->alerts[0].state));
	}
	assert_int_equal(r->snap->n_servers, 2);
	assert_true(r->snap->servers[0].health.score > 90);
	assert_true(r->snap->node_score > 90);
	assert_int_equal(r->snap->evaluations, warmup() + 60);
	rig_free(r);
}

static void test_latency_anomaly(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];
	const struct alert *a;
	int fired_at = -1, resolved_at = -1;

	for (uint32_t t = 0; t < warmup() + 30; t++)
		steady_tick(r);
	assert_int_equal(r->snap->n_alerts, 0);
	/* a step from 1 ms to 20 ms */
	for (int t = 0; t < 10; t++) {
		traffic(sv, 1000, 20 * MS, 950, 50, 0);
		tick(r);
		if (t == 0)
			assert_int_equal(state(r, "latency_anomaly"), ALERT_PENDING);
		if (fired_at < 0 && state(r, "latency_anomaly") == ALERT_FIRING)
			fired_at = t;
	}
	/* `for` is 5 s: firing on the 6th tick of the condition (t0 + 5 s) */
	assert_int_equal(fired_at, 5);
	a = find(r->snap, "latency_anomaly", sv->server);
	assert_non_null(a);
	assert_int_equal(a->severity, SEV_WARNING);
	assert_true(a->value > 0.015 && a->value < 0.025);
	assert_true(isnan(a->threshold));
	assert_true(a->active_since_ms > 0 && a->fired_at_ms >= a->active_since_ms + 5000);
	assert_int_equal(a->resolved_at_ms, 0);
	assert_non_null(strstr(a->summary, "Redis 10.0.0.1:6379 p95 latency"));
	assert_non_null(strstr(a->description, "SLOWLOG"));
	assert_string_equal(alert__label(a, "kind"), "redis");
	assert_null(find(r->snap, "latency_p95_high", NULL)); /* 20 ms is no absolute problem */
	/* back to normal: the window empties of slow commands, then clear holds for 5 s */
	for (int t = 0; t < 20 && resolved_at < 0; t++) {
		steady_tick(r);
		if (state(r, "latency_anomaly") == ALERT_RESOLVED)
			resolved_at = t;
	}
	assert_true(resolved_at >= 5 && resolved_at <= 12);
	a = find(r->snap, "latency_anomaly", NULL);
	assert_true(a->resolved_at_ms > a->fired_at_ms);
	/* resolved alerts stay listed, then go */
	for (int t = 0; t < 290; t++)
		steady_tick(r);
	assert_int_equal(state(r, "latency_anomaly"), ALERT_RESOLVED);
	for (int t = 0; t < 20; t++)
		steady_tick(r);
	if (state(r, "latency_anomaly") != ALERT_INACTIVE) {
		fflush(r->log);
		fail_msg("%s", r->logbuf);
	}
	/* the log has one line per transition */
	fflush(r->log);
	assert_non_null(strstr(r->logbuf, "nexus-agent: alert latency_anomaly server=10.0.0.1:6379 "
					  "warning inactive -> pending"));
	assert_non_null(strstr(r->logbuf, "warning pending -> firing"));
	assert_non_null(strstr(r->logbuf, "warning firing -> resolved"));
	rig_free(r);
}


/* A stall that holds 3% of the requests (CLIENT PAUSE: the in-flight ones) leaves p95 where it
 * was: latency_anomaly fires on p99, and says so. */
static void test_latency_p99_stall(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];
	const struct alert *a;
	int fired_at = -1;

	for (uint32_t t = 0; t < warmup() + 30; t++)
		steady_tick(r);
	for (int t = 0; t < 10; t++) {
		traffic(sv, 970, 1 * MS, 950, 20, 0);
		hist__record_n(&sv->total, 2 * SEC, 30);
		sv->commands += 30;
		tick(r);
		if (fired_at < 0 && state(r, "latency_anomaly") == ALERT_FIRING)
			fired_at = t;
	}
	/* the 5 s window holds 1% slow requests from the second tick on; then `for` (5 s) */
	assert_int_equal(fired_at, 6);
	a = find(r->snap, "latency_anomaly", sv->server);
	assert_non_null(a);
	assert_non_null(strstr(a->summary, "p99 latency"));
	assert_true(a->value > 1.5);
	/* the same 3% at 50 ms stays under the p99 minimum effect (100 ms): nothing */
	rig_free(r);
	r = rig_new(1, NULL);
	sv = &r->rs.servers[0];
	for (uint32_t t = 0; t < warmup() + 30; t++)
		steady_tick(r);
	for (int t = 0; t < 10; t++) {
		traffic(sv, 970, 1 * MS, 950, 20, 0);
		hist__record_n(&sv->total, 50 * MS, 30);
		sv->commands += 30;
		tick(r);
	}
	assert_int_equal(state(r, "latency_anomaly"), ALERT_INACTIVE);
	rig_free(r);
}


/* DEBUG SLEEP 2: requests wait unread, so latency stays low; replies stop for 2 s. */
static void test_stall(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];
	const struct alert *a;
	int fired_at = -1, resolved_at = -1;

	/* the silence baseline learns once the rate's is warm: two warm-ups */
	for (uint32_t t = 0; t < 2 * warmup() + 30; t++) {
		sv->reply_gap_ns = 5 * MS;
		steady_tick(r);
	}
	/* one silence of 2 s, then steady again: fires within `for` of it, resolves after */
	for (int t = 0; t < 30 && resolved_at < 0; t++) {
		sv->reply_gap_ns = t == 0 ? 2 * SEC : 5 * MS;
		steady_tick(r);
		if (fired_at < 0 && state(r, "latency_anomaly") == ALERT_FIRING) {
			fired_at = t;
			a = find(r->snap, "latency_anomaly", sv->server);
			assert_non_null(strstr(a->summary, "stalled: no reply for 2 s"));
			assert_non_null(strstr(a->description, "DEBUG SLEEP"));
		}
		if (fired_at >= 0 && state(r, "latency_anomaly") == ALERT_RESOLVED)
			resolved_at = t;
	}
	assert_int_equal(fired_at, 5);
	assert_true(resolved_at > fired_at && resolved_at <= 15);
	/* stalls are scored, not learned: a second one a little later fires just the same */
	for (int t = 0; t < 20; t++)
		steady_tick(r);
	fired_at = -1;
	for (int t = 0; t < 10 && fired_at < 0; t++) {
		sv->reply_gap_ns = t == 0 ? 3 * SEC : 5 * MS;
		steady_tick(r);
		if (state(r, "latency_anomaly") == ALERT_FIRING)
			fired_at = t;
	}
	assert_int_equal(fired_at, 5);
	rig_free(r);

	/* an idle server (1 request/s) is often silent for a second: never a stall */
	r = rig_new(1, NULL);
	sv = &r->rs.servers[0];
	for (uint32_t t = 0; t < 2 * warmup() + 60; t++) {
		sv->reply_gap_ns = (t % 7 == 0 ? 3 : 1) * SEC;
		traffic(sv, 1, 1 * MS, 1, 0, 0);
		tick(r);
	}
	assert_int_equal(state(r, "latency_anomaly"), ALERT_INACTIVE);
	rig_free(r);
}

/*
 * Latency as clients felt it: the server's own time stays at 1 ms while requests start waiting
 * 50 ms in its socket (a busy event loop): latency_anomaly fires on the felt p95 and says so.
 * And a 400 ms silence on a busy server (usually 5 ms) is a stall: the bar is the usual silence.
 */
static void test_felt_latency_and_short_stall(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];
	const struct alert *a;
	int fired_at = -1;

	for (uint32_t t = 0; t < warmup() + 10; t++) {
		hist__record_n(&sv->felt_total, 1200 * 1000, 1000);
		steady_tick(r);
	}
	assert_int_equal(state(r, "latency_anomaly"), ALERT_INACTIVE);
	for (int t = 0; t < 15 && fired_at < 0; t++) {
		hist__record_n(&sv->felt_total, 50 * MS, 1000);
		steady_tick(r);
		if (state(r, "latency_anomaly") == ALERT_FIRING)
			fired_at = t;
	}
	assert_true(fired_at >= 0 && fired_at <= 8);
	a = find(r->snap, "latency_anomaly", sv->server);
	assert_non_null(strstr(a->summary, "felt p95 latency"));
	rig_free(r);

	r = rig_new(1, NULL);
	sv = &r->rs.servers[0];
	for (uint32_t t = 0; t < 2 * warmup() + 30; t++) {
		sv->reply_gap_ns = 5 * MS;
		steady_tick(r);
	}
	fired_at = -1;
	for (int t = 0; t < 10 && fired_at < 0; t++) {
		sv->reply_gap_ns = t == 0 ? 400 * MS : 5 * MS;
		steady_tick(r);
		if (state(r, "latency_anomaly") == ALERT_FIRING)
			fired_at = t;
	}
	assert_int_equal(fired_at, 5);
	rig_free(r);

	/* a server whose usual silence is 110 ms (a bursty client): a 2 s stall fires, and the
	 * alert resolves once silences are usual again, though they exceed STALL_MIN_S / 2 */
	r = rig_new(1, NULL);
	sv = &r->rs.servers[0];
	for (uint32_t t = 0; t < 2 * warmup() + 30; t++) {
		sv->reply_gap_ns = (t % 2 ? 100 : 120) * MS;
		steady_tick(r);
	}
	fired_at = -1;
	int resolved_at = -1;

	for (int t = 0; t < 40 && resolved_at < 0; t++) {
		sv->reply_gap_ns = t == 0 ? 2 * SEC : (t % 2 ? 100 : 120) * MS;
		steady_tick(r);
		if (fired_at < 0 && state(r, "latency_anomaly") == ALERT_FIRING)
			fired_at = t;
		if (fired_at >= 0 && state(r, "latency_anomaly") == ALERT_RESOLVED)
			resolved_at = t;
	}
	assert_int_equal(fired_at, 5);
	assert_true(resolved_at > fired_at && resolved_at <= 20);
	rig_free(r);
}

/* Adds a stall that ended `ago_ns` before the rig's next tick. */
static void add_stall(struct rig *r, struct rs_server_snap *sv, uint64_t dur_ns, uint64_t ago_ns,
		      uint32_t waiters)
{
	struct rs_stall st = { .t_end = r->now + SEC - ago_ns, .dur_ns = dur_ns, .waiters = waiters };

	snprintf(st.command, sizeof(st.command), "keys");
	snprintf(st.client, sizeof(st.client), "10.1.2.3:5000");
	memmove(&sv->stalls[1], &sv->stalls[0], sizeof(sv->stalls[0]) * (RS_STALLS - 1));
	sv->stalls[0] = st; /* newest first */
	if (sv->n_stalls < RS_STALLS)
		sv->n_stalls++;
	sv->win_blocked_ns += dur_ns;
}

/*
 * redis_event_loop_blocked: a 300 ms KEYS that 12 requests waited for fires at once, naming
 * the command, the client and the waiters; it resolves 15 s after the last stall. A stall that
 * nobody waited for, or one under 100 ms, does not fire; stalls holding the server more than a
 * quarter of the minute make it critical.
 */
static void test_event_loop_blocked(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];
	const struct alert *a;
	int resolved_at = -1;

	sv->win_seconds = 60;
	for (uint32_t t = 0; t < warmup() + 5; t++)
		steady_tick(r);
	add_stall(r, sv, 50 * MS, 500 * MS, 9);	  /* short */
	steady_tick(r);
	add_stall(r, sv, 400 * MS, 500 * MS, 0);  /* nobody waited */
	steady_tick(r);
	assert_int_equal(state(r, "redis_event_loop_blocked"), ALERT_INACTIVE);
	add_stall(r, sv, 300 * MS, 50 * MS, 12); /* ended just now: judged at the next tick */
	steady_tick(r);
	assert_int_equal(state(r, "redis_event_loop_blocked"), ALERT_INACTIVE);
	steady_tick(r);
	a = find(r->snap, "redis_event_loop_blocked", sv->server);
	assert_non_null(a);
	assert_int_equal(a->state, ALERT_FIRING);
	assert_int_equal(a->severity, SEV_WARNING);
	assert_non_null(strstr(a->summary, "keys"));
	assert_non_null(strstr(a->summary, "10.1.2.3:5000"));
	assert_non_null(strstr(a->summary, "12 requests waited"));
	for (int t = 0; t < 30 && resolved_at < 0; t++) {
		steady_tick(r);
		if (state(r, "redis_event_loop_blocked") == ALERT_RESOLVED)
			resolved_at = t;
	}
	assert_true(resolved_at >= 13 && resolved_at <= 16);
	/* a minute of stalls: critical */
	sv->win_blocked_ns = 20 * SEC;
	add_stall(r, sv, 500 * MS, 500 * MS, 30);
	steady_tick(r);
	a = find(r->snap, "redis_event_loop_blocked", sv->server);
	assert_non_null(a);
	assert_int_equal(a->state, ALERT_FIRING);
	assert_int_equal(a->severity, SEV_CRITICAL);
	rig_free(r);
}

static void test_p95_bounds(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];
	const struct alert *a;

	for (int t = 0; t < 8; t++) {
		traffic(sv, 10, 1500 * MS, 0, 0, 0);
		tick(r);
	}
	/* first tick has no window; pending from the second, firing 5 s later */
	assert_int_equal(state(r, "latency_p95_high"), ALERT_FIRING);
	assert_int_equal(state(r, "latency_p95_critical"), ALERT_INACTIVE);
	a = find(r->snap, "latency_p95_high", NULL);
	assert_true(a->threshold == 1.0);
	assert_true(a->value > 1.3 && a->value < 1.7);
	for (int t = 0; t < 12; t++) {
		traffic(sv, 10, 3000 * MS, 0, 0, 0);
		tick(r);
	}
	assert_int_equal(state(r, "latency_p95_critical"), ALERT_FIRING);
	a = find(r->snap, "latency_p95_critical", NULL);
	assert_int_equal(a->severity, SEV_CRITICAL);
	/* firing first in the list: critical before warning */
	assert_string_equal(r->snap->alerts[0].name, "latency_p95_critical");
	assert_true(r->snap->servers[0].health.score < 60);
	assert_int_equal(r->snap->servers[0].input.firing_critical, 1);
	rig_free(r);
}

static void test_hit_ratio_hysteresis(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];
	int fired = -1, resolved = -1;

	for (int t = 0; t < 14; t++) {
		traffic(sv, 200, 1 * MS, 100, 100, 0);
		tick(r);
		if (fired < 0 && state(r, "redis_hit_ratio_low") == ALERT_FIRING)
			fired = t;
	}
	assert_int_equal(fired, 11); /* pending at t=1, `for` 10 s */
	{
		const struct alert *a = find(r->snap, "redis_hit_ratio_low", NULL);

		assert_true(fabs(a->value - 0.5) < 1e-9);
		assert_true(a->threshold == 0.80);
		assert_non_null(strstr(a->summary, "hit ratio 0.50"));
	}
	/* 0.82: above the firing threshold, below the clearing one: it holds */
	for (int t = 0; t < 30; t++) {
		traffic(sv, 200, 1 * MS, 164, 36, 0);
		tick(r);
		assert_int_equal(state(r, "redis_hit_ratio_low"), ALERT_FIRING);
	}
	/* 0.95: clears, and resolves after clear_for (10 s) */
	for (int t = 0; t < 20 && resolved < 0; t++) {
		traffic(sv, 200, 1 * MS, 190, 10, 0);
		tick(r);
		if (state(r, "redis_hit_ratio_low") == ALERT_RESOLVED)
			resolved = t;
	}
	assert_true(resolved >= 10 && resolved <= 14);
	rig_free(r);
}

static void test_error_ratio(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];

	/* 10 requests a tick: 50 in the window, above the minimum; 1 error in 10 */
	for (int t = 0; t < 8; t++) {
		traffic(sv, 10, 1 * MS, 10, 0, 1);
		tick(r);
	}
	assert_int_equal(state(r, "error_ratio_high"), ALERT_FIRING);
	rig_free(r);

	/* 2 requests a tick: 1 error in 2, but never 20 requests in the window */
	r = rig_new(1, NULL);
	sv = &r->rs.servers[0];
	for (int t = 0; t < 20; t++) {
		traffic(sv, 2, 1 * MS, 2, 0, 1);
		tick(r);
	}
	assert_int_equal(state(r, "error_ratio_high"), ALERT_INACTIVE);
	rig_free(r);
}

static void test_traffic_stopped(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];
	int fired = -1;

	for (uint32_t t = 0; t < warmup() + 30; t++)
		steady_tick(r);
	for (int t = 0; t < 15; t++) {
		tick(r); /* nothing happens; 5 clients stay connected */
		if (fired < 0 && state(r, "traffic_stopped") == ALERT_FIRING)
			fired = t;
	}
	assert_int_equal(fired, 10);
	assert_non_null(strstr(find(r->snap, "traffic_stopped", NULL)->summary,
			       "no requests while 5 clients"));
	for (int t = 0; t < 5; t++)
		steady_tick(r);
	assert_int_equal(state(r, "traffic_stopped"), ALERT_RESOLVED);

	/* no clients, no alert: an idle server is not a stuck one */
	sv->conns = 0;
	for (int t = 0; t < 20; t++)
		tick(r);
	assert_int_equal(state(r, "traffic_stopped"), ALERT_RESOLVED);
	rig_free(r);
}

/* Limits come in the snapshot (the capture side reads them): 950 of maxclients 1000 is near. */
static void test_limit_from_snapshot(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];

	sv->conns = 950;
	for (int t = 0; t < 10; t++)
		steady_tick(r);
	assert_int_equal(state(r, "connections_near_limit"), ALERT_INACTIVE); /* of 10000 */
	sv->max_conns = 1000;
	for (int t = 0; t < 10; t++)
		steady_tick(r);
	assert_int_equal(state(r, "connections_near_limit"), ALERT_FIRING);
	rig_free(r);
}

/* Connections rising 3 a minute towards maxclients 1000: once the trend has enough points the
 * time to the limit is predicted, capacity_exhaustion_predicted fires (warning), and /metrics
 * has nexus_capacity_time_to_limit_seconds. Flat connections (the first hour) predict nothing. */
static void test_capacity_exhaustion(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];
	const struct engine_server_health *h;
	int fired = -1;
	char *text = NULL;
	size_t len = 0;
	struct prom p;

	sv->max_conns = 1000;
	sv->conns = 100;
	for (int t = 0; t < 3600; t++) {
		steady_tick(r);
		assert_int_equal(state(r, "capacity_exhaustion_predicted"), ALERT_INACTIVE);
	}
	for (int t = 0; t < 7200 && fired < 0; t++) {
		sv->conns = 100 + 3 * (t / 60);
		steady_tick(r);
		if (state(r, "capacity_exhaustion_predicted") == ALERT_FIRING)
			fired = t;
	}
	/* 6 h of points, the first hour flat: the rise shows (z >= 4, >= 2 % of the limit) and
	 * the line reaches 1000 in under 4 h well before 2 h of it */
	assert_true(fired > 0);
	assert_int_equal(find(r->snap, "capacity_exhaustion_predicted", NULL)->severity,
			 SEV_WARNING);
	h = &r->snap->servers[0];
	assert_true(h->has_cap && h->cap[CAP_CONNECTIONS].rising);
	assert_true(h->cap[CAP_CONNECTIONS].ttl_s < 4 * 3600);
	assert_true(h->cap[CAP_CONNECTIONS].limit == 1000);
	p = (struct prom){ .f = open_memstream(&text, &len) };
	{
		struct metric_model m;

		metric_model__init(&m, 0, 0);
		alert_api__fill_model(&m, r->snap);
		prom__render_model(&p, &m);
		metric_model__free(&m);
	}
	fclose(p.f);
	assert_non_null(strstr(text, "nexus_capacity_time_to_limit_seconds{server=\"10.0.0.1:6379\","
				     "resource=\"connections\"} "));
	free(text);
	rig_free(r);
}

static void test_target_restarted_and_gone(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];
	const struct alert *a;

	for (int t = 0; t < 3; t++)
		steady_tick(r);
	sv->pid = (uint32_t)getppid(); /* another live process: a restart */
	steady_tick(r);
	assert_int_equal(state(r, "target_restarted"), ALERT_FIRING); /* for: 0 */
	a = find(r->snap, "target_restarted", NULL);
	assert_non_null(strstr(a->summary, "restarted"));
	for (int t = 0; t < 30; t++)
		steady_tick(r);
	assert_int_equal(state(r, "target_restarted"), ALERT_FIRING);
	for (int t = 0; t < 31; t++)
		steady_tick(r);
	assert_int_equal(state(r, "target_restarted"), ALERT_RESOLVED); /* 60 s after */
	assert_int_equal(state(r, "target_gone"), ALERT_INACTIVE);

	sv->gone = true; /* the capture side saw its process exit */
	for (int t = 0; t < 7; t++)
		steady_tick(r);
	a = find(r->snap, "target_gone", NULL);
	assert_non_null(a);
	assert_int_equal(a->state, ALERT_FIRING);
	assert_int_equal(a->severity, SEV_CRITICAL);
	rig_free(r);
}

/* A server that leaves the snapshots is reported gone, then forgotten after a minute. */
static void test_server_leaves(void **st)
{
	struct rig *r = rig_new(1, NULL);

	for (int t = 0; t < 3; t++)
		steady_tick(r);
	r->rs.n_servers = 0;
	for (int t = 0; t < 10; t++)
		tick(r);
	assert_int_equal(state(r, "target_gone"), ALERT_FIRING);
	assert_non_null(strstr(find(r->snap, "target_gone", NULL)->description,
			       "left the agent's figures"));
	for (int t = 0; t < 55; t++)
		tick(r);
	assert_int_equal(r->snap->n_servers, 0);
	assert_int_equal(state(r, "target_gone"), ALERT_RESOLVED);
	r->rs.n_servers = 1;
	rig_free(r);
}

static void test_events_lost(void **st)
{
	struct rig *r = rig_new(0, NULL);

	for (int t = 0; t < 5; t++)
		tick(r);
	assert_int_equal(r->snap->n_alerts, 0);
	r->self.kernel[NX_CNT_LOST] += 17;
	tick(r);
	assert_int_equal(state(r, "events_lost"), ALERT_FIRING);
	assert_true(find(r->snap, "events_lost", NULL)->value == 17);
	/* a built-in rule links its section of docs/runbooks.md */
	assert_string_equal(find(r->snap, "events_lost", NULL)->runbook_url,
			    RUNBOOK_URL_BASE_DEFAULT "#events_lost");
	for (int t = 0; t < 29; t++)
		tick(r);
	assert_int_equal(state(r, "events_lost"), ALERT_FIRING);
	for (int t = 0; t < 2; t++)
		tick(r);
	assert_int_equal(state(r, "events_lost"), ALERT_RESOLVED); /* 30 s without a loss */
	rig_free(r);
}

static void test_overrides(void **st)
{
	struct alert_config *cfg = calloc(1, sizeof(*cfg));
	struct rig *r;
	struct rs_server_snap *sv;

	alert_config__init(cfg);
	cfg->n_overrides = 2;
	snprintf(cfg->overrides[0].rule, ALERT_NAME_LEN, "redis_hit_ratio_low");
	cfg->overrides[0].fields = ACF_ENABLED;
	cfg->overrides[0].enabled = false;
	snprintf(cfg->overrides[1].rule, ALERT_NAME_LEN, "latency_p95_high");
	cfg->overrides[1].fields = ACF_THRESHOLD | ACF_SEVERITY | ACF_FOR;
	cfg->overrides[1].threshold = 0.1;
	cfg->overrides[1].severity = SEV_CRITICAL;
	cfg->overrides[1].for_ns = 2 * SEC;
	r = rig_new(1, cfg);
	sv = &r->rs.servers[0];
	for (int t = 0; t < 20; t++) {
		traffic(sv, 200, 200 * MS, 100, 100, 0); /* 0.2 s, hit ratio 0.5 */
		tick(r);
	}
	assert_int_equal(state(r, "redis_hit_ratio_low"), ALERT_INACTIVE);
	assert_int_equal(state(r, "latency_p95_high"), ALERT_FIRING);
	assert_int_equal(find(r->snap, "latency_p95_high", NULL)->severity, SEV_CRITICAL);
	assert_true(find(r->snap, "latency_p95_high", NULL)->threshold == 0.1);

	/* a live reconfiguration: back to the defaults turns hit_ratio_low on, and at the default
	 * 1 s bound the 0.2 s latency alert resolves */
	engine__configure(r->e, NULL);
	for (int t = 0; t < 15; t++) {
		traffic(sv, 200, 200 * MS, 100, 100, 0);
		tick(r);
	}
	assert_int_equal(state(r, "redis_hit_ratio_low"), ALERT_FIRING);
	assert_int_equal(state(r, "latency_p95_high"), ALERT_RESOLVED);

	/* turning a firing rule off resolves its alert at once */
	engine__configure(r->e, cfg);
	assert_int_equal(state(r, "redis_hit_ratio_low"), ALERT_FIRING); /* the old snapshot */
	traffic(sv, 200, 200 * MS, 100, 100, 0);
	tick(r);
	assert_int_equal(state(r, "redis_hit_ratio_low"), ALERT_RESOLVED);
	rig_free(r);
	free(cfg);
}

static void test_custom_rule(void **st)
{
	struct alert_config *cfg = calloc(1, sizeof(*cfg));
	struct acfg_custom *c;
	struct rig *r;
	const struct alert *a;

	alert_config__init(cfg);
	cfg->n_custom = 2;
	c = &cfg->custom[0];
	snprintf(c->name, sizeof(c->name), "misses_fast");
	snprintf(c->metric, sizeof(c->metric), "nexus_redis_keyspace_misses_total");
	c->n_match = 1;
	snprintf(c->match[0].name, sizeof(c->match[0].name), "server");
	snprintf(c->match[0].value, sizeof(c->match[0].value), "10.0.0.2:6379");
	c->rate = true;
	c->op = OP_GT;
	c->threshold = c->clear = 500;
	c->severity = SEV_CRITICAL;
	snprintf(c->summary, sizeof(c->summary), "misses above 500/s");
	snprintf(c->runbook_url, sizeof(c->runbook_url), "https://wiki.example/misses");
	c = &cfg->custom[1];
	snprintf(c->name, sizeof(c->name), "many_targets");
	snprintf(c->metric, sizeof(c->metric), "nexus_agent_targets");
	c->op = OP_GE;
	c->threshold = 10;
	c->clear = 8;
	c->for_ns = 2 * SEC;
	c->severity = SEV_INFO;

	r = rig_new(2, cfg);
	for (int t = 0; t < 3; t++)
		steady_tick(r); /* 50 misses/s on each */
	assert_int_equal(r->snap->n_alerts, 0);
	traffic(&r->rs.servers[0], 1000, 1 * MS, 0, 1000, 0); /* not the matched server */
	tick(r);
	assert_null(find(r->snap, "misses_fast", NULL));
	traffic(&r->rs.servers[1], 1000, 1 * MS, 0, 1000, 0);
	tick(r);
	a = find(r->snap, "misses_fast", "10.0.0.2:6379");
	assert_non_null(a);
	assert_int_equal(a->state, ALERT_FIRING);
	assert_true(a->value == 1000);
	assert_string_equal(a->summary, "misses above 500/s");
	assert_string_equal(a->runbook_url, "https://wiki.example/misses"); /* the file's own */
	tick(r);
	assert_int_equal(state(r, "misses_fast"), ALERT_RESOLVED);

	/* a gauge with hysteresis and `for` */
	r->self.targets = 12;
	for (int t = 0; t < 3; t++)
		tick(r);
	assert_int_equal(state(r, "many_targets"), ALERT_FIRING);
	assert_string_equal(find(r->snap, "many_targets", NULL)->runbook_url, ""); /* none given */
	r->self.targets = 9; /* between clear and threshold: holds */
	tick(r);
	assert_int_equal(state(r, "many_targets"), ALERT_FIRING);
	r->self.targets = 3;
	tick(r);
	assert_int_equal(state(r, "many_targets"), ALERT_RESOLVED);
	rig_free(r);
	free(cfg);
}

static void test_postgres(void **st)
{
	struct rig *r = rig_new(0, NULL);
	struct ps_server_snap *sv;
	struct ps_db_snap *db;

	r->ps.n_servers = 1;
	r->ps.servers = calloc(1, sizeof(*r->ps.servers));
	sv = &r->ps.servers[0];
	snprintf(sv->server, sizeof(sv->server), "127.0.0.1:5432");
	sv->pid = (uint32_t)getpid();
	sv->usdt = true;
	sv->n_dbs = 1;
	sv->dbs = calloc(1, sizeof(*sv->dbs));
	db = &sv->dbs[0];
	snprintf(db->database, sizeof(db->database), "app");
	for (int t = 0; t < 20; t++) {
		sv->queries += 100;
		db->queries += 100;
		hist__record_n(&db->total, 2 * MS, 100);
		db->buffer_hits += 500; /* 0.5 buffer hit ratio over 1000 accesses/s */
		db->buffer_reads += 500;
		db->lock_wait_ns += 500 * MS; /* 0.5 s of lock wait per second */
		if (t == 10)
			sv->deadlocks++;
		tick(r);
		if (t == 10)
			assert_int_equal(state(r, "postgres_deadlock"), ALERT_FIRING);
	}
	assert_int_equal(state(r, "postgres_buffer_hit_ratio_low"), ALERT_FIRING);
	assert_int_equal(state(r, "postgres_lock_wait_surge"), ALERT_FIRING);
	assert_string_equal(
		alert__label(find(r->snap, "postgres_lock_wait_surge", NULL), "database"), "app");
	assert_null(alert__label(find(r->snap, "postgres_deadlock", NULL), "database"));
	assert_int_equal(r->snap->n_servers, 1); /* databases are not servers */
	assert_string_equal(r->snap->servers[0].kind, "postgres");
	assert_true(r->snap->servers[0].health.penalty[HP_CACHE] > 0);

	/* without per-database figures, latency comes from the statements' buckets */
	free(sv->dbs);
	sv->dbs = NULL;
	sv->n_dbs = 0;
	sv->n_series = 1;
	sv->series = calloc(1, sizeof(*sv->series));
	for (int t = 0; t < 10; t++) {
		sv->queries += 10;
		sv->series[0].lat.count += 10;
		for (int b = 0; b < LS_N_LE; b++)
			if (ls_le_seconds[b] >= 5) /* 10 statements of 2.5..5 s */
				sv->series[0].lat.le[b] += 10;
		tick(r);
	}
	assert_int_equal(state(r, "latency_p95_critical"), ALERT_FIRING);
	assert_null(alert__label(find(r->snap, "latency_p95_critical", NULL), "database"));
	free(sv->series);
	rig_free(r);
}

static void test_caps(void **st)
{
	struct rig *r = rig_new(ENG_MAX_SERIES + 44, NULL);

	for (int t = 0; t < 3; t++)
		steady_tick(r);
	assert_int_equal(r->snap->n_servers, ENG_MAX_SERIES);
	assert_int_equal(r->snap->dropped_series, 3 * 44);
	/* every tracked server firing three alerts at once overflows the alert table */
	for (int t = 0; t < 15; t++) {
		for (int i = 0; i < r->rs.n_servers; i++)
			traffic(&r->rs.servers[i], 100, 3000 * MS, 10, 90, 0);
		tick(r);
	}
	assert_true(r->snap->n_alerts <= ENG_MAX_ALERTS);
	assert_true(r->snap->dropped_alerts > 0);
	rig_free(r);
}

/* 10,000 ticks of churn (traffic, faults, restarts): heap use flat after the first thousand. */
static void test_bounded_memory(void **st)
{
	struct rig *r = rig_new(4, NULL);
	size_t at_1k = 0;

	for (int t = 0; t < 10000; t++) {
		for (int i = 0; i < r->rs.n_servers; i++) {
			struct rs_server_snap *sv = &r->rs.servers[i];
			bool bad = (t / 97 + i) % 5 == 0;

			traffic(sv, 100 + (t % 13), bad ? 30 * MS : 1 * MS, bad ? 20 : 95,
				bad ? 80 : 5, bad ? 3 : 0);
			if (t % 1500 == 1499)
				sv->pid = sv->pid == (uint32_t)getpid() ? (uint32_t)getppid()
									: (uint32_t)getpid();
		}
		if (t % 700 == 0)
			r->self.kernel[NX_CNT_LOST]++;
		tick(r);
		assert_true(r->snap->n_alerts <= ENG_MAX_ALERTS);
		if (t == 999)
			at_1k = mallinfo2().uordblks;
	}
	assert_true(r->snap->transitions > 20);
	assert_true(mallinfo2().uordblks <= at_1k + 256 * 1024);
	rig_free(r);
}

static char *render(int (*fn)(FILE *, const struct engine_snapshot *),
		    const struct engine_snapshot *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(fn(f, s), 0);
	fclose(f);
	return buf;
}

static void test_api(void **st)
{
	struct rig *r = rig_new(1, NULL);
	struct rs_server_snap *sv = &r->rs.servers[0];
	json_t *root, *a;
	char *text;

	for (int t = 0; t < 14; t++) {
		traffic(sv, 200, 1 * MS, 100, 100, 0);
		tick(r);
	}
	text = render(alert_api__render_alerts, r->snap);
	root = json_loads(text, 0, NULL);
	assert_non_null(root);
	a = json_array_get(json_object_get(root, "alerts"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "name")), "redis_hit_ratio_low");
	assert_string_equal(json_string_value(json_object_get(a, "state")), "firing");
	assert_string_equal(json_string_value(json_object_get(a, "severity")), "warning");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(a, "labels"), "server")),
		"10.0.0.1:6379");
	assert_true(json_is_null(json_object_get(a, "resolved_at")));
	assert_int_equal(strlen(json_string_value(json_object_get(a, "fired_at"))), 24);
	assert_int_equal(strlen(json_string_value(json_object_get(a, "fingerprint"))), 16);
	assert_true(json_real_value(json_object_get(a, "threshold")) == 0.8);
	assert_string_equal(json_string_value(json_object_get(a, "runbook_url")),
			    RUNBOOK_URL_BASE_DEFAULT "#redis_hit_ratio_low");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(root, "counts"), "firing")), 1);
	json_decref(root);
	free(text);

	text = render(alert_api__render_health, r->snap);
	root = json_loads(text, 0, NULL);
	assert_non_null(root);
	a = json_array_get(json_object_get(root, "servers"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "kind")), "redis");
	assert_true(json_real_value(json_object_get(
			    json_object_get(json_object_get(a, "parts"), "cache"), "penalty")) > 0);
	assert_true(json_is_number(json_object_get(json_object_get(root, "node"), "score")));
	json_decref(root);
	free(text);

	/* no snapshot yet: empty, valid */
	text = render(alert_api__render_alerts, NULL);
	assert_non_null(strstr(text, "\"alerts\":[]"));
	free(text);

	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		struct prom p = { .f = f };
		struct metric_model m;

		metric_model__init(&m, 0, 0);
		alert_api__fill_model(&m, r->snap);
		prom__render_model(&p, &m);
		metric_model__free(&m);
		fclose(f);
		assert_non_null(strstr(buf, "# TYPE nexus_alerts gauge\n"));
		assert_non_null(strstr(buf, "nexus_alerts{alertname=\"redis_hit_ratio_low\","
					    "severity=\"warning\",state=\"firing\"} 1\n"));
		assert_non_null(strstr(buf, "nexus_health_score{scope=\"node\"} "));
		assert_non_null(strstr(buf, "nexus_health_score{scope=\"10.0.0.1:6379\"} "));
		assert_non_null(strstr(buf, "nexus_alert_evaluations_total 14\n"));
		free(buf);
	}
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_names),
		cmocka_unit_test(test_warmup_silence),
		cmocka_unit_test(test_latency_anomaly),
		cmocka_unit_test(test_latency_p99_stall),
		cmocka_unit_test(test_stall),
		cmocka_unit_test(test_event_loop_blocked),
		cmocka_unit_test(test_felt_latency_and_short_stall),
		cmocka_unit_test(test_p95_bounds),
		cmocka_unit_test(test_hit_ratio_hysteresis),
		cmocka_unit_test(test_error_ratio),
		cmocka_unit_test(test_traffic_stopped),
		cmocka_unit_test(test_target_restarted_and_gone),
		cmocka_unit_test(test_server_leaves),
		cmocka_unit_test(test_events_lost),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_custom_rule),
		cmocka_unit_test(test_postgres),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_limit_from_snapshot),
		cmocka_unit_test(test_capacity_exhaustion),
		cmocka_unit_test(test_bounded_memory),
		cmocka_unit_test(test_api),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
