/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * nexus-agent top's tables: which columns each has, how a cell is written, how rows are
 * filtered and sorted, and a row as a line of a given width. The ncurses screen and the batch
 * printer both draw these, so they show the same thing.
 */
#ifndef NEXUS_TOP_VIEW_H
#define NEXUS_TOP_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include "cli/top_model.h"

enum top_table {
	TOP_T_SERVERS,	     /* rows: struct top_server */
	TOP_T_COMMANDS,	     /* rows: struct top_cmd */
	TOP_T_PG_CLIENTS,    /* rows: struct top_client of a PostgreSQL server */
	TOP_T_REDIS_CLIENTS, /* rows: struct top_client of a Redis server */
	TOP_T__COUNT,
};

struct top_col {
	const char *title;
	int width;    /* the elastic column's minimum */
	bool left;    /* text, left-aligned; numbers are right-aligned */
	bool elastic; /* takes what the line has left */
	bool desc;    /* sorted largest first by default */
	bool tail;    /* cut from the left: the end of a socket path says more */
};

int top_view__cols(enum top_table t, const struct top_col **cols);
/* Default sort column of a table. */
int top_view__default_sort(enum top_table t);
/* The text of a cell (fitted to the column's width where it is a number). */
void top_view__cell(enum top_table t, const void *row, int col, char *buf, size_t len);

/* A server's clients table. */
enum top_table top_view__clients_table(const struct top_server *sv);

/* Rows of t (servers of s, or the commands / clients of sv) that contain filter (any cell,
 * case-insensitive; NULL or "" for all), sorted by col (asc or not), into out; returns how many. */
int top_view__rows(enum top_table t, const struct top_snapshot *s, const struct top_server *sv,
		   const char *filter, int col, bool asc, const void **out, int max);

/* The elastic column's width that fits every row (and the title): for output without a width. */
int top_view__natural_width(enum top_table t, const void *const *rows, int n);
/* One line: the header (row NULL) or a row, width columns wide (the elastic column gets what is
 * left, at least its minimum); elastic > 0 sets the elastic column's width instead. */
void top_view__line(enum top_table t, const void *row, int width, int elastic, char *out,
		    size_t len);
/* "health 97.4  events/s 1.2k  lost 0  firing alerts 1  servers 2" */
void top_view__summary(const struct top_snapshot *s, char *out, size_t len);
/* A number in at most width characters: fewer decimals first, then k/M/G; "-" for NAN. */
void top_view__num(double v, int width, int decimals, char *out, size_t len);

#endif /* NEXUS_TOP_VIEW_H */
