// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stats/counter_window.h"
#include "stats/capped.h"
#include "stats/postgres_stats.h"
#include "stats/reply_gap.h"
#include "util.h"

const char *const pg_state_names[PG_STATE__COUNT] = {
	[PG_STATE_STARTUP] = "startup",
	[PG_STATE_IDLE] = "idle",
	[PG_STATE_ACTIVE] = "active",
	[PG_STATE_IDLE_IN_TXN] = "idle in transaction",
	[PG_STATE_IDLE_IN_TXN_ABORTED] = "idle in transaction (aborted)",
};

struct ps_series {
	char database[PS_NAME_LEN];
	char user[PS_NAME_LEN];
	uint64_t fingerprint;
	char text[PS_TEXT_LEN];
	char kind[12];
	uint64_t rows;
	uint64_t buf_hits, buf_reads, lock_wait_ns, exec_ns;
	struct lat_series lat;
};

enum { DW_QUERIES, DW_ERRORS, DW_HITS, DW_READS, DW_COMMITS, DW_ROLLBACKS, DW__N };

struct ps_db {
	char database[PS_NAME_LEN];
	uint32_t oid;
	uint64_t queries, errors;
	struct lat_series lat;
	uint64_t buf_hits, buf_reads, lock_wait_ns, lock_waits, commits, rollbacks;
	uint64_t waiting_ns; /* lock waits in progress at the last sample */
	uint32_t waiting;
	uint64_t first_ns;
	struct counter_window win[DW__N];
	struct lat_series *felt; /* arrival to response; allocated at the first known arrival */
};

struct ps_conn_key {
	char database[PS_NAME_LEN];
	char user[PS_NAME_LEN];
	char application[PS_NAME_LEN];
	char client[PS_CLIENT_LEN];
	uint8_t state;
	uint64_t n;
};

struct ps_opened {
	char database[PS_NAME_LEN];
	char user[PS_NAME_LEN];
	char application[PS_NAME_LEN];
	char client[PS_CLIENT_LEN];
	uint64_t n, first_ns;
	struct counter_window win;
};

struct ps_server {
	char server[PS_SERVER_LEN];
	uint32_t pid;
	struct nx_identity ident;
	uint64_t queries, errors, conns_opened, deadlocks;
	bool usdt;
	struct reply_gap gap;
	struct lat_series *wait; /* arrival to read; allocated at the first known arrival */
	int n_dbs;
	struct ps_db *dbs[PS_MAX_DBS + 1]; /* [PS_MAX_DBS] is "(other)" */
	int n_series;
	struct ps_series *series[PS_MAX_SERIES + PS_MAX_SERVERS];
	int n_conns;
	struct ps_conn_key conns[PS_MAX_CONN_KEYS + 1]; /* the last: everything past the cap */
	int n_opened;
	struct ps_opened opened[PS_MAX_CONN_KEYS + 1];
};

struct postgres_stats {
	int n_servers;
	struct ps_server *servers[PS_MAX_SERVERS + 1]; /* [PS_MAX_SERVERS] is "(other)" */
	int n_regular;
	uint64_t dropped_series;
};

struct postgres_stats *postgres_stats__new(void)
{
	return calloc(1, sizeof(struct postgres_stats));
}

void postgres_stats__free(struct postgres_stats *s)
{
	if (!s)
		return;
	for (int i = 0; i <= PS_MAX_SERVERS; i++) {
		struct ps_server *sv = s->servers[i];

		for (int j = 0; sv && j < sv->n_series; j++)
			free(sv->series[j]);
		for (int j = 0; sv && j <= PS_MAX_DBS; j++)
			if (sv->dbs[j]) {
				free(sv->dbs[j]->felt);
				free(sv->dbs[j]);
			}
		if (sv)
			free(sv->wait);
		free(sv);
	}
	free(s);
}

static void *new_server(const char *name)
{
	struct ps_server *sv = calloc(1, sizeof(*sv));

	if (sv)
		nx_strlcpy(sv->server, sizeof(sv->server), name);
	return sv;
}

static struct ps_server *server_of(struct postgres_stats *s, const char *name)
{
	return capped__get((void **)s->servers, &s->n_servers, PS_MAX_SERVERS,
			   offsetof(struct ps_server, server), name, new_server, NULL);
}

static struct ps_series *add_series(struct ps_server *sv, const struct pg_query *q, bool other)
{
	struct ps_series *se = calloc(1, sizeof(*se));

	if (!se)
		return NULL;
	nx_strlcpy(se->database, sizeof(se->database), other ? LS_OTHER : q->database);
	nx_strlcpy(se->user, sizeof(se->user), other ? LS_OTHER : q->user);
	se->fingerprint = other ? 0 : q->fingerprint;
	nx_strlcpy(se->text, sizeof(se->text), other ? LS_OTHER : q->text);
	nx_strlcpy(se->kind, sizeof(se->kind), other ? "other" : q->kind);
	lat_series__init(&se->lat);
	sv->series[sv->n_series++] = se;
	return se;
}

/* The series of (database, user, fingerprint); past the cap, the server's "(other)". */
static struct ps_series *series_of(struct postgres_stats *s, struct ps_server *sv,
				   const struct pg_query *q)
{
	for (int i = 0; i < sv->n_series; i++) {
		struct ps_series *se = sv->series[i];

		if (se->fingerprint == q->fingerprint && !strcmp(se->database, q->database) &&
		    !strcmp(se->user, q->user))
			return se;
	}
	if (s->n_regular < PS_MAX_SERIES) {
		s->n_regular++;
		return add_series(sv, q, false);
	}
	s->dropped_series++;
	for (int i = 0; i < sv->n_series; i++)
		if (!sv->series[i]->fingerprint && !strcmp(sv->series[i]->text, LS_OTHER))
			return sv->series[i];
	return add_series(sv, q, true);
}

static void *new_db(const char *name)
{
	struct ps_db *d = calloc(1, sizeof(*d));

	if (d) {
		nx_strlcpy(d->database, sizeof(d->database), name);
		lat_series__init(&d->lat);
		for (int i = 0; i < DW__N; i++)
			counter_window__init(&d->win[i]);
	}
	return d;
}

/* The figures of one database of a server; past PS_MAX_DBS, the server's "(other)". */
static struct ps_db *db_of(struct ps_server *sv, const char *name)
{
	return capped__get((void **)sv->dbs, &sv->n_dbs, PS_MAX_DBS, offsetof(struct ps_db, database),
			   name, new_db, NULL);
}

/* A lat_series allocated when first needed (most servers' arrivals are known, some never). */
static struct lat_series *lazy_series(struct lat_series **ls)
{
	if (!*ls && (*ls = malloc(sizeof(**ls))))
		lat_series__init(*ls);
	return *ls;
}

/* The request's wait in the socket (per server) and its felt latency (per database). */
static void record_felt(struct ps_server *sv, struct ps_db *db, const struct pg_query *q,
			uint64_t now_ns)
{
	struct lat_series *w;

	if (!q->t_arrival || q->t_arrival > q->t_request)
		return;
	if ((w = lazy_series(&sv->wait)))
		lat_series__record(w, now_ns, q->t_request - q->t_arrival, NULL);
	if (db && (w = lazy_series(&db->felt)))
		lat_series__record(w, now_ns,
				   q->t_response > q->t_arrival ? q->t_response - q->t_arrival : 0,
				   NULL);
}

void postgres_stats__query(struct postgres_stats *s, const struct pg_query *q, uint64_t now_ns)
{
	struct ps_server *sv = server_of(s, q->server);
	struct ps_series *se;
	struct ps_db *db;
	const char *err = NULL;
	uint64_t lat = q->t_response > q->t_request ? q->t_response - q->t_request : 0;
	char cls[3];

	if (!sv)
		return;
	sv->queries++;
	reply_gap__add(&sv->gap, q->t_response);
	se = series_of(s, sv, q);
	if (!se)
		return;
	se->rows += q->rows;
	se->buf_hits += q->buf_hits;
	se->buf_reads += q->buf_reads;
	se->lock_wait_ns += q->lock_wait_ns;
	se->exec_ns += q->exec_ns;
	if (q->sqlstate) {
		sv->errors++;
		/* A SQLSTATE counts by its class (first two characters: 23 integrity, 42 syntax or
		 * access...), which keeps the label set small; other words ("unknown") as they are. */
		if (strlen(q->sqlstate) == 5) {
			cls[0] = q->sqlstate[0];
			cls[1] = q->sqlstate[1];
			cls[2] = '\0';
		}
	}
	if (q->sqlstate)
		err = strlen(q->sqlstate) == 5 ? cls : q->sqlstate;
	lat_series__record(&se->lat, now_ns, lat, err);
	db = db_of(sv, q->database);
	if (db) {
		db->queries++;
		db->errors += err != NULL;
		lat_series__record(&db->lat, now_ns, lat, err);
		if (!db->first_ns)
			db->first_ns = now_ns;
		counter_window__add(&db->win[DW_QUERIES], now_ns, 1);
		if (err)
			counter_window__add(&db->win[DW_ERRORS], now_ns, 1);
	}
	record_felt(sv, db, q, now_ns);
}

void postgres_stats__server_pid(struct postgres_stats *s, const char *server, uint32_t pid)
{
	struct ps_server *sv = server_of(s, server);

	if (sv)
		sv->pid = pid;
}

void postgres_stats__server_identity(struct postgres_stats *s, const char *server,
				     const struct nx_identity *id)
{
	struct ps_server *sv = server_of(s, server);

	if (!sv || sv == s->servers[PS_MAX_SERVERS])
		return;
	if (id)
		sv->ident = *id;
	else
		memset(&sv->ident, 0, sizeof(sv->ident));
}

void postgres_stats__usdt(struct postgres_stats *s, const struct pg_usdt_flush *f)
{
	struct ps_server *sv = server_of(s, f->server);
	struct ps_db *db = sv ? db_of(sv, f->database) : NULL;

	if (!db)
		return;
	sv->usdt = true;
	if (f->db_oid && !db->oid)
		db->oid = f->db_oid;
	db->buf_hits += f->buf_hits;
	db->buf_reads += f->buf_reads;
	db->lock_wait_ns += f->lock_wait_ns;
	db->lock_waits += f->lock_waits;
	db->commits += f->outcome > 0;
	db->rollbacks += f->outcome < 0;
	if (!db->first_ns)
		db->first_ns = f->ts;
	counter_window__add(&db->win[DW_HITS], f->ts, f->buf_hits);
	counter_window__add(&db->win[DW_READS], f->ts, f->buf_reads);
	if (f->outcome)
		counter_window__add(&db->win[f->outcome > 0 ? DW_COMMITS : DW_ROLLBACKS], f->ts, 1);
}

void postgres_stats__deadlock(struct postgres_stats *s, const char *server)
{
	struct ps_server *sv = server_of(s, server);

	if (sv)
		sv->deadlocks++;
}

void postgres_stats__lock_waiting_begin(struct postgres_stats *s)
{
	for (int i = 0; i <= PS_MAX_SERVERS; i++)
		for (int j = 0; s->servers[i] && j <= PS_MAX_DBS; j++)
			if (s->servers[i]->dbs[j]) {
				s->servers[i]->dbs[j]->waiting_ns = 0;
				s->servers[i]->dbs[j]->waiting = 0;
			}
}

void postgres_stats__lock_waiting(struct postgres_stats *s, const char *server, const char *database,
				  uint64_t waited_ns)
{
	struct ps_server *sv = server_of(s, server);
	struct ps_db *db = sv ? db_of(sv, database) : NULL;

	if (db) {
		db->waiting_ns += waited_ns;
		db->waiting++;
	}
}

bool postgres_stats__db_of_oid(struct postgres_stats *s, uint32_t oid, const char **server,
			       const char **database)
{
	for (int i = 0; oid && i < s->n_servers; i++)
		for (int j = 0; j < s->servers[i]->n_dbs; j++)
			if (s->servers[i]->dbs[j]->oid == oid) {
				*server = s->servers[i]->server;
				*database = s->servers[i]->dbs[j]->database;
				return true;
			}
	return false;
}

/* The identity fields of a conn key or opened row are laid out alike: compare and fill both. */
#define ID_MATCHES(k, id)                                                                        \
	(!strcmp((k)->database, (id)->database) && !strcmp((k)->user, (id)->user) &&               \
	 !strcmp((k)->application, (id)->application) && !strcmp((k)->client, (id)->client))
#define ID_FILL(k, id, other)                                                                    \
	do {                                                                                     \
		nx_strlcpy((k)->database, sizeof((k)->database), (other) ? LS_OTHER : (id)->database);   \
		nx_strlcpy((k)->user, sizeof((k)->user), (other) ? LS_OTHER : (id)->user);               \
		nx_strlcpy((k)->application, sizeof((k)->application),                                 \
		     (other) ? LS_OTHER : (id)->application);                                    \
		nx_strlcpy((k)->client, sizeof((k)->client), (other) ? LS_OTHER : (id)->client);         \
	} while (0)

static struct ps_conn_key *conn_key(struct ps_server *sv, const struct pg_conn_id *id,
				    uint8_t state)
{
	struct ps_conn_key *k;

	for (int i = 0; i < sv->n_conns; i++) {
		k = &sv->conns[i];
		if (k->state == state && ID_MATCHES(k, id))
			return k;
	}
	if (sv->n_conns < PS_MAX_CONN_KEYS) {
		k = &sv->conns[sv->n_conns++];
		ID_FILL(k, id, false);
	} else {
		k = &sv->conns[PS_MAX_CONN_KEYS];
		ID_FILL(k, id, true);
	}
	k->state = state;
	return k;
}

/* Strings of an id that may be NULL read as "". */
static struct pg_conn_id id_or_empty(const struct pg_conn_id *id)
{
	return (struct pg_conn_id){
		.database = id->database ? id->database : "",
		.user = id->user ? id->user : "",
		.application = id->application ? id->application : "",
		.client = id->client ? id->client : "",
	};
}

void postgres_stats__conn_state(struct postgres_stats *s, const char *server,
				const struct pg_conn_id *idp, int from, int to)
{
	struct ps_server *sv = server_of(s, server);
	struct pg_conn_id id = id_or_empty(idp);
	struct ps_conn_key *k;

	if (!sv || from == to)
		return;
	if (from != PG_STATE__COUNT && (k = conn_key(sv, &id, from)) && k->n)
		k->n--;
	if (to != PG_STATE__COUNT && (k = conn_key(sv, &id, to)))
		k->n++;
}

void postgres_stats__conn_ready(struct postgres_stats *s, const char *server,
				const struct pg_conn_id *idp, uint64_t now_ns)
{
	struct ps_server *sv = server_of(s, server);
	struct pg_conn_id id = id_or_empty(idp);
	struct ps_opened *o = NULL;

	if (!sv)
		return;
	for (int i = 0; i < sv->n_opened && !o; i++)
		if (ID_MATCHES(&sv->opened[i], &id))
			o = &sv->opened[i];
	if (!o) {
		o = &sv->opened[sv->n_opened < PS_MAX_CONN_KEYS ? sv->n_opened++ : PS_MAX_CONN_KEYS];
		if (!o->first_ns) {
			ID_FILL(o, &id, o == &sv->opened[PS_MAX_CONN_KEYS]);
			counter_window__init(&o->win);
			o->first_ns = now_ns ? now_ns : 1;
		}
	}
	o->n++;
	counter_window__add(&o->win, now_ns, 1);
}

void postgres_stats__conn_opened(struct postgres_stats *s, const char *server)
{
	struct ps_server *sv = server_of(s, server);

	if (sv)
		sv->conns_opened++;
}

static int snap_server(const struct ps_server *sv, uint64_t now_ns, struct ps_server_snap *out,
		       struct hist *scratch)
{
	uint64_t covered;

	memset(out, 0, sizeof(*out));
	nx_strlcpy(out->server, sizeof(out->server), sv->server);
	out->queries = sv->queries;
	out->errors = sv->errors;
	out->conns_opened = sv->conns_opened;
	out->pid = sv->pid;
	out->ident = sv->ident;
	out->deadlocks = sv->deadlocks;
	out->reply_gap_ns = reply_gap__max(&sv->gap, now_ns);
	out->usdt = sv->usdt;
	if (sv->wait)
		lat_series__snapshot(sv->wait, now_ns, &out->wait, scratch);
	out->series = calloc(sv->n_series ? sv->n_series : 1, sizeof(*out->series));
	out->conns = calloc(PS_MAX_CONN_KEYS + 1, sizeof(*out->conns));
	out->opened = calloc(PS_MAX_CONN_KEYS + 1, sizeof(*out->opened));
	out->dbs = calloc(PS_MAX_DBS + 1, sizeof(*out->dbs));
	if (!out->series || !out->conns || !out->dbs || !out->opened)
		return -ENOMEM;
	for (int i = 0; i <= PS_MAX_CONN_KEYS; i++) {
		const struct ps_opened *op = &sv->opened[i];
		struct ps_opened_snap *o;

		if (!op->first_ns)
			continue;
		o = &out->opened[out->n_opened++];
		memcpy(o->database, op->database, sizeof(o->database));
		memcpy(o->user, op->user, sizeof(o->user));
		memcpy(o->application, op->application, sizeof(o->application));
		memcpy(o->client, op->client, sizeof(o->client));
		o->opened = op->n;
		o->win_opened = counter_window__sum(&op->win, now_ns);
		covered = now_ns > op->first_ns ? now_ns - op->first_ns : 0;
		o->win_seconds = (covered < COUNTER_WINDOW_NS ? covered : COUNTER_WINDOW_NS) / 1e9;
	}
	for (int i = 0; i <= PS_MAX_DBS; i++) {
		const struct ps_db *d = sv->dbs[i];
		struct ps_db_snap *o;

		if (!d)
			continue;
		o = &out->dbs[out->n_dbs++];
		memcpy(o->database, d->database, sizeof(o->database));
		o->oid = d->oid;
		o->queries = d->queries;
		o->errors = d->errors;
		lat_series__snapshot(&d->lat, now_ns, &o->lat, scratch);
		o->total = d->lat.total;
		hist__reset(&o->felt_total);
		if (d->felt) {
			lat_series__snapshot(d->felt, now_ns, &o->felt, scratch);
			o->felt_total = d->felt->total;
		}
		o->buffer_hits = d->buf_hits;
		o->buffer_reads = d->buf_reads;
		o->lock_wait_ns = d->lock_wait_ns;
		o->lock_waiting_ns = d->waiting_ns;
		o->lock_waits = d->lock_waits;
		o->lock_waiting = d->waiting;
		o->commits = d->commits;
		o->rollbacks = d->rollbacks;
		covered = d->first_ns && now_ns > d->first_ns ? now_ns - d->first_ns : 0;
		o->win_seconds = (covered < COUNTER_WINDOW_NS ? covered : COUNTER_WINDOW_NS) / 1e9;
		o->win_queries = counter_window__sum(&d->win[DW_QUERIES], now_ns);
		o->win_errors = counter_window__sum(&d->win[DW_ERRORS], now_ns);
		o->win_hits = counter_window__sum(&d->win[DW_HITS], now_ns);
		o->win_reads = counter_window__sum(&d->win[DW_READS], now_ns);
		o->win_commits = counter_window__sum(&d->win[DW_COMMITS], now_ns);
		o->win_rollbacks = counter_window__sum(&d->win[DW_ROLLBACKS], now_ns);
	}
	for (int i = 0; i < sv->n_series; i++) {
		const struct ps_series *se = sv->series[i];
		struct ps_series_snap *o = &out->series[out->n_series++];

		memcpy(o->database, se->database, sizeof(o->database));
		memcpy(o->user, se->user, sizeof(o->user));
		o->fingerprint = se->fingerprint;
		memcpy(o->text, se->text, sizeof(o->text));
		memcpy(o->kind, se->kind, sizeof(o->kind));
		o->rows = se->rows;
		o->buf_hits = se->buf_hits;
		o->buf_reads = se->buf_reads;
		o->lock_wait_ns = se->lock_wait_ns;
		o->exec_ns = se->exec_ns;
		lat_series__snapshot(&se->lat, now_ns, &o->lat, scratch);
	}
	for (int i = 0; i <= PS_MAX_CONN_KEYS; i++) {
		const struct ps_conn_key *k = &sv->conns[i];

		if (i < sv->n_conns || (i == PS_MAX_CONN_KEYS && k->n)) {
			struct ps_conn_snap *o = &out->conns[out->n_conns++];

			memcpy(o->database, k->database, sizeof(o->database));
			memcpy(o->user, k->user, sizeof(o->user));
			memcpy(o->application, k->application, sizeof(o->application));
			memcpy(o->client, k->client, sizeof(o->client));
			o->state = k->state;
			o->n = k->n;
		}
	}
	return 0;
}

struct postgres_snapshot *postgres_stats__snapshot(struct postgres_stats *s, uint64_t now_ns)
{
	struct postgres_snapshot *snap = calloc(1, sizeof(*snap));
	struct hist *scratch = malloc(sizeof(*scratch));
	int n = s->n_servers + (s->servers[PS_MAX_SERVERS] ? 1 : 0);

	if (!snap || !scratch)
		goto fail;
	snap->servers = calloc(n ? n : 1, sizeof(*snap->servers));
	if (!snap->servers)
		goto fail;
	for (int i = 0; i < n; i++) {
		snap->n_servers++;
		if (snap_server(i < s->n_servers ? s->servers[i] : s->servers[PS_MAX_SERVERS], now_ns,
				&snap->servers[i], scratch))
			goto fail;
	}
	snap->dropped_series = s->dropped_series;
	free(scratch);
	return snap;
fail:
	free(scratch);
	postgres_snapshot__free(snap);
	errno = ENOMEM;
	return NULL;
}

void postgres_snapshot__free(struct postgres_snapshot *snap)
{
	if (!snap)
		return;
	for (int i = 0; i < snap->n_servers; i++) {
		free(snap->servers[i].series);
		free(snap->servers[i].conns);
		free(snap->servers[i].opened);
		free(snap->servers[i].dbs);
	}
	free(snap->servers);
	free(snap->relations);
	free(snap->unused);
	free(snap);
}
