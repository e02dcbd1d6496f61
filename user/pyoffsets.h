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
	uint32_t debug_offsets;			/* 1: _PyRuntime opens with _Py_DebugOffsets (3.13+) */

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

	/*
	 * The heap census (user/census.c): where the collector keeps its
	 * lists, how objects, types and containers are laid out. Same
	 * provenance as above; tests/unit/test_pyoffsets.c checks each
	 * against DWARF.
	 */
	uint32_t runtime_interpreters_main;	/* interpreters.main */
	uint32_t runtime_gc;			/* _PyRuntimeState.gc (3.8 only) */
	uint32_t interp_gc;			/* PyInterpreterState.gc (3.9+) */
	uint32_t interp_modules;		/* modules / imports.modules (3.12+) */
	uint32_t interp_obmalloc;		/* obmalloc (3.12 embedded, 3.13 pointer) */
	uint32_t obmalloc_is_ptr;		/* 1 when interp_obmalloc holds a pointer */
	uint32_t obmalloc_narenas;		/* mgmt.narenas_currently_allocated */
	uint32_t obmalloc_ntimes;		/* mgmt.ntimes_arena_allocated */
	uint32_t obmalloc_highwater;		/* mgmt.narenas_highwater */
	uint32_t arena_size;			/* ARENA_SIZE: bytes per pymalloc arena */

	/* pymalloc's arenas and pools (user/pymalloc.c): struct arena_object
	 * and struct pool_header (Objects/obmalloc.c <=3.11,
	 * Include/internal/pycore_obmalloc.h 3.12+); before 3.12 the arena
	 * array is the static `arenas` of obmalloc.c, named in .symtab */
	uint32_t obmalloc_arenas;		/* mgmt.arenas (3.12+) */
	uint32_t obmalloc_maxarenas;		/* mgmt.maxarenas, uint (3.12+) */
	uint32_t arena_object_size;		/* sizeof(struct arena_object) */
	uint32_t arena_address;			/* uintptr_t address, 0: not allocated */
	uint32_t arena_pool_address;		/* block *pool_address: the next pool to carve */
	uint32_t arena_nfreepools;		/* uint */
	uint32_t arena_ntotalpools;		/* uint */
	uint32_t pool_header_size;		/* sizeof(struct pool_header) */
	uint32_t pool_count;			/* ref.count, uint: blocks allocated */
	uint32_t pool_arenaindex;		/* uint */
	uint32_t pool_szidx;			/* uint: size class */
	uint32_t pool_nextoffset;		/* uint */
	uint32_t pool_maxnextoffset;		/* uint: POOL_SIZE - block size */
	uint32_t pool_size;			/* POOL_SIZE (a macro) */
	uint32_t small_classes;			/* NB_SMALL_SIZE_CLASSES (a macro) */
	uint32_t small_alignment;		/* ALIGNMENT (a macro): class i holds (i + 1) * it */

	/* struct _gc_runtime_state, gc_generation, gc_generation_stats, PyGC_Head */
	uint32_t gc_enabled;
	uint32_t gc_generations;		/* generations[NUM_GENERATIONS] */
	uint32_t gc_generation_size;		/* sizeof(struct gc_generation) */
	uint32_t gc_permanent;			/* permanent_generation */
	uint32_t gc_generation_stats;		/* generation_stats[NUM_GENERATIONS] */
	uint32_t gc_stats_size;			/* sizeof(struct gc_generation_stats) */
	uint32_t gc_collecting;
	uint32_t gc_garbage;			/* PyObject *garbage (gc.garbage) */
	uint32_t gen_threshold;			/* gc_generation.threshold */
	uint32_t gen_count;			/* gc_generation.count */
	uint32_t stats_collections;		/* gc_generation_stats.collections */
	uint32_t stats_uncollectable;		/* gc_generation_stats.uncollectable */
	uint32_t gchead_size;			/* sizeof(PyGC_Head), just before the object */
	uint32_t gchead_next;			/* _gc_next */
	uint32_t gchead_prev;			/* _gc_prev (low 2 bits are flags) */

	/* PyTypeObject, PyHeapTypeObject */
	uint32_t type_name;			/* const char *tp_name */
	uint32_t type_basicsize;
	uint32_t type_itemsize;
	uint32_t type_flags;			/* unsigned long tp_flags */
	uint32_t type_base;
	uint32_t type_dict;
	uint32_t type_dictoffset;
	uint32_t heaptype_qualname;		/* ht_qualname */
	uint32_t heaptype_cached_keys;		/* ht_cached_keys (shared instance keys) */
	uint32_t tpflag_managed_dict;		/* Py_TPFLAGS_MANAGED_DICT (3.11+), else 0 */
	uint32_t tpflag_inline_values;		/* Py_TPFLAGS_INLINE_VALUES (3.13), else 0 */
	uint32_t managed_dict;			/* enum pyoff_managed_dict */

	/* containers */
	uint32_t list_item;			/* PyListObject.ob_item */
	uint32_t list_allocated;
	uint32_t tuple_item;			/* PyTupleObject.ob_item */
	uint32_t set_used;			/* PySetObject.used */
	uint32_t set_mask;
	uint32_t set_table;
	uint32_t setentry_size;			/* sizeof(setentry) {key, hash} */
	uint32_t dict_used;			/* PyDictObject.ma_used */
	uint32_t dict_keys;			/* ma_keys */
	uint32_t dict_values;			/* ma_values (split tables) */
	uint32_t dictkeys_size;			/* dk_size (<=3.10) */
	uint32_t dictkeys_log2_size;		/* dk_log2_size (3.11+) */
	uint32_t dictkeys_log2_index_bytes;	/* dk_log2_index_bytes (3.11+) */
	uint32_t dictkeys_kind;			/* dk_kind (3.11+): 0 general, else unicode */
	uint32_t dictkeys_nentries;		/* dk_nentries */
	uint32_t dictkeys_indices;		/* dk_indices[] */
	uint32_t dictvalues_values;		/* PyDictValues.values[] (3.11+) */
	uint32_t dictvalues_valid;		/* PyDictValues.valid (3.13) */
	uint32_t func_closure;			/* PyFunctionObject */
	uint32_t func_defaults;
	uint32_t func_kwdefaults;
	uint32_t func_qualname;
	uint32_t cell_ref;			/* PyCellObject.ob_ref */
	uint32_t module_dict;			/* PyModuleObject.md_dict */
	uint32_t method_func;			/* PyMethodObject.im_func */
	uint32_t method_self;			/* PyMethodObject.im_self */
	uint32_t long_lv_tag;			/* long_value.lv_tag (3.12+) */
	uint32_t long_digit;			/* ob_digit / long_value.ob_digit */

	/* frame locals, for holders */
	uint32_t code_nlocals;			/* co_nlocals (<=3.10) / co_nlocalsplus */
	uint32_t code_localnames;		/* co_varnames (<=3.10) / co_localsplusnames */
	uint32_t frame_localsplus;		/* f_localsplus / localsplus */
};

/* Where an instance's attributes live (Objects/typeobject.c, dictobject.c). */
enum pyoff_managed_dict {
	PYOFF_DICT_AT_OFFSET,	/* <=3.10: PyObject *dict at tp_dictoffset */
	PYOFF_DICT_VALUES_3_11,	/* 3.11: values at obj-4 words, dict at obj-3 */
	PYOFF_DICT_OR_VALUES,	/* 3.12: one word at obj-3: dict, or values-1 (tagged) */
	PYOFF_INLINE_VALUES,	/* 3.13: values after the object, dict at obj-3 */
};

/* The built-in table for major.minor, or NULL when unsupported. */
const struct pyver_offsets *pyoffsets__lookup(int major, int minor);
/* The versions the table covers, for messages: "3.8 to 3.13". */
const char *pyoffsets__supported(void);

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
