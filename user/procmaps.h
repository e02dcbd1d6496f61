/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The target seen from /proc: its mappings, files and memory. */
#ifndef __PROCMAPS_H
#define __PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct map_entry {
	uint64_t start, end, offset, inode;
	bool exec;
	char path[4096];	/* as the target sees it; "" when anonymous */
};

struct procmaps {
	struct map_entry *e;
	int n;
};

int procmaps__read(pid_t pid, struct procmaps *m);
void procmaps__free(struct procmaps *m);
/* The mapping containing addr, or NULL. */
const struct map_entry *procmaps__find(const struct procmaps *m, uint64_t addr);
/* Start of the lowest-offset mapping of path (the module's first page). */
int procmaps__module_start(const struct procmaps *m, const char *path, uint64_t *start);
/* The path of a target file as we can open it: through /proc/PID/root, so
 * a container's files are the container's. */
void proc__root_path(pid_t pid, const char *path, char *out, size_t len);
/* Read the target's memory; returns 0 only when all of len was read. */
int proc__read(pid_t pid, uint64_t addr, void *buf, size_t len);
/* Read a NUL-terminated string of at most len-1 bytes. */
int proc__read_str(pid_t pid, uint64_t addr, char *buf, size_t len);

#endif /* __PROCMAPS_H */
