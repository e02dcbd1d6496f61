/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The stack table: userspace's mirror of the BPF stack store, a prefix
 * tree of frames (bpf/pyleak.h, struct stack_node). Each node's (code,
 * pos) is symbolized once, when BPF announces the node (code objects of
 * finished imports are freed within milliseconds and their addresses
 * reused); a stack's frames are rebuilt from its leaf. Nodes that no
 * outstanding allocation or fd references (directly or as an ancestor of
 * its leaf) are evicted from the kernel map.
 */
#ifndef __STACKS_H
#define __STACKS_H

#include <stdbool.h>
#include <stdint.h>
#include "symbolize.h"

struct stack_table;

struct stack_frames {
	int depth;		/* -1: unreadable */
	bool truncated;		/* deeper frames not kept (or their nodes were gone) */
	struct frame_info *frames;	/* innermost first */
	unsigned int version;	/* changes when the frames were rebuilt (a node re-symbolized) */
};

/* The store's size, for every report. */
struct stack_store {
	uint64_t nodes;		/* nodes in the kernel map */
	uint64_t peak_nodes;	/* the most it held (just before a report's eviction) */
	uint64_t max_nodes;	/* its capacity (--max-stacks) */
	uint64_t kernel_bytes;	/* kernel memory of the map and its ring buffer, as the kernel
				 * accounts it (fdinfo memlock) */
	uint64_t peak_kernel_bytes;	/* the same at peak_nodes */
	uint64_t mirrored;	/* nodes userspace holds (kernel ones + recently evicted) */
	uint64_t evicted;	/* nodes evicted from the kernel map so far */
};

/* nodes_fd: the BPF stack_nodes map; events_fd: its new-node ring buffer;
 * sym: the symbolizer of every node, unless a resolver is set. */
struct stack_table *stacks__new(int nodes_fd, int events_fd, struct symbolizer *sym);
/* Several processes: the symbolizer of the process a node belongs to
 * (NODE_PID(stack_node.depth_pid)), or NULL when its code can no longer be read (the
 * process exec'd or is gone: the frame is unreadable). */
typedef struct symbolizer *(*stacks_resolver)(void *ctx, uint32_t pid);
void stacks__set_resolver(struct stack_table *t, stacks_resolver fn, void *ctx);
void stacks__free(struct stack_table *t);
/* For poll(): readable when new nodes were announced. */
int stacks__poll_fd(struct stack_table *t);
/* Symbolize every node announced since the last call (also done now and
 * then by stacks__mark(), so that a long report does not fill the ring). */
int stacks__consume(struct stack_table *t);
/* The target exec'd: its code objects are gone, nodes announced from now
 * on cannot be symbolized (trying would spoil the symbolizer's cache). */
void stacks__hold(struct stack_table *t);
/* The frames of a stack id (built now if they were not yet); valid until
 * the next stacks__sweep() that finds the stack unreferenced. NULL for the
 * special ids. */
const struct stack_frames *stacks__get(struct stack_table *t, uint64_t id);
/* Garbage collection: mark every id still referenced, then sweep;
 * nodes_added is the BPF counter STAT_STACK_NODES. With resync (new-node events were lost), nodes BPF added unannounced are
 * found in the kernel map first, so they can be evicted too. */
void stacks__mark(struct stack_table *t, uint64_t id);
void stacks__sweep(struct stack_table *t, uint64_t nodes_added, bool resync);
/* nodes_added: the BPF counter STAT_STACK_NODES. */
void stacks__store(struct stack_table *t, uint64_t nodes_added, struct stack_store *out);

#endif /* __STACKS_H */
