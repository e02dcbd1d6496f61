// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The agent's own CPU and memory (README: overhead). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "footprint.h"

uint64_t footprint__memlock(int fd)
{
	unsigned long long v = 0;
	char path[64], line[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

uint64_t footprint__cpu_ns(pid_t pid)
{
	unsigned long long ut = 0, st = 0;
	char fn[64], buf[1024], *p;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;

	if (pid)
		snprintf(fn, sizeof(fn), "/proc/%d/stat", (int)pid);
	else
		snprintf(fn, sizeof(fn), "/proc/self/stat");
	f = fopen(fn, "re");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* after comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime */
	if (!p || hz <= 0 || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				    &ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ULL / hz);
}

static uint64_t self_rss(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

void footprint__measure(const struct bpf_object *obj, bool bpf_stats, double now,
			const struct agent_footprint *prev, struct agent_footprint *out)
{
	struct bpf_program *prog;
	const struct bpf_map *map;
	double dt = prev && prev->t ? now - prev->t : 0;

	memset(out, 0, sizeof(*out));
	out->t = now;
	out->cpu_ns = footprint__cpu_ns(0);
	out->rss_bytes = self_rss();
	bpf_object__for_each_map(map, obj)
		if (bpf_map__fd(map) >= 0)
			out->map_bytes += footprint__memlock(bpf_map__fd(map));
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
			out->bpf_ns += info.run_time_ns;
	}
	out->cpu_pct = dt > 0 && out->cpu_ns >= prev->cpu_ns ?
		       100.0 * (out->cpu_ns - prev->cpu_ns) / (dt * 1e9) : 0;
	out->bpf_pct = !bpf_stats ? -1 : dt > 0 && out->bpf_ns >= prev->bpf_ns ?
		       100.0 * (out->bpf_ns - prev->bpf_ns) / (dt * 1e9) : 0;
}
