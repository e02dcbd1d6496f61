// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/pyoffsets.c: the built-in tables against the DWARF of every pyenv
 * interpreter present, and the 3.13 _Py_DebugOffsets reader against a blob
 * recorded from a live 3.13.0 (tools/dump-debug-offsets.py) and corrupted
 * copies of it.
 *
 * Debian's /usr/bin/python3.11 is stripped and has no debug file installed
 * (its deb12u6 build has none to download), so there is no DWARF to check
 * it by; the 3.11 entry rests on pyenv 3.11.7 here and on the deb12u8
 * python3.11-dbg pahole dump, identical for every field the table holds
 * (design/cpython-offsets/).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>

#include "pyleak.h"
#include "pyoffsets.h"
#include "data/debug_offsets_3_13_0.h"

#define MIN_MINOR	8
#define MAX_MINOR	13

/* ---- DWARF access ------------------------------------------------------ */

struct dwlib {
	int fd;
	Dwarf *dw;
	char path[1024];
	char version[32];	/* pyenv directory name, e.g. 3.11.7 */
};

static int dwlib_open(struct dwlib *l, const char *path, const char *version)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->version, sizeof(l->version), "%.31s", version);
	l->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (l->fd < 0)
		return -errno;
	l->dw = dwarf_begin(l->fd, DWARF_C_READ);
	if (!l->dw) {
		close(l->fd);
		return -ENODATA;
	}
	return 0;
}

static void dwlib_close(struct dwlib *l)
{
	if (l->dw)
		dwarf_end(l->dw);
	if (l->fd >= 0)
		close(l->fd);
}

static int die_is_complete_aggregate(Dwarf_Die *d)
{
	int tag = dwarf_tag(d);

	return (tag == DW_TAG_structure_type || tag == DW_TAG_union_type) &&
	       !dwarf_hasattr(d, DW_AT_declaration) && dwarf_hasattr(d, DW_AT_byte_size);
}

/* Strip typedefs and qualifiers. */
static int peel(Dwarf_Die *d, Dwarf_Die *out)
{
	return dwarf_peel_type(d, out) == 0 ? 0 : -1;
}

static int die_type(Dwarf_Die *d, Dwarf_Die *out)
{
	Dwarf_Attribute a;

	if (!dwarf_attr(d, DW_AT_type, &a) || !dwarf_formref_die(&a, out))
		return -1;
	return 0;
}

/*
 * Find the complete struct a name stands for: a struct/union tag, or a
 * typedef (PyThreadState -> struct _ts). A typedef of a struct that is only
 * declared in its unit sends the search on to the struct's tag.
 */
static int find_type(struct dwlib *l, const char *name, Dwarf_Die *out, int depth)
{
	Dwarf_Off off = 0, next;
	size_t hsize;
	char fwd[128] = "";

	while (dwarf_next_unit(l->dw, off, &next, &hsize, NULL, NULL, NULL, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, child;
		Dwarf_Off cu_off = off;

		off = next;
		if (!dwarf_offdie(l->dw, cu_off + hsize, &cu))
			continue;
		if (dwarf_child(&cu, &child) != 0)
			continue;
		do {
			int tag = dwarf_tag(&child);
			const char *n;

			if (tag != DW_TAG_typedef && tag != DW_TAG_structure_type &&
			    tag != DW_TAG_union_type)
				continue;
			n = dwarf_diename(&child);
			if (!n || strcmp(n, name))
				continue;
			if (tag != DW_TAG_typedef) {
				if (die_is_complete_aggregate(&child)) {
					*out = child;
					return 0;
				}
				continue;
			}
			{
				Dwarf_Die t, p;
				const char *tn;

				if (die_type(&child, &t) || peel(&t, &p))
					continue;
				if (die_is_complete_aggregate(&p)) {
					*out = p;
					return 0;
				}
				tn = dwarf_diename(&p);
				if (tn && !fwd[0])
					snprintf(fwd, sizeof(fwd), "%s", tn);
			}
		} while (dwarf_siblingof(&child, &child) == 0);
	}
	if (fwd[0] && depth < 2 && strcmp(fwd, name))
		return find_type(l, fwd, out, depth + 1);
	return -1;
}

/* Look a member up by name, descending into anonymous struct/union members. */
static int find_member(Dwarf_Die *agg, const char *name, Dwarf_Die *member, uint64_t *off)
{
	Dwarf_Die c;

	if (dwarf_child(agg, &c) != 0)
		return -1;
	do {
		Dwarf_Attribute a;
		Dwarf_Word loc = 0;
		const char *n;

		if (dwarf_tag(&c) != DW_TAG_member)
			continue;
		if (dwarf_attr(&c, DW_AT_data_member_location, &a) &&
		    dwarf_formudata(&a, &loc) != 0)
			continue;	/* location expression: not emitted by gcc for C */
		n = dwarf_diename(&c);
		if (n && !strcmp(n, name)) {
			*member = c;
			*off = loc;
			return 0;
		}
		if (!n) {
			Dwarf_Die t, p;
			uint64_t inner;

			if (die_type(&c, &t) == 0 && peel(&t, &p) == 0 &&
			    find_member(&p, name, member, &inner) == 0) {
				*off = loc + inner;
				return 0;
			}
		}
	} while (dwarf_siblingof(&c, &c) == 0);
	return -1;
}

struct dwfield {
	uint64_t off;		/* offset of the member, or sizeof(type) for no path */
	uint64_t size;		/* bytes the member spans */
	int is_ptr;
};

/* Resolve "a.b.c" in type; -1 when the type or any member is missing. */
static int dw_lookup(struct dwlib *l, const char *type, const char *path, struct dwfield *f)
{
	Dwarf_Die cur, m, t, p;
	char buf[128], *s, *save = NULL;
	Dwarf_Word sz;

	memset(f, 0, sizeof(*f));
	if (find_type(l, type, &cur, 0))
		return -1;
	if (!path) {
		if (dwarf_aggregate_size(&cur, &sz))
			return -1;
		f->off = sz;
		f->size = sz;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", path);
	for (s = strtok_r(buf, ".", &save); s; s = strtok_r(NULL, ".", &save)) {
		uint64_t o;

		if (find_member(&cur, s, &m, &o))
			return -1;
		f->off += o;
		if (die_type(&m, &t) || peel(&t, &p))
			return -1;
		cur = p;
	}
	f->is_ptr = dwarf_tag(&cur) == DW_TAG_pointer_type;
	f->size = dwarf_aggregate_size(&cur, &sz) == 0 ? sz : 0;
	return 0;
}

/* Value of an enumerator in any top-level enum, -1 when there is none. */
static int dw_enumerator(struct dwlib *l, const char *name, int64_t *val)
{
	Dwarf_Off off = 0, next;
	size_t hsize;

	while (dwarf_next_unit(l->dw, off, &next, &hsize, NULL, NULL, NULL, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, e, c;
		Dwarf_Off cu_off = off;

		off = next;
		if (!dwarf_offdie(l->dw, cu_off + hsize, &cu) || dwarf_child(&cu, &e) != 0)
			continue;
		do {
			if (dwarf_tag(&e) != DW_TAG_enumeration_type || dwarf_child(&e, &c) != 0)
				continue;
			do {
				Dwarf_Attribute a;
				Dwarf_Sword v;
				const char *n = dwarf_diename(&c);

				if (n && !strcmp(n, name) && dwarf_attr(&c, DW_AT_const_value, &a) &&
				    dwarf_formsdata(&a, &v) == 0) {
					*val = v;
					return 0;
				}
			} while (dwarf_siblingof(&c, &c) == 0);
		} while (dwarf_siblingof(&e, &e) == 0);
	}
	return -1;
}

/* Bytes a top-level variable's type spans (an array: all its elements); -1
 * when no unit defines it. */
static int dw_variable_size(struct dwlib *l, const char *name, uint64_t *size)
{
	Dwarf_Off off = 0, next;
	size_t hsize;

	while (dwarf_next_unit(l->dw, off, &next, &hsize, NULL, NULL, NULL, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, v, t;
		Dwarf_Off cu_off = off;
		Dwarf_Word sz;

		off = next;
		if (!dwarf_offdie(l->dw, cu_off + hsize, &cu) || dwarf_child(&cu, &v) != 0)
			continue;
		do {
			const char *n = dwarf_diename(&v);

			if (dwarf_tag(&v) == DW_TAG_variable && n && !strcmp(n, name) &&
			    !die_type(&v, &t) && dwarf_aggregate_size(&t, &sz) == 0) {
				*size = sz;
				return 0;
			}
		} while (dwarf_siblingof(&v, &v) == 0);
	}
	return -1;
}

/* The bytes of an initialized global (.data), from .dynsym and its section. */
static int elf_symbol_bytes(struct dwlib *l, const char *sym, void *buf, size_t len)
{
	Elf *elf = dwarf_getelf(l->dw);
	Elf_Scn *scn = NULL;
	GElf_Addr addr = 0;
	int found = 0;

	while (!found && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t i;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
			continue;
		d = elf_getdata(scn, NULL);
		for (i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;

			if (!gelf_getsym(d, i, &s))
				break;
			n = elf_strptr(elf, sh.sh_link, s.st_name);
			if (n && !strcmp(n, sym) && s.st_shndx != SHN_UNDEF) {
				addr = s.st_value;
				found = 1;
				break;
			}
		}
	}
	if (!found)
		return -ENOENT;
	scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC) ||
		    addr < sh.sh_addr || addr + len > sh.sh_addr + sh.sh_size)
			continue;
		if (sh.sh_type != SHT_PROGBITS)
			return -ENODATA;
		d = elf_rawdata(scn, NULL);
		if (!d || addr - sh.sh_addr + len > d->d_size)
			return -ENODATA;
		memcpy(buf, (char *)d->d_buf + (addr - sh.sh_addr), len);
		return 0;
	}
	return -ENOENT;
}

/* ---- pyenv interpreters ----------------------------------------------- */

static const char *pyenv_root(void)
{
	const char *r = getenv("PYENV_ROOT");

	return r && *r ? r : "/root/.pyenv";
}

/*
 * Every pyenv build of 3.<minor> (versions/3.<minor>.*, shared libpython
 * with DWARF). Returns the number found, names into versions[].
 */
static int pyenv_builds(int minor, char versions[][32], int max)
{
	char dir[512], prefix[16];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/versions", pyenv_root());
	snprintf(prefix, sizeof(prefix), "3.%d.", minor);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		char lib[1024];
		const char *rest;

		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		/* 3.13.0 yes, 3.13.0t (free-threaded) or 3.13-dev no */
		for (rest = de->d_name + strlen(prefix); *rest >= '0' && *rest <= '9'; rest++)
			;
		if (*rest || rest == de->d_name + strlen(prefix))
			continue;
		snprintf(lib, sizeof(lib), "%s/%s/lib/libpython3.%d.so.1.0", dir, de->d_name, minor);
		if (access(lib, R_OK))
			continue;
		snprintf(versions[n++], 32, "%.31s", de->d_name);
	}
	closedir(d);
	return n;
}

/* ---- what to check ----------------------------------------------------- */

#define ABSENT		0x1	/* the table must say PYOFF_NONE and DWARF have no such member */
#define CHECK_PTR	0x2	/* the member is a pointer iff the table's frame_pos_is_ptr */
#define CHECK_OBMALLOC_PTR 0x4	/* the member is a pointer iff the table's obmalloc_is_ptr */

struct dwarf_check {
	const char *field;	/* struct pyver_offsets member */
	size_t off;		/* offsetof(struct pyver_offsets, field) */
	int min, max;		/* minor versions the row applies to */
	const char *type;	/* CPython typedef or struct tag */
	const char *path;	/* member path, NULL for sizeof(type) */
	unsigned int width;	/* bytes the member must span, 0: any */
	unsigned int flags;
};

#define ROW(f, lo, hi, t, p, w) \
	{ #f, offsetof(struct pyver_offsets, f), lo, hi, t, p, w, 0 }
#define ROWF(f, lo, hi, t, p, w, fl) \
	{ #f, offsetof(struct pyver_offsets, f), lo, hi, t, p, w, fl }
#define NONE(f, lo, hi, t, p) \
	{ #f, offsetof(struct pyver_offsets, f), lo, hi, t, p, 0, ABSENT }

static const struct dwarf_check dwarf_checks[] = {
	ROW(runtime_tstate_current, 8, 11, "_PyRuntimeState", "gilstate.tstate_current", 8),
	NONE(runtime_tstate_current, 12, 13, "_PyRuntimeState", "gilstate.tstate_current"),
	ROW(runtime_interpreters_head, 8, 13, "_PyRuntimeState", "interpreters.head", 8),
	ROW(runtime_alloc_raw, 12, 13, "_PyRuntimeState", "allocators.standard.raw", 40),
	ROW(runtime_alloc_mem, 12, 13, "_PyRuntimeState", "allocators.standard.mem", 40),
	ROW(runtime_alloc_obj, 12, 13, "_PyRuntimeState", "allocators.standard.obj", 40),
	NONE(runtime_alloc_raw, 8, 11, "_PyRuntimeState", "allocators"),
	NONE(runtime_alloc_mem, 8, 11, "_PyRuntimeState", "allocators"),
	NONE(runtime_alloc_obj, 8, 11, "_PyRuntimeState", "allocators"),

	ROW(interp_threads_head, 8, 10, "PyInterpreterState", "tstate_head", 8),
	ROW(interp_threads_head, 11, 13, "PyInterpreterState", "threads.head", 8),

	ROW(tstate_next, 8, 13, "PyThreadState", "next", 8),
	ROW(tstate_frame, 8, 10, "PyThreadState", "frame", 8),
	ROW(tstate_frame, 11, 12, "PyThreadState", "cframe", 8),
	ROW(tstate_frame, 13, 13, "PyThreadState", "current_frame", 8),
	ROW(tstate_thread_id, 8, 13, "PyThreadState", "thread_id", 8),
	ROW(tstate_native_thread_id, 11, 13, "PyThreadState", "native_thread_id", 8),
	NONE(tstate_native_thread_id, 8, 10, "PyThreadState", "native_thread_id"),
	ROW(cframe_current_frame, 11, 12, "_PyCFrame", "current_frame", 8),
	NONE(cframe_current_frame, 8, 10, "_PyCFrame", "current_frame"),
	NONE(cframe_current_frame, 13, 13, "_PyCFrame", "current_frame"),

	ROW(frame_code, 8, 10, "PyFrameObject", "f_code", 8),
	ROW(frame_code, 11, 12, "_PyInterpreterFrame", "f_code", 8),
	ROW(frame_code, 13, 13, "_PyInterpreterFrame", "f_executable", 8),
	ROW(frame_previous, 8, 10, "PyFrameObject", "f_back", 8),
	ROW(frame_previous, 11, 13, "_PyInterpreterFrame", "previous", 8),
	ROWF(frame_pos, 8, 10, "PyFrameObject", "f_lasti", 4, CHECK_PTR),
	ROWF(frame_pos, 11, 12, "_PyInterpreterFrame", "prev_instr", 8, CHECK_PTR),
	ROWF(frame_pos, 13, 13, "_PyInterpreterFrame", "instr_ptr", 8, CHECK_PTR),
	ROW(frame_owner, 11, 13, "_PyInterpreterFrame", "owner", 1),
	NONE(frame_owner, 8, 10, "_PyInterpreterFrame", "owner"),

	ROW(code_filename, 8, 13, "PyCodeObject", "co_filename", 8),
	ROW(code_name, 8, 13, "PyCodeObject", "co_name", 8),
	ROW(code_qualname, 11, 13, "PyCodeObject", "co_qualname", 8),
	NONE(code_qualname, 8, 10, "PyCodeObject", "co_qualname"),
	ROW(code_firstlineno, 8, 13, "PyCodeObject", "co_firstlineno", 4),
	ROW(code_linetable, 8, 9, "PyCodeObject", "co_lnotab", 8),
	ROW(code_linetable, 10, 13, "PyCodeObject", "co_linetable", 8),
	ROW(code_adaptive, 11, 13, "PyCodeObject", "co_code_adaptive", 0),
	NONE(code_adaptive, 8, 10, "PyCodeObject", "co_code_adaptive"),

	ROW(object_type, 8, 13, "PyObject", "ob_type", 8),
	ROW(varobject_size, 8, 13, "PyVarObject", "ob_size", 8),
	ROW(bytes_sval, 8, 13, "PyBytesObject", "ob_sval", 0),
	ROW(unicode_length, 8, 13, "PyASCIIObject", "length", 8),
	ROW(unicode_state, 8, 13, "PyASCIIObject", "state", 4),
	ROW(unicode_ascii_data, 8, 13, "PyASCIIObject", NULL, 0),
	ROW(unicode_compact_data, 8, 13, "PyCompactUnicodeObject", NULL, 0),

	/* heap census */
	ROW(runtime_interpreters_main, 8, 13, "_PyRuntimeState", "interpreters.main", 8),
	ROW(runtime_gc, 8, 8, "_PyRuntimeState", "gc", 240),
	NONE(runtime_gc, 9, 13, "_PyRuntimeState", "gc"),
	NONE(interp_gc, 8, 8, "PyInterpreterState", "gc"),
	ROW(interp_gc, 9, 13, "PyInterpreterState", "gc", 240),
	ROW(interp_modules, 8, 11, "PyInterpreterState", "modules", 8),
	ROW(interp_modules, 12, 13, "PyInterpreterState", "imports.modules", 8),
	NONE(interp_obmalloc, 8, 11, "PyInterpreterState", "obmalloc"),
	ROWF(interp_obmalloc, 12, 12, "PyInterpreterState", "obmalloc", 0, CHECK_OBMALLOC_PTR),
	ROWF(interp_obmalloc, 13, 13, "PyInterpreterState", "obmalloc", 8, CHECK_OBMALLOC_PTR),
	NONE(obmalloc_narenas, 8, 11, "_obmalloc_state", "mgmt"),
	ROW(obmalloc_narenas, 12, 13, "_obmalloc_state", "mgmt.narenas_currently_allocated", 8),
	NONE(obmalloc_ntimes, 8, 11, "_obmalloc_state", "mgmt"),
	ROW(obmalloc_ntimes, 12, 13, "_obmalloc_state", "mgmt.ntimes_arena_allocated", 8),
	NONE(obmalloc_highwater, 8, 11, "_obmalloc_state", "mgmt"),
	ROW(obmalloc_highwater, 12, 13, "_obmalloc_state", "mgmt.narenas_highwater", 8),
	NONE(obmalloc_arenas, 8, 11, "_obmalloc_state", "mgmt"),
	ROW(obmalloc_arenas, 12, 13, "_obmalloc_state", "mgmt.arenas", 8),
	NONE(obmalloc_maxarenas, 8, 11, "_obmalloc_state", "mgmt"),
	ROW(obmalloc_maxarenas, 12, 13, "_obmalloc_state", "mgmt.maxarenas", 4),
	ROW(arena_object_size, 8, 13, "arena_object", NULL, 0),
	ROW(arena_address, 8, 13, "arena_object", "address", 8),
	ROW(arena_pool_address, 8, 13, "arena_object", "pool_address", 8),
	ROW(arena_nfreepools, 8, 13, "arena_object", "nfreepools", 4),
	ROW(arena_ntotalpools, 8, 13, "arena_object", "ntotalpools", 4),
	ROW(pool_header_size, 8, 13, "pool_header", NULL, 0),
	ROW(pool_count, 8, 13, "pool_header", "ref.count", 4),
	ROW(pool_arenaindex, 8, 13, "pool_header", "arenaindex", 4),
	ROW(pool_szidx, 8, 13, "pool_header", "szidx", 4),
	ROW(pool_nextoffset, 8, 13, "pool_header", "nextoffset", 4),
	ROW(pool_maxnextoffset, 8, 13, "pool_header", "maxnextoffset", 4),

	ROW(gc_enabled, 8, 13, "_gc_runtime_state", "enabled", 4),
	ROW(gc_generations, 8, 13, "_gc_runtime_state", "generations", 72),
	ROW(gc_generation_size, 8, 13, "gc_generation", NULL, 0),
	ROW(gc_permanent, 8, 13, "_gc_runtime_state", "permanent_generation", 24),
	ROW(gc_generation_stats, 8, 13, "_gc_runtime_state", "generation_stats", 72),
	ROW(gc_stats_size, 8, 13, "gc_generation_stats", NULL, 0),
	ROW(gc_collecting, 8, 13, "_gc_runtime_state", "collecting", 4),
	ROW(gc_garbage, 8, 13, "_gc_runtime_state", "garbage", 8),
	ROW(gen_threshold, 8, 13, "gc_generation", "threshold", 4),
	ROW(gen_count, 8, 13, "gc_generation", "count", 4),
	ROW(stats_collections, 8, 13, "gc_generation_stats", "collections", 8),
	ROW(stats_uncollectable, 8, 13, "gc_generation_stats", "uncollectable", 8),
	ROW(gchead_size, 8, 13, "PyGC_Head", NULL, 0),
	ROW(gchead_next, 8, 13, "PyGC_Head", "_gc_next", 8),
	ROW(gchead_prev, 8, 13, "PyGC_Head", "_gc_prev", 8),

	ROW(type_name, 8, 13, "PyTypeObject", "tp_name", 8),
	ROW(type_basicsize, 8, 13, "PyTypeObject", "tp_basicsize", 8),
	ROW(type_itemsize, 8, 13, "PyTypeObject", "tp_itemsize", 8),
	ROW(type_flags, 8, 13, "PyTypeObject", "tp_flags", 8),
	ROW(type_base, 8, 13, "PyTypeObject", "tp_base", 8),
	ROW(type_dict, 8, 13, "PyTypeObject", "tp_dict", 8),
	ROW(type_dictoffset, 8, 13, "PyTypeObject", "tp_dictoffset", 8),
	ROW(heaptype_qualname, 8, 13, "PyHeapTypeObject", "ht_qualname", 8),
	ROW(heaptype_cached_keys, 8, 13, "PyHeapTypeObject", "ht_cached_keys", 8),

	ROW(list_item, 8, 13, "PyListObject", "ob_item", 8),
	ROW(list_allocated, 8, 13, "PyListObject", "allocated", 8),
	ROW(tuple_item, 8, 13, "PyTupleObject", "ob_item", 0),
	ROW(set_used, 8, 13, "PySetObject", "used", 8),
	ROW(set_mask, 8, 13, "PySetObject", "mask", 8),
	ROW(set_table, 8, 13, "PySetObject", "table", 8),
	ROW(setentry_size, 8, 13, "setentry", NULL, 0),
	ROW(dict_used, 8, 13, "PyDictObject", "ma_used", 8),
	ROW(dict_keys, 8, 13, "PyDictObject", "ma_keys", 8),
	ROW(dict_values, 8, 13, "PyDictObject", "ma_values", 8),
	ROW(dictkeys_size, 8, 10, "_dictkeysobject", "dk_size", 8),
	NONE(dictkeys_size, 11, 13, "_dictkeysobject", "dk_size"),
	NONE(dictkeys_log2_size, 8, 10, "_dictkeysobject", "dk_log2_size"),
	ROW(dictkeys_log2_size, 11, 13, "_dictkeysobject", "dk_log2_size", 1),
	NONE(dictkeys_log2_index_bytes, 8, 10, "_dictkeysobject", "dk_log2_index_bytes"),
	ROW(dictkeys_log2_index_bytes, 11, 13, "_dictkeysobject", "dk_log2_index_bytes", 1),
	NONE(dictkeys_kind, 8, 10, "_dictkeysobject", "dk_kind"),
	ROW(dictkeys_kind, 11, 13, "_dictkeysobject", "dk_kind", 1),
	ROW(dictkeys_nentries, 8, 13, "_dictkeysobject", "dk_nentries", 8),
	ROW(dictkeys_indices, 8, 13, "_dictkeysobject", "dk_indices", 0),
	NONE(dictvalues_values, 8, 10, "_dictvalues", "values"),
	ROW(dictvalues_values, 11, 13, "_dictvalues", "values", 0),
	NONE(dictvalues_valid, 8, 12, "_dictvalues", "valid"),
	ROW(dictvalues_valid, 13, 13, "_dictvalues", "valid", 1),
	ROW(func_closure, 8, 13, "PyFunctionObject", "func_closure", 8),
	ROW(func_defaults, 8, 13, "PyFunctionObject", "func_defaults", 8),
	ROW(func_kwdefaults, 8, 13, "PyFunctionObject", "func_kwdefaults", 8),
	ROW(func_qualname, 8, 13, "PyFunctionObject", "func_qualname", 8),
	ROW(cell_ref, 8, 13, "PyCellObject", "ob_ref", 8),
	ROW(module_dict, 8, 13, "PyModuleObject", "md_dict", 8),
	ROW(method_func, 8, 13, "PyMethodObject", "im_func", 8),
	ROW(method_self, 8, 13, "PyMethodObject", "im_self", 8),
	NONE(long_lv_tag, 8, 11, "PyLongObject", "long_value"),
	ROW(long_lv_tag, 12, 13, "PyLongObject", "long_value.lv_tag", 8),
	ROW(long_digit, 8, 11, "PyLongObject", "ob_digit", 0),
	ROW(long_digit, 12, 13, "PyLongObject", "long_value.ob_digit", 0),
	ROW(code_nlocals, 8, 10, "PyCodeObject", "co_nlocals", 4),
	ROW(code_nlocals, 11, 13, "PyCodeObject", "co_nlocalsplus", 4),
	ROW(code_localnames, 8, 10, "PyCodeObject", "co_varnames", 8),
	ROW(code_localnames, 11, 13, "PyCodeObject", "co_localsplusnames", 8),
	ROW(frame_localsplus, 8, 10, "PyFrameObject", "f_localsplus", 0),
	ROW(frame_localsplus, 11, 13, "_PyInterpreterFrame", "localsplus", 0),
};

/* Fields DWARF cannot show directly; checked otherwise or by reasoning. */
static const char *const flag_fields[] = {
	"debug_offsets",	/* whether _PyRuntime opens with _Py_DebugOffsets: test_lookup */
	"frame_pos_is_ptr",	/* CHECK_PTR rows */
	"frame_pos_in_units",	/* 3.10 f_lasti semantics: bytecode, not layout */
	"owner_cstack",		/* FRAME_OWNED_BY_CSTACK enumerator, below */
	"obmalloc_is_ptr",	/* CHECK_OBMALLOC_PTR rows */
	"arena_size",		/* ARENA_SIZE, POOL_SIZE, NB_SMALL_SIZE_CLASSES, ALIGNMENT: macros; */
	"pool_size",		/* their ratios checked against the arrays they size (check_pymalloc), */
	"small_classes",	/* their values against sys._debugmallocstats() by e2e census-pymalloc */
	"small_alignment",
	"tpflag_managed_dict",	/* Py_TPFLAGS_* macros: no DWARF; from the headers, see pyoffsets.c */
	"tpflag_inline_values",
	"managed_dict",		/* a layout rule of Objects/dictobject.c, see pyoffsets.h */
};
#define N_OFFSET_FIELDS	(32 + 68 + 16)	/* uint32_t offsets in struct pyver_offsets */

static uint32_t table_field(const struct pyver_offsets *o, size_t off)
{
	return *(const uint32_t *)((const char *)o + off);
}

/*
 * pymalloc's macros have no DWARF, but the arrays they size do:
 * nfp2lasta[MAX_POOLS_IN_ARENA + 1] with MAX_POOLS_IN_ARENA = ARENA_SIZE /
 * POOL_SIZE, and usedpools[2 * ((NB_SMALL_SIZE_CLASSES + 7) / 8) * 8]
 * (statics of Objects/obmalloc.c before 3.12, members of _obmalloc_mgmt and
 * _obmalloc_pools from 3.12).
 */
static int check_pymalloc(struct dwlib *l, int minor, const struct pyver_offsets *o)
{
	uint64_t nfp = 0, used = 0, want_nfp, want_used;
	struct dwfield f;
	int bad = 0;

	if (minor >= 12) {
		if (!dw_lookup(l, "_obmalloc_mgmt", "nfp2lasta", &f))
			nfp = f.size;
		if (!dw_lookup(l, "_obmalloc_pools", "used", &f))
			used = f.size;
	} else {
		dw_variable_size(l, "nfp2lasta", &nfp);
		dw_variable_size(l, "usedpools", &used);
	}
	want_nfp = (o->arena_size / o->pool_size + 1) * 8;
	want_used = 2 * ((o->small_classes + 7) / 8) * 8 * 8;
	if (nfp != want_nfp) {
		print_error("%s nfp2lasta: %llu bytes in DWARF, table ARENA_SIZE / POOL_SIZE (%u / %u) "
			    "makes %llu\n", l->version, (unsigned long long)nfp, o->arena_size,
			    o->pool_size, (unsigned long long)want_nfp);
		bad++;
	}
	if (used != want_used) {
		print_error("%s usedpools: %llu bytes in DWARF, table NB_SMALL_SIZE_CLASSES %u makes %llu\n",
			    l->version, (unsigned long long)used, o->small_classes,
			    (unsigned long long)want_used);
		bad++;
	}
	/* SMALL_REQUEST_THRESHOLD 512 = classes * ALIGNMENT on every version */
	if (o->small_classes * o->small_alignment != 512) {
		print_error("%s: table classes %u x alignment %u is not 512\n", l->version,
			    o->small_classes, o->small_alignment);
		bad++;
	}
	return bad;
}

static int check_build(struct dwlib *l, int minor, const struct pyver_offsets *o)
{
	int bad = 0;
	int64_t cstack;
	size_t i;

	for (i = 0; i < sizeof(dwarf_checks) / sizeof(dwarf_checks[0]); i++) {
		const struct dwarf_check *c = &dwarf_checks[i];
		const char *what = c->path ? c->path : "sizeof";
		uint32_t tv = table_field(o, c->off);
		struct dwfield f;
		int found;

		if (minor < c->min || minor > c->max)
			continue;
		found = dw_lookup(l, c->type, c->path, &f) == 0;
		if (c->flags & ABSENT) {
			if (tv != PYOFF_NONE || found) {
				print_error("%s %s.%s (%s): expected absent; table %s, DWARF %s\n",
					    l->version, c->type, what, c->field,
					    tv == PYOFF_NONE ? "none" : "has a value",
					    found ? "has it" : "has none");
				bad++;
			}
			continue;
		}
		if (!found) {
			print_error("%s %s.%s (%s): table %u, DWARF has no such member\n",
				    l->version, c->type, what, c->field, tv);
			bad++;
			continue;
		}
		if (tv != f.off) {
			print_error("%s %s.%s (%s): table %u, DWARF %llu\n", l->version, c->type,
				    what, c->field, tv, (unsigned long long)f.off);
			bad++;
		}
		if (c->width && f.size != c->width) {
			print_error("%s %s.%s (%s): expected %u bytes wide, DWARF %llu\n",
				    l->version, c->type, what, c->field, c->width,
				    (unsigned long long)f.size);
			bad++;
		}
		if ((c->flags & CHECK_OBMALLOC_PTR) && (uint32_t)f.is_ptr != o->obmalloc_is_ptr) {
			print_error("%s %s.%s: table obmalloc_is_ptr %u, DWARF says %s\n",
				    l->version, c->type, what, o->obmalloc_is_ptr,
				    f.is_ptr ? "a pointer" : "not a pointer");
			bad++;
		}
		if ((c->flags & CHECK_PTR) && (uint32_t)f.is_ptr != o->frame_pos_is_ptr) {
			print_error("%s %s.%s: table frame_pos_is_ptr %u, DWARF says %s\n",
				    l->version, c->type, what, o->frame_pos_is_ptr,
				    f.is_ptr ? "a pointer" : "not a pointer");
			bad++;
		}
	}

	bad += check_pymalloc(l, minor, o);

	/* enum _frameowner (pycore_frame.h): C-stack shims exist from 3.12. */
	if (dw_enumerator(l, "FRAME_OWNED_BY_CSTACK", &cstack) == 0) {
		if (cstack != o->owner_cstack) {
			print_error("%s FRAME_OWNED_BY_CSTACK: table %u, DWARF %lld\n", l->version,
				    o->owner_cstack, (long long)cstack);
			bad++;
		}
	} else if (o->owner_cstack != 0xff) {
		print_error("%s FRAME_OWNED_BY_CSTACK: table %u, DWARF has no such enumerator\n",
			    l->version, o->owner_cstack);
		bad++;
	}
	return bad;
}

/*
 * _Py_DebugOffsets members pyoffsets__from_debug_offsets() reads, at the
 * offsets user/pyoffsets.c uses for 3.13 (its debug_fields_3_13[]); here
 * checked against the DWARF of struct _Py_DebugOffsets itself.
 */
static const struct {
	const char *path;
	uint64_t off;
} debug_layout_3_13[] = {
	{ "cookie", 0 }, { "version", 8 }, { "free_threaded", 16 },
	{ "runtime_state.size", 24 }, { "runtime_state.interpreters_head", 40 },
	{ "interpreter_state.size", 48 }, { "interpreter_state.threads_head", 72 },
	{ "thread_state.size", 152 }, { "thread_state.next", 168 },
	{ "thread_state.current_frame", 184 }, { "thread_state.thread_id", 192 },
	{ "thread_state.native_thread_id", 200 },
	{ "interpreter_frame.size", 224 }, { "interpreter_frame.previous", 232 },
	{ "interpreter_frame.executable", 240 }, { "interpreter_frame.instr_ptr", 248 },
	{ "interpreter_frame.owner", 264 },
	{ "code_object.size", 272 }, { "code_object.filename", 280 },
	{ "code_object.name", 288 }, { "code_object.qualname", 296 },
	{ "code_object.linetable", 304 }, { "code_object.firstlineno", 312 },
	{ "code_object.co_code_adaptive", 344 },
	{ "pyobject.size", 352 }, { "pyobject.ob_type", 360 },
	{ "interpreter_state.gc", 80 }, { "interpreter_state.imports_modules", 88 },
	{ "interpreter_frame.localsplus", 256 }, { "code_object.localsplusnames", 328 },
	{ "type_object.size", 368 }, { "type_object.tp_name", 376 },
	{ "type_object.tp_flags", 392 }, { "tuple_object.size", 400 },
	{ "tuple_object.ob_item", 408 }, { "list_object.size", 424 },
	{ "list_object.ob_item", 432 }, { "dict_object.size", 448 },
	{ "dict_object.ma_keys", 456 }, { "dict_object.ma_values", 464 },
	{ "long_object.size", 488 }, { "long_object.lv_tag", 496 },
	{ "long_object.ob_digit", 504 },
	{ "bytes_object.size", 512 }, { "bytes_object.ob_size", 520 },
	{ "bytes_object.ob_sval", 528 },
	{ "unicode_object.size", 536 }, { "unicode_object.state", 544 },
	{ "unicode_object.length", 552 }, { "unicode_object.asciiobject_size", 560 },
};
#define DEBUG_OFFSETS_SIZE_3_13	584

/*
 * 3.13: the _Py_DebugOffsets layout, then the block CPython statically
 * initializes at _PyRuntime+0 (.data of libpython) parsed and compared,
 * field by field, to DWARF and to the table.
 */
static int check_debug_offsets(struct dwlib *l, const struct pyver_offsets *o)
{
	uint8_t blob[DEBUG_OFFSETS_SIZE_3_13];
	struct pyver_offsets live;
	struct dwfield f;
	char err[512];
	int bad = 0, rc;
	size_t i;

	if (dw_lookup(l, "_Py_DebugOffsets", NULL, &f)) {
		print_error("%s: DWARF has no _Py_DebugOffsets\n", l->version);
		return 1;
	}
	if (f.off != DEBUG_OFFSETS_SIZE_3_13) {
		print_error("%s sizeof(_Py_DebugOffsets): expected %d, DWARF %llu\n", l->version,
			    DEBUG_OFFSETS_SIZE_3_13, (unsigned long long)f.off);
		bad++;
	}
	for (i = 0; i < sizeof(debug_layout_3_13) / sizeof(debug_layout_3_13[0]); i++) {
		if (dw_lookup(l, "_Py_DebugOffsets", debug_layout_3_13[i].path, &f)) {
			print_error("%s _Py_DebugOffsets.%s: pyoffsets.c reads %llu, DWARF has no such member\n",
				    l->version, debug_layout_3_13[i].path,
				    (unsigned long long)debug_layout_3_13[i].off);
			bad++;
		} else if (f.off != debug_layout_3_13[i].off) {
			print_error("%s _Py_DebugOffsets.%s: pyoffsets.c reads %llu, DWARF %llu\n",
				    l->version, debug_layout_3_13[i].path,
				    (unsigned long long)debug_layout_3_13[i].off,
				    (unsigned long long)f.off);
			bad++;
		}
	}

	rc = elf_symbol_bytes(l, "_PyRuntime", blob, sizeof(blob));
	if (rc) {
		print_error("%s: cannot read _PyRuntime's initial bytes from %s: %s\n", l->version,
			    l->path, strerror(-rc));
		return bad + 1;
	}
	rc = pyoffsets__from_debug_offsets(blob, sizeof(blob), 0, &live, err, sizeof(err));
	if (rc) {
		print_error("%s: debug offsets in %s rejected: %s\n", l->version, l->path, err);
		return bad + 1;
	}
	if (err[0]) {
		print_error("%s: %s\n", l->version, err);
		bad++;
	}
	/* The merged result must pass the same DWARF checks as the table. */
	bad += check_build(l, 13, &live);
	if (memcmp(&live, o, sizeof(live))) {
		print_error("%s: offsets from _Py_DebugOffsets differ from the built-in table\n",
			    l->version);
		bad++;
	}
	return bad;
}

static void check_minor(int minor)
{
	const struct pyver_offsets *o = pyoffsets__lookup(3, minor);
	char versions[16][32];
	int n, i, checked = 0, bad = 0;

	assert_non_null(o);
	n = pyenv_builds(minor, versions, 16);
	if (!n) {
		print_message("[  SKIP    ] 3.%d: no pyenv build (%s/versions/3.%d.*/lib/libpython3.%d.so.1.0 not found)\n",
			      minor, pyenv_root(), minor, minor);
		skip();
	}
	for (i = 0; i < n; i++) {
		char lib[1024];
		struct dwlib l;
		struct dwfield f;
		int rc;

		snprintf(lib, sizeof(lib), "%s/versions/%s/lib/libpython3.%d.so.1.0", pyenv_root(),
			 versions[i], minor);
		rc = dwlib_open(&l, lib, versions[i]);
		if (rc) {
			print_message("[          ] %s: %s has no DWARF to check (%s)\n", versions[i],
				      lib, strerror(-rc));
			continue;
		}
		if (dw_lookup(&l, "PyThreadState", NULL, &f)) {
			print_message("[          ] %s: %s has no PyThreadState in its DWARF\n",
				      versions[i], lib);
			dwlib_close(&l);
			continue;
		}
		rc = check_build(&l, minor, o);
		if (minor == 13)
			rc += check_debug_offsets(&l, o);
		print_message("[          ] %s: %s: %d mismatch(es)\n", versions[i], lib, rc);
		bad += rc;
		checked++;
		dwlib_close(&l);
	}
	if (!checked) {
		print_message("[  SKIP    ] 3.%d: no pyenv build with DWARF (see above)\n", minor);
		skip();
	}
	if (bad)
		fail_msg("3.%d: %d table field(s) disagree with DWARF (listed above)", minor, bad);
}

static void test_dwarf_3_8(void **state) { check_minor(8); }
static void test_dwarf_3_9(void **state) { check_minor(9); }
static void test_dwarf_3_10(void **state) { check_minor(10); }
static void test_dwarf_3_11(void **state) { check_minor(11); }
static void test_dwarf_3_12(void **state) { check_minor(12); }
static void test_dwarf_3_13(void **state) { check_minor(13); }

/* Every offset field of every version has a DWARF row, so a field added to
 * struct pyver_offsets cannot go unchecked. */
static void test_every_field_has_a_dwarf_check(void **state)
{
	static const size_t fields[] = {
#define F(x) offsetof(struct pyver_offsets, x)
		F(runtime_tstate_current), F(runtime_interpreters_head), F(runtime_alloc_raw),
		F(runtime_alloc_mem), F(runtime_alloc_obj), F(interp_threads_head),
		F(tstate_next), F(tstate_frame), F(tstate_thread_id),
		F(tstate_native_thread_id), F(cframe_current_frame), F(frame_code),
		F(frame_previous), F(frame_pos), F(frame_owner), F(code_filename),
		F(code_name), F(code_qualname), F(code_firstlineno), F(code_linetable),
		F(code_adaptive), F(object_type), F(varobject_size), F(bytes_sval),
		F(unicode_length), F(unicode_state), F(unicode_ascii_data),
		F(unicode_compact_data),
		F(runtime_interpreters_main), F(runtime_gc), F(interp_gc), F(interp_modules),
		F(interp_obmalloc), F(obmalloc_narenas), F(obmalloc_ntimes),
		F(obmalloc_highwater), F(obmalloc_arenas), F(obmalloc_maxarenas),
		F(arena_object_size), F(arena_address), F(arena_pool_address),
		F(arena_nfreepools), F(arena_ntotalpools), F(pool_header_size), F(pool_count),
		F(pool_arenaindex), F(pool_szidx), F(pool_nextoffset), F(pool_maxnextoffset),
		F(gc_enabled), F(gc_generations), F(gc_generation_size),
		F(gc_permanent), F(gc_generation_stats), F(gc_stats_size), F(gc_collecting),
		F(gc_garbage), F(gen_threshold), F(gen_count), F(stats_collections),
		F(stats_uncollectable), F(gchead_size), F(gchead_next), F(gchead_prev),
		F(type_name), F(type_basicsize), F(type_itemsize), F(type_flags), F(type_base),
		F(type_dict), F(type_dictoffset), F(heaptype_qualname), F(heaptype_cached_keys),
		F(list_item), F(list_allocated), F(tuple_item), F(set_used), F(set_mask),
		F(set_table), F(setentry_size), F(dict_used), F(dict_keys), F(dict_values),
		F(dictkeys_size), F(dictkeys_log2_size), F(dictkeys_log2_index_bytes),
		F(dictkeys_kind), F(dictkeys_nentries), F(dictkeys_indices),
		F(dictvalues_values), F(dictvalues_valid), F(func_closure), F(func_defaults),
		F(func_kwdefaults), F(func_qualname), F(cell_ref), F(module_dict),
		F(method_func), F(method_self), F(long_lv_tag), F(long_digit), F(code_nlocals),
		F(code_localnames), F(frame_localsplus),
#undef F
	};
	size_t i, j;
	int minor;

	/* Given the struct's size, when its fields are counted, then all are
	 * either in fields[] or flag_fields[]. */
	assert_int_equal(sizeof(fields) / sizeof(fields[0]) +
			 sizeof(flag_fields) / sizeof(flag_fields[0]), N_OFFSET_FIELDS);
	assert_int_equal(sizeof(struct pyver_offsets),
			 2 * sizeof(int) + N_OFFSET_FIELDS * sizeof(uint32_t) +
			 sizeof(enum linetable_kind));

	for (minor = MIN_MINOR; minor <= MAX_MINOR; minor++) {
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			int rows = 0;

			for (j = 0; j < sizeof(dwarf_checks) / sizeof(dwarf_checks[0]); j++)
				rows += dwarf_checks[j].off == fields[i] &&
					minor >= dwarf_checks[j].min && minor <= dwarf_checks[j].max;
			if (rows != 1)
				fail_msg("3.%d: field at offset %zu has %d DWARF rows, expected 1",
					 minor, fields[i], rows);
		}
	}
}

/* ---- the table itself -------------------------------------------------- */

static void test_lookup(void **state)
{
	int minor;

	for (minor = MIN_MINOR; minor <= MAX_MINOR; minor++) {
		const struct pyver_offsets *o = pyoffsets__lookup(3, minor);

		assert_non_null(o);
		assert_int_equal(o->major, 3);
		assert_int_equal(o->minor, minor);
		/* _Py_DebugOffsets opens _PyRuntime from 3.13 on (PEP 768's precursor) */
		assert_int_equal(o->debug_offsets, minor >= 13);
	}
	assert_string_equal(pyoffsets__supported(), "3.8 to 3.13");
	assert_null(pyoffsets__lookup(3, 7));
	assert_null(pyoffsets__lookup(3, 14));
	assert_null(pyoffsets__lookup(2, 7));
}

static void test_table_semantics(void **state)
{
	int minor;

	for (minor = MIN_MINOR; minor <= MAX_MINOR; minor++) {
		const struct pyver_offsets *o = pyoffsets__lookup(3, minor);
		enum linetable_kind want = minor <= 9 ? LINETABLE_LNOTAB :
					   minor == 10 ? LINETABLE_PEP626 : LINETABLE_LOCATIONS;

		/* BPF copies FRAME_READ bytes per frame and picks these out. */
		assert_true(o->frame_code + 8 <= FRAME_READ);
		assert_true(o->frame_previous + 8 <= FRAME_READ);
		assert_true(o->frame_pos + (o->frame_pos_is_ptr ? 8 : 4) <= FRAME_READ);
		assert_true(o->frame_owner == PYOFF_NONE || o->frame_owner < FRAME_READ);

		assert_int_equal(o->linetable, want);
		assert_int_equal(o->frame_pos_is_ptr, minor >= 11);
		assert_int_equal(o->frame_pos_in_units, minor == 10);
		/* a pointer position needs co_code_adaptive to subtract */
		assert_int_equal(o->frame_pos_is_ptr, o->code_adaptive != PYOFF_NONE);
		/* tstate found through the runtime (<=3.11) or TLS (3.12+) */
		assert_int_equal(o->runtime_tstate_current == PYOFF_NONE, minor >= 12);
		assert_int_equal(o->runtime_alloc_obj == PYOFF_NONE, minor <= 11);
	}
}

static void test_to_bpf(void **state)
{
	int minor;

	for (minor = MIN_MINOR; minor <= MAX_MINOR; minor++) {
		const struct pyver_offsets *o = pyoffsets__lookup(3, minor);
		struct py_offsets b;

		/* Given a configuration whose tstate access is already set,
		 * when the walker fields are filled, then tstate access is kept. */
		memset(&b, 0xa5, sizeof(b));
		b.tstate_addr = 0x1234;
		b.tls_offset = -16;
		b.tls_module = 1;
		b.tstate_mode = TSTATE_GLOBAL;
		pyoffsets__to_bpf(o, &b);

		assert_int_equal(b.tstate_addr, 0x1234);
		assert_int_equal(b.tls_offset, -16);
		assert_int_equal(b.tls_module, 1);
		assert_int_equal(b.tstate_mode, TSTATE_GLOBAL);
		assert_int_equal(b.tstate_thread_id, o->tstate_thread_id);
		assert_int_equal(b.tstate_frame, o->tstate_frame);
		assert_int_equal(b.cframe_current_frame,
				 minor == 11 ? 8 : minor == 12 ? 0 : NO_OFFSET);
		assert_int_equal(b.frame_code, o->frame_code);
		assert_int_equal(b.frame_previous, o->frame_previous);
		assert_int_equal(b.frame_pos, o->frame_pos);
		assert_int_equal(b.frame_owner, minor <= 10 ? NO_OFFSET : o->frame_owner);
		assert_int_equal(b.code_adaptive, minor <= 10 ? NO_OFFSET : o->code_adaptive);
		assert_int_equal(b.pos_is_ptr, minor >= 11);
		assert_int_equal(b.owner_cstack, minor >= 12 ? 3 : 0xff);
	}
}

/* ---- _Py_DebugOffsets, recorded from 3.13.0 --------------------------- */

#define BLOB		debug_offsets_3_13_0
#define BLOB_VERSION	DEBUG_OFFSETS_3_13_0_VERSION

static void put_u64(uint8_t *p, size_t at, uint64_t v)
{
	memcpy(p + at, &v, sizeof(v));
}

static void test_debug_offsets_recorded(void **state)
{
	const struct pyver_offsets *t = pyoffsets__lookup(3, 13);
	struct pyver_offsets o;
	char err[256] = "stale";
	int rc;

	/* Given the bytes a live 3.13.0 had at _PyRuntime, when parsed,
	 * then they are accepted and agree with the built-in table. */
	rc = pyoffsets__from_debug_offsets(BLOB, sizeof(BLOB), BLOB_VERSION, &o, err, sizeof(err));
	if (rc)
		fail_msg("recorded 3.13.0 debug offsets rejected: %s", err);
	assert_string_equal(err, "");
	assert_memory_equal(&o, t, sizeof(o));

	/* the values debug_offsets_3.13.0.txt shows */
	assert_int_equal(o.runtime_interpreters_head, 632);
	assert_int_equal(o.interp_threads_head, 7344);
	assert_int_equal(o.tstate_next, 8);
	assert_int_equal(o.tstate_frame, 72);
	assert_int_equal(o.tstate_thread_id, 152);
	assert_int_equal(o.tstate_native_thread_id, 160);
	assert_int_equal(o.frame_previous, 8);
	assert_int_equal(o.frame_code, 0);
	assert_int_equal(o.frame_pos, 56);
	assert_int_equal(o.frame_owner, 70);
	assert_int_equal(o.code_filename, 112);
	assert_int_equal(o.code_name, 120);
	assert_int_equal(o.code_qualname, 128);
	assert_int_equal(o.code_linetable, 136);
	assert_int_equal(o.code_firstlineno, 68);
	assert_int_equal(o.code_adaptive, 200);
	assert_int_equal(o.bytes_sval, 32);
	assert_int_equal(o.unicode_state, 32);
	assert_int_equal(o.unicode_length, 16);
	assert_int_equal(o.unicode_ascii_data, 40);
	/* not carried: kept from the table */
	assert_int_equal(o.cframe_current_frame, PYOFF_NONE);
	assert_int_equal(o.runtime_alloc_obj, 784);
	assert_int_equal(o.unicode_compact_data, 56);
	assert_int_equal(o.owner_cstack, 3);

	/* a caller that knows no version elsewhere passes 0 */
	assert_int_equal(pyoffsets__from_debug_offsets(BLOB, sizeof(BLOB), 0, &o, err,
						       sizeof(err)), 0);
	/* a longer read (the rest of _PyRuntime) is fine */
	{
		uint8_t big[sizeof(BLOB) + 64] = { 0 };

		memcpy(big, BLOB, sizeof(BLOB));
		assert_int_equal(pyoffsets__from_debug_offsets(big, sizeof(big), 0, &o, err,
							       sizeof(err)), 0);
	}
}

/* Expect rejection with a reason containing `want`; *out left untouched. */
static void expect_reject(const uint8_t *buf, size_t len, uint64_t version_hex, const char *want)
{
	struct pyver_offsets o, before;
	char err[256] = "";
	int rc;

	memset(&o, 0x5a, sizeof(o));
	before = o;
	rc = pyoffsets__from_debug_offsets(buf, len, version_hex, &o, err, sizeof(err));
	if (rc != -EINVAL)
		fail_msg("expected -EINVAL with \"%s\", got %d (err \"%s\")", want, rc, err);
	if (!strstr(err, want))
		fail_msg("expected a reason containing \"%s\", got \"%s\"", want, err);
	if (strchr(err, '\n'))
		fail_msg("reason is not one line: \"%s\"", err);
	assert_memory_equal(&o, &before, sizeof(o));
	print_message("[          ] rejected: %s\n", err);
}

static void test_debug_offsets_corrupt(void **state)
{
	uint8_t b[sizeof(BLOB)];

	/* bad cookie */
	memcpy(b, BLOB, sizeof(b));
	memcpy(b, "xdebugpz", 8);
	expect_reject(b, sizeof(b), 0, "cookie");
	memset(b, 0, 8);
	expect_reject(b, sizeof(b), 0, "cookie");

	/* free-threaded build (3.13t) */
	memcpy(b, BLOB, sizeof(b));
	put_u64(b, 16, 1);
	expect_reject(b, sizeof(b), 0, "free-threaded");

	/* 3.14 changed the layout: refused, loudly */
	memcpy(b, BLOB, sizeof(b));
	put_u64(b, 8, 0x030e00f0);
	expect_reject(b, sizeof(b), 0, "unsupported version 3.14");
	put_u64(b, 8, 0x040000a1);
	expect_reject(b, sizeof(b), 0, "unsupported version 4.0");

	/* older than 3.13: no such block */
	put_u64(b, 8, 0x030c01f0);
	expect_reject(b, sizeof(b), 0, "only 3.13");

	/* not a PY_VERSION_HEX */
	put_u64(b, 8, 0xdeadbeef030d00f0ULL);
	expect_reject(b, sizeof(b), 0, "not a PY_VERSION_HEX");

	/* the process's Py_Version says otherwise */
	expect_reject(BLOB, sizeof(BLOB), 0x030c01f0, "process says 3.12");

	/* too short: for the header, for the 3.13 layout */
	expect_reject(BLOB, 0, 0, "too short");
	expect_reject(BLOB, 16, 0, "too short");
	expect_reject(BLOB, sizeof(BLOB) - 1, 0, "too short");
	expect_reject(NULL, 0, 0, "too short");

	/* absurd: an offset past its struct's declared size (304) */
	memcpy(b, BLOB, sizeof(b));
	put_u64(b, 184, 400);		/* thread_state.current_frame */
	expect_reject(b, sizeof(b), 0, "thread_state.current_frame = 400 lies beyond");
	memcpy(b, BLOB, sizeof(b));
	put_u64(b, 312, 206);		/* code_object.firstlineno, an int, size 208 */
	expect_reject(b, sizeof(b), 0, "code_object.firstlineno = 206");
	memcpy(b, BLOB, sizeof(b));
	put_u64(b, 152, 0);		/* thread_state.size */
	expect_reject(b, sizeof(b), 0, "implausible struct size 0");
	memcpy(b, BLOB, sizeof(b));
	put_u64(b, 24, 1ULL << 40);	/* runtime_state.size */
	expect_reject(b, sizeof(b), 0, "runtime_state.interpreters_head: implausible struct size");

	/* plausible for CPython, but beyond what BPF copies of a frame */
	memcpy(b, BLOB, sizeof(b));
	put_u64(b, 224, 256);		/* interpreter_frame.size */
	put_u64(b, 264, 150);		/* interpreter_frame.owner */
	expect_reject(b, sizeof(b), 0, "interpreter_frame.owner = 150 lies beyond the 112 bytes");
}

static void test_debug_offsets_live_value_wins(void **state)
{
	uint8_t b[sizeof(BLOB)];
	struct pyver_offsets o;
	char err[256];

	/* Given a plausible value that differs from the table (say a 3.13.x
	 * that moved current_frame), when parsed, then the live value is
	 * used and the difference is named in err. */
	memcpy(b, BLOB, sizeof(b));
	put_u64(b, 184, 80);		/* thread_state.current_frame */
	put_u64(b, 312, 64);		/* code_object.firstlineno */
	assert_int_equal(pyoffsets__from_debug_offsets(b, sizeof(b), 0, &o, err, sizeof(err)), 0);
	assert_int_equal(o.tstate_frame, 80);
	assert_int_equal(o.code_firstlineno, 64);
	assert_int_equal(o.tstate_thread_id, 152);
	if (!strstr(err, "thread_state.current_frame 80 (table 72)") ||
	    !strstr(err, "code_object.firstlineno 64 (table 68)"))
		fail_msg("expected the differences named, got \"%s\"", err);
	print_message("[          ] note: %s\n", err);

	/* err is optional */
	assert_int_equal(pyoffsets__from_debug_offsets(b, sizeof(b), 0, &o, NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_table_semantics),
		cmocka_unit_test(test_every_field_has_a_dwarf_check),
		cmocka_unit_test(test_to_bpf),
		cmocka_unit_test(test_debug_offsets_recorded),
		cmocka_unit_test(test_debug_offsets_corrupt),
		cmocka_unit_test(test_debug_offsets_live_value_wins),
		cmocka_unit_test(test_dwarf_3_8),
		cmocka_unit_test(test_dwarf_3_9),
		cmocka_unit_test(test_dwarf_3_10),
		cmocka_unit_test(test_dwarf_3_11),
		cmocka_unit_test(test_dwarf_3_12),
		cmocka_unit_test(test_dwarf_3_13),
	};

	elf_version(EV_CURRENT);
	return cmocka_run_group_tests_name("pyoffsets", tests, NULL, NULL);
}
