/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Allocator probes: one table of what to probe, one loop that attaches it. */
#ifndef __ATTACH_H
#define __ATTACH_H

#include <stdbool.h>
#include <stddef.h>

struct pyleak_bpf;
struct pyproc;

#define MAX_LINKS 64

struct probes {
	struct bpf_link *links[MAX_LINKS];
	int nlinks;
	int functions;		/* distinct functions probed */
	int emulated;		/* ... whose probe sits on an emulated instruction */
	bool python_tables;	/* the object/mem allocator tables are probed */
};

/*
 * Attach the allocator probes for p. partial: only what reaches libc
 * (forced by the user, or because pymalloc is inlined). Free probes go in
 * first so no block is seen allocated and then missed being freed.
 */
int attach__allocators(struct pyleak_bpf *skel, const struct pyproc *p, bool partial,
		       struct probes *pr, char *err, size_t errlen);
/* An entry uprobe of prog at symbol's entry in the file (target view). */
int attach__symbol(struct probes *pr, struct bpf_program *prog, int pid, const char *path,
		   const char *symbol, char *err, size_t errlen);
void attach__destroy(struct probes *pr);

#endif /* __ATTACH_H */
