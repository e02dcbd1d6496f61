#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What a heap census costs, on a heap of about 10 M objects.

    python3 bench/census_bench.py [--python PATH] [--objects N] [--seconds S] [--write]

A target builds N objects (a list of (int, str) tuples: three objects an item), then
runs a fixed loop of small work and counts its iterations. Three phases of S seconds:
untraced; traced by `pyleak-bpf --fds-only` censusing back to back (each report waits
for the census before it); the same with --census-pause. Reported: the target's loop
rate in each phase against the untraced one, and from the tracer's JSON the seconds
per census, objects, syscalls, bytes read and how long --census-pause stopped it; the
tracer's peak RSS (VmHWM); and the time pymalloc's pool walk took within each census,
against the census's own.

--write replaces this script's section of bench/RESULTS.md.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOOL = os.path.join(ROOT, "pyleak-bpf")

TARGET = r"""
import os, sys, time
n = int(sys.argv[1]) // 3
heap = [(i, "s%d" % i) for i in range(n)]
out = sys.argv[2]
with open(out + ".ready", "w") as f:
    f.write(str(os.getpid()))
count = 0
while True:
    d = {}
    for j in range(20):
        d[j] = [j, j + 1]
    count += 1
    if count % 2000 == 0:
        with open(out, "w") as f:
            f.write("%d %.6f" % (count, time.monotonic()))
"""


def read_progress(path):
    try:
        with open(path) as f:
            c, t = f.read().split()
        return int(c), float(t)
    except (OSError, ValueError):
        return None


def rate_over(path, seconds):
    a = None
    while a is None:
        a = read_progress(path)
        time.sleep(0.05)
    time.sleep(seconds)
    b = None
    while b is None:        # the target rewrites the file: a read can catch it empty
        b = read_progress(path)
        time.sleep(0.01)
    return (b[0] - a[0]) / (b[1] - a[1])


def vm_hwm(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
            return int(m.group(1)) * 1024 if m else None
    except OSError:
        return None


def traced_phase(pid, progress, seconds, extra):
    out = tempfile.NamedTemporaryFile(delete=False)
    tr = subprocess.Popen([TOOL, "-j", "--fds-only", "-T", "5", "--census-max-objects", "100000000"] + extra +
                          ["-p", str(pid), "0.1"], stdout=out, stderr=subprocess.DEVNULL)
    # the first census is the slowest to start (symbols, the first chunk reads)
    time.sleep(1)
    rate = rate_over(progress, seconds)
    hwm = vm_hwm(tr.pid)
    tr.send_signal(signal.SIGINT)
    tr.wait(timeout=120)
    with open(out.name) as f:
        reps = [json.loads(l) for l in f if l.startswith("{")]
    os.unlink(out.name)
    # one process traced: its section of each report (processes[0])
    procs = [(r.get("processes") or [{}])[0] for r in reps]
    cens = []
    for p in procs:
        c = p.get("census") or {}
        # a census runs in its own thread: the reports between two show the last one again
        key = (c.get("seconds"), c.get("syscalls"), c.get("read_bytes"))
        if c.get("valid") and (not cens or key != cens[-1]["key"]):
            cens.append(dict(c, key=key, allocator=(p.get("memory") or {}).get("allocator")))
    return rate, cens, hwm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default="/root/.pyenv/versions/3.12.1/bin/python3")
    ap.add_argument("--objects", type=int, default=10000000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="census-bench-")
    progress = os.path.join(tmp, "progress")
    script = os.path.join(tmp, "target.py")
    with open(script, "w") as f:
        f.write(TARGET)
    target = subprocess.Popen([a.python, script, str(a.objects), progress])
    try:
        while not os.path.exists(progress + ".ready"):
            time.sleep(0.1)
        base = rate_over(progress, a.seconds)
        live, cens, hwm = traced_phase(target.pid, progress, a.seconds, [])
        paused, pcens, phwm = traced_phase(target.pid, progress, a.seconds, ["--census-pause"])
    finally:
        target.kill()
        target.wait()
    ver = subprocess.run([a.python, "-c", "import sys; print(sys.version.split()[0])"],
                         capture_output=True, text=True).stdout.strip()

    def summary(cs):
        if not cs:
            return "no census"
        secs = sorted(c["seconds"] for c in cs)
        text = "%d censuses, median %.2f s (%.2f-%.2f), %d objects, %d syscalls, %.0f MiB read" % (
            len(cs), secs[len(secs) // 2], secs[0], secs[-1], cs[-1]["objects"], cs[-1]["syscalls"],
            cs[-1]["read_bytes"] / 2 ** 20)
        walks = sorted((c["allocator"]["seconds"], c["seconds"], c["allocator"]) for c in cs
                       if (c.get("allocator") or {}).get("size_classes") is not None)
        if walks:
            w, whole, al = walks[len(walks) // 2]
            text += "; pymalloc's pools: median %.3f s (x%.3f of its census), %d pools, %d syscalls" % (
                w, w / whole if whole else 0, al["pools_carved"], al["syscalls"])
        return text

    lines = [
        "<!-- bench: python3 bench/census_bench.py -->",
        "## `python3 bench/census_bench.py`",
        "",
        "CPython %s, a heap of %d objects (list of (int, str) tuples), %s; %d s a phase; "
        "the machine has 2 cores shared with other work." % (ver, a.objects, time.strftime("%Y-%m-%d"),
                                                             a.seconds),
        "",
        "| phase | target loop rate | x untraced | census |",
        "|---|---|---|---|",
        "| untraced | %.0f/s | 1.00 | |" % base,
        "| censused back to back | %.0f/s | %.2f | %s; tracer peak RSS %.0f MiB |" % (
            live, base / live, summary(cens), (hwm or 0) / 2 ** 20),
        "| --census-pause | %.0f/s | %.2f | %s; stopped %s s per census |" % (
            paused, base / paused, summary(pcens),
            ", ".join("%.2f" % c["paused_s"] for c in pcens[:6])),
        "",
        "Censuses here run back to back (reports every 0.1 s), the worst case; at the default",
        "5 s interval the target pays the same per census, 5 s apart. Without --census-pause the",
        "target is never stopped: its slowdown is the CPU the tracer takes on this 2-core",
        "machine (process_vm_readv only takes the target's mmap lock for reading). With it,",
        "the target is stopped for the whole census, the seconds shown. The pymalloc part",
        "(every carved pool's header, gathered up to 1024 a process_vm_readv) is timed within",
        "each census and given as a share of it.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if a.write:
        # the format bench/run.py keeps: <!-- bench: CMD -->\nBODY<!-- end -->\n
        path = os.path.join(HERE, "RESULTS.md")
        with open(path) as f:
            old = f.read()
        body = "\n".join(lines[1:]) + "\n"
        pat = re.compile(r"<!-- bench: python3 bench/census_bench.py -->\n.*?<!-- end -->\n", re.S)
        new = "<!-- bench: python3 bench/census_bench.py -->\n" + body + "<!-- end -->\n"
        if pat.search(old):
            old = pat.sub(lambda m: new, old)
        else:
            old = old.rstrip("\n") + "\n\n" + new
        with open(path, "w") as f:
            f.write(old)


if __name__ == "__main__":
    main()
