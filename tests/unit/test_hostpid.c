// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/hostpid.c and bpf/hostpid.bpf.c: a pid of the caller's pid
 * namespace -> the host tgid BPF sees. Run in a real pid namespace: a
 * child unshares one (and a mount namespace), its first child is pid 1
 * there and mounts the namespace's own /proc, and what it finds is
 * compared with the pid fork() gave its parent on the host. Needs root and
 * BPF: this machine has both, so a failure is a failure, not a skip.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "hostpid.h"
#include "hostpid_rec.h"
#include "hostpid.skel.h"
#include "procinfo.h"

static void test_initial_ns(void **state)
{
	char err[256] = "";
	pid_t host = 0;

	/* Given the tracer on the host, its pids are BPF's: nothing to load. */
	assert_true(hostpid__initial_ns());
	assert_int_equal(hostpid__resolve(getpid(), &host, err, sizeof(err)), 0);
	assert_int_equal(host, getpid());
}

/* What pid 1 of the new namespace found, sent to its parent on the host. */
struct findings {
	int initial_ns;			/* hostpid__initial_ns() there */
	int wrong_proc;			/* resolve() with the host's /proc still mounted */
	int self, self_host;		/* resolve(getpid()) and its answer */
	int thread, thread_host;	/* resolve(a thread's id): its process */
	int missing;			/* resolve(a pid nobody has) */
	int ns_pid;			/* procinfo__read(1).ns_pid */
	/* the iterator without a filter (what kernels before 6.1 do): */
	int unfiltered, records, self_records;
	char why[200];
};

static void *sleeper(void *arg)
{
	int *tid = arg;

	*tid = (int)syscall(SYS_gettid);
	pause();
	return NULL;
}

/* Every task the unfiltered iterator shows this namespace's reader. */
static void unfiltered(struct findings *f, pid_t host_self)
{
	struct hostpid_bpf *skel = hostpid_bpf__open_and_load();
	struct hostpid_rec rec;
	struct bpf_link *link;
	int ifd;

	f->unfiltered = -1;
	if (!skel)
		return;
	link = bpf_program__attach_iter(skel->progs.hostpid_task, NULL);
	ifd = link ? bpf_iter_create(bpf_link__fd(link)) : -1;
	if (ifd >= 0) {
		f->unfiltered = 0;
		while (read(ifd, &rec, sizeof(rec)) == sizeof(rec)) {
			f->records++;
			if (rec.tgid == (unsigned)host_self)
				f->self_records++;
		}
		close(ifd);
	}
	bpf_link__destroy(link);
	hostpid_bpf__destroy(skel);
}

static void pid1(int wfd)
{
	struct findings f = {};
	struct procinfo pi;
	pthread_t th;
	pid_t host = 0;
	int tid = 0;

	f.initial_ns = hostpid__initial_ns();
	/* the host's /proc names other processes by these numbers */
	f.wrong_proc = hostpid__resolve(getpid(), &host, f.why, sizeof(f.why));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		snprintf(f.why, sizeof(f.why), "mount proc: %s", strerror(errno));
		goto out;
	}
	f.self = hostpid__resolve(getpid(), &host, f.why, sizeof(f.why));
	f.self_host = host;
	pthread_create(&th, NULL, sleeper, &tid);
	while (!__atomic_load_n(&tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	host = 0;
	f.thread = hostpid__resolve(tid, &host, f.why, sizeof(f.why));
	f.thread_host = host;
	f.missing = hostpid__resolve(4000000, &host, f.why, sizeof(f.why));
	if (!procinfo__read(1, &pi))
		f.ns_pid = pi.ns_pid;
	unfiltered(&f, f.self_host);
out:
	if (write(wfd, &f, sizeof(f)) != sizeof(f))
		_exit(2);
	_exit(0);
}

static void test_child_ns(void **state)
{
	struct findings f;
	int fds[2], pfd[2], status;
	pid_t mid, host_of_pid1 = 0;
	struct procinfo pi;

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(pipe(pfd), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (!mid) {
		pid_t k;

		/* Given a new pid and mount namespace, its first child is its pid 1. */
		if (unshare(CLONE_NEWPID | CLONE_NEWNS))
			_exit(3);
		k = fork();
		if (k < 0)
			_exit(4);
		if (!k)
			pid1(fds[1]);
		/* the host's view of pid 1, then keep it until the parent has looked */
		if (write(pfd[1], &k, sizeof(k)) != sizeof(k))
			_exit(5);
		waitpid(k, &status, 0);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 6);
	}
	close(fds[1]);
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &host_of_pid1, sizeof(host_of_pid1)), sizeof(host_of_pid1));
	/* ns_pid as the host's procinfo reads it, while pid 1 lives */
	memset(&pi, 0, sizeof(pi));
	procinfo__read(host_of_pid1, &pi);
	assert_int_equal(read(fds[0], &f, sizeof(f)), sizeof(f));
	assert_int_equal(waitpid(mid, &status, 0), mid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_false(f.initial_ns);
	/* When /proc is still the host's, then the pids would name other processes: refused. */
	assert_int_equal(f.wrong_proc, -EXDEV);
	/* When pid 1 asks for itself, then it gets the pid the host gave it. */
	if (f.self)
		fail_msg("resolve(1) in the namespace: %d (%s)", f.self, f.why);
	assert_int_equal(f.self_host, host_of_pid1);
	/* A thread's id names its process. */
	assert_int_equal(f.thread, 0);
	assert_int_equal(f.thread_host, host_of_pid1);
	assert_int_equal(f.missing, -ESRCH);
	/* The labels: the namespace's pid from inside and from the host. */
	assert_int_equal(f.ns_pid, 1);
	assert_int_equal(pi.ns_pid, 1);
	/* Without the kernel's filter, only tasks of this namespace are written:
	 * pid 1's two threads (its parent stayed on the host), nothing else. */
	assert_int_equal(f.unfiltered, 0);
	assert_int_equal(f.self_records, 2);
	assert_int_equal(f.records, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initial_ns),
		cmocka_unit_test(test_child_ns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
