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
 * (bpf/hostpid.bpf.c) finds it, in about 10 ms. Also checks that /proc is
 * the caller's namespace's (else its pids name other processes).
 * 0, or -errno with err saying why: -ESRCH no such task in this namespace.
 */
int hostpid__resolve(pid_t vpid, pid_t *host_tgid, char *err, size_t errlen);

#endif /* __HOSTPID_H */
