// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent trace: every captured chunk, connection and process event as a line. */
#include <stdio.h>
#include "cli/commands.h"
#include "cli/session.h"
#include "cli/trace_fmt.h"

struct printer {
	bool json;
	unsigned long failed;
};

static void print_record(void *ctx, const struct nx_record *r)
{
	struct printer *p = ctx;

	if (p->json) {
		if (trace_fmt__json(stdout, r))
			p->failed++;
	} else {
		trace_fmt__text(stdout, r);
	}
}

int cmd_trace(int argc, char **argv)
{
	struct printer printer = {};
	struct nx_opts o;
	struct session s;
	int err;

	if (opts__parse(NX_CMD_TRACE, argc, argv, &o))
		return NX_EXIT_USAGE;
	printer.json = o.json;
	/* A reader such as `| grep` or a test wants each line as it happens. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (session__open(&s, &o, (struct conntrack_sink){ print_record, &printer }))
		return NX_EXIT_FAIL;
	err = session__loop(&s, &o, NULL, NULL);
	session__close(&s);
	if (printer.failed)
		fprintf(stderr, "nexus-agent: %lu records could not be printed\n", printer.failed);
	return err ? NX_EXIT_FAIL : 0;
}
