// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Which host tgid a pid of the tracer's own pid namespace names.
 *
 * BPF sees tasks by their ids in the initial pid namespace
 * (bpf_get_current_pid_tgid(), task->tgid), while a tracer run inside a
 * container's pid namespace (a sidecar, `nsenter -p`) is given, and finds
 * in its /proc, the namespace's ids; nothing in that /proc names the host
 * id. A task iterator can: user/hostpid.c attaches this program with
 * bpf_iter_link_info.task.tid set to the namespace's id (the kernel looks
 * it up in the pid namespace of whoever creates the iterator, since 6.1)
 * and reads one record per task visited.
 *
 * Kernels before 6.1 ignore the filter and visit every task: so the
 * program itself writes only tasks that the reader's pid namespace can
 * see, with their id there (vtid), and userspace keeps the record whose
 * vtid is the pid it was given. The reader is the task running the
 * program: read() on the iterator runs it in the reader's context.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "hostpid_rec.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* include/linux/pid_namespace.h: MAX_PID_NS_LEVEL (the same since 3.8). */
#define MAX_LEVEL 32

SEC("iter/task")
int hostpid_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task, *me;
	struct hostpid_rec rec = {};
	struct pid_namespace *ns;
	struct pid *p;
	unsigned int level;

	if (!task)
		return 0;
	/* The reader's pid namespace: struct pid's numbers[level] is the id
	 * in the namespace the pid was made in (task_active_pid_ns()). */
	me = bpf_get_current_task_btf();
	p = BPF_CORE_READ(me, thread_pid);
	level = BPF_CORE_READ(p, level);
	if (level > MAX_LEVEL)
		return 0;
	ns = BPF_CORE_READ(p, numbers[level].ns);
	/* The task's id at that level, if it lives in that namespace or below. */
	p = BPF_CORE_READ(task, thread_pid);
	if (!p || BPF_CORE_READ(p, level) < level)
		return 0;
	if (BPF_CORE_READ(p, numbers[level].ns) != ns)
		return 0;
	rec.vtid = BPF_CORE_READ(p, numbers[level].nr);
	rec.tgid = BPF_CORE_READ(task, tgid);
	rec.tid = BPF_CORE_READ(task, pid);
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}
