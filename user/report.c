// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Every interval: read the outstanding allocations in batches, sum them by
 * stack (only those older than -o), keep a short history per stack, and
 * rank. Stacks that keep growing rank above large but flat ones, so a
 * cache filled at start-up does not hide a small steady leak for long.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include "pyleak.h"
#include "report.h"
#include "stacks.h"
#include "u64map.h"

#define HISTORY		6	/* reports a trend looks back over */
#define BATCH		4096

static const char *const stat_names[STAT__COUNT] = {
	[STAT_ALLOCS] = "allocs",
	[STAT_FREES] = "frees",
	[STAT_NESTED] = "nested",
	[STAT_NO_TSTATE] = "no_tstate",
	[STAT_TSTATE_OTHER] = "tstate_other",
	[STAT_NO_FRAMES] = "no_frames",
	[STAT_READ_FAILED] = "read_failed",
	[STAT_TRUNCATED] = "truncated",
	[STAT_STACKS_FULL] = "stacks_full",
	[STAT_STACK_EVENTS_LOST] = "stack_events_lost",
	[STAT_ALLOCS_FULL] = "allocs_full",
	[STAT_NO_STASH] = "no_stash",
	[STAT_MISSED_RETURN] = "missed_return",
	[STAT_FDS_OPENED] = "fds_opened",
	[STAT_FDS_CLOSED] = "fds_closed",
	[STAT_FDS_FULL] = "fds_full",
};

/* Counters that mean something was dropped or unreadable. */
static const enum stat_id lossy[] = {
	STAT_READ_FAILED, STAT_STACKS_FULL, STAT_STACK_EVENTS_LOST, STAT_ALLOCS_FULL,
	STAT_NO_STASH, STAT_MISSED_RETURN, STAT_FDS_FULL,
};

enum trend { TREND_NEW, TREND_GROWING, TREND_STEADY, TREND_SHRINKING };
static const char *const trend_names[] = { "new", "growing", "steady", "shrinking" };

struct stack_state {
	uint64_t bytes, count, oldest_ns;	/* this report */
	uint64_t hist[HISTORY];			/* bytes at the last reports, ring */
	double hist_t[HISTORY];
	unsigned int nhist;			/* samples taken, saturating */
	unsigned int seen;			/* report number it was last non-zero */
	/* derived for this report */
	enum trend trend;
	int64_t growth;
	double rate;
};

struct reporter {
	struct report_opts o;
	struct report_meta m;
	struct stack_table *stacks_tab;
	int allocs_fd, stats_fd;
	struct u64map stacks;	/* stack id -> struct stack_state */
	unsigned int nreport;
	double start;
	uint64_t total_bytes, total_count;
	int ncpus;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct reporter *report__new(const struct report_opts *o, const struct report_meta *m,
			     struct stack_table *stacks, int allocs_fd, int stats_fd)
{
	struct reporter *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->o = *o;
	r->m = *m;
	r->stacks_tab = stacks;
	r->allocs_fd = allocs_fd;
	r->stats_fd = stats_fd;
	r->start = now_s();
	r->ncpus = libbpf_num_possible_cpus();
	if (r->ncpus <= 0 || u64map__init(&r->stacks, sizeof(struct stack_state))) {
		free(r);
		return NULL;
	}
	return r;
}

void report__free(struct reporter *r)
{
	if (!r)
		return;
	u64map__free(&r->stacks);
	free(r);
}

static void read_stats(struct reporter *r, uint64_t *out)
{
	uint64_t vals[r->ncpus];
	uint32_t k;
	int c;

	for (k = 0; k < STAT__COUNT; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(r->stats_fd, &k, vals))
			continue;
		for (c = 0; c < r->ncpus; c++)
			out[k] += vals[c];
	}
}

/* Stack ids are offset by one in the map: 0 is its empty-slot marker. */
static struct stack_state *state_of(struct reporter *r, uint64_t id)
{
	int fresh;

	return u64map__upsert(&r->stacks, id + 1, &fresh);
}

/* Sum outstanding allocations old enough by stack. */
static int collect(struct reporter *r)
{
	struct alloc_key *keys = malloc(BATCH * sizeof(*keys));
	struct alloc_info *vals = malloc(BATCH * sizeof(*vals));
	uint64_t now_ns = (uint64_t)(now_s() * 1e9);
	struct stack_state *st;
	__u32 in = 0, out = 0;
	bool first = true;
	uint64_t id;
	size_t i = 0;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	while (u64map__next(&r->stacks, &i, &id, (void **)&st))
		st->bytes = st->count = st->oldest_ns = 0;
	r->total_bytes = r->total_count = 0;
	for (;;) {
		__u32 n = BATCH, j;

		err = bpf_map_lookup_batch(r->allocs_fd, first ? NULL : &in, &out, keys, vals, &n,
					   NULL);
		if (err && errno != ENOENT) {
			err = -errno;
			break;
		}
		for (j = 0; j < n; j++) {
			const struct alloc_info *a = &vals[j];

			if (now_ns < a->ts_ns || now_ns - a->ts_ns < r->o.min_age_ns)
				continue;
			stacks__mark(r->stacks_tab, a->stack_id);
			st = state_of(r, a->stack_id);
			if (!st)
				continue;
			st->bytes += a->size;
			st->count++;
			if (!st->oldest_ns || a->ts_ns < st->oldest_ns)
				st->oldest_ns = a->ts_ns;
			r->total_bytes += a->size;
			r->total_count++;
		}
		if (err) {	/* ENOENT: that was the last batch */
			err = 0;
			break;
		}
		in = out;
		first = false;
	}
out:
	free(keys);
	free(vals);
	return err;
}

/* Push this report's sample and derive trend and growth. */
static void update_trends(struct reporter *r, double t)
{
	struct stack_state *st;
	uint64_t id;
	size_t i = 0;

	while (u64map__next(&r->stacks, &i, &id, (void **)&st)) {
		unsigned int slot = r->nreport % HISTORY, n, k, ups = 0;
		unsigned int first;
		int64_t net;
		double dt;

		if (!st->bytes && !st->nhist)
			continue;
		st->hist[slot] = st->bytes;
		st->hist_t[slot] = t;
		if (st->nhist < HISTORY)
			st->nhist++;
		if (st->bytes)
			st->seen = r->nreport;
		n = st->nhist;
		first = (r->nreport + HISTORY - (n - 1)) % HISTORY;
		st->growth = n > 1 ? (int64_t)st->bytes -
				     (int64_t)st->hist[(slot + HISTORY - 1) % HISTORY] : 0;
		for (k = 1; k < n; k++) {
			unsigned int a = (first + k - 1) % HISTORY, b = (first + k) % HISTORY;

			ups += st->hist[b] > st->hist[a];
		}
		net = (int64_t)st->bytes - (int64_t)st->hist[first];
		dt = t - st->hist_t[first];
		st->rate = dt > 0 ? net / dt : 0;
		if (n == 1)
			st->trend = TREND_NEW;
		/* Growing: net growth over the window, rising in most intervals. */
		else if (net > 0 && ups * 2 >= n - 1)
			st->trend = TREND_GROWING;
		else if (net < 0)
			st->trend = TREND_SHRINKING;
		else
			st->trend = TREND_STEADY;
	}
}

struct ranked {
	uint64_t id;
	struct stack_state *st;
};

static int cmp_ranked(const void *a, const void *b)
{
	const struct stack_state *x = ((const struct ranked *)a)->st;
	const struct stack_state *y = ((const struct ranked *)b)->st;
	int gx = x->trend == TREND_GROWING, gy = y->trend == TREND_GROWING;

	if (gx != gy)
		return gy - gx;
	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

static const char *special_stack(uint64_t id)
{
	if (id == STACK_NONE)
		return "[no Python frame: GIL released, native thread, interpreter start-up or shutdown]";
	if (id == STACK_LOST)
		return "[stack not recorded: the stacks map was full]";
	return NULL;
}

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

static void print_text(struct reporter *r, struct ranked *rk, int n, const uint64_t *stats,
		       double t, bool final, const char *exit_reason)
{
	char b1[32], b2[32], ts[16];
	time_t wall = time(NULL);
	int i, k, d;

	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&wall));
	printf("%s%s pid %d CPython %s, coverage %s (allocator %s): %s outstanding in %" PRIu64
	       " allocations%s\n", final ? "Final report " : "", ts, r->m.pid, r->m.python,
	       r->m.coverage, r->m.allocator, human(r->total_bytes, b1, sizeof(b1)),
	       r->total_count, r->o.min_age_ns ? " older than -o" : "");
	for (i = 0; i < n && i < r->o.top; i++) {
		struct stack_state *st = rk[i].st;
		const char *special = special_stack(rk[i].id);
		const struct stack_frames *sf;

		printf("#%d %-9s %s in %" PRIu64 " allocations, %s/s over the last %u reports "
		       "(%s%s since the last), oldest %.1fs\n", i + 1, trend_names[st->trend],
		       human(st->bytes, b1, sizeof(b1)), st->count, human(st->rate, b2, sizeof(b2)),
		       st->nhist, st->growth >= 0 ? "+" : "", human(st->growth, ts, sizeof(ts)),
		       t - st->oldest_ns / 1e9);
		if (special) {
			printf("        %s\n", special);
			continue;
		}
		sf = stacks__get(r->stacks_tab, rk[i].id);
		for (d = 0; sf && d < sf->depth; d++)
			printf("        %s:%d in %s\n", sf->frames[d].file, sf->frames[d].line,
			       sf->frames[d].function);
		if (sf && sf->truncated)
			printf("        [deeper frames not kept: over %d]\n", MAX_FRAMES);
		if (!sf || sf->depth < 0)
			printf("        [stack unreadable]\n");
	}
	printf("stats:");
	for (k = 0; k < STAT__COUNT; k++)
		printf(" %s %" PRIu64, stat_names[k], stats[k]);
	printf("\n");
	for (k = 0; k < (int)(sizeof(lossy) / sizeof(lossy[0])); k++)
		if (stats[lossy[k]])
			printf("warning: %" PRIu64 " events %s: results are incomplete\n",
			       stats[lossy[k]], stat_names[lossy[k]]);
	if (stats[STAT_TRUNCATED])
		printf("note: %" PRIu64 " stacks were deeper than %d frames; their innermost %d "
		       "were kept\n", stats[STAT_TRUNCATED], MAX_FRAMES, MAX_FRAMES);
	if (final && exit_reason)
		printf("Detached (%s).\n", exit_reason);
	printf("\n");
	fflush(stdout);
}

static void print_json(struct reporter *r, struct ranked *rk, int n, const uint64_t *stats,
		       double t, bool final, const char *exit_reason)
{
	json_t *o = json_object(), *st_arr = json_array(), *js = json_object();
	char *s;
	int i, k, d;

	json_object_set_new(o, "report", json_integer(r->nreport));
	json_object_set_new(o, "final", json_boolean(final));
	if (final && exit_reason)
		json_object_set_new(o, "exit_reason", json_string(exit_reason));
	json_object_set_new(o, "timestamp", json_real((double)time(NULL)));
	json_object_set_new(o, "elapsed_s", json_real(t - r->start));
	json_object_set_new(o, "pid", json_integer(r->m.pid));
	json_object_set_new(o, "python", json_string(r->m.python));
	json_object_set_new(o, "executable", json_string(r->m.executable));
	json_object_set_new(o, "coverage", json_string(r->m.coverage));
	json_object_set_new(o, "coverage_note", json_string(r->m.coverage_note));
	json_object_set_new(o, "allocator", json_string(r->m.allocator));
	json_object_set_new(o, "probes", json_pack("{s:i,s:i}", "functions", r->m.functions,
						   "emulated", r->m.emulated));
	json_object_set_new(o, "min_age_ms", json_integer(r->o.min_age_ns / 1000000));
	json_object_set_new(o, "totals", json_pack("{s:I,s:I,s:I}", "bytes",
						   (json_int_t)r->total_bytes, "count",
						   (json_int_t)r->total_count, "stacks", (json_int_t)n));
	for (k = 0; k < STAT__COUNT; k++)
		json_object_set_new(js, stat_names[k], json_integer((json_int_t)stats[k]));
	json_object_set_new(o, "stats", js);
	for (i = 0; i < n && i < r->o.top; i++) {
		struct stack_state *st = rk[i].st;
		json_t *frames = json_array(), *e;
		const struct stack_frames *sf = special_stack(rk[i].id) ? NULL :
						stacks__get(r->stacks_tab, rk[i].id);
		char id[24];

		for (d = 0; sf && d < sf->depth; d++)
			json_array_append_new(frames, json_pack("{s:s,s:s,s:i}", "function",
								sf->frames[d].function, "file",
								sf->frames[d].file, "line",
								sf->frames[d].line));
		snprintf(id, sizeof(id), "%016" PRIx64, rk[i].id);
		e = json_pack("{s:s,s:I,s:I,s:I,s:f,s:s,s:f,s:b,s:o}", "id", id, "bytes",
			      (json_int_t)st->bytes, "count", (json_int_t)st->count,
			      "growth_bytes", (json_int_t)st->growth, "growth_bytes_per_s", st->rate,
			      "trend", trend_names[st->trend], "oldest_s", t - st->oldest_ns / 1e9,
			      "truncated", sf && sf->truncated, "frames", frames);
		if (special_stack(rk[i].id))
			json_object_set_new(e, "note", json_string(special_stack(rk[i].id)));
		json_array_append_new(st_arr, e);
	}
	json_object_set_new(o, "stacks", st_arr);
	s = json_dumps(o, JSON_COMPACT);
	if (s)
		puts(s);
	free(s);
	json_decref(o);
	fflush(stdout);
}

int report__print(struct reporter *r, bool final, const char *exit_reason)
{
	uint64_t stats[STAT__COUNT];
	struct stack_state *st;
	struct ranked *rk;
	double t;
	uint64_t id;
	size_t i = 0;
	int n = 0, err;

	read_stats(r, stats);
	err = collect(r);
	if (err)
		return err;
	stacks__sweep(r->stacks_tab);
	t = now_s();
	update_trends(r, t);
	rk = calloc(r->stacks.used + 1, sizeof(*rk));
	if (!rk)
		return -ENOMEM;
	while (u64map__next(&r->stacks, &i, &id, (void **)&st))
		if (st->bytes)
			rk[n++] = (struct ranked){ id - 1, st };
	qsort(rk, n, sizeof(*rk), cmp_ranked);
	if (r->o.json)
		print_json(r, rk, n, stats, t, final, exit_reason);
	else
		print_text(r, rk, n, stats, t, final, exit_reason);
	free(rk);
	r->nreport++;
	return 0;
}
