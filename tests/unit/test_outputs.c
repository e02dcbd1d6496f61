// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/out/{pprof,prom,folded,html,common}.c on a snapshot made by hand:
 * the pprof profile unpacks (zlib, protobuf-c) to Go's heap sample types
 * with our values, functions and start lines; target strings with the
 * formats' special characters come out escaped (Prometheus label values),
 * replaced (folded ';') or inert (the HTML page's JSON); stack series that
 * share an innermost frame are one; sibling file names.
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
	assert_int_equal(out_pprof__render(&snap, PPROF_HEAP, &b), 0);
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
	assert_int_equal(out_pprof__render(&snap, PPROF_FDS, &b), 0);
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
	out_folded__render(&snap, false, &b);
	assert_non_null(strstr(b.p, "<module> (/srv/app/leak.py:34);leak (/srv/app/leak.py:19);"
			       "make_record (/srv/app/leak.py:12) 4660000\n"));
	/* ';' and the newline in the hostile names do not make frames or lines */
	assert_non_null(strstr(b.p, "evil</script><b>\"q\\:  (/srv/</script>:a.py:2) 500\n"));
	assert_non_null(strstr(b.p, "[no Python frame: test] 64\n"));
	out_folded__render(&snap, true, &b);
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
	out_prom__render(&snap, &po, &b);
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
	out_html__render(&snap, &b);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sibling),
		cmocka_unit_test(test_pprof_heap),
		cmocka_unit_test(test_pprof_fds),
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_prom),
		cmocka_unit_test(test_html),
	};

	make_snapshot();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
