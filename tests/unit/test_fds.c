// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/fds.c: fd types from /proc/PID/fd links, /proc/PID/fdinfo parsing,
 * socket descriptions from /proc/net rows.
 *
 * The samples were recorded on this project's machine (Linux 6.18, Debian
 * 12) from a Python process holding one fd of each kind: readlink and
 * stat of /proc/self/fd/N, /proc/self/fdinfo/N, and the rows of
 * /proc/self/net/{tcp,tcp6,udp,udp6,unix,netlink} that name its sockets.
 * The last test scans this test's own fds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "fds.h"
#include "pyleak.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* readlink, st_mode of what it names, the type */
static const struct {
	const char *link;
	unsigned int mode;
	enum fd_type type;
} links[] = {
	{ "anon_inode:[pidfd]", 0700, FD_PIDFD },
	{ "/memfd:cache (deleted)", 0100777, FD_MEMFD },
	{ "anon_inode:[eventfd]", 0600, FD_EVENTFD },
	{ "anon_inode:[eventpoll]", 0600, FD_EPOLL },
	{ "pipe:[130981]", 010600, FD_PIPE },
	{ "anon_inode:inotify", 0600, FD_INOTIFY },
	{ "anon_inode:[timerfd]", 0600, FD_TIMERFD },
	{ "anon_inode:[signalfd]", 0600, FD_SIGNALFD },
	{ "/tmp", 041777, FD_DIR },
	{ "/dev/null", 020666, FD_DEVICE },
	{ "net:[4026531833]", 0100444, FD_OTHER },
	{ "/tmp/fifo-rec", 010644, FD_FIFO },
	{ "/tmp/gone-rec (deleted)", 0100755, FD_FILE },
	{ "/etc/hostname", 0100755, FD_FILE },
	{ "socket:[130985]", 0140777, FD_SOCKET },
	/* not recorded here: fanotify needs CAP_SYS_ADMIN, pidfs names (6.9+ option) */
	{ "anon_inode:[fanotify]", 0600, FD_FANOTIFY },
	{ "pidfd:[19645]", 0600, FD_PIDFD },
	{ "anon_inode:[io_uring]", 0600, FD_OTHER },
	/* a path whose stat failed (mode unknown) is a file */
	{ "/srv/data.db", 0, FD_FILE },
	{ "", 0, FD_UNKNOWN },
};

/*
 * Given every link target recorded, when classified with its st_mode,
 * then each gets its kind.
 */
static void test_classify_recorded_links(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(links); i++) {
		enum fd_type got = fds__classify(links[i].link, links[i].mode);

		if (got != links[i].type)
			fail_msg("%s (mode %o): expected %s, saw %s", links[i].link, links[i].mode,
				 fds__type_name(links[i].type), fds__type_name(got));
	}
	assert_int_equal(fds__classify(NULL, 0), FD_UNKNOWN);
}

/* Every type has a name, and the names are the JSON keys the README lists. */
static void test_type_names(void **state)
{
	static const char *const want[FD__TYPES] = {
		"file", "dir", "device", "fifo", "pipe", "socket", "eventfd", "epoll", "timerfd",
		"signalfd", "inotify", "fanotify", "pidfd", "memfd", "other", "unknown",
	};
	int t;

	for (t = 0; t < FD__TYPES; t++)
		assert_string_equal(fds__type_name(t), want[t]);
	assert_string_equal(fds__type_name(FD__TYPES), "unknown");
}

static const struct {
	const char *what, *text;
	uint64_t pos, ino;
	uint32_t flags;
	int mnt_id;
} fdinfos[] = {
	{ "eventfd", "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\neventfd-count:                3\n"
		     "eventfd-id: 1\neventfd-semaphore: 0\n", 0, 1038, 02000002, 17 },
	{ "timerfd", "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1038\nclockid: 1\nticks: 0\n"
		     "settime flags: 00\nit_value: (0, 0)\nit_interval: (0, 0)\n", 0, 1038, 02, 17 },
	{ "pidfd", "pos:\t0\nflags:\t02000002\nmnt_id:\t4\nino:\t19645\nPid:\t19644\nNSpid:\t19644\n",
	  0, 19645, 02000002, 4 },
	{ "socket", "pos:\t0\nflags:\t02000002\nmnt_id:\t10\nino:\t130986\n", 0, 130986, 02000002, 10 },
	{ "file", "pos:\t0\nflags:\t02102000\nmnt_id:\t27\nino:\t733\n", 0, 733, 02102000, 27 },
	{ "memfd", "pos:\t0\nflags:\t02100002\nmnt_id:\t0\nino:\t311\n", 0, 311, 02100002, 0 },
	{ "signalfd", "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1038\nsigmask:\t0000000000000200\n",
	  0, 1038, 02, 17 },
	{ "seeked file", "pos:\t12345678901\nflags:\t0100002\nmnt_id:\t27\nino:\t99\n",
	  12345678901ULL, 99, 0100002, 27 },
};

/*
 * Given the fdinfo of each kind, when parsed, then pos, flags (octal),
 * mnt_id and ino are the recorded ones; O_CLOEXEC shows in flags.
 */
static void test_fdinfo_recorded(void **state)
{
	struct fdinfo fi;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fdinfos); i++) {
		if (fds__parse_fdinfo(fdinfos[i].text, &fi))
			fail_msg("%s: expected to parse", fdinfos[i].what);
		if (fi.pos != fdinfos[i].pos || fi.ino != fdinfos[i].ino || !fi.has_ino ||
		    fi.flags != fdinfos[i].flags || fi.mnt_id != fdinfos[i].mnt_id)
			fail_msg("%s: expected pos %llu flags %o mnt_id %d ino %llu, saw pos %llu "
				 "flags %o mnt_id %d ino %llu", fdinfos[i].what,
				 (unsigned long long)fdinfos[i].pos, fdinfos[i].flags,
				 fdinfos[i].mnt_id, (unsigned long long)fdinfos[i].ino,
				 (unsigned long long)fi.pos, fi.flags, fi.mnt_id,
				 (unsigned long long)fi.ino);
	}
	assert_false(fi.flags & 02000000);	/* the last one: no O_CLOEXEC */
	assert_int_equal(fds__parse_fdinfo(fdinfos[0].text, &fi), 0);
	assert_true(fi.flags & 02000000);
}

/* Before Linux 5.14 there is no ino: line; without flags: it is not fdinfo. */
static void test_fdinfo_old_and_bad(void **state)
{
	struct fdinfo fi;

	assert_int_equal(fds__parse_fdinfo("pos:\t0\nflags:\t0100000\nmnt_id:\t25\n", &fi), 0);
	assert_false(fi.has_ino);
	assert_int_equal(fi.flags, 0100000);
	assert_int_equal(fds__parse_fdinfo("", &fi), -EINVAL);
	assert_int_equal(fds__parse_fdinfo("pos:\t0\nmnt_id:\t25\n", &fi), -EINVAL);
}

static const struct {
	const char *proto, *line;
	uint64_t ino;
	const char *desc;	/* NULL: not a socket row */
} inet_rows[] = {
	{ "tcp", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
		 "timeout inode                                                     \n", 0, NULL },
	{ "tcp", "   1: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
		 "        0 130985 1 000000009497f154 100 0 0 10 0                    \n",
	  130985, "tcp 127.0.0.1:5000 (listening)" },
	{ "tcp", " 219: 0100007F:C412 0100007F:1388 08 00000000:00000001 00:00000000 00000000     0"
		 "        0 130986 2 00000000eced178a 20 4 0 10 -1                    \n",
	  130986, "tcp 127.0.0.1:50194 -> 127.0.0.1:5000 (close_wait)" },
	/* TIME_WAIT: no socket, no inode */
	{ "tcp", "   2: 0100007F:AA13 0100007F:E5AE 06 00000000:00000000 03:00000DC9 00000000     0"
		 "        0 0 3 00000000143463b9                                      \n",
	  0, "tcp 127.0.0.1:43539 -> 127.0.0.1:58798 (time_wait)" },
	{ "tcp", "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A"
		 " 00000000:00000000 00:00000000 00000000     0        0 130988 1 00000000c7980b2a 100"
		 " 0 0 10 0\n", 130988, "tcp [::1]:8080 (listening)" },
	{ "tcp", "   2: 00000000000000000000000001000000:A86E 00000000000000000000000001000000:1F90 01"
		 " 00000000:00000000 00:00000000 00000000     0        0 130989 2 0000000021b66b7f 20"
		 " 0 0 10 -1\n", 130989, "tcp [::1]:43118 -> [::1]:8080" },
	{ "udp", "  185: 0100007F:A0D3 0100007F:14E9 01 00000000:00000000 00:00000000 00000000     0"
		 "        0 130992 2 0000000072985455 0        \n",
	  130992, "udp 127.0.0.1:41171 -> 127.0.0.1:5353" },
	{ "udp", "13519: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0"
		 "        0 130991 2 000000001e8509f0 0        \n", 130991, "udp 0.0.0.0:5353" },
	{ "udp", "13520: 00000000000000000000000000000000:14EA 00000000000000000000000000000000:0000 07"
		 " 00000000:00000000 00:00000000 00000000     0        0 130993 2 0000000077c1a20f 0\n",
	  130993, "udp [::]:5354" },
};

/*
 * Given rows of /proc/net/{tcp,tcp6,udp,udp6}, when parsed, then the inode
 * is the socket's and the description reads local -> remote, listening
 * or the TCP state when it is not established; the header is refused.
 */
static void test_inet_rows(void **state)
{
	char desc[128];
	uint64_t ino;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(inet_rows); i++) {
		int ret = fds__parse_inet(inet_rows[i].proto, inet_rows[i].line, &ino, desc,
					  sizeof(desc));

		if (!inet_rows[i].desc) {
			if (ret != -EINVAL)
				fail_msg("row %zu: expected -EINVAL for a header, saw %d", i, ret);
			continue;
		}
		if (ret || ino != inet_rows[i].ino || strcmp(desc, inet_rows[i].desc))
			fail_msg("row %zu: expected %llu \"%s\", saw %d %llu \"%s\"", i,
				 (unsigned long long)inet_rows[i].ino, inet_rows[i].desc, ret,
				 (unsigned long long)ino, desc);
	}
}

static const struct {
	const char *line;
	uint64_t ino;
	const char *desc;
} unix_rows[] = {
	{ "Num       RefCount Protocol Flags    Type St Inode Path\n", 0, NULL },
	{ "00000000cc7a0166: 00000002 00000000 00010000 0001 01 130994 /tmp/rec.sock\n",
	  130994, "unix stream /tmp/rec.sock (listening)" },
	{ "0000000080a02864: 00000003 00000000 00000000 0001 03 130996\n", 130996, "unix stream" },
	{ "000000000845431e: 00000003 00000000 00000000 0002 03 130998\n", 130998, "unix dgram" },
	{ "000000004c9d6ca7: 00000002 00000000 00000000 0001 01 130995 @pyleak-abstract\n",
	  130995, "unix stream @pyleak-abstract" },
	{ "00000000fe5acbcf: 00000003 00000000 00000000 0001 03  1646\n", 1646, "unix stream" },
	{ "000000001e12af32: 00000003 00000000 00000000 0005 03 77", 77, "unix seqpacket" },
};

static const struct {
	const char *line;
	uint64_t ino;
	const char *desc;
} netlink_rows[] = {
	{ "sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode\n",
	  0, NULL },
	{ "0000000021badfcc 0   0          00000000 0        0        0     2        0        4       \n",
	  4, "netlink route" },
	{ "0000000086e107e7 4   0          00000000 0        0        0     2        0        1587    \n",
	  1587, "netlink sock_diag" },
	{ "00000000996202f6 6   0          00000000 0        0        0     2        0        1589    \n",
	  1589, "netlink 6" },
	{ "0000000074ba5f34 16  0          00000000 0        0        0     2        0        5       \n",
	  5, "netlink generic" },
};

/* Given rows of /proc/net/unix and /proc/net/netlink, the same. */
static void test_unix_and_netlink_rows(void **state)
{
	char desc[128];
	uint64_t ino;
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(unix_rows); i++) {
		ret = fds__parse_unix(unix_rows[i].line, &ino, desc, sizeof(desc));
		if (!unix_rows[i].desc ? ret != -EINVAL :
		    ret || ino != unix_rows[i].ino || strcmp(desc, unix_rows[i].desc))
			fail_msg("unix row %zu: expected %llu \"%s\", saw %d %llu \"%s\"", i,
				 (unsigned long long)unix_rows[i].ino,
				 unix_rows[i].desc ? unix_rows[i].desc : "-EINVAL", ret,
				 (unsigned long long)ino, ret ? "" : desc);
	}
	for (i = 0; i < ARRAY_SIZE(netlink_rows); i++) {
		ret = fds__parse_netlink(netlink_rows[i].line, &ino, desc, sizeof(desc));
		if (!netlink_rows[i].desc ? ret != -EINVAL :
		    ret || ino != netlink_rows[i].ino || strcmp(desc, netlink_rows[i].desc))
			fail_msg("netlink row %zu: expected %llu \"%s\", saw %d %llu \"%s\"", i,
				 (unsigned long long)netlink_rows[i].ino,
				 netlink_rows[i].desc ? netlink_rows[i].desc : "-EINVAL", ret,
				 (unsigned long long)ino, ret ? "" : desc);
	}
}

/* Short buffers truncate, never overflow. */
static void test_descriptions_truncate(void **state)
{
	char desc[12];
	uint64_t ino;

	memset(desc, 'x', sizeof(desc));
	assert_int_equal(fds__parse_inet("tcp", inet_rows[2].line, &ino, desc, 8), 0);
	assert_string_equal(desc, "tcp 127");
	assert_int_equal(desc[8], 'x');
}

static void test_syscall_names(void **state)
{
	char buf[32];

	assert_string_equal(fds__syscall_name(FDSYS_OPENAT, buf, sizeof(buf)), "openat");
	assert_string_equal(fds__syscall_name(FDSYS_ACCEPT4, buf, sizeof(buf)), "accept4");
	assert_string_equal(fds__syscall_name(FDSYS_RECVMSG, buf, sizeof(buf)), "recvmsg");
	assert_string_equal(fds__syscall_name(FDSYS_DUP3, buf, sizeof(buf)), "dup3");
	assert_string_equal(fds__syscall_name(999, buf, sizeof(buf)), "syscall 999");
}

/*
 * Given this process holding a pipe, a unix socketpair and a memfd, when
 * /proc/self is scanned, then each is found with its type, inode and
 * description, and read again alone gives the same; a closed fd is gone.
 */
static void test_scan_self(void **state)
{
	int p[2], sp[2], mfd;
	struct fdscan s = { 0 };
	struct fd_open *o, again;
	char buf[128];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	mfd = memfd_create("pyleak-test", 0);
	assert_true(mfd >= 0);
	assert_int_equal(fdscan__read(&s, getpid()), 0);
	assert_false(s.gone);

	o = fdscan__find(&s, p[0]);
	assert_non_null(o);
	assert_int_equal(o->type, FD_PIPE);
	assert_string_equal(fdscan__describe(&s, o, buf, sizeof(buf)), "pipe");
	o = fdscan__find(&s, sp[0]);
	assert_non_null(o);
	assert_int_equal(o->type, FD_SOCKET);
	assert_string_equal(fdscan__describe(&s, o, buf, sizeof(buf)), "unix stream");
	o = fdscan__find(&s, mfd);
	assert_non_null(o);
	assert_int_equal(o->type, FD_MEMFD);
	assert_string_equal(fdscan__describe(&s, o, buf, sizeof(buf)), "memfd:pyleak-test");

	assert_int_equal(fdscan__read_one(&s, mfd, &again), 0);
	assert_int_equal(again.ino, o->ino);
	free(again.link);
	/* a high number: read_one's own fds take the lowest free ones */
	assert_int_equal(dup2(mfd, 900), 900);
	close(900);
	assert_int_equal(fdscan__read_one(&s, 900, &again), -ENOENT);
	close(mfd);
	assert_null(fdscan__find(&s, 1 << 20));
	fdscan__release(&s);
	close(p[0]);
	close(p[1]);
	close(sp[0]);
	close(sp[1]);
}

static const char *describe_fd(struct fdscan *s, int fd, char *buf, size_t len)
{
	struct fd_open *o;

	assert_int_equal(fdscan__read(s, getpid()), 0);
	o = fdscan__find(s, fd);
	assert_non_null(o);
	return fdscan__describe(s, o, buf, len);
}

static int listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/*
 * Given a listening TCP socket described at a first scan, when the fds are
 * scanned again, then the description comes from the kept copy of
 * /proc/PID/net (no second reading); a socket opened since is "socket" at
 * its first scan (the copy is fresh) and described at the next, which
 * reads the tables again because it was missed before.
 */
static void test_scan_net_kept(void **state)
{
	struct fdscan s = { 0 };
	char buf[128], want[64];
	uint16_t p1, p2;
	int l1 = listener(&p1), l2;

	snprintf(want, sizeof(want), "tcp 127.0.0.1:%u (listening)", p1);
	assert_string_equal(describe_fd(&s, l1, buf, sizeof(buf)), want);
	assert_int_equal(s.net.readings, 1);
	fdscan__free(&s);
	assert_string_equal(describe_fd(&s, l1, buf, sizeof(buf)), want);
	assert_int_equal(s.net.readings, 1);
	fdscan__free(&s);

	l2 = listener(&p2);
	assert_string_equal(describe_fd(&s, l2, buf, sizeof(buf)), "socket");
	assert_int_equal(s.net.readings, 1);
	fdscan__free(&s);
	snprintf(want, sizeof(want), "tcp 127.0.0.1:%u (listening)", p2);
	assert_string_equal(describe_fd(&s, l2, buf, sizeof(buf)), want);
	assert_int_equal(s.net.readings, 2);
	fdscan__release(&s);
	close(l1);
	close(l2);
}

/* A pid that does not exist is "gone", not an error. */
static void test_scan_gone(void **state)
{
	struct fdscan s = { 0 };

	assert_int_equal(fdscan__read(&s, 0x3ffffff), 0);
	assert_true(s.gone);
	assert_int_equal(s.n, 0);
	fdscan__free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_recorded_links),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_fdinfo_recorded),
		cmocka_unit_test(test_fdinfo_old_and_bad),
		cmocka_unit_test(test_inet_rows),
		cmocka_unit_test(test_unix_and_netlink_rows),
		cmocka_unit_test(test_descriptions_truncate),
		cmocka_unit_test(test_syscall_names),
		cmocka_unit_test(test_scan_self),
		cmocka_unit_test(test_scan_net_kept),
		cmocka_unit_test(test_scan_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
