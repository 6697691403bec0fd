// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "export/redis_metrics.h"
#include "export/server_labels.h"

#define LABELS 1024 /* server, its container and pod, command, prefix */

static void server_label(char *buf, const struct rs_server_snap *sv)
{
	buf[0] = '\0';
	server_labels__prom(buf, LABELS, sv->server, &sv->ident);
}

/* commands_total: a command can have two series (XREAD with and without BLOCK): sum them. */
static void render_commands(struct prom *p, const struct rs_server_snap *sv)
{
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
			char labels[LABELS];

			if (strcmp(d->command, c->command))
				continue;
			ok += d->lat.ok;
			for (int e = 0; e < d->lat.n_errs; e++) {
				server_label(labels, sv);
				prom__label(labels, LABELS, "command", d->command);
				prom__label(labels, LABELS, "status", d->lat.errs[e].word);
				prom__sample(p, "nexus_redis_commands_total", labels, d->lat.errs[e].n);
			}
		}
		{
			char labels[LABELS];

			server_label(labels, sv);
			prom__label(labels, LABELS, "command", c->command);
			prom__label(labels, LABELS, "status", "ok");
			prom__sample(p, "nexus_redis_commands_total", labels, ok);
		}
	}
}

/* One histogram series: cumulative counts at ls_le_seconds, then +Inf, _sum and _count; command
 * NULL for a per-server family. */
static void render_hist(struct prom *p, const char *family, const struct rs_server_snap *sv,
			const char *command, const uint64_t le_counts[LS_N_LE], uint64_t count,
			uint64_t sum_ns)
{
	char base[LABELS], labels[LABELS], name[128], le[32];

	server_label(base, sv);
	if (command)
		prom__label(base, LABELS, "command", command);
	snprintf(name, sizeof(name), "%s_bucket", family);
	for (int i = 0; i < LS_N_LE; i++) {
		snprintf(labels, sizeof(labels), "%s", base);
		snprintf(le, sizeof(le), "%g", ls_le_seconds[i]);
		prom__label(labels, LABELS, "le", le);
		prom__sample(p, name, labels, le_counts[i]);
	}
	snprintf(labels, sizeof(labels), "%s", base);
	prom__label(labels, LABELS, "le", "+Inf");
	prom__sample(p, name, labels, count);
	snprintf(name, sizeof(name), "%s_sum", family);
	prom__sample(p, name, base, sum_ns / 1e9);
	snprintf(name, sizeof(name), "%s_count", family);
	prom__sample(p, name, base, count);
}

static void render_hists(struct prom *p, const struct redis_snapshot *s, bool blocking)
{
	const char *family = blocking ? "nexus_redis_blocking_command_duration_seconds"
				      : "nexus_redis_command_duration_seconds";

	prom__family(p, family, "histogram",
		     blocking ? "Time blocking commands (BLPOP, XREAD BLOCK...) waited for their reply."
			      : "Time from a command's arrival to the write of its reply.");
	for (int i = 0; i < s->n_servers; i++)
		for (int j = 0; j < s->servers[i].n_cmds; j++)
			if (s->servers[i].cmds[j].blocking == blocking) {
				const struct rs_cmd_snap *c = &s->servers[i].cmds[j];

				render_hist(p, family, &s->servers[i], c->command, c->lat.le,
					    c->lat.count, c->lat.sum_ns);
			}
}

/* --redis-uprobes: time inside redis-server's call(), beside the wire latency. */
static void render_exec(struct prom *p, const struct redis_snapshot *s)
{
	const char *family = "nexus_redis_command_exec_seconds";
	bool any = false;

	for (int i = 0; i < s->n_servers; i++)
		for (int j = 0; j < s->servers[i].n_cmds; j++)
			any |= s->servers[i].cmds[j].exec_count > 0;
	if (!any)
		return;
	prom__family(p, family, "histogram",
		     "Time commands spent executing inside redis-server (call(), --redis-uprobes); "
		     "the rest of the duration is waiting behind other clients and I/O.");
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
				render_hist(p, family, &s->servers[i], c->command, c->exec_le,
					    c->exec_count, c->exec_sum_ns);
		}
}

/* Time requests waited unread in the server's socket: what a busy event loop makes clients feel
 * and the command duration cannot show. */
static void render_wait(struct prom *p, const struct redis_snapshot *s)
{
	const char *family = "nexus_redis_request_wait_seconds";

	prom__family(p, family, "histogram",
		     "Time from a request's arrival at the server's socket (sk_data_ready) to the "
		     "server's read of it.");
	for (int i = 0; i < s->n_servers; i++) {
		const struct lat_snap *w = &s->servers[i].wait;

		render_hist(p, family, &s->servers[i], NULL, w->le, w->count, w->sum_ns);
	}
}

static void render_slow(struct prom *p, const struct redis_snapshot *s)
{
	const char *family = "nexus_redis_slow_commands_total";

	prom__family(p, family, "counter",
		     "Commands whose clients waited at least --slow-command-ms (arrival to reply): "
		     "the entries of /api/v1/cache/slow-commands.");
	for (int i = 0; i < s->n_servers; i++)
		for (int j = 0; j < s->servers[i].n_cmds; j++) {
			const struct rs_cmd_snap *c = &s->servers[i].cmds[j];
			char labels[LABELS];
			bool dup = false;

			/* one label set per command (XREAD with and without BLOCK are two series) */
			for (int k = 0; k < j; k++)
				dup |= s->servers[i].cmds[k].slow &&
				       !strcmp(s->servers[i].cmds[k].command, c->command);
			if (!c->slow || dup)
				continue;
			server_label(labels, &s->servers[i]);
			prom__label(labels, LABELS, "command", c->command);
			prom__sample(p, family, labels, c->slow);
		}
}

static void per_server(struct prom *p, const struct redis_snapshot *s, const char *name,
		       const char *type, const char *help, size_t offset)
{
	char labels[LABELS];

	prom__family(p, name, type, help);
	for (int i = 0; i < s->n_servers; i++) {
		server_label(labels, &s->servers[i]);
		prom__sample(p, name, labels,
			     *(const uint64_t *)((const char *)&s->servers[i] + offset));
	}
}

static void per_prefix(struct prom *p, const struct redis_snapshot *s, bool hits)
{
	const char *name = hits ? "nexus_redis_key_prefix_hits_total"
				: "nexus_redis_key_prefix_misses_total";
	char labels[LABELS];

	prom__family(p, name, "counter",
		     hits ? "Keyspace hits by key prefix (the key up to the delimiter)."
			  : "Keyspace misses by key prefix (the key up to the delimiter).");
	for (int i = 0; i < s->n_servers; i++) {
		const struct rs_server_snap *sv = &s->servers[i];

		for (int j = 0; j < sv->n_prefixes; j++) {
			server_label(labels, sv);
			prom__label(labels, LABELS, "prefix", sv->prefixes[j].prefix);
			prom__sample(p, name, labels,
				     hits ? sv->prefixes[j].hits : sv->prefixes[j].misses);
		}
	}
}

static void one(struct prom *p, const char *name, const char *help, uint64_t v)
{
	prom__family(p, name, "counter", help);
	prom__sample(p, name, NULL, v);
}

void redis_metrics__render(struct prom *p, const struct redis_snapshot *s)
{
	prom__family(p, "nexus_redis_commands_total", "counter",
		     "Redis commands by server, command and status (ok or the error's first word).");
	for (int i = 0; i < s->n_servers; i++)
		render_commands(p, &s->servers[i]);
	render_hists(p, s, false);
	render_hists(p, s, true);
	render_exec(p, s);
	render_wait(p, s);
	render_slow(p, s);
	if (s->exec_calls) {
		char labels[LABELS];

		prom__family(p, "nexus_redis_exec_unpaired_total", "counter",
			     "--redis-uprobes: call() records that found no command (orphan: no "
			     "connection read on their thread; dropped: queue full) and commands that "
			     "found no call() record (unmatched).");
		const struct { const char *reason; uint64_t n; } rs[] = {
			{ "orphan", s->exec_orphans },
			{ "dropped", s->exec_dropped },
			{ "unmatched", s->exec_unmatched },
		};
		for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
			labels[0] = '\0';
			prom__label(labels, LABELS, "reason", rs[i].reason);
			prom__sample(p, "nexus_redis_exec_unpaired_total", labels, rs[i].n);
		}
	}
	per_server(p, s, "nexus_redis_keyspace_hits_total", "counter",
		   "Keyspace hits, as Redis counts keyspace_hits, for the commands listed in the README.",
		   offsetof(struct rs_server_snap, hits));
	per_server(p, s, "nexus_redis_keyspace_misses_total", "counter",
		   "Keyspace misses, as Redis counts keyspace_misses, for the commands listed in the "
		   "README.",
		   offsetof(struct rs_server_snap, misses));
	per_prefix(p, s, true);
	per_prefix(p, s, false);
	per_server(p, s, "nexus_redis_connections", "gauge", "Client connections open now.",
		   offsetof(struct rs_server_snap, conns));
	per_server(p, s, "nexus_redis_connections_opened_total", "counter",
		   "Client connections opened (or first seen).",
		   offsetof(struct rs_server_snap, conns_opened));
	one(p, "nexus_redis_parse_errors_total", "Bytes of Redis traffic that were not RESP.",
	    s->parser.parse_errors);
	one(p, "nexus_redis_resyncs_total",
	    "Times a connection lost its framing (a gap in the capture or bad bytes) and resumed.",
	    s->parser.resyncs);
	one(p, "nexus_redis_unpaired_commands_total",
	    "Commands dropped without a reply: framing lost, pipeline deeper than followed, or the "
	    "client left first.",
	    s->parser.unpaired);
	one(p, "nexus_redis_pushes_total", "Pub/sub messages and RESP3 pushes (not replies).",
	    s->parser.pushes);
	one(p, "nexus_redis_folded_commands_total",
	    "Commands of a pipeline deeper than the agent keeps one by one, folded into a like command "
	    "waiting: counted and paired exactly, latency timed from the read of the first of them.",
	    s->parser.folded);
	one(p, "nexus_redis_dropped_series_total",
	    "Commands counted under command=\"other\" because the series cap was reached.",
	    s->dropped_series);
}
