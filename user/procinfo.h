/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Who a process is, for report labels: its comm, command line, pid in its
 * own pid namespace, cgroup and the container id the cgroup path names (as
 * Docker, containerd, CRI-O and Podman name them).
 */
#ifndef __PROCINFO_H
#define __PROCINFO_H

#include <stddef.h>
#include <sys/types.h>

struct procinfo {
	char comm[64];
	char cmdline[256];	/* arguments joined by spaces, truncated with "..." */
	pid_t ns_pid;		/* innermost NSpid (== pid outside containers) */
	char cgroup[512];	/* the cgroup v2 path ("0::..."), or the first v1 one */
	char container[65];	/* 64 hex digits, or "" */
};

/* Fill what /proc/PID says; fields it does not have stay empty. -errno
 * when the process is gone. */
int procinfo__read(pid_t pid, struct procinfo *pi);
/* The container id in a cgroup path, or -ENOENT. out holds 65 bytes. */
int procinfo__container_id(const char *cgroup_path, char *out, size_t len);

#endif /* __PROCINFO_H */
