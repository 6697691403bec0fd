// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A /api/v1/report document as text for a terminal or as Markdown (for a ticket or a wiki page).
 * Reads the JSON only: whatever the agent that wrote it knew, a missing or null field prints as
 * "-" and is never an error.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "cli/report_fmt.h"

static double dnum(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

/* "%.*f" of v, or "-" */
static const char *fmt(char *buf, size_t len, double v, int prec)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f", prec, v);
	return buf;
}

/* "+12%" of a change, or "" */
static const char *pct(char *buf, size_t len, const json_t *ch)
{
	double c = dnum(ch, "change");

	if (isnan(c))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%+.0f%%", 100 * c);
	return buf;
}

struct out {
	FILE *f;
	bool md;
};

static void health_line(struct out *o, const json_t *h)
{
	char a[32], b[32], c[32];

	fprintf(o->f, "health now %s, min %s, mean %s", fmt(a, sizeof(a), dnum(h, "now"), 1),
		fmt(b, sizeof(b), dnum(h, "min"), 1), fmt(c, sizeof(c), dnum(h, "mean"), 1));
}

static void fired(struct out *o, const json_t *arr, const char *indent)
{
	size_t i;
	const json_t *a;

	if (!json_array_size(arr))
		return;
	fprintf(o->f, "%salerts fired:", indent);
	json_array_foreach(arr, i, a)
		fprintf(o->f, "%s %s (%s) x%.0f", i ? "," : "", str(a, "alertname"),
			str(a, "severity"), dnum(a, "count"));
	fprintf(o->f, "\n");
}

static void figures(struct out *o, const json_t *sv)
{
	const json_t *f = json_object_get(sv, "figures"), *ch = json_object_get(sv, "changes");
	char a[32], b[32], c[32], d[32], e[32], g[32];
	const char *ind = o->md ? "- " : "  ";

	fprintf(o->f, "%srequests %.0f (%s/s, %s against the window before), errors %.0f "
		"(ratio %s)\n",
		ind, dnum(f, "requests"), fmt(a, sizeof(a), dnum(f, "requests_per_s"), 1),
		pct(b, sizeof(b), json_object_get(ch, "requests_per_s")), dnum(f, "errors"),
		fmt(c, sizeof(c), dnum(f, "error_ratio"), 4));
	fprintf(o->f, "%slatency p50 %s ms, p95 %s ms (%s), p99 %s ms (%s)\n", ind,
		fmt(a, sizeof(a), dnum(f, "p50_ms"), 3), fmt(b, sizeof(b), dnum(f, "p95_ms"), 3),
		pct(c, sizeof(c), json_object_get(ch, "p95_ms")),
		fmt(d, sizeof(d), dnum(f, "p99_ms"), 3),
		pct(e, sizeof(e), json_object_get(ch, "p99_ms")));
	fprintf(o->f, "%s%s hit ratio %s (before %s) over %.0f hits and %.0f misses\n", ind,
		strcmp(str(sv, "kind"), "redis") ? "buffer" : "keyspace",
		fmt(a, sizeof(a), dnum(f, "hit_ratio"), 3),
		fmt(b, sizeof(b), dnum(json_object_get(ch, "hit_ratio"), "before"), 3),
		dnum(f, "hits"), dnum(f, "misses"));
	fprintf(o->f, "%sconnections %s (peak %s) of %s, %.0f opened", ind,
		fmt(a, sizeof(a), dnum(f, "connections"), 0),
		fmt(b, sizeof(b), dnum(f, "connections_max"), 0),
		fmt(c, sizeof(c), dnum(f, "connections_limit"), 0), dnum(f, "connections_opened"));
	if (!isnan(dnum(f, "idle_in_transaction")))
		fprintf(o->f, ", %s idle in a transaction (mean %s)",
			fmt(d, sizeof(d), dnum(f, "idle_in_transaction"), 0),
			fmt(e, sizeof(e), dnum(f, "idle_in_transaction_mean"), 1));
	if (!isnan(dnum(f, "rss_bytes")))
		fprintf(o->f, ", resident memory %s MiB",
			fmt(d, sizeof(d), dnum(f, "rss_bytes") / 1048576, 1));
	if (!isnan(dnum(f, "maxmemory_bytes")))
		fprintf(o->f, " of maxmemory %s MiB",
			fmt(g, sizeof(g), dnum(f, "maxmemory_bytes") / 1048576, 1));
	fprintf(o->f, "\n");
}

static void top(struct out *o, const json_t *sv)
{
	const json_t *arr = json_object_get(sv, "top"), *t;
	bool redis = !strcmp(str(sv, "kind"), "redis");
	char a[32], b[32];
	size_t i;

	if (!json_array_size(arr))
		return;
	if (o->md)
		fprintf(o->f, "\n| %s | calls | total ms | mean ms | share %% |\n| --- | ---: | ---: | "
			"---: | ---: |\n", redis ? "command" : "statement");
	else
		fprintf(o->f, "  top %s by total time:\n", redis ? "commands" : "statements");
	json_array_foreach(arr, i, t) {
		const char *name = str(t, redis ? "command" : "query");

		if (o->md)
			fprintf(o->f, "| `%s` | %.0f | %.1f | %s | %s |\n", name, dnum(t, "count"),
				dnum(t, "total_ms"), fmt(a, sizeof(a), dnum(t, "mean_ms"), 3),
				fmt(b, sizeof(b), 100 * dnum(t, "share"), 0));
		else
			fprintf(o->f, "    %8.0f calls %10.1f ms %5s%%  %.90s\n", dnum(t, "count"),
				dnum(t, "total_ms"), fmt(b, sizeof(b), 100 * dnum(t, "share"), 0),
				name);
	}
}

static void prefixes(struct out *o, const json_t *sv)
{
	const json_t *arr = json_object_get(sv, "prefixes_by_misses"), *p;
	char a[32], b[32];
	size_t i;

	if (!json_array_size(arr))
		return;
	if (o->md)
		fprintf(o->f, "\n| key prefix | hits | misses | hit ratio | before |\n| --- | ---: | "
			"---: | ---: | ---: |\n");
	else
		fprintf(o->f, "  key prefixes by misses:\n");
	json_array_foreach(arr, i, p) {
		if (o->md)
			fprintf(o->f, "| `%s` | %.0f | %.0f | %s | %s |\n", str(p, "prefix"),
				dnum(p, "hits"), dnum(p, "misses"),
				fmt(a, sizeof(a), dnum(p, "hit_ratio"), 3),
				fmt(b, sizeof(b), dnum(p, "previous_hit_ratio"), 3));
		else
			fprintf(o->f, "    %-24s hits %8.0f misses %8.0f hit ratio %s (before %s)\n",
				str(p, "prefix"), dnum(p, "hits"), dnum(p, "misses"),
				fmt(a, sizeof(a), dnum(p, "hit_ratio"), 3),
				fmt(b, sizeof(b), dnum(p, "previous_hit_ratio"), 3));
	}
}

static void indexes(struct out *o, const json_t *sv)
{
	const json_t *arr = json_object_get(sv, "indexes"), *x;
	char a[32];
	size_t i;

	if (!json_array_size(arr))
		return;
	fprintf(o->f, o->md ? "\n**Indexes**\n\n" : "  indexes:\n");
	json_array_foreach(arr, i, x)
		fprintf(o->f, "%s%s.%s on %s: hits %.0f reads %.0f hit ratio %s%s\n",
			o->md ? "- " : "    ", str(x, "schema"), str(x, "index"), str(x, "table"),
			dnum(x, "hits"), dnum(x, "reads"), fmt(a, sizeof(a), dnum(x, "hit_ratio"), 3),
			json_is_true(json_object_get(x, "accessed_ever")) ? ""
									 : " (never accessed)");
}

#define STALLS_SHOWN 5

static void stalls(struct out *o, const json_t *sv)
{
	const json_t *arr = json_object_get(sv, "stalls"), *s;
	size_t i;

	if (!json_array_size(arr))
		return;
	fprintf(o->f, o->md ? "\n**Commands that held the event loop**\n\n" : "  stalls:\n");
	/* the longest few: the JSON has them all (the report keeps 16, longest first) */
	json_array_foreach(arr, i, s) {
		if (i == STALLS_SHOWN) {
			fprintf(o->f, "%s... %zu more (--format json lists them)\n", o->md ? "- " : "    ",
				json_array_size(arr) - STALLS_SHOWN);
			break;
		}
		fprintf(o->f, "%s%s %.1f ms (client %s, %.0f requests held)\n", o->md ? "- " : "    ",
			str(s, "command"), dnum(s, "duration_ms"), str(s, "client"),
			dnum(s, "requests_held"));
	}
}

static void capacity(struct out *o, const json_t *sv)
{
	const json_t *arr = json_object_get(sv, "capacity"), *c;
	size_t i;

	if (!json_array_size(arr))
		return;
	fprintf(o->f, o->md ? "\n**Capacity**\n\n" : "  capacity:\n");
	json_array_foreach(arr, i, c) {
		bool mem = !strcmp(str(c, "resource"), "memory");
		bool traffic = !strcmp(str(c, "resource"), "traffic");
		double unit = mem ? 1048576 : 1, ttl = dnum(c, "time_to_limit_s");
		char a[32], b[32], d[32];

		fprintf(o->f, "%s%s %s%s", o->md ? "- " : "    ", str(c, "resource"),
			fmt(a, sizeof(a), dnum(c, "value") / unit, traffic ? 1 : mem ? 1 : 0),
			mem ? " MiB" : traffic ? " requests/s" : "");
		if (!isnan(dnum(c, "limit")))
			fprintf(o->f, " of %s%s", fmt(b, sizeof(b), dnum(c, "limit") / unit, 0),
				mem ? " MiB" : "");
		if (isnan(dnum(c, "slope_per_hour")))
			fprintf(o->f, ": %.0f points, no trend yet\n", dnum(c, "points"));
		else
			fprintf(o->f, ": trend %s%s/h over %.0f points (z %.1f)%s%s%s\n",
				fmt(d, sizeof(d), dnum(c, "slope_per_hour") / unit, 3),
				mem ? " MiB" : "", dnum(c, "points"), dnum(c, "mann_kendall_z"),
				isfinite(ttl) ? ", the limit in " : "",
				isfinite(ttl) ? fmt(b, sizeof(b), ttl / 3600, 2) : "",
				isfinite(ttl) ? " h" : "");
	}
}

static void evidence(struct out *o, const json_t *ev)
{
	const char *key;
	const json_t *v;
	bool first = true;

	fprintf(o->f, o->md ? "  - evidence:" : "      evidence:");
	json_object_foreach((json_t *)ev, key, v) {
		if (json_is_string(v))
			fprintf(o->f, "%s %s=%s", first ? "" : ",", key, json_string_value(v));
		else if (json_is_number(v))
			fprintf(o->f, "%s %s=%.4g", first ? "" : ",", key, json_number_value(v));
		else
			fprintf(o->f, "%s %s=-", first ? "" : ",", key);
		first = false;
	}
	fprintf(o->f, "\n");
}

static void recommendations(struct out *o, const json_t *arr)
{
	const json_t *r;
	size_t i;

	fprintf(o->f, o->md ? "\n## Recommendations\n\n" : "\nrecommendations (%zu):\n",
		json_array_size(arr));
	if (!json_array_size(arr))
		fprintf(o->f, o->md ? "None: nothing in this window calls for a change.\n"
				    : "  none: nothing in this window calls for a change\n");
	json_array_foreach(arr, i, r) {
		if (o->md)
			fprintf(o->f, "- **%s** `%s` %s: %s\n  - advice: %s\n", str(r, "severity"),
				str(r, "server"), str(r, "subject"), str(r, "finding"),
				str(r, "advice"));
		else
			fprintf(o->f, "  [%s] %s, %s\n      %s\n", str(r, "severity"), str(r, "server"),
				str(r, "subject"), str(r, "finding"));
		evidence(o, json_object_get(r, "evidence"));
		if (!o->md)
			fprintf(o->f, "      advice: %s\n", str(r, "advice"));
	}
}

int report_fmt__print(FILE *f, const json_t *root, bool markdown)
{
	struct out o = { f, markdown };
	const json_t *servers = json_object_get(root, "servers"), *sv;
	size_t i;

	if (!json_is_object(root) || !json_is_array(servers))
		return -1;
	if (markdown)
		fprintf(f, "# Health report %s\n\nWindow: %.0f s from %s. Node ", str(root, "generated_at"),
			dnum(root, "window_seconds"), str(root, "window_start"));
	else
		fprintf(f, "report %s, window %.0f s from %s\nnode ", str(root, "generated_at"),
			dnum(root, "window_seconds"), str(root, "window_start"));
	health_line(&o, json_object_get(json_object_get(root, "node"), "health"));
	fprintf(f, "\n");
	fired(&o, json_object_get(json_object_get(root, "node"), "alerts_fired"),
	      markdown ? "\n" : "");
	json_array_foreach(servers, i, sv) {
		fprintf(f, markdown ? "\n## %s %s\n\n" : "\n%s %s, ", str(sv, "kind"),
			str(sv, "server"));
		if (markdown)
			fprintf(f, "- ");
		health_line(&o, json_object_get(sv, "health"));
		fprintf(f, "\n");
		fired(&o, json_object_get(sv, "alerts_fired"), markdown ? "- " : "  ");
		figures(&o, sv);
		top(&o, sv);
		prefixes(&o, sv);
		indexes(&o, sv);
		stalls(&o, sv);
		capacity(&o, sv);
	}
	recommendations(&o, json_object_get(root, "recommendations"));
	return 0;
}
