/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which capabilities the tracer runs with, against what it needs. Root is
 * not required; measured as uid 0 with a reduced bounding set, and as uid
 * 65534 with ambient capabilities, on Linux 6.18 (README, "Deploying",
 * says what each deployment grants):
 *
 *   CAP_BPF, CAP_PERFMON    load the programs and maps, attach uprobes
 *                           (uprobe_multi links), tracepoints and the task
 *                           iterator; CAP_SYS_ADMIN stands in for both
 *   CAP_SYS_PTRACE          another process's /proc/PID/exe, maps, memory
 *                           (process_vm_readv) and pidfd
 *   CAP_DAC_READ_SEARCH     a target of another user: its /proc/PID/map_files
 *                           (mode 0500, its owner's) and interpreters under
 *                           directories closed to us (a 0700 home)
 *   CAP_CHECKPOINT_RESTORE  /proc/PID/map_files links: an interpreter deleted
 *                           or replaced on disk since the target started
 *   CAP_SYS_ADMIN           only where the kernel has no uprobe_multi links
 *                           (before 6.6): uprobe perf events need it; and to
 *                           mount a private tracefs when none is mounted
 *                           (else fds are seen through the raw sys_exit
 *                           tracepoint)
 *
 * CAP_SYS_RESOURCE is not needed: BPF memory is charged to the memory
 * cgroup since 5.11, RLIMIT_MEMLOCK is not consulted.
 */
#ifndef __CAPS_H
#define __CAPS_H

/* 0 when the required ones are there (the rest are said with -v), else
 * -EPERM after one line naming what is missing. */
int caps__check(void);

#endif /* __CAPS_H */
