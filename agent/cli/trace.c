// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * nexus-agent trace: every Redis command and PostgreSQL statement as a line (decoded), and every
 * other captured chunk, connection and process event as it comes; --raw shows all traffic as chunks.
 * The filters (trace_filter.h) choose what is printed; --count ends the session by itself.
 */
#include <stdio.h>
#include "cli/commands.h"
#include "cli/session.h"
#include "cli/trace_filter.h"
#include "cli/trace_fmt.h"
#include "pipeline.h"

struct printer {
	bool json;
	const struct trace_filter *filter;
	uint32_t printed;
	unsigned long failed;
};

/* Whether a record that passed the filters is printed: not once --count lines are out. */
static bool take(struct printer *p)
{
	if (!p->filter->count)
		return true;
	if (p->printed >= p->filter->count)
		return false; /* the rest of the batch being drained when the count was reached */
	if (++p->printed == p->filter->count)
		session__stop();
	return true;
}

static void print_record(void *ctx, const struct nx_record *r)
{
	struct printer *p = ctx;

	if (!trace_filter__match_record(p->filter, r) || !take(p))
		return;
	if (p->json) {
		if (trace_fmt__json(stdout, r))
			p->failed++;
	} else {
		trace_fmt__text(stdout, r);
	}
}

static void print_redis(void *ctx, const struct redis_event *e)
{
	struct printer *p = ctx;

	if (!trace_filter__match_redis(p->filter, e) || !take(p))
		return;
	if (p->json) {
		if (trace_fmt__redis_json(stdout, e))
			p->failed++;
	} else {
		trace_fmt__redis_text(stdout, e);
	}
}

static void print_postgres(void *ctx, const struct postgres_event *e)
{
	struct printer *p = ctx;

	if (!trace_filter__match_postgres(p->filter, e) || !take(p))
		return;
	if (p->json) {
		if (trace_fmt__postgres_json(stdout, e))
			p->failed++;
	} else {
		trace_fmt__postgres_text(stdout, e);
	}
}

int cmd_trace(int argc, char **argv)
{
	struct printer printer = {};
	struct pipeline_opts popts;
	struct pipeline *pipe;
	struct session s = {};
	struct nx_opts o;
	int err;

	if (opts__parse(NX_CMD_TRACE, argc, argv, &o))
		return NX_EXIT_USAGE;
	printer.json = o.json;
	printer.filter = &o.filter;
	/* A reader such as `| grep` or a test wants each line as it happens. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	popts = (struct pipeline_opts){ .decode = !o.raw, .redis_exec = o.redis_uprobes,
					.resp = o.resp };
	pipe = pipeline__new(&popts, NULL, NULL,
			     (struct pipeline_sink){ .on_redis = print_redis,
						     .on_postgres = print_postgres,
						     .on_other = print_record,
						     .ctx = &printer });
	if (!pipe) {
		fprintf(stderr, "nexus-agent: out of memory\n");
		return NX_EXIT_FAIL;
	}
	err = session__open(&s, &o, pipeline__conntrack_sink(pipe));
	if (!err)
		err = session__loop(&s, &o, NULL, NULL);
	session__close(&s);
	pipeline__free(pipe);
	if (printer.failed)
		fprintf(stderr, "nexus-agent: %lu records could not be printed\n", printer.failed);
	return err ? NX_EXIT_FAIL : 0;
}
