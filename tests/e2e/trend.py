# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end tests of the growth judgement (user/trend.c), run by tests/e2e/run.py.

tests/fixtures/sawtooth.py holds no leak but a sawtooth buffer (4 MiB filled and cleared
every 2 s) and a bounded LRU replacing its entries: sampled at report instants both can
rise report after report.  Attached with -p at intervals of 1, 2 and 5 s, nothing may be
called growing in ten reports; with a 20 KB/s leak added, the leak's line must be the top
stack within five reports.  Debian's stripped build runs without PYTHONMALLOC (partial
coverage: every chunk is over 512 bytes), a pyenv build with full coverage.
"""
import signal

R = None                # the run.py module, set by plan()
INTERVALS = ("1", "2", "5")
REPORTS = 10


def frame_in(line_marker):
    line = R.marked_line("sawtooth.py", line_marker)

    def match(st):
        frames = st.get("frames") or []
        return bool(frames) and R.basename(frames[0].get("file")) == "sawtooth.py" and \
            frames[0].get("line") == line
    match.what = "sawtooth.py:%d (%s)" % (line, line_marker)
    return match


def trace(c, py, interval, reports, *extra):
    fx = c.start_fixture(py, "sawtooth.py", *extra)
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j", "-p", str(fx.pid), interval, str(reports)])
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    rc = tr.wait_exit(float(interval) * (reports + 2) + 30, "the tracer to end after %d reports" % reports)
    R.expect(rc == 0, "exit status 0 after COUNT reports", rc)
    return fx, R.check_stream(tr, py, fx.pid)


def sc_no_growth(interval):
    def sc(c, py):
        """Given sawtooth.py (a sawtooth buffer and a bounded LRU, no leak), when traced for ten
        reports, then no stack is ever growing."""
        fx, reps = trace(c, py, interval, REPORTS)
        grown = ["#%d %s" % (r["report"], R.stack_str(s)) for r in reps for s in r["stacks"]
                 if s["trend"] == "growing"]
        R.expect(not grown, "no growing stack in %d reports at %s s" % (len(reps), interval),
                 "; ".join(grown[:4]))
        saw = [s for r in reps for s in r["stacks"] if frame_in("SAW-LINE")(s)]
        R.expect(saw, "the sawtooth's line among the stacks (it is traced at all)", "absent")
        return "%d reports at %s s, none growing; sawtooth up to %d bytes" % (
            len(reps), interval, max(s["bytes"] for s in saw))
    return sc


def sc_leak_found(interval):
    def sc(c, py):
        """Given the same with a 20 KB/s leak at LEAK-LINE, when traced for six reports, then
        the leak's line is the top stack, growing, within five reports."""
        fx, reps = trace(c, py, interval, 6, "--leak-rate", "20000")
        leak = frame_in("LEAK-LINE")
        live = [r for r in reps if not r["final"]]
        first = [r["report"] for r in live if r["stacks"] and leak(r["stacks"][0]) and
                 r["stacks"][0]["trend"] == "growing"]
        R.expect(first and first[0] <= 4, "the leak line growing at the top by report #4 (the fifth)",
                 "tops %s" % ["#%d %s" % (r["report"], R.stack_str(r["stacks"][0]) if r["stacks"] else "-")
                              for r in live])
        wrong = ["#%d %s" % (r["report"], R.stack_str(s)) for r in reps for s in r["stacks"]
                 if s["trend"] == "growing" and not leak(s)]
        R.expect(not wrong, "no other stack growing", "; ".join(wrong[:3]))
        return "leak on top from report #%d at %s s" % (first[0], interval)
    return sc


def plan(interps, run):
    global R
    R = run
    out = []
    picks = R.debian_and_312(interps)
    for p in picks:
        for iv in INTERVALS:
            out.append(("trend-sawtooth-%ss[%s]" % (iv, p.name), sc_no_growth(iv), p,
                        float(iv) * (REPORTS + 2) + 90, 2))
            out.append(("trend-leak-%ss[%s]" % (iv, p.name), sc_leak_found(iv), p,
                        float(iv) * 8 + 90, 2))
    return out
