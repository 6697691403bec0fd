// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent: dispatches to a subcommand. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include "cli/commands.h"
#include "cli/opts.h"
#include "capture/pg_catalog.h"

static int cmd_version(int argc, char **argv)
{
	printf("nexus-agent %s\n", NX_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	opts__usage(stdout);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "run", cmd_run },
	{ "trace", cmd_trace },
	{ "check", cmd_check },
	{ "top", cmd_top },
	{ "record", cmd_record }, /* issue 12 */
	{ "replay", cmd_replay },
	{ "report", cmd_report }, /* issue 14 */
	/* --pg-catalog's helper process (capture/pg_catalog_helper.c), started by run only */
	{ "pg-catalog-helper", cmd_pg_catalog_helper },
	{ "version", cmd_version },
	{ "--version", cmd_version },
	{ "help", cmd_help },
	{ "--help", cmd_help },
	{ "-h", cmd_help },
};

int main(int argc, char **argv)
{
	/* A fixed threshold, not glibc's sliding one: the kernel's BTF (5 MB, parsed while the
	 * probes load) is then mmapped and handed back when freed, instead of raising the threshold
	 * and staying in the heap of a process that runs for months. */
	mallopt(M_MMAP_THRESHOLD, 256 << 10);
	if (argc < 2) {
		opts__usage(stderr);
		return NX_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "nexus-agent: unknown command '%s'\n\n", argv[1]);
	opts__usage(stderr);
	return NX_EXIT_USAGE;
}
