// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pyleak: outstanding allocations of the traced CPython processes, keyed
 * by (tgid, address), each with the Python stack that made it. One loaded
 * object serves every process: its configuration is its entry in procs
 * (bpf/procs.bpf.h), and its uprobes are links with its pid as filter.
 *
 * Entry programs capture size and stack and stash them per thread; the
 * return program commits the allocation under the returned address. A
 * Python allocation nests (obj -> raw -> libc, all probed): only the
 * outermost call of a thread commits, inner ones just count depth.
 *
 * Where the kernel has uprobe sessions (Linux 6.13+), one program serves a
 * call's entry and its return, and the entry decides whether the return
 * probe runs at all: not for a nested call (the outermost one's return
 * commits), nor for an unsampled call of a function that cannot nest
 * another probed call returning the same block (a leaf: libc malloc,
 * pymalloc's tables for 1 to 512 bytes). Under sampling most calls are
 * those: they cost one trap instead of two.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pyleak.h"
#include "stats.bpf.h"
#include "procs.bpf.h"
#include "python.bpf.h"
#include "sample.bpf.h"

#define E2BIG	7
/* A stashed call older than this had its return missed, it is not nesting. */
#define STASH_STALE_NS	200000000ULL
/* pymalloc serves 1 to 512 bytes from its pools itself (SMALL_REQUEST_THRESHOLD,
 * 3.8-3.13); larger and 0-byte requests go on to the raw allocator (libc). */
#define PYMALLOC_MAX	512

/* Session programs only (the weak reference lets the object load on a
 * kernel without it, the session programs then left unloaded). */
extern bool bpf_session_is_return(void) __ksym __weak;

/* Can the function called nest a probed call that returns the same block? */
enum nesting {
	NESTS = 0,		/* realloc, calloc, the memalign family, hooked tables */
	LEAF = 1,		/* libc malloc */
	LEAF_PYMALLOC = 2,	/* an object/mem table function: a leaf for pymalloc's sizes */
};

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u64 proc_events_lost = 0;	/* proc_events full, or procs full at a fork */

const volatile __u64 min_size = 0;
const volatile __u64 max_size = (__u64)-1;
const volatile bool targ_fds = false;	/* fd tracking on (not --no-fds) */
const volatile bool watch_exec = false;	/* -a: every exec is announced */

/* Forks, execs and exits userspace must look at (struct lifecycle_event). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} proc_events SEC(".maps");

/* flags: BPF_RB_NO_WAKEUP for what can wait for userspace's next poll
 * (-a polls at least every 100 ms): a wakeup costs the announcing process
 * tens of microseconds (bench/RESULTS.md), and -a announces every exec on
 * the host. */
static __always_inline void announce(__u32 kind, __u32 pid, __u32 parent, __u64 flags)
{
	struct lifecycle_event ev = { .kind = kind, .pid = pid, .parent = parent,
				 .ts_ns = bpf_ktime_get_ns() };

	if (bpf_ringbuf_output(&proc_events, &ev, sizeof(ev), flags))
		__sync_fetch_and_add(&proc_events_lost, 1);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1048576);	/* --max-allocs */
	__type(key, struct alloc_key);
	__type(value, struct alloc_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} allocs SEC(".maps");

#include "agg.bpf.h"	/* every insert and delete of a record, with its stack's sum */

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
	__u32 slot;		/* the process's counters */
	__u32 pad;
	__u64 sample;		/* proc_cfg.sample_bytes at the outermost entry */
	__s64 sample_left;	/* --sample-bytes: bytes to go before the next sample */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} inflight SEC(".maps");

/*
 * An allocator call's entry. session: the program also serves the return,
 * and the result says whether it runs (0: run it, 1: skip it); the classic
 * entry programs return 0 whatever this says.
 */
static __always_inline int enter(struct pt_regs *ctx, __u64 size, __u64 old, __u64 memptr,
				 bool session, enum nesting nest)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task;
	struct proc_cfg *p;
	struct inflight *f;
	__u64 sp, now;
	bool leaf;

	if (frozen || !(p = traced(pid)))
		return 1;
	task = bpf_get_current_task_btf();
	sp = PT_REGS_SP(ctx);
	now = bpf_ktime_get_ns();
	f = bpf_task_storage_get(&inflight, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!f) {
		stat_inc(p->slot, STAT_NO_STASH);
		return 1;
	}
	if (f->depth) {
		/* Called from inside a traced allocator (a tail call keeps sp). */
		if (sp <= f->sp && now - f->ts < STASH_STALE_NS) {
			stat_inc(p->slot, STAT_NESTED);
			if (session) {
				/* only the outermost call's return commits */
				stat_inc(p->slot, STAT_RETURNS_SKIPPED);
				return 1;
			}
			f->depth++;
			return 0;
		}
		stat_inc(p->slot, STAT_MISSED_RETURN);
	}
	stat_inc(p->slot, STAT_CALLS);
	f->sample = p->sample_bytes;
	/* Unsampled: no stack walk, nothing recorded (its inner calls still
	 * nest, so they are not sampled on their own). */
	f->skip = size < min_size || size > max_size ||
		  (f->sample && !sample_take(&f->sample_left, size, f->sample));
	leaf = session && (nest == LEAF ||
			   (nest == LEAF_PYMALLOC && (p->flags & PROC_PYMALLOC) &&
			    size >= 1 && size <= PYMALLOC_MAX));
	if (leaf && f->skip) {
		/* nothing to commit, and no inner call to fold into this one */
		f->depth = 0;
		stat_inc(p->slot, STAT_RETURNS_SKIPPED);
		return 1;
	}
	if (leaf)
		stat_inc(p->slot, STAT_LEAF_KEPT);
	f->depth = 1;
	f->sp = sp;
	f->ts = now;
	f->size = size;
	f->old = old;
	f->memptr = memptr;
	f->slot = p->slot;
	f->stack_id = f->skip ? STACK_NONE : python_stack_id(p, pid);
	return 0;
}

static __always_inline void commit(__u64 addr)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct alloc_key key = { .pid = pid };
	struct alloc_info info, *prev;
	struct inflight *f;

	if (frozen || !traced(pid))
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
		if (f->old != addr) {
			if (!agg_delete(&key, f->slot, &info.ts_ns))
				stat_inc(f->slot, STAT_FREES);
		} else if ((prev = bpf_map_lookup_elem(&allocs, &key))) {
			info.ts_ns = prev->ts_ns;
		}
	}
	if (!addr || f->skip)
		return;
	key.addr = addr;
	info.size = f->size;
	info.stack_id = f->stack_id;	/* the newest call's stack */
	info.sample_bytes = f->sample;
	if (agg_insert(&key, &info, f->slot))
		stat_inc(f->slot, STAT_ALLOCS_FULL);
	else
		stat_inc(f->slot, STAT_ALLOCS);
}

static __always_inline void release(__u64 addr)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct alloc_key key = { .pid = pid, .addr = addr };
	struct proc_cfg *p;

	if (frozen || !addr || !(p = traced(pid)))
		return;
	stat_inc(p->slot, STAT_FREE_CALLS);
	if (!agg_delete(&key, p->slot, NULL))
		stat_inc(p->slot, STAT_FREES);
}

/* posix_memalign returns 0 and stores the block through memptr. */
static __always_inline void memalign_commit(int ret)
{
	struct inflight *f;
	__u64 addr = 0;

	if (frozen)
		return;
	f = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);
	if (f && f->depth == 1 && ret == 0 &&
	    bpf_probe_read_user(&addr, sizeof(addr), (void *)f->memptr))
		stat_inc(f->slot, STAT_READ_FAILED);
	commit(addr);
}

/*
 * Each allocator function gets two programs: NAME_enter, a classic entry
 * probe (its return probe is alloc_exit, or posix_memalign_exit), and
 * NAME_session, entry and return in one (user/probe.c picks one kind).
 * ARGS: the function's arguments; SIZE, OLD, MEMPTR: expressions of them.
 */
#define ALLOC_PROBES(name, nest, on_return, size, old, memptr, args...)		\
SEC("uprobe")									\
int BPF_KPROBE(name##_enter, args)						\
{										\
	enter(ctx, size, old, memptr, false, nest);				\
	return 0;								\
}										\
										\
SEC("uprobe")									\
int BPF_KPROBE(name##_session, args)						\
{										\
	if (bpf_session_is_return()) {						\
		on_return(PT_REGS_RC(ctx));					\
		return 0;							\
	}									\
	return enter(ctx, size, old, memptr, true, nest);			\
}

/* CPython allocator tables: PyMemAllocatorEx functions take ctx first. */
ALLOC_PROBES(pymem_malloc, LEAF_PYMALLOC, commit, size, 0, 0, void *pctx, __u64 size)
ALLOC_PROBES(pymem_calloc, LEAF_PYMALLOC, commit, nelem * elsize, 0, 0,
	     void *pctx, __u64 nelem, __u64 elsize)
ALLOC_PROBES(pymem_realloc, NESTS, commit, size, ptr, 0, void *pctx, __u64 ptr, __u64 size)

SEC("uprobe")
int BPF_KPROBE(pymem_free_enter, void *pctx, __u64 ptr)
{
	release(ptr);
	return 0;
}

/* libc. Its malloc calls no probed function; calloc may (musl's calls
 * malloc), realloc(NULL, n) does (glibc's calls malloc), and so does the
 * memalign family for small alignments. */
ALLOC_PROBES(malloc, LEAF, commit, size, 0, 0, __u64 size)
ALLOC_PROBES(calloc, NESTS, commit, nelem * elsize, 0, 0, __u64 nelem, __u64 elsize)
ALLOC_PROBES(realloc, NESTS, commit, size, ptr, 0, __u64 ptr, __u64 size)
ALLOC_PROBES(posix_memalign, NESTS, memalign_commit, size, 0, memptr,
	     __u64 memptr, __u64 align, __u64 size)
ALLOC_PROBES(aligned_alloc, NESTS, commit, size, 0, 0, __u64 align, __u64 size)

SEC("uprobe")
int BPF_KPROBE(free_enter, __u64 ptr)
{
	release(ptr);
	return 0;
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
	memalign_commit(ret);
	return 0;
}

/* bench/run.py's empty modes (--bench-empty-probes): the same probes with
 * nothing in them, the baseline of what our programs add to the traps. */
SEC("uprobe")
int empty_enter(struct pt_regs *ctx)
{
	return 0;
}

SEC("uretprobe")
int empty_exit(struct pt_regs *ctx)
{
	return 0;
}

#include "fd.bpf.h"

/*
 * A traced process that execs loses the image we probed: freeze it and
 * tell userspace. exec has closed the O_CLOEXEC fds (and those close_range
 * marked with CLOSE_RANGE_CLOEXEC) by now: keep only the fd records whose
 * file is still in the new image's table, first. With -a every exec is
 * announced: the new program may be a Python (userspace looks once its
 * libraries are mapped).
 */
SEC("tp_btf/sched_process_exec")
int exec_watch(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct proc_cfg *p;

	if (frozen)
		return 0;
	p = traced(pid);
	if (p) {
		if (targ_fds)
			fd_check_range(0, 0xffffffffu, pid, p->slot);
		/* The new program's allocations (libc stays probed if it maps
		 * the same file) and fds are not the traced program's. */
		proc_freeze(p, FREEZE_EXEC);
	}
	if (p)
		announce(PROC_EV_EXEC, pid, 0, 0);
	else if (watch_exec)
		announce(PROC_EV_EXEC, pid, 0, BPF_RB_NO_WAKEUP);
	return 0;
}

/*
 * A followed process forks: the child is the same image at the same
 * addresses, so it is traced from this instant with a copy of its parent's
 * entry (its counters go to slot 0 until userspace gives it its own and
 * attaches its uprobes; its fds are recorded at once). What the parent
 * held at the fork is the child's too but stays counted in the parent's
 * section only: the child's report starts from the fork. Threads (the
 * same tgid) are not processes.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(fork_watch, struct task_struct *parent, struct task_struct *child)
{
	__u32 ppid = BPF_CORE_READ(parent, tgid), cpid = BPF_CORE_READ(child, tgid);
	struct proc_cfg *p, c;

	if (frozen || ppid == cpid || !(p = traced(ppid)) || !(p->flags & PROC_FOLLOW))
		return 0;
	c = *p;
	c.frozen = 0;
	c.frozen_ns = 0;
	c.finalizing = 0;
	c.slot = 0;
	if (bpf_map_update_elem(&procs, &cpid, &c, BPF_NOEXIST))
		__sync_fetch_and_add(&proc_events_lost, 1);	/* MAX_PROCS traced */
	else
		announce(PROC_EV_FORK, cpid, ppid, 0);
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
	struct proc_cfg *p;

	if (frozen || !(p = traced(bpf_get_current_pid_tgid() >> 32)))
		return 0;
	if (BPF_CORE_READ(task, signal, live.counter) <= 1)
		proc_freeze(p, FREEZE_SHUTDOWN);
	else
		p->finalizing = 1;
	return 0;
}

/* include/linux/sched/signal.h: exit_group() or a fatal signal is taking
 * every thread down (the same value since 2.6). */
#define SIGNAL_GROUP_EXIT	0x00000004

/*
 * A thread of a traced process exits. The process is going: its first
 * thread to go once exit_group() or a fatal signal took the group down,
 * or its last one (signal->live is decremented before this tracepoint, in
 * every kernel); whether or not it finalized (os._exit, a signal), and a
 * new process may get its pid, whose fds must not be taken for its. While
 * finalizing, a thread that ends on its own and leaves only the finalizing
 * thread means the joins are over: that is the shutdown. The last thread
 * announces the exit, frozen or not.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_watch, struct task_struct *task)
{
	__u32 pid = BPF_CORE_READ(task, tgid);
	struct signal_struct *sig;
	struct proc_cfg *p;
	int live;

	if (frozen || !(p = bpf_map_lookup_elem(&procs, &pid)))
		return 0;
	sig = BPF_CORE_READ(task, signal);
	live = BPF_CORE_READ(sig, live.counter);
	if (live <= 0 || (BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT))
		proc_freeze(p, p->finalizing ? FREEZE_EXIT_IN_SHUTDOWN : FREEZE_EXIT);
	else if (p->finalizing && live == 1)
		proc_freeze(p, FREEZE_SHUTDOWN);
	if (live <= 0)
		announce(PROC_EV_EXIT, pid, 0, 0);
	return 0;
}
