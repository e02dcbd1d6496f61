// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sampled mode: bpf/sample.bpf.h's draw (compiled here with a userspace
 * random source: the same integer code BPF runs), the estimator that
 * scales each sample (collect__unsample), and --max-overhead's decisions
 * (user/budget.c) on recorded-style counter series.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <linux/types.h>

#include "budget.h"
#include "collect.h"

/* bpf/sample.bpf.h as userspace code */
static uint64_t rng = 88172645463325252ULL;
static __u32 test_prandom(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (__u32)(rng >> 16);
}
#define bpf_get_prandom_u32 test_prandom
#undef __always_inline
#define __always_inline inline
#include "../../bpf/sample.bpf.h"

/* The draws are exponential with the asked mean: mean and the share above
 * the mean (e^-1) within 1%. */
static void test_draw_is_exponential(void **state)
{
	const __u64 mean = 512 * 1024;
	double sum = 0, above = 0;
	int i, n = 400000;

	(void)state;
	for (i = 0; i < n; i++) {
		__u64 d = sample_draw(mean);

		sum += d;
		above += d > mean;
	}
	assert_true(fabs(sum / n / mean - 1) < 0.01);
	assert_true(fabs(above / n - exp(-1)) < 0.01);
}

/* Allocations of mixed sizes through sample_take() and scaled back by
 * collect__unsample(): the totals of bytes and counts are unbiased (within
 * 2% and 4% over four million allocations), and as many are sampled as the
 * probabilities 1 - exp(-size / mean) say. */
static void test_estimates_are_unbiased(void **state)
{
	static const uint64_t sizes[] = { 24, 64, 200, 600, 1500, 4096, 40000, 300000, 2000000 };
	const uint64_t mean = 64 * 1024;
	double bytes = 0, count = 0, est_bytes = 0, est_count = 0, expect_taken = 0;
	__s64 left = 0;
	int i, taken = 0, n = 4000000;

	(void)state;
	for (i = 0; i < n; i++) {
		uint64_t s = sizes[(i * 7 + i / 3) % 9], b, c;

		bytes += s;
		count += 1;
		expect_taken += -expm1(-(double)s / mean);
		if (!sample_take(&left, s, mean))
			continue;
		taken++;
		collect__unsample(s, mean, 0x7f0000000000ULL + 16 * (uint64_t)i, &b, &c);
		est_bytes += b;
		est_count += c;
	}
	/* the count is carried by the few samples of the smallest sizes (a 24-byte
	 * one stands for 2700): its standard error here is about 1% */
	assert_true(fabs(est_bytes / bytes - 1) < 0.02);
	assert_true(fabs(est_count / count - 1) < 0.04);
	assert_true(fabs(taken / expect_taken - 1) < 0.02);
}

/* One allocation as large as the interval is sampled with p = 1 - 1/e:
 * it stands for 1/p of itself; a huge one is itself. */
static void test_unsample_values(void **state)
{
	uint64_t b, c;

	(void)state;
	collect__unsample(1000, 1000, 0x1000, &b, &c);
	assert_true(llabs((long long)b - 1582) <= 1);
	assert_true(c == 1 || c == 2);
	collect__unsample(1 << 30, 512 * 1024, 0x2000, &b, &c);
	assert_int_equal(b, 1 << 30);
	assert_int_equal(c, 1);
}

/* A process's counters after t seconds at a given call rate. */
static void counters(uint64_t *st, double calls_per_s, double t)
{
	memset(st, 0, STAT__COUNT * sizeof(*st));
	st[STAT_CALLS] = (uint64_t)(calls_per_s * t);
	st[STAT_FREE_CALLS] = (uint64_t)(calls_per_s * t);
}

static void test_budget_decisions(void **state)
{
	struct budget_opts o = { .max_pct = 3, .base_sample = 512 * 1024 };
	struct budget_state b = {};
	uint64_t st[STAT__COUNT], sample = 0;
	char note[256];

	(void)state;
	/* the first look only primes */
	counters(st, 1000, 0);
	assert_int_equal(budget__judge(&b, &o, st, 0, 0, 0, &sample, note, sizeof(note)), BUDGET_KEEP);
	/* 1000 calls/s on a busy process (a full CPU): 3 hits each, 1.3 us: 0.4% */
	counters(st, 1000, 5);
	assert_int_equal(budget__judge(&b, &o, st, 5000000000ULL, 0, 5, &sample, note, sizeof(note)),
			 BUDGET_KEEP);
	assert_true(b.est_pct > 0.3 && b.est_pct < 0.5);
	/* 100k calls/s: 39% of its CPU, the traps alone 18%: paused */
	counters(st, 1000, 5);
	st[STAT_CALLS] += 100000 * 5;
	st[STAT_FREE_CALLS] += 100000 * 5;
	assert_int_equal(budget__judge(&b, &o, st, 10000000000ULL, 0, 10, &sample, note, sizeof(note)),
			 BUDGET_PAUSE);
	assert_non_null(strstr(note, "paused for 30 s"));
	/* still paused before the 30 s are over, resumed after */
	assert_int_equal(budget__judge(&b, &o, st, 11000000000ULL, 0, 20, &sample, note, sizeof(note)),
			 BUDGET_KEEP);
	assert_int_equal(budget__judge(&b, &o, st, 12000000000ULL, 0, 41, &sample, note, sizeof(note)),
			 BUDGET_RESUME);
	assert_int_equal(sample, 512 * 1024);
}

/* Where our program's work (stack walks) is the cost, not the traps, the
 * interval is raised instead; well under the budget it steps back. */
static void test_budget_raises_sampling(void **state)
{
	struct budget_opts o = { .max_pct = 3, .base_sample = 512 * 1024 };
	struct budget_state b = {};
	uint64_t st[STAT__COUNT], sample = 0;
	char note[256];

	(void)state;
	counters(st, 0, 0);
	budget__judge(&b, &o, st, 0, 0, 0, &sample, note, sizeof(note));
	/* 7000 calls/s, our program at 10 us a run (a measured average): traps
	 * 1.3%, the whole 22% */
	counters(st, 7000, 1);
	assert_int_equal(budget__judge(&b, &o, st, 1000000000ULL, 10000, 1, &sample, note, sizeof(note)),
			 BUDGET_SAMPLE);
	assert_int_equal(sample, 2 * 1024 * 1024);
	assert_non_null(strstr(note, "sampled every 2 MiB"));
	/* then nearly idle: back towards 512 KiB, one halving a report */
	st[STAT_CALLS] += 10;
	assert_int_equal(budget__judge(&b, &o, st, 2000000000ULL, 10000, 2, &sample, note, sizeof(note)),
			 BUDGET_SAMPLE);
	assert_int_equal(sample, 1024 * 1024);
}

/* Under session links a skipped return is no hit; and the returns of sampled
 * leaf calls (leaf_kept), which sampling would skip too, are not counted in
 * what sampling cannot cut: a rate that pauses with return probes samples. */
static void test_budget_sessions(void **state)
{
	struct budget_opts o = { .max_pct = 3, .base_sample = 0 };
	struct budget_state b = {}, classic = {};
	uint64_t st[STAT__COUNT], sample = 0;
	char note[256];

	(void)state;
	memset(st, 0, sizeof(st));
	st[STAT_CALLS] = 100;
	st[STAT_NESTED] = 10;
	st[STAT_FREE_CALLS] = 50;
	st[STAT_RETURNS_SKIPPED] = 80;
	assert_int_equal(budget__hits(st), 2 * 110 + 50 - 80);
	/* exact, 15000 leaf calls/s and as many frees, our program at 10 us a
	 * hit: 48% of its CPU; the unsampled floor 3.2% of it with a return
	 * trap a call, 2.1% without (under 80% of the budget) */
	counters(st, 0, 0);
	budget__judge(&b, &o, st, 0, 0, 0, &sample, note, sizeof(note));
	budget__judge(&classic, &o, st, 0, 0, 0, &sample, note, sizeof(note));
	counters(st, 15000, 1);
	assert_int_equal(budget__judge(&classic, &o, st, 1000000000ULL, 10000, 1, &sample, note,
				       sizeof(note)), BUDGET_PAUSE);
	st[STAT_LEAF_KEPT] = 15000;
	assert_int_equal(budget__judge(&b, &o, st, 1000000000ULL, 10000, 1, &sample, note,
				       sizeof(note)), BUDGET_SAMPLE);
	assert_int_equal(sample, 512 * 1024);
	assert_true(b.est_pct > 40 && b.est_pct < 50);
}

/* A process whose live allocations overflow the map goes to sampling,
 * with or without a budget. */
static void test_overflow_samples(void **state)
{
	struct budget_opts o = { .max_pct = 0, .base_sample = 0 };
	struct budget_state b = {};
	uint64_t st[STAT__COUNT], sample = 0;
	char note[256];

	(void)state;
	counters(st, 100, 0);
	budget__judge(&b, &o, st, 0, 0, 0, &sample, note, sizeof(note));
	counters(st, 100, 1);
	st[STAT_ALLOCS_FULL] = 5000;
	assert_int_equal(budget__judge(&b, &o, st, 1000000000ULL, 0, 1, &sample, note, sizeof(note)),
			 BUDGET_SAMPLE);
	assert_int_equal(sample, 512 * 1024);
	assert_non_null(strstr(note, "overflowed the allocation map"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_draw_is_exponential),
		cmocka_unit_test(test_estimates_are_unbiased),
		cmocka_unit_test(test_unsample_values),
		cmocka_unit_test(test_budget_decisions),
		cmocka_unit_test(test_budget_raises_sampling),
		cmocka_unit_test(test_budget_sessions),
		cmocka_unit_test(test_overflow_samples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
