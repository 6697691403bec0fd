/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * nexus-agent top's ncurses screen: what the person sees (the view state: which table, sort,
 * filter, cursor, pause) and the keys that change it. The terminal is given back by
 * top_screen__close, which every exit path of top calls (it is safe to call twice).
 */
#ifndef NEXUS_TOP_SCREEN_H
#define NEXUS_TOP_SCREEN_H

#include <stdbool.h>
#include "cli/top_model.h"

struct top_screen;

/* NULL (errno set) when the terminal cannot be used. */
struct top_screen *top_screen__open(const char *source);
void top_screen__close(struct top_screen *sc);
/* Draws s (NULL: nothing read yet) with status (an error or a notice; NULL for none). */
void top_screen__draw(struct top_screen *sc, const struct top_snapshot *s, const char *status);
/* Waits up to ms for a key and acts on it; false once the person asked to quit. */
bool top_screen__input(struct top_screen *sc, const struct top_snapshot *s, int ms);
bool top_screen__paused(const struct top_screen *sc);

#endif /* NEXUS_TOP_SCREEN_H */
