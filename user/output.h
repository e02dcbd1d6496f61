/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The report sink. Reports are printed into memory and a writer thread
 * copies them to stdout, so that a reader that stalls (a pager not
 * scrolled, a stuck pipe) never blocks the main loop: signals are still
 * read, the probes still come off on time. O_NONBLOCK on stdout would be
 * shared with every other holder of that open file (the shell, a pager),
 * a thread is not.
 */
#ifndef __OUTPUT_H
#define __OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

/* Start the writer thread for fd (call with the signals to be read
 * through a signalfd already blocked: the thread inherits the mask). */
int output__init(int fd);
/* From here to output__end(), stdout (printf, puts) goes to memory. */
void output__begin(void);
/* Queue what was printed since output__begin(). While more than a bound
 * (16 MiB) waits unwritten the new report is dropped and counted
 * instead. Returns output__error(). */
int output__end(void);
/* The first write error (-EPIPE: the reader went away; -ENOSPC ...), or 0. */
int output__error(void);
/* Reports dropped because stdout was not read. */
uint64_t output__dropped(void);
/* Wait at most timeout seconds for everything queued to be written:
 * 0, -ETIMEDOUT (still blocked), or output__error(). */
int output__drain(double timeout);

#endif /* __OUTPUT_H */
