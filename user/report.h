/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One report: collect a snapshot (user/collect.c), render it in every output asked for. */
#ifndef __REPORT_H
#define __REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include "snapshot.h"

struct stack_table;
struct reporter;

struct report_opts {
	int top;			/* -T */
	int frames;			/* --frames, 0 for all */
	uint64_t min_age_ns;		/* -o */
	bool json;
};

/* fds_fd: the BPF fds map, or -1 without fd tracking. */
struct reporter *report__new(const struct report_opts *o, const struct report_meta *m,
			     struct stack_table *stacks, int allocs_fd, int fds_fd, int stats_fd);
void report__free(struct reporter *r);
/* Collect and print one report; final adds exit_reason. */
int report__print(struct reporter *r, bool final, const char *exit_reason);

#endif /* __REPORT_H */
