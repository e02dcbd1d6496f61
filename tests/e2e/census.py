# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end tests of the heap census (object types, gc state, holders, RSS against live
objects), run by tests/e2e/run.py: plan(interps, run) returns entries like run.plan()'s.

Every scenario attaches with -p and --fds-only (the census needs no allocator probe) to a
fixture of tests/fixtures/census_*.py, Debian's stripped PGO 3.11 included:

  census-counts      census_counts.py counts its own heap in-process the way the census
                     does (gc.get_objects() and what its containers hold), then stops
                     itself; censused from outside, every type with over 100 objects
                     agrees within 1%; continued, its heap is intact
  census-<kind>      census_leaks.py KIND behind decoys (a start-up cache and an LRU of the
                     same type, churn, cycles): the leaked class is the first type, growing,
                     and its holder names the variable (global, class attribute, tree kept
                     by one leaf, closures in a handler list, a thread's local, a str buffer
                     that grows in bytes (read with --census-pause), unclosed files)
  census-pymalloc    pymalloc_stats.py prints sys._debugmallocstats() and stops itself:
                     censused from outside, every size class has exactly the pools and
                     blocks in use and the free blocks it printed, and the arenas and
                     unused pools agree; Debian's stripped 3.11 says pymalloc unknown (no
                     symbols for arenas), in JSON and text
  census-gcoff       the collector disabled while cycles are dropped: gc says disabled,
                     the cycles' type grows first, held by nothing (garbage)
  census-frag        fragmentation: RSS grows over 4x faster than live objects and the
                     report says the allocator holds it; pymalloc's pools in use hold under
                     a quarter of the blocks they could, and the judgement line gives it
  census-mutate      a thread mutating containers flat out, censused every second: it
                     keeps running, every report has a census, inconsistencies are counted
  census-pause       --census-pause: the report says how long the target was stopped, and
                     it runs again after (never left stopped)
  census-text, census-off   the text section (types/gc/memory lines); --no-census

With the allocator probed too (no --fds-only), each memory stack says which types a few
of its outstanding blocks have (user/stacktypes.c), on one interpreter of each layout
family (Debian's launched with --, for full coverage):

  census-stacktypes-objects   leak_objects.py: the leak's top growing stack (make_record)
                     has its 8 sampled blocks all bytes, the estimate its whole count
  census-stacktypes-list      leak_container.py: the list's append line holds one block,
                     the list's item storage, read as not an object (Debian: -p, partial)
  census-stacktypes-text, census-stacktypes-off   the text line says "(types of 8 sampled:
                     bytes 8)"; with --no-census no stack has types
"""
import json
import os
import re
import signal
import time

R = None                # the run.py module, set by plan()
INTERVAL = "1"

# kind -> (leaked type, its module, root kind, root name, root module or class)
LEAKS = {
    "global": ("Doc", "__main__", "global", "_RECENT_DOCS", "__main__"),
    "classattr": ("Event", "__main__", "class_attribute", "events", "__main__.Registry"),
    "tree": ("Node", "__main__", "global", "_SELECTED", "__main__"),
    "closures": ("Payload", "__main__", "global", "_HANDLERS", "__main__"),
    "thread": ("Item", "__main__", "frame_local", "backlog", "worker"),
    "strbuf": ("str", "builtins", "global", "_LOG", "__main__"),
    "files": ("TextIOWrapper", "_io", "global", "_OPEN_FILES", "__main__"),
}


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def wait_stopped(c, pid, timeout=30):
    end = min(time.monotonic() + timeout, c.deadline)
    while proc_state(pid) not in ("T", "t"):
        if proc_state(pid) is None:
            raise R.Failure("expected pid %d to stop itself, saw it exit (status %s)" % (pid, c.status()))
        if time.monotonic() > end:
            raise R.Failure("expected pid %d to stop itself within %ds, saw state %s" % (
                pid, timeout, proc_state(pid)))
        time.sleep(0.05)


def full_name(t):
    return t["type"] if t["module"] == "builtins" else "%s.%s" % (t["module"], t["type"])


def census_problems(rep):
    """What in one report breaks the census part of the JSON contract."""
    bad = []
    cen = rep.get("census")
    if not isinstance(cen, dict) or cen.get("valid") is not True:
        return ["census %r" % (cen,)]
    for k in ("objects", "bytes", "inconsistencies", "syscalls", "read_bytes"):
        if not isinstance(cen.get(k), int):
            bad.append("census.%s %r" % (k, cen.get(k)))
    for t in rep.get("types") or []:
        for k, ty in (("type", str), ("module", str), ("count", int), ("bytes", int),
                      ("growth_count_per_s", (int, float)), ("growth_bytes_per_s", (int, float))):
            if not isinstance(t.get(k), ty):
                bad.append("types[] %s %r" % (k, t.get(k)))
    grow = [t.get("growing") for t in rep.get("types") or []]
    if grow != sorted(grow, reverse=True):
        bad.append("types not growing-first: %s" % grow)
    gc = rep.get("gc")
    if not isinstance(gc, dict) or not isinstance(gc.get("enabled"), bool) or len(gc.get("generations") or []) != 3:
        bad.append("gc %r" % (gc,))
    mem = rep.get("memory")
    if not isinstance(mem, dict) or not all(k in mem for k in ("rss", "live_objects", "traced", "allocator")):
        bad.append("memory %r" % (mem,))
    for h in rep.get("holders") or []:
        root = h.get("root") or {}
        if not all(k in root for k in ("kind", "module", "name", "container_type", "length")) or \
                not isinstance(h.get("chain"), list):
            bad.append("holder %r" % (h,))
    return bad


def types_str(rep, n=5):
    return ", ".join("%s %d%s" % (full_name(t), t["count"], " +%.0f/s" % t["growth_count_per_s"]
                                  if t.get("growing") else "") for t in (rep.get("types") or [])[:n])


def holder_str(h):
    r = h["root"]
    return "%s held by %s %s %s (%s, %s items) via %s" % (
        h["type"], r["kind"], r["container_type"], r["name"], r["module"], r["length"],
        " ".join("%s%s" % (x["via"], x["type"]) for x in h["chain"]))


def start(c, py, script, *args):
    fx = c.start_fixture(py, script, *args)
    return fx


def attach(c, fx, *args):
    return c.start_tracer(["-j", "--fds-only", "-T", "30"] + list(args) + ["-p", str(fx.pid), INTERVAL])


def stop(c, tr):
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)


def check_reports(tr, n_min):
    reps = [r for r in tr.reports() if not r.get("final")]
    R.expect(len(reps) >= n_min, "at least %d periodic reports" % n_min, len(reps))
    for r in reps:
        bad = census_problems(r)
        R.expect(not bad, "report #%s's census fields to follow the contract" % r.get("report"), "; ".join(bad[:4]))
    return reps


# ---------------------------------------------------------------------------------------
# Scenarios: fn(case, py) -> evidence string

def sc_counts(c, py):
    """Given census_counts.py stopped after counting its heap in-process, when pyleak-bpf
    -p censuses it, then every type with over 100 objects has the in-process count within
    1%, and the fixture continued afterwards finds its heap intact."""
    fx = start(c, py, "census_counts.py")
    line = c.wait_status("COUNTS", 90, proc=fx)
    inproc = json.loads(line.split(" ", 1)[1])
    wait_stopped(c, fx.pid)
    tr = c.start_tracer(["-j", "--fds-only", "-T", "100000", "-p", str(fx.pid), "0.2", "1"])
    tr.wait_exit(60)
    R.expect(tr.rc == 0, "exit status 0 after COUNT reports", "%s: %s" % (tr.rc, tr.stderr()[-500:]))
    reps = tr.reports()
    R.expect(reps and reps[-1].get("types"), "a final report with types", tr.stdout_lines()[-1:])
    rep = reps[-1]
    bad = census_problems(rep)
    R.expect(not bad, "the census fields to follow the contract", "; ".join(bad[:4]))
    got = {}
    for t in rep["types"]:
        got[full_name(t)] = got.get(full_name(t), 0) + t["count"]
    checked, off = 0, []
    for name, n in sorted(inproc.items(), key=lambda kv: -kv[1]):
        if n <= 100:
            continue
        checked += 1
        if abs(got.get(name, 0) - n) > 0.01 * n:
            off.append("%s in-process %d census %d" % (name, n, got.get(name, 0)))
    R.expect(not off, "every type over 100 objects within 1%% of the in-process count (%d types)" % checked,
             "; ".join(off[:8]))
    R.expect(proc_state(fx.pid) in ("T", "t"), "the fixture still stopped as it stopped itself",
             proc_state(fx.pid))
    os.kill(fx.pid, signal.SIGCONT)
    cont = c.wait_status("CONTINUED", 30, proc=fx)
    R.expect(cont == "CONTINUED intact", "the fixture's heap intact after the census", cont)
    cen = rep["census"]
    return "%d types over 100 objects agree within 1%% (%s); %d objects, %d bytes in %.3f s, %d syscalls, " \
           "%d inconsistencies" % (checked, ", ".join("%s %d" % (k, got.get(k, 0)) for k in
                                                       ("str", "int", "dict", "__main__.Rec")),
                                   cen["objects"], cen["bytes"], cen["seconds"], cen["syscalls"],
                                   cen["inconsistencies"])


def debug_malloc_stats(text):
    """sys._debugmallocstats()'s figures: {size: (pools, blocks in use, avail blocks)},
    and the arenas currently allocated, unused pools, pool and arena size."""
    classes, got = {}, {}
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", line)
        if m:
            classes[int(m.group(2))] = tuple(int(x) for x in m.groups()[2:])
        m = re.match(r"# arenas allocated current\s*=\s*([\d,]+)", line)
        if m:
            got["arenas"] = int(m.group(1).replace(",", ""))
        m = re.match(r"(\d+) arenas \* (\d+) bytes/arena", line)
        if m:
            got["arena_size"] = int(m.group(2))
        m = re.match(r"(\d+) unused pools \* (\d+) bytes", line)
        if m:
            got["pools_free"], got["pool_size"] = int(m.group(1)), int(m.group(2))
        m = re.match(r"Small block threshold = (\d+), in (\d+) size classes", line)
        if m:
            got["classes"] = int(m.group(2))
    return classes, got


def sc_pymalloc(c, py):
    """Given pymalloc_stats.py stopped right after printing sys._debugmallocstats() (nothing
    allocated in between), when pyleak-bpf -p censuses it, then every size class has exactly
    the pools in use, blocks in use and free blocks the process printed, and so have the
    arenas, unused pools, pool and arena size; on Debian's stripped 3.11 the allocator is
    unknown, for want of symbols."""
    fx = start(c, py, "pymalloc_stats.py")
    c.wait_status("STOPPING", 90, proc=fx)
    wait_stopped(c, fx.pid)
    tr = c.start_tracer(["-j", "--fds-only", "-p", str(fx.pid), "0.2", "1"])
    tr.wait_exit(60)
    R.expect(tr.rc == 0, "exit status 0 after COUNT reports", "%s: %s" % (tr.rc, tr.stderr()[-500:]))
    reps = tr.reports()
    R.expect(reps and reps[-1].get("memory"), "a final report with a memory section", tr.stdout_lines()[-1:])
    mem = reps[-1]["memory"]
    if py.debian:
        R.expect(mem["allocator"] is None and "no symbols for arenas" in (mem.get("allocator_unknown") or ""),
                 "memory.allocator null, allocator_unknown naming the missing symbols", mem)
        tr2 = c.start_tracer(["--fds-only", "-p", str(fx.pid), "0.2", "1"])
        tr2.wait_exit(60)
        out = "\n".join(tr2.stdout_lines())
        R.expect("pymalloc arenas unknown (stripped build before 3.12: no symbols for arenas)" in out,
                 "the memory line to say pymalloc arenas unknown, stripped, no symbols", out[-600:])
        os.kill(fx.pid, signal.SIGCONT)
        return "stripped: %s" % mem["allocator_unknown"]
    with open(os.path.join(c.dir, "mallocstats")) as f:
        want, totals = debug_malloc_stats(f.read())
    R.expect(len(want) >= 20, "sys._debugmallocstats() to list 20 size classes or more", sorted(want))
    a = mem["allocator"]
    R.expect(isinstance(a, dict) and isinstance(a.get("size_classes"), list), "memory.allocator.size_classes", a)
    got = {k["size"]: (k["pools"], k["blocks"], k["blocks_capacity"] - k["blocks"]) for k in a["size_classes"]}
    off = ["%d B: in-process %s, census %s (pools, blocks, free blocks)" % (sz, want.get(sz), got.get(sz))
           for sz in sorted(set(want) | set(got)) if want.get(sz) != got.get(sz)]
    R.expect(not off, "every size class as sys._debugmallocstats() printed it (%d classes)" % len(want),
             "; ".join(off[:6]))
    for k in ("arenas", "pools_free", "pool_size", "arena_size"):
        R.expect(a.get(k) == totals.get(k), "allocator.%s %s as printed in-process" % (k, totals.get(k)), a.get(k))
    R.expect(totals.get("classes") == 32, "32 size classes printed in-process", totals.get("classes"))
    R.expect(a["inconsistencies"] == 0 and a["capped"] is False, "no inconsistency, not capped (stopped)",
             (a["inconsistencies"], a["capped"]))
    R.expect(a["pools_in_use"] == sum(v[0] for v in want.values()) and
             a["blocks"] == sum(v[1] for v in want.values()), "the totals to add up", a)
    os.kill(fx.pid, signal.SIGCONT)
    cont = c.wait_status("CONTINUED", 30, proc=fx)
    R.expect(cont == "CONTINUED intact", "the fixture's heap intact after the census", cont)
    return "%d size classes exact (%d pools, %d blocks in use of %d), %d arenas, %d unused pools of %d B" % (
        len(want), a["pools_in_use"], a["blocks"], a["blocks_capacity"], a["arenas"], a["pools_free"],
        a["pool_size"])


def leak_case(kind):
    leaked, tmod, rkind, rname, rmod = LEAKS[kind]

    def sc(c, py):
        fx = start(c, py, "census_leaks.py", kind)
        c.wait_status("READY", 60, proc=fx)
        # strbuf: the one str is replaced ten times a second; a snapshot read while it
        # runs can miss it, so that one is read stopped (--census-pause)
        tr = attach(c, fx, *(["--census-pause"] if kind == "strbuf" else []))
        tr.wait_reports(1, 60, "a first report after attaching")
        c.go()
        c.wait_status("LEAKING", 30, proc=fx)
        n0 = len(tr.reports())
        tr.wait_reports(n0 + 6, 60, "six reports while leaking")
        stop(c, tr)
        reps = check_reports(tr, n0 + 6)
        last = reps[-1]
        top = (last.get("types") or [{}])[0]
        mine = [t for t in last.get("types") or [] if t["type"] == leaked and t["module"] == tmod]
        if kind == "files":
            # each open file brings a dict or three (TextIOWrapper.mode, ...), which then
            # grow faster than the file objects, and the collector's late cycles can
            # grow as fast: the file type must grow, and its holder name the list
            R.expect(mine and mine[0]["growing"], "%s.%s growing" % (tmod, leaked), types_str(last))
        else:
            R.expect(top.get("type") == leaked and top.get("module") == tmod and top.get("growing"),
                     "the first type of the last report to be %s.%s, growing" % (tmod, leaked), types_str(last))
        hs = [h for h in last.get("holders") or [] if h["type"] == leaked]
        if kind == "files" and not hs:
            # the file's parts (its dict, buffer, raw file) may rank above it: one of
            # them held through the list will do
            hs = [h for h in last.get("holders") or [] if h["root"]["name"] == rname]
        R.expect(hs, "a holder for %s" % leaked, [holder_str(h) for h in last.get("holders") or []])
        h = hs[0]
        if kind != "files":
            R.expect((last["holders"][0] is h), "the first holder to be %s's" % leaked,
                     holder_str(last["holders"][0]))
        root = h["root"]
        R.expect(root["kind"] == rkind and root["name"] == rname and root["module"] == rmod,
                 "%s held by %s %s of %s" % (leaked, rkind, rname, rmod), holder_str(h))
        R.expect(isinstance(root["length"], int) and root["length"] > 0, "the root container's length",
                 root["length"])
        if kind != "strbuf":    # a str appended to is a new object each time: no growth by address
            R.expect(root.get("length_growth_per_s") and root["length_growth_per_s"] > 0,
                     "the root container's growth per second", root.get("length_growth_per_s"))
        if kind == "files" and h["type"] != leaked:
            # the fallback above: a part of a file, reached through the file object
            R.expect(any(e["type"] == leaked for e in h["chain"] or []),
                     "the chain to pass through a %s" % leaked, h["chain"])
        else:
            R.expect(h["chain"] and h["chain"][-1]["type"] == leaked, "the chain to end at a %s" % leaked,
                     h["chain"])
        return "first type %s; %s; %d of %d sampled instances agree" % (
            types_str(last, 3), holder_str(h), h["agreeing"], h["samples"])
    sc.__doc__ = ("Given census_leaks.py %s behind decoys, then %s.%s is the first type, growing, "
                  "and its first holder is %s %s of %s, with its length and growth" % (
                      kind, tmod, leaked, rkind, rname, rmod))
    return sc


def sc_gcoff(c, py):
    """Given census_leaks.py gcoff (gc.disable(), Cycle pairs dropped), then the report
    says the collector is disabled, Cycle is the first growing type, held by nothing but
    its own cycle."""
    fx = start(c, py, "census_leaks.py", "gcoff")
    c.wait_status("READY", 60, proc=fx)
    tr = attach(c, fx)
    tr.wait_reports(1, 60)
    c.go()
    n0 = len(tr.reports())
    tr.wait_reports(n0 + 5, 60, "five reports while leaking")
    stop(c, tr)
    last = check_reports(tr, n0 + 5)[-1]
    R.expect(last["gc"]["enabled"] is False, "gc.enabled false", last["gc"])
    top = last["types"][0]
    R.expect(top["type"] == "Cycle" and top["growing"], "Cycle first and growing", types_str(last))
    hs = [h for h in last.get("holders") or [] if h["type"] == "Cycle"]
    R.expect(hs and hs[0]["root"]["kind"] == "garbage", "Cycle held by nothing (kind garbage)",
             [holder_str(h) for h in hs])
    return "gc %s; %s; %s" % ("disabled" if not last["gc"]["enabled"] else "enabled", types_str(last, 2),
                              holder_str(hs[0]))


def sc_frag(c, py):
    """Given census_leaks.py frag (one block kept per pool, each round another size class),
    then RSS grows over 4x faster than live objects and the report says the allocator
    holds the growth."""
    fx = start(c, py, "census_leaks.py", "frag")
    c.wait_status("READY", 60, proc=fx)
    tr = attach(c, fx)
    tr.wait_reports(1, 60)
    c.go()
    n0 = len(tr.reports())
    tr.wait_reports(n0 + 5, 60, "five reports while fragmenting")
    stop(c, tr)
    last = check_reports(tr, n0 + 5)[-1]
    m = last["memory"]
    R.expect(m["rss_growth_per_s"] is not None and m["live_growth_per_s"] is not None,
             "RSS and live growth figures", m)
    R.expect(m["rss_growth_per_s"] > 4 * max(m["live_growth_per_s"], 0) and m["rss_growth_per_s"] > 1 << 20,
             "RSS to grow over 4x faster than live objects (and over 1 MiB/s)", m)
    R.expect(m["allocator_held"] is True, "memory.allocator_held true", m)
    a = m["allocator"]
    if py.debian:
        R.expect(a is None and m.get("allocator_unknown"), "pymalloc unknown on the stripped build", m)
        return "RSS +%.1f MiB/s, live objects +%.2f MiB/s, pymalloc unknown (%s)" % (
            m["rss_growth_per_s"] / 2 ** 20, m["live_growth_per_s"] / 2 ** 20, m["allocator_unknown"])
    R.expect(isinstance(a, dict) and a.get("pools_in_use"), "pymalloc's pools read", a)
    # one block kept in every pool of the rounds: most capacity unused
    R.expect(a["blocks"] * 4 < a["blocks_capacity"], "blocks in use under a quarter of the pools' capacity",
             "%d of %d" % (a["blocks"], a["blocks_capacity"]))
    R.expect(a["bytes_in_use"] * 4 < a["bytes_in_pools"], "bytes in use under a quarter of the bytes in pools",
             "%d of %d" % (a["bytes_in_use"], a["bytes_in_pools"]))
    tr2 = c.start_tracer(["--fds-only", "-p", str(fx.pid), "1", "3"])
    tr2.wait_exit(60)
    out = "\n".join(tr2.stdout_lines())
    held = [l for l in out.splitlines() if "the allocator holds" in l]
    R.expect(held and re.search(r"\(pymalloc: [\d.]+ \w?i?B in pools, [\d.]+ \w?i?B in use, \d+%\)", held[-1]),
             "the allocator-held line to give pymalloc's figures", held[-1:] or out[-800:])
    return "RSS +%.1f MiB/s, live objects +%.2f MiB/s; pymalloc %d of %d blocks in use, %.1f of %.1f MiB; %s" % (
        m["rss_growth_per_s"] / 2 ** 20, m["live_growth_per_s"] / 2 ** 20, a["blocks"], a["blocks_capacity"],
        a["bytes_in_use"] / 2 ** 20, a["bytes_in_pools"] / 2 ** 20, held[-1])


def sc_mutate(c, py, pause=False):
    """Given census_leaks.py mutate (a thread mutating containers flat out), when censused
    every second for 30 s, then it keeps running (its heartbeat advances during and after),
    every report has a valid census, and inconsistencies are counted, not fatal."""
    fx = start(c, py, "census_leaks.py", "mutate")
    c.wait_status("READY", 60, proc=fx)
    c.go()
    c.wait_status("HEARTBEAT", 60, proc=fx)
    tr = attach(c, fx, *(["--census-pause"] if pause else []))
    tr.wait_reports(30 if not pause else 8, 120, "reports while mutating")
    beats_during = [l for l in c.status() if l.startswith("HEARTBEAT")]
    stop(c, tr)
    reps = check_reports(tr, 8)
    R.expect(fx.poll() is None, "the fixture still running", fx.returncode)
    R.expect(proc_state(fx.pid) not in ("T", "t"), "the fixture not left stopped", proc_state(fx.pid))
    time.sleep(1.5)
    beats_after = [l for l in c.status() if l.startswith("HEARTBEAT")]
    R.expect(len(beats_after) > len(beats_during), "the heartbeat advancing after the census", beats_after[-2:])
    incons = [r["census"]["inconsistencies"] for r in reps]
    secs = [r["census"]["seconds"] for r in reps]
    if pause:
        paused = [r["census"]["paused_s"] for r in reps]
        R.expect(all(p > 0 for p in paused), "every census to say how long the target was stopped", paused)
        return "%d reports, stopped %.3f-%.3f s each, inconsistencies %s" % (
            len(reps), min(paused), max(paused), incons)
    return "%d censuses while mutating, %.3f-%.3f s each, inconsistencies %d-%d; heartbeat %s" % (
        len(reps), min(secs), max(secs), min(incons), max(incons), beats_after[-1])


def sc_text(c, py):
    """Text output: a types line, ranked lines, the gc and memory lines."""
    fx = start(c, py, "census_leaks.py", "global")
    c.wait_status("READY", 60, proc=fx)
    c.go()
    tr = c.start_tracer(["--fds-only", "-p", str(fx.pid), INTERVAL, "4"])
    tr.wait_exit(60)
    out = "\n".join(tr.stdout_lines())
    for want in ("types: ", "#1 ", "gc: collections ", "memory: RSS "):
        R.expect(want in out, "a line with %r" % want, out[-1500:])
    R.expect("held by: dict _RECENT_DOCS (global of module __main__" in out,
             "the Doc line to say held by: dict _RECENT_DOCS (global of module __main__", out[-1500:])
    return [l for l in out.split("\n") if l.startswith("#1 ")][-1][:160]


def sc_off(c, py):
    """--no-census: no census fields."""
    fx = start(c, py, "census_leaks.py", "global")
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j", "--fds-only", "--no-census", "-p", str(fx.pid), "0.5", "3"])
    tr.wait_exit(60)
    reps = tr.reports()
    R.expect(reps and not any("types" in r or "census" in r for r in reps), "no census fields", reps[-1:])
    return "%d reports without census fields" % len(reps)


# ---------------------------------------------------------------------------------------
# The types of a memory stack's blocks (allocator probes and the census together)

def _stack_types_run(c, py, script, *args, launch=False, tracer_args=()):
    """Trace script through its leak; the JSON reports, and the fixture's pid."""
    targs = ["-j", "-o", "0"] + list(tracer_args)
    if launch:
        tr = c.start_tracer(targs + [INTERVAL, "--"] + c.fixture_argv(py, script, *args))
        pid = R.pid_of(c.wait_status("READY", 90))
        fx = None
    else:
        fx = start(c, py, script, *args)
        pid = R.pid_of(c.wait_status("READY", 60, proc=fx))
        tr = c.start_tracer(targs + ["-p", str(pid), INTERVAL])
    tr.wait_reports(1, 60, "a first report")
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    R.after_leak(c, tr, 3)
    stop(c, tr)
    return R.check_stream(tr, py, pid, coverage="full" if launch or not py.debian else "partial")


def _types_str(st):
    return ", ".join("%s %d/%d (~%d)" % (t["type"] or t["kind"], t["sampled"], t["of"], t["estimated_count"])
                     for t in st.get("types") or []) or "no types"


def _top_with_types(reps, match):
    """The last report whose top stack is match's and is growing: that stack."""
    tops = [r["stacks"][0] for r in reps if r["stacks"] and match(r["stacks"][0])
            and r["stacks"][0]["trend"] == "growing" and not r["final"]]
    R.expect(tops, "%s the top growing stack of some report" % match.what,
             [R.stack_str(r["stacks"][0]) for r in reps if r["stacks"]][-3:])
    return tops[-1]


def sc_stack_types_objects(c, py):
    """Given leak_objects.py leaking N bytes objects at make_record (with the census on),
    then the top growing stack's types are bytes, 8 of 8 sampled, estimated at its count."""
    reps = _stack_types_run(c, py, "leak_objects.py", R.LEAK_N, launch=py.debian)
    match = R.innermost("leak_objects.py", R.marked_line("leak_objects.py", "LEAK-LINE"), "make_record")
    st = _top_with_types(reps, match)
    types = st.get("types") or []
    R.expect(types, "types on the top stack (%s)" % match.what, sorted(st))
    first = types[0]
    R.expect(first["kind"] == "object" and first["type"] == "bytes" and first["module"] == "builtins",
             "the first type of %s to be builtins.bytes" % match.what, _types_str(st))
    R.expect(first["of"] == 8 and first["sampled"] >= 7, "at least 7 of 8 sampled blocks bytes", _types_str(st))
    R.expect(abs(first["estimated_count"] - st["count"] * first["sampled"] / 8.0) <= 1,
             "the estimate scaled to the stack's %d allocations" % st["count"], _types_str(st))
    return "%s: %s of %d allocations" % (match.what, _types_str(st), st["count"])


def sc_stack_types_list(c, py):
    """Given leak_container.py growing a list at GROW-LINE, then that stack holds one block,
    the list's item storage, whose type is said to be not an object (exactly, 1 of 1); with
    full coverage (pyenv builds) the line before, which makes the items, holds tuples or ints."""
    # full coverage sees every item (a tuple and an int each): a tenth of the list keeps
    # the allocation map far from full; partial coverage sees only the storage
    n = R.CONTAINER_N if py.debian else R.CONTAINER_N // 10
    # a 6 s leak: growing is said after several reports of growth (with the default 2 s a
    # fast machine had the list full by the second report, and it read as steady)
    reps = _stack_types_run(c, py, "leak_container.py", n, "--kind", "list", "--pace", "6")
    grow = R.marked_line("leak_container.py", "GROW-LINE")
    match = R.innermost("leak_container.py", grow, "remember_list")
    live = [r for r in reps if not r["final"]]
    found = [st for r in live for st in r["stacks"][:32] if match(st) and st["trend"] == "growing"]
    R.expect(found, "a growing stack at %s" % match.what, [R.stack_str(st) for r in live[-1:] for st in r["stacks"]])
    st = found[-1]
    types = st.get("types") or []
    R.expect(st["count"] == 1, "one block (the realloc'd item array) at %s" % match.what, st["count"])
    R.expect([(t["kind"], t["sampled"], t["of"]) for t in types] == [("not_an_object", 1, 1)],
             "its types to be not an object, 1 of 1", _types_str(st))
    ev = "%s: %d bytes in %d block: %s" % (match.what, st["bytes"], st["count"], _types_str(st))
    if not py.debian:
        items = R.innermost("leak_container.py", grow - 1, "remember_list")
        its = [s for r in live for s in r["stacks"][:32] if items(s) and s["trend"] == "growing"]
        R.expect(its, "a growing stack at %s (the items)" % items.what, [])
        # a tuple and an int per item: each of 8 samples is one or the other
        types = its[-1].get("types") or []
        R.expect(types and all(t["kind"] == "object" and t["type"] in ("tuple", "int") for t in types),
                 "the items' sampled types to be tuple or int", _types_str(its[-1]))
        ev += "; items: %s" % _types_str(its[-1])
    return ev


def sc_stack_types_text(c, py):
    """Text output: the leak's stack line says "(types of 8 sampled: bytes 8)"."""
    fx = start(c, py, "leak_objects.py", 5000, "--pace", "1")
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-o", "0", "-p", str(fx.pid), INTERVAL])
    end = time.monotonic() + 30     # attached: a first report
    while tr.alive() and time.monotonic() < end and not any(l.startswith("#1 ") for l in tr.stdout_lines()):
        time.sleep(0.1)
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    time.sleep(2)
    stop(c, tr)
    lines = tr.stdout_lines()
    hits = [l for l in lines if l.startswith("#") and "(types of 8 sampled: bytes 8)" in l]
    R.expect(hits, "a stack line with '(types of 8 sampled: bytes 8)'",
             [l for l in lines if l.startswith("#1 ")][-2:])
    return hits[-1][:140]


def sc_stack_types_off(c, py):
    """--no-census: memory stacks have no types, in JSON and in text."""
    fx = start(c, py, "leak_objects.py", 5000, "--pace", "1")
    c.wait_status("READY", 60, proc=fx)
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    tr = c.start_tracer(["-j", "--no-census", "-o", "0", "-p", str(fx.pid), "0.5", "3"])
    tr.wait_exit(60)
    reps = tr.reports()
    R.expect(reps and not any("types" in st for r in reps for st in r["stacks"]),
             "no types on any memory stack", [R.stack_str(st) for r in reps[-1:] for st in r["stacks"][:2]])
    tr2 = c.start_tracer(["--no-census", "-o", "0", "-p", str(fx.pid), "0.5", "2"])
    tr2.wait_exit(60)
    out = "\n".join(tr2.stdout_lines())
    R.expect("#1 " in out and "(types" not in out, "text stack lines without '(types'", out[-600:])
    return "%d JSON reports and a text one without types" % len(reps)


def plan(interps, run):
    """[(name, fn, interp, time limit s, weight)], as run.plan() builds them."""
    global R
    R = run
    out = []
    # Counts on every interpreter; the leak classes, the disabled collector and the
    # fragmentation on one of each layout family (3.8-3.10 frames and dicts, Debian's
    # stripped 3.11, 3.12's, 3.13's), so that the suite stays within its time.
    families = set()
    for p in interps:
        out.append(("census-counts[%s]" % p.name, sc_counts, p, 120, 3))
        out.append(("census-pymalloc[%s]" % p.name, sc_pymalloc, p, 90, 2))
        family = "debian" if p.debian else ".".join(p.version.split(".")[:2])
        if family in ("3.8", "3.9", "3.10", "3.11"):
            family = "3.8-3.11"
        if family in families:
            continue
        families.add(family)
        for kind in LEAKS:
            out.append(("census-%s[%s]" % (kind, p.name), leak_case(kind), p, 120, 3))
        out.append(("census-gcoff[%s]" % p.name, sc_gcoff, p, 120, 3))
        out.append(("census-frag[%s]" % p.name, sc_frag, p, 120, 3))
        out.append(("census-stacktypes-objects[%s]" % p.name, sc_stack_types_objects, p, 120, 3))
        out.append(("census-stacktypes-list[%s]" % p.name, sc_stack_types_list, p, 120, 3))
    pyenv = [p for p in interps if not p.debian]
    pick = ([p for p in pyenv if p.version.startswith("3.12.")] or pyenv or interps or [None])[0]
    deb = [p for p in interps if p.debian]
    for p in ([pick] if pick else []) + deb[:1]:
        out.append(("census-mutate[%s]" % p.name, sc_mutate, p, 150, 4))
    if pick is not None:
        out.append(("census-pause[%s]" % pick.name, lambda c, py: sc_mutate(c, py, pause=True), pick, 120, 3))
        out.append(("census-text[%s]" % pick.name, sc_text, pick, 90, 3))
        out.append(("census-off[%s]" % pick.name, sc_off, pick, 90, 2))
        if not pick.debian:     # -p with full coverage
            out.append(("census-stacktypes-text[%s]" % pick.name, sc_stack_types_text, pick, 90, 2))
            out.append(("census-stacktypes-off[%s]" % pick.name, sc_stack_types_off, pick, 90, 2))
    return out
