# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end tests of pid and mount namespaces (containers without a container engine),
run by tests/e2e/run.py.

The target runs in a pid and mount namespace of its own, made with
`unshare --pid --mount --fork --mount-proc`, under a small `sh` as the namespace's pid 1 (as
in a pod whose pid 1 is the pause process or a shell entrypoint), so its pid there is not 1.

| name | what it checks |
|---|---|
| `ns-sidecar-attach` | the tracer inside the target's namespaces (`nsenter -t HOSTPID -p -m -- pyleak-bpf -j -p NSPID`): the leak's line is the top growing stack with N objects; `pid` and `ns_pid` in every report are the namespace's pid; the target's own shutdown ends the trace (`as_of` `shutdown`, exit 3), which BPF sees by the host pid |
| `ns-sidecar-fds` | the same with `fd_leak.py`: fds are traced at all (BPF's syscall tracepoints compare host pids), every leak line holds exactly what it leaked, the file line is the top fd stack |
| `ns-sidecar-launch` | `pyleak-bpf -- python fixture` run inside a namespace (the launch gate stops the command by its host pid): the leak on top, `pid` the command's pid in the namespace |
| `ns-sidecar-follow` | `pyleak-bpf -- python mp_pool.py` inside a namespace: the Pool's workers, announced by BPF with their host pids, are followed by their pids in the namespace; each that ran tasks has a section with the task's line on top |
| `ns-sidecar-all` | `pyleak-bpf -a` inside a namespace (the sidecar pod's command): a Python started before it and one started after it (picked up from BPF's exec event, a host pid turned back into the namespace's) each have a section with the leak on top under their namespace pids; a Python on the host is never seen |
| `ns-hidden-interp` | per pyenv build: the namespace bind-mounts the build's directory at `/opt/nshidden-python` (the host has no such path) and hides the original path; the fixture runs from there; traced from the host with `-p HOSTPID`: the leak on top, `pid` the host's, `ns_pid` the namespace's, `executable` under `/opt/nshidden-python` |

Skips say why: no `unshare`/`nsenter`, no pyenv build.
"""
import copy
import os
import shutil
import signal
import subprocess
import time

import fds as FDS
import procs as PROCS

R = None                # the run.py module, set by plan()
INTERVAL = "0.5"
LEAK_N = 20000
HIDDEN = "/opt/nshidden-python"

# The namespace's pid 1: run the command as its child (not exec'd: a pid 1 ignores signals it
# has no handler for, which would defeat the fixture's SIGALRM time limit), then outlive it a
# while, as a pod's pause process does: when a namespace's pid 1 exits the kernel kills every
# process in it, a tracer running there too, before it could print its final report.
LINGER = "s=$?; sleep 20; exit $s"
INIT = '"$@"; ' + LINGER
# The same, after hiding the interpreter: a tmpfs on /opt (the host's /opt is untouched) holds
# the bind mount, a tmpfs over the build's own directory hides its real path, and the loader
# finds libpython under the new path first (LD_LIBRARY_PATH precedes the build's RUNPATH).
HIDE = ('set -e; src=$1; shift; '
        'mount -t tmpfs -o size=1m,mode=755 nshidden /opt; mkdir %(h)s; '
        'mount --bind "$src" %(h)s; mount -t tmpfs -o size=1m,mode=755 nshidden "$src"; '
        'export LD_LIBRARY_PATH=%(h)s/lib; set +e; "$@"; ' + LINGER) % {"h": HIDDEN}


def tools_missing():
    for t in ("unshare", "nsenter", "sh"):
        if not shutil.which(t):
            return "%s not installed (util-linux)" % t
    return None


def in_namespace(c, argv, script=INIT, label="fixture"):
    """Start argv in a new pid and mount namespace (unshare, the fixture protocol's
    --ctl DIR works as usual: the namespace shares the host's filesystem)."""
    why = tools_missing()
    if why:
        raise R.Skipped(why)
    return c.spawn(["unshare", "--pid", "--mount", "--fork", "--mount-proc", "--", "sh", "-c", script, "sh"] +
                   list(argv), label)


def nspid_chain(pid):
    """NSpid of a host pid: [host pid, ..., innermost namespace's pid], or None."""
    st = R.proc_status(pid)
    if not st or "NSpid" not in st:
        return None
    return [int(x) for x in st["NSpid"].split()]


def host_pid_of(c, holder, ns_pid, timeout=30):
    """The host pid of the process that is ns_pid in holder's (the unshare's) namespace."""
    end = min(time.monotonic() + timeout, c.deadline)
    while True:
        for d in R.descendants([holder.pid]):
            chain = nspid_chain(d)
            if chain and len(chain) > 1 and chain[-1] == ns_pid:
                return d
        R.expect(holder.poll() is None and time.monotonic() < end,
                 "a process that is pid %d in the new namespace" % ns_pid,
                 "none among %s" % R.descendants([holder.pid]))
        time.sleep(0.05)


class _Via(object):
    """The case as run.Tracer sees it, with nsenter as the tool."""
    def __init__(self, case):
        self._case = case
        self.opts = copy.copy(case.opts)
        self.opts.tool = "nsenter"

    def __getattr__(self, name):
        return getattr(self._case, name)


def ns_tracer_class():
    """A run.Tracer started as `nsenter -t HOSTPID -p -m -- tool ARGS`. nsenter forks the
    tracer into the namespace and waits for it, passing its exit status, but does not
    forward signals: SIGINT goes to the tracer itself (self.inner)."""
    class Tracer(R.Tracer):
        def __init__(self, case, target, args):
            R.Tracer.__init__(self, _Via(case), ["-t", str(target), "-p", "-m", "--", case.opts.tool] +
                              list(args))
            self.inner = None
            end = time.monotonic() + 10
            while self.inner is None and self.proc.poll() is None and time.monotonic() < end:
                kids = R.descendants([self.proc.pid])
                self.inner = kids[0] if kids else None
                time.sleep(0.01)

        def stop(self, sig=signal.SIGINT, timeout=15):
            if self.alive() and self.inner:
                R.signal_pid(self.inner, sig)
            return self.wait_exit(timeout, "the tracer to exit within %ds of %s" % (
                timeout, signal.Signals(sig).name))

        def kill(self):
            kids = R.descendants([self.proc.pid])
            if self.alive() and self.inner:
                R.signal_pid(self.inner, signal.SIGINT)
                try:
                    self.proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
            kids += [k for k in R.descendants([self.proc.pid]) if k not in kids]
            for p in [self.proc.pid] + kids:
                R.signal_pid(p, signal.SIGKILL)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            return kids
    return Tracer


def start_ns_tracer(c, target, args):
    c.tracer = ns_tracer_class()(c, target, args)
    R.expect(c.tracer.inner or not c.tracer.alive(), "nsenter to start the tracer",
             "no child of nsenter within 10 s")
    return c.tracer


def leak_match():
    return R.innermost("leak_objects.py", R.marked_line("leak_objects.py", "LEAK-LINE"), "make_record")


def check_labels(reps, pid, ns_pid):
    for r in reps:
        R.expect(r["pid"] == pid and r["ns_pid"] == ns_pid, "pid %d, ns_pid %d" % (pid, ns_pid),
                 "pid %r, ns_pid %r in report #%d" % (r["pid"], r["ns_pid"], r["report"]))


def check_not_host(ns_pid, host_pid):
    R.expect(ns_pid != host_pid, "the namespace's pid to differ from the host's (else the test "
             "proves nothing)", "both %d" % ns_pid)


# ---------------------------------------------------------------------------------------
# Scenarios: fn(case, py) -> evidence string; raise run.Failure / run.Skipped

def leak_until_exit(c, tr, holder):
    """Once the tracer has reported, let the fixture leak and exit: the tracer ends with its
    -p target, exit status 3."""
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKED", 120, proc=holder)
    c.wait_status("EXIT", 60, proc=holder)
    rc = tr.wait_exit(30, "the tracer to end with its target")
    R.expect(rc == 3, "exit status 3 when the -p target exits", rc)


def sc_sidecar_attach(c, py):
    """Given leak_objects.py in its own pid and mount namespace, when the tracer runs inside
    them (nsenter -p -m) with -p and the namespace's pid, then the leak's line is the top growing
    stack with N objects, pid and ns_pid are the namespace's, and the target's shutdown ends the
    trace (as_of shutdown, exit 3)."""
    holder = in_namespace(c, c.fixture_argv(py, "leak_objects.py", LEAK_N, "--linger", "3"))
    ns_pid = R.pid_of(c.wait_status("READY", 60, proc=holder))
    host = host_pid_of(c, holder, ns_pid)
    check_not_host(ns_pid, host)
    tr = start_ns_tracer(c, host, ["-j", "-o", "0", "-p", str(ns_pid), INTERVAL])
    leak_until_exit(c, tr, holder)
    reps = R.check_stream(tr, py, ns_pid, coverage="full")
    check_labels(reps, ns_pid, ns_pid)
    ev = R.check_leak_found(reps, leak_match(), LEAK_N)
    R.expect(reps[-1].get("as_of") == "shutdown", "the final report as_of 'shutdown' (Py_FinalizeEx seen by "
             "the host pid)", reps[-1].get("as_of"))
    banner = "Attaching to pid %d " % ns_pid
    R.expect(banner in tr.stderr(), "the banner %r" % banner, tr.stderr()[:300])
    return "%s; pid %d in the namespace (host %d), as_of shutdown" % (ev, ns_pid, host)


def sc_sidecar_fds(c, py):
    """Given fd_leak.py in its own pid and mount namespace, when the tracer runs inside them with
    -p and the namespace's pid, then every leak line holds exactly the fds it leaked and the file
    line is the top fd stack."""
    FDS.R = R
    holder = in_namespace(c, c.fixture_argv(py, "fd_leak.py", FDS.LEAK_STEPS, "--decoy-mb", "1",
                                                 "--pace", "2"))
    ns_pid = R.pid_of(c.wait_status("READY", 60, proc=holder))
    host = host_pid_of(c, holder, ns_pid)
    check_not_host(ns_pid, host)
    tr = start_ns_tracer(c, host, ["-j", "-o", "0", "-T", "50", "-p", str(ns_pid), INTERVAL])
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    counts = FDS.leaked_counts(c.wait_status("LEAKED", 60, proc=holder))
    R.after_leak(c, tr)
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = FDS.check_fd_stream(tr, py, ns_pid)
    check_labels(reps, ns_pid, ns_pid)
    last = [r for r in reps if not r["final"]][-1]
    got = []
    for kind, marker, ftype in FDS.LEAK_KINDS:
        match = FDS.in_script("fd_leak.py", marker)
        n = FDS.count_of(last, match)
        R.expect(n == counts[kind], "%d fds at %s" % (counts[kind], match.what), "%d in %s" % (
            n, FDS.fds_str(last)))
        got.append("%s %d" % (kind, n))
    top = FDS.in_script("fd_leak.py", "LEAK-FILE")
    R.expect(last["fds"] and top(last["fds"][0]), "the top fd stack to be %s" % top.what, FDS.fds_str(last, 3))
    R.expect(last["stats"]["fds_opened"] > 0, "fds_opened > 0", last["stats"])
    return "%s; pid %d in the namespace (host %d)" % (", ".join(got), ns_pid, host)


def sc_sidecar_launch(c, py):
    """Given a pid and mount namespace (sh and a sleep in it), when `pyleak-bpf -- python
    leak_objects.py` runs inside it, then the command is held and released as on the host, the
    leak is the top growing stack with N objects, and pid is the command's pid there."""
    holder = in_namespace(c, ["sleep", str(int(c.limit + 30))], label="holder")
    host = host_pid_of(c, holder, 2)        # sh is 1, sleep 2
    tr = start_ns_tracer(c, host, ["-j", "-o", "0", INTERVAL, "--"] +
                         c.fixture_argv(py, "leak_objects.py", LEAK_N, "--linger", "2.5"))
    ns_pid = R.pid_of(c.wait_status("READY", 90))
    tr.wait_reports(1, 30, "a first report")
    c.go()
    c.wait_status("LEAKED", 120)
    c.wait_status("EXIT", 30)
    rc = tr.wait_exit(30, "the tracer to exit after the command")
    R.expect(rc == 0, "exit status 0 once the command finished", rc)
    reps = R.check_stream(tr, py, ns_pid, coverage="full")
    check_labels(reps, ns_pid, ns_pid)
    ev = R.check_leak_found(reps, leak_match(), LEAK_N)
    R.expect(reps[-1].get("as_of") == "shutdown", "the final report as_of 'shutdown'", reps[-1].get("as_of"))
    return "%s; command pid %d in the namespace" % (ev, ns_pid)


def sc_sidecar_follow(c, py):
    """Given a pid and mount namespace, when `pyleak-bpf -- python mp_pool.py` runs inside it (a
    fork Pool of three whose task keeps 64 KiB in the worker), then every worker BPF saw forked
    (by its host pid) is followed by its pid in the namespace: each that ran tasks has a section
    with the task's line on top, growing."""
    PROCS.R = R
    holder = in_namespace(c, ["sleep", str(int(c.limit + 30))], label="holder")
    host = host_pid_of(c, holder, 2)
    tr = start_ns_tracer(c, host, PROCS.TRACER_OPTS + ["0.5", "--"] + c.fixture_argv(
        py, "mp_pool.py", 600, "--size", str(PROCS.LEAK_BYTES), "--pace", "6", "--decoy-mb", "5"))
    parent = R.pid_of(c.wait_status("READY", 60))
    tr.wait_reports(1, 60, "a first report")
    c.go()
    c.wait_status("LEAKED", 90)
    R.after_leak(c, tr, 3)
    served = PROCS.pool_served(c)
    for w in served:        # while they live: pids of the namespace, not the host's
        chain = None
        for d in R.descendants([tr.proc.pid]):      # the launched command is the tracer's child
            ch = nspid_chain(d)
            if ch and ch[-1] == w and len(ch) > 1:
                chain = ch
        R.expect(chain is not None, "worker %d to be a pid of the namespace" % w, "no such process under the "
                 "tracer")
        check_not_host(w, chain[0])
    rc = tr.stop(signal.SIGINT, timeout=30)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = PROCS.check_reports(tr)
    match = R.innermost("mp_pool.py", R.marked_line("mp_pool.py", "POOL-LEAK"), "task")
    return "%s; parent %d in the namespace" % (PROCS.check_workers(reps, served, match, 50, parent=parent),
                                               parent)


def sc_sidecar_all(c, py):
    """Given a pid and mount namespace with a leaking Python started before the tracer and
    one started after it, and a third leaking Python on the host, when `pyleak-bpf -a` runs
    inside the namespace (the sidecar pod's command), then both of the namespace's Pythons
    have a section under their namespace pids with the leak on top, the late one is picked
    up from its exec (announced by BPF with its host pid), and the host's is never seen."""
    PROCS.R = R
    holder = in_namespace(c, ["sleep", str(int(c.limit + 30))], label="holder")
    host = host_pid_of(c, holder, 2)
    enter = ["nsenter", "-t", str(host), "-p", "-m", "--"]
    subs = dict((k, R.Case("%s-%s" % (c.name, k), c.opts, c.limit)) for k in ("before", "after", "host"))
    try:
        subs["before"].spawn(enter + subs["before"].fixture_argv(py, "leak_objects.py", LEAK_N), "fixture")
        before = R.pid_of(subs["before"].wait_status("READY", 60))
        fh = subs["host"].start_fixture(py, "leak_objects.py", LEAK_N)
        subs["host"].wait_status("READY", 60, proc=fh)
        tr = start_ns_tracer(c, host, ["-a", "--exact", "--max-overhead", "0", "-j", "-o", "0", "-T", "5",
                                            "--no-census", INTERVAL])
        tr.wait_reports(1, 60, "a first report")
        subs["after"].spawn(enter + subs["after"].fixture_argv(py, "leak_objects.py", LEAK_N), "fixture")
        after = R.pid_of(subs["after"].wait_status("READY", 60))
        end = min(time.monotonic() + 20, c.deadline)
        while not any(p["pid"] == after for r in PROCS.raw_reports(tr) for p in r["processes"]):
            R.expect(time.monotonic() < end and tr.alive(), "the late Python (pid %d in the namespace) in "
                     "a report within 20 s of its start" % after, "absent")
            time.sleep(0.1)
        for k in subs:
            subs[k].go()
        for k in ("before", "after"):
            subs[k].wait_status("LEAKED", 120)
        R.after_leak(c, tr, 3)
        rc = tr.stop(signal.SIGINT, timeout=30)
        R.expect(rc == 0, "exit status 0 after SIGINT", rc)
        reps = PROCS.check_reports(tr)
        seen = [p for r in reps for p in r["processes"] if subs["host"].dir in (p.get("cmdline") or "")]
        R.expect(not seen, "the host's Python (pid %d) never in a report" % fh.pid,
                 "as pid %s" % sorted(set(p["pid"] for p in seen)))
        ev = []
        for name, pid in (("before", before), ("after", after)):
            views = [R.target_view(r, pid) for r in reps if any(p["pid"] == pid for p in r["processes"])]
            views = [v for v in views if v.get("pid") == pid]
            R.expect(views and all(v["ns_pid"] == pid for v in views), "sections of pid %d with ns_pid %d"
                     % (pid, pid), [v.get("ns_pid") for v in views])
            ev.append("%s pid %d: %s" % (name, pid, R.check_leak_found(views, leak_match(), LEAK_N)))
        return "; ".join(ev) + "; the host's pid %d unseen" % fh.pid
    finally:
        for k in subs:
            subs[k].cleanup()


def sc_hidden_interp(c, py):
    """Given leak_objects.py in its own pid and mount namespace, run by the interpreter
    bind-mounted at /opt/nshidden-python (a path the host lacks; its real path hidden there),
    when traced from the host with -p HOSTPID, then the leak is the top growing stack with N
    objects, pid is the host's, ns_pid the namespace's, and executable the hidden path."""
    R.expect(not os.path.exists(HIDDEN), "no %s on the host (the test needs a path only the namespace has)"
             % HIDDEN, "it exists")
    prefix = os.path.dirname(os.path.dirname(py.path))
    exe = os.path.join(HIDDEN, "bin", os.path.basename(py.path))
    argv = [exe] + c.fixture_argv(py, "leak_objects.py", LEAK_N, "--linger", "3")[1:]
    holder = in_namespace(c, [prefix] + argv, script=HIDE)
    ns_pid = R.pid_of(c.wait_status("READY", 60, proc=holder))
    host = host_pid_of(c, holder, ns_pid)
    check_not_host(ns_pid, host)
    R.expect(os.readlink("/proc/%d/exe" % host) == exe, "the fixture to run %s" % exe,
             os.readlink("/proc/%d/exe" % host))
    tr = c.start_tracer(["-j", "-o", "0", "-p", str(host), INTERVAL])
    leak_until_exit(c, tr, holder)
    reps = R.check_stream(tr, py, host, coverage="full")
    check_labels(reps, host, ns_pid)
    for r in reps:
        R.expect(r["executable"] == exe, "executable %s" % exe, "%r in report #%d" % (r["executable"], r["report"]))
    ev = R.check_leak_found(reps, leak_match(), LEAK_N)
    R.expect(reps[-1].get("as_of") == "shutdown", "the final report as_of 'shutdown'", reps[-1].get("as_of"))
    return "%s; host pid %d, ns_pid %d, %s" % (ev, host, ns_pid, exe)


def skipper(why):
    def sc(c, py):
        raise R.Skipped(why)
    sc.__doc__ = "skipped: " + why
    return sc


def plan(interps, run):
    global R
    R = run
    out = []
    pyenv = [p for p in interps if not p.debian]
    pick = ([p for p in pyenv if p.version.startswith("3.12.")] or pyenv)[:1]
    if not pick:
        why = "needs a pyenv (non-PGO) build for full coverage under -p; none installed"
        for name in ("ns-sidecar-attach", "ns-sidecar-fds", "ns-sidecar-launch", "ns-sidecar-follow",
                     "ns-sidecar-all", "ns-hidden-interp"):
            out.append((name, skipper(why), None, 10, 1))
        return out
    p = pick[0]
    out.append(("ns-sidecar-attach[%s]" % p.name, sc_sidecar_attach, p, 150, 5))
    out.append(("ns-sidecar-fds[%s]" % p.name, sc_sidecar_fds, p, 120, 5))
    out.append(("ns-sidecar-launch[%s]" % p.name, sc_sidecar_launch, p, 150, 5))
    out.append(("ns-sidecar-follow[%s]" % p.name, sc_sidecar_follow, p, 150, 5))
    out.append(("ns-sidecar-all[%s]" % p.name, sc_sidecar_all, p, 180, 6))
    for q in pyenv:
        out.append(("ns-hidden-interp[%s]" % q.name, sc_hidden_interp, q, 150, 5))
    return out
