// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* One report: the collector makes a snapshot, the outputs render it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "collect.h"
#include "out/out.h"
#include "report.h"

struct reporter {
	struct report_opts o;
	struct collector *col;
};

struct reporter *report__new(const struct report_opts *o, const struct report_meta *m,
			     struct stack_table *stacks, int allocs_fd, int fds_fd, int stats_fd)
{
	struct collect_maps maps = { allocs_fd, fds_fd, stats_fd };
	struct reporter *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->o = *o;
	r->col = collect__new(m, o->min_age_ns, &maps, stacks);
	if (!r->col) {
		free(r);
		return NULL;
	}
	return r;
}

void report__free(struct reporter *r)
{
	if (!r)
		return;
	collect__free(r->col);
	free(r);
}

int report__print(struct reporter *r, bool final, const char *exit_reason)
{
	struct out_opts oo = { r->o.top, r->o.frames };
	const struct snapshot *sn;
	int err;

	err = collect__run(r->col, final, exit_reason, &sn);
	if (err)
		return err;
	if (r->o.json)
		out_json__render(sn, &oo, stdout);
	else
		out_text__render(sn, &oo, stdout);
	fflush(stdout);
	return 0;
}
