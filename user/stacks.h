/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The stack table: Python stacks symbolized as soon as BPF first records
 * them (code objects of finished imports are freed within milliseconds and
 * their addresses reused), and the BPF stacks map kept to the stacks that
 * outstanding allocations or fds still reference.
 */
#ifndef __STACKS_H
#define __STACKS_H

#include <stdbool.h>
#include <stdint.h>
#include "symbolize.h"

struct stack_table;

struct stack_frames {
	int depth;		/* -1: unreadable */
	bool truncated;
	struct frame_info *frames;
};

/* stacks_fd: the BPF stacks map; events_fd: its new-stack ring buffer. */
struct stack_table *stacks__new(int stacks_fd, int events_fd, struct symbolizer *sym);
void stacks__free(struct stack_table *t);
/* For poll(): readable when new stacks were announced. */
int stacks__poll_fd(struct stack_table *t);
/* Symbolize every stack announced since the last call. */
int stacks__consume(struct stack_table *t);
/* The frames of a stack id (symbolized now if it was not yet). */
const struct stack_frames *stacks__get(struct stack_table *t, uint64_t id);
/* Garbage collection: mark every id still referenced, then sweep. */
void stacks__mark(struct stack_table *t, uint64_t id);
void stacks__sweep(struct stack_table *t);

#endif /* __STACKS_H */
