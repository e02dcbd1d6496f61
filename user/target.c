// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* One traced process: open (inspect, procs entry, uprobes), stop, close. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "collect.h"
#include "footprint.h"
#include "hostpid.h"
#include "log.h"
#include "pyleak.h"
#include "pyleak.skel.h"
#include "stacks.h"
#include "symbolize.h"
#include "target.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *coverage_note(const struct target *t, const struct tracer_shared *sh,
				 char *buf, size_t len)
{
	const struct pyproc *p = &t->py;

	if (!sh->memory)
		snprintf(buf, len, "memory not traced (--fds-only): no allocator probes");
	else if (!t->partial && p->alloc_kind == PYALLOC_MALLOC)
		snprintf(buf, len, "full: PYTHONMALLOC=malloc%s routes every Python allocation "
			 "through libc, which is probed",
			 sh->pythonmalloc && t->root ? " (set by pyleak-bpf)" : "");
	else if (!t->partial)
		snprintf(buf, len, "full: the %s allocator tables (object and mem domains) and "
			 "libc are probed", pyproc__alloc_name(p));
	else if (sh->partial)
		snprintf(buf, len, "partial (--partial): only allocations reaching libc are seen: "
			 "objects over 512 bytes, container storage, C-extension memory");
	else
		snprintf(buf, len, "partial: this PGO build inlines pymalloc at %d call sites, so "
			 "objects of 512 bytes or less are invisible; seen: larger objects, "
			 "container storage, C-extension memory. For full coverage run the target "
			 "with PYTHONMALLOC=malloc (pyleak-bpf -- COMMAND does)", p->guards);
	return buf;
}

/* report_meta.build. The guards are counted for the object allocator in
 * use, so under PYTHONMALLOC=malloc or hooks they say nothing of the build:
 * then the file's own PyObject_Malloc says (a cheap static check). */
static const char *build_name(struct pyproc *p)
{
	if (pyproc__pymalloc_inlined(p))
		return "pgo";
	if (p->alloc_kind == PYALLOC_DEFAULT)
		return "standard";
	switch (pymodule__guarded(&p->elf)) {
	case 1:
		return "pgo";
	case 0:
		return "standard";
	default:
		return NULL;
	}
}

static void fill_meta(struct target *t, const struct tracer_shared *sh)
{
	t->meta = (struct report_meta){
		.pid = t->pid, .host_pid = t->host,
		.ns_pid = t->who.ns_pid ? t->who.ns_pid : t->pid,
		.comm = t->who.comm, .cmdline = t->who.cmdline, .container = t->who.container,
		.cgroup = t->who.cgroup[0] ? t->who.cgroup : NULL, .python = t->py.version,
		.build = build_name(&t->py), .executable = t->py.exe,
		.coverage = t->partial ? "partial" : "full",
		.coverage_note = coverage_note(t, sh, t->note, sizeof(t->note)),
		.allocator = pyproc__alloc_name(&t->py),
		.functions = t->probes.functions, .emulated = t->probes.emulated,
		.memory = sh->memory, .fds = sh->fds, .fd_tracepoints = sh->tps->fd_how,
		.sample_bytes = sh->sample_bytes,
	};
}

/* The procs entry: a new one, or a forked child's (made by BPF) given its slot. */
static int write_cfg(struct target *t, const struct tracer_shared *sh)
{
	int fd = bpf_map__fd(sh->skel->maps.procs);
	struct proc_cfg cfg = {};
	__u32 key = t->host;

	if (t->parent && !bpf_map_lookup_elem(fd, &key, &cfg)) {
		cfg.slot = t->slot;
		/* what BPF wrote meanwhile (a freeze) stays: only the slot changes */
		return bpf_map_update_elem(fd, &key, &cfg, BPF_EXIST) ? -errno : 0;
	}
	pyproc__bpf_offsets(&t->py, &cfg.off);
	cfg.slot = t->slot;
	cfg.sample_bytes = sh->sample_bytes;
	cfg.flags = sh->follow ? PROC_FOLLOW : 0;
	/* its probed tables are pymalloc: a call of 1 to 512 bytes calls no libc allocator */
	if (t->py.alloc_kind == PYALLOC_DEFAULT)
		cfg.flags |= PROC_PYMALLOC;
	return bpf_map_update_elem(fd, &key, &cfg, BPF_ANY) ? -errno : 0;
}

static void delete_cfg(struct target *t, const struct tracer_shared *sh)
{
	__u32 key = t->host;

	bpf_map_delete_elem(bpf_map__fd(sh->skel->maps.procs), &key);
	t->in_bpf = false;
}

int target__open(struct target *t, const struct tracer_shared *sh, pid_t pid, pid_t parent,
		 uint32_t slot, char *err, size_t errlen)
{
	struct collect_maps maps;
	char why[512] = "";
	double t0, t1;
	int ret;

	memset(t, 0, sizeof(*t));
	t->py.elf.fd = -1;
	t->pid = t->host = pid;
	t->parent = parent;
	t->slot = slot;
	t->status = PROC_TRACED;
	t->probes.multi = sh->multi;
	t->probes.session = sh->session;
	t0 = now_ms();
	ret = pyproc__open(&t->py, pid, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "%s", why);
		goto fail;
	}
	if (why[0])
		info("pid %d: %s", pid, why);
	t->partial = sh->partial || pyproc__pymalloc_inlined(&t->py);
	/* BPF knows it by its host pid (the tracer may run in its pid namespace) */
	ret = hostpid__resolve(pid, &t->host, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "pid %d: %s", pid, why);
		goto fail;
	}
	ret = write_cfg(t, sh);
	if (ret) {
		snprintf(err, errlen, "cannot add pid %d to the BPF process map: %s%s", pid,
			 strerror(-ret), ret == -E2BIG ? " (too many traced processes)" : "");
		goto fail;
	}
	t->in_bpf = true;
	ret = probes__attach(sh->skel, &t->py, t->partial, sh->memory, &t->probes, err, errlen);
	if (ret)
		goto fail;
	t1 = now_ms();
	procinfo__read(pid, &t->who);
	fill_meta(t, sh);
	t->sym = symbolizer__new(pid, &t->py.off, t->py.code_type);
	symbolizer__set_str_type(t->sym, t->py.str_type);
	maps = (struct collect_maps){
		bpf_map__fd(sh->skel->maps.allocs), sh->fds ? bpf_map__fd(sh->skel->maps.fds) : -1,
		bpf_map__fd(sh->skel->maps.stats), slot,
	};
	t->col = t->sym ? collect__new(&t->meta, sh->min_age_ns, &maps, sh->stacks) : NULL;
	if (!t->col) {
		ret = -ENOMEM;
		snprintf(err, errlen, "pid %d: cannot read /proc/%d/fd, or out of memory", pid, pid);
		goto fail;
	}
	if (sh->census) {
		t->census = census__new(&sh->census_opts);
		if (!t->census || census__start(t->census, &t->py)) {
			ret = -ENOMEM;
			snprintf(err, errlen, "cannot start the census: %s", strerror(errno));
			goto fail;
		}
		collect__set_census(t->col, t->census);
	}
	debug("pid %d: inspected and probed in %.1f ms (probes %.1f ms), ready in %.1f ms", pid,
	      t1 - t0, t->probes.attach_ms, now_ms() - t0);
	return 0;
fail:
	target__close(t, sh);
	return ret ? ret : -EINVAL;
}

void target__untraceable(struct target *t, pid_t pid, const char *reason)
{
	memset(t, 0, sizeof(*t));
	t->py.elf.fd = -1;
	t->pid = t->host = pid;
	t->status = PROC_UNTRACEABLE;
	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	procinfo__read(pid, &t->who);
	t->meta = (struct report_meta){
		.pid = pid, .host_pid = pid, .ns_pid = t->who.ns_pid ? t->who.ns_pid : pid,
		.comm = t->who.comm, .cmdline = t->who.cmdline, .container = t->who.container,
		.cgroup = t->who.cgroup[0] ? t->who.cgroup : NULL, .python = NULL,
		.executable = "", .coverage = "none", .coverage_note = "", .allocator = "",
	};
	t->stub.meta = &t->meta;
	t->stub.status = PROC_UNTRACEABLE;
	t->stub.reason = t->reason;
	t->stub.fds_open = -1;
}

void target__stop(struct target *t)
{
	probes__detach(&t->probes);
	if (t->census)
		census__stop(t->census);
}

void target__close(struct target *t, const struct tracer_shared *sh)
{
	probes__detach(&t->probes);
	if (t->col && !t->retired)
		collect__purge(t->col);
	if (!t->retired && (t->in_bpf || t->parent))
		delete_cfg(t, sh);
	census__free(t->census);
	collect__free(t->col);
	symbolizer__free(t->sym);
	pyproc__close(&t->py);
	t->census = NULL;
	t->col = NULL;
	t->sym = NULL;
}

uint32_t target__frozen(const struct target *t, const struct tracer_shared *sh, uint64_t *ns)
{
	struct proc_cfg cfg;
	__u32 key = t->host;

	*ns = 0;
	if (!t->in_bpf || bpf_map_lookup_elem(bpf_map__fd(sh->skel->maps.procs), &key, &cfg))
		return FREEZE_NONE;
	*ns = cfg.frozen_ns;
	return cfg.frozen;
}

int target__set_sampling(struct target *t, const struct tracer_shared *sh, uint64_t bytes)
{
	int fd = bpf_map__fd(sh->skel->maps.procs);
	struct proc_cfg cfg;
	__u32 key = t->host;

	if (bpf_map_lookup_elem(fd, &key, &cfg))
		return -errno;
	cfg.sample_bytes = bytes;
	if (bpf_map_update_elem(fd, &key, &cfg, BPF_EXIST))
		return -errno;
	t->meta.sample_bytes = bytes;
	if (t->col)
		collect__meta(t->col)->sample_bytes = bytes;
	return 0;
}

void target__pause(struct target *t)
{
	probes__detach(&t->probes);
	t->paused = true;
}

int target__resume(struct target *t, const struct tracer_shared *sh, char *err, size_t errlen)
{
	int ret;

	t->probes.multi = sh->multi;
	t->probes.session = sh->session;
	ret = probes__attach(sh->skel, &t->py, t->partial, sh->memory, &t->probes, err, errlen);
	if (!ret)
		t->paused = false;
	return ret;
}

void target__set_note(struct target *t, const char *note)
{
	snprintf(t->budget_note, sizeof(t->budget_note), "%s", note);
	if (t->col)
		collect__meta(t->col)->budget_note = t->budget_note[0] ? t->budget_note : NULL;
}

uint64_t target__cpu_ns(const struct target *t)
{
	return footprint__cpu_ns(t->pid);
}

int target__retire(struct target *t, const struct tracer_shared *sh, const char *reason)
{
	struct collect_req r = { t->col, true, NULL, 0, 0, NULL };
	int ret;

	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	r.exit_reason = t->reason;
	r.frozen = target__frozen(t, sh, &r.frozen_ns);
	if (!r.frozen)
		r.frozen = FREEZE_EXIT;
	if (t->census)
		census__stop(t->census);
	stacks__consume(sh->stacks);
	ret = collect__round(&r, 1, bpf_map__fd(sh->skel->maps.allocs));
	t->last = ret ? NULL : r.out;
	probes__detach(&t->probes);
	collect__purge(t->col);
	if (t->in_bpf || t->parent)
		delete_cfg(t, sh);
	t->retired = true;
	return ret;
}
