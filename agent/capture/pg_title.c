// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "capture/pg_title.h"

#define TITLE_PREFIX "postgres: " /* PROGRAM_PREFIX in PostgreSQL's ps_status.c */
#define MAX_WORDS 16		  /* words before the host; a title with more is not split */

struct word {
	const char *s;
	size_t n;
};

static bool word_is(struct word w, const char *s)
{
	return w.n == strlen(s) && !memcmp(w.s, s, w.n);
}

static bool host_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '.' || c == ':' || c == '-' || c == '_' || c == '%';
}

/* "[local]", or HOST(PORT): an address (IPv6 unbracketed, maybe with a zone) or a host name,
 * then 1 to 5 digits. */
static bool is_host(struct word w)
{
	size_t open;

	if (word_is(w, "[local]"))
		return true;
	if (w.n < 4 || w.s[w.n - 1] != ')')
		return false;
	for (open = w.n - 2; open > 0 && w.s[open] != '('; open--)
		if (w.s[open] < '0' || w.s[open] > '9')
			return false;
	if (!open || w.n - 2 - open < 1 || w.n - 2 - open > 5)
		return false;
	for (size_t i = 0; i < open; i++)
		if (!host_char(w.s[i]))
			return false;
	return true;
}

/* The start of a host the title's end cut short: "10.0.0.7(54", "[loc". */
static bool is_cut_host(struct word w)
{
	return (w.n && w.s[0] == '[') || memchr(w.s, '(', w.n);
}

static void copy_word(char *dst, size_t size, struct word w)
{
	size_t n = w.n < size - 1 ? w.n : size - 1;

	memcpy(dst, w.s, n);
	dst[n] = '\0';
}

int pg_title__parse(const char *cmdline, size_t len, char *user, size_t ulen, char *db,
		    size_t dlen)
{
	const size_t plen = sizeof(TITLE_PREFIX) - 1;
	struct word w[MAX_WORDS];
	const char *s, *end;
	int n = 0, first = 0;

	if (!cmdline || !user || !db || !ulen || !dlen)
		return -EINVAL;
	user[0] = db[0] = '\0';
	len = strnlen(cmdline, len); /* the title is argv[0]; what follows is not ours */
	if (len < plen || memcmp(cmdline, TITLE_PREFIX, plen))
		return -EINVAL; /* the postmaster's own command line, another program, garbage */
	s = cmdline + plen;
	end = cmdline + len;
	/* Words up to the first that is a host: PostgreSQL separates the parts by one space. */
	for (;;) {
		const char *sp = memchr(s, ' ', end - s);
		struct word cur = { s, (size_t)((sp ? sp : end) - s) };

		if (is_host(cur))
			break;
		if (!sp) /* the end, no host: checkpointer, autovacuum worker, parallel worker... */
			return is_cut_host(cur) ? -EINVAL : -ENOTCONN;
		if (n == MAX_WORDS)
			return -EINVAL;
		w[n++] = cur;
		s = sp + 1;
	}
	/* cluster_name, when set, comes first and ends in ':' (it may hold spaces itself). With two
	 * words or fewer there is no room for it: a user name may end in ':' too. */
	for (int i = 0; n > 2 && i < n; i++) {
		if (w[i].n && w[i].s[w[i].n - 1] == ':') {
			first = i + 1;
			break;
		}
	}
	/* A replication connection: "walsender USER [DATABASE] HOST" (so a role named walsender
	 * is never named this way). */
	if (first < n && word_is(w[first], "walsender"))
		return -ENOTCONN;
	/* Exactly USER DATABASE: more words mean a name with a space, which cannot be split. */
	if (n - first != 2 || !w[first].n || !w[first + 1].n)
		return -EINVAL;
	copy_word(user, ulen, w[first]);
	copy_word(db, dlen, w[first + 1]);
	return 0;
}

int pg_title__read(uint32_t pid, char *user, size_t ulen, char *db, size_t dlen)
{
	char path[40], buf[PG_TITLE_MAX];
	size_t len = 0;
	int fd = -1, err;

	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	/* Until the title's NUL, EOF, or the buffer is full (a long title's end is its STATE). */
	while (len < sizeof(buf)) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto cleanup;
		}
		if (!r)
			break;
		len += (size_t)r;
		if (memchr(buf + len - r, '\0', (size_t)r))
			break;
	}
	err = pg_title__parse(buf, len, user, ulen, db, dlen);
cleanup:
	if (fd >= 0)
		close(fd);
	return err;
}
