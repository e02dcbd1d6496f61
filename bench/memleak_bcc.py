#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Run Debian's bcc memleak (memleak-bpfcc) as the benchmark's same-run baseline.

    /usr/bin/python3 bench/memleak_bcc.py --ready FILE [--memleak PATH] -- MEMLEAK-ARGS...

bench/run.py uses it as `memleak_bcc.py --ready F -- -p PID 60`. Two things stand
between Debian 12's bpfcc-tools 0.26 and this machine, and this wrapper handles the
second; run.py handles the first:

1. The kernel (6.18) ships no headers and no /sys/kernel/kheaders.tar.xz, and bcc
   compiles memleak's BPF C at start-up. run.py points BCC_KERNEL_SOURCE at a merged
   tree of Debian's 6.1 linux-headers packages. With -p, memleak only loads uprobe
   programs, which use nothing from the kernel headers but struct pt_regs, whose
   x86-64 layout is the same in 6.1 and 6.18.
2. python3-bpfcc 0.26 declares libbcc's bpf_attach_uprobe() with six arguments
   while the C function takes seven (the last is ref_ctr_offset), so the seventh is
   whatever is left in a register and the kernel rejects the probe with EINVAL
   (bcc issue #5236). The wrapper re-declares the function and passes 0.

It also says when memleak is attached: memleak calls time.sleep() for the first time
only after its last uprobe is attached, and at that moment the wrapper creates
--ready FILE (the workload waits for it before its timed work). On Ctrl-C (SIGINT)
memleak exits, and the wrapper prints how many allocations memleak still holds
in its map and how many of them are of --large bytes or more (run.py stops memleak
while the workload still holds its ring of 256 bytearray(1000)s, so that number
shows memleak's probes fired during the timed work):

    MEMLEAK-OUTSTANDING allocs=<n> large=<n>
"""
import argparse
import ctypes
import signal
import sys
import time


def patch_attach_uprobe():
    from bcc import libbcc
    fn = libbcc.lib.bpf_attach_uprobe
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                   ctypes.c_ulonglong, ctypes.c_int, ctypes.c_uint32]

    def attach_uprobe(progfd, attach_type, ev_name, path, addr, pid, ref_ctr_offset=0):
        return fn(progfd, attach_type, ev_name, path, addr, pid, ref_ctr_offset)

    # bcc/__init__.py calls lib.bpf_attach_uprobe(...) on the same CDLL object.
    libbcc.lib.bpf_attach_uprobe = attach_uprobe


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ready", required=True, help="file to create once memleak is attached")
    p.add_argument("--memleak", default="/usr/sbin/memleak-bpfcc", help="memleak script")
    p.add_argument("--large", type=int, default=1000, help="count held allocations of at least this size")
    p.add_argument("args", nargs=argparse.REMAINDER, help="-- then memleak's own arguments")
    a = p.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args

    # A shell's background job starts with SIGINT ignored, and Python then leaves it
    # ignored: memleak would never see the Ctrl-C that ends it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    patch_attach_uprobe()
    real_sleep = time.sleep
    state = {"attached": False}

    def sleep(seconds):
        if not state["attached"]:
            state["attached"] = True
            with open(a.ready, "w") as f:
                f.write("attached\n")
            sys.stdout.write("MEMLEAK-ATTACHED\n")
            sys.stdout.flush()
        real_sleep(seconds)

    time.sleep = sleep          # memleak does `from time import sleep` when it starts
    with open(a.memleak) as f:
        code = compile(f.read(), a.memleak, "exec")
    sys.argv = [a.memleak] + args
    g = {"__name__": "__main__", "__file__": a.memleak}
    status = 0
    try:
        exec(code, g)
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        status = 0
    bpf = g.get("bpf")
    if bpf is None:
        sys.stderr.write("memleak_bcc: memleak did not load its BPF program\n")
        return 1
    held = list(bpf["allocs"].values())
    large = sum(1 for v in held if v.size >= a.large)
    sys.stdout.write("MEMLEAK-OUTSTANDING allocs=%d large=%d\n" % (len(held), large))
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
