#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end tests: the built ./pyleak-bpf against real CPython processes.

    python3 tests/e2e/run.py [-j N] [-k SUBSTRING]...  [-v] [--tool PATH] [--list] [--keep] [--repeat N]

Run from anywhere (paths are taken from this file's location); `make e2e` runs it from
the repository root.  Standard library only: it runs under Debian's /usr/bin/python3.

Interpreters: Debian's /usr/bin/python3.11 and every pyenv build
$PYENV_ROOT/versions/3.{8..13}.*/bin/python3.X (PYENV_ROOT defaults to /root/.pyenv);
a missing one prints "SKIP <interpreter>: <reason>".

Every scenario prints one of
    PASS <name>: <evidence>
    FAIL <name>: expected ..., saw ...      (then the tracer's command, stderr tail, last report)
    SKIP <name>: <reason>
and the last line is "N passed, N failed, N skipped"; the exit status is 1 if any failed.

Fixtures (tests/fixtures/, protocol in common.py) run with --ctl DIR: they append
progress lines to DIR/status (READY, LEAKING, LEAKED n, EXIT) and wait for DIR/go
before leaking, so the harness can attach first.  Every scenario has a hard time limit
and kills everything it started: the tracer gets SIGINT, then SIGKILL, and every
descendant of the tracer and of the fixture is killed and reaped.
"""
import argparse
import ctypes
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
TOLERANCE = 0.02        # counts must be within 2% of what the fixture leaked
REQUIRED_STATS = ("allocs", "frees", "no_tstate", "read_failed", "allocs_full", "stacks_full", "truncated")
TRENDS = ("growing", "steady", "shrinking", "new")
NOBODY = 65534


class Failure(Exception):
    """The scenario's expectation did not hold: "expected X, saw Y"."""


class Skipped(Exception):
    """The scenario cannot run here (its reason is printed)."""


def expect(cond, expected, saw):
    if not cond:
        raise Failure("expected %s, saw %s" % (expected, saw))


# ---------------------------------------------------------------------------------------
# Processes

def _become_subreaper():
    """Orphans of the tracers (a launched command whose tracer died) become our children,
    so they can be found and reaped; prctl(PR_SET_CHILD_SUBREAPER)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _ppid_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(d))
    return kids


def descendants(pids):
    kids = _ppid_map()
    out, todo = [], list(pids)
    while todo:
        for c in kids.get(todo.pop(), []):
            if c not in out:
                out.append(c)
                todo.append(c)
    return out


def proc_status(pid):
    """{"State": "S (sleeping)", "TracerPid": "0", ...} or None if gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return None


def signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
        return True
    except OSError:
        return False


def reap_orphans(pids):
    """Reap the pids that became our children after their parent died (subreaper).
    Only exact pids we killed: waitpid(-1) could steal a Popen's status."""
    for p in pids:
        try:
            os.waitpid(p, os.WNOHANG)
        except ChildProcessError:
            pass
        except OSError:
            pass


def clean_env(extra=None):
    """The caller's environment without PYTHON* variables (a stray PYTHONMALLOC would
    change what the tests mean), plus extra."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("PYTHON"))
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------------------
# Interpreters

class Interp(object):
    def __init__(self, name, path, version, debian):
        self.name, self.path, self.version, self.debian = name, path, version, debian

    def __repr__(self):
        return self.name


def _version_of(path):
    try:
        out = subprocess.run([path, "-c", "import platform; print(platform.python_version())"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20,
                             env=clean_env(), universal_newlines=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "does not run: %s" % e
    if out.returncode != 0:
        return None, "does not run: exit %d %s" % (out.returncode, out.stderr.strip()[-200:])
    return out.stdout.strip(), None


def discover():
    """([Interp], [(name, reason)]): Debian 3.11 and pyenv 3.8..3.13."""
    found, missing = [], []
    deb = "/usr/bin/python3.11"
    if os.path.exists(deb):
        v, why = _version_of(deb)
        if v:
            found.append(Interp("debian-" + v, deb, v, True))
        else:
            missing.append(("debian-3.11", "%s %s" % (deb, why)))
    else:
        missing.append(("debian-3.11", "%s not installed" % deb))
    root = os.environ.get("PYENV_ROOT") or "/root/.pyenv"
    for minor in range(8, 14):
        cands = []
        for d in glob.glob(os.path.join(root, "versions", "3.%d.*" % minor)):
            m = re.match(r"^3\.%d\.(\d+)$" % minor, os.path.basename(d))
            exe = os.path.join(d, "bin", "python3.%d" % minor)
            if m and os.access(exe, os.X_OK):
                cands.append((int(m.group(1)), exe))
        if not cands:
            missing.append(("pyenv-3.%d" % minor, "not installed (no %s/versions/3.%d.*/bin/python3.%d)"
                            % (root, minor, minor)))
            continue
        exe = max(cands)[1]
        v, why = _version_of(exe)
        if v:
            found.append(Interp(v, exe, v, False))
        else:
            missing.append(("pyenv-3.%d" % minor, "%s %s" % (exe, why)))
    return found, missing


# ---------------------------------------------------------------------------------------
# Reports

def free_port():
    """A TCP port free on 127.0.0.1 now."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def debian_and_312(interps):
    """One interpreter of each kind for scenarios that need not run everywhere: Debian's
    (PGO, partial under -p) and a pyenv 3.12 (or the first pyenv build)."""
    deb = [p for p in interps if p.debian]
    pyenv = [p for p in interps if not p.debian]
    return deb[:1] + ([p for p in pyenv if p.version.startswith("3.12.")] or pyenv)[:1]


def basename(path):
    return os.path.basename(path or "")


def frame_str(fr):
    return "%s:%s %s" % (basename(fr.get("file")), fr.get("line"), fr.get("function"))


def stack_str(st, depth=3):
    frames = st.get("frames") or []
    where = " <- ".join(frame_str(f) for f in frames[:depth]) or "(no frames)"
    if len(frames) > depth:
        where += " <- ..."
    return "[%s] %s count=%s bytes=%s trend=%s" % (st.get("id"), where, st.get("count"), st.get("bytes"),
                                                 st.get("trend"))


def report_str(rep, top=5):
    if rep is None:
        return "(no report)"
    head = "report #%s final=%s elapsed_s=%s pid=%s python=%s coverage=%s allocator=%s totals=%s stats=%s" % (
        rep.get("report"), rep.get("final"), rep.get("elapsed_s"), rep.get("pid"), rep.get("python"),
        rep.get("coverage"), rep.get("allocator"), json.dumps(rep.get("totals")), json.dumps(rep.get("stats")))
    lines = [head] + ["  %d. %s" % (i + 1, stack_str(s)) for i, s in enumerate((rep.get("stacks") or [])[:top])]
    return "\n".join(lines)


PROC_STATUS = ("traced", "exited", "untraceable")


def target_view(rep, pid=None):
    """A report line ({"report", "final", "exit_reason"?, "time", "elapsed_s", "processes":
    [...]}) as a scenario written for one target reads it: the process whose pid is the
    target (else the first without a parent, else the first), with the report's own fields
    beside its own, "timestamp" for "time" (its name before several processes), and the
    whole report in "_report" for scenarios about several processes."""
    procs = rep.get("processes")
    if not isinstance(procs, list):
        return rep      # not the report shape: schema_problems says so
    procs = [p for p in procs if isinstance(p, dict)]
    pick = ([p for p in procs if pid is not None and p.get("pid") == pid]
            or [p for p in procs if p.get("parent") is None] or procs or [{}])[0]
    view = dict(pick)
    for k in ("report", "final", "exit_reason", "time", "elapsed_s"):
        if k in rep:
            view[k] = rep[k]
    if "time" in rep:
        view["timestamp"] = rep["time"]
    view["_report"] = rep
    return view


def _typed(bad, obj, key, types, where):
    if key not in obj:
        bad.append("%s has no %r" % (where, key))
        return False
    if not isinstance(obj[key], types) or (isinstance(obj[key], bool) and bool not in types):
        bad.append("%s %r is %r" % (where, key, obj[key]))
        return False
    return True


def process_problems(proc, where):
    """What in one process of a report breaks the contract's JSON shape or ordering."""
    bad = []

    def typed(obj, key, types, w):
        return _typed(bad, obj, key, types, w)

    num = (int, float)
    typed(proc, "pid", (int,), where)
    typed(proc, "ns_pid", (int,), where)
    typed(proc, "comm", (str,), where)
    typed(proc, "cmdline", (str,), where)
    typed(proc, "container", (str,), where)
    typed(proc, "parent", (int, type(None)), where)
    typed(proc, "reason", (str, type(None)), where)
    if typed(proc, "status", (str,), where) and proc["status"] not in PROC_STATUS:
        bad.append("%s status %r" % (where, proc["status"]))
    for k in ("report", "final", "time", "timestamp"):
        if k in proc:
            bad.append("%s has the report's %r" % (where, k))
    if proc.get("status") == "untraceable":
        if not proc.get("reason"):
            bad.append("%s is untraceable without a reason" % where)
        for k in ("stacks", "fds", "stats", "totals"):
            if k in proc:
                bad.append("%s is untraceable but has %r" % (where, k))
        return bad
    if proc.get("status") == "exited" and not isinstance(proc.get("reason"), str):
        bad.append("%s exited without a reason" % where)
    typed(proc, "python", (str,), where)
    if typed(proc, "coverage", (str,), where) and proc["coverage"] not in ("full", "partial"):
        bad.append("%s coverage %r" % (where, proc["coverage"]))
    typed(proc, "allocator", (str,), where)
    typed(proc, "traced_s", num, where)
    if typed(proc, "totals", (dict,), where):
        for k in ("bytes", "count", "stacks"):
            typed(proc["totals"], k, (int,), where + ".totals")
    if typed(proc, "stats", (dict,), where):
        for k in REQUIRED_STATS:
            typed(proc["stats"], k, (int,), where + ".stats")
    if typed(proc, "stacks", (list,), where):
        for i, st in enumerate(proc["stacks"]):
            w = "%s.stacks[%d]" % (where, i)
            if not isinstance(st, dict):
                bad.append("%s is not an object" % w)
                continue
            typed(st, "id", (str,), w)
            for k in ("bytes", "count", "growth_bytes"):
                typed(st, k, (int,), w)
            typed(st, "growth_bytes_per_s", num, w)
            typed(st, "oldest_s", num, w)
            if typed(st, "trend", (str,), w) and st["trend"] not in TRENDS:
                bad.append("%s trend %r" % (w, st["trend"]))
            if "types" in st:
                bad.extend(stack_types_problems(st, w))
            if typed(st, "frames", (list,), w):
                for j, fr in enumerate(st["frames"]):
                    fw = "%s.frames[%d]" % (w, j)
                    if isinstance(fr, dict):
                        typed(fr, "function", (str,), fw)
                        typed(fr, "file", (str,), fw)
                        typed(fr, "line", (int,), fw)
                    else:
                        bad.append("%s is not an object" % fw)
        if not bad:
            # Growing stacks first (by bytes), then the rest by bytes.
            keys = [(0 if s["trend"] == "growing" else 1, -s["bytes"]) for s in proc["stacks"]]
            if keys != sorted(keys):
                bad.append("%s stacks not sorted growing-first then by bytes: %s" % (where, [
                    (s["trend"], s["bytes"]) for s in proc["stacks"]]))
    return bad


def schema_problems(rep):
    """What in one report (a line, or a target_view of one) breaks the contract's JSON
    shape or ordering: the report's own fields at the top, then each process."""
    raw = rep.get("_report", rep)
    bad = []
    num = (int, float)
    _typed(bad, raw, "report", (int,), "report")
    _typed(bad, raw, "final", (bool,), "report")
    _typed(bad, raw, "time", num, "report")
    _typed(bad, raw, "elapsed_s", num, "report")
    if raw.get("final") is True:
        _typed(bad, raw, "exit_reason", (str,), "the final report")
    elif "exit_reason" in raw:
        bad.append("a report not final with exit_reason %r" % raw["exit_reason"])
    for k in ("pid", "stacks", "timestamp"):
        if k in raw:
            bad.append("report has %r at the top (a process's field, or the old shape)" % k)
    if _typed(bad, raw, "processes", (list,), "report"):
        pids = [p.get("pid") for p in raw["processes"] if isinstance(p, dict)]
        if len(set(pids)) != len(pids):
            bad.append("pids repeated in processes: %s" % pids)
        for i, proc in enumerate(raw["processes"]):
            if isinstance(proc, dict):
                bad += process_problems(proc, "processes[%d]" % i)
            else:
                bad.append("processes[%d] is not an object" % i)
    return bad


def stack_types_problems(st, w):
    """A memory stack's "types" (a few of its blocks read at report time): a list of
    {kind, type, module, sampled, of, estimated_count}, the samples adding up."""
    types = st["types"]
    if not isinstance(types, list) or not types:
        return ["%s types %r" % (w, types)]
    bad = []
    for t in types:
        if not isinstance(t, dict) or t.get("kind") not in ("object", "not_an_object", "unreadable") or \
                not all(isinstance(t.get(k), int) for k in ("sampled", "of", "estimated_count")) or \
                (t["kind"] == "object") != (isinstance(t.get("type"), str) and isinstance(t.get("module"), str)):
            return ["%s types entry %r" % (w, t)]
    ofs = set(t["of"] for t in types)
    if len(ofs) != 1 or sum(t["sampled"] for t in types) != types[0]["of"] or not 1 <= types[0]["of"] <= 8:
        bad.append("%s types: samples do not add up to one 'of' (1..8): %r" % (w, types))
    elif [t["sampled"] for t in types] != sorted((t["sampled"] for t in types), reverse=True):
        bad.append("%s types not most-sampled first: %r" % (w, types))
    elif isinstance(st.get("count"), int) and types[0]["of"] > st["count"]:
        bad.append("%s types: %d sampled of %d allocations" % (w, types[0]["of"], st["count"]))
    return bad


def innermost(fname, line, func=None):
    """A predicate on stacks: innermost frame is fname:line (and function func)."""
    def match(st):
        frames = st.get("frames") or []
        if not frames:
            return False
        fr = frames[0]
        return (basename(fr.get("file")) == fname and fr.get("line") == line
                and (func is None or fr.get("function") == func))
    match.what = "%s:%d%s" % (fname, line, " " + func if func else "")
    return match


def marked_line(script, marker):
    with open(os.path.join(FIXTURES, script)) as f:
        for no, text in enumerate(f, 1):
            if text.rstrip().endswith("# " + marker):
                return no
    raise Failure("expected a line marked %r in %s, saw none" % (marker, script))


# ---------------------------------------------------------------------------------------
# One scenario's world: its directory, fixture, tracer and deadline

class Tracer(object):
    def __init__(self, case, args, env=None, user=None):
        self.case = case
        self.argv = [case.opts.tool] + list(args)
        if user is not None:
            self.argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + self.argv
        self.out_path = os.path.join(case.dir, "tracer.out")
        self.err_path = os.path.join(case.dir, "tracer.err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         cwd=ROOT, env=env or clean_env(), start_new_session=True)
        self.t0 = time.monotonic()
        self.rc = None
        self.target = None      # the process a one-target scenario reads (reports())
        for i, a in enumerate(args[:-1]):
            if a in ("-p", "--pid") and re.match(r"^\d+", str(args[i + 1])):
                self.target = int(re.match(r"^\d+", str(args[i + 1])).group(0))
                break

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout_lines(self):
        return self._read(self.out_path).split("\n")[:-1]     # complete lines only

    def stderr(self):
        return self._read(self.err_path)

    def reports(self):
        """The JSON reports on stdout so far, each as target_view() gives it: the target's
        process (self.target: the first -p PID, or None) beside the report's own fields,
        the whole line in rep["_report"]."""
        reps = []
        for line in self.stdout_lines():
            if line.startswith("{"):
                try:
                    reps.append(target_view(json.loads(line), self.target))
                except ValueError:
                    pass
        return reps

    def bad_lines(self):
        """stdout lines that are not one JSON object each (the -j contract)."""
        bad = []
        for i, line in enumerate(self.stdout_lines()):
            try:
                ok = isinstance(json.loads(line), dict)
            except ValueError:
                ok = False
            if not ok:
                bad.append("line %d: %r" % (i + 1, line[:200]))
        return bad

    def alive(self):
        return self.proc.poll() is None

    def died(self, what):
        raise Failure("expected %s, saw the tracer exit with %s after %.1fs" % (
            what, self.proc.returncode, time.monotonic() - self.t0))

    def wait_reports(self, n, timeout, what=None):
        what = what or "%d report(s)" % n
        end = min(time.monotonic() + timeout, self.case.deadline)
        while True:
            reps = self.reports()
            if len(reps) >= n:
                return reps
            if not self.alive():
                reps = self.reports()
                if len(reps) >= n:
                    return reps
                self.died(what)
            if time.monotonic() > end:
                raise Failure("expected %s within %.0fs, saw %d" % (what, timeout, len(reps)))
            time.sleep(0.05)

    def wait_exit(self, timeout, what="the tracer to exit"):
        try:
            self.rc = self.proc.wait(timeout=max(0.1, min(timeout, self.case.deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            raise Failure("expected %s within %.0fs, saw it still running" % (what, timeout))
        return self.rc

    def stop(self, sig=signal.SIGINT, timeout=15):
        """Ask the tracer to finish (final report) and wait for it."""
        if self.alive():
            signal_pid(self.proc.pid, sig)
        return self.wait_exit(timeout, "the tracer to exit within %ds of %s" % (
            timeout, signal.Signals(sig).name))

    def kill(self):
        """SIGINT, then SIGKILL for it and every descendant (a launched command too)."""
        if self.alive():
            signal_pid(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        kids = descendants([self.proc.pid])
        if self.alive():
            signal_pid(self.proc.pid, signal.SIGKILL)
        for p in kids:
            signal_pid(p, signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        return kids


class Case(object):
    def __init__(self, name, opts, limit):
        self.name, self.opts, self.limit = name, opts, limit
        self.dir = tempfile.mkdtemp(prefix="pyleak-e2e-")
        os.chmod(self.dir, 0o755)
        self.start = time.monotonic()
        self.deadline = self.start + limit
        self.tracer = None
        self.procs = []         # Popen objects started directly (fixtures, helpers)
        self.lock = threading.Lock()

    # -- fixtures
    def fixture_argv(self, py, script, *args):
        return [py.path, os.path.join(FIXTURES, script)] + [str(a) for a in args] + [
            "--ctl", self.dir, "--timeout", str(int(self.limit + 30))]

    def spawn(self, argv, label, env=None, reap=True):
        out = open(os.path.join(self.dir, label + ".out"), "wb")
        err = open(os.path.join(self.dir, label + ".err"), "wb")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=ROOT,
                                 env=env or clean_env(), start_new_session=True)
        finally:
            out.close()
            err.close()
        with self.lock:
            self.procs.append(p)
        if reap:
            # Reap at once, as a shell or supervisor would: a zombie still "exists".
            threading.Thread(target=p.wait, daemon=True).start()
        return p

    def start_fixture(self, py, script, *args, **kw):
        return self.spawn(self.fixture_argv(py, script, *args), "fixture", env=kw.get("env"),
                          reap=kw.get("reap", True))

    def status(self):
        try:
            with open(os.path.join(self.dir, "status")) as f:
                return [l.rstrip("\n") for l in f if l.endswith("\n")]
        except OSError:
            return []

    def wait_status(self, word, timeout, proc=None):
        """Wait for the fixture's status line starting with word; fail early if the fixture
        (proc) or the tracer that launched it died."""
        end = min(time.monotonic() + timeout, self.deadline)
        while True:
            for line in self.status():
                if line.split(" ", 1)[0] == word:
                    return line
            if proc is not None and proc.poll() is not None:
                raise Failure("expected the fixture to say %s, saw it exit with %s (status %s)" % (
                    word, proc.returncode, self.status()))
            if self.tracer is not None and proc is None and not self.tracer.alive():
                for line in self.status():
                    if line.split(" ", 1)[0] == word:
                        return line
                self.tracer.died("the launched fixture to say %s (status so far %s)" % (word, self.status()))
            if time.monotonic() > end:
                raise Failure("expected the fixture to say %s within %.0fs, saw status %s" % (
                    word, timeout, self.status()))
            time.sleep(0.05)

    def go(self):
        open(os.path.join(self.dir, "go"), "w").close()

    def start_tracer(self, args, env=None, user=None):
        self.tracer = Tracer(self, args, env=env, user=user)
        return self.tracer

    def run_tool(self, args, timeout, user=None, env=None):
        """Run the tool to completion (errors, help): (rc, stdout, stderr)."""
        tr = self.start_tracer(args, user=user, env=env)
        tr.wait_exit(timeout, "the tool to exit")
        return tr.rc, "\n".join(tr.stdout_lines()), tr.stderr()

    # -- the end of every scenario
    def strays(self):
        """Processes whose command line names this case's directory (a launched fixture
        orphaned by its tracer): nothing else has it."""
        out = []
        key = self.dir.encode()
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/cmdline" % d, "rb") as f:
                        if key in f.read():
                            out.append(int(d))
                except OSError:
                    pass
        return out

    def cleanup(self, remove=True):
        with self.lock:
            procs = list(self.procs)
        killed = []
        if self.tracer is not None:
            killed += self.tracer.kill()
        kids = descendants([p.pid for p in procs])
        for p in procs:
            if p.poll() is None:
                signal_pid(p.pid, signal.SIGKILL)
        for k in kids:
            signal_pid(k, signal.SIGKILL)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        strays = self.strays()
        for p in strays:
            signal_pid(p, signal.SIGKILL)
        reap_orphans(killed + kids + strays)
        if remove and not self.opts.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Checks shared by the scenarios

def check_stream(tr, py=None, pid=None, coverage=None, allocator=None, ended=True):
    """Every stdout line is a JSON report of the right shape for this target; the last one
    (and only it) is final when the tracer has ended."""
    bad = tr.bad_lines()
    expect(not bad, "only JSON objects on stdout", "; ".join(bad[:3]))
    reps = tr.reports()
    expect(reps, "at least one report on stdout", "none")
    for r in reps:
        probs = schema_problems(r)
        expect(not probs, "report #%s to follow the JSON contract" % r.get("report"), "; ".join(probs[:4]))
    nums = [r["report"] for r in reps]
    expect(nums == sorted(nums) and len(set(nums)) == len(nums), "increasing report numbers", nums)
    finals = [i for i, r in enumerate(reps) if r["final"]]
    if ended:
        expect(finals == [len(reps) - 1], "the last report (and only it) to be final",
               "final at positions %s of %d" % (finals, len(reps)))
    stats = reps[-1]["stats"]
    for k in ("stacks_full", "allocs_full", "agg_full"):
        expect(stats[k] == 0, "no full map with these small fixtures (%s 0)" % k,
               "%s %d in report #%d" % (k, stats[k], reps[-1]["report"]))
    for r in reps:
        if py is not None:
            expect(r["python"] == py.version, "python %r" % py.version, "%r in report #%d" % (r["python"], r["report"]))
        if pid is not None:
            expect(r["pid"] == pid, "pid %d" % pid, "%r in report #%d" % (r["pid"], r["report"]))
        if coverage is not None:
            expect(r["coverage"] == coverage, "coverage %r" % coverage,
                   "%r in report #%d" % (r["coverage"], r["report"]))
        if allocator is not None:
            expect(r["allocator"] == allocator, "allocator %r" % allocator,
                   "%r in report #%d" % (r["allocator"], r["report"]))
    return reps


def check_leak_found(reps, match, n=None, tol=TOLERANCE):
    """The leak's stack is the top stack of the last report in which it is growing, and (if n)
    its count reaches n within tol while the target is alive.  Returns evidence."""
    live = [r for r in reps if not r["final"]] or reps
    growing = [r for r in reps if any(match(s) and s["trend"] == "growing" for s in r["stacks"])]
    seen = ["#%d:%s" % (r["report"], ",".join(s["trend"] for s in r["stacks"] if match(s)) or "-") for r in reps]
    expect(growing, "a stack at %s with trend 'growing' in some report" % match.what,
           "trends per report %s" % " ".join(seen))
    last = growing[-1]
    top = last["stacks"][0]
    expect(match(top), "the top stack of report #%d (where %s grows) to be %s" % (
        last["report"], match.what, match.what), stack_str(top))
    evidence = "top of report #%d" % last["report"]
    if n is not None:
        counts = [max([s["count"] for s in r["stacks"] if match(s)] or [0]) for r in live]
        best = max(counts)
        expect(abs(best - n) <= tol * n, "the count at %s within %d%% of %d" % (match.what, tol * 100, n),
               "%d (per report %s)" % (best, counts))
        evidence += ", count %d of %d" % (best, n)
    return evidence


def check_target_released(pid):
    """After the tracer is gone the target runs on: not stopped, not traced."""
    st = proc_status(pid)
    expect(st is not None, "the target pid %d to be still running after the tracer exited" % pid, "it is gone")
    expect(st.get("State", "")[:1] not in ("T", "t", "Z", "X"), "target pid %d running" % pid,
           "State %s" % st.get("State"))
    expect(st.get("TracerPid", "0").strip() == "0", "target pid %d not ptrace'd" % pid,
           "TracerPid %s" % st.get("TracerPid"))


def pid_of(ready):
    m = re.search(r"\bpid=(\d+)", ready)
    expect(m, "a READY line with pid=", ready)
    return int(m.group(1))


def after_leak(case, tr, more=2):
    """Once LEAKED: let `more` further reports come, so the whole leak is in a report."""
    k = len(tr.reports())
    tr.wait_reports(k + more, 30, "%d reports after the leak" % more)


# ---------------------------------------------------------------------------------------
# Scenarios: fn(case, py) -> evidence string; raise Failure / Skipped

LEAK_N = 20000
THREAD_N = 1500
CONTAINER_N = 400000
INTERVAL = "0.5"


def attach_during_leak(c, py, fixture_args, tracer_args, env=None, coverage=None):
    """leak_objects.py (LEAK_N, fixture_args) idling, pyleak-bpf -j -o 0 tracer_args -p PID
    attached, the leak run, SIGINT after two more reports: exit 0, the leak's line the top
    growing stack with LEAK_N objects, the target released. (tracer, reports, evidence)"""
    fx = c.start_fixture(py, "leak_objects.py", LEAK_N, *fixture_args)
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(tracer_args + ["-j", "-o", "0", "-p", str(fx.pid), INTERVAL], env=env)
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    after_leak(c, tr)
    rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = check_stream(tr, py, fx.pid, coverage=coverage)
    ev = check_leak_found(reps, innermost("leak_objects.py", marked_line("leak_objects.py", "LEAK-LINE"),
                                          "make_record"), LEAK_N)
    check_target_released(fx.pid)
    return tr, reps, ev


def sc_attach_full(c, py):
    """Given leak_objects.py idling under a pyenv build (default allocator), when pyleak-bpf -p
    attaches and the leak runs, then the leak's line is the top growing stack with N objects."""
    tr, reps, ev = attach_during_leak(c, py, [], [], coverage="full")
    return "%s; %d reports, allocator %s" % (ev, len(reps), reps[-1]["allocator"])


def kernel_has_sessions():
    """Whether this kernel has uprobe sessions (6.13+: the kfunc bpf_session_is_return in
    its BTF), which pyleak-bpf then uses for the allocators."""
    try:
        with open("/sys/kernel/btf/vmlinux", "rb") as f:
            return b"\0bpf_session_is_return\0" in f.read()
    except OSError:
        return False


UPROBE_WAYS = {"multi": "uprobe_multi links; no session links (PYLEAK_BPF_UPROBES=multi)",
               "perf": "uprobes: perf events, one per probe (PYLEAK_BPF_UPROBES=perf)"}


def sc_uprobes(way):
    def sc(c, py):
        """Given leak_objects.py and PYLEAK_BPF_UPROBES=way (the attach paths the default, session
        links where the kernel has them, replaces), when pyleak-bpf -v -p attaches and the leak
        runs, then -v names the path, the leak is the top growing stack with N objects (exact),
        no return was skipped (each has its own return probe), and the target runs on."""
        # 633-byte objects: they reach libc on Debian's PGO build too (partial coverage)
        tr, reps, ev = attach_during_leak(c, py, ["--size", "600"], ["-v", "--no-census"],
                                          env=clean_env({"PYLEAK_BPF_UPROBES": way}))
        err = tr.stderr()
        expect(UPROBE_WAYS[way] in err, "-v to say %r" % UPROBE_WAYS[way], err[-600:])
        st = reps[-1]["stats"]
        expect(st["returns_skipped"] == 0 and st["leaf_kept"] == 0, "no return skipped, no leaf counted",
               "returns_skipped %d, leaf_kept %d" % (st["returns_skipped"], st["leaf_kept"]))
        return "%s; coverage %s, %d calls, %d nested" % (ev, reps[-1]["coverage"], st["calls"], st["nested"])
    sc.__doc__ = sc.__doc__.replace("=way", "=" + way)
    return sc


def sc_launch(c, py):
    """Given pyleak-bpf -- python leak_objects.py, when the fixture leaks and then exits, then the
    run has full coverage (Debian: PYTHONMALLOC=malloc), the leak is the top growing stack with N objects,
    and the tracer exits 0 after a final report."""
    tr = c.start_tracer(["-j", "-o", "0", INTERVAL, "--"] +
                        c.fixture_argv(py, "leak_objects.py", LEAK_N, "--linger", "2.5"))
    ready = c.wait_status("READY", 90)
    pid = pid_of(ready)
    if py.debian:
        # Only the PGO build needs PYTHONMALLOC=malloc for full coverage.
        expect("pythonmalloc=malloc" in ready, "the launched command to run with PYTHONMALLOC=malloc", ready)
    tr.wait_reports(1, 30, "a first report")
    c.go()
    c.wait_status("LEAKED", 120)
    c.wait_status("EXIT", 30)
    rc = tr.wait_exit(30, "the tracer to exit after the command")
    expect(rc == 0, "exit status 0 once the command finished", rc)
    reps = check_stream(tr, py, pid, coverage="full", allocator="malloc" if py.debian else None)
    ev = check_leak_found(reps, innermost("leak_objects.py", marked_line("leak_objects.py", "LEAK-LINE"),
                                          "make_record"), LEAK_N)
    return "%s; %d reports" % (ev, len(reps))


def _container(c, py, kind, marker, func, launch):
    args = [CONTAINER_N, "--kind", kind]
    if launch:
        tr = c.start_tracer(["-j", "-o", "0", "--keep-allocator", INTERVAL, "--"] +
                            c.fixture_argv(py, "leak_container.py", *args))
        ready = c.wait_status("READY", 90)
        pid = pid_of(ready)
        expect("pythonmalloc=-" in ready, "--keep-allocator to leave PYTHONMALLOC unset", ready)
        tr.wait_reports(1, 30, "a first report")
        fx = None
    else:
        fx = c.start_fixture(py, "leak_container.py", *args)
        c.wait_status("READY", 60, proc=fx)
        pid = fx.pid
        tr = c.start_tracer(["-j", "-o", "0", "-p", str(pid), INTERVAL])
        tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    after_leak(c, tr)
    rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = check_stream(tr, py, pid, coverage="partial", allocator="pymalloc")
    match = innermost("leak_container.py", marked_line("leak_container.py", marker), func)
    ev = check_leak_found(reps, match)
    biggest = max([s["bytes"] for r in reps for s in r["stacks"] if match(s)] or [0])
    if kind == "list":
        # The list's storage holds at least 8 bytes per item once all are appended.
        expect(biggest >= 0.95 * 8 * CONTAINER_N, "the list storage at %s to reach %d bytes" % (
            match.what, 8 * CONTAINER_N), "at most %d bytes" % biggest)
    if fx is not None:
        check_target_released(pid)
    return "partial coverage; %s; storage %d bytes" % (ev, biggest)


def sc_partial_list(c, py):
    """Given the stripped PGO build with its default allocator, when pyleak-bpf -p watches a list
    growing, then coverage is partial and the append line is the top growing stack."""
    return _container(c, py, "list", "GROW-LINE", "remember_list", launch=False)


def sc_partial_dict(c, py):
    """Same, with a dict whose keys table grows."""
    return _container(c, py, "dict", "GROW-LINE-DICT", "remember_dict", launch=False)


def sc_keep_allocator(c, py):
    """Given --keep-allocator under --, the Debian build keeps pymalloc: coverage partial, and a
    growing list is still found."""
    return _container(c, py, "list", "GROW-LINE", "remember_list", launch=True)


def sc_control(c, py):
    """Given no_leak.py (same decoy, churn and records, all freed) under --, when the work is
    done and the churn settles, then no stack of the fixture is growing and totals stay flat."""
    tr = c.start_tracer(["-j", "-o", "250", INTERVAL, "--"] +
                        c.fixture_argv(py, "no_leak.py", LEAK_N, "--linger", "4"))
    ready = c.wait_status("READY", 90)
    pid = pid_of(ready)
    tr.wait_reports(1, 30, "a first report")
    c.go()
    c.wait_status("LEAKED", 120)
    done_at = len(tr.reports())
    c.wait_status("EXIT", 30)
    rc = tr.wait_exit(30, "the tracer to exit after the command")
    expect(rc == 0, "exit status 0 once the command finished", rc)
    reps = check_stream(tr, py, pid, coverage="full")
    control = innermost("no_leak.py", marked_line("no_leak.py", "CONTROL-LINE"))
    for r in reps:
        hit = [s for s in r["stacks"] if control(s) and s["trend"] == "growing"]
        expect(not hit, "the freed records (%s) never growing" % control.what,
               "report #%d: %s" % (r["report"], stack_str(hit[0]) if hit else ""))
    window = [r for r in reps[done_at + 2:] if not r["final"]]
    expect(len(window) >= 2, "at least 2 reports after the work settled", len(window))
    for r in window:
        hit = [s for s in r["stacks"] if s["trend"] == "growing"
               and any(basename(f.get("file")) == "no_leak.py" for f in s["frames"])]
        expect(not hit, "no growing stack through no_leak.py after the work", "report #%d: %s" % (
            r["report"], "; ".join(stack_str(s) for s in hit[:3])))
    totals = [r["totals"]["bytes"] for r in window]
    expect(totals[-1] - totals[0] < 256 * 1024, "totals flat after the work (growth < 256 KiB)",
           "bytes per report %s" % totals)
    return "%d settled reports, totals %s" % (len(window), totals)


def sc_threads(c, py):
    """Given four threads leaking N, 2N, 3N, 4N objects from four lines, then each line is found
    with its own count (pyenv: -p; Debian: -- so coverage is full)."""
    if py.debian:
        tr = c.start_tracer(["-j", "-o", "0", "-T", "20", INTERVAL, "--"] +
                            c.fixture_argv(py, "threads.py", THREAD_N, "--linger", "2.5"))
        pid = pid_of(c.wait_status("READY", 90))
        fx = None
        tr.wait_reports(1, 30, "a first report")
    else:
        fx = c.start_fixture(py, "threads.py", THREAD_N)
        c.wait_status("READY", 60, proc=fx)
        pid = fx.pid
        tr = c.start_tracer(["-j", "-o", "0", "-T", "20", "-p", str(pid), INTERVAL])
        tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    leaked = c.wait_status("LEAKED", 120, proc=fx)
    counts = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", leaked))
    if fx is None:
        c.wait_status("EXIT", 30)
        rc = tr.wait_exit(30, "the tracer to exit after the command")
    else:
        after_leak(c, tr)
        rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0", rc)
    reps = check_stream(tr, py, pid, coverage="full")
    live = [r for r in reps if not r["final"]] or reps
    seen = []
    for name in ("alpha", "beta", "gamma", "delta"):
        match = innermost("threads.py", marked_line("threads.py", "LEAK-LINE-" + name), "leak_" + name)
        got = max(max([s["count"] for s in r["stacks"] if match(s)] or [0]) for r in live)
        want = counts[name]
        expect(abs(got - want) <= TOLERANCE * want, "thread %s's line %s with count within 2%% of %d" % (
            name, match.what, want), "%d (last report: %s)" % (got, "; ".join(
                stack_str(s, 1) for s in live[-1]["stacks"][:6])))
        seen.append("%s %d/%d" % (name, got, want))
    if fx is not None:
        check_target_released(pid)
    return ", ".join(seen)


def sc_stale_code(c, py):
    """Given allocations made by a function whose code object is freed before the report, and
    then by 5000 new functions likely to reuse its memory, then each allocation keeps the name,
    file and line of the code that made it (no garbage, no frame dropped, no swap)."""
    n = 5000
    fx = c.start_fixture(py, "stale_code.py", n)
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j", "-o", "0", "-T", "100000", "-p", str(fx.pid), INTERVAL])
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    after_leak(c, tr)
    rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = check_stream(tr, py, fx.pid, coverage="full")
    last = [r for r in reps if not r["final"]][-1]
    size = 200 + 33      # bytes(200); the other_N functions make bytes(216)

    def where(sz):
        """Where the stacks holding allocations of exactly this size say they come from."""
        agg = {}
        for s in last["stacks"]:
            if s["count"] and s["bytes"] == sz * s["count"]:
                k = re.sub(r"other_\d+$", "other_N", frame_str(s["frames"][0]) if s["frames"] else "(no frames)")
                agg[k] = agg.get(k, 0) + s["count"]
        return ", ".join("%d at %r" % (v, k) for k, v in sorted(agg.items(), key=lambda kv: -kv[1])[:6])

    problems = []
    transient = innermost("transient_module.py", 3, "transient_maker")
    got = sum(s["count"] for s in last["stacks"] if transient(s))
    if abs(got - n) > TOLERANCE * n:
        problems.append("expected %d allocations at %s (its code object is freed by now), saw %d; the %d-byte "
                        "ones are attributed to: %s" % (n, transient.what, got, size, where(size)))
    other = re.compile(r"^other_\d+$")
    got2 = sum(s["count"] for s in last["stacks"] if s["frames"] and basename(s["frames"][0]["file"]) ==
               "other_module.py" and s["frames"][0]["line"] == 3 and other.match(s["frames"][0]["function"]))
    if abs(got2 - n) > TOLERANCE * n:
        problems.append("expected %d allocations at other_module.py:3 other_N, saw %d; the %d-byte ones are "
                        "attributed to: %s" % (n, got2, size + 16, where(size + 16)))
    printable = re.compile(r"^[\x20-\x7e]+$")
    garbage = [fr for st in last["stacks"] for fr in st["frames"]
               if not (printable.match(fr["function"]) and printable.match(fr["file"]))]
    if garbage:
        problems.append("expected every frame's function and file to be readable text, saw %d frames like %s" % (
            len(garbage), "; ".join(repr(fr) for fr in garbage[:3])))
    if problems:
        raise Failure(" | ".join(problems))
    return "transient %d/%d, other %d/%d" % (got, n, got2, n)


def sc_text_output(c, py):
    """Without -j, the human-readable report names the leak's file and function."""
    if py.debian:
        raise Skipped("needs a pyenv (non-PGO) build for full coverage under -p; none installed")
    fx = c.start_fixture(py, "leak_objects.py", 5000, "--pace", "1")
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-o", "0", "-p", str(fx.pid), "1"])
    end = time.monotonic() + 30     # attached: the banner, or a first report
    while tr.alive() and time.monotonic() < end and "Ctrl-C" not in tr.stderr() and not tr.stdout_lines():
        time.sleep(0.1)
    time.sleep(1.5)
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    time.sleep(2.5)
    rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0 after SIGINT", rc)
    out = "\n".join(tr.stdout_lines())
    for word in ("leak_objects.py", "make_record", str(marked_line("leak_objects.py", "LEAK-LINE"))):
        expect(word in out, "the text report to mention %r" % word, "stdout %r" % out[-600:])
    return "%d lines of text" % len(out.splitlines())


def _filtered_run(c, py, args, more_reports):
    if py.debian:
        raise Skipped("needs a pyenv (non-PGO) build for full coverage under -p; none installed")
    fx = c.start_fixture(py, "leak_objects.py", LEAK_N)
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j"] + args + ["-p", str(fx.pid), INTERVAL])
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    after_leak(c, tr, more_reports)
    rc = tr.stop(signal.SIGINT)
    expect(rc == 0, "exit status 0 after SIGINT", rc)
    return check_stream(tr, py, fx.pid, coverage="full")


def sc_filters_in(c, py):
    """Given -z 200 -Z 240 -T 3 -o 1000, only allocations of 200..240 bytes at least 1 s old
    are reported, at most 3 stacks, and the 233-byte leak is there with its count."""
    reps = _filtered_run(c, py, ["-z", "200", "-Z", "240", "-T", "3", "-o", "1000"], 4)
    for r in reps:
        expect(len(r["stacks"]) <= 3, "at most 3 stacks (-T 3)", "%d in report #%d" % (len(r["stacks"]),
                                                                                 r["report"]))
        for st in r["stacks"]:
            expect(200 * st["count"] <= st["bytes"] <= 240 * st["count"], "only 200..240-byte allocations",
                   "report #%d: %s" % (r["report"], stack_str(st)))
            expect(st["oldest_s"] >= 1.0, "every reported allocation at least 1 s old (-o 1000)",
                   "oldest_s %s in report #%d: %s" % (st["oldest_s"], r["report"], stack_str(st)))
    return check_leak_found(reps, innermost("leak_objects.py", marked_line("leak_objects.py", "LEAK-LINE"),
                                            "make_record"), LEAK_N)


def sc_filters_out(c, py):
    """Given -z 240, the 233-byte leak is never reported."""
    reps = _filtered_run(c, py, ["-z", "240", "-o", "0"], 2)
    match = innermost("leak_objects.py", marked_line("leak_objects.py", "LEAK-LINE"))
    for r in reps:
        hit = [s for s in r["stacks"] if match(s)]
        expect(not hit, "no stack at %s with -z 240" % match.what, "report #%d: %s" % (
            r["report"], stack_str(hit[0]) if hit else ""))
        for st in r["stacks"]:
            expect(st["bytes"] >= 240 * st["count"], "only allocations of 240 bytes or more",
                   "report #%d: %s" % (r["report"], stack_str(st)))
    return "%d reports without the leak" % len(reps)


# -- the bundled demo

DEMO = os.path.join(ROOT, "demo", "leaky_service.py")


def _demo_match():
    with open(os.path.join(ROOT, "demo", "response_cache.py")) as f:
        line = [no for no, text in enumerate(f, 1) if "# LEAK:" in text]
    expect(len(line) == 1, "one line marked '# LEAK:' in demo/response_cache.py", line)

    def match(st):
        fr = (st.get("frames") or [{}])[0]
        return (basename(fr.get("file")) == "response_cache.py" and fr.get("line") == line[0]
                and (fr.get("function") or "").split(".")[-1] == "remember")
    match.what = "response_cache.py:%d remember" % line[0]
    return match


def sc_demo_launch(c, py):
    """Given `pyleak-bpf --duration 10 2 -- python demo/leaky_service.py` (what make demo runs,
    shorter), the cache's remember() line is the top growing stack."""
    tr = c.start_tracer(["-j", "-o", "0", "--duration", "10", "2", "--", py.path, DEMO, "--seconds", "60"])
    rc = tr.wait_exit(60, "the tracer to exit after --duration 10")
    expect(rc == 0, "exit status 0 after --duration", rc)
    reps = check_stream(tr, py, coverage="full")
    return check_leak_found(reps, _demo_match())


def sc_demo_attach_partial(c, py):
    """Given the demo under the stripped PGO build with its default allocator, -p (partial
    coverage) still finds remember(): the pages are over 512 bytes and reach libc."""
    p = c.spawn([py.path, DEMO, "--seconds", "60"], "fixture")
    time.sleep(1.0)
    expect(p.poll() is None, "the demo running", "exit %s" % p.returncode)
    tr = c.start_tracer(["-j", "-o", "0", "--duration", "8", "-p", str(p.pid), "2"])
    rc = tr.wait_exit(60, "the tracer to exit after --duration 8")
    expect(rc == 0, "exit status 0 after --duration", rc)
    reps = check_stream(tr, py, p.pid, coverage="partial")
    check_target_released(p.pid)
    return check_leak_found(reps, _demo_match())


# -- errors and command line (once)

def _one_error_line(err, *words):
    lines = [l for l in err.splitlines() if l.strip()]
    expect(len(lines) == 1, "exactly one line on stderr", "%d: %r" % (len(lines), err[-500:]))
    expect(lines[0].startswith("pyleak-bpf: "), "the error line to start with 'pyleak-bpf: '", repr(lines[0]))
    for w in words:
        expect(w.lower() in lines[0].lower(), "the error line to mention %r" % w, repr(lines[0]))
    return lines[0]


def sc_err_no_pid(c, py):
    """Given a pid that does not exist, -p fails with one line naming it."""
    pid = 4194000
    while os.path.exists("/proc/%d" % pid):
        pid -= 1
    rc, out, err = c.run_tool(["-p", str(pid)], 20)
    expect(rc not in (0, None), "a non-zero exit status", rc)
    return repr(_one_error_line(err, str(pid)))


def sc_err_not_python(c, py):
    """Given `sleep 30`, -p fails: not a CPython process; sleep is left running and untraced."""
    p = c.spawn(["sleep", "30"], "sleep")
    time.sleep(0.2)
    rc, out, err = c.run_tool(["-p", str(p.pid)], 30)
    expect(rc not in (0, None), "a non-zero exit status", rc)
    line = _one_error_line(err, "not a CPython process")
    check_target_released(p.pid)
    return repr(line)


def _target_exits(c, py, reap):
    fx = c.start_fixture(py, "leak_objects.py", 2000, "--pace", "0.5", "--linger", "1", reap=reap)
    c.wait_status("READY", 60, proc=fx if reap else None)
    tr = c.start_tracer(["-j", "-o", "0", "-p", str(fx.pid), INTERVAL])
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("EXIT", 60)
    rc = tr.wait_exit(20, "the tracer to notice pid %d exited" % fx.pid)
    expect(rc == 3, "exit status 3 when the -p target exits", rc)
    check_stream(tr, py, fx.pid)
    lines = [l for l in tr.stderr().splitlines() if l.startswith("pyleak-bpf: ")]
    said = [l for l in lines if str(fx.pid) in l and "exit" in l.lower()]
    expect(said, "a 'pyleak-bpf: ' line saying pid %d exited" % fx.pid, "stderr tail %r" % tr.stderr()[-400:])
    return repr(said[0])


def sc_err_target_exits(c, py):
    """Given a -p target that exits mid-trace (reaped by its parent), then a final report and
    exit status 3 with a line saying the pid exited."""
    return _target_exits(c, py, reap=True)


def sc_err_target_zombie(c, py):
    """Same, but the target's parent has not reaped it yet (it is a zombie): it has exited."""
    return _target_exits(c, py, reap=False)


def sc_command_finishes(c, py):
    """Given -- python -c 'sleep 1.5', the command's end gives a final report and exit 0."""
    tr = c.start_tracer(["-j", INTERVAL, "--", py.path, "-c", "import time; time.sleep(1.5)"])
    rc = tr.wait_exit(60, "the tracer to exit after the command")
    expect(rc == 0, "exit status 0 when the command finishes", rc)
    reps = check_stream(tr, py)
    return "%d reports, last final" % len(reps)


def _launch_ends_first(c, py, how):
    args = ["-j", INTERVAL] + (["-d", "2"] if how == "duration" else []) + ["--"]
    tr = c.start_tracer(args + c.fixture_argv(py, "leak_objects.py", 10))
    pid = pid_of(c.wait_status("READY", 60))
    if how == "sigint":
        tr.wait_reports(2, 30)
        rc = tr.stop(signal.SIGINT)
    else:
        rc = tr.wait_exit(30, "the tracer to exit after --duration 2")
    expect(rc == 0, "exit status 0", rc)
    check_stream(tr, py, pid)
    end = time.monotonic() + 5
    while True:
        reap_orphans([pid])     # if the tracer left it to us (subreaper), it is our zombie
        st = proc_status(pid)
        if st is None or st.get("State", "").startswith("Z") or time.monotonic() > end:
            break
        time.sleep(0.1)
    expect(st is None or st.get("State", "").startswith("Z"), "the launched command (pid %d) ended with the "
           "tracer" % pid, "it still runs, State %s" % (st or {}).get("State"))
    return "command pid %d ended with the tracer" % pid


def sc_launch_stdout_closed(c, py):
    """Given -- COMMAND with the report stream piped to a reader that goes away (| head -1),
    the tracer ends and takes the command with it (nothing left behind)."""
    argv = [c.opts.tool, "-j", INTERVAL, "--"] + c.fixture_argv(py, "leak_objects.py", 10)
    err = open(os.path.join(c.dir, "tracer.err"), "wb")
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, cwd=ROOT,
                             env=clean_env(), start_new_session=True)
    finally:
        err.close()
    with c.lock:
        c.procs.append(p)
    pid = pid_of(c.wait_status("READY", 60))
    first = p.stdout.readline()
    expect(first.startswith(b"{"), "a first JSON report", first[:100])
    p.stdout.close()            # the reader goes away; the next report meets a closed pipe
    try:
        rc = p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        raise Failure("expected the tracer to end within 15 s of its stdout closing, saw it running")
    end = time.monotonic() + 5
    while True:
        reap_orphans([pid])
        st = proc_status(pid)
        if st is None or st.get("State", "").startswith("Z") or time.monotonic() > end:
            break
        time.sleep(0.1)
    expect(st is None or st.get("State", "").startswith("Z"), "the launched command (pid %d) ended with the "
           "tracer (which exited with %s)" % (pid, rc), "it still runs, State %s" % (st or {}).get("State"))
    return "tracer exit %s, command pid %d ended" % (rc, pid)


def sc_launch_sigint(c, py):
    """Given -- COMMAND still running, SIGINT to the tracer gives a final report, exit 0, and
    the command is ended too (nothing left behind)."""
    return _launch_ends_first(c, py, "sigint")


def sc_launch_duration(c, py):
    """Given -d 2 -- COMMAND that would run longer, the command is ended with the tracer."""
    return _launch_ends_first(c, py, "duration")


def sc_err_not_root(c, py):
    """Given an unprivileged user (setpriv uid 65534, no groups), -p fails with one line."""
    fx = c.start_fixture(py, "leak_objects.py", 10)
    c.wait_status("READY", 60, proc=fx)
    rc, out, err = c.run_tool(["-p", str(fx.pid)], 30, user=NOBODY)
    expect(rc not in (0, None), "a non-zero exit status as uid %d" % NOBODY, rc)
    line = _one_error_line(err)
    check_target_released(fx.pid)
    return repr(line)


def sc_err_not_root_launch(c, py):
    """Given an unprivileged user, -- COMMAND fails with one line."""
    rc, out, err = c.run_tool(["--", py.path, "-c", "pass"], 30, user=NOBODY)
    expect(rc not in (0, None), "a non-zero exit status as uid %d" % NOBODY, rc)
    return repr(_one_error_line(err))


def _usage_error(c, args):
    rc, out, err = c.run_tool(args, 15)
    expect(rc not in (0, None), "a non-zero exit status for %s" % args, rc)
    lines = err.strip().splitlines() or [""]
    expect(lines[0].startswith("pyleak-bpf: "), "the first stderr line for %s to start with 'pyleak-bpf: '"
           % args, repr(lines[0]))
    expect(re.search(r"usage", err, re.I), "a usage line on stderr for %s" % args, repr(err[-400:]))
    return "exit %d, %r" % (rc, lines[0])


def sc_err_bad_pid(c, py):
    """Given -p abc, a usage error."""
    return _usage_error(c, ["-p", "abc"])


def sc_err_bad_option(c, py):
    """Given an unknown option, a usage error."""
    return _usage_error(c, ["--no-such-option", "-p", "1"])


def sc_err_missing_value(c, py):
    """Given -p with no value, a usage error."""
    return _usage_error(c, ["-p"])


def sc_err_bad_uprobes_env(c, py):
    """Given PYLEAK_BPF_UPROBES=sessions (not a value it takes), exit status 2 and one line
    naming the values it takes, before anything is attached."""
    rc, out, err = c.run_tool(["-p", "1"], 15, env=clean_env({"PYLEAK_BPF_UPROBES": "sessions"}))
    lines = err.strip().splitlines() or [""]
    expect(rc == 2, "exit status 2", rc)
    expect(lines == ["pyleak-bpf: PYLEAK_BPF_UPROBES must be perf or multi (or unset), not 'sessions'"],
           "one line naming perf and multi", lines)
    return "exit %d, %r" % (rc, lines[0])


def sc_err_bad_interval(c, py):
    """Given a non-numeric interval, a usage error."""
    return _usage_error(c, ["-p", "1", "abc"])


def sc_err_no_target(c, py):
    """Given neither -p nor --, a usage error."""
    return _usage_error(c, ["-j", "1"])


def sc_help(c, py):
    """-h and --help exit 0 and describe -p, interval, count and --json."""
    for flag in ("-h", "--help"):
        rc, out, err = c.run_tool([flag], 15)
        expect(rc == 0, "exit status 0 for %s" % flag, rc)
        text = out + err
        for word in ("-p", "interval", "count", "--json"):
            expect(word.lower() in text.lower(), "%s to mention %r" % (flag, word), repr(text[:600]))
    return "mentions -p, interval, count, --json"


def sc_count(c, py):
    """Given `interval count` = 0.5 3, exactly 3 reports and exit 0."""
    fx = c.start_fixture(py, "leak_objects.py", 10)
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j", "-p", str(fx.pid), INTERVAL, "3"])
    rc = tr.wait_exit(40, "the tracer to exit after 3 reports")
    expect(rc == 0, "exit status 0 after count reports", rc)
    reps = check_stream(tr, py, fx.pid, ended=False)
    expect(len(reps) == 3, "3 reports", len(reps))
    check_target_released(fx.pid)
    return "3 reports, last final=%s" % reps[-1]["final"]


def sc_duration(c, py):
    """Given -d 2, a final report after about 2 s and exit 0."""
    fx = c.start_fixture(py, "leak_objects.py", 10)
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j", "-d", "2", "-p", str(fx.pid), INTERVAL])
    rc = tr.wait_exit(40, "the tracer to exit after --duration 2")
    expect(rc == 0, "exit status 0 after --duration", rc)
    reps = check_stream(tr, py, fx.pid)
    # Not before the duration; how long detaching takes afterwards is not part of the contract.
    expect(reps[-1]["elapsed_s"] >= 1.9, "the final report at elapsed_s >= 2", reps[-1]["elapsed_s"])
    check_target_released(fx.pid)
    return "%d reports, final at elapsed_s %.2f, tracer ran %.1fs" % (
        len(reps), reps[-1]["elapsed_s"], time.monotonic() - tr.t0)


def sc_sigterm(c, py):
    """Given SIGTERM, a final report and exit 0."""
    fx = c.start_fixture(py, "leak_objects.py", 10)
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j", "-p", str(fx.pid), INTERVAL])
    tr.wait_reports(2, 60)
    rc = tr.stop(signal.SIGTERM)
    expect(rc == 0, "exit status 0 after SIGTERM", rc)
    reps = check_stream(tr, py, fx.pid)
    check_target_released(fx.pid)
    return "%d reports, last final" % len(reps)


# -- the fixtures themselves, checked with tracemalloc (no tracer involved)

def _selfcheck(c, py, script, args):
    p = c.spawn([py.path, os.path.join(FIXTURES, script)] + [str(a) for a in args] + [
        "--ctl", c.dir, "--selfcheck", "--pace", "0.3", "--decoy-mb", "5", "--linger", "0",
        "--timeout", str(int(c.limit + 30))], "fixture")
    c.wait_status("READY", 30, proc=p)
    c.go()
    leaked = c.wait_status("LEAKED", 60, proc=p)
    rows = json.loads(c.wait_status("SELFCHECK", 60, proc=p).split(" ", 1)[1])
    c.wait_status("EXIT", 30, proc=p)
    rc = p.wait(timeout=30)
    expect(rc == 0, "the fixture to exit 0", rc)
    return leaked, dict(((f, l), (n, size)) for f, l, n, size in rows)


def sc_fixture_objects(c, py):
    """The fixture itself (tracemalloc, no tracer): N blocks of 233 bytes at LEAK-LINE."""
    leaked, rows = _selfcheck(c, py, "leak_objects.py", [LEAK_N])
    line = marked_line("leak_objects.py", "LEAK-LINE")
    got = rows.get(("leak_objects.py", line))
    expect(leaked == "LEAKED %d" % LEAK_N, "LEAKED %d" % LEAK_N, leaked)
    expect(got == (LEAK_N, LEAK_N * 233), "tracemalloc: %d blocks, %d bytes at line %d" % (
        LEAK_N, LEAK_N * 233, line), got)
    return "tracemalloc: %d x 233 B at line %d" % (LEAK_N, line)


def sc_fixture_control(c, py):
    """The fixture itself (tracemalloc, no tracer): no_leak.py keeps nothing."""
    leaked, rows = _selfcheck(c, py, "no_leak.py", [LEAK_N])
    big = dict((k, v) for k, v in rows.items() if v[0] > 10 or v[1] > 4096)
    expect(not big, "tracemalloc: nothing kept by no_leak.py", big)
    return "tracemalloc: nothing kept"


def sc_fixture_container(c, py):
    """The fixture itself (tracemalloc, no tracer): one list storage block at GROW-LINE."""
    n = CONTAINER_N // 4
    leaked, rows = _selfcheck(c, py, "leak_container.py", [n])
    line = marked_line("leak_container.py", "GROW-LINE")
    got = rows.get(("leak_container.py", line))
    expect(got and got[0] == 1 and got[1] >= 8 * n, "tracemalloc: one list storage block of >= %d "
           "bytes at line %d" % (8 * n, line), got)
    return "tracemalloc: storage %d bytes at line %d" % (got[1], line)


def sc_fixture_threads(c, py):
    """The fixture itself (tracemalloc, no tracer): each thread's line keeps its count."""
    leaked, rows = _selfcheck(c, py, "threads.py", [THREAD_N])
    seen = []
    for i, name in enumerate(("alpha", "beta", "gamma", "delta")):
        line = marked_line("threads.py", "LEAK-LINE-" + name)
        want = (i + 1) * THREAD_N
        got = rows.get(("threads.py", line))
        expect(got and got[0] == want, "tracemalloc: %d blocks at threads.py:%d" % (want, line), got)
        seen.append("%s %d" % (name, want))
    return "tracemalloc: " + ", ".join(seen)


# ---------------------------------------------------------------------------------------
# The plan

def plan(interps):
    """[(name, fn, interp, time limit s, weight)]: per interpreter, then once."""
    pyenv = [p for p in interps if not p.debian]
    debian = [p for p in interps if p.debian]
    full_pick = ([p for p in pyenv if p.version.startswith("3.11.")] or pyenv or debian or [None])[0]
    out = []
    for p in interps:
        if not p.debian:
            out.append(("attach-full[%s]" % p.name, sc_attach_full, p, 180, 10))
        out.append(("uprobes-multi[%s]" % p.name, sc_uprobes("multi"), p, 180, 8))
        out.append(("launch[%s]" % p.name, sc_launch, p, 180, 10))
        out.append(("no-leak-control[%s]" % p.name, sc_control, p, 180, 10))
        out.append(("threads[%s]" % p.name, sc_threads, p, 180, 8))
        if not p.debian:
            out.append(("stale-code[%s]" % p.name, sc_stale_code, p, 120, 7))
        if p.debian:
            out.append(("demo-attach-partial[%s]" % p.name, sc_demo_attach_partial, p, 90, 6))
            out.append(("attach-partial-list[%s]" % p.name, sc_partial_list, p, 180, 8))
            out.append(("attach-partial-dict[%s]" % p.name, sc_partial_dict, p, 180, 8))
            out.append(("launch-keep-allocator[%s]" % p.name, sc_keep_allocator, p, 180, 8))
        for fname, fn in (("leak_objects", sc_fixture_objects), ("no_leak", sc_fixture_control),
                          ("leak_container", sc_fixture_container), ("threads", sc_fixture_threads)):
            out.append(("fixture-%s[%s]" % (fname, p.name), fn, p, 90, 2))
    if full_pick is not None:
        for name, fn, limit in (("err-no-such-pid", sc_err_no_pid, 30),
                                ("err-not-python", sc_err_not_python, 45),
                                ("err-target-exits", sc_err_target_exits, 120),
                                ("err-target-exits-zombie", sc_err_target_zombie, 120),
                                ("command-finishes", sc_command_finishes, 90),
                                ("launch-sigint", sc_launch_sigint, 90),
                                ("launch-stdout-closed", sc_launch_stdout_closed, 90),
                                ("launch-duration", sc_launch_duration, 90),
                                ("err-not-root", sc_err_not_root, 60),
                                ("err-not-root-launch", sc_err_not_root_launch, 45),
                                ("err-bad-pid", sc_err_bad_pid, 30),
                                ("err-unknown-option", sc_err_bad_option, 30),
                                ("err-no-target", sc_err_no_target, 30),
                                ("err-missing-value", sc_err_missing_value, 30),
                                ("err-bad-interval", sc_err_bad_interval, 30),
                                ("err-bad-uprobes-env", sc_err_bad_uprobes_env, 30),
                                ("uprobes-perf[%s]" % full_pick.name, sc_uprobes("perf"), 180),
                                ("help", sc_help, 30),
                                ("count", sc_count, 60),
                                ("duration", sc_duration, 60),
                                ("sigterm", sc_sigterm, 60),
                                ("text-output[%s]" % full_pick.name, sc_text_output, 120),
                                ("filters-in[%s]" % full_pick.name, sc_filters_in, 120),
                                ("filters-out[%s]" % full_pick.name, sc_filters_out, 120),
                                ("demo-launch[%s]" % full_pick.name, sc_demo_launch, 90)):
            out.append((name, fn, full_pick, limit, 3))
    return out


def extra_plans(interps):
    """Scenario modules beside this file that build on its machinery (fds.py: fd tracking,
    trend.py: growth judgement, ...): every *.py here but run.py, each with
    plan(interps, run) -> entries like plan()'s, in name order."""
    out = []
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    for path in sorted(glob.glob(os.path.join(HERE, "*.py"))):
        modname = os.path.basename(path)[:-3]
        if modname == "run":
            continue
        mod = __import__(modname)
        out += mod.plan(interps, sys.modules[__name__])
    return out


# ---------------------------------------------------------------------------------------
# Running

class Runner(object):
    def __init__(self, opts):
        self.opts = opts
        self.lock = threading.Lock()
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
        self.live = {}          # name -> Case, for the watchdog and Ctrl-C
        self.stopping = False

    def say(self, text):
        with self.lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def result(self, kind, name, msg, detail=""):
        with self.lock:
            self.counts[kind] += 1
        self.say("%s %s%s%s" % (kind, name, ": " + msg if msg else "", detail))

    def failure_detail(self, case):
        out = []
        tr = case.tracer
        if tr is not None:
            out.append("    tracer: %s (%s)" % (" ".join(tr.argv), "still running" if tr.proc.returncode is None
                                                       else "exit %s" % tr.proc.returncode))
            err = tr.stderr().rstrip("\n").splitlines()
            shown = err if self.opts.verbose else err[-15:]
            out.append("    tracer stderr (%s of %d lines):" % ("all" if self.opts.verbose else "last %d" % len(shown),
                                                                len(err)))
            out += ["      | " + l for l in shown]
            reps = tr.reports()
            out.append("    last report (of %d): %s" % (len(reps), report_str(reps[-1] if reps else None).replace(
                "\n", "\n      ")))
        st = case.status()
        if st:
            out.append("    fixture status: %s" % " | ".join(l[:200] for l in st))
        ferr = os.path.join(case.dir, "fixture.err")
        if os.path.exists(ferr):
            with open(ferr, "rb") as f:
                text = f.read().decode("utf-8", "replace").strip()
            if text:
                out.append("    fixture stderr: " + text[-800:].replace("\n", "\n      | "))
        return "\n" + "\n".join(out) if out else ""

    def run_one(self, name, fn, py, limit):
        case = Case(name, self.opts, limit)
        with self.lock:
            self.live[name] = case
        try:
            if not os.access(self.opts.tool, os.X_OK) and not fn.__name__.startswith("sc_fixture"):
                raise Failure("expected an executable %s, saw none (run make)" % self.opts.tool)
            evidence = fn(case, py)
            took = time.monotonic() - case.start
            self.result("PASS", name, "%s (%.1fs)" % (evidence, took) if evidence else "")
        except Skipped as e:
            self.result("SKIP", name, str(e))
        except Failure as e:
            if self.stopping:
                e = Failure("%s [run interrupted]" % e)
            elif time.monotonic() > case.deadline:
                e = Failure("%s [scenario time limit %ds reached]" % (e, limit))
            self.result("FAIL", name, str(e), self.failure_detail(case))
        except Exception:
            self.result("FAIL", name, "expected the scenario to run, saw an exception in the harness:\n" +
                        traceback.format_exc().rstrip(), self.failure_detail(case))
        finally:
            try:
                case.cleanup()
            finally:
                with self.lock:
                    self.live.pop(name, None)

    def watchdog(self, stop):
        """A scenario past its deadline + 20 s is stuck outside our waits: kill its processes so
        its waits return."""
        while not stop.wait(1.0):
            now = time.monotonic()
            with self.lock:
                late = [c for c in self.live.values() if now > c.deadline + 20]
            for c in late:
                if c.tracer is not None:
                    c.tracer.kill()
                for p in list(c.procs):
                    signal_pid(p.pid, signal.SIGKILL)

    def run(self, work):
        todo = list(work)
        qlock = threading.Lock()

        def worker():
            while True:
                with qlock:
                    if not todo:
                        return
                    name, fn, py, limit, _ = todo.pop(0)
                self.run_one(name, fn, py, limit)

        stop = threading.Event()
        dog = threading.Thread(target=self.watchdog, args=(stop,), daemon=True)
        dog.start()
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, self.opts.jobs))]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.5)
        except KeyboardInterrupt:
            with qlock:
                del todo[:]
            self.stopping = True
            self.say("interrupted: stopping the running scenarios")
            with self.lock:
                cases = list(self.live.values())
            for c in cases:
                c.deadline = 0
                c.cleanup(remove=False)     # its worker removes the directory
            end = time.monotonic() + 20
            for t in threads:
                t.join(max(0.1, end - time.monotonic()))
            raise
        finally:
            stop.set()


def main():
    ap = argparse.ArgumentParser(description="End-to-end tests of pyleak-bpf against real CPython processes.")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="scenarios run in parallel (default 2)")
    ap.add_argument("-k", dest="filter", action="append", default=[],
                    help="run only scenarios whose name contains this (repeat: any of them)")
    ap.add_argument("-v", "--verbose", action="store_true", help="on failure show the tracer's whole stderr")
    ap.add_argument("--tool", default=os.path.join(ROOT, "pyleak-bpf"), help="binary under test")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--keep", action="store_true", help="keep each scenario's temporary directory")
    ap.add_argument("--repeat", type=int, default=1, metavar="N", help="run each scenario N times (flake hunting)")
    opts = ap.parse_args()
    opts.tool = os.path.abspath(opts.tool)
    _become_subreaper()

    def interrupted(sig, frame):
        raise KeyboardInterrupt()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)

    interps, missing = discover()
    def selected(name):
        return not opts.filter or any(f in name for f in opts.filter)

    work = [w for w in plan(interps) + extra_plans(interps) if selected(w[0])]
    if opts.repeat > 1:
        work = [("%s#%d" % (w[0], i + 1),) + tuple(w[1:]) for w in work for i in range(opts.repeat)]
    work.sort(key=lambda w: -w[4])      # long scenarios first: a shorter tail
    if opts.list:
        for name, fn, py, limit, _ in work:
            print("%-38s %s" % (name, " ".join((fn.__doc__ or "").split())[:110]))
        return 0
    runner = Runner(opts)
    runner.say("pyleak-bpf e2e: %d scenario(s), %d worker(s), tool %s, interpreters: %s" % (
        len(work), opts.jobs, opts.tool, ", ".join("%s (%s)" % (p.name, p.path) for p in interps) or "none"))
    for name, reason in missing:
        # Reported when the filter would have selected any of its scenarios.
        would = [w[0] for w in plan([Interp(name, None, "", name.startswith("debian"))])
                 if w[0].endswith("[%s]" % name)]
        if any(selected(w) for w in would + [name]):
            runner.result("SKIP", name, reason)
    t0 = time.monotonic()
    try:
        runner.run(work)
    except KeyboardInterrupt:
        runner.result("FAIL", "run", "expected the run to finish, saw it interrupted")
    # Every scenario is over: reap whatever was orphaned to us (we are a subreaper).
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    c = runner.counts
    runner.say("(%.0fs)" % (time.monotonic() - t0))
    runner.say("%d passed, %d failed, %d skipped" % (c["PASS"], c["FAIL"], c["SKIP"]))
    return 1 if c["FAIL"] or len(work) + len(missing) > sum(c.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
