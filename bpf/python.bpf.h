/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CPython walker: current thread state -> frame chain -> a stack id in the
 * stack store, a prefix tree of frames (struct stack_node in pyleak.h).
 * Driven entirely by struct py_offsets (user/pyoffsets.c), so no version
 * appears here. Used by: pyleak.bpf.c (allocations), fd.bpf.h (fds).
 *
 * Per stack recorded: the walk (one read of the thread state's head, one
 * of the frames near the innermost on 3.11+, one per other frame), the id
 * chain (ALU), one lookup. A stack not seen before adds only the nodes its
 * known prefix lacks and announces each on new_nodes, so that userspace
 * symbolizes every (code, pos) once, while the code object exists.
 *
 * Not done, on purpose: reusing a thread's last stack id while its
 * innermost frame pointer and instruction are unchanged. On 3.11+ a
 * returning frame's slot is reused at once by the next call from the same
 * caller (same address, same code, same instruction), so `f()` called
 * from two lines of one function would share the first line's stack;
 * telling them apart needs the callers' positions, i.e. the walk.
 */
#ifndef __PYTHON_BPF_H
#define __PYTHON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "pyleak.h"
#include "stats.bpf.h"

#ifndef EEXIST
#define EEXIST	17
#endif

#define MAX_PY_THREADS	1024	/* thread states visited to find the caller's */
#ifndef FRAME_WINDOW
#define FRAME_WINDOW	1024	/* bytes read at once below a 3.11+ innermost frame */
#endif

/*
 * Every function takes the target's walker configuration as a pointer:
 * today the .rodata constant the includer defines (the verifier folds its
 * fields to constants), tomorrow a value of a per-process map keyed by
 * tgid when several processes are traced. Offsets are then not constant,
 * so each frame field's offset is masked to stay inside the frame copy.
 */

/* One walk's frames, innermost first, and their node ids. */
struct walk_buf {
	__u64 code[MAX_FRAMES];
	__u64 ids[MAX_FRAMES];		/* node id of frame i, chained from the outermost */
	__u32 pos[MAX_FRAMES];
	/* Offsets are masked to 0x7f / 0xff so the verifier sees them in bounds. */
	__u8 ts[0x100 + 8];		/* the thread state's first TSTATE_READ bytes */
	/* FRAME_WINDOW bytes ending at the innermost frame's FRAME_READ, then
	 * one frame's copy (and room for its masked fields) */
	__u8 win[FRAME_WINDOW + 0x80 + 8];
};

/* Both thread state fields the walker needs come from one read of its
 * head (a read costs about as much as the walk's per-frame work); a layout
 * with them further in would be read field by field. */
static __always_inline bool tstate_in_head(const struct py_offsets *off)
{
	return off->tstate_thread_id <= TSTATE_READ - 8 && off->tstate_frame <= TSTATE_READ - 8;
}

/* Read the head of tstate into b->ts; then tstate_field() is free. */
static __always_inline long tstate_read_head(const struct py_offsets *off, struct walk_buf *b,
					     __u64 tstate)
{
	if (!tstate_in_head(off))
		return 0;
	return bpf_probe_read_user(b->ts, TSTATE_READ, (void *)tstate);
}

static __always_inline long tstate_field(const struct py_offsets *off, struct walk_buf *b,
					 __u64 tstate, __u32 field, __u64 *out)
{
	if (!tstate_in_head(off))
		return bpf_probe_read_user(out, sizeof(*out), (void *)(tstate + field));
	*out = *(__u64 *)(b->ts + (field & 0xff));
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk_buf);
} walkbuf SEC(".maps");

/* The stack store: a prefix tree of frames, node id -> (parent, code, pos).
 * Not preallocated: kernel memory grows with the nodes in use. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 524288);	/* --max-stacks */
	__type(key, __u64);
	__type(value, struct stack_node);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} stack_nodes SEC(".maps");

/* Each node, when added: userspace symbolizes its (code, pos) once, while
 * the code object still exists (a finished import's is freed at once). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);	/* a Flask start-up adds ~200k nodes in seconds */
} new_nodes SEC(".maps");

/*
 * The thread state of the calling thread, or 0. Whatever the access path,
 * the result is accepted only if its thread_id (a pthread_t, which is the
 * thread's fs base on glibc x86-64) is this thread's: gilstate's
 * tstate_current names the GIL holder, not necessarily the caller.
 */
static __always_inline __u64 current_tstate(const struct py_offsets *off, __u32 slot,
					     struct walk_buf *b)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
	__u64 addr, tstate = 0, tid = 0;

	switch (off->tstate_mode) {
	case TSTATE_GLOBAL:
		addr = off->tstate_addr;
		break;
	case TSTATE_TLS_DTV:
		/* tcbhead_t.dtv at fs:8, then dtv[module].val, 16-byte entries */
		if (bpf_probe_read_user(&addr, sizeof(addr), (void *)(fsbase + 8)) ||
		    bpf_probe_read_user(&addr, sizeof(addr),
					(void *)(addr + 16 * (__u64)off->tls_module)))
			goto fail;
		if (addr == 0 || addr == (__u64)-1)	/* TLS block not allocated yet */
			return 0;
		addr += off->tls_offset;
		break;
	case TSTATE_TLS_FS:
		addr = fsbase + off->tls_offset;
		break;
	default:
		return 0;
	}
	if (bpf_probe_read_user(&tstate, sizeof(tstate), (void *)addr))
		goto fail;
	if (!tstate)
		return 0;
	if (tstate_read_head(off, b, tstate) ||
	    tstate_field(off, b, tstate, off->tstate_thread_id, &tid))
		goto fail;
	if (tid != fsbase) {
		stat_inc(slot, STAT_TSTATE_OTHER);
		return 0;
	}
	return tstate;
fail:
	stat_inc(slot, STAT_READ_FAILED);
	return 0;
}

struct walk_ctx {
	const struct py_offsets *off;
	struct walk_buf *buf;
	__u64 frame;
	__u64 win, win_len;		/* target range copied to buf->win, or 0 */
	__u32 depth;
	__u32 failed;
	__u32 truncated;
};

/* What the walker takes from a frame's copy. */
struct frame_fields {
	__u64 code, previous, pos;
	__u8 owner;
};

static __always_inline void frame_fields(const struct py_offsets *off, const __u8 *f,
					 struct frame_fields *out)
{
	out->code = *(__u64 *)(f + (off->frame_code & 0x7f));
	out->previous = *(__u64 *)(f + (off->frame_previous & 0x7f));
	out->pos = *(__u64 *)(f + (off->frame_pos & 0x7f));
	out->owner = off->frame_owner != NO_OFFSET ? f[off->frame_owner & 0x7f] : 0;
}

/* One frame per call; returns 1 to stop the bpf_loop. */
static long walk_frame(__u32 i, struct walk_ctx *c)
{
	const struct py_offsets *off = c->off;
	struct walk_buf *b = c->buf;
	struct frame_fields ff;
	__u64 code, pos, rel;
	__u32 d;

	if (!c->frame)
		return 1;
	rel = c->frame - c->win;
	if (!c->win || c->frame < c->win || rel + FRAME_READ > c->win_len) {
		/* One bulk read per frame (into the slot past the window), then
		 * pick the fields out of the copy. */
		if (bpf_probe_read_user(b->win + FRAME_WINDOW, FRAME_READ, (void *)c->frame)) {
			c->failed = 1;
			return 1;
		}
		rel = FRAME_WINDOW;
	}
	/* else a caller in the same data-stack page: already copied */
	frame_fields(off, b->win + (rel > FRAME_WINDOW ? FRAME_WINDOW : rel), &ff);
	code = ff.code;
	c->frame = ff.previous;

	/* 3.12+: C-stack shim frames (`<shim>`) are the interpreter's own. */
	if (off->frame_owner != NO_OFFSET && ff.owner == off->owner_cstack)
		return 0;
	if (!code)
		return 0;

	if (off->pos_is_ptr) {
		/* prev_instr/instr_ptr points into co_code_adaptive; before the
		 * first instruction (3.11/3.12) it points one unit before it. */
		pos = ff.pos;
		pos -= code + off->code_adaptive;
		if ((__s64)pos < 0)
			pos = POS_NOT_STARTED;
	} else {
		__s32 lasti = (__s32)ff.pos;	/* f_lasti is an int (x86-64: the low half) */

		pos = lasti < 0 ? POS_NOT_STARTED : (__u32)lasti;
	}

	d = c->depth;
	if (d >= MAX_FRAMES) {
		c->truncated = 1;
		return 1;
	}
	b->code[d] = code;
	b->pos[d] = (__u32)pos;
	c->depth = d + 1;
	return 0;
}

/* Per thread: its PyThreadState, once found. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} pythreads SEC(".maps");

struct tlist_ctx {
	const struct py_offsets *off;
	__u64 tstate;
	__u64 want;	/* the caller's pthread_self(), its fs base */
	__u64 found;
	__u32 failed;
};

static long tlist_step(__u32 i, struct tlist_ctx *c)
{
	__u64 tid;

	if (!c->tstate)
		return 1;
	if (bpf_probe_read_user(&tid, sizeof(tid), (void *)(c->tstate + c->off->tstate_thread_id))) {
		c->failed = 1;
		return 1;
	}
	if (tid == c->want) {
		c->found = c->tstate;
		return 1;
	}
	if (bpf_probe_read_user(&c->tstate, sizeof(c->tstate),
				(void *)(c->tstate + c->off->tstate_next))) {
		c->failed = 1;
		return 1;
	}
	return 0;
}

/*
 * The caller's PyThreadState while it has released the GIL: fd syscalls
 * mostly run so (Py_BEGIN_ALLOW_THREADS around open(), socket(), close()
 * ...), and so do C extensions' allocations in long computations; then
 * current_tstate() finds NULL or another thread:
 * <= 3.11 gilstate.tstate_current and 3.12+ _Py_tss_tstate are cleared by
 * PyEval_SaveThread(). The interpreter's list of thread states still has
 * ours, and its frame chain does not move while the thread is in C.
 */
static __always_inline __u64 thread_tstate(const struct py_offsets *off, __u32 slot)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tlist_ctx c = { .off = off };
	__u64 *cached, interp = 0, tid;

	c.want = BPF_CORE_READ(task, thread.fsbase);
	cached = bpf_task_storage_get(&pythreads, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	/* A cached state is only trusted while it still names this thread. */
	if (cached && *cached &&
	    !bpf_probe_read_user(&tid, sizeof(tid), (void *)(*cached + off->tstate_thread_id)) &&
	    tid == c.want)
		return *cached;
	if (bpf_probe_read_user(&interp, sizeof(interp), (void *)off->interp_head))
		goto fail;
	if (!interp)		/* before the main interpreter exists */
		return 0;
	if (bpf_probe_read_user(&c.tstate, sizeof(c.tstate),
				(void *)(interp + off->interp_threads_head)))
		goto fail;
	bpf_loop(MAX_PY_THREADS, tlist_step, &c, 0);
	if (c.failed)
		stat_inc(slot, STAT_READ_FAILED);
	if (cached)
		*cached = c.found;
	return c.found;
fail:
	stat_inc(slot, STAT_READ_FAILED);
	return 0;
}

/* Is the stored node the frame we mean? A different one under the same
 * id is a 64-bit hash collision: counted, the stack is not recorded. */
static __always_inline bool node_is(__u32 slot, const struct stack_node *n, __u64 parent, __u64 code,
				    __u32 pos)
{
	if (n->parent == parent && n->code == code && n->pos == pos)
		return true;
	stat_inc(slot, STAT_STACK_COLLISIONS);
	return false;
}

struct insert_ctx {
	struct walk_buf *buf;
	__u32 depth;		/* frames in buf */
	__u32 top;		/* frames [0, top) are missing from the store */
	__u64 root;		/* STACK_ROOT or STACK_ROOT_TRUNCATED */
	__u64 h;		/* chain_id(): the id so far */
	long err;
	__u32 slot, pid;	/* the process: its counters, its nodes */
};

/* ids[i] for frame i = depth - 1 - k, outermost first. */
static long chain_id(__u32 k, struct insert_ctx *c)
{
	struct walk_buf *b = c->buf;
	__u32 i;

	if (k >= c->depth)
		return 1;
	i = (c->depth - 1 - k) & (MAX_FRAMES - 1);
	c->h = stack_node_id(c->h, b->code[i], b->pos[i]);
	b->ids[i] = c->h;
	return 0;
}

/* Frame k + 1's node, innermost first: the first one in the store ends
 * the search (top = k + 1); a collision there fails it (err). */
static long find_known(__u32 k, struct insert_ctx *c)
{
	struct walk_buf *b = c->buf;
	struct stack_node *n;
	__u32 i = (k + 1) & (MAX_FRAMES - 1);	/* k < MAX_FRAMES - 1 */

	if (k + 1 >= c->depth)
		return 1;
	n = bpf_map_lookup_elem(&stack_nodes, &b->ids[i]);
	if (!n)
		return 0;
	if (!node_is(c->slot, n, i + 1 < c->depth ? b->ids[(i + 1) & (MAX_FRAMES - 1)] : c->root,
		     b->code[i], b->pos[i]))
		c->err = -EEXIST;
	c->top = i;
	return 1;
}

/* Add frame top - 1 - j, outermost missing first, so that a node's parent
 * is in the store before it (userspace sees parents announced first). */
static long insert_node(__u32 j, struct insert_ctx *c)
{
	struct walk_buf *b = c->buf;
	struct node_event ev;
	struct stack_node *n;
	__u32 i;

	if (j >= c->top)
		return 1;
	i = (c->top - 1 - j) & (MAX_FRAMES - 1);
	ev.id = b->ids[i];
	ev.node.parent = i + 1 < c->depth ? b->ids[(i + 1) & (MAX_FRAMES - 1)] : c->root;
	ev.node.code = b->code[i];
	ev.node.pos = b->pos[i];
	ev.node.depth_pid = NODE_DEPTH_PID(c->depth - i, c->pid);
	c->err = bpf_map_update_elem(&stack_nodes, &ev.id, &ev.node, BPF_NOEXIST);
	if (c->err == -EEXIST) {
		/* another CPU added it since the lookup */
		n = bpf_map_lookup_elem(&stack_nodes, &ev.id);
		c->err = n && !node_is(c->slot, n, ev.node.parent, ev.node.code, ev.node.pos) ? -EEXIST : 0;
		return c->err ? 1 : 0;
	}
	if (c->err) {
		stat_inc(c->slot, STAT_STACKS_FULL);
		return 1;
	}
	stat_inc(c->slot, STAT_STACK_NODES);
	if (bpf_ringbuf_output(&new_nodes, &ev, sizeof(ev), 0))
		stat_inc(c->slot, STAT_STACK_EVENTS_LOST);
	return 0;
}

/*
 * Walk the Python frames of the thread whose PyThreadState is tstate and
 * return the id of the stack in the store: STACK_NONE without frames,
 * STACK_LOST when the store is full. A stack already known costs the walk
 * and one lookup; a new one adds only the nodes its prefix lacks.
 */
static __always_inline __u64 python_stack_id_of(const struct proc_cfg *p, __u32 pid,
						 struct walk_buf *b, __u64 tstate)
{
	const struct py_offsets *off = &p->off;
	struct walk_ctx c = { .off = off, .buf = b };
	struct insert_ctx ic = { .slot = p->slot, .pid = pid };
	__u32 slot = p->slot;
	struct stack_node *n;
	__u64 frame;

	/* b->ts holds tstate's head (current_tstate() or our caller read it) */
	if (tstate_field(off, b, tstate, off->tstate_frame, &frame))
		goto fail;
	/* 3.11/3.12: tstate->cframe->current_frame */
	if (off->cframe_current_frame != NO_OFFSET && frame &&
	    bpf_probe_read_user(&frame, sizeof(frame),
				(void *)(frame + off->cframe_current_frame)))
		goto fail;

	c.frame = frame;
	/*
	 * 3.11+ (_PyInterpreterFrame, pos_is_ptr): a thread's frames are
	 * pushed contiguously on its data stack, callers below callees, so
	 * one read below the innermost frame holds several of them; the
	 * walk reads the others (generators', shims on the C stack, frames
	 * in an older data-stack chunk) one by one. The window stays in the
	 * innermost frame's page, which is mapped; the page below may not be.
	 */
	if (off->pos_is_ptr && frame) {
		__u64 end = frame + FRAME_READ, start = end - FRAME_WINDOW;
		__u64 len;

		if (start < (frame & ~4095ULL))
			start = frame & ~4095ULL;
		len = end - start;
		if (len >= FRAME_READ && len <= FRAME_WINDOW &&
		    !bpf_probe_read_user(b->win, len, (void *)start)) {
			c.win = start;
			c.win_len = len;
		}
	}
	bpf_loop(MAX_FRAME_VISITS, walk_frame, &c, 0);
	if (c.failed)
		stat_inc(slot, STAT_READ_FAILED);
	if (c.truncated)
		stat_inc(slot, STAT_TRUNCATED);
	if (!c.depth || c.depth > MAX_FRAMES) {
		stat_inc(slot, STAT_NO_FRAMES);
		return STACK_NONE;
	}

	/* Chain the ids from the outermost frame in: ids[i] names frames
	 * [i, depth) (ALU only; the walk's reads are the cost). Loops are
	 * bpf_loop callbacks, verified once rather than unrolled per path. */
	ic.buf = b;
	ic.depth = c.depth;
	ic.root = c.truncated ? STACK_ROOT_TRUNCATED : STACK_ROOT;
	ic.h = stack_seed(pid, ic.root);
	bpf_loop(MAX_FRAMES, chain_id, &ic, 0);

	/* The common case: the stack is known, one lookup. */
	n = bpf_map_lookup_elem(&stack_nodes, &b->ids[0]);
	if (n)
		return node_is(slot, n, c.depth > 1 ? b->ids[1] : ic.root, b->code[0], b->pos[0]) ?
			b->ids[0] : STACK_LOST;

	/* New: find the innermost known ancestor, then add what is below it. */
	ic.top = c.depth;
	bpf_loop(MAX_FRAMES - 1, find_known, &ic, 0);
	if (ic.err)
		return STACK_LOST;
	bpf_loop(MAX_FRAMES, insert_node, &ic, 0);
	return ic.err ? STACK_LOST : b->ids[0];
fail:
	stat_inc(slot, STAT_READ_FAILED);
	return STACK_NONE;
}

/* The calling thread's stack: its thread state is the GIL holder's / the
 * TLS one while it holds the GIL, else found in the thread list. */
static __always_inline __u64 python_stack_id(const struct proc_cfg *p, __u32 pid)
{
	const struct py_offsets *off = &p->off;
	__u32 slot = p->slot;
	struct walk_buf *b;
	__u32 zero = 0;
	__u64 tstate;

	b = bpf_map_lookup_elem(&walkbuf, &zero);
	if (!b)
		return STACK_NONE;
	tstate = current_tstate(off, slot, b);
	if (!tstate) {
		tstate = thread_tstate(off, slot);
		if (tstate && tstate_read_head(off, b, tstate)) {
			stat_inc(slot, STAT_READ_FAILED);
			return STACK_NONE;
		}
	}
	if (!tstate) {
		stat_inc(slot, STAT_NO_TSTATE);
		return STACK_NONE;
	}
	return python_stack_id_of(p, pid, b, tstate);
}

#endif /* __PYTHON_BPF_H */
