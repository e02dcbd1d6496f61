/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fd tracking: every fd the target creates, keyed by (pid, fd), with the
 * Python stack that created it, and every way it goes away.
 *
 * Mechanism. Any syscall tracepoint in use puts every task of the system
 * on the syscall slow path; what differs is what then runs for the
 * syscalls of other processes:
 *  - per-syscall events (syscalls:sys_exit_<name>, through perf): for a
 *    syscall nobody asked for, one bitmap test; fd_syscall_exit runs only
 *    for the ~40 syscalls below, and returns at the tgid compare;
 *  - the raw sys_exit tracepoint (tp_btf): fd_sys_exit runs for every
 *    syscall of every process.
 *    Measured here (bench/fd_bench.py: another process's loop, CPU time,
 *    while pyleak-bpf --fds-only traces an idle one): os.getppid() +12%
 *    with the per-syscall events, +21% with tp_btf; a loop of fd
 *    syscalls +4% and +7%; the traced program itself 1.35x and 1.44x.
 *    So the per-syscall events are the default. Their ids live in
 *    tracefs; where it is not mounted, user/fds.c mounts it in a private
 *    mount namespace of a short-lived child, so the system sees no change.
 *    Where even that is refused (a container without CAP_SYS_ADMIN),
 *    fd_sys_exit is the fallback: tp_btf needs no tracefs.
 *  - Exit only, no enter: every decision can be taken at exit (the
 *    arguments are still in the saved user registers, the Python stack
 *    has not moved), so a syscall is one event, not two, and a failed one
 *    is dropped at once.
 *  - Closes are not inferred from flags: each close, close_range and exec
 *    is checked against the process's fd table (the struct file at that
 *    number is still the one recorded, or it is gone), which gives the
 *    semantics of CLOSE_RANGE_CLOEXEC, CLOSE_RANGE_UNSHARE and O_CLOEXEC at
 *    exec exactly, and makes a close that races a reuse harmless.
 */
#ifndef __FD_BPF_H
#define __FD_BPF_H

#include "pyleak.h"

#define MAX_CMSGS	16	/* control messages looked at per recvmsg */
#define SCM_MAX_FD	253	/* fds per SCM_RIGHTS message, include/net/scm.h */
#define SOL_SOCKET	1
#define SCM_RIGHTS	1
#define F_DUPFD		0
#define F_DUPFD_CLOEXEC	1030

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);	/* --max-fds */
	__type(key, struct fd_key);
	__type(value, struct fd_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} fds SEC(".maps");

static __noinline __u64 fd_stack_id(__u32 pid)
{
	const struct proc_cfg *p = bpf_map_lookup_elem(&procs, &pid);

	return p ? python_stack_id(p, pid) : STACK_NONE;
}

/* An fd table as BPF reads it. */
struct fdt_view {
	__u64 arr;	/* struct file ** */
	__u32 max;
};

static __always_inline int fdt_read(struct files_struct *files, struct fdt_view *v)
{
	struct fdtable *fdt;

	if (!files)
		return -1;
	fdt = BPF_CORE_READ(files, fdt);
	if (!fdt)
		return -1;
	v->max = BPF_CORE_READ(fdt, max_fds);
	v->arr = (__u64)BPF_CORE_READ(fdt, fd);
	return 0;
}

/* The process's table is the group leader's, the one /proc/PID/fd shows; a
 * thread that unshared its own (CLOSE_RANGE_UNSHARE, unshare(CLONE_FILES))
 * closes and opens elsewhere. */
static __always_inline int proc_fdt(struct fdt_view *v)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files = BPF_CORE_READ(task, group_leader, files);

	if (!files)	/* the leader has exited: its table went with it */
		files = BPF_CORE_READ(task, files);
	return fdt_read(files, v);
}

static __always_inline __u64 fdt_file(const struct fdt_view *v, __s32 fd)
{
	__u64 f = 0;

	if (fd < 0 || (__u32)fd >= v->max)
		return 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), (void *)(v->arr + 8 * (__u64)fd)))
		return 0;
	return f;
}

/* One syscall's records share one stack walk. */
struct rec_ctx {
	__u64 stack_id;
	__u32 nr;
	__u32 walked;
	__u32 pid, slot;	/* the traced process */
};

/* fd was just created by this thread's syscall rc->nr: record it. */
static __noinline int fd_record(__s32 fd, struct rec_ctx *rc)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files = BPF_CORE_READ(task, files);
	struct files_struct *leader = BPF_CORE_READ(task, group_leader, files);
	struct fd_key key = { .pid = rc->pid, .fd = fd };
	struct fd_info info = {}, *old;
	struct fdt_view v;
	struct file *file;

	if (leader && leader != files) {
		stat_inc(rc->slot, STAT_FDS_PRIVATE);
		return 0;
	}
	if (fdt_read(files, &v))
		return 0;
	info.file = fdt_file(&v, fd);
	if (!info.file)		/* closed again by another thread already */
		return 0;
	old = bpf_map_lookup_elem(&fds, &key);
	if (old) {
		/* dup2(fd, fd), signalfd(fd, ...): the same open fd, keep its origin */
		if (old->file == info.file)
			return 0;
		/* dup2/dup3 onto an open fd close it; any other reuse means
		 * its close went unseen */
		stat_inc(rc->slot, rc->nr == FDSYS_DUP2 || rc->nr == FDSYS_DUP3 ?
			 STAT_FDS_CLOSED : STAT_FDS_MISSED);
	}
	if (!rc->walked) {
		rc->stack_id = fd_stack_id(rc->pid);
		rc->walked = 1;
	}
	info.stack_id = rc->stack_id;
	info.ts_ns = bpf_ktime_get_ns();
	file = (struct file *)info.file;
	info.ino = BPF_CORE_READ(file, f_inode, i_ino);
	info.syscall = rc->nr;
	if (bpf_map_update_elem(&fds, &key, &info, BPF_ANY))
		stat_inc(rc->slot, STAT_FDS_FULL);
	else
		stat_inc(rc->slot, STAT_FDS_OPENED);
	return 0;
}

/* close(fd), whatever it returned: Linux frees the number even on EINTR/EIO. */
static __always_inline void fd_check(__s32 fd, const struct rec_ctx *rc)
{
	struct fd_key key = { .pid = rc->pid, .fd = fd };
	struct fd_info *info = bpf_map_lookup_elem(&fds, &key);
	struct fdt_view v;

	if (!info || proc_fdt(&v))
		return;
	/* Another thread may have reused the number: its record stands. */
	if (fdt_file(&v, fd) != info->file && !bpf_map_delete_elem(&fds, &key))
		stat_inc(rc->slot, STAT_FDS_CLOSED);
}

struct range_ctx {
	struct fdt_view v;
	__u32 first, last;
	__u32 pid, slot;
};

static long range_step(struct bpf_map *map, struct fd_key *key, struct fd_info *info,
		       struct range_ctx *c)
{
	if (key->pid != c->pid || (__u32)key->fd < c->first || (__u32)key->fd > c->last)
		return 0;
	if (fdt_file(&c->v, key->fd) != info->file && !bpf_map_delete_elem(map, key))
		stat_inc(c->slot, STAT_FDS_CLOSED);
	return 0;
}

/* Drop the records in [first, last] whose file is no longer in the
 * process's table. Walks the map, not the range: close_range(3, ~0U) is
 * the usual call. */
static __always_inline void fd_check_range(__u32 first, __u32 last, __u32 pid, __u32 slot)
{
	struct range_ctx c = { .first = first, .last = last, .pid = pid, .slot = slot };

	if (!proc_fdt(&c.v))
		bpf_for_each_map_elem(&fds, range_step, &c, 0);
}

static __always_inline void fd_record_pair(__u64 uaddr, struct rec_ctx *rc)
{
	__s32 pair[2];

	if (bpf_probe_read_user(pair, sizeof(pair), (void *)uaddr)) {
		stat_inc(rc->slot, STAT_READ_FAILED);
		return;
	}
	fd_record(pair[0], rc);
	fd_record(pair[1], rc);
}

/* recvmsg: fds passed with SCM_RIGHTS, in the control data the kernel
 * just wrote (msg_controllen now says how much). */
struct scm_ctx {
	struct rec_ctx rc;
	__u64 cmsg;	/* next struct cmsghdr in the target */
	__u64 end;
	__u64 data;	/* the current SCM_RIGHTS message's int array */
	__u32 nfds;
};

struct cmsg_head {	/* struct cmsghdr, LP64 */
	__u64 len;
	__s32 level;
	__s32 type;
};

static long scm_fd_step(__u32 i, struct scm_ctx *c)
{
	__s32 fd;

	if (i >= c->nfds)
		return 1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(c->data + 4 * (__u64)i))) {
		stat_inc(c->rc.slot, STAT_READ_FAILED);
		return 1;
	}
	fd_record(fd, &c->rc);
	return 0;
}

static long scm_cmsg_step(__u32 i, struct scm_ctx *c)
{
	struct cmsg_head h;

	if (c->cmsg + sizeof(h) > c->end)
		return 1;
	if (bpf_probe_read_user(&h, sizeof(h), (void *)c->cmsg)) {
		stat_inc(c->rc.slot, STAT_READ_FAILED);
		return 1;
	}
	if (h.len < sizeof(h) || h.len > c->end - c->cmsg)
		return 1;
	if (h.level == SOL_SOCKET && h.type == SCM_RIGHTS) {
		c->data = c->cmsg + sizeof(h);
		c->nfds = (h.len - sizeof(h)) / 4;
		bpf_loop(SCM_MAX_FD, scm_fd_step, c, 0);
	}
	c->cmsg += (h.len + 7) & ~7ULL;		/* CMSG_ALIGN */
	return 0;
}

static __always_inline void fd_record_scm(__u64 msg, struct rec_ctx *rc)
{
	struct scm_ctx c = { .rc = *rc };
	__u64 ctl[2];	/* struct user_msghdr: msg_control at 32, msg_controllen at 40 */

	if (bpf_probe_read_user(ctl, sizeof(ctl), (void *)(msg + 32))) {
		stat_inc(rc->slot, STAT_READ_FAILED);
		return;
	}
	if (!ctl[0] || ctl[1] < sizeof(struct cmsg_head))
		return;
	c.cmsg = ctl[0];
	c.end = ctl[0] + ctl[1];
	bpf_loop(MAX_CMSGS, scm_cmsg_step, &c, 0);
}

/* One of the target's syscalls returned ret; x86-64 keeps its arguments
 * in the saved user registers through the exit. */
static __always_inline int fd_exit(struct pt_regs *regs, __u64 nr, long ret, __u32 pid, __u32 slot)
{
	struct rec_ctx rc = { .nr = nr, .pid = pid, .slot = slot };

	switch (nr) {
	case FDSYS_CLOSE:
		fd_check(BPF_CORE_READ(regs, di), &rc);
		return 0;
	case FDSYS_CLOSE_RANGE:
		if (ret == 0)
			fd_check_range(BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si), pid, slot);
		return 0;
	case FDSYS_PIPE:
	case FDSYS_PIPE2:
		if (ret == 0)
			fd_record_pair(BPF_CORE_READ(regs, di), &rc);
		return 0;
	case FDSYS_SOCKETPAIR:
		if (ret == 0)
			fd_record_pair(BPF_CORE_READ(regs, r10), &rc);
		return 0;
	case FDSYS_RECVMSG:
		if (ret >= 0)
			fd_record_scm(BPF_CORE_READ(regs, si), &rc);
		return 0;
	case FDSYS_FCNTL: {
		__u32 cmd = BPF_CORE_READ(regs, si);

		if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
			return 0;
		break;
	}
	case FDSYS_OPEN: case FDSYS_CREAT: case FDSYS_OPENAT: case FDSYS_OPENAT2:
	case FDSYS_OPEN_BY_HANDLE_AT: case FDSYS_SOCKET: case FDSYS_ACCEPT: case FDSYS_ACCEPT4:
	case FDSYS_DUP: case FDSYS_DUP2: case FDSYS_DUP3: case FDSYS_EVENTFD: case FDSYS_EVENTFD2:
	case FDSYS_EPOLL_CREATE: case FDSYS_EPOLL_CREATE1: case FDSYS_TIMERFD_CREATE:
	case FDSYS_SIGNALFD: case FDSYS_SIGNALFD4: case FDSYS_INOTIFY_INIT:
	case FDSYS_INOTIFY_INIT1: case FDSYS_FANOTIFY_INIT: case FDSYS_MEMFD_CREATE:
	case FDSYS_MEMFD_SECRET: case FDSYS_PIDFD_OPEN: case FDSYS_PIDFD_GETFD:
	case FDSYS_PERF_EVENT_OPEN: case FDSYS_USERFAULTFD: case FDSYS_IO_URING_SETUP:
	case FDSYS_MQ_OPEN: case FDSYS_OPEN_TREE: case FDSYS_FSOPEN: case FDSYS_FSMOUNT:
	case FDSYS_FSPICK:
		break;
	default:
		return 0;
	}
	if (ret >= 0)
		fd_record(ret, &rc);
	return 0;
}

/* Attached by userspace to the sys_exit_<name> event of each syscall that
 * fd_exit() handles (user/fds.c); the record is struct syscall_trace_exit. */
SEC("tracepoint")
int fd_syscall_exit(struct syscall_trace_exit *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	const struct proc_cfg *p;
	struct pt_regs *regs;

	/* frozen: the final report is being taken, or the process is gone
	 * (its pid may belong to another process by now). Releasing the
	 * per-syscall events takes a while; the target pays nothing meanwhile. */
	if (frozen || !(p = traced(pid)))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return fd_exit(regs, ctx->nr, ctx->ret, pid, p->slot);
}

/* The fallback without tracefs: every syscall of every process. */
SEC("tp_btf/sys_exit")
int BPF_PROG(fd_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	const struct proc_cfg *p;

	if (frozen || !(p = traced(pid)))
		return 0;
	return fd_exit(regs, BPF_CORE_READ(regs, orig_ax), ret, pid, p->slot);
}

#endif /* __FD_BPF_H */
