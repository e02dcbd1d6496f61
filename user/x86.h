/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* x86-64 decoding for attach decisions, on top of Zydis. */
#ifndef __X86_H
#define __X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Argument registers an entry program reads (bit per register). */
#define X86_ARG_RDI	(1u << 0)
#define X86_ARG_RSI	(1u << 1)
#define X86_ARG_RDX	(1u << 2)
#define X86_ARG_RCX	(1u << 3)

/* True if the kernel's uprobe code emulates the instruction at code[0]
 * (push reg, jmp/jcc rel, call rel, nop) instead of single-stepping it
 * out of line: on this kernel 0.6 us against 10.5 us a hit. */
bool x86__insn_emulated(const uint8_t *code, size_t len);

/*
 * Choose where to put a uprobe (and uretprobe) for the function whose
 * bytes start at code[0] (loaded at vaddr). Returns the byte offset of the
 * first instruction the kernel emulates such that every instruction
 * before it is straight-line, leaves rsp and the registers in live_args
 * untouched, and no direct branch in code[0..len) targets the skipped
 * prologue. Returns 0 (the entry) when there is no such instruction
 * within the first few; *emulated says whether the chosen one is
 * emulated. len should cover the function (or a few KiB when unknown).
 */
int x86__attach_offset(const uint8_t *code, size_t len, uint64_t vaddr,
		       unsigned int live_args, bool *emulated);

/* One operand of interest found by x86__scan(). */
enum x86_ref_kind {
	X86_REF_LOAD,	/* mov reg, [mem]: dst = loaded register */
	X86_REF_LEA,	/* lea reg, [mem] */
	X86_REF_MEM,	/* any other memory operand (cmp, jmp *, call *) */
	X86_REF_IMM,	/* an immediate operand (value in disp) */
};

#define X86_BASE_RIP	(-1)	/* addr is absolute (rip-relative resolved) */
#define X86_BASE_NONE	(-2)	/* no base register (absolute disp, or fs:disp) */

struct x86_ref {
	uint32_t insn_off;	/* offset of the instruction from code[0] */
	enum x86_ref_kind kind;
	int base;		/* X86_BASE_*, or a register number 0..15 (rax..r15) */
	int dst;		/* X86_REF_LOAD/LEA: destination register 0..15, else -1 */
	bool fs;		/* fs segment override (local-exec TLS) */
	int64_t disp;		/* displacement, or the immediate */
	uint64_t addr;		/* base == X86_BASE_RIP: the absolute address */
};

#define X86_SCAN_STOP_AT_JMP	(1u << 0)	/* stop after the first jmp/ret */

/* Decode from code[0] and list memory/immediate operands, up to max refs.
 * Stops at ret, at the end of len, at an undecodable byte, and with
 * X86_SCAN_STOP_AT_JMP after the first unconditional jmp (tail call).
 * Returns the number of refs written. */
int x86__scan(const uint8_t *code, size_t len, uint64_t vaddr, unsigned int flags,
	      struct x86_ref *refs, int max);

/* Count instructions in code that compare against, or take the address
 * of, target: the guards a PGO build puts in front of an inlined copy of
 * an allocator (`cmp $target, %rax`, `lea target(%rip), %rdx`). Direct
 * calls and jumps to target are not counted. */
int x86__count_guards(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t target);

#endif /* __X86_H */
