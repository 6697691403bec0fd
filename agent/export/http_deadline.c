// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include "export/http_deadline.h"

#define CHECK_EVERY_NS (200 * 1000000ULL)

struct http_deadline {
	struct http_deadline *prev, *next;
	int fd;
	bool cut;
	uint64_t deadline;
};

struct http_deadlines {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	struct http_deadline *head;
	uint64_t timeout_ns;
	uint64_t cuts;
	bool stop;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void *reaper(void *arg)
{
	struct http_deadlines *d = arg;
	struct timespec until;
	uint64_t now, t;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		now = now_ns();
		for (struct http_deadline *e = d->head; e; e = e->next) {
			if (e->cut || now < e->deadline)
				continue;
			/* The descriptor is still the connection's: remove() runs before close. */
			shutdown(e->fd, SHUT_RDWR);
			e->cut = true;
			d->cuts++;
		}
		/* No connection, nothing to watch: sleep until one comes (no idle wake-ups). */
		if (!d->head) {
			pthread_cond_wait(&d->wake, &d->lock);
			continue;
		}
		t = now + CHECK_EVERY_NS;
		until = (struct timespec){ .tv_sec = (time_t)(t / 1000000000ULL),
					   .tv_nsec = (long)(t % 1000000000ULL) };
		pthread_cond_timedwait(&d->wake, &d->lock, &until);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

struct http_deadlines *http_deadlines__start(uint64_t timeout_ns)
{
	struct http_deadlines *d = calloc(1, sizeof(*d));
	pthread_condattr_t attr;
	int err;

	if (!d)
		return NULL;
	d->timeout_ns = timeout_ns;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wake, &attr);
	pthread_condattr_destroy(&attr);
	err = pthread_create(&d->thread, NULL, reaper, d);
	if (err) {
		pthread_cond_destroy(&d->wake);
		pthread_mutex_destroy(&d->lock);
		free(d);
		errno = err;
		return NULL;
	}
	return d;
}

void http_deadlines__stop(struct http_deadlines *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	while (d->head) {
		struct http_deadline *e = d->head;

		d->head = e->next;
		free(e);
	}
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

struct http_deadline *http_deadlines__add(struct http_deadlines *d, int fd)
{
	struct http_deadline *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->fd = fd;
	pthread_mutex_lock(&d->lock);
	e->deadline = now_ns() + d->timeout_ns;
	e->next = d->head;
	if (d->head)
		d->head->prev = e;
	else
		pthread_cond_signal(&d->wake);
	d->head = e;
	pthread_mutex_unlock(&d->lock);
	return e;
}

void http_deadlines__rearm(struct http_deadlines *d, struct http_deadline *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&d->lock);
	e->deadline = now_ns() + d->timeout_ns;
	pthread_mutex_unlock(&d->lock);
}

void http_deadlines__remove(struct http_deadlines *d, struct http_deadline *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&d->lock);
	if (e->prev)
		e->prev->next = e->next;
	else
		d->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	pthread_mutex_unlock(&d->lock);
	free(e);
}

uint64_t http_deadlines__cuts(struct http_deadlines *d)
{
	uint64_t n;

	pthread_mutex_lock(&d->lock);
	n = d->cuts;
	pthread_mutex_unlock(&d->lock);
	return n;
}
