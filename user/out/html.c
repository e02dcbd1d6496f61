// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * --html: one self-contained page (no network when opened): the report as
 * JSON in a <script type="application/json"> element, and the script and
 * style that draw it (user/out/html.js, html.css: plain JavaScript, embedded
 * into the binary at build time). Target-controlled strings (file and
 * function names, the comm) reach the page only inside that JSON, which is
 * ASCII-only and has every '<', '>' and '&' as a \u escape, so no string can
 * end the script element or open a tag; the script puts them on the page
 * with textContent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "out.h"
#include "sanitize.h"

/* The page's script and style, as NUL-terminated strings. */
__asm__(".pushsection .rodata\n"
	".global pyleak_html_js\n"
	"pyleak_html_js:\n"
	".incbin \"user/out/html.js\"\n"
	".byte 0\n"
	".global pyleak_html_css\n"
	"pyleak_html_css:\n"
	".incbin \"user/out/html.css\"\n"
	".byte 0\n"
	".popsection\n");
extern const char pyleak_html_js[], pyleak_html_css[];

#define TABLE_ROWS 100
/* Stacks drawn per section: beyond that the page would grow to hundreds of
 * MB (65536 stacks of 64 frames); the rest, in rank order, are summed into
 * one "[N more stacks]" entry so the totals stay whole. */
#define PAGE_STACKS 5000

static json_t *target_str(const char *s)
{
	char *u = sanitize__utf8(s);
	json_t *j = json_string(u ? u : "?");

	free(u);
	return j;
}

static json_t *section(const struct snap_section *sec, const char *id, const char *title,
		       const char *unit)
{
	json_t *o = json_object(), *arr = json_array();
	uint64_t rest_amount = 0, rest_count = 0;
	double rest_rate = 0;
	int i, d;

	for (i = PAGE_STACKS; i < sec->n; i++) {
		rest_amount += sec->v[i].s->amount;
		rest_count += sec->v[i].s->count;
		rest_rate += sec->v[i].s->rate;
	}
	for (i = 0; i < sec->n && i < PAGE_STACKS; i++) {
		const struct snap_stack *st = &sec->v[i];
		const struct stack_frames *sf = st->frames;
		json_t *s = json_object(), *frames = json_array();

		for (d = 0; sf && d < sf->depth; d++)
			json_array_append_new(frames, json_pack("{s:o,s:o,s:i}", "function",
						target_str(sf->frames[d].function), "file",
						target_str(sf->frames[d].file), "line",
						sf->frames[d].line));
		json_object_set_new(s, "frames", frames);
		if (st->note)
			json_object_set_new(s, "note", json_string(st->note));
		json_object_set_new(s, "amount", json_integer((json_int_t)st->s->amount));
		json_object_set_new(s, "count", json_integer((json_int_t)st->s->count));
		json_object_set_new(s, "growth", json_integer((json_int_t)st->s->growth));
		json_object_set_new(s, "rate", json_real(st->s->rate));
		json_object_set_new(s, "trend", json_string(trend__name(st->s->trend)));
		json_array_append_new(arr, s);
	}
	if (sec->n > PAGE_STACKS) {
		char note[64];

		snprintf(note, sizeof(note), "[%d more stacks]", sec->n - PAGE_STACKS);
		json_array_append_new(arr, json_pack("{s:[],s:s,s:I,s:I,s:I,s:f,s:s}", "frames", "note",
						     note, "amount", (json_int_t)rest_amount, "count",
						     (json_int_t)rest_count, "growth", (json_int_t)0,
						     "rate", rest_rate, "trend", "steady"));
	}
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "title", json_string(title));
	json_object_set_new(o, "unit", json_string(unit));
	json_object_set_new(o, "total", json_integer((json_int_t)sec->amount));
	json_object_set_new(o, "top", json_integer(TABLE_ROWS));
	json_object_set_new(o, "nstacks", json_integer(sec->n));
	json_object_set_new(o, "stacks", arr);
	return o;
}

/* One process's data. */
static json_t *page_data(const struct snapshot *s)
{
	const struct report_meta *m = s->meta;
	json_t *o = json_object(), *secs = json_array();
	struct out_labels l;

	out__labels(s, &l);
	json_object_set_new(o, "pid", json_integer(l.pid));
	json_object_set_new(o, "comm", target_str(l.comm));
	json_object_set_new(o, "container", json_string(l.container));
	json_object_set_new(o, "python", json_string(l.python));
	json_object_set_new(o, "coverage", json_string(m->coverage));
	json_object_set_new(o, "report", json_integer(s->report));
	json_object_set_new(o, "final", json_boolean(s->final));
	json_object_set_new(o, "timestamp", json_real(s->timestamp));
	json_object_set_new(o, "elapsed_s", json_real(s->elapsed_s));
	if (m->memory)
		json_array_append_new(secs, section(&s->mem, "memory", "Outstanding memory by Python "
						    "stack", "bytes"));
	if (m->fds)
		json_array_append_new(secs, section(&s->fds, "fds", "Open file descriptors by "
						    "Python stack", "fds"));
	json_object_set_new(o, "sections", secs);
	return o;
}

void out_html__render(const struct snapshot *s, struct obuf *b)
{
	json_t *data = page_data(s);
	char *json = json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII), *p;

	json_decref(data);
	obuf__reset(b);
	if (!json) {
		b->oom = true;
		return;
	}
	obuf__puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		   "script-src 'unsafe-inline'; style-src 'unsafe-inline'\">\n"
		   "<title>pyleak-bpf flame graph</title>\n<style>\n");
	obuf__puts(b, pyleak_html_css);
	obuf__puts(b, "</style>\n</head>\n<body>\n<script type=\"application/json\" "
		   "id=\"pyleak-data\">");
	/* ASCII JSON: '<', '>' and '&' occur only inside strings, where the
	 * \u escape means the same character to JSON.parse. */
	for (p = json; *p; p++) {
		if (*p == '<')
			obuf__puts(b, "\\u003c");
		else if (*p == '>')
			obuf__puts(b, "\\u003e");
		else if (*p == '&')
			obuf__puts(b, "\\u0026");
		else
			obuf__put(b, p, 1);
	}
	free(json);
	obuf__puts(b, "</script>\n<script>\n");
	obuf__puts(b, pyleak_html_js);
	obuf__puts(b, "</script>\n</body>\n</html>\n");
}
