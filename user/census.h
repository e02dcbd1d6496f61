/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The heap census: live Python objects counted by type from outside (the
 * collector's lists and what their objects directly hold), the collector's
 * state, what holds the growing types (a chain of referrers up to a
 * module global, class attribute or thread's local), and RSS against live
 * objects and pymalloc's arenas. Read-only: the target's memory is never
 * written and no code runs in it; with --census-pause it is stopped for
 * the snapshot and continued after.
 */
#ifndef __CENSUS_H
#define __CENSUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "pymalloc.h"

struct pyproc;
struct census;
struct json_t;

struct census_opts {
	double interval;	/* --census-interval: seconds between censuses */
	uint64_t max_objects;	/* --census-max-objects */
	bool pause;		/* --census-pause: stop the target while reading */
	int top;		/* types listed per report */
	int holders;		/* growing types whose holders are searched */
	uint64_t cache_bytes;	/* the heap reader's cache, resident as it fills; 0: 64 MiB */
};

#define CENSUS_DEFAULT_MAX_OBJECTS	2000000ULL
#define CENSUS_NAME			128
#define CENSUS_CHAIN			16

/* One type's line of a census, ranked (growing first). */
struct census_type {
	char name[CENSUS_NAME];		/* qualified name: "Node", "collections.OrderedDict" -> "OrderedDict" */
	char module[CENSUS_NAME];	/* "builtins", "app.parser" */
	uint64_t count, bytes;
	double growth_count_per_s, growth_bytes_per_s;
	bool growing;
};

struct census_gen {
	int count, threshold;
	int64_t collections, uncollectable;
	uint64_t objects;		/* walked in this generation's list */
};

struct census_gc {
	bool read;			/* the state could be read */
	bool enabled, collecting;
	struct census_gen gen[3];
	uint64_t permanent;		/* objects in the permanent generation (gc.freeze) */
	int64_t garbage;		/* len(gc.garbage), -1 unknown */
	char garbage_types[256];	/* "Node 3, dict 1" */
};

struct census_mem {
	int64_t rss;			/* bytes, -1 unknown */
	uint64_t live_bytes, live_objects;
	double rss_growth_per_s, live_growth_per_s;
	bool window;			/* growth figures cover at least one interval */
	struct pymalloc_stats pymalloc;	/* pymalloc's arenas, pools and blocks */
	bool allocator_held;		/* RSS grows, live objects do not */
};

struct census_hop {
	char type[CENSUS_NAME];
	char via[CENSUS_NAME];		/* how the previous hop holds this one: "[3]", "['k']", ".parent" */
};

struct census_holder {
	char type[CENSUS_NAME];		/* the growing type */
	uint64_t count;
	int samples, agreeing;		/* instances followed; how many share this root */
	char kind[24];			/* global, class_attribute, frame_local, native, garbage, unknown */
	char module[CENSUS_NAME];	/* global: its module; class attribute: the class's */
	char name[CENSUS_NAME];		/* the variable, attribute or local */
	char where[256];		/* frame_local: "function (file:line), thread N" */
	char container_type[CENSUS_NAME];
	int64_t length;			/* of the root container, -1 if not one */
	double length_growth_per_s;
	bool length_growth_known;
	int nchain;
	struct census_hop chain[CENSUS_CHAIN];
	bool chain_cut;			/* longer than CENSUS_CHAIN: middle elided */
};

struct census_result {
	bool valid;			/* a census was taken */
	char error[256];		/* why not, when !valid */
	double t;			/* CLOCK_MONOTONIC of the census */
	double seconds;			/* time it took */
	double paused_s;		/* --census-pause: how long the target was stopped */
	uint64_t objects, bytes;
	uint64_t inconsistencies;	/* pointers that failed validation */
	bool capped;			/* stopped at --census-max-objects or the time cap */
	uint64_t syscalls, read_bytes;
	int ntypes;			/* entries in types, ranked */
	struct census_type *types;
	int total_types;
	struct census_gc gc;
	struct census_mem mem;
	int nholders;
	struct census_holder *holders;
};

struct census *census__new(const struct census_opts *o);
void census__free(struct census *c);
/* Take a census of p now; the result is census__last(). 0, or negative
 * errno with the reason in the result's error. */
int census__take(struct census *c, const struct pyproc *p);
/* Take censuses every interval in a thread of their own, so the caller's
 * loop goes on (the printers show the latest); census__stop ends it. */
int census__start(struct census *c, const struct pyproc *p);
void census__stop(struct census *c);
/* A new interval for the censuses to come (--max-agent-cpu stretches it). */
void census__set_interval(struct census *c, double seconds);
double census__interval(const struct census *c);
/* Take one if the interval has passed since the last (or none yet); does
 * nothing while the thread runs. */
int census__maybe_take(struct census *c, const struct pyproc *p, double now);
const struct census_result *census__last(const struct census *c);

/*
 * The type of the object in one allocated block, read now from the
 * target of census__start (user/stacktypes.c asks it for a few blocks of
 * each top memory stack at report time). A reader of its own: it never
 * takes the census's lock, which a census holds for its whole walk (up to
 * 30 s), so a report never waits for a census; it shares no state with
 * the census thread but the target's well-known type addresses, copied
 * once the first census has published them.
 */
enum census_block_kind {
	CENSUS_BLOCK_OBJECT,		/* an object of a type that validates: name, module */
	CENSUS_BLOCK_STORAGE,		/* readable, but no object header at its start, with or
					 * without a GC header: a list's item array, a dict's
					 * keys, a bytearray's buffer, raw PyMem memory */
	CENSUS_BLOCK_UNREADABLE,	/* its first bytes cannot be read (freed and unmapped) */
};

struct census_block {
	uint32_t kind;			/* enum census_block_kind */
	char name[CENSUS_NAME];		/* CENSUS_BLOCK_OBJECT: qualified type name, as census_type */
	char module[CENSUS_NAME];
};

/* Before a batch of census__type_at (one report): the target's mappings
 * are read again and the types it meets are validated afresh (a freed
 * type's address can be another's). 0; -EAGAIN before the first census
 * has published the target's type addresses (or when it found none);
 * -ENOENT before census__start; other -errno from reading /proc/PID/maps. */
int census__types_begin(const struct census *c);
/* The block of size bytes (0: unknown) at addr, as the allocator returned
 * it: the object may follow its GC header, and on 3.11+ the two words
 * before that of a managed dict. 0 with *out filled, or the error of the
 * last census__types_begin. */
int census__type_at(const struct census *c, uint64_t addr, uint64_t size,
		    struct census_block *out);

/* Report output (the latest census; safe while the thread runs): the text
 * section, and the JSON fields "types", "gc",
 * "memory" (traced: bytes the allocation tracer holds, -1 when memory is
 * not traced), "holders" and "census" added to obj. */
void census__print_text(const struct census *c, FILE *out);
void census__json(const struct census *c, struct json_t *obj, int64_t traced);

#endif /* __CENSUS_H */
