/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The outputs: each renders one report, a report_set (user/snapshot.h):
 * every process's snapshot, ranked, and reads nothing else. With one
 * process each output is what it was when the tool traced one process (the
 * text and JSON reports gain the process's labels); with several, every
 * output keeps the processes apart by their labels (README: outputs).
 */
#ifndef __OUT_H
#define __OUT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "snapshot.h"

struct out_opts {
	int top;		/* -T: stacks per section */
	int frames;		/* --frames: innermost frames shown in text, 0 for all */
};

/* Human-readable report (user/out/text.c): a section per process. */
void out_text__render(const struct report_set *set, const struct out_opts *o, FILE *f);
/* One JSON object on one line (user/out/json.c): {"report", ..., "processes": [...]}. */
void out_json__render(const struct report_set *set, const struct out_opts *o, FILE *f);

/* A growing byte buffer the file and endpoint outputs render into. A failed
 * allocation sets oom and drops the rest: the caller does not publish it. */
struct obuf {
	char *p;
	size_t len, cap;
	bool oom;
};

void obuf__put(struct obuf *b, const void *p, size_t n);
void obuf__puts(struct obuf *b, const char *s);
void obuf__printf(struct obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void obuf__reset(struct obuf *b);
void obuf__free(struct obuf *b);

/* What names one process in every output that labels its data: pprof
 * sample labels, Prometheus labels, Pyroscope's app name, the flame graph's
 * process frames. Each process's part of an output is rendered from its own. */
struct out_labels {
	pid_t pid;
	const char *comm;	/* /proc/PID/comm (user/procinfo.c) */
	const char *container;	/* container id from the cgroup path, "" if none */
	const char *python;	/* "3.11.7" */
};
void out__labels(const struct snapshot *s, struct out_labels *l);
/* Has the process data to render (traced, or exited with its last data)? An
 * untraceable one has only labels and a reason: the profile, metric and
 * folded outputs leave it out, text and JSON list it. */
bool out__has_data(const struct snapshot *s);
/* The process's status as JSON and text say it: "traced", "exited", "untraceable". */
const char *out__status_name(uint32_t status);

/* The second file of an output (fds beside memory): TAG inserted before the
 * extension of PATH's last component, "heap.pb.gz" -> "heap.fds.pb.gz",
 * "stacks" -> "stacks.fds". */
int out__sibling(const char *path, const char *tag, char *buf, size_t len);
/* Replace PATH with BUF atomically: a temporary file beside it, then
 * rename, so a reader never sees half a file. 0 or -errno. */
int out__write_file(const char *path, const void *buf, size_t len);
/* Can a file be created next to PATH (its directory exists and is writable)?
 * 0 or -errno; checked before tracing begins. */
int out__check_writable(const char *path);

/* pprof (user/out/pprof.c): a gzipped profile.proto holding every process's
 * samples, each labelled with its process. out_pprof__render_one: one
 * process's profile (Pyroscope takes labels per push). */
enum pprof_kind { PPROF_HEAP, PPROF_FDS };
int out_pprof__render(const struct report_set *set, enum pprof_kind kind, struct obuf *out);
int out_pprof__render_one(const struct snapshot *s, enum pprof_kind kind, struct obuf *out);

/* Prometheus text exposition (user/out/prom.c). */
struct prom_opts {
	int top;		/* --metrics-top: stack series per section */
	bool pyroscope;		/* --pyroscope in use: its counters */
	uint64_t pushes, push_failures;
};
/* Each family's HELP and TYPE once, a series per process under it. */
void out_prom__render(const struct report_set *set, const struct prom_opts *o, struct obuf *out);

/* Brendan Gregg's folded stacks (user/out/folded.c): memory (bytes) or fds.
 * With more than one process in the report every stack starts with a root
 * frame naming its process, "python3 (pid 41)"; with one, none. */
void out_folded__render(const struct report_set *set, bool fds, struct obuf *out);

/* One self-contained HTML page with flame graphs and tables (user/out/html.c):
 * with several processes one child of the graph's root per process and a
 * pid column in the tables. */
void out_html__render(const struct report_set *set, struct obuf *out);

#endif /* __OUT_H */
