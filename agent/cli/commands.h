/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The subcommands main.c dispatches to; each returns the process exit status. */
#ifndef NEXUS_COMMANDS_H
#define NEXUS_COMMANDS_H

/* Exit statuses: 0 fine, 1 could not run, 2 bad usage. */
#define NX_EXIT_FAIL 1
#define NX_EXIT_USAGE 2

int cmd_run(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_top(int argc, char **argv);
/* issue 12: record and replay */
int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_report(int argc, char **argv); /* issue 14 */

#endif /* NEXUS_COMMANDS_H */
