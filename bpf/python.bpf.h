/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CPython walker: current thread state -> frame chain -> a deduplicated
 * stack id. Driven entirely by struct py_offsets (user/pyoffsets.c), so
 * no version appears here.
 */
#ifndef __PYTHON_BPF_H
#define __PYTHON_BPF_H

#include "pyleak.h"

#define MAX_PY_THREADS	1024	/* thread states visited to find the caller's */

/* Hash constants of 64-bit FNV-1a; good enough to key a few thousand stacks. */
#define STACK_HASH_SEED		0xcbf29ce484222325ULL
#define STACK_HASH_PRIME	0x100000001b3ULL

const volatile struct py_offsets pyoff = {};

struct walk_buf {
	struct pystack stack;
	/* Offsets are masked to 0x7f so the verifier sees them in bounds. */
	__u8 frame[0x80 + 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk_buf);
} walkbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);	/* --max-stacks */
	__type(key, __u64);
	__type(value, struct pystack);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} stacks SEC(".maps");

/* Each stack's id, the first time it is recorded: userspace symbolizes it
 * while its code objects still exist. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} newstacks SEC(".maps");

static __always_inline void stat_inc(enum stat_id id);

/*
 * The thread state of the calling thread, or 0. Whatever the access path,
 * the result is accepted only if its thread_id (a pthread_t, which is the
 * thread's fs base on glibc x86-64) is this thread's: gilstate's
 * tstate_current names the GIL holder, not necessarily the caller.
 */
static __always_inline __u64 current_tstate(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
	__u64 addr, tstate = 0, tid = 0;

	switch (pyoff.tstate_mode) {
	case TSTATE_GLOBAL:
		addr = pyoff.tstate_addr;
		break;
	case TSTATE_TLS_DTV:
		/* tcbhead_t.dtv at fs:8, then dtv[module].val, 16-byte entries */
		if (bpf_probe_read_user(&addr, sizeof(addr), (void *)(fsbase + 8)) ||
		    bpf_probe_read_user(&addr, sizeof(addr),
					(void *)(addr + 16 * (__u64)pyoff.tls_module)))
			goto fail;
		if (addr == 0 || addr == (__u64)-1)	/* TLS block not allocated yet */
			return 0;
		addr += pyoff.tls_offset;
		break;
	case TSTATE_TLS_FS:
		addr = fsbase + pyoff.tls_offset;
		break;
	default:
		return 0;
	}
	if (bpf_probe_read_user(&tstate, sizeof(tstate), (void *)addr))
		goto fail;
	if (!tstate)
		return 0;
	if (bpf_probe_read_user(&tid, sizeof(tid), (void *)(tstate + pyoff.tstate_thread_id)))
		goto fail;
	if (tid != fsbase) {
		stat_inc(STAT_TSTATE_OTHER);
		return 0;
	}
	return tstate;
fail:
	stat_inc(STAT_READ_FAILED);
	return 0;
}

struct walk_ctx {
	struct walk_buf *buf;
	__u64 frame;
	__u64 hash;
	__u32 depth;
	__u32 failed;
};

/* One frame per call; returns 1 to stop the bpf_loop. */
static long walk_frame(__u32 i, struct walk_ctx *c)
{
	struct walk_buf *b = c->buf;
	__u64 code, pos;
	__u32 d;

	if (!c->frame)
		return 1;
	/* One bulk read per frame, then pick the fields out of the copy. */
	if (bpf_probe_read_user(b->frame, FRAME_READ, (void *)c->frame)) {
		c->failed = 1;
		return 1;
	}
	code = *(__u64 *)(b->frame + (pyoff.frame_code & 0x7f));
	c->frame = *(__u64 *)(b->frame + (pyoff.frame_previous & 0x7f));

	/* 3.12+: C-stack shim frames (`<shim>`) are the interpreter's own. */
	if (pyoff.frame_owner != NO_OFFSET &&
	    b->frame[pyoff.frame_owner & 0x7f] == pyoff.owner_cstack)
		return 0;
	if (!code)
		return 0;

	if (pyoff.pos_is_ptr) {
		/* prev_instr/instr_ptr points into co_code_adaptive; before the
		 * first instruction (3.11/3.12) it points one unit before it. */
		pos = *(__u64 *)(b->frame + (pyoff.frame_pos & 0x7f));
		pos -= code + pyoff.code_adaptive;
		if ((__s64)pos < 0)
			pos = POS_NOT_STARTED;
	} else {
		__s32 lasti = *(__s32 *)(b->frame + (pyoff.frame_pos & 0x7f));

		pos = lasti < 0 ? POS_NOT_STARTED : (__u32)lasti;
	}

	d = c->depth;
	if (d >= MAX_FRAMES) {
		b->stack.truncated = 1;
		return 1;
	}
	b->stack.code[d] = code;
	b->stack.pos[d] = (__u32)pos;
	c->depth = d + 1;
	c->hash = (c->hash ^ code) * STACK_HASH_PRIME;
	c->hash = (c->hash ^ (__u32)pos) * STACK_HASH_PRIME;
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
	if (bpf_probe_read_user(&tid, sizeof(tid), (void *)(c->tstate + pyoff.tstate_thread_id))) {
		c->failed = 1;
		return 1;
	}
	if (tid == c->want) {
		c->found = c->tstate;
		return 1;
	}
	if (bpf_probe_read_user(&c->tstate, sizeof(c->tstate),
				(void *)(c->tstate + pyoff.tstate_next))) {
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
static __always_inline __u64 thread_tstate(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tlist_ctx c = {};
	__u64 *cached, interp = 0, tid;

	c.want = BPF_CORE_READ(task, thread.fsbase);
	cached = bpf_task_storage_get(&pythreads, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	/* A cached state is only trusted while it still names this thread. */
	if (cached && *cached &&
	    !bpf_probe_read_user(&tid, sizeof(tid), (void *)(*cached + pyoff.tstate_thread_id)) &&
	    tid == c.want)
		return *cached;
	if (bpf_probe_read_user(&interp, sizeof(interp), (void *)pyoff.interp_head))
		goto fail;
	if (!interp)		/* before the main interpreter exists */
		return 0;
	if (bpf_probe_read_user(&c.tstate, sizeof(c.tstate),
				(void *)(interp + pyoff.interp_threads_head)))
		goto fail;
	bpf_loop(MAX_PY_THREADS, tlist_step, &c, 0);
	if (c.failed)
		stat_inc(STAT_READ_FAILED);
	if (cached)
		*cached = c.found;
	return c.found;
fail:
	stat_inc(STAT_READ_FAILED);
	return 0;
}

/*
 * Walk the Python frames of the thread whose PyThreadState is tstate and
 * return the id of the stack in the stacks map: STACK_NONE without
 * frames, STACK_LOST when the stacks map is full.
 */
static __always_inline __u64 python_stack_id_of(__u64 tstate)
{
	struct walk_ctx c = {};
	__u32 zero = 0;
	__u64 frame;

	c.buf = bpf_map_lookup_elem(&walkbuf, &zero);
	if (!c.buf)
		return STACK_NONE;
	if (bpf_probe_read_user(&frame, sizeof(frame), (void *)(tstate + pyoff.tstate_frame)))
		goto fail;
	/* 3.11/3.12: tstate->cframe->current_frame */
	if (pyoff.cframe_current_frame != NO_OFFSET && frame &&
	    bpf_probe_read_user(&frame, sizeof(frame),
				(void *)(frame + pyoff.cframe_current_frame)))
		goto fail;

	c.frame = frame;
	c.hash = STACK_HASH_SEED;
	c.buf->stack.truncated = 0;
	bpf_loop(MAX_FRAME_VISITS, walk_frame, &c, 0);
	if (c.failed)
		stat_inc(STAT_READ_FAILED);
	if (c.buf->stack.truncated)
		stat_inc(STAT_TRUNCATED);
	if (!c.depth) {
		stat_inc(STAT_NO_FRAMES);
		return STACK_NONE;
	}
	c.buf->stack.depth = c.depth;
	/* keep clear of the reserved ids */
	if (c.hash <= STACK_LOST)
		c.hash += 2;
	if (!bpf_map_lookup_elem(&stacks, &c.hash)) {
		/* Stale frames past depth stay in the copy; userspace reads depth. */
		long err = bpf_map_update_elem(&stacks, &c.hash, &c.buf->stack, BPF_NOEXIST);

		if (err && err != -EEXIST) {
			stat_inc(STAT_STACKS_FULL);
			return STACK_LOST;
		}
		if (!err && bpf_ringbuf_output(&newstacks, &c.hash, sizeof(c.hash), 0))
			stat_inc(STAT_STACK_EVENTS_LOST);
	}
	return c.hash;
fail:
	stat_inc(STAT_READ_FAILED);
	return STACK_NONE;
}

/* The calling thread's stack: its thread state is the GIL holder's / the
 * TLS one while it holds the GIL, else found in the thread list. */
static __always_inline __u64 python_stack_id(void)
{
	__u64 tstate = current_tstate();

	if (!tstate)
		tstate = thread_tstate();
	if (!tstate) {
		stat_inc(STAT_NO_TSTATE);
		return STACK_NONE;
	}
	return python_stack_id_of(tstate);
}

#endif /* __PYTHON_BPF_H */
