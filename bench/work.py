# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Allocation-heavy benchmark workload with fixed work (CPython 3.8 .. 3.13, stdlib only).

    python work.py [ITERATIONS]

Runs ITERATIONS (default 2000000: about 2-3 s untraced on 3.11 here) of the mix of
the design notes' work.py, about 18 allocations an iteration: a dict, a list grown by
an append (its storage reallocated), a tuple, a string built and then resized in
place, a bytearray(1000) (over pymalloc's 512-byte threshold, so it reaches libc on
every build) and a small class instance. A bounded ring keeps the last 256 results
alive, so frees trail allocations as in a real program.

Only the fixed work is timed (time.perf_counter around it), so interpreter start-up
and a tracer's attach time are not counted. With PYLEAK_BENCH_GO=PATH in the
environment the work starts only once PATH exists (for a tracer that attaches to a
running pid, such as bcc's memleak); with PYLEAK_BENCH_HOLD=PATH the process keeps
the ring alive after printing its result until PATH exists, so that such a tracer
can be shown to hold the ring's 256 bytearrays. The last line on stdout is

    PYLEAK-BENCH seconds=<float> iterations=<n> checksum=<n> python=<x.y.z> pythonmalloc=<value or ->

which bench/run.py parses.
"""
import os
import sys
import time

RING = 256


class Obj(object):
    def __init__(self, i):
        self.i = i
        self.even = i % 2 == 0


def step(i):
    d = {"id": i, "next": i + 1, "kind": "item"}          # dict (+ its keys table)
    lst = [i, i + 2, i + 3]                               # list and its item array
    lst.append(i + 4)                                     # list storage grows: realloc
    tup = (i, lst, d)                                     # tuple
    text = "item-" + str(i)                               # str building
    text += "-" * (i % 40)                                # in-place resize: realloc
    big = bytearray(1000)                                 # > 512 B: libc calloc on every build
    obj = Obj(i)                                          # small class instance
    return (tup, text, big, obj)


def work(iterations, ring):
    checksum = 0
    for i in range(iterations):
        result = step(i)
        ring[i % RING] = result
        checksum += len(result[1]) + result[3].i
    return checksum


def wait_for(path, limit=300.0):
    deadline = time.monotonic() + limit
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit("work.py: %s did not appear within %d s" % (path, limit))
        time.sleep(0.005)


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 2000000
    go = os.environ.get("PYLEAK_BENCH_GO")
    if go:
        wait_for(go)
    ring = [None] * RING
    t0 = time.perf_counter()
    checksum = work(iterations, ring)
    seconds = time.perf_counter() - t0
    sys.stdout.write("PYLEAK-BENCH seconds=%.6f iterations=%d checksum=%d python=%s pythonmalloc=%s\n"
                     % (seconds, iterations, checksum, "%d.%d.%d" % sys.version_info[:3],
                        os.environ.get("PYTHONMALLOC") or "-"))
    sys.stdout.flush()
    hold = os.environ.get("PYLEAK_BENCH_HOLD")
    if hold:
        wait_for(hold)
    del ring


if __name__ == "__main__":
    main()
