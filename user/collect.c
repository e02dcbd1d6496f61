// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Every interval: read the outstanding allocations and open fds in batches,
 * sum them by stack (only those older than -o), push each stack's sample
 * into its history (user/trend.c), and rank. Memory and fds are two
 * sections over the same stacks; what a section sums is its "amount":
 * bytes for memory, the open count for fds.
 *
 * Exact allocations are read as BPF's per-(stack, epoch) sums (stack_agg,
 * user/agg.h) plus what earlier reports drained from it: O(stacks). The
 * records themselves are read only while some are sampled (their scaling
 * is per size), after a sum missed a change (STAT_AGG_FULL: then every
 * record, one by one), and, bounded, for the blocks stacktypes reads.
 */
#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "agg.h"
#include "collect.h"
#include "fds.h"
#include "pyleak.h"
#include "stacks.h"
#include "stacktypes.h"
#include "u64map.h"

#define BATCH		4096

const char *const snapshot__stat_names[STAT__COUNT] = {
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
	[STAT_STACK_COLLISIONS] = "stack_collisions",
	[STAT_STACK_NODES] = "stack_nodes",
	[STAT_ALLOCS_FULL] = "allocs_full",
	[STAT_NO_STASH] = "no_stash",
	[STAT_MISSED_RETURN] = "missed_return",
	[STAT_FDS_OPENED] = "fds_opened",
	[STAT_FDS_CLOSED] = "fds_closed",
	[STAT_FDS_FULL] = "fds_full",
	[STAT_FDS_MISSED] = "fds_missed",
	[STAT_FDS_PRIVATE] = "fds_private",
	[STAT_CALLS] = "calls",
	[STAT_FREE_CALLS] = "free_calls",
	[STAT_AGG_FULL] = "agg_full",
	[STAT_RETURNS_SKIPPED] = "returns_skipped",
	[STAT_LEAF_KEPT] = "leaf_kept",
};

bool snapshot__stat_lossy(enum stat_id id)
{
	switch (id) {
	case STAT_READ_FAILED: case STAT_STACKS_FULL: case STAT_STACK_EVENTS_LOST:
	case STAT_STACK_COLLISIONS:
	case STAT_ALLOCS_FULL: case STAT_NO_STASH: case STAT_MISSED_RETURN: case STAT_FDS_FULL:
	case STAT_FDS_MISSED: case STAT_FDS_PRIVATE: case STAT_AGG_FULL:
		return true;
	default:
		return false;
	}
}

const char *snapshot__as_of_name(uint32_t why)
{
	switch (why) {
	case FREEZE_DETACH:
		return "detach";
	case FREEZE_SHUTDOWN:
		return "shutdown";
	case FREEZE_EXIT:
		return "exit";
	case FREEZE_EXIT_IN_SHUTDOWN:
		return "exit_in_shutdown";
	case FREEZE_EXEC:
		return "exec";
	default:
		return "now";
	}
}

const char *snapshot__special(uint64_t id)
{
	if (id == STACK_NONE)
		return "[no Python frame: GIL released, native thread, interpreter start-up or shutdown]";
	if (id == STACK_LOST)
		return "[stack not recorded: the stack store was full]";
	return NULL;
}

enum section { SEC_MEM, SEC_FDS, SEC__COUNT };

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

/* A stack id's identity in the report, cached while its frames are the
 * ones it was made from. */
struct key_cache {
	uint64_t key;
	unsigned int used;	/* report it was last looked up in */
	unsigned int version;	/* stack_frames.version it was made from */
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

/* A stack's exact sums in one collection, before they are added: signed,
 * an entry may hold the frees of allocations another one counted. */
struct agg_acc {
	int64_t bytes, count, kept;
	uint64_t oldest_ns;
};

/* The ranked stacks whose blocks stacktypes wants, while the records are
 * read for them alone (types_scan). */
struct types_want {
	uint64_t id[STACKTYPES_STACKS];
	uint64_t need[STACKTYPES_STACKS];	/* its count, at most STACKTYPES_SAMPLES */
	uint64_t got[STACKTYPES_STACKS];
	int n, missing;
};

struct collector {
	struct report_meta m;
	uint64_t min_age_ns;
	struct collect_maps maps;
	struct stack_table *stacks_tab;
	struct u64map stacks;	/* stack_key() -> struct stack_state */
	struct u64map keys;	/* stack id + 1 -> struct key_cache */
	unsigned int nreport;
	double start;
	int ncpus;
	uint64_t prev_ns;	/* the previous collection's instant: "kept" is older */
	uint64_t base[STAT__COUNT];	/* the slot's counters when this process got it */
	struct stacktypes *types;	/* the memory stacks' types, with a census */
	struct u64map bases;		/* stack id + 1 -> struct agg_base: drained sums */
	struct u64map acc;		/* stack id + 1 -> struct agg_acc, during a collection */
	struct collector *next;		/* every collector: their bases' stacks stay in the store */

	/* fds */
	struct fd_before *before;
	size_t nbefore;
	struct u64map seen;		/* fd + 1 -> struct fd_seen */
	struct u64map strikes;		/* fd + 1 -> struct fd_strike, last report's */
	uint64_t missed;		/* records dropped as stale: part of STAT_FDS_MISSED */

	/* during one collection */
	uint64_t now_ns;
	bool sums;		/* its exact allocations are counted from stack_agg */
	double t_end;		/* when its stacks were ranked */
	struct types_want want;
	struct fdscan scan;
	struct u64map new_strikes;

	struct snapshot snap;
};

static struct collector *collectors;	/* every live one, through ->next */

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read a BPF hash map in batches, handing each entry to fn: all of it, or
 * until *stop (if given) is set at the end of a batch. */
static int map_each_until(int fd, size_t ksize, size_t vsize,
			  void (*fn)(struct collector *, const void *, const void *),
			  struct collector *c, const bool *stop)
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
			fn(c, keys + j * ksize, vals + j * vsize);
		if (err || (stop && *stop)) {	/* ENOENT: that was the last batch */
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

static int map_each(int fd, size_t ksize, size_t vsize,
		    void (*fn)(struct collector *, const void *, const void *), struct collector *c)
{
	return map_each_until(fd, ksize, vsize, fn, c, NULL);
}

static void baseline_entry(struct collector *c, const void *k, const void *v)
{
	const struct fd_key *key = k;
	struct fd_open *o = key->pid == (__u32)c->m.host_pid ?
			    fdscan__find(&c->scan, key->fd) : NULL;

	if (o && o->ino == ((const struct fd_info *)v)->ino)
		o->claimed = true;
}

/* Taken once the fd programs are attached: the fds open that BPF has no
 * record of were opened before tracing. */
static int fds_baseline(struct collector *c)
{
	size_t i;
	int err;

	err = fdscan__read(&c->scan, c->m.pid);
	if (!err)
		err = map_each(c->maps.fds_fd, sizeof(struct fd_key), sizeof(struct fd_info),
			       baseline_entry, c);
	if (!err && c->scan.n) {
		c->before = calloc(c->scan.n, sizeof(*c->before));
		if (!c->before)
			err = -ENOMEM;
	}
	for (i = 0; !err && i < c->scan.n; i++)
		if (!c->scan.v[i].claimed)
			c->before[c->nbefore++] = (struct fd_before){ c->scan.v[i].fd,
								      c->scan.v[i].ino };
	fdscan__free(&c->scan);
	return err;
}

static void read_slot(struct collector *c, uint64_t *out);

struct collector *collect__new(const struct report_meta *m, uint64_t min_age_ns,
			       const struct collect_maps *maps, struct stack_table *stacks)
{
	struct collector *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->m = *m;
	c->min_age_ns = min_age_ns;
	c->maps = *maps;
	c->stacks_tab = stacks;
	c->start = mono_s();
	c->prev_ns = (uint64_t)(c->start * 1e9);
	c->next = collectors;
	collectors = c;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus > 0)
		read_slot(c, c->base);
	if (c->ncpus <= 0 || u64map__init(&c->stacks, sizeof(struct stack_state)) ||
	    u64map__init(&c->keys, sizeof(struct key_cache)) ||
	    u64map__init(&c->seen, sizeof(struct fd_seen)) ||
	    u64map__init(&c->strikes, sizeof(struct fd_strike)) ||
	    u64map__init(&c->bases, sizeof(struct agg_base)) ||
	    u64map__init(&c->acc, sizeof(struct agg_acc)) ||
	    (maps->fds_fd >= 0 && fds_baseline(c))) {
		collect__free(c);
		return NULL;
	}
	return c;
}

static void fd_detail_clear(struct fd_detail *d)
{
	int i;

	for (i = 0; i < d->nex; i++)
		free(d->examples[i]);
	memset(d, 0, sizeof(*d));
}

static void state_free(struct stack_state *st)
{
	if (st->fd) {
		fd_detail_clear(st->fd);
		free(st->fd);
		st->fd = NULL;
	}
}

struct report_meta *collect__meta(struct collector *c)
{
	return &c->m;
}

void collect__set_census(struct collector *c, const struct census *census)
{
	c->snap.census = census;
	stacktypes__free(c->types);
	c->types = stacktypes__new_census(census);
}

void collect__free(struct collector *c)
{
	struct stack_state *st;
	uint64_t id;
	size_t i = 0;

	struct collector **pp;

	if (!c)
		return;
	for (pp = &collectors; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	while (c->stacks.keys && u64map__next(&c->stacks, &i, &id, (void **)&st))
		state_free(st);
	u64map__free(&c->stacks);
	u64map__free(&c->keys);
	u64map__free(&c->seen);
	u64map__free(&c->strikes);
	fdscan__release(&c->scan);
	u64map__free(&c->bases);
	u64map__free(&c->acc);
	stacktypes__free(c->types);
	free(c->snap.mem.v);
	free(c->snap.fds.v);
	free(c->before);
	free(c);
}

/* One counter summed over the CPUs; 0 if unreadable. */
static uint64_t stat_sum(int stats_fd, int ncpus, uint32_t key)
{
	uint64_t vals[ncpus], sum = 0;
	int cpu;

	if (bpf_map_lookup_elem(stats_fd, &key, vals))
		return 0;
	for (cpu = 0; cpu < ncpus; cpu++)
		sum += vals[cpu];
	return sum;
}

static void read_slot(struct collector *c, uint64_t *out)
{
	uint32_t k;

	for (k = 0; k < STAT__COUNT; k++)
		out[k] = stat_sum(c->maps.stats_fd, c->ncpus, STAT_KEY(c->maps.slot, k));
}

/* This process's counters: its slot's, since it got the slot. */
static void read_stats(struct collector *c, uint64_t *out)
{
	uint32_t k;

	read_slot(c, out);
	for (k = 0; k < STAT__COUNT; k++)
		out[k] -= out[k] >= c->base[k] ? c->base[k] : out[k];
	out[STAT_FDS_MISSED] += c->missed;
}

void collect__counters(struct collector *c, const enum stat_id *ids, int n, uint64_t *out)
{
	uint64_t v;
	int i;

	for (i = 0; i < n; i++) {
		v = stat_sum(c->maps.stats_fd, c->ncpus, STAT_KEY(c->maps.slot, ids[i]));
		out[ids[i]] = v - (v >= c->base[ids[i]] ? c->base[ids[i]] : v);
	}
}

uint64_t collect__stat_total(int stats_fd, enum stat_id id)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t sum = 0;
	uint32_t slot;

	for (slot = 0; ncpus > 0 && slot < STAT_SLOTS; slot++)
		sum += stat_sum(stats_fd, ncpus, STAT_KEY(slot, id));
	return sum;
}

/* FNV-1a, the walker's hash too */
static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	while (len--)
		h = (h ^ *s++) * 0x100000001b3ULL;
	return h;
}

/* What identifies a stack in the report: a hash of its symbolized frames;
 * the special ids, and stacks that cannot be symbolized, stand alone. */
static uint64_t stack_key(struct collector *c, uint64_t id)
{
	const struct stack_frames *sf;
	struct key_cache *cached;
	uint64_t key;
	int fresh, d;

	if (id <= STACK_LOST)
		return id + 1;
	sf = stacks__get(c->stacks_tab, id);
	cached = u64map__get(&c->keys, id + 1);
	if (cached && sf && cached->version == sf->version) {
		cached->used = c->nreport;
		return cached->key;
	}
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
	cached = u64map__upsert(&c->keys, id + 1, &fresh);
	if (cached)
		*cached = (struct key_cache){ key, c->nreport, sf ? sf->version : 0 };
	return key;
}

static struct stack_state *state_of(struct collector *c, uint64_t id)
{
	struct stack_state *st;
	int fresh;

	st = u64map__upsert(&c->stacks, stack_key(c, id), &fresh);
	if (st && fresh)
		st->id = id;
	if (st)
		st->frames_id = id;
	return st;
}

static void clear_samples(struct collector *c, enum section sec)
{
	struct stack_state *st;
	uint64_t id;
	size_t i = 0;

	while (u64map__next(&c->stacks, &i, &id, (void **)&st)) {
		trend__clear_sample(&st->s[sec]);
		if (sec == SEC_FDS && st->fd)
			fd_detail_clear(st->fd);
	}
}

static bool old_enough(const struct collector *c, uint64_t ts_ns)
{
	return c->now_ns >= ts_ns && c->now_ns - ts_ns >= c->min_age_ns;
}

/* Add amount and count (kept of it outstanding at the last collection,
 * the oldest from oldest_ns) under stack id. */
static struct stack_state *add_to(struct collector *c, enum section sec, uint64_t stack_id,
				  uint64_t amount, uint64_t count, uint64_t kept, uint64_t oldest_ns)
{
	struct stack_state *st = state_of(c, stack_id);
	struct series *s;

	if (!st)
		return NULL;
	s = &st->s[sec];
	s->amount += amount;
	s->count += count;
	s->kept += kept;
	if (!s->oldest_ns || oldest_ns < s->oldest_ns)
		s->oldest_ns = oldest_ns;
	return st;
}

/* Count one outstanding item of amount under stack id; NULL if too young. */
static struct stack_state *account(struct collector *c, enum section sec, uint64_t stack_id,
				   uint64_t ts_ns, uint64_t amount, uint64_t count)
{
	if (!old_enough(c, ts_ns))
		return NULL;
	return add_to(c, sec, stack_id, amount, count, ts_ns <= c->prev_ns ? amount : 0, ts_ns);
}

/* ---- fds */

static void fd_detail_add(struct stack_state *st, const struct fd_info *f, enum fd_type type,
			  const char *desc)
{
	struct fd_detail *d = st->fd;
	int i;

	if (!d && !(d = st->fd = calloc(1, sizeof(*d))))
		return;
	d->types[type]++;
	for (i = 0; i < SNAP_SYSCALLS && d->sys[i].n && d->sys[i].nr != f->syscall; i++)
		;
	if (i < SNAP_SYSCALLS) {
		d->sys[i].nr = f->syscall;
		d->sys[i].n++;
	}
	if (!desc || d->nex == SNAP_EXAMPLES)
		return;
	for (i = 0; i < d->nex; i++)
		if (!strcmp(d->examples[i], desc))
			return;
	d->examples[d->nex] = strdup(desc);
	if (d->examples[d->nex])
		d->nex++;
}

/*
 * A record whose fd is closed, or names another inode, lost its close:
 * not counted, and dropped from the map (STAT_FDS_MISSED) if it is still
 * the same record at the next report, so a close in flight right now is
 * not mistaken for a missed one.
 */
static void fd_stale(struct collector *c, const struct fd_key *key, const struct fd_info *f)
{
	struct fd_strike *prev = u64map__get(&c->strikes, (uint64_t)key->fd + 1), *now;
	struct fd_info cur;

	/* Gone from the map since the batch was read: its close was seen. */
	if (bpf_map_lookup_elem(c->maps.fds_fd, key, &cur) || cur.ts_ns != f->ts_ns ||
	    cur.file != f->file)
		return;
	c->snap.fds_stale++;
	if (prev && prev->ts_ns == f->ts_ns && prev->file == f->file) {
		if (!bpf_map_delete_elem(c->maps.fds_fd, key))
			c->missed++;
		return;
	}
	now = u64map__upsert(&c->new_strikes, (uint64_t)key->fd + 1, &(int){ 0 });
	if (now)
		*now = (struct fd_strike){ f->ts_ns, f->file };
}

static void fd_entry(struct collector *c, const void *k, const void *v)
{
	const struct fd_key *key = k;
	const struct fd_info *f = v;
	const char *desc = NULL;
	enum fd_type type = FD_UNKNOWN;
	struct stack_state *st;
	struct fd_seen *seen;
	char buf[128], buf2[128];

	stacks__mark(c->stacks_tab, f->stack_id);
	if (key->pid != (__u32)c->m.host_pid)
		return;
	if (!c->scan.gone) {
		struct fd_open *o = fdscan__find(&c->scan, key->fd), now = { .link = NULL };

		if (o && o->ino == f->ino) {
			o->claimed = true;
			type = o->type;
			desc = fdscan__describe(&c->scan, o, buf, sizeof(buf));
		} else if (!fdscan__read_one(&c->scan, key->fd, &now) && now.ino == f->ino) {
			/* opened or replaced since the scan: look again, now */
			type = now.type;
			snprintf(buf2, sizeof(buf2), "%s",
				 fdscan__describe(&c->scan, &now, buf, sizeof(buf)));
			desc = buf2;
			free(now.link);
		} else {
			free(now.link);
			fd_stale(c, key, f);
			return;
		}
		seen = u64map__upsert(&c->seen, (uint64_t)key->fd + 1, &(int){ 0 });
		if (seen) {
			seen->file = f->file;
			seen->type = type;
			snprintf(seen->desc, sizeof(seen->desc), "%s", desc);
		}
	} else {
		/* Gone: what the fd was when last seen, if it is the same file. */
		seen = u64map__get(&c->seen, (uint64_t)key->fd + 1);
		if (seen && seen->file == f->file) {
			type = seen->type;
			desc = seen->desc;
		}
	}
	st = account(c, SEC_FDS, f->stack_id, f->ts_ns, 1, 1);
	if (st)
		fd_detail_add(st, f, type, desc);
}

static bool was_before(const struct collector *c, int fd, uint64_t ino)
{
	size_t lo = 0, hi = c->nbefore;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c->before[mid].fd == fd)
			return c->before[mid].ino == ino;
		if (c->before[mid].fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Records against /proc/PID/fd: types, examples, stale records, and the
 * open fds no record explains (before tracing, or opened untraced). */
static int collect_fds(struct collector *c)
{
	struct snapshot *sn = &c->snap;
	size_t i;
	int err;

	clear_samples(c, SEC_FDS);
	memset(&sn->fds_before, 0, sizeof(sn->fds_before));
	memset(&sn->fds_untracked, 0, sizeof(sn->fds_untracked));
	sn->fds_open = -1;
	sn->fds_stale = 0;
	if (c->maps.fds_fd < 0)
		return 0;
	if (sn->as_of > FREEZE_DETACH) {
		/* Frozen at the target's shutdown, exit or exec: /proc/PID shows
		 * a later state, or another process that got the pid. */
		fdscan__free(&c->scan);
		c->scan.gone = true;
		err = 0;
	} else {
		err = fdscan__read(&c->scan, c->m.pid);
	}
	if (!err)
		err = u64map__init(&c->new_strikes, sizeof(struct fd_strike));
	if (!err)
		err = map_each(c->maps.fds_fd, sizeof(struct fd_key), sizeof(struct fd_info),
			       fd_entry, c);
	if (!err && !c->scan.gone) {
		sn->fds_open = c->scan.n;
		for (i = 0; i < c->scan.n; i++) {
			const struct fd_open *o = &c->scan.v[i];
			struct fd_group *g;

			if (o->claimed)
				continue;
			g = was_before(c, o->fd, o->ino) ? &sn->fds_before : &sn->fds_untracked;
			g->count++;
			g->types[o->type]++;
		}
		/* A stale record struck now is judged at the next report. */
		u64map__free(&c->strikes);
		c->strikes = c->new_strikes;
		memset(&c->new_strikes, 0, sizeof(c->new_strikes));
	}
	if (c->new_strikes.keys)
		u64map__free(&c->new_strikes);
	fdscan__free(&c->scan);
	return err;
}

/* ---- history, rank */

/* Push every stack's sample; forget the stacks idle for a whole window,
 * and the cached identities not used for as long. */
static void update_trends(struct collector *c, double t)
{
	uint64_t key, *drop = malloc((c->stacks.used + c->keys.used) * sizeof(*drop) + 1);
	struct stack_state *st;
	struct key_cache *kc;
	size_t i = 0, n = 0, k;
	int sec;

	while (u64map__next(&c->stacks, &i, &key, (void **)&st)) {
		bool idle = true;

		for (sec = 0; sec < SEC__COUNT; sec++) {
			if (st->s[sec].amount || st->s[sec].nhist)
				trend__push(&st->s[sec], t);
			idle &= !st->s[sec].amount && (!st->s[sec].nhist ||
						       st->s[sec].idle >= TREND_HISTORY);
		}
		if (idle && drop) {
			state_free(st);
			drop[n++] = key;
		}
	}
	for (k = 0; k < n; k++)
		u64map__del(&c->stacks, drop[k]);
	n = 0;
	i = 0;
	while (drop && u64map__next(&c->keys, &i, &key, (void **)&kc))
		if (c->nreport - kc->used > TREND_HISTORY)
			drop[n++] = key;
	for (k = 0; k < n; k++)
		u64map__del(&c->keys, drop[k]);
	free(drop);
}

/* Frames of the stacks with something outstanding that could not be read. */
static uint64_t count_unreadable(struct collector *c)
{
	const struct stack_frames *sf;
	struct stack_state *st;
	uint64_t key, n = 0;
	size_t i = 0;
	int d;

	while (u64map__next(&c->stacks, &i, &key, (void **)&st)) {
		if ((!st->s[SEC_MEM].amount && !st->s[SEC_FDS].amount) || snapshot__special(st->id))
			continue;
		sf = stacks__get(c->stacks_tab, st->frames_id);
		for (d = 0; sf && d < sf->depth; d++)
			n += sf->frames[d].line < 0;
	}
	return n;
}

static int cmp_stacks(const void *a, const void *b)
{
	return trend__cmp(((const struct snap_stack *)a)->s, ((const struct snap_stack *)b)->s);
}

/* The stacks with something outstanding in sec, growing first, then by amount. */
static int rank(struct collector *c, enum section sec, struct snap_section *out)
{
	struct snap_stack *v = realloc(out->v, (c->stacks.used + 1) * sizeof(*v));
	struct stack_state *st;
	uint64_t key;
	size_t i = 0;

	if (!v)
		return -ENOMEM;
	out->v = v;
	out->n = 0;
	out->amount = out->count = 0;
	while (u64map__next(&c->stacks, &i, &key, (void **)&st)) {
		const struct series *s = &st->s[sec];
		struct snap_stack *e;

		if (!s->amount)
			continue;
		e = &v[out->n++];
		e->id = st->id;
		e->s = s;
		e->fd = sec == SEC_FDS ? st->fd : NULL;
		e->types = NULL;
		e->note = snapshot__special(st->id);
		e->frames = e->note ? NULL : stacks__get(c->stacks_tab, st->frames_id);
		out->amount += s->amount;
		out->count += s->count;
	}
	qsort(v, out->n, sizeof(*v), cmp_stacks);
	return 0;
}

void collect__unsample(uint64_t size, uint64_t mean, uint64_t addr, uint64_t *bytes,
			uint64_t *count)
{
	double p = -expm1(-(double)size / (double)mean), w, whole;
	uint64_t h = addr * 0x9e3779b97f4a7c15ULL;

	if (p <= 0) {		/* size 0 */
		*bytes = 0;
		*count = 1;
		return;
	}
	w = 1 / p;
	*bytes = (uint64_t)(size * w + 0.5);
	/* the count rounded up with the probability of its fraction, decided by
	 * the block's address: unbiased, and the same block the same each report */
	whole = floor(w);
	*count = (uint64_t)whole + ((double)(h >> 11) / 9007199254740992.0 < w - whole);
}

/* Before the maps are read: the instant the snapshot shows. */
static void begin(struct collector *c, uint32_t frozen, uint64_t frozen_ns, bool sums)
{
	c->now_ns = (uint64_t)(mono_s() * 1e9);
	if (frozen && frozen_ns && frozen_ns < c->now_ns)
		c->now_ns = frozen_ns;	/* ages as of the freeze */
	c->snap.as_of = frozen;
	c->sums = sums;
	clear_samples(c, SEC_MEM);
	stacktypes__clear(c->types);
}

/* After every collector of the round marked what it references and the
 * stack table was swept: the counters, the history, the ranking. */
static int finish_rank(struct collector *c)
{
	struct snapshot *sn = &c->snap;
	int err;

	read_stats(c, sn->stats);
	stacks__store(c->stacks_tab, collect__stat_total(c->maps.stats_fd, STAT_STACK_NODES),
		      &sn->store);
	c->t_end = mono_s();
	update_trends(c, c->t_end);
	if ((err = rank(c, SEC_MEM, &sn->mem)) || (err = rank(c, SEC_FDS, &sn->fds)))
		return err;
	return 0;
}

/* Once the blocks stacktypes wants were offered. */
static void finish(struct collector *c, bool final, const char *exit_reason)
{
	struct snapshot *sn = &c->snap;
	double t = c->t_end;

	stacktypes__read(c->types, &sn->mem, sn->as_of);
	sn->frames_unreadable = count_unreadable(c);
	sn->report = c->nreport++;
	sn->final = final;
	sn->exit_reason = final ? exit_reason : NULL;
	sn->timestamp = (double)time(NULL);
	sn->elapsed_s = t - c->start;
	sn->now = sn->as_of ? c->now_ns / 1e9 : t;
	sn->min_age_ns = c->min_age_ns;
	sn->meta = &c->m;
	c->prev_ns = c->now_ns;
}

/* The allocation and sum maps, each read once for the whole round: each
 * entry to the collector of its process; every entry's stack is marked. */
struct scan_ctx {
	struct collect_req *reqs;
	int n;
	int last;	/* the previous entry's request: entries of one process cluster */
	uint64_t now_ns;	/* the round's instant (not a freeze's) */
	int records;	/* records read (types_scan) */
	uint64_t sums;	/* stack_agg entries read */
	bool stop;	/* types_scan: every wanted stack has its blocks */
};

static struct collector *collector_of(struct scan_ctx *sc, uint32_t pid)
{
	int i;

	for (i = 0; i < sc->n; i++) {
		int j = (sc->last + i) % sc->n;

		if (pid == (__u32)sc->reqs[j].c->m.host_pid) {
			sc->last = j;
			return sc->reqs[j].c;
		}
	}
	return NULL;
}

/* The stack state an exact record is counted in (from the sums), if any. */
static struct stack_state *counted_in(struct collector *c, const struct alloc_info *a)
{
	return old_enough(c, a->ts_ns) ? u64map__get(&c->stacks, stack_key(c, a->stack_id)) : NULL;
}

static void scan_entry(struct collector *unused, const void *k, const void *v)
{
	struct scan_ctx *sc = (struct scan_ctx *)unused;
	const struct alloc_key *key = k;
	const struct alloc_info *a = v;
	struct collector *c = collector_of(sc, key->pid);
	uint64_t bytes = a->size, count = 1;
	struct stack_state *st;

	stacks__mark(sc->reqs[0].c->stacks_tab, a->stack_id);
	if (!c)
		return;
	if (!a->sample_bytes && c->sums) {
		/* counted from its sum; only its block is offered */
		if (c->types && (st = counted_in(c, a)))
			stacktypes__offer(c->types, st->id, key->addr, a->size, 1);
		return;
	}
	if (a->sample_bytes)
		collect__unsample(a->size, a->sample_bytes, key->addr, &bytes, &count);
	st = account(c, SEC_MEM, a->stack_id, a->ts_ns, bytes, count);
	if (st)
		stacktypes__offer(c->types, st->id, key->addr, a->size, count);
}

/* One sum (or base) into c->acc: its allocations are from ts_ns at the
 * latest, the oldest from oldest_ns. */
static void acc_add(struct collector *c, uint64_t stack_id, int64_t bytes, int64_t count,
		    uint64_t ts_ns, uint64_t oldest_ns)
{
	struct agg_acc *a;
	int fresh;

	if (!bytes && !count)
		return;
	stacks__mark(c->stacks_tab, stack_id);
	if (c->min_age_ns && !old_enough(c, ts_ns))
		return;
	if (ts_ns > c->now_ns)		/* the epoch still running (-o 0) */
		ts_ns = c->now_ns;
	if (oldest_ns > ts_ns)
		oldest_ns = ts_ns;
	a = u64map__upsert(&c->acc, stack_id + 1, &fresh);
	if (!a)
		return;
	if (fresh)
		a->oldest_ns = ~0ULL;
	a->bytes += bytes;
	a->count += count;
	if (ts_ns <= c->prev_ns)
		a->kept += bytes;
	if (count > 0 && oldest_ns < a->oldest_ns)
		a->oldest_ns = oldest_ns;
}

static void agg_entry(struct collector *unused, const void *k, const void *v)
{
	struct scan_ctx *sc = (struct scan_ctx *)unused;
	const struct agg_key *key = k;
	const struct agg_val *val = v;
	struct collector *c = collector_of(sc, key->pid);
	uint64_t end;

	sc->sums++;
	if (!c) {		/* a process not in this round: left for its own */
		if (val->bytes || val->count)
			stacks__mark(sc->reqs[0].c->stacks_tab, key->stack_id);
		return;
	}
	if (agg__drainable(key->epoch, sc->now_ns) && agg__drain(&c->bases, key, val))
		return;		/* counted from the base below */
	if (!c->sums)
		return;
	end = agg__is_folded(key->epoch) ? agg__folded_end() : agg__epoch_end(key->epoch);
	acc_add(c, key->stack_id, val->bytes, val->count, end, end);
}

/* The bases and the sums read, into the memory section. */
static void acc_flush(struct collector *c)
{
	struct agg_base *b;
	struct agg_acc *a;
	uint64_t id;
	size_t i = 0;

	while (u64map__next(&c->bases, &i, &id, (void **)&b))
		acc_add(c, id - 1, b->bytes, b->count, agg__epoch_end(b->newest),
			agg__epoch_end(b->oldest == ~0ULL ? b->newest : b->oldest));
	i = 0;
	while (u64map__next(&c->acc, &i, &id, (void **)&a)) {
		uint64_t bytes = a->bytes > 0 ? a->bytes : 0;
		uint64_t kept = a->kept > 0 ? (uint64_t)a->kept : 0;

		if (bytes || a->count > 0)
			add_to(c, SEC_MEM, id - 1, bytes, a->count > 0 ? a->count : 0,
			       kept < bytes ? kept : bytes,
			       a->oldest_ns == ~0ULL ? c->now_ns : a->oldest_ns);
	}
	u64map__free(&c->acc);
	u64map__init(&c->acc, sizeof(struct agg_acc));
}

/* The stacks of the bases of the collectors not in this round (the others'
 * were marked as their sums were added). */
static void mark_bases(struct scan_ctx *sc)
{
	struct agg_base *b;
	struct collector *c;
	uint64_t id;
	size_t i;
	int k;

	for (c = collectors; c; c = c->next) {
		for (k = 0; k < sc->n && sc->reqs[k].c != c; k++)
			;
		if (k < sc->n && c->sums)
			continue;
		for (i = 0; u64map__next(&c->bases, &i, &id, (void **)&b);)
			if (b->bytes || b->count)
				stacks__mark(c->stacks_tab, id - 1);
	}
}

/* ---- the blocks stacktypes reads, when the records are not read whole */

/* Records read at most per report to find the wanted stacks' blocks: the
 * map's order is its hash's, close to uniform over the blocks. */
#define TYPES_SCAN_MAX	262144

static void want_stacks(struct collector *c)
{
	struct types_want *w = &c->want;
	int i;

	memset(w, 0, sizeof(*w));
	if (!c->types || c->snap.as_of > FREEZE_DETACH)
		return;
	for (i = 0; i < c->snap.mem.n && w->n < STACKTYPES_STACKS; i++) {
		uint64_t count = c->snap.mem.v[i].s->count;

		if (!count)
			continue;
		w->need[w->n] = count < STACKTYPES_SAMPLES ? count : STACKTYPES_SAMPLES;
		w->id[w->n++] = c->snap.mem.v[i].id;
	}
	w->missing = w->n;
}

static void types_entry(struct collector *unused, const void *k, const void *v)
{
	struct scan_ctx *sc = (struct scan_ctx *)unused;
	const struct alloc_key *key = k;
	const struct alloc_info *a = v;
	struct collector *c = collector_of(sc, key->pid);
	struct stack_state *st;
	struct types_want *w;
	int i;

	if (++sc->records >= TYPES_SCAN_MAX)
		sc->stop = true;
	if (!c || !c->want.missing || !(st = counted_in(c, a)))
		return;
	w = &c->want;
	for (i = 0; i < w->n && w->id[i] != st->id; i++)
		;
	if (i == w->n)
		return;
	stacktypes__offer(c->types, st->id, key->addr, a->size, 1);
	if (++w->got[i] == w->need[i] && !--w->missing) {
		sc->stop = true;
		for (i = 0; i < sc->n; i++)
			sc->stop &= !sc->reqs[i].c->want.missing;
	}
}

/* A bounded partial read of the records: until each wanted stack of each
 * collector has STACKTYPES_SAMPLES blocks, or TYPES_SCAN_MAX records. */
static int types_scan(struct scan_ctx *sc, int allocs_fd)
{
	bool any = false;
	int i;

	for (i = 0; i < sc->n; i++) {
		want_stacks(sc->reqs[i].c);
		any |= sc->reqs[i].c->want.missing > 0;
	}
	if (!any)
		return 0;
	sc->records = 0;
	sc->stop = false;
	return map_each_until(allocs_fd, sizeof(struct alloc_key), sizeof(struct alloc_info),
			      types_entry, (struct collector *)sc, &sc->stop);
}

static uint64_t events_lost_at_sweep;	/* STAT_STACK_EVENTS_LOST, all slots, last sweep */

int collect__round(struct collect_req *reqs, int n, int allocs_fd)
{
	struct scan_ctx sc = { reqs, n, 0 };
	struct stack_table *tab;
	uint64_t lost, min_age = 0;
	bool sums, records;
	int i, err = 0;

	if (n <= 0)
		return 0;
	tab = reqs[0].c->stacks_tab;
	/* a sum that missed a change is wrong from then on: every record */
	sums = agg__enabled() &&
	       !collect__stat_total(reqs[0].c->maps.stats_fd, STAT_AGG_FULL);
	records = !sums || agg__sampled_live() > 0;
	for (i = 0; i < n; i++) {
		begin(reqs[i].c, reqs[i].frozen, reqs[i].frozen_ns, sums);
		if (reqs[i].c->min_age_ns > min_age)
			min_age = reqs[i].c->min_age_ns;
	}
	sc.now_ns = (uint64_t)(mono_s() * 1e9);
	if (agg__enabled())
		err = map_each(agg__fd(), sizeof(struct agg_key), sizeof(struct agg_val),
			       agg_entry, (struct collector *)&sc);
	for (i = 0; !err && sums && i < n; i++)
		acc_flush(reqs[i].c);
	if (!err && records)
		err = map_each(allocs_fd, sizeof(struct alloc_key), sizeof(struct alloc_info),
			       scan_entry, (struct collector *)&sc);
	for (i = 0; !err && i < n; i++)
		err = collect_fds(reqs[i].c);
	if (err)
		goto out;
	mark_bases(&sc);
	/* after every section marked what it references; lost node events
	 * since the last sweep leave nodes only the kernel map knows */
	lost = collect__stat_total(reqs[0].c->maps.stats_fd, STAT_STACK_EVENTS_LOST);
	stacks__sweep(tab, collect__stat_total(reqs[0].c->maps.stats_fd, STAT_STACK_NODES),
		      lost != events_lost_at_sweep);
	events_lost_at_sweep = lost;
	for (i = 0; !err && i < n; i++)
		err = finish_rank(reqs[i].c);
	if (!err && !records)
		err = types_scan(&sc, allocs_fd);
	for (i = 0; !err && i < n; i++) {
		struct snapshot *sn = &reqs[i].c->snap;

		sn->sums.entries = sc.sums;
		sn->sums.max_entries = agg__max_entries();
		sn->sums.drained = agg__drained();
		finish(reqs[i].c, reqs[i].final, reqs[i].exit_reason);
		reqs[i].out = &reqs[i].c->snap;
	}
out:
	/* the drained entries are in the bases now, whatever failed */
	agg__end_round(sc.now_ns, min_age);
	return err;
}

int collect__run(struct collector *c, bool final, const char *exit_reason, uint32_t frozen,
		 uint64_t frozen_ns, const struct snapshot **out)
{
	struct collect_req r = { c, final, exit_reason, frozen, frozen_ns, NULL };
	int err = collect__round(&r, 1, c->maps.allocs_fd);

	if (!err)
		*out = r.out;
	return err;
}

void collect__mark_held(struct collector *c)
{
	struct stack_state *st;
	uint64_t key;
	size_t i = 0;

	while (u64map__next(&c->stacks, &i, &key, (void **)&st))
		if (st->s[SEC_MEM].amount || st->s[SEC_FDS].amount)
			stacks__mark(c->stacks_tab, st->frames_id);
}

/* Forget a process that is gone: its records and sums in the maps. */
static void purge_entry(struct collector *c, const void *k, const void *v)
{
	if (((const struct alloc_key *)k)->pid == (__u32)c->m.host_pid &&
	    !bpf_map_delete_elem(c->maps.allocs_fd, k) &&
	    ((const struct alloc_info *)v)->sample_bytes)
		agg__sampled_purged(1);
}

static void purge_agg(struct collector *c, const void *k, const void *v)
{
	(void)v;
	if (((const struct agg_key *)k)->pid == (__u32)c->m.host_pid)
		bpf_map_delete_elem(agg__fd(), k);
}

static void purge_fd(struct collector *c, const void *k, const void *v)
{
	(void)v;
	if (((const struct fd_key *)k)->pid == (__u32)c->m.host_pid)
		bpf_map_delete_elem(c->maps.fds_fd, k);
}

void collect__purge(struct collector *c)
{
	map_each(c->maps.allocs_fd, sizeof(struct alloc_key), sizeof(struct alloc_info),
		 purge_entry, c);
	if (agg__enabled())
		map_each(agg__fd(), sizeof(struct agg_key), sizeof(struct agg_val), purge_agg, c);
	if (c->maps.fds_fd >= 0)
		map_each(c->maps.fds_fd, sizeof(struct fd_key), sizeof(struct fd_info), purge_fd, c);
}
