// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "caps.h"
#include "log.h"

/* include/uapi/linux/capability.h */
#define CAP_DAC_READ_SEARCH	2
#define CAP_SYS_PTRACE		19
#define CAP_SYS_ADMIN		21
#define CAP_PERFMON		38
#define CAP_BPF			39
#define CAP_CHECKPOINT_RESTORE	40

static unsigned long long effective(void)
{
	unsigned long long caps = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	if (f)
		fclose(f);
	return caps;
}

static bool has(unsigned long long caps, int bit)
{
	return caps >> bit & 1;
}

static void add(char *buf, size_t len, const char *name)
{
	size_t n = strlen(buf);

	snprintf(buf + n, len - n, "%s%s", n ? ", " : "", name);
}

int caps__check(void)
{
	unsigned long long c = effective();
	bool admin = has(c, CAP_SYS_ADMIN);
	char missing[128] = "", optional[160] = "";

	if (!admin && !has(c, CAP_BPF))
		add(missing, sizeof(missing), "CAP_BPF");
	if (!admin && !has(c, CAP_PERFMON))
		add(missing, sizeof(missing), "CAP_PERFMON");
	if (!has(c, CAP_SYS_PTRACE))
		add(missing, sizeof(missing), "CAP_SYS_PTRACE");
	if (missing[0]) {
		warn("need root, or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE (uid %d lacks %s)",
		     getuid(), missing);
		return -EPERM;
	}
	if (!has(c, CAP_DAC_READ_SEARCH))
		add(optional, sizeof(optional), "CAP_DAC_READ_SEARCH (other users' targets)");
	if (!admin && !has(c, CAP_CHECKPOINT_RESTORE))
		add(optional, sizeof(optional), "CAP_CHECKPOINT_RESTORE (deleted interpreters)");
	if (optional[0])
		info("running without %s", optional);
	return 0;
}
