// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* -a: which processes to look at (README: tracing every Python). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "discover.h"
#include "procinfo.h"
#include "procmaps.h"

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int discover__scan(pid_t **out, size_t *n)
{
	DIR *d = opendir("/proc");
	size_t cap = 0;
	pid_t *v = NULL, self = getpid();
	struct dirent *de;

	*out = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (!isdigit((unsigned char)de->d_name[0]) || *end || pid <= 0 || pid == self)
			continue;
		if (*n == cap) {
			pid_t *nv = realloc(v, (cap = cap ? 2 * cap : 256) * sizeof(*v));

			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[(*n)++] = pid;
	}
	closedir(d);
	qsort(v, *n, sizeof(*v), cmp_pid);
	*out = v;
	return 0;
}

/* A CPython maps its interpreter: python3.11, libpython3.12.so.1.0 (uwsgi,
 * embedders). A static embedder under another name is not found (-p
 * traces it). Anything found is then inspected for real (user/python.c). */
static bool python_named(const char *path)
{
	const char *b = strrchr(path, '/');

	b = b ? b + 1 : path;
	return !strncmp(b, "python", 6) || !strncmp(b, "libpython", 9);
}

enum discover_verdict discover__check(pid_t pid, const struct discover_filter *f, bool fresh)
{
	struct procinfo pi;
	struct procmaps m;
	char fn[64], exe[4096];
	bool found = false;
	ssize_t len;
	int i;

	if (procinfo__read(pid, &pi))
		return DISCOVER_NO;
	if (f->comm && strcmp(pi.comm, f->comm))
		return DISCOVER_NO;
	if (f->cgroup && strncmp(pi.cgroup, f->cgroup, strlen(f->cgroup)))
		return DISCOVER_NO;
	if (f->container && (!pi.container[0] ||
			     strncmp(pi.container, f->container, strlen(f->container))))
		return DISCOVER_NO;
	snprintf(fn, sizeof(fn), "/proc/%d/exe", pid);
	len = readlink(fn, exe, sizeof(exe) - 1);
	if (len < 0)
		return DISCOVER_NO;	/* a kernel thread, or gone */
	exe[len] = '\0';
	if (f->exe && fnmatch(f->exe, exe, 0))
		return DISCOVER_NO;
	if (python_named(exe))
		return DISCOVER_YES;
	if (procmaps__read(pid, &m))
		return DISCOVER_NO;
	for (i = 0; i < m.n && !found; i++)
		found = m.e[i].path[0] == '/' && python_named(m.e[i].path);
	procmaps__free(&m);
	return found ? DISCOVER_YES : fresh ? DISCOVER_LATER : DISCOVER_NO;
}

static pid_t parent_of(pid_t pid)
{
	char fn[64], buf[512], *p;
	int ppid = 0;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/stat", pid);
	f = fopen(fn, "re");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* pid (comm) state ppid ...: comm may hold spaces and parentheses */
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return 0;
	return ppid;
}

int discover__descendants(pid_t root, pid_t **out, size_t *n)
{
	pid_t *all, *par, *v;
	size_t nall, i, k = 0, done = 0;
	int ret = discover__scan(&all, &nall);

	*out = NULL;
	*n = 0;
	if (ret)
		return ret;
	par = calloc(nall + 1, sizeof(*par));
	v = calloc(nall + 1, sizeof(*v));
	if (!par || !v) {
		free(all);
		free(par);
		free(v);
		return -ENOMEM;
	}
	for (i = 0; i < nall; i++)
		par[i] = parent_of(all[i]);
	/* breadth first: children of root, then theirs */
	v[k++] = root;
	while (done < k) {
		pid_t p = v[done++];

		for (i = 0; i < nall; i++)
			if (par[i] == p && all[i] != root)
				v[k++] = all[i];
	}
	memmove(v, v + 1, (k - 1) * sizeof(*v));
	*out = v;
	*n = k - 1;
	free(all);
	free(par);
	return 0;
}
