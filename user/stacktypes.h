/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a memory stack's outstanding blocks are, estimated from a few of
 * them read at report time: "4.1 MiB in 3869 allocations (types of 8
 * sampled: bytes 8)". While the collector reads the allocation map, each
 * stack keeps a uniform sample of its counted blocks (reservoir sampling:
 * spread over all of them, not the first ones the map yields; with
 * --sample-bytes a recorded block is drawn in proportion to the
 * allocations it stands for, so the shares stay shares of allocations);
 * once the
 * stacks are ranked, the sampled blocks of the first STACKTYPES_STACKS
 * are read (census__type_at) and tallied by type. A block that holds no
 * object (a list's item array, a dict's keys, raw PyMem memory) is
 * tallied as "not an object", one that can no longer be read as
 * "unreadable": none is dropped.
 *
 * Bounded: at most STACKTYPES_STACKS x STACKTYPES_SAMPLES blocks are read
 * per report (256), each with one read of its first 64 bytes and at most
 * three 8-byte reads per candidate header (three candidates), plus one
 * read of each distinct type object met in the report (its name, cached
 * for the report); in the reporting thread, never waiting for a census.
 * Samples are kept for at most STACKTYPES_MAX_STACKS stacks per report
 * (about 100 bytes each); stacks first met beyond that have no types.
 * Sampling adds a map lookup per offered block. The collector offers every
 * counted record while it reads the records whole (sampled processes);
 * otherwise (exact processes, counted from the kernel's per-stack sums) it
 * reads a bounded part of the allocation map after ranking and offers
 * only the blocks of the stacks stacktypes__read will look at, until each
 * has STACKTYPES_SAMPLES or after a capped number of records: the map's
 * hash order is close to uniform over the blocks, so the sample stays
 * close to uniform (user/collect.c, types_scan).
 */
#ifndef __STACKTYPES_H
#define __STACKTYPES_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "census.h"
#include "snapshot.h"

#define STACKTYPES_SAMPLES	8	/* blocks read per stack */
#define STACKTYPES_STACKS	32	/* ranked memory stacks whose blocks are read */
#define STACKTYPES_MAX_STACKS	65536	/* stacks sampled per report */

/* One kind of block among a stack's samples. */
struct stack_type {
	struct census_block b;		/* kind; an object's type name and module */
	int sampled;			/* of the blocks read, how many are this */
};

/* A memory stack's types: what snap_stack.types points to. */
struct stack_types {
	int read;			/* blocks read: the stack's count, at most STACKTYPES_SAMPLES */
	uint64_t of;			/* the stack's counted allocations */
	int n;
	struct stack_type v[STACKTYPES_SAMPLES];	/* most sampled first */
};

/* How blocks are read: census__types_begin and census__type_at, or a test's. */
struct stacktypes_reader {
	int (*begin)(void *arg);	/* 0 when blocks can be read now */
	int (*type_at)(void *arg, uint64_t addr, uint64_t size, struct census_block *out);
	void *arg;
};

struct stacktypes;

struct stacktypes *stacktypes__new(const struct stacktypes_reader *r);
/* Reading through the census's own reader (census__type_at). */
struct stacktypes *stacktypes__new_census(const struct census *c);
void stacktypes__free(struct stacktypes *t);
/* A new collection: the last one's samples are forgotten. A NULL t (no
 * census) makes this and the calls below do nothing. */
void stacktypes__clear(struct stacktypes *t);
/* One counted block, of size bytes at addr, summed under the stack whose
 * snap_stack id is stack, standing for weight allocations (1; more when
 * recorded by --sample-bytes). */
void stacktypes__offer(struct stacktypes *t, uint64_t stack, uint64_t addr, uint64_t size,
		       uint64_t weight);
/*
 * After ranking: the types of the first STACKTYPES_STACKS stacks of mem
 * into their .types (valid until the next clear; the others keep NULL).
 * None are read when the maps were frozen at the target's end (as_of past
 * FREEZE_DETACH: its memory is gone or another program's), or when the
 * reader is not ready (no census published yet).
 */
void stacktypes__read(struct stacktypes *t, struct snap_section *mem, uint32_t as_of);

/* Text: " (types of 8 sampled: bytes 5, not an object 3)", or with every
 * block read " (types: bytes 2, not an object 1)"; "" for NULL. Names are
 * escaped (they come from the target). */
const char *stacktypes__text(const struct stack_types *t, char *buf, size_t len);
/* JSON: [{"kind", "type", "module", "sampled", "of", "estimated_count"}]. */
json_t *stacktypes__json(const struct stack_types *t);

#endif /* __STACKTYPES_H */
