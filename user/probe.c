// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Every uprobe in the target, attached and detached in one place.
 *
 * Cost, measured here (bench/attach_bench.py, bench/RESULTS.md): a perf-event
 * uprobe attaches fast, but each one's release waits for its own
 * synchronization in the kernel, ~100 ms, so the 24 probes of a full-coverage
 * target took 2.3 s to remove, and a SIGKILLed tracer left the target slowed
 * while the kernel released them one by one. A uprobe_multi link registers
 * all the offsets of one program in one file in one syscall and unregisters
 * them with one synchronization: 9 links instead of 24 probes, removed in
 * a few milliseconds.
 */
#include <errno.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "elffile.h"
#include "fds.h"
#include "log.h"
#include "probe.h"
#include "pyleak.h"
#include "python.h"
#include "pyleak.skel.h"
#include "x86.h"

/* Bytes of a function decoded to choose the attach point; a function's
 * size is unknown for the static functions the tables point to. */
#define CODE_WINDOW 4096

/*
 * BPF_LINK_CREATE for uprobe_multi (Linux 6.6+). Debian 12's libbpf 1.1
 * and linux-libc-dev 6.1 predate it, so the attribute is laid out here, as
 * union bpf_attr's link_create member in include/uapi/linux/bpf.h (checked
 * against this kernel's BTF: vmlinux/vmlinux.h).
 */
#define ATTACH_UPROBE_MULTI	48	/* BPF_TRACE_UPROBE_MULTI */
#define ATTACH_UPROBE_SESSION	57	/* BPF_TRACE_UPROBE_SESSION (Linux 6.13+) */
#define UPROBE_MULTI_RETURN	1u	/* BPF_F_UPROBE_MULTI_RETURN */

struct uprobe_multi_attr {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	/* link_create.uprobe_multi */
	__u64 path;		/* const char * */
	__u64 offsets;		/* const __u64 *, file offsets */
	__u64 ref_ctr_offsets;	/* USDT semaphores: none */
	__u64 cookies;
	__u32 cnt;
	__u32 um_flags;		/* UPROBE_MULTI_RETURN */
	__u32 pid;		/* only this process's hits run the program */
	__u32 pad;
};
_Static_assert(sizeof(struct uprobe_multi_attr) == 64, "uprobe_multi attr layout");

enum where { LIBC, TABLE_OBJ, TABLE_MEM, MODULE };
enum slot { S_MALLOC, S_CALLOC, S_REALLOC, S_FREE };

struct probe_spec {
	const char *name;
	enum where where;
	const char *symbol;	/* LIBC, MODULE */
	enum slot slot;		/* TABLE_* */
	size_t entry;		/* offsetof(struct pyleak_bpf, progs.X) */
	size_t exit;		/* 0: no return probe */
	size_t session;		/* entry and return in one (uprobe sessions), or 0 */
	unsigned int live;	/* argument registers the entry program reads */
	bool required;
	bool allocator;		/* counted in functions/emulated; only with memory */
};

#define PROG(x) offsetof(struct pyleak_bpf, progs.x)
#define RDI X86_ARG_RDI
#define RSI X86_ARG_RSI
#define RDX X86_ARG_RDX

/* An allocator function's programs: entry, return, and both in one session
 * program (bpf/pyleak.bpf.c's ALLOC_PROBES). */
#define ALLOC(fn, ret) PROG(fn##_enter), PROG(ret), PROG(fn##_session)

static const struct probe_spec specs[] = {
	{ "free", LIBC, "free", 0, PROG(free_enter), 0, 0, RDI, true, true },
	{ "obj.free", TABLE_OBJ, NULL, S_FREE, PROG(pymem_free_enter), 0, 0, RSI, true, true },
	{ "mem.free", TABLE_MEM, NULL, S_FREE, PROG(pymem_free_enter), 0, 0, RSI, true, true },
	{ "malloc", LIBC, "malloc", 0, ALLOC(malloc, alloc_exit), RDI, true, true },
	{ "calloc", LIBC, "calloc", 0, ALLOC(calloc, alloc_exit), RDI | RSI, true, true },
	{ "realloc", LIBC, "realloc", 0, ALLOC(realloc, alloc_exit), RDI | RSI, true, true },
	{ "posix_memalign", LIBC, "posix_memalign", 0,
	  ALLOC(posix_memalign, posix_memalign_exit), RDI | RDX, false, true },
	{ "aligned_alloc", LIBC, "aligned_alloc", 0, ALLOC(aligned_alloc, alloc_exit), RSI, false,
	  true },
	{ "memalign", LIBC, "memalign", 0, ALLOC(aligned_alloc, alloc_exit), RSI, false, true },
	{ "obj.malloc", TABLE_OBJ, NULL, S_MALLOC, ALLOC(pymem_malloc, alloc_exit), RSI, true, true },
	{ "obj.calloc", TABLE_OBJ, NULL, S_CALLOC, ALLOC(pymem_calloc, alloc_exit), RSI | RDX, true,
	  true },
	{ "obj.realloc", TABLE_OBJ, NULL, S_REALLOC, ALLOC(pymem_realloc, alloc_exit), RSI | RDX,
	  true, true },
	{ "mem.malloc", TABLE_MEM, NULL, S_MALLOC, ALLOC(pymem_malloc, alloc_exit), RSI, true, true },
	{ "mem.calloc", TABLE_MEM, NULL, S_CALLOC, ALLOC(pymem_calloc, alloc_exit), RSI | RDX, true,
	  true },
	{ "mem.realloc", TABLE_MEM, NULL, S_REALLOC, ALLOC(pymem_realloc, alloc_exit), RSI | RDX,
	  true, true },
	/* Exported by libpython and by static executables (Debian's python3.11)
	 * in 3.8-3.13; Py_Finalize and Py_RunMain call it. */
	{ "Py_FinalizeEx", MODULE, "Py_FinalizeEx", 0, PROG(finalize_enter), 0, 0, 0, false, false },
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct bpf_program *prog_at(struct pyleak_bpf *skel, size_t off)
{
	return *(struct bpf_program **)((char *)skel + off);
}

static uint64_t table_fn(const struct pyalloc_table *t, enum slot s)
{
	switch (s) {
	case S_MALLOC:
		return t->malloc;
	case S_CALLOC:
		return t->calloc;
	case S_REALLOC:
		return t->realloc;
	default:
		return t->free;
	}
}

/* Where a function lives: the file (target's view and ours) and vaddr. */
struct location {
	char path[4096];
	char open[4200];
	uint64_t vaddr;
};

static int locate_table_fn(int pid, uint64_t addr, struct location *loc)
{
	const struct map_entry *e;
	struct elf_file ef;
	struct procmaps m;
	uint64_t start;
	int ret;

	ret = procmaps__read(pid, &m);
	if (ret)
		return ret;
	e = procmaps__find(&m, addr);
	if (!e || !e->path[0]) {
		procmaps__free(&m);
		return -ENOENT;
	}
	snprintf(loc->path, sizeof(loc->path), "%s", e->path);
	proc__root_path(pid, loc->path, loc->open, sizeof(loc->open));
	ret = procmaps__module_start(&m, loc->path, &start);
	procmaps__free(&m);
	if (ret || (ret = elf__open(&ef, loc->open)))
		return ret;
	loc->vaddr = addr - (start - elf__first_load(&ef));
	elf__close(&ef);
	return 0;
}

static int locate_symbol(int pid, const char *path, const char *symbol, struct location *loc)
{
	struct elf_file ef;
	int ret;

	snprintf(loc->path, sizeof(loc->path), "%s", path);
	proc__root_path(pid, path, loc->open, sizeof(loc->open));
	ret = elf__open(&ef, loc->open);
	if (ret)
		return ret;
	ret = elf__symbol(&ef, symbol, &loc->vaddr, NULL);
	elf__close(&ef);
	return ret;
}

/* One function to probe, and where exactly. */
struct target_fn {
	const struct probe_spec *spec;
	struct location loc;
	uint64_t off;		/* file offset of the probed instruction */
	bool emulated;
};

/* The file offset of the best instruction of loc to probe (user/x86.c). */
static int attach_point(struct target_fn *t, const char *name)
{
	uint8_t *code = malloc(CODE_WINDOW);
	struct elf_file ef;
	ssize_t got = 0;
	int skip = 0, ret;

	if (!code)
		return -ENOMEM;
	ret = elf__open(&ef, t->loc.open);
	if (ret) {
		free(code);
		return ret;
	}
	ret = elf__vaddr_to_off(&ef, t->loc.vaddr, &t->off);
	if (!ret)
		got = elf__read(&ef, t->loc.vaddr, code, CODE_WINDOW);
	elf__close(&ef);
	if (!ret && got > 0)
		skip = x86__attach_offset(code, got, t->loc.vaddr, t->spec->live, &t->emulated);
	free(code);
	if (ret)
		return ret;
	if (skip < 0)
		skip = 0;
	t->off += skip;
	debug("probe %s: %s+0x%lx (entry +%d, %s)", name, t->loc.path,
	      (unsigned long)(t->off - skip), skip, t->emulated ? "emulated" : "single-stepped");
	return 0;
}

/* A uprobe_multi (or session) link of prog at offs in path, for pid. */
static int multi_link(int prog_fd, uint32_t type, const char *path, const uint64_t *offs,
		      uint32_t cnt, bool ret, int pid)
{
	struct uprobe_multi_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_fd = prog_fd;
	a.attach_type = type;
	a.path = (uintptr_t)path;
	a.offsets = (uintptr_t)offs;
	a.cnt = cnt;
	a.um_flags = ret ? UPROBE_MULTI_RETURN : 0;
	a.pid = pid;
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

/* Does the kernel take links of this attach type? Tested with a tiny program. */
static bool link_type_supported(uint32_t type, const char *what, char *why, size_t len)
{
	/* r0 = 0; exit */
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = (enum bpf_attach_type)type);
	uint64_t off = 0;
	int prog, ret;

	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "pyleak_probe", "GPL", insns, 2, &opts);
	if (prog < 0) {
		snprintf(why, len, "cannot load a %s program: %s", what, strerror(errno));
		return false;
	}
	/* "/" is no regular file: a kernel that knows the link type says
	 * EBADF; one that does not refuses the attach type first (EINVAL). */
	ret = multi_link(prog, type, "/", &off, 1, false, 0);
	close(prog);
	if (ret >= 0) {
		close(ret);
		snprintf(why, len, "the kernel accepted a %s link on a directory", what);
		return false;
	}
	if (ret != -EBADF) {
		snprintf(why, len, "the kernel refuses %s links: %s", what, strerror(-ret));
		return false;
	}
	return true;
}

/* PYLEAK_BPF_UPROBES names this way of attaching. */
static bool forced(const char *way)
{
	const char *force = getenv("PYLEAK_BPF_UPROBES");

	return force && !strcmp(force, way);
}

bool probes__uprobes_env_valid(void)
{
	const char *force = getenv("PYLEAK_BPF_UPROBES");

	return !force || !*force || forced("perf") || forced("multi");
}

bool probes__multi_supported(char *why, size_t len)
{
	if (forced("perf")) {
		snprintf(why, len, "PYLEAK_BPF_UPROBES=perf");
		return false;
	}
	return link_type_supported(ATTACH_UPROBE_MULTI, "uprobe_multi", why, len);
}

bool probes__session_supported(char *why, size_t len)
{
	if (forced("perf") || forced("multi")) {
		snprintf(why, len, "PYLEAK_BPF_UPROBES=%s", getenv("PYLEAK_BPF_UPROBES"));
		return false;
	}
	/* a kernel that takes the attach type has bpf_session_is_return for it */
	return link_type_supported(ATTACH_UPROBE_SESSION, "uprobe session", why, len);
}

/* --bench-empty-probes: the allocator functions get empty programs. */
static bool bench_empty;

void probes__prepare(struct pyleak_bpf *skel, bool multi, bool session, bool empty)
{
	unsigned int i;

	bench_empty = empty;
	for (i = 0; i < NSPECS; i++) {
		struct bpf_program *sp = specs[i].session ? prog_at(skel, specs[i].session) : NULL;

		/* unloaded, a session program needs nothing of the kernel */
		if (sp && !(multi && session))
			bpf_program__set_autoload(sp, false);
		else if (sp)
			bpf_program__set_expected_attach_type(sp,
				(enum bpf_attach_type)ATTACH_UPROBE_SESSION);
	}
	if (!multi)
		return;
	bpf_program__set_expected_attach_type(skel->progs.empty_enter,
		(enum bpf_attach_type)ATTACH_UPROBE_MULTI);
	bpf_program__set_expected_attach_type(skel->progs.empty_exit,
		(enum bpf_attach_type)ATTACH_UPROBE_MULTI);
	for (i = 0; i < NSPECS; i++) {
		bpf_program__set_expected_attach_type(prog_at(skel, specs[i].entry),
			(enum bpf_attach_type)ATTACH_UPROBE_MULTI);
		if (specs[i].exit)
			bpf_program__set_expected_attach_type(prog_at(skel, specs[i].exit),
				(enum bpf_attach_type)ATTACH_UPROBE_MULTI);
	}
}

static int add_link(struct probes *pr, struct bpf_link *link)
{
	long err = libbpf_get_error(link);

	if (err)
		return (int)err;
	if (pr->nlinks == MAX_LINKS) {
		bpf_link__destroy(link);
		return -E2BIG;
	}
	pr->links[pr->nlinks++] = link;
	return 0;
}

/* The phases, in attach order (see probe.h). */
enum phase { PH_FREES, PH_RETURNS, PH_ENTRIES, PH_SHUTDOWN, PH__COUNT };

/* Is this function's entry and return one session program? */
static bool in_session(const struct probes *pr, const struct probe_spec *s)
{
	return pr->session && s->session;
}

static bool in_phase(const struct probes *pr, const struct probe_spec *s, enum phase ph)
{
	switch (ph) {
	case PH_FREES:
		return s->allocator && !s->exit;
	case PH_RETURNS:
		return s->exit && !in_session(pr, s);
	case PH_ENTRIES:
		return s->allocator && s->exit;
	default:
		return !s->allocator;
	}
}

static size_t phase_prog(const struct probes *pr, const struct probe_spec *s, enum phase ph)
{
	if (bench_empty && s->allocator)
		return ph == PH_RETURNS ? PROG(empty_exit) : PROG(empty_enter);
	if (ph == PH_ENTRIES && in_session(pr, s))
		return s->session;
	return ph == PH_RETURNS ? s->exit : s->entry;
}

/* Attach every fn of phase ph: one link per (program, file), or one perf
 * event per function. */
static int attach_phase(struct pyleak_bpf *skel, struct probes *pr, struct target_fn *fns,
			int n, enum phase ph, int pid, char *err, size_t errlen)
{
	uint64_t offs[NSPECS];
	bool done[NSPECS] = {};
	int i, j, ret = 0;

	for (i = 0; i < n; i++) {
		const struct probe_spec *s = fns[i].spec;
		struct bpf_program *prog;
		uint32_t cnt = 0;
		bool session;

		if (done[i] || !in_phase(pr, s, ph))
			continue;
		prog = prog_at(skel, phase_prog(pr, s, ph));
		if (!pr->multi) {
			ret = add_link(pr, bpf_program__attach_uprobe(prog, ph == PH_RETURNS, pid,
								      fns[i].loc.open, fns[i].off));
			if (ret)
				goto fail;
			continue;
		}
		for (j = i; j < n; j++)
			if (!done[j] && in_phase(pr, fns[j].spec, ph) &&
			    phase_prog(pr, fns[j].spec, ph) == phase_prog(pr, s, ph) &&
			    !strcmp(fns[j].loc.open, fns[i].loc.open)) {
				offs[cnt++] = fns[j].off;
				done[j] = true;
			}
		if (pr->nmulti == MAX_LINKS) {
			ret = -E2BIG;
			goto fail;
		}
		session = ph == PH_ENTRIES && in_session(pr, s);
		ret = multi_link(bpf_program__fd(prog),
				 session ? ATTACH_UPROBE_SESSION : ATTACH_UPROBE_MULTI,
				 fns[i].loc.open, offs, cnt, ph == PH_RETURNS, pid);
		if (ret < 0)
			goto fail;
		pr->multi_fds[pr->nmulti++] = ret;
		debug("%s link: %s x%u in %s", session ? "uprobe session" : "uprobe_multi",
		      bpf_program__name(prog), cnt, fns[i].loc.path);
	}
	return 0;
fail:
	snprintf(err, errlen, "pid %d: cannot attach to %s in %s%s: %s", pid, fns[i].spec->name,
		 fns[i].loc.path,
		 ph == PH_ENTRIES && in_session(pr, fns[i].spec) ? " (uprobe session link)" :
		 pr->multi ? " (uprobe_multi link)" : "", strerror(-ret));
	return ret;
}

int probes__attach(struct pyleak_bpf *skel, const struct pyproc *p, bool partial, bool memory,
		   struct probes *pr, char *err, size_t errlen)
{
	struct target_fn *fns = calloc(NSPECS, sizeof(*fns));
	double t0 = now_ms();
	unsigned int i;
	int n = 0, ret = 0, j, ph;

	if (!fns) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* With PYTHONMALLOC=malloc every domain forwards to libc, which is
	 * probed anyway: one trap per allocation instead of two. */
	pr->python_tables = memory && !partial && p->alloc_kind != PYALLOC_MALLOC;
	for (i = 0; i < NSPECS; i++) {
		const struct probe_spec *s = &specs[i];
		struct target_fn *t = &fns[n];

		if (s->allocator && !memory)
			continue;
		t->spec = s;
		if (s->where == LIBC) {
			if (!p->libc[0]) {
				snprintf(err, errlen, "no libc mapped in pid %d", p->pid);
				ret = -ENOENT;
				goto out;
			}
			ret = locate_symbol(p->pid, p->libc, s->symbol, &t->loc);
		} else if (s->where == MODULE) {
			ret = locate_symbol(p->pid, p->module, s->symbol, &t->loc);
		} else {
			const struct pyalloc_table *tb = s->where == TABLE_OBJ ? &p->obj : &p->mem;

			if (!pr->python_tables)
				continue;
			ret = locate_table_fn(p->pid, table_fn(tb, s->slot), &t->loc);
		}
		if (ret) {
			if (s->where == MODULE)
				info("pid %d: no %s in %s: a final report after the target ends "
				     "shows it as of its exit", p->pid, s->symbol, p->module);
			ret = s->required ? ret : 0;
			if (!ret)
				continue;
			snprintf(err, errlen, "cannot locate %s in pid %d: %s", s->name, p->pid,
				 strerror(-ret));
			goto out;
		}
		/* aliases (memalign == aligned_alloc) and shared table functions */
		for (j = 0; j < n; j++)
			if (fns[j].loc.vaddr == t->loc.vaddr && !strcmp(fns[j].loc.path, t->loc.path))
				break;
		if (j < n)
			continue;
		ret = attach_point(t, s->name);
		if (ret) {
			snprintf(err, errlen, "pid %d: cannot read %s in %s: %s", p->pid, s->name,
				 t->loc.path, strerror(-ret));
			goto out;
		}
		if (s->allocator) {
			pr->functions++;
			pr->emulated += t->emulated;
		} else {
			pr->shutdown = true;
		}
		n++;
	}
	for (ph = 0; ph < PH__COUNT && !ret; ph++)
		ret = attach_phase(skel, pr, fns, n, ph, p->pid, err, errlen);
	pr->attach_ms = now_ms() - t0;
	if (!ret)
		info("probes attached in %.1f ms: %d allocator functions%s through %d %s",
		     pr->attach_ms, pr->functions, pr->shutdown ? " and Py_FinalizeEx" : "",
		     pr->multi ? pr->nmulti : pr->nlinks,
		     pr->session ? "uprobe_multi and session links" :
		     pr->multi ? "uprobe_multi links" : "perf-event uprobes");
out:
	free(fns);
	return ret;
}

int probes__symbol(struct probes *pr, struct bpf_program *prog, int pid, const char *path,
		   const char *symbol, char *err, size_t errlen)
{
	struct location loc;
	struct elf_file ef;
	uint64_t off;
	int ret;

	if (symbol) {
		ret = locate_symbol(pid, path, symbol, &loc);
	} else {
		snprintf(loc.open, sizeof(loc.open), "%s", path);
		ret = 0;
	}
	if (!ret && !(ret = elf__open(&ef, loc.open))) {
		ret = elf__vaddr_to_off(&ef, symbol ? loc.vaddr : ef.ehdr.e_entry, &off);
		elf__close(&ef);
	}
	if (!ret)
		ret = add_link(pr, bpf_program__attach_uprobe(prog, false, pid, loc.open, off));
	if (ret && symbol)
		snprintf(err, errlen, "cannot attach to %s in %s: %s", symbol, path, strerror(-ret));
	else if (ret)
		snprintf(err, errlen, "cannot stop %s at its entry point: %s", path, strerror(-ret));
	return ret;
}

static void *close_link(void *arg)
{
	close((int)(intptr_t)arg);
	return NULL;
}

static void *destroy_link(void *arg)
{
	bpf_link__destroy(arg);
	return NULL;
}

double probes__detach(struct probes *pr)
{
	return probes__detach_many(&pr, 1);
}

double probes__detach_many(struct probes **prs, int n)
{
	double t0 = now_ms();
	int i, k, total = 0, j = 0;
	pthread_t *th;
	bool *started;

	for (k = 0; k < n; k++)
		total += prs[k]->nmulti + prs[k]->nlinks;
	th = calloc(total + 1, sizeof(*th));
	started = calloc(total + 1, sizeof(*started));
	/* Each link's release waits for its own grace periods (~80 ms for a
	 * uprobe_multi link, ~100 ms for a perf-event uprobe here): released
	 * side by side, every process's at once, they wait for the same ones. */
	for (k = 0; k < n; k++) {
		struct probes *pr = prs[k];

		for (i = 0; i < pr->nmulti + pr->nlinks; i++, j++) {
			bool multi = i < pr->nmulti;

			if (th && started)
				started[j] = multi ?
					!pthread_create(&th[j], NULL, close_link,
							(void *)(intptr_t)pr->multi_fds[i]) :
					!pthread_create(&th[j], NULL, destroy_link,
							pr->links[i - pr->nmulti]);
			if (started && started[j])
				continue;
			if (multi)
				close(pr->multi_fds[i]);
			else
				bpf_link__destroy(pr->links[i - pr->nmulti]);
		}
	}
	for (j = 0; j < total; j++)
		if (started && started[j])
			pthread_join(th[j], NULL);
	free(th);
	free(started);
	for (k = 0; k < n; k++)
		memset(prs[k], 0, sizeof(*prs[k]));
	return now_ms() - t0;
}

/* ---- tracepoints: fd syscalls, exec, exit */

#define NSYSCALLS (fds__syscalls())

static void release_links(struct bpf_link **links, int n);

static const char *const tracefs_dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };

/* ids[i]: the event id of sys_exit_<sysnames[i]> under root, -1 when this
 * kernel has no such syscall. -ENOENT without a syscalls events directory. */
static int read_ids(const char *root, int *ids)
{
	char path[256];
	size_t i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/events/syscalls", root);
	if (access(path, F_OK))
		return -ENOENT;
	for (i = 0; i < NSYSCALLS; i++) {
		snprintf(path, sizeof(path), "%s/events/syscalls/sys_exit_%s/id", root,
			 fds__syscall_at(i));
		f = fopen(path, "re");
		if (!f || fscanf(f, "%d", &ids[i]) != 1)
			ids[i] = -1;
		if (f)
			fclose(f);
	}
	return 0;
}

/* tracefs mounted in a child's private mount namespace: the child sends
 * back the ids and exits, and the mount goes with it. */
static int read_ids_private(int *ids)
{
	int p[2], ret = -EIO, status;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(p[0]);
		close(p[1]);
		return ret;
	}
	if (!pid) {
		close(p[0]);
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("tracefs", tracefs_dirs[0], "tracefs", 0, NULL))
			ret = -errno;
		else
			ret = read_ids(tracefs_dirs[0], ids);
		if (write(p[1], &ret, sizeof(ret)) != sizeof(ret) ||
		    (!ret && write(p[1], ids, NSYSCALLS * sizeof(*ids)) < 0))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &ret, sizeof(ret)) != sizeof(ret))
		ret = -EIO;
	else if (!ret && read(p[0], ids, NSYSCALLS * sizeof(*ids)) !=
			 (ssize_t)(NSYSCALLS * sizeof(*ids)))
		ret = -EIO;
	close(p[0]);
	waitpid(pid, &status, 0);
	return ret;
}

/* prog on the syscalls:sys_exit_<name> event of every syscall the fd programs
 * handle; on failure nothing stays attached. */
static int attach_syscalls(struct bpf_program *prog, struct bpf_link **links, int *nlinks,
			   char *err, size_t errlen)
{
	int ids[FD_MAX_LINKS], ret = -ENOENT, n = 0;
	size_t i;

	for (i = 0; ret && i < sizeof(tracefs_dirs) / sizeof(tracefs_dirs[0]); i++)
		ret = read_ids(tracefs_dirs[i], ids);
	if (ret && (ret = read_ids_private(ids))) {
		snprintf(err, errlen, "cannot read the syscall tracepoint ids: no tracefs mounted, "
			 "and mounting one privately failed: %s", strerror(-ret));
		return ret;
	}
	for (i = 0; i < NSYSCALLS; i++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_TRACEPOINT,
			.size = sizeof(attr),
			.config = ids[i],
			.sample_period = 1,
		};
		struct bpf_link *link;
		int pfd;

		if (ids[i] < 0)		/* a syscall this kernel does not have */
			continue;
		pfd = syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
		if (pfd < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot open the sys_exit_%s tracepoint: %s",
				 fds__syscall_at(i), strerror(-ret));
			goto fail;
		}
		link = bpf_program__attach_perf_event(prog, pfd);
		if (libbpf_get_error(link)) {
			ret = (int)libbpf_get_error(link);
			close(pfd);
			snprintf(err, errlen, "cannot attach to the sys_exit_%s tracepoint: %s",
				 fds__syscall_at(i), strerror(-ret));
			goto fail;
		}
		links[n++] = link;
	}
	*nlinks = n;
	return 0;
fail:
	release_links(links, n);
	probes__wait();
	*nlinks = 0;
	return ret;
}

static struct {
	struct bpf_link *links[FD_MAX_LINKS];
	int n;
	pthread_t thread;
	bool running;
} detaching;

static void *detach_all(void *arg)
{
	int i;

	for (i = 0; i < detaching.n; i++)
		bpf_link__destroy(detaching.links[i]);
	detaching.n = 0;
	return NULL;
}

/* Destroy n links in a thread of their own: releasing a tracepoint event
 * waits for an RCU grace period under the kernel's event_mutex (about 50 ms
 * here), so 40 take 2 s whatever the order. */
static void release_links(struct bpf_link **links, int n)
{
	int i;

	probes__wait();
	for (i = 0; i < n && i < FD_MAX_LINKS; i++) {
		detaching.links[i] = links[i];
		links[i] = NULL;
	}
	detaching.n = i;
	detaching.running = i && !pthread_create(&detaching.thread, NULL, detach_all, NULL);
	if (!detaching.running)
		detach_all(NULL);
}

void probes__wait(void)
{
	if (detaching.running)
		pthread_join(detaching.thread, NULL);
	detaching.running = false;
}

int probes__attach_tracepoints(struct pyleak_bpf *skel, bool fds, enum fd_tp mode,
			       struct tracepoints *tp, char *err, size_t errlen)
{
	int ret;

	memset(tp, 0, sizeof(*tp));
	if (fds && mode != FD_TP_RAW) {
		ret = attach_syscalls(skel->progs.fd_syscall_exit, tp->fd, &tp->nfd, err, errlen);
		if (!ret)
			tp->fd_how = "syscalls";
		else if (mode == FD_TP_SYSCALLS)
			return ret;
		else
			info("%s; fd syscalls are seen through the raw sys_exit tracepoint", err);
	}
	if (fds && !tp->fd_how) {
		tp->fd[0] = bpf_program__attach(skel->progs.fd_sys_exit);
		ret = (int)libbpf_get_error(tp->fd[0]);
		if (ret) {
			tp->fd[0] = NULL;
			snprintf(err, errlen, "cannot attach to the sys_exit tracepoint (fd tracking; "
				 "--no-fds runs without it): %s", strerror(-ret));
			return ret;
		}
		tp->nfd = 1;
		tp->fd_how = "raw";
	}
	tp->exec = bpf_program__attach(skel->progs.exec_watch);
	if ((ret = (int)libbpf_get_error(tp->exec))) {
		tp->exec = NULL;
		snprintf(err, errlen, "cannot attach to sched_process_exec: %s", strerror(-ret));
		goto fail;
	}
	/* Before any uprobe: a target that ends from now on freezes the maps. */
	tp->exit = bpf_program__attach(skel->progs.exit_watch);
	if ((ret = (int)libbpf_get_error(tp->exit))) {
		tp->exit = NULL;
		snprintf(err, errlen, "cannot attach to sched_process_exit: %s", strerror(-ret));
		goto fail;
	}
	/* Children of a followed process: BPF adds them at their fork. */
	tp->fork = bpf_program__attach(skel->progs.fork_watch);
	if ((ret = (int)libbpf_get_error(tp->fork))) {
		tp->fork = NULL;
		snprintf(err, errlen, "cannot attach to sched_process_fork: %s", strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	probes__detach_tracepoints(tp);
	return ret;
}

void probes__detach_tracepoints(struct tracepoints *tp)
{
	release_links(tp->fd, tp->nfd);
	tp->nfd = 0;
	bpf_link__destroy(tp->fork);
	bpf_link__destroy(tp->exec);
	bpf_link__destroy(tp->exit);
	tp->exec = tp->exit = tp->fork = NULL;
}
