#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Where a traced allocation's time goes: BPF run time per program.

    python3 bench/prog_cost.py [--python PATH] [--iterations N] [--tool PATH] [-- TOOL_ARGS...]
    python3 bench/prog_cost.py --ab OTHER_TOOL [--python PATH] [--iterations N] [--tool PATH]

Runs `pyleak-bpf --no-fds TOOL_ARGS 600 -- PYTHON bench/work.py N` with the kernel's BPF
run-time statistics on (BPF_ENABLE_STATS: held by this process's fd, so the global sysctl
kernel.bpf_stats_enabled is left alone and nothing stays on after it exits). Once the work
is done (the PYLEAK-BENCH line), and before the tracer detaches, it reads run_cnt and
run_time_ns of each of the tracer's programs (bpftool -j prog show) and prints ns per run,
and the programs' total per event (allocs + frees of the final report), which is the BPF
part of bench/run.py's us/event; the rest is the uprobe traps themselves.

Run it as root on a quiet machine; it is short (N = 50000 is a few seconds traced).
"""
import argparse
import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SYS_BPF = 321           # x86-64
BPF_ENABLE_STATS = 32
BPF_STATS_RUN_TIME = 0


def enable_stats():
    """An fd that keeps BPF run-time statistics on while it is open."""
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(16)      # union bpf_attr { __u32 type; } enable_stats
    fd = libc.syscall(SYS_BPF, BPF_ENABLE_STATS, attr, 16)
    if fd < 0:
        sys.exit("prog_cost: BPF_ENABLE_STATS: %s" % os.strerror(ctypes.get_errno()))
    return fd


def progs_of(pid):
    """The programs pid holds (its fds' prog_id: bpftool here lists no owners)."""
    ids = set()
    for fd in os.listdir("/proc/%d/fdinfo" % pid):
        try:
            m = re.search(r"^prog_id:\s+(\d+)", open("/proc/%d/fdinfo/%s" % (pid, fd)).read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return [p for p in json.loads(out) if p["id"] in ids]


def wait_text(path, pattern, proc, what, limit=120):
    end = time.monotonic() + limit
    while True:
        m = re.search(pattern, open(path).read())
        if m:
            return m
        if proc.poll() is not None or time.monotonic() > end:
            sys.exit("prog_cost: %s did not happen:\n%s" % (what, open(path).read()[-2000:]))
        time.sleep(0.05)


def ab_round(a, tmp):
    """One work.py, both tools attached with -p: {tool: {program: ns/run}}."""
    go, hold = os.path.join(tmp, "go"), os.path.join(tmp, "hold")
    for f in (go, hold):
        if os.path.exists(f):
            os.unlink(f)
    env = dict(os.environ, PYLEAK_BENCH_GO=go, PYLEAK_BENCH_HOLD=hold)
    env.pop("PYTHONMALLOC", None)
    wout = os.path.join(tmp, "work.out")
    with open(wout, "w") as f:
        work = subprocess.Popen([a.python, os.path.join(HERE, "work.py"), str(a.iterations)],
                                stdout=f, stderr=subprocess.STDOUT, env=env)
    # work.py waits for GO only once its interpreter is up: give it that long
    time.sleep(1.0)
    tracers = []
    for k, tool in enumerate((a.tool, a.ab)):
        out = os.path.join(tmp, "tracer%d.out" % k)
        with open(out, "w") as f:
            tracers.append((tool, out, subprocess.Popen([tool, "--no-fds", "-p", str(work.pid), "600"],
                                                        stdout=f, stderr=subprocess.STDOUT)))
    for tool, out, proc in tracers:
        wait_text(out, r"Ctrl-C to end", proc, "%s attaching" % tool)
    open(go, "w").close()
    wait_text(wout, r"PYLEAK-BENCH seconds=([0-9.]+)", work, "the work")
    res = {}
    for tool, out, proc in tracers:
        res[tool] = dict((p["name"], p["run_time_ns"] / p["run_cnt"]) for p in progs_of(proc.pid)
                         if p.get("run_cnt"))
    for tool, out, proc in tracers:
        proc.send_signal(2)
        proc.wait(timeout=60)
    open(hold, "w").close()
    work.wait(timeout=60)
    return res


def ab(a):
    fd = enable_stats()
    tmp = tempfile.mkdtemp(prefix="pyleak-cost-")
    rounds = [ab_round(a, tmp) for _ in range(a.rounds)]
    os.close(fd)
    names = ("pymem_malloc_enter", "pymem_realloc_enter", "pymem_free_enter", "alloc_exit")
    print("work.py %d on %s, %d rounds, both tools attached with -p to the same process;"
          " median ns/run" % (a.iterations, a.python, a.rounds))
    print("%-40s %s" % ("tool", " ".join("%20s" % n for n in names)))
    for tool in (a.tool, a.ab):
        cells = []
        for n in names:
            v = sorted(r[tool].get(n, 0) for r in rounds)
            cells.append("%20.0f" % v[len(v) // 2])
        print("%-40s %s" % (tool, " ".join(cells)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default="/root/.pyenv/versions/3.11.7/bin/python3.11")
    ap.add_argument("--iterations", type=int, default=50000)
    ap.add_argument("--tool", default=os.path.join(ROOT, "pyleak-bpf"))
    ap.add_argument("--ab", metavar="OTHER_TOOL")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("tool_args", nargs="*")
    a = ap.parse_args()
    if a.ab:
        return ab(a)


    fd = enable_stats()
    tmp = tempfile.mkdtemp(prefix="pyleak-cost-")
    hold = os.path.join(tmp, "hold")
    outp = os.path.join(tmp, "out")
    env = dict(os.environ, PYLEAK_BENCH_HOLD=hold)
    env.pop("PYTHONMALLOC", None)
    cmd = [a.tool, "--no-fds"] + a.tool_args + ["600", "--", a.python,
                                                 os.path.join(HERE, "work.py"), str(a.iterations)]
    with open(outp, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 600
    seconds = None
    while seconds is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit("prog_cost: the work did not finish:\n" + open(outp).read()[-2000:])
        m = re.search(r"PYLEAK-BENCH seconds=([0-9.]+)", open(outp).read())
        if m:
            seconds = float(m.group(1))
        time.sleep(0.05)
    progs = progs_of(proc.pid)
    open(hold, "w").close()
    proc.wait(timeout=120)
    os.close(fd)
    text = open(outp).read()
    stats = {}
    for line in text.splitlines():
        if line.startswith("stats:"):
            w = line.split()[1:]
            stats = {w[i]: int(w[i + 1]) for i in range(0, len(w) - 1, 2)}
    events = stats.get("allocs", 0) + stats.get("frees", 0)
    total = 0
    print("%s, work.py %d: %.3f s of work, %d events (allocs + frees)" %
          (" ".join(cmd[:-3]), a.iterations, seconds, events))
    print("%-24s %12s %14s %9s %8s" % ("program", "run_cnt", "run_time_ns", "ns/run", "xlated"))
    for p in sorted(progs, key=lambda p: -p.get("run_time_ns", 0)):
        cnt, ns = p.get("run_cnt", 0), p.get("run_time_ns", 0)
        total += ns
        if cnt:
            print("%-24s %12d %14d %9.0f %8d" % (p["name"], cnt, ns, ns / cnt, p.get("bytes_xlated", 0)))
    if events:
        print("BPF run time per event: %.0f ns" % (total / events))
    for l in text.splitlines():
        if l.startswith("stack store") or l.startswith("stats:"):
            print(l)


if __name__ == "__main__":
    main()
