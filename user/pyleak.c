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
#include <malloc.h>
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
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "agg.h"
#include "caps.h"
#include "census.h"
#include "collect.h"
#include "discover.h"
#include "fds.h"
#include "footprint.h"
#include "hostpid.h"
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
#include "target.h"

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
/* -a's sampling interval: Go's, jemalloc's and Pyroscope's */
#define DEFAULT_SAMPLE_BYTES	(512 * 1024)
/* -a's --max-overhead, percent of each process's CPU time */
#define DEFAULT_MAX_OVERHEAD	3.0
/* -a's --max-agent-cpu (percent of a core) and --max-agent-memory (MiB) */
#define DEFAULT_AGENT_CPU	1.0
#define DEFAULT_AGENT_MIB	250.0
/* -a's census read cache per process: twenty fit --max-agent-memory's 250 MiB */
#define ALL_CENSUS_CACHE	(8ULL << 20)
/* -a's census interval, seconds: a heap walk is the agent's largest work */
#define DEFAULT_ALL_CENSUS_S	60.0

static struct env {
	pid_t pids[MAX_PROCS];	/* -p */
	int npids;
	bool all;		/* -a */
	bool follow;		/* not --no-follow */
	struct discover_filter filter;	/* --comm, --exe, --cgroup, --container */
	int max_procs;		/* --max-procs, 0: MAX_PROCS */
	uint64_t sample_bytes;	/* --sample-bytes; 0: not given */
	bool exact;		/* --exact */
	double max_overhead;	/* --max-overhead PCT; < 0: not given */
	double max_agent_cpu;	/* --max-agent-cpu PCT of a core; < 0: not given */
	double max_agent_mib;	/* --max-agent-memory MiB; < 0: not given */
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
	uint32_t agg_shift;	/* --agg-epoch-shift; 0: from -o and the interval */
	bool bench_empty;	/* --bench-empty-probes */
} env = {
	.max_overhead = -1,
	.max_agent_cpu = -1,
	.max_agent_mib = -1,
	.follow = true,
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
"Usage: pyleak-bpf [OPTIONS] -p PID[,PID...] [INTERVAL [COUNT]]\n"
"       pyleak-bpf [OPTIONS] -a [SELECTION] [INTERVAL [COUNT]]\n"
"       pyleak-bpf [OPTIONS] [INTERVAL [COUNT]] -- COMMAND [ARGS...]\n";

static const char help[] =
"Find memory and file-descriptor leaks in running CPython processes from the\n"
"outside.\n"
"\n"
"Attaches BPF uprobes to the target's allocators (CPython's allocator tables\n"
"and libc), keeps every outstanding allocation with the Python stack that made\n"
"it, and every INTERVAL seconds (default 5) prints the stacks holding the most\n"
"memory, growing stacks first; and the same for open fds (files, sockets,\n"
"pipes...), from the syscalls that create and close them. COUNT reports, then\n"
"exit (default: until Ctrl-C, --duration, or the target exits). INTERVAL is at\n"
"least 0.1. Ctrl-C prints a final report and detaches; the target runs at full\n"
"speed again; a second Ctrl-C exits at once. Needs root, or CAP_BPF, CAP_PERFMON\n"
"and CAP_SYS_PTRACE, with CAP_DAC_READ_SEARCH for other users' processes,\n"
"CAP_CHECKPOINT_RESTORE for deleted interpreters, CAP_SYS_ADMIN before Linux 6.6\n"
"(README, Deploying).\n"
"\n"
"Targets (each report has one section per process, the one whose top growing\n"
"stack is largest first):\n"
"  -p, --pid PID[,PID...] trace the running processes PID..., and their children\n"
"                         (those running now and those forked later)\n"
"  -a, --all              trace every CPython process on the host, in every\n"
"                         container: those running now, and every one that\n"
"                         starts (exec) or forks later. One that exits is shown\n"
"                         once more as exited, then dropped; one that cannot be\n"
"                         traced is listed with the reason\n"
"      --no-follow        do not trace the children of -p and -- targets\n"
"  -- COMMAND [ARGS...]   start COMMAND and trace it from its first bytecode;\n"
"                         on a PGO build (pymalloc inlined) it runs with\n"
"                         PYTHONMALLOC=malloc so that coverage is full. When\n"
"                         tracing ends first, COMMAND gets SIGTERM.\n"
"      --keep-allocator   with --: do not set PYTHONMALLOC=malloc\n"
"\n"
"Selection, with -a (all given must match):\n"
"      --comm NAME        the process's comm is NAME (/proc/PID/comm)\n"
"      --exe GLOB         its executable's path matches GLOB (fnmatch)\n"
"      --cgroup PATH      its cgroup path starts with PATH (/proc/PID/cgroup)\n"
"      --container ID     its container id (read from the cgroup path, as Docker,\n"
"                         containerd and CRI-O name them) starts with ID\n"
"      --max-procs N      trace at most N processes (default and most: 256)\n"
"\n"
"Always on (-a's defaults; -p and -- record every allocation and keep no budget):\n"
"      --sample-bytes N   record one allocation about every N bytes a thread\n"
"                         allocates (K, M, G suffixes; Poisson, as Go's heap\n"
"                         profile); bytes and counts become unbiased estimates,\n"
"                         marked as such (-a: 512K)\n"
"      --exact            record every allocation\n"
"      --max-overhead PCT over PCT of a process's CPU time (estimated from its\n"
"                         probe hits), raise its sampling interval, then pause\n"
"                         its allocation probes (fds and the census go on) and\n"
"                         try again later; its report says so (-a: 3, else none)\n"
"      --max-agent-cpu PCT, --max-agent-memory MIB\n"
"                         the agent's own limits (every report gives its CPU,\n"
"                         its BPF programs' time and its memory): over them,\n"
"                         censuses are taken less often, the process with the\n"
"                         most recorded allocations is sampled (-a: 1, 250)\n"
"\n"
"Report:\n"
"  -T, --top N            stacks per report (default 10)\n"
"      --frames N|all     innermost frames shown per stack in text (default 6;\n"
"                         the import system's frames count as one line; JSON\n"
"                         always has every frame)\n"
"  -o, --min-age MS       only count allocations at least MS ms old (default 500;\n"
"                         to within an epoch of at most MS/2 and INTERVAL/4)\n"
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
"      --no-census        no census: no object types, gc state, holders,\n"
"                         memory or pymalloc lines (pools and blocks per size\n"
"                         class), and memory stacks do not say their blocks' types\n"
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
"Environment: PYLEAK_BPF_UPROBES=multi attaches a return probe to every\n"
"allocator call instead of session links (Linux 6.13+, where an unsampled\n"
"malloc or pymalloc call and a nested one cost one trap, not two); =perf one\n"
"perf event per probe, as before Linux 6.6. -v says which is used.\n"
"\n"
"Exit status: 0 on Ctrl-C, --duration, COUNT, or COMMAND finishing (also when\n"
"stdout is closed by its reader, e.g. | head); 1 on an error, a write error on\n"
"stdout included; 2 on bad usage; 3 when the -p targets (and their followed\n"
"children) have all exited or exec'd, or one exits while being attached.\n"
"\n"
"Examples:\n"
"  pyleak-bpf -p 4242                   report every 5 s until Ctrl-C\n"
"  pyleak-bpf -p 4242 10 6 -T 5         six reports, 10 s apart, top 5\n"
"  pyleak-bpf -j -d 60 -p 4242          one minute, JSON lines\n"
"  pyleak-bpf -- python3 app.py         launch with full coverage\n"
"  pyleak-bpf -- gunicorn -w 3 app:app  the master and every worker\n"
"  pyleak-bpf -p 41,42 -j               two processes, JSON lines\n"
"  pyleak-bpf -a --container 3f2a 10    every Python of one container\n";

enum {
	OPT_PARTIAL = 256, OPT_KEEP_ALLOC, OPT_MAX_ALLOCS, OPT_MAX_STACKS, OPT_MAX_FDS,
	OPT_FDS_ONLY, OPT_NO_FDS, OPT_FD_TRACEPOINTS, OPT_FRAMES,
	OPT_PPROF, OPT_FOLDED, OPT_HTML, OPT_SERVE, OPT_PYROSCOPE, OPT_METRICS_TOP,
	OPT_NO_CENSUS, OPT_CENSUS_INTERVAL, OPT_CENSUS_MAX, OPT_CENSUS_PAUSE,
	OPT_NO_FOLLOW, OPT_COMM, OPT_EXE, OPT_CGROUP, OPT_CONTAINER, OPT_MAX_PROCS,
	OPT_SAMPLE_BYTES, OPT_EXACT, OPT_MAX_OVERHEAD, OPT_MAX_AGENT_CPU, OPT_MAX_AGENT_MEMORY,
	OPT_AGG_SHIFT, OPT_BENCH_EMPTY,
};

static const struct option long_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "all", no_argument, NULL, 'a' },
	{ "no-follow", no_argument, NULL, OPT_NO_FOLLOW },
	{ "comm", required_argument, NULL, OPT_COMM },
	{ "exe", required_argument, NULL, OPT_EXE },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "container", required_argument, NULL, OPT_CONTAINER },
	{ "max-procs", required_argument, NULL, OPT_MAX_PROCS },
	{ "sample-bytes", required_argument, NULL, OPT_SAMPLE_BYTES },
	{ "exact", no_argument, NULL, OPT_EXACT },
	{ "max-overhead", required_argument, NULL, OPT_MAX_OVERHEAD },
	{ "max-agent-cpu", required_argument, NULL, OPT_MAX_AGENT_CPU },
	{ "max-agent-memory", required_argument, NULL, OPT_MAX_AGENT_MEMORY },
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
	/* tests only: the stack sums' epoch, 2^N ns (user/agg.h) */
	{ "agg-epoch-shift", required_argument, NULL, OPT_AGG_SHIFT },
	/* benchmarks only: empty allocator programs (bench/run.py's empty modes) */
	{ "bench-empty-probes", no_argument, NULL, OPT_BENCH_EMPTY },
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

/* BYTES, or with a K, M or G suffix (powers of 1024) */
static bool parse_size(const char *s, unsigned long long *out)
{
	unsigned long long mul = 1;
	char buf[32];
	size_t n = strlen(s);

	if (!n || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n + 1);
	switch (buf[n - 1]) {
	case 'K': case 'k': mul = 1ULL << 10; break;
	case 'M': case 'm': mul = 1ULL << 20; break;
	case 'G': case 'g': mul = 1ULL << 30; break;
	}
	if (mul > 1)
		buf[n - 1] = '\0';
	if (!parse_ulong(buf, UINT64_MAX / mul, out))
		return false;
	*out *= mul;
	return true;
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
	while ((opt = getopt_long(cmd, argv, ":p:aT:o:z:Z:d:jvVh", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'p': {
			char *list = strdup(optarg), *tok, *save = NULL;

			for (tok = list ? strtok_r(list, ",", &save) : NULL; tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (!parse_ulong(tok, INT_MAX, &v) || !v) {
					free(list);
					return bad_usage("invalid PID '%s'", optarg);
				}
				if (env.npids >= MAX_PROCS) {
					free(list);
					return bad_usage("too many PIDs in '%s'", optarg);
				}
				env.pids[env.npids++] = v;
			}
			free(list);
			if (!env.npids)
				return bad_usage("invalid PID '%s'", optarg);
			break;
		}
		case 'a':
			env.all = true;
			break;
		case OPT_NO_FOLLOW:
			env.follow = false;
			break;
		case OPT_COMM:
			env.filter.comm = optarg;
			break;
		case OPT_EXE:
			env.filter.exe = optarg;
			break;
		case OPT_CGROUP:
			env.filter.cgroup = optarg;
			break;
		case OPT_CONTAINER:
			env.filter.container = optarg;
			break;
		case OPT_SAMPLE_BYTES:
			if (!parse_size(optarg, &v) || v < 64 || v > (1ULL << 32))
				return bad_usage("invalid --sample-bytes '%s' (64 to 4G; K, M, G "
						 "suffixes)", optarg);
			env.sample_bytes = v;
			break;
		case OPT_EXACT:
			env.exact = true;
			break;
		case OPT_MAX_OVERHEAD:
		case OPT_MAX_AGENT_CPU:
		case OPT_MAX_AGENT_MEMORY: {
			double *to = opt == OPT_MAX_OVERHEAD ? &env.max_overhead :
				     opt == OPT_MAX_AGENT_CPU ? &env.max_agent_cpu : &env.max_agent_mib;
			double top = opt == OPT_MAX_AGENT_MEMORY ? 1 << 20 : 100;
			char *end;

			errno = 0;
			*to = strtod(optarg, &end);
			if (errno || end == optarg || *end || *to < 0 || *to > top)
				return bad_usage(opt == OPT_MAX_AGENT_MEMORY ?
						 "invalid --max-agent-memory '%s' (MiB, 0 for none)" :
						 "invalid percentage '%s' (0 to 100, 0 for none)", optarg);
			break;
		}
		case OPT_MAX_PROCS:
			if (!parse_ulong(optarg, MAX_PROCS, &v) || !v)
				return bad_usage("invalid --max-procs '%s' (1 to 256)", optarg);
			env.max_procs = v;
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
		case OPT_AGG_SHIFT:
			if (!parse_ulong(optarg, 33, &v) || v < 20)
				return bad_usage("invalid --agg-epoch-shift '%s' (20 to 33)", optarg);
			env.agg_shift = v;
			break;
		case OPT_BENCH_EMPTY:
			env.bench_empty = true;
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
	if ((env.npids > 0) + env.all + (env.command != NULL) != 1)
		return bad_usage("%s", env.npids || env.all || env.command ?
				 "give one of -p PID, -a or -- COMMAND" :
				 "give a target: -p PID[,PID...], -a or -- COMMAND");
	if (env.exact && env.sample_bytes)
		return bad_usage("%s", "--exact and --sample-bytes contradict each other");
	if (!env.all && (env.filter.comm || env.filter.exe || env.filter.cgroup ||
			 env.filter.container || env.max_procs))
		return bad_usage("%s", "--comm, --exe, --cgroup, --container and --max-procs "
				 "select processes for -a");
	if (env.min_size > env.max_size)
		return bad_usage("%s", "-z is larger than -Z");
	if (!env.memory && !env.fds)
		return bad_usage("%s", "--fds-only and --no-fds leave nothing to trace");
	return 0;
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
static pid_t resolve_tid(pid_t pid)
{
	char fn[64], line[256];
	long tgid = 0;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/status", pid);
	f = fopen(fn, "re");
	if (!f)
		return pid;	/* pyproc__open says why */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %ld", &tgid) == 1)
			break;
	fclose(f);
	if (tgid > 0 && tgid != pid) {
		warn("%d is a thread of process %ld: tracing the process", pid, tgid);
		return tgid;
	}
	return pid;
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

/* ---- the traced processes */

#define MAX_PENDING	256

static struct tracer {
	struct tracer_shared sh;
	struct target *t[MAX_PROCS];
	int n;
	bool slot_used[STAT_SLOTS];
	/* processes to look at again (-a, or a followed one that exec'd):
	 * their libraries may not be mapped yet */
	struct pending {
		pid_t pid;
		pid_t parent;	/* a child that could not be followed at its fork */
		double since;
		bool fresh;	/* announced by an exec or a fork */
	} pend[MAX_PENDING];
	int npend;
	int ntraced_ever;
	unsigned int nreports;
	bool any_exec;		/* the last traced process to go exec'd */
	uint64_t lost_seen;	/* proc_events_lost already said */
	struct budget_opts budget;
	int stats_fd;		/* BPF run-time stats on while this is open, or -1 */
	struct agent_footprint agent;	/* the last report's */
	double agent_cpu_max, agent_mib_max;	/* 0: no limit */
	char agent_note[256];
} tr = { .stats_fd = -1 };

static struct target *find_target(pid_t pid)
{
	int i;

	for (i = 0; i < tr.n; i++)
		if (tr.t[i]->pid == pid && !tr.t[i]->retired)
			return tr.t[i];
	return NULL;
}

/* By the pid BPF names it with (user/hostpid.h: == pid on the host). */
static struct target *find_host(pid_t host)
{
	int i;

	for (i = 0; i < tr.n; i++)
		if (tr.t[i]->host == host && tr.t[i]->status != PROC_UNTRACEABLE &&
		    !tr.t[i]->retired)
			return tr.t[i];
	return NULL;
}

static struct symbolizer *symbolizer_of(void *ctx, uint32_t pid)
{
	struct target *t = find_host(pid);

	(void)ctx;
	/* a retired process's memory is gone, or another program's */
	return t && t->status == PROC_TRACED ? t->sym : NULL;
}

static int traced_count(void)
{
	int i, k = 0;

	for (i = 0; i < tr.n; i++)
		k += tr.t[i]->status == PROC_TRACED;
	return k;
}

static void announce_target(const struct target *t)
{
	if (!env.json)
		output__begin();
	if (t->parent)
		fprintf(env.json ? stderr : stdout,
			"Following pid %d (forked from %d, CPython %s): %d allocator functions "
			"probed; its report counts from when it was followed.\n", t->pid, t->parent,
			t->py.version, t->probes.functions);
	else
		fprintf(env.json ? stderr : stdout,
			"Attaching to pid %d (CPython %s, %s), %d allocator functions probed "
			"(%d on emulated instructions)%s%s%s... Ctrl-C to end.\n%s\n", t->pid,
			t->py.version, sanitize__t(t->py.module), t->probes.functions,
			t->probes.emulated, tr.sh.tps->fd_how ? ", fd syscalls traced (" : "",
			!tr.sh.tps->fd_how ? "" : !strcmp(tr.sh.tps->fd_how, "raw") ?
			"raw sys_exit tracepoint" : "per-syscall tracepoints",
			tr.sh.tps->fd_how ? ")" : "", t->meta.coverage_note);
	if (!env.json)
		output__end();
}

static void forget_host(pid_t host)
{
	__u32 key = host;

	bpf_map_delete_elem(bpf_map__fd(tr.sh.skel->maps.procs), &key);
}

static void forget_cfg(pid_t pid)
{
	char err[256];
	pid_t host;

	if (!hostpid__resolve(pid, &host, err, sizeof(err)))
		forget_host(host);
}

/*
 * Trace pid (parent: the traced process it forked from, or 0). 0 when
 * traced; else -errno with err saying why; with listed, a process that
 * cannot be traced is kept as an untraceable entry of the reports.
 */
static int add_target(pid_t pid, pid_t parent, bool root, bool listed, char *err, size_t errlen)
{
	struct target *t;
	uint32_t slot;
	int ret;

	if (find_target(pid))
		return 0;
	if (tr.n >= MAX_PROCS || (env.max_procs && traced_count() >= env.max_procs)) {
		snprintf(err, errlen, "pid %d: not traced, %d processes are (--max-procs)", pid,
			 traced_count());
		if (parent)
			forget_cfg(pid);
		return -E2BIG;
	}
	for (slot = 1; slot < STAT_SLOTS && tr.slot_used[slot]; slot++)
		;
	t = calloc(1, sizeof(*t));
	if (!t || slot >= STAT_SLOTS) {
		free(t);
		snprintf(err, errlen, "out of memory");
		if (parent)
			forget_cfg(pid);
		return -ENOMEM;
	}
	ret = target__open(t, &tr.sh, pid, parent, slot, err, errlen);
	if (ret) {
		if (listed && !target_gone(pid)) {
			target__untraceable(t, pid, err);
			tr.t[tr.n++] = t;
		} else {
			free(t);
		}
		return ret;
	}
	t->root = root;
	tr.slot_used[slot] = true;
	tr.t[tr.n++] = t;
	tr.ntraced_ever++;
	announce_target(t);
	return 0;
}

static void remove_target(int i)
{
	struct target *t = tr.t[i];

	if (t->status != PROC_UNTRACEABLE) {
		target__close(t, &tr.sh);
		if (!t->retired)
			tr.slot_used[t->slot] = false;
	}
	free(t);
	memmove(&tr.t[i], &tr.t[i + 1], (tr.n - i - 1) * sizeof(tr.t[0]));
	tr.n--;
}

static void add_pending(pid_t pid, pid_t parent, bool fresh)
{
	int i;

	for (i = 0; i < tr.npend; i++)
		if (tr.pend[i].pid == pid)
			return;
	if (tr.npend < MAX_PENDING)
		tr.pend[tr.npend++] = (struct pending){ pid, parent, now_s(), fresh };
}

/* How long after its exec a process may take to become a CPython we can
 * read: ld.so maps and relocates libpython, the runtime initializes. */
#define EXEC_WINDOW	2.0

/* -a and exec'd children: look at the pending processes again. Within the
 * window a failure is "not yet"; past it the process is listed with the
 * reason (or dropped, if it is no CPython). */
static void check_pending(void)
{
	char err[512];
	int i = 0;

	while (i < tr.npend) {
		struct pending *p = &tr.pend[i];
		bool young = p->fresh && now_s() - p->since < EXEC_WINDOW;
		enum discover_verdict v;

		/* an exec'd one waits until its old self's last section is out */
		if (find_target(p->pid)) {
			p->since = now_s();
			i++;
			continue;
		}
		v = discover__check(p->pid, &env.filter, young);

		if (v == DISCOVER_YES &&
		    add_target(p->pid, p->parent, false, !young, err, sizeof(err))) {
			if (young && !target_gone(p->pid)) {
				i++;
				continue;
			}
			info("%s", err);
		}
		if (v == DISCOVER_LATER && young) {
			i++;
			continue;
		}
		tr.pend[i] = tr.pend[--tr.npend];
	}
}

/* A traced process that ended (exit, exec) waits, retired, for the report
 * that shows its last section. */
static bool ended(const struct target *t)
{
	return t->retired;
}

static int live_count(void)
{
	int i, k = 0;

	for (i = 0; i < tr.n; i++)
		k += tr.t[i]->status == PROC_TRACED && !ended(tr.t[i]);
	return k;
}

/* Its last section now, as of its end; its pid is free for a new image. */
static void retire(struct target *t, const char *why)
{
	int i;

	/* its collection sweeps the stack table: the others retired keep theirs */
	for (i = 0; i < tr.n; i++)
		if (tr.t[i]->retired)
			collect__mark_held(tr.t[i]->col);
	if (target__retire(t, &tr.sh, why))
		warn("pid %d: cannot read its last state: %s", t->pid, strerror(errno));
	tr.slot_used[t->slot] = false;
}

/* What BPF announced (bpf/pyleak.bpf.c: fork_watch, exec_watch, exit_watch). */
static int on_proc_event(void *ctx, void *data, size_t len)
{
	const struct lifecycle_event *ev = data;
	struct target *t, *pt = NULL;
	char err[512] = "";
	pid_t pid;

	(void)ctx;
	if (len < sizeof(*ev))
		return 0;
	/* BPF names processes by their host pids; from here on, by this
	 * namespace's (the same on the host; user/hostpid.h) */
	t = find_host(ev->pid);
	if (t) {
		pid = t->pid;
	} else if (hostpid__to_ns(ev->pid, &pid)) {
		/* not in the tracer's pid namespace: nothing it can trace */
		if (ev->kind == PROC_EV_FORK)
			forget_host(ev->pid);
		return 0;
	}
	if (!t)
		t = find_target(pid);	/* listed as untraceable */
	if (ev->kind == PROC_EV_FORK)
		pt = find_host(ev->parent);
	switch (ev->kind) {
	case PROC_EV_FORK:
		if (!pt || add_target(pid, pt->pid, false, false, err, sizeof(err))) {
			/* Tried again for a while: a child that exec'd at once
			 * (subprocess) is looked at as its new program; one that
			 * stays unreadable is listed with the reason. */
			info("pid %d (forked from %d) not followed yet: %s", pid,
			     pt ? pt->pid : (pid_t)ev->parent, err);
			forget_host(ev->pid);
			if (pt && !target_gone(pid))
				add_pending(pid, pt->pid, true);
		}
		break;
	case PROC_EV_EXEC:
		if (t && t->status == PROC_TRACED) {
			if (t->root && live_count() == 1)
				warn("pid %d exec'd a new program; the traced image is gone", t->pid);
			retire(t, "exec'd a new program");
		}
		if ((t && env.follow) || env.all)
			add_pending(pid, 0, true);
		break;
	case PROC_EV_EXIT:
		if (t && t->status == PROC_TRACED)
			retire(t, "exited");
		break;
	}
	return 0;
}


static int cmp_sections(const void *a, const void *b)
{
	const struct snapshot *x = *(const struct snapshot *const *)a;
	const struct snapshot *y = *(const struct snapshot *const *)b;
	uint64_t gx = 0, gy = 0;

	if ((x->status == PROC_UNTRACEABLE) != (y->status == PROC_UNTRACEABLE))
		return x->status == PROC_UNTRACEABLE ? 1 : -1;
	if (x->mem.n && x->mem.v[0].s->trend == TREND_GROWING)
		gx = x->mem.v[0].s->amount;
	if (y->mem.n && y->mem.v[0].s->trend == TREND_GROWING)
		gy = y->mem.v[0].s->amount;
	if (gx != gy)
		return gx > gy ? -1 : 1;
	if (x->mem.amount != y->mem.amount)
		return x->mem.amount > y->mem.amount ? -1 : 1;
	if (x->fds.count != y->fds.count)
		return x->fds.count > y->fds.count ? -1 : 1;
	return x->meta->pid < y->meta->pid ? -1 : 1;
}

static double started_at;

/* Our programs' average run time per run, from the kernel's run-time stats
 * (on while tr.stats_fd is open; 0 if unknown), since the previous call (since
 * the load when too few ran meanwhile): a change of sampling shows at the
 * next judgement, not diluted in everything before. */
static double bpf_ns_per_run(void)
{
	static uint64_t prev_ns, prev_cnt;
	struct bpf_program *prog;
	uint64_t ns = 0, cnt = 0;
	double avg;

	if (tr.stats_fd < 0)
		return 0;
	bpf_object__for_each_program(prog, tr.sh.skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len)) {
			ns += info.run_time_ns;
			cnt += info.run_cnt;
		}
	}
	if (cnt - prev_cnt >= 1000)
		avg = (double)(ns - prev_ns) / (cnt - prev_cnt);
	else
		avg = cnt ? (double)ns / cnt : 0;
	prev_ns = ns;
	prev_cnt = cnt;
	return avg;
}

/*
 * --max-agent-cpu and --max-agent-memory, after a report. Over the CPU
 * limit the censuses (the agent's main work besides the reports) are taken
 * half as often; over the memory limit the process with the most
 * outstanding allocations recorded is sampled (4x more sparsely each time).
 */
static void agent_limits(const struct collect_req *reqs, struct target *const *of, int n)
{
	const struct agent_footprint *a = &tr.agent;
	double mib = (a->rss_bytes + a->map_bytes) / 1048576.0;
	int i, big = -1;

	if (tr.agent_cpu_max > 0 && a->cpu_pct > tr.agent_cpu_max) {
		for (i = 0; i < tr.n; i++)
			if (tr.t[i]->census && !tr.t[i]->retired)
				census__set_interval(tr.t[i]->census,
						     2 * census__interval(tr.t[i]->census));
		snprintf(tr.agent_note, sizeof(tr.agent_note), "agent at %.1f%% of a core, over "
			 "--max-agent-cpu %g%%: censuses taken half as often", a->cpu_pct,
			 tr.agent_cpu_max);
		info("%s", tr.agent_note);
	}
	if (tr.agent_mib_max > 0 && mib > tr.agent_mib_max) {
		for (i = 0; i < n; i++)
			if (!ended(of[i]) && (big < 0 || reqs[i].out->stats[STAT_ALLOCS] -
					      reqs[i].out->stats[STAT_FREES] >
					      reqs[big].out->stats[STAT_ALLOCS] - reqs[big].out->stats[STAT_FREES]))
				big = i;
		if (big >= 0) {
			struct target *t = of[big];
			uint64_t s = t->meta.sample_bytes ? 4 * t->meta.sample_bytes : 512 << 10;
			char note[256];

			if (s > BUDGET_MAX_SAMPLE)
				s = BUDGET_MAX_SAMPLE;
			target__set_sampling(t, &tr.sh, s);
			t->budget.sample = s;
			snprintf(note, sizeof(note), "sampled every %llu KiB: the agent holds %.0f MiB, "
				 "over --max-agent-memory %g", (unsigned long long)(s >> 10), mib,
				 tr.agent_mib_max);
			target__set_note(t, note);
			info("pid %d: %s", t->pid, note);
		}
	}
}

/* --max-overhead and map overflow, every BUDGET_TICK_S on its own clock, not
 * the reports': each live process's estimate over its last window, and the
 * budget's decision applied (its note goes into the process's next report).
 * Within a second of the attach (a busy process: half a second) a process
 * that tracing costs too much is sampled more sparsely or paused, whatever
 * the report interval. */
static void budget_tick(void)
{
	double now = now_s(), bpf_ns;
	uint64_t stats[STAT__COUNT] = {};
	char note[256], err[512];
	int i;

	if (!tr.sh.memory)
		return;
	bpf_ns = tr.budget.max_pct > 0 ? bpf_ns_per_run() : 0;
	for (i = 0; i < tr.n; i++) {
		struct target *t = tr.t[i];
		uint64_t sample = 0;
		enum budget_action act;

		if (t->status != PROC_TRACED || ended(t))
			continue;
		note[0] = '\0';
		collect__counters(t->col, budget__stats, BUDGET_NSTATS, stats);
		act = budget__judge(&t->budget, &tr.budget, stats, target__cpu_ns(t), bpf_ns, now,
				    &sample, note, sizeof(note));
		switch (act) {
		case BUDGET_KEEP:
			continue;
		case BUDGET_SAMPLE:
			target__set_sampling(t, &tr.sh, sample);
			break;
		case BUDGET_PAUSE:
			target__pause(t);
			break;
		case BUDGET_RESUME:
			target__set_sampling(t, &tr.sh, sample);
			if (target__resume(t, &tr.sh, err, sizeof(err)))
				snprintf(note, sizeof(note), "allocation probes could not be put back: "
					 "%.200s", err);
			break;
		}
		info("pid %d: %s", t->pid, note);
		target__set_note(t, note);
	}
}

/*
 * One report of every process: collected in one round, rendered once.
 * Processes that ended are shown as exited, then dropped.
 */
static int report_all(struct reporter *rep, bool final, const char *reason)
{
	struct collect_req reqs[MAX_PROCS];
	const struct snapshot *procs[MAX_PROCS];
	struct target *of[MAX_PROCS];
	struct report_set set;
	int i, n = 0, np = 0, ret;

	for (i = 0; i < tr.n; i++) {
		struct target *t = tr.t[i];
		uint64_t ns;
		uint32_t why;

		if (t->status != PROC_TRACED)
			continue;
		if (ended(t)) {
			/* collected when it ended: its stacks stay through this sweep */
			collect__mark_held(t->col);
			continue;
		}
		why = target__frozen(t, &tr.sh, &ns);
		if (!why && tr.sh.skel->bss->frozen) {
			why = tr.sh.skel->bss->frozen;
			ns = tr.sh.skel->bss->frozen_ns;
		}
		reqs[n] = (struct collect_req){ t->col, final, final ? reason : NULL, why, ns, NULL };
		of[n++] = t;
	}
	stacks__consume(tr.sh.stacks);
	ret = collect__round(reqs, n, bpf_map__fd(tr.sh.skel->maps.allocs));
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		struct snapshot *sn = (struct snapshot *)reqs[i].out;

		sn->status = PROC_TRACED;
		sn->reason = NULL;
		sn->parent = of[i]->parent;
		procs[np++] = sn;
	}
	for (i = 0; i < tr.n; i++) {
		struct target *t = tr.t[i];

		if (t->status == PROC_UNTRACEABLE) {
			procs[np++] = &t->stub;
		} else if (ended(t) && t->last) {
			struct snapshot *sn = (struct snapshot *)t->last;

			sn->status = PROC_EXITED;
			sn->reason = t->reason;
			sn->parent = t->parent;
			procs[np++] = sn;
		}
	}
	qsort(procs, np, sizeof(procs[0]), cmp_sections);
	{
		struct agent_footprint prev = tr.agent;

		footprint__measure(tr.sh.skel->obj, tr.stats_fd >= 0, now_s(), &prev, &tr.agent);
	}
	set = (struct report_set){
		.report = tr.nreports++, .final = final, .exit_reason = final ? reason : NULL,
		.timestamp = (double)time(NULL), .elapsed_s = now_s() - started_at,
		.n = np, .procs = procs, .agent = &tr.agent,
	};
	output__begin();
	report__render(rep, &set);
	ret = output__end();
	if (!final)
		agent_limits(reqs, of, n);
	/* an ended process's last section is out: forget it */
	for (i = tr.n - 1; i >= 0; i--)
		if (ended(tr.t[i]))
			remove_target(i);
	/* A report frees as much as it allocates (snapshots, rankings, stacks
	 * forgotten), but glibc keeps the freed pages of its heap: give them
	 * back, or the resident size creeps up with fragmentation (measured:
	 * +11 MB over 30 s of a target compiling code, the live heap flat). */
	malloc_trim(0);
	return ret ? -EPIPE : 0;
}

/* -p, --, -a: the processes traced from the start. 0, or the exit code. */
static int add_initial(bool launched, char *err, size_t errlen)
{
	pid_t *pids = NULL;
	size_t n = 0, i;
	int ret, k;

	if (!env.all) {
		for (k = 0; k < env.npids; k++) {
			ret = add_target(env.pids[k], 0, true, false, err, errlen);
			/* gone (or a zombie) before we began: err says so; gone since,
			 * whatever failed on the way (its maps, a probe) is its exit */
			if (ret && target_gone(env.pids[k]) && !strstr(err, "has exited") &&
			    !strstr(err, "no such process")) {
				warn("pid %d exited while being attached", env.pids[k]);
				return launched ? EXIT_ERROR : EXIT_TARGET;
			}
			if (ret && !strncmp(err, "pid ", 4)) {
				warn("%s", err);
				return EXIT_ERROR;
			}
			if (ret) {
				warn("pid %d: %s", env.pids[k], err);
				return EXIT_ERROR;
			}
			/* children forked before we came: a pre-fork server's workers */
			if (env.follow && !launched && !discover__descendants(env.pids[k], &pids, &n)) {
				for (i = 0; i < n; i++)
					if (discover__check(pids[i], &env.filter, false) == DISCOVER_YES &&
					    add_target(pids[i], env.pids[k], false, false, err, errlen))
						info("pid %d (a child of %d): %s", pids[i], env.pids[k], err);
				free(pids);
				pids = NULL;
			}
		}
		return 0;
	}
	ret = discover__scan(&pids, &n);
	if (ret) {
		warn("cannot list /proc: %s", strerror(-ret));
		return EXIT_ERROR;
	}
	for (i = 0; i < n; i++)
		if (discover__check(pids[i], &env.filter, false) == DISCOVER_YES &&
		    add_target(pids[i], 0, false, true, err, errlen))
			info("%s", err);
	free(pids);
	info("-a: %d CPython processes traced, %d not traceable", traced_count(),
	     tr.n - traced_count());
	return 0;
}

int main(int argc, char **argv)
{
	struct pyleak_bpf *skel = NULL;
	struct tracepoints tps = {};
	struct reporter *rep = NULL;
	struct report_sinks *sinks = NULL;
	struct ring_buffer *events = NULL;
	struct launch launch = { .go_fd = -1, .err_fd = -1 };
	struct report_opts ro;
	char err[512] = "", why[256];
	const char *reason = NULL;
	int sfd = -1, ret, code = EXIT_ERROR, i;
	double next, next_budget, deadline = 0;
	bool launched;
	long reports = 0;
	sigset_t mask;

	if (parse_args(argc, argv))
		return EXIT_USAGE;
	if (!probes__uprobes_env_valid()) {
		warn("PYLEAK_BPF_UPROBES must be perf or multi (or unset), not '%s'",
		     sanitize__t(getenv("PYLEAK_BPF_UPROBES")));
		return EXIT_USAGE;
	}
	libbpf_set_print(log__libbpf);
	if (caps__check())
		return EXIT_ERROR;
	for (i = 0; i < env.npids; i++)
		env.pids[i] = resolve_tid(env.pids[i]);

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
		env.pids[0] = launch.pid;
		env.npids = 1;
	}

	skel = pyleak_bpf__open();
	if (!skel) {
		warn("cannot open the BPF object: %s", strerror(errno));
		goto cleanup;
	}
	skel->rodata->min_size = env.min_size;
	skel->rodata->max_size = env.max_size;
	skel->rodata->watch_exec = env.all;
	bpf_map__set_max_entries(skel->maps.allocs, env.max_allocs);
	bpf_map__set_max_entries(skel->maps.stack_nodes, env.max_stacks);
	/* as many (stack, epoch) sums as stack nodes: a stack is at least one node */
	bpf_map__set_max_entries(skel->maps.stack_agg, env.max_stacks);
	bpf_map__set_max_entries(skel->maps.fds, env.max_fds);
	bpf_program__set_autoload(skel->progs.fd_syscall_exit,
				  env.fds && env.fd_tracepoints != FD_TP_RAW);
	bpf_program__set_autoload(skel->progs.fd_sys_exit,
				  env.fds && env.fd_tracepoints != FD_TP_SYSCALLS);
	skel->rodata->targ_fds = env.fds;
	skel->rodata->agg_shift = env.agg_shift ? env.agg_shift :
				  agg__shift_for(env.min_age_ms * 1000000ULL, env.interval);
	tr.sh.multi = probes__multi_supported(why, sizeof(why));
	/* the empty programs (--bench-empty-probes) are an entry and a return */
	if (tr.sh.multi && env.bench_empty)
		snprintf(why, sizeof(why), "--bench-empty-probes");
	else if (tr.sh.multi)
		tr.sh.session = probes__session_supported(why, sizeof(why));
	if (tr.sh.session)
		info("uprobes: uprobe_multi links, allocators through session links (a nested "
		     "call, or an unsampled one of malloc or pymalloc, costs one trap, not two)");
	else if (tr.sh.multi)
		info("uprobes: uprobe_multi links; no session links (%s): each traced "
		     "allocator call costs two traps", why);
	else
		info("uprobes: perf events, one per probe (%s); detaching takes ~0.1 s a probe",
		     why);
	probes__prepare(skel, tr.sh.multi, tr.sh.session, env.bench_empty);
	if (env.bench_empty)
		warn("--bench-empty-probes: the allocator probes run empty programs: "
		     "no allocation is recorded");
	ret = pyleak_bpf__load(skel);
	if (ret) {
		warn("cannot load the BPF programs: %s%s", strerror(-ret),
		     log_verbosity ? "" : " (run with -v for the verifier's reason)");
		goto cleanup;
	}
	/* Before any uprobe: a target that ends from now on freezes its records. */
	ret = probes__attach_tracepoints(skel, env.fds, env.fd_tracepoints, &tps, err, sizeof(err));
	if (ret) {
		warn("%s", err);
		goto cleanup;
	}
	agg__setup(bpf_map__fd(skel->maps.stack_agg), &skel->bss->agg_fold,
		   &skel->bss->sampled_live, skel->rodata->agg_shift, env.interval);
	tr.sh.skel = skel;
	tr.sh.tps = &tps;
	tr.sh.partial = env.partial;
	tr.sh.memory = env.memory;
	tr.sh.fds = env.fds;
	tr.sh.follow = env.follow;
	tr.sh.pythonmalloc = launch.pythonmalloc;
	tr.sh.min_age_ns = env.min_age_ms * 1000000ULL;
	/* -a is the always-on mode: byte-sampled unless --exact */
	tr.sh.sample_bytes = env.exact ? 0 : env.sample_bytes ? env.sample_bytes :
			     env.all ? DEFAULT_SAMPLE_BYTES : 0;
	/* -a keeps a budget unless told otherwise; -p and -- only when asked */
	tr.budget.max_pct = env.max_overhead >= 0 ? env.max_overhead :
			    env.all ? DEFAULT_MAX_OVERHEAD : 0;
	tr.budget.base_sample = tr.sh.sample_bytes;
	tr.agent_cpu_max = env.max_agent_cpu >= 0 ? env.max_agent_cpu :
			   env.all ? DEFAULT_AGENT_CPU : 0;
	tr.agent_mib_max = env.max_agent_mib >= 0 ? env.max_agent_mib :
			   env.all ? DEFAULT_AGENT_MIB : 0;
	/* our programs' run time, for the budget and the footprint: the kernel
	 * counts it while this fd is open (a few ns a run) */
	if (tr.budget.max_pct > 0 || tr.agent_cpu_max > 0)
		tr.stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	tr.sh.census = env.census;
	tr.sh.census_opts = (struct census_opts){
		.interval = env.census_interval ? env.census_interval :
			    env.all && env.interval < DEFAULT_ALL_CENSUS_S ? DEFAULT_ALL_CENSUS_S :
			    env.interval,
		.max_objects = env.census_max, .pause = env.census_pause, .top = env.top,
		/* -a: one census per process, each reader's cache resident once filled
		 * (bench/soak.py: 64 MiB each would pass --max-agent-memory with four) */
		.cache_bytes = env.all ? ALL_CENSUS_CACHE : 0,
	};
	tr.sh.stacks = stacks__new(bpf_map__fd(skel->maps.stack_nodes),
				   bpf_map__fd(skel->maps.new_nodes), NULL);
	events = ring_buffer__new(bpf_map__fd(skel->maps.proc_events), on_proc_event, NULL, NULL);
	ro = (struct report_opts){ env.top, env.frames, env.min_age_ms * 1000000ULL, env.json,
				   sinks };
	rep = report__new_renderer(&ro);
	if (!tr.sh.stacks || !events || !rep) {
		warn("out of memory");
		goto cleanup;
	}
	stacks__set_resolver(tr.sh.stacks, symbolizer_of, NULL);
	started_at = now_s();
	code = add_initial(launched, err, sizeof(err));
	if (code)
		goto cleanup;
	if (launched)
		launch__resume(&launch);

	next = now_s() + env.interval;
	next_budget = now_s() + BUDGET_TICK_S;
	if (env.duration)
		deadline = now_s() + env.duration;
	code = EXIT_OK;
	for (;;) {
		struct pollfd fds[3] = { { sfd, POLLIN }, { stacks__poll_fd(tr.sh.stacks), POLLIN },
					 { ring_buffer__epoll_fd(events), POLLIN } };
		double t = now_s(), until = deadline && deadline < next ? deadline : next;
		int timeout;

		if (next_budget < until)
			until = next_budget;
		timeout = until > t ? (int)((until - t) * 1000) + 1 : 0;

		/* pending processes are looked at again, and -a's exec events
		 * arrive without a wakeup: both within 100 ms */
		if ((tr.npend || env.all) && timeout > 100)
			timeout = 100;
		ret = poll(fds, 3, timeout);
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
		/* Forks first: a child's nodes are symbolized with its own symbolizer. */
		ring_buffer__consume(events);
		if (fds[1].revents)
			stacks__consume(tr.sh.stacks);
		if (skel->bss->proc_events_lost != tr.lost_seen) {
			warn("%llu process events lost (forks not followed, or more than %d "
			     "processes)", (unsigned long long)(skel->bss->proc_events_lost -
								tr.lost_seen), MAX_PROCS);
			tr.lost_seen = skel->bss->proc_events_lost;
		}
		if (tr.npend)
			check_pending();
		if (!env.all && !live_count() && !tr.npend) {
			/* every traced process is gone: its last report is the final one */
			for (i = 0; i < tr.n; i++)
				if (ended(tr.t[i]))
					tr.any_exec = !strncmp(tr.t[i]->reason, "exec", 4);
			reason = tr.any_exec ? "target exec'd" : "target exited";
			if (!launched || tr.any_exec) {
				if (!tr.any_exec && tr.n == 1)
					warn("pid %d exited", tr.t[0]->pid);
				code = EXIT_TARGET;
			}
			break;
		}
		if (deadline && now_s() >= deadline) {
			reason = "duration";
			break;
		}
		/* All gone but an exec'd one not yet known to be a CPython: the
		 * report waits (it would drop the last section the final shows). */
		if (now_s() >= next && !env.all && !live_count()) {
			next = now_s() + 0.1;
			continue;
		}
		if (now_s() >= next_budget) {
			budget_tick();
			next_budget = now_s() + BUDGET_TICK_S;
		}
		if (now_s() >= next) {
			reports++;
			if (env.count && reports >= env.count) {
				reason = "count";
				break;
			}
			ret = report_all(rep, false, NULL);
			if (ret == -EPIPE) {
				reason = "output closed";
				break;
			}
			if (ret)
				warn("cannot read the maps or /proc: %s", strerror(-ret));
			/* behind schedule (a slow report): skip the missed instants */
			next += env.interval;
			if (next < now_s())
				next = now_s() + env.interval;
		}
	}
	/* signals: a second Ctrl-C from here on exits at once */
	arm_force_exit(sfd, launched && !launch.exited ? launch.pid : 0);
	/*
	 * Stop recording at one instant (unless the targets' shutdown, exit or
	 * exec did already), report what the maps hold, then detach. Detaching
	 * first took seconds, probe by probe, and allocations made meanwhile
	 * were seen without their frees (phantom leaks) and entries without
	 * their returns (missed_return). The targets pay a trap per probe hit
	 * until the detach, which follows the report at once.
	 */
	if (!skel->bss->frozen) {
		skel->bss->frozen_ns = (uint64_t)(now_s() * 1e9);
		skel->bss->frozen = FREEZE_DETACH;
	}
	/* The final report shows the last census taken: another would keep the
	 * probes (and the targets' traps) in place for as long as it reads. */
	for (i = 0; i < tr.n; i++)
		if (tr.t[i]->census)
			census__stop(tr.t[i]->census);
	report_all(rep, true, reason);
	{
		struct probes *all[MAX_PROCS];
		double t0 = now_s(), ms;

		for (i = 0; i < tr.n; i++)
			all[i] = &tr.t[i]->probes;
		ms = probes__detach_many(all, tr.n);
		probes__detach_tracepoints(&tps);
		info("probes detached in %.1f ms (%.1f ms with the fd and exec tracepoints; the "
		     "fd events are released in the background)", ms, (now_s() - t0) * 1e3);
	}
	/* output sink: the final report gets a bounded wait, then we go anyway */
	code = output_status(output__drain(1.0), code);

cleanup:
	arm_force_exit(sfd, launched && !launch.exited ? launch.pid : 0);
	for (i = 0; i < tr.n; i++)
		probes__detach(&tr.t[i]->probes);
	probes__detach_tracepoints(&tps);
	probes__wait();
	while (tr.n)
		remove_target(tr.n - 1);
	ring_buffer__free(events);
	if (tr.stats_fd >= 0)
		close(tr.stats_fd);
	report__free(rep);
	report__close_sinks(sinks);
	stacks__free(tr.sh.stacks);
	pyleak_bpf__destroy(skel);
	if (launched) {
		/* A command still running when tracing ends is ended with it. */
		launch__finish(&launch, true);
		launch__destroy(&launch);
	}
	if (sfd >= 0)
		close(sfd);
	return code;
}
