/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A CPython process seen from outside: module, version, offsets, allocators. */
#ifndef __PYTHON_H
#define __PYTHON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "elffile.h"
#include "procmaps.h"
#include "pyoffsets.h"

struct py_offsets;

/* One PyMemAllocatorEx as read from the target. */
struct pyalloc_table {
	uint64_t addr;		/* where the table lives in the target */
	uint64_t ctx, malloc, calloc, realloc, free;
};

enum pyalloc_kind {
	PYALLOC_DEFAULT,	/* the build's own object allocator (pymalloc) */
	PYALLOC_MALLOC,		/* PYTHONMALLOC=malloc: every domain is the raw one */
	PYALLOC_HOOKED,		/* debug hooks, tracemalloc or an embedder's hooks */
};

struct pyproc {
	pid_t pid;
	char exe[4096];			/* /proc/PID/exe */
	char module[4096];		/* the file exporting _PyRuntime, target's view */
	char module_open[4200];		/* the same through /proc/PID/root */
	uint64_t bias;			/* load bias of module */
	struct elf_file elf;

	char version[32];		/* "3.11.7" */
	int major, minor;
	uint64_t runtime;		/* &_PyRuntime in the target */
	uint64_t code_type;		/* &PyCode_Type in the target */
	uint64_t str_type;		/* &PyUnicode_Type in the target, 0 if unknown */
	struct pyver_offsets off;
	bool live_offsets;		/* off came from _Py_DebugOffsets */

	struct pyalloc_table raw, mem, obj;
	enum pyalloc_kind alloc_kind;
	int guards;			/* inlined copies of obj.malloc behind PGO guards */

	uint32_t tstate_mode;		/* enum tstate_mode */
	uint64_t tstate_addr;
	int64_t tls_offset;
	uint32_t tls_module;

	char libc[4096];		/* libc as the target maps it, "" if none */
	char libc_open[4200];
};

/* Inspect pid. On failure returns negative errno and a one-line reason
 * in err (e.g. "not a CPython process: ..."). */
int pyproc__open(struct pyproc *p, pid_t pid, char *err, size_t errlen);
void pyproc__close(struct pyproc *p);
/* The module exporting _PyRuntime in m, or NULL; path to open in out. */
const char *pyproc__find_module(pid_t pid, const struct procmaps *m, char *out, size_t len);
/* No module in m exports _PyRuntime, but one is a CPython older than 3.7
 * (it exports Py_GetVersion): true, with its version. */
bool pyproc__old_version(pid_t pid, const struct procmaps *m, char *version, size_t len);
/* The walker's configuration for BPF. */
void pyproc__bpf_offsets(const struct pyproc *p, struct py_offsets *b);
/* PGO build whose object allocator is inlined at call sites: a function
 * probe sees only what reaches the raw allocator and libc. */
bool pyproc__pymalloc_inlined(const struct pyproc *p);
const char *pyproc__alloc_name(const struct pyproc *p);
/* Static check of an interpreter file (no process): 1 if its object
 * allocator is inlined behind PGO guards, 0 if not, -ENOENT if the file
 * has no PyObject_Malloc. */
int pymodule__guarded(struct elf_file *ef);

#endif /* __PYTHON_H */
