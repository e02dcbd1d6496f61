// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Every BPF program through the kernel's verifier, without attaching:
 * a verifier regression shows up here rather than end-to-end.
 *
 * The verifier folds loads from the frozen .rodata to constants and skips
 * what they make dead (pyleak.bpf.c's walker branches per CPython layout),
 * so pyleak.bpf.c is loaded once per supported layout (each minor
 * version's offset table, both 3.12+ TLS access paths), with memory and fd
 * tracking on and every program autoloaded, each with the attach type this
 * kernel attaches it with (uprobe_multi, uprobe session). Needs root and BPF: this
 * machine has both, so a failure to load is a failure, not a skip.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probe.h"
#include "pyleak.h"
#include "pyoffsets.h"
#include "pyleak.skel.h"
#include "gate.skel.h"

static char verifier_log[1 << 20];

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

/* Every program of obj has a kernel fd: loaded and verified. */
static void check_all_loaded(struct bpf_object *obj, const char *what)
{
	struct bpf_program *prog;
	int n = 0;

	bpf_object__for_each_program(prog, obj) {
		if (bpf_program__fd(prog) < 0)
			fail_msg("%s: program %s not loaded", what, bpf_program__name(prog));
		n++;
	}
	assert_true(n > 0);
}

static struct pyleak_bpf *open_pyleak(bool log)
{
	struct pyleak_bpf *skel = pyleak_bpf__open();
	struct bpf_program *prog;

	assert_non_null(skel);
	skel->rodata->targ_fds = true;
	/* Small maps: this is about the programs, not about memory. */
	bpf_map__set_max_entries(skel->maps.allocs, 1024);
	bpf_map__set_max_entries(skel->maps.stack_nodes, 1024);
	bpf_map__set_max_entries(skel->maps.fds, 1024);
	bpf_object__for_each_program(prog, skel->obj) {
		bpf_program__set_autoload(prog, true);
		if (log) {
			bpf_program__set_log_buf(prog, verifier_log, sizeof(verifier_log));
			bpf_program__set_log_level(prog, 1);
		}
	}
	/* as this kernel attaches them: uprobe_multi and session programs */
	probes__prepare(skel, true, true, false);
	return skel;
}

static void load_pyleak(int minor, enum tstate_mode mode)
{
	const struct pyver_offsets *t = pyoffsets__lookup(3, minor);
	struct pyleak_bpf *skel;
	struct py_offsets b = {};
	char what[64];
	size_t len;
	int err;

	snprintf(what, sizeof(what), "pyleak.bpf.o for 3.%d, tstate mode %d", minor, mode);
	if (!t)
		fail_msg("%s: no offset table for 3.%d", what, minor);
	pyoffsets__to_bpf(t, &b);
	b.tstate_mode = mode;
	b.tstate_addr = 0x7f0000001000;		/* any address: only read at run time */
	b.tls_offset = -0x48;
	b.tls_module = 1;
	b.interp_head = 0x7f0000002000;

	/* The offsets are data now (a procs entry per process): the programs
	 * are verified once for every version; the entry must fit the map. */
	skel = open_pyleak(false);
	err = pyleak_bpf__load(skel);
	if (!err) {
		struct proc_cfg cfg = { .off = b, .slot = 1, .flags = PROC_FOLLOW };
		__u32 key = 1;

		check_all_loaded(skel->obj, what);
		assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.procs), &key, &cfg,
						     BPF_ANY), 0);
		pyleak_bpf__destroy(skel);
		return;
	}
	pyleak_bpf__destroy(skel);
	/* again, for the verifier's say (the kernel keeps the log's tail) */
	verifier_log[0] = 0;
	skel = open_pyleak(true);
	pyleak_bpf__load(skel);
	pyleak_bpf__destroy(skel);
	len = strlen(verifier_log);
	fprintf(stderr, "%s: verifier log (last 3000 bytes):\n%s\n", what,
		verifier_log + (len > 3000 ? len - 3000 : 0));
	fail_msg("%s: load failed: %s", what, strerror(-err));
}

static void test_pyleak_3_8(void **state) { load_pyleak(8, TSTATE_GLOBAL); }
static void test_pyleak_3_9(void **state) { load_pyleak(9, TSTATE_GLOBAL); }
static void test_pyleak_3_10(void **state) { load_pyleak(10, TSTATE_GLOBAL); }
static void test_pyleak_3_11(void **state) { load_pyleak(11, TSTATE_GLOBAL); }
static void test_pyleak_3_12_dtv(void **state) { load_pyleak(12, TSTATE_TLS_DTV); }
static void test_pyleak_3_12_fs(void **state) { load_pyleak(12, TSTATE_TLS_FS); }
static void test_pyleak_3_13_dtv(void **state) { load_pyleak(13, TSTATE_TLS_DTV); }
static void test_pyleak_3_13_fs(void **state) { load_pyleak(13, TSTATE_TLS_FS); }

static void test_gate(void **state)
{
	struct gate_bpf *skel = gate_bpf__open_and_load();

	if (!skel)
		fail_msg("gate.bpf.o: load failed: %s", strerror(errno));
	check_all_loaded(skel->obj, "gate.bpf.o");
	gate_bpf__destroy(skel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pyleak_3_8),
		cmocka_unit_test(test_pyleak_3_9),
		cmocka_unit_test(test_pyleak_3_10),
		cmocka_unit_test(test_pyleak_3_11),
		cmocka_unit_test(test_pyleak_3_12_dtv),
		cmocka_unit_test(test_pyleak_3_12_fs),
		cmocka_unit_test(test_pyleak_3_13_dtv),
		cmocka_unit_test(test_pyleak_3_13_fs),
		cmocka_unit_test(test_gate),
	};

	libbpf_set_print(quiet);
	if (geteuid() != 0)
		fprintf(stderr, "test_bpfload: not root: loading BPF will fail (run as root)\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
