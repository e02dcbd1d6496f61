// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-minor-version CPython layouts, the 3.13 _Py_DebugOffsets reader and
 * the copy into the BPF walker's configuration.
 *
 * Provenance of the built-in table: DWARF of the pyenv builds 3.8.18,
 * 3.9.18, 3.10.13, 3.11.7, 3.12.1 and 3.13.0, and of Debian's 3.11.2
 * (python3.11-dbg, deb12u8), which matches 3.11.7 for every field here
 * (design/cpython-offsets/table.md and the pahole dumps beside it).
 * tests/unit/test_pyoffsets.c re-reads every value from the DWARF of each
 * interpreter installed and fails on any difference.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "pyleak.h"
#include "pyoffsets.h"

_Static_assert(PYOFF_NONE == NO_OFFSET, "user and BPF agree on 'no such field'");

/* _PyInterpreterFrame.owner of the C-stack shim frames, enum _frameowner
 * FRAME_OWNED_BY_CSTACK (Include/internal/pycore_frame.h, 3.12 and 3.13).
 * 0xff matches no owner: 3.11 has no shim frames, <=3.10 no owner field. */
#define OWNER_CSTACK_3_12	3
#define OWNER_NONE		0xff

static const struct pyver_offsets pyver_table[] = {
	{
		.major = 3, .minor = 8,
		/* _PyRuntimeState (struct pyruntimestate) */
		.runtime_tstate_current = 1368,		/* gilstate.tstate_current */
		.runtime_interpreters_head = 32,	/* interpreters.head */
		.runtime_alloc_raw = PYOFF_NONE,	/* static _PyMem_Raw before 3.12 */
		.runtime_alloc_mem = PYOFF_NONE,
		.runtime_alloc_obj = PYOFF_NONE,
		/* PyInterpreterState (struct _is) */
		.interp_threads_head = 8,		/* tstate_head */
		/* PyThreadState (struct _ts) */
		.tstate_next = 8,
		.tstate_frame = 24,			/* struct _frame *frame */
		.tstate_thread_id = 176,
		.tstate_native_thread_id = PYOFF_NONE,
		.cframe_current_frame = PYOFF_NONE,
		/* PyFrameObject (struct _frame) */
		.frame_code = 32,			/* f_code */
		.frame_previous = 24,			/* f_back */
		.frame_pos = 104,			/* int f_lasti, bytes */
		.frame_owner = PYOFF_NONE,
		.frame_pos_is_ptr = 0,
		.frame_pos_in_units = 0,
		.owner_cstack = OWNER_NONE,
		/* PyCodeObject */
		.code_filename = 104,
		.code_name = 112,
		.code_qualname = PYOFF_NONE,
		.code_firstlineno = 40,
		.code_linetable = 120,			/* co_lnotab */
		.code_adaptive = PYOFF_NONE,
		.linetable = LINETABLE_LNOTAB,
		/* PyObject, PyVarObject, PyBytesObject, PyASCIIObject */
		.object_type = 8,
		.varobject_size = 16,
		.bytes_sval = 32,
		.unicode_length = 16,
		.unicode_state = 32,
		.unicode_ascii_data = 48,		/* sizeof(PyASCIIObject), has wstr */
		.unicode_compact_data = 72,		/* sizeof(PyCompactUnicodeObject) */
		/* heap census */
		.runtime_interpreters_main = 40,
		.runtime_gc = 344,
		.interp_gc = PYOFF_NONE,
		.interp_modules = 56,
		.interp_obmalloc = PYOFF_NONE,
		.obmalloc_is_ptr = 0,
		.obmalloc_narenas = PYOFF_NONE,
		.obmalloc_ntimes = PYOFF_NONE,
		.obmalloc_highwater = PYOFF_NONE,
		.arena_size = 256 << 10,
		/* pymalloc: struct arena_object, struct pool_header (one layout
		 * from 3.8 to 3.13); POOL_SIZE is SYSTEM_PAGE_SIZE before 3.10,
		 * 16 KiB from 3.10 (USE_LARGE_POOLS with the radix tree) */
		.obmalloc_arenas = PYOFF_NONE,	/* the static arenas (.symtab) */
		.obmalloc_maxarenas = PYOFF_NONE,
		.arena_object_size = 48,
		.arena_address = 0,
		.arena_pool_address = 8,
		.arena_nfreepools = 16,
		.arena_ntotalpools = 20,
		.pool_header_size = 48,
		.pool_count = 0,
		.pool_arenaindex = 32,
		.pool_szidx = 36,
		.pool_nextoffset = 40,
		.pool_maxnextoffset = 44,
		.pool_size = 4 << 10,
		.small_classes = 32,
		.small_alignment = 16,
		/* struct _gc_runtime_state: one layout from 3.8 to 3.13 (3.13.0
		 * shipped without the incremental collector: three
		 * generations and a permanent one, as before) */
		.gc_enabled = 12,
		.gc_generations = 24,
		.gc_generation_size = 24,
		.gc_permanent = 104,
		.gc_generation_stats = 128,
		.gc_stats_size = 24,
		.gc_collecting = 200,
		.gc_garbage = 208,
		.gen_threshold = 16,
		.gen_count = 20,
		.stats_collections = 0,
		.stats_uncollectable = 16,
		.gchead_size = 16,
		.gchead_next = 0,
		.gchead_prev = 8,
		/* PyTypeObject */
		.type_name = 24,
		.type_basicsize = 32,
		.type_itemsize = 40,
		.type_flags = 168,
		.type_base = 256,
		.type_dict = 264,
		.type_dictoffset = 288,
		.heaptype_qualname = 864,
		.heaptype_cached_keys = 872,
		.tpflag_managed_dict = 0,
		.tpflag_inline_values = 0,
		.managed_dict = PYOFF_DICT_AT_OFFSET,
		.list_item = 24,
		.list_allocated = 32,
		.tuple_item = 24,
		.set_used = 24,
		.set_mask = 32,
		.set_table = 40,
		.setentry_size = 16,
		.dict_used = 16,
		.dict_keys = 32,
		.dict_values = 40,
		.dictkeys_size = 8,
		.dictkeys_log2_size = PYOFF_NONE,
		.dictkeys_log2_index_bytes = PYOFF_NONE,
		.dictkeys_kind = PYOFF_NONE,
		.dictkeys_nentries = 32,
		.dictkeys_indices = 40,
		.dictvalues_values = PYOFF_NONE,
		.dictvalues_valid = PYOFF_NONE,
		.func_closure = 48,
		.func_defaults = 32,
		.func_kwdefaults = 40,
		.func_qualname = 104,
		.cell_ref = 16,
		.module_dict = 16,
		.method_func = 16,
		.method_self = 24,
		.long_digit = 24,
		.long_lv_tag = PYOFF_NONE,
		.code_nlocals = 28,
		.code_localnames = 72,
		.frame_localsplus = 360,
	},
	{
		.major = 3, .minor = 9,
		/* _PyRuntimeState: 3.9 moved the GIL and gilstate up front */
		.runtime_tstate_current = 568,		/* gilstate.tstate_current */
		.runtime_interpreters_head = 32,
		.runtime_alloc_raw = PYOFF_NONE,
		.runtime_alloc_mem = PYOFF_NONE,
		.runtime_alloc_obj = PYOFF_NONE,
		.interp_threads_head = 8,		/* PyInterpreterState.tstate_head */
		/* PyThreadState */
		.tstate_next = 8,
		.tstate_frame = 24,			/* frame */
		.tstate_thread_id = 176,
		.tstate_native_thread_id = PYOFF_NONE,
		.cframe_current_frame = PYOFF_NONE,
		/* PyFrameObject */
		.frame_code = 32,			/* f_code */
		.frame_previous = 24,			/* f_back */
		.frame_pos = 104,			/* int f_lasti, bytes */
		.frame_owner = PYOFF_NONE,
		.frame_pos_is_ptr = 0,
		.frame_pos_in_units = 0,
		.owner_cstack = OWNER_NONE,
		/* PyCodeObject */
		.code_filename = 104,
		.code_name = 112,
		.code_qualname = PYOFF_NONE,
		.code_firstlineno = 40,
		.code_linetable = 120,			/* co_lnotab */
		.code_adaptive = PYOFF_NONE,
		.linetable = LINETABLE_LNOTAB,
		.object_type = 8,
		.varobject_size = 16,
		.bytes_sval = 32,
		.unicode_length = 16,
		.unicode_state = 32,
		.unicode_ascii_data = 48,
		.unicode_compact_data = 72,
		/* heap census */
		.runtime_interpreters_main = 40,
		.runtime_gc = PYOFF_NONE,
		.interp_gc = 616,
		.interp_modules = 856,
		.interp_obmalloc = PYOFF_NONE,
		.obmalloc_is_ptr = 0,
		.obmalloc_narenas = PYOFF_NONE,
		.obmalloc_ntimes = PYOFF_NONE,
		.obmalloc_highwater = PYOFF_NONE,
		.arena_size = 256 << 10,
		/* pymalloc: struct arena_object, struct pool_header (one layout
		 * from 3.8 to 3.13); POOL_SIZE is SYSTEM_PAGE_SIZE before 3.10,
		 * 16 KiB from 3.10 (USE_LARGE_POOLS with the radix tree) */
		.obmalloc_arenas = PYOFF_NONE,	/* the static arenas (.symtab) */
		.obmalloc_maxarenas = PYOFF_NONE,
		.arena_object_size = 48,
		.arena_address = 0,
		.arena_pool_address = 8,
		.arena_nfreepools = 16,
		.arena_ntotalpools = 20,
		.pool_header_size = 48,
		.pool_count = 0,
		.pool_arenaindex = 32,
		.pool_szidx = 36,
		.pool_nextoffset = 40,
		.pool_maxnextoffset = 44,
		.pool_size = 4 << 10,
		.small_classes = 32,
		.small_alignment = 16,
		/* struct _gc_runtime_state: one layout from 3.8 to 3.13 (3.13.0
		 * shipped without the incremental collector: three
		 * generations and a permanent one, as before) */
		.gc_enabled = 12,
		.gc_generations = 24,
		.gc_generation_size = 24,
		.gc_permanent = 104,
		.gc_generation_stats = 128,
		.gc_stats_size = 24,
		.gc_collecting = 200,
		.gc_garbage = 208,
		.gen_threshold = 16,
		.gen_count = 20,
		.stats_collections = 0,
		.stats_uncollectable = 16,
		.gchead_size = 16,
		.gchead_next = 0,
		.gchead_prev = 8,
		/* PyTypeObject */
		.type_name = 24,
		.type_basicsize = 32,
		.type_itemsize = 40,
		.type_flags = 168,
		.type_base = 256,
		.type_dict = 264,
		.type_dictoffset = 288,
		.heaptype_qualname = 856,
		.heaptype_cached_keys = 864,
		.tpflag_managed_dict = 0,
		.tpflag_inline_values = 0,
		.managed_dict = PYOFF_DICT_AT_OFFSET,
		.list_item = 24,
		.list_allocated = 32,
		.tuple_item = 24,
		.set_used = 24,
		.set_mask = 32,
		.set_table = 40,
		.setentry_size = 16,
		.dict_used = 16,
		.dict_keys = 32,
		.dict_values = 40,
		.dictkeys_size = 8,
		.dictkeys_log2_size = PYOFF_NONE,
		.dictkeys_log2_index_bytes = PYOFF_NONE,
		.dictkeys_kind = PYOFF_NONE,
		.dictkeys_nentries = 32,
		.dictkeys_indices = 40,
		.dictvalues_values = PYOFF_NONE,
		.dictvalues_valid = PYOFF_NONE,
		.func_closure = 48,
		.func_defaults = 32,
		.func_kwdefaults = 40,
		.func_qualname = 104,
		.cell_ref = 16,
		.module_dict = 16,
		.method_func = 16,
		.method_self = 24,
		.long_digit = 24,
		.long_lv_tag = PYOFF_NONE,
		.code_nlocals = 28,
		.code_localnames = 72,
		.frame_localsplus = 360,
	},
	{
		.major = 3, .minor = 10,
		.runtime_tstate_current = 568,		/* gilstate.tstate_current */
		.runtime_interpreters_head = 32,
		.runtime_alloc_raw = PYOFF_NONE,
		.runtime_alloc_mem = PYOFF_NONE,
		.runtime_alloc_obj = PYOFF_NONE,
		.interp_threads_head = 8,		/* PyInterpreterState.tstate_head */
		/* PyThreadState: 3.10 has a cframe (+48) too, but only for
		 * use_tracing; frames still hang off tstate->frame. */
		.tstate_next = 8,
		.tstate_frame = 24,			/* frame */
		.tstate_thread_id = 176,
		.tstate_native_thread_id = PYOFF_NONE,
		.cframe_current_frame = PYOFF_NONE,
		/* PyFrameObject */
		.frame_code = 32,			/* f_code */
		.frame_previous = 24,			/* f_back */
		.frame_pos = 96,			/* int f_lasti, code units */
		.frame_owner = PYOFF_NONE,
		.frame_pos_is_ptr = 0,
		.frame_pos_in_units = 1,
		.owner_cstack = OWNER_NONE,
		/* PyCodeObject */
		.code_filename = 104,
		.code_name = 112,
		.code_qualname = PYOFF_NONE,
		.code_firstlineno = 40,
		.code_linetable = 120,			/* co_linetable (PEP 626) */
		.code_adaptive = PYOFF_NONE,
		.linetable = LINETABLE_PEP626,
		.object_type = 8,
		.varobject_size = 16,
		.bytes_sval = 32,
		.unicode_length = 16,
		.unicode_state = 32,
		.unicode_ascii_data = 48,
		.unicode_compact_data = 72,
		/* heap census */
		.runtime_interpreters_main = 40,
		.runtime_gc = PYOFF_NONE,
		.interp_gc = 616,
		.interp_modules = 856,
		.interp_obmalloc = PYOFF_NONE,
		.obmalloc_is_ptr = 0,
		.obmalloc_narenas = PYOFF_NONE,
		.obmalloc_ntimes = PYOFF_NONE,
		.obmalloc_highwater = PYOFF_NONE,
		.arena_size = 1 << 20,
		/* pymalloc: struct arena_object, struct pool_header (one layout
		 * from 3.8 to 3.13); POOL_SIZE is SYSTEM_PAGE_SIZE before 3.10,
		 * 16 KiB from 3.10 (USE_LARGE_POOLS with the radix tree) */
		.obmalloc_arenas = PYOFF_NONE,	/* the static arenas (.symtab) */
		.obmalloc_maxarenas = PYOFF_NONE,
		.arena_object_size = 48,
		.arena_address = 0,
		.arena_pool_address = 8,
		.arena_nfreepools = 16,
		.arena_ntotalpools = 20,
		.pool_header_size = 48,
		.pool_count = 0,
		.pool_arenaindex = 32,
		.pool_szidx = 36,
		.pool_nextoffset = 40,
		.pool_maxnextoffset = 44,
		.pool_size = 16 << 10,
		.small_classes = 32,
		.small_alignment = 16,
		/* struct _gc_runtime_state: one layout from 3.8 to 3.13 (3.13.0
		 * shipped without the incremental collector: three
		 * generations and a permanent one, as before) */
		.gc_enabled = 12,
		.gc_generations = 24,
		.gc_generation_size = 24,
		.gc_permanent = 104,
		.gc_generation_stats = 128,
		.gc_stats_size = 24,
		.gc_collecting = 200,
		.gc_garbage = 208,
		.gen_threshold = 16,
		.gen_count = 20,
		.stats_collections = 0,
		.stats_uncollectable = 16,
		.gchead_size = 16,
		.gchead_next = 0,
		.gchead_prev = 8,
		/* PyTypeObject */
		.type_name = 24,
		.type_basicsize = 32,
		.type_itemsize = 40,
		.type_flags = 168,
		.type_base = 256,
		.type_dict = 264,
		.type_dictoffset = 288,
		.heaptype_qualname = 864,
		.heaptype_cached_keys = 872,
		.tpflag_managed_dict = 0,
		.tpflag_inline_values = 0,
		.managed_dict = PYOFF_DICT_AT_OFFSET,
		.list_item = 24,
		.list_allocated = 32,
		.tuple_item = 24,
		.set_used = 24,
		.set_mask = 32,
		.set_table = 40,
		.setentry_size = 16,
		.dict_used = 16,
		.dict_keys = 32,
		.dict_values = 40,
		.dictkeys_size = 8,
		.dictkeys_log2_size = PYOFF_NONE,
		.dictkeys_log2_index_bytes = PYOFF_NONE,
		.dictkeys_kind = PYOFF_NONE,
		.dictkeys_nentries = 32,
		.dictkeys_indices = 40,
		.dictvalues_values = PYOFF_NONE,
		.dictvalues_valid = PYOFF_NONE,
		.func_closure = 72,
		.func_defaults = 56,
		.func_kwdefaults = 64,
		.func_qualname = 40,
		.cell_ref = 16,
		.module_dict = 16,
		.method_func = 16,
		.method_self = 24,
		.long_digit = 24,
		.long_lv_tag = PYOFF_NONE,
		.code_nlocals = 28,
		.code_localnames = 72,
		.frame_localsplus = 352,
	},
	{
		/* 3.11.7 == Debian 3.11.2 for every field below. */
		.major = 3, .minor = 11,
		.runtime_tstate_current = 576,		/* gilstate.tstate_current */
		.runtime_interpreters_head = 40,
		.runtime_alloc_raw = PYOFF_NONE,
		.runtime_alloc_mem = PYOFF_NONE,
		.runtime_alloc_obj = PYOFF_NONE,
		.interp_threads_head = 16,		/* PyInterpreterState.threads.head */
		/* PyThreadState */
		.tstate_next = 8,
		.tstate_frame = 56,			/* _PyCFrame *cframe */
		.tstate_thread_id = 152,
		.tstate_native_thread_id = 160,
		.cframe_current_frame = 8,		/* _PyCFrame.current_frame */
		/* _PyInterpreterFrame */
		.frame_code = 32,			/* f_code */
		.frame_previous = 48,			/* previous */
		.frame_pos = 56,			/* _Py_CODEUNIT *prev_instr */
		.frame_owner = 69,			/* char owner */
		.frame_pos_is_ptr = 1,
		.frame_pos_in_units = 0,
		.owner_cstack = OWNER_NONE,		/* no shim frames in 3.11 */
		/* PyCodeObject */
		.code_filename = 112,
		.code_name = 120,
		.code_qualname = 128,
		.code_firstlineno = 72,
		.code_linetable = 136,			/* co_linetable (PEP 657) */
		.code_adaptive = 184,			/* co_code_adaptive */
		.linetable = LINETABLE_LOCATIONS,
		.object_type = 8,
		.varobject_size = 16,
		.bytes_sval = 32,
		.unicode_length = 16,
		.unicode_state = 32,
		.unicode_ascii_data = 48,
		.unicode_compact_data = 72,
		/* heap census */
		.runtime_interpreters_main = 48,
		.runtime_gc = PYOFF_NONE,
		.interp_gc = 648,
		.interp_modules = 888,
		.interp_obmalloc = PYOFF_NONE,
		.obmalloc_is_ptr = 0,
		.obmalloc_narenas = PYOFF_NONE,
		.obmalloc_ntimes = PYOFF_NONE,
		.obmalloc_highwater = PYOFF_NONE,
		.arena_size = 1 << 20,
		/* pymalloc: struct arena_object, struct pool_header (one layout
		 * from 3.8 to 3.13); POOL_SIZE is SYSTEM_PAGE_SIZE before 3.10,
		 * 16 KiB from 3.10 (USE_LARGE_POOLS with the radix tree) */
		.obmalloc_arenas = PYOFF_NONE,	/* the static arenas (.symtab) */
		.obmalloc_maxarenas = PYOFF_NONE,
		.arena_object_size = 48,
		.arena_address = 0,
		.arena_pool_address = 8,
		.arena_nfreepools = 16,
		.arena_ntotalpools = 20,
		.pool_header_size = 48,
		.pool_count = 0,
		.pool_arenaindex = 32,
		.pool_szidx = 36,
		.pool_nextoffset = 40,
		.pool_maxnextoffset = 44,
		.pool_size = 16 << 10,
		.small_classes = 32,
		.small_alignment = 16,
		/* struct _gc_runtime_state: one layout from 3.8 to 3.13 (3.13.0
		 * shipped without the incremental collector: three
		 * generations and a permanent one, as before) */
		.gc_enabled = 12,
		.gc_generations = 24,
		.gc_generation_size = 24,
		.gc_permanent = 104,
		.gc_generation_stats = 128,
		.gc_stats_size = 24,
		.gc_collecting = 200,
		.gc_garbage = 208,
		.gen_threshold = 16,
		.gen_count = 20,
		.stats_collections = 0,
		.stats_uncollectable = 16,
		.gchead_size = 16,
		.gchead_next = 0,
		.gchead_prev = 8,
		/* PyTypeObject */
		.type_name = 24,
		.type_basicsize = 32,
		.type_itemsize = 40,
		.type_flags = 168,
		.type_base = 256,
		.type_dict = 264,
		.type_dictoffset = 288,
		.heaptype_qualname = 864,
		.heaptype_cached_keys = 872,
		.tpflag_managed_dict = 1 << 4,
		.tpflag_inline_values = 0,
		.managed_dict = PYOFF_DICT_VALUES_3_11,
		.list_item = 24,
		.list_allocated = 32,
		.tuple_item = 24,
		.set_used = 24,
		.set_mask = 32,
		.set_table = 40,
		.setentry_size = 16,
		.dict_used = 16,
		.dict_keys = 32,
		.dict_values = 40,
		.dictkeys_size = PYOFF_NONE,
		.dictkeys_log2_size = 8,
		.dictkeys_log2_index_bytes = 9,
		.dictkeys_kind = 10,
		.dictkeys_nentries = 24,
		.dictkeys_indices = 32,
		.dictvalues_values = 0,
		.dictvalues_valid = PYOFF_NONE,
		.func_closure = 72,
		.func_defaults = 56,
		.func_kwdefaults = 64,
		.func_qualname = 40,
		.cell_ref = 16,
		.module_dict = 16,
		.method_func = 16,
		.method_self = 24,
		.long_digit = 24,
		.long_lv_tag = PYOFF_NONE,
		.code_nlocals = 76,
		.code_localnames = 96,
		.frame_localsplus = 72,
	},
	{
		.major = 3, .minor = 12,
		/* _PyRuntimeState: no tstate_current (TLS _Py_tss_tstate) */
		.runtime_tstate_current = PYOFF_NONE,
		.runtime_interpreters_head = 40,
		.runtime_alloc_raw = 96,		/* allocators.standard.raw */
		.runtime_alloc_mem = 136,		/* allocators.standard.mem */
		.runtime_alloc_obj = 176,		/* allocators.standard.obj */
		.interp_threads_head = 72,		/* PyInterpreterState.threads.head */
		/* PyThreadState */
		.tstate_next = 8,
		.tstate_frame = 56,			/* _PyCFrame *cframe */
		.tstate_thread_id = 136,
		.tstate_native_thread_id = 144,
		.cframe_current_frame = 0,		/* _PyCFrame.current_frame */
		/* _PyInterpreterFrame */
		.frame_code = 0,			/* f_code */
		.frame_previous = 8,			/* previous */
		.frame_pos = 56,			/* _Py_CODEUNIT *prev_instr */
		.frame_owner = 70,			/* char owner */
		.frame_pos_is_ptr = 1,
		.frame_pos_in_units = 0,
		.owner_cstack = OWNER_CSTACK_3_12,
		/* PyCodeObject */
		.code_filename = 112,
		.code_name = 120,
		.code_qualname = 128,
		.code_firstlineno = 68,
		.code_linetable = 136,
		.code_adaptive = 192,
		.linetable = LINETABLE_LOCATIONS,
		.object_type = 8,
		.varobject_size = 16,
		.bytes_sval = 32,
		.unicode_length = 16,
		.unicode_state = 32,
		.unicode_ascii_data = 40,		/* sizeof(PyASCIIObject), wstr gone */
		.unicode_compact_data = 56,		/* sizeof(PyCompactUnicodeObject) */
		/* heap census */
		.runtime_interpreters_main = 48,
		.runtime_gc = PYOFF_NONE,
		.interp_gc = 112,
		.interp_modules = 944,
		.interp_obmalloc = 3960,
		.obmalloc_is_ptr = 0,
		.obmalloc_narenas = 1064,
		.obmalloc_ntimes = 1072,
		.obmalloc_highwater = 1080,
		.arena_size = 1 << 20,
		/* pymalloc: struct arena_object, struct pool_header (one layout
		 * from 3.8 to 3.13); POOL_SIZE is SYSTEM_PAGE_SIZE before 3.10,
		 * 16 KiB from 3.10 (USE_LARGE_POOLS with the radix tree) */
		.obmalloc_arenas = 512,		/* mgmt, after pools.used[64] */
		.obmalloc_maxarenas = 520,
		.arena_object_size = 48,
		.arena_address = 0,
		.arena_pool_address = 8,
		.arena_nfreepools = 16,
		.arena_ntotalpools = 20,
		.pool_header_size = 48,
		.pool_count = 0,
		.pool_arenaindex = 32,
		.pool_szidx = 36,
		.pool_nextoffset = 40,
		.pool_maxnextoffset = 44,
		.pool_size = 16 << 10,
		.small_classes = 32,
		.small_alignment = 16,
		/* struct _gc_runtime_state: one layout from 3.8 to 3.13 (3.13.0
		 * shipped without the incremental collector: three
		 * generations and a permanent one, as before) */
		.gc_enabled = 12,
		.gc_generations = 24,
		.gc_generation_size = 24,
		.gc_permanent = 104,
		.gc_generation_stats = 128,
		.gc_stats_size = 24,
		.gc_collecting = 200,
		.gc_garbage = 208,
		.gen_threshold = 16,
		.gen_count = 20,
		.stats_collections = 0,
		.stats_uncollectable = 16,
		.gchead_size = 16,
		.gchead_next = 0,
		.gchead_prev = 8,
		/* PyTypeObject */
		.type_name = 24,
		.type_basicsize = 32,
		.type_itemsize = 40,
		.type_flags = 168,
		.type_base = 256,
		.type_dict = 264,
		.type_dictoffset = 288,
		.heaptype_qualname = 872,
		.heaptype_cached_keys = 880,
		.tpflag_managed_dict = 1 << 4,
		.tpflag_inline_values = 0,
		.managed_dict = PYOFF_DICT_OR_VALUES,
		.list_item = 24,
		.list_allocated = 32,
		.tuple_item = 24,
		.set_used = 24,
		.set_mask = 32,
		.set_table = 40,
		.setentry_size = 16,
		.dict_used = 16,
		.dict_keys = 32,
		.dict_values = 40,
		.dictkeys_size = PYOFF_NONE,
		.dictkeys_log2_size = 8,
		.dictkeys_log2_index_bytes = 9,
		.dictkeys_kind = 10,
		.dictkeys_nentries = 24,
		.dictkeys_indices = 32,
		.dictvalues_values = 0,
		.dictvalues_valid = PYOFF_NONE,
		.func_closure = 72,
		.func_defaults = 56,
		.func_kwdefaults = 64,
		.func_qualname = 40,
		.cell_ref = 16,
		.module_dict = 16,
		.method_func = 16,
		.method_self = 24,
		.long_digit = 24,
		.long_lv_tag = 16,
		.code_nlocals = 72,
		.code_localnames = 96,
		.frame_localsplus = 72,
	},
	{
		/* _PyRuntime+0 carries _Py_DebugOffsets; these are the values
		 * of the non-free-threaded 3.13.0 build, used for what the
		 * debug offsets do not carry and checked against them. */
		.major = 3, .minor = 13,
		.debug_offsets = 1,
		.runtime_tstate_current = PYOFF_NONE,
		.runtime_interpreters_head = 632,
		.runtime_alloc_raw = 704,		/* allocators.standard.raw */
		.runtime_alloc_mem = 744,		/* allocators.standard.mem */
		.runtime_alloc_obj = 784,		/* allocators.standard.obj */
		.interp_threads_head = 7344,		/* PyInterpreterState.threads.head */
		/* PyThreadState: no _PyCFrame any more */
		.tstate_next = 8,
		.tstate_frame = 72,			/* _PyInterpreterFrame *current_frame */
		.tstate_thread_id = 152,
		.tstate_native_thread_id = 160,
		.cframe_current_frame = PYOFF_NONE,
		/* _PyInterpreterFrame */
		.frame_code = 0,			/* PyObject *f_executable */
		.frame_previous = 8,			/* previous */
		.frame_pos = 56,			/* _Py_CODEUNIT *instr_ptr */
		.frame_owner = 70,			/* char owner */
		.frame_pos_is_ptr = 1,
		.frame_pos_in_units = 0,
		.owner_cstack = OWNER_CSTACK_3_12,
		/* PyCodeObject */
		.code_filename = 112,
		.code_name = 120,
		.code_qualname = 128,
		.code_firstlineno = 68,
		.code_linetable = 136,
		.code_adaptive = 200,
		.linetable = LINETABLE_LOCATIONS,
		.object_type = 8,
		.varobject_size = 16,
		.bytes_sval = 32,
		.unicode_length = 16,
		.unicode_state = 32,
		.unicode_ascii_data = 40,
		.unicode_compact_data = 56,
		/* heap census */
		.runtime_interpreters_main = 640,
		.runtime_gc = PYOFF_NONE,
		.interp_gc = 7400,
		.interp_modules = 7656,
		.interp_obmalloc = 10800,
		.obmalloc_is_ptr = 1,
		.obmalloc_narenas = 1064,
		.obmalloc_ntimes = 1072,
		.obmalloc_highwater = 1080,
		.arena_size = 1 << 20,
		/* pymalloc: struct arena_object, struct pool_header (one layout
		 * from 3.8 to 3.13); POOL_SIZE is SYSTEM_PAGE_SIZE before 3.10,
		 * 16 KiB from 3.10 (USE_LARGE_POOLS with the radix tree) */
		.obmalloc_arenas = 512,		/* mgmt, after pools.used[64] */
		.obmalloc_maxarenas = 520,
		.arena_object_size = 48,
		.arena_address = 0,
		.arena_pool_address = 8,
		.arena_nfreepools = 16,
		.arena_ntotalpools = 20,
		.pool_header_size = 48,
		.pool_count = 0,
		.pool_arenaindex = 32,
		.pool_szidx = 36,
		.pool_nextoffset = 40,
		.pool_maxnextoffset = 44,
		.pool_size = 16 << 10,
		.small_classes = 32,
		.small_alignment = 16,
		/* struct _gc_runtime_state: one layout from 3.8 to 3.13 (3.13.0
		 * shipped without the incremental collector: three
		 * generations and a permanent one, as before) */
		.gc_enabled = 12,
		.gc_generations = 24,
		.gc_generation_size = 24,
		.gc_permanent = 104,
		.gc_generation_stats = 128,
		.gc_stats_size = 24,
		.gc_collecting = 200,
		.gc_garbage = 208,
		.gen_threshold = 16,
		.gen_count = 20,
		.stats_collections = 0,
		.stats_uncollectable = 16,
		.gchead_size = 16,
		.gchead_next = 0,
		.gchead_prev = 8,
		/* PyTypeObject */
		.type_name = 24,
		.type_basicsize = 32,
		.type_itemsize = 40,
		.type_flags = 168,
		.type_base = 256,
		.type_dict = 264,
		.type_dictoffset = 288,
		.heaptype_qualname = 872,
		.heaptype_cached_keys = 880,
		.tpflag_managed_dict = 1 << 4,
		.tpflag_inline_values = 1 << 2,
		.managed_dict = PYOFF_INLINE_VALUES,
		.list_item = 24,
		.list_allocated = 32,
		.tuple_item = 24,
		.set_used = 24,
		.set_mask = 32,
		.set_table = 40,
		.setentry_size = 16,
		.dict_used = 16,
		.dict_keys = 32,
		.dict_values = 40,
		.dictkeys_size = PYOFF_NONE,
		.dictkeys_log2_size = 8,
		.dictkeys_log2_index_bytes = 9,
		.dictkeys_kind = 10,
		.dictkeys_nentries = 24,
		.dictkeys_indices = 32,
		.dictvalues_values = 8,
		.dictvalues_valid = 3,
		.func_closure = 72,
		.func_defaults = 56,
		.func_kwdefaults = 64,
		.func_qualname = 40,
		.cell_ref = 16,
		.module_dict = 16,
		.method_func = 16,
		.method_self = 24,
		.long_digit = 24,
		.long_lv_tag = 16,
		.code_nlocals = 72,
		.code_localnames = 96,
		.frame_localsplus = 72,
	},
};

const char *pyoffsets__supported(void)
{
	static char buf[32];
	const struct pyver_offsets *lo = &pyver_table[0];
	const struct pyver_offsets *hi = &pyver_table[sizeof(pyver_table) / sizeof(pyver_table[0]) - 1];

	if (!buf[0])
		snprintf(buf, sizeof(buf), "%d.%d to %d.%d", lo->major, lo->minor, hi->major,
			 hi->minor);
	return buf;
}

const struct pyver_offsets *pyoffsets__lookup(int major, int minor)
{
	size_t i;

	for (i = 0; i < sizeof(pyver_table) / sizeof(pyver_table[0]); i++) {
		if (pyver_table[i].major == major && pyver_table[i].minor == minor)
			return &pyver_table[i];
	}
	return NULL;
}

/*
 * _Py_DebugOffsets as laid out by CPython 3.13 (Include/internal/
 * pycore_runtime.h at v3.13.0; pahole of the 3.13.0 libpython gives the
 * same 584 bytes): char cookie[8], uint64_t version (PY_VERSION_HEX),
 * uint64_t free_threaded, then one sub-struct of uint64_t per CPython
 * struct, each opening with that struct's size:
 *
 *	 24 runtime_state	size finalizing interpreters_head
 *	 48 interpreter_state	size id next threads_head gc imports_modules
 *				sysdict builtins ceval_gil gil_runtime_state
 *				gil_runtime_state_enabled gil_runtime_state_locked
 *				gil_runtime_state_holder
 *	152 thread_state	size prev next interp current_frame thread_id
 *				native_thread_id datastack_chunk status
 *	224 interpreter_frame	size previous executable instr_ptr localsplus owner
 *	272 code_object		size filename name qualname linetable firstlineno
 *				argcount localsplusnames localspluskinds
 *				co_code_adaptive
 *	352 pyobject		size ob_type
 *	368 type_object		size tp_name tp_repr tp_flags
 *	400 tuple_object	size ob_item ob_size
 *	424 list_object		size ob_item ob_size
 *	448 dict_object		size ma_keys ma_values
 *	472 float_object	size ob_fval
 *	488 long_object		size lv_tag ob_digit
 *	512 bytes_object	size ob_size ob_sval
 *	536 unicode_object	size state length asciiobject_size
 *	568 gc			size collecting
 *	584 end
 *
 * CPython promises this layout only within one minor version; 3.14 adds
 * fields in the middle (threads_main, stackpointer, set/gen objects,
 * debugger_support), so the version is checked before anything is parsed.
 */
#define DEBUG_COOKIE		"xdebugpy"
#define DO_COOKIE		0
#define DO_VERSION		8
#define DO_FREE_THREADED	16
#define DO_HEADER_END		24
#define DO13_RUNTIME		24
#define DO13_INTERP		48
#define DO13_THREAD		152
#define DO13_FRAME		224
#define DO13_CODE		272
#define DO13_PYOBJECT		352
#define DO13_TYPE		368
#define DO13_TUPLE		400
#define DO13_LIST		424
#define DO13_DICT		448
#define DO13_LONG		488
#define DO13_BYTES		512
#define DO13_UNICODE		536
#define DO13_SIZE		584

/* No CPython struct the walker touches comes near this; a larger size
 * means the bytes are not debug offsets. (_PyRuntimeState is 283320 in
 * 3.13.0, PyInterpreterState 194968.) */
#define DO_MAX_STRUCT_SIZE	(16u << 20)

/* One uint64_t of _Py_DebugOffsets that pyver_offsets has a field for. */
struct debug_field {
	const char *name;	/* sub-struct.field, as CPython names it */
	uint32_t sub;		/* offset of the sub-struct, i.e. its size field */
	uint32_t at;		/* offset of this field in _Py_DebugOffsets */
	uint32_t width;		/* bytes it spans in its CPython struct; 0: a size */
	size_t dst;		/* offsetof(struct pyver_offsets, ...) */
};

#define DF(_name, _sub, _at, _width, _dst) \
	{ _name, _sub, _at, _width, offsetof(struct pyver_offsets, _dst) }

static const struct debug_field debug_fields_3_13[] = {
	DF("runtime_state.interpreters_head",	DO13_RUNTIME,  40, 8, runtime_interpreters_head),
	DF("interpreter_state.threads_head",	DO13_INTERP,   72, 8, interp_threads_head),
	DF("interpreter_state.gc",		DO13_INTERP,   80, 240, interp_gc),
	DF("interpreter_state.imports_modules",	DO13_INTERP,   88, 8, interp_modules),
	DF("thread_state.next",			DO13_THREAD,  168, 8, tstate_next),
	DF("thread_state.current_frame",	DO13_THREAD,  184, 8, tstate_frame),
	DF("thread_state.thread_id",		DO13_THREAD,  192, 8, tstate_thread_id),
	DF("thread_state.native_thread_id",	DO13_THREAD,  200, 8, tstate_native_thread_id),
	DF("interpreter_frame.previous",	DO13_FRAME,   232, 8, frame_previous),
	DF("interpreter_frame.executable",	DO13_FRAME,   240, 8, frame_code),
	DF("interpreter_frame.instr_ptr",	DO13_FRAME,   248, 8, frame_pos),
	DF("interpreter_frame.owner",		DO13_FRAME,   264, 1, frame_owner),
	DF("interpreter_frame.localsplus",	DO13_FRAME,   256, 0, frame_localsplus),
	DF("code_object.filename",		DO13_CODE,    280, 8, code_filename),
	DF("code_object.name",			DO13_CODE,    288, 8, code_name),
	DF("code_object.qualname",		DO13_CODE,    296, 8, code_qualname),
	DF("code_object.linetable",		DO13_CODE,    304, 8, code_linetable),
	DF("code_object.firstlineno",		DO13_CODE,    312, 4, code_firstlineno),
	DF("code_object.co_code_adaptive",	DO13_CODE,    344, 2, code_adaptive),
	DF("code_object.localsplusnames",	DO13_CODE,    328, 8, code_localnames),
	DF("pyobject.ob_type",			DO13_PYOBJECT, 360, 8, object_type),
	DF("type_object.tp_name",		DO13_TYPE,    376, 8, type_name),
	DF("type_object.tp_flags",		DO13_TYPE,    392, 8, type_flags),
	DF("tuple_object.ob_item",		DO13_TUPLE,   408, 0, tuple_item),
	DF("list_object.ob_item",		DO13_LIST,    432, 8, list_item),
	DF("dict_object.ma_keys",		DO13_DICT,    456, 8, dict_keys),
	DF("dict_object.ma_values",		DO13_DICT,    464, 8, dict_values),
	DF("long_object.lv_tag",		DO13_LONG,    496, 8, long_lv_tag),
	DF("long_object.ob_digit",		DO13_LONG,    504, 0, long_digit),
	DF("bytes_object.ob_size",		DO13_BYTES,   520, 8, varobject_size),
	DF("bytes_object.ob_sval",		DO13_BYTES,   528, 1, bytes_sval),
	DF("unicode_object.state",		DO13_UNICODE, 544, 4, unicode_state),
	DF("unicode_object.length",		DO13_UNICODE, 552, 8, unicode_length),
	/* sizeof(PyASCIIObject): where compact ASCII characters start */
	DF("unicode_object.asciiobject_size",	DO13_UNICODE, 560, 0, unicode_ascii_data),
};

/* The frame fields BPF picks out of its one FRAME_READ-byte copy, with
 * the bytes each spans in 3.13's _PyInterpreterFrame. */
static const struct {
	const char *name;
	size_t dst;
	uint32_t width;
} frame_read_fields[] = {
	{ "interpreter_frame.executable", offsetof(struct pyver_offsets, frame_code), 8 },
	{ "interpreter_frame.previous", offsetof(struct pyver_offsets, frame_previous), 8 },
	{ "interpreter_frame.instr_ptr", offsetof(struct pyver_offsets, frame_pos), 8 },
	{ "interpreter_frame.owner", offsetof(struct pyver_offsets, frame_owner), 1 },
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	/* The blob comes from the same machine, so host byte order. */
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t *field_ptr(struct pyver_offsets *o, size_t dst)
{
	return (uint32_t *)((char *)o + dst);
}

/* Printable form of 8 cookie bytes for a message: "\x00" for the rest. */
static void cookie_str(const uint8_t *c, char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < 8 && n + 5 < len; i++) {
		if (c[i] >= 0x20 && c[i] < 0x7f && c[i] != '"' && c[i] != '\\')
			n += snprintf(buf + n, len - n, "%c", c[i]);
		else
			n += snprintf(buf + n, len - n, "\\x%02x", c[i]);
	}
}

/*
 * On success err holds "" or, when a carried value differs from the
 * built-in table, a note naming those fields (the live value is used: it
 * is the process's truth); callers may show it with -v.
 */
int pyoffsets__from_debug_offsets(const void *buf, size_t len, uint64_t version_hex,
				  struct pyver_offsets *out, char *err, size_t errlen)
{
	const struct pyver_offsets *table;
	const uint8_t *p = buf;
	struct pyver_offsets o;
	uint64_t version, ft;
	int major, minor;
	char note[256] = "";
	size_t i, n = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!p || len < DO_HEADER_END)
		return fail(err, errlen, "debug offsets too short: %zu bytes, the header alone is %d",
			    len, DO_HEADER_END);

	if (memcmp(p + DO_COOKIE, DEBUG_COOKIE, 8)) {
		char c[40];

		cookie_str(p + DO_COOKIE, c, sizeof(c));
		return fail(err, errlen, "no debug offsets at _PyRuntime: cookie \"%s\", expected \"%s\"",
			    c, DEBUG_COOKIE);
	}

	version = get_u64(p + DO_VERSION);
	if (version >> 32)
		return fail(err, errlen, "debug offsets: version 0x%" PRIx64 " is not a PY_VERSION_HEX",
			    version);
	major = (version >> 24) & 0xff;
	minor = (version >> 16) & 0xff;
	if (version_hex && (version_hex >> 16) != (version >> 16))
		return fail(err, errlen,
			    "debug offsets declare Python %d.%d but the process says %d.%d (0x%08" PRIx64 ")",
			    major, minor, (int)((version_hex >> 24) & 0xff),
			    (int)((version_hex >> 16) & 0xff), version_hex);
	if (major > 3 || (major == 3 && minor >= 14))
		return fail(err, errlen,
			    "unsupported version %d.%d: _Py_DebugOffsets changed layout in 3.14 and pyleak knows only 3.13's",
			    major, minor);
	if (major != 3 || minor < 13)
		return fail(err, errlen,
			    "debug offsets declare Python %d.%d; only 3.13 has this layout", major, minor);
	table = pyoffsets__lookup(major, minor);
	if (!table)
		return fail(err, errlen, "unsupported version %d.%d: no built-in offsets", major, minor);

	ft = get_u64(p + DO_FREE_THREADED);
	if (ft)
		return fail(err, errlen,
			    "unsupported build: Python %d.%d is free-threaded (free_threaded=%" PRIu64 "), its layouts differ",
			    major, minor, ft);

	if (len < DO13_SIZE)
		return fail(err, errlen, "debug offsets too short: %zu bytes, Python %d.%d's are %d",
			    len, major, minor, DO13_SIZE);

	o = *table;
	for (i = 0; i < sizeof(debug_fields_3_13) / sizeof(debug_fields_3_13[0]); i++) {
		const struct debug_field *f = &debug_fields_3_13[i];
		uint64_t size = get_u64(p + f->sub);
		uint64_t v = get_u64(p + f->at);
		uint32_t *dst = field_ptr(&o, f->dst);

		if (size == 0 || size > DO_MAX_STRUCT_SIZE)
			return fail(err, errlen, "debug offsets: %s: implausible struct size %" PRIu64,
				    f->name, size);
		if (v > size || size - v < f->width)
			return fail(err, errlen,
				    "debug offsets: %s = %" PRIu64 " lies beyond its struct's size %" PRIu64,
				    f->name, v, size);
		if (*dst != v && n < sizeof(note))
			n += snprintf(note + n, sizeof(note) - n, "%s%s %" PRIu64 " (table %u)",
				      n ? ", " : "", f->name, v, *dst);
		*dst = (uint32_t)v;
	}

	/* BPF copies FRAME_READ bytes of each frame and picks fields out of
	 * the copy; a field beyond that would read garbage. */
	for (i = 0; i < sizeof(frame_read_fields) / sizeof(frame_read_fields[0]); i++) {
		uint32_t v = *field_ptr(&o, frame_read_fields[i].dst);

		if (v + frame_read_fields[i].width > FRAME_READ)
			return fail(err, errlen,
				    "debug offsets: %s = %u lies beyond the %d bytes the BPF walker copies per frame",
				    frame_read_fields[i].name, v, FRAME_READ);
	}

	*out = o;
	if (n && err && errlen)
		snprintf(err, errlen, "debug offsets differ from the built-in %d.%d table: %s",
			 major, minor, note);
	return 0;
}

void pyoffsets__to_bpf(const struct pyver_offsets *o, struct py_offsets *b)
{
	/* PYOFF_NONE == NO_OFFSET (asserted above), so absent fields carry over. */
	b->tstate_thread_id = o->tstate_thread_id;
	b->tstate_frame = o->tstate_frame;
	b->cframe_current_frame = o->cframe_current_frame;
	b->frame_code = o->frame_code;
	b->frame_previous = o->frame_previous;
	b->frame_pos = o->frame_pos;
	b->frame_owner = o->frame_owner;
	b->code_adaptive = o->code_adaptive;
	b->pos_is_ptr = o->frame_pos_is_ptr;
	b->owner_cstack = o->owner_cstack;
	b->interp_threads_head = o->interp_threads_head;
	b->tstate_next = o->tstate_next;
}
