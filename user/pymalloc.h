/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pymalloc's own accounting, read from outside: its arena counters and a
 * walk of every carved pool's header, per size class, the figures
 * sys._debugmallocstats() prints in-process (pools and blocks in use,
 * blocks the pools could hold, unused pools). Read-only, like the census
 * it is part of; the heap moves while it is read, so every arena and pool
 * is validated and what fails is counted, never followed.
 */
#ifndef __PYMALLOC_H
#define __PYMALLOC_H

#include <stdbool.h>
#include <stdint.h>

struct heapread;
struct pyproc;
struct pyver_offsets;
struct json_t;

#define PYMALLOC_MAX_CLASSES	64		/* 32 from 3.8 to 3.13 (ALIGNMENT 16, 512 bytes) */
#define PYMALLOC_MAX_ARENAS	(1u << 20)	/* a longer arena array is taken as garbage */
#define PYMALLOC_MAX_POOLS	(1u << 20)	/* pool headers read per census, at most */

/* Where the arena counters and array are before 3.12: statics of
 * Objects/obmalloc.c, named in .symtab (0: not found, a stripped build). */
struct pymalloc_syms {
	uint64_t arenas, maxarenas, narenas, ntimes, highwater;
};

struct pymalloc_class {
	uint64_t pools;			/* pools in use (a block or more allocated) */
	uint64_t blocks;		/* blocks allocated in them */
	uint64_t capacity;		/* blocks they can hold */
};

struct pymalloc_stats {
	bool known;			/* the arena counters were read */
	char unknown[96];		/* why not, when !known or !pools_known */
	uint64_t arenas, arenas_highwater, arenas_total, arena_size;

	bool pools_known;		/* the pools were walked (known, and the array read) */
	uint32_t pool_size, nclasses, alignment;
	uint64_t arenas_walked;		/* arena objects with an address */
	uint64_t pools_carved;		/* carved from their arenas, in use or not */
	uint64_t pools_in_use;
	uint64_t pools_free;		/* the arenas' nfreepools: carved and empty, or never carved */
	uint64_t blocks, capacity;	/* over every class */
	uint64_t bytes_in_use;		/* blocks x their class's size */
	uint64_t bytes_in_pools;	/* pools in use x the pool size */
	uint64_t inconsistent;		/* arenas and pools that failed validation, skipped */
	bool capped;			/* stopped at PYMALLOC_MAX_POOLS pools */
	double seconds;			/* the read took (set by the caller, which times it) */
	uint64_t syscalls;		/* process_vm_readv calls it made (likewise) */
	struct pymalloc_class cls[PYMALLOC_MAX_CLASSES];	/* class i: blocks of (i + 1) x alignment */
};

/* Find the pre-3.12 statics in p's interpreter. */
void pymalloc__resolve(const struct pyproc *p, struct pymalloc_syms *s);

/* Read the counters and walk the pools of the interpreter state interp
 * (the main interpreter's: 3.12+ keeps obmalloc's state in it) through h,
 * whose mappings are current. Fills *st in every case (st->known,
 * st->pools_known say what could be read, st->unknown why not). */
void pymalloc__read(struct heapread *h, const struct pyver_offsets *o,
		    const struct pymalloc_syms *s, uint64_t interp, struct pymalloc_stats *st);

/*
 * The aggregation, apart for the unit tests (recorded pool headers):
 * pymalloc__begin sets the layout and zeroes the counts; pymalloc__pool
 * counts one carved pool's header (o->pool_header_size bytes) of arena
 * index arena, true when it was consistent (and counted in use or empty);
 * pymalloc__end adds up the totals.
 */
void pymalloc__begin(struct pymalloc_stats *st, const struct pyver_offsets *o);
bool pymalloc__pool(struct pymalloc_stats *st, const struct pyver_offsets *o, uint32_t arena,
		    const uint8_t *header, bool *in_use);
void pymalloc__end(struct pymalloc_stats *st);

/* Block size of class i. */
static inline uint32_t pymalloc__class_size(const struct pymalloc_stats *st, int i)
{
	return (uint32_t)(i + 1) * st->alignment;
}

/* The classes with the most unused capacity ((capacity - blocks) x size),
 * most first: up to n indexes into idx; returns how many. */
int pymalloc__most_unused(const struct pymalloc_stats *st, int *idx, int n);

/* The JSON "memory"."allocator" object, or json null when !st->known. */
struct json_t *pymalloc__json(const struct pymalloc_stats *st);

#endif /* __PYMALLOC_H */
