// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/heapread.c against this very process (the real kernel's
 * process_vm_readv on our own pid): what it reads equals the memory, a
 * 64 KiB chunk that spans two mappings with a hole between is read in
 * both parts, and the hole, unmapped memory and reads across it fail;
 * records gathered many a call come back whole, those on a page unmapped
 * since the mappings were read or outside them are flagged unread and the
 * rest still read.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "heapread.h"

#define PAGE	4096

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

static void test_reads_what_is_there(void **state)
{
	struct heapread h;
	size_t n = 300 * 1024;
	uint8_t *src = malloc(n), *dst = malloc(n);

	(void)state;
	assert_non_null(src);
	assert_non_null(dst);
	fill(src, n, 7);
	/* Given a heap buffer larger than several chunks, when read in pieces
	 * of odd sizes at odd offsets, then every piece equals the memory. */
	assert_int_equal(heapread__open(&h, getpid(), 1 << 20), 0);
	assert_int_equal(heapread__refresh(&h), 0);
	for (size_t off = 3; off + 70001 < n; off += 65537) {
		memset(dst, 0, 70001);
		assert_int_equal(heapread__read(&h, (uint64_t)(uintptr_t)src + off, dst, 70001), 0);
		assert_memory_equal(dst, src + off, 70001);
	}
	/* the cache holds 16 chunks here: reading past it evicts and refills */
	assert_int_equal(heapread__read(&h, (uint64_t)(uintptr_t)src, dst, n), 0);
	assert_memory_equal(dst, src, n);
	assert_true(h.syscalls > 0);
	heapread__close(&h);
	free(src);
	free(dst);
}

static void test_chunk_across_a_hole(void **state)
{
	struct heapread h;
	uint8_t *m, *a, *b, buf[64];
	uint64_t base;

	(void)state;
	/* Given three pages inside one 64 KiB chunk with the middle one unmapped */
	m = mmap(NULL, 32 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	base = ((uint64_t)(uintptr_t)m + 0xffff) & ~(uint64_t)0xffff;
	if (base + 3 * PAGE > (uint64_t)(uintptr_t)m + 32 * PAGE)
		base = (uint64_t)(uintptr_t)m;
	a = (uint8_t *)(uintptr_t)base;
	b = a + 2 * PAGE;
	fill(a, PAGE, 1);
	fill(b, PAGE, 2);
	assert_int_equal(munmap(a + PAGE, PAGE), 0);
	assert_int_equal(heapread__open(&h, getpid(), 1 << 20), 0);
	assert_int_equal(heapread__refresh(&h), 0);

	/* when the first part is read, then the chunk's second part reads too */
	assert_int_equal(heapread__read(&h, (uint64_t)(uintptr_t)a + 100, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, a + 100, sizeof(buf));
	assert_int_equal(heapread__read(&h, (uint64_t)(uintptr_t)b + 200, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, b + 200, sizeof(buf));
	/* and the hole, or a read running into it, fails */
	assert_false(heapread__mapped(&h, (uint64_t)(uintptr_t)a + PAGE + 8, 8));
	assert_int_equal(heapread__read(&h, (uint64_t)(uintptr_t)a + PAGE + 8, buf, 8), -EFAULT);
	assert_int_equal(heapread__read(&h, (uint64_t)(uintptr_t)a + PAGE - 8, buf, 16), -EFAULT);
	heapread__close(&h);
	munmap(m, 32 * PAGE);
}

static void test_unmapped_fails(void **state)
{
	struct heapread h;
	uint64_t v;

	(void)state;
	assert_int_equal(heapread__open(&h, getpid(), 1 << 20), 0);
	assert_int_equal(heapread__refresh(&h), 0);
	assert_int_equal(heapread__u64(&h, 8, &v), -EFAULT);
	assert_int_equal(heapread__u64(&h, 0x7ff000000000ull - 4096, &v), -EFAULT);
	heapread__close(&h);
}

static void test_gather(void **state)
{
	size_t n = 1 << 20, nrec = n / 512, i, want = 0;
	uint8_t *src = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *at = calloc(nrec + 1, sizeof(*at));
	uint8_t *out = calloc(nrec + 1, 48);
	bool *got = calloc(nrec + 1, sizeof(*got));
	struct heapread h;

	(void)state;
	assert_true(src != MAP_FAILED);
	assert_non_null(at);
	assert_non_null(out);
	assert_non_null(got);
	fill(src, n, 3);
	/* Given 2048 records of 48 bytes 512 apart (two batches and more), one
	 * address outside every mapping, and page 100 unmapped after the
	 * mappings were read (a process_vm_readv stops there mid-batch), */
	for (i = 0; i < nrec; i++)
		at[i] = (uint64_t)(uintptr_t)src + i * 512 + 40;
	at[nrec] = 16;
	assert_int_equal(heapread__open(&h, getpid(), 1 << 20), 0);
	assert_int_equal(heapread__refresh(&h), 0);
	assert_int_equal(munmap(src + 100 * PAGE, PAGE), 0);
	/* when gathered, then every other record equals the memory and only
	 * those are flagged read, in few calls */
	for (i = 0; i <= nrec; i++)
		want += i < nrec && (i * 512) / PAGE != 100;
	assert_int_equal(heapread__gather(&h, at, nrec + 1, 48, out, got), want);
	for (i = 0; i <= nrec; i++) {
		bool on_hole = i < nrec && (i * 512) / PAGE == 100;

		assert_int_equal(got[i], i < nrec && !on_hole);
		if (got[i])
			assert_memory_equal(out + i * 48, src + i * 512 + 40, 48);
	}
	/* two batches, and one call cut short by the hole */
	assert_true(h.syscalls <= 4);
	heapread__close(&h);
	munmap(src, n);
	free(at);
	free(out);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_what_is_there),
		cmocka_unit_test(test_chunk_across_a_hole),
		cmocka_unit_test(test_unmapped_fails),
		cmocka_unit_test(test_gather),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
