// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * linetable__line() against line tables recorded from the real interpreters
 * (tests/unit/linetable_vectors.h, made by tools/gen-linetable-vectors.py),
 * the worked examples of CPython's own format notes, and malformed input.
 *
 * Tables are copied into heap buffers of their exact length so that running
 * this binary under valgrind catches any read past the end.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "linetable.h"
#include "linetable_vectors.h"

#define NR_VECTORS	(sizeof(lt_vectors) / sizeof(lt_vectors[0]))
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_REPORTED	20

static uint8_t *heap_copy(const uint8_t *src, size_t len)
{
	uint8_t *p;

	if (!len)
		return NULL;
	p = malloc(len);
	assert_non_null(p);
	memcpy(p, src, len);
	return p;
}

static int line_of(enum linetable_kind kind, const uint8_t *table, size_t len,
		   int firstlineno, uint32_t offset)
{
	uint8_t *copy = heap_copy(table, len);
	int line = linetable__line(kind, copy, len, firstlineno, offset);

	free(copy);
	return line;
}

/*
 * Given every code object recorded from every interpreter, when each
 * instruction offset is decoded, then the line is the one the interpreter
 * itself reported; offsets past the code give -1 for 3.10+ tables.
 */
static void test_recorded_vectors_decode_to_recorded_lines(void **state)
{
	unsigned long failures = 0, version_offsets = 0, version_funcs = 0;
	const char *version = NULL;
	size_t v, r;

	for (v = 0; v < NR_VECTORS; v++) {
		const struct lt_vector *vec = &lt_vectors[v];
		uint8_t *table = heap_copy(vec->table, vec->len);
		uint32_t off;
		int seen;

		if (!version || strcmp(version, vec->version)) {
			if (version)
				print_message("%-14s %3lu code objects, %5lu offsets decoded\n",
					      version, version_funcs, version_offsets);
			version = vec->version;
			version_funcs = version_offsets = 0;
		}
		version_funcs++;

		for (r = 0; r < vec->nr_runs; r++) {
			const struct lt_run *run = &vec->runs[r];

			for (off = run->start; off < run->end; off += 2) {
				seen = linetable__line(vec->kind, table, vec->len,
						       vec->firstlineno, off);
				version_offsets++;
				if (seen == run->line)
					continue;
				if (failures++ < MAX_REPORTED)
					print_error("%s %s offset %u: expected line %d, seen %d\n",
						    vec->version, vec->func, off,
						    run->line, seen);
			}
		}

		/* co_lnotab has no end: CPython too answers with the last line. */
		if (vec->kind != LINETABLE_LNOTAB) {
			uint32_t past[] = { vec->code_len, vec->code_len + 2, UINT32_MAX };

			for (r = 0; r < ARRAY_SIZE(past); r++) {
				seen = linetable__line(vec->kind, table, vec->len,
						       vec->firstlineno, past[r]);
				if (seen != -1 && failures++ < MAX_REPORTED)
					print_error("%s %s offset %u past the code (%u bytes): expected -1, seen %d\n",
						    vec->version, vec->func, past[r],
						    vec->code_len, seen);
			}
		}
		free(table);
	}
	if (version)
		print_message("%-14s %3lu code objects, %5lu offsets decoded\n",
			      version, version_funcs, version_offsets);

	if (failures)
		fail_msg("%lu recorded offsets decoded to the wrong line", failures);
}

/* Sum of the offset increments of the complete pairs in t[0..k). */
static uint64_t pairs_end(const uint8_t *t, size_t k)
{
	uint64_t end = 0;
	size_t i;

	for (i = 0; i + 1 < k; i += 2)
		end += t[i];
	return end;
}

/*
 * Given a recorded table cut short at some length k (a partial read from the
 * target), when an offset is decoded, then:
 *   - co_lnotab / PEP 626: offsets the complete pairs still cover decode
 *     exactly; beyond them PEP 626 and odd-length co_lnotab give -1;
 *   - location table: the answer is the recorded line or -1, never another
 *     line, and at least some covered offsets still decode.
 */
static void test_truncated_recorded_tables_never_give_a_wrong_line(void **state)
{
	unsigned long failures = 0, exact = 0;
	size_t v, r;

	for (v = 0; v < NR_VECTORS; v++) {
		const struct lt_vector *vec = &lt_vectors[v];
		/* Every cut for small tables, about 128 cuts for large ones. */
		size_t k, step = vec->len / 128 + 1;

		for (k = 0; k < vec->len; k += step) {
			uint8_t *table = heap_copy(vec->table, k);
			uint64_t covered = pairs_end(vec->table, k);

			for (r = 0; r < vec->nr_runs; r++) {
				const struct lt_run *run = &vec->runs[r];
				uint32_t offs[] = { run->start, run->end - 2 };
				size_t o;

				for (o = 0; o < ARRAY_SIZE(offs); o++) {
					uint32_t off = offs[o];
					int seen = linetable__line(vec->kind, table, k,
								   vec->firstlineno, off);
					int want;

					if (vec->kind == LINETABLE_LOCATIONS) {
						if (seen == run->line)
							exact++;
						else if (seen != -1 && failures++ < MAX_REPORTED)
							print_error("%s %s cut at %zu/%zu, offset %u: expected %d or -1, seen %d\n",
								    vec->version, vec->func, k, vec->len,
								    off, run->line, seen);
						continue;
					}
					if (off < covered)
						want = run->line;
					else if (vec->kind == LINETABLE_PEP626 || (k & 1))
						want = -1;
					else
						continue;	/* lnotab: undetectable */
					if (seen == want) {
						exact += want == run->line;
						continue;
					}
					if (failures++ < MAX_REPORTED)
						print_error("%s %s cut at %zu/%zu, offset %u: expected %d, seen %d\n",
							    vec->version, vec->func, k, vec->len,
							    off, want, seen);
				}
			}
			free(table);
		}
	}
	print_message("truncated tables: %lu offsets still decoded exactly\n", exact);
	assert_true(exact > 0);
	if (failures)
		fail_msg("%lu decodes of truncated tables were wrong", failures);
}

struct expect {
	uint32_t offset;
	int line;
};

static void check_table(const char *what, enum linetable_kind kind,
			const uint8_t *t, size_t len, int firstlineno,
			const struct expect *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int seen = line_of(kind, t, len, firstlineno, e[i].offset);

		if (seen != e[i].line)
			fail_msg("%s offset %u: expected line %d, seen %d",
				 what, e[i].offset, e[i].line, seen);
	}
}

/*
 * Given the worked example of Objects/lnotab_notes.txt (3.8): offsets 0, 6,
 * 50, 350, 361 start lines 1, 2, 7, 207, 208, encoded with the split pairs
 * (255, 0) and (45, 127), (0, 73) the notes prescribe; then every offset
 * maps to the last line start at or before it.
 */
static void test_lnotab_notes_example(void **state)
{
	static const uint8_t t[] = {
		6, 1,  44, 5,  255, 0,  45, 127,  0, 73,  11, 1,
	};
	static const struct expect e[] = {
		{ 0, 1 }, { 5, 1 }, { 6, 2 }, { 49, 2 }, { 50, 7 }, { 304, 7 },
		{ 305, 7 }, { 349, 7 }, { 350, 207 }, { 360, 207 }, { 361, 208 },
		/* No code length in co_lnotab: the last line runs on. */
		{ 100000, 208 },
	};

	check_table("lnotab_notes example", LINETABLE_LNOTAB, t, sizeof(t), 1,
		    e, ARRAY_SIZE(e));
}

/*
 * Given a 3.10 table with a -128 "no line" range and a +200 line jump split
 * into (0, 127), (2, 73), then the no-line range gives -1 without moving the
 * running line, and offsets past the last range give -1.
 */
static void test_pep626_no_line_and_split_delta(void **state)
{
	static const uint8_t t[] = {
		2, 0,		/* [0, 2)   line 10 */
		4, 3,		/* [2, 6)   line 13 */
		2, 0x80,	/* [6, 8)   no line (-128) */
		0, 127,		/* carries +127 */
		2, 73,		/* [8, 10)  line 213 */
		2, 0xfb,	/* [10, 12) line 208 (-5) */
	};
	static const struct expect e[] = {
		{ 0, 10 }, { 1, 10 }, { 2, 13 }, { 4, 13 }, { 6, -1 }, { 7, -1 },
		{ 8, 213 }, { 10, 208 }, { 12, -1 }, { UINT32_MAX, -1 },
	};

	check_table("PEP 626 example", LINETABLE_PEP626, t, sizeof(t), 10,
		    e, ARRAY_SIZE(e));
}

/*
 * Given one entry of every 3.11 location kind, with the varint examples of
 * Objects/locations.md (200 = 0x48 0x03, svarint +100), then each covers its code units
 * with its line, "no location" gives -1 and leaves the running line alone.
 */
static void test_locations_every_entry_kind(void **state)
{
	static const uint8_t t[] = {
		0xf0, 0x48, 0x03, 0x00, 0x01, 0x01,	/* long, +100, 1 unit */
		0xe8, 0x03,			/* no column, -1, 1 unit */
		0xf8,				/* no location, 1 unit */
		0xe0, 0x00, 0x05,		/* one line, +2, 1 unit */
		0x81, 0x05,			/* short, +0, 2 units */
		0xd2, 0x04, 0x08,		/* one line, +0, 3 units */
		0xf8 | 7,			/* no location, 8 units */
		0xda, 0x00, 0x01,		/* one line, +1, 3 units */
	};
	static const struct expect e[] = {
		{ 0, 1100 }, { 1, 1100 }, { 2, 1099 }, { 4, -1 }, { 6, 1101 },
		{ 8, 1101 }, { 10, 1101 }, { 12, 1101 }, { 16, 1101 },
		{ 18, -1 }, { 33, -1 }, { 34, 1102 }, { 38, 1102 },
		{ 40, -1 }, { UINT32_MAX, -1 },
	};

	check_table("locations example", LINETABLE_LOCATIONS, t, sizeof(t),
		    1000, e, ARRAY_SIZE(e));
}

/* Given the documented varint examples, 63 = 0x3f and 200 = 0x48 0x03. */
static void test_locations_varint_examples(void **state)
{
	/* No-column entries: svarint 63 is -31, svarint 200 is +100. */
	static const uint8_t t[] = { 0xe8, 0x3f, 0xe8, 0x48, 0x03 };
	static const struct expect e[] = { { 0, 69 }, { 2, 169 }, { 4, -1 } };

	check_table("varint examples", LINETABLE_LOCATIONS, t, sizeof(t), 100,
		    e, ARRAY_SIZE(e));
}

/*
 * Given inputs no interpreter writes (bad kind, missing or cut-off bytes,
 * endless or oversized varints, lines out of range), then the answer is -1
 * and nothing is read past the buffer.
 */
static void test_malformed_tables_give_minus_one(void **state)
{
	static const uint8_t some[] = { 0x80, 0x00 };
	/* Entry header without bit 7. */
	static const uint8_t no_head[] = { 0x05, 0x80, 0x00 };
	/* Short form cut before its column byte. */
	static const uint8_t short_cut[] = { 0x80 };
	/* One-line form whose column bytes run into the next entry. */
	static const uint8_t one_line_cut[] = { 0xd0, 0x01, 0x80, 0x00 };
	/* Long form cut after its line delta. */
	static const uint8_t long_cut[] = { 0xf0, 0x02 };
	/* A varint that never ends before the buffer does. */
	static const uint8_t endless[] = { 0xe8, 0x7f, 0x7f, 0x7f, 0x7f };
	/* Seven chunks: more than 32 bits. */
	static const uint8_t too_long[] = { 0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x00 };
	/* Six chunks whose value exceeds 32 bits. */
	static const uint8_t too_big[] = { 0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x3f };
	/* Two deltas of +2^30: from line 1 the second overflows an int. */
	static const uint8_t overflow[] = {
		0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x02,
		0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x02,
	};
	/* Lines below zero: 1 - 10. */
	static const uint8_t lnotab_neg[] = { 2, 0xf6 };
	static const uint8_t pep626_neg[] = { 2, 0xf6 };
	static const uint8_t loc_neg[] = { 0xe8, 0x15 };
	/* Dangling odd byte. */
	static const uint8_t odd[] = { 2, 1, 2 };

	assert_int_equal(line_of(0, some, sizeof(some), 1, 0), -1);
	assert_int_equal(line_of(99, some, sizeof(some), 1, 0), -1);
	assert_int_equal(linetable__line(LINETABLE_LNOTAB, NULL, 4, 1, 0), -1);
	assert_int_equal(linetable__line(LINETABLE_PEP626, NULL, 4, 1, 0), -1);
	assert_int_equal(linetable__line(LINETABLE_LOCATIONS, NULL, 4, 1, 0), -1);

	/* Empty tables: only co_lnotab means "all on the first line". */
	assert_int_equal(linetable__line(LINETABLE_LNOTAB, NULL, 0, 7, 0), 7);
	assert_int_equal(linetable__line(LINETABLE_PEP626, NULL, 0, 7, 0), -1);
	assert_int_equal(linetable__line(LINETABLE_LOCATIONS, NULL, 0, 7, 0), -1);

	assert_int_equal(line_of(LINETABLE_LOCATIONS, no_head, sizeof(no_head), 1, 0), -1);
	assert_int_equal(line_of(LINETABLE_LOCATIONS, short_cut, sizeof(short_cut), 1, 0), -1);
	assert_int_equal(line_of(LINETABLE_LOCATIONS, one_line_cut, sizeof(one_line_cut), 1, 0), -1);
	assert_int_equal(line_of(LINETABLE_LOCATIONS, long_cut, sizeof(long_cut), 1, 0), -1);
	assert_int_equal(line_of(LINETABLE_LOCATIONS, endless, sizeof(endless), 1, 0), -1);
	assert_int_equal(line_of(LINETABLE_LOCATIONS, too_long, sizeof(too_long), 1, 0), -1);
	assert_int_equal(line_of(LINETABLE_LOCATIONS, too_big, sizeof(too_big), 1, 0), -1);
	/* The first entry alone fits from line 1, not from INT_MAX - 1. */
	assert_int_equal(line_of(LINETABLE_LOCATIONS, overflow, sizeof(overflow), 1, 0),
			 1 + (1 << 30));
	assert_int_equal(line_of(LINETABLE_LOCATIONS, overflow, sizeof(overflow), 1, 2), -1);
	assert_int_equal(line_of(LINETABLE_LOCATIONS, overflow, sizeof(overflow),
				 INT_MAX - 1, 0), -1);

	assert_int_equal(line_of(LINETABLE_LNOTAB, lnotab_neg, sizeof(lnotab_neg), 1, 0), 1);
	assert_int_equal(line_of(LINETABLE_LNOTAB, lnotab_neg, sizeof(lnotab_neg), 1, 2), -1);
	assert_int_equal(line_of(LINETABLE_PEP626, pep626_neg, sizeof(pep626_neg), 1, 0), -1);
	assert_int_equal(line_of(LINETABLE_LOCATIONS, loc_neg, sizeof(loc_neg), 1, 0), -1);

	/* Offsets the complete pairs answer still decode; the rest do not. */
	assert_int_equal(line_of(LINETABLE_LNOTAB, odd, sizeof(odd), 1, 1), 1);
	assert_int_equal(line_of(LINETABLE_LNOTAB, odd, sizeof(odd), 1, 2), -1);
	assert_int_equal(line_of(LINETABLE_PEP626, odd, sizeof(odd), 1, 1), 2);
	assert_int_equal(line_of(LINETABLE_PEP626, odd, sizeof(odd), 1, 2), -1);
}

/* xorshift64: fixed seed, so a failure reproduces. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/*
 * Given random bytes (half with bit 7 set, so location entries parse deep),
 * random lengths and offsets, then every kind returns -1 or a line >= 0
 * without reading past the buffer (run under valgrind to see the latter).
 */
static void test_garbage_never_crashes(void **state)
{
	static const enum linetable_kind kinds[] = {
		LINETABLE_LNOTAB, LINETABLE_PEP626, LINETABLE_LOCATIONS,
	};
	unsigned long answered = 0;
	int i;

	for (i = 0; i < 20000; i++) {
		size_t len = rnd() % 96, j;
		uint8_t *t = len ? malloc(len) : NULL;
		uint32_t off = rnd() % 3 ? (uint32_t)(rnd() % 512) : (uint32_t)rnd();
		int line;

		for (j = 0; j < len; j++)
			t[j] = (uint8_t)(rnd() | (rnd() & 1 ? 0x80 : 0));
		line = linetable__line(kinds[i % 3], t, len,
				       (int)(rnd() % 100000), off);
		if (line < -1)
			fail_msg("garbage table (kind %d, %zu bytes, offset %u): expected -1 or a line, seen %d",
				 kinds[i % 3], len, off, line);
		answered += line >= 0;
		free(t);
	}
	print_message("garbage: %lu of 20000 random tables gave a line\n", answered);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded_vectors_decode_to_recorded_lines),
		cmocka_unit_test(test_truncated_recorded_tables_never_give_a_wrong_line),
		cmocka_unit_test(test_lnotab_notes_example),
		cmocka_unit_test(test_pep626_no_line_and_split_delta),
		cmocka_unit_test(test_locations_every_entry_kind),
		cmocka_unit_test(test_locations_varint_examples),
		cmocka_unit_test(test_malformed_tables_give_minus_one),
		cmocka_unit_test(test_garbage_never_crashes),
	};

	return cmocka_run_group_tests_name("linetable", tests, NULL, NULL);
}
