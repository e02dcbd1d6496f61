// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Find CPython in a process from the outside: the module exporting
 * _PyRuntime, its version, the struct offsets, the allocator tables the
 * exported wrappers read, and how a thread finds its PyThreadState.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include "log.h"
#include "sanitize.h"
#include "pyleak.h"
#include "python.h"
#include "x86.h"

#define SCAN_BYTES	256	/* enough for the exported wrappers and getters */
#define MAX_REFS	64
/* Fewer guard sites than this is not a PGO build, just a direct call or two. */
#define PGO_GUARD_MIN	16

/* Each executable file of m once, the lowest mapping of it first seen. */
static bool seen_before(const struct procmaps *m, int i)
{
	int j;

	for (j = 0; j < i; j++)
		if (m->e[j].exec && !strcmp(m->e[j].path, m->e[i].path))
			return true;
	return false;
}

/*
 * What was learnt of a file, by its identity (the device and inode its
 * mappings show, the same in every process and namespace that maps it): a
 * pre-fork server's twenty workers, or twenty containers of one image, cost
 * one analysis. A file replaced on disk (a package upgrade) is a new inode.
 * key: what was asked (a symbol's name hash, an address); value: the answer.
 */
#define FACTS 512

static struct file_fact {
	dev_t dev;
	uint64_t ino, key;
	int64_t value;
	bool used;
} facts[FACTS];
static unsigned int facts_next;

static bool fact_get(dev_t dev, uint64_t ino, uint64_t key, int64_t *value)
{
	unsigned int i;

	for (i = 0; i < FACTS && facts[i].used; i++)
		if (facts[i].dev == dev && facts[i].ino == ino && facts[i].key == key) {
			*value = facts[i].value;
			return true;
		}
	return false;
}

static void fact_put(dev_t dev, uint64_t ino, uint64_t key, int64_t value)
{
	facts[facts_next++ % FACTS] = (struct file_fact){ dev, ino, key, value, true };
}

static uint64_t name_key(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

/* Files are opened as mapped (proc__mapped_path): a deleted or replaced
 * interpreter is still the one running, and a name the target's owner
 * planted is never opened. */
static const char *find_exporting(pid_t pid, const struct procmaps *m, const char *symbol,
				  char *out, size_t len)
{
	uint64_t key = name_key(symbol);
	int64_t known;
	int i;

	for (i = 0; i < m->n; i++) {
		const struct map_entry *e = &m->e[i];
		struct elf_file ef;
		bool found;

		if (!e->exec || !e->path[0] || seen_before(m, i))
			continue;
		if (fact_get(e->dev, e->inode, key, &known) && !known)
			continue;
		if (proc__mapped_path(pid, e, out, len))
			continue;
		if (fact_get(e->dev, e->inode, key, &known))
			return e->path;		/* known to export it */
		if (elf__open(&ef, out))
			continue;
		found = elf__exports(&ef, symbol);
		elf__close(&ef);
		fact_put(e->dev, e->inode, key, found);
		if (found)
			return e->path;
	}
	return NULL;
}

const char *pyproc__find_module(pid_t pid, const struct procmaps *m, char *out, size_t len)
{
	return find_exporting(pid, m, "_PyRuntime", out, len);
}

static int read_u64(struct pyproc *p, uint64_t addr, uint64_t *v)
{
	return proc__read(p->pid, addr, v, sizeof(*v));
}

static int symbol_addr(struct pyproc *p, const char *name, uint64_t *addr)
{
	uint64_t v;

	if (elf__symbol(&p->elf, name, &v, NULL))
		return -ENOENT;
	*addr = v + p->bias;
	return 0;
}

/* "3.11.2" at the start of s: a version literal. */
static bool parse_version(struct pyproc *p, const char *s)
{
	int major, minor, n = 0;

	if (sscanf(s, "%d.%d%n", &major, &minor, &n) != 2 || major < 2 || major > 3 || n < 3)
		return false;
	p->major = major;
	p->minor = minor;
	n = strspn(s, "0123456789.abcr+");
	snprintf(p->version, sizeof(p->version), "%.*s", n, s);
	return true;
}

/*
 * 3.11+ exports Py_Version (PY_VERSION_HEX). Older versions: the literal
 * Py_GetVersion() formats, found through the addresses its code loads.
 */
static int detect_version(struct pyproc *p, char *err, size_t errlen)
{
	struct x86_ref refs[MAX_REFS];
	uint8_t code[SCAN_BYTES];
	uint64_t vaddr;
	uint32_t hex;
	int i, n;

	if (!elf__symbol(&p->elf, "Py_Version", &vaddr, NULL) &&
	    elf__read(&p->elf, vaddr, &hex, sizeof(hex)) == sizeof(hex)) {
		p->major = hex >> 24;
		p->minor = (hex >> 16) & 0xff;
		snprintf(p->version, sizeof(p->version), "%d.%d.%d%s", p->major, p->minor,
			 (hex >> 8) & 0xff, (hex & 0xf0) == 0xf0 ? "" : "pre");
		return 0;
	}
	if (!elf__symbol(&p->elf, "Py_GetVersion", &vaddr, NULL)) {
		ssize_t got = elf__read(&p->elf, vaddr, code, sizeof(code));

		n = got > 0 ? x86__scan(code, got, vaddr, 0, refs, MAX_REFS) : 0;
		for (i = 0; i < n; i++) {
			uint64_t a = refs[i].kind == X86_REF_IMM ? (uint64_t)refs[i].disp : refs[i].addr;
			char s[16] = {};

			if (refs[i].kind != X86_REF_IMM &&
			    (refs[i].kind != X86_REF_LEA || refs[i].base != X86_BASE_RIP))
				continue;
			if (elf__read(&p->elf, a, s, sizeof(s) - 1) > 0 && parse_version(p, s))
				return 0;
		}
	}
	/* libpython3.X.so.1.0 */
	{
		const char *so = elf__soname(&p->elf);

		if (so && !strncmp(so, "libpython", 9) && parse_version(p, so + 9))
			return 0;
	}
	snprintf(err, errlen, "%s: cannot tell the CPython version (no Py_Version, "
		 "Py_GetVersion literal or soname)", sanitize__t(p->module));
	return -ENOENT;
}

static int load_offsets(struct pyproc *p, char *err, size_t errlen)
{
	const struct pyver_offsets *t = pyoffsets__lookup(p->major, p->minor);
	uint8_t buf[1024];

	if (t && t->debug_offsets) {
		/* 3.13+ describes itself: _PyRuntime starts with _Py_DebugOffsets. */
		uint64_t hex = 0;

		if (proc__read(p->pid, p->runtime, buf, sizeof(buf))) {
			snprintf(err, errlen, "cannot read _Py_DebugOffsets at 0x%lx",
				 (unsigned long)p->runtime);
			return -EFAULT;
		}
		memcpy(&hex, buf + 8, sizeof(hex));
		if (pyoffsets__from_debug_offsets(buf, sizeof(buf), hex, &p->off, err, errlen))
			return -EINVAL;
		p->live_offsets = true;
		return 0;
	}
	if (!t) {
		snprintf(err, errlen, "CPython %s is not supported (supported: 3.8 to 3.13)",
			 p->version);
		return -ENOTSUP;
	}
	p->off = *t;
	return 0;
}

/*
 * The exported wrappers (PyObject_Malloc & co.) load the table's ctx and
 * malloc slots, 8 bytes apart: either rip-relative (3.8-3.11, static
 * tables) or through &_PyRuntime loaded from the GOT (3.12+). The lower
 * of the two addresses is the table.
 */
static int decode_table(struct pyproc *p, const char *wrapper, uint64_t *table)
{
	uint64_t regs[16] = {}, addrs[MAX_REFS], vaddr;
	struct x86_ref refs[MAX_REFS];
	uint8_t code[SCAN_BYTES];
	bool known[16] = {};
	int i, j, n, na = 0;
	ssize_t got;

	if (elf__symbol(&p->elf, wrapper, &vaddr, NULL))
		return -ENOENT;
	got = elf__read(&p->elf, vaddr, code, sizeof(code));
	if (got <= 0)
		return -EIO;
	n = x86__scan(code, got, vaddr, X86_SCAN_STOP_AT_JMP, refs, MAX_REFS);
	for (i = 0; i < n; i++) {
		struct x86_ref *r = &refs[i];
		uint64_t a;

		if (r->kind == X86_REF_IMM || r->kind == X86_REF_LEA || r->fs)
			continue;
		if (r->base == X86_BASE_RIP)
			a = r->addr + p->bias;
		else if (r->base >= 0 && r->base < 16 && known[r->base])
			a = regs[r->base] + r->disp;
		else
			continue;
		if (r->kind == X86_REF_LOAD && r->dst >= 0 && r->dst < 16) {
			/* mov GOT(%rip), %rax: remember the pointer it loads */
			known[r->dst] = !read_u64(p, a, &regs[r->dst]);
		}
		addrs[na++] = a;
	}
	for (i = 0; i < na; i++)
		for (j = 0; j < na; j++)
			if (addrs[j] == addrs[i] + 8) {
				*table = addrs[i];
				return 0;
			}
	return -ENOENT;
}

static int read_table(struct pyproc *p, const char *wrapper, uint32_t runtime_off,
		      struct pyalloc_table *t, char *err, size_t errlen)
{
	uint64_t slots[5];
	int ret = decode_table(p, wrapper, &t->addr);

	if (runtime_off != PYOFF_NONE) {
		uint64_t expect = p->runtime + runtime_off;

		/* 3.12+: the table is in _PyRuntime; the decode must agree. */
		if (!ret && t->addr != expect)
			info("pid %d: %s reads its table at 0x%lx, offsets say 0x%lx; using the code's",
			     p->pid, wrapper, (unsigned long)t->addr, (unsigned long)expect);
		if (ret)
			t->addr = expect;
		ret = 0;
	}
	if (ret) {
		snprintf(err, errlen, "cannot locate the allocator table behind %s", wrapper);
		return ret;
	}
	if (proc__read(p->pid, t->addr, slots, sizeof(slots))) {
		snprintf(err, errlen, "cannot read the allocator table at 0x%lx",
			 (unsigned long)t->addr);
		return -EFAULT;
	}
	t->ctx = slots[0];
	t->malloc = slots[1];
	t->calloc = slots[2];
	t->realloc = slots[3];
	t->free = slots[4];
	return 0;
}

/*
 * 3.12+: _Py_tss_tstate is a TLS variable. Decode the exported getter:
 * general-dynamic `lea GOTPAIR(%rip),%rdi; call __tls_get_addr` (shared
 * libpython), or `mov %fs:OFF,%rax` (local-exec, static executable), or
 * `mov GOT(%rip),%rax; mov %fs:(%rax),%rax` (initial-exec).
 */
static int decode_tls(struct pyproc *p, char *err, size_t errlen)
{
	static const char *const getters[] = {
		"PyThreadState_GetUnchecked", "_PyThreadState_UncheckedGet", "PyThreadState_Get",
	};
	uint64_t regs[16] = {};
	bool known[16] = {};
	unsigned int g;
	int i, n;

	for (g = 0; g < sizeof(getters) / sizeof(getters[0]); g++) {
		struct x86_ref refs[MAX_REFS];
		uint8_t code[SCAN_BYTES];
		uint64_t vaddr;
		ssize_t got;

		if (elf__symbol(&p->elf, getters[g], &vaddr, NULL))
			continue;
		got = elf__read(&p->elf, vaddr, code, sizeof(code));
		n = got > 0 ? x86__scan(code, got, vaddr, X86_SCAN_STOP_AT_JMP, refs, MAX_REFS) : 0;
		for (i = 0; i < n; i++) {
			struct x86_ref *r = &refs[i];

			if (r->kind == X86_REF_LEA && r->base == X86_BASE_RIP && r->dst == 7) {
				uint64_t pair[2];

				if (proc__read(p->pid, r->addr + p->bias, pair, sizeof(pair)))
					break;
				p->tstate_mode = TSTATE_TLS_DTV;
				p->tls_module = (uint32_t)pair[0];
				p->tls_offset = (int64_t)pair[1];
				return 0;
			}
			if (r->kind == X86_REF_LOAD && r->fs && r->base == X86_BASE_NONE) {
				p->tstate_mode = TSTATE_TLS_FS;
				p->tls_offset = r->disp;
				return 0;
			}
			if (r->kind == X86_REF_LOAD && r->fs && r->base >= 0 && r->base < 16 &&
			    known[r->base]) {
				p->tstate_mode = TSTATE_TLS_FS;
				p->tls_offset = (int64_t)regs[r->base] + r->disp;
				return 0;
			}
			if (r->kind == X86_REF_LOAD && r->base == X86_BASE_RIP && r->dst >= 0 &&
			    r->dst < 16)
				known[r->dst] = !read_u64(p, r->addr + p->bias, &regs[r->dst]);
		}
	}
	snprintf(err, errlen, "cannot decode how CPython %s finds its thread state (TLS)",
		 p->version);
	return -ENOENT;
}

/* Count the PGO guards in front of inlined copies of the object allocator. */
static int count_guards(struct pyproc *p)
{
	uint64_t text, size, target = p->obj.malloc - p->bias;
	struct stat st;
	int64_t known;
	uint8_t *buf;
	ssize_t got;
	int n;

	/* decoding all of .text takes tens of ms: once per file and target */
	if (!fstat(p->elf.fd, &st) && fact_get(st.st_dev, st.st_ino, target, &known))
		return known;
	if (elf__section(&p->elf, ".text", &text, &size) || target < text ||
	    target >= text + size)
		return 0;
	buf = malloc(size);
	if (!buf)
		return 0;
	got = elf__read(&p->elf, text, buf, size);
	n = got > 0 ? x86__count_guards(buf, got, text, target) : 0;
	free(buf);
	if (got > 0 && !fstat(p->elf.fd, &st))
		fact_put(st.st_dev, st.st_ino, target, n);
	return n;
}

static void find_libc(struct pyproc *p, const struct procmaps *m)
{
	int i;

	for (i = 0; i < m->n; i++) {
		const char *base = strrchr(m->e[i].path, '/');

		if (!m->e[i].exec || !base)
			continue;
		if (!strncmp(base + 1, "libc.so", 7) || !strncmp(base + 1, "libc-2.", 7)) {
			snprintf(p->libc, sizeof(p->libc), "%s", m->e[i].path);
			proc__mapped_path(p->pid, &m->e[i], p->libc_open, sizeof(p->libc_open));
			return;
		}
	}
}

/* Why /proc/PID/exe cannot be read: a kernel thread or a zombie has no
 * executable, a process we may not trace hides it. */
static int explain_no_exe(pid_t pid, int ret, char *err, size_t errlen)
{
	char fn[64], buf[1024], comm[64] = "", *open_paren, *close_paren;
	unsigned long flags = 0;
	char state = 0;
	ssize_t n;
	int fd;

	snprintf(fn, sizeof(fn), "/proc/%d/stat", pid);
	fd = open(fn, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		snprintf(err, errlen, "no such process");
		return -ESRCH;
	}
	buf[n] = '\0';
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (open_paren && close_paren && close_paren > open_paren) {
		snprintf(comm, sizeof(comm), "%.*s", (int)(close_paren - open_paren - 1),
			 open_paren + 1);
		/* state, ppid, pgrp, session, tty_nr, tpgid, flags */
		sscanf(close_paren + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags);
	}
	/* PF_KTHREAD (include/linux/sched.h) */
	if (flags & 0x00200000) {
		snprintf(err, errlen, "is a kernel thread (%s), not a process with a program",
			 sanitize__t(comm));
		return -EINVAL;
	}
	if (state == 'Z' || state == 'X') {
		snprintf(err, errlen, "has exited (a zombie not yet reaped by its parent)");
		return -ESRCH;
	}
	if (ret == -ENOENT) {
		snprintf(err, errlen, "no such process");
		return -ESRCH;
	}
	snprintf(err, errlen, "cannot read /proc/%d/exe: %s%s", pid, strerror(-ret),
		 ret == -EACCES || ret == -EPERM ? " (ptrace access to it is denied: another "
		 "user namespace, or a security module)" : "");
	return ret;
}

/*
 * No module exports _PyRuntime (3.7+): is it an older CPython? Its
 * version, from Py_GetVersion's literal, makes a better error than "not
 * a CPython process".
 */
static bool old_cpython(struct pyproc *p, const struct procmaps *m)
{
	char path[4200], err[256];
	const char *mod = find_exporting(p->pid, m, "Py_GetVersion", path, sizeof(path));
	bool ok;

	if (!mod || elf__open(&p->elf, path))
		return false;
	snprintf(p->module, sizeof(p->module), "%s", mod);
	ok = !detect_version(p, err, sizeof(err));
	elf__close(&p->elf);
	return ok;
}

bool pyproc__old_version(pid_t pid, const struct procmaps *m, char *version, size_t len)
{
	struct pyproc *p = calloc(1, sizeof(*p));
	bool old;

	if (!p)
		return false;
	p->pid = pid;
	p->elf.fd = -1;
	old = old_cpython(p, m);
	if (old)
		snprintf(version, len, "%s", p->version);
	free(p);
	return old;
}

int pyproc__open(struct pyproc *p, pid_t pid, char *err, size_t errlen)
{
	struct procmaps m;
	const char *mod;
	uint64_t start;
	ssize_t n;
	char fn[64];
	int ret;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->elf.fd = -1;
	snprintf(fn, sizeof(fn), "/proc/%d/exe", pid);
	n = readlink(fn, p->exe, sizeof(p->exe) - 1);
	if (n < 0)
		return explain_no_exe(pid, -errno, err, errlen);
	p->exe[n] = '\0';
	ret = procmaps__read(pid, &m);
	if (ret) {
		snprintf(err, errlen, "cannot read /proc/%d/maps: %s", pid, strerror(-ret));
		return ret;
	}
	mod = pyproc__find_module(pid, &m, p->module_open, sizeof(p->module_open));
	if (!mod && old_cpython(p, &m)) {
		snprintf(err, errlen, "CPython %s is not supported (%s)", p->version,
			 pyoffsets__supported());
		ret = -ENOTSUP;
		goto out;
	}
	if (!mod) {
		snprintf(err, errlen, "not a CPython process: nothing in %s or its libraries "
			 "exports _PyRuntime", sanitize__t(p->exe));
		ret = -ESRCH;
		goto out;
	}
	snprintf(p->module, sizeof(p->module), "%s", mod);
	ret = elf__open(&p->elf, p->module_open);
	if (ret) {
		snprintf(err, errlen, "cannot read %s: %s", sanitize__t(p->module), strerror(-ret));
		goto out;
	}
	procmaps__module_start(&m, p->module, &start);
	p->bias = start - elf__first_load(&p->elf);
	find_libc(p, &m);

	ret = detect_version(p, err, errlen);
	if (ret)
		goto out;
	if (!pyoffsets__lookup(p->major, p->minor)) {
		snprintf(err, errlen, "CPython %s is not supported (%s)", p->version,
			 pyoffsets__supported());
		ret = -ENOTSUP;
		goto out;
	}
	symbol_addr(p, "_PyRuntime", &p->runtime);
	if (symbol_addr(p, "PyCode_Type", &p->code_type))
		p->code_type = 0;
	if (symbol_addr(p, "PyUnicode_Type", &p->str_type))
		p->str_type = 0;
	ret = load_offsets(p, err, errlen);
	if (ret)
		goto out;

	ret = read_table(p, "PyMem_RawMalloc", p->off.runtime_alloc_raw, &p->raw, err, errlen) ?:
	      read_table(p, "PyMem_Malloc", p->off.runtime_alloc_mem, &p->mem, err, errlen) ?:
	      read_table(p, "PyObject_Malloc", p->off.runtime_alloc_obj, &p->obj, err, errlen);
	if (ret)
		goto out;
	/* Caught between its exec and its start-up (-a, a followed exec): the
	 * tables are not relocated yet; the caller looks again. */
	{
		const struct map_entry *a = procmaps__find(&m, p->raw.malloc),
				       *b = procmaps__find(&m, p->obj.malloc);

		if (!a || !a->exec || !b || !b->exec) {
			snprintf(err, errlen, "its allocator tables are not set up yet (the "
				 "interpreter is starting)");
			ret = -EAGAIN;
			goto out;
		}
	}
	if (p->obj.malloc == p->raw.malloc)
		p->alloc_kind = PYALLOC_MALLOC;
	else if (p->obj.ctx)
		p->alloc_kind = PYALLOC_HOOKED;
	else
		p->alloc_kind = PYALLOC_DEFAULT;
	p->guards = count_guards(p);

	if (p->off.runtime_tstate_current != PYOFF_NONE) {
		p->tstate_mode = TSTATE_GLOBAL;
		p->tstate_addr = p->runtime + p->off.runtime_tstate_current;
	} else {
		ret = decode_tls(p, err, errlen);
		if (ret)
			goto out;
	}
	debug("pid %d: %s CPython %s bias 0x%lx runtime 0x%lx obj table 0x%lx malloc 0x%lx "
	      "guards %d tstate mode %u", pid, p->module, p->version, (unsigned long)p->bias,
	      (unsigned long)p->runtime, (unsigned long)p->obj.addr,
	      (unsigned long)p->obj.malloc, p->guards, p->tstate_mode);
out:
	procmaps__free(&m);
	if (ret)
		elf__close(&p->elf);
	return ret;
}

void pyproc__close(struct pyproc *p)
{
	elf__close(&p->elf);
}

void pyproc__bpf_offsets(const struct pyproc *p, struct py_offsets *b)
{
	memset(b, 0, sizeof(*b));
	pyoffsets__to_bpf(&p->off, b);
	b->tstate_mode = p->tstate_mode;
	b->tstate_addr = p->tstate_addr;
	b->tls_offset = p->tls_offset;
	b->tls_module = p->tls_module;
	b->interp_head = p->runtime + p->off.runtime_interpreters_head;
}

bool pyproc__pymalloc_inlined(const struct pyproc *p)
{
	return p->alloc_kind == PYALLOC_DEFAULT && p->guards >= PGO_GUARD_MIN;
}

const char *pyproc__alloc_name(const struct pyproc *p)
{
	switch (p->alloc_kind) {
	case PYALLOC_MALLOC:
		return "malloc";
	case PYALLOC_HOOKED:
		return "hooked";
	default:
		return "pymalloc";
	}
}

/*
 * Without a process: does this module's PyObject_Malloc test the table
 * slot against its default before an inlined copy (PGO)? A plain build's
 * wrapper only loads the slot and jumps (`mov; jmp *`); a guarded one
 * compares it with a code address (`cmp $imm` or a rip-relative `lea`).
 * Returns 1, 0, or -ENOENT when the module has no PyObject_Malloc.
 */
int pymodule__guarded(struct elf_file *ef)
{
	uint64_t vaddr, text, size;
	struct x86_ref refs[MAX_REFS];
	uint8_t code[SCAN_BYTES];
	ssize_t got;
	int i, n;

	if (elf__symbol(ef, "PyObject_Malloc", &vaddr, NULL) ||
	    elf__section(ef, ".text", &text, &size))
		return -ENOENT;
	got = elf__read(ef, vaddr, code, sizeof(code));
	n = got > 0 ? x86__scan(code, got, vaddr, X86_SCAN_STOP_AT_JMP, refs, MAX_REFS) : 0;
	for (i = 0; i < n; i++) {
		uint64_t a = refs[i].kind == X86_REF_IMM ? (uint64_t)refs[i].disp :
			     refs[i].kind == X86_REF_LEA && refs[i].base == X86_BASE_RIP ?
			     refs[i].addr : 0;

		if (a >= text && a < text + size)
			return 1;
	}
	return 0;
}
