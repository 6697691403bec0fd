// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * redis_stats: commands by status, keyspace hits/misses in total and per prefix, the caps
 * (prefixes, series, servers, error words) folding into "other" without growing, the 60 s
 * window, latency quantiles and Prometheus buckets from snapshots, blocking commands in their
 * own series, connections, and snapshots that are deep copies freed without leaks (run it under
 * valgrind --leak-check=full once in a while).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "stats/redis_stats.h"

#define US 1000ULL
#define MS 1000000ULL
#define SEC 1000000000ULL
/* A base time well away from 0 (first_ns == 0 means "no command yet") and on a slot edge. */
#define T0 (1000 * SEC)

static const char *SRV = "127.0.0.1:6379";

/* ------------------------------------------------------------------------------------ helpers */

struct key {
	const char *prefix;
	int hit; /* 1, 0, -1 */
};

/* A record with latency lat_ns, completed at now_ns; keys given as (prefix, hit) pairs. */
static struct resp_record rec(const char *cmd, const char *err, uint64_t now_ns, uint64_t lat_ns)
{
	struct resp_record r;

	memset(&r, 0, sizeof(r));
	snprintf(r.command, sizeof(r.command), "%s", cmd);
	if (err) {
		r.status = RESP_ERROR;
		snprintf(r.error, sizeof(r.error), "%s", err);
	}
	r.t_reply = now_ns;
	r.t_request = now_ns - lat_ns;
	return r;
}

/* A keyspace read: keys[] with their hit flags; hits/misses are the given totals. */
static struct resp_record read_rec(const char *cmd, uint64_t now_ns, const struct key *keys, int n,
				   uint32_t hits, uint32_t misses)
{
	struct resp_record r = rec(cmd, NULL, now_ns, 10 * US);

	r.counts_keyspace = true;
	r.hits = hits;
	r.misses = misses;
	r.n_keys = (uint8_t)(n < RESP_MAX_KEYS ? n : RESP_MAX_KEYS);
	for (int i = 0; i < r.n_keys; i++) {
		snprintf(r.keys[i].prefix, sizeof(r.keys[i].prefix), "%s", keys[i].prefix);
		r.keys[i].hit = (int8_t)keys[i].hit;
	}
	return r;
}

static void cmd(struct redis_stats *s, const char *server, const char *name, const char *err,
		uint64_t now_ns, uint64_t lat_ns)
{
	struct resp_record r = rec(name, err, now_ns, lat_ns);

	redis_stats__command(s, server, 4242, &r, now_ns);
}

static const struct rs_server_snap *find_server(const struct redis_snapshot *snap, const char *name)
{
	for (int i = 0; i < snap->n_servers; i++)
		if (!strcmp(snap->servers[i].server, name))
			return &snap->servers[i];
	return NULL;
}

/* The series of a command with the given blocking flag. */
static const struct rs_cmd_snap *find_cmd_b(const struct rs_server_snap *sv, const char *name,
					    bool blocking)
{
	for (int i = 0; i < sv->n_cmds; i++)
		if (!strcmp(sv->cmds[i].command, name) && sv->cmds[i].blocking == blocking)
			return &sv->cmds[i];
	return NULL;
}

static const struct rs_cmd_snap *find_cmd(const struct rs_server_snap *sv, const char *name)
{
	return find_cmd_b(sv, name, false);
}

static const struct rs_prefix_snap *find_prefix(const struct rs_server_snap *sv, const char *p)
{
	for (int i = 0; i < sv->n_prefixes; i++)
		if (!strcmp(sv->prefixes[i].prefix, p))
			return &sv->prefixes[i];
	return NULL;
}

static uint64_t err_count(const struct rs_cmd_snap *c, const char *word)
{
	for (int i = 0; i < c->lat.n_errs; i++)
		if (!strcmp(c->lat.errs[i].word, word))
			return c->lat.errs[i].n;
	return 0;
}

static int count_named(const struct rs_server_snap *sv, const char *name)
{
	int n = 0;

	for (int i = 0; i < sv->n_cmds; i++)
		n += !strcmp(sv->cmds[i].command, name);
	return n;
}

static struct redis_snapshot *snap_of(struct redis_stats *s, uint64_t now_ns)
{
	struct redis_snapshot *snap = redis_stats__snapshot(s, now_ns);

	assert_non_null(snap);
	return snap;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank ceil(q * n), 1..n: what hist__quantile reports (within 1/128). */
static uint64_t exact_quantile(const uint64_t *sorted, size_t n, double q)
{
	double x = q * (double)n;
	uint64_t r = (uint64_t)x;

	if ((double)r < x)
		r++;
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return sorted[r - 1];
}

/* Within 1% of want, as the README promises (the histogram guarantees 1/128). */
static void assert_within_1pct(uint64_t got, uint64_t want)
{
	uint64_t diff = got > want ? got - want : want - got;

	if ((double)diff > 0.01 * (double)want)
		fail_msg("quantile %llu is not within 1%% of %llu", (unsigned long long)got,
			 (unsigned long long)want);
}

/* -------------------------------------------------------------------------------------- tests */

static void test_empty(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;

	assert_non_null(s);
	snap = snap_of(s, T0);
	assert_int_equal(snap->n_servers, 0);
	assert_int_equal(snap->dropped_series, 0);
	assert_int_equal(snap->dropped_servers, 0);
	assert_int_equal(snap->parser.parse_errors, 0);
	redis_snapshot__free(snap);
	redis_snapshot__free(NULL);
	redis_stats__free(s);
	redis_stats__free(NULL);
}

static void test_commands_by_status(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	const struct rs_server_snap *sv;
	const struct rs_cmd_snap *get, *set, *cg;
	struct resp_record r;

	for (int i = 0; i < 3; i++)
		cmd(s, SRV, "get", NULL, T0 + i * MS, 20 * US);
	cmd(s, SRV, "get", "WRONGTYPE", T0 + 10 * MS, 20 * US);
	cmd(s, SRV, "get", "WRONGTYPE", T0 + 11 * MS, 20 * US);
	cmd(s, SRV, "get", "ERR", T0 + 12 * MS, 20 * US);
	for (int i = 0; i < 4; i++)
		cmd(s, SRV, "set", NULL, T0 + 20 * MS + i, 30 * US);
	cmd(s, SRV, "config get", NULL, T0 + 30 * MS, 50 * US);
	/* the pid is the one last seen serving the server */
	r = rec("ping", NULL, T0 + 40 * MS, 5 * US);
	redis_stats__command(s, SRV, 777, &r, T0 + 40 * MS);

	snap = snap_of(s, T0 + SEC);
	assert_int_equal(snap->n_servers, 1);
	sv = find_server(snap, SRV);
	assert_non_null(sv);
	assert_int_equal(sv->pid, 777);
	assert_int_equal(sv->commands, 3 + 3 + 4 + 1 + 1);
	assert_int_equal(sv->errors, 3);
	assert_int_equal(sv->win_commands, 12);
	assert_int_equal(sv->win_errors, 3);
	assert_int_equal(sv->n_cmds, 4);

	get = find_cmd(sv, "get");
	assert_non_null(get);
	assert_int_equal(get->lat.ok, 3);
	assert_int_equal(get->lat.errors, 3);
	assert_int_equal(get->lat.count, 6);
	assert_int_equal(get->lat.n_errs, 2);
	assert_int_equal(err_count(get, "WRONGTYPE"), 2);
	assert_int_equal(err_count(get, "ERR"), 1);
	assert_false(get->blocking);

	set = find_cmd(sv, "set");
	assert_non_null(set);
	assert_int_equal(set->lat.ok, 4);
	assert_int_equal(set->lat.errors, 0);
	assert_int_equal(set->lat.n_errs, 0);
	assert_int_equal(set->lat.count, 4);
	assert_int_equal(set->lat.sum_ns, 4 * 30 * US);

	cg = find_cmd(sv, "config get");
	assert_non_null(cg);
	assert_int_equal(cg->lat.ok, 1);

	/* no command is keyspace-relevant here */
	assert_int_equal(sv->hits, 0);
	assert_int_equal(sv->misses, 0);
	assert_int_equal(sv->n_prefixes, 0);
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

static void test_error_words_cap(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	const struct rs_cmd_snap *c;
	char word[16];

	/* LS_MAX_ERRS distinct words keep their own count; three more fold into "other" */
	for (int i = 0; i < LS_MAX_ERRS + 3; i++) {
		snprintf(word, sizeof(word), "E%d", i);
		cmd(s, SRV, "eval", word, T0 + i, US);
		cmd(s, SRV, "eval", word, T0 + i, US);
	}
	cmd(s, SRV, "eval", "E0", T0 + 100, US); /* a known word after the cap: still its own */
	cmd(s, SRV, "eval", NULL, T0 + 101, US);
	snap = snap_of(s, T0 + SEC);
	c = find_cmd(find_server(snap, SRV), "eval");
	assert_non_null(c);
	assert_int_equal(c->lat.n_errs, LS_MAX_ERRS + 1);
	assert_string_equal(c->lat.errs[LS_MAX_ERRS].word, RESP_OTHER);
	assert_int_equal(c->lat.errs[LS_MAX_ERRS].n, 3 * 2);
	assert_int_equal(err_count(c, "E0"), 3);
	for (int i = 1; i < LS_MAX_ERRS; i++) {
		snprintf(word, sizeof(word), "E%d", i);
		assert_int_equal(err_count(c, word), 2);
	}
	assert_int_equal(c->lat.errors, 2 * (LS_MAX_ERRS + 3) + 1);
	assert_int_equal(c->lat.ok, 1);
	assert_int_equal(c->lat.count, 2 * (LS_MAX_ERRS + 3) + 2);
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

static void test_hits_misses_by_prefix(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	const struct rs_server_snap *sv;
	const struct rs_prefix_snap *p;
	struct resp_record r;
	uint64_t t = T0;

	/* GET user:1 hit, GET user:2 miss x2, GET session:x miss, GET plain hit (prefix "") */
	r = read_rec("get", t++, (struct key[]){ { "user", 1 } }, 1, 1, 0);
	redis_stats__command(s, SRV, 1, &r, r.t_reply);
	for (int i = 0; i < 2; i++) {
		r = read_rec("get", t++, (struct key[]){ { "user", 0 } }, 1, 0, 1);
		redis_stats__command(s, SRV, 1, &r, r.t_reply);
	}
	r = read_rec("get", t++, (struct key[]){ { "session", 0 } }, 1, 0, 1);
	redis_stats__command(s, SRV, 1, &r, r.t_reply);
	r = read_rec("get", t++, (struct key[]){ { "", 1 } }, 1, 1, 0);
	redis_stats__command(s, SRV, 1, &r, r.t_reply);
	/* MGET of 10 keys: 8 listed (user hit, user miss, session hit x6), totals 7 hits 3 misses */
	{
		struct key k[8] = { { "user", 1 },    { "user", 0 },	{ "session", 1 },
				    { "session", 1 }, { "session", 1 }, { "session", 1 },
				    { "session", 1 }, { "session", 1 } };

		r = read_rec("mget", t++, k, 8, 7, 3);
		redis_stats__command(s, SRV, 1, &r, r.t_reply);
	}
	/* a key whose hit is not known from the reply: totals count, prefixes do not */
	r = read_rec("exists", t++, (struct key[]){ { "cart", -1 }, { "cart", -1 } }, 2, 1, 1);
	redis_stats__command(s, SRV, 1, &r, r.t_reply);
	/* not a keyspace read (counts_keyspace false): nothing counted, whatever the fields say */
	r = read_rec("set", t++, (struct key[]){ { "user", 1 } }, 1, 5, 5);
	r.counts_keyspace = false;
	redis_stats__command(s, SRV, 1, &r, r.t_reply);

	snap = snap_of(s, T0 + SEC);
	sv = find_server(snap, SRV);
	assert_non_null(sv);
	assert_int_equal(sv->hits, 1 + 1 + 7 + 1);
	assert_int_equal(sv->misses, 2 + 1 + 3 + 1);
	assert_int_equal(sv->win_hits, sv->hits);
	assert_int_equal(sv->win_misses, sv->misses);
	assert_int_equal(sv->n_prefixes, 3); /* user, session, "" */
	p = find_prefix(sv, "user");
	assert_non_null(p);
	assert_int_equal(p->hits, 2);
	assert_int_equal(p->misses, 3);
	p = find_prefix(sv, "session");
	assert_non_null(p);
	assert_int_equal(p->hits, 6);
	assert_int_equal(p->misses, 1);
	p = find_prefix(sv, "");
	assert_non_null(p);
	assert_int_equal(p->hits, 1);
	assert_int_equal(p->misses, 0);
	assert_null(find_prefix(sv, "cart"));
	assert_null(find_prefix(sv, RESP_OTHER));
	assert_int_equal(sv->commands, 8);
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

static void test_prefix_cap(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	const struct rs_server_snap *sv;
	const struct rs_prefix_snap *p;
	struct resp_record r;
	char name[32];
	struct key k = { name, 0 };

	for (int i = 0; i < RS_MAX_PREFIXES + 10; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		k.hit = i % 2;
		r = read_rec("get", T0 + i, &k, 1, k.hit, !k.hit);
		redis_stats__command(s, SRV, 1, &r, r.t_reply);
	}
	/* a known prefix after the cap still counts under its own name */
	snprintf(name, sizeof(name), "p0");
	k.hit = 1;
	r = read_rec("get", T0 + 500, &k, 1, 1, 0);
	redis_stats__command(s, SRV, 1, &r, r.t_reply);

	snap = snap_of(s, T0 + SEC);
	sv = find_server(snap, SRV);
	assert_non_null(sv);
	assert_int_equal(sv->n_prefixes, RS_MAX_PREFIXES + 1);
	assert_string_equal(sv->prefixes[RS_MAX_PREFIXES].prefix, RESP_OTHER);
	/* p64..p73: even ones missed, odd ones hit: 5 and 5 */
	assert_int_equal(sv->prefixes[RS_MAX_PREFIXES].hits, 5);
	assert_int_equal(sv->prefixes[RS_MAX_PREFIXES].misses, 5);
	p = find_prefix(sv, "p0");
	assert_non_null(p);
	assert_int_equal(p->hits, 1);
	assert_int_equal(p->misses, 1);
	assert_null(find_prefix(sv, "p64"));
	assert_non_null(find_prefix(sv, "p63"));
	/* totals are unaffected by the cap */
	assert_int_equal(sv->hits, (RS_MAX_PREFIXES + 10) / 2 + 1);
	assert_int_equal(sv->misses, (RS_MAX_PREFIXES + 10) / 2);
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

/*
 * A real key prefix "other" (keys "other:1"...) and the overflow bucket "other" must not become two
 * entries with one label: /metrics would carry the same series twice, which Prometheus rejects.
 */
static void test_prefix_cap_other_collision(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	const struct rs_server_snap *sv;
	struct resp_record r;
	char name[32];
	struct key k = { name, 1 };
	int n_other = 0;
	uint64_t hits = 0;

	snprintf(name, sizeof(name), "other");
	r = read_rec("get", T0, &k, 1, 1, 0);
	redis_stats__command(s, SRV, 1, &r, r.t_reply);
	for (int i = 0; i < RS_MAX_PREFIXES + 5; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		r = read_rec("get", T0 + 1 + i, &k, 1, 1, 0);
		redis_stats__command(s, SRV, 1, &r, r.t_reply);
	}
	snap = snap_of(s, T0 + SEC);
	sv = find_server(snap, SRV);
	for (int i = 0; i < sv->n_prefixes; i++) {
		hits += sv->prefixes[i].hits;
		if (!strcmp(sv->prefixes[i].prefix, "other"))
			n_other++;
	}
	redis_snapshot__free(snap);
	redis_stats__free(s);
	assert_int_equal(hits, RS_MAX_PREFIXES + 6);
	assert_int_equal(n_other, 1);
}

/* Past RS_MAX_SERIES, new commands of a server go to its "other" series; nothing grows. */
static void test_series_cap(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	const struct rs_server_snap *sv, *sv2;
	const struct rs_cmd_snap *other, *c;
	char name[RESP_CMD_LEN];
	const int extra = 100;
	uint64_t t = T0;

	for (int i = 0; i < RS_MAX_SERIES + extra; i++) {
		snprintf(name, sizeof(name), "cmd%d", i);
		cmd(s, SRV, name, i % 3 ? NULL : "ERR", t++, 10 * US);
	}
	/* a command that has its series keeps it past the cap */
	cmd(s, SRV, "cmd0", NULL, t++, 10 * US);
	/* a blocking command past the cap also folds into "other" */
	{
		struct resp_record r = rec("blpop", NULL, t, 2 * SEC);

		r.blocking = true;
		redis_stats__command(s, SRV, 1, &r, t++);
	}
	snap = snap_of(s, t);
	sv = find_server(snap, SRV);
	assert_non_null(sv);
	assert_int_equal(sv->n_cmds, RS_MAX_SERIES + 1);
	assert_int_equal(count_named(sv, RESP_OTHER), 1);
	other = find_cmd(sv, RESP_OTHER);
	assert_non_null(other);
	assert_int_equal(other->lat.count, extra + 1);
	assert_int_equal(snap->dropped_series, extra + 1);
	c = find_cmd(sv, "cmd0");
	assert_non_null(c);
	assert_int_equal(c->lat.count, 2);
	assert_int_equal(c->lat.ok, 1);
	assert_int_equal(err_count(c, "ERR"), 1);
	assert_null(find_cmd(sv, "cmd512"));
	assert_non_null(find_cmd(sv, "cmd511"));
	assert_null(find_cmd_b(sv, "blpop", true));
	/* errors past the cap keep their word inside "other" */
	{
		uint64_t want = 0;

		for (int i = RS_MAX_SERIES; i < RS_MAX_SERIES + extra; i++)
			want += i % 3 == 0;
		assert_int_equal(err_count(other, "ERR"), want);
		assert_int_equal(other->lat.errors, want);
	}
	assert_int_equal(sv->commands, RS_MAX_SERIES + extra + 2);
	redis_snapshot__free(snap);

	/* Another server, after the global cap: it gets its own "other" series, no regular one. */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 2000; i++) {
			snprintf(name, sizeof(name), "x%d", i);
			cmd(s, "127.0.0.1:6380", name, NULL, t++, 10 * US);
			cmd(s, SRV, name, NULL, t++, 10 * US);
		}
	snap = snap_of(s, t);
	sv = find_server(snap, SRV);
	sv2 = find_server(snap, "127.0.0.1:6380");
	assert_non_null(sv);
	assert_non_null(sv2);
	assert_int_equal(sv->n_cmds, RS_MAX_SERIES + 1);
	assert_int_equal(sv2->n_cmds, 1);
	assert_string_equal(sv2->cmds[0].command, RESP_OTHER);
	assert_int_equal(sv2->cmds[0].lat.count, 6000);
	assert_int_equal(find_cmd(sv, RESP_OTHER)->lat.count, extra + 1 + 6000);
	assert_int_equal(snap->dropped_series, extra + 1 + 12000);
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

/* Every server with its "other": the pool and each server's table stay within their bounds. */
static void test_series_cap_all_servers(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	char name[RESP_CMD_LEN], server[32];
	uint64_t t = T0;
	int total = 0;

	/* RS_MAX_SERVERS + 5 servers (the last 5 folded into the "other" server), each with more
	 * distinct commands than the whole cap allows */
	for (int round = 0; round < 2; round++)
		for (int sv = 0; sv < RS_MAX_SERVERS + 5; sv++) {
			snprintf(server, sizeof(server), "10.0.0.%d:6379", sv);
			for (int i = 0; i < 40; i++) {
				snprintf(name, sizeof(name), "c%d_%d", sv, i);
				cmd(s, server, name, NULL, t++, 10 * US);
			}
		}
	snap = snap_of(s, t);
	assert_int_equal(snap->n_servers, RS_MAX_SERVERS + 1);
	for (int i = 0; i < snap->n_servers; i++) {
		const struct rs_server_snap *sv = &snap->servers[i];

		assert_true(sv->n_cmds <= RS_MAX_SERIES + 1);
		assert_true(count_named(sv, RESP_OTHER) <= 1);
		total += sv->n_cmds - count_named(sv, RESP_OTHER);
	}
	assert_int_equal(total, RS_MAX_SERIES);
	/* every call without a regular series of its own was folded, in both rounds */
	assert_int_equal(snap->dropped_series, 2 * ((RS_MAX_SERVERS + 5) * 40 - RS_MAX_SERIES));
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

static void test_server_cap(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	const struct rs_server_snap *other, *first;
	char server[32];
	uint64_t t = T0;

	for (int i = 0; i < RS_MAX_SERVERS + 6; i++) {
		snprintf(server, sizeof(server), "/tmp/redis-%d.sock", i);
		cmd(s, server, "get", NULL, t++, 10 * US);
		redis_stats__connection(s, server, +1);
	}
	snprintf(server, sizeof(server), "/tmp/redis-%d.sock", 0);
	cmd(s, server, "get", NULL, t++, 10 * US); /* known server after the cap */
	snap = snap_of(s, t);
	assert_int_equal(snap->n_servers, RS_MAX_SERVERS + 1);
	assert_true(snap->dropped_servers >= 6);
	other = find_server(snap, RESP_OTHER);
	assert_non_null(other);
	assert_ptr_equal(other, &snap->servers[snap->n_servers - 1]);
	assert_int_equal(other->commands, 6);
	assert_int_equal(find_cmd(other, "get")->lat.count, 6);
	assert_int_equal(other->conns, 6);
	assert_int_equal(other->conns_opened, 6);
	first = find_server(snap, "/tmp/redis-0.sock");
	assert_non_null(first);
	assert_int_equal(first->commands, 2);
	assert_null(find_server(snap, "/tmp/redis-64.sock"));
	assert_non_null(find_server(snap, "/tmp/redis-63.sock"));
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

static void test_connections(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	const struct rs_server_snap *sv;

	redis_stats__connection(s, SRV, +1);
	redis_stats__connection(s, SRV, +1);
	redis_stats__connection(s, SRV, +1);
	redis_stats__connection(s, SRV, -1);
	snap = snap_of(s, T0);
	sv = find_server(snap, SRV);
	assert_non_null(sv);
	assert_int_equal(sv->conns, 2);
	assert_int_equal(sv->conns_opened, 3);
	assert_int_equal(sv->commands, 0);
	assert_true(sv->win_seconds == 0); /* no command yet: the window covers nothing */
	redis_snapshot__free(snap);
	/* more closes than opens (connections that predate the agent) never go below zero */
	for (int i = 0; i < 5; i++)
		redis_stats__connection(s, SRV, -1);
	snap = snap_of(s, T0);
	sv = find_server(snap, SRV);
	assert_int_equal(sv->conns, 0);
	assert_int_equal(sv->conns_opened, 3);
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

static void test_window(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	const struct rs_server_snap *sv;
	const struct rs_cmd_snap *get;
	struct resp_record r;

	/* at T0: 10 GETs (4 hits, 6 misses), 2 of them errors... kept simple: 3 errors of "set" */
	for (int i = 0; i < 10; i++) {
		r = read_rec("get", T0 + i, (struct key[]){ { "k", i < 4 } }, 1, i < 4, i >= 4);
		redis_stats__command(s, SRV, 1, &r, r.t_reply);
	}
	for (int i = 0; i < 3; i++)
		cmd(s, SRV, "set", "OOM", T0 + 100 + i, 10 * US);

	/* window_seconds grows with the time since the first command, then caps at 60 */
	snap = snap_of(s, T0 + 5 * SEC);
	sv = find_server(snap, SRV);
	assert_true(sv->win_seconds > 4.99 && sv->win_seconds < 5.01);
	assert_int_equal(sv->win_commands, 13);
	assert_int_equal(sv->win_hits, 4);
	assert_int_equal(sv->win_misses, 6);
	assert_int_equal(sv->win_errors, 3);
	get = find_cmd(sv, "get");
	assert_int_equal(get->lat.win_count, 10);
	assert_true(get->lat.q_win[0] > 0);
	redis_snapshot__free(snap);

	snap = snap_of(s, T0 + 30 * SEC);
	sv = find_server(snap, SRV);
	assert_true(sv->win_seconds > 29.99 && sv->win_seconds < 30.01);
	assert_int_equal(sv->win_commands, 13);
	redis_snapshot__free(snap);

	/* still inside the window 59 s later (T0 is on a 10 s slot edge) */
	snap = snap_of(s, T0 + 59 * SEC);
	sv = find_server(snap, SRV);
	assert_int_equal(sv->win_commands, 13);
	assert_int_equal(find_cmd(sv, "get")->lat.win_count, 10);
	assert_true(sv->win_seconds > 58.99 && sv->win_seconds < 59.01);
	redis_snapshot__free(snap);

	/* gone 60 s later at most; the totals since start stay */
	snap = snap_of(s, T0 + 61 * SEC);
	sv = find_server(snap, SRV);
	assert_int_equal(sv->win_commands, 0);
	assert_int_equal(sv->win_hits, 0);
	assert_int_equal(sv->win_misses, 0);
	assert_int_equal(sv->win_errors, 0);
	get = find_cmd(sv, "get");
	assert_int_equal(get->lat.win_count, 0);
	assert_int_equal(get->lat.q_win[0], 0);
	assert_int_equal(get->lat.count, 10);
	assert_true(get->lat.q_total[0] > 0);
	assert_int_equal(sv->commands, 13);
	assert_int_equal(sv->hits, 4);
	assert_int_equal(sv->misses, 6);
	assert_true(sv->win_seconds == 60.0);
	redis_snapshot__free(snap);

	/* new traffic much later: only it is in the window; window_seconds stays capped */
	cmd(s, SRV, "get", NULL, T0 + 300 * SEC, 10 * US);
	snap = snap_of(s, T0 + 301 * SEC);
	sv = find_server(snap, SRV);
	assert_int_equal(sv->win_commands, 1);
	assert_int_equal(find_cmd(sv, "get")->lat.win_count, 1);
	assert_int_equal(find_cmd(sv, "set")->lat.win_count, 0);
	assert_true(sv->win_seconds == 60.0);
	assert_int_equal(sv->commands, 14);
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

static void test_latency_quantiles(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	const struct rs_server_snap *sv;
	const struct rs_cmd_snap *get, *hgetall;
	enum { N = 1000, M = 20000 };
	static uint64_t vals[M];
	uint64_t sum = 0;

	/* GET: 1 us .. 1000 us in shuffled order */
	for (int i = 0; i < N; i++)
		vals[i] = (uint64_t)(i + 1) * US;
	for (int i = N - 1; i > 0; i--) {
		int j = (int)(rng() % (uint64_t)(i + 1));
		uint64_t x = vals[i];

		vals[i] = vals[j];
		vals[j] = x;
	}
	for (int i = 0; i < N; i++) {
		cmd(s, SRV, "get", NULL, T0 + (uint64_t)i * MS, vals[i]);
		sum += vals[i];
	}
	/* HGETALL: log-spread values from 2 us to ~2 s */
	for (int i = 0; i < M; i++) {
		uint64_t v = 2 * US << (rng() % 20);

		v += rng() % v;
		vals[i] = v;
		cmd(s, SRV, "hgetall", NULL, T0 + (uint64_t)i * US, v);
	}
	qsort(vals, M, sizeof(vals[0]), cmp_u64);

	snap = snap_of(s, T0 + 2 * SEC);
	sv = find_server(snap, SRV);
	get = find_cmd(sv, "get");
	assert_non_null(get);
	assert_int_equal(get->lat.count, N);
	assert_int_equal(get->lat.sum_ns, sum);
	assert_int_equal(get->lat.win_count, N);
	{
		/* sorted 1..1000 us: nearest rank ceil(q * 1000) */
		const uint64_t want[LS_N_QUANTILES] = { 500 * US, 900 * US, 950 * US, 990 * US,
							999 * US };

		for (int q = 0; q < LS_N_QUANTILES; q++) {
			assert_within_1pct(get->lat.q_total[q], want[q]);
			assert_within_1pct(get->lat.q_win[q], want[q]);
		}
	}
	/* Prometheus buckets: cumulative, non-decreasing, and right at the edges (one value of
	 * slack: an edge is the histogram bucket edge nearest it, within 1/128) */
	for (int i = 0; i < LS_N_LE; i++) {
		uint64_t edge = (uint64_t)(ls_le_seconds[i] * 1e9 + 0.5);
		uint64_t exact = edge / US > N ? N : edge / US;
		uint64_t got = get->lat.le[i];

		if (i)
			assert_true(get->lat.le[i] >= get->lat.le[i - 1]);
		if (got + 1 < exact || got > exact + 1)
			fail_msg("le %g: %llu, want %llu +- 1", ls_le_seconds[i],
				 (unsigned long long)got, (unsigned long long)exact);
	}
	assert_int_equal(get->lat.le[LS_N_LE - 1], N);

	hgetall = find_cmd(sv, "hgetall");
	assert_non_null(hgetall);
	assert_int_equal(hgetall->lat.count, M);
	for (int q = 0; q < LS_N_QUANTILES; q++) {
		uint64_t want = exact_quantile(vals, M, ls_quantiles[q]);

		assert_within_1pct(hgetall->lat.q_total[q], want);
		assert_within_1pct(hgetall->lat.q_win[q], want);
	}
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

/* A reply written before the request's read (clock skew between CPUs) is not a huge latency. */
static void test_negative_latency(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	struct resp_record r = rec("get", NULL, T0, 0);
	const struct rs_cmd_snap *c;

	r.t_request = T0 + 5 * US;
	redis_stats__command(s, SRV, 1, &r, T0);
	snap = snap_of(s, T0 + SEC);
	c = find_cmd(find_server(snap, SRV), "get");
	assert_int_equal(c->lat.count, 1);
	assert_true(c->lat.q_total[LS_N_QUANTILES - 1] < 1 * MS);
	assert_int_equal(c->lat.le[0], 1);
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

static void test_blocking_series(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *snap;
	const struct rs_server_snap *sv;
	const struct rs_cmd_snap *blpop, *xr, *xrb, *get;
	struct resp_record r;

	for (int i = 0; i < 4; i++) {
		r = rec("blpop", NULL, T0 + i * SEC, 2 * SEC);
		r.blocking = true;
		redis_stats__command(s, SRV, 1, &r, r.t_reply);
	}
	/* XREAD with and without BLOCK: two series of one command */
	r = rec("xread", NULL, T0 + 10, 3 * SEC);
	r.blocking = true;
	redis_stats__command(s, SRV, 1, &r, r.t_reply);
	r = rec("xread", NULL, T0 + 11, 3 * SEC);
	r.blocking = true;
	redis_stats__command(s, SRV, 1, &r, r.t_reply);
	r = rec("xread", "ERR", T0 + 12, 40 * US);
	redis_stats__command(s, SRV, 1, &r, r.t_reply);
	cmd(s, SRV, "get", NULL, T0 + 13, 15 * US);

	snap = snap_of(s, T0 + 10 * SEC);
	sv = find_server(snap, SRV);
	assert_int_equal(sv->n_cmds, 4);
	blpop = find_cmd_b(sv, "blpop", true);
	assert_non_null(blpop);
	assert_null(find_cmd_b(sv, "blpop", false));
	assert_int_equal(blpop->lat.count, 4);
	assert_within_1pct(blpop->lat.q_total[0], 2 * SEC);
	xrb = find_cmd_b(sv, "xread", true);
	xr = find_cmd_b(sv, "xread", false);
	assert_non_null(xrb);
	assert_non_null(xr);
	assert_int_equal(xrb->lat.count, 2);
	assert_int_equal(xrb->lat.ok, 2);
	assert_int_equal(xr->lat.count, 1);
	assert_int_equal(xr->lat.errors, 1);
	assert_within_1pct(xr->lat.q_total[0], 40 * US);
	assert_within_1pct(xrb->lat.q_total[0], 3 * SEC);
	/* the waits stay out of the plain series */
	get = find_cmd(sv, "get");
	assert_int_equal(get->lat.count, 1);
	assert_true(get->lat.le[0] == 0 && get->lat.le[1] == 1); /* 15 us: in (10 us, 25 us] */
	assert_int_equal(blpop->lat.le[LS_N_LE - 1], 4);     /* 2 s <= 10 s */
	assert_int_equal(blpop->lat.le[14], 0);		  /* 2 s > 0.5 s */
	assert_int_equal(sv->commands, 8);
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

static void test_parser_counters(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct resp_stats *ps = redis_stats__parser(s);
	struct redis_snapshot *snap;

	assert_non_null(ps);
	ps->parse_errors = 3;
	ps->resyncs = 4;
	ps->unpaired = 5;
	ps->pushes = 6;
	snap = snap_of(s, T0);
	assert_int_equal(snap->parser.parse_errors, 3);
	assert_int_equal(snap->parser.resyncs, 4);
	assert_int_equal(snap->parser.unpaired, 5);
	assert_int_equal(snap->parser.pushes, 6);
	/* a snapshot is a copy: later changes do not show in it */
	ps->resyncs = 40;
	assert_int_equal(snap->parser.resyncs, 4);
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

/* Snapshots are deep copies: later traffic leaves them alone; many are taken and freed. */
static void test_snapshot_independent(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct redis_snapshot *a, *b;
	char server[32];

	for (int i = 0; i < 4; i++) {
		snprintf(server, sizeof(server), "127.0.0.1:%d", 7000 + i);
		cmd(s, server, "get", NULL, T0 + i, 10 * US);
		cmd(s, server, "set", NULL, T0 + i, 10 * US);
		redis_stats__connection(s, server, +1);
	}
	a = snap_of(s, T0 + SEC);
	for (int i = 0; i < 50; i++)
		cmd(s, "127.0.0.1:7000", "get", NULL, T0 + 2 * SEC, 10 * US);
	cmd(s, "127.0.0.1:7000", "del", NULL, T0 + 2 * SEC, 10 * US);
	b = snap_of(s, T0 + 3 * SEC);
	assert_int_equal(a->n_servers, 4);
	assert_int_equal(find_cmd(find_server(a, "127.0.0.1:7000"), "get")->lat.count, 1);
	assert_null(find_cmd(find_server(a, "127.0.0.1:7000"), "del"));
	assert_int_equal(find_server(a, "127.0.0.1:7000")->n_cmds, 2);
	assert_int_equal(find_cmd(find_server(b, "127.0.0.1:7000"), "get")->lat.count, 51);
	assert_int_equal(find_server(b, "127.0.0.1:7000")->n_cmds, 3);
	redis_snapshot__free(a);
	redis_snapshot__free(b);
	for (int i = 0; i < 20; i++)
		redis_snapshot__free(snap_of(s, T0 + (uint64_t)i * SEC));
	redis_stats__free(s);
}

/*
 * A 300 ms command held the server: it is a stall with its client, the requests that arrived
 * during it and were read after it are its waiters, and the time it held the server is in the
 * window; their wait and felt latency go to the server's wait histogram and the command's felt.
 */
static void test_stalls_and_waits(void **state)
{
	struct redis_stats *s = redis_stats__new();
	struct resp_record stall = rec("eval", NULL, T0 + 400 * MS, 300 * MS);
	struct resp_record waited = rec("get", NULL, T0 + 400 * MS + 50 * US, 40 * US);
	struct resp_record later = rec("get", NULL, T0 + 500 * MS, 40 * US);
	struct redis_snapshot *snap;
	const struct rs_server_snap *sv;
	const struct rs_cmd_snap *get;

	waited.t_arrival = T0 + 200 * MS; /* sent while the eval ran */
	later.t_arrival = later.t_request - 5 * US;
	redis_stats__command(s, SRV, 1, &stall, stall.t_reply);
	redis_stats__stall(s, SRV, "127.0.0.1:5000", &stall);
	redis_stats__command(s, SRV, 1, &waited, waited.t_reply);
	redis_stats__command(s, SRV, 1, &later, later.t_reply);
	snap = snap_of(s, T0 + 1 * SEC);
	sv = find_server(snap, SRV);
	assert_non_null(sv);
	assert_int_equal(sv->n_stalls, 1);
	assert_string_equal(sv->stalls[0].command, "eval");
	assert_string_equal(sv->stalls[0].client, "127.0.0.1:5000");
	assert_int_equal(sv->stalls[0].dur_ns, 300 * MS);
	assert_int_equal(sv->stalls[0].waiters, 1);
	assert_int_equal(sv->win_blocked_ns, 300 * MS);
	assert_int_equal(sv->wait.count, 2);
	assert_within_1pct(sv->wait.sum_ns, 200 * MS - 40 * US + 5 * US);
	get = find_cmd(sv, "get");
	assert_non_null(get);
	assert_int_equal(get->felt.count, 2);
	assert_int_equal(get->lat.count, 2);
	assert_true(get->felt.q_total[LS_P99] >= 190 * MS);
	assert_true(get->lat.q_total[LS_P99] < 1 * MS);
	redis_snapshot__free(snap);
	redis_stats__free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_commands_by_status),
		cmocka_unit_test(test_error_words_cap),
		cmocka_unit_test(test_hits_misses_by_prefix),
		cmocka_unit_test(test_prefix_cap),
		cmocka_unit_test(test_prefix_cap_other_collision),
		cmocka_unit_test(test_series_cap),
		cmocka_unit_test(test_series_cap_all_servers),
		cmocka_unit_test(test_server_cap),
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_latency_quantiles),
		cmocka_unit_test(test_negative_latency),
		cmocka_unit_test(test_blocking_series),
		cmocka_unit_test(test_parser_counters),
		cmocka_unit_test(test_snapshot_independent),
		cmocka_unit_test(test_stalls_and_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
