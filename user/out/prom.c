// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /metrics in the Prometheus text exposition format (0.0.4): the prefix
 * pyleak_, base units (bytes, seconds), counters ending in _total, one
 * HELP and TYPE per family with every process's series under it (the
 * exposition format wants a family's samples together). A family is a row
 * of one table; one loop writes them all.
 *
 * Per process (labels pid, comm, container, python): outstanding bytes and
 * allocations, open fds by origin and type, the growth rate of each,
 * coverage as an info gauge, every stats counter as a _total. The top N
 * stacks (--metrics-top, ranked as in the report: growing first) are a
 * bounded series per process labelled by a short stack name, the innermost
 * frame as "file:line function"; stacks past N are counted in pyleak_stacks_cut, so
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
	[STAT_AGG_FULL] = "Changes the per-stack sums map could not take: the reports read every "
			  "record instead (lossy).",
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

/* One process as the metric families read it. */
struct proc {
	const struct snapshot *s;
	struct out_labels l;
	struct named *top[2];		/* memory, fds: the top stack names */
	int ntop[2], cut[2];
	uint32_t traced[FD__TYPES];	/* open traced fds by type */
};

enum { SEC_MEM, SEC_FDS };

static void proc_init(struct proc *p, const struct snapshot *s, int top)
{
	const struct snap_section *sec[2] = { &s->mem, &s->fds };
	bool on[2] = { s->meta->memory, s->meta->fds };
	int i, j, k;

	memset(p, 0, sizeof(*p));
	p->s = s;
	out__labels(s, &p->l);
	for (j = 0; j < 2; j++)
		if (on[j])
			p->ntop[j] = top_names(sec[j], top, &p->top[j], &p->cut[j]);
	for (i = 0; i < s->fds.n; i++)
		for (k = 0; s->fds.v[i].fd && k < FD__TYPES; k++)
			p->traced[k] += s->fds.v[i].fd->types[k];
}

/* What a process needs for a series of a family. */
enum {
	NEED_MEM = 1,		/* memory traced */
	NEED_FDS = 2,		/* fds traced */
	NEED_OPEN = 4,		/* /proc/PID/fd read (the process is not gone) */
	NEED_TOP_MEM = 8,	/* memory stacks in the stack series */
	NEED_TOP_FDS = 16,	/* fd stacks in the stack series */
};

static bool has(const struct proc *p, unsigned need)
{
	const struct report_meta *m = p->s->meta;

	return (!(need & NEED_MEM) || m->memory) && (!(need & NEED_FDS) || m->fds) &&
	       (!(need & NEED_OPEN) || p->s->fds_open >= 0) &&
	       (!(need & NEED_TOP_MEM) || p->ntop[SEC_MEM]) &&
	       (!(need & NEED_TOP_FDS) || p->ntop[SEC_FDS]);
}

/* A family's series of one process; arg says which value. */
typedef void put_fn(struct obuf *b, const char *name, const struct proc *p, int arg);

struct family_def {
	const char *name, *type, *help;
	unsigned need;
	put_fn *put;
	int arg;
};

static void put_coverage(struct obuf *b, const char *name, const struct proc *p, int arg)
{
	const struct report_meta *m = p->s->meta;

	series(b, name, &p->l);
	obuf__printf(b, ",coverage=\"%s\",allocator=\"%s\",memory=\"%s\",fds=\"%s\","
		     "fd_tracepoints=\"%s\"", m->coverage ? m->coverage : "",
		     m->allocator ? m->allocator : "", m->memory ? "true" : "false",
		     m->fds ? "true" : "false", m->fd_tracepoints ? m->fd_tracepoints : "");
	value_u(b, 1);
}

enum scalar { SC_TIMESTAMP, SC_TRACING, SC_MEM_BYTES, SC_MEM_COUNT, SC_MEM_RATE, SC_FDS_OPEN,
	      SC_FDS_RATE, SC_SAMPLE_BYTES, SC_BUDGET };

static void put_scalar(struct obuf *b, const char *name, const struct proc *p, int which)
{
	const struct snapshot *s = p->s;

	series(b, name, &p->l);
	switch (which) {
	case SC_TIMESTAMP:
		obuf__printf(b, "} %.3f\n", s->timestamp);
		break;
	case SC_TRACING:
		value_d(b, s->elapsed_s);
		break;
	case SC_MEM_BYTES:
		value_u(b, s->mem.amount);
		break;
	case SC_MEM_COUNT:
		value_u(b, s->mem.count);
		break;
	case SC_MEM_RATE:
		value_d(b, rate_sum(&s->mem));
		break;
	case SC_FDS_OPEN:
		value_u(b, s->fds_open);
		break;
	case SC_FDS_RATE:
		value_d(b, rate_sum(&s->fds));
		break;
	case SC_SAMPLE_BYTES:
		value_u(b, s->meta->sample_bytes);
		break;
	case SC_BUDGET:
		value_u(b, s->meta->budget_note != NULL);
		break;
	}
}

static void put_open_fds(struct obuf *b, const char *name, const struct proc *p, int arg)
{
	static const char *const origin[3] = { "traced", "before", "untracked" };
	const uint32_t *t[3] = { p->traced, p->s->fds_before.types, p->s->fds_untracked.types };
	int g, k;

	for (k = 0; k < FD__TYPES; k++)
		for (g = 0; g < 3; g++) {
			if (!t[g][k])
				continue;
			series(b, name, &p->l);
			obuf__printf(b, ",origin=\"%s\",type=\"%s\"", origin[g], fds__type_name(k));
			value_u(b, t[g][k]);
		}
}

static void put_stat(struct obuf *b, const char *name, const struct proc *p, int k)
{
	series(b, name, &p->l);
	value_u(b, p->s->stats[k]);
}

/* The stack series: arg is the section * 3 + the value (amount, count, rate). */
static void put_stacks(struct obuf *b, const char *name, const struct proc *p, int arg)
{
	int sec = arg / 3, what = arg % 3, i;

	for (i = 0; i < p->ntop[sec]; i++) {
		const struct named *nm = &p->top[sec][i];

		stack_series(b, name, &p->l, nm->name);
		if (what == 2)
			value_d(b, nm->rate);
		else
			value_u(b, what ? nm->count : nm->amount);
	}
}

static void put_cut(struct obuf *b, const char *name, const struct proc *p, int arg)
{
	static const char *const section[2] = { "memory", "fds" };
	const struct report_meta *m = p->s->meta;
	bool on[2] = { m->memory, m->fds };
	int j;

	for (j = 0; j < 2; j++) {
		if (!on[j])
			continue;
		series(b, name, &p->l);
		obuf__printf(b, ",section=\"%s\"", section[j]);
		value_u(b, p->cut[j]);
	}
}

/* Every per-process family but the counters, in exposition order. */
static const struct family_def families[] = {
	{ "pyleak_coverage_info", "gauge", "What is traced and how (always 1): coverage full or "
	  "partial, the allocator, fd tracing.", 0, put_coverage, 0 },
	{ "pyleak_report_timestamp_seconds", "gauge", "When the last report was taken (Unix "
	  "time).", 0, put_scalar, SC_TIMESTAMP },
	{ "pyleak_tracing_seconds", "gauge", "How long the process has been traced.", 0,
	  put_scalar, SC_TRACING },
	{ "pyleak_outstanding_bytes", "gauge", "Memory held by outstanding allocations older "
	  "than -o.", NEED_MEM, put_scalar, SC_MEM_BYTES },
	{ "pyleak_outstanding_allocations", "gauge", "Outstanding allocations older than -o.",
	  NEED_MEM, put_scalar, SC_MEM_COUNT },
	{ "pyleak_outstanding_growth_bytes_per_second", "gauge", "Growth of outstanding memory: "
	  "the sum of every stack's rate over the trend window.", NEED_MEM, put_scalar,
	  SC_MEM_RATE },
	{ "pyleak_open_fds", "gauge", "Open fds by origin (traced: created while traced, older "
	  "than -o; before: open when tracing began; untracked: made by syscalls not followed) "
	  "and type.", NEED_FDS, put_open_fds, 0 },
	{ "pyleak_process_open_fds", "gauge", "Fds open in the process now (/proc/PID/fd).",
	  NEED_FDS | NEED_OPEN, put_scalar, SC_FDS_OPEN },
	{ "pyleak_open_fds_growth_per_second", "gauge", "Growth of traced open fds: the sum of "
	  "every stack's rate over the trend window.", NEED_FDS, put_scalar, SC_FDS_RATE },
	{ NULL },	/* the counters go here */
	{ "pyleak_stack_outstanding_bytes", "gauge", "Outstanding bytes of the top stacks "
	  "(--metrics-top), by innermost frame.", NEED_TOP_MEM, put_stacks, SEC_MEM * 3 + 0 },
	{ "pyleak_stack_outstanding_allocations", "gauge", "Outstanding allocations of the top "
	  "stacks, by innermost frame.", NEED_TOP_MEM, put_stacks, SEC_MEM * 3 + 1 },
	{ "pyleak_stack_growth_bytes_per_second", "gauge", "Growth rate of the top stacks' "
	  "outstanding bytes over the trend window.", NEED_TOP_MEM, put_stacks, SEC_MEM * 3 + 2 },
	{ "pyleak_stack_open_fds", "gauge", "Open fds of the top fd stacks, by innermost frame.",
	  NEED_TOP_FDS, put_stacks, SEC_FDS * 3 + 0 },
	{ "pyleak_stack_open_fds_growth_per_second", "gauge", "Growth rate of the top fd stacks' "
	  "open fds over the trend window.", NEED_TOP_FDS, put_stacks, SEC_FDS * 3 + 2 },
	{ "pyleak_stacks_cut", "gauge", "Stacks with something outstanding that are not in the "
	  "stack series (past --metrics-top), by section.", 0, put_cut, 0 },
	{ "pyleak_sample_bytes", "gauge", "Mean bytes between sampled allocations (0: every "
	  "allocation is recorded); when sampled the memory series are estimates.", NEED_MEM,
	  put_scalar, SC_SAMPLE_BYTES },
	{ "pyleak_budget_active", "gauge", "1 while --max-overhead (or a full allocation map) has "
	  "raised this process's sampling or paused its allocation probes.", NEED_MEM, put_scalar,
	  SC_BUDGET },
};

/* HELP and TYPE once, then the series of every process that has some. */
static void emit(struct obuf *b, const struct family_def *f, const struct proc *v, int n)
{
	bool head = false;
	int i;

	for (i = 0; i < n; i++) {
		if (!has(&v[i], f->need))
			continue;
		if (!head)
			family(b, f->name, f->type, f->help);
		head = true;
		f->put(b, f->name, &v[i], f->arg);
	}
}

void out_prom__render(const struct report_set *set, const struct prom_opts *o, struct obuf *b)
{
	struct proc *v = calloc(set->n ? set->n : 1, sizeof(*v));
	char name[96];
	size_t f;
	int i, n = 0, k;

	obuf__reset(b);
	if (!v) {
		b->oom = true;
		return;
	}
	/* an untraceable process has no data: no series (text and JSON list it) */
	for (i = 0; i < set->n; i++)
		if (out__has_data(set->procs[i]))
			proc_init(&v[n++], set->procs[i], o->top);
	for (f = 0; f < sizeof(families) / sizeof(*families); f++) {
		if (families[f].name) {
			emit(b, &families[f], v, n);
			continue;
		}
		for (k = 0; k < STAT__COUNT; k++) {
			struct family_def c = { name, "counter", stat_help[k] ? stat_help[k] :
						"A tracing counter.", 0, put_stat, k };

			snprintf(name, sizeof(name), "pyleak_%s_total", snapshot__stat_names[k]);
			emit(b, &c, v, n);
		}
	}
	if (set->agent) {
		const struct agent_footprint *a = set->agent;

		family(b, "pyleak_agent_cpu_seconds_total", "counter", "CPU time of the agent's own "
		       "threads (user and system).");
		obuf__printf(b, "pyleak_agent_cpu_seconds_total %.3f\n", a->cpu_ns / 1e9);
		if (a->bpf_pct >= 0) {
			family(b, "pyleak_agent_bpf_seconds_total", "counter", "Run time of the agent's "
			       "BPF programs, paid by the traced processes (kernel run-time stats).");
			obuf__printf(b, "pyleak_agent_bpf_seconds_total %.3f\n", a->bpf_ns / 1e9);
		}
		family(b, "pyleak_agent_resident_bytes", "gauge", "The agent's resident memory.");
		obuf__printf(b, "pyleak_agent_resident_bytes %" PRIu64 "\n", a->rss_bytes);
		family(b, "pyleak_agent_map_bytes", "gauge", "Kernel memory of the agent's BPF maps.");
		obuf__printf(b, "pyleak_agent_map_bytes %" PRIu64 "\n", a->map_bytes);
	}
	if (o->pyroscope) {
		family(b, "pyleak_pyroscope_pushes_total", "counter", "Profiles pushed to "
		       "Pyroscope (--pyroscope), one per process and report.");
		obuf__printf(b, "pyleak_pyroscope_pushes_total %" PRIu64 "\n", o->pushes);
		family(b, "pyleak_pyroscope_push_failures_total", "counter", "Pushes to Pyroscope "
		       "that failed after their retries.");
		obuf__printf(b, "pyleak_pyroscope_push_failures_total %" PRIu64 "\n",
			     o->push_failures);
	}
	for (i = 0; i < n; i++) {
		free(v[i].top[SEC_MEM]);
		free(v[i].top[SEC_FDS]);
	}
	free(v);
}
