// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/trend.c: when a stack is "growing", and the ranking.
 *
 * The series are made the way the collector makes them: a model of one
 * stack's allocations (when each is made, when it is freed, its size) is
 * sampled at report instants, summing the allocations older than -o
 * ("amount") and those already outstanding at the previous report
 * ("kept"). Patterns: a sawtooth buffer (filled, then cleared every
 * period) at many periods and phases against report intervals of 1, 2
 * and 5 s; a slow leak; a cache warming up then full; an LRU at capacity
 * replacing entries of varied sizes; a step; and a growing string whose
 * one block is reallocated (it keeps its first allocation's age).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "trend.h"

#define MIN_AGE		0.5	/* -o 500, the default */
#define REPORTS		10

/* A model: which allocations of one stack exist at time t, with their
 * allocation time. Returns the bytes outstanding older than min_age
 * (amount) and, of those, allocated at or before prev (kept). */
typedef void (*model_fn)(const void *arg, double t, double prev, uint64_t *amount,
			 uint64_t *kept);

/* Allocations made at rate bytes/s in blocks, from start, each freed at
 * the end of its period (period 0: never freed). */
struct stream {
	double rate, block, start, period, phase;
};

static void stream_at(const void *arg, double t, double prev, uint64_t *amount, uint64_t *kept)
{
	const struct stream *m = arg;
	double from = m->start, step = m->block / m->rate, a;

	/* a sawtooth: what the current period has made so far */
	if (m->period > 0 && t > m->phase)
		from = m->phase + floor((t - m->phase) / m->period) * m->period;
	if (from < m->start)
		from = m->start;
	*amount = *kept = 0;
	for (a = from; a <= t; a += step) {
		if (t - a < MIN_AGE)
			continue;
		*amount += (uint64_t)m->block;
		if (a <= prev)
			*kept += (uint64_t)m->block;
	}
}

/* Report at t0 + k * interval, k = 1..REPORTS; the trends in order. */
static void run(model_fn fn, const void *arg, double t0, double interval, struct series *s,
		enum trend *trends)
{
	double prev = t0;
	int k;

	memset(s, 0, sizeof(*s));
	for (k = 1; k <= REPORTS; k++) {
		double t = t0 + k * interval;

		trend__clear_sample(s);
		fn(arg, t, prev, &s->amount, &s->kept);
		trend__push(s, t);
		trends[k - 1] = s->trend;
		prev = t;
	}
}

static int first_growing(const enum trend *trends)
{
	int k;

	for (k = 0; k < REPORTS; k++)
		if (trends[k] == TREND_GROWING)
			return k + 1;
	return 0;
}

static const double intervals[] = { 1, 2, 5 };

/* Given a bounded sawtooth (4 MB filled at 2 MB/s, cleared every period),
 * at periods around and between the report intervals and at many phases,
 * then no report calls it growing when its period spans at most three
 * intervals; a longer one (shorter than the window) only while its first
 * period is in the window. */
static void test_sawtooth_never_grows(void **state)
{
	static const double periods[] = { 0.7, 1.0, 1.5, 1.9, 2.0, 2.05, 2.1, 2.5, 3.0, 4.9, 5.0, 5.2 };
	enum trend trends[REPORTS];
	struct series s;
	unsigned int i, p, ph;

	for (i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++)
		for (p = 0; p < sizeof(periods) / sizeof(periods[0]); p++)
			for (ph = 0; ph < 10; ph++) {
				struct stream m = { 2e6 * periods[p] / 2.0, 4096, 0, periods[p],
						    periods[p] * ph / 10.0 };

				int last = 0, k;

				run(stream_at, &m, 10.0 + ph * 0.037, intervals[i], &s, trends);
				for (k = 0; k < REPORTS; k++)
					if (trends[k] == TREND_GROWING)
						last = k + 1;
				/* A period spanning the whole window is a rise that ends:
				 * no window can tell it from a leak that stops. */
				if (periods[p] >= (TREND_HISTORY - 1) * intervals[i])
					continue;
				if (periods[p] > 3 * intervals[i] &&
				    last <= (int)ceil(periods[p] / intervals[i]) + 1)
					continue;
				if (last)
					fail_msg("sawtooth period %.2f s phase %u/10 at interval %.0f s: "
						 "growing at report %d", periods[p], ph, intervals[i],
						 first_growing(trends));
			}
}

/* Given a leak of 20 KB/s (4 KiB blocks), then it is growing by the fourth
 * report and stays growing, at every interval. */
static void test_slow_leak_grows(void **state)
{
	enum trend trends[REPORTS];
	struct series s;
	unsigned int i;
	int k;

	for (i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
		struct stream m = { 20000, 4096, 0, 0, 0 };

		run(stream_at, &m, 3.0, intervals[i], &s, trends);
		assert_int_not_equal(first_growing(trends), 0);
		assert_true(first_growing(trends) <= 4);
		for (k = first_growing(trends); k < REPORTS; k++)
			if (trends[k] != TREND_GROWING)
				fail_msg("leak at interval %.0f s: report %d is %s", intervals[i], k + 1,
					 trend__name(trends[k]));
		assert_true(s.rate > 15000 && s.rate < 25000);
	}
}

/* A cache filled over the first 3 s, then held: growing while it fills,
 * steady from a window after. */
struct fill {
	double until;
};

static void fill_at(const void *arg, double t, double prev, uint64_t *amount, uint64_t *kept)
{
	const struct fill *m = arg;
	struct stream st = { 3e6, 8192, 0, 0, 0 };
	double stop = t < m->until ? t : m->until;

	stream_at(&st, stop, prev < stop ? prev : stop, amount, kept);
	if (t > m->until && prev >= m->until)
		*kept = *amount;
}

static void test_warm_up_then_steady(void **state)
{
	struct fill m = { 4.5 };
	enum trend trends[REPORTS];
	struct series s;

	run(fill_at, &m, 0, 1, &s, trends);
	assert_int_not_equal(first_growing(trends), 0);
	assert_int_equal(trends[REPORTS - 1], TREND_STEADY);
	assert_int_equal(trends[REPORTS - 2], TREND_STEADY);
}

/* An LRU at capacity: 1000 entries of 200 to 5000 bytes, replaced at 300
 * entries a second (oldest out), amounts wobble but never climb. */
static void lru_at(const void *arg, double t, double prev, uint64_t *amount, uint64_t *kept)
{
	const int cap = 1000;
	long newest = (long)(t * 300), k;

	(void)arg;
	*amount = *kept = 0;
	for (k = newest - cap + 1; k <= newest; k++) {
		double at = k / 300.0;
		uint64_t size = 200 + (uint64_t)((k * 2654435761u) % 4800);

		if (k < 0 || t - at < MIN_AGE)
			continue;
		*amount += size;
		if (at <= prev)
			*kept += size;
	}
}

static void test_lru_never_grows(void **state)
{
	enum trend trends[REPORTS];
	struct series s;
	unsigned int i, ph;

	for (i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++)
		for (ph = 0; ph < 20; ph++) {
			run(lru_at, NULL, 20.0 + ph * 0.13, intervals[i], &s, trends);
			if (first_growing(trends))
				fail_msg("LRU at interval %.0f s, phase %u: growing at report %d",
					 intervals[i], ph, first_growing(trends));
		}
}

/* A step: 10 MB allocated at once, then held; the window sees a rise in
 * one interval only. */
static void step_at(const void *arg, double t, double prev, uint64_t *amount, uint64_t *kept)
{
	(void)arg;
	*amount = t - 4.0 >= MIN_AGE ? 10000000 : 0;
	*kept = prev >= 4.0 ? *amount : 0;
}

static void test_step_is_not_a_leak(void **state)
{
	enum trend trends[REPORTS];
	struct series s;
	int k, growing = 0;

	run(step_at, NULL, 0, 1, &s, trends);
	for (k = 0; k < REPORTS; k++)
		growing += trends[k] == TREND_GROWING;
	/* Right after the step the window is [0, 0, .., 10M, 10M]: it rose,
	 * and what rose stayed: at most a report or two call it growing. */
	assert_true(growing <= 2);
	assert_int_equal(trends[REPORTS - 1], TREND_STEADY);
}

/* A string grown by realloc: one block, reallocated on every append, keeps
 * its first allocation's time, so all of it counts as kept. */
static void string_at(const void *arg, double t, double prev, uint64_t *amount, uint64_t *kept)
{
	(void)arg;
	*amount = t > 1.0 ? (uint64_t)(50000 * (t - 1.0)) : 0;
	*kept = prev > 1.0 ? *amount : 0;
}

static void test_growing_string_grows(void **state)
{
	enum trend trends[REPORTS];
	struct series s;

	run(string_at, NULL, 2.0, 1, &s, trends);
	assert_int_equal(first_growing(trends), 4);
	assert_int_equal(trends[REPORTS - 1], TREND_GROWING);
}

/* Given a growing stack and a larger steady one, growing ranks first; among
 * equals, more bytes first. */
static void test_ranking(void **state)
{
	struct series big = { .amount = 50000000, .trend = TREND_STEADY };
	struct series leak = { .amount = 40000, .trend = TREND_GROWING };
	struct series leak2 = { .amount = 80000, .trend = TREND_GROWING };
	struct series fresh = { .amount = 90000000, .trend = TREND_NEW };

	assert_true(trend__cmp(&leak, &big) < 0);
	assert_true(trend__cmp(&big, &leak) > 0);
	assert_true(trend__cmp(&leak2, &leak) < 0);
	assert_true(trend__cmp(&fresh, &big) < 0);
	assert_true(trend__cmp(&leak, &fresh) < 0);
	assert_int_equal(trend__cmp(&big, &big), 0);
}

/* The first sample is new; a flat series is steady; a falling one shrinks. */
static void test_new_steady_shrinking(void **state)
{
	struct series s = {};
	int k;

	s.amount = 1000;
	trend__push(&s, 1);
	assert_int_equal(s.trend, TREND_NEW);
	for (k = 2; k < 6; k++) {
		s.amount = s.kept = 1000;
		trend__push(&s, k);
		/* judged from the fourth report on */
		assert_int_equal(s.trend, k < 4 ? TREND_NEW : TREND_STEADY);
	}
	s.amount = s.kept = 500;
	trend__push(&s, 6);
	assert_int_equal(s.trend, TREND_SHRINKING);
	assert_int_equal(s.growth, -500);
	assert_string_equal(trend__name(TREND_GROWING), "growing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sawtooth_never_grows),
		cmocka_unit_test(test_slow_leak_grows),
		cmocka_unit_test(test_warm_up_then_steady),
		cmocka_unit_test(test_lru_never_grows),
		cmocka_unit_test(test_step_is_not_a_leak),
		cmocka_unit_test(test_growing_string_grows),
		cmocka_unit_test(test_ranking),
		cmocka_unit_test(test_new_steady_shrinking),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
