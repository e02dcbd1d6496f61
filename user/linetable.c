// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Bytecode offset -> source line for the three CPython line-table formats.
 *
 * The table bytes are copied out of another process and may be truncated,
 * stale or garbage, so every decoder:
 *   - reads only table[0..len), and consumes at least one byte per step, so
 *     it ends after at most len steps;
 *   - answers only from complete entries: an entry cut off by the end of the
 *     buffer, a bad entry header or an oversized varint gives -1;
 *   - keeps addresses and lines in 64 bits and gives -1 when a line leaves
 *     the int range, which real tables never do.
 * Valid data is decoded exactly as PyCode_Addr2Line() of that version does;
 * tests/unit/test_linetable.c checks this against vectors recorded from the
 * real interpreters.
 */
#include <limits.h>
#include <stdbool.h>

#include "linetable.h"

/* The sentinel doubles as "no line", so no real line can be negative. */
static int line_result(int64_t line)
{
	return line >= 0 && line <= INT_MAX ? (int)line : -1;
}

static bool line_in_range(int64_t line)
{
	return line >= INT_MIN && line <= INT_MAX;
}

/*
 * 3.8, 3.9 co_lnotab (Objects/lnotab_notes.txt of those versions): pairs of
 * (unsigned byte-offset increment, signed line increment), applied while
 * the running offset is <= the one looked up. Large increments are split
 * into several pairs, e.g. (255, 0) or (0, 127).
 *
 * The table does not record the code length: an offset past the last pair
 * gets the last line, as CPython itself answers, not -1.
 */
static int lnotab_line(const uint8_t *t, size_t len, int firstlineno,
		       uint32_t offset)
{
	int64_t line = firstlineno;
	uint64_t addr = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		addr += t[i];
		if (addr > offset)
			return line_result(line);
		line += (int8_t)t[i + 1];
		if (!line_in_range(line))
			return -1;
	}
	/* A dangling odd byte may have been the pair that ends this line. */
	if (i < len)
		return -1;
	return line_result(line);
}

/*
 * 3.10 co_linetable (PEP 626, Objects/lnotab_notes.txt of 3.10): pairs of
 * (unsigned range length in bytes, signed line delta). Each pair covers
 * [end, end + length) of the bytecode with the line after the delta; a
 * delta of -128 marks a range with no line and leaves the running line as
 * it was. Zero-length pairs only carry line deltas too large for one byte.
 */
static int pep626_line(const uint8_t *t, size_t len, int firstlineno,
		       uint32_t offset)
{
	int64_t line = firstlineno;
	uint64_t end = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		int8_t delta = (int8_t)t[i + 1];
		bool no_line = delta == -128;

		end += t[i];
		if (!no_line) {
			line += delta;
			if (!line_in_range(line))
				return -1;
		}
		if (offset < end)
			return no_line ? -1 : line_result(line);
	}
	/* Past the end of the code, or cut off mid-pair. */
	return -1;
}

/*
 * 3.11+ location table (Objects/locations.md of 3.11, InternalDocs/ later):
 * entries start with a byte 1CCCCLLL, C the code, L the length in code
 * units minus one; the bytes that follow have bit 7 clear:
 *   0-9    short form: one column byte, line delta 0
 *   10-12  one-line form: line delta code - 10, start and end column bytes
 *   13     no column: svarint line delta
 *   14     long form: svarint line delta, varint end-line delta, varint
 *          column + 1, varint end column + 1
 *   15     no location: no line, running line unchanged
 */
enum {
	LOC_SHORT_MAX	= 9,
	LOC_ONE_LINE0	= 10,
	LOC_ONE_LINE2	= 12,
	LOC_NO_COLUMN	= 13,
	LOC_LONG	= 14,
	LOC_NONE	= 15,
};

/* Chunks of 6 bits, bit 6 = more follow; 6 chunks cover 32 bits. */
#define VARINT_MAX_CHUNKS	6

static int read_varint(const uint8_t *t, size_t len, size_t *pos,
		       uint32_t *val)
{
	uint64_t v = 0;
	int chunk;

	for (chunk = 0; chunk < VARINT_MAX_CHUNKS; chunk++) {
		uint8_t b;

		if (*pos >= len)
			return -1;
		b = t[(*pos)++];
		/* Bit 7 starts the next entry: this one was cut short. */
		if (b & 0x80)
			return -1;
		v |= (uint64_t)(b & 0x3f) << (6 * chunk);
		if (!(b & 0x40)) {
			if (v > UINT32_MAX)
				return -1;
			*val = (uint32_t)v;
			return 0;
		}
	}
	return -1;
}

/* Low bit is the sign, the magnitude is above it (not two's complement). */
static int read_svarint(const uint8_t *t, size_t len, size_t *pos,
			int64_t *val)
{
	uint32_t u;

	if (read_varint(t, len, pos, &u))
		return -1;
	*val = u & 1 ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
	return 0;
}

/* Column bytes: only their presence and bit 7 matter for the line. */
static int skip_bytes(const uint8_t *t, size_t len, size_t *pos, size_t n)
{
	for (; n; n--) {
		if (*pos >= len || (t[*pos] & 0x80))
			return -1;
		(*pos)++;
	}
	return 0;
}

static int locations_line(const uint8_t *t, size_t len, int firstlineno,
			  uint32_t offset)
{
	int64_t line = firstlineno;
	uint64_t end = 0;
	size_t pos = 0;

	while (pos < len) {
		uint8_t head = t[pos++];
		int code = (head >> 3) & 0xf;
		int64_t delta = 0;
		uint32_t skip;
		int err;

		if (!(head & 0x80))
			return -1;
		/* Lengths count 2-byte code units; offsets are bytes. */
		end += ((head & 0x7) + 1) * 2;

		if (code <= LOC_SHORT_MAX) {
			err = skip_bytes(t, len, &pos, 1);
		} else if (code <= LOC_ONE_LINE2) {
			delta = code - LOC_ONE_LINE0;
			err = skip_bytes(t, len, &pos, 2);
		} else if (code == LOC_NO_COLUMN) {
			err = read_svarint(t, len, &pos, &delta);
		} else if (code == LOC_LONG) {
			err = read_svarint(t, len, &pos, &delta) ||
			      read_varint(t, len, &pos, &skip) ||
			      read_varint(t, len, &pos, &skip) ||
			      read_varint(t, len, &pos, &skip);
		} else {
			err = 0;
		}
		if (err)
			return -1;

		line += delta;
		if (!line_in_range(line))
			return -1;
		if (offset < end)
			return code == LOC_NONE ? -1 : line_result(line);
	}
	/* Past the end of the code. */
	return -1;
}

int linetable__line(enum linetable_kind kind, const uint8_t *table, size_t len,
		    int firstlineno, uint32_t offset)
{
	if (!table && len)
		return -1;

	switch (kind) {
	case LINETABLE_LNOTAB:
		return lnotab_line(table, len, firstlineno, offset);
	case LINETABLE_PEP626:
		return pep626_line(table, len, firstlineno, offset);
	case LINETABLE_LOCATIONS:
		return locations_line(table, len, firstlineno, offset);
	}
	return -1;
}
