// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Brendan Gregg's folded stacks, as flamegraph.pl, inferno and speedscope
 * read them: one line per stack, frames root to leaf separated by ';', a
 * space, the value (outstanding bytes, or open fds for the fds file). A
 * frame is "function (file:line)", as py-spy writes Python frames; the
 * format has no escaping, so ';' and line breaks in a target's names
 * become ':' and ' '.
 */
#include <inttypes.h>
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

/* One process's part: every stack of the section. */
static void folded_process(const struct snap_section *sec, struct obuf *b)
{
	int i, d;

	for (i = 0; i < sec->n; i++) {
		const struct snap_stack *st = &sec->v[i];
		const struct stack_frames *sf = st->frames;

		if (!st->s->amount)
			continue;
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

void out_folded__render(const struct snapshot *s, bool fds, struct obuf *b)
{
	obuf__reset(b);
	folded_process(fds ? &s->fds : &s->mem, b);
}
