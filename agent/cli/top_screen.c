// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* nexus-agent top: the ncurses renderer of top_view's tables, and its keys. */
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curses.h>
#include "cli/top_screen.h"
#include "cli/top_view.h"

#define MAX_ROWS 512
#define FILTER_LEN 64
#define KEY_ESC 27

struct top_screen {
	const char *source;
	bool detail;		/* a server's commands and clients, else the servers */
	enum top_kind sel_kind; /* the server shown in detail */
	char sel_addr[TOP_NAME_LEN];
	int cursor, top_row;	/* servers table: the selected row, the first one shown */
	int sort[TOP_T__COUNT]; /* column */
	bool asc[TOP_T__COUNT];
	char filter[2][FILTER_LEN]; /* [detail] */
	bool prompt;		    /* typing a filter */
	bool paused;
	bool open;
};

static bool screen_open; /* for the atexit guard: endwin once, whatever exits */

static void restore_terminal(void)
{
	if (screen_open) {
		endwin();
		screen_open = false;
	}
}

struct top_screen *top_screen__open(const char *source)
{
	struct top_screen *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return NULL;
	sc->source = source;
	for (int t = 0; t < TOP_T__COUNT; t++)
		sc->sort[t] = top_view__default_sort(t);
	setlocale(LC_ALL, "");
	/* newterm, not initscr: initscr exits the process when the terminal is unusable. */
	if (!newterm(NULL, stdout, stdin)) {
		free(sc);
		errno = ENOTTY;
		return NULL;
	}
	screen_open = sc->open = true;
	atexit(restore_terminal);
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	return sc;
}

void top_screen__close(struct top_screen *sc)
{
	if (!sc)
		return;
	if (sc->open)
		restore_terminal();
	free(sc);
}

bool top_screen__paused(const struct top_screen *sc)
{
	return sc->paused;
}

static const struct top_server *selected(const struct top_screen *sc, const struct top_snapshot *s)
{
	for (int i = 0; s && i < s->n_servers; i++)
		if (s->servers[i].kind == sc->sel_kind &&
		    !strcmp(s->servers[i].address, sc->sel_addr))
			return &s->servers[i];
	return NULL;
}

/* The table the sort keys act on. */
static enum top_table sorted_table(const struct top_screen *sc)
{
	return sc->detail ? TOP_T_COMMANDS : TOP_T_SERVERS;
}

static void line_at(int y, const char *text, attr_t attr)
{
	if (y < 0 || y >= LINES)
		return;
	move(y, 0);
	clrtoeol();
	attron(attr);
	addnstr(text, COLS > 1 ? COLS - 1 : COLS);
	attroff(attr);
}

/* Draws t's header and rows from y, at most max rows; the row `cursor` highlighted (-1: none).
 * Returns the next free line. */
static int draw_table(enum top_table t, const void **rows, int n, int first, int cursor, int y,
		      int max)
{
	char line[1024];
	int w = COLS - 1;

	top_view__line(t, NULL, w, 0, line, sizeof(line));
	line_at(y++, line, A_BOLD | A_UNDERLINE);
	for (int i = first; i < n && i - first < max; i++) {
		top_view__line(t, rows[i], w, 0, line, sizeof(line));
		line_at(y++, line, i == cursor ? A_REVERSE : A_NORMAL);
	}
	if (!n)
		line_at(y++, "(none)", A_DIM);
	return y;
}

static void help_line(const struct top_screen *sc)
{
	const struct top_col *cols;
	enum top_table t = sorted_table(sc);
	char buf[512];

	top_view__cols(t, &cols);
	if (sc->prompt) {
		snprintf(buf, sizeof(buf), "filter: %s_   (Enter: keep, Esc: clear)",
			 sc->filter[sc->detail]);
	} else {
		snprintf(buf, sizeof(buf), "%s </>:sort(%s %s) r:rev /:filter%s%s p:%s %sq:quit",
			 sc->detail ? "" : "Up/Dn Enter:details", cols[sc->sort[t]].title,
			 sc->asc[t] ? "asc" : "desc", sc->filter[sc->detail][0] ? "=" : "",
			 sc->filter[sc->detail], sc->paused ? "resume" : "pause",
			 sc->detail ? "Esc:back " : "");
	}
	line_at(LINES - 1, buf[0] == ' ' ? buf + 1 : buf, A_REVERSE);
}

void top_screen__draw(struct top_screen *sc, const struct top_snapshot *s, const char *status)
{
	const void **rows = malloc(MAX_ROWS * sizeof(*rows));
	char buf[512], summary[256], when[16];
	time_t now = time(NULL);
	struct tm tm;
	int y = 0, n, room;

	erase();
	if (!rows)
		return;
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	snprintf(buf, sizeof(buf), "nexus-agent top  %s  %s%s", sc->source, when,
		 sc->paused ? "  [PAUSED]" : "");
	line_at(y++, buf, A_BOLD);
	if (s) {
		top_view__summary(s, summary, sizeof(summary));
		line_at(y, summary, A_NORMAL);
	}
	y++;
	line_at(y++, status ? status : "", A_BOLD);
	room = LINES - 1 - y - 1; /* help line, table header */
	if (!s) {
		/* nothing read yet */
	} else if (!sc->detail) {
		n = top_view__rows(TOP_T_SERVERS, s, NULL, sc->filter[0], sc->sort[TOP_T_SERVERS],
				   sc->asc[TOP_T_SERVERS], rows, MAX_ROWS);
		if (sc->cursor >= n)
			sc->cursor = n ? n - 1 : 0;
		if (room < 1)
			room = 1;
		if (sc->cursor < sc->top_row)
			sc->top_row = sc->cursor;
		if (sc->cursor >= sc->top_row + room)
			sc->top_row = sc->cursor - room + 1;
		draw_table(TOP_T_SERVERS, rows, n, sc->top_row, n ? sc->cursor : -1, y, room);
	} else {
		const struct top_server *sv = selected(sc, s);
		const char *kind = sc->sel_kind == TOP_REDIS ? "redis" : "pg";
		enum top_table ct;
		int cmd_room;

		if (!sv) {
			snprintf(buf, sizeof(buf), "%s %s: gone from the agent's figures", kind,
				 sc->sel_addr);
			line_at(y, buf, A_BOLD);
			goto out;
		}
		ct = top_view__clients_table(sv);
		top_view__line(TOP_T_SERVERS, NULL, COLS - 1, 0, buf, sizeof(buf));
		line_at(y++, buf, A_BOLD | A_UNDERLINE);
		top_view__line(TOP_T_SERVERS, sv, COLS - 1, 0, buf, sizeof(buf));
		line_at(y++, buf, A_NORMAL);
		room = LINES - 1 - y;
		/* commands get about 60 % of what is left, clients the rest (title + header each)
		 */
		cmd_room = (room - 4) * 3 / 5;
		if (cmd_room < 1)
			cmd_room = 1;
		snprintf(buf, sizeof(buf), "%s %s: top %s", kind, sv->address,
			 sv->kind == TOP_REDIS ? "commands" : "query fingerprints");
		line_at(y++, buf, A_BOLD);
		n = top_view__rows(TOP_T_COMMANDS, s, sv, sc->filter[1], sc->sort[TOP_T_COMMANDS],
				   sc->asc[TOP_T_COMMANDS], rows, MAX_ROWS);
		y = draw_table(TOP_T_COMMANDS, rows, n, 0, -1, y, cmd_room);
		snprintf(buf, sizeof(buf), "%s %s: top clients%s", kind, sv->address,
			 sv->kind == TOP_REDIS ? " (from the slow-command log)" : "");
		line_at(y++, buf, A_BOLD);
		n = top_view__rows(ct, s, sv, sc->filter[1], top_view__default_sort(ct), false,
				   rows, MAX_ROWS);
		draw_table(ct, rows, n, 0, -1, y, LINES - 1 - y - 1);
	}
out:
	help_line(sc);
	refresh();
	free(rows);
}

static void enter_detail(struct top_screen *sc, const struct top_snapshot *s)
{
	const void **rows = malloc(MAX_ROWS * sizeof(*rows));
	int n;

	if (!rows || !s)
		goto out;
	n = top_view__rows(TOP_T_SERVERS, s, NULL, sc->filter[0], sc->sort[TOP_T_SERVERS],
			   sc->asc[TOP_T_SERVERS], rows, MAX_ROWS);
	if (sc->cursor < n) {
		const struct top_server *sv = rows[sc->cursor];

		sc->detail = true;
		sc->sel_kind = sv->kind;
		snprintf(sc->sel_addr, sizeof(sc->sel_addr), "%s", sv->address);
	}
out:
	free(rows);
}

static void prompt_key(struct top_screen *sc, int ch)
{
	char *f = sc->filter[sc->detail];
	size_t len = strlen(f);

	if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		sc->prompt = false;
	} else if (ch == KEY_ESC) {
		f[0] = '\0';
		sc->prompt = false;
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (len)
			f[len - 1] = '\0';
	} else if (ch >= 0x20 && ch < 0x7f && len + 1 < FILTER_LEN) {
		f[len] = (char)ch;
		f[len + 1] = '\0';
		sc->cursor = 0;
	}
}

bool top_screen__input(struct top_screen *sc, const struct top_snapshot *s, int ms)
{
	enum top_table t = sorted_table(sc);
	int ncols, ch;
	const struct top_col *cols;

	timeout(ms);
	ch = getch();
	if (ch == ERR)
		return true;
	if (ch == KEY_RESIZE)
		return true; /* the caller redraws at the new size */
	if (sc->prompt) {
		prompt_key(sc, ch);
		return true;
	}
	ncols = top_view__cols(t, &cols);
	switch (ch) {
	case 'q':
	case 'Q':
	case 3: /* Ctrl-C should the terminal deliver it as a key */
		return false;
	case '\n':
	case '\r':
	case KEY_ENTER:
		if (!sc->detail)
			enter_detail(sc, s);
		break;
	case KEY_ESC:
	case KEY_BACKSPACE:
	case 127:
	case 8:
	case KEY_LEFT:
		if (ch == KEY_LEFT && !sc->detail)
			goto sort_left;
		if (sc->detail) {
			sc->detail = false;
			sc->filter[1][0] = '\0';
		} else {
			sc->filter[0][0] = '\0';
		}
		break;
	case '<':
	sort_left:
		sc->sort[t] = (sc->sort[t] + ncols - 1) % ncols;
		sc->asc[t] = !cols[sc->sort[t]].desc;
		break;
	case '>':
	case KEY_RIGHT:
		sc->sort[t] = (sc->sort[t] + 1) % ncols;
		sc->asc[t] = !cols[sc->sort[t]].desc;
		break;
	case 'r':
		sc->asc[t] = !sc->asc[t];
		break;
	case '/':
		sc->prompt = true;
		break;
	case 'p':
	case ' ':
		sc->paused = !sc->paused;
		break;
	case KEY_UP:
	case 'k':
		if (sc->cursor > 0)
			sc->cursor--;
		break;
	case KEY_DOWN:
	case 'j':
		sc->cursor++; /* clamped when drawn */
		break;
	}
	return true;
}
