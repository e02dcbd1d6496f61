// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/pymalloc.c's aggregation of pool headers, laid out by the real
 * table rows (3.8's 4 KiB pools, 3.12's 16 KiB): the capacity per size
 * class as sys._debugmallocstats() prints it (blocks in use + avail blocks
 * of one pool, recorded from the pyenv builds), totals, each kind of
 * inconsistent header refused and counted, the most-unused ranking and the
 * JSON. The walk itself runs against real processes in e2e census-pymalloc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "pymalloc.h"
#include "pyoffsets.h"

static void put32(uint8_t *h, uint32_t off, uint32_t v)
{
	memcpy(h + off, &v, sizeof(v));
}

/* A header as init_pool() leaves it, then count blocks allocated. */
static void header(const struct pyver_offsets *o, uint8_t *h, uint32_t arena, uint32_t szidx,
		   uint32_t count)
{
	uint32_t size = (szidx + 1) * o->small_alignment;

	memset(h, 0, 64);
	put32(h, o->pool_count, count);
	put32(h, o->pool_arenaindex, arena);
	put32(h, o->pool_szidx, szidx);
	put32(h, o->pool_nextoffset, 48 + 2 * size);
	put32(h, o->pool_maxnextoffset, o->pool_size - size);
}

static uint64_t capacity_of_one_pool(const struct pyver_offsets *o, uint32_t szidx)
{
	struct pymalloc_stats st = { 0 };
	uint8_t h[64];
	bool in_use;

	pymalloc__begin(&st, o);
	header(o, h, 0, szidx, 1);
	assert_true(pymalloc__pool(&st, o, 0, h, &in_use));
	assert_true(in_use);
	return st.cls[szidx].capacity;
}

static void test_capacity_as_printed_in_process(void **state)
{
	const struct pyver_offsets *o8 = pyoffsets__lookup(3, 8), *o12 = pyoffsets__lookup(3, 12);

	(void)state;
	/* Given one pool of a class, then its capacity is what
	 * _debugmallocstats printed for one pool: 3.8 class 0 "1 182 71",
	 * class 31 "4 27 1" (7 a pool); 3.12 class 0 "1 27 994", 31 "1 14 17". */
	assert_int_equal(capacity_of_one_pool(o8, 0), 182 + 71);
	assert_int_equal(capacity_of_one_pool(o8, 31), (27 + 1) / 4);
	assert_int_equal(capacity_of_one_pool(o12, 0), 27 + 994);
	assert_int_equal(capacity_of_one_pool(o12, 31), 14 + 17);
}

static void test_totals_and_refusals(void **state)
{
	const struct pyver_offsets *o = pyoffsets__lookup(3, 12);
	struct pymalloc_stats st = { 0 };
	uint8_t h[64];
	bool in_use;

	(void)state;
	st.known = true;
	st.arenas = 3;
	pymalloc__begin(&st, o);
	assert_int_equal(st.arenas, 3);		/* the counters read before stay */
	assert_int_equal(st.nclasses, 32);
	assert_int_equal(st.pool_size, 16384);
	/* Given two pools of 48-byte blocks, one of 512 and an empty one, */
	header(o, h, 5, 2, 10);
	assert_true(pymalloc__pool(&st, o, 5, h, &in_use) && in_use);
	header(o, h, 5, 2, 340);
	assert_true(pymalloc__pool(&st, o, 5, h, &in_use) && in_use);
	header(o, h, 5, 31, 31);
	assert_true(pymalloc__pool(&st, o, 5, h, &in_use) && in_use);
	header(o, h, 5, 0xffff, 0);	/* freshly carved: DUMMY_SIZE_IDX */
	assert_true(pymalloc__pool(&st, o, 5, h, &in_use) && !in_use);
	/* and headers that cannot be right: another arena's index, a class
	 * past the last, more blocks than fit, a maxnextoffset of another
	 * class, a nextoffset past the pool */
	header(o, h, 6, 2, 1);
	assert_false(pymalloc__pool(&st, o, 5, h, &in_use));
	header(o, h, 5, 32, 1);
	assert_false(pymalloc__pool(&st, o, 5, h, &in_use));
	header(o, h, 5, 2, 341);
	assert_false(pymalloc__pool(&st, o, 5, h, &in_use));
	header(o, h, 5, 2, 1);
	put32(h, o->pool_maxnextoffset, 16384 - 64);
	assert_false(pymalloc__pool(&st, o, 5, h, &in_use));
	header(o, h, 5, 2, 1);
	put32(h, o->pool_nextoffset, 16385);
	assert_false(pymalloc__pool(&st, o, 5, h, &in_use));
	assert_false(in_use);
	pymalloc__end(&st);

	/* then only the consistent ones are counted, the rest said */
	assert_int_equal(st.inconsistent, 5);
	assert_int_equal(st.pools_carved, 4 + 4);	/* the refused of arena 5 were carved */
	assert_int_equal(st.pools_in_use, 3);
	assert_int_equal(st.cls[2].pools, 2);
	assert_int_equal(st.cls[2].blocks, 350);
	assert_int_equal(st.cls[2].capacity, 2 * 340);
	assert_int_equal(st.blocks, 350 + 31);
	assert_int_equal(st.capacity, 2 * 340 + 31);
	assert_int_equal(st.bytes_in_use, 350 * 48 + 31 * 512);
	assert_int_equal(st.bytes_in_pools, 3 * 16384);
}

static void test_most_unused_and_json(void **state)
{
	const struct pyver_offsets *o = pyoffsets__lookup(3, 10);
	struct pymalloc_stats st = { 0 };
	uint8_t h[64];
	int top[3], n;
	bool in_use;
	json_t *j, *cls;

	(void)state;
	st.known = true;
	pymalloc__begin(&st, o);
	/* Given 16-byte blocks 1 of 1021 used, 64-byte 250 of 255, 256-byte 1
	 * of 63 in two pools and a full 512-byte pool, */
	header(o, h, 0, 0, 1);
	pymalloc__pool(&st, o, 0, h, &in_use);
	header(o, h, 0, 3, 250);
	pymalloc__pool(&st, o, 0, h, &in_use);
	header(o, h, 0, 15, 1);
	pymalloc__pool(&st, o, 0, h, &in_use);
	pymalloc__pool(&st, o, 0, h, &in_use);
	header(o, h, 0, 31, 31);
	pymalloc__pool(&st, o, 0, h, &in_use);
	pymalloc__end(&st);

	/* then the most unused bytes come first (256 B: 2 x 62 x 256; 16 B:
	 * 1020 x 16; 64 B: 5 x 64) and a full class is not listed */
	n = pymalloc__most_unused(&st, top, 3);
	assert_int_equal(n, 3);
	assert_int_equal(top[0], 15);
	assert_int_equal(top[1], 0);
	assert_int_equal(top[2], 3);
	n = pymalloc__most_unused(&st, top, 1);
	assert_int_equal(n, 1);
	assert_int_equal(top[0], 15);

	/* and the JSON lists the classes in use by size, with the totals (a
	 * walk that did not finish gives only the reason) */
	j = pymalloc__json(&st);
	assert_true(json_is_object(j));
	assert_null(json_object_get(j, "size_classes"));
	assert_non_null(json_object_get(j, "pools_unknown"));
	json_decref(j);
	st.pools_known = true;
	j = pymalloc__json(&st);
	assert_true(json_is_object(j));
	cls = json_object_get(j, "size_classes");
	assert_int_equal(json_array_size(cls), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(cls, 2), "size")), 256);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(cls, 2), "pools")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(cls, 2), "blocks_capacity")),
			 126);
	assert_int_equal(json_integer_value(json_object_get(j, "pools_in_use")), 5);
	assert_int_equal(json_integer_value(json_object_get(j, "pool_size")), 16384);
	json_decref(j);

	/* unknown counters: null */
	st.known = false;
	j = pymalloc__json(&st);
	assert_true(json_is_null(j));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capacity_as_printed_in_process),
		cmocka_unit_test(test_totals_and_refusals),
		cmocka_unit_test(test_most_unused_and_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
