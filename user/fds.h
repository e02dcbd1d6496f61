/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The target's open fds as /proc shows them: each one's type and a short
 * description ("/srv/app/data.db", "tcp 127.0.0.1:5000 -> 127.0.0.1:43210",
 * "pipe"), and the inode that ties it to a BPF record.
 */
#ifndef __FDS_H
#define __FDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "u64map.h"

struct pyproc;
struct bpf_program;
struct bpf_link;

/* Tracepoint links for fd syscalls: one per syscall handled. */
#define FD_MAX_LINKS 48

enum fd_type {
	FD_FILE,	/* regular file */
	FD_DIR,
	FD_DEVICE,	/* character or block device */
	FD_FIFO,	/* named pipe */
	FD_PIPE,	/* pipe(2) */
	FD_SOCKET,
	FD_EVENTFD,
	FD_EPOLL,
	FD_TIMERFD,
	FD_SIGNALFD,
	FD_INOTIFY,
	FD_FANOTIFY,
	FD_PIDFD,
	FD_MEMFD,
	FD_OTHER,	/* other anon inodes (io_uring, perf_event, bpf...), namespaces */
	FD_UNKNOWN,	/* not readable any more (the target exited) */
	FD__TYPES,
};

const char *fds__type_name(enum fd_type t);
/* The type of a /proc/PID/fd link target; mode is the st_mode of what it
 * names (0 when unknown). */
enum fd_type fds__classify(const char *link, unsigned int mode);

/* The fields of /proc/PID/fdinfo/N that matter here. */
struct fdinfo {
	uint64_t pos;
	uint64_t ino;
	uint32_t flags;		/* O_* of the open file (octal in the file) */
	int mnt_id;
	bool has_ino;		/* "ino:" is there since Linux 5.14 */
};

/* Parse fdinfo text; -EINVAL without a flags: line. */
int fds__parse_fdinfo(const char *text, struct fdinfo *out);
/*
 * One row of /proc/net/{tcp,tcp6,udp,udp6}: its socket inode and
 * "tcp 127.0.0.1:5000 -> 127.0.0.1:43210", "tcp [::1]:8080 (listening)",
 * "udp 0.0.0.0:5353". proto is "tcp" or "udp". -EINVAL for the header.
 */
int fds__parse_inet(const char *proto, const char *line, uint64_t *ino, char *out, size_t len);
/* One row of /proc/net/unix: "unix stream /run/x.sock", "unix dgram". */
int fds__parse_unix(const char *line, uint64_t *ino, char *out, size_t len);
/* One row of /proc/net/netlink: "netlink route". */
int fds__parse_netlink(const char *line, uint64_t *ino, char *out, size_t len);

/* "openat", "accept4", ... for an enum fd_syscall; "syscall N" otherwise. */
const char *fds__syscall_name(uint32_t nr, char *buf, size_t len);
/* The syscalls the fd programs handle (their sys_exit_<name> events): how
 * many, and the name of the i-th. */
size_t fds__syscalls(void);
const char *fds__syscall_at(size_t i);

/* One open fd at one moment. */
struct fd_open {
	int fd;
	enum fd_type type;
	uint64_t ino;
	char *link;		/* readlink of /proc/PID/fd/N */
	bool claimed;		/* a BPF record names it */
};

/*
 * Socket descriptions from /proc/PID/net/{tcp,tcp6,udp,udp6,unix,netlink},
 * kept from one scan to the next: the tables list every socket of the
 * network namespace (a busy server's thousands of connections, most in
 * time_wait), and reading them at every report cost more than the rest
 * of the report. They are read again at most once a scan: when the copy
 * is older than FDNET_REFRESH_S, or for a socket that was missed at the
 * previous scan too (one that stays open; a connection opened and closed
 * between two reports is not worth a reading). So a socket's description
 * (its state) may be up to FDNET_REFRESH_S old, and one opened since the
 * last reading is "socket" at its first report.
 */
#define FDNET_REFRESH_S	30.0

struct fdnet {
	struct u64map descs;	/* socket inode -> struct net_desc */
	struct u64map missed;	/* inodes not found at the previous scan */
	struct u64map missing;	/* inodes not found at this one */
	double read_s;		/* CLOCK_MONOTONIC of the last reading, 0: never */
	bool read_now;		/* read during this scan */
	unsigned long readings;
};

/* A process's open fds at one moment, sorted by fd. */
struct fdscan {
	pid_t pid;
	bool gone;		/* exited (or a zombie): nothing to read */
	struct fd_open *v;
	size_t n;
	struct fdnet net;	/* kept across scans; fdscan__release frees it */
};

/* Read /proc/PID/fd and fdinfo; 0 also when the process is gone (gone is set). */
int fdscan__read(struct fdscan *s, pid_t pid);
struct fd_open *fdscan__find(struct fdscan *s, int fd);
/* Read fd of the scanned process again, now, into out (out->link is
 * allocated); -ENOENT if it is closed. */
int fdscan__read_one(struct fdscan *s, int fd, struct fd_open *out);
/* A short description of o; valid until the next call. */
const char *fdscan__describe(struct fdscan *s, const struct fd_open *o, char *buf, size_t len);
/* The fds of this scan; the socket descriptions stay for the next. */
void fdscan__free(struct fdscan *s);
/* Everything, the socket descriptions too. */
void fdscan__release(struct fdscan *s);

#endif /* __FDS_H */
