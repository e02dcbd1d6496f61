// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "elffile.h"
#include "log.h"
#include "pyleak.h"
#include "python.h"
#include "pyleak.skel.h"
#include "x86.h"

/* Bytes of a function decoded to choose the attach point; a function's
 * size is unknown for the static functions the tables point to. */
#define CODE_WINDOW 4096

enum where { LIBC, TABLE_OBJ, TABLE_MEM };
enum slot { S_MALLOC, S_CALLOC, S_REALLOC, S_FREE };

struct probe_spec {
	const char *name;
	enum where where;
	const char *symbol;	/* LIBC */
	enum slot slot;		/* TABLE_* */
	size_t entry;		/* offsetof(struct pyleak_bpf, progs.X) */
	size_t exit;		/* 0: no return probe */
	unsigned int live;	/* argument registers the entry program reads */
	bool required;
};

#define PROG(x) offsetof(struct pyleak_bpf, progs.x)
#define RDI X86_ARG_RDI
#define RSI X86_ARG_RSI
#define RDX X86_ARG_RDX

/* Frees first (see attach__allocators). */
static const struct probe_spec specs[] = {
	{ "free", LIBC, "free", 0, PROG(free_enter), 0, RDI, true },
	{ "obj.free", TABLE_OBJ, NULL, S_FREE, PROG(pymem_free_enter), 0, RSI, true },
	{ "mem.free", TABLE_MEM, NULL, S_FREE, PROG(pymem_free_enter), 0, RSI, true },
	{ "malloc", LIBC, "malloc", 0, PROG(malloc_enter), PROG(alloc_exit), RDI, true },
	{ "calloc", LIBC, "calloc", 0, PROG(calloc_enter), PROG(alloc_exit), RDI | RSI, true },
	{ "realloc", LIBC, "realloc", 0, PROG(realloc_enter), PROG(alloc_exit), RDI | RSI, true },
	{ "posix_memalign", LIBC, "posix_memalign", 0, PROG(posix_memalign_enter),
	  PROG(posix_memalign_exit), RDI | RDX, false },
	{ "aligned_alloc", LIBC, "aligned_alloc", 0, PROG(aligned_alloc_enter), PROG(alloc_exit),
	  RSI, false },
	{ "memalign", LIBC, "memalign", 0, PROG(aligned_alloc_enter), PROG(alloc_exit), RSI, false },
	{ "obj.malloc", TABLE_OBJ, NULL, S_MALLOC, PROG(pymem_malloc_enter), PROG(alloc_exit), RSI, true },
	{ "obj.calloc", TABLE_OBJ, NULL, S_CALLOC, PROG(pymem_calloc_enter), PROG(alloc_exit),
	  RSI | RDX, true },
	{ "obj.realloc", TABLE_OBJ, NULL, S_REALLOC, PROG(pymem_realloc_enter), PROG(alloc_exit),
	  RSI | RDX, true },
	{ "mem.malloc", TABLE_MEM, NULL, S_MALLOC, PROG(pymem_malloc_enter), PROG(alloc_exit), RSI, true },
	{ "mem.calloc", TABLE_MEM, NULL, S_CALLOC, PROG(pymem_calloc_enter), PROG(alloc_exit),
	  RSI | RDX, true },
	{ "mem.realloc", TABLE_MEM, NULL, S_REALLOC, PROG(pymem_realloc_enter), PROG(alloc_exit),
	  RSI | RDX, true },
};

static struct bpf_program *prog_at(struct pyleak_bpf *skel, size_t off)
{
	return *(struct bpf_program **)((char *)skel + off);
}

static uint64_t table_fn(const struct pyalloc_table *t, enum slot s)
{
	switch (s) {
	case S_MALLOC:
		return t->malloc;
	case S_CALLOC:
		return t->calloc;
	case S_REALLOC:
		return t->realloc;
	default:
		return t->free;
	}
}

/* Where a function lives: the file (target's view and ours) and vaddr. */
struct location {
	char path[4096];
	char open[4200];
	uint64_t vaddr;
};

static int locate_table_fn(int pid, uint64_t addr, struct location *loc)
{
	const struct map_entry *e;
	struct elf_file ef;
	struct procmaps m;
	uint64_t start;
	int ret;

	ret = procmaps__read(pid, &m);
	if (ret)
		return ret;
	e = procmaps__find(&m, addr);
	if (!e || !e->path[0]) {
		procmaps__free(&m);
		return -ENOENT;
	}
	snprintf(loc->path, sizeof(loc->path), "%s", e->path);
	proc__root_path(pid, loc->path, loc->open, sizeof(loc->open));
	ret = procmaps__module_start(&m, loc->path, &start);
	procmaps__free(&m);
	if (ret || (ret = elf__open(&ef, loc->open)))
		return ret;
	loc->vaddr = addr - (start - elf__first_load(&ef));
	elf__close(&ef);
	return 0;
}

static int locate_symbol(int pid, const char *path, const char *symbol, struct location *loc)
{
	struct elf_file ef;
	int ret;

	snprintf(loc->path, sizeof(loc->path), "%s", path);
	proc__root_path(pid, path, loc->open, sizeof(loc->open));
	ret = elf__open(&ef, loc->open);
	if (ret)
		return ret;
	ret = elf__symbol(&ef, symbol, &loc->vaddr, NULL);
	elf__close(&ef);
	return ret;
}

static int add_link(struct probes *pr, struct bpf_link *link)
{
	long err = libbpf_get_error(link);

	if (err)
		return (int)err;
	if (pr->nlinks == MAX_LINKS) {
		bpf_link__destroy(link);
		return -E2BIG;
	}
	pr->links[pr->nlinks++] = link;
	return 0;
}

/* Attach entry (and return) programs at the best instruction of loc. */
static int attach_at(struct probes *pr, struct bpf_program *entry, struct bpf_program *exit,
		     int pid, const struct location *loc, unsigned int live, const char *name)
{
	uint8_t code[CODE_WINDOW];
	struct elf_file ef;
	uint64_t off;
	bool emulated = false;
	ssize_t got;
	int skip = 0, ret;

	ret = elf__open(&ef, loc->open);
	if (ret)
		return ret;
	ret = elf__vaddr_to_off(&ef, loc->vaddr, &off);
	got = elf__read(&ef, loc->vaddr, code, sizeof(code));
	elf__close(&ef);
	if (ret)
		return ret;
	if (got > 0)
		skip = x86__attach_offset(code, got, loc->vaddr, live, &emulated);
	if (skip < 0)
		skip = 0;
	debug("probe %s: %s+0x%lx (entry +%d, %s)", name, loc->path,
	      (unsigned long)off, skip, emulated ? "emulated" : "single-stepped");
	/* Return probe first: an entry seen before its return probe exists
	 * would leave the thread looking inside an allocator call, and its
	 * next calls would be taken for nested ones. */
	ret = exit ? add_link(pr, bpf_program__attach_uprobe(exit, true, pid, loc->open,
							    off + skip)) : 0;
	if (!ret)
		ret = add_link(pr, bpf_program__attach_uprobe(entry, false, pid, loc->open,
							      off + skip));
	if (ret)
		return ret;
	pr->functions++;
	pr->emulated += emulated;
	return 0;
}

int attach__allocators(struct pyleak_bpf *skel, const struct pyproc *p, bool partial,
		       struct probes *pr, char *err, size_t errlen)
{
	struct { char path[4096]; uint64_t vaddr; } done[64];
	int ndone = 0, ret;
	unsigned int i;
	int j;

	/* With PYTHONMALLOC=malloc every domain forwards to libc, which is
	 * probed anyway: one trap per allocation instead of two. */
	pr->python_tables = !partial && p->alloc_kind != PYALLOC_MALLOC;
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		const struct probe_spec *s = &specs[i];
		struct location loc;

		if (s->where == LIBC) {
			if (!p->libc[0]) {
				snprintf(err, errlen, "no libc mapped in pid %d", p->pid);
				return -ENOENT;
			}
			ret = locate_symbol(p->pid, p->libc, s->symbol, &loc);
		} else {
			const struct pyalloc_table *t = s->where == TABLE_OBJ ? &p->obj : &p->mem;

			if (!pr->python_tables)
				continue;
			ret = locate_table_fn(p->pid, table_fn(t, s->slot), &loc);
		}
		if (ret) {
			if (!s->required)
				continue;
			snprintf(err, errlen, "cannot locate %s in pid %d: %s", s->name, p->pid,
				 strerror(-ret));
			return ret;
		}
		/* aliases (memalign == aligned_alloc) and shared table functions */
		for (j = 0; j < ndone; j++)
			if (done[j].vaddr == loc.vaddr && !strcmp(done[j].path, loc.path))
				break;
		if (j < ndone)
			continue;
		ret = attach_at(pr, prog_at(skel, s->entry), s->exit ? prog_at(skel, s->exit) : NULL,
				p->pid, &loc, s->live, s->name);
		if (ret) {
			snprintf(err, errlen, "pid %d: cannot attach to %s in %s: %s", p->pid, s->name,
				 loc.path, strerror(-ret));
			return ret;
		}
		if (ndone < (int)(sizeof(done) / sizeof(done[0]))) {
			snprintf(done[ndone].path, sizeof(done[ndone].path), "%s", loc.path);
			done[ndone++].vaddr = loc.vaddr;
		}
	}
	return 0;
}

int attach__symbol(struct probes *pr, struct bpf_program *prog, int pid, const char *path,
		   const char *symbol, char *err, size_t errlen)
{
	struct location loc;
	struct elf_file ef;
	uint64_t off;
	int ret;

	ret = locate_symbol(pid, path, symbol, &loc);
	if (!ret && !(ret = elf__open(&ef, loc.open))) {
		ret = elf__vaddr_to_off(&ef, loc.vaddr, &off);
		elf__close(&ef);
	}
	if (!ret)
		ret = add_link(pr, bpf_program__attach_uprobe(prog, false, pid, loc.open, off));
	if (ret)
		snprintf(err, errlen, "cannot attach to %s in %s: %s", symbol, path, strerror(-ret));
	return ret;
}

void attach__destroy(struct probes *pr)
{
	int i;

	for (i = 0; i < pr->nlinks; i++)
		bpf_link__destroy(pr->links[i]);
	memset(pr, 0, sizeof(*pr));
}
