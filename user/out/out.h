/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The outputs: each renders a snapshot (user/snapshot.h) and reads nothing else. */
#ifndef __OUT_H
#define __OUT_H

#include <stdio.h>
#include "snapshot.h"

struct out_opts {
	int top;		/* -T: stacks per section */
	int frames;		/* --frames: innermost frames shown in text, 0 for all */
};

/* Human-readable report (user/out/text.c). */
void out_text__render(const struct snapshot *s, const struct out_opts *o, FILE *f);
/* One JSON object on one line (user/out/json.c). */
void out_json__render(const struct snapshot *s, const struct out_opts *o, FILE *f);

#endif /* __OUT_H */
