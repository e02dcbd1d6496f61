// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * One report: a report_set (every process's snapshot) rendered in every
 * output asked for: text or JSON on stdout, then the files (--pprof,
 * --folded, --html, replaced atomically), the endpoint's documents
 * (--serve) and the Pyroscope pushes, one per process. Every output renders
 * the same set, so a JSON report and a pprof file written at the same
 * report agree. Collecting is apart (user/collect.c): report__render takes
 * a set made by the caller; report__print collects the reporter's own one
 * process and renders that.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "collect.h"
#include "log.h"
#include "out/out.h"
#include "pyroscope.h"
#include "report.h"
#include "serve.h"

#define METRICS_TOP_DEFAULT 20

struct report_sinks {
	struct report_outputs o;
	char pprof_fds[PATH_MAX], folded_fds[PATH_MAX];
	struct server *server;
	struct pyroscope *pyroscope;
};

struct reporter {
	struct report_opts o;
	struct collector *col;		/* report__new's one process; NULL for a renderer */
	struct obuf heap, fds, text;	/* rendered outputs, reused */
	struct obuf one_heap, one_fds;	/* one process's profiles, for its Pyroscope push */
	double last_push;		/* wall clock of the previous Pyroscope pushes */
	bool failing[4];		/* a file output's last write failed: said once */
};

static int check_file(const char *opt, const char *path, char *sibling, size_t len)
{
	int err = out__check_writable(path);

	if (!err && sibling)
		err = out__sibling(path, "fds", sibling, len);
	if (err)
		warn("%s %s: cannot write there: %s", opt, path, strerror(-err));
	return err;
}

int report__open_sinks(const struct report_outputs *o, struct report_sinks **out)
{
	struct report_sinks *s;
	char err[512];
	int ret;

	*out = NULL;
	if (!o->pprof && !o->folded && !o->html && !o->serve && !o->pyroscope)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s) {
		warn("out of memory");
		return -ENOMEM;
	}
	s->o = *o;
	if (!s->o.metrics_top)
		s->o.metrics_top = METRICS_TOP_DEFAULT;
	if ((o->pprof && (ret = check_file("--pprof", o->pprof, s->pprof_fds,
					    sizeof(s->pprof_fds)))) ||
	    (o->folded && (ret = check_file("--folded", o->folded, s->folded_fds,
					     sizeof(s->folded_fds)))) ||
	    (o->html && (ret = check_file("--html", o->html, NULL, 0))))
		goto fail;
	if (o->pyroscope) {
		ret = pyroscope__start(o->pyroscope, &s->pyroscope, err, sizeof(err));
		if (ret) {
			warn("%s", err);
			goto fail;
		}
	}
	if (o->serve) {
		ret = server__start(o->serve, &s->server, err, sizeof(err));
		if (ret) {
			warn("%s", err);
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	report__close_sinks(s);
	return ret;
}

void report__close_sinks(struct report_sinks *s)
{
	if (!s)
		return;
	pyroscope__stop(s->pyroscope);
	server__stop(s->server);
	free(s);
}

struct reporter *report__new_renderer(const struct report_opts *o)
{
	struct reporter *r = calloc(1, sizeof(*r));

	if (r)
		r->o = *o;
	return r;
}

struct reporter *report__new(const struct report_opts *o, const struct report_meta *m,
			     struct stack_table *stacks, int allocs_fd, int fds_fd, int stats_fd)
{
	struct collect_maps maps = { allocs_fd, fds_fd, stats_fd };
	struct reporter *r = report__new_renderer(o);

	if (!r)
		return NULL;
	r->col = collect__new(m, o->min_age_ns, &maps, stacks);
	if (!r->col) {
		free(r);
		return NULL;
	}
	return r;
}

void report__free(struct reporter *r)
{
	if (!r)
		return;
	collect__free(r->col);
	obuf__free(&r->heap);
	obuf__free(&r->fds);
	obuf__free(&r->text);
	obuf__free(&r->one_heap);
	obuf__free(&r->one_fds);
	free(r);
}

/* A file output: replaced atomically; a failure is said when a run of
 * failures begins (not every interval) and the tracing goes on. */
static void write_out(struct reporter *r, int slot, const char *opt, const char *path,
		      const struct obuf *b)
{
	int err = b->oom ? -ENOMEM : out__write_file(path, b->p, b->len);

	if (err && !r->failing[slot])
		warn("%s %s: cannot write: %s", opt, path, strerror(-err));
	r->failing[slot] = err != 0;
}

/* Pyroscope's app name: the comm, then the process's labels, in the
 * name{k=v,...} form its ingest API takes; characters its label syntax
 * reserves become '_'. */
static void pyroscope_app(const struct snapshot *sn, char *buf, size_t len)
{
	struct out_labels l;
	char comm[64], cont[80];
	size_t i;

	out__labels(sn, &l);
	snprintf(comm, sizeof(comm), "%s", *l.comm ? l.comm : "python");
	snprintf(cont, sizeof(cont), "%s", l.container);
	for (i = 0; comm[i]; i++)
		if (!isalnum((unsigned char)comm[i]) && !strchr("._-", comm[i]))
			comm[i] = '_';
	snprintf(buf, len, "%s{pid=%d,comm=%s,python=%s%s%s}", comm, (int)l.pid, comm, l.python,
		 *cont ? ",container=" : "", cont);
}

/*
 * Pyroscope takes labels per push (the name{k=v,...} of its ingest API is
 * the series), so each process with data is pushed apart with its own
 * labels and its own profiles. from: the previous pushes, or when the
 * process began to be traced if that is later (one picked up since).
 */
static void push_pyroscope(struct reporter *r, const struct report_set *set)
{
	struct pyroscope *py = r->o.sinks->pyroscope;
	char app[512];
	int i;

	for (i = 0; i < set->n; i++) {
		const struct snapshot *sn = set->procs[i];
		struct pyroscope_job job;
		double from = sn->timestamp - sn->elapsed_s;
		bool fds_ok;

		if (!out__has_data(sn) || out_pprof__render_one(sn, PPROF_HEAP, &r->one_heap))
			continue;
		fds_ok = sn->meta->fds && !out_pprof__render_one(sn, PPROF_FDS, &r->one_fds);
		pyroscope_app(sn, app, sizeof(app));
		if (r->last_push > from)
			from = r->last_push;
		job = (struct pyroscope_job){
			.app = app, .from = (long)from, .until = (long)set->timestamp,
			.heap = r->one_heap.p, .heap_len = r->one_heap.len,
			.fds = fds_ok ? r->one_fds.p : NULL, .fds_len = fds_ok ? r->one_fds.len : 0,
		};
		pyroscope__push(py, &job);
	}
	r->last_push = set->timestamp;
}

/* Is any process's fds traced (the fds files are written)? */
static bool set_fds(const struct report_set *set)
{
	int i;

	for (i = 0; i < set->n; i++)
		if (out__has_data(set->procs[i]) && set->procs[i]->meta->fds)
			return true;
	return false;
}

static void render_sinks(struct reporter *r, const struct report_set *set)
{
	struct report_sinks *s = r->o.sinks;
	bool heap_ok = false, fds_ok = false, fds = set_fds(set);

	if (s->o.pprof || s->server) {
		heap_ok = !out_pprof__render(set, PPROF_HEAP, &r->heap);
		/* with --no-fds the endpoint serves an empty fds profile */
		fds_ok = !out_pprof__render(set, PPROF_FDS, &r->fds);
		if (!heap_ok && !r->failing[0])
			warn("pprof: cannot render the profile: out of memory");
	}
	if (s->o.pprof) {
		if (heap_ok)
			write_out(r, 0, "--pprof", s->o.pprof, &r->heap);
		if (fds_ok && fds)
			write_out(r, 0, "--pprof", s->pprof_fds, &r->fds);
	}
	if (s->o.folded) {
		out_folded__render(set, false, &r->text);
		write_out(r, 1, "--folded", s->o.folded, &r->text);
		if (fds) {
			out_folded__render(set, true, &r->text);
			write_out(r, 1, "--folded", s->folded_fds, &r->text);
		}
	}
	if (s->o.html) {
		out_html__render(set, &r->text);
		write_out(r, 2, "--html", s->o.html, &r->text);
	}
	if (s->pyroscope)
		push_pyroscope(r, set);
	if (s->server) {
		struct prom_opts po = { .top = s->o.metrics_top, .pyroscope = s->pyroscope != NULL };

		if (s->pyroscope)
			pyroscope__counts(s->pyroscope, &po.pushes, &po.push_failures);
		out_prom__render(set, &po, &r->text);
		if (!r->text.oom)
			server__publish(s->server, SERVE_METRICS, r->text.p, r->text.len);
		if (heap_ok)
			server__publish(s->server, SERVE_HEAP, r->heap.p, r->heap.len);
		if (fds_ok)
			server__publish(s->server, SERVE_FDS, r->fds.p, r->fds.len);
	}
}

void report__set_census(struct reporter *r, struct census *c)
{
	if (r->col)
		collect__set_census(r->col, c);
}

int report__render(struct reporter *r, const struct report_set *set)
{
	struct out_opts oo = { r->o.top, r->o.frames };

	if (r->o.json)
		out_json__render(set, &oo, stdout);
	else
		out_text__render(set, &oo, stdout);
	fflush(stdout);
	if (r->o.sinks)
		render_sinks(r, set);
	return 0;
}

int report__print(struct reporter *r, bool final, const char *exit_reason,
		  const struct report_as_of *as_of)
{
	const struct snapshot *sn;
	struct report_set set;
	int err;

	if (!r->col)
		return -EINVAL;
	err = collect__run(r->col, final, exit_reason, as_of ? as_of->why : FREEZE_NONE,
			   as_of ? as_of->ns : 0, &sn);
	if (err)
		return err;
	set = (struct report_set){
		.report = sn->report, .final = sn->final, .exit_reason = sn->exit_reason,
		.timestamp = sn->timestamp, .elapsed_s = sn->elapsed_s, .n = 1, .procs = &sn,
	};
	return report__render(r, &set);
}
