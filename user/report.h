/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Periodic reports: aggregate outstanding allocations and fds by stack, rank, print. */
#ifndef __REPORT_H
#define __REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct stack_table;
struct reporter;
struct census;

struct report_opts {
	int top;			/* -T */
	uint64_t min_age_ns;		/* -o */
	bool json;
};

/* What is being traced, for every report's header. */
struct report_meta {
	pid_t pid;
	const char *python;		/* "3.11.7" */
	const char *executable;
	const char *coverage;		/* "full" | "partial" */
	const char *coverage_note;
	const char *allocator;		/* "pymalloc" | "malloc" | "hooked" */
	int functions, emulated;	/* probed functions, on emulated instructions */
	bool memory, fds;		/* what is traced (--fds-only, --no-fds) */
	const char *fd_tracepoints;	/* "syscalls" | "raw" | NULL */
};

/* fds_fd: the BPF fds map, or -1 without fd tracking; with it, the fds
 * open now without a record are taken as open before tracing. */
struct reporter *report__new(const struct report_opts *o, const struct report_meta *m,
			     struct stack_table *stacks, int allocs_fd, int fds_fd, int stats_fd);
void report__free(struct reporter *r);
/* Print the heap census's last result with each report (user/census.h). */
void report__set_census(struct reporter *r, struct census *c);
/* Read the maps and print one report; final adds exit_reason. */
int report__print(struct reporter *r, bool final, const char *exit_reason);

#endif /* __REPORT_H */
