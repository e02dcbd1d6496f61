// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --max-overhead: the per-process cost estimate and what it decides. */
#include <stdio.h>
#include "budget.h"

const enum stat_id budget__stats[BUDGET_NSTATS] = {
	STAT_CALLS, STAT_NESTED, STAT_FREE_CALLS, STAT_ALLOCS_FULL, STAT_RETURNS_SKIPPED,
	STAT_LEAF_KEPT,
};

uint64_t budget__hits(const uint64_t *stats)
{
	/* entry + return of each call, outermost (calls) and folded ones
	 * (nested), but the returns a session entry skipped */
	uint64_t all = 2 * (stats[STAT_CALLS] + stats[STAT_NESTED]) + stats[STAT_FREE_CALLS];

	return all > stats[STAT_RETURNS_SKIPPED] ? all - stats[STAT_RETURNS_SKIPPED] : 0;
}

static const char *human(uint64_t b, char *buf, size_t len)
{
	if (b >= (1ULL << 20))
		snprintf(buf, len, "%g MiB", b / 1048576.0);
	else
		snprintf(buf, len, "%g KiB", b / 1024.0);
	return buf;
}

enum budget_action budget__judge(struct budget_state *b, const struct budget_opts *o,
				 const uint64_t *stats, uint64_t cpu_ns, double bpf_ns, double now,
				 uint64_t *sample, char *note, size_t len)
{
	uint64_t hits = budget__hits(stats), dh, dcpu, floor;
	bool overflow = stats[STAT_ALLOCS_FULL] > b->allocs_full;
	enum budget_action act = BUDGET_KEEP;
	char s1[32];
	double cost;

	if (!b->primed) {
		b->primed = true;
		b->sample = o->base_sample;
		b->t = now;
		b->hits = hits;
		b->cpu_ns = cpu_ns;
		b->allocs_full = stats[STAT_ALLOCS_FULL];
		b->leaf_kept = stats[STAT_LEAF_KEPT];
		return BUDGET_KEEP;
	}
	/* (the counters are read one after another: never below zero) */
	dh = hits > b->hits ? hits - b->hits : 0;
	/* the hits sampling cannot cut: all but the returns of sampled leaf
	 * calls, which a session entry skips when unsampled */
	floor = stats[STAT_LEAF_KEPT] - b->leaf_kept;
	floor = dh > floor ? dh - floor : 0;
	dcpu = cpu_ns > b->cpu_ns ? cpu_ns - b->cpu_ns : 0;
	if (!overflow && !b->paused && now - b->t < BUDGET_WINDOW_S &&
	    (b->judged || dcpu < BUDGET_QUICK_CPU_NS || now - b->t < BUDGET_TICK_S * 0.9))
		return BUDGET_KEEP;	/* too short a window yet */
	b->judged = true;
	cost = dh * (BUDGET_TRAP_NS + (bpf_ns > 0 ? bpf_ns : BUDGET_BPF_NS));
	/* of the CPU time it used meanwhile, which includes what we cost it */
	b->est_pct = dcpu ? 100.0 * cost / dcpu : 0;
	b->t = now;
	b->hits = hits;
	b->cpu_ns = cpu_ns;
	b->allocs_full = stats[STAT_ALLOCS_FULL];
	b->leaf_kept = stats[STAT_LEAF_KEPT];
	*sample = b->sample;

	if (b->paused) {
		if (now < b->pause_until)
			return BUDGET_KEEP;
		/* measure again: the rate may have fallen */
		b->paused = false;
		act = BUDGET_RESUME;
		snprintf(note, len, "allocation probes back after a %.0f s pause (sampled every %s)",
			 b->pause_len, human(b->sample, s1, sizeof(s1)));
		return act;
	}
	if (overflow) {
		/* more live allocations than the map holds: sample instead of dropping */
		b->sample = b->sample ? b->sample * 4 : (o->base_sample ? o->base_sample : 512 << 10);
		if (b->sample > BUDGET_MAX_SAMPLE)
			b->sample = BUDGET_MAX_SAMPLE;
		*sample = b->sample;
		snprintf(note, len, "sampled every %s: its outstanding allocations overflowed the "
			 "allocation map (--max-allocs)", human(b->sample, s1, sizeof(s1)));
		return BUDGET_SAMPLE;
	}
	if (o->max_pct <= 0)
		return BUDGET_KEEP;
	if (b->est_pct > o->max_pct) {
		/* sampling cuts our program's stack walks and map updates, not
		 * the traps nor its unsampled path: when those alone would pass
		 * 80% of the budget, or at the largest interval, pause */
		if (b->sample < BUDGET_MAX_SAMPLE &&
		    100.0 * floor * (BUDGET_TRAP_NS + BUDGET_UNSAMPLED_NS) / (dcpu ? dcpu : 1) <=
		    0.8 * o->max_pct) {
			b->sample = b->sample ? b->sample * 4 : (o->base_sample ? o->base_sample :
								 512 << 10);
			if (b->sample > BUDGET_MAX_SAMPLE)
				b->sample = BUDGET_MAX_SAMPLE;
			*sample = b->sample;
			snprintf(note, len, "sampled every %s: tracing cost an estimated %.1f%% of its "
				 "CPU time, over --max-overhead %g%%", human(b->sample, s1, sizeof(s1)),
				 b->est_pct, o->max_pct);
			return BUDGET_SAMPLE;
		}
		b->paused = true;
		b->pause_len = b->pause_len ? b->pause_len * 2 : BUDGET_PAUSE_S;
		if (b->pause_len > 480)
			b->pause_len = 480;
		b->pause_until = now + b->pause_len;
		snprintf(note, len, "allocation probes paused for %.0f s: tracing cost an estimated "
			 "%.1f%% of its CPU time (the traps alone %.1f%%, which sampling cannot cut), "
			 "over --max-overhead %g%%; fds and the census go on", b->pause_len,
			 b->est_pct, 100.0 * floor * BUDGET_TRAP_NS / (dcpu ? dcpu : 1), o->max_pct);
		return BUDGET_PAUSE;
	}
	/* well under the budget at a raised interval: step back towards the base */
	if (b->sample > o->base_sample && o->base_sample && b->est_pct < o->max_pct / 8) {
		b->sample /= 2;
		if (b->sample < o->base_sample)
			b->sample = o->base_sample;
		*sample = b->sample;
		snprintf(note, len, "sampled every %s again: estimated cost %.1f%% of its CPU time",
			 human(b->sample, s1, sizeof(s1)), b->est_pct);
		return BUDGET_SAMPLE;
	}
	return BUDGET_KEEP;
}
