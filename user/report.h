/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One report: a report_set (every process's snapshot, user/snapshot.h)
 * rendered in every output asked for. report__render renders a set the
 * caller collected; report__print collects the reporter's one process
 * (user/collect.c) and renders it as a set of one.
 */
#ifndef __REPORT_H
#define __REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include "snapshot.h"

struct stack_table;
struct reporter;
struct report_sinks;

/* Outputs besides stdout; NULL or 0 for those not asked for. Files are
 * replaced atomically with each report and at the end (README: outputs). */
struct report_outputs {
	const char *pprof;		/* --pprof FILE (and FILE's .fds sibling) */
	const char *folded;		/* --folded FILE (and .fds) */
	const char *html;		/* --html FILE */
	const char *serve;		/* --serve [ADDR:]PORT */
	const char *pyroscope;		/* --pyroscope URL */
	int metrics_top;		/* --metrics-top N: stack series in /metrics */
};

struct report_opts {
	int top;			/* -T */
	int frames;			/* --frames, 0 for all */
	uint64_t min_age_ns;		/* -o */
	bool json;
	struct report_sinks *sinks;	/* from report__open_sinks(), or NULL */
};

/* Before tracing begins (and after signals are blocked: the server and the
 * Pyroscope worker are threads): check that the files can be written, bind
 * --serve, start the Pyroscope worker. On failure one line on stderr and
 * -errno. *out is NULL when no such output is asked for. */
int report__open_sinks(const struct report_outputs *o, struct report_sinks **out);
/* After the final report: the last Pyroscope push, then the server. */
void report__close_sinks(struct report_sinks *s);

/* The instant a report shows: the maps as they are now (why 0), or as BPF
 * froze them (enum freeze_reason in bpf/pyleak.h) at ns, CLOCK_MONOTONIC. */
struct report_as_of {
	uint32_t why;
	uint64_t ns;
};

/* A reporter that renders the sets it is given (report__render) and
 * collects nothing itself. */
struct reporter *report__new_renderer(const struct report_opts *o);
/* One that also collects one process (report__print): fds_fd is the BPF
 * fds map, or -1 without fd tracking. */
struct reporter *report__new(const struct report_opts *o, const struct report_meta *m,
			     struct stack_table *stacks, int allocs_fd, int fds_fd, int stats_fd);
void report__free(struct reporter *r);
/* The census whose latest result every report of report__print shows
 * (NULL: none). A renderer's sets carry each process's census. */
void report__set_census(struct reporter *r, struct census *c);
/* Print one report of every process in set: text or JSON on stdout, then
 * the files, the endpoint's documents and one Pyroscope push per process
 * with data. The set and its snapshots are read, not kept. 0 or -errno. */
int report__render(struct reporter *r, const struct report_set *set);
/* Collect report__new's one process and print it (report__render of a set
 * of one); final adds exit_reason. as_of (NULL: now)
 * says which instant the maps hold: ages are taken at that instant, and
 * after a freeze at the target's shutdown, exit or exec its /proc is not
 * read (it shows a later state, or another process that got the pid). */
int report__print(struct reporter *r, bool final, const char *exit_reason,
		  const struct report_as_of *as_of);

#endif /* __REPORT_H */
