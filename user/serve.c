// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The --serve endpoint: /metrics (Prometheus), /debug/pprof/heap and
 * /debug/pprof/fds (the paths of Go's net/http/pprof, so `go tool pprof
 * http://HOST:PORT/debug/pprof/heap` and pull-mode profilers work as with a
 * Go service). Other paths get 404, methods other than GET and HEAD 405.
 * Before the first report the documents answer 503 with Retry-After.
 *
 * libmicrohttpd parses HTTP; we open the listening socket ourselves so a
 * port in use is reported as such, and with SOCK_CLOEXEC so a launched
 * command does not inherit it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>
#include "log.h"
#include "serve.h"

struct doc {
	char *buf;
	size_t len;
	bool ready;
};

struct server {
	struct MHD_Daemon *d;
	int fd;
	pthread_mutex_t lock;
	struct doc docs[SERVE__DOCS];
};

static const struct {
	const char *path, *type;
} paths[SERVE__DOCS] = {
	[SERVE_METRICS] = { "/metrics", "text/plain; version=0.0.4; charset=utf-8" },
	[SERVE_HEAP] = { "/debug/pprof/heap", "application/octet-stream" },
	[SERVE_FDS] = { "/debug/pprof/fds", "application/octet-stream" },
};

static const char index_text[] =
	"pyleak-bpf\n"
	"/metrics            Prometheus text format\n"
	"/debug/pprof/heap   pprof heap profile (outstanding memory by Python stack)\n"
	"/debug/pprof/fds    pprof profile of open fds by Python stack\n";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *type,
			     const void *buf, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)buf, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	if (type == paths[SERVE_HEAP].type)
		MHD_add_response_header(r, "Content-Disposition", "attachment; filename=\"profile\"");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	static const char text[] = "text/plain; charset=utf-8";
	struct server *s = cls;
	enum MHD_Result ret;
	int k;

	(void)version;
	(void)upload;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		/* a body (POST) arrives in further calls: refuse at the first */
		*upload_len = 0;
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, "method not allowed\n", 19);
	}
	*state = NULL;
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, text, index_text, sizeof(index_text) - 1);
	for (k = 0; k < SERVE__DOCS; k++)
		if (!strcmp(url, paths[k].path))
			break;
	if (k == SERVE__DOCS)
		return reply(c, MHD_HTTP_NOT_FOUND, text, "not found\n", 10);
	pthread_mutex_lock(&s->lock);
	if (s->docs[k].ready)
		ret = reply(c, MHD_HTTP_OK, paths[k].type, s->docs[k].buf, s->docs[k].len);
	else
		ret = reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text, "no report yet\n", 14);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* "[ADDR:]PORT", "[::1]:PORT" -> host (NULL: loopback) and port. */
static int parse_spec(const char *spec, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon;

	*host = 0;
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= hlen)
			return -EINVAL;
		snprintf(host, hlen, "%.*s", (int)(end - spec - 1), spec + 1);
		colon = end + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon) {
			if ((size_t)(colon - spec) >= hlen)
				return -EINVAL;
			snprintf(host, hlen, "%.*s", (int)(colon - spec), spec);
		}
	}
	snprintf(port, plen, "%s", colon ? colon + 1 : spec);
	if (!*port || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535 ||
	    (colon && !*host))
		return -EINVAL;
	return 0;
}

static int listen_on(const char *spec, int *fdp, char *where, size_t wlen, char *err, size_t len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
			*res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[16], nhost[INET6_ADDRSTRLEN], nport[8];
	int fd, one = 1, ret;

	if (parse_spec(spec, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, len, "--serve '%s': expected [ADDR:]PORT (PORT 0 to 65535)", spec);
		return -EINVAL;
	}
	ret = getaddrinfo(*host ? host : "127.0.0.1", port, &hints, &res);
	if (ret) {
		snprintf(err, len, "--serve %s: %s", spec, gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 64)) {
		ret = -errno;
		close(fd);
		goto fail;
	}
	freeaddrinfo(res);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	getnameinfo((struct sockaddr *)&ss, sl, nhost, sizeof(nhost), nport, sizeof(nport),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(where, wlen, ss.ss_family == AF_INET6 ? "http://[%s]:%s/" : "http://%s:%s/",
		 nhost, nport);
	*fdp = fd;
	return 0;
fail:
	snprintf(err, len, "--serve %s: cannot listen: %s", spec, strerror(-ret));
	freeaddrinfo(res);
	return ret;
}

int server__start(const char *spec, struct server **out, char *err, size_t len)
{
	struct server *s = calloc(1, sizeof(*s));
	char where[300];
	int ret;

	if (!s) {
		snprintf(err, len, "--serve: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	ret = listen_on(spec, &s->fd, where, sizeof(where), err, len);
	if (ret) {
		free(s);
		return ret;
	}
	/* One polling thread: requests are cheap copies of ready buffers. */
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, s,
				MHD_OPTION_LISTEN_SOCKET, s->fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, len, "--serve %s: cannot start the HTTP server", spec);
		close(s->fd);
		free(s);
		return -EIO;
	}
	fprintf(stderr, "pyleak-bpf: serving %smetrics, %sdebug/pprof/heap and "
		"%sdebug/pprof/fds\n", where, where, where);
	*out = s;
	return 0;
}

void server__publish(struct server *s, enum serve_doc doc, const void *buf, size_t len)
{
	char *copy = malloc(len ? len : 1);

	if (!copy)
		return;		/* the previous document stays served */
	memcpy(copy, buf, len);
	pthread_mutex_lock(&s->lock);
	free(s->docs[doc].buf);
	s->docs[doc] = (struct doc){ copy, len, true };
	pthread_mutex_unlock(&s->lock);
}

void server__stop(struct server *s)
{
	int k;

	if (!s)
		return;
	MHD_stop_daemon(s->d);	/* closes the listening socket it was given */
	for (k = 0; k < SERVE__DOCS; k++)
		free(s->docs[k].buf);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
