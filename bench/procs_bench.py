#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What tracing many processes costs (issue 7): attach, detach, the agent, a bystander.

    python3 bench/procs_bench.py [--tool ./pyleak-bpf] [--python PY] [--procs 20]
                                 [--rounds R] [--cpu-rounds R] [--window S]
                                 [--loop-rounds R] [--loop-window S] [--parts 1,2,3] [--write]

Starts PROCS idle Pythons (`PY -c 'import time; time.sleep(...)'`) inside a cgroup v2 group
of its own, /pyleak-bench-PID (under /sys/fs/cgroup/unified when cgroup2 is mounted there,
else /sys/fs/cgroup): one in /pyleak-bench-PID/one, the others in /pyleak-bench-PID/rest,
each put there by a `sh -c 'echo $$ > .../cgroup.procs; exec PY ...'` wrapper. The group is
removed at the end. Then, every baseline in the same run:

1. attach and detach: `pyleak-bpf -j --no-census -v TARGETS 1 1` with TARGETS
   `-p PID`, `-a --cgroup /pyleak-bench-PID/one` (one process), `-p PID,...` and
   `-a --cgroup /pyleak-bench-PID` (PROCS processes), and the last with --no-fds (no
   syscall tracepoints to release), round-robin for R rounds. Read, by
   wall clock from the tracer's start: its last "Attaching to pid" banner (stderr with
   -j), the end of the one interval (1 s after that banner), the last final report on
   stdout, its exit; from -v, every "probes attached in X ms" and "probes detached in
   X ms". Two more runs of the PROCS case with -vv give each process's "inspected and
   probed in X ms" (-vv also prints the verifier's log: its wall times are not counted).
2. the agent itself: `pyleak-bpf -a --cgroup GROUP -j [--no-census] 5` tracing the
   PROCS idle Pythons (and one alone, as the baseline): its utime+stime from
   /proc/TRACER/stat over a WINDOW-second window that starts 2 s after its last banner,
   VmRSS and VmHWM at the end of the window; and the BPF programs' run time over the
   window: kernel.bpf_stats_enabled is set to 1 for the window only (and restored), the
   tracer's programs are found by their ids in /proc/TRACER/fdinfo, and their run_time_ns
   and run_cnt read with `bpftool prog show` (or from fdinfo without bpftool). Then what
   the process-event programs cost per exec, fork and exit on the host: `-a --cgroup GROUP`
   against `-p PID`, while the bench runs /bin/true 300 times (stats on for that only).
3. a bystander: a Python loop outside the group (allocations, os.getppid(), open() and
   close() of a file), its iterations per second of wall time and per second of its own
   CPU time, read from a shared page it updates (no syscall of its own to report), over
   LOOP-WINDOW seconds, LOOP-ROUNDS rounds alternating: nothing traced; `pyleak-bpf -a --cgroup
   /pyleak-bench-PID -j 5` (defaults: census and fd tracking on); the same with --no-fds.
   The loop is checked not to be traced (no [uprobes] page in its maps, its pid not in the
   tracer's stderr).

Prints a markdown section (medians, ranges, ratios); --write puts it in bench/RESULTS.md,
replacing this command line's earlier section. Standard library only; run as root.
The machine's other work shows in every number: read the medians and the ranges.
"""
import argparse
import datetime
import glob
import json
import mmap
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

from common import cgroup2_root, cpu_busy, cpu_ticks, machine, med, other_tracers, tool_version, write_section

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "RESULTS.md")
PYENV_ROOT = os.environ.get("PYENV_ROOT", "/root/.pyenv")
BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"
TICK = os.sysconf("SC_CLK_TCK")
IDLE = "import time; print('ready', flush=True); time.sleep(86400)"
# The bystander: allocations, a syscall fd tracking ignores, a file opened and closed.
# Progress goes to a shared page (count, monotonic time, own CPU time) every 64
# iterations, so that reporting it costs the loop no syscall but the clock reads.
LOOP = r"""
import mmap, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
page = mmap.mmap(fd, 4096)
path = sys.argv[2]
n = 0
while True:
    d = {"n": n, "l": [n] * 8}
    s = str(n) * 4
    t = (n, s, d, bytearray(256))
    os.getppid()
    f = open(path, "rb")
    f.close()
    n += 1
    if not n & 63:
        struct.pack_into("Qdd", page, 0, n, time.monotonic(), time.process_time())
"""
BANNER = re.compile(r"Attaching to pid (\d+)")
ATTACHED = re.compile(r"probes attached in ([\d.]+) ms")
DETACHED = re.compile(r"probes detached in ([\d.]+) ms \(([\d.]+) ms with")
INSPECTED = re.compile(r"pid (\d+): inspected and probed in ([\d.]+) ms \(probes ([\d.]+) ms\), "
                       r"ready in ([\d.]+) ms")
SELECTED = re.compile(r"-a: (\d+) CPython processes traced, (\d+) not traceable")

T_START = time.monotonic()


class BenchError(Exception):
    """A run failed or measured the wrong thing: the bench stops and says why."""


def log(msg):
    sys.stderr.write("[%6.1fs] %s\n" % (time.monotonic() - T_START, msg))
    sys.stderr.flush()



def rng(xs, fmt="%.3f"):
    return (fmt + "-" + fmt) % (min(xs), max(xs)) if xs else ""


# ---------------------------------------------------------------------------------
# The group and its processes



class Group:
    """/pyleak-bench-PID with its idle Pythons: one in one/, the others in rest/."""

    def __init__(self, py, procs):
        self.root = cgroup2_root()
        if not self.root:
            raise BenchError("no cgroup2 file system is mounted (needed for --cgroup)")
        self.name = "/pyleak-bench-%d" % os.getpid()
        self.dir = self.root + self.name
        self.py = py
        self.procs = []         # (Popen, sub-group)
        os.mkdir(self.dir)
        for sub in ("one", "rest"):
            os.mkdir(os.path.join(self.dir, sub))
        try:
            for i in range(procs):
                self.spawn("one" if i == 0 else "rest")
        except BaseException:
            self.remove()
            raise

    def spawn(self, sub):
        cg = os.path.join(self.dir, sub)
        p = subprocess.Popen(["sh", "-c", 'echo $$ > "$1/cgroup.procs" && exec "$2" -c "$3"', "sh",
                              cg, self.py, IDLE], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             universal_newlines=True)
        self.procs.append((p, sub))
        if p.stdout.readline().strip() != "ready":
            raise BenchError("idle Python %d did not start (exit status %s)" % (p.pid, p.poll()))
        with open("/proc/%d/cgroup" % p.pid) as f:
            want = "0::%s/%s" % (self.name, sub)
            if want not in f.read().split("\n"):
                raise BenchError("pid %d is not in %s" % (p.pid, want))

    def pids(self, sub=None):
        return [p.pid for p, s in self.procs if sub is None or s == sub]

    def remove(self):
        for p, _ in self.procs:
            if p.poll() is None:
                p.kill()
        for p, _ in self.procs:
            p.wait()
        for sub in ("one", "rest", ""):
            d = os.path.join(self.dir, sub) if sub else self.dir
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)     # the killed processes are still leaving
            else:
                log("cannot remove %s: %s" % (d, open(os.path.join(d, "cgroup.procs")).read().split()))


# ---------------------------------------------------------------------------------
# A tracer run: every line of stdout and stderr with the time it arrived


class Tracer:
    def __init__(self, argv):
        self.argv = argv
        self.out, self.err = [], []
        self.cv = threading.Condition()
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True,
                                  errors="replace")
        self.t_exit = None
        self.threads = [threading.Thread(target=self.read, args=(s, l), daemon=True)
                        for s, l in ((self.p.stdout, self.out), (self.p.stderr, self.err))]
        for t in self.threads:
            t.start()

    def read(self, stream, lines):
        for line in stream:
            with self.cv:
                lines.append((time.monotonic() - self.t0, line))
                self.cv.notify_all()

    def banners(self):
        with self.cv:
            return [(t, int(m.group(1))) for t, l in self.err for m in [BANNER.search(l)] if m]

    def wait_banners(self, n, timeout=120):
        end = time.monotonic() + timeout
        with self.cv:
            while len(self.banners()) < n:
                if self.p.poll() is not None or time.monotonic() > end:
                    break
                self.cv.wait(0.2)
        if len(self.banners()) < n:
            self.stop(kill=True)
            raise BenchError("%s: %d of %d banners in %d s; stderr:\n%s" % (
                " ".join(self.argv), len(self.banners()), n, timeout, self.stderr()[-3000:]))
        return self.banners()[-1][0]

    def wait(self, timeout=120):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop(kill=True)
            raise BenchError("%s: still running after %d s" % (" ".join(self.argv), timeout))
        self.t_exit = time.monotonic() - self.t0
        for t in self.threads:
            t.join()
        return self.p.returncode

    def stop(self, kill=False):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL if kill else signal.SIGINT)
        if kill:
            self.p.wait()
        else:
            return self.wait()

    def stderr(self):
        return "".join(l for _, l in self.err)

    def finals(self):
        out = []
        for t, l in self.out:
            try:
                o = json.loads(l)
            except ValueError:
                continue
            if o.get("final"):      # one line a report, a section per process
                out += [(t, p.get("pid")) for p in o.get("processes", [])]
        return out


def check_exit(tr, what):
    if tr.p.returncode != 0:
        raise BenchError("%s: exit status %s; stderr:\n%s" % (what, tr.p.returncode, tr.stderr()[-3000:]))


# ---------------------------------------------------------------------------------
# 1. Attach and detach


def timing_run(a, targets, pids, verbose):
    argv = [a.tool] + targets + ["-j", "--no-census", verbose, "1", "1"]
    tr = Tracer(argv)
    tr.wait()
    what = " ".join(argv[1:])
    check_exit(tr, what)
    banners = tr.banners()
    finals = tr.finals()
    if sorted(p for _, p in banners) != sorted(pids) or sorted(p for _, p in finals) != sorted(pids):
        raise BenchError("%s: expected pids %s, saw banners for %s and final reports for %s" % (
            what, sorted(pids), sorted(p for _, p in banners), sorted(p for _, p in finals)))
    err = tr.stderr()
    m = SELECTED.search(err)
    if targets[0] == "-a" and (not m or int(m.group(1)) != len(pids) or int(m.group(2))):
        raise BenchError("%s: -a selected %s, not %d" % (what, m and m.group(0), len(pids)))
    det = DETACHED.search(err)
    attached = max(t for t, _ in banners)
    end = attached + 1.0        # the one interval starts after the last attach
    final = max(t for t, _ in finals)
    return {
        "attach": attached, "final": final - end, "exit": tr.t_exit - end,
        "final_to_exit": tr.t_exit - final, "total": tr.t_exit,
        "probes_ms": [float(x) for x in ATTACHED.findall(err)],
        "detach_ms": float(det.group(1)) if det else None,
        "detach_tp_ms": float(det.group(2)) if det else None,
        "inspected": [(int(p), float(i), float(pr), float(rd)) for p, i, pr, rd in INSPECTED.findall(err)],
    }


def part_attach(a, g):
    one = g.pids("one")
    allp = g.pids()
    cases = [
        ("-p PID", 1, ["-p", str(one[0])], one),
        ("-a --cgroup %s/one" % g.name, 1, ["-a", "--cgroup", g.name + "/one"], one),
        ("-p PID,...", len(allp), ["-p", ",".join(map(str, allp))], allp),
        ("-a --cgroup %s" % g.name, len(allp), ["-a", "--cgroup", g.name], allp),
        ("-a --cgroup %s --no-fds" % g.name, len(allp), ["-a", "--cgroup", g.name, "--no-fds"], allp),
    ]
    res = {c[0]: [] for c in cases}
    for r in range(a.rounds):
        for k in range(len(cases)):
            label, n, targets, pids = cases[(k + r) % len(cases)]
            x = timing_run(a, targets, pids, "-v")
            res[label].append(x)
            log("attach %-32s run %d: last banner %.3fs, end->final %.3fs, end->exit %.3fs, "
                "detach %s ms" % (label, r + 1, x["attach"], x["final"], x["exit"], x["detach_ms"]))
            time.sleep(1.0)
    vv = []
    for r in range(2):
        x = timing_run(a, cases[3][2], allp, "-vv")
        vv.append(x)
        log("attach %s -vv run %d: %d processes inspected" % (cases[3][0], r + 1, len(x["inspected"])))
        time.sleep(1.0)
    return cases, res, vv


# ---------------------------------------------------------------------------------
# 2. The agent's own CPU and memory, and its BPF programs



def vm(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0
    return out


def set_bpf_stats(v):
    with open(BPF_STATS, "w") as f:
        f.write("%d\n" % v)


def prog_ids(pid):
    """The ids of the programs the tracer holds (its prog fds and link fds say them)."""
    ids = set()
    for fd in os.listdir("/proc/%d/fdinfo" % pid):
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def prog_stats(pid, bpftool):
    """{id: (name, run_time_ns, run_cnt)} of the tracer's programs."""
    ids = prog_ids(pid)
    out = {}
    if bpftool:
        r = subprocess.run([bpftool, "-j", "prog", "show"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        if r.returncode == 0:
            for p in json.loads(r.stdout):
                if p["id"] in ids:
                    out[p["id"]] = (p.get("name", "?"), p.get("run_time_ns", 0), p.get("run_cnt", 0))
            return out
    for fd in os.listdir("/proc/%d/fdinfo" % pid):    # no bpftool: the prog fds' own counters
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                kv = dict(l.split(":", 1) for l in f if ":" in l)
        except OSError:
            continue
        if "run_time_ns" in kv:
            i = int(kv["prog_id"])
            out[i] = ("prog %d (%s)" % (i, kv.get("prog_tag", "").strip()), int(kv["run_time_ns"]),
                      int(kv["run_cnt"]))
    return out


def cpu_run(a, g, sub, n, census, bpftool):
    cg = g.name + ("/" + sub if sub else "")
    argv = [a.tool, "-a", "--cgroup", cg, "-j"] + ([] if census else ["--no-census"]) + ["5"]
    tr = Tracer(argv)
    t_att = tr.wait_banners(n)
    time.sleep(2.0)
    start_ticks = cpu_ticks(tr.p.pid)
    w0 = time.monotonic()
    c0 = cpu_ticks(tr.p.pid)
    stats0 = stats1 = None
    if a.bpf_stats is not None:
        set_bpf_stats(1)
        stats0 = prog_stats(tr.p.pid, bpftool)
    s0 = time.monotonic()
    time.sleep(a.window)
    c1 = cpu_ticks(tr.p.pid)
    w1 = time.monotonic()
    if a.bpf_stats is not None:
        stats1 = prog_stats(tr.p.pid, bpftool)
        s1 = time.monotonic()
        set_bpf_stats(a.bpf_stats)
    mem = vm(tr.p.pid)
    reports = sum(1 for t, l in tr.out if w0 - tr.t0 <= t <= w1 - tr.t0)
    with_census = sum(1 for t, l in tr.out if w0 - tr.t0 <= t <= w1 - tr.t0 and '"census":{' in l)
    tr.stop()
    check_exit(tr, " ".join(argv[1:]))
    x = {"cpu": (c1 - c0) / TICK / (w1 - w0), "startup_cpu": start_ticks / TICK, "attach": t_att,
         "rss": mem.get("VmRSS"), "hwm": mem.get("VmHWM"), "lines": reports, "census_lines": with_census}
    if stats0 is not None:
        progs = {}
        for i, (name, ns, cnt) in stats1.items():
            _, ns0, cnt0 = stats0.get(i, (name, 0, 0))
            progs.setdefault(name, [0, 0])
            progs[name][0] += ns - ns0
            progs[name][1] += cnt - cnt0
        x["progs"] = {k: (v[0] / (s1 - s0), v[1] / (s1 - s0)) for k, v in progs.items()}   # ns/s, runs/s
        x["nprogs"] = len(stats1)
    return x


def exec_run(a, targets, n, bpftool, execs=300):
    """The process-event programs' cost per run while the bench execs /bin/true EXECS times."""
    argv = [a.tool] + targets + ["-j", "--no-census", "5"]
    tr = Tracer(argv)
    tr.wait_banners(n)
    time.sleep(1.0)
    set_bpf_stats(1)
    s0 = prog_stats(tr.p.pid, bpftool)
    for _ in range(execs):
        subprocess.run(["/bin/true"])
    s1 = prog_stats(tr.p.pid, bpftool)
    set_bpf_stats(a.bpf_stats)
    tr.stop()
    check_exit(tr, " ".join(argv[1:]))
    out = {}
    for i, (name, ns, cnt) in s1.items():
        if name in ("exec_watch", "fork_watch", "exit_watch"):
            _, ns0, cnt0 = s0.get(i, (name, 0, 0))
            out[name] = (ns - ns0, cnt - cnt0)
    return out


def part_cpu(a, g):
    bpftool = shutil.which("bpftool")
    n = len(g.pids())
    cases = [("%d, census on (default)" % n, None, n, True),
             ("%d, --no-census" % n, None, n, False),
             ("1, census on (baseline)", "one", 1, True)]
    res = {c[0]: [] for c in cases}
    for r in range(a.cpu_rounds):
        for k in range(len(cases)):
            label, sub, cnt, census = cases[(k + r) % len(cases)]
            x = cpu_run(a, g, sub, cnt, census, bpftool)
            res[label].append(x)
            log("agent %-26s run %d: CPU %.2f%% of a core, VmRSS %.1f MiB, VmHWM %.1f MiB, "
                "BPF %s" % (label, r + 1, 100 * x["cpu"], x["rss"], x["hwm"],
                            "%.3f ms/s" % (sum(v[0] for v in x["progs"].values()) / 1e6)
                            if "progs" in x else "not measured"))
            time.sleep(1.0)
    execs = {}
    if a.bpf_stats is not None:
        ecases = [("-a --cgroup %s" % g.name, ["-a", "--cgroup", g.name], n),
                  ("-p PID", ["-p", str(g.pids("one")[0])], 1)]
        execs = {c[0]: [] for c in ecases}
        for r in range(a.cpu_rounds):
            for k in range(len(ecases)):
                label, targets, cnt = ecases[(k + r) % len(ecases)]
                x = exec_run(a, targets, cnt, bpftool)
                execs[label].append(x)
                log("exec cost %-28s run %d: %s" % (label, r + 1, ", ".join(
                    "%s %.0f ns/run" % (k2, v[0] / v[1]) for k2, v in sorted(x.items()) if v[1])))
                time.sleep(1.0)
    return cases, res, bpftool, execs


# ---------------------------------------------------------------------------------
# 3. A bystander


def loop_read(page):
    while True:
        a = page[:24]
        b = page[:24]
        if a == b:
            return struct.unpack("Qdd", a)


def loop_rate(page, secs):
    n0, t0, c0 = loop_read(page)
    time.sleep(secs)
    n1, t1, c1 = loop_read(page)
    return (n1 - n0) / (t1 - t0), (n1 - n0) / (c1 - c0) if c1 > c0 else float("nan")


def traced_by_someone(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "[uprobes]" in f.read()


def part_bystander(a, g, tmp):
    prog = os.path.join(tmp, "loop.py")
    with open(prog, "w") as f:
        f.write(LOOP)
    shm = os.path.join(tmp, "progress")
    with open(shm, "wb") as f:
        f.write(b"\0" * 4096)
    target = os.path.join(tmp, "file")
    with open(target, "w") as f:
        f.write("x\n")
    n = len(g.pids())
    loop = subprocess.Popen([a.python, prog, shm, target], stdin=subprocess.DEVNULL)
    phases = [("none", None), ("-a --cgroup %s" % g.name, []),
              ("-a --cgroup %s --no-fds" % g.name, ["--no-fds"])]
    res = {p[0]: [] for p in phases}
    seq = []
    try:
        fd = os.open(shm, os.O_RDONLY)
        page = mmap.mmap(fd, 4096, prot=mmap.PROT_READ)
        os.close(fd)
        while loop_read(page)[0] == 0:
            if loop.poll() is not None:
                raise BenchError("the bystander loop exited (%s)" % loop.returncode)
            time.sleep(0.1)
        time.sleep(1.0)
        for r in range(a.loop_rounds):
            for k in range(len(phases)):
                label, extra = phases[(k + r) % len(phases)]
                tr = None
                if extra is not None:
                    tr = Tracer([a.tool, "-a", "--cgroup", g.name, "-j"] + extra + ["5"])
                    tr.wait_banners(n)
                time.sleep(1.0)
                wall, cpu = loop_rate(page, a.loop_window)
                if tr:
                    if traced_by_someone(loop.pid):
                        raise BenchError("the bystander loop (pid %d) has uprobes: something traces it"
                                         % loop.pid)
                    tr.stop()
                    check_exit(tr, " ".join(tr.argv[1:]))
                    if re.search(r"\bpid %d\b" % loop.pid, tr.stderr()):
                        raise BenchError("the tracer mentions the bystander loop:\n" + tr.stderr()[-2000:])
                    time.sleep(1.0)     # everything released before the next phase
                res[label].append((wall, cpu))
                seq.append((label, wall, cpu))
                log("bystander %-40s run %d: %.0f iterations/s, %.0f per CPU-second" % (
                    label, r + 1, wall, cpu))
        if traced_by_someone(loop.pid):
            raise BenchError("the bystander loop (pid %d) has uprobes: something traced it" % loop.pid)
    finally:
        loop.kill()
        loop.wait()
    return phases, res, seq


def paired(seq, label, base="none"):
    """Each traced phase against the untraced phases next to it in time."""
    out = []
    for i, (lab, wall, cpu) in enumerate(seq):
        if lab != label:
            continue
        near = [s for s in seq[max(0, i - 2):i + 3] if s[0] == base]
        if near:
            out.append((wall / med([s[1] for s in near]), cpu / med([s[2] for s in near])))
    return out


# ---------------------------------------------------------------------------------
# Output



def fmt_s(xs):
    return "%.3f (%s)" % (med(xs), rng(xs))


def section(a, command, env, att, cpu, by):
    L = ["## `%s` (many processes, issue 7)" % command, ""]
    L += ["- date: %s (end of the run); bench wall time %.1f min" % (
              datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), env["wall"] / 60),
          "- machine: %s; load average %s at the start, %s at the end; all CPUs %.0f%% busy "
          "over the run (this bench included); other pyleak-bpf processes seen: %s" % (
              env["machine"], env["load0"], env["load1"], env["busy"], env["others"]),
          "- tracer: %s" % env["tool"],
          "- targets: %d idle `%s` (CPython %s) running `-c \"%s\"`, in cgroup v2 group "
          "`%s` under %s (one in `one/`, the others in `rest/`), removed at the end" % (
              a.procs, a.python, env["pyver"], IDLE, env["group"], env["cgroot"]),
          ""]
    if att:
        cases, res, vv = att
        L += ["### 1. Attach and detach",
              "",
              "`pyleak-bpf TARGETS -j --no-census -v 1 1`, %d runs of each, round-robin. *last banner*: "
              "from the tracer's start to its last \"Attaching to pid\" line (discovery, BPF load, "
              "every process inspected and probed); the one interval starts there, so *end* is 1 s "
              "later; *end->final report*: to the last process's final JSON report on stdout; "
              "*end->exit*: to the tracer's exit (every probe and tracepoint released, maps freed). "
              "*probes attached*: -v's \"probes attached in\" per process; *probes detached*: -v's "
              "\"probes detached in\" (all processes' allocator probes at once, after the final "
              "report). Seconds: median (min-max)." % a.rounds,
              "",
              "| processes | TARGETS | last banner s | end->final report s | end->exit s | "
              "probes attached ms/process | probes detached ms |",
              "|---:|---|---:|---:|---:|---:|---:|"]
        for label, n, targets, pids in cases:
            rs = res[label]
            pa = [x for r in rs for x in r["probes_ms"]]
            dm = [r["detach_ms"] for r in rs if r["detach_ms"] is not None]
            L.append("| %d | `%s` | %s | %s | %s | %.1f (%s) | %.1f (%s) |" % (
                n, label, fmt_s([r["attach"] for r in rs]), fmt_s([r["final"] for r in rs]),
                fmt_s([r["exit"] for r in rs]), med(pa), rng(pa, "%.1f"), med(dm), rng(dm, "%.1f")))
        m = {label: med([r["attach"] for r in res[label]]) for label, *_ in cases}
        a1, a20 = cases[1][0], cases[3][0]
        p1, p20 = cases[0][0], cases[2][0]
        per = (m[a20] - m[a1]) / (a.procs - 1) if a.procs > 1 else float("nan")
        L += ["",
              "- %d processes against one, same run: `-a` %.2fx (%.3f s against %.3f s, %.0f ms "
              "more a process), `-p` %.2fx (%.3f against %.3f s)." % (
                  a.procs, m[a20] / m[a1], m[a20], m[a1], 1e3 * per, m[p20] / m[p1], m[p20], m[p1])]
        first = [r["inspected"][0] for r in vv if r["inspected"]]
        rest = [x for r in vv for x in r["inspected"][1:]]
        if first:
            L.append("- -vv (%d more runs of `%s`, not timed: -vv prints the verifier's log), each "
                     "process's \"inspected and probed in\": the first %.1f ms (probes %.1f ms, "
                     "ready %.1f ms; its interpreter's files analysed), the %d others median %.1f ms "
                     "(%s; probes %.1f ms, ready %.1f ms; the files' facts cached)." % (
                         len(vv), a20, med([f[1] for f in first]), med([f[2] for f in first]),
                         med([f[3] for f in first]), len(rest) // max(1, len(vv)),
                         med([x[1] for x in rest]), rng([x[1] for x in rest], "%.1f"),
                         med([x[2] for x in rest]), med([x[3] for x in rest])))
        nf = cases[4][0]
        L.append("- without the fd syscall tracepoints (`--no-fds`), %d processes: end->exit %.3f s "
                 "against %.3f s: the rest of the exit is their release (done in the background, "
                 "the tracer waits for it before it exits)." % (
                     a.procs, med([r["exit"] for r in res[nf]]), med([r["exit"] for r in res[a20]])))
        L.append("- issue 7's targets: one process attached in under 0.5 s (`-a`: %.3f s, `-p`: "
                 "%.3f s), twenty in under 5 s (%.3f s), detach of everything under 1 s (allocator "
                 "probes %.0f ms; end->exit %.3f s with the tracepoints, BPF objects and the tracer's "
                 "own exit)." % (m[a1], m[p1], m[a20],
                                 med([r["detach_ms"] for r in res[a20] if r["detach_ms"]]),
                                 med([r["exit"] for r in res[a20]])))
        L.append("")
    if cpu:
        cases, res, bpftool, execs = cpu
        L += ["### 2. The agent's own CPU and memory",
              "",
              "`pyleak-bpf -a --cgroup GROUP -j [--no-census] 5` tracing idle Pythons, %d runs of "
              "each, round-robin; a %.0f s window from 2 s after the last banner: the tracer's "
              "utime+stime over the window (all its threads), VmRSS and VmHWM at its end. *startup "
              "CPU*: its CPU time from its start to the window (BPF load, attach). Median (min-max)."
              % (a.cpu_rounds, a.window),
              "",
              "| processes traced | CPU, % of one core | CPU ms per 5 s report | VmRSS MiB | "
              "VmHWM MiB | startup CPU s |",
              "|---|---:|---:|---:|---:|---:|"]
        for label, sub, n, census in cases:
            rs = res[label]
            c = [100 * r["cpu"] for r in rs]
            L.append("| %s | %.2f (%s) | %.0f | %.1f (%s) | %.1f (%s) | %.3f (%s) |" % (
                label, med(c), rng(c, "%.2f"), med(c) * 50, med([r["rss"] for r in rs]),
                rng([r["rss"] for r in rs], "%.1f"), med([r["hwm"] for r in rs]),
                rng([r["hwm"] for r in rs], "%.1f"), med([r["startup_cpu"] for r in rs]),
                rng([r["startup_cpu"] for r in rs])))
        big_on, big_off, one = cases[0][0], cases[1][0], cases[2][0]
        mc = {k: med([r["cpu"] for r in res[k]]) for k in res}
        L += ["",
              "- %d processes against one (census on, same run): CPU %.2fx, VmRSS %.2fx; census off "
              "against on: CPU %.2fx, VmRSS %.2fx." % (
                  a.procs, mc[big_on] / mc[one] if mc[one] else float("nan"),
                  med([r["rss"] for r in res[big_on]]) / med([r["rss"] for r in res[one]]),
                  mc[big_off] / mc[big_on] if mc[big_on] else float("nan"),
                  med([r["rss"] for r in res[big_off]]) / med([r["rss"] for r in res[big_on]]))]
        withp = [r for k in res for r in res[k] if "progs" in r]
        if withp:
            names = sorted({n for r in withp for n in r["progs"]})
            rows = []
            for name in names:
                ns = [r["progs"].get(name, (0, 0))[0] for r in withp]
                cnt = [r["progs"].get(name, (0, 0))[1] for r in withp]
                per = [r["progs"][name][0] / r["progs"][name][1] for r in withp
                       if name in r["progs"] and r["progs"][name][1]]
                rows.append((med(ns), name, med(cnt), med(per) if per else None))
            rows.sort(reverse=True)
            tot_ns = [sum(v[0] for v in r["progs"].values()) for r in withp]
            tot_cnt = [sum(v[1] for v in r["progs"].values()) for r in withp]
            L += ["- BPF programs over the same windows (`kernel.bpf_stats_enabled=1` for the window "
                  "only, then restored to %d; the tracer's %d programs, found by id in its fdinfo, "
                  "read with %s; all %d runs pooled: census on or off changes no program): %.3f ms "
                  "of CPU a second in total (%s; %.3f%% of one core), %.0f runs a second. Idle "
                  "targets make no allocation: the runs are the machine's other processes' "
                  "syscalls and forks, each program returning at its tgid lookup." % (
                      a.bpf_stats, withp[0]["nprogs"], "`bpftool prog show`" if bpftool
                      else "the fdinfo counters (no bpftool)", len(withp), med(tot_ns) / 1e6,
                      rng([x / 1e6 for x in tot_ns]), med(tot_ns) / 1e7, med(tot_cnt)),
                  "",
                  "| program | runs/s | ns/run | us of CPU per s |",
                  "|---|---:|---:|---:|"]
            for ns, name, cnt, per in rows:
                if cnt or ns:
                    L.append("| %s | %.0f | %s | %.1f |" % (name, cnt, "%.0f" % per if per else "",
                                                           ns / 1e3))
            idle = [name for ns, name, cnt, per in rows if not cnt]
            if idle:
                L += ["", "Not run in the windows (the idle targets allocate nothing): %s." %
                      ", ".join(sorted(idle))]
        if execs:
            L += ["", "What the process-event programs cost each exec, fork and exit on the host: "
                  "the same tracer (`--no-census`), while the bench runs `/bin/true` 300 times "
                  "(from outside the group: no process it starts is traced), %d runs of each, "
                  "ns per program run (median of the runs' means):" % a.cpu_rounds, "",
                  "| tracer | exec_watch ns/run | fork_watch ns/run | exit_watch ns/run |",
                  "|---|---:|---:|---:|"]
            for label, rs in execs.items():
                cells = []
                for name in ("exec_watch", "fork_watch", "exit_watch"):
                    v = [r[name][0] / r[name][1] for r in rs if name in r and r[name][1]]
                    cells.append("%.0f (%s)" % (med(v), rng(v, "%.0f")) if v else "")
                L.append("| `%s` | %s |" % (label, " | ".join(cells)))
        if not withp:
            L.append("- BPF programs' run time: not measured (%s)." % (
                "no %s" % BPF_STATS if a.bpf_stats is None else "?"))
        L.append("")
    if by:
        phases, res, seq = by
        base = res["none"]
        bw, bc = med([x[0] for x in base]), med([x[1] for x in base])
        L += ["### 3. What `-a` costs a process it does not trace",
              "",
              "A Python loop outside the group (a dict, a list, a str, a tuple and a "
              "bytearray(256) an iteration, `os.getppid()`, `open()` and `close()` of a file), "
              "%s, while `pyleak-bpf -a --cgroup %s -j 5` traces the %d idle Pythons of the group "
              "(the loop is not selected; checked: no `[uprobes]` page in its maps, its pid not in "
              "the tracer's output), against no tracer at all; %d rounds of the three phases, "
              "round-robin, %.0f s of measurement each, 1 s after the last banner. *per CPU-second*: "
              "iterations per second of the loop's own CPU time (what the kernel adds to its "
              "syscalls shows here); *wall*: per second of wall time (also what the tracer's own "
              "CPU takes from it on 2 cores). *paired*: each run against the untraced runs next "
              "to it in time." % (a.python, env["group"], a.procs, a.loop_rounds, a.loop_window),
              "",
              "| beside the loop | iterations/s, wall | x none | iterations per CPU-second | x none | "
              "paired x none (wall, CPU) |",
              "|---|---:|---:|---:|---:|---:|"]
        for label, extra in phases:
            rs = res[label]
            w, c = [x[0] for x in rs], [x[1] for x in rs]
            pr = paired(seq, label) if label != "none" else []
            L.append("| %s | %.0f (%s) | %.3f | %.0f (%s) | %.3f | %s |" % (
                "nothing (baseline)" if label == "none" else "`pyleak-bpf %s`" % label,
                med(w), rng(w, "%.0f"), med(w) / bw, med(c), rng(c, "%.0f"), med(c) / bc,
                "%.3f, %.3f" % (med([p[0] for p in pr]), med([p[1] for p in pr])) if pr else ""))
        L.append("")
    return "\n".join(L) + "\n"



def default_python():
    found = sorted(glob.glob(os.path.join(PYENV_ROOT, "versions/3.12.*/bin/python3.12")))
    return found[-1] if found else shutil.which("python3")



ARGS = None


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--tool", default=os.path.join(ROOT, "pyleak-bpf"), help="pyleak-bpf binary")
    p.add_argument("--python", default=default_python(), help="the idle and bystander interpreter "
                   "(default: pyenv's newest 3.12)")
    p.add_argument("--procs", type=int, default=20, help="idle Pythons (default %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="runs of each attach case (default %(default)s)")
    p.add_argument("--cpu-rounds", type=int, default=3, help="runs of each agent case (default %(default)s)")
    p.add_argument("--window", type=float, default=20, help="agent CPU window, s (default %(default)s)")
    p.add_argument("--loop-rounds", type=int, default=8, help="rounds of the bystander phases "
                   "(default %(default)s)")
    p.add_argument("--loop-window", type=float, default=5, help="bystander window, s (default %(default)s)")
    p.add_argument("--parts", default="1,2,3", help="which parts to run (default %(default)s)")
    p.add_argument("--write", action="store_true", help="put the section in bench/RESULTS.md")
    a = ARGS = p.parse_args()
    parts = {x.strip() for x in a.parts.split(",")}
    if os.geteuid() != 0:
        p.error("run as root (BPF, cgroups)")
    if a.procs < 2 or a.procs > 256:
        p.error("--procs must be 2 to 256")
    if not a.python or not os.access(a.python, os.X_OK):
        p.error("no interpreter: give --python")
    a.tool = os.path.abspath(a.tool)
    command = " ".join(["python3 bench/procs_bench.py"] + [x for x in sys.argv[1:] if x != "--write"])
    pyver = subprocess.run([a.python, "-c", "import platform; print(platform.python_version())"],
                           stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    env = {"machine": machine(), "load0": "%.2f %.2f %.2f" % os.getloadavg(), "pyver": pyver,
           "tool": tool_version(a.tool)}
    a.bpf_stats = None
    if "2" in parts and os.path.exists(BPF_STATS):
        with open(BPF_STATS) as f:
            a.bpf_stats = int(f.read())
    others = [other_tracers()]
    busy0 = cpu_busy()
    tmp = tempfile.mkdtemp(prefix="pyleak-procs-")
    g = None
    att = cpu = by = None

    def on_term(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        g = Group(a.python, a.procs)
        env["group"], env["cgroot"] = g.name, g.root
        log("%d idle Pythons in %s (%s)" % (a.procs, g.dir, ", ".join(map(str, g.pids()))))
        if "1" in parts:
            att = part_attach(a, g)
            others.append(other_tracers())
        if "2" in parts:
            cpu = part_cpu(a, g)
            others.append(other_tracers())
        if "3" in parts:
            by = part_bystander(a, g, tmp)
            others.append(other_tracers())
    except BenchError as e:
        log("FAILED: %s" % e)
        return 1
    finally:
        if a.bpf_stats is not None:
            set_bpf_stats(a.bpf_stats)
        if g:
            g.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    busy1 = cpu_busy()
    env["busy"] = 100.0 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
    env["load1"] = "%.2f %.2f %.2f" % os.getloadavg()
    env["others"] = ", ".join(map(str, others)) + " (at the start and after each part)"
    env["wall"] = time.monotonic() - T_START
    text = section(a, command, env, att, cpu, by)
    sys.stdout.write(text)
    if a.write:
        write_section(command, text)
        log("wrote %s" % os.path.relpath(RESULTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
