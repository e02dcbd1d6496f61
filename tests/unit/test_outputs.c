// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/out/{pprof,prom,folded,html,json,text,common}.c on report sets made
 * by hand: one process, as the tool traced before it traced many, and
 * three (traced, exited, untraceable). The pprof profile unpacks (zlib,
 * protobuf-c) to Go's heap sample types with our values, functions, start
 * lines and every process's labels; target strings with the formats'
 * special characters come out escaped (Prometheus label values), replaced
 * (folded ';') or inert (the HTML page's JSON); stack series that share an
 * innermost frame are one; one HELP per metric family with a series per
 * process; folded root frames only with several processes; the JSON
 * report's shape; sibling file names.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "out/out.h"
#include "proto/profile.pb-c.h"

#define HOSTILE_FN	"evil</script><b>\"q\\;\n"
#define HOSTILE_FILE	"/srv/</script>;a.py"

static struct frame_info leak_frames[] = {
	{ "make_record", "/srv/app/leak.py", 12, 11 },
	{ "leak", "/srv/app/leak.py", 19, 15 },
	{ "<module>", "/srv/app/leak.py", 34, 1 },
};
static struct frame_info other_frames[] = {	/* same innermost frame, other caller */
	{ "make_record", "/srv/app/leak.py", 12, 11 },
	{ "other", "/srv/app/leak.py", 40, 39 },
};
static struct frame_info hostile_frames[] = {
	{ HOSTILE_FN, HOSTILE_FILE, 2, 1 },
};
static struct stack_frames sf[3] = {
	{ 3, false, leak_frames }, { 2, false, other_frames }, { 1, false, hostile_frames },
};
static struct series ser[4];
static struct snap_stack mem[4];
static struct fd_detail fdd;
static struct series fser = { .amount = 5, .count = 5 };
static struct snap_stack fdst[1];
static struct report_meta meta = {
	.pid = 4242, .comm = "py\"thon", .container = "", .python = "3.12.1",
	.coverage = "full", .allocator = "pymalloc", .memory = true, .fds = true,
	.fd_tracepoints = "syscalls",
};
static struct snapshot snap;
static const struct snapshot *one_proc[1] = { &snap };
static struct report_set one = { .report = 3, .timestamp = 1.7e9, .elapsed_s = 15, .n = 1,
				 .procs = one_proc };

/* A second process: a forked worker in a container, gone since the last
 * report (its last data shown); a third that could not be traced. */
#define CONTAINER "3f2c5e0d9b8a11112222333344445555666677778888999900001111aaaabbbb"
static struct frame_info worker_frames[] = {
	{ "serve", "/srv/app/worker.py", 30, 28 },
};
static struct stack_frames worker_sf = { 1, false, worker_frames };
static struct series worker_ser = { .amount = 2048, .count = 2, .trend = TREND_GROWING };
static struct snap_stack worker_mem[1];
static struct report_meta worker_meta = {
	.pid = 51, .ns_pid = 7, .comm = "worker", .cmdline = "gunicorn: worker [app:app]",
	.container = CONTAINER, .cgroup = "/docker/" CONTAINER, .python = "3.11.2", .build = "pgo",
	.coverage = "partial", .allocator = "pymalloc", .memory = true, .fds = false,
};
static struct snapshot worker;
static struct report_meta untr_meta = {
	.pid = 99, .ns_pid = 99, .comm = "python2", .cmdline = "python2 old.py", .container = "",
};
static struct snapshot untr = { .meta = &untr_meta, .status = PROC_UNTRACEABLE,
				.reason = "CPython 2.7.18 is not supported (3.8 to 3.13)",
				.fds_open = -1 };
static const struct snapshot *three_procs[3] = { &snap, &worker, &untr };
static struct report_set three = { .report = 7, .final = true, .exit_reason = "interrupted",
				   .timestamp = 1.7e9 + 30, .elapsed_s = 30, .n = 3,
				   .procs = three_procs };

static void make_snapshot(void)
{
	static const uint64_t bytes[4] = { 4660000, 1000, 500, 64 };
	int i;

	for (i = 0; i < 4; i++) {
		ser[i].amount = bytes[i];
		ser[i].count = bytes[i] / 100 + 1;
		ser[i].rate = i ? 0 : 1000.5;
		mem[i] = (struct snap_stack){ .id = i + 10, .frames = i < 3 ? &sf[i] : NULL,
					      .note = i < 3 ? NULL : "[no Python frame: test]",
					      .s = &ser[i] };
	}
	fdd.types[FD_FILE] = 3;
	fdd.types[FD_SOCKET] = 2;
	fdst[0] = (struct snap_stack){ .id = 1, .frames = &sf[0], .s = &fser, .fd = &fdd };
	snap = (struct snapshot){ .report = 3, .timestamp = 1.7e9, .elapsed_s = 15, .meta = &meta,
				  .mem = { mem, 4, 4661564, 46663 }, .fds = { fdst, 1, 5, 5 },
				  .fds_open = 10 };
	worker_mem[0] = (struct snap_stack){ .id = 77, .frames = &worker_sf, .s = &worker_ser };
	worker = (struct snapshot){ .report = 7, .timestamp = 1.7e9 + 30, .elapsed_s = 12,
				    .meta = &worker_meta, .mem = { worker_mem, 1, 2048, 2 },
				    .fds_open = -1, .as_of = FREEZE_EXIT, .status = PROC_EXITED,
				    .reason = "exit", .parent = 4242 };
}

static void test_sibling(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(out__sibling("heap.pb.gz", "fds", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "heap.fds.pb.gz");
	assert_int_equal(out__sibling("/a.b/stacks", "fds", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/a.b/stacks.fds");
	assert_int_equal(out__sibling("dir/.hidden", "fds", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "dir/.hidden.fds");
	assert_int_equal(out__sibling("x/p.folded", "fds", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "x/p.fds.folded");
	assert_int_equal(out__sibling("x.y", "fds", buf, 4), -ENAMETOOLONG);
}

static Perftools__Profiles__Profile *unpack(const struct obuf *b)
{
	static uint8_t raw[1 << 20];
	z_stream z = { .next_in = (uint8_t *)b->p, .avail_in = b->len, .next_out = raw,
		       .avail_out = sizeof(raw) };

	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);	/* gzip only */
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	inflateEnd(&z);
	return perftools__profiles__profile__unpack(NULL, z.total_out, raw);
}

static void test_pprof_heap(void **state)
{
	static const char *const want[4][2] = { { "alloc_objects", "count" }, { "alloc_space", "bytes" },
						{ "inuse_objects", "count" }, { "inuse_space", "bytes" } };
	struct obuf b = {};
	Perftools__Profiles__Profile *p;
	size_t i, k, seen = 0;

	(void)state;
	assert_int_equal(out_pprof__render(&one, PPROF_HEAP, &b), 0);
	p = unpack(&b);
	assert_non_null(p);
	assert_string_equal(p->string_table[0], "");
	assert_int_equal(p->n_sample_type, 4);
	for (k = 0; k < 4; k++) {
		assert_string_equal(p->string_table[p->sample_type[k]->type], want[k][0]);
		assert_string_equal(p->string_table[p->sample_type[k]->unit], want[k][1]);
	}
	assert_string_equal(p->string_table[p->default_sample_type], "inuse_space");
	assert_string_equal(p->string_table[p->period_type->type], "space");
	assert_int_equal(p->n_sample, 4);
	for (i = 0; i < p->n_sample; i++) {
		Perftools__Profiles__Sample *s = p->sample[i];
		Perftools__Profiles__Location *leaf = p->location[s->location_id[0] - 1];
		Perftools__Profiles__Function *f = p->function[leaf->line[0]->function_id - 1];

		assert_int_equal(leaf->id, s->location_id[0]);
		assert_int_equal(s->value[3], (int64_t)ser[i].amount);
		assert_int_equal(s->value[1], s->value[3]);
		assert_int_equal(s->value[2], (int64_t)ser[i].count);
		assert_string_equal(p->string_table[s->label[0]->key], "pid");
		assert_string_equal(p->string_table[s->label[0]->str], "4242");
		if (i < 2) {
			assert_string_equal(p->string_table[f->name], "make_record");
			assert_int_equal(f->start_line, 11);
			assert_int_equal(leaf->line[0]->line, 12);
			seen++;
		}
		if (i == 3)	/* the special stack: one frame named after it */
			assert_string_equal(p->string_table[f->name], "[no Python frame: test]");
	}
	assert_int_equal(seen, 2);
	/* make_record at line 12 is one function and one location for both stacks */
	assert_int_equal(p->sample[0]->location_id[0], p->sample[1]->location_id[0]);
	perftools__profiles__profile__free_unpacked(p, NULL);
	obuf__free(&b);
}

static void test_pprof_fds(void **state)
{
	struct obuf b = {};
	Perftools__Profiles__Profile *p;
	int64_t total = 0;
	size_t i;

	(void)state;
	assert_int_equal(out_pprof__render(&one, PPROF_FDS, &b), 0);
	p = unpack(&b);
	assert_int_equal(p->n_sample_type, 1);
	assert_string_equal(p->string_table[p->sample_type[0]->type], "open_fds");
	assert_int_equal(p->n_sample, 2);	/* file, socket */
	for (i = 0; i < p->n_sample; i++) {
		total += p->sample[i]->value[0];
		assert_string_equal(p->string_table[p->sample[i]->label[p->sample[i]->n_label - 1]->key],
				    "fd_type");
	}
	assert_int_equal(total, 5);
	perftools__profiles__profile__free_unpacked(p, NULL);
	obuf__free(&b);
}

static void test_folded(void **state)
{
	struct obuf b = {};

	(void)state;
	out_folded__render(&one, false, &b);
	assert_non_null(strstr(b.p, "<module> (/srv/app/leak.py:34);leak (/srv/app/leak.py:19);"
			       "make_record (/srv/app/leak.py:12) 4660000\n"));
	/* ';' and the newline in the hostile names do not make frames or lines */
	assert_non_null(strstr(b.p, "evil</script><b>\"q\\:  (/srv/</script>:a.py:2) 500\n"));
	assert_non_null(strstr(b.p, "[no Python frame: test] 64\n"));
	out_folded__render(&one, true, &b);
	assert_string_equal(b.p, "<module> (/srv/app/leak.py:34);leak (/srv/app/leak.py:19);"
			    "make_record (/srv/app/leak.py:12) 5\n");
	obuf__free(&b);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (; (hay = strstr(hay, needle)); hay++)
		n++;
	return n;
}

static void test_prom(void **state)
{
	struct prom_opts po = { .top = 2 };
	struct obuf b = {};

	(void)state;
	out_prom__render(&one, &po, &b);
	assert_non_null(strstr(b.p, "pyleak_outstanding_bytes{pid=\"4242\",comm=\"py\\\"thon\","
			       "container=\"\",python=\"3.12.1\"} 4661564\n"));
	assert_int_equal(count(b.p, "# TYPE pyleak_outstanding_bytes gauge\n"), 1);
	assert_int_equal(count(b.p, "# TYPE pyleak_allocs_total counter\n"), 1);
	/* two stacks with innermost make_record:12 are one series, summed */
	assert_non_null(strstr(b.p, ",stack=\"leak.py:12 make_record\"} 4661000\n"));
	/* top 2 names: make_record, the hostile one (escaped); the special stack is cut */
	assert_non_null(strstr(b.p, ",stack=\"script>;a.py:2 evil</script><b>\\\"q\\\\;\\n\"} 500\n"));
	assert_non_null(strstr(b.p, "pyleak_stacks_cut{pid=\"4242\",comm=\"py\\\"thon\",container=\"\","
			       "python=\"3.12.1\",section=\"memory\"} 1\n"));
	assert_non_null(strstr(b.p, ",origin=\"traced\",type=\"socket\"} 2\n"));
	assert_null(strstr(b.p, "pyroscope"));
	obuf__free(&b);
}

static void test_html(void **state)
{
	struct obuf b = {};
	const char *data, *end;

	(void)state;
	out_html__render(&one, &b);
	data = strstr(b.p, "id=\"pyleak-data\">");
	assert_non_null(data);
	end = strstr(data, "</script>");
	assert_non_null(end);
	/* the data element ends after the JSON: no target string ended it early */
	assert_non_null(strstr(data, "\\u003c/script\\u003e\\u003cb\\u003e"));
	assert_true(strstr(data, "\\u003c/script\\u003e") < end);
	for (const char *p = data + 17; p < end; p++)
		assert_true(*p != '<' && *p != '>' && *p != '&' && (unsigned char)*p < 0x80);
	assert_non_null(strstr(b.p, "default-src 'none'"));
	assert_non_null(strstr(b.p, "function Flame("));	/* the embedded script */
	obuf__free(&b);
}


/* What a FILE renderer wrote, as a string (free it). */
static char *render_text(void (*render)(const struct report_set *, const struct out_opts *, FILE *),
			 const struct report_set *set)
{
	struct out_opts oo = { .top = 10, .frames = 6 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	render(set, &oo, f);
	fclose(f);
	return buf;
}

static void test_json_one(void **state)
{
	char *out = render_text(out_json__render, &one);
	json_error_t err;
	json_t *o = json_loads(out, 0, &err), *p;

	(void)state;
	assert_non_null(o);
	/* one line, the report's fields at the top and the process inside */
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	assert_int_equal(json_integer_value(json_object_get(o, "report")), 3);
	assert_true(json_is_false(json_object_get(o, "final")));
	assert_null(json_object_get(o, "exit_reason"));
	assert_true(json_real_value(json_object_get(o, "time")) == 1.7e9);
	assert_null(json_object_get(o, "timestamp"));
	assert_null(json_object_get(o, "pid"));
	assert_int_equal(json_array_size(json_object_get(o, "processes")), 1);
	p = json_array_get(json_object_get(o, "processes"), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "pid")), 4242);
	assert_string_equal(json_string_value(json_object_get(p, "status")), "traced");
	assert_true(json_is_null(json_object_get(p, "reason")));
	assert_true(json_is_null(json_object_get(p, "parent")));
	assert_null(json_object_get(p, "report"));
	assert_null(json_object_get(p, "final"));
	assert_int_equal(json_array_size(json_object_get(p, "stacks")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "totals"), "bytes")),
			 4661564);
	assert_non_null(json_object_get(json_object_get(p, "stats"), "allocs"));
	json_decref(o);
	free(out);
}

static void test_json_many(void **state)
{
	char *out = render_text(out_json__render, &three);
	json_t *o = json_loads(out, 0, NULL), *procs, *w, *u;

	(void)state;
	assert_non_null(o);
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	assert_true(json_is_true(json_object_get(o, "final")));
	assert_string_equal(json_string_value(json_object_get(o, "exit_reason")), "interrupted");
	procs = json_object_get(o, "processes");
	assert_int_equal(json_array_size(procs), 3);	/* in the set's (rank) order */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(procs, 0), "pid")), 4242);
	w = json_array_get(procs, 1);
	assert_int_equal(json_integer_value(json_object_get(w, "pid")), 51);
	assert_int_equal(json_integer_value(json_object_get(w, "ns_pid")), 7);
	assert_int_equal(json_integer_value(json_object_get(w, "parent")), 4242);
	assert_string_equal(json_string_value(json_object_get(w, "status")), "exited");
	assert_string_equal(json_string_value(json_object_get(w, "reason")), "exit");
	assert_string_equal(json_string_value(json_object_get(w, "as_of")), "exit");
	assert_string_equal(json_string_value(json_object_get(w, "container")), CONTAINER);
	assert_string_equal(json_string_value(json_object_get(w, "build")), "pgo");
	assert_true(json_is_null(json_object_get(json_object_get(w, "fd_totals"), "open")));
	assert_int_equal(json_array_size(json_object_get(w, "stacks")), 1);
	/* untraceable: labels, status and reason, no data keys */
	u = json_array_get(procs, 2);
	assert_string_equal(json_string_value(json_object_get(u, "status")), "untraceable");
	assert_string_equal(json_string_value(json_object_get(u, "reason")),
			    "CPython 2.7.18 is not supported (3.8 to 3.13)");
	assert_string_equal(json_string_value(json_object_get(u, "cmdline")), "python2 old.py");
	assert_true(json_is_null(json_object_get(u, "python")));
	assert_null(json_object_get(u, "stacks"));
	assert_null(json_object_get(u, "stats"));
	assert_null(json_object_get(u, "totals"));
	json_decref(o);
	free(out);
}

static void test_text(void **state)
{
	char *one_out = render_text(out_text__render, &one);
	char *many = render_text(out_text__render, &three);

	(void)state;
	/* one process: the time first, no section markers, the label line */
	assert_null(strstr(one_out, "== "));
	assert_null(strstr(one_out, "Report 3"));
	assert_non_null(strstr(one_out, " pid 4242 (py\"thon) CPython 3.12.1, coverage full"));
	assert_non_null(strstr(one_out, "\n#1 new       4.4 MiB in 46601 allocations"));
	/* several: a header, a section per process in order, the untraceable in one line */
	assert_true(!strncmp(many, "Final report 7 at ", 18));
	assert_non_null(strstr(many, ": 3 processes (1 exited, 1 not traced)\n"));
	assert_non_null(strstr(many, "\n== pid 4242 (py\"thon) CPython 3.12.1"));
	assert_non_null(strstr(many, "\n== pid 51 (worker, pid 7 in its namespace, container "
				     "3f2c5e0d9b8a) exited (exit), its last state: CPython 3.11.2, "
				     "coverage partial"));
	/* its label line; a container names it, so no cgroup path */
	assert_non_null(strstr(many, "\n  command: gunicorn: worker [app:app]; PGO build (pymalloc "
				     "inlined); forked from pid 4242\n"));
	assert_non_null(strstr(many, "As of the process's exit"));
	assert_non_null(strstr(many, "serve"));
	assert_non_null(strstr(many, "\n== pid 99 (python2) not traced: CPython 2.7.18 is not "
				     "supported (3.8 to 3.13); command: python2 old.py\n"));
	assert_true(strstr(many, "== pid 4242") < strstr(many, "== pid 51"));
	assert_true(strstr(many, "== pid 51") < strstr(many, "== pid 99"));
	assert_non_null(strstr(many, "Detached (interrupted).\n\n"));
	free(one_out);
	free(many);
}

/* The value of a pprof sample's string label key, or NULL. */
static const char *sample_label(const Perftools__Profiles__Profile *p,
				const Perftools__Profiles__Sample *s, const char *key)
{
	size_t k;

	for (k = 0; k < s->n_label; k++)
		if (!strcmp(p->string_table[s->label[k]->key], key))
			return p->string_table[s->label[k]->str];
	return NULL;
}

static void test_pprof_many(void **state)
{
	struct obuf b = {};
	Perftools__Profiles__Profile *p;
	int64_t bytes_4242 = 0, bytes_51 = 0;
	size_t i;

	(void)state;
	assert_int_equal(out_pprof__render(&three, PPROF_HEAP, &b), 0);
	p = unpack(&b);
	assert_non_null(p);
	/* every traced or exited process's samples, none of the untraceable one */
	assert_int_equal(p->n_sample, 4 + 1);
	for (i = 0; i < p->n_sample; i++) {
		const char *pid = sample_label(p, p->sample[i], "pid");

		assert_non_null(pid);
		if (!strcmp(pid, "4242")) {
			bytes_4242 += p->sample[i]->value[3];
			assert_string_equal(sample_label(p, p->sample[i], "comm"), "py\"thon");
			assert_null(sample_label(p, p->sample[i], "container"));
		} else {
			assert_string_equal(pid, "51");
			bytes_51 += p->sample[i]->value[3];
			assert_string_equal(sample_label(p, p->sample[i], "comm"), "worker");
			assert_string_equal(sample_label(p, p->sample[i], "container"), CONTAINER);
		}
	}
	assert_int_equal(bytes_4242, 4661564);
	assert_int_equal(bytes_51, 2048);
	assert_int_equal(p->time_nanos, (int64_t)((1.7e9 + 30) * 1e9));
	perftools__profiles__profile__free_unpacked(p, NULL);
	/* one process's profile (a Pyroscope push): its samples alone */
	assert_int_equal(out_pprof__render_one(&worker, PPROF_HEAP, &b), 0);
	p = unpack(&b);
	assert_int_equal(p->n_sample, 1);
	assert_string_equal(sample_label(p, p->sample[0], "pid"), "51");
	perftools__profiles__profile__free_unpacked(p, NULL);
	obuf__free(&b);
}

static void test_folded_many(void **state)
{
	struct obuf b = {};
	const char *line;
	int lines = 0;

	(void)state;
	out_folded__render(&three, false, &b);
	/* every line starts at its process's root frame; the untraceable has none */
	for (line = b.p; *line; line = strchr(line, '\n') + 1, lines++)
		assert_true(!strncmp(line, "py\"thon (pid 4242);", 19) ||
			    !strncmp(line, "worker (pid 51);", 16));
	assert_int_equal(lines, 5);
	assert_non_null(strstr(b.p, "py\"thon (pid 4242);<module> (/srv/app/leak.py:34);leak "
			       "(/srv/app/leak.py:19);make_record (/srv/app/leak.py:12) 4660000\n"));
	assert_non_null(strstr(b.p, "worker (pid 51);serve (/srv/app/worker.py:30) 2048\n"));
	assert_null(strstr(b.p, "pid 99"));
	/* fds: the worker has none traced */
	out_folded__render(&three, true, &b);
	assert_string_equal(b.p, "py\"thon (pid 4242);<module> (/srv/app/leak.py:34);leak "
			    "(/srv/app/leak.py:19);make_record (/srv/app/leak.py:12) 5\n");
	obuf__free(&b);
}

static void test_prom_many(void **state)
{
	struct prom_opts po = { .top = 1 };
	struct obuf b = {};
	const char *p;

	(void)state;
	out_prom__render(&three, &po, &b);
	/* each family's HELP and TYPE once, whatever the number of processes */
	for (p = b.p; (p = strstr(p, "# HELP ")); p++) {
		char head[128];
		size_t n = strcspn(p + 7, " ");

		snprintf(head, sizeof(head), "# HELP %.*s ", (int)n, p + 7);
		assert_int_equal(count(b.p, head), 1);
		snprintf(head, sizeof(head), "# TYPE %.*s ", (int)n, p + 7);
		assert_int_equal(count(b.p, head), 1);
	}
	/* a series per process under it, with its labels */
	assert_non_null(strstr(b.p, "# TYPE pyleak_outstanding_bytes gauge\n"
			       "pyleak_outstanding_bytes{pid=\"4242\",comm=\"py\\\"thon\","
			       "container=\"\",python=\"3.12.1\"} 4661564\n"
			       "pyleak_outstanding_bytes{pid=\"51\",comm=\"worker\",container=\""
			       CONTAINER "\",python=\"3.11.2\"} 2048\n"));
	assert_int_equal(count(b.p, "pyleak_allocs_total{"), 2);
	/* the worker traces no fds and is gone: no fd series, no /proc count */
	assert_int_equal(count(b.p, "pyleak_open_fds_growth_per_second{"), 1);
	assert_int_equal(count(b.p, "pyleak_process_open_fds{"), 1);
	/* --metrics-top 1: the top stack of each process */
	assert_int_equal(count(b.p, "\npyleak_stack_outstanding_bytes{"), 2);
	assert_non_null(strstr(b.p, "pyleak_stack_outstanding_bytes{pid=\"51\",comm=\"worker\","
			       "container=\"" CONTAINER "\",python=\"3.11.2\",stack=\"worker.py:30 "
			       "serve\"} 2048\n"));
	assert_non_null(strstr(b.p, "pyleak_stacks_cut{pid=\"4242\",comm=\"py\\\"thon\","
			       "container=\"\",python=\"3.12.1\",section=\"memory\"} 2\n"));
	/* the untraceable process has no data: no series */
	assert_null(strstr(b.p, "pid=\"99\""));
	obuf__free(&b);
}

static void test_html_many(void **state)
{
	struct obuf b = {};
	const char *data;
	json_t *o, *mem;
	size_t i;

	(void)state;
	out_html__render(&three, &b);
	data = strstr(b.p, "id=\"pyleak-data\">");
	assert_non_null(data);
	o = json_loadb(data + 17, strstr(data, "</script>") - data - 17, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_array_size(json_object_get(o, "processes")), 3);
	mem = json_array_get(json_object_get(o, "sections"), 0);
	assert_string_equal(json_string_value(json_object_get(mem, "id")), "memory");
	assert_int_equal(json_integer_value(json_object_get(mem, "total")), 4661564 + 2048);
	assert_int_equal(json_array_size(json_object_get(mem, "stacks")), 5);
	/* ranked as one: the worker's growing stack first; every stack has its pid */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(mem,
			 "stacks"), 0), "pid")), 51);
	for (i = 1; i < 5; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(
				 json_object_get(mem, "stacks"), i), "pid")), 4242);
	json_decref(o);
	obuf__free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sibling),
		cmocka_unit_test(test_pprof_heap),
		cmocka_unit_test(test_pprof_fds),
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_prom),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_json_one),
		cmocka_unit_test(test_json_many),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_pprof_many),
		cmocka_unit_test(test_folded_many),
		cmocka_unit_test(test_prom_many),
		cmocka_unit_test(test_html_many),
	};

	make_snapshot();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
