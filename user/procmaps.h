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
	dev_t dev;		/* the device of inode, as maps gives it */
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
/*
 * An O_RDONLY fd of the file mapped at e, or -errno. Never the file a
 * name now points to: the target's owner chooses its names (a deleted
 * file's "/x/python3 (deleted)" can be recreated as a FIFO, a device or a
 * symlink to /etc/shadow). Through /proc/PID/map_files (the mapping's own
 * file, deleted or replaced on disk too), else the name resolved inside
 * the target's root with no symlink and no magic link followed, checked
 * to be the mapped inode. Only a regular file is opened, and never in a
 * way that blocks. -ENOENT: the mapped file cannot be reached.
 */
int proc__open_mapped(pid_t pid, const struct map_entry *e);
/*
 * The path of a file the target maps, for open() and for attaching
 * uprobes: "/proc/self/fd/N" of an fd from proc__open_mapped() kept open
 * (by the target's view of its name, path as in maps), so that the file
 * opened and probed is the mapped one. A path the target does not map
 * (our own /proc/PID/exe) is given through /proc/PID/root as before; a
 * mapped file that cannot be opened safely gives "" (open() fails).
 */
void proc__root_path(pid_t pid, const char *path, char *out, size_t len);
/* The same for a mapping already read: 0, or -errno with out "". */
int proc__mapped_path(pid_t pid, const struct map_entry *e, char *out, size_t len);
/* Open a file for reading that must be a regular file: no FIFO, device or
 * socket is opened (they could block or have effects), O_NONBLOCK.
 * Returns the fd or -errno (-EINVAL: not a regular file). */
int proc__open_regular(const char *path);
/* Drop the fds proc__root_path() keeps. */
void proc__close_paths(void);
/* Read the target's memory; returns 0 only when all of len was read. */
int proc__read(pid_t pid, uint64_t addr, void *buf, size_t len);
/* Read a NUL-terminated string of at most len-1 bytes. */
int proc__read_str(pid_t pid, uint64_t addr, char *buf, size_t len);

#endif /* __PROCMAPS_H */
