// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pyleak: outstanding allocations of one CPython process, keyed by
 * address, each with the Python stack that made it.
 *
 * Entry programs capture size and stack and stash them per thread; the
 * return program commits the allocation under the returned address. A
 * Python allocation nests (obj -> raw -> libc, all probed): only the
 * outermost call of a thread commits, inner ones just count depth.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pyleak.h"
#include "stats.bpf.h"
#include "python.bpf.h"

#define EEXIST	17
#define E2BIG	7
/* A stashed call older than this had its return missed, it is not nesting. */
#define STASH_STALE_NS	200000000ULL

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 targ_tgid = 0;
const volatile __u64 min_size = 0;
const volatile __u64 max_size = (__u64)-1;
const volatile bool targ_fds = false;	/* fd tracking on (not --no-fds) */

__u64 exec_seen = 0;	/* the target exec'd: its old image is gone */

/*
 * enum freeze_reason: nonzero once recording has stopped. Every program
 * tests it first (one load and branch), so the maps stop changing at one
 * instant: the final report is taken from them, and the probes are removed
 * afterwards at leisure, with nothing counted meanwhile (removing an entry
 * probe after its return probe, or a free probe before the malloc probes,
 * used to leave phantom allocations and missed returns in the final report).
 */
__u32 frozen = 0;
__u64 frozen_ns = 0;	/* bpf_ktime_get_ns() when it was set */
/* Py_FinalizeEx was entered while other threads of the target still ran
 * (non-daemon threads are joined first): freeze when only one is left. */
__u32 finalizing = 0;

static __always_inline void freeze(__u32 why)
{
	if (!frozen) {
		frozen_ns = bpf_ktime_get_ns();
		frozen = why;
	}
}

/* The target's CPython layout, for the stack walker. */
const volatile struct py_offsets pyoff = {};

/*
 * The walker takes a plain pointer (a per-process map value, when there
 * are many targets). Casting volatile away would let clang fold the loads
 * to the initializer's zeros; the empty asm hides where the pointer comes
 * from. The verifier still knows it: loads from the frozen .rodata are
 * constants to it, so each version's dead branches are pruned.
 */
static __always_inline const struct py_offsets *target_pyoff(void)
{
	const struct py_offsets *p = (const struct py_offsets *)&pyoff;

	asm volatile("" : "+r"(p));
	return p;
}
#define TARGET_PYOFF	target_pyoff()


struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1048576);	/* --max-allocs */
	__type(key, struct alloc_key);
	__type(value, struct alloc_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} allocs SEC(".maps");

/* The allocator call a thread is in, from entry to return. */
struct inflight {
	__u64 size;
	__u64 old;		/* realloc: the block being replaced */
	__u64 memptr;		/* posix_memalign: where the result is stored */
	__u64 stack_id;
	__u64 sp;		/* user stack pointer at the outermost entry */
	__u64 ts;
	__u32 depth;		/* nested allocator calls still to return */
	__u32 skip;		/* outside the -z/-Z size filter */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} inflight SEC(".maps");

static __always_inline int enter(struct pt_regs *ctx, __u64 size, __u64 old, __u64 memptr)
{
	struct task_struct *task;
	struct inflight *f;
	__u64 sp, now;

	if (frozen)
		return 0;
	task = bpf_get_current_task_btf();
	sp = PT_REGS_SP(ctx);
	now = bpf_ktime_get_ns();
	f = bpf_task_storage_get(&inflight, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!f) {
		stat_inc(STAT_NO_STASH);
		return 0;
	}
	if (f->depth) {
		/* Called from inside a traced allocator (a tail call keeps sp). */
		if (sp <= f->sp && now - f->ts < STASH_STALE_NS) {
			f->depth++;
			stat_inc(STAT_NESTED);
			return 0;
		}
		stat_inc(STAT_MISSED_RETURN);
	}
	f->depth = 1;
	f->sp = sp;
	f->ts = now;
	f->size = size;
	f->old = old;
	f->memptr = memptr;
	f->skip = size < min_size || size > max_size;
	f->stack_id = f->skip ? STACK_NONE : python_stack_id(TARGET_PYOFF);
	return 0;
}

static __always_inline void commit(__u64 addr)
{
	struct alloc_key key = { .pid = targ_tgid };
	struct alloc_info info, *prev;
	struct inflight *f;

	if (frozen)
		return;
	f = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);
	if (!f || !f->depth || --f->depth)
		return;
	info.ts_ns = f->ts;	/* the outermost entry's: one clock read per allocation */
	/* realloc: the old block is gone unless the call failed (NULL for a
	 * non-zero size); realloc(p, 0) returning NULL freed p. The block
	 * keeps the age of its first allocation: a string or list grown by
	 * realloc on every append is one object as old as its first append,
	 * and -o must not hide it because it moved a moment ago. (The value
	 * stays readable until the program ends: hash map elements are
	 * freed after an RCU grace period.) */
	if (f->old && (addr || !f->size)) {
		key.addr = f->old;
		prev = bpf_map_lookup_elem(&allocs, &key);
		if (prev)
			info.ts_ns = prev->ts_ns;
		if (prev && f->old != addr && !bpf_map_delete_elem(&allocs, &key))
			stat_inc(STAT_FREES);
	}
	if (!addr || f->skip)
		return;
	key.addr = addr;
	info.size = f->size;
	info.stack_id = f->stack_id;	/* the newest call's stack */
	if (bpf_map_update_elem(&allocs, &key, &info, BPF_ANY))
		stat_inc(STAT_ALLOCS_FULL);
	else
		stat_inc(STAT_ALLOCS);
}

static __always_inline void release(__u64 addr)
{
	struct alloc_key key = { .pid = targ_tgid, .addr = addr };

	if (frozen)
		return;
	if (addr && !bpf_map_delete_elem(&allocs, &key))
		stat_inc(STAT_FREES);
}

/* CPython allocator tables: PyMemAllocatorEx functions take ctx first. */
SEC("uprobe")
int BPF_KPROBE(pymem_malloc_enter, void *pctx, __u64 size)
{
	return enter(ctx, size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(pymem_calloc_enter, void *pctx, __u64 nelem, __u64 elsize)
{
	return enter(ctx, nelem * elsize, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(pymem_realloc_enter, void *pctx, __u64 ptr, __u64 size)
{
	return enter(ctx, size, ptr, 0);
}

SEC("uprobe")
int BPF_KPROBE(pymem_free_enter, void *pctx, __u64 ptr)
{
	release(ptr);
	return 0;
}

/* libc */
SEC("uprobe")
int BPF_KPROBE(malloc_enter, __u64 size)
{
	return enter(ctx, size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(calloc_enter, __u64 nelem, __u64 elsize)
{
	return enter(ctx, nelem * elsize, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(realloc_enter, __u64 ptr, __u64 size)
{
	return enter(ctx, size, ptr, 0);
}

SEC("uprobe")
int BPF_KPROBE(free_enter, __u64 ptr)
{
	release(ptr);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(posix_memalign_enter, __u64 memptr, __u64 align, __u64 size)
{
	return enter(ctx, size, 0, memptr);
}

SEC("uprobe")
int BPF_KPROBE(aligned_alloc_enter, __u64 align, __u64 size)
{
	return enter(ctx, size, 0, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_exit, __u64 ret)
{
	commit(ret);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(posix_memalign_exit, int ret)
{
	struct inflight *f;
	__u64 addr = 0;

	if (frozen)
		return 0;
	f = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);
	/* posix_memalign returns 0 and stores the block through memptr. */
	if (f && f->depth == 1 && ret == 0 &&
	    bpf_probe_read_user(&addr, sizeof(addr), (void *)f->memptr))
		stat_inc(STAT_READ_FAILED);
	commit(addr);
	return 0;
}

#include "fd.bpf.h"

/*
 * A target that execs loses the image we probed: tell userspace. exec has
 * closed the O_CLOEXEC fds (and those close_range marked with
 * CLOSE_RANGE_CLOEXEC) by now: keep only the fd records whose file is still
 * in the new image's table, before userspace can see exec_seen.
 */
SEC("tp_btf/sched_process_exec")
int exec_watch(void *ctx)
{
	if (frozen || bpf_get_current_pid_tgid() >> 32 != targ_tgid)
		return 0;
	if (targ_fds)
		fd_check_range(0, 0xffffffffu);
	/* The new program's allocations (libc stays probed if it maps the
	 * same file) and fds are not the traced program's. */
	freeze(FREEZE_EXEC);
	__sync_fetch_and_add(&exec_seen, 1);
	return 0;
}

/*
 * The interpreter begins to shut down (Py_FinalizeEx, also reached from
 * Py_Finalize, Py_RunMain, sys.exit and the end of the main module in
 * 3.8-3.13). Shutdown frees most of the heap; the final report must show
 * what the program held before that. Non-daemon threads are joined inside
 * Py_FinalizeEx, so with other threads alive this only arms exit_watch.
 */
SEC("uprobe")
int finalize_enter(struct pt_regs *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (frozen || bpf_get_current_pid_tgid() >> 32 != targ_tgid)
		return 0;
	if (BPF_CORE_READ(task, signal, live.counter) <= 1)
		freeze(FREEZE_SHUTDOWN);
	else
		finalizing = 1;
	return 0;
}

/* include/linux/sched/signal.h: exit_group() or a fatal signal is taking
 * every thread down (the same value since 2.6). */
#define SIGNAL_GROUP_EXIT	0x00000004

/*
 * A thread of the target exits. The process is going: its first thread to
 * go once exit_group() or a fatal signal took the group down, or its last
 * one (signal->live is decremented before this tracepoint, in every
 * kernel); whether or not it finalized (os._exit, a signal), and a new
 * process may get its pid, whose fds must not be taken for the target's.
 * While finalizing, a thread that ends on its own and leaves only the
 * finalizing thread means the joins are over: that is the shutdown.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_watch, struct task_struct *task)
{
	struct signal_struct *sig;
	int live;

	if (frozen || BPF_CORE_READ(task, tgid) != targ_tgid)
		return 0;
	sig = BPF_CORE_READ(task, signal);
	live = BPF_CORE_READ(sig, live.counter);
	if (live <= 0 || (BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT))
		freeze(finalizing ? FREEZE_EXIT_IN_SHUTDOWN : FREEZE_EXIT);
	else if (finalizing && live == 1)
		freeze(FREEZE_SHUTDOWN);
	return 0;
}
