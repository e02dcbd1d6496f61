// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "pyleak.h"
#include "footprint.h"
#include "stacks.h"
#include "u64map.h"

/* Sweeps a node may go unreferenced before its symbolized frame is
 * dropped too; the BPF copy goes at the first sweep. Keeping the frame a
 * while covers an allocation that raced with the BPF eviction. */
#define KEEP_SWEEPS 30

struct node {
	struct stack_node n;	/* parent, code, pos, depth as BPF stores them */
	struct frame_info fi;	/* (code, pos) symbolized when announced */
	struct stack_frames *sf;	/* the stack ending here, built when asked for */
	unsigned int built;	/* the table's gen when sf was built */
	uint32_t children;	/* mirrored nodes whose parent this is */
	uint32_t idle;		/* sweeps without a reference */
	bool marked;
	bool in_bpf;
};

struct stack_table {
	int nodes_fd, events_fd;
	struct ring_buffer *rb;
	struct symbolizer *sym;
	stacks_resolver resolve;	/* with several processes: a node's pid -> symbolizer */
	void *resolve_ctx;
	struct u64map map;	/* node id (never 0 or 1) -> struct node */
	unsigned int gen;	/* bumped when a node's frame changed: stacks rebuild */
	uint32_t sweeps;
	uint64_t evicted;
	uint64_t max_nodes;
	uint64_t peak, peak_bytes;
	unsigned int calls;	/* stacks__mark() calls: a long report drains the ring */
	bool held;		/* stacks__hold(): announcements are ignored */
};

/* Marks between two drains of the ring during a report: scanning a large
 * allocs map takes long enough for a start-up storm to fill the ring. */
#define DRAIN_EVERY	4096

static const struct stack_frames unreadable = { .depth = -1 };


static bool same_frame(const struct frame_info *a, const struct frame_info *b)
{
	return a->line == b->line && !strcmp(a->function, b->function) && !strcmp(a->file, b->file);
}

/*
 * Mirror node id; in_bpf says the kernel map holds it now. A node seen
 * again after its eviction was re-added by BPF, maybe for a new code
 * object at a freed one's address: it is symbolized again (the
 * symbolizer revalidates what it cached).
 */
static struct node *add_node(struct stack_table *t, uint64_t id, const struct stack_node *sn)
{
	struct symbolizer *sym;
	struct frame_info fi;
	struct node *e, *p;
	int fresh;

	e = u64map__get(&t->map, id);
	if (e && e->in_bpf)
		return e;
	sym = t->resolve ? t->resolve(t->resolve_ctx, NODE_PID(sn->depth_pid)) : t->sym;
	if (sym) {
		symbolizer__frame(sym, sn->code, sn->pos, &fi);
	} else {
		/* its process is gone or exec'd: the code cannot be read */
		fi = (struct frame_info){ .function = "[unknown]", .file = "[unknown]", .line = -1 };
	}
	if (e) {
		e->in_bpf = true;
		e->idle = 0;
		if (memcmp(&e->n, sn, sizeof(*sn)) || !same_frame(&e->fi, &fi)) {
			e->n = *sn;
			e->fi = fi;
			t->gen++;
		}
		return e;
	}
	/* Count it in its parent first: the upsert below may move values. */
	if (sn->parent > STACK_ROOT_TRUNCATED && (p = u64map__get(&t->map, sn->parent)))
		p->children++;
	e = u64map__upsert(&t->map, id, &fresh);
	if (!e)
		return NULL;
	e->n = *sn;
	e->fi = fi;
	e->in_bpf = true;
	return e;
}

/* A node the ring did not bring (its event was lost, or not consumed yet):
 * read it from the kernel map. */
static struct node *get_node(struct stack_table *t, uint64_t id)
{
	struct stack_node sn;
	struct node *e = u64map__get(&t->map, id);

	if (e || id <= STACK_ROOT_TRUNCATED)
		return e;
	if (bpf_map_lookup_elem(t->nodes_fd, &id, &sn))
		return NULL;
	return add_node(t, id, &sn);
}

static int on_new_node(void *ctx, void *data, size_t len)
{
	const struct node_event *ev = data;

	if (len >= sizeof(*ev) && ev->id > STACK_ROOT_TRUNCATED)
		add_node(ctx, ev->id, &ev->node);
	return 0;
}

/* The frames of the stack whose leaf is id, from the leaf up. */
static struct stack_frames *build(struct stack_table *t, uint64_t id)
{
	struct frame_info frames[MAX_FRAMES];
	struct stack_frames *sf;
	bool truncated = false;
	uint64_t cur = id;
	struct node *e;
	int d = 0;

	while (d < MAX_FRAMES) {
		e = get_node(t, cur);
		if (!e) {
			/* an ancestor gone from both the mirror and the kernel */
			truncated = true;
			break;
		}
		frames[d++] = e->fi;
		cur = e->n.parent;
		if (cur <= STACK_ROOT_TRUNCATED) {
			truncated = cur == STACK_ROOT_TRUNCATED;
			break;
		}
	}
	e = u64map__get(&t->map, id);
	if (!e)
		return NULL;
	sf = e->sf;
	if (!sf && !(sf = calloc(1, sizeof(*sf))))
		return NULL;
	e->sf = sf;
	e->built = t->gen;
	free(sf->frames);
	sf->frames = d ? malloc(d * sizeof(*sf->frames)) : NULL;
	sf->depth = sf->frames ? d : -1;
	if (sf->frames)
		memcpy(sf->frames, frames, d * sizeof(*sf->frames));
	sf->truncated = truncated;
	sf->version++;
	return sf;
}

struct stack_table *stacks__new(int nodes_fd, int events_fd, struct symbolizer *sym)
{
	struct stack_table *t = calloc(1, sizeof(*t));
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (!t)
		return NULL;
	t->nodes_fd = nodes_fd;
	t->events_fd = events_fd;
	t->sym = sym;
	if (!bpf_obj_get_info_by_fd(nodes_fd, &info, &len))
		t->max_nodes = info.max_entries;
	if (u64map__init(&t->map, sizeof(struct node))) {
		free(t);
		return NULL;
	}
	t->rb = ring_buffer__new(events_fd, on_new_node, t, NULL);
	if (!t->rb) {
		stacks__free(t);
		return NULL;
	}
	return t;
}

static void node_free_frames(struct node *e)
{
	if (e->sf) {
		free(e->sf->frames);
		free(e->sf);
		e->sf = NULL;
	}
}

void stacks__free(struct stack_table *t)
{
	struct node *e;
	uint64_t key;
	size_t i = 0;

	if (!t)
		return;
	while (u64map__next(&t->map, &i, &key, (void **)&e))
		node_free_frames(e);
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
	return t->held ? 0 : ring_buffer__consume(t->rb);
}

void stacks__hold(struct stack_table *t)
{
	t->held = true;
}

const struct stack_frames *stacks__get(struct stack_table *t, uint64_t id)
{
	struct stack_frames *sf;
	struct node *e;

	if (id <= STACK_LOST)
		return NULL;
	e = get_node(t, id);
	if (!e)
		return &unreadable;
	if (e->sf && e->built == t->gen)
		return e->sf;
	sf = build(t, id);
	return sf ? sf : &unreadable;
}

/* The leaf and its ancestors; a marked ancestor's are marked already. */
void stacks__mark(struct stack_table *t, uint64_t id)
{
	struct node *e;
	int d;

	if (++t->calls % DRAIN_EVERY == 0)
		stacks__consume(t);
	for (d = 0; d < MAX_FRAMES && id > STACK_ROOT_TRUNCATED; d++) {
		e = get_node(t, id);
		if (!e || e->marked)
			return;
		e->marked = true;
		id = e->n.parent;
	}
}

/* Nodes BPF added (or added again) while their events were lost: mirror
 * them, so that the sweep can evict them. */
static void resync(struct stack_table *t)
{
	uint64_t key, next, *prev = NULL;
	struct stack_node sn;
	struct node *e;

	while (!bpf_map_get_next_key(t->nodes_fd, prev, &next)) {
		key = next;
		prev = &key;
		e = u64map__get(&t->map, key);
		if ((!e || !e->in_bpf) && !bpf_map_lookup_elem(t->nodes_fd, &key, &sn))
			add_node(t, key, &sn);
	}
}

/* Drop node id from the mirror, then its ancestors that only it kept. */
static void drop(struct stack_table *t, uint64_t id)
{
	struct node *e = u64map__get(&t->map, id);
	uint64_t parent;

	while (e) {
		parent = e->n.parent;
		node_free_frames(e);
		u64map__del(&t->map, id);
		if (parent <= STACK_ROOT_TRUNCATED || !(e = u64map__get(&t->map, parent)))
			return;
		if (e->children)
			e->children--;
		if (e->children || e->marked || e->in_bpf || e->idle < KEEP_SWEEPS)
			return;
		id = parent;
	}
}

void stacks__sweep(struct stack_table *t, uint64_t nodes_added, bool lost_events)
{
	uint64_t key, *gone;
	size_t i = 0, n = 0, k;
	struct node *e;

	/* the most the kernel map held: the sweeps are where it shrinks */
	if (nodes_added > t->evicted && nodes_added - t->evicted > t->peak) {
		t->peak = nodes_added - t->evicted;
		t->peak_bytes = footprint__memlock(t->nodes_fd) + footprint__memlock(t->events_fd);
	}
	if (lost_events)
		resync(t);
	t->sweeps++;
	gone = malloc(t->map.used * sizeof(*gone) + 1);
	while (u64map__next(&t->map, &i, &key, (void **)&e)) {
		if (e->marked) {
			e->marked = false;
			e->idle = 0;
			continue;
		}
		/* Unreferenced: the snapshot being made will not show it. */
		node_free_frames(e);
		/* BPF adds it again if the stack recurs. An allocation made
		 * on it after this report's scan finds it here at the next
		 * report (the mirror keeps it KEEP_SWEEPS). */
		if (e->in_bpf) {
			if (!bpf_map_delete_elem(t->nodes_fd, &key))
				t->evicted++;
			e->in_bpf = false;
		}
		if (++e->idle >= KEEP_SWEEPS && !e->in_bpf && !e->children && gone)
			gone[n++] = key;
	}
	for (k = 0; k < n; k++)
		drop(t, gone[k]);
	free(gone);
}

/* The kernel's own account of a BPF object's memory (fdinfo "memlock",
 * the map's actual usage since Linux 6.4), 0 if unknown. */
void stacks__store(struct stack_table *t, uint64_t nodes_added, struct stack_store *out)
{
	out->nodes = nodes_added > t->evicted ? nodes_added - t->evicted : 0;
	out->peak_nodes = t->peak > out->nodes ? t->peak : out->nodes;
	out->max_nodes = t->max_nodes;
	out->kernel_bytes = footprint__memlock(t->nodes_fd) + footprint__memlock(t->events_fd);
	out->peak_kernel_bytes = t->peak_bytes > out->kernel_bytes ? t->peak_bytes : out->kernel_bytes;
	out->mirrored = t->map.used;
	out->evicted = t->evicted;
}

void stacks__set_resolver(struct stack_table *t, stacks_resolver fn, void *ctx)
{
	t->resolve = fn;
	t->resolve_ctx = ctx;
}
