// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "report/report_store.h"

void report_store__init(struct report_store *st, const char *dir)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
	st->dir = dir;
}

void report_store__destroy(struct report_store *st)
{
	for (int i = 0; i < REPORT_KEEP; i++)
		free(st->ring[i]);
	pthread_mutex_destroy(&st->lock);
	memset(st->ring, 0, sizeof(st->ring));
}

int report_store__write_file(const char *dir, const char *name, const char *json)
{
	char tmp[4096], path[4096];
	size_t len = strlen(json);
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len && !err;) {
		ssize_t w = write(fd, json + off, len - off);

		if (w < 0 && errno != EINTR)
			err = -errno;
		else if (w > 0)
			off += w;
	}
	if (!err && write(fd, "\n", 1) != 1)
		err = -EIO;
	/* a reader (or a crash) sees the old set of files or the new one, never half a file */
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static int is_report(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return !strncmp(d->d_name, "report-", 7) && n > 12 && !strcmp(d->d_name + n - 5, ".json");
}

/* Only the newest REPORT_KEEP report files stay (their names sort by time). */
static void prune(const char *dir)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, is_report, alphasort);

	for (int i = 0; i < n; i++) {
		if (i < n - REPORT_KEEP) {
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			unlink(path);
		}
		free(names[i]);
	}
	free(names);
}

int report_store__add(struct report_store *st, char *json, int64_t unix_ms)
{
	int err = 0;

	if (st->dir) {
		time_t t = (time_t)(unix_ms / 1000);
		char name[64], stamp[32];
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
		snprintf(name, sizeof(name), "report-%s.%03dZ.json", stamp, (int)(unix_ms % 1000));
		err = report_store__write_file(st->dir, name, json);
		if (!err)
			prune(st->dir);
	}
	pthread_mutex_lock(&st->lock);
	free(st->ring[st->head]);
	st->ring[st->head] = json;
	st->head = (st->head + 1) % REPORT_KEEP;
	if (st->n < REPORT_KEEP)
		st->n++;
	st->added++;
	if (err)
		st->write_errors++;
	pthread_mutex_unlock(&st->lock);
	return err;
}

char *report_store__get(struct report_store *st, int n, int *count)
{
	char *copy = NULL;

	pthread_mutex_lock(&st->lock);
	*count = st->n;
	if (n >= 0 && n < st->n)
		copy = strdup(st->ring[(st->head + REPORT_KEEP - 1 - n) % REPORT_KEEP]);
	pthread_mutex_unlock(&st->lock);
	return copy;
}
