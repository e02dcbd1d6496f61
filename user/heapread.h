/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading a live target's heap in large batches: its readable mappings,
 * and a bounded cache of 64 KiB chunks filled with one process_vm_readv
 * each, so that walking millions of small objects costs one syscall per
 * chunk rather than one per object. Read-only: nothing is ever written.
 */
#ifndef __HEAPREAD_H
#define __HEAPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct heap_range {
	uint64_t start, end;
};

struct heap_slot {
	uint64_t base;		/* chunk address + 1 (0: empty slot) */
	uint32_t valid;		/* a bit per 4 KiB page read (a chunk can span mappings) */
};

struct heapread {
	pid_t pid;
	struct heap_range *ranges;	/* readable mappings, sorted */
	int nranges;
	int last;			/* the range the last lookup found */
	struct heap_slot *slots;
	uint8_t *data;
	size_t nslots;
	/* counters since open */
	uint64_t syscalls, bytes_read, misses, failed;
	double read_s;
};

/* cache_bytes: at most this much of the target is held at once. */
int heapread__open(struct heapread *h, pid_t pid, size_t cache_bytes);
void heapread__close(struct heapread *h);
/* Re-read /proc/PID/maps and forget every cached chunk (a new snapshot). */
int heapread__refresh(struct heapread *h);
/* addr..addr+len lies in one readable mapping. */
bool heapread__mapped(const struct heapread *h, uint64_t addr, size_t len);
/* Copy len bytes of the target at addr; 0 only when all were read. */
int heapread__read(struct heapread *h, uint64_t addr, void *buf, size_t len);
/* n records of len bytes, the i-th at at[i], into out + i * len, around
 * the cache (records far apart, each read once: a pool header per pool):
 * up to IOV_MAX records a process_vm_readv. got[i] says record i was read
 * whole; one outside the mappings or unreadable is skipped, the rest are
 * read on. Returns how many were read. */
size_t heapread__gather(struct heapread *h, const uint64_t *at, size_t n, size_t len, void *out,
			bool *got);
static inline int heapread__u64(struct heapread *h, uint64_t addr, uint64_t *v)
{
	return heapread__read(h, addr, v, sizeof(*v));
}

#endif /* __HEAPREAD_H */
