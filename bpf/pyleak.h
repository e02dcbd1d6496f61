/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI shared by bpf/pyleak.bpf.c and user/: every struct both sides
 * see. Fixed-width types only, explicit padding, sizes asserted.
 */
#ifndef __PYLEAK_H
#define __PYLEAK_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Python frames kept per stack (innermost first) and frames visited,
 * shim frames included: 3.12+ adds one shim per C->Python entry. A stack
 * costs nothing per frame in the store (a prefix tree), only walk time. */
#define MAX_FRAMES		128
#define MAX_FRAME_VISITS	192
/* Bytes copied per frame in one read; covers every field the walker
 * uses (largest: 3.8/3.9 PyFrameObject.f_lasti at 104, an int). */
#define FRAME_READ		112
/* Bytes of a PyThreadState read in one go by the walker: thread_id and
 * frame / cframe / current_frame lie below 184 in 3.8-3.13 (largest:
 * 3.8-3.10 thread_id at 176), and PyThreadState is larger than this. */
#define TSTATE_READ		192

/* Stack ids with no Python frames behind them. */
#define STACK_NONE	0ULL	/* no Python thread state: GIL released, native thread */
#define STACK_LOST	1ULL	/* the stack store was full (or a hash collided) */

/* Parents of a stack's outermost node: the stack starts at the thread's
 * first frame, or MAX_FRAMES frames in from the innermost (truncated).
 * They are never node ids (stack_node_id() keeps clear of them). The id
 * chain of a stack starts from stack_seed(), which mixes in the tgid, so
 * that the trees of different address spaces (code addresses mean
 * different things in each, forked workers' the same for a while) never
 * share a node. */
#define STACK_ROOT		0ULL
#define STACK_ROOT_TRUNCATED	1ULL

/* Traced processes at once (the procs map) and their counter slots. Slot
 * 0 counts for processes not yet given one (a child between its fork and
 * userspace picking it up). */
#define MAX_PROCS		256
#define STAT_SLOTS		(MAX_PROCS + 1)

/* Position of the instruction a frame is executing, stack_node.pos. */
#define POS_NOT_STARTED	0xffffffffu

/* Counters in the stats map: everything dropped or unreadable is counted
 * here and printed with each report. */
enum stat_id {
	STAT_ALLOCS,		/* allocations recorded */
	STAT_FREES,		/* frees that matched a recorded allocation */
	STAT_NESTED,		/* inner allocator calls folded into an outer one */
	STAT_NO_TSTATE,		/* allocation or fd with no Python thread state (native thread,
				 * GIL released) */
	STAT_TSTATE_OTHER,	/* thread state found belongs to another thread */
	STAT_NO_FRAMES,		/* a thread state without Python frames (start-up, shutdown, C code) */
	STAT_READ_FAILED,	/* a read of the target's memory failed during a stack walk */
	STAT_TRUNCATED,		/* stack deeper than MAX_FRAMES, kept innermost frames */
	STAT_STACKS_FULL,	/* stack store full: allocation recorded as STACK_LOST */
	STAT_STACK_EVENTS_LOST,	/* new-node ring full: symbolized late, code may be gone */
	STAT_STACK_COLLISIONS,	/* two frames hashed to one node id: recorded as STACK_LOST */
	STAT_STACK_NODES,	/* nodes added to the stack store (userspace subtracts evictions) */
	STAT_ALLOCS_FULL,	/* allocs map full: allocation not recorded */
	STAT_NO_STASH,		/* per-thread storage unavailable: allocation not recorded */
	STAT_MISSED_RETURN,	/* an entry found a stale in-flight call (its return was not seen) */
	STAT_FDS_OPENED,	/* fds recorded */
	STAT_FDS_CLOSED,	/* recorded fds gone: close, close_range, dup2/dup3 onto, exec */
	STAT_FDS_FULL,		/* fds map full: fd not recorded */
	STAT_FDS_MISSED,	/* recorded fds found gone without their close seen (a reused
				 * number, or a report's check of /proc/PID/fdinfo) */
	STAT_FDS_PRIVATE,	/* fd syscall of a thread with its own fd table: not recorded */
	STAT_CALLS,		/* outermost allocator calls seen (sampled or not) */
	STAT_FREE_CALLS,	/* free calls seen (a recorded block or not) */
	STAT_AGG_FULL,		/* stack_agg map full: a stack's sum missed a change (the
				 * reports then sum the allocation records one by one) */
	STAT_RETURNS_SKIPPED,	/* session probes: calls whose return probe was not run (an
				 * unsampled call known not to nest, or a nested one) */
	STAT_LEAF_KEPT,		/* session probes: calls of that kind whose return ran, being
				 * sampled (what sampling every one out would skip too) */
	STAT__COUNT,
};

/* The stats map's key of counter id for the process counted in slot. */
#define STAT_KEY(slot, id)	((slot) * STAT__COUNT + (id))

/*
 * Why recording stopped (the BPF global `frozen`, 0 while recording). Set
 * once, by the first of: userspace before the final report (Ctrl-C, -d,
 * COUNT), the target's interpreter beginning to shut down (Py_FinalizeEx
 * with no other thread left), the target's last thread exiting, or an exec.
 * From then on every program returns at its first instruction, so the maps
 * hold the target's state at that instant and the final report shows it.
 */
enum freeze_reason {
	FREEZE_NONE = 0,
	FREEZE_DETACH = 1,	/* the tracer is ending: final report, then detach */
	FREEZE_SHUTDOWN = 2,	/* Py_FinalizeEx, the other threads gone */
	FREEZE_EXIT = 3,	/* the process exited without (or during) finalization */
	FREEZE_EXEC = 4,	/* the process exec'd: the traced image is gone */
	FREEZE_EXIT_IN_SHUTDOWN = 5,	/* exited after Py_FinalizeEx began with other
					 * threads running (daemon threads) */
};

/* How BPF finds the current thread's PyThreadState. */
enum tstate_mode {
	TSTATE_GLOBAL = 1,	/* 3.8-3.11: *(tstate_addr), _PyRuntime.gilstate.tstate_current */
	TSTATE_TLS_DTV = 2,	/* 3.12+ shared libpython: general-dynamic TLS through the DTV */
	TSTATE_TLS_FS = 3,	/* 3.12+ static executable: local-exec TLS at fs:tls_offset */
};

/* Walker configuration, filled from user/pyoffsets.c and user/python.c,
 * one per traced process (struct proc_cfg). Field names follow CPython's
 * struct.field. */
struct py_offsets {
	__u64 tstate_addr;		/* TSTATE_GLOBAL: absolute address of tstate_current */
	__s64 tls_offset;		/* TLS: offset in the module's block, or from fs base */
	__u32 tls_module;		/* TSTATE_TLS_DTV: module id (dtv index) */
	__u32 tstate_mode;		/* enum tstate_mode */
	__u32 tstate_thread_id;		/* PyThreadState.thread_id (pthread_t == fs base) */
	__u32 tstate_frame;		/* PyThreadState.frame (<=3.10) / cframe (3.11, 3.12) / current_frame (3.13) */
	__u32 cframe_current_frame;	/* _PyCFrame.current_frame (3.11, 3.12), else NO_OFFSET */
	__u32 frame_code;		/* PyFrameObject.f_code / _PyInterpreterFrame.f_code / f_executable */
	__u32 frame_previous;		/* PyFrameObject.f_back / _PyInterpreterFrame.previous */
	__u32 frame_pos;		/* f_lasti (int) / prev_instr / instr_ptr (pointer) */
	__u32 frame_owner;		/* _PyInterpreterFrame.owner (char), or NO_OFFSET */
	__u32 code_adaptive;		/* PyCodeObject.co_code_adaptive (3.11+), pos is a pointer */
	__u32 pos_is_ptr;		/* frame_pos holds a pointer into co_code_adaptive */
	__u32 owner_cstack;		/* owner value of C-stack shim frames (3.12+), else 0xff */
	/* The thread list, for threads that released the GIL. */
	__u64 interp_head;		/* &_PyRuntime.interpreters.head in the target */
	__u32 interp_threads_head;	/* PyInterpreterState.tstate_head / threads.head */
	__u32 tstate_next;		/* PyThreadState.next */
};
#define NO_OFFSET 0xffffffffu

/* proc_cfg.flags */
#define PROC_FOLLOW	1u	/* its forked children are traced too */
#define PROC_PYMALLOC	2u	/* its probed object/mem tables are pymalloc itself (no hooks) */

/*
 * One traced process: the value of the BPF map procs, keyed by its tgid
 * in the initial pid namespace (what BPF sees). Every program looks its
 * process up first: a process not in the map runs nothing else. Userspace
 * writes it when it starts tracing the process; BPF writes frozen,
 * frozen_ns and finalizing, and adds a followed child's entry at its fork
 * (a copy of the parent's: the same image at the same addresses).
 */
struct proc_cfg {
	struct py_offsets off;
	__u64 frozen_ns;	/* bpf_ktime_get_ns() when frozen was set */
	__u32 frozen;		/* enum freeze_reason: this process stopped being recorded */
	__u32 finalizing;	/* Py_FinalizeEx entered with other threads alive */
	__u32 slot;		/* its counters: stats[STAT_KEY(slot, id)]; 0 until assigned */
	__u32 flags;		/* PROC_* */
	__u64 sample_bytes;	/* mean bytes between sampled allocations (Poisson, per
				 * thread); 0: every allocation is recorded (exact) */
};

/* What the proc_events ring buffer tells userspace. */
enum proc_event_kind {
	PROC_EV_FORK = 1,	/* a followed process forked: child is traced from now */
	PROC_EV_EXEC = 2,	/* a process exec'd (a traced one, or any with -a) */
	PROC_EV_EXIT = 3,	/* a traced process's last thread exited */
};

struct lifecycle_event {
	__u32 kind;		/* enum proc_event_kind */
	__u32 pid;		/* the process (tgid) */
	__u32 parent;		/* PROC_EV_FORK: the traced parent */
	__u32 pad;
	__u64 ts_ns;
};

struct alloc_key {
	__u32 pid;
	__u32 pad;
	__u64 addr;
};

struct alloc_info {
	__u64 size;
	__u64 stack_id;
	__u64 ts_ns;		/* bpf_ktime_get_ns() at allocation */
	__u64 sample_bytes;	/* the process's proc_cfg.sample_bytes when it was sampled,
				 * 0 if exact: userspace scales it by 1 / (1 - exp(-size /
				 * sample_bytes)), its probability of being sampled */
};

/*
 * The sums of the exact (sample_bytes 0) outstanding allocations, by
 * process, stack and age epoch (ts_ns >> agg_shift): what a report reads
 * instead of every record (bpf/agg.bpf.h, user/agg.c). An epoch older than
 * the published fold boundary is summed under AGG_FOLDED(parity) instead,
 * and userspace moves the entries nothing writes any more into its own
 * per-stack bases. bytes and count are signed: a folded entry takes the
 * frees of allocations counted in an older one.
 */
struct agg_key {
	__u32 pid;
	__u32 pad;
	__u64 epoch;		/* ts_ns >> agg_shift, or AGG_FOLDED(parity) */
	__u64 stack_id;
};

struct agg_val {
	__s64 bytes;
	__s64 count;
};

/* agg_fold, the word userspace publishes: the lowest epoch still summed
 * under its own key, and in its top bit the folded entry's parity. */
#define AGG_FOLD_BEFORE(w)	((w) & ~(1ULL << 63))
#define AGG_FOLD_PARITY(w)	((w) >> 63)
#define AGG_FOLDED(parity)	(~0ULL - 1 + (parity))

/*
 * The stack store is a prefix tree of frames. A node is one frame under
 * its caller's node; its id is stack_node_id(parent, code, pos), so a
 * stack's id is its innermost frame's node id, computed from the
 * outermost frame in, and equal stacks get equal ids without a lookup.
 * pos is a byte offset into the code's bytecode, except 3.10 (code units,
 * f_lasti) and POS_NOT_STARTED.
 */
struct stack_node {
	__u64 parent;		/* the caller's node id, or STACK_ROOT(_TRUNCATED) */
	__u64 code;		/* PyCodeObject * in the target */
	__u32 pos;
	/* NODE_DEPTH_PID(depth, pid): frames from the outermost kept one (which
	 * is 1; at most MAX_FRAMES), and the process whose address space code is
	 * in (pid_max is at most 2^22). Packed: the node stays 24 bytes, and
	 * userspace's mirror of the store with it (its resident size). */
	__u32 depth_pid;
};
#define NODE_DEPTH_PID(depth, pid)	(((__u32)(pid) << 8) | ((depth) & 0xff))
#define NODE_PID(depth_pid)		((depth_pid) >> 8)

/* Announced on the new-node ring buffer when BPF adds a node. */
struct node_event {
	__u64 id;
	struct stack_node node;
};

/*
 * A node's id: MurmurHash3's fmix64 finalizer (a bijection) over the
 * parent's id xor the frame. The frame (code, pos) is packed injectively
 * for code below 2^47 (user space) and pos below 2^17: pos's low bits go
 * above the address, its rare high bits into the address's low 4, which
 * are 0 (code objects are 16-byte aligned). A collision then needs two
 * (parent, frame) pairs with equal xor: ~2^-64 for unrelated parents, and
 * it is still detected (STAT_STACK_COLLISIONS). One multiply-xorshift
 * round per frame: the walker chains it over every frame of every stack.
 * Ids 0 and 1 are the roots and special stacks, never a node's.
 */
static inline __u64 stack_node_id(__u64 parent, __u64 code, __u32 pos)
{
	__u64 h = parent ^ code ^ ((__u64)pos << 47) ^ (pos >> 17);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h <= STACK_ROOT_TRUNCATED ? h + 2 : h;
}

/* Where a stack's id chain starts: its root, mixed with the process. */
static inline __u64 stack_seed(__u32 pid, __u64 root)
{
	return root ^ ((__u64)pid << 32) ^ 0x9e3779b97f4a7c15ULL;
}

struct fd_key {
	__u32 pid;
	__s32 fd;
};

struct fd_info {
	__u64 stack_id;
	__u64 ts_ns;		/* bpf_ktime_get_ns() when the syscall returned */
	__u64 file;		/* the struct file * it names: identity, never dereferenced */
	__u64 ino;		/* file_inode(file)->i_ino, as /proc/PID/fdinfo shows it */
	__u32 syscall;		/* enum fd_syscall that created it */
	__u32 pad;
};

/* x86-64 numbers (arch/x86/entry/syscalls/syscall_64.tbl) of the syscalls
 * the fd programs handle; user/fds.c asserts them against <sys/syscall.h>. */
enum fd_syscall {
	FDSYS_OPEN = 2, FDSYS_CLOSE = 3, FDSYS_PIPE = 22, FDSYS_DUP = 32, FDSYS_DUP2 = 33,
	FDSYS_SOCKET = 41, FDSYS_ACCEPT = 43, FDSYS_RECVMSG = 47, FDSYS_SOCKETPAIR = 53,
	FDSYS_FCNTL = 72, FDSYS_CREAT = 85, FDSYS_EPOLL_CREATE = 213, FDSYS_MQ_OPEN = 240,
	FDSYS_INOTIFY_INIT = 253, FDSYS_OPENAT = 257, FDSYS_SIGNALFD = 282,
	FDSYS_TIMERFD_CREATE = 283, FDSYS_EVENTFD = 284, FDSYS_ACCEPT4 = 288,
	FDSYS_SIGNALFD4 = 289, FDSYS_EVENTFD2 = 290, FDSYS_EPOLL_CREATE1 = 291, FDSYS_DUP3 = 292,
	FDSYS_PIPE2 = 293, FDSYS_INOTIFY_INIT1 = 294, FDSYS_PERF_EVENT_OPEN = 298,
	FDSYS_FANOTIFY_INIT = 300, FDSYS_OPEN_BY_HANDLE_AT = 304, FDSYS_MEMFD_CREATE = 319,
	FDSYS_USERFAULTFD = 323, FDSYS_IO_URING_SETUP = 425, FDSYS_OPEN_TREE = 428,
	FDSYS_FSOPEN = 430, FDSYS_FSMOUNT = 432, FDSYS_FSPICK = 433, FDSYS_PIDFD_OPEN = 434,
	FDSYS_CLOSE_RANGE = 436, FDSYS_OPENAT2 = 437, FDSYS_PIDFD_GETFD = 438,
	FDSYS_MEMFD_SECRET = 447,
};

_Static_assert(sizeof(struct py_offsets) == 80, "py_offsets layout");
_Static_assert(sizeof(struct alloc_key) == 16, "alloc_key layout");
_Static_assert(sizeof(struct alloc_info) == 32, "alloc_info layout");
_Static_assert(sizeof(struct stack_node) == 24, "stack_node layout");
_Static_assert(sizeof(struct agg_key) == 24, "agg_key layout");
_Static_assert(sizeof(struct agg_val) == 16, "agg_val layout");
_Static_assert(sizeof(struct node_event) == 32, "node_event layout");
_Static_assert(MAX_FRAMES <= 0xff, "depth fits NODE_DEPTH_PID");
_Static_assert(sizeof(struct proc_cfg) == 112, "proc_cfg layout");
_Static_assert(sizeof(struct lifecycle_event) == 24, "lifecycle_event layout");
_Static_assert(sizeof(struct fd_key) == 8, "fd_key layout");
_Static_assert(sizeof(struct fd_info) == 40, "fd_info layout");

#endif /* __PYLEAK_H */
