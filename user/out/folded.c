// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Brendan Gregg's folded stacks, as flamegraph.pl, inferno and speedscope
 * read them: one line per stack, frames root to leaf separated by ';', a
 * space, the value (outstanding bytes, or open fds for the fds file). A
 * frame is "function (file:line)", as py-spy writes Python frames; the
 * format has no escaping, so ';' and line breaks in a target's names
 * become ':' and ' '.
 *
 * With more than one process in the report, every stack begins with a root
 * frame naming its process, "python3 (pid 41)", so that a flame graph of
 * many processes has one tower per process and no two processes' frames
 * merge; with one process there is none, so a file of one process reads
 * as it did before the tool traced several.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "out.h"
#include "sanitize.h"

static void frame_text(struct obuf *b, const char *s)
{
	char *u = sanitize__utf8(s), *p;

	for (p = u ? u : "?"; *p; p++)
		obuf__put(b, *p == ';' ? ":" : *p == '\n' || *p == '\r' ? " " : p, 1);
	free(u);
}

/* One process's part: every stack of the section, under root when given. */
static void folded_process(const struct snap_section *sec, const char *root, struct obuf *b)
{
	int i, d;

	for (i = 0; i < sec->n; i++) {
		const struct snap_stack *st = &sec->v[i];
		const struct stack_frames *sf = st->frames;

		if (!st->s->amount)
			continue;
		if (root) {
			frame_text(b, root);
			obuf__puts(b, ";");
		}
		if (st->note || !sf || sf->depth <= 0) {
			frame_text(b, st->note ? st->note : "[stack unreadable]");
		} else {
			for (d = sf->depth - 1; d >= 0; d--) {
				const struct frame_info *fr = &sf->frames[d];

				if (fr->line < 0) {
					obuf__puts(b, "[unknown]");
				} else {
					frame_text(b, fr->function);
					obuf__puts(b, " (");
					frame_text(b, fr->file);
					obuf__printf(b, ":%d)", fr->line);
				}
				if (d)
					obuf__puts(b, ";");
			}
		}
		obuf__printf(b, " %" PRIu64 "\n", st->s->amount);
	}
}

void out_folded__render(const struct report_set *set, bool fds, struct obuf *b)
{
	char root[128];
	int i;

	obuf__reset(b);
	for (i = 0; i < set->n; i++) {
		const struct snapshot *s = set->procs[i];
		struct out_labels l;

		if (!out__has_data(s))
			continue;
		out__labels(s, &l);
		snprintf(root, sizeof(root), "%s (pid %d)", *l.comm ? l.comm : "?", (int)l.pid);
		folded_process(fds ? &s->fds : &s->mem, set->n > 1 ? root : NULL, b);
	}
}
