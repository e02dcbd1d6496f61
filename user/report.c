// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Every interval: read the outstanding allocations and open fds in batches,
 * sum them by stack (only those older than -o), keep a short history per
 * stack, and rank. Stacks that keep growing rank above large but flat ones,
 * so a cache filled at start-up does not hide a small steady leak for long.
 *
 * Memory and fds are two sections over the same stacks and the same
 * history/trend/ranking code; what a section sums is its "amount": bytes
 * for memory, the open count for fds.
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
#include "census.h"
#include "fds.h"
#include "pyleak.h"
#include "report.h"
#include "stacks.h"
#include "u64map.h"

#define HISTORY		6	/* reports a trend looks back over */
#define BATCH		4096
#define EXAMPLES	3	/* fd targets shown per stack */
#define SYSCALLS	6	/* distinct creating syscalls counted per stack */

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
	[STAT_FDS_MISSED] = "fds_missed",
	[STAT_FDS_PRIVATE] = "fds_private",
};

/* Counters that mean something was dropped or unreadable. */
static const enum stat_id lossy[] = {
	STAT_READ_FAILED, STAT_STACKS_FULL, STAT_STACK_EVENTS_LOST, STAT_ALLOCS_FULL,
	STAT_NO_STASH, STAT_MISSED_RETURN, STAT_FDS_FULL, STAT_FDS_MISSED, STAT_FDS_PRIVATE,
};

enum trend { TREND_NEW, TREND_GROWING, TREND_STEADY, TREND_SHRINKING };
static const char *const trend_names[] = { "new", "growing", "steady", "shrinking" };

enum section { SEC_MEM, SEC_FDS, SEC__COUNT };

/* One stack's amount in one section, over the last reports. */
struct series {
	uint64_t amount, count, oldest_ns;	/* this report */
	uint64_t hist[HISTORY];			/* amount at the last reports, ring */
	double hist_t[HISTORY];
	unsigned int nhist;			/* samples taken, saturating */
	unsigned int seen;			/* report number it was last non-zero */
	/* derived for this report */
	enum trend trend;
	int64_t growth;
	double rate;
};

/* What a stack's open fds are, this report. */
struct fd_detail {
	uint32_t types[FD__TYPES];
	struct {
		uint32_t nr, n;
	} sys[SYSCALLS];
	char *examples[EXAMPLES];
	int nex;
};

/* One Python stack as the user reads it: the stack ids whose frames
 * symbolize the same (file, line, function) sequence are one. The walker
 * keys stacks by instruction offset, and 3.11+ records a call site at more
 * than one offset while the specializing interpreter warms it up. */
struct stack_state {
	uint64_t id;		/* the first stack id seen: the report's "id" */
	uint64_t frames_id;	/* a stack id referenced this report: its frames */
	struct series s[SEC__COUNT];
	struct fd_detail *fd;
};

/* Open fds a report accounts for besides the traced ones. */
struct fd_group {
	uint64_t count;
	uint32_t types[FD__TYPES];
};

/* An fd open before tracing: the number and the inode it had then. */
struct fd_before {
	int fd;
	uint64_t ino;
};

/* What an fd was, remembered for the report after the target is gone. */
struct fd_seen {
	uint64_t file;
	enum fd_type type;
	char desc[128];
};

/* A record whose fd number no longer names its file, seen at a report. */
struct fd_strike {
	uint64_t ts_ns, file;
};

struct reporter {
	struct report_opts o;
	struct report_meta m;
	struct stack_table *stacks_tab;
	int allocs_fd, fds_fd, stats_fd;
	struct u64map stacks;	/* stack_key() -> struct stack_state */
	struct u64map keys;	/* stack id + 1 -> its stack_key() */
	unsigned int nreport;
	double start;
	int ncpus;
	struct {
		uint64_t amount, count;
		int nstacks;
	} total[SEC__COUNT];

	/* fds */
	struct fd_before *before;
	size_t nbefore;
	struct u64map seen;		/* fd + 1 -> struct fd_seen */
	struct u64map strikes;		/* fd + 1 -> struct fd_strike, last report's */
	uint64_t missed;		/* records dropped as stale: part of STAT_FDS_MISSED */
	long open;			/* in /proc/PID/fd now, -1 when the target is gone */
	uint64_t stale;			/* records not counted: their fd closed or reused */
	struct fd_group fd_before, fd_untracked;
	/* during one report */
	uint64_t now_ns;
	struct fdscan scan;
	struct u64map new_strikes;
	struct census *census;		/* or NULL: --no-census */
};

void report__set_census(struct reporter *r, struct census *c)
{
	r->census = c;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read a whole BPF hash map in batches, handing each entry to fn. */
static int map_each(int fd, size_t ksize, size_t vsize,
		    void (*fn)(struct reporter *, const void *, const void *), struct reporter *r)
{
	char *keys = malloc(BATCH * ksize), *vals = malloc(BATCH * vsize);
	__u32 in = 0, out = 0;
	bool first = true;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		__u32 n = BATCH, j;

		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &n, NULL);
		if (err && errno != ENOENT) {
			err = -errno;
			break;
		}
		for (j = 0; j < n; j++)
			fn(r, keys + j * ksize, vals + j * vsize);
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

static void baseline_entry(struct reporter *r, const void *k, const void *v)
{
	struct fd_open *o = fdscan__find(&r->scan, ((const struct fd_key *)k)->fd);

	if (o && o->ino == ((const struct fd_info *)v)->ino)
		o->claimed = true;
}

/* Taken once the fd programs are attached: the fds open that BPF has no
 * record of were opened before tracing. */
static int fds_baseline(struct reporter *r)
{
	size_t i;
	int err;

	err = fdscan__read(&r->scan, r->m.pid);
	if (!err)
		err = map_each(r->fds_fd, sizeof(struct fd_key), sizeof(struct fd_info),
			       baseline_entry, r);
	if (!err && r->scan.n) {
		r->before = calloc(r->scan.n, sizeof(*r->before));
		if (!r->before)
			err = -ENOMEM;
	}
	for (i = 0; !err && i < r->scan.n; i++)
		if (!r->scan.v[i].claimed)
			r->before[r->nbefore++] = (struct fd_before){ r->scan.v[i].fd,
								      r->scan.v[i].ino };
	fdscan__free(&r->scan);
	return err;
}

struct reporter *report__new(const struct report_opts *o, const struct report_meta *m,
			     struct stack_table *stacks, int allocs_fd, int fds_fd, int stats_fd)
{
	struct reporter *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->o = *o;
	r->m = *m;
	r->stacks_tab = stacks;
	r->allocs_fd = allocs_fd;
	r->fds_fd = fds_fd;
	r->stats_fd = stats_fd;
	r->start = now_s();
	r->ncpus = libbpf_num_possible_cpus();
	if (r->ncpus <= 0 || u64map__init(&r->stacks, sizeof(struct stack_state)) ||
	    u64map__init(&r->keys, sizeof(uint64_t)) ||
	    u64map__init(&r->seen, sizeof(struct fd_seen)) ||
	    u64map__init(&r->strikes, sizeof(struct fd_strike)) ||
	    (fds_fd >= 0 && fds_baseline(r))) {
		report__free(r);
		return NULL;
	}
	return r;
}

static void fd_detail_clear(struct fd_detail *d)
{
	int i;

	for (i = 0; i < d->nex; i++)
		free(d->examples[i]);
	memset(d, 0, sizeof(*d));
}

void report__free(struct reporter *r)
{
	struct stack_state *st;
	uint64_t id;
	size_t i = 0;

	if (!r)
		return;
	while (r->stacks.keys && u64map__next(&r->stacks, &i, &id, (void **)&st))
		if (st->fd) {
			fd_detail_clear(st->fd);
			free(st->fd);
		}
	u64map__free(&r->stacks);
	u64map__free(&r->keys);
	u64map__free(&r->seen);
	u64map__free(&r->strikes);
	free(r->before);
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
	out[STAT_FDS_MISSED] += r->missed;
}

/* FNV-1a, the walker's hash too */
static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	while (len--)
		h = (h ^ *c++) * 0x100000001b3ULL;
	return h;
}

/* What identifies a stack in the report: a hash of its symbolized frames;
 * the special ids, and stacks that cannot be symbolized, stand alone. */
static uint64_t stack_key(struct reporter *r, uint64_t id)
{
	const struct stack_frames *sf;
	uint64_t *cached, key;
	int fresh, d;

	if (id <= STACK_LOST)
		return id + 1;
	cached = u64map__get(&r->keys, id + 1);
	if (cached)
		return *cached;
	sf = stacks__get(r->stacks_tab, id);
	if (!sf || sf->depth <= 0) {
		key = fnv(0xcbf29ce484222325ULL ^ 1, &id, sizeof(id));
	} else {
		key = 0xcbf29ce484222325ULL;
		for (d = 0; d < sf->depth; d++) {
			const struct frame_info *f = &sf->frames[d];

			key = fnv(key, f->file, strlen(f->file) + 1);
			key = fnv(key, f->function, strlen(f->function) + 1);
			key = fnv(key, &f->line, sizeof(f->line));
		}
		key = fnv(key, &sf->truncated, sizeof(sf->truncated));
	}
	if (key <= STACK_LOST + 1)	/* clear of the special ids' keys and 0 */
		key += STACK_LOST + 2;
	cached = u64map__upsert(&r->keys, id + 1, &fresh);
	if (cached)
		*cached = key;
	return key;
}

static struct stack_state *state_of(struct reporter *r, uint64_t id)
{
	struct stack_state *st;
	int fresh;

	st = u64map__upsert(&r->stacks, stack_key(r, id), &fresh);
	if (st && fresh)
		st->id = id;
	if (st)
		st->frames_id = id;
	return st;
}

static void reset(struct reporter *r, enum section sec)
{
	struct stack_state *st;
	uint64_t id;
	size_t i = 0;

	while (u64map__next(&r->stacks, &i, &id, (void **)&st)) {
		st->s[sec].amount = st->s[sec].count = st->s[sec].oldest_ns = 0;
		if (sec == SEC_FDS && st->fd)
			fd_detail_clear(st->fd);
	}
	r->total[sec].amount = r->total[sec].count = 0;
}

/* Count one outstanding item of amount under stack id; NULL if too young. */
static struct stack_state *account(struct reporter *r, enum section sec, uint64_t stack_id,
				   uint64_t ts_ns, uint64_t amount)
{
	struct stack_state *st;
	struct series *s;

	if (r->now_ns < ts_ns || r->now_ns - ts_ns < r->o.min_age_ns)
		return NULL;
	st = state_of(r, stack_id);
	if (!st)
		return NULL;
	s = &st->s[sec];
	s->amount += amount;
	s->count++;
	if (!s->oldest_ns || ts_ns < s->oldest_ns)
		s->oldest_ns = ts_ns;
	r->total[sec].amount += amount;
	r->total[sec].count++;
	return st;
}

static void alloc_entry(struct reporter *r, const void *k, const void *v)
{
	const struct alloc_info *a = v;

	/* Keep the stack in the kernel map while something references it. */
	stacks__mark(r->stacks_tab, a->stack_id);
	account(r, SEC_MEM, a->stack_id, a->ts_ns, a->size);
}

/* ---- fds */

/* JSON strings must be UTF-8; a file name need not be. Bad bytes become '?'. */
static void utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 :
			(*p & 0xf8) == 0xf0 ? 3 : -1;
		int k;

		for (k = 1; n > 0 && k <= n; k++)
			if ((p[k] & 0xc0) != 0x80)
				n = -1;
		if (n < 0) {
			*p++ = '?';
			continue;
		}
		p += n + 1;
	}
}

static void fd_detail_add(struct stack_state *st, const struct fd_info *f, enum fd_type type,
			  const char *desc)
{
	struct fd_detail *d = st->fd;
	int i;

	if (!d && !(d = st->fd = calloc(1, sizeof(*d))))
		return;
	d->types[type]++;
	for (i = 0; i < SYSCALLS && d->sys[i].n && d->sys[i].nr != f->syscall; i++)
		;
	if (i < SYSCALLS) {
		d->sys[i].nr = f->syscall;
		d->sys[i].n++;
	}
	if (!desc || d->nex == EXAMPLES)
		return;
	for (i = 0; i < d->nex; i++)
		if (!strcmp(d->examples[i], desc))
			return;
	d->examples[d->nex] = strdup(desc);
	if (d->examples[d->nex])
		utf8_clean(d->examples[d->nex++]);
}

/*
 * A record whose fd is closed, or names another inode, lost its close:
 * not counted, and dropped from the map (STAT_FDS_MISSED) if it is still
 * the same record at the next report, so a close in flight right now is
 * not mistaken for a missed one.
 */
static void fd_stale(struct reporter *r, const struct fd_key *key, const struct fd_info *f)
{
	struct fd_strike *prev = u64map__get(&r->strikes, (uint64_t)key->fd + 1), *now;
	struct fd_info cur;

	/* Gone from the map since the batch was read: its close was seen. */
	if (bpf_map_lookup_elem(r->fds_fd, key, &cur) || cur.ts_ns != f->ts_ns ||
	    cur.file != f->file)
		return;
	r->stale++;
	if (prev && prev->ts_ns == f->ts_ns && prev->file == f->file) {
		if (!bpf_map_delete_elem(r->fds_fd, key))
			r->missed++;
		return;
	}
	now = u64map__upsert(&r->new_strikes, (uint64_t)key->fd + 1, &(int){ 0 });
	if (now)
		*now = (struct fd_strike){ f->ts_ns, f->file };
}

static void fd_entry(struct reporter *r, const void *k, const void *v)
{
	const struct fd_key *key = k;
	const struct fd_info *f = v;
	const char *desc = NULL;
	enum fd_type type = FD_UNKNOWN;
	struct stack_state *st;
	struct fd_seen *seen;
	char buf[128], buf2[128];

	stacks__mark(r->stacks_tab, f->stack_id);
	if (key->pid != (__u32)r->m.pid)
		return;
	if (!r->scan.gone) {
		struct fd_open *o = fdscan__find(&r->scan, key->fd), now = { .link = NULL };

		if (o && o->ino == f->ino) {
			o->claimed = true;
			type = o->type;
			desc = fdscan__describe(&r->scan, o, buf, sizeof(buf));
		} else if (!fdscan__read_one(&r->scan, key->fd, &now) && now.ino == f->ino) {
			/* opened or replaced since the scan: look again, now */
			type = now.type;
			snprintf(buf2, sizeof(buf2), "%s",
				 fdscan__describe(&r->scan, &now, buf, sizeof(buf)));
			desc = buf2;
			free(now.link);
		} else {
			free(now.link);
			fd_stale(r, key, f);
			return;
		}
		seen = u64map__upsert(&r->seen, (uint64_t)key->fd + 1, &(int){ 0 });
		if (seen) {
			seen->file = f->file;
			seen->type = type;
			snprintf(seen->desc, sizeof(seen->desc), "%s", desc);
		}
	} else {
		/* Gone: what the fd was when last seen, if it is the same file. */
		seen = u64map__get(&r->seen, (uint64_t)key->fd + 1);
		if (seen && seen->file == f->file) {
			type = seen->type;
			desc = seen->desc;
		}
	}
	st = account(r, SEC_FDS, f->stack_id, f->ts_ns, 1);
	if (st)
		fd_detail_add(st, f, type, desc);
}

static bool was_before(const struct reporter *r, int fd, uint64_t ino)
{
	size_t lo = 0, hi = r->nbefore;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r->before[mid].fd == fd)
			return r->before[mid].ino == ino;
		if (r->before[mid].fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Records against /proc/PID/fd: types, examples, stale records, and the
 * open fds no record explains (before tracing, or opened untraced). */
static int collect_fds(struct reporter *r)
{
	size_t i;
	int err;

	reset(r, SEC_FDS);
	memset(&r->fd_before, 0, sizeof(r->fd_before));
	memset(&r->fd_untracked, 0, sizeof(r->fd_untracked));
	r->open = -1;
	r->stale = 0;
	if (r->fds_fd < 0)
		return 0;
	err = fdscan__read(&r->scan, r->m.pid);
	if (!err)
		err = u64map__init(&r->new_strikes, sizeof(struct fd_strike));
	if (!err)
		err = map_each(r->fds_fd, sizeof(struct fd_key), sizeof(struct fd_info), fd_entry,
			       r);
	if (!err && !r->scan.gone) {
		r->open = r->scan.n;
		for (i = 0; i < r->scan.n; i++) {
			const struct fd_open *o = &r->scan.v[i];
			struct fd_group *g;

			if (o->claimed)
				continue;
			g = was_before(r, o->fd, o->ino) ? &r->fd_before : &r->fd_untracked;
			g->count++;
			g->types[o->type]++;
		}
		/* A stale record struck now is judged at the next report. */
		u64map__free(&r->strikes);
		r->strikes = r->new_strikes;
		memset(&r->new_strikes, 0, sizeof(r->new_strikes));
	}
	if (r->new_strikes.keys)
		u64map__free(&r->new_strikes);
	fdscan__free(&r->scan);
	return err;
}

/* ---- history, trend, rank */

/* Push this report's sample of a section and derive trend and growth. */
static void update_trends(struct reporter *r, enum section sec, double t)
{
	struct stack_state *st;
	uint64_t id;
	size_t i = 0;

	while (u64map__next(&r->stacks, &i, &id, (void **)&st)) {
		unsigned int slot = r->nreport % HISTORY, n, k, ups = 0;
		struct series *s = &st->s[sec];
		unsigned int first;
		int64_t net;
		double dt;

		if (!s->amount && !s->nhist)
			continue;
		s->hist[slot] = s->amount;
		s->hist_t[slot] = t;
		if (s->nhist < HISTORY)
			s->nhist++;
		if (s->amount)
			s->seen = r->nreport;
		n = s->nhist;
		first = (r->nreport + HISTORY - (n - 1)) % HISTORY;
		s->growth = n > 1 ? (int64_t)s->amount -
				    (int64_t)s->hist[(slot + HISTORY - 1) % HISTORY] : 0;
		for (k = 1; k < n; k++) {
			unsigned int a = (first + k - 1) % HISTORY, b = (first + k) % HISTORY;

			ups += s->hist[b] > s->hist[a];
		}
		net = (int64_t)s->amount - (int64_t)s->hist[first];
		dt = t - s->hist_t[first];
		s->rate = dt > 0 ? net / dt : 0;
		if (n == 1)
			s->trend = TREND_NEW;
		/* Growing: net growth over the window, rising in most intervals. */
		else if (net > 0 && ups * 2 >= n - 1)
			s->trend = TREND_GROWING;
		else if (net < 0)
			s->trend = TREND_SHRINKING;
		else
			s->trend = TREND_STEADY;
	}
}

struct ranked {
	uint64_t id;		/* the report's id (special ids are themselves) */
	uint64_t frames_id;
	struct stack_state *st;
	struct series *s;
};

static int cmp_ranked(const void *a, const void *b)
{
	const struct series *x = ((const struct ranked *)a)->s;
	const struct series *y = ((const struct ranked *)b)->s;
	int gx = x->trend == TREND_GROWING, gy = y->trend == TREND_GROWING;

	if (gx != gy)
		return gy - gx;
	return x->amount < y->amount ? 1 : x->amount > y->amount ? -1 : 0;
}

/* The stacks with something outstanding in sec, growing first, then by amount. */
static struct ranked *rank(struct reporter *r, enum section sec, int *n)
{
	struct ranked *rk = calloc(r->stacks.used + 1, sizeof(*rk));
	struct stack_state *st;
	uint64_t key;
	size_t i = 0;

	*n = 0;
	if (!rk)
		return NULL;
	while (u64map__next(&r->stacks, &i, &key, (void **)&st))
		if (st->s[sec].amount)
			rk[(*n)++] = (struct ranked){ st->id, st->frames_id, st, &st->s[sec] };
	qsort(rk, *n, sizeof(*rk), cmp_ranked);
	r->total[sec].nstacks = *n;
	return rk;
}

static const char *special_stack(uint64_t id)
{
	if (id == STACK_NONE)
		return "[no Python frame: GIL released, native thread, interpreter start-up or shutdown]";
	if (id == STACK_LOST)
		return "[stack not recorded: the stacks map was full]";
	return NULL;
}

/* ---- text */

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

static void print_frames(struct reporter *r, uint64_t id)
{
	const char *special = special_stack(id);
	const struct stack_frames *sf;
	int d;

	if (special) {
		printf("        %s\n", special);
		return;
	}
	sf = stacks__get(r->stacks_tab, id);
	for (d = 0; sf && d < sf->depth; d++)
		printf("        %s:%d in %s\n", sf->frames[d].file, sf->frames[d].line,
		       sf->frames[d].function);
	if (sf && sf->truncated)
		printf("        [deeper frames not kept: over %d]\n", MAX_FRAMES);
	if (!sf || sf->depth < 0)
		printf("        [stack unreadable]\n");
}

/* "3 file, 2 pipe" */
static void print_types(const uint32_t *types)
{
	const char *sep = "";
	int k;

	for (k = 0; k < FD__TYPES; k++)
		if (types[k]) {
			printf("%s%u %s", sep, types[k], fds__type_name(k));
			sep = ", ";
		}
}

static void print_text_fds(struct reporter *r, struct ranked *rk, int n, double t)
{
	int i, k;

	if (r->open >= 0)
		printf("fds: %ld open: %" PRIu64 " traced in %d stacks%s, %" PRIu64
		       " open before tracing", r->open, r->total[SEC_FDS].count, n,
		       r->o.min_age_ns ? " (older than -o)" : "", r->fd_before.count);
	else
		printf("fds: the target is gone; %" PRIu64 " traced fds in %d stacks were open "
		       "when it went (its exit closed them)", r->total[SEC_FDS].count, n);
	if (r->fd_before.count) {
		printf(" (");
		print_types(r->fd_before.types);
		printf(")");
	}
	if (r->fd_untracked.count) {
		printf(", %" PRIu64 " opened untraced (", r->fd_untracked.count);
		print_types(r->fd_untracked.types);
		printf(")");
	}
	if (r->stale)
		printf(", %" PRIu64 " records no longer open (closes not seen)", r->stale);
	printf("\n");
	for (i = 0; i < n && i < r->o.top; i++) {
		const struct series *s = rk[i].s;
		const struct fd_detail *d = rk[i].st->fd;

		printf("#%d %-9s %" PRIu64 " fds", i + 1, trend_names[s->trend], s->amount);
		if (d) {
			printf(" (");
			print_types(d->types);
			printf(")");
		}
		printf(", %+.1f/s over the last %u reports (%+" PRId64 " since the last), "
		       "oldest %.1fs\n", s->rate, s->nhist, s->growth, t - s->oldest_ns / 1e9);
		if (d && d->nex) {
			printf("        e.g.");
			for (k = 0; k < d->nex; k++)
				printf("%s %s", k ? "," : "", d->examples[k]);
			printf("\n");
		}
		print_frames(r, rk[i].frames_id);
	}
}

static void print_text(struct reporter *r, struct ranked *mem, int nmem, struct ranked *fds,
		       int nfds, const uint64_t *stats, double t, bool final,
		       const char *exit_reason)
{
	char b1[32], b2[32], ts[16];
	time_t wall = time(NULL);
	int i, k;

	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&wall));
	if (r->m.memory)
		printf("%s%s pid %d CPython %s, coverage %s (allocator %s): %s outstanding in %"
		       PRIu64 " allocations%s\n", final ? "Final report " : "", ts, r->m.pid,
		       r->m.python, r->m.coverage, r->m.allocator,
		       human(r->total[SEC_MEM].amount, b1, sizeof(b1)), r->total[SEC_MEM].count,
		       r->o.min_age_ns ? " older than -o" : "");
	else
		printf("%s%s pid %d CPython %s: memory not traced (--fds-only)\n",
		       final ? "Final report " : "", ts, r->m.pid, r->m.python);
	for (i = 0; i < nmem && i < r->o.top; i++) {
		const struct series *s = mem[i].s;

		printf("#%d %-9s %s in %" PRIu64 " allocations, %s/s over the last %u reports "
		       "(%s%s since the last), oldest %.1fs\n", i + 1, trend_names[s->trend],
		       human(s->amount, b1, sizeof(b1)), s->count, human(s->rate, b2, sizeof(b2)),
		       s->nhist, s->growth >= 0 ? "+" : "", human(s->growth, ts, sizeof(ts)),
		       t - s->oldest_ns / 1e9);
		print_frames(r, mem[i].frames_id);
	}
	if (r->m.fds)
		print_text_fds(r, fds, nfds, t);
	if (r->census)
		census__print_text(r->census, stdout);
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

/* ---- JSON */

static json_t *json_frames(struct reporter *r, uint64_t id, bool *truncated)
{
	const struct stack_frames *sf = NULL;
	json_t *frames = json_array();
	int d;

	if (!special_stack(id))
		sf = stacks__get(r->stacks_tab, id);
	for (d = 0; sf && d < sf->depth; d++)
		json_array_append_new(frames, json_pack("{s:s,s:s,s:i}", "function",
							sf->frames[d].function, "file",
							sf->frames[d].file, "line",
							sf->frames[d].line));
	*truncated = sf && sf->truncated;
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

static json_t *json_mem_stack(struct reporter *r, const struct ranked *rk, double t)
{
	const struct series *s = rk->s;
	bool truncated;
	json_t *frames = json_frames(r, rk->frames_id, &truncated);
	char id[24];

	snprintf(id, sizeof(id), "%016" PRIx64, rk->id);
	return json_pack("{s:s,s:I,s:I,s:I,s:f,s:s,s:f,s:b,s:o}", "id", id, "bytes",
			 (json_int_t)s->amount, "count", (json_int_t)s->count, "growth_bytes",
			 (json_int_t)s->growth, "growth_bytes_per_s", s->rate, "trend",
			 trend_names[s->trend], "oldest_s", t - s->oldest_ns / 1e9, "truncated",
			 truncated, "frames", frames);
}

static json_t *json_fd_stack(struct reporter *r, const struct ranked *rk, double t)
{
	const struct fd_detail *d = rk->st->fd;
	const struct series *s = rk->s;
	json_t *ex = json_array(), *sys = json_object(), *frames;
	uint32_t none[FD__TYPES] = {};
	bool truncated;
	char id[24], buf[32];
	int k;

	frames = json_frames(r, rk->frames_id, &truncated);
	for (k = 0; d && k < d->nex; k++)
		json_array_append_new(ex, json_string(d->examples[k]));
	for (k = 0; d && k < SYSCALLS && d->sys[k].n; k++)
		json_object_set_new(sys, fds__syscall_name(d->sys[k].nr, buf, sizeof(buf)),
				    json_integer(d->sys[k].n));
	snprintf(id, sizeof(id), "%016" PRIx64, rk->id);
	return json_pack("{s:s,s:I,s:I,s:f,s:s,s:f,s:b,s:o,s:o,s:o,s:o}", "id", id, "count",
			 (json_int_t)s->amount, "growth", (json_int_t)s->growth, "growth_per_s",
			 s->rate, "trend", trend_names[s->trend], "oldest_s",
			 t - s->oldest_ns / 1e9, "truncated", truncated, "frames", frames,
			 "types", json_types(d ? d->types : none), "examples", ex, "syscalls", sys);
}

static json_t *json_section(struct reporter *r, struct ranked *rk, int n, double t,
			    json_t *(*entry)(struct reporter *, const struct ranked *, double))
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < n && i < r->o.top; i++) {
		json_t *e = entry(r, &rk[i], t);

		if (special_stack(rk[i].id))
			json_object_set_new(e, "note", json_string(special_stack(rk[i].id)));
		json_array_append_new(arr, e);
	}
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

static void print_json(struct reporter *r, struct ranked *mem, int nmem, struct ranked *fds,
		       int nfds, const uint64_t *stats, double t, bool final,
		       const char *exit_reason)
{
	json_t *o = json_object(), *js = json_object(), *ft;
	char *s;
	int k;

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
	json_object_set_new(o, "tracking", json_pack("{s:b,s:b,s:o}", "memory", r->m.memory,
						     "fds", r->m.fds, "fd_tracepoints",
						     json_nullable(r->m.fd_tracepoints)));
	json_object_set_new(o, "min_age_ms", json_integer(r->o.min_age_ns / 1000000));
	json_object_set_new(o, "totals", json_pack("{s:I,s:I,s:I}", "bytes",
						   (json_int_t)r->total[SEC_MEM].amount, "count",
						   (json_int_t)r->total[SEC_MEM].count, "stacks",
						   (json_int_t)nmem));
	ft = json_pack("{s:I,s:I,s:I,s:I,s:I}", "traced", (json_int_t)r->total[SEC_FDS].count,
		       "stacks", (json_int_t)nfds, "before", (json_int_t)r->fd_before.count,
		       "untracked", (json_int_t)r->fd_untracked.count, "stale",
		       (json_int_t)r->stale);
	json_object_set_new(ft, "open", r->open >= 0 ? json_integer(r->open) : json_null());
	json_object_set_new(o, "fd_totals", ft);
	for (k = 0; k < STAT__COUNT; k++)
		json_object_set_new(js, stat_names[k], json_integer((json_int_t)stats[k]));
	json_object_set_new(o, "stats", js);
	json_object_set_new(o, "stacks", json_section(r, mem, nmem, t, json_mem_stack));
	json_object_set_new(o, "fds", json_section(r, fds, nfds, t, json_fd_stack));
	json_object_set_new(o, "fds_before", json_group(&r->fd_before));
	json_object_set_new(o, "fds_untracked", json_group(&r->fd_untracked));
	if (r->census)
		census__json(r->census, o, r->m.memory ? (int64_t)r->total[SEC_MEM].amount : -1);
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
	struct ranked *mem, *fds;
	int nmem, nfds, err;
	double t;

	r->now_ns = (uint64_t)(now_s() * 1e9);
	reset(r, SEC_MEM);
	err = map_each(r->allocs_fd, sizeof(struct alloc_key), sizeof(struct alloc_info),
		       alloc_entry, r);
	if (!err)
		err = collect_fds(r);
	if (err)
		return err;
	/* after both sections marked what they reference */
	stacks__sweep(r->stacks_tab);
	read_stats(r, stats);
	t = now_s();
	update_trends(r, SEC_MEM, t);
	update_trends(r, SEC_FDS, t);
	mem = rank(r, SEC_MEM, &nmem);
	fds = rank(r, SEC_FDS, &nfds);
	if (!mem || !fds) {
		free(mem);
		free(fds);
		return -ENOMEM;
	}
	if (r->o.json)
		print_json(r, mem, nmem, fds, nfds, stats, t, final, exit_reason);
	else
		print_text(r, mem, nmem, fds, nfds, stats, t, final, exit_reason);
	free(mem);
	free(fds);
	r->nreport++;
	return 0;
}
