// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/openat2.h>
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
		unsigned int major, minor;
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
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n",
			   &e->start, &e->end, perms, &e->offset, &major, &minor, &e->inode,
			   &pathpos) < 7)
			continue;
		e->dev = makedev(major, minor);
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

/* Reopen an O_PATH fd for reading if it is a regular file; closes it. */
static int reopen_regular(int pfd, const struct map_entry *e)
{
	struct stat st;
	char fn[64];
	int fd;

	if (fstat(pfd, &st)) {
		fd = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (e && (st.st_ino != e->inode || st.st_dev != e->dev))) {
		fd = S_ISREG(st.st_mode) ? -ENOENT : -EINVAL;
		goto out;
	}
	/* Opening an O_PATH fd again through /proc opens that same inode,
	 * whatever its name points to now. */
	snprintf(fn, sizeof(fn), "/proc/self/fd/%d", pfd);
	fd = open(fn, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		fd = -errno;
out:
	close(pfd);
	return fd;
}

int proc__open_regular(const char *path)
{
	/* O_PATH opens nothing: no FIFO waits for a writer, no driver runs. */
	int pfd = open(path, O_PATH | O_CLOEXEC);

	return pfd < 0 ? -errno : reopen_regular(pfd, NULL);
}

int proc__open_mapped(pid_t pid, const struct map_entry *e)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	char fn[96];
	int pfd, root, fd;

	/* The mapping's own file: needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE. */
	snprintf(fn, sizeof(fn), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, e->start, e->end);
	pfd = open(fn, O_PATH | O_CLOEXEC);
	if (pfd >= 0) {
		fd = reopen_regular(pfd, NULL);
		if (fd != -ENOENT)
			return fd;
	}
	if (pfd < 0 && errno != EPERM && errno != EACCES)
		return -errno;
	/* Without it: the name inside the target's root, resolved there (a
	 * container's absolute symlinks are the container's) but never
	 * through a symlink at its end or a /proc magic link, and only if it
	 * is the inode maps shows (a deleted file's name is not). */
	if (e->path[0] != '/')
		return -ENOENT;
	snprintf(fn, sizeof(fn), "/proc/%d/root", pid);
	root = open(fn, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	pfd = syscall(SYS_openat2, root, e->path, &how, sizeof(how));
	fd = pfd < 0 ? -errno : reopen_regular(pfd, e);
	close(root);
	if (fd == -ELOOP || fd == -EXDEV)
		fd = -EINVAL;
	return fd;
}

/* fds behind the "/proc/self/fd/N" paths handed out, most recent last. */
#define MAX_PATH_FDS 64

static struct path_fd {
	pid_t pid;
	uint64_t start, inode;
	dev_t dev;
	int fd;
} path_fds[MAX_PATH_FDS];
static int npath_fds;

int proc__mapped_path(pid_t pid, const struct map_entry *e, char *out, size_t len)
{
	struct path_fd pf = { pid, e->start, e->inode, e->dev, -1 };
	int i;

	for (i = 0; i < npath_fds; i++)
		if (path_fds[i].pid == pid && path_fds[i].start == e->start &&
		    path_fds[i].inode == e->inode && path_fds[i].dev == e->dev)
			break;
	if (i < npath_fds) {
		pf = path_fds[i];
		memmove(&path_fds[i], &path_fds[i + 1], (npath_fds - i - 1) * sizeof(pf));
		npath_fds--;
	} else {
		pf.fd = proc__open_mapped(pid, e);
		if (pf.fd < 0) {
			if (len)
				out[0] = '\0';
			return pf.fd;
		}
	}
	/* The least recently used goes: its path was used long ago. */
	if (npath_fds == MAX_PATH_FDS) {
		close(path_fds[0].fd);
		memmove(&path_fds[0], &path_fds[1], (npath_fds - 1) * sizeof(pf));
		npath_fds--;
	}
	path_fds[npath_fds++] = pf;
	snprintf(out, len, "/proc/self/fd/%d", pf.fd);
	return 0;
}

void proc__root_path(pid_t pid, const char *path, char *out, size_t len)
{
	struct procmaps m;
	int i;

	if (!procmaps__read(pid, &m)) {
		for (i = 0; i < m.n; i++)
			if (!strcmp(m.e[i].path, path))
				break;
		if (i < m.n) {
			proc__mapped_path(pid, &m.e[i], out, len);
			procmaps__free(&m);
			return;
		}
		procmaps__free(&m);
	}
	snprintf(out, len, "/proc/%d/root%s", pid, path);
}

void proc__close_paths(void)
{
	while (npath_fds > 0)
		close(path_fds[--npath_fds].fd);
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
