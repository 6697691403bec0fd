// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "stats/counter_window.h"
#include "stats/hist.h"
#include "stats/lat_series.h"
#include "stats/capped.h"
#include "stats/redis_stats.h"
#include "stats/reply_gap.h"
#include "util.h"

/* Overflow past a cap: a label no command, error word, prefix or socket path can have. */
#define OTHER NX_OTHER

struct rs_series {
	uint32_t hash; /* of command and blocking: one compare per series on lookup */
	char command[RESP_CMD_LEN];
	bool blocking;
	struct lat_series lat;
	struct hist *exec; /* allocated at the first call() time (--redis-uprobes) */
	/* What clients felt: from the request's arrival at the socket to the reply; allocated at
	 * the first command whose arrival is known (sk_data_ready). */
	struct lat_series *felt;
	uint64_t slow;
};

struct rs_prefix {
	char prefix[RESP_PREFIX_LEN];
	uint64_t hits, misses;
};

/* Per-server totals in the last window: hits, misses, commands, errors. */
enum { W_HITS, W_MISSES, W_CMDS, W_ERRS, W_BLOCKED_NS, W__N };

struct rs_server {
	char server[RS_SERVER_LEN];
	uint32_t pid;
	struct nx_identity ident;
	uint64_t hits, misses, commands, errors, conns, conns_opened;
	struct counter_window win[W__N];
	int n_series;
	struct rs_series *series[RS_MAX_SERIES + 1]; /* into redis_stats.pool */
	int n_prefixes;
	struct rs_prefix prefixes[RS_MAX_PREFIXES + 1]; /* [RS_MAX_PREFIXES] is "(other)" */
	uint64_t first_ns;
	bool exact; /* lookupKey() counts replace the reply-based ones */
	struct reply_gap gap;
	uint64_t ks_hits, ks_misses;
	struct hist total; /* every non-blocking command: the server's latency for alerting */
	struct rs_series *last_se; /* most commands are the one before them (pipelines) */
	struct lat_series wait; /* requests' time unread in the socket (arrival to read) */
	struct hist felt_total; /* arrival to reply, non-blocking commands (alerting) */
	struct rs_stall stalls[RS_STALLS]; /* a ring; stall_n used, stall_next the next to write */
	uint32_t stall_n, stall_next;
};

struct redis_stats {
	int n_servers;
	struct rs_server *servers[RS_MAX_SERVERS + 1]; /* [RS_MAX_SERVERS] is "(other)" */
	int n_regular; /* series counted against RS_MAX_SERIES */
	int n_pool;
	struct rs_series *pool[RS_MAX_SERIES + RS_MAX_SERVERS + 1];
	uint64_t dropped_servers, dropped_series;
	struct resp_stats parser;
	struct rs_server *last; /* most commands come from the server of the one before */
	/* The slow-command log: a ring of the newest slow_cap entries. */
	struct rs_slow_entry *slow;
	uint32_t slow_cap, slow_n, slow_next;
	int64_t wall_offset_ns; /* realtime - monotonic of the records' host; 0: this host's, now */
};

static uint32_t name_hash(const char *name, bool blocking)
{
	return nx_fnv1a32_str(NX_FNV32_INIT, name) ^ blocking;
}

struct redis_stats *redis_stats__new(void)
{
	struct redis_stats *s = calloc(1, sizeof(struct redis_stats));

	if (s && redis_stats__slow_log_size(s, RS_SLOW_LOG_DEFAULT)) {
		free(s);
		return NULL;
	}
	return s;
}

void redis_stats__set_wall_offset(struct redis_stats *s, int64_t realtime_minus_mono_ns)
{
	s->wall_offset_ns = realtime_minus_mono_ns;
}

int redis_stats__slow_log_size(struct redis_stats *s, uint32_t size)
{
	struct rs_slow_entry *n;

	if (!size || size > RS_SLOW_LOG_MAX)
		return -EINVAL;
	n = calloc(size, sizeof(*n));
	if (!n)
		return -ENOMEM;
	free(s->slow);
	s->slow = n;
	s->slow_cap = size;
	s->slow_n = s->slow_next = 0;
	return 0;
}

void redis_stats__free(struct redis_stats *s)
{
	if (!s)
		return;
	for (int i = 0; i <= RS_MAX_SERVERS; i++)
		free(s->servers[i]);
	free(s->slow);
	for (int i = 0; i < s->n_pool; i++) {
		free(s->pool[i]->exec);
		free(s->pool[i]->felt);
		free(s->pool[i]);
	}
	free(s);
}

struct resp_stats *redis_stats__parser(struct redis_stats *s)
{
	return &s->parser;
}

static void *new_server(const char *name)
{
	struct rs_server *sv = calloc(1, sizeof(*sv));

	if (!sv)
		return NULL;
	snprintf(sv->server, sizeof(sv->server), "%s", name);
	for (int i = 0; i < W__N; i++)
		counter_window__init(&sv->win[i]);
	lat_series__init(&sv->wait);
	hist__reset(&sv->felt_total);
	return sv;
}

/* The server's entry; past the cap, the shared "(other)" entry. NULL only when out of memory. */
static struct rs_server *server_of(struct redis_stats *s, const char *name)
{
	struct rs_server *sv;

	if (s->last && !strcmp(s->last->server, name))
		return s->last;
	sv = capped__get((void **)s->servers, &s->n_servers, RS_MAX_SERVERS,
			 offsetof(struct rs_server, server), name, new_server, &s->dropped_servers);
	/* the (other) entry is not cached: a later server under the cap must still be found */
	if (sv && sv != s->servers[RS_MAX_SERVERS])
		s->last = sv;
	return sv;
}

static struct rs_series *new_series(const char *command, bool blocking)
{
	struct rs_series *se = calloc(1, sizeof(*se));

	if (!se)
		return NULL;
	snprintf(se->command, sizeof(se->command), "%s", command);
	se->blocking = blocking;
	lat_series__init(&se->lat);
	return se;
}

static struct rs_series *add_series(struct redis_stats *s, struct rs_server *sv, const char *cmd,
				    bool blocking)
{
	struct rs_series *se = new_series(cmd, blocking);

	if (!se)
		return NULL;
	se->hash = name_hash(cmd, blocking);
	s->pool[s->n_pool++] = se;
	sv->series[sv->n_series++] = se;
	return se;
}

/* The series of a command; past RS_MAX_SERIES, the server's "(other)" (the pool keeps room for one
 * per server beyond the cap). */
static struct rs_series *series_of(struct redis_stats *s, struct rs_server *sv, const char *cmd,
				   bool blocking)
{
	uint32_t h;

	if (sv->last_se && sv->last_se->blocking == blocking && !strcmp(sv->last_se->command, cmd))
		return sv->last_se;
	h = name_hash(cmd, blocking);
	for (int i = 0; i < sv->n_series; i++) {
		struct rs_series *se = sv->series[i];

		if (se->hash == h && se->blocking == blocking && !strcmp(se->command, cmd))
			return sv->last_se = se;
	}
	if (s->n_regular < RS_MAX_SERIES) {
		s->n_regular++;
		return add_series(s, sv, cmd, blocking);
	}
	s->dropped_series++;
	for (int i = 0; i < sv->n_series; i++)
		if (!strcmp(sv->series[i]->command, OTHER))
			return sv->series[i];
	return add_series(s, sv, OTHER, false);
}

static struct rs_prefix *prefix_of(struct rs_server *sv, const char *prefix)
{
	for (int i = 0; i < sv->n_prefixes; i++)
		if (!strcmp(sv->prefixes[i].prefix, prefix))
			return &sv->prefixes[i];
	if (sv->n_prefixes < RS_MAX_PREFIXES) {
		struct rs_prefix *p = &sv->prefixes[sv->n_prefixes++];

		snprintf(p->prefix, sizeof(p->prefix), "%s", prefix);
		return p;
	}
	snprintf(sv->prefixes[RS_MAX_PREFIXES].prefix, RESP_PREFIX_LEN, "%s", OTHER);
	return &sv->prefixes[RS_MAX_PREFIXES];
}

/* Requests that arrived while the newest stall held the server and were read after it. */
static void count_waiters(struct rs_server *sv, const struct resp_record *r, uint32_t n)
{
	struct rs_stall *st;

	if (!sv->stall_n || !r->t_arrival)
		return;
	st = &sv->stalls[(sv->stall_next + RS_STALLS - 1) % RS_STALLS];
	if (r->t_arrival < st->t_end && r->t_request >= st->t_end)
		st->waiters += n;
}

/* Request wait and felt latency of n commands like r, when their arrival is known. */
static void record_felt(struct rs_server *sv, struct rs_series *se, const struct resp_record *r,
			uint32_t n, uint64_t now_ns)
{
	if (!r->t_arrival || r->t_arrival > r->t_request)
		return;
	if (!se->felt) {
		se->felt = malloc(sizeof(*se->felt));
		if (!se->felt)
			return;
		lat_series__init(se->felt);
	}
	count_waiters(sv, r, n);
	lat_series__record_ok_n(&sv->wait, now_ns, r->t_request - r->t_arrival, n);
	lat_series__record_ok_n(se->felt, now_ns,
				r->t_reply > r->t_arrival ? r->t_reply - r->t_arrival : 0, n);
	if (!r->blocking)
		hist__record_n(&sv->felt_total,
			       r->t_reply > r->t_arrival ? r->t_reply - r->t_arrival : 0, n);
}

void redis_stats__command(struct redis_stats *s, const char *server, uint32_t pid,
			  const struct resp_record *r, uint64_t now_ns)
{
	struct rs_server *sv = server_of(s, server);
	struct rs_series *se;
	uint64_t lat;

	if (!sv)
		return;
	if (!sv->first_ns)
		sv->first_ns = now_ns;
	sv->pid = pid;
	sv->commands++;
	counter_window__add(&sv->win[W_CMDS], now_ns, 1);
	reply_gap__add(&sv->gap, r->t_reply);
	if (r->status != RESP_OK) {
		sv->errors++;
		counter_window__add(&sv->win[W_ERRS], now_ns, 1);
	}
	if (r->counts_keyspace) {
		sv->hits += r->hits;
		sv->misses += r->misses;
		counter_window__add(&sv->win[W_HITS], now_ns, r->hits);
		counter_window__add(&sv->win[W_MISSES], now_ns, r->misses);
		for (int i = 0; i < r->n_keys; i++) {
			struct rs_prefix *p;

			if (r->keys[i].hit < 0)
				continue;
			p = prefix_of(sv, r->keys[i].prefix);
			if (r->keys[i].hit)
				p->hits++;
			else
				p->misses++;
		}
	}
	se = series_of(s, sv, r->command, r->blocking);
	if (!se)
		return;
	lat = r->t_reply > r->t_request ? r->t_reply - r->t_request : 0;
	lat_series__record(&se->lat, now_ns, lat, r->status == RESP_OK ? NULL : r->error);
	if (!r->blocking)
		hist__record(&sv->total, lat);
	record_felt(sv, se, r, 1, now_ns);
}

void redis_stats__commands_ok(struct redis_stats *s, const char *server, uint32_t pid,
			      const struct resp_record *r, uint32_t n, uint64_t now_ns)
{
	struct rs_server *sv;
	struct rs_series *se;
	uint64_t lat;

	if (n == 1 || r->status != RESP_OK || r->n_keys > 1) {
		for (uint32_t i = 0; i < n; i++)
			redis_stats__command(s, server, pid, r, now_ns);
		return;
	}
	sv = server_of(s, server);
	if (!sv || !n)
		return;
	if (!sv->first_ns)
		sv->first_ns = now_ns;
	sv->pid = pid;
	sv->commands += n;
	counter_window__add(&sv->win[W_CMDS], now_ns, n);
	reply_gap__add(&sv->gap, r->t_reply); /* one write answered them all: one gap */
	if (r->counts_keyspace) {
		sv->hits += r->hits;
		sv->misses += r->misses;
		counter_window__add(&sv->win[W_HITS], now_ns, r->hits);
		counter_window__add(&sv->win[W_MISSES], now_ns, r->misses);
		if (r->n_keys == 1) {
			struct rs_prefix *p = prefix_of(sv, r->keys[0].prefix);

			p->hits += r->hits;
			p->misses += r->misses;
		}
	}
	se = series_of(s, sv, r->command, r->blocking);
	if (!se)
		return;
	lat = r->t_reply > r->t_request ? r->t_reply - r->t_request : 0;
	lat_series__record_ok_n(&se->lat, now_ns, lat, n);
	if (!r->blocking)
		hist__record_n(&sv->total, lat, n);
	record_felt(sv, se, r, n, now_ns);
}

/* Wall-clock milliseconds of a CLOCK_MONOTONIC time: slow commands are few, two clock reads
 * each are nothing. */
static int64_t unix_ms_of(const struct redis_stats *s, uint64_t mono_ns)
{
	struct timespec rt, mt;

	if (s->wall_offset_ns)
		return (s->wall_offset_ns + (int64_t)mono_ns) / 1000000;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	return ((int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec -
		((int64_t)mt.tv_sec * 1000000000LL + mt.tv_nsec) + (int64_t)mono_ns) /
	       1000000;
}

void redis_stats__stall(struct redis_stats *s, const char *server, const char *client,
			const struct resp_record *r)
{
	struct rs_server *sv = server_of(s, server);
	struct rs_stall *st;

	if (!sv)
		return;
	st = &sv->stalls[sv->stall_next];
	memset(st, 0, sizeof(*st));
	st->t_end = r->t_reply;
	st->dur_ns = r->t_reply > r->t_request ? r->t_reply - r->t_request : 0;
	snprintf(st->command, sizeof(st->command), "%s", r->command);
	snprintf(st->client, sizeof(st->client), "%s", client);
	sv->stall_next = (sv->stall_next + 1) % RS_STALLS;
	if (sv->stall_n < RS_STALLS)
		sv->stall_n++;
	counter_window__add(&sv->win[W_BLOCKED_NS], r->t_reply, st->dur_ns);
}

void redis_stats__slow(struct redis_stats *s, const char *server, const char *client,
		       const struct resp_record *r)
{
	struct rs_slow_entry *e = &s->slow[s->slow_next];
	struct rs_server *sv = server_of(s, server);
	struct rs_series *se = sv ? series_of(s, sv, r->command, r->blocking) : NULL;

	if (se)
		se->slow++;
	memset(e, 0, sizeof(*e));
	e->unix_ms = unix_ms_of(s, r->t_reply);
	snprintf(e->server, sizeof(e->server), "%s", server);
	snprintf(e->client, sizeof(e->client), "%s", client);
	e->db = r->db;
	snprintf(e->command, sizeof(e->command), "%s", r->command);
	snprintf(e->prefix, sizeof(e->prefix), "%s", r->n_keys ? r->keys[0].prefix : "");
	snprintf(e->status, sizeof(e->status), "%s", r->status == RESP_OK ? "ok" : r->error);
	e->server_ns = r->t_reply > r->t_request ? r->t_reply - r->t_request : 0;
	e->wait_known = r->t_arrival && r->t_arrival <= r->t_request;
	e->wait_ns = e->wait_known ? r->t_request - r->t_arrival : 0;
	e->blocking = r->blocking;
	s->slow_next = (s->slow_next + 1) % s->slow_cap;
	if (s->slow_n < s->slow_cap)
		s->slow_n++;
}

void redis_stats__connection(struct redis_stats *s, const char *server, int delta)
{
	struct rs_server *sv = server_of(s, server);

	if (!sv)
		return;
	if (delta > 0) {
		sv->conns++;
		sv->conns_opened++;
	} else if (sv->conns) {
		sv->conns--;
	}
}

static void snap_series(const struct rs_series *se, uint64_t now_ns, struct rs_cmd_snap *out,
			struct hist *scratch)
{
	memcpy(out->command, se->command, sizeof(out->command));
	out->blocking = se->blocking;
	out->slow = se->slow;
	lat_series__snapshot(&se->lat, now_ns, &out->lat, scratch);
	if (se->felt)
		lat_series__snapshot(se->felt, now_ns, &out->felt, scratch);
	if (se->exec) {
		out->exec_count = hist__count(se->exec);
		out->exec_sum_ns = hist__sum(se->exec);
		for (int i = 0; i < LS_N_LE; i++)
			out->exec_le[i] = hist__count_le(se->exec,
							 (uint64_t)(ls_le_seconds[i] * 1e9 + 0.5));
	}
}

void redis_stats__exec(struct redis_stats *s, const char *server, const struct resp_record *r,
		       uint64_t exec_ns)
{
	struct rs_server *sv = server_of(s, server);
	struct rs_series *se = sv ? series_of(s, sv, r->command, r->blocking) : NULL;

	if (!se)
		return;
	if (!se->exec) {
		se->exec = calloc(1, sizeof(*se->exec));
		if (!se->exec)
			return;
	}
	hist__record(se->exec, exec_ns);
}

void redis_stats__keyspace(struct redis_stats *s, uint32_t pid, uint64_t hits, uint64_t misses)
{
	for (int i = 0; i < s->n_servers; i++) {
		struct rs_server *sv = s->servers[i];

		if (sv->pid == pid) {
			sv->exact = true;
			sv->ks_hits = hits;
			sv->ks_misses = misses;
		}
	}
}

void redis_stats__server_identity(struct redis_stats *s, const char *server,
				  const struct nx_identity *id)
{
	struct rs_server *sv = server_of(s, server);

	if (!sv || sv == s->servers[RS_MAX_SERVERS])
		return;
	if (id)
		sv->ident = *id;
	else
		memset(&sv->ident, 0, sizeof(sv->ident));
}

static int snap_server(const struct rs_server *sv, uint64_t now_ns, struct rs_server_snap *out,
		       struct hist *scratch)
{
	uint64_t covered;

	memset(out, 0, sizeof(*out));
	memcpy(out->server, sv->server, sizeof(out->server));
	out->pid = sv->pid;
	out->ident = sv->ident;
	out->exact_keyspace = sv->exact;
	out->hits = sv->exact ? sv->ks_hits : sv->hits;
	out->misses = sv->exact ? sv->ks_misses : sv->misses;
	out->commands = sv->commands;
	out->errors = sv->errors;
	out->conns = sv->conns;
	out->conns_opened = sv->conns_opened;
	out->total = sv->total;
	out->reply_gap_ns = reply_gap__max(&sv->gap, now_ns);
	lat_series__snapshot(&sv->wait, now_ns, &out->wait, scratch);
	out->felt_total = sv->felt_total;
	out->win_hits = counter_window__sum(&sv->win[W_HITS], now_ns);
	out->win_misses = counter_window__sum(&sv->win[W_MISSES], now_ns);
	out->win_commands = counter_window__sum(&sv->win[W_CMDS], now_ns);
	out->win_errors = counter_window__sum(&sv->win[W_ERRS], now_ns);
	out->win_blocked_ns = counter_window__sum(&sv->win[W_BLOCKED_NS], now_ns);
	for (uint32_t i = 0; i < sv->stall_n; i++) /* newest first */
		out->stalls[out->n_stalls++] =
			sv->stalls[(sv->stall_next + RS_STALLS - 1 - i) % RS_STALLS];
	covered = sv->first_ns && now_ns > sv->first_ns ? now_ns - sv->first_ns : 0;
	out->win_seconds = covered < COUNTER_WINDOW_NS ? covered / 1e9 : COUNTER_WINDOW_NS / 1e9;
	out->cmds = calloc(sv->n_series ? sv->n_series : 1, sizeof(*out->cmds));
	out->prefixes = calloc(RS_MAX_PREFIXES + 1, sizeof(*out->prefixes));
	if (!out->cmds || !out->prefixes)
		return -ENOMEM;
	for (int i = 0; i < sv->n_series; i++)
		snap_series(sv->series[i], now_ns, &out->cmds[out->n_cmds++], scratch);
	for (int i = 0; i <= RS_MAX_PREFIXES; i++) {
		const struct rs_prefix *p = &sv->prefixes[i];

		if (i < sv->n_prefixes || (i == RS_MAX_PREFIXES && (p->hits || p->misses))) {
			memcpy(out->prefixes[out->n_prefixes].prefix, p->prefix, RESP_PREFIX_LEN);
			out->prefixes[out->n_prefixes].hits = p->hits;
			out->prefixes[out->n_prefixes].misses = p->misses;
			out->n_prefixes++;
		}
	}
	return 0;
}

struct redis_snapshot *redis_stats__snapshot(struct redis_stats *s, uint64_t now_ns)
{
	struct redis_snapshot *snap = calloc(1, sizeof(*snap));
	struct hist *scratch = malloc(sizeof(*scratch));
	int n = s->n_servers + (s->servers[RS_MAX_SERVERS] ? 1 : 0);

	if (!snap || !scratch)
		goto fail;
	snap->servers = calloc(n ? n : 1, sizeof(*snap->servers));
	if (!snap->servers)
		goto fail;
	for (int i = 0; i < n; i++) {
		const struct rs_server *sv = i < s->n_servers ? s->servers[i] : s->servers[RS_MAX_SERVERS];

		snap->n_servers++;
		if (snap_server(sv, now_ns, &snap->servers[i], scratch))
			goto fail;
	}
	snap->slow = calloc(s->slow_n ? s->slow_n : 1, sizeof(*snap->slow));
	if (!snap->slow)
		goto fail;
	for (uint32_t i = 0; i < s->slow_n; i++) /* newest first */
		snap->slow[snap->n_slow++] = s->slow[(s->slow_next + s->slow_cap - 1 - i) % s->slow_cap];
	snap->dropped_servers = s->dropped_servers;
	snap->dropped_series = s->dropped_series;
	snap->parser = s->parser;
	free(scratch);
	return snap;
fail:
	free(scratch);
	redis_snapshot__free(snap);
	errno = ENOMEM;
	return NULL;
}

void redis_snapshot__free(struct redis_snapshot *snap)
{
	if (!snap)
		return;
	for (int i = 0; i < snap->n_servers; i++) {
		free(snap->servers[i].cmds);
		free(snap->servers[i].prefixes);
	}
	free(snap->servers);
	free(snap->slow);
	free(snap);
}
