#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What the always-on mode costs a real service (issue 10): Flask under gunicorn, loaded by wrk.

    python3 bench/web_bench.py [--rounds R] [--duration S] [--modes LIST] [--tool PATH] [--write]

The service: bench/web_app.py (Flask, Debian's python3-flask) under Debian's gunicorn
(/usr/bin/gunicorn: Debian's stripped PGO python3.11), `-w 2` sync workers bound to
127.0.0.1, started once in a cgroup v2 group of the bench's own (made under the cgroup2
mount, removed at the end) so that `-a --cgroup` selects only it. Its endpoint builds 300
records, json.dumps them and renders 50 through a template. Load: Debian's wrk, 2
threads, 16 connections, S seconds a run (default 15), `--latency` for p50/p99.

Modes (pyleak-bpf always with -j and its default 5 s interval):

    untraced            no tracer: the baseline of the ratios
    continuous          -a --cgroup GROUP: the always-on defaults (sampling 512 KiB,
                        --max-overhead 3, --max-agent-cpu 1, census every 60 s, fds)
    continuous-settled  the same, but wrk measures only once the budget has acted on
                        every worker (a preload runs from the attach until each
                        worker's report carries a budget note, at most --settle s):
                        what the service pays once the agent has adjusted itself
    exact-p             -p MASTER: exact accounting of what reaches libc (partial
                        coverage on this PGO build), following the workers, no budget
    exact-all           -a --cgroup GROUP --exact --max-overhead 0: -a without
                        sampling or budget, for comparison

For each traced run the tracer starts after the service is up and warmed, and wrk starts
once stderr says the tracer attached to the master and both workers ("Attaching to pid",
"Following pid"); so a continuous run's window holds the attach, the budget's first
judgements (one a second from the attach) and the first census, the worst case for a
15 s window. During the wrk run: the tracer's own CPU (/proc/PID/stat
utime+stime, all its threads) and the service's (master and workers: what tracing adds
to their syscalls and traps is theirs). Then SIGINT, and from the JSON reports: each
worker's "budget" notes and "sampling", the "agent" object of the last report made
during the window (cpu_pct, bpf_pct; rss_bytes and map_bytes of the final one).

Modes alternate round-robin for R rounds (default 5; each round starts one mode further
on); the table has medians and the ratio of each mode's median requests/s to the
untraced median of the same run. --write puts the section into bench/RESULTS.md
(replacing this command's section, if there is one). Standard library only; run as root.
"""
import argparse
import datetime
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import cgroup2_root, machine, tool_version, write_section

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "RESULTS.md")
GUNICORN = "/usr/bin/gunicorn"
WRK = "wrk"
CLK = os.sysconf("SC_CLK_TCK")

MODES = ["untraced", "continuous", "continuous-settled", "exact-p", "exact-all"]
MODE_DOC = {
    "untraced": "no tracer (baseline)",
    "continuous": "`-a --cgroup G` (defaults: sampled 512 KiB, --max-overhead 3), wrk from the attach",
    "continuous-settled": "the same, wrk once the budget has acted on every worker",
    "exact-p": "`-p MASTER` (exact, follows the workers, no budget)",
    "exact-all": "`-a --cgroup G --exact --max-overhead 0`",
}
ATTACH_RE = re.compile(r"(?:Attaching to|Following) pid (\d+)")


class BenchError(Exception):
    pass


def log(msg):
    sys.stderr.write("[web_bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])     # utime, stime (fields 14, 15)
    except (OSError, IndexError, ValueError):
        return 0


def machine_busy_s():
    """CPU seconds the whole machine spent busy (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / CLK


def reaped_children_s():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                rest = f.read().rsplit(")", 1)[1].split()
            if int(rest[1]) == pid:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return sorted(out)



def proc_cgroup(pid):
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_serving(url, alive, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if not alive():
            raise BenchError("gunicorn exited before serving %s" % url)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError("gunicorn did not serve %s within %d s" % (url, timeout))


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out):
    r = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise BenchError("wrk printed no Requests/sec:\n" + out)
    r["rps"] = float(m.group(1))
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, out, re.M)
        r["p" + pct] = to_ms(*m.groups()) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    r["requests"] = int(m.group(1)) if m else 0
    r["wrk_s"] = to_ms(m.group(2), m.group(3)) / 1000 if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    return r


def wrk_argv(url, seconds, args):
    return [WRK, "-t", str(args.threads), "-c", str(args.connections), "-d", "%ds" % seconds,
            "--latency", url]


def read_reports(path):
    reps = []
    try:
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):
                    try:
                        reps.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return reps


class Service:
    """gunicorn -w 2 in a cgroup v2 group of our own."""

    def __init__(self, args):
        self.args = args
        self.port = free_port()
        self.url = "http://127.0.0.1:%d/" % self.port
        self.mount = cgroup2_root()
        if not self.mount:
            raise BenchError("no cgroup2 file system is mounted (needed for --cgroup)")
        self.group = os.path.join(self.mount, "pyleak-webbench-%d" % os.getpid())
        self.proc = None

    def start(self):
        os.mkdir(self.group)
        argv = [GUNICORN, "-w", "2", "-b", "127.0.0.1:%d" % self.port, "--chdir", HERE, "web_app:app"]
        cmd = 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"'
        self.log = open(os.path.join(self.args.tmp, "gunicorn.log"), "w")
        self.proc = subprocess.Popen(["sh", "-c", cmd, "sh", self.group] + argv,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_serving(self.url + "ok", lambda: self.proc.poll() is None)
        self.master = self.proc.pid
        end = time.time() + 20
        while len(children(self.master)) < 2 and time.time() < end:
            time.sleep(0.2)
        self.workers = children(self.master)
        if len(self.workers) != 2:
            raise BenchError("gunicorn master %d has workers %s, expected 2" % (self.master, self.workers))
        self.cgroup = proc_cgroup(self.master)
        for p in [self.master] + self.workers:
            if proc_cgroup(p) != self.cgroup:
                raise BenchError("pid %d is in cgroup %s, not %s" % (p, proc_cgroup(p), self.cgroup))
        log("gunicorn master %d, workers %s, cgroup %s (%s), %s" %
            (self.master, self.workers, self.cgroup, self.group, self.url))

    def pids(self):
        return [self.master] + self.workers

    def check_same_workers(self):
        now = children(self.master)
        if now != self.workers:
            raise BenchError("gunicorn's workers changed from %s to %s (one died or timed out)" %
                             (self.workers, now))

    def cpu(self):
        return sum(cpu_ticks(p) for p in self.pids())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.isdir(self.group):
            end = time.time() + 10
            while time.time() < end:
                with open(os.path.join(self.group, "cgroup.procs")) as f:
                    if not f.read().strip():
                        break
                time.sleep(0.2)
            try:
                os.rmdir(self.group)
            except OSError as e:
                log("could not remove %s: %s" % (self.group, e))


def tracer_argv(mode, svc, tool):
    if mode in ("continuous", "continuous-settled"):
        return [tool, "-j", "-a", "--cgroup", svc.cgroup]
    if mode == "exact-p":
        return [tool, "-j", "-p", str(svc.master)]
    if mode == "exact-all":
        return [tool, "-j", "-a", "--cgroup", svc.cgroup, "--exact", "--max-overhead", "0"]
    raise ValueError(mode)


def stop_tracer(tr, timeout=60):
    if tr.poll() is None:
        tr.send_signal(signal.SIGINT)
        try:
            tr.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            tr.kill()
            tr.wait()
            raise BenchError("pyleak-bpf did not end within %d s of SIGINT" % timeout)
    return tr.returncode


def run_one(mode, svc, args, n):
    tmp = args.tmp
    out_path = os.path.join(tmp, "%s-%d.json" % (mode, n))
    err_path = os.path.join(tmp, "%s-%d.err" % (mode, n))
    tr = None
    res = {"mode": mode}
    try:
        if mode != "untraced":
            argv = tracer_argv(mode, svc, args.tool)
            res["argv"] = argv
            with open(out_path, "w") as o, open(err_path, "w") as e:
                tr = subprocess.Popen(argv, stdout=o, stderr=e)
            t0 = time.time()
            want = set(svc.pids())
            while True:
                with open(err_path) as f:
                    seen = set(int(x) for x in ATTACH_RE.findall(f.read()))
                if want <= seen:
                    break
                if tr.poll() is not None:
                    raise BenchError("pyleak-bpf exited (%s) before attaching:\n%s" %
                                     (tr.returncode, open(err_path).read()[-3000:]))
                if time.time() - t0 > 30:
                    raise BenchError("pyleak-bpf attached to %s of %s within 30 s" % (seen, want))
                time.sleep(0.05)
            res["attach_s"] = time.time() - t0
            if mode == "continuous-settled":
                pre = subprocess.Popen(wrk_argv(svc.url, args.settle + 30, args),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                acted = False
                while time.time() - t0 < args.settle:
                    reps = read_reports(out_path)
                    noted = set(p["pid"] for r in reps for p in r.get("processes", []) if p.get("budget"))
                    if set(svc.workers) <= noted:
                        acted = True
                        break
                    if tr.poll() is not None:
                        break
                    time.sleep(0.2)
                pre.send_signal(signal.SIGTERM)
                pre.wait()
                res["settle_s"] = time.time() - t0
                res["settled"] = acted
        c_tr = cpu_ticks(tr.pid) if tr else 0
        c_svc = svc.cpu()
        busy0, kids0 = machine_busy_s(), reaped_children_s()
        w0 = time.time()
        wrk = subprocess.run(wrk_argv(svc.url, args.duration, args), capture_output=True, text=True,
                             timeout=args.duration + 60)
        w1 = time.time()
        busy, wrk_cpu = machine_busy_s() - busy0, reaped_children_s() - kids0
        if tr and tr.poll() is not None:
            raise BenchError("pyleak-bpf exited (%s) during the wrk run:\n%s" %
                             (tr.returncode, open(err_path).read()[-3000:]))
        res["tracer_cpu_pct"] = 100.0 * (cpu_ticks(tr.pid) - c_tr) / CLK / (w1 - w0) if tr else None
        svc_cpu = (svc.cpu() - c_svc) / CLK
        tr_cpu = (cpu_ticks(tr.pid) - c_tr) / CLK if tr else 0
        # what the machine did besides the service, wrk and the tracer: the noise
        res["other_cpu_pct"] = max(0.0, 100.0 * (busy - svc_cpu - wrk_cpu - tr_cpu) / (w1 - w0))
        if wrk.returncode != 0:
            raise BenchError("wrk exited %d:\n%s%s" % (wrk.returncode, wrk.stdout, wrk.stderr))
        res.update(parse_wrk(wrk.stdout))
        res["svc_ms_per_req"] = 1000.0 * svc_cpu / res["requests"] if res["requests"] else None
        res["window"] = (w0, w1)
        if tr:
            rc = stop_tracer(tr)
            tr = None
            if rc != 0:
                raise BenchError("pyleak-bpf exited %d:\n%s" % (rc, open(err_path).read()[-3000:]))
            res.update(summarize_reports(read_reports(out_path), svc, w0, w1))
        svc.check_same_workers()
    finally:
        if tr:
            stop_tracer(tr)
    return res


def summarize_reports(reps, svc, w0, w1):
    if not reps:
        raise BenchError("pyleak-bpf wrote no JSON report")
    final = reps[-1]
    t_first = reps[0]["time"] - reps[0]["elapsed_s"]
    # the first report's cpu_pct has no previous one to count from
    in_window = [r for r in reps if w0 <= r["time"] <= w1 and not r.get("final") and r["report"] > 0]
    agent_r = in_window[-1] if in_window else {}
    a, fa = agent_r.get("agent") or {}, final.get("agent") or {}
    notes = {}
    for r in reps:
        # the budget decides between reports (once a second): a note is dated by
        # the first report that shows it
        for p in r.get("processes", []):
            if p.get("pid") in svc.workers and p.get("budget"):
                lst = notes.setdefault(p["pid"], [])
                if not lst or lst[-1][1] != p["budget"]:
                    lst.append((r["time"] - t_first, p["budget"]))
    workers = [p for p in final.get("processes", []) if p.get("pid") in svc.workers]
    hits = 0
    for p in workers:
        st = p.get("stats", {})
        hits += (2 * (st.get("calls", 0) + st.get("nested", 0)) + st.get("free_calls", 0)
                 - st.get("returns_skipped", 0))
    return {
        "agent_cpu_pct": a.get("cpu_pct"), "agent_bpf_pct": a.get("bpf_pct"),
        "agent_report": agent_r.get("report"), "agent_rss": fa.get("rss_bytes"),
        "agent_maps": fa.get("map_bytes"),
        "sampling": sorted(set(json.dumps(p.get("sampling")) for p in workers)),
        "budget": notes, "statuses": sorted(set(p.get("status") for p in workers)),
        "probe_hits": hits, "reports": len(reps), "window_from": w0 - t_first,
        "window_to": w1 - t_first,
        "census_s": [round(p["census"]["seconds"], 3) for p in workers
                     if isinstance(p.get("census"), dict) and p["census"].get("seconds") is not None],
    }


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, f="%.1f"):
    return f % x if x is not None else ""


def budget_word(note):
    if note.startswith("allocation probes paused"):
        m = re.search(r"paused for (\d+) s: tracing cost an estimated ([\d.]+)%", note)
        return "paused %ss (est. %s%%)" % m.groups() if m else "paused"
    if note.startswith("allocation probes back"):
        return "back"
    m = re.match(r"sampled every (\S+ \S+)", note)
    if m:
        est = re.search(r"estimated ([\d.]+)%", note)
        return "sampled every %s%s" % (m.group(1), " (est. %s%%)" % est.group(1) if est else "")
    return note[:60]


def budget_summary(r):
    """'paused 30s (est. 10.4%) by 5s; ...' for one run."""
    if "budget" not in r:
        return ""
    if not r["budget"]:
        return "none"
    parts = []
    for pid in sorted(r["budget"]):
        parts.append(", ".join("%s by %.0fs" % (budget_word(n), t) for t, n in r["budget"][pid]))
    return "; ".join(parts)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def versions():
    def first(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    def deb(pkg):
        p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
        return p.stdout.strip() or "?"
    return ("gunicorn %s (Debian %s), python3-flask %s, %s, wrk %s" %
            (first([GUNICORN, "--version"]).split()[-1].strip("()"), deb("gunicorn"),
             deb("python3-flask"), first(["/usr/bin/python3.11", "-VV"]), deb("wrk")))


def render(results, modes, args, command, start, end_load, start_load, wall):
    base = med(r["rps"] for r in results if r["mode"] == "untraced")
    base_cpu = med(r["svc_ms_per_req"] for r in results if r["mode"] == "untraced")
    L = []
    L.append("## `%s` (a Flask service under gunicorn, loaded by wrk: issue 10)" % command)
    L.append("")
    L.append("- date: %s UTC (end of the run)" % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"))
    L.append("- machine: %s; load average %s at the start, %s at the end" %
             (machine(), start_load, end_load))
    L.append("- tracer: %s" % args.tool_notes)
    L.append("- service: bench/web_app.py under `gunicorn -w 2 -b 127.0.0.1:PORT` (sync workers) in "
             "a cgroup v2 group of the bench's own; %s" % versions())
    L.append("- load: `wrk -t %d -c %d -d %ds --latency`, %d rounds round-robin (each round starts one "
             "mode further on); a continuous-settled run first loads the service until the budget has "
             "acted on both workers (at most %d s), then measures" %
             (args.threads, args.connections, args.duration, args.rounds, args.settle))
    L.append("- bench wall time: %.1f min" % (wall / 60))
    L.append("")
    L.append("| mode | traced by | req/s median | x untraced | range req/s | p50 ms | p99 ms | "
             "service CPU ms/req | tracer CPU % of a core | agent cpu_pct / bpf_pct | agent RSS / maps MiB | "
             "other load % |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in modes:
        rs = [r for r in results if r["mode"] == m]
        if not rs:
            continue
        rps = med(r["rps"] for r in rs)
        cpu = med(r["svc_ms_per_req"] for r in rs)
        row = [m, MODE_DOC[m], "%.0f" % rps, "%.3f" % (rps / base) if base else "",
               "%.0f-%.0f" % (min(r["rps"] for r in rs), max(r["rps"] for r in rs)),
               fmt(med(r["p50"] for r in rs), "%.2f"), fmt(med(r["p99"] for r in rs), "%.2f"),
               "%.3f%s" % (cpu, " (%.2fx)" % (cpu / base_cpu) if base_cpu and m != "untraced" else "")
               if cpu else ""]
        if m == "untraced":
            row += ["", "", ""]
        else:
            row.append(fmt(med(r["tracer_cpu_pct"] for r in rs)))
            row.append("%s / %s" % (fmt(med(r["agent_cpu_pct"] for r in rs)),
                                    fmt(med(r["agent_bpf_pct"] for r in rs)) or "off"))
            row.append("%s / %s" % (fmt(med(r["agent_rss"] / 1048576 for r in rs if r["agent_rss"])),
                                    fmt(med(r["agent_maps"] / 1048576 for r in rs if r["agent_maps"]))))
        row.append("%.0f" % med(r["other_cpu_pct"] for r in rs))
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("*service CPU ms/req*: the master's and workers' CPU time (user and system, which holds "
             "the traps and our BPF programs' run time) during the wrk window, per request answered. "
             "*tracer CPU*: pyleak-bpf's own threads during the window (/proc/PID/stat); *agent "
             "cpu_pct / bpf_pct*: what its last report in the window said of itself (bpf_pct: its BPF "
             "programs' run time, paid by the workers, off when no budget needs the kernel's stats); "
             "RSS and maps: its final report. *other load*: CPU the rest of the machine used during "
             "the window (all CPUs' busy time less the service's, wrk's and the tracer's), in % of "
             "one core: the noise.")
    L.append("")
    L.append("Every run (for traced runs: the wrk window in seconds from the tracer's start, the "
             "allocator probe hits of both workers over the whole trace, and what the budget did "
             "to each worker, dated by the first report showing it):")
    L.append("")
    L.append("| mode | round | req/s | p99 ms | errors | tracer CPU % | other load % | window s | probe hits | "
             "sampling | budget |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in results:
        traced = r["mode"] != "untraced"
        samp = ", ".join("exact" if s == "null" else "%d KiB" % (json.loads(s)["mean_bytes"] // 1024)
                         for s in r.get("sampling", [])) if traced else ""
        L.append("| %s | %d | %.0f | %s | %d | %s | %.0f | %s | %s | %s | %s |" % (
            r["mode"], r["round"], r["rps"], fmt(r["p99"], "%.2f"), r["socket_errors"] + r["non2xx"],
            fmt(r.get("tracer_cpu_pct")) if traced else "", r["other_cpu_pct"],
            "%.1f-%.1f" % (r["window_from"], r["window_to"]) if traced else "",
            "%.2fM" % (r["probe_hits"] / 1e6) if traced else "", samp,
            budget_summary(r) if traced else ""))
    L.append("")
    for m in modes:
        if m == "untraced" or not base:
            continue
        rps = med(r["rps"] for r in results if r["mode"] == m)
        if rps is None:
            continue
        loss = 100.0 * (1 - rps / base)
        cpu = med(r["svc_ms_per_req"] for r in results if r["mode"] == m)
        line = "- %s: %.1f%% %s requests/s than untraced (medians of %d), %.2fx the service's CPU per request" % (
            m, abs(loss), "fewer" if loss >= 0 else "more", sum(1 for r in results if r["mode"] == m),
            cpu / base_cpu if cpu and base_cpu else float("nan"))
        if m.startswith("continuous"):
            line += "; target (at most 3%% fewer requests/s): %s" % ("met" if loss <= 3 else "not met")
        L.append(line)
    L.append("")
    return "\n".join(L) + "\n"



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--rounds", type=int, default=5, help="rounds of every mode (default %(default)s)")
    ap.add_argument("--duration", type=int, default=15, help="seconds of wrk a run (default %(default)s)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default %(default)s)")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections (default %(default)s)")
    ap.add_argument("--settle", type=int, default=40,
                    help="continuous-settled: most seconds of preload before measuring (default %(default)s)")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated subset of %s (untraced is always run)" % ",".join(MODES))
    ap.add_argument("--tool", default=os.path.join(ROOT, "pyleak-bpf"), help="pyleak-bpf binary")
    ap.add_argument("--pause", type=float, default=3.0,
                    help="seconds between runs, for the tracer's probes to go (default %(default)s)")
    ap.add_argument("--write", action="store_true", help="put this command's section in bench/RESULTS.md")
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        ap.error("unknown mode %s (choose from %s)" % (",".join(bad), ",".join(MODES)))
    modes = ["untraced"] + [m for m in MODES if m in modes and m != "untraced"]
    command = " ".join(["python3 bench/web_bench.py"] + [a for a in sys.argv[1:] if a != "--write"])

    if os.geteuid() != 0:
        sys.exit("web_bench.py: run as root (pyleak-bpf, and the cgroup)")
    for path, what in ((GUNICORN, "Debian's gunicorn (apt-get install gunicorn python3-flask)"),
                       (args.tool, "pyleak-bpf (make)")):
        if not os.path.exists(path):
            sys.exit("web_bench.py: %s is missing: %s" % (path, what))
    if subprocess.run(["sh", "-c", "command -v %s" % WRK], capture_output=True).returncode:
        sys.exit("web_bench.py: wrk is missing (apt-get install wrk; make deps installs it)")

    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    t_start = time.time()
    start_load = loadavg()
    args.tmp = tempfile.mkdtemp(prefix="pyleak-webbench-")
    # a private copy: a rebuild of ./pyleak-bpf during the bench cannot mix versions
    args.tool_notes = tool_version(args.tool)
    shutil.copy2(args.tool, os.path.join(args.tmp, "pyleak-bpf"))
    args.tool = os.path.join(args.tmp, "pyleak-bpf")
    svc = Service(args)
    results = []
    est = args.rounds * (len(modes) * (args.duration + 2 + args.pause) + 10 +
                         (args.settle if "continuous-settled" in modes else 0) * 0.4)
    log("%d modes x %d rounds of %d s, about %.0f min; files in %s" %
        (len(modes), args.rounds, args.duration, est / 60, args.tmp))
    try:
        svc.start()
        log("warm-up: wrk 5 s")
        subprocess.run(wrk_argv(svc.url, 5, args), capture_output=True, timeout=70)
        for rnd in range(args.rounds):
            order = modes[rnd % len(modes):] + modes[:rnd % len(modes)]
            for m in order:
                r = run_one(m, svc, args, rnd)
                r["round"] = rnd + 1
                results.append(r)
                log("round %d %-18s %7.0f req/s  p99 %6.2f ms  other load %3.0f%%%s%s" % (
                    rnd + 1, m, r["rps"], r["p99"] or 0, r["other_cpu_pct"],
                    "  tracer %.1f%% of a core" % r["tracer_cpu_pct"] if r.get("tracer_cpu_pct") is not None
                    else "", ("  budget: " + budget_summary(r)) if "budget" in r else ""))
                time.sleep(args.pause)
    except BenchError as e:
        log("FAILED: %s" % e)
        svc.stop()
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted")
        svc.stop()
        sys.exit(130)
    svc.stop()
    text = render(results, modes, args, command, t_start, loadavg(), start_load, time.time() - t_start)
    sys.stdout.write(text)
    with open(os.path.join(args.tmp, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    if args.write:
        write_section(command, text)
        log("wrote %s" % RESULTS)


if __name__ == "__main__":
    main()
