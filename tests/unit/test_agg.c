// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/agg.c, the fold protocol of the per-stack sums, against a real BPF
 * hash map of the stack_agg layout (needs root and BPF, as test_bpfload):
 * which entries may be drained when, that a drained entry lands in the
 * base and leaves the map, and the epoch length chosen for -o and the
 * interval.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "agg.h"

#define MS	1000000ULL
#define SHIFT	20		/* 1.05 ms epochs */

static void test_shift_for(void **state)
{
	/* at most half of -o and a quarter of the interval, a power of two */
	assert_int_equal(agg__shift_for(500 * MS, 5), 27);	/* 134 ms <= 250 ms */
	assert_int_equal(agg__shift_for(0, 5), 30);		/* 1.07 s <= 1.25 s */
	assert_int_equal(agg__shift_for(1000 * MS, 0.25), 25);	/* 33.5 ms <= 62.5 ms */
	assert_int_equal(agg__shift_for(1, 0.1), 20);		/* at least 2^20 */
	assert_int_equal(agg__shift_for(0, 1e6), 33);		/* at most 2^33 */
}

static void test_fold_protocol(void **state)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "agg_test", sizeof(struct agg_key),
				sizeof(struct agg_val), 64, NULL);
	__u64 word = 0;
	__s64 sampled = 0;
	uint64_t t0 = 1000 * 1000 * MS, before;	/* 1000 s of uptime */
	struct agg_key old = { .pid = 7, .epoch = 5, .stack_id = 42 };
	struct agg_key folded0 = { .pid = 7, .epoch = AGG_FOLDED(0), .stack_id = 42 };
	struct agg_val v = { 300, 3 }, neg = { -100, -1 }, out;
	struct u64map bases;
	struct agg_base *b;

	assert_true(fd >= 0);
	assert_int_equal(u64map__init(&bases, sizeof(struct agg_base)), 0);
	agg__setup(fd, &word, &sampled, SHIFT, 0.1);
	assert_true(agg__enabled());
	/* nothing published: no epoch is drained, nor the parity BPF writes */
	assert_false(agg__drainable(5, t0));
	assert_false(agg__drainable(AGG_FOLDED(0), t0));
	assert_true(agg__drainable(AGG_FOLDED(1), t0));

	/* a report publishes: epochs before now - one epoch, folded parity 1 */
	agg__end_round(t0, 0);
	before = (t0 - (1ULL << SHIFT)) >> SHIFT;
	assert_int_equal(AGG_FOLD_BEFORE(word), before);
	assert_int_equal(AGG_FOLD_PARITY(word), 1);
	/* a report too soon after (half the interval, 50 ms at least) changes nothing */
	assert_false(agg__drainable(5, t0 + 10 * MS));
	assert_false(agg__drainable(AGG_FOLDED(0), t0 + 10 * MS));
	agg__end_round(t0 + 10 * MS, 0);
	assert_int_equal(word, before | 1ULL << 63);
	/* once settled: the old epochs and parity 0, never the parity in use */
	assert_true(agg__drainable(5, t0 + 60 * MS));
	assert_true(agg__drainable(before - 1, t0 + 60 * MS));
	assert_false(agg__drainable(before, t0 + 60 * MS));
	assert_true(agg__drainable(AGG_FOLDED(0), t0 + 60 * MS));
	assert_false(agg__drainable(AGG_FOLDED(1), t0 + 60 * MS));

	/* drained: into the base (signed: a folded entry holds frees), out of the map */
	assert_int_equal(bpf_map_update_elem(fd, &old, &v, BPF_NOEXIST), 0);
	assert_int_equal(bpf_map_update_elem(fd, &folded0, &neg, BPF_NOEXIST), 0);
	assert_true(agg__drain(&bases, &old, &v));
	assert_true(agg__drain(&bases, &folded0, &neg));
	b = u64map__get(&bases, 42 + 1);
	assert_non_null(b);
	assert_int_equal(b->bytes, 200);
	assert_int_equal(b->count, 2);
	assert_int_equal(b->oldest, 5);
	uint64_t drained = agg__drained();
	agg__end_round(t0 + 60 * MS, 0);
	assert_int_equal(drained, 2);
	assert_int_equal(bpf_map_lookup_elem(fd, &old, &out), -ENOENT);
	assert_int_equal(bpf_map_lookup_elem(fd, &folded0, &out), -ENOENT);
	/* and that report published again: the parity flips back */
	assert_int_equal(AGG_FOLD_PARITY(word), 0);
	assert_true(AGG_FOLD_BEFORE(word) >= before);
	/* a base back at zero is forgotten */
	neg = (struct agg_val){ -200, -2 };
	assert_true(agg__drain(&bases, &old, &neg));
	assert_null(u64map__get(&bases, 42 + 1));
	agg__end_round(t0 + 61 * MS, 0);

	u64map__free(&bases);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shift_for),
		cmocka_unit_test(test_fold_protocol),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
