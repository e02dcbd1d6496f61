// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `-- CMD`: stop the launched process at each exec and at the gates
 * userspace arms (the executable's entry point, the first bytecode), so
 * that the allocator probes are in place before the program's own code
 * runs. Separate from pyleak.bpf.c, whose configuration is only known once
 * the interpreter has started.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define SIGSTOP 19

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u32 gate_tgid = 0;	/* set by userspace after fork */

SEC("tp_btf/sched_process_exec")
int exec_gate(void *ctx)
{
	if (gate_tgid && bpf_get_current_pid_tgid() >> 32 == gate_tgid)
		bpf_send_signal(SIGSTOP);
	return 0;
}

SEC("uprobe")
int stop_gate(void *ctx)
{
	if (gate_tgid && bpf_get_current_pid_tgid() >> 32 == gate_tgid)
		bpf_send_signal(SIGSTOP);
	return 0;
}
