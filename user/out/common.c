// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What the file and endpoint outputs share: a buffer, labels, atomic files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "out.h"

static void obuf_grow(struct obuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->oom || b->len + need <= b->cap)
		return;
	while (cap < b->len + need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

void obuf__put(struct obuf *b, const void *p, size_t n)
{
	obuf_grow(b, n + 1);
	if (b->oom)
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;	/* text outputs can be read as a string */
}

void obuf__puts(struct obuf *b, const char *s)
{
	obuf__put(b, s, strlen(s));
}

void obuf__printf(struct obuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	obuf_grow(b, n + 1);
	if (b->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

void obuf__reset(struct obuf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->p)
		b->p[0] = 0;
}

void obuf__free(struct obuf *b)
{
	free(b->p);
	*b = (struct obuf){};
}

void out__labels(const struct snapshot *s, struct out_labels *l)
{
	const struct report_meta *m = s->meta;

	l->pid = m->pid;
	l->comm = m->comm ? m->comm : "";
	l->container = m->container ? m->container : "";
	l->python = m->python ? m->python : "";
}

bool out__has_data(const struct snapshot *s)
{
	return s->status != PROC_UNTRACEABLE;
}

const char *out__status_name(uint32_t status)
{
	switch (status) {
	case PROC_EXITED:
		return "exited";
	case PROC_UNTRACEABLE:
		return "untraceable";
	default:
		return "traced";
	}
}

int out__sibling(const char *path, const char *tag, char *buf, size_t len)
{
	const char *base = strrchr(path, '/'), *dot;
	int n;

	base = base ? base + 1 : path;
	/* the first dot after the name's first character: "a.pb.gz" keeps
	 * ".pb.gz" together; ".hidden" has no extension */
	dot = base[0] ? strchr(base + 1, '.') : NULL;
	if (dot)
		n = snprintf(buf, len, "%.*s.%s%s", (int)(dot - path), path, tag, dot);
	else
		n = snprintf(buf, len, "%s.%s", path, tag);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return snprintf(buf, len, ".") < (int)len ? 0 : -ENAMETOOLONG;
	if (slash == path)
		return snprintf(buf, len, "/") < (int)len ? 0 : -ENAMETOOLONG;
	return snprintf(buf, len, "%.*s", (int)(slash - path), path) < (int)len ? 0 : -ENAMETOOLONG;
}

int out__check_writable(const char *path)
{
	char dir[PATH_MAX];
	int err = dir_of(path, dir, sizeof(dir));
	struct stat st;

	if (err)
		return err;
	if (!*path || path[strlen(path) - 1] == '/' || (!stat(path, &st) && S_ISDIR(st.st_mode)))
		return -EISDIR;	/* rename() could not replace it */
	return access(dir, W_OK | X_OK) ? -errno : 0;
}

int out__write_file(const char *path, const void *buf, size_t len)
{
	char tmp[PATH_MAX];
	const char *p = buf;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		p += n;
		len -= n;
	}
	/* No fsync: a crash loses at most this report's file, and the
	 * previous one stays whole; fsync would stall the report loop. */
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
