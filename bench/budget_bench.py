#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Does the overhead budget keep a process within it when its allocation rate jumps (issue 10)?

    python3 bench/budget_bench.py [--python PATH]... [--rounds R] [--after N] [--tool PATH] [--write]

The workload is bench/jump_work.py (tests/fixtures/rate_jump.py's work: busy in C, one
600-byte allocation 120 frames deep every 270 us of that work for 3 s, then every 27 us):
it times N allocations after the jump (default 400000, about 12 s untraced). The spans of
work between allocations are calibrated once per interpreter, untraced, and passed to
every run, so that every run does the same work. Modes, each
launched as `pyleak-bpf --keep-allocator -j ... 1 -- PYTHON bench/jump_work.py` (the
process's own allocator: on a PGO build only what reaches libc):

    untraced     the baseline
    exact        every allocation recorded, no budget (what the budget saves)
    budget-10    exact, --max-overhead 10 (the e2e test budget-rate-jump's setting)
    continuous   -a's defaults: --sample-bytes 512K --max-overhead 3, a census a minute

Rounds alternate the modes (each round starts one further on). Per mode: the median time
of the after phase against untraced's, which the budget should keep within 1 + PCT/100,
and what the budget did (the notes of its JSON reports, as they changed). --write puts the section into
bench/RESULTS.md. Standard library only; run as root.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from common import ROOT, machine, med, tool_version, write_section

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "jump_work.py")
PYENV = os.environ.get("PYENV_ROOT", "/root/.pyenv")
DEFAULT_PYTHONS = ["/usr/bin/python3.11", os.path.join(PYENV, "versions/3.12.1/bin/python3.12")]
LINE = re.compile(r"PYLEAK-JUMP before_s=(\S+) after_s=(\S+) after_cpu_s=(\S+) allocs=(\d+)")
MODES = [
    ("untraced", None, None),
    ("exact", [], None),
    ("budget-10", ["--max-overhead", "10"], 10.0),
    ("continuous", ["--sample-bytes", "512K", "--max-overhead", "3", "--census-interval", "60"], 3.0),
]


def log(msg):
    sys.stderr.write("[budget_bench] %s\n" % msg)
    sys.stderr.flush()


def calibrate(py):
    """The spans of 270 and 27 us of the workload's scanning here, median of 3 untraced
    calibrations: every run of the interpreter then does the same work."""
    spans = []
    for _ in range(3):
        out = subprocess.run([py, WORK, "--calibrate"], capture_output=True, text=True, timeout=120).stdout
        m = re.search(r"PYLEAK-SPANS (\d+) (\d+)", out)
        if not m:
            raise SystemExit("budget_bench: %s --calibrate printed no spans: %s" % (py, out[-500:]))
        spans.append((int(m.group(1)), int(m.group(2))))
    return sorted(spans)[1]


def one(tool, py, mode_args, after, spans):
    work = [py, WORK, "3", str(after), str(spans[0]), str(spans[1])]
    if mode_args is None:
        cmd = work
    else:
        cmd = [tool, "--keep-allocator", "-j", "--no-fds"] + \
            (["--no-census"] if "--census-interval" not in mode_args else []) + mode_args + ["1", "--"] + work
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    m = LINE.search(p.stdout)
    if p.returncode != 0 or not m:
        raise SystemExit("budget_bench: %s: exit %d, no PYLEAK-JUMP line:\n%s" % (
            " ".join(cmd), p.returncode, (p.stderr + p.stdout)[-2000:]))
    notes = []          # each report's budget note, as it changed
    for line in p.stdout.splitlines():
        if not line.startswith("{"):
            continue
        for proc in json.loads(line).get("processes", []):
            n = proc.get("budget")
            if n and (not notes or notes[-1] != n):
                notes.append(n)
    return {"after_s": float(m.group(2)), "cpu_s": float(m.group(3)), "notes": notes}


def short(note):
    m = re.match(r"(sampled every \S+ \S+|allocation probes paused for \S+ s|allocation probes back)"
                 r"(?:.*?estimated (\S+)% )?", note)
    if not m:
        return note[:40]
    return m.group(1).replace("allocation probes ", "") + (" (est. %s%%)" % m.group(2) if m.group(2) else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--python", action="append", help="interpreter (default: %s)" % ", ".join(DEFAULT_PYTHONS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--after", type=int, default=400000, help="allocations timed after the jump")
    ap.add_argument("--tool", default=os.path.join(ROOT, "pyleak-bpf"))
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("budget_bench.py: run as root")
    pys = args.python or [p for p in DEFAULT_PYTHONS if os.access(p, os.X_OK)]
    command = " ".join(["python3 bench/budget_bench.py"] + [a for a in sys.argv[1:] if a != "--write"])
    tmp = tempfile.mkdtemp(prefix="pyleak-budgetbench-")
    notes_tool = tool_version(args.tool)
    tool = os.path.join(tmp, "pyleak-bpf")     # a private copy: a rebuild cannot mix versions
    shutil.copy2(args.tool, tool)
    t0 = datetime.datetime.now(datetime.timezone.utc)
    res = {(py, m[0]): [] for py in pys for m in MODES}
    cells = [(py, m) for py in pys for m in MODES]
    spans = {py: calibrate(py) for py in pys}
    for py in pys:
        log("%s: %d and %d bytes scanned per allocation (270 and 27 us)" % (py, spans[py][0], spans[py][1]))
    try:
        for r in range(args.rounds):
            for py, (name, margs, _) in cells[r % len(cells):] + cells[:r % len(cells)]:
                x = one(tool, py, margs, args.after, spans[py])
                res[(py, name)].append(x)
                log("round %d %s %-10s after %.3f s%s" % (r + 1, py, name, x["after_s"],
                                                          "  " + "; ".join(map(short, x["notes"])) if x["notes"] else ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    L = ["## `%s` (the budget when the allocation rate jumps: issue 10)" % command, ""]
    L.append("- date: %s (end of the run); %d rounds" % (
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), args.rounds))
    L.append("- machine: %s; load average %s at the end" % (machine(), " ".join("%.2f" % x for x in os.getloadavg())))
    L.append("- tracer: %s" % notes_tool)
    L.append("- workload: `bench/jump_work.py 3 %d SLOW FAST` (3 s at one allocation per 270 us of work, then %d "
             "allocations at one per 27 us, timed; the spans calibrated once per interpreter: %s); tracer "
             "`--keep-allocator -j --no-fds ... 1 --`" % (args.after, args.after, ", ".join(
                 "%s %d/%d bytes" % (py, spans[py][0], spans[py][1]) for py in pys)))
    L.append("")
    L.append("| interpreter | mode | after-jump s (median) | x untraced | range s | CPU s (median) | within budget | what the budget did (each run's notes, in order) |")
    L.append("|---|---|---:|---:|---:|---:|---|---|")
    summary = []
    for py in pys:
        base = med([x["after_s"] for x in res[(py, "untraced")]])
        for name, margs, pct in MODES:
            xs = res[(py, name)]
            t = med([x["after_s"] for x in xs])
            ratio = t / base
            ok = "" if pct is None else ("yes" if ratio <= 1 + pct / 100 else "**no**")
            did = " / ".join(sorted(set("; ".join(map(short, x["notes"])) or "nothing" for x in xs)))
            L.append("| `%s` | %s | %.3f | %.3f | %.3f-%.3f | %.3f | %s | %s |" % (
                py, name, t, ratio, min(x["after_s"] for x in xs), max(x["after_s"] for x in xs),
                med([x["cpu_s"] for x in xs]), ok, did if margs is not None else ""))
            if pct is not None:
                summary.append("%s %s: %.1f%% slower after the jump (budget %g%%): %s" % (
                    py, name, 100 * (ratio - 1), pct, "within" if ratio <= 1 + pct / 100 else "NOT within"))
    L.append("")
    L += ["- " + s for s in summary]
    L.append("")
    text = "\n".join(L) + "\n"
    sys.stdout.write(text)
    if args.write:
        write_section(command, text)
        log("wrote bench/RESULTS.md")


if __name__ == "__main__":
    main()
