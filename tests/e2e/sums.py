# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end tests of the per-stack sums (the stack_agg map, bpf/agg.bpf.h, user/agg.h), run
by tests/e2e/run.py: plan(interps, run) returns entries of the same kind as run.plan(), and
every scenario fn(case, py) uses run.py's machinery (Case, Tracer, expect, check_stream ...).

- sums-fold[...]: `leak_then_free.py` under -p with 1 ms epochs (--agg-epoch-shift 20, a
  test option) at a 0.2 s interval: thousands of epochs are folded into the bases while the
  leak runs, and the frees of half the leak land on folded epochs. The leak line counts
  exactly N at its peak and exactly N - N // 2 at the end, no sum is lost (agg_full 0), and
  the report's stack_sums show more than 3000 entries drained (the leak's epochs alone),
  more than the map holds at the end.
- sums-age[...]: -o 1000 at a 0.25 s interval over a leak paced across 3 s (about 90 epochs
  of 34 ms at the shift these options give): every counted stack is at least 1 s old,
  the leak line's count rises report by report through intermediate values (counted epoch
  by epoch, never all at once), never falls, and ends exactly at N.
"""
import signal

R = None                # the run.py module, set by plan()
N = 20000


def _leak_line(script):
    return R.innermost(script, R.marked_line(script, "LEAK-LINE"), "make_record")


def _counts(reps, match):
    return [max([s["count"] for s in r["stacks"] if match(s)] or [0]) for r in reps]


def _no_lost_sums(reps):
    for r in reps:
        R.expect(r["stats"].get("agg_full") == 0, "stats.agg_full 0 (every sum kept)",
                 "%s in report #%d" % (r["stats"].get("agg_full"), r["report"]))


def _run(c, py, fixture, tracer_args, interval, last_status, more):
    """The fixture under -p, traced from before its go; more reports after its last_status;
    the checked stream, with every sum kept."""
    if py.debian:
        raise R.Skipped("needs a pyenv (non-PGO) build for full coverage under -p")
    fx = c.start_fixture(py, *fixture)
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j", "--no-census", "-T", "20"] + tracer_args + ["-p", str(fx.pid), interval])
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    c.wait_status(last_status, 60, proc=fx)
    R.after_leak(c, tr, more)
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = R.check_stream(tr, py, fx.pid, coverage="full")
    _no_lost_sums(reps)
    return reps


def sc_fold(c, py):
    """Given leak_then_free.py under -p with 1 ms epochs folded every 0.2 s report, when it
    leaks N and then frees every other one, then its line counts exactly N, then exactly
    N - N // 2, with no sum lost."""
    reps = _run(c, py, ["leak_then_free.py", N, "--pace", "3", "--hold", "2"],
                ["-o", "0", "--agg-epoch-shift", "20"], "0.2", "FREED", 4)
    counts = _counts(reps, _leak_line("leak_then_free.py"))
    R.expect(max(counts) == N, "the leak line's count to peak at exactly %d" % N, "per report %s" % counts)
    R.expect(counts[-1] == N - N // 2, "exactly %d left at the end (every other one freed)" % (N - N // 2),
             "per report %s" % counts)
    sums = [r["stack_sums"] for r in reps]
    R.expect(all(0 <= x["entries"] <= x["max_entries"] for x in sums), "stack_sums entries within max_entries",
             sums[-1])
    # the leak alone spans some 3000 epochs of 1 ms: folded, what is left is a few intervals' worth
    R.expect(sums[-1]["drained"] > 3000 and sums[-1]["entries"] < sums[-1]["drained"],
             "more than 3000 entries drained by the folds, more than are left in the map", sums[-1])
    return "peak %d, end %d, %d reports, %d entries drained, %d left" % (
        max(counts), counts[-1], len(reps), sums[-1]["drained"], sums[-1]["entries"])


def sc_age(c, py):
    """Given -o 1000 over a leak paced across 3 s, the count rises epoch by epoch: every
    counted stack at least 1 s old, intermediate counts seen, never falling, exactly N at the end."""
    reps = _run(c, py, ["leak_objects.py", N, "--pace", "3"], ["-o", "1000"], "0.25", "LEAKED", 8)
    for r in reps:
        for st in r["stacks"]:
            R.expect(st["oldest_s"] >= 1.0, "every counted stack at least 1 s old (-o 1000)",
                     "oldest_s %s in report #%d: %s" % (st["oldest_s"], r["report"], R.stack_str(st)))
    counts = _counts(reps, _leak_line("leak_objects.py"))
    R.expect(all(a <= b for a, b in zip(counts, counts[1:])), "the count never to fall", counts)
    between = sorted(set(k for k in counts if 0 < k < N))
    R.expect(len(between) >= 3, "at least 3 distinct counts between 0 and %d (the leak counted as it ages)" % N,
             "per report %s" % counts)
    R.expect(counts[-1] == N, "exactly %d at the end" % N, "per report %s" % counts)
    return "%d intermediate counts, end %d" % (len(between), counts[-1])


def plan(interps, run):
    """[(name, fn, interp, time limit s, weight)], as run.plan() builds them."""
    global R
    R = run
    out = []
    for p in interps:
        out.append(("sums-fold[%s]" % p.name, sc_fold, p, 120, 3))
        out.append(("sums-age[%s]" % p.name, sc_age, p, 120, 3))
    return out
