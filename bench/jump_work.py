#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""bench/budget_bench.py's workload: tests/fixtures/rate_jump.py's work, timed.

    python3 bench/jump_work.py [BEFORE_S] [AFTER_ALLOCS]

Busy in C (bytes.find) with one allocation 120 frames deep every 270 us of that work for
BEFORE_S seconds (default 3), then one every 27 us for AFTER_ALLOCS allocations (default
200000); prints the after phase's wall and CPU seconds:

    PYLEAK-JUMP before_s=... after_s=... after_cpu_s=... allocs=...
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "fixtures"))
import rate_jump  # noqa: E402  (the fixture's work, the same code the e2e test runs)


def main():
    before = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    after = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    slow, fast = rate_jump.scan_span(270), rate_jump.scan_span(27)
    t0 = time.monotonic()
    rate_jump.run(slow, 600, before)
    t1, c1 = time.monotonic(), time.process_time()
    rate_jump.run(fast, 600, None, allocs=after)
    t2, c2 = time.monotonic(), time.process_time()
    print("PYLEAK-JUMP before_s=%.3f after_s=%.4f after_cpu_s=%.4f allocs=%d"
          % (t1 - t0, t2 - t1, c2 - c1, after), flush=True)


if __name__ == "__main__":
    main()
