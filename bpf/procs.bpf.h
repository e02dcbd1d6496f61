/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The traced processes: struct proc_cfg (bpf/pyleak.h) by tgid. Every
 * program begins with traced(): a process not in the map, or one no
 * longer recorded, costs one global load and one hash lookup, and runs
 * nothing else.
 */
#ifndef __PROCS_BPF_H
#define __PROCS_BPF_H

#include "pyleak.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PROCS);
	__type(key, __u32);
	__type(value, struct proc_cfg);
} procs SEC(".maps");

/*
 * enum freeze_reason, for every process at once: nonzero once the tracer
 * is ending (FREEZE_DETACH). Every program tests it first, so the maps
 * stop changing at one instant: the final report is taken from them, and
 * the probes are removed afterwards at leisure, with nothing counted
 * meanwhile (removing an entry probe after its return probe, or a free
 * probe before the malloc probes, used to leave phantom allocations and
 * missed returns in the final report). One process's own end (shutdown,
 * exit, exec) freezes only its proc_cfg.
 */
__u32 frozen = 0;
__u64 frozen_ns = 0;	/* bpf_ktime_get_ns() when it was set */

/* The process's entry if it is being recorded, else NULL. */
static __always_inline struct proc_cfg *traced(__u32 pid)
{
	struct proc_cfg *p = bpf_map_lookup_elem(&procs, &pid);

	return p && !p->frozen ? p : NULL;
}

static __always_inline void proc_freeze(struct proc_cfg *p, __u32 why)
{
	if (!p->frozen) {
		p->frozen_ns = bpf_ktime_get_ns();
		p->frozen = why;
	}
}

#endif /* __PROCS_BPF_H */
