# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Allocation-heavy benchmark workload with fixed work (CPython 3.8 .. 3.13, stdlib only).

    python work.py [ITERATIONS]

Runs ITERATIONS (default 500000) of the same mix of allocations as the design notes'
work.py: dicts, lists, tuples, string building, a bytearray(1000) (over pymalloc's
512-byte threshold, so it reaches libc on every build), small class instances, and a
list grown by appends (container storage reallocated as it grows). A bounded ring
keeps the last few hundred results alive, so frees trail allocations as in a real
program instead of every block being reused at once.

Only the fixed work is timed (time.perf_counter around it), so interpreter start-up
and a tracer's attach time are not counted. The last line on stdout is

    PYLEAK-BENCH seconds=<float> iterations=<n> python=<x.y.z> pythonmalloc=<value or ->

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


def work(iterations):
    ring = [None] * RING
    checksum = 0
    for i in range(iterations):
        result = step(i)
        ring[i % RING] = result
        checksum += len(result[1]) + result[3].i
    return checksum


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 500000
    t0 = time.perf_counter()
    checksum = work(iterations)
    seconds = time.perf_counter() - t0
    sys.stdout.write("PYLEAK-BENCH seconds=%.6f iterations=%d checksum=%d python=%s pythonmalloc=%s\n"
                     % (seconds, iterations, checksum, "%d.%d.%d" % sys.version_info[:3],
                        os.environ.get("PYTHONMALLOC") or "-"))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
