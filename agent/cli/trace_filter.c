// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "capture/conntrack.h"
#include "capture/endpoint.h"
#include "cli/trace_filter.h"
#include "pipeline.h"

int trace_filter__parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = {
		{ "", 1e6 }, /* a plain number is milliseconds, as everywhere else in the agent */
		{ "ns", 1 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "ms", 1e6 }, { "s", 1e9 },
	};
	size_t digits;
	char *end;
	double v;

	if (!s)
		return -EINVAL;
	/* Digits and one point only: strtod alone would take "-1", "0x10", "1e3", "inf" too. */
	digits = strspn(s, "0123456789.");
	if (!digits)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end != s + digits)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		double t = v * units[i].ns;

		if (strcmp(end, units[i].unit))
			continue;
		if (!(t >= 0) || t > (double)TRACE_MAX_LATENCY_NS)
			return -EINVAL;
		*ns = (uint64_t)(t + 0.5);
		return 0;
	}
	return -EINVAL;
}

int trace_filter__parse_kind(const char *s, uint8_t *kind)
{
	if (!strcmp(s, "redis"))
		*kind = TRACE_KIND_REDIS;
	else if (!strcmp(s, "postgres"))
		*kind = TRACE_KIND_POSTGRES;
	else
		return -EINVAL;
	return 0;
}

bool trace_filter__decoded_only(const struct trace_filter *f)
{
	return f->command || f->query || f->errors || f->latency_set;
}

int trace_filter__check(const struct trace_filter *f, bool raw, const char **why)
{
	if (f->kind == TRACE_KIND_REDIS && f->query) {
		*why = "--query matches PostgreSQL statements, which --kind redis leaves out";
		return -EINVAL;
	}
	if (f->kind == TRACE_KIND_POSTGRES && f->command) {
		*why = "--command matches Redis commands, which --kind postgres leaves out";
		return -EINVAL;
	}
	if (raw && trace_filter__decoded_only(f)) {
		*why = "--command, --query, --min-latency, --errors: no decoded events with --raw";
		return -EINVAL;
	}
	return 0;
}

uint64_t trace_filter__redis_latency_ns(const struct resp_record *r)
{
	return resp_record__felt_ns(r);
}

uint64_t trace_filter__postgres_latency_ns(const struct postgres_event *e)
{
	const struct pg_record *r = e->r;
	uint64_t from = e->t_arrival && e->t_arrival <= r->t_request ? e->t_arrival : r->t_request;

	return r->t_response > from ? r->t_response - from : 0;
}

/* --server: the whole label, or with a leading ':' the port on any address ("[::1]:6379" too). */
static bool server_matches(const char *want, const char *have)
{
	size_t wl, hl;

	if (!want)
		return true;
	if (!have)
		return false;
	if (want[0] != ':')
		return !strcmp(have, want);
	wl = strlen(want);
	hl = strlen(have);
	return hl > wl && !strcmp(have + hl - wl, want);
}

static bool contains(const char *have, const char *want)
{
	return !want || (have && strcasestr(have, want));
}

static bool where_matches(const struct trace_filter *f, const char *server, const char *client)
{
	return server_matches(f->server, server) && contains(client, f->client);
}

bool trace_filter__match_redis(const struct trace_filter *f, const struct redis_event *e)
{
	const struct resp_record *r = e->r;

	/* --query alone asks for PostgreSQL statements; with --command each kind has its own. */
	if (f->kind == TRACE_KIND_POSTGRES || (f->query && !f->command))
		return false;
	if (!contains(r->command, f->command) || (f->errors && r->status != RESP_ERROR))
		return false;
	if (f->latency_set && trace_filter__redis_latency_ns(r) < f->min_latency_ns)
		return false;
	return where_matches(f, e->server, e->client);
}

bool trace_filter__match_postgres(const struct trace_filter *f, const struct postgres_event *e)
{
	const struct pg_record *r = e->r;
	/* What trace prints as the statement: never the literals. */
	const char *text = r->sql_unknown || !e->fp ? "(unknown statement)" : e->fp->text;

	if (f->kind == TRACE_KIND_REDIS || (f->command && !f->query))
		return false;
	/* PG_UNKNOWN (the response ended past the capture) is not known to be an error. */
	if (!contains(text, f->query) || (f->errors && r->status != PG_ERROR))
		return false;
	if (f->latency_set && trace_filter__postgres_latency_ns(e) < f->min_latency_ns)
		return false;
	return where_matches(f, e->server, e->client);
}

bool trace_filter__match_record(const struct trace_filter *f, const struct nx_record *r)
{
	char server[NX_ENDPOINT_LEN], peer[NX_ENDPOINT_LEN];

	if (trace_filter__decoded_only(f))
		return false;
	if (f->kind) {
		uint8_t want = f->kind == TRACE_KIND_REDIS ? NX_KIND_REDIS : NX_KIND_POSTGRES;

		if (!r->proc || r->proc->kind != want)
			return false;
	}
	if (!f->server && !f->client)
		return true;
	/* Process events have no server or client to compare. */
	if (!r->conn)
		return false;
	fmt_conn_ends(r->conn, server, peer, sizeof(server));
	return where_matches(f, server, peer);
}
