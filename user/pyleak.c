// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pyleak-bpf: find growing Python allocation sites in a running CPython.
 *
 * options -> find CPython in the target -> open BPF -> configure rodata and
 * map sizes -> load -> attach -> report every interval -> final report ->
 * detach.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "census.h"
#include "fds.h"
#include "launch.h"
#include "procinfo.h"
#include "log.h"
#include "output.h"
#include "probe.h"
#include "pyleak.h"
#include "pyleak.skel.h"
#include "python.h"
#include "report.h"
#include "sanitize.h"
#include "stacks.h"
#include "symbolize.h"

#define PYLEAK_VERSION "0.1.0"

/* Exit codes. */
#define EXIT_OK		0
#define EXIT_ERROR	1
#define EXIT_USAGE	2
#define EXIT_TARGET	3	/* -p target exited or exec'd while traced */

/* Bounds of the options. A report costs a full read of the maps: more
 * often than this is all overhead. The map bounds keep what the kernel
 * sets aside up front (16 bytes of hash buckets per entry, rounded up to
 * a power of two) and what a full map holds (about 100 bytes per
 * allocation, 90 per stack-store node, 120 per fd) sane. */
#define MIN_INTERVAL	0.1
#define MAX_ALLOCS	(1u << 24)
#define MAX_STACKS	(1u << 20)
#define MAX_FDS		(1u << 20)
#define MIN_MAP		16

static struct env {
	pid_t pid;
	char **command;
	double interval;
	long count;
	double duration;
	int top;
	int frames;		/* --frames: 0 for all */
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
	struct report_outputs outputs;	/* --pprof, --serve, --folded, --html, --pyroscope */
	bool census;		/* --no-census */
	bool census_pause;
	double census_interval;	/* 0: every report */
	uint64_t census_max;
} env = {
	.census = true,
	.census_max = CENSUS_DEFAULT_MAX_OBJECTS,
	.interval = 5,
	.top = 10,
	.frames = 6,
	.min_age_ms = 500,
	.max_size = UINT64_MAX,
	.max_allocs = 1 << 20,
	.max_stacks = 524288,
	.max_fds = 65536,
	.memory = true,
	.fds = true,
};


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
"exit (default: until Ctrl-C, --duration, or the target exits). INTERVAL is at\n"
"least 0.1. Ctrl-C prints a final report and detaches; the target runs at full\n"
"speed again; a second Ctrl-C exits at once. Needs root, or CAP_SYS_ADMIN,\n"
"CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (see the README).\n"
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
"      --frames N|all     innermost frames shown per stack in text (default 6;\n"
"                         the import system's frames count as one line; JSON\n"
"                         always has every frame)\n"
"  -o, --min-age MS       only count allocations at least MS ms old (default 500)\n"
"  -z, --min-size BYTES   ignore allocations smaller than BYTES\n"
"  -Z, --max-size BYTES   ignore allocations larger than BYTES\n"
"  -d, --duration SECS    stop after SECS seconds, with a final report (with --,\n"
"                         also the longest wait for COMMAND to reach CPython)\n"
"  -j, --json             one JSON object per report on stdout (see README)\n"
"\n"
"Outputs (files are replaced atomically with each report and at the end):\n"
"      --pprof FILE       gzipped pprof heap profile (inuse_space, inuse_objects;\n"
"                         alloc_* hold the same), and the open fds profile in\n"
"                         FILE with .fds before its extension (heap.pb.gz ->\n"
"                         heap.fds.pb.gz); read by go tool pprof\n"
"      --folded FILE      folded stacks (root;...;leaf BYTES) for flamegraph.pl,\n"
"                         inferno, speedscope; open fds in FILE's .fds sibling\n"
"      --html FILE        a self-contained flame graph page of memory and fds\n"
"      --serve [ADDR:]PORT  HTTP on 127.0.0.1 (or ADDR) while tracing: /metrics\n"
"                         (Prometheus), /debug/pprof/heap, /debug/pprof/fds;\n"
"                         PORT 0 picks a free port (printed on stderr)\n"
"      --metrics-top N    stack series per section in /metrics (default 20)\n"
"      --pyroscope URL    push the pprof profiles to a Pyroscope server with\n"
"                         each report (POST URL/ingest; a failed push is\n"
"                         retried, counted, said once, never stops tracing)\n"
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
"Limits (a full map is counted and reported, never silent; the kernel sets\n"
"aside 16 bytes per entry at start, the rest as the map fills):\n"
"      --max-allocs N     outstanding allocations tracked (default 1048576,\n"
"                         16 to 16777216; about 100 bytes each when full)\n"
"      --max-fds N        open fds tracked (default 65536, 16 to 1048576)\n"
"      --max-stacks N     frames in the stack store, a prefix tree of the live\n"
"                         Python stacks (default 524288, 16 to 1048576; about\n"
"                         90 bytes each when full)\n"
"\n"
"  -v, --verbose          diagnostics; twice for libbpf and the verifier log\n"
"  -V, --version          print the version\n"
"  -h, --help             this help\n"
"\n"
"Output: reports are written by a separate thread; a reader that stops reading\n"
"(a pager, a stuck pipe) never delays Ctrl-C or the detach. While 16 MiB wait\n"
"unwritten, new reports are dropped (and counted); at exit the final report\n"
"gets 1 s, then the tool exits anyway, saying so on stderr.\n"
"\n"
"Exit status: 0 on Ctrl-C, --duration, COUNT, or COMMAND finishing (also when\n"
"stdout is closed by its reader, e.g. | head); 1 on an error, a write error on\n"
"stdout included; 2 on bad usage; 3 when the -p target exits or execs while\n"
"traced, or exits while being attached.\n"
"\n"
"Examples:\n"
"  pyleak-bpf -p 4242                   report every 5 s until Ctrl-C\n"
"  pyleak-bpf -p 4242 10 6 -T 5         six reports, 10 s apart, top 5\n"
"  pyleak-bpf -j -d 60 -p 4242          one minute, JSON lines\n"
"  pyleak-bpf -- python3 app.py         launch with full coverage\n";

enum {
	OPT_PARTIAL = 256, OPT_KEEP_ALLOC, OPT_MAX_ALLOCS, OPT_MAX_STACKS, OPT_MAX_FDS,
	OPT_FDS_ONLY, OPT_NO_FDS, OPT_FD_TRACEPOINTS, OPT_FRAMES,
	OPT_PPROF, OPT_FOLDED, OPT_HTML, OPT_SERVE, OPT_PYROSCOPE, OPT_METRICS_TOP,
	OPT_NO_CENSUS, OPT_CENSUS_INTERVAL, OPT_CENSUS_MAX, OPT_CENSUS_PAUSE,
};

static const struct option long_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "top", required_argument, NULL, 'T' },
	{ "frames", required_argument, NULL, OPT_FRAMES },
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
	{ "pprof", required_argument, NULL, OPT_PPROF },
	{ "folded", required_argument, NULL, OPT_FOLDED },
	{ "html", required_argument, NULL, OPT_HTML },
	{ "serve", required_argument, NULL, OPT_SERVE },
	{ "pyroscope", required_argument, NULL, OPT_PYROSCOPE },
	{ "metrics-top", required_argument, NULL, OPT_METRICS_TOP },
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
	unsigned int max;
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
		case OPT_FRAMES:
			if (!strcmp(optarg, "all"))
				env.frames = 0;
			else if (parse_ulong(optarg, MAX_FRAMES, &v) && v)
				env.frames = v;
			else
				return bad_usage("invalid --frames '%s' (1 to 64, or all)", optarg);
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
			max = opt == OPT_MAX_ALLOCS ? MAX_ALLOCS : opt == OPT_MAX_STACKS ?
			      MAX_STACKS : MAX_FDS;
			if (!parse_ulong(optarg, UINT32_MAX, &v) || v < MIN_MAP || v > max) {
				char what[128];

				snprintf(what, sizeof(what), "invalid --max-%s '%%s' (%u to %u)",
					 opt == OPT_MAX_ALLOCS ? "allocs" : opt == OPT_MAX_STACKS ?
					 "stacks" : "fds", MIN_MAP, max);
				return bad_usage(what, optarg);
			}
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
		case OPT_PPROF:
		case OPT_FOLDED:
		case OPT_HTML:
			if (!*optarg)
				return bad_usage("%s", "an output FILE cannot be empty");
			*(opt == OPT_PPROF ? &env.outputs.pprof : opt == OPT_FOLDED ?
			  &env.outputs.folded : &env.outputs.html) = optarg;
			break;
		case OPT_SERVE:
			env.outputs.serve = optarg;	/* checked when it binds */
			break;
		case OPT_PYROSCOPE:
			env.outputs.pyroscope = optarg;
			break;
		case OPT_METRICS_TOP:
			if (!parse_ulong(optarg, 10000, &v) || !v)
				return bad_usage("invalid --metrics-top '%s' (1 to 10000)", optarg);
			env.outputs.metrics_top = v;
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
		if (npos == 0 && env.interval < MIN_INTERVAL)
			return bad_usage("interval '%s' is too short (0.1 seconds at least)", argv[i]);
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

/*
 * CapEff from /proc/self/status: root is not required, these are (found
 * by running as uid 65534 with ambient capabilities on Linux 6.18):
 * CAP_SYS_ADMIN: the uprobe perf events are refused (EACCES) with
 * CAP_BPF and CAP_PERFMON alone, and /proc/PID/map_files (the mapped
 * files themselves) needs it; CAP_SYS_PTRACE: another user's /proc/PID/
 * exe, maps and memory; CAP_DAC_READ_SEARCH: the target's files under
 * directories closed to us (/root/.pyenv) and its map_files directory.
 */
static int check_privileges(void)
{
	static const struct { int bit; const char *name; } need[] = {
		{ 21, "CAP_SYS_ADMIN" }, { 19, "CAP_SYS_PTRACE" }, { 2, "CAP_DAC_READ_SEARCH" },
	};
	unsigned long long caps = 0;
	char line[256], missing[128] = "";
	FILE *f = fopen("/proc/self/status", "re");
	unsigned int i;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	if (f)
		fclose(f);
	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!(caps >> need[i].bit & 1))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
				 missing[0] ? ", " : "", need[i].name);
	if (!missing[0])
		return 0;
	warn("need root, or CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (uid %d "
	     "lacks %s)", getuid(), missing);
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

/* report_meta.build. The guards are counted for the object allocator in
 * use, so under PYTHONMALLOC=malloc or hooks they say nothing of the build,
 * unless -- set PYTHONMALLOC because the file is a PGO build. */
static const char *build_name(const struct pyproc *p, bool pythonmalloc)
{
	if (pyproc__pymalloc_inlined(p) || pythonmalloc)
		return "pgo";
	return p->alloc_kind == PYALLOC_DEFAULT ? "standard" : NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the target, before it is opened */

/* -p TID: a thread's id names its process (Tgid): memory probes would
 * filter on the process anyway, fds and the exit are the process's. */
static void resolve_tid(void)
{
	char fn[64], line[256];
	long tgid = 0;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/status", env.pid);
	f = fopen(fn, "re");
	if (!f)
		return;		/* pyproc__open says why */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %ld", &tgid) == 1)
			break;
	fclose(f);
	if (tgid > 0 && tgid != env.pid) {
		warn("%d is a thread of process %ld: tracing the process", env.pid, tgid);
		env.pid = tgid;
	}
}

/* Exited (gone or a zombie): what a failure while attaching really means. */
static bool target_gone(pid_t pid)
{
	char fn[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(fn, sizeof(fn), "/proc/%d/stat", pid);
	fd = open(fn, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && (p[2] == 'Z' || p[2] == 'X');
}

/* ---- signals and the output sink */

static volatile pid_t force_kill_pid;

/* The second Ctrl-C: whatever is still going on (a final report stuck on
 * stdout, slow detaching) is abandoned. Exiting closes the BPF links, so
 * the probes still go. */
static void force_exit(int sig)
{
	static const char msg[] = "pyleak-bpf: interrupted again: exiting at once\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more can be said */
	}
	if (force_kill_pid > 0) {
		kill(force_kill_pid, SIGTERM);
		kill(force_kill_pid, SIGCONT);
	}
	_exit(EXIT_ERROR);
}

static void drain_signals(int sfd)
{
	struct signalfd_siginfo si;

	while (sfd >= 0 && read(sfd, &si, sizeof(si)) == sizeof(si))
		;
}

/* From the end of tracing on, SIGINT and SIGTERM end the tool at once. */
static void arm_force_exit(int sfd, pid_t child)
{
	struct sigaction sa = { .sa_handler = force_exit };
	sigset_t m;

	drain_signals(sfd);
	force_kill_pid = child;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&m);
	sigaddset(&m, SIGINT);
	sigaddset(&m, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &m, NULL);
}

/* What the output's fate does to the exit status. */
static int output_status(int ret, int code)
{
	uint64_t dropped = output__dropped();

	if (dropped)
		warn("stdout was not read: %" PRIu64 " reports were dropped", dropped);
	if (ret == -ETIMEDOUT) {
		warn("stdout is not being read: the final report was not written (gave up "
		     "after 1 s)");
		return EXIT_ERROR;
	}
	if (ret == -EPIPE) {
		/* `| head`: the reader had enough */
		info("stdout was closed by its reader; reports stopped");
		return code;
	}
	if (ret) {
		warn("cannot write the reports to stdout: %s", strerror(-ret));
		return EXIT_ERROR;
	}
	return code;
}

int main(int argc, char **argv)
{
	struct pyleak_bpf *skel = NULL;
	struct tracepoints tps = {};
	struct symbolizer *sym = NULL;
	struct stack_table *stacks = NULL;
	struct reporter *rep = NULL;
	struct report_sinks *sinks = NULL;
	struct census *census = NULL;
	struct launch launch = { .go_fd = -1, .err_fd = -1 };
	struct probes probes = {};
	struct pyproc py = { .elf.fd = -1 };
	struct report_opts ro;
	struct report_meta rm;
	struct procinfo who;
	struct py_offsets boff;
	char err[512] = "", note[512], why[256];
	struct report_as_of as_of;
	const char *reason = NULL;
	int sfd = -1, pidfd = -1, ret, code = EXIT_ERROR;
	double next, deadline = 0;
	bool partial, launched;
	long reports = 0;
	sigset_t mask;

	if (parse_args(argc, argv))
		return EXIT_USAGE;
	libbpf_set_print(log__libbpf);
	if (check_privileges())
		return EXIT_ERROR;
	if (env.pid)
		resolve_tid();

	/* Signals arrive through a signalfd; the launched child gets them default. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		warn("cannot read signals (signalfd): %s; Ctrl-C would not work", strerror(errno));
		return EXIT_ERROR;
	}
	/* A closed stdout is noticed as a write error, not a silent death that
	 * would leave a launched command running. */
	signal(SIGPIPE, SIG_IGN);
	/* After the signal mask: the writer thread must not take SIGINT. */
	ret = output__init(STDOUT_FILENO);
	if (ret) {
		warn("cannot start the output thread: %s", strerror(-ret));
		close(sfd);
		return EXIT_ERROR;
	}
	/* Output files, the endpoint and the Pyroscope worker, before anything
	 * is started: a port in use ends the run here. Their threads start with
	 * the signals blocked, so SIGINT still reaches the signalfd. */
	if (report__open_sinks(&env.outputs, &sinks)) {
		close(sfd);
		return EXIT_ERROR;
	}

	launched = env.command != NULL;
	if (launched) {
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
		ret = launch__fork(&launch, env.command, env.keep_allocator, err, sizeof(err));
		sigprocmask(SIG_BLOCK, &mask, NULL);
		if (!ret)
			ret = launch__run_to_python(&launch, sfd, env.duration ?
						    now_s() + env.duration : 0, err, sizeof(err));
		if (ret) {
			warn("%s: %s", sanitize__t(env.command[0]), err);
			/* Ctrl-C or -d before Python: the user's own stop */
			if (ret == -EINTR || ret == -ETIME)
				code = EXIT_OK;
			goto cleanup;
		}
		env.pid = launch.pid;
	}

	ret = pyproc__open(&py, env.pid, err, sizeof(err));
	if (ret && py.exe[0] && target_gone(env.pid)) {
		/* its memory went mid-read: TLS, tables... */
		warn("pid %d exited while being attached", env.pid);
		code = launched ? EXIT_ERROR : EXIT_TARGET;
		goto cleanup;
	}
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
	bpf_map__set_max_entries(skel->maps.stack_nodes, env.max_stacks);
	bpf_map__set_max_entries(skel->maps.fds, env.max_fds);
	bpf_program__set_autoload(skel->progs.fd_syscall_exit,
				  env.fds && env.fd_tracepoints != FD_TP_RAW);
	bpf_program__set_autoload(skel->progs.fd_sys_exit,
				  env.fds && env.fd_tracepoints != FD_TP_SYSCALLS);
	skel->rodata->targ_fds = env.fds;
	probes.multi = probes__multi_supported(why, sizeof(why));
	if (probes.multi)
		info("uprobes: uprobe_multi links");
	else
		info("uprobes: perf events, one per probe (%s); detaching takes ~0.1 s a probe",
		     why);
	probes__prepare(skel, probes.multi);
	ret = pyleak_bpf__load(skel);
	if (ret) {
		warn("cannot load the BPF programs: %s%s", strerror(-ret),
		     log_verbosity ? "" : " (run with -v for the verifier's reason)");
		goto cleanup;
	}
	/* Before any uprobe: a target that ends from now on freezes the maps. */
	ret = probes__attach_tracepoints(skel, env.fds, env.fd_tracepoints, &tps, err, sizeof(err));
	if (ret) {
		warn("%s", err);
		goto cleanup;
	}
	ret = probes__attach(skel, &py, partial, env.memory, &probes, err, sizeof(err));
	if (ret && target_gone(env.pid)) {
		warn("pid %d exited while being attached", env.pid);
		code = launched ? EXIT_ERROR : EXIT_TARGET;
		goto cleanup;
	}
	if (ret) {
		warn("%s", err);
		goto cleanup;
	}
	pidfd = syscall(SYS_pidfd_open, env.pid, 0);
	if (launched)
		launch__resume(&launch);

	sym = symbolizer__new(env.pid, &py.off, py.code_type);
	ro = (struct report_opts){ env.top, env.frames, env.min_age_ms * 1000000ULL, env.json,
				   sinks };
	procinfo__read(env.pid, &who);
	rm = (struct report_meta){
		.pid = env.pid, .ns_pid = who.ns_pid, .comm = who.comm, .cmdline = who.cmdline,
		.container = who.container, .cgroup = who.cgroup, .python = py.version,
		.build = build_name(&py, launch.pythonmalloc), .executable = py.exe,
		.coverage = partial ? "partial" : "full",
		.coverage_note = coverage_note(&py, partial, launch.pythonmalloc,
					       note, sizeof(note)),
		.allocator = pyproc__alloc_name(&py),
		.functions = probes.functions, .emulated = probes.emulated,
		.memory = env.memory, .fds = env.fds, .fd_tracepoints = tps.fd_how,
	};
	stacks = sym ? stacks__new(bpf_map__fd(skel->maps.stack_nodes),
				   bpf_map__fd(skel->maps.new_nodes), sym) : NULL;
	rep = stacks ? report__new(&ro, &rm, stacks, bpf_map__fd(skel->maps.allocs),
				   env.fds ? bpf_map__fd(skel->maps.fds) : -1,
				   bpf_map__fd(skel->maps.stats)) : NULL;
	if (!rep) {
		struct fdscan scan;

		/* report__new reads /proc/PID/fd: say what really failed */
		ret = env.fds ? fdscan__read(&scan, env.pid) : 0;
		if (!ret && env.fds)
			fdscan__free(&scan);
		if (target_gone(env.pid)) {
			warn("pid %d exited while being attached", env.pid);
			code = launched ? EXIT_ERROR : EXIT_TARGET;
		} else if (ret) {
			warn("pid %d: cannot read /proc/%d/fd: %s", env.pid, env.pid, strerror(-ret));
		} else {
			warn("out of memory");
		}
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
	if (!env.json)
		output__begin();
	fprintf(env.json ? stderr : stdout,
		"Attaching to pid %d (CPython %s, %s), %d allocator functions probed "
		"(%d on emulated instructions)%s%s%s... Ctrl-C to end.\n%s\n", env.pid, py.version,
		sanitize__t(py.module), probes.functions, probes.emulated,
		tps.fd_how ? ", fd syscalls traced (" : "",
		!tps.fd_how ? "" : !strcmp(tps.fd_how, "raw") ? "raw sys_exit tracepoint" :
		"per-syscall tracepoints", tps.fd_how ? ")" : "",
		rm.coverage_note);
	if (!env.json)
		output__end();

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
		if (output__error()) {
			/* stdout closed (`| head`) or failing: nobody gets the reports */
			reason = "output closed";
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
			stacks__hold(stacks);
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
			as_of = (struct report_as_of){ skel->bss->frozen, skel->bss->frozen_ns };
			output__begin();
			ret = report__print(rep, false, NULL, &as_of);
			if (output__end()) {
				reason = "output closed";
				break;
			}
			if (ret)
				warn("pid %d: cannot read the maps or /proc/%d/fd: %s", env.pid,
				     env.pid, strerror(-ret));
			next += env.interval;
		}
	}
	/* signals: a second Ctrl-C from here on exits at once */
	arm_force_exit(sfd, launched && !launch.exited ? launch.pid : 0);
	/*
	 * Stop recording at one instant (unless the target's shutdown, exit or
	 * exec did already), report what the maps hold, then detach. Detaching
	 * first took seconds, probe by probe, and allocations made meanwhile
	 * were seen without their frees (phantom leaks) and entries without
	 * their returns (missed_return). The target pays a trap per probe hit
	 * until the detach, which follows the report at once.
	 */
	if (!skel->bss->frozen) {
		skel->bss->frozen_ns = (uint64_t)(now_s() * 1e9);
		skel->bss->frozen = FREEZE_DETACH;
	}
	as_of = (struct report_as_of){ skel->bss->frozen, skel->bss->frozen_ns };
	if (!skel->bss->exec_seen)
		stacks__consume(stacks);
	/* The final report shows the last census taken: another would keep the
	 * probes (and the target's traps) in place for as long as it reads. */
	if (census)
		census__stop(census);
	output__begin();
	report__print(rep, true, reason, &as_of);
	output__end();
	{
		double t0 = now_s(), ms = probes__detach(&probes);

		probes__detach_tracepoints(&tps);
		info("probes detached in %.1f ms (%.1f ms with the fd and exec tracepoints; the "
		     "fd events are released in the background)", ms, (now_s() - t0) * 1e3);
	}
	/* output sink: the final report gets a bounded wait, then we go anyway */
	code = output_status(output__drain(1.0), code);

cleanup:
	arm_force_exit(sfd, launched && !launch.exited ? launch.pid : 0);
	probes__detach(&probes);
	probes__detach_tracepoints(&tps);
	probes__wait();
	report__free(rep);
	report__close_sinks(sinks);
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
