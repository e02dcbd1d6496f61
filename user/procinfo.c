// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "procinfo.h"

#define ID_LEN 64

/* Read a small /proc file whole (NUL-terminated); bytes read or -errno. */
static ssize_t read_small(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64];
	ssize_t n, got = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	while (got < (ssize_t)len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	return got;
}

static bool hex_run(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * The innermost path component holding a 64-hex-digit id that is the whole
 * component or the whole of it between a runtime's prefix and ".scope":
 *   /docker/<id>                                   (Docker, cgroupfs driver)
 *   /system.slice/docker-<id>.scope                (Docker, systemd driver)
 *   /kubepods/burstable/pod<uid>/<id>              (Kubernetes, cgroupfs)
 *   /kubepods.slice/.../cri-containerd-<id>.scope  (containerd)
 *   /kubepods.slice/.../crio-<id>.scope            (CRI-O)
 *   /machine.slice/libpod-<id>.scope               (Podman)
 * The conmon helpers' scopes (crio-conmon-, libpod-conmon-) are not the
 * container.
 */
int procinfo__container_id(const char *path, char *out, size_t len)
{
	const char *end = path + strlen(path), *start, *p;

	if (len < ID_LEN + 1)
		return -EINVAL;
	while (end > path) {
		size_t n;

		for (start = end; start > path && start[-1] != '/'; start--)
			;
		n = end - start;
		if (n >= 6 && !strncmp(end - 6, ".scope", 6))
			n -= 6;
		/* the id is the component's tail: "<prefix>-<id>" or "<id>" */
		if (n >= ID_LEN && hex_run(start + n - ID_LEN, ID_LEN) &&
		    (n == ID_LEN || start[n - ID_LEN - 1] == '-')) {
			p = start + n - ID_LEN;
			if (!strstr(start, "conmon-") || strstr(start, "conmon-") > p) {
				memcpy(out, p, ID_LEN);
				out[ID_LEN] = 0;
				return 0;
			}
		}
		end = start > path ? start - 1 : path;
	}
	out[0] = 0;
	return -ENOENT;
}

static void read_cmdline(pid_t pid, struct procinfo *pi)
{
	char *buf = pi->cmdline;
	size_t len = sizeof(pi->cmdline);
	ssize_t n = read_small(pid, "cmdline", buf, len), i;

	/* arguments are NUL-separated, the last one NUL-terminated */
	for (i = 0; i < n - 1; i++)
		if (!buf[i])
			buf[i] = ' ';
	if (n >= (ssize_t)len - 1)
		memcpy(buf + len - 4, "...", 4);
}

static void read_status(pid_t pid, struct procinfo *pi)
{
	char buf[4096], *line, *save = NULL;

	if (read_small(pid, "status", buf, sizeof(buf)) <= 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "NSpid:", 6)) {
			char *last = strrchr(line, '\t');

			pi->ns_pid = atoi(last ? last + 1 : line + 6);
		}
	}
}

static void read_cgroup(pid_t pid, struct procinfo *pi)
{
	char buf[4096], *line, *save = NULL, *first = NULL;

	if (read_small(pid, "cgroup", buf, sizeof(buf)) <= 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!first)
			first = line;
		if (!strncmp(line, "0::", 3)) {
			first = line;
			break;
		}
	}
	if (!first)
		return;
	line = strchr(first, ':');
	line = line ? strchr(line + 1, ':') : NULL;
	snprintf(pi->cgroup, sizeof(pi->cgroup), "%s", line ? line + 1 : first);
	procinfo__container_id(pi->cgroup, pi->container, sizeof(pi->container));
}

int procinfo__read(pid_t pid, struct procinfo *pi)
{
	ssize_t n;

	memset(pi, 0, sizeof(*pi));
	pi->ns_pid = pid;
	n = read_small(pid, "comm", pi->comm, sizeof(pi->comm));
	if (n < 0)
		return (int)n;
	if (n > 0 && pi->comm[n - 1] == '\n')
		pi->comm[n - 1] = 0;
	read_cmdline(pid, pi);
	read_status(pid, pi);
	read_cgroup(pid, pi);
	return 0;
}
