#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A soak of the always-on mode (issue 10): ten Pythons under `-a` for an hour, one leaking.

    python3 bench/soak.py [--tool PATH] [--minutes 60] [--interval 10] [--procs 10]
                          [--leak-rate B/S] [--pythons GLOB] [--system-python PATH]
                          [--json-out FILE] [--write]

Not part of `make test`: the full hour is for a quiet machine. Standard library only; run
as root.

The group: PROCS Pythons (default 10) in a cgroup v2 group of the soak's own,
/pyleak-soak-PID (under /sys/fs/cgroup/unified when cgroup2 is mounted there, else
/sys/fs/cgroup), each put there by a `sh -c 'echo $$ > .../cgroup.procs; exec PY ...'`
wrapper, so that `-a --cgroup /pyleak-soak-PID` selects only them. The interpreters are
a mix of pyenv's (GLOB, default $(pyenv root)/versions/3.*/bin/python3.*, those of the
versions pyleak-bpf supports, 3.8 to 3.13; others are skipped and named) and Debian's
/usr/bin/python3.11 (a PGO build: partial coverage, allocations reaching libc), taken
round-robin, Debian's first. The first one, Debian's, leaks.

Every process runs the same steady workload (written to a temporary directory, the lines
marked `# soak:NAME`), a tick every 50 ms: 800 small records built and dropped (dicts,
strings, lists: pymalloc), and every 4th tick a bytes of 1-1.5 KB into a bounded cache (64
entries, overwritten) and a bytearray(8192) freed at once; every 10th tick a file opened,
read and closed and a pipe opened and closed; every second a status file written
(open, write, close, rename). The leaking one also appends bytes(600) (633 bytes
allocated, reaching libc) to a global list at the `# soak:leak` line, LEAK-RATE bytes of
payload a second (default 20000: about 33 objects a second, 70 MiB an hour).

Why not 2 KB/s: `-a` samples one allocation per 512 KiB allocated on average, so a 2 KB/s
leak is seen about once every 4.4 minutes (2 samples in 10 minutes, 14 in an hour), too
few to say anything in a short run; 20 KB/s gives one every 26 s (23 in 10 minutes, 140 in
an hour). `--leak-rate 2000` runs the slower one.

The tracer: `pyleak-bpf -a --cgroup GROUP -j INTERVAL` (continuous-mode defaults: sampled
512 KiB, --max-overhead 3, --max-agent-cpu 1, --max-agent-memory 250, a census every 60
s, fds traced), started once every process is up, for MINUTES minutes from its last
"Attaching to pid" banner, then SIGINT (its final report). Every INTERVAL seconds the soak
samples the agent's VmRSS (/proc/PID/status) and CPU (/proc/PID/stat utime+stime, all its
threads), and each workload's CPU; it reads every JSON report (its "agent" object, each
process's "stacks", "fds", "stats", "budget", "sampling").

Checks, printed at the end (the exit status is 1 if one fails):

1. the agent's memory is flat: VmRSS at the end within 10% (--rss-growth) of VmRSS after
   the first 20% of the run;
2. every process traced all along: each report lists all of them, status traced;
3. the leaking process's top memory stack in the last report is at the `# soak:leak`
   line, and it rose: its estimated bytes at the end above those at half time, above
   zero (the trend label the tool gave it, report by report, is shown: with sampling a
   slow leak gets too few samples per report window to be called growing every time);
4. no other stack (memory or fds) of any process, at its workload's lines or not, is
   labelled growing for long: in more than max(3, 60 s / INTERVAL) consecutive reports;
5. the tracer exited by itself after the SIGINT, status 0.

And shown without a verdict: every loss counter of each process's stats that is not zero
(read_failed, stacks_full, stack_events_lost, stack_collisions, allocs_full, no_stash,
missed_return, fds_full, fds_missed, fds_private), the counters of allocations without a
Python stack (no_tstate, no_frames, tstate_other), every budget note each process got
(when its sampling interval was raised, its allocation probes paused or put back), the
agent's CPU against its 1% target, where its resident memory grew (/proc/PID/smaps after
the first 20% and at the end, by kind of mapping), the leak's estimate against the truth
(the leaker counts what it appended).

Everything started is stopped at the end, on an error and on Ctrl-C or SIGTERM too (the
tracer gets SIGINT, then SIGKILL after 30 s; the workloads SIGKILL); the group is
removed. --write puts the section into bench/RESULTS.md, replacing this command line's
earlier one; --json-out FILE keeps the tracer's JSON lines.
"""
import argparse
import datetime
import glob
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from common import cgroup2_root, cpu_busy, cpu_ticks, machine, med, other_tracers, tool_version, write_section

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "RESULTS.md")
TICK = os.sysconf("SC_CLK_TCK")
SUPPORTED = ((3, 8), (3, 13))
LOSSY = ("read_failed", "stacks_full", "stack_events_lost", "stack_collisions", "allocs_full",
         "no_stash", "missed_return", "fds_full", "fds_missed", "fds_private")
NO_STACK = ("no_tstate", "no_frames", "tstate_other")
BANNER = re.compile(r"Attaching to pid (\d+)")
WORK_NAME = "soak_work.py"

# The workload. Lines that allocate or open fds are marked "# soak:NAME"; the soak finds
# them by their marks. Python 3.8 to 3.13.
WORK = r'''
import os, sys, time

RATE = float(sys.argv[1])       # leak: bytes of payload a second (0: none)
STATUS = sys.argv[2]            # "appended time" once a second
CHURN = 800                     # small records a tick
TICK = 0.05
CACHE = {}                      # bounded: 64 entries, overwritten
LEAK = []                       # only ever grows when RATE > 0


def churn(n):
    total = 0
    for i in range(n):
        rec = {"id": i, "name": "item-%d" % i, "tags": [i, i + 1, i + 2]}  # soak:records
        total += len(rec["name"])
    return total


def cache_put(k):
    CACHE[k % 64] = bytes(1024 + k % 512)  # soak:cache


def scratch():
    buf = bytearray(8192)  # soak:scratch
    return len(buf)


def touch_fds():
    with open("/proc/self/stat", "rb") as f:  # soak:file
        f.read()  # soak:file-read
    r, w = os.pipe()  # soak:pipe
    os.close(r)
    os.close(w)


def leak(n):
    for _ in range(n):
        LEAK.append(bytes(600))  # soak:leak


def write_status(t):
    tmp = STATUS + ".tmp"
    with open(tmp, "w") as f:  # soak:status
        f.write("%d %.3f\n" % (len(LEAK), t))  # soak:status-write
    os.replace(tmp, STATUS)


def main():
    print("ready %d" % sys.getsizeof(bytes(600)), flush=True)
    t0 = nxt = time.monotonic()
    last = 0.0
    k = 0
    while True:
        churn(CHURN)
        if k % 4 == 0:
            cache_put(k)
            scratch()
        if k % 10 == 0:
            touch_fds()
        now = time.monotonic()
        if RATE > 0:
            leak(int(RATE * (now - t0) / 600) - len(LEAK))
        if now - last >= 1.0:
            write_status(time.time())
            last = now
        k += 1
        nxt += TICK
        time.sleep(max(0.0, nxt - time.monotonic()))


main()
'''

T_START = time.monotonic()


class SoakError(Exception):
    """The soak could not run (or could not go on): it stops and says why."""


def log(msg):
    sys.stderr.write("[%7.1fs] %s\n" % (time.monotonic() - T_START, msg))
    sys.stderr.flush()



def mib(b):
    return b / 1048576.0


# ---------------------------------------------------------------------------------
# /proc



def vm_kib(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def smaps(pid):
    """{start: (size KiB, Rss KiB, name)} of every mapping of PID."""
    out, cur = {}, None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split(None, 5)
            if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                cur = lo
                out[lo] = [(hi - lo) // 1024, 0, head[5].strip() if len(head) > 5 else ""]
            elif head[0] == "Rss:" and cur is not None:
                out[cur][1] = int(head[1])
    return {k: tuple(v) for k, v in out.items()}


def smaps_class(size, name):
    if name == "[heap]":
        return "[heap] (the main arena)"
    if name.startswith("["):
        return "other named (%s)" % name
    if name:
        return "file-backed"
    if size >= 32 * 1024:
        return "anonymous, 32 MiB or more"
    return "anonymous, under 32 MiB"



# ---------------------------------------------------------------------------------
# Interpreters, the group and its processes


def pyenv_root():
    if os.environ.get("PYENV_ROOT"):
        return os.environ["PYENV_ROOT"]
    try:
        r = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           universal_newlines=True, timeout=10)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "/root/.pyenv"


def py_version(py):
    r = subprocess.run([py, "-c", "import sys; print('%d %d %d' % sys.version_info[:3])"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True,
                       timeout=30)
    if r.returncode:
        return None
    return tuple(int(x) for x in r.stdout.split())


def interpreters(a):
    """[(label, path, version)] Debian's first, then pyenv's by version; and what was skipped."""
    found, skipped = [], []
    for path in sorted(glob.glob(a.pythons)):
        if not re.search(r"/python3\.\d+$", path) or not os.access(path, os.X_OK):
            continue
        v = py_version(path)
        if not v:
            skipped.append("%s (does not run)" % path)
        elif not SUPPORTED[0] <= v[:2] <= SUPPORTED[1]:
            skipped.append("%s (%d.%d.%d: pyleak-bpf supports 3.8 to 3.13)" % ((path,) + v))
        else:
            found.append(("pyenv %d.%d.%d" % v, path, v))
    found.sort(key=lambda x: x[2])
    if a.system_python:
        v = py_version(a.system_python) if os.access(a.system_python, os.X_OK) else None
        if v and SUPPORTED[0] <= v[:2] <= SUPPORTED[1]:
            found.insert(0, ("Debian %d.%d.%d" % v, a.system_python, v))
        else:
            skipped.append("%s (%s)" % (a.system_python, "not supported" if v else "not found"))
    return found, skipped



class Worker:
    def __init__(self, idx, label, py, leak_rate, tmp, cg):
        self.idx, self.label, self.py, self.leak_rate = idx, label, py, leak_rate
        self.status = os.path.join(tmp, "status.%d" % idx)
        self.work = os.path.join(tmp, WORK_NAME)
        self.p = subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$1/cgroup.procs" && exec "$2" "$3" "$4" "$5"', "sh", cg, py,
             self.work, "%g" % leak_rate, self.status],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, universal_newlines=True,
            start_new_session=True)     # Ctrl-C reaches the soak only: it stops everything
        self.pid = self.p.pid
        self.cpu0 = self.cpu1 = None

    def wait_ready(self):
        line = self.p.stdout.readline().split()
        if not line or line[0] != "ready":
            raise SoakError("%s (pid %d) did not start (exit status %s)" % (
                self.label, self.pid, self.p.poll()))
        self.obj_size = int(line[1])

    def leaked(self):
        """(objects appended, wall time) from its status file."""
        try:
            with open(self.status) as f:
                n, t = f.read().split()
            return int(n), float(t)
        except (OSError, ValueError):
            return None


class Group:
    def __init__(self):
        self.root = cgroup2_root()
        if not self.root:
            raise SoakError("no cgroup2 file system is mounted (needed for --cgroup)")
        self.name = "/pyleak-soak-%d" % os.getpid()
        self.dir = self.root + self.name
        self.workers = []
        os.mkdir(self.dir)

    def start(self, specs, leak_rate, tmp):
        for i, (label, py, _) in enumerate(specs):
            w = Worker(i, label, py, leak_rate if i == 0 else 0, tmp, self.dir)
            self.workers.append(w)
        for w in self.workers:
            w.wait_ready()
            with open("/proc/%d/cgroup" % w.pid) as f:
                if "0::%s" % self.name not in f.read().split("\n"):
                    raise SoakError("pid %d is not in %s" % (w.pid, self.name))

    def remove(self):
        for w in self.workers:
            if w.p.poll() is None:
                w.p.kill()
        for w in self.workers:
            w.p.wait()
        for _ in range(100):
            try:
                os.rmdir(self.dir)
                return True
            except FileNotFoundError:
                return True
            except OSError:
                time.sleep(0.1)     # the killed processes are still leaving
        log("cannot remove %s: processes %s" % (
            self.dir, open(os.path.join(self.dir, "cgroup.procs")).read().split()))
        return False


# ---------------------------------------------------------------------------------
# The tracer and its reports


class Tracer:
    """pyleak-bpf with its stdout digested report by report, stderr kept."""

    def __init__(self, argv, work_lines, json_out):
        self.argv = argv
        self.work_lines = work_lines
        self.reports = []       # digests
        self.last_raw = None
        self.bad_lines = 0
        self.err = []
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.json_out = open(json_out, "w") if json_out else None
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True,
                                  errors="replace", start_new_session=True)
        self.threads = [threading.Thread(target=self.read_out, daemon=True),
                        threading.Thread(target=self.read_err, daemon=True)]
        for t in self.threads:
            t.start()

    def read_out(self):
        for line in self.p.stdout:
            if self.json_out:
                self.json_out.write(line)
            try:
                o = json.loads(line)
            except ValueError:
                with self.lock:
                    self.bad_lines += 1
                continue
            d = digest(o, self.work_lines, time.monotonic() - self.t0)
            with self.lock:
                self.reports.append(d)
                self.last_raw = o

    def read_err(self):
        for line in self.p.stderr:
            with self.lock:
                self.err.append((time.monotonic() - self.t0, line.rstrip("\n")))

    def banners(self):
        with self.lock:
            return [(t, int(m.group(1))) for t, l in self.err for m in [BANNER.search(l)] if m]

    def stop(self, timeout=30):
        """SIGINT (its final report), SIGKILL if it has not gone after TIMEOUT s."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout)
            killed = False
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            killed = True
        for t in self.threads:
            t.join(10)
        if self.json_out:
            self.json_out.close()
            self.json_out = None
        return killed


def where(frames, work_lines):
    """The innermost frame in the workload: (its mark or 'line N', function), else None."""
    for fr in frames or []:
        if (fr.get("file") or "").endswith("/" + WORK_NAME):
            ln = fr.get("line")
            return work_lines.get(ln, "line %s" % ln), fr.get("function")
    return None


def label_of(st, work_lines):
    w = where(st.get("frames"), work_lines)
    if w:
        return w[0]
    if st.get("note"):
        return "(%s)" % st["note"]
    fr = (st.get("frames") or [{}])[0]
    return "(outside the workload: %s %s:%s)" % (fr.get("function"), fr.get("file"), fr.get("line"))


def digest(o, work_lines, t_mono):
    d = {"report": o.get("report"), "final": o.get("final"), "elapsed": o.get("elapsed_s"),
         "t": t_mono, "agent": o.get("agent"), "procs": {}}
    for rank, p in enumerate(o.get("processes") or []):
        x = {"rank": rank, "status": p.get("status"), "reason": p.get("reason"),
             "python": p.get("python"), "build": p.get("build"), "coverage": p.get("coverage"),
             "budget": p.get("budget"), "as_of": p.get("as_of"),
             "sample": (p.get("sampling") or {}).get("mean_bytes"), "stats": p.get("stats") or {},
             "traced_s": p.get("traced_s"), "totals": p.get("totals") or {},
             "fd_open": (p.get("fd_totals") or {}).get("open"),
             "mem": [{"label": label_of(s, work_lines), "bytes": s.get("bytes"),
                      "count": s.get("count"), "trend": s.get("trend"),
                      "rate": s.get("growth_bytes_per_s")} for s in p.get("stacks") or []],
             "fds": [{"label": label_of(s, work_lines), "count": s.get("count"),
                      "trend": s.get("trend")} for s in p.get("fds") or []]}
        d["procs"][p.get("pid")] = x
    return d


# ---------------------------------------------------------------------------------
# The run


def run(a, g, specs, tmp, env):
    with open(os.path.join(tmp, WORK_NAME), "w") as f:
        f.write(WORK)
    work_lines = {}
    for i, line in enumerate(WORK.split("\n")[1:], 2):     # WORK starts with a newline
        m = re.search(r"# soak:([\w-]+)", line)
        if m:
            work_lines[i] = m.group(1)
    # the marks are on the lines the interpreter reports (line 1 is the leading newline)
    with open(os.path.join(tmp, WORK_NAME)) as f:
        for i, line in enumerate(f, 1):
            m = re.search(r"# soak:([\w-]+)", line)
            if m and work_lines.get(i) != m.group(1):
                raise SoakError("workload marks misnumbered at line %d" % i)
    g.start(specs, a.leak_rate, tmp)
    ws = g.workers
    log("%d Pythons in %s: %s" % (len(ws), g.dir, ", ".join(
        "%d %s%s" % (w.pid, w.label, " (leaks)" if w.leak_rate else "") for w in ws)))
    time.sleep(2.0)         # past start-up: the workloads at their steady pace

    argv = [a.tool, "-a", "--cgroup", g.name, "-j", "%g" % a.interval]
    log("starting %s" % " ".join(argv))
    tr = Tracer(argv, work_lines, a.json_out)
    env["tracer"] = tr
    pids = {w.pid for w in ws}
    end_wait = time.monotonic() + 120
    while {p for _, p in tr.banners()} < pids:
        if tr.p.poll() is not None or time.monotonic() > end_wait:
            raise SoakError("the tracer attached to %s of %s (exit status %s); stderr:\n%s" % (
                sorted({p for _, p in tr.banners()} & pids), sorted(pids), tr.p.poll(),
                "\n".join(l for _, l in tr.err[-30:])))
        time.sleep(0.2)
    t_attach = time.monotonic()
    env["attach_s"] = t_attach - tr.t0
    leak0 = ws[0].leaked()
    log("attached to all %d in %.1f s; soaking for %g min" % (len(ws), env["attach_s"], a.minutes))
    for w in ws:
        w.cpu0 = (time.monotonic(), cpu_ticks(w.pid))

    duration = a.minutes * 60.0
    samples = []            # (s since attach, tracer ticks, VmRSS KiB, VmHWM KiB)
    c0 = cpu_ticks(tr.p.pid)
    samples.append((0.0, c0) + tuple(vm_kib(tr.p.pid).get(k, 0) for k in ("VmRSS", "VmHWM")))
    busy0 = cpu_busy()
    nxt = t_attach
    last_log = t_attach
    while True:
        nxt += a.interval
        now = time.monotonic()
        if nxt > t_attach + duration:
            time.sleep(max(0.0, t_attach + duration - now))
            break
        time.sleep(max(0.0, nxt - now))
        if tr.p.poll() is not None:
            raise SoakError("the tracer exited during the soak (status %s); stderr:\n%s" % (
                tr.p.returncode, "\n".join(l for _, l in tr.err[-30:])))
        dead = [w for w in ws if w.p.poll() is not None]
        if dead:
            raise SoakError("workload %s exited (status %s)" % (
                ", ".join("%d" % w.pid for w in dead), [w.p.returncode for w in dead]))
        t = time.monotonic() - t_attach
        vm = vm_kib(tr.p.pid)
        samples.append((t, cpu_ticks(tr.p.pid), vm.get("VmRSS", 0), vm.get("VmHWM", 0)))
        if "smaps_ref" not in env and t >= 0.2 * duration:
            env["smaps_ref"] = (t, smaps(tr.p.pid))     # where its memory is, at the reference
        if time.monotonic() - last_log >= max(60.0, a.interval):
            last_log = time.monotonic()
            with tr.lock:
                nrep = len(tr.reports)
                ag = (tr.reports[-1]["agent"] or {}) if tr.reports else {}
            log("%5.1f min: agent VmRSS %.1f MiB, reports %d, last says cpu %.2f%%, maps %.1f MiB" % (
                t / 60, samples[-1][2] / 1024, nrep, ag.get("cpu_pct") or 0,
                mib(ag.get("map_bytes") or 0)))
    t = time.monotonic() - t_attach
    vm = vm_kib(tr.p.pid)
    samples.append((t, cpu_ticks(tr.p.pid), vm.get("VmRSS", 0), vm.get("VmHWM", 0)))
    env["smaps_end"] = (t, smaps(tr.p.pid))
    for w in ws:
        w.cpu1 = (time.monotonic(), cpu_ticks(w.pid))
    busy1 = cpu_busy()
    env["busy"] = 100.0 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
    leak1 = ws[0].leaked()
    log("stopping the tracer (SIGINT)")
    killed = tr.stop()
    env["tracer_rc"] = tr.p.returncode
    env["tracer_killed"] = killed
    env["duration"] = duration
    return tr, samples, leak0, leak1


# ---------------------------------------------------------------------------------
# Analysis


def longest_runs(reports, pid, kind):
    """{label: (longest run of consecutive reports labelled growing, reports growing)}."""
    out = {}
    cur = {}
    for r in reports:
        p = r["procs"].get(pid)
        if not p:
            continue
        grow = {s["label"] for s in p[kind] if s["trend"] == "growing"}
        labels = {s["label"] for s in p[kind]} | set(cur)
        for lab in labels:
            if lab in grow:
                cur[lab] = cur.get(lab, 0) + 1
                best, tot = out.get(lab, (0, 0))
                out[lab] = (max(best, cur[lab]), tot + 1)
            else:
                cur[lab] = 0
                out.setdefault(lab, (0, 0))
    return out


def budget_history(reports, pid, t_end):
    """Every change of the process's budget note: [(elapsed, note)], and the share of the
    traced time its allocation probes were on."""
    hist, prev = [], None
    paused_at, paused_total = None, 0.0
    t_first = None
    for r in reports:
        p = r["procs"].get(pid)
        if not p or p["status"] != "traced":
            continue
        if t_first is None:
            t_first = r["elapsed"]
        note = p["budget"]
        if note and note != prev:
            hist.append((r["elapsed"], note))
            if "paused for" in note and paused_at is None:
                paused_at = r["elapsed"]
            elif "back after" in note and paused_at is not None:
                paused_total += r["elapsed"] - paused_at
                paused_at = None
        prev = note
    if paused_at is not None:
        paused_total += t_end - paused_at
    span = (t_end - t_first) if t_first is not None else 0
    return hist, (1 - paused_total / span) if span > 0 else float("nan")


def short_note(note):
    m = re.match(r"allocation probes paused for (\d+) s: tracing cost an estimated ([\d.]+)%", note)
    if m:
        return "paused %ss (est. %s%%)" % m.groups()
    m = re.match(r"allocation probes back after a (\d+) s pause", note)
    if m:
        return "back after %ss" % m.group(1)
    m = re.match(r"sampled every ([\d.]+ \w+): tracing cost an estimated ([\d.]+)%", note)
    if m:
        return "sampled every %s (est. %s%%)" % m.groups()
    m = re.match(r"sampled every ([\d.]+ \w+) again", note)
    if m:
        return "back to every %s" % m.group(1)
    m = re.match(r"sampled every ([\d.]+ \w+): its outstanding allocations overflowed", note)
    if m:
        return "sampled every %s (allocs_full)" % m.group(1)
    return note[:60]


def at_fraction(reports, frac, t_end):
    """The first report at or after FRAC of the run's time (tracer's elapsed)."""
    for r in reports:
        if r["elapsed"] is not None and r["elapsed"] >= frac * t_end:
            return r
    return reports[-1]


def analyse(a, g, tr, samples, leak0, leak1, env):
    ws = g.workers
    reps = list(tr.reports)
    res = {"checks": [], "info": []}
    if not reps:
        res["checks"].append((False, "reports", "the tracer printed no report"))
        return res
    final = reps[-1]
    t_end = final["elapsed"] or 0
    res["n_reports"] = len(reps)
    res["final_is_final"] = bool(final["final"])
    leaker = ws[0]

    # 1. the agent's memory
    dur = env["duration"]
    ref = next(s for s in samples if s[0] >= 0.2 * dur)
    last = samples[-1]
    growth = 100.0 * (last[2] - ref[2]) / ref[2] if ref[2] else float("inf")
    res["rss"] = {"first": samples[0][2], "ref": ref, "end": last, "growth": growth,
                  "max": max(s[2] for s in samples), "hwm": last[3]}
    res["checks"].append((growth < a.rss_growth, "agent memory flat",
                          "VmRSS %.1f MiB at %.1f min (20%% of the run), %.1f MiB at the end "
                          "(%.1f min): %+.1f%% (limit %g%%); %.1f MiB right after the attach, "
                          "at most %.1f MiB sampled, VmHWM %.1f MiB" % (
                              ref[2] / 1024, ref[0] / 60, last[2] / 1024, last[0] / 60, growth,
                              a.rss_growth, samples[0][2] / 1024, res["rss"]["max"] / 1024,
                              last[3] / 1024)))
    # where the resident memory grew, mapping by mapping
    if env.get("smaps_ref") and env.get("smaps_end"):
        (t0, m0), (t1, m1) = env["smaps_ref"], env["smaps_end"]
        classes = {}
        for start in set(m0) | set(m1):
            size, rss1, name = m1.get(start, (0, 0, ""))
            size0, rss0, name0 = m0.get(start, (0, 0, ""))
            c = classes.setdefault(smaps_class(size or size0, name or name0), [0, 0, 0, 0])
            c[0] += start in m0
            c[1] += start in m1
            c[2] += rss0
            c[3] += rss1
        grow = sorted(((m1[k][1] - m0.get(k, (0, 0, ""))[1], m1[k][0], m0.get(k, (0, 0, ""))[1],
                        m1[k][1], m1[k][2] or "anonymous") for k in m1), reverse=True)
        res["smaps"] = {"t0": t0, "t1": t1, "classes": classes, "grow": [g for g in grow[:6] if g[0] > 0],
                        "anon64": [(m0.get(k, (0, 0, ""))[1], v[1]) for k, v in m1.items()
                                   if not v[2] and 64 * 1024 <= v[0] <= 66 * 1024]}
    # the agent's own view, and a series at every tenth of the run
    series = []
    for k in range(11):
        tt = k / 10.0 * dur
        s = min(samples, key=lambda x: abs(x[0] - tt))
        r = min(reps, key=lambda x: abs((x["t"] - env["attach_s"]) - tt))
        series.append((s, r))
    res["series"] = series
    wall = last[0] - samples[0][0]
    res["cpu"] = {"run": 100.0 * (last[1] - samples[0][1]) / TICK / wall if wall else 0,
                  "after20": 100.0 * (last[1] - ref[1]) / TICK / (last[0] - ref[0])
                  if last[0] > ref[0] else 0,
                  "cpu_pct": [r["agent"]["cpu_pct"] for r in reps if r["agent"]],
                  "bpf_pct": [r["agent"]["bpf_pct"] for r in reps
                              if r["agent"] and r["agent"].get("bpf_pct") is not None],
                  "maps": [r["agent"]["map_bytes"] for r in reps if r["agent"]],
                  "agent_rss": [r["agent"]["rss_bytes"] for r in reps if r["agent"]]}

    # 2. every process traced all along
    pids = [w.pid for w in ws]
    missing = []
    for r in reps:
        for pid in pids:
            p = r["procs"].get(pid)
            if not p or p["status"] != "traced":
                missing.append((r["report"], pid, p and p["status"], p and p["reason"]))
    extra = sorted({pid for r in reps for pid in r["procs"]} - set(pids))
    res["checks"].append((not missing and not extra, "every process traced all along",
                          "%d processes in each of %d reports, status traced%s%s" % (
                              len(pids), len(reps),
                              "; not so: %s" % missing[:5] if missing else "",
                              "; others reported: %s" % extra if extra else "")))

    # 3. the leak
    lp = final["procs"].get(leaker.pid)
    half = at_fraction(reps, 0.5, t_end)
    q20 = at_fraction(reps, 0.2, t_end)

    def leak_bytes(r):
        p = r["procs"].get(leaker.pid)
        return sum(s["bytes"] for s in (p["mem"] if p else []) if s["label"] == "leak")

    top = lp["mem"][0] if lp and lp["mem"] else None
    b_end, b_half, b_20 = leak_bytes(final), leak_bytes(half), leak_bytes(q20)
    truth = None
    if leak0 and leak1:
        truth = (leak1[0] - leak0[0]) * leaker.obj_size
    trends = []
    for r in reps:
        p = r["procs"].get(leaker.pid)
        tl = [s["trend"] for s in (p["mem"] if p else []) if s["label"] == "leak"]
        trends.append(tl[0] if tl else "absent")
    nlabel = {k: trends.count(k) for k in sorted(set(trends))}
    second = trends[len(trends) // 2:]
    res["leak"] = {"top": top, "end": b_end, "half": b_half, "q20": b_20, "truth": truth,
                   "trends": nlabel, "second_half_growing": second.count("growing"),
                   "second_half": len(second), "last_trend": trends[-1],
                   "rank": lp["rank"] if lp else None, "nprocs": len(final["procs"]),
                   "first_seen": next((r["elapsed"] for r in reps if leak_bytes(r) > 0), None),
                   "expected_samples": truth / 524288.0 if truth else None,
                   "sample": lp["sample"] if lp else None,
                   "grew_monotone": all(leak_bytes(x) <= leak_bytes(y) for x, y in zip(reps, reps[1:]))}
    ok = bool(top and top["label"] == "leak" and b_end > b_half and b_end > 0)
    res["checks"].append((ok, "the leak is the leaker's top stack and rose",
                          "top stack of pid %d in the last report: %s, ~%.2f MiB estimated (%s); "
                          "%.2f MiB at half time, %.2f MiB at 20%%; truth %s" % (
                              leaker.pid, top["label"] if top else "none",
                              mib(top["bytes"]) if top else 0, top["trend"] if top else "-",
                              mib(b_half), mib(b_20),
                              "%.2f MiB appended since the attach (estimate %.2fx)" % (
                                  mib(truth), b_end / truth) if truth else "unknown")))

    # 4. nothing else growing for long
    long_n = max(3, int(math.ceil(60.0 / a.interval)))
    res["long_n"] = long_n
    bad, seen = [], []
    for w in ws:
        for kind in ("mem", "fds"):
            for lab, (best, tot) in sorted(longest_runs(reps, w.pid, kind).items()):
                if w is leaker and kind == "mem" and lab == "leak":
                    continue
                if tot:
                    seen.append((w.pid, w.label, kind, lab, best, tot))
                if best > long_n:
                    bad.append((w.pid, kind, lab, best))
    res["false_growing"] = seen
    res["checks"].append((not bad, "no other stack growing for long",
                          "longest run of consecutive reports labelled growing, over every other "
                          "stack: %d (limit %d)%s" % (max([s[4] for s in seen] or [0]), long_n,
                                                      "; over it: %s" % bad if bad else "")))

    # 5. the tracer's exit
    res["checks"].append((env["tracer_rc"] == 0 and not env["tracer_killed"] and final["final"],
                          "the tracer stopped cleanly",
                          "exit status %s after SIGINT%s, final report %s" % (
                              env["tracer_rc"], " (killed after 30 s)" if env["tracer_killed"] else "",
                              "received" if final["final"] else "missing")))

    # per process: losses, budget, CPU, probe hits
    procs = []
    first_seen = {}
    for r in reps:
        for pid, p in r["procs"].items():
            first_seen.setdefault(pid, (r, p))
    for w in ws:
        p = final["procs"].get(w.pid) or {}
        st = p.get("stats") or {}
        r0, p0 = first_seen.get(w.pid, (None, {}))
        st0 = (p0 or {}).get("stats") or {}
        hist, on = budget_history(reps, w.pid, t_end)

        def hits(s):
            return (2 * (s.get("calls", 0) + s.get("nested", 0)) + s.get("free_calls", 0)
                    - s.get("returns_skipped", 0))
        dt = (final["elapsed"] - r0["elapsed"]) if r0 else 0
        cpu = 100.0 * (w.cpu1[1] - w.cpu0[1]) / TICK / (w.cpu1[0] - w.cpu0[0]) if w.cpu1 else 0
        procs.append({
            "w": w, "python": p.get("python"), "build": p.get("build"),
            "coverage": p.get("coverage"), "sample": p.get("sample"),
            "losses": {k: st[k] for k in LOSSY if st.get(k)},
            "nostack": {k: st[k] for k in NO_STACK if st.get(k)},
            "allocs": st.get("allocs", 0), "frees": st.get("frees", 0),
            "hits_s": (hits(st) - hits(st0)) / dt if dt > 0 else 0, "cpu": cpu,
            "budget": hist, "on": on,
            "top": p["mem"][0] if p.get("mem") else None,
            "topfd": p["fds"][0] if p.get("fds") else None,
            "fd_open": p.get("fd_open"), "bytes": (p.get("totals") or {}).get("bytes"),
        })
    res["procs"] = procs
    return res


# ---------------------------------------------------------------------------------
# Output



def human(b):
    if b is None:
        return ""
    if b >= 1 << 20:
        return "%.2f MiB" % mib(b)
    return "%.1f KiB" % (b / 1024.0)


def section(a, command, env, res):
    L = ["## `%s` (a soak: %d Pythons under `-a`, one leaking; issue 10)" % (command, a.procs), ""]
    L += ["- date: %s (end of the run); soak wall time %.1f min" % (
              datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), env["wall"] / 60),
          "- machine: %s; load average %s at the start, %s at the end; all CPUs %.0f%% busy "
          "during the soak (the soak included); other pyleak-bpf processes seen: %s" % (
              env["machine"], env["load0"], env["load1"], env["busy"], env["others"]),
          "- tracer: %s; `%s` (continuous-mode defaults), attached to all %d in %.1f s, then "
          "%g min, then SIGINT; %d reports" % (
              env["tool"], " ".join(["pyleak-bpf", "-a", "--cgroup", env["group"], "-j",
                                      "%g" % a.interval]), a.procs, env["attach_s"], a.minutes,
              res.get("n_reports", 0)),
          "- interpreters: %s%s" % ("; ".join("%s `%s`" % (l, p) for l, p, _ in env["specs"]),
                                    "; skipped: %s" % "; ".join(env["skipped"])
                                    if env["skipped"] else ""),
          "- workload (bench/soak.py's WORK): a tick every 50 ms: 800 small records built and "
          "dropped; every 4th tick a 1-1.5 KB bytes into a 64-entry cache and a bytearray(8192); "
          "every 10th a file and a pipe opened and closed; a status file written every second. "
          "The leaker (%s, pid %d) also appends bytes(600) (%d bytes allocated) to a global list, "
          "%g bytes of payload a second" % (env["specs"][0][0], env["leaker"], env["obj_size"],
                                            a.leak_rate),
          ""]
    if a.minutes < 60:
        L += ["A %g-minute run: the full soak is an hour (`--minutes 60`, the default), on a quiet "
              "machine." % a.minutes, ""]
    L += ["| check | result | |", "|---|---|---|"]
    for ok, name, detail in res["checks"]:
        L.append("| %s | **%s** | %s |" % (name, "pass" if ok else "FAIL", detail))
    L.append("")

    c = res["cpu"]
    L += ["The agent, at every tenth of the run (*VmRSS*, *CPU*: the soak's own reading of "
          "/proc/PID; *agent says*: the report nearest in time, its `agent` object: cpu_pct, "
          "bpf_pct, rss_bytes, map_bytes; CPU over the tenth before):", "",
          "| min | VmRSS MiB | CPU % of a core | agent says: cpu % | bpf % | RSS MiB | maps MiB |",
          "|---:|---:|---:|---:|---:|---:|---:|"]
    prev = None
    for s, r in res["series"]:
        ag = r["agent"] or {}
        cpu = "%.2f" % (100.0 * (s[1] - prev[1]) / TICK / (s[0] - prev[0])) if prev and s[0] > prev[0] else ""
        L.append("| %.1f | %.1f | %s | %s | %s | %.1f | %.1f |" % (
            s[0] / 60, s[2] / 1024, cpu, "%.2f" % ag["cpu_pct"] if ag else "",
            "%.2f" % ag["bpf_pct"] if ag.get("bpf_pct") is not None else "off",
            mib(ag.get("rss_bytes") or 0), mib(ag.get("map_bytes") or 0)))
        prev = s
    L += ["", "- agent CPU: %.2f%% of a core over the whole run, %.2f%% after its first 20%% "
          "(target: 1%%); its reports: cpu_pct median %.2f (max %.2f), bpf_pct median %s" % (
              c["run"], c["after20"], med(c["cpu_pct"]), max(c["cpu_pct"] or [0]),
              "%.2f (max %.2f)" % (med(c["bpf_pct"]), max(c["bpf_pct"])) if c["bpf_pct"] else "off"),
          ""]

    sm = res.get("smaps")
    if sm:
        L += ["Where the agent's resident memory grew, from /proc/PID/smaps at %.1f min and at the "
              "end (%.1f min), by kind of mapping (mappings then and at the end, Rss MiB then and "
              "at the end):" % (sm["t0"] / 60, sm["t1"] / 60), "",
              "| mappings | count | Rss MiB | growth MiB |", "|---|---:|---:|---:|"]
        for name, (n0, n1, r0, r1) in sorted(sm["classes"].items(), key=lambda kv: kv[1][2] - kv[1][3]):
            L.append("| %s | %d -> %d | %.1f -> %.1f | %+.1f |" % (name, n0, n1, r0 / 1024, r1 / 1024,
                                                              (r1 - r0) / 1024))
        if sm["grow"]:
            L += ["", "- the mappings that grew most: %s" % "; ".join(
                "%s of %.1f MiB, Rss %.1f -> %.1f MiB" % (nm, size / 1024, a0 / 1024, a1 / 1024)
                for d, size, a0, a1, nm in sm["grow"])]
        if sm["anon64"]:
            L.append("- anonymous mappings of 64-66 MiB at the end: %d, Rss %.1f MiB in all (%.1f MiB "
                     "at %.1f min); each: %s MiB" % (
                         len(sm["anon64"]), sum(x[1] for x in sm["anon64"]) / 1024,
                         sum(x[0] for x in sm["anon64"]) / 1024, sm["t0"] / 60,
                         ", ".join("%.1f" % (x[1] / 1024) for x in sorted(sm["anon64"], key=lambda x: -x[1]))))
        L.append("")

    lk = res["leak"]
    L += ["The leak (pid %d): estimate of the `# soak:leak` stack (sampling every %s) at 20%% of "
          "the run %s, at half time %s, at the end %s; truth %s%s; first in a report at %s s; "
          "never fell between reports: %s (the line also allocates the list's own storage, which "
          "moves as the list grows: a sampled block of it is freed then). Its trend label, report by report: %s; in the second "
          "half of the run growing in %d of %d reports; in the last: %s. Its process ranked %s of "
          "%d in the last report." % (
              env["leaker"], human(lk["sample"]) if lk["sample"] else "exact", human(lk["q20"]),
              human(lk["half"]), human(lk["end"]),
              "%s appended while traced" % human(lk["truth"]) if lk["truth"] else "unknown",
              " (estimate %.2fx; about %.0f samples expected at 512 KiB)" % (
                  lk["end"] / lk["truth"], lk["expected_samples"]) if lk["truth"] else "",
              "%.0f" % lk["first_seen"] if lk["first_seen"] is not None else "never",
              "yes" if lk["grew_monotone"] else "no",
              ", ".join("%s %d" % kv for kv in sorted(lk["trends"].items())),
              lk["second_half_growing"], lk["second_half"], lk["last_trend"],
              "%d" % (lk["rank"] + 1) if lk["rank"] is not None else "?", lk["nprocs"]), ""]

    L += ["Each process at the end (*CPU*: its own over the soak, what tracing adds to it "
          "included; *probe hits/s*: allocator entries and returns and frees, from its stats; "
          "*probes on*: share of its traced time its allocation probes were attached, from its "
          "budget notes; *losses*: its non-zero loss counters; *no stack*: allocations without "
          "a Python stack):", "",
          "| pid | interpreter | coverage | CPU % | probe hits/s | sampling | probes on | budget notes | "
          "top memory stack | top fd stack | losses | no stack |",
          "|---:|---|---|---:|---:|---|---:|---:|---|---|---|---|"]
    for p in res["procs"]:
        w = p["w"]
        top = p["top"]
        L.append("| %d%s | %s | %s | %.2f | %.0f | %s | %.0f%% | %d | %s | %s | %s | %s |" % (
            w.pid, " (leaks)" if w.leak_rate else "", w.label, p["coverage"] or "?", p["cpu"],
            p["hits_s"], human(p["sample"]) if p["sample"] else "exact", 100 * p["on"],
            len(p["budget"]),
            "%s ~%s %s" % (top["label"], human(top["bytes"]), top["trend"]) if top else "none",
            "%s %d %s" % (p["topfd"]["label"], p["topfd"]["count"], p["topfd"]["trend"])
            if p["topfd"] else "none",
            ", ".join("%s %d" % kv for kv in p["losses"].items()) or "none",
            ", ".join("%s %d" % kv for kv in p["nostack"].items()) or "none"))
    L.append("")
    L += ["Budget notes, each change, by process (time: the tracer's elapsed s):", ""]
    for p in res["procs"]:
        h = p["budget"]
        if not h:
            L.append("- %d (%s): none" % (p["w"].pid, p["w"].label))
            continue
        shown = ["%.0f s %s" % (t, short_note(n)) for t, n in h]
        if len(shown) > 12:
            shown = shown[:8] + ["... %d more ..." % (len(shown) - 11)] + shown[-3:]
        L.append("- %d (%s): %s" % (p["w"].pid, p["w"].label, "; ".join(shown)))
    L.append("")
    fg = res["false_growing"]
    L.append("Other stacks ever labelled growing (pid, kind, stack, longest run of consecutive "
             "reports, reports in all; the limit is %d in a row): %s." % (
                 res["long_n"], "; ".join("%d %s %s %s: %d, %d" % s for s in fg) if fg else "none"))
    L.append("")
    return "\n".join(L) + "\n"



def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--tool", default=os.path.join(ROOT, "pyleak-bpf"), help="pyleak-bpf binary")
    p.add_argument("--minutes", type=float, default=60, help="soak length (default %(default)s)")
    p.add_argument("--interval", type=float, default=10, help="report interval, s (default %(default)s)")
    p.add_argument("--procs", type=int, default=10, help="Pythons (default %(default)s)")
    p.add_argument("--leak-rate", type=float, default=20000,
                   help="the leaker's bytes of payload a second (default %(default)s)")
    p.add_argument("--pythons", default=os.path.join(pyenv_root(), "versions/3.*/bin/python3.*"),
                   help="pyenv's interpreters (default %(default)s)")
    p.add_argument("--system-python", default="/usr/bin/python3.11",
                   help="Debian's, the leaker's (default %(default)s; '' for none)")
    p.add_argument("--rss-growth", type=float, default=10,
                   help="largest growth of VmRSS after the first 20%%, %% (default %(default)s)")
    p.add_argument("--json-out", help="keep the tracer's JSON lines in this file")
    p.add_argument("--write", action="store_true", help="put the section in bench/RESULTS.md")
    a = p.parse_args()
    if os.geteuid() != 0:
        p.error("run as root (BPF, cgroups)")
    if a.procs < 2 or a.procs > 200:
        p.error("--procs must be 2 to 200")
    if a.interval < 1 or a.minutes * 60 < 5 * a.interval:
        p.error("--interval at least 1 s, and the soak at least 5 intervals")
    a.tool = os.path.abspath(a.tool)
    if not os.access(a.tool, os.X_OK):
        p.error("no tool at %s: build it (make) or give --tool" % a.tool)
    # the command line of the section: what changes the run (not --write, --json-out)
    argv, skip = [], False
    for x in sys.argv[1:]:
        if skip or x == "--write" or x.startswith("--json-out="):
            skip = False
            continue
        if x == "--json-out":
            skip = True
            continue
        argv.append(x)
    command = " ".join(["python3 bench/soak.py"] + argv)
    found, skipped = interpreters(a)
    if not found:
        p.error("no supported interpreter found (--pythons, --system-python)")
    specs = [found[i % len(found)] for i in range(a.procs)]
    env = {"machine": machine(), "load0": "%.2f %.2f %.2f" % os.getloadavg(),
           "tool": tool_version(a.tool), "specs": specs, "skipped": skipped}
    others0 = other_tracers(0)

    def on_term(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)      # also when started with SIGINT ignored (&)
    tmp = tempfile.mkdtemp(prefix="pyleak-soak-")
    g = None
    res = None
    status = 0
    try:
        g = Group()
        env["group"] = g.name
        tr, samples, leak0, leak1 = run(a, g, specs, tmp, env)
        env["leaker"] = g.workers[0].pid
        env["obj_size"] = g.workers[0].obj_size
        res = analyse(a, g, tr, samples, leak0, leak1, env)
    except SoakError as e:
        log("FAILED: %s" % e)
        status = 2
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # a second Ctrl-C: the cleanup goes on
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        tr = env.get("tracer")
        if tr and tr.p.poll() is None:
            tr.stop()
        if g and not g.remove():
            status = status or 2
        shutil.rmtree(tmp, ignore_errors=True)
    if res is None:
        return status
    env["load1"] = "%.2f %.2f %.2f" % os.getloadavg()
    env["others"] = "%d at the start, %d at the end" % (others0, other_tracers(0))
    env["wall"] = time.monotonic() - T_START
    text = section(a, command, env, res)
    sys.stdout.write(text)
    failed = [name for ok, name, _ in res["checks"] if not ok]
    for ok, name, detail in res["checks"]:
        log("%s: %s: %s" % ("pass" if ok else "FAIL", name, detail))
    if a.write:
        write_section(command, text)
        log("wrote %s" % os.path.relpath(RESULTS))
    if failed:
        log("%d check(s) failed: %s" % (len(failed), ", ".join(failed)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
