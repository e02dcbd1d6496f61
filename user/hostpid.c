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

/* Every record the iterator writes; the one for vpid, if any. */
static int read_records(int ifd, pid_t vpid, pid_t *host_tgid, int *seen)
{
	struct hostpid_rec recs[64];
	ssize_t n;
	int found = -ESRCH;

	*seen = 0;
	while ((n = read(ifd, recs, sizeof(recs))) > 0) {
		size_t i, k = (size_t)n / sizeof(recs[0]);

		for (i = 0; i < k; i++, (*seen)++)
			if ((pid_t)recs[i].vtid == vpid && found) {
				*host_tgid = (pid_t)recs[i].tgid;
				found = 0;
			}
	}
	if (n < 0)
		return -errno;
	return found;
}

int hostpid__resolve(pid_t vpid, pid_t *host_tgid, char *err, size_t errlen)
{
	union bpf_iter_link_info linfo;
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &linfo,
		    .link_info_len = sizeof(linfo));
	struct hostpid_bpf *skel = NULL;
	struct bpf_link *link = NULL;
	int ifd = -1, ret, seen = 0;

	ret = check_proc(err, errlen);
	if (ret)
		return ret;
	if (hostpid__initial_ns()) {
		*host_tgid = vpid;
		return 0;
	}
	skel = hostpid_bpf__open_and_load();
	if (!skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot load the BPF task iterator that finds the host's pid: "
			 "%s", strerror(-ret));
		goto out;
	}
	/* Only this task, looked up in our pid namespace (6.1+; older kernels
	 * visit every task and the program says which one is vpid). */
	memset(&linfo, 0, sizeof(linfo));
	linfo.task.tid = vpid;
	link = bpf_program__attach_iter(skel->progs.hostpid_task, &opts);
	if (!link) {
		ret = -errno;
		snprintf(err, errlen, "cannot attach the BPF task iterator that finds the host's "
			 "pid: %s", strerror(-ret));
		goto out;
	}
	ifd = bpf_iter_create(bpf_link__fd(link));
	if (ifd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot start the BPF task iterator that finds the host's "
			 "pid: %s", strerror(-ret));
		goto out;
	}
	ret = read_records(ifd, vpid, host_tgid, &seen);
	if (ret == -ESRCH)
		snprintf(err, errlen, "no such process in this pid namespace");
	else if (ret)
		snprintf(err, errlen, "cannot read the BPF task iterator that finds the host's "
			 "pid: %s", strerror(-ret));
	else
		debug("pid %d of this pid namespace is pid %d on the host (%d tasks visited)",
		      vpid, *host_tgid, seen);
out:
	if (ifd >= 0)
		close(ifd);
	bpf_link__destroy(link);
	hostpid_bpf__destroy(skel);
	return ret;
}
