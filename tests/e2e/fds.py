# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end tests of fd tracking, run by tests/e2e/run.py: plan(interps, run) returns
entries of the same kind as run.plan(), and every scenario fn(case, py) uses run.py's
machinery (Case, Tracer, expect, check_stream ...) through the module it was given.

Every scenario attaches with -p to a fixture of tests/fixtures/fd_*.py (Debian's stripped
3.11 included: fd tracking does not depend on allocator coverage) and checks counts
exactly: an fd is an fd.  The count a fixture leaks from a line must equal what
/proc/PID/fd grew by, and the tool must attribute exactly that many to the line.
"""
import json
import os
import re
import signal
import time

R = None                # the run.py module, set by plan()
INTERVAL = "0.5"
LEAK_STEPS = 10         # fd_leak.py steps: 19 fds each
PATH_N = 16             # fd_close_range.py, fd_dup2.py block size
EXEC_N = 12             # fd_exec.py block size
FD_TYPES = ("file", "dir", "device", "fifo", "pipe", "socket", "eventfd", "epoll", "timerfd",
            "signalfd", "inotify", "fanotify", "pidfd", "memfd", "other", "unknown")


# ---------------------------------------------------------------------------------------
# Reports

def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def in_script(script, marker):
    """A predicate on fd stacks: the innermost frame in script is the line marked marker
    (frames of fd_common.py and of the standard library above it do not count)."""
    line = R.marked_line(script, marker)

    def match(st):
        for fr in st.get("frames") or []:
            if R.basename(fr.get("file")) == script:
                return fr.get("line") == line
        return False
    match.what = "%s:%d (%s)" % (script, line, marker)
    return match


def fd_str(st):
    frames = [fr for fr in st.get("frames") or [] if not R.basename(fr.get("file")).startswith("socket")]
    where = " <- ".join(R.frame_str(f) for f in frames[:2]) or st.get("note") or "(no frames)"
    return "%s count=%s trend=%s types=%s" % (where, st.get("count"), st.get("trend"), json.dumps(st.get("types")))


def fds_str(rep, top=8):
    return "report #%s fd_totals=%s: %s" % (rep.get("report"), json.dumps(rep.get("fd_totals")),
                                            "; ".join(fd_str(s) for s in (rep.get("fds") or [])[:top]))


def count_of(rep, match):
    return sum(s["count"] for s in rep["fds"] if match(s))


def fd_schema_problems(rep):
    """What in one report breaks the fd part of the JSON contract."""
    bad = []
    num = (int, float)

    def typed(obj, key, types, where):
        ok = key in obj and isinstance(obj[key], types) and not (isinstance(obj[key], bool) and bool not in types)
        if not ok:
            bad.append("%s %r is %r" % (where, key, obj.get(key, "missing")))
        return ok

    if typed(rep, "tracking", (dict,), "report"):
        for k in ("memory", "fds"):
            typed(rep["tracking"], k, (bool,), "tracking")
        how = rep["tracking"].get("fd_tracepoints", "missing")
        if how not in (("syscalls", "raw") if rep["tracking"].get("fds") else (None,)):
            bad.append("tracking fd_tracepoints %r" % how)
    if typed(rep, "fd_totals", (dict,), "report"):
        t = rep["fd_totals"]
        if t.get("open") is not None:
            typed(t, "open", (int,), "fd_totals")
        for k in ("traced", "stacks", "before", "untracked", "stale"):
            typed(t, k, (int,), "fd_totals")
    for group in ("fds_before", "fds_untracked"):
        if typed(rep, group, (dict,), "report"):
            typed(rep[group], "count", (int,), group)
            if typed(rep[group], "types", (dict,), group):
                unknown = [k for k in rep[group]["types"] if k not in FD_TYPES]
                if unknown:
                    bad.append("%s types %s" % (group, unknown))
    if typed(rep, "stats", (dict,), "report"):
        for k in ("fds_opened", "fds_closed", "fds_full", "fds_missed", "fds_private"):
            typed(rep["stats"], k, (int,), "stats")
    if not typed(rep, "fds", (list,), "report"):
        return bad
    for i, st in enumerate(rep["fds"]):
        w = "fds[%d]" % i
        typed(st, "id", (str,), w)
        for k in ("count", "growth"):
            typed(st, k, (int,), w)
        for k in ("growth_per_s", "oldest_s"):
            typed(st, k, num, w)
        if typed(st, "trend", (str,), w) and st["trend"] not in R.TRENDS:
            bad.append("%s trend %r" % (w, st["trend"]))
        typed(st, "frames", (list,), w)
        typed(st, "examples", (list,), w)
        typed(st, "syscalls", (dict,), w)
        if typed(st, "types", (dict,), w):
            if sum(st["types"].values()) != st.get("count"):
                bad.append("%s types %s do not add up to count %s" % (w, st["types"], st.get("count")))
    if not bad:
        keys = [(0 if s["trend"] == "growing" else 1, -s["count"]) for s in rep["fds"]]
        if keys != sorted(keys):
            bad.append("fds not sorted growing-first then by count: %s" % [(s["trend"], s["count"]) for s in rep["fds"]])
    return bad


def check_fd_stream(tr, py, pid, ended=True):
    """run.check_stream (the memory contract, unchanged) plus the fd part of every report."""
    reps = R.check_stream(tr, py, pid, ended=ended)
    for r in reps:
        probs = fd_schema_problems(r)
        R.expect(not probs, "report #%s to follow the fd JSON contract" % r.get("report"), "; ".join(probs[:4]))
    return reps


def check_fds_only(reps):
    """--fds-only: no allocator probe, an empty "stacks" in every report."""
    for r in reps:
        t = r["tracking"]
        R.expect(r["stacks"] == [] and r["probes"]["functions"] == 0 and not t["memory"] and t["fds"],
                 "--fds-only: stacks [], no allocator probes, tracking memory off",
                 "report #%d: %d stacks, probes %s, tracking %s" % (r["report"], len(r["stacks"]), r["probes"], r["tracking"]))


def check_how(reps, how):
    """The fd tracepoints asked for were the ones used."""
    if how:
        got = reps[-1]["tracking"]["fd_tracepoints"]
        R.expect(got == how, "fd_tracepoints %r" % how, repr(got))
    return reps[-1]["tracking"]["fd_tracepoints"]


# BPF sees a close at the syscall's exit, after the kernel freed the number: a report that
# reads /proc in between finds one record stale for a moment (it is not counted, and is
# only dropped as missed if still stale at the next report). A close path BPF misses
# leaves every such fd stale, report after report (16 and more in these fixtures).
TRANSIENT_STALE = 2


def check_no_stale(reps):
    """Every close the fixture made was seen by BPF: no record stayed stale into the next
    report (stats.fds_missed 0), and no report found more than a closing race's worth."""
    for r in reps:
        R.expect(r["fd_totals"]["stale"] <= TRANSIENT_STALE,
                 "at most %d fd records caught mid-close (each close seen in BPF)" % TRANSIENT_STALE,
                 "report #%d: %s" % (r["report"], fds_str(r)))
    R.expect(reps[-1]["stats"]["fds_missed"] == 0, "stats.fds_missed 0", reps[-1]["stats"]["fds_missed"])


def attach(c, py, script, n, *tool_args, **kw):
    """Start fixture script with n, wait for READY, attach the tool (with --fd-tracepoints
    kw["how"] if given), wait for a report."""
    fx = c.start_fixture(py, script, n, "--decoy-mb", "1", "--pace", kw.get("pace", "1"))
    c.wait_status("READY", 60, proc=fx)
    how = ["--fd-tracepoints", kw["how"]] if kw.get("how") else []
    tr = c.start_tracer(["-j", "-o", "0", "-T", "50"] + how + list(tool_args) + ["-p", str(fx.pid), INTERVAL])
    tr.wait_reports(1, 60, "a first report after attaching")
    return fx, tr


def stop(c, tr):
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)


def leaked_counts(line):
    return dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", line))


# ---------------------------------------------------------------------------------------
# Scenarios: fn(case, py) -> evidence string; raise run.Failure / run.Skipped

LEAK_KINDS = (("file", "LEAK-FILE", "file"), ("socketpair", "LEAK-SOCKETPAIR", "socket"),
              ("tcp_client", "LEAK-TCP-CLIENT", "socket"), ("tcp_server", "LEAK-TCP-SERVER", "socket"),
              ("pipe", "LEAK-PIPE", "pipe"), ("dup", "LEAK-DUP", "file"), ("scm", "LEAK-SCM", "file"))


def sc_fd_leak(c, py, how=None):
    """Given fd_leak.py leaking files, socketpairs, loopback TCP (both ends), pipes, dups and
    fds received with SCM_RIGHTS from seven lines behind a decoy that opens and closes ten
    times more, when pyleak-bpf -p traces memory and fds, then each line holds exactly what
    it leaked, they add up to the growth of /proc/PID/fd, the file line is the top growing
    fd stack, and the listening sockets made before attaching are "open before tracing"."""
    fx, tr = attach(c, py, "fd_leak.py", LEAK_STEPS, pace="2", how=how)
    before = proc_fds(fx.pid)
    c.go()
    counts = leaked_counts(c.wait_status("LEAKED", 60, proc=fx))
    R.after_leak(c, tr)
    growth = proc_fds(fx.pid) - before
    stop(c, tr)
    reps = check_fd_stream(tr, py, fx.pid)
    how = check_how(reps, how)
    last = [r for r in reps if not r["final"]][-1]
    R.expect(growth == sum(counts.values()), "/proc/%d/fd to grow by the %d fds leaked" % (fx.pid, sum(counts.values())),
             growth)
    got, total = [], 0
    for kind, marker, ftype in LEAK_KINDS:
        match = in_script("fd_leak.py", marker)
        n = count_of(last, match)
        R.expect(n == counts[kind], "%d fds at %s" % (counts[kind], match.what), "%d in %s" % (n, fds_str(last)))
        st = [s for s in last["fds"] if match(s)][0]
        R.expect(st["types"] == {ftype: n}, "%s: types {%r: %d}" % (match.what, ftype, n), st["types"])
        got.append("%s %d" % (kind, n))
        total += n
    R.expect(total == growth, "the leak lines' fds to add up to the /proc growth %d" % growth, total)
    ex = dict((kind, [s for s in last["fds"] if in_script("fd_leak.py", m)(s)][0]["examples"])
              for kind, m, _ in LEAK_KINDS)
    R.expect(any(e.startswith("unix stream") for e in ex["socketpair"]), "socketpair examples 'unix stream'",
             ex["socketpair"])
    R.expect(any(re.match(r"tcp 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+$", e) for e in ex["tcp_client"]),
             "TCP client examples 'tcp 127.0.0.1:P -> 127.0.0.1:Q'", ex["tcp_client"])
    R.expect(any(e.endswith("leak-0-0") or "/leak-" in e for e in ex["file"]), "file examples naming leak-* files",
             ex["file"])
    R.expect(ex["pipe"] == ["pipe"], "pipe examples ['pipe']", ex["pipe"])
    top = in_script("fd_leak.py", "LEAK-FILE")
    growing = [r for r in reps if any(top(s) and s["trend"] == "growing" for s in r["fds"])]
    R.expect(growing, "%s growing in some report" % top.what, [fds_str(r, 3) for r in reps[-3:]])
    R.expect(top(growing[-1]["fds"][0]), "the top fd stack of report #%d to be %s" % (growing[-1]["report"], top.what),
             fds_str(growing[-1], 3))
    fb = last["fds_before"]
    R.expect(fb["types"].get("socket", 0) >= 2, "the fixture's two listening sockets open before tracing", fb)
    R.expect(last["stacks"], "memory stacks beside the fds (both traced by default)", "none")
    check_no_stale(reps)
    R.check_target_released(fx.pid)
    return "%s = /proc growth %d; top of report #%d; %s" % (", ".join(got), growth, growing[-1]["report"], how)


def sc_fd_control(c, py):
    """Given fd_noleak.py (the same steps, kinds and decoy, everything closed), then no fd stack
    through the fixture is left or growing once the work is done, and /proc/PID/fd is back
    where it was."""
    fx, tr = attach(c, py, "fd_noleak.py", LEAK_STEPS, "--fds-only")
    before = proc_fds(fx.pid)
    c.go()
    c.wait_status("LEAKED", 60, proc=fx)
    done_at = len(tr.reports())
    R.after_leak(c, tr, more=3)
    growth = proc_fds(fx.pid) - before
    stop(c, tr)
    reps = check_fd_stream(tr, py, fx.pid)
    check_fds_only(reps)
    R.expect(growth == 0, "/proc/%d/fd back to its size before the work" % fx.pid, "%+d" % growth)
    window = [r for r in reps[done_at + 1:] if not r["final"]]
    R.expect(len(window) >= 2, "at least 2 reports after the work", len(window))
    for r in window:
        left = [s for s in r["fds"] if any(R.basename(f.get("file")) in ("fd_noleak.py", "fd_common.py")
                                           for f in s["frames"])]
        R.expect(not left, "no fd stack through the fixture after the work", fds_str(r))
    check_no_stale(reps)
    R.check_target_released(fx.pid)
    return "%d settled reports, traced %s" % (len(window), [r["fd_totals"]["traced"] for r in window])


def sc_fd_close_range(c, py, how=None):
    """Given blocks of N fds closed by close_range(0), by close_range(UNSHARE) from the only
    thread, kept by close_range(UNSHARE) from a second thread (its private copy loses them,
    the process does not) and marked by close_range(CLOEXEC), then the first two lines hold
    none, the last two N each, and BPF saw every close (no stale record)."""
    fx, tr = attach(c, py, "fd_close_range.py", PATH_N, "--fds-only", how=how)
    before = proc_fds(fx.pid)
    c.go()
    c.wait_status("LEAKED", 60, proc=fx)
    R.after_leak(c, tr, more=3)
    growth = proc_fds(fx.pid) - before
    stop(c, tr)
    reps = check_fd_stream(tr, py, fx.pid)
    check_fds_only(reps)
    how = check_how(reps, how)
    last = [r for r in reps if not r["final"]][-1]
    want = (("CR-PLAIN", 0), ("CR-UNSHARE-ALONE", 0), ("CR-UNSHARE-SHARED", PATH_N), ("CR-CLOEXEC", PATH_N))
    for marker, n in want:
        match = in_script("fd_close_range.py", marker)
        got = count_of(last, match)
        R.expect(got == n, "%d fds at %s" % (n, match.what), "%d in %s" % (got, fds_str(last)))
    R.expect(growth == 2 * PATH_N, "/proc/%d/fd to grow by %d" % (fx.pid, 2 * PATH_N), growth)
    check_no_stale(reps)
    R.check_target_released(fx.pid)
    return "plain 0, unshare-alone 0, unshare-shared %d, cloexec %d = /proc growth %d; %s" % (
        PATH_N, PATH_N, growth, how)


def sc_fd_dup2(c, py, how=None):
    """Given N kept files whose numbers are then overwritten by dup2 (even) and dup3 (odd)
    of /dev/null, then the victims' line holds none, the dup2 and dup3 lines N/2 each with
    their syscall, and no record went stale."""
    fx, tr = attach(c, py, "fd_dup2.py", PATH_N, "--fds-only", how=how)
    before = proc_fds(fx.pid)
    c.go()
    counts = leaked_counts(c.wait_status("LEAKED", 60, proc=fx))
    R.after_leak(c, tr, more=3)
    growth = proc_fds(fx.pid) - before
    stop(c, tr)
    reps = check_fd_stream(tr, py, fx.pid)
    check_fds_only(reps)
    how = check_how(reps, how)
    last = [r for r in reps if not r["final"]][-1]
    for marker, n, sysname in (("DUP2-VICTIM", 0, None), ("DUP2-SOURCE", 0, None),
                               ("DUP2-LINE", counts["dup2"], "dup2"), ("DUP3-LINE", counts["dup3"], "dup3")):
        match = in_script("fd_dup2.py", marker)
        got = count_of(last, match)
        R.expect(got == n, "%d fds at %s" % (n, match.what), "%d in %s" % (got, fds_str(last)))
        if sysname:
            st = [s for s in last["fds"] if match(s)][0]
            R.expect(st["syscalls"] == {sysname: n} and st["types"] == {"device": n},
                     "%s: syscalls {%r: %d}, types {'device': %d}" % (match.what, sysname, n, n),
                     "%s %s" % (st["syscalls"], st["types"]))
    R.expect(growth == PATH_N, "/proc/%d/fd to grow by %d" % (fx.pid, PATH_N), growth)
    check_no_stale(reps)
    R.check_target_released(fx.pid)
    return "victims 0, dup2 %d, dup3 %d = /proc growth %d; %s" % (counts["dup2"], counts["dup3"], growth, how)


def sc_fd_exec(c, py, how=None):
    """Given N O_CLOEXEC files, N inheritable ones and N marked by close_range(CLOEXEC), when the
    fixture execs sleep, then the tool exits 3 and its final report holds only the N
    inherited fds, at their line, which /proc/PID/fd of sleep still shows."""
    fx, tr = attach(c, py, "fd_exec.py", EXEC_N, "--fds-only", how=how)
    c.go()
    line = c.wait_status("EXEC-READY", 60, proc=fx)
    kept = [int(x) for x in line.split(" ", 1)[1].split(",")]
    R.after_leak(c, tr)
    open(os.path.join(c.dir, "exec"), "w").close()
    rc = tr.wait_exit(20, "the tracer to notice the exec")
    R.expect(rc == 3, "exit status 3 when the -p target execs", rc)
    reps = check_fd_stream(tr, py, fx.pid)
    how = check_how(reps, how)
    final = reps[-1]
    R.expect(final.get("exit_reason") == "target exec'd", "exit_reason \"target exec'd\"", final.get("exit_reason"))
    pre = [r for r in reps if not r["final"]][-1]
    for marker in ("EXEC-CLOEXEC", "EXEC-INHERITED", "EXEC-RANGE-CLOEXEC"):
        match = in_script("fd_exec.py", marker)
        R.expect(count_of(pre, match) == EXEC_N, "%d fds at %s before the exec" % (EXEC_N, match.what), fds_str(pre))
        want = EXEC_N if marker == "EXEC-INHERITED" else 0
        got = count_of(final, match)
        R.expect(got == want, "%d fds at %s in the final report" % (want, match.what), "%d in %s" % (got, fds_str(final)))
    target = os.path.join(c.dir, "fd-scratch-%d" % fx.pid, "target")
    alive = [fd for fd in kept if os.path.exists("/proc/%d/fd/%d" % (fx.pid, fd))
             and os.readlink("/proc/%d/fd/%d" % (fx.pid, fd)) == target]
    R.expect(alive == kept, "sleep to hold the %d inherited fds" % EXEC_N, alive)
    R.expect(final["fd_totals"]["stale"] == 0, "no stale record in the final report (BPF dropped the closed ones)",
             fds_str(final))
    return "final: inherited %d, cloexec 0, range-cloexec 0; sleep holds %d; %s" % (EXEC_N, len(alive), how)


def sc_fd_no_fds(c, py):
    """Given --no-fds, no fd program runs: "fds" is empty, nothing is counted, memory is traced."""
    fx, tr = attach(c, py, "fd_leak.py", 2, "--no-fds")
    c.go()
    c.wait_status("LEAKED", 60, proc=fx)
    R.after_leak(c, tr)
    stop(c, tr)
    reps = check_fd_stream(tr, py, fx.pid)
    for r in reps:
        t = r["tracking"]
        R.expect(r["fds"] == [] and r["stats"]["fds_opened"] == 0 and t["memory"] and not t["fds"]
                 and t["fd_tracepoints"] is None,
                 "--no-fds: fds [], fds_opened 0, tracking fds off",
                 "report #%d: %d fds, fds_opened %d, tracking %s" % (r["report"], len(r["fds"]),
                                                                    r["stats"]["fds_opened"], r["tracking"]))
    R.expect(reps[-1]["probes"]["functions"] > 0, "allocator probes attached", reps[-1]["probes"])
    R.check_target_released(fx.pid)
    return "%d reports without fds" % len(reps)


def sc_fd_text(c, py):
    """Without -j, the text report has an fd section naming the leaking file and line."""
    fx = c.start_fixture(py, "fd_leak.py", 4, "--decoy-mb", "1", "--pace", "1")
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["--fds-only", "-o", "0", "-p", str(fx.pid), "0.5"])
    end = time.monotonic() + 30
    while tr.alive() and time.monotonic() < end and "Ctrl-C" not in tr.stderr() and not tr.stdout_lines():
        time.sleep(0.1)
    c.go()
    c.wait_status("LEAKED", 60, proc=fx)
    time.sleep(1.5)
    stop(c, tr)
    out = "\n".join(tr.stdout_lines())
    line = R.marked_line("fd_leak.py", "LEAK-FILE")
    for word in ("fds: ", "open before tracing", "fd_leak.py:%d in leak_file" % line, "(32 file)"):
        R.expect(word in out, "the text report to mention %r" % word, "stdout %r" % out[-800:])
    return "%d lines of text" % len(out.splitlines())


def with_raw(fn):
    """fn forced onto the raw sys_exit tracepoint, the fallback without tracefs."""
    def sc(c, py):
        return fn(c, py, how="raw")
    sc.__doc__ = "%s\n    Through the raw sys_exit tracepoint (--fd-tracepoints raw)." % fn.__doc__
    sc.__name__ = fn.__name__ + "_raw"
    return sc


# ---------------------------------------------------------------------------------------
# The plan

def plan(interps, run):
    """[(name, fn, interp, time limit s, weight)], as run.plan() builds them."""
    global R
    R = run
    out = []
    for p in interps:
        out.append(("fd-leak[%s]" % p.name, sc_fd_leak, p, 120, 5))
        out.append(("fd-control[%s]" % p.name, sc_fd_control, p, 120, 4))
        out.append(("fd-close-range[%s]" % p.name, sc_fd_close_range, p, 120, 4))
        out.append(("fd-dup2[%s]" % p.name, sc_fd_dup2, p, 120, 4))
        out.append(("fd-exec[%s]" % p.name, sc_fd_exec, p, 120, 4))
    pyenv = [p for p in interps if not p.debian]
    pick = ([p for p in pyenv if p.version.startswith("3.12.")] or pyenv or interps or [None])[0]
    if pick is not None:
        out.append(("fd-no-fds[%s]" % pick.name, sc_fd_no_fds, pick, 90, 3))
        out.append(("fd-text[%s]" % pick.name, sc_fd_text, pick, 90, 3))
        for name, fn in (("fd-leak-raw", sc_fd_leak), ("fd-close-range-raw", sc_fd_close_range),
                         ("fd-dup2-raw", sc_fd_dup2), ("fd-exec-raw", sc_fd_exec)):
            out.append(("%s[%s]" % (name, pick.name), with_raw(fn), pick, 120, 4))
    return out
