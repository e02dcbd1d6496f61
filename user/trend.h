/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One stack's history in one section (bytes of memory, or open fds), the
 * trend it shows and the order stacks are ranked in. Pure arithmetic over
 * the samples collect.c takes: unit-tested with recorded series.
 */
#ifndef __TREND_H
#define __TREND_H

#include <stdbool.h>
#include <stdint.h>

/* Reports a trend looks back over. */
#define TREND_HISTORY 6

/* new: seen in fewer reports than a judgement takes (4) */
enum trend { TREND_NEW, TREND_GROWING, TREND_STEADY, TREND_SHRINKING };

struct series {
	/* This report's sample, filled by the collector. */
	uint64_t amount;	/* outstanding (older than -o): bytes or fds */
	uint64_t count;		/* allocations (== amount for fds) */
	uint64_t kept;		/* of amount, what was already outstanding at the
				 * previous report: it outlived an interval */
	uint64_t oldest_ns;	/* allocation time of the oldest, CLOCK_MONOTONIC */

	/* History, a ring of the last TREND_HISTORY samples. */
	uint64_t hist[TREND_HISTORY];
	uint64_t hist_kept[TREND_HISTORY];
	double hist_t[TREND_HISTORY];
	unsigned int nhist;	/* samples in the ring (saturates at TREND_HISTORY) */
	unsigned int next;	/* ring slot of the next sample */
	unsigned int idle;	/* reports in a row with nothing outstanding */

	/* Derived by trend__push(). */
	enum trend trend;
	int64_t growth;		/* amount minus the previous report's */
	double rate;		/* per second, over the window */
};

/* Record this report's sample (amount, kept) at time t (seconds) and
 * derive trend, growth and rate. */
void trend__push(struct series *s, double t);
/* Forget the sample fields before a new collection (history stays). */
void trend__clear_sample(struct series *s);
/* qsort order: growing first, then larger amount first. */
int trend__cmp(const struct series *a, const struct series *b);
const char *trend__name(enum trend t);

#endif /* __TREND_H */
