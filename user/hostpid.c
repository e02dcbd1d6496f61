// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "hostpid.h"
#include "hostpid_rec.h"
#include "hostpid.skel.h"
#include "log.h"

/* include/linux/proc_ns.h: the initial pid namespace's inode number, a
 * constant since 3.8. */
#define PROC_PID_INIT_INO 0xEFFFFFFCU

bool hostpid__initial_ns(void)
{
	struct stat st;

	/* No /proc: nothing else would work either; assume the host. */
	return stat("/proc/self/ns/pid", &st) || st.st_ino == PROC_PID_INIT_INO;
}

/* /proc must be the caller's pid namespace's: a procfs of another one
 * names other processes by these numbers (nsenter -p without -m keeps the
 * host's /proc). It shows the caller as itself (/proc/self) only then. */
static int check_proc(char *err, size_t errlen)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);

	if (n > 0) {
		buf[n] = '\0';
		if (atoi(buf) == getpid())
			return 0;
	}
	snprintf(err, errlen, "/proc belongs to another pid namespace (it shows this process "
		 "as %s, this namespace as %d): mount the namespace's own proc (nsenter -m into "
		 "the target's mount namespace, or unshare --mount-proc)",
		 n > 0 ? buf : "absent", getpid());
	return -EXDEV;
}

/*
 * The iterator program, loaded on first use and kept: forks and execs are
 * translated one by one while tracing (hostpid__to_ns). Used from the
 * tracer's main thread only.
 */
static struct hostpid_bpf *skel;

static int load(char *err, size_t errlen)
{
	int ret;

	if (skel)
		return 0;
	skel = hostpid_bpf__open_and_load();
	if (skel)
		return 0;
	ret = -errno;
	snprintf(err, errlen, "cannot load the BPF task iterator that finds the host's pid: %s",
		 strerror(-ret));
	return ret;
}

/* Which record is wanted, and what was found. */
struct want {
	pid_t vtid;		/* by the reader's namespace's id, or 0 */
	pid_t host;		/* by the host's (the process's leader), or 0 */
	pid_t found;
	int seen;
};

static bool matches(struct want *w, const struct hostpid_rec *r)
{
	if (w->vtid) {
		if ((pid_t)r->vtid != w->vtid)
			return false;
		w->found = (pid_t)r->tgid;
		return true;
	}
	if ((pid_t)r->tgid != w->host || (pid_t)r->tid != w->host)
		return false;
	w->found = (pid_t)r->vtid;
	return true;
}

/* Run the iterator (over tid's task alone, in the caller's namespace, if
 * tid; else every task) and look for w. 0, -ESRCH or -errno. */
static int iterate(pid_t tid, struct want *w, char *err, size_t errlen)
{
	union bpf_iter_link_info linfo;
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &linfo,
		    .link_info_len = sizeof(linfo));
	struct hostpid_rec recs[64];
	struct bpf_link *link;
	int ifd, ret = -ESRCH;
	ssize_t n;

	ret = load(err, errlen);
	if (ret)
		return ret;
	/* 6.1+ visits only tid's task; older kernels ignore the filter and
	 * visit every one, and the program says which one is tid */
	memset(&linfo, 0, sizeof(linfo));
	linfo.task.tid = tid;
	link = bpf_program__attach_iter(skel->progs.hostpid_task, tid ? &opts : NULL);
	if (!link) {
		ret = -errno;
		snprintf(err, errlen, "cannot attach the BPF task iterator that finds the host's "
			 "pid: %s", strerror(-ret));
		return ret;
	}
	ifd = bpf_iter_create(bpf_link__fd(link));
	if (ifd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot start the BPF task iterator that finds the host's "
			 "pid: %s", strerror(-ret));
		bpf_link__destroy(link);
		return ret;
	}
	ret = -ESRCH;
	w->seen = 0;
	while ((n = read(ifd, recs, sizeof(recs))) > 0) {
		size_t i, k = (size_t)n / sizeof(recs[0]);

		for (i = 0; i < k; i++, w->seen++)
			if (ret && matches(w, &recs[i]))
				ret = 0;
	}
	if (n < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot read the BPF task iterator that finds the host's "
			 "pid: %s", strerror(-ret));
	} else if (ret) {
		snprintf(err, errlen, "no such process in this pid namespace");
	}
	close(ifd);
	bpf_link__destroy(link);
	return ret;
}

int hostpid__resolve(pid_t vpid, pid_t *host_tgid, char *err, size_t errlen)
{
	struct want w = { .vtid = vpid };
	int ret;

	ret = check_proc(err, errlen);
	if (ret)
		return ret;
	if (hostpid__initial_ns()) {
		*host_tgid = vpid;
		return 0;
	}
	if (vpid <= 0) {
		snprintf(err, errlen, "no such process in this pid namespace");
		return -ESRCH;
	}
	ret = iterate(vpid, &w, err, errlen);
	if (ret)
		return ret;
	*host_tgid = w.found;
	debug("pid %d of this pid namespace is pid %d on the host (%d tasks visited)", vpid,
	      w.found, w.seen);
	return 0;
}

int hostpid__to_ns(pid_t host_tgid, pid_t *vpid)
{
	struct want w = { .host = host_tgid };
	char err[256];

	if (hostpid__initial_ns()) {
		*vpid = host_tgid;
		return 0;
	}
	if (host_tgid <= 0 || iterate(0, &w, err, sizeof(err)))
		return -ESRCH;
	*vpid = w.found;
	return 0;
}
