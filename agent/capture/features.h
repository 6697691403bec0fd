/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What this kernel offers the agent, each probed for real rather than guessed from a version. */
#ifndef NEXUS_FEATURES_H
#define NEXUS_FEATURES_H

#include <stdbool.h>

struct feature {
	const char *name;
	bool ok;
	bool required; /* the agent cannot capture without it */
	char detail[160];
};

enum {
	FEAT_PRIV,
	FEAT_BTF,
	FEAT_RINGBUF,
	FEAT_TRACEFS,
	FEAT_SYSCALL_TP,
	FEAT_TASK_REGS,
	FEAT_UPROBES,
	FEAT_USDT,
	FEAT_DATA_READY,
	FEAT_FENTRY,
	FEAT_KPROBES,
	FEAT__COUNT,
};

/* Probes everything; may mount tracefs (as the agent would). */
void features__probe(struct feature out[FEAT__COUNT]);

#endif /* NEXUS_FEATURES_H */
