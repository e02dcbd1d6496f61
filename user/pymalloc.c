// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pymalloc's accounting from outside: what _PyObject_DebugMallocStats()
 * (Objects/obmalloc.c, sys._debugmallocstats()) adds up in-process, read
 * from the target's arena array and pool headers.
 *
 * The arena array (struct arena_object[maxarenas]) is the static `arenas`
 * of obmalloc.c before 3.12, the obmalloc state's mgmt.arenas from 3.12.
 * An arena object with a non-zero address owns ARENA_SIZE bytes from it;
 * its pools start at the first POOL_SIZE-aligned address (new_arena()
 * gives up one pool when the arena is not aligned) and those carved so far
 * run up to pool_address. Every carved pool opens with a struct
 * pool_header: ref.count blocks of class szidx are allocated in it (0: an
 * empty pool on the arena's free list, whatever its szidx says). The
 * headers are a pool size apart, so they are read around the census's
 * cache, many per process_vm_readv (heapread__gather).
 *
 * Never trusted: the array's length is bounded, an arena must lie in a
 * readable mapping with its pool_address inside it on a pool boundary and
 * its pool counts within what it can hold; a pool must name its arena's
 * index, a class below NB_SMALL_SIZE_CLASSES, a count within its capacity
 * and the maxnextoffset of its class; an arena's pools in use must be its
 * ntotalpools - nfreepools, and the arenas walked must be as many as
 * narenas_currently_allocated. What fails is counted in st->inconsistent
 * and left out.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "elffile.h"
#include "heapread.h"
#include "pymalloc.h"
#include "pyoffsets.h"
#include "python.h"

#define ARENA_SLICE	256	/* arena objects read at once */
#define BATCH		4096	/* pool headers gathered at once */
#define HEADER_MAX	64	/* bytes of a pool header kept (48 from 3.8 to 3.13) */

static uint32_t u32_at(const uint8_t *p, uint32_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint64_t u64_at(const uint8_t *p, uint32_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

void pymalloc__resolve(const struct pyproc *p, struct pymalloc_syms *s)
{
	static const struct {
		const char *name;
		size_t off;
	} syms[] = {
#define S(n, f) { n, offsetof(struct pymalloc_syms, f) }
		S("arenas", arenas), S("maxarenas", maxarenas),
		S("narenas_currently_allocated", narenas), S("ntimes_arena_allocated", ntimes),
		S("narenas_highwater", highwater),
#undef S
	};
	/* elf__symbol only reads; the pyproc's file stays the caller's */
	struct elf_file *ef = (struct elf_file *)&p->elf;
	size_t i;

	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		uint64_t v;

		*(uint64_t *)((char *)s + syms[i].off) =
			elf__symbol(ef, syms[i].name, &v, NULL) ? 0 : v + p->bias;
	}
}

/* ---- aggregation --------------------------------------------------------- */

/* (POOL_SIZE - POOL_OVERHEAD) / size: POOL_OVERHEAD is the header rounded
 * up to ALIGNMENT (NUMBLOCKS in obmalloc.c). */
static uint64_t class_capacity(const struct pymalloc_stats *st, const struct pyver_offsets *o,
			       uint32_t szidx)
{
	uint32_t overhead = (o->pool_header_size + st->alignment - 1) / st->alignment * st->alignment;

	return (st->pool_size - overhead) / pymalloc__class_size(st, szidx);
}

void pymalloc__begin(struct pymalloc_stats *st, const struct pyver_offsets *o)
{
	/* the arena counters (read before) stay; the walk's figures start */
	memset(st->cls, 0, sizeof(st->cls));
	st->pools_known = st->capped = false;
	st->unknown[0] = '\0';
	st->arenas_walked = st->pools_carved = st->pools_in_use = st->pools_free = 0;
	st->blocks = st->capacity = st->bytes_in_use = st->bytes_in_pools = st->inconsistent = 0;
	st->arena_size = o->arena_size;
	st->pool_size = o->pool_size;
	st->alignment = o->small_alignment;
	st->nclasses = o->small_classes < PYMALLOC_MAX_CLASSES ? o->small_classes :
		       PYMALLOC_MAX_CLASSES;
}

bool pymalloc__pool(struct pymalloc_stats *st, const struct pyver_offsets *o, uint32_t arena,
		    const uint8_t *header, bool *in_use)
{
	uint32_t count = u32_at(header, o->pool_count);
	uint32_t szidx = u32_at(header, o->pool_szidx);
	uint32_t size, next, maxnext;
	uint64_t cap;

	*in_use = false;
	if (u32_at(header, o->pool_arenaindex) != arena)
		goto bad;
	st->pools_carved++;
	if (!count)
		return true;		/* empty: its szidx is stale or DUMMY_SIZE_IDX */
	if (szidx >= st->nclasses)
		goto bad;
	size = pymalloc__class_size(st, szidx);
	cap = class_capacity(st, o, szidx);
	next = u32_at(header, o->pool_nextoffset);
	maxnext = u32_at(header, o->pool_maxnextoffset);
	/* init_pool(): maxnextoffset = POOL_SIZE - size; nextoffset walks
	 * up from POOL_OVERHEAD + size to past it as blocks are first used */
	if (count > cap || maxnext != st->pool_size - size || next > st->pool_size)
		goto bad;
	st->cls[szidx].pools++;
	st->cls[szidx].blocks += count;
	st->cls[szidx].capacity += cap;
	*in_use = true;
	return true;
bad:
	st->inconsistent++;
	return false;
}

void pymalloc__end(struct pymalloc_stats *st)
{
	uint32_t i;

	st->pools_in_use = st->blocks = st->capacity = st->bytes_in_use = 0;
	for (i = 0; i < st->nclasses; i++) {
		st->pools_in_use += st->cls[i].pools;
		st->blocks += st->cls[i].blocks;
		st->capacity += st->cls[i].capacity;
		st->bytes_in_use += st->cls[i].blocks * pymalloc__class_size(st, i);
	}
	st->bytes_in_pools = st->pools_in_use * st->pool_size;
}

int pymalloc__most_unused(const struct pymalloc_stats *st, int *idx, int n)
{
	int k = 0, i, j;

	for (i = 0; i < (int)st->nclasses; i++) {
		uint64_t u = (st->cls[i].capacity - st->cls[i].blocks) * pymalloc__class_size(st, i);

		if (!st->cls[i].pools || !u)
			continue;
		/* insertion into the top n, most unused first */
		for (j = k < n ? k++ : n; j > 0; j--) {
			int p = idx[j - 1];
			uint64_t pu = (st->cls[p].capacity - st->cls[p].blocks) *
				      pymalloc__class_size(st, p);

			if (pu >= u)
				break;
			if (j < n)
				idx[j] = p;
		}
		if (j < n)
			idx[j] = i;
	}
	return k;
}

/* ---- reading ------------------------------------------------------------- */

struct walk {
	struct heapread *h;
	const struct pyver_offsets *o;
	struct pymalloc_stats *st;
	uint64_t at[BATCH];
	uint32_t arena[BATCH];		/* the arena index of each */
	uint32_t expect[BATCH];		/* its arena's ntotalpools - nfreepools */
	bool got[BATCH];
	uint8_t buf[BATCH * HEADER_MAX];
	size_t n;
	uint64_t queued;		/* pool headers asked for so far */
	/* the arena whose pools are being counted, across batches */
	int64_t cur;
	uint32_t cur_expect, cur_seen;
	bool cur_bad;
};

/* An arena's pools all counted: those in use must be as many as it says. */
static void arena_done(struct walk *w)
{
	if (w->cur >= 0 && !w->cur_bad && w->cur_seen != w->cur_expect)
		w->st->inconsistent++;
	w->cur = -1;
}

static void flush(struct walk *w)
{
	size_t i, len = w->o->pool_header_size;

	heapread__gather(w->h, w->at, w->n, len, w->buf, w->got);
	for (i = 0; i < w->n; i++) {
		bool in_use;

		if (w->arena[i] != w->cur) {
			arena_done(w);
			w->cur = w->arena[i];
			w->cur_expect = w->expect[i];
			w->cur_seen = 0;
			w->cur_bad = false;
		}
		if (!w->got[i]) {
			w->st->inconsistent++;
			w->cur_bad = true;
			continue;
		}
		if (!pymalloc__pool(w->st, w->o, w->arena[i], w->buf + i * len, &in_use))
			w->cur_bad = true;
		w->cur_seen += in_use;
	}
	w->n = 0;
}

/* Queue arena index i's carved pools; false when the cap is reached. */
static bool queue_arena(struct walk *w, uint32_t i, const uint8_t *ao)
{
	const struct pyver_offsets *o = w->o;
	struct pymalloc_stats *st = w->st;
	uint64_t addr = u64_at(ao, o->arena_address);
	uint64_t next = u64_at(ao, o->arena_pool_address);
	uint32_t nfree = u32_at(ao, o->arena_nfreepools), ntotal = u32_at(ao, o->arena_ntotalpools);
	uint64_t first, carved, k;

	if (!addr)
		return true;		/* an unused arena object */
	first = (addr + st->pool_size - 1) / st->pool_size * st->pool_size;
	if (!heapread__mapped(w->h, addr, st->arena_size) || ntotal > st->arena_size / st->pool_size ||
	    nfree > ntotal || next < first || next > first + (uint64_t)ntotal * st->pool_size ||
	    (next - first) % st->pool_size) {
		st->inconsistent++;
		return true;
	}
	carved = (next - first) / st->pool_size;
	if (carved + nfree < ntotal) {
		/* more pools in use than carved */
		st->inconsistent++;
		return true;
	}
	st->arenas_walked++;
	st->pools_free += nfree;
	for (k = 0; k < carved; k++) {
		if (w->queued++ >= PYMALLOC_MAX_POOLS) {
			st->capped = true;
			return false;
		}
		w->at[w->n] = first + k * st->pool_size;
		w->arena[w->n] = i;
		w->expect[w->n] = ntotal - nfree;
		if (++w->n == BATCH)
			flush(w);
	}
	return true;
}

static void walk_arenas(struct heapread *h, const struct pyver_offsets *o, uint64_t arenas,
			uint32_t maxarenas, struct pymalloc_stats *st)
{
	uint8_t slice[ARENA_SLICE * 64];
	struct walk *w;
	uint32_t i, j;

	if (o->arena_object_size > 64 || o->pool_header_size > HEADER_MAX || !o->pool_size ||
	    !o->small_alignment) {
		snprintf(st->unknown, sizeof(st->unknown), "no pool layout in the table");
		return;
	}
	pymalloc__begin(st, o);
	if (!arenas || !maxarenas) {
		/* no arena ever allocated: pymalloc not in use (PYTHONMALLOC=malloc) */
		st->pools_known = true;
		return;
	}
	if (maxarenas > PYMALLOC_MAX_ARENAS || !heapread__mapped(h, arenas, 8)) {
		st->inconsistent++;
		snprintf(st->unknown, sizeof(st->unknown), "the arena array at %#" PRIx64 " (%u) unreadable",
			 arenas, maxarenas);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(st->unknown, sizeof(st->unknown), "out of memory");
		return;
	}
	w->h = h;
	w->o = o;
	w->st = st;
	w->cur = -1;
	for (i = 0; i < maxarenas; i += ARENA_SLICE) {
		uint32_t n = maxarenas - i < ARENA_SLICE ? maxarenas - i : ARENA_SLICE;
		uint64_t at = arenas + (uint64_t)i * o->arena_object_size;

		if (heapread__read(h, at, slice, (size_t)n * o->arena_object_size)) {
			st->inconsistent++;
			continue;
		}
		for (j = 0; j < n; j++)
			if (!queue_arena(w, i + j, slice + (size_t)j * o->arena_object_size))
				goto out;
	}
out:
	flush(w);
	if (st->capped)
		w->cur = -1;	/* its last arena's pools are not all counted */
	arena_done(w);
	free(w);
	/* narenas_currently_allocated counts the arena objects with an address */
	if (!st->capped && st->arenas_walked != st->arenas)
		st->inconsistent++;
	pymalloc__end(st);
	st->pools_known = true;
}

void pymalloc__read(struct heapread *h, const struct pyver_offsets *o,
		    const struct pymalloc_syms *s, uint64_t interp, struct pymalloc_stats *st)
{
	uint64_t base, arenas = 0;
	uint32_t maxarenas = 0;
	uint64_t a, t, hw;
	bool ok = true;

	memset(st, 0, sizeof(*st));
	st->arena_size = o->arena_size;
	st->pool_size = o->pool_size;
	if (o->interp_obmalloc != PYOFF_NONE) {
		/* 3.12+: struct _obmalloc_state in the interpreter (3.13: a
		 * pointer to it) */
		base = interp + o->interp_obmalloc;
		if (o->obmalloc_is_ptr)
			ok = !heapread__u64(h, base, &base) && base;
		ok = ok && !heapread__u64(h, base + o->obmalloc_narenas, &a) &&
		     !heapread__u64(h, base + o->obmalloc_ntimes, &t) &&
		     !heapread__u64(h, base + o->obmalloc_highwater, &hw) &&
		     !heapread__u64(h, base + o->obmalloc_arenas, &arenas) &&
		     !heapread__read(h, base + o->obmalloc_maxarenas, &maxarenas, 4);
		if (!ok) {
			snprintf(st->unknown, sizeof(st->unknown),
				 "the interpreter's obmalloc state unreadable");
			return;
		}
	} else if (s->narenas && s->ntimes && s->highwater && s->arenas && s->maxarenas) {
		ok = !heapread__u64(h, s->narenas, &a) && !heapread__u64(h, s->ntimes, &t) &&
		     !heapread__u64(h, s->highwater, &hw) && !heapread__u64(h, s->arenas, &arenas) &&
		     !heapread__read(h, s->maxarenas, &maxarenas, 4);
		if (!ok) {
			snprintf(st->unknown, sizeof(st->unknown),
				 "obmalloc.c's statics unreadable");
			return;
		}
	} else {
		snprintf(st->unknown, sizeof(st->unknown),
			 "stripped build before 3.12: no symbols for arenas");
		return;
	}
	if (a > PYMALLOC_MAX_ARENAS || hw < a || t < a) {
		snprintf(st->unknown, sizeof(st->unknown),
			 "inconsistent counters: %" PRIu64 " arenas, high water %" PRIu64, a, hw);
		return;
	}
	st->known = true;
	st->arenas = a;
	st->arenas_total = t;
	st->arenas_highwater = hw;
	walk_arenas(h, o, arenas, maxarenas, st);
}

/* ---- JSON ---------------------------------------------------------------- */

struct json_t *pymalloc__json(const struct pymalloc_stats *st)
{
	json_t *o, *cls;
	uint32_t i;

	if (!st->known)
		return json_null();
	o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "kind", "pymalloc", "arenas",
		      (json_int_t)st->arenas, "arenas_highwater", (json_int_t)st->arenas_highwater,
		      "arenas_allocated_total", (json_int_t)st->arenas_total, "arena_size",
		      (json_int_t)st->arena_size, "arena_bytes",
		      (json_int_t)(st->arenas * st->arena_size));
	if (!st->pools_known) {
		json_object_set_new(o, "pools_unknown", json_string(st->unknown));
		return o;
	}
	cls = json_array();
	for (i = 0; i < st->nclasses; i++) {
		const struct pymalloc_class *c = &st->cls[i];

		if (!c->pools)
			continue;
		json_array_append_new(cls, json_pack("{s:i,s:I,s:I,s:I,s:I}", "size",
						     (int)pymalloc__class_size(st, i), "pools",
						     (json_int_t)c->pools, "blocks", (json_int_t)c->blocks,
						     "blocks_capacity", (json_int_t)c->capacity, "bytes",
						     (json_int_t)(c->blocks * pymalloc__class_size(st, i))));
	}
	json_object_update_new(o, json_pack("{s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:o}",
					    "pool_size", (int)st->pool_size,
					    "arenas_walked", (json_int_t)st->arenas_walked,
					    "pools_in_use", (json_int_t)st->pools_in_use,
					    "pools_carved", (json_int_t)st->pools_carved,
					    "pools_free", (json_int_t)st->pools_free,
					    "blocks", (json_int_t)st->blocks,
					    "blocks_capacity", (json_int_t)st->capacity,
					    "bytes_in_use", (json_int_t)st->bytes_in_use,
					    "bytes_in_pools", (json_int_t)st->bytes_in_pools,
					    "inconsistencies", (json_int_t)st->inconsistent,
					    "capped", st->capped, "size_classes", cls));
	json_object_set_new(o, "seconds", json_real(st->seconds));
	json_object_set_new(o, "syscalls", json_integer((json_int_t)st->syscalls));
	return o;
}
