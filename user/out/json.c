// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The JSON report: one object per line, every frame kept (README: JSON
 * output): the report's number, time and end at the top, then one object
 * per process in rank order holding its labels, status and everything a
 * report of one process holds. An untraceable process has its labels,
 * status and reason only: no key for data it never had.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "census.h"
#include "out.h"
#include "sanitize.h"
#include "stacktypes.h"

static json_t *json_frames(const struct snap_stack *st)
{
	const struct stack_frames *sf = st->frames;
	json_t *frames = json_array();
	int d;

	for (d = 0; sf && d < sf->depth; d++) {
		json_t *fr = json_object();

		json_object_set_new(fr, "function", sanitize__json(sf->frames[d].function));
		json_object_set_new(fr, "file", sanitize__json(sf->frames[d].file));
		json_object_set_new(fr, "line", json_integer(sf->frames[d].line));
		json_array_append_new(frames, fr);
	}
	return frames;
}

static json_t *json_types(const uint32_t *types)
{
	json_t *o = json_object();
	int k;

	for (k = 0; k < FD__TYPES; k++)
		if (types[k])
			json_object_set_new(o, fds__type_name(k), json_integer(types[k]));
	return o;
}

/* What both sections' stacks have. */
static json_t *json_stack(const struct snapshot *sn, const struct snap_stack *st)
{
	json_t *o = json_object();
	char id[24];

	snprintf(id, sizeof(id), "%016" PRIx64, st->id);
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "trend", json_string(trend__name(st->s->trend)));
	json_object_set_new(o, "oldest_s", json_real(sn->now - st->s->oldest_ns / 1e9));
	json_object_set_new(o, "truncated", json_boolean(st->frames && st->frames->truncated));
	json_object_set_new(o, "frames", json_frames(st));
	if (st->note)
		json_object_set_new(o, "note", json_string(st->note));
	return o;
}

static json_t *json_mem_stack(const struct snapshot *sn, const struct snap_stack *st)
{
	json_t *o = json_stack(sn, st);

	json_object_set_new(o, "bytes", json_integer((json_int_t)st->s->amount));
	json_object_set_new(o, "count", json_integer((json_int_t)st->s->count));
	json_object_set_new(o, "growth_bytes", json_integer((json_int_t)st->s->growth));
	json_object_set_new(o, "growth_bytes_per_s", json_real(st->s->rate));
	if (st->types)
		json_object_set_new(o, "types", stacktypes__json(st->types));
	return o;
}

static json_t *json_fd_stack(const struct snapshot *sn, const struct snap_stack *st)
{
	const struct fd_detail *d = st->fd;
	json_t *o = json_stack(sn, st), *ex = json_array(), *sys = json_object();
	uint32_t none[FD__TYPES] = {};
	char buf[32];
	int k;

	for (k = 0; d && k < d->nex; k++)
		json_array_append_new(ex, sanitize__json(d->examples[k]));
	for (k = 0; d && k < SNAP_SYSCALLS && d->sys[k].n; k++)
		json_object_set_new(sys, fds__syscall_name(d->sys[k].nr, buf, sizeof(buf)),
				    json_integer(d->sys[k].n));
	json_object_set_new(o, "count", json_integer((json_int_t)st->s->amount));
	json_object_set_new(o, "growth", json_integer((json_int_t)st->s->growth));
	json_object_set_new(o, "growth_per_s", json_real(st->s->rate));
	json_object_set_new(o, "types", json_types(d ? d->types : none));
	json_object_set_new(o, "examples", ex);
	json_object_set_new(o, "syscalls", sys);
	return o;
}

static json_t *json_section(const struct snapshot *sn, const struct snap_section *sec, int top,
			    json_t *(*entry)(const struct snapshot *, const struct snap_stack *))
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < sec->n && i < top; i++)
		json_array_append_new(arr, entry(sn, &sec->v[i]));
	return arr;
}

static json_t *json_group(const struct fd_group *g)
{
	return json_pack("{s:I,s:o}", "count", (json_int_t)g->count, "types", json_types(g->types));
}

static json_t *json_nullable(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Who the process is: every process has these, an untraceable one only these. */
static void json_labels(const struct snapshot *sn, json_t *o)
{
	const struct report_meta *m = sn->meta;

	json_object_set_new(o, "pid", json_integer(m->pid));
	json_object_set_new(o, "ns_pid", json_integer(m->ns_pid));
	json_object_set_new(o, "parent", sn->parent ? json_integer(sn->parent) : json_null());
	json_object_set_new(o, "status", json_string(out__status_name(sn->status)));
	json_object_set_new(o, "reason", sanitize__json(sn->reason));
	json_object_set_new(o, "comm", m->comm ? sanitize__json(m->comm) : json_string(""));
	json_object_set_new(o, "cmdline", m->cmdline ? sanitize__json(m->cmdline) : json_string(""));
	json_object_set_new(o, "container", json_string(m->container ? m->container : ""));
	json_object_set_new(o, "cgroup", sanitize__json(m->cgroup));
	json_object_set_new(o, "python", json_nullable(m->python));
	json_object_set_new(o, "build", json_nullable(m->build));
	json_object_set_new(o, "executable", sanitize__json(m->executable));
}

/* One process: its labels, then what today's single-process report held. */
static json_t *json_process(const struct snapshot *sn, const struct out_opts *opts)
{
	const struct report_meta *m = sn->meta;
	json_t *o = json_object(), *js, *ft;
	int k;

	json_labels(sn, o);
	if (!out__has_data(sn))
		return o;
	json_object_set_new(o, "coverage", json_nullable(m->coverage));
	json_object_set_new(o, "coverage_note", json_nullable(m->coverage_note));
	/* sampled: every byte and count of the memory section is an estimate */
	json_object_set_new(o, "sampling", m->sample_bytes ?
			    json_pack("{s:I,s:b}", "mean_bytes", (json_int_t)m->sample_bytes,
				      "estimates", 1) : json_null());
	json_object_set_new(o, "budget", json_nullable(m->budget_note));
	json_object_set_new(o, "allocator", json_nullable(m->allocator));
	json_object_set_new(o, "probes", json_pack("{s:i,s:i}", "functions", m->functions,
						   "emulated", m->emulated));
	json_object_set_new(o, "tracking", json_pack("{s:b,s:b,s:o}", "memory", m->memory,
						     "fds", m->fds, "fd_tracepoints",
						     json_nullable(m->fd_tracepoints)));
	json_object_set_new(o, "as_of", json_string(snapshot__as_of_name(sn->as_of)));
	json_object_set_new(o, "traced_s", json_real(sn->elapsed_s));
	json_object_set_new(o, "min_age_ms", json_integer(sn->min_age_ns / 1000000));
	json_object_set_new(o, "totals", json_pack("{s:I,s:I,s:I}", "bytes",
						   (json_int_t)sn->mem.amount, "count",
						   (json_int_t)sn->mem.count, "stacks",
						   (json_int_t)sn->mem.n));
	ft = json_pack("{s:I,s:I,s:I,s:I,s:I}", "traced", (json_int_t)sn->fds.count,
		       "stacks", (json_int_t)sn->fds.n, "before", (json_int_t)sn->fds_before.count,
		       "untracked", (json_int_t)sn->fds_untracked.count, "stale",
		       (json_int_t)sn->fds_stale);
	json_object_set_new(ft, "open", sn->fds_open >= 0 ? json_integer(sn->fds_open) : json_null());
	json_object_set_new(o, "fd_totals", ft);
	js = json_object();
	for (k = 0; k < STAT__COUNT; k++)
		json_object_set_new(js, snapshot__stat_names[k], json_integer((json_int_t)sn->stats[k]));
	json_object_set_new(o, "stats", js);
	json_object_set_new(o, "frames_unreadable", json_integer((json_int_t)sn->frames_unreadable));
	json_object_set_new(o, "stack_store",
			    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
				      "nodes", (json_int_t)sn->store.nodes,
				      "peak_nodes", (json_int_t)sn->store.peak_nodes,
				      "max_nodes", (json_int_t)sn->store.max_nodes,
				      "kernel_bytes", (json_int_t)sn->store.kernel_bytes,
				      "peak_kernel_bytes", (json_int_t)sn->store.peak_kernel_bytes,
				      "mirrored", (json_int_t)sn->store.mirrored,
				      "evicted", (json_int_t)sn->store.evicted));
	json_object_set_new(o, "stack_sums",
			    json_pack("{s:I,s:I,s:I}", "entries", (json_int_t)sn->sums.entries,
				      "max_entries", (json_int_t)sn->sums.max_entries,
				      "drained", (json_int_t)sn->sums.drained));
	json_object_set_new(o, "stacks", json_section(sn, &sn->mem, opts->top, json_mem_stack));
	json_object_set_new(o, "fds", json_section(sn, &sn->fds, opts->top, json_fd_stack));
	json_object_set_new(o, "fds_before", json_group(&sn->fds_before));
	json_object_set_new(o, "fds_untracked", json_group(&sn->fds_untracked));
	if (sn->census)
		census__json(sn->census, o, m->memory ? (int64_t)sn->mem.amount : -1);
	return o;
}

void out_json__render(const struct report_set *set, const struct out_opts *opts, FILE *f)
{
	json_t *o = json_object(), *procs = json_array();
	char *s;
	int i;

	json_object_set_new(o, "report", json_integer(set->report));
	json_object_set_new(o, "final", json_boolean(set->final));
	if (set->final && set->exit_reason)
		json_object_set_new(o, "exit_reason", json_string(set->exit_reason));
	json_object_set_new(o, "time", json_real(set->timestamp));
	json_object_set_new(o, "elapsed_s", json_real(set->elapsed_s));
	for (i = 0; i < set->n; i++)
		json_array_append_new(procs, json_process(set->procs[i], opts));
	json_object_set_new(o, "processes", procs);
	if (set->agent) {
		const struct agent_footprint *a = set->agent;

		json_object_set_new(o, "agent", json_pack(
			"{s:f,s:o,s:I,s:I,s:f,s:o}", "cpu_pct", a->cpu_pct, "bpf_pct",
			a->bpf_pct >= 0 ? json_real(a->bpf_pct) : json_null(),
			"rss_bytes", (json_int_t)a->rss_bytes, "map_bytes", (json_int_t)a->map_bytes,
			"cpu_seconds", a->cpu_ns / 1e9, "bpf_seconds",
			a->bpf_pct >= 0 ? json_real(a->bpf_ns / 1e9) : json_null()));
	}
	s = json_dumps(o, JSON_COMPACT);
	if (s) {
		fputs(s, f);
		fputc('\n', f);
	}
	free(s);
	json_decref(o);
}
