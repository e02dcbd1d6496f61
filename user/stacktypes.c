// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The types of a memory stack's outstanding blocks (user/stacktypes.h):
 * a reservoir of sampled blocks per stack while the allocation map is
 * read, their types read and tallied after ranking.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "log.h"
#include "pyleak.h"
#include "sanitize.h"
#include "stacktypes.h"
#include "u64map.h"

/*
 * A sample of one stack's counted blocks, each drawn in proportion to its
 * weight (Efraimidis and Spirakis's A-Res): a block's key is an
 * exponential variate over its weight, -ln(u) / w, and the smallest keys
 * are kept. With every weight 1 it is a uniform sample of the blocks.
 */
struct reservoir {
	uint64_t seen;				/* blocks offered */
	uint64_t addr[STACKTYPES_SAMPLES];
	uint32_t size[STACKTYPES_SAMPLES];	/* bytes, UINT32_MAX: at least that */
	float key[STACKTYPES_SAMPLES];
	float thr;				/* full: exp(-largest key); a block of
						 * weight 1 gets in when u > thr */
	int imax;				/* the slot with the largest key */
};

struct stacktypes {
	struct stacktypes_reader r;
	struct u64map samples;		/* stack id + 1 -> struct reservoir */
	uint64_t rng;
	uint64_t unsampled;		/* offers of stacks beyond STACKTYPES_MAX_STACKS */
	struct stack_types out[STACKTYPES_STACKS];
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64, as a double in (0, 1): one step per offer, and random()
 * takes a lock */
static double next_rand(struct stacktypes *t)
{
	uint64_t x = t->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	t->rng = x;
	return ((x >> 11) + 0.5) / 9007199254740992.0;
}

static void find_max(struct reservoir *rv)
{
	int k;

	rv->imax = 0;
	for (k = 1; k < STACKTYPES_SAMPLES; k++)
		if (rv->key[k] > rv->key[rv->imax])
			rv->imax = k;
	rv->thr = (float)exp(-(double)rv->key[rv->imax]);
}

struct stacktypes *stacktypes__new(const struct stacktypes_reader *r)
{
	struct stacktypes *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->r = *r;
	t->rng = 0x9e3779b97f4a7c15ULL;
	if (u64map__init(&t->samples, sizeof(struct reservoir))) {
		free(t);
		return NULL;
	}
	return t;
}

static int census_begin(void *arg)
{
	return census__types_begin(arg);
}

static int census_type_at(void *arg, uint64_t addr, uint64_t size, struct census_block *out)
{
	return census__type_at(arg, addr, size, out);
}

struct stacktypes *stacktypes__new_census(const struct census *c)
{
	struct stacktypes_reader r = { census_begin, census_type_at, (void *)c };

	return c ? stacktypes__new(&r) : NULL;
}

void stacktypes__free(struct stacktypes *t)
{
	if (!t)
		return;
	u64map__free(&t->samples);
	free(t);
}

void stacktypes__clear(struct stacktypes *t)
{
	if (!t)
		return;
	/* a fresh map: the stacks of the last report need not come back */
	u64map__free(&t->samples);
	u64map__init(&t->samples, sizeof(struct reservoir));
	t->unsampled = 0;
}

void stacktypes__offer(struct stacktypes *t, uint64_t stack, uint64_t addr, uint64_t size,
		       uint64_t weight)
{
	double w = weight ? (double)weight : 1, u;
	struct reservoir *rv;
	uint64_t k;
	int fresh;

	if (!t || !t->samples.cap)
		return;
	rv = u64map__get(&t->samples, stack + 1);
	if (!rv) {
		if (t->samples.used >= STACKTYPES_MAX_STACKS) {
			t->unsampled++;
			return;
		}
		rv = u64map__upsert(&t->samples, stack + 1, &fresh);
		if (!rv)
			return;
	}
	k = rv->seen++;
	u = next_rand(t);
	if (k >= STACKTYPES_SAMPLES) {
		/* in only if its key, -ln(u) / w, is below the largest kept:
		 * u > exp(-largest * w), cached for the common weight 1 */
		if (w == 1 ? u <= rv->thr : u <= exp(-(double)rv->key[rv->imax] * w))
			return;
		k = rv->imax;
	}
	rv->addr[k] = addr;
	rv->size[k] = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	rv->key[k] = (float)(-log(u) / w);
	if (rv->seen >= STACKTYPES_SAMPLES)
		find_max(rv);
}

static bool same_block(const struct census_block *a, const struct census_block *b)
{
	return a->kind == b->kind && (a->kind != CENSUS_BLOCK_OBJECT ||
				      (!strcmp(a->name, b->name) && !strcmp(a->module, b->module)));
}

static void tally(struct stack_types *st, const struct census_block *b)
{
	int i;

	st->read++;
	for (i = 0; i < st->n; i++)
		if (same_block(&st->v[i].b, b)) {
			st->v[i].sampled++;
			return;
		}
	if (st->n < STACKTYPES_SAMPLES) {
		st->v[st->n].b = *b;
		st->v[st->n++].sampled = 1;
	}
}

/* Most sampled first; then objects, not-objects, unreadable; then by name. */
static int cmp_type(const void *a, const void *b)
{
	const struct stack_type *x = a, *y = b;
	int c;

	if (x->sampled != y->sampled)
		return y->sampled - x->sampled;
	if (x->b.kind != y->b.kind)
		return (int)x->b.kind - (int)y->b.kind;
	c = strcmp(x->b.name, y->b.name);
	return c ? c : strcmp(x->b.module, y->b.module);
}

void stacktypes__read(struct stacktypes *t, struct snap_section *mem, uint32_t as_of)
{
	int i, k, stacks = 0, blocks = 0, ret;
	double t0 = mono_s();

	if (!t)
		return;
	if (as_of > FREEZE_DETACH)
		return;
	ret = t->r.begin(t->r.arg);
	if (ret) {
		debug("stack types: not read (%s)", ret == -EAGAIN ? "no census published yet" :
		      strerror(-ret));
		return;
	}
	for (i = 0; i < mem->n && i < STACKTYPES_STACKS; i++) {
		struct snap_stack *e = &mem->v[i];
		struct reservoir *rv = u64map__get(&t->samples, e->id + 1);
		struct stack_types *st = &t->out[i];
		int n;

		if (!rv || !rv->seen)
			continue;
		memset(st, 0, sizeof(*st));
		st->of = e->s->count > rv->seen ? e->s->count : rv->seen;
		n = rv->seen < STACKTYPES_SAMPLES ? (int)rv->seen : STACKTYPES_SAMPLES;
		/* the records are read after the stack's sums: blocks allocated
		 * in between are not among its count */
		if (e->s->count && (uint64_t)n > e->s->count)
			n = (int)e->s->count;
		for (k = 0; k < n; k++) {
			struct census_block b;

			if (t->r.type_at(t->r.arg, rv->addr[k], rv->size[k], &b))
				break;
			tally(st, &b);
		}
		blocks += st->read;
		if (!st->read)
			continue;
		qsort(st->v, st->n, sizeof(st->v[0]), cmp_type);
		e->types = st;
		stacks++;
	}
	info("stack types: %d blocks of %d stacks read in %.1f ms%s", blocks, stacks,
	     (mono_s() - t0) * 1e3, t->unsampled ? " (stacks beyond the sampling bound left out)" : "");
}

/* ---- output */

static const char *block_name(const struct census_block *b)
{
	switch (b->kind) {
	case CENSUS_BLOCK_OBJECT:
		return b->name;
	case CENSUS_BLOCK_STORAGE:
		return "not an object";
	default:
		return "unreadable";
	}
}

static const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case CENSUS_BLOCK_OBJECT:
		return "object";
	case CENSUS_BLOCK_STORAGE:
		return "not_an_object";
	default:
		return "unreadable";
	}
}

const char *stacktypes__text(const struct stack_types *t, char *buf, size_t len)
{
	size_t w;
	int i;

	if (!len)
		return buf;
	buf[0] = '\0';
	if (!t || !t->read)
		return buf;
	/* every block read: counts; fewer: counts of the sample, said so */
	if ((uint64_t)t->read >= t->of)
		w = snprintf(buf, len, " (types: ");
	else
		w = snprintf(buf, len, " (types of %d sampled: ", t->read);
	for (i = 0; i < t->n && w < len; i++) {
		char name[CENSUS_NAME * 2];

		if (t->v[i].b.kind == CENSUS_BLOCK_OBJECT)
			sanitize__text(t->v[i].b.name, name, sizeof(name));
		else
			snprintf(name, sizeof(name), "%s", block_name(&t->v[i].b));
		w += snprintf(buf + w, len - w, "%s%s %d", i ? ", " : "", name, t->v[i].sampled);
	}
	if (w < len)
		snprintf(buf + w, len - w, ")");
	return buf;
}

json_t *stacktypes__json(const struct stack_types *t)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; t && i < t->n; i++) {
		const struct stack_type *v = &t->v[i];
		bool obj = v->b.kind == CENSUS_BLOCK_OBJECT;
		/* the stack's allocations of this kind, if the sample is representative */
		uint64_t est = t->read ? (uint64_t)((double)t->of * v->sampled / t->read + 0.5) : 0;

		json_array_append_new(arr, json_pack("{s:s,s:o,s:o,s:i,s:i,s:I}", "kind",
						     kind_name(v->b.kind), "type",
						     obj ? sanitize__json(v->b.name) : json_null(),
						     "module", obj ? sanitize__json(v->b.module) : json_null(),
						     "sampled", v->sampled, "of", t->read,
						     "estimated_count", (json_int_t)est));
	}
	return arr;
}
