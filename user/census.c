// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The heap census, read from outside (user/heapread.c does the reading).
 *
 * What is counted: every object on the collector's lists (the three
 * generations and the permanent one: everything gc.get_objects() returns
 * and what gc.freeze() set aside), and every object reachable from those
 * through containers whose layout is known here: the items of lists,
 * tuples, dicts and sets, an instance's attributes (its __dict__ or its
 * inline values), a cell's contents, a function's closure and defaults,
 * a bound method's function and self, a module's and a class's dict.
 * Strings, ints, floats and bytes held in containers are counted that way;
 * objects held only by C code, by frames, by code objects or by the slots
 * of C types are not.
 *
 * The heap moves while it is read (unless --census-pause): every pointer
 * must lie in a readable mapping and be aligned, every ob_type must be a
 * type object whose own type is `type` or a metatype of it, lengths are
 * bounded, a list walk stops at an object it has seen (a cycle made by a
 * concurrent move) and each failed check is counted, never followed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "census.h"
#include "elffile.h"
#include "heapread.h"
#include "log.h"
#include "pyleak.h"
#include "pymalloc.h"
#include "python.h"
#include "symbolize.h"
#include "u64map.h"

#define NSAMPLE		12	/* instances kept per type to follow to a root */
#define NBIG		8	/* largest instances kept per type */
#define HIST		4	/* censuses in the growth window */
#define WALK_CAP_S	30.0	/* a census stops after this long, and says so */
#define CACHE_BYTES	(64u << 20)
#define MAX_ITEMS	(1u << 26)	/* a longer container is taken as garbage */
#define HOLDER_NODES	20000	/* referrers visited per instance followed */
#define HOLDER_DEPTH	64
#define GARBAGE_TYPES	1000	/* gc.garbage items whose types are read */
#define BYTES_GROWTH_MIN 4096.0	/* bytes/s: below it a type's bytes merely wobble */

/*
 * Type flags with one value from 3.8 to 3.13 (Include/object.h); those
 * that changed (managed dicts, inline values) are in pyoffsets.c.
 */
#define TPF_MANAGED_WEAKREF	(1ul << 3)	/* 3.12+: with MANAGED_DICT, Py_TPFLAGS_PREHEADER */
#define TPF_HEAPTYPE		(1ul << 9)
#define TPF_READY		(1ul << 12)
#define TPF_HAVE_GC		(1ul << 14)
#define TPF_LONG_SUBCLASS	(1ul << 24)
#define TPF_LIST_SUBCLASS	(1ul << 25)
#define TPF_TUPLE_SUBCLASS	(1ul << 26)
#define TPF_BYTES_SUBCLASS	(1ul << 27)
#define TPF_UNICODE_SUBCLASS	(1ul << 28)
#define TPF_DICT_SUBCLASS	(1ul << 29)
#define TPF_TYPE_SUBCLASS	(1ul << 31)

/* PyASCIIObject.state: kind bits 2-4, compact bit 5, ascii bit 6, the
 * same from 3.8 to 3.13 (design/cpython-offsets/table.md). */
#define STATE_KIND(s)		(((s) >> 2) & 7)
#define STATE_COMPACT(s)	(((s) >> 5) & 1)
#define STATE_ASCII(s)		(((s) >> 6) & 1)

/* PySet_MINSIZE: a set this small keeps its table inside the object. */
#define SET_MINSIZE		8

/* Visited-object flags. */
#define V_PRESENT	1	/* counted in this census */
#define V_LISTED	2	/* met on a collector list */
#define V_EXPANDED	4	/* its referents were read */
#define V_NEW		8	/* not there at the census before (and there was one) */

enum ckind {
	K_OTHER, K_LIST, K_TUPLE, K_DICT, K_SET, K_STR, K_BYTES, K_LONG, K_CELL,
	K_FUNC, K_MODULE, K_TYPE, K_METHOD, K_CODE,
};

struct ctype {
	uint64_t addr;
	char name[CENSUS_NAME], module[CENSUS_NAME];
	uint64_t flags, basicsize, itemsize, cached_keys, dict;
	int64_t dictoffset;
	enum ckind kind;
	bool bad, instance;
	uint32_t stamp;			/* census that validated it */
	uint64_t count, bytes;
	uint64_t samples[NSAMPLE], nseen;
	uint64_t fresh[NSAMPLE], nfresh;	/* of those not there at the last census */
	uint64_t surv[NSAMPLE], nsurv;		/* of those new at the last census, still here */
	uint64_t hcount[HIST], hbytes[HIST];
	uint32_t hstamp[HIST];
	double gcount, gbytes;
	bool growing, watched;
	bool bytes_growing;		/* growing in bytes, not in number */
	uint64_t big[NBIG], big_size[NBIG];	/* its largest objects this census */
	uint64_t pbig[NBIG], pbig_size[NBIG];	/* and the last census's */
};

struct edge {
	uint64_t ref, from;
	uint32_t slot;
};

/* A thread's frame local, as a root: pseudo-address FROOT + index. */
struct froot {
	char var[64], func[96], file[160];
	int line;
	uint64_t thread;
};
#define FROOT		16	/* below any address an object can have */
#define MAX_FROOTS	4000

/* A root container's length in earlier censuses. */
struct rootlen {
	int64_t len, prev_len;
	double t, prev_t;
};

/*
 * The objects of one census: four flag bits per 16 bytes of the target's
 * address space, in blocks of 1 MiB made as objects are met. An object is
 * at least 16 bytes, so no two start in one 16-byte granule (pymalloc
 * aligns to 16; static objects to 8). 10 M objects in 700 MiB of heap
 * take 22 MiB here, where a hash map of addresses took 380 MiB and most
 * of the census's time in cache misses.
 */
#define OBJSET_SHIFT	20
#define OBJSET_BLOCK	((1u << OBJSET_SHIFT) / 16 / 2)	/* bytes: a nibble a granule */

struct objset {
	struct u64map blocks;		/* addr >> OBJSET_SHIFT -> uint8_t * */
	uint64_t last_key;
	uint8_t *last;
};

static void objset__free(struct objset *s)
{
	size_t i = 0;
	uint64_t k;
	void *v;

	while (s->blocks.cap && u64map__next(&s->blocks, &i, &k, &v))
		free(*(uint8_t **)v);
	u64map__free(&s->blocks);
	memset(s, 0, sizeof(*s));
}

static int objset__init(struct objset *s)
{
	memset(s, 0, sizeof(*s));
	return u64map__init(&s->blocks, sizeof(uint8_t *));
}

static uint8_t *objset__block(struct objset *s, uint64_t a, bool make)
{
	uint64_t key = (a >> OBJSET_SHIFT) + 1;
	uint8_t **b;
	int fresh;

	if (s->last && s->last_key == key)
		return s->last;
	if (!s->blocks.cap)
		return NULL;
	b = make ? u64map__upsert(&s->blocks, key, &fresh) : u64map__get(&s->blocks, key);
	if (!b)
		return NULL;
	if (!*b) {
		*b = calloc(1, OBJSET_BLOCK);
		if (!*b)
			return NULL;
	}
	s->last_key = key;
	s->last = *b;
	return *b;
}

static unsigned int objset__get(struct objset *s, uint64_t a)
{
	uint8_t *b = objset__block(s, a, false);
	uint32_t g = (a & ((1u << OBJSET_SHIFT) - 1)) >> 4;

	return b ? (b[g >> 1] >> ((g & 1) * 4)) & 15 : 0;
}

/* Set bits; false when out of memory. */
static bool objset__or(struct objset *s, uint64_t a, unsigned int bits)
{
	uint8_t *b = objset__block(s, a, true);
	uint32_t g = (a & ((1u << OBJSET_SHIFT) - 1)) >> 4;

	if (!b)
		return false;
	b[g >> 1] |= bits << ((g & 1) * 4);
	return true;
}

/* Where validation failed, by source line: for -v. */
#define BAD_SITES	16
#define BAD(c)		bad_at((c), __LINE__)

struct census {
	struct census_opts o;
	/*
	 * A census runs in its own thread (census__start) so that the main
	 * loop keeps symbolizing new stacks while the heap is read; lock
	 * guards everything below against census__take, census__type_at and
	 * the printers. The printers read only r.
	 */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running, stop;
	uint32_t published;		/* censuses finished (under out) */
	const struct pyproc *tp;
	int bad_line[BAD_SITES];
	uint64_t bad_count[BAD_SITES];
	struct heapread h;
	bool h_open;
	uint32_t n;			/* censuses taken */
	double last_t;
	double ht[HIST];		/* time of census k at k % HIST */
	uint32_t hvalid[HIST];
	int64_t hrss[HIST];
	uint64_t hlive[HIST];

	/* the target's well-known objects */
	const struct pyproc *p;
	bool syms;
	uint64_t t_type, t_list, t_tuple, t_dict, t_set, t_frozenset, t_str, t_bytes, t_long,
		 t_bool, t_cell, t_func, t_module, t_method, t_code, set_dummy;
	struct pymalloc_syms pm_syms;	/* obmalloc.c's statics (<=3.11) */

	struct symbolizer *sym;		/* frames' lines, for frame locals */
	struct ctype **types;		/* each allocated once: pointers stay valid */
	int ntypes, captypes;
	struct u64map typemap;		/* type address -> index + 1 (uint32_t) */
	struct { uint64_t addr; struct ctype *t; } tcache[256];	/* this census's, by address */
	struct u64map rootlens;		/* root container -> struct rootlen */

	/* one census */
	struct objset visited;		/* object -> V_* flags */
	struct objset prev;		/* the last census's */
	bool have_prev;
	uint64_t *pending;
	size_t npending, cappending;
	struct edge *edges;
	size_t nedges, capedges;
	bool edges_on, edges_full;
	struct froot *froots;
	int nfroots;
	uint8_t *scratch;
	size_t capscratch;
	double t0;
	uint64_t objects, bytes, bad, steps;
	bool capped;

	struct census_result work;	/* being taken */
	pthread_mutex_t out;		/* guards r, what the printers show */
	struct census_result r;		/* the latest */
	bool syms_ready;		/* (under out) the t_* addresses are final */

	/*
	 * census__type_at's reader: a census of its own that never walks,
	 * with its own heap reader, type cache and lock (its lock field), so
	 * that a report never waits on a census walk for lock. NULL in itself.
	 */
	struct census *typer;
	int types_err;			/* (typer) of the last census__types_begin */
};

static void bad_at(struct census *c, int line);

static double absd(double v)
{
	return v < 0 ? -v : v;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct census *census_alloc(const struct census_opts *o)
{
	struct census *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->o = *o;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->out, NULL);
	pthread_cond_init(&c->wake, NULL);
	if (!c->o.max_objects)
		c->o.max_objects = CENSUS_DEFAULT_MAX_OBJECTS;
	if (c->o.top <= 0)
		c->o.top = 10;
	if (c->o.holders <= 0)
		c->o.holders = 5;
	if (u64map__init(&c->typemap, sizeof(uint32_t)) ||
	    u64map__init(&c->rootlens, sizeof(struct rootlen))) {
		census__free(c);
		return NULL;
	}
	return c;
}

struct census *census__new(const struct census_opts *o)
{
	struct census *c = census_alloc(o);

	if (c && !(c->typer = census_alloc(o))) {
		census__free(c);
		return NULL;
	}
	if (c)
		c->typer->types_err = -ENOENT;
	return c;
}

void census__free(struct census *c)
{
	if (!c)
		return;
	census__stop(c);
	if (c->h_open)
		heapread__close(&c->h);
	u64map__free(&c->typemap);
	u64map__free(&c->rootlens);
	objset__free(&c->visited);
	objset__free(&c->prev);
	symbolizer__free(c->sym);
	while (c->ntypes)
		free(c->types[--c->ntypes]);
	free(c->types);
	free(c->pending);
	free(c->edges);
	free(c->froots);
	free(c->scratch);
	free(c->r.types);
	free(c->r.holders);
	free(c->work.types);
	free(c->work.holders);
	census__free(c->typer);
	pthread_mutex_destroy(&c->out);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const struct census_result *census__last(const struct census *c)
{
	return &c->r;
}

static void bad_at(struct census *c, int line)
{
	int i;

	c->bad++;
	for (i = 0; i < BAD_SITES; i++) {
		if (c->bad_line[i] == line || !c->bad_line[i]) {
			c->bad_line[i] = line;
			c->bad_count[i]++;
			return;
		}
	}
}

/* ---- reading ----------------------------------------------------------- */

static const struct pyver_offsets *OFF(const struct census *c)
{
	return &c->p->off;
}

static bool plausible(const struct census *c, uint64_t a)
{
	return a >= 4096 && !(a & 7) && heapread__mapped(&c->h, a, 16);
}

static int rd(struct census *c, uint64_t a, void *buf, size_t len)
{
	return heapread__read(&c->h, a, buf, len);
}

static uint64_t rd64(struct census *c, uint64_t a, bool *ok)
{
	uint64_t v = 0;

	if (heapread__u64(&c->h, a, &v))
		*ok = false;
	return v;
}

static uint8_t *scratch(struct census *c, size_t len)
{
	if (len > c->capscratch) {
		uint8_t *n = realloc(c->scratch, len);

		if (!n)
			return NULL;
		c->scratch = n;
		c->capscratch = len;
	}
	return c->scratch;
}

/* Append s as UTF-8 for code point cp. */
static size_t put_utf8(char *out, size_t room, uint32_t cp)
{
	if (cp < 0x80 && room > 1) {
		out[0] = cp;
		return 1;
	}
	if (cp < 0x800 && room > 2) {
		out[0] = 0xc0 | cp >> 6;
		out[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000 && room > 3) {
		out[0] = 0xe0 | cp >> 12;
		out[1] = 0x80 | (cp >> 6 & 0x3f);
		out[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	if (cp < 0x110000 && room > 4) {
		out[0] = 0xf0 | cp >> 18;
		out[1] = 0x80 | (cp >> 12 & 0x3f);
		out[2] = 0x80 | (cp >> 6 & 0x3f);
		out[3] = 0x80 | (cp & 0x3f);
		return 4;
	}
	return 0;
}

/* A str object's text (compact strings only: every str made since 3.3
 * except by the legacy PyUnicode_FromUnicode API). -1 if it is not one. */
static int read_str(struct census *c, uint64_t s, char *buf, size_t len)
{
	const struct pyver_offsets *o = OFF(c);
	uint64_t type, n;
	uint32_t state;
	uint8_t data[256];
	size_t i, w = 0, kind, take;
	bool ok = true;

	buf[0] = '\0';
	if (!plausible(c, s))
		return -1;
	type = rd64(c, s + o->object_type, &ok);
	n = rd64(c, s + o->unicode_length, &ok);
	if (!ok || type != c->t_str || rd(c, s + o->unicode_state, &state, 4) || n > (1u << 30))
		return -1;
	if (!STATE_COMPACT(state))
		return -1;
	kind = STATE_KIND(state);
	if (kind != 1 && kind != 2 && kind != 4)
		return -1;
	take = n < (sizeof(data) / kind) ? n : sizeof(data) / kind;
	if (rd(c, s + (STATE_ASCII(state) ? o->unicode_ascii_data : o->unicode_compact_data),
	       data, take * kind))
		return -1;
	for (i = 0; i < take && w + 5 < len; i++) {
		uint32_t cp = kind == 1 ? data[i] : kind == 2 ? ((uint16_t *)data)[i] :
			      ((uint32_t *)data)[i];

		w += put_utf8(buf + w, len - w, cp < 0x20 ? '?' : cp);
	}
	buf[w] = '\0';
	return 0;
}

/* ---- types ------------------------------------------------------------- */

static void resolve_symbols(struct census *c)
{
	static const struct {
		const char *name;
		size_t off;
	} syms[] = {
#define S(n, f) { n, offsetof(struct census, f) }
		S("PyType_Type", t_type), S("PyList_Type", t_list), S("PyTuple_Type", t_tuple),
		S("PyDict_Type", t_dict), S("PySet_Type", t_set), S("PyFrozenSet_Type", t_frozenset),
		S("PyUnicode_Type", t_str), S("PyBytes_Type", t_bytes), S("PyLong_Type", t_long),
		S("PyBool_Type", t_bool), S("PyCell_Type", t_cell), S("PyFunction_Type", t_func),
		S("PyModule_Type", t_module), S("PyMethod_Type", t_method), S("PyCode_Type", t_code),
#undef S
	};
	/* elf__symbol only reads; the pyproc's file stays the caller's */
	struct elf_file *ef = (struct elf_file *)&c->p->elf;
	size_t i;

	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		uint64_t v;

		*(uint64_t *)((char *)c + syms[i].off) =
			elf__symbol(ef, syms[i].name, &v, NULL) ? 0 : v + c->p->bias;
	}
	pymalloc__resolve(c->p, &c->pm_syms);
	/* _PySet_Dummy is a pointer to the static dummy key of deleted entries */
	{
		uint64_t v, d = 0;

		if (!elf__symbol(ef, "_PySet_Dummy", &v, NULL) &&
		    !proc__read(c->p->pid, v + c->p->bias, &d, sizeof(d)))
			c->set_dummy = d;
	}
	c->syms = c->t_type && c->t_str && c->t_dict;
}

/* Look key (a str) up in a dict; 0 when absent. */
static uint64_t dict_get_str(struct census *c, uint64_t d, const char *key);

static void split_static_name(struct ctype *t, const char *tp_name)
{
	const char *dot = strrchr(tp_name, '.');

	if (dot) {
		snprintf(t->module, sizeof(t->module), "%.*s", (int)(dot - tp_name), tp_name);
		snprintf(t->name, sizeof(t->name), "%s", dot + 1);
	} else {
		snprintf(t->module, sizeof(t->module), "builtins");
		snprintf(t->name, sizeof(t->name), "%s", tp_name);
	}
}

static bool is_set_type(struct census *c, uint64_t t, uint64_t base)
{
	return t == c->t_set || t == c->t_frozenset || base == c->t_set || base == c->t_frozenset;
}

/* Fill t from the type object at a; false if it is not one. */
static bool read_type(struct census *c, uint64_t a, struct ctype *t)
{
	const struct pyver_offsets *o = OFF(c);
	uint64_t meta, name_p, base;
	char tp_name[CENSUS_NAME];
	bool ok = true;

	if (!plausible(c, a))
		return false;
	meta = rd64(c, a + o->object_type, &ok);
	if (!ok || !meta)
		return false;
	if (meta != c->t_type) {
		/* a metaclass: itself a type whose type is `type` (or deeper) */
		uint64_t mm = rd64(c, meta + o->object_type, &ok);
		uint64_t mflags = rd64(c, meta + o->type_flags, &ok);

		if (!ok || !(mflags & TPF_TYPE_SUBCLASS))
			return false;
		if (mm != c->t_type && rd64(c, mm + o->object_type, &ok) != c->t_type)
			return false;
	}
	memset(t, 0, sizeof(*t));
	t->addr = a;
	name_p = rd64(c, a + o->type_name, &ok);
	t->basicsize = rd64(c, a + o->type_basicsize, &ok);
	t->itemsize = rd64(c, a + o->type_itemsize, &ok);
	t->flags = rd64(c, a + o->type_flags, &ok);
	base = rd64(c, a + o->type_base, &ok);
	t->dict = rd64(c, a + o->type_dict, &ok);
	t->dictoffset = (int64_t)rd64(c, a + o->type_dictoffset, &ok);
	if (!ok || !(t->flags & TPF_READY) || t->basicsize < 16 || t->basicsize > (1u << 20) ||
	    t->itemsize > (1u << 16))
		return false;
	if (!name_p || proc__read_str(c->p->pid, name_p, tp_name, sizeof(tp_name)) || !tp_name[0])
		return false;
	split_static_name(t, tp_name);
	if (t->flags & TPF_HEAPTYPE) {
		uint64_t q = rd64(c, a + o->heaptype_qualname, &ok), m;
		char buf[CENSUS_NAME];

		t->cached_keys = rd64(c, a + o->heaptype_cached_keys, &ok);
		if (ok && !read_str(c, q, buf, sizeof(buf)) && buf[0])
			snprintf(t->name, sizeof(t->name), "%s", buf);
		m = t->dict ? dict_get_str(c, t->dict, "__module__") : 0;
		if (m && !read_str(c, m, buf, sizeof(buf)) && buf[0])
			snprintf(t->module, sizeof(t->module), "%s", buf);
	}
	if (t->flags & TPF_TYPE_SUBCLASS)
		t->kind = K_TYPE;
	else if (t->flags & TPF_LIST_SUBCLASS)
		t->kind = K_LIST;
	else if (t->flags & TPF_TUPLE_SUBCLASS)
		t->kind = K_TUPLE;
	else if (t->flags & TPF_DICT_SUBCLASS)
		t->kind = K_DICT;
	else if (t->flags & TPF_UNICODE_SUBCLASS)
		t->kind = K_STR;
	else if (t->flags & TPF_BYTES_SUBCLASS)
		t->kind = K_BYTES;
	else if (t->flags & TPF_LONG_SUBCLASS)
		t->kind = K_LONG;
	else if (is_set_type(c, a, base))
		t->kind = K_SET;
	else if (a == c->t_cell)
		t->kind = K_CELL;
	else if (a == c->t_func)
		t->kind = K_FUNC;
	else if (a == c->t_module || base == c->t_module)
		t->kind = K_MODULE;
	else if (a == c->t_method)
		t->kind = K_METHOD;
	else if (a == c->t_code)
		t->kind = K_CODE;
	/* attributes: a heap type's instances keep them in a dict or inline */
	t->instance = (t->flags & TPF_HEAPTYPE) && t->kind != K_TYPE &&
		      (t->dictoffset > 0 ||
		       (o->tpflag_managed_dict && (t->flags & o->tpflag_managed_dict)) ||
		       (o->tpflag_inline_values && (t->flags & o->tpflag_inline_values)));
	return true;
}

/* The census type for a type address, read once per census; NULL if the
 * address is not a type object. */
static struct ctype *get_type_slow(struct census *c, uint64_t a);

/* Most objects share a few dozen types: a small cache before the map. */
static struct ctype *get_type(struct census *c, uint64_t a)
{
	unsigned int k = (a >> 5) & 255;
	struct ctype *t;

	if (!a)
		return NULL;
	if (c->tcache[k].addr == a && c->tcache[k].t->stamp == c->n && !c->tcache[k].t->bad)
		return c->tcache[k].t;
	t = get_type_slow(c, a);
	if (t) {
		c->tcache[k].addr = a;
		c->tcache[k].t = t;
	}
	return t;
}

static struct ctype *get_type_slow(struct census *c, uint64_t a)
{
	uint32_t *ix = u64map__get(&c->typemap, a);
	struct ctype tmp, *t;
	int fresh;

	if (ix) {
		t = c->types[*ix - 1];
		if (t->stamp == c->n)
			return t->bad ? NULL : t;
		/* a type can be freed and its address reused by another */
		if (!read_type(c, a, &tmp)) {
			t->bad = true;
			t->stamp = c->n;
			return NULL;
		}
		if (strcmp(tmp.name, t->name) || strcmp(tmp.module, t->module) || t->bad) {
			memset(t->hstamp, 0, sizeof(t->hstamp));
			t->nseen = 0;
		}
		tmp.watched = t->watched && !strcmp(tmp.name, t->name);
		memcpy(tmp.pbig, t->pbig, sizeof(tmp.pbig));
		memcpy(tmp.pbig_size, t->pbig_size, sizeof(tmp.pbig_size));
		memcpy(tmp.hcount, t->hcount, sizeof(tmp.hcount));
		memcpy(tmp.hbytes, t->hbytes, sizeof(tmp.hbytes));
		memcpy(tmp.hstamp, t->hstamp, sizeof(tmp.hstamp));
		*t = tmp;
		t->stamp = c->n;
		return t;
	}
	if (!read_type(c, a, &tmp))
		return NULL;	/* not cached: garbage addresses are many and rare */
	if (c->ntypes == c->captypes) {
		int cap = c->captypes ? c->captypes * 2 : 1024;
		struct ctype **n = realloc(c->types, cap * sizeof(*n));

		if (!n)
			return NULL;
		c->types = n;
		c->captypes = cap;
	}
	t = malloc(sizeof(*t));
	ix = t ? u64map__upsert(&c->typemap, a, &fresh) : NULL;
	if (!ix) {
		free(t);
		return NULL;
	}
	c->types[c->ntypes++] = t;
	*t = tmp;
	t->stamp = c->n;
	*ix = c->ntypes;
	return t;
}

/* The type of the object at a, validated. */
static struct ctype *type_of(struct census *c, uint64_t a)
{
	bool ok = true;
	uint64_t t;

	if (!plausible(c, a))
		return NULL;
	t = rd64(c, a + OFF(c)->object_type, &ok);
	return ok ? get_type(c, t) : NULL;
}

/* ---- containers -------------------------------------------------------- */

typedef void (*item_fn)(struct census *c, void *arg, uint64_t from, uint64_t ref, uint32_t slot);

struct dict_view {
	uint64_t n;			/* entries to look at */
	uint64_t entries, esize;	/* key at +0 (+8 with a hash first) */
	bool hashed;
	uint64_t values;		/* split or inline values array, or 0 */
	int64_t keys_bytes;		/* for the size; -1 when shared */
};

/* Where a keys object's entries are (Objects/dictobject.c per version). */
static bool keys_view(struct census *c, uint64_t keys, struct dict_view *v)
{
	const struct pyver_offsets *o = OFF(c);
	uint8_t hdr[48];
	uint64_t size, refcnt, nentries, idx_bytes;

	if (!plausible(c, keys) || rd(c, keys, hdr, sizeof(hdr)))
		return false;
	memcpy(&refcnt, hdr, 8);
	memcpy(&nentries, hdr + o->dictkeys_nentries, 8);
	if (o->dictkeys_size != PYOFF_NONE) {
		memcpy(&size, hdr + o->dictkeys_size, 8);
		/* size 1: the shared empty keys of {} (Py_EMPTY_KEYS, <=3.10) */
		if (size > (1ull << 32) || (size & (size - 1)) || (size < 8 && (size != 1 || nentries)))
			return false;
		idx_bytes = size * (size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffull ? 4 : 8);
		v->hashed = true;
	} else {
		uint8_t log2 = hdr[o->dictkeys_log2_size], log2i = hdr[o->dictkeys_log2_index_bytes];

		/* log2 0: the shared empty keys of {} (Py_EMPTY_KEYS, 3.11+) */
		if (log2 > 32 || log2i > 35 || log2i < log2 || (log2 < 3 && nentries))
			return false;
		size = 1ull << log2;
		idx_bytes = 1ull << log2i;
		v->hashed = hdr[o->dictkeys_kind] == 0;	/* DICT_KEYS_GENERAL */
	}
	if (nentries > size)
		return false;
	v->n = nentries;
	v->esize = v->hashed ? 24 : 16;
	v->entries = keys + o->dictkeys_indices + idx_bytes;
	/* USABLE_FRACTION(size) entries follow the indices */
	v->keys_bytes = refcnt == 1 ? (int64_t)(o->dictkeys_indices + idx_bytes +
						(size * 2 / 3) * v->esize) : -1;
	return true;
}

static bool dict_view(struct census *c, uint64_t d, struct dict_view *v)
{
	const struct pyver_offsets *o = OFF(c);
	bool ok = true;
	uint64_t keys = rd64(c, d + o->dict_keys, &ok), values = rd64(c, d + o->dict_values, &ok);

	if (!ok || !keys_view(c, keys, v))
		return false;
	v->values = 0;
	if (values) {
		if (!plausible(c, values))
			return false;
		v->values = values + (o->dictvalues_values == PYOFF_NONE ? 0 : o->dictvalues_values);
	}
	return true;
}

/* Each (key, value) of a view: fn(key) and fn(value) with the entry index. */
static int view_items(struct census *c, const struct dict_view *v, uint64_t from, item_fn fn,
		      void *arg, bool keys_too)
{
	uint8_t *e, *vals = NULL;
	uint64_t i;

	if (!v->n)
		return 0;
	e = scratch(c, v->n * (v->esize + 8));
	if (!e)
		return -ENOMEM;
	if (rd(c, v->entries, e, v->n * v->esize))
		return -EFAULT;
	if (v->values) {
		vals = e + v->n * v->esize;
		if (rd(c, v->values, vals, v->n * 8))
			return -EFAULT;
	}
	for (i = 0; i < v->n; i++) {
		uint8_t *ent = e + i * v->esize;
		uint64_t key, val;

		memcpy(&key, ent + (v->hashed ? 8 : 0), 8);
		if (vals)
			memcpy(&val, vals + i * 8, 8);
		else
			memcpy(&val, ent + (v->hashed ? 16 : 8), 8);
		if (!key)
			continue;	/* a deleted entry */
		if (keys_too)
			fn(c, arg, from, key, (uint32_t)i | 0x80000000u);
		if (val)
			fn(c, arg, from, val, (uint32_t)i);
	}
	return 0;
}

struct find_arg {
	const char *key;
	uint64_t key_addr, want;	/* dict_get_str / key_of */
	uint64_t found;
	uint32_t slot;
	bool hit;
};

static void find_value(struct census *c, void *arg, uint64_t from, uint64_t ref, uint32_t slot)
{
	struct find_arg *f = arg;
	char buf[CENSUS_NAME];

	(void)from;
	if (f->hit)
		return;
	if (slot & 0x80000000u) {
		if (!read_str(c, ref, buf, sizeof(buf)) && !strcmp(buf, f->key))
			f->key_addr = ref, f->slot = slot & 0x7fffffffu;
	} else if (f->key_addr && slot == f->slot) {
		f->found = ref;
		f->hit = true;
	}
}

static uint64_t dict_get_str(struct census *c, uint64_t d, const char *key)
{
	struct find_arg f = { .key = key };
	struct dict_view v;

	if (!plausible(c, d) || !dict_view(c, d, &v) || v.n > 4096)
		return 0;
	/* keys come before their value in view_items' order */
	view_items(c, &v, d, find_value, &f, true);
	return f.found;
}

/* Attributes of an instance: the dict pointer or the values array. */
struct attrs {
	uint64_t dict;
	struct dict_view v;		/* inline/split values with the class's keys */
	bool values;
	int64_t extra_bytes;		/* inline values counted by sys.getsizeof (3.13) */
};

static bool instance_attrs(struct census *c, uint64_t obj, const struct ctype *t, struct attrs *a)
{
	const struct pyver_offsets *o = OFF(c);
	bool ok = true;
	uint64_t values = 0;

	memset(a, 0, sizeof(*a));
	switch (o->managed_dict) {
	case PYOFF_DICT_AT_OFFSET:
		if (t->dictoffset > 0)
			a->dict = rd64(c, obj + t->dictoffset, &ok);
		break;
	case PYOFF_DICT_VALUES_3_11:
		if (t->flags & o->tpflag_managed_dict) {
			values = rd64(c, obj - 32, &ok);
			a->dict = rd64(c, obj - 24, &ok);
		} else if (t->dictoffset > 0) {
			a->dict = rd64(c, obj + t->dictoffset, &ok);
		}
		break;
	case PYOFF_DICT_OR_VALUES:
		if (t->flags & o->tpflag_managed_dict) {
			uint64_t dv = rd64(c, obj - 24, &ok);

			/* _PyDictOrValues: values are stored minus one, tagged odd */
			if (dv & 1)
				values = dv + 1;
			else
				a->dict = dv;
		} else if (t->dictoffset > 0) {
			a->dict = rd64(c, obj + t->dictoffset, &ok);
		}
		break;
	case PYOFF_INLINE_VALUES:
		if (t->flags & o->tpflag_managed_dict)
			a->dict = rd64(c, obj - 24, &ok);
		else if (t->dictoffset > 0)
			a->dict = rd64(c, obj + t->dictoffset, &ok);
		if ((t->flags & o->tpflag_inline_values) && !a->dict) {
			uint8_t hdr[4];

			if (!rd(c, obj + t->basicsize, hdr, sizeof(hdr))) {
				/* PyDictValues {capacity, size, embedded, valid} */
				a->extra_bytes = 8 + hdr[0] * 8 + ((hdr[0] + 7) & ~7);
				if (hdr[o->dictvalues_valid])
					values = obj + t->basicsize;
			}
		}
		break;
	}
	if (!ok)
		return false;
	if (values && t->cached_keys && keys_view(c, t->cached_keys, &a->v)) {
		a->v.values = values + (o->dictvalues_values == PYOFF_NONE ? 0 : o->dictvalues_values);
		a->values = plausible(c, a->v.values) || !a->v.n;
	}
	return true;
}

/* Every direct referent of obj this census follows, with its slot. */
static void referents(struct census *c, uint64_t obj, const struct ctype *t, item_fn fn, void *arg)
{
	const struct pyver_offsets *o = OFF(c);
	bool ok = true;
	uint64_t n, items, i;

	switch (t->kind) {
	case K_LIST:
	case K_TUPLE:
		n = rd64(c, obj + o->varobject_size, &ok);
		items = t->kind == K_LIST ? rd64(c, obj + o->list_item, &ok) : obj + o->tuple_item;
		if (!ok || n > MAX_ITEMS || (n && !plausible(c, items))) {
			BAD(c);
			break;
		}
		if (n) {
			/* a buffer of our own: fn reads the target too */
			uint64_t *v = malloc(n * 8);

			if (!v)
				break;
			if (rd(c, items, v, n * 8)) {
				BAD(c);
				free(v);
				break;
			}
			for (i = 0; i < n; i++)
				if (v[i])
					fn(c, arg, obj, v[i], (uint32_t)i);
			free(v);
		}
		break;
	case K_DICT: {
		struct dict_view v;
		uint8_t *copy;
		size_t len;

		if (!dict_view(c, obj, &v)) {
			BAD(c);
			break;
		}
		/* view_items uses the scratch buffer; fn may too: work on a copy */
		len = v.n * (v.esize + 8);
		if (!v.n)
			break;
		copy = malloc(len);
		if (!copy)
			break;
		if (rd(c, v.entries, copy, v.n * v.esize) ||
		    (v.values && rd(c, v.values, copy + v.n * v.esize, v.n * 8))) {
			BAD(c);
			free(copy);
			break;
		}
		for (i = 0; i < v.n; i++) {
			uint8_t *ent = copy + i * v.esize;
			uint64_t key, val;

			memcpy(&key, ent + (v.hashed ? 8 : 0), 8);
			if (v.values)
				memcpy(&val, copy + v.n * v.esize + i * 8, 8);
			else
				memcpy(&val, ent + (v.hashed ? 16 : 8), 8);
			if (!key)
				continue;
			fn(c, arg, obj, key, (uint32_t)i | 0x80000000u);
			if (val)
				fn(c, arg, obj, val, (uint32_t)i);
		}
		free(copy);
		break;
	}
	case K_SET: {
		uint64_t mask = rd64(c, obj + o->set_mask, &ok), table = rd64(c, obj + o->set_table, &ok);
		uint64_t *e;

		if (!ok || mask >= MAX_ITEMS || ((mask + 1) & mask) || !plausible(c, table)) {
			BAD(c);
			break;
		}
		e = malloc((mask + 1) * o->setentry_size);
		if (!e)
			break;
		if (rd(c, table, e, (mask + 1) * o->setentry_size)) {
			BAD(c);
			free(e);
			break;
		}
		for (i = 0; i <= mask; i++) {
			uint64_t key = e[i * (o->setentry_size / 8)];

			if (key && key != c->set_dummy)
				fn(c, arg, obj, key, (uint32_t)i);
		}
		free(e);
		break;
	}
	case K_CELL:
		n = rd64(c, obj + o->cell_ref, &ok);
		if (ok && n)
			fn(c, arg, obj, n, 0);
		break;
	case K_FUNC: {
		uint64_t f[3] = { rd64(c, obj + o->func_closure, &ok),
				  rd64(c, obj + o->func_defaults, &ok),
				  rd64(c, obj + o->func_kwdefaults, &ok) };

		for (i = 0; ok && i < 3; i++)
			if (f[i])
				fn(c, arg, obj, f[i], (uint32_t)i);
		break;
	}
	case K_METHOD: {
		uint64_t f = rd64(c, obj + o->method_func, &ok), s = rd64(c, obj + o->method_self, &ok);

		if (ok && f)
			fn(c, arg, obj, f, 0);
		if (ok && s)
			fn(c, arg, obj, s, 1);
		break;
	}
	case K_MODULE:
		n = rd64(c, obj + o->module_dict, &ok);
		if (ok && n)
			fn(c, arg, obj, n, 0);
		break;
	case K_TYPE:
		n = rd64(c, obj + o->type_dict, &ok);
		if (ok && n)
			fn(c, arg, obj, n, 0);
		break;
	default:
		break;
	}
	if (t->instance) {
		struct attrs a;

		if (!instance_attrs(c, obj, t, &a)) {
			BAD(c);
			return;
		}
		if (a.dict)
			fn(c, arg, obj, a.dict, 0x40000000u);
		if (a.values && a.v.n) {
			uint64_t *v = malloc(a.v.n * 8);

			if (!v)
				return;
			if (rd(c, a.v.values, v, a.v.n * 8)) {
				BAD(c);
			} else {
				for (i = 0; i < a.v.n; i++)
					if (v[i])
						fn(c, arg, obj, v[i], 0x20000000u | (uint32_t)i);
			}
			free(v);
		}
	}
}

/* sys.getsizeof(obj), as the object's own __sizeof__ plus its GC header. */
static uint64_t size_of(struct census *c, uint64_t obj, const struct ctype *t)
{
	const struct pyver_offsets *o = OFF(c);
	uint64_t size = t->basicsize, n;
	bool ok = true;

	switch (t->kind) {
	case K_LIST:
		n = rd64(c, obj + o->list_allocated, &ok);
		if (ok && n < MAX_ITEMS)
			size += n * 8;
		break;
	case K_STR: {
		uint32_t state = 0;

		n = rd64(c, obj + o->unicode_length, &ok);
		if (ok && !rd(c, obj + o->unicode_state, &state, 4) && STATE_COMPACT(state) &&
		    n < (1ull << 34))
			size = STATE_ASCII(state) ? o->unicode_ascii_data + n + 1 :
			       o->unicode_compact_data + (n + 1) * STATE_KIND(state);
		break;
	}
	case K_LONG:
		if (o->long_lv_tag != PYOFF_NONE) {
			/* 3.12+: digit count in lv_tag >> 3; 0 still has one digit */
			n = rd64(c, obj + o->long_lv_tag, &ok) >> 3;
			size = o->long_digit + (n ? n : 1) * 4;
		} else {
			int64_t s = (int64_t)rd64(c, obj + o->varobject_size, &ok);

			size = o->long_digit + (uint64_t)(s < 0 ? -s : s) * 4;
		}
		break;
	case K_DICT: {
		struct dict_view v;

		if (dict_view(c, obj, &v)) {
			if (v.values)
				size += (v.n + 1) * 8;
			if (v.keys_bytes > 0)
				size += v.keys_bytes;
		}
		break;
	}
	case K_SET:
		n = rd64(c, obj + o->set_mask, &ok);
		if (ok && n + 1 > SET_MINSIZE && n < MAX_ITEMS)
			size += (n + 1) * o->setentry_size;
		break;
	default:
		if (t->itemsize) {
			int64_t s = (int64_t)rd64(c, obj + o->varobject_size, &ok);

			if (ok && s > -(1ll << 40) && s < (1ll << 40))
				size += t->itemsize * (uint64_t)(s < 0 ? -s : s);
		}
		break;
	}
	if (t->flags & TPF_HAVE_GC)
		size += o->gchead_size;
	/* 3.11+: the dict/values words before the GC header */
	if (o->tpflag_managed_dict && (t->flags & o->tpflag_managed_dict))
		size += 16;
	if (t->instance && o->tpflag_inline_values && (t->flags & o->tpflag_inline_values)) {
		struct attrs a;

		if (instance_attrs(c, obj, t, &a))
			size += a.extra_bytes;
	}
	return size;
}

/* ---- the walk ---------------------------------------------------------- */

static bool expandable(const struct ctype *t)
{
	return t->instance || (t->kind != K_OTHER && t->kind != K_STR && t->kind != K_BYTES &&
			       t->kind != K_LONG && t->kind != K_CODE);
}

/* xorshift64: random() takes a lock, and this runs for every object */
static uint64_t rnd(void)
{
	static uint64_t x = 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

static void reservoir(uint64_t *s, uint64_t *n, uint64_t obj)
{
	if (*n < NSAMPLE) {
		s[*n] = obj;
	} else {
		uint64_t k = rnd() % (*n + 1);

		if (k < NSAMPLE)
			s[k] = obj;
	}
	(*n)++;
}

/* Count a new object of this census; false when out of memory. */
static bool count(struct census *c, uint64_t obj, struct ctype *t)
{
	uint64_t size;
	unsigned int pv = c->have_prev ? objset__get(&c->prev, obj) : 0;
	bool fresh = c->have_prev && !(pv & V_PRESENT);

	if (!objset__or(&c->visited, obj, V_PRESENT | (fresh ? V_NEW : 0)))
		return false;
	size = size_of(c, obj, t);

	t->count++;
	t->bytes += size;
	if (size > t->big_size[NBIG - 1]) {
		/* keep the NBIG largest, largest first */
		int k = NBIG - 1;

		while (k > 0 && t->big_size[k - 1] < size) {
			t->big[k] = t->big[k - 1];
			t->big_size[k] = t->big_size[k - 1];
			k--;
		}
		t->big[k] = obj;
		t->big_size[k] = size;
	}
	c->objects++;
	c->bytes += size;
	/* reservoir sample: every instance equally likely to be kept */
	reservoir(t->samples, &t->nseen, obj);
	/*
	 * The growth is in the objects that are new: those first seen at the
	 * last census and still alive now are a leak's (what churns, a bounded
	 * LRU's entries, is gone by then), else those new since the last
	 * census. So the leak's holder is found even behind a large cache of
	 * the same type.
	 */
	if (fresh)
		reservoir(t->fresh, &t->nfresh, obj);
	else if (pv & V_NEW)
		reservoir(t->surv, &t->nsurv, obj);
	if (c->objects >= c->o.max_objects)
		c->capped = true;
	return true;
}

static void add_edge(struct census *c, uint64_t ref, uint64_t from, uint32_t slot)
{
	if (c->nedges == c->capedges) {
		size_t cap = c->capedges ? c->capedges * 2 : 65536;
		struct edge *n;

		if (cap > 4 * c->o.max_objects + 65536) {
			c->edges_full = true;
			return;
		}
		n = realloc(c->edges, cap * sizeof(*n));
		if (!n) {
			c->edges_full = true;
			return;
		}
		c->edges = n;
		c->capedges = cap;
	}
	c->edges[c->nedges++] = (struct edge){ ref, from, slot };
}

static void push_pending(struct census *c, uint64_t obj)
{
	if (c->npending == c->cappending) {
		size_t cap = c->cappending ? c->cappending * 2 : 4096;
		uint64_t *n = realloc(c->pending, cap * sizeof(*n));

		if (!n)
			return;
		c->pending = n;
		c->cappending = cap;
	}
	c->pending[c->npending++] = obj;
}

static int64_t length_of(struct census *c, uint64_t obj, const struct ctype *t);
static void visit_ref(struct census *c, void *arg, uint64_t from, uint64_t ref, uint32_t slot)
{
	struct ctype *t;

	(void)arg;
	if (c->capped)
		return;
	if (objset__get(&c->visited, ref) & V_PRESENT) {
		if (c->edges_on && !c->edges_full) {
			t = type_of(c, ref);
			if (t && ((t->flags & TPF_HAVE_GC) || t->watched))
				add_edge(c, ref, from, slot);
		}
		return;
	}
	t = type_of(c, ref);
	if (!t) {
		BAD(c);
		return;
	}
	if (!count(c, ref, t)) {
		c->capped = true;	/* out of memory: say the census is partial */
		return;
	}
	if (c->edges_on && !c->edges_full && ((t->flags & TPF_HAVE_GC) || t->watched))
		add_edge(c, ref, from, slot);
	if (expandable(t))
		push_pending(c, ref);
}

static void expand(struct census *c, uint64_t obj)
{
	unsigned int v = objset__get(&c->visited, obj);
	struct ctype *t;

	if (!(v & V_PRESENT) || (v & V_EXPANDED))
		return;
	objset__or(&c->visited, obj, V_EXPANDED);
	t = type_of(c, obj);
	if (t) {
		struct ctype copy = *t;

		referents(c, obj, &copy, visit_ref, NULL);
	}
}

static void drain(struct census *c)
{
	while (c->npending && !c->capped && !c->stop) {
		expand(c, c->pending[--c->npending]);
		if ((++c->steps & 0xffff) == 0 && mono_s() - c->t0 > WALK_CAP_S)
			c->capped = true;
	}
	c->npending = 0;
}

/* Walk one PyGC_Head list from head; returns the objects met on it. */
static uint64_t walk_list(struct census *c, uint64_t head, const uint64_t *heads, int nheads)
{
	const struct pyver_offsets *o = OFF(c);
	uint64_t prev = head, cur, hdr[2], n = 0;
	bool ok = true;
	int k;

	cur = rd64(c, head + o->gchead_next, &ok) & ~(uint64_t)1;
	if (!ok) {
		BAD(c);
		return 0;
	}
	while (cur != head && !c->capped && !c->stop) {
		uint64_t obj = cur + o->gchead_size;
		struct ctype *t;
		unsigned int v;

		for (k = 0; k < nheads; k++)
			if (cur == heads[k])
				break;
		if (k < nheads || !plausible(c, cur) || rd(c, cur, hdr, sizeof(hdr))) {
			/* walked into another list or off the heap: it moved under us */
			BAD(c);
			break;
		}
		if ((hdr[o->gchead_prev / 8] & ~(uint64_t)3) != prev)
			BAD(c);	/* a neighbour changed; the next link may still hold */
		v = objset__get(&c->visited, obj);
		if (v & V_LISTED) {
			BAD(c);	/* a loop: the object moved lists while we read */
			break;
		}
		if (!(v & V_PRESENT)) {
			/* not yet met as a referent: validate and count it now */
			t = type_of(c, obj);
			if (!t) {
				BAD(c);
				break;
			}
			if (!count(c, obj, t)) {
				c->capped = true;
				break;
			}
		}
		objset__or(&c->visited, obj, V_LISTED);
		n++;
		expand(c, obj);
		drain(c);
		prev = cur;
		cur = hdr[o->gchead_next / 8] & ~(uint64_t)1;
		if ((n & 0xffff) == 0 && mono_s() - c->t0 > WALK_CAP_S)
			c->capped = true;
	}
	return n;
}

/* ---- gc state, memory -------------------------------------------------- */

static uint64_t gc_base(struct census *c, uint64_t *interp)
{
	const struct pyver_offsets *o = OFF(c);
	bool ok = true;

	*interp = rd64(c, c->p->runtime + o->runtime_interpreters_main, &ok);
	if (!ok || !*interp)
		return 0;
	if (o->runtime_gc != PYOFF_NONE)
		return c->p->runtime + o->runtime_gc;
	return *interp + o->interp_gc;
}

static void garbage_types(struct census *c, uint64_t list, struct census_gc *g)
{
	const struct pyver_offsets *o = OFF(c);
	bool ok = true;
	uint64_t n = rd64(c, list + o->varobject_size, &ok), items = rd64(c, list + o->list_item, &ok);
	struct { char name[CENSUS_NAME]; uint64_t n; } seen[8];
	int ns = 0, k;
	uint64_t i, w = 0;

	if (!ok || n > MAX_ITEMS)
		return;
	g->garbage = n;
	for (i = 0; i < n && i < GARBAGE_TYPES; i++) {
		uint64_t item = rd64(c, items + i * 8, &ok);
		struct ctype *t = ok ? type_of(c, item) : NULL;

		if (!t)
			continue;
		for (k = 0; k < ns && strcmp(seen[k].name, t->name); k++)
			;
		if (k == ns && ns < 8) {
			snprintf(seen[ns].name, sizeof(seen[ns].name), "%s", t->name);
			seen[ns++].n = 0;
		}
		if (k < ns)
			seen[k].n++;
	}
	for (k = 0; k < ns && w + 8 < sizeof(g->garbage_types); k++)
		w += snprintf(g->garbage_types + w, sizeof(g->garbage_types) - w, "%s%s %" PRIu64,
			      k ? ", " : "", seen[k].name, seen[k].n);
}

static void read_gc(struct census *c, uint64_t base, struct census_gc *g)
{
	const struct pyver_offsets *o = OFF(c);
	int32_t v32;
	bool ok = true;
	uint64_t garbage;
	int i;

	memset(g, 0, sizeof(*g));
	g->garbage = -1;
	if (!base || rd(c, base + o->gc_enabled, &v32, 4))
		return;
	g->enabled = v32 != 0;
	if (!rd(c, base + o->gc_collecting, &v32, 4))
		g->collecting = v32 != 0;
	for (i = 0; i < 3; i++) {
		uint64_t gen = base + o->gc_generations + i * o->gc_generation_size;
		uint64_t st = base + o->gc_generation_stats + i * o->gc_stats_size;
		int32_t th = 0, cnt = 0;

		rd(c, gen + o->gen_threshold, &th, 4);
		rd(c, gen + o->gen_count, &cnt, 4);
		g->gen[i].threshold = th;
		g->gen[i].count = cnt;
		g->gen[i].collections = (int64_t)rd64(c, st + o->stats_collections, &ok);
		g->gen[i].uncollectable = (int64_t)rd64(c, st + o->stats_uncollectable, &ok);
	}
	garbage = rd64(c, base + o->gc_garbage, &ok);
	if (ok && garbage && type_of(c, garbage) && type_of(c, garbage)->kind == K_LIST)
		garbage_types(c, garbage, g);
	else if (ok && !garbage)
		g->garbage = 0;
	g->read = ok;
}

static int64_t read_rss(pid_t pid)
{
	char path[64];
	unsigned long long size, res;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/statm", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fscanf(f, "%llu %llu", &size, &res);
	fclose(f);
	return n == 2 ? (int64_t)(res * (unsigned long long)sysconf(_SC_PAGESIZE)) : -1;
}

/* ---- frames: the locals of every thread, as roots ---------------------- */

static void frame_roots(struct census *c, uint64_t interp)
{
	const struct pyver_offsets *o = OFF(c);
	uint64_t ts;
	bool ok = true;
	int nthreads = 0;

	c->nfroots = 0;
	if (!c->froots) {
		c->froots = calloc(MAX_FROOTS, sizeof(*c->froots));
		if (!c->froots)
			return;
	}
	ts = rd64(c, interp + o->interp_threads_head, &ok);
	while (ok && ts && nthreads++ < 256) {
		uint64_t tid = rd64(c, ts + o->tstate_thread_id, &ok);
		uint64_t fr = rd64(c, ts + o->tstate_frame, &ok);
		int depth = 0;

		if (ok && fr && o->cframe_current_frame != PYOFF_NONE)
			fr = rd64(c, fr + o->cframe_current_frame, &ok);
		while (ok && fr && depth++ < 256 && c->nfroots < MAX_FROOTS) {
			uint64_t code = rd64(c, fr + o->frame_code, &ok);
			struct ctype *ct = ok ? type_of(c, code) : NULL;
			int32_t nlocals = 0;
			uint64_t names, i;
			char func[96] = "?", file[160] = "?";
			int32_t first = 0;
			uint64_t pos = POS_NOT_STARTED;

			if (ct && ct->kind == K_CODE && !rd(c, code + o->code_nlocals, &nlocals, 4) &&
			    nlocals > 0 && nlocals < 4096) {
				names = rd64(c, code + o->code_localnames, &ok);
				read_str(c, rd64(c, code + (o->code_qualname != PYOFF_NONE ?
							    o->code_qualname : o->code_name), &ok),
					 func, sizeof(func));
				read_str(c, rd64(c, code + o->code_filename, &ok), file, sizeof(file));
				rd(c, code + o->code_firstlineno, &first, 4);
				/* the frame's line, from its instruction as BPF reads it */
				if (o->frame_pos_is_ptr) {
					uint64_t ip = rd64(c, fr + o->frame_pos, &ok);

					if (ok && ip >= code + o->code_adaptive)
						pos = ip - (code + o->code_adaptive);
				} else {
					int32_t lasti = -1;

					if (!rd(c, fr + o->frame_pos, &lasti, 4) && lasti >= 0)
						pos = lasti;
				}
				ok = true;
				if (!c->sym) {
					c->sym = symbolizer__new(c->p->pid, o, c->p->code_type);
					symbolizer__set_str_type(c->sym, c->p->str_type);
				}
				if (c->sym && pos != POS_NOT_STARTED) {
					struct frame_info fi;

					symbolizer__frame(c->sym, code, (uint32_t)pos, &fi);
					if (fi.line > 0)
						first = fi.line;
				}
				for (i = 0; ok && i < (uint64_t)nlocals && c->nfroots < MAX_FROOTS; i++) {
					uint64_t val = rd64(c, fr + o->frame_localsplus + i * 8, &ok);
					struct froot *r = &c->froots[c->nfroots];

					if (!ok || !val || !plausible(c, val))
						continue;
					if (read_str(c, rd64(c, names + o->tuple_item + i * 8, &ok),
						     r->var, sizeof(r->var)))
						snprintf(r->var, sizeof(r->var), "#%" PRIu64, i);
					snprintf(r->func, sizeof(r->func), "%s", func);
					snprintf(r->file, sizeof(r->file), "%s", file);
					r->line = first;
					r->thread = tid;
					add_edge(c, val, FROOT + c->nfroots, 0);
					c->nfroots++;
				}
			}
			ok = true;
			fr = rd64(c, fr + o->frame_previous, &ok);
		}
		ok = true;
		ts = rd64(c, ts + o->tstate_next, &ok);
	}
}

/* ---- holders ----------------------------------------------------------- */

static int cmp_edge(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	return x->ref < y->ref ? -1 : x->ref > y->ref ? 1 : 0;
}

/* The first edge whose ref is r, or nedges. */
static size_t edges_of(const struct census *c, uint64_t r)
{
	size_t lo = 0, hi = c->nedges;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c->edges[mid].ref < r)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int64_t length_of(struct census *c, uint64_t obj, const struct ctype *t)
{
	const struct pyver_offsets *o = OFF(c);
	bool ok = true;
	int64_t n = -1;

	switch (t->kind) {
	case K_LIST:
	case K_TUPLE:
		n = rd64(c, obj + o->varobject_size, &ok);
		break;
	case K_DICT:
		n = rd64(c, obj + o->dict_used, &ok);
		break;
	case K_SET:
		n = rd64(c, obj + o->set_used, &ok);
		break;
	case K_STR:
	case K_BYTES:
		n = rd64(c, obj + (t->kind == K_STR ? o->unicode_length : o->varobject_size), &ok);
		break;
	default:
		break;
	}
	return ok ? n : -1;
}

/* A small int's value (up to two 30-bit digits); false if not an int. */
static bool read_int(struct census *c, uint64_t a, long long *val)
{
	const struct pyver_offsets *o = OFF(c);
	struct ctype *t = type_of(c, a);
	uint32_t d[2] = { 0, 0 };
	int64_t n;
	bool ok = true, neg;

	if (!t || t->kind != K_LONG)
		return false;
	if (o->long_lv_tag != PYOFF_NONE) {
		/* 3.12+: lv_tag = digits << 3 | sign (0 positive, 1 zero, 2 negative) */
		uint64_t tag = rd64(c, a + o->long_lv_tag, &ok);

		n = tag >> 3;
		neg = (tag & 3) == 2;
	} else {
		n = (int64_t)rd64(c, a + o->varobject_size, &ok);
		neg = n < 0;
		n = neg ? -n : n;
	}
	if (!ok || n > 2 || (n && rd(c, a + o->long_digit, d, n * 4)))
		return false;
	*val = (long long)d[0] + ((long long)d[1] << 30);
	if (neg)
		*val = -*val;
	return true;
}

/* How from holds the object at slot: "[3]", "['key']", ".attr". */
static void label(struct census *c, uint64_t from, const struct ctype *t, uint32_t slot,
		  char *buf, size_t len)
{
	char key[CENSUS_NAME];

	buf[0] = '\0';
	if (slot & 0x40000000u) {
		snprintf(buf, len, ".__dict__");
		return;
	}
	if (slot & 0x20000000u) {
		/* inline/split values: the class's shared keys name them */
		struct dict_view v;
		uint64_t k = 0, i = slot & 0xfffffff;

		if (t->cached_keys && keys_view(c, t->cached_keys, &v) && i < v.n &&
		    !heapread__u64(&c->h, v.entries + i * v.esize + (v.hashed ? 8 : 0), &k) &&
		    !read_str(c, k, key, sizeof(key)))
			snprintf(buf, len, ".%.120s", key);
		else
			snprintf(buf, len, ".?");
		return;
	}
	switch (t->kind) {
	case K_LIST:
	case K_TUPLE:
		snprintf(buf, len, "[%u]", slot);
		break;
	case K_SET:
		snprintf(buf, len, "{...}");
		break;
	case K_DICT: {
		struct dict_view v;
		uint64_t k = 0, i = slot & 0x7fffffffu;

		if (slot & 0x80000000u) {
			snprintf(buf, len, " (a key)");
			break;
		}
		long long iv;

		if (dict_view(c, from, &v) && i < v.n &&
		    !heapread__u64(&c->h, v.entries + i * v.esize + (v.hashed ? 8 : 0), &k) &&
		    !read_str(c, k, key, sizeof(key)))
			snprintf(buf, len, "['%.120s']", key);
		else if (k && read_int(c, k, &iv))
			snprintf(buf, len, "[%lld]", iv);
		else
			snprintf(buf, len, "[...]");
		break;
	}
	case K_CELL:
		snprintf(buf, len, ".cell_contents");
		break;
	case K_FUNC:
		snprintf(buf, len, "%s", slot == 0 ? ".__closure__" : slot == 1 ? ".__defaults__" :
			 ".__kwdefaults__");
		break;
	case K_METHOD:
		snprintf(buf, len, "%s", slot ? ".__self__" : ".__func__");
		break;
	case K_MODULE:
	case K_TYPE:
		snprintf(buf, len, ".__dict__");
		break;
	default:
		break;
	}
}

struct bfs_node {
	uint64_t obj;
	int parent;		/* index of the node it holds (towards the sample) */
	uint32_t slot;		/* how obj holds parent's object */
};

struct found_root {
	uint64_t key;		/* identity of the root, for agreement */
	struct census_holder h;
};

/* Short name of an object's type for a chain ("list", "Node"). */
static const char *tname(struct census *c, uint64_t obj)
{
	struct ctype *t = type_of(c, obj);

	return t ? t->name : "?";
}

static void root_length(struct census *c, uint64_t obj, struct census_holder *h)
{
	struct ctype *t = type_of(c, obj);
	struct rootlen *rl;
	int fresh;

	h->length = t ? length_of(c, obj, t) : -1;
	if (h->length < 0)
		return;
	rl = u64map__upsert(&c->rootlens, obj, &fresh);
	if (!rl)
		return;
	if (fresh) {
		rl->prev_t = -1;
	} else if (rl->t != c->work.t) {
		rl->prev_len = rl->len;
		rl->prev_t = rl->t;
	}
	rl->len = h->length;
	rl->t = c->work.t;
	if (rl->prev_t > 0 && c->work.t > rl->prev_t) {
		h->length_growth_per_s = (h->length - rl->prev_len) / (c->work.t - rl->prev_t);
		h->length_growth_known = true;
	}
}

/* Fill the chain of h from node i (the root's child) down to the sample. */
static void fill_chain(struct census *c, struct bfs_node *nodes, int i, struct census_holder *h)
{
	int idx[HOLDER_DEPTH + 1], n = 0, k;

	while (i >= 0 && n <= HOLDER_DEPTH) {
		idx[n++] = i;
		i = nodes[i].parent;
	}
	h->nchain = 0;
	for (k = 0; k < n; k++) {
		struct census_hop *hop;
		int j = idx[k];

		if (h->nchain == CENSUS_CHAIN - 1 && k < n - 1) {
			/* keep the root end and the sample: elide the middle */
			h->chain_cut = true;
			k = n - 1;
			j = idx[k];
		}
		hop = &h->chain[h->nchain++];
		snprintf(hop->type, sizeof(hop->type), "%s", tname(c, nodes[j].obj));
		hop->via[0] = '\0';
		if (k > 0) {
			int up = idx[k - 1];
			struct ctype *ut = type_of(c, nodes[up].obj);

			/* a node's slot says how it holds the node before it */
			if (ut)
				label(c, nodes[up].obj, ut, nodes[up].slot, hop->via, sizeof(hop->via));
		}
	}
	/* instance -> .__dict__ -> ['x'] reads better as instance.x */
	for (k = 1; k + 1 < h->nchain; k++) {
		if (!strcmp(h->chain[k].via, ".__dict__") && h->chain[k + 1].via[0] == '[' &&
		    h->chain[k + 1].via[1] == '\'') {
			char tmp[CENSUS_NAME];
			size_t l = strlen(h->chain[k + 1].via);

			snprintf(tmp, sizeof(tmp), ".%.*s", (int)(l > 4 ? l - 4 : 0),
				 h->chain[k + 1].via + 2);
			snprintf(h->chain[k + 1].via, sizeof(h->chain[k + 1].via), "%s", tmp);
			memmove(&h->chain[k], &h->chain[k + 1], (h->nchain - k - 1) * sizeof(h->chain[0]));
			h->nchain--;
		}
	}
}

/*
 * From one sample, breadth first over referrers until a root: the first
 * container held by a module's dict (a global), by a class's dict (a class
 * attribute), or by a thread's frame (a local). With none, the sample is
 * held by what the census does not read (C code, the interpreter) or by
 * nothing but its own cycle (garbage awaiting the collector).
 */
static bool follow(struct census *c, uint64_t sample, struct found_root *out)
{
	struct bfs_node *nodes = malloc(HOLDER_NODES * sizeof(*nodes));
	struct u64map seen;
	int head = 0, n = 0, fresh;
	bool found = false, unknown_refs = false;
	uint64_t refsum = 0, inner = 0;

	if (!nodes || u64map__init(&seen, 1)) {
		free(nodes);
		return false;
	}
	memset(out, 0, sizeof(*out));
	nodes[n++] = (struct bfs_node){ sample, -1, 0 };
	u64map__upsert(&seen, sample, &fresh);
	while (head < n && !found) {
		struct bfs_node *cur = &nodes[head];
		uint64_t obj = cur->obj, refcnt = 0;
		size_t e = edges_of(c, obj);
		int nrefs = 0;

		heapread__u64(&c->h, obj, &refcnt);
		for (; e < c->nedges && c->edges[e].ref == obj && !found; e++) {
			uint64_t from = c->edges[e].from;
			struct census_holder *h = &out->h;
			struct ctype *ft, ftc;

			nrefs++;
			if (from < FROOT + (uint64_t)c->nfroots && from >= FROOT) {
				struct froot *r = &c->froots[from - FROOT];

				out->key = from;
				snprintf(h->kind, sizeof(h->kind), "frame_local");
				snprintf(h->name, sizeof(h->name), "%s", r->var);
				snprintf(h->where, sizeof(h->where), "%.60s (%.150s:%d), thread %" PRIu64,
					 r->func, r->file, r->line, r->thread);
				snprintf(h->module, sizeof(h->module), "%s", r->func);
				snprintf(h->container_type, sizeof(h->container_type), "%s", tname(c, obj));
				root_length(c, obj, h);
				fill_chain(c, nodes, head, h);
				found = true;
				break;
			}
			if (u64map__get(&seen, from)) {
				inner++;
				continue;
			}
			ft = type_of(c, from);
			if (!ft)
				continue;
			ftc = *ft;
			ft = &ftc;
			if ((ft->kind == K_MODULE || ft->kind == K_TYPE) && cur->parent >= 0) {
				/* obj is the module's or class's dict; its child is the variable */
				struct bfs_node *child = &nodes[cur->parent];
				char key[CENSUS_NAME], modname[CENSUS_NAME] = "?";
				struct ctype *dt = type_of(c, obj);

				if (!dt || dt->kind != K_DICT)
					continue;
				label(c, obj, dt, cur->slot, key, sizeof(key));
				out->key = child->obj;
				if (ft->kind == K_MODULE) {
					uint64_t nm = dict_get_str(c, obj, "__name__");

					if (nm)
						read_str(c, nm, modname, sizeof(modname));
					snprintf(h->kind, sizeof(h->kind), "global");
					snprintf(h->module, sizeof(h->module), "%s", modname);
				} else {
					/* from is the class itself */
					struct ctype *cls = get_type(c, from);

					snprintf(h->kind, sizeof(h->kind), "class_attribute");
					if (cls)
						snprintf(h->module, sizeof(h->module), "%.60s%s%.60s",
							 strcmp(cls->module, "builtins") ? cls->module : "",
							 strcmp(cls->module, "builtins") ? "." : "", cls->name);
				}
				/* key is "['name']": keep name */
				if (key[0] == '[' && key[1] == '\'' && strlen(key) > 4)
					snprintf(h->name, sizeof(h->name), "%.*s", (int)strlen(key) - 4, key + 2);
				else
					snprintf(h->name, sizeof(h->name), "%s", key);
				snprintf(h->container_type, sizeof(h->container_type), "%s",
					 tname(c, child->obj));
				root_length(c, child->obj, h);
				fill_chain(c, nodes, cur->parent, h);
				found = true;
				break;
			}
			if (n < HOLDER_NODES) {
				u64map__upsert(&seen, from, &fresh);
				nodes[n++] = (struct bfs_node){ from, head, c->edges[e].slot };
			}
		}
		if ((uint64_t)nrefs < refcnt)
			unknown_refs = true;
		refsum += refcnt;
		head++;
	}
	if (!found) {
		struct census_holder *h = &out->h;

		out->key = 1;
		if (c->edges_full || n >= HOLDER_NODES)
			snprintf(h->kind, sizeof(h->kind), "unknown");
		else if (!unknown_refs)
			snprintf(h->kind, sizeof(h->kind), "garbage");
		else
			snprintf(h->kind, sizeof(h->kind), "native");
		h->length = -1;
		fill_chain(c, nodes, 0, h);
		(void)refsum;
		(void)inner;
	}
	u64map__free(&seen);
	free(nodes);
	return true;
}

/* Of a type's largest objects, the one that grew most since the last
 * census (one not among the last census's largest counts as grown by all
 * of its size: a str appended to is often a new object each time). */
static uint64_t grown(const struct ctype *t)
{
	uint64_t best = 0;
	int64_t bestd = 0;
	int k, j;

	for (k = 0; k < NBIG && t->big[k]; k++) {
		int64_t d = (int64_t)t->big_size[k];

		for (j = 0; j < NBIG; j++)
			if (t->pbig[j] == t->big[k]) {
				d = (int64_t)t->big_size[k] - (int64_t)t->pbig_size[j];
				break;
			}
		if (d > bestd) {
			bestd = d;
			best = t->big[k];
		}
	}
	return best;
}

static void find_holders(struct census *c, struct census_result *r)
{
	int i, k, j;

	free(r->holders);
	r->holders = calloc(c->o.holders, sizeof(*r->holders));
	r->nholders = 0;
	if (!r->holders || !c->edges_on)
		return;
	qsort(c->edges, c->nedges, sizeof(*c->edges), cmp_edge);
	for (i = 0; i < r->ntypes && r->nholders < c->o.holders; i++) {
		struct census_type *ct = &r->types[i];
		struct found_root found[NSAMPLE];
		struct ctype *t = NULL;
		int nf = 0, best = -1, bestn = 0;

		if (!ct->growing)
			break;
		for (k = 0; k < c->ntypes; k++)
			if (c->types[k]->stamp == c->n && !c->types[k]->bad && c->types[k]->count == ct->count &&
			    !strcmp(c->types[k]->name, ct->name) && !strcmp(c->types[k]->module, ct->module))
				t = c->types[k];
		if (!t)
			continue;
		{
			uint64_t samples[NSAMPLE];
			int ns = t->nseen < NSAMPLE ? (int)t->nseen : NSAMPLE;

			memcpy(samples, t->samples, sizeof(samples));
			if (t->bytes_growing && grown(t)) {
				/* one object grows: it is the one to follow */
				ns = 1;
				samples[0] = grown(t);
			} else if (t->nsurv) {
				ns = t->nsurv < NSAMPLE ? (int)t->nsurv : NSAMPLE;
				memcpy(samples, t->surv, sizeof(samples));
			} else if (t->nfresh) {
				ns = t->nfresh < NSAMPLE ? (int)t->nfresh : NSAMPLE;
				memcpy(samples, t->fresh, sizeof(samples));
			}
			for (k = 0; k < ns; k++)
				if (follow(c, samples[k], &found[nf]))
					nf++;
		}
		/*
		 * The root most samples share, a growing one first: a bounded
		 * cache's fresh entries can be sampled too (its churn reuses the
		 * addresses of what it evicted, which then look old), but only
		 * the leak's container keeps growing.
		 */
		{
			int bestscore = -1;

			for (k = 0; k < nf; k++) {
				int agree = 0, score;

				for (j = 0; j < nf; j++)
					agree += found[j].key == found[k].key;
				score = agree * 4 + (found[k].h.length_growth_known &&
						     found[k].h.length_growth_per_s > 0 ? 4 * NSAMPLE : 0) +
					(strcmp(found[k].h.kind, "native") ? 1 : 0);
				if (score > bestscore) {
					best = k;
					bestn = agree;
					bestscore = score;
				}
			}
		}
		if (best < 0)
			continue;
		r->holders[r->nholders] = found[best].h;
		snprintf(r->holders[r->nholders].type, CENSUS_NAME, "%s", ct->name);
		r->holders[r->nholders].count = ct->count;
		r->holders[r->nholders].samples = nf;
		r->holders[r->nholders].agreeing = bestn;
		r->nholders++;
	}
}

/* ---- trends and ranking ------------------------------------------------ */

/*
 * Growing types by objects gained per second. A class defined in Python
 * counts double there: the builtin types growing beside it at up to twice
 * its rate are mostly its parts (its instances' __dict__, their attribute
 * values), and the class is what the user wrote.
 */
static double growth_score(const struct census_type *t)
{
	double by_count = t->growth_count_per_s * (strcmp(t->module, "builtins") ? 2.0 : 1.0);
	double by_bytes = t->growth_bytes_per_s / 256;	/* 256 B/s weigh an object/s */

	return by_count > by_bytes ? by_count : by_bytes;
}

static int cmp_rank(const void *a, const void *b)
{
	const struct census_type *x = a, *y = b;

	if (x->growing != y->growing)
		return x->growing ? -1 : 1;
	if (x->growing && growth_score(x) != growth_score(y))
		return growth_score(x) > growth_score(y) ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Growth of each type over the window of the last HIST censuses. */
static void trends(struct census *c)
{
	uint32_t n = c->n, first = n >= HIST - 1 ? n - (HIST - 1) : 0, k;
	int i;

	for (i = 0; i < c->ntypes; i++) {
		struct ctype *t = c->types[i];
		uint32_t slot = n % HIST, oldest = n;
		uint64_t prevc = 0, prevb = 0, c0, b0;
		int rises = 0, brises = 0, intervals = 0;
		bool have_prev = false;
		double dt;

		if (t->stamp != n || t->bad) {
			t->count = 0;
			t->bytes = 0;
		}
		t->gcount = t->gbytes = 0;
		t->growing = false;
		for (k = first; k < n; k++)
			if (k && c->hvalid[k % HIST] == k) {
				oldest = k;
				break;
			}
		if (oldest < n) {
			/* a census in which the type was not seen counted 0 of it */
			for (k = oldest; k <= n; k++) {
				uint64_t cnt, b;

				if (k < n && c->hvalid[k % HIST] != k)
					continue;
				cnt = k == n ? t->count : t->hstamp[k % HIST] == k ? t->hcount[k % HIST] : 0;
				b = k == n ? t->bytes : t->hstamp[k % HIST] == k ? t->hbytes[k % HIST] : 0;
				if (have_prev) {
					intervals++;
					rises += cnt > prevc;
					brises += b > prevb;
				}
				prevc = cnt;
				prevb = b;
				have_prev = true;
			}
			c0 = t->hstamp[oldest % HIST] == oldest ? t->hcount[oldest % HIST] : 0;
			b0 = t->hstamp[oldest % HIST] == oldest ? t->hbytes[oldest % HIST] : 0;
			dt = c->ht[n % HIST] - c->ht[oldest % HIST];
			if (dt > 0) {
				t->gcount = ((double)t->count - (double)c0) / dt;
				t->gbytes = ((double)t->bytes - (double)b0) / dt;
				/* up over the window and in most of its intervals, so
				 * a type that merely churns does not rank as a leak */
				t->growing = t->count > c0 && rises * 2 > intervals;
				/* or its objects grow, not their number (a string
				 * buffer appended to): bytes up in most intervals, and
				 * its largest object is more than a few KiB */
				t->bytes_growing = !t->growing && brises * 2 > intervals &&
						   t->gbytes >= BYTES_GROWTH_MIN && t->big_size[0] >= 4096;
				t->growing |= t->bytes_growing;
			}
		}
		t->hcount[slot] = t->count;
		t->hbytes[slot] = t->bytes;
		t->hstamp[slot] = n;
	}
}

static void rank(struct census *c, struct census_result *r)
{
	int i, n = 0;

	free(r->types);
	r->types = calloc(c->ntypes ? c->ntypes : 1, sizeof(*r->types));
	r->ntypes = 0;
	if (!r->types)
		return;
	for (i = 0; i < c->ntypes; i++) {
		struct ctype *t = c->types[i];
		struct census_type *o = &r->types[n];

		if (!t->count && !t->growing)
			continue;
		snprintf(o->name, sizeof(o->name), "%s", t->name);
		snprintf(o->module, sizeof(o->module), "%s", t->module);
		o->count = t->count;
		o->bytes = t->bytes;
		o->growth_count_per_s = t->gcount;
		o->growth_bytes_per_s = t->gbytes;
		o->growing = t->growing;
		/* next census: follow referrers of these even when not GC types */
		t->watched = t->growing;
		n++;
	}
	qsort(r->types, n, sizeof(*r->types), cmp_rank);
	r->ntypes = n;
	r->total_types = n;
}

static void memory_trend(struct census *c, struct census_mem *m)
{
	uint32_t n = c->n, k, oldest = n;

	c->hrss[n % HIST] = m->rss;
	c->hlive[n % HIST] = m->live_bytes;
	for (k = n >= HIST - 1 ? n - (HIST - 1) : 0; k < n; k++)
		if (k && c->hvalid[k % HIST] == k) {
			oldest = k;
			break;
		}
	if (oldest == n || m->rss < 0 || c->hrss[oldest % HIST] < 0)
		return;
	{
		double dt = c->ht[n % HIST] - c->ht[oldest % HIST];

		if (dt <= 0)
			return;
		m->window = true;
		m->rss_growth_per_s = (m->rss - c->hrss[oldest % HIST]) / dt;
		m->live_growth_per_s = ((double)m->live_bytes - (double)c->hlive[oldest % HIST]) / dt;
		/* RSS up by more than 256 KiB/s and over four times what the
		 * objects grew: the allocator holds it (fragmentation, arenas or
		 * pools kept, libc's free lists), not live objects */
		m->allocator_held = m->rss_growth_per_s > 256 * 1024 &&
				    m->rss_growth_per_s > 4 * (m->live_growth_per_s > 0 ?
								m->live_growth_per_s : 0);
	}
}

/* ---- pause --------------------------------------------------------------- */

static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Stop pid and wait until it is stopped (at most 1 s); false when it was
 * stopped already (then it is left as it was). */
static bool pause_target(pid_t pid)
{
	int i;

	if (proc_state(pid) == 'T' || proc_state(pid) == 't')
		return false;
	if (kill(pid, SIGSTOP))
		return false;
	for (i = 0; i < 1000; i++) {
		char s = proc_state(pid);

		if (s == 'T' || s == 't' || !s)
			break;
		usleep(1000);
	}
	return true;
}

/* ---- the census ---------------------------------------------------------- */

static int take(struct census *c, const struct pyproc *p);

int census__take(struct census *c, const struct pyproc *p)
{
	int ret;

	/* without the thread, census__type_at reads this target */
	if (!c->running && !c->tp)
		c->tp = p;
	pthread_mutex_lock(&c->lock);
	ret = take(c, p);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* The census thread: one census, then a wait until the interval has passed
 * since it began and at least twice as long as it took (at most a third of
 * a core goes to censuses). */
static void *census_thread(void *arg)
{
	struct census *c = arg;

	/* below the main thread, which must symbolize new stacks before their
	 * code objects are freed (Linux nice values are per thread) */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct timespec until;
		double wait, took;

		take(c, c->tp);
		took = c->work.seconds;
		wait = census__interval(c) - took;
		if (wait < 2 * took)
			wait = 2 * took;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)wait;
		until.tv_nsec += (long)((wait - (time_t)wait) * 1e9);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!c->stop && pthread_cond_timedwait(&c->wake, &c->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int census__start(struct census *c, const struct pyproc *p)
{
	int ret;

	if (c->running)
		return 0;
	c->tp = p;
	c->stop = false;
	ret = pthread_create(&c->thread, NULL, census_thread, c);
	if (ret)
		return -ret;
	c->running = true;
	return 0;
}

void census__stop(struct census *c)
{
	if (!c->running)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	c->running = false;
	c->stop = false;
}

static int take(struct census *c, const struct pyproc *p)
{
	struct census_result *r = &c->work;
	const uint64_t *hd;
	uint64_t interp, base, heads[4];
	bool paused = false;
	double tp = 0;
	int i, ret;

	c->p = p;
	c->n++;
	c->t0 = mono_s();
	r->valid = false;
	r->error[0] = '\0';
	if (!c->h_open) {
		ret = heapread__open(&c->h, p->pid, c->o.cache_bytes ? c->o.cache_bytes : CACHE_BYTES);
		if (ret) {
			snprintf(r->error, sizeof(r->error), "out of memory");
			return ret;
		}
		c->h_open = true;
	}
	if (!c->syms)
		resolve_symbols(c);
	if (!c->syms) {
		snprintf(r->error, sizeof(r->error), "%.200s exports no PyType_Type, PyUnicode_Type or PyDict_Type",
			 p->module);
		return -ENOENT;
	}
	if (c->o.pause) {
		paused = pause_target(p->pid);
		tp = mono_s();
	}
	ret = heapread__refresh(&c->h);
	if (ret) {
		snprintf(r->error, sizeof(r->error), "cannot read /proc/%d/maps: %s", p->pid,
			 strerror(-ret));
		goto out;
	}
	objset__free(&c->visited);
	if (objset__init(&c->visited)) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < c->ntypes; i++) {
		c->types[i]->count = c->types[i]->bytes = 0;
		c->types[i]->nseen = 0;
		c->types[i]->nfresh = 0;
		c->types[i]->nsurv = 0;
		memcpy(c->types[i]->pbig, c->types[i]->big, sizeof(c->types[i]->big));
		memcpy(c->types[i]->pbig_size, c->types[i]->big_size, sizeof(c->types[i]->big_size));
		memset(c->types[i]->big, 0, sizeof(c->types[i]->big));
		memset(c->types[i]->big_size, 0, sizeof(c->types[i]->big_size));
	}
	c->objects = c->bytes = c->bad = 0;
	memset(c->bad_line, 0, sizeof(c->bad_line));
	memset(c->bad_count, 0, sizeof(c->bad_count));
	c->capped = false;
	c->nedges = 0;
	c->edges_full = false;
	c->nfroots = 0;
	/* referrers are needed from the second census on (growth is known) */
	c->edges_on = c->n > 1;

	base = gc_base(c, &interp);
	if (!base) {
		snprintf(r->error, sizeof(r->error), "cannot read the interpreter state");
		ret = -EFAULT;
		goto out;
	}
	read_gc(c, base, &r->gc);
	for (i = 0; i < 3; i++)
		heads[i] = base + OFF(c)->gc_generations + i * OFF(c)->gc_generation_size;
	heads[3] = base + OFF(c)->gc_permanent;
	hd = heads;
	for (i = 0; i < 4; i++) {
		uint64_t n = walk_list(c, heads[i], hd, 4);

		if (i < 3)
			r->gc.gen[i].objects = n;
		else
			r->gc.permanent = n;
	}
	if (c->edges_on)
		frame_roots(c, interp);

	r->t = mono_s();
	r->objects = c->objects;
	r->bytes = c->bytes;
	r->inconsistencies = c->bad;
	r->capped = c->capped;
	c->ht[c->n % HIST] = r->t;
	memset(&r->mem, 0, sizeof(r->mem));
	r->mem.rss = read_rss(p->pid);
	r->mem.live_bytes = c->bytes;
	r->mem.live_objects = c->objects;
	{
		uint64_t sc = c->h.syscalls;
		double t = mono_s();

		pymalloc__read(&c->h, OFF(c), &c->pm_syms, interp, &r->mem.pymalloc);
		r->mem.pymalloc.seconds = mono_s() - t;
		r->mem.pymalloc.syscalls = c->h.syscalls - sc;
	}
	info("census: pymalloc %" PRIu64 " arenas, %" PRIu64 " pools read in %.3f s, %" PRIu64
	     " syscalls, %" PRIu64 " inconsistent%s", r->mem.pymalloc.arenas_walked,
	     r->mem.pymalloc.pools_carved, r->mem.pymalloc.seconds, r->mem.pymalloc.syscalls,
	     r->mem.pymalloc.inconsistent, r->mem.pymalloc.capped ? ", capped" : "");
	trends(c);
	memory_trend(c, &r->mem);
	rank(c, r);
	find_holders(c, r);
	c->hvalid[c->n % HIST] = c->n;
	r->valid = true;
	ret = 0;
	for (i = 0; i < BAD_SITES && c->bad_line[i]; i++)
		info("census: %" PRIu64 " failed checks at census.c:%d", c->bad_count[i], c->bad_line[i]);
	info("census: lists %" PRIu64 "/%" PRIu64 "/%" PRIu64 " +%" PRIu64 " permanent, %" PRIu64
	      " objects, %zu edges, %d frame locals, %" PRIu64 " syscalls, %.3f s reading",
	      r->gc.gen[0].objects, r->gc.gen[1].objects, r->gc.gen[2].objects, r->gc.permanent,
	      r->objects, c->nedges, c->nfroots, c->h.syscalls, c->h.read_s);
out:
	if (paused) {
		kill(p->pid, SIGCONT);
		r->paused_s = mono_s() - tp;
	} else {
		r->paused_s = 0;
	}
	r->seconds = mono_s() - c->t0;
	r->syscalls = c->h.syscalls;
	r->read_bytes = c->h.bytes_read;
	c->last_t = c->t0;
	/* kept to tell the next census's new objects; the one before goes */
	objset__free(&c->prev);
	c->prev = c->visited;
	c->prev.last = NULL;
	c->have_prev = r->valid;
	memset(&c->visited, 0, sizeof(c->visited));
	/* publish: a failed census keeps the last good one shown, with its error */
	pthread_mutex_lock(&c->out);
	if (r->valid) {
		struct census_result t = c->r;

		c->r = *r;
		*r = t;
	} else {
		snprintf(c->r.error, sizeof(c->r.error), "%s", r->error);
	}
	c->published++;
	c->syms_ready = c->syms;
	pthread_mutex_unlock(&c->out);
	return ret;
}

int census__maybe_take(struct census *c, const struct pyproc *p, double now)
{
	if (c->running || (c->n && c->o.interval > 0 && now - c->last_t < c->o.interval - 0.05))
		return 0;
	return census__take(c, p);
}

/* ---- the type of one block (census__type_at) ------------------------------ */

#define TYPER_CACHE_BYTES	(1u << 20)	/* the type reader's chunks: types, their names */
#define BLOCK_HEAD		64		/* bytes read at a block's start, at most */

int census__types_begin(const struct census *c)
{
	struct census *t = c->typer;
	bool ready;
	int ret;

	if (!t)
		return -ENOENT;
	pthread_mutex_lock(&t->lock);
	if (!c->tp) {
		ret = -ENOENT;
		goto out;
	}
	t->p = c->tp;
	if (!t->syms) {
		/* written by the census thread before it published them, never after */
		pthread_mutex_lock((pthread_mutex_t *)&c->out);
		ready = c->syms_ready;
		pthread_mutex_unlock((pthread_mutex_t *)&c->out);
		if (!ready) {
			ret = -EAGAIN;
			goto out;
		}
		t->t_type = c->t_type;
		t->t_list = c->t_list;
		t->t_tuple = c->t_tuple;
		t->t_dict = c->t_dict;
		t->t_set = c->t_set;
		t->t_frozenset = c->t_frozenset;
		t->t_str = c->t_str;
		t->t_bytes = c->t_bytes;
		t->t_long = c->t_long;
		t->t_bool = c->t_bool;
		t->t_cell = c->t_cell;
		t->t_func = c->t_func;
		t->t_module = c->t_module;
		t->t_method = c->t_method;
		t->t_code = c->t_code;
		t->set_dummy = c->set_dummy;
		t->syms = true;
	}
	if (!t->h_open) {
		ret = heapread__open(&t->h, t->p->pid, TYPER_CACHE_BYTES);
		if (ret)
			goto out;
		t->h_open = true;
	}
	ret = heapread__refresh(&t->h);
	/* a new batch: every type met is validated again (get_type's stamp) */
	t->n++;
out:
	t->types_err = ret;
	pthread_mutex_unlock(&t->lock);
	return ret;
}

/*
 * Before read_type, whose reads go through 64 KiB chunks: is a's ob_type
 * `type`, or a metatype whose type is `type` (or deeper by one, as
 * read_type allows), in 8-byte reads? Most words of a block that is not
 * an object (pointers to items, text) fail here, at a syscall or two.
 */
static bool maybe_type(struct census *c, uint64_t a)
{
	const struct pyver_offsets *o = OFF(c);
	uint64_t meta, mm, mmm;

	if (u64map__get(&c->typemap, a))
		return true;		/* a type at an earlier batch: read_type judges it now */
	if (!plausible(c, a) || proc__read(c->p->pid, a + o->object_type, &meta, sizeof(meta)))
		return false;
	if (meta == c->t_type)
		return true;
	if (!plausible(c, meta) || proc__read(c->p->pid, meta + o->object_type, &mm, sizeof(mm)))
		return false;
	if (mm == c->t_type)
		return true;
	return plausible(c, mm) && !proc__read(c->p->pid, mm + o->object_type, &mmm, sizeof(mmm)) &&
	       mmm == c->t_type;
}

/* The bytes an object's allocation has before the object (Include/internal/
 * pycore_object.h, _PyType_PreHeaderSize): its GC header if the type has
 * one; on 3.11 two more words with a managed dict; on 3.12 and 3.13 with a
 * managed dict or a managed weakref list (Py_TPFLAGS_PREHEADER). */
static uint32_t preheader(const struct census *c, const struct ctype *t)
{
	const struct pyver_offsets *o = OFF(c);
	uint64_t pre = o->tpflag_managed_dict;
	uint32_t n = (t->flags & TPF_HAVE_GC) ? o->gchead_size : 0;

	if (o->managed_dict >= PYOFF_DICT_OR_VALUES)
		pre |= TPF_MANAGED_WEAKREF;
	if (pre && (t->flags & pre))
		n += 16;
	return n;
}

static void block_type(struct census *c, uint64_t addr, uint64_t size, struct census_block *out)
{
	const struct pyver_offsets *o = OFF(c);
	uint32_t pre[3] = { 0, o->gchead_size, o->gchead_size + 16 };
	uint8_t head[BLOCK_HEAD];
	size_t n = BLOCK_HEAD;
	int i;

	memset(out, 0, sizeof(*out));
	if (size && size < n)
		n = size & ~(uint64_t)7;
	if (n < 8 || proc__read(c->p->pid, addr, head, n)) {
		out->kind = CENSUS_BLOCK_UNREADABLE;
		return;
	}
	out->kind = CENSUS_BLOCK_STORAGE;
	for (i = 0; i < 3; i++) {
		uint32_t at = pre[i] + o->object_type;
		struct ctype *t;
		uint64_t type;

		if (at + 8 > n)
			break;		/* the block is too small for an object after this header */
		memcpy(&type, head + at, sizeof(type));
		if (!maybe_type(c, type) || !(t = get_type(c, type)))
			continue;
		/* the header before the object must be the one its type has */
		if (preheader(c, t) != pre[i])
			continue;
		/* and the object must fit (a compact str is smaller than str's basicsize) */
		if (size && t->kind != K_STR && pre[i] + t->basicsize > size)
			continue;
		out->kind = CENSUS_BLOCK_OBJECT;
		snprintf(out->name, sizeof(out->name), "%s", t->name);
		snprintf(out->module, sizeof(out->module), "%s", t->module);
		return;
	}
}

int census__type_at(const struct census *c, uint64_t addr, uint64_t size,
		    struct census_block *out)
{
	struct census *t = c->typer;
	int ret;

	if (!t)
		return -ENOENT;
	pthread_mutex_lock(&t->lock);
	ret = t->types_err;
	if (!ret)
		block_type(t, addr, size, out);
	pthread_mutex_unlock(&t->lock);
	return ret;
}

/* ---- output ---------------------------------------------------------------- */

static const char *human_bytes(double v, char *buf, size_t len)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;
	double a = absd(v);

	while (a >= 1024 && i < 4) {
		a /= 1024;
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

/* 1234567 -> "1,234,567" */
static const char *grouped(double v, char *buf, size_t len)
{
	char tmp[32];
	long long x = (long long)(v < 0 ? v - 0.5 : v + 0.5);
	int n, i, w = 0;
	bool neg = x < 0;

	snprintf(tmp, sizeof(tmp), "%lld", neg ? -x : x);
	n = strlen(tmp);
	if (neg && w + 1 < (int)len)
		buf[w++] = '-';
	for (i = 0; i < n && w + 2 < (int)len; i++) {
		buf[w++] = tmp[i];
		if ((n - i - 1) % 3 == 0 && i < n - 1)
			buf[w++] = ',';
	}
	buf[w] = '\0';
	return buf;
}

static const char *count_short(uint64_t v, char *buf, size_t len)
{
	if (v >= 1000000)
		snprintf(buf, len, "%.1f M", v / 1e6);
	else
		grouped(v, buf, len);
	return buf;
}

static void print_holder(const struct census_holder *h, FILE *out)
{
	char g[32];
	int k;

	if (!strcmp(h->kind, "global") || !strcmp(h->kind, "class_attribute") ||
	    !strcmp(h->kind, "frame_local")) {
		fprintf(out, "%s %s (", h->container_type, h->name);
		if (!strcmp(h->kind, "global"))
			fprintf(out, "global of module %s", h->module);
		else if (!strcmp(h->kind, "class_attribute"))
			fprintf(out, "attribute of class %s", h->module);
		else
			fprintf(out, "local of %s", h->where);
		if (h->length >= 0)
			fprintf(out, ", %s items", grouped(h->length, g, sizeof(g)));
		if (h->length_growth_known)
			fprintf(out, ", %+.0f/s", h->length_growth_per_s);
		fprintf(out, ")");
		k = 1;
	} else {
		fprintf(out, "%s", !strcmp(h->kind, "garbage") ?
			"nothing outside its own cycle (unreachable garbage awaiting the collector)" :
			!strcmp(h->kind, "native") ?
			"references the census cannot read (C code or the interpreter)" :
			"not found within the search bounds");
		k = h->nchain;	/* the chain shows the far end */
		if (h->nchain > 1) {
			fprintf(out, ": ");
			for (k = h->nchain - 1; k >= 0; k--)
				fprintf(out, "%s%s%s", h->chain[k].type, h->chain[k].via,
					k ? " <- " : "");
		}
		k = h->nchain;
	}
	/* a long chain (a tree walked up and down) shows its two ends */
	for (; k < h->nchain; k++) {
		if (h->nchain - k > 3 && k >= 3 && h->nchain > 7) {
			fprintf(out, " -> ... (%d hops)", h->nchain - 3 - k);
			k = h->nchain - 3;
		}
		fprintf(out, " -> %s%s%s", h->chain[k].via, h->chain[k].via[0] ? " " : "",
			h->chain[k].type);
	}
	if (h->chain_cut)
		fprintf(out, " (chain shortened)");
	if (h->samples > 1)
		fprintf(out, " [%d of %d sampled]", h->agreeing, h->samples);
}

static void print_text(const struct census *c, FILE *out);

/*
 * pymalloc's own accounting, one line: what its pools hold against what is
 * allocated in them (the fragmentation figure), and the size classes with
 * the most capacity unused.
 */
static void print_pymalloc(const struct pymalloc_stats *st, FILE *out)
{
	char a[32], b[32], d[32], f[32], g[32], h[32];
	int top[3], n, i;

	if (!st->known)
		return;
	if (!st->pools_known) {
		fprintf(out, "pymalloc: pools unknown (%s)\n", st->unknown);
		return;
	}
	if (!st->arenas_walked) {
		fprintf(out, "pymalloc: no arenas (not in use, or PYTHONMALLOC=malloc)\n");
		return;
	}
	fprintf(out, "pymalloc: %s in pools, %s in use (%.0f%%); pools %s in use, %s unused "
		"(empty or not yet carved); blocks %s in use of %s",
		human_bytes(st->bytes_in_pools, a, sizeof(a)),
		human_bytes(st->bytes_in_use, b, sizeof(b)),
		st->bytes_in_pools ? 100.0 * st->bytes_in_use / st->bytes_in_pools : 0.0,
		grouped(st->pools_in_use, d, sizeof(d)),
		grouped(st->pools_free, f, sizeof(f)), grouped(st->blocks, g, sizeof(g)),
		grouped(st->capacity, h, sizeof(h)));
	n = pymalloc__most_unused(st, top, 3);
	for (i = 0; i < n; i++) {
		const struct pymalloc_class *k = &st->cls[top[i]];

		fprintf(out, "%s%u B %s unused in %s pool%s (%.0f%% used)",
			i ? ", " : "; most unused: ", pymalloc__class_size(st, top[i]),
			human_bytes((double)(k->capacity - k->blocks) * pymalloc__class_size(st, top[i]),
				    a, sizeof(a)),
			grouped(k->pools, b, sizeof(b)), k->pools == 1 ? "" : "s",
			100.0 * k->blocks / k->capacity);
	}
	if (st->inconsistent)
		fprintf(out, "; %" PRIu64 " inconsistent arenas or pools skipped", st->inconsistent);
	if (st->capped)
		fprintf(out, "; CAPPED: stopped at %s pools", grouped(PYMALLOC_MAX_POOLS, a, sizeof(a)));
	fprintf(out, "\n");
}

void census__print_text(const struct census *c, FILE *out)
{
	/* the lock is not part of what the caller sees as the census */
	pthread_mutex_lock((pthread_mutex_t *)&c->out);
	print_text(c, out);
	pthread_mutex_unlock((pthread_mutex_t *)&c->out);
}

static void print_text(const struct census *c, FILE *out)
{
	const struct census_result *r = &c->r;
	char a[32], b[32], d[32];
	int i, k, shown = 0;

	if (!r->valid) {
		if (c->published)
			fprintf(out, "types: no census: %s\n", r->error);
		return;
	}
	fprintf(out, "types: %s objects, %s (census %.2f s", count_short(r->objects, a, sizeof(a)),
		human_bytes(r->bytes, b, sizeof(b)), r->seconds);
	if (r->paused_s > 0)
		fprintf(out, ", target stopped %.2f s", r->paused_s);
	if (r->inconsistencies)
		fprintf(out, ", %" PRIu64 " inconsistent reads skipped", r->inconsistencies);
	fprintf(out, ")");
	if (r->capped)
		fprintf(out, "; SAMPLED: stopped at %s objects (--census-max-objects or %.0f s)",
			grouped(r->objects, d, sizeof(d)), WALK_CAP_S);
	for (i = 0; i < r->ntypes && r->types[i].growing && i < 5; i++)
		fprintf(out, "%s%s +%s/s", i ? ", " : "; growing: ", r->types[i].name,
			grouped(r->types[i].growth_count_per_s, a, sizeof(a)));
	fprintf(out, "\n");
	for (i = 0; i < r->ntypes && shown < c->o.top; i++, shown++) {
		const struct census_type *t = &r->types[i];

		fprintf(out, "#%d %-15s %12s objects %10s", i + 1, t->name,
			grouped(t->count, a, sizeof(a)), human_bytes(t->bytes, b, sizeof(b)));
		if (t->growing || absd(t->growth_count_per_s) >= 0.5)
			fprintf(out, "   %+.0f/s", t->growth_count_per_s);
		if (strcmp(t->module, "builtins"))
			fprintf(out, "   (%s)", t->module);
		for (k = 0; k < r->nholders; k++)
			if (!strcmp(r->holders[k].type, t->name) && t->growing) {
				fprintf(out, "   held by: ");
				print_holder(&r->holders[k], out);
				break;
			}
		fprintf(out, "\n");
	}
	if (r->gc.read) {
		const struct census_gc *g = &r->gc;

		fprintf(out, "gc: collections %" PRId64 "/%" PRId64 "/%" PRId64 ", uncollectable %" PRId64
			", gc.garbage ", g->gen[0].collections, g->gen[1].collections,
			g->gen[2].collections,
			g->gen[0].uncollectable + g->gen[1].uncollectable + g->gen[2].uncollectable);
		if (g->garbage >= 0)
			fprintf(out, "%" PRId64 " items%s%s%s", g->garbage, g->garbage_types[0] ? " (" : "",
				g->garbage_types, g->garbage_types[0] ? ")" : "");
		else
			fprintf(out, "unreadable");
		fprintf(out, ", %s; counts %d/%d/%d, thresholds %d/%d/%d",
			g->enabled ? "enabled" : "DISABLED (gc.disable(): cycles are never freed)",
			g->gen[0].count, g->gen[1].count, g->gen[2].count, g->gen[0].threshold,
			g->gen[1].threshold, g->gen[2].threshold);
		if (g->permanent)
			fprintf(out, ", %" PRIu64 " frozen", g->permanent);
		fprintf(out, "\n");
	}
	{
		const struct census_mem *m = &r->mem;

		fprintf(out, "memory: RSS %s", m->rss >= 0 ? human_bytes(m->rss, a, sizeof(a)) : "?");
		if (m->window)
			fprintf(out, " (%s/s)", human_bytes(m->rss_growth_per_s, b, sizeof(b)));
		fprintf(out, ", live objects %s", human_bytes(m->live_bytes, a, sizeof(a)));
		if (m->window)
			fprintf(out, " (%s/s)", human_bytes(m->live_growth_per_s, b, sizeof(b)));
		if (m->pymalloc.known)
			fprintf(out, ", pymalloc arenas %" PRIu64 " in use (%s), high water %" PRIu64
				", %" PRIu64 " allocated in all", m->pymalloc.arenas,
				human_bytes((double)m->pymalloc.arenas * m->pymalloc.arena_size, b,
					    sizeof(b)),
				m->pymalloc.arenas_highwater, m->pymalloc.arenas_total);
		else
			fprintf(out, ", pymalloc arenas unknown (%s)", m->pymalloc.unknown);
		fprintf(out, "\n");
		print_pymalloc(&m->pymalloc, out);
		if (m->allocator_held) {
			fprintf(out, "memory: RSS grows %s/s while live objects grow %s/s: the growth is "
				"memory the allocator holds (fragmentation or freed memory kept), not "
				"live objects; no stack or type is the leak",
				human_bytes(m->rss_growth_per_s, a, sizeof(a)),
				human_bytes(m->live_growth_per_s, b, sizeof(b)));
			if (m->pymalloc.pools_known && m->pymalloc.bytes_in_pools)
				fprintf(out, " (pymalloc: %s in pools, %s in use, %.0f%%)",
					human_bytes(m->pymalloc.bytes_in_pools, a, sizeof(a)),
					human_bytes(m->pymalloc.bytes_in_use, b, sizeof(b)),
					100.0 * m->pymalloc.bytes_in_use / m->pymalloc.bytes_in_pools);
			fprintf(out, "\n");
		}
	}
}

static void print_json(const struct census *c, struct json_t *obj, int64_t traced);

void census__json(const struct census *c, struct json_t *obj, int64_t traced)
{
	pthread_mutex_lock((pthread_mutex_t *)&c->out);
	print_json(c, obj, traced);
	pthread_mutex_unlock((pthread_mutex_t *)&c->out);
}

static void print_json(const struct census *c, struct json_t *obj, int64_t traced)
{
	const struct census_result *r = &c->r;
	json_t *types, *gens, *holders, *gc, *mem, *alloc, *cen;
	int i, k;

	if (!r->valid) {
		if (c->published)
			json_object_set_new(obj, "census", json_pack("{s:b,s:s}", "valid", 0, "error",
								     r->error));
		return;
	}
	cen = json_pack("{s:b,s:I,s:I,s:f,s:f,s:I,s:b,s:I,s:I}", "valid", 1, "objects",
			(json_int_t)r->objects, "bytes", (json_int_t)r->bytes, "seconds", r->seconds,
			"paused_s", r->paused_s, "inconsistencies", (json_int_t)r->inconsistencies,
			"sampled", r->capped, "syscalls", (json_int_t)r->syscalls, "read_bytes",
			(json_int_t)r->read_bytes);
	json_object_set_new(cen, "age_s", json_real(mono_s() - r->t));
	json_object_set_new(obj, "census", cen);
	types = json_array();
	for (i = 0; i < r->ntypes && i < c->o.top; i++) {
		const struct census_type *t = &r->types[i];

		json_array_append_new(types, json_pack("{s:s,s:s,s:I,s:I,s:f,s:f,s:b}", "type", t->name,
						       "module", t->module, "count", (json_int_t)t->count,
						       "bytes", (json_int_t)t->bytes,
						       "growth_count_per_s", t->growth_count_per_s,
						       "growth_bytes_per_s", t->growth_bytes_per_s,
						       "growing", t->growing));
	}
	json_object_set_new(obj, "types", types);
	gens = json_array();
	for (i = 0; i < 3; i++)
		json_array_append_new(gens, json_pack("{s:i,s:i,s:I,s:I,s:I}", "count", r->gc.gen[i].count,
						      "threshold", r->gc.gen[i].threshold,
						      "collections", (json_int_t)r->gc.gen[i].collections,
						      "uncollectable", (json_int_t)r->gc.gen[i].uncollectable,
						      "objects", (json_int_t)r->gc.gen[i].objects));
	gc = json_pack("{s:b,s:b,s:o,s:I,s:o,s:s}", "enabled", r->gc.enabled, "collecting",
		       r->gc.collecting, "generations", gens, "permanent_objects",
		       (json_int_t)r->gc.permanent, "garbage",
		       r->gc.garbage >= 0 ? json_integer(r->gc.garbage) : json_null(),
		       "garbage_types", r->gc.garbage_types);
	json_object_set_new(obj, "gc", gc);
	alloc = pymalloc__json(&r->mem.pymalloc);
	mem = json_pack("{s:o,s:I,s:I,s:o,s:o,s:o,s:o,s:b}", "rss",
			r->mem.rss >= 0 ? json_integer(r->mem.rss) : json_null(), "live_objects",
			(json_int_t)r->mem.live_bytes, "live_count", (json_int_t)r->mem.live_objects,
			"traced", traced >= 0 ? json_integer(traced) : json_null(),
			"rss_growth_per_s", r->mem.window ? json_real(r->mem.rss_growth_per_s) : json_null(),
			"live_growth_per_s", r->mem.window ? json_real(r->mem.live_growth_per_s) : json_null(),
			"allocator", alloc, "allocator_held", r->mem.allocator_held);
	if (!r->mem.pymalloc.known)
		json_object_set_new(mem, "allocator_unknown", json_string(r->mem.pymalloc.unknown));
	json_object_set_new(obj, "memory", mem);
	holders = json_array();
	for (i = 0; i < r->nholders; i++) {
		const struct census_holder *h = &r->holders[i];
		json_t *chain = json_array(), *root;

		for (k = 0; k < h->nchain; k++)
			json_array_append_new(chain, json_pack("{s:s,s:s}", "type", h->chain[k].type, "via",
							       h->chain[k].via));
		root = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "kind", h->kind, "module", h->module,
				 "name", h->name, "where", h->where, "container_type", h->container_type,
				 "length", h->length >= 0 ? json_integer(h->length) : json_null(),
				 "length_growth_per_s",
				 h->length_growth_known ? json_real(h->length_growth_per_s) : json_null());
		json_array_append_new(holders, json_pack("{s:s,s:I,s:i,s:i,s:o,s:o,s:b}", "type", h->type,
							 "count", (json_int_t)h->count, "samples", h->samples,
							 "agreeing", h->agreeing, "root", root, "chain", chain,
							 "chain_cut", h->chain_cut));
	}
	json_object_set_new(obj, "holders", holders);
}

void census__set_interval(struct census *c, double seconds)
{
	__atomic_store(&c->o.interval, &seconds, __ATOMIC_RELAXED);
}

double census__interval(const struct census *c)
{
	double v;

	__atomic_load(&c->o.interval, &v, __ATOMIC_RELAXED);
	return v;
}
