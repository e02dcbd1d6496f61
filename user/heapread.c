// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Batched, cached, read-only access to a target's memory for the heap
 * census. A direct-mapped cache of 64 KiB chunks: an object walk jumps
 * around pymalloc arenas (256 KiB or 1 MiB, many objects per 4 KiB pool),
 * so most reads hit a chunk read moments before. process_vm_readv reads a
 * chunk in one call; a chunk is clipped to its mapping so a read never
 * spans a hole.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include "heapread.h"

#define CHUNK_SHIFT	16
#define CHUNK		(1u << CHUNK_SHIFT)

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int heapread__open(struct heapread *h, pid_t pid, size_t cache_bytes)
{
	memset(h, 0, sizeof(*h));
	h->pid = pid;
	h->nslots = cache_bytes / CHUNK;
	if (h->nslots < 16)
		h->nslots = 16;
	h->slots = calloc(h->nslots, sizeof(*h->slots));
	h->data = malloc(h->nslots * (size_t)CHUNK);
	if (!h->slots || !h->data) {
		heapread__close(h);
		return -ENOMEM;
	}
	return 0;
}

void heapread__close(struct heapread *h)
{
	free(h->ranges);
	free(h->slots);
	free(h->data);
	h->ranges = NULL;
	h->slots = NULL;
	h->data = NULL;
	h->nranges = 0;
}

int heapread__refresh(struct heapread *h)
{
	char path[64], line[4600];
	struct heap_range *r = NULL;
	int n = 0, cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", h->pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		char perms[8];

		if (sscanf(line, "%llx-%llx %7s", &s, &e, perms) != 3 || perms[0] != 'r')
			continue;
		/* [vvar] and [vsyscall] cannot be read by process_vm_readv */
		if (strstr(line, "[vvar") || strstr(line, "[vsyscall]"))
			continue;
		if (n == cap) {
			struct heap_range *nr;

			cap = cap ? cap * 2 : 256;
			nr = realloc(r, cap * sizeof(*r));
			if (!nr) {
				free(r);
				fclose(f);
				return -ENOMEM;
			}
			r = nr;
		}
		/* /proc/PID/maps is sorted; adjacent mappings merge */
		if (n && r[n - 1].end == s)
			r[n - 1].end = e;
		else
			r[n++] = (struct heap_range){ s, e };
	}
	fclose(f);
	free(h->ranges);
	h->ranges = r;
	h->nranges = n;
	h->last = -1;
	memset(h->slots, 0, h->nslots * sizeof(*h->slots));
	return n ? 0 : -ENOENT;
}

static const struct heap_range *range_of(const struct heapread *h, uint64_t addr)
{
	int lo = 0, hi = h->nranges - 1;

	/* most reads fall in the mapping of the read before */
	if (h->last >= 0 && h->last < h->nranges && addr >= h->ranges[h->last].start &&
	    addr < h->ranges[h->last].end)
		return &h->ranges[h->last];
	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (addr < h->ranges[mid].start)
			hi = mid - 1;
		else if (addr >= h->ranges[mid].end)
			lo = mid + 1;
		else {
			((struct heapread *)h)->last = mid;
			return &h->ranges[mid];
		}
	}
	return NULL;
}

bool heapread__mapped(const struct heapread *h, uint64_t addr, size_t len)
{
	const struct heap_range *r = range_of(h, addr);

	return r && len <= r->end - addr;
}

#define PAGE_SHIFT	12

/* The slot holding the chunk at base, filled on a miss: every part of it
 * that lies in a readable mapping, one process_vm_readv per part. */
static struct heap_slot *chunk(struct heapread *h, uint64_t base, uint8_t **data)
{
	size_t i = (base >> CHUNK_SHIFT) % h->nslots;
	struct heap_slot *s = &h->slots[i];
	int lo = 0, hi = h->nranges - 1, k;

	*data = h->data + i * (size_t)CHUNK;
	if (s->base == base + 1)
		return s;
	h->misses++;
	s->base = base + 1;
	s->valid = 0;
	/* the first mapping ending after base */
	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (h->ranges[mid].end <= base)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	for (k = lo; k < h->nranges && h->ranges[k].start < base + CHUNK; k++) {
		uint64_t from = h->ranges[k].start > base ? h->ranges[k].start : base;
		uint64_t to = h->ranges[k].end < base + CHUNK ? h->ranges[k].end : base + CHUNK;
		struct iovec local, remote;
		uint64_t p;
		ssize_t got;
		double t0;

		local.iov_base = *data + (from - base);
		local.iov_len = to - from;
		remote.iov_base = (void *)(uintptr_t)from;
		remote.iov_len = to - from;
		t0 = mono_s();
		got = process_vm_readv(h->pid, &local, 1, &remote, 1, 0);
		h->read_s += mono_s() - t0;
		h->syscalls++;
		if (got <= 0) {
			h->failed++;
			continue;
		}
		h->bytes_read += got;
		/* pages read whole (mappings are page aligned) */
		for (p = from; p + (1u << PAGE_SHIFT) <= from + (uint64_t)got; p += 1u << PAGE_SHIFT)
			s->valid |= 1u << ((p - base) >> PAGE_SHIFT);
	}
	return s;
}

int heapread__read(struct heapread *h, uint64_t addr, void *buf, size_t len)
{
	uint8_t *out = buf;

	if (!len)
		return 0;
	if (!heapread__mapped(h, addr, len))
		return -EFAULT;
	while (len) {
		uint64_t base = addr & ~(uint64_t)(CHUNK - 1);
		uint32_t off = addr - base;
		size_t n = CHUNK - off < len ? CHUNK - off : len;
		struct heap_slot *s;
		uint8_t *data;

		s = chunk(h, base, &data);
		{
			uint32_t first = off >> PAGE_SHIFT, last = (off + n - 1) >> PAGE_SHIFT;
			uint32_t want = (uint32_t)(((1ull << (last + 1)) - 1) & ~((1ull << first) - 1));

			if ((s->valid & want) != want)
				return -EFAULT;
		}
		memcpy(out, data + off, n);
		out += n;
		addr += n;
		len -= n;
	}
	return 0;
}

#define GATHER_IOV	(IOV_MAX < 1024 ? IOV_MAX : 1024)

size_t heapread__gather(struct heapread *h, const uint64_t *at, size_t n, size_t len, void *out,
			bool *got)
{
	struct iovec local[GATHER_IOV], remote[GATHER_IOV];
	size_t idx[GATHER_IOV];
	size_t i = 0, done = 0;

	memset(got, 0, n * sizeof(*got));
	while (i < n) {
		size_t k = 0, whole, j;
		ssize_t r;
		double t0;

		for (; i < n && k < GATHER_IOV; i++) {
			if (!heapread__mapped(h, at[i], len))
				continue;
			local[k].iov_base = (uint8_t *)out + i * len;
			local[k].iov_len = len;
			remote[k].iov_base = (void *)(uintptr_t)at[i];
			remote[k].iov_len = len;
			idx[k++] = i;
		}
		if (!k)
			break;
		t0 = mono_s();
		r = process_vm_readv(h->pid, local, k, remote, k, 0);
		h->read_s += mono_s() - t0;
		h->syscalls++;
		whole = r > 0 ? (size_t)r / len : 0;
		if (r > 0)
			h->bytes_read += r;
		for (j = 0; j < whole; j++)
			got[idx[j]] = true;
		done += whole;
		if (whole < k) {
			/* a read stops at the first remote iovec it cannot read
			 * (r < 0: the very first); the batch goes on after it and
			 * after the records on its page, which fail as it did */
			uint64_t page = at[idx[whole]] >> PAGE_SHIFT;

			h->failed++;
			for (i = idx[whole] + 1; i < n && at[i] >> PAGE_SHIFT == page; i++)
				;
		}
	}
	return done;
}
