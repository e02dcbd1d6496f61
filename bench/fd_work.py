# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""fd-heavy benchmark workload with fixed work (CPython 3.8 .. 3.13, stdlib only).

    python fd_work.py [ITERATIONS] [--kind fds|getppid] [--dir DIR]

--kind fds (default): every iteration opens and closes a file, a socketpair, a pipe and
an os.dup() of the file: 6 fds created and closed, 12 fd syscalls plus Python's own.
--kind getppid: 12 os.getppid() an iteration, a syscall fd tracking ignores: what the
tracepoint costs a syscall of no interest.

Only the fixed work is timed, in wall time (time.perf_counter) and in CPU time
(time.process_time: what the process itself spent, in user space and in the kernel,
where tracing costs are charged; time the machine gave to others is not counted).  With
PYLEAK_BENCH_GO=PATH in the environment the work starts once PATH exists (for a tracer
that attaches with -p).  The last line on stdout is

    PYLEAK-FD-BENCH seconds=<float> cpu=<float> iterations=<n> kind=<kind> python=<x.y.z>

which bench/fd_bench.py parses.
"""
import argparse
import os
import socket
import sys
import tempfile
import time


def fds(iterations, path):
    for _ in range(iterations):
        f = open(path, "rb")
        d = os.dup(f.fileno())
        a, b = socket.socketpair()
        r, w = os.pipe()
        os.close(r)
        os.close(w)
        a.close()
        b.close()
        os.close(d)
        f.close()


def getppid(iterations):
    g = os.getppid
    for _ in range(iterations):
        g(); g(); g(); g(); g(); g()
        g(); g(); g(); g(); g(); g()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("iterations", nargs="?", type=int, default=50000)
    p.add_argument("--kind", choices=("fds", "getppid"), default="fds")
    p.add_argument("--dir", default=tempfile.gettempdir())
    a = p.parse_args()
    path = os.path.join(a.dir, "pyleak-fd-bench-%d" % os.getpid())
    with open(path, "w") as f:
        f.write("x")
    go = os.environ.get("PYLEAK_BENCH_GO")
    while go and not os.path.exists(go):
        time.sleep(0.01)
    t0, c0 = time.perf_counter(), time.process_time()
    if a.kind == "fds":
        fds(a.iterations, path)
    else:
        getppid(a.iterations)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    os.unlink(path)
    sys.stdout.write("PYLEAK-FD-BENCH seconds=%.6f cpu=%.6f iterations=%d kind=%s python=%s\n" % (
        took, cpu, a.iterations, a.kind, "%d.%d.%d" % sys.version_info[:3]))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
