/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The per-stack sums of exact allocations (the stack_agg map, see
 * bpf/agg.bpf.h): its epochs and the fold protocol. One state for the
 * whole tracer, as the map and the published agg_fold word are.
 *
 * An entry's epoch is ts_ns >> shift (2^shift ns long); a report counts an
 * entry for -o once the epoch's last instant is at least -o old, so an
 * allocation counts from at most one epoch later than its own age says.
 * Each report publishes a new fold boundary, at least half an interval
 * after the last: the epochs older than -o plus an epoch (and the folded
 * entry of the other parity) are then drained at the next report into the
 * collector's bases, once no program can still be writing them.
 */
#ifndef __AGG_H
#define __AGG_H

#include <stdbool.h>
#include <stdint.h>
#include "pyleak.h"
#include "u64map.h"

/* A stack's drained sums, in a collector's base map (stack id + 1 ->). */
struct agg_base {
	int64_t bytes, count;
	uint64_t oldest;	/* the oldest epoch drained into it while count > 0 */
	uint64_t newest;	/* the newest */
};

/* The epoch length for -o min_age_ns and the report interval: at most
 * half of -o and a quarter of the interval, 2^20 to 2^33 ns. */
uint32_t agg__shift_for(uint64_t min_age_ns, double interval_s);
/* After load: the stack_agg map, the BPF globals agg_fold and
 * sampled_live (mmapped .bss), the loaded agg_shift, the interval. Until
 * this, every report reads the records (agg__enabled() is false). */
void agg__setup(int fd, volatile __u64 *fold, volatile __s64 *sampled_live,
		uint32_t shift, double interval_s);
bool agg__enabled(void);
int agg__fd(void);
/* Sampled records in the allocation map now (all processes). */
int64_t agg__sampled_live(void);
/* Userspace deleted n sampled records (a purge). */
void agg__sampled_purged(int64_t n);

/* The last instant (ns) whose allocations an entry of epoch may hold. */
uint64_t agg__epoch_end(uint64_t epoch);
bool agg__is_folded(uint64_t epoch);
/* No program writes this key's entry any more: it can be drained now. */
bool agg__drainable(uint64_t epoch, uint64_t now_ns);
/* Move a drained entry into bases and queue its key for deletion; false
 * (out of memory) if it stays in the map. */
bool agg__drain(struct u64map *bases, const struct agg_key *k, const struct agg_val *v);
/* Delete the queued keys; then publish the next boundary if it is time. */
void agg__end_round(uint64_t now_ns, uint64_t min_age_ns);
/* Entries drained since the start; the map's capacity. */
uint64_t agg__drained(void);
uint32_t agg__max_entries(void);
/* The instant a folded entry's, or a base's, allocations are as old as. */
uint64_t agg__folded_end(void);

#endif /* __AGG_H */
