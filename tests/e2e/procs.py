# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end tests of tracing several processes at once (run by tests/e2e/run.py: plan(interps,
run) returns entries of the same kind as run.plan()).

- procs-gunicorn-launch[debian-...]: tests/fixtures/flask_leak.py under Debian's gunicorn -w 3,
  launched with `--`; a bounded load on /leak from 127.0.0.1. Every worker has a section (its
  parent the master) and the leaking line ranks first in every worker that served it.
- procs-gunicorn-attach[debian-...]: the same with gunicorn started first and `-p MASTER`: the
  workers forked before the tracer came are found and traced too.
- procs-mp-pool[...]: tests/fixtures/mp_pool.py (a fork Pool of three whose task leaks), under
  `--`: each worker's section ranks the task's line first.
- procs-no-follow[...]: the same with --no-follow: one section, the parent's, and no worker.
- procs-pid-list[...]: `-p A,B` on two fixtures: two sections, each its own leak first.
- procs-all: `-a --cgroup /pyleak-e2e-...` (a cgroup v2 group of the test's own, so that
  the other scenarios' Pythons running beside it are not selected) with five Pythons of
  different versions: a memory leak inside its own pid and mount namespaces with its
  interpreter bind-mounted at a path the host lacks (and a container-like cgroup name), an fd
  leak, a no-leak control, one started after the agent, one that exits mid-run. Each is
  labelled right (host pid, namespace pid, container id), each leak ranks first in its
  section, the control grows nothing, the late one is picked up, the exited one is reported
  as exited once and then dropped.
The JSON checked is the multi-process shape: {"report", "final", "time", "processes": [...]}.
"""
import json
import os
import signal
import threading
import time
import urllib.request

R = None                # the run.py module, set by plan()
GUNICORN = "/usr/bin/gunicorn"
LEAK_BYTES = 65536


def raw_reports(tr):
    """The tracer's stdout reports, as printed (one per line)."""
    out = []
    for line in tr.stdout_lines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def check_reports(tr):
    """Every stdout line is a multi-process report; the last (and only it) is final."""
    reps = raw_reports(tr)
    R.expect(reps, "at least one report on stdout", "none")
    for r in reps:
        R.expect(isinstance(r.get("processes"), list) and "time" in r and "report" in r,
                 "a report {report, final, time, processes: [...]}", json.dumps(r)[:300])
        for p in r["processes"]:
            R.expect(p.get("status") in ("traced", "exited", "untraceable") and isinstance(p.get("pid"), int),
                     "each process with a pid and status traced|exited|untraceable", json.dumps(p)[:300])
    finals = [i for i, r in enumerate(reps) if r["final"]]
    R.expect(finals == [len(reps) - 1], "the last report (and only it) to be final",
             "final at positions %s of %d" % (finals, len(reps)))
    return reps


def section(rep, pid):
    for p in rep["processes"]:
        if p["pid"] == pid:
            return p
    return None


def sections_str(rep):
    return "; ".join("pid %d (parent %s, %s): %s" % (
        p["pid"], p.get("parent"), p["status"],
        R.stack_str(p["stacks"][0], 1) + " %d B" % p["stacks"][0]["bytes"] if p.get("stacks") else "no stacks")
        for p in rep["processes"])


def check_workers(reps, served, match, min_served, parent=None):
    """Each pid in served (pid -> units of leak it made) with at least min_served has a section
    in the last periodic report whose top stack is match's, and that stack is growing in some
    report. Returns evidence."""
    live = [r for r in reps if not r["final"]] or reps
    last = live[-1]
    seen = []
    busy = [pid for pid, n in sorted(served.items()) if n >= min_served]
    R.expect(busy, "at least one worker that served %d leaking units" % min_served, served)
    for pid in busy:
        sec = section(last, pid)
        R.expect(sec is not None, "a section for worker pid %d" % pid, sections_str(last))
        if parent is not None:
            R.expect(sec.get("parent") == parent, "worker %d's parent %d" % (pid, parent), sec.get("parent"))
        top = sec["stacks"][0] if sec["stacks"] else None
        R.expect(top is not None and match(top), "worker %d's top stack at %s" % (pid, match.what),
                 sections_str(last))
        grew = [r["report"] for r in reps if section(r, pid) and any(
            match(s) and s["trend"] == "growing" for s in section(r, pid)["stacks"])]
        R.expect(grew, "worker %d's leak growing in some report" % pid, sections_str(last))
        R.expect(top["bytes"] >= 0.9 * served[pid] * LEAK_BYTES,
                 "worker %d's leak holding >= 90%% of %d x %d B" % (pid, served[pid], LEAK_BYTES), top["bytes"])
        seen.append("%d: %d x 64 KiB, top, growing from #%d" % (pid, served[pid], grew[0]))
    return "; ".join(seen)


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def wait_serving(c, url, alive, what):
    end = min(time.monotonic() + 90, c.deadline - 30)
    while True:
        if not alive():
            raise R.Failure("expected %s to serve %s, saw it exit" % (what, url))
        try:
            return get(url)
        except OSError:
            if time.monotonic() > end:
                raise R.Failure("expected %s to serve %s within 90 s, saw no answer" % (what, url))
            time.sleep(0.2)


def load(base, seconds, threads=4, pace=0.02):
    """GET /leak from several threads for seconds: pid -> requests it served."""
    served, lock, end = {}, threading.Lock(), time.monotonic() + seconds

    def run():
        while time.monotonic() < end:
            try:
                pid = int(get(base + "/leak").split()[1])
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
                continue
            with lock:
                served[pid] = served.get(pid, 0) + 1
            time.sleep(pace)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return served


def gunicorn_argv(port):
    return [GUNICORN, "-w", "3", "-b", "127.0.0.1:%d" % port, "--chdir", R.FIXTURES, "flask_leak:app"]


TRACER_OPTS = ["-j", "-o", "0", "-T", "5", "--no-census", "--no-fds"]


def sc_gunicorn(attach):
    def run(c, py):
        """Given a Flask app whose /leak keeps 64 KiB per request under Debian's gunicorn -w 3,
        when pyleak-bpf traces the master (launched with --, or -p MASTER once it serves) and
        /leak is loaded from 127.0.0.1 for 12 s, then every worker has a section whose parent is
        the master, and in each worker that served the leak, flask_leak.py's leak line is the
        top stack, growing, holding what it served."""
        if not os.path.exists(GUNICORN):
            raise R.Skipped("%s is not installed (Debian's gunicorn)" % GUNICORN)
        port = R.free_port()
        base = "http://127.0.0.1:%d" % port
        if attach:
            g = c.spawn(gunicorn_argv(port), "gunicorn")
            wait_serving(c, base + "/ok", lambda: g.poll() is None, "gunicorn")
            time.sleep(1)       # every worker up
            master = g.pid
            tr = c.start_tracer(TRACER_OPTS + ["-p", str(master), "1"])
        else:
            tr = c.start_tracer(TRACER_OPTS + ["1", "--"] + gunicorn_argv(port))
            wait_serving(c, base + "/ok", tr.alive, "gunicorn under pyleak-bpf")
            master = None
        tr.wait_reports(1, 60, "a first report")
        # 12 s: a worker's stack is "new" for its first reports; on a loaded machine a
        # worker served for 8 s was sometimes still "new" when the load ended
        served = load(base, 12)
        k = len(tr.reports())
        tr.wait_reports(k + 2, 30, "two reports after the load")
        rc = tr.stop(signal.SIGINT, timeout=30)
        R.expect(rc == 0, "exit status 0 after SIGINT", rc)
        reps = check_reports(tr)
        last = [r for r in reps if not r["final"]][-1]
        roots = [p for p in last["processes"] if not p.get("parent")]
        R.expect(len(roots) == 1, "one section without a parent (the master)", sections_str(last))
        if master is None:
            master = roots[0]["pid"]
        R.expect(roots[0]["pid"] == master, "the master's section, pid %d" % master, sections_str(last))
        workers = [p for p in last["processes"] if p.get("parent") == master]
        R.expect(len(workers) == 3, "three worker sections with parent %d" % master, sections_str(last))
        match = R.innermost("flask_leak.py", R.marked_line("flask_leak.py", "FLASK-LEAK"))
        ev = check_workers(reps, served, match, 20, master)
        return "master %d, workers %s; %s" % (master, ",".join(str(w["pid"]) for w in workers), ev)
    return run


def pool_served(c):
    line = c.wait_status("LEAKED", 1)
    spec = line.split("workers=", 1)[1].split()[0]
    return {int(a): int(b) for a, b in (kv.split(":") for kv in spec.split(","))}


def sc_pool(follow):
    def run(c, py):
        """Given mp_pool.py (a fork Pool of three whose task keeps 64 KiB in the worker), when
        pyleak-bpf launches it with -- (following children by default) and 600 tasks run,
        then each worker that ran tasks has a section with the task's line on top, growing;
        with --no-follow there is one section only, the parent's, without that line."""
        argv = TRACER_OPTS + ([] if follow else ["--no-follow"]) + ["0.5", "--"] + c.fixture_argv(
            py, "mp_pool.py", 600, "--size", str(LEAK_BYTES), "--pace", "6", "--decoy-mb", "5")
        tr = c.start_tracer(argv)
        c.wait_status("READY", 60)
        tr.wait_reports(1, 60, "a first report")
        c.go()
        c.wait_status("LEAKED", 90)
        R.after_leak(c, tr, 3)
        rc = tr.stop(signal.SIGINT, timeout=30)
        R.expect(rc == 0, "exit status 0 after SIGINT", rc)
        reps = check_reports(tr)
        served = pool_served(c)
        match = R.innermost("mp_pool.py", R.marked_line("mp_pool.py", "POOL-LEAK"), "task")
        last = [r for r in reps if not r["final"]][-1]
        if not follow:
            R.expect(len(last["processes"]) == 1, "one section with --no-follow", sections_str(last))
            R.expect(not any(match(s) for s in last["processes"][0]["stacks"]),
                     "no stack at the workers' leak line in the parent", sections_str(last))
            return "one section (pid %d); workers %s not traced" % (last["processes"][0]["pid"], served)
        return check_workers(reps, served, match, 50)
    return run


def sc_pid_list(c, py):
    """Given two leak_objects.py fixtures, when pyleak-bpf -p A,B traces both, then each has its
    own section (its pid, status traced) whose top stack is the fixture's make_record line with
    the count it leaked (within 2%)."""
    n = 5000
    fa = c.start_fixture(py, "leak_objects.py", n, "--size", "600", "--decoy-mb", "5")
    c.wait_status("READY", 60, proc=fa)
    # the second fixture needs its own control directory: a case holds one
    sub = R.Case(c.name + "-b", c.opts, c.limit)
    try:
        fb = sub.start_fixture(py, "leak_objects.py", 2 * n, "--size", "600", "--decoy-mb", "5")
        sub.wait_status("READY", 60, proc=fb)
        tr = c.start_tracer(["-j", "-o", "0", "-T", "5", "--no-census", "-p", "%d,%d" % (fa.pid, fb.pid),
                             R.INTERVAL])
        tr.wait_reports(1, 60, "a first report")
        c.go()
        sub.go()
        c.wait_status("LEAKED", 60, proc=fa)
        sub.wait_status("LEAKED", 60, proc=fb)
        R.after_leak(c, tr)
        rc = tr.stop(signal.SIGINT)
        R.expect(rc == 0, "exit status 0 after SIGINT", rc)
        reps = check_reports(tr)
        last = [r for r in reps if not r["final"]][-1]
        match = R.innermost("leak_objects.py", R.marked_line("leak_objects.py", "LEAK-LINE"))
        out = []
        for pid, want in ((fa.pid, n), (fb.pid, 2 * n)):
            sec = section(last, pid)
            R.expect(sec is not None and sec["status"] == "traced", "a traced section for pid %d" % pid,
                     sections_str(last))
            top = sec["stacks"][0] if sec["stacks"] else None
            R.expect(top is not None and match(top) and abs(top["count"] - want) <= 0.02 * want,
                     "pid %d's top stack at %s with count %d (2%%)" % (pid, match.what, want), sections_str(last))
            out.append("%d: %d" % (pid, top["count"]))
        R.expect(len(last["processes"]) == 2, "two sections", sections_str(last))
        return ", ".join(out)
    finally:
        sub.cleanup()


CGROUP2 = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
CONTAINER = "c0ffee" * 10 + "beef"      # 64 hex digits, as Docker names a container


def cgroup_argv(cg, argv):
    """argv run inside cgroup cg (its cgroup.procs), by a shell that execs it."""
    return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg] + argv


def ns_argv(cg, hidden_root, py, argv):
    """argv (its interpreter py) run in new pid and mount namespaces, in cgroup cg, with py's
    installation bind-mounted at /opt/pyleak-hidden (a path the host does not have: a tmpfs
    over /opt in the new mount namespace holds the mount point)."""
    inst = os.path.dirname(os.path.dirname(py.path))
    hidden = "/opt/pyleak-hidden"
    exe = os.path.join(hidden, os.path.relpath(py.path, inst))
    script = ('echo $$ > "$0/cgroup.procs" && mount -t tmpfs none /opt && mkdir -p %s && '
              'mount --bind %s %s && exec %s "$@"' % (hidden, inst, hidden, exe))
    return ["unshare", "--pid", "--mount", "--fork", "--mount-proc", "sh", "-c", script, cg] + argv[1:]


def host_pid_of(root, want_exe_prefix, timeout=30):
    """The descendant of root whose exe starts with want_exe_prefix (its host pid)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for pid in R.descendants([root]):
            try:
                if os.readlink("/proc/%d/exe" % pid).startswith(want_exe_prefix):
                    return pid
            except OSError:
                pass
        time.sleep(0.1)
    raise R.Failure("expected a process running %s under pid %d within %ds, saw none" % (
        want_exe_prefix, root, timeout))


def sc_all(pys):
    def run(c, py):
        """Given five Pythons of different versions in a cgroup of their own: A leaks memory in
        its own pid+mount namespaces with its interpreter at /opt/pyleak-hidden (absent on the
        host) in a cgroup named like a Docker container's; B leaks fds; C is a no-leak
        control; D is started after the agent; E exits mid-run. When pyleak-bpf -a --cgroup
        traces them, then each has its section labelled with its host pid (A: namespace pid 1
        and the container id), A's, D's and E's leak line and B's fd line rank first in their
        sections, C grows nothing, D is picked up, E is reported exited once and then gone."""
        if len(pys) < 5:
            raise R.Skipped("needs five interpreters, has %d" % len(pys))
        for tool in ("unshare", "mount"):
            if not any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ.get("PATH", "").split(":")):
                raise R.Skipped("%s is not installed" % tool)
        name = "pyleak-e2e-%d" % os.getpid()
        top = os.path.join(CGROUP2, name + "-%d" % int(time.monotonic() * 1000))
        inner = os.path.join(top, "docker-%s.scope" % CONTAINER)
        try:
            os.makedirs(inner)
        except OSError as e:
            raise R.Skipped("cannot make a cgroup v2 group under %s: %s" % (CGROUP2, e))
        cg_path = "/" + os.path.relpath(top, CGROUP2)
        pa, pb, pc, pd, pe = pys[:5]
        cases = {k: R.Case("%s-%s" % (c.name, k), c.opts, c.limit) for k in "ABCDE"}
        try:
            ca, cb, cc, cd, ce = (cases[k] for k in "ABCDE")
            fa = ca.spawn(ns_argv(inner, None, pa, ca.fixture_argv(pa, "leak_objects.py", 4000, "--size", "600",
                                                                   "--decoy-mb", "5", "--pace", "4")), "fixture")
            fb = cb.spawn(cgroup_argv(top, cb.fixture_argv(pb, "fd_leak.py", 10, "--decoy-mb", "5", "--pace", "4")),
                          "fixture")
            fc = cc.spawn(cgroup_argv(top, cc.fixture_argv(pc, "no_leak.py", 4000, "--size", "600",
                                                           "--decoy-mb", "5", "--pace", "4")), "fixture")
            fe = ce.spawn(cgroup_argv(top, ce.fixture_argv(pe, "leak_objects.py", 3000, "--size", "600",
                                                           "--decoy-mb", "5", "--pace", "2", "--linger", "2")),
                          "fixture")
            for k, f in (("A", fa), ("B", fb), ("C", fc), ("E", fe)):
                cases[k].wait_status("READY", 60, proc=f)
            a_host = host_pid_of(fa.pid, "/opt/pyleak-hidden/")
            R.expect(not os.path.exists("/opt/pyleak-hidden"), "the host to lack /opt/pyleak-hidden", "it exists")
            # exact and unbudgeted: this is about finding and labelling them (sampling and
            # the budget, -a's defaults, are tests/e2e/sampling.py's)
            tr = c.start_tracer(["-j", "-o", "0", "-T", "5", "--no-census", "--exact", "--max-overhead", "0",
                                 "-a", "--cgroup", cg_path, "1"])
            tr.wait_reports(1, 60, "a first report")
            fd = cd.spawn(cgroup_argv(top, cd.fixture_argv(pd, "leak_objects.py", 4000, "--size", "600",
                                                           "--decoy-mb", "5", "--pace", "4")), "fixture")
            cd.wait_status("READY", 60, proc=fd)
            for k in "ABCDE":
                cases[k].go()
            for k, f in (("A", fa), ("B", fb), ("C", fc), ("D", fd), ("E", fe)):
                cases[k].wait_status("LEAKED", 90, proc=None if k == "A" else f)
            ce.wait_status("EXIT", 30)
            R.after_leak(c, tr, 3)
            rc = tr.stop(signal.SIGINT, timeout=30)
            R.expect(rc == 0, "exit status 0 after SIGINT", rc)
            reps = check_reports(tr)
            live = [r for r in reps if not r["final"]]
            last = live[-1]
            leak = R.innermost("leak_objects.py", R.marked_line("leak_objects.py", "LEAK-LINE"))
            ctrl = R.innermost("no_leak.py", R.marked_line("no_leak.py", "CONTROL-LINE"))
            fdline = R.innermost("fd_leak.py", R.marked_line("fd_leak.py", "LEAK-FILE"))
            ev = []
            for key, pid, py_ in (("A", a_host, pa), ("D", fd.pid, pd)):
                sec = section(last, pid)
                R.expect(sec is not None and sec["python"] == py_.version,
                         "%s: a section for pid %d, python %s" % (key, pid, py_.version), sections_str(last))
                R.expect(sec["stacks"] and leak(sec["stacks"][0]), "%s: its top stack at %s" % (key, leak.what),
                         sections_str(last))
                ev.append("%s pid %d top %d B" % (key, pid, sec["stacks"][0]["bytes"]))
            sa = section(last, a_host)
            R.expect(sa["ns_pid"] == 1 and sa["container"] == CONTAINER,
                     "A labelled ns_pid 1 and container %s" % CONTAINER[:12],
                     "ns_pid %s container %r" % (sa["ns_pid"], sa["container"]))
            R.expect(section(reps[0], fd.pid) is None, "D absent from the first report (started later)",
                     sections_str(reps[0]))
            sb = section(last, fb.pid)
            R.expect(sb is not None and sb["fds"] and fdline(sb["fds"][0]),
                     "B's top fd stack at %s" % fdline.what, sb and json.dumps(sb["fds"][:2])[:400])
            sc = section(last, fc.pid)
            R.expect(sc is not None, "a section for the control pid %d" % fc.pid, sections_str(last))
            grow = [s for r in live[-3:] for s in (section(r, fc.pid) or {}).get("stacks", [])
                    if s["trend"] == "growing" and any(R.basename(fr.get("file")) == "no_leak.py"
                                                       for fr in s.get("frames") or [])]
            R.expect(not grow, "no growing stack through no_leak.py in the control's last reports",
                     "; ".join(R.stack_str(s, 2) for s in grow[:3]))
            exited = [r["report"] for r in reps if (section(r, fe.pid) or {}).get("status") == "exited"]
            R.expect(len(exited) == 1, "E (pid %d) reported exited exactly once" % fe.pid, exited)
            after = [r["report"] for r in reps if r["report"] > exited[0] and section(r, fe.pid)]
            R.expect(not after, "E gone from the reports after it exited", after)
            return "; ".join(ev) + "; B fds top %s; E exited at #%d" % (fdline.what, exited[0])
        finally:
            for k in "ABCDE":
                cases[k].cleanup()
            for d in (inner, top):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
    return run


def plan(interps, run):
    global R
    R = run
    out = []
    for p in [p for p in interps if p.debian][:1]:
        out.append(("procs-gunicorn-launch[%s]" % p.name, sc_gunicorn(False), p, 150, 8))
        out.append(("procs-gunicorn-attach[%s]" % p.name, sc_gunicorn(True), p, 150, 8))
    picks = R.debian_and_312(interps)
    for p in picks:
        out.append(("procs-mp-pool[%s]" % p.name, sc_pool(True), p, 150, 6))
    for p in picks[-1:]:
        out.append(("procs-no-follow[%s]" % p.name, sc_pool(False), p, 150, 5))
        out.append(("procs-pid-list[%s]" % p.name, sc_pid_list, p, 150, 5))
    # five versions, A to E: a pyenv 3.12 in the namespace, 3.10 leaking fds, Debian's PGO
    # 3.11 as the control, 3.13 started late, 3.9 exiting (any others if some are missing)
    def pick(minor, debian=False):
        got = [p for p in interps if p.debian == debian and p.version.startswith("3.%d." % minor)]
        return got[0] if got else None
    want = [pick(12), pick(10), pick(11, True), pick(13), pick(9)]
    rest = [p for p in interps if p not in want]
    order = [p if p else (rest.pop(0) if rest else None) for p in want]
    order = [p for p in order if p]
    if order:
        out.append(("procs-all", sc_all(order), order[0], 240, 12))
    return out
