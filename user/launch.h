/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `-- CMD`: start the command held at its first Python bytecode. */
#ifndef __LAUNCH_H
#define __LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "probe.h"

struct gate_bpf;
struct bpf_link;

struct launch {
	pid_t pid;
	bool pythonmalloc;	/* started with PYTHONMALLOC=malloc */
	bool exited;		/* reaped */
	int go_fd;		/* releases the held child */
	int err_fd;		/* the child's exec errno, if exec failed */
	struct gate_bpf *gate;
	struct bpf_link *exec_link;
	struct probes gates;
};

/* Fork argv, held before exec. PYTHONMALLOC=malloc is set unless
 * keep_allocator, PYTHONMALLOC is already set, or the interpreter is
 * known not to inline pymalloc. */
int launch__fork(struct launch *l, char **argv, bool keep_allocator, char *err, size_t errlen);
/*
 * Let it run until it is CPython about to run its first bytecode; it is
 * left stopped. The wait ends early, with the command still to be
 * ended by launch__finish(), when sfd (a signalfd, -1 for none) is
 * readable: -EINTR; or at deadline (CLOCK_MONOTONIC seconds, 0 for
 * none): -ETIME. -ENOTSUP: it became a CPython this tool does not
 * support (err says which).
 */
int launch__run_to_python(struct launch *l, int sfd, double deadline, char *err, size_t errlen);
void launch__resume(struct launch *l);
/* Wait for it to end (terminating it first if asked, with whatever it
 * started that still runs: a wrapper's children); its wait status. */
int launch__finish(struct launch *l, bool terminate);
void launch__destroy(struct launch *l);

#endif /* __LAUNCH_H */
