// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /metrics in the Prometheus text exposition format (0.0.4): the prefix
 * pyleak_, base units (bytes, seconds), counters ending in _total, one
 * HELP and TYPE per family with every process's series under it.
 *
 * Per process (labels pid, comm, container, python): outstanding bytes and
 * allocations, open fds by origin and type, the growth rate of each,
 * coverage as an info gauge, every stats counter as a _total. The top N
 * stacks (--metrics-top, ranked as in the report: growing first) are a
 * bounded series labelled by a short stack name, the innermost frame as
 * "file:line function"; stacks past N are counted in pyleak_stacks_cut, so
 * a leak spread over many stacks is not silently missing from a dashboard.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "out.h"
#include "sanitize.h"

static const char *const stat_help[STAT__COUNT] = {
	[STAT_ALLOCS] = "Allocations recorded.",
	[STAT_FREES] = "Frees that matched a recorded allocation.",
	[STAT_NESTED] = "Inner allocator calls folded into their outer call.",
	[STAT_NO_TSTATE] = "Allocations or fds with no Python thread state (GIL released, native thread).",
	[STAT_TSTATE_OTHER] = "Allocations whose thread state belonged to another thread.",
	[STAT_NO_FRAMES] = "Allocations from a thread state without Python frames.",
	[STAT_READ_FAILED] = "Failed reads of the target's memory during a stack walk (lossy).",
	[STAT_TRUNCATED] = "Stacks deeper than the frame limit; their innermost frames were kept.",
	[STAT_STACKS_FULL] = "Allocations recorded without a stack: the stacks map was full (lossy).",
	[STAT_STACK_EVENTS_LOST] = "New-stack events lost: symbolized late (lossy).",
	[STAT_ALLOCS_FULL] = "Allocations not recorded: the allocations map was full (lossy).",
	[STAT_NO_STASH] = "Allocations not recorded: no per-thread storage (lossy).",
	[STAT_MISSED_RETURN] = "Allocator entries whose return was not seen (lossy).",
	[STAT_FDS_OPENED] = "Fds recorded.",
	[STAT_FDS_CLOSED] = "Recorded fds gone: close, close_range, dup2/dup3 onto, exec.",
	[STAT_FDS_FULL] = "Fds not recorded: the fds map was full (lossy).",
	[STAT_FDS_MISSED] = "Recorded fds found gone without their close seen (lossy).",
	[STAT_FDS_PRIVATE] = "Fd syscalls of a thread with its own fd table, not recorded (lossy).",
	[STAT_CALLS] = "Outermost allocator calls seen, sampled or not.",
	[STAT_FREE_CALLS] = "Free calls seen, of a recorded block or not.",
};

/* A label value: valid UTF-8, with \ " and newline escaped. */
static void label_value(struct obuf *b, const char *s)
{
	char *u = sanitize__utf8(s), *p;

	for (p = u ? u : "?"; *p; p++) {
		if (*p == '\\')
			obuf__puts(b, "\\\\");
		else if (*p == '"')
			obuf__puts(b, "\\\"");
		else if (*p == '\n')
			obuf__puts(b, "\\n");
		else
			obuf__put(b, p, 1);
	}
	free(u);
}

static void family(struct obuf *b, const char *name, const char *type, const char *help)
{
	obuf__printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{pid="..",comm="..",container="..",python=".."  (the caller closes) */
static void series(struct obuf *b, const char *name, const struct out_labels *l)
{
	obuf__printf(b, "%s{pid=\"%d\",comm=\"", name, (int)l->pid);
	label_value(b, l->comm);
	obuf__puts(b, "\",container=\"");
	label_value(b, l->container);
	obuf__puts(b, "\",python=\"");
	label_value(b, l->python);
	obuf__puts(b, "\"");
}

static void value_u(struct obuf *b, uint64_t v)
{
	obuf__printf(b, "} %" PRIu64 "\n", v);
}

static void value_d(struct obuf *b, double v)
{
	obuf__printf(b, "} %.6g\n", v);
}

static double rate_sum(const struct snap_section *sec)
{
	double r = 0;
	int i;

	for (i = 0; i < sec->n; i++)
		r += sec->v[i].s->rate;
	return r;
}

/* "leak.py:12 make_record", or what a special stack is. */
static void stack_name(const struct snap_stack *st, char *buf, size_t len)
{
	const struct stack_frames *sf = st->frames;
	const struct frame_info *fr;
	const char *base;

	if (st->note) {
		const char *colon = strchr(st->note, ':');

		snprintf(buf, len, "%.*s]", colon ? (int)(colon - st->note) : (int)strlen(st->note) - 1,
			 st->note);
		return;
	}
	if (!sf || sf->depth <= 0) {
		snprintf(buf, len, "[stack unreadable]");
		return;
	}
	fr = &sf->frames[0];
	base = strrchr(fr->file, '/');
	base = base ? base + 1 : fr->file;
	if (fr->line < 0)
		snprintf(buf, len, "[unknown]");
	else
		snprintf(buf, len, "%s:%d %s", base, fr->line, fr->function);
}

struct named {
	char name[192];
	uint64_t amount, count;
	double rate;
};

/* The first top distinct names of a section, in rank order: stacks that
 * share an innermost frame are one series (summed), so no two series of a
 * family have the same labels. Returns how many; *cut the stacks left out. */
static int top_names(const struct snap_section *sec, int top, struct named **out, int *cut)
{
	struct named *v = calloc(top > 0 ? top : 1, sizeof(*v));
	int i, j, n = 0;

	*out = v;
	*cut = 0;
	if (!v)
		return 0;
	for (i = 0; i < sec->n; i++) {
		char name[192];

		stack_name(&sec->v[i], name, sizeof(name));
		for (j = 0; j < n && strcmp(v[j].name, name); j++)
			;
		if (j == n) {
			if (n == top) {
				(*cut)++;
				continue;
			}
			snprintf(v[n++].name, sizeof(v->name), "%s", name);
		}
		v[j].amount += sec->v[i].s->amount;
		v[j].count += sec->v[i].s->count;
		v[j].rate += sec->v[i].s->rate;
	}
	return n;
}

static void stack_series(struct obuf *b, const char *name, const struct out_labels *l,
			 const char *stack)
{
	series(b, name, l);
	obuf__puts(b, ",stack=\"");
	label_value(b, stack);
	obuf__puts(b, "\"");
}

static void fd_types(const struct snapshot *s, uint32_t *types)
{
	int i, k;

	memset(types, 0, sizeof(*types) * FD__TYPES);
	for (i = 0; i < s->fds.n; i++)
		for (k = 0; s->fds.v[i].fd && k < FD__TYPES; k++)
			types[k] += s->fds.v[i].fd->types[k];
}

void out_prom__render(const struct snapshot *s, const struct prom_opts *o, struct obuf *b)
{
	const struct report_meta *m = s->meta;
	struct named *mem = NULL, *fds = NULL;
	int nmem = 0, nfds = 0, cut_mem = 0, cut_fds = 0, i, k;
	uint32_t traced[FD__TYPES];
	struct out_labels l;
	char name[96];

	out__labels(s, &l);
	obuf__reset(b);
	family(b, "pyleak_coverage_info", "gauge", "What is traced and how (always 1): coverage "
	       "full or partial, the allocator, fd tracing.");
	series(b, "pyleak_coverage_info", &l);
	obuf__printf(b, ",coverage=\"%s\",allocator=\"%s\",memory=\"%s\",fds=\"%s\","
		     "fd_tracepoints=\"%s\"", m->coverage, m->allocator, m->memory ? "true" : "false",
		     m->fds ? "true" : "false", m->fd_tracepoints ? m->fd_tracepoints : "");
	value_u(b, 1);
	family(b, "pyleak_report_timestamp_seconds", "gauge", "When the last report was taken "
	       "(Unix time).");
	series(b, "pyleak_report_timestamp_seconds", &l);
	obuf__printf(b, "} %.3f\n", s->timestamp);
	family(b, "pyleak_tracing_seconds", "gauge", "How long the process has been traced.");
	series(b, "pyleak_tracing_seconds", &l);
	value_d(b, s->elapsed_s);

	if (m->memory) {
		family(b, "pyleak_outstanding_bytes", "gauge", "Memory held by outstanding "
		       "allocations older than -o.");
		series(b, "pyleak_outstanding_bytes", &l);
		value_u(b, s->mem.amount);
		family(b, "pyleak_outstanding_allocations", "gauge", "Outstanding allocations "
		       "older than -o.");
		series(b, "pyleak_outstanding_allocations", &l);
		value_u(b, s->mem.count);
		family(b, "pyleak_outstanding_growth_bytes_per_second", "gauge", "Growth of "
		       "outstanding memory: the sum of every stack's rate over the trend window.");
		series(b, "pyleak_outstanding_growth_bytes_per_second", &l);
		value_d(b, rate_sum(&s->mem));
	}
	if (m->fds) {
		family(b, "pyleak_open_fds", "gauge", "Open fds by origin (traced: created while "
		       "traced, older than -o; before: open when tracing began; untracked: made "
		       "by syscalls not followed) and type.");
		fd_types(s, traced);
		for (k = 0; k < FD__TYPES; k++) {
			static const char *const origin[3] = { "traced", "before", "untracked" };
			const uint32_t *t[3] = { traced, s->fds_before.types, s->fds_untracked.types };
			int g;

			for (g = 0; g < 3; g++) {
				if (!t[g][k])
					continue;
				series(b, "pyleak_open_fds", &l);
				obuf__printf(b, ",origin=\"%s\",type=\"%s\"", origin[g],
					     fds__type_name(k));
				value_u(b, t[g][k]);
			}
		}
		if (s->fds_open >= 0) {
			family(b, "pyleak_process_open_fds", "gauge", "Fds open in the process now "
			       "(/proc/PID/fd).");
			series(b, "pyleak_process_open_fds", &l);
			value_u(b, s->fds_open);
		}
		family(b, "pyleak_open_fds_growth_per_second", "gauge", "Growth of traced open "
		       "fds: the sum of every stack's rate over the trend window.");
		series(b, "pyleak_open_fds_growth_per_second", &l);
		value_d(b, rate_sum(&s->fds));
	}
	for (k = 0; k < STAT__COUNT; k++) {
		snprintf(name, sizeof(name), "pyleak_%s_total", snapshot__stat_names[k]);
		family(b, name, "counter", stat_help[k] ? stat_help[k] : "A tracing counter.");
		series(b, name, &l);
		value_u(b, s->stats[k]);
	}

	if (m->memory)
		nmem = top_names(&s->mem, o->top, &mem, &cut_mem);
	if (m->fds)
		nfds = top_names(&s->fds, o->top, &fds, &cut_fds);
	if (nmem) {
		family(b, "pyleak_stack_outstanding_bytes", "gauge", "Outstanding bytes of the top "
		       "stacks (--metrics-top), by innermost frame.");
		for (i = 0; i < nmem; i++) {
			stack_series(b, "pyleak_stack_outstanding_bytes", &l, mem[i].name);
			value_u(b, mem[i].amount);
		}
		family(b, "pyleak_stack_outstanding_allocations", "gauge", "Outstanding "
		       "allocations of the top stacks, by innermost frame.");
		for (i = 0; i < nmem; i++) {
			stack_series(b, "pyleak_stack_outstanding_allocations", &l, mem[i].name);
			value_u(b, mem[i].count);
		}
		family(b, "pyleak_stack_growth_bytes_per_second", "gauge", "Growth rate of the "
		       "top stacks' outstanding bytes over the trend window.");
		for (i = 0; i < nmem; i++) {
			stack_series(b, "pyleak_stack_growth_bytes_per_second", &l, mem[i].name);
			value_d(b, mem[i].rate);
		}
	}
	if (nfds) {
		family(b, "pyleak_stack_open_fds", "gauge", "Open fds of the top fd stacks, by "
		       "innermost frame.");
		for (i = 0; i < nfds; i++) {
			stack_series(b, "pyleak_stack_open_fds", &l, fds[i].name);
			value_u(b, fds[i].amount);
		}
		family(b, "pyleak_stack_open_fds_growth_per_second", "gauge", "Growth rate of the "
		       "top fd stacks' open fds over the trend window.");
		for (i = 0; i < nfds; i++) {
			stack_series(b, "pyleak_stack_open_fds_growth_per_second", &l, fds[i].name);
			value_d(b, fds[i].rate);
		}
	}
	family(b, "pyleak_stacks_cut", "gauge", "Stacks with something outstanding that are not "
	       "in the stack series (past --metrics-top), by section.");
	if (m->memory) {
		series(b, "pyleak_stacks_cut", &l);
		obuf__puts(b, ",section=\"memory\"");
		value_u(b, cut_mem);
	}
	if (m->fds) {
		series(b, "pyleak_stacks_cut", &l);
		obuf__puts(b, ",section=\"fds\"");
		value_u(b, cut_fds);
	}
	if (o->pyroscope) {
		family(b, "pyleak_pyroscope_pushes_total", "counter", "Profiles pushed to "
		       "Pyroscope (--pyroscope).");
		obuf__printf(b, "pyleak_pyroscope_pushes_total %" PRIu64 "\n", o->pushes);
		family(b, "pyleak_pyroscope_push_failures_total", "counter", "Pushes to Pyroscope "
		       "that failed after their retries.");
		obuf__printf(b, "pyleak_pyroscope_push_failures_total %" PRIu64 "\n",
			     o->push_failures);
	}
	free(mem);
	free(fds);
}
