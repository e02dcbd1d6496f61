// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/stacks.c: the userspace mirror of the stack store. The kernel side
 * is a real BPF hash map and ring buffer (created here, no program), filled
 * the way bpf/python.bpf.h fills them: nodes keyed by stack_node_id()
 * chained from the outermost frame in. The code addresses point nowhere,
 * so every frame symbolizes to "[unknown]": these tests are about the
 * tree (depths, truncation, which nodes eviction keeps), not about names.
 * Needs root (BPF maps); a failure to create them is a failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "pyleak.h"
#include "pyoffsets.h"
#include "stacks.h"
#include "symbolize.h"

struct world {
	int nodes_fd, ring_fd;
	struct symbolizer *sym;
	struct stack_table *t;
};

/* Add the stack code[0..n) (innermost first) as BPF would; its leaf id. */
static uint64_t add_stack(struct world *w, const uint64_t *code, int n, bool truncated)
{
	uint64_t ids[MAX_FRAMES], root = truncated ? STACK_ROOT_TRUNCATED : STACK_ROOT, h = root;
	struct stack_node sn;
	int i;

	for (i = n - 1; i >= 0; i--) {
		h = stack_node_id(h, code[i], 10 * i);
		ids[i] = h;
	}
	for (i = n - 1; i >= 0; i--) {
		sn = (struct stack_node){ i + 1 < n ? ids[i + 1] : root, code[i], 10 * i, n - i };
		bpf_map_update_elem(w->nodes_fd, &ids[i], &sn, BPF_ANY);
	}
	return ids[0];
}

static bool in_kernel(struct world *w, uint64_t id)
{
	struct stack_node sn;

	return !bpf_map_lookup_elem(w->nodes_fd, &id, &sn);
}

static int setup(void **state)
{
	static struct world w;

	w.nodes_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_nodes", sizeof(uint64_t),
				    sizeof(struct stack_node), 4096, NULL);
	w.ring_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "test_ring", 0, 0, 4096 * 4, NULL);
	if (w.nodes_fd < 0 || w.ring_fd < 0)
		fail_msg("cannot create BPF maps (root needed): %s", strerror(errno));
	w.sym = symbolizer__new(getpid(), pyoffsets__lookup(3, 11), 0);
	assert_non_null(w.sym);
	w.t = stacks__new(w.nodes_fd, w.ring_fd, w.sym);
	assert_non_null(w.t);
	*state = &w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	stacks__free(w->t);
	symbolizer__free(w->sym);
	close(w->nodes_fd);
	close(w->ring_fd);
	return 0;
}

/* Two stacks through the same callers share their nodes; each is rebuilt
 * whole from its leaf, innermost first. */
static void test_shared_prefix(void **state)
{
	struct world *w = *state;
	uint64_t a[] = { 0x1000, 0x2000, 0x3000 }, b[] = { 0x1100, 0x2000, 0x3000 };
	uint64_t la = add_stack(w, a, 3, false), lb = add_stack(w, b, 3, false);
	const struct stack_frames *sa = stacks__get(w->t, la), *sb = stacks__get(w->t, lb);
	struct stack_store st;

	assert_int_equal(sa->depth, 3);
	assert_int_equal(sb->depth, 3);
	assert_false(sa->truncated);
	assert_non_null(sa->frames[0].function);
	assert_int_not_equal(la, lb);
	stacks__store(w->t, 4, &st);
	assert_int_equal(st.mirrored, 4);	/* 0x3000, 0x2000 shared; two leaves */
	assert_null(stacks__get(w->t, STACK_NONE));
	assert_null(stacks__get(w->t, STACK_LOST));
}

/* A stack cut at MAX_FRAMES hangs from the truncated root. */
static void test_truncated(void **state)
{
	struct world *w = *state;
	uint64_t code[MAX_FRAMES];
	const struct stack_frames *sf;
	int i;

	for (i = 0; i < MAX_FRAMES; i++)
		code[i] = 0x100000 + 0x100 * i;
	sf = stacks__get(w->t, add_stack(w, code, MAX_FRAMES, true));
	assert_int_equal(sf->depth, MAX_FRAMES);
	assert_true(sf->truncated);
}

/* A sweep evicts from the kernel map every node nothing references; the
 * referenced leaf's ancestors stay, shared ones too. */
static void test_sweep_keeps_ancestors(void **state)
{
	struct world *w = *state;
	uint64_t keep[] = { 0x5000, 0x6000, 0x7000 }, drop[] = { 0x5100, 0x6100, 0x7000 };
	uint64_t lk = add_stack(w, keep, 3, false), ld = add_stack(w, drop, 3, false);
	uint64_t mid_drop = stack_node_id(stack_node_id(STACK_ROOT, 0x7000, 20), 0x6100, 10);
	uint64_t root = stack_node_id(STACK_ROOT, 0x7000, 20);

	/* both mirrored (as a report would find them) */
	stacks__get(w->t, lk);
	stacks__get(w->t, ld);
	stacks__mark(w->t, lk);
	stacks__sweep(w->t, 0, false);
	assert_true(in_kernel(w, lk));
	assert_true(in_kernel(w, root));
	assert_false(in_kernel(w, ld));
	assert_false(in_kernel(w, mid_drop));
	/* the evicted stack is still known by its leaf until KEEP_SWEEPS */
	assert_int_equal(stacks__get(w->t, ld)->depth, 3);
}

/* Nodes the kernel holds but the mirror never heard of (lost events) are
 * found by a resync sweep and evicted when unreferenced. */
static void test_resync(void **state)
{
	struct world *w = *state;
	uint64_t lost[] = { 0x9000, 0xa000 };
	uint64_t leaf = add_stack(w, lost, 2, false);

	stacks__sweep(w->t, 0, false);
	assert_true(in_kernel(w, leaf));	/* unknown to the mirror: left alone */
	stacks__sweep(w->t, 0, true);
	assert_false(in_kernel(w, leaf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_prefix),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_sweep_keeps_ancestors),
		cmocka_unit_test(test_resync),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
