# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end tests of the sampled mode and the overhead budget (run by tests/e2e/run.py:
plan(interps, run) returns entries of the same kind as run.plan()).

- sample-estimate[...] (every interpreter): leak_objects.py (20000 x 600 B) under
  `-p --sample-bytes 16K`: the leak's line is the top stack, its estimated count and bytes
  within 15% of the truth (about 770 samples: a standard error near 3.6%), every report says it is sampled (JSON "sampling"
  {"mean_bytes": 16384, "estimates": true}, text "~" and "estimates"), and far fewer
  allocations were recorded than calls seen; where the kernel has uprobe sessions, returns
  were skipped (most of the calls' under full coverage).
- sample-all-default: `-a --cgroup` (the test's own group) samples at 512 KiB by default and
  says so; `--exact` turns it off.
- budget-pause[...]: a churning fixture (allocation-heavy, nothing kept) under
  `-p --max-overhead 1`: the estimate passes 1%, the report says the allocation probes are
  paused (JSON "budget"), the calls counter stops growing while they are, and the tracer
  goes on reporting fds.
- budget-overflow[...]: `--max-allocs 1024` on leak_objects.py: the process is switched to
  sampling, the report says the allocation map overflowed, and the leak still ranks first.
- budget-rate-jump[...]: rate_jump.py (a busy process, allocations 120 frames deep, one per
  270 us of its work, then one per 27 us) under exact `-p --max-overhead 10`: nothing is done
  before the jump (about 2% estimated); after it (15-17%, the traps about 5% of its CPU: sampling
  would leave under 80% of the budget)
  the report says its sampling interval was raised, since sampling cuts the stack walks,
  and the process stays sampled.
"""
import os
import signal
import time

from procs import raw_reports

R = None
N = 20000


def proc_of(rep, pid):
    for p in rep.get("processes", []):
        if p["pid"] == pid and p["status"] != "untraceable":
            return p
    return None


def leak_match():
    return R.innermost("leak_objects.py", R.marked_line("leak_objects.py", "LEAK-LINE"), "make_record")


def sc_estimate(c, py):
    """Given leak_objects.py leaking 20000 x 600 B under -p --sample-bytes 16K, then the leak is
    the top stack with an estimated count and bytes within 15% of the truth, every report is
    marked sampled (mean 16384, estimates), and recorded allocations are a small share of the
    allocator calls seen (under 1/10 with full coverage, 1/3 with partial)."""
    fx = c.start_fixture(py, "leak_objects.py", N, "--size", "600", "--decoy-mb", "5")
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j", "-o", "0", "--no-census", "--sample-bytes", "16K", "-p", str(fx.pid),
                         R.INTERVAL])
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    R.after_leak(c, tr)
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = R.check_stream(tr, py, fx.pid)
    for r in reps:
        R.expect(r.get("sampling") == {"mean_bytes": 16384, "estimates": True},
                 "every report marked sampled, mean 16384", r.get("sampling"))
    last = [r for r in reps if not r["final"]][-1]
    match = leak_match()
    top = last["stacks"][0] if last["stacks"] else None
    R.expect(top is not None and match(top), "the top stack at %s" % match.what, R.report_str(last))
    # bytes(600) is a 633-byte object
    want_bytes = N * 633
    R.expect(abs(top["count"] - N) <= 0.15 * N and abs(top["bytes"] - want_bytes) <= 0.15 * want_bytes,
             "an estimate within 15%% of %d allocations, %d bytes" % (N, want_bytes),
             "%d allocations, %d bytes" % (top["count"], top["bytes"]))
    # full coverage: most calls are small objects, rarely sampled; partial (Debian -p):
    # only calls over 512 B reach libc, the churn's 40 KB ones sampled 9 times in 10
    st, share = last["stats"], 10 if last["coverage"] == "full" else 3
    R.expect(st["calls"] > share * st["allocs"], "recorded allocations under 1/%d of the calls seen" % share,
             "%d recorded of %d calls" % (st["allocs"], st["calls"]))
    # session links: most unsampled calls are leaves (libc malloc, pymalloc's sizes), their
    # return probe skipped; partial coverage sees mostly the churn's sampled 40 KB ones
    if R.kernel_has_sessions():
        least = st["calls"] // 2 if last["coverage"] == "full" else 1
        R.expect(st["returns_skipped"] >= least, "at least %d returns skipped (session links)" % least,
                 "%d of %d calls, %d nested" % (st["returns_skipped"], st["calls"], st["nested"]))
    return "estimated %d allocations, %d B (truth %d, %d B); %d of %d calls recorded" % (
        top["count"], top["bytes"], N, want_bytes, st["allocs"], st["calls"])


def cgroup_dir(c):
    import procs
    top = os.path.join(procs.CGROUP2, "pyleak-e2e-s%d-%d" % (os.getpid(), int(time.monotonic() * 1000)))
    try:
        os.makedirs(top)
    except OSError as e:
        raise R.Skipped("cannot make a cgroup v2 group under %s: %s" % (procs.CGROUP2, e))
    return top, "/" + os.path.relpath(top, procs.CGROUP2)


def sc_all_default(c, py):
    """Given one leak_objects.py in a cgroup of the test's own, when pyleak-bpf -a --cgroup
    traces it, then its reports say it is sampled at 512 KiB (the -a default), and with
    --exact they say it is not."""
    import procs
    top, cg = cgroup_dir(c)
    try:
        fx = c.spawn(procs.cgroup_argv(top, c.fixture_argv(py, "leak_objects.py", N, "--size", "600",
                                                           "--decoy-mb", "5")), "fixture")
        c.wait_status("READY", 60, proc=fx)
        seen = []
        for extra, want in (([], {"mean_bytes": 524288, "estimates": True}), (["--exact"], None)):
            tr = c.start_tracer(["-j", "--no-census", "-a", "--cgroup", cg] + extra + [R.INTERVAL, "3"])
            tr.wait_exit(60, "the tracer to end after 3 reports")
            reps = raw_reports(tr)
            R.expect(reps, "reports from -a %s" % " ".join(extra), tr.stderr()[-300:])
            got = [proc_of(r, fx.pid) for r in reps]
            R.expect(all(g is not None for g in got), "pid %d in every report" % fx.pid, len(got))
            R.expect(all(g.get("sampling") == want for g in got), "sampling %r with -a %s" % (want, " ".join(extra)),
                     [g.get("sampling") for g in got])
            seen.append("%s: %s" % (" ".join(["-a"] + extra), want))
        return "; ".join(seen)
    finally:
        c.cleanup()
        try:
            os.rmdir(top)
        except OSError:
            pass


def sc_budget_pause(c, py):
    """Given no_leak.py churning hard (tens of thousands of allocator calls a second, nothing
    kept) under -p --max-overhead 1, then a report says its allocation probes are paused (the
    estimate over 1%), its calls counter stops growing while they are, and the reports go on."""
    fx = c.start_fixture(py, "no_leak.py", 400000, "--decoy-mb", "5", "--pace", "40")
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j", "--no-census", "--max-overhead", "1", "-p", str(fx.pid), "1"])
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKING", 30, proc=fx)
    end = time.monotonic() + 40
    paused = None
    while time.monotonic() < end and tr.alive():
        reps = raw_reports(tr)
        idx = [i for i, r in enumerate(reps) if "paused" in ((proc_of(r, fx.pid) or {}).get("budget") or "")]
        if idx and len(reps) >= idx[0] + 4:
            paused = idx[0]
            break
        time.sleep(0.3)
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = raw_reports(tr)
    R.expect(paused is not None, "a report saying the allocation probes are paused within 40 s",
             [(proc_of(r, fx.pid) or {}).get("budget") for r in reps][-5:])
    during = [proc_of(r, fx.pid)["stats"]["calls"] for r in reps[paused + 1:paused + 4]]
    R.expect(len(set(during)) == 1, "no allocator call seen while paused", during)
    note = proc_of(reps[paused], fx.pid)["budget"]
    return "paused at report #%d: %s; calls then %s" % (reps[paused]["report"], note, during)


def sc_budget_overflow(c, py):
    """Given leak_objects.py (20000 x 600 B) under -p --max-allocs 1024, then the allocation map
    overflows, the process is switched to sampling (the report says so), and the leak's line
    still ranks first once sampled."""
    fx = c.start_fixture(py, "leak_objects.py", N, "--size", "600", "--decoy-mb", "1", "--pace", "4")
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j", "-o", "0", "--no-census", "--max-allocs", "1024", "-p", str(fx.pid), R.INTERVAL])
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    R.after_leak(c, tr, 4)
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = raw_reports(tr)
    secs = [proc_of(r, fx.pid) for r in reps]
    noted = [s for s in secs if s and "overflowed" in (s.get("budget") or "")]
    R.expect(noted, "a report saying the allocation map overflowed and sampling took over",
             [s and s.get("budget") for s in secs][-4:])
    R.expect(noted[-1].get("sampling") and noted[-1]["sampling"]["estimates"],
             "the process marked sampled after that", noted[-1].get("sampling"))
    last = secs[-2] if len(secs) > 1 else secs[-1]
    R.expect(last["stacks"] and leak_match()(last["stacks"][0]), "the leak on top once sampled",
             R.report_str(last))
    return "%s; top %d B est." % (noted[0]["budget"], last["stacks"][0]["bytes"])


def sc_rate_jump(c, py):
    """Given rate_jump.py, busy, allocating 120 frames deep once per 270 us of its work and then
    once per 27 us, under exact -p --max-overhead 10, then no report before its JUMP has a
    budget note, one after it says the sampling interval was raised, and later reports are
    sampled."""
    # one probed layer where the build allows (a small object: PyObject_Malloc alone, three
    # probe hits), so that the walks and not the traps make the cost; a PGO build sees only
    # what reaches libc (over 512 bytes)
    size = "600" if py.debian else "200"
    fx = c.start_fixture(py, "rate_jump.py", 1000, "--size", size, "--decoy-mb", "1", "--pace", "8")
    c.wait_status("READY", 60, proc=fx)
    # attached once it computes: its idle churn before the go (sleeping, allocating) is a
    # cost the budget would rightly act on
    c.go()
    c.wait_status("LEAKING", 30, proc=fx)
    tr = c.start_tracer(["-j", "--no-census", "--no-fds", "--max-overhead", "10", "-p", str(fx.pid), "1"])
    tr.wait_reports(1, 60, "a first report after attaching")
    c.wait_status("JUMP", 60, proc=fx)
    jump_at = len(raw_reports(tr))
    end = time.monotonic() + 30
    raised = None
    while time.monotonic() < end and tr.alive() and raised is None:
        for r in raw_reports(tr)[jump_at:]:
            note = (proc_of(r, fx.pid) or {}).get("budget") or ""
            if "sampled every" in note:
                raised = r
                break
        time.sleep(0.3)
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = raw_reports(tr)
    before = [(proc_of(r, fx.pid) or {}).get("budget") for r in reps[:max(0, jump_at - 1)]]
    R.expect(not any(before), "no budget note before the jump", before)
    R.expect(raised is not None, "a report after the jump saying the sampling interval was raised",
             [(proc_of(r, fx.pid) or {}).get("budget") for r in reps][-4:])
    later = [proc_of(r, fx.pid) for r in reps if r["report"] > raised["report"]]
    R.expect(later and all(p and p.get("sampling") for p in later), "the process sampled from then on",
             [p and p.get("sampling") for p in later][:4])
    return "report #%d: %s" % (raised["report"], proc_of(raised, fx.pid)["budget"])


def plan(interps, run):
    global R
    R = run
    out = []
    picks = R.debian_and_312(interps)
    for p in interps:
        out.append(("sample-estimate[%s]" % p.name, sc_estimate, p, 150, 5))
    for p in picks:
        out.append(("budget-overflow[%s]" % p.name, sc_budget_overflow, p, 150, 5))
        out.append(("budget-rate-jump[%s]" % p.name, sc_rate_jump, p, 120, 5))
    for p in picks[-1:]:
        out.append(("sample-all-default[%s]" % p.name, sc_all_default, p, 120, 4))
        out.append(("budget-pause[%s]" % p.name, sc_budget_pause, p, 120, 5))
    return out
