// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/procinfo.c: container ids from cgroup paths as the container
 * runtimes write them (the paths' shapes from Docker's, containerd's,
 * CRI-O's and Podman's cgroup drivers), and this process's own /proc.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "procinfo.h"

#define ID "3f2c5e0d9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"

static void test_container_ids(void **state)
{
	static const char *const paths[] = {
		"/docker/" ID,
		"/system.slice/docker-" ID ".scope",
		"/kubepods/burstable/pod2a1b3c4d-1111-2222-3333-444455556666/" ID,
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2a1b3c4d_1111_2222_"
		"3333_444455556666.slice/cri-containerd-" ID ".scope",
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podx.slice/crio-" ID
		".scope",
		"/machine.slice/libpod-" ID ".scope",
		"/docker/" ID "/init.scope",
	};
	char out[65];
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		memset(out, 'x', sizeof(out));
		assert_int_equal(procinfo__container_id(paths[i], out, sizeof(out)), 0);
		assert_string_equal(out, ID);
	}
}

static void test_not_containers(void **state)
{
	static const char *const paths[] = {
		"/", "/user.slice/user-0.slice/session-3.scope", "/system.slice/ssh.service",
		"/machine.slice/libpod-conmon-" ID ".scope",
		"/kubepods.slice/crio-conmon-" ID ".scope",
		"/docker/" ID "0",			/* 65 digits: not an id */
		"/docker/3F2C5E0D9B8A7C6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D",
		"/x/abc" ID,				/* no separator before it */
	};
	char out[65];
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_int_equal(procinfo__container_id(paths[i], out, sizeof(out)), -ENOENT);
		assert_string_equal(out, "");
	}
	assert_int_equal(procinfo__container_id("/docker/" ID, out, 10), -EINVAL);
}

static void test_self(void **state)
{
	struct procinfo pi;

	assert_int_equal(procinfo__read(getpid(), &pi), 0);
	assert_string_equal(pi.comm, "test_procinfo");
	assert_non_null(strstr(pi.cmdline, "test_procinfo"));
	assert_true(pi.ns_pid > 0);
	assert_true(pi.cgroup[0] == '/');
	assert_int_equal(procinfo__read(0x7ffffff0, &pi), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_container_ids),
		cmocka_unit_test(test_not_containers),
		cmocka_unit_test(test_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
