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
 *
 * Several processes make one page: each section's stacks of every process
 * ranked together (growing first, then by amount), each with its pid; the
 * script gives the flame graph's root one child per process and the table
 * a pid column.
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
/* Stacks drawn per section, shared among the processes: beyond that the
 * page would grow to hundreds of MB (65536 stacks of 64 frames); the rest
 * of each process, in rank order, are summed into one "[N more stacks]"
 * entry of that process so the totals stay whole. */
#define PAGE_STACKS 5000
/* With many processes each still gets this many (the page may then exceed
 * PAGE_STACKS: 100 processes of 100 stacks are a few MB). */
#define PAGE_MIN_SHARE 100

static json_t *target_str(const char *s)
{
	char *u = sanitize__utf8(s);
	json_t *j = json_string(u ? u : "?");

	free(u);
	return j;
}

/* One stack of the page: process i's stack k. */
struct page_stack {
	int proc, rank;
	const struct snap_stack *st;
};

/* Across processes as within one: growing first, then by amount; ties in
 * the processes' own order. */
static int cmp_page(const void *a, const void *b)
{
	const struct page_stack *x = a, *y = b;
	bool gx = x->st->s->trend == TREND_GROWING, gy = y->st->s->trend == TREND_GROWING;

	if (gx != gy)
		return gx ? -1 : 1;
	if (x->st->s->amount != y->st->s->amount)
		return x->st->s->amount > y->st->s->amount ? -1 : 1;
	if (x->proc != y->proc)
		return x->proc - y->proc;
	return x->rank - y->rank;
}

static json_t *page_stack(const struct snap_stack *st, pid_t pid)
{
	const struct stack_frames *sf = st->frames;
	json_t *s = json_object(), *frames = json_array();
	int d;

	for (d = 0; sf && d < sf->depth; d++)
		json_array_append_new(frames, json_pack("{s:o,s:o,s:i}", "function",
					target_str(sf->frames[d].function), "file",
					target_str(sf->frames[d].file), "line",
					sf->frames[d].line));
	json_object_set_new(s, "pid", json_integer(pid));
	json_object_set_new(s, "frames", frames);
	if (st->note)
		json_object_set_new(s, "note", json_string(st->note));
	json_object_set_new(s, "amount", json_integer((json_int_t)st->s->amount));
	json_object_set_new(s, "count", json_integer((json_int_t)st->s->count));
	json_object_set_new(s, "growth", json_integer((json_int_t)st->s->growth));
	json_object_set_new(s, "rate", json_real(st->s->rate));
	json_object_set_new(s, "trend", json_string(trend__name(st->s->trend)));
	return s;
}

/* The stacks past a process's share of the page, summed into one entry. */
static json_t *page_rest(const struct snap_section *sec, int from, pid_t pid)
{
	uint64_t amount = 0, count = 0;
	double rate = 0;
	char note[64];
	int i;

	for (i = from; i < sec->n; i++) {
		amount += sec->v[i].s->amount;
		count += sec->v[i].s->count;
		rate += sec->v[i].s->rate;
	}
	snprintf(note, sizeof(note), "[%d more stacks]", sec->n - from);
	return json_pack("{s:i,s:[],s:s,s:I,s:I,s:I,s:f,s:s}", "pid", (int)pid, "frames", "note",
			 note, "amount", (json_int_t)amount, "count", (json_int_t)count, "growth",
			 (json_int_t)0, "rate", rate, "trend", "steady");
}

/* A section (memory or fds) of every process with data, ranked as one. */
static json_t *section(const struct report_set *set, bool fds, const char *id, const char *title,
		       const char *unit)
{
	json_t *o = json_object(), *arr = json_array();
	struct page_stack *v;
	uint64_t total = 0;
	int i, k, n = 0, nstacks = 0, nprocs = 0, share;

	for (i = 0; i < set->n; i++)
		if (out__has_data(set->procs[i])) {
			nprocs++;
			nstacks += (fds ? &set->procs[i]->fds : &set->procs[i]->mem)->n;
		}
	/* each process's share of the page, so that one process's thousands
	 * of stacks cannot push the others out */
	share = nprocs ? PAGE_STACKS / nprocs : PAGE_STACKS;
	if (share < PAGE_MIN_SHARE)
		share = PAGE_MIN_SHARE;
	v = calloc(nstacks ? nstacks : 1, sizeof(*v));
	for (i = 0; v && i < set->n; i++) {
		const struct snapshot *sn = set->procs[i];
		const struct snap_section *sec = fds ? &sn->fds : &sn->mem;

		if (!out__has_data(sn))
			continue;
		total += sec->amount;
		for (k = 0; k < sec->n && k < share; k++)
			v[n++] = (struct page_stack){ i, k, &sec->v[k] };
	}
	if (v)
		qsort(v, n, sizeof(*v), cmp_page);
	for (k = 0; v && k < n; k++)
		json_array_append_new(arr, page_stack(v[k].st, set->procs[v[k].proc]->meta->pid));
	for (i = 0; v && i < set->n; i++) {
		const struct snap_section *sec = fds ? &set->procs[i]->fds : &set->procs[i]->mem;

		if (out__has_data(set->procs[i]) && sec->n > share)
			json_array_append_new(arr, page_rest(sec, share, set->procs[i]->meta->pid));
	}
	free(v);
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "title", json_string(title));
	json_object_set_new(o, "unit", json_string(unit));
	json_object_set_new(o, "total", json_integer((json_int_t)total));
	json_object_set_new(o, "top", json_integer(TABLE_ROWS));
	json_object_set_new(o, "nstacks", json_integer(nstacks));
	json_object_set_new(o, "stacks", arr);
	return o;
}

/* Who each process is, for the page's header. */
static json_t *page_process(const struct snapshot *s)
{
	const struct report_meta *m = s->meta;
	json_t *o = json_object();
	struct out_labels l;

	out__labels(s, &l);
	json_object_set_new(o, "pid", json_integer(l.pid));
	json_object_set_new(o, "comm", target_str(l.comm));
	json_object_set_new(o, "container", json_string(l.container));
	json_object_set_new(o, "python", json_string(l.python));
	json_object_set_new(o, "coverage", json_string(m->coverage ? m->coverage : ""));
	json_object_set_new(o, "status", json_string(out__status_name(s->status)));
	json_object_set_new(o, "reason", s->reason ? target_str(s->reason) : json_null());
	return o;
}

static json_t *page_data(const struct report_set *set)
{
	json_t *o = json_object(), *secs = json_array(), *procs = json_array();
	bool memory = false, fds = false;
	int i;

	for (i = 0; i < set->n; i++) {
		json_array_append_new(procs, page_process(set->procs[i]));
		if (out__has_data(set->procs[i])) {
			memory |= set->procs[i]->meta->memory;
			fds |= set->procs[i]->meta->fds;
		}
	}
	json_object_set_new(o, "report", json_integer(set->report));
	json_object_set_new(o, "final", json_boolean(set->final));
	json_object_set_new(o, "timestamp", json_real(set->timestamp));
	json_object_set_new(o, "elapsed_s", json_real(set->elapsed_s));
	json_object_set_new(o, "processes", procs);
	if (memory)
		json_array_append_new(secs, section(set, false, "memory", "Outstanding memory by "
						    "Python stack", "bytes"));
	if (fds)
		json_array_append_new(secs, section(set, true, "fds", "Open file descriptors by "
						    "Python stack", "fds"));
	json_object_set_new(o, "sections", secs);
	return o;
}

void out_html__render(const struct report_set *set, struct obuf *b)
{
	json_t *data = page_data(set);
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
