/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which processes -a traces: the /proc scan at start, and the test each
 * process (found then, or announced by an exec later) must pass: the
 * selection options, then "maps a file named like CPython".
 */
#ifndef __DISCOVER_H
#define __DISCOVER_H

#include <stdbool.h>
#include <sys/types.h>

/* --comm, --exe, --cgroup, --container; NULL for those not given. */
struct discover_filter {
	const char *comm;	/* exact /proc/PID/comm */
	const char *exe;	/* fnmatch(3) glob on /proc/PID/exe's target */
	const char *cgroup;	/* prefix of the cgroup path */
	const char *container;	/* prefix of the container id */
};

enum discover_verdict {
	DISCOVER_NO = 0,	/* filtered out, not a Python, or gone */
	DISCOVER_YES,		/* passes the filters and maps a CPython */
	DISCOVER_LATER,		/* passes the filters; its libraries may not be mapped yet */
};

/* Every process's pid in /proc, ascending, except ours; -errno on failure. */
int discover__scan(pid_t **out, size_t *n);
/* Every descendant of root now (children first), for -p with children
 * already forked; -errno on failure. */
int discover__descendants(pid_t root, pid_t **out, size_t *n);
/* The verdict on pid; fresh: just exec'd (nothing mapped yet is no answer). */
enum discover_verdict discover__check(pid_t pid, const struct discover_filter *f, bool fresh);

#endif /* __DISCOVER_H */
