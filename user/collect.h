/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * BPF maps -> snapshot. The only place that reads the allocation and fd
 * maps while reporting, and the only one that writes them (evicting fd
 * records whose close was missed, stacks nothing references any more).
 */
#ifndef __COLLECT_H
#define __COLLECT_H

#include "snapshot.h"

struct census;
struct collector;
struct stack_table;

struct collect_maps {
	int allocs_fd;		/* BPF allocs map */
	int fds_fd;		/* BPF fds map, or -1 without fd tracking */
	int stats_fd;		/* BPF stats map */
	uint32_t slot;		/* the process's counters in it (proc_cfg.slot) */
};

/* With fd tracking, the fds open now that BPF has no record of are taken
 * as open before tracing. */
struct collector *collect__new(const struct report_meta *m, uint64_t min_age_ns,
			       const struct collect_maps *maps, struct stack_table *stacks);
void collect__free(struct collector *c);
/* Its labels, to change what later reports say (sampling, budget). */
struct report_meta *collect__meta(struct collector *c);
/* The census whose latest result each snapshot carries (NULL: none). */
void collect__set_census(struct collector *c, const struct census *census);
/* Read the maps into a snapshot, owned by the collector and valid until
 * the next call. frozen (enum freeze_reason) and frozen_ns: the instant BPF
 * stopped recording, if it did; ages are then taken at that instant, and
 * after the target's shutdown, exit or exec its /proc is not read. Returns
 * 0 or -errno. */
int collect__run(struct collector *c, bool final, const char *exit_reason, uint32_t frozen,
		 uint64_t frozen_ns, const struct snapshot **out);

/* One report of several processes: the allocation map is read once, the
 * stack table (shared: every collector's) swept once, after every process
 * marked what it references. out is set for each on success. */
struct collect_req {
	struct collector *c;
	bool final;
	const char *exit_reason;
	uint32_t frozen;	/* enum freeze_reason */
	uint64_t frozen_ns;
	const struct snapshot *out;
};
int collect__round(struct collect_req *reqs, int n, int allocs_fd);
/* Keep the stacks its last snapshot shows in the stack table through the
 * next sweep (a process retired before its last section is rendered). */
void collect__mark_held(struct collector *c);
/* A process that is gone: delete its records from the allocs and fds maps. */
void collect__purge(struct collector *c);
/* A sampled allocation of size bytes, sampled with mean interval mean
 * (bytes): what it stands for, bytes and count (each scaled by the inverse
 * of its probability of being sampled, 1 - exp(-size / mean)). */
void collect__unsample(uint64_t size, uint64_t mean, uint64_t addr, uint64_t *bytes,
		       uint64_t *count);
/* n of this process's counters now (out[ids[i]]; the others untouched),
 * without a report: what the budget reads between reports. */
void collect__counters(struct collector *c, const enum stat_id *ids, int n, uint64_t *out);
/* A counter over every process's slot (the stack store's are shared). */
uint64_t collect__stat_total(int stats_fd, enum stat_id id);

#endif /* __COLLECT_H */
