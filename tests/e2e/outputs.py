# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end tests of the ecosystem outputs (--pprof, --serve, --folded, --html,
--pyroscope), run by tests/e2e/run.py: plan(interps, run) returns entries like
run.plan()'s, and every scenario uses run.py's machinery (Case, Tracer, expect ...).

Each output is read back by its real consumer, never by our own parser alone:
go tool pprof (Debian's golang-go) for the pprof file and the live endpoint, a real
Prometheus server (Debian's prometheus) scraping /metrics plus promtool's checker,
headless Chromium for the flame graph page, speedscope (npm, installed into
.output/npm by `make e2e`) imported in headless Chromium for the folded stacks, and a
local HTTP receiver that checks a Pyroscope push against the documented ingest API and
decodes its body with go tool pprof.

Numbers are compared with the JSON report of the same snapshot: the tracer runs with
-j and the output together, and the final report's JSON and files are both rendered
from the final snapshot.
"""
import base64
import email.parser
import email.policy
import glob
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import urllib.error

R = None                # the run.py module, set by plan()
INTERVAL = "0.5"
LEAK_N = 20000
HEAP_TYPES = "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes[dflt]"


# ---------------------------------------------------------------------------------------
# Helpers

def tool(name):
    path = shutil.which(name)
    if not path:
        raise R.Failure("expected %s installed (make deps installs it), saw it missing" % name)
    return path


def run(argv, timeout=60, env=None, cwd=None):
    """(rc, stdout, stderr) of a consumer, text."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           env=env, cwd=cwd, universal_newlines=True, errors="replace")
    except subprocess.TimeoutExpired:
        raise R.Failure("expected %s to finish within %ds, saw it still running" % (argv[:3], timeout))
    return p.returncode, p.stdout, p.stderr


def pprof(c, *args):
    """go tool pprof ARGS, its profile cache in the case's directory."""
    env = R.clean_env({"PPROF_TMPDIR": c.dir, "HOME": c.dir, "GOCACHE": os.path.join(c.dir, "gocache")})
    rc, out, err = run([tool("go"), "tool", "pprof"] + list(args), 90, env=env)
    R.expect(rc == 0, "go tool pprof %s to succeed" % " ".join(args), "exit %d: %s" % (rc, err[-400:]))
    return out


def parse_raw(text):
    """go tool pprof -raw -> (sample type line, [(values, [location ids], labels)],
    {id: (function, file, line, start line)})."""
    types, samples, locs = None, [], {}
    part = None
    for line in text.splitlines():
        if line.startswith("Samples:"):
            part = "samples"
            continue
        if line.startswith("Locations"):
            part = "locations"
            continue
        if line.startswith("Mappings"):
            part = None
            continue
        if part == "samples":
            if types is None:
                types = line.strip()
                continue
            m = re.match(r"^\s*([-\d ]+):([\d ]*)$", line)
            if m:
                samples.append(([int(v) for v in m.group(1).split()], [int(v) for v in m.group(2).split()], {}))
            elif samples and ":[" in line:
                for k, v in re.findall(r"(\w+):\[([^\]]*)\]", line):
                    samples[-1][2][k] = v
        elif part == "locations":
            m = re.match(r"^\s*(\d+): 0x[0-9a-f]+ M=\d+ (.*) (\S+):(\d+) s=(\d+)", line)
            if m:
                locs[int(m.group(1))] = (m.group(2), m.group(3), int(m.group(4)), int(m.group(5)))
    return types, samples, locs


def top_rows(text):
    """go tool pprof -top -> [(flat, name)] in order."""
    rows, on = [], False
    for line in text.splitlines():
        if re.match(r"^\s*flat\s+flat%", line):
            on = True
            continue
        if on and line.strip():
            parts = line.split()
            if len(parts) >= 6:
                rows.append((parts[0], " ".join(parts[5:])))
    return rows


def leak_match():
    return R.innermost("leak_objects.py", R.marked_line("leak_objects.py", "LEAK-LINE"), "make_record")


def json_bytes(rep, match):
    return sum(s["bytes"] for s in rep["stacks"] if match(s))


def served_at(tr, timeout=30):
    """The endpoint the tracer says it listens on (stderr)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = re.search(r"serving (http://127\.0\.0\.1:\d+/)", tr.stderr())
        if m:
            return m.group(1)
        if not tr.alive():
            tr.died("a 'serving http://...' line on stderr")
        time.sleep(0.05)
    raise R.Failure("expected a 'serving http://127.0.0.1:PORT/' line on stderr, saw %r" % tr.stderr()[-300:])


def http_get(url, method="GET", data=None):
    """(status, body bytes, headers)."""
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def start_leak(c, py, n=LEAK_N, pace="2", script="leak_objects.py", extra=()):
    if py.debian:
        raise R.Skipped("needs a pyenv (non-PGO) build for full coverage under -p")
    fx = c.start_fixture(py, script, n, "--decoy-mb", "1", "--pace", pace)
    c.wait_status("READY", 60, proc=fx)
    return fx


def leak_and_stop(c, tr, fx, more=2):
    """Go, wait for the leak and `more` reports after it, SIGINT; the JSON reports."""
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    R.after_leak(c, tr, more)
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    return R.check_stream(tr, None, fx.pid)


def final_report(reps):
    R.expect(reps[-1]["final"], "a final report", R.report_str(reps[-1]))
    return reps[-1]


def artifact(c, src, name):
    """Keep a file beside the case (kept with --keep) and in .output/e2e-artifacts/."""
    keep = os.path.join(R.ROOT, ".output", "e2e-artifacts")
    os.makedirs(keep, exist_ok=True)
    dst = os.path.join(keep, name)
    shutil.copyfile(src, dst)
    return dst


def chromium(c, *args, timeout=90):
    """Headless Chromium with a profile of the case's own (scenarios run in parallel)."""
    rc, out, err = run([tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu",
                        "--no-first-run", "--disable-extensions",
                        "--user-data-dir=" + os.path.join(c.dir, "chrome-profile")] + list(args), timeout)
    R.expect(rc == 0, "chromium %s to succeed" % " ".join(args[:2]), "exit %d: %s" % (rc, err[-400:]))
    return out


# ---------------------------------------------------------------------------------------
# Scenarios

def sc_pprof(c, py):
    """Given leak_objects.py traced with -j --pprof FILE --serve, when the leak has run,
    then go tool pprof reads the live endpoint and the file: the sample types are Go's
    four heap types in Go's order with inuse_space the default, make_record is first by
    inuse_space, its inuse_space in the final file is within 1% of the final JSON report's
    bytes for that stack, the samples carry pid and comm, and the fds profile has
    open_fds/count."""
    fx = start_leak(c, py)
    path = os.path.join(c.dir, "heap.pb.gz")
    tr = c.start_tracer(["-j", "-o", "0", "--pprof", path, "--serve", "127.0.0.1:0",
                         "-p", str(fx.pid), INTERVAL])
    base = served_at(tr)
    tr.wait_reports(1, 60, "a first report after attaching")
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    R.after_leak(c, tr, 2)
    # The live endpoint, as a Go service's is read.
    live = pprof(c, "-raw", base + "debug/pprof/heap")
    types, samples, locs = parse_raw(live)
    R.expect(types == HEAP_TYPES, "sample types %r" % HEAP_TYPES, repr(types))
    top = top_rows(pprof(c, "-top", "-sample_index=inuse_space", base + "debug/pprof/heap"))
    R.expect(top and top[0][1] == "make_record", "make_record first by inuse_space (live)", top[:3])
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    reps = R.check_stream(tr, py, fx.pid)
    fin = final_report(reps)
    want = json_bytes(fin, leak_match())
    R.expect(want >= 0.98 * LEAK_N * 233, "the final JSON report to hold the leak", R.report_str(fin))

    types, samples, locs = parse_raw(pprof(c, "-raw", path))
    R.expect(types == HEAP_TYPES, "sample types %r in the file" % HEAP_TYPES, repr(types))
    line = R.marked_line("leak_objects.py", "LEAK-LINE")
    got, labels = 0, None
    for vals, ids, lab in samples:
        leaf = locs.get(ids[0]) if ids else None
        if leaf and leaf[0] == "make_record" and R.basename(leaf[1]) == "leak_objects.py" and leaf[2] == line:
            got += vals[3]
            labels = lab
            R.expect(leaf[3] == line - 1, "make_record's start line to be its def, %d" % (line - 1), leaf)
            R.expect(vals[0] == vals[2] and vals[1] == vals[3], "alloc_* = inuse_* (README)", vals)
    R.expect(abs(got - want) <= 0.01 * want, "inuse_space at make_record within 1%% of the JSON's %d" % want, got)
    R.expect(labels and labels.get("pid") == str(fx.pid) and labels.get("comm"),
             "sample labels pid=%d and comm" % fx.pid, labels)
    top = top_rows(pprof(c, "-top", "-sample_index=inuse_space", path))
    R.expect(top and top[0][1] == "make_record", "make_record first by inuse_space (file)", top[:3])
    fds = os.path.join(c.dir, "heap.fds.pb.gz")
    R.expect(os.path.exists(fds), "the fds profile beside it (%s)" % fds, os.listdir(c.dir))
    ftypes = parse_raw(pprof(c, "-raw", fds))[0]
    R.expect(ftypes == "open_fds/count[dflt]", "fds profile sample type open_fds/count", repr(ftypes))
    return "types %s; make_record first (live and file); inuse_space %d vs JSON %d; labels %s" % (
        types, got, want, labels)


def prom_query(api, query):
    url = api + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    st, body, _ = http_get(url)
    R.expect(st == 200, "Prometheus query %r to answer 200" % query, "%s %r" % (st, body[:300]))
    return json.loads(body.decode())["data"]["result"]


def sc_prometheus(c, py):
    """Given leak_objects.py traced with --serve, when a real Prometheus server scrapes
    /metrics every second while the leak runs, then its API shows the target's
    pyleak_outstanding_bytes growing by about the leak, the leak's stack series under its
    short name, the exposition passes promtool check metrics, and bad paths and methods
    get 404 and 405."""
    prom = tool("prometheus")
    promtool = tool("promtool")
    fx = start_leak(c, py, pace="6")
    tr = c.start_tracer(["-j", "-o", "0", "--serve", "127.0.0.1:0", "--metrics-top", "5",
                         "-p", str(fx.pid), INTERVAL])
    base = served_at(tr)
    tr.wait_reports(1, 60, "a first report after attaching")
    target = base[len("http://"):].rstrip("/")
    cfg = os.path.join(c.dir, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: pyleak\n    static_configs:\n"
                "      - targets: ['%s']\n" % target)
    pport = R.free_port()
    api = "http://127.0.0.1:%d" % pport
    c.spawn([prom, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(c.dir, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"], "prometheus")
    sel = 'pyleak_outstanding_bytes{pid="%d"}' % fx.pid
    end = time.monotonic() + 60
    while True:
        try:
            if prom_query(api, sel):
                break
        except (OSError, R.Failure, ValueError):
            pass
        R.expect(time.monotonic() < end, "Prometheus to have scraped %s within 60 s" % sel, "nothing")
        time.sleep(0.5)
    t0 = time.time()
    c.go()
    c.wait_status("LEAKED", 120, proc=fx)
    R.after_leak(c, tr, 3)
    time.sleep(2.5)         # two more scrapes of the last report
    window = max(10, int(time.time() - t0) + 5)
    res = prom_query(api, "%s[%ds]" % (sel, window))
    R.expect(res, "a range of %s" % sel, res)
    vals = [float(v) for _, v in res[0]["values"]]
    grew = max(vals) - vals[0]
    rises = sum(1 for a, b in zip(vals, vals[1:]) if b > a)
    R.expect(grew >= 0.9 * LEAK_N * 233 and rises >= 2,
             "outstanding bytes growing by the leak (%d) over several scrapes" % (LEAK_N * 233),
             "values %s" % vals)
    line = R.marked_line("leak_objects.py", "LEAK-LINE")
    stack = prom_query(api, 'pyleak_stack_outstanding_bytes{pid="%d",stack="leak_objects.py:%d make_record"}'
                       % (fx.pid, line))
    R.expect(stack and float(stack[0]["value"][1]) >= 0.9 * LEAK_N * 233,
             "the leak's stack series by its short name", stack)
    info = prom_query(api, 'pyleak_coverage_info{pid="%d"}' % fx.pid)
    R.expect(info and info[0]["metric"].get("coverage") == "full" and info[0]["metric"].get("comm"),
             "pyleak_coverage_info with coverage full and comm", info)
    st, body, hdr = http_get(base + "metrics")
    R.expect(st == 200 and hdr.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
             "/metrics 200 text/plain; version=0.0.4", "%s %s" % (st, hdr.get("Content-Type")))
    expo = os.path.join(c.dir, "metrics.txt")
    with open(expo, "wb") as f:
        f.write(body)
    p = subprocess.run([promtool, "check", "metrics"], input=body, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    R.expect(p.returncode == 0, "promtool check metrics to pass",
             "exit %d: %s" % (p.returncode, (p.stdout + p.stderr).decode(errors="replace")[-600:]))
    text = body.decode()
    for name in ("pyleak_allocs_total", "pyleak_read_failed_total", "pyleak_fds_opened_total",
                 "pyleak_open_fds", "pyleak_stacks_cut", "pyleak_outstanding_growth_bytes_per_second"):
        R.expect(re.search(r"^%s\{" % name, text, re.M), "series %s in /metrics" % name, text[:400])
    series = len(re.findall(r"^pyleak_stack_outstanding_bytes\{", text, re.M))
    R.expect(1 <= series <= 5, "at most --metrics-top 5 stack series", series)
    for path, method, want in (("nope", "GET", 404), ("debug/pprof/heapx", "GET", 404), ("metrics", "POST", 405),
                               ("metrics", "DELETE", 405)):
        st = http_get(base + path, method, b"x" if method == "POST" else None)[0]
        R.expect(st == want, "%s /%s -> %d" % (method, path, want), st)
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    return "Prometheus saw %s rise %d times by %d bytes over %d scrapes; stack series %s; promtool ok" % (
        sel, rises, grew, len(vals), stack[0]["value"][1])


def sc_html(c, py):
    """Given leak_objects.py traced with -j --html FILE, when the leak has run and the
    tracer ends, then the page opened in headless Chromium (no network: a
    Content-Security-Policy of default-src 'none') has the leak's frame in the flame
    graph and the table, with the JSON's bytes; a screenshot is kept."""
    fx = start_leak(c, py)
    page = os.path.join(c.dir, "flame.html")
    tr = c.start_tracer(["-j", "-o", "0", "--html", page, "-p", str(fx.pid), INTERVAL])
    fin = final_report(leak_and_stop(c, tr, fx))
    want = json_bytes(fin, leak_match())
    line = R.marked_line("leak_objects.py", "LEAK-LINE")
    frame = "make_record (leak_objects.py:%d)" % line
    dom = chromium(c, "--virtual-time-budget=5000", "--dump-dom", "file://" + page)
    frames = re.findall(r'<div class="fr[^"]*"[^>]*>([^<]*)</div>', dom)
    R.expect(frame in frames, "the flame graph to have a frame %r" % frame, frames[:8])
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", dom)
    R.expect(frame in cells, "the table to list %r" % frame, cells[:12])
    data = json.loads(re.search(r'<script type="application/json" id="pyleak-data">(.*?)</script>',
                                open(page).read(), re.S).group(1))
    mem = [s for s in data["sections"] if s["id"] == "memory"][0]
    got = sum(s["amount"] for s in mem["stacks"] if s["frames"] and s["frames"][0]["function"] == "make_record")
    R.expect(got == want, "the page's data to hold the JSON report's %d bytes at make_record" % want, got)
    R.expect("default-src 'none'" in open(page).read(), "a CSP that forbids any network access", "none")
    r = interact(c, page, frame)
    shot = os.path.join(c.dir, "flame.png")
    chromium(c, "--virtual-time-budget=5000", "--window-size=1400,900", "--screenshot=" + shot, "file://" + page)
    with open(shot, "rb") as f:
        R.expect(f.read(8) == b"\x89PNG\r\n\x1a\n", "a PNG screenshot", "not a PNG")
    kept = artifact(c, shot, "outputs-html-%s.png" % py.name)
    return "frame %r in the DOM (flame graph and table), %d bytes as in JSON; search %r, zoom %.1f%% -> %.1f%%, " \
        "hover %r, sort ok; screenshot %s" % (frame, got, r["matched"], r["before"], r["zoomed"], r["tip"][-60:], kept)


def sc_html_fds(c, py):
    """Given fd_leak.py traced with -j --html FILE, when its fds leak, then the page's
    fds flame graph in Chromium has the file-leaking line's frame and its table the
    JSON's count for it; a screenshot is kept."""
    fx = c.start_fixture(py, "fd_leak.py", 10, "--decoy-mb", "1", "--pace", "2")
    c.wait_status("READY", 60, proc=fx)
    page = os.path.join(c.dir, "fds.html")
    tr = c.start_tracer(["-j", "-o", "0", "-T", "50", "--html", page, "-p", str(fx.pid), INTERVAL])
    fin = final_report(leak_and_stop(c, tr, fx))
    line = R.marked_line("fd_leak.py", "LEAK-FILE")
    want = sum(s["count"] for s in fin["fds"] if s["frames"] and R.basename(s["frames"][0]["file"]) == "fd_leak.py"
               and s["frames"][0]["line"] == line)
    R.expect(want > 0, "the JSON's fds at fd_leak.py:%d" % line, [R.stack_str(s) for s in fin["fds"][:4]])
    frame = "leak_file (fd_leak.py:%d)" % line
    dom = chromium(c, "--virtual-time-budget=5000", "--dump-dom", "file://" + page)
    sec = dom[dom.find('id="section-fds"'):]
    frames = re.findall(r'<div class="fr[^"]*"[^>]*>([^<]*)</div>', sec)
    R.expect(frame in frames, "the fds flame graph to have %r" % frame, frames[:8])
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", sec, re.S)
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in rows]
    mine = [c_ for c_ in cells if len(c_) > 3 and c_[1] == frame]
    R.expect(mine and int(mine[0][2]) == want, "the fds table to give %r the JSON's %d fds" % (frame, want), mine)
    shot = os.path.join(c.dir, "fds.png")
    chromium(c, "--virtual-time-budget=5000", "--window-size=1400,1800", "--screenshot=" + shot, "file://" + page)
    kept = artifact(c, shot, "outputs-html-fds-%s.png" % py.name)
    return "%r with %d fds in the fds flame graph and table; screenshot %s" % (frame, want, kept)


# Driven in the browser like a person would: search, click to zoom, hover, sort. The
# page's own script has run when this one runs (it comes after it).
INTERACT_JS = r"""
<script>
(function () {
  var r = {}, sec = document.getElementById("section-memory");
  function frame(prefix) {
    return Array.prototype.filter.call(sec.querySelectorAll(".fr"), function (e) {
      return e.textContent.indexOf(prefix) === 0; })[0];
  }
  var input = sec.querySelector("input");
  input.value = "make_record";
  input.dispatchEvent(new Event("input"));
  r.matches = Array.prototype.map.call(sec.querySelectorAll(".fr.match"), function (e) { return e.textContent; });
  r.matched = sec.querySelector(".matched").textContent;
  r.before = parseFloat(frame("make_record (").style.width);
  frame("leak (").dispatchEvent(new MouseEvent("click", { bubbles: true }));
  r.zoomed = parseFloat(frame("make_record (").style.width);
  r.leak = parseFloat(frame("leak (").style.width);
  frame("make_record (").dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: 20, clientY: 20 }));
  r.tip = document.getElementById("tip").textContent;
  var th = Array.prototype.filter.call(sec.querySelectorAll("th"), function (e) { return e.textContent === "bytes"; })[0];
  th.click();
  r.desc = sec.querySelector("tbody td.where").textContent;
  th.click();
  r.asc = sec.querySelector("tbody td.where").textContent;
  var pre = document.createElement("pre");
  pre.id = "interaction";
  pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
})();
</script>
"""


def interact(c, page, frame):
    """Search, zoom, hover and sort in Chromium; what the page did."""
    test = page.replace(".html", "-interact.html")
    with open(page) as f, open(test, "w") as g:
        g.write(f.read().replace("</body>", INTERACT_JS + "</body>"))
    dom = chromium(c, "--virtual-time-budget=5000", "--dump-dom", "file://" + test)
    m = re.search(r'<pre id="interaction">(.*?)</pre>', dom, re.S)
    R.expect(m, "the interaction script to report", dom[-500:])
    import html as htmlmod
    r = json.loads(htmlmod.unescape(m.group(1)))
    R.expect(frame in r["matches"] and r["matched"].startswith("matched: 4.4 MiB"),
             "searching 'make_record' to highlight %r and sum its bytes" % frame, r)
    R.expect(r["leak"] == 100 and r["zoomed"] > r["before"], "clicking leak() to zoom it to the full width", r)
    R.expect("in 20000 allocations" in r["tip"] and "growth" in r["tip"], "hovering to show bytes, count, growth", r["tip"])
    R.expect(r["desc"] == frame and r["asc"] != frame, "sorting by bytes (descending, then ascending)", r)
    return r


def sc_html_hostile(c, py):
    """Given a leak from a function whose file and function names carry '</script>' and
    markup, when --html renders them, then Chromium's DOM has them as text, no element
    they try to inject, and the page's script ran (the frame is drawn)."""
    fx = start_leak(c, py, n=5000, script="leak_hostile.py")
    page = os.path.join(c.dir, "flame.html")
    folded = os.path.join(c.dir, "stacks.folded")
    tr = c.start_tracer(["-j", "-o", "0", "--html", page, "--folded", folded, "-p", str(fx.pid), INTERVAL])
    leak_and_stop(c, tr, fx)
    dom = chromium(c, "--virtual-time-budget=5000", "--dump-dom", "file://" + page)
    for bad in ('<img id="pwned-file"', '<b id="pwned-func"', "<title>1</title>"):
        R.expect(bad not in dom, "no injected markup %r in the DOM" % bad, dom[dom.find(bad) - 200:dom.find(bad) + 100])
    R.expect("leak_&lt;/script&gt;&lt;b id=\"pwned-func\"&gt;\"q\\&lt;/b&gt;" in dom,
             "the hostile function name drawn as text", dom[:600])
    text = open(folded, encoding="utf-8").read()
    lines = [l for l in text.splitlines() if "pwned-func" in l]
    R.expect(lines and all(re.match(r"^[^\n]+ \d+$", l) for l in lines), "folded lines of the hostile stack", lines[:2])
    leaf = lines[0].rsplit(" ", 1)[0].split(";")[-1]
    R.expect("pwned-file" in leaf and ":x.py:2)" in leaf, "the file's ';' written as ':' (no extra frame)", leaf)
    return "markup stayed text in the DOM; folded leaf %r" % leaf


def speedscope_index():
    idx = os.path.join(R.ROOT, ".output", "npm", "node_modules", "speedscope", "dist", "release", "index.html")
    if not os.path.exists(idx):
        raise R.Skipped("speedscope is not installed in .output/npm (make e2e installs it from npm: "
                        "npm install --prefix .output/npm speedscope)")
    return idx


def sc_folded(c, py):
    """Given leak_objects.py traced with -j --folded FILE, when the tracer ends, then
    speedscope (npm), loading the file in headless Chromium the way its own CLI does,
    shows make_record with a self weight equal to the JSON report's bytes for it; every
    line is 'frames BYTES', root first."""
    idx = speedscope_index()
    fx = start_leak(c, py)
    folded = os.path.join(c.dir, "stacks.folded")
    tr = c.start_tracer(["-j", "-o", "0", "--folded", folded, "-p", str(fx.pid), INTERVAL])
    fin = final_report(leak_and_stop(c, tr, fx))
    want = json_bytes(fin, leak_match())
    text = open(folded, encoding="utf-8").read()
    lines = text.splitlines()
    R.expect(lines and all(re.match(r"^\S.* \d+$", l) for l in lines), "'frames BYTES' lines", lines[:3])
    line = R.marked_line("leak_objects.py", "LEAK-LINE")
    leafs = [l for l in lines if l.rsplit(" ", 1)[0].split(";")[-1].startswith("make_record (")]
    R.expect(leafs and leafs[0].startswith("<module> ("), "root-first stacks ending at make_record", leafs[:2])
    # speedscope's CLI hands a profile to its page as a script calling
    # speedscope.loadFileFromBase64(); the sandwich view lists every frame's weights.
    js = os.path.join(c.dir, "profile.js")
    with open(js, "w") as f:
        f.write("speedscope.loadFileFromBase64(%s, %s)" % (json.dumps("stacks.folded"),
                                                           json.dumps(base64.b64encode(text.encode()).decode())))
    dom = chromium(c, "--allow-file-access-from-files", "--virtual-time-budget=8000", "--dump-dom",
                   "file://%s#localProfilePath=%s&view=sandwich" % (idx, js))
    cells = [re.sub(r"<[^>]+>", "", x) for x in re.findall(r"<td[^>]*>(.*?)</td>", dom, re.S)]
    rows = {}
    for i in range(0, len(cells) - 2, 3):
        rows[cells[i + 2]] = (cells[i], cells[i + 1])
    name = [k for k in rows if k.startswith("make_record (") and k.endswith("leak_objects.py:%d)" % line)]
    R.expect(name, "speedscope's sandwich table to list make_record at leak_objects.py:%d" % line, list(rows)[:6])
    self_w = int(rows[name[0]][1].split(" ")[0].replace(",", ""))
    R.expect(self_w == want, "speedscope's self weight for make_record = the JSON's %d bytes" % want, rows[name[0]])
    fds = folded.replace(".folded", ".fds.folded")
    R.expect(os.path.exists(fds), "the fds folded file %s" % fds, os.listdir(c.dir))
    return "speedscope: %s self %s (JSON %d)" % (name[0], rows[name[0]][1], want)


class Receiver(object):
    """A local stand-in for a Pyroscope server: checks every request against the
    documented ingest API and keeps what it was sent. The first `fail` requests get 503."""

    def __init__(self, c, fail=0):
        self.c, self.fail, self.got, self.bad, self.seen, self.refused = c, fail, [], [], 0, []
        recv = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recv.seen += 1
                if recv.seen <= recv.fail:
                    recv.refused.append(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))
                    self.send_response(503)
                    self.end_headers()
                    return
                problem = recv.check(self.path, self.headers, body)
                self.send_response(400 if problem else 200)
                self.end_headers()

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def check(self, path, headers, body):
        u = urllib.parse.urlsplit(path)
        q = urllib.parse.parse_qs(u.query)
        problems = []
        if u.path != "/ingest":
            problems.append("path %r" % u.path)
        for k in ("name", "from", "until", "format"):
            if len(q.get(k, [])) != 1:
                problems.append("query %s %r" % (k, q.get(k)))
        if problems:
            self.bad.append(problems)
            return problems
        if q["format"][0] != "pprof":
            problems.append("format %r" % q["format"][0])
        if not re.match(r"^[A-Za-z0-9._-]+\{([a-z_]+=[^,{}=]*)(,[a-z_]+=[^,{}=]*)*\}$", q["name"][0]):
            problems.append("name %r" % q["name"][0])
        try:
            if not int(q["from"][0]) < int(q["until"][0]):
                problems.append("from %s until %s" % (q["from"][0], q["until"][0]))
        except ValueError:
            problems.append("from/until not Unix seconds")
        ctype = headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data; boundary="):
            problems.append("Content-Type %r" % ctype)
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        fields = {}
        for part in msg.iter_parts() if msg.is_multipart() else []:
            fields[part.get_param("name", header="content-disposition")] = part.get_payload(decode=True)
        if set(fields) != {"profile", "sample_type_config"}:
            problems.append("form fields %s" % sorted(fields))
        else:
            try:
                cfg = json.loads(fields["sample_type_config"])
                if not all(isinstance(v, dict) and "units" in v and "aggregation" in v for v in cfg.values()):
                    problems.append("sample_type_config %r" % cfg)
            except ValueError:
                problems.append("sample_type_config not JSON")
        if problems:
            self.bad.append(problems)
        else:
            self.got.append((q, fields))
        return problems

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def sc_pyroscope(c, py):
    """Given a local receiver that checks requests against Pyroscope's ingest API (and
    answers the very first one 503), when leak_objects.py is traced with --pyroscope,
    then every push is a valid POST /ingest (name{labels}, from < until, format=pprof,
    multipart profile and sample_type_config), the refused push is retried, and go tool
    pprof decodes the last heap profile with make_record first by inuse_space."""
    recv = Receiver(c, fail=1)
    try:
        fx = start_leak(c, py)
        tr = c.start_tracer(["-j", "-o", "0", "--pyroscope", recv.url + "/", "-p", str(fx.pid), "1"])
        tr.wait_reports(1, 60, "a first report after attaching")
        c.go()
        c.wait_status("LEAKED", 120, proc=fx)
        R.after_leak(c, tr, 3)
        rc = tr.stop(signal.SIGINT)
        R.expect(rc == 0, "exit status 0 after SIGINT", rc)
        reps = R.check_stream(tr, py, fx.pid)
    finally:
        recv.close()
    R.expect(not recv.bad, "every request to follow the ingest API", recv.bad[:3])
    heaps = [(q, f) for q, f in recv.got if "inuse_space" in json.loads(f["sample_type_config"])]
    fds = [(q, f) for q, f in recv.got if "open_fds" in json.loads(f["sample_type_config"])]
    # A push still queued when the next report comes is replaced by it (and counted),
    # so not every report need arrive; the final one must (its until is the report's
    # second, or one more when it follows the previous push within the same second:
    # until must be after from).
    R.expect(len(heaps) >= len(reps) // 2 and 0 <= int(heaps[-1][0]["until"][0]) - int(reps[-1]["timestamp"]) <= 1,
             "heap pushes for most of the %d reports, the final report's last" % len(reps),
             "%d heap pushes of %d requests, last until %s, final report at %d" % (
                 len(heaps), recv.seen, heaps[-1][0]["until"] if heaps else None, int(reps[-1]["timestamp"])))
    R.expect(fds, "fds profiles pushed too", "none")
    refused = recv.refused[0] if recv.refused else {}
    retried = [q for q, f in heaps if q.get("from") == refused.get("from") and q.get("until") == refused.get("until")]
    R.expect(refused and retried, "the refused first push (from %s until %s) to be retried" % (
        refused.get("from"), refused.get("until")), "accepted %s" % [(q["from"], q["until"]) for q, f in heaps[:3]])
    name = heaps[-1][0]["name"][0]
    R.expect("pid=%d" % fx.pid in name and "python=%s" % py.version in name, "labels pid and python in the name", name)
    prof = os.path.join(c.dir, "pushed.pb.gz")
    with open(prof, "wb") as f:
        f.write(heaps[-1][1]["profile"])
    types = parse_raw(pprof(c, "-raw", prof))[0]
    R.expect(types == HEAP_TYPES, "pushed sample types %r" % HEAP_TYPES, repr(types))
    top = top_rows(pprof(c, "-top", "-sample_index=inuse_space", prof))
    R.expect(top and top[0][1] == "make_record", "make_record first in the pushed profile", top[:3])
    return "%d requests (%d refused, retried), %d heap + %d fds pushes, name %s; pushed profile: make_record first" % (
        recv.seen, recv.seen - len(recv.got), len(heaps), len(fds), name)


def sc_pyroscope_down(c, py):
    """Given --pyroscope pointing at a port where nothing listens, when tracing runs for
    several reports, then the reports go on, one line on stderr says the push failed,
    /metrics counts the failures, and SIGINT still ends with exit 0."""
    port = R.free_port()
    fx = start_leak(c, py)
    tr = c.start_tracer(["-j", "-o", "0", "--pyroscope", "http://127.0.0.1:%d" % port, "--serve", "127.0.0.1:0",
                         "-p", str(fx.pid), INTERVAL])
    base = served_at(tr)
    tr.wait_reports(8, 90, "8 reports while the server is unreachable")
    text = http_get(base + "metrics")[1].decode()
    m = re.search(r"^pyleak_pyroscope_push_failures_total (\d+)$", text, re.M)
    R.expect(m and int(m.group(1)) >= 1, "pyleak_pyroscope_push_failures_total >= 1", m and m.group(0))
    rc = tr.stop(signal.SIGINT)
    R.expect(rc == 0, "exit status 0 after SIGINT", rc)
    lines = [l for l in tr.stderr().splitlines() if "pyroscope" in l]
    R.expect(len(lines) == 1 and lines[0].startswith("pyleak-bpf: pyroscope http://127.0.0.1:%d" % port)
             and "push failed" in lines[0], "one 'push failed' line on stderr", lines)
    return "%d reports; %r; %s" % (len(tr.reports()), lines[0], m.group(0))


def sc_bad_input(c, py):
    """Bad output options end the run before anything is traced or launched, with one
    'pyleak-bpf: ' line and exit 1: --serve on a port in use, an unwritable --pprof or
    --html path, a URL that is not http(s); a bad --serve spec and --metrics-top 0."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    marker = os.path.join(c.dir, "launched")
    cmd = ["--", py.path, "-c", "open(%r, 'w').close()" % marker]
    seen = []
    try:
        for args, words in ((["--serve", "127.0.0.1:%d" % port] + cmd, ("--serve", "Address already in use")),
                            (["--serve", str(port)] + cmd, ("--serve", "in use")),
                            (["--pprof", "/nonexistent-dir/heap.pb.gz"] + cmd, ("--pprof", "/nonexistent-dir")),
                            (["--html", "/nonexistent-dir/x.html", "-p", "1"], ("--html",)),
                            (["--pyroscope", "ftp://127.0.0.1/"] + cmd, ("--pyroscope", "http")),
                            (["--pyroscope", "not a url", "-p", "1"], ("--pyroscope",)),
                            (["--serve", "127.0.0.1:99999", "-p", "1"], ("--serve",))):
            rc, out, err = c.run_tool(args, 20)
            R.expect(rc == 1, "exit status 1 for %s" % args[:2], rc)
            seen.append(R._one_error_line(err, *words))
        R.expect(not os.path.exists(marker), "the command never launched", "it ran")
        rc, out, err = c.run_tool(["--metrics-top", "0", "-p", "1"], 20)
        R.expect(rc == 2 and err.startswith("pyleak-bpf: "), "--metrics-top 0: usage error", (rc, err[:200]))
    finally:
        busy.close()
    return "; ".join(seen)


# ---------------------------------------------------------------------------------------
# The plan

def plan(interps, run):
    """[(name, fn, interp, time limit s, weight)], as run.plan() builds them."""
    global R
    R = run
    out = []
    pyenv = [p for p in interps if not p.debian]
    pick = ([p for p in pyenv if p.version.startswith("3.12.")] or pyenv or [None])[0]
    # pprof's functions and start lines come from the symbolizer, whose sources differ
    # by version (tables on 3.8, _Py_DebugOffsets on 3.13): the oldest and newest too.
    others = [([p for p in pyenv if p.version.startswith(v)] or [None])[0] for v in ("3.8.", "3.13.")]
    if pick is not None:
        for name, fn, limit in (("out-pprof", sc_pprof, 150), ("out-prometheus", sc_prometheus, 180),
                                ("out-html", sc_html, 150), ("out-html-hostile", sc_html_hostile, 150),
                                ("out-html-fds", sc_html_fds, 150),
                                ("out-folded", sc_folded, 150), ("out-pyroscope", sc_pyroscope, 150),
                                ("out-pyroscope-down", sc_pyroscope_down, 120), ("out-bad-input", sc_bad_input, 90)):
            out.append(("%s[%s]" % (name, pick.name), fn, pick, limit, 5))
    for p in others:
        if p is not None:
            out.append(("out-pprof[%s]" % p.name, sc_pprof, p, 150, 5))
    return out
