/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One traced process: what was found in it (user/python.c), its entry in
 * the BPF procs map, its uprobe links, its symbolizer, collector and
 * census, and the labels its report sections carry. The tracer
 * (user/pyleak.c) owns many; the BPF object, the stack table and the
 * tracepoints are shared by all (struct tracer_shared).
 */
#ifndef __TARGET_H
#define __TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "budget.h"
#include "census.h"
#include "probe.h"
#include "procinfo.h"
#include "python.h"
#include "snapshot.h"

struct collector;
struct pyleak_bpf;
struct stack_table;
struct symbolizer;

/* What every target of a run shares: the options that shape it and the
 * objects it is attached to. */
struct tracer_shared {
	struct pyleak_bpf *skel;
	struct stack_table *stacks;
	const struct tracepoints *tps;
	bool multi;			/* uprobe_multi links */
	bool session;			/* ... and session links for the allocators */
	bool partial;			/* --partial */
	bool memory, fds;		/* --fds-only, --no-fds */
	bool follow;			/* children are traced too (not --no-follow) */
	bool pythonmalloc;		/* -- set PYTHONMALLOC=malloc for the launched command */
	uint64_t min_age_ns;
	uint64_t sample_bytes;		/* --sample-bytes (0: exact), new processes' */
	bool census;
	struct census_opts census_opts;
};

struct target {
	pid_t pid;			/* as the tracer's pid namespace names it: /proc, uprobes */
	pid_t host;			/* its tgid in the initial pid namespace: the procs map
					 * key (== pid unless the tracer runs in a pid namespace) */
	pid_t parent;			/* the traced process it was forked from, or 0 */
	uint32_t slot;			/* its counters (proc_cfg.slot), 1..MAX_PROCS */
	bool root;			/* named by -p, or the launched command */
	uint32_t status;		/* enum proc_status */
	char reason[256];		/* why it ended or could not be traced */
	bool in_bpf;			/* its procs entry exists */
	bool partial;
	struct pyproc py;
	struct probes probes;
	struct symbolizer *sym;
	struct collector *col;
	struct census *census;
	struct procinfo who;
	char note[512];
	struct report_meta meta;
	struct snapshot stub;		/* PROC_UNTRACEABLE: labels, status, reason */
	struct budget_state budget;	/* --max-overhead */
	char budget_note[256];
	bool paused;			/* its allocation probes are off (the budget) */
	/* Ended (exit, exec): its last snapshot was taken at once and its
	 * BPF state released (the pid may be traced again, a new image); the
	 * snapshot waits for the next report. */
	bool retired;
	const struct snapshot *last;
};

/*
 * Start tracing pid in slot: inspect it, write its procs entry (a forked
 * child's, which BPF made at the fork, keeps its place and gets its slot),
 * attach its uprobes, make its collector, symbolizer and census. On
 * failure -errno, err says why in one line, and nothing of it stays in
 * BPF (a child's entry is removed).
 */
int target__open(struct target *t, const struct tracer_shared *sh, pid_t pid, pid_t parent,
		 uint32_t slot, char *err, size_t errlen);
/* A process found and not traced: only its labels and the reason. */
void target__untraceable(struct target *t, pid_t pid, const char *reason);
/* Its probes off and its census stopped (before the final report's
 * detach of everything, or when it is gone). */
void target__stop(struct target *t);
/* Its end: last snapshot (final, reason), then its probes, records and
 * procs entry released; collector and census kept for the rendering. */
int target__retire(struct target *t, const struct tracer_shared *sh, const char *reason);
/* Forget it: links, its records in the maps, its procs entry, its state. */
void target__close(struct target *t, const struct tracer_shared *sh);
/* --max-overhead's decisions: a new sampling interval (0: exact), its
 * allocation probes off or on again; note goes in its report sections. */
int target__set_sampling(struct target *t, const struct tracer_shared *sh, uint64_t bytes);
void target__pause(struct target *t);
int target__resume(struct target *t, const struct tracer_shared *sh, char *err, size_t errlen);
void target__set_note(struct target *t, const char *note);
/* Its CPU time so far (user + system), ns; 0 if unreadable. */
uint64_t target__cpu_ns(const struct target *t);
/* Its procs entry's freeze (enum freeze_reason) and when, 0 if recording. */
uint32_t target__frozen(const struct target *t, const struct tracer_shared *sh, uint64_t *ns);

#endif /* __TARGET_H */
