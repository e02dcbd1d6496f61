/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Pids of the tracer's own pid namespace -> the host's (the initial pid
 * namespace's), which is how BPF sees every task.
 *
 * A tracer run inside a container's pid namespace (a sidecar with
 * shareProcessNamespace, `nsenter -t PID -p -m`) is given the namespace's
 * pid and reads /proc, process_vm_readv, pidfd_open, perf_event_open and
 * uprobe_multi's pid filter with it: all of those take the caller's
 * namespace's ids. BPF compares bpf_get_current_pid_tgid() >> 32 and
 * task->tgid, the host's ids: every place a pid is handed to BPF takes
 * hostpid__resolve()'s answer instead.
 */
#ifndef __HOSTPID_H
#define __HOSTPID_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Whether the caller runs in the initial pid namespace (/proc/self/ns/pid
 * is PROC_PID_INIT_INO). */
bool hostpid__initial_ns(void);

/*
 * The host tgid of the process that vpid (a process's or a thread's id in
 * the caller's pid namespace) names. In the initial namespace that is vpid
 * itself and nothing is loaded; elsewhere a BPF task iterator
 * (bpf/hostpid.bpf.c, loaded once and kept) finds it. Also checks that /proc is
 * the caller's namespace's (else its pids name other processes).
 * 0, or -errno with err saying why: -ESRCH no such task in this namespace.
 */
int hostpid__resolve(pid_t vpid, pid_t *host_tgid, char *err, size_t errlen);

/*
 * The other way: the id in the caller's pid namespace of the process that
 * is host_tgid on the host (what BPF's fork and exec events name). The same
 * number in the initial namespace; elsewhere every task is visited (about
 * 1 ms on a host of a few thousand). -ESRCH when the caller's namespace
 * cannot see it (a process of the host or of another container).
 */
int hostpid__to_ns(pid_t host_tgid, pid_t *vpid);

#endif /* __HOSTPID_H */
