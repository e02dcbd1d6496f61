// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * When is a stack "growing"? A leak holds on to what it allocates, so what
 * it holds keeps rising and what it held survives. The traps are bounded
 * patterns sampled at report instants:
 *  - a sawtooth (a buffer filled, then cleared every few seconds): the
 *    samples fall at arbitrary phases, and when the report interval is
 *    close to the period the phase drifts slowly, so the samples alone can
 *    rise report after report;
 *  - a cache that fills, then holds (an LRU at capacity): it is growing
 *    while it fills and must turn steady once it is full.
 * A sample alone cannot tell a drifting sawtooth from a slow leak, but a
 * sawtooth frees what it allocated within one period: what it holds at a
 * report was mostly allocated since the previous one. So besides the
 * amount, each sample carries "kept": the part of the amount that was
 * already outstanding at the previous report. Growing then means, over
 * the window of the last TREND_HISTORY reports:
 *  1. the amount rose over the window, in at least half of its intervals;
 *  2. its floor rose: the lowest sample of the later half (the middle one
 *     included) is above the lowest of the earlier half (a sawtooth keeps
 *     touching its floor);
 *  3. what survived an interval now (kept) is more than the stack held at
 *     any report before the previous one: the growth is memory that stays,
 *     not fresh memory that a drifting phase happens to catch.
 * And it takes TREND_MIN_SAMPLES samples: the first samples of a sawtooth
 * rise like a leak's for as many intervals as its period spans, so a
 * sawtooth of up to three intervals is never called growing, a longer one
 * only during its first period (once its drop is in the window, rule 2 or
 * 3 fails), and a leak is growing from its fourth report on. A period as
 * long as the window (5 intervals) is a rise that ends, as a leak that
 * stops is: no window of samples can tell them apart.
 */
#define TREND_MIN_SAMPLES 4
#include <stddef.h>
#include "trend.h"

static const char *const names[] = { "new", "growing", "steady", "shrinking" };

const char *trend__name(enum trend t)
{
	return (unsigned int)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

void trend__clear_sample(struct series *s)
{
	s->amount = s->count = s->kept = s->oldest_ns = 0;
}

/* The window's samples, oldest first. */
struct window {
	uint64_t a[TREND_HISTORY], kept[TREND_HISTORY];
	double t[TREND_HISTORY];
	unsigned int n;
};

static void window_of(const struct series *s, struct window *w)
{
	unsigned int k, first = (s->next + TREND_HISTORY - s->nhist) % TREND_HISTORY;

	w->n = s->nhist;
	for (k = 0; k < w->n; k++) {
		unsigned int slot = (first + k) % TREND_HISTORY;

		w->a[k] = s->hist[slot];
		w->kept[k] = s->hist_kept[slot];
		w->t[k] = s->hist_t[slot];
	}
}

static uint64_t min_of(const uint64_t *v, unsigned int from, unsigned int to)
{
	uint64_t m = UINT64_MAX;

	for (; from < to; from++)
		if (v[from] < m)
			m = v[from];
	return m;
}

static uint64_t max_of(const uint64_t *v, unsigned int from, unsigned int to)
{
	uint64_t m = 0;

	for (; from < to; from++)
		if (v[from] > m)
			m = v[from];
	return m;
}

static bool growing(const struct window *w)
{
	unsigned int n = w->n, k, ups = 0, half = n / 2;

	if (n < TREND_MIN_SAMPLES || w->a[n - 1] <= w->a[0])
		return false;
	for (k = 1; k < n; k++)
		ups += w->a[k] > w->a[k - 1];
	if (ups * 2 < n - 1)					/* rule 1 */
		return false;
	if (min_of(w->a, half, n) <= min_of(w->a, 0, half))	/* rule 2 */
		return false;
	return w->kept[n - 1] > max_of(w->a, 0, n - 2);		/* rule 3 */
}

void trend__push(struct series *s, double t)
{
	struct window w;
	int64_t net;
	double dt;

	s->hist[s->next] = s->amount;
	s->hist_kept[s->next] = s->kept;
	s->hist_t[s->next] = t;
	s->next = (s->next + 1) % TREND_HISTORY;
	if (s->nhist < TREND_HISTORY)
		s->nhist++;
	s->idle = s->amount ? 0 : s->idle + 1;

	window_of(s, &w);
	s->growth = w.n > 1 ? (int64_t)w.a[w.n - 1] - (int64_t)w.a[w.n - 2] : 0;
	net = (int64_t)w.a[w.n - 1] - (int64_t)w.a[0];
	dt = w.t[w.n - 1] - w.t[0];
	s->rate = dt > 0 ? net / dt : 0;
	if (w.n < TREND_MIN_SAMPLES && !growing(&w))
		s->trend = TREND_NEW;	/* too few reports to judge */
	else if (growing(&w))
		s->trend = TREND_GROWING;
	else if (net < 0)
		s->trend = TREND_SHRINKING;
	else
		s->trend = TREND_STEADY;
}

int trend__cmp(const struct series *x, const struct series *y)
{
	int gx = x->trend == TREND_GROWING, gy = y->trend == TREND_GROWING;

	if (gx != gy)
		return gy - gx;
	return x->amount < y->amount ? 1 : x->amount > y->amount ? -1 : 0;
}
