// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Open fds seen from /proc: /proc/PID/fd for what each one is,
 * /proc/PID/fdinfo for its inode (what BPF recorded, so a record whose fd
 * number now names another file is told apart), /proc/PID/net for the
 * addresses of sockets. Sockets are looked up in the target's own network
 * namespace.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <arpa/inet.h>
#include <linux/perf_event.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <bpf/libbpf.h>
#include "fds.h"
#include "pyleak.h"
#include "python.h"

/* The syscalls the fd programs handle, checked against libc's numbers. */
#define FD_SYSCALLS(X)								\
	X(OPEN, open) X(CLOSE, close) X(PIPE, pipe) X(DUP, dup) X(DUP2, dup2)		\
	X(SOCKET, socket) X(ACCEPT, accept) X(RECVMSG, recvmsg)				\
	X(SOCKETPAIR, socketpair) X(FCNTL, fcntl) X(CREAT, creat)			\
	X(EPOLL_CREATE, epoll_create) X(MQ_OPEN, mq_open) X(INOTIFY_INIT, inotify_init)	\
	X(OPENAT, openat) X(SIGNALFD, signalfd) X(TIMERFD_CREATE, timerfd_create)	\
	X(EVENTFD, eventfd) X(ACCEPT4, accept4) X(SIGNALFD4, signalfd4)			\
	X(EVENTFD2, eventfd2) X(EPOLL_CREATE1, epoll_create1) X(DUP3, dup3)		\
	X(PIPE2, pipe2) X(INOTIFY_INIT1, inotify_init1)					\
	X(PERF_EVENT_OPEN, perf_event_open) X(FANOTIFY_INIT, fanotify_init)		\
	X(OPEN_BY_HANDLE_AT, open_by_handle_at) X(MEMFD_CREATE, memfd_create)		\
	X(USERFAULTFD, userfaultfd) X(IO_URING_SETUP, io_uring_setup)			\
	X(OPEN_TREE, open_tree) X(FSOPEN, fsopen) X(FSMOUNT, fsmount) X(FSPICK, fspick)	\
	X(PIDFD_OPEN, pidfd_open) X(CLOSE_RANGE, close_range) X(OPENAT2, openat2)	\
	X(PIDFD_GETFD, pidfd_getfd) X(MEMFD_SECRET, memfd_secret)

#define X_ASSERT(up, low) _Static_assert(FDSYS_##up == SYS_##low, "FDSYS_" #up " is SYS_" #low);
FD_SYSCALLS(X_ASSERT)

static const struct {
	uint32_t nr;
	const char *name;
} sysnames[] = {
#define X_NAME(up, low) { FDSYS_##up, #low },
	FD_SYSCALLS(X_NAME)
};

static const char *const type_names[FD__TYPES] = {
	[FD_FILE] = "file", [FD_DIR] = "dir", [FD_DEVICE] = "device", [FD_FIFO] = "fifo",
	[FD_PIPE] = "pipe", [FD_SOCKET] = "socket", [FD_EVENTFD] = "eventfd",
	[FD_EPOLL] = "epoll", [FD_TIMERFD] = "timerfd", [FD_SIGNALFD] = "signalfd",
	[FD_INOTIFY] = "inotify", [FD_FANOTIFY] = "fanotify", [FD_PIDFD] = "pidfd",
	[FD_MEMFD] = "memfd", [FD_OTHER] = "other", [FD_UNKNOWN] = "unknown",
};

/* Anonymous-inode names, as fs/anon_inodes.c callers spell them. */
static const struct {
	const char *link;
	enum fd_type type;
} anon_types[] = {
	{ "anon_inode:[eventfd]", FD_EVENTFD },
	{ "anon_inode:[eventpoll]", FD_EPOLL },
	{ "anon_inode:[timerfd]", FD_TIMERFD },
	{ "anon_inode:[signalfd]", FD_SIGNALFD },
	{ "anon_inode:inotify", FD_INOTIFY },
	{ "anon_inode:[fanotify]", FD_FANOTIFY },
	{ "anon_inode:[pidfd]", FD_PIDFD },
};

const char *fds__type_name(enum fd_type t)
{
	return t >= 0 && t < FD__TYPES ? type_names[t] : "unknown";
}

static bool starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

enum fd_type fds__classify(const char *link, unsigned int mode)
{
	size_t i;

	if (!link || !*link)
		return FD_UNKNOWN;
	if (link[0] == '/') {
		/* memfd_create names its file "memfd:NAME", always deleted */
		if (starts(link, "/memfd:"))
			return FD_MEMFD;
		if (S_ISDIR(mode))
			return FD_DIR;
		if (S_ISCHR(mode) || S_ISBLK(mode))
			return FD_DEVICE;
		if (S_ISFIFO(mode))
			return FD_FIFO;
		if (S_ISSOCK(mode))
			return FD_SOCKET;
		return FD_FILE;
	}
	if (starts(link, "socket:["))
		return FD_SOCKET;
	if (starts(link, "pipe:["))
		return FD_PIPE;
	/* pidfs (Linux 6.9+) may name them itself */
	if (starts(link, "pidfd:"))
		return FD_PIDFD;
	for (i = 0; i < sizeof(anon_types) / sizeof(anon_types[0]); i++)
		if (!strcmp(link, anon_types[i].link))
			return anon_types[i].type;
	return FD_OTHER;
}

int fds__parse_fdinfo(const char *text, struct fdinfo *out)
{
	const char *line = text;
	bool flags = false;

	memset(out, 0, sizeof(*out));
	while (line && *line) {
		unsigned long long v;
		unsigned int o;
		int i;

		if (sscanf(line, "pos: %llu", &v) == 1)
			out->pos = v;
		else if (sscanf(line, "flags: %o", &o) == 1) {
			out->flags = o;
			flags = true;
		} else if (sscanf(line, "mnt_id: %d", &i) == 1)
			out->mnt_id = i;
		else if (sscanf(line, "ino: %llu", &v) == 1) {
			out->ino = v;
			out->has_ino = true;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return flags ? 0 : -EINVAL;
}

/* "0100007F:1388" (IPv4) or 32 hex digits and a port (IPv6), each 32-bit
 * word printed by the kernel as a native-endian %08X. */
static int format_endpoint(const char *hex, char *out, size_t len)
{
	char addr[INET6_ADDRSTRLEN], word[9];
	const char *colon = strchr(hex, ':');
	unsigned int port;
	size_t n, i;

	if (!colon || sscanf(colon + 1, "%x", &port) != 1)
		return -EINVAL;
	n = colon - hex;
	if (n == 8) {
		struct in_addr a;

		memcpy(word, hex, 8);
		word[8] = 0;
		a.s_addr = (uint32_t)strtoul(word, NULL, 16);
		inet_ntop(AF_INET, &a, addr, sizeof(addr));
		snprintf(out, len, "%s:%u", addr, port);
		return 0;
	}
	if (n == 32) {
		struct in6_addr a;
		uint32_t w[4];

		for (i = 0; i < 4; i++) {
			memcpy(word, hex + 8 * i, 8);
			word[8] = 0;
			w[i] = (uint32_t)strtoul(word, NULL, 16);
		}
		memcpy(&a, w, sizeof(a));
		inet_ntop(AF_INET6, &a, addr, sizeof(addr));
		snprintf(out, len, "[%s]:%u", addr, port);
		return 0;
	}
	return -EINVAL;
}

static bool zero_endpoint(const char *hex)
{
	for (; *hex && *hex != ':'; hex++)
		if (*hex != '0')
			return false;
	return true;
}

/* include/net/tcp_states.h */
static const char *const tcp_states[] = {
	[1] = "established", [2] = "syn_sent", [3] = "syn_recv", [4] = "fin_wait1",
	[5] = "fin_wait2", [6] = "time_wait", [7] = "close", [8] = "close_wait",
	[9] = "last_ack", [10] = "listen", [11] = "closing", [12] = "new_syn_recv",
};

int fds__parse_inet(const char *proto, const char *line, uint64_t *ino, char *out, size_t len)
{
	char local[64], remote[64], l[80], r[80];
	unsigned int st;
	unsigned long long inode;
	bool tcp = !strcmp(proto, "tcp");

	if (sscanf(line, " %*s %63s %63s %x %*s %*s %*s %*u %*u %llu", local, remote, &st,
		   &inode) != 4)
		return -EINVAL;
	if (format_endpoint(local, l, sizeof(l)) || format_endpoint(remote, r, sizeof(r)))
		return -EINVAL;
	*ino = inode;
	if (tcp && st == 10)
		snprintf(out, len, "%s %s (listening)", proto, l);
	else if (zero_endpoint(remote))
		snprintf(out, len, "%s %s", proto, l);
	else if (tcp && st != 1 && st < sizeof(tcp_states) / sizeof(tcp_states[0]))
		snprintf(out, len, "%s %s -> %s (%s)", proto, l, r, tcp_states[st]);
	else
		snprintf(out, len, "%s %s -> %s", proto, l, r);
	return 0;
}

int fds__parse_unix(const char *line, uint64_t *ino, char *out, size_t len)
{
	unsigned int flags, type, st;
	unsigned long long inode;
	const char *kind, *path;
	int end = 0;

	/* Num RefCount Protocol Flags Type St Inode [Path] */
	if (sscanf(line, "%*[0-9a-fA-F]: %*x %*x %x %x %x %llu%n", &flags, &type, &st, &inode,
		   &end) != 4)
		return -EINVAL;
	path = line + end;
	while (*path == ' ')
		path++;
	kind = type == 1 ? "stream" : type == 2 ? "dgram" : type == 5 ? "seqpacket" : "socket";
	*ino = inode;
	snprintf(out, len, "unix %s%s%.*s%s", kind, *path && *path != '\n' ? " " : "",
		 (int)strcspn(path, "\n"), path, flags & 0x10000 ? " (listening)" : "");
	return 0;
}

int fds__parse_netlink(const char *line, uint64_t *ino, char *out, size_t len)
{
	static const char *const protos[] = {
		[0] = "route", [4] = "sock_diag", [9] = "audit", [15] = "uevent", [16] = "generic",
	};
	unsigned long long inode;
	unsigned int proto;

	/* sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode */
	if (sscanf(line, "%*[0-9a-fA-F] %u %*d %*x %*u %*u %*u %*u %*u %llu", &proto,
		   &inode) != 2)
		return -EINVAL;
	*ino = inode;
	if (proto < sizeof(protos) / sizeof(protos[0]) && protos[proto])
		snprintf(out, len, "netlink %s", protos[proto]);
	else
		snprintf(out, len, "netlink %u", proto);
	return 0;
}

const char *fds__syscall_name(uint32_t nr, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(sysnames) / sizeof(sysnames[0]); i++)
		if (sysnames[i].nr == nr)
			return sysnames[i].name;
	snprintf(buf, len, "syscall %u", nr);
	return buf;
}

/* The syscalls the fd programs handle, for their tracepoints (user/probe.c). */
size_t fds__syscalls(void)
{
	return sizeof(sysnames) / sizeof(sysnames[0]);
}

const char *fds__syscall_at(size_t i)
{
	return i < fds__syscalls() ? sysnames[i].name : NULL;
}

/* ---- one process's fds */

struct net_desc {
	char s[120];
};

/* A zombie still has /proc/PID, but no fd table. */
static bool proc_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

static int read_small(int dirfd, const char *name, char *buf, size_t len)
{
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

/* One fd, name being its number in dfd (/proc/PID/fd) and ifd (fdinfo). */
static int read_fd(int dfd, int ifd, const char *name, struct fd_open *o)
{
	char link[PATH_MAX], info[4096];
	unsigned int mode = 0;
	struct fdinfo fi;
	struct stat st;
	ssize_t n;
	int err;

	o->link = NULL;
	n = readlinkat(dfd, name, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	err = read_small(ifd, name, info, sizeof(info));
	if (err || (err = fds__parse_fdinfo(info, &fi)))
		return err;
	link[n] = 0;
	if (link[0] == '/' && !fstatat(dfd, name, &st, 0))
		mode = st.st_mode;
	o->fd = atoi(name);
	o->type = fds__classify(link, mode);
	o->ino = fi.ino;
	o->claimed = false;
	o->link = strdup(link);
	return o->link ? 0 : -ENOMEM;
}

static int cmp_fd(const void *a, const void *b)
{
	int x = ((const struct fd_open *)a)->fd, y = ((const struct fd_open *)b)->fd;

	return x < y ? -1 : x > y;
}

int fdscan__read(struct fdscan *s, pid_t pid)
{
	char path[64];
	struct dirent *de;
	size_t cap = 0;
	int dfd, ifd, err = 0;
	DIR *d;

	struct fdnet net = s->net;

	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->net = net;
	s->net.read_now = false;
	if ((!s->net.descs.keys && u64map__init(&s->net.descs, sizeof(struct net_desc))) ||
	    (!s->net.missing.keys && u64map__init(&s->net.missing, 1)))
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d) {
		err = -errno;
		if (err != -ENOENT && err != -ESRCH && !proc_gone(pid))
			return err;
		s->gone = true;
		return 0;
	}
	if (proc_gone(pid)) {
		s->gone = true;
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	ifd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ifd < 0) {
		err = -errno;
		goto out;
	}
	dfd = dirfd(d);
	while ((de = readdir(d))) {
		struct fd_open *o;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (s->n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct fd_open *nv = realloc(s->v, ncap * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			s->v = nv;
			cap = ncap;
		}
		o = &s->v[s->n];
		err = read_fd(dfd, ifd, de->d_name, o);
		if (err == -ENOMEM)
			break;
		err = 0;
		/* anything else: closed since readdir */
		if (!o->link)
			continue;
		s->n++;
	}
	close(ifd);
	qsort(s->v, s->n, sizeof(*s->v), cmp_fd);
out:
	closedir(d);
	return err;
}

struct fd_open *fdscan__find(struct fdscan *s, int fd)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->v[mid].fd == fd)
			return &s->v[mid];
		if (s->v[mid].fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int fdscan__read_one(struct fdscan *s, int fd, struct fd_open *out)
{
	char path[64], name[16];
	int dfd, ifd, err;

	snprintf(path, sizeof(path), "/proc/%d/fd", s->pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/fdinfo", s->pid);
	ifd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(name, sizeof(name), "%d", fd);
	err = dfd < 0 || ifd < 0 ? -ENOENT : read_fd(dfd, ifd, name, out);
	if (dfd >= 0)
		close(dfd);
	if (ifd >= 0)
		close(ifd);
	return err;
}

static void load_net_file(struct fdscan *s, const char *name,
			  int (*parse)(const char *, uint64_t *, char *, size_t), const char *proto)
{
	char path[64], desc[sizeof(struct net_desc)];
	struct net_desc *d;
	size_t cap = 0;
	char *line = NULL;
	uint64_t ino;
	FILE *f;
	int fresh, ret;

	snprintf(path, sizeof(path), "/proc/%d/net/%s", s->pid, name);
	f = fopen(path, "re");
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		ret = proto ? fds__parse_inet(proto, line, &ino, desc, sizeof(desc)) :
			      parse(line, &ino, desc, sizeof(desc));
		if (ret || !ino)
			continue;
		d = u64map__upsert(&s->net.descs, ino, &fresh);
		if (d)
			memcpy(d->s, desc, sizeof(d->s));
	}
	free(line);
	fclose(f);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Socket addresses, read only if a socket is described (see struct fdnet). */
static void load_net(struct fdscan *s)
{
	u64map__free(&s->net.descs);
	if (u64map__init(&s->net.descs, sizeof(struct net_desc)))
		return;
	s->net.read_now = true;
	s->net.read_s = mono_s();
	s->net.readings++;
	load_net_file(s, "tcp", NULL, "tcp");
	load_net_file(s, "tcp6", NULL, "tcp");
	load_net_file(s, "udp", NULL, "udp");
	load_net_file(s, "udp6", NULL, "udp");
	load_net_file(s, "unix", fds__parse_unix, NULL);
	load_net_file(s, "netlink", fds__parse_netlink, NULL);
}

const char *fdscan__describe(struct fdscan *s, const struct fd_open *o, char *buf, size_t len)
{
	const struct net_desc *d;
	const char *p;

	switch (o->type) {
	case FD_FILE:
	case FD_DIR:
	case FD_DEVICE:
	case FD_FIFO:
	case FD_OTHER:
		return o->link;
	case FD_MEMFD:
		/* "/memfd:NAME (deleted)" -> "memfd:NAME" */
		p = strstr(o->link, " (deleted)");
		snprintf(buf, len, "%.*s", (int)(p ? p - o->link - 1 : (long)strlen(o->link) - 1),
			 o->link + 1);
		return buf;
	case FD_SOCKET:
		if (!s->net.read_now && (!s->net.read_s || mono_s() - s->net.read_s >= FDNET_REFRESH_S))
			load_net(s);
		d = u64map__get(&s->net.descs, o->ino);
		if (!d && !s->net.read_now && u64map__get(&s->net.missed, o->ino)) {
			load_net(s);
			d = u64map__get(&s->net.descs, o->ino);
		}
		if (d)
			return d->s;
		u64map__upsert(&s->net.missing, o->ino, &(int){ 0 });
		return "socket";
	default:
		return fds__type_name(o->type);
	}
}

void fdscan__free(struct fdscan *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].link);
	free(s->v);
	s->v = NULL;
	s->n = 0;
	/* what this scan missed is what the next one may read the tables for */
	u64map__free(&s->net.missed);
	s->net.missed = s->net.missing;
	memset(&s->net.missing, 0, sizeof(s->net.missing));
}

void fdscan__release(struct fdscan *s)
{
	fdscan__free(s);
	u64map__free(&s->net.descs);
	u64map__free(&s->net.missed);
	memset(&s->net, 0, sizeof(s->net));
}
