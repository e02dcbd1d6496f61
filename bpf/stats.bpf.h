/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The loss and event counters (enum stat_id in pyleak.h): per traced
 * process (its proc_cfg.slot) and per CPU, summed by userspace for every
 * report. Any BPF header or
 * program that counts includes this; it defines the map once per object.
 */
#ifndef __STATS_BPF_H
#define __STATS_BPF_H

#include "pyleak.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_SLOTS * STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_inc(__u32 slot, enum stat_id id)
{
	__u32 key = STAT_KEY(slot, id);
	__u64 *v = bpf_map_lookup_elem(&stats, &key);

	if (v)
		(*v)++;
}

#endif /* __STATS_BPF_H */
