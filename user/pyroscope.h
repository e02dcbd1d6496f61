/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --pyroscope URL: push each report's pprof profiles to a Pyroscope
 * server's ingest API from a worker thread, so an unreachable or slow
 * server never delays the tracing: the report loop only hands over a copy.
 */
#ifndef __PYROSCOPE_H
#define __PYROSCOPE_H

#include <stddef.h>
#include <stdint.h>

struct pyroscope;

/* One process's push of one report. Everything is copied. */
struct pyroscope_job {
	const char *app;		/* name prefix with labels: "python3{pid=4242,...}" */
	long from, until;		/* Unix seconds the profile covers */
	const void *heap, *fds;		/* gzipped pprof; fds may be NULL */
	size_t heap_len, fds_len;
};

/* Check URL (http or https with a host) and start the worker. 0, or
 * -EINVAL with the reason in err. */
int pyroscope__start(const char *url, struct pyroscope **out, char *err, size_t len);
/* Queue a push; one of the same app (the same process) that the worker
 * has not started yet is replaced (the newer profile supersedes it) and
 * counted as failed. */
void pyroscope__push(struct pyroscope *p, const struct pyroscope_job *job);
void pyroscope__counts(struct pyroscope *p, uint64_t *pushes, uint64_t *failures);
/* Finish the queued pushes (one attempt each, bounded by the request
 * timeout; after one fails the rest are dropped and counted), then stop
 * the worker. */
void pyroscope__stop(struct pyroscope *p);

#endif /* __PYROSCOPE_H */
