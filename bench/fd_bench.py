#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Benchmark: what fd tracking costs, to the traced program and to everyone else.

    python3 bench/fd_bench.py [--python PATH] [--rounds R] [--iterations N]
                              [--tool PATH] [--no-bystander]

1. The traced program: bench/fd_work.py --kind fds (a fixed number of iterations, each
   creating and closing 6 fds: a file, a socketpair, a pipe, a dup), timed by itself
   around the loop only, in each mode:

       untraced      the plain interpreter: the baseline of the ratios
       no-fds        pyleak-bpf --no-fds -- python fd_work.py: memory only, fd tracking off
       fds-only      pyleak-bpf --fds-only -- ...: fd tracking only, no allocator probes
                     (per-syscall tracepoints, the default)
       fds-only-raw  the same through the raw sys_exit tracepoint (--fd-tracepoints raw)
       both          pyleak-bpf -- ...: the default, memory and fds

2. Bystanders (unless --no-bystander): an idle Python process is traced with -p in each
   mode (none, no-fds, fds-only, fds-only-raw) while fd_work.py runs untraced beside it,
   with --kind fds and with --kind getppid (a syscall fd tracking ignores): what tracing
   one process costs the others (bpf/fd.bpf.h explains the two mechanisms).

Ratios are of CPU time (time.process_time around the loop: the kernel time tracing adds
to a syscall is the process's, time the machine gives to other work is not), which
stays stable on a busy machine; wall-time medians are shown beside them.  Modes
alternate round-robin for R rounds (each round starts one mode further on); the
tables show medians and ratios to the same run's untraced median.  Every traced
run is checked: pyleak-bpf exits 0, and its final stats count every fd the loop made
(fds_opened) when fds are tracked, none when not.  A failed check stops the bench
with the evidence (exit 1).  Standard library only; run as root.
"""
import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "fd_work.py")
PYENV_ROOT = os.environ.get("PYENV_ROOT", "/root/.pyenv")
DEFAULT_PYTHON = os.path.join(PYENV_ROOT, "versions/3.12.1/bin/python3.12")
RAW = ["--fds-only", "--fd-tracepoints", "raw"]
TRACED_MODES = {"untraced": None, "no-fds": ["--no-fds"], "fds-only": ["--fds-only"], "fds-only-raw": RAW,
                "both": []}
BYSTANDER_MODES = {"none": None, "no-fds": ["--no-fds"], "fds-only": ["--fds-only"], "fds-only-raw": RAW}
FDS_PER_ITERATION = 6

WORK_LINE = re.compile(r"^PYLEAK-FD-BENCH seconds=(\S+) cpu=(\S+) iterations=(\d+) kind=(\S+) python=(\S+)$",
                       re.M)
STATS_LINE = re.compile(r"^stats: (.*)$", re.M)


class BenchError(Exception):
    """A run failed or did not trace: the bench stops and says why."""


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def clean_env(extra=None):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "PYLEAK_BENCH_GO")
    env.update(extra or {})
    return env


def last_stats(out):
    found = STATS_LINE.findall(out)
    if not found:
        return None
    words = found[-1].split()
    return dict((words[i], int(words[i + 1])) for i in range(0, len(words) - 1, 2))


def seconds_of(out, what):
    """(wall, cpu) seconds of the loop."""
    m = WORK_LINE.search(out)
    if not m:
        raise BenchError("%s: no PYLEAK-FD-BENCH line in its output:\n%s" % (what, out[-1500:]))
    return float(m.group(1)), float(m.group(2))


def check_fds(stats, tool_args, iterations, what, out):
    if stats is None:
        raise BenchError("%s: no stats line from pyleak-bpf:\n%s" % (what, out[-1500:]))
    opened = stats.get("fds_opened", -1)
    if "--no-fds" in tool_args:
        if opened != 0:
            raise BenchError("%s: expected fds_opened 0 with --no-fds, saw %d" % (what, opened))
    elif opened < FDS_PER_ITERATION * iterations:
        raise BenchError("%s: expected fds_opened >= %d, saw %d" % (what, FDS_PER_ITERATION * iterations, opened))


def run_traced(opts, mode, tmp):
    """One run of the traced program in mode; its loop's seconds."""
    work = [opts.python, WORK, str(opts.iterations), "--dir", tmp]
    args = TRACED_MODES[mode]
    what = "traced program, %s" % mode
    if args is None:
        p = subprocess.run(work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=clean_env(),
                           universal_newlines=True, errors="replace", timeout=600)
        if p.returncode:
            raise BenchError("%s: exit %d:\n%s" % (what, p.returncode, p.stdout[-1500:]))
        return seconds_of(p.stdout, what)
    cmd = [opts.tool] + args + ["--"] + work
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=clean_env(),
                       universal_newlines=True, errors="replace", timeout=600)
    if p.returncode:
        raise BenchError("%s: %s exited %d:\n%s" % (what, " ".join(cmd), p.returncode, p.stdout[-1500:]))
    check_fds(last_stats(p.stdout), args, opts.iterations, what, p.stdout)
    return seconds_of(p.stdout, what)


def run_bystander(opts, mode, kind, tmp):
    """fd_work.py untraced while an idle Python is traced in mode; its loop's seconds."""
    what = "bystander %s, idle target traced %s" % (kind, mode)
    args = BYSTANDER_MODES[mode]
    idle = tracer = None
    out_path = os.path.join(tmp, "tracer.out")
    try:
        if args is not None:
            idle = subprocess.Popen([opts.python, "-c", "import time; time.sleep(3600)"], env=clean_env())
            time.sleep(0.3)
            with open(out_path, "w") as out:
                tracer = subprocess.Popen([opts.tool] + args + ["-p", str(idle.pid), "60"], stdout=out,
                                          stderr=subprocess.STDOUT, env=clean_env())
            deadline = time.monotonic() + 60
            while "Ctrl-C to end" not in open(out_path).read():
                if tracer.poll() is not None or time.monotonic() > deadline:
                    raise BenchError("%s: pyleak-bpf did not attach:\n%s" % (what, open(out_path).read()[-1500:]))
                time.sleep(0.05)
        p = subprocess.run([opts.python, WORK, str(opts.iterations * (4 if kind == "getppid" else 1)),
                            "--kind", kind, "--dir", tmp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=clean_env(), universal_newlines=True, errors="replace", timeout=600)
        if p.returncode:
            raise BenchError("%s: exit %d:\n%s" % (what, p.returncode, p.stdout[-1500:]))
        secs = seconds_of(p.stdout, what)
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            rc = tracer.wait(timeout=60)
            out = open(out_path).read()
            if rc:
                raise BenchError("%s: pyleak-bpf exited %d:\n%s" % (what, rc, out[-1500:]))
            if last_stats(out) is None:
                raise BenchError("%s: no final report:\n%s" % (what, out[-1500:]))
        return secs
    finally:
        for proc in (tracer, idle):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def rounds(modes, r):
    """The modes, each round starting one further on."""
    k = r % len(modes)
    return modes[k:] + modes[:k]


def table(title, rows, base):
    """rows: mode -> [(wall, cpu)]."""
    bc = statistics.median(c for _, c in rows[base])
    bw = statistics.median(w for w, _ in rows[base])
    lines = ["", title, "", "| mode | CPU s (median) | ratio to %s | wall s (median) | wall ratio | CPU s per run |" % base,
             "|---|---|---|---|---|---|"]
    for mode, runs in rows.items():
        c = statistics.median(c for _, c in runs)
        w = statistics.median(w for w, _ in runs)
        lines.append("| %s | %.3f | %.2fx | %.3f | %.2fx | %s |" % (mode, c, c / bc, w, w / bw,
                                                                  " ".join("%.3f" % c for _, c in runs)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description="What fd tracking costs (see the module doc).")
    ap.add_argument("--python", default=DEFAULT_PYTHON if os.path.exists(DEFAULT_PYTHON) else sys.executable)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=20000)
    ap.add_argument("--tool", default=os.path.join(ROOT, "pyleak-bpf"))
    ap.add_argument("--no-bystander", action="store_true")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        log("fd_bench: run as root: pyleak-bpf needs it")
        return 1
    version = subprocess.run([opts.python, "-c", "import platform; print(platform.python_version())"],
                             stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    out = ["# fd tracking overhead", "",
           "`%s` on %s, Linux %s, %d CPUs, CPython %s (%s); %d rounds, %d iterations "
           "(%d fds created and closed per run of the traced program)." % (
               " ".join(["python3", "bench/fd_bench.py"] + sys.argv[1:]), platform.node(), platform.release(),
               os.cpu_count(), version, opts.python, opts.rounds, opts.iterations,
               FDS_PER_ITERATION * opts.iterations)]
    try:
        with tempfile.TemporaryDirectory(prefix="pyleak-fd-bench-") as tmp:
            modes = list(TRACED_MODES)
            rows = dict((m, []) for m in modes)
            for r in range(opts.rounds):
                for mode in rounds(modes, r):
                    rows[mode].append(run_traced(opts, mode, tmp))
                    log("round %d traced %-12s wall %.3fs cpu %.3fs" % ((r + 1, mode) + rows[mode][-1]))
            out.append(table("## The traced program (fd_work.py --kind fds)", rows, "untraced"))
            if not opts.no_bystander:
                for kind in ("fds", "getppid"):
                    modes = list(BYSTANDER_MODES)
                    rows = dict((m, []) for m in modes)
                    for r in range(opts.rounds):
                        for mode in rounds(modes, r):
                            rows[mode].append(run_bystander(opts, mode, kind, tmp))
                            log("round %d bystander %-7s %-12s wall %.3fs cpu %.3fs" % (
                                (r + 1, kind, mode) + rows[mode][-1]))
                    out.append(table("## A bystander (fd_work.py --kind %s, untraced) while an idle "
                                     "process is traced" % kind, rows, "none"))
    except BenchError as e:
        log("fd_bench: %s" % e)
        return 1
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
