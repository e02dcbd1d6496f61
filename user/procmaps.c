// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "procmaps.h"

int procmaps__read(pid_t pid, struct procmaps *m)
{
	char fn[64], line[4096 + 256];
	int cap = 0, err = 0;
	FILE *f;

	m->e = NULL;
	m->n = 0;
	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct map_entry *e;
		char perms[8];
		int pathpos = 0;

		if (m->n == cap) {
			void *p = realloc(m->e, (cap = cap ? cap * 2 : 256) * sizeof(*m->e));

			if (!p) {
				err = -ENOMEM;
				break;
			}
			m->e = p;
		}
		e = &m->e[m->n];
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*x:%*x %" SCNu64 " %n",
			   &e->start, &e->end, perms, &e->offset, &e->inode, &pathpos) < 5)
			continue;
		e->exec = perms[2] == 'x';
		e->path[0] = '\0';
		if (pathpos && line[pathpos] == '/') {
			line[strcspn(line, "\n")] = '\0';
			snprintf(e->path, sizeof(e->path), "%s", line + pathpos);
		}
		m->n++;
	}
	fclose(f);
	if (err)
		procmaps__free(m);
	return err;
}

void procmaps__free(struct procmaps *m)
{
	free(m->e);
	m->e = NULL;
	m->n = 0;
}

const struct map_entry *procmaps__find(const struct procmaps *m, uint64_t addr)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (addr >= m->e[i].start && addr < m->e[i].end)
			return &m->e[i];
	return NULL;
}

int procmaps__module_start(const struct procmaps *m, const char *path, uint64_t *start)
{
	const struct map_entry *best = NULL;
	int i;

	for (i = 0; i < m->n; i++) {
		if (strcmp(m->e[i].path, path))
			continue;
		if (!best || m->e[i].offset < best->offset)
			best = &m->e[i];
	}
	if (!best)
		return -ENOENT;
	*start = best->start - best->offset;
	return 0;
}

void proc__root_path(pid_t pid, const char *path, char *out, size_t len)
{
	snprintf(out, len, "/proc/%d/root%s", pid, path);
}

int proc__read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	char fn[64];
	ssize_t r;
	int fd;

	r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (r == (ssize_t)len)
		return 0;
	/* process_vm_readv stops at the first unreadable page; so does /proc/PID/mem,
	 * but it also works where the former is filtered (seccomp). */
	snprintf(fn, sizeof(fn), "/proc/%d/mem", pid);
	fd = open(fn, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = pread(fd, buf, len, (off_t)addr);
	close(fd);
	return r == (ssize_t)len ? 0 : -EFAULT;
}

int proc__read_str(pid_t pid, uint64_t addr, char *buf, size_t len)
{
	size_t got = 0;

	/* Page by page: the string may end just before an unmapped page. */
	while (got < len - 1) {
		size_t chunk = 4096 - ((addr + got) & 4095);

		if (chunk > len - 1 - got)
			chunk = len - 1 - got;
		if (proc__read(pid, addr + got, buf + got, chunk))
			return -EFAULT;
		if (memchr(buf + got, '\0', chunk))
			return 0;
		got += chunk;
	}
	buf[len - 1] = '\0';
	return 0;
}
