/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The record bpf/hostpid.bpf.c writes and user/hostpid.c reads: which
 * host (initial pid namespace) ids a task has, and the id the reader's own
 * pid namespace gives it. Apart from pyleak.h: a separate BPF object,
 * loaded, read once and closed before the tracer's own object is opened,
 * sharing nothing with it.
 */
#ifndef __HOSTPID_REC_H
#define __HOSTPID_REC_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct hostpid_rec {
	__u32 vtid;	/* the task's id in the reader's pid namespace */
	__u32 tgid;	/* its process, in the initial pid namespace: what BPF sees */
	__u32 tid;	/* the task itself, in the initial pid namespace */
	__u32 pad;
};
_Static_assert(sizeof(struct hostpid_rec) == 16, "hostpid_rec layout");

#endif /* __HOSTPID_REC_H */
