/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --max-overhead: what tracing costs each process, estimated from its event
 * counts, and what to do when that passes the budget: raise its sampling
 * interval, and past that pause its allocation probes (fds and the census
 * go on); undo it when the rate falls. Also: a process whose outstanding
 * allocations overflow the map is switched to sampling. Decisions only;
 * the caller applies them (user/pyleak.c). Pure, unit-tested.
 */
#ifndef __BUDGET_H
#define __BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pyleak.h"

/* What one probe hit costs the target besides our BPF program: the trap,
 * on an instruction the kernel emulates (../shared/design: 0.6 us here;
 * pyleak-bpf places every probe on one). */
#define BUDGET_TRAP_NS		600.0
/* Our BPF program per hit when the kernel's run-time stats are off: the
 * average measured by bench/prog_cost.py (exact mode, stack walks included). */
#define BUDGET_BPF_NS		700.0
/* Our programs per hit on an unsampled call (bench/run.py: the sampled mode
 * adds 1.10x the time the same probes add empty, ~0.05-0.1 us a hit): what
 * sampling cannot cut besides the trap. */
#define BUDGET_UNSAMPLED_NS	100.0
#define BUDGET_MAX_SAMPLE	(64ULL << 20)	/* raised up to 64 MiB, then paused */
#define BUDGET_PAUSE_S		30.0		/* first pause; doubles each time, to 8 min */
/* The budget looks every BUDGET_TICK_S; a judgement covers BUDGET_WINDOW_S,
 * or as little as one tick once the process used BUDGET_QUICK_CPU_NS of CPU
 * (a busy process is judged a quarter of a second after the attach, an idle
 * one over a second, not on a few clock ticks). */
#define BUDGET_TICK_S		0.25
#define BUDGET_WINDOW_S		1.0
#define BUDGET_QUICK_CPU_NS	100000000ULL

struct budget_opts {
	double max_pct;		/* --max-overhead, 0: off */
	uint64_t base_sample;	/* the run's --sample-bytes (0: exact) */
};

/* Per process, across reports. */
struct budget_state {
	bool primed;
	bool judged;			/* a judgement made: later windows are full */
	double t;			/* the last judgement, CLOCK_MONOTONIC s */
	uint64_t hits, cpu_ns, allocs_full, leaf_kept;
	double est_pct;			/* the last estimate, % of the process's CPU time */
	bool paused;
	double pause_until, pause_len;
	uint64_t sample;		/* the interval in force (0: exact) */
};

enum budget_action {
	BUDGET_KEEP = 0,
	BUDGET_SAMPLE,		/* set sample_bytes to *sample */
	BUDGET_PAUSE,		/* detach its allocation probes */
	BUDGET_RESUME,		/* attach them again, at *sample */
};

/* The counters budget__judge reads (six lookups a process a look). */
#define BUDGET_NSTATS		6
extern const enum stat_id budget__stats[BUDGET_NSTATS];
/* Probe hits in a process's counters: every allocator entry and its
 * return (outermost and nested) but the returns session links skipped,
 * and every free. */
uint64_t budget__hits(const uint64_t *stats);
/*
 * One look (every BUDGET_TICK_S); a judgement once its window is long enough
 * (else BUDGET_KEEP, and the window goes on). stats: the process's counters (enum
 * stat_id), cpu_ns: its CPU time so far (user + system: the traps are
 * counted in it), bpf_ns: our BPF programs' average run time per hit (0:
 * unknown, BUDGET_BPF_NS is taken). note: what was done and why, for its
 * report section ("" when nothing is in force).
 */
enum budget_action budget__judge(struct budget_state *b, const struct budget_opts *o,
				 const uint64_t *stats, uint64_t cpu_ns, double bpf_ns, double now,
				 uint64_t *sample, char *note, size_t len);

#endif /* __BUDGET_H */
