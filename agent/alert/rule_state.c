// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rule_state: one alert instance's lifecycle, one transition at most per evaluation.
 *
 *   inactive --fire--> pending --fire held for_ns--> firing --clear held clear_for_ns--> resolved
 *      ^                  |                                                               |  |
 *      +-- !fire ---------+ (TR_CANCELLED)                                                |  |
 *      +-- keep_resolved_ns elapsed (TR_EXPIRED) -----------------------------------------+  |
 *                         ^-- fire (TR_PENDING) ---------------------------------------------+
 *
 * Decisions (the header leaves them open):
 * - Pending cancels as soon as fire is false, as in Prometheus: `for` means the condition held
 *   for that long, continuously. Letting pending hold in the zone between the thresholds would
 *   fire an alert whose condition never held for `for`. Hysteresis applies to leaving firing.
 * - for_ns 0 fires on the step the condition is first seen: that step goes from inactive (or
 *   resolved) straight to firing and reports TR_FIRING, the one transition the engine acts on.
 *   pending_since_ns is still set, so "active since" is the same instant.
 * - Firing: clear counts only when fire is false (a rule whose zones overlap stays firing).
 *   Neither fire nor clear is the hold zone: the state holds and the clear timer restarts, so
 *   clear_for means clear held continuously. clear_for_ns 0 resolves on the first clear step.
 * - Boundaries are inclusive: a condition that has held exactly for_ns (clear_for_ns,
 *   keep_resolved_ns) acts on that step. Elapsed times use the steps' now_ns, so with 1 s
 *   evaluations `for: 30s` fires on the 31st consecutive step (t0 + 30 s).
 * - A resolved alert expires on a later evaluation (a later now_ns) than the one it resolved
 *   on, even with keep_resolved_ns 0, so every resolution is in at least one snapshot.
 * - A clock that goes backwards counts as no time elapsed.
 */
#include "alert/rule_state.h"

static const char *const transition_names[] = {
	[TR_NONE] = "none",	    [TR_PENDING] = "pending", [TR_CANCELLED] = "cancelled",
	[TR_FIRING] = "firing",	    [TR_RESOLVED] = "resolved", [TR_EXPIRED] = "expired",
};

const char *alert_transition__str(enum alert_transition t)
{
	if ((unsigned)t < sizeof(transition_names) / sizeof(transition_names[0]))
		return transition_names[t];
	return "unknown";
}

void rule_state__init(struct rule_state *s)
{
	*s = (struct rule_state){.state = ALERT_INACTIVE};
}

static uint64_t elapsed(uint64_t since, uint64_t now)
{
	return now > since ? now - since : 0;
}

static enum alert_transition to_firing(struct rule_state *s, uint64_t now)
{
	s->state = ALERT_FIRING;
	s->firing_since_ns = now;
	s->clear_since_ns = 0;
	s->resolved_at_ns = 0;
	return TR_FIRING;
}

/* From inactive or resolved when fire holds. */
static enum alert_transition to_pending(struct rule_state *s, const struct rule_timing *t,
					uint64_t now)
{
	s->pending_since_ns = now;
	s->firing_since_ns = 0;
	s->clear_since_ns = 0;
	s->resolved_at_ns = 0;
	if (t->for_ns == 0)
		return to_firing(s, now);
	s->state = ALERT_PENDING;
	return TR_PENDING;
}

enum alert_transition rule_state__step(struct rule_state *s, const struct rule_timing *t, bool fire,
				       bool clear, uint64_t now_ns)
{
	switch (s->state) {
	case ALERT_INACTIVE:
		return fire ? to_pending(s, t, now_ns) : TR_NONE;
	case ALERT_PENDING:
		if (!fire) {
			rule_state__init(s);
			return TR_CANCELLED;
		}
		if (elapsed(s->pending_since_ns, now_ns) >= t->for_ns)
			return to_firing(s, now_ns);
		return TR_NONE;
	case ALERT_FIRING:
		if (fire || !clear) {
			s->clear_since_ns = 0;
			return TR_NONE;
		}
		/* 0 means "not holding", so a clock reading of 0 is stored as 1 ns */
		if (s->clear_since_ns == 0)
			s->clear_since_ns = now_ns ? now_ns : 1;
		if (elapsed(s->clear_since_ns, now_ns) < t->clear_for_ns)
			return TR_NONE;
		s->state = ALERT_RESOLVED;
		s->resolved_at_ns = now_ns;
		s->clear_since_ns = 0;
		return TR_RESOLVED;
	case ALERT_RESOLVED:
		if (fire)
			return to_pending(s, t, now_ns);
		if (elapsed(s->resolved_at_ns, now_ns) >= t->keep_resolved_ns &&
		    now_ns > s->resolved_at_ns) {
			rule_state__init(s);
			return TR_EXPIRED;
		}
		return TR_NONE;
	default:
		rule_state__init(s);
		return TR_NONE;
	}
}
