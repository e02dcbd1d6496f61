/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --serve: an HTTP endpoint (libmicrohttpd, its own thread) that serves the
 * outputs of the last report from copies kept under a mutex. A request
 * never touches the BPF maps or waits for a collection, so scrapers cannot
 * slow the tracing.
 */
#ifndef __SERVE_H
#define __SERVE_H

#include <stddef.h>

enum serve_doc { SERVE_METRICS, SERVE_HEAP, SERVE_FDS, SERVE__DOCS };

struct server;

/* Listen on "[ADDR:]PORT" (127.0.0.1 without ADDR; "[v6]:PORT" for IPv6)
 * and say where on stderr. 0 or -errno with the reason in err. */
int server__start(const char *spec, struct server **out, char *err, size_t len);
/* Replace what a path serves (copied). */
void server__publish(struct server *s, enum serve_doc doc, const void *buf, size_t len);
void server__stop(struct server *s);

#endif /* __SERVE_H */
