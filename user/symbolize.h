/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Code objects in the target -> function, file and line. */
#ifndef __SYMBOLIZE_H
#define __SYMBOLIZE_H

#include <stdint.h>
#include <sys/types.h>
#include "pyoffsets.h"

struct symbolizer;

struct frame_info {
	const char *function;	/* qualname on 3.11+, else co_name */
	const char *file;
	int line;		/* -1 when unknown */
	int first_line;		/* the def's line (co_firstlineno), 0 when unknown */
};

/* What the symbolizer holds and what its bounds made it drop. */
struct symbolizer_stats {
	uint64_t names, name_bytes;	/* distinct names and files kept */
	uint64_t names_dropped;		/* texts not kept: the name memory was full */
	uint64_t codes;			/* code objects cached now */
	uint64_t codes_evicted;		/* cache entries dropped (read again if needed) */
	uint64_t table_bytes;		/* line tables cached */
};

struct symbolizer *symbolizer__new(pid_t pid, const struct pyver_offsets *o, uint64_t code_type);
/* &PyUnicode_Type in the target: a name or file is read only from a str
 * (0: not checked). */
void symbolizer__set_str_type(struct symbolizer *s, uint64_t str_type);
void symbolizer__free(struct symbolizer *s);
/* Resolve one frame; strings stay valid until symbolizer__free(). A code
 * object that cannot be read resolves to "[unknown]". */
void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st);
void symbolizer__frame(struct symbolizer *s, uint64_t code, uint32_t pos, struct frame_info *out);

#endif /* __SYMBOLIZE_H */
