#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""How long pyleak-bpf takes to attach to and detach from one process.

    python3 bench/attach_bench.py [--tool ./pyleak-bpf] [--python PY] [--runs N] [--kill] [-- TOOL-ARGS]

Starts PY running a small allocation loop (bench/work.py's kind of churn), then N times:
runs `pyleak-bpf -j -p PID 0.5 1 TOOL-ARGS` (one report, then detach) and reads
  attach  the start of the tracer to its "Attaching to pid" banner (everything: discovery,
          BPF load, every probe), and, from -v, the probes' own attach time;
  end->final report, end->exit
          from the end of the one interval (INTERVAL after the banner) to the final report
          on stdout, and to the tracer's exit (every probe released, maps freed); from -v,
          the allocator probes' own detach time;
  --kill  instead: the loop's rate (iterations/s, from its progress file) while traced and
          in each half second after the tracer was SIGKILLed, as a fraction of its
          untraced rate: how long the kernel takes to release the probes of a dead tracer.
Prints one line per run and the medians. Run it on a quiet machine: it measures wall time.
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTERVAL = "0.5"
LOOP = r"""
import os, sys, time
path = sys.argv[1]
n = 0
t0 = time.monotonic()
while True:
    for _ in range(200):
        b = [bytes(64 + (n + i) % 900) for i in range(20)]
        del b
    n += 1
    if n % 20 == 0:
        with open(path + ".tmp", "w") as f:
            f.write("%d %f\n" % (n, time.monotonic()))
        os.replace(path + ".tmp", path)
"""


def progress(path):
    try:
        with open(path) as f:
            n, t = f.read().split()
            return int(n), float(t)
    except (OSError, ValueError):
        return None


def rate(path, secs):
    a = progress(path)
    time.sleep(secs)
    b = progress(path)
    if not a or not b or b[1] <= a[1]:
        return 0.0
    return (b[0] - a[0]) / (b[1] - a[1])


def one_run(tool, pid, extra, kill):
    argv = [tool, "-v", "-j", "-p", str(pid), INTERVAL, "1"] + extra
    if kill:
        argv = [tool, "-v", "-j", "-p", str(pid), INTERVAL] + extra
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    attach = detach = None
    err = []
    # The banner goes to stderr with -j.
    for line in p.stderr:
        err.append(line)
        if "Attaching to pid" in line:
            attach = time.monotonic() - t0
            break
    if kill:
        p.stdout.readline()     # a first report: the probes are in and running
        traced = rate(kill, 1.0)
        p.kill()
        p.wait()
        after = [rate(kill, 0.5) for _ in range(6)]
        return attach, (traced, after), "".join(err)
    for line in p.stdout:
        if '"final": true' in line or '"final":true' in line:
            t1 = time.monotonic()
            break
    else:
        t1 = None
    rest = p.stderr.read()
    p.wait()
    total = time.monotonic() - t0
    # The one interval starts right after the banner: the trace ends INTERVAL later.
    end = attach + float(INTERVAL)
    if t1 is not None:
        detach = (t1 - t0 - end, total - end)
    return attach, detach, "".join(err) + rest + "\ntotal %.3f\n" % total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", default=os.path.join(os.path.dirname(HERE), "pyleak-bpf"))
    ap.add_argument("--python", default="/root/.pyenv/versions/3.11.7/bin/python3.11")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kill", action="store_true", help="SIGKILL the tracer; measure the loop's rate after")
    ap.add_argument("extra", nargs="*", help="more pyleak-bpf arguments (after --)")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="pyleak-attach-")
    prog = os.path.join(d, "loop.py")
    with open(prog, "w") as f:
        f.write(LOOP)
    status = os.path.join(d, "progress")
    py = subprocess.Popen([a.python, prog, status])
    try:
        while progress(status) is None:
            time.sleep(0.1)
        base = rate(status, 2.0)
        print("untraced loop: %.0f iterations/s" % base)
        atts, dets, probes_at, probes_det, slows = [], [], [], [], []
        for i in range(a.runs):
            att, det, err = one_run(a.tool, py.pid, a.extra, status if a.kill else None)
            m = re.search(r"probes attached in ([\d.]+) ms", err)
            m2 = re.search(r"probes detached in ([\d.]+) ms", err)
            how = re.search(r"uprobes: ([^\n]*)", err)
            line = "run %d: attach %.3fs" % (i + 1, att or -1)
            tot = re.search(r"total ([\d.]+)", err)
            if tot:
                line += ", whole run %ss" % tot.group(1)
            atts.append(att or 0)
            if m:
                probes_at.append(float(m.group(1)) / 1000)
                line += " (probes %.3fs)" % probes_at[-1]
            if a.kill:
                traced, after = det
                line += ", traced %.0f%%, after SIGKILL %s" % (
                    100 * traced / base, " ".join("%.0f%%" % (100 * x / base) for x in after))
                slows.append(after)
                det = None
            if det is not None:
                dets.append(det)
                line += ", end->final report %.3fs, end->exit %.3fs" % det
            if m2:
                probes_det.append(float(m2.group(1)) / 1000)
                line += " (probes %.3fs)" % probes_det[-1]
            if how:
                line += " [%s]" % how.group(1)
            print(line)
            time.sleep(1.5)
        med = statistics.median
        out = "median: attach %.3fs" % med(atts)
        if probes_at:
            out += " (probes %.3fs)" % med(probes_at)
        if dets:
            out += ", end->final report %.3fs, end->exit %.3fs" % (med([d[0] for d in dets]),
                                                                   med([d[1] for d in dets]))
        if probes_det:
            out += " (probes %.3fs)" % med(probes_det)
        if slows:
            out += ", loop after SIGKILL (each 0.5 s) %s" % " ".join(
                "%.0f%%" % (100 * med([x[k] for x in slows]) / base) for k in range(len(slows[0])))
        print(out)
    finally:
        py.send_signal(signal.SIGKILL)
        py.wait()


if __name__ == "__main__":
    sys.exit(main())
