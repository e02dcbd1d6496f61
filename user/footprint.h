/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's own footprint, for every report: its CPU time (its threads,
 * and its BPF programs' run time from the kernel's run-time stats), its
 * resident memory and its BPF maps' kernel memory. --max-agent-cpu and
 * --max-agent-memory compare against these (user/pyleak.c acts).
 */
#ifndef __FOOTPRINT_H
#define __FOOTPRINT_H

#include <stdint.h>
#include <sys/types.h>
#include "snapshot.h"

struct bpf_object;

/* A process's CPU time so far (user + system), ns; pid 0: ours. 0 if
 * unreadable. */
uint64_t footprint__cpu_ns(pid_t pid);
/* Kernel memory a BPF object (map, ring buffer) is charged, from its fd's
 * fdinfo (memlock), 0 if unknown. */
uint64_t footprint__memlock(int fd);
/*
 * Measure now; prev (the previous report's, or zeroed) gives the rates.
 * obj: every map and program of it; bpf_stats: the kernel counts the
 * programs' run time (else bpf_pct is -1).
 */
void footprint__measure(const struct bpf_object *obj, bool bpf_stats, double now,
			const struct agent_footprint *prev, struct agent_footprint *out);

#endif /* __FOOTPRINT_H */
