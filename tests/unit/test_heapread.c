// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/heapread.c against this very process (the real kernel's
 * process_vm_readv on our own pid): what it reads equals the memory, a
 * 64 KiB chunk that spans two mappings with a hole between is read in
 * both parts, and the hole, unmapped memory and reads across it fail.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_what_is_there),
		cmocka_unit_test(test_chunk_across_a_hole),
		cmocka_unit_test(test_unmapped_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
