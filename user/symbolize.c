// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Read code objects out of the target's memory, once each: name, file,
 * first line and line table; then map instruction positions to lines.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "linetable.h"
#include "procmaps.h"
#include "pyleak.h"
#include "symbolize.h"
#include "u64map.h"

#define MAX_STR		1024
#define MAX_LINETABLE	(1 << 20)

/*
 * Memory bounds. A target that keeps compiling code (templates, generated
 * classes, eval) brings new code objects, names and line tables for as
 * long as it runs. Names and files are interned: one copy per distinct
 * text, kept for the symbolizer's life (resolved frames point at them);
 * past MAX_NAME_BYTES a new text is not kept and the frame shows
 * NAME_DROPPED. The per-code-object cache is evicted, least recently
 * used half first, past MAX_CODES entries or MAX_TABLE_BYTES of line
 * tables: an evicted code object still alive is read again if it recurs.
 */
#define MAX_NAME_BYTES	(16 << 20)
#define MAX_CODES	16384
#define MAX_TABLE_BYTES	(32 << 20)
#define NAME_DROPPED	"[name dropped: symbol memory full]"

struct code_ident {
	uint64_t type, name, file, table;
	int32_t firstlineno;
	int32_t pad;
};

struct code_entry {
	uint64_t code;
	struct code_ident id;
	const char *name;	/* interned */
	const char *file;	/* interned */
	uint8_t *table;
	size_t table_len;
	uint64_t used;		/* the lookup tick it was last used at */
	bool valid;
};

struct symbolizer {
	pid_t pid;
	const struct pyver_offsets *o;
	uint64_t code_type;
	uint64_t str_type;
	struct u64map codes;		/* code pointer -> struct code_entry */
	struct u64map names;		/* hash of a text -> char * (interned) */
	uint64_t tick;
	struct symbolizer_stats st;
};

static uint64_t hash_str(const char *p)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	while (*p)
		h = (h ^ (unsigned char)*p++) * 1099511628211ULL;
	return h ? h : 1;
}

/* The interned copy of str (which is freed), or NAME_DROPPED. */
static const char *intern(struct symbolizer *s, char *str)
{
	uint64_t h;
	char **slot;
	int fresh, probe;

	if (!str)
		return NULL;
	h = hash_str(str);
	/* a colliding hash moves on to the next key, a few times */
	for (probe = 0; probe < 8; probe++, h = h + 1 ? h + 1 : 1) {
		slot = u64map__get(&s->names, h);
		if (slot && !strcmp(*slot, str)) {
			free(str);
			return *slot;
		}
		if (slot)
			continue;
		if (s->st.name_bytes + strlen(str) + 1 > MAX_NAME_BYTES)
			break;
		slot = u64map__upsert(&s->names, h, &fresh);
		if (!slot)
			break;
		*slot = str;
		s->st.name_bytes += strlen(str) + 1;
		s->st.names++;
		return str;
	}
	free(str);
	s->st.names_dropped++;
	return NAME_DROPPED;
}

static void unload(struct symbolizer *s, struct code_entry *e)
{
	if (e->table)
		s->st.table_bytes -= e->table_len;
	free(e->table);
	e->name = e->file = NULL;
	e->table = NULL;
	e->table_len = 0;
	e->valid = false;
}

/* Over a bound: drop the least recently used half of the cache. */
static void evict(struct symbolizer *s)
{
	uint64_t key, *keys, *ticks, cut, oldest = s->tick;
	struct code_entry *e;
	size_t i = 0, n = 0, k, below;

	keys = malloc(s->codes.used * sizeof(*keys) + 1);
	ticks = malloc(s->codes.used * sizeof(*ticks) + 1);
	if (!keys || !ticks) {
		free(keys);
		free(ticks);
		return;
	}
	while (u64map__next(&s->codes, &i, &key, (void **)&e)) {
		keys[n] = key;
		ticks[n++] = e->used;
		if (e->used < oldest)
			oldest = e->used;
	}
	/* halfway between the oldest use and now: about the older half */
	cut = oldest + (s->tick - oldest) / 2;
	for (k = 0, below = 0; k < n; k++)
		below += ticks[k] < cut;
	if (!below || below == n)
		cut = s->tick + 1;	/* cannot split: drop all */
	for (k = 0; k < n; k++) {
		e = u64map__get(&s->codes, keys[k]);
		if (!e || e->used >= cut)
			continue;
		unload(s, e);
		u64map__del(&s->codes, keys[k]);
		s->st.codes_evicted++;
	}
	free(keys);
	free(ticks);
}

void symbolizer__set_str_type(struct symbolizer *s, uint64_t str_type)
{
	if (s)
		s->str_type = str_type;
}

struct symbolizer *symbolizer__new(pid_t pid, const struct pyver_offsets *o, uint64_t code_type)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->pid = pid;
	s->o = o;
	s->code_type = code_type;
	if (u64map__init(&s->codes, sizeof(struct code_entry))) {
		free(s);
		return NULL;
	}
	if (u64map__init(&s->names, sizeof(char *))) {
		u64map__free(&s->codes);
		free(s);
		return NULL;
	}
	return s;
}

void symbolizer__free(struct symbolizer *s)
{
	struct code_entry *e;
	char **str;
	uint64_t key;
	size_t i = 0;

	if (!s)
		return;
	while (u64map__next(&s->codes, &i, &key, (void **)&e))
		unload(s, e);
	u64map__free(&s->codes);
	i = 0;
	while (u64map__next(&s->names, &i, &key, (void **)&str))
		free(*str);
	u64map__free(&s->names);
	free(s);
}

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st)
{
	*st = s->st;
	st->codes = s->codes.used;
}

static void put_utf8(char *out, size_t *n, size_t max, uint32_t c)
{
	char b[4];
	size_t k, len;

	if (c < 0x80) {
		b[0] = c;
		len = 1;
	} else if (c < 0x800) {
		b[0] = 0xc0 | (c >> 6);
		b[1] = 0x80 | (c & 0x3f);
		len = 2;
	} else if (c < 0x10000) {
		b[0] = 0xe0 | (c >> 12);
		b[1] = 0x80 | ((c >> 6) & 0x3f);
		b[2] = 0x80 | (c & 0x3f);
		len = 3;
	} else {
		b[0] = 0xf0 | (c >> 18);
		b[1] = 0x80 | ((c >> 12) & 0x3f);
		b[2] = 0x80 | ((c >> 6) & 0x3f);
		b[3] = 0x80 | (c & 0x3f);
		len = 4;
	}
	if (*n + len >= max)
		return;
	for (k = 0; k < len; k++)
		out[(*n)++] = b[k];
}

/* A str object as UTF-8: compact ASCII, or compact with 1/2/4-byte kind. */
static char *read_unicode(struct symbolizer *s, uint64_t obj)
{
	const struct pyver_offsets *o = s->o;
	uint8_t raw[MAX_STR * 4];
	uint64_t length = 0, type = 0;
	uint32_t state = 0;
	size_t kind, i, n = 0;
	bool ascii, compact;
	char *out;

	if (!obj || proc__read(s->pid, obj + o->unicode_length, &length, sizeof(length)) ||
	    proc__read(s->pid, obj + o->unicode_state, &state, sizeof(state)))
		return NULL;
	/* a code object freed and its memory reused while we read can point at
	 * anything: only a str is a name */
	if (s->str_type && (proc__read(s->pid, obj + o->object_type, &type, sizeof(type)) ||
			    type != s->str_type))
		return NULL;
	/* state bits: interned:2, kind:3, compact:1, ascii:1 (3.8-3.13) */
	kind = (state >> 2) & 7;
	compact = (state >> 5) & 1;
	ascii = (state >> 6) & 1;
	if (!compact || (kind != 1 && kind != 2 && kind != 4))
		return NULL;
	if (length > MAX_STR)
		length = MAX_STR;
	if (proc__read(s->pid, obj + (ascii ? o->unicode_ascii_data : o->unicode_compact_data),
		       raw, length * kind))
		return NULL;
	out = malloc(length * 4 + 1);
	if (!out)
		return NULL;
	for (i = 0; i < length; i++) {
		uint32_t c = kind == 1 ? raw[i] : kind == 2 ? ((uint16_t *)raw)[i] : ((uint32_t *)raw)[i];

		/* A file name's undecodable bytes are U+DC80..U+DCFF in a str
		 * (PEP 383 surrogateescape): give back the bytes themselves,
		 * which the output escapes. */
		if (c >= 0xdc80 && c <= 0xdcff) {
			if (n + 1 < length * 4 + 1)
				out[n++] = (char)(c - 0xdc00);
			continue;
		}
		put_utf8(out, &n, length * 4 + 1, c);
	}
	out[n] = '\0';
	return out;
}

static uint8_t *read_bytes(struct symbolizer *s, uint64_t obj, size_t *len)
{
	uint64_t size = 0;
	uint8_t *buf;

	if (!obj || proc__read(s->pid, obj + s->o->varobject_size, &size, sizeof(size)) ||
	    size > MAX_LINETABLE)
		return NULL;
	buf = malloc(size ? size : 1);
	if (buf && size && proc__read(s->pid, obj + s->o->bytes_sval, buf, size)) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}

#define CODE_HEAD 256	/* covers every field used on 3.8-3.13 */

static uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

static int read_ident(struct symbolizer *s, uint64_t code, struct code_ident *id)
{
	const struct pyver_offsets *o = s->o;
	uint32_t name_off = o->code_qualname != PYOFF_NONE ? o->code_qualname : o->code_name;
	uint32_t len = max_u32(max_u32(name_off, o->code_filename),
			       max_u32(o->code_linetable, o->code_firstlineno)) + 8;
	uint8_t head[CODE_HEAD];

	memset(id, 0, sizeof(*id));
	/* Only as far as the last field: the object may end a mapping. */
	if (len > sizeof(head) || proc__read(s->pid, code, head, len))
		return -EFAULT;
	memcpy(&id->type, head + o->object_type, 8);
	memcpy(&id->name, head + name_off, 8);
	memcpy(&id->file, head + o->code_filename, 8);
	memcpy(&id->table, head + o->code_linetable, 8);
	memcpy(&id->firstlineno, head + o->code_firstlineno, 4);
	/* A stack can name memory that is no longer (or never was) a code object. */
	return s->code_type && id->type != s->code_type ? -EINVAL : 0;
}

static void load(struct symbolizer *s, struct code_entry *e)
{
	struct code_ident again;

	if (read_ident(s, e->code, &e->id))
		return;
	e->name = intern(s, read_unicode(s, e->id.name));
	e->file = intern(s, read_unicode(s, e->id.file));
	e->table = read_bytes(s, e->id.table, &e->table_len);
	if (e->table)
		s->st.table_bytes += e->table_len;
	/* Freed (or replaced) while it was read: what was read may be anything. */
	if (read_ident(s, e->code, &again) || memcmp(&again, &e->id, sizeof(again))) {
		e->name = e->file = NULL;
		return;
	}
	/* No code object has an empty name: one read as such was caught
	 * being built or freed, and is read again next time. */
	e->valid = e->name && *e->name && e->file;
}


static struct code_entry *lookup(struct symbolizer *s, uint64_t code)
{
	struct code_entry *e;
	int fresh;

	/* before the upsert: eviction moves the map's values */
	if (!u64map__get(&s->codes, code) &&
	    (s->codes.used >= MAX_CODES || s->st.table_bytes > MAX_TABLE_BYTES))
		evict(s);
	e = u64map__upsert(&s->codes, code, &fresh);
	if (e)
		e->used = ++s->tick;
	if (e && fresh) {
		e->code = code;
		load(s, e);
	} else if (e) {
		struct code_ident now;


		/* Freed and its address reused by another code object, or
		 * caught half-made last time? */
		if (!e->valid || read_ident(s, code, &now) || memcmp(&now, &e->id, sizeof(now))) {
			unload(s, e);
			load(s, e);
		}
	}
	return e;
}

void symbolizer__frame(struct symbolizer *s, uint64_t code, uint32_t pos, struct frame_info *out)
{
	struct code_entry *e = lookup(s, code);
	uint32_t offset;

	out->function = "[unknown]";
	out->file = "[unknown]";
	out->line = -1;
	out->first_line = 0;
	if (!e || !e->valid)
		return;
	out->function = e->name;
	out->file = e->file;
	out->first_line = e->id.firstlineno;
	if (pos == POS_NOT_STARTED || !e->table) {
		out->line = e->id.firstlineno;
		return;
	}
	/* 3.10's f_lasti counts code units; everything else is in bytes. */
	offset = s->o->frame_pos_in_units ? pos * 2 : pos;
	out->line = linetable__line(s->o->linetable, e->table, e->table_len, e->id.firstlineno, offset);
	if (out->line < 0)
		out->line = e->id.firstlineno;
}
