// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/symbolize.c's memory bounds and user/sanitize.c.
 *
 * The symbolizer reads code objects through process_vm_readv; here the
 * "target" is this test itself, holding objects laid out with CPython
 * 3.12's offsets (the pyoffsets table): code objects, their qualname and
 * filename str objects (compact ASCII) and line tables (bytes). A target
 * that keeps compiling code is a stream of fresh code objects, reusing
 * freed addresses, with new names: the symbolizer must stay bounded and
 * count what its bounds dropped.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "pyleak.h"
#include "pyoffsets.h"
#include "sanitize.h"
#include "symbolize.h"

#define CODE_TYPE	0x1234000ULL	/* the "PyCode_Type" every fake code names */

/* One str object: header then ASCII data, as 3.12 lays out a compact ASCII str. */
static void *make_str(const struct pyver_offsets *o, const char *text)
{
	size_t len = strlen(text);
	uint8_t *obj = calloc(1, o->unicode_ascii_data + len + 1);
	uint64_t n = len;
	/* state: compact (bit 5), ascii (bit 6), kind 1 (bits 2-4) */
	uint32_t state = 1 << 5 | 1 << 6 | 1 << 2;

	memcpy(obj + o->unicode_length, &n, 8);
	memcpy(obj + o->unicode_state, &state, 4);
	memcpy(obj + o->unicode_ascii_data, text, len);
	return obj;
}

static void set_code(const struct pyver_offsets *o, uint8_t *code, void *name, void *file,
		     void *table, int32_t firstlineno)
{
	uint64_t type = CODE_TYPE, n = (uintptr_t)name, f = (uintptr_t)file,
		 t = (uintptr_t)table;

	memcpy(code + o->object_type, &type, 8);
	memcpy(code + o->code_qualname, &n, 8);
	memcpy(code + o->code_name, &n, 8);
	memcpy(code + o->code_filename, &f, 8);
	memcpy(code + o->code_linetable, &t, 8);
	memcpy(code + o->code_firstlineno, &firstlineno, 4);
}

static const struct pyver_offsets *offsets(void)
{
	const struct pyver_offsets *o = pyoffsets__lookup(3, 12);

	assert_non_null(o);
	return o;
}

/* Given one code object, when it is resolved, then its name and file come back. */
static void test_resolves(void **state)
{
	const struct pyver_offsets *o = offsets();
	uint8_t *code = calloc(1, 512);
	void *name = make_str(o, "Cache.remember"), *file = make_str(o, "/srv/app/cache.py");
	struct symbolizer *s = symbolizer__new(getpid(), o, CODE_TYPE);
	struct frame_info fi;

	set_code(o, code, name, file, NULL, 42);
	symbolizer__frame(s, (uintptr_t)code, POS_NOT_STARTED, &fi);
	assert_string_equal(fi.function, "Cache.remember");
	assert_string_equal(fi.file, "/srv/app/cache.py");
	assert_int_equal(fi.line, 42);
	symbolizer__free(s);
	free(code);
	free(name);
	free(file);
}

/*
 * Given code objects recompiled again and again at one address with the
 * same names (a template re-rendered), when each is resolved, then one
 * copy of each text is kept, not one per code object.
 */
static void test_same_names_shared(void **state)
{
	const struct pyver_offsets *o = offsets();
	uint8_t *code = calloc(1, 512);
	struct symbolizer *s = symbolizer__new(getpid(), o, CODE_TYPE);
	struct symbolizer_stats st;
	struct frame_info fi;
	int i;

	for (i = 0; i < 20000; i++) {
		void *name = make_str(o, "render"), *file = make_str(o, "<template>");

		/* a fresh code object at the freed one's address */
		set_code(o, code, name, file, NULL, 1 + i % 7);
		symbolizer__frame(s, (uintptr_t)code, POS_NOT_STARTED, &fi);
		assert_string_equal(fi.function, "render");
		free(name);
		free(file);
	}
	symbolizer__stats(s, &st);
	assert_int_equal(st.names, 2);
	assert_true(st.name_bytes < 64);
	symbolizer__free(s);
	free(code);
}

/*
 * Given a stream of fresh code objects with new long names, when they are
 * resolved, then the names kept stop at the bound (16 MiB), the rest are
 * counted as dropped and shown as such, never as another's name.
 */
static void test_names_bounded(void **state)
{
	const struct pyver_offsets *o = offsets();
	uint8_t *code = calloc(1, 512);
	struct symbolizer *s = symbolizer__new(getpid(), o, CODE_TYPE);
	void *file = make_str(o, "generated.py");
	struct symbolizer_stats st;
	struct frame_info fi;
	char text[1001];
	int i;

	for (i = 0; i < 24000; i++) {
		void *name;

		memset(text, 'a' + i % 26, 1000);
		snprintf(text, sizeof(text), "gen_%d_", i);
		text[strlen(text)] = 'x';
		text[1000] = '\0';
		name = make_str(o, text);
		set_code(o, code, name, file, NULL, i + 1);
		symbolizer__frame(s, (uintptr_t)code, POS_NOT_STARTED, &fi);
		assert_true(!strcmp(fi.function, text) ||
			    !strcmp(fi.function, "[name dropped: symbol memory full]"));
		free(name);
	}
	symbolizer__stats(s, &st);
	assert_true(st.name_bytes <= 16 << 20);
	assert_true(st.names_dropped > 0);
	assert_true(st.names + st.names_dropped >= 24000);
	assert_string_equal(fi.function, "[name dropped: symbol memory full]");
	symbolizer__free(s);
	free(code);
	free(file);
}

/*
 * Given more live code objects than the cache holds (16384), when they are
 * all resolved, then the cache is evicted (counted) and stays bounded, and
 * an evicted one still resolves right when it recurs.
 */
static void test_codes_bounded(void **state)
{
	const struct pyver_offsets *o = offsets();
	const int n = 70000;
	uint8_t *codes = calloc(n, 256);
	void *name = make_str(o, "f"), *file = make_str(o, "many.py");
	struct symbolizer *s = symbolizer__new(getpid(), o, CODE_TYPE);
	struct symbolizer_stats st;
	struct frame_info fi;
	int i;

	assert_true(o->code_firstlineno + 8 <= 256);
	for (i = 0; i < n; i++) {
		set_code(o, codes + (size_t)i * 256, name, file, NULL, i + 1);
		symbolizer__frame(s, (uintptr_t)(codes + (size_t)i * 256), POS_NOT_STARTED, &fi);
		assert_int_equal(fi.line, i + 1);
	}
	symbolizer__stats(s, &st);
	assert_true(st.codes <= 16384);
	assert_true(st.codes_evicted > 0);
	symbolizer__frame(s, (uintptr_t)codes, POS_NOT_STARTED, &fi);
	assert_string_equal(fi.function, "f");
	assert_int_equal(fi.line, 1);
	symbolizer__free(s);
	free(codes);
	free(name);
	free(file);
}

static void no_control_bytes(const char *s)
{
	for (; *s; s++)
		assert_false((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f);
}

/* Given names with escape sequences, newlines and invalid UTF-8, the text
 * form has no control byte and says what was there. */
static void test_sanitize_text(void **state)
{
	char buf[256];

	assert_string_equal(sanitize__text("plain/path.py", buf, sizeof(buf)), "plain/path.py");
	assert_string_equal(sanitize__text("\x1b[2J\x1b]0;owned\x07", buf, sizeof(buf)),
			    "\\x1b[2J\\x1b]0;owned\\x07");
	assert_string_equal(sanitize__text("a\nb\tc\rd", buf, sizeof(buf)), "a\\nb\\tc\\rd");
	assert_string_equal(sanitize__text("bad\xff\xfe", buf, sizeof(buf)), "bad\\xff\\xfe");
	/* U+009B (CSI as a C1 control), U+202E (right-to-left override) */
	assert_string_equal(sanitize__text("x\xc2\x9by\xe2\x80\xaez", buf, sizeof(buf)),
			    "x\\u009by\\u202ez");
	/* valid non-ASCII stays */
	assert_string_equal(sanitize__text("caf\xc3\xa9 \xe6\x97\xa5", buf, sizeof(buf)),
			    "caf\xc3\xa9 \xe6\x97\xa5");
	/* a surrogate's encoding and an overlong '/' are not valid UTF-8 */
	assert_string_equal(sanitize__text("\xed\xa0\x80\xc0\xaf", buf, sizeof(buf)),
			    "\\xed\\xa0\\x80\\xc0\\xaf");
	/* cut short: ends in "...", within the buffer */
	sanitize__text("\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b", buf, 12);
	assert_true(strlen(buf) < 12);
	assert_non_null(strstr(buf, "..."));
	no_control_bytes(sanitize__t("\x1b]2;title\x07\n#1 growing forged"));
}

/* Given a non-UTF-8 name, the JSON form keeps it, escaped, as valid JSON. */
static void test_sanitize_json(void **state)
{
	json_t *j = sanitize__json("f\xff\x1b\n.py");
	char *dump;

	assert_non_null(j);
	assert_string_equal(json_string_value(j), "f\\xff\x1b\n.py");
	dump = json_dumps(j, JSON_ENCODE_ANY);
	assert_non_null(dump);
	no_control_bytes(dump);
	free(dump);
	json_decref(j);
	j = sanitize__json(NULL);
	assert_true(json_is_null(j));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolves),
		cmocka_unit_test(test_same_names_shared),
		cmocka_unit_test(test_names_bounded),
		cmocka_unit_test(test_codes_bounded),
		cmocka_unit_test(test_sanitize_text),
		cmocka_unit_test(test_sanitize_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
