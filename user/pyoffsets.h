/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What pyleak needs to know of each CPython version's layout: data, not code. */
#ifndef __PYOFFSETS_H
#define __PYOFFSETS_H

#include <stddef.h>
#include <stdint.h>
#include "linetable.h"

struct py_offsets;

#define PYOFF_NONE 0xffffffffu

/* Byte offsets named after CPython's struct.field; PYOFF_NONE where a
 * version has no such field. */
struct pyver_offsets {
	int major, minor;

	/* _PyRuntimeState */
	uint32_t runtime_tstate_current;	/* gilstate.tstate_current (<=3.11) */
	uint32_t runtime_interpreters_head;	/* interpreters.head */
	uint32_t runtime_alloc_raw;		/* allocators.standard.raw (3.12+) */
	uint32_t runtime_alloc_mem;		/* allocators.standard.mem (3.12+) */
	uint32_t runtime_alloc_obj;		/* allocators.standard.obj (3.12+) */

	/* PyInterpreterState */
	uint32_t interp_threads_head;		/* tstate_head / threads.head */

	/* PyThreadState */
	uint32_t tstate_next;
	uint32_t tstate_frame;			/* frame / cframe / current_frame */
	uint32_t tstate_thread_id;
	uint32_t tstate_native_thread_id;	/* 3.11+ */
	uint32_t cframe_current_frame;		/* _PyCFrame.current_frame (3.11, 3.12) */

	/* PyFrameObject (<=3.10) / _PyInterpreterFrame (3.11+) */
	uint32_t frame_code;			/* f_code / f_executable */
	uint32_t frame_previous;		/* f_back / previous */
	uint32_t frame_pos;			/* f_lasti / prev_instr / instr_ptr */
	uint32_t frame_owner;			/* owner (3.11+) */
	uint32_t frame_pos_is_ptr;		/* 1 when frame_pos is a pointer (3.11+) */
	uint32_t frame_pos_in_units;		/* 1 when f_lasti counts code units (3.10) */
	uint32_t owner_cstack;			/* FRAME_OWNED_BY_CSTACK (3.12+), else 0xff */

	/* PyCodeObject */
	uint32_t code_filename;
	uint32_t code_name;
	uint32_t code_qualname;			/* 3.11+ */
	uint32_t code_firstlineno;		/* int */
	uint32_t code_linetable;		/* co_lnotab / co_linetable (a bytes object) */
	uint32_t code_adaptive;			/* co_code_adaptive (3.11+) */
	enum linetable_kind linetable;

	/* PyObject / PyVarObject / PyBytesObject / PyASCIIObject */
	uint32_t object_type;			/* ob_type */
	uint32_t varobject_size;		/* ob_size */
	uint32_t bytes_sval;			/* ob_sval */
	uint32_t unicode_length;
	uint32_t unicode_state;
	uint32_t unicode_ascii_data;		/* sizeof(PyASCIIObject) */
	uint32_t unicode_compact_data;		/* sizeof(PyCompactUnicodeObject) */
};

/* The built-in table for major.minor, or NULL when unsupported. */
const struct pyver_offsets *pyoffsets__lookup(int major, int minor);

/*
 * 3.13+: fill *out from the live _Py_DebugOffsets bytes read at
 * _PyRuntime+0 (buf, len bytes), starting from the built-in table for the
 * version it declares and overriding every field it carries. Fields it
 * does not carry (allocators, _PyCFrame, ...) keep the table's values.
 * Returns 0, or -EINVAL with a one-line reason in err (bad cookie,
 * unknown layout version, free-threaded build, an offset outside its
 * struct). A live value that differs from the table wins (it is the
 * process's truth) and is noted in err, which is otherwise empty.
 */
int pyoffsets__from_debug_offsets(const void *buf, size_t len, uint64_t version_hex,
				  struct pyver_offsets *out, char *err, size_t errlen);

/* Copy the walker's part into the BPF configuration (tstate access is
 * left to the caller). */
void pyoffsets__to_bpf(const struct pyver_offsets *o, struct py_offsets *b);

#endif /* __PYOFFSETS_H */
