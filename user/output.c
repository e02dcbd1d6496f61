// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "output.h"

/* Unwritten output kept for a slow reader; past it reports are dropped. */
#define MAX_PENDING (16 << 20)

struct chunk {
	char *buf;
	size_t len;
	struct chunk *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* work queued, or the queue emptied */
	struct chunk *head, *tail;
	size_t pending;			/* bytes queued or being written */
	bool busy;			/* the writer holds a chunk */
	bool started;
	int err;
	uint64_t dropped;
	int fd;
	FILE *saved, *mem;
	char *membuf;
	size_t memlen;
} out = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.fd = 1,
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= w;
	}
	return 0;
}

static void drop_queue(void)
{
	while (out.head) {
		struct chunk *c = out.head;

		out.head = c->next;
		out.pending -= c->len;
		free(c->buf);
		free(c);
	}
	out.tail = NULL;
}

static void *writer(void *arg)
{
	sigset_t all;

	/* Signals are the main thread's (its signalfd, its second-Ctrl-C handler). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&out.lock);
	for (;;) {
		struct chunk *c;
		int err;

		while (!out.head)
			pthread_cond_wait(&out.cond, &out.lock);
		c = out.head;
		out.head = c->next;
		if (!out.head)
			out.tail = NULL;
		out.busy = true;
		pthread_mutex_unlock(&out.lock);
		/* the one place that may block: a reader that does not read */
		err = write_all(out.fd, c->buf, c->len);
		pthread_mutex_lock(&out.lock);
		out.busy = false;
		out.pending -= c->len;
		free(c->buf);
		free(c);
		if (err && !out.err)
			out.err = err;
		if (out.err)
			drop_queue();
		pthread_cond_broadcast(&out.cond);
	}
	return NULL;
}

int output__init(int fd)
{
	pthread_t t;
	int ret;

	out.fd = fd;
	ret = pthread_create(&t, NULL, writer, NULL);
	if (ret)
		return -ret;
	pthread_detach(t);
	out.started = true;
	return 0;
}

void output__begin(void)
{
	if (!out.started || out.mem)
		return;
	out.membuf = NULL;
	out.memlen = 0;
	out.mem = open_memstream(&out.membuf, &out.memlen);
	if (!out.mem)
		return;
	/* glibc's stdout is an assignable variable: the renderers' printf
	 * calls land in memory without knowing it. */
	out.saved = stdout;
	stdout = out.mem;
}

int output__end(void)
{
	struct chunk *c;
	bool warn_drop = false;
	int err;

	if (!out.mem)
		return output__error();
	stdout = out.saved;
	fclose(out.mem);
	out.mem = NULL;
	c = malloc(sizeof(*c));
	pthread_mutex_lock(&out.lock);
	if (c && !out.err && out.pending + out.memlen <= MAX_PENDING && out.memlen) {
		*c = (struct chunk){ out.membuf, out.memlen, NULL };
		if (out.tail)
			out.tail->next = c;
		else
			out.head = c;
		out.tail = c;
		out.pending += c->len;
		pthread_cond_broadcast(&out.cond);
		c = NULL;
		out.membuf = NULL;
	} else if (!out.err && out.memlen) {
		warn_drop = !out.dropped++;
	}
	err = out.err;
	pthread_mutex_unlock(&out.lock);
	free(c);
	free(out.membuf);
	out.membuf = NULL;
	if (warn_drop)
		warn("stdout is not being read: reports are dropped until it is (counted in "
		     "the final message)");
	return err;
}

int output__error(void)
{
	int err;

	pthread_mutex_lock(&out.lock);
	err = out.err;
	pthread_mutex_unlock(&out.lock);
	return err;
}

uint64_t output__dropped(void)
{
	uint64_t n;

	pthread_mutex_lock(&out.lock);
	n = out.dropped;
	pthread_mutex_unlock(&out.lock);
	return n;
}

int output__drain(double timeout)
{
	struct timespec until;
	int ret = 0;

	if (!out.started)
		return 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)timeout;
	until.tv_nsec += (long)((timeout - (time_t)timeout) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&out.lock);
	while ((out.head || out.busy) && !out.err && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&out.cond, &out.lock, &until);
	ret = out.err ? out.err : (out.head || out.busy) ? -ETIMEDOUT : 0;
	pthread_mutex_unlock(&out.lock);
	return ret;
}
