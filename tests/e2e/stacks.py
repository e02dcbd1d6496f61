# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end tests of the stack store (a prefix tree of frames), run by tests/e2e/run.py:
plan(interps, run) returns entries of the same kind as run.plan(), and every scenario
fn(case, py) uses run.py's machinery (Case, Tracer, expect, check_stream ...).

- stacks-flask-start[debian-...]: a Flask app under Debian's gunicorn, launched with `--`
  and --preload, so the master (the traced process) imports Flask: a storm of deep,
  short-lived import stacks. At the default map sizes nothing may be lost.
- stacks-deep[...]: stacks of 104 frames are kept whole; 204-frame ones keep their
  innermost 128 and say so.
Every report must state the stack store's size ("stack_store").
"""
import json
import os
import signal
import time
import urllib.request

R = None                # the run.py module, set by plan()
GUNICORN = "/usr/bin/gunicorn"
STORE_FIELDS = ("nodes", "peak_nodes", "max_nodes", "kernel_bytes", "peak_kernel_bytes", "mirrored", "evicted")
REQUESTS = 5


def check_store(reps):
    """Every report has stack_store {nodes, max_nodes, kernel_bytes, mirrored, evicted}, all
    integers, nodes within the capacity; the stats say no collision."""
    for r in reps:
        st = r.get("stack_store")
        R.expect(isinstance(st, dict) and all(isinstance(st.get(k), int) and not isinstance(st.get(k), bool)
                                              for k in STORE_FIELDS),
                 "report #%s to have stack_store with integer %s" % (r.get("report"), ", ".join(STORE_FIELDS)),
                 json.dumps(st))
        R.expect(st["nodes"] <= st["peak_nodes"] <= st["max_nodes"], "stack_store nodes <= peak_nodes <= max_nodes",
                 json.dumps(st))
        R.expect(r["stats"].get("stack_collisions") == 0, "stats.stack_collisions 0",
                 r["stats"].get("stack_collisions"))


def store_str(rep):
    st = rep["stack_store"]
    return "%d nodes, %.1f MiB kernel memory (peak %d of %d, %.1f MiB; %d added, %d evicted)" % (
        st["nodes"], st["kernel_bytes"] / 1048576.0, st["peak_nodes"], st["max_nodes"],
        st["peak_kernel_bytes"] / 1048576.0, rep["stats"]["stack_nodes"], st["evicted"])


def get(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read()


# ---------------------------------------------------------------------------------------
# Scenarios: fn(case, py) -> evidence string; raise run.Failure / run.Skipped

def sc_flask_start(c, py):
    """Given the Flask app tests/fixtures/flask_app.py under Debian's gunicorn with --preload
    (the master imports Flask: deep import stacks by the thousand, most of their code objects
    freed at once), when pyleak-bpf -- traces the master from its first bytecode at the
    default sizes and interval and a few requests are served, then no stack was lost
    (stacks_full 0, stack_events_lost 0, no collision), every report states the stack store's
    size, and Flask's own import frames are symbolized."""
    if not os.path.exists(GUNICORN):
        raise R.Skipped("%s is not installed (Debian's gunicorn)" % GUNICORN)
    port = R.free_port()
    fixtures = R.FIXTURES
    tr = c.start_tracer(["-j", "-o", "0", "--no-fds", "--", GUNICORN, "--preload", "-w", "1",
                         "-b", "127.0.0.1:%d" % port, "--chdir", fixtures, "flask_app:app"])
    url = "http://127.0.0.1:%d/" % port
    end = min(time.monotonic() + 90, c.deadline - 30)
    served = 0
    while served < REQUESTS:
        if not tr.alive():
            tr.died("gunicorn to serve %s" % url)
        try:
            status, body = get(url, 5)
            R.expect(status == 200 and body.startswith(b"ok "), "200 'ok N'", "%s %r" % (status, body[:80]))
            served += 1
        except OSError:
            if time.monotonic() > end:
                raise R.Failure("expected gunicorn to serve %s within 90s, saw no answer" % url)
            time.sleep(0.2)
    k = len(tr.reports())
    tr.wait_reports(k + 1, 30, "a report after the requests")
    rc = tr.stop(signal.SIGINT, timeout=30)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = R.check_stream(tr, py, coverage="full")
    check_store(reps)
    last = reps[-1]
    for key in ("stacks_full", "stack_events_lost"):
        R.expect(last["stats"][key] == 0, "stats.%s 0 at the default sizes" % key,
                 "%d (%s)" % (last["stats"][key], store_str(last)))
    R.expect(last["stats"]["stack_nodes"] > 1000, "thousands of stack nodes added by Flask's imports",
             last["stats"]["stack_nodes"])
    flask = [s for r in reps for s in r["stacks"]
             if any("/flask/" in (fr.get("file") or "") for fr in s.get("frames") or [])]
    R.expect(flask, "a stack through Flask's own files (its import-time allocations)",
             R.report_str(last))
    big = max(reps, key=lambda r: r["stack_store"]["kernel_bytes"])
    return "%d requests; largest report #%d: %s; final: %s" % (served, big["report"], store_str(big),
                                                              store_str(last))


def sc_deep(c, py):
    """Given deep_stack.py leaking N objects from a line 104 frames deep and N from one 204
    frames deep, when pyleak-bpf -p traces it, then the 104-frame stack is whole (innermost
    at_depth_100, 100 descend frames, outermost <module>, not truncated) and the 204-frame
    one keeps its innermost 128 frames, says truncated, and stats.truncated counts it."""
    n = 1000
    # 600 bytes: over pymalloc's 512, so seen on a PGO build's partial coverage too
    fx = c.start_fixture(py, "deep_stack.py", n, "--size", "600", "--decoy-mb", "1", "--pace", "1")
    c.wait_status("READY", 60, proc=fx)
    tr = c.start_tracer(["-j", "-o", "0", "-T", "20", "--no-fds", "-p", str(fx.pid), "0.5"])
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKED", 60, proc=fx)
    R.after_leak(c, tr)
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = R.check_stream(tr, py, fx.pid)
    check_store(reps)
    last = [r for r in reps if not r["final"]][-1]
    l100 = R.marked_line("deep_stack.py", "DEEP-100")
    l200 = R.marked_line("deep_stack.py", "DEEP-200")
    s100 = [s for s in last["stacks"] if (s.get("frames") or [{}])[0].get("line") == l100
            and R.basename(s["frames"][0].get("file")) == "deep_stack.py"]
    s200 = [s for s in last["stacks"] if (s.get("frames") or [{}])[0].get("line") == l200
            and R.basename(s["frames"][0].get("file")) == "deep_stack.py"]
    R.expect(s100 and s200, "stacks at deep_stack.py:%d and :%d" % (l100, l200), R.report_str(last, 8))
    a, b = s100[0], s200[0]
    fa = [fr["function"].split(".")[-1] for fr in a["frames"]]
    want = ["at_depth_100"] + ["descend"] * 101 + ["leak", "main", "<module>"]
    R.expect(fa == want and not a["truncated"],
             "the 104-frame stack whole: at_depth_100, 101 x descend (the last at k=0), leak, main, <module>",
             "%d frames %s ... %s, truncated %s" % (len(fa), fa[:3], fa[-4:], a["truncated"]))
    fb = [fr["function"].split(".")[-1] for fr in b["frames"]]
    R.expect(len(fb) == 128 and fb[0] == "at_depth_200" and set(fb[1:]) == {"descend"} and b["truncated"],
             "the 204-frame stack cut to its innermost 128 (at_depth_200, 127 x descend), truncated",
             "%d frames %s ... %s, truncated %s" % (len(fb), fb[:3], fb[-3:], b["truncated"]))
    for s, what in ((a, "104"), (b, "204")):
        R.expect(abs(s["count"] - n) <= 0.02 * n, "the %s-frame line's count within 2%% of %d" % (what, n),
                 s["count"])
    R.expect(reps[-1]["stats"]["truncated"] >= n, "stats.truncated counts the deep allocations (>= %d)" % n,
             reps[-1]["stats"]["truncated"])
    return "104 frames whole, 204 cut to 128 (truncated); counts %d, %d; %s" % (
        a["count"], b["count"], store_str(last))


# ---------------------------------------------------------------------------------------
# The plan

def plan(interps, run):
    """[(name, fn, interp, time limit s, weight)], as run.plan() builds them."""
    global R
    R = run
    out = []
    for p in interps:
        if p.debian:
            out.append(("stacks-flask-start[%s]" % p.name, sc_flask_start, p, 150, 6))
        out.append(("stacks-deep[%s]" % p.name, sc_deep, p, 90, 3))
    return out
