# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end tests of pyleak-bpf under hostile or unlucky conditions, run by
tests/e2e/run.py: plan(interps, run) returns entries like run.plan()'s, and every
scenario fn(case, py) uses run.py's machinery (Case, Tracer, expect, check_stream ...)
through the module it was given.

- hostile-planted-fifo / -symlink: an unprivileged user's interpreter, deleted, with a
  FIFO or a symlink to /etc/shadow planted under its "(deleted)" name: root's tracer
  neither hangs nor opens them, and traces the process.
- hostile-replaced-exe / -libpython: the interpreter (or libpython) replaced on disk
  under the running process, as an upgrade does: traced, the leak found.
- hostile-stalled-stdout: stdout a pipe nobody reads: SIGINT still ends the tracer and
  its probes go.
- hostile-names-text / -json: names, files and fd paths with escape sequences, newlines
  and invalid UTF-8: escaped in text, kept (escaped) in JSON.
- hostile-tid: -p TID traces the thread's process, fds and exit included.
- hostile-launch-*: Ctrl-C, SIGTERM and -d stop `--` before the command is CPython.
- hostile-err-*: what the error lines say.
- hostile-caps: the capability set that caps__check (user/caps.c) names is the one that works.
- hostile-rss-compile-churn: a target that keeps compiling code does not grow the tracer.
"""
import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import termios
import time

R = None                # the run.py module, set by plan()
INTERVAL = "0.5"
DEBIAN = "/usr/bin/python3.11"
PYENV = os.environ.get("PYENV_ROOT") or "/root/.pyenv"
IN_OPEN = 0x20
IN_ACCESS = 0x01


# ---------------------------------------------------------------------------------------
# Helpers

def old_python(minor_glob):
    """The pyenv interpreter of an unsupported version (2.7, 3.6, 3.7), or Skipped."""
    import glob
    for d in sorted(glob.glob(os.path.join(PYENV, "versions", minor_glob + ".*"))):
        exe = os.path.join(d, "bin", "python" + minor_glob)
        if os.access(exe, os.X_OK):
            return exe, os.path.basename(d)
    raise R.Skipped("no pyenv CPython %s in %s/versions" % (minor_glob, PYENV))


class Watch(object):
    """inotify on paths: did anyone open or read them?"""

    def __init__(self, paths):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise R.Skipped("inotify_init1: %s" % os.strerror(ctypes.get_errno()))
        for p in paths:
            if self.libc.inotify_add_watch(self.fd, os.fsencode(p), IN_OPEN | IN_ACCESS) < 0:
                raise R.Failure("expected to watch %s, saw %s" % (p, os.strerror(ctypes.get_errno())))

    def events(self):
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return 0
        return len(data) // 16      # struct inotify_event without names (watched files)

    def close(self):
        os.close(self.fd)


def nobody_dir(c, name):
    """A directory of the case owned by uid 65534 (it plants files there)."""
    d = os.path.join(c.dir, name)
    os.mkdir(d)
    os.chown(d, R.NOBODY, R.NOBODY)
    return d


def copy_fixtures(dest, *names):
    for n in ("common.py",) + names:
        shutil.copy(os.path.join(R.FIXTURES, n), os.path.join(dest, n))


def as_nobody(argv):
    return ["setpriv", "--reuid=%d" % R.NOBODY, "--regid=%d" % R.NOBODY, "--clear-groups"] + argv


def wait_file_status(c, path, word, timeout, proc=None):
    end = min(time.monotonic() + timeout, c.deadline)
    while True:
        try:
            with open(path) as f:
                for line in f:
                    if line.split(" ", 1)[0] == word:
                        return line.strip()
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise R.Failure("expected %s in %s, saw the process exit with %s" % (word, path, proc.returncode))
        if time.monotonic() > end:
            raise R.Failure("expected %s in %s within %ds" % (word, path, timeout))
        time.sleep(0.05)


def tracer_link_ids(pid):
    """BPF link ids behind the tracer's fds (fdinfo "link_id:")."""
    ids = set()
    try:
        fds = os.listdir("/proc/%d/fdinfo" % pid)
    except OSError:
        return ids
    for fd in fds:
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    if line.startswith("link_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def live_link_ids():
    out = subprocess.run(["bpftool", "link", "list", "-j"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True, timeout=30)
    try:
        return set(l["id"] for l in json.loads(out.stdout or "[]"))
    except (ValueError, KeyError, TypeError):
        raise R.Failure("expected bpftool link list -j to give JSON, saw %r" % out.stdout[:200])


def gone_or_zombie(pids, timeout=5):
    """The pids that still run (not gone, not zombies) after timeout."""
    end = time.monotonic() + timeout
    while True:
        R.reap_orphans(pids)
        left = [p for p in pids if (R.proc_status(p) or {}).get("State", "Z")[:1] not in ("Z", "X")]
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.1)


def writer_blocked(pid):
    """A thread of pid sleeping in a pipe write: its reader does not read."""
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return False
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/wchan" % (pid, t)) as f:
                if "pipe_write" in f.read():
                    return True
        except OSError:
            pass
    return False


def wait_stalled(p, r, timeout=60):
    """Until the tracer p blocks writing to the pipe whose read end is r; bytes queued."""
    end = time.monotonic() + timeout
    queued = ctypes.c_int(0)
    while p.poll() is None and time.monotonic() < end:
        fcntl.ioctl(r, termios.FIONREAD, queued)
        if queued.value and writer_blocked(p.pid):
            return queued.value
        time.sleep(0.1)
    expect(p.poll() is None, "the tracer running while its stdout fills", "exit %s" % p.returncode)
    raise R.Failure("expected the tracer's writer to block on the full pipe within %ds, saw %d bytes "
                    "queued and no thread in pipe_write" % (timeout, queued.value))


def rss_kb(pid):
    st = R.proc_status(pid)
    expect(st is not None and "VmRSS" in st, "the tracer (pid %d) running with a VmRSS" % pid, st)
    return int(st["VmRSS"].split()[0])


def expect(cond, expected, saw):
    R.expect(cond, expected, saw)


# ---------------------------------------------------------------------------------------
# 1. Names the target's owner plants

def _planted(c, py, kind):
    """An unprivileged user runs a copy of Debian's python from a directory it owns,
    deletes it and plants a FIFO (or a symlink to /etc/shadow) under its "(deleted)"
    name; root's tracer neither hangs nor opens it, and traces the process."""
    d = nobody_dir(c, "home")
    exe = os.path.join(d, "python3")
    shutil.copy(DEBIAN, exe)
    os.chown(exe, R.NOBODY, R.NOBODY)
    copy_fixtures(d, "leak_objects.py")
    ctl = nobody_dir(c, "ctl")
    fx = c.spawn(as_nobody([exe, os.path.join(d, "leak_objects.py"), "2000", "--decoy-mb", "1",
                            "--ctl", ctl, "--timeout", str(int(c.limit + 30))]), "fixture",
                 env=R.clean_env({"PYTHONMALLOC": "malloc"}))
    ready = wait_file_status(c, os.path.join(ctl, "status"), "READY", 60, fx)
    pid = R.pid_of(ready)
    # as the owner would: its own file, its own directory
    subprocess.run(as_nobody(["rm", exe]), check=True)
    planted = exe + " (deleted)"
    if kind == "fifo":
        subprocess.run(as_nobody(["mkfifo", planted]), check=True)
        watched = planted
    else:
        subprocess.run(as_nobody(["ln", "-s", "/etc/shadow", planted]), check=True)
        watched = "/etc/shadow"
    with open("/proc/%d/maps" % pid) as f:
        expect(planted in f.read(), "the target's maps to name %r" % planted, "not there")
    watch = Watch([watched])
    try:
        watch.events()          # what happened before the tracer (nothing of ours)
        tr = c.start_tracer(["-j", "-o", "0", "-p", str(pid), INTERVAL])
        tr.wait_reports(1, 60, "a first report (a tracer blocked opening the %s never gives one)" % kind)
        opened = watch.events()
        open(os.path.join(ctl, "go"), "w").close()
        wait_file_status(c, os.path.join(ctl, "status"), "LEAKED", 60, fx)
        R.after_leak(c, tr)
        rc = tr.stop(signal.SIGINT)
        opened += watch.events()
    finally:
        watch.close()
    expect(rc == 0, "exit status 0 after SIGINT", rc)
    expect(opened == 0, "the tracer never to open %s" % watched, "%d open/read events" % opened)
    reps = R.check_stream(tr, pid=pid, coverage="full")
    ev = R.check_leak_found(reps, R.innermost("leak_objects.py", R.marked_line("leak_objects.py", "LEAK-LINE"),
                                              "make_record"), 2000)
    expect(reps[-1]["executable"] == planted, "executable %r" % planted, reps[-1]["executable"])
    return "%s not opened; %s" % (watched, ev)


def sc_planted_fifo(c, py):
    return _planted(c, py, "fifo")


def sc_planted_symlink(c, py):
    return _planted(c, py, "symlink")


sc_planted_fifo.__doc__ = sc_planted_symlink.__doc__ = _planted.__doc__


# ---------------------------------------------------------------------------------------
# 2. Replaced on disk

def sc_replaced_exe(c, py):
    """Given Debian's python copied to a path and running leak_objects.py, when a new file
    is renamed over that path (an upgrade: the running one shows "(deleted)"), then -p
    traces it and finds the leak."""
    exe = os.path.join(c.dir, "python3")
    shutil.copy(DEBIAN, exe)
    fx = c.spawn([exe, os.path.join(R.FIXTURES, "leak_objects.py"), "2000", "--decoy-mb", "1",
                  "--ctl", c.dir, "--timeout", str(int(c.limit + 30))], "fixture",
                 env=R.clean_env({"PYTHONMALLOC": "malloc"}))
    pid = R.pid_of(c.wait_status("READY", 60, proc=fx))
    new = exe + ".new"
    shutil.copy(DEBIAN, new)
    os.rename(new, exe)
    with open("/proc/%d/maps" % pid) as f:
        expect(exe + " (deleted)" in f.read(), "maps to say %s (deleted)" % exe, "not")
    tr = c.start_tracer(["-j", "-o", "0", "-p", str(pid), INTERVAL])
    tr.wait_reports(1, 60, "a first report (not 'not a CPython process')")
    c.go()
    c.wait_status("LEAKED", 60, proc=fx)
    R.after_leak(c, tr)
    rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = R.check_stream(tr, pid=pid, coverage="full")
    ev = R.check_leak_found(reps, R.innermost("leak_objects.py", R.marked_line("leak_objects.py", "LEAK-LINE"),
                                              "make_record"), 2000)
    return "replaced interpreter traced: " + ev


def sc_replaced_libpython(c, py):
    """Given a pyenv python whose libpython is a copy in the case directory (LD_LIBRARY_PATH),
    when that copy is replaced on disk, then -p traces it (the module exporting _PyRuntime
    is '(deleted)') and finds the leak."""
    minor = ".".join(py.version.split(".")[:2])
    lib = os.path.join(os.path.dirname(os.path.dirname(py.path)), "lib", "libpython%s.so.1.0" % minor)
    if not os.path.exists(lib):
        raise R.Skipped("%s has no %s (not a shared build)" % (py.path, lib))
    libdir = os.path.join(c.dir, "lib")
    os.mkdir(libdir)
    copy = os.path.join(libdir, os.path.basename(lib))
    shutil.copy(lib, copy)
    fx = c.spawn(c.fixture_argv(py, "leak_objects.py", 2000, "--decoy-mb", "1"), "fixture",
                 env=R.clean_env({"LD_LIBRARY_PATH": libdir}))
    pid = R.pid_of(c.wait_status("READY", 60, proc=fx))
    with open("/proc/%d/maps" % pid) as f:
        expect(copy in f.read(), "the fixture to map %s" % copy, "it maps another libpython")
    shutil.copy(lib, copy + ".new")
    os.rename(copy + ".new", copy)
    tr = c.start_tracer(["-j", "-o", "0", "-p", str(pid), INTERVAL])
    tr.wait_reports(1, 60, "a first report")
    c.go()
    c.wait_status("LEAKED", 60, proc=fx)
    R.after_leak(c, tr)
    rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = R.check_stream(tr, py, pid, coverage="full")
    ev = R.check_leak_found(reps, R.innermost("leak_objects.py", R.marked_line("leak_objects.py", "LEAK-LINE"),
                                              "make_record"), 2000)
    return "replaced libpython traced: " + ev


# ---------------------------------------------------------------------------------------
# 3. A reader that does not read

def start_unread_tracer(c, pid):
    """A tracer of pid reporting every 0.1 s into a one-page pipe nobody reads: (Popen,
    the pipe's read end)."""
    r, w = os.pipe()
    fcntl.fcntl(w, 1031, 4096)      # F_SETPIPE_SZ: one page fills fast
    err = open(os.path.join(c.dir, "tracer.err"), "wb")
    try:
        p = subprocess.Popen([c.opts.tool, "-T", "1000", "-o", "0", "-p", str(pid), "0.1"],
                             stdin=subprocess.DEVNULL, stdout=w, stderr=err, cwd=R.ROOT,
                             env=R.clean_env(), start_new_session=True)
    finally:
        err.close()
        os.close(w)
    with c.lock:
        c.procs.append(p)
    return p, r


def sc_stalled_stdout(c, py):
    """Given a tracer whose stdout is a pipe nobody reads, filled, when it gets SIGINT, then
    it exits before a generous limit, says on stderr that the final report was not
    written, and its BPF links (the target's probes) are gone."""
    fx = c.start_fixture(py, "leak_objects.py", 200000, "--pace", "60")
    pid = R.pid_of(c.wait_status("READY", 60, proc=fx))
    p, r = start_unread_tracer(c, pid)
    c.go()
    queued = wait_stalled(p, r)
    time.sleep(1)                   # a few more reports meet the full pipe
    links = tracer_link_ids(p.pid)
    expect(links, "the tracer to hold BPF links while tracing", "none in its fdinfo")
    os.kill(p.pid, signal.SIGINT)
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise R.Failure("expected the tracer to exit within 30 s of SIGINT with its stdout stalled, "
                        "saw it still running (wchan %s)" % open("/proc/%d/wchan" % p.pid).read())
    finally:
        os.close(r)
    errtxt = open(os.path.join(c.dir, "tracer.err")).read()
    expect("not being read" in errtxt, "a stderr line saying stdout is not being read", repr(errtxt[-300:]))
    expect(rc == 1, "exit status 1 (the final report was lost)", rc)
    left = links & live_link_ids()
    expect(not left, "the tracer's %d BPF links gone after it exited" % len(links), "still there: %s" % sorted(left))
    R.check_target_released(pid)
    return "exit %d with stdout stalled (%d bytes queued); %d links gone; %r" % (
        rc, queued, len(links), errtxt.strip().splitlines()[-1])


def sc_second_interrupt(c, py):
    """Given a tracer stuck on a stalled stdout at exit, a second SIGINT ends it at once."""
    fx = c.start_fixture(py, "leak_objects.py", 10)
    pid = R.pid_of(c.wait_status("READY", 60, proc=fx))
    p, r = start_unread_tracer(c, pid)
    wait_stalled(p, r)
    os.kill(p.pid, signal.SIGINT)
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGINT)
    try:
        rc = p.wait(timeout=15)
    finally:
        os.close(r)
    errtxt = open(os.path.join(c.dir, "tracer.err")).read()
    expect(rc != 0, "a non-zero exit status", rc)
    expect("interrupted again" in errtxt or "not being read" in errtxt,
           "a line saying it stopped at the second interrupt (or gave up on stdout)", repr(errtxt[-300:]))
    R.check_target_released(pid)
    return "exit %d: %r" % (rc, errtxt.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------
# 4. Names that attack the terminal

def _names_fixture(c, py):
    fx = c.start_fixture(py, "hostile_names.py", 3000, "--decoy-mb", "1")
    pid = R.pid_of(c.wait_status("READY", 60, proc=fx))
    return fx, pid


def sc_names_text(c, py):
    """Given a target whose leaking function, its file and its open files' paths hold escape
    sequences, newlines and invalid UTF-8, the text output has no raw control byte and no
    forged line, and shows them escaped."""
    fx, pid = _names_fixture(c, py)
    tr = c.start_tracer(["-o", "0", "-p", str(pid), "1"])
    end = time.monotonic() + 30
    while tr.alive() and time.monotonic() < end and not tr.stdout_lines():
        time.sleep(0.1)
    c.go()
    c.wait_status("LEAKED", 60, proc=fx)
    time.sleep(2.5)
    rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0", rc)
    with open(tr.out_path, "rb") as f:
        raw = f.read()
    bad = sorted(set(b for b in raw if (b < 0x20 and b != 0x0a) or b == 0x7f))
    expect(not bad, "no raw control byte in the text output", "bytes %s" % ["0x%02x" % b for b in bad])
    text = raw.decode("utf-8", "replace")
    forged = [l for l in text.splitlines() if "FORGED" in l and re.match(r"^#\d+ growing", l)]
    expect(not forged, "no report line forged by a name", forged[:2])
    for word in (r"evil\x1b[2J\x1b]0;pwned\x07\n#1 growing   999.0 GiB FORGED\xfe",
                 r"/tmp/evil\x1b[2J", r"FORGED\xff.py:2", r"file\x1b[2J\n#2 growing FORGED"):
        expect(word in text, "the text to show %r" % word, "stdout tail %r" % text[-600:])
    return "%d bytes of text, escapes shown, no control byte" % len(raw)


def sc_names_json(c, py):
    """Same target, -j: every line is valid JSON, and the leaking frame (its non-UTF-8 name
    and file kept as \\xNN text) and the files' paths are there."""
    fx, pid = _names_fixture(c, py)
    tr = c.start_tracer(["-j", "-o", "0", "-p", str(pid), INTERVAL])
    tr.wait_reports(1, 60, "a first report")
    c.go()
    c.wait_status("LEAKED", 60, proc=fx)
    R.after_leak(c, tr)
    rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0", rc)
    reps = R.check_stream(tr, pid=pid)
    func = "evil\x1b[2J\x1b]0;pwned\x07\n#1 growing   999.0 GiB FORGED\\xfe"
    fname = "/tmp/evil\x1b[2J\x1b]0;pwned\x07\n#1 growing   999.0 GiB FORGED\\xff.py"
    frames = [fr for r in reps for s in r["stacks"] for fr in s["frames"]]
    hit = [fr for fr in frames if fr["function"] == func]
    expect(hit, "a frame named %r" % func, "functions %s" % sorted(set(fr["function"] for fr in frames))[:8])
    expect(hit[0]["file"] == fname and hit[0]["line"] == 2, "its file %r line 2" % fname, hit[0])
    best = max(sum(s["count"] for s in r["stacks"] if any(fr["function"] == func for fr in s["frames"]))
               for r in reps)
    expect(abs(best - 3000) <= 0.02 * 3000, "the 3000 allocations at that frame", best)
    ex = [e for r in reps for s in r["fds"] for e in s["examples"]]
    expect(any("#2 growing FORGED" in e and "\x1b[2J\n" in e for e in ex),
           "an fd example with the file's path", ex[:3])
    return "frame %r with %d allocations, fd paths kept" % (func[:20], best)


# ---------------------------------------------------------------------------------------
# 5. -p TID

THREADED = ("import threading, time, sys\n"
            "def idle():\n"
            "    time.sleep(600)\n"
            "t = threading.Thread(target=idle, daemon=True)\n"
            "t.start()\n"
            "open(sys.argv[1], 'w').write('%d %d\\n' % (threading.get_native_id(), t.native_id))\n"
            "keep = []\n"
            "while True:\n"
            "    keep.append(open(sys.argv[1]))\n"
            "    keep = keep[-50:]\n"
            "    time.sleep(0.05)\n")


def sc_tid(c, py):
    """Given -p with a thread's id, the tool says it traces the thread's process, traces its
    fds, and notices when the process exits (exit 3)."""
    ids = os.path.join(c.dir, "ids")
    fx = c.spawn([py.path, "-c", THREADED, ids], "fixture")
    end = time.monotonic() + 30
    while not (os.path.exists(ids) and open(ids).read().endswith("\n")):
        expect(time.monotonic() < end and fx.poll() is None, "the fixture to write its ids", "nothing")
        time.sleep(0.05)
    main, tid = [int(x) for x in open(ids).read().split()]
    expect(main == fx.pid and tid != main, "a thread id other than the process's", (main, tid))
    tr = c.start_tracer(["-j", "-p", str(tid), INTERVAL])
    reps = tr.wait_reports(2, 60)
    expect(all(r["pid"] == main for r in reps), "reports for pid %d" % main, [r["pid"] for r in reps])
    expect(reps[-1]["fd_totals"]["open"] is not None and reps[-1]["fd_totals"]["open"] > 0,
           "fds of the process counted", reps[-1]["fd_totals"])
    fx.kill()
    rc = tr.wait_exit(20, "the tracer to notice the process exited")
    expect(rc == 3, "exit status 3 when the process exits", rc)
    lines = [l for l in tr.stderr().splitlines() if l.startswith("pyleak-bpf: ")]
    said = [l for l in lines if "thread of process %d" % main in l]
    expect(said, "a line saying %d is a thread of process %d" % (tid, main), lines)
    return repr(said[0])


# ---------------------------------------------------------------------------------------
# 6. Stopping `--` before it is CPython

def _launch_stop(c, argv, sig, ok_rcs, words=(), before=1.5, args=()):
    tr = c.start_tracer(list(args) + ["-j", "--"] + argv)
    end = time.monotonic() + before
    kids = []
    while time.monotonic() < end and tr.alive():
        kids = sorted(set(kids) | set(R.descendants([tr.proc.pid])))
        time.sleep(0.05)
    if sig is not None and tr.alive():
        os.kill(tr.proc.pid, sig)
    rc = tr.wait_exit(15, "the tracer to exit within 15 s")
    expect(rc in ok_rcs, "exit status in %s" % (ok_rcs,), rc)
    left = gone_or_zombie(kids)
    expect(not left, "no process of the command left behind", ["%d %s" % (p, (R.proc_status(p) or {}).get("Name"))
                                                              for p in left])
    err = tr.stderr()
    for w in words:
        expect(w in err, "stderr to say %r" % w, repr(err[-300:]))
    lines = [l for l in err.splitlines() if l.strip()]
    return "exit %s in %.1fs; %d processes ended; %r" % (rc, time.monotonic() - tr.t0, len(kids),
                                                         lines[-1] if lines else "")


def sc_launch_sleep_sigint(c, py):
    """Given -- sleep 100 (never CPython), SIGINT ends the tracer and the command."""
    return _launch_stop(c, ["sleep", "100"], signal.SIGINT, (0,), ("interrupted before",))


def sc_launch_sleep_sigterm(c, py):
    """Given -- sleep 100, SIGTERM ends the tracer and the command."""
    return _launch_stop(c, ["sleep", "100"], signal.SIGTERM, (0,), ("interrupted before",))


def sc_launch_sleep_duration(c, py):
    """Given -d 1 -- sleep 100, the duration ends the wait for CPython."""
    return _launch_stop(c, ["sleep", "100"], None, (0,), ("duration",), before=0.5, args=["-d", "1"])


def sc_launch_wrapper(c, py):
    """Given -- a shell script that runs python as a child (no exec), SIGINT ends the tracer,
    the script and the python it started."""
    script = os.path.join(c.dir, "wrapper.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n%s -c 'import time; time.sleep(100)'\necho done\n" % py.path)
    os.chmod(script, 0o755)
    return _launch_stop(c, [script], signal.SIGINT, (0,), ("interrupted before",), before=2.5)


def _launch_old(c, which):
    exe, ver = old_python(which)
    return _launch_stop(c, [exe, "-c", "import time; time.sleep(100)"], signal.SIGINT, (0, 1),
                        (), before=2.5) + " (%s)" % ver


def sc_launch_py27(c, py):
    """Given -- python2.7 sleeping, the tool stops at once, saying 2.7 is unsupported, or at
    SIGINT; nothing is left behind."""
    out = _launch_old(c, "2.7")
    expect("2.7" in out and "not supported" in out, "a line saying CPython 2.7.x is not supported", out)
    return out


def sc_launch_py36(c, py):
    """Given -- python3.6, the same."""
    out = _launch_old(c, "3.6")
    expect("not supported" in out, "a line saying CPython 3.6.x is not supported", out)
    return out


# ---------------------------------------------------------------------------------------
# 7. Error lines

def _one_line(err, *words):
    return R._one_error_line(err, *words)


def _old_attach(c, which):
    exe, ver = old_python(which)
    p = c.spawn([exe, "-c", "import time; time.sleep(60)"], "old")
    time.sleep(0.5)
    rc, out, err = c.run_tool(["-p", str(p.pid)], 30)
    expect(rc == 1, "exit status 1", rc)
    line = _one_line(err, "pid %d: CPython %s is not supported (3.8 to 3.13)" % (p.pid, ver))
    R.check_target_released(p.pid)
    return repr(line)


def sc_err_py27(c, py):
    """Given -p on a CPython 2.7 process: one line saying 2.7.x is not supported."""
    return _old_attach(c, "2.7")


def sc_err_py36(c, py):
    """Given -p on CPython 3.6: unsupported version, named."""
    return _old_attach(c, "3.6")


def sc_err_py37(c, py):
    """Given -p on CPython 3.7 (which has _PyRuntime): unsupported version, named."""
    return _old_attach(c, "3.7")


def sc_err_pid1(c, py):
    """Given -p 1 where pid 1's /proc files are closed to root (this sandbox's init), the line
    says which file was denied."""
    try:
        os.readlink("/proc/1/exe")
    except PermissionError:
        pass
    else:
        raise R.Skipped("/proc/1/exe is readable here: -p 1 would really attach to init")
    rc, out, err = c.run_tool(["-p", "1"], 20)
    expect(rc == 1, "exit status 1", rc)
    return repr(_one_line(err, "/proc/1/exe", "Permission denied"))


def sc_err_kthread(c, py):
    """Given -p of a kernel thread (kthreadd), the line says it is a kernel thread."""
    try:
        st = open("/proc/2/stat").read()
    except OSError:
        raise R.Skipped("no pid 2")
    flags = int(st[st.rindex(")") + 2:].split()[6])
    if not flags & 0x00200000:
        raise R.Skipped("pid 2 is not a kernel thread here")
    rc, out, err = c.run_tool(["-p", "2"], 20)
    expect(rc == 1, "exit status 1", rc)
    return repr(_one_line(err, "kernel thread"))


def sc_err_zombie(c, py):
    """Given -p of a zombie (exited, not reaped), the line says it has exited."""
    p = c.spawn(["true"], "zombie", reap=False)
    end = time.monotonic() + 10
    while (R.proc_status(p.pid) or {}).get("State", "")[:1] != "Z":
        expect(time.monotonic() < end, "the child to become a zombie", R.proc_status(p.pid))
        time.sleep(0.05)
    rc, out, err = c.run_tool(["-p", str(p.pid)], 20)
    expect(rc not in (0, None), "a non-zero exit status", rc)
    return repr(_one_line(err, "has exited"))


def sc_err_exits_during_attach(c, py):
    """Given targets that exit while the tool attaches (after 0.05 to 1.5 s), each run ends
    with a line saying the pid exited (never a TLS, table or probe error), exit 3."""
    seen = []
    for delay in (0.05, 0.3, 0.6, 1.0, 1.5):
        p = c.spawn([py.path, "-c", "import time; time.sleep(%s)" % delay], "short")
        time.sleep(0.03)
        rc, out, err = c.run_tool(["-j", "-p", str(p.pid), INTERVAL], 30)
        lines = [l for l in err.splitlines() if l.startswith("pyleak-bpf: ")]
        said = [l for l in lines if "exited" in l or "no such process" in l]
        expect(said, "a line saying pid %d exited (delay %.2fs)" % (p.pid, delay), lines)
        expect(not [l for l in lines if re.search(r"TLS|obj\.|table|cannot (attach|locate|read)", l)],
               "no attach-stage error for an exited target", lines)
        expect(rc in (1, 3), "exit status 3 (or 1 for no such process)", rc)
        seen.append("%.2fs:%d" % (delay, rc))
    return "exits: " + " ".join(seen)


def sc_err_dev_full(c, py):
    """Given stdout on /dev/full, the tool exits 1 with one line saying the write failed."""
    fx = c.start_fixture(py, "leak_objects.py", 10)
    pid = R.pid_of(c.wait_status("READY", 60, proc=fx))
    with open("/dev/full", "wb") as full:
        p = subprocess.run([c.opts.tool, "-p", str(pid), INTERVAL, "2"], stdin=subprocess.DEVNULL, stdout=full,
                           stderr=subprocess.PIPE, cwd=R.ROOT, env=R.clean_env(), timeout=60)
    err = p.stderr.decode()
    expect(p.returncode == 1, "exit status 1 on a write error", p.returncode)
    return repr(_one_line(err, "stdout", "No space left on device"))


def sc_stdout_closed(c, py):
    """Given stdout closed by its reader (| head), the tool stops with exit 0: quietly, and
    saying so on stderr with -v."""
    fx = c.start_fixture(py, "leak_objects.py", 10)
    pid = R.pid_of(c.wait_status("READY", 60, proc=fx))
    out = []
    for args in ([], ["-v"]):
        p = subprocess.Popen([c.opts.tool] + args + ["-j", "-p", str(pid), INTERVAL], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=R.ROOT, env=R.clean_env(),
                             start_new_session=True)
        with c.lock:
            c.procs.append(p)
        first = p.stdout.readline()
        expect(first.startswith(b"{"), "a first report", first[:80])
        p.stdout.close()
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise R.Failure("expected the tool to stop within 30 s of its stdout closing")
        err = p.stderr.read().decode()
        expect(rc == 0, "exit status 0 when the reader closed stdout", rc)
        said = "stdout was closed" in err
        expect(said == bool(args), "the closing %s on stderr%s" % ("said" if args else "not said",
                                                                 " with -v" if args else ""), repr(err[-300:]))
        out.append("%s: exit %d" % (" ".join(args) or "quiet", rc))
    return ", ".join(out)


def _usage(c, args, *words):
    rc, out, err = c.run_tool(args, 15)
    expect(rc == 2, "exit status 2 for %s" % args, rc)
    first = (err.strip().splitlines() or [""])[0]
    for w in words:
        expect(w in first, "the usage error to mention %r" % w, repr(first))
    return repr(first)


def sc_err_min_interval(c, py):
    """Given an interval under 0.1 s (1e-6 would be a report loop), a usage error says the minimum."""
    return _usage(c, ["-p", str(os.getpid()), "0.000001"], "0.1")


def sc_err_map_bounds(c, py):
    """Given --max-allocs 2^27 (gigabytes of kernel memory) or --max-stacks 2^21, a usage error
    names the bound, and --help says it."""
    a = _usage(c, ["--max-allocs", str(1 << 27), "-p", "1"], "--max-allocs", "16777216")
    b = _usage(c, ["--max-stacks", str(1 << 21), "-p", "1"], "--max-stacks", "1048576")
    _usage(c, ["--max-fds", "8", "-p", "1"], "--max-fds", "16 to")
    rc, out, err = c.run_tool(["--help"], 15)
    for w in ("16777216", "1048576", "least 0.1", "CAP_PERFMON"):
        expect(w in out, "--help to mention %r" % w, out[-400:])
    return "%s; %s" % (a, b)


# ---------------------------------------------------------------------------------------
# The capability set

def _caps_argv(c, caps, args):
    tool = os.path.join(c.dir, "pyleak-bpf")
    if not os.path.exists(tool):
        shutil.copy(c.opts.tool, tool)
        os.chmod(tool, 0o755)
    spec = ",".join("+" + x for x in caps)
    return ["setpriv", "--reuid=%d" % R.NOBODY, "--regid=%d" % R.NOBODY, "--clear-groups",
            "--inh-caps=" + spec, "--ambient-caps=" + spec, tool] + args


def _uprobe_multi():
    """Whether the kernel has uprobe_multi links (6.6+): without them uprobes are perf
    events, which need CAP_SYS_ADMIN."""
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (6, 6)


def sc_caps(c, py):
    """Given uid 65534 with CAP_BPF and CAP_PERFMON alone, the tool refuses at once naming
    CAP_SYS_PTRACE; with CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (the
    measured set for another user's process: README, Deploying; CAP_SYS_ADMIN too before
    Linux 6.6) it traces a root process under /root and finds its leak."""
    fx = c.start_fixture(py, "leak_objects.py", 2000)
    pid = R.pid_of(c.wait_status("READY", 60, proc=fx))
    p = subprocess.run(_caps_argv(c, ("bpf", "perfmon"), ["-p", str(pid)]),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    expect(p.returncode == 1, "exit status 1 without CAP_SYS_PTRACE", p.returncode)
    refused = _one_line(p.stderr.decode(), "CAP_SYS_PTRACE")
    caps = ("bpf", "perfmon", "sys_ptrace", "dac_read_search") + (() if _uprobe_multi() else ("sys_admin",))
    argv = _caps_argv(c, caps, ["-j", "-o", "0", "-p", str(pid), INTERVAL])
    out = open(os.path.join(c.dir, "tracer.out"), "wb")
    err = open(os.path.join(c.dir, "tracer.err"), "wb")
    tr = R.Tracer.__new__(R.Tracer)
    tr.case, tr.argv, tr.rc, tr.target = c, argv, None, pid
    tr.out_path, tr.err_path = out.name, err.name
    tr.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=c.dir,
                               env=R.clean_env(), start_new_session=True)
    out.close()
    err.close()
    tr.t0 = time.monotonic()
    c.tracer = tr
    tr.wait_reports(1, 60, "a first report with %s" % ", ".join("CAP_" + x.upper() for x in caps))
    c.go()
    c.wait_status("LEAKED", 60, proc=fx)
    R.after_leak(c, tr)
    rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0", rc)
    reps = R.check_stream(tr, py, pid, coverage="full")
    ev = R.check_leak_found(reps, R.innermost("leak_objects.py", R.marked_line("leak_objects.py", "LEAK-LINE"),
                                              "make_record"), 2000)
    return "without CAP_SYS_PTRACE: %r; with %s: %s" % (refused, ",".join(caps), ev)


# ---------------------------------------------------------------------------------------
# 8. A target that keeps compiling code

RSS_GROWTH_MB = 10


def sc_rss_compile_churn(c, py):
    """Given a target compiling 40000 fresh code objects with new names (at most 30 s), calling each
    (every one on a recorded stack), the tracer's VmRSS grows less than 10 MB after a
    warm-up of 15000 functions: the symbolizer's bounds (tests/unit/test_symbolize.c), the stack store's
    eviction and the collector forgetting stacks idle for a whole trend window."""
    fx = c.start_fixture(py, "compile_churn.py", 30, "--decoy-mb", "1")
    pid = R.pid_of(c.wait_status("READY", 60, proc=fx))
    # --no-census: this measures the stack and symbol bookkeeping; the census keeps its
    # own bounded read cache (up to 64 MiB) that grows with the target's heap.
    tr = c.start_tracer(["-j", "-o", "0", "--no-census", "-p", str(pid), "1"])
    tr.wait_reports(1, 60)
    c.go()
    # warmed up after 15000 functions (about 10 s here), not after a time: on a loaded
    # machine the target compiles more slowly and the tracer's tables fill later
    end = time.monotonic() + 40
    while not [l for l in c.status() if l.split()[:2] == ["PROGRESS", "15000"] or l.startswith("LEAKED")]:
        expect(time.monotonic() < end and tr.alive() and fx.poll() is None,
               "the fixture to compile 15000 functions within 40 s", c.status()[-1:])
        time.sleep(0.2)
    base = rss_kb(tr.proc.pid)
    peak = base
    while not [l for l in c.status() if l.startswith("LEAKED")]:
        expect(tr.alive() and fx.poll() is None, "tracer and fixture running", "one exited")
        peak = max(peak, rss_kb(tr.proc.pid))
        expect(time.monotonic() < c.deadline - 10, "the fixture to finish", "still compiling")
        time.sleep(1)
    compiled = int([l for l in c.status() if l.startswith("LEAKED")][0].split()[1])
    rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0", rc)
    growth = (peak - base) / 1024.0
    expect(growth < RSS_GROWTH_MB, "VmRSS to grow less than %d MB after warm-up" % RSS_GROWTH_MB,
           "%.1f MB (%d -> %d kB) over %d functions" % (growth, base, peak, compiled))
    return "VmRSS %d -> %d kB (+%.1f MB) over %d functions compiled" % (base, peak, growth, compiled)


# ---------------------------------------------------------------------------------------
# The plan

def plan(interps, run):
    """[(name, fn, interp, time limit s, weight)], as run.plan() builds them."""
    global R
    R = run
    out = []
    pyenv = [p for p in interps if not p.debian]
    debian = [p for p in interps if p.debian]
    pick = ([p for p in pyenv if p.version.startswith("3.12.")] or pyenv or [None])[0]
    old = ([p for p in pyenv if p.version.startswith("3.8.")] or pyenv or [None])[0]
    if debian:
        d = debian[0]
        out.append(("hostile-planted-fifo[%s]" % d.name, sc_planted_fifo, d, 120, 5))
        out.append(("hostile-planted-symlink[%s]" % d.name, sc_planted_symlink, d, 120, 5))
        out.append(("hostile-replaced-exe[%s]" % d.name, sc_replaced_exe, d, 120, 5))
    for p in (pick, old):
        if p is not None:
            out.append(("hostile-replaced-libpython[%s]" % p.name, sc_replaced_libpython, p, 120, 5))
    if pick is not None:
        for name, fn, limit in (("hostile-stalled-stdout", sc_stalled_stdout, 120),
                                ("hostile-second-interrupt", sc_second_interrupt, 90),
                                ("hostile-names-text", sc_names_text, 90),
                                ("hostile-names-json", sc_names_json, 90),
                                ("hostile-tid", sc_tid, 90),
                                ("hostile-launch-sleep-sigint", sc_launch_sleep_sigint, 45),
                                ("hostile-launch-sleep-sigterm", sc_launch_sleep_sigterm, 45),
                                ("hostile-launch-sleep-duration", sc_launch_sleep_duration, 45),
                                ("hostile-launch-wrapper", sc_launch_wrapper, 45),
                                ("hostile-launch-py27", sc_launch_py27, 45),
                                ("hostile-launch-py36", sc_launch_py36, 45),
                                ("hostile-err-py27", sc_err_py27, 45),
                                ("hostile-err-py36", sc_err_py36, 45),
                                ("hostile-err-py37", sc_err_py37, 45),
                                ("hostile-err-pid1", sc_err_pid1, 30),
                                ("hostile-err-kthread", sc_err_kthread, 30),
                                ("hostile-err-zombie", sc_err_zombie, 30),
                                ("hostile-err-exits-during-attach", sc_err_exits_during_attach, 120),
                                ("hostile-err-dev-full", sc_err_dev_full, 60),
                                ("hostile-stdout-closed", sc_stdout_closed, 60),
                                ("hostile-err-min-interval", sc_err_min_interval, 30),
                                ("hostile-err-map-bounds", sc_err_map_bounds, 30),
                                ("hostile-caps", sc_caps, 120),
                                ("hostile-rss-compile-churn", sc_rss_compile_churn, 120)):
            out.append(("%s[%s]" % (name, pick.name), fn, pick, limit, 4))
    return out
