#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Benchmark: what tracing costs an allocation-heavy Python program.

    python3 bench/run.py [--python PATH]... [--rounds R] [--iterations N]
                         [--modes LIST] [--tool PATH] [--interval S] [--write]

For each interpreter (default: Debian's /usr/bin/python3.11 and pyenv's 3.11.7) it
times bench/work.py, a fixed amount of allocation-heavy work that measures only
itself with perf_counter (start-up and attach time are not counted), in each mode:

    untraced     the plain interpreter: the baseline of every ratio
    malloc       untraced with PYTHONMALLOC=malloc, only where pyleak-bpf's full
                 mode sets it (PGO builds such as Debian's): the allocator switch alone
    tracemalloc  PYTHONTRACEMALLOC=1 (tracemalloc, 1 frame)
    memleak      bcc's memleak-bpfcc -p PID (libc allocations, native stacks), via
                 bench/memleak_bcc.py, when it can run here
    empty-partial  partial's probes running empty programs (--bench-empty-probes):
                 what the traps alone cost, the baseline of our programs' cost
    partial      pyleak-bpf, allocations that reach libc only: --keep-allocator on a
                 PGO build, --partial elsewhere
    sampled      what -a does to a process it finds: --keep-allocator --sample-bytes
                 512K (partial coverage on a PGO build, full elsewhere); on Linux 6.13+
                 the allocators' probes are session links, an unsampled leaf call's
                 return skipped
    sampled-multi  the same under PYLEAK_BPF_UPROBES=multi: a return probe on every
                 call, the way before session links (and on kernels without them)
    empty        full's probes running empty programs
    full         pyleak-bpf's default: PYTHONMALLOC=malloc on a PGO build, pymalloc's
                 own functions probed elsewhere

*x empty* is a traced mode's added time over the added time of the empty mode on
the same probes ((median - baseline) / (empty median - baseline)): what our programs
cost per event against an empty probe pair on the same calls (issue 10: within 1.5x).

Modes alternate round-robin for R rounds (each round starts one mode further on),
and the table shows medians and ratios to the same run's untraced median. Every
traced run is checked: pyleak-bpf must exit 0, report the expected coverage and a
non-zero allocs counter (an empty mode: zero); memleak must hold allocations in its map. A check that
fails stops the bench with the evidence (exit 1). --write replaces this command's
section of bench/RESULTS.md (one section per distinct command line).

Standard library only; run as root (the tracers need it). `make bench` runs it.
"""
import argparse
import datetime
import glob
import hashlib
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work.py")
MEMLEAK_WRAPPER = os.path.join(HERE, "memleak_bcc.py")
RESULTS = os.path.join(HERE, "RESULTS.md")
PYENV_ROOT = os.environ.get("PYENV_ROOT", "/root/.pyenv")
DEFAULT_PYTHONS = ["/usr/bin/python3.11", os.path.join(PYENV_ROOT, "versions/3.11.7/bin/python3.11")]
MODES = ("untraced", "malloc", "tracemalloc", "memleak", "empty-partial", "partial", "sampled", "sampled-multi",
         "empty", "full")
SAMPLE_BYTES = "512K"   # -a's default
MEMLEAK = "/usr/sbin/memleak-bpfcc"
SYSTEM_PYTHON = "/usr/bin/python3"         # python3-bpfcc lives in its dist-packages
# Variables that change the allocator, the tracer's probes or add tracing; the bench sets
# them itself.
ALLOCATOR_ENV = ("PYTHONMALLOC", "PYTHONTRACEMALLOC", "PYTHONMALLOCSTATS", "PYTHONDEVMODE",
                 "PYTHONDEBUG", "PYLEAK_BENCH_GO", "PYLEAK_BENCH_HOLD", "PYLEAK_BPF_UPROBES")
# The figures issue 2 quotes for this machine, measured outside this bench.
REFERENCE = "bcc memleak about 2.1x, tracemalloc (1 frame) about 9x"

WORK_LINE = re.compile(r"^PYLEAK-BENCH seconds=(\S+) iterations=(\d+) checksum=(\d+) "
                       r"python=(\S+) pythonmalloc=(\S+)$", re.M)
STATS_LINE = re.compile(r"^stats: (.*)$", re.M)
COVERAGE = re.compile(r"coverage (full|partial)")
MEMLEAK_LINE = re.compile(r"^MEMLEAK-OUTSTANDING allocs=(\d+) large=(\d+)$", re.M)
RING_HELD = 256         # work.py's RING: bytearray(1000)s alive when the work ends


class BenchError(Exception):
    """A run failed or did not trace: the bench stops and says why."""


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ALLOCATOR_ENV}
    env.update(extra or {})
    return env


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


# ---------------------------------------------------------------------------------
# Interpreters


class Interpreter(object):
    def __init__(self, path):
        self.path = path
        self.version = None         # x.y.z from the workload
        self.build = None           # sys.version's build line
        self.pgo = None             # True when pyleak-bpf -- sets PYTHONMALLOC=malloc
        self.label = None

    def describe(self, tool, tmp):
        if not os.access(self.path, os.X_OK):
            raise BenchError("%s: no such interpreter" % self.path)
        out = subprocess.run([self.path, "-c", "import sys; print(sys.version.replace('\\n', ' '))"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                             env=clean_env())
        self.build = out.stdout.strip()
        # What does the tool do to this interpreter under --? Ask it, with no work.
        res = run_traced(tool, self, ["--"], tmp, iterations=0, interval=60, timeout=120)
        self.version = res["python"]
        self.pgo = res["pythonmalloc"] == "malloc"
        kind = "pyenv" if os.path.realpath(self.path).startswith(os.path.realpath(PYENV_ROOT)) else \
            ("distribution" if self.path.startswith("/usr/") else "other")
        self.label = "%s %s" % (kind, self.version)


# ---------------------------------------------------------------------------------
# One timed run of the workload in each kind of mode


def parse_work(path, what):
    with open(path, errors="replace") as f:
        text = f.read()
    found = WORK_LINE.findall(text)
    if not found:
        raise BenchError("%s: the workload printed no PYLEAK-BENCH line:\n%s" % (what, tail(path)))
    seconds, iterations, checksum, python, pythonmalloc = found[-1]
    return text, {"seconds": float(seconds), "iterations": int(iterations), "checksum": int(checksum),
                  "python": python, "pythonmalloc": pythonmalloc}


def work_cmd(interp, iterations):
    cmd = [interp.path, WORK]
    if iterations is not None:
        cmd.append(str(iterations))
    return cmd


def run_untraced(interp, env_extra, tmp, iterations, timeout):
    out = os.path.join(tmp, "untraced.out")
    what = "%s untraced %s" % (interp.path, " ".join("%s=%s" % kv for kv in sorted(env_extra.items())))
    with open(out, "w") as f:
        proc = subprocess.Popen(work_cmd(interp, iterations), stdout=f, stderr=subprocess.STDOUT,
                                env=clean_env(env_extra), start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise BenchError("%s: still running after %d s" % (what, timeout))
    if rc != 0:
        raise BenchError("%s: exit status %d:\n%s" % (what, rc, tail(out)))
    return parse_work(out, what)[1]


def run_traced(tool, interp, tool_args, tmp, iterations, interval, timeout, tool_env=None):
    """pyleak-bpf [tool_args before --] INTERVAL -- python work.py; tool_args ends with '--';
    tool_env: variables for the tracer (work.py inherits them)."""
    out = os.path.join(tmp, "pyleak.out")
    err = os.path.join(tmp, "pyleak.err")
    opts = tool_args[:-1]
    cmd = [tool] + opts + [str(interval), "--"] + work_cmd(interp, iterations)
    what = " ".join(cmd)
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=clean_env(tool_env), start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise BenchError("%s: still running after %d s" % (what, timeout))
    if rc != 0:
        raise BenchError("%s: exit status %d:\n%s" % (what, rc, tail(err) + tail(out)))
    text, res = parse_work(out, what)
    stats = STATS_LINE.findall(text)
    coverage = COVERAGE.findall(text)
    if not stats or not coverage:
        raise BenchError("%s: no final report with a stats line and a coverage:\n%s" % (what, tail(out)))
    fields = stats[-1].split()
    res["stats"] = {k: int(v) for k, v in zip(fields[0::2], fields[1::2]) if v.isdigit()}
    res["coverage"] = coverage[-1]
    res["command"] = cmd
    return res


def run_memleak(setup, interp, tmp, iterations, timeout):
    """work.py waits for memleak to attach (go), times its work, prints its line and,
    still holding its ring, waits (hold) while memleak is stopped and counts its map."""
    go, hold = os.path.join(tmp, "go"), os.path.join(tmp, "hold")
    for path in (go, hold):
        if os.path.exists(path):
            os.unlink(path)
    wout = os.path.join(tmp, "work.out")
    mout = os.path.join(tmp, "memleak.out")
    merr = os.path.join(tmp, "memleak.err")
    what = "memleak-bpfcc -p PID on %s" % interp.path
    with open(wout, "w") as fw, open(mout, "w") as fo, open(merr, "w") as fe:
        work = subprocess.Popen(work_cmd(interp, iterations), stdout=fw, stderr=subprocess.STDOUT,
                                env=clean_env({"PYLEAK_BENCH_GO": go, "PYLEAK_BENCH_HOLD": hold}),
                                start_new_session=True)
        ml = subprocess.Popen([SYSTEM_PYTHON, MEMLEAK_WRAPPER, "--ready", go, "--large", "1000", "--",
                               "-p", str(work.pid), "3600"],
                              stdout=fo, stderr=fe, env=clean_env(setup["env"]), start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while True:
                with open(wout, errors="replace") as f:
                    if WORK_LINE.search(f.read()):
                        break
                if work.poll() is not None:
                    raise BenchError("%s: the workload exited (status %d) before its result:\n%s"
                                     % (what, work.returncode, tail(wout)))
                if ml.poll() is not None:
                    raise BenchError("%s: memleak exited (status %d) while the workload ran:\n%s"
                                     % (what, ml.returncode, tail(merr) + tail(mout)))
                if time.monotonic() > deadline:
                    raise BenchError("%s: still running after %d s" % (what, timeout))
                time.sleep(0.05)
            # The work is done and its ring still alive: SIGINT ends memleak, and the
            # wrapper counts what memleak's map holds.
            ml.send_signal(signal.SIGINT)
            try:
                ml.wait(timeout=180)
            except subprocess.TimeoutExpired:
                raise BenchError("%s: memleak did not exit within 180 s of SIGINT" % what)
            with open(hold, "w") as f:
                f.write("done\n")
            try:
                work.wait(timeout=60)
            except subprocess.TimeoutExpired:
                raise BenchError("%s: the workload did not exit after its hold was released" % what)
        finally:
            for p in (work, ml):
                if p.poll() is None:
                    kill_group(p)
    if work.returncode != 0:
        raise BenchError("%s: the workload's exit status %d:\n%s" % (what, work.returncode, tail(wout)))
    res = parse_work(wout, what)[1]
    with open(mout, errors="replace") as f:
        found = MEMLEAK_LINE.findall(f.read())
    if not found or int(found[-1][1]) < RING_HELD:
        raise BenchError("%s: memleak should hold the workload's %d live bytearray(1000)s, it held %s:\n%s"
                         % (what, RING_HELD, "large=%s of allocs=%s" % (found[-1][1], found[-1][0])
                            if found else "nothing it reported", tail(merr) + tail(mout)))
    res["memleak_held"] = int(found[-1][1])
    return res


# ---------------------------------------------------------------------------------
# bcc memleak: can it run on this machine?


def memleak_setup(tmp):
    """Return {"ok": bool, "why": str, "env": {...}, "notes": [...]}."""
    notes = []
    if not os.path.exists(MEMLEAK):
        return {"ok": False, "why": "%s is not installed (apt-get install bpfcc-tools)" % MEMLEAK,
                "env": {}, "notes": notes}
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", "import bcc"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        return {"ok": False, "why": "%s cannot import bcc (python3-bpfcc)" % SYSTEM_PYTHON,
                "env": {}, "notes": notes}
    env = {}
    release = platform.release()
    if os.environ.get("BCC_KERNEL_SOURCE"):
        env["BCC_KERNEL_SOURCE"] = os.environ["BCC_KERNEL_SOURCE"]
        notes.append("kernel headers from BCC_KERNEL_SOURCE=%s" % env["BCC_KERNEL_SOURCE"])
    elif os.path.isdir("/lib/modules/%s/build" % release) or os.path.exists("/sys/kernel/kheaders.tar.xz"):
        notes.append("kernel headers of the running kernel")
    else:
        # No headers for this kernel: bcc compiles memleak's BPF C against Debian's newest
        # linux-headers-*-amd64 (+ -common) instead, merged into one tree as bcc expects.
        arch = sorted(glob.glob("/usr/src/linux-headers-*-amd64"), key=version_key)
        arch = [a for a in arch if os.path.isdir(a.replace("-amd64", "-common"))]
        if not arch:
            return {"ok": False, "env": env, "notes": notes,
                    "why": "bcc compiles memleak's BPF program at start-up against kernel headers, and "
                           "kernel %s has none (no /lib/modules/%s/build, no /sys/kernel/kheaders.tar.xz); "
                           "apt-get install linux-headers-amd64 gives Debian's, which bench/run.py can use"
                           % (release, release)}
        merged = os.path.join(tmp, "kernel-headers")
        os.mkdir(merged)
        for src in (arch[-1].replace("-amd64", "-common"), arch[-1]):
            # A tree of symlinks; the arch package's generated files win.
            subprocess.run(["cp", "-rs", "--remove-destination", src + "/.", merged + "/"], check=True)
        env["BCC_KERNEL_SOURCE"] = merged
        notes.append("kernel %s ships no headers: BPF compiled against %s (+ -common) through "
                     "BCC_KERNEL_SOURCE; with -p memleak loads only uprobe programs, which use nothing "
                     "of the kernel's but struct pt_regs, the same on both" % (release, os.path.basename(arch[-1])))
    notes.append("bench/memleak_bcc.py passes the ref_ctr_offset argument python3-bpfcc 0.26 "
                 "leaves out of bpf_attach_uprobe() (bcc issue #5236; without it: EINVAL)")
    return {"ok": True, "why": "", "env": env, "notes": notes}


def version_key(path):
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", path)]


# ---------------------------------------------------------------------------------
# The matrix


def mode_plan(interp, mode, memleak_ok):
    """How to run mode on interp (environment, tracer arguments, expected coverage), or
    None where it does not apply."""
    if mode == "untraced":
        return {"env": {}, "what": "nothing (baseline)"}
    if mode == "malloc":
        if not interp.pgo:
            return None
        return {"env": {"PYTHONMALLOC": "malloc"}, "what": "nothing (the allocator of full mode)"}
    if mode == "tracemalloc":
        return {"env": {"PYTHONTRACEMALLOC": "1"}, "what": "every allocation, 1 frame (in-process)"}
    if mode == "memleak":
        if not memleak_ok:
            return None
        return {"memleak": True, "what": "libc allocations, native stacks"}
    if mode == "partial":
        args = ["--keep-allocator", "--"] if interp.pgo else ["--partial", "--"]
        return {"tool": args, "coverage": "partial", "pythonmalloc": "-",
                "what": "allocations reaching libc, Python stacks"}
    if mode == "full":
        return {"tool": ["--"], "coverage": "full", "pythonmalloc": "malloc" if interp.pgo else "-",
                "what": "every allocation, Python stacks" + (" (PYTHONMALLOC=malloc)" if interp.pgo else "")}
    if mode in ("empty-partial", "empty"):
        plan = dict(mode_plan(interp, mode == "empty" and "full" or "partial", memleak_ok))
        plan["tool"] = ["--bench-empty-probes"] + plan["tool"]
        plan["empty"] = True
        plan["what"] = "%s's probes, empty programs" % (mode == "empty" and "full" or "partial")
        return plan
    if mode == "sampled":
        return {"tool": ["--keep-allocator", "--sample-bytes", SAMPLE_BYTES, "--"],
                "coverage": "partial" if interp.pgo else "full", "pythonmalloc": "-",
                "what": "as -a: %s coverage, one allocation sampled per %s" % (
                    "partial" if interp.pgo else "full", SAMPLE_BYTES)}
    if mode == "sampled-multi":
        plan = dict(mode_plan(interp, "sampled", memleak_ok))
        plan["tool_env"] = {"PYLEAK_BPF_UPROBES": "multi"}
        plan["what"] += ", a return probe on every call (PYLEAK_BPF_UPROBES=multi)"
        return plan
    raise ValueError(mode)


def empty_of(interp, mode):
    """The empty mode on the same probes as mode, or None."""
    if mode in ("partial", "full"):
        return "empty-" + mode if mode == "partial" else "empty"
    if mode in ("sampled", "sampled-multi"):
        return "empty-partial" if interp.pgo else "empty"
    return None


def one_run(args, tool, setup, interp, mode, plan, tmp):
    if "tool" in plan:
        res = run_traced(tool, interp, plan["tool"], tmp, args.iterations, args.interval, args.timeout,
                         plan.get("tool_env"))
        st = res["stats"]
        if res["coverage"] != plan["coverage"] or res["pythonmalloc"] != plan["pythonmalloc"]:
            raise BenchError("%s: expected coverage %s with PYTHONMALLOC=%s, saw coverage %s with %s"
                             % (" ".join(res["command"]), plan["coverage"], plan["pythonmalloc"],
                                res["coverage"], res["pythonmalloc"]))
        if plan.get("empty") and st.get("allocs", 0) != 0:
            raise BenchError("%s: empty programs, yet the final report counted allocations (stats %s)"
                             % (" ".join(res["command"]), st))
        if not plan.get("empty") and st.get("allocs", 0) <= 0:
            raise BenchError("%s: the final report counted no allocations (stats %s)"
                             % (" ".join(res["command"]), st))
        return res
    if plan.get("memleak"):
        return run_memleak(setup, interp, tmp, args.iterations, args.timeout)
    return run_untraced(interp, plan["env"], tmp, args.iterations, args.timeout)


def bench(args):
    if os.geteuid() != 0:
        raise BenchError("run as root: the tracers need CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE")
    tmp = tempfile.mkdtemp(prefix="pyleak-bench.")
    try:
        # A private copy, so a rebuild of ./pyleak-bpf during the bench cannot mix versions.
        if not os.access(args.tool, os.X_OK):
            raise BenchError("%s: not built (run make)" % args.tool)
        tool = os.path.join(tmp, "pyleak-bpf")
        shutil.copy2(args.tool, tool)
        version = tool_version(sha256(tool))
        interps = [Interpreter(p) for p in args.python]
        for it in interps:
            it.describe(tool, tmp)
            log("bench: %s (%s): %s" % (it.path, it.label, "PGO build, full mode sets PYTHONMALLOC=malloc"
                                        if it.pgo else "pymalloc probed in full mode"))
        setup = {"ok": False, "why": "not requested (--modes)", "env": {}, "notes": []}
        if "memleak" in args.modes:
            setup = memleak_setup(tmp)
            log("bench: memleak: %s" % ("available" if setup["ok"] else "not run: " + setup["why"]))
        cells = []
        for it in interps:
            for mode in args.modes:
                plan = mode_plan(it, mode, setup["ok"])
                if plan is not None:
                    cells.append((it, mode, plan))
        results = {(it.path, mode): [] for it, mode, _ in cells}
        started = time.monotonic()
        for r in range(args.rounds):
            order = cells[r % len(cells):] + cells[:r % len(cells)]
            for it, mode, plan in order:
                res = one_run(args, tool, setup, it, mode, plan, tmp)
                results[(it.path, mode)].append(res)
                extra = ""
                if "stats" in res:
                    extra = ", allocs %d frees %d" % (res["stats"].get("allocs", 0), res["stats"].get("frees", 0))
                log("bench: round %d/%d %-12s %-12s %8.3f s%s" % (r + 1, args.rounds, it.label, mode,
                                                                   res["seconds"], extra))
        elapsed = time.monotonic() - started
        checks = {res["checksum"] for runs in results.values() for res in runs}
        if len(checks) != 1:
            raise BenchError("the workload's checksum differed between runs: %s" % sorted(checks))
        return {"interps": interps, "cells": cells, "results": results, "elapsed": elapsed,
                "memleak": setup, "tool": version}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


# ---------------------------------------------------------------------------------
# Output


def fmt_ratio(x):
    return "%.1fx" % x if x >= 10 else "%.2fx" % x


def table(data):
    rows = ["| interpreter | mode | traces | median s | x untraced | range s (min-max) | events/run | us/event "
            "| x empty |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    summary = []
    for it in data["interps"]:
        med = {}
        for (it2, mode, plan) in data["cells"]:
            if it2 is it:
                med[mode] = statistics.median(r["seconds"] for r in data["results"][(it.path, mode)])
        base = med["untraced"]
        for (it2, mode, plan) in data["cells"]:
            if it2 is not it:
                continue
            runs = data["results"][(it.path, mode)]
            secs = [r["seconds"] for r in runs]
            events = ""
            per_event = ""
            # Cost of our probes alone: against the untraced run with the same allocator.
            own_base = med.get("malloc", base) if it.pgo and mode in ("full", "empty") else base
            x_empty = ""
            empty = empty_of(it, mode)
            if empty in med and med[empty] > own_base:
                x_empty = "%.2fx" % ((med[mode] - own_base) / (med[empty] - own_base))
                summary.append("%s: %s adds %s the time the same probes add with empty programs "
                               "(%s): %s" % (it.label, mode, x_empty, empty,
                                             "within 1.5x (target met)" if
                                             (med[mode] - own_base) <= 1.5 * (med[empty] - own_base)
                                             else "over 1.5x (target missed)"))
            if "stats" in runs[0] and not plan.get("empty") and not mode.startswith("sampled"):
                ev = statistics.median(r["stats"].get("allocs", 0) + r["stats"].get("frees", 0) for r in runs)
                events = "%.2fM" % (ev / 1e6)
                per_event = "%.2f" % ((med[mode] - own_base) / ev * 1e6) if ev else ""
            label = {"malloc": "untraced, PYTHONMALLOC=malloc", "tracemalloc": "PYTHONTRACEMALLOC=1",
                     "memleak": "memleak-bpfcc -p"}.get(mode, "untraced")
            if "tool" in plan:
                label = "pyleak-bpf " + mode
            rows.append("| %s | %s | %s | %.3f | %s | %.3f-%.3f | %s | %s | %s |"
                        % (it.label, label, plan["what"], med[mode], fmt_ratio(med[mode] / base),
                           min(secs), max(secs), events, per_event, x_empty))
        if "partial" in med and "memleak" in med:
            summary.append("%s: pyleak-bpf partial %s against memleak %s in the same run: %s"
                           % (it.label, fmt_ratio(med["partial"] / base), fmt_ratio(med["memleak"] / base),
                              "below memleak (target met)" if med["partial"] < med["memleak"]
                              else "NOT below memleak (target missed)"))
        if "sampled" in med and "sampled-multi" in med and med["sampled-multi"] > base:
            summary.append("%s: sampled adds %.2fx the time sampled-multi adds (session links against "
                           "a return probe on every call; %s against %s untraced)"
                           % (it.label, (med["sampled"] - base) / (med["sampled-multi"] - base),
                              fmt_ratio(med["sampled"] / base), fmt_ratio(med["sampled-multi"] / base)))
        if "full" in med:
            s = "%s: pyleak-bpf full %s" % (it.label, fmt_ratio(med["full"] / base))
            if it.pgo and "malloc" in med:
                s += "; the PYTHONMALLOC=malloc switch alone is %s of it (%s untraced)" % (
                    "%.1f%%" % (100.0 * (med["malloc"] - base) / (med["full"] - base)) if med["full"] > base
                    else "all", fmt_ratio(med["malloc"] / base))
            summary.append(s)
        if "tracemalloc" in med:
            summary.append("%s: tracemalloc %s" % (it.label, fmt_ratio(med["tracemalloc"] / base)))
    return "\n".join(rows), summary


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()
    return "%d CPUs (%s), Linux %s, load average %.2f %.2f %.2f at the end" % (
        os.cpu_count(), model or "unknown CPU", platform.release(), load[0], load[1], load[2])


def tool_version(sha):
    """The tree the binary was (most likely) built from, read when the bench starts."""
    def git(*a):
        r = subprocess.run(["git", "-C", ROOT] + list(a), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           universal_newlines=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "user", "bpf", "Makefile")
    return "pyleak-bpf at commit %s%s, binary sha256 %s" % (
        head or "unknown", " with uncommitted changes in user/ bpf/" if dirty else "", sha[:12])


def memleak_version():
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "bpfcc-tools"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, universal_newlines=True)
    return r.stdout.strip() or "unknown"


def section(args, data, command):
    tbl, summary = table(data)
    lines = ["## `%s`" % command, ""]
    lines.append("- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC (end of the run)"))
    lines.append("- machine: %s" % machine())
    lines.append("- tracer: %s" % data["tool"])
    for it in data["interps"]:
        lines.append("- %s: `%s`, %s%s" % (it.label, it.path, it.build,
                                            "; PGO build (pyleak-bpf -- sets PYTHONMALLOC=malloc)" if it.pgo else ""))
    work = data["results"][(data["interps"][0].path, "untraced")][0]
    lines.append("- workload: `bench/work.py %d`, %d rounds round-robin, pyleak-bpf interval %d s "
                 "(no report during a run)" % (work["iterations"], args.rounds, args.interval))
    ml = data["memleak"]
    if ml["ok"]:
        lines.append("- memleak: bpfcc-tools %s, measured in this run; %s" % (memleak_version(), "; ".join(ml["notes"])))
    else:
        lines.append("- memleak: **not measured**: %s. Reference only, not from this run: %s." % (ml["why"], REFERENCE))
    lines.append("- bench wall time: %.1f min" % (data["elapsed"] / 60))
    lines += ["", tbl, ""]
    lines += ["- " + s for s in summary]
    lines.append("")
    return "\n".join(lines)


HEADER = """# Benchmark results

Written by `python3 bench/run.py --write` (`make bench` runs it without `--write`); one
section per command line, the newest run of each. Everything in a section comes from
one run of that command on the machine it names.

## How to read it

- `bench/work.py` does a fixed amount of allocation-heavy work (about 18 allocations
  an iteration: dicts, lists grown by append, tuples, strings built and resized, a
  `bytearray(1000)`, class instances) and times only that work, so interpreter
  start-up and the tracer's attach are not counted.
- *median s* is the median of the rounds; *x untraced* divides it by the untraced
  median of the same interpreter in the same run; *range* shows the noise (the
  machine has 2 cores shared with other work, so single runs can be off by tens of
  percent: read the medians).
- *events/run* is pyleak-bpf's allocs + frees counters from its final report (the
  whole process, start-up included); *us/event* is the time pyleak-bpf added per
  event: (median - baseline) / events, where the baseline is the untraced run with
  the same allocator (the PYTHONMALLOC=malloc run for full mode on a PGO build);
  not given for *sampled* and *sampled-multi*, whose counters hold only the sampled
  allocations.
- *x empty*: the time a mode adds over the time the same probes add running empty
  programs (`--bench-empty-probes`, the *empty* rows): what our BPF programs cost
  per event against an empty probe pair on the same calls.
- *partial* sees only allocations that reach libc (objects over 512 bytes,
  container storage, C-extension memory), as memleak does, but with Python stacks.
  On a PGO build such as Debian's it is the only mode that works on a process
  started without pyleak-bpf. *full* sees every allocation; on a PGO build that
  needs PYTHONMALLOC=malloc, whose own cost is the *untraced, PYTHONMALLOC=malloc* row.
- Every uprobe hit costs a trap: about 0.6 us on an instruction the kernel emulates,
  about 10.5 us on one it must single-step (this VM, design notes section 0). An
  allocation-heavy Python program makes tens of millions of allocations a second, so
  exact tracing of every one costs a large factor here; the ratios scale with
  allocation rate, not with run time.
- bcc memleak is Debian 12's bpfcc-tools (`apt-get install bpfcc-tools
  linux-headers-amd64`); each section says how it was made to run on this kernel, or
  why it was not run. Issue 2 quotes, for this machine and not from this bench: %s.
  memleak probes glibc's `free` on its first instruction, `test %%rdi,%%rdi`, which the
  kernel single-steps (about 10 us a hit); pyleak-bpf attaches 3 bytes further on, on
  the `je` (`-v -v` lists every probe as `entry +N, emulated|single-stepped`).
""" % REFERENCE


def write_results(text, command):
    sections = []
    if os.path.exists(RESULTS):
        with open(RESULTS) as f:
            old = f.read()
        for m in re.finditer(r"<!-- bench: (.*?) -->\n(.*?)<!-- end -->\n", old, re.S):
            if m.group(1) != command:
                sections.append((m.group(1), m.group(2)))
    sections.insert(0, (command, text))
    with open(RESULTS + ".tmp", "w") as f:
        f.write(HEADER)
        for cmd, body in sections:
            f.write("\n<!-- bench: %s -->\n%s<!-- end -->\n" % (cmd, body))
    os.rename(RESULTS + ".tmp", RESULTS)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--python", action="append", metavar="PATH",
                   help="interpreter to bench (repeatable; default %s)" % " and ".join(DEFAULT_PYTHONS))
    p.add_argument("--rounds", type=int, default=5, help="rounds of every mode (default %(default)s)")
    p.add_argument("--iterations", type=int, default=None,
                   help="work.py iterations (default: work.py's, about 2-3 s untraced on 3.11 here)")
    p.add_argument("--modes", default=",".join(MODES),
                   help="comma-separated subset of %s (untraced is always run)" % ",".join(MODES))
    p.add_argument("--tool", default=os.path.join(ROOT, "pyleak-bpf"), help="pyleak-bpf binary")
    p.add_argument("--interval", type=int, default=600,
                   help="pyleak-bpf report interval, longer than any run (default %(default)s)")
    p.add_argument("--timeout", type=int, default=1800, help="limit for one run in seconds (default %(default)s)")
    p.add_argument("--write", action="store_true", help="update this command's section of bench/RESULTS.md")
    args = p.parse_args()
    args.python = args.python or DEFAULT_PYTHONS
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or args.rounds < 1:
        p.error("unknown mode %s (choose from %s)" % (",".join(bad), ",".join(MODES)) if bad
                else "--rounds must be at least 1")
    args.modes = ["untraced"] + [m for m in MODES if m in modes and m != "untraced"]

    argv = [a for a in sys.argv[1:] if a != "--write"]
    command = " ".join(["python3 bench/run.py"] + argv)
    try:
        data = bench(args)
    except BenchError as e:
        log("bench: FAILED: %s" % e)
        return 1
    text = section(args, data, command)
    sys.stdout.write(text)
    if args.write:
        write_results(text, command)
        log("bench: wrote %s" % os.path.relpath(RESULTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
