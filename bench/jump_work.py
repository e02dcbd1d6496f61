#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""bench/budget_bench.py's workload: tests/fixtures/rate_jump.py's work, timed.

    python3 bench/jump_work.py --calibrate
    python3 bench/jump_work.py BEFORE_S AFTER_ALLOCS SLOW_SPAN FAST_SPAN

Busy in C (bytes.find) with one allocation 120 frames deep every SLOW_SPAN bytes scanned
for BEFORE_S seconds, then one every FAST_SPAN bytes for AFTER_ALLOCS allocations; prints
the after phase's wall and CPU seconds. --calibrate prints the spans of 270 and 27 us of
that work here (the bench calibrates once, untraced, so that every run does the same work):

    PYLEAK-JUMP before_s=... after_s=... after_cpu_s=... allocs=...
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "fixtures"))
import rate_jump  # noqa: E402  (the fixture's work, the same code the e2e test runs)


def main():
    if sys.argv[1:] == ["--calibrate"]:
        print("PYLEAK-SPANS %d %d" % (rate_jump.scan_span(270), rate_jump.scan_span(27)), flush=True)
        return
    before, after = float(sys.argv[1]), int(sys.argv[2])
    slow, fast = int(sys.argv[3]), int(sys.argv[4])
    t0 = time.monotonic()
    rate_jump.run(slow, 600, before)
    t1, c1 = time.monotonic(), time.process_time()
    rate_jump.run(fast, 600, None, allocs=after)
    t2, c2 = time.monotonic(), time.process_time()
    print("PYLEAK-JUMP before_s=%.3f after_s=%.4f after_cpu_s=%.4f allocs=%d"
          % (t1 - t0, t2 - t1, c2 - c1, after), flush=True)


if __name__ == "__main__":
    main()
