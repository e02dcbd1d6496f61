# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What the benches share: /proc readings, the cgroup2 mount, the tracer's identity
and the machine's, and bench/RESULTS.md's sections. Standard library only."""
import hashlib
import os
import platform
import re
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "RESULTS.md")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def cpu_ticks(pid):
    """utime + stime of pid, all its threads, in clock ticks (OSError when it is gone)."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])       # fields 14 and 15


def cpu_busy():
    """(busy, total) clock ticks of all CPUs since boot (idle and iowait are not busy)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


def other_tracers(mine=None):
    """pyleak-bpf processes running, but mine: the noise a bench notes."""
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != mine:
            try:
                with open("/proc/%s/comm" % d) as f:
                    n += f.read().strip() == "pyleak-bpf"
            except OSError:
                pass
    return n


def cgroup2_root():
    """Where the cgroup v2 file system is mounted (the unified one of a hybrid host first),
    or None."""
    mounts = []
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                mounts.append(parts[1])
    for pref in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if pref in mounts:
            return pref
    return mounts[0] if mounts else None


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def git(path, *args):
    """git in the checkout holding path; "" when it is none."""
    r = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(path))] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def tool_version(tool):
    """The binary, the commit it was built at (and whether the sources differ), its hash."""
    head = git(tool, "rev-parse", "--short", "HEAD")
    dirty = git(tool, "status", "--porcelain", "--", "user", "bpf", "Makefile")
    return "`%s`, built at commit %s%s, binary sha256 %s" % (
        os.path.relpath(tool, ROOT) if tool.startswith(ROOT + "/") else tool, head or "unknown",
        " with uncommitted changes in user/ bpf/ Makefile" if dirty else "", sha256(tool)[:12])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine():
    return "%d CPUs (%s), Linux %s" % (os.cpu_count(), cpu_model(), platform.release())


def write_section(command, text, results=RESULTS):
    """Put text into bench/RESULTS.md as command's section (replacing the one it had;
    a new one goes at the end)."""
    with open(results) as f:
        old = f.read()
    marker = "<!-- bench: %s -->\n" % command
    block = marker + text + "<!-- end -->\n"
    m = re.search(re.escape(marker) + r".*?<!-- end -->\n", old, re.S)
    new = old[:m.start()] + block + old[m.end():] if m else old.rstrip("\n") + "\n\n" + block
    with open(results + ".tmp", "w") as f:
        f.write(new)
    os.rename(results + ".tmp", results)
