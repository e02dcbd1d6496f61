// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The stack_agg fold protocol (user/agg.h, bpf/agg.bpf.h). Lock-free: BPF
 * only reads agg_fold; userspace writes it with one aligned 64-bit store
 * and deletes an entry only once no program that might have read an older
 * agg_fold can still be running, FOLD_WAIT after the store (at least 50 ms,
 * half the interval: a program runs for microseconds).
 */
#include <errno.h>
#include <stdlib.h>
#include <bpf/bpf.h>
#include "agg.h"
#include "log.h"

#define MIN_SHIFT	20
#define MAX_SHIFT	33

static struct {
	int fd;
	volatile __u64 *word;
	volatile __s64 *sampled;
	uint32_t shift;
	uint64_t wait_ns;	/* FOLD_WAIT */
	uint64_t before, before_prev;	/* the boundary published, the one before */
	unsigned int parity;
	uint64_t t_pub;		/* when before and parity were published */
	struct agg_key *del;	/* drained keys to delete at the end of the round */
	size_t ndel, cap;
	uint64_t drained;
	uint32_t max_entries;
} st = { .fd = -1 };

uint32_t agg__shift_for(uint64_t min_age_ns, double interval_s)
{
	uint64_t len = (uint64_t)(interval_s * 1e9) / 4;
	uint32_t shift = MIN_SHIFT;

	if (min_age_ns && min_age_ns / 2 < len)
		len = min_age_ns / 2;
	while (shift < MAX_SHIFT && (2ULL << shift) <= len)
		shift++;
	return shift;
}

void agg__setup(int fd, volatile __u64 *fold, volatile __s64 *sampled_live,
		uint32_t shift, double interval_s)
{
	st.fd = fd;
	st.word = fold;
	st.sampled = sampled_live;
	st.shift = shift;
	st.wait_ns = (uint64_t)(interval_s * 1e9 / 2);
	if (st.wait_ns < 50000000ULL)
		st.wait_ns = 50000000ULL;
	st.before = st.before_prev = AGG_FOLD_BEFORE(*fold);
	st.parity = AGG_FOLD_PARITY(*fold);
	st.t_pub = 0;
	{
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (!bpf_obj_get_info_by_fd(fd, &info, &len))
			st.max_entries = info.max_entries;
	}
}

uint64_t agg__drained(void)
{
	return st.drained;
}

uint32_t agg__max_entries(void)
{
	return st.max_entries;
}

bool agg__enabled(void)
{
	return st.fd >= 0;
}

int agg__fd(void)
{
	return st.fd;
}

int64_t agg__sampled_live(void)
{
	return st.sampled ? *st.sampled : 0;
}

void agg__sampled_purged(int64_t n)
{
	if (st.sampled && n)
		__atomic_fetch_sub(st.sampled, n, __ATOMIC_RELAXED);
}

uint64_t agg__epoch_end(uint64_t epoch)
{
	return ((epoch + 1) << st.shift) - 1;
}

bool agg__is_folded(uint64_t epoch)
{
	return epoch >= AGG_FOLDED(0);
}

uint64_t agg__folded_end(void)
{
	return st.before ? (st.before << st.shift) - 1 : 0;
}

bool agg__drainable(uint64_t epoch, uint64_t now_ns)
{
	bool settled = now_ns - st.t_pub >= st.wait_ns;

	if (agg__is_folded(epoch))
		return settled && epoch != AGG_FOLDED(st.parity);
	return epoch < (settled ? st.before : st.before_prev);
}

bool agg__drain(struct u64map *bases, const struct agg_key *k, const struct agg_val *v)
{
	struct agg_base *b;
	int fresh;

	if (st.ndel == st.cap) {
		size_t cap = st.cap ? 2 * st.cap : 1024;
		struct agg_key *d = realloc(st.del, cap * sizeof(*d));

		if (!d)
			return false;	/* not drained: it stays in the map, counted from there */
		st.del = d;
		st.cap = cap;
	}
	if (bases && (v->bytes || v->count)) {
		b = u64map__upsert(bases, k->stack_id + 1, &fresh);
		if (!b)
			return false;
		if (!b->count)
			b->oldest = ~0ULL;
		b->bytes += v->bytes;
		b->count += v->count;
		/* a folded entry holds epochs below the boundary it was written with */
		{
			uint64_t e = agg__is_folded(k->epoch) ? (st.before_prev ? st.before_prev - 1 : 0) :
				     k->epoch;

			if (v->count > 0 && e < b->oldest)
				b->oldest = e;
			if (e > b->newest || fresh)
				b->newest = e;
		}
		if (!b->count && !b->bytes)
			u64map__del(bases, k->stack_id + 1);
	}
	st.del[st.ndel++] = *k;
	st.drained++;
	return true;
}

void agg__end_round(uint64_t now_ns, uint64_t min_age_ns)
{
	uint64_t len = 1ULL << st.shift, before;
	__u32 n = st.ndel;
	size_t i;

	if (st.fd < 0)
		return;
	if (n && bpf_map_delete_batch(st.fd, st.del, &n, NULL))
		for (i = 0; i < st.ndel; i++)	/* a kernel without batch delete */
			bpf_map_delete_elem(st.fd, &st.del[i]);
	st.ndel = 0;
	if (now_ns - st.t_pub < st.wait_ns)
		return;
	before = now_ns > min_age_ns + len ? (now_ns - min_age_ns - len) >> st.shift : 0;
	if (before < st.before)
		before = st.before;
	st.before_prev = st.before;
	st.before = before;
	st.parity ^= 1;
	st.t_pub = now_ns;
	*st.word = before | (uint64_t)st.parity << 63;
	debug("stack sums: folding epochs before %llu, parity %u",
	      (unsigned long long)before, st.parity);
}
