/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every probe pyleak-bpf attaches, and its detach. Uprobes: one table of
 * what to probe, one plan built from it, one loop that attaches the plan
 * and one that removes it. Through uprobe_multi links where the kernel has them (one
 * link per program and file, all its offsets registered in one syscall,
 * released with one synchronization), else one perf event per probe.
 */
#ifndef __PROBE_H
#define __PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include "fds.h"

struct bpf_link;
struct bpf_program;
struct pyleak_bpf;
struct pyproc;

#define MAX_LINKS 64

/* --fd-tracepoints: how fd syscalls are seen (bpf/fd.bpf.h says why). */
enum fd_tp { FD_TP_AUTO, FD_TP_SYSCALLS, FD_TP_RAW };

/* The tracepoints: exec, exit and fork watchers, and the fd syscall programs. */
struct tracepoints {
	struct bpf_link *fd[FD_MAX_LINKS];
	int nfd;
	struct bpf_link *exec, *exit, *fork;
	const char *fd_how;		/* "syscalls" | "raw" | NULL without fds */
};

struct probes {
	struct bpf_link *links[MAX_LINKS];	/* perf-event uprobes */
	int nlinks;
	int multi_fds[MAX_LINKS];		/* uprobe_multi link fds */
	int nmulti;
	int functions;		/* distinct allocator functions probed */
	int emulated;		/* ... whose probe sits on an emulated instruction */
	bool python_tables;	/* the object/mem allocator tables are probed */
	bool multi;		/* uprobe_multi links (else perf events) */
	bool session;		/* ... and allocator entries and returns in session links */
	bool shutdown;		/* the interpreter's Py_FinalizeEx is probed */
	double attach_ms;	/* time spent attaching */
};

/*
 * Does this kernel take uprobe_multi links (Linux 6.6+)? Tested once, with
 * a tiny program. why: the reason when not, for -v. The environment
 * variable PYLEAK_BPF_UPROBES=perf forces the perf-event path.
 */
bool probes__multi_supported(char *why, size_t len);
/* PYLEAK_BPF_UPROBES is unset, empty, perf or multi. */
bool probes__uprobes_env_valid(void);
/*
 * Does it take uprobe session links (Linux 6.13+: one program runs at a
 * call's entry and at its return, and its entry says whether the return
 * runs)? PYLEAK_BPF_UPROBES=multi (or perf) says no.
 */
bool probes__session_supported(char *why, size_t len);
/* Before load: mark the allocator and shutdown programs as uprobe_multi
 * programs, or with session the allocators' session programs as session
 * programs (the kernel attaches a program one way or the other, decided at
 * load by its expected attach type; the session programs load only when
 * used). empty: every allocator probe gets an empty program
 * (--bench-empty-probes, bench/run.py's baseline of our programs' cost). */
void probes__prepare(struct pyleak_bpf *skel, bool multi, bool session, bool empty);
/*
 * Attach the allocator probes for p, and the probe on the interpreter's
 * shutdown (Py_FinalizeEx; optional: missing, the final report is as of
 * the process's exit). partial: only what reaches libc (forced by the user,
 * or because pymalloc is inlined). Free probes go in first, so no block is
 * seen allocated and then missed being freed; return probes before entry
 * probes, so no entry is left without its return.
 */
int probes__attach(struct pyleak_bpf *skel, const struct pyproc *p, bool partial, bool memory,
		   struct probes *pr, char *err, size_t errlen);
/* An entry uprobe of prog at symbol's entry (or, for a NULL symbol, the
 * ELF entry point) in the file (target view), as a perf event. */
int probes__symbol(struct probes *pr, struct bpf_program *prog, int pid, const char *path,
		   const char *symbol, char *err, size_t errlen);
/* Remove every probe in pr; returns the milliseconds it took. */
double probes__detach(struct probes *pr);
/* The same for several processes' probes at once (their releases overlap). */
double probes__detach_many(struct probes **prs, int n);
/*
 * The exec and exit watchers, and with fds the fd syscall programs: one
 * sys_exit_<name> event per syscall (tracefs ids: the mounted tracefs, or
 * one mounted in a private mount namespace of a short-lived child, so that
 * nothing changes for the rest of the system), else (mode auto) the raw
 * sys_exit tracepoint. On failure nothing stays attached and err says why.
 */
int probes__attach_tracepoints(struct pyleak_bpf *skel, bool fds, enum fd_tp mode,
			       struct tracepoints *tp, char *err, size_t errlen);
/* Release them; the fd events go in a thread of their own (releasing each
 * waits for an RCU grace period, about 50 ms here): probes__wait() joins it. */
void probes__detach_tracepoints(struct tracepoints *tp);
void probes__wait(void);

#endif /* __PROBE_H */
