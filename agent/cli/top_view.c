// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent top: the tables both renderers draw (columns, cells, filter, sort, lines). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/top_view.h"

/* Servers: fits 80 columns with a 17-character address. Latencies in ms. */
static const struct top_col server_cols[] = {
	{ "KIND", 5, .left = true },
	{ "ADDRESS", 15, .left = true, .elastic = true, .tail = true },
	{ "PID", 7, .left = false },
	{ "OPS/S", 6, .desc = true },
	{ "P50", 5, .desc = true },
	{ "P95", 5, .desc = true },
	{ "P99", 5, .desc = true },
	{ "WAIT99", 6, .desc = true },
	{ "ERR%", 4, .desc = true },
	{ "HIT%", 4, .left = false },
	{ "CONN", 4, .desc = true },
	{ "AL", 2, .desc = true },
};
enum {
	SV_KIND,
	SV_ADDR,
	SV_PID,
	SV_OPS,
	SV_P50,
	SV_P95,
	SV_P99,
	SV_WAIT,
	SV_ERR,
	SV_HIT,
	SV_CONN,
	SV_AL
};

static const struct top_col cmd_cols[] = {
	{ "COMMAND/QUERY", 20, .left = true, .elastic = true },
	{ "DB", 8, .left = true },
	{ "CALLS/S", 7, .desc = true },
	{ "P95", 6, .desc = true },
	{ "TOTAL_MS", 8, .desc = true },
	{ "ERRORS", 6, .desc = true },
	{ "HIT%", 5, .left = false },
};
enum { CM_NAME, CM_DB, CM_RATE, CM_P95, CM_TOTAL, CM_ERR, CM_HIT };

static const struct top_col pg_client_cols[] = {
	{ "CLIENT", 21, .left = true, .tail = true },
	{ "DATABASE", 10, .left = true },
	{ "USER", 10, .left = true },
	{ "APPLICATION", 12, .left = true },
	{ "CONNS", 5, .desc = true },
	{ "OPEN/S", 6, .desc = true },
	{ "STATES", 8, .left = true, .elastic = true },
};
enum { PC_CLIENT, PC_DB, PC_USER, PC_APP, PC_CONNS, PC_OPEN, PC_STATES };

static const struct top_col redis_client_cols[] = {
	{ "CLIENT (slow-command log)", 25, .left = true, .elastic = true, .tail = true },
	{ "SLOW", 5, .desc = true },
	{ "WORST_MS", 8, .desc = true },
	{ "LAST SLOW COMMAND", 17, .left = true },
};
enum { RC_CLIENT, RC_SLOW, RC_WORST, RC_LAST };

static const struct {
	const struct top_col *cols;
	int n, sort;
} tables[TOP_T__COUNT] = {
	[TOP_T_SERVERS] = { server_cols, sizeof(server_cols) / sizeof(server_cols[0]), SV_OPS },
	[TOP_T_COMMANDS] = { cmd_cols, sizeof(cmd_cols) / sizeof(cmd_cols[0]), CM_TOTAL },
	[TOP_T_PG_CLIENTS] = { pg_client_cols, sizeof(pg_client_cols) / sizeof(pg_client_cols[0]),
			       PC_CONNS },
	[TOP_T_REDIS_CLIENTS] = { redis_client_cols,
				  sizeof(redis_client_cols) / sizeof(redis_client_cols[0]),
				  RC_SLOW },
};

int top_view__cols(enum top_table t, const struct top_col **cols)
{
	*cols = tables[t].cols;
	return tables[t].n;
}

int top_view__default_sort(enum top_table t)
{
	return tables[t].sort;
}

enum top_table top_view__clients_table(const struct top_server *sv)
{
	return sv->kind == TOP_REDIS ? TOP_T_REDIS_CLIENTS : TOP_T_PG_CLIENTS;
}

void top_view__num(double v, int width, int decimals, char *out, size_t len)
{
	static const char suffix[] = "kMGT";

	if (!isfinite(v)) {
		snprintf(out, len, "-");
		return;
	}
	for (int d = decimals; d >= 0; d--)
		if (snprintf(out, len, "%.*f", d, v) <= width)
			return;
	for (int i = 0; i < 4; i++) {
		v /= 1000;
		if (fabs(v) >= 999.5 && i < 3)
			continue;
		for (int d = 1; d >= 0; d--)
			if (snprintf(out, len, "%.*f%c", d, v, suffix[i]) <= width)
				return;
	}
	snprintf(out, len, "%.0e", v);
}

static double pct(double ratio)
{
	return ratio * 100;
}

/* A cell's number (NAN for text cells) and its text. */
static double cell(enum top_table t, const void *row, int col, char *buf, size_t len)
{
	const struct top_col *c = &tables[t].cols[col];
	double v = NAN;
	int dec = 2;

	buf[0] = '\0';
	switch (t) {
	case TOP_T_SERVERS: {
		const struct top_server *sv = row;

		switch (col) {
		case SV_KIND:
			snprintf(buf, len, "%s", sv->kind == TOP_REDIS ? "redis" : "pg");
			return NAN;
		case SV_ADDR:
			snprintf(buf, len, "%s", sv->address);
			return NAN;
		case SV_PID:
			v = sv->pid ? sv->pid : NAN;
			dec = 0;
			break;
		case SV_OPS:
			v = sv->ops_per_s;
			dec = 1;
			break;
		case SV_P50:
			v = sv->p50_ms;
			break;
		case SV_P95:
			v = sv->p95_ms;
			break;
		case SV_P99:
			v = sv->p99_ms;
			break;
		case SV_WAIT:
			v = sv->wait_p99_ms;
			break;
		case SV_ERR:
			v = pct(sv->error_ratio);
			dec = 1;
			break;
		case SV_HIT:
			v = pct(sv->hit_ratio);
			dec = 1;
			break;
		case SV_CONN:
			v = sv->connections;
			dec = 0;
			break;
		case SV_AL:
			v = sv->firing;
			dec = 0;
			break;
		}
		break;
	}
	case TOP_T_COMMANDS: {
		const struct top_cmd *cm = row;

		switch (col) {
		case CM_NAME:
			snprintf(buf, len, "%s", cm->name);
			return NAN;
		case CM_DB:
			snprintf(buf, len, "%s", cm->database);
			return NAN;
		case CM_RATE:
			v = cm->calls_per_s;
			dec = 1;
			break;
		case CM_P95:
			v = cm->p95_ms;
			break;
		case CM_TOTAL:
			v = cm->total_ms;
			dec = 1;
			break;
		case CM_ERR:
			v = (double)cm->errors;
			dec = 0;
			break;
		case CM_HIT:
			v = pct(cm->hit_ratio);
			dec = 1;
			break;
		}
		break;
	}
	case TOP_T_PG_CLIENTS: {
		const struct top_client *cl = row;
		const char *s[] = { [PC_CLIENT] = cl->client,
				    [PC_DB] = cl->database,
				    [PC_USER] = cl->user,
				    [PC_APP] = cl->application,
				    [PC_STATES] = cl->detail };

		if (col == PC_CONNS) {
			v = (double)cl->count;
			dec = 0;
		} else if (col == PC_OPEN) {
			v = cl->rate;
		} else {
			snprintf(buf, len, "%s", s[col] && *s[col] ? s[col] : "-");
			return NAN;
		}
		break;
	}
	case TOP_T_REDIS_CLIENTS: {
		const struct top_client *cl = row;

		if (col == RC_SLOW) {
			v = (double)cl->count;
			dec = 0;
		} else if (col == RC_WORST) {
			v = cl->worst_ms;
		} else {
			snprintf(buf, len, "%s", col == RC_CLIENT ? cl->client : cl->detail);
			return NAN;
		}
		break;
	}
	default:
		return NAN;
	}
	top_view__num(v, c->width, dec, buf, len);
	return v;
}

void top_view__cell(enum top_table t, const void *row, int col, char *buf, size_t len)
{
	cell(t, row, col, buf, len);
}

static bool matches(enum top_table t, const void *row, const char *filter)
{
	char buf[TOP_TEXT_LEN + 8];

	if (!filter || !*filter)
		return true;
	for (int i = 0; i < tables[t].n; i++) {
		cell(t, row, i, buf, sizeof(buf));
		if (tables[t].cols[i].left && strcasestr(buf, filter))
			return true;
	}
	return false;
}

static struct {
	enum top_table t;
	int col;
	bool asc;
} sort_by;

/* Unknown figures last whichever the direction; text by strcmp; ties by the first column. */
static int compare(const void *a, const void *b)
{
	const void *x = *(const void *const *)a, *y = *(const void *const *)b;
	char bx[TOP_TEXT_LEN + 8], by[TOP_TEXT_LEN + 8];
	double vx = cell(sort_by.t, x, sort_by.col, bx, sizeof(bx));
	double vy = cell(sort_by.t, y, sort_by.col, by, sizeof(by));
	int r = 0;

	if (tables[sort_by.t].cols[sort_by.col].left) {
		r = strcmp(bx, by);
	} else if (isnan(vx) || isnan(vy)) {
		if (isnan(vx) != isnan(vy))
			return isnan(vx) ? 1 : -1;
	} else {
		r = vx < vy ? -1 : vx > vy;
	}
	if (!sort_by.asc)
		r = -r;
	if (!r) {
		cell(sort_by.t, x, 0, bx, sizeof(bx));
		cell(sort_by.t, y, 0, by, sizeof(by));
		r = strcmp(bx, by);
		if (!r && sort_by.col != 1 && tables[sort_by.t].n > 1) {
			cell(sort_by.t, x, 1, bx, sizeof(bx));
			cell(sort_by.t, y, 1, by, sizeof(by));
			r = strcmp(bx, by);
		}
	}
	return r;
}

int top_view__rows(enum top_table t, const struct top_snapshot *s, const struct top_server *sv,
		   const char *filter, int col, bool asc, const void **out, int max)
{
	int n = 0, total = 0;
	size_t size = 0;
	const char *base = NULL;

	switch (t) {
	case TOP_T_SERVERS:
		base = (const char *)s->servers, total = s->n_servers, size = sizeof(*s->servers);
		break;
	case TOP_T_COMMANDS:
		base = (const char *)sv->cmds, total = sv->n_cmds, size = sizeof(*sv->cmds);
		break;
	default:
		base = (const char *)sv->clients, total = sv->n_clients,
		size = sizeof(*sv->clients);
		break;
	}
	for (int i = 0; i < total && n < max; i++)
		if (matches(t, base + i * size, filter))
			out[n++] = base + i * size;
	if (col < 0 || col >= tables[t].n)
		col = tables[t].sort;
	sort_by.t = t;
	sort_by.col = col;
	sort_by.asc = asc;
	qsort(out, n, sizeof(*out), compare);
	return n;
}

static int elastic_col(enum top_table t)
{
	for (int i = 0; i < tables[t].n; i++)
		if (tables[t].cols[i].elastic)
			return i;
	return -1;
}

int top_view__natural_width(enum top_table t, const void *const *rows, int n)
{
	int e = elastic_col(t), w = (int)strlen(tables[t].cols[e].title);
	char buf[TOP_TEXT_LEN + 8];

	for (int i = 0; i < n; i++) {
		cell(t, rows[i], e, buf, sizeof(buf));
		if ((int)strlen(buf) > w)
			w = (int)strlen(buf);
	}
	return w > tables[t].cols[e].width ? w : tables[t].cols[e].width;
}

void top_view__line(enum top_table t, const void *row, int width, int elastic, char *out,
		    size_t len)
{
	const struct top_col *cols = tables[t].cols;
	int n = tables[t].n, e = elastic_col(t), fixed = 0;
	size_t off = 0;

	for (int i = 0; i < n; i++)
		fixed += (i ? 1 : 0) + (i == e ? 0 : cols[i].width);
	if (elastic <= 0)
		elastic = width - fixed;
	if (elastic < cols[e].width)
		elastic = cols[e].width;
	out[0] = '\0';
	for (int i = 0; i < n && off < len; i++) {
		char buf[TOP_TEXT_LEN + 8];
		int w = i == e ? elastic : cols[i].width;

		if (row)
			cell(t, row, i, buf, sizeof(buf));
		else
			snprintf(buf, sizeof(buf), "%s", cols[i].title);
		if (cols[i].tail && (int)strlen(buf) > w && w > 1) {
			size_t l = strlen(buf);

			memmove(buf + 1, buf + l - (w - 1), w);
			buf[0] = '~';
		}
		/* a text cell is cut to its column; the last column's trailing blanks dropped */
		if (cols[i].left && i == n - 1)
			off += snprintf(out + off, len - off, "%s%.*s", i ? " " : "", w, buf);
		else if (cols[i].left)
			off += snprintf(out + off, len - off, "%s%-*.*s", i ? " " : "", w, w, buf);
		else
			off += snprintf(out + off, len - off, "%s%*.*s", i ? " " : "", w, w, buf);
	}
}

void top_view__summary(const struct top_snapshot *s, char *out, size_t len)
{
	char health[16], ev[16], lost[16];

	top_view__num(s->health, 5, 1, health, sizeof(health));
	top_view__num(s->events_per_s, 6, 0, ev, sizeof(ev));
	if (s->has_events)
		snprintf(lost, sizeof(lost), "%llu", (unsigned long long)s->events_lost);
	else
		snprintf(lost, sizeof(lost), "-");
	snprintf(out, len, "health %s  events/s %s  lost %s  firing alerts %d  servers %d", health,
		 ev, lost, s->firing, s->n_servers);
}
