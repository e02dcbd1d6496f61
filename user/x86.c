// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * x86-64 decoding for attach decisions, on top of Zydis 4.0.
 *
 * Three users: where to put a uprobe so the kernel emulates the probed
 * instruction instead of single-stepping it (0.6 us against 10.5 us a hit
 * on Linux 6.18), finding CPython's allocator tables and TLS slot by
 * decoding exported wrappers, and counting the guards a PGO build puts in
 * front of inlined allocators.
 */
#include <string.h>
#include <Zydis/Zydis.h>

#include "x86.h"

/* How many instructions x86__attach_offset() looks at, the entry included. */
#define ATTACH_MAX_INSNS	8

/* Hardware register numbers, as struct x86_ref reports them. */
enum {
	REG_RCX = 1,
	REG_RDX = 2,
	REG_RSP = 4,
	REG_RSI = 6,
	REG_RDI = 7,
};

/*
 * The kernel's preferred nops for x86-64 (arch/x86/include/asm/nops.h,
 * x86_nops[1..ASM_NOP_MAX]); 6.18's branch_setup_xol_ops() emulates an
 * instruction whose bytes equal the entry for its length as "jmp +0".
 * x86_nops[5] (0f 1f 44 00 00) is also the one 6.18 can_optimize() turns
 * into a call to the uprobe trampoline (cheaper still: ~0.5 us).
 */
static const uint8_t kernel_nops[][8] = {
	[1] = { 0x90 },
	[2] = { 0x66, 0x90 },
	[3] = { 0x0f, 0x1f, 0x00 },
	[4] = { 0x0f, 0x1f, 0x40, 0x00 },
	[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[6] = { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[7] = { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
	[8] = { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
};
#define KERNEL_NOP_MAX	8

static void decoder_init(ZydisDecoder *dec)
{
	ZydisDecoderInit(dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
}

static bool decode_insn(const ZydisDecoder *dec, ZydisDecoderContext *ctx,
			const uint8_t *code, size_t len, ZydisDecodedInstruction *insn)
{
	return ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(dec, ctx, code, len, insn));
}

static bool decode_full(const ZydisDecoder *dec, const uint8_t *code, size_t len,
			ZydisDecodedInstruction *insn, ZydisDecodedOperand *ops)
{
	return ZYAN_SUCCESS(ZydisDecoderDecodeFull(dec, code, len, insn, ops));
}

static bool has_prefix(const ZydisDecodedInstruction *insn, uint8_t byte)
{
	int i;

	for (i = 0; i < insn->raw.prefix_count; i++)
		if (insn->raw.prefixes[i].value == byte)
			return true;
	return false;
}

/* rax..r15 as 0..15 (the hardware numbering), -1 for anything else. */
static int gpr_num(ZydisRegister reg)
{
	ZydisRegister full;

	if (reg == ZYDIS_REGISTER_NONE)
		return -1;
	full = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, reg);
	if (full < ZYDIS_REGISTER_RAX || full > ZYDIS_REGISTER_R15)
		return -1;
	return full - ZYDIS_REGISTER_RAX;
}

/*
 * Mirrors what arch_uprobe_analyze_insn() decides on Linux 6.18
 * (arch/x86/kernel/uprobes.c): uprobe_init_insn() first refuses some
 * prefixes outright, then branch_setup_xol_ops() and push_setup_xol_ops()
 * pick the instructions that get an ->emulate op; everything else is
 * single-stepped out of line.
 */
static bool kernel_emulates(const ZydisDecodedInstruction *insn, const uint8_t *code)
{
	uint8_t op = insn->opcode;

	if (insn->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY)
		return false;

	/* is_prefix_bad(): es/cs/ss/ds overrides and lock; no probe at all */
	if (has_prefix(insn, 0x26) || has_prefix(insn, 0x2e) ||
	    has_prefix(insn, 0x36) || has_prefix(insn, 0x3e) ||
	    has_prefix(insn, 0xf0))
		return false;

	/* branch_setup_xol_ops(): the kernel's own nops, exactly */
	if (insn->length <= KERNEL_NOP_MAX &&
	    !memcmp(code, kernel_nops[insn->length], insn->length))
		return true;

	if (insn->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT) {
		switch (op) {
		case 0x90:	/* "prefix* + nop": any prefixes, 0x66 included */
			return true;
		case 0xe8:	/* call rel32 */
		case 0xe9:	/* jmp rel32 */
		case 0xeb:	/* jmp rel8 */
			goto branch;
		default:
			if (op >= 0x70 && op <= 0x7f)	/* jcc rel8 */
				goto branch;
			break;
		}
	} else if (insn->opcode_map == ZYDIS_OPCODE_MAP_0F) {
		if (op >= 0x80 && op <= 0x8f)		/* jcc rel32 */
			goto branch;
		return false;
	} else {
		return false;
	}

	/* push_setup_xol_ops(): push reg, and REX 0x41 + push for r8..r15 */
	if (op >= 0x50 && op <= 0x57) {
		if (insn->length == 1)
			return true;
		return insn->length == 2 && code[0] == 0x41;
	}
	return false;

branch:
	/* 16-bit branches (66 e8 ...) are refused with -ENOTSUPP */
	return !has_prefix(insn, 0x66);
}

bool x86__insn_emulated(const uint8_t *code, size_t len)
{
	ZydisDecodedInstruction insn;
	ZydisDecoder dec;

	decoder_init(&dec);
	if (!decode_insn(&dec, NULL, code, len, &insn))
		return false;
	return kernel_emulates(&insn, code);
}

/*
 * 6.18 emulates any opcode 0x90 as a nop, but with REX.B it is
 * xchg %r8,%rax: probing it would skip the exchange. Never choose it.
 */
static bool emulates_faithfully(const ZydisDecodedInstruction *insn, const uint8_t *code)
{
	if (!kernel_emulates(insn, code))
		return false;
	return insn->mnemonic != ZYDIS_MNEMONIC_XCHG;
}

static bool changes_flow(const ZydisDecodedInstruction *insn)
{
	switch (insn->meta.category) {
	case ZYDIS_CATEGORY_CALL:
	case ZYDIS_CATEGORY_COND_BR:
	case ZYDIS_CATEGORY_UNCOND_BR:
	case ZYDIS_CATEGORY_RET:
	case ZYDIS_CATEGORY_SYSCALL:
	case ZYDIS_CATEGORY_SYSRET:
	case ZYDIS_CATEGORY_INTERRUPT:
	case ZYDIS_CATEGORY_SYSTEM:
		return true;
	default:
		return insn->meta.branch_type != ZYDIS_BRANCH_TYPE_NONE;
	}
}

static bool writes_live_reg(ZydisRegister reg, unsigned int live_args)
{
	switch (gpr_num(reg)) {
	case REG_RDI:
		return live_args & X86_ARG_RDI;
	case REG_RSI:
		return live_args & X86_ARG_RSI;
	case REG_RDX:
		return live_args & X86_ARG_RDX;
	case REG_RCX:
		return live_args & X86_ARG_RCX;
	default:
		return false;
	}
}

/*
 * Can the probe move past this instruction? It runs unobserved, so it
 * must fall through, leave rsp alone (the return probe finds the return
 * address at 0(%rsp)), leave the live argument registers alone (any
 * width: writing esi zero-extends into rsi), and store nothing (a store
 * through an argument could change what the entry program reads).
 */
static bool skippable(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
		      unsigned int live_args)
{
	int i;

	if (changes_flow(insn))
		return false;
	for (i = 0; i < insn->operand_count; i++) {
		const ZydisDecodedOperand *o = &ops[i];

		if (!(o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
			continue;
		if (o->type == ZYDIS_OPERAND_TYPE_MEMORY)
			return false;
		if (o->type != ZYDIS_OPERAND_TYPE_REGISTER)
			continue;
		if (o->reg.value == ZYDIS_REGISTER_RIP ||
		    gpr_num(o->reg.value) == REG_RSP ||
		    writes_live_reg(o->reg.value, live_args))
			return false;
	}
	return true;
}

/*
 * True if a direct jmp/jcc/call in code[0..len) lands in (entry, entry+off]:
 * a path entering there would hit the probe without having come through
 * the entry, or skip part of the prologue the probe relies on. Linear
 * sweep; undecodable bytes are stepped over one at a time. Indirect
 * jumps (switch tables) cannot be seen here.
 */
static bool branch_into(const ZydisDecoder *dec, const uint8_t *code, size_t len,
			uint64_t vaddr, size_t off)
{
	ZydisDecodedInstruction insn;
	size_t pos = 0;

	while (pos < len) {
		uint64_t target;

		if (!decode_insn(dec, NULL, code + pos, len - pos, &insn)) {
			pos++;
			continue;
		}
		if (insn.raw.imm[0].is_relative &&
		    insn.meta.branch_type != ZYDIS_BRANCH_TYPE_NONE) {
			target = vaddr + pos + insn.length + (uint64_t)insn.raw.imm[0].value.s;
			if (target > vaddr && target <= vaddr + off)
				return true;
		}
		pos += insn.length;
	}
	return false;
}

int x86__attach_offset(const uint8_t *code, size_t len, uint64_t vaddr,
		       unsigned int live_args, bool *emulated)
{
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	ZydisDecodedInstruction insn;
	ZydisDecoder dec;
	size_t off = 0;
	int i;

	decoder_init(&dec);
	*emulated = x86__insn_emulated(code, len);
	if (*emulated)
		return 0;

	for (i = 0; i < ATTACH_MAX_INSNS && off < len; i++) {
		if (!decode_full(&dec, code + off, len - off, &insn, ops))
			return 0;
		if (i > 0 && emulates_faithfully(&insn, code + off))
			break;
		if (!skippable(&insn, ops, live_args))
			return 0;
		off += insn.length;
	}
	if (i == ATTACH_MAX_INSNS || off >= len)
		return 0;
	if (branch_into(&dec, code, len, vaddr, off))
		return 0;
	*emulated = true;
	return (int)off;
}

static void fill_mem_ref(struct x86_ref *ref, const ZydisDecodedInstruction *insn,
			 const ZydisDecodedOperand *ops, int i, uint64_t ip)
{
	const ZydisDecodedOperand *o = &ops[i];
	ZyanU64 abs = 0;

	if (insn->mnemonic == ZYDIS_MNEMONIC_LEA) {
		ref->kind = X86_REF_LEA;
		ref->dst = gpr_num(ops[0].reg.value);
	} else if (insn->mnemonic == ZYDIS_MNEMONIC_MOV && i == 1 &&
		   ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER) {
		ref->kind = X86_REF_LOAD;
		ref->dst = gpr_num(ops[0].reg.value);
	} else {
		ref->kind = X86_REF_MEM;
		ref->dst = -1;
	}
	ref->fs = o->mem.segment == ZYDIS_REGISTER_FS;
	ref->disp = o->mem.disp.value;
	ref->addr = 0;
	if (o->mem.base == ZYDIS_REGISTER_RIP) {
		ref->base = X86_BASE_RIP;
		if (ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(insn, o, ip, &abs)))
			ref->addr = abs;
	} else if (o->mem.base == ZYDIS_REGISTER_NONE) {
		ref->base = X86_BASE_NONE;
	} else {
		ref->base = gpr_num(o->mem.base);
	}
}

int x86__scan(const uint8_t *code, size_t len, uint64_t vaddr, unsigned int flags,
	      struct x86_ref *refs, int max)
{
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	ZydisDecodedInstruction insn;
	ZydisDecoder dec;
	size_t off = 0;
	int n = 0, i;

	decoder_init(&dec);
	while (off < len && n < max) {
		if (!decode_full(&dec, code + off, len - off, &insn, ops))
			break;
		/* hidden operands (push's stack slot) are not of interest */
		for (i = 0; i < insn.operand_count_visible && n < max; i++) {
			const ZydisDecodedOperand *o = &ops[i];
			struct x86_ref *ref = &refs[n];

			if (o->type == ZYDIS_OPERAND_TYPE_MEMORY) {
				/* struct x86_ref has no index: better absent than wrong */
				if (o->mem.index != ZYDIS_REGISTER_NONE)
					continue;
				fill_mem_ref(ref, &insn, ops, i, vaddr + off);
			} else if (o->type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
				   !o->imm.is_relative) {
				ref->kind = X86_REF_IMM;
				ref->base = X86_BASE_NONE;
				ref->dst = -1;
				ref->fs = false;
				ref->disp = o->imm.value.s;
				/* mov $imm32, %r32 zero-extends (non-PIE addresses) */
				if (insn.mnemonic == ZYDIS_MNEMONIC_MOV && insn.operand_width == 32)
					ref->disp = (uint32_t)ref->disp;
				ref->addr = 0;
			} else {
				continue;
			}
			ref->insn_off = (uint32_t)off;
			n++;
		}
		off += insn.length;
		if (insn.meta.category == ZYDIS_CATEGORY_RET)
			break;
		if ((flags & X86_SCAN_STOP_AT_JMP) &&
		    insn.meta.category == ZYDIS_CATEGORY_UNCOND_BR)
			break;
	}
	return n;
}

/* Does an immediate operand of insn equal target, at the width it is used? */
static bool imm_is(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
		   uint64_t target)
{
	int i;

	for (i = 0; i < insn->operand_count_visible; i++) {
		const ZydisDecodedOperand *o = &ops[i];
		uint64_t v;

		if (o->type != ZYDIS_OPERAND_TYPE_IMMEDIATE || o->imm.is_relative)
			continue;
		v = o->imm.value.u;
		/* mov $imm32, %r32 zero-extends: non-PIE code loads addresses so */
		if (insn->operand_width == 32 && insn->mnemonic == ZYDIS_MNEMONIC_MOV)
			v &= 0xffffffffu;
		else if (insn->operand_width != 64)
			continue;
		if (v == target)
			return true;
	}
	return false;
}

int x86__count_guards(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t target)
{
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	ZydisDecodedInstruction insn;
	ZydisDecoderContext ctx;
	ZydisDecoder dec;
	size_t pos = 0;
	int count = 0;

	decoder_init(&dec);
	while (pos < len) {
		ZyanU64 abs;

		if (!decode_insn(&dec, &ctx, code + pos, len - pos, &insn)) {
			pos++;
			continue;
		}
		/* decode operands only for the few mnemonics that matter */
		switch (insn.mnemonic) {
		case ZYDIS_MNEMONIC_CMP:
		case ZYDIS_MNEMONIC_MOV:
			if (!insn.raw.imm[0].size)
				break;
			if (!ZYAN_SUCCESS(ZydisDecoderDecodeOperands(&dec, &ctx, &insn, ops,
					insn.operand_count_visible)))
				break;
			count += imm_is(&insn, ops, target);
			break;
		case ZYDIS_MNEMONIC_LEA:
			/* rip-relative: modrm mod 00, r/m 101 (PIE builds) */
			if (insn.raw.modrm.mod != 0 || insn.raw.modrm.rm != 5)
				break;
			if (!ZYAN_SUCCESS(ZydisDecoderDecodeOperands(&dec, &ctx, &insn, ops,
					insn.operand_count_visible)))
				break;
			if (ops[1].mem.base == ZYDIS_REGISTER_RIP &&
			    ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn, &ops[1], vaddr + pos, &abs)) &&
			    abs == target)
				count++;
			break;
		default:
			break;
		}
		pos += insn.length;
	}
	return count;
}
