/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The state machine of one alert instance (a rule and its labels), stepped once per evaluation.
 * Hysteresis comes from two conditions: `fire` (over the firing threshold) moves it towards
 * firing; only `clear` (under the lower clearing threshold) moves it back. Between the two
 * thresholds the state holds.
 */
#ifndef NEXUS_RULE_STATE_H
#define NEXUS_RULE_STATE_H
#include <stdbool.h>
#include <stdint.h>
#include "alert/alert.h"

enum alert_transition {
	TR_NONE,
	TR_PENDING,	/* inactive -> pending */
	TR_CANCELLED,	/* pending -> inactive: cleared before `for` elapsed; never sent */
	TR_FIRING,	/* pending -> firing */
	TR_RESOLVED,	/* firing -> resolved */
	TR_EXPIRED,	/* resolved -> inactive after it was kept visible for keep_resolved */
};

struct rule_timing {
	uint64_t for_ns;	   /* fire must hold this long in pending before firing (0: fire at once) */
	uint64_t clear_for_ns;	   /* clear must hold this long before a firing alert resolves */
	uint64_t keep_resolved_ns; /* how long a resolved alert stays listed before going inactive */
};

struct rule_state {
	enum alert_state state;
	uint64_t pending_since_ns; /* monotonic */
	uint64_t firing_since_ns;
	uint64_t clear_since_ns;   /* 0 while clear is not holding */
	uint64_t resolved_at_ns;
};

void rule_state__init(struct rule_state *s);
/* One evaluation at now_ns (monotonic). A resolved alert that fires again goes to pending. */
enum alert_transition rule_state__step(struct rule_state *s, const struct rule_timing *t, bool fire,
				       bool clear, uint64_t now_ns);
const char *alert_transition__str(enum alert_transition t);

#endif /* NEXUS_RULE_STATE_H */
