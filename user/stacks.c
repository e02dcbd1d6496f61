// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "pyleak.h"
#include "stacks.h"
#include "u64map.h"

/* Sweeps a stack may go unreferenced before its symbolized frames are
 * dropped too; the BPF copy goes at the first sweep. Keeping the frames a
 * while covers an allocation that raced with the BPF eviction. */
#define KEEP_SWEEPS 30

struct entry {
	struct stack_frames sf;
	unsigned int idle;	/* sweeps without a reference */
	bool marked;
	bool in_bpf;
};

struct stack_table {
	int stacks_fd;
	struct ring_buffer *rb;
	struct symbolizer *sym;
	struct u64map map;	/* stack id + 1 -> struct entry (0 is the empty key) */
};

static void resolve(struct stack_table *t, uint64_t id, struct entry *e)
{
	struct pystack ps;
	uint32_t d;

	e->in_bpf = true;
	e->sf.depth = -1;
	if (bpf_map_lookup_elem(t->stacks_fd, &id, &ps) || !ps.depth || ps.depth > MAX_FRAMES)
		return;
	e->sf.frames = calloc(ps.depth, sizeof(*e->sf.frames));
	if (!e->sf.frames)
		return;
	for (d = 0; d < ps.depth; d++)
		symbolizer__frame(t->sym, ps.code[d], ps.pos[d], &e->sf.frames[d]);
	e->sf.depth = ps.depth;
	e->sf.truncated = ps.truncated;
}

static struct entry *lookup(struct stack_table *t, uint64_t id)
{
	struct entry *e;
	int fresh;

	e = u64map__upsert(&t->map, id + 1, &fresh);
	if (e && fresh)
		resolve(t, id, e);
	return e;
}

static int on_new_stack(void *ctx, void *data, size_t len)
{
	struct stack_table *t = ctx;
	struct entry *e;

	if (len < sizeof(uint64_t))
		return 0;
	e = lookup(t, *(uint64_t *)data);
	if (e)
		e->in_bpf = true;	/* re-recorded after an eviction */
	return 0;
}

struct stack_table *stacks__new(int stacks_fd, int events_fd, struct symbolizer *sym)
{
	struct stack_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->stacks_fd = stacks_fd;
	t->sym = sym;
	if (u64map__init(&t->map, sizeof(struct entry))) {
		free(t);
		return NULL;
	}
	t->rb = ring_buffer__new(events_fd, on_new_stack, t, NULL);
	if (!t->rb) {
		stacks__free(t);
		return NULL;
	}
	return t;
}

void stacks__free(struct stack_table *t)
{
	struct entry *e;
	uint64_t key;
	size_t i = 0;

	if (!t)
		return;
	while (u64map__next(&t->map, &i, &key, (void **)&e))
		free(e->sf.frames);
	u64map__free(&t->map);
	ring_buffer__free(t->rb);
	free(t);
}

int stacks__poll_fd(struct stack_table *t)
{
	return ring_buffer__epoll_fd(t->rb);
}

int stacks__consume(struct stack_table *t)
{
	return ring_buffer__consume(t->rb);
}

const struct stack_frames *stacks__get(struct stack_table *t, uint64_t id)
{
	struct entry *e = lookup(t, id);

	return e ? &e->sf : NULL;
}

void stacks__mark(struct stack_table *t, uint64_t id)
{
	struct entry *e = lookup(t, id);

	if (e)
		e->marked = true;
}

void stacks__sweep(struct stack_table *t)
{
	uint64_t key, *drop = malloc(t->map.used * sizeof(*drop) + 1);
	size_t i = 0, n = 0, k;
	struct entry *e;

	while (u64map__next(&t->map, &i, &key, (void **)&e)) {
		uint64_t id = key - 1;

		if (e->marked) {
			e->marked = false;
			e->idle = 0;
			continue;
		}
		/* Nothing outstanding was made by it: BPF re-records it if it recurs. */
		if (e->in_bpf && id > STACK_LOST) {
			bpf_map_delete_elem(t->stacks_fd, &id);
			e->in_bpf = false;
		}
		if (++e->idle >= KEEP_SWEEPS && drop) {
			free(e->sf.frames);
			drop[n++] = key;
		}
	}
	for (k = 0; k < n; k++)
		u64map__del(&t->map, drop[k]);
	free(drop);
}
