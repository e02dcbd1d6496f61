/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Bytecode offset -> source line, per CPython line-table format. */
#ifndef __LINETABLE_H
#define __LINETABLE_H

#include <stddef.h>
#include <stdint.h>

enum linetable_kind {
	LINETABLE_LNOTAB = 1,	/* 3.8, 3.9: co_lnotab (byte incr, signed line incr) */
	LINETABLE_PEP626,	/* 3.10: co_linetable (start delta, line delta; -128 = none) */
	LINETABLE_LOCATIONS,	/* 3.11+: co_linetable location table (PEP 657) */
};

/*
 * Return the line of the instruction at byte offset `offset` in the code
 * object's bytecode, given its line table bytes and co_firstlineno, or -1
 * when the table says the instruction has no line (or is malformed).
 */
int linetable__line(enum linetable_kind kind, const uint8_t *table, size_t len,
		    int firstlineno, uint32_t offset);

#endif /* __LINETABLE_H */
