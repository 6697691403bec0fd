// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The nexus_redis_* families of the metric model, from a Redis snapshot. Names are an interface. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "model/model_fill.h"
#include "model/server_labels.h"

static void server_labels(struct mm_labels *ls, const struct rs_server_snap *sv)
{
	model__server_labels(ls, sv->server, &sv->ident);
}

/* commands_total: a command can have two series (XREAD with and without BLOCK): sum them. */
static void fill_commands(struct metric_model *m, const struct rs_server_snap *sv)
{
	struct mm_labels ls;

	for (int i = 0; i < sv->n_cmds; i++) {
		const struct rs_cmd_snap *c = &sv->cmds[i];
		uint64_t ok = 0;
		bool seen = false;

		for (int j = 0; j < i; j++)
			seen |= !strcmp(sv->cmds[j].command, c->command);
		if (seen)
			continue;
		for (int j = i; j < sv->n_cmds; j++) {
			const struct rs_cmd_snap *d = &sv->cmds[j];

			if (strcmp(d->command, c->command))
				continue;
			ok += d->lat.ok;
			for (int e = 0; e < d->lat.n_errs; e++) {
				server_labels(&ls, sv);
				mm_labels__add(&ls, "command", d->command);
				mm_labels__add(&ls, "status", d->lat.errs[e].word);
				mm__sample(m, &ls, d->lat.errs[e].n);
			}
		}
		server_labels(&ls, sv);
		mm_labels__add(&ls, "command", c->command);
		mm_labels__add(&ls, "status", "ok");
		mm__sample(m, &ls, ok);
	}
}

/* One histogram series; command NULL for a per-server family. */
static void fill_hist(struct metric_model *m, const struct rs_server_snap *sv, const char *command,
		      const uint64_t le_counts[LS_N_LE], uint64_t count, uint64_t sum_ns,
		      const struct hist_sparse *fine)
{
	struct mm_labels ls;

	server_labels(&ls, sv);
	if (command)
		mm_labels__add(&ls, "command", command);
	mm__histogram(m, &ls, le_counts, count, sum_ns / 1e9);
	model__fine(m, fine); /* OTLP exponential histograms */
}

static void fill_hists(struct metric_model *m, const struct redis_snapshot *s, bool blocking)
{
	mm__histogram_family(
		m,
		blocking ? "nexus_redis_blocking_command_duration_seconds"
			 : "nexus_redis_command_duration_seconds",
		"s",
		blocking ? "Time blocking commands (BLPOP, XREAD BLOCK...) waited for their reply."
			 : "Time from a command's arrival to the write of its reply.",
		ls_le_seconds, LS_N_LE);
	for (int i = 0; i < s->n_servers; i++)
		for (int j = 0; j < s->servers[i].n_cmds; j++)
			if (s->servers[i].cmds[j].blocking == blocking) {
				const struct rs_cmd_snap *c = &s->servers[i].cmds[j];

				fill_hist(m, &s->servers[i], c->command, c->lat.le, c->lat.count,
					  c->lat.sum_ns, &c->lat.fine);
			}
}

/* --redis-uprobes: time inside redis-server's call(), beside the wire latency. */
static void fill_exec(struct metric_model *m, const struct redis_snapshot *s)
{
	bool any = false;

	for (int i = 0; i < s->n_servers; i++)
		for (int j = 0; j < s->servers[i].n_cmds; j++)
			any |= s->servers[i].cmds[j].exec_count > 0;
	if (!any)
		return;
	mm__histogram_family(m, "nexus_redis_command_exec_seconds", "s",
			     "Time commands spent executing inside redis-server (call(), "
			     "--redis-uprobes); the rest of the duration is waiting behind other "
			     "clients and I/O.",
			     ls_le_seconds, LS_N_LE);
	for (int i = 0; i < s->n_servers; i++)
		for (int j = 0; j < s->servers[i].n_cmds; j++) {
			const struct rs_cmd_snap *c = &s->servers[i].cmds[j];
			bool dup = false;

			/* XREAD with and without BLOCK are two series of one command: one label set
			 * may appear once, so the second (rare) one is left out. */
			for (int k = 0; k < j; k++)
				dup |= s->servers[i].cmds[k].exec_count &&
				       !strcmp(s->servers[i].cmds[k].command, c->command);
			if (c->exec_count && !dup)
				fill_hist(m, &s->servers[i], c->command, c->exec_le, c->exec_count,
					  c->exec_sum_ns, NULL);
		}
}

/* Time requests waited unread in the server's socket: what a busy event loop makes clients feel
 * and the command duration cannot show. */
static void fill_wait(struct metric_model *m, const struct redis_snapshot *s)
{
	mm__histogram_family(m, "nexus_redis_request_wait_seconds", "s",
			     "Time from a request's arrival at the server's socket (sk_data_ready) to "
			     "the server's read of it.",
			     ls_le_seconds, LS_N_LE);
	for (int i = 0; i < s->n_servers; i++) {
		const struct lat_snap *w = &s->servers[i].wait;

		fill_hist(m, &s->servers[i], NULL, w->le, w->count, w->sum_ns, &w->fine);
	}
}

static void fill_slow(struct metric_model *m, const struct redis_snapshot *s)
{
	mm__family(m, "nexus_redis_slow_commands_total", MM_COUNTER, "{command}",
		   "Commands whose clients waited at least --slow-command-ms (arrival to reply): "
		   "the entries of /api/v1/cache/slow-commands.");
	for (int i = 0; i < s->n_servers; i++)
		for (int j = 0; j < s->servers[i].n_cmds; j++) {
			const struct rs_cmd_snap *c = &s->servers[i].cmds[j];
			struct mm_labels ls;
			bool dup = false;

			/* one label set per command (XREAD with and without BLOCK are two series) */
			for (int k = 0; k < j; k++)
				dup |= s->servers[i].cmds[k].slow &&
				       !strcmp(s->servers[i].cmds[k].command, c->command);
			if (!c->slow || dup)
				continue;
			server_labels(&ls, &s->servers[i]);
			mm_labels__add(&ls, "command", c->command);
			mm__sample(m, &ls, c->slow);
		}
}

static void per_server(struct metric_model *m, const struct redis_snapshot *s, const char *name,
		       enum mm_type type, const char *unit, const char *help, size_t offset)
{
	struct mm_labels ls;

	mm__family(m, name, type, unit, help);
	for (int i = 0; i < s->n_servers; i++) {
		server_labels(&ls, &s->servers[i]);
		mm__sample(m, &ls, *(const uint64_t *)((const char *)&s->servers[i] + offset));
	}
}

static void per_prefix(struct metric_model *m, const struct redis_snapshot *s, bool hits)
{
	struct mm_labels ls;

	mm__family(m, hits ? "nexus_redis_key_prefix_hits_total" : "nexus_redis_key_prefix_misses_total",
		   MM_COUNTER, "{lookup}",
		   hits ? "Keyspace hits by key prefix (the key up to the delimiter)."
			: "Keyspace misses by key prefix (the key up to the delimiter).");
	for (int i = 0; i < s->n_servers; i++) {
		const struct rs_server_snap *sv = &s->servers[i];

		for (int j = 0; j < sv->n_prefixes; j++) {
			server_labels(&ls, sv);
			mm_labels__add(&ls, "prefix", sv->prefixes[j].prefix);
			mm__sample(m, &ls, hits ? sv->prefixes[j].hits : sv->prefixes[j].misses);
		}
	}
}

static void fill_exec_unpaired(struct metric_model *m, const struct redis_snapshot *s)
{
	const struct {
		const char *reason;
		uint64_t n;
	} rs[] = {
		{ "orphan", s->exec_orphans },
		{ "dropped", s->exec_dropped },
		{ "unmatched", s->exec_unmatched },
	};
	struct mm_labels ls;

	mm__family(m, "nexus_redis_exec_unpaired_total", MM_COUNTER, "{record}",
		   "--redis-uprobes: call() records that found no command (orphan: no connection "
		   "read on their thread; dropped: queue full) and commands that found no call() "
		   "record (unmatched).");
	for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
		mm_labels__reset(&ls);
		mm_labels__add(&ls, "reason", rs[i].reason);
		mm__sample(m, &ls, rs[i].n);
	}
}

void model__fill_redis(struct metric_model *m, const struct redis_snapshot *s)
{
	mm__family(m, "nexus_redis_commands_total", MM_COUNTER, "{command}",
		   "Redis commands by server, command and status (ok or the error's first word).");
	for (int i = 0; i < s->n_servers; i++)
		fill_commands(m, &s->servers[i]);
	fill_hists(m, s, false);
	fill_hists(m, s, true);
	fill_exec(m, s);
	fill_wait(m, s);
	fill_slow(m, s);
	if (s->exec_calls)
		fill_exec_unpaired(m, s);
	per_server(m, s, "nexus_redis_keyspace_hits_total", MM_COUNTER, "{lookup}",
		   "Keyspace hits, as Redis counts keyspace_hits, for the commands listed in the README.",
		   offsetof(struct rs_server_snap, hits));
	per_server(m, s, "nexus_redis_keyspace_misses_total", MM_COUNTER, "{lookup}",
		   "Keyspace misses, as Redis counts keyspace_misses, for the commands listed in the "
		   "README.",
		   offsetof(struct rs_server_snap, misses));
	per_prefix(m, s, true);
	per_prefix(m, s, false);
	per_server(m, s, "nexus_redis_connections", MM_GAUGE, "{connection}",
		   "Client connections open now.", offsetof(struct rs_server_snap, conns));
	per_server(m, s, "nexus_redis_connections_opened_total", MM_COUNTER, "{connection}",
		   "Client connections opened (or first seen).",
		   offsetof(struct rs_server_snap, conns_opened));
	mm__single(m, "nexus_redis_parse_errors_total", MM_COUNTER, "By",
		   "Bytes of Redis traffic that were not RESP.", s->parser.parse_errors);
	mm__single(m, "nexus_redis_resyncs_total", MM_COUNTER, "{resync}",
		   "Times a connection lost its framing (a gap in the capture or bad bytes) and "
		   "resumed.", s->parser.resyncs);
	mm__single(m, "nexus_redis_unpaired_commands_total", MM_COUNTER, "{command}",
		   "Commands dropped without a reply: framing lost, pipeline deeper than "
		   "followed, or the client left first.", s->parser.unpaired);
	mm__single(m, "nexus_redis_pushes_total", MM_COUNTER, "{message}",
		   "Pub/sub messages and RESP3 pushes (not replies).", s->parser.pushes);
	mm__single(m, "nexus_redis_folded_commands_total", MM_COUNTER, "{command}",
		   "Commands of a pipeline deeper than the agent keeps one by one, folded into a "
		   "like command waiting: counted and paired exactly, latency timed from the read "
		   "of the first of them.", s->parser.folded);
	mm__single(m, "nexus_redis_dropped_series_total", MM_COUNTER, "{command}",
		   "Commands counted under command=\"other\" because the series cap was reached.",
		   s->dropped_series);
}
