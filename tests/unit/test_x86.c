// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of user/x86.c: the kernel's emulation rule on hand-assembled
 * instructions, the attach-point choice, the operand scan and the guard
 * count, then the same functions on the real binaries of this machine
 * (glibc, Debian's python3.11, every pyenv 3.8..3.13 libpython), read
 * from the ELF files with libelf.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <gelf.h>

#include "x86.h"

/* Hardware register numbers, as struct x86_ref reports them. */
#define REG_RAX	0
#define REG_RCX	1
#define REG_RBX	3
#define REG_RDI	7

#define LIBC		"/lib/x86_64-linux-gnu/libc.so.6"
#define DEBIAN_PY	"/usr/bin/python3.11"

/* Fail with both values when seen != want. */
#define check_eq(seen, want, what, ...) do {					\
	long long __s = (long long)(seen), __w = (long long)(want);		\
	if (__s != __w)								\
		fail_msg("%s:%d: " what ": expected %lld (%#llx), seen %lld (%#llx)", \
			 __FILE__, __LINE__, ##__VA_ARGS__, __w, __w, __s, __s); \
} while (0)

#define check_true(cond, what, ...) do {					\
	if (!(cond))								\
		fail_msg("%s:%d: " what ": expected true, seen false (%s)",	\
			 __FILE__, __LINE__, ##__VA_ARGS__, #cond);		\
} while (0)

#define check_false(cond, what, ...) do {					\
	if (cond)								\
		fail_msg("%s:%d: " what ": expected false, seen true (%s)",	\
			 __FILE__, __LINE__, ##__VA_ARGS__, #cond);		\
} while (0)

#define B(...)	((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

/* ------------------------------------------------------------------ */
/* x86__insn_emulated: arch_uprobe_analyze_insn() on 6.18 */

static bool emulated(const uint8_t *code, size_t len)
{
	return x86__insn_emulated(code, len);
}

static void test_emulated_push(void **state)
{
	/* push_setup_xol_ops(): push reg, and 41 + push for r8..r15 */
	check_true(emulated(B(0x53)), "push %%rbx");
	check_true(emulated(B(0x55)), "push %%rbp");
	check_true(emulated(B(0x41, 0x54)), "push %%r12 (REX.B 0x41)");
	check_true(emulated(B(0x41, 0x57)), "push %%r15 (REX.B 0x41)");
	/* any other 2-byte push is single-stepped */
	check_false(emulated(B(0x48, 0x50)), "REX.W push %%rax (rex 0x48, not 0x41)");
	check_false(emulated(B(0x66, 0x50)), "push %%ax (0x66)");
	check_false(emulated(B(0xff, 0x35, 0, 0, 0, 0)), "push mem");
	check_false(emulated(B(0x5b)), "pop %%rbx");
}

static void test_emulated_branches(void **state)
{
	/* branch_setup_xol_ops(): jmp rel8/rel32, call rel32, jcc rel8/rel32 */
	check_true(emulated(B(0xeb, 0x05)), "jmp rel8");
	check_true(emulated(B(0xe9, 0x10, 0, 0, 0)), "jmp rel32");
	check_true(emulated(B(0xe8, 0x10, 0, 0, 0)), "call rel32");
	check_true(emulated(B(0x74, 0x7b)), "je rel8");
	check_true(emulated(B(0x7f, 0x02)), "jg rel8");
	check_true(emulated(B(0x0f, 0x84, 0xcf, 1, 0, 0)), "je rel32");
	check_true(emulated(B(0x0f, 0x8f, 0, 0, 0, 0)), "jg rel32");
	check_true(emulated(B(0xf2, 0xe9, 0, 0, 0, 0)), "bnd jmp rel32 (0xf2 is allowed)");
	/* 16-bit overrides are refused (-ENOTSUPP) */
	check_false(emulated(B(0x66, 0xe8, 0, 0)), "callw (0x66)");
	check_false(emulated(B(0x66, 0x0f, 0x84, 0, 0)), "0x66 jcc rel16");
	check_false(emulated(B(0x66, 0x66, 0x48, 0xe8, 0, 0, 0, 0)),
		    "data16 data16 rex.W call (3.12 __tls_get_addr call)");
	/* branch hints are cs/ds prefixes: is_prefix_bad() refuses the probe */
	check_false(emulated(B(0x2e, 0x74, 0x05)), "cs-hinted je");
	check_false(emulated(B(0x3e, 0x74, 0x05)), "ds-hinted je");
	/* indirect and returns go out of line */
	check_false(emulated(B(0xff, 0xe0)), "jmp *%%rax");
	check_false(emulated(B(0xff, 0x25, 0, 0, 0, 0)), "jmp *(%%rip)");
	check_false(emulated(B(0xff, 0xd0)), "call *%%rax");
	check_false(emulated(B(0xc3)), "ret");
	check_false(emulated(B(0xe3, 0x02)), "jrcxz");
	check_false(emulated(B(0xe2, 0x02)), "loop");
}

static void test_emulated_nops(void **state)
{
	/* x86_nops[1..8] compared bytewise, then "prefix* + nop" (opcode 0x90) */
	check_true(emulated(B(0x90)), "nop");
	check_true(emulated(B(0x66, 0x90)), "xchg %%ax,%%ax");
	check_true(emulated(B(0x0f, 0x1f, 0x00)), "nop3");
	check_true(emulated(B(0x0f, 0x1f, 0x40, 0x00)), "nop4");
	check_true(emulated(B(0x0f, 0x1f, 0x44, 0x00, 0x00)), "nop5 (optimized on 6.18)");
	check_true(emulated(B(0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00)), "nop6");
	check_true(emulated(B(0x0f, 0x1f, 0x80, 0, 0, 0, 0)), "nop7");
	check_true(emulated(B(0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0)), "nop8");
	/* 6.18 takes any opcode 0x90, so pause and even xchg %r8d,%eax */
	check_true(emulated(B(0xf3, 0x90)), "pause (f3 90) on 6.18");
	check_true(emulated(B(0x41, 0x90)), "41 90 on 6.18 (is xchg %%r8d,%%eax)");
	/* nopl forms that are not the kernel's own bytes are stepped */
	check_false(emulated(B(0x0f, 0x1f, 0x44, 0x00, 0x01)), "nopl 0x1(%%rax,%%rax,1)");
	check_false(emulated(B(0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0)), "nopw 9 bytes");
	check_false(emulated(B(0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0)),
		    "cs nopw (cs prefix refused)");
}

static void test_emulated_others(void **state)
{
	check_false(emulated(B(0x48, 0x89, 0xf7)), "mov %%rsi,%%rdi");
	check_false(emulated(B(0x48, 0x8d, 0x46, 0xff)), "lea -0x1(%%rsi),%%rax");
	check_false(emulated(B(0x48, 0x85, 0xf6)), "test %%rsi,%%rsi");
	check_false(emulated(B(0x48, 0x83, 0xec, 0x18)), "sub $0x18,%%rsp");
	check_false(emulated(B(0xf3, 0x0f, 0x1e, 0xfa)), "endbr64");
	check_false(emulated(B(0xe8, 0x00, 0x00)), "call rel32 cut short (3 of 5 bytes)");
	check_false(emulated(B(0x06)), "invalid opcode 0x06");
	check_false(x86__insn_emulated((const uint8_t *)"\x53", 0), "empty buffer");
}

/* ------------------------------------------------------------------ */
/* x86__attach_offset on hand-assembled prologues */

static int attach(const uint8_t *code, size_t len, unsigned int live, bool *emul)
{
	return x86__attach_offset(code, len, 0x1000, live, emul);
}

static void test_attach_skips_to_emulated(void **state)
{
	bool emul = false;

	/* 3.9-3.11 _PyObject_Malloc: lea -0x1(%rsi),%rax; push %rbx; mov %rsi,%rbx */
	check_eq(attach(B(0x48, 0x8d, 0x46, 0xff, 0x53, 0x48, 0x89, 0xf3), X86_ARG_RSI, &emul),
		 4, "lea; push: offset");
	check_true(emul, "lea; push: push is emulated");

	/* _PyObject_Free: test %rsi,%rsi; je rel32 */
	check_eq(attach(B(0x48, 0x85, 0xf6, 0x0f, 0x84, 0x10, 0, 0, 0), X86_ARG_RSI, &emul),
		 3, "test; je: offset");
	check_true(emul, "test; je: je is emulated");

	/* _PyMem_RawFree: mov %rsi,%rdi; jmp rel32; the mov writes rdi only */
	check_eq(attach(B(0x48, 0x89, 0xf7, 0xe9, 0x10, 0, 0, 0), X86_ARG_RSI, &emul),
		 3, "mov %%rsi,%%rdi; jmp with rsi live");
	check_eq(attach(B(0x48, 0x85, 0xf6, 0xe8, 0x10, 0, 0, 0), X86_ARG_RSI, &emul),
		 3, "test; call rel32");

	/* entry already emulated: stay there */
	emul = false;
	check_eq(attach(B(0x41, 0x54, 0x55), X86_ARG_RDI, &emul), 0, "push %%r12 at entry");
	check_true(emul, "push %%r12 at entry is emulated");
}

static void test_attach_endbr64(void **state)
{
	bool emul = false;

	check_eq(attach(B(0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5), X86_ARG_RDI, &emul),
		 4, "endbr64; push %%rbp");
	check_true(emul, "endbr64; push %%rbp: emulated");
	check_eq(attach(B(0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x8d, 0x46, 0xff, 0x53), X86_ARG_RSI, &emul),
		 8, "endbr64; lea; push");
}

static void test_attach_rsp_write_blocks(void **state)
{
	bool emul = true;

	/* Debian _PyObject_Malloc shape: lea; sub $0x18,%rsp; cmp; ja */
	check_eq(attach(B(0x48, 0x8d, 0x46, 0xff, 0x48, 0x83, 0xec, 0x18,
			  0x48, 0x3d, 0xff, 0x01, 0, 0, 0x77, 0x10), X86_ARG_RSI, &emul),
		 0, "sub $0x18,%%rsp before ja");
	check_false(emul, "entry lea is not emulated");

	/* lea -8(%rsp),%rsp and an implicit write (pop) block too */
	check_eq(attach(B(0x48, 0x8d, 0x64, 0x24, 0xf8, 0x53), 0, &emul), 0, "lea -8(%%rsp),%%rsp");
	check_eq(attach(B(0x48, 0x89, 0xf8, 0x5b, 0x53), 0, &emul), 0, "mov; pop %%rbx");
	/* a store could clobber what the return probe or the entry program reads */
	check_eq(attach(B(0x48, 0x89, 0x3c, 0x24, 0x53), 0, &emul), 0, "mov %%rdi,(%%rsp)");
}

static void test_attach_live_register_blocks(void **state)
{
	bool emul = true;
	/* lea -0x1(%rsi),%esi; push %rbx: writes esi, so rsi */
	const uint8_t *c = (const uint8_t[]){ 0x8d, 0x76, 0xff, 0x53 };

	check_eq(x86__attach_offset(c, 4, 0x1000, X86_ARG_RSI, &emul), 0, "esi write with rsi live");
	check_false(emul, "esi write with rsi live: entry lea not emulated");
	check_eq(x86__attach_offset(c, 4, 0x1000, X86_ARG_RDI, &emul), 3, "esi write with rdi live");
	check_true(emul, "esi write with rdi live: push emulated");

	/* mov %rsi,%rdi; jmp: fine for rsi, not when rdi is live */
	check_eq(attach(B(0x48, 0x89, 0xf7, 0xe9, 0x10, 0, 0, 0), X86_ARG_RDI, &emul),
		 0, "mov %%rsi,%%rdi with rdi live");
	/* byte and word writes count: mov $1,%dl / xchg %cx,%cx */
	check_eq(attach(B(0xb2, 0x01, 0x53), X86_ARG_RDX, &emul), 0, "mov $1,%%dl with rdx live");
	check_eq(attach(B(0xb2, 0x01, 0x53), X86_ARG_RCX, &emul), 2, "mov $1,%%dl with rcx live");
	/* hidden writes: cpuid writes eax/ebx/ecx/edx */
	check_eq(attach(B(0x0f, 0xa2, 0x53), X86_ARG_RCX, &emul), 0, "cpuid with rcx live");
	check_eq(attach(B(0x0f, 0xa2, 0x53), X86_ARG_RDI, &emul), 2, "cpuid with rdi live");
}

static void test_attach_flow_and_limits(void **state)
{
	bool emul = true;
	uint8_t many[8 * 3 + 1];
	int i;

	/* ret and indirect jumps are not straight-line */
	check_eq(attach(B(0x48, 0x89, 0xf8, 0xc3, 0x53), 0, &emul), 0, "mov; ret; push");
	check_eq(attach(B(0x48, 0x89, 0xf8, 0xff, 0xe0, 0x53), 0, &emul), 0, "mov; jmp *%%rax; push");

	/* 41 90 is emulated as a nop by 6.18 but is xchg: skip it, choose the push */
	check_eq(attach(B(0x48, 0x8d, 0x46, 0xff, 0x41, 0x90, 0x53), X86_ARG_RSI, &emul),
		 6, "lea; xchg %%r8d,%%eax; push");

	/* no emulated instruction among the first 8: entry */
	for (i = 0; i < 8; i++)
		memcpy(many + 3 * i, "\x48\x85\xf6", 3);	/* test %rsi,%rsi */
	many[24] = 0x53;
	check_eq(x86__attach_offset(many, sizeof(many), 0x1000, X86_ARG_RSI, &emul),
		 0, "push as 9th instruction");
	check_false(emul, "push as 9th instruction: entry test not emulated");
	many[21] = 0x53;
	check_eq(x86__attach_offset(many, 22, 0x1000, X86_ARG_RSI, &emul),
		 21, "push as 8th instruction");

	/* nothing after the prologue */
	check_eq(attach(B(0x48, 0x8d, 0x46, 0xff), X86_ARG_RSI, &emul), 0, "lea only");
	check_false(emul, "lea only: not emulated");
}

static void test_attach_branch_into_prologue(void **state)
{
	bool emul = true;

	/*
	 * 0: lea -0x1(%rsi),%rax   4: push %rbx   5: test %rax,%rax
	 * 8: jne <disp>            a: pop %rbx    b: ret
	 * jne 8+2+disp: to 4 (the probe) or 2 (mid-lea) forces the entry; to 0 is fine.
	 */
	check_eq(attach(B(0x48, 0x8d, 0x46, 0xff, 0x53, 0x48, 0x85, 0xc0, 0x75, (uint8_t)-6,
			  0x5b, 0xc3), X86_ARG_RSI, &emul), 0, "jne back to the chosen push");
	check_false(emul, "jne back to the chosen push: entry lea not emulated");
	check_eq(attach(B(0x48, 0x8d, 0x46, 0xff, 0x53, 0x48, 0x85, 0xc0, 0x75, (uint8_t)-8,
			  0x5b, 0xc3), X86_ARG_RSI, &emul), 0, "jne into the skipped lea");
	check_eq(attach(B(0x48, 0x8d, 0x46, 0xff, 0x53, 0x48, 0x85, 0xc0, 0x75, (uint8_t)-10,
			  0x5b, 0xc3), X86_ARG_RSI, &emul), 4, "jne back to the entry");
	check_eq(attach(B(0x48, 0x8d, 0x46, 0xff, 0x53, 0x48, 0x85, 0xc0, 0x75, (uint8_t)-5,
			  0x5b, 0xc3), X86_ARG_RSI, &emul), 4, "jne past the probe");
	/* a call rel32 to the probe point is a branch too */
	check_eq(attach(B(0x48, 0x8d, 0x46, 0xff, 0x53, 0xe8, 0xfa, 0xff, 0xff, 0xff, 0xc3),
			X86_ARG_RSI, &emul), 0, "call back to the chosen push");
	/* and the probe point itself being that call is fine */
	check_eq(attach(B(0x48, 0x8d, 0x46, 0xff, 0xe8, 0x00, 0x00, 0x00, 0x00, 0xc3),
			X86_ARG_RSI, &emul), 4, "call as the probe point");
}

/* ------------------------------------------------------------------ */
/* x86__scan */

static void test_scan_wrapper_3_9(void **state)
{
	/*
	 * 3.9 PyObject_Malloc at 0x103f10:
	 *   mov %rdi,%rsi; test %rdi,%rdi; js +0x10
	 *   mov 0x267901(%rip),%rdi        # 0x36b820
	 *   jmp *0x267903(%rip)            # 0x36b828
	 *   nopl (%rax)
	 */
	static const uint8_t code[] = {
		0x48, 0x89, 0xfe, 0x48, 0x85, 0xff, 0x78, 0x10,
		0x48, 0x8b, 0x3d, 0x01, 0x79, 0x26, 0x00,
		0xff, 0x25, 0x03, 0x79, 0x26, 0x00,
		0x0f, 0x1f, 0x00,
	};
	struct x86_ref refs[8];
	int n;

	n = x86__scan(code, sizeof(code), 0x103f10, X86_SCAN_STOP_AT_JMP, refs, 8);
	check_eq(n, 2, "refs up to the tail jmp");
	check_eq(refs[0].kind, X86_REF_LOAD, "ref 0 kind");
	check_eq(refs[0].base, X86_BASE_RIP, "ref 0 base");
	check_eq(refs[0].dst, REG_RDI, "ref 0 dst");
	check_eq(refs[0].addr, 0x36b820, "ref 0 addr");
	check_eq(refs[0].insn_off, 8, "ref 0 insn_off");
	check_eq(refs[1].kind, X86_REF_MEM, "ref 1 kind");
	check_eq(refs[1].addr, 0x36b828, "ref 1 addr");
	check_eq(refs[1].dst, -1, "ref 1 dst");
	check_eq(refs[1].insn_off, 15, "ref 1 insn_off");

	/* without the flag the nopl's (%rax) operand follows */
	n = x86__scan(code, sizeof(code), 0x103f10, 0, refs, 8);
	check_eq(n, 3, "refs to the end of the buffer");
	check_eq(refs[2].kind, X86_REF_MEM, "nopl operand kind");
	check_eq(refs[2].base, REG_RAX, "nopl operand base");
	check_eq(refs[2].disp, 0, "nopl operand disp");

	/* max is respected */
	check_eq(x86__scan(code, sizeof(code), 0x103f10, 0, refs, 1), 1, "max 1");
}

static void test_scan_wrapper_3_12(void **state)
{
	/* mov GOT(%rip),%rax; mov 0xb0(%rax),%rdi; jmp *0xb8(%rax); ret-less */
	static const uint8_t code[] = {
		0x48, 0x8b, 0x05, 0xc1, 0x48, 0x37, 0x00,
		0x48, 0x8b, 0xb8, 0xb0, 0x00, 0x00, 0x00,
		0xff, 0xa0, 0xb8, 0x00, 0x00, 0x00,
		0x0f, 0x1f, 0x40, 0x00,
	};
	struct x86_ref refs[8];
	int n;

	n = x86__scan(code, sizeof(code), 0x1cf438, X86_SCAN_STOP_AT_JMP, refs, 8);
	check_eq(n, 3, "refs");
	check_eq(refs[0].kind, X86_REF_LOAD, "GOT load kind");
	check_eq(refs[0].addr, 0x543d00, "GOT load addr");
	check_eq(refs[0].dst, REG_RAX, "GOT load dst");
	check_eq(refs[1].kind, X86_REF_LOAD, "slot 0 kind");
	check_eq(refs[1].base, REG_RAX, "slot 0 base");
	check_eq(refs[1].disp, 0xb0, "slot 0 disp");
	check_eq(refs[1].dst, REG_RDI, "slot 0 dst");
	check_eq(refs[2].kind, X86_REF_MEM, "slot 1 kind");
	check_eq(refs[2].base, REG_RAX, "slot 1 base");
	check_eq(refs[2].disp, 0xb8, "slot 1 disp");
}

static void test_scan_fs_imm_index_ret(void **state)
{
	/*
	 * mov %fs:0xfffffffffffffff8,%rax; cmp $0x4fb450,%rax; mov $0x6d227c,%ecx;
	 * call rel32; mov 0x959d20(,%rax,8),%rdx; lea 0x10(%rip),%rcx; ret; push %rbx
	 */
	static const uint8_t code[] = {
		0x64, 0x48, 0x8b, 0x04, 0x25, 0xf8, 0xff, 0xff, 0xff,
		0x48, 0x3d, 0x50, 0xb4, 0x4f, 0x00,
		0xb9, 0x7c, 0x22, 0x6d, 0x00,
		0xe8, 0x00, 0x01, 0x00, 0x00,
		0x48, 0x8b, 0x14, 0xc5, 0x20, 0x9d, 0x95, 0x00,
		0x48, 0x8d, 0x0d, 0x10, 0x00, 0x00, 0x00,
		0xc3,
		0xff, 0x35, 0x00, 0x00, 0x00, 0x00,
	};
	struct x86_ref refs[16];
	int n;

	n = x86__scan(code, sizeof(code), 0x2000, 0, refs, 16);
	check_eq(n, 4, "fs load, two immediates, lea; no call target, no indexed load, stop at ret");
	check_eq(refs[0].kind, X86_REF_LOAD, "fs load kind");
	check_true(refs[0].fs, "fs load fs flag");
	check_eq(refs[0].base, X86_BASE_NONE, "fs load base");
	check_eq(refs[0].disp, -8, "fs load disp");
	check_eq(refs[0].dst, REG_RAX, "fs load dst");
	check_eq(refs[1].kind, X86_REF_IMM, "cmp imm kind");
	check_eq(refs[1].disp, 0x4fb450, "cmp imm value");
	check_eq(refs[2].kind, X86_REF_IMM, "mov imm kind");
	check_eq(refs[2].disp, 0x6d227c, "mov imm value");
	check_eq(refs[2].insn_off, 15, "mov imm insn_off");
	check_eq(refs[3].kind, X86_REF_LEA, "lea kind");
	check_eq(refs[3].dst, REG_RCX, "lea dst");
	check_eq(refs[3].addr, 0x2000 + 33 + 7 + 0x10, "lea addr");
	check_false(refs[3].fs, "lea fs flag");

	/* mov $imm32,%r32 zero-extends: the value is the unsigned one */
	check_eq(x86__scan(B(0xb9, 0x00, 0x10, 0x00, 0x80), 0, 0, refs, 16), 1, "mov $0x80001000,%%ecx");
	check_eq(refs[0].disp, 0x80001000, "mov $0x80001000,%%ecx value");
	/* while cmp $imm32,%r64 sign-extends */
	check_eq(x86__scan(B(0x48, 0x3d, 0x00, 0x10, 0x00, 0x80), 0, 0, refs, 16), 1, "cmp $imm32,%%rax");
	check_eq(refs[0].disp, (int64_t)0xffffffff80001000ull, "cmp $0x80001000,%%rax value");

	/* undecodable byte stops */
	check_eq(x86__scan(B(0x48, 0x3d, 0x50, 0xb4, 0x4f, 0x00, 0x06, 0xb9, 1, 0, 0, 0), 0, 0, refs, 16),
		 1, "stop at invalid 0x06");
}

/* ------------------------------------------------------------------ */
/* x86__count_guards */

static void test_count_guards_synthetic(void **state)
{
	const uint64_t base = 0x400000, target = 0x4fb450;
	uint8_t code[128];
	size_t n = 0;
	int32_t rel;

#define EMIT(...) do {								\
	const uint8_t __b[] = { __VA_ARGS__ };					\
	memcpy(code + n, __b, sizeof(__b));					\
	n += sizeof(__b);							\
} while (0)
	EMIT(0x48, 0x3d, 0x50, 0xb4, 0x4f, 0x00);			/* cmp $T,%rax: 1 */
	EMIT(0x48, 0x81, 0xfa, 0x50, 0xb4, 0x4f, 0x00);			/* cmp $T,%rdx: 2 */
	EMIT(0x48, 0x81, 0x3d, 0, 0, 0, 0, 0x50, 0xb4, 0x4f, 0x00);	/* cmpq $T,mem: 3 */
	EMIT(0xb8, 0x50, 0xb4, 0x4f, 0x00);				/* mov $T,%eax: 4 */
	EMIT(0x48, 0xb8, 0x50, 0xb4, 0x4f, 0, 0, 0, 0, 0);		/* movabs $T,%rax: 5 */
	EMIT(0x06);							/* invalid, skipped */
	rel = (int32_t)(target - (base + n + 7));
	EMIT(0x48, 0x8d, 0x15, rel & 0xff, (rel >> 8) & 0xff,
	     (rel >> 16) & 0xff, (rel >> 24) & 0xff);			/* lea T(%rip),%rdx: 6 */
	rel = (int32_t)(target - (base + n + 5));
	EMIT(0xe8, rel & 0xff, (rel >> 8) & 0xff, (rel >> 16) & 0xff, (rel >> 24) & 0xff); /* call T */
	rel = (int32_t)(target - (base + n + 5));
	EMIT(0xe9, rel & 0xff, (rel >> 8) & 0xff, (rel >> 16) & 0xff, (rel >> 24) & 0xff); /* jmp T */
	EMIT(0x48, 0x3d, 0x51, 0xb4, 0x4f, 0x00);			/* cmp $T+1,%rax */
	EMIT(0x3d, 0x50, 0xb4, 0x4f, 0x00);				/* cmp $T,%eax: an int */
	EMIT(0x48, 0x8d, 0x15, 0, 0, 0, 0);				/* lea elsewhere(%rip) */
#undef EMIT

	check_eq(x86__count_guards(code, n, base, target), 6, "guards in synthetic code");
	check_eq(x86__count_guards(code, n, base, target + 1), 1, "guards for T+1");
	check_eq(x86__count_guards(code, 0, base, target), 0, "empty code");

	/*
	 * Above 2 GiB: mov $imm32,%r32 zero-extends, so it loads the address;
	 * cmp $imm32,%r64 sign-extends, so it does not compare against it.
	 */
	check_eq(x86__count_guards(B(0xb8, 0x00, 0x10, 0x00, 0x80,
				     0x48, 0x3d, 0x00, 0x10, 0x00, 0x80), base, 0x80001000),
		 1, "mov $0x80001000,%%eax counted, sign-extended cmp not");
	check_eq(x86__count_guards(B(0x48, 0x3d, 0x00, 0x10, 0x00, 0x80), base,
				   0xffffffff80001000ull),
		 1, "cmp $0x80001000,%%rax compares against 0xffffffff80001000");
}

/* ------------------------------------------------------------------ */
/* ELF files */

struct bin {
	int fd;
	Elf *elf;
	const char *path;
};

static bool bin_open(struct bin *b, const char *path)
{
	b->path = path;
	b->elf = NULL;
	b->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (b->fd < 0) {
		print_message("skip: %s: %s\n", path, strerror(errno));
		return false;
	}
	elf_version(EV_CURRENT);
	b->elf = elf_begin(b->fd, ELF_C_READ_MMAP, NULL);
	if (!b->elf) {
		close(b->fd);
		fail_msg("%s: not an ELF file: %s", path, elf_errmsg(-1));
	}
	return true;
}

static void bin_close(struct bin *b)
{
	if (b->elf)
		elf_end(b->elf);
	if (b->fd >= 0)
		close(b->fd);
}

static Elf_Scn *bin_section(struct bin *b, const char *name, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(b->elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(b->elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, shdr))
			continue;
		n = elf_strptr(b->elf, shstrndx, shdr->sh_name);
		if (n && !strcmp(n, name))
			return scn;
	}
	return NULL;
}

/* A defined symbol from the given symbol table type (SHT_SYMTAB or SHT_DYNSYM). */
static bool bin_symbol(struct bin *b, Elf64_Word type, const char *name, GElf_Sym *out)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;

	while ((scn = elf_nextscn(b->elf, scn))) {
		Elf_Data *data;
		size_t i;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != type || !shdr.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		for (i = 0; data && i < shdr.sh_size / shdr.sh_entsize; i++) {
			const char *n;

			if (!gelf_getsym(data, i, out) || out->st_shndx == SHN_UNDEF)
				continue;
			n = elf_strptr(b->elf, shdr.sh_link, out->st_name);
			if (n && !strcmp(n, name))
				return true;
		}
	}
	return false;
}

/* Bytes at vaddr from the section holding them; malloc'ed, NULL if none. */
static uint8_t *bin_read(struct bin *b, uint64_t vaddr, size_t len)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;

	while ((scn = elf_nextscn(b->elf, scn))) {
		uint8_t *buf;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_PROGBITS ||
		    vaddr < shdr.sh_addr || vaddr >= shdr.sh_addr + shdr.sh_size)
			continue;
		if (len > shdr.sh_addr + shdr.sh_size - vaddr)
			len = shdr.sh_addr + shdr.sh_size - vaddr;
		buf = malloc(len);
		if (!buf || pread(b->fd, buf, len, shdr.sh_offset + (vaddr - shdr.sh_addr)) != (ssize_t)len) {
			free(buf);
			return NULL;
		}
		return buf;
	}
	return NULL;
}

/* Type of the dynamic relocation at addr and the name of its symbol. */
static int bin_reloc_at(struct bin *b, uint64_t addr, const char **sym)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;

	*sym = NULL;
	while ((scn = elf_nextscn(b->elf, scn))) {
		Elf_Data *data;
		size_t i;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_RELA)
			continue;
		data = elf_getdata(scn, NULL);
		for (i = 0; data && i < shdr.sh_size / sizeof(Elf64_Rela); i++) {
			Elf_Scn *symscn;
			GElf_Shdr symshdr;
			GElf_Rela rela;
			GElf_Sym s;

			if (!gelf_getrela(data, i, &rela) || rela.r_offset != addr)
				continue;
			symscn = elf_getscn(b->elf, shdr.sh_link);
			if (GELF_R_SYM(rela.r_info) && symscn && gelf_getshdr(symscn, &symshdr) &&
			    gelf_getsym(elf_getdata(symscn, NULL), GELF_R_SYM(rela.r_info), &s))
				*sym = elf_strptr(b->elf, symshdr.sh_link, s.st_name);
			return GELF_R_TYPE(rela.r_info);
		}
	}
	return -1;
}

/* The bytes of a function found by name; *len its size (or 4 KiB). */
static uint8_t *bin_func(struct bin *b, Elf64_Word type, const char *name,
			 uint64_t *vaddr, size_t *len)
{
	GElf_Sym sym;
	uint8_t *code;

	if (!bin_symbol(b, type, name, &sym))
		fail_msg("%s: no symbol %s in %s", b->path, name,
			 type == SHT_DYNSYM ? ".dynsym" : ".symtab");
	*vaddr = sym.st_value;
	*len = sym.st_size ? sym.st_size : 4096;
	code = bin_read(b, *vaddr, *len);
	if (!code)
		fail_msg("%s: cannot read %s at %#lx", b->path, name, (unsigned long)*vaddr);
	return code;
}

static int attach_in(struct bin *b, Elf64_Word type, const char *name, unsigned int live,
		     bool *emul)
{
	uint64_t vaddr;
	size_t len;
	uint8_t *code = bin_func(b, type, name, &vaddr, &len);
	int off = x86__attach_offset(code, len, vaddr, live, emul);

	free(code);
	return off;
}

/*
 * §1.1's rule: the wrapper loads ctx (slot 0) and the function (slot 8)
 * through two memory operands 8 bytes apart; the lower is the table.
 * Returns the table address (rip-relative) or, with *disp_out, the
 * displacement off the register a GOT load filled (3.12+).
 */
static uint64_t wrapper_table(const struct x86_ref *refs, int n, int64_t *disp_out,
			      uint64_t *got_out)
{
	int i, j;

	*disp_out = -1;
	*got_out = 0;
	for (i = 0; i < n; i++) {
		if (refs[i].kind != X86_REF_LOAD && refs[i].kind != X86_REF_MEM)
			continue;
		for (j = i + 1; j < n; j++) {
			if (refs[j].kind != X86_REF_LOAD && refs[j].kind != X86_REF_MEM)
				continue;
			if (refs[i].base != refs[j].base)
				continue;
			if (refs[i].base == X86_BASE_RIP) {
				if (refs[i].addr + 8 == refs[j].addr)
					return refs[i].addr;
				if (refs[j].addr + 8 == refs[i].addr)
					return refs[j].addr;
			} else if (refs[i].base >= 0) {
				int64_t lo = refs[i].disp < refs[j].disp ? refs[i].disp : refs[j].disp;
				int k;

				if (llabs(refs[i].disp - refs[j].disp) != 8)
					continue;
				/* the register came from a rip-relative load before */
				for (k = 0; k < i; k++)
					if (refs[k].kind == X86_REF_LOAD && refs[k].base == X86_BASE_RIP &&
					    refs[k].dst == refs[i].base)
						*got_out = refs[k].addr;
				*disp_out = lo;
				return 0;
			}
		}
	}
	return 0;
}

static void decode_wrapper(struct bin *b, Elf64_Word type, const char *name,
			   uint64_t *table, int64_t *disp, uint64_t *got)
{
	struct x86_ref refs[64];
	uint64_t vaddr;
	size_t len;
	uint8_t *code = bin_func(b, type, name, &vaddr, &len);
	int n = x86__scan(code, len, vaddr, X86_SCAN_STOP_AT_JMP, refs, 64);

	free(code);
	*table = wrapper_table(refs, n, disp, got);
}

/* First immediate of a function's scan that lies in [lo, hi). */
static uint64_t first_imm_in(struct bin *b, const char *name, uint64_t lo, uint64_t hi)
{
	struct x86_ref refs[64];
	uint64_t vaddr;
	size_t len;
	uint8_t *code = bin_func(b, SHT_DYNSYM, name, &vaddr, &len);
	int n = x86__scan(code, len, vaddr, X86_SCAN_STOP_AT_JMP, refs, 64), i;

	free(code);
	for (i = 0; i < n; i++)
		if (refs[i].kind == X86_REF_IMM && (uint64_t)refs[i].disp >= lo &&
		    (uint64_t)refs[i].disp < hi)
			return refs[i].disp;
	return 0;
}

/*
 * The address among Py_GetVersion's lea targets and immediates whose bytes
 * in the file start with "<version>" followed by NUL, space or '+'.
 */
static uint64_t version_literal(struct bin *b, Elf64_Word type, const char *version)
{
	struct x86_ref refs[64];
	size_t vlen = strlen(version);
	uint64_t vaddr, found = 0;
	size_t len;
	uint8_t *code = bin_func(b, type, "Py_GetVersion", &vaddr, &len);
	int n = x86__scan(code, len, vaddr, 0, refs, 64), i;

	free(code);
	for (i = 0; i < n && !found; i++) {
		uint64_t addr;
		uint8_t *s;

		if (refs[i].kind == X86_REF_LEA && refs[i].base == X86_BASE_RIP)
			addr = refs[i].addr;
		else if (refs[i].kind == X86_REF_IMM && refs[i].disp > 0)
			addr = refs[i].disp;
		else
			continue;
		s = bin_read(b, addr, vlen + 1);
		if (s && !memcmp(s, version, vlen) &&
		    (s[vlen] == 0 || s[vlen] == ' ' || s[vlen] == '+'))
			found = addr;
		free(s);
	}
	return found;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Guards for target over all of .text; *secs the time it took. */
static int text_guards(struct bin *b, uint64_t target, double *secs)
{
	GElf_Shdr shdr;
	uint8_t *text;
	double t0;
	int n;

	if (!bin_section(b, ".text", &shdr))
		fail_msg("%s: no .text", b->path);
	text = bin_read(b, shdr.sh_addr, shdr.sh_size);
	if (!text)
		fail_msg("%s: cannot read .text", b->path);
	t0 = now();
	n = x86__count_guards(text, shdr.sh_size, shdr.sh_addr, target);
	*secs = now() - t0;
	print_message("  %s: %d guards for %#lx in %.1f MB of .text, %.0f ms\n", b->path, n,
		      (unsigned long)target, shdr.sh_size / 1e6, *secs * 1e3);
	free(text);
	return n;
}

/* ------------------------------------------------------------------ */
/* glibc */

static void test_glibc(void **state)
{
	struct bin b;
	bool emul;

	if (!bin_open(&b, LIBC)) {
		print_message("skip: glibc not found at %s\n", LIBC);
		skip();
	}
	/* malloc: push %r12 at entry */
	emul = false;
	check_eq(attach_in(&b, SHT_DYNSYM, "malloc", X86_ARG_RDI, &emul), 0, "glibc malloc");
	check_true(emul, "glibc malloc: push %%r12 emulated");
	/* free: test %rdi,%rdi; je */
	emul = false;
	check_eq(attach_in(&b, SHT_DYNSYM, "free", X86_ARG_RDI, &emul), 3, "glibc free");
	check_true(emul, "glibc free: je emulated");
	/* posix_memalign: cmpb $0x0,X(%rip); push %r12 */
	emul = false;
	check_eq(attach_in(&b, SHT_DYNSYM, "posix_memalign",
			   X86_ARG_RDI | X86_ARG_RSI | X86_ARG_RDX, &emul), 7, "glibc posix_memalign");
	check_true(emul, "glibc posix_memalign: push %%r12 emulated");
	bin_close(&b);
}

/* ------------------------------------------------------------------ */
/* Debian /usr/bin/python3.11: stripped, LTO+PGO, non-PIE (§1.1, §1.2) */

static void test_debian_python(void **state)
{
	uint64_t table, got, obj_malloc, obj_free, raw_free, lit;
	int64_t disp;
	double secs;
	GElf_Sym sym;
	struct bin b;
	bool emul;
	int n;

	if (!bin_open(&b, DEBIAN_PY)) {
		print_message("skip: Debian python3.11 not installed at %s\n", DEBIAN_PY);
		skip();
	}

	/* wrappers: mov T+8(%rip),%rax; mov T(%rip),%rdi; cmp $imm,%rax; jne */
	decode_wrapper(&b, SHT_DYNSYM, "PyObject_Malloc", &table, &disp, &got);
	check_eq(table, 0x959f40, "obj table from PyObject_Malloc");
	decode_wrapper(&b, SHT_DYNSYM, "PyMem_Malloc", &table, &disp, &got);
	check_eq(table, 0x959f80, "mem table from PyMem_Malloc");
	decode_wrapper(&b, SHT_DYNSYM, "PyMem_RawMalloc", &table, &disp, &got);
	check_eq(table, 0x95a060, "raw table from PyMem_RawMalloc");

	/* the guard immediates name the unexported defaults */
	obj_malloc = first_imm_in(&b, "PyObject_Malloc", 0x420f10, 0x6d127e);
	check_eq(obj_malloc, 0x4fb450, "_PyObject_Malloc from PyObject_Malloc's guard");
	obj_free = first_imm_in(&b, "PyObject_Free", 0x420f10, 0x6d127e);
	check_eq(obj_free, 0x500fe0, "_PyObject_Free from PyObject_Free's guard");
	raw_free = first_imm_in(&b, "PyMem_RawFree", 0x420f10, 0x6d127e);
	check_eq(raw_free, 0x4f75b0, "_PyMem_RawFree from PyMem_RawFree's guard");

	/* _PyObject_Malloc: lea; sub $0x18,%rsp; cmp; ja: nothing reachable */
	{
		uint8_t *code = bin_read(&b, obj_malloc, 4096);

		check_true(code != NULL, "read _PyObject_Malloc");
		emul = true;
		n = x86__attach_offset(code, 4096, obj_malloc, X86_ARG_RSI, &emul);
		check_eq(n, 0, "Debian _PyObject_Malloc (sub rsp before the ja)");
		check_false(emul, "Debian _PyObject_Malloc: entry lea is stepped");
		free(code);
	}
	/* _PyObject_Free: test %rsi,%rsi; je */
	{
		uint8_t *code = bin_read(&b, obj_free, 4096);

		check_true(code != NULL, "read _PyObject_Free");
		emul = false;
		n = x86__attach_offset(code, 4096, obj_free, X86_ARG_RSI, &emul);
		check_eq(n, 3, "Debian _PyObject_Free");
		check_true(emul, "Debian _PyObject_Free: je emulated");
		free(code);
	}
	/* _PyMem_RawFree: mov %rsi,%rdi; jmp free@plt */
	{
		uint8_t *code = bin_read(&b, raw_free, 8);

		check_true(code != NULL, "read _PyMem_RawFree");
		emul = false;
		n = x86__attach_offset(code, 8, raw_free, X86_ARG_RSI, &emul);
		check_eq(n, 3, "Debian _PyMem_RawFree");
		check_true(emul, "Debian _PyMem_RawFree: jmp emulated");
		free(code);
	}

	/* PGO guards (§0.1: 190 cmp for malloc, 52 for free) */
	n = text_guards(&b, obj_malloc, &secs);
	check_true(n >= 180 && n <= 210, "Debian _PyObject_Malloc guards near 190, seen %d", n);
	check_true(secs < 5.0, "guard count over .text under 5 s, seen %.2f s", secs);
	n = text_guards(&b, obj_free, &secs);
	check_true(n >= 48 && n <= 60, "Debian _PyObject_Free guards near 52, seen %d", n);
	/* negative control: Py_GetVersion is called, never compared against */
	check_true(bin_symbol(&b, SHT_DYNSYM, "Py_GetVersion", &sym), "Py_GetVersion in .dynsym");
	n = text_guards(&b, sym.st_value, &secs);
	check_eq(n, 0, "guards for Py_GetVersion (a plain function)");

	/* mov $imm32,%ecx: PY_VERSION, in .rodata */
	lit = version_literal(&b, SHT_DYNSYM, "3.11.2");
	check_true(lit != 0, "Py_GetVersion loads the address of \"3.11.2\"");
	print_message("  %s: \"3.11.2\" at %#lx\n", DEBIAN_PY, (unsigned long)lit);
	bin_close(&b);
}

/* ------------------------------------------------------------------ */
/* pyenv builds: shared libpython, -O3, no LTO, .symtab present */

struct pyenv_expect {
	int minor;
	int obj_malloc_off;	/* _PyObject_Malloc attach offset, rsi live */
	int64_t obj_disp;	/* 3.12+: _PyRuntime + disp of the obj table */
	int64_t mem_disp;
	int64_t raw_disp;
	int64_t tstate_disp;	/* <=3.11: _PyRuntime.gilstate.tstate_current */
	uint64_t tls_off;	/* 3.12+: _Py_tss_tstate within the TLS block */
};

static const struct pyenv_expect pyenv_expect[] = {
	{  8, 0, -1, -1, -1, 1368, 0 },	/* push %rbx */
	{  9, 4, -1, -1, -1, 568, 0 },	/* lea; push %rbx */
	{ 10, 4, -1, -1, -1, 568, 0 },
	{ 11, 4, -1, -1, -1, 576, 0 },
	{ 12, 0, 0xb0, 0x88, 0x60, -1, 8 },	/* push %rbp */
	{ 13, 0, 0x310, 0x2e8, 0x2c0, -1, 24 },
};

static const char *pyenv_root(void)
{
	const char *root = getenv("PYENV_ROOT");

	return root && *root ? root : "/root/.pyenv";
}

/*
 * <=3.11: mov GOT(%rip),%rax (&_PyRuntime); mov tstate_current(%rax),%rax.
 * 3.12+: general-dynamic TLS, lea GOTPAIR(%rip),%rdi; call __tls_get_addr,
 * where GOTPAIR holds {module id (DTPMOD64 relocation), static offset}.
 */
static void check_tstate_getter(struct bin *b, const char *name, const struct pyenv_expect *e,
				const char *version)
{
	struct x86_ref refs[32];
	const char *sym;
	uint64_t vaddr;
	uint8_t *pair;
	size_t len;
	uint8_t *code = bin_func(b, SHT_DYNSYM, name, &vaddr, &len);
	int n = x86__scan(code, len, vaddr, 0, refs, 32), k, found = 0;

	free(code);
	if (e->minor <= 11) {
		for (k = 0; k + 1 < n && !found; k++)
			found = refs[k].kind == X86_REF_LOAD && refs[k].base == X86_BASE_RIP &&
				refs[k + 1].kind == X86_REF_LOAD && refs[k + 1].base == refs[k].dst &&
				refs[k + 1].disp == e->tstate_disp;
		check_true(found, "%s %s loads _PyRuntime+%lld", version, name,
			   (long long)e->tstate_disp);
		return;
	}
	for (k = 0; k < n && !found; k++)
		if (refs[k].kind == X86_REF_LEA && refs[k].base == X86_BASE_RIP &&
		    refs[k].dst == REG_RDI)
			found = k + 1;
	check_true(found, "%s %s: lea GOTPAIR(%%rip),%%rdi", version, name);
	check_eq(bin_reloc_at(b, refs[found - 1].addr, &sym), R_X86_64_DTPMOD64,
		 "%s %s: relocation at GOT pair %#lx", version, name,
		 (unsigned long)refs[found - 1].addr);
	pair = bin_read(b, refs[found - 1].addr, 16);
	check_true(pair != NULL, "%s read GOT pair", version);
	check_eq(*(uint64_t *)(pair + 8), e->tls_off, "%s %s: _Py_tss_tstate offset in the TLS block",
		 version, name);
	free(pair);
}

static void check_pyenv_lib(const char *path, const struct pyenv_expect *e)
{
	static const char *const wrappers[3] = { "PyObject_Malloc", "PyMem_Malloc", "PyMem_RawMalloc" };
	static const char *const tables[3] = { "_PyObject", "_PyMem", "_PyMem_Raw" };
	const int64_t disps[3] = { e->obj_disp, e->mem_disp, e->raw_disp };
	char version[32];
	const char *v, *sym;
	uint64_t table, got, lit;
	int64_t disp;
	GElf_Sym s, runtime;
	double secs;
	struct bin b;
	bool emul;
	int i, n;

	/* .../versions/3.11.7/lib/... -> "3.11.7" */
	v = strstr(path, "/versions/");
	check_true(v != NULL, "version directory in %s", path);
	snprintf(version, sizeof(version), "%.*s", (int)strcspn(v + 10, "/"), v + 10);
	print_message("  %s (%s)\n", path, version);

	if (!bin_open(&b, path))
		fail_msg("%s: listed by glob but cannot be opened", path);
	check_true(bin_symbol(&b, SHT_DYNSYM, "_PyRuntime", &runtime), "%s: _PyRuntime", path);

	/* attach points (§1.7) */
	emul = false;
	n = attach_in(&b, SHT_SYMTAB, "_PyObject_Malloc", X86_ARG_RSI, &emul);
	check_eq(n, e->obj_malloc_off, "%s _PyObject_Malloc", version);
	check_true(emul, "%s _PyObject_Malloc: emulated", version);
	emul = false;
	n = attach_in(&b, SHT_SYMTAB, "_PyObject_Free", X86_ARG_RSI, &emul);
	check_eq(n, 3, "%s _PyObject_Free (test; je)", version);
	check_true(emul, "%s _PyObject_Free: emulated", version);
	emul = false;
	n = attach_in(&b, SHT_SYMTAB, "_PyMem_RawFree", X86_ARG_RSI, &emul);
	check_eq(n, 3, "%s _PyMem_RawFree (mov %%rsi,%%rdi; jmp)", version);
	check_true(emul, "%s _PyMem_RawFree: emulated", version);
	/* same function, rdi live: the mov writes it */
	n = attach_in(&b, SHT_SYMTAB, "_PyMem_RawFree", X86_ARG_RDI, &emul);
	check_eq(n, 0, "%s _PyMem_RawFree with rdi live", version);

	/* wrapper decode (§1.1) */
	for (i = 0; i < 3; i++) {
		decode_wrapper(&b, SHT_DYNSYM, wrappers[i], &table, &disp, &got);
		if (e->minor <= 11) {
			/* mov T(%rip),%rdi; jmp *T+8(%rip): T is a LOCAL in .data */
			check_true(bin_symbol(&b, SHT_SYMTAB, tables[i], &s), "%s: %s in .symtab",
				   version, tables[i]);
			check_eq(table, s.st_value, "%s %s table from %s", version, tables[i], wrappers[i]);
		} else {
			/* mov GOT(%rip),%rax; mov D(%rax),%rdi; jmp *D+8(%rax) */
			check_eq(disp, disps[i], "%s %s: _PyRuntime displacement", version, wrappers[i]);
			check_eq(bin_reloc_at(&b, got, &sym), R_X86_64_GLOB_DAT,
				 "%s %s: relocation type at GOT %#lx", version, wrappers[i],
				 (unsigned long)got);
			check_true(sym && !strcmp(sym, "_PyRuntime"), "%s %s: GOT slot names _PyRuntime, seen %s",
				   version, wrappers[i], sym ? sym : "(none)");
		}
	}

	/* thread state getters (§2) */
	check_tstate_getter(&b, "PyThreadState_Get", e, version);
	check_tstate_getter(&b, e->minor >= 13 ? "PyThreadState_GetUnchecked" :
			    "_PyThreadState_UncheckedGet", e, version);

	/* PY_VERSION: lea X(%rip),%rcx */
	lit = version_literal(&b, SHT_DYNSYM, version);
	check_true(lit != 0, "%s Py_GetVersion takes the address of \"%s\"", version, version);

	/*
	 * Not PGO, so no inlined copies: what is left are the few rip-relative
	 * leas that install or recognise the default allocator
	 * (_PyMem_SetDefaultAllocator, _PyMem_SetupAllocators,
	 * _PyMem_GetCurrentAllocatorName, _PyObject_DebugMallocStats): 5 on
	 * 3.8.18..3.13.0. At least one proves leas are counted in PIE code.
	 */
	check_true(bin_symbol(&b, SHT_SYMTAB, "_PyObject_Malloc", &s), "%s _PyObject_Malloc", version);
	n = text_guards(&b, s.st_value, &secs);
	check_true(n >= 1 && n <= 8, "%s _PyObject_Malloc address-takes 1..8 (no PGO guards), seen %d",
		   version, n);
	bin_close(&b);
}

static void test_pyenv(void **state)
{
	const struct pyenv_expect *e = *state;
	char pattern[512];
	glob_t g;
	size_t i;

	snprintf(pattern, sizeof(pattern), "%s/versions/3.%d.*/lib/libpython3.%d.so.1.0",
		 pyenv_root(), e->minor, e->minor);
	if (glob(pattern, 0, NULL, &g) || !g.gl_pathc) {
		print_message("skip: no pyenv 3.%d build: nothing matches %s\n", e->minor, pattern);
		globfree(&g);
		skip();
	}
	for (i = 0; i < g.gl_pathc; i++)
		check_pyenv_lib(g.gl_pathv[i], e);
	globfree(&g);
}

#define PYENV_TEST(i) \
	cmocka_unit_test_prestate_setup_teardown(test_pyenv, NULL, NULL, (void *)&pyenv_expect[i])

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emulated_push),
		cmocka_unit_test(test_emulated_branches),
		cmocka_unit_test(test_emulated_nops),
		cmocka_unit_test(test_emulated_others),
		cmocka_unit_test(test_attach_skips_to_emulated),
		cmocka_unit_test(test_attach_endbr64),
		cmocka_unit_test(test_attach_rsp_write_blocks),
		cmocka_unit_test(test_attach_live_register_blocks),
		cmocka_unit_test(test_attach_flow_and_limits),
		cmocka_unit_test(test_attach_branch_into_prologue),
		cmocka_unit_test(test_scan_wrapper_3_9),
		cmocka_unit_test(test_scan_wrapper_3_12),
		cmocka_unit_test(test_scan_fs_imm_index_ret),
		cmocka_unit_test(test_count_guards_synthetic),
		cmocka_unit_test(test_glibc),
		cmocka_unit_test(test_debian_python),
		PYENV_TEST(0), PYENV_TEST(1), PYENV_TEST(2),
		PYENV_TEST(3), PYENV_TEST(4), PYENV_TEST(5),
	};

	return cmocka_run_group_tests_name("x86", tests, NULL, NULL);
}
