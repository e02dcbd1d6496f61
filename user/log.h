/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Diagnostics to stderr; reports go to stdout elsewhere. */
#ifndef __LOG_H
#define __LOG_H

#include <stdarg.h>
#include <bpf/libbpf.h>

extern int log_verbosity;	/* 0 quiet, 1 -v, 2 -vv */

void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* libbpf's print callback: its chatter only with -v, verifier logs with -vv. */
int log__libbpf(enum libbpf_print_level level, const char *fmt, va_list args);

#endif /* __LOG_H */
