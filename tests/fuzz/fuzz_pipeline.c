// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: arbitrary bytes as a stream of ring-buffer records (2-byte length, then the
 * record) through the whole user-space path: conntrack, the pipeline (chunks joined, gaps, RESP
 * and PostgreSQL parsers), the statistics and trace's formatting of what they decode. DATA
 * records claim chunk offsets, "more" flags and arrival times the kernel would never send; the
 * agent must count and go on. A snapshot of both statistics at the end checks they stay sane.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/trace_fmt.h"
#include "fuzz_records.h"
#include "pipeline.h"

static FILE *devnull;

static void on_redis(void *ctx, const struct redis_event *e)
{
	trace_fmt__redis_text(devnull, e);
	trace_fmt__redis_json(devnull, e);
}

static void on_postgres(void *ctx, const struct postgres_event *e)
{
	trace_fmt__postgres_text(devnull, e);
	trace_fmt__postgres_json(devnull, e);
}

static void on_other(void *ctx, const struct nx_record *r)
{
	trace_fmt__text(devnull, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conntrack_opts co = { .max_conns = 8, .max_procs = 4 };
	struct pipeline_opts po = { .decode = true, .slow_ns = 1000,
				    .resp = { .delimiter = ':', .depth = 1 } };
	struct redis_stats *rs = redis_stats__new();
	struct postgres_stats *ps = postgres_stats__new();
	struct pipeline *p = NULL;
	struct conntrack *ct = NULL;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (!rs || !ps)
		goto out;
	p = pipeline__new(&po, rs, ps,
			  (struct pipeline_sink){ .on_redis = on_redis, .on_postgres = on_postgres,
						  .on_other = on_other });
	ct = p ? conntrack__new(&co, NULL, pipeline__conntrack_sink(p)) : NULL;
	if (!ct)
		goto out;
	fuzz_feed_records(ct, data, size);
	redis_snapshot__free(redis_stats__snapshot(rs, 1ULL << 40));
	postgres_snapshot__free(postgres_stats__snapshot(ps, 1ULL << 40));
out:
	conntrack__free(ct);
	pipeline__free(p);
	redis_stats__free(rs);
	postgres_stats__free(ps);
	return 0;
}
