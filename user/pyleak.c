// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pyleak-bpf: find growing Python allocation sites in a running CPython.
 *
 * options -> find CPython in the target -> open BPF -> configure rodata and
 * map sizes -> load -> attach -> report every interval -> final report ->
 * detach.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "census.h"
#include "fds.h"
#include "launch.h"
#include "log.h"
#include "pyleak.h"
#include "pyleak.skel.h"
#include "python.h"
#include "report.h"
#include "stacks.h"
#include "symbolize.h"

#define PYLEAK_VERSION "0.1.0"

/* Exit codes. */
#define EXIT_OK		0
#define EXIT_ERROR	1
#define EXIT_USAGE	2
#define EXIT_TARGET	3	/* -p target exited or exec'd while traced */

static struct env {
	pid_t pid;
	char **command;
	double interval;
	long count;
	double duration;
	int top;
	long min_age_ms;
	uint64_t min_size, max_size;
	bool json;
	bool partial;
	bool memory, fds;	/* --fds-only, --no-fds */
	int fd_tracepoints;	/* enum fd_tp */
	bool keep_allocator;
	uint32_t max_allocs;
	uint32_t max_stacks;
	uint32_t max_fds;
	bool census;		/* --no-census */
	bool census_pause;
	double census_interval;	/* 0: every report */
	uint64_t census_max;
} env = {
	.census = true,
	.census_max = CENSUS_DEFAULT_MAX_OBJECTS,
	.interval = 5,
	.top = 10,
	.min_age_ms = 500,
	.max_size = UINT64_MAX,
	.max_allocs = 1 << 20,
	.max_stacks = 65536,
	.max_fds = 65536,
	.memory = true,
	.fds = true,
};

/* --fd-tracepoints: how fd syscalls are seen (bpf/fd.bpf.h says why). */
enum fd_tp { FD_TP_AUTO, FD_TP_SYSCALLS, FD_TP_RAW };

static const char usage[] =
"Usage: pyleak-bpf [OPTIONS] -p PID [INTERVAL [COUNT]]\n"
"       pyleak-bpf [OPTIONS] [INTERVAL [COUNT]] -- COMMAND [ARGS...]\n";

static const char help[] =
"Find memory and file-descriptor leaks in a running CPython process from the\n"
"outside.\n"
"\n"
"Attaches BPF uprobes to the target's allocators (CPython's allocator tables\n"
"and libc), keeps every outstanding allocation with the Python stack that made\n"
"it, and every INTERVAL seconds (default 5) prints the stacks holding the most\n"
"memory, growing stacks first; and the same for open fds (files, sockets,\n"
"pipes...), from the syscalls that create and close them. COUNT reports, then\n"
"exit (default: until Ctrl-C, --duration, or the target exits). Ctrl-C prints a\n"
"final report and detaches; the target runs at full speed again. Needs root\n"
"(CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE).\n"
"\n"
"Target:\n"
"  -p, --pid PID          trace the running process PID\n"
"  -- COMMAND [ARGS...]   start COMMAND and trace it from its first bytecode;\n"
"                         on a PGO build (pymalloc inlined) it runs with\n"
"                         PYTHONMALLOC=malloc so that coverage is full. When\n"
"                         tracing ends first, COMMAND gets SIGTERM.\n"
"      --keep-allocator   with --: do not set PYTHONMALLOC=malloc\n"
"\n"
"Report:\n"
"  -T, --top N            stacks per report (default 10)\n"
"  -o, --min-age MS       only count allocations at least MS ms old (default 500)\n"
"  -z, --min-size BYTES   ignore allocations smaller than BYTES\n"
"  -Z, --max-size BYTES   ignore allocations larger than BYTES\n"
"  -d, --duration SECS    stop after SECS seconds, with a final report\n"
"  -j, --json             one JSON object per report on stdout (see README)\n"
"\n"
"Coverage:\n"
"      --partial          track only allocations that reach the raw allocator or\n"
"                         libc (objects over 512 bytes, container storage,\n"
"                         C-extension memory) even where all could be seen:\n"
"                         much lower overhead. Stripped PGO builds (Debian's and\n"
"                         Ubuntu's python3) are partial unless the target runs\n"
"                         with PYTHONMALLOC=malloc; every report says which.\n"
"\n"
"File descriptors (traced by default beside memory):\n"
"      --fds-only         trace open fds only: no allocator probes\n"
"      --no-fds           trace memory only\n"
"      --fd-tracepoints auto|syscalls|raw\n"
"                         syscalls: one event per fd syscall (tracefs ids; a\n"
"                         private tracefs mount when none is mounted), the\n"
"                         cheapest for other processes; raw: the sys_exit\n"
"                         tracepoint, no tracefs; auto (default): syscalls,\n"
"                         else raw\n"
"\n"
"Object types and holders (a census of the heap, read from outside):\n"
"      --no-census        no census: no object types, gc state or holders\n"
"      --census-interval S\n"
"                         seconds between censuses (default: every report)\n"
"      --census-max-objects N\n"
"                         objects read per census, at most (default 2000000);\n"
"                         a larger heap is sampled and the report says so\n"
"      --census-pause     stop the target (SIGSTOP) while it is read, for a\n"
"                         consistent snapshot; the report says how long.\n"
"                         Without it the target is never stopped\n"
"\n"
"Limits (a full map is counted and reported, never silent):\n"
"      --max-allocs N     outstanding allocations tracked (default 1048576)\n"
"      --max-fds N        open fds tracked (default 65536)\n"
"      --max-stacks N     distinct live Python stacks (default 65536)\n"
"\n"
"  -v, --verbose          diagnostics; twice for libbpf and the verifier log\n"
"  -V, --version          print the version\n"
"  -h, --help             this help\n"
"\n"
"Exit status: 0 on Ctrl-C, --duration, COUNT, or COMMAND finishing; 1 on an\n"
"error; 2 on bad usage; 3 when the -p target exits or execs while traced.\n"
"\n"
"Examples:\n"
"  pyleak-bpf -p 4242                   report every 5 s until Ctrl-C\n"
"  pyleak-bpf -p 4242 10 6 -T 5         six reports, 10 s apart, top 5\n"
"  pyleak-bpf -j -d 60 -p 4242          one minute, JSON lines\n"
"  pyleak-bpf -- python3 app.py         launch with full coverage\n";

enum {
	OPT_PARTIAL = 256, OPT_KEEP_ALLOC, OPT_MAX_ALLOCS, OPT_MAX_STACKS, OPT_MAX_FDS,
	OPT_FDS_ONLY, OPT_NO_FDS, OPT_FD_TRACEPOINTS, OPT_NO_CENSUS, OPT_CENSUS_INTERVAL,
	OPT_CENSUS_MAX, OPT_CENSUS_PAUSE,
};

static const struct option long_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "top", required_argument, NULL, 'T' },
	{ "min-age", required_argument, NULL, 'o' },
	{ "min-size", required_argument, NULL, 'z' },
	{ "max-size", required_argument, NULL, 'Z' },
	{ "duration", required_argument, NULL, 'd' },
	{ "json", no_argument, NULL, 'j' },
	{ "partial", no_argument, NULL, OPT_PARTIAL },
	{ "keep-allocator", no_argument, NULL, OPT_KEEP_ALLOC },
	{ "max-allocs", required_argument, NULL, OPT_MAX_ALLOCS },
	{ "max-stacks", required_argument, NULL, OPT_MAX_STACKS },
	{ "max-fds", required_argument, NULL, OPT_MAX_FDS },
	{ "fds-only", no_argument, NULL, OPT_FDS_ONLY },
	{ "no-fds", no_argument, NULL, OPT_NO_FDS },
	{ "fd-tracepoints", required_argument, NULL, OPT_FD_TRACEPOINTS },
	{ "no-census", no_argument, NULL, OPT_NO_CENSUS },
	{ "census-interval", required_argument, NULL, OPT_CENSUS_INTERVAL },
	{ "census-max-objects", required_argument, NULL, OPT_CENSUS_MAX },
	{ "census-pause", no_argument, NULL, OPT_CENSUS_PAUSE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{},
};

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "pyleak-bpf: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%sTry 'pyleak-bpf --help'.\n", usage);
	return -EINVAL;
}

static bool parse_ulong(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && end != s && !*end && *s != '-' && *out <= max;
}

static bool parse_secs(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return !errno && end != s && !*end && *out > 0 && *out < 1e7;
}

static int parse_args(int argc, char **argv)
{
	unsigned long long v;
	int i, cmd = argc, opt, npos = 0;

	/* Everything after -- is the command, whatever it looks like. */
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			cmd = i;
			break;
		}
	if (cmd < argc) {
		if (cmd + 1 == argc)
			return bad_usage("%s", "-- needs a COMMAND");
		env.command = &argv[cmd + 1];
	}
	opterr = 0;	/* our own messages, in our own format */
	while ((opt = getopt_long(cmd, argv, ":p:T:o:z:Z:d:jvVh", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (!parse_ulong(optarg, INT_MAX, &v) || !v)
				return bad_usage("invalid PID '%s'", optarg);
			env.pid = v;
			break;
		case 'T':
			if (!parse_ulong(optarg, 100000, &v) || !v)
				return bad_usage("invalid -T '%s'", optarg);
			env.top = v;
			break;
		case 'o':
			if (!parse_ulong(optarg, 86400000, &v))
				return bad_usage("invalid -o '%s' (milliseconds)", optarg);
			env.min_age_ms = v;
			break;
		case 'z':
		case 'Z':
			if (!parse_ulong(optarg, UINT64_MAX, &v))
				return bad_usage("invalid size '%s'", optarg);
			*(opt == 'z' ? &env.min_size : &env.max_size) = v;
			break;
		case 'd':
			if (!parse_secs(optarg, &env.duration))
				return bad_usage("invalid duration '%s' (seconds)", optarg);
			break;
		case 'j':
			env.json = true;
			break;
		case OPT_PARTIAL:
			env.partial = true;
			break;
		case OPT_KEEP_ALLOC:
			env.keep_allocator = true;
			break;
		case OPT_MAX_ALLOCS:
		case OPT_MAX_STACKS:
		case OPT_MAX_FDS:
			if (!parse_ulong(optarg, 1u << 28, &v) || v < 16)
				return bad_usage("invalid map size '%s'", optarg);
			*(opt == OPT_MAX_ALLOCS ? &env.max_allocs :
			  opt == OPT_MAX_STACKS ? &env.max_stacks : &env.max_fds) = v;
			break;
		case OPT_FDS_ONLY:
			env.memory = false;
			break;
		case OPT_NO_FDS:
			env.fds = false;
			break;
		case OPT_FD_TRACEPOINTS:
			if (!strcmp(optarg, "auto"))
				env.fd_tracepoints = FD_TP_AUTO;
			else if (!strcmp(optarg, "syscalls"))
				env.fd_tracepoints = FD_TP_SYSCALLS;
			else if (!strcmp(optarg, "raw"))
				env.fd_tracepoints = FD_TP_RAW;
			else
				return bad_usage("invalid --fd-tracepoints '%s' (auto, syscalls, "
						 "raw)", optarg);
			break;
		case OPT_NO_CENSUS:
			env.census = false;
			break;
		case OPT_CENSUS_PAUSE:
			env.census_pause = true;
			break;
		case OPT_CENSUS_INTERVAL:
			if (!parse_secs(optarg, &env.census_interval))
				return bad_usage("invalid --census-interval '%s' (seconds)", optarg);
			break;
		case OPT_CENSUS_MAX:
			if (!parse_ulong(optarg, 1ull << 32, &v) || v < 1000)
				return bad_usage("invalid --census-max-objects '%s' (1000 or more)", optarg);
			env.census_max = v;
			break;
		case 'v':
			log_verbosity++;
			break;
		case 'V':
			printf("pyleak-bpf %s\n", PYLEAK_VERSION);
			exit(EXIT_OK);
		case 'h':
			printf("%s\n%s", usage, help);
			exit(EXIT_OK);
		case ':':
			return bad_usage("option '%s' needs a value", argv[optind - 1]);
		default:
			return bad_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	for (i = optind; i < cmd; i++, npos++) {
		if (npos == 0 && !parse_secs(argv[i], &env.interval))
			return bad_usage("invalid interval '%s' (seconds)", argv[i]);
		if (npos == 1 && (!parse_ulong(argv[i], LONG_MAX, &v) || !v))
			return bad_usage("invalid count '%s'", argv[i]);
		if (npos == 1)
			env.count = v;
		if (npos > 1)
			return bad_usage("unexpected argument '%s'", argv[i]);
	}
	if (!env.pid == !env.command)
		return bad_usage("%s", env.pid ? "give -p PID or -- COMMAND, not both" :
					       "give a target: -p PID or -- COMMAND");
	if (env.min_size > env.max_size)
		return bad_usage("%s", "-z is larger than -Z");
	if (!env.memory && !env.fds)
		return bad_usage("%s", "--fds-only and --no-fds leave nothing to trace");
	return 0;
}

/* CapEff from /proc/self/status: root is not required, these are. */
static int check_privileges(void)
{
	unsigned long long caps = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");
	bool bpf, perfmon, ptrace, admin;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	if (f)
		fclose(f);
	admin = caps >> 21 & 1;
	bpf = admin || (caps >> 39 & 1);
	perfmon = admin || (caps >> 38 & 1);
	ptrace = caps >> 19 & 1;
	if (bpf && perfmon && ptrace)
		return 0;
	warn("need root or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE (running as uid %d "
	     "without them)", getuid());
	return -EPERM;
}

static const char *coverage_note(const struct pyproc *p, bool partial, bool pythonmalloc, char *buf, size_t len)
{
	if (!env.memory)
		snprintf(buf, len, "memory not traced (--fds-only): no allocator probes");
	else if (!partial && p->alloc_kind == PYALLOC_MALLOC)
		snprintf(buf, len, "full: PYTHONMALLOC=malloc%s routes every Python allocation "
			 "through libc, which is probed", pythonmalloc ? " (set by pyleak-bpf)" : "");
	else if (!partial)
		snprintf(buf, len, "full: the %s allocator tables (object and mem domains) and "
			 "libc are probed", pyproc__alloc_name(p));
	else if (env.partial)
		snprintf(buf, len, "partial (--partial): only allocations reaching libc are seen: "
			 "objects over 512 bytes, container storage, C-extension memory");
	else
		snprintf(buf, len, "partial: this PGO build inlines pymalloc at %d call sites, so "
			 "objects of 512 bytes or less are invisible; seen: larger objects, "
			 "container storage, C-extension memory. For full coverage run the target "
			 "with PYTHONMALLOC=malloc (pyleak-bpf -- COMMAND does)", p->guards);
	return buf;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The per-syscall events, else the raw sys_exit tracepoint. */
static int attach_fds(struct pyleak_bpf *skel, struct bpf_link **links, int *n,
		      const char **how)
{
	char err[512];
	int ret;

	if (env.fd_tracepoints != FD_TP_RAW) {
		ret = fds__attach_syscalls(skel->progs.fd_syscall_exit, links, n, err, sizeof(err));
		if (!ret) {
			*how = "syscalls";
			return 0;
		}
		if (env.fd_tracepoints == FD_TP_SYSCALLS) {
			warn("%s", err);
			return ret;
		}
		info("%s; fd syscalls are seen through the raw sys_exit tracepoint", err);
	}
	links[0] = bpf_program__attach(skel->progs.fd_sys_exit);
	ret = (int)libbpf_get_error(links[0]);
	if (ret) {
		links[0] = NULL;
		warn("cannot attach to the sys_exit tracepoint (fd tracking; --no-fds runs without "
		     "it): %s", strerror(-ret));
		return ret;
	}
	*n = 1;
	*how = "raw";
	return 0;
}

int main(int argc, char **argv)
{
	struct pyleak_bpf *skel = NULL;
	struct bpf_link *exec_link = NULL, *fd_links[FD_MAX_LINKS] = {};
	struct symbolizer *sym = NULL;
	struct stack_table *stacks = NULL;
	struct reporter *rep = NULL;
	struct census *census = NULL;
	struct launch launch = { .go_fd = -1, .err_fd = -1 };
	struct probes probes = {};
	struct pyproc py = { .elf.fd = -1 };
	struct report_opts ro;
	struct report_meta rm;
	struct py_offsets boff;
	char err[512] = "", note[512];
	const char *reason = NULL;
	int sfd = -1, pidfd = -1, ret, code = EXIT_ERROR;
	double next, deadline = 0;
	bool partial, launched;
	const char *fd_how = NULL;
	long reports = 0;
	sigset_t mask;
	int nfd_links = 0;

	if (parse_args(argc, argv))
		return EXIT_USAGE;
	libbpf_set_print(log__libbpf);
	if (check_privileges())
		return EXIT_ERROR;

	/* Signals arrive through a signalfd; the launched child gets them default. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	/* A closed stdout is noticed as a write error, not a silent death that
	 * would leave a launched command running. */
	signal(SIGPIPE, SIG_IGN);

	launched = env.command != NULL;
	if (launched) {
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
		ret = launch__fork(&launch, env.command, env.keep_allocator, err, sizeof(err));
		sigprocmask(SIG_BLOCK, &mask, NULL);
		if (!ret)
			ret = launch__run_to_python(&launch, err, sizeof(err));
		if (ret) {
			warn("%s: %s", env.command[0], err);
			goto cleanup;
		}
		env.pid = launch.pid;
	}

	ret = pyproc__open(&py, env.pid, err, sizeof(err));
	if (ret) {
		warn("pid %d: %s", env.pid, err);
		goto cleanup;
	}
	if (err[0])
		info("pid %d: %s", env.pid, err);
	partial = env.partial || pyproc__pymalloc_inlined(&py);

	skel = pyleak_bpf__open();
	if (!skel) {
		warn("cannot open the BPF object: %s", strerror(errno));
		goto cleanup;
	}
	pyproc__bpf_offsets(&py, &boff);
	skel->rodata->pyoff = boff;
	skel->rodata->targ_tgid = env.pid;
	skel->rodata->min_size = env.min_size;
	skel->rodata->max_size = env.max_size;
	bpf_map__set_max_entries(skel->maps.allocs, env.max_allocs);
	bpf_map__set_max_entries(skel->maps.stacks, env.max_stacks);
	bpf_map__set_max_entries(skel->maps.fds, env.max_fds);
	bpf_program__set_autoload(skel->progs.fd_syscall_exit,
				  env.fds && env.fd_tracepoints != FD_TP_RAW);
	bpf_program__set_autoload(skel->progs.fd_sys_exit,
				  env.fds && env.fd_tracepoints != FD_TP_SYSCALLS);
	skel->rodata->targ_fds = env.fds;
	ret = pyleak_bpf__load(skel);
	if (ret) {
		warn("cannot load the BPF programs: %s%s", strerror(-ret),
		     log_verbosity ? "" : " (run with -v for the verifier's reason)");
		goto cleanup;
	}
	if (env.fds && attach_fds(skel, fd_links, &nfd_links, &fd_how))
		goto cleanup;
	exec_link = bpf_program__attach(skel->progs.exec_watch);
	if (libbpf_get_error(exec_link)) {
		exec_link = NULL;
		warn("cannot attach to sched_process_exec: %s", strerror(errno));
		goto cleanup;
	}
	if (env.memory) {
		ret = attach__allocators(skel, &py, partial, &probes, err, sizeof(err));
		if (ret) {
			warn("%s", err);
			goto cleanup;
		}
	}
	pidfd = syscall(SYS_pidfd_open, env.pid, 0);
	if (launched)
		launch__resume(&launch);

	sym = symbolizer__new(env.pid, &py.off, py.code_type);
	ro = (struct report_opts){ env.top, env.min_age_ms * 1000000ULL, env.json };
	rm = (struct report_meta){
		.pid = env.pid, .python = py.version, .executable = py.exe,
		.coverage = partial ? "partial" : "full",
		.coverage_note = coverage_note(&py, partial, launch.pythonmalloc,
					       note, sizeof(note)),
		.allocator = pyproc__alloc_name(&py),
		.functions = probes.functions, .emulated = probes.emulated,
		.memory = env.memory, .fds = env.fds, .fd_tracepoints = fd_how,
	};
	stacks = sym ? stacks__new(bpf_map__fd(skel->maps.stacks),
				   bpf_map__fd(skel->maps.newstacks), sym) : NULL;
	rep = stacks ? report__new(&ro, &rm, stacks, bpf_map__fd(skel->maps.allocs),
				   env.fds ? bpf_map__fd(skel->maps.fds) : -1,
				   bpf_map__fd(skel->maps.stats)) : NULL;
	if (!rep) {
		warn("out of memory");
		goto cleanup;
	}
	if (env.census) {
		struct census_opts co = {
			.interval = env.census_interval ? env.census_interval : env.interval,
			.max_objects = env.census_max,
			.pause = env.census_pause, .top = env.top,
		};

		census = census__new(&co);
		if (!census) {
			warn("out of memory");
			goto cleanup;
		}
		report__set_census(rep, census);
		/* its own thread: new stacks are symbolized while the heap is read */
		if (census__start(census, &py)) {
			warn("cannot start the census thread: %s", strerror(errno));
			goto cleanup;
		}
	}
	fprintf(env.json ? stderr : stdout,
		"Attaching to pid %d (CPython %s, %s), %d allocator functions probed "
		"(%d on emulated instructions)%s%s%s... Ctrl-C to end.\n%s\n", env.pid, py.version,
		py.module, probes.functions, probes.emulated,
		fd_how ? ", fd syscalls traced (" : "",
		!fd_how ? "" : !strcmp(fd_how, "raw") ? "raw sys_exit tracepoint" :
		"per-syscall tracepoints", fd_how ? ")" : "",
		rm.coverage_note);
	fflush(stdout);

	next = now_s() + env.interval;
	if (env.duration)
		deadline = now_s() + env.duration;
	code = EXIT_OK;
	for (;;) {
		struct pollfd fds[3] = { { sfd, POLLIN }, { stacks__poll_fd(stacks), POLLIN },
					 { pidfd, POLLIN } };
		double t = now_s(), until = deadline && deadline < next ? deadline : next;
		int timeout = until > t ? (int)((until - t) * 1000) + 1 : 0;

		ret = poll(fds, pidfd >= 0 ? 3 : 2, timeout);
		if (ret < 0 && errno != EINTR) {
			warn("poll: %s", strerror(errno));
			code = EXIT_ERROR;
			reason = "error";
			break;
		}
		if (fds[0].revents) {
			reason = "interrupted";
			break;
		}
		/* After an exec the code objects are gone: a stack announced now
		 * cannot be symbolized, and trying would invalidate the
		 * symbolizer's cache under the stacks already resolved. */
		if (fds[1].revents && !skel->bss->exec_seen)
			stacks__consume(stacks);
		if (pidfd >= 0 && fds[2].revents) {
			reason = "target exited";
			if (!launched) {
				warn("pid %d exited", env.pid);
				code = EXIT_TARGET;
			}
			break;
		}
		if (skel->bss->exec_seen) {
			warn("pid %d exec'd a new program; the traced image is gone", env.pid);
			reason = "target exec'd";
			code = EXIT_TARGET;
			break;
		}
		if (deadline && now_s() >= deadline) {
			reason = "duration";
			break;
		}
		if (now_s() >= next) {
			reports++;
			if (env.count && reports >= env.count) {
				reason = "count";
				break;
			}
			stacks__consume(stacks);
			ret = report__print(rep, false, NULL);
			if (ferror(stdout)) {
				/* stdout closed (`| head`): nobody reads the reports any more */
				reason = "output closed";
				break;
			}
			if (ret)
				warn("pid %d: cannot read the maps or /proc/%d/fd: %s", env.pid,
				     env.pid, strerror(-ret));
			next += env.interval;
		}
	}
	/* Detach first: the target must not pay for the final report. The fd
	 * programs go quiet at once; their events are released meanwhile. */
	attach__destroy(&probes);
	skel->bss->fds_off = 1;
	fds__detach(fd_links, nfd_links);
	nfd_links = 0;
	bpf_link__destroy(exec_link);
	exec_link = NULL;
	if (!skel->bss->exec_seen)
		stacks__consume(stacks);
	/* a last census, unless the target is gone or is another program now */
	if (census)
		census__stop(census);
	if (census && !skel->bss->exec_seen && kill(env.pid, 0) == 0 &&
	    (!reason || strcmp(reason, "target exited")))
		census__take(census, &py);
	report__print(rep, true, reason);

cleanup:
	attach__destroy(&probes);
	fds__detach(fd_links, nfd_links);
	fds__detach_wait();
	bpf_link__destroy(exec_link);
	report__free(rep);
	census__free(census);
	stacks__free(stacks);
	symbolizer__free(sym);
	pyleak_bpf__destroy(skel);
	pyproc__close(&py);
	if (launched) {
		/* A command still running when tracing ends is ended with it. */
		launch__finish(&launch, true);
		launch__destroy(&launch);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (sfd >= 0)
		close(sfd);
	return code;
}
