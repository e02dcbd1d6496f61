/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What one report is: made once per interval by user/collect.c, read by
 * every output (user/out/). An output reads a snapshot and nothing else:
 * no output reaches into the BPF maps. Valid until the next collection.
 */
#ifndef __SNAPSHOT_H
#define __SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "fds.h"
#include "pyleak.h"
#include "stacks.h"
#include "trend.h"

struct census;
struct stack_types;

#define SNAP_EXAMPLES	3	/* fd targets shown per stack */
#define SNAP_SYSCALLS	6	/* distinct creating syscalls counted per stack */

/* A process's place in a report (JSON "status"). */
enum proc_status {
	PROC_TRACED = 0,	/* traced now (or until the final report) */
	PROC_EXITED,		/* gone since the previous report: its last section */
	PROC_UNTRACEABLE,	/* found, not traced: reason says why */
};

/* What is being traced, for every report's header. */
struct report_meta {
	pid_t pid;			/* as the tracer's pid namespace names it: the host's,
					 * or a sidecar's namespace's (user/hostpid.h) */
	pid_t host_pid;			/* in the initial pid namespace: BPF's map keys */
	pid_t ns_pid;			/* the pid in its own pid namespace */
	const char *comm;
	const char *cmdline;		/* truncated */
	const char *container;		/* container id from the cgroup path, "" if none */
	const char *cgroup;		/* the cgroup path ("/system.slice/app.service"), or NULL */
	const char *python;		/* "3.11.7", or NULL (untraceable: not known) */
	const char *build;		/* "pgo": a PGO build with pymalloc inlined (objects of
					 * 512 bytes or less unseen without PYTHONMALLOC=malloc),
					 * "standard", or NULL (not known) */
	const char *executable;
	const char *coverage;		/* "full" | "partial" */
	const char *coverage_note;
	const char *allocator;		/* "pymalloc" | "malloc" | "hooked" */
	int functions, emulated;	/* probed functions, on emulated instructions */
	bool memory, fds;		/* what is traced (--fds-only, --no-fds) */
	const char *fd_tracepoints;	/* "syscalls" | "raw" | NULL */
	uint64_t sample_bytes;		/* mean bytes between sampled allocations; 0: exact.
					 * Sampled: bytes and counts are estimates */
	const char *budget_note;	/* --max-overhead acted on this process, or NULL */
};

/* What a stack's open fds are. */
struct fd_detail {
	uint32_t types[FD__TYPES];
	struct {
		uint32_t nr, n;		/* enum fd_syscall, how many */
	} sys[SNAP_SYSCALLS];
	char *examples[SNAP_EXAMPLES];
	int nex;
};

/* One ranked stack of a section. */
struct snap_stack {
	uint64_t id;			/* stable id of the stack in reports */
	const char *note;		/* special stacks: why there are no frames */
	const struct stack_frames *frames;	/* NULL with note */
	const struct series *s;		/* amount, count, trend, growth, rate */
	const struct fd_detail *fd;	/* fds section: types, examples; may be NULL */
	const struct stack_types *types;	/* memory section: the types of a few of its
						 * blocks (user/stacktypes.h); NULL if not read */
};

/* Memory (amount in bytes) or fds (amount in open fds). */
struct snap_section {
	struct snap_stack *v;		/* every stack with something outstanding, ranked */
	int n;
	uint64_t amount, count;		/* totals over the section */
};

/* Open fds a report accounts for besides the traced ones. */
struct fd_group {
	uint64_t count;
	uint32_t types[FD__TYPES];
};

struct snapshot {
	unsigned int report;		/* 0, 1, ... */
	bool final;
	const char *exit_reason;	/* final only */
	double timestamp;		/* wall clock, seconds */
	double elapsed_s;		/* since tracing began */
	double now;			/* CLOCK_MONOTONIC seconds: ages are now - oldest */
	uint32_t as_of;			/* enum freeze_reason: the instant the maps show */
	uint64_t min_age_ns;		/* -o */
	const struct report_meta *meta;

	struct snap_section mem, fds;
	uint64_t frames_unreadable;	/* frames of the outstanding stacks whose code object
					 * was freed before it was symbolized */
	uint64_t stats[STAT__COUNT];
	struct stack_store store;	/* the stack store's size */
	/* The per-stack sums (stack_agg, user/agg.h), all processes: entries
	 * read this report, the map's capacity, entries drained so far. */
	struct { uint64_t entries, max_entries, drained; } sums;

	/* The heap census (user/census.c), or NULL with --no-census: it runs
	 * on its own clock, the snapshot shows its latest result. */
	const struct census *census;

	/* fds against /proc/PID/fd */
	long fds_open;			/* -1 once the target is gone */
	uint64_t fds_stale;		/* records not counted: their fd closed or reused */
	struct fd_group fds_before, fds_untracked;

	uint32_t status;		/* enum proc_status */
	const char *reason;		/* PROC_EXITED: why it ended; PROC_UNTRACEABLE: why not
					 * traced (one line); else NULL */
	pid_t parent;			/* the traced process it was forked from, 0 if none */
};

/* The agent's own cost (user/footprint.c). */
struct agent_footprint {
	double t;			/* CLOCK_MONOTONIC s of the measurement */
	double cpu_pct;			/* its threads' CPU since the previous report, % of a core */
	double bpf_pct;			/* its BPF programs' run time, % of a core; -1: unknown
					 * (the kernel's run-time stats are off) */
	uint64_t cpu_ns, bpf_ns;	/* totals so far */
	uint64_t rss_bytes;		/* its resident memory */
	uint64_t map_bytes;		/* its BPF maps' kernel memory */
};

/*
 * One report of every process: what every output renders. procs are
 * ranked by the bytes of their top growing memory stack (then by their
 * outstanding bytes, then open fds); untraceable ones come last. An
 * untraceable process's snapshot has only meta (pid, comm, cmdline,
 * container, maybe python), status and reason; its sections are empty.
 */
struct report_set {
	unsigned int report;		/* 0, 1, ... */
	bool final;
	const char *exit_reason;	/* final only */
	double timestamp;		/* wall clock, seconds */
	double elapsed_s;		/* since tracing began */
	int n;
	const struct snapshot *const *procs;
	const struct agent_footprint *agent;	/* NULL if not measured */
};

/* Names of the stats counters, and which ones mean something was lost. */
extern const char *const snapshot__stat_names[STAT__COUNT];
bool snapshot__stat_lossy(enum stat_id id);
/* JSON "as_of": "now", "detach", "shutdown", "exit", "exit_in_shutdown", "exec". */
const char *snapshot__as_of_name(uint32_t why);
/* The note of a special stack id (STACK_NONE, STACK_LOST), else NULL. */
const char *snapshot__special(uint64_t id);

#endif /* __SNAPSHOT_H */
