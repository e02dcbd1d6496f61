// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include "log.h"

int log_verbosity;

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#define LOG_AT(level, prefix)				\
	do {						\
		va_list ap;				\
							\
		if (log_verbosity < (level))		\
			return;				\
		va_start(ap, fmt);			\
		vlog(prefix, fmt, ap);			\
		va_end(ap);				\
	} while (0)

void warn(const char *fmt, ...)
{
	LOG_AT(0, "pyleak-bpf: ");
}

void info(const char *fmt, ...)
{
	LOG_AT(1, "pyleak-bpf: ");
}

void debug(const char *fmt, ...)
{
	LOG_AT(2, "pyleak-bpf: debug: ");
}

int log__libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && log_verbosity < 2)
		return 0;
	if (log_verbosity < 1)
		return 0;
	return vfprintf(stderr, fmt, args);
}
