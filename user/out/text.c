// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The text report: a section per process (its labels, the top stacks
 * with their trend, and the counters). Stacks show their innermost --frames frames;
 * the import system's own frames (<frozen importlib._bootstrap> & co.) are
 * folded into one line, as tracemalloc and memray users expect.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "census.h"
#include "out.h"
#include "sanitize.h"
#include "stacktypes.h"

static const char *human(double v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	double a = v < 0 ? -v : v;

	while (a >= 1024 && u < 4) {
		a /= 1024;
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

/* A string that came from the target (names, paths): escaped, so that
 * it can neither drive the terminal nor forge report lines. */
static void put_target_str(FILE *f, const char *s)
{
	fputs(sanitize__t(s), f);
}

static bool import_frame(const struct frame_info *fr)
{
	return !strncmp(fr->file, "<frozen importlib.", 18) ||
	       !strcmp(fr->file, "<frozen zipimport>");
}

static bool module_frame(const struct frame_info *fr)
{
	return fr->line >= 0 && !strcmp(fr->function, "<module>");
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/*
 * An import chain: frames of the import system with the modules' own
 * top-level code between them (a <module> frame per module being
 * imported), from frame d on. One line names the importing modules.
 */
static int print_imports(const struct stack_frames *sf, int d, FILE *f)
{
	int end = d, nmod = 0, k;

	while (end < sf->depth && (import_frame(&sf->frames[end]) ||
				   (module_frame(&sf->frames[end]) && end + 1 < sf->depth &&
				    import_frame(&sf->frames[end + 1]))))
		end++;
	fprintf(f, "        [%d frame%s of imports", end - d, end - d > 1 ? "s" : "");
	for (k = d; k < end; k++) {
		if (!module_frame(&sf->frames[k]))
			continue;
		if (nmod == 3) {
			fputs(", ...", f);
			break;
		}
		fputs(nmod++ ? ", " : ", by ", f);
		put_target_str(f, base_name(sf->frames[k].file));
		fprintf(f, ":%d", sf->frames[k].line);
	}
	fputs("]\n", f);
	return end - d;
}

static void print_frames(const struct snap_stack *st, const struct out_opts *o, FILE *f)
{
	const struct stack_frames *sf = st->frames;
	int d = 0, shown = 0;

	if (st->note) {
		fprintf(f, "        %s\n", st->note);
		return;
	}
	if (!sf || sf->depth < 0) {
		fprintf(f, "        [stack unreadable: its frames were gone from the kernel map "
			"before they were symbolized]\n");
		return;
	}
	while (d < sf->depth && (!o->frames || shown < o->frames)) {
		const struct frame_info *fr = &sf->frames[d];
		int run;

		if (import_frame(fr)) {
			d += print_imports(sf, d, f);
		} else if (fr->line < 0) {
			/* A code object freed before it could be read (run once and
			 * dropped within microseconds): never another function's name. */
			for (run = 0; d + run < sf->depth && sf->frames[d + run].line < 0; run++)
				;
			fprintf(f, "        [%d frame%s not readable: code freed before it was "
				"symbolized]\n", run, run > 1 ? "s" : "");
			d += run;
		} else {
			fputs("        ", f);
			put_target_str(f, fr->file);
			fprintf(f, ":%d in ", fr->line);
			put_target_str(f, fr->function);
			fputc('\n', f);
			d++;
		}
		shown++;
	}
	if (d < sf->depth)
		fprintf(f, "        ... %d more frame%s (--frames all shows them)\n",
			sf->depth - d, sf->depth - d > 1 ? "s" : "");
	else if (sf->truncated)
		fprintf(f, "        [deeper frames not kept: over %d]\n", MAX_FRAMES);
}

/* "3 file, 2 pipe" */
static void print_types(const uint32_t *types, FILE *f)
{
	const char *sep = "";
	int k;

	for (k = 0; k < FD__TYPES; k++)
		if (types[k]) {
			fprintf(f, "%s%u %s", sep, types[k], fds__type_name(k));
			sep = ", ";
		}
}

static void print_fds(const struct snapshot *sn, const struct out_opts *o, FILE *f)
{
	const struct snap_section *sec = &sn->fds;
	int i, k;

	if (sn->fds_open >= 0)
		fprintf(f, "fds: %ld open: %" PRIu64 " traced in %d stacks%s, %" PRIu64
			" open before tracing", sn->fds_open, sec->count, sec->n,
			sn->min_age_ns ? " (older than -o)" : "", sn->fds_before.count);
	else
		fprintf(f, "fds: the target is gone; %" PRIu64 " traced fds in %d stacks were "
			"open when it went (its exit closed them)", sec->count, sec->n);
	if (sn->fds_before.count) {
		fputs(" (", f);
		print_types(sn->fds_before.types, f);
		fputc(')', f);
	}
	if (sn->fds_untracked.count) {
		fprintf(f, ", %" PRIu64 " opened untraced (", sn->fds_untracked.count);
		print_types(sn->fds_untracked.types, f);
		fputc(')', f);
	}
	if (sn->fds_stale)
		fprintf(f, ", %" PRIu64 " records no longer open (closes not seen)", sn->fds_stale);
	fputc('\n', f);
	for (i = 0; i < sec->n && i < o->top; i++) {
		const struct series *s = sec->v[i].s;
		const struct fd_detail *d = sec->v[i].fd;

		fprintf(f, "#%d %-9s %" PRIu64 " fds", i + 1, trend__name(s->trend), s->amount);
		if (d) {
			fputs(" (", f);
			print_types(d->types, f);
			fputc(')', f);
		}
		fprintf(f, ", %+.1f/s over the last %u reports (%+" PRId64 " since the last), "
			"oldest %.1fs\n", s->rate, s->nhist, s->growth, sn->now - s->oldest_ns / 1e9);
		if (d && d->nex) {
			fputs("        e.g.", f);
			for (k = 0; k < d->nex; k++) {
				fputs(k ? ", " : " ", f);
				put_target_str(f, d->examples[k]);
			}
			fputc('\n', f);
		}
		print_frames(&sec->v[i], o, f);
	}
}

/* What a report frozen at the target's end shows; NULL for now (or a
 * moment ago when detaching). */
static const char *as_of_line(uint32_t why)
{
	switch (why) {
	case FREEZE_SHUTDOWN:
		return "As of the start of interpreter shutdown (Py_FinalizeEx): what the program "
		       "held at the end of its run; what shutdown freed is not subtracted.";
	case FREEZE_EXIT:
		return "As of the process's exit (it did not finalize: os._exit, a signal, a "
		       "crash): what it held when its last thread ended.";
	case FREEZE_EXIT_IN_SHUTDOWN:
		return "As of the process's exit: threads still running when shutdown began "
		       "kept it tracing, so what shutdown freed is already subtracted.";
	case FREEZE_EXEC:
		return "As of the exec: what the program held when it replaced itself with "
		       "another.";
	default:
		return NULL;
	}
}

/* "pid 4242 (gunicorn, pid 7 in its namespace, container 3f2c5e0d9b8a)" */
static void print_who(const struct report_meta *m, FILE *f)
{
	fprintf(f, "pid %d (", m->pid);
	put_target_str(f, m->comm ? m->comm : "");
	if (m->ns_pid && m->ns_pid != m->pid)
		fprintf(f, ", pid %d in its namespace", m->ns_pid);
	if (m->container && m->container[0])
		fprintf(f, ", container %.12s", m->container);
	fputc(')', f);
}

/*
 * A process's first line: who, what, how much. "exited (why)" for one that
 * has gone since the previous report (its last data follows).
 */
static void print_head(const struct snapshot *sn, FILE *f)
{
	const struct report_meta *m = sn->meta;
	char b1[32], b2[32];

	print_who(m, f);
	if (sn->status == PROC_EXITED) {
		fputs(" exited", f);
		if (sn->reason) {
			fputs(" (", f);
			put_target_str(f, sn->reason);
			fputc(')', f);
		}
		fputs(", its last state:", f);
	}
	fprintf(f, " CPython %s", m->python ? m->python : "?");
	if (m->memory && m->sample_bytes)
		fprintf(f, ", coverage %s (allocator %s): ~%s outstanding in ~%" PRIu64
			" allocations%s (estimates: one allocation sampled per %s allocated, "
			"on average)\n", m->coverage, m->allocator,
			human(sn->mem.amount, b1, sizeof(b1)), sn->mem.count,
			sn->min_age_ns ? " older than -o" : "",
			human(m->sample_bytes, b2, sizeof(b2)));
	else if (m->memory)
		fprintf(f, ", coverage %s (allocator %s): %s outstanding in %" PRIu64
			" allocations%s\n", m->coverage, m->allocator,
			human(sn->mem.amount, b1, sizeof(b1)), sn->mem.count,
			sn->min_age_ns ? " older than -o" : "");
	else
		fprintf(f, ": memory not traced (--fds-only)\n");
}

/*
 * The label line under it: the command line, the build, where it was
 * forked from, and its cgroup when no container id names it (with several
 * processes only: on its own, a host process's session scope is noise; the
 * root cgroup "/" says nothing).
 */
static void print_label(const struct snapshot *sn, bool several, FILE *f)
{
	const struct report_meta *m = sn->meta;
	const char *sep = "  ";

	if (m->cmdline && m->cmdline[0]) {
		fputs("  command: ", f);
		put_target_str(f, m->cmdline);
		sep = "; ";
	}
	if (m->build) {
		fprintf(f, "%s%s", sep, !strcmp(m->build, "pgo") ? "PGO build (pymalloc inlined)" :
			"standard build");
		sep = "; ";
	}
	if (sn->parent) {
		fprintf(f, "%sforked from pid %d", sep, (int)sn->parent);
		sep = "; ";
	}
	if (several && m->cgroup && m->cgroup[0] && strcmp(m->cgroup, "/") &&
	    !(m->container && m->container[0])) {
		fprintf(f, "%scgroup ", sep);
		put_target_str(f, m->cgroup);
		sep = "; ";
	}
	if (*sep == ';')	/* something was said */
		fputc('\n', f);
}

/* An untraceable process: one line. */
static void print_untraceable(const struct snapshot *sn, FILE *f)
{
	const struct report_meta *m = sn->meta;

	print_who(m, f);
	fputs(" not traced: ", f);
	put_target_str(f, sn->reason ? sn->reason : "no reason given");
	if (m->cmdline && m->cmdline[0]) {
		fputs("; command: ", f);
		put_target_str(f, m->cmdline);
	}
	fputc('\n', f);
}

/* What one process's section holds after its label: today's report body. */
static void print_body(const struct snapshot *sn, const struct out_opts *o, FILE *f)
{
	const struct report_meta *m = sn->meta;
	char b1[32], b2[32], b3[32], types[STACKTYPES_SAMPLES * 272];
	int i, k;

	if (as_of_line(sn->as_of))
		fprintf(f, "%s\n", as_of_line(sn->as_of));
	if (m->budget_note) {
		fputs("budget: ", f);
		put_target_str(f, m->budget_note);
		fputc('\n', f);
	}
	for (i = 0; i < sn->mem.n && i < o->top; i++) {
		const struct series *s = sn->mem.v[i].s;
		const char *est = m->sample_bytes ? "~" : "";

		fprintf(f, "#%d %-9s %s%s in %s%" PRIu64 " allocations%s, %s/s over the last %u reports "
			"(%s%s since the last), oldest %.1fs\n", i + 1, trend__name(s->trend), est,
			human(s->amount, b1, sizeof(b1)), est, s->count,
			stacktypes__text(sn->mem.v[i].types, types, sizeof(types)),
			human(s->rate, b2, sizeof(b2)),
			s->nhist, s->growth >= 0 ? "+" : "", human(s->growth, b3, sizeof(b3)),
			sn->now - s->oldest_ns / 1e9);
		print_frames(&sn->mem.v[i], o, f);
	}
	if (m->fds)
		print_fds(sn, o, f);
	if (sn->census)
		census__print_text(sn->census, f);
	fputs("stats:", f);
	for (k = 0; k < STAT__COUNT; k++)
		fprintf(f, " %s %" PRIu64, snapshot__stat_names[k], sn->stats[k]);
	fputc('\n', f);
	fprintf(f, "stack store: %" PRIu64 " nodes of %" PRIu64 " (--max-stacks), %s of kernel memory; "
		"peak %" PRIu64 " nodes, %s\n", sn->store.nodes, sn->store.max_nodes,
		human(sn->store.kernel_bytes, b1, sizeof(b1)), sn->store.peak_nodes,
		human(sn->store.peak_kernel_bytes, b2, sizeof(b2)));
	for (k = 0; k < STAT__COUNT; k++)
		if (snapshot__stat_lossy(k) && sn->stats[k])
			fprintf(f, "warning: %" PRIu64 " events %s: results are incomplete\n",
				sn->stats[k], snapshot__stat_names[k]);
	if (sn->stats[STAT_TRUNCATED])
		fprintf(f, "note: %" PRIu64 " stacks were deeper than %d frames; their innermost %d "
			"were kept\n", sn->stats[STAT_TRUNCATED], MAX_FRAMES, MAX_FRAMES);
	if (sn->frames_unreadable)
		fprintf(f, "note: %" PRIu64 " frames of the outstanding stacks could not be read: "
			"their code was freed before it was symbolized\n", sn->frames_unreadable);
}

/* "3 processes (1 exited, 1 not traced)" */
static void print_process_count(const struct report_set *set, FILE *f)
{
	int i, exited = 0, untraced = 0;

	for (i = 0; i < set->n; i++) {
		exited += set->procs[i]->status == PROC_EXITED;
		untraced += set->procs[i]->status == PROC_UNTRACEABLE;
	}
	if (!set->n) {
		fputs("no CPython process traced\n", f);
		return;
	}
	fprintf(f, "%d process%s", set->n, set->n > 1 ? "es" : "");
	if (exited && untraced)
		fprintf(f, " (%d exited, %d not traced)", exited, untraced);
	else if (exited || untraced)
		fprintf(f, " (%d %s)", exited + untraced, exited ? "exited" : "not traced");
	fputc('\n', f);
}

/*
 * One process: the report's time before its first line, as when one
 * process was all the tool traced. Several: a header line with the report's
 * number, then a section per process in rank order, each beginning "== ".
 */
void out_text__render(const struct report_set *set, const struct out_opts *o, FILE *f)
{
	bool several = set->n != 1;
	time_t wall = (time_t)set->timestamp;
	char ts[16];
	int i;

	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&wall));
	if (several) {
		fprintf(f, "%s %u at %s: ", set->final ? "Final report" : "Report", set->report, ts);
		print_process_count(set, f);
	} else {
		fprintf(f, "%s%s ", set->final ? "Final report " : "", ts);
	}
	for (i = 0; i < set->n; i++) {
		const struct snapshot *sn = set->procs[i];

		if (several)
			fputs("== ", f);
		if (!out__has_data(sn)) {
			print_untraceable(sn, f);
			continue;
		}
		print_head(sn, f);
		print_label(sn, several, f);
		print_body(sn, o, f);
	}
	if (set->agent) {
		const struct agent_footprint *a = set->agent;
		char b1[32], b2[32];

		fprintf(f, "agent: %.1f%% of a core", a->cpu_pct);
		if (a->bpf_pct >= 0)
			fprintf(f, " (and its BPF programs %.2f%%)", a->bpf_pct);
		fprintf(f, ", %s resident, %s of BPF maps\n", human(a->rss_bytes, b1, sizeof(b1)),
			human(a->map_bytes, b2, sizeof(b2)));
	}
	if (set->final && set->exit_reason)
		fprintf(f, "Detached (%s).\n", set->exit_reason);
	fputc('\n', f);
}
