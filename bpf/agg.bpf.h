/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The allocation records (the allocs map) and, beside them, the sums of
 * the exact ones by (process, age epoch, stack) in stack_agg (struct
 * agg_key in pyleak.h): a report reads O(stacks), not O(allocations).
 * Every insert and delete of a record goes through here, so a sum changes
 * exactly when its records do: agg_insert() after the record is in,
 * agg_delete() once the record is gone (whoever's delete succeeded).
 * Sampled records (sample_bytes != 0) are not summed (their scaling
 * depends on each size): only counted in sampled_live, so userspace knows
 * when it must still read records.
 *
 * Folding, race-free without locks: userspace publishes agg_fold (the
 * lowest epoch summed under its own key, and a parity); a change to an
 * older epoch goes to AGG_FOLDED(parity) instead. A whole interval after
 * raising the boundary (or flipping the parity), no program still runs
 * with the old value, so the older epochs' entries (and the other
 * parity's folded entry) are written by nobody: userspace adds them to
 * its own per-stack base and deletes them (user/agg.c). Entries stay
 * bounded by stacks x epochs of about one interval.
 *
 * Called from commit() and release() only, which return first when
 * frozen: both maps stop at the same instant.
 */
#ifndef __AGG_BPF_H
#define __AGG_BPF_H

#include "pyleak.h"
#include "stats.bpf.h"

#ifndef EEXIST
#define EEXIST	17
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 524288);	/* --max-stacks: stacks x live epochs, all processes */
	__type(key, struct agg_key);
	__type(value, struct agg_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} stack_agg SEC(".maps");

/* Epoch length, 2^agg_shift ns: set by the loader from -o and the interval
 * (user/agg.c). */
const volatile __u32 agg_shift = 29;
__u64 agg_fold = 0;		/* AGG_FOLD_BEFORE | parity << 63, by userspace */
__s64 sampled_live = 0;		/* sampled records in allocs (userspace subtracts its purges) */

static __always_inline void agg_add(__u32 pid, const struct alloc_info *a, __s64 sign, __u32 slot)
{
	struct agg_key k = { .pid = pid, .epoch = a->ts_ns >> agg_shift, .stack_id = a->stack_id };
	struct agg_val zero = {}, *v;
	__u64 fold;
	int err;

	if (a->sample_bytes) {
		__sync_fetch_and_add(&sampled_live, sign);
		return;
	}
	fold = *(volatile __u64 *)&agg_fold;
	if (k.epoch < AGG_FOLD_BEFORE(fold))
		k.epoch = AGG_FOLDED(AGG_FOLD_PARITY(fold));
	v = bpf_map_lookup_elem(&stack_agg, &k);
	if (!v) {
		err = bpf_map_update_elem(&stack_agg, &k, &zero, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			stat_inc(slot, STAT_AGG_FULL);
			return;
		}
		v = bpf_map_lookup_elem(&stack_agg, &k);
		if (!v) {	/* deleted meanwhile: userspace drained it (it was zero) */
			stat_inc(slot, STAT_AGG_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&v->bytes, sign * (__s64)a->size);
	__sync_fetch_and_add(&v->count, sign);
}

/* Record info at key (BPF_NOEXIST: a record already there lost its free,
 * and is un-summed as it is replaced); 0 or the map's error. */
static __always_inline int agg_insert(const struct alloc_key *key, const struct alloc_info *info,
				      __u32 slot)
{
	struct alloc_info gone, *old;
	int err = bpf_map_update_elem(&allocs, key, info, BPF_NOEXIST);

	if (err == -EEXIST) {
		old = bpf_map_lookup_elem(&allocs, key);
		if (old)
			gone = *old;
		err = bpf_map_update_elem(&allocs, key, info, BPF_ANY);
		if (!err && old)
			agg_add(key->pid, &gone, -1, slot);
	}
	if (!err)
		agg_add(key->pid, info, 1, slot);
	return err;
}

/* Delete the record at key and un-sum it; 0 if this call deleted it. Its
 * ts_ns to *ts (if given) when there was one. */
static __always_inline int agg_delete(const struct alloc_key *key, __u32 slot, __u64 *ts)
{
	struct alloc_info gone, *a = bpf_map_lookup_elem(&allocs, key);

	if (!a)
		return -1;
	gone = *a;
	if (ts)
		*ts = gone.ts_ns;
	if (bpf_map_delete_elem(&allocs, key))
		return -1;
	agg_add(key->pid, &gone, -1, slot);
	return 0;
}

#endif /* __AGG_BPF_H */
