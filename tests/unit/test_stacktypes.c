// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/stacktypes.c: which blocks of a stack are sampled, how many are
 * read, how they are tallied and said.
 *
 * A fake reader stands for census__type_at: a block's "type" is decided
 * by its address (addr % 10: 0-5 bytes, 6-7 not an object, 8 unreadable,
 * 9 a hostile class name), and every read is recorded, so that the tests
 * can see which blocks were read and how many.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "stacktypes.h"

#define MAX_READS	4096

struct fake {
	int begin_ret;
	int fail_after;			/* reads before type_at fails, -1 never */
	int nreads;
	uint64_t reads[MAX_READS];
	uint64_t sizes[MAX_READS];
};

static int fake_begin(void *arg)
{
	return ((struct fake *)arg)->begin_ret;
}

static int fake_type_at(void *arg, uint64_t addr, uint64_t size, struct census_block *out)
{
	struct fake *f = arg;

	if (f->fail_after >= 0 && f->nreads >= f->fail_after)
		return -EAGAIN;
	if (f->nreads < MAX_READS) {
		f->reads[f->nreads] = addr;
		f->sizes[f->nreads] = size;
	}
	f->nreads++;
	memset(out, 0, sizeof(*out));
	switch (addr % 10) {
	case 6: case 7:
		out->kind = CENSUS_BLOCK_STORAGE;
		break;
	case 8:
		out->kind = CENSUS_BLOCK_UNREADABLE;
		break;
	case 9:
		out->kind = CENSUS_BLOCK_OBJECT;
		snprintf(out->name, sizeof(out->name), "Evil\x1b[2J\n#1 growing");
		snprintf(out->module, sizeof(out->module), "__main__");
		break;
	default:
		out->kind = CENSUS_BLOCK_OBJECT;
		snprintf(out->name, sizeof(out->name), "bytes");
		snprintf(out->module, sizeof(out->module), "builtins");
	}
	return 0;
}

struct world {
	struct fake f;
	struct stacktypes *t;
	struct series s[64];
	struct snap_stack v[64];
	struct snap_section mem;
};

static struct world *world_new(int nstacks)
{
	struct world *w = calloc(1, sizeof(*w));
	struct stacktypes_reader r = { fake_begin, fake_type_at, &w->f };
	int i;

	w->f.fail_after = -1;
	w->t = stacktypes__new(&r);
	assert_non_null(w->t);
	for (i = 0; i < nstacks; i++) {
		w->v[i].id = 1000 + i;
		w->v[i].s = &w->s[i];
	}
	w->mem.v = w->v;
	w->mem.n = nstacks;
	return w;
}

static void world_free(struct world *w)
{
	stacktypes__free(w->t);
	free(w);
}

/* Stack i gets count blocks at addresses from addr(k) for k = 0..count-1. */
static void offer(struct world *w, int i, uint64_t count, uint64_t (*addr)(uint64_t k))
{
	uint64_t k;

	w->s[i].count = count;
	for (k = 0; k < count; k++)
		stacktypes__offer(w->t, w->v[i].id, addr(k), 233, 1);
}

/* block k at 1000 * k: every one bytes (addr % 10 == 0) */
static uint64_t bytes_at(uint64_t k)
{
	return 1000 * (k + 1);
}

static void reset(struct world *w)
{
	int i;

	stacktypes__clear(w->t);
	w->f.nreads = 0;
	for (i = 0; i < w->mem.n; i++)
		w->v[i].types = NULL;
}

/* Given 10000 blocks of one stack, then 8 are read, all distinct, all
 * among those offered, spread over the whole run (not the first 8). */
static void test_sample_is_spread(void **state)
{
	struct world *w = world_new(1);
	uint64_t max_k = 0;
	int i, j;

	reset(w);
	offer(w, 0, 10000, bytes_at);
	stacktypes__read(w->t, &w->mem, FREEZE_NONE);
	assert_int_equal(w->f.nreads, STACKTYPES_SAMPLES);
	for (i = 0; i < w->f.nreads; i++) {
		uint64_t k = w->f.reads[i] / 1000 - 1;

		assert_int_equal(w->f.reads[i] % 1000, 0);
		assert_true(k < 10000);
		assert_int_equal(w->f.sizes[i], 233);
		for (j = 0; j < i; j++)
			assert_int_not_equal(w->f.reads[i], w->f.reads[j]);
		if (k > max_k)
			max_k = k;
	}
	assert_true(max_k >= STACKTYPES_SAMPLES);	/* not the first 8 */
	assert_true(max_k > 5000);
	assert_non_null(w->v[0].types);
	assert_int_equal(w->v[0].types->read, 8);
	assert_int_equal(w->v[0].types->of, 10000);
	world_free(w);
}

/* block k: bytes when k is even, not an object when odd */
static uint64_t alternating(uint64_t k)
{
	return 10 * k + (k & 1 ? 6 : 0);
}

/* Given half bytes, half not objects, in alternation, then over many
 * reports the samples share out about half and half (uniform, not
 * biased to an end of the map's order). */
static void test_sample_is_uniform(void **state)
{
	struct world *w = world_new(1);
	int rep, bytes = 0, total = 0, i;

	for (rep = 0; rep < 200; rep++) {
		reset(w);
		offer(w, 0, 5000, alternating);
		stacktypes__read(w->t, &w->mem, FREEZE_NONE);
		for (i = 0; i < w->v[0].types->n; i++)
			if (w->v[0].types->v[i].b.kind == CENSUS_BLOCK_OBJECT)
				bytes += w->v[0].types->v[i].sampled;
		total += w->v[0].types->read;
	}
	assert_int_equal(total, 200 * 8);
	assert_true(bytes > total * 0.44 && bytes < total * 0.56);
	world_free(w);
}

/* Given --sample-bytes records, half of them bytes standing for one
 * allocation each, half not objects standing for 9 each, then the samples
 * are shares of allocations: about 9 in 10 not objects. */
static void test_sample_is_weighted(void **state)
{
	struct world *w = world_new(1);
	int rep, storage = 0, total = 0, i;
	uint64_t k;

	for (rep = 0; rep < 200; rep++) {
		reset(w);
		w->s[0].count = 1000 * (1 + 9);
		for (k = 0; k < 2000; k++)
			stacktypes__offer(w->t, w->v[0].id, alternating(k), 233, k & 1 ? 9 : 1);
		stacktypes__read(w->t, &w->mem, FREEZE_NONE);
		for (i = 0; i < w->v[0].types->n; i++)
			if (w->v[0].types->v[i].b.kind == CENSUS_BLOCK_STORAGE)
				storage += w->v[0].types->v[i].sampled;
		total += w->v[0].types->read;
		assert_int_equal(w->v[0].types->of, 10000);
	}
	assert_int_equal(total, 200 * 8);
	assert_true(storage > total * 0.85 && storage < total * 0.95);
	world_free(w);
}

static uint64_t five_at(uint64_t k)
{
	static const uint64_t a[] = { 10, 20, 16, 30, 17 };	/* bytes, bytes, storage, bytes, storage */

	return a[k];
}

/* Given a stack of 5 blocks (fewer than a sample), then each is read once
 * and the text gives counts, not a sample: "(types: bytes 3, not an object 2)". */
static void test_small_stack_is_exact(void **state)
{
	struct world *w = world_new(1);
	char buf[512];
	json_t *j;

	reset(w);
	offer(w, 0, 5, five_at);
	stacktypes__read(w->t, &w->mem, FREEZE_NONE);
	assert_int_equal(w->f.nreads, 5);
	assert_string_equal(stacktypes__text(w->v[0].types, buf, sizeof(buf)),
			    " (types: bytes 3, not an object 2)");
	j = stacktypes__json(w->v[0].types);
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "kind")), "object");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "type")), "bytes");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "module")), "builtins");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "sampled")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "of")), 5);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "estimated_count")), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "kind")),
			    "not_an_object");
	assert_true(json_is_null(json_object_get(json_array_get(j, 1), "type")));
	json_decref(j);
	world_free(w);
}

/* block k: k % 10 decides: 6 bytes, 2 not objects, 1 unreadable, 1 hostile per 10 */
static uint64_t mixed(uint64_t k)
{
	return 10 * k + (k % 10);
}

/* Given a large mixed stack, then the text says the counts are of the
 * sample, most sampled first, with the estimate in JSON scaled to the
 * stack's count; a hostile class name is escaped. */
static void test_sampled_text_and_estimate(void **state)
{
	struct world *w = world_new(1);
	const struct stack_types *t;
	char buf[2048];
	int i, sum = 0;
	json_t *j;

	reset(w);
	offer(w, 0, 100000, mixed);
	stacktypes__read(w->t, &w->mem, FREEZE_NONE);
	t = w->v[0].types;
	assert_non_null(t);
	assert_int_equal(t->read, 8);
	for (i = 0; i < t->n; i++) {
		sum += t->v[i].sampled;
		if (i)
			assert_true(t->v[i - 1].sampled >= t->v[i].sampled);
	}
	assert_int_equal(sum, 8);
	stacktypes__text(t, buf, sizeof(buf));
	assert_int_equal(strncmp(buf, " (types of 8 sampled: ", 22), 0);
	assert_null(strchr(buf, '\n'));
	assert_null(strchr(buf, '\x1b'));
	j = stacktypes__json(t);
	for (i = 0; i < (int)json_array_size(j); i++) {
		json_t *e = json_array_get(j, i);

		assert_int_equal(json_integer_value(json_object_get(e, "estimated_count")),
				 (100000 * t->v[i].sampled + 4) / 8);
	}
	json_decref(j);
	world_free(w);
}

static uint64_t hostile_at(uint64_t k)
{
	return 19;
}

/* Given a class whose name carries an escape sequence and a newline, then
 * the text shows them escaped: no forged report line, no terminal control. */
static void test_hostile_name(void **state)
{
	struct world *w = world_new(1);
	char buf[512];

	reset(w);
	offer(w, 0, 1, hostile_at);
	stacktypes__read(w->t, &w->mem, FREEZE_NONE);
	assert_string_equal(stacktypes__text(w->v[0].types, buf, sizeof(buf)),
			    " (types: Evil\\x1b[2J\\n#1 growing 1)");
	world_free(w);
}

/* Given 40 ranked stacks, then only the first STACKTYPES_STACKS are read
 * (8 blocks each at most) and the rest have no types. */
static void test_bounded(void **state)
{
	struct world *w = world_new(40);
	int i;

	reset(w);
	for (i = 0; i < 40; i++)
		offer(w, i, 100, bytes_at);
	stacktypes__read(w->t, &w->mem, FREEZE_NONE);
	assert_int_equal(w->f.nreads, STACKTYPES_STACKS * STACKTYPES_SAMPLES);
	for (i = 0; i < 40; i++)
		if (i < STACKTYPES_STACKS)
			assert_non_null(w->v[i].types);
		else
			assert_null(w->v[i].types);
	world_free(w);
}

/* Given samples, then nothing is read when the maps are frozen at the
 * target's end (its memory is gone), when the reader is not ready (no
 * census yet), or for a stack that was not offered; a reader failing
 * mid-stack keeps what it read. */
static void test_when_not_read(void **state)
{
	struct world *w = world_new(2);
	char buf[64];
	uint32_t as_of;

	for (as_of = FREEZE_SHUTDOWN; as_of <= FREEZE_EXIT_IN_SHUTDOWN; as_of++) {
		reset(w);
		offer(w, 0, 100, bytes_at);
		stacktypes__read(w->t, &w->mem, as_of);
		assert_int_equal(w->f.nreads, 0);
		assert_null(w->v[0].types);
	}
	reset(w);
	offer(w, 0, 100, bytes_at);
	stacktypes__read(w->t, &w->mem, FREEZE_DETACH);	/* the final report at Ctrl-C */
	assert_non_null(w->v[0].types);
	assert_null(w->v[1].types);			/* nothing offered */

	w->f.begin_ret = -EAGAIN;
	reset(w);
	offer(w, 0, 100, bytes_at);
	stacktypes__read(w->t, &w->mem, FREEZE_NONE);
	assert_int_equal(w->f.nreads, 0);
	assert_null(w->v[0].types);
	assert_string_equal(stacktypes__text(w->v[0].types, buf, sizeof(buf)), "");

	w->f.begin_ret = 0;
	w->f.fail_after = 3;
	reset(w);
	offer(w, 0, 100, bytes_at);
	stacktypes__read(w->t, &w->mem, FREEZE_NONE);
	assert_non_null(w->v[0].types);
	assert_int_equal(w->v[0].types->read, 3);
	assert_string_equal(stacktypes__text(w->v[0].types, buf, sizeof(buf)),
			    " (types of 3 sampled: bytes 3)");
	world_free(w);
}

/* Without a census there is no stacktypes: every call is a no-op. */
static void test_no_census(void **state)
{
	struct snap_section mem = { 0 };

	assert_null(stacktypes__new_census(NULL));
	stacktypes__clear(NULL);
	stacktypes__offer(NULL, 1, 2, 3, 1);
	stacktypes__read(NULL, &mem, FREEZE_NONE);
	stacktypes__free(NULL);
}

/* Samples are per collection: a stack's blocks of the last report are not
 * read again after a clear. */
static void test_clear_forgets(void **state)
{
	struct world *w = world_new(1);

	reset(w);
	offer(w, 0, 3, bytes_at);
	reset(w);
	w->s[0].count = 3;
	stacktypes__read(w->t, &w->mem, FREEZE_NONE);
	assert_int_equal(w->f.nreads, 0);
	assert_null(w->v[0].types);
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_is_spread),
		cmocka_unit_test(test_sample_is_uniform),
		cmocka_unit_test(test_sample_is_weighted),
		cmocka_unit_test(test_small_stack_is_exact),
		cmocka_unit_test(test_sampled_text_and_estimate),
		cmocka_unit_test(test_hostile_name),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_when_not_read),
		cmocka_unit_test(test_no_census),
		cmocka_unit_test(test_clear_forgets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
