// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "alert/alert.h"
#include "util.h"

static const char *const sev_names[SEV__COUNT] = {"info", "warning", "critical"};
static const char *const state_names[ALERT__STATES] = {"inactive", "pending", "firing", "resolved"};

const char *alert_severity__str(enum alert_severity s)
{
	return (unsigned)s < SEV__COUNT ? sev_names[s] : "unknown";
}

const char *alert_state__str(enum alert_state s)
{
	return (unsigned)s < ALERT__STATES ? state_names[s] : "unknown";
}

int alert_severity__parse(const char *s)
{
	for (int i = 0; i < SEV__COUNT; i++)
		if (strcmp(s, sev_names[i]) == 0)
			return i;
	return -1;
}

static uint64_t fnv(uint64_t h, const char *s)
{
	/* a separator after each string so ("ab","c") != ("a","bc") */
	return nx_fnv1a64(nx_fnv1a64_str(h, s), "\xff", 1);
}

uint64_t alert__fingerprint(const struct alert *a)
{
	uint64_t h = fnv(NX_FNV64_INIT, a->name);
	for (int i = 0; i < a->n_labels; i++)
		h = fnv(fnv(h, a->labels[i].name), a->labels[i].value);
	return h;
}

bool alert__add_label(struct alert *a, const char *name, const char *value)
{
	if (a->n_labels >= ALERT_MAX_LABELS || strlen(name) >= ALERT_LABEL_NAME_LEN ||
	    strlen(value) >= ALERT_LABEL_VALUE_LEN)
		return false;
	struct alert_label *l = &a->labels[a->n_labels++];
	nx_strlcpy(l->name, sizeof(l->name), name);
	nx_strlcpy(l->value, sizeof(l->value), value);
	return true;
}

const char *alert__label(const struct alert *a, const char *name)
{
	for (int i = 0; i < a->n_labels; i++)
		if (strcmp(a->labels[i].name, name) == 0)
			return a->labels[i].value;
	return NULL;
}
