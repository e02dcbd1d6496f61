#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What the agent costs for a process holding 1 M outstanding allocations (issue 10).

    python3 bench/collect_bench.py --ab OTHER_TOOL [--tool ./pyleak-bpf] [--python PY]
                                   [--objects N] [--intervals 5,1] [--window S] [--rounds R]
                                   [--census] [--write]

A Python (PY, default pyenv 3.11.7: its allocator tables are probed under -p, so every
object allocation reaches the probes) waits, is attached by `TOOL -j --exact --no-census
-p PID INTERVAL` (with --census: the census on, at the report interval), and once the
first report is out builds a list of N (1,000,000) small objects (`object()`: one
allocation each), then idles. When a report counts at least N allocations, the tracer's
utime+stime (/proc/TRACER/stat) is read over WINDOW (30) seconds, and its VmRSS at the
end; the last report's total count is checked against N on both tools. TOOL and
OTHER_TOOL (e.g. main's build) alternate, per interval, for R (2) rounds in one run.
Prints a markdown section (per tool and interval: the agent's CPU in % of a core,
median and range, RSS, the ratio TOOL / OTHER_TOOL); --write puts it in bench/RESULTS.md,
replacing this command line's earlier section. Standard library only; run as root.
"""
import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from procs_bench import write_results  # bench/RESULTS.md, this command's section

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TICK = os.sysconf("SC_CLK_TCK")
TARGET = r"""
import sys
print("waiting", flush=True)
sys.stdin.readline()
keep = [object() for _ in range(int(sys.argv[1]))]
print("built", len(keep), flush=True)
sys.stdin.readline()
"""


def log(msg):
    print("collect_bench: %s" % msg, file=sys.stderr, flush=True)


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Reports:
    """The tracer's JSON reports, read as they come: the latest total count."""

    def __init__(self, proc):
        self.count = None
        self.n = 0
        self.cond = threading.Condition()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.n += 1
                ps = r.get("processes") or []
                self.count = ps[0]["totals"]["count"] if ps else None
                self.cond.notify_all()

    def wait(self, pred, timeout, what):
        end = time.monotonic() + timeout
        with self.cond:
            while not pred(self):
                left = end - time.monotonic()
                if left <= 0:
                    raise RuntimeError("timed out waiting for %s" % what)
                self.cond.wait(left)


def one(tool, py, n, interval, window, census, tmp):
    target = subprocess.Popen([py, "-c", TARGET, str(n)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    tracer = None
    try:
        if target.stdout.readline().strip() != "waiting":
            raise RuntimeError("the target did not start")
        args = [tool, "-j", "--exact", "-p", str(target.pid), "%g" % interval]
        if not census:
            args.insert(2, "--no-census")
        err = open(os.path.join(tmp, "tracer.err"), "w")
        tracer = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
        reps = Reports(tracer)
        reps.wait(lambda r: r.n >= 1, 120, "a first report")
        target.stdin.write("go\n")
        target.stdin.flush()
        if not target.stdout.readline().startswith("built"):
            raise RuntimeError("the target did not build its list")
        reps.wait(lambda r: r.count is not None and r.count >= n, 300,
                  "a report counting %d allocations" % n)
        c0, t0 = cpu_s(tracer.pid), time.monotonic()
        time.sleep(window)
        c1, t1 = cpu_s(tracer.pid), time.monotonic()
        rss = rss_mib(tracer.pid)
        count = reps.count
        return {"cpu_pct": 100 * (c1 - c0) / (t1 - t0), "rss_mib": rss, "count": count}
    finally:
        if tracer:
            tracer.send_signal(signal.SIGINT)
            try:
                tracer.wait(60)
            except subprocess.TimeoutExpired:
                tracer.kill()
                tracer.wait()
        target.kill()
        target.wait()


def fmt_range(v):
    return "%.2f (%.2f-%.2f)" % (statistics.median(v), min(v), max(v))


def git_rev(tool):
    d = os.path.dirname(os.path.abspath(tool))
    try:
        return subprocess.run(["git", "-C", d, "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True, timeout=10).stdout.strip()[:70]
    except OSError:
        return "?"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--tool", default=os.path.join(ROOT, "pyleak-bpf"))
    p.add_argument("--ab", required=True, metavar="OTHER_TOOL", help="the baseline build")
    p.add_argument("--python", default=os.path.join(os.environ.get("PYENV_ROOT", "/root/.pyenv"),
                                                    "versions/3.11.7/bin/python3.11"))
    p.add_argument("--objects", type=int, default=1000000)
    p.add_argument("--intervals", default="5,1")
    p.add_argument("--window", type=float, default=30)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--census", action="store_true", help="the census on (default --no-census)")
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("collect_bench: run as root")
    tools = [("this", a.tool), ("other", a.ab)]
    intervals = [float(x) for x in a.intervals.split(",")]
    data = {}
    with tempfile.TemporaryDirectory(prefix="pyleak-collect-") as tmp:
        for rnd in range(a.rounds):
            for iv in intervals:
                order = tools if rnd % 2 == 0 else tools[::-1]
                for lab, tool in order:
                    r = one(tool, a.python, a.objects, iv, a.window, a.census, tmp)
                    log("round %d, %s, -j %g: %.2f%% of a core, %.1f MiB, count %s" %
                        (rnd, lab, iv, r["cpu_pct"], r["rss_mib"], r["count"]))
                    data.setdefault((lab, iv), []).append(r)
    argv = ["python3", "bench/collect_bench.py"] + [x for x in sys.argv[1:] if x != "--write"]
    command = " ".join(argv)
    out = ["", "What the agent costs while a process holds %d outstanding allocations (issue 10): "
           "`pyleak-bpf -j --exact%s -p PID INTERVAL` on %s building `[object() for _ in "
           "range(%d)]` after the first report, then idling; the agent's utime+stime over %g s "
           "once a report counts them all, VmRSS at the end; %d rounds, the two builds "
           "alternating. Run %s on %s (%s, %d CPUs, shared with other work)." %
           (a.objects, "" if a.census else " --no-census", a.python, a.objects, a.window, a.rounds,
            datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), platform.node(),
            platform.release(), os.cpu_count()),
           "", "- this: `%s` (%s)" % (a.tool, git_rev(a.tool)),
           "- other: `%s` (%s)" % (a.ab, git_rev(a.ab)), "",
           "| interval | build | agent CPU, % of a core: median (range) | RSS MiB | counted | "
           "CPU ratio this / other |", "|---|---|---|---|---|---|"]
    for iv in intervals:
        med = {}
        for lab, _ in tools:
            v = data[(lab, iv)]
            med[lab] = statistics.median(r["cpu_pct"] for r in v)
        for lab, _ in tools:
            v = data[(lab, iv)]
            ratio = ("%.3f" % (med["this"] / med["other"]) if med["other"] > 0 else "-") \
                if lab == "this" else ""
            out.append("| %g s | %s | %s | %.1f | %s | %s |" % (
                iv, lab, fmt_range([r["cpu_pct"] for r in v]),
                statistics.median(r["rss_mib"] for r in v),
                "/".join(str(r["count"]) for r in v), ratio))
    out.append("")
    text = "\n".join(out) + "\n"
    print(text)
    if a.write:
        write_results(command, text)


if __name__ == "__main__":
    main()
